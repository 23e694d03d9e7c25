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

`RowCachedDataset` is what `make_dataset` returns with such a cache: the
full pipeline, except that once every row is stored, iterating it runs a
pipeline that only gathers from the cache. Keras creates a new iterator
every epoch, and a new tf.data iterator instantiates (and optimises) every
function of its pipeline again, the decoding branch included even when it
is never taken: ~105-120 ms per epoch on AV-digits, against ~20-35 ms for the
gathering pipeline.

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

    def complete(self):
        """Whether every row is stored (eager)."""
        return bool(tf.reduce_all(self.stored))

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


class RowCachedDataset(tf.data.Dataset):
    """`full` (a `tf.data.Dataset`) whose iterators read `make_stored()` instead once `cache` is complete.

    Transformations (`map`, `take`, a distribution strategy's rebatching)
    build on `full`, which reads the cache too, only with the decoding
    branch instantiated; `iter()` (as `fit`, `evaluate` and for-loops call
    it) picks the gathering pipeline. Both give the same elements in the
    same order. `make_stored` is called (and traced) at the first `iter()`,
    so that a dataset never iterated does not pay for it, and `fit` pays in
    its first epoch (with the rest of the tracing), not in a later one.
    """

    def __init__(self, full, make_stored, cache):
        self._full, self._make_stored, self._stored, self._cache = full, make_stored, None, cache
        super().__init__(full._variant_tensor)

    def _inputs(self):
        return [self._full]

    @property
    def element_spec(self):
        return self._full.element_spec

    def __iter__(self):
        if not tf.executing_eagerly():  # inside a tf.function: the full pipeline
            return iter(self._full)
        if self._stored is None:
            self._stored = self._make_stored()
        if self._cache.complete():
            return iter(self._stored)
        return iter(self._full)
