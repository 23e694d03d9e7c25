"""Evaluation metrics computed on whole prediction arrays (numpy)."""

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """`[num_classes, num_classes]` counts, rows = true class, columns = predicted."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def classification_metrics(y_true, probabilities):
    """Accuracy, macro precision/recall/F1 and the confusion matrix.

    Args:
        y_true: int array `[n]` of class ids.
        probabilities: float array `[n, num_classes]` (or `[n]`/`[n, 1]`
            for binary: probability of class 1).

    Returns:
        dict with `accuracy`, `macro_precision`, `macro_recall`,
        `macro_f1` (classes absent from both truth and prediction are
        left out of the macro averages) and `confusion_matrix` (list).

    Example:

    >>> classification_metrics([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])["accuracy"]
    0.6666666666666666
    """
    y_true = np.asarray(y_true).reshape(-1).astype(int)
    probabilities = np.asarray(probabilities, dtype="float64")
    if probabilities.ndim == 1 or probabilities.shape[-1] == 1:
        p1 = probabilities.reshape(-1)
        probabilities = np.stack([1.0 - p1, p1], axis=-1)
    if len(y_true) != len(probabilities):
        raise ValueError(f"`y_true` has {len(y_true)} rows but `probabilities` has {len(probabilities)}.")
    num_classes = probabilities.shape[-1]
    y_pred = probabilities.argmax(-1)
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    true_pos = np.diag(matrix).astype("float64")
    predicted = matrix.sum(0)
    actual = matrix.sum(1)
    seen = (predicted + actual) > 0
    precision = np.divide(true_pos, predicted, out=np.zeros(num_classes), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros(num_classes), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(num_classes), where=(precision + recall) > 0)
    return {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "macro_precision": float(precision[seen].mean()),
        "macro_recall": float(recall[seen].mean()),
        "macro_f1": float(f1[seen].mean()),
        "confusion_matrix": matrix.tolist(),
    }


def regression_metrics(y_true, y_pred):
    """MAE, RMSE and R² of predictions.

    Example:

    >>> regression_metrics([1.0, 2.0], [1.0, 3.0])["mae"]
    0.5
    """
    y_true = np.asarray(y_true, dtype="float64").reshape(-1)
    y_pred = np.asarray(y_pred, dtype="float64").reshape(-1)
    if len(y_true) != len(y_pred):
        raise ValueError(f"`y_true` has {len(y_true)} rows but `y_pred` has {len(y_pred)}.")
    error = y_pred - y_true
    total = ((y_true - y_true.mean()) ** 2).sum()
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "r2": float(1.0 - (error**2).sum() / total) if total > 0 else 0.0,
    }
