"""Evaluation plots written as PNG files.

Figures are drawn on matplotlib's Agg canvas directly (`Figure` +
`FigureCanvasAgg`): nothing is shown, no window opens, and pyplot's global
state and backend are left alone. Each function writes one PNG (creating
its folder) and returns its path.

Example:

>>> plot_confusion_matrix([[5, 1], [0, 4]], ["cat", "dog"], "/tmp/cm.png")
'/tmp/cm.png'
"""

import math
import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from mmfusion_tf.training.metrics import lower_is_better
from mmfusion_tf.evaluation.robustness import ALL
from mmfusion_tf.training.history import merge_stages


def plot_training_curves(history, path):
    """Loss and each metric against epochs, with its `val_` counterpart and stage boundaries.

    Args:
        history: as in `merge_stages`.
        path: PNG file to write.

    Example:

    >>> plot_training_curves([head_stage.history, fine_tune_stage.history], "curves.png")
    'curves.png'
    """
    metrics, boundaries = merge_stages(history)
    names = list(dict.fromkeys(key[len("val_"):] if key.startswith("val_") else key for key in metrics))
    names.sort(key=lambda name: name != "loss")
    epochs = np.arange(1, len(next(iter(metrics.values()))) + 1)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in metrics:
                ax.plot(epochs, metrics[key], style, marker=".", label=key)
        for stage, start in enumerate([0] + boundaries):
            if start:
                ax.axvline(start + 0.5, color="gray", linestyle=":", linewidth=1)
            if boundaries:
                ax.text(start + 1, 1.01, f"stage {stage + 1}", transform=ax.get_xaxis_transform(),
                        va="bottom", fontsize=8, color="gray")
        ax.set_title(name, pad=14 if boundaries else 6)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_confusion_matrix(cm, labels, path):
    """Heatmap of counts (rows true, columns predicted), or one 2x2 panel per label for multilabel.

    Args:
        cm: `[C, C]` counts, or `[L, 2, 2]` per-label matrices (multilabel).
        labels: the C class (or L label) names, or None for their indices.
        path: PNG file to write.

    Example:

    >>> plot_confusion_matrix(metrics["probabilities"]["confusion_matrix"], config.head.labels, "cm.png")
    'cm.png'
    """
    cm = np.asarray(cm)
    if cm.ndim == 2 and cm.shape[0] == cm.shape[1]:
        panels = [(None, cm)]
    elif cm.ndim == 3 and cm.shape[1:] == (2, 2):
        panels = list(zip(range(len(cm)), cm))
    else:
        raise ValueError(f"`cm` must be a [C, C] matrix or [L, 2, 2] per-label matrices. Received: shape={cm.shape}")
    names = [str(i) for i in range(len(cm))] if labels is None else [str(label) for label in labels]
    if len(names) != len(cm):
        raise ValueError(
            f"`labels` must have {len(cm)} names for a `cm` of shape {cm.shape}. Received: labels={labels!r}"
        )
    if cm.ndim == 2:
        size = max(4.0, 0.5 * len(names) + 2.5)
        fig = Figure(figsize=(size, size))
        _heatmap(fig.subplots(), cm, names, "confusion matrix")
    else:
        fig, axes = _grid(len(panels), width=3.0, height=3.0)
        for ax, (i, matrix) in zip(axes, panels):
            _heatmap(ax, matrix, ["0", "1"], names[i])
    return _save(fig, path)


def plot_modality_contributions(contrib, path):
    """Bars of `contrib` (the dict of `modality_contributions`), written to `path`.

    Left panel (when the modalities have a `mean_weight`): each modality's
    mean fusion weight. Right panel: the metric change when the modality is
    removed, `removed - clean` with its sign, red where removing it hurts
    (up for "rmse", down for "accuracy"), each bar labelled with the change
    and its share of the clean metric; a line marks zero. When the largest
    change is more than 20 times the smallest non-zero one, the axis is
    symmetric-log (linear up to the smallest change), so every modality's
    bar stays visible.

    Example:

    >>> plot_modality_contributions(modality_contributions(model, data, config), "contrib.png")
    'contrib.png'
    """
    if not isinstance(contrib, dict) or not isinstance(contrib.get("modalities"), dict):
        raise ValueError(f"`contrib` must be the dict of `modality_contributions`. Received: contrib={contrib!r}")
    metric = contrib.get("metric", "metric")
    better = contrib.get("better_is") or ("lower" if lower_is_better(metric) else "higher")
    clean = _number(contrib.get("clean"))
    names = list(contrib["modalities"])
    changes = [_metric_change(contrib["modalities"][n], clean, better) for n in names]
    weights = [contrib["modalities"][n].get("mean_weight") for n in names]
    with_weights = all(w is not None for w in weights)
    fig = Figure(figsize=(max(9.0 if with_weights else 5.0, (2.6 if with_weights else 1.4) * len(names)), 4.4))
    if with_weights:
        weight_ax, change_ax = fig.subplots(1, 2)
        weight_ax.bar_label(weight_ax.bar(names, weights, color="tab:blue"), fmt="%.3f", fontsize=8)
        weight_ax.set_title("mean fusion weight")
    else:
        change_ax = fig.subplots()
    _change_bars(change_ax, names, changes, clean, better)
    clean_text = "n/a" if math.isnan(clean) else f"{clean:.4g}"
    change_ax.set_title(
        f"{metric} change when removed: removed − clean\n"
        f"({better} is better, red: removing it hurts)\n"
        f"clean {metric} {clean_text}, removed via {contrib.get('removed_via', '?')}",
        fontsize=9,
    )
    return _save(fig, path)


