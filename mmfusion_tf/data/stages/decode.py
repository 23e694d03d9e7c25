"""Stage `decode_files`: image/audio inputs from paths, bytes or arrays to fixed-shape tensors.

Images come out uint8 `[height, width, channels]` at the model's size; audio
float32 mono, either at the model's rate and length (`fit_and_resample`) or,
for a column whose files share one sample rate (`ColumnScan.sample_rate`),
cropped/padded at that rate for `resample_audio` to resample a whole batch
at once. Empty cells give zeros. Bad data fails the call
(`tf.errors.InvalidArgumentError`).

On one row (`batch_size=None`) every file goes through the general decoders
(`decoders.decode_image`, `decoders.decode_wav`). On a batch, columns the
header scan vouches for take the fast reads: every file is read (and a PNG
decoded) by its own op, `batch_size` ops side by side with no loop, and
16-bit PCM samples are cut out of the file bytes at the scanned offsets
(`decoders.decode_pcm16_batch`); other columns go through `tf.map_fn`. A
batch whose file no longer matches its scan fails whole; the check stage
decodes its rows again one by one.

Example:

>>> decode = decode_files(fields, kinds={"image": "path"}, scans={"image": scan_column("image", paths)}, batch_size=64)
>>> decode({"image": tf.constant(paths[:3]), INDEX: tf.constant([0, 1, 2], tf.int64)})["image"].shape
TensorShape([3, 28, 28, 1])
"""

import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.scan import ColumnScan
from mmfusion_tf.data.stages import INDEX


def source_length(field, scan):
    """Samples kept per row before resampling: at the column's one sample rate, else the model's."""
    if field.kind == "audio" and scan.sample_rate:
        return int(round(field.num_samples * scan.sample_rate / field.sample_rate))
    return field.num_samples


def decoded_spec(field, scan=ColumnScan()):
    """`tf.TensorSpec` of one row's decoded value (audio at the column's source rate when it has one)."""
    if field.kind == "image":
        return tf.TensorSpec([*field.image_size, field.channels], tf.uint8)
    return tf.TensorSpec([source_length(field, scan)], tf.float32)


def _decode_array(field, value):
    if field.kind == "image":
        image = value if value.dtype == tf.uint8 else tf.cast(value, tf.uint8)
        image = image[..., None] if image.shape.rank == 2 else image
        if image.shape[-1] != field.channels:
            image = decoders.convert_channels(image, field.channels)
        return decoders.fit_image(image, field.image_size)
    return decoders.fit_length(tf.cast(value, tf.float32), field.num_samples)


def _decode_contents(field, scan, contents):
    if field.kind == "image":
        return decoders.fit_image(decoders.decode_image(contents, channels=field.channels), field.image_size)
    audio, rate = decoders.decode_wav(contents)
    if scan.sample_rate:  # every file's rate was read by the header scan: resampled per batch
        return decoders.fit_length(audio, source_length(field, scan))
    return decoders.fit_and_resample(audio, rate, field.sample_rate, field.num_samples)


def _value_decoder(field, kind, scan):
    """One row's value (path / bytes / array) -> its decoded tensor."""
    if kind == "array":  # arrays have no missing cells
        return lambda value: _decode_array(field, value)
    spec = decoded_spec(field, scan)

    def decode(value):
        def decoded():  # not run for an empty cell
            return _decode_contents(field, scan, tf.io.read_file(value) if kind == "path" else value)

        return decoders.or_zeros(value, spec.shape, spec.dtype, decoded, scan.has_empty)

    return decode


def _read_side_by_side(paths, read, scan, size, shape=None):
    """`read(path)` of every path of a batch of at most `size`, as `size` separate ops (no loop).

    Separate ops run side by side without a loop's bookkeeping. Empty cells
    and the rows padding the batch to `size` read `scan.filler` (a file of
    the same column) and come out as zeros (or empty strings). With `shape`,
    the stacked values are checked to have it, once per batch.
    """
    count = tf.shape(paths)[0]
    present = tf.strings.length(paths) > 0
    if scan.has_empty:
        paths = tf.where(present, paths, scan.filler)
    padded = tf.reshape(tf.concat([paths, tf.fill([size - count], scan.filler)], 0), [size])
    values = tf.stack([read(path) for path in tf.unstack(padded)])[:count]
    if shape is not None:
        values = tf.ensure_shape(values, [None, *shape])  # e.g. a PNG rewritten at another size fails the batch
    if scan.has_empty:
        mask = tf.reshape(present, [-1] + [1] * (values.shape.rank - 1))
        values = tf.where(mask, values, tf.zeros([], values.dtype) if values.dtype != tf.string else "")
    return values


