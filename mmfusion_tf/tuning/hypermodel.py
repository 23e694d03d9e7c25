"""`FusionHyperModel`: a `keras_tuner.HyperModel` over fusion models (the only home of `hp.*` calls).

`build(hp)` samples the search space, applies the values to a copy of the
base experiment (`hp_to_experiment`) and returns the compiled model of its
first transfer stage; `fit(hp, model, ...)` runs the transfer stages inside
the tuner's epoch budget (backbones frozen, then the sampled share
unfrozen at the sampled lower rate) and returns one history over all
epochs, with the model's parameter count (and, cost-aware, its latency per
example) logged next to the metrics. Works unchanged with the stock
tuners: `RandomSearch`, `BayesianOptimization`, `Hyperband`, `GridSearch`.

Example:

>>> hypermodel = FusionHyperModel(experiment, "tuning/default_space.yaml")
>>> tuner = keras_tuner.RandomSearch(hypermodel, objective=objective_for("val_f1_macro"), max_trials=8)
>>> tuner.search(train_ds, validation_data=val_ds, epochs=6)
>>> best = hypermodel.experiment(tuner.get_best_hyperparameters()[0].values, epochs=6)
"""

import contextlib

import keras_tuner
import tensorflow as tf

from mmfusion_tf._keras import keras, quiet_dataset_end
from mmfusion_tf.config import TabularModality
from mmfusion_tf.models import adapt_tabular
from mmfusion_tf.training.gradient_blending import GradientBlending
from mmfusion_tf.training.history import merge_stages
from mmfusion_tf.training.model import build_experiment_model, compile_stage
from mmfusion_tf.training.precision import apply_precision
from mmfusion_tf.training.stage_loop import BestWeights, prepare_stage, run_stages
from mmfusion_tf.training.stages import stage_learning_rate
from mmfusion_tf.tuning.cost import latency_ms_per_example, sample_inputs
from mmfusion_tf.tuning.metrics import tuning_metrics
from mmfusion_tf.tuning.space import (
    SCALAR_KEYS,
    WEIGHT_PREFIX,
    as_experiment,
    as_search_space,
    contains,
    hp_to_experiment,
    is_integer_range,
    weighted_methods,
)

PARAMS_METRIC = "params"
LATENCY_METRIC = "latency_ms"


def _declare(hp, name, param, default=None):
    """One hyperparameter from a canonical parameter spec."""
    if "value" in param:
        return hp.Fixed(name, param["value"])
    if default is None or not contains(param, default):
        default = param.get("default")
    if "values" in param:
        return hp.Choice(name, param["values"], default=default)
    kwargs = {"sampling": param["sampling"], "default": default}
    if param["step"] is not None:
        kwargs["step"] = param["step"]
    if is_integer_range(param):
        return hp.Int(name, param["min"], param["max"], **kwargs)
    return hp.Float(name, param["min"], param["max"], **kwargs)


def _base_value(experiment, key):
    """The base experiment's value of a scalar search-space key (the default of its hyperparameter)."""
    model, stages = experiment.model, experiment.training.stages
    if key == "unfreeze_fraction":
        backbones = stages[1].backbones if len(stages) > 1 else None
        return 1.0 if backbones == "all" else (None if backbones in (None, "frozen") else float(backbones))
    values = {
        "projection_dim": model.fusion.projection_dim,
        "dropout": model.head.dropout,
        "modality_dropout": model.fusion.modality_dropout,
        "learning_rate": stages[0].learning_rate,
        "fine_tune_learning_rate": stages[1].learning_rate if len(stages) > 1 else None,
        "auxiliary_weight": experiment.training.auxiliary_weight,
    }
    return values[key]


def active_values(hp):
    """`hp.values` without the inactive conditional entries (Hyperband's `tuner/*` kept)."""
    names = {p.name for p in hp.space}
    return {k: v for k, v in hp.values.items() if k not in names or hp.is_active(k)}


