"""The one WAV header parser (`wav.py`) and the header scan built on it (`scan.py`): the in-graph decoder's rules."""

import doctest
import struct

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.data import decoders, scan, wav
from tests.data.test_decoders import _bad_wavs, chunk, flat, pcm_case, wav_bytes


def _good_wavs():
    stored, _ = pcm_case(16, 2, frames=50)
    floats = np.linspace(-1, 1, 30, dtype="<f4")[:, None]
    return {
        "pcm16 stereo": wav_bytes(stored, 1, rate=22050, bits=16),
        "float32": wav_bytes(floats, 3, rate=8000, bits=32),
        "extensible pcm24": wav_bytes(pcm_case(24, 1, frames=20)[0], 1, rate=44100, bits=24, extensible=True),
        "LIST before fmt": wav_bytes(stored, 1, rate=16000, bits=16, before=[chunk(b"LIST", b"INFOabc")]),
        "streaming size": wav_bytes(stored, 1, rate=16000, bits=16, data_size=0xFFFFFFFF),
        "written by float32_wav": wav.float32_wav(np.zeros(10), 16000),
    }


@pytest.mark.parametrize("case", list(_good_wavs()))
def test_parse_header_reads_what_the_in_graph_decoder_reads(case, tmp_path):
    contents = _good_wavs()[case]
    header = wav.parse_header(contents)
    graph = decoders.read_wav_header(tf.constant(contents))
    assert (header.sample_rate, header.channels) == (int(graph.sample_rate), int(graph.num_channels))
    assert header.data_offset == int(graph.data_pos)
    assert header.data_size // (header.channels * header.bits // 8) == int(graph.num_frames)
    path = tmp_path / "file.wav"
    path.write_bytes(contents)
    assert wav.read_header(str(path)) == header  # from the file, reading chunk headers only


@pytest.mark.parametrize("case", list(_bad_wavs()))
def test_parse_header_raises_the_in_graph_decoder_message(case):
    contents, expected = _bad_wavs()[case]
    with pytest.raises(wav.WavError) as error:
        wav.parse_header(contents)
    assert expected in flat(str(error.value))
    with pytest.raises(tf.errors.InvalidArgumentError) as graph:
        decoders.decode_wav(tf.constant(contents))
    assert flat(str(error.value)) in flat(graph.value.message)


def test_data_chunk_header_is_the_8_bytes_before_the_samples():
    contents = wav_bytes(pcm_case(16, 1, frames=7)[0], 1, rate=8000, bits=16, before=[chunk(b"LIST", b"odd")])
    header = wav.parse_header(contents)
    before_samples = contents[header.data_offset - 8:header.data_offset]
    assert before_samples == wav.data_chunk_header(header) == b"data" + struct.pack("<I", 14)


def test_scan_column_finds_what_a_column_shares(tmp_path):
    stored, _ = pcm_case(16, 1, frames=40)
    paths = []
    for i, rate in enumerate([8000, 8000, 16000]):
        paths.append(str(tmp_path / f"{i}.wav"))
        (tmp_path / f"{i}.wav").write_bytes(wav_bytes(stored, 1, rate=rate, bits=16))
    same = scan.scan_column("audio", paths[:2] + [""])
    assert same.sample_rate == 8000 and same.pcm16 and same.channels == 1 and same.has_empty and same.filler == paths[0]
    assert same.offsets.tolist() == [44, 44, 0] and same.sizes.tolist() == [80, 80, 0]
    mixed = scan.scan_column("audio", paths)
    assert mixed.sample_rate is None and not mixed.pcm16 and not mixed.has_empty
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    unreadable = scan.scan_column("audio", paths[:1] + [str(tmp_path / "bad.wav")])
    assert unreadable.sample_rate is None  # decoded (and named) later, by the general decoder
    png = str(tmp_path / "a.png")
    tf.io.write_file(png, tf.io.encode_png(tf.zeros([5, 7, 3], tf.uint8)))
    assert scan.png_shape(png) == (5, 7, 3) and scan.scan_column("image", [png, png]).png_shape == (5, 7, 3)
    assert scan.png_shape(str(tmp_path / "bad.wav")) is None


def test_module_example_runs():
    failures, attempts = doctest.testmod(wav, optionflags=doctest.ELLIPSIS)
    assert attempts > 0 and failures == 0
