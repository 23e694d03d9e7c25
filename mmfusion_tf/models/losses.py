"""Task losses with label smoothing, computed on the model's `logits`/`prediction`."""

import tensorflow as tf

from mmfusion_tf._keras import keras


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy on logits with label smoothing.

    Keras' sparse loss has no `label_smoothing`; this one takes integer
    labels and smooths the one-hot target to `(1 - ε)·onehot + ε / K`.

    Args:
        label_smoothing: float in [0, 1).

    Example:

    >>> loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.1)
    >>> float(loss([0], [[2.0, 0.0]]))  # doctest: +ELLIPSIS
    0.2...
    """

    def __init__(self, label_smoothing=0.0, name="smoothed_sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"`label_smoothing` must be in [0, 1). Received: label_smoothing={label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        logits = tf.cast(y_pred, tf.float32)
        labels = tf.cast(tf.reshape(y_true, [-1]), tf.int32)
        onehot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=tf.float32)
        num_classes = tf.cast(tf.shape(logits)[-1], tf.float32)
        target = onehot * (1.0 - self.label_smoothing) + self.label_smoothing / num_classes
        return tf.nn.softmax_cross_entropy_with_logits(target, logits)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class StandardizedMeanSquaredError(keras.losses.Loss):
    """Mean squared error in standard units: `mean((y - ŷ)²) / std²`.

    For a regression head that predicts in label units (`target_stats`):
    the loss, and so its gradients, are those of standardised targets,
    whatever the scale of the labels.

    Example:

    >>> float(StandardizedMeanSquaredError(std=10.0)([100.0], [110.0]))
    1.0
    """

    def __init__(self, std=1.0, name="standardized_mean_squared_error", **kwargs):
        super().__init__(name=name, **kwargs)
        if not float(std) > 0:
            raise ValueError(f"`std` must be positive. Received: std={std}")
        self.std = float(std)

    def call(self, y_true, y_pred):
        y_pred = tf.cast(y_pred, tf.float32)
        y_true = tf.reshape(tf.cast(y_true, tf.float32), tf.shape(y_pred))
        return tf.reduce_mean(tf.square((y_true - y_pred) / self.std), axis=-1)

    def get_config(self):
        return {**super().get_config(), "std": self.std}


def task_loss(head, label_smoothing=0.0):
    """The loss for `head` (a `HeadConfig`), on logits, with label smoothing.

    Example:

    >>> model.compile("adam", loss=task_loss(config.head, label_smoothing=0.1))
    """
    if head.task == "multiclass":
        if label_smoothing:
            return SmoothedSparseCategoricalCrossentropy(label_smoothing)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if head.task in ("binary", "multilabel"):
        return keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    if label_smoothing:
        raise ValueError(f"`label_smoothing` applies to classification heads, not task={head.task!r}.")
    if head.target_scale is not None:
        return StandardizedMeanSquaredError(head.target_scale[1])
    return keras.losses.MeanSquaredError()
