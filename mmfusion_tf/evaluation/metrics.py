"""`evaluate`: the metrics of a fusion model's head on labelled data.

Classification heads get accuracy, macro precision/recall/F1 (from
`mmfusion_tf.training.metrics`), ROC AUC (plain for binary, one-vs-rest
macro for multiclass, macro over labels for multilabel), the expected
calibration error (15 bins; multilabel: mean over labels) and the confusion
matrix; regression heads get MAE, RMSE and R². Multilabel predictions are
thresholded at 0.5 per label, and their confusion matrix is one 2x2 matrix
per label.

Example:

>>> evaluate(model, make_demo_data(num_examples=64), config)["probabilities"]["accuracy"]
0.125
"""

import numpy as np

from mmfusion_tf.config import TASKS
from mmfusion_tf.models.predictions import as_arrays, predict
from mmfusion_tf.training.metrics import (
    classification_metrics,
    confusion_matrix,
    lower_is_better,
    macro_scores,
    regression_metrics,
)

CLASSIFICATION_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "auc", "calibration_error")
REGRESSION_METRICS = ("mae", "rmse", "r2")
def head_output(task):
    """The model output a head's metrics are computed on."""
    return "prediction" if task == "regression" else "probabilities"


def metric_names(task):
    """The scalar metrics `evaluate` reports for a head `task`."""
    return REGRESSION_METRICS if task == "regression" else CLASSIFICATION_METRICS


def check_metric(metric, task):
    """`metric`, or the default of `task` (accuracy / rmse) when None; errors list the allowed names."""
    if metric is None:
        return "rmse" if task == "regression" else "accuracy"
    if metric not in metric_names(task):
        raise ValueError(
            f"`metric` must be one of {list(metric_names(task))} for task={task!r}. Received: metric={metric!r}"
        )
    return metric


def metric_drop(clean, value, metric):
    """How much worse `value` is than `clean` (positive = worse), None if either is None."""
    if clean is None or value is None:
        return None
    return float(value - clean) if lower_is_better(metric) else float(clean - value)


