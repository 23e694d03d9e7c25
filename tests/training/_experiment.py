"""A tiny image+audio experiment over the test hub modules, with class-dependent data."""

import numpy as np

import mmfusion_tf as mmf
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig
from tests import hub_modules as hm

NUM_SAMPLES = 800
LABELS = ["low", "mid", "high"]


def make_data(n, seed=0):
    """The place of a bright square and the audio pitch both follow the class (paired modalities)."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, len(LABELS), n)
    image = rng.normal(60, 20, (n, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3))
    side = hm.IMAGE_SIZE // 3
    for i, c in enumerate(label):
        image[i, c * side:(c + 1) * side, c * side:(c + 1) * side] += 150
    image = np.clip(image, 0, 255).astype("uint8")
    t = np.arange(NUM_SAMPLES) / hm.SAMPLE_RATE
    freq = (300 + 700 * label)[:, None] * (1 + 0.05 * rng.normal(size=(n, 1)))
    audio = (0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=(n, NUM_SAMPLES))).astype("float32")
    return {"image": image, "audio": audio, "label": np.asarray([LABELS[i] for i in label], dtype=object)}


def model_config(hub_dir, fusion="concat"):
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=hm.SAMPLE_RATE,
                              num_samples=NUM_SAMPLES),
        ],
        fusion=mmf.FusionConfig(method=fusion, projection_dim=8),
        head=mmf.HeadConfig(task="multiclass", labels=list(LABELS), hidden_units=[8], dropout=0.0),
        name="tiny_av",
    )


def experiment(hub_dir, stages=None, **training):
    stages = stages or [
        StageConfig(name="frozen", epochs=2, learning_rate=3e-3, backbones="frozen"),
        StageConfig(name="fine_tune", epochs=2, learning_rate=1e-3, backbones="all", lr_schedule="cosine"),
    ]
    # Calibration has its own tests (test_balanced_training.py); here it would only add a predict pass per fit.
    training = {"precision": "float32", "tensorboard": False, "calibrate": False, **training}
    return ExperimentConfig(
        model=model_config(hub_dir),
        data=DataConfig(train="unused.csv", batch_size=16, augment=False),
        training=TrainingConfig(stages=stages, **training),
    )
