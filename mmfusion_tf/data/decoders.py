"""Image and audio decoding ops: TensorFlow graph ops, usable eagerly and in `Dataset.map`.

`decode_wav` reads the RIFF/WAVE container with string ops alone (no Python
`wave`, no `py_function`), so it runs inside tf.data's parallel map and in a
SavedModel. It accepts what `tf.audio.decode_wav` rejects: 8/24/32-bit PCM,
32/64-bit IEEE float, WAVE_FORMAT_EXTENSIBLE, chunks in any order and
streaming headers with an unknown data size. It follows the container rules
of `wav.py` (the Python header parser the data pipeline's header scan uses)
and raises its messages for the same broken rules; `decode_pcm16_batch`
reads a batch of 16-bit PCM files at the offsets that parser found.
"""

import numbers
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from mmfusion_tf._validation import check_int
from mmfusion_tf.data import wav

# === WAV container constants (the rules are `wav.py`'s) ===

_FOURCC_RIFF = 0x46464952  # b"RIFF" read as a little-endian uint32
_FOURCC_WAVE = 0x45564157  # b"WAVE"
_FOURCC_FMT = 0x20746D66  # b"fmt "
_FOURCC_DATA = 0x61746164  # b"data"
_FORMAT_PCM = wav.FORMAT_PCM
_FORMAT_IEEE_FLOAT = wav.FORMAT_IEEE_FLOAT
_FORMAT_EXTENSIBLE = wav.FORMAT_EXTENSIBLE
_UNKNOWN_SIZES = wav.UNKNOWN_SIZES
_FMT_BYTES = wav.FMT_BYTES
# (format tag, bits per sample) pairs, in the order of `_SAMPLE_DECODERS`.
_ENCODINGS = wav.ENCODINGS
_SUPPORTED = wav.SUPPORTED


def _pcm8(raw):
    return (tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32) - 128.0) / 128.0


def _pcm16(raw):
    return tf.cast(tf.io.decode_raw(raw, tf.int16), tf.float32) / 32768.0


def _pcm24(raw):
    # Bytes b0 b1 b2 -> b0 + 256 b1 + 65536 b2 is exact in float32 (< 2^24).
    triples = tf.reshape(tf.cast(tf.io.decode_raw(raw, tf.uint8), tf.float32), [-1, 3])
    unsigned = tf.linalg.matvec(triples, tf.constant([1.0, 256.0, 65536.0]))
    signed = tf.where(unsigned >= 8388608.0, unsigned - 16777216.0, unsigned)
    return signed / 8388608.0


def _pcm32(raw):
    return tf.cast(tf.io.decode_raw(raw, tf.int32), tf.float32) / 2147483648.0


def _float32(raw):
    return tf.io.decode_raw(raw, tf.float32)


def _float64(raw):
    return tf.cast(tf.io.decode_raw(raw, tf.float64), tf.float32)


_SAMPLE_DECODERS = (_pcm8, _pcm16, _pcm24, _pcm32, _float32, _float64)


def _read_words(contents, pos, num_words):
    """`num_words` little-endian uint16 words of `contents` from `pos` (int64), zero past the end."""
    # substr fails past the end
    pos = tf.minimum(tf.cast(pos, tf.int64), tf.cast(tf.strings.length(contents), tf.int64))
    padded = tf.strings.join([tf.strings.substr(contents, pos, 2 * num_words), b"\x00" * (2 * num_words)])
    words = tf.io.decode_raw(tf.strings.substr(padded, 0, 2 * num_words), tf.uint16)
    return tf.cast(words, tf.int64)


def _uint32(words, index):
    """The little-endian uint32 made of `words[index]` and `words[index + 1]`."""
    return words[index] + words[index + 1] * 65536


def _message(rule, *values):
    """`wav.MESSAGES[rule]` with `values` (tensors) between its parts, as `Checks.check` takes a message."""
    parts = wav.MESSAGES[rule]
    message = [parts[0]]
    for value, part in zip(values, parts[1:] + ("",) * len(values)):
        message += [value, part] if part else [value]
    return message


