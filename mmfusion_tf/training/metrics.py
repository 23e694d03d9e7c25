"""Evaluation metrics computed on whole prediction arrays (numpy)."""

import numpy as np

# Metric names containing one of these are minimised; anything else is maximised.
LOWER_IS_BETTER = ("loss", "rmse", "mae", "mse", "error", "crossentropy", "latency", "params")


def lower_is_better(name):
    """True for losses, errors, latency and size (`val_loss`, `rmse`, `latency_ms`...); False for
    anything else (accuracy, F1, AUC, R²...).

    Example:

    >>> lower_is_better("val_rmse"), lower_is_better("macro_f1")
    (True, False)
    """
    lowered = name.lower()
    return any(word in lowered for word in LOWER_IS_BETTER)



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
    return {
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        **macro_scores(np.diag(matrix), matrix.sum(0), matrix.sum(1)),
        "confusion_matrix": matrix.tolist(),
    }


def macro_scores(true_pos, predicted, actual):
    """Macro precision, recall and F1 from per-class counts (0 where a ratio is undefined).

    Classes absent from both truth and prediction (`predicted + actual == 0`)
    are left out of the means; with none left, each mean is 0.

    Args:
        true_pos: `[K]` true positives per class.
        predicted: `[K]` predictions per class (true + false positives).
        actual: `[K]` labels per class (true positives + false negatives).

    Example:

    >>> macro_scores([1, 0], [1, 1], [2, 0])["macro_recall"]
    0.5
    """
    true_pos = np.asarray(true_pos, dtype="float64")
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    precision = _ratio(true_pos, predicted)
    recall = _ratio(true_pos, actual)
    f1 = _ratio(2 * precision * recall, precision + recall)
    seen = (predicted + actual) > 0

    def macro(values):
        return float(values[seen].mean()) if seen.any() else 0.0

    return {"macro_precision": macro(precision), "macro_recall": macro(recall), "macro_f1": macro(f1)}


def _ratio(numerator, denominator):
    """`numerator / denominator`, 0 where the denominator is 0."""
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=np.asarray(denominator) > 0)


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
