"""Train/serve parity: the reloaded export against the in-memory model on raw inputs.

The reference reads the examples (files, bytes or arrays) with the training
data pipeline (`make_dataset`) and runs `model.predict`; the export gets
the same examples as a client would send them (`raw_examples`) and decodes
them in its own graph. Any skew between the two decoders, or in what was
saved, shows up as a difference.
"""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.hub_handles import register_text_ops
from mmfusion_tf.export.examples import checked_rows, request_columns, synthetic_examples
from mmfusion_tf.export.saved_model import read_metadata
from mmfusion_tf.export.signatures import EMBEDDING_SIGNATURE, SERVING_SIGNATURE, embedding_model, serving_outputs


_EMBEDDING = "__embedding__"


def _pipeline_features(config, rows, raw):
    """The model features (tensors) the training pipeline makes of the checked `rows` sent in `raw`, in order."""
    from mmfusion_tf.config import DataConfig
    from mmfusion_tf.data import make_dataset

    data = DataConfig(label_column=None, batch_size=len(rows), cache=None)  # one batch of features, no label
    features = dict(next(iter(make_dataset(rows.columns, config, data))))
    for name in config.modality_names if config.presence_inputs else ():
        features[f"{name}_present"] = tf.constant(raw[f"{name}_present"])  # as sent, when given explicitly
    return features


def parity_check(model, config, export_path, examples=None, limit=256):
    """Max absolute difference per output between the export and `model`.

    Args:
        model: the in-memory Keras model that was exported.
        config: its `ModelConfig`.
        export_path: str, the `BASE/<version>` folder.
        examples: manifest path, dict of columns or DataFrame of raw inputs
            (see `raw_examples`); default: two synthetic examples.
        limit: int, compare on the first `limit` examples.

    Returns:
        dict `{output: max abs diff}` over the `serving_default` outputs
        but `labels` — `probabilities`, `classes` (ids; the labels follow
        them), `fusion_weights`, or `prediction` and `fusion_weights` — and
        `embedding`. The reference outputs are `model.predict`'s, mapped
        to the serving outputs.

    Example:

    >>> diffs = parity_check(model, config, "models/fusion/3", "data/test.csv")
    >>> max(diffs.values()) <= 1e-5
    True
    """
    register_text_ops()  # the TF-Text ops the graph may use

    reloaded = tf.saved_model.load(os.fspath(export_path))
    serve = reloaded.signatures[SERVING_SIGNATURE]
    audio_input = read_metadata(export_path)["audio_input"]
    examples = examples if examples is not None else synthetic_examples(config)
    rows, columns = checked_rows(config, examples, limit)  # read and checked once, for the request and the pipeline
    raw = request_columns(config, rows, columns, audio_input)
    request = {k: tf.constant(v) for k, v in raw.items()}
    served = serve(**request)
    embedded = reloaded.signatures[EMBEDDING_SIGNATURE](**request)["embedding"]

    features = _pipeline_features(config, rows, raw)
    # One pass through the backbones for the head outputs and the fused embedding.
    reference = keras.Model(model.input, {**model.output, _EMBEDDING: embedding_model(model).output})
    predicted = reference.predict(features, verbose=0)
    reference_embedding = predicted.pop(_EMBEDDING)
    expected = serving_outputs({k: tf.constant(v) for k, v in predicted.items()}, config.head)
    diffs = {k: np.abs(served[k].numpy() - expected[k].numpy()).max() for k in expected if k != "labels"}
    diffs["embedding"] = np.abs(embedded.numpy() - reference_embedding).max()
    return {k: float(v) for k, v in diffs.items()}


def saved_model_cli_show(export_path, signature=SERVING_SIGNATURE):
    """Output of `saved_model_cli show --dir PATH --tag_set serve --signature_def SIGNATURE`.

    Raises:
        RuntimeError: the command failed (its stderr is in the message).
    """
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = [cli] if os.path.exists(cli) else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    command += ["show", "--dir", os.fspath(export_path), "--tag_set", "serve", "--signature_def", signature]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return result.stdout
