"""Input-pipeline benchmark on AV-digits files (PNG images + 8 kHz WAVs).

Measures, side by side in one run on the same files:
  1. examples/s of `mmfusion_tf.data.make_dataset` (decode PNG, decode WAV with
     TF ops, resample 8 kHz -> 16 kHz, crop/pad, batch), built once and timed
     over passes after the first (which traces), vs a plain Python generator
     doing the same work file by file (PIL, wave, numpy FFT resample);
  2. seconds per epoch of `model.fit` fed by the real pipeline (as built by
     default, which caches decoded rows when they fit in memory, and with
     `cache=None`) vs by the same examples pre-materialised in memory:
     `from_tensor_slices` datasets (tf.data autotuning on, and off) and
     NumPy arrays given straight to `fit`;
  3. both again with the pipeline's functions on tf.data's default
     (multi-device, Grappler) path instead of the single-device path
     (`mmfusion_tf._private_apis.plain_maps()`): what that adapter of
     TensorFlow internals saves, side by side.
Variants alternate (pass by pass, fit by fit) and medians are reported, so a
burst of load from other jobs on this shared machine hits every variant alike;
"by round" ratios are medians over rounds of each round's own ratio.
Fits also report the process's CPU seconds per epoch, which other jobs change
less than wall time.

    python bench/input_pipeline.py --json results/input_pipeline.json
Targets (issue 3): pipeline >= 4x the generator; fit within 15 % of in-memory.
"""

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.config import DataConfig  # noqa: E402
from mmfusion_tf.backbones.local_backbones import small_audio_backbone, small_image_backbone  # noqa: E402
from mmfusion_tf.data import make_dataset  # noqa: E402
from mmfusion_tf._private_apis import plain_maps  # noqa: E402
from mmfusion_tf.datasets.av_digits import av_digits, write_av_digits_files  # noqa: E402
from mmfusion_tf.hub import export_keras_as_hub_module  # noqa: E402

SAMPLE_RATE = 16000
NUM_SAMPLES = 16000


def python_generator(manifest):
    """The baseline: load, decode and resample each file in plain Python."""
    import csv

    base = os.path.dirname(manifest)
    with open(manifest) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        image = np.asarray(Image.open(os.path.join(base, row["image"])).convert("L"))[..., None]
        with wave.open(os.path.join(base, row["audio"])) as w:
            rate = w.getframerate()
            audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype("float32") / 32768.0
        new_length = int(round(len(audio) * SAMPLE_RATE / rate))
        spectrum = np.fft.rfft(audio)
        padded = np.zeros(new_length // 2 + 1, dtype=spectrum.dtype)
        keep = min(len(spectrum), len(padded))
        padded[:keep] = spectrum[:keep]
        audio = np.fft.irfft(padded, new_length).astype("float32") * (new_length / len(audio))
        audio = np.pad(audio[:NUM_SAMPLES], (0, max(0, NUM_SAMPLES - len(audio))))
        yield {"image": image, "audio": audio}, int(row["label"])


def cpu_description():
    """`(model name, flags)` of the first CPU in /proc/cpuinfo (empty where there is none)."""
    found = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "flags") and key.strip() not in found:
                    found[key.strip()] = value.strip()
    except OSError:
        pass
    return found.get("model name", ""), found.get("flags", "")


def one_pass(iterable):
    """`(examples/s, CPU µs per example, ms to create the iterator)` of one pass over `iterable`.

    CPU time is the whole process's (all threads): on a shared machine it
    shows the work per example even when other jobs take the cores. The
    iterator's creation is part of the pass (`fit` creates one per epoch).
    """
    start, start_cpu, count = time.perf_counter(), time.process_time(), 0
    iterator = iter(iterable)
    setup_ms = 1e3 * (time.perf_counter() - start)
    for features, label in iterator:
        count += int(np.shape(label)[0]) if np.ndim(label) else 1
    return count / (time.perf_counter() - start), 1e6 * (time.process_time() - start_cpu) / count, setup_ms


def alternated(measures, rounds):
    """`{name: [value per round]}`, calling every measure once per round, in turn.

    This machine is shared: alternating puts a burst of load from other jobs
    on every variant alike instead of on whichever ran during it.
    """
    values = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            values[name].append(measure())
    return values


