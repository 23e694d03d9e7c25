"""Fixtures: a tiny 4-modality classifier, real example files, and one export of it."""

import csv
import io

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf import export
from tests import hub_modules as hm

LIMITS = {"max_image_bytes": 50_000, "max_image_pixels": 100 * 100, "max_text_length": 64, "max_audio_seconds": 1.0}
LABELS = ["cat", "dog", "fox"]
NUM_SAMPLES = 800


def classifier_config(hub_dir, presence=True):
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.TextModality(name="text", handle=hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=hm.SAMPLE_RATE,
                              num_samples=NUM_SAMPLES),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]},
                                numeric_stats={"beds": [2.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="attention", projection_dim=8),
        head=mmf.HeadConfig(task="multiclass", labels=LABELS, hidden_units=[8]),
        presence_inputs=presence,
        name="tiny_fusion",
    )


def png(array):
    return tf.io.encode_png(np.asarray(array, "uint8")).numpy()


def pcm16_wav(seconds, rate, seed=0):
    waveform = np.random.default_rng(seed).uniform(-0.5, 0.5, [int(seconds * rate), 1]).astype("float32")
    return tf.audio.encode_wav(waveform, rate).numpy()


def gif(frames):
    from PIL import Image

    images = [Image.fromarray(np.asarray(f, "uint8")) for f in frames]
    out = io.BytesIO()
    images[0].save(out, format="GIF", save_all=len(images) > 1, append_images=images[1:])
    return out.getvalue()


@pytest.fixture(scope="package")
def classifier(hub_dir):
    config = classifier_config(hub_dir)
    return mmf.build_model(config), config


@pytest.fixture(scope="package")
def manifest(tmp_path_factory):
    """A CSV of real inputs: odd image sizes and formats, 16 kHz WAVs (model: 8 kHz), gaps."""
    root = tmp_path_factory.mktemp("examples")
    rng = np.random.default_rng(0)
    images = {
        "big.png": png(rng.integers(0, 256, [20, 24, 3])),
        "grey.png": png(rng.integers(0, 256, [16, 16, 1])),
        "photo.jpg": tf.io.encode_jpeg(rng.integers(0, 256, [16, 16, 3]).astype("uint8")).numpy(),
        "anim.gif": gif([rng.integers(0, 256, [12, 10, 3]) for _ in range(2)]),
    }
    audio = {"a.wav": pcm16_wav(0.08, 16000, 1), "b.wav": pcm16_wav(0.2, 8000, 2), "c.wav": pcm16_wav(0.03, 16000, 3)}
    for name, data in {**images, **audio}.items():
        (root / name).write_bytes(data)
    rows = [
        {"image": "big.png", "text": "the red car", "audio": "a.wav", "beds": "1", "city": "a", "label": "cat"},
        {"image": "grey.png", "text": "big blue dogs", "audio": "b.wav", "beds": "", "city": "b", "label": "dog"},
        {"image": "photo.jpg", "text": "cats", "audio": "", "beds": "3", "city": "zzz", "label": "fox"},
        {"image": "anim.gif", "text": "", "audio": "c.wav", "beds": "2", "city": "", "label": "cat"},
    ]
    path = root / "examples.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="package")
def exported(classifier, manifest, tmp_path_factory):
    model, config = classifier
    base = tmp_path_factory.mktemp("models") / "tiny"
    return export.export_saved_model(model, config, str(base), examples=manifest, **LIMITS)


@pytest.fixture(scope="package")
def reloaded(exported):
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(exported)
