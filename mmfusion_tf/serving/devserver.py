"""A TF Serving protocol-compatible development server (`mmfusion serve`).

The real `tensorflow_model_server` cannot be installed on every machine (it ships in Google's apt
repository and the `tensorflow/serving` Docker image), so this server speaks the same protocol for
tests, notebooks and offline use: gRPC `PredictionService` (Predict, GetModelMetadata; Classify and
Regress answer TF Serving's INVALID_ARGUMENT for a predict signature, else UNIMPLEMENTED, as does
MultiInference) and `ModelService` (GetModelStatus, HandleReloadConfigRequest), plus the REST API,
with TF Serving's version policies, labels, polling for new versions, warmup replay, status codes
and messages. It is a development server: one Python process, no batching, optional TLS on gRPC
only. In production run `tensorflow/serving`:

    docker run -p 8500:8500 -p 8501:8501 -v "$PWD/exports/demo:/models/demo" \\
        -e MODEL_NAME=demo tensorflow/serving

Example:

>>> with DevServer("exports/demo") as server:          # BASE/<version>/saved_model.pb
...     client = PredictionClient(server.grpc_target, "demo")
...     client.predict({"image": "cat.png", "text": "a cat"})
"""

import concurrent.futures
import http.server
import io
import json
import logging
import os
import statistics
import threading
import time

import grpc
from tensorflow_serving.apis import (
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)

from mmfusion_tf.serving.client import PredictionClient
from mmfusion_tf.serving.errors import ServingError
from mmfusion_tf.serving.models import ModelManager, read_model_config_file, single_model_config
from mmfusion_tf.serving.rest import RestApi

log = logging.getLogger("mmfusion_tf.serving")


def _unimplemented(method):
    def handler(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not supported by the mmfusion dev server: use "
                                                     "Predict (or tensorflow/serving for the tf.Example APIs)")
    handler.__name__ = method
    return handler


def _answer(context, call, request):
    try:
        return call(request)
    except ServingError as error:
        context.abort(grpc.StatusCode[error.code], error.message)
    except Exception as error:  # noqa: BLE001 - report the bug to the client as INTERNAL
        log.exception("gRPC %s failed", type(request).__name__)
        context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager):
        self.manager = manager

    def Predict(self, request, context):  # noqa: N802 - gRPC method names
        return _answer(context, self.manager.predict, request)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _answer(context, self.manager.get_model_metadata, request)

    def Classify(self, request, context):  # noqa: N802
        return _answer(context, lambda r: self.manager.example_api(r, "Classify"), request)

    def Regress(self, request, context):  # noqa: N802
        return _answer(context, lambda r: self.manager.example_api(r, "Regress"), request)

    MultiInference = _unimplemented("MultiInference")


class _ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager):
        self.manager = manager

    def GetModelStatus(self, request, context):  # noqa: N802
        return _answer(context, self.manager.get_model_status, request)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        _answer(context, self.manager.reload_config, request.config)
        return model_management_pb2.ReloadConfigResponse()  # status OK: error_code 0


class _DeadlineReader(io.RawIOBase):
    """A socket's reads under one deadline per request, not a timeout per read.

    A client that trickles a byte at a time (slowloris) gets each read
    answered well within a per-read timeout, and would hold a server thread
    for as long as it likes; here the request line, headers and body share
    `timeout` seconds from `start()`.
    """

    def __init__(self, sock, timeout):
        self.sock, self.timeout, self.deadline = sock, timeout, None

    def start(self):
        self.deadline = time.monotonic() + self.timeout

    def readable(self):
        return True

    def readinto(self, buffer):
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the request was not received within {self.timeout} s")
        self.sock.settimeout(remaining)
        try:
            return self.sock.recv_into(buffer)
        finally:
            self.sock.settimeout(self.timeout)  # writes keep the whole timeout


def _handler_class(api, max_body_bytes, read_timeout):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as clients with a session expect
        timeout = read_timeout  # seconds for a whole request (line, headers, body); then 408 or the connection closes

        def setup(self):
            super().setup()
            self.rfile.close()  # the per-read-timeout file http.server made; the socket stays open
            self._reader = _DeadlineReader(self.connection, read_timeout)
            self.rfile = io.BufferedReader(self._reader)

        def handle_one_request(self):
            self._reader.start()  # an idle keep-alive connection also closes after `read_timeout`
            super().handle_one_request()

        def _send(self, status, payload, close=False):
            data = json.dumps(payload, indent=1).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if close:  # the body was not read: the connection cannot carry another request
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def _reply(self):
            error = _body_length_error(self.command, self.headers, max_body_bytes)
            if error is not None:
                return self._send(*error, close=True)
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = self.rfile.read(length) if length else b""
            except TimeoutError:
                return self._send(408, {"error": f"Request timeout: the body was not received within {read_timeout} s"},
                                  close=True)
            if len(body) < length:
                return self._send(400, {"error": f"Malformed request: the body ended after {len(body)} of the "
                                                 f"{length} bytes of its Content-Length"}, close=True)
            self._send(*api.handle(self.command, self.path, body))

        do_GET = do_POST = _reply  # noqa: N815 - http.server's method names

        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            log.debug("REST %s", format % args)

    return Handler


