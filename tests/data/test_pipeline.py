import csv
import json
import os
import struct
import wave

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf.config import DataConfig
from mmfusion_tf.data import ErrorReport, decoders, make_dataset, write_tfrecords
from tests import hub_modules as hm

N = 12
RATE_ON_DISK = 8000
LABELS = ["zero", "one", "two"]


def _write_wav(path, samples, rate=RATE_ON_DISK):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A manifest of PNG + WAV files with text, tabular columns and labels."""
    root = tmp_path_factory.mktemp("manifest")
    os.makedirs(root / "img")
    os.makedirs(root / "wav")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(N):
        image = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
        tf.io.write_file(str(root / "img" / f"{i}.png"), tf.io.encode_png(image))
        _write_wav(str(root / "wav" / f"{i}.wav"), 0.5 * np.sin(np.arange(800) * (i + 1) * 0.05))
        rows.append({"image": f"img/{i}.png", "audio": f"wav/{i}.wav", "text": f"the red car {i}",
                     "beds": str(i % 3) if i != 4 else "", "city": "ab"[i % 2], "label": LABELS[i % 3]})
    rows[5]["image"] = ""  # a row without its image: missing modality, not an error
    with open(root / "data.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(root / "data.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return root


def _config(hub_dir, presence=True):
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=16000, num_samples=1600),
            mmf.TextModality(name="text", handle=hub_dir["string_embedding"]),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]},
                                numeric_stats={"beds": [1.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=LABELS, hidden_units=[]),
        presence_inputs=presence,
    )


def _all(ds):
    features, labels = {}, []
    for x, y in ds:
        for k, v in x.items():
            features.setdefault(k, []).append(v.numpy())
        labels.append(y.numpy())
    return {k: np.concatenate(v) for k, v in features.items()}, np.concatenate(labels)


def test_feature_keys_and_specs_equal_the_model_inputs(files, hub_dir):
    config = _config(hub_dir)
    model = mmf.build_model(config)
    ds = make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=4))
    feature_spec, label_spec = ds.element_spec
    assert sorted(feature_spec) == sorted(model.input)
    for name, tensor in model.input.items():
        assert feature_spec[name].dtype == tensor.dtype, name
        assert feature_spec[name].shape[1:] == tuple(tensor.shape[1:]), name
    assert label_spec.dtype == tf.int32
    model.compile("adam", mmf.default_loss(config.head))
    assert np.isfinite(model.fit(ds, epochs=1, verbose=0).history["loss"][0])


def test_decoding_resampling_labels_and_missing_values(files, hub_dir):
    x, y = _all(make_dataset(str(files / "data.csv"), _config(hub_dir), DataConfig(batch_size=5)))
    assert y.tolist() == [i % 3 for i in range(N)]
    assert x["image"].dtype == np.uint8 and x["image"].shape == (N, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3)
    # 800 samples at 8 kHz -> 1600 at 16 kHz, the model's rate
    assert x["audio"].shape == (N, 1600) and np.abs(x["audio"][0]).max() > 0.3
    assert x["text"][3] == b"the red car 3"
    assert np.isnan(x["beds"][4]) and x["beds"][5] == 2.0
    assert x["city"][1] == b"b"
    # row 6 had no image: zeros and image_present = 0; every other modality present
    assert (x["image"][5] == 0).all() and x["image_present"][5] == 0.0
    assert x["image_present"].sum() == N - 1 and (x["audio_present"] == 1).all()


def test_csv_jsonl_dict_and_tfrecord_sources_agree(files, hub_dir, tmp_path):
    config = _config(hub_dir)
    reference = _all(make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=4)))
    from_jsonl = _all(make_dataset(str(files / "data.jsonl"), config, DataConfig(batch_size=4)))
    shards = write_tfrecords(str(files / "data.csv"), config, str(tmp_path / "rec" / "train"), num_shards=3)
    assert len(shards) == 3 and all(os.path.getsize(p) > 0 for p in shards)
    from_records = _all(make_dataset(str(tmp_path / "rec" / "train-*.tfrecord"), config, DataConfig(batch_size=4)))
    # Round-robin shards change the order: align every source on the (unique) text.
    def aligned(result):
        order = np.argsort(result[0]["text"])
        return {k: v[order] for k, v in result[0].items()}, result[1][order]

    reference = aligned(reference)
    for other in (aligned(from_jsonl), aligned(from_records)):
        np.testing.assert_array_equal(other[1], reference[1])
        for key, value in reference[0].items():
            if value.dtype.kind == "f":
                np.testing.assert_allclose(other[0][key], value, atol=1e-6)
            else:
                np.testing.assert_array_equal(other[0][key], value)


def test_in_memory_arrays(hub_dir):
    config = _config(hub_dir, presence=False)
    rng = np.random.default_rng(1)
    data = {"image": rng.integers(0, 256, (6, hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3), dtype=np.uint8),
            "audio": rng.normal(size=(6, 1000)).astype("float32"), "text": np.array(["a"] * 6, dtype=object),
            "beds": np.arange(6.0), "city": np.array(["a", "b"] * 3, dtype=object), "label": np.array([0, 1, 2] * 2)}
    x, y = _all(make_dataset(data, config, DataConfig(batch_size=4)))
    np.testing.assert_array_equal(x["image"], data["image"])
    np.testing.assert_allclose(x["audio"][:, :1000], data["audio"])  # padded to 1600
    assert (x["audio"][:, 1000:] == 0).all() and "image_present" not in x


def _manifest_copy(files, tmp_path, name, mutate):
    """A copy of the test manifest in another folder (absolute paths), edited by `mutate(rows)`."""
    with open(files / "data.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for column in ("image", "audio"):
            row[column] = str(files / row[column]) if row[column] else ""
    mutate(rows)
    path = tmp_path / name
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _break(tmp_path, corrupt_row=None, missing_row=None):
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(b"\x89PNG not really a png")

    def mutate(rows):
        if corrupt_row is not None:
            rows[corrupt_row]["image"] = str(bad)
        if missing_row is not None:
            rows[missing_row]["audio"] = str(tmp_path / "nowhere.wav")

    return mutate, str(bad)


def test_missing_file_error_names_file_and_row(files, hub_dir, tmp_path):
    mutate, _ = _break(tmp_path, missing_row=7)
    manifest = _manifest_copy(files, tmp_path, "broken.csv", mutate)
    with pytest.raises(FileNotFoundError, match=r"broken.csv row 8: audio file not found: .*nowhere.wav"):
        make_dataset(manifest, _config(hub_dir))


def test_corrupt_file_error_names_file_and_row(files, hub_dir, tmp_path):
    mutate, bad = _break(tmp_path, corrupt_row=2)
    ds = make_dataset(_manifest_copy(files, tmp_path, "broken.csv", mutate), _config(hub_dir), DataConfig(batch_size=4))
    expected = rf"could not read or decode .*broken.csv row 3 \(image: {bad}\)"
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        _all(ds)


@pytest.mark.parametrize("cache", [None, "memory", "file"])
def test_skip_mode_counts_and_reports_every_pass(files, hub_dir, tmp_path, capfd, cache):
    cache = str(tmp_path / "decoded") if cache == "file" else cache  # examples kept whole, by `Dataset.cache`
    mutate, _ = _break(tmp_path, corrupt_row=2, missing_row=7)
    report = ErrorReport()
    manifest = _manifest_copy(files, tmp_path, "broken.csv", mutate)
    data = DataConfig(batch_size=4, on_error="skip", cache=cache)
    ds = make_dataset(manifest, _config(hub_dir), data, report=report, training=True)
    for _ in range(2):  # two passes, like two epochs
        x, y = _all(ds)
        assert len(y) == N - 2
        assert int(report.last_pass.numpy()) == 2
    err = capfd.readouterr().err
    assert "skipping" in err and "nowhere.wav" in err and "corrupt.png" in err
    assert err.count("skipped 2 row(s)") == 2


def _write_wav_with_list_chunk(path, samples, rate=RATE_ON_DISK):
    """A mono 16-bit WAV whose `data` chunk follows a LIST chunk: other offsets than `wave` writes."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO"
    chunks += b"data" + struct.pack("<I", len(pcm)) + pcm
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_file_changed_after_the_header_scan_is_decoded_row_by_row(files, hub_dir, tmp_path, on_error):
    # Batches are decoded whole using the header scan made by make_dataset; a file
    # rewritten since then fails its batch, which is decoded again row by row.
    wav = tmp_path / "changed.wav"
    samples = 0.5 * np.sin(np.arange(800) * 0.3)
    _write_wav(str(wav), samples)
    manifest = _manifest_copy(files, tmp_path, "changed.csv", lambda rows: rows[6].update(audio=str(wav)))
    # cache=None: every pass reads the files
    ds = make_dataset(manifest, _config(hub_dir), DataConfig(batch_size=4, on_error=on_error, cache=None))
    before = _all(ds)
    _write_wav_with_list_chunk(wav, samples)  # same samples, 12 bytes further into the file
    sizes = [len(y) for _, y in ds]
    after = _all(ds)
    assert sizes == [4, 4, 4]
    np.testing.assert_array_equal(after[1], before[1])
    for key, value in before[0].items():
        np.testing.assert_array_equal(after[0][key], value)


