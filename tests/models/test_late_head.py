"""Late fusion models: LateFusion returns the mixture's logits, the head only applies the activation."""

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from tests.models.test_builder import _config, _features, _fit, _labels


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_late_fusion_model_round_trips_through_a_keras_file(hub_dir, tmp_path, task):
    config = _config(hub_dir, method="late", task=task, presence=True)
    model = mmf.build_model(config)
    assert model.get_layer("fusion").return_logits is True
    _fit(model, config, _features(presence=True), _labels(task))
    path = str(tmp_path / "late.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = _features(seed=3, presence=True)
    x["text_present"] = np.zeros(len(x["text"]), "float32")  # one modality missing everywhere
    out = model.predict(x, verbose=0)
    activation = tf.nn.softmax if task == "multiclass" else tf.sigmoid
    np.testing.assert_allclose(activation(out["logits"]).numpy(), out["probabilities"], atol=1e-6)
    assert (out["fusion_weights"][:, 1] == 0).all()
    reloaded_out = reloaded.predict(x, verbose=0)
    for key, value in out.items():
        np.testing.assert_allclose(reloaded_out[key], value, atol=1e-6)


def test_late_fusion_regression_predicts_the_weighted_values(hub_dir):
    config = _config(hub_dir, method="late", task="regression")
    model = mmf.build_model(config)
    assert model.get_layer("fusion").return_logits is False
    history = _fit(model, config, _features(), _labels("regression"))
    assert np.isfinite(history.history["loss"][0])
