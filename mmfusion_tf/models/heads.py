"""Task heads: fused features -> named outputs, plus the matching loss and metrics."""

import tensorflow as tf

from mmfusion_tf._keras import keras

_EPSILON = 1e-7


def build_head(head, fused, late_prediction=False, features=None, modality_names=None, presence=None):
    """Named outputs for `head` (a `HeadConfig`) on top of the `fused` tensor.

    Returns `{"logits", "probabilities"}` for classification or
    `{"prediction"}` for regression, all float32 (also under mixed
    precision). With `late_prediction=True`, `fused` already is the
    decision-level fused prediction of `LateFusion(return_logits=True)`:
    the logits of the mixture of the per-modality probabilities
    (classification) or the mixed values (regression); the head only
    applies the activation.

    With `head.modality_heads` and two or more modalities (`features`, the
    encoder outputs in `modality_names` order), `ModalityHeads` adds
    `modality_logits` `[B, M, K]` (regression: `modality_predictions`) and
    the fused head's own output is `fused_logits` (`fused_prediction`);
    `logits` (`prediction`) is then their `DecisionBlend` under `presence`.
    Classification `logits` always pass a `DecisionBlend` (its temperature).
    """
    from mmfusion_tf.models.decision_blend import DecisionBlend
    from mmfusion_tf.models.modality_heads import ModalityHeads

    regression = head.task == "regression"
    scale = head.target_scale
    if late_prediction:
        x = fused
    else:
        x = fused
        for i, units in enumerate(head.hidden_units):
            x = keras.layers.Dropout(head.dropout, name=f"head_dropout_{i}")(x)
            x = keras.layers.Dense(units, activation="relu", name=f"head_hidden_{i}")(x)
        x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
        x = keras.layers.Dense(head.num_outputs, dtype="float32", name="prediction" if regression else "logits")(x)
    x = keras.layers.Activation("linear", dtype="float32", name="fused_output")(x)
    if regression and scale is not None:
        x = keras.layers.Rescaling(scale=scale[1], offset=scale[0], dtype="float32", name="target_rescale")(x)

    modality = None
    if head.modality_heads and features is not None and len(features) > 1:
        modality = ModalityHeads(
            modality_names, head.num_outputs, hidden_units=head.hidden_units[0] if head.hidden_units else 0,
            dropout=head.dropout, target_scale=scale, name="modality_heads",
        )(features)
    if regression:
        if modality is None:
            return {"prediction": x}
        blend = DecisionBlend(len(features), mode="values", name="decision_blend")
        return {"prediction": blend(x, modality, presence), "fused_prediction": x, "modality_predictions": modality}
    blend = DecisionBlend(0 if modality is None else len(features), name="decision_blend")
    logits = blend(x) if modality is None else blend(x, modality, presence)
    activation = "softmax" if head.task == "multiclass" else "sigmoid"
    probabilities = keras.layers.Activation(activation, dtype="float32", name="probabilities")(logits)
    outputs = {"logits": logits, "probabilities": probabilities}
    if modality is not None:
        outputs.update(fused_logits=x, modality_logits=modality)
    return outputs


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ProbabilitiesToLogits(keras.layers.Layer):
    """Inverse of softmax (log-probabilities) or sigmoid (log-odds), float32.

    No longer built (late fusion now returns logits computed in log space);
    kept registered so `.keras` files of earlier late-fusion models load.
    """

    def __init__(self, activation="softmax", **kwargs):
        super().__init__(dtype="float32", **kwargs)
        if activation not in ("softmax", "sigmoid"):
            raise ValueError(f"`activation` must be 'softmax' or 'sigmoid'. Received: activation={activation!r}")
        self.activation = activation

    def call(self, probabilities):
        p = tf.clip_by_value(tf.cast(probabilities, tf.float32), _EPSILON, 1.0 - _EPSILON)
        if self.activation == "softmax":
            return tf.math.log(p)
        return tf.math.log(p) - tf.math.log1p(-p)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "activation": self.activation}


def default_loss(head):
    """Loss on the model's `logits` (classification) or `prediction` (regression; in standard
    units when the head has `target_stats`)."""
    from mmfusion_tf.models.losses import task_loss

    return task_loss(head)


def default_metrics(head):
    """Compiled metrics on `probabilities` (classification) or `prediction`."""
    if head.task == "multiclass":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if head.task in ("binary", "multilabel"):
        return [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc", multi_label=head.task == "multilabel"),
        ]
    return [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]

