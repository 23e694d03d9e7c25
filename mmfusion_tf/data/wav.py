"""The WAV (RIFF/WAVE) container, read in plain Python: the one header parser.

Every WAV reader of the package follows this module. The header scan that
`make_dataset` runs once over an audio column (`scan.scan_audio`) parses
each file's header here; the batch reader of 16-bit PCM (`stages/decode.py`)
cuts samples at the offsets found here and checks the 8 bytes
`data_chunk_header` gives; the in-graph decoder (`decoders.decode_wav`,
which serving also runs) walks chunks the same way and raises the same
messages for the same bounds: the `MESSAGES` below.

What a valid file is (`parse_header`):
- `RIFF` size `WAVE`, then chunks of `id` (4 bytes), `size` (uint32 LE) and
  a body padded to an even length, in any order;
- one `fmt ` chunk of at least 16 bytes: format tag, channels (> 0),
  sample rate (> 0), ..., bits per sample; WAVE_FORMAT_EXTENSIBLE names
  its sub-format in the first two bytes of its GUID (at byte 24);
- one `data` chunk whose size fits in the file, or 0 / 0xFFFFFFFF
  (streaming writers: the rest of the file); chunks after a streaming
  `data` chunk cannot be found;
- an encoding of `ENCODINGS`.

Example:

>>> header = parse_header(float32_wav([0.0, 0.5], 8000))
>>> header.sample_rate, header.channels, header.bits, header.data_offset, header.data_size
(8000, 1, 32, 44, 8)
"""

import struct
from typing import NamedTuple

import numpy as np

FORMAT_PCM = 1
FORMAT_IEEE_FLOAT = 3
FORMAT_EXTENSIBLE = 0xFFFE
UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # data sizes written by streaming writers: the rest of the file
FMT_BYTES = 40  # the longest `fmt ` body read (WAVE_FORMAT_EXTENSIBLE)
MIN_FMT_BYTES = 16
# (audio format, bits per sample) pairs that can be decoded.
ENCODINGS = (
    (FORMAT_PCM, 8), (FORMAT_PCM, 16), (FORMAT_PCM, 24), (FORMAT_PCM, 32),
    (FORMAT_IEEE_FLOAT, 32), (FORMAT_IEEE_FLOAT, 64),
)
SUPPORTED = "PCM 8/16/24/32-bit, IEEE float 32/64-bit"

# Every broken rule and its message: literal parts, with a value between each two.
MESSAGES = {
    "not_riff": ("Not a WAV file: expected a RIFF/WAVE header. First 12 bytes (hex):",),
    "no_fmt": ("Not a valid WAV file: no `fmt ` chunk (truncated or corrupt header).",),
    "no_data": ("Not a valid WAV file: no `data` chunk (truncated or corrupt header).",),
    "fmt_too_short": ("WAV `fmt ` chunk too short or truncated: chunk size", "bytes, bytes left in file"),
    "zero_channels": ("WAV file has zero channels. Received: channels=",),
    "zero_rate": ("WAV file has a zero sample rate. Received: sample_rate=",),
    "unsupported": (
        f"Unsupported WAV encoding (supported: {SUPPORTED}). Received: format tag", "audio format", "bits per sample",
    ),
    "truncated": ("WAV file is truncated: the `data` chunk header says", "bytes, but only", "bytes follow it."),
}


class WavError(ValueError):
    """A file that breaks a rule of the WAV container; the message is `MESSAGES[rule]` with its values."""

    def __init__(self, rule, *values):
        parts = MESSAGES[rule]
        words = [parts[0]]
        for value, part in zip(values, parts[1:] + ("",) * len(values)):
            words += [str(value), part]
        super().__init__(" ".join(w for w in words if w))
        self.rule = rule


class WavHeader(NamedTuple):
    """What a WAV file's header declares; `data_offset`/`data_size` locate its samples in bytes."""

    format_tag: int
    audio_format: int  # the format tag, or WAVE_FORMAT_EXTENSIBLE's sub-format
    channels: int
    sample_rate: int
    bits: int
    data_offset: int
    data_size: int  # bytes of samples: the declared size, or the rest of the file for a streaming size
    declared_size: int  # the size the `data` chunk header declares (0 / 0xFFFFFFFF: streaming writers)