def roc_auc(y_true, scores):
    """Area under the ROC curve of 0/1 labels and scores; None if a class is absent.

    Ties between a positive and a negative count one half (Mann-Whitney U).

    Example:

    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    positive = np.asarray(y_true).reshape(-1) > 0.5
    scores = np.asarray(scores, dtype="float64").reshape(-1)
    num_pos = int(positive.sum())
    num_neg = len(positive) - num_pos
    if num_pos == 0 or num_neg == 0:
        return None
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - num_pos * (num_pos + 1) / 2) / (num_pos * num_neg))


def calibration_error(correct, confidence, bins=15):
    """Expected calibration error: the gap between confidence and accuracy, averaged over `bins`
    equal-width confidence bins weighted by their share of examples (Guo et al., 2017).

    Example:

    >>> calibration_error([1, 0, 1, 1], [0.9, 0.9, 0.6, 0.6])
    0.4
    """
    correct = np.asarray(correct, dtype="float64").reshape(-1)
    confidence = np.asarray(confidence, dtype="float64").reshape(-1)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        members = which == b
        total += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def _binary_calibration_error(truth, probability):
    """ECE of 0/1 labels against the probability of the class predicted (p or 1 - p)."""
    predicted = probability >= 0.5
    return calibration_error(predicted == truth, np.where(predicted, probability, 1.0 - probability))


def macro_auc(y_true, scores):
    """Mean `roc_auc` over the columns of `[n, k]` 0/1 labels and scores (undefined columns left out)."""
    values = [roc_auc(y_true[:, k], scores[:, k]) for k in range(scores.shape[1])]
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def compute_metrics(task, y_true, y_pred):
    """Metrics of one head from labels and its output (probabilities or predictions).

    Args:
        task: str, one of "binary", "multiclass", "multilabel", "regression".
        y_true: labels: class ids `[n]` (or one-hot `[n, C]`) for multiclass,
            0/1 `[n]` for binary, 0/1 `[n, C]` for multilabel, values for
            regression.
        y_pred: the head output: probabilities `[n, C]` (`[n, 1]` binary)
            or predictions `[n, 1]`.

    Returns:
        dict of plain floats (AUC None when undefined) and, for
        classification, `confusion_matrix` as nested lists.

    Example:

    >>> compute_metrics("binary", [0, 1], [[0.2], [0.9]])["auc"]
    1.0
    """
    y_pred = np.asarray(y_pred, dtype="float64")
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    if task == "multilabel":
        return _multilabel_metrics(np.asarray(y_true).reshape(y_pred.shape), y_pred)
    if task not in ("binary", "multiclass"):
        raise ValueError(f"`task` must be one of {list(TASKS)}. Received: task={task!r}")
    y_true = np.asarray(y_true)
    if task == "multiclass" and y_true.ndim == 2 and y_true.shape[1] == y_pred.shape[1]:
        y_true = y_true.argmax(-1)  # one-hot labels
    y_true = y_true.reshape(-1).astype(int)
    result = classification_metrics(y_true, y_pred)
    matrix = result.pop("confusion_matrix")
    if task == "binary":
        auc = roc_auc(y_true, y_pred)
        ece = _binary_calibration_error(y_true > 0, y_pred.reshape(-1))
    else:
        auc = macro_auc(np.eye(y_pred.shape[1])[y_true], y_pred)
        ece = calibration_error(y_pred.argmax(-1) == y_true, y_pred.max(-1))
    return {**result, "auc": auc, "calibration_error": ece, "confusion_matrix": matrix}


def evaluate(model, dataset_or_arrays, config, *, batch_size=64, outputs=None):
    """Metrics of the model's head on labelled data, keyed by the head's output name.

    Args:
        model: a model of `build_model(config)` (dict outputs).
        dataset_or_arrays: `tf.data.Dataset` of `(features, label)`, or a
            dict of numpy arrays with a `"label"` key.
        config: its `ModelConfig`.
        batch_size: int, examples per prediction batch.
        outputs: optional outputs of the model on this data, as `predict`
            returns them (not predicted again).

    Returns:
        `{"probabilities": {...}}` (classification) or
        `{"prediction": {...}}` (regression): the `compute_metrics` dict
        plus `num_examples`.

    Example:

    >>> evaluate(model, test_ds, config)["probabilities"]["macro_f1"]
    0.91
    """
    features, labels = as_arrays(dataset_or_arrays, config)
    if outputs is None:
        outputs = predict(model, features, batch_size)
    task = config.head.task
    return {head_output(task): {**head_metrics(task, labels, outputs), "num_examples": len(labels)}}


def head_metrics(task, labels, outputs):
    """`compute_metrics` on the right entry of a model's output dict."""
    name = head_output(task)
    if name not in outputs:
        raise ValueError(f"`model` has no {name!r} output for task={task!r}. Received outputs: {sorted(outputs)}")
    return compute_metrics(task, labels, outputs[name])


def score(model, features, labels, config, metric, batch_size=64):
    """One metric (a name of `metric_names`) of the model on numpy `features`."""
    return head_metrics(config.head.task, labels, predict(model, features, batch_size))[metric]


def _multilabel_metrics(y_true, probabilities):
    truth = y_true > 0.5
    predicted = probabilities > 0.5
    matrices = np.stack([confusion_matrix(truth[:, k], predicted[:, k], 2) for k in range(truth.shape[1])])
    true_pos = matrices[:, 1, 1]
    return {
        "accuracy": float((truth == predicted).mean()),
        **macro_scores(true_pos, true_pos + matrices[:, 0, 1], true_pos + matrices[:, 1, 0]),
        "auc": macro_auc(truth, probabilities),
        "calibration_error": float(np.mean([
            _binary_calibration_error(truth[:, k], probabilities[:, k]) for k in range(truth.shape[1])
        ])),
        "confusion_matrix": matrices.tolist(),
    }


def _average_ranks(values):
    """1-based ranks of `values`, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.r_[True, ordered[1:] != ordered[:-1]]
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = (first + (counts + 1) / 2)[np.cumsum(starts) - 1]
    return ranks

