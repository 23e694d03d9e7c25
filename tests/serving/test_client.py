"""Client behaviour: raw value conversion, retries with backoff on UNAVAILABLE, TLS, argument checks."""

import pathlib
import shutil
import socket
import subprocess
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.serving import DevServer, PredictionClient, RestClient, ServingError, smoke_test
from mmfusion_tf.serving.tensors import raw_to_array, to_ndarray, to_tensor_proto
from tests.serving import _toy

pytestmark = pytest.mark.timeout(120)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_raw_values_become_batched_arrays(tmp_path):
    wav = tmp_path / "a.WAV"
    wav.write_bytes(_toy.wav_bytes())
    assert raw_to_array("audio", str(wav), tf.string, [-1])[0] == _toy.wav_bytes()  # media path -> bytes
    assert raw_to_array("text", "notes.txt", tf.string, [-1])[0] == b"notes.txt"  # other str -> the text itself
    assert raw_to_array("text", pathlib.Path(wav), tf.string, [-1])[0] == _toy.wav_bytes()  # Path -> always read
    assert raw_to_array("beds", "3", tf.float32, [-1]).tolist() == [3.0]
    assert raw_to_array("x", [[1, 2]], tf.float32, [-1, 2]).shape == (1, 2)  # already batched: unchanged
    assert raw_to_array("x", np.array(["a", "b"]), tf.string, [-1]).tolist() == [b"a", b"b"]
    with pytest.raises(ValueError, match="input `beds`: cannot convert the value to float32"):
        raw_to_array("beds", "three", tf.float32, [-1])


def test_bytes_keep_trailing_nul_bytes():
    value = b"RIFF\x00\x01\x00\x00"
    array = raw_to_array("audio", [value, value], tf.string, [-1])
    assert to_ndarray(to_tensor_proto(array)).tolist() == [value, value]


def test_typed_fields_round_trip():
    for array in (np.arange(6, dtype="float32").reshape(2, 3), np.array([1, -2], "int64"), np.array([True, False]),
                  np.array([0.5, 1.5], "float16"), np.array([1 + 2j], "complex64")):
        proto = to_tensor_proto(array)
        assert not proto.tensor_content
        np.testing.assert_array_equal(to_ndarray(proto), array)


def test_retries_with_backoff_reach_a_server_that_starts_late(toy_base):
    port = _free_port()
    server = DevServer(toy_base, model_name="toy", grpc_port=port, rest_port=None, poll_seconds=0)
    timer = threading.Timer(0.5, server.start)
    timer.start()
    try:
        with PredictionClient(f"127.0.0.1:{port}", "toy", retries=6, backoff=0.2) as client:
            assert client.status()["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        timer.join()
        server.stop()


def test_unavailable_after_the_last_retry():
    port = _free_port()
    start = time.perf_counter()
    with PredictionClient(f"127.0.0.1:{port}", "toy", retries=2, backoff=0.1) as client:
        with pytest.raises(ServingError) as caught:
            client.status()
    assert caught.value.code == "UNAVAILABLE"
    assert time.perf_counter() - start >= 0.3  # slept 0.1 + 0.2
    with pytest.raises(ServingError) as caught:
        RestClient(f"127.0.0.1:{port}", "toy", retries=1, backoff=0.05).status()
    assert caught.value.code == "UNAVAILABLE"


@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="offline TLS test needs the openssl command to make a self-signed certificate")
def test_tls(toy_base, tmp_path):
    key, certificate = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(certificate), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost"], check=True, capture_output=True, timeout=60)
    with DevServer(toy_base, model_name="toy", host="localhost", rest_port=None, poll_seconds=0,
                   tls_certificate=str(certificate), tls_key=str(key)) as server:
        with PredictionClient(server.grpc_target, "toy", root_certificates=str(certificate), retries=0) as client:
            assert client.tls
            assert client.predict(_toy.example_inputs(1))["probabilities"].shape == (1, 3)
        with PredictionClient(server.grpc_target, "toy", retries=0) as plain:
            with pytest.raises(ServingError) as caught:
                plain.status()
        assert caught.value.code == "UNAVAILABLE"


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="Pass `version` or `version_label`, not both"):
        PredictionClient("127.0.0.1:1", "toy", version=1, version_label="stable")
    with pytest.raises(ValueError, match="`timeout` must be positive. Received: timeout=0"):
        RestClient("http://127.0.0.1:1", "toy", timeout=0)
    with pytest.raises(FileNotFoundError, match="Received: source='/no/such/folder'"):
        DevServer("/no/such/folder")


def test_smoke_test_reports_latency_and_version(toy_base):
    report = smoke_test(toy_base, {name: values[0] for name, values in _toy.example_inputs(1).items()}, requests=3)
    assert report["ok"] and report["version"] == 1 and report["latency_ms"] > 0
    assert report["outputs"] == ["classes", "fusion_weights", "labels", "probabilities"]
    assert smoke_test(toy_base, {"text": "only text"})["ok"] is False
