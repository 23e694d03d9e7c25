"""`mmfusion demo`: train, evaluate and compare unimodal vs fused on the embedded dataset.

Everything is local: the procedurally generated image+text+audio dataset
(`mmfusion_tf.datasets.demo`) and small backbones pretrained on source tasks
and written in TF-Hub format (`demo_backbones`), loaded through `HubEncoder`.
Each model, the three single-modality ones and the fused one, follows the
same transfer-learning recipe: (1) backbones frozen, head trained; (2)
backbones unfrozen and fine-tuned at a lower learning rate.

Example:

>>> report = run_demo(output_dir="/tmp/demo", quick=True)
>>> report["fused"]["accuracy"] > max(r["accuracy"] for r in report["unimodal"].values())
True
"""

import json
import os
import shutil
import time

from mmfusion_tf.config import (
    AudioModality, DataConfig, ExperimentConfig, FusionConfig, HeadConfig, ImageModality, ModelConfig, StageConfig,
    TextModality, TrainingConfig,
)
from mmfusion_tf.datasets import demo
from mmfusion_tf.datasets.demo_backbones import AUDIO_SECONDS, IMAGE_SIZE, SAMPLE_RATE, prepare_demo_backbones
from mmfusion_tf.evaluation import evaluate, write_run_report
from mmfusion_tf.training.trainer import Trainer

MODALITIES = ("image", "audio", "text")


def demo_config(handles, modalities=MODALITIES, fusion="weighted_sum", projection_dim=64, fusion_options=None):
    """The `ModelConfig` of the demo model over the given local backbone handles."""
    specs = {
        "image": ImageModality(
            name="image", handle=handles["image"], image_size=[IMAGE_SIZE, IMAGE_SIZE],
            value_range=[0.0, 1.0], input_shape=[IMAGE_SIZE, IMAGE_SIZE, 3],
        ),
        "audio": AudioModality(
            name="audio", handle=handles["audio"], sample_rate=SAMPLE_RATE,
            num_samples=int(SAMPLE_RATE * AUDIO_SECONDS), pooling="mean",
        ),
        "text": TextModality(name="text", handle=handles["text_encoder"], preprocessor=handles["text_preprocessor"]),
    }
    unknown = [m for m in modalities if m not in specs]
    if unknown:
        raise ValueError(f"Unknown demo modalities {unknown}. Allowed: {list(specs)}")
    return ModelConfig(
        modalities=[specs[m] for m in modalities],
        fusion=FusionConfig(method=fusion, projection_dim=projection_dim, options=dict(fusion_options or {})),
        head=HeadConfig(task="multiclass", labels=list(demo.LABEL_NAMES), hidden_units=[64], dropout=0.1),
        name="demo_" + "_".join(modalities) if len(modalities) > 1 else f"demo_{modalities[0]}_only",
    )


def demo_experiment(config, frozen_epochs, fine_tune_epochs, batch_size=64, seed=0, tensorboard=False):
    """The demo's training recipe: stage 1 frozen at 3e-3, stage 2 fine-tuned at 3e-4."""
    stages = [
        StageConfig(name="frozen", epochs=frozen_epochs, learning_rate=3e-3, backbones="frozen"),
        StageConfig(name="fine_tune", epochs=fine_tune_epochs, learning_rate=3e-4, backbones="all"),
    ]
    return ExperimentConfig(
        model=config,
        data=DataConfig(batch_size=batch_size, augment=False),
        training=TrainingConfig(stages=stages, seed=seed, precision="float32", tensorboard=tensorboard),
    )


def train(config, splits, frozen_epochs, fine_tune_epochs, run_dir, batch_size=64, seed=0, verbose=0,
          tensorboard=False):
    """Two-stage transfer learning on `splits` = (train, val, test) with `Trainer`.

    Checkpoints, logs, `model.keras` and `model_config.yaml` go to `run_dir`
    (emptied first, so each demo run trains from the pretrained backbones).
    Returns the `Trainer`, whose `test_ds` is the test split.
    """
    shutil.rmtree(run_dir, ignore_errors=True)
    train_data, val, test = splits
    experiment = demo_experiment(config, frozen_epochs, fine_tune_epochs, batch_size, seed, tensorboard)
    trainer = Trainer(experiment, run_dir, verbose=verbose)
    trainer.prepare_data(train=train_data, validation=val, test=test)
    trainer.fit()
    return trainer


