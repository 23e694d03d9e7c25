import json

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones import AudioEncoder, HubEncoder, ImageEncoder, TabularEncoder, TextEncoder
from tests import hub_modules as hm


def _round_trip(layer):
    config = json.loads(json.dumps(layer.get_config()))
    clone = type(layer).from_config(config)
    assert clone.get_config() == layer.get_config()
    return clone


# --- ImageEncoder ---


def test_image_encoder_resizes_and_rescales_inside_the_model(hub_dir):
    encoder = ImageEncoder(hub_dir["image"], image_size=(hm.IMAGE_SIZE, hm.IMAGE_SIZE), value_range=(0.0, 1.0))
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 28, 3)).astype("uint8")
    features = encoder(images)
    assert features.shape == (3, hm.IMAGE_DIM)
    # Same as resizing + scaling by hand, then calling the hub module.
    manual = tf.image.resize(images.astype("float32"), (hm.IMAGE_SIZE, hm.IMAGE_SIZE)) / 255.0
    np.testing.assert_allclose(features.numpy(), encoder.backbone(manual).numpy(), atol=1e-5)
    _round_trip(encoder)


def test_image_encoder_maps_grey_scale_to_rgb(hub_dir):
    encoder = ImageEncoder(hub_dir["image"], image_size=(hm.IMAGE_SIZE, hm.IMAGE_SIZE))
    grey = np.full((2, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 1), 100, "uint8")
    rgb = np.repeat(grey, 3, axis=-1)
    np.testing.assert_allclose(encoder(grey).numpy(), encoder(rgb).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image_size": (0, 8)}, "image_size"),
        ({"value_range": (1.0, 0.0)}, "value_range"),
        ({"channels": 2}, "channels"),
    ],
)
def test_image_encoder_argument_errors(hub_dir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageEncoder(hub_dir["image"], **kwargs)


# --- TextEncoder ---


def test_text_encoder_bert_style_pair(hub_dir):
    encoder = TextEncoder(hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"])
    assert encoder.output_key == "pooled_output"
    text = tf.constant(["the red car", "blue dogs", ""])
    features = encoder(text)
    assert features.shape == (3, hm.TEXT_DIM)
    tokens = encoder.tokenizer(text)
    np.testing.assert_allclose(
        features.numpy(), HubEncoder(hub_dir["bert_encoder"], output_key="pooled_output")(tokens).numpy(), atol=1e-6
    )
    _round_trip(encoder)


def test_text_encoder_mean_pooling_ignores_padding(hub_dir):
    encoder = TextEncoder(hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"], pooling="mean")
    text = tf.constant(["the red car"])
    tokens = encoder.tokenizer(text)
    sequence = HubEncoder(hub_dir["bert_encoder"])(tokens)["sequence_output"].numpy()[0]
    length = int(tokens["input_mask"].numpy().sum())
    np.testing.assert_allclose(encoder(text).numpy()[0], sequence[:length].mean(0), atol=1e-5)


def test_text_encoder_string_embedding_module(hub_dir):
    encoder = TextEncoder(hub_dir["string_embedding"])
    features = encoder(tf.constant([["red car"], ["dog"]]))  # [batch, 1] is accepted too
    assert features.shape == (2, hm.EMBEDDING_DIM)


def test_text_encoder_in_a_functional_model_fine_tunes(hub_dir):
    encoder = TextEncoder(hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"], trainable=True)
    text = keras.Input((), dtype="string")
    model = keras.Model(text, keras.layers.Dense(2)(encoder(text)))
    data = tf.constant(["the red car", "the blue dog", "big cats", "red dogs"] * 4)
    before = encoder(data).numpy()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data, np.array([0, 1, 1, 0] * 4), epochs=2, verbose=0)
    assert np.abs(encoder(data).numpy() - before).max() > 1e-4


def test_text_encoder_mean_pooling_needs_a_preprocessor(hub_dir):
    with pytest.raises(ValueError, match="preprocessor"):
        TextEncoder(hub_dir["string_embedding"], pooling="mean")


# --- AudioEncoder ---


@pytest.mark.parametrize("pooling", ["mean", "max", "attention"])
def test_audio_encoder_pools_frames(hub_dir, pooling):
    encoder = AudioEncoder(hub_dir["audio"], sample_rate=hm.SAMPLE_RATE, pooling=pooling)
    waves = np.random.default_rng(0).normal(size=(2, 1600)).astype("float32") * 0.1
    features = encoder(waves)
    assert features.shape == (2, hm.AUDIO_DIM)
    frames = encoder.backbone(waves).numpy()
    if pooling == "mean":
        np.testing.assert_allclose(features.numpy(), frames.mean(1), atol=1e-5)
    if pooling == "max":
        np.testing.assert_allclose(features.numpy(), frames.max(1), atol=1e-5)
    _round_trip(encoder)


def test_audio_encoder_per_waveform_module_is_mapped_over_the_batch(hub_dir):
    encoder = AudioEncoder(hub_dir["audio_per_waveform"], sample_rate=hm.SAMPLE_RATE, batched=False, output_key=1)
    waves = keras.Input((800,))
    model = keras.Model(waves, encoder(waves))
    data = np.random.default_rng(1).normal(size=(3, 800)).astype("float32")
    out = model.predict(data, verbose=0)
    assert out.shape == (3, hm.AUDIO_DIM)
    single = encoder.backbone(tf.constant(data[1])).numpy()
    np.testing.assert_allclose(out[1], single.mean(0), atol=1e-5)


# --- TabularEncoder ---


def test_tabular_encoder_standardises_embeds_and_flags_missing():
    encoder = TabularEncoder(["beds", "price"], {"city": ["boston", "cambridge"]}, embedding_dim=3)
    encoder.adapt({"beds": [1.0, 3.0, np.nan], "price": [10.0, 20.0, 30.0]})
    assert encoder.numeric_stats["beds"] == [2.0, 1.0]
    out = encoder({"beds": tf.constant([3.0, np.nan]), "price": tf.constant([20.0, 20.0]),
                   "city": tf.constant(["boston", "nowhere"])})
    assert out.shape == (2, 2 * 2 + 3)
    values = out.numpy()
    np.testing.assert_allclose(values[:, 0], [1.0, 0.0])  # (3-2)/1 ; missing -> 0
    np.testing.assert_allclose(values[:, 1], [0.0, 1.0])  # missing indicator
    # an unknown category goes to the OOV bucket, not an error
    assert not np.allclose(values[0, 4:], values[1, 4:])


def test_tabular_encoder_config_carries_statistics():
    encoder = TabularEncoder(["beds"], {"city": None})
    encoder.adapt({"beds": [1.0, 2.0], "city": ["b", "a", "b"]})
    clone = _round_trip(encoder)
    assert clone.categorical_features == {"city": ["a", "b"]}
    assert clone.numeric_stats == encoder.numeric_stats


def test_tabular_encoder_errors_name_the_column():
    encoder = TabularEncoder(["beds"])
    with pytest.raises(ValueError, match="adapt"):
        encoder({"beds": tf.constant([1.0])})
    with pytest.raises(KeyError, match="beds"):
        encoder.adapt({"rooms": [1.0]})
    with pytest.raises(ValueError, match="all missing"):
        encoder.adapt({"beds": [np.nan]})
