"""Hyperparameter search with KerasTuner: `FusionHyperModel`, search spaces, cost-aware results.

Example:

>>> from mmfusion_tf.tuning import FusionHyperModel, objective_for
>>> hypermodel = FusionHyperModel(experiment, "tuning/default_space.yaml", cost_aware=True)
>>> tuner = keras_tuner.Hyperband(hypermodel, objective=objective_for("val_f1_macro"), max_epochs=6)
>>> tuner.search(train_ds, validation_data=val_ds)
"""

from mmfusion_tf._lazy import lazy_names

_NAMES = {
    "latency_ms_per_example": "cost",
    "pareto_front": "cost",
    "FusionHyperModel": "hypermodel",
    "SparseMacroF1": "metrics",
    "default_objective": "metrics",
    "objective_for": "metrics",
    "tuning_metrics": "metrics",
    "write_results": "results",
    "make_tuner": "search",
    "tune": "search",
    "DEFAULT_SPACE": "space",
    "SearchSpace": "space",
    "default_search_space": "space",
    "hp_to_experiment": "space",
    "search_space_from_yaml": "space",
    "split_epochs": "space",
}

__getattr__, __dir__ = lazy_names(__name__, _NAMES)

__all__ = [
    "DEFAULT_SPACE", "FusionHyperModel", "SearchSpace", "SparseMacroF1", "default_objective", "default_search_space",
    "hp_to_experiment", "latency_ms_per_example", "make_tuner", "objective_for", "pareto_front",
    "search_space_from_yaml", "split_epochs", "tune", "tuning_metrics", "write_results",
]
