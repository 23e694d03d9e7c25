"""`DecodedRowCache`: decoded image/audio values kept in memory by source row.

`make_dataset` decodes a batch of rows from their files, then stores the
decoded values in variables indexed by row and marks those rows stored. A
later batch whose rows are all stored is gathered from memory instead of
decoded. Rows are found by index, not by stream position. So, unlike
`Dataset.cache()`:
- every pass keeps the stateless shuffle order of an uncached pipeline;
- a pass cut short (`take`, `steps_per_epoch`) keeps what it decoded, with
  no warning;
- a row that fails to decode is never stored, so it is tried (and named,
  counted or raised) again on every pass.

Once every row is stored, each batch takes the gathering branch of a
`tf.cond`. The decoding branch is still instantiated by every new iterator
(every epoch of `fit`), which costs little because the pipeline's functions
take the single-device path (`single_device.py`): on AV-digits a pass
gathering everything took ~49 ms, iterator included, against ~45 ms for a
pipeline that only gathers.

Example:

>>> cache = DecodedRowCache({"image": tf.TensorSpec([28, 28, 1], tf.uint8)}, num_rows=100)
>>> decode = cache.wrap(decode_batch, row_index, from_values)
"""

import os

import tensorflow as tf

AUTO_CACHE_FRACTION = 0.25  # `cache="auto"` caches when the decoded values take at most this share of free memory


def free_memory_bytes():
    """Physical memory available now, or 0 where the OS does not say (then `cache="auto"` does not cache)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


class DecodedRowCache:
    """Variables holding `num_rows` decoded values per name, and which rows hold them.

    Args:
        specs: `{feature name: tf.TensorSpec of one row}`, fully defined shapes.
        num_rows: rows of the source.
    """

    def __init__(self, specs, num_rows):
        self.specs = dict(specs)
        self.stored = tf.Variable(tf.zeros([num_rows], tf.bool), trainable=False, name="decoded_row_stored")
        self.values = {
            name: tf.Variable(tf.zeros([num_rows, *spec.shape], spec.dtype), trainable=False, name=f"decoded_{name}")
            for name, spec in self.specs.items()
        }

    def gather(self, rows):
        """`{name: stored values of rows}`."""
        return {name: tf.gather(v, rows) for name, v in self.values.items()}

    @staticmethod
    def nbytes(specs, num_rows):
        """Memory the cache of `specs` for `num_rows` rows takes."""
        return num_rows * sum(spec.shape.num_elements() * spec.dtype.size for spec in specs.values())

    def wrap(self, decode, row_indices, from_values):
        """`decode(positions) -> example`, storing decoded rows and reusing them.

        Args:
            decode: `(positions, rows)` -> example (a dict holding every name
                of `specs`); `rows` are the source row indices.
            row_indices: positions -> source row indices (computed once per call).
            from_values: `(positions, rows, {name: values})` -> the same
                example built from stored values.
        """

        def decode_or_gather(positions):
            rows = row_indices(positions)

            def gathered():
                return from_values(positions, rows, self.gather(rows))

            def decoded_and_stored():
                example = decode(positions, rows)
                writes = [v.scatter_update(tf.IndexedSlices(example[name], rows)) for name, v in self.values.items()]
                with tf.control_dependencies(writes):  # a row is marked only once its values are in place
                    marked = self.stored.scatter_update(tf.IndexedSlices(tf.ones_like(rows, tf.bool), rows))
                with tf.control_dependencies([marked]):
                    return tf.nest.map_structure(tf.identity, example)

            return tf.cond(tf.reduce_all(tf.gather(self.stored, rows)), gathered, decoded_and_stored)

        return decode_or_gather
