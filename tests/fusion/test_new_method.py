"""A new fusion method is one new file plus its line in `fusion._LAYERS`.

Two methods, each a file as it would be in `mmfusion_tf/fusion/` (here in a
temporary folder added to the package's path), are registered with one
`_LAYERS` entry each and nothing else. Config validation, the model builder
and the tuner then pick them up from their class attributes: `mean` is a
feature-level method with an option of its own that the default space
searches, `vote` a decision-level method the default space leaves out.
"""

import importlib
import sys

import keras_tuner as kt
import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf import fusion
from mmfusion_tf._keras import keras
from mmfusion_tf.config import ExperimentConfig, TrainingConfig
from mmfusion_tf.tuning import FusionHyperModel, default_search_space, hp_to_experiment

MEAN_PY = '''
"""Mean of the projected modalities, times `scale`."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion, check_positive_int

ops = keras.ops


@keras.saving.register_keras_serializable(package="tests")
class MeanFusion(BaseFusion):
    options = {"scale": 1, "dropout": 0.0}
    search_space = {"scale": {"values": [2, 3]}}
    in_default_space = True

    def __init__(self, projection_dim=64, scale=1, dropout=0.0, **kwargs):
        super().__init__(projection_dim=projection_dim, dropout=dropout, **kwargs)
        self.scale = check_positive_int("scale", scale)

    def _fuse(self, features, mask, inputs, training=None):
        weights = self._uniform_weights(mask)
        fused = ops.sum(ops.stack(features, axis=1) * weights[:, :, None], axis=1)
        return fused * self.scale, weights

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
'''

VOTE_PY = '''
"""Decision-level: the mean of per-modality logits."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion

ops = keras.ops


@keras.saving.register_keras_serializable(package="tests")
class VoteFusion(BaseFusion):
    decision_level = True

    def __init__(self, num_outputs, activation="softmax", return_logits=False, dropout=0.0, **kwargs):
        super().__init__(projection_dim=num_outputs, dropout=dropout, **kwargs)
        self.activation, self.return_logits = activation, return_logits

    def _fuse(self, features, mask, inputs, training=None):
        weights = self._uniform_weights(mask)
        logits = ops.sum(ops.stack(features, axis=1) * weights[:, :, None], axis=1)
        if self.return_logits or self.activation == "linear":
            return logits, weights
        return keras.activations.get(self.activation)(logits), weights

    def get_config(self):
        config = super().get_config()
        num_outputs = config.pop("projection_dim")
        return {**config, "num_outputs": num_outputs, "activation": self.activation,
                "return_logits": self.return_logits}
'''

NEW_METHODS = {"mean": ("mean", "MeanFusion", MEAN_PY), "vote": ("vote", "VoteFusion", VOTE_PY)}
N = 8


@pytest.fixture(scope="module", autouse=True)
def new_methods(tmp_path_factory):
    """Writes the two files into a folder on the fusion package's path and adds their `_LAYERS` lines."""
    folder = tmp_path_factory.mktemp("new_fusion_methods")
    for module, _, source in NEW_METHODS.values():
        (folder / f"{module}.py").write_text(source, encoding="utf-8")
    importlib.invalidate_caches()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fusion, "__path__", [*fusion.__path__, str(folder)])
        for name, (module, cls, _) in NEW_METHODS.items():
            patch.setitem(fusion._LAYERS, name, (module, cls))
        yield
    for module, cls, _ in NEW_METHODS.values():
        sys.modules.pop(f"{fusion.__name__}.{module}", None)
        keras.saving.get_custom_objects().pop(f"tests>{cls}", None)


def _config(method, options=None):
    return mmf.ModelConfig(
        modalities=[
            mmf.TabularModality(name="size", numeric_features=["beds"], numeric_stats={"beds": [2.0, 1.0]}),
            mmf.TabularModality(name="place", categorical_features={"city": ["a", "b"]}),
        ],
        fusion=mmf.FusionConfig(method=method, projection_dim=8, options=options or {}, modality_dropout=0.0),
        head=mmf.HeadConfig(task="multiclass", labels=["x", "y", "z"], hidden_units=[4], modality_heads=False),
    )


