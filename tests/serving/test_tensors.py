"""`TensorProto` <-> numpy: the fast paths give what `tf.make_tensor_proto` / `tf.make_ndarray` give."""

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.serving import tensors

ARRAYS = {
    "float32": np.array([[0.25, 0.75]], "float32"),
    "int64": np.array([1, 2], "int64"),
    "int32": np.array([1, 2], "int32"),
    "bool": np.array([True, False]),
    "bytes_with_nul": np.array([b"a", b"bc\x00"], dtype=object),
    "unicode": np.array([["x"], ["\u00e9"]]),
    "empty_batch": np.zeros((0, 3), "float32"),
    "empty_strings": np.empty((0,), dtype=object),
    "scalar": np.array(3.5),
    "float16": np.array([1.5], "float16"),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_round_trip_matches_tensorflow(name):
    array = ARRAYS[name]
    ours, theirs = tensors.to_tensor_proto(array), tf.make_tensor_proto(array)
    assert not ours.tensor_content  # responses carry typed fields, as TF Serving's
    expected = tf.make_ndarray(theirs)
    for proto in (ours, theirs):
        back = tensors.to_ndarray(proto)
        assert back.shape == expected.shape and back.dtype == expected.dtype
        np.testing.assert_array_equal(back, expected)
    assert tf.make_ndarray(ours).tolist() == expected.tolist()


def test_a_single_value_filling_a_shape_is_broadcast_as_tensorflow_does():
    np.testing.assert_array_equal(tensors.to_ndarray(tf.make_tensor_proto(1.0, shape=[3])), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("name", list(ARRAYS))
def test_request_proto_reads_back_as_tensorflow_reads_it(name):
    array = ARRAYS[name]
    proto = tensors.to_request_proto(array)
    expected = tf.make_ndarray(tf.make_tensor_proto(array))
    back = tf.make_ndarray(proto)
    assert back.shape == expected.shape and back.dtype == expected.dtype
    np.testing.assert_array_equal(back, expected)
    if array.size and array.dtype.kind in "fib" and array.dtype != np.float16:  # numbers travel packed, strings typed
        assert proto.tensor_content and not proto.float_val and not proto.int64_val
    if array.dtype == object:
        assert list(proto.string_val) == list(array.reshape(-1))


def test_request_proto_of_a_big_endian_array_is_sent_in_native_order():
    proto = tensors.to_request_proto(np.array([1.25, -2.0], ">f4"))
    np.testing.assert_array_equal(tf.make_ndarray(proto), np.array([1.25, -2.0], "float32"))


@pytest.mark.parametrize("name", list(ARRAYS))
def test_filling_a_message_field_in_place_writes_what_the_converters_return(name):
    from tensorflow_serving.apis import predict_pb2

    array = ARRAYS[name]
    request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
    tensors.fill_request_proto(request.inputs["x"], array)
    tensors.fill_response_proto(response.outputs["x"], array)
    assert request.inputs["x"] == tensors.to_request_proto(array)
    assert response.outputs["x"] == tensors.to_tensor_proto(array)


def test_a_tensor_content_of_the_wrong_size_is_a_parse_error_not_a_wrong_array():
    proto = tensors.to_request_proto(np.array([1.0, 2.0], "float32"))
    proto.tensor_content = proto.tensor_content[:4]
    with pytest.raises(ValueError, match="cannot reshape"):  # the server answers it as a tensor parsing error
        tensors.to_ndarray(proto)