def _uint(data, start, size):
    return int.from_bytes(data[start:start + size], "little")


def parse_header(contents, read=None, file_size=None):
    """The `WavHeader` of a WAV file; raises `WavError` naming the broken rule.

    Args:
        contents: the file's bytes, or its first bytes when `read` is given.
        read: optional `read(offset, count) -> bytes` for the rest of the
            file, so a scan reads chunk headers only (see `read_header`).
        file_size: the file's size in bytes, with `read`.

    Example:

    >>> parse_header(b"RIFF....WAVEdata")
    Traceback (most recent call last):
    ...
    mmfusion_tf.data.wav.WavError: Not a valid WAV file: no `fmt ` chunk (truncated or corrupt header).
    """
    if read is None:
        file_size = len(contents)

        def read(offset, count):
            return contents[offset:offset + count]

    head = read(0, 12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise WavError("not_riff", " ".join(f"{b:02x}" for b in head[:12]))
    fmt_offset = fmt_size = data_offset = data_size = None
    position = 12
    while position + 8 <= file_size and (fmt_offset is None or data_offset is None):
        chunk = read(position, 8)
        size = _uint(chunk, 4, 4)
        if chunk[:4] == b"fmt " and fmt_offset is None:
            fmt_offset, fmt_size = position + 8, size
        elif chunk[:4] == b"data" and data_offset is None:
            data_offset, data_size = position + 8, size
            if size in UNKNOWN_SIZES:
                break  # the rest of the file: no chunk can be found after it
        position += 8 + size + size % 2  # odd-sized chunks have a pad byte
    if fmt_offset is None:
        raise WavError("no_fmt")
    if data_offset is None:
        raise WavError("no_data")
    if fmt_size < MIN_FMT_BYTES or fmt_offset + MIN_FMT_BYTES > file_size:
        raise WavError("fmt_too_short", fmt_size, file_size - fmt_offset)
    fmt = read(fmt_offset, FMT_BYTES).ljust(FMT_BYTES, b"\x00")  # zeros past the end of the file
    format_tag, channels, sample_rate, bits = _uint(fmt, 0, 2), _uint(fmt, 2, 2), _uint(fmt, 4, 4), _uint(fmt, 14, 2)
    audio_format = _uint(fmt, 24, 2) if format_tag == FORMAT_EXTENSIBLE else format_tag
    if channels == 0:
        raise WavError("zero_channels", channels)
    if sample_rate == 0:
        raise WavError("zero_rate", sample_rate)
    if (audio_format, bits) not in ENCODINGS:
        raise WavError("unsupported", format_tag, audio_format, bits)
    bytes_left = file_size - data_offset
    streaming = data_size in UNKNOWN_SIZES
    if not streaming and data_size > bytes_left:
        raise WavError("truncated", data_size, bytes_left)
    return WavHeader(format_tag, audio_format, channels, sample_rate, bits, data_offset,
                     bytes_left if streaming else data_size, data_size)


def read_header(path):
    """`parse_header` of the file at `path`, reading its chunk headers only (not its samples)."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        file_size = f.tell()

        def read(offset, count):
            f.seek(offset)
            return f.read(count)

        return parse_header(b"", read, file_size)


def data_chunk_header(header):
    """The 8 bytes before a file's samples (`data` and the declared size): what a reader checks they still are."""
    return b"data" + struct.pack("<I", header.declared_size)


def float32_wav(waveform, sample_rate):
    """Mono 32-bit IEEE float WAV bytes of `waveform` (1-D floats): lossless, unlike 16-bit PCM.

    Example:

    >>> len(float32_wav([0.0] * 10, 16000))
    84
    """
    data = np.asarray(waveform, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", FORMAT_IEEE_FLOAT, 1, int(sample_rate), 4 * int(sample_rate), 4, 32)
    return b"".join([
        b"RIFF", struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)), b"WAVE",
        b"fmt ", struct.pack("<I", len(fmt)), fmt,
        b"data", struct.pack("<I", len(data)), data,
    ])
