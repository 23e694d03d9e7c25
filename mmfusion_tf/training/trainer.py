"""`Trainer`: an `ExperimentConfig` -> a trained, checkpointed, evaluated model.

Each transfer-learning stage is an ordinary `fit` with its own learning
rate and its own set of trainable backbone weights (frozen first, then
fine-tuned). Runs are resumable: a finished stage is recorded in
`state.json` with its weights, and an interrupted stage resumes at its next
epoch through `BackupAndRestore`.

Example:

>>> experiment = ExperimentConfig.from_yaml("experiment.yaml")
>>> trainer = Trainer(experiment, "runs/first")
>>> history = trainer.fit()          # frozen stage, then fine-tuning
>>> report = evaluation.write_run_report(trainer)   # report.json + PNGs in runs/first/
"""

import contextlib
import json
import os
import shutil
import time

from mmfusion_tf._keras import quiet_dataset_end
from mmfusion_tf.config import StageConfig
from mmfusion_tf.training.calibration import calibrate
from mmfusion_tf.training.callbacks import stage_callbacks
from mmfusion_tf.training.dead_backbones import DeadBackboneCheck
from mmfusion_tf.training.distribute import is_chief, make_strategy, read_tf_config
from mmfusion_tf.training.experiment_data import (
    adapt_target,
    balanced_class_weights,
    experiment_datasets,
    experiment_sources,
)
from mmfusion_tf.training.files import fingerprint, write_json_atomic
from mmfusion_tf.training.gradient_blending import GradientBlending
from mmfusion_tf.training.history import read_csv_log
from mmfusion_tf.training.model import WARMUP_STAGE, build_experiment_model, training_columns
from mmfusion_tf.training.precision import apply_precision
from mmfusion_tf.training.stage_loop import BestWeights, run_stages

STATE_FILE = "state.json"


