"""AttentionFusion: additive attention over modalities."""

import numpy as np
import pytest

from mmfusion_tf.fusion import AttentionFusion
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def _masked_softmax(logits, presence):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True)) * presence
    total = exp.sum(axis=-1, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def test_matches_additive_attention_formula():
    layer = AttentionFusion(projection_dim=4, attention_units=3)
    x = make_inputs((3, 5, 6))
    fused, weights = run(layer, x, PRESENCE_3)
    h = np.stack(
        [to_numpy(p(v)) for p, v in zip(layer.projections, x)], axis=1
    ) * PRESENCE_3[:, :, None]
    w, b = (to_numpy(v) for v in layer.attention_hidden.weights)
    v = to_numpy(layer.attention_score.kernel)[:, 0]
    scores = np.tanh(h @ w + b) @ v  # s_m = v^T tanh(W h_m + b)
    expected = _masked_softmax(scores, PRESENCE_3)
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    np.testing.assert_allclose(
        fused, (expected[:, :, None] * h).sum(axis=1), atol=1e-5
    )


def test_rejects_bad_attention_units():
    with pytest.raises(
        ValueError,
        match=r"`attention_units` must be a positive integer. "
        r"Received: attention_units=0",
    ):
        AttentionFusion(attention_units=0)