def plot_robustness(curves, path):
    """Lines of `curves` (the dict of `robustness_curve`), metric against noise level, written to `path`.

    One line per modality; the all-modalities curve is black and dashed.

    Example:

    >>> plot_robustness(robustness_curve(model, data, config), "robustness.png")
    'robustness.png'
    """
    if not isinstance(curves, dict) or "levels" not in curves or not isinstance(curves.get("curves"), dict):
        raise ValueError(f"`curves` must be the dict of `robustness_curve`. Received: curves={curves!r}")
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for name, values in curves["curves"].items():
        style = {"color": "black", "linestyle": "--", "linewidth": 2} if name == ALL else {}
        ax.plot(curves["levels"], [_number(v) for v in values], marker="o", label=name, **style)
    ax.set_xlabel("noise level")
    ax.set_ylabel(curves.get("metric", "metric"))
    ax.set_title("robustness to noise")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_comparison(rows, metric, path):
    """Validation (and test) `metric` per candidate of `compare_fusion`, the best single modality marked.

    Example:

    >>> plot_comparison(result["candidates"], "accuracy", "runs/auto/comparison.png")
    'runs/auto/comparison.png'
    """
    names = [row["name"] for row in rows]
    x = np.arange(len(names))
    fig = Figure(figsize=(max(6.0, 1.3 * len(names)), 3.8))
    ax = fig.subplots()
    validation = [_number(row["validation"].get(metric)) for row in rows]
    colors = ["tab:gray" if row["kind"] == "single" else "tab:blue" for row in rows]
    ax.bar(x - 0.2, validation, 0.4, color=colors, label=f"validation {metric}")
    if all(row.get("test") for row in rows):
        ax.bar(x + 0.2, [_number(row["test"].get(metric)) for row in rows], 0.4, color="tab:orange", alpha=0.7,
               label=f"test {metric}")
    singles = [v for v, row in zip(validation, rows) if row["kind"] == "single"]
    if singles:
        best = min(singles) if lower_is_better(metric) else max(singles)
        ax.axhline(best, color="black", linestyle="--", linewidth=1, label="best single modality (validation)")
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel(metric)
    ax.set_title("single modalities (gray) vs fusion (blue)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _number(value):
    return math.nan if value is None else float(value)


def _metric_change(entry, clean, better):
    """`removed - clean` of one modality of `modality_contributions` (also from an older dict that
    only has `metric` or `metric_drop`); NaN when undefined."""
    if entry.get("metric_change") is not None:
        return float(entry["metric_change"])
    if entry.get("metric") is not None and not math.isnan(clean):
        return float(entry["metric"]) - clean
    if entry.get("metric_drop") is not None:
        return float(entry["metric_drop"]) * (1.0 if better == "lower" else -1.0)
    return math.nan


def _change_bars(ax, names, changes, clean, better):
    """Signed bars of `changes` on one scale that keeps every non-zero bar visible, labelled."""
    sizes = [abs(c) for c in changes if not math.isnan(c) and c != 0.0]
    if sizes and max(sizes) > 20 * min(sizes):
        linthresh = min(sizes)
        ax.set_yscale("symlog", linthresh=linthresh)
        log_labels = ax.yaxis.get_major_formatter()  # no labels crowding zero inside the linear band
        ax.yaxis.set_major_formatter(FuncFormatter(
            lambda v, pos: "" if 0 < abs(v) < 0.999 * linthresh else log_labels(v, pos)))
        ax.set_ylabel("change (symmetric log scale)")
    else:
        ax.set_ylabel("change")
    heights = [0.0 if math.isnan(c) else c for c in changes]
    hurts = [(c > 0) if better == "lower" else (c < 0) for c in heights]
    bars = ax.bar(names, heights, color=["tab:red" if h else "tab:green" for h in hurts])
    ax.bar_label(bars, labels=[_change_label(c, clean) for c in changes], fontsize=8, padding=2)
    ax.axhline(0.0, color="black", linewidth=0.8)
    low, high = ax.get_ylim()
    ax.set_ylim(*_padded(low, high, ax.get_yscale() == "symlog"))


def _change_label(change, clean):
    if math.isnan(change):
        return "n/a"
    if math.isnan(clean) or clean == 0.0:
        return f"{change:+.3g}"
    percent = 100.0 * change / abs(clean)
    return f"{change:+.3g}\n({percent:+,.0f}%)" if abs(percent) >= 100 else f"{change:+.3g}\n({percent:+.3g}%)"


def _padded(low, high, symlog):
    """Room above and below the bars for their two-line labels (and zero always inside)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if symlog:
        return (low * 4.0 if low < 0 else low), (high * 4.0 if high > 0 else high)
    span = (high - low) or 1.0
    return (low - 0.25 * span if low < 0 else low), (high + 0.25 * span if high > 0 else high)


def _grid(count, width=4.5, height=3.2):
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    fig = Figure(figsize=(width * columns, height * rows))
    axes = fig.subplots(rows, columns, squeeze=False).reshape(-1)
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _heatmap(ax, matrix, names, title):
    ax.imshow(matrix, cmap="Blues", vmin=0)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)


def _save(fig, path):
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"`path` must be a file path. Received: path={path!r}")
    folder = os.path.dirname(os.fspath(path))
    if folder:
        os.makedirs(folder, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    return os.fspath(path)
