"""`make_dataset`: a source -> a batched `tf.data.Dataset` of `(features, label)` for a model.

It composes the stages of `mmfusion_tf.data.stages` (each a function from
a dict of tensors to a dict of tensors) with public tf.data ops. A
manifest, DataFrame or dict is read and checked in Python once
(`sources.py`), its file headers scanned (`scan.py`), then every pass runs,
up to 64 rows at a time:

    positions -> shuffle_order -> read_rows -> select_inputs
              -> decode_files -> resample_audio     (or gathered by cache_decoded)
              -> ignore_errors -> check_rows -> augment_images -> split_label
              -> batch -> prefetch

TFRecords stream: records are parsed and counted, decoded one by one,
checked, and shuffled with a buffer. A file-prefix cache (or "memory" for
TFRecords) keeps whole checked examples with `Dataset.cache`, shuffled after
it. Every map goes through `_private_apis.single_device_map`, the one
adapter of TensorFlow internals (it falls back to `Dataset.map`): a new
iterator, every epoch of `fit`, then instantiates the stages without
Grappler (docs/benchmarks.md has what that changes in `fit`).
"""

import os
import sys
from typing import NamedTuple, Optional

import tensorflow as tf

from mmfusion_tf.config import DataConfig
from mmfusion_tf.data.scan import ColumnScan, scan_column
from mmfusion_tf._private_apis import single_device_filter, single_device_map
from mmfusion_tf.data.schema import fields_for, label_spec
from mmfusion_tf.data.sources import from_source
from mmfusion_tf.data.stages import INDEX, POSITION
from mmfusion_tf.data.stages.augment import augment_images
from mmfusion_tf.data.stages.cache import DecodedRowCache, cache_decoded
from mmfusion_tf.data.stages.check import ErrorReport, check_rows, empty_batch, recover_rows, with_end_of_pass
from mmfusion_tf.data.stages.decode import decode_files, decoded_spec, resample_audio
from mmfusion_tf.data.stages.read import RowTable, read_rows
from mmfusion_tf.data.stages.select import select_inputs
from mmfusion_tf.data.stages.shuffle import shuffle_order
from mmfusion_tf.data.stages.split import split_label
from mmfusion_tf.data.tfrecord import is_tfrecord_source, read_rows as read_records, tfrecord_files

__all__ = ["ErrorReport", "make_dataset"]

DECODE_ROWS = 64  # rows decoded together by one call of the decode stages
SHUFFLE_BUFFER = 10_000  # most examples a shuffle buffer holds (streamed and stream-cached sources)


class _Passes(NamedTuple):
    """A source's checked batches, every pass, and what the rest of the pipeline needs to know of it."""

    examples: tf.data.Dataset
    num_rows: Optional[int]  # None for streamed records
    shuffled: bool  # rows already come in a shuffled order
    origin: str  # the source's name in messages


def _then(*stages):
    """The stages applied one after the other."""

    def run(value):
        for stage in stages:
            value = stage(value)
        return value

    return run


def _has_rows(batch):
    """Whether a batch of examples has at least one row."""
    return tf.shape(tf.nest.flatten(batch)[0])[0] > 0


def _checked(data):
    data = DataConfig() if data is None else data
    if data.batch_size is not None and int(data.batch_size) <= 0:
        raise ValueError(f"data_config.batch_size must be positive or None. Received: batch_size={data.batch_size}")
    if data.cache is not None and not isinstance(data.cache, str):
        raise ValueError(
            f"data_config.cache must be 'auto', 'memory', None or a file path prefix. Received: cache={data.cache!r}"
        )
    if data.on_error not in ("raise", "skip"):
        raise ValueError(f"data_config.on_error must be 'raise' or 'skip'. Received: on_error={data.on_error!r}")
    return data


class _Plan:
    """What every source needs to build its stages: the model's fields, the label, the settings."""

    def __init__(self, model_config, data, training, shuffle, seed, report):
        self.fields = fields_for(model_config, data.columns or None)
        self.label = label_spec(model_config, data.label_column) if data.label_column is not None else None
        self.presence = model_config.presence_inputs
        self.data, self.seed, self.report = data, seed, report
        self.shuffle = training if shuffle is None else shuffle
        self.augment = training and data.augment
        self.decode_rows = min(int(data.batch_size or DECODE_ROWS), DECODE_ROWS)
        # Whole checked examples kept by `Dataset.cache` (a file prefix; "memory" for TFRecords).
        self.stream_cache = data.cache not in (None, "auto", "memory")

    def select(self, kinds):
        return select_inputs(self.fields, kinds, self.label.column if self.label else None, self.presence)

    def checked(self, decoded, origin, name_rows, end_position, recover=None):
        """Decoded batches -> checked batches, the last one (usually empty) ending the pass."""
        check = check_rows(self.report, self.data.on_error, origin, name_rows, end_position, recover)
        return single_device_map(with_end_of_pass(decoded), check)


