import json
import os

import keras_tuner as kt
import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.tabular import TabularEncoder
from mmfusion_tf.config import ExperimentConfig, TrainingConfig
from mmfusion_tf.training.l2sp import backbone_variables
from mmfusion_tf.tuning import FusionHyperModel, make_tuner
from mmfusion_tf.tuning import hypermodel as hypermodel_module
from mmfusion_tf.tuning.cost import sample_inputs
from tests.evaluation import _models as eval_models
from tests.training import _experiment as ex
from tests.tuning import _tiny


def _backbone(model):
    return [np.array(v.value) for v in backbone_variables(model)]


class _Snapshots(keras.callbacks.Callback):
    """Backbone weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch] = _backbone(self.model)


def test_fit_runs_both_stages_within_the_budget_and_honours_initial_epoch(hub_dir, monkeypatch):
    monkeypatch.setattr(FusionHyperModel, "_compile", _tiny.eager_compile)
    batches = []
    monkeypatch.setattr(hypermodel_module, "sample_inputs", lambda *a: batches.append(1) or sample_inputs(*a))
    experiment = ex.experiment(hub_dir)
    train_ds, val_ds = _tiny.datasets(experiment)
    space = {"unfreeze_fraction": {"values": [0.5]}}
    hypermodel = FusionHyperModel(experiment, space, cost_aware=True, latency_repeats=2)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    start = _backbone(model)
    snapshots = _Snapshots()
    history = hypermodel.fit(hp, model, train_ds, validation_data=val_ds, epochs=2, callbacks=[snapshots], verbose=0)

    assert history.epoch == [0, 1] and len(history.history["val_f1_macro"]) == 2
    for before, after in zip(start, snapshots.by_epoch[0]):
        np.testing.assert_array_equal(before, after)  # stage 1: backbones frozen
    changed = [np.abs(a - b).max() > 0 for a, b in zip(snapshots.by_epoch[0], snapshots.by_epoch[1])]
    assert any(changed) and not all(changed)  # stage 2: only the top half of each backbone trains
    assert history.history["params"] == [float(model.count_params())] * 2
    assert history.history["latency_ms"][0] > 0 and "learning_rate" not in history.history

    # A Hyperband continuation (epochs 1 -> 2) runs only what is left: the fine-tuning epoch.
    resumed = hypermodel.fit(hp, model, train_ds, validation_data=val_ds, epochs=2, initial_epoch=1, verbose=0)
    assert resumed.epoch == [1] and len(resumed.history["loss"]) == 1
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)  # the fine-tuning stage's rate
    assert len(batches) == 1  # the timed batch is fetched once, then reused by every trial


def test_tabular_statistics_adapt_once_and_every_build_starts_from_the_seed(monkeypatch):
    adapted = []
    adapt = TabularEncoder.adapt
    monkeypatch.setattr(TabularEncoder, "adapt", lambda self, data: adapted.append(self.name) or adapt(self, data))
    config = eval_models.tabular_config(presence=False)
    for modality in config.modalities:
        modality.numeric_stats = {}
    experiment = ExperimentConfig(model=config, training=TrainingConfig(seed=4))
    data = eval_models.tabular_data()
    hypermodel = FusionHyperModel(experiment, {"dropout": {"values": [0.0, 0.2]}}, adapt_data=data)
    assert adapted == ["left_encoder", "right_encoder"]
    assert hypermodel.base_config.model.modalities[0].numeric_stats["x1"][0] == pytest.approx(data["x1"].mean())

    first = hypermodel.build(kt.HyperParameters())
    second = hypermodel.build(kt.HyperParameters())
    assert adapted == ["left_encoder", "right_encoder"]  # not again per trial
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)  # both initialised from training.seed


# Each tuner on a space it is made for: continuous ranges (Bayesian), a small grid, conditional choices
# (Hyperband). RandomSearch runs in test_command.py and test_distributed.py.
SPACES = {
    "bayesian": {"learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"}, "dropout": {"min": 0.0, "max": 0.5}},
    "grid": {"projection_dim": {"values": [8, 16]}},
    "hyperband": _tiny.SMALL_SPACE,
}


@pytest.mark.parametrize("kind", list(SPACES))
def test_stock_tuners_search_the_space(kind, hub_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(FusionHyperModel, "_compile", _tiny.eager_compile)
    experiment = ex.experiment(hub_dir)
    train_ds, val_ds = _tiny.datasets(experiment)
    hypermodel = FusionHyperModel(experiment, SPACES[kind])
    if kind == "hyperband":  # brackets of 1 and 2 epochs: one trial continues another
        tuner = make_tuner(
            kind, hypermodel, "val_f1_macro", tmp_path, max_trials=3, max_epochs=2, hyperband_factor=2, seed=2
        )
        tuner.search(train_ds, validation_data=val_ds, verbose=0)
    else:
        tuner = make_tuner(kind, hypermodel, "val_f1_macro", tmp_path, max_trials=2, seed=1)
        tuner.search(train_ds, validation_data=val_ds, epochs=1, verbose=0)

    trials = list(tuner.oracle.trials.values())
    assert len(trials) == (3 if kind == "hyperband" else 2)
    assert all(t.status == "COMPLETED" and np.isfinite(t.score) for t in trials)
    assert all(t.metrics.exists("val_f1_macro") and t.metrics.exists("params") for t in trials)
    values = [t.hyperparameters.values for t in trials]
    assert len({json.dumps(v, sort_keys=True) for v in values}) == len(values)
    if SPACES[kind] is _tiny.SMALL_SPACE:
        for v in values:
            assert ("weight.image" in v) == (v["fusion_method"] == "weighted_sum")  # conditional on the method
    if kind == "grid":
        assert sorted(v["projection_dim"] for v in values) == [8, 16]
    if kind == "hyperband":
        assert any(v.get("tuner/initial_epoch") == 1 for v in values)
    best = tuner.get_best_hyperparameters()[0]
    assert hypermodel.experiment(best.values).training.stages[0].learning_rate == pytest.approx(
        best.values.get("learning_rate", 3e-3)
    )
    assert os.path.exists(os.path.join(tmp_path, "search", "oracle.json"))