class Trainer:
    """Trains the model of an `ExperimentConfig` in transfer-learning stages.

    Args:
        experiment: `ExperimentConfig` (validated here, before any data is read).
        output_dir: run folder: checkpoints, logs, `state.json`,
            `model.keras`, `experiment.yaml`, reports.
        verbose: Keras verbosity (1 = progress bars).
        callbacks: extra Keras callbacks, added to every stage.

    Example:

    >>> trainer = Trainer(ExperimentConfig.from_yaml("exp.yaml"), "runs/a")
    >>> trainer.fit()["fine_tune"]["val_loss"][-1]
    """

    def __init__(self, experiment, output_dir, verbose=1, callbacks=()):
        self.experiment = experiment.validate().with_absolute_paths()
        self.output_dir = os.fspath(output_dir)
        self.verbose = verbose
        self.extra_callbacks = list(callbacks)
        self.precision = apply_precision(experiment.training.precision)
        self.strategy = make_strategy(experiment.training.strategy, tpu=experiment.training.tpu)
        self.chief = is_chief()
        self.model = None
        self.l2sp = None
        self.sources = None
        self.train_ds = self.val_ds = self.test_ds = None
        self.history = {}
        self.state = None

    # --- data and model ------------------------------------------------------

    def prepare_data(self, train=None, validation=None, test=None):
        """Builds the datasets (all checks on rows, files and labels happen here).

        `train`/`validation`/`test` override the sources of `experiment.data`
        (dicts of arrays, DataFrames, manifest paths).
        """
        self.sources = experiment_sources(self.experiment, train, validation, test)
        self.train_ds, self.val_ds, self.test_ds = experiment_datasets(self.experiment, self.sources)
        return self.train_ds, self.val_ds, self.test_ds

    def build(self):
        """Builds the model under the strategy scope (seeded with `training.seed`), with L2-SP and
        alignment if configured."""
        adapt_target(self.experiment, (self.sources or {}).get("train"))
        with self.strategy.scope():
            self.model, self.l2sp = build_experiment_model(
                self.experiment, training_columns(self.experiment, self.sources)
            )
        return self.model

    def stage_plan(self):
        """The stages to run: the contrastive warm-up (if any), then the configured ones."""
        training = self.experiment.training
        stages = list(training.stages)
        contrastive = training.contrastive
        if contrastive.enabled and contrastive.mode == "warmup" and contrastive.warmup_epochs > 0:
            warmup = StageConfig(
                name=WARMUP_STAGE, epochs=contrastive.warmup_epochs,
                learning_rate=contrastive.warmup_learning_rate, backbones="all",
            )
            stages.insert(0, warmup)
        return stages

    # --- training ------------------------------------------------------------

    def _fingerprint(self):
        return fingerprint(self.experiment.to_dict())

    def _load_state(self):
        path = os.path.join(self.output_dir, STATE_FILE)
        if not os.path.exists(path):
            return {"fingerprint": self._fingerprint(), "completed": [], "history": {}}
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("fingerprint") != self._fingerprint():
            raise ValueError(
                f"{self.output_dir} holds a run of a different experiment config; resume needs the same "
                "config. Use a new output folder (or delete this one) to start over."
            )
        return state

    def _save_state(self, state):
        if not self.chief:
            return
        write_json_atomic(os.path.join(self.output_dir, STATE_FILE), state)

    def _stage_weights(self, name):
        return os.path.join(self.output_dir, "stages", f"{name}.weights.h5")

    def _work_dir(self):
        """Chief writes into the run folder, other workers into their own (tf.distribute convention)."""
        if self.chief:
            return self.output_dir
        task = read_tf_config()["task"]
        return os.path.join(self.output_dir, "workers", f"{task['type']}_{task['index']}")

    def fit(self, train=None, validation=None, test=None):
        """Runs every stage not finished yet; returns `{stage: {metric: [per epoch]}}`.

        The model ends with the weights that scored best on `training.monitor`
        over all stages (`training.select_best`, recorded as `selected` in
        `state.json`), then, with `training.calibrate`, its decision blend and
        temperature are fitted on the validation split (`calibration`).
        """
        if self.train_ds is None or train is not None:
            self.prepare_data(train, validation, test)
        if self.model is None:
            self.build()
        os.makedirs(os.path.join(self.output_dir, "stages"), exist_ok=True)
        work_dir = self._work_dir()
        os.makedirs(work_dir, exist_ok=True)
        if self.chief:
            self.experiment.to_yaml(os.path.join(self.output_dir, "experiment.yaml"))
        state = self._load_state()
        final = os.path.join(self.output_dir, "model.keras")
        if state.get("finished") and os.path.exists(final):  # nothing left to do: the kept model
            self.model.load_weights(final)
            self.history, self.state = state["history"], state
            return self.history
        if state["completed"]:
            self.model.load_weights(self._stage_weights(state["completed"][-1]))
        training = self.experiment.training
        class_weight = None
        if training.class_weights == "balanced":
            class_weight = balanced_class_weights(self.experiment, self.sources["train"])
        best = self._best_weights(state)
        blending = None
        if training.balancing == "gradient_blending" and self.val_ds is not None and self.model.modality_heads():
            blending = GradientBlending()
        checked_backbones = []

        def fit_stage(stage, trainable):
            started = time.time()
            if self.verbose:
                print(f"stage {stage.name}: {stage.epochs} epoch(s), learning rate {stage.learning_rate:g}, "
                      f"trainable backbone weights {trainable}")
            warmup = stage.name == WARMUP_STAGE  # only the alignment loss: nothing to validate
            validation = None if warmup else self.val_ds
            extra = list(self.extra_callbacks) + ([best] if best is not None and not warmup else [])
            if not checked_backbones:  # the first stage run warns about frozen backbones that give constant features
                extra.append(DeadBackboneCheck(self.train_ds, self.experiment.model))
                checked_backbones.append(stage.name)
            callbacks = stage_callbacks(
                work_dir, stage, training, validation is not None, extra,
                before_logs=[] if warmup or blending is None else [blending],
            )
            with quiet_dataset_end():
                self.model.fit(
                    self.train_ds, validation_data=validation, epochs=stage.epochs,
                    shuffle=False,  # make_dataset shuffles itself (seeded)
                    callbacks=callbacks, class_weight=None if warmup else class_weight, verbose=self.verbose,
                )
            if self.chief:
                self.model.save_weights(self._stage_weights(stage.name))
                if best is not None and best.best_stage == stage.name:
                    self._save_best(best)
                if not training.checkpoints and state["completed"]:  # resume needs the newest stage only
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(self._stage_weights(state["completed"][-1]))
            state["completed"].append(stage.name)
            state["history"][stage.name] = read_csv_log(os.path.join(work_dir, "logs", f"{stage.name}.csv"))
            state.setdefault("seconds", {})[stage.name] = round(time.time() - started, 2)
            if self.l2sp is not None:
                state.setdefault("l2sp_distance", {})[stage.name] = self.l2sp.distance()
            if best is not None and best.summary() is not None:
                state["selected"] = best.summary()
            self._save_state(state)

        todo = [s for s in self.stage_plan() if s.name not in state["completed"] and s.epochs > 0]
        run_stages(self.model, self.experiment, todo, fit_stage, best=best)
        if best is not None and state.get("selected"):
            if best.weights is not None:
                best.restore(self.model)
            else:  # kept in an earlier session of a resumed run
                self.model.load_weights(self._best_path())
            if self.verbose:
                selected = state["selected"]
                print(f"kept the weights of stage {selected['stage']}, epoch {selected['epoch'] + 1} "
                      f"({selected['monitor']} {selected['value']:.4g}), the best over all stages")
        if training.calibrate and self.val_ds is not None:
            calibration = calibrate(self.model, self.experiment.model, self.val_ds)
            if calibration is not None:
                state["calibration"] = calibration
                self._save_state(state)

        self.history = state["history"]
        self.state = state
        if self.chief:
            self.model.save(final)
            self.experiment.model.to_yaml(os.path.join(self.output_dir, "model_config.yaml"))
            state["finished"] = True
            self._save_state(state)
            if not training.checkpoints:  # model.keras holds the kept weights; one copy is enough
                shutil.rmtree(os.path.join(self.output_dir, "stages"), ignore_errors=True)
        return self.history

    def _best_path(self):
        return os.path.join(self.output_dir, "stages", "best.weights.h5")

    def _best_weights(self, state):
        """The run's `BestWeights` (None without `select_best` or validation), resumed from `state`."""
        training = self.experiment.training
        if not training.select_best or self.val_ds is None:
            return None
        best = BestWeights(training.monitor)
        selected = state.get("selected")
        if selected:  # a resumed run keeps comparing with what it kept before
            best.value, best.best_stage, best.best_epoch = selected["value"], selected["stage"], selected["epoch"]
        return best

    def _save_best(self, best):
        """Writes the best weights (held in memory by `best`) to `stages/best.weights.h5`."""
        current = self.model.get_weights()
        best.restore(self.model)
        self.model.save_weights(self._best_path())
        self.model.set_weights(current)

