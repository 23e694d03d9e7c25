"""The transfer-stage loop shared by `Trainer` and the tuner's `FusionHyperModel`, and `BestWeights`.

Each stage sets which backbone weights train, compiles at the stage's
learning rate and runs the caller's `fit`; `BestWeights`, one callback
across every stage, keeps the weights that validated best so the run ends
with them rather than with the last stage's.

Example:

>>> best = BestWeights("val_loss")
>>> run_stages(model, experiment, experiment.training.stages,
...            lambda stage: model.fit(train_ds, validation_data=val_ds, epochs=stage.epochs, callbacks=[best]),
...            best=best)
>>> best.restore(model); best.summary()
{'stage': 'frozen', 'epoch': 4, 'monitor': 'val_loss', 'value': 0.41}
"""

import numpy as np

from mmfusion_tf._keras import keras
from mmfusion_tf.training.metrics import lower_is_better
from mmfusion_tf.training.model import compile_stage
from mmfusion_tf.training.stages import set_backbones_trainable


def prepare_stage(model, experiment, stage, compile_fn=compile_stage):
    """Freezes/unfreezes the backbones as `stage.backbones` says and compiles; `{modality: trainable weights}`."""
    trainable = set_backbones_trainable(model, experiment.model, stage.backbones)
    compile_fn(model, experiment, stage)
    return trainable


def run_stages(model, experiment, stages, fit_stage, compile_fn=compile_stage, compiled=None, best=None):
    """Runs `fit_stage(stage, trainable)` for each stage after preparing it; returns their results.

    Args:
        model: the experiment's model.
        experiment: its `ExperimentConfig`.
        stages: the `StageConfig`s to run, in order (the caller leaves out finished or empty ones).
        fit_stage: callable `(stage, trainable) -> result`; `trainable` is `prepare_stage`'s
            count (None for the stage given as `compiled`).
        compile_fn: `(model, experiment, stage)` compiler (default `compile_stage`).
        compiled: a stage the model is already prepared for (the tuner's `build` compiles the first).
        best: optional `BestWeights`, told which stage runs.
    """
    results = []
    for stage in stages:
        trainable = None if stage is compiled else prepare_stage(model, experiment, stage, compile_fn)
        if best is not None:
            best.stage = stage.name
        results.append(fit_stage(stage, trainable))
    return results


class BestWeights(keras.callbacks.Callback):
    """Remembers the weights of the epoch that scored best on `monitor`, across every `fit` it joins.

    Unlike `EarlyStopping(restore_best_weights=True)`, one instance spans
    all transfer stages, so a frozen stage that validated better than the
    fine-tuning after it is the one kept. Epochs whose logs lack `monitor`
    (no validation) are ignored.

    Args:
        monitor: metric name (default "val_loss"); losses, errors, latency are minimised,
            anything else maximised (`lower_is_better`).

    Example:

    >>> best = BestWeights()
    >>> model.fit(train_ds, validation_data=val_ds, epochs=3, callbacks=[best]); best.restore(model)
    """

    def __init__(self, monitor="val_loss"):
        super().__init__()
        self.monitor = monitor
        self.lower = lower_is_better(monitor)
        self.stage = None
        self.value = None
        self.best_stage = None
        self.best_epoch = None
        self.weights = None

    def improves(self, value):
        if self.value is None:
            return True
        return value < self.value if self.lower else value > self.value

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or not self.improves(float(value)):
            return
        self.value, self.best_stage, self.best_epoch = float(value), self.stage, int(epoch)
        self.weights = [np.array(w) for w in self.model.get_weights()]

    def restore(self, model):
        """Sets `model`'s weights to the best ones seen (no-op when none was seen)."""
        if self.weights is not None:
            model.set_weights(self.weights)

    def summary(self):
        """`{"stage", "epoch", "monitor", "value"}` of the kept weights, or None."""
        if self.value is None:
            return None
        return {"stage": self.best_stage, "epoch": self.best_epoch, "monitor": self.monitor, "value": self.value}
