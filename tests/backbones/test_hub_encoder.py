import json

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.hub_encoder import HubEncoder
from tests import hub_modules


def _images(n=8, seed=0):
    return np.random.default_rng(seed).random((n, hub_modules.IMAGE_SIZE, hub_modules.IMAGE_SIZE, 3)).astype("float32")


def test_restored_variables_are_the_layer_weights(hub_dir):
    encoder = HubEncoder(hub_dir["image"], trainable=True)
    module_vars = encoder._module.variables
    assert len(encoder.weights) == len(module_vars)
    assert {id(w.value) for w in encoder.weights} == {id(v) for v in module_vars}
    # names are sanitised: no ':0' and no slashes (optimizer slot names reject them)
    assert all(":" not in w.name and "/" not in w.name for w in encoder.weights)
    # BatchNorm moving statistics stay non-trainable
    assert len(encoder.trainable_weights) == len(encoder._module.trainable_variables)
    assert len(encoder.non_trainable_weights) > 0


@pytest.mark.parametrize("trainable", [True, False])
def test_fit_fine_tunes_only_when_trainable(hub_dir, trainable):
    encoder = HubEncoder(hub_dir["image"], trainable=trainable)
    images = keras.Input((hub_modules.IMAGE_SIZE, hub_modules.IMAGE_SIZE, 3))
    model = keras.Model(images, keras.layers.Dense(2)(encoder(images)))
    x, y = _images(32), np.arange(32) % 2
    before = encoder(x).numpy()
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    change = np.abs(encoder(x).numpy() - before).max()
    if trainable:
        assert change > 1e-4
    else:
        assert change == 0.0


def test_mixed_precision_boundary(hub_dir):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    encoder = HubEncoder(hub_dir["image"])
    out = encoder(tf.cast(_images(2), tf.bfloat16))
    assert out.dtype == tf.bfloat16  # cast out to the compute dtype
    reference = HubEncoder(hub_dir["image"], dtype="float32")(_images(2))
    np.testing.assert_allclose(tf.cast(out, tf.float32).numpy(), reference.numpy(), rtol=0.05, atol=0.05)


def test_config_holds_handle_not_weights_and_round_trips(hub_dir):
    encoder = HubEncoder(hub_dir["bert_encoder"], trainable=True, output_key="pooled_output", name="enc")
    config = json.loads(json.dumps(encoder.get_config()))
    assert config["handle"] == hub_dir["bert_encoder"]
    assert config["output_key"] == "pooled_output" and config["trainable"] is True
    assert "weights" not in json.dumps(config)
    clone = HubEncoder.from_config(config)
    assert clone.get_config() == encoder.get_config()


def test_dict_inputs_and_output_key(hub_dir):
    tokens = HubEncoder(hub_dir["bert_preprocessor"])(tf.constant(["the red car", "big dogs"]))
    assert set(tokens) == {"input_word_ids", "input_mask", "input_type_ids"}
    assert tokens["input_word_ids"].shape == (2, hub_modules.SEQ_LENGTH)
    # [CLS] the red car [SEP]
    assert tokens["input_word_ids"].numpy()[0, :5].tolist() == [2, 5, 6, 8, 3]
    pooled = HubEncoder(hub_dir["bert_encoder"], output_key="pooled_output")(tokens)
    assert pooled.shape == (2, hub_modules.TEXT_DIM)
    everything = HubEncoder(hub_dir["bert_encoder"])(tokens)
    assert set(everything) == {"pooled_output", "sequence_output", "default"}


def test_unknown_output_key_lists_available_keys(hub_dir):
    tokens = HubEncoder(hub_dir["bert_preprocessor"])(tf.constant(["the car"]))
    encoder = HubEncoder(hub_dir["bert_encoder"], output_key="pooled")
    with pytest.raises(ValueError, match=r"output_key.*'pooled'.*\['default', 'pooled_output', 'sequence_output'\]"):
        encoder(tokens)


def test_tuple_output_index(hub_dir):
    encoder = HubEncoder(hub_dir["audio_per_waveform"], output_key=1)
    frames = encoder(tf.zeros([800]))
    assert frames.shape == (19, hub_modules.AUDIO_DIM)


def test_missing_path_is_a_clear_error(tmp_path):
    missing = str(tmp_path / "no_such_module")
    with pytest.raises(FileNotFoundError, match="no_such_module"):
        HubEncoder(missing)


def test_folder_without_saved_model(tmp_path):
    with pytest.raises(ValueError, match="saved_model.pb"):
        HubEncoder(str(tmp_path))


def test_module_without_callable_needs_a_signature(hub_dir):
    with pytest.raises(ValueError, match=r"no `__call__`.*\['serving_default'\]"):
        HubEncoder(hub_dir["signature_only"])
    encoder = HubEncoder(hub_dir["signature_only"], signature="serving_default", output_key="y")
    np.testing.assert_allclose(encoder(tf.ones([2, 3])).numpy(), 2 * np.ones([2, 3]))
    with pytest.raises(ValueError, match=r"Unknown `signature`='predict'.*serving_default"):
        HubEncoder(hub_dir["signature_only"], signature="predict")


def test_regularization_losses_reach_the_model_loss(tmp_path):
    from mmfusion_tf.hub import export_keras_as_hub_module

    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(10.0))])
    path = export_keras_as_hub_module(inner, str(tmp_path / "reg"))
    encoder = HubEncoder(path, trainable=True)
    assert len(encoder._regularization_losses) == 1
    x = keras.Input((3,))
    model = keras.Model(x, encoder(x))
    model.compile("sgd", "mse")
    data = np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32")
    # Zero inputs and targets: the whole loss is the hub module's L2 penalty.
    loss = model.evaluate(*data, verbose=0)
    assert loss == pytest.approx(0.0)  # evaluation (training=False) adds no penalty
    history = model.fit(*data, epochs=1, verbose=0, shuffle=False)
    expected = 10.0 * float(np.sum(inner.layers[0].kernel.numpy() ** 2))
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-4)


def test_keras_file_round_trip_keeps_fine_tuned_weights(hub_dir, tmp_path):
    encoder = HubEncoder(hub_dir["image"], trainable=True)
    images = keras.Input((hub_modules.IMAGE_SIZE, hub_modules.IMAGE_SIZE, 3))
    model = keras.Model(images, keras.layers.Dense(3)(encoder(images)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(_images(16), np.arange(16) % 3, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        reloaded.predict(_images(4, 9), verbose=0), model.predict(_images(4, 9), verbose=0), atol=1e-6
    )
