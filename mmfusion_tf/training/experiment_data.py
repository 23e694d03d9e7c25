"""The train/validation/test datasets of an `ExperimentConfig`.

Sources come from `experiment.data` (manifest paths, TFRecord globs) or are
passed in as dicts of arrays / DataFrames. When only a training source is
given, it is split with `data.split` (stratified by label, seeded, groups of
`data.group_column` kept whole).

Example:

>>> sources = experiment_sources(experiment)
>>> train_ds, val_ds, test_ds = experiment_datasets(experiment, sources)
"""

import os
from dataclasses import replace

import numpy as np

from mmfusion_tf.data import make_dataset
from mmfusion_tf.data.schema import fields_for, label_spec
from mmfusion_tf.data.sources import from_source, read_columns
from mmfusion_tf.data.splits import class_weights, stratified_split
from mmfusion_tf.data.tfrecord import is_tfrecord_source, read_rows, tfrecord_files

SPLITS = ("train", "validation", "test")


def _absolute_file_columns(columns, experiment, base_dir):
    """Relative image/audio paths of a manifest -> paths valid from anywhere."""
    fields = fields_for(experiment.model, experiment.data.columns)
    for f in fields:
        if f.kind in ("image", "audio") and f.column in columns:
            columns[f.column] = [
                v if not isinstance(v, str) or not v or os.path.isabs(v) else os.path.join(base_dir, v)
                for v in columns[f.column]
            ]
    return columns


def _split_source(source, experiment, with_test=True):
    """Splits one manifest / dict into train/validation(/test) dicts of columns."""
    data = experiment.data
    columns, _, base_dir = read_columns(source)
    if base_dir is not None:  # a manifest: its relative file paths must survive the split
        columns = _absolute_file_columns(columns, experiment, base_dir)
    if data.label_column not in columns:
        raise KeyError(f"data.label_column={data.label_column!r} is not a column of the training data. "
                       f"Available: {sorted(columns)}")
    labels = [str(v) for v in columns[data.label_column]]
    groups = None
    if data.group_column:
        if data.group_column not in columns:
            raise KeyError(f"data.group_column={data.group_column!r} is not a column. Available: {sorted(columns)}")
        groups = [str(v) for v in columns[data.group_column]]
    used = [(name, float(f)) for name, f in zip(SPLITS, data.split) if float(f) > 0 and (with_test or name != "test")]
    total = sum(f for _, f in used)
    parts = stratified_split(labels, [f / total for _, f in used], seed=experiment.training.seed, groups=groups)
    out = {name: None for name in SPLITS}
    for (name, _), index in zip(used, parts):
        out[name] = {c: (np.asarray(v, dtype=object) if isinstance(v, list) else np.asarray(v))[index]
                     for c, v in columns.items()}
    return out


def experiment_sources(experiment, train=None, validation=None, test=None):
    """`{"train", "validation", "test"}` sources (None where absent).

    Explicit arguments win over `experiment.data`; manifest paths are
    resolved relative to the experiment YAML.
    """
    given = {
        "train": train if train is not None else experiment.resolve_path(experiment.data.train),
        "validation": validation if validation is not None else experiment.resolve_path(experiment.data.validation),
        "test": test if test is not None else experiment.resolve_path(experiment.data.test),
    }
    if given["train"] is None:
        raise ValueError("data.train is required: a manifest (CSV/TSV/JSONL) or TFRecord path, or pass `train=`.")
    if given["validation"] is None and not is_tfrecord_source(given["train"]):
        split = _split_source(given["train"], experiment, with_test=given["test"] is None)
        given["train"], given["validation"] = split["train"], split["validation"]
        if given["test"] is None:
            given["test"] = split["test"]
    return given


