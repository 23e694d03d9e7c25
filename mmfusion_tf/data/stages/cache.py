"""Stage `cache_decoded`: decoded image/audio values kept in memory by source row.

Wraps the decoding stages: a batch whose rows (`INDEX`) are all stored is
gathered from memory; any other batch is decoded and its rows stored.
Rows are found by index, not by stream position, so, unlike
`Dataset.cache()`:
- every pass keeps the shuffle order of an uncached pipeline;
- a pass cut short (`take`, `steps_per_epoch`) keeps what it decoded, with
  no warning;
- a row that fails to decode is never stored, so it is tried (and named,
  counted or raised) again on every pass.

A file changed after its row was stored is not read again.

Example:

>>> cache = DecodedRowCache({"image": tf.TensorSpec([2, 2, 1], tf.uint8)}, num_rows=3)
>>> decode = cache_decoded(cache, lambda example: {**example, "image": tf.ones([2, 2, 2, 1], tf.uint8)})
>>> decode({INDEX: tf.constant([0, 2], tf.int64)})["image"].shape, cache.stored.numpy().tolist()
(TensorShape([2, 2, 2, 1]), [True, False, True])
"""

import os

import tensorflow as tf

from mmfusion_tf.data.stages import INDEX

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
        specs: `{input name: tf.TensorSpec of one row}`, fully defined shapes.
        num_rows: rows of the source.
    """

    def __init__(self, specs, num_rows):
        self.specs = dict(specs)
        self.stored = tf.Variable(tf.zeros([num_rows], tf.bool), trainable=False, name="decoded_row_stored")
        self.values = {
            name: tf.Variable(tf.zeros([num_rows, *spec.shape], spec.dtype), trainable=False, name=f"decoded_{name}")
            for name, spec in self.specs.items()
        }

    @staticmethod
    def nbytes(specs, num_rows):
        """Memory the cache of `specs` for `num_rows` rows takes."""
        return num_rows * sum(spec.shape.num_elements() * spec.dtype.size for spec in specs.values())

    @classmethod
    def fitting(cls, specs, num_rows):
        """A cache when it takes at most `AUTO_CACHE_FRACTION` of the free memory, else None."""
        if cls.nbytes(specs, num_rows) > AUTO_CACHE_FRACTION * free_memory_bytes():
            return None
        return cls(specs, num_rows)


def gather_decoded(cache):
    """Stage: a batch of examples -> the same with the decoded values `cache` holds for its rows (`INDEX`)."""

    def gather(example):
        return {**example, **{name: tf.gather(v, example[INDEX]) for name, v in cache.values.items()}}

    return gather


def cache_decoded(cache, decode):
    """Stage: `decode` (a batch of examples -> the same, decoded) reading and filling `cache` by `INDEX`."""
    gather = gather_decoded(cache)

    def decode_or_gather(example):
        rows = example[INDEX]

        def decoded_and_stored():
            decoded = decode(example)
            writes = [v.scatter_update(tf.IndexedSlices(decoded[name], rows)) for name, v in cache.values.items()]
            with tf.control_dependencies(writes):  # a row is marked only once its values are in place
                marked = cache.stored.scatter_update(tf.IndexedSlices(tf.ones_like(rows, tf.bool), rows))
            with tf.control_dependencies([marked]):
                return tf.nest.map_structure(tf.identity, decoded)

        return tf.cond(tf.reduce_all(tf.gather(cache.stored, rows)), lambda: gather(example), decoded_and_stored)

    return decode_or_gather