class FusionHyperModel(keras_tuner.HyperModel):
    """Tunes fusion, head and transfer-learning settings of an experiment with KerasTuner.

    Args:
        base_config: `ExperimentConfig` (or `ModelConfig`, trained with the
            default stages): everything the search space leaves alone.
        search_space: `SearchSpace`, dict, YAML path, or None for the
            default space (`tuning/default_space.yaml`).
        adapt_data: optional dict of training columns: the tabular
            statistics missing from the config are adapted on it once, here,
            and written into the base config (so into every trial's
            experiment and `best_experiment.yaml`).
        cost_aware: bool; also time `predict_on_batch` on a fixed batch of
            the validation data after each trial (`latency_ms` per example;
            the batch is taken once, from the data of the first trial).
            `params` is always recorded.
        latency_batch_size: int, rows of the timed batch.
        latency_repeats: int, timed calls (median kept).
        name: optional name of the hypermodel.
        tunable: as `keras_tuner.HyperModel`.

    The hyperparameters are `fusion_method`, `weight.<modality>` (active
    for the `weighted` layers: `weighted_sum`, `late`), `<method>.<option>`
    (active for that method), and `projection_dim`, `dropout`, `modality_dropout`,
    `learning_rate`, `fine_tune_learning_rate`, `unfreeze_fraction`,
    `auxiliary_weight` (per-modality head loss weight), as the
    space lists them; their defaults are the base config's values when the
    space allows them.

    `fit` shares the epoch budget of `search(..., epochs=E)` (or the
    Hyperband round's) among the base experiment's stages in proportion to
    their configured epochs (`split_epochs`), honours `initial_epoch` (a
    Hyperband continuation trains the epochs left, each in the stage it
    falls into under the new budget), and returns a `History` over the
    epochs it ran, with `params` (and `latency_ms`) as constant columns so
    they reach the oracle with the objective. The base config's
    `training.strategy` is not used: pass `distribution_strategy` to the
    tuner instead (every stage compiles under the model's strategy). Each
    trial's weights are initialised from `training.seed`. An `optimizer`,
    `loss` or `metrics` given to the tuner replaces the hypermodel's in
    every stage (the optimizer anew per stage, at the stage's learning rate).

    Example:

    >>> hypermodel = FusionHyperModel(experiment, {"fusion_method": {"values": ["concat", "gated"]}})
    >>> tuner = keras_tuner.GridSearch(hypermodel, objective=objective_for("val_f1_macro"), max_trials=2)
    >>> tuner.search(train_ds, validation_data=val_ds, epochs=4)
    """

    def __init__(
        self, base_config, search_space=None, adapt_data=None, cost_aware=False, latency_batch_size=16,
        latency_repeats=5, name=None, tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        self.base_config = as_experiment(base_config).validate()
        self.search_space = as_search_space(search_space)
        if adapt_data is not None:
            for modality in self.base_config.model.modalities:
                if isinstance(modality, TabularModality):
                    adapt_tabular(modality, adapt_data)
        self.cost_aware = bool(cost_aware)
        self.latency_batch_size = int(latency_batch_size)
        self.latency_repeats = int(latency_repeats)
        self._latency_batch = None
        contrastive = self.base_config.training.contrastive
        if contrastive.enabled and contrastive.mode == "warmup":
            raise ValueError(
                "training.contrastive.mode='warmup' is not supported while tuning (it adds an unsupervised stage "
                "before the budgeted ones). Use mode='alongside'."
            )
        # Fails early (before any trial) when the space does not fit the base experiment.
        self.experiment(self._default_values())

    # === Search space ===

    def declare(self, hp):
        """Registers the search space on `hp`; returns the active values."""
        space, base = self.search_space, self.base_config
        fusion = base.model.fusion
        methods = space.method_values()
        tuned = methods is not None and "values" in space.fusion_method
        method = fusion.method
        if methods is not None:
            method = _declare(hp, "fusion_method", space.fusion_method, default=fusion.method)

        def when(allowed):
            """Scope active for the `allowed` methods; None when none of them can be chosen."""
            possible = [m for m in allowed if m in (methods if tuned else [method])]
            if not possible:
                return None
            return hp.conditional_scope("fusion_method", possible) if tuned else contextlib.nullcontext()

        if space.fusion_weights is not None:
            scope = when(weighted_methods())
            if scope is not None:
                with scope:
                    for name in base.model.modality_names:
                        _declare(hp, f"{WEIGHT_PREFIX}{name}", space.fusion_weights)
        for owner, options in space.fusion_options.items():
            scope = when([owner])
            if scope is not None:
                with scope:
                    for option, param in options.items():
                        default = fusion.options.get(option) if owner == fusion.method else None
                        _declare(hp, f"{owner}.{option}", param, default=default)
        for key in SCALAR_KEYS:
            param = getattr(space, key)
            if param is not None:
                _declare(hp, key, param, default=_base_value(base, key))
        return active_values(hp)

    def _default_values(self):
        return self.declare(keras_tuner.HyperParameters())

    def experiment(self, hp_values, epochs=None):
        """`hp_to_experiment` on this hypermodel's base config and space."""
        return hp_to_experiment(self.base_config, hp_values, self.search_space, epochs=epochs)

    # === Build ===

    def build(self, hp):
        experiment = self.experiment(self.declare(hp))
        apply_precision(experiment.training.precision)
        model, _ = build_experiment_model(experiment)
        first = experiment.training.stages[0]
        prepare_stage(model, experiment, first, compile_fn=self._compile)
        return model

    def _compile(self, model, experiment, stage):
        """`compile_stage` with `tuning_metrics`; a compiled model (a later stage) keeps its loss and
        metrics and gets a new optimizer like its own: the tuner's, if it recompiled the built model."""
        if not model.compiled:
            compile_stage(model, experiment, stage, metrics=tuning_metrics(experiment.model.head))
            return
        with model.distribute_strategy.scope():  # new optimizer and metric variables belong to the strategy
            compiled = keras.saving.deserialize_keras_object(model.get_compile_config())
        compile_stage(
            model, experiment, stage, metrics=compiled["metrics"], optimizer=compiled["optimizer"],
            loss=compiled["loss"],
        )

    # === Fit ===

    def fit(self, hp, model, *args, **kwargs):
        epochs = kwargs.pop("epochs", None)
        initial_epoch = int(kwargs.pop("initial_epoch", 0) or 0)
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if isinstance(args[0] if args else kwargs.get("x"), tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # make_dataset shuffles itself; Keras would only warn
        experiment = self.experiment(active_values(hp), epochs=epochs)  # stage epochs: shares of the budget
        stages = experiment.training.stages
        total = sum(int(s.epochs) for s in stages)
        if total <= initial_epoch:
            raise ValueError(f"Nothing to train: epochs={total} <= initial_epoch={initial_epoch}.")

        spans, start = {}, 0
        for stage in stages:
            spans[stage.name] = (start, start + int(stage.epochs))
            start += int(stage.epochs)
        todo = [stage for stage in stages if stage.epochs and spans[stage.name][1] > initial_epoch]
        training = self.base_config.training
        best = BestWeights(training.monitor) if training.select_best else None
        if training.balancing == "gradient_blending" and model.modality_heads() is not None:
            callbacks = callbacks + [GradientBlending()]  # one estimate across the trial's stages

        def fit_stage(stage, _):
            begin, end = spans[stage.name]
            schedule = keras.callbacks.LearningRateScheduler(
                lambda epoch, _, stage=stage, offset=begin: stage_learning_rate(stage, epoch - offset)
            )
            with quiet_dataset_end():
                history = model.fit(
                    *args, epochs=end, initial_epoch=max(begin, initial_epoch),
                    callbacks=callbacks + [schedule] + ([best] if best is not None else []), **kwargs,
                )
            return history.history

        histories = run_stages(
            model, experiment, todo, fit_stage, compile_fn=self._compile, compiled=stages[0], best=best
        )
        if best is not None:
            best.restore(model)  # the trial's model ends with its best epoch's weights, whichever stage it was in
        metrics, _ = merge_stages(histories)
        metrics.pop("learning_rate", None)  # the schedule's log, not a result (and the name of a hyperparameter)
        length = total - initial_epoch
        metrics[PARAMS_METRIC] = [float(model.count_params())] * length
        if self.cost_aware:
            if self._latency_batch is None:
                self._latency_batch = sample_inputs(args, kwargs)
            latency = latency_ms_per_example(
                model, self._latency_batch, batch_size=self.latency_batch_size, repeats=self.latency_repeats
            )
            metrics[LATENCY_METRIC] = [latency] * length
        history = keras.callbacks.History()
        history.history = metrics
        history.epoch = list(range(initial_epoch, total))
        return history
