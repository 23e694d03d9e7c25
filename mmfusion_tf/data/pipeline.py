"""`make_dataset`: files or arrays -> a batched `tf.data.Dataset` of `(features, label)`.

Stages (each dict-in/dict-out): checked source rows (Python: columns,
file existence, labels) -> row lookup in a seeded, stateless shuffle order
-> parallel decode (AUTOTUNE) with `ignore_errors` -> optional cache ->
error check -> shuffle -> augmentation (training only) -> batch -> batched
audio resampling -> prefetch.

How a bad file is named without slowing the fast path: every element
carries its position in the pass, and rows are looked up through
`tf.random.experimental.index_shuffle(position, seed, n)` (a bijection), so
when the decode of an element fails and `ignore_errors` drops it, the
sequential check stage sees a gap in positions and maps it back to the
source row and its files: `on_error="raise"` fails right there, naming
them; `on_error="skip"` prints them, counts them, and reports the count at
the end of every pass. Feature keys equal the model's input names.
"""

import glob
import os
import sys

import numpy as np
import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.augment import augment_image
from mmfusion_tf.data.schema import DEFAULT_MAX_AUDIO_SECONDS, fields_for, label_spec
from mmfusion_tf.data.sources import from_source, wav_layout

TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords", ".tfrec")


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
        self.previous = tf.Variable(-1, dtype=tf.int64, trainable=False, name="previous_position")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="pass_number")
        self.records = tf.Variable(0, dtype=tf.int64, trainable=False, name="records_read")
        self.checked_before = 0  # rows dropped in Python (missing files) before any pass


def _is_tfrecord_source(source):
    items = source if isinstance(source, (list, tuple)) else [source]
    return bool(items) and all(
        isinstance(s, (str, os.PathLike)) and os.fspath(s).rstrip("*?").endswith(TFRECORD_SUFFIXES) for s in items
    )


def _tfrecord_files(source):
    patterns = [os.fspath(s) for s in (source if isinstance(source, (list, tuple)) else [source])]
    files = sorted({f for p in patterns for f in glob.glob(p)})
    if not files:
        raise FileNotFoundError(f"No TFRecord files match {patterns}")
    return files


# === Decoding =================================================================


def _native_pcm16(contents):
    """16-bit PCM WAV through TensorFlow's native op (much faster than the general parser)."""
    audio, rate = tf.audio.decode_wav(contents)
    return tf.reduce_mean(audio, axis=-1), tf.cast(rate, tf.int32)


def _fit_image(image, field):
    """Resizes a uint8 image (already at `field.channels`) to `field.image_size`."""
    height, width = field.image_size
    if tuple(image.shape[:2]) == (height, width):
        return image
    resized = tf.cond(
        tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width])),
        lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, [height, width])), 0, 255), tf.uint8),
    )
    return tf.ensure_shape(resized, [height, width, field.channels])


def _source_length(field, source_rate):
    """Samples kept at the source rate so that resampling yields `num_samples`."""
    return int(round(field.num_samples * source_rate / field.sample_rate))


def _file_decoder(field, kind, layout):
    """Source value (path / bytes / array) -> fixed-shape tensor; may raise on bad data.

    Audio with a known common source rate (`layout["rate"]`) is only
    cropped/padded here and resampled per batch later; otherwise it is
    resampled per example. Columns of plain 16-bit PCM use the native decoder.
    """
    source_rate = layout.get("rate")
    decode_wav = _native_pcm16 if layout.get("pcm16") else decoders.decode_wav

    def decode(value):
        if kind == "array":
            if field.kind == "image":
                image = value if value.dtype == tf.uint8 else tf.cast(value, tf.uint8)
                image = image[..., None] if image.shape.rank == 2 else image
                if image.shape[-1] != field.channels:
                    image = decoders.convert_channels(image, field.channels)
                return _fit_image(image, field)
            return decoders.fit_length(tf.cast(value, tf.float32), field.num_samples)
        contents = tf.io.read_file(value) if kind == "path" else value
        if field.kind == "image":
            return _fit_image(decoders.decode_image(contents, channels=field.channels), field)
        audio, rate = decode_wav(contents)
        if source_rate:  # every file's rate was read from its header when the dataset was built
            return decoders.fit_length(audio, _source_length(field, source_rate))
        return decoders.fit_length(decoders.resample(audio, rate, field.sample_rate), field.num_samples)

    def zeros():
        if field.kind == "image":
            return tf.zeros([*field.image_size, field.channels], tf.uint8)
        length = _source_length(field, source_rate) if source_rate and kind != "array" else field.num_samples
        return tf.zeros([length], tf.float32)

    def decode_or_missing(value):
        if kind == "array" or not layout.get("has_empty", True):
            return decode(value)
        return tf.cond(tf.equal(tf.strings.length(value), 0), zeros, lambda: decode(value))

    return decode_or_missing