def test_label_outside_declared_classes(files, hub_dir, tmp_path):
    manifest = _manifest_copy(files, tmp_path, "labels.csv", lambda rows: rows[3].update(label="seven"))
    expected = r"labels.csv row 4: label 'seven' is not a declared class. Allowed: \['zero', 'one', 'two'\]"
    with pytest.raises(ValueError, match=expected):
        make_dataset(manifest, _config(hub_dir))


def test_missing_column_is_named(files, hub_dir):
    config = _config(hub_dir)
    with pytest.raises(KeyError, match=r"column\(s\) \['price'\] missing"):
        make_dataset(str(files / "data.csv"), config, DataConfig(columns={"beds": "price"}))


def test_augmentation_only_in_training_and_shuffle_is_seeded(files, hub_dir):
    config = _config(hub_dir)
    manifest = str(files / "data.csv")
    evaluation = [_all(make_dataset(manifest, config, DataConfig(batch_size=4)))[0]["image"] for _ in range(2)]
    np.testing.assert_array_equal(*evaluation)  # no randomness at evaluation
    no_aug = make_dataset(manifest, config, DataConfig(batch_size=N, augment=True))  # augment ignored unless training
    np.testing.assert_array_equal(_all(no_aug)[0]["image"], evaluation[0])
    train = [_all(make_dataset(manifest, config, DataConfig(batch_size=4), training=True, seed=3))[1] for _ in range(2)]
    np.testing.assert_array_equal(*train)  # same seed, same order
    assert sorted(train[0].tolist()) == sorted(_all(make_dataset(manifest, config))[1].tolist())
    augmented = _all(make_dataset(manifest, config, DataConfig(batch_size=N), training=True, shuffle=False))[0]["image"]
    assert not np.array_equal(augmented, evaluation[0])