def _body_length_error(method, headers, max_body_bytes):
    """`(HTTP status, body)` when a request's Content-Length is missing, malformed or too large; else None."""
    if headers.get("Transfer-Encoding"):
        return 411, {"error": "Length Required: send the body with a Content-Length (chunked bodies are not accepted)"}
    text = headers.get("Content-Length")
    if text is None:
        return ((411, {"error": "Length Required: a POST request needs a Content-Length header"})
                if method == "POST" else None)
    if not text.strip().isdigit():
        return 400, {"error": "Malformed request: Content-Length must be a non-negative integer. "
                              f"Received: {text!r:.40}"}
    if int(text) > max_body_bytes:
        return 413, {"error": f"Payload Too Large: the body has {int(text)} bytes, more than the limit of "
                              f"{max_body_bytes} (--rest-max-body-mb)"}
    return None


class DevServer:
    """Serves SavedModel versions over TF Serving's gRPC and REST APIs (development and tests).

    Args:
        source: str, a model base folder (`BASE/<int version>/saved_model.pb`) or a text-format
            `models.config` (ModelServerConfig with a model_config_list).
        model_name: str, the model's name when `source` is a folder (default: the folder's name).
        grpc_port: int, gRPC port; 0 picks a free one (see the `grpc_port` attribute after `start()`).
        rest_port: int or None, REST port; 0 picks a free one; None turns REST off.
        host: str, address to bind; loopback by default.
        poll_seconds: float, how often the base folders are checked for new versions; 0 turns polling off.
        warmup: bool, replay `assets.extra/tf_serving_warmup_requests` before a version is AVAILABLE.
        max_message_mb: int, gRPC send/receive limit in MB (gRPC's default of 4 MB is too small for images).
        rest_max_body_mb: int or None, largest REST request body in MB (413 above it; default: `max_message_mb`).
        rest_timeout_seconds: float, how long a whole REST request (line, headers, body) may take to arrive,
            however it trickles; then 408 and the connection closes.
        workers: int, threads answering gRPC requests.
        tls_certificate: str or None, PEM certificate chain file: serve gRPC over TLS (with `tls_key`).
        tls_key: str or None, PEM private key file of `tls_certificate`.
        allow_version_labels_for_unavailable_models: bool, as TF Serving's flag: accept labels that name a
            version not loaded (yet); requests for them answer NOT_FOUND until it is.

    Example:

    >>> server = DevServer("exports/demo", grpc_port=8500, rest_port=8501).start()
    >>> server.rest_url
    'http://127.0.0.1:8501'
    >>> server.stop()
    """

    def __init__(self, source, *, model_name=None, grpc_port=0, rest_port=0, host="127.0.0.1", poll_seconds=1.0,
                 warmup=True, max_message_mb=64, rest_max_body_mb=None, rest_timeout_seconds=30.0, workers=16,
                 tls_certificate=None, tls_key=None, allow_version_labels_for_unavailable_models=False):
        if not os.path.exists(source):
            raise FileNotFoundError(f"`source` must be a model base folder or a models.config file. Received: "
                                    f"source={source!r} (not found)")
        if (tls_certificate is None) != (tls_key is None):
            raise ValueError(f"Pass both `tls_certificate` and `tls_key`, or neither. Received: "
                             f"tls_certificate={tls_certificate!r}, tls_key={tls_key!r}")
        if poll_seconds < 0:
            raise ValueError(f"`poll_seconds` must be >= 0. Received: poll_seconds={poll_seconds}")
        self.source = source
        self.model_name = model_name or os.path.basename(os.path.normpath(source))
        self.grpc_port = grpc_port
        self.rest_port = rest_port
        self.host = host
        self.poll_seconds = poll_seconds
        self.warmup = warmup
        self.max_message_mb = max_message_mb
        self.rest_max_body_mb = max_message_mb if rest_max_body_mb is None else rest_max_body_mb
        if not self.rest_max_body_mb > 0 or not rest_timeout_seconds > 0:
            raise ValueError(f"`rest_max_body_mb` and `rest_timeout_seconds` must be > 0. Received: rest_max_body_mb="
                             f"{rest_max_body_mb}, rest_timeout_seconds={rest_timeout_seconds}")
        self.rest_timeout_seconds = rest_timeout_seconds
        self.workers = workers
        self.tls_certificate = tls_certificate
        self.tls_key = tls_key
        self.allow_version_labels_for_unavailable_models = allow_version_labels_for_unavailable_models
        if os.path.isdir(source):
            config = single_model_config(source, self.model_name)
        else:
            config = read_model_config_file(source)
        self.manager = ModelManager(config, warmup=warmup, allow_version_labels_for_unavailable_models=(
            allow_version_labels_for_unavailable_models))
        self._grpc = self._http = self._poller = None
        self._stopping = threading.Event()

    @property
    def grpc_target(self):
        return f"{self.host}:{self.grpc_port}"

    @property
    def rest_url(self):
        return None if self.rest_port is None else f"http://{self.host}:{self.rest_port}"

    def start(self):
        """Loads every model (so a broken export fails here, not on the first request), then listens."""
        self.manager.poll()
        for name in self.manager.model_names():
            if not self.manager.available_versions(name):
                log.warning("model %s has no loaded version yet; it is polled every %ss", name, self.poll_seconds)
        try:
            self.manager.check_labels()
        except ServingError as error:
            raise ValueError(f"{error.message}. Pass allow_version_labels_for_unavailable_models=True "
                             "(--allow-version-labels-for-unavailable-models) to accept it.") from None
        limit = self.max_message_mb * 1024 * 1024
        self._grpc = grpc.server(
            concurrent.futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="devserver-grpc"),
            options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", limit),
                     ("grpc.so_reuseport", 0)])
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            _PredictionService(self.manager), self._grpc)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(_ModelService(self.manager), self._grpc)
        address = f"{self.host}:{self.grpc_port}"
        try:
            if self.tls_certificate:
                with open(self.tls_key, "rb") as key, open(self.tls_certificate, "rb") as certificate:
                    credentials = grpc.ssl_server_credentials([(key.read(), certificate.read())])
                port = self._grpc.add_secure_port(address, credentials)
            else:
                port = self._grpc.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if not port:
            raise OSError(f"cannot listen for gRPC on {self.host}:{self.grpc_port} (port in use?)")
        self.grpc_port = port
        self._grpc.start()
        if self.rest_port is not None:
            handler = _handler_class(RestApi(self.manager), int(self.rest_max_body_mb * 1024 * 1024),
                                     self.rest_timeout_seconds)
            self._http = http.server.ThreadingHTTPServer((self.host, self.rest_port), handler)
            self._http.daemon_threads = True
            self.rest_port = self._http.server_address[1]
            threading.Thread(target=self._http.serve_forever, name="devserver-rest", daemon=True).start()
        if self.poll_seconds:
            self._stopping.clear()
            self._poller = threading.Thread(target=self._poll_forever, name="devserver-poll", daemon=True)
            self._poller.start()
        log.info("serving %s over gRPC at %s%s", ", ".join(self.manager.model_names()), self.grpc_target,
                 f" and REST at {self.rest_url}" if self.rest_url else "")
        return self

    def _poll_forever(self):
        while not self._stopping.wait(self.poll_seconds):
            try:
                self.manager.poll()
            except Exception:  # noqa: BLE001 - keep polling; the error is logged
                log.exception("polling the model folders failed")

    def poll_now(self):
        """Checks the base folders for new or removed versions at once (tests, scripts)."""
        self.manager.poll()

    def stop(self, grace=1.0):
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace).wait()
            self._grpc = None
        if self._poller is not None:
            self._poller.join(timeout=30)
            self._poller = None

    def wait(self):
        """Blocks until the gRPC server stops (Ctrl-C in `mmfusion serve`)."""
        self._grpc.wait_for_termination()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def smoke_test(base_path, inputs, *, model_name=None, requests=5):
    """Serves `base_path` on loopback, sends raw `inputs` over gRPC, and reports how it went.

    Returns:
        dict with `ok`, `latency_ms` (median of `requests` batch calls after a first one), `version`,
        `outputs` (names), `labels` (top label per example, for classifiers), or `ok: False` and
        `error` when loading or predicting failed.
    """
    try:
        with DevServer(base_path, model_name=model_name, poll_seconds=0, rest_port=None) as server:
            with PredictionClient(server.grpc_target, server.model_name, retries=0) as client:
                response = client.predict_response(inputs)  # also reads the signature once
                times = []
                for _ in range(requests):
                    start = time.perf_counter()
                    client.predict_response(inputs)
                    times.append((time.perf_counter() - start) * 1000.0)
    except (ServingError, ValueError, OSError) as error:
        return {"ok": False, "error": str(error)}
    result = {"ok": True, "latency_ms": statistics.median(times), "version": response.model_spec.version.value,
              "outputs": sorted(response.outputs)}
    if "labels" in response.outputs:  # the top label of each example, as the client would read it
        result["labels"] = [v.decode("utf-8", "replace") for v in response.outputs["labels"].string_val]
    return result
