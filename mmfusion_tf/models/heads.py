"""Task heads: fused features -> named outputs, plus the matching loss and metrics."""

import tensorflow as tf

from mmfusion_tf._keras import keras

_EPSILON = 1e-7


def build_head(head, fused, late_prediction=False):
    """Named outputs for `head` (a `HeadConfig`) on top of the `fused` tensor.

    Returns `{"logits", "probabilities"}` for classification or
    `{"prediction"}` for regression, all float32 (also under mixed
    precision). With `late_prediction=True`, `fused` already is the
    decision-level fused prediction of `LateFusion(return_logits=True)`:
    the logits of the mixture of the per-modality probabilities
    (classification) or the mixed values (regression); the head only
    applies the activation.
    """
    activation = "softmax" if head.task == "multiclass" else "sigmoid"
    if late_prediction:
        if head.task == "regression":
            return {"prediction": keras.layers.Activation("linear", dtype="float32", name="prediction_cast")(fused)}
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(fused)
        probabilities = keras.layers.Activation(activation, dtype="float32", name="probabilities")(logits)
        return {"logits": logits, "probabilities": probabilities}

    x = fused
    for i, units in enumerate(head.hidden_units):
        x = keras.layers.Dropout(head.dropout, name=f"head_dropout_{i}")(x)
        x = keras.layers.Dense(units, activation="relu", name=f"head_hidden_{i}")(x)
    x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
    if head.task == "regression":
        return {"prediction": keras.layers.Dense(1, dtype="float32", name="prediction")(x)}
    logits = keras.layers.Dense(head.num_outputs, dtype="float32", name="logits")(x)
    probabilities = keras.layers.Activation(activation, dtype="float32", name="probabilities")(logits)
    return {"logits": logits, "probabilities": probabilities}


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
    """Loss on the model's `logits` (classification) or `prediction` (regression)."""
    if head.task == "multiclass":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if head.task in ("binary", "multilabel"):
        return keras.losses.BinaryCrossentropy(from_logits=True)
    return keras.losses.MeanSquaredError()


def default_metrics(head):
    """Compiled metrics on `probabilities` (classification) or `prediction`."""
    if head.task == "multiclass":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if head.task in ("binary", "multilabel"):
        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc", multi_label=head.task == "multilabel")]
    return [keras.metrics.RootMeanSquaredError(name="rmse"), keras.metrics.MeanAbsoluteError(name="mae")]

