"""Stage `shuffle_order`: the source row each pass position reads, a new seeded permutation every pass.

Rows of a table source are looked up, not streamed, so shuffling them needs
no buffer: position `p` of pass `k` reads row
`index_shuffle(p, [seed, k], num_rows - 1)`, a bijection of `0..num_rows-1`.
The same seed gives the same passes, with or without the decoded-row cache.

Example:

>>> order = shuffle_order(num_rows=5, seed=0, pass_number=tf.Variable(0, dtype=tf.int64))
>>> sorted(order({POSITION: tf.range(5, dtype=tf.int64)})[INDEX].numpy().tolist())
[0, 1, 2, 3, 4]
"""

import tensorflow as tf

from mmfusion_tf.data.stages import INDEX, POSITION


def shuffle_order(num_rows, seed, pass_number=None):
    """`{POSITION: p}` -> the same dict with `INDEX`: the row to read at each position.

    Args:
        num_rows: rows of the source.
        seed: int, the permutation's seed.
        pass_number: int64 `tf.Variable` counting passes (the check stage
            adds 1 at the end of each), or None for the identity order.
    """

    def order(rows):
        positions = rows[POSITION]
        if pass_number is None:
            return {**rows, INDEX: positions}
        key = tf.stack([tf.constant(seed, tf.int64), pass_number.read_value()])
        return {**rows, INDEX: tf.random.experimental.index_shuffle(positions, key, num_rows - 1)}

    return order
