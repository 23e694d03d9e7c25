"""Header scans of a file column, once per dataset: what lets a batch of its files be decoded at once.

`make_dataset` scans every image/audio column of file paths when it builds
the dataset, reading file headers only (PNG signature and IHDR; WAV chunk
headers, with `wav.read_header`). What every file of a column shares decides
how the decode stage reads it (`stages/decode.py`):

- PNGs all of the model's size and channel count: `tf.io.decode_png` alone,
  no conversion or resizing;
- WAVs all of one sample rate: cropped/padded at that rate and resampled a
  whole batch at once, in one FFT;
- WAVs all 16-bit PCM with declared data sizes and one channel count: their
  samples are cut out of the file bytes at the offsets found here, with no
  per-file parsing.

A file that cannot be scanned (unreadable, not a PNG/WAV, another format)
only turns the column's fast reads off: its error comes from the general
decoder, naming the row, when the dataset is read.

Example:

>>> scan = scan_column("audio", ["a.wav", "", "b.wav"])
>>> scan.has_empty, scan.filler, scan.sample_rate
(True, 'a.wav', 8000)
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from mmfusion_tf.data import wav

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 6: 4}  # PNG colour type (8-bit grey, RGB, RGBA) -> channels


@dataclass(frozen=True, eq=False)
class ColumnScan:
    """What the files of one image/audio column share.

    `has_empty`: some cells are empty (missing values). `filler`: a file of
    the column, read in place of empty cells by the batch reads (None when
    every cell is empty). `png_shape`: `(height, width, channels)` of every
    PNG, or None. `sample_rate`: the one rate of every WAV, or None.
    `pcm16`: every WAV is 16-bit PCM with a declared data size and
    `channels` channels; then, per row, `offsets` and `sizes` (bytes, 0 for
    empty cells) locate its samples and `chunk_headers` are the 8 bytes
    before them (`wav.data_chunk_header`).
    """

    has_empty: bool = True
    filler: Optional[str] = None
    png_shape: Optional[tuple] = None
    sample_rate: Optional[int] = None
    pcm16: bool = False
    channels: Optional[int] = None
    offsets: Optional[np.ndarray] = None
    sizes: Optional[np.ndarray] = None
    chunk_headers: Optional[np.ndarray] = None


def png_shape(path):
    """`(height, width, channels)` of an 8-bit grey, RGB or RGBA PNG (signature and IHDR only), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return None
    if head[24] != 8 or head[25] not in _PNG_CHANNELS:  # 8 bits per sample, no palette
        return None
    return int.from_bytes(head[20:24], "big"), int.from_bytes(head[16:20], "big"), _PNG_CHANNELS[head[25]]


def _wav_header(path):
    try:
        return wav.read_header(path)
    except (OSError, wav.WavError):
        return None


def _audio(paths):
    headers = [_wav_header(p) if p else None for p in paths]
    present = [h for p, h in zip(paths, headers) if p]
    if not present or None in present:
        return {}
    rates = {h.sample_rate for h in present}
    channels = {h.channels for h in present}
    found = {"sample_rate": rates.pop() if len(rates) == 1 else None}
    pcm16 = all(
        (h.audio_format, h.bits) == (wav.FORMAT_PCM, 16) and h.declared_size not in wav.UNKNOWN_SIZES for h in present
    )
    if pcm16 and len(channels) == 1 and found["sample_rate"]:
        found.update(
            pcm16=True,
            channels=channels.pop(),
            offsets=np.asarray([h.data_offset if h else 0 for h in headers], "int64"),
            sizes=np.asarray([h.data_size if h else 0 for h in headers], "int64"),
            chunk_headers=np.asarray([wav.data_chunk_header(h) if h else b"" for h in headers], object),
        )
    return found


def _image(paths):
    shapes = {png_shape(p) for p in paths if p}
    return {"png_shape": shapes.pop()} if len(shapes) == 1 and None not in shapes else {}


def scan_column(kind, paths):
    """The `ColumnScan` of a column of file `paths` ("" for empty cells); `kind` is "image" or "audio"."""
    filled = [p for p in paths if p]
    found = _audio(paths) if kind == "audio" else _image(paths)
    return ColumnScan(has_empty=len(filled) < len(paths), filler=filled[0] if filled else None, **found)
