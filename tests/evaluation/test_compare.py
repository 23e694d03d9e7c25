"""`compare_fusion` and `mmfusion train --compare` / `fusion: {method: auto}` (two small tables: fast)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import mmfusion_tf as mmf
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig
from mmfusion_tf.evaluation.compare import candidate_experiments, choose, compare_fusion


def _rows(n, seed):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    return {"signal": (label + 0.5 * rng.normal(size=n)).astype("float32"),
            "noise": rng.normal(size=n).astype("float32"),
            "label": np.array(["no", "yes"], dtype=object)[label]}


def _experiment(method="auto"):
    model = mmf.ModelConfig(
        modalities=[mmf.TabularModality(name="useful", numeric_features=["signal"]),
                    mmf.TabularModality(name="useless", numeric_features=["noise"])],
        fusion=mmf.FusionConfig(method=method, projection_dim=8),
        head=mmf.HeadConfig(task="binary", labels=["no", "yes"], hidden_units=[8], dropout=0.0, modality_heads=True),
        name="tables",
    )
    return ExperimentConfig(model=model, data=DataConfig(batch_size=32, augment=False),
                            training=TrainingConfig(stages=[StageConfig(name="frozen", epochs=2, learning_rate=2e-2)],
                                                    precision="float32", tensorboard=False, checkpoints=False))


def test_candidates_are_each_modality_alone_then_the_short_list_of_methods():
    candidates = candidate_experiments(_experiment())
    assert list(candidates) == ["useful only", "useless only", "gated", "concat"]
    assert candidates["useful only"].model.modality_names == ["useful"]
    assert candidates["gated"].model.fusion.method == "gated"
    assert list(candidate_experiments(_experiment("attention"))) == ["useful only", "useless only", "attention"]
    with pytest.raises(ValueError, match="method='auto' is a choice among models"):
        mmf.build_model(_experiment().model)


def test_choose_keeps_fusion_on_a_tie_and_the_single_modality_when_fusion_loses():
    rows = [{"name": "text only", "kind": "single", "validation": {"r2": 0.66}},
            {"name": "gated", "kind": "fused", "validation": {"r2": 0.64}},
            {"name": "concat", "kind": "fused", "validation": {"r2": 0.65}}]
    lost = choose(rows, "r2")
    assert lost["kept"] == "text only" and not lost["fused_kept"] and lost["best_fused"] == "concat"
    assert "fusion does not pay here" in lost["reason"]
    rows[2]["validation"]["r2"] = 0.66
    assert choose(rows, "r2")["kept"] == "concat"
    assert choose([{"name": "a only", "kind": "single", "validation": {"rmse": 1.0}},
                   {"name": "late", "kind": "fused", "validation": {"rmse": 2.0}}], "rmse")["kept"] == "a only"


def test_compare_writes_the_table_the_plot_and_the_kept_model(tmp_path):
    result = compare_fusion(_experiment(), tmp_path, verbose=0, train=_rows(192, 0), validation=_rows(96, 1),
                            test=_rows(96, 2))
    written = json.loads((tmp_path / "comparison.json").read_text())
    assert [row["name"] for row in written["candidates"]] == ["useful only", "useless only", "gated", "concat"]
    assert written["kept"] == result["kept"] and written["metric"] == "accuracy"
    best_single = max(r["validation"]["accuracy"] for r in written["candidates"] if r["kind"] == "single")
    kept = next(r for r in written["candidates"] if r["name"] == written["kept"])
    assert kept["validation"]["accuracy"] >= best_single
    assert written["fused_kept"] == (kept["kind"] == "fused")
    for row in written["candidates"]:
        assert {"auc", "calibration_error", "accuracy"} <= set(row["validation"]) and row["test"]["num_examples"] == 96
    for name in ("comparison.png", "model.keras", "model_config.yaml", "experiment.yaml"):
        assert (tmp_path / name).stat().st_size > 0, name
    kept_config = ExperimentConfig.from_yaml(str(tmp_path / "experiment.yaml"))
    assert kept_config.model.fusion.method != "auto"


@pytest.mark.slow
def test_cli_train_with_method_auto_compares_and_evaluates_the_kept_model(tmp_path):
    import csv

    for split, seed, n in (("train", 0, 200), ("val", 1, 80)):
        rows = _rows(n, seed)
        with open(tmp_path / f"{split}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["signal", "noise", "label"])
            writer.writerows(zip(rows["signal"], rows["noise"], rows["label"]))
    experiment = _experiment()
    experiment.data.train, experiment.data.validation = "train.csv", "val.csv"
    experiment.to_yaml(str(tmp_path / "exp.yaml"))
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "mmfusion_tf.cli", "train", str(tmp_path / "exp.yaml"), "--output-dir",
                           str(out), "--verbose", "0"], capture_output=True, text=True,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kept:" in done.stdout and "of the best single modality" in done.stdout
    assert (out / "comparison.json").exists() and (out / "report.json").exists()
