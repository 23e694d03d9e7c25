import json
import os

import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf._private_apis import created_trainable_variables
from mmfusion_tf.config import ContrastiveConfig, ExperimentConfig, StageConfig
from mmfusion_tf.models.contrastive import paired_similarity
from mmfusion_tf.training.l2sp import backbone_variables
from mmfusion_tf.training.stages import set_backbones_trainable, stage_learning_rate
from mmfusion_tf.training.trainer import Trainer
from tests.training import _experiment as ex


def _backbone_values(model):
    return [np.array(v.value) for v in backbone_variables(model)]


def _trainer(tmp_path, hub_dir, name="run", n=96, **kwargs):
    data = ex.make_data(n)
    trainer = Trainer(ex.experiment(hub_dir, **kwargs), tmp_path / name, verbose=0)
    trainer.prepare_data(train=data, validation=ex.make_data(32, seed=1), test=ex.make_data(32, seed=2))
    return trainer


def test_two_stages_freeze_then_fine_tune_and_write_run_files(tmp_path, hub_dir):
    trainer = _trainer(tmp_path, hub_dir)
    model = trainer.build()
    start = _backbone_values(model)
    frozen_only = Trainer(ex.experiment(hub_dir, stages=[StageConfig(name="frozen", epochs=1)]), tmp_path / "f",
                          verbose=0)
    frozen_only.train_ds, frozen_only.val_ds, frozen_only.sources = trainer.train_ds, trainer.val_ds, trainer.sources
    frozen_model = frozen_only.build()
    frozen_start = _backbone_values(frozen_model)
    frozen_only.fit()
    for before, after in zip(frozen_start, _backbone_values(frozen_model)):
        np.testing.assert_array_equal(before, after)  # stage 1 leaves the pretrained weights alone

    history = trainer.fit()
    assert list(history) == ["frozen", "fine_tune"]
    assert len(history["frozen"]["loss"]) == 2 and len(history["fine_tune"]["val_loss"]) == 2
    assert any(np.abs(b - a).max() > 0 for b, a in zip(start, _backbone_values(model)))  # stage 2 fine-tunes
    # The cosine schedule is what fit used, epoch by epoch.
    np.testing.assert_allclose(history["fine_tune"]["learning_rate"], [1e-3, 5e-4], rtol=1e-5)
    run = tmp_path / "run"
    for path in ["state.json", "model.keras", "model_config.yaml", "experiment.yaml", "logs/frozen.csv",
                 "logs/fine_tune.csv"]:
        assert (run / path).exists(), path
    # A lean run: the kept weights live in model.keras only (no per-stage or per-epoch copies).
    assert not (run / "stages").exists() and not (run / "checkpoints").exists()
    assert not [f for f in run.rglob("*.h5")]
    assert not (run / "backup" / "fine_tune").exists() or not os.listdir(run / "backup" / "fine_tune")
    state = json.loads((run / "state.json").read_text())
    assert state["completed"] == ["frozen", "fine_tune"] and state["finished"]
    # experiment.yaml is a config `mmfusion train` accepts again.
    assert ExperimentConfig.from_yaml(str(run / "experiment.yaml")).training == trainer.experiment.training


def test_checkpoints_true_keeps_every_stage_and_epoch_file_and_a_finished_run_reloads(tmp_path, hub_dir):
    stages = [StageConfig(name="frozen", epochs=1, backbones="frozen"), StageConfig(name="fine_tune", epochs=1)]
    trainer = _trainer(tmp_path, hub_dir, n=32, stages=stages, checkpoints=True)
    trainer.fit()
    run = tmp_path / "run"
    for path in ["checkpoints/fine_tune/last.weights.h5", "checkpoints/fine_tune/best.weights.h5",
                 "stages/frozen.weights.h5", "stages/fine_tune.weights.h5", "stages/best.weights.h5"]:
        assert (run / path).exists(), path
    features = {k: v[:4] for k, v in ex.make_data(4, seed=3).items() if k != "label"}
    expected = trainer.model.predict_on_batch(features)["probabilities"]
    again = _trainer(tmp_path, hub_dir, n=32, stages=stages, checkpoints=True)
    assert list(again.fit()) == ["frozen", "fine_tune"]  # nothing trained again: the kept model is loaded
    np.testing.assert_allclose(again.model.predict_on_batch(features)["probabilities"], expected, atol=1e-6)


