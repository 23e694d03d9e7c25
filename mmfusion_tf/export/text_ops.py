"""Which TensorFlow Text ops a SavedModel uses, and whether stock TF Serving has them.

A serving binary can only run ops it links. TF Serving's
`tensorflow_serving/model_servers/BUILD` adds
`@org_tensorflow_text//tensorflow_text:ops_lib` to SUPPORTED_TENSORFLOW_OPS,
and tensorflow/text's `tensorflow_text/BUILD` defines `ops_lib` as the
kernels listed in `STOCK_SERVING_LIBRARIES` (one per `_<library>.so` of the
Python wheel). An op from any other library (a newer TF-Text kernel, a
custom op) needs a custom-built model server. TF Serving 2.0 linked only
five of them; use a TF Serving release matching the TensorFlow version.
"""

import functools
import glob
import inspect
import os

# `ops_lib` deps in tensorflow/text tensorflow_text/BUILD, without the `_cc` suffix.
STOCK_SERVING_LIBRARIES = frozenset({
    "boise_offset_converter", "byte_splitter", "constrained_sequence_op", "fast_bert_normalizer",
    "fast_sentencepiece_tokenizer", "fast_wordpiece_tokenizer", "mst_ops", "ngrams_op", "normalize_ops",
    "phrase_tokenizer", "regex_split_ops", "sentence_breaking_ops", "sentencepiece_mobile_tokenizer",
    "sentencepiece_tokenizer", "split_merge_from_logits_tokenizer", "split_merge_tokenizer",
    "state_based_sentence_breaker_op", "text_similarity_metric_ops", "trimmer_ops", "unicode_script_tokenizer",
    "utf8_binarize_op", "whitespace_tokenizer", "whitespace_tokenizer_v2", "wordpiece_tokenizer",
})


def python_op_name(op):
    """The name `tf.load_op_library` gives an op's raw wrapper: a namespace's `>` becomes `_`.

    Example:

    >>> python_op_name("TFText>NgramsStringJoin")
    'TFText_NgramsStringJoin'
    """
    return op.replace(">", "_")


@functools.lru_cache(maxsize=1)
def tf_text_op_libraries():
    """`{op: library}` for every op in the installed tensorflow-text's kernel libraries.

    Ops are keyed by `python_op_name`: `tf.load_op_library` returns a module
    with one Python wrapper per op of the library, the raw one (keyword
    arguments only) named as the op, with a namespace's `>` written `_`.
    """
    import tensorflow as tf
    import tensorflow_text

    ops = {}
    folder = os.path.join(os.path.dirname(tensorflow_text.__file__), "python", "ops")
    for path in sorted(glob.glob(os.path.join(folder, "_*.so"))):
        library = os.path.basename(path)[1 : -len(".so")]
        wrappers = tf.load_op_library(path)  # a library loaded before is not loaded again
        for name, value in vars(wrappers).items():
            if name[:1].isupper() and inspect.isfunction(value):  # typing names (`Any`, `TypeVar`) are classes
                ops[name] = library
    return ops


def graph_ops(export_path):
    """Names of every op in the SavedModel's graphs and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    names = set()
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        names.update(node.op for node in graph.node)
        for function in graph.library.function:
            names.update(node.op for node in function.node_def)
    return names


def text_ops_report(export_path):
    """TF-Text ops used by the SavedModel at `export_path`, and those stock TF Serving lacks.

    Returns:
        dict: `tf_text_ops` (sorted op names), `libraries` (`{op: kernel
        library}`), `missing_from_stock_serving` (ops whose library is not
        in TF Serving's `ops_lib`).

    Example:

    >>> text_ops_report("models/fusion/1")["tf_text_ops"]
    ['CaseFoldUTF8', 'NormalizeUTF8', 'RegexSplitWithOffsets', 'WordpieceTokenizeWithOffsets']
    """
    known = tf_text_op_libraries()
    used = sorted(op for op in graph_ops(export_path) if python_op_name(op) in known)
    libraries = {op: known[python_op_name(op)] for op in used}
    missing = [op for op in used if libraries[op] not in STOCK_SERVING_LIBRARIES]
    return {"tf_text_ops": used, "libraries": libraries, "missing_from_stock_serving": missing}
