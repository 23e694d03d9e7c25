"""Limits on raw serving inputs, checked inside the graph before anything big is allocated.

An encoded image declares its size in its header; a 50 kB PNG can claim
50000×50000 pixels (7.5 GB decoded). `image_header` reads width and height
from the header bytes alone — PNG IHDR, GIF screen and frame descriptors,
BMP info header, JPEG SOF via `tf.image.extract_jpeg_shape` — so
`decode_checked_image` can reject such a file with INVALID_ARGUMENT before
the decoder runs. Every message names the input and the example.
"""

import tensorflow as tf

from mmfusion_tf.data import decoders

# Format ids returned by `image_header`.
UNKNOWN, JPEG, PNG, GIF, BMP = 0, 1, 2, 3, 4
SUPPORTED_IMAGE_FORMATS = "JPEG, PNG, GIF, BMP"

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GIF_IMAGE, _GIF_EXTENSION = 0x2C, 0x21
# How each format's file ends, searched for in its last `_TAIL_BYTES` bytes (writers may pad after it).
_ENDINGS = {PNG: (b"IEND", "IEND chunk"), JPEG: (b"\xff\xd9", "end-of-image marker (FF D9)"),
            GIF: (b"\x3b", "trailer byte (3B)")}
_TAIL_BYTES = 32


def _read_bytes(contents, pos, num_bytes):
    """`num_bytes` bytes of `contents` from `pos` as int64 values, zero past the end."""
    # substr fails past the end
    pos = tf.minimum(tf.cast(pos, tf.int64), tf.cast(tf.strings.length(contents), tf.int64))
    padded = tf.strings.join([tf.strings.substr(contents, pos, num_bytes), b"\x00" * num_bytes])
    return tf.cast(tf.io.decode_raw(tf.strings.substr(padded, 0, num_bytes), tf.uint8), tf.int64)


def _big_endian(b, start, count):
    value = tf.constant(0, tf.int64)
    for i in range(count):
        value = value * 256 + b[start + i]
    return value


def _little_endian(b, start, count):
    return _big_endian(tf.reverse(b[start : start + count], [0]), 0, count)


def _color_table_bytes(packed):
    """Size of a GIF colour table announced by a packed-fields byte (0 when absent)."""
    return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), packed % 8), 0)


def _gif_frame_pixels(contents, size, header):
    """Sum of width×height over the frames of a GIF (giflib allocates every frame's raster).

    Walks the block structure: image descriptors (0x2C, plus local colour
    table and LZW code size), extensions (0x21), each followed by data
    sub-blocks, until the trailer. Only headers and sub-block lengths are
    read, about one step per 255 bytes of data.
    """

    def not_done(pos, in_blocks, pixels, done):
        return ~done & (pos < size)

    def step(pos, in_blocks, pixels, done):
        b = _read_bytes(contents, pos, 10)

        def sub_block():
            return tf.where(b[0] == 0, pos + 1, pos + 1 + b[0]), b[0] != 0, pixels, done

        def block():
            is_image = b[0] == _GIF_IMAGE
            frame = _little_endian(b, 5, 2) * _little_endian(b, 7, 2)
            image_end = pos + 10 + _color_table_bytes(b[9]) + 1  # descriptor, local table, LZW code size
            return (
                tf.where(is_image, image_end, pos + 2),
                is_image | (b[0] == _GIF_EXTENSION),
                pixels + tf.where(is_image, frame, 0),
                ~is_image & (b[0] != _GIF_EXTENSION),  # trailer (0x3B) or garbage
            )

        return tf.cond(in_blocks, sub_block, block)

    start = 13 + _color_table_bytes(header[10])
    zero = tf.constant(0, tf.int64)
    _, _, pixels, _ = tf.while_loop(not_done, step, (start, tf.constant(False), zero, tf.constant(False)))
    return pixels


