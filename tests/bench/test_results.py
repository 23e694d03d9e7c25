"""`bench/results.py`: Airbnb parsing, the claims it checks, its tables and figures (no training here)."""

import argparse
import os
import sys

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import results  # noqa: E402
import results_plots  # noqa: E402

AIRBNB = os.path.join(BENCH, "..", "..", "shared", "data", "airbnb_boston", "listings.csv.gz")


def stats(mean, std=0.01):
    return {"mean": mean, "std": std, "runs": [mean]}


def fake_results(fused=0.80, image=0.70, dropout_gain=0.2, airbnb_fused=0.6):
    models = ["image only", "audio only", "concat", "attention"]
    row = {"params": 1000, "latency_ms_per_example": {"batch_1": 2.0, "batch_64": 0.1}, "train_seconds": 10.0}
    table = {
        variant: {
            m: {**row, "accuracy": stats(v), "macro_f1": stats(v)}
            for m, v in zip(models, (image, 0.5, fused, fused - 0.01))
        }
        for variant in ("clean", "degraded")
    }
    removed = {"all": stats(0.9), "without image": stats(0.1), "without audio": stats(0.85)}
    curves = {name: [stats(0.9), stats(0.5)] for name in ("image", "audio", "all")}
    return {
        "machine": "test", "quick": True, "total_seconds": 60.0, "settings": {"seeds": [0]},
        "avdigits": {"variants": {"clean": 0.0, "degraded": 0.5}, "models": models, "table": table,
                     "counts": {"clean": {"train": 10, "val": 5, "test": 5}},
                     "schedule": {"frozen_epochs": 1, "fine_tune_epochs": 1}},
        "robustness": {"noise_levels": [0.0, 1.0], "models": {
            "no modality dropout": {"modality_dropout": 0.0, "accuracy": removed, "noise_curves": curves},
            "modality dropout 0.3": {"modality_dropout": 0.3, "noise_curves": curves, "accuracy": {
                **removed, "without image": stats(0.1 + dropout_gain)}},
        }},
        "airbnb": {"sizes": {"train": 10, "val": 5, "test": 5}, "target": "log(1 + price)", "epochs": 1, "table": {
            "text only": {"r2": stats(0.3), "rmse": stats(0.6)}, "tabular only": {"r2": stats(0.5), "rmse": stats(0.5)},
            "concat": {"r2": stats(airbnb_fused), "rmse": stats(0.4)}, "gated": {"r2": stats(airbnb_fused - 0.05), "rmse": stats(0.45)},
        }},
    }


def test_claims_hold_when_fusion_and_dropout_pay():
    out = results.claims(fake_results(), argparse.Namespace(min_margin=0.05))
    assert [c["holds"] for c in out] == [True, True, True, True]
    assert [c["checked"] for c in out] == [True, False, True, False]
    assert out[0]["value"] == pytest.approx(0.10)  # concat 0.80 - image 0.70


def test_claims_fail_when_fusion_does_not_beat_the_best_single_modality():
    data = fake_results(fused=0.72, dropout_gain=-0.05, airbnb_fused=0.45)
    out = results.claims(data, argparse.Namespace(min_margin=0.05))
    assert [c["holds"] for c in out] == [False, True, False, False]
    text = results.markdown({**data, "claims": out})
    assert "DOES NOT HOLD: degraded AV-digits: the best fusion" in text and "finding: false: Airbnb" in text


def test_markdown_lists_every_model_and_setting():
    data = fake_results()
    text = results.markdown({**data, "claims": results.claims(data, argparse.Namespace(min_margin=0.05))})
    for name in ["image only", "audio only", "concat", "attention", "without image", "tabular only", "gated"]:
        assert f" {name} |" in text
    assert "| 0.800 ± 0.010 |" in text and "1,000" in text


def test_figures_are_written_as_png(tmp_path):
    data = fake_results()
    paths = [
        results_plots.plot_av_digits(data["avdigits"], data["avdigits"]["models"], str(tmp_path / "a.png")),
        results_plots.plot_missing_modality(data["robustness"], str(tmp_path / "m.png")),
        results_plots.plot_noise_curves(data["robustness"], str(tmp_path / "n.png")),
    ]
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not os.path.exists(AIRBNB), reason="offline data folder ../shared/data/airbnb_boston is absent")
def test_airbnb_splits_parse_prices_tables_and_text():
    splits, total, (mean, std) = results.airbnb_splits(AIRBNB, (300, 50, 100))
    assert total > 3000 and [len(splits[s]["label"]) for s in ("train", "val", "test")] == [300, 50, 100]
    assert abs(float(splits["train"]["label"].mean())) < 1e-5 and float(splits["train"]["label"].std()) == pytest.approx(1, 1e-4)
    assert 3.5 < mean < 6.5 and 0.2 < std < 2.0  # log(1 + dollars)
    assert set(splits["train"]["shared_bath"]) <= {"yes", "no"}
    assert splits["train"]["bathrooms"].dtype == np.float32 and np.nanmax(splits["train"]["bathrooms"]) >= 1
    assert all(isinstance(t, str) and t for t in splits["test"]["text"])