def test_fraction_unfreezes_top_part_of_each_backbone(hub_dir):
    model_config = ex.model_config(hub_dir)
    import mmfusion_tf as mmf

    model = mmf.build_model(model_config)
    everything = set_backbones_trainable(model, model_config, "all")
    half = set_backbones_trainable(model, model_config, 0.5)
    assert set_backbones_trainable(model, model_config, "frozen") == {"image": 0, "audio": 0}
    for name in ("image", "audio"):
        assert half[name] == -(-everything[name] // 2)
    set_backbones_trainable(model, model_config, 0.5)
    hub = model.get_layer("image_encoder").backbone
    flags = [v.trainable for v in created_trainable_variables(hub)]
    assert flags == sorted(flags)  # bottom frozen, top trainable


def test_stage_learning_rate_warmup_and_cosine():
    stage = StageConfig(epochs=5, learning_rate=1.0, lr_schedule="cosine", warmup_epochs=1)
    rates = [stage_learning_rate(stage, e) for e in range(5)]
    np.testing.assert_allclose(rates, [0.5, 1.0, 0.853553, 0.5, 0.146447], atol=1e-5)
    assert stage_learning_rate(StageConfig(epochs=3, learning_rate=0.1), 2) == 0.1


@pytest.mark.slow  # long training; runs in CI's slow tier
def test_l2_sp_keeps_backbone_closer_to_pretrained_than_plain_fine_tuning(tmp_path, hub_dir):
    stages = [StageConfig(name="fine_tune", epochs=2, learning_rate=1e-2, backbones="all")]
    distances = {}
    for alpha in (0.0, 10.0):
        keras.utils.set_random_seed(0)
        trainer = _trainer(tmp_path, hub_dir, name=f"a{alpha}", stages=stages, l2_sp=alpha)
        model = trainer.build()
        start = _backbone_values(model)
        trainer.fit()
        distances[alpha] = float(np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(_backbone_values(model), start))))
    assert distances[10.0] < 0.2 * distances[0.0], distances
    assert trainer.l2sp.distance() == pytest.approx(distances[10.0], rel=1e-4)


@pytest.mark.slow  # long training; runs in CI's slow tier
def test_contrastive_warmup_raises_paired_similarity_on_held_out(tmp_path, hub_dir):
    keras.utils.set_random_seed(0)
    contrastive = ContrastiveConfig(weight=1.0, mode="warmup", warmup_epochs=4, warmup_learning_rate=1e-2,
                                    projection_dim=8)
    trainer = _trainer(tmp_path, hub_dir, n=192, contrastive=contrastive,
                       stages=[StageConfig(name="frozen", epochs=1, learning_rate=1e-3)])
    model = trainer.build()
    held_out = {k: v for k, v in ex.make_data(64, seed=7).items() if k != "label"}
    before = paired_similarity(model, held_out)["image-audio"]
    trainer.fit()
    assert [s.name for s in trainer.stage_plan()] == ["contrastive_warmup", "frozen"]
    after = paired_similarity(model, held_out)["image-audio"]
    assert after["paired"] > after["unpaired"] + 0.2, after
    assert after["gap"] > before["gap"] + 0.2, (before, after)


def test_class_weights_and_label_smoothing_reach_fit(tmp_path, hub_dir):
    trainer = _trainer(tmp_path, hub_dir, class_weights="balanced", label_smoothing=0.1,
                       stages=[StageConfig(name="frozen", epochs=1)])
    trainer.fit()
    assert trainer.model.loss.label_smoothing == pytest.approx(0.1)
    from mmfusion_tf.training.experiment_data import balanced_class_weights

    weights = balanced_class_weights(trainer.experiment, trainer.sources["train"])
    counts = np.bincount([ex.LABELS.index(v) for v in trainer.sources["train"]["label"]], minlength=3)
    np.testing.assert_allclose([weights[i] for i in range(3)], counts.sum() / (3 * counts))


def test_trainer_under_mixed_bfloat16_keeps_float32_outputs_and_finite_losses(tmp_path, hub_dir):
    contrastive = ContrastiveConfig(weight=0.1, projection_dim=8)
    trainer = _trainer(tmp_path, hub_dir, n=48, precision="mixed_bfloat16", l2_sp=0.01, contrastive=contrastive,
                       stages=[StageConfig(name="fine_tune", epochs=1, learning_rate=1e-3, backbones="all")])
    assert trainer.precision == "mixed_bfloat16"
    history = trainer.fit()
    assert np.isfinite(history["fine_tune"]["loss"]).all()
    outputs = trainer.model.predict(trainer.val_ds, verbose=0)
    assert outputs["probabilities"].dtype == np.float32
    np.testing.assert_allclose(outputs["probabilities"].sum(-1), 1.0, atol=1e-5)


def test_build_initialises_the_weights_from_training_seed(tmp_path, hub_dir):
    def weights(seed):
        trainer = Trainer(ex.experiment(hub_dir, seed=seed), tmp_path / f"seed{seed}", verbose=0)
        return trainer.build().get_weights()

    first, again, other = weights(3), weights(3), weights(4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
