"""Stage `read_rows`: the checked source columns at the rows a batch reads.

A manifest, DataFrame or dict is read and checked in Python once
(`sources.from_source`: columns, files, labels, numbers), then kept as one
constant tensor per column; reading rows is a gather. `RowTable.describe`
names rows in messages, by their source row and files.

Example:

>>> table = RowTable(raw_rows)   # from sources.from_source
>>> read_rows(table)({INDEX: tf.constant([2, 0], tf.int64)})["label"]
<tf.Tensor: shape=(2,), dtype=int32, numpy=array([2, 0], dtype=int32)>
"""

import tensorflow as tf

from mmfusion_tf.data.stages import INDEX


class RowTable:
    """The columns of a `sources.RawRows` as tensors, and how to name its rows.

    Attributes:
        columns: `{column: constant tensor}`, one entry per kept row.
        num_rows: rows kept.
    """

    def __init__(self, raw):
        self.raw = raw
        self.columns = {name: tf.constant(values) for name, values in raw.columns.items()}
        self.num_rows = len(raw)

    def describe(self, indices):
        """`["<origin> row <n> (<column>: <file>) ...", ...]` for row indices (Python ints)."""
        paths = [c for c, kind in self.raw.kinds.items() if kind == "path"]
        return [
            f"{self.raw.origin} row {self.raw.rows[i]}" + "".join(f" ({c}: {self.raw.columns[c][i]})" for c in paths)
            for i in indices
        ]


def read_rows(table):
    """`{INDEX: rows, ...}` -> the same dict with every column of `table` at those rows."""

    def read(rows):
        return {**rows, **{name: tf.gather(column, rows[INDEX]) for name, column in table.columns.items()}}

    return read
