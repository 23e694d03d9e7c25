"""Decision-level (late) fusion of per-modality predictions."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import ScalarWeightsMixin
from mmfusion_tf.fusion.base import check_choice
from mmfusion_tf.fusion.base import check_non_negative_int
from mmfusion_tf.fusion.base import check_positive_int

ops = keras.ops

_ACTIVATIONS = ("softmax", "sigmoid", "linear")
# Log-weight of a missing modality: finite, so no inf - inf and no NaN gradients.
_LOG_ZERO = -1e9


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class LateFusion(ScalarWeightsMixin, BaseFusion):
    """Weighted average of per-modality predictions (decision-level fusion).

    Each modality gets its own head: an optional `Dense(hidden_units, relu)`
    and a `Dense(num_outputs)` (the head's output layer, `projections[i]`,
    runs in float32). Each head predicts `p_m = activation(logits_m)` and the
    output is `sum_m w_m p_m` with one global weight per modality,
    renormalised over the present modalities of each example, so with
    `activation="softmax"` the output is again a probability distribution.

    - `mode="softmax"`: learnable logits initialised from `log(weights)`
      (default zeros, i.e. uniform), softmax over present modalities.
    - `mode="fixed"`: the given `weights` (>= 0), renormalised over present
      modalities.

    With `return_logits=True` (and a softmax or sigmoid `activation`) the
    output is instead the logits of that mixture, computed in log space
    (`logsumexp_m(log w_m + log_softmax(logits_m))`; for sigmoid the log-odds
    `logsumexp_m(log w_m + log_sigmoid(l_m)) - logsumexp_m(log w_m +
    log_sigmoid(-l_m))`), so `activation(fused)` is the mixture and a loss
    `from_logits=True` keeps its gradient on confidently wrong examples.

    The output is the model's prediction, so both outputs are float32 even
    under a mixed precision policy. Train it with a loss on probabilities
    (e.g. `from_logits=False`) unless `activation="linear"` or
    `return_logits=True`. The global
    weights are `global_weights()`; the per-example weights are the second
    output. The constructor argument `weights` is stored as the attribute
    `modality_weights` (`Layer.weights` is Keras' list of variables) and
    returned by `get_config()` under `"weights"`.

    Args:
        num_outputs: Int, number of outputs of every head and of the fused
            prediction (e.g. number of classes).
        activation: String, applied to each head's logits before averaging;
            one of `"softmax"`, `"sigmoid"`, `"linear"`.
        weights: Optional list of M floats, one per modality (required for
            `mode="fixed"`, must be > 0 for `mode="softmax"`).
        mode: String, `"softmax"` (learned) or `"fixed"`.
        hidden_units: Int, units of each head's hidden relu layer; 0 means
            no hidden layer.
        dropout: Float in [0, 1), dropout rate on the input of each head's
            output layer.
        return_logits: Bool, return the logits of the mixture instead of
            the mixture (no effect with `activation="linear"`).
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, num_outputs)`, float32
        (its logits with `return_logits=True`);
        `weights` of shape `(batch, M)`, float32, the global weights
        renormalised over each example's present modalities.

    Example:

    >>> import numpy as np
    >>> layer = LateFusion(num_outputs=3, weights=[0.75, 0.25], mode="fixed")
    >>> probs, weights = layer(
    ...     [np.ones((2, 4)), np.ones((2, 6))],
    ...     presence=np.array([[1, 1], [0, 1]]))
    >>> np.asarray(probs).sum(axis=-1).round(3).tolist()
    [1.0, 1.0]
    >>> np.asarray(weights).tolist()
    [[0.75, 0.25], [0.0, 1.0]]
    """

    options = {"weights": None, "mode": "softmax", "hidden_units": 0,
               "dropout": 0.0}
    in_default_space = True
    weighted = True
    decision_level = True

    def __init__(
        self,
        num_outputs,
        activation="softmax",
        weights=None,
        mode="softmax",
        hidden_units=0,
        dropout=0.0,
        return_logits=False,
        **kwargs,
    ):
        num_outputs = check_positive_int("num_outputs", num_outputs)
        # The per-modality "projection" of late fusion is the head, whose
        # output size is num_outputs.
        super().__init__(projection_dim=num_outputs, dropout=dropout, **kwargs)
        self.num_outputs = num_outputs
        self.activation = check_choice("activation", activation, _ACTIVATIONS)
        self.hidden_units = check_non_negative_int("hidden_units", hidden_units)
        self.return_logits = bool(return_logits)
        self._init_modality_weights(
            weights, mode, allowed_modes=("softmax", "fixed")
        )

    def _build_projections(self, shapes):
        self.hidden_layers = []
        heads = []
        for i, shape in enumerate(shapes):
            head_input_dim = shape[-1]
            if self.hidden_units:
                hidden = keras.layers.Dense(
                    self.hidden_units,
                    activation="relu",
                    name=f"hidden_{i}",
                    dtype=self.dtype_policy,
                )
                hidden.build(shape)
                self.hidden_layers.append(hidden)
                head_input_dim = self.hidden_units
            head = keras.layers.Dense(
                self.num_outputs, name=f"head_{i}", dtype="float32"
            )
            head.build((None, head_input_dim))
            heads.append(head)
        return heads

    def _build_fusion(self, shapes):
        self._build_modality_weights(len(shapes), autocast=False)

    def _project(self, i, x, training=None):
        if self.hidden_units:
            x = self.hidden_layers[i](x)
        x = self.feature_dropout(x, training=training)
        return self.projections[i](x)  # float32 logits

    def _fuse(self, features, mask, inputs, training=None):
        weights = self._per_example_weights(mask, "float32")
        if self.return_logits and self.activation != "linear":
            return self._mixture_logits(features, weights), weights
        if self.activation == "softmax":
            predictions = [ops.softmax(logits, axis=-1) for logits in features]
        elif self.activation == "sigmoid":
            predictions = [ops.sigmoid(logits) for logits in features]
        else:
            predictions = features
        fused = ops.sum(
            ops.stack(predictions, axis=1) * weights[:, :, None], axis=1
        )
        return fused, weights

    def _mixture_logits(self, features, weights):
        """Logits of `sum_m w_m activation(logits_m)`, computed in log space."""
        logits = ops.stack(features, axis=1)  # [B, M, K]
        present = ops.greater(weights, 0)
        log_weights = ops.log(ops.where(present, weights, ops.ones_like(weights)))
        present, log_weights = present[:, :, None], log_weights[:, :, None]

        def log_mixture(log_probabilities):
            terms = ops.where(present, log_weights + log_probabilities, _LOG_ZERO)
            return ops.logsumexp(terms, axis=1)

        if self.activation == "softmax":
            return log_mixture(ops.log_softmax(logits, axis=-1))
        return log_mixture(ops.log_sigmoid(logits)) - log_mixture(
            ops.log_sigmoid(-logits)
        )

    def _fused_dim(self, num_modalities):
        return self.num_outputs

    def compute_output_spec(self, inputs, *args, **kwargs):
        if not isinstance(inputs, (list, tuple)):
            inputs = [inputs]
        fused_shape, weights_shape = self.compute_output_shape(
            [tuple(x.shape) for x in inputs]
        )
        return (
            keras.KerasTensor(fused_shape, dtype="float32"),
            keras.KerasTensor(weights_shape, dtype="float32"),
        )

    def get_config(self):
        config = super().get_config()
        del config["projection_dim"]  # Always num_outputs, not an argument.
        config.update(
            {
                "num_outputs": self.num_outputs,
                "activation": self.activation,
                "weights": self.modality_weights,
                "mode": self.mode,
                "hidden_units": self.hidden_units,
                "return_logits": self.return_logits,
            }
        )
        return config
