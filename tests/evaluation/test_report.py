import json
import os

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.evaluation import write_report
from mmfusion_tf.evaluation.report import plain
from tests import hub_modules as hm
from tests.evaluation import _models
from tests.evaluation.test_plots import assert_png

N = 12


def _hub_config(hub_dir):
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.TextModality(name="text", handle=hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=hm.SAMPLE_RATE, num_samples=800),
        ],
        fusion=mmf.FusionConfig(method="attention", projection_dim=8),
        head=mmf.HeadConfig(task="multiclass", labels=["a", "b", "c"], hidden_units=[8]),
    )


def _hub_data():
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(0, 256, (N, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3)).astype("uint8"),
        "text": np.array(["the red car", "big blue dogs", "cats", "the dog"] * (N // 4), dtype=object),
        "audio": (rng.normal(size=(N, 800)) * 0.1).astype("float32"),
        "label": rng.integers(0, 3, N),
    }


def test_report_of_an_image_text_audio_classifier(hub_dir, tmp_path):
    config = _hub_config(hub_dir)
    model = mmf.build_model(config)
    history = [{"loss": [1.2, 1.0], "val_loss": [1.3, 1.1]}, {"loss": [0.9], "val_loss": [1.0]}]
    report = write_report(tmp_path / "eval", model, _hub_data(), config, history=history, levels=(0, 1.0))

    with open(tmp_path / "eval" / "report.json", encoding="utf-8") as f:
        assert json.load(f) == report
    assert sorted(report["plots"]) == ["confusion_matrix", "modality_contributions", "robustness", "training_curves"]
    for name, path in report["plots"].items():
        assert path == os.path.join(tmp_path / "eval", f"{name}.png")
        assert_png(path)
    metrics = report["metrics"]["probabilities"]
    assert metrics["num_examples"] == N == report["num_examples"]
    assert np.sum(metrics["confusion_matrix"]) == N
    contributions = report["contributions"]
    assert contributions["removed_via"] == "mean_replacement"
    replaced = {name: m["replaced_with"] for name, m in contributions["modalities"].items()}
    assert replaced == {"image": {"image": 128}, "text": {"text": ""}, "audio": {"audio": 0.0}}  # grey, empty, silent
    assert list(contributions["modalities"]) == ["image", "text", "audio"]
    assert sum(m["mean_weight"] for m in contributions["modalities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert all(curve[0] == metrics["accuracy"] for curve in report["robustness"]["curves"].values())


def test_regression_report_has_no_confusion_matrix(tmp_path):
    config = _models.tabular_config(presence=True, task="regression")
    model = mmf.build_model(config)
    report = write_report(str(tmp_path), model, _models.tabular_data(num_examples=16), config, levels=(0, 0.5))
    assert sorted(report["plots"]) == ["modality_contributions", "robustness"]
    assert sorted(os.listdir(tmp_path)) == ["modality_contributions.png", "report.json", "robustness.png"]
    assert set(report["metrics"]["prediction"]) == {"mae", "rmse", "r2", "num_examples"}
    assert report["contributions"]["metric"] == "rmse" == report["robustness"]["metric"]
    with open(tmp_path / "report.json", encoding="utf-8") as f:
        assert json.load(f) == report


def test_plain_turns_numpy_and_non_finite_values_into_json_values():
    value = plain({"a": np.float32(0.5), "b": (np.int64(1), float("nan")), "c": np.arange(2)})
    assert value == {"a": 0.5, "b": [1, None], "c": [0, 1]}
    assert type(value["a"]) is float and type(value["c"][0]) is int


def test_analyses_can_be_chosen_and_run_on_a_seeded_subsample(presence_model, tmp_path, capsys):
    model, config = presence_model
    data = _models.tabular_data(num_examples=40)
    only_metrics = write_report(str(tmp_path / "m"), model, data, config, analyses="metrics")
    assert "contributions" not in only_metrics and "robustness" not in only_metrics
    assert sorted(only_metrics["plots"]) == ["confusion_matrix"]

    report = write_report(str(tmp_path / "s"), model, data, config, analyses=["metrics", "robustness"],
                          analysis_examples=10, levels=(0, 1.0), verbose=1)
    assert report["analysis_examples"] == 10 and report["metrics"]["probabilities"]["num_examples"] == 40
    assert "contributions" not in report and sorted(report["plots"]) == ["confusion_matrix", "robustness"]
    again = write_report(str(tmp_path / "s2"), model, data, config, analyses="robustness", analysis_examples=10,
                         levels=(0, 1.0))
    assert again["robustness"] == report["robustness"]  # the same seeded subsample
    printed = capsys.readouterr().out
    assert "predicting 40 examples ... done in" in printed
    assert "robustness curves: 3 noisy passes over 10 examples ... done in" in printed

    everything = write_report(str(tmp_path / "all"), model, data, config, analysis_examples=0, levels=(0, 1.0))
    assert "analysis_examples" not in everything  # every example


@pytest.mark.parametrize("analyses", ["metrics,speed", "", []])
def test_unknown_analyses_are_named(presence_model, tmp_path, analyses):
    model, config = presence_model
    with pytest.raises(ValueError, match="`analyses` must name some of"):
        write_report(str(tmp_path), model, _models.tabular_data(num_examples=8), config, analyses=analyses)