def _scans(fields, raw):
    """`{column: ColumnScan}` of the image/audio columns of paths or bytes."""
    scans = {}
    for f in fields:
        kind = raw.kinds.get(f.column)
        if kind == "path":
            scans[f.column] = scan_column(f.kind, list(raw.columns[f.column]))
        elif kind == "bytes":
            scans[f.column] = ColumnScan(has_empty=any(len(v) == 0 for v in raw.columns[f.column]))
    return scans


def _row_cache(cache, fields, kinds, num_rows):
    """The `DecodedRowCache` for `cache` ("auto"/"memory") of a table source, or None."""
    file_fields = [f for f in fields if f.kind in ("image", "audio")]
    if cache not in ("auto", "memory") or all(kinds[f.column] == "array" for f in file_fields):
        return None  # nothing to cache, or only arrays (already in memory)
    specs = {f.name: decoded_spec(f) for f in file_fields}  # as the model gets them (resampled)
    return DecodedRowCache.fitting(specs, num_rows) if cache == "auto" else DecodedRowCache(specs, num_rows)


def _table_passes(source, plan):
    """The `_Passes` of a manifest, DataFrame or dict."""
    data, fields = plan.data, plan.fields
    raw = from_source(source, fields, plan.label, on_error=data.on_error, missing_numeric=data.missing_numeric)
    plan.report.checked_before = len(raw.skipped)
    if len(raw) == 0:
        raise ValueError(f"{raw.origin}: no rows left to read (all {len(raw.skipped)} skipped).")
    table, scans, num_rows = RowTable(raw), _scans(fields, raw), len(raw)
    shuffled = plan.shuffle and not plan.stream_cache  # a stream cache is shuffled after it
    order = shuffle_order(num_rows, plan.seed, plan.report.pass_number if shuffled else None)
    rows = _then(order, read_rows(table), plan.select(raw.kinds))
    decode = _then(decode_files(fields, raw.kinds, scans, plan.decode_rows), resample_audio(fields, scans))
    cache = _row_cache(data.cache, fields, raw.kinds, num_rows)
    positions = tf.data.Dataset.range(num_rows).batch(plan.decode_rows)

    def decode_one(position):  # the general decoders, for rows of a batch that failed
        example = decode_files(fields, raw.kinds, scans)(rows({POSITION: position}))
        return tf.nest.map_structure(lambda t: t[None], example)

    def name_rows(positions):
        return table.describe(order({POSITION: tf.constant(positions, tf.int64)})[INDEX].numpy().tolist())

    def passes(decode):
        read_and_decode = _then(lambda p: {POSITION: p}, rows, decode)
        decoded = single_device_map(positions, read_and_decode, tf.data.AUTOTUNE, deterministic=True).ignore_errors()
        recover = recover_rows(decode_one, resample_audio(fields, scans))
        return plan.checked(decoded, raw.origin, name_rows, lambda: tf.constant(num_rows, tf.int64), recover)

    return _Passes(passes(decode if cache is None else cache_decoded(cache, decode)), num_rows, shuffled, raw.origin)


