"""Hostile input against a real export: in-process, over gRPC and over REST, as a hostile client would send it.

Every case checks the status code, that the message names the input (and the example), that the
process's peak memory grew by less than `PEAK_GROWTH_MB`, and that the next good request gets the
same answer as before.
"""

import http.client
import json
import re
import resource
import socket
import time

import grpc
import hypothesis
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import strategies as st
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import classification_pb2, predict_pb2, prediction_service_pb2_grpc

import mmfusion_tf as mmf
from mmfusion_tf import export
from mmfusion_tf.serving import DevServer, PredictionClient, RestClient, ServingError
from tests.export.conftest import classifier_config
from tests.serving import _hostile as h

pytestmark = pytest.mark.timeout(300)
PEAK_GROWTH_MB = 400  # the 244-byte WAV alone used to take 0.9 GB
CONTENT_CASES = h.content_cases()


@pytest.fixture(scope="module")
def served(hub_dir, tmp_path_factory):
    import tensorflow_text  # noqa: F401 - the text preprocessor's ops

    config = classifier_config(hub_dir, presence=False)
    base = tmp_path_factory.mktemp("hostile") / "tiny"
    path = export.export_saved_model(mmf.build_model(config), config, str(base), **h.LIMITS)
    signature = tf.saved_model.load(path).signatures["serving_default"]
    with DevServer(str(base), poll_seconds=0, rest_timeout_seconds=1.0) as server:
        clients = {"grpc": PredictionClient(server.grpc_target, "tiny", retries=0, timeout=60.0),
                   "rest": RestClient(server.rest_url, "tiny", retries=0, timeout=60.0)}
        yield {"signature": signature, "server": server, **clients}
        clients["grpc"].close()


def _call(served, transport, request):
    """`("OK", outputs)` or `(code, message)` for a raw request sent one way."""
    try:
        if transport == "signature":
            return "OK", {k: v.numpy() for k, v in served["signature"](**{k: tf.constant(v) for k, v in
                                                                          request.items()}).items()}
        if transport == "grpc":
            return "OK", served["grpc"].predict(request)
        return "OK", served["rest"].predict(request, format="columnar")
    except tf.errors.OpError as error:
        return error_codes_pb2.Code.Name(error.error_code), error.message
    except ServingError as error:
        return error.code, error.message


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.fixture(scope="module")
def baselines(served):
    good = h.good_request()
    return {t: _call(served, t, good)[1]["probabilities"] for t in ("signature", "grpc", "rest")}


@pytest.mark.parametrize("transport", ["signature", "grpc", "rest"])
@pytest.mark.parametrize("case", CONTENT_CASES, ids=[c[0] for c in CONTENT_CASES])
def test_hostile_value(served, baselines, case, transport):
    name, request, code, pattern = case
    before = _peak_mb()
    outcome, detail = _call(served, transport, request)
    assert outcome == code, detail
    if code == "OK":
        batch = len(next(iter(request.values())))
        probabilities = detail["probabilities"]
        if batch == 0:  # REST's JSON has no shape for an empty list: [] whatever the dimensions
            assert probabilities.size == 0 and (transport == "rest" or probabilities.shape == (0, 3))
        else:
            assert probabilities.shape == (batch, 3) and np.isfinite(probabilities).all()
    else:
        assert re.search(pattern, detail), detail
        assert "Graph execution error" not in detail or transport == "signature"
    assert _peak_mb() - before < PEAK_GROWTH_MB
    outcome, after = _call(served, transport, h.good_request())
    np.testing.assert_allclose(after["probabilities"], baselines[transport], atol=1e-6)


def test_the_244_byte_wav_is_rejected_in_under_50_ms(served):
    request = h.with_example("audio", h.WAV_BOMB)
    for transport in ("signature", "grpc"):
        _call(served, transport, request)  # the first call of a signature pays for its initialisation
        started = time.perf_counter()
        code, message = _call(served, transport, request)
        seconds = time.perf_counter() - started
        assert code == "INVALID_ARGUMENT" and "Input `audio` example 1" in message
        assert seconds < 0.05, f"{transport}: {seconds * 1000:.1f} ms"


# === The request's structure: names, types, shapes, models, versions, signatures ===


def _stub(served):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(served["server"].grpc_target))


def _grpc_request(arrays, name="tiny", **spec):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, value in spec.items():
        if key == "version":
            request.model_spec.version.value = value
        else:
            setattr(request.model_spec, key, value)
    for key, array in arrays.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(array))
    return request


def _grpc_error(served, request, method="Predict"):
    try:
        getattr(_stub(served), method)(request, timeout=30)
    except grpc.RpcError as error:
        return error.code().name, error.details()
    return "OK", ""


