"""Reading CSV/JSONL manifests and in-memory data into checked columns.

Everything that can be checked cheaply in Python is checked here, before a
single tensor is built, with errors that name the file and the row: missing
columns, files that do not exist, labels outside the declared classes,
non-numeric values in numeric columns. Decoding happens later, in tf.data.
"""

import csv
import json
import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

MISSING_NUMERIC_POLICIES = ("nan", "zero", "error")


@dataclass
class RawRows:
    """Checked source columns, one entry per kept row.

    `columns` maps a source column to a numpy array; `kinds` tells, for
    image/audio fields, whether the column holds file `path`s, encoded
    `bytes` or decoded `array`s; `rows` are the 1-based row numbers in the
    source (for messages); `origin` names the source.
    """

    columns: dict
    kinds: dict
    rows: np.ndarray
    origin: str
    skipped: list = field(default_factory=list)

    def __len__(self):
        return len(self.rows)


def _is_missing(value):
    return (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or (isinstance(value, (str, bytes)) and len(value) == 0)
    )


def read_manifest(path):
    """Columns of a CSV (header row) or JSONL manifest, as lists of Python values."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"Manifest not found: {path}")
    lower = path.lower()
    records = []
    if lower.endswith((".jsonl", ".json")):
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path} line {number}: not valid JSON ({error.msg}).") from error
                if not isinstance(record, dict):
                    raise ValueError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}.")
                records.append(record)
    elif lower.endswith((".csv", ".tsv")):
        with open(path, encoding="utf-8", newline="") as f:
            records = list(csv.DictReader(f, delimiter="\t" if lower.endswith(".tsv") else ","))
    else:
        raise ValueError(f"Unsupported manifest type: {path}. Use .csv, .tsv or .jsonl.")
    if not records:
        raise ValueError(f"Manifest {path} has no rows.")
    names = list(dict.fromkeys(k for r in records for k in r))
    return {name: [r.get(name) for r in records] for name in names}


def _label_ids(values, spec, origin, rows):
    """Labels -> int ids / multi-hot / floats, checked against the declared classes."""
    names = list(spec.names) if spec.names else None
    index = {n: i for i, n in enumerate(names)} if names else {}

    def one(value, row):
        if isinstance(value, (bytes, np.bytes_)):
            value = value.decode()
        if isinstance(value, str):
            value = value.strip()
            if value in index:
                return index[value]
            try:
                value = int(value)
            except ValueError:
                allowed = names if names else f"0..{spec.num_classes - 1}"
                raise ValueError(
                    f"{origin} row {row}: label {value!r} is not a declared class. Allowed: {allowed}"
                ) from None
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        if not isinstance(value, (int, np.integer)) or not 0 <= int(value) < spec.num_classes:
            allowed = names if names else f"0..{spec.num_classes - 1}"
            raise ValueError(f"{origin} row {row}: label {value!r} is outside the declared classes. Allowed: {allowed}")
        return int(value)

    if spec.task == "regression":
        out = []
        for value, row in zip(values, rows):
            try:
                out.append(float(value))
            except (TypeError, ValueError):
                raise ValueError(f"{origin} row {row}: regression label {value!r} is not a number.") from None
        return np.asarray(out, dtype="float32")
    if spec.task == "multilabel":
        hot = np.zeros((len(values), spec.num_classes), dtype="float32")
        for i, (value, row) in enumerate(zip(values, rows)):
            if isinstance(value, str):
                value = [v for v in value.split("|") if v.strip()]
            if isinstance(value, np.ndarray) and value.shape == (spec.num_classes,) and set(np.unique(value)) <= {0, 1}:
                hot[i] = value
                continue
            for item in value:
                hot[i, one(item, row)] = 1.0
        return hot
    ids = np.asarray([one(v, r) for v, r in zip(values, rows)], dtype="int32")
    return ids.astype("float32") if spec.task == "binary" else ids


def check_rows(columns, fields, label, origin, base_dir=None, on_error="raise", missing_numeric="nan"):
    """Checks source columns against the model's fields; returns `RawRows`.

    Args:
        columns: dict `{column: list or array}` (manifest or in-memory data).
        fields: list of `schema.Field`.
        label: `schema.LabelSpec`, or None (prediction data).
        origin: name of the source for messages (manifest path).
        base_dir: folder that relative file paths are resolved against.
        on_error: "raise" or "skip" (rows whose file is missing).
        missing_numeric: "nan" (kept, the model flags it), "zero" or "error".
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip'. Received: on_error={on_error!r}")
    if missing_numeric not in MISSING_NUMERIC_POLICIES:
        raise ValueError(
            f"`missing_numeric` must be one of {MISSING_NUMERIC_POLICIES}. "
            f"Received: missing_numeric={missing_numeric!r}"
        )
    needed = [f.column for f in fields] + ([label.column] if label else [])
    absent = [c for c in dict.fromkeys(needed) if c not in columns]
    if absent:
        raise KeyError(f"{origin}: column(s) {absent} missing. Available columns: {sorted(columns)}")
    lengths = {c: len(columns[c]) for c in dict.fromkeys(needed)}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"{origin}: columns have different lengths: {lengths}")
    n = next(iter(lengths.values()))
    rows = np.arange(1, n + 1)
    keep = np.ones(n, dtype=bool)
    out, kinds, skipped = {}, {}, []

    for f in fields:
        values = columns[f.column]
        if f.kind in ("image", "audio"):
            array = np.asarray(values) if not isinstance(values, list) else None
            if array is not None and array.dtype.kind in "fiu" and array.ndim >= 2:
                kinds[f.column] = "array"
                out[f.column] = array
                continue
            sample = next((v for v in values if not _is_missing(v)), "")
            if isinstance(sample, (bytes, np.bytes_)) and not (isinstance(sample, bytes) and _looks_like_path(sample)):
                kinds[f.column] = "bytes"
                out[f.column] = np.asarray([b"" if _is_missing(v) else bytes(v) for v in values], dtype=object)
                continue
            kinds[f.column] = "path"
            paths = []
            for i, value in enumerate(values):
                if _is_missing(value):
                    paths.append("")
                    continue
                value = value.decode() if isinstance(value, bytes) else str(value)
                path = value if os.path.isabs(value) or base_dir is None else os.path.join(base_dir, value)
                if not os.path.exists(path):
                    message = f"{origin} row {rows[i]}: {f.kind} file not found: {path} (column {f.column!r})"
                    if on_error == "raise":
                        raise FileNotFoundError(message + ". Pass on_error='skip' to skip such rows.")
                    if keep[i]:
                        skipped.append(message)
                    keep[i] = False
                paths.append(path)
            out[f.column] = np.asarray(paths, dtype=object)
        elif f.kind in ("text", "categorical"):
            texts = ["" if _is_missing(v) else (v.decode() if isinstance(v, bytes) else str(v)) for v in values]
            out[f.column] = np.asarray(texts, dtype=object)
        elif f.kind == "numeric":
            numbers = np.empty(n, dtype="float32")
            for i, value in enumerate(values):
                if _is_missing(value) or (isinstance(value, str) and value.strip() == ""):
                    if missing_numeric == "error":
                        raise ValueError(
                            f"{origin} row {rows[i]}: numeric column {f.column!r} is missing (missing_numeric='error')."
                        )
                    numbers[i] = np.nan if missing_numeric == "nan" else 0.0
                    continue
                try:
                    numbers[i] = float(value)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"{origin} row {rows[i]}: numeric column {f.column!r} has non-numeric value {value!r}."
                    ) from None
            out[f.column] = numbers

    if label is not None:
        out[label.column] = _label_ids(list(columns[label.column]), label, origin, rows)
    for message in skipped:
        print(f"mmfusion_tf.data: skipping {message}", file=sys.stderr)
    out = {k: v[keep] for k, v in out.items()}
    return RawRows(columns=out, kinds=kinds, rows=rows[keep], origin=origin, skipped=skipped)