class Checks:
    """`tf.debugging.Assert`s run in order: each waits for the previous one.

    In a graph, ops without a dependency run in any order, so the ops after a
    check are created under `after()` and only run once the check passed: the
    first broken rule is the error the user sees, eagerly and in `Dataset.map`.
    `where` (a string or scalar string tensor, e.g. "Input `audio` example 3:")
    starts every message.
    """

    def __init__(self, where=None):
        self._last = []
        self._where = where

    def check(self, condition, *message):
        with tf.control_dependencies(self._last):
            if self._where is not None:  # one line: "<where><message parts joined by spaces>"
                parts = [m if isinstance(m, str) or m.dtype == tf.string else tf.strings.as_string(m) for m in message]
                message = [tf.strings.join([self._where, tf.strings.join(parts, separator=" ")])]
            op = tf.debugging.Assert(condition, list(message), summarize=8)
        self._last = [op] if op is not None else []  # None when eager (raised already)

    def after(self):
        return tf.control_dependencies(self._last)


def quote_bytes(contents, count):
    """The first `count` bytes of `contents` as hex pairs ("52 49 46 46"), safe to put in any message.

    Raw bytes in an error message can be invalid UTF-8, which breaks whoever
    decodes the message (a gRPC status, a JSON reply, Python's `str`).

    Example:

    >>> quote_bytes(tf.constant(b"RIFF\\xff"), 8).numpy()
    b'52 49 46 46 ff'
    """
    codes = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, 0, count), tf.uint8), tf.int32)
    return tf.strings.reduce_join(tf.gather(tf.constant([f"{i:02x}" for i in range(256)]), codes), separator=" ")


# === Images ===


def convert_channels(image, channels):
    """Grey, grey+alpha, RGB or RGBA `image` (uint8) to `channels` channels."""

    def opaque(x):
        return tf.fill(tf.concat([tf.shape(x)[:-1], [1]], 0), tf.constant(255, tf.uint8))

    def grey_of_rgb(x):
        return tf.image.rgb_to_grayscale(x[..., :3])

    # One branch per channel count in the file: 1 (grey), 2 (grey+alpha), 3 (RGB), 4 (RGBA).
    to_grey = (lambda: image, lambda: image[..., :1], lambda: grey_of_rgb(image), lambda: grey_of_rgb(image))
    to_rgb = (
        lambda: tf.tile(image, [1, 1, 3]),
        lambda: tf.tile(image[..., :1], [1, 1, 3]),
        lambda: image,
        lambda: image[..., :3],
    )
    to_rgba = (
        lambda: tf.concat([tf.tile(image, [1, 1, 3]), opaque(image)], -1),
        lambda: tf.concat([tf.tile(image[..., :1], [1, 1, 3]), image[..., 1:]], -1),
        lambda: tf.concat([image, opaque(image)], -1),
        lambda: image,
    )
    branches = {1: to_grey, 3: to_rgb, 4: to_rgba}[channels]
    converted = tf.switch_case(tf.shape(image)[-1] - 1, branches)
    converted.set_shape(image.shape[:-1].concatenate([channels]))
    return converted


def decode_image(contents, channels=3, name="image"):
    """Decodes a JPEG, PNG, BMP or GIF (first frame) into a uint8 image.

    The file's own channels are converted: grey is repeated to RGB, alpha is
    dropped for RGB (not composited), RGB becomes grey with
    `tf.image.rgb_to_grayscale`, and RGBA from RGB gets an opaque alpha.
    Corrupt bytes raise `tf.errors.InvalidArgumentError` when run.

    Args:
        contents: Scalar string tensor, the encoded file's bytes.
        channels: Int, 1 (grey), 3 (RGB) or 4 (RGBA).
        name: String, name scope of the ops (e.g. the feature key).

    Returns:
        uint8 tensor of shape `[height, width, channels]` (static rank and
        channel dimension).

    Example:

    >>> png = tf.io.encode_png(tf.zeros([2, 3, 1], tf.uint8))
    >>> decode_image(png, channels=3).shape
    TensorShape([2, 3, 3])
    """
    if isinstance(channels, bool) or channels not in (1, 3, 4):
        raise ValueError(f"`channels` must be 1, 3 or 4. Received: channels={channels!r}")
    with tf.name_scope(name):
        image = tf.io.decode_image(contents, channels=0, dtype=tf.uint8, expand_animations=False)
        image = convert_channels(image, channels)
        image.set_shape([None, None, channels])
        return image


