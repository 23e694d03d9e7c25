"""Fusion layers: combine M modality embeddings into one vector.

Every fusion layer is called as `fused, weights = layer(inputs,
presence=None)` with `inputs` a list of M tensors `(batch, d_m)` and
`presence` an optional `(batch, M)` mask (1 = present, 0 = missing);
`weights` `(batch, M)` is the weight each modality got for each example.
`get(name)` maps the config names of `available()` (or the class names) to
the classes.

Each layer class declares what the rest of the package needs (its
`options`, their `search_space`, whether it is `weighted` or
`decision_level`; see `BaseFusion`), and config validation, the model
builder and the tuner ask `spec(method)` and `check_options()` for it. A new
fusion method is one new file here (a `BaseFusion` subclass with its class
attributes) plus its line in `_LAYERS`, and its test.

Example:

>>> from mmfusion_tf import fusion
>>> fusion.get("gated")
<class 'mmfusion_tf.fusion.gated.GatedFusion'>
>>> layer = fusion.get("weighted_sum")(projection_dim=16, mode="softmax")
>>> fusion.spec("low_rank").search_space
{'rank': {'values': [2, 4, 8]}}
>>> fusion.spec("late").decision_level, fusion.spec("late").weighted
(True, True)
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


def spec(method, where="fusion.method", also=()):
    """Returns the layer class of the config name `method`, for its spec.

    The class attributes `options`, `search_space`, `in_default_space`,
    `weighted` and `decision_level` (see `BaseFusion`) are what config
    validation, the model builder and the tuner need to know of a method.

    Args:
        method: String, one of `available()`.
        where: String, where `method` comes from, for the error message.
        also: Names the caller accepts besides the layers (e.g. `"auto"`),
            listed as allowed in the error message.

    Raises:
        ValueError: if `method` is not a config name of a fusion layer.
    """
    if not isinstance(method, str) or method not in _LAYERS:
        raise ValueError(
            f"Unknown fusion method {method!r} in {where}. Allowed values: "
            f"{available() + list(also)}"
        )
    return get(method)


def check_options(method, options, where="fusion.options", exclude=()):
    """Raises `ValueError` if `options` has a key the layer does not take.

    Args:
        method: String, one of `available()`.
        options: Mapping (or iterable) of option names, e.g. a config's
            `fusion.options`.
        where: String, where `options` come from, for the error message.
        exclude: Option names the caller sets itself and does not accept
            in `options`.

    Example:

    >>> check_options("low_rank", {"heads": 4})
    Traceback (most recent call last):
    ...
    ValueError: Unknown key(s) ['heads'] in fusion.options for method ...
    """
    allowed = sorted(set(spec(method).options) - set(exclude))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"Unknown key(s) {unknown} in {where} for method {method!r}. "
            f"Allowed keys: {allowed}"
        )


__all__ = sorted(
    [cls for _, cls in _LAYERS.values()]
    + ["BaseFusion", "ModalityDropout"]
    + ["available", "check_options", "get", "spec"]
)
