"""`make_dataset`: files or arrays -> a batched `tf.data.Dataset` of `(features, label)`.

Stages (each dict-in/dict-out): checked source rows -> per-row decode with
AUTOTUNE parallelism, where each file is decoded inside its own error
guard so a bad file is *named* (file, source, row) instead of failing
anonymously -> optional cache -> error report -> shuffle -> augmentation
(training only) -> batch -> prefetch. Feature keys equal the model's input
names, including `<modality>_present` when the model has presence inputs.
"""

import glob
import os
import sys

import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.augment import augment_image
from mmfusion_tf.data.schema import DEFAULT_MAX_AUDIO_SECONDS, fields_for, label_spec
from mmfusion_tf.data.sources import from_source

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")
_META = ("__ok__", "__row__", "__bad__", "__sentinel__")


class ErrorReport:
    """Counts rows skipped with `on_error="skip"`; read `last_pass` after a pass.

    Example:

    >>> report = ErrorReport()
    >>> ds = make_dataset("train.csv", config, on_error="skip", report=report)
    >>> for _ in ds: pass
    >>> int(report.last_pass)          # rows skipped in the pass that just ended
    2
    """

    def __init__(self):
        self.running = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_running")
        self.last_pass = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_last_pass")
        self.checked_before = 0  # rows dropped in Python (missing files) before any pass


def _is_tfrecord_source(source):
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, (str, os.PathLike)) for s in source):
        return all(os.fspath(s).endswith(TFRECORD_SUFFIXES) for s in source)
    return isinstance(source, (str, os.PathLike)) and os.fspath(source).endswith(TFRECORD_SUFFIXES) or (
        isinstance(source, str) and any(ch in source for ch in "*?[") and source.rstrip("*").endswith(TFRECORD_SUFFIXES + (".",))
    )


def _tfrecord_files(source):
    patterns = [os.fspath(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    files = sorted({f for p in patterns for f in glob.glob(p)})
    if not files:
        raise FileNotFoundError(f"No TFRecord files match {patterns}")
    return files


def _zeros(field):
    if field.kind == "image":
        return tf.zeros([*field.image_size, field.channels], tf.uint8)
    if field.kind == "audio":
        return tf.zeros([field.num_samples], tf.float32)
    raise ValueError(field.kind)


def _decode_file(field, kind):
    """Function: source value (path / bytes / array) -> decoded tensor of fixed shape."""

    def decode(value):
        if kind == "array":
            if field.kind == "image":
                image = tf.cast(value, tf.uint8) if value.dtype != tf.uint8 else value
                if image.shape.rank == 2:
                    image = image[..., None]
                return _fit_image(image, field)
            return decoders.fit_length(tf.cast(value, tf.float32), field.num_samples)
        contents = tf.io.read_file(value) if kind == "path" else value
        if field.kind == "image":
            return _fit_image(decoders.decode_image(contents, channels=field.channels), field)
        return decoders.load_audio(contents, field.sample_rate, field.num_samples)

    return decode


def _fit_image(image, field):
    if image.shape[-1] != field.channels:
        image = tf.image.grayscale_to_rgb(image) if image.shape[-1] == 1 else image[..., : field.channels]
    height, width = field.image_size
    resized = tf.cond(
        tf.reduce_all(tf.shape(image)[:2] == [height, width]),
        lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, [height, width])), 0, 255), tf.uint8),
    )
    return tf.ensure_shape(resized, [height, width, field.channels])


def _is_empty(value, kind):
    if kind == "array":
        return tf.constant(False)
    return tf.equal(tf.strings.length(value), 0)


def _guarded(fn, value, fallback):
    """`(fn(value), True)`, or `(fallback, False)` if `fn` raises: one element."""
    one = tf.data.Dataset.from_tensors(value)
    attempt = one.map(lambda v: (fn(v), tf.constant(True))).ignore_errors()
    return attempt.concatenate(one.map(lambda v: (fallback, tf.constant(False)))).take(1)


