import copy

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.evaluation import evaluate, modality_contributions, plot_modality_contributions
from mmfusion_tf.evaluation.contributions import neutral_inputs, remove_modality
from mmfusion_tf.evaluation.metrics import score
from tests.evaluation import _models
from tests.evaluation.test_plots import assert_png


def test_presence_mask_removal_shows_the_favoured_modality_matters(presence_model):
    model, config = presence_model
    data = _models.tabular_data(seed=1)
    contrib = modality_contributions(model, data, config)
    assert contrib["metric"] == "accuracy" and contrib["removed_via"] == "presence_mask"
    assert contrib["clean"] == evaluate(model, data, config)["probabilities"]["accuracy"] > 0.9
    left, right = contrib["modalities"]["left"], contrib["modalities"]["right"]
    assert (left["mean_weight"], right["mean_weight"]) == pytest.approx((0.9, 0.1))
    # without `left` (the label's only source) accuracy falls to about chance
    assert left["metric_drop"] > 0.25 and left["metric_drop"] > right["metric_drop"] + 0.2
    assert left["metric"] == pytest.approx(contrib["clean"] - left["metric_drop"])


def test_presence_mask_result_has_signed_change(presence_model):
    model, config = presence_model
    contrib = modality_contributions(model, _models.tabular_data(seed=1), config)
    assert contrib["better_is"] == "higher" and "means_from_data" not in contrib
    for entry in contrib["modalities"].values():
        assert entry["metric_change"] == pytest.approx(entry["metric"] - contrib["clean"])
        assert entry["metric_change"] == pytest.approx(-entry["metric_drop"]) and "replaced_with" not in entry


def test_mean_replacement_without_presence_inputs(zeroing_model):
    model, config = zeroing_model
    contrib = modality_contributions(model, _models.tabular_data(seed=1), config, metric="auc")
    assert contrib["removed_via"] == "mean_replacement" and contrib["metric"] == "auc"
    assert contrib["means_from_data"] == []
    assert contrib["modalities"]["left"]["replaced_with"] == {"x1": 0.0}
    assert contrib["modalities"]["right"]["replaced_with"] == {"x2": 0.0, "c": ""}
    drops = {name: m["metric_drop"] for name, m in contrib["modalities"].items()}
    # with x1 at its training mean everywhere only x2 and c (unrelated to the label) vary: AUC near chance
    assert contrib["modalities"]["left"]["metric"] == pytest.approx(0.5, abs=0.1)
    assert drops["left"] > 0.35 and abs(drops["right"]) < 0.1


def test_a_column_without_stats_gets_the_mean_of_the_data_and_says_so(zeroing_model):
    model, config = zeroing_model
    config = copy.deepcopy(config)
    config.modalities[1].numeric_stats = {}  # e.g. a hand-written config: the model still has its own
    data = _models.tabular_data(seed=1)
    contrib = modality_contributions(model, data, config)
    assert contrib["means_from_data"] == ["x2"]
    assert contrib["modalities"]["right"]["replaced_with"]["x2"] == pytest.approx(float(np.mean(data["x2"])))


def test_via_is_checked(zeroing_model):
    model, config = zeroing_model
    with pytest.raises(ValueError, match=r"`via='presence_mask'` needs a model with presence inputs"):
        modality_contributions(model, _models.tabular_data(), config, via="presence_mask")
    with pytest.raises(ValueError, match=r"`via` must be one of \['presence_mask', 'mean_replacement'\] or None"):
        modality_contributions(model, _models.tabular_data(), config, via="zeroed_input")


