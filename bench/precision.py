"""Mixed-precision benchmark: s/epoch of a reference fusion model, float32 vs mixed_bfloat16.

The model: a small conv image encoder (64x64 RGB), a Conv1D audio encoder over
log-mel frames (98x64), a one-block Transformer text encoder (32 token ids),
`mmfusion_tf.fusion.TransformerFusion` over the three modality tokens, and a
classification head with float32 logits, trained with Adam on synthetic
in-memory data. One model is built per policy (`apply_precision` before the
build); after one warm-up epoch each, timed turns alternate float32,
mixed_bfloat16, float32, ... so both see the same machine noise; the figures
are medians over the timed epochs.

    python bench/precision.py --json docs/bench_results/precision_run1.json

`bf16_vs_fp32` = s/epoch float32 / s/epoch mixed_bfloat16: the bfloat16
speed-up (< 1 means bfloat16 is slower).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.fusion import TransformerFusion  # noqa: E402
from mmfusion_tf.training.precision import BF16_CPU_FLAGS, apply_precision, cpu_flags, resolve_precision  # noqa: E402

POLICIES = ("float32", "mixed_bfloat16")
IMAGE_SHAPE, AUDIO_SHAPE, TEXT_LENGTH, VOCAB, CLASSES = (64, 64, 3), (98, 64), 32, 1000, 10
REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def synthetic_data(n, seed=0):
    rng = np.random.default_rng(seed)
    features = {
        "image": rng.uniform(size=(n, *IMAGE_SHAPE)).astype("float32"),
        "audio": rng.normal(size=(n, *AUDIO_SHAPE)).astype("float32"),
        "text": rng.integers(1, VOCAB, (n, TEXT_LENGTH)).astype("int32"),
    }
    # Labels that depend on the inputs, so the loss can fall.
    score = (features["image"].mean((1, 2)) @ rng.normal(size=(3, CLASSES))
             + features["audio"].mean(1) @ rng.normal(size=(64, CLASSES)))
    return features, score.argmax(-1).astype("int32")


def fusion_model(width=128):
    """The reference model, built under the current global dtype policy."""
    # === Layers and Functional Model ===
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = image
    for filters in (32, 64, 128):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    image_features = keras.layers.Dense(width, activation="relu")(keras.layers.GlobalAveragePooling2D()(x))

    audio = keras.Input(AUDIO_SHAPE, name="audio")
    a = keras.layers.Conv1D(width, 5, padding="same", activation="relu")(audio)
    a = keras.layers.Conv1D(width, 5, strides=2, padding="same", activation="relu")(a)
    audio_features = keras.layers.GlobalAveragePooling1D()(a)

    text = keras.Input((TEXT_LENGTH,), dtype="int32", name="text")
    t = keras.layers.Embedding(VOCAB, width)(text)
    t = keras.layers.LayerNormalization()(t + keras.layers.MultiHeadAttention(4, width // 4)(t, t))
    t = keras.layers.LayerNormalization()(
        t + keras.layers.Dense(width)(keras.layers.Dense(2 * width, activation="gelu")(t))
    )
    text_features = keras.layers.GlobalAveragePooling1D()(t)

    fused, _ = TransformerFusion(projection_dim=width, num_heads=4, ff_dim=2 * width, dropout=0.0, name="fusion")(
        [image_features, audio_features, text_features]
    )
    hidden = keras.layers.Dense(width, activation="relu")(fused)
    logits = keras.layers.Dense(CLASSES, dtype="float32", name="logits")(hidden)
    return keras.Model({"image": image, "audio": audio, "text": text}, logits, name="reference_fusion")


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def cpu_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "model": model,
        "logical_cores": os.cpu_count(),
        "flags": {flag: flag in flags for flag in REPORTED_FLAGS},
        "native_bf16": bool(set(BF16_CPU_FLAGS) & flags),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2,
                        help="timed epochs per turn (after one warm-up epoch per policy)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating turns per policy")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)

    features, labels = synthetic_data(args.examples)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(args.batch_size).cache().prefetch(2)
    models, timers, losses = {}, {}, {}
    for policy in POLICIES:
        apply_precision(policy)
        keras.utils.set_random_seed(0)
        models[policy] = fusion_model()
        models[policy].compile(
            keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )
        timers[policy] = EpochTimer()
        models[policy].fit(dataset, epochs=1, shuffle=False, verbose=0)  # warm-up: tracing, first-touch allocations
    apply_precision("float32")

    for turn in range(args.repeats):
        for policy in POLICIES:
            history = models[policy].fit(dataset, epochs=args.epochs, shuffle=False, verbose=0,
                                         callbacks=[timers[policy]])
            losses[policy] = float(history.history["loss"][-1])
            times = " ".join(f"{t:.2f}" for t in timers[policy].times[-args.epochs:])
            print(f"turn {turn + 1}/{args.repeats} {policy:15s} {times} s/epoch", flush=True)

    median = {policy: statistics.median(timers[policy].times) for policy in POLICIES}
    ratio = median["float32"] / median["mixed_bfloat16"]
    cpu = cpu_description()
    steps = -(-args.examples // args.batch_size)
    print()
    print(f"CPU: {cpu['model']} ({cpu['logical_cores']} logical cores); native bfloat16 "
          f"(avx512_bf16/amx_bf16): {'yes' if cpu['native_bf16'] else 'no'}; "
          f"auto precision -> {resolve_precision('auto')}")
    print(f"{'policy':16s} {'median s/epoch':>15s} {'min':>7s} {'max':>7s} {'ms/step':>8s} {'final loss':>11s}")
    for policy in POLICIES:
        times = timers[policy].times
        print(f"{policy:16s} {median[policy]:15.2f} {min(times):7.2f} {max(times):7.2f} "
              f"{1000 * median[policy] / steps:8.1f} {losses[policy]:11.4f}")
    print(f"bf16_vs_fp32 (speed-up of mixed_bfloat16; < 1 = slower): {ratio:.3f}")

    if args.json:
        report = {
            "benchmark": "precision",
            "bf16_vs_fp32": ratio,
            "s_per_epoch": median,
            "epoch_times": {policy: timers[policy].times for policy in POLICIES},
            "final_loss": losses,
            "auto_precision": resolve_precision("auto"),
            "settings": {"examples": args.examples, "batch_size": args.batch_size, "steps_per_epoch": steps,
                         "epochs_per_turn": args.epochs, "repeats": args.repeats,
                         "parameters": models["float32"].count_params()},
            "machine": {"cpu": cpu, "python": platform.python_version(), "tensorflow": tf.__version__,
                        "keras": keras.__version__,
                        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 Linux)")},
            "date": time.strftime("%Y-%m-%d"),
        }
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
