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


def stats(mean, std=0.01, runs=None):
    return {"mean": mean, "std": std, "runs": runs or [mean] * 3}


def fake_results(fused=0.80, image=0.70, without_image=0.6, airbnb_fused=0.6, noisy=0.6, quick=False):
    models = ["image only", "audio only", "gated", results.DEFAULT]
    row = {"params": 1000, "latency_ms_per_example": {"batch_1": 2.0, "batch_64": 0.1}, "train_seconds": 10.0}
    table = {
        variant: {
            m: {**row, "accuracy": stats(v), "macro_f1": stats(v), "auc": stats(0.9 + v / 10),
                "calibration_error": stats(0.05)}
            for m, v in zip(models, (image, 0.6, fused - 0.01, fused))
        }
        for variant in ("clean", "degraded")
    }
    removed = {"all": stats(0.9), "without image": stats(without_image), "without audio": stats(0.69)}
    curves = {name: [stats(0.9), stats(0.5)] for name in ("image", "audio", "all")}
    return {
        "machine": "test", "quick": quick, "total_seconds": 60.0, "settings": {"seeds": [0, 1, 2]},
        "avdigits": {"variants": {"clean": 0.0, "degraded": 0.5}, "models": models, "table": table,
                     "counts": {"clean": {"train": 10, "val": 5, "test": 5}},
                     "schedule": {"frozen_epochs": 1, "fine_tune_epochs": 1}},
        "robustness": {"noise_levels": [0.0, 1.0], "fusion": "balanced gated with presence inputs", "models": {
            "no modality dropout": {"modality_dropout": 0.0, "accuracy": removed, "noise_curves": curves},
            "modality dropout 0.3": {"modality_dropout": 0.3, "noise_curves": curves, "accuracy": removed},
        }},
        "airbnb": {"sizes": {"train": 10, "val": 5, "test": 5}, "target": "log(1 + price)", "epochs": 1, "table": {
            "text only": {"r2": stats(0.3), "rmse": stats(0.6)}, "tabular only": {"r2": stats(0.5), "rmse": stats(0.5)},
            results.DEFAULT: {"r2": stats(airbnb_fused), "rmse": stats(0.4)},
            f"{results.DEFAULT} + noise": {"r2": stats(noisy), "rmse": stats(0.4)},
        }},
    }


def _claims(data, quick=False):
    return results.claims(data, argparse.Namespace(quick=quick, modality_dropout=0.3))


def test_claims_hold_when_the_default_fused_model_beats_every_single_modality():
    out = {c["name"]: c for c in _claims(fake_results(fused=0.90))}
    assert all(set(c) == {"name", "measured", "target", "holds", "checked"} for c in out.values())
    beats = out[f"degraded AV-digits: {results.DEFAULT} >= the best single modality (image only) in accuracy"]
    assert beats["holds"] and beats["measured"] == "0.9000 vs 0.7000; 3/3 seeds"
    halved = out[f"degraded AV-digits: {results.DEFAULT} error <= 0.5 x the best single modality's (image only)"]
    assert halved["holds"] and halved["measured"] == pytest.approx(0.1 / 0.3, abs=1e-4)
    assert out["missing modality: image removed >= 0.9 x audio-only accuracy"]["measured"] == 1.0
    without_audio = out["missing modality: audio removed >= 0.98 x image-only accuracy"]
    assert without_audio["measured"] == pytest.approx(0.69 / 0.7, abs=1e-4)
    assert all(c["holds"] for c in out.values())


def test_claims_fail_when_fusion_loses_on_seeds_or_a_noise_column_hurts():
    data = fake_results(fused=0.80, airbnb_fused=0.55, noisy=0.50)
    # above image only (0.7) on 1 of 3 seeds
    data["avdigits"]["table"]["clean"][results.DEFAULT]["accuracy"] = stats(0.71, runs=[0.8, 0.66, 0.67])
    out = {c["name"]: c for c in _claims(data)}
    clean = out[f"clean AV-digits: {results.DEFAULT} >= the best single modality (image only) in accuracy"]
    assert not clean["holds"] and clean["measured"].endswith("1/3 seeds")
    halved = out[f"degraded AV-digits: {results.DEFAULT} error <= 0.5 x the best single modality's (image only)"]
    assert not halved["holds"]
    assert not out["Airbnb: a pure-noise column costs the fused model <= 1% (relative) of R²"]["holds"]
    text = results.markdown({**data, "claims": list(out.values())})
    assert "DOES NOT HOLD: clean AV-digits" in text


def test_quick_claims_are_looser_and_leave_the_error_ratio_unchecked():
    out = {c["name"]: c for c in _claims(fake_results(without_image=0.5), quick=True)}
    assert out["missing modality: image removed >= 0.8 x audio-only accuracy"]["holds"]  # 0.5 / 0.6
    ratio = f"degraded AV-digits: {results.DEFAULT} error <= 0.5 x the best single modality's (image only)"
    assert not out[ratio]["checked"]


def test_markdown_lists_every_model_and_setting():
    data = fake_results()
    text = results.markdown({**data, "claims": _claims(data)})
    for name in ["image only", "audio only", "gated", results.DEFAULT, "without image", "tabular only"]:
        assert f" {name} |" in text
    assert "| 0.800 ± 0.010 |" in text and "1,000" in text


def test_model_names_map_to_a_recipe():
    assert results.recipe("image only") == ("concat", False, "none")
    assert results.recipe("gated") == ("gated", False, "none")
    assert results.recipe("balanced gated + G-Blend") == ("gated", True, "gradient_blending")
    assert results.recipe("balanced gated + noise") == ("gated", True, "none")


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
    splits, total, sizes = results.airbnb_splits(AIRBNB, None, (0.7, 0.1, 0.2))
    assert total > 3000 and sum(sizes) == total and sizes[0] == round(0.7 * total)
    assert [len(splits[s]["label"]) for s in ("train", "val", "test")] == list(sizes)
    assert 3.5 < float(splits["train"]["label"].mean()) < 6.5  # raw log(1 + dollars): the model standardises
    assert splits["train"]["noise"].dtype == np.float32 and abs(float(splits["train"]["noise"].std()) - 1) < 0.1
    assert set(splits["train"]["shared_bath"]) <= {"yes", "no"}
    assert splits["train"]["bathrooms"].dtype == np.float32 and np.nanmax(splits["train"]["bathrooms"]) >= 1
    assert all(isinstance(t, str) and t for t in splits["test"]["text"])
    small, _, small_sizes = results.airbnb_splits(AIRBNB, (300, 50, 100), None)
    assert small_sizes == (300, 50, 100) and len(small["val"]["label"]) == 50
