"""TF Serving's REST API over the model manager (http_rest_api_handler.cc, util/json_tensor.cc).

Routes: `GET /v1/models/{name}[/versions/{n}|/labels/{l}][/metadata]` and
`POST /v1/models/{name}[/versions/{n}|/labels/{l}]:predict`. A predict body is either row format,
`{"instances": [...]}` -> `{"predictions": [...]}`, or columnar, `{"inputs": ...}` -> `{"outputs": ...}`;
binary strings travel as `{"b64": "..."}`, and outputs whose name ends in `_bytes` are sent that way.
Like TF Serving, the JSON is turned into a `PredictRequest` and answered by the same code as gRPC.
Errors are `{"error": "..."}` with TF Serving's HTTP code for the status.

Example:

>>> status, body = RestApi(manager).handle("POST", "/v1/models/demo:predict", b'{"instances": [{"text": "hi"}]}')
"""

import base64
import json
import logging
import math
import re
import sys
import urllib.parse

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from mmfusion_tf.serving import tensors
from mmfusion_tf.serving.errors import ServingError, invalid_argument
from mmfusion_tf.serving.models import DEFAULT_SIGNATURE, SIGNATURE_DEF_FIELD

log = logging.getLogger("mmfusion_tf.serving")
_PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
_STATUS_PATH = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")
_INT64_MAX = 2 ** 63 - 1


def _json_text(value):
    return json.dumps(value, separators=(",", ":"))[:200]


def _json_type(value):
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    return {dict: "Object", list: "Array", str: "String"}.get(type(value), "Number")


def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _leaf(value, dtype):
    """One JSON scalar as a value of `dtype`, with json_tensor.cc's checks and messages."""
    if dtype == tf.string:
        if _is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise invalid_argument("Unable to base64 decode") from None
        if isinstance(value, str):
            return value.encode("utf-8")
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and abs(value) > float(np.finfo(dtype.as_numpy_dtype).max):
                raise invalid_argument(f"Cannot convert JSON value: {_json_text(value)} to {tensors.dtype_name(dtype)}"
                                       " without loss of precision.")
            return value
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool) and dtype.min <= value <= dtype.max:
            return value
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    else:
        raise ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {_json_text(value)} to type: {dtype.name}")
    if isinstance(value, dict) and dtype != tf.string:
        raise invalid_argument(f"JSON Value: {_json_text(value)} Type: Object is not of expected type: "
                               f"{tensors.dtype_name(dtype)}")
    if isinstance(value, dict):
        raise invalid_argument(f"JSON Value: {_json_text(value)} not formatted correctly for base64 data")
    raise invalid_argument(f"JSON Value: {_json_text(value)} Type: {_json_type(value)} is not of expected type: "
                           f"{tensors.dtype_name(dtype)}")


def json_to_array(value, dtype):
    """A dense array from a (nested) JSON value: every leaf at the same depth, lists of equal length."""
    shape, level = [], value
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    flat = []

    def fill(item, depth):
        if not isinstance(item, list):
            if depth != len(shape):
                raise invalid_argument(f"JSON Value: {_json_text(item)} found at incorrect level: {depth + 1} in the "
                                       f"JSON DOM. Expected at level: {len(shape)}")
            flat.append(_leaf(item, dtype))
            return
        if depth >= len(shape):
            raise invalid_argument(f"Encountered list at unexpected level: {depth} expected < {len(shape)}")
        if len(item) != shape[depth]:
            raise invalid_argument(f"Encountered list at unexpected size: {len(item)} at level: {depth} "
                                   f"expected size: {shape[depth]}")
        for element in item:
            fill(element, depth + 1)

    fill(value, 0)
    if dtype == tf.string:
        array = np.empty(len(flat), dtype=object)
        for i, item in enumerate(flat):
            array[i] = item
        return array.reshape(shape)
    return np.asarray(flat, dtype=dtype.as_numpy_dtype).reshape(shape)


