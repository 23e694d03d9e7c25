import argparse
import csv
import json

import pytest
import yaml

from mmfusion_tf.config import ExperimentConfig
from mmfusion_tf.training import Trainer
from mmfusion_tf.tuning import FusionHyperModel
from mmfusion_tf.tuning.command import add_tune_parser
from tests.training.test_cli_train import _experiment_yaml, _write_files
from tests.tuning import _tiny


def _run(argv):
    parser = argparse.ArgumentParser(prog="mmfusion")
    add_tune_parser(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_help_lists_the_options():
    parser = argparse.ArgumentParser(prog="mmfusion")
    tune = add_tune_parser(parser.add_subparsers(dest="verb"))
    text = tune.format_help()
    for option in ("--space", "--tuner", "--max-trials", "--epochs", "--output-dir", "--objective", "--cost-aware"):
        assert option in text


@pytest.mark.slow  # ~40 s of training; CI runs it in the slow tier
def test_tune_writes_results_resumes_after_an_interruption_and_feeds_train(tmp_path, hub_dir, monkeypatch):
    monkeypatch.setattr(FusionHyperModel, "_compile", _tiny.eager_compile)
    _write_files(tmp_path)
    config = _experiment_yaml(tmp_path, hub_dir)
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(_tiny.SMALL_SPACE))
    out = tmp_path / "tune"
    argv = ["tune", config, "--space", str(space), "--tuner", "random", "--max-trials", "2", "--epochs", "2",
            "--output-dir", str(out), "--cost-aware", "--seed", "3", "--verbose", "0",
            "--report", str(tmp_path / "r.json")]

    fits, original_fit = [], FusionHyperModel.fit

    def fit(self, hp, model, *args, **kwargs):
        fits.append(dict(hp.values))
        if len(fits) == 2:
            raise KeyboardInterrupt  # the machine goes down during the second trial
        return original_fit(self, hp, model, *args, **kwargs)

    monkeypatch.setattr(FusionHyperModel, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        _run(argv)
    assert json.loads((out / "search" / "trial_0" / "trial.json").read_text())["status"] == "COMPLETED"
    assert json.loads((out / "search" / "trial_1" / "trial.json").read_text())["status"] == "RUNNING"

    assert _run(argv) == 0  # the same command continues: only the interrupted trial runs again
    assert len(fits) == 3 and fits[2] == fits[1]
    oracle = json.loads((out / "search" / "oracle.json").read_text())
    assert oracle["run_times"] == {"0": 1, "1": 1}
    with open(out / "trials.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    assert {"val_f1_macro", "params", "latency_ms", "pareto"} <= set(rows[0])
    weighted = [r for r in rows if r["fusion_method"] == "weighted_sum"]
    assert weighted
    assert sum(float(weighted[0][f"normalized_weight.{m}"]) for m in ("image", "audio")) == pytest.approx(1.0)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["objective"] == {"name": "val_f1_macro", "direction": "max"} and report["pareto_front"]
    for name in ("objective_per_trial.png", "objective_vs_weights.png", "pareto_front.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"

    # The best configuration is an experiment `mmfusion train` accepts: what it does before fitting.
    best = ExperimentConfig.from_yaml(str(out / "best_experiment.yaml"))
    assert best.model.fusion.method == report["best"]["hyperparameters"]["fusion_method"]
    assert [s.epochs for s in best.training.stages] == [1, 1]
    trainer = Trainer(best, tmp_path / "train", verbose=0)
    train_ds, val_ds, _ = trainer.prepare_data()  # the manifest's rows, files and labels are checked here
    assert trainer.build().count_params() == int(float(rows[int(report["best"]["trial_id"])]["params"]))

    # A rerun with other settings is refused rather than mixed into this search.
    with pytest.raises(ValueError, match=r"changed: \['epochs'\]"):
        _run(argv[:9] + ["3"] + argv[10:])