@pytest.mark.parametrize("cache", ["memory", "file"])
def test_cache_gives_identical_passes(files, hub_dir, tmp_path, cache):
    cache = str(tmp_path / "decoded") if cache == "file" else cache
    ds = make_dataset(str(files / "data.csv"), _config(hub_dir), DataConfig(batch_size=4, cache=cache))
    first, second = _all(ds), _all(ds)
    np.testing.assert_array_equal(first[0]["image"], second[0]["image"])
    np.testing.assert_array_equal(first[1], second[1])
    uncached = _all(make_dataset(str(files / "data.csv"), _config(hub_dir), DataConfig(batch_size=4)))
    np.testing.assert_allclose(first[0]["audio"], uncached[0]["audio"], atol=1e-6)
    if cache not in ("memory",):
        assert any(p.name.startswith("decoded") for p in tmp_path.iterdir())  # the cache files exist


def test_cli_to_tfrecord(files, hub_dir, tmp_path, capsys):
    from mmfusion_tf import cli

    config = _config(hub_dir)
    config_path = str(tmp_path / "model.yaml")
    config.to_yaml(config_path)
    prefix = str(tmp_path / "records" / "train")
    command = ["data", "to-tfrecord", str(files / "data.csv"), "--config", config_path, "--output", prefix]
    assert cli.main(command + ["--shards", "2"]) == 0
    assert "wrote 2 shard(s)" in capsys.readouterr().out
    x, y = _all(make_dataset(prefix + "-*.tfrecord", config, DataConfig(batch_size=5)))
    assert sorted(y.tolist()) == sorted(i % 3 for i in range(N))
    assert x["image_present"].sum() == N - 1  # the row without an image stays a missing modality


