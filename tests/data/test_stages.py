"""Each stage of `make_dataset`, eagerly and inside `Dataset.map`: the same values both ways."""

import wave

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf.data import decoders
from mmfusion_tf.data.scan import ColumnScan, scan_column
from mmfusion_tf.data.schema import Field
from mmfusion_tf.data.sources import check_rows as check_source_rows
from mmfusion_tf.data.stages import INDEX, LABEL, POSITION
from mmfusion_tf.data.stages.augment import augment_images
from mmfusion_tf.data.stages.cache import DecodedRowCache, cache_decoded
from mmfusion_tf.data.stages.check import ErrorReport, check_rows, empty_batch, recover_rows, with_end_of_pass
from mmfusion_tf.data.stages.decode import decode_files, resample_audio
from mmfusion_tf.data.stages.read import RowTable, read_rows
from mmfusion_tf.data.stages.select import select_inputs
from mmfusion_tf.data.stages.shuffle import shuffle_order
from mmfusion_tf.data.stages.split import split_label

IMAGE = Field("image", "image", "photo", "image", image_size=(6, 8), channels=3)
AUDIO = Field("audio", "audio", "sound", "audio", sample_rate=16000, num_samples=400)
TEXT = Field("text", "text", "text", "text")
PRICE = Field("price", "numeric", "price", "table")


def _numpy(structure):
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, structure)


def both_ways(stage, element):
    """`stage(element)` eagerly and inside `Dataset.map` (graph mode); checks they agree, returns numpy."""
    eager = _numpy(stage(element))
    (mapped,) = list(tf.data.Dataset.from_tensors(element).map(stage))
    tf.nest.map_structure(np.testing.assert_array_equal, eager, _numpy(mapped))
    return eager


