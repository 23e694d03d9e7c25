import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmfusion_tf.export import guards
from tests.export.conftest import gif, pcm16_wav, png


def _png_claiming(width, height):
    """A PNG whose IHDR declares `width`×`height` RGB pixels, with a tiny (truncated) IDAT."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def _jpeg_claiming(width, height):
    """A real 8×8 JPEG whose SOF0 header is rewritten to declare `width`×`height`."""
    data = bytearray(tf.io.encode_jpeg(tf.zeros([8, 8, 3], tf.uint8)).numpy())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_with_frame(width, height):
    """A GIF with a 1×1 screen and one image descriptor declaring `width`×`height`."""
    header = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return header + frame + b"\x3b"


def _bmp(width, height):
    from io import BytesIO

    out = BytesIO()
    Image.fromarray(np.zeros([height, width, 3], "uint8")).save(out, format="BMP")
    return out.getvalue()


HEADERS = [
    ("png", png(np.zeros([5, 7, 3])), (guards.PNG, 5, 7, 35)),
    ("jpeg", tf.io.encode_jpeg(tf.zeros([6, 9, 3], tf.uint8)).numpy(), (guards.JPEG, 6, 9, 54)),
    ("gif_3_frames", gif([np.full([4, 5, 3], v) for v in (0, 128, 255)]), (guards.GIF, 4, 5, 60)),
    ("bmp", _bmp(3, 2), (guards.BMP, 2, 3, 6)),
    ("png_bomb", _png_claiming(50000, 50000), (guards.PNG, 50000, 50000, 2_500_000_000)),
    ("gif_frame_bomb", _gif_with_frame(60000, 60000), (guards.GIF, 1, 1, 3_600_000_000)),
    ("text", b"hello world", (guards.UNKNOWN, 0, 0, 0)),
    ("empty", b"", (guards.UNKNOWN, 0, 0, 0)),
]


@pytest.mark.parametrize("contents, expected", [h[1:] for h in HEADERS], ids=[h[0] for h in HEADERS])
def test_image_header_eagerly_and_in_a_graph(contents, expected):
    assert tuple(int(v) for v in guards.image_header(tf.constant(contents))) == expected
    in_graph = tf.function(guards.image_header, input_signature=[tf.TensorSpec([], tf.string)])
    assert tuple(int(v) for v in in_graph(tf.constant(contents))) == expected


def _request(raw, **changes):
    """A valid 2-example request built from the warmup inputs, with `changes`."""
    request = {k: np.concatenate([v, v]) for k, v in raw.items()}
    request.update(changes)
    return {k: tf.constant(v) for k, v in request.items()}


@pytest.fixture(scope="module")
def serve_and_raw(reloaded, classifier, manifest):
    from mmfusion_tf import export

    _, config = classifier
    return reloaded.signatures["serving_default"], export.raw_examples(config, manifest, limit=1)


REJECTED = [
    ("too_many_bytes", "image", b"\x89PNG\r\n\x1a\n" + bytes(60_000),
     r"Input `image` example 1: the encoded image has 60008 bytes, more than max_image_bytes=50000"),
    ("png_bomb", "image", _png_claiming(50000, 50000),
     r"Input `image` example 1: the image header declares 50000x50000 pixels.*max_image_pixels=10000"),
    ("jpeg_bomb", "image", _jpeg_claiming(40000, 30000),
     r"Input `image` example 1: the image header declares 30000x40000 pixels"),
    ("gif_frame_bomb", "image", _gif_with_frame(20000, 20000), r"Input `image` example 1: .*max_image_pixels"),
    ("not_an_image", "image", b"hello world", r"Input `image` example 1: not a JPEG, PNG, GIF, BMP image"),
    ("long_text", "text", "word " * 13,
     r"Input `text` example 1: the text has 65 characters, more than max_text_length=64"),
    ("long_audio", "audio", pcm16_wav(1.5, 8000),
     r"Input `audio` example 1: the audio lasts 1.5 s .*max_audio_seconds=1"),
]


@pytest.mark.parametrize("name, value, message", [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_oversized_inputs_are_rejected_naming_the_input(serve_and_raw, name, value, message):
    serve, raw = serve_and_raw
    values = np.asarray([raw[name][0], value.encode() if isinstance(value, str) else value], dtype=object)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(**_request(raw, **{name: values}))
    assert serve(**_request(raw))["labels"].shape == (2,)  # the next good request is served


def test_limits_at_the_boundary_are_accepted(serve_and_raw):
    serve, raw = serve_and_raw
    text = np.asarray([b"word " * 12 + b"abcd", "é".encode() * 64], dtype=object)  # 64 characters each
    audio = np.asarray([pcm16_wav(1.0, 8000), b""], dtype=object)  # exactly 1 s; empty = missing
    image = np.asarray([png(np.zeros([100, 100, 3])), b""], dtype=object)  # 10000 pixels; empty = missing
    out = serve(**_request(raw, text=text, audio=audio, image=image))
    assert out["probabilities"].shape == (2, 3)
