"""Serving benchmark: the dev server's protocol overhead and throughput on a raw-input fusion export.

Builds a small 4-modality fusion model (image 32x32 PNG, BERT-style text, 1 s 16 kHz WAV, two table
columns) on local stand-in backbones, exports it with `export_saved_model`, and measures in one run:
  1. batch-1 latency of a raw-input request (PNG bytes, text, WAV bytes, numbers)
     - calling the loaded `serving_default` signature in-process (no protocol),
     - through the dev server over gRPC (`PredictionClient`) and REST (`RestClient`, row format);
     the difference is the protocol overhead (serialisation, transport, Python gRPC/HTTP);
  2. throughput (examples/s) at batch 1 and batch 32 with concurrent threads: gRPC clients sending a prepared
     request, and the same number of threads calling the signature in-process.

    python bench/serving.py --json docs/bench_results/serving_run1.json

Claim (issue 19, in the JSON's `claims`; `--check` exits 1 when it does not hold): the dev server adds
at most 1.5 ms at p50 over the in-process call, for a batch-1 gRPC request made by `PredictionClient`.
The in-process baseline is the public keyword call `signature(**feeds)` on tensors made from the raw
values; the server checks the request against the SignatureDef and then calls the signature's flat
function (`_private_apis.signature_caller`), which skips the keyword call's Python binding.
Latency figures are for an otherwise idle machine: on saturated cores every thread hand-off waits.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import mmfusion_tf as mmf  # noqa: E402
from mmfusion_tf import export  # noqa: E402
from mmfusion_tf._keras import keras  # noqa: E402
from mmfusion_tf.backbones.local_backbones import (  # noqa: E402
    small_audio_backbone,
    small_bert_encoder,
    small_image_backbone,
)
from mmfusion_tf.export.examples import float_wav  # noqa: E402
from mmfusion_tf.hub import export_keras_as_hub_module, export_wordpiece_preprocessor  # noqa: E402
from mmfusion_tf.serving import DevServer, PredictionClient, RestClient  # noqa: E402

IMAGE_SIZE, SAMPLE_RATE, SEQ_LENGTH = 32, 16000, 32
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "red", "blue", "car", "dog", "cat", "##s", "big"]


def build_and_export(work):
    keras.utils.set_random_seed(0)
    image = export_keras_as_hub_module(small_image_backbone(IMAGE_SIZE, 64, width=16), os.path.join(work, "image"))
    preprocessor = export_wordpiece_preprocessor(VOCAB, os.path.join(work, "preprocessor"), seq_length=SEQ_LENGTH)
    encoder = small_bert_encoder(len(VOCAB), SEQ_LENGTH, hidden_dim=64)
    text = export_keras_as_hub_module(encoder, os.path.join(work, "text"))
    audio = export_keras_as_hub_module(small_audio_backbone(SAMPLE_RATE, 64), os.path.join(work, "audio"))
    config = mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=image, image_size=[IMAGE_SIZE] * 2,
                              input_shape=[IMAGE_SIZE, IMAGE_SIZE, 3]),
            mmf.TextModality(name="text", handle=text, preprocessor=preprocessor),
            mmf.AudioModality(name="audio", handle=audio, sample_rate=SAMPLE_RATE, num_samples=SAMPLE_RATE),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]},
                                numeric_stats={"beds": [2.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="attention", projection_dim=64),
        head=mmf.HeadConfig(task="multiclass", labels=["cat", "dog", "bird", "car", "boat"]),
    )
    model = mmf.build_model(config)
    return export.export_saved_model(model, config, os.path.join(work, "models", "fusion"))


def raw_batch(size, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    return {
        "image": [tf.io.encode_png(rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)).numpy()
                  for _ in range(size)],
        "text": [f"the big red car number {i}" for i in range(size)],
        "audio": [float_wav((0.3 * np.sin(2 * np.pi * 220 * (i % 7 + 1) * t)).astype("float32"), SAMPLE_RATE)
                  for i in range(size)],
        "beds": [float(i % 4 + 1) for i in range(size)],
        "city": ["a" if i % 2 else "b" for i in range(size)],
    }


def interleaved_latencies_ms(calls, requests, rounds=5, warmup=10):
    """Per call, `requests` timed calls, run in `rounds` alternating blocks so load changes hit all alike."""
    for call in calls.values():
        for _ in range(warmup):
            call()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            for _ in range(requests // rounds):
                start = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def summary(times):
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"p50_ms": round(float(p50), 3), "p90_ms": round(float(p90), 3), "p99_ms": round(float(p99), 3),
            "mean_ms": round(statistics.fmean(times), 3), "requests": len(times)}


def throughput(make_call, batch_size, clients, seconds):
    """Examples/s with `clients` threads, each calling its own `make_call()` in a loop for `seconds`."""
    done, errors = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def run():
        call = make_call()
        call()
        barrier.wait()
        count = 0
        while not stop.is_set():
            try:
                call()
                count += 1
            except Exception as error:  # noqa: BLE001 - counted, reported
                with lock:
                    errors.append(repr(error))
        with lock:
            done.append(count)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {"examples_per_s": round(sum(done) * batch_size / wall, 1), "requests": sum(done), "errors": len(errors),
            "threads": clients, "batch": batch_size}


def grpc_call(target, raw):
    """A Predict call on a prepared request: the loop times the server and the transport, as a client that
    reuses its request would."""
    def make():
        client = PredictionClient(target, "fusion", timeout=60.0, retries=0)
        request = client.make_request(raw)
        return lambda: client._predictions.Predict(request, timeout=60.0)  # noqa: SLF001 - the bare stub
    return make


GRPC_OVERHEAD_MS = 1.5


def machine():
    from mmfusion_tf.training.precision import cpu_flags

    flags = " ".join(sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))))
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu} ({flags}), {os.cpu_count()} vCPU, no GPU, TF {tf.__version__}, Python {platform.python_version()}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300, help="sequential batch-1 requests per latency figure")
    parser.add_argument("--clients", type=int, default=4, help="concurrent gRPC clients for throughput")
    parser.add_argument("--seconds", type=float, default=8.0, help="duration of each throughput measurement")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--check", action="store_true", help="exit 1 when the overhead claim does not hold")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mmf_bench_serving_") as work:  # removed afterwards, files and all
        path = build_and_export(work)

        one, many = raw_batch(1), raw_batch(32)
        signature = tf.saved_model.load(path).signatures["serving_default"]
        dtypes = {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}

        def feeds_of(raw):
            return {name: tf.constant(values, dtypes[name]) for name, values in raw.items()}

        with DevServer(os.path.dirname(path), poll_seconds=0) as server:
            grpc_client = PredictionClient(server.grpc_target, "fusion", timeout=60.0)
            rest_client = RestClient(server.rest_url, "fusion", timeout=60.0)
            times = interleaved_latencies_ms({
                "local": lambda: signature(**feeds_of(one)),
                "grpc": lambda: grpc_client.predict(one),
                "rest": lambda: rest_client.predict(one),
            }, args.requests)
            local, remote, rest = times["local"], times["grpc"], times["rest"]
            parity = float(np.max(np.abs(grpc_client.predict(one)["probabilities"]
                                         - signature(**feeds_of(one))["probabilities"].numpy())))
            rates = {}
            for size, raw in ((1, one), (32, many)):
                rates[f"grpc_batch{size}"] = throughput(grpc_call(server.grpc_target, raw), size, args.clients,
                                                        args.seconds)
                feeds = feeds_of(raw)
                rates[f"in_process_batch{size}"] = throughput(lambda feeds=feeds: lambda: signature(**feeds), size,
                                                              args.clients, args.seconds)
        local_s, grpc_s, rest_s = summary(local), summary(remote), summary(rest)
        result = {
            "machine": machine(),
            "model": "4-modality attention fusion (image 32x32 PNG, BERT-style text, 1 s 16 kHz WAV, 2 table columns), "
                     "raw-input serving_default of export_saved_model",
            "latency_batch1": {"in_process_signature": local_s, "dev_server_grpc": grpc_s, "dev_server_rest": rest_s},
            "grpc_overhead_p50_ms": round(grpc_s["p50_ms"] - local_s["p50_ms"], 3),
            "grpc_over_in_process_p50": round(grpc_s["p50_ms"] / local_s["p50_ms"], 3),
            "rest_overhead_p50_ms": round(rest_s["p50_ms"] - local_s["p50_ms"], 3),
            "throughput": rates,
            "max_abs_diff_grpc_vs_in_process": parity,
            "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        overhead = result["grpc_overhead_p50_ms"]
        result["claims"] = [{"name": "dev server gRPC p50 minus in-process p50, batch-1 raw-input request (ms)",
                             "measured": overhead, "target": f"<= {GRPC_OVERHEAD_MS}",
                             "holds": overhead <= GRPC_OVERHEAD_MS}]
        print(f"machine: {result['machine']}")
        print(f"{'batch-1 raw-input request latency':<44}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}")
        for name, s in (("in-process signature call", local_s), ("dev server, gRPC (PredictionClient)", grpc_s),
                        ("dev server, REST row format (RestClient)", rest_s)):
            print(f"{name:<44}{s['p50_ms']:>9.2f}{s['p90_ms']:>9.2f}{s['p99_ms']:>9.2f}")
        print(f"gRPC protocol overhead at p50: {result['grpc_overhead_p50_ms']:.2f} ms "
              f"({result['grpc_over_in_process_p50']:.2f}x the in-process call); "
              f"REST: {result['rest_overhead_p50_ms']:.2f} ms")
        print(f"{f'throughput (examples/s), {args.clients} threads':<44}{'batch 1':>12}{'batch 32':>12}")
        print(f"{'dev server, gRPC':<44}{rates['grpc_batch1']['examples_per_s']:>12.0f}"
              f"{rates['grpc_batch32']['examples_per_s']:>12.0f}")
        print(f"{'in-process signature':<44}{rates['in_process_batch1']['examples_per_s']:>12.0f}"
              f"{rates['in_process_batch32']['examples_per_s']:>12.0f}")
        errors = sum(r["errors"] for r in rates.values())
        print(f"errors: {errors}; max |gRPC - in-process| probability: {parity:.2e}; "
              f"load average before/after: {result['load_average_1min_before_after']}")
        for claim in result["claims"]:
            print(f"{'holds' if claim['holds'] else 'DOES NOT HOLD'}: {claim['name']}: {claim['measured']} "
                  f"(target {claim['target']})")
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump(result, f, indent=2)
        return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(1 if "--check" in sys.argv and not all(c["holds"] for c in outcome["claims"]) else 0)
