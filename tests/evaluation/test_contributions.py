import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.evaluation import evaluate, modality_contributions
from mmfusion_tf.evaluation.contributions import remove_modality
from tests.evaluation import _models


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


def test_zeroed_input_removal_without_presence_inputs(zeroing_model):
    model, config = zeroing_model
    contrib = modality_contributions(model, _models.tabular_data(seed=1), config, metric="auc")
    assert contrib["removed_via"] == "zeroed_input" and contrib["metric"] == "auc"
    drops = {name: m["metric_drop"] for name, m in contrib["modalities"].items()}
    # with x1 = 0 everywhere only x2 and c (unrelated to the label) vary: AUC near chance
    assert contrib["modalities"]["left"]["metric"] == pytest.approx(0.5, abs=0.1)
    assert drops["left"] > 0.35 and abs(drops["right"]) < 0.1


def test_remove_modality_blanks_every_input_of_the_modality():
    features = {
        "image": np.full((2, 4, 4, 3), 7, np.uint8),
        "text": np.array(["a dog", "the cat"], dtype=object),
        "x2": np.array([1.5, -2.0], np.float32),
        "c": np.array(["a", "b"], dtype=object),
        "right_present": np.ones(2, np.float32),
    }
    table = _models.tabular_config().modalities[1]
    blanked = remove_modality(features, table, "zeroed_input")
    assert blanked["x2"].tolist() == [0.0, 0.0] and blanked["c"].tolist() == ["", ""]
    assert blanked["text"] is features["text"] and features["x2"][0] == 1.5  # others untouched, no in-place edit
    assert remove_modality(features, mmf.TextModality(name="text"), "zeroed_input")["text"].tolist() == ["", ""]
    image = remove_modality(features, mmf.ImageModality(name="image"), "zeroed_input")["image"]
    assert image.dtype == np.uint8 and not image.any()
    assert remove_modality(features, table, "presence_mask")["right_present"].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"`via` must be one of \['presence_mask', 'zeroed_input'\]"):
        remove_modality(features, table, "dropout")


def test_unknown_metric_lists_the_available_ones(presence_model):
    model, config = presence_model
    allowed = r"\['accuracy', 'macro_precision', 'macro_recall', 'macro_f1', 'auc', 'calibration_error'\]"
    message = rf"`metric` must be one of {allowed} for task='binary'. Received: metric='mse'"
    with pytest.raises(ValueError, match=message):
        modality_contributions(model, _models.tabular_data(), config, metric="mse")
