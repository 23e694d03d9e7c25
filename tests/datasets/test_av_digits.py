"""Tests for the AV-digits loader (FSDD audio + MNIST images) on the real data.

The real files live outside the repo (`../shared/data`); tests that need them
skip when the folder is absent. Argument checks and file errors run on tiny
synthetic folders written to `tmp_path`.
"""

import csv
import gzip
import os
import re
import wave

import numpy as np
import pytest

from mmfusion_tf.datasets.av_digits import av_digits, write_av_digits_files

DATA = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
)
HARD = 0.65


def _require_data():
    if not os.path.isdir(os.path.join(DATA, "fsdd", "recordings")):
        pytest.skip(f"AV-digits data not found at {DATA} (offline data folder absent)")


@pytest.fixture(scope="module")
def clean():
    _require_data()
    return av_digits(DATA, difficulty=0.0, seed=0)


@pytest.fixture(scope="module")
def hard():
    _require_data()
    return av_digits(DATA, difficulty=HARD, seed=0)


@pytest.fixture(scope="module")
def mnist():
    """MNIST test images and labels, parsed here independently of the loader."""
    _require_data()
    with gzip.open(os.path.join(DATA, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(DATA, "mnist", "t10k-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def _clip_fields(path):
    digit, speaker, index = re.match(
        r"(\d)_(\w+)_(\d+)\.wav$", os.path.basename(path)
    ).groups()
    return int(digit), speaker, int(index)


def _read_wav(path):
    with wave.open(path, "rb") as w:
        rate = w.getframerate()
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), "<i2"), rate


# --- structure of the real benchmark ---


def test_split_sizes_and_info(clean):
    assert {k: len(clean[k]["label"]) for k in ("train", "val", "test")} == {
        "train": 2400,
        "val": 300,
        "test": 300,
    }
    info = clean["info"]
    assert info["counts"] == {"train": 2400, "val": 300, "test": 300}
    assert (info["difficulty"], info["seed"]) == (0.0, 0)
    assert info["sources"]["fsdd"]["url"].startswith(
        "https://github.com/Jakobovski/free-spoken-digit-dataset"
    )
    assert info["sources"]["fsdd"]["license"] == "CC BY-SA 4.0"
    assert "mnist" in info["sources"]["mnist"]["url"]
    assert info["sources"]["mnist"]["license"] == "CC BY-SA 3.0"
    assert clean["label_names"] == [
        "zero", "one", "two", "three", "four",
        "five", "six", "seven", "eight", "nine",
    ]


def test_shapes_dtypes_ranges(clean, hard):
    for data in (clean, hard):
        for split in ("train", "val", "test"):
            s = data[split]
            n = len(s["label"])
            assert s["image"].dtype == np.uint8 and s["image"].shape == (n, 28, 28, 1)
            assert s["audio"].dtype == np.float32 and s["audio"].shape == (n, 8000)
            assert np.abs(s["audio"]).max() <= 1.0
            assert s["label"].dtype == np.int32
            assert set(np.unique(s["label"])) == set(range(10))
            assert np.all(np.bincount(s["label"]) == n // 10)  # 6 speakers x idx
            assert s["speaker"].dtype == object and isinstance(s["speaker"][0], str)
            assert s["audio_path"].dtype == object
            assert np.issubdtype(s["image_index"].dtype, np.integer)
            assert s["image_index"].min() >= 0 and s["image_index"].max() < 10_000


def test_labels_agree_across_modalities(clean, mnist):
    images, labels = mnist
    for split in ("train", "val", "test"):
        s = clean[split]
        fields = [_clip_fields(p) for p in s["audio_path"]]
        assert [f[0] for f in fields] == s["label"].tolist()
        assert [f[1] for f in fields] == s["speaker"].tolist()
        assert np.array_equal(labels[s["image_index"]], s["label"])
        # Clean images are the MNIST pixels themselves.
        assert np.array_equal(images[s["image_index"]], s["image"][..., 0])


def test_fsdd_index_rule_and_no_clip_or_image_in_two_splits(clean):
    ranges = {"test": range(0, 5), "val": range(5, 10), "train": range(10, 50)}
    clips, images = {}, {}
    for split, allowed in ranges.items():
        s = clean[split]
        assert all(_clip_fields(p)[2] in allowed for p in s["audio_path"])
        clips[split] = set(s["audio_path"].tolist())
        images[split] = set(s["image_index"].tolist())
        assert len(clips[split]) == len(s["label"])  # no clip twice
        assert len(images[split]) == len(s["label"])  # no image twice
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not clips[a] & clips[b]
        assert not images[a] & images[b]
    every_file = {
        os.path.join(DATA, "fsdd", "recordings", name)
        for name in os.listdir(os.path.join(DATA, "fsdd", "recordings"))
    }
    assert {os.path.normpath(p) for p in set().union(*clips.values())} == {
        os.path.normpath(p) for p in every_file
    }


def test_audio_is_the_cropped_or_padded_wav(clean):
    s = clean["test"]
    for i in range(10):
        pcm, rate = _read_wav(s["audio_path"][i])
        assert rate == 8000
        expected = np.zeros(8000, np.float32)
        n = min(len(pcm), 8000)
        expected[:n] = pcm[:n] / 32768.0
        assert np.array_equal(s["audio"][i], expected)


def test_deterministic_and_seeded(clean):
    again = av_digits(DATA, difficulty=0.0, seed=0)
    for split in ("train", "val", "test"):
        for key, value in clean[split].items():
            assert np.array_equal(again[split][key], value), (split, key)
    other = av_digits(DATA, difficulty=0.0, seed=1, max_per_split=50)
    assert not np.array_equal(
        other["train"]["image_index"], clean["train"]["image_index"][:50]
    )


def test_max_per_split_is_a_prefix_with_same_degradation(hard):
    small = av_digits(DATA, difficulty=HARD, seed=0, max_per_split=40)
    assert small["info"]["counts"] == {"train": 40, "val": 40, "test": 40}
    for split in ("train", "val", "test"):
        for key, value in small[split].items():
            assert np.array_equal(value, hard[split][key][:40]), (split, key)


def test_resample_and_resize():
    _require_data()
    base = av_digits(DATA, max_per_split=3)
    data = av_digits(
        DATA, sample_rate=16000, max_seconds=0.5, image_size=32, max_per_split=3
    )
    s = data["val"]
    assert s["audio"].shape == (3, 8000) and s["image"].shape == (3, 32, 32, 1)
    # Linear resampling at 2x keeps every original sample at the even positions.
    assert np.allclose(s["audio"][:, ::2], base["val"]["audio"][:, :4000], atol=1e-6)
    assert np.array_equal(s["label"], base["val"]["label"])


# --- difficulty ---


def _image_correlation(a, b):
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    a -= a.mean(1, keepdims=True)
    b -= b.mean(1, keepdims=True)
    return np.mean((a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1)))


def _audio_snr_db(clean_audio, noisy_audio):
    err = np.mean((noisy_audio - clean_audio) ** 2)
    return 10 * np.log10(np.mean(clean_audio**2) / err)


def test_difficulty_monotonically_degrades_both_modalities():
    _require_data()
    loads = {
        d: av_digits(DATA, difficulty=d, max_per_split=100)["train"]
        for d in (0.0, 0.3, 0.6, 0.9)
    }
    ref = loads[0.0]
    corr, snr = [], []
    for d, s in loads.items():
        # The pairing does not depend on the difficulty.
        assert np.array_equal(s["image_index"], ref["image_index"])
        assert np.array_equal(s["audio_path"], ref["audio_path"])
        corr.append(_image_correlation(ref["image"], s["image"]))
        if d > 0:
            snr.append(_audio_snr_db(ref["audio"], s["audio"]))
    assert corr[0] == pytest.approx(1.0)
    assert np.all(np.diff(corr) < -0.05), corr
    assert np.all(np.diff(snr) < -3.0), snr


def test_audio_noise_follows_snr_formula():
    _require_data()
    d = 0.5
    ref = av_digits(DATA, max_per_split=200)["train"]["audio"]
    noisy = av_digits(DATA, difficulty=d, max_per_split=200)["train"]["audio"]
    measured = []
    for x, y in zip(ref, noisy):
        length = np.flatnonzero(x)[-1] + 1
        if length > 7000:
            continue
        tail_noise = np.mean(y[length:] ** 2)  # zero padding -> pure noise
        measured.append(10 * np.log10(np.mean(x[:length] ** 2) / tail_noise))
    assert len(measured) > 100
    assert np.median(measured) == pytest.approx(20 - 30 * d, abs=0.5)


def _band_features(audio, n_fft=256, hop=128):
    frames = np.arange(n_fft)[None, :] + hop * np.arange(
        (audio.shape[1] - n_fft) // hop + 1
    )[:, None]
    power = np.abs(np.fft.rfft(audio[:, frames] * np.hanning(n_fft), axis=-1)) ** 2
    bands = np.log(
        np.stack([power[..., b].mean(-1) for b in np.array_split(np.arange(129), 24)], -1)
        + 1e-8
    )
    segments = [bands[:, s].mean(1) for s in np.array_split(np.arange(bands.shape[1]), 8)]
    return np.concatenate([*segments, bands.mean(1), bands.std(1)], axis=1)


def _ridge_accuracy(train_x, train_y, test_x, test_y):
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    a = np.c_[(train_x - mu) / sd, np.ones(len(train_x))]
    b = np.c_[(test_x - mu) / sd, np.ones(len(test_x))]
    w = np.linalg.solve(
        a.T @ a + 0.01 * len(a) * np.eye(a.shape[1]), a.T @ np.eye(10)[train_y]
    )
    return np.mean((b @ w).argmax(1) == test_y)


def _accuracies(data):
    train = data["train"]
    held = {k: np.concatenate([data["val"][k], data["test"][k]]) for k in train}
    feats = {
        "image": lambda s: s["image"].reshape(len(s["image"]), -1) / 255.0,
        "audio": lambda s: _band_features(s["audio"]),
    }
    feats["fused"] = lambda s: np.c_[feats["image"](s), feats["audio"](s)]
    return {
        name: _ridge_accuracy(f(train), train["label"], f(held), held["label"])
        for name, f in feats.items()
    }


def test_hard_variant_needs_both_modalities(clean, hard):
    easy, tough = _accuracies(clean), _accuracies(hard)
    # Clean: each modality alone is easy for a linear classifier.
    assert easy["image"] > 0.75 and easy["audio"] > 0.85, easy
    # Hard: each alone drops a lot, and fusing them recovers much of it.
    assert tough["image"] < easy["image"] - 0.15, (easy, tough)
    assert tough["audio"] < easy["audio"] - 0.25, (easy, tough)
    assert tough["fused"] > max(tough["image"], tough["audio"]) + 0.07, tough


# --- argument and file errors (no real data needed) ---


@pytest.mark.parametrize("difficulty", [-0.1, 1.5, float("nan"), "hard", True])
def test_difficulty_must_be_in_unit_interval(tmp_path, difficulty):
    with pytest.raises(ValueError, match=r"`difficulty` must be a number in \[0, 1\]"):
        av_digits(str(tmp_path), difficulty=difficulty)
    with pytest.raises(ValueError, match=re.escape(f"difficulty={difficulty!r}")):
        av_digits(str(tmp_path), difficulty=difficulty)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"seed": -1}, "seed"),
        ({"sample_rate": 100}, "sample_rate"),
        ({"max_seconds": 0}, "max_seconds"),
        ({"image_size": 4}, "image_size"),
        ({"max_per_split": 0}, "max_per_split"),
    ],
)
def test_other_arguments_checked(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}="):
        av_digits(str(tmp_path), **kwargs)


