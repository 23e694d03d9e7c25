import warnings

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.config import StageConfig
from mmfusion_tf.hub import export_keras_as_hub_module
from mmfusion_tf.training import DeadBackboneCheck, DeadBackboneWarning, dead_backbones
from mmfusion_tf.training.trainer import Trainer
from tests import hub_modules as hm
from tests.training import _experiment as ex


@pytest.fixture(scope="module")
def dead_hub_dir(hub_dir, tmp_path_factory):
    """The test hub with an image module whose features are ~1e-12, as a random-init network gives."""
    keras.utils.set_random_seed(4)
    images = keras.Input((hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    features = keras.layers.Dense(
        hm.IMAGE_DIM, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-12), bias_initializer="zeros"
    )(pooled)
    path = export_keras_as_hub_module(keras.Model(images, features), str(tmp_path_factory.mktemp("dead") / "image"))
    return {**hub_dir, "image": path}


def _trainer(tmp_path, hub_dir, stages):
    trainer = Trainer(ex.experiment(hub_dir, stages=stages), tmp_path, verbose=0)
    trainer.prepare_data(train=ex.make_data(48), validation=ex.make_data(16, seed=1))
    return trainer


FROZEN = [StageConfig(name="frozen", epochs=1, learning_rate=1e-3, backbones="frozen")]


def test_dead_backbone_is_found_and_healthy_ones_are_not(hub_dir, dead_hub_dir):
    data = ex.make_data(16)
    features = {k: data[k] for k in ("image", "audio")}
    healthy_config = ex.model_config(hub_dir)
    assert dead_backbones(mmf.build_model(healthy_config), healthy_config, features) == []
    dead_config = ex.model_config(dead_hub_dir)
    dead = dead_backbones(mmf.build_model(dead_config), dead_config, features)
    assert [d["modality"] for d in dead] == ["image"]
    assert dead[0]["spread"] < 1e-9 and dead[0]["handle"] == dead_hub_dir["image"]


def test_trainer_warns_once_naming_the_modality(tmp_path, dead_hub_dir):
    two_stages = FROZEN + [StageConfig(name="fine_tune", epochs=1, learning_rate=1e-3, backbones="all")]
    trainer = _trainer(tmp_path, dead_hub_dir, two_stages)
    with pytest.warns(DeadBackboneWarning) as record:
        trainer.fit()
    messages = [str(w.message) for w in record if issubclass(w.category, DeadBackboneWarning)]
    assert len(messages) == 1
    assert "Frozen backbone of modality 'image'" in messages[0]
    assert "random-init weights" in messages[0]


def test_no_warning_for_a_trainable_backbone(dead_hub_dir):
    config = ex.model_config(dead_hub_dir)
    config.modalities[0].trainable = True  # fine-tuned from the start: its features may well start constant
    model = mmf.build_model(config)
    model.compile("adam", loss=mmf.default_loss(config.head))
    data = ex.make_data(32)
    check = DeadBackboneCheck({k: data[k] for k in ("image", "audio")}, config)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadBackboneWarning)
        model.fit(
            {k: data[k] for k in ("image", "audio")}, np.zeros(32, "int64"), epochs=1, verbose=0, callbacks=[check]
        )
    assert check.dead == []


def test_callback_with_plain_fit(dead_hub_dir):
    config = ex.model_config(dead_hub_dir)
    model = mmf.build_model(config)
    model.compile("adam", loss=mmf.default_loss(config.head))
    data = ex.make_data(32)
    features = {k: data[k] for k in ("image", "audio")}
    labels = np.array([ex.LABELS.index(v) for v in data["label"]])
    check = DeadBackboneCheck(features, config)
    with pytest.warns(DeadBackboneWarning, match="modality 'image'"):
        model.fit(features, labels, epochs=1, verbose=0, callbacks=[check])
    assert [d["modality"] for d in check.dead] == ["image"]
