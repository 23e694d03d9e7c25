"""Encoders do not autocast their inputs: raw values stay float32 under mixed precision."""

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.backbones import AudioEncoder, HubEncoder, ImageEncoder, TabularEncoder
from tests.fusion._checks import to_numpy
from tests import hub_modules as hm

PRICES = np.array([98000.0, 100000.0, 101500.0, 70000.0, np.nan], "float32")


def _tabular_encoder(**kwargs):
    return TabularEncoder(["price"], numeric_stats={"price": [100000.0, 1000.0**2]}, **kwargs)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_tabular_encoder_standardises_large_values_in_float32(policy):
    reference = _tabular_encoder(dtype="float32")({"price": tf.constant(PRICES)}).numpy()
    keras.mixed_precision.set_global_policy(policy)
    encoder = _tabular_encoder()
    out = encoder({"price": tf.constant(PRICES)})
    assert out.dtype == keras.mixed_precision.global_policy().compute_dtype
    out = tf.cast(out, tf.float32).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(reference[:, 0], [-2.0, 0.0, 1.5, -30.0, 0.0], atol=1e-6)
    # Only the output is rounded to the compute dtype (1e5 is inf in float16).
    np.testing.assert_allclose(out, reference, rtol=1e-2, atol=1e-3)


def test_tabular_model_with_large_values_has_finite_probabilities_under_mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    config = mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="table", numeric_features=["price"], numeric_stats={"price": [1e5, 1e6]})],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=["a", "b", "c"]),
    )
    model = mmf.build_model(config)
    outputs = model.predict({"price": PRICES[:4]}, verbose=0)
    assert np.all(np.isfinite(outputs["probabilities"]))
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-5)
    features = model.get_layer("table_encoder")({"price": tf.constant(PRICES[:4])})
    expected = (PRICES[:4] - 1e5) / 1e3
    np.testing.assert_allclose(tf.cast(features, tf.float32).numpy()[:, 0], expected, rtol=1e-3)


def test_hub_encoder_calls_the_module_on_float32_inputs(hub_dir):
    images = np.random.default_rng(0).random((2, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3)).astype("float32")
    reference = HubEncoder(hub_dir["image"], dtype="float32")(images)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    encoder = HubEncoder(hub_dir["image"])
    out = encoder(images)
    assert out.dtype == tf.bfloat16
    # Same float32 computation, rounded once at the output.
    np.testing.assert_array_equal(to_numpy(out), to_numpy(tf.cast(reference, tf.bfloat16)))


def test_image_and_audio_encoders_pass_float32_inputs_to_the_backbone(hub_dir):
    rng = np.random.default_rng(0)
    images = (rng.random((2, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3)) * 255).astype("float32")
    waves = (rng.normal(size=(2, 1600)) * 0.1).astype("float32")
    image_ref = ImageEncoder(hub_dir["image"], image_size=(hm.IMAGE_SIZE, hm.IMAGE_SIZE), dtype="float32")(images)
    frames_ref = HubEncoder(hub_dir["audio"], dtype="float32")(waves)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    image_out = ImageEncoder(hub_dir["image"], image_size=(hm.IMAGE_SIZE, hm.IMAGE_SIZE))(images)
    audio_out = AudioEncoder(hub_dir["audio"], sample_rate=hm.SAMPLE_RATE, pooling="mean")(waves)
    assert image_out.dtype == audio_out.dtype == tf.bfloat16
    # Float32 all the way through the backbone; rounded to bfloat16 only at its output.
    np.testing.assert_array_equal(to_numpy(image_out), to_numpy(tf.cast(image_ref, tf.bfloat16)))
    expected = tf.reduce_mean(tf.cast(frames_ref, tf.bfloat16), axis=1)
    np.testing.assert_array_equal(to_numpy(audio_out), to_numpy(expected))
