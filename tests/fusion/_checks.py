"""Layer cases and checks shared by the fusion tests.

`CASES` lists every fusion layer with small arguments; the contract that
all of them share (shapes, config, gradients, masking, training, mixed
precision, saving) is checked once in `test_fusion_contract.py`, and the
`assert_*` helpers below are reused by the per-layer files for extra modes.
"""

import dataclasses
from typing import Callable

import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion import AttentionFusion
from mmfusion_tf.fusion import ConcatFusion
from mmfusion_tf.fusion import GatedFusion
from mmfusion_tf.fusion import LateFusion
from mmfusion_tf.fusion import LowRankFusion
from mmfusion_tf.fusion import TensorFusion
from mmfusion_tf.fusion import TransformerFusion
from mmfusion_tf.fusion import WeightedSumFusion

ops = keras.ops

DIMS_2 = (3, 5)
DIMS_3 = (3, 5, 6)
BATCH = 4
# Row 0 misses modality 1, row 2 misses everything, row 3 has only one.
PRESENCE_3 = np.array(
    [[1, 0, 1], [1, 1, 1], [0, 0, 0], [0, 1, 0]], dtype="float32"
)


@dataclasses.dataclass
class Case:
    """A fusion layer with small arguments and what to expect from it."""

    name: str
    cls: type
    kwargs: dict
    fused_dim: Callable[[int], int]
    normalized: bool = True  # Weights sum to 1 over present modalities.
    output_dtype: str = None  # None: the policy's compute dtype.
    kwargs_for_m: dict = dataclasses.field(default_factory=dict)

    def make(self, num_modalities=3, **overrides):
        kwargs = {**self.kwargs, **self.kwargs_for_m.get(num_modalities, {})}
        return self.cls(**{**kwargs, **overrides})


CASES = [
    Case("weighted_sum", WeightedSumFusion, {"projection_dim": 8}, lambda m: 8),
    Case(
        "weighted_sum_fixed",
        WeightedSumFusion,
        {"projection_dim": 8, "mode": "fixed", "weights": [0.5, 0.3, 0.2]},
        lambda m: 8,
        kwargs_for_m={2: {"weights": [0.7, 0.3]}},
    ),
    Case(
        "weighted_sum_learned",
        WeightedSumFusion,
        {"projection_dim": 8, "mode": "learned"},
        lambda m: 8,
        normalized=False,
    ),
    Case("concat", ConcatFusion, {"projection_dim": 8}, lambda m: 8 * m),
    Case(
        "attention",
        AttentionFusion,
        {"projection_dim": 8, "attention_units": 4},
        lambda m: 8,
    ),
    Case("gated", GatedFusion, {"projection_dim": 8}, lambda m: 8),
    Case(
        "tensor",
        TensorFusion,
        {"projection_dim": 3, "output_dim": 8},
        lambda m: 8,
    ),
    Case(
        "low_rank",
        LowRankFusion,
        {"projection_dim": 4, "output_dim": 8, "rank": 2},
        lambda m: 8,
    ),
    Case(
        "transformer",
        TransformerFusion,
        {"projection_dim": 8, "num_heads": 2, "num_layers": 1, "ff_dim": 16},
        lambda m: 8,
    ),
    Case(
        "late",
        LateFusion,
        {"num_outputs": 3, "hidden_units": 4},
        lambda m: 3,
        output_dtype="float32",
    ),
]

def case_params(cases=CASES):
    return [pytest.param(case, id=case.name) for case in cases]


def make_inputs(dims, batch=BATCH, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(batch, d)).astype("float32") for d in dims]


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")))


def run(layer, inputs, presence=None, training=False):
    fused, weights = layer(inputs, presence=presence, training=training)
    return to_numpy(fused), to_numpy(weights)


def projection_kernels(layer):
    return [projection.kernel for projection in layer.projections]


def functional_model(layer, dims):
    """`[x_1, ..., x_M, presence] -> [fused (float32), weights]`."""
    inputs = [
        keras.Input((d,), name=f"modality_{i}") for i, d in enumerate(dims)
    ]
    presence = keras.Input((len(dims),), name="presence")
    fused, weights = layer(inputs, presence=presence)
    fused = keras.layers.Activation("linear", dtype="float32", name="fused")(
        fused
    )
    return keras.Model(inputs + [presence], [fused, weights])


# === Checks ===


def assert_missing_modality_ignored(layer, dims=DIMS_3, presence=PRESENCE_3):
    """Perturbing a missing modality changes neither output of its rows."""
    inputs = make_inputs(dims)
    fused, weights = run(layer, inputs, presence)
    for m in range(len(dims)):
        missing = presence[:, m] == 0
        perturbed = list(inputs)
        noise = np.random.default_rng(m).normal(size=inputs[m].shape) * 100
        perturbed[m] = (inputs[m] + noise + 5.0).astype("float32")
        fused_2, weights_2 = run(layer, perturbed, presence)
        np.testing.assert_allclose(fused_2[missing], fused[missing], atol=1e-6)
        np.testing.assert_allclose(
            weights_2[missing], weights[missing], atol=1e-6
        )
        # The perturbation does matter where the modality is present.
        assert np.abs(fused_2[~missing] - fused[~missing]).max() > 1e-3
    np.testing.assert_array_equal(weights[presence == 0], 0.0)


def assert_weights_normalized(weights, presence, atol=1e-5):
    """Weights sum to 1 over present modalities; rows with none give 0."""
    totals = weights.sum(axis=-1)
    any_present = presence.sum(axis=-1) > 0
    np.testing.assert_allclose(totals[any_present], 1.0, atol=atol)
    np.testing.assert_array_equal(totals[~any_present], 0.0)
    assert np.all(weights >= 0)
