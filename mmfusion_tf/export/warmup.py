"""TF Serving warmup records and the REST smoke request, built from raw example inputs.

TF Serving replays `<version>/assets.extra/tf_serving_warmup_requests` (a
TFRecord of `PredictionLog`, at most 1000 records) when it loads a version,
so the first real request does not pay for graph initialisation.
"""

import base64

import numpy as np
import tensorflow as tf

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


def predict_request(raw, model_name, rows=None, signature_name="serving_default"):
    """A `PredictRequest` holding `rows` (default: all) of the raw columns `raw`."""
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, values in raw.items():
        selected = values if rows is None else values[rows]
        dtype = tf.string if selected.dtype == object else None
        request.inputs[name].CopyFrom(tf.make_tensor_proto(selected, dtype=dtype))
    return request


def write_warmup_requests(path, raw, model_name, max_records=MAX_WARMUP_RECORDS, signature_names=("serving_default",)):
    """Writes one single-example `PredictionLog` per example and signature (at most `max_records` in all).

    Every signature gets its requests, so none pays for its graph's
    initialisation on its first real call.

    Returns:
        The number of records written.
    """
    from tensorflow_serving.apis import prediction_log_pb2

    per_signature = min(len(next(iter(raw.values()))), int(max_records) // len(signature_names))
    with tf.io.TFRecordWriter(path) as writer:
        for signature_name in signature_names:
            for i in range(per_signature):
                request = predict_request(raw, model_name, rows=slice(i, i + 1), signature_name=signature_name)
                log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
    return per_signature * len(signature_names)


def read_warmup_requests(path):
    """The `PredictionLog`s of a warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record.numpy()) for record in tf.data.TFRecordDataset(path)]


def _json_value(value, binary):
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")} if binary else value.decode("utf-8")
    if isinstance(value, np.ndarray):
        return value.tolist()
    return float(value)


def rest_request(raw, binary_inputs, count=1, signature_name="serving_default"):
    """A columnar REST predict body (`{"inputs": ...}`) of the first `count` examples.

    Inputs named in `binary_inputs` (images, WAV bytes) are sent as
    `{"b64": ...}`; other strings as UTF-8 text.
    """
    inputs = {
        name: [_json_value(v, name in binary_inputs) for v in values[:count]]
        for name, values in raw.items()
    }
    return {"signature_name": signature_name, "inputs": inputs}
