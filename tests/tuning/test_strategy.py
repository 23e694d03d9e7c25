"""Trials under a tuner's `distribution_strategy` and compile arguments: every stage honours both."""

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.tuning import FusionHyperModel, make_tuner
from tests.training import _experiment as ex
from tests.tuning import _tiny


class _Compiled(keras.callbacks.Callback):
    """Optimizer, loss and learning rate (as the stage's schedule set it) of each epoch.

    A class-level log: the tuner runs a deep copy of the callbacks in each trial.
    """

    epochs = []

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        _Compiled.epochs.append((type(optimizer).__name__, type(self.model.loss).__name__, rate))


@pytest.mark.slow  # ~40 s of training; CI runs it in the slow tier
def test_two_stage_trials_keep_the_tuners_strategy_optimizer_loss_and_metrics(hub_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(FusionHyperModel, "_compile", _tiny.eager_compile)
    experiment = ex.experiment(hub_dir)
    train_ds, val_ds = _tiny.datasets(experiment)
    hypermodel = FusionHyperModel(experiment, {"projection_dim": {"values": [8, 16]}})
    compiled = _Compiled()
    _Compiled.epochs.clear()
    tuner = make_tuner(
        "random", hypermodel, "val_top", tmp_path, max_trials=2, seed=1,
        distribution_strategy=tf.distribute.MirroredStrategy(["/cpu:0"]),
        optimizer=keras.optimizers.SGD(0.01), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top")],
    )
    tuner.search(train_ds, validation_data=val_ds, epochs=2, callbacks=[compiled], verbose=0)  # 1 epoch per stage

    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" and np.isfinite(t.score) for t in trials)
    # Stage 1 (frozen, 3e-3) and stage 2 (fine-tuning, 1e-3) alike: the tuner's optimizer, loss and metrics.
    assert len(_Compiled.epochs) == 4
    for trial in range(2):
        stage_1, stage_2 = _Compiled.epochs[2 * trial:2 * trial + 2]
        assert stage_1[:2] == stage_2[:2] == ("SGD", "SparseCategoricalCrossentropy")
        assert np.isclose(stage_1[2], 3e-3) and np.isclose(stage_2[2], 1e-3)
