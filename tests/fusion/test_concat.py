"""ConcatFusion: projected modalities side by side."""

import numpy as np
import pytest

from mmfusion_tf.fusion import ConcatFusion
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def test_concatenates_projections_with_zeros_for_missing():
    layer = ConcatFusion(projection_dim=4)
    x = make_inputs((3, 5, 6))
    fused, weights = run(layer, x, PRESENCE_3)
    blocks = [
        to_numpy(projection(v)) * PRESENCE_3[:, i : i + 1]
        for i, (projection, v) in enumerate(zip(layer.projections, x))
    ]
    np.testing.assert_allclose(fused, np.concatenate(blocks, -1), atol=1e-6)
    np.testing.assert_allclose(
        weights,
        [[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3], [0, 0, 0], [0, 1, 0]],
        atol=1e-7,
    )


def test_rejects_bad_projection_dim():
    with pytest.raises(
        ValueError,
        match=r"`projection_dim` must be a positive integer. "
        r"Received: projection_dim=0",
    ):
        ConcatFusion(projection_dim=0)
