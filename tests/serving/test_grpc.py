"""gRPC API, mirroring TF Serving's own server tests (tensorflow_model_server_test.py, predict_util_test.cc)."""

import pathlib
import socket
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from mmfusion_tf.serving import PredictionClient, ServingError
from tests.serving import _toy

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(server.grpc_target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel)
    channel.close()


def _rpc_error(call, request):
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=20.0)
    return caught.value.code(), caught.value.details()


def test_status_reports_one_available_version(client):
    assert client.status() == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}


def test_metadata_holds_the_signature_defs(client, stubs):
    metadata = client.metadata()
    assert metadata["model_spec"] == {"name": "toy", "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "embedding"} <= set(signatures)
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert {name: spec["dtype"] for name, spec in default["inputs"].items()} == {
        "image": "DT_STRING", "text": "DT_STRING", "audio": "DT_STRING", "beds": "DT_FLOAT", "city": "DT_STRING"}
    assert {name: spec["dtype"] for name, spec in default["outputs"].items()} == {
        "probabilities": "DT_FLOAT", "classes": "DT_INT64", "labels": "DT_STRING", "fusion_weights": "DT_FLOAT"}
    # The raw response packs a SignatureDefMap in an Any, as TF Serving does.
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "toy"
    response = stubs[0].GetModelMetadata(request, timeout=20.0)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(signature_map)
    assert signature_map.signature_def["serving_default"].inputs["beds"].dtype == tf.float32.as_datatype_enum


def test_predict_on_raw_inputs_equals_the_saved_model_in_process(client, toy_base):
    inputs = _toy.example_inputs(3)
    served = client.predict(inputs)
    signature = tf.saved_model.load(f"{toy_base}/1").signatures["serving_default"]
    local = signature(**{name: tf.constant(value, tf.float32 if name == "beds" else tf.string)
                         for name, value in inputs.items()})
    assert set(served) == set(local)
    for name in ("probabilities", "fusion_weights"):
        np.testing.assert_allclose(served[name], local[name].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(served["classes"], local["classes"].numpy())
    np.testing.assert_array_equal(served["labels"], local["labels"].numpy())


def test_response_echoes_the_model_spec_and_uses_typed_fields(client):
    response = client.predict_response(_toy.example_inputs(2))
    assert (response.model_spec.name, response.model_spec.version.value, response.model_spec.signature_name) == (
        "toy", 1, "serving_default")
    probabilities = response.outputs["probabilities"]
    assert probabilities.dtype == tf.float32.as_datatype_enum and len(probabilities.float_val) == 6
    assert [d.size for d in probabilities.tensor_shape.dim] == [2, 3]
    assert response.outputs["classes"].int64_val and response.outputs["labels"].string_val
    assert all(not proto.tensor_content for proto in response.outputs.values())


def test_files_paths_and_single_examples(client, tmp_path):
    image, audio = tmp_path / "cat.png", tmp_path / "meow.wav"
    image.write_bytes(_toy.png_bytes(90))
    audio.write_bytes(_toy.wav_bytes(0.5))
    from_bytes = client.predict({"image": _toy.png_bytes(90), "text": "a cat", "audio": _toy.wav_bytes(0.5),
                                 "beds": 2, "city": "a"})
    from_paths = client.predict({"image": str(image), "text": "a cat", "audio": pathlib.Path(audio),
                                 "beds": np.float32(2), "city": "a"})
    assert from_paths["probabilities"].shape == (1, 3)  # one example was sent as a batch of one
    np.testing.assert_array_equal(from_paths["probabilities"], from_bytes["probabilities"])


def test_output_filter_and_other_signature(client, server):
    assert set(client.predict(_toy.example_inputs(1), output_filter=["classes"])) == {"classes"}
    with PredictionClient(server.grpc_target, "toy", signature_name="embedding", retries=0) as embedding:
        assert embedding.predict(_toy.example_inputs(2))["embedding"].shape == (2, 4)


def _request(client, mutate):
    request = client.make_request(_toy.example_inputs(1))
    mutate(request)
    return request


def _drop(name):
    return lambda request: request.inputs.pop(name)


def _add_extra(request):
    request.inputs["zzz"].CopyFrom(request.inputs["beds"])


def _rename(request):
    request.inputs["zzz"].CopyFrom(request.inputs.pop("city"))


def _wrong_dtype(request):
    request.inputs["beds"].CopyFrom(tf.make_tensor_proto(["x"]))


def _wrong_shape(request):
    request.inputs["beds"].CopyFrom(tf.make_tensor_proto(np.ones((1, 2), "float32")))


@pytest.mark.parametrize("mutate, code, message", [
    (lambda r: setattr(r.model_spec, "name", "nope"), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Latest(nope)"),
    (lambda r: r.model_spec.version.__setattr__("value", 7), grpc.StatusCode.NOT_FOUND,
     "Servable not found for request: Specific(toy, 7)"),
    (lambda r: setattr(r.model_spec, "version_label", "canary"), grpc.StatusCode.INVALID_ARGUMENT,
     "Unrecognized servable version label: canary"),
    (lambda r: setattr(r.model_spec, "name", ""), grpc.StatusCode.INVALID_ARGUMENT, "Missing model name in request."),
    (lambda r: setattr(r.model_spec, "signature_name", "nope"), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
    (_drop("city"), grpc.StatusCode.INVALID_ARGUMENT,
     "input size does not match signature: 4!=5 len({audio,beds,image,text}) != len({audio,beds,city,image,text}). "
     "Sent extra: {}. Missing but required: {city}."),
    (_add_extra, grpc.StatusCode.INVALID_ARGUMENT, "Sent extra: {zzz}. Missing but required: {}."),
    (_rename, grpc.StatusCode.INVALID_ARGUMENT,
     "input tensor alias not found in signature: zzz. Inputs expected to be in the set {audio,beds,city,image,text}."),
    (_wrong_dtype, grpc.StatusCode.INVALID_ARGUMENT, "to be float but string is provided"),
    (_wrong_shape, grpc.StatusCode.INVALID_ARGUMENT, "shape [1, 2] is not compatible with the signature's shape [-1]"),
    (lambda r: r.output_filter.append("nope"), grpc.StatusCode.INVALID_ARGUMENT,
     "output tensor alias not found in signature: nope Outputs expected to be in the set "
     "{classes,fusion_weights,labels,probabilities}."),
    (lambda r: r.output_filter.extend(["classes", "classes"]), grpc.StatusCode.INVALID_ARGUMENT,
     "duplicate output tensor alias: classes"),
], ids=["unknown-model", "unknown-version", "unknown-label", "empty-name", "unknown-signature", "missing-input",
        "extra-input", "renamed-input", "wrong-dtype", "wrong-shape", "unknown-output", "duplicate-output"])
def test_predict_errors_have_tf_serving_codes_and_messages(client, stubs, mutate, code, message):
    got_code, details = _rpc_error(stubs[0].Predict, _request(client, mutate))
    assert got_code == code
    assert message in details


def test_a_bad_image_is_invalid_argument(client):
    with pytest.raises(ServingError) as caught:
        client.predict({**_toy.example_inputs(1), "image": b"not an image"})
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.http_status == 400


def test_status_errors(stubs):
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "nope"
    assert _rpc_error(stubs[1].GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model nope")
    request.model_spec.name = "toy"
    request.model_spec.version.value = 9
    assert _rpc_error(stubs[1].GetModelStatus, request) == (
        grpc.StatusCode.NOT_FOUND, "Could not find version 9 of model toy")
    metadata = get_model_metadata_pb2.GetModelMetadataRequest()
    metadata.model_spec.name = "toy"
    assert _rpc_error(stubs[0].GetModelMetadata, metadata) == (
        grpc.StatusCode.INVALID_ARGUMENT, "GetModelMetadataRequest must specify at least one metadata_field")


def test_classify_regress_answer_like_tf_serving_and_multi_inference_is_unimplemented(stubs):
    prediction = stubs[0]
    for call, request, kind in ((prediction.Classify, classification_pb2.ClassificationRequest(), "classification"),
                                (prediction.Regress, regression_pb2.RegressionRequest(), "regression")):
        assert _rpc_error(call, request) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")
        request.model_spec.name = "toy"  # its serving_default is a predict signature, as TF Serving would say
        api = "classify" if kind == "classification" else "regress"
        assert _rpc_error(call, request) == (
            grpc.StatusCode.INVALID_ARGUMENT, f"Expected {kind} signature method_name to be tensorflow/serving/{api}. "
            "Was: tensorflow/serving/predict")
    assert _rpc_error(prediction.MultiInference, inference_pb2.MultiInferenceRequest())[0] == \
        grpc.StatusCode.UNIMPLEMENTED


def test_images_larger_than_grpc_default_limit(client, server):
    noise = np.random.default_rng(0).integers(0, 256, (1300, 1300, 3), dtype=np.uint8)
    image = tf.io.encode_png(noise).numpy()
    assert len(image) > 4 * 1024 * 1024  # gRPC's default receive limit
    inputs = {**_toy.example_inputs(1), "image": image}
    assert client.predict(inputs)["probabilities"].shape == (1, 3)
    with PredictionClient(server.grpc_target, "toy", max_message_mb=1, retries=0) as small:
        with pytest.raises(ServingError) as caught:
            small.predict(inputs)
    assert caught.value.code == "RESOURCE_EXHAUSTED"


def test_deadline_bounds_a_server_that_never_answers():
    with socket.socket() as silent:  # accepts TCP connections (kernel backlog) but never speaks HTTP/2
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        start = time.perf_counter()
        with PredictionClient(f"127.0.0.1:{silent.getsockname()[1]}", "toy", timeout=0.5, retries=0) as client:
            with pytest.raises(ServingError) as caught:
                client.status()
    assert caught.value.code == "DEADLINE_EXCEEDED"
    assert time.perf_counter() - start < 10