def _record_passes(source, plan):
    """The `_Passes` of TFRecord files (records stream in file order)."""
    files = tfrecord_files(source)
    parsed, kinds = read_records(files, plan.fields, plan.label)
    origin = files[0] if len(files) == 1 else f"{len(files)} TFRecord files ({os.path.dirname(files[0])})"
    report = plan.report

    def count(position, row):
        # Counting records as they pass gives the end-of-pass position without reading the files twice.
        with tf.control_dependencies([report.records.assign(position + 1)]):
            return {**row, POSITION: tf.identity(position)}

    decode = _then(plan.select(kinds), decode_files(plan.fields, kinds))
    decoded = single_device_map(parsed.enumerate(), count)  # in order: the count is the records read so far
    decoded = single_device_map(decoded, decode, tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    decoded = decoded.batch(plan.decode_rows)

    def name_rows(positions):
        return [f"TFRecord record #{p} of {origin}" for p in positions]

    return _Passes(plan.checked(decoded, origin, name_rows, report.records.read_value), None, False, origin)


def _cached_pass_reporter(report, origin, spec):
    """`_ -> empty batch`, after a stream cache with `on_error="skip"`: prints the skip count of cached passes."""
    passes = []

    def report_pass():
        if passes:  # the first pass reported itself, before the cache
            skipped = int(report.last_pass.numpy())
            print(f"mmfusion_tf.data: end of pass over {origin} (cached) - skipped {skipped} row(s) with missing or "
                  "unreadable files (on_error='skip')", file=sys.stderr, flush=True)
        passes.append(1)
        return True

    def reported(_):
        with tf.control_dependencies([tf.py_function(report_pass, [], Tout=tf.bool)]):
            return tf.nest.map_structure(tf.identity, empty_batch(spec))

    return reported


def make_dataset(source, model_config, data_config=None, *, training=False, shuffle=None, seed=0,
                 drop_remainder=False, report=None):
    """A batched `tf.data.Dataset` of `(features, label)` for `model_config`'s model.

    Feature keys are the model's input names. Bad files follow
    `data_config.on_error`: "raise" fails naming the file and the source
    row; "skip" names the row on stderr, drops it, and prints (and keeps in
    `report`) the count at the end of every pass.

    Args:
        source: CSV/TSV/JSONL manifest path (file paths relative to it),
            TFRecord file(s) or glob (`mmfusion data to-tfrecord`), a dict of
            arrays or a pandas DataFrame.
        model_config: the `ModelConfig` whose inputs the features must match.
        data_config: a `DataConfig` (default `DataConfig()`); read here:
            `label_column` (None for unlabelled data: features only),
            `columns` (`{model input: source column}`), `batch_size` (None
            for single examples), `cache`, `augment`, `on_error`,
            `missing_numeric`. `cache`: "auto" keeps the decoded images and
            audio of a manifest, DataFrame or dict in memory by source row
            when they take at most a quarter of the free memory; "memory"
            whatever their size (TFRecords: whole examples,
            `Dataset.cache()`); a file path prefix keeps whole examples in
            files there; None decodes every pass. Rows kept by source row
            keep the uncached shuffle order, a pass cut short keeps what it
            decoded, and a row that fails is tried again every pass.
        training: bool; turns on shuffling, and augmentation when
            `data_config.augment` (augmentation never runs otherwise).
        shuffle: bool, default `training` (seeded, new order every pass).
        seed: int, seeds shuffling and augmentation.
        drop_remainder: bool, drop the last partial batch.
        report: optional `ErrorReport` to read the skip counts from.

    tf.data autotuning is off (each parallel stage makes as many calls at
    once as there are CPU cores, up to 16); `ds.with_options(options)` with
    `options.autotune.enabled = True` turns it on.

    Returns:
        `tf.data.Dataset`.

    Example:

    >>> train = make_dataset("data/train.csv", config, DataConfig(batch_size=64), training=True)
    >>> model.fit(train, epochs=3)
    """
    plan = _Plan(model_config, _checked(data_config), training, shuffle, seed, report or ErrorReport())
    data = plan.data
    passes = _record_passes if is_tfrecord_source(source) else _table_passes
    examples, num_rows, shuffled, origin = passes(source, plan)
    if plan.stream_cache or (data.cache == "memory" and num_rows is None):  # decoded and checked once
        spec = examples.element_spec
        examples = examples.cache("" if data.cache == "memory" else data.cache)
        if data.on_error == "skip":  # skipped rows are not in the cache: say so every pass
            reporter = _cached_pass_reporter(plan.report, origin, spec)
            examples = examples.concatenate(single_device_map(tf.data.Dataset.range(1), reporter))
    stages = [augment_images([f.name for f in plan.fields if f.kind == "image"], seed)] if plan.augment else []
    finish = _then(*stages, split_label)
    shuffle_examples = plan.shuffle and not shuffled
    if shuffle_examples or stages or data.batch_size is None:  # example by example
        ds = examples.unbatch()
        if shuffle_examples:
            ds = ds.shuffle(min(num_rows or SHUFFLE_BUFFER, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
        ds = single_device_map(ds, finish, tf.data.AUTOTUNE, deterministic=True)
        if data.batch_size is not None:
            ds = ds.batch(int(data.batch_size), drop_remainder=drop_remainder)
    else:  # rows recovered or skipped by the check change batch sizes; `rebatch` restores them
        # The end-of-pass batch of no rows must go: a tf.distribute strategy rewrites this `rebatch`
        # into one that passes it on to the model (tests/data/test_pipeline.py).
        ds = single_device_map(single_device_filter(examples, _has_rows), finish, tf.data.AUTOTUNE, deterministic=True)
        ds = ds.rebatch(int(data.batch_size), drop_remainder=drop_remainder)
    options = tf.data.Options()
    options.autotune.enabled = False  # on 2 cores it stalled some epochs before their first step (docs/benchmarks.md)
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
