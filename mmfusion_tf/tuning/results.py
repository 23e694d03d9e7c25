"""What a search leaves behind: `trials.csv`/`trials.json`, `best_experiment.yaml`, PNG plots.

Example:

>>> summary = write_results(tuner.oracle, hypermodel, "runs/tune", epochs=6, cost_aware=True)
>>> summary["best"]["experiment"]
'runs/tune/best_experiment.yaml'
"""

import csv
import os

from mmfusion_tf.evaluation.report import plain
from mmfusion_tf.training.files import write_json_atomic
from mmfusion_tf.tuning.cost import pareto_front
from mmfusion_tf.tuning.hypermodel import LATENCY_METRIC, active_values
from mmfusion_tf.tuning.plots import plot_objective_per_trial, plot_objective_vs_weights, plot_pareto_front
from mmfusion_tf.tuning.space import WEIGHT_PREFIX, normalized_weights

FIRST_COLUMNS = ("trial_id", "status", "score", "best_step", "pareto")


def trial_records(oracle, modality_names):
    """One flat dict per trial, in start order: id, status, score, hyperparameters, metrics.

    Raw weights `weight.<m>` are joined by `normalized_weight.<m>` (summing to 1).
    """
    order = list(getattr(oracle, "start_order", [])) or sorted(oracle.trials)
    records = []
    for trial_id in order:
        trial = oracle.trials[trial_id]
        record = {"trial_id": trial.trial_id, "status": trial.status, "score": plain(trial.score),
                  "best_step": trial.best_step}
        values = active_values(trial.hyperparameters)
        record.update(values)
        raw = [values.get(f"{WEIGHT_PREFIX}{name}") for name in modality_names]
        if all(w is not None for w in raw):
            for name, weight in zip(modality_names, normalized_weights(raw)):
                record[f"normalized_weight.{name}"] = weight
        for name in trial.metrics.metrics:
            record.setdefault(name, plain(trial.metrics.get_last_value(name)))
        records.append(record)
    return records


def _columns(records, metric_names=()):
    """Trial id and status first, then the hyperparameters, then the metrics."""
    keys = list(dict.fromkeys(key for record in records for key in record))
    rest = [k for k in keys if k not in FIRST_COLUMNS]
    return (
        [k for k in FIRST_COLUMNS if k in keys]
        + [k for k in rest if k not in metric_names]
        + [k for k in rest if k in metric_names]
    )


def write_trials_csv(records, path, metric_names=()):
    """`records` as CSV, one row per trial (empty cells where a trial lacks a value)."""
    columns = _columns(records, set(metric_names))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for record in records:
            writer.writerow({k: ("" if v is None else v) for k, v in record.items()})
    return path


def write_results(oracle, hypermodel, output_dir, epochs=None, cost_aware=None, settings=None):
    """Writes the search results and returns their summary (also in `trials.json`).

    Args:
        oracle: the tuner's oracle (chief or single process: it holds every trial).
        hypermodel: the `FusionHyperModel` searched.
        output_dir: folder for the files.
        epochs: epoch budget the best experiment is written with (None:
            the base experiment's stage epochs).
        cost_aware: report the quality/latency Pareto front (default:
            `hypermodel.cost_aware`).
        settings: optional dict of search settings copied into the summary.

    Returns:
        dict with `objective`, `num_trials`, `completed`, `best` (trial id,
        objective value, hyperparameters, `experiment` YAML path),
        `pareto_front` (cost-aware), `files` and `trials` (the records).
    """
    os.makedirs(output_dir, exist_ok=True)
    cost_aware = hypermodel.cost_aware if cost_aware is None else cost_aware
    objective = oracle.objective
    names = hypermodel.base_config.model.modality_names
    records = trial_records(oracle, names)
    completed = [r for r in records if r["status"] == "COMPLETED" and r.get(objective.name) is not None]
    files = {name: os.path.join(output_dir, name.replace("_", ".")) for name in ("trials_csv", "trials_json")}
    summary = {
        "objective": {"name": objective.name, "direction": objective.direction},
        "settings": settings or {},
        "num_trials": len(records),
        "completed": len(completed),
        "best": None,
    }
    front = None
    if cost_aware:
        points = [(r["trial_id"], r[objective.name], r.get(LATENCY_METRIC)) for r in completed]
        front = pareto_front(points, objective.direction)
        for record in records:
            record["pareto"] = record["trial_id"] in front
        summary["pareto_front"] = [
            {"trial_id": r["trial_id"], objective.name: r[objective.name], LATENCY_METRIC: r[LATENCY_METRIC],
             "params": r.get("params")}
            for key in front for r in completed if r["trial_id"] == key
        ]
    best_trials = oracle.get_best_trials(1) if completed else []
    if best_trials:
        best = best_trials[0]
        values = active_values(best.hyperparameters)
        path = os.path.join(output_dir, "best_experiment.yaml")
        hypermodel.experiment(values, epochs=epochs).to_yaml(path)
        files["best_experiment"] = path
        summary["best"] = {
            "trial_id": best.trial_id,
            objective.name: plain(best.score),
            "hyperparameters": {k: v for k, v in values.items() if not k.startswith("tuner/")},
            "experiment": path,
        }
    if records:
        files["objective_per_trial"] = plot_objective_per_trial(
            records, objective.name, objective.direction, os.path.join(output_dir, "objective_per_trial.png")
        )
    if any(f"normalized_weight.{names[0]}" in r for r in completed):
        files["objective_vs_weights"] = plot_objective_vs_weights(
            completed, objective.name, names, os.path.join(output_dir, "objective_vs_weights.png")
        )
    if front is not None:
        files["pareto_front"] = plot_pareto_front(
            completed, objective.name, front, os.path.join(output_dir, "pareto_front.png")
        )
    summary["files"] = files
    summary["trials"] = records
    write_trials_csv(records, files["trials_csv"], {m for t in oracle.trials.values() for m in t.metrics.metrics})
    write_json_atomic(files["trials_json"], summary)
    return summary
