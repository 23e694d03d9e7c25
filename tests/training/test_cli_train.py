import csv
import json
import os
import wave

import numpy as np
import pytest
import tensorflow as tf
import yaml

from mmfusion_tf import cli
from mmfusion_tf.data.splits import stratified_split
from tests.training import _experiment as ex


def _write_files(root, n=72, seed=0):
    """A manifest with PNG and WAV files, as a user would have them."""
    data = ex.make_data(n, seed=seed)
    os.makedirs(root / "files", exist_ok=True)
    rows = []
    for i in range(n):
        image_path = f"files/{i}.png"
        (root / image_path).write_bytes(tf.io.encode_png(data["image"][i]).numpy())
        audio_path = f"files/{i}.wav"
        with wave.open(str(root / audio_path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes((np.clip(data["audio"][i], -1, 1) * 32767).astype("<i2").tobytes())
        rows.append({"image": image_path, "audio": audio_path, "label": data["label"][i]})
    with open(root / "train.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "audio", "label"])
        writer.writeheader()
        writer.writerows(rows)


def _experiment_yaml(root, hub_dir, **changes):
    experiment = ex.experiment(hub_dir)
    experiment.data.train = "train.csv"
    experiment.data.split = [0.6, 0.2, 0.2]
    for stage in experiment.training.stages:
        stage.epochs = 1
    data = yaml.safe_load(experiment.to_yaml())
    for path, value in changes.items():
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    (root / "experiment.yaml").write_text(yaml.safe_dump(data))
    return str(root / "experiment.yaml")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifest")
    _write_files(root)
    return root


def test_mmfusion_train_then_evaluate_writes_model_report_and_plots(files, hub_dir, tmp_path, capsys):
    config = _experiment_yaml(files, hub_dir)
    run = tmp_path / "run"
    argv = ["train", config, "--output-dir", str(run), "--verbose", "0", "--report", str(tmp_path / "r.json")]
    assert cli.main(argv) == 0
    report = json.loads((run / "report.json").read_text())
    assert report == json.loads((tmp_path / "r.json").read_text())
    metrics = report["metrics"]["probabilities"]
    labels = [row["label"] for row in csv.DictReader(open(files / "train.csv"))]
    test_rows = stratified_split(labels, (0.6, 0.2, 0.2), seed=0)[2]
    assert metrics["num_examples"] == len(test_rows)  # the test part, split by label like the user asked
    for key in ("accuracy", "macro_precision", "macro_recall", "macro_f1", "auc"):
        assert 0.0 <= metrics[key] <= 1.0
    for name in ("training_curves", "confusion_matrix", "modality_contributions", "robustness"):
        assert (run / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(report["contributions"]["modalities"]) == {"image", "audio"}

    out = tmp_path / "eval"
    assert cli.main(["evaluate", str(run), "--output-dir", str(out), "--analyses", "metrics,contributions"]) == 0
    again = json.loads((out / "report.json").read_text())
    assert again["metrics"] == report["metrics"]  # same split, same model: same numbers
    assert "contributions" in again and "robustness" not in again
    assert not (out / "robustness.png").exists()
    printed = capsys.readouterr().out
    assert "modality contributions: 2 passes over" in printed and "done in" in printed


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"training.stagez": []}, "Unknown key(s) ['stagez'] in training. Allowed keys: ['stages'"),
        ({"training.precision": "half"},
         "training.precision='half' is not allowed. Allowed values: ['auto', 'float32'"),
        ({"training.stages": [{"name": "a", "backbones": "some"}]},
         "training.stages[0].backbones='some' is not allowed"),
        ({"data.label_column": "target"}, "data.label_column='target' is not a column"),
        ({"model.modalities": [{"kind": "image", "name": "photo", "handle": "x"}]}, "column(s) ['photo'] missing"),
        ({"model.head.labels": ["low", "mid"]}, "label 'high' is not a declared class. Allowed: ['low', 'mid']"),
    ],
)
def test_bad_config_fails_before_training_and_names_the_key(files, hub_dir, tmp_path, capsys, changes, message):
    config = _experiment_yaml(files, hub_dir, **changes)
    run = tmp_path / "run"
    assert cli.main(["train", config, "--output-dir", str(run), "--verbose", "0"]) == 2
    assert message in capsys.readouterr().err
    assert not (run / "state.json").exists() and not (run / "checkpoints").exists()


TF_LOG_PREFIXES = ("E0000", "W0000", "I0000", "WARNING: All log messages before absl")


@pytest.mark.slow  # two processes that each import TensorFlow and train or evaluate (~1 min)
def test_train_and_evaluate_commands_print_no_tensorflow_log_lines(files, hub_dir, tmp_path):
    import subprocess
    import sys

    command = os.path.join(os.path.dirname(sys.executable), "mmfusion")
    assert os.path.exists(command), f"{command} is missing: install the package (`./run test` does: pip install -e .)"
    config = _experiment_yaml(files, hub_dir)
    run = tmp_path / "run"
    for args in (["train", config, "--output-dir", str(run), "--verbose", "0", "--analyses", "metrics"],
                 ["evaluate", str(run), "--analyses", "metrics"]):
        result = subprocess.run([command, *args], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        lines = (result.stdout + result.stderr).splitlines()
        assert not [line for line in lines if line.startswith(TF_LOG_PREFIXES)], lines
        assert any(line.startswith("evaluation:") for line in lines)
    loud = subprocess.run([command, "--tf-logs", "evaluate", str(run), "--analyses", "metrics"],
                          capture_output=True, text=True, timeout=600)
    assert loud.returncode == 0 and any(line.startswith(TF_LOG_PREFIXES) for line in loud.stderr.splitlines())