def _format_flags(contents, size):
    """`(is_png, is_gif, is_bmp, is_jpeg)` from the signature bytes alone."""
    return (
        tf.equal(tf.strings.substr(contents, 0, 8), _PNG_SIGNATURE) & (size >= 24),
        tf.equal(tf.strings.substr(contents, 0, 4), b"GIF8") & (size >= 13),
        tf.equal(tf.strings.substr(contents, 0, 2), b"BM") & (size >= 26),
        tf.equal(tf.strings.substr(contents, 0, 3), b"\xff\xd8\xff"),
    )


def image_format(contents):
    """The format id (`JPEG`, `PNG`, `GIF`, `BMP`, `UNKNOWN`) of encoded image bytes, from their signature."""
    contents = tf.convert_to_tensor(contents, tf.string)
    flags = _format_flags(contents, tf.cast(tf.strings.length(contents), tf.int64))
    ids = tf.constant([PNG, GIF, BMP, JPEG], tf.int64)
    return tf.reduce_max(tf.where(tf.stack(flags), ids, UNKNOWN))


def image_header(contents):
    """Format, height, width and decoded pixel count declared by an encoded image's header.

    Nothing is decoded: the values come from the first bytes (JPEG through
    `tf.image.extract_jpeg_shape`, which reads the header only). For a GIF,
    `pixels` is the larger of the screen size and the sum over its frames.

    Args:
        contents: Scalar string tensor, the encoded file's bytes.

    Returns:
        `(format, height, width, pixels)`: int64 scalars; `format` is one of
        `JPEG`, `PNG`, `GIF`, `BMP` or `UNKNOWN` (then the sizes are 0).

    Example:

    >>> png = tf.io.encode_png(tf.zeros([2, 3, 1], tf.uint8))
    >>> [int(v) for v in image_header(png)]
    [2, 2, 3, 6]
    """
    with tf.name_scope("image_header"):
        contents = tf.convert_to_tensor(contents, tf.string)
        size = tf.cast(tf.strings.length(contents), tf.int64)
        b = _read_bytes(contents, 0, 26)
        is_png, is_gif, is_bmp, is_jpeg = _format_flags(contents, size)

        def signed32(value):  # BMP stores int32; a negative height means top-down rows
            return tf.abs(tf.where(value >= 2**31, value - 2**32, value))

        jpeg = tf.cond(
            is_jpeg,
            lambda: tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64),  # reads the header only
            lambda: tf.zeros([2], tf.int64),
        )
        headers = [  # (is this format, [format, height, width])
            (is_png, [PNG, _big_endian(b, 20, 4), _big_endian(b, 16, 4)]),
            (is_gif, [GIF, _little_endian(b, 8, 2), _little_endian(b, 6, 2)]),
            (is_bmp, [BMP, signed32(_little_endian(b, 22, 4)), signed32(_little_endian(b, 18, 4))]),
            (is_jpeg, [JPEG, jpeg[0], jpeg[1]]),
        ]
        image_format, height, width = tf.unstack(tf.case(
            [
                (found, lambda values=values: tf.stack([tf.cast(v, tf.int64) for v in values]))
                for found, values in headers
            ],
            default=lambda: tf.zeros([3], tf.int64),
        ))
        frames = tf.cond(is_gif, lambda: _gif_frame_pixels(contents, size, b), lambda: tf.constant(0, tf.int64))
        return image_format, height, width, tf.maximum(height * width, frames)


def _tail_contains(contents, size, ending):
    """Whether `ending` (bytes without a zero byte) occurs in the last `_TAIL_BYTES` bytes of `contents`."""
    tail = _read_bytes(contents, tf.maximum(size - _TAIL_BYTES, 0), _TAIL_BYTES + len(ending))  # zero-padded
    found = tf.ones([_TAIL_BYTES], tf.bool)
    for i, byte in enumerate(ending):
        found &= tf.equal(tail[i : i + _TAIL_BYTES], byte)
    return tf.reduce_any(found)


