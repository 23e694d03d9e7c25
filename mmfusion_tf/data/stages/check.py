"""Stage `check_rows`: rows that failed to decode, named (`on_error="raise"`) or skipped and counted.

Decoding runs under `Dataset.ignore_errors()`, which drops whatever fails
without a word. Every example carries its `POSITION` in the pass, so the
rows it dropped show as gaps; this sequential stage finds them, first
decodes them again one row at a time when it can (`recover`: a batch
decoded whole fails for one bad row, or for a file changed since the
header scan), and turns the rows that fail again into an error naming the
first (`InvalidArgumentError`) or into lines on stderr and a count in the
`ErrorReport`. A batch of no rows after the last (`with_end_of_pass`) ends
the pass: rows missing at its end are handled the same way, then the
pass's bookkeeping: the count kept (and printed with "skip"), the next
pass's shuffle order.

A batch that follows the previous one without a gap only moves the last
position on; anything else (a gap, the end of the pass) is handled in
Python, through `tf.py_function`. A new iterator (every epoch of `fit`)
instantiates and optimises the graph of every function of a pipeline, and
this one's stays small. The state (last position seen, skip counts, pass
number) lives in the `ErrorReport`.

Example:

>>> check = check_rows(report, "raise", "train.csv", name_rows, end_position=lambda: tf.constant(8, tf.int64))
>>> ds = with_end_of_pass(decoded.ignore_errors()).map(check)
"""

import sys

import tensorflow as tf

from mmfusion_tf.data.stages import POSITION


class ErrorReport:
    """Counts rows skipped with `on_error="skip"`; read `last_pass` after a pass.

    It also holds the state the check stage keeps between batches (the last
    position seen, the pass number that seeds the shuffle order, records
    counted in a TFRecord pass).

    Example:

    >>> report = ErrorReport()
    >>> ds = make_dataset("train.csv", config, DataConfig(on_error="skip"), report=report)
    >>> for _ in ds: pass
    >>> int(report.last_pass)          # rows skipped in the pass that just ended
    2
    """

    def __init__(self):
        self.running = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_running")
        self.last_pass = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_last_pass")
        self.previous = tf.Variable(-1, dtype=tf.int64, trainable=False, name="previous_position")
        self.pass_number = tf.Variable(0, dtype=tf.int64, trainable=False, name="pass_number")
        self.records = tf.Variable(0, dtype=tf.int64, trainable=False, name="records_read")
        self.checked_before = 0  # rows dropped in Python (missing files) before any pass


def recover_rows(decode_row, finish):
    """Python: `positions -> batch or None`, the rows at `positions` decoded again one by one.

    `decode_row(position)` decodes the row at one position (a scalar) into a
    batch of one; rows that fail again are left out (the check names or
    counts them); `finish(batch)` completes the rows decoded (e.g.
    resampling). Both run eagerly, op by op in the calling thread: called
    from the check's `tf.py_function`, they wait for no thread pool that
    the pipeline may be holding.
    """

    def recover(positions):
        rows = []
        for position in positions:
            try:
                rows.append(decode_row(tf.constant(position, tf.int64)))
            except tf.errors.OpError:
                continue
        return finish(tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *rows)) if rows else None

    return recover


def empty_batch(spec):
    """A batch of no rows with the structure of `spec` (a batched `element_spec`)."""
    return tf.nest.map_structure(lambda s: tf.zeros([0, *s.shape[1:]], s.dtype), spec)


def with_end_of_pass(batches):
    """`batches` and then one batch of no rows: what tells `check_rows` that the pass ended.

    Decoded batches are never empty (`ignore_errors` drops a failed batch
    whole), and an empty batch vanishes in `unbatch` or `rebatch`.
    """
    return batches.concatenate(tf.data.Dataset.from_tensors(empty_batch(batches.element_spec)))


def check_rows(report, on_error, origin, name_rows, end_position, recover=None):
    """Stage: a batch of decoded examples -> the same, after the rows missing before it (a sequential map).

    An empty batch (`with_end_of_pass`) ends the pass: the rows missing at
    its end are handled too, then the pass's bookkeeping.

    Args:
        report: the `ErrorReport` holding the state between batches and passes.
        on_error: "raise" or "skip".
        origin: the source's name, for the end-of-pass line.
        name_rows: `positions (Python ints) -> ["<source> row <n> (<files>)", ...]`.
        end_position: `() -> int` (or int tensor), the number of rows in the pass.
        recover: optional `recover_rows(...)`; missing rows are first decoded again.
    """

    def end_pass():
        total = int(report.running.numpy()) + report.checked_before
        if on_error == "skip":
            print(f"mmfusion_tf.data: end of pass over {origin} - skipped {total} row(s) with missing or unreadable "
                  "files (on_error='skip')", file=sys.stderr, flush=True)
        report.last_pass.assign(total)
        report.pass_number.assign_add(1)  # the next pass's shuffle order
        report.running.assign(0)
        report.previous.assign(-1)

    def check_in_python(batch):
        """`(batch with the rows recovered before it, error message or "")`, run eagerly."""
        positions = batch[POSITION].numpy().tolist()
        previous, ends = int(report.previous.numpy()), not positions
        upto = int(end_position()) if ends else positions[0]
        if recover is not None and upto > previous + 1:  # not after a pass cut short: `previous` is further on
            again = recover(range(previous + 1, upto))
            if again is not None:
                batch = tf.nest.map_structure(lambda a, b: tf.concat([a, b], 0), again, batch)
                positions = again[POSITION].numpy().tolist() + positions
        seen = positions + [upto] if ends else positions  # the end of the pass counts as a position
        missing = sorted(set(range(previous + 1, seen[-1])) - set(seen))
        if missing and on_error == "raise":
            first = name_rows(missing[:1])[0]
            return batch, f"mmfusion_tf.data: could not read or decode {first}. Pass on_error='skip' to skip such rows."
        if missing:
            for name in name_rows(missing):
                print(f"mmfusion_tf.data: skipping unreadable {name}", file=sys.stderr, flush=True)
            report.running.assign_add(len(missing))
        report.previous.assign(seen[-1])
        if ends:
            end_pass()
        return batch, ""

    def check_through_python(batch):
        spec = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape, t.dtype), batch)
        flat_spec = tf.nest.flatten(spec)

        def run(*flat):
            checked, message = check_in_python(tf.nest.pack_sequence_as(spec, list(flat)))
            return tf.nest.flatten(checked) + [tf.constant(message)]

        *flat, message = tf.py_function(run, tf.nest.flatten(batch), Tout=[s.dtype for s in flat_spec] + [tf.string])
        for tensor, s in zip(flat, flat_spec):
            tensor.set_shape(s.shape)
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(message, ""), [message], summarize=1)]):
            return tf.nest.map_structure(tf.identity, tf.nest.pack_sequence_as(spec, flat))

    def check(batch):
        positions = batch[POSITION]
        size = tf.size(positions, out_type=tf.int64)
        previous = report.previous.read_value()
        # The usual batch follows the previous one without a gap: only the position moves on.
        follows = tf.cond(size > 0, lambda: (positions[0] == previous + 1) & (positions[-1] - positions[0] == size - 1),
                          lambda: tf.constant(False))

        def moved_on():
            with tf.control_dependencies([report.previous.assign(positions[-1])]):
                return tf.nest.map_structure(tf.identity, batch)

        return tf.cond(follows, moved_on, lambda: check_through_python(batch))

    return check