def _row_decoder(fields, kinds, label_column, presence, modalities):
    file_fields = [f for f in fields if f.kind in ("image", "audio")]

    def decode_row(row):
        parts = []
        for f in file_fields:
            kind = kinds[f.column]
            empty = _is_empty(row[f.column], kind)
            decode = _decode_file(f, kind)
            fallback = _zeros(f)
            parts.append(
                _guarded(lambda v, d=decode, e=empty, z=fallback: tf.cond(e, lambda: z, lambda: d(v)), row[f.column], fallback)
            )
        base = tf.data.Dataset.from_tensors(row)
        return tf.data.Dataset.zip((base, *parts)).map(lambda r, *decoded: assemble(r, decoded))

    def assemble(row, decoded):
        example, missing, ok, bad = {}, {m: [] for m in modalities}, [tf.constant(True)], []
        for f, (value, fine) in zip(file_fields, decoded):
            example[f.name] = value
            kind = kinds[f.column]
            missing[f.modality].append(_is_empty(row[f.column], kind))
            ok.append(fine)
            where = row[f.column] if kind == "path" else tf.constant(f"<{kind} in column {f.column}>")
            bad.append(tf.where(fine, "", tf.strings.join([f"{f.kind} ", where])))
        for f in fields:
            if f.kind in ("text", "categorical"):
                example[f.name] = row[f.column]
                missing[f.modality].append(tf.equal(tf.strings.length(row[f.column]), 0))
            elif f.kind == "numeric":
                example[f.name] = row[f.column]
                missing[f.modality].append(tf.math.is_nan(row[f.column]))
        if presence:
            for m in modalities:
                example[f"{m}_present"] = 1.0 - tf.cast(tf.reduce_all(tf.stack(missing[m])), tf.float32)
        example["__ok__"] = tf.reduce_all(tf.stack(ok))
        example["__row__"] = row["__row__"]
        example["__bad__"] = tf.strings.reduce_join(tf.stack(bad + [tf.constant("")]), separator="")
        example["__sentinel__"] = tf.constant(False)
        if label_column is not None:
            example["__label__"] = row[label_column]
        return example

    return decode_row


def _sentinel_like(spec):
    def zero(s):
        shape = [d if d is not None else 0 for d in s.shape]
        return tf.zeros(shape, s.dtype) if s.dtype != tf.string else tf.fill(shape, "")

    element = tf.nest.map_structure(zero, spec)
    element["__sentinel__"] = tf.constant(True)
    return tf.data.Dataset.from_tensors(element)


def _reporter(on_error, origin, report):
    def check(example):
        ok = tf.logical_or(example["__ok__"], example["__sentinel__"])
        where = tf.strings.join([example["__bad__"], f" ({origin} row ", tf.strings.as_string(example["__row__"]), ")"])
        if on_error == "raise":
            message = tf.strings.join(["mmfusion_tf.data: could not read or decode ", where, ". Pass on_error='skip' to skip such rows."])
            with tf.control_dependencies([tf.debugging.Assert(ok, [message], summarize=1)]):
                return tf.nest.map_structure(tf.identity, example)

        def skip_one():
            tf.print("mmfusion_tf.data: skipping unreadable", where, output_stream=sys.stderr)
            return report.running.assign_add(1)

        def end_of_pass():
            total = report.running + report.checked_before
            tf.print("mmfusion_tf.data: end of pass over", origin, "- skipped", total,
                     "row(s) with missing or unreadable files (on_error='skip')", output_stream=sys.stderr)
            with tf.control_dependencies([report.last_pass.assign(total)]):
                return report.running.assign(0)

        counted = tf.cond(tf.logical_not(ok), skip_one, lambda: report.running.read_value())
        with tf.control_dependencies([counted]):
            done = tf.cond(example["__sentinel__"], end_of_pass, lambda: report.running.read_value())
        with tf.control_dependencies([done]):
            return tf.nest.map_structure(tf.identity, example)

    return check


