"""Tensors between numpy, `TensorProto` and raw Python values, as TF Serving sees them.

- `to_tensor_proto` writes values into the typed fields (`float_val`, `int64_val`, `string_val`...)
  the way TF Serving's `Tensor::AsProtoField` does for responses: `tf.make_tensor_proto`, then the
  packed `tensor_content` moved into the typed field.
- `to_ndarray` reads either form (`tf.make_ndarray`).
- `raw_to_array` turns what a user holds (file paths, bytes, str, numbers, lists, arrays) into the
  array a signature input expects: media file paths are read as bytes, one example gets its batch axis.

Example:

>>> proto = to_tensor_proto(np.array([[0.25, 0.75]], "float32"))
>>> list(proto.float_val), proto.tensor_content
([0.25, 0.75], b'')
>>> raw_to_array("text", "a red car", tf.string, [-1])
array([b'a red car'], dtype=object)
"""

import math
import os

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

# Encoded media that a client sends as bytes when given a path (images, audio).
MEDIA_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".wav", ".flac", ".mp3", ".ogg")

# DataType -> the TensorProto field TF Serving fills (tensorflow/core/framework/tensor.cc, AsProtoField).
_TYPED_FIELD = {
    tf.float32: "float_val", tf.float64: "double_val", tf.int32: "int_val", tf.int16: "int_val",
    tf.int8: "int_val", tf.uint8: "int_val", tf.uint16: "int_val", tf.int64: "int64_val", tf.bool: "bool_val",
    tf.string: "string_val", tf.float16: "half_val", tf.bfloat16: "half_val", tf.uint32: "uint32_val",
    tf.uint64: "uint64_val", tf.complex64: "scomplex_val", tf.complex128: "dcomplex_val",
}


# DataType enum -> (typed field, numpy dtype) of the dtypes read and written without `tf.make_tensor_proto` /
# `tf.make_ndarray` (no per-element Python). Keyed by the proto's enum: comparing `tf.DType`s costs more
# than the conversion itself on the serving path.
_FAST = {dtype.as_datatype_enum: (_TYPED_FIELD[dtype], np.dtype(object if dtype == tf.string else dtype.as_numpy_dtype))
         for dtype in (tf.float32, tf.float64, tf.int32, tf.int64, tf.bool, tf.string)}
_FAST_ENUM_OF_NUMPY = {numpy_dtype: enum for enum, (_, numpy_dtype) in _FAST.items() if enum != types_pb2.DT_STRING}


def dtype_name(dtype):
    """TF Serving's spelling of a dtype in messages: `float`, `string`, `int64`."""
    return {"float32": "float", "float64": "double"}.get(tf.as_dtype(dtype).name, tf.as_dtype(dtype).name)


def to_tensor_proto(values, dtype=None):
    """A `TensorProto` with its values in the typed field, not `tensor_content`.

    Numeric, bool and string arrays are written straight into the typed
    field (no per-element Python); other dtypes go through
    `tf.make_tensor_proto`.
    """
    proto = tensor_pb2.TensorProto()
    fill_response_proto(proto, values, dtype)
    return proto


def fill_response_proto(proto, values, dtype=None):
    """Writes `values` into the empty `TensorProto` `proto` (e.g. `response.outputs[name]`), typed fields only."""
    if isinstance(values, np.ndarray) and (dtype is None or tf.as_dtype(dtype) == _dtype_of(values)):
        if _fill_fast(proto, values, packed=False):
            return
    made = tf.make_tensor_proto(values, dtype=dtype)
    if made.tensor_content:
        dtype = tf.as_dtype(made.dtype)
        numpy_dtype = np.uint16 if dtype in (tf.float16, tf.bfloat16) else dtype.as_numpy_dtype
        flat = np.frombuffer(made.tensor_content, dtype=numpy_dtype)
        if dtype.is_complex:
            flat = flat.view(flat.real.dtype)  # interleaved real/imaginary parts, as the proto stores them
        getattr(made, _TYPED_FIELD[dtype]).extend(flat.tolist())
        made.ClearField("tensor_content")
    proto.MergeFrom(made)


def to_request_proto(array):
    """The compact `TensorProto` a client sends: numbers packed in `tensor_content`, bytes in `string_val`.

    Written without `tf.make_tensor_proto` (which appends strings one by one
    in Python) for the common dtypes; other arrays go through it.

    >>> to_request_proto(np.array([b"a red car"], dtype=object)).string_val
    [b'a red car']
    """
    proto = tensor_pb2.TensorProto()
    fill_request_proto(proto, array)
    return proto


def fill_request_proto(proto, array):
    """Writes `array` into the empty `TensorProto` `proto` (e.g. `request.inputs[name]`), as `to_request_proto`."""
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    if not _fill_fast(proto, array, packed=True):
        proto.MergeFrom(tf.make_tensor_proto(array))


def _fill_fast(proto, array, packed):
    """Writes `array` into `proto` without per-element Python; False (nothing written) for other dtypes.

    Strings go into `string_val`; numbers into `tensor_content` when
    `packed`, else into their typed field (`float_val`, ...).
    """
    if array.dtype.kind in "OSU":
        if not _all_bytes(array):
            return False
        enum = types_pb2.DT_STRING
    else:
        enum = _FAST_ENUM_OF_NUMPY.get(array.dtype)
        if enum is None:
            return False
    proto.dtype = enum
    dims = proto.tensor_shape.dim
    for size in array.shape:
        dims.add(size=size)
    if enum == types_pb2.DT_STRING:
        proto.string_val.extend(array.reshape(-1))
    elif packed:
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    else:
        getattr(proto, _FAST[enum][0]).extend(array.reshape(-1).tolist())
    return True


