"""`write_report`: metrics, modality contributions, robustness and their plots in one folder.

Writes `report.json` (plain JSON: no numpy types, undefined values as
null) and the PNGs `training_curves.png` (when a history is given),
`confusion_matrix.png` (classification), `modality_contributions.png` and
`robustness.png`.

Example:

>>> report = write_report("/tmp/eval", model, test_data, config, history=history)
>>> sorted(report["plots"])
['confusion_matrix', 'modality_contributions', 'robustness', 'training_curves']
>>> write_run_report(trainer)["metrics"]     # a fitted `Trainer`: its test split and history
"""

import json
import math
import os

import numpy as np

from mmfusion_tf._status import status_line
from mmfusion_tf.evaluation.contributions import modality_contributions
from mmfusion_tf.evaluation.metrics import compute_metrics, evaluate, head_output
from mmfusion_tf.evaluation.plots import (
    plot_confusion_matrix,
    plot_modality_contributions,
    plot_robustness,
    plot_training_curves,
)
from mmfusion_tf.models.predictions import as_arrays, predict
from mmfusion_tf.training.history import stage_histories
from mmfusion_tf.evaluation.robustness import robustness_curve


ANALYSES = ("metrics", "contributions", "robustness")
# Contributions and robustness take modalities + (modalities + 1) x (noisy levels) passes, 14 for
# two modalities and the default levels; on 200 examples they cost about one prediction pass of a
# 2,800-example split (measured: docs/guide/evaluation.md).
ANALYSIS_EXAMPLES = 200


def write_report(output_dir, model, data, config, history=None, *, metric=None,
                 levels=(0, 0.1, 0.25, 0.5, 1.0), seed=0, batch_size=64, training=None, analyses=ANALYSES,
                 analysis_examples=ANALYSIS_EXAMPLES, verbose=0):
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
            (`write_run_report`: the selected stage/epoch and the calibration).
        analyses: which of `ANALYSES` to run: "metrics" (every example),
            "contributions" and "robustness" (on `analysis_examples`).
        analysis_examples: int, size of the seeded subsample (by `seed`) the
            contributions and robustness curves use; 0 or None: every example.
        verbose: int, 1 prints one status line per step with its time.

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
    analyses = check_analyses(analyses)
    if analysis_examples is not None and (not isinstance(analysis_examples, int) or analysis_examples < 0):
        raise ValueError(f"`analysis_examples` must be an int >= 0 (0: every example). "
                         f"Received: analysis_examples={analysis_examples!r}")
    with status_line(verbose, "reading the evaluation data"):
        arrays = as_arrays(data, config)
    task = config.head.task
    report = {"task": task, "num_examples": len(arrays[1])}
    with status_line(verbose, f"predicting {len(arrays[1])} examples"):
        clean = predict(model, arrays[0], batch_size)  # predicted once, for every analysis
    if "metrics" in analyses:
        report["metrics"] = evaluate(model, arrays, config, batch_size=batch_size, outputs=clean)
        if _has_heads(clean):
            report["modality_heads"] = modality_head_metrics(clean, arrays[1], config)
    sample, sample_outputs = subsample(arrays, clean, analysis_examples, seed)
    if sample is not arrays:
        report["analysis_examples"] = len(sample[1])
    passes, size = len(config.modalities), len(sample[1])
    if "contributions" in analyses:
        with status_line(verbose, f"modality contributions: {passes} passes over {size} examples"):
            report["contributions"] = modality_contributions(
                model, sample, config, metric, batch_size=batch_size, clean_outputs=sample_outputs)
    if "robustness" in analyses:
        noisy_levels = sum(1 for level in levels if level != 0)
        with status_line(
            verbose, f"robustness curves: {noisy_levels * (passes + 1)} noisy passes over {size} examples"
        ):
            report["robustness"] = robustness_curve(
                model, sample, config, levels, seed, metric=metric, batch_size=batch_size,
                clean_outputs=sample_outputs)

    os.makedirs(output_dir, exist_ok=True)
    plots = {}
    with status_line(verbose, "plots"):
        if history is not None:
            plots["training_curves"] = plot_training_curves(history, os.path.join(output_dir, "training_curves.png"))
        if task != "regression" and "metrics" in report:
            plots["confusion_matrix"] = plot_confusion_matrix(
                report["metrics"][head_output(task)]["confusion_matrix"], config.head.labels,
                os.path.join(output_dir, "confusion_matrix.png"),
            )
        if "contributions" in report:
            plots["modality_contributions"] = plot_modality_contributions(
                report["contributions"], os.path.join(output_dir, "modality_contributions.png")
            )
        if "robustness" in report:
            plots["robustness"] = plot_robustness(report["robustness"], os.path.join(output_dir, "robustness.png"))
    report = plain({**report, "plots": plots, **({"training": training} if training is not None else {})})
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, allow_nan=False)
    return report


def check_analyses(analyses):
    """`analyses` as a tuple of names of `ANALYSES` (a comma-separated string is accepted)."""
    names = analyses.split(",") if isinstance(analyses, str) else list(analyses)
    names = [name.strip() for name in names if name.strip()]
    unknown = [name for name in names if name not in ANALYSES]
    if unknown or not names:
        raise ValueError(f"`analyses` must name some of {list(ANALYSES)}. Received: analyses={analyses!r}")
    return tuple(names)


def subsample(arrays, outputs, size, seed):
    """`(features, labels)` and the matching model outputs cut to `size` examples drawn with `seed`.

    Returns the inputs themselves when `size` is 0/None or not smaller than the data.

    Example:

    >>> (features, labels), outputs = subsample(arrays, outputs, 200, seed=0)
    """
    count = len(arrays[1])
    if not size or size >= count:
        return arrays, outputs
    rows = np.sort(np.random.default_rng([seed, 7]).choice(count, size, replace=False))
    features = {name: np.asarray(value)[rows] for name, value in arrays[0].items()}
    return (features, np.asarray(arrays[1])[rows]), {name: np.asarray(v)[rows] for name, v in outputs.items()}


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


def write_run_report(trainer, data=None, output_dir=None, **report_options):
    """`write_report` for a fitted `Trainer`: its model, history, seed and selection, in its folder.

    Args:
        trainer: a `Trainer` after `fit()`.
        data: what to evaluate on (default: the test split, else validation).
        output_dir: folder of the report (default: the run's folder).
        **report_options: passed to `write_report` (`analyses`, `analysis_examples`, `verbose`).

    Example:

    >>> trainer = Trainer(ExperimentConfig.from_yaml("exp.yaml"), "runs/a"); trainer.fit()
    >>> write_run_report(trainer)["plots"]["robustness"]
    'runs/a/robustness.png'
    """
    data = data if data is not None else (trainer.test_ds if trainer.test_ds is not None else trainer.val_ds)
    if data is None:
        raise ValueError("Nothing to evaluate on: give `data` or configure data.test / data.validation.")
    state = trainer.state or {}
    training = {key: state[key] for key in ("selected", "calibration") if state.get(key)}
    return write_report(
        output_dir or trainer.output_dir, trainer.model, data, trainer.experiment.model,
        history=stage_histories(trainer.history), seed=trainer.experiment.training.seed, training=training or None,
        **report_options,
    )
