import glob
import os

import keras_tuner as kt
import pytest
import yaml

from mmfusion_tf import fusion
from mmfusion_tf.config import ExperimentConfig, StageConfig
from mmfusion_tf.tuning import (
    DEFAULT_SPACE,
    FusionHyperModel,
    SearchSpace,
    default_search_space,
    hp_to_experiment,
    search_space_from_yaml,
    split_epochs,
)
from tests.training import _experiment as ex

TUNING_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "tuning")


def test_default_space_values_are_pinned(hub_dir):
    hp = kt.HyperParameters()
    FusionHyperModel(ex.experiment(hub_dir)).build(hp)
    # Defaults are the base experiment's values where the space allows them (projection 8 is not in it).
    assert hp.values == {
        "fusion_method": "concat",
        "projection_dim": 16,
        "dropout": 0.0,
        "modality_dropout": 0.3,  # the package default
        "learning_rate": 0.003,
        "fine_tune_learning_rate": 0.001,
        "unfreeze_fraction": 1.0,
    }


def test_default_space_with_weighted_sum_base_activates_the_weights(hub_dir):
    experiment = ex.experiment(hub_dir)
    experiment.model.fusion.method, experiment.model.fusion.projection_dim = "weighted_sum", 32
    experiment.training.stages[1].backbones = 0.5
    assert FusionHyperModel(experiment).declare(kt.HyperParameters()) == {
        "fusion_method": "weighted_sum",
        "weight.image": 0.5,
        "weight.audio": 0.5,
        "projection_dim": 32,
        "dropout": 0.0,
        "modality_dropout": 0.3,  # the package default
        "learning_rate": 0.003,
        "fine_tune_learning_rate": 0.001,
        "unfreeze_fraction": 0.5,
    }


def test_conditional_hyperparameters_follow_the_method(hub_dir):
    hypermodel = FusionHyperModel(ex.experiment(hub_dir))
    hp = kt.HyperParameters()
    hypermodel.declare(hp)
    hp.values["fusion_method"] = "low_rank"
    hp.ensure_active_values()  # as the oracle does for a new trial
    values = hypermodel.declare(hp)
    assert values["low_rank.rank"] in (2, 4, 8)
    assert "weight.image" not in values and "transformer.num_heads" not in values
    hp.values["fusion_method"] = "transformer"
    hp.ensure_active_values()  # as the oracle does for a new trial
    values = hypermodel.declare(hp)
    assert values["transformer.num_heads"] in (1, 2, 4) and "low_rank.rank" not in values
    hp.values["fusion_method"] = "late"
    hp.ensure_active_values()  # as the oracle does for a new trial
    assert {"weight.image", "weight.audio"} <= set(hypermodel.declare(hp))


def test_default_space_methods_and_options_are_the_layers():
    layers = {method: fusion.spec(method) for method in fusion.available()}
    methods = [m for m, layer in layers.items() if layer.in_default_space]
    assert DEFAULT_SPACE["fusion_method"] == {"values": methods}
    assert DEFAULT_SPACE["fusion_options"] == {m: layers[m].search_space for m in methods if layers[m].search_space}
    # The YAML shows the same (and so does the built-in space it is compared with below).
    with open(os.path.join(TUNING_DIR, "default_space.yaml"), encoding="utf-8") as f:
        data = yaml.safe_load(f)
    assert data["fusion_method"]["values"] == methods
    assert data["fusion_options"] == DEFAULT_SPACE["fusion_options"]
    assert "tensor" not in methods and {"low_rank", "transformer"} <= set(DEFAULT_SPACE["fusion_options"])


def test_yaml_default_space_is_the_builtin_one_and_every_yaml_loads():
    assert search_space_from_yaml(os.path.join(TUNING_DIR, "default_space.yaml")) == default_search_space()
    paths = sorted(glob.glob(os.path.join(TUNING_DIR, "*.yaml")))
    assert len(paths) >= 2
    for path in paths:
        space = search_space_from_yaml(path)
        assert SearchSpace.from_dict(space.to_dict()) == space  # canonical form round-trips