def _without(key):
    request = h.good_request()
    del request[key]
    return request


STRUCTURE_CASES = [
    ("missing_input", _without("text"), {}, "INVALID_ARGUMENT", r"Missing but required: \{text\}"),
    ("extra_input", {**h.good_request(), "price": np.ones(2, "float32")}, {}, "INVALID_ARGUMENT",
     r"Sent extra: \{price\}"),
    ("wrong_dtype", {**h.good_request(), "beds": np.array([b"1", b"2"], dtype=object)}, {}, "INVALID_ARGUMENT",
     r"Expects arg\[\d\] to be float but string is provided"),
    ("wrong_shape", {**h.good_request(), "text": np.array([[b"a"], [b"b"]], dtype=object)}, {}, "INVALID_ARGUMENT",
     r"input tensor alias text: shape \[2, 1\] is not compatible"),
    ("unknown_model", h.good_request(), {"name": "nope"}, "NOT_FOUND",
     r"Servable not found for request: Latest\(nope\)"),
    ("unknown_version", h.good_request(), {"version": 9}, "NOT_FOUND", r"Specific\(tiny, 9\)"),
    ("unknown_label", h.good_request(), {"version_label": "gold"}, "INVALID_ARGUMENT",
     r"Unrecognized servable version label: gold"),
    ("unknown_signature", h.good_request(), {"signature_name": "nope"}, "FAILED_PRECONDITION",
     r'Serving signature key "nope" not found'),
]


@pytest.mark.parametrize("case", STRUCTURE_CASES, ids=[c[0] for c in STRUCTURE_CASES])
def test_hostile_request_structure(served, baselines, case):
    _, arrays, spec, code, pattern = case
    outcome, message = _grpc_error(served, _grpc_request(arrays, **spec))
    assert outcome == code and re.search(pattern, message), (outcome, message)
    if not spec:  # in-process, the same inputs fail too, naming the input
        with pytest.raises((TypeError, tf.errors.InvalidArgumentError)) as error:
            served["signature"](**{k: tf.constant(v) for k, v in arrays.items()})
        if "dtype" not in case[0]:  # a wrong dtype fails in the function call, before any op (the server names it)
            assert re.search(r"\btext\b|\bprice\b", str(error.value)[:3000]), str(error.value)[:3000]
    np.testing.assert_allclose(served["grpc"].predict(h.good_request())["probabilities"], baselines["grpc"], atol=1e-6)


def test_classify_on_a_predict_signature_is_invalid_argument(served):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tiny"
    assert _grpc_error(served, request, "Classify") == (
        "INVALID_ARGUMENT", "Expected classification signature method_name to be tensorflow/serving/classify. "
        "Was: tensorflow/serving/predict")


# === REST: bodies, lengths, timeouts ===


def _http(served, body=b"", headers=None, path="/v1/models/tiny:predict", method="POST", send=None):
    """`(status, reply JSON)` of one raw HTTP request; `send` replaces the default body sending."""
    server = served["server"]
    connection = http.client.HTTPConnection(server.host, server.rest_port, timeout=30)
    try:
        if send is None:
            connection.request(method, path, body=body, headers=headers or {})
        else:
            send(connection)
        reply = connection.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        connection.close()


def _raw(served, data):
    """Sends `data` on a raw socket and reads until the server closes it; `(status, reply JSON)`."""
    server = served["server"]
    with socket.create_connection((server.host, server.rest_port), timeout=30) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _post(headers, body=b"{}"):
    """Raw bytes of a predict POST with `headers` (one "Name: value" line each), for what clients cannot send."""
    return (b"POST /v1/models/tiny:predict HTTP/1.1\r\nHost: x\r\n" + b"".join(h + b"\r\n" for h in headers)
            + b"\r\n" + body)