def input_prefix(name, index):
    """Message prefix naming the input (and the example, when `index` is given)."""
    if index is None:
        return f"Input `{name}`: "
    return tf.strings.join([f"Input `{name}` example ", tf.strings.as_string(index), ": "])


def decode_checked_image(contents, index, name, channels, max_bytes, max_pixels):
    """`decoders.decode_image` after the size checks; raises INVALID_ARGUMENT naming `name`.

    Checked in order, each before the next step runs: the encoded size
    (`max_bytes`), a supported format, and the pixel count declared by the
    header (`max_pixels`). Only then is the image decoded.

    Args:
        contents: Scalar string tensor, one encoded image.
        index: int scalar tensor, the example's position in the request.
        name: String, the input name used in messages.
        channels: Int, 1, 3 or 4.
        max_bytes: Int, largest accepted encoded size.
        max_pixels: Int, largest accepted height × width (GIF: summed over frames).

    Returns:
        uint8 tensor `[height, width, channels]`.
    """
    checks = decoders.Checks()
    size = tf.cast(tf.strings.length(contents), tf.int64)
    where = input_prefix(name, index)
    checks.check(
        size <= max_bytes,
        tf.strings.join([
            where,
            tf.strings.format("the encoded image has {} bytes, more than max_image_bytes={}.", [size, max_bytes]),
        ]),
    )
    file_format = image_format(contents)
    checks.check(
        file_format != UNKNOWN,
        tf.strings.join([
            where, f"not a {SUPPORTED_IMAGE_FORMATS} image. First bytes (hex): ", decoders.quote_bytes(contents, 8),
        ]),
    )
    # Truncation first: JPEG's header reader fails on a file cut inside its header, with a message naming nothing.
    for known_format, (ending, description) in _ENDINGS.items():
        checks.check(
            (file_format != known_format) | _tail_contains(contents, size, ending),
            tf.strings.join([where, f"the file is truncated: no {description} at its end."]),
        )
    declared = _little_endian(_read_bytes(contents, 2, 4), 0, 4)  # BMP: the file size in its header
    checks.check(
        (file_format != BMP) | (declared <= size),
        tf.strings.join([where, tf.strings.format("the BMP file is truncated: its header says {} bytes, it has {}.",
                                                  [declared, size])]),
    )
    with checks.after():
        _, height, width, pixels = image_header(contents)
    checks.check(
        pixels <= max_pixels,
        tf.strings.join([
            where,
            tf.strings.format(
                "the image header declares {}x{} pixels ({} decoded), more than max_image_pixels={}.",
                [height, width, pixels, max_pixels],
            ),
        ]),
    )
    with checks.after():
        return decoders.decode_image(contents, channels=channels, name=name)


