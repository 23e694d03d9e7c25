import csv
import json
import os
import signal
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(hub_dir, out, *kill):
    return subprocess.run(
        [sys.executable, "-m", "tests.training.resume_script", hub_dir["image"], hub_dir["audio"], str(out),
         *map(str, kill)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )


def _csv_epochs(path):
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.mark.slow  # long training; runs in CI's slow tier
def test_killed_run_resumes_at_next_epoch_and_loses_no_finished_epoch(tmp_path, hub_dir):
    out = tmp_path / "run"
    out.mkdir()
    killed = _run(hub_dir, out, "fine_tune", 1)  # SIGKILL at the end of fine-tune epoch 1 (0-based)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert json.loads((out / "state.json").read_text())["completed"] == ["frozen"]
    assert _csv_epochs(out / "logs" / "fine_tune.csv") == [0, 1]

    resumed = _run(hub_dir, out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    begun = (out / "epochs_begun.txt").read_text().split("\n")
    first_run, second_run = begun[:4], [line for line in begun[4:] if line]
    assert first_run == ["frozen 0", "frozen 1", "fine_tune 0", "fine_tune 1"]
    assert second_run == ["fine_tune 2", "fine_tune 3"]  # the frozen stage is not redone
    assert _csv_epochs(out / "logs" / "fine_tune.csv") == [0, 1, 2, 3]
    assert _csv_epochs(out / "logs" / "frozen.csv") == [0, 1]
    state = json.loads((out / "state.json").read_text())
    assert state["completed"] == ["frozen", "fine_tune"]
    assert len(state["history"]["fine_tune"]["loss"]) == 4
    assert (out / "model.keras").exists()
