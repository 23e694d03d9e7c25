"""Fusion layers: combine M modality embeddings into one vector.

Every fusion layer is called as `fused, weights = layer(inputs,
presence=None)` with `inputs` a list of M tensors `(batch, d_m)` and
`presence` an optional `(batch, M)` mask (1 = present, 0 = missing);
`weights` `(batch, M)` is the weight each modality got for each example.
`get(name)` maps the config names of `available()` (or the class names) to
the classes.

Example:

>>> from mmfusion_tf import fusion
>>> fusion.get("gated")
<class 'mmfusion_tf.fusion.gated.GatedFusion'>
>>> layer = fusion.get("weighted_sum")(projection_dim=16, mode="softmax")
"""

from mmfusion_tf.fusion.attention import AttentionFusion
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.concat import ConcatFusion
from mmfusion_tf.fusion.gated import GatedFusion
from mmfusion_tf.fusion.late import LateFusion
from mmfusion_tf.fusion.low_rank import LowRankFusion
from mmfusion_tf.fusion.modality_dropout import ModalityDropout
from mmfusion_tf.fusion.tensor import TensorFusion
from mmfusion_tf.fusion.transformer import TransformerFusion
from mmfusion_tf.fusion.weighted_sum import WeightedSumFusion

_LAYERS = {
    "weighted_sum": WeightedSumFusion,
    "concat": ConcatFusion,
    "attention": AttentionFusion,
    "gated": GatedFusion,
    "tensor": TensorFusion,
    "low_rank": LowRankFusion,
    "transformer": TransformerFusion,
    "late": LateFusion,
}


def available():
    """Returns the config names of the fusion layers, e.g. `"gated"`."""
    return list(_LAYERS)


def get(name):
    """Returns the fusion layer class for a config name or class name.

    Args:
        name: String, one of `available()` (e.g. `"gated"`) or a class name
            (e.g. `"GatedFusion"`).

    Raises:
        ValueError: if `name` is not a known fusion layer.
    """
    if isinstance(name, str):
        if name in _LAYERS:
            return _LAYERS[name]
        for cls in _LAYERS.values():
            if name == cls.__name__:
                return cls
    raise ValueError(
        f"Unknown fusion layer. Expected one of {available()} or a class name "
        f"({', '.join(cls.__name__ for cls in _LAYERS.values())}). "
        f"Received: name={name!r}"
    )


__all__ = [
    "AttentionFusion",
    "BaseFusion",
    "ConcatFusion",
    "GatedFusion",
    "LateFusion",
    "LowRankFusion",
    "ModalityDropout",
    "TensorFusion",
    "TransformerFusion",
    "WeightedSumFusion",
    "available",
    "get",
]