def _features():
    rng = np.random.default_rng(0)
    return {"beds": rng.integers(1, 4, N).astype("float32"), "city": np.array(["a", "b"] * (N // 2), dtype=object)}


def test_config_validation_knows_the_new_methods_and_their_options():
    assert fusion.available()[-2:] == ["mean", "vote"]
    _config("mean", {"scale": 2}).validate()
    _config("vote").validate()
    with pytest.raises(ValueError) as error:
        _config("mean", {"rank": 2}).validate()
    assert str(error.value) == (
        "Unknown key(s) ['rank'] in fusion.options for method 'mean'. Allowed keys: ['dropout', 'scale']"
    )
    # The builder sets num_outputs, activation and return_logits of a decision-level layer.
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['num_outputs'\] in fusion.options for method 'vote'"):
        _config("vote", {"num_outputs": 3}).validate()
    with pytest.raises(ValueError, match=r"Unknown fusion method 'meen'.*'mean', 'vote', 'auto'\]"):
        _config("meen").validate()


def test_builder_gives_a_feature_level_method_the_projection_and_the_head(tmp_path):
    config = _config("mean", {"scale": 3})
    model = mmf.build_model(config)
    layer = model.get_layer("fusion")
    assert type(layer).__name__ == "MeanFusion" and (layer.projection_dim, layer.scale) == (8, 3)
    names = [x.name for x in model.layers]
    assert "head_hidden_0" in names and "logits" in names  # the head's own layers on the fused features
    out = model.predict(_features(), verbose=0)
    np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["fusion_weights"], 0.5)
    # config -> model -> file -> model, and config -> YAML -> config.
    path = str(tmp_path / "mean.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    assert reloaded.get_layer("fusion").get_config() == layer.get_config()
    again = reloaded.predict(_features(), verbose=0)
    np.testing.assert_allclose(again["probabilities"], out["probabilities"], atol=1e-6)
    assert mmf.ModelConfig.from_yaml(config.to_yaml()) == config


def test_builder_asks_decision_level_not_the_class():
    config = _config("vote")
    model = mmf.build_model(config)
    layer = model.get_layer("fusion")
    assert type(layer).__name__ == "VoteFusion"
    assert (layer.projection_dim, layer.activation, layer.return_logits) == (3, "softmax", True)
    names = [x.name for x in model.layers]
    assert "head_hidden_0" not in names and "logits" not in names  # the head only applies the activation
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    out = model.predict(_features(), verbose=0)
    np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)


def test_tuner_default_space_searches_the_new_options():
    space = default_search_space()
    assert space.method_values()[-1] == "mean" and "vote" not in space.method_values()  # vote: not in_default_space
    assert space.fusion_options["mean"] == {"scale": {"values": [2, 3], "default": None}}

    base = ExperimentConfig(model=_config("concat"), training=TrainingConfig(precision="float32", tensorboard=False))
    hypermodel = FusionHyperModel(base)
    hp = kt.HyperParameters()
    hypermodel.declare(hp)
    hp.values["fusion_method"] = "mean"
    hp.ensure_active_values()  # as the oracle does for a new trial
    values = hypermodel.declare(hp)
    assert values["mean.scale"] in (2, 3) and "weight.size" not in values
    model = hypermodel.build(hp)
    assert type(model.get_layer("fusion")).__name__ == "MeanFusion"
    assert model.get_layer("fusion").scale == values["mean.scale"]
    assert hp_to_experiment(base, {"fusion_method": "mean", "mean.scale": 3}).model.fusion.options == {"scale": 3}
    with pytest.raises(ValueError, match=r"Unknown key\(s\) \['rank'\] in search space.fusion_options.mean"):
        FusionHyperModel(base, {"fusion_method": {"values": ["mean"]}, "fusion_options": {"mean": {"rank": 2}}})