def _write_wav(path, samples, rate=8000, channels=1):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Four rows: PNG 6x8 RGB + mono 16-bit WAV at 8 kHz, the second audio cell empty."""
    root = tmp_path_factory.mktemp("stages")
    rng = np.random.default_rng(0)
    images, sounds = [], []
    for i in range(4):
        images.append(str(root / f"{i}.png"))
        tf.io.write_file(images[-1], tf.io.encode_png(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)))
        sounds.append(_write_wav(root / f"{i}.wav", 0.5 * np.sin(np.arange(150 + 10 * i) * (i + 1) * 0.1)))
    sounds[1] = ""
    return {"photo": images, "sound": sounds, "text": ["a", "b", "", "d"], "price": [1.0, float("nan"), 3.0, 4.0],
            "label": [0, 1, 2, 1]}


def _table(files):
    label = type("Label", (), {"column": "label", "task": "multiclass", "num_classes": 3, "names": None})()
    return RowTable(check_source_rows(dict(files), [IMAGE, AUDIO, TEXT, PRICE], label, "rows.csv"))


def test_shuffle_order_is_a_seeded_permutation_new_every_pass():
    pass_number = tf.Variable(0, dtype=tf.int64)
    order = shuffle_order(10, seed=3, pass_number=pass_number)
    first = both_ways(order, {POSITION: tf.range(10, dtype=tf.int64)})[INDEX]
    assert sorted(first.tolist()) == list(range(10)) and first.tolist() != list(range(10))
    pass_number.assign(1)
    assert order({POSITION: tf.range(10, dtype=tf.int64)})[INDEX].numpy().tolist() != first.tolist()
    assert both_ways(shuffle_order(10, seed=3), {POSITION: tf.constant([4, 2], tf.int64)})[INDEX].tolist() == [4, 2]


def test_read_rows_gathers_the_checked_columns_and_names_rows(files):
    table = _table(files)
    rows = both_ways(read_rows(table), {INDEX: tf.constant([3, 0], tf.int64)})
    assert rows["label"].tolist() == [1, 0] and rows["text"].tolist() == [b"d", b"a"]
    assert table.describe([1]) == [f"rows.csv row 2 (photo: {files['photo'][1]}) (sound: )"]


def test_select_inputs_renames_columns_and_flags_missing_modalities(files):
    rows = read_rows(_table(files))({INDEX: tf.range(4, dtype=tf.int64), POSITION: tf.range(4, dtype=tf.int64)})
    select = select_inputs([IMAGE, AUDIO, TEXT, PRICE], {"photo": "path", "sound": "path"}, "label", presence=True)
    example = both_ways(select, rows)
    inputs = ["image", "audio", "text", "price", "image_present", "audio_present", "text_present", "table_present"]
    assert sorted(example) == sorted(inputs + [LABEL, POSITION, INDEX])
    assert example["audio_present"].tolist() == [1, 0, 1, 1] and example["text_present"].tolist() == [1, 1, 0, 1]
    assert example["table_present"].tolist() == [1, 0, 1, 1]  # NaN price
    assert example["image"][0] == files["photo"][0].encode() and example[LABEL].tolist() == [0, 1, 2, 1]
    one_row = both_ways(select, {k: v[0] for k, v in rows.items()})
    assert one_row["audio_present"] == 1.0 and one_row[LABEL] == 0


def _selected(files, rows):
    select = select_inputs([IMAGE, AUDIO], {"photo": "path", "sound": "path"})
    return select(read_rows(_table(files))({INDEX: tf.constant(rows, tf.int64), POSITION: tf.constant(rows, tf.int64)}))


def _expected_audio(path):
    return decoders.load_audio(tf.io.read_file(path), 16000, 400).numpy() if path else np.zeros(400, "float32")


@pytest.mark.parametrize("batch_size", [None, 4])
def test_decode_files_and_resample_audio_give_what_serving_gives(files, batch_size):
    scans = {"photo": scan_column("image", files["photo"]), "sound": scan_column("audio", files["sound"])}
    assert scans["photo"].png_shape == (6, 8, 3) and scans["sound"].pcm16 and scans["sound"].sample_rate == 8000
    decode = decode_files([IMAGE, AUDIO], {"photo": "path", "sound": "path"}, scans, batch_size)
    resample = resample_audio([IMAGE, AUDIO], scans)
    if batch_size is None:  # one row at a time (general decoders), then resampled together
        rows = [both_ways(decode, {k: v[i] for k, v in _selected(files, [0, 1, 2, 3]).items()}) for i in range(4)]
        decoded = {k: np.stack([r[k] for r in rows]) for k in ("image", "audio")}
    else:  # the fast reads: PNG decoded alone, 16-bit PCM cut out of the bytes
        decoded = both_ways(decode, _selected(files, [0, 1, 2, 3]))
    assert decoded["audio"].shape == (4, 200)  # cropped/padded at 8 kHz, resampled next
    example = both_ways(resample, {k: tf.constant(v) for k, v in decoded.items()})
    for i in range(4):
        np.testing.assert_array_equal(example["image"][i], tf.io.decode_png(tf.io.read_file(files["photo"][i])).numpy())
        np.testing.assert_allclose(example["audio"][i], _expected_audio(files["sound"][i]), atol=1e-5)


def test_fast_reads_of_stereo_16_bit_files_average_the_channels(tmp_path):
    rng = np.random.default_rng(1)
    paths = [_write_wav(tmp_path / f"{i}.wav", 0.3 * rng.normal(size=2 * (120 + 40 * i)), channels=2) for i in range(3)]
    scans = {"sound": scan_column("audio", paths)}
    assert scans["sound"].pcm16 and scans["sound"].channels == 2
    decode = _then_resample(decode_files([AUDIO], {"sound": "path"}, scans, batch_size=4), scans)
    example = both_ways(decode, {"audio": tf.constant(paths), INDEX: tf.constant([0, 1, 2], tf.int64)})
    for path, audio in zip(paths, example["audio"]):
        np.testing.assert_allclose(audio, _expected_audio(path), atol=1e-5)


def _then_resample(decode, scans):
    resample = resample_audio([AUDIO], scans)
    return lambda example: resample(decode(example))


def test_fast_reads_fail_the_batch_for_a_file_changed_since_the_scan(files, tmp_path):
    sound = _write_wav(tmp_path / "later.wav", np.zeros(150))
    scans = {"photo": ColumnScan(), "sound": scan_column("audio", [sound])}
    _write_wav(tmp_path / "later.wav", np.zeros(160))  # another data size
    example = {"audio": tf.constant([sound]), INDEX: tf.constant([0], tf.int64)}
    decode = decode_files([AUDIO], {"sound": "path"}, scans, batch_size=4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a WAV file changed since its header was read"):
        decode(example)
    with pytest.raises(tf.errors.InvalidArgumentError, match="a WAV file changed since its header was read"):
        list(tf.data.Dataset.from_tensors(example).map(decode))


def test_cache_decoded_gathers_rows_it_holds_and_decodes_the_others():
    calls = tf.Variable(0)

    def decode(example):
        with tf.control_dependencies([calls.assign_add(1)]):
            return {**example, "image": tf.cast(example[INDEX], tf.uint8)[:, None] * tf.ones([1, 2], tf.uint8)}

    cache = DecodedRowCache({"image": tf.TensorSpec([2], tf.uint8)}, num_rows=4)
    cached = cache_decoded(cache, decode)
    first = both_ways(cached, {INDEX: tf.constant([1, 3], tf.int64), "image": tf.constant(["a", "b"])})
    assert first["image"].tolist() == [[1, 1], [3, 3]] and cache.stored.numpy().tolist() == [False, True, False, True]
    decoded = int(calls.numpy())
    again = both_ways(cached, {INDEX: tf.constant([3, 1], tf.int64), "image": tf.constant(["b", "a"])})
    assert again["image"].tolist() == [[3, 3], [1, 1]] and int(calls.numpy()) == decoded  # gathered, not decoded
    assert DecodedRowCache.nbytes({"image": tf.TensorSpec([2], tf.uint8)}, 4) == 8


def _checked(on_error, batches, recover=None, end=6):
    """`(report, dataset)`: `batches` of positions through `check_rows`, ended by `with_end_of_pass`."""
    report = ErrorReport()
    check = check_rows(report, on_error, "rows.csv", lambda ps: [f"rows.csv row {p + 1}" for p in ps],
                       lambda: end, recover)
    ds = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=tf.TensorSpec([None], tf.int64))
    ds = ds.map(lambda p: {POSITION: p, "x": tf.cast(p, tf.float32)})
    return report, check, with_end_of_pass(ds).map(check)


def _batch(positions):
    return {POSITION: tf.constant(positions, tf.int64), "x": tf.constant(positions, tf.float32)}


def test_check_rows_names_the_first_missing_row_with_raise():
    report, check, ds = _checked("raise", [[0, 1], [3, 4]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="could not read or decode rows.csv row 3"):
        list(ds)
    report, check, _ = _checked("raise", [])  # eagerly, batch by batch
    assert _numpy(check(_batch([0, 1])))[POSITION].tolist() == [0, 1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="could not read or decode rows.csv row 3"):
        check(_batch([3, 4]))


def test_check_rows_counts_skips_every_pass_and_ends_the_pass(capfd):
    report, check, ds = _checked("skip", [[0, 1], [3, 4]])
    for number in (1, 2):
        assert [b[POSITION].numpy().tolist() for b in ds] == [[0, 1], [3, 4], []]  # the empty batch ends the pass
        assert int(report.last_pass) == 2 and int(report.pass_number) == number  # positions 2 and 5
    err = capfd.readouterr().err
    assert err.count("skipping unreadable rows.csv row 3") == 2 and err.count("skipping unreadable rows.csv row 6") == 2
    assert err.count("end of pass over rows.csv - skipped 2 row(s)") == 2
    report, check, _ = _checked("skip", [])  # eagerly, batch by batch
    check(_batch([0, 1, 2, 3, 4]))
    assert _numpy(check(_batch([])))[POSITION].tolist() == [] and int(report.last_pass) == 1


def test_check_rows_first_decodes_missing_rows_again_one_by_one(capfd):
    def decode_row(position):  # position 2 fails again, the others decode this time
        tf.debugging.assert_none_equal(position, tf.constant(2, tf.int64))
        return {POSITION: position[None], "x": tf.cast(position, tf.float32)[None] * 10}

    recover = recover_rows(decode_row, lambda batch: {**batch, "x": batch["x"] + 1})
    report, _, ds = _checked("skip", [[0, 1], [4]], recover)
    batches = [_numpy(b) for b in ds]
    assert [b[POSITION].tolist() for b in batches] == [[0, 1], [3, 4], [5]]  # 3 and 5 decoded again, 2 skipped
    assert [b["x"].tolist() for b in batches] == [[0, 1], [31, 4], [51]]
    assert int(report.last_pass) == 1 and "skipping unreadable rows.csv row 3" in capfd.readouterr().err
    spec = {POSITION: tf.TensorSpec([None], tf.int64), "x": tf.TensorSpec([None], tf.float32)}
    assert tf.nest.map_structure(lambda t: t.shape.as_list(), empty_batch(spec)) == {POSITION: [0], "x": [0]}


def test_augment_images_draws_new_values_for_each_image_and_call():
    augment = augment_images(["front", "back"], seed=0)
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (12, 12, 3)), tf.uint8)
    example = {"front": image, "back": image, "text": tf.constant("a")}
    first, second = _numpy(augment(example)), _numpy(augment(example))
    assert first["front"].shape == (12, 12, 3) and first["text"] == b"a"
    assert not np.array_equal(first["front"], first["back"]) and not np.array_equal(first["front"], second["front"])
    twice = tf.data.Dataset.from_tensors(example).repeat(2).map(augment_images(["front", "back"], seed=0))
    mapped = [_numpy(e) for e in twice]
    assert not np.array_equal(mapped[0]["front"], mapped[1]["front"])


def test_split_label_drops_the_bookkeeping_keys():
    example = {"text": tf.constant(["a"]), LABEL: tf.constant([1]), POSITION: tf.constant([0], tf.int64),
               INDEX: tf.constant([5], tf.int64)}
    features, label = both_ways(split_label, example)
    assert list(features) == ["text"] and label.tolist() == [1]
    assert list(both_ways(split_label, {"text": tf.constant(["a"]), POSITION: tf.constant([0], tf.int64)})) == ["text"]


def test_the_stage_examples_run():
    import doctest

    from mmfusion_tf.data.stages import augment, cache, shuffle, split

    names = {"tf": tf, "INDEX": INDEX, "LABEL": LABEL, "POSITION": POSITION}
    for module in (shuffle, cache, augment, split):
        failures, attempts = doctest.testmod(module, extraglobs=names, optionflags=doctest.ELLIPSIS)
        assert attempts > 0 and failures == 0, module.__name__