def test_missing_folder_names_path_and_urls(tmp_path):
    root = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError) as err:
        av_digits(root)
    message = str(err.value)
    assert root in message
    assert "https://github.com/Jakobovski/free-spoken-digit-dataset" in message
    assert "yann.lecun.com/exdb/mnist" in message


def _write_fake_root(root, images_per_digit=40, magic=2051):
    """Two digits, one speaker, indices 0-11; MNIST-like IDX files."""
    recordings = root / "fsdd" / "recordings"
    recordings.mkdir(parents=True)
    for digit in (0, 1):
        for index in range(12):
            t = np.arange(400) / 8000.0
            tone = 0.3 * np.sin(2 * np.pi * (300 + 200 * digit) * t)
            with wave.open(str(recordings / f"{digit}_ada_{index}.wav"), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(np.round(tone * 32767).astype("<i2").tobytes())
    mnist = root / "mnist"
    mnist.mkdir()
    labels = np.repeat(np.arange(10, dtype=np.uint8), images_per_digit)
    images = np.zeros((len(labels), 28, 28), np.uint8)
    images[:, 8:20, 8:20] = 200
    header = np.array([magic, len(labels), 28, 28], ">u4").tobytes()
    with gzip.open(mnist / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(header + images.tobytes())
    with gzip.open(mnist / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([2049, len(labels)], ">u4").tobytes() + labels.tobytes())
    return str(root)


def test_synthetic_root_loads_offline(tmp_path):
    root = _write_fake_root(tmp_path)
    data = av_digits(root, difficulty=0.4, max_seconds=0.1)
    assert data["info"]["counts"] == {"train": 4, "val": 10, "test": 10}
    assert data["test"]["audio"].shape == (10, 800)
    assert set(data["train"]["speaker"]) == {"ada"}


def test_missing_mnist_file_named(tmp_path):
    root = _write_fake_root(tmp_path)
    os.remove(os.path.join(root, "mnist", "t10k-labels-idx1-ubyte.gz"))
    with pytest.raises(FileNotFoundError, match=r"t10k-labels-idx1-ubyte\.gz") as err:
        av_digits(root)
    assert "yann.lecun.com/exdb/mnist" in str(err.value)


def test_corrupt_mnist_file_named(tmp_path):
    root = _write_fake_root(tmp_path, magic=1234)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*Received: 1234"):
        av_digits(root)
    root = _write_fake_root(tmp_path / "second")
    path = os.path.join(root, "mnist", "t10k-labels-idx1-ubyte.gz")
    with open(path, "wb") as f:
        f.write(b"not a gzip file")
    with pytest.raises(ValueError, match=r"Corrupt MNIST labels file .*t10k-labels"):
        av_digits(root)


def test_bad_clip_name_named(tmp_path):
    root = _write_fake_root(tmp_path)
    open(os.path.join(root, "fsdd", "recordings", "hello.wav"), "wb").close()
    with pytest.raises(ValueError, match=r"hello\.wav"):
        av_digits(root)


# --- files on disk ---


def test_write_files_round_trip(tmp_path):
    _require_data()
    import tensorflow as tf

    split = av_digits(DATA, difficulty=0.5, max_per_split=12)["test"]
    manifest = write_av_digits_files(split, str(tmp_path / "out"))
    assert manifest == str(tmp_path / "out" / "manifest.csv")
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [list(r) for r in rows[:1]] == [["image", "audio", "label"]]
    assert len(rows) == 12
    base = os.path.dirname(manifest)
    for i, row in enumerate(rows):
        assert (row["image"], row["audio"]) == (f"images/{i}.png", f"audio/{i}.wav")
        assert int(row["label"]) == split["label"][i]
        with open(os.path.join(base, row["image"]), "rb") as f:
            png = tf.io.decode_png(f.read()).numpy()
        assert np.array_equal(png, split["image"][i])
        pcm, rate = _read_wav(os.path.join(base, row["audio"]))
        assert rate == 8000
        assert np.allclose(pcm / 32767.0, split["audio"][i], atol=0.6 / 32767)


def test_write_files_rejects_bad_format(tmp_path):
    split = {
        "image": np.zeros((1, 28, 28, 1), np.uint8),
        "audio": np.zeros((1, 8), np.float32),
        "label": np.array([0]),
    }
    with pytest.raises(ValueError, match=r"`image_format`.*image_format='jpeg'"):
        write_av_digits_files(split, str(tmp_path), image_format="jpeg")
    with pytest.raises(ValueError, match=r"`split_dict`.*\['audio', 'label'\]"):
        write_av_digits_files({"audio": 0, "label": 0}, str(tmp_path))