def _batch_reader(field, kind, scan, size):
    """`(paths, row indices) -> decoded batch` for a column the header scan vouches for, else None."""
    if kind != "path" or scan.filler is None:
        return None
    spec = decoded_spec(field, scan)
    if field.kind == "image" and scan.png_shape == tuple(spec.shape):

        def decode_png(path):
            return tf.io.decode_png(tf.io.read_file(path), channels=0)  # the stacked shape is checked once

        return lambda paths, rows: _read_side_by_side(paths, decode_png, scan, size, spec.shape)
    if field.kind == "audio" and scan.pcm16:
        at = {name: tf.constant(getattr(scan, name)) for name in ("offsets", "sizes", "chunk_headers")}

        def decode_pcm16(paths, rows):
            contents = _read_side_by_side(paths, tf.io.read_file, scan, size)
            found = {name: tf.gather(values, rows) for name, values in at.items()}
            return decoders.decode_pcm16_batch(contents, found["offsets"], found["sizes"], found["chunk_headers"],
                                               num_frames=spec.shape[0], channels=scan.channels)

        return decode_pcm16
    return None


def decode_files(fields, kinds, scans=None, batch_size=None):
    """An example -> the same example with its image/audio inputs decoded.

    Args:
        fields: `schema.Field`s of the model's inputs (others pass through).
        kinds: `{column: "path" | "bytes" | "array"}` of image/audio columns.
        scans: `{column: scan.ColumnScan}` of file columns; missing ones
            count as unscanned (general decoders, resampled per row).
        batch_size: None to decode one row; else examples are batches of at
            most this many rows (and carry `INDEX` when a column is
            16-bit PCM: the scanned offsets are looked up by row).
    """
    scans = scans or {}
    file_fields = [f for f in fields if f.kind in ("image", "audio")]
    scan_of = {f.name: scans.get(f.column, ColumnScan()) for f in file_fields}
    decoders_ = {f.name: _value_decoder(f, kinds[f.column], scan_of[f.name]) for f in file_fields}
    readers = {}
    if batch_size is not None:
        readers = {f.name: _batch_reader(f, kinds[f.column], scan_of[f.name], batch_size) for f in file_fields}
    looped = [f for f in file_fields if readers.get(f.name) is None]

    def per_row(values):
        return tuple(decoders_[f.name](value) for f, value in zip(looped, values))

    def decode(example):
        example = dict(example)
        if batch_size is None:
            for f in file_fields:
                example[f.name] = decoders_[f.name](example[f.name])
            return example
        if looped:
            specs = tuple(decoded_spec(f, scan_of[f.name]) for f in looped)
            values = tf.map_fn(per_row, tuple(example[f.name] for f in looped), fn_output_signature=specs)
            example.update({f.name: value for f, value in zip(looped, values)})
        for f in file_fields:
            if readers.get(f.name) is not None:
                example[f.name] = readers[f.name](example[f.name], example.get(INDEX))
        return example

    return decode


def resample_audio(fields, scans):
    """Stage: a batch of examples -> the same with audio of a one-rate column resampled to the model's rate.

    Each row comes out as `decoders.fit_and_resample` (what serving does)
    gives it; one FFT for the whole batch (`decoders.resample_batch`).
    Columns without a common rate were resampled row by row by
    `decode_files`; then this stage changes nothing.
    """
    rates = [(f, scans.get(f.column, ColumnScan()).sample_rate) for f in fields if f.kind == "audio"]
    rates = [(f, rate) for f, rate in rates if rate]

    def resample(example):
        example = dict(example)
        for f, rate in rates:
            example[f.name] = decoders.resample_batch(example[f.name], rate, f.sample_rate, f.num_samples)
        return example

    return resample
