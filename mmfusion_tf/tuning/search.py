"""`tune`: an experiment + a search space -> a (resumable, optionally distributed) KerasTuner search.

The search lives in `OUTPUT_DIR/search/` (KerasTuner's project folder:
`oracle.json`, `trial_*/trial.json`, checkpoints). Rerunning with the same
settings reloads it (`overwrite=False`) and continues: finished trials are
kept, an interrupted one is run again, the rest follow. The settings are
recorded in `OUTPUT_DIR/tune_settings.json` and a rerun with other settings
is refused (`max_trials` may grow).

Distributed search is KerasTuner's own chief/worker mode: start the same
command in every process with `KERASTUNER_TUNER_ID` (`chief`, `tuner0`,
`tuner1`, ...), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` set and
a shared `OUTPUT_DIR`. The chief serves the oracle and writes the results
when every trial is done; each worker runs the trials it is given.

Example:

>>> summary = tune(ExperimentConfig.from_yaml("exp.yaml"), "runs/tune", space="tuning/default_space.yaml",
...                tuner="random", max_trials=8, epochs=6, cost_aware=True)
>>> summary["best"]["experiment"]
'runs/tune/best_experiment.yaml'
"""

import json
import os

import keras_tuner

from mmfusion_tf._private_apis import fix_keras_distribution
from mmfusion_tf.training.experiment_data import (
    adapt_target,
    balanced_class_weights,
    experiment_datasets,
    experiment_sources,
)
from mmfusion_tf.training.files import fingerprint, write_json_atomic
from mmfusion_tf.training.model import training_columns
from mmfusion_tf.tuning.hypermodel import FusionHyperModel
from mmfusion_tf.tuning.metrics import default_objective, objective_for
from mmfusion_tf.tuning.results import write_results
from mmfusion_tf.tuning.space import as_experiment, as_search_space

TUNERS = ("hyperband", "random", "bayesian", "grid")
PROJECT_NAME = "search"
SETTINGS_FILE = "tune_settings.json"


