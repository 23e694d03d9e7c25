import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf._keras import keras
from mmfusion_tf.models import FusionModel
from tests import hub_modules as hm

N = 16


def _config(hub_dir, method="weighted_sum", task="multiclass", presence=False, options=None, modality_dropout=0.0):
    head = {"multiclass": mmf.HeadConfig(task="multiclass", labels=["a", "b", "c"], hidden_units=[8]),
            "binary": mmf.HeadConfig(task="binary", hidden_units=[]),
            "multilabel": mmf.HeadConfig(task="multilabel", num_classes=4),
            "regression": mmf.HeadConfig(task="regression")}[task]
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.TextModality(name="text", handle=hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=hm.SAMPLE_RATE, num_samples=800),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]},
                                numeric_stats={"beds": [2.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method=method, projection_dim=8, options=options or {},
                                modality_dropout=modality_dropout),
        head=head,
        presence_inputs=presence,
    )


def _features(seed=0, presence=False):
    rng = np.random.default_rng(seed)
    x = {
        "image": rng.integers(0, 256, (N, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3)).astype("uint8"),
        "text": np.array(["the red car", "big blue dogs", "cats", "the dog"] * (N // 4), dtype=object),
        "audio": (rng.normal(size=(N, 800)) * 0.1).astype("float32"),
        "beds": rng.integers(1, 4, N).astype("float32"),
        "city": np.array(["a", "b"] * (N // 2), dtype=object),
    }
    if presence:
        x.update({f"{m}_present": np.ones(N, "float32") for m in ("image", "text", "audio", "table")})
    return x


def _labels(task):
    rng = np.random.default_rng(1)
    return {"multiclass": rng.integers(0, 3, N), "binary": rng.integers(0, 2, N).astype("float32"),
            "multilabel": rng.integers(0, 2, (N, 4)).astype("float32"),
            "regression": rng.normal(size=N).astype("float32")}[task]


def _fit(model, config, x, y, epochs=1):
    model.compile(keras.optimizers.Adam(1e-3), mmf.default_loss(config.head), metrics=mmf.default_metrics(config.head))
    return model.fit(x, y, epochs=epochs, batch_size=8, verbose=0)


def test_inputs_equal_config_input_names_and_outputs_are_named(hub_dir):
    config = _config(hub_dir, presence=True)
    model = mmf.build_model(config)
    assert isinstance(model, FusionModel)
    assert sorted(model.input) == sorted(config.input_names())
    out = model.predict(_features(presence=True), verbose=0)
    assert set(out) == {"logits", "probabilities", "fusion_weights", "fused_logits", "modality_logits"}
    assert out["probabilities"].shape == (N, 3) and out["fusion_weights"].shape == (N, 4)
    assert out["modality_logits"].shape == (N, 4, 3)  # one head per modality (HeadConfig.modality_heads, default on)
    np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(out["fusion_weights"].sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("method", mmf.fusion.available())
def test_every_fusion_method_trains_with_fit(hub_dir, method):
    config = _config(hub_dir, method=method, modality_dropout=0.2)
    model = mmf.build_model(config)
    history = _fit(model, config, _features(), _labels("multiclass"))
    assert np.isfinite(history.history["loss"][0])
    assert "accuracy" in history.history


@pytest.mark.parametrize("task", ["binary", "multilabel", "regression"])
def test_heads(hub_dir, task):
    config = _config(hub_dir, task=task)
    model = mmf.build_model(config)
    history = _fit(model, config, _features(), _labels(task))
    assert np.isfinite(history.history["loss"][0])
    out = model.predict(_features(), verbose=0)
    if task == "regression":
        assert set(out) == {"prediction", "fused_prediction", "modality_predictions", "fusion_weights"}
        assert out["prediction"].shape == (N, 1) and out["modality_predictions"].shape == (N, 4, 1)
    else:
        assert out["probabilities"].shape == (N, config.head.num_outputs)
        assert ((out["probabilities"] >= 0) & (out["probabilities"] <= 1)).all()


def test_late_fusion_outputs_combined_probabilities(hub_dir):
    config = _config(hub_dir, method="late")
    model = mmf.build_model(config)
    _fit(model, config, _features(), _labels("multiclass"))
    out = model.predict(_features(), verbose=0)
    np.testing.assert_allclose(out["probabilities"].sum(-1), 1.0, atol=1e-5)
    # logits are log-probabilities, so softmax(logits) gives the probabilities back
    np.testing.assert_allclose(tf.nn.softmax(out["logits"]).numpy(), out["probabilities"], atol=1e-5)


def test_missing_modality_has_no_influence(hub_dir):
    config = _config(hub_dir, method="attention", presence=True)
    model = mmf.build_model(config)
    x = _features(presence=True)
    x["audio_present"] = np.zeros(N, "float32")
    noisy = dict(x, audio=np.random.default_rng(9).normal(size=(N, 800)).astype("float32"))
    a, b = model.predict(x, verbose=0), model.predict(noisy, verbose=0)
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-6)
    assert (a["fusion_weights"][:, 2] == 0).all()


def test_keras_file_round_trip(hub_dir, tmp_path):
    config = _config(hub_dir, method="gated", presence=True)
    model = mmf.build_model(config)
    _fit(model, config, _features(presence=True), _labels("multiclass"))
    path = str(tmp_path / "fusion.keras")
    model.save(path)
    reloaded = keras.models.load_model(path)
    x = _features(seed=3, presence=True)
    for key, value in model.predict(x, verbose=0).items():
        np.testing.assert_allclose(reloaded.predict(x, verbose=0)[key], value, atol=1e-6)


def test_config_model_config_round_trip_with_adapted_tabular(hub_dir):
    config = _config(hub_dir)
    config.modalities[3] = mmf.TabularModality(name="table", numeric_features=["beds"],
                                               categorical_features={"city": None})
    mmf.build_model(config, adapt_data=_features())
    assert config.modalities[3].numeric_stats["beds"][0] == pytest.approx(_features()["beds"].mean())
    assert config.modalities[3].categorical_features == {"city": ["a", "b"]}
    rebuilt = mmf.ModelConfig.from_yaml(config.to_yaml())
    assert rebuilt == config
    mmf.build_model(rebuilt)  # no adapt data needed any more


def test_mixed_bfloat16_keeps_outputs_float32(hub_dir):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    config = _config(hub_dir, method="transformer")
    model = mmf.build_model(config)
    history = _fit(model, config, _features(), _labels("multiclass"))
    assert np.isfinite(history.history["loss"][0])
    assert all(t.dtype == "float32" for t in tf.nest.flatten(model.outputs))


def test_fine_tuning_changes_the_backbone_only_when_trainable(hub_dir):
    config = _config(hub_dir)
    config.modalities[0].trainable = True
    model = mmf.build_model(config)
    image_backbone = model.get_layer("image_encoder").backbone
    text_backbone = model.get_layer("text_encoder").backbone
    x = _features()
    tokens = model.get_layer("text_encoder").tokenizer(tf.constant(list(x["text"])))
    image_before = image_backbone(x["image"].astype("float32") / 255).numpy()
    text_before = text_backbone(tokens).numpy()
    _fit(model, config, x, _labels("multiclass"), epochs=2)
    assert np.abs(image_backbone(x["image"].astype("float32") / 255).numpy() - image_before).max() > 1e-5
    np.testing.assert_array_equal(text_backbone(tokens).numpy(), text_before)