def check_text(text, name, max_length):
    """`text` (`[batch]` strings) after checking each is valid UTF-8 of at most `max_length` characters."""
    checks = decoders.Checks()
    valid = tf.equal(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"), text)
    invalid = _first(~valid)
    checks.check(
        tf.reduce_all(valid),
        tf.strings.join([input_prefix(name, invalid), "the text is not valid UTF-8. First bytes (hex): ",
                         decoders.quote_bytes(_pick(text, invalid, ""), 16)]),
    )
    with checks.after():
        lengths = tf.strings.length(text, unit="UTF8_CHAR")
    too_long = lengths > max_length
    longest = _first(too_long)
    checks.check(
        ~tf.reduce_any(too_long),
        tf.strings.join([
            input_prefix(name, longest),
            tf.strings.format("the text has {} characters, more than max_text_length={}.",
                              [_pick(lengths, longest, 0), max_length]),
        ]),
    )
    with checks.after():
        return tf.identity(text)


def check_numeric(values, name, max_abs):
    """`values` (`[batch]` float32) after checking none is ±inf or beyond ±`max_abs` (NaN = missing passes)."""
    bad = tf.math.is_inf(values) | (tf.abs(values) > max_abs)
    index = _first(bad)
    checks = decoders.Checks()
    checks.check(
        ~tf.reduce_any(bad),
        tf.strings.join([
            input_prefix(name, index),
            tf.strings.format("the value {} is out of range: numbers must be finite and within ±max_abs_numeric={} "
                              "(NaN means missing).", [_pick(values, index, 0.0), max_abs]),
        ]),
    )
    with checks.after():
        return tf.identity(values)


def check_batch(inputs, max_batch_size):
    """`(inputs, checks)`: every input of `inputs` (name -> `[batch, ...]`) checked for its signature's shape, and
    `decoders.Checks` that they share one batch size, at most `max_batch_size`.

    A signature accepts tensors of any shape at run time, and a wrong rank
    would fail later naming nothing; `tf.ensure_shape` runs even where the
    static shape says it holds, and its node is named `<input>_shape`.
    Create the ops that use the inputs under `checks.after()`.
    """
    names = sorted(inputs)
    inputs = {n: tf.ensure_shape(inputs[n], inputs[n].shape, name=f"{n}_shape") for n in names}
    sizes = tf.stack([tf.shape(inputs[n], out_type=tf.int64)[0] for n in names])
    checks = decoders.Checks()
    checks.check(
        tf.reduce_all(tf.equal(sizes, sizes[0])),
        tf.strings.format(
            "Inputs have different batch sizes: " + ", ".join(f"`{n}` {{}}" for n in names)
            + ". Send one value per example in every input.", tf.unstack(sizes)),
    )
    checks.check(
        sizes[0] <= max_batch_size,
        tf.strings.format("The request has {} examples, more than max_batch_size={}. Split it into smaller requests.",
                          [sizes[0], max_batch_size]),
    )
    return inputs, checks


def check_wav_header(header, limits):
    """Adds `limits`' sample-rate range and duration to a `decoders.WavHeader`'s checks (no sample decoded yet).

    Messages start with the header's own `where` (see `decoders.read_wav_header`).
    """
    low, high = limits.min_audio_sample_rate, limits.max_audio_sample_rate
    header.checks.check(
        (header.sample_rate >= low) & (header.sample_rate <= high),
        tf.strings.format(
            "the WAV header declares a sample rate of {} Hz, outside [{}, {}] Hz "
            "(min_audio_sample_rate, max_audio_sample_rate).", [header.sample_rate, low, high]),
    )
    _check_seconds(header.checks, header.num_frames, header.sample_rate, "", limits.max_audio_seconds)


def check_audio_seconds(num_samples, sample_rate, index, name, max_seconds):
    """`decoders.Checks` that fail unless `num_samples / sample_rate` ≤ `max_seconds` (message names `name`).

    Create the ops that need the audio under `checks.after()`. `index` is the
    example's position, or None for a whole `[batch, samples]` tensor.
    """
    checks = decoders.Checks()
    _check_seconds(checks, num_samples, sample_rate, input_prefix(name, index), max_seconds)
    return checks


def _check_seconds(checks, num_samples, sample_rate, where, max_seconds):
    seconds = tf.cast(num_samples, tf.float64) / tf.cast(sample_rate, tf.float64)
    checks.check(
        seconds <= max_seconds,
        tf.strings.join([
            where,
            tf.strings.format(
                "the audio lasts {} s ({} samples at {} Hz), more than max_audio_seconds={}.",
                [seconds, num_samples, sample_rate, max_seconds],
            ),
        ]),
    )


def _first(flags):
    """Position (int64) of the first True in `flags`, 0 when none."""
    return tf.argmax(tf.concat([tf.cast(flags, tf.int32), [0]], 0), output_type=tf.int64)


def _pick(values, index, default):
    """`values[index]`, or `default` when `values` is empty."""
    return tf.concat([values, tf.constant([default], values.dtype)], 0)[index]
