"""Balanced training with `Trainer`: best weights over all stages, Gradient-Blending, calibration and
standardised regression targets (tables only, so every run takes seconds)."""

import json

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig
from mmfusion_tf.evaluation import evaluate, write_run_report
from mmfusion_tf.training.calibration import fit_blend, presence_patterns
from mmfusion_tf.training.gradient_blending import blending_weights
from mmfusion_tf.models.losses import StandardizedMeanSquaredError
from mmfusion_tf.training.trainer import Trainer


def _rows(n, seed, task="multiclass"):
    """`signal` carries the label, `noise` nothing."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    rows = {"signal": (label + 0.4 * rng.normal(size=n)).astype("float32"),
            "noise": rng.normal(size=n).astype("float32")}
    if task == "regression":
        rows["label"] = (5000.0 + 800.0 * rows["signal"] + 50.0 * rng.normal(size=n)).astype("float32")
    else:
        rows["label"] = np.array(["a", "b", "c"], dtype=object)[label]
    return rows


def _experiment(task="multiclass", stages=None, presence=False, **training):
    head = (mmf.HeadConfig(task="regression", hidden_units=[16], dropout=0.0, modality_heads=True)
            if task == "regression"
            else mmf.HeadConfig(task="multiclass", labels=["a", "b", "c"], hidden_units=[16], dropout=0.0,
                                modality_heads=True))
    model = mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="useful", numeric_features=["signal"]),
                    mmf.TabularModality(name="useless", numeric_features=["noise"])],
        fusion=mmf.FusionConfig(method="concat", projection_dim=8), head=head, presence_inputs=presence,
    )
    stages = stages or [StageConfig(name="frozen", epochs=4, learning_rate=1e-2)]
    return ExperimentConfig(model=model, data=DataConfig(batch_size=32, augment=False),
                            training=TrainingConfig(stages=stages, precision="float32", tensorboard=False, **training))


def _fit(tmp_path, experiment, task="multiclass", name="run"):
    trainer = Trainer(experiment, tmp_path / name, verbose=0)
    trainer.fit(train=_rows(256, 0, task), validation=_rows(128, 1, task), test=_rows(128, 2, task))
    return trainer


def test_run_keeps_the_weights_of_the_stage_that_validated_best(tmp_path):
    stages = [StageConfig(name="frozen", epochs=3, learning_rate=1e-2),
              StageConfig(name="ruin", epochs=1, learning_rate=30.0)]  # a rate that wrecks the model
    trainer = _fit(tmp_path, _experiment(stages=stages, calibrate=False))
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    selected = state["selected"]
    assert selected["stage"] == "frozen" and selected["monitor"] == "val_loss"
    assert selected["value"] == pytest.approx(min(state["history"]["frozen"]["val_loss"]), rel=1e-6)
    assert min(state["history"]["ruin"]["val_loss"]) > selected["value"]
    # model.keras holds the kept weights: its validation loss is the selected one.
    reloaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    reloaded.compile(loss=mmf.default_loss(trainer.experiment.model.head))
    reloaded_loss = reloaded.evaluate(trainer.val_ds, verbose=0, return_dict=True)["loss"]
    assert reloaded_loss == pytest.approx(selected["value"], rel=1e-4)

    last = _fit(tmp_path, _experiment(stages=stages, calibrate=False, select_best=False), name="last")
    assert "selected" not in last.state
    assert evaluate(last.model, last.val_ds, last.experiment.model)["probabilities"]["accuracy"] < \
        evaluate(trainer.model, trainer.val_ds, trainer.experiment.model)["probabilities"]["accuracy"]


def test_gradient_blending_moves_weight_to_the_head_that_generalises(tmp_path):
    trainer = _fit(tmp_path, _experiment(stages=[StageConfig(name="frozen", epochs=6, learning_rate=1e-2)],
                                         calibrate=False, balancing="gradient_blending"))
    history = trainer.state["history"]["frozen"]
    useful, useless = history["loss_weight_useful"], history["loss_weight_useless"]
    assert useful[0] == useless[0] == 1.0  # the first epoch only measures
    assert useful[-1] > useless[-1]
    assert useful[-1] + useless[-1] == pytest.approx(2.0, rel=1e-5)  # the modality heads keep their total weight
    assert history["loss_weight_fused"] == [1.0] * 6


def test_blending_weights_follow_generalisation_over_overfitting_squared():
    weights = blending_weights([(1.0, 1.2), (1.0, 1.2)], [(0.5, 0.9), (0.9, 1.19)], floor=0.0)
    # ΔG = 0.3 and 0.01, ΔO = 0.2 and 0.09: raw 0.3 / 0.0401 and 0.01 / 0.0082, scaled to mean 1.
    raw = np.array([0.3 / (0.04 + 1e-4), 0.01 / (0.0081 + 1e-4)])
    np.testing.assert_allclose(weights, raw / raw.mean(), rtol=1e-6)
    np.testing.assert_allclose(blending_weights([(1, 1)] * 2, [(1, 1)] * 2), [1.0, 1.0])  # no information: equal


def test_calibration_gives_the_useless_modality_no_weight_and_lowers_validation_loss(tmp_path):
    trainer = _fit(tmp_path, _experiment(presence=True))
    calibration = trainer.state["calibration"]["patterns"]
    assert list(calibration) == ["useful+useless", "useful", "useless"]
    both = calibration["useful+useless"]
    assert both["weights"]["useless"] < 0.05
    assert both["loss"] <= both["loss_fused_only"]
    # Without the useful table, the answer may not use it (its weight is not even listed).
    assert set(calibration["useless"]["weights"]) == {"useless", "fused"}
    report = write_run_report(trainer)
    assert report["training"]["calibration"]["patterns"]["useful+useless"] == both
    heads = report["modality_heads"]
    assert heads["useful"]["accuracy"] > heads["useless"]["accuracy"] + 0.2  # each modality's own answer, scored
    # The fitted blend is in the saved model.
    reloaded = keras.saving.load_model(tmp_path / "run" / "model.keras")
    np.testing.assert_allclose(reloaded.get_layer("decision_blend").blend_weights.numpy(),
                               trainer.model.get_layer("decision_blend").blend_weights.numpy())


def test_fit_blend_finds_the_informative_head_and_a_temperature():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    informative = 3.0 * np.eye(3)[labels] + rng.normal(size=(400, 3))
    noise = rng.normal(size=(400, 3)) * 3.0
    weights, temperature, loss = fit_blend(np.stack([informative, noise], axis=1), labels, "multiclass")
    assert weights[0] > 0.9 and 0.2 < temperature < 5.0
    assert loss < fit_blend(np.stack([noise], axis=1), labels, "multiclass")[2]


def test_presence_patterns_list_every_non_empty_subset_all_present_first():
    config = _experiment(presence=True).model
    assert presence_patterns(config) == [("useful", "useless"), ("useful",), ("useless",)]
    config.presence_inputs = False
    assert presence_patterns(config) == [("useful", "useless")]


def test_regression_targets_are_standardised_in_the_model_and_predictions_stay_in_label_units(tmp_path):
    trainer = _fit(tmp_path, _experiment("regression"), task="regression")
    mean, std = trainer.experiment.model.head.target_stats
    labels = _rows(256, 0, "regression")["label"]
    assert mean == pytest.approx(labels.mean(), rel=1e-5) and std == pytest.approx(labels.std(), rel=1e-4)
    assert isinstance(trainer.model.loss, StandardizedMeanSquaredError)
    saved = ExperimentConfig.from_yaml(str(tmp_path / "run" / "experiment.yaml"))
    assert saved.model.head.target_stats == [mean, std]
    metrics = evaluate(trainer.model, trainer.test_ds, trainer.experiment.model)["prediction"]
    assert metrics["r2"] > 0.8 and metrics["rmse"] < 0.5 * std  # label units, after 4 epochs


def test_the_tuner_can_search_the_modality_heads_loss_weight():
    from mmfusion_tf.tuning.space import hp_to_experiment

    base = _experiment()
    tuned = hp_to_experiment(base, {"auxiliary_weight": 0.3}, {"auxiliary_weight": {"values": [0.3, 1.0]}})
    assert tuned.training.auxiliary_weight == 0.3 and base.training.auxiliary_weight == 1.0
    from mmfusion_tf.training.model import build_experiment_model

    model, _ = build_experiment_model(tuned, adapt_data=_rows(32, 0))
    np.testing.assert_allclose(model.get_layer("modality_heads").loss_weights.numpy(), [0.3, 0.3, 1.0])
