"""Tuning benchmark: does searching the fusion weights and method beat uniform weights on degraded AV-digits?

1. A short Hyperband search (`mmfusion_tf.tuning.tune`, space `tuning/weights_and_method.yaml`:
   fusion method + per-modality weights α/β, normalised to sum to 1) on AV-digits degraded at
   `--difficulty`, objective validation macro-F1, cost-aware (latency per example recorded, Pareto
   front reported).
2. The best configuration and the uniform-weights baseline (weighted sum, α = β = 0.5, everything
   else identical) retrained from scratch with `--seeds` seeds each (the full two-stage schedule of
   the base experiment: backbones frozen, then fine-tuned), evaluated on the test split.
3. Prints both means ± std of test macro-F1 and accuracy and the difference, whatever it is.

Backbones: the package's local TF-Hub-format stand-ins (`prepare_demo_backbones`: a small CNN
pretrained on shapes, a frame-embedding audio net pretrained on tones), loaded through HubEncoder.

    python bench/tuning.py --json docs/bench_results/tuning_run1.json
Scale up with --max-epochs 9 --max-trials 30 --retrain-epochs 16 --seeds 5.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig  # noqa: E402
from mmfusion_tf.datasets.av_digits import LABEL_NAMES, av_digits  # noqa: E402
from mmfusion_tf.datasets.demo_backbones import prepare_demo_backbones  # noqa: E402
from mmfusion_tf.evaluation import evaluate  # noqa: E402
from mmfusion_tf.training import Trainer  # noqa: E402
from mmfusion_tf.tuning import hp_to_experiment, search_space_from_yaml, tune  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_RATE = 16000


def base_experiment(hub, args):
    """Image + audio over the stand-in backbones, weighted sum with α = β = 0.5: the baseline."""
    frozen = max(1, round(args.retrain_epochs * 0.4))
    model = mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub["image"], image_size=[32, 32], input_shape=[28, 28, 1]),
            mmf.AudioModality(name="audio", handle=hub["audio"], sample_rate=SAMPLE_RATE, num_samples=SAMPLE_RATE),
        ],
        fusion=mmf.FusionConfig(
            method="weighted_sum", projection_dim=64, options={"weights": [0.5, 0.5], "mode": "fixed"}
        ),
        head=mmf.HeadConfig(task="multiclass", labels=list(LABEL_NAMES), hidden_units=[64], dropout=0.1),
        name="av_digits_fusion",
    )
    stages = [
        StageConfig(name="frozen", epochs=frozen, learning_rate=3e-3, backbones="frozen"),
        StageConfig(name="fine_tune", epochs=args.retrain_epochs - frozen, learning_rate=5e-4, backbones="all"),
    ]
    return ExperimentConfig(
        model=model,
        data=DataConfig(batch_size=64, augment=False),
        training=TrainingConfig(stages=stages, precision=args.precision, tensorboard=False, checkpoints=False),
    )


def retrain(experiment, splits, seed, work):
    """Trains `experiment` from scratch with `seed`; test accuracy and macro-F1."""
    experiment = ExperimentConfig.from_dict(experiment.to_dict())
    experiment.training.seed = seed
    keras.backend.clear_session()  # first: it would forget a Keras seed set before it
    keras.utils.set_random_seed(seed)
    trainer = Trainer(experiment, work, verbose=0)
    trainer.prepare_data(train=splits["train"], validation=splits["val"], test=splits["test"])
    started = time.perf_counter()
    trainer.fit()
    metrics = evaluate(trainer.model, trainer.test_ds, experiment.model)["probabilities"]
    return {"seed": seed, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "seconds": round(time.perf_counter() - started, 1)}


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(HERE, "..", "..", "shared", "data"),
                        help="folder with fsdd/ and mnist/")
    parser.add_argument("--difficulty", type=float, default=0.5, help="AV-digits degradation of both modalities")
    parser.add_argument("--max-per-split", type=int, default=None, help="rows per split (default: all, 2400/300/300)")
    parser.add_argument("--space", default=os.path.join(HERE, "..", "tuning", "weights_and_method.yaml"))
    parser.add_argument("--max-epochs", type=int, default=6, help="Hyperband's largest epoch budget per trial")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband's reduction factor")
    parser.add_argument("--max-trials", type=int, default=12, help="cap on Hyperband's trials")
    parser.add_argument("--retrain-epochs", type=int, default=10,
                        help="epochs of the retraining (40 %% frozen, then fine-tuning)")
    parser.add_argument("--seeds", type=int, default=3, help="retraining seeds per configuration")
    parser.add_argument("--precision", default="float32", choices=["auto", "float32", "mixed_bfloat16"])
    parser.add_argument("--hub-dir", help="folder of the stand-in backbones (default: the demo's cache)")
    parser.add_argument("--work-dir", help="search and run folders (default: a new temporary folder)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    work = args.work_dir or tempfile.mkdtemp(prefix="mmf_bench_tuning_")
    hub = prepare_demo_backbones(args.hub_dir)
    data = av_digits(args.root, difficulty=args.difficulty, sample_rate=SAMPLE_RATE, max_seconds=1.0,
                     max_per_split=args.max_per_split)
    splits = {s: {k: data[s][k] for k in ("image", "audio", "label")} for s in ("train", "val", "test")}
    base = base_experiment(hub, args)
    space = search_space_from_yaml(args.space)

    search_started = time.perf_counter()
    summary = tune(
        base, os.path.join(work, "search"), space=space, tuner="hyperband", max_trials=args.max_trials,
        epochs=args.max_epochs, hyperband_factor=args.factor, cost_aware=True, seed=0, verbose=0,
        train=splits["train"], validation=splits["val"],
    )
    search_seconds = time.perf_counter() - search_started
    best_values = summary["best"]["hyperparameters"]
    candidates = {"tuned": hp_to_experiment(base, best_values, space), "uniform": base}

    runs = {name: [] for name in candidates}
    for seed in range(args.seeds):
        for name, experiment in candidates.items():
            runs[name].append(retrain(experiment, splits, seed, os.path.join(work, f"{name}_seed{seed}")))
            print(f"  retrained {name:<8} seed {seed}: test macro-F1 {runs[name][-1]['macro_f1']:.4f}", flush=True)

    stats = {}
    for name, results in runs.items():
        f1_mean, f1_std = mean_std([r["macro_f1"] for r in results])
        acc_mean, acc_std = mean_std([r["accuracy"] for r in results])
        stats[name] = {"macro_f1_mean": f1_mean, "macro_f1_std": f1_std, "accuracy_mean": acc_mean,
                       "accuracy_std": acc_std, "runs": results}
    difference = stats["tuned"]["macro_f1_mean"] - stats["uniform"]["macro_f1_mean"]
    tuned_fusion = candidates["tuned"].model.fusion
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
        "settings": {k: v for k, v in vars(args).items() if k not in ("json", "work_dir", "hub_dir")},
        "data": data["info"]["counts"],
        "search": {
            "tuner": "hyperband", "trials": summary["num_trials"], "completed": summary["completed"],
            "objective": summary["objective"], "best_trial": summary["best"]["trial_id"],
            "best_val_macro_f1": summary["best"][summary["objective"]["name"]],
            "best_hyperparameters": best_values, "pareto_front": summary.get("pareto_front", []),
            "seconds": round(search_seconds, 1),
            "trials_table": [
                {k: r.get(k) for k in ("trial_id", "status", "fusion_method", "normalized_weight.image",
                                       "normalized_weight.audio", "low_rank.rank", "tuner/epochs",
                                       "val_f1_macro", "latency_ms", "params")}
                for r in summary["trials"]
            ],
        },
        "tuned_fusion": {"method": tuned_fusion.method, "options": tuned_fusion.options},
        "retrained": stats,
        "macro_f1_difference_tuned_minus_uniform": difference,
        "total_seconds": round(time.perf_counter() - started, 1),
    }

    print(f"\nAV-digits, difficulty {args.difficulty}: {result['data']} examples; stand-in backbones, {args.precision}")
    print(f"Hyperband search: {summary['completed']}/{summary['num_trials']} trials in {search_seconds:.0f} s, "
          f"best trial {summary['best']['trial_id']} val macro-F1 {result['search']['best_val_macro_f1']:.4f}: "
          f"{tuned_fusion.method} {tuned_fusion.options}")
    print(f"retrained {args.seeds} seeds x {args.retrain_epochs} epochs, test split:")
    print(f"{'configuration':<34}{'macro-F1 mean ± std':>22}{'accuracy mean ± std':>22}")
    labels = {"tuned": f"tuned ({tuned_fusion.method})", "uniform": "uniform weighted sum (α = β)"}
    for name in ("tuned", "uniform"):
        s = stats[name]
        print(f"{labels[name]:<34}{s['macro_f1_mean']:>13.4f} ± {s['macro_f1_std']:.4f}"
              f"{s['accuracy_mean']:>13.4f} ± {s['accuracy_std']:.4f}")
    print(f"{'difference (tuned - uniform)':<34}{difference:>+13.4f}")
    print(f"total {result['total_seconds']:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, default=str)
    return result


if __name__ == "__main__":
    main()
