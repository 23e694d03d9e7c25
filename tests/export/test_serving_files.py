"""The `serving/` folder: configs TF Serving parses, manifests, and the smoke-request script."""

import base64
import http.server
import importlib.util
import json
import os
import re
import threading

import pytest
import tensorflow as tf
import yaml
from google.protobuf import text_format

SERVING = os.path.join(os.path.dirname(__file__), "..", "..", "serving")


def _read(name):
    with open(os.path.join(SERVING, name), encoding="utf-8") as f:
        return f.read()


def test_models_config_parses_as_model_server_config():
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse(_read("models.config"), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == "mmfusion" and model.base_path == "/models/mmfusion" and model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 2
    assert dict(model.version_labels) == {"stable": 1, "canary": 2}


def test_batching_parameters_use_batching_parameters_fields():
    fields = {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
              "allowed_batch_sizes", "pad_variable_length_inputs", "thread_pool_name"}
    lines = [
        line for line in _read("batching_parameters.txt").splitlines() if line.strip() and not line.startswith("#")
    ]
    names = [re.match(r"(\w+)\s*[:{]", line).group(1) for line in lines]
    assert set(names) <= fields and "max_batch_size" in names
    assert re.search(r"max_batch_size \{ value: \d+ \}", _read("batching_parameters.txt"))


def test_docker_compose_and_kubernetes_run_tensorflow_serving_with_the_configs():
    compose = yaml.safe_load(_read("docker-compose.yaml"))
    service = compose["services"]["tf-serving"]
    assert service["image"].startswith("tensorflow/serving:")
    assert "--model_config_file=/config/models.config" in service["command"]
    assert "--batching_parameters_file=/config/batching_parameters.txt" in service["command"]
    assert {"8500:8500", "8501:8501"} == set(service["ports"])
    deployment, service = yaml.safe_load_all(_read("kubernetes.yaml"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["kind"] == "Deployment" and container["image"].startswith("tensorflow/serving")
    assert "--model_config_file=/config/models.config" in container["args"]
    assert {p["port"] for p in service["spec"]["ports"]} == {8500, 8501}


def _smoke_module():
    spec = importlib.util.spec_from_file_location("smoke_request", os.path.join(SERVING, "smoke_request.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeServing(http.server.BaseHTTPRequestHandler):
    """Answers like TF Serving's REST API for one model; records the predict bodies."""

    bodies = []
    metadata = {"metadata": {"signature_def": {"signature_def": {"serving_default": {"inputs": {
        "image": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}},
        "audio": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}},
        "text": {"dtype": "DT_STRING", "tensor_shape": {"dim": [{"size": "-1"}]}},
        "beds": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}},
        "audio_present": {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "-1"}]}},
    }}}}}}

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        if self.path == "/v1/models/mmfusion/metadata":
            return self._answer(200, self.metadata)
        return self._answer(404, {"error": "Servable not found for request: Latest(other)"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.bodies.append((self.path, body))
        self._answer(200, {"outputs": {"labels": ["dog"], "probabilities": [[0.1, 0.9]],
                                       "fusion_weights": [[0.5, 0.5]]}})

    def log_message(self, *args):
        pass


@pytest.fixture()
def fake_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeServing.bodies.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_smoke_request_builds_a_request_from_the_metadata(fake_server, capsys):
    smoke = _smoke_module()
    assert smoke.main(["--url", fake_server]) == 0
    assert "smoke request OK" in capsys.readouterr().out
    ((path, body),) = _FakeServing.bodies
    assert path == "/v1/models/mmfusion:predict" and body["signature_name"] == "serving_default"
    inputs = body["inputs"]
    image = base64.b64decode(inputs["image"][0]["b64"])
    assert tf.io.decode_png(image).shape == (8, 8, 3)
    assert tf.audio.decode_wav(base64.b64decode(inputs["audio"][0]["b64"]))[0].shape[0] == 4000
    assert inputs["text"] == ["a smoke test example"] and inputs["beds"] == [0.0] and inputs["audio_present"] == [1.0]


def test_smoke_request_sends_a_request_file_and_reports_failures(fake_server, tmp_path, capsys):
    smoke = _smoke_module()
    request = tmp_path / "smoke_request.json"
    request.write_text(json.dumps({"signature_name": "serving_default", "inputs": {"text": ["hi"]}}))
    assert smoke.main(["--url", fake_server, "--label", "canary", "--request", str(request)]) == 0
    assert _FakeServing.bodies[-1] == ("/v1/models/mmfusion/labels/canary:predict", json.loads(request.read_text()))
    assert smoke.main(["--url", fake_server, "--model", "other"]) == 1
    assert "404" in capsys.readouterr().err
    assert smoke.check_outputs({"outputs": {"probabilities": [[1.0]]}}) == [
        "neither `labels` nor `prediction` in outputs ['probabilities']",
        "no `fusion_weights` in outputs ['probabilities']",
    ]
