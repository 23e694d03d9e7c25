"""ModalityDropout: random missing modalities in training."""

import json

import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion import GatedFusion
from mmfusion_tf.fusion import ModalityDropout
from tests.fusion._checks import to_numpy

ROWS = 10_000


def _random_presence(num_modalities=3, seed=0):
    presence = np.random.default_rng(seed).integers(
        0, 2, size=(ROWS, num_modalities)
    ).astype("float32")
    presence[:100] = 0  # Some rows with nothing present.
    return presence


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_never_drops_every_present_modality(rate):
    presence = _random_presence()
    dropped = to_numpy(ModalityDropout(rate, seed=1)(presence, training=True))
    had_any = presence.sum(-1) > 0
    assert np.all(dropped[had_any].sum(-1) >= 1)
    np.testing.assert_array_equal(dropped[~had_any], 0.0)
    assert np.all(dropped <= presence)  # Only drops, never adds.
    assert set(np.unique(dropped)) <= {0.0, 1.0}


@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_drop_rate_is_close_to_rate(rate):
    presence = np.ones((ROWS, 3), "float32")
    dropped = to_numpy(ModalityDropout(rate, seed=2)(presence, training=True))
    assert abs(1.0 - dropped.mean() - rate) < 0.02


def test_identity_at_inference():
    presence = _random_presence()
    layer = ModalityDropout(0.5, seed=3)
    np.testing.assert_array_equal(to_numpy(layer(presence)), presence)
    np.testing.assert_array_equal(
        to_numpy(layer(presence, training=False)), presence
    )


def test_same_seed_same_masks():
    presence = _random_presence()
    first = to_numpy(ModalityDropout(0.5, seed=4)(presence, training=True))
    second = to_numpy(ModalityDropout(0.5, seed=4)(presence, training=True))
    np.testing.assert_array_equal(first, second)


def test_drops_in_fit_and_passes_through_in_predict():
    inputs = [keras.Input((3,)), keras.Input((5,))]
    presence = keras.Input((2,))
    kept = ModalityDropout(0.5, seed=5)(presence)
    fused, _ = GatedFusion(projection_dim=4)(inputs, presence=kept)
    prediction = keras.layers.Dense(1)(fused)
    model = keras.Model(inputs + [presence], [prediction, kept])
    model.compile(optimizer="adam", loss=["mse", None], jit_compile=False)
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(16, 3)), rng.normal(size=(16, 5)), np.ones((16, 2))]
    history = model.fit(x, rng.normal(size=(16, 1)), batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(model.predict(x, verbose=0)[1], x[2])


def test_config_round_trip():
    layer = ModalityDropout(rate=0.25, seed=7)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["rate"] == 0.25 and config["seed"] == 7
    restored = ModalityDropout.from_config(config)
    assert restored.get_config() == layer.get_config()
    assert keras.saving.serialize_keras_object(layer)["registered_name"] == (
        "mmfusion_tf>ModalityDropout"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rate": 1.0}, "`rate` must be a float in [0, 1). Received: rate=1.0"),
        (
            {"rate": -0.1},
            "`rate` must be a float in [0, 1). Received: rate=-0.1",
        ),
        ({"seed": 1.5}, "`seed` must be an int or None. Received: seed=1.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        ModalityDropout(**kwargs)
    assert message in str(error.value)
