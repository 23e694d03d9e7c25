"""`make_dataset`: files or arrays -> a batched `tf.data.Dataset` of `(features, label)`.

Stages (dict-in/dict-out, one batch of rows at a time): checked source rows
and header scans (Python, once: columns, file existence, labels, WAV data
offsets, PNG sizes) -> batches of rows looked up in a seeded, stateless
shuffle order -> parallel batch decoding (AUTOTUNE) with `ignore_errors` ->
error check -> batched audio resampling -> augmentation (training only) ->
batch -> prefetch. Decoded image/audio values are kept in memory by source
row when they fit (`cache="auto"`, `row_cache.py`); once every row is kept,
iterating runs a pipeline that only gathers them.

A whole batch is decoded at once: files are read and images decoded by one
op per row (one `tf.map_fn` for columns that need the general decoders),
and 16-bit mono WAVs are cut out of their files with vectorised string ops
at the offsets found by the header scan. That fast path names no files. How
a bad file is still named: every row carries its position in the pass, and
rows are looked up through `tf.random.experimental.index_shuffle(position,
seed, n)` (a bijection). When a batch fails, `ignore_errors` drops it; the
sequential check stage sees the gap in positions, decodes those rows again
one by one (dropping the ones that fail), and maps every position still
missing back to its source row and files: `on_error="raise"` fails right
there, naming them; `on_error="skip"` prints them, counts them, and reports
the count at the end of every pass. Feature keys equal the model's input
names.

Every new iterator (every epoch of `fit`) instantiates and optimises the
pipeline's functions again: ~136 ms per epoch on AV-digits while the rarely
needed parts were graph code. Those parts (decoding rows again, naming
them) now run in Python through `tf.py_function`, and cost nothing until a
row fails; a new iterator takes ~80 ms (~25 ms once every row is cached).
"""

import os
import sys

import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.augment import augment_image
from mmfusion_tf.data.row_cache import AUTO_CACHE_FRACTION, DecodedRowCache, free_memory_bytes
from mmfusion_tf.data.schema import DEFAULT_MAX_AUDIO_SECONDS, fields_for, label_spec
from mmfusion_tf.data.single_device import single_device_filter, single_device_map
from mmfusion_tf.data.sources import from_source, png_layout, wav_layout
from mmfusion_tf.data.tfrecord import is_tfrecord_source, read_rows, tfrecord_files

_DECODE_ROWS = 64  # most rows decoded together by one batch decoder call


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


# === Decoding =================================================================


def _native_pcm16(contents):
    """16-bit PCM WAV through TensorFlow's native op (much faster than the general parser)."""
    audio, rate = tf.audio.decode_wav(contents)
    return tf.reduce_mean(audio, axis=-1), tf.cast(rate, tf.int32)


def _source_length(field, source_rate):
    """Samples kept at the source rate so that resampling yields `num_samples`."""
    return int(round(field.num_samples * source_rate / field.sample_rate))


def _decoded_spec(field, layout):
    """Spec of one row's decoded file: the image, or the audio at its source rate when resampled per batch."""
    if field.kind == "image":
        return tf.TensorSpec([*field.image_size, field.channels], tf.uint8)
    return tf.TensorSpec([_source_length(field, layout["rate"]) if layout.get("rate") else field.num_samples], tf.float32)


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
                return decoders.fit_image(image, field.image_size)
            return decoders.fit_length(tf.cast(value, tf.float32), field.num_samples)
        contents = tf.io.read_file(value) if kind == "path" else value
        if field.kind == "image":
            return decoders.fit_image(decoders.decode_image(contents, channels=field.channels), field.image_size)
        audio, rate = decode_wav(contents)
        if source_rate:  # every file's rate was read from its header when the dataset was built
            return decoders.fit_length(audio, _source_length(field, source_rate))
        return decoders.fit_and_resample(audio, rate, field.sample_rate, field.num_samples)

    if kind == "array":  # arrays have no missing cells
        return decode
    spec = _decoded_spec(field, layout)
    has_empty = layout.get("has_empty", True)
    return lambda value: decoders.or_zeros(value, spec.shape, spec.dtype, lambda: decode(value), maybe_empty=has_empty)


