"""The `mmfusion serve` and `mmfusion predict` verbs.

`add_serving_parsers(verbs)` registers both on the CLI's subparsers; each verb's `func(args)` returns
the exit code.

Example:

    mmfusion serve exports/demo --port 8500 --rest-api-port 8501
    mmfusion predict --server 127.0.0.1:8500 --model demo image=cat.png text="a cat" audio=meow.wav
    mmfusion predict --server http://127.0.0.1:8501 --model demo --label stable text=@review.txt
"""

import json
import signal
import sys
import time


def _parse_inputs(pairs):
    """`name=value` words -> raw values: `@path` reads a file's bytes, `[...]` is JSON, media paths stay paths."""
    inputs = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"inputs are NAME=VALUE words. Received: {pair!r}")
        if value.startswith("@"):
            with open(value[1:], "rb") as f:
                inputs[name] = f.read()
        elif value.startswith("["):
            try:
                inputs[name] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(f"input `{name}`: {value!r} starts with '[' but is not a JSON list") from None
        else:
            inputs[name] = value
    return inputs


def _printable(array):
    if array.dtype == object:
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in array.reshape(-1)]
    return array.tolist()


def predict_command(args):
    from mmfusion_tf.serving import PredictionClient, RestClient, ServingError
    from mmfusion_tf.serving.tensors import to_ndarray

    inputs = _parse_inputs(args.inputs)
    rest = args.rest or args.server.startswith(("http://", "https://"))
    common = dict(signature_name=args.signature, version=args.version, version_label=args.label, timeout=args.timeout)
    start = time.perf_counter()
    try:
        if rest:
            client = RestClient(args.server, args.model, **common)
            outputs, version = client.predict(inputs, format=args.format), None
        else:
            with PredictionClient(args.server, args.model, tls=args.tls, root_certificates=args.root_certificates,
                                  **common) as client:
                response = client.predict_response(inputs)
                version = response.model_spec.version.value
                outputs = {name: to_ndarray(proto) for name, proto in response.outputs.items()}
    except ServingError as error:
        print(f"mmfusion predict: error: {error}", file=sys.stderr)
        return 1
    latency_ms = (time.perf_counter() - start) * 1000.0
    answered = f" version {version}" if version is not None else ""
    protocol = "REST" if rest else "gRPC"
    print(f"model {args.model}{answered} signature {args.signature} ({protocol}, {latency_ms:.1f} ms)")
    for name in sorted(outputs):
        array = outputs[name]
        print(f"  {name} {array.dtype.name if array.dtype != object else 'string'} {list(array.shape)}: "
              f"{_printable(array) if array.size <= 64 else '...'}")
    if args.report:
        report = {"model": args.model, "version": version, "signature": args.signature, "protocol": "rest" if rest
                  else "grpc", "latency_ms": latency_ms,
                  "outputs": {name: _printable(array) for name, array in outputs.items()}}
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
    return 0


def serve_command(args):
    from mmfusion_tf.serving import DevServer

    source = args.model_config_file or args.model_base_path
    if not source or (args.model_config_file and args.model_base_path):
        raise ValueError("pass a model base folder or --model-config-file (one of them)")
    server = DevServer(source, model_name=args.model_name, grpc_port=args.port,
                       rest_port=None if args.rest_api_port < 0 else args.rest_api_port, host=args.host,
                       poll_seconds=args.poll_seconds, warmup=not args.no_warmup, max_message_mb=args.max_message_mb,
                       rest_max_body_mb=args.rest_max_body_mb, rest_timeout_seconds=args.rest_timeout_seconds,
                       allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models)
    server.start()
    models = ", ".join(f"{name} (versions {server.manager.available_versions(name)})"
                       for name in server.manager.model_names())
    print(f"mmfusion dev server: {models}; gRPC {server.grpc_target}"
          + (f", REST {server.rest_url}" if server.rest_url else "")
          + " -- a development server; use tensorflow/serving in production", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    return 0


def add_serving_parsers(verbs):
    """Registers `serve` and `predict` on an argparse subparsers object."""
    serve = verbs.add_parser(
        "serve",
        help="serve exported models over TF Serving's gRPC and REST APIs (development server)",
        description="A TF Serving protocol-compatible development server: serves BASE/<version>/ SavedModels "
        "(or the models of a models.config) with version policies, labels, polling for new versions and warmup "
        "replay. For production, run tensorflow/serving on the same folder.",
    )
    serve.add_argument("model_base_path", nargs="?", help="model base folder holding numbered versions")
    serve.add_argument("--model-config-file", help="text-format ModelServerConfig (several models, policies, labels)")
    serve.add_argument("--model-name", help="name of the model in BASE (default: the folder's name)")
    serve.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    serve.add_argument("--rest-api-port", type=int, default=8501, help="REST port (0: any free port; -1: no REST)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--poll-seconds", type=float, default=1.0, help="how often to look for new versions (0: never)")
    serve.add_argument("--no-warmup", action="store_true", help="skip assets.extra/tf_serving_warmup_requests")
    serve.add_argument("--max-message-mb", type=int, default=64, help="gRPC message size limit")
    serve.add_argument("--rest-max-body-mb", type=float,
                       help="largest REST body, 413 above (default: --max-message-mb)")
    serve.add_argument("--rest-timeout-seconds", type=float, default=30.0,
                       help="seconds a whole REST request (line, headers, body) may take to arrive; then 408 "
                            "and the connection closes")
    serve.add_argument("--allow-version-labels-for-unavailable-models", action="store_true",
                       help="accept labels naming versions not loaded yet (as TF Serving's flag)")
    serve.set_defaults(func=serve_command)

    predict = verbs.add_parser(
        "predict",
        help="send raw inputs (image/audio files, text, numbers) to a TF Serving server",
        description="Sends one prediction request to tensorflow/serving or `mmfusion serve`. Inputs are NAME=VALUE: "
        "image and audio file paths are sent as their bytes, @FILE sends any file's bytes, [..] is a JSON list, "
        "anything else is sent as text or converted to the input's number type. A server starting with http:// "
        "is reached over REST, anything else over gRPC.",
    )
    predict.add_argument("inputs", nargs="+", metavar="NAME=VALUE", help="one raw input per signature input")
    predict.add_argument("--server", required=True, help="HOST:PORT (gRPC) or http://HOST:PORT (REST)")
    predict.add_argument("--model", required=True, help="served model name")
    choice = predict.add_mutually_exclusive_group()
    choice.add_argument("--version", type=int, help="model version (default: latest)")
    choice.add_argument("--label", help="model version label, e.g. stable")
    predict.add_argument("--signature", default="serving_default", help="signature name")
    predict.add_argument("--rest", action="store_true", help="use the REST API (HOST:PORT is the REST port)")
    predict.add_argument("--format", choices=["row", "columnar"], default="row", help="REST request format")
    predict.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    predict.add_argument("--tls", action="store_true", help="gRPC over TLS")
    predict.add_argument("--root-certificates", metavar="PEM", help="CA certificates for TLS")
    predict.add_argument("--report", metavar="PATH", help="also write the answer and latency as JSON")
    predict.set_defaults(func=predict_command)
    return verbs
