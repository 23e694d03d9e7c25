"""`mmfusion demo` end to end (quick settings): the command users run first.

The run takes minutes, so its tests are marked `slow` (`./run test -m slow`; `.ci/run` runs them).
"""

import json
import os

import pytest

from mmfusion_tf import cli
from mmfusion_tf.config import load_model_config


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, demo_cache_dir):
    root = tmp_path_factory.mktemp("demo")
    report_path = str(root / "r.json")
    hub = os.path.join(demo_cache_dir, "demo_hub")  # default_cache_dir() under MMFUSION_CACHE_DIR, as the notebooks use
    status = cli.main([
        "demo", "--quick", "--verbose", "0", "--output-dir", str(root / "out"),
        "--cache-dir", hub, "--report", report_path,
    ])
    with open(report_path) as f:
        return status, json.load(f), root, hub


@pytest.mark.slow  # the whole quick demo: ~2-3 min on 2 cores
def test_demo_report_has_the_documented_keys(demo_run):
    status, report, root, _ = demo_run
    assert status == 0
    assert set(report["unimodal"]) == {"image", "audio", "text"}
    for result in report["unimodal"].values():
        assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["macro_f1"] <= 1.0
    assert report["fused"]["fusion"] == "weighted_sum"
    assert set(report["fused"]["mean_fusion_weights"]) == {"image", "audio", "text"}
    assert sum(report["fused"]["mean_fusion_weights"].values()) == pytest.approx(1.0, abs=1e-3)
    assert os.path.exists(report["artifacts"]["model"]) and os.path.exists(report["artifacts"]["config"])
    assert os.path.exists(str(root / "out" / "report.json"))


@pytest.mark.slow  # the whole quick demo: ~2-3 min on 2 cores
def test_demo_trains_in_stages_and_writes_evaluation_plots(demo_run):
    _, report, root, _ = demo_run
    assert list(report["fused"]["history"]) == ["frozen", "fine_tune"]
    state = json.loads((root / "out" / "runs" / "fused" / "state.json").read_text())
    assert state["completed"] == ["frozen", "fine_tune"]
    for name in ("training_curves", "confusion_matrix", "modality_contributions", "robustness"):
        with open(report["artifacts"]["plots"][name], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    contributions = report["fused"]["contributions"]["modalities"]
    # Every modality carries a bit of the label: removing any one costs accuracy.
    assert all(c["metric_drop"] > 0.2 for c in contributions.values()), contributions
    curves = report["fused"]["robustness"]["curves"]
    assert curves["all"][-1] < curves["all"][0]


@pytest.mark.slow  # the whole quick demo: ~2-3 min on 2 cores
def test_demo_fusion_beats_every_single_modality(demo_run):
    _, report, _, _ = demo_run
    best_single = max(r["accuracy"] for r in report["unimodal"].values())
    # Each modality carries one of the label's three bits: alone <= ~0.27.
    assert best_single < 0.35
    assert report["fused"]["accuracy"] > best_single + 0.4


@pytest.mark.slow  # the whole quick demo: ~2-3 min on 2 cores
def test_demo_backbones_are_labelled_stand_ins_in_tf_hub_format(demo_run):
    _, report, _, hub = demo_run
    for card in report["backbones"].values():
        assert "stand-in" in card["what"] and card["stands_in_for"]
    for module in ("image_feature_vector", "audio_frame_embeddings", "text_encoder", "text_preprocessor"):
        assert os.path.exists(os.path.join(hub, module, "saved_model.pb"))
    # The cache is shared with other tests: check the demo's model really loads its backbones from there.
    config = load_model_config(report["artifacts"]["config"])
    assert all(os.path.dirname(m.handle) == hub for m in config.modalities)
    assert report["backbones"]["audio"]["source_task_val_accuracy"] > 0.9


@pytest.mark.slow  # the whole quick demo: ~2-3 min on 2 cores
def test_demo_ends_by_exporting_and_answering_over_grpc(demo_run):
    _, report, _, _ = demo_run
    export = report["export"]
    assert os.path.exists(os.path.join(export["path"], "saved_model.pb"))
    assert os.path.exists(os.path.join(export["path"], "assets.extra", "tf_serving_warmup_requests"))
    assert export["version"] == 1
    serving = report["serving"]
    assert serving["ok"] and serving["latency_ms"] > 0
    assert serving["label"] == serving["expected"]  # the fused model is ~99 % accurate


def test_cli_without_verb_prints_help(capsys):
    assert cli.main([]) == 2
    assert "demo" in capsys.readouterr().out