def _example_decoder(fields, kinds, layouts, label_column, presence, modalities):
    def decode(row):
        example, missing = {}, {m: [] for m in modalities}
        for f in fields:
            value = row[f.column]
            if f.kind in ("image", "audio"):
                kind = kinds[f.column]
                example[f.name] = _file_decoder(f, kind, layouts.get(f.column, {}))(value)
                empty = tf.constant(False) if kind == "array" else tf.equal(tf.strings.length(value), 0)
            elif f.kind == "numeric":
                example[f.name] = value
                empty = tf.math.is_nan(value)
            else:
                example[f.name] = value
                empty = tf.equal(tf.strings.length(value), 0)
            missing[f.modality].append(empty)
        if presence:
            for m in modalities:
                example[f"{m}_present"] = 1.0 - tf.cast(tf.reduce_all(tf.stack(missing[m])), tf.float32)
        example["__pos__"] = row["__pos__"]
        example["__sentinel__"] = tf.constant(False)
        if label_column is not None:
            example["__label__"] = row[label_column]
        return example

    return decode


# === Error check ==============================================================


def _sentinel_like(spec):
    def zero(s):
        shape = [d if d is not None else 0 for d in s.shape]
        return tf.zeros(shape, s.dtype) if s.dtype != tf.string else tf.fill(shape, "")

    element = tf.nest.map_structure(zero, spec)
    element["__pos__"] = tf.constant(-1, tf.int64)  # replaced by the end position in the check
    element["__sentinel__"] = tf.constant(True)
    return tf.data.Dataset.from_tensors(element)


def _checker(on_error, origin, report, describe_position, end_position):
    """Sequential stage: turns gaps in positions into named errors or counted skips.

    `end_position()` is the number of rows in the pass: the end-of-pass
    marker stands at that position, so trailing failures show as a gap too.
    """

    def check(example):
        position = tf.where(example["__sentinel__"], end_position(), example["__pos__"])
        first_missing = report.previous + 1
        gap = position - first_missing

        def fail():
            message = tf.strings.join(
                ["mmfusion_tf.data: could not read or decode ", describe_position(first_missing),
                 ". Pass on_error='skip' to skip such rows."]
            )
            tf.debugging.Assert(False, [message], summarize=1)
            return tf.constant(0, tf.int64)

        def skip():
            def name_one(p):
                tf.print("mmfusion_tf.data: skipping unreadable", describe_position(p), output_stream=sys.stderr)
                return p

            tf.map_fn(name_one, tf.range(first_missing, position), fn_output_signature=tf.int64)
            return report.running.assign_add(gap)

        handled = tf.cond(gap > 0, fail if on_error == "raise" else skip, lambda: tf.constant(0, tf.int64))

        def end_of_pass():
            total = report.running + report.checked_before
            if on_error == "skip":
                tf.print("mmfusion_tf.data: end of pass over", origin, "- skipped", total,
                         "row(s) with missing or unreadable files (on_error='skip')", output_stream=sys.stderr)
            with tf.control_dependencies([report.last_pass.assign(total), report.epoch.assign_add(1)]):
                with tf.control_dependencies([report.running.assign(0), report.previous.assign(-1)]):
                    return tf.constant(True)

        with tf.control_dependencies([handled]):
            moved = report.previous.assign(position)
        with tf.control_dependencies([moved]):
            done = tf.cond(example["__sentinel__"], end_of_pass, lambda: tf.constant(True))
        with tf.control_dependencies([done]):
            return tf.nest.map_structure(tf.identity, example)

    return check


