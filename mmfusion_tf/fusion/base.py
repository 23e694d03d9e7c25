"""Shared contract of the fusion layers: projections, presence masks, weights.

Every fusion layer takes a list of M modality embeddings `[B, d_m]` and an
optional presence mask `[B, M]` and returns `(fused, weights)`. This module
holds what the layers share: `BaseFusion`, the masked softmax and weight
renormalisation over present modalities, and `ScalarWeightsMixin` for the two
layers with one global weight per modality (`WeightedSumFusion`,
`LateFusion`).
"""

import math
import numbers

import numpy as np

from mmfusion_tf._keras import keras
from mmfusion_tf._validation import check_int

ops = keras.ops


# === Validation ===


def check_positive_int(name, value):
    """Raises `ValueError` unless `value` is a positive integer."""
    return check_int(name, value, minimum=1)


def check_non_negative_int(name, value):
    """Raises `ValueError` unless `value` is an integer >= 0."""
    return check_int(name, value, minimum=0)


def check_rate(name, value):
    """Raises `ValueError` unless `value` is a float in `[0, 1)`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def check_choice(name, value, allowed):
    """Raises `ValueError` unless `value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(
            f"`{name}` must be one of {list(allowed)}. Received: "
            f"{name}={value!r}"
        )
    return value


# === Masked weights ===


def masked_softmax(logits, mask, axis=-1):
    """Softmax of `logits` over `axis` restricted to entries where `mask`.

    `mask` (bool) broadcasts against `logits`. Masked entries get exactly 0
    and no gradient; a slice with no unmasked entry gives all zeros (no NaN).
    """
    mask = ops.logical_and(
        ops.cast(mask, "bool"), ops.ones_like(logits, dtype="bool")
    )
    # The shift is the max over unmasked entries (the min over all entries
    # stands in for masked ones), so it never depends on masked logits when
    # at least one entry is unmasked and exp() never overflows.
    floor = ops.min(logits, axis=axis, keepdims=True)
    shift = ops.max(ops.where(mask, logits, floor), axis=axis, keepdims=True)
    shift = ops.stop_gradient(shift)
    exp = ops.exp(ops.where(mask, logits, shift) - shift)
    exp = ops.where(mask, exp, ops.zeros_like(exp))
    return safe_normalize(exp, axis=axis)


def renormalize_over_present(weights, mask):
    """Zeroes `weights` where `mask` is False and rescales rows to sum to 1.

    Rows whose present weights sum to 0 (e.g. no modality present) stay 0.
    """
    weights = ops.where(mask, weights, ops.zeros_like(weights))
    return safe_normalize(weights, axis=-1)


def safe_normalize(values, axis=-1):
    """Divides `values` by their sum over `axis`; all-zero slices stay 0."""
    total = ops.sum(values, axis=axis, keepdims=True)
    positive = ops.greater(total, 0)
    total = ops.where(positive, total, ops.ones_like(total))
    return ops.where(positive, values / total, ops.zeros_like(values))


def _standardize_input_shapes(input_shape):
    """Returns the list of per-modality shapes `[(B, d_m), ...]`."""
    if isinstance(input_shape, (list, tuple)) and (
        len(input_shape) == 0
        or isinstance(input_shape[0], (numbers.Integral, type(None)))
    ):
        # A single tensor (one modality) was passed instead of a list.
        input_shape = [input_shape]
    shapes = [tuple(shape) for shape in input_shape]
    if not shapes:
        raise ValueError(
            "A fusion layer needs at least one modality. Received: "
            f"input_shape={input_shape}"
        )
    for i, shape in enumerate(shapes):
        if len(shape) != 2 or shape[-1] is None:
            raise ValueError(
                "Each modality input must have shape `(batch, dim)` with a "
                f"known `dim`. Received: input_shape[{i}]={shape}"
            )
    return shapes


# === Base layer ===


class BaseFusion(keras.layers.Layer):
    """Base class of the fusion layers (not used on its own).

    A subclass receives M modality embeddings `[B, d_m]` (M >= 1, the `d_m`
    may differ) and an optional presence mask `[B, M]`. `build()` creates one
    trainable projection per modality, `projections[i]`, by default
    `keras.layers.Dense(projection_dim, name=f"projection_{i}")`. `call()`
    projects each modality, applies dropout, zeroes the features of missing
    modalities and hands them to the subclass's `_fuse()`, then zeroes the
    output of examples with no modality present.

    A missing modality (presence 0) contributes nothing: its input values
    change neither `fused` nor `weights` of that example, and its weight is
    0. Entries of `presence` greater than 0 count as present.

    Subclasses implement `_fuse(features, mask, inputs, training)` returning
    `(fused, weights)`, and `_fused_dim(num_modalities)`; they may override
    `_build_projections()`/`_project()` and `_build_fusion()`.

    Each subclass also declares, as class attributes, what the rest of the
    package needs to know about it (config validation, the model builder
    and the tuner's default space read them through `fusion.spec(method)`):

    - `options`: dict, the constructor arguments that a config's
      `fusion.options` may set, with their defaults. The builder passes the
      others: `projection_dim` (from `fusion.projection_dim`), or, for a
      decision-level layer, `num_outputs`, `activation` and `return_logits`
      (from the head's task).
    - `search_space`: dict `{option: parameter}`, the ranges the tuner's
      default space searches, in the format of a space YAML's
      `fusion_options` (e.g. `{"rank": {"values": [2, 4, 8]}}`).
    - `in_default_space`: bool, whether the tuner's default space tries the
      method (`tuning/default_space.yaml` lists the same methods).
    - `weighted`: bool, one global weight per modality, set by the options
      `weights` and `mode` (the α/β/γ that the tuner's `fusion_weights`
      searches).
    - `decision_level`: bool, `fused` is already the prediction (float32;
      the logits of it when `return_logits=True`), so the head only applies
      its activation.

    Args:
        projection_dim: Int, size every modality is projected to.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: List of M tensors of shape `(batch, d_m)`.
        presence: Optional float tensor of shape `(batch, M)`: 1 where the
            modality is present, 0 where it is missing. `None` means all
            present.
        training: Python bool, whether the call is in training mode.

    Returns:
        A tuple `(fused, weights)`: `fused` of shape `(batch, output_dim)` and
        `weights` of shape `(batch, M)`, the weight each modality got for
        each example (0 for missing modalities).

    Example:

    >>> import numpy as np
    >>> from mmfusion_tf.fusion import ConcatFusion
    >>> fused, weights = ConcatFusion(projection_dim=4)(
    ...     [np.ones((2, 3)), np.ones((2, 5))])
    >>> tuple(fused.shape), tuple(weights.shape)
    ((2, 8), (2, 2))
    >>> ConcatFusion.options, ConcatFusion.decision_level
    ({'dropout': 0.0}, False)
    """

    options = {"dropout": 0.0}
    search_space = {}
    in_default_space = False
    weighted = False
    decision_level = False

    def __init__(self, projection_dim=64, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.projection_dim = check_positive_int(
            "projection_dim", projection_dim
        )
        self.dropout = check_rate("dropout", dropout)
        self.feature_dropout = keras.layers.Dropout(
            self.dropout, name="feature_dropout"
        )
        self.num_modalities = None

    # --- build ---

    def build(self, input_shape):
        shapes = _standardize_input_shapes(input_shape)
        self.num_modalities = len(shapes)
        self.projections = self._build_projections(shapes)
        self._build_fusion(shapes)

    def _build_projections(self, shapes):
        projections = []
        for i, shape in enumerate(shapes):
            dense = keras.layers.Dense(
                self.projection_dim,
                name=f"projection_{i}",
                dtype=self.dtype_policy,
            )
            dense.build(shape)
            projections.append(dense)
        return projections

    def _build_fusion(self, shapes):
        pass

    # --- call ---

    def call(self, inputs, presence=None, training=None):
        inputs = self._check_inputs(inputs)
        mask = self._presence_mask(presence, inputs)
        features = []
        for i, x in enumerate(inputs):
            h = self._project(i, x, training=training)
            present = mask[:, i : i + 1]
            features.append(ops.where(present, h, ops.zeros_like(h)))
        fused, weights = self._fuse(features, mask, inputs, training=training)
        any_present = ops.any(mask, axis=-1, keepdims=True)
        fused = ops.where(any_present, fused, ops.zeros_like(fused))
        weights = ops.where(mask, weights, ops.zeros_like(weights))
        return fused, weights

    def _project(self, i, x, training=None):
        return self.feature_dropout(self.projections[i](x), training=training)

    def _fuse(self, features, mask, inputs, training=None):
        raise NotImplementedError(
            f"{self.__class__.__name__} must implement `_fuse()`."
        )

    def _fused_dim(self, num_modalities):
        """Width of `fused`; layers whose output is not `projection_dim` wide override it."""
        return self.projection_dim

    def _check_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        inputs = list(inputs)
        if len(inputs) != self.num_modalities:
            raise ValueError(
                f"{self.__class__.__name__} was built for "
                f"{self.num_modalities} modalities. Received: "
                f"len(inputs)={len(inputs)}"
            )
        return inputs

    def _presence_mask(self, presence, inputs):
        """Returns the bool mask `[B, M]`, True where a modality is present."""
        batch_size = ops.shape(inputs[0])[0]
        if presence is None:
            return ops.ones((batch_size, self.num_modalities), dtype="bool")
        # Only lists need converting: Keras has already cast float tensors to the compute dtype.
        presence = ops.convert_to_tensor(presence)
        shape = tuple(presence.shape)
        if len(shape) != 2 or shape[-1] not in (None, self.num_modalities):
            raise ValueError(
                "`presence` must have shape (batch, num_modalities) = "
                f"(batch, {self.num_modalities}). Received: "
                f"presence.shape={shape}"
            )
        return ops.greater(presence, 0)

    def _uniform_weights(self, mask):
        """Weights `1 / num_present` for present modalities, 0 otherwise."""
        return renormalize_over_present(
            ops.ones_like(mask, dtype=self.compute_dtype), mask
        )

    # --- shapes and config ---

    def compute_output_shape(self, input_shape):
        shapes = _standardize_input_shapes(input_shape)
        batch_size = shapes[0][0]
        num_modalities = len(shapes)
        return (
            (batch_size, self._fused_dim(num_modalities)),
            (batch_size, num_modalities),
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {"projection_dim": self.projection_dim, "dropout": self.dropout}
        )
        return config


# === Global per-modality weights ===


class ScalarWeightsMixin:
    """One global weight per modality, for `WeightedSumFusion`/`LateFusion`.

    The constructor argument `weights` is stored as `modality_weights`,
    because `keras.layers.Layer.weights` is Keras' list of variables; it
    comes back from `get_config()` under the key `"weights"`.

    Modes:
        - `"fixed"`: the given non-negative `weights`, renormalised over the
          present modalities of each example.
        - `"learned"`: learnable raw scalars initialised from `weights` (or
          1/M), multiplied by presence, not normalised.
        - `"softmax"`: learnable logits initialised from `log(weights)` (or
          zeros), softmax over the present modalities of each example.
    """

    def _init_modality_weights(self, weights, mode, allowed_modes):
        self.mode = check_choice("mode", mode, allowed_modes)
        if weights is not None:
            if isinstance(weights, (str, bytes)) or not hasattr(
                weights, "__len__"
            ):
                raise ValueError(
                    "`weights` must be a list of floats, one per modality. "
                    f"Received: weights={weights!r}"
                )
            values = [float(w) for w in np.asarray(weights).ravel()]
            if not values or not all(math.isfinite(w) for w in values):
                raise ValueError(
                    "`weights` must be a non-empty list of finite floats. "
                    f"Received: weights={weights!r}"
                )
            if mode == "fixed" and (min(values) < 0 or sum(values) <= 0):
                raise ValueError(
                    "With mode='fixed', `weights` must be >= 0 and not all "
                    f"0. Received: weights={weights!r}"
                )
            if mode == "softmax" and min(values) <= 0:
                raise ValueError(
                    "With mode='softmax', `weights` initialise the logits as "
                    "log(weights) and must be > 0. Received: "
                    f"weights={weights!r}"
                )
            weights = values
        elif mode == "fixed":
            raise ValueError(
                "With mode='fixed', `weights` must be given (one float per "
                "modality). Received: weights=None"
            )
        self.modality_weights = weights
        self.weight_variable = None

    def _build_modality_weights(self, num_modalities, autocast=True):
        if self.modality_weights is not None and (
            len(self.modality_weights) != num_modalities
        ):
            raise ValueError(
                f"`weights` must have one entry per modality "
                f"({num_modalities} modalities). Received: "
                f"weights={self.modality_weights} "
                f"(length {len(self.modality_weights)})"
            )
        if self.mode == "fixed":
            return
        if self.modality_weights is None:
            initial = np.full(
                (num_modalities,),
                1.0 / num_modalities if self.mode == "learned" else 0.0,
            )
        elif self.mode == "softmax":
            initial = np.log(np.asarray(self.modality_weights))
        else:
            initial = np.asarray(self.modality_weights)
        self.weight_variable = self.add_weight(
            shape=(num_modalities,),
            initializer=keras.initializers.Constant(initial.tolist()),
            autocast=autocast,
            name=(
                "modality_logits"
                if self.mode == "softmax"
                else "modality_weights"
            ),
        )

    def _per_example_weights(self, mask, dtype):
        """Returns the weights `[B, M]` for the presence `mask`."""
        if self.mode == "fixed":
            raw = ops.convert_to_tensor(self.modality_weights, dtype=dtype)
        else:
            raw = ops.cast(self.weight_variable, dtype)
        raw = ops.broadcast_to(raw, ops.shape(mask))
        if self.mode == "softmax":
            return masked_softmax(raw, mask)
        if self.mode == "fixed":
            return renormalize_over_present(raw, mask)
        return ops.where(mask, raw, ops.zeros_like(raw))

    def global_weights(self):
        """Returns the global weight of each modality as a numpy array `[M]`.

        These are the weights when every modality is present: the
        normalised fixed weights, the learned raw scalars or the softmax of
        the learned logits. Per-example weights, renormalised over the
        modalities present in each example, are the layer's second output.
        """
        if not self.built:
            raise ValueError(
                f"{self.__class__.__name__} is not built yet: call it on "
                "inputs before asking for `global_weights()`."
            )
        if self.mode == "fixed":
            values = np.asarray(self.modality_weights, dtype="float64")
            return (values / values.sum()).astype("float32")
        values = np.asarray(
            keras.ops.convert_to_numpy(self.weight_variable.value), "float64"
        )
        if self.mode == "softmax":
            values = np.exp(values - values.max())
            values = values / values.sum()
        return values.astype("float32")
