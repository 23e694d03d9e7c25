"""Tests for the procedural image + text + audio demo dataset."""

import numpy as np
import pytest

from mmfusion_tf.datasets import demo

N = 4000


@pytest.fixture(scope="module")
def data():
    return demo.make_demo_data(num_examples=N, seed=0)


# --- simple per-modality features, written independently of the generator ---


def _foreground_masks(images):
    """Pixels far from each image's median (background) colour, denoised."""
    x = images.astype(np.float32)
    median = np.median(x.reshape(len(x), -1, 3), axis=1)[:, None, None, :]
    dist = np.linalg.norm(x - median, axis=-1)
    thresh = 0.5 * np.percentile(dist.reshape(len(x), -1), 97, axis=1)
    mask = (dist > thresh[:, None, None]).astype(np.int32)
    padded = np.pad(mask, ((0, 0), (1, 1), (1, 1)))
    size = mask.shape[1]
    votes = sum(
        padded[:, i : i + size, j : j + size] for i in range(3) for j in range(3)
    )
    return votes >= 5  # 3x3 majority filter


def _shape_features(images, out=8):
    """8x8 binarised foreground mask cropped to its bounding box."""
    feats = np.zeros((len(images), out * out), dtype=np.float32)
    for k, mask in enumerate(_foreground_masks(images)):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        if len(rows) == 0:
            continue
        crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        r = ((np.arange(out) + 0.5) * crop.shape[0] / out).astype(int)
        c = ((np.arange(out) + 0.5) * crop.shape[1] / out).astype(int)
        feats[k] = crop[np.ix_(r, c)].ravel()
    return feats


def _nearest_centroid(train_x, train_y, test_x):
    centroids = np.stack([train_x[train_y == k].mean(0) for k in range(4)])
    dists = ((test_x[:, None, :] - centroids[None]) ** 2).sum(-1)
    return dists.argmin(1)


def _audio_peak_pitch(audio, sample_rate=16000):
    spectrum = np.abs(np.fft.rfft(audio, axis=1))
    peak_hz = spectrum.argmax(1) * sample_rate / audio.shape[1]
    return np.abs(peak_hz[:, None] - np.array(demo.PITCHES_HZ)[None]).argmin(1)


def _keyword_topic(texts):
    lookup = {
        word: t for t, name in enumerate(demo.TOPICS) for word in demo.TOPIC_WORDS[name]
    }
    found = [[lookup[w] for w in text.split() if w in lookup] for text in texts]
    assert all(len(f) == 1 for f in found), "each text has exactly one keyword"
    return np.array([f[0] for f in found])


def _best_label_accuracy(predictor, label):
    """Accuracy of the best label guess given the value of `predictor`."""
    hits = 0
    for value in np.unique(predictor):
        hits += np.bincount(label[predictor == value], minlength=8).max()
    return hits / len(label)


# --- structure, dtypes, ranges ---


def test_shapes_dtypes_and_ranges(data):
    assert set(data) == {"image", "text", "audio", "label", "shape", "pitch", "topic"}
    assert data["image"].shape == (N, 32, 32, 3) and data["image"].dtype == np.uint8
    assert data["audio"].shape == (N, 8000) and data["audio"].dtype == np.float32
    assert np.abs(data["audio"]).max() <= 1.0
    assert data["text"].shape == (N,) and data["text"].dtype == object
    for text in data["text"]:
        assert type(text) is str and text == text.lower() and text.strip() == text
    for key in ("label", "shape", "pitch", "topic"):
        assert data[key].dtype == np.int32 and data[key].shape == (N,)
    assert set(np.unique(data["label"])) == set(range(8))
    for key in ("shape", "pitch", "topic"):
        assert set(np.unique(data[key])) == set(range(4))


def test_custom_sizes():
    d = demo.make_demo_data(
        num_examples=5, image_size=48, sample_rate=8000, audio_seconds=0.25
    )
    assert d["image"].shape == (5, 48, 48, 3)
    assert d["audio"].shape == (5, 2000)


def test_constants():
    assert demo.NUM_CLASSES == len(demo.LABEL_NAMES) == len(set(demo.LABEL_NAMES)) == 8
    assert len(demo.SHAPES) == len(demo.PITCHES_HZ) == len(demo.TOPICS) == 4
    assert set(demo.TOPIC_WORDS) == set(demo.TOPICS)
    all_words = [w for words in demo.TOPIC_WORDS.values() for w in words]
    assert len(all_words) == len(set(all_words)) == 32


