"""Tuning metrics and objectives: sparse macro-F1 as a Keras metric, objective names and directions.

Keras' `F1Score(average="macro")` wants one-hot labels; the fusion models
train on sparse integer labels, so `SparseMacroF1` accumulates a confusion
count per class from integer labels and probabilities. It logs as
`f1_macro` / `val_f1_macro` and agrees with `macro_f1` of
`mmfusion_tf.training.metrics.classification_metrics` (classes absent from
both truth and prediction are left out of the mean).

Example:

>>> model.compile("adam", loss, metrics=tuning_metrics(config.head))
>>> objective_for("val_f1_macro")
Objective(name="val_f1_macro", direction="max")
"""

from mmfusion_tf._keras import keras
from mmfusion_tf.training.metrics import lower_is_better
from mmfusion_tf.models.heads import default_metrics

ops = keras.ops

F1_NAME = "f1_macro"


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class SparseMacroF1(keras.metrics.Metric):
    """Macro-averaged F1 from integer labels and predicted probabilities.

    Multiclass: `y_true` `[batch]` (or `[batch, 1]`) class ids, `y_pred`
    `[batch, num_classes]` probabilities (argmax is the prediction). Binary
    (`num_classes=2` with `[batch, 1]` or `[batch]` predictions): class 1
    when the probability exceeds `threshold`. Multilabel
    (`multilabel=True`): `y_true` and `y_pred` `[batch, num_labels]`, each
    label thresholded, F1 of its positive class. Classes (labels) never
    seen in truth or prediction are left out of the average.

    Args:
        num_classes: int >= 2, classes (or labels when multilabel).
        threshold: float in (0, 1), for binary and multilabel predictions.
        multilabel: bool.
        name: string, the logged name (`f1_macro`; `val_f1_macro` on
            validation data).
        dtype: the metric's dtype.

    Example:

    >>> metric = SparseMacroF1(num_classes=3)
    >>> metric.update_state([0, 1, 2, 2], [[.8, .1, .1], [.1, .8, .1], [.1, .1, .8], [.8, .1, .1]])
    >>> round(float(metric.result()), 4)
    0.7778
    """

    def __init__(self, num_classes, threshold=0.5, multilabel=False, name=F1_NAME, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes!r}")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"`threshold` must be in (0, 1). Received: threshold={threshold!r}")
        self.num_classes = num_classes
        self.threshold = float(threshold)
        self.multilabel = bool(multilabel)
        self.true_positives = self.add_variable((num_classes,), initializer="zeros", name="true_positives")
        self.predicted = self.add_variable((num_classes,), initializer="zeros", name="predicted")
        self.actual = self.add_variable((num_classes,), initializer="zeros", name="actual")

    def _indicators(self, y_true, y_pred):
        """`[batch, K]` 0/1 truth and prediction."""
        y_pred = ops.cast(y_pred, "float32")
        if self.multilabel:
            truth = ops.cast(ops.greater(ops.cast(y_true, "float32"), 0.5), "float32")
            return truth, ops.cast(ops.greater(y_pred, self.threshold), "float32")
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if y_pred.shape[-1] == 1 or len(y_pred.shape) == 1:
            predicted = ops.cast(ops.greater(ops.reshape(y_pred, (-1,)), self.threshold), "int32")
        else:
            predicted = ops.argmax(y_pred, axis=-1)
        return ops.one_hot(labels, self.num_classes), ops.one_hot(predicted, self.num_classes)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, predicted = self._indicators(y_true, y_pred)
        if sample_weight is not None:
            weight = ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
            truth, predicted = truth * weight, predicted * weight
            hits = ops.minimum(truth, predicted)
        else:
            hits = truth * predicted
        self.true_positives.assign_add(ops.cast(ops.sum(hits, axis=0), self.dtype))
        self.predicted.assign_add(ops.cast(ops.sum(predicted, axis=0), self.dtype))
        self.actual.assign_add(ops.cast(ops.sum(truth, axis=0), self.dtype))

    def result(self):
        denominator = self.predicted + self.actual
        seen = ops.greater(denominator, 0)
        f1 = ops.where(seen, 2.0 * self.true_positives / ops.where(seen, denominator, 1.0), 0.0)
        count = ops.sum(ops.cast(seen, self.dtype))
        return ops.where(count > 0, ops.sum(f1) / ops.maximum(count, 1.0), 0.0)

    def reset_state(self):
        for variable in (self.true_positives, self.predicted, self.actual):
            variable.assign(ops.zeros_like(variable))

    def get_config(self):
        return {
            **super().get_config(), "num_classes": self.num_classes, "threshold": self.threshold,
            "multilabel": self.multilabel,
        }


def tuning_metrics(head):
    """`default_metrics(head)` plus `SparseMacroF1` for classification heads."""
    metrics = default_metrics(head)
    if head.task == "regression":
        return metrics
    num_classes = head.class_count
    return metrics + [SparseMacroF1(num_classes, multilabel=head.task == "multilabel")]


def default_objective(head):
    """`val_f1_macro` for classification heads, `val_rmse` for regression."""
    return "val_rmse" if head.task == "regression" else f"val_{F1_NAME}"


def objective_for(name, direction=None):
    """A `keras_tuner.Objective`; `name` may end in `:min` / `:max` to set the direction.

    By default `"min"` for losses, errors, latency and size (`lower_is_better`), `"max"` for
    anything else (accuracy, F1, AUC...).

    Example:

    >>> objective_for("val_auc").direction, objective_for("val_custom:min").direction
    ('max', 'min')
    """
    import keras_tuner

    if not isinstance(name, str) or not name:
        raise ValueError(f"`objective` must be a metric name such as 'val_f1_macro'. Received: objective={name!r}")
    if ":" in name:
        name, direction = name.rsplit(":", 1)
    direction = direction or ("min" if lower_is_better(name) else "max")
    if direction not in ("min", "max"):
        raise ValueError(f"The objective direction must be 'min' or 'max'. Received: direction={direction!r}")
    return keras_tuner.Objective(name, direction)