def export_and_serve(model, config, test, output_dir):
    """Exports `model` to `output_dir/serving_models/demo/<version>/` and queries it over gRPC.

    The warmup records are built from real test examples; the request sends
    one raw example (PNG bytes, WAV bytes, text) to a dev server on 127.0.0.1.
    Returns `(export, serving)` report entries.
    """
    from mmfusion_tf.export import export_saved_model, raw_examples
    from mmfusion_tf.serving import smoke_test

    base = os.path.join(output_dir, "serving_models", "demo")
    examples = {name: values[:16] for name, values in test.items()}
    path = export_saved_model(model, config, base, examples=examples)
    request = raw_examples(config, {name: values[:1] for name, values in test.items()})
    serving = smoke_test(base, request)
    export = {"path": path, "version": int(os.path.basename(path)), "base": base}
    if serving["ok"]:
        serving["label"] = serving.pop("labels")[0]
        serving["expected"] = demo.LABEL_NAMES[int(test["label"][0])]
    return export, serving


def format_table(report):
    """The unimodal-vs-fused table printed by `mmfusion demo`."""
    rows = [("model", "accuracy", "macro-F1")]
    for name, result in report["unimodal"].items():
        rows.append((f"{name} only", f"{result['accuracy']:.3f}", f"{result['macro_f1']:.3f}"))
    fused = report["fused"]
    rows.append((f"fused ({fused['fusion']})", f"{fused['accuracy']:.3f}", f"{fused['macro_f1']:.3f}"))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{r[0]:<{width}}{r[1]:>10}{r[2]:>10}" for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    weights = ", ".join(f"{k} {v:.2f}" for k, v in fused["mean_fusion_weights"].items())
    lines.append(f"mean fusion weights on test: {weights}")
    return "\n".join(lines)