# === Public API ===============================================================


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
        shuffle: bool, default `training` (seeded, reshuffled every pass).
        augment: bool, image augmentation (random crop/flip/brightness);
            default `training`. Never applied when `training=False`.
        seed: int, seeds shuffling and augmentation.
        cache: None, "memory" or a file path prefix: cache decoded examples.
        deterministic: bool; False lets the augmentation stage reorder
            elements for speed (decoding always keeps order, which the error
            check relies on).
        on_error: "raise" (default; the error names the file and row) or
            "skip" (the row is skipped and named on stderr, and the count is
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
    file_columns = [f.column for f in fields if f.kind in ("image", "audio")]
    shuffle_rows = shuffle and not cache

    if _is_tfrecord_source(source):
        from mmfusion_tf.data.tfrecord import read_rows

        files = _tfrecord_files(source)
        parsed, kinds = read_rows(files, fields, spec)
        origin = files[0] if len(files) == 1 else f"{len(files)} TFRecord files ({os.path.dirname(files[0])})"

        def count(p, row):
            # Records stream in file order; counting them as they pass (instead of
            # reading every file once more up front) gives the end-of-pass position.
            with tf.control_dependencies([report.records.assign(p + 1)]):
                return {**row, "__pos__": tf.identity(p)}

        rows = parsed.enumerate().map(count)
        num_rows, end_position = None, report.records.read_value
        layouts = {}
        shuffle_rows = False  # records stream in file order; shuffled after decoding

        def describe_position(p):
            return tf.strings.join(["TFRecord record #", tf.strings.as_string(p), f" of {origin}"])
    else:
        raw = from_source(source, fields, spec, on_error=on_error, missing_numeric=missing_numeric)
        report.checked_before = len(raw.skipped)
        num_rows, kinds, origin = len(raw), raw.kinds, raw.origin
        if num_rows == 0:
            raise ValueError(f"{origin}: no rows left to read (all {len(raw.skipped)} skipped).")
        layouts = {f.column: wav_layout(raw.columns[f.column]) for f in fields if f.kind == "audio" and kinds[f.column] == "path"}
        for column in file_columns:  # columns without empty cells skip the missing-value branch
            if kinds[column] != "array":
                has_empty = any(len(v) == 0 for v in raw.columns[column])
                layouts[column] = {**layouts.get(column, {}), "has_empty": has_empty}
        table = {k: tf.constant(v) for k, v in raw.columns.items()}
        table["__row__"] = tf.constant(raw.rows, tf.int64)
        last = num_rows - 1
        end_position = lambda: tf.constant(num_rows, tf.int64)  # noqa: E731

        def row_index(p):
            if not shuffle_rows:
                return p
            return tf.random.experimental.index_shuffle(p, tf.stack([tf.constant(seed, tf.int64), report.epoch]), last)

        def lookup(p):
            i = row_index(p)
            row = {k: tf.gather(v, i) for k, v in table.items()}
            row["__pos__"] = p
            return row

        def describe_position(p):
            i = row_index(p)
            parts = [f"{origin} row ", tf.strings.as_string(tf.gather(table["__row__"], i))]
            for column in file_columns:
                if kinds[column] == "path":
                    parts += [f" ({column}: ", tf.gather(table[column], i), ")"]
            return tf.strings.join(parts)

        # Gathering 256 rows at a time costs far less per row than one at a time.
        rows = tf.data.Dataset.range(num_rows).batch(256).map(lookup).unbatch()

    decode = _example_decoder(fields, kinds, layouts, spec.column if spec else None, config.presence_inputs, modalities)
    ds = rows.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    ds = ds.concatenate(_sentinel_like(ds.element_spec))
    ds = ds.map(_checker(on_error, origin, report, describe_position, end_position))
    batched_audio = [(f.name, layouts[f.column]["rate"], f) for f in fields if layouts.get(f.column, {}).get("rate")]
    if batch_size is None and batched_audio:
        raise ValueError("`batch_size=None` is not supported with file audio; pass a batch size.")
    image_fields = [f.name for f in fields if f.kind == "image"]

    def split(example, with_augmentation=augment):
        example = dict(example)
        example.pop("__pos__")
        example.pop("__sentinel__")
        target = example.pop("__label__", None)
        if with_augmentation:
            for name in image_fields:
                example[name] = augment_image(example[name], seed=seed)
        return (example, target) if target is not None else example

    def augment_images(features, *target):
        features = dict(features)
        for name in image_fields:
            features[name] = augment_image(features[name], seed=seed)
        return (features, *target) if target else features

    if cache:
        # Everything deterministic happens once, before the cache: decoding, the
        # error check, resampling and (unless skips must be re-reported on every
        # pass) dropping the bookkeeping keys. Later passes only shuffle, augment
        # and batch, like data already in memory.
        if batched_audio:
            ds = ds.batch(256).map(_batch_resampler(batched_audio), num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        report_cached_passes = on_error == "skip"
        if not report_cached_passes:
            ds = ds.filter(lambda e: tf.logical_not(e["__sentinel__"]))
            ds = ds.map(lambda e: split(e, with_augmentation=False), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.cache() if cache == "memory" else ds.cache(cache)
        if report_cached_passes:
            ds = ds.filter(_cached_pass_reporter(on_error, origin, report))
        if shuffle:
            ds = ds.shuffle(min(num_rows or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
        if report_cached_passes:
            ds = ds.map(split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        elif augment:
            ds = ds.map(augment_images, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        if batch_size is not None:
            ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    else:
        ds = ds.filter(lambda e: tf.logical_not(e["__sentinel__"]))
        if shuffle and not shuffle_rows:
            ds = ds.shuffle(min(num_rows or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        if batch_size is not None:
            ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
            if batched_audio:
                ds = ds.map(_batch_resampler(batched_audio, label is not None), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _batch_resampler(audio_fields, labelled=False):
    """Resamples `[batch, samples]` audio at a common source rate in one FFT."""

    def resample(*element):
        features = dict(element[0])
        for name, source_rate, field in audio_fields:
            features[name] = resample_batch(features[name], source_rate, field.sample_rate, field.num_samples)
        return (features, element[1]) if labelled else features

    return resample


def _cached_pass_reporter(on_error, origin, report):
    """Filter after a cache: drops the end-of-pass marker, re-reporting skips on cached passes."""
    cached_passes = tf.Variable(0, dtype=tf.int64, trainable=False, name="cached_passes")

    def keep(example):
        def end_of_pass():
            def again():
                if on_error == "skip":
                    tf.print("mmfusion_tf.data: end of pass over", origin, "(cached) - skipped", report.last_pass,
                             "row(s) with missing or unreadable files (on_error='skip')", output_stream=sys.stderr)
                return tf.constant(True)

            printed = tf.cond(cached_passes > 0, again, lambda: tf.constant(True))
            with tf.control_dependencies([printed, cached_passes.assign_add(1)]):
                return tf.constant(False)

        return tf.cond(example["__sentinel__"], end_of_pass, lambda: tf.constant(True))

    return keep


def resample_batch(waveforms, rate_in, rate_out, num_samples):
    """FFT resampling of `[batch, samples]` waveforms sharing `rate_in` to exactly `num_samples`.

    The batched twin of `decoders.resample` (same scipy-style Nyquist-bin
    handling), used when every file of a column has the same sample rate:
    one FFT per batch instead of one per example.

    Example:

    >>> resample_batch(tf.zeros([2, 8000]), 8000, 16000, 16000).shape
    TensorShape([2, 16000])
    """
    waveforms = tf.cast(waveforms, tf.float32)
    length = int(waveforms.shape[-1])
    if length == num_samples:
        return waveforms
    spectrum = tf.signal.rfft(waveforms)
    kept = min(length, num_samples)
    nyquist = kept // 2
    out_bins = num_samples // 2 + 1
    spectrum = tf.pad(spectrum[:, : nyquist + 1], [[0, 0], [0, out_bins - nyquist - 1]])
    if kept % 2 == 0:  # scipy: the +N/2 bin is doubled when downsampling, halved when upsampling
        weights = np.ones(out_bins, "float32")
        weights[nyquist] = 2.0 if num_samples < length else 0.5
        spectrum = spectrum * tf.complex(tf.constant(weights), tf.zeros([out_bins]))
    return tf.signal.irfft(spectrum, [num_samples]) * (num_samples / length)
