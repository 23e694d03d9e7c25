"""Hostile inputs for a served export of the tests' tiny 4-modality classifier (image, text, audio, table).

Each case changes one input of a valid 2-example request (the hostile value is example 1) and says
what TF Serving's answer must be: the status code and a pattern the message must match (it names the
input, and the example where there is one).
"""

import io
import struct
import zlib

import numpy as np
import tensorflow as tf

from tests.export.conftest import gif, pcm16_wav, png

# The export's limits, small so that the oversized cases stay small.
LIMITS = {"max_batch_size": 8, "max_image_bytes": 50_000, "max_image_pixels": 100 * 100, "max_text_length": 64,
          "max_audio_seconds": 1.0}
RATE = 8000


def good_request(batch=2):
    """Raw inputs of `batch` valid examples: name -> numpy array (object arrays of bytes, float32)."""
    rng = np.random.default_rng(0)
    return {
        "image": np.array([png(rng.integers(0, 256, [12, 12, 3])) for _ in range(batch)], dtype=object),
        "text": np.array([b"a red car", b"two small dogs"][:batch] * (batch // 2 + 1), dtype=object)[:batch],
        "audio": np.array([pcm16_wav(0.1, RATE, seed=i) for i in range(batch)], dtype=object),
        "beds": np.arange(1, batch + 1, dtype="float32"),
        "city": np.array([b"a", b"b"] * (batch // 2 + 1), dtype=object)[:batch],
    }


def with_example(name, value):
    """A good 2-example request whose `name` input holds `value` in example 1."""
    request = good_request()
    column = request[name].copy()
    column[1] = value
    request[name] = column
    return request


# === Files ===


def _png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width, height):
    """A PNG whose header declares `width`×`height` pixels (the data is tiny)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def corrupt_png():
    """A PNG with a valid header and end, and an IDAT chunk of garbage."""
    ihdr = struct.pack(">IIBBBBB", 8, 8, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", bytes(range(200)))
            + _png_chunk(b"IEND", b""))


def jpeg(size=16):
    rng = np.random.default_rng(1)
    return tf.io.encode_jpeg(rng.integers(0, 256, [size, size, 3]).astype("uint8")).numpy()


def corrupt_jpeg():
    """A JPEG whose header and end marker are intact and whose scan data is zeros."""
    data = bytearray(jpeg())
    start = data.index(b"\xff\xda") + 20
    data[start:-2] = bytes(len(data) - 2 - start)
    return bytes(data)


def webp():
    return b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + struct.pack("<I", 18) + bytes(18)


def bmp(width=4, height=3):
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.zeros([height, width, 3], "uint8")).save(out, format="BMP")
    return out.getvalue()


def wav(samples, rate=RATE, channels=1, bits=16, float_format=False):
    """WAV bytes of `samples` (float in [-1, 1], `[frames, channels]`), written field by field."""
    samples = np.asarray(samples, "float64").reshape(-1, channels)
    if float_format:
        data, tag = samples.astype("<f4").tobytes(), 3
    elif bits == 8:
        data, tag = (samples * 127 + 128).astype("u1").tobytes(), 1
    elif bits == 24:
        ints = (samples * (2**23 - 1)).astype("<i4")
        data, tag = b"".join(int(v).to_bytes(4, "little", signed=True)[:3] for v in ints.reshape(-1)), 1
    else:
        data, tag = (samples * 32767).astype("<i2").tobytes(), 1
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_with(rate=None, channels=None, data_size=None, seconds=0.05):
    """A 16-bit mono WAV whose header fields are rewritten (the samples stay)."""
    data = bytearray(pcm16_wav(seconds, RATE))
    if rate is not None:
        data[24:28] = struct.pack("<I", rate)
    if channels is not None:
        data[22:24] = struct.pack("<H", channels)
    if data_size is not None:
        data[40:44] = struct.pack("<I", data_size)
    return bytes(data)


def long_wav(seconds):
    """A real 16-bit mono 8 kHz WAV of `seconds` of silence (10 minutes: 9.6 MB)."""
    return wav(np.zeros(seconds * RATE))


# === Cases: (id, request, code, message pattern) ===

WAV_BOMB = wav_with(rate=100_000_000, seconds=0.0125)  # 244 bytes
assert len(WAV_BOMB) == 244

INVALID = "INVALID_ARGUMENT"


def content_cases():
    """Cases about the values sent (the same inputs, valid types): they run in-process and through the server."""
    tone = np.sin(np.linspace(0, 200, 800))
    return [
        # Images.
        ("corrupt_jpeg", with_example("image", corrupt_jpeg()), "OK", None),  # libjpeg decodes zeros as grey
        ("truncated_jpeg", with_example("image", jpeg()[:300]), INVALID,
         r"Input `image` example 1: the file is truncated: no end-of-image marker"),
        ("corrupt_gif", with_example("image", gif([np.zeros([4, 4, 3])])[:20] + bytes(40) + b"\x3b"), INVALID,
         r"image"),
        ("webp", with_example("image", webp()), INVALID,
         r"Input `image` example 1: not a JPEG, PNG, GIF, BMP image. First bytes \(hex\): 52 49 46 46"),
        ("truncated_bmp", with_example("image", bmp()[:40]), INVALID,
         r"Input `image` example 1: the BMP file is truncated: its header says \d+ bytes, it has 40"),
        ("corrupt_png", with_example("image", corrupt_png()), INVALID, r"(?s)Invalid PNG.*image"),
        ("truncated_png", with_example("image", png(np.ones([8, 8, 3]))[:-20]), INVALID,
         r"Input `image` example 1: the file is truncated: no IEND chunk"),
        ("png_bomb", with_example("image", png_claiming(50000, 50000)), INVALID,
         r"Input `image` example 1: the image header declares 50000x50000 pixels"),
        ("random_blob", with_example("image", np.random.default_rng(2).bytes(5000)), INVALID,
         r"Input `image` example 1: not a JPEG, PNG, GIF, BMP image. First bytes \(hex\): [0-9a-f ]+"),
        ("empty_image", with_example("image", b""), "OK", None),  # a missing image: zeros, as in training
        ("image_20_mb", with_example("image", b"\x89PNG\r\n\x1a\n" + bytes(20 * 2**20)), INVALID,
         r"Input `image` example 1: the encoded image has 20971528 bytes, more than max_image_bytes=50000"),
        # Audio.
        ("wav_244_byte_bomb", with_example("audio", WAV_BOMB), INVALID,
         r"Input `audio` example 1: the WAV header declares a sample rate of 100000000 Hz, outside \[1000, 384000\]"),
        ("wav_0_hz", with_example("audio", wav_with(rate=0)), INVALID,
         r"Input `audio` example 1: WAV file has a zero sample rate"),
        ("wav_1e9_hz", with_example("audio", wav_with(rate=1_000_000_000)), INVALID,
         r"Input `audio` example 1: the WAV header declares a sample rate of 1000000000 Hz"),
        ("wav_0_channels", with_example("audio", wav_with(channels=0)), INVALID,
         r"Input `audio` example 1: WAV file has zero channels"),
        ("wav_data_longer_than_file", with_example("audio", wav_with(data_size=10**6)), INVALID,
         r"Input `audio` example 1: WAV file is truncated: the `data` chunk header says 1000000 bytes"),
        ("wav_10_minutes", with_example("audio", long_wav(600)), INVALID,
         r"Input `audio` example 1: the audio lasts 600 s .*max_audio_seconds=1"),
        ("wav_24_bit", with_example("audio", wav(0.5 * tone, bits=24)), "OK", None),
        ("wav_float32", with_example("audio", wav(0.5 * tone, float_format=True, bits=32)), "OK", None),
        ("wav_stereo", with_example("audio", wav(np.stack([tone, -tone], 1) * 0.5, channels=2)), "OK", None),
        ("wav_8_bit", with_example("audio", wav(0.5 * tone, bits=8)), "OK", None),
        ("wav_not_riff", with_example("audio", b"ID3\x04" + bytes(100)), INVALID,
         r"Input `audio` example 1: Not a WAV file: expected a RIFF/WAVE header. First 12 bytes \(hex\): 49 44 33 04"),
        ("wav_cut_in_header", with_example("audio", pcm16_wav(0.1, RATE)[:30]), INVALID,
         r"Input `audio` example 1: .*WAV"),
        ("empty_audio", with_example("audio", b""), "OK", None),
        # Text.
        ("text_not_utf8", with_example("text", b"caf\xe9 \xff\xfe"), INVALID,
         r"Input `text` example 1: the text is not valid UTF-8. First bytes \(hex\): 63 61 66 e9 20 ff fe"),
        ("text_empty", with_example("text", b""), "OK", None),
        ("text_1_mb", with_example("text", b"x" * 2**20), INVALID,
         r"Input `text` example 1: the text has 1048576 characters, more than max_text_length=64"),
        # Table.
        ("numeric_nan", with_example("beds", np.nan), "OK", None),  # NaN = missing, as in training
        ("numeric_inf", with_example("beds", np.inf), INVALID,
         r"Input `beds` example 1: the value inf is out of range"),
        ("numeric_1e30", with_example("beds", 1e30), INVALID,
         r"Input `beds` example 1: the value 1e\+30 is out of range"),
        ("unknown_category", with_example("city", b"atlantis"), "OK", None),
        # Batch.
        ("batch_sizes_differ", {**good_request(), "text": good_request(1)["text"]}, INVALID,
         r"Inputs have different batch sizes: `audio` 2, `beds` 2, `city` 2, `image` 2, `text` 1"),
        ("batch_0", good_request(0), "OK", None),
        ("batch_over_limit", good_request(9), INVALID, r"The request has 9 examples, more than max_batch_size=8"),
    ]
