"""Local stand-ins for TF-Hub backbones, pretrained on the demo's source tasks.

`mmfusion demo` must run with no download, so instead of tfhub.dev handles
it uses three small backbones written *locally in TF-Hub format* and loaded
through `HubEncoder`, exactly as real handles are. They are honest
stand-ins: small networks pretrained briefly on a related source task
(4-way shape / pitch / topic classification on a separate random stream),
which is the transfer-learning setting the package is for. With network
access, swap the handles for presets (`mobilenet_v3_small`,
`small_bert_l2_h128`, `yamnet`); nothing else changes.

Example:

>>> handles = prepare_demo_backbones("/tmp/mmfusion_demo_hub")
>>> sorted(handles)
['audio', 'image', 'text_encoder', 'text_preprocessor']
"""

import json
import os

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.local_backbones import small_audio_backbone, small_bert_encoder, small_image_backbone
from mmfusion_tf.datasets import demo
from mmfusion_tf.hub import export_keras_as_hub_module, export_wordpiece_preprocessor

FORMAT_VERSION = 1
IMAGE_SIZE = 32
SAMPLE_RATE = 16000
AUDIO_SECONDS = 0.5
SEQ_LENGTH = 16
FEATURE_DIM = 64


def default_cache_dir():
    """`$MMFUSION_CACHE_DIR/demo_hub`, or `~/.cache/mmfusion_tf/demo_hub`."""
    base = os.environ.get("MMFUSION_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "mmfusion_tf")
    return os.path.join(base, "demo_hub")


def _pretrain(backbone, x, y, epochs, seed, log):
    """Trains `backbone` + a linear 4-way head on the source task; returns val accuracy."""
    inputs = backbone.input  # functional backbones: tensor, list or dict, as built
    if isinstance(inputs, list) and len(inputs) == 1:
        inputs = inputs[0]
    features = backbone(inputs)
    if isinstance(features, dict):
        features = features["pooled_output"]
    if len(features.shape) == 3:  # frame embeddings -> clip embedding
        features = keras.layers.GlobalAveragePooling1D()(features)
    logits = keras.layers.Dense(4, name="source_task_head")(features)
    model = keras.Model(inputs, logits)
    model.compile(
        keras.optimizers.Adam(3e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    n_val = len(y) // 5
    take = lambda data, s: tf.nest.map_structure(lambda a: a[s], data)  # noqa: E731
    history = model.fit(
        take(x, slice(n_val, None)), y[n_val:], validation_data=(take(x, slice(0, n_val)), y[:n_val]),
        epochs=epochs, batch_size=64, verbose=log,
    )
    return float(history.history["val_accuracy"][-1])


def _write_card(path, source_task, accuracy, stands_in_for):
    card = {
        "format_version": FORMAT_VERSION,
        "what": "local stand-in for a TF-Hub backbone (not a real pretrained network)",
        "stands_in_for": stands_in_for,
        "source_task": source_task,
        "source_task_val_accuracy": round(accuracy, 4),
    }
    with open(os.path.join(path, "mmfusion_module.json"), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2)
    return card


def _is_ready(path):
    card = os.path.join(path, "mmfusion_module.json")
    if not os.path.exists(card):
        return False
    with open(card, encoding="utf-8") as f:
        return json.load(f).get("format_version") == FORMAT_VERSION


def prepare_demo_backbones(cache_dir=None, num_examples=2000, epochs=4, seed=0, verbose=0):
    """Pretrains (or reuses cached) demo backbones; returns their local handles.

    Args:
        cache_dir: folder for the modules (default `default_cache_dir()`).
        num_examples: source-task examples per modality.
        epochs: source-task epochs.
        seed: random seed for data and initialisation.
        verbose: Keras verbosity of the pretraining `fit`.

    Returns:
        dict with keys `image`, `audio`, `text_preprocessor`, `text_encoder`
        (folder paths loadable by `HubEncoder`) and `cards` (what each one
        is and its source-task accuracy).
    """
    cache_dir = cache_dir or default_cache_dir()
    os.makedirs(cache_dir, exist_ok=True)
    paths = {
        "image": os.path.join(cache_dir, "image_feature_vector"),
        "audio": os.path.join(cache_dir, "audio_frame_embeddings"),
        "text_preprocessor": os.path.join(cache_dir, "text_preprocessor"),
        "text_encoder": os.path.join(cache_dir, "text_encoder"),
    }
    kwargs = dict(image_size=IMAGE_SIZE, sample_rate=SAMPLE_RATE, audio_seconds=AUDIO_SECONDS)

    if not _is_ready(paths["image"]):
        keras.utils.set_random_seed(seed)
        # Shapes in random colours take longer to learn than tones or keywords.
        x, y = demo.make_source_task("image", num_examples * 3 // 2, seed=seed, **kwargs)
        backbone = small_image_backbone(IMAGE_SIZE, FEATURE_DIM)
        acc = _pretrain(backbone, x.astype("float32") / 255.0, y, epochs * 2, seed, verbose)
        export_keras_as_hub_module(backbone, paths["image"], overwrite=True)
        _write_card(paths["image"], "4-way shape classification of 32x32 images", acc,
                    "imagenet feature_vector (e.g. mobilenet_v3_small)")

    if not _is_ready(paths["audio"]):
        keras.utils.set_random_seed(seed + 1)
        x, y = demo.make_source_task("audio", num_examples, seed=seed, **kwargs)
        backbone = small_audio_backbone(SAMPLE_RATE, FEATURE_DIM)
        acc = _pretrain(backbone, x, y, epochs, seed, verbose)
        export_keras_as_hub_module(backbone, paths["audio"], overwrite=True)
        _write_card(paths["audio"], "4-way pitch classification of 0.5 s tones", acc, "yamnet frame embeddings")

    if not (
        _is_ready(paths["text_encoder"])
        and os.path.exists(os.path.join(paths["text_preprocessor"], "saved_model.pb"))
    ):
        keras.utils.set_random_seed(seed + 2)
        vocab = demo.demo_vocabulary()
        export_wordpiece_preprocessor(vocab, paths["text_preprocessor"], seq_length=SEQ_LENGTH, overwrite=True)
        text, y = demo.make_source_task("text", num_examples, seed=seed, **kwargs)
        tokenizer = tf.saved_model.load(paths["text_preprocessor"])
        tokens = {k: v.numpy() for k, v in tokenizer(tf.constant(list(text))).items()}
        backbone = small_bert_encoder(len(vocab), SEQ_LENGTH, hidden_dim=FEATURE_DIM, num_layers=1, num_heads=2)
        acc = _pretrain(backbone, tokens, y, epochs, seed, verbose)
        export_keras_as_hub_module(backbone, paths["text_encoder"], overwrite=True)
        _write_card(paths["text_encoder"], "4-way topic classification of sentences", acc,
                    "small BERT (bert_en_uncased_L-2_H-128) + preprocessor")

    cards = {}
    for key in ("image", "audio", "text_encoder"):
        with open(os.path.join(paths[key], "mmfusion_module.json"), encoding="utf-8") as f:
            cards[key] = json.load(f)
    return {**paths, "cards": cards}
