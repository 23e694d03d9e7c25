"""What the pretrained text encoder adds: imported MiniLM vs the same architecture from scratch.

Two text tasks:

- `airbnb`: Airbnb Boston listings (../shared/data/airbnb_boston), log(1+price)
  regression from `name` + `description`; a fixed subset split once with seed 0
  (train / validation / test sizes below); metric: test R².
- `demo`: the demo's text source task (`make_source_task("text")`, 4 topics),
  few labelled examples; metric: test accuracy.

Two encoders with the same architecture and tokenizer: `pretrained` (the
sentence-transformers all-MiniLM-L6-v2 checkpoint imported with
`mmfusion_tf.hub.import_bert`) and `scratch` (the same `bert_encoder`
randomly initialised, seed = run seed). For each, seeds 0, 1, 2:

- `frozen`: features = the encoder's `default` output (masked mean), a
  Dense(64, relu) -> output head trained on them (Adam 1e-3, early stopping
  on validation loss);
- `fine-tuned`: that head on the encoder, everything trained together for
  the same number of epochs at Adam 1e-4 (dropout as in the checkpoint).

    python bench/transfer_benefit.py --json docs/bench_results/transfer_benefit.json \\
        --markdown docs/bench_results/transfer_benefit.md
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.backbones import TextEncoder  # noqa: E402
from mmfusion_tf.datasets.airbnb import airbnb_listings, split_listings  # noqa: E402
from mmfusion_tf.hub import export_keras_as_hub_module, import_bert  # noqa: E402
from mmfusion_tf.hub.bert_encoder import bert_encoder  # noqa: E402
from mmfusion_tf.hub.bert_checkpoint import load_bert_checkpoint  # noqa: E402

AIRBNB = os.path.join(ROOT, "..", "shared", "data", "airbnb_boston", "listings.csv.gz")
INITS = ("pretrained", "scratch")


# === Data ===


def airbnb_task(path, sizes, seed=0):
    """name + description -> log(1 + price), a random subset split into train/validation/test."""
    parts = split_listings(airbnb_listings(path), sizes, seed)
    return {name: (part["text"], part["log_price"]) for name, part in zip(("train", "validation", "test"), parts)}


def demo_task(sizes, seed=0):
    from mmfusion_tf.datasets.demo import make_source_task

    x, y = make_source_task("text", num_examples=sum(sizes), seed=seed + 1)
    x = np.asarray(x, dtype=object)
    splits, start = {}, 0
    for name, size in zip(("train", "validation", "test"), sizes):
        splits[name] = (x[start:start + size], y[start:start + size])
        start += size
    return splits


# === Models ===


def scratch_encoder(checkpoint, seed, folder):
    """The checkpoint's architecture, randomly initialised (BERT's N(0, 0.02) init), as a TF-Hub module."""
    keras.utils.set_random_seed(seed)
    return export_keras_as_hub_module(bert_encoder(checkpoint.config), folder, overwrite=True)


def head(num_outputs, seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.layers.Dense(64, activation="relu", name="hidden"), keras.layers.Dense(num_outputs, name="output")],
        name="head",
    )


def features(encoder, text, batch_size=64):
    return np.concatenate([encoder(text[i:i + batch_size]).numpy() for i in range(0, len(text), batch_size)])


def loss_and_outputs(kind):
    if kind == "regression":
        return "mse", 1
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True), 4


def score(kind, y_true, y_pred, scale):
    if kind == "regression":
        y_pred = y_pred[:, 0] * scale[1] + scale[0]
        residual = ((y_true - y_pred) ** 2).sum()
        return {"r2": float(1.0 - residual / ((y_true - y_true.mean()) ** 2).sum()),
                "rmse": float(np.sqrt(residual / len(y_true)))}
    return {"accuracy": float((y_pred.argmax(-1) == y_true).mean())}


def run_one(kind, splits, pair, seed, epochs, lr, batch_size):
    """Frozen (head on features) then fine-tuned (head + encoder) scores for one encoder and seed."""
    loss, outputs = loss_and_outputs(kind)
    y = {k: v[1] for k, v in splits.items()}
    scale = (float(y["train"].mean()), float(y["train"].std())) if kind == "regression" else (0.0, 1.0)
    target = {k: (v - scale[0]) / scale[1] if kind == "regression" else v for k, v in y.items()}

    frozen_encoder = TextEncoder(pair["encoder"], preprocessor=pair["preprocessor"], output_key="default")
    start = time.perf_counter()
    feats = {k: features(frozen_encoder, v[0]) for k, v in splits.items()}
    frozen_head = head(outputs, seed)
    frozen_head.compile(keras.optimizers.Adam(1e-3), loss)
    frozen_head.fit(
        feats["train"], target["train"], validation_data=(feats["validation"], target["validation"]),
        epochs=300, batch_size=batch_size, verbose=0,
        callbacks=[keras.callbacks.EarlyStopping(patience=20, restore_best_weights=True)],
    )
    frozen = {**score(kind, y["test"], frozen_head.predict(feats["test"], verbose=0), scale),
              "seconds": time.perf_counter() - start}

    keras.utils.set_random_seed(seed)
    tuned_encoder = TextEncoder(pair["encoder"], preprocessor=pair["preprocessor"], output_key="default",
                                trainable=True)
    tuned_head = head(outputs, seed)
    text = keras.Input((), dtype="string", name="text")
    model = keras.Model(text, tuned_head(tuned_encoder(text)))
    tuned_head.set_weights(frozen_head.get_weights())  # stage 2 starts from the stage-1 head
    model.compile(keras.optimizers.Adam(lr), loss)
    start = time.perf_counter()
    model.fit(splits["train"][0], target["train"], epochs=epochs, batch_size=32, verbose=0)
    predictions = np.concatenate([model(splits["test"][0][i:i + 64], training=False).numpy()
                                  for i in range(0, len(y["test"]), 64)])
    tuned = {**score(kind, y["test"], predictions, scale), "seconds": time.perf_counter() - start}
    return frozen, tuned


# === Report ===


def summarise(runs, metric):
    table = {}
    for (task, init, mode), values in runs.items():
        scores = [v[metric[task]] for v in values]
        table.setdefault(task, {}).setdefault(init, {})[mode] = {
            "mean": statistics.mean(scores), "std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
            "runs": scores, "seconds": statistics.mean(v["seconds"] for v in values),
        }
    return table


def markdown(results):
    lines = [
        "# Transfer benefit: imported all-MiniLM-L6-v2 vs the same architecture from scratch",
        "",
        f"`python bench/transfer_benefit.py` — {results['machine']['cpus']} CPUs, TensorFlow {results['tensorflow']}, "
        f"{len(results['seeds'])} seeds ({', '.join(map(str, results['seeds']))}); mean ± std over seeds.",
        "",
        "| task | metric | encoder | frozen | fine-tuned |",
        "| --- | --- | --- | --- | --- |",
    ]
    for task, by_init in results["table"].items():
        for init, modes in by_init.items():
            cells = [f"{modes[m]['mean']:.3f} ± {modes[m]['std']:.3f}" for m in ("frozen", "fine-tuned")]
            lines.append(f"| {task} | {results['metric'][task]} | {init} | {cells[0]} | {cells[1]} |")
    lines += ["", "Pretrained minus scratch (mean):", ""]
    for task, gain in results["pretrained_minus_scratch"].items():
        lines.append(f"- {task}: frozen {gain['frozen']:+.3f}, fine-tuned {gain['fine-tuned']:+.3f}")
    lines += ["", "Settings:", ""]
    for task, settings in results["settings"].items():
        lines.append(f"- {task}: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
    lines += [
        "",
        "Frozen: a Dense(64, relu) head on the encoder's `default` output (masked mean), Adam 1e-3, early "
        "stopping on validation loss. Fine-tuned: the same head, initialised from the frozen run, trained "
        "together with the encoder (dropout 0.1) for the listed epochs at Adam 1e-4, batch 32. `scratch` = "
        "the same `bert_encoder` architecture and tokenizer with BERT's random init (seeded by the run seed).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="all-minilm-l6-v2", help="checkpoint folder or packaged name")
    parser.add_argument("--tasks", nargs="+", default=["demo", "airbnb"], choices=["demo", "airbnb"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--airbnb-sizes", nargs=3, type=int, default=[1000, 200, 600], metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--airbnb-seq-length", type=int, default=64)
    parser.add_argument("--airbnb-epochs", type=int, default=1, help="fine-tuning epochs")
    parser.add_argument("--demo-sizes", nargs=3, type=int, default=[48, 48, 800], metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--demo-epochs", type=int, default=3, help="fine-tuning epochs")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--markdown", help="write the table to this Markdown file")
    args = parser.parse_args(argv)

    settings = {
        "airbnb": {"sizes (train/val/test)": "/".join(map(str, args.airbnb_sizes)),
                   "seq_length": args.airbnb_seq_length,
                   "fine-tuning epochs": args.airbnb_epochs, "target": "log(1+price)"},
        "demo": {"sizes (train/val/test)": "/".join(map(str, args.demo_sizes)), "seq_length": 16,
                 "fine-tuning epochs": args.demo_epochs, "target": "topic (4 classes)"},
    }
    metric = {"airbnb": "r2", "demo": "accuracy"}
    checkpoint = load_bert_checkpoint(args.checkpoint)
    runs = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="transfer_benefit_") as work:
        for task in args.tasks:
            kind = "regression" if task == "airbnb" else "classification"
            splits = airbnb_task(AIRBNB, args.airbnb_sizes) if task == "airbnb" else demo_task(args.demo_sizes)
            seq_length = settings[task]["seq_length"]
            pretrained = import_bert(args.checkpoint, os.path.join(work, f"{task}_pretrained"), seq_length=seq_length)
            for seed in args.seeds:
                for init in INITS:
                    pair = dict(pretrained)
                    if init == "scratch":
                        pair["encoder"] = scratch_encoder(
                            checkpoint, seed, os.path.join(work, f"{task}_scratch_{seed}")
                        )
                    frozen, tuned = run_one(kind, splits, pair, seed, settings[task]["fine-tuning epochs"], 1e-4, 64)
                    runs.setdefault((task, init, "frozen"), []).append(frozen)
                    runs.setdefault((task, init, "fine-tuned"), []).append(tuned)
                    print(f"{task:<7} {init:<10} seed {seed}: frozen {frozen[metric[task]]:.3f}, "
                          f"fine-tuned {tuned[metric[task]]:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)

    results = {
        "benchmark": "transfer_benefit",
        "metric": {t: metric[t] for t in args.tasks},
        "table": summarise(runs, metric),
        "settings": {t: settings[t] for t in args.tasks},
        "seeds": args.seeds,
        "seconds": time.perf_counter() - started,
        "tensorflow": tf.__version__,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    for task, by_init in results["table"].items():
        gain = {m: by_init["pretrained"][m]["mean"] - by_init["scratch"][m]["mean"] for m in ("frozen", "fine-tuned")}
        results.setdefault("pretrained_minus_scratch", {})[task] = gain
    text = markdown(results)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
