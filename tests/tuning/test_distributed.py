import json
import os
import socket
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "distributed_script.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # long training; runs in CI's slow tier
def test_chief_and_two_workers_run_every_trial_once(tmp_path, hub_dir):
    port = _free_port()
    base = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    out = tmp_path / "search"
    processes = {
        tuner_id: subprocess.Popen(
            [sys.executable, SCRIPT, hub_dir["image"], hub_dir["audio"], str(out)],
            env={**base, "KERASTUNER_TUNER_ID": tuner_id}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for tuner_id in ("chief", "tuner0", "tuner1")
    }
    outputs = {}
    try:
        for tuner_id, process in processes.items():
            outputs[tuner_id] = process.communicate(timeout=240)[0]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    for tuner_id, process in processes.items():
        assert process.returncode == 0, f"{tuner_id}:\n{outputs[tuner_id][-3000:]}"

    started = []
    for worker in ("tuner0", "tuner1"):
        path = out / f"started_{worker}.txt"
        started += path.read_text().split() if path.exists() else []
    assert sorted(started) == ["0", "1", "2", "3"]  # every trial started once, by one worker
    assert not (out / "started_chief.txt").exists()  # the chief only serves the oracle
    oracle = json.loads((out / "search" / "oracle.json").read_text())
    assert oracle["run_times"] == {"0": 1, "1": 1, "2": 1, "3": 1} and oracle["ongoing_trials"] == {}
    for trial_id in "0123":
        assert json.loads((out / "search" / f"trial_{trial_id}" / "trial.json").read_text())["status"] == "COMPLETED"
    # The chief writes the results once every trial is done.
    summary = json.loads((out / "trials.json").read_text())
    assert summary["completed"] == 4 and summary["settings"]["role"] == "chief"
    assert (out / "best_experiment.yaml").exists()