def test_tfrecord_corrupt_last_record_is_counted_every_pass(files, hub_dir, tmp_path, capfd):
    config = _config(hub_dir)
    with open(files / "data.csv") as f:
        rows = list(csv.DictReader(f))
    columns = {key: [r[key] for r in rows] for key in rows[0]}
    columns["image"] = [(files / p).read_bytes() if p else b"" for p in columns["image"]]
    columns["audio"] = [(files / p).read_bytes() for p in columns["audio"]]
    columns["image"][-1] = b"\x89PNG truncated"  # the last record: only the end-of-pass position reveals it
    shards = write_tfrecords(columns, config, str(tmp_path / "rec" / "bad"), num_shards=1)
    report = ErrorReport()
    ds = make_dataset(shards, config, DataConfig(batch_size=5, on_error="skip"), report=report)
    for _ in range(2):
        assert len(_all(ds)[1]) == N - 1
        assert int(report.last_pass.numpy()) == 1
    assert "TFRecord record #11" in capfd.readouterr().err
    with pytest.raises(tf.errors.InvalidArgumentError, match="could not read or decode TFRecord record #11"):
        _all(make_dataset(shards, config, DataConfig(batch_size=5)))


def test_cached_training_still_augments_every_pass(files, hub_dir):
    config = _config(hub_dir)
    plain = _all(make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=N)))
    data = DataConfig(batch_size=N, cache="memory")
    ds = make_dataset(str(files / "data.csv"), config, data, training=True, shuffle=False)
    first, second = _all(ds), _all(ds)
    np.testing.assert_array_equal(first[1], plain[1])  # same rows, same labels
    assert not np.array_equal(first[0]["image"], plain[0]["image"])  # augmented
    assert not np.array_equal(first[0]["image"], second[0]["image"])  # differently each pass
    np.testing.assert_array_equal(first[0]["audio"], plain[0]["audio"])  # only images are augmented


def _audio_config(hub_dir, num_samples):
    return mmf.ModelConfig(
        modalities=[
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=16000, num_samples=num_samples),
            mmf.TextModality(name="text", handle=hub_dir["string_embedding"]),
        ],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=LABELS, hidden_units=[]),
    )


@pytest.mark.parametrize("rate, num_samples", [(11025, 12345), (8000, 12345), (8000, 1600)])
def test_batched_resampling_follows_the_serving_rule(hub_dir, tmp_path, rate, num_samples):
    """Files sharing one rate are resampled per batch: the samples `load_audio` (serving) gives, row for row."""
    rng = np.random.default_rng(rate)
    paths = []
    for i, length in enumerate([3000, 9000, 20000, 5000]):  # shorter and longer than the kept source length
        paths.append(str(tmp_path / f"{i}.wav"))
        _write_wav(paths[-1], 0.3 * rng.normal(size=length), rate=rate)
    source = {"audio": paths, "text": [str(i) for i in range(4)], "label": LABELS + LABELS[:1]}
    x, _ = _all(make_dataset(source, _audio_config(hub_dir, num_samples), DataConfig(batch_size=3)))
    for path, batched in zip(paths, x["audio"]):
        expected = decoders.load_audio(tf.io.read_file(path), 16000, num_samples).numpy()
        np.testing.assert_allclose(batched, expected, atol=1e-5)


def test_tfrecords_of_arrays_are_lossless(hub_dir, tmp_path):
    """Audio arrays are written as float WAV: the records decode to what the arrays give."""
    config = _audio_config(hub_dir, 1600)
    rng = np.random.default_rng(2)
    data = {"audio": (0.3 * rng.normal(size=(5, 1200))).astype("float32"),
            "text": np.array(list("abcde"), dtype=object), "label": np.array([0, 1, 2, 0, 1])}
    reference = _all(make_dataset(data, config, DataConfig(batch_size=5)))
    shards = write_tfrecords(data, config, str(tmp_path / "rec" / "arrays"))
    records = _all(make_dataset(shards, config, DataConfig(batch_size=5)))
    np.testing.assert_array_equal(records[1], reference[1])
    np.testing.assert_array_equal(records[0]["audio"], reference[0]["audio"])


def test_each_image_input_gets_its_own_augmentation(files, hub_dir):
    image = dict(handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2, input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3])
    config = mmf.ModelConfig(
        modalities=[mmf.ImageModality(name="front", **image), mmf.ImageModality(name="back", **image)],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=LABELS, hidden_units=[]),
    )
    same = {"front": [str(files / f"img/{i}.png") for i in range(4)], "label": LABELS + LABELS[:1]}
    same["back"] = same["front"]
    plain = _all(make_dataset(same, config, DataConfig(batch_size=4)))[0]
    np.testing.assert_array_equal(plain["front"], plain["back"])
    augmented = _all(make_dataset(same, config, DataConfig(batch_size=4), training=True, shuffle=False))[0]
    assert not np.array_equal(augmented["front"], augmented["back"])