def test_hp_to_experiment_normalises_weights_and_sets_both_stages(hub_dir, tmp_path):
    base = ex.experiment(hub_dir)
    values = {
        "fusion_method": "weighted_sum", "weight.image": 0.6, "weight.audio": 0.2, "projection_dim": 32,
        "dropout": 0.30000000000000004, "modality_dropout": 0.1, "learning_rate": 0.002,
        "fine_tune_learning_rate": 2e-4, "unfreeze_fraction": 0.25, "low_rank.rank": 4,
        "tuner/epochs": 2, "tuner/initial_epoch": 0,
    }
    experiment = hp_to_experiment(base, values, epochs=6)
    fusion = experiment.model.fusion
    assert fusion.method == "weighted_sum" and fusion.options == {"weights": [0.75, 0.25], "mode": "fixed"}
    assert sum(fusion.options["weights"]) == pytest.approx(1.0)
    assert (fusion.projection_dim, fusion.modality_dropout, experiment.model.head.dropout) == (32, 0.1, 0.3)
    frozen, fine_tune = experiment.training.stages
    assert (frozen.learning_rate, frozen.backbones, frozen.epochs) == (0.002, "frozen", 3)
    assert (fine_tune.learning_rate, fine_tune.backbones, fine_tune.epochs) == (2e-4, 0.25, 3)
    assert base.model.fusion.method == "concat"  # the base is left alone
    # What `mmfusion train` reads back.
    path = tmp_path / "best.yaml"
    experiment.to_yaml(str(path))
    loaded = ExperimentConfig.from_yaml(str(path))
    assert loaded.model == experiment.model and loaded.training == experiment.training

    low_rank = hp_to_experiment(base, {"fusion_method": "low_rank", "low_rank.rank": 8, "unfreeze_fraction": 1.0})
    assert low_rank.model.fusion.options == {"rank": 8} and low_rank.training.stages[1].backbones == "all"


def test_split_epochs_follows_the_configured_stages():
    assert split_epochs([4, 6], 6) == [2, 4]
    assert split_epochs([2, 2], 1) == [1, 0]
    assert split_epochs([2, 2], 2) == [1, 1]
    assert split_epochs([1, 9], 2) == [1, 1]  # each stage gets an epoch while the budget lasts
    assert split_epochs([5, 3], 8) == [5, 3]
    assert split_epochs([5, 3], 16) == [10, 6]
    assert split_epochs([5, 0], 3) == [3, 0]
    assert sum(split_epochs([3, 2, 1], 7)) == 7


@pytest.mark.parametrize(
    "space, message",
    [
        ({"learning_rat": {"min": 1e-4, "max": 1e-2}}, "Unknown key(s) ['learning_rat']"),
        ({"dropout": {"min": 0.0, "max": 1.5}}, "dropout must hold numbers in [0.0, 1.0)"),
        ({"projection_dim": {"values": [16, 0]}}, "projection_dim must hold integers"),
        ({"learning_rate": {"min": 0.0, "max": 0.1, "sampling": "log"}}, "min must be > 0 with sampling='log'"),
        ({"fusion_method": {"values": ["concat", "mlp"]}}, "Unknown fusion method 'mlp' in search space.fusion_method"),
        ({"fusion_options": {"mlp": {"rank": 4}}}, "Unknown fusion method 'mlp' in search space.fusion_options"),
        # `weights` and `mode` of a weighted layer come from `fusion_weights`.
        ({"fusion_options": {"late": {"mode": "fixed"}}},
         "Unknown key(s) ['mode'] in search space.fusion_options.late for method 'late'"),
        ({"fusion_method": {"values": ["concat"]}, "fusion_options": {"low_rank": {"rank": 4}}}, "never active"),
        ({"fusion_options": {"low_rank": {"heads": 4}}}, "Unknown key(s) ['heads'] in search space.fusion_options"),
        ({"fusion_weights": {"min": 0.0, "max": 1.0, "mode": "softmax"}}, "> 0 with mode='softmax'"),
        ({"unfreeze_fraction": {"values": [0.5], "default": 1.0}}, "default must be one of the values"),
        ({"projection_dim": {"min": 8.5, "max": 64}}, "projection_dim must be a range of integers"),
    ],
)
def test_space_errors_name_the_key(space, message):
    with pytest.raises(ValueError) as error:
        SearchSpace.from_dict(space)
    assert message in str(error.value)


def test_numeric_types_follow_the_setting_not_the_yaml_spelling(hub_dir):
    space = {
        "fusion_weights": {"min": 0, "max": 1, "default": 1},  # floats even when written as integers
        "dropout": {"values": [0, 0.5]},
        "projection_dim": {"min": 16, "max": 64, "step": 16},
    }
    checked = SearchSpace.from_dict(space)
    assert checked.dropout["values"] == [0.0, 0.5]
    assert checked.projection_dim == {"min": 16, "max": 64, "step": 16, "sampling": "linear", "default": None}
    experiment = ex.experiment(hub_dir)
    experiment.model.fusion.method = "weighted_sum"
    hp = kt.HyperParameters()
    FusionHyperModel(experiment, space).declare(hp)
    assert [type(p).__name__ for p in hp.space] == ["Float", "Float", "Int", "Choice"]
    assert hp.values["weight.image"] == 1.0 and hp.values["projection_dim"] == 16


def test_space_that_does_not_fit_the_base_fails_before_any_trial(hub_dir):
    experiment = ex.experiment(hub_dir, stages=[StageConfig(name="frozen", epochs=2)])
    with pytest.raises(ValueError, match="second transfer stage"):
        FusionHyperModel(experiment)  # the default space tunes stage 2
    with pytest.raises(ValueError, match=r"Unknown hyperparameter\(s\) \['width'\]"):
        hp_to_experiment(ex.experiment(hub_dir), {"width": 3})
