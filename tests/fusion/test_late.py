"""LateFusion: weighted average of per-modality predictions."""

import numpy as np
import pytest

from mmfusion_tf.fusion import LateFusion
from tests.fusion._checks import DIMS_3
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def _softmax(logits):
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


@pytest.mark.parametrize("hidden_units", [0, 4])
def test_fixed_weights_average_head_probabilities(hidden_units):
    layer = LateFusion(
        num_outputs=3, weights=[0.5, 0.3, 0.2], mode="fixed",
        hidden_units=hidden_units,
    )
    x = make_inputs(DIMS_3)
    fused, weights = run(layer, x, PRESENCE_3)
    probs = []
    for i, v in enumerate(x):
        if hidden_units:
            v = to_numpy(layer.hidden_layers[i](v))
        probs.append(_softmax(to_numpy(layer.projections[i](v))))
    w = np.array([0.5, 0.3, 0.2]) * PRESENCE_3
    w = np.divide(w, w.sum(-1, keepdims=True), out=np.zeros_like(w),
                  where=w.sum(-1, keepdims=True) > 0)
    np.testing.assert_allclose(weights, w, atol=1e-6)
    expected = np.einsum("bm,mbo->bo", w, np.stack(probs))
    np.testing.assert_allclose(fused, expected, atol=1e-6)
    np.testing.assert_allclose(fused[[0, 1, 3]].sum(-1), 1.0, atol=1e-6)
    assert len(layer.trainable_weights) == 3 * (4 if hidden_units else 2)


@pytest.mark.parametrize("activation", ["sigmoid", "linear"])
def test_other_activations(activation):
    layer = LateFusion(num_outputs=2, activation=activation)
    x = make_inputs(DIMS_3)
    fused, _ = run(layer, x)  # Softmax mode starts uniform: a plain mean.
    logits = np.stack([to_numpy(p(v)) for p, v in zip(layer.projections, x)])
    if activation == "sigmoid":
        logits = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(fused, logits.mean(axis=0), atol=1e-6)


def test_global_weights():
    layer = LateFusion(num_outputs=2, weights=[1.0, 3.0])
    run(layer, make_inputs((3, 5)))
    np.testing.assert_allclose(layer.global_weights(), [0.25, 0.75], atol=1e-6)
    layer = LateFusion(num_outputs=2, weights=[1.0, 3.0], mode="fixed")
    run(layer, make_inputs((3, 5)))
    np.testing.assert_allclose(layer.global_weights(), [0.25, 0.75])


def test_config_has_num_outputs_not_projection_dim():
    config = LateFusion(num_outputs=5).get_config()
    assert config["num_outputs"] == 5
    assert "projection_dim" not in config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"num_outputs": 0},
            "`num_outputs` must be a positive integer. Received: num_outputs=0",
        ),
        (
            {"num_outputs": 2, "activation": "tanh"},
            "`activation` must be one of ['softmax', 'sigmoid', 'linear']. "
            "Received: activation='tanh'",
        ),
        (
            {"num_outputs": 2, "mode": "learned"},
            "`mode` must be one of ['softmax', 'fixed']. "
            "Received: mode='learned'",
        ),
        (
            {"num_outputs": 2, "hidden_units": -1},
            "`hidden_units` must be a non-negative integer. "
            "Received: hidden_units=-1",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        LateFusion(**kwargs)
    assert message in str(error.value)


# --- return_logits: the mixture's logits, in log space ---


@pytest.mark.parametrize("mode, weights", [("softmax", [1.0, 2.0, 3.0]), ("fixed", [0.5, 0.3, 0.2])])
@pytest.mark.parametrize("activation", ["softmax", "sigmoid"])
def test_return_logits_gives_the_logits_of_the_mixture(activation, mode, weights):
    layer = LateFusion(num_outputs=3, activation=activation, weights=weights, mode=mode)
    x = [5 * v for v in make_inputs(DIMS_3)]
    fused, weights_out = run(layer, x, PRESENCE_3)
    logits_layer = LateFusion.from_config({**layer.get_config(), "return_logits": True})
    run(logits_layer, x, PRESENCE_3)
    logits_layer.set_weights(layer.get_weights())
    logits, logits_weights = run(logits_layer, x, PRESENCE_3)
    np.testing.assert_allclose(logits_weights, weights_out, atol=1e-6)
    assert np.all(np.isfinite(logits))
    present = PRESENCE_3.sum(-1) > 0
    if activation == "softmax":
        mixture = _softmax(logits)
    else:
        mixture = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(mixture[present], fused[present], atol=1e-6)


def test_return_logits_keeps_gradients_on_confidently_wrong_examples():
    import tensorflow as tf

    layer = LateFusion(num_outputs=3, return_logits=True)
    x = [tf.constant([[100.0, 0.0, 0.0]]), tf.constant([[100.0, 0.0, 0.0]])]
    layer(x)
    for head in layer.projections:
        head.kernel.assign(np.eye(3, dtype="float32"))
        head.bias.assign(np.zeros(3, "float32"))
    with tf.GradientTape() as tape:
        logits, _ = layer(x)
        loss = tf.keras.losses.sparse_categorical_crossentropy(tf.constant([2]), logits, from_logits=True)
    np.testing.assert_allclose(loss.numpy(), [100.0], rtol=1e-5)  # not capped by a probability clip
    gradient = tape.gradient(loss, layer.projections[0].kernel)
    assert np.linalg.norm(gradient.numpy()) > 1.0


def test_return_logits_round_trips_through_config():
    layer = LateFusion(num_outputs=2, activation="sigmoid", return_logits=True)
    assert LateFusion.from_config(layer.get_config()).return_logits is True
    assert LateFusion(num_outputs=2).get_config()["return_logits"] is False
