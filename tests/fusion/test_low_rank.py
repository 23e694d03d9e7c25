"""LowRankFusion: TFN with a rank-r decomposed weight tensor (LMF)."""

import numpy as np
import pytest

from mmfusion_tf.fusion import LowRankFusion
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def test_equals_tensor_fusion_with_the_rebuilt_full_weight_tensor():
    layer = LowRankFusion(projection_dim=2, output_dim=5, rank=3)
    x = make_inputs((3, 5, 6))
    fused, weights = run(layer, x, PRESENCE_3)
    z = [
        np.concatenate(
            [to_numpy(p(v)) * PRESENCE_3[:, i : i + 1], np.ones((4, 1))], -1
        )
        for i, (p, v) in enumerate(zip(layer.projections, x))
    ]
    a, b, c = (to_numpy(f) for f in layer.factors)
    w = to_numpy(layer.rank_weights)
    # W[i, j, k, o] = sum_r w_r a[r, i, o] b[r, j, o] c[r, k, o]
    full = np.einsum("r,rio,rjo,rko->ijko", w, a, b, c)
    expected = np.einsum("bi,bj,bk,ijko->bo", *z, full) + to_numpy(layer.bias)
    expected[PRESENCE_3.sum(-1) == 0] = 0  # No modality: zeros.
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    assert weights[0].tolist() == [0.5, 0.0, 0.5]


def test_rejects_bad_rank():
    with pytest.raises(
        ValueError, match=r"`rank` must be a positive integer. Received: rank=0"
    ):
        LowRankFusion(rank=0)