def fit_image(image, image_size):
    """Resizes a uint8 image to `image_size` (bilinear, rounded); the image counterpart of `fit_length`.

    An image already of that size is returned as is (no resampling, exact).

    Args:
        image: uint8 tensor `[height, width, channels]` (static channels).
        image_size: `(height, width)` ints, the output size.

    Returns:
        uint8 tensor of static shape `[height, width, channels]`.

    Example:

    >>> fit_image(tf.zeros([4, 6, 3], tf.uint8), (2, 3)).shape
    TensorShape([2, 3, 3])
    """
    height, width = image_size
    if tuple(image.shape[:2]) == (height, width):
        return image
    resized = tf.cond(
        tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width])),
        lambda: image,
        lambda: tf.cast(tf.clip_by_value(tf.round(tf.image.resize(image, [height, width])), 0, 255), tf.uint8),
    )
    return tf.ensure_shape(resized, [height, width, image.shape[-1]])


def or_zeros(contents, shape, dtype, decode, maybe_empty=True):
    """`decode()`, or zeros of `shape` and `dtype` when `contents` is empty (a missing file).

    The one rule for a missing image/audio value, shared by the data
    pipeline and the serving graph: an empty string decodes to zeros (the
    model sees the modality as absent) instead of failing.

    Args:
        contents: Scalar string tensor (file path or encoded bytes).
        shape: Shape of the zeros (`decode()`'s shape).
        dtype: Their dtype (`tf.string` gives empty strings).
        decode: Function of no arguments, the value when `contents` is not empty.
        maybe_empty: False when `contents` is known to be non-empty: just `decode()`.

    Example:

    >>> or_zeros(tf.constant(""), [2], tf.float32, lambda: tf.ones([2])).numpy().tolist()
    [0.0, 0.0]
    """
    if not maybe_empty:
        return decode()
    return tf.cond(tf.equal(tf.strings.length(contents), 0), lambda: tf.zeros(shape, dtype), decode)


# === Audio ===


def _walk_chunks(contents, size):
    """Positions and sizes of the `fmt ` and `data` chunk bodies (-1 if absent)."""

    def keep_walking(pos, fmt_pos, fmt_size, data_pos, data_size):
        streaming = (data_pos >= 0) & ((data_size == _UNKNOWN_SIZES[0]) | (data_size == _UNKNOWN_SIZES[1]))
        found_both = (fmt_pos >= 0) & (data_pos >= 0)
        return (pos + 8 <= size) & ~found_both & ~streaming

    def next_chunk(pos, fmt_pos, fmt_size, data_pos, data_size):
        # `keep_walking` guarantees 8 bytes: the chunk id and size.
        header = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, pos, 8), tf.uint16), tf.int64)
        chunk_id, chunk_size = _uint32(header, 0), _uint32(header, 2)
        is_fmt = (chunk_id == _FOURCC_FMT) & (fmt_pos < 0)
        is_data = (chunk_id == _FOURCC_DATA) & (data_pos < 0)
        return (
            pos + 8 + chunk_size + chunk_size % 2,  # odd-sized chunks have a pad byte
            tf.where(is_fmt, pos + 8, fmt_pos),
            tf.where(is_fmt, chunk_size, fmt_size),
            tf.where(is_data, pos + 8, data_pos),
            tf.where(is_data, chunk_size, data_size),
        )

    start = tf.constant(12, tf.int64)
    missing = tf.constant(-1, tf.int64)
    _, fmt_pos, fmt_size, data_pos, data_size = tf.while_loop(
        keep_walking, next_chunk, (start, missing, missing, missing, missing)
    )
    return fmt_pos, fmt_size, data_pos, data_size