def experiment_datasets(experiment, sources, report=None):
    """Batched datasets `(train, validation, test)` (None where a source is absent).

    Train and validation, read every epoch, use `data.cache`; test, read once, is never cached.
    """
    data, seed = experiment.data, experiment.training.seed
    train = make_dataset(sources["train"], experiment.model, data, training=True, seed=seed, report=report)
    validation, test = None, None
    if sources["validation"] is not None:
        validation = make_dataset(sources["validation"], experiment.model, data, seed=seed)
    if sources["test"] is not None:
        test = make_dataset(sources["test"], experiment.model, replace(data, cache=None), seed=seed)
    return train, validation, test


def training_labels(experiment, source):
    """Label ids of the training source (for class weights), read without decoding any file.

    Manifests, dicts and DataFrames: only the label column is read and
    checked (`from_source` with no fields). TFRecords: only the label
    feature of every record is parsed. Rows that `on_error="skip"` would drop
    for a missing file still count.
    """
    spec = label_spec(experiment.model, experiment.data.label_column)
    if is_tfrecord_source(source):
        return _tfrecord_columns(source, [], spec)[spec.column]
    return from_source(source, [], spec).columns[spec.column]


def adapt_target(experiment, source):
    """Learns a regression head's missing `target_stats` `[mean, std]` from the training labels, into the config.

    Like tabular statistics, they are written into `experiment.model.head`
    (so config -> model -> config is lossless). Does nothing for
    classification, with `standardize_target` off, with stats already set,
    or without a source.

    Example:

    >>> adapt_target(experiment, "train.csv"); experiment.model.head.target_stats
    [4.91, 0.62]
    """
    head = experiment.model.head
    if head.task != "regression" or not head.standardize_target or head.target_stats is not None or source is None:
        return
    labels = np.asarray(training_labels(experiment, source), "float64").reshape(-1)
    labels = labels[np.isfinite(labels)]
    if not len(labels):
        raise ValueError(
            f"data.label_column={experiment.data.label_column!r} has no finite value in the training data.")
    std = float(labels.std())
    head.target_stats = [float(labels.mean()), std if std > 0 else 1.0]


def tabular_columns(experiment, source):
    """The tabular columns of a training source, keyed by model input name, to adapt statistics on.

    Reads only the numeric and categorical columns of any source: a dict, a
    DataFrame, a manifest (checked with `data.missing_numeric`) or TFRecords
    (those features of every record). None when the model has no tabular
    modality or `source` is None.

    Example:

    >>> tabular_columns(experiment, "train.csv")["beds"][:2]
    array([2., nan], dtype=float32)
    """
    fields = [f for f in fields_for(experiment.model, experiment.data.columns) if f.kind in ("numeric", "categorical")]
    if not fields or source is None:
        return None
    if is_tfrecord_source(source):
        columns = _tfrecord_columns(source, fields, None)  # categorical values stay bytes: adapt decodes them
    else:
        columns = from_source(source, fields, None, missing_numeric=experiment.data.missing_numeric).columns
    return {f.name: columns[f.column] for f in fields}


def _tfrecord_columns(source, fields, spec):
    """`{column: numpy array}` of `fields` (and the label of `spec`) over every record of `source`."""
    records, _ = read_rows(tfrecord_files(source), fields, spec)
    columns = [f.column for f in fields] + ([spec.column] if spec is not None else [])
    batches = [batch for batch in records.map(lambda row: {c: row[c] for c in columns}).batch(4096)]
    return {c: np.concatenate([batch[c].numpy() for batch in batches]) for c in columns}


def balanced_class_weights(experiment, source):
    """`{class id: weight}` inversely proportional to the training label counts of `source`."""
    head = experiment.model.head
    if head.task not in ("multiclass", "binary"):  # ExperimentConfig.validate says so first; direct callers too
        raise ValueError(
            f"training.class_weights='balanced' needs a multiclass or binary head. Received: task={head.task!r}")
    labels = training_labels(experiment, source).astype(int)
    return class_weights(labels, num_classes=head.class_count)