def role():
    """"chief", "worker" (KerasTuner's distributed mode) or "single", from KerasTuner's environment variables.

    KerasTuner's documented protocol (its distributed-tuning guide): a search
    is distributed when `KERASTUNER_ORACLE_IP` is set, which then needs
    `KERASTUNER_ORACLE_PORT` and `KERASTUNER_TUNER_ID`; a tuner id containing
    "chief" serves the oracle. KerasTuner has no public function for it.

    Example:

    >>> os.environ.update(KERASTUNER_ORACLE_IP="10.0.0.1", KERASTUNER_ORACLE_PORT="8000", KERASTUNER_TUNER_ID="tuner0")
    >>> role()
    'worker'
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in os.environ:
            raise RuntimeError(f"Environment variable KERASTUNER_ORACLE_IP is set, but {name} is not: set both.")
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def make_tuner(
    kind, hypermodel, objective, directory, project_name=PROJECT_NAME, max_trials=10, max_epochs=10, seed=None,
    overwrite=False, hyperband_factor=3, **kwargs,
):
    """A stock KerasTuner tuner: `kind` in hyperband | random | bayesian | grid.

    `max_trials` also caps Hyperband (whose own budget is `max_epochs` and
    `hyperband_factor`); None leaves Hyperband uncapped. Other `kwargs` go
    to the tuner (e.g. `executions_per_trial`, `distribution_strategy`).
    """
    if kind not in TUNERS:
        raise ValueError(f"`tuner`={kind!r} is not allowed. Allowed values: {list(TUNERS)}")
    if max_trials is not None and int(max_trials) < 1:
        raise ValueError(f"`max_trials` must be >= 1. Received: max_trials={max_trials}")
    objective = objective if isinstance(objective, keras_tuner.Objective) else objective_for(objective)
    common = dict(
        objective=objective, seed=seed, directory=directory, project_name=project_name, overwrite=overwrite, **kwargs
    )
    strategy = kwargs.get("distribution_strategy")
    if strategy is not None:  # Keras 3.15 cannot fit string inputs under a mirrored strategy as shipped
        fix_keras_distribution(strategy)
    if kind == "hyperband":
        tuner = keras_tuner.Hyperband(hypermodel, max_epochs=int(max_epochs), factor=int(hyperband_factor), **common)
        if max_trials is not None and isinstance(tuner.oracle, keras_tuner.Oracle):
            tuner.oracle.max_trials = int(max_trials)
        return tuner
    tuner_cls = {
        "random": keras_tuner.RandomSearch,
        "bayesian": keras_tuner.BayesianOptimization,
        "grid": keras_tuner.GridSearch,
    }[kind]
    return tuner_cls(hypermodel, max_trials=max_trials, **common)


def _check_settings(output_dir, settings, overwrite):
    """Records the search settings; refuses to resume a search made with other ones."""
    path = os.path.join(output_dir, SETTINGS_FILE)
    digest = fingerprint(settings)
    if os.path.exists(path) and not overwrite:
        with open(path, encoding="utf-8") as f:
            recorded = json.load(f)
        if recorded.get("fingerprint") != digest:
            plain = json.loads(json.dumps(settings, default=str))
            changed = sorted(k for k in plain if recorded.get("settings", {}).get(k) != plain[k])
            raise ValueError(
                f"{output_dir} holds a search with other settings (changed: {changed}); resuming needs the same "
                "experiment, space, tuner, epochs, objective and seed. Use another output folder, or overwrite "
                "to start over."
            )
        return
    if role() == "worker":
        return
    write_json_atomic(path, {"fingerprint": digest, "settings": settings}, default=str)


def tune(
    experiment, output_dir, space=None, tuner="hyperband", max_trials=10, epochs=None, objective=None,
    cost_aware=False, seed=None, hyperband_factor=3, overwrite=False, verbose=1, train=None, validation=None,
    callbacks=(),
):
    """Runs or resumes a search over `space` around `experiment`; writes and returns the results.

    Args:
        experiment: `ExperimentConfig` (data from `experiment.data`, or
            `train`/`validation` sources passed here).
        output_dir: folder of the search and its results.
        space: `SearchSpace`, dict, YAML path or None (the default space).
        tuner: "hyperband", "random", "bayesian" or "grid".
        max_trials: trials at most (Hyperband: a cap on its schedule).
        epochs: epoch budget per trial, shared among the transfer stages
            (Hyperband: the most a trial gets); default the experiment's
            stage epochs.
        objective: metric name (`val_accuracy`, `val_loss`, `latency_ms`,
            optionally `:min`/`:max`); default `val_f1_macro`
            (classification) or `val_rmse` (regression).
        cost_aware: time every trial's model and report the Pareto front.
        seed: the tuner's seed.
        hyperband_factor: Hyperband's reduction factor.
        overwrite: start over instead of resuming.
        verbose: Keras/KerasTuner verbosity.
        train, validation: optional sources overriding `experiment.data`
            (dicts of arrays, DataFrames, manifest paths).
        callbacks: extra Keras callbacks for every trial.

    Returns:
        The summary of `write_results` (also in `trials.json`), or, on a
        worker of a distributed search, `{"role": "worker", ...}`.
    """
    experiment = as_experiment(experiment).validate().with_absolute_paths()
    space = as_search_space(space)
    budget = int(epochs) if epochs is not None else sum(int(s.epochs) for s in experiment.training.stages)
    if budget < 1:
        raise ValueError(f"`epochs` must be >= 1. Received: epochs={budget}")
    objective = objective_for(objective or default_objective(experiment.model.head))
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    overwrite = bool(overwrite) and role() != "worker"
    settings = {
        "experiment": experiment.to_dict(), "space": space.to_dict(), "tuner": tuner, "epochs": budget,
        "objective": f"{objective.name}:{objective.direction}", "seed": seed,
        "hyperband_factor": hyperband_factor if tuner == "hyperband" else None,
    }
    _check_settings(output_dir, settings, overwrite)

    sources = experiment_sources(experiment, train, validation)
    train_ds, val_ds, _ = experiment_datasets(experiment, {**sources, "test": None})  # the search never tests
    adapt_target(experiment, sources["train"])
    hypermodel = FusionHyperModel(
        experiment, space, adapt_data=training_columns(experiment, sources), cost_aware=cost_aware
    )
    search = make_tuner(
        tuner, hypermodel, objective, directory=output_dir, max_trials=max_trials, max_epochs=budget, seed=seed,
        overwrite=overwrite, hyperband_factor=hyperband_factor,
    )
    fit_kwargs = {}
    if experiment.training.class_weights == "balanced":
        fit_kwargs["class_weight"] = balanced_class_weights(experiment, sources["train"])
    search.search(
        train_ds, validation_data=val_ds, epochs=budget, callbacks=list(callbacks), verbose=verbose, **fit_kwargs
    )
    if role() == "worker":
        return {"role": "worker", "tuner_id": search.tuner_id, "output_dir": output_dir}
    search.save()  # a chief's oracle saved its last trial as still running: record the end state
    summary_settings = {k: v for k, v in settings.items() if k not in ("experiment", "space")}
    summary_settings.update(max_trials=max_trials, cost_aware=bool(cost_aware), role=role())
    return write_results(
        search.oracle, hypermodel, output_dir, epochs=budget, cost_aware=cost_aware, settings=summary_settings
    )