def run_demo(output_dir="mmfusion_demo", report_path=None, fusion="weighted_sum", num_examples=3000,
             frozen_epochs=8, fine_tune_epochs=2, seed=0, quick=False, cache_dir=None, verbose=1):
    """Runs the demo end to end and returns its report (also written as JSON).

    Args:
        output_dir: folder for `report.json`, the training runs (`runs/`;
            the fused model is `runs/fused/model.keras`), the evaluation
            plots (`evaluation/`) and the export (`serving_models/`).
        report_path: optional extra path for the JSON report.
        fusion: fusion method name (see `mmfusion_tf.fusion.available()`).
        num_examples: generated examples (70/15/15 split).
        frozen_epochs: epochs of stage 1 (backbones frozen).
        fine_tune_epochs: epochs of stage 2 (backbones fine-tuned).
        seed: random seed.
        quick: small, fast settings (for tests and CI).
        cache_dir: where the pretrained stand-in backbones are kept.
        verbose: 0 silent, 1 progress lines, 2 also Keras progress bars.
    """
    if quick:
        # Shorter target-task training only; the backbones are pretrained as usual (and cached).
        num_examples, frozen_epochs, fine_tune_epochs = (
            min(num_examples, 1600), min(frozen_epochs, 6), min(fine_tune_epochs, 1)
        )
    say = print if verbose else (lambda *a, **k: None)
    started = time.time()
    os.makedirs(output_dir, exist_ok=True)

    say("[1/5] Preparing local stand-in backbones (TF-Hub format, pretrained on source tasks) ...")
    handles = prepare_demo_backbones(cache_dir, seed=seed, verbose=max(verbose - 1, 0))
    for key, card in handles["cards"].items():
        say(f"      {key:<13} stand-in for {card['stands_in_for']}; source task: {card['source_task']} "
            f"(val acc {card['source_task_val_accuracy']:.2f})")

    say(f"[2/5] Generating the demo dataset ({num_examples} examples: image + audio + text, 8 classes) ...")
    data = demo.make_demo_data(
        num_examples, seed=seed, image_size=IMAGE_SIZE, sample_rate=SAMPLE_RATE, audio_seconds=AUDIO_SECONDS
    )
    splits = demo.split_demo_data(data, seed=seed)
    say(f"      train/val/test = {[len(s['label']) for s in splits]}")

    keras_verbose = 2 if verbose >= 2 else 0
    report = {
        "task": "demo: label = one bit each from image shape, audio pitch, text topic; 8 classes, chance 0.125",
        "unimodal": {},
        "backbones": handles["cards"],
        "settings": {"num_examples": num_examples, "frozen_epochs": frozen_epochs,
                     "fine_tune_epochs": fine_tune_epochs, "seed": seed},
    }
    say("[3/5] Training each modality alone (frozen backbone, then fine-tuning) ...")
    for name in MODALITIES:
        t0 = time.time()
        single = demo_config(handles, (name,))
        trainer = train(single, splits, frozen_epochs, fine_tune_epochs,
                        os.path.join(output_dir, "runs", f"{name}_only"), seed=seed, verbose=keras_verbose)
        metrics = evaluate(trainer.model, trainer.test_ds, single)["probabilities"]
        report["unimodal"][name] = {"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
                                    "train_seconds": round(time.time() - t0, 1)}
        say(f"      {name:<6} accuracy {metrics['accuracy']:.3f}  macro-F1 {metrics['macro_f1']:.3f}  "
            f"({time.time() - t0:.0f} s)")

    say(f"[4/5] Training the fused model ({fusion}) ...")
    t0 = time.time()
    config = demo_config(handles, MODALITIES, fusion=fusion)
    run_dir = os.path.join(output_dir, "runs", "fused")
    trainer = train(config, splits, frozen_epochs, fine_tune_epochs, run_dir, seed=seed, verbose=keras_verbose,
                    tensorboard=True)
    model = trainer.model
    train_seconds = round(time.time() - t0, 1)
    say("      evaluating the fused model: modality contributions, robustness curve, plots ...")
    evaluation_dir = os.path.join(output_dir, "evaluation")
    evaluation = write_run_report(trainer, output_dir=evaluation_dir)
    metrics = evaluation["metrics"]["probabilities"]
    contributions = evaluation["contributions"]
    report["fused"] = {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "fusion": fusion,
        "mean_fusion_weights": {n: round(c["mean_weight"], 4) for n, c in contributions["modalities"].items()},
        "confusion_matrix": metrics["confusion_matrix"],
        "history": trainer.history,
        "train_seconds": train_seconds,
        "contributions": contributions,
        "robustness": evaluation["robustness"],
    }
    model_path = os.path.join(run_dir, "model.keras")  # written by the Trainer, with model_config.yaml beside it
    report["artifacts"] = {
        "model": model_path, "config": os.path.join(run_dir, "model_config.yaml"),
        "run": run_dir, "evaluation": os.path.join(evaluation_dir, "report.json"),
        "plots": evaluation["plots"],
    }
    say("[5/5] Exporting for TensorFlow Serving and answering one gRPC request from the dev server ...")
    report["export"], report["serving"] = export_and_serve(model, config, splits[2], output_dir)
    say(f"      exported {report['export']['path']} (version {report['export']['version']}); "
        + (f"gRPC answer in {report['serving']['latency_ms']:.1f} ms, top label {report['serving']['label']!r} "
           f"(expected {report['serving']['expected']!r})" if report["serving"]["ok"]
           else f"serving FAILED: {report['serving']['error']}"))
    report["total_seconds"] = round(time.time() - started, 1)

    for path in {os.path.join(output_dir, "report.json"), report_path} - {None}:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    say("")
    say(format_table(report))
    say(f"\nreport: {os.path.join(output_dir, 'report.json')}" + (f" and {report_path}" if report_path else ""))
    say(f"fused model: {model_path}   config: {report['artifacts']['config']}   total {report['total_seconds']:.0f} s")
    say(f"plots: {', '.join(sorted(report['artifacts']['plots'].values()))}")
    say(f"TensorBoard: tensorboard --logdir {os.path.join(output_dir, 'runs', 'fused', 'logs', 'tensorboard')}")
    return report