def _looks_like_path(value):
    signatures = (b"\x89PNG", b"\xff\xd8", b"RIFF", b"GIF8", b"BM")  # PNG, JPEG, WAV, GIF, BMP
    return len(value) < 1024 and b"\x00" not in value and not value.startswith(signatures)


def read_columns(source):
    """`(columns, origin, base_dir)` of a manifest path, a pandas DataFrame or a dict of columns.

    `columns` is a new dict `{column: list or array}`; `origin` names the
    source in messages (the manifest path, or "in-memory data"); `base_dir`
    is the manifest's folder, which its relative file paths are resolved
    against (None for in-memory data).
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        return read_manifest(path), path, os.path.dirname(os.path.abspath(path))
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        return {c: source[c].to_numpy() for c in source.columns}, "in-memory data", None
    if isinstance(source, dict):
        return dict(source), "in-memory data", None
    raise TypeError(
        "`source` must be a manifest path (.csv/.tsv/.jsonl), a dict of arrays or a pandas DataFrame "
        f"(`make_dataset` also reads TFRecord files). Received: {type(source).__name__}"
    )


def from_source(source, fields, label, on_error="raise", missing_numeric="nan"):
    """`RawRows` from a manifest path, a dict of arrays or a pandas DataFrame (see `read_columns`).

    With `fields=[]` only the label column is read and checked.
    """
    columns, origin, base_dir = read_columns(source)
    return check_rows(columns, fields, label, origin, base_dir, on_error, missing_numeric)
