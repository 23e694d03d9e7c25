"""`tf_text_op_libraries` (public `tf.load_op_library` wrappers) lists exactly the ops TensorFlow registered."""

import glob
import os

from mmfusion_tf.export import text_ops


def _registered_ops():
    """`{op name: library}` read from TensorFlow's op registry (internals: the reference for this test only)."""
    import tensorflow_text
    from tensorflow.core.framework import op_def_pb2
    from tensorflow.python.client import pywrap_tf_session

    ops = {}
    folder = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
    for path in sorted(glob.glob(os.path.join(folder, "_*.so"))):
        handle = pywrap_tf_session.TF_LoadLibrary(path)
        for op in op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetOpList(handle)).op:
            ops[op.name] = os.path.basename(path)[1:-len(".so")]
    return ops


def test_every_registered_tf_text_op_is_listed_under_its_python_name():
    registered = _registered_ops()
    assert "WordpieceTokenizeWithOffsets" in registered and "TFText>NgramsStringJoin" in registered
    assert text_ops.tf_text_op_libraries() == {text_ops.python_op_name(op): lib for op, lib in registered.items()}


def test_report_names_namespaced_ops_as_the_graph_does(monkeypatch):
    monkeypatch.setattr(text_ops, "graph_ops", lambda path: {"TFText>NgramsStringJoin", "MatMul", "CaseFoldUTF8"})
    monkeypatch.setattr(text_ops, "STOCK_SERVING_LIBRARIES", frozenset({"normalize_ops"}))
    assert text_ops.text_ops_report("unused") == {
        "tf_text_ops": ["CaseFoldUTF8", "TFText>NgramsStringJoin"],
        "libraries": {"CaseFoldUTF8": "normalize_ops", "TFText>NgramsStringJoin": "ngrams_op"},
        "missing_from_stock_serving": ["TFText>NgramsStringJoin"],
    }
