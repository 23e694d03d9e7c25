"""TransformerFusion: modality tokens + CLS through pre-norm blocks."""

import numpy as np
import pytest

from mmfusion_tf.fusion import TransformerFusion
from tests.fusion._checks import DIMS_3
from tests.fusion._checks import PRESENCE_3
from tests.fusion._checks import assert_missing_modality_ignored
from tests.fusion._checks import make_inputs
from tests.fusion._checks import run
from tests.fusion._checks import to_numpy


def test_weights_are_cls_attention_to_modality_tokens():
    layer = TransformerFusion(projection_dim=8, num_heads=2, ff_dim=8)
    x = make_inputs(DIMS_3)
    _, weights = run(layer, x, PRESENCE_3)
    # Recompute the CLS query's attention by hand from the layer's variables.
    h = np.stack([to_numpy(p(v)) for p, v in zip(layer.projections, x)], 1)
    tokens = h * PRESENCE_3[:, :, None] + to_numpy(layer.modality_embeddings)
    cls = np.broadcast_to(to_numpy(layer.cls_token), (4, 1, 8))
    y = to_numpy(layer.attention_norms[0](np.concatenate([cls, tokens], 1)))
    attention = layer.attentions[0]
    wq, bq = (to_numpy(v) for v in attention.query_dense.weights)
    wk, bk = (to_numpy(v) for v in attention.key_dense.weights)
    q = np.einsum("bd,dhk->bhk", y[:, 0], wq) + bq
    k = np.einsum("btd,dhk->bthk", y, wk) + bk
    logits = np.einsum("bhk,bthk->bht", q, k) / np.sqrt(4)
    visible = np.concatenate([np.ones((4, 1)), PRESENCE_3], 1)[:, None, :]
    logits = np.where(visible > 0, logits, -np.inf)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    to_modalities = probs[:, :, 1:].mean(axis=1)  # Drop CLS, mean of heads.
    with np.errstate(invalid="ignore"):  # 0 / 0 where only CLS is visible.
        expected = to_modalities / to_modalities.sum(-1, keepdims=True)
    expected[PRESENCE_3.sum(-1) == 0] = 0
    np.testing.assert_allclose(weights, expected, atol=1e-5)


def test_deeper_stack_still_ignores_missing_modalities():
    # In the second block the missing tokens' own outputs exist but stay
    # invisible as keys.
    layer = TransformerFusion(
        projection_dim=8, num_heads=2, num_layers=2, ff_dim=8
    )
    assert_missing_modality_ignored(layer)
    assert len(layer.attentions) == 2


def test_dropout_is_active_only_in_training():
    layer = TransformerFusion(
        projection_dim=8, num_heads=2, ff_dim=8, dropout=0.5
    )
    x = make_inputs(DIMS_3)
    np.testing.assert_array_equal(run(layer, x)[0], run(layer, x)[0])
    assert not np.allclose(
        run(layer, x, training=True)[0], run(layer, x, training=True)[0]
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"projection_dim": 10, "num_heads": 4},
            "`projection_dim` must be divisible by `num_heads`. "
            "Received: projection_dim=10, num_heads=4",
        ),
        (
            {"num_heads": 0},
            "`num_heads` must be a positive integer. Received: num_heads=0",
        ),
        (
            {"num_layers": 1.5},
            "`num_layers` must be a positive integer. Received: num_layers=1.5",
        ),
        (
            {"ff_dim": -8},
            "`ff_dim` must be a positive integer. Received: ff_dim=-8",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        TransformerFusion(**kwargs)
    assert message in str(error.value)
