"""`masked_mean`: the one masked mean of TextEncoder(pooling="mean") and the imported BERT's `default`."""

import numpy as np
import tensorflow as tf

from mmfusion_tf.backbones.text import masked_mean
from mmfusion_tf.hub.bert_encoder import MaskedMeanPooling


def _data(seed=0):
    rng = np.random.default_rng(seed)
    sequence = rng.normal(size=(5, 7, 4)).astype("float32")
    mask = rng.integers(0, 2, (5, 7)).astype("int32")
    mask[0] = 0  # no real token
    mask[1] = 1
    return sequence, mask


def test_masked_mean_averages_the_real_tokens_only():
    sequence, mask = _data()
    out = masked_mean(tf.constant(sequence), tf.constant(mask)).numpy()
    weights = mask[..., None].astype("float64")
    expected = (sequence * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[0], 0.0)


def test_masked_mean_pooling_layer_is_masked_mean():
    sequence, mask = _data(1)
    np.testing.assert_array_equal(
        MaskedMeanPooling()(tf.constant(sequence), tf.constant(mask)).numpy(),
        masked_mean(tf.constant(sequence), tf.constant(mask)).numpy(),
    )


def test_masked_mean_stays_finite_in_float16():
    sequence, mask = _data(2)
    out = masked_mean(tf.constant(sequence, tf.float16), tf.constant(mask))
    assert out.dtype == tf.float16 and np.all(np.isfinite(out.numpy()))