REST_CASES = [
    ("empty_body", lambda s: _http(s, b"", {"Content-Length": "0"}), 400, r"The document is empty"),
    ("not_json", lambda s: _http(s, b"{inputs: nope"), 400, r"JSON Parse error"),
    ("not_an_object", lambda s: _http(s, b"[1, 2]"), 400, r"Is not object"),
    ("json_100k_deep", lambda s: _http(s, b"[" * 100_000 + b"]" * 100_000), 400, r"nests deeper than"),
    ("bad_b64",
     lambda s: _http(s, json.dumps({"inputs": {**s["rest"].make_body(h.good_request(1), "columnar")["inputs"],
                                               "image": [{"b64": "%%%"}]}}).encode()),
     400, r"b64|base64"),
    ("content_length_not_a_number",
     lambda s: _raw(s, _post([b"Content-Length: lots"])), 400,
     r"Content-Length must be a non-negative integer"),
    ("content_length_negative",
     lambda s: _raw(s, _post([b"Content-Length: -5"])), 400,
     r"Content-Length must be a non-negative integer"),
    ("content_length_missing", lambda s: _raw(s, _post([])), 411,
     r"Length Required"),
    ("chunked_body",
     lambda s: _raw(s, _post([b"Transfer-Encoding: chunked"], b"2\r\n{}\r\n0\r\n\r\n")), 411, r"Length Required"),
    ("body_over_the_cap",
     lambda s: _raw(s, _post([b"Content-Length: 300000000"], b"{")), 413,
     r"300000000 bytes, more than the limit of 67108864"),
    ("client_stops_sending",
     lambda s: _raw(s, _post([b"Content-Length: 100"], b'{"in')), 408,
     r"not received within 1.0 s"),
    ("unknown_verb", lambda s: _http(s, b"{}", path="/v1/models/tiny:explain"), 400, r"Malformed request"),
    ("unknown_model", lambda s: _http(s, b"{}", path="/v1/models/nope:predict"), 404, r"Latest\(nope\)"),
]


@pytest.mark.parametrize("case", REST_CASES, ids=[c[0] for c in REST_CASES])
def test_hostile_rest_body(served, baselines, case):
    _, send, status, pattern = case
    before = _peak_mb()
    got, reply = send(served)
    assert got == status and re.search(pattern, reply["error"]), (got, reply)
    assert _peak_mb() - before < PEAK_GROWTH_MB
    np.testing.assert_allclose(served["rest"].predict(h.good_request(), format="columnar")["probabilities"],
                               baselines["rest"], atol=1e-6)


def _trickle(served, first, seconds=5.0):
    """Sends `first`, then one more byte every 0.2 s (each read gets data well within the timeout) until the
    server answers and closes or `seconds` pass; `(status or None, reply bytes, seconds taken)`."""
    server = served["server"]
    start = time.monotonic()
    reply = b""
    with socket.create_connection((server.host, server.rest_port), timeout=30) as sock:
        sock.sendall(first)
        sock.settimeout(0.2)
        while time.monotonic() - start < seconds:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.sendall(b" ")
                except OSError:  # the server closed the connection
                    break
                continue
            if not chunk:
                break
            reply += chunk
    status = int(reply.split()[1]) if reply.startswith(b"HTTP/") else None
    return status, reply, time.monotonic() - start


def test_a_client_trickling_its_body_is_cut_off_at_the_timeout_in_total(served, baselines):
    """`rest_timeout_seconds` (1 s here) bounds the whole request, not each read: a byte every 0.2 s does not
    hold a server thread (slowloris)."""
    status, reply, took = _trickle(served, _post([b"Content-Length: 100000"], b'{"in'))
    assert status == 408 and b"not received within 1.0 s" in reply, reply[:300]
    assert took < 3.0
    np.testing.assert_allclose(served["rest"].predict(h.good_request(), format="columnar")["probabilities"],
                               baselines["rest"], atol=1e-6)


def test_a_client_trickling_its_headers_is_disconnected_at_the_timeout(served):
    status, reply, took = _trickle(served, b"POST /v1/models/tiny:predict HTTP/1.1\r\nX-Slow: ")
    assert status is None and reply == b""  # as http.server does on a timeout in the headers: no answer, closed
    assert took < 3.0


def test_the_rest_body_cap_defaults_to_the_grpc_limit_and_is_configurable(served, tmp_path):
    assert served["server"].rest_max_body_mb == served["server"].max_message_mb == 64
    with pytest.raises(ValueError, match="rest_max_body_mb"):
        DevServer(served["server"].source, rest_max_body_mb=0)


# === Fuzz: random bytes and strings never give an answer other than OK / INVALID_ARGUMENT / RESOURCE_EXHAUSTED ===

_PREFIXES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"RIFF", h.wav(np.zeros(40))[:44],
             h.png_claiming(4, 4)[:33]]
_ANSWERS = ("OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED")


@hypothesis.settings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(image=st.tuples(st.sampled_from(_PREFIXES), st.binary(max_size=300)),
                  audio=st.tuples(st.sampled_from(_PREFIXES), st.binary(max_size=300)),
                  text=st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_fuzzed_values_get_a_tf_serving_answer(served, image, audio, text):
    request = h.good_request(1)
    request["image"] = np.array([b"".join(image)], dtype=object)
    request["audio"] = np.array([b"".join(audio)], dtype=object)
    request["text"] = np.array([text.encode("utf-8") if isinstance(text, str) else text], dtype=object)
    code, detail = _call(served, "grpc", request)
    assert code in _ANSWERS, detail
    if code != "OK":
        assert re.search(r"Input `(image|audio|text)` example 0|\b(image|audio|text)\b", detail), detail