def _assemble(rows, files, fields, kinds, label_column, presence, modalities):
    """Example from decoded `files` and the other columns of `rows`: one row, or a batch of rows.

    Every op here is element-wise, so the same code serves the per-row and the
    per-batch decoders.
    """
    example, missing = {}, {m: [] for m in modalities}
    for f in fields:
        value = rows[f.column]
        if f.kind in ("image", "audio"):
            example[f.name] = files[f.name]
            if kinds[f.column] == "array":
                empty = tf.zeros_like(rows["__pos__"], tf.bool)
            else:
                empty = tf.equal(tf.strings.length(value), 0)
        elif f.kind == "numeric":
            example[f.name] = value
            empty = tf.math.is_nan(value)
        else:
            example[f.name] = value
            empty = tf.equal(tf.strings.length(value), 0)
        missing[f.modality].append(empty)
    if presence:
        for m in modalities:
            example[f"{m}_present"] = 1.0 - tf.cast(tf.reduce_all(tf.stack(missing[m]), axis=0), tf.float32)
    example["__pos__"] = rows["__pos__"]
    if label_column is not None:
        example["__label__"] = rows[label_column]
    return example


def _example_decoder(fields, kinds, layouts, label_column, presence, modalities):
    """One row -> one example, every check on: the path that names a bad row."""
    file_fields = [f for f in fields if f.kind in ("image", "audio")]
    decoders_ = {f.name: _file_decoder(f, kinds[f.column], layouts.get(f.column, {})) for f in file_fields}

    def decode(row):
        files = {f.name: decoders_[f.name](row[f.column]) for f in file_fields}
        return _assemble(row, files, fields, kinds, label_column, presence, modalities)

    return decode


_WAV_LAYOUT = ("offsets", "sizes", "chunk_headers")  # per-row values of `wav_layout`, kept as hidden columns


def _layout_keys(column):
    """Hidden row columns with a mono 16-bit WAV column's data offsets, sizes and chunk headers."""
    return tuple(f"__wav_{name}__{column}" for name in _WAV_LAYOUT)