def test_label_names_follow_the_formula():
    # Each name part names the group of its attribute: attr % 2.
    for s, shape in enumerate(demo.SHAPES):
        for p in range(4):
            for t, topic in enumerate(demo.TOPICS):
                name = demo.LABEL_NAMES[demo.demo_label(s, p, t)]
                shape_part, pitch_part, topic_part = name.split("-")
                sloped = shape in ("circle", "triangle")
                assert shape_part == ("sloped" if sloped else "boxy")
                assert pitch_part == ("EG" if demo.PITCH_NOTES[p][0] in "EG" else "CD")
                biotic = topic in ("food", "animal")
                assert topic_part == ("biotic" if biotic else "abiotic")


# --- determinism and seed streams ---


def test_same_seed_is_identical_and_other_seed_differs():
    a = demo.make_demo_data(num_examples=50, seed=3)
    b = demo.make_demo_data(num_examples=50, seed=3)
    c = demo.make_demo_data(num_examples=50, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    for key in ("image", "audio", "text", "label"):
        assert not np.array_equal(a[key], c[key]), key


def test_modalities_use_separate_streams():
    a = demo.make_demo_data(num_examples=20, seed=5)
    b = demo.make_demo_data(num_examples=20, seed=5, audio_seconds=0.3, image_size=40)
    np.testing.assert_array_equal(a["text"], b["text"])
    np.testing.assert_array_equal(a["label"], b["label"])


def test_source_task_shapes_and_targets():
    for modality in ("image", "audio", "text"):
        x, y = demo.make_source_task(modality, num_examples=400, seed=0)
        assert len(x) == 400 and y.dtype == np.int32 and y.shape == (400,)
        assert set(np.unique(y)) == set(range(4)), modality
        x2, y2 = demo.make_source_task(modality, num_examples=400, seed=0)
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    x, y = demo.make_source_task("audio", num_examples=400, seed=0)
    assert np.mean(_audio_peak_pitch(x) == y) > 0.95
    x, y = demo.make_source_task("text", num_examples=400, seed=0)
    np.testing.assert_array_equal(_keyword_topic(x), y)


def test_source_task_shares_no_samples_with_target():
    target = demo.make_demo_data(num_examples=2000, seed=0)
    for modality in ("image", "audio"):
        x, _ = demo.make_source_task(modality, num_examples=2000, seed=0)
        seen = {row.tobytes() for row in target[modality]}
        assert not any(row.tobytes() in seen for row in x), modality
    # Sentences come from a finite grammar and may repeat by chance, but the
    # streams must differ: matching positions stay near the chance rate.
    x, y = demo.make_source_task("text", num_examples=2000, seed=0)
    assert np.mean(x == target["text"]) < 0.01
    assert np.mean(y == target["topic"]) < 0.35


# --- information content ---


def test_label_formula_and_uniformity(data):
    expected = 4 * (data["shape"] % 2) + 2 * (data["pitch"] % 2) + data["topic"] % 2
    np.testing.assert_array_equal(data["label"], expected)
    freq = np.bincount(data["label"], minlength=8) / N
    assert np.all(np.abs(freq - 1 / 8) < 0.025), freq


def test_one_attribute_caps_label_accuracy(data):
    label = data["label"]
    for key in ("shape", "pitch", "topic"):
        assert _best_label_accuracy(data[key], label) <= 0.30, key
    for a, b in (("shape", "pitch"), ("shape", "topic"), ("pitch", "topic")):
        assert _best_label_accuracy(4 * data[a] + data[b], label) <= 0.55, (a, b)
    joint = 16 * data["shape"] + 4 * data["pitch"] + data["topic"]
    assert _best_label_accuracy(joint, label) == 1.0


def test_audio_peak_recovers_pitch_only(data):
    predicted = _audio_peak_pitch(data["audio"])
    assert np.mean(predicted == data["pitch"]) > 0.95
    assert np.mean(predicted == data["topic"]) < 0.30
    assert _best_label_accuracy(predicted, data["label"]) <= 0.30


def test_text_keyword_recovers_topic_only(data):
    predicted = _keyword_topic(data["text"])
    np.testing.assert_array_equal(predicted, data["topic"])
    assert _best_label_accuracy(predicted, data["label"]) <= 0.30


def test_text_filler_words_carry_no_topic(data):
    keywords = {w for words in demo.TOPIC_WORDS.values() for w in words}
    counts = {}
    for text, topic in zip(data["text"], data["topic"]):
        for word in text.split():
            if word not in keywords:
                counts.setdefault(word, np.zeros(4))[topic] += 1
    for word, per_topic in counts.items():
        if per_topic.sum() >= 200:
            share = per_topic / per_topic.sum()
            assert np.all(np.abs(share - 0.25) < 0.07), (word, share)


def test_image_mask_centroids_recover_shape_only(data):
    feats = _shape_features(data["image"])
    train, test = slice(0, N // 2), slice(N // 2, N)
    predicted = _nearest_centroid(feats[train], data["shape"][train], feats[test])
    assert np.mean(predicted == data["shape"][test]) > 0.90
    assert _best_label_accuracy(predicted, data["label"][test]) <= 0.30
    # The same features know nothing about the pitch.
    wrong = _nearest_centroid(feats[train], data["pitch"][train], feats[test])
    assert np.mean(wrong == data["pitch"][test]) < 0.30


def test_image_noise_controls_pixel_noise():
    clean = demo.make_demo_data(num_examples=50, seed=2, image_noise=0.0)
    noisy = demo.make_demo_data(num_examples=50, seed=2, image_noise=0.2)
    masks = _foreground_masks(clean["image"])
    for image, mask in zip(clean["image"], masks):
        # Without noise the shape is one flat colour; the estimated mask may
        # include a few background pixels, so look at the dominant colour.
        _, counts = np.unique(image[mask], axis=0, return_counts=True)
        assert counts.max() >= 0.9 * mask.sum()
    diff = noisy["image"].astype(float) - clean["image"].astype(float)
    assert 0.15 * 255 < diff.std() < 0.2 * 255


def test_audio_snr_matches_argument():
    clean = demo.make_demo_data(num_examples=200, seed=2, audio_snr_db=120.0)["audio"]
    noisy = demo.make_demo_data(num_examples=200, seed=2)["audio"]
    noise = noisy - clean
    snr = 10 * np.log10((clean**2).sum(1) / (noise**2).sum(1))
    assert abs(np.median(snr) - 10.0) < 0.5
    peak = np.abs(clean).max(1)
    assert np.all((peak > 0.1) & (peak <= 0.8 + 1e-6))
    # Random onset: the tone starts anywhere in the first part of the clip.
    start = np.argmax(np.abs(clean) > 1e-3, axis=1)
    assert np.ptp(start) > 1000


# --- vocabulary ---


def test_vocabulary_covers_all_text(data):
    vocab = demo.demo_vocabulary()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = vocab[5:]
    assert words == sorted(set(words))
    used = {w for text in data["text"] for w in text.split()}
    assert used <= set(words)
    assert all(w.isalpha() for w in words)
    # Every keyword and filler can be emitted; none is dead weight.
    assert set(words) == used


# --- split ---


def test_split_is_stratified_disjoint_and_complete(data):
    tagged = dict(data, uid=np.arange(N))
    train, val, test = demo.split_demo_data(tagged, fractions=(0.7, 0.15, 0.15), seed=0)
    ids = [s["uid"] for s in (train, val, test)]
    assert sorted(np.concatenate(ids).tolist()) == list(range(N))
    per_label = np.bincount(data["label"], minlength=8)
    for split, fraction in zip((train, val, test), (0.7, 0.15, 0.15)):
        assert set(split) == set(tagged)
        counts = np.bincount(split["label"], minlength=8)
        assert np.all(np.abs(counts - fraction * per_label) <= 1), counts
        # Rows stay aligned across keys.
        np.testing.assert_array_equal(split["label"], data["label"][split["uid"]])
        np.testing.assert_array_equal(split["text"], data["text"][split["uid"]])
    again = demo.split_demo_data(tagged, seed=0)
    np.testing.assert_array_equal(again[0]["uid"], train["uid"])
    other = demo.split_demo_data(tagged, seed=1)
    assert not np.array_equal(other[0]["uid"], train["uid"])


# --- argument validation ---


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_examples": 0}, "num_examples"),
        ({"num_examples": 2.5}, "num_examples"),
        ({"seed": -1}, "seed"),
        ({"seed": "a"}, "seed"),
        ({"image_size": 8}, "image_size"),
        ({"sample_rate": 4000}, "sample_rate"),
        ({"audio_seconds": 0}, "audio_seconds"),
        ({"image_noise": -0.1}, "image_noise"),
        ({"audio_snr_db": float("nan")}, "audio_snr_db"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`.*Received: {name}="):
        demo.make_demo_data(**kwargs)
    with pytest.raises(ValueError, match=f"`{name}`"):
        demo.make_source_task("image", **kwargs)


def test_bad_modality_lists_allowed_values():
    with pytest.raises(ValueError, match=r"`modality`.*audio.*image.*text.*video"):
        demo.make_source_task("video")


@pytest.mark.parametrize(
    "fractions", [(0.5, 0.5), (0.7, 0.2, 0.2), (1.2, -0.1, -0.1), "abc"]
)
def test_bad_fractions(fractions):
    small = demo.make_demo_data(num_examples=16)
    with pytest.raises(ValueError, match="`fractions`.*Received: fractions="):
        demo.split_demo_data(small, fractions=fractions)


def test_bad_data_for_split():
    with pytest.raises(ValueError, match="`data`"):
        demo.split_demo_data({"image": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="first dimension"):
        demo.split_demo_data({"label": np.zeros(3), "image": np.zeros((2, 2))})