def to_ndarray(proto):
    """A numpy array from either form of `TensorProto` (strings come back as an object array of bytes).

    `tensor_content` and complete typed fields of the common dtypes are read
    without per-element Python; anything else goes through `tf.make_ndarray`.
    """
    fast = _FAST.get(proto.dtype)
    if fast is not None:
        shape = [d.size for d in proto.tensor_shape.dim]
        count = math.prod(shape)
        field, numpy_dtype = fast
        if proto.dtype == types_pb2.DT_STRING:
            values = proto.string_val
            if len(values) == count and not proto.tensor_content:
                array = np.empty(count, dtype=object)
                array[:] = list(values)
                return array.reshape(shape)
        elif proto.tensor_content:
            flat = np.frombuffer(proto.tensor_content, numpy_dtype)
            if flat.size == count:
                return flat.reshape(shape)
        else:
            values = getattr(proto, field)
            if len(values) == count:
                return np.array(values, numpy_dtype).reshape(shape)
    return tf.make_ndarray(proto)


def _all_bytes(array):
    return array.dtype == object and all(isinstance(item, bytes) for item in array.reshape(-1))


def _dtype_of(array):
    return tf.string if array.dtype.kind in "OSU" else tf.as_dtype(array.dtype)


def shape_of(tensor_info):
    """A signature tensor's shape as a list (-1 for unknown sizes), or None for unknown rank."""
    shape = tensor_info.tensor_shape
    return None if shape.unknown_rank else [d.size for d in shape.dim]


def is_compatible(shape, expected):
    """Whether an array's shape fits a signature shape (None: any shape; -1: any size)."""
    if expected is None:
        return True
    return len(shape) == len(expected) and all(e < 0 or e == s for s, e in zip(shape, expected))


def read_media(value):
    """The bytes of `value` when it names a media file (or is a `pathlib.Path`); otherwise `value` itself."""
    if isinstance(value, os.PathLike):
        with open(value, "rb") as f:
            return f.read()
    if isinstance(value, str) and value.lower().endswith(MEDIA_EXTENSIONS) and os.path.isfile(value):
        with open(value, "rb") as f:
            return f.read()
    return value


def _string_leaves(value):
    if isinstance(value, np.ndarray):
        return [_string_leaves(v) for v in value] if value.ndim else _string_leaves(value.item())
    if isinstance(value, (list, tuple)):
        return [_string_leaves(v) for v in value]
    value = read_media(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected str, bytes or a file path, got {type(value).__name__} {value!r:.60}")


def _object_array(nested):
    """Nested lists of bytes -> object array, element by element (numpy's `S` dtype would drop trailing NULs)."""
    shape, level = [], nested
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    flat = []
    stack = [nested]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    array = np.empty(shape, dtype=object)
    if len(flat) != array.size:
        raise ValueError(f"nested lists are ragged: expected shape {shape}")
    out = array.reshape(-1)
    for i, item in enumerate(flat):
        out[i] = item
    return array


def raw_to_array(name, value, dtype, shape=None):
    """Converts one raw input value to the array a signature input takes.

    Args:
        name: str, the input's name (used in error messages).
        value: a file path (`str` with a media extension, or `pathlib.Path`: read as bytes), bytes, str,
            a number, a (nested) list or a numpy array.
        dtype: the signature input's dtype.
        shape: list or None, the signature input's shape; a value with one axis fewer gets a batch axis.
    """
    dtype = tf.as_dtype(dtype)
    try:
        if dtype == tf.string:
            array = _object_array(_string_leaves(value))
        else:
            array = np.asarray(value, dtype=dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        raise ValueError(f"input `{name}`: cannot convert the value to {dtype.name} ({error}). "
                         f"Received: {name}={value!r:.80}") from None
    if shape is not None and array.ndim == len(shape) - 1:
        array = array[np.newaxis, ...]
    return array


def _guess_dtype(value):
    while isinstance(value, (list, tuple)) and value:
        value = value[0]
    if isinstance(value, (str, bytes, os.PathLike)) or (isinstance(value, np.ndarray) and value.dtype.kind in "OSU"):
        return tf.string
    return tf.as_dtype(np.asarray(value).dtype)


def input_specs(signature_def):
    """`{alias: (DataType enum, tf.DType, shape)}` of a SignatureDef's inputs (`shape` as `shape_of`).

    Read once and kept: the SignatureDef's protobuf map costs more per request than the conversion.
    """
    return {alias: (info.dtype, tf.as_dtype(info.dtype), shape_of(info))
            for alias, info in signature_def.inputs.items()}


def raw_inputs_to_arrays(inputs, specs):
    """Raw values by input name -> arrays with each signature input's dtype and batch axis.

    `specs` is `input_specs(signature_def)`. A name the signature does not have keeps a guessed
    dtype, so the server answers INVALID_ARGUMENT with its own message, as it would for any client.
    """
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError(f"`inputs` must be a non-empty dict of input name -> value. Received: inputs={inputs!r:.80}")
    arrays = {}
    for name, value in inputs.items():
        spec = specs.get(name)
        if spec is None:
            arrays[name] = raw_to_array(name, value, _guess_dtype(value))
        else:
            arrays[name] = raw_to_array(name, value, spec[1], spec[2])
    return arrays
