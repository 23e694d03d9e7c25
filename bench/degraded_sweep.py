"""Degraded AV-digits (difficulty 0.5): variants of the default recipe against its error-halving target.

The variants were measured while the package's default modality dropout was 0 (before it became 0.3,
the best of them); `base` is the default of the code you run, so it now includes modality dropout 0.3.

Each variant changes one setting of `bench/results.py`'s "balanced gated" run (same data, backbones,
2 frozen + 6 fine-tuning epochs), 3 seeds, 2 worker processes; the error ratio is against the degraded
image-only accuracy recorded in docs/bench_results/results.json.

    python bench/degraded_sweep.py                       # every variant
    python bench/degraded_sweep.py mdrop0.2 gblend+mdrop  # some
"""
import json
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import results as R  # noqa: E402
from worker_pool import run_in_workers  # noqa: E402

from mmfusion_tf.evaluation import evaluate  # noqa: E402

VARIANTS = {
    "base": {},
    "aux2": {"training": {"auxiliary_weight": 2.0}},
    "mdrop0.2": {"fusion": {"modality_dropout": 0.2}},
    "smooth0.1": {"training": {"label_smoothing": 0.1}},
    "gblend+mdrop": {"training": {"balancing": "gradient_blending"}, "fusion": {"modality_dropout": 0.2}},
    "mdrop0.3": {"fusion": {"modality_dropout": 0.3}},
    "aux2+mdrop0.2": {"training": {"auxiliary_weight": 2.0}, "fusion": {"modality_dropout": 0.2}},
    "gblend+aux2+mdrop": {"training": {"balancing": "gradient_blending", "auxiliary_weight": 2.0},
                          "fusion": {"modality_dropout": 0.2}},
}


def job_run(context, job):
    """One seeded training of one variant on degraded AV-digits; its test accuracy and AUC."""
    v = VARIANTS[job["variant"]]
    splits, _ = R.av_splits(context["root"], 0.5, None)
    plan = R.stages(2, 6)
    config = R.experiment(R.av_modalities(context["hub"], "both"), R.DEFAULT, R.av_head(), plan)
    for k, val in v.get("training", {}).items():
        setattr(config.training, k, val)
    for k, val in v.get("fusion", {}).items():
        setattr(config.model.fusion, k, val)
    trainer, seconds = R.train(config, splits, job["seed"], job["work"])
    m = evaluate(trainer.model, trainer.test_ds, config.model)["probabilities"]
    print(job["variant"], job["seed"], round(m["accuracy"], 4), round(m["auc"], 4), int(seconds), flush=True)
    return {"variant": job["variant"], "seed": job["seed"], "accuracy": m["accuracy"], "auc": m["auc"]}


if __name__ == "__main__":
    names = sys.argv[1:] or list(VARIANTS)
    context = {"root": os.path.join(HERE, "..", "..", "shared", "data"), "hub": R.prepare_demo_backbones(None)}
    with tempfile.TemporaryDirectory(prefix="degraded_sweep_") as work:
        jobs = [{"variant": n, "seed": s, "work": os.path.join(work, f"{n}_{s}")} for n in names for s in range(3)]
        out = run_in_workers(job_run, context, jobs, 2)
    print(json.dumps(out))
    with open(os.path.join(HERE, "..", "docs", "bench_results", "results.json"), encoding="utf-8") as f:
        image_only = json.load(f)["avdigits"]["table"]["degraded"]["image only"]["accuracy"]["mean"]
    for n in names:
        acc = [o["accuracy"] for o in out if o["variant"] == n]
        print(n, round(statistics.mean(acc), 4), [round(a, 3) for a in acc],
              "ratio", round((1 - statistics.mean(acc)) / (1 - image_only), 3))