def make_dataset(
    source,
    config,
    *,
    label="label",
    columns=None,
    batch_size=32,
    training=False,
    shuffle=None,
    augment=None,
    seed=0,
    cache=None,
    deterministic=True,
    on_error="raise",
    missing_numeric="nan",
    max_audio_seconds=DEFAULT_MAX_AUDIO_SECONDS,
    drop_remainder=False,
    report=None,
):
    """A batched `tf.data.Dataset` of `(features, label)` for `config`'s model.

    Args:
        source: CSV/TSV/JSONL manifest path (file paths relative to it), TFRecord
            file(s) or glob (`mmfusion data to-tfrecord`), a dict of arrays or a
            pandas DataFrame.
        config: the `ModelConfig` whose inputs the features must match.
        label: label column, or None for unlabelled data (features only).
        columns: optional `{model input: source column}` renames.
        batch_size: int.
        training: bool; turns on shuffling and augmentation by default.
        shuffle: bool, default `training`.
        augment: bool, image augmentation (random crop/flip/brightness);
            default `training`. Never applied when `training=False`.
        seed: int, seeds shuffling and augmentation.
        cache: None, "memory" or a file path prefix: cache decoded examples.
        deterministic: bool, keep element order under parallel decoding.
        on_error: "raise" (default; the error names the file and row) or
            "skip" (the row is skipped, named on stderr, and the count is
            printed at the end of every pass and kept in `report`).
        missing_numeric: "nan" (default, the model flags it), "zero" or "error".
        max_audio_seconds: audio length for modalities without `num_samples`.
        drop_remainder: bool, drop the last partial batch.
        report: optional `ErrorReport` to read the skip counts from.

    Returns:
        `tf.data.Dataset`.

    Example:

    >>> train = make_dataset("data/train.csv", config, training=True, batch_size=64)
    >>> model.fit(train, epochs=3)
    """
    if batch_size is not None and int(batch_size) <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    if cache not in (None, "memory") and not isinstance(cache, str):
        raise ValueError(f"`cache` must be None, 'memory' or a file path prefix. Received: cache={cache!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip'. Received: on_error={on_error!r}")
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else (augment and training)
    report = report or ErrorReport()
    fields = fields_for(config, columns, max_audio_seconds)
    spec = label_spec(config, label) if label is not None else None
    modalities = config.modality_names

    if _is_tfrecord_source(source):
        from mmfusion_tf.data.tfrecord import read_rows

        files = _tfrecord_files(source)
        rows, kinds = read_rows(files, fields, spec)
        origin, num_rows = os.path.commonpath(files) if len(files) > 1 else files[0], None
    else:
        raw = from_source(source, fields, spec, on_error=on_error, missing_numeric=missing_numeric)
        report.checked_before = len(raw.skipped)
        data = dict(raw.columns)
        data["__row__"] = raw.rows
        rows, kinds, origin, num_rows = tf.data.Dataset.from_tensor_slices(data), raw.kinds, raw.origin, len(raw)
        if num_rows == 0:
            raise ValueError(f"{origin}: no rows left to read (all {len(raw.skipped)} skipped).")

    if shuffle and not cache and num_rows:
        rows = rows.shuffle(num_rows, seed=seed, reshuffle_each_iteration=True)
    decode_row = _row_decoder(fields, kinds, spec.column if spec else None, config.presence_inputs, modalities)
    ds = rows.interleave(decode_row, cycle_length=16, block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if cache == "memory":
        ds = ds.cache()
    elif cache:
        ds = ds.cache(cache)
    ds = ds.concatenate(_sentinel_like(ds.element_spec))
    ds = ds.map(_reporter(on_error, origin, report))
    ds = ds.filter(lambda e: tf.logical_and(e["__ok__"], tf.logical_not(e["__sentinel__"])))
    if shuffle and (cache or not num_rows):
        ds = ds.shuffle(min(num_rows or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)

    image_fields = [f.name for f in fields if f.kind == "image"]

    def finish(example):
        example = dict(example)
        for key in _META:
            example.pop(key)
        target = example.pop("__label__", None)
        if augment:
            for name in image_fields:
                example[name] = augment_image(example[name], seed=seed)
        return (example, target) if target is not None else example

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    if batch_size is not None:
        ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