def _rows_to_arrays(instances, input_infos):
    """Row format: a list of values (one input) or of objects with one key per input."""
    names = sorted(input_infos)
    first_is_object = isinstance(instances[0], dict) and not _is_b64(instances[0])
    if not first_is_object and len(names) > 1:
        raise invalid_argument("instances is a plain list, but expecting list of objects as multiple input tensors "
                               "required as per tensorinfo_map")
    columns = {name: [] for name in names}
    for index, row in enumerate(instances):
        is_object = isinstance(row, dict) and not _is_b64(row)
        if first_is_object and not is_object:
            raise invalid_argument(f"Expecting object but got list at item {index} of input list")
        if not first_is_object and is_object:
            raise invalid_argument(f"Expecting value/list but got object at item {index} of input list")
        if not first_is_object:
            row = {names[0]: row}
        for key in row:
            if key not in input_infos:
                raise invalid_argument(f"Failed to process element: {index} key: {key} of 'instances' list. Error: "
                                       f"INVALID_ARGUMENT: JSON object: does not have named input: {key}")
        if set(row) != set(names):
            raise invalid_argument(f"Failed to process element: {index} of 'instances' list. JSON object: "
                                   f"{_json_text(row)} keys must be equal to: {','.join(names)}")
        for name in names:
            columns[name].append(row[name])
    arrays = {}
    for name in names:
        dtype = tf.as_dtype(input_infos[name].dtype)
        items = []
        for index, item in enumerate(columns[name]):
            try:
                items.append(json_to_array(item, dtype))
            except ServingError as error:
                raise invalid_argument(f"Failed to process element: {index} key: {name} of 'instances' list. "
                                       f"Error: {error}") from None
            if items[-1].shape != items[0].shape:
                raise invalid_argument(f"Expecting shape {list(items[0].shape)} but got: {list(items[-1].shape)}")
        arrays[name] = np.stack(items) if dtype != tf.string else _stack_objects(items)
    return arrays


def _stack_objects(items):
    array = np.empty((len(items),) + items[0].shape, dtype=object)
    for i, item in enumerate(items):
        array[i, ...] = item
    return array


def _columns_to_arrays(inputs, input_infos):
    """Columnar format: one value (one input) or an object with every input by name."""
    names = sorted(input_infos)
    if not isinstance(inputs, dict) or _is_b64(inputs):
        if len(names) > 1:
            raise invalid_argument("inputs is a plain value/list, but expecting an object as multiple input tensors "
                                   "required as per tensorinfo_map")
        inputs = {names[0]: inputs}
    arrays = {}
    for name in names:
        if name not in inputs:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_to_array(inputs[name], tf.as_dtype(input_infos[name].dtype))
    return arrays


def _output_value(name, array):
    """A numpy output as JSON: float32 as its shortest repr, strings as UTF-8 or b64 for `*_bytes`."""
    if array.dtype == object:
        as_b64 = name.endswith("_bytes")
        flat = [{"b64": base64.b64encode(v).decode("ascii")} if as_b64 else v.decode("utf-8", "replace")
                for v in array.reshape(-1)]
        return np.array(flat, dtype=object).reshape(array.shape).tolist() if array.ndim else flat[0]
    if array.dtype == np.float32 or array.dtype == np.float16:
        # float(str(np.float32(0.2))) == 0.2, where float(np.float32(0.2)) == 0.20000000298023224
        return np.array([float(str(v)) for v in array.reshape(-1)], dtype=object).reshape(array.shape).tolist()
    return array.tolist()


def response_to_json(response, row_format):
    """PredictResponse -> `{"predictions": ...}` (row) or `{"outputs": ...}` (columnar)."""
    values = {name: tensors.to_ndarray(proto) for name, proto in response.outputs.items()}
    if not values:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(values)
    if not row_format:
        outputs = {name: _output_value(name, values[name]) for name in names}
        return {"outputs": outputs if len(names) > 1 else outputs[names[0]]}
    batch = None
    for name in names:
        if values[name].ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and values[name].shape[0] != batch:
            raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: {values[name].shape[0]} "
                                   f"expecting: {batch}")
        batch = values[name].shape[0]
    columns = {name: _output_value(name, values[name]) for name in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{name: columns[name][i] for name in names} for i in range(batch)]}


