"""Sharded TFRecords of `tf.train.Example`, with image/audio bytes stored inline.

`write_tfrecords` reads a manifest (or in-memory data), checks it like
`make_dataset` does, and stores each row's *encoded* file bytes (PNG/JPEG/
WAV as they are on disk; decoded arrays as PNG / float WAV, losslessly) so
the records are self-contained; decoding
happens in the same tf.data graph as for files. `make_dataset` reads the
shards back when given `*.tfrecord` paths or globs.

Example:

>>> paths = write_tfrecords("data/train.csv", config, "records/train", num_shards=4)
>>> train = make_dataset("records/train-*.tfrecord", config, DataConfig(), training=True)
"""

import glob
import os

import numpy as np
import tensorflow as tf

from mmfusion_tf.data.schema import DEFAULT_MAX_AUDIO_SECONDS, fields_for, label_spec
from mmfusion_tf._private_apis import single_device_map
from mmfusion_tf.data.sources import from_source
from mmfusion_tf.data.wav import float32_wav as float_wav

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")


def is_tfrecord_source(source):
    """Whether `source` is TFRecord file(s) or glob(s) (by suffix), not a manifest or in-memory data."""
    items = source if isinstance(source, (list, tuple)) else [source]
    return bool(items) and all(
        isinstance(s, (str, os.PathLike)) and os.fspath(s).rstrip("*?").endswith(TFRECORD_SUFFIXES) for s in items
    )


def tfrecord_files(source):
    """The sorted files matching a TFRecord path/glob or list of them; raises if none match."""
    patterns = [os.fspath(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    files = sorted({f for p in patterns for f in glob.glob(p)})
    if not files:
        raise FileNotFoundError(f"No TFRecord files match {patterns}")
    return files


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def _ints(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def encoded_bytes(field, kind, value):
    """The encoded file bytes of one image/audio value of a checked source column.

    `kind` is the column's `RawRows.kinds` entry: a `path` is read (empty
    path: b""), `bytes` are kept, and a decoded `array` is encoded losslessly
    (images as PNG, waveforms as 32-bit float WAV at `field.sample_rate`), so
    it decodes back to the values the in-memory source gives.
    """
    if kind == "path":
        if not value:
            return b""
        with open(value, "rb") as f:
            return f.read()
    if kind == "bytes":
        return bytes(value)
    array = np.asarray(value)
    if field.kind == "image":
        return tf.io.encode_png(array.reshape(array.shape[0], array.shape[1], -1).astype("uint8")).numpy()
    return float_wav(array.reshape(-1), field.sample_rate)


def write_tfrecords(source, config, output_prefix, num_shards=1, label="label", columns=None,
                    on_error="raise", missing_numeric="nan", max_audio_seconds=DEFAULT_MAX_AUDIO_SECONDS):
    """Writes `source` as `num_shards` TFRecord files; returns their paths.

    Files are named `{output_prefix}-{i:05d}-of-{n:05d}.tfrecord`; rows go
    round-robin to shards. Missing files follow `on_error` (raise / skip).

    Args:
        source: manifest path, dict of arrays or DataFrame (as `make_dataset`).
        config: `ModelConfig` naming the inputs to store.
        output_prefix: path prefix of the shards.
        num_shards: int >= 1.
        label: label column, or None.
        columns, on_error, missing_numeric, max_audio_seconds: as `make_dataset`.
    """
    if int(num_shards) < 1:
        raise ValueError(f"`num_shards` must be >= 1. Received: num_shards={num_shards}")
    fields = fields_for(config, columns, max_audio_seconds)
    spec = label_spec(config, label) if label is not None else None
    raw = from_source(source, fields, spec, on_error=on_error, missing_numeric=missing_numeric)
    os.makedirs(os.path.dirname(os.path.abspath(output_prefix)), exist_ok=True)
    paths = [f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
    writers = [tf.io.TFRecordWriter(p) for p in paths]
    try:
        for i in range(len(raw)):
            feature = {"__row__": _ints([int(raw.rows[i])])}
            for f in fields:
                value = raw.columns[f.column][i]
                if f.kind in ("image", "audio"):
                    feature[f.column] = _bytes([encoded_bytes(f, raw.kinds[f.column], value)])
                elif f.kind == "numeric":
                    feature[f.column] = _floats([float(value)])
                else:
                    feature[f.column] = _bytes([str(value).encode("utf-8")])
            if spec is not None:
                target = raw.columns[spec.column][i]
                if spec.task in ("regression", "binary", "multilabel"):
                    feature[spec.column] = _floats(np.atleast_1d(target).astype("float32").tolist())
                else:
                    feature[spec.column] = _ints([int(target)])
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writers[i % num_shards].write(example.SerializeToString())
    finally:
        for writer in writers:
            writer.close()
    return paths


def read_rows(files, fields, spec):
    """Row dicts parsed from TFRecord `files`, and the column kinds (all `bytes`).

    Each record's `__row__` is the row number of the source it was written
    from (in messages about its label).
    """
    features = {"__row__": tf.io.FixedLenFeature([], tf.int64)}
    kinds = {}
    for f in fields:
        if f.kind in ("image", "audio"):
            features[f.column] = tf.io.FixedLenFeature([], tf.string, default_value="")
            kinds[f.column] = "bytes"
        elif f.kind == "numeric":
            features[f.column] = tf.io.FixedLenFeature([], tf.float32, default_value=float("nan"))
        else:
            features[f.column] = tf.io.FixedLenFeature([], tf.string, default_value="")
    if spec is not None:
        if spec.task == "multiclass":
            features[spec.column] = tf.io.FixedLenFeature([], tf.int64)
        elif spec.task == "multilabel":
            features[spec.column] = tf.io.FixedLenFeature([spec.num_classes], tf.float32)
        else:
            features[spec.column] = tf.io.FixedLenFeature([], tf.float32)

    def parse(record):
        row = tf.io.parse_single_example(record, features)
        if spec is not None and spec.task == "multiclass":
            value = row[spec.column]
            in_range = tf.logical_and(value >= 0, value < spec.num_classes)
            message = tf.strings.join(
                ["TFRecord row ", tf.strings.as_string(row["__row__"]), ": label ", tf.strings.as_string(value),
                 f" is outside the declared classes 0..{spec.num_classes - 1}"]
            )
            with tf.control_dependencies([tf.debugging.Assert(in_range, [message])]):
                row[spec.column] = tf.cast(value, tf.int32)
        return row

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    records = files_ds.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return single_device_map(records, parse, tf.data.AUTOTUNE, deterministic=True), kinds
