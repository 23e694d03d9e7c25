"""GatedFusion: Gated Multimodal Units for M modalities."""

import numpy as np

from mmfusion_tf.fusion import GatedFusion
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def test_matches_gmu_formula():
    dims = (3, 5, 6)
    layer = GatedFusion(projection_dim=4)
    x = make_inputs(dims)
    fused, weights = run(layer, x, PRESENCE_3)
    present = PRESENCE_3[:, :, None]
    h = np.tanh(
        np.stack([to_numpy(p(v)) for p, v in zip(layer.projections, x)], 1)
    ) * present
    gate_input = np.concatenate(
        [v * PRESENCE_3[:, i : i + 1] for i, v in enumerate(x)], axis=-1
    )
    logits = to_numpy(layer.gate(gate_input)).reshape(-1, 3, 4)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True)) * present
    total = exp.sum(axis=1, keepdims=True)
    z = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    np.testing.assert_allclose(fused, (z * h).sum(axis=1), atol=1e-5)
    np.testing.assert_allclose(weights, z.mean(axis=-1), atol=1e-6)


def test_two_modalities_reduce_to_the_sigmoid_gmu():
    # z * h_v + (1 - z) * h_t with z = sigmoid(W_z [x_v, x_t]) (Arevalo et al.)
    layer = GatedFusion(projection_dim=4)
    x = make_inputs((3, 5))
    fused, weights = run(layer, x)
    h_v, h_t = (np.tanh(to_numpy(p(v))) for p, v in zip(layer.projections, x))
    logits = to_numpy(layer.gate(np.concatenate(x, axis=-1))).reshape(-1, 2, 4)
    z = 1 / (1 + np.exp(-(logits[:, 0] - logits[:, 1])))
    np.testing.assert_allclose(fused, z * h_v + (1 - z) * h_t, atol=1e-5)
    np.testing.assert_allclose(weights[:, 0], z.mean(axis=-1), atol=1e-6)