def build_config(work):
    keras.utils.set_random_seed(0)
    image_backbone, audio_backbone = small_image_backbone(28, 64, width=16), small_audio_backbone(SAMPLE_RATE, 64)
    image = export_keras_as_hub_module(image_backbone, os.path.join(work, "hub_image"), overwrite=True)
    audio = export_keras_as_hub_module(audio_backbone, os.path.join(work, "hub_audio"), overwrite=True)
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=image, image_size=[28, 28], input_shape=[28, 28, 1]),
            mmf.AudioModality(name="audio", handle=audio, sample_rate=SAMPLE_RATE, num_samples=NUM_SAMPLES),
        ],
        fusion=mmf.FusionConfig(method="concat", projection_dim=64),
        head=mmf.HeadConfig(task="multiclass", labels=[str(d) for d in range(10)]),
    )


def fit_seconds_per_epoch(config, data, epochs, batch_size=None):
    """Median `(wall, CPU)` seconds per epoch after the first.

    `data` is a dataset or `(x, y)` arrays (with `batch_size`).

    CPU is the whole process's (all threads): the work an epoch takes, which
    other jobs on a shared machine change less than its wall time.
    """
    model = mmf.build_model(config)
    model.compile(keras.optimizers.Adam(1e-3), mmf.default_loss(config.head), metrics=mmf.default_metrics(config.head))
    times, cpu = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.start_cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)
            cpu.append(time.process_time() - self.start_cpu)

    x, y = data if isinstance(data, tuple) else (data, None)
    model.fit(x, y, batch_size=batch_size, epochs=epochs + 1, verbose=0, callbacks=[Timer()])
    return statistics.median(times[1:]), statistics.median(cpu[1:])  # the first epoch includes tracing


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=os.path.join(here, "..", "..", "shared", "data"),
                        help="folder with fsdd/ and mnist/")
    parser.add_argument("--examples", type=int, default=2400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed passes of the pipeline and of the generator, alternated")
    parser.add_argument("--fit-rounds", type=int, default=5, help="rounds of the six fits, alternated")
    parser.add_argument("--epochs", type=int, default=2, help="timed fit epochs (after one warm-up epoch)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]  # other jobs on the machine (the benchmark itself adds to the later reading)

    with tempfile.TemporaryDirectory(prefix="mmf_bench_input_") as work:  # removed afterwards, files and all
        data = av_digits(args.root, max_per_split=args.examples)["train"]
        manifest = write_av_digits_files(data, os.path.join(work, "files"))
        n = len(data["label"])
        config = build_config(work)

        # Built once, iterated every pass (as fit does per epoch); setup is timed on its own.
        start = time.perf_counter()
        uncached = DataConfig(batch_size=args.batch_size, cache=None)  # decoding every pass
        pipeline = make_dataset(manifest, config, uncached)
        setup_seconds = time.perf_counter() - start
        one_pass(pipeline)  # the first pass traces the functions
        with plain_maps():  # the same pipeline, its functions on tf.data's default path
            plain = make_dataset(manifest, config, uncached)
        one_pass(plain)
        passes = alternated(
            {
                "pipeline": lambda: one_pass(pipeline),
                "pipeline_plain_maps": lambda: one_pass(plain),
                "generator": lambda: one_pass(python_generator(manifest)),
            },
            args.repeats,
        )
        pipe_all, gen_all = [run[0] for run in passes["pipeline"]], [run[0] for run in passes["generator"]]
        plain_rate = statistics.median(run[0] for run in passes["pipeline_plain_maps"])
        plain_iterator_ms = statistics.median(run[2] for run in passes["pipeline_plain_maps"])
        pipe_rate, gen_rate = statistics.median(pipe_all), statistics.median(gen_all)
        pipe_cpu, gen_cpu = (statistics.median(run[1] for run in passes[k]) for k in ("pipeline", "generator"))
        iterator_ms = statistics.median(run[2] for run in passes["pipeline"])

        features, labels = {"image": [], "audio": []}, []
        for x, y in make_dataset(manifest, config, uncached):
            for k in features:
                features[k].append(x[k].numpy())
            labels.append(y.numpy())
        arrays = ({k: np.concatenate(v) for k, v in features.items()}, np.concatenate(labels))
        memory = tf.data.Dataset.from_tensor_slices(arrays)
        memory = memory.shuffle(n, seed=0).batch(args.batch_size).prefetch(tf.data.AUTOTUNE)
        # The same with tf.data autotuning off (as make_dataset's default): on this machine
        # autotuning stalls some epochs 0.1-1.3 s before their first step, in-memory data
        # too; the fastest of the in-memory feeds is the baseline the target is judged on.
        no_autotune = tf.data.Options()
        no_autotune.autotune.enabled = False
        memory_steady = memory.with_options(no_autotune)

        def real(plain=False, **options):
            with plain_maps() if plain else contextlib.nullcontext():
                data = DataConfig(batch_size=args.batch_size, augment=False, **options)
                return make_dataset(manifest, config, data, training=True)

        fits = alternated(
            {
                "pipeline": lambda: fit_seconds_per_epoch(config, real(), args.epochs),
                "memory": lambda: fit_seconds_per_epoch(config, memory, args.epochs),
                "memory_no_autotune": lambda: fit_seconds_per_epoch(config, memory_steady, args.epochs),
                "arrays": lambda: fit_seconds_per_epoch(config, arrays, args.epochs, batch_size=args.batch_size),
                "uncached": lambda: fit_seconds_per_epoch(config, real(cache=None), args.epochs),
                "pipeline_plain_maps": lambda: fit_seconds_per_epoch(config, real(plain=True), args.epochs),
            },
            args.fit_rounds,
        )
        fit_names = ("pipeline", "memory", "memory_no_autotune", "arrays", "uncached", "pipeline_plain_maps")
        fit_pipeline, fit_memory, fit_steady, fit_arrays, fit_uncached, fit_plain = (
            statistics.median(w for w, _ in fits[k]) for k in fit_names
        )
        fit_cpu = {k: statistics.median(c for _, c in fits[k]) for k in fit_names}
        fastest_memory = min(fit_memory, fit_steady, fit_arrays)  # the fastest in-memory feed: the strictest baseline

        def paired(name, baseline):
            """Median over rounds of `name`'s s/epoch over `baseline(round)`: variants of a round ran close in time."""
            return statistics.median(fits[name][i][0] / baseline(i) for i in range(args.fit_rounds))

        def fastest_in_round(i):
            return min(fits[k][i][0] for k in ("memory", "memory_no_autotune", "arrays"))

        paired_pipeline = paired("pipeline", fastest_in_round)
        paired_plain = paired("pipeline_plain_maps", lambda i: fits["pipeline"][i][0])

        cpu_model, cpu_flags = cpu_description()
        result = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
            "cpu_model": cpu_model,
            "cpu_flags": cpu_flags,
            "examples": n,
            "pipeline_examples_per_s": round(pipe_rate, 1),
            "generator_examples_per_s": round(gen_rate, 1),
            "pipeline_vs_generator": round(pipe_rate / gen_rate, 2),
            "pipeline_setup_seconds": round(setup_seconds, 2),
            "pipeline_new_iterator_ms": round(iterator_ms, 1),
            "pipeline_cpu_us_per_example": round(pipe_cpu, 1),
            "generator_cpu_us_per_example": round(gen_cpu, 1),
            "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "fit_seconds_per_epoch_pipeline": round(fit_pipeline, 3),
            "fit_seconds_per_epoch_memory": round(fit_memory, 3),
            "fit_seconds_per_epoch_memory_no_autotune": round(fit_steady, 3),
            "fit_seconds_per_epoch_arrays": round(fit_arrays, 3),
            "fit_seconds_per_epoch_pipeline_uncached": round(fit_uncached, 3),
            "fit_pipeline_vs_memory": round(fit_pipeline / fit_memory, 3),
            "fit_pipeline_vs_memory_no_autotune": round(fit_pipeline / fit_steady, 3),
            "fit_pipeline_vs_arrays": round(fit_pipeline / fit_arrays, 3),
            "fit_pipeline_vs_fastest_memory": round(fit_pipeline / fastest_memory, 3),
            "fit_pipeline_uncached_vs_fastest_memory": round(fit_uncached / fastest_memory, 3),
            "fit_pipeline_vs_fastest_memory_median_of_rounds": round(paired_pipeline, 3),
            "plain_maps_fit_vs_pipeline_median_of_rounds": round(paired_plain, 3),
            "plain_maps_pipeline_examples_per_s": round(plain_rate, 1),
            "plain_maps_pipeline_vs_generator": round(plain_rate / gen_rate, 2),
            "plain_maps_pipeline_new_iterator_ms": round(plain_iterator_ms, 1),
            "plain_maps_fit_seconds_per_epoch_pipeline": round(fit_plain, 3),
            "plain_maps_fit_pipeline_vs_fastest_memory": round(fit_plain / fastest_memory, 3),
            "fit_cpu_seconds_per_epoch": {k: round(v, 3) for k, v in fit_cpu.items()},
            "fit_cpu_pipeline_vs_memory_no_autotune": round(fit_cpu["pipeline"] / fit_cpu["memory_no_autotune"], 3),
            "raw": {
                "pipeline_runs": pipe_all,
                "generator_runs": gen_all,
                "fit_seconds_per_epoch_rounds": {k: [w for w, _ in v] for k, v in fits.items()},
                "fit_cpu_seconds_per_epoch_rounds": {k: [c for _, c in v] for k, v in fits.items()},
            },
        }
        print(f"CPU: {cpu_model}, {os.cpu_count()} cores; flags: {cpu_flags}")
        print(f"AV-digits train files: {n} examples (PNG 28x28 + 8 kHz WAV -> 16 kHz, 1 s)")
        print(f"{'measure':<46}{'value':>12}")
        print(f"{'pipeline examples/s (make_dataset)':<46}{pipe_rate:>12.0f}")
        print(f"{'python generator examples/s':<46}{gen_rate:>12.0f}")
        print(f"{'pipeline setup s (checks, header scan; once)':<46}{setup_seconds:>12.2f}")
        print(f"{'pipeline / generator (target >= 4)':<46}{pipe_rate / gen_rate:>12.2f}")
        print(f"{'pipeline ms to create an iterator (per pass)':<46}{iterator_ms:>12.1f}")
        print(f"{'CPU us/example, pipeline (all threads)':<46}{pipe_cpu:>12.0f}")
        print(f"{'CPU us/example, generator':<46}{gen_cpu:>12.0f}")
        print(f"{'fit s/epoch, real pipeline (default cache)':<46}{fit_pipeline:>12.2f}")
        print(f"{'fit s/epoch, real pipeline, cache=None':<46}{fit_uncached:>12.2f}")
        print(f"{'fit s/epoch, in-memory tensors (tf.data)':<46}{fit_memory:>12.2f}")
        print(f"{'fit s/epoch, in-memory, tf.data autotune off':<46}{fit_steady:>12.2f}")
        print(f"{'fit s/epoch, NumPy arrays to fit':<46}{fit_arrays:>12.2f}")
        print(f"{'fit pipeline / memory (target <= 1.15)':<46}{fit_pipeline / fit_memory:>12.3f}")
        print(f"{'fit pipeline / memory, autotune off':<46}{fit_pipeline / fit_steady:>12.3f}")
        print(f"{'fit pipeline / NumPy arrays':<46}{fit_pipeline / fit_arrays:>12.3f}")
        print(f"{'fit pipeline / fastest in-memory feed':<46}{fit_pipeline / fastest_memory:>12.3f}")
        print(f"{'fit pipeline, cache=None / fastest in-memory':<46}{fit_uncached / fastest_memory:>12.3f}")
        print(f"{'fit pipeline / fastest in-memory, by round':<46}{paired_pipeline:>12.3f}")
        print(f"{'fit CPU s/epoch, pipeline (default cache)':<46}{fit_cpu['pipeline']:>12.2f}")
        print(f"{'fit CPU s/epoch, in-memory, autotune off':<46}{fit_cpu['memory_no_autotune']:>12.2f}")
        cpu_ratio = fit_cpu["pipeline"] / fit_cpu["memory_no_autotune"]
        print(f"{'fit CPU pipeline / in-memory, autotune off':<46}{cpu_ratio:>12.3f}")
        print("the same pipeline, its functions on tf.data's default path (plain Dataset.map):")
        print(f"{'  examples/s; / generator':<46}{plain_rate:>12.0f}{plain_rate / gen_rate:>6.2f}")
        print(f"{'  ms to create an iterator (per pass)':<46}{plain_iterator_ms:>12.1f}")
        print(f"{'  fit s/epoch (default cache)':<46}{fit_plain:>12.2f}")
        print(f"{'  fit / fastest in-memory feed':<46}{fit_plain / fastest_memory:>12.3f}")
        print(f"{'  fit / the pipeline on single-device, by round':<46}{paired_plain:>12.3f}")
        print(f"{'  fit CPU s/epoch':<46}{fit_cpu['pipeline_plain_maps']:>12.2f}")
        print(f"{'load average (1 min) before, after':<46}{load_before:>6.2f}{os.getloadavg()[0]:>6.2f}")
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return result


if __name__ == "__main__":
    main()
