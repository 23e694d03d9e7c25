"""`write_report`: metrics, modality contributions, robustness and their plots in one folder.

Writes `report.json` (plain JSON: no numpy types, undefined values as
null) and the PNGs `training_curves.png` (when a history is given),
`confusion_matrix.png` (classification), `modality_contributions.png` and
`robustness.png`.

Example:

>>> report = write_report("/tmp/eval", model, test_data, config, history=history)
>>> sorted(report["plots"])
['confusion_matrix', 'modality_contributions', 'robustness', 'training_curves']
"""

import json
import math
import os

import numpy as np

from mmfusion_tf.evaluation.contributions import modality_contributions
from mmfusion_tf.evaluation.metrics import compute_metrics, evaluate, head_output
from mmfusion_tf.evaluation.plots import (
    plot_confusion_matrix,
    plot_modality_contributions,
    plot_robustness,
    plot_training_curves,
)
from mmfusion_tf.evaluation.predictions import as_arrays, predict
from mmfusion_tf.evaluation.robustness import robustness_curve


def write_report(output_dir, model, data, config, history=None, *, metric=None,
                 levels=(0, 0.1, 0.25, 0.5, 1.0), seed=0, batch_size=64, training=None):
    """Evaluates `model` on `data` and writes `report.json` and the plots to `output_dir`.

    Args:
        output_dir: folder to write to (created if needed).
        model: a model of `build_model(config)`.
        data: `tf.data.Dataset` of `(features, label)` or dict of arrays
            with a `"label"` key.
        config: its `ModelConfig`.
        history: optional training history for `plot_training_curves`.
        metric: metric of the contributions and robustness curves (default
            "accuracy", or "rmse" for regression).
        levels: noise levels of `robustness_curve`.
        seed: int, seed of the robustness noise.
        batch_size: int, examples per prediction batch.
        training: optional dict written as the report's `training` entry
            (`Trainer.evaluate`: the selected stage/epoch and the calibration).

    Returns:
        The report dict, as written: `task`, `num_examples`, `metrics` (of
        `evaluate`), `modality_heads` (the metrics of each per-modality head
        alone, when the model has them), `contributions`, `robustness`,
        `plots` (name -> PNG path under `output_dir`) and `training` when given.

    Example:

    >>> write_report("eval", model, test_data, config)["metrics"]["probabilities"]["accuracy"]
    0.97
    """
    if not isinstance(output_dir, (str, os.PathLike)):
        raise ValueError(f"`output_dir` must be a folder path. Received: output_dir={output_dir!r}")
    arrays = as_arrays(data, config)
    task = config.head.task
    clean = predict(model, arrays[0], batch_size)  # predicted once, for all three
    metrics = evaluate(model, arrays, config, batch_size=batch_size, outputs=clean)
    contributions = modality_contributions(model, arrays, config, metric, batch_size=batch_size, clean_outputs=clean)
    robustness = robustness_curve(
        model, arrays, config, levels, seed, metric=metric, batch_size=batch_size, clean_outputs=clean
    )

    os.makedirs(output_dir, exist_ok=True)
    plots = {}
    if history is not None:
        plots["training_curves"] = plot_training_curves(history, os.path.join(output_dir, "training_curves.png"))
    if task != "regression":
        plots["confusion_matrix"] = plot_confusion_matrix(
            metrics[head_output(task)]["confusion_matrix"], config.head.labels,
            os.path.join(output_dir, "confusion_matrix.png"),
        )
    plots["modality_contributions"] = plot_modality_contributions(
        contributions, os.path.join(output_dir, "modality_contributions.png")
    )
    plots["robustness"] = plot_robustness(robustness, os.path.join(output_dir, "robustness.png"))

    report = plain({
        "task": task,
        "num_examples": len(arrays[1]),
        "metrics": metrics,
        **({"modality_heads": modality_head_metrics(clean, arrays[1], config)} if _has_heads(clean) else {}),
        "contributions": contributions,
        "robustness": robustness,
        "plots": plots,
        **({"training": training} if training is not None else {}),
    })
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, allow_nan=False)
    return report


def _has_heads(outputs):
    return "modality_logits" in outputs or "modality_predictions" in outputs


def modality_head_metrics(outputs, labels, config):
    """`{modality: metrics}` of each per-modality head alone (what each modality predicts by itself).

    Example:

    >>> modality_head_metrics(predict(model, features), labels, config)["text"]["accuracy"]
    0.81
    """
    task = config.head.task
    if task == "regression":
        heads = outputs["modality_predictions"]
    else:
        logits = outputs["modality_logits"].astype("float64")
        if task == "multiclass":
            shifted = np.exp(logits - logits.max(-1, keepdims=True))
            heads = shifted / shifted.sum(-1, keepdims=True)
        else:
            heads = 1.0 / (1.0 + np.exp(-logits))
    result = {}
    for k, name in enumerate(config.modality_names):
        values = compute_metrics(task, labels, heads[:, k])
        values.pop("confusion_matrix", None)
        result[name] = values
    return result


def plain(value):
    """`value` with numpy types, tuples and non-finite floats made JSON-plain (NaN/inf -> None).

    Example:

    >>> plain({"a": np.float32(0.5), "b": (np.int64(1), float("nan"))})
    {'a': 0.5, 'b': [1, None]}
    """
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
