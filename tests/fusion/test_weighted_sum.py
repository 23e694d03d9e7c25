"""WeightedSumFusion: h = α·h_1 + β·h_2 + γ·h_3 in its three modes."""

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.fusion import WeightedSumFusion
from tests.fusion._checks import assert_missing_modality_ignored
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy

DIM = 4
MISSING_1 = np.array([[1, 0, 1]] * 4, dtype="float32")


def _identity_layer(**kwargs):
    """A layer whose projections are the identity, so h_m = x_m."""
    layer = WeightedSumFusion(projection_dim=DIM, **kwargs)
    run(layer, make_inputs((DIM,) * 3))
    for projection in layer.projections:
        projection.set_weights([np.eye(DIM), np.zeros(DIM)])
    return layer


def test_fixed_weights_give_exact_weighted_sum():
    layer = _identity_layer(weights=[0.5, 0.3, 0.2], mode="fixed")
    x = make_inputs((DIM,) * 3)
    fused, weights = run(layer, x)
    np.testing.assert_allclose(
        fused, 0.5 * x[0] + 0.3 * x[1] + 0.2 * x[2], atol=1e-6
    )
    np.testing.assert_allclose(weights, [[0.5, 0.3, 0.2]] * 4, atol=1e-7)
    np.testing.assert_allclose(layer.global_weights(), [0.5, 0.3, 0.2])


def test_fixed_weights_renormalise_over_present_modalities():
    layer = _identity_layer(weights=[0.5, 0.3, 0.2], mode="fixed")
    x = make_inputs((DIM,) * 3)
    fused, weights = run(layer, x, MISSING_1)
    expected = np.array([0.5, 0.0, 0.2]) / 0.7
    np.testing.assert_allclose(weights, [expected] * 4, atol=1e-6)
    np.testing.assert_allclose(
        fused, expected[0] * x[0] + expected[2] * x[2], atol=1e-6
    )


def test_fixed_weights_are_normalised_globally():
    layer = _identity_layer(weights=[2.0, 1.0, 1.0], mode="fixed")
    _, weights = run(layer, make_inputs((DIM,) * 3))
    np.testing.assert_allclose(weights[0], [0.5, 0.25, 0.25], atol=1e-7)


def test_learned_weights_are_raw_scalars_times_presence():
    layer = _identity_layer(weights=[2.0, -1.0, 0.5], mode="learned")
    x = make_inputs((DIM,) * 3)
    fused, weights = run(layer, x, MISSING_1)
    np.testing.assert_allclose(weights, [[2.0, 0.0, 0.5]] * 4)
    np.testing.assert_allclose(fused, 2.0 * x[0] + 0.5 * x[2], atol=1e-6)
    np.testing.assert_allclose(layer.global_weights(), [2.0, -1.0, 0.5])


def test_learned_weights_default_to_one_over_m():
    layer = WeightedSumFusion(projection_dim=DIM, mode="learned")
    run(layer, make_inputs((3, 5)))
    np.testing.assert_allclose(layer.global_weights(), [0.5, 0.5])


def test_softmax_starts_from_log_weights_and_masks():
    layer = _identity_layer(weights=[0.5, 0.3, 0.2], mode="softmax")
    x = make_inputs((DIM,) * 3)
    _, weights = run(layer, x)
    np.testing.assert_allclose(weights, [[0.5, 0.3, 0.2]] * 4, atol=1e-6)
    np.testing.assert_allclose(
        layer.global_weights(), [0.5, 0.3, 0.2], atol=1e-6
    )
    _, weights = run(layer, x, MISSING_1)
    np.testing.assert_allclose(weights, [[5 / 7, 0.0, 2 / 7]] * 4, atol=1e-6)


def test_softmax_defaults_to_uniform():
    layer = WeightedSumFusion(projection_dim=DIM)
    _, weights = run(layer, make_inputs((3, 5, 6)))
    np.testing.assert_allclose(weights, np.full((4, 3), 1 / 3), atol=1e-6)


@pytest.mark.parametrize(
    "mode, weights, trainable",
    [("fixed", [1.0, 1.0, 1.0], False), ("learned", None, True),
     ("softmax", None, True)],
)
def test_modality_weights_trainable_only_when_learned(mode, weights, trainable):
    layer = WeightedSumFusion(projection_dim=DIM, weights=weights, mode=mode)
    x = [tf.constant(v) for v in make_inputs((3, 5, 6))]
    run(layer, x)  # Builds it.
    assert (layer.weight_variable is not None) == trainable
    assert len(layer.trainable_weights) == 6 + trainable
    if trainable:
        with tf.GradientTape() as tape:
            fused, _ = layer(x, presence=MISSING_1)
            loss = tf.reduce_sum(fused * tf.range(DIM, dtype=fused.dtype))
        grad = to_numpy(tape.gradient(loss, layer.weight_variable))
        assert np.abs(grad[[0, 2]]).min() > 0
        assert grad[1] == 0  # Missing everywhere in this batch.


@pytest.mark.parametrize("mode", ["fixed", "learned"])
def test_missing_modality_contributes_nothing_in_every_mode(mode):
    layer = WeightedSumFusion(
        projection_dim=DIM, weights=[0.5, 0.3, 0.2], mode=mode
    )
    assert_missing_modality_ignored(layer)


def test_global_weights_need_a_built_layer():
    with pytest.raises(ValueError, match="not built yet"):
        WeightedSumFusion().global_weights()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"projection_dim": -1},
            "`projection_dim` must be a positive integer. "
            "Received: projection_dim=-1",
        ),
        (
            {"mode": "mean"},
            "`mode` must be one of ['fixed', 'learned', 'softmax']. "
            "Received: mode='mean'",
        ),
        (
            {"mode": "fixed"},
            "With mode='fixed', `weights` must be given (one float per "
            "modality). Received: weights=None",
        ),
        (
            {"mode": "fixed", "weights": [0.5, -0.5]},
            "With mode='fixed', `weights` must be >= 0 and not all 0. "
            "Received: weights=[0.5, -0.5]",
        ),
        (
            {"mode": "softmax", "weights": [1.0, 0.0]},
            "must be > 0. Received: weights=[1.0, 0.0]",
        ),
        (
            {"weights": "0.5,0.5"},
            "`weights` must be a list of floats, one per modality. "
            "Received: weights='0.5,0.5'",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        WeightedSumFusion(**kwargs)
    assert message in str(error.value)


def test_weights_length_is_checked_in_build():
    layer = WeightedSumFusion(weights=[0.5, 0.5], mode="fixed")
    with pytest.raises(
        ValueError,
        match=r"one entry per modality \(3 modalities\). "
        r"Received: weights=\[0.5, 0.5\] \(length 2\)",
    ):
        layer(make_inputs((3, 5, 6)))
