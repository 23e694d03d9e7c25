"""`compare_fusion`: a fused model only when it validates at least as well as the best single modality.

Trains, under the experiment's own stages (one budget for all), a model per
modality alone and a model per fusion method of a short list, scores each
on the validation split, writes the comparison (`comparison.json` and
`comparison.png`) and keeps the best fused model only when its validation
score is at least the best single modality's; otherwise it says so and
keeps that single-modality model. The kept model's files (`model.keras`,
`model_config.yaml`, `experiment.yaml`) are copied to the output folder, so
`mmfusion evaluate` / `mmfusion export` work on it as on any run.

This is what `fusion: {method: auto}` and `mmfusion train --compare` run.

Example:

>>> result = compare_fusion(ExperimentConfig.from_yaml("exp.yaml"), "runs/auto")
>>> result["kept"], result["reason"]
('gated', 'validates 0.912 >= 0.871 of the best single modality (text only)')
"""

import copy
import json
import os
import shutil

from mmfusion_tf.evaluation.metrics import evaluate as evaluate_metrics, head_output
from mmfusion_tf.evaluation.plots import plot_comparison
from mmfusion_tf.training.metrics import lower_is_better
from mmfusion_tf.training.trainer import Trainer

AUTO = "auto"
AUTO_METHODS = ("gated", "concat")
KEPT_FILES = ("model.keras", "model_config.yaml", "experiment.yaml")


def default_selection_metric(task):
    """The validation metric candidates are compared on: R² for regression, accuracy otherwise."""
    return "r2" if task == "regression" else "accuracy"


def candidate_experiments(experiment, methods=None):
    """`{name: ExperimentConfig}`: "<modality> only" for each modality, then each fusion method.

    `methods` default: `AUTO_METHODS` when `fusion.method` is "auto", else the configured method.
    """
    fusion = experiment.model.fusion
    if methods is None:
        methods = AUTO_METHODS if fusion.method == AUTO else (fusion.method,)
    candidates = {}
    for modality in experiment.model.modalities:
        single = copy.deepcopy(experiment)
        single.model.modalities = [copy.deepcopy(modality)]
        single.model.fusion.method, single.model.fusion.options = "concat", {}
        single.model.fusion.modality_dropout = 0.0
        single.model.presence_inputs = False
        single.training.contrastive.weight = 0.0
        single.model.name = f"{experiment.model.name}_{modality.name}_only"
        candidates[f"{modality.name} only"] = single
    for method in methods:
        fused = copy.deepcopy(experiment)
        if fused.model.fusion.method != method:
            fused.model.fusion.options = {}
        fused.model.fusion.method = method
        fused.model.name = f"{experiment.model.name}_{method}"
        candidates[method] = fused
    return candidates


def compare_fusion(
    experiment, output_dir, methods=None, metric=None, verbose=1, train=None, validation=None, test=None,
):
    """Trains the single-modality baselines and the fusion candidates; keeps the fused model only if it
    validates at least as well as the best single modality.

    Args:
        experiment: `ExperimentConfig` (`fusion.method` "auto" or a method; needs validation data).
        output_dir: folder: `candidates/<name>/` runs, `comparison.json`, `comparison.png`, and the
            kept model's files.
        methods: fusion methods to try (default `candidate_experiments`'s).
        metric: validation metric (default: accuracy, R² for regression; see `metric_names`).
        verbose: Keras verbosity of each run (1 = progress bars).
        train, validation, test: optional sources overriding `experiment.data`.

    Returns:
        `{"metric", "candidates": [{"name", "kind", "validation", "test", "seconds", "run"}], "best_single",
        "best_fused", "kept", "fused_kept", "reason", "plot"}` (also written to `comparison.json`), plus
        "trainer": the kept candidate's `Trainer` (its model and datasets, for `write_run_report`).
    """
    experiment = experiment.validate()
    if len(experiment.model.modalities) < 2:
        raise ValueError(f"Comparing fusion needs at least two modalities. Received: {experiment.model.modality_names}")
    task = experiment.model.head.task
    metric = metric or default_selection_metric(task)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    rows, trainers = [], {}
    for name, candidate in candidate_experiments(experiment, methods).items():
        if verbose:
            print(f"--- candidate {name} ---", flush=True)
        trainer = Trainer(candidate, os.path.join(output_dir, "candidates", name.replace(" ", "_")), verbose=verbose)
        trainer.fit(train, validation, test)
        trainers[name] = trainer
        if trainer.val_ds is None:
            raise ValueError("Comparing fusion needs validation data: set data.validation or data.split.")
        scores = {"validation": _scores(trainer, trainer.val_ds, candidate)}
        scores["test"] = _scores(trainer, trainer.test_ds, candidate) if trainer.test_ds is not None else None
        rows.append({"name": name, "kind": "single" if name.endswith(" only") else "fused", **scores,
                     "seconds": round(sum(trainer.state.get("seconds", {}).values()), 1), "run": trainer.output_dir})
    result = choose(rows, metric)
    kept = next(row for row in rows if row["name"] == result["kept"])
    for filename in KEPT_FILES:
        shutil.copyfile(os.path.join(kept["run"], filename), os.path.join(output_dir, filename))
    result["plot"] = plot_comparison(rows, metric, os.path.join(output_dir, "comparison.png"))
    with open(os.path.join(output_dir, "comparison.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    if verbose:
        print(comparison_table(result))
    return {**result, "trainer": trainers[result["kept"]]}


def _scores(trainer, data, candidate):
    metrics = evaluate_metrics(trainer.model, data, candidate.model)[head_output(candidate.model.head.task)]
    return {k: v for k, v in metrics.items() if k != "confusion_matrix"}


def choose(rows, metric):
    """The comparison: best single and best fused candidate on validation `metric`; the fused one is kept
    when it is at least as good.

    Example:

    >>> choose([{"name": "text only", "kind": "single", "validation": {"accuracy": 0.8}},
    ...         {"name": "gated", "kind": "fused", "validation": {"accuracy": 0.8}}], "accuracy")["kept"]
    'gated'
    """
    sign = -1.0 if lower_is_better(metric) else 1.0

    def value(row):
        return sign * row["validation"][metric]

    singles = [row for row in rows if row["kind"] == "single"]
    fused = [row for row in rows if row["kind"] == "fused"]
    best_single, best_fused = max(singles, key=value), max(fused, key=value)
    keep = value(best_fused) >= value(best_single)
    relation = ">=" if keep else "<"
    reason = (f"{best_fused['name']} validates {metric} {best_fused['validation'][metric]:.4f} {relation} "
              f"{best_single['validation'][metric]:.4f} of the best single modality ({best_single['name']})")
    if not keep:
        reason += f": fusion does not pay here, kept {best_single['name']}"
    return {"metric": metric, "candidates": rows, "best_single": best_single["name"], "best_fused": best_fused["name"],
            "kept": (best_fused if keep else best_single)["name"], "fused_kept": keep, "reason": reason}


def comparison_table(result):
    """The comparison as a text table (validation and, when known, test metric per candidate)."""
    metric = result["metric"]
    lines = [f"{'candidate':<24} {'validation ' + metric:>18} {'test ' + metric:>14}"]
    for row in result["candidates"]:
        test = row["test"][metric] if row["test"] else float("nan")
        mark = "  <- kept" if row["name"] == result["kept"] else ""
        lines.append(f"{row['name']:<24} {row['validation'][metric]:>18.4f} {test:>14.4f}{mark}")
    return "\n".join(lines + [result["reason"]])
