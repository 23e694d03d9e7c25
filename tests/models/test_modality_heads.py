"""Per-modality heads, their presence-masked losses and the decision blend (two small tables: fast)."""

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.models.decision_blend import DecisionBlend

N = 64


def _config(task="multiclass", presence=True, target_stats=None):
    head = {"multiclass": mmf.HeadConfig(task="multiclass", labels=["a", "b", "c"], hidden_units=[8], dropout=0.0,
                                         modality_heads=True),
            "regression": mmf.HeadConfig(task="regression", hidden_units=[8], dropout=0.0, modality_heads=True,
                                         target_stats=target_stats)}[task]
    return mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="left", numeric_features=["x1"], numeric_stats={"x1": [0.0, 1.0]}),
                    mmf.TabularModality(name="right", numeric_features=["x2"], numeric_stats={"x2": [0.0, 1.0]})],
        fusion=mmf.FusionConfig(method="concat", projection_dim=8), head=head, presence_inputs=presence,
    )


def _data(seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, N)
    x = {"x1": (y + 0.3 * rng.normal(size=N)).astype("float32"), "x2": rng.normal(size=N).astype("float32"),
         "left_present": np.ones(N, "float32"), "right_present": np.ones(N, "float32")}
    return x, y


def test_outputs_shapes_and_fused_only_answer_before_calibration():
    config = _config()
    model = mmf.build_model(config)
    x, _ = _data()
    out = model.predict(x, verbose=0)
    assert set(out) == {"logits", "probabilities", "fused_logits", "modality_logits", "fusion_weights"}
    assert out["modality_logits"].shape == (N, 2, 3) and out["fused_logits"].shape == (N, 3)
    np.testing.assert_allclose(out["logits"], out["fused_logits"], atol=1e-6)
    assert model.loss_output == "fused_logits" and model.modality_output == "modality_logits"


def test_per_head_losses_are_logged_and_an_absent_modality_does_not_count():
    config = _config()
    model = mmf.build_model(config)
    model.compile(keras.optimizers.Adam(1e-3), mmf.default_loss(config.head))
    x, y = _data()
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert {"loss", "left_loss", "right_loss", "fused_loss"} <= set(logs)
    assert logs["loss"] == pytest.approx(logs["fused_loss"], rel=1e-5)  # evaluation: the fused head's loss alone
    # Half of the rows without "right": its loss is the mean over the rows that have it, whatever the batching.
    x_half = {**x, "right_present": np.r_[np.zeros(N // 2), np.ones(N // 2)].astype("float32")}
    logits = model.predict(x_half, verbose=0)["modality_logits"][N // 2:, 1]
    expected = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y[N // 2:], logits))
    half = model.evaluate(x_half, y, batch_size=16, verbose=0, return_dict=True)
    assert half["right_loss"] == pytest.approx(expected, rel=1e-4)


def test_training_loss_is_the_weighted_sum_of_the_heads():
    config = _config()
    model = mmf.build_model(config)
    model.get_layer("modality_heads").loss_weights.assign([0.5, 2.0, 1.0])
    model.compile(keras.optimizers.SGD(0.0), mmf.default_loss(config.head))  # learning rate 0: weights stay put
    x, y = _data()
    logs = model.fit(x, y, batch_size=N, epochs=1, verbose=0).history
    expected = 0.5 * logs["left_loss"][0] + 2.0 * logs["right_loss"][0] + logs["fused_loss"][0]
    assert logs["loss"][0] == pytest.approx(expected, rel=1e-4)


def test_decision_blend_ignores_absent_modalities_and_applies_the_temperature():
    blend = DecisionBlend(2)
    fused, modality = tf.fill([3, 2], 1.0), tf.stack([tf.fill([3, 2], 10.0), tf.fill([3, 2], 100.0)], axis=1)
    table = np.zeros([4, 3], "float32")
    table[3] = [0.25, 0.25, 0.5]  # both present
    table[1] = [0.5, 0.5, 0.0]  # only "left" (bit 0) present: the right's weight must be dropped
    blend(fused, modality)
    blend.set_blend(table, temperature=[1.0, 2.0, 1.0, 1.0])
    both = blend(fused, modality, tf.ones([3, 2]))
    left_only = blend(fused, modality, tf.constant([[1.0, 0.0]] * 3))
    none = blend(fused, modality, tf.zeros([3, 2]))
    np.testing.assert_allclose(both.numpy(), 0.25 * 10 + 0.25 * 100 + 0.5 * 1)
    np.testing.assert_allclose(left_only.numpy(), 10.0 / 2.0)  # weight renormalised to the left head, temperature 2
    np.testing.assert_allclose(none.numpy(), 1.0)  # pattern 0: the fused head


def test_regression_heads_answer_in_label_units_and_round_trip_through_keras_file(tmp_path):
    config = _config("regression", target_stats=[1000.0, 50.0])
    model = mmf.build_model(config)
    x, _ = _data()
    out = model.predict(x, verbose=0)
    assert set(out) == {"prediction", "fused_prediction", "modality_predictions", "fusion_weights"}
    assert abs(out["prediction"].mean() - 1000.0) < 200.0  # an untrained head starts near the label mean
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    for key in out:
        np.testing.assert_allclose(loaded.predict(x, verbose=0)[key], out[key], atol=1e-4)
    assert mmf.ModelConfig.from_yaml(config.to_yaml()) == config