@pytest.mark.parametrize("batch_size", [5, 100])
def test_scanned_png_and_wav_columns_with_empty_cells_decode_like_single_files(hub_dir, tmp_path, batch_size):
    """PNGs at the model's size and 16-bit WAVs take the batch reads; values match file-by-file decoding."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(70):  # more than one 64-row decode batch, and a partial last one
        image = rng.integers(0, 256, (hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3), dtype=np.uint8)
        tf.io.write_file(str(tmp_path / f"{i}.png"), tf.io.encode_png(image))
        _write_wav(str(tmp_path / f"{i}.wav"), 0.5 * np.sin(np.arange(700 + i) * (i + 1) * 0.03))
        rows.append({"image": f"{i}.png", "audio": f"{i}.wav", "label": LABELS[i % 3]})
    rows[3]["image"] = ""
    rows[66]["audio"] = ""
    with open(tmp_path / "scanned.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["image", "audio", "label"])
        writer.writeheader()
        writer.writerows(rows)
    config = mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="image", handle=hub_dir["image"], image_size=[hm.IMAGE_SIZE] * 2,
                              input_shape=[hm.IMAGE_SIZE, hm.IMAGE_SIZE, 3]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=16000, num_samples=1600),
        ],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=LABELS, hidden_units=[]),
        presence_inputs=True,
    )
    ds = make_dataset(str(tmp_path / "scanned.csv"), config, DataConfig(batch_size=batch_size))
    assert [int(y.shape[0]) for _, y in ds] == [min(batch_size, 70 - start) for start in range(0, 70, batch_size)]
    x, y = _all(ds)
    assert y.tolist() == [i % 3 for i in range(70)]
    for i, row in enumerate(rows):
        image = tf.io.decode_png(tf.io.read_file(str(tmp_path / row["image"]))).numpy() if row["image"] else 0
        np.testing.assert_array_equal(x["image"][i], image, err_msg=f"row {i}")
        audio = 0
        if row["audio"]:
            audio = decoders.load_audio(tf.io.read_file(str(tmp_path / row["audio"])), 16000, 1600).numpy()
        np.testing.assert_allclose(x["audio"][i], audio, atol=1e-5, err_msg=f"row {i}")
    assert x["image_present"].tolist() == [0.0 if i == 3 else 1.0 for i in range(70)]
    assert x["audio_present"].tolist() == [0.0 if i == 66 else 1.0 for i in range(70)]


def test_autotuning_is_off_unless_asked_for(files, hub_dir):
    config = _config(hub_dir)
    default = make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=4))
    on = tf.data.Options()
    on.autotune.enabled = True
    tuned = make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=4)).with_options(on)
    assert default.options().autotune.enabled is False
    assert tuned.options().autotune.enabled is True
    np.testing.assert_array_equal(_all(default)[1], _all(tuned)[1])


def _rewritable_wav_manifest(files, tmp_path):
    """A copy of the manifest whose row 6 reads a WAV (a sine) that the test may rewrite."""
    wav = tmp_path / "later.wav"
    _write_wav(str(wav), 0.5 * np.sin(np.arange(800) * 0.3))
    return _manifest_copy(files, tmp_path, "later.csv", lambda rows: rows[6].update(audio=str(wav))), wav


def test_decoded_rows_are_cached_by_default_in_the_uncached_shuffle_order(files, hub_dir, tmp_path, capfd):
    manifest, wav = _rewritable_wav_manifest(files, tmp_path)
    config = _config(hub_dir)
    options = dict(training=True, seed=3)
    cached = make_dataset(manifest, config, DataConfig(batch_size=4, augment=False), **options)
    uncached = make_dataset(manifest, config, DataConfig(batch_size=4, augment=False, cache=None), **options)
    before = _all(cached), _all(uncached)
    _write_wav(str(wav), np.zeros(800))  # silence from now on
    after = _all(cached), _all(uncached)
    for (x_cached, y_cached), (x_plain, y_plain) in (before, after):
        np.testing.assert_array_equal(y_cached, y_plain)  # the same shuffled order, pass by pass
        np.testing.assert_array_equal(x_cached["image"], x_plain["image"])
        np.testing.assert_array_equal(x_cached["text"], x_plain["text"])
    assert not np.array_equal(before[0][1], after[0][1])  # reshuffled every pass
    rewritten = np.abs(after[1][0]["audio"]).max(axis=1) == 0  # the row that now reads silence without a cache
    assert rewritten.sum() == 1
    assert np.abs(after[0][0]["audio"][rewritten]).max() > 0.1  # the cache still holds the sine it decoded
    np.testing.assert_allclose(after[0][0]["audio"][~rewritten], after[1][0]["audio"][~rewritten], atol=1e-6)


@pytest.mark.parametrize("batch_size, options", [(5, {}), (5, dict(drop_remainder=True)), (None, {}),
                                                 (100, dict(training=True, shuffle=False))])
def test_cached_passes_give_what_decoding_gives(files, hub_dir, capfd, batch_size, options):
    config = _config(hub_dir)
    cached = make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=batch_size), **options)
    list(cached.take(1))  # a pass cut short: no warning, the rows it decoded are kept
    # The first pass decodes, the next ones read the cache.
    passes = [_all(cached) if batch_size else _all(cached.batch(N)) for _ in range(3)]
    uncached = make_dataset(str(files / "data.csv"), config, DataConfig(batch_size=batch_size, cache=None), **options)
    expected = _all(uncached) if batch_size else _all(uncached.batch(N))
    for x, y in passes:
        np.testing.assert_array_equal(y, expected[1])
        assert set(x) == set(expected[0])
        for key, value in expected[0].items():
            if key == "image" and options.get("training"):
                continue  # augmented
            elif value.dtype.kind == "f":
                np.testing.assert_allclose(x[key], value, atol=1e-6, err_msg=key)
            else:
                np.testing.assert_array_equal(x[key], value, err_msg=key)
    if options.get("training"):  # augmented differently on every pass, from the cache too
        assert not np.array_equal(passes[1][0]["image"], passes[2][0]["image"])
    assert "did not fully read the dataset being cached" not in capfd.readouterr().err


def test_auto_cache_only_when_the_decoded_rows_fit_in_memory(files, hub_dir, tmp_path, monkeypatch):
    manifest, wav = _rewritable_wav_manifest(files, tmp_path)
    monkeypatch.setattr("mmfusion_tf.data.stages.cache.free_memory_bytes", lambda: 100_000)  # under 4x the decoded rows
    config = _config(hub_dir)
    auto = make_dataset(manifest, config, DataConfig(batch_size=N))
    memory = make_dataset(manifest, config, DataConfig(batch_size=N, cache="memory"))
    _all(auto), _all(memory)
    _write_wav(str(wav), np.zeros(800))
    assert np.abs(_all(auto)[0]["audio"][6]).max() == 0  # too big for "auto": read again
    assert np.abs(_all(memory)[0]["audio"][6]).max() > 0.1  # "memory" caches whatever the size


@pytest.mark.parametrize("training, cache", [(True, "auto"), (False, None), (True, "memory")])
def test_every_function_of_the_pipeline_takes_the_single_device_path(files, hub_dir, training, cache):
    """Each new iterator (every epoch of `fit`) instantiates them again: none may go through Grappler."""
    data = DataConfig(batch_size=4, cache=cache)
    ds = make_dataset(str(files / "data.csv"), _config(hub_dir), data, training=training)
    graph = tf.compat.v1.GraphDef.FromString(ds._as_serialized_graph().numpy())
    # `unbatch` and `rebatch` add TensorFlow's own `map(normalize)` (an identity on flat tensors).
    data_functions = [
        f for f in graph.library.function if f.attr["_tf_data_function"].b and "_map_normalize_" not in f.signature.name
    ]
    assert len(data_functions) >= 3  # read and decode, check, split (and more)
    assert [f.signature.name for f in data_functions if not f.attr["experimental_ints_on_device"].b] == []


def test_a_distribution_strategy_gets_no_batch_without_rows(files, hub_dir):
    """The end-of-pass batch of no rows stays inside the pipeline, also when tf.distribute rewrites it."""
    ds = make_dataset(str(files / "data.csv"), _config(hub_dir), DataConfig(batch_size=4), training=True)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    for _ in range(2):  # two passes
        sizes = [int(y.shape[0]) for _, y in strategy.experimental_distribute_dataset(ds)]
        assert sizes and min(sizes) > 0 and sum(sizes) == sum(int(y.shape[0]) for _, y in ds)