def metadata_to_json(response):
    """GetModelMetadataResponse -> TF Serving's REST metadata JSON (http_rest_api_util.cc, ToJsonString)."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata[SIGNATURE_DEF_FIELD].Unpack(signature_map)
    options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
    return {"model_spec": json_format.MessageToDict(response.model_spec, **options),
            "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(signature_map, **options)}}


def signature_defs_from_json(metadata):
    """The SignatureDefs (name -> proto) in a metadata JSON, as both clients read them."""
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    json_format.ParseDict(metadata["metadata"][SIGNATURE_DEF_FIELD], signature_map)
    return dict(signature_map.signature_def)


def status_to_json(response):
    """GetModelStatusResponse -> `{"model_version_status": [{"version": "1", "state": "AVAILABLE", ...}]}`."""
    return json_format.MessageToDict(response, always_print_fields_with_no_presence=True)


class RestApi:
    """Routes one HTTP request to the model manager; returns (HTTP status, JSON-serialisable body)."""

    def __init__(self, manager):
        self.manager = manager

    def handle(self, method, path, body):
        try:
            return 200, self._dispatch(method, urllib.parse.urlsplit(path).path, body)
        except ServingError as error:
            return error.http_status, {"error": error.message}
        except Exception as error:  # noqa: BLE001 - a bug must still answer, not drop the connection
            log.exception("REST %s %s failed", method, path)
            return 500, {"error": f"{type(error).__name__}: {error}"}

    def _dispatch(self, method, path, body):
        matched = None
        if method == "POST":
            matched = _PREDICT_PATH.fullmatch(path)
        elif method == "GET":
            matched = _STATUS_PATH.fullmatch(path)
        if matched is None:
            raise invalid_argument(f"Malformed request: {method} {path}")
        name, version, label, action = matched.groups()
        name = urllib.parse.unquote(name) if name else ""
        label = urllib.parse.unquote(label) if label else None
        if version is not None and int(version) > _INT64_MAX:
            raise invalid_argument(f"Failed to convert version: {version} to numeric.")
        if method == "POST":
            if action.lower() != "predict":
                raise ServingError("UNIMPLEMENTED", f"{action.capitalize()} is not supported by the mmfusion dev "
                                                    "server: use :predict (or tensorflow/serving)")
            return self._predict(name, version, label, body)
        if not name:
            raise invalid_argument("Missing model name in request.")
        if action:
            request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=[SIGNATURE_DEF_FIELD])
            self._fill_spec(request.model_spec, name, version, label)
            return metadata_to_json(self.manager.get_model_metadata(request))
        request = get_model_status_pb2.GetModelStatusRequest()
        self._fill_spec(request.model_spec, name, version, label)
        return status_to_json(self.manager.get_model_status(request))

    @staticmethod
    def _fill_spec(spec, name, version, label):
        spec.name = name
        if version is not None:
            spec.version.value = int(version)
        if label is not None:
            spec.version_label = label

    def _predict(self, name, version, label, body):
        if not body:
            raise invalid_argument("JSON Parse error: The document is empty")
        try:
            document = json.loads(body)
        except ValueError as error:
            raise invalid_argument(f"JSON Parse error: Invalid value. ({error})") from None
        except RecursionError:
            raise invalid_argument(f"JSON Parse error: the document nests deeper than {sys.getrecursionlimit()} "
                                   "levels") from None
        if not isinstance(document, dict):
            raise invalid_argument(f"JSON Value: {_json_text(document)} Is not object")
        signature_name = document.get("signature_name", "")
        if not isinstance(signature_name, str):
            raise invalid_argument(f"JSON Value: {_json_text(document)} not formatted correctly. 'signature_name' "
                                   "key must be a string value.")
        request = predict_pb2.PredictRequest()
        self._fill_spec(request.model_spec, name, version, label)
        request.model_spec.signature_name = signature_name
        servable = self.manager.resolve(request.model_spec)  # its input map, as TF Serving's GetInfoMap
        signature_key = signature_name or DEFAULT_SIGNATURE
        if signature_key not in servable.signature_defs:
            raise invalid_argument(f'Serving signature name: "{signature_key}" not found in signature def')
        input_infos = servable.signature_defs[signature_key].inputs
        if not input_infos:
            raise invalid_argument(f"Failed to get input map for signature: {signature_name or 'DEFAULT'}")
        if "instances" in document and "inputs" in document:
            raise invalid_argument(f"JSON Value: {_json_text(document)} Not formatted correctly expecting only one "
                                   "of 'inputs' or 'instances' keys to exist ")
        if "instances" in document:
            instances = document["instances"]
            if not isinstance(instances, list):
                raise invalid_argument(f"JSON Value: {_json_text(document)} Excepting 'instances' to be an list/array")
            if not instances:
                raise invalid_argument(f"JSON Value: {_json_text(document)} No values in 'instances' array")
            arrays, row_format = _rows_to_arrays(instances, input_infos), True
        elif "inputs" in document:
            arrays, row_format = _columns_to_arrays(document["inputs"], input_infos), False
        else:
            raise invalid_argument("Missing 'inputs' or 'instances' key")
        for key, array in arrays.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(array, dtype=input_infos[key].dtype))
        return response_to_json(servable.predict(request), row_format)  # the version whose inputs were read
