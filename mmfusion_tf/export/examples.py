"""Example inputs in the form `serving_default` takes them: what a client would send.

`raw_examples` turns a manifest (file paths relative to it) or in-memory
columns into request columns: encoded image bytes, UTF-8 text, WAV bytes
(or waveforms), typed table columns and `<name>_present` flags. Warmup
records, the REST smoke request and the parity check are built from them.
"""

import numpy as np
import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.schema import fields_for
from mmfusion_tf.data.sources import check_rows, read_columns
from mmfusion_tf.data.tfrecord import encoded_bytes, float_wav


def _audio(values, kind, field, audio_input):
    if audio_input == "wav":  # arrays as float WAV: lossless
        return np.asarray([encoded_bytes(field, kind, v) for v in values], dtype=object)
    if kind == "array":  # already at the model's rate, as the pipeline takes them
        return np.stack([decoders.fit_length(np.asarray(w, "float32"), field.num_samples).numpy() for w in values])
    # Files: the training rule (crop/pad at the source rate, resample, fit), so serving sees the same samples.
    return np.stack([
        decoders.load_audio(data, field.sample_rate, field.num_samples).numpy() if data
        else np.zeros([field.num_samples], "float32")
        for data in (encoded_bytes(field, kind, v) for v in values)
    ])


def checked_rows(config, examples, limit=None):
    """The first `limit` rows of `examples` (all without a limit), checked against `config`'s inputs.

    Only the kept rows are checked (files stat-ed, numbers converted).
    Returns `(rows, columns)`: the `RawRows`, whose columns hold absolute file
    paths (a source `make_dataset` reads as it is), and the kept source
    columns (all of them, e.g. `<name>_present`).
    """
    columns, origin, base_dir = read_columns(examples)
    if limit is not None:
        columns = {name: values[: int(limit)] for name, values in columns.items()}
    rows = check_rows(columns, fields_for(config), None, origin, base_dir)
    if len(rows) == 0:
        raise ValueError(f"{origin}: no examples.")
    return rows, columns


def raw_examples(config, examples, audio_input="wav", limit=None):
    """The request columns of `examples` for `config`'s `serving_default`.

    Args:
        config: `ModelConfig`.
        examples: manifest path (CSV/TSV/JSONL; file paths relative to
            it), dict of columns or DataFrame. Image/audio columns hold
            paths, encoded bytes or decoded arrays (encoded losslessly: PNG,
            float WAV). Columns `<name>_present` are used when the model
            has presence inputs; otherwise a modality is absent when all its
            values are empty/NaN, as in the data pipeline.
        audio_input: "wav" or "waveform" (audio decoded, resampled and
            cut/padded to the model's `num_samples`).
        limit: optional int, keep the first `limit` examples.

    Returns:
        `{input name: numpy array}`: object arrays of bytes for string
        inputs, float32 for the others.

    Example:

    >>> raw = raw_examples(config, "data/test.csv", limit=8)
    >>> sorted(raw) == sorted(config.input_names())
    True
    """
    return request_columns(config, *checked_rows(config, examples, limit), audio_input=audio_input)


def request_columns(config, rows, columns, audio_input="wav"):
    """`raw_examples` of rows already checked by `checked_rows` (its `(rows, columns)`)."""
    fields = fields_for(config)
    count = len(rows)
    raw, missing = {}, {name: [] for name in config.modality_names}
    for f in fields:
        values = rows.columns[f.column]
        kind = rows.kinds.get(f.column)
        if f.kind == "image":
            value = np.asarray([encoded_bytes(f, kind, v) for v in values], dtype=object)
            empty = np.asarray([len(v) == 0 for v in value])
        elif f.kind == "audio":
            value = _audio(values, kind, f, audio_input)
            empty = np.zeros(count, bool) if kind == "array" else np.asarray([len(v) == 0 for v in values])
        elif f.kind == "numeric":
            value = np.asarray(values, "float32")
            empty = np.isnan(value)
        else:
            value = np.asarray([str(v).encode("utf-8") for v in values], dtype=object)
            empty = np.asarray([len(v) == 0 for v in value])
        raw[f.name] = value
        missing[f.modality].append(empty)
    if config.presence_inputs:
        for name, flags in missing.items():
            given = columns.get(f"{name}_present")
            derived = 1.0 - np.all(np.stack(flags), axis=0)
            raw[f"{name}_present"] = np.asarray(given if given is not None else derived, "float32")
    return raw


def synthetic_examples(config, num_examples=2, seed=0):
    """A few valid raw columns of the right types (noise images, sine WAVs, short text).

    For warmup and the parity check when no real examples are given.
    """
    rng = np.random.default_rng(seed)
    columns = {}
    for f in fields_for(config):
        if f.kind == "image":
            images = rng.integers(0, 256, [num_examples, *f.image_size, f.channels]).astype("uint8")
            columns[f.column] = [tf.io.encode_png(image).numpy() for image in images]
        elif f.kind == "audio":
            t = np.arange(f.num_samples) / f.sample_rate
            tones = [0.5 * np.sin(2 * np.pi * 440 * (i + 1) * t) for i in range(num_examples)]
            columns[f.column] = [float_wav(tone, f.sample_rate) for tone in tones]
        elif f.kind == "numeric":
            columns[f.column] = rng.normal(size=num_examples).astype("float32")
        elif f.kind == "text":
            columns[f.column] = [f"example text {i}" for i in range(num_examples)]
        else:
            vocabulary = _vocabulary(config, f.name)
            columns[f.column] = [vocabulary[i % len(vocabulary)] if vocabulary else "" for i in range(num_examples)]
    return columns


def _vocabulary(config, column):
    for m in config.modalities:
        categories = getattr(m, "categorical_features", None)
        if categories and column in categories:
            return list(categories[column] or [])
    return []
