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

import importlib

from mmfusion_tf._lazy import lazy_names

# Config name -> (module, class). Names are read without importing TensorFlow (`mmfusion --help`).
_LAYERS = {
    "weighted_sum": ("weighted_sum", "WeightedSumFusion"),
    "concat": ("concat", "ConcatFusion"),
    "attention": ("attention", "AttentionFusion"),
    "gated": ("gated", "GatedFusion"),
    "tensor": ("tensor", "TensorFusion"),
    "low_rank": ("low_rank", "LowRankFusion"),
    "transformer": ("transformer", "TransformerFusion"),
    "late": ("late", "LateFusion"),
}

__getattr__, __dir__ = lazy_names(__name__, {
    **{cls: module for module, cls in _LAYERS.values()},
    "BaseFusion": "base",
    "ModalityDropout": "modality_dropout",
})


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
        for key, (module, cls) in _LAYERS.items():
            if name in (key, cls):
                return getattr(importlib.import_module(f"{__name__}.{module}"), cls)
    raise ValueError(
        f"Unknown fusion layer. Expected one of {available()} or a class name "
        f"({', '.join(cls for _, cls in _LAYERS.values())}). "
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