def test_remove_modality_replaces_every_input_of_the_modality_by_its_neutral_value():
    features = {
        "image": np.full((2, 4, 4, 3), 7, np.uint8),
        "text": np.array(["a dog", "the cat"], dtype=object),
        "audio": np.ones((2, 5), np.float32),
        "x2": np.array([1.5, -2.0], np.float32),
        "c": np.array(["a", "b"], dtype=object),
        "right_present": np.ones(2, np.float32),
    }
    table = copy.deepcopy(_models.tabular_config().modalities[1])
    table.numeric_stats = {"x2": [42.25, 0.01]}
    replaced = remove_modality(features, table, "mean_replacement")
    assert replaced["x2"].dtype == np.float32 and replaced["x2"].tolist() == [42.25, 42.25]
    assert replaced["c"].tolist() == ["", ""]  # the encoder's out-of-vocabulary bucket
    assert replaced["text"] is features["text"] and features["x2"][0] == 1.5  # others untouched, no in-place edit
    # the documented neutral inputs: empty text, mid-grey image, silent audio
    assert remove_modality(features, mmf.TextModality(name="text"), "mean_replacement")["text"].tolist() == ["", ""]
    image = remove_modality(features, mmf.ImageModality(name="image"), "mean_replacement")["image"]
    assert image.dtype == np.uint8 and image.shape == (2, 4, 4, 3) and (image == 128).all()
    float_image = remove_modality({"image": features["image"].astype("float32")}, mmf.ImageModality(name="image"),
                                  "mean_replacement")["image"]
    assert float_image.dtype == np.float32 and (float_image == 127.5).all()
    audio = remove_modality(features, mmf.AudioModality(name="audio"), "mean_replacement")["audio"]
    assert audio.dtype == np.float32 and audio.shape == (2, 5) and not audio.any()
    assert neutral_inputs(features, mmf.ImageModality(name="image")) == ({"image": 128}, [])
    assert remove_modality(features, table, "presence_mask")["right_present"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"`via` must be one of \['presence_mask', 'mean_replacement'\]"):
        remove_modality(features, table, "zeroed_input")


def test_large_valued_columns_give_a_small_finite_change(geo_regression):
    """Latitude ~ 42: at its training mean, not at 0 (which gave rmse changes in the hundreds)."""
    model, config, data = geo_regression
    contrib = modality_contributions(model, data, config)
    assert contrib["metric"] == "rmse" and contrib["better_is"] == "lower"
    assert contrib["removed_via"] == "mean_replacement"
    stats = config.modalities[0].numeric_stats
    assert contrib["modalities"]["geo"]["replaced_with"] == {
        "latitude": stats["latitude"][0], "longitude": stats["longitude"][0]}
    assert contrib["modalities"]["geo"]["replaced_with"]["latitude"] == pytest.approx(42.0, abs=0.1)
    label_std = float(np.std(data["label"]))
    for entry in contrib["modalities"].values():
        assert np.isfinite(entry["metric_change"]) and abs(entry["metric_change"]) < 2 * label_std
        assert entry["metric_change"] == pytest.approx(entry["metric"] - contrib["clean"])
        assert entry["metric_drop"] == pytest.approx(entry["metric_change"])  # rmse: lower is better
    assert contrib["modalities"]["geo"]["metric_change"] > 0  # the label depends on latitude
    # what zeroing the raw columns did instead: far outside the training range
    features = {k: v for k, v in data.items() if k != "label"}
    zeroed = {**features, "latitude": np.zeros_like(data["latitude"]), "longitude": np.zeros_like(data["longitude"])}
    assert score(model, zeroed, data["label"], config, "rmse") - contrib["clean"] > 20 * label_std


def test_contributions_chart_is_written(geo_regression, tmp_path):
    model, config, data = geo_regression
    path = plot_modality_contributions(modality_contributions(model, data, config), tmp_path / "contrib.png")
    assert_png(path)


def test_unknown_metric_lists_the_available_ones(presence_model):
    model, config = presence_model
    allowed = r"\['accuracy', 'macro_precision', 'macro_recall', 'macro_f1', 'auc', 'calibration_error'\]"
    message = rf"`metric` must be one of {allowed} for task='binary'. Received: metric='mse'"
    with pytest.raises(ValueError, match=message):
        modality_contributions(model, _models.tabular_data(), config, metric="mse")