def _pcm16_batch(contents, offsets, sizes, chunk_headers, length):
    """A batch of mono 16-bit PCM WAVs -> float32 `[batch, length]`, with no per-file loop.

    `offsets` and `sizes` locate each file's samples and `chunk_headers` are
    the 8 bytes before them (`data` + size), all from the header scan.
    `decode_raw(fixed_length=...)` crops or zero-pads to `length` samples, as
    `fit_length` does; empty `contents` (missing cells) give zeros. A file
    that no longer matches its scanned header fails the whole batch.
    """
    present = tf.strings.length(contents) > 0
    header_at = tf.where(present, offsets - 8, 0)
    intact = (tf.strings.substr(contents, header_at, tf.fill(tf.shape(header_at), tf.constant(8, tf.int64))) == chunk_headers) & (
        tf.cast(tf.strings.length(contents), tf.int64) >= offsets + sizes
    )
    tf.debugging.Assert(tf.reduce_all(~present | intact), ["a WAV file changed since its header was read"])
    raw = tf.strings.substr(contents, tf.where(present, offsets, 0), tf.where(present, tf.minimum(sizes // 2 * 2, 2 * length), 0))
    return tf.cast(tf.io.decode_raw(raw, tf.int16, fixed_length=2 * length), tf.float32) / 32768.0


def _fast_row_op(field, kind, layout):
    """Per-row op of a column whose files were all scanned, or None when it needs the general decoder.

    A PNG column of the model's size and channel count needs no conversion
    or resizing (`decode_png` alone), and a mono 16-bit WAV column at one
    sample rate is only read here (its samples are cut out per batch).
    """
    if kind != "path" or "filler" not in layout:  # no filler: every cell of the column is empty
        return None
    if field.kind == "audio" and layout.get("mono16") and layout.get("rate"):
        return tf.io.read_file
    if field.kind == "image" and layout.get("png") == tuple(_decoded_spec(field, layout).shape):
        return lambda path: tf.io.decode_png(tf.io.read_file(path), channels=0)  # shape checked once per batch
    return None


def _read_unrolled(paths, row_op, filler, size, has_empty, shape=None):
    """`row_op` on every path of a batch of at most `size`, as `size` separate ops (no loop).

    Separate ops run side by side with no loop bookkeeping: on AV-digits a
    pass over the decoded batches took ~105 ms against ~140 ms with
    `tf.map_fn`. Empty cells and the rows that pad the batch to `size` read
    `filler` (a file of the same column) and come out as zeros (images) or
    empty contents (WAV bytes, decoded to zeros later). With `shape`, the
    stacked values are checked to have it (once, not per row).
    """
    count = tf.shape(paths)[0]
    present = tf.strings.length(paths) > 0
    if has_empty:
        paths = tf.where(present, paths, filler)
    padded = tf.reshape(tf.concat([paths, tf.fill([size - count], filler)], 0), [size])
    values = tf.stack([row_op(path) for path in tf.unstack(padded)])[:count]
    if shape is not None:
        values = tf.ensure_shape(values, [None, *shape])  # e.g. a PNG rewritten at another size fails the batch
    if has_empty:
        mask = tf.reshape(present, [-1] + [1] * (values.shape.rank - 1))
        values = tf.where(mask, values, tf.zeros([], values.dtype) if values.dtype != tf.string else "")
    return values


def _batch_decoder(fields, kinds, layouts, label_column, presence, modalities, size):
    """A batch of at most `size` rows -> a batch of examples, fast and without naming bad rows.

    Columns whose files were all scanned (`_fast_row_op`) are read (and PNGs
    decoded) by `size` unrolled ops; the others in one `tf.map_fn` over the
    batch. Mono 16-bit PCM audio columns are then decoded for the whole batch
    at once (`_pcm16_batch`). Any failure fails the whole batch, which the
    check stage then decodes again row by row (`_checker`).
    """
    file_fields = [f for f in fields if f.kind in ("image", "audio")]
    fast = {f.name: _fast_row_op(f, kinds[f.column], layouts.get(f.column, {})) for f in file_fields}
    looped = [f for f in file_fields if fast[f.name] is None]
    looped_decoders = [_file_decoder(f, kinds[f.column], layouts.get(f.column, {})) for f in looped]
    looped_specs = tuple(_decoded_spec(f, layouts.get(f.column, {})) for f in looped)

    def per_row(values):
        return tuple(decode(value) for decode, value in zip(looped_decoders, values))

    def decode(rows):
        files = {}
        if looped:
            outputs = tf.map_fn(per_row, tuple(rows[f.column] for f in looped), fn_output_signature=looped_specs)
            files = dict(zip([f.name for f in looped], outputs))
        for f in file_fields:
            if fast[f.name] is None:
                continue
            layout = layouts[f.column]
            shape = _decoded_spec(f, layout).shape if f.kind == "image" else None
            files[f.name] = _read_unrolled(rows[f.column], fast[f.name], layout["filler"], size, layout.get("has_empty", True), shape)
            if f.kind == "audio":  # file contents of mono 16-bit WAVs
                length = _source_length(f, layout["rate"])
                files[f.name] = _pcm16_batch(files[f.name], *(rows[k] for k in _layout_keys(f.column)), length)
        return _assemble(rows, files, fields, kinds, label_column, presence, modalities)

    return decode


# === Error check ==============================================================


def _sentinel_like(spec):
    """The end-of-pass marker: a batch of one zero row at position -1."""

    def zero(s):
        shape = [d if d is not None else 1 for d in s.shape]
        return tf.zeros(shape, s.dtype) if s.dtype != tf.string else tf.fill(shape, "")

    element = tf.nest.map_structure(zero, spec)
    element["__pos__"] = tf.constant([-1], tf.int64)  # replaced by the end position in the check
    return tf.data.Dataset.from_tensors(element)


def _is_sentinel(batch):
    """Whether `batch` ends with the end-of-pass marker (rows decoded again may precede it)."""
    return batch["__pos__"][-1] < 0


def _has_rows(batch):
    """False only for a batch that holds nothing but the end-of-pass marker."""
    return (tf.size(batch["__pos__"]) > 1) | tf.logical_not(_is_sentinel(batch))


def _drop_marker(batch):
    """`batch` without its end-of-pass marker row, if it has one."""
    return tf.cond(_is_sentinel(batch), lambda: tf.nest.map_structure(lambda t: t[:-1], batch), lambda: batch)


def _row_by_row(positions, decode_row):
    """Rows at `positions` decoded one by one into a batch, without those that fail."""
    rows = tf.data.Dataset.from_tensor_slices(positions).map(decode_row).ignore_errors()
    empty = tf.nest.map_structure(lambda s: tf.zeros([0, *s.shape], s.dtype), rows.element_spec)
    return rows.reduce(empty, lambda batch, row: tf.nest.map_structure(lambda b, r: tf.concat([b, r[None]], 0), batch, row))


def _outside_the_pipeline(decode_rows, spec):
    """`decode_rows(positions)` as a `tf.py_function` call: built and traced only when a batch fails.

    Every new iterator (every epoch of `fit`) instantiates and optimises the
    functions of the pipeline again, including everything they reference.
    Decoding rows one by one is only needed after a failure, and as part of
    the check stage it cost ~45 ms per iterator on AV-digits; called through
    `tf.py_function` it costs nothing until then.
    """
    traced = tf.function(decode_rows, autograph=False)  # traced at the first failing batch, reused after
    flat_spec = tf.nest.flatten(spec)

    def run(positions):
        return tf.nest.flatten(traced(positions))

    def decode_again(positions):
        flat = tf.py_function(run, [positions], Tout=[s.dtype for s in flat_spec])
        for tensor, s in zip(flat, flat_spec):
            tensor.set_shape(s.shape)
        return tf.nest.pack_sequence_as(spec, flat)

    return decode_again


def _gap_reporter(on_error, describe_positions):
    """Python side of the check stage, run through `tf.py_function` only when rows are missing.

    `describe_positions(positions)` names the rows at those pass positions
    (source row and files). Returns an error message: with `on_error="raise"`
    it names the first missing row (the graph raises it, as
    `InvalidArgumentError`); with `"skip"` every missing row is named on
    stderr and the message is empty. Being Python, none of this is
    instantiated again with every iterator.
    """

    def report_gap(previous, positions):
        seen = set(positions.numpy().tolist())
        missing = [p for p in range(int(previous) + 1, int(positions[-1])) if p not in seen]
        if on_error == "raise":
            first = describe_positions(missing[:1])[0]
            return f"mmfusion_tf.data: could not read or decode {first}. Pass on_error='skip' to skip such rows."
        for name in describe_positions(missing):
            print(f"mmfusion_tf.data: skipping unreadable {name}", file=sys.stderr, flush=True)
        return ""

    return report_gap


def _checker(on_error, origin, report, describe_positions, end_position, decode_again=None):
    """Sequential stage over batches: turns gaps in positions into named errors or counted skips.

    `end_position()` is the number of rows in the pass: the end-of-pass
    marker stands at that position, so trailing failures show as a gap too.
    With `decode_again(positions)`, batches are expected to be missing whole
    (the fast decoder failed on one of their rows): the rows of a gap are
    first decoded again one by one, and only those that fail again are errors.
    """
    report_gap = _gap_reporter(on_error, describe_positions)

    def check(batch):
        previous = report.previous.read_value()
        if decode_again is not None:
            first = tf.where(batch["__pos__"][0] < 0, end_position(), batch["__pos__"][0])

            def with_rows_again():
                again = decode_again(tf.range(previous + 1, first))
                return tf.nest.map_structure(lambda a, b: tf.concat([a, b], 0), again, batch)

            batch = tf.cond(first > previous + 1, with_rows_again, lambda: batch)
        sentinel = _is_sentinel(batch)
        positions = tf.where(batch["__pos__"] < 0, end_position(), batch["__pos__"])
        gap = positions[-1] - previous - tf.size(positions, out_type=tf.int64)  # rows missing before or between these

        def handle_gap():
            message = tf.py_function(report_gap, [previous, positions], Tout=tf.string)
            with tf.control_dependencies([tf.debugging.Assert(tf.equal(message, ""), [message], summarize=1)]):
                return report.running.assign_add(gap)

        handled = tf.cond(gap > 0, handle_gap, lambda: tf.constant(0, tf.int64))
        with tf.control_dependencies([handled]):
            moved = report.previous.assign(positions[-1])
        with tf.control_dependencies([moved]):
            done = tf.cond(sentinel, _end_of_pass(on_error, origin, report), lambda: tf.constant(True))
        with tf.control_dependencies([done]):
            return tf.nest.map_structure(tf.identity, batch)

    return check


def _end_of_pass(on_error, origin, report):
    """The bookkeeping at the end of a pass: skip count kept (and printed with "skip"), next pass's shuffle."""

    def end_of_pass():
        total = report.running + report.checked_before
        if on_error == "skip":
            tf.print("mmfusion_tf.data: end of pass over", origin, "- skipped", total,
                     "row(s) with missing or unreadable files (on_error='skip')", output_stream=sys.stderr)
        with tf.control_dependencies([report.last_pass.assign(total), report.epoch.assign_add(1)]):
            with tf.control_dependencies([report.running.assign(0), report.previous.assign(-1)]):
                return tf.constant(True)

    return end_of_pass


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
    cache="auto",
    deterministic=True,
    on_error="raise",
    missing_numeric="nan",
    max_audio_seconds=DEFAULT_MAX_AUDIO_SECONDS,
    drop_remainder=False,
    report=None,
    autotune=False,
):
    """A batched `tf.data.Dataset` of `(features, label)` for `config`'s model.

    Args:
        source: CSV/TSV/JSONL manifest path (file paths relative to it), TFRecord
            file(s) or glob (`mmfusion data to-tfrecord`), a dict of arrays or a
            pandas DataFrame.
        config: the `ModelConfig` whose inputs the features must match.
        label: label column, or None for unlabelled data (features only).
        columns: optional `{model input: source column}` renames.
        batch_size: int, or None for single examples (rows are still decoded 64 at a time).
        training: bool; turns on shuffling and augmentation by default.
        shuffle: bool, default `training` (seeded, reshuffled every pass).
        augment: bool, image augmentation (random crop/flip/brightness);
            default `training`. Never applied when `training=False`.
        seed: int, seeds shuffling and augmentation.
        cache: what to keep after the first decode. "auto" (default): the
            decoded image/audio values of a manifest, DataFrame or dict
            source, in memory, when they take at most a quarter of the
            free memory (checked here; nothing is cached otherwise).
            "memory": the same without the size check (TFRecords: whole
            decoded examples, `Dataset.cache()`). A file path prefix:
            decoded examples in files there (`Dataset.cache(path)`).
            None: decode on every pass. Rows kept by source row (auto and
            memory) keep the uncached pipeline's shuffle order, and a row
            that fails is tried again on every pass. A file changed after
            its row was cached is not read again.
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
        autotune: bool, tf.data's autotuning of parallelism and buffer sizes.
            Off by default: on the 2-core benchmark machine it stalled some
            epochs 0.2-1.3 s before their first step, with data in memory
            too (docs/benchmarks.md). Off, each parallel stage makes
            min(16, CPU cores) calls at once.

    Returns:
        `tf.data.Dataset`.

    Example:

    >>> train = make_dataset("data/train.csv", config, training=True, batch_size=64)
    >>> model.fit(train, epochs=3)
    """
    if batch_size is not None and int(batch_size) <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    if cache is not None and not isinstance(cache, str):
        raise ValueError(f"`cache` must be 'auto', 'memory', None or a file path prefix. Received: cache={cache!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip'. Received: on_error={on_error!r}")
    shuffle = training if shuffle is None else shuffle
    augment = training if augment is None else (augment and training)
    report = report or ErrorReport()
    fields = fields_for(config, columns, max_audio_seconds)
    spec = label_spec(config, label) if label is not None else None
    modalities = config.modality_names
    file_columns = [f.column for f in fields if f.kind in ("image", "audio")]
    shuffle_rows = shuffle  # rows looked up in a shuffled order (unless shuffled after decoding, below)
    row_cache = None

    # Rows decoded together (then rebatched to `batch_size`); at most 64, the unrolled reads' size.
    decode_size = min(int(batch_size), _DECODE_ROWS) if batch_size is not None else _DECODE_ROWS

    if is_tfrecord_source(source):
        files = tfrecord_files(source)
        parsed, kinds = read_rows(files, fields, spec)
        origin = files[0] if len(files) == 1 else f"{len(files)} TFRecord files ({os.path.dirname(files[0])})"

        def count(p, row):
            # Records stream in file order; counting them as they pass (instead of
            # reading every file once more up front) gives the end-of-pass position.
            with tf.control_dependencies([report.records.assign(p + 1)]):
                return {**row, "__pos__": tf.identity(p)}

        rows = single_device_map(parsed.enumerate(), count)
        num_rows, end_position = None, report.records.read_value
        layouts = {}
        shuffle_rows = False  # records stream in file order; shuffled after decoding

        def describe_positions(positions):
            return [f"TFRecord record #{p} of {origin}" for p in positions]
    else:
        raw = from_source(source, fields, spec, on_error=on_error, missing_numeric=missing_numeric)
        report.checked_before = len(raw.skipped)
        num_rows, kinds, origin = len(raw), raw.kinds, raw.origin
        if num_rows == 0:
            raise ValueError(f"{origin}: no rows left to read (all {len(raw.skipped)} skipped).")
        table = {k: tf.constant(v) for k, v in raw.columns.items()}
        layouts = {}
        for f in fields:  # header scans, once: what lets a whole batch be decoded at once
            if f.kind in ("image", "audio") and kinds[f.column] == "path":
                paths = raw.columns[f.column]
                layout = wav_layout(paths) if f.kind == "audio" else {"png": png_layout(paths)}
                if layout.get("mono16"):
                    for key, name in zip(_layout_keys(f.column), _WAV_LAYOUT):
                        table[key] = tf.constant(layout.pop(name))
                layouts[f.column] = layout
        for column in file_columns:  # columns without empty cells skip the missing-value branch
            if kinds[column] != "array":
                filled = [v for v in raw.columns[column] if len(v)]
                layout = {**layouts.get(column, {}), "has_empty": len(filled) < num_rows}
                if filled and kinds[column] == "path":
                    layout["filler"] = filled[0]  # read in place of empty cells by the unrolled batch reads
                layouts[column] = layout
        table["__row__"] = tf.constant(raw.rows, tf.int64)
        row_cache = _row_cache(cache, fields, kinds, num_rows)
        last = num_rows - 1
        end_position = lambda: tf.constant(num_rows, tf.int64)  # noqa: E731

        def row_index(p):
            if not shuffle_rows:
                return p
            return tf.random.experimental.index_shuffle(p, tf.stack([tf.constant(seed, tf.int64), report.epoch]), last)

        def lookup(p, i=None):
            """Rows at pass positions `p` (source rows `i`, when the caller already has them)."""
            i = row_index(p) if i is None else i
            row = {k: tf.gather(v, i) for k, v in table.items()}
            row["__pos__"] = p
            return row

        def describe_positions(positions):  # called eagerly, from the check stage's Python side
            names = []
            for i in row_index(tf.constant(positions, tf.int64)).numpy().tolist():
                files = "".join(f" ({c}: {raw.columns[c][i]})" for c in file_columns if kinds[c] == "path")
                names.append(f"{origin} row {raw.rows[i]}{files}")
            return names

        rows = tf.data.Dataset.range(num_rows).batch(decode_size)

    # Whole decoded examples cached as a stream (files, or TFRecords in memory) are shuffled
    # after the cache: rows are then read in order (`row_index` reads this when traced, below).
    stream_cache = cache if cache not in (None, "auto") and row_cache is None else None
    shuffle_rows = shuffle_rows and not stream_cache
    assemble_args = (fields, kinds, spec.column if spec else None, config.presence_inputs, modalities)
    decoder_args = (fields, kinds, layouts, *assemble_args[2:])
    decode_row = _example_decoder(*decoder_args)
    # Audio columns whose files share one sample rate are resampled per batch, in one FFT.
    resample = _batch_resampler([(f.name, layouts[f.column]["rate"], f) for f in fields if layouts.get(f.column, {}).get("rate")])
    if num_rows is None:  # TFRecords: the rows are the records' contents, decoded one by one
        ds = single_device_map(rows, decode_row, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds, decode_again = ds.ignore_errors().batch(decode_size), None  # no header scan: resampled per row
    else:
        # Whole batches at once (looked up, decoded, resampled); a batch that fails
        # is decoded again row by row in the check.
        decode_batch = _batch_decoder(*decoder_args, decode_size)
        decode_rows = lambda p, i=None: resample(decode_batch(lookup(p, i)))  # noqa: E731
        if row_cache is not None:  # the shuffle lookup (`row_index`) done once per batch, shared by both branches
            from_values = lambda p, i, files: _assemble(lookup(p, i), files, *assemble_args)  # noqa: E731
            decode_rows = row_cache.wrap(decode_rows, row_index, from_values)
        ds = single_device_map(rows, decode_rows, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.ignore_errors()

        decode_again = _outside_the_pipeline(
            lambda positions: resample(_row_by_row(positions, lambda p: decode_row(lookup(p)))), ds.element_spec
        )

    ds = ds.concatenate(_sentinel_like(ds.element_spec))
    ds = single_device_map(ds, _checker(on_error, origin, report, describe_positions, end_position, decode_again))
    image_fields = [f.name for f in fields if f.kind == "image"]

    # Its state lives on across passes (and iterators): every epoch augments differently.
    augment_seeds = tf.random.Generator.from_seed(seed) if augment else None

    def augment_images(features, *target):
        features = dict(features)
        seeds = augment_seeds.make_seeds(len(image_fields))  # each image input its own crop/flip/brightness
        for k, name in enumerate(image_fields):
            features[name] = augment_image(features[name], seed=seeds[:, k])
        return (features, *target) if target else features

    def split(example, with_augmentation=augment):
        """Decoded example -> `(features, label)` (or features), without the bookkeeping keys."""
        features = {k: v for k, v in example.items() if k not in ("__pos__", "__sentinel__", "__label__")}
        parts = (features, example["__label__"]) if "__label__" in example else (features,)
        if with_augmentation:
            return augment_images(*parts)
        return parts if len(parts) > 1 else features

    options = tf.data.Options()
    options.deterministic = deterministic
    options.autotune.enabled = bool(autotune)
    if stream_cache:
        # Everything deterministic happens once, before the cache: decoding, the
        # error check, resampling and (unless skips must be re-reported on every
        # pass) dropping the bookkeeping keys. Later passes only shuffle, augment
        # and batch, like data already in memory.
        report_cached_passes = on_error == "skip"
        if report_cached_passes:  # the end-of-pass marker goes through the cache as a flagged row
            ds = single_device_map(ds, lambda e: {**e, "__sentinel__": e["__pos__"] < 0}).unbatch()
        else:
            ds = single_device_filter(ds, _has_rows)
            ds = single_device_map(ds, lambda e: split(_drop_marker(e), with_augmentation=False)).unbatch()
        ds = ds.cache() if stream_cache == "memory" else ds.cache(stream_cache)
        if report_cached_passes:
            ds = single_device_filter(ds, _cached_pass_reporter(origin, report))
        if shuffle:
            ds = ds.shuffle(min(num_rows or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
        if report_cached_passes:
            ds = single_device_map(ds, split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        elif augment:
            ds = single_device_map(ds, augment_images, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
        if batch_size is not None:
            ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def finish(ds):
        """Checked batches -> `(features, label)` batches of `batch_size`, augmented when training."""
        ds = single_device_filter(ds, _has_rows)
        if (shuffle and not shuffle_rows) or augment or batch_size is None:
            # Example by example: a shuffle buffer (TFRecords) or per-image augmentation.
            ds = single_device_map(ds, _drop_marker).unbatch()
            if shuffle and not shuffle_rows:
                ds = ds.shuffle(min(num_rows or 10_000, 10_000), seed=seed, reshuffle_each_iteration=True)
            ds = single_device_map(ds, split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
            if batch_size is not None:
                ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
        else:
            unmarked = lambda e: split(_drop_marker(e), with_augmentation=False)  # noqa: E731
            ds = single_device_map(ds, unmarked, num_parallel_calls=tf.data.AUTOTUNE)
            # Rows skipped or decoded again in the check change batch sizes; this restores them.
            ds = ds.rebatch(int(batch_size), drop_remainder=drop_remainder)
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    return finish(ds)


def _row_cache(cache, fields, kinds, num_rows):
    """The `DecodedRowCache` of a row source's decoded files for `cache` ("auto"/"memory"), or None."""
    file_fields = [f for f in fields if f.kind in ("image", "audio")]
    if cache not in ("auto", "memory") or all(kinds[f.column] == "array" for f in file_fields):
        return None  # nothing to cache, or only arrays (already in memory)
    specs = {f.name: _decoded_spec(f, {}) for f in file_fields}  # as the model gets them (resampled)
    if cache == "auto" and DecodedRowCache.nbytes(specs, num_rows) > AUTO_CACHE_FRACTION * free_memory_bytes():
        return None
    return DecodedRowCache(specs, num_rows)


def _batch_resampler(audio_fields):
    """Resamples `[batch, samples]` audio at a common source rate in one FFT (identity without such audio)."""

    def resample(batch):
        batch = dict(batch)
        for name, source_rate, field in audio_fields:
            batch[name] = decoders.resample_batch(batch[name], source_rate, field.sample_rate, field.num_samples)
        return batch

    return resample


def _cached_pass_reporter(origin, report):
    """Filter after a cache (`on_error="skip"`): drops the end-of-pass marker, re-reporting skips on cached passes."""
    cached_passes = tf.Variable(0, dtype=tf.int64, trainable=False, name="cached_passes")

    def keep(example):
        def end_of_pass():
            def again():
                tf.print("mmfusion_tf.data: end of pass over", origin, "(cached) - skipped", report.last_pass,
                         "row(s) with missing or unreadable files (on_error='skip')", output_stream=sys.stderr)
                return tf.constant(True)

            printed = tf.cond(cached_passes > 0, again, lambda: tf.constant(True))
            with tf.control_dependencies([printed, cached_passes.assign_add(1)]):
                return tf.constant(False)

        return tf.cond(example["__sentinel__"], end_of_pass, lambda: tf.constant(True))

    return keep
