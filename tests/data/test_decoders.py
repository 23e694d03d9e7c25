"""Image and WAV decoding ops, resampling and length fitting: eagerly and in `Dataset.map`."""

import doctest
import io
import os
import struct
import wave

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mmfusion_tf.data import decoders

REPO_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FSDD_WAV = os.path.join(REPO_ROOT, "..", "shared", "data", "fsdd", "recordings", "0_george_0.wav")
# Tail of the KSDATAFORMAT_SUBTYPE_* GUIDs; the first two bytes are the format tag.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# === Helpers ===


def in_dataset_map(fn, *elements):
    """`fn` applied by `Dataset.map` (graph mode) to each element; numpy results."""
    dataset = tf.data.Dataset.from_tensor_slices(list(elements)).map(fn, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset, [tf.nest.map_structure(np.asarray, x) for x in dataset]


def both_modes(fn, contents):
    """`fn(contents)` eagerly and inside `Dataset.map`; checks they agree, returns numpy."""
    eager = tf.nest.map_structure(np.asarray, fn(tf.constant(contents)))
    _, (mapped,) = in_dataset_map(fn, contents)
    tf.nest.map_structure(np.testing.assert_array_equal, eager, mapped)
    return eager


def chunk(chunk_id, body):
    padding = b"\x00" if len(body) % 2 else b""
    return chunk_id + struct.pack("<I", len(body)) + body + padding


def fmt_body(format_tag, channels, rate, bits, extensible=False):
    block_align = channels * bits // 8
    body = struct.pack("<HHIIHH", 0xFFFE if extensible else format_tag, channels, rate, rate * block_align,
                       block_align, bits)
    if extensible:
        body += struct.pack("<HHI", 22, bits, (1 << channels) - 1) + struct.pack("<H", format_tag) + _GUID_TAIL
    return body


def wav_bytes(samples, format_tag, rate, bits, extensible=False, before=(), after=(), data_size=None, tail=b""):
    """RIFF/WAVE bytes for `samples` (`[frames, channels]`, already the stored dtype).

    `data_size` overrides the data chunk's declared size; `tail` is appended
    to the sample bytes (inside the data chunk).
    """
    data = np.ascontiguousarray(samples).tobytes() + tail
    if data_size is None:
        data_chunk = chunk(b"data", data)
    else:
        data_chunk = b"data" + struct.pack("<I", data_size) + data
    fmt = chunk(b"fmt ", fmt_body(format_tag, samples.shape[1], rate, bits, extensible))
    body = b"WAVE" + b"".join(before) + fmt + data_chunk + b"".join(after)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def one_lsb(bits):
    """Tolerance of one quantisation step, but no finer than float32 output allows."""
    return max(2.0 ** -(bits - 1), 2.0**-23)


def flat(message):
    """An error message without the quoting/brackets that differ between eager and graph."""
    for token in ("b'", "'", "[", "]"):
        message = message.replace(token, " ")
    return " ".join(message.split())


def pcm_case(bits, channels, frames=257, seed=0):
    """(stored samples, expected float waveform) for little-endian PCM of `bits` bits."""
    rng = np.random.default_rng(seed)
    if bits == 8:
        stored = rng.integers(0, 256, (frames, channels)).astype(np.uint8)
        values = (stored.astype(np.float64) - 128) / 128
    elif bits == 24:
        ints = rng.integers(-(2**23), 2**23, (frames, channels)).astype(np.int32)
        ints[0, 0], ints[1, 0] = -(2**23), 2**23 - 1  # the extremes
        stored = ints.astype("<i4").view(np.uint8).reshape(frames, channels, 4)[..., :3]  # 3 bytes a sample
        values = ints / 2.0**23
    else:
        dtype = {16: "<i2", 32: "<i4"}[bits]
        info = np.iinfo(dtype)
        stored = rng.integers(info.min, info.max, (frames, channels), endpoint=True).astype(dtype)
        stored[0, 0], stored[1, 0] = info.min, info.max
        values = stored / float(-info.min)
    return stored, values.mean(axis=1)


def write_with_wave_module(path, stored, bits, channels, rate):
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(bits // 8)
        writer.setframerate(rate)
        writer.writeframes(np.ascontiguousarray(stored).tobytes())
    return path.read_bytes()


def scipy_resample(x, num):
    """`scipy.signal.resample` for a real 1-D input (numpy port; scipy is not installed)."""
    n = len(x)
    spectrum = np.fft.rfft(x)
    out = np.zeros(num // 2 + 1, complex)
    kept = min(num, n)
    out[: kept // 2 + 1] = spectrum[: kept // 2 + 1]
    if kept % 2 == 0:
        if num < n:
            out[kept // 2] *= 2.0
        elif n < num:
            out[kept // 2] *= 0.5
    return np.fft.irfft(out, num) * (num / n)


def encode_with_pil(array, fmt, **kwargs):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


# === decode_wav ===


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_decode_wav_pcm_written_by_wave_module(tmp_path, bits, channels):
    stored, expected = pcm_case(bits, channels, seed=bits + channels)
    contents = write_with_wave_module(tmp_path / f"pcm{bits}.wav", stored, bits, channels, rate=22050)
    waveform, rate = both_modes(decoders.decode_wav, contents)
    assert waveform.dtype == np.float32 and waveform.shape == (257,)
    assert rate == 22050
    np.testing.assert_allclose(waveform, expected, atol=one_lsb(bits))
    assert waveform.min() >= -1.0 and waveform.max() <= 1.0


@pytest.mark.parametrize("channels", [1, 2])
def test_decode_wav_16_bit_matches_tf_audio_decode_wav(tmp_path, channels):
    stored, _ = pcm_case(16, channels, frames=1000, seed=3)
    contents = write_with_wave_module(tmp_path / "pcm16.wav", stored, 16, channels, rate=16000)
    reference = tf.audio.decode_wav(contents)
    waveform, rate = both_modes(decoders.decode_wav, contents)
    np.testing.assert_allclose(waveform, reference.audio.numpy().mean(axis=1), atol=1e-7)
    assert rate == int(reference.sample_rate)


@pytest.mark.parametrize("bits", [32, 64])
def test_decode_wav_ieee_float(tmp_path, bits):
    rng = np.random.default_rng(bits)
    stored = rng.uniform(-1, 1, (300, 2)).astype(f"<f{bits // 8}")
    path = tmp_path / f"float{bits}.wav"
    path.write_bytes(wav_bytes(stored, format_tag=3, rate=48000, bits=bits))
    waveform, rate = both_modes(decoders.decode_wav, path.read_bytes())
    np.testing.assert_allclose(waveform, stored.astype(np.float64).mean(axis=1), atol=1e-7)
    assert rate == 48000


@pytest.mark.parametrize("format_tag, bits", [(1, 24), (1, 16), (3, 32)])
def test_decode_wav_extensible_uses_the_sub_format(format_tag, bits):
    if format_tag == 3:
        stored = np.linspace(-1, 1, 64, dtype="<f4").reshape(-1, 2)
        expected = stored.mean(axis=1)
    else:
        stored, expected = pcm_case(bits, 2, frames=64, seed=bits)
    contents = wav_bytes(stored, format_tag, rate=44100, bits=bits, extensible=True)
    waveform, rate = both_modes(decoders.decode_wav, contents)
    np.testing.assert_allclose(waveform, expected, atol=one_lsb(bits))
    assert rate == 44100


def test_decode_wav_walks_chunks_in_any_order_with_odd_sizes():
    stored, expected = pcm_case(16, 1, frames=101, seed=5)
    list_chunk = chunk(b"LIST", b"INFOISFT" + struct.pack("<I", 5) + b"test\x00")
    odd_chunk = chunk(b"bext", b"odd")  # 3 bytes + 1 pad byte
    contents = wav_bytes(stored, 1, rate=8000, bits=16, before=(list_chunk, odd_chunk), after=(odd_chunk,))
    odd_data = wav_bytes(np.arange(5, dtype=np.uint8)[:, None], 1, rate=8000, bits=8, after=(list_chunk,))
    waveform, rate = both_modes(decoders.decode_wav, contents)
    np.testing.assert_allclose(waveform, expected, atol=2.0**-15)
    assert rate == 8000
    waveform, _ = both_modes(decoders.decode_wav, odd_data)
    np.testing.assert_allclose(waveform, (np.arange(5) - 128) / 128.0)
    fmt_chunk = chunk(b"fmt ", fmt_body(1, 1, 8000, 16))
    body = b"WAVE" + odd_chunk + chunk(b"data", stored.tobytes()) + list_chunk + fmt_chunk
    data_before_fmt = b"RIFF" + struct.pack("<I", len(body)) + body
    waveform, rate = both_modes(decoders.decode_wav, data_before_fmt)
    np.testing.assert_allclose(waveform, expected, atol=2.0**-15)


@pytest.mark.parametrize("declared", [0, 0xFFFFFFFF])
def test_decode_wav_streaming_data_size_uses_rest_of_file(declared):
    stored, expected = pcm_case(16, 2, frames=50, seed=7)
    # 3 bytes of a partial frame (frames are 4 bytes) are dropped.
    contents = wav_bytes(stored, 1, rate=16000, bits=16, data_size=declared, tail=b"\x01\x02\x03")
    waveform, rate = both_modes(decoders.decode_wav, contents)
    np.testing.assert_allclose(waveform, expected, atol=2.0**-15)
    assert rate == 16000


def test_decode_wav_empty_data_chunk():
    contents = wav_bytes(np.zeros((0, 1), "<i2"), 1, rate=8000, bits=16)
    waveform, rate = both_modes(decoders.decode_wav, contents)
    assert waveform.shape == (0,) and rate == 8000


def test_decode_wav_fsdd_recording_matches_tf_audio_decode_wav():
    if not os.path.exists(FSDD_WAV):
        pytest.skip(f"FSDD data not found at {os.path.normpath(FSDD_WAV)} (offline data folder absent)")
    with open(FSDD_WAV, "rb") as f:
        contents = f.read()
    reference = tf.audio.decode_wav(contents)
    waveform, rate = both_modes(decoders.decode_wav, contents)
    assert rate == 8000 == int(reference.sample_rate)
    np.testing.assert_array_equal(waveform, reference.audio.numpy().mean(axis=1))


def _bad_wavs():
    stored, _ = pcm_case(16, 1, frames=100, seed=1)
    good = wav_bytes(stored, 1, rate=8000, bits=16)
    fmt_fields = struct.pack("<HHI", 1, 1, 8000)
    no_data = b"RIFF" + struct.pack("<I", 28) + b"WAVE" + chunk(b"fmt ", fmt_body(1, 1, 8000, 16))
    no_fmt = b"RIFF" + struct.pack("<I", 12) + b"WAVE" + chunk(b"data", b"\x00\x00")
    return {
        "truncated": (good[:-51], "WAV file is truncated: the `data` chunk header says 200 bytes, but only 149"),
        "garbage": (
            b"this is not audio, just some bytes",
            "expected a RIFF/WAVE header. First 12 bytes (hex): 74 68 69 73 20 69 73 20 6e 6f 74 20",
        ),
        "too short": (b"RIFF", "expected a RIFF/WAVE header"),
        "12-bit": (wav_bytes(stored, 1, rate=8000, bits=12), "bits per sample 12"),
        "adpcm": (wav_bytes(stored, 2, rate=8000, bits=4), "Received: format tag 2 audio format 2 bits per sample 4"),
        "extensible adpcm": (wav_bytes(stored, 2, 8000, bits=16, extensible=True), "format tag 65534 audio format 2"),
        "no data": (no_data, "no `data` chunk"),
        "no fmt": (no_fmt, "no `fmt ` chunk"),
        "zero channels": (good.replace(fmt_fields, struct.pack("<HHI", 1, 0, 8000)), "Received: channels= 0"),
        "zero rate": (good.replace(fmt_fields, struct.pack("<HHI", 1, 1, 0)), "Received: sample_rate= 0"),
    }


@pytest.mark.parametrize("case", list(_bad_wavs()))
def test_decode_wav_errors_name_the_problem(case):
    contents, expected = _bad_wavs()[case]
    with pytest.raises(tf.errors.InvalidArgumentError) as eager:
        decoders.decode_wav(tf.constant(contents))
    assert expected in flat(eager.value.message)
    dataset = tf.data.Dataset.from_tensor_slices([contents]).map(decoders.decode_wav)
    with pytest.raises(tf.errors.InvalidArgumentError) as mapped:
        list(dataset)
    assert expected in flat(mapped.value.message)


def test_decode_wav_wants_one_file():
    with pytest.raises(ValueError, match=r"`contents` must be a scalar string.*Received: shape=\(2,\)"):
        decoders.decode_wav(tf.constant([b"RIFF", b"RIFF"]))


# === resample ===


def _peak_hz(waveform, rate):
    spectrum = np.abs(np.fft.rfft(waveform))
    return np.argmax(spectrum) * rate / len(waveform)


@pytest.mark.parametrize("rate_in, rate_out", [(8000, 16000), (16000, 8000)])
def test_resample_keeps_a_sine_frequency(rate_in, rate_out):
    sine = np.sin(2 * np.pi * 440 * np.arange(rate_in) / rate_in).astype(np.float32)
    out = decoders.resample(sine, rate_in, rate_out).numpy()
    assert out.shape == (rate_out,)
    assert _peak_hz(out, rate_out) == pytest.approx(440)
    expected = np.sin(2 * np.pi * 440 * np.arange(rate_out) / rate_out)
    np.testing.assert_allclose(out, expected, atol=1e-4)


@pytest.mark.parametrize("length, rate_in, rate_out", [(101, 8000, 16000), (100, 16000, 8000), (99, 44100, 16000),
                                                        (64, 16000, 22050), (7, 3, 2), (1, 8000, 16000)])
def test_resample_matches_scipy_algorithm(length, rate_in, rate_out):
    x = np.random.default_rng(length).normal(size=length).astype(np.float32)
    expected = scipy_resample(x.astype(np.float64), max(1, int(np.floor(length * rate_out / rate_in + 0.5))))
    out = both_modes(lambda w: decoders.resample(w, rate_in, rate_out), x)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_resample_identity_round_trip_and_tensor_rates():
    x = np.random.default_rng(0).normal(size=300).astype(np.float32)
    np.testing.assert_array_equal(decoders.resample(x, 16000, 16000), x)
    np.testing.assert_array_equal(decoders.resample(x, tf.constant(16000), tf.constant(16000)), x)
    up = decoders.resample(x, tf.constant(8000), 24000)
    np.testing.assert_allclose(decoders.resample(up, 24000, tf.constant(8000)), x, atol=1e-5)


def test_resample_in_dataset_map_any_length():
    waveforms = tf.ragged.constant([np.ones(n, np.float32) for n in (1, 2, 3, 1000)])
    rates = tf.constant([8000, 8000, 16000, 8000])
    dataset = tf.data.Dataset.from_tensor_slices((waveforms, rates)).map(
        lambda w, rate: decoders.resample(w, rate, 16000))
    assert dataset.element_spec.shape.as_list() == [None]
    assert [len(x) for x in dataset] == [2, 4, 3, 2000]
    np.testing.assert_allclose(list(dataset)[-1], 1.0, atol=1e-5)  # DC is kept
    assert decoders.resample(tf.zeros([0]), 8000, 16000).shape == (0,)


def test_resample_rejects_non_positive_rates():
    with pytest.raises(ValueError, match=r"`rate_in` must be a positive number. Received: rate_in=0"):
        decoders.resample(tf.ones([4]), 0, 16000)
    with pytest.raises(ValueError, match=r"rate_out=-8000"):
        decoders.resample(tf.ones([4]), 8000, -8000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be positive"):
        decoders.resample(tf.ones([4]), tf.constant(0), 16000)
    dataset = tf.data.Dataset.from_tensor_slices([0]).map(lambda rate: decoders.resample(tf.ones([4]), rate, 8000))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must be positive"):
        list(dataset)



@pytest.mark.parametrize("rate_in, rate_out, num_samples", [(11025, 16000, 12345), (8000, 16000, 12345),
                                                            (8000, 16000, 1600), (8000, 24000, 999),
                                                            (44100, 16000, 8000), (16000, 16000, 700)])
def test_resample_batch_equals_fit_and_resample(rate_in, rate_out, num_samples):
    """The batched path (crop/pad at the source rate, then `resample_batch`) is `fit_and_resample`, row by row."""
    source_length = int(round(num_samples * rate_in / rate_out))
    rows = np.random.default_rng(num_samples).normal(size=(3, source_length + 50)).astype(np.float32)
    cut = rows[:, :source_length]
    batched = decoders.resample_batch(cut, rate_in, rate_out, num_samples).numpy()
    assert batched.shape == (3, num_samples)
    for row, out in zip(rows, batched):
        expected = decoders.fit_and_resample(row, tf.constant(rate_in), rate_out, num_samples).numpy()
        np.testing.assert_allclose(out, expected, atol=1e-5)


def test_resample_batch_rows_equal_resample():
    x = np.random.default_rng(5).normal(size=(2, 101)).astype(np.float32)
    for rate_in, rate_out in [(8000, 16000), (16000, 8000), (8000, 24000), (16000, 16000)]:
        batched = decoders.resample_batch(x, rate_in, rate_out).numpy()
        for row, out in zip(x, batched):
            np.testing.assert_allclose(out, decoders.resample(row, rate_in, rate_out).numpy(), atol=1e-5)
    assert decoders.resample_batch(tf.zeros([2, 0]), 8000, 16000, 5).shape == (2, 5)
    with pytest.raises(ValueError, match=r"`rate_in` must be a positive int"):
        decoders.resample_batch(x, 0, 16000)
    with pytest.raises(ValueError, match=r"static length"):
        decoders.resample_batch(x[0], 8000, 16000)


# === fit_length and load_audio ===


def test_fit_length_crops_and_pads():
    waveform = tf.constant([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(decoders.fit_length(waveform, 2), [1.0, 2.0])
    np.testing.assert_array_equal(decoders.fit_length(waveform, 6), [1.0, 2.0, 3.0, 4.0, 0.0, 0.0])
    np.testing.assert_array_equal(decoders.fit_length(waveform, 4), waveform)
    ragged = tf.ragged.constant([[1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
    dataset = tf.data.Dataset.from_tensor_slices(ragged).map(lambda w: decoders.fit_length(w, 3))
    assert dataset.element_spec == tf.TensorSpec([3], tf.float32)
    np.testing.assert_array_equal(list(dataset), [[1.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match=r"`num_samples` must be a positive int. Received: num_samples=0"):
        decoders.fit_length(waveform, 0)
    batch = tf.constant([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    np.testing.assert_array_equal(decoders.fit_length(batch, 3), [[1.0, 2.0, 3.0], [5.0, 6.0, 7.0]])
    np.testing.assert_array_equal(decoders.fit_length(batch, 5), [[1.0, 2.0, 3.0, 4.0, 0.0], [5.0, 6.0, 7.0, 8.0, 0.0]])
    expected = r"`waveform` must be `\[num_samples\]` or `\[batch, num_samples\]`.*shape=\(2, 2, 2\)"
    with pytest.raises(ValueError, match=expected):
        decoders.fit_length(tf.zeros([2, 2, 2]), 3)


def test_load_audio_decodes_resamples_and_fits(tmp_path):
    stored, _ = pcm_case(16, 2, frames=4000, seed=9)
    files = [write_with_wave_module(tmp_path / "a.wav", stored, 16, 2, rate=8000),
             wav_bytes(stored.astype(np.float32) / 32768, 3, rate=16000, bits=32)]
    dataset, (from_8k, from_16k) = in_dataset_map(lambda c: decoders.load_audio(c, 16000, num_samples=8000), *files)
    assert dataset.element_spec == tf.TensorSpec([8000], tf.float32)
    mono = stored.mean(axis=1) / 32768
    np.testing.assert_allclose(from_16k, np.pad(mono, (0, 4000)), atol=1e-6)
    np.testing.assert_allclose(from_8k, scipy_resample(mono, 8000), atol=1e-4)
    np.testing.assert_allclose(decoders.load_audio(files[0], 16000, num_samples=8000), from_8k, atol=1e-6)
    assert decoders.load_audio(files[1], 8000).shape == (2000,)
    with pytest.raises(ValueError, match="sample_rate=16000.0"):
        decoders.load_audio(files[0], 16000.0)


# === Images ===


def _rgb(seed=0, shape=(6, 5, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def test_decode_image_png_bmp_exact_jpeg_close():
    rgb = _rgb()
    png = tf.io.encode_png(rgb).numpy()
    np.testing.assert_array_equal(both_modes(decoders.decode_image, png), rgb)
    np.testing.assert_array_equal(both_modes(decoders.decode_image, encode_with_pil(rgb, "BMP")), rgb)
    smooth = np.tile(np.linspace(0, 255, 16).astype(np.uint8)[None, :, None], (16, 1, 3))
    jpeg = tf.io.encode_jpeg(smooth, quality=100).numpy()
    decoded = both_modes(decoders.decode_image, jpeg)
    np.testing.assert_array_equal(decoded, tf.io.decode_jpeg(jpeg, channels=3))
    np.testing.assert_allclose(decoded, smooth, atol=8)  # lossy


def test_decode_image_gif_first_frame_only():
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    first = palette[np.random.default_rng(1).integers(0, 4, (6, 5))]
    second = palette[np.random.default_rng(2).integers(0, 4, (6, 5))]
    buffer = io.BytesIO()
    Image.fromarray(first).save(buffer, format="GIF", save_all=True, append_images=[Image.fromarray(second)])
    assert tf.io.decode_gif(buffer.getvalue()).shape[0] == 2
    decoded = both_modes(decoders.decode_image, buffer.getvalue())
    np.testing.assert_array_equal(decoded, first)
    assert decoders.decode_image(buffer.getvalue(), channels=1).shape == (6, 5, 1)


def test_decode_image_channel_conversion():
    rgba = _rgb(shape=(4, 3, 4))
    grey = rgba[..., :1]
    np.testing.assert_array_equal(decoders.decode_image(tf.io.encode_png(grey), channels=3), np.repeat(grey, 3, -1))
    np.testing.assert_array_equal(decoders.decode_image(tf.io.encode_png(rgba), channels=3), rgba[..., :3])
    np.testing.assert_array_equal(decoders.decode_image(tf.io.encode_png(rgba[..., :2]), channels=4),
                                  np.concatenate([np.repeat(grey, 3, -1), rgba[..., 1:2]], -1))
    np.testing.assert_array_equal(decoders.decode_image(encode_with_pil(rgba[..., :3], "BMP"), channels=4),
                                  np.concatenate([rgba[..., :3], np.full_like(grey, 255)], -1))
    np.testing.assert_array_equal(decoders.decode_image(encode_with_pil(rgba[..., :3], "BMP"), channels=1),
                                  tf.image.rgb_to_grayscale(rgba[..., :3]))
    np.testing.assert_array_equal(decoders.decode_image(encode_with_pil(grey[..., 0], "BMP"), channels=1), grey)


def test_decode_image_mixed_formats_in_dataset_map():
    rgb = _rgb(seed=3)
    files = [tf.io.encode_png(rgb[..., :1]).numpy(), encode_with_pil(rgb, "BMP"), tf.io.encode_png(rgb).numpy(),
             tf.io.encode_jpeg(rgb).numpy(), encode_with_pil(rgb, "GIF")]
    dataset, images = in_dataset_map(decoders.decode_image, *files)
    assert dataset.element_spec == tf.TensorSpec([None, None, 3], tf.uint8)
    assert [image.shape for image in images] == [(6, 5, 3)] * 5
    np.testing.assert_array_equal(images[0], np.repeat(rgb[..., :1], 3, -1))
    np.testing.assert_array_equal(images[1], rgb)


def test_decode_image_errors():
    with pytest.raises(tf.errors.InvalidArgumentError):
        decoders.decode_image(tf.constant(b"\x89PNG but then garbage"))
    dataset = tf.data.Dataset.from_tensor_slices([b"not an image"]).map(decoders.decode_image)
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(dataset)
    with pytest.raises(ValueError, match=r"`channels` must be 1, 3 or 4. Received: channels=2"):
        decoders.decode_image(tf.constant(b""), channels=2)


def test_docstring_examples_run():
    result = doctest.testmod(decoders)
    assert result.failed == 0 and result.attempted >= 7
