"""`bench/peer_ludwig.py`: the files and config Ludwig gets, and the claims (no training here)."""

import csv
import os
import sys

import numpy as np

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "bench")
sys.path.insert(0, BENCH)

import peer_ludwig  # noqa: E402


def _split(n, offset=0.0):
    part = {c: np.arange(n, dtype="float32") + offset for c in peer_ludwig.AIRBNB_NUMERIC}
    part.update({c: np.array(["a"] * n, dtype=object) for c in peer_ludwig.AIRBNB_CATEGORICAL})
    part["text"] = np.array([f'cosy flat, "near" T #{i}' for i in range(n)], dtype=object)
    part["label"] = np.linspace(4.0, 6.0, n).astype("float32")
    part["latitude"][0] = np.nan
    return part


def test_csvs_keep_every_row_quote_text_and_leave_missing_numbers_empty(tmp_path):
    peer_ludwig.write_csvs({"train": _split(3), "val": _split(2), "test": _split(2)}, str(tmp_path))
    with open(tmp_path / "train.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert rows[1]["text"] == 'cosy flat, "near" T #1'
    assert rows[0]["latitude"] == "" and float(rows[2]["latitude"]) == 2.0
    assert float(rows[2]["label"]) == 6.0


def test_config_trains_its_own_text_encoder_over_every_column_with_concat():
    config = peer_ludwig.ludwig_config(epochs=10)
    names = [f["name"] for f in config["input_features"]]
    assert names == ["text", *peer_ludwig.AIRBNB_NUMERIC, *peer_ludwig.AIRBNB_CATEGORICAL]
    assert config["input_features"][0]["encoder"] == {"type": "parallel_cnn"}
    assert config["combiner"] == {"type": "concat"} and config["trainer"] == {"epochs": 10}
    assert config["output_features"] == [{"name": "label", "type": "number"}]


def test_claims_need_the_r2_margin_and_half_the_wall_time():
    def row(r2, seconds):
        return {"r2": {"mean": r2}, "seconds": {"mean": seconds}}

    ahead = peer_ludwig.claims({"mmfusion_tf": row(0.62, 100), "ludwig": row(0.53, 280)})
    assert [c["holds"] for c in ahead] == [True, True]
    behind = peer_ludwig.claims({"mmfusion_tf": row(0.56, 150), "ludwig": row(0.53, 280)})
    assert [c["holds"] for c in behind] == [False, False]
    assert behind[0]["measured"] == 0.03 and behind[1]["measured"] == round(150 / 280, 3)