class WavHeader(NamedTuple):
    """What a WAV file's header declares (int64 scalars), read by `read_wav_header`."""

    sample_rate: tf.Tensor
    num_channels: tf.Tensor
    num_frames: tf.Tensor
    checks: Checks  # the header's checks; create ops that need a valid header under `checks.after()`
    data_pos: tf.Tensor  # where the samples start
    frame_bytes: tf.Tensor
    encoding: tf.Tensor  # int32 index into `_ENCODINGS`


def read_wav_header(contents, where=None):
    """Checks a WAV file's container and reads its format, without decoding a sample.

    Everything `decode_wav` needs to know before it allocates anything is
    checked here: the RIFF/WAVE signature, the `fmt ` and `data` chunks, a
    supported encoding, channels and sample rate above 0, and that the data
    chunk fits in the file. Callers add their own limits (sample rate,
    duration) to `header.checks` before decoding.

    Args:
        contents: Scalar string tensor, the WAV file's bytes.
        where: Optional string (tensor) that starts every error message, e.g.
            naming the input and example.

    Returns:
        A `WavHeader` (`sample_rate`, `num_channels`, `num_frames`, `checks`, ...).

    Example:

    >>> wav = tf.audio.encode_wav(tf.zeros([8000, 1]), 16000)
    >>> header = read_wav_header(wav)
    >>> int(header.sample_rate), int(header.num_frames)
    (16000, 8000)
    """
    with tf.name_scope("read_wav_header"):
        contents = tf.convert_to_tensor(contents, tf.string)
        if contents.shape.rank not in (None, 0):
            raise ValueError(
                f"`contents` must be a scalar string (one file's bytes). Received: shape={contents.shape}"
            )
        size = tf.cast(tf.strings.length(contents), tf.int64)
        checks = Checks(where)
        riff = _read_words(contents, 0, 6)
        checks.check(
            (size >= 12) & (_uint32(riff, 0) == _FOURCC_RIFF) & (_uint32(riff, 4) == _FOURCC_WAVE),
            *_message("not_riff", quote_bytes(contents, 12)),
        )
        with checks.after():
            fmt_pos, fmt_size, data_pos, data_size = _walk_chunks(contents, size)
        checks.check(fmt_pos >= 0, *_message("no_fmt"))
        checks.check(data_pos >= 0, *_message("no_data"))
        checks.check(
            (fmt_size >= wav.MIN_FMT_BYTES) & (fmt_pos + wav.MIN_FMT_BYTES <= size),
            *_message("fmt_too_short", fmt_size, size - fmt_pos),
        )
        with checks.after():
            fmt = _read_words(contents, tf.maximum(fmt_pos, 0), _FMT_BYTES // 2)
        format_tag, num_channels, sample_rate, bits = fmt[0], fmt[1], _uint32(fmt, 2), fmt[7]
        # WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the format tag.
        audio_format = tf.where(format_tag == _FORMAT_EXTENSIBLE, fmt[12], format_tag)
        checks.check(num_channels > 0, *_message("zero_channels", num_channels))
        checks.check(sample_rate > 0, *_message("zero_rate", sample_rate))
        encoding = audio_format * 1000 + bits
        matches = tf.equal(tf.constant([tag * 1000 + b for tag, b in _ENCODINGS], tf.int64), encoding)
        checks.check(tf.reduce_any(matches), *_message("unsupported", format_tag, audio_format, bits))
        bytes_left = size - data_pos
        unknown_size = (data_size == _UNKNOWN_SIZES[0]) | (data_size == _UNKNOWN_SIZES[1])
        checks.check(unknown_size | (data_size <= bytes_left), *_message("truncated", data_size, bytes_left))
        data_bytes = tf.where(unknown_size, bytes_left, data_size)
        frame_bytes = tf.maximum(num_channels * (bits // 8), 1)  # only used when valid; keeps the op safe
        encoding_index = tf.cast(tf.argmax(tf.cast(matches, tf.int32)), tf.int32)
        return WavHeader(sample_rate, num_channels, data_bytes // frame_bytes, checks, data_pos, frame_bytes,
                         encoding_index)


def decode_wav(contents, where=None, check_header=None):
    """Decodes a WAV file into a mono float32 waveform and its sample rate.

    Reads PCM 8-bit (unsigned), 16, 24 and 32-bit; IEEE float 32 and 64-bit;
    WAVE_FORMAT_EXTENSIBLE with one of these sub-formats. Chunks may come in
    any order (`LIST` before `fmt `, odd sizes padded). Channels are averaged
    to mono. PCM is scaled to [-1, 1); float samples are passed through as
    stored. A data size of 0 or 0xFFFFFFFF (streaming writers) means "the rest
    of the file", cut to whole frames. Bad input raises
    `tf.errors.InvalidArgumentError` when run: not RIFF/WAVE, no `fmt ` or
    `data` chunk, an unsupported format tag or bit depth (named in the
    message), zero channels or sample rate, or a truncated data chunk.

    Args:
        contents: Scalar string tensor, the WAV file's bytes.
        where: Optional string (tensor) that starts every error message.
        check_header: Optional function `(header: WavHeader) -> None` that adds
            checks to `header.checks` (e.g. limits on the sample rate and
            duration); they run after the container's checks and before any
            sample is read.

    Returns:
        `(waveform, sample_rate)`: float32 `[num_frames]` and int32 scalar.

    Example:

    >>> wav = tf.audio.encode_wav(tf.constant([[0.5], [-0.25]]), 16000)
    >>> waveform, sample_rate = decode_wav(wav)
    >>> waveform.numpy().tolist(), int(sample_rate)
    ([0.5, -0.25], 16000)
    """
    with tf.name_scope("decode_wav"):
        contents = tf.convert_to_tensor(contents, tf.string)
        header = read_wav_header(contents, where)
        if check_header is not None:
            check_header(header)
        with header.checks.after():
            raw = tf.strings.substr(contents, header.data_pos, header.num_frames * header.frame_bytes)
            samples = tf.switch_case(header.encoding, [lambda fn=fn: fn(raw) for fn in _SAMPLE_DECODERS])
            frames = tf.reshape(samples, tf.stack([header.num_frames, header.num_channels]))
            waveform = tf.reduce_mean(frames, axis=1)
            waveform.set_shape([None])
            return waveform, tf.cast(header.sample_rate, tf.int32)


def decode_pcm16_batch(contents, offsets, sizes, chunk_headers, num_frames, channels=1):
    """A batch of 16-bit PCM WAV files -> mono float32 `[batch, num_frames]`, with no per-file parsing.

    Where each file's samples are comes from its header, parsed once in
    Python (`wav.read_header`): `offsets` and `sizes` (bytes) locate them and
    `chunk_headers` are the 8 bytes before them (`wav.data_chunk_header`).
    Samples are cut out of all files with vectorised string ops, cropped or
    zero-padded to `num_frames` (as `fit_length`), and channels averaged
    (as `decode_wav`). Empty `contents` (missing files) give zeros. A file
    whose bytes no longer match its header (rewritten since it was parsed)
    fails the whole batch with `InvalidArgumentError`.

    Args:
        contents: string `[batch]`, the files' bytes ("" for a missing file).
        offsets, sizes: int64 `[batch]`, the data chunk's body in each file.
        chunk_headers: string `[batch]`, the 8 bytes before each body.
        num_frames: int, the output length.
        channels: int, the channel count every file has.

    Example:

    >>> wav_file = tf.audio.encode_wav(tf.constant([[0.5], [-0.25]]), 8000)
    >>> decode_pcm16_batch(tf.stack([wav_file, ""]), tf.constant([44, 0], tf.int64), tf.constant([4, 0], tf.int64),
    ...                    tf.constant([b"data\\x04\\x00\\x00\\x00", b""]), num_frames=3).numpy().tolist()
    [[0.5, -0.25, 0.0], [0.0, 0.0, 0.0]]
    """
    check_int("num_frames", num_frames, minimum=1, noun="int")
    check_int("channels", channels, minimum=1, noun="int")
    with tf.name_scope("decode_pcm16_batch"):
        present = tf.strings.length(contents) > 0
        length = tf.cast(tf.strings.length(contents), tf.int64)
        header_at = tf.where(present, offsets - 8, 0)
        eight = tf.fill(tf.shape(header_at), tf.constant(8, tf.int64))
        intact = (tf.strings.substr(contents, header_at, eight) == chunk_headers) & (length >= offsets + sizes)
        tf.debugging.Assert(tf.reduce_all(~present | intact), ["a WAV file changed since its header was read"])
        frame_bytes = 2 * channels
        kept = tf.where(present, tf.minimum(sizes // frame_bytes * frame_bytes, frame_bytes * num_frames), 0)
        raw = tf.strings.substr(contents, tf.where(present, offsets, 0), kept)
        samples = tf.cast(tf.io.decode_raw(raw, tf.int16, fixed_length=frame_bytes * num_frames), tf.float32) / 32768.0
        if channels == 1:
            return samples
        return tf.reduce_mean(tf.reshape(samples, [-1, num_frames, channels]), axis=-1)


def _check_waveform_rank(waveform):
    if waveform.shape.rank not in (None, 1):
        raise ValueError(f"`waveform` must be 1-D, `[num_samples]`. Received: shape={waveform.shape}")


def _check_rate(value, arg_name):
    if isinstance(value, bool) or (isinstance(value, numbers.Real) and value <= 0):
        raise ValueError(f"`{arg_name}` must be a positive number. Received: {arg_name}={value!r}")


def resample(waveform, rate_in, rate_out):
    """Band-limited (FFT) resampling of a 1-D waveform, like `scipy.signal.resample`.

    The spectrum (`rfft`) is cut or zero-padded to the new length and inverted
    (`irfft`), with scipy's handling of the Nyquist bin; equal rates return
    the input. As with scipy, the waveform is treated as periodic, so a jump
    between its last and first samples rings at both ends. The new length is `round(len * rate_out / rate_in)` (halves
    round up), at least 1 for a non-empty input; an empty input stays empty.

    Args:
        waveform: float32 tensor of shape `[num_samples]`.
        rate_in: Positive int or int tensor, the waveform's sample rate.
        rate_out: Positive int or int tensor, the wanted sample rate.

    Returns:
        float32 tensor of shape `[new_num_samples]`.

    Example:

    >>> resample(tf.ones([8000]), 8000, 16000).shape
    TensorShape([16000])
    """
    _check_rate(rate_in, "rate_in")
    _check_rate(rate_out, "rate_out")
    with tf.name_scope("resample"):
        waveform = tf.convert_to_tensor(waveform, tf.float32)
        _check_waveform_rank(waveform)
        if isinstance(rate_in, numbers.Integral) and isinstance(rate_out, numbers.Integral) and rate_in == rate_out:
            return waveform
        rate_in = tf.cast(rate_in, tf.int64)
        rate_out = tf.cast(rate_out, tf.int64)
        checks = Checks()
        checks.check(
            (rate_in > 0) & (rate_out > 0),
            "`rate_in` and `rate_out` must be positive. Received: rate_in=",
            rate_in,
            "rate_out=",
            rate_out,
        )
        length = tf.size(waveform, out_type=tf.int64)
        new_length = tf.maximum((2 * length * rate_out + rate_in) // (2 * rate_in), 1)

        def fourier():
            spectrum = tf.signal.rfft(waveform, fft_length=tf.cast(length, tf.int32)[None])
            kept = tf.minimum(length, new_length)
            nyquist = kept // 2
            out_bins = new_length // 2 + 1
            spectrum = tf.pad(spectrum[: nyquist + 1], [[0, out_bins - nyquist - 1]])
            # An even kept length has a bin at +N/2: scipy doubles it when
            # downsampling (it folds -N/2 onto it) and halves it when upsampling.
            factor = tf.where(new_length < length, 2.0, 0.5)
            factor = tf.where(kept % 2 == 0, factor, 1.0)
            weights = 1.0 + (factor - 1.0) * tf.one_hot(nyquist, tf.cast(out_bins, tf.int32))
            spectrum = spectrum * tf.complex(weights, tf.zeros_like(weights))
            scale = tf.cast(new_length, tf.float32) / tf.cast(length, tf.float32)
            return tf.signal.irfft(spectrum, fft_length=tf.cast(new_length, tf.int32)[None]) * scale

        with checks.after():
            # irfft of length 0 aborts the process (DUCC), so empty input is passed through.
            resampled = tf.cond((rate_in == rate_out) | (length == 0), lambda: tf.identity(waveform), fourier)
        resampled.set_shape([None])
        return resampled


def resample_batch(waveforms, rate_in, rate_out, num_samples=None):
    """`resample` (then `fit_length`) of every row of a `[batch, length]` batch, in one FFT.

    Each row comes out exactly as `resample(row, rate_in, rate_out)` would
    give it: `round(length * rate_out / rate_in)` samples (halves round up)
    with scipy's Nyquist-bin handling; with `num_samples`, then cropped or
    zero-padded to `num_samples` as `fit_length` does. After cropping/padding
    at the source rate this is `fit_and_resample`'s rule, so the batched
    training path and serving feed the model the same samples. Used when
    every file of a column has the same sample rate.

    Args:
        waveforms: float32 tensor `[batch, length]`, `length` known statically.
        rate_in: Positive int, the waveforms' sample rate.
        rate_out: Positive int, the wanted sample rate.
        num_samples: Optional positive int, the output length.

    Returns:
        float32 tensor `[batch, num_samples]` (or `[batch, new_length]`).

    Example:

    >>> resample_batch(tf.zeros([2, 8000]), 8000, 16000, 12345).shape
    TensorShape([2, 12345])
    """
    check_int("rate_in", rate_in, minimum=1, noun="int")
    check_int("rate_out", rate_out, minimum=1, noun="int")
    if num_samples is not None:
        check_int("num_samples", num_samples, minimum=1, noun="int")
    with tf.name_scope("resample_batch"):
        waveforms = tf.convert_to_tensor(waveforms, tf.float32)
        if waveforms.shape.rank != 2 or waveforms.shape[-1] is None:
            raise ValueError(
                f"`waveforms` must be `[batch, length]` with a static length. Received: shape={waveforms.shape}"
            )
        length = int(waveforms.shape[-1])
        if rate_in == rate_out or length == 0:  # as `resample`: passed through
            resampled, new_length = waveforms, length
        else:
            new_length = max((2 * length * rate_out + rate_in) // (2 * rate_in), 1)
            resampled = _fourier_batch(waveforms, length, new_length)
        return resampled if num_samples is None else fit_length(resampled, num_samples)


def _fourier_batch(waveforms, length, new_length):
    """FFT resampling of `[batch, length]` to `[batch, new_length]` (the batched `resample`)."""
    spectrum = tf.signal.rfft(waveforms)
    factor = new_length // length
    if factor > 1 and new_length == factor * length:
        # Upsampling by a whole factor (8 -> 16 kHz): output sample `factor * n` is input
        # sample n, and the others are the input shifted by j / factor of a sample, a phase
        # ramp on its spectrum. Same result as below, but with inverse FFTs of the input's
        # length instead of one of the output's length.
        bins = np.arange(length // 2 + 1)
        ramps = [np.exp(2j * np.pi * j * bins / new_length).astype("complex64") for j in range(1, factor)]
        phases = [waveforms] + [tf.signal.irfft(spectrum * tf.constant(ramp), [length]) for ramp in ramps]
        # [batch, length, factor], interleaved; for two phases a complex bitcast avoids a strided copy.
        interleaved = tf.bitcast(tf.complex(*phases), tf.float32) if factor == 2 else tf.stack(phases, axis=-1)
        return tf.reshape(interleaved, [-1, new_length])
    kept = min(length, new_length)
    nyquist = kept // 2
    out_bins = new_length // 2 + 1
    spectrum = tf.pad(spectrum[:, : nyquist + 1], [[0, 0], [0, out_bins - nyquist - 1]])
    if kept % 2 == 0:  # scipy: the +N/2 bin is doubled when downsampling, halved when upsampling
        weights = np.ones(out_bins, "float32")
        weights[nyquist] = 2.0 if new_length < length else 0.5
        spectrum = spectrum * tf.complex(tf.constant(weights), tf.zeros([out_bins]))
    return tf.signal.irfft(spectrum, [new_length]) * (new_length / length)


def fit_length(waveform, num_samples):
    """Crops (keeping the start) or zero-pads (at the end) waveforms to `num_samples`.

    Works on one waveform `[length]` or a batch `[batch, length]` (the last axis).

    Args:
        waveform: Tensor of shape `[length]` or `[batch, length]`.
        num_samples: Positive int, the output length.

    Returns:
        Tensor of static last dimension `num_samples`, the waveform's dtype.

    Example:

    >>> fit_length(tf.constant([1.0, 2.0, 3.0]), 5).numpy().tolist()
    [1.0, 2.0, 3.0, 0.0, 0.0]
    >>> fit_length(tf.ones([2, 7]), 4).shape
    TensorShape([2, 4])
    """
    check_int("num_samples", num_samples, minimum=1, noun="int")
    with tf.name_scope("fit_length"):
        waveform = tf.convert_to_tensor(waveform)
        if waveform.shape.rank not in (None, 1, 2):
            raise ValueError(
                f"`waveform` must be `[num_samples]` or `[batch, num_samples]`. Received: shape={waveform.shape}"
            )
        waveform = waveform[..., :num_samples]
        length = waveform.shape[-1] if waveform.shape.rank else None  # static when known (batched pipeline path)
        missing = num_samples - (length if length is not None else tf.shape(waveform)[-1])
        if waveform.shape.rank == 2:
            return tf.reshape(tf.pad(waveform, [[0, 0], [0, missing]]), [-1, num_samples])
        return tf.reshape(tf.pad(waveform, [[0, missing]]), [num_samples])


def fit_and_resample(waveform, rate, sample_rate, num_samples):
    """Crop/pad at the source rate, resample, then fix the length.

    The one rule that training (every pipeline path, including the batched
    one) and serving follow, so both feed the model the same samples: the
    clip is first cut or zero-padded to `round(num_samples * rate /
    sample_rate)` samples at its own `rate`, then resampled to
    `sample_rate`, then fitted to exactly `num_samples`.

    Example:

    >>> fit_and_resample(tf.ones([10000]), 8000, 16000, 16000).shape
    TensorShape([16000])
    """
    check_int("num_samples", num_samples, minimum=1, noun="int")
    with tf.name_scope("fit_and_resample"):
        waveform = tf.convert_to_tensor(waveform)
        rate64 = tf.cast(rate, tf.float64)
        source_length = tf.cast(tf.round(num_samples * rate64 / float(sample_rate)), tf.int32)
        waveform = waveform[:source_length]
        waveform = tf.pad(waveform, [[0, source_length - tf.shape(waveform)[0]]])
        return fit_length(resample(waveform, rate, sample_rate), num_samples)


def load_audio(contents, sample_rate, num_samples=None):
    """Decodes a WAV file to mono float32 at `sample_rate`, optionally of fixed length.

    `decode_wav`, then `resample` to `sample_rate`; with `num_samples`,
    `fit_and_resample` (crop/pad at the source rate first, as training does).

    Args:
        contents: Scalar string tensor, the WAV file's bytes.
        sample_rate: Positive int, the output sample rate.
        num_samples: Optional positive int: crop or zero-pad to this length.

    Returns:
        float32 tensor of shape `[num_samples]` (or `[None]`).

    Example:

    >>> wav = tf.audio.encode_wav(tf.zeros([8000, 1]), 8000)
    >>> load_audio(wav, sample_rate=16000, num_samples=12000).shape
    TensorShape([12000])
    """
    check_int("sample_rate", sample_rate, minimum=1, noun="int")
    if num_samples is not None:
        check_int("num_samples", num_samples, minimum=1, noun="int")
    waveform, rate = decode_wav(contents)
    if num_samples is not None:
        return fit_and_resample(waveform, rate, sample_rate, num_samples)
    return resample(waveform, rate, sample_rate)
