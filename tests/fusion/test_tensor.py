"""TensorFusion: outer product of [h_m, 1] (Tensor Fusion Network)."""

import numpy as np
import pytest

from mmfusion_tf.fusion import TensorFusion
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def test_matches_outer_product_formula():
    layer = TensorFusion(projection_dim=2, output_dim=5)
    x = make_inputs((3, 5, 6))
    fused, weights = run(layer, x, PRESENCE_3)
    z = [
        np.concatenate(
            [to_numpy(p(v)) * PRESENCE_3[:, i : i + 1], np.ones((4, 1))], -1
        )
        for i, (p, v) in enumerate(zip(layer.projections, x))
    ]
    outer = np.einsum("bi,bj,bk->bijk", *z).reshape(4, 27)
    kernel, bias = (to_numpy(v) for v in layer.output_dense.weights)
    expected = np.maximum(outer @ kernel + bias, 0)
    expected[PRESENCE_3.sum(-1) == 0] = 0  # No modality: zeros.
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    np.testing.assert_allclose(weights, PRESENCE_3 / np.maximum(
        PRESENCE_3.sum(-1, keepdims=True), 1), atol=1e-7)


def test_too_many_features_suggests_low_rank_fusion():
    layer = TensorFusion(projection_dim=100, output_dim=4)
    with pytest.raises(ValueError) as error:
        layer(make_inputs((3, 5, 6)))
    message = str(error.value)
    assert "101 ** 3 = 1,030,301" in message
    assert "LowRankFusion" in message
    assert "Received: projection_dim=100" in message


def test_rejects_bad_output_dim():
    with pytest.raises(
        ValueError,
        match=r"`output_dim` must be a positive integer. "
        r"Received: output_dim=0",
    ):
        TensorFusion(output_dim=0)
