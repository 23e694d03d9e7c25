import base64
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import mmfusion_tf as mmf
from mmfusion_tf import export
from mmfusion_tf.export import saved_model as saved_model_module
from mmfusion_tf.export import text_ops
from tests.export.conftest import LABELS, LIMITS, NUM_SAMPLES
from tests import hub_modules as hm


def _call(signature, raw):
    return {k: v.numpy() for k, v in signature(**{k: tf.constant(v) for k, v in raw.items()}).items()}


def test_layout_and_serving_default_signature(exported, reloaded, classifier):
    _, config = classifier
    assert os.path.basename(exported) == "1"
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(exported))
    assert sorted(os.listdir(os.path.join(exported, "assets.extra"))) == [
        "mmfusion_export.json", "smoke_request.json", "tf_serving_warmup_requests"]
    assert sorted(os.listdir(os.path.dirname(exported))) == ["1"]  # no temporary folder left behind
    serve = reloaded.signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    assert sorted(specs) == sorted(config.input_names())
    assert {k: (s.dtype, s.shape.as_list()) for k, s in specs.items()} == {
        "image": (tf.string, [None]), "text": (tf.string, [None]), "audio": (tf.string, [None]),
        "beds": (tf.float32, [None]), "city": (tf.string, [None]),
        **{f"{m}_present": (tf.float32, [None]) for m in ("image", "text", "audio", "table")},
    }
    outputs = serve.structured_outputs
    assert {k: (v.dtype, v.shape.as_list()) for k, v in outputs.items()} == {
        "probabilities": (tf.float32, [None, 3]), "classes": (tf.int64, [None]), "labels": (tf.string, [None]),
        "fusion_weights": (tf.float32, [None, 4]), "modality_probabilities": (tf.float32, [None, 4, 3]),
    }
    assert reloaded.signatures["embedding"].structured_outputs["embedding"].shape.as_list() == [None, 8]


def test_outputs_on_raw_inputs(reloaded, classifier, manifest):
    _, config = classifier
    raw = export.raw_examples(config, manifest)
    assert raw["image"][0].startswith(b"\x89PNG") and raw["image"][3].startswith(b"GIF8") and raw["audio"][2] == b""
    assert raw["audio_present"].tolist() == [1, 1, 0, 1] and raw["text_present"].tolist() == [1, 1, 1, 0]
    served = _call(reloaded.signatures["serving_default"], raw)
    top = np.argmax(served["probabilities"], axis=-1)
    np.testing.assert_allclose(served["probabilities"].sum(-1), 1.0, atol=1e-5)
    assert served["classes"].tolist() == top.tolist()
    assert served["labels"].tolist() == [LABELS[i].encode() for i in top]
    assert served["fusion_weights"][2, 2] == 0 and served["fusion_weights"][3, 1] == 0  # missing audio, missing text
    np.testing.assert_allclose(served["modality_probabilities"].sum(-1), 1.0, atol=1e-5)  # each modality's own answer
    assert _call(reloaded.signatures["embedding"], raw)["embedding"].shape == (4, 8)


def test_parity_with_the_training_pipeline_and_keras_model(exported, classifier, manifest):
    """The training pipeline reads the files (resize, grey->RGB, JPEG, GIF, 16 kHz->8 kHz), `model.predict`
    runs on its arrays; the export gets the same files' bytes."""
    model, config = classifier
    diffs = export.parity_check(model, config, exported, manifest)
    assert set(diffs) == {"probabilities", "classes", "fusion_weights", "modality_probabilities", "embedding"}
    assert max(diffs.values()) <= 1e-5, diffs


def test_warmup_records_replay(exported, reloaded, classifier):
    _, config = classifier
    logs = export.read_warmup_requests(os.path.join(exported, "assets.extra", export.WARMUP_FILE))
    assert len(logs) == 8  # 4 examples, for each signature: none pays for its first call
    signature_names = [log.predict_log.request.model_spec.signature_name for log in logs]
    assert signature_names == ["serving_default"] * 4 + ["embedding"] * 4
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.name == "tiny"
        assert sorted(request.inputs) == sorted(config.input_names())
    first = {k: tf.make_ndarray(v) for k, v in logs[0].predict_log.request.inputs.items()}
    assert first["image"].dtype == object and first["image"][0].startswith(b"\x89PNG")
    assert first["audio"][0].startswith(b"RIFF") and first["text"].tolist() == [b"the red car"]
    assert _call(reloaded.signatures["serving_default"], first)["labels"].shape == (1,)


def test_rest_smoke_request_and_metadata(exported, reloaded):
    extra = os.path.join(exported, "assets.extra")
    with open(os.path.join(extra, "smoke_request.json"), encoding="utf-8") as f:
        body = json.load(f)
    assert body["signature_name"] == "serving_default"
    assert set(body["inputs"]["image"][0]) == {"b64"} and body["inputs"]["text"] == ["the red car"]
    # Decoded the way TF Serving's REST API does: {"b64": ...} -> bytes.
    decoded = {
        k: np.asarray([base64.b64decode(v["b64"]) if isinstance(v, dict) else v for v in values],
                      dtype=object if isinstance(values[0], (dict, str)) else "float32")
        for k, values in body["inputs"].items()
    }
    assert _call(reloaded.signatures["serving_default"], decoded)["labels"].shape == (1,)
    metadata = export.read_metadata(exported)
    assert metadata["version"] == 1 and metadata["labels"] == LABELS and metadata["audio_input"] == "wav"
    assert metadata["limits"] == {**dataclasses.asdict(export.Limits()), **LIMITS}
    assert metadata["warmup"] == {"records": 8, "signatures": ["serving_default", "embedding"], "source": "examples"}


def test_text_ops_report(exported, monkeypatch):
    report = export.text_ops_report(exported)
    assert "WordpieceTokenizeWithOffsets" in report["tf_text_ops"]
    assert report["libraries"]["WordpieceTokenizeWithOffsets"] == "wordpiece_tokenizer"
    assert report["missing_from_stock_serving"] == []
    monkeypatch.setattr(text_ops, "STOCK_SERVING_LIBRARIES", text_ops.STOCK_SERVING_LIBRARIES - {"wordpiece_tokenizer"})
    assert export.text_ops_report(exported)["missing_from_stock_serving"] == ["WordpieceTokenizeWithOffsets"]


def test_saved_model_cli_lists_the_signature(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "show", "--dir", exported, "--tag_set", "serve", "--signature_def", "serving_default"],
        capture_output=True, text=True, check=True,
    )
    for name in ("image", "text", "audio", "beds", "city", "audio_present", "probabilities", "labels", "classes"):
        assert f"['{name}']" in result.stdout
    assert "DT_STRING" in result.stdout


def test_next_version_explicit_version_and_no_overwrite(exported, classifier, monkeypatch):
    model, config = classifier
    base = os.path.dirname(exported)
    with pytest.raises(FileExistsError, match="Version 1 already exists"):
        export.export_saved_model(model, config, base, version=1)
    with pytest.raises(ValueError, match="version"):
        export.export_saved_model(model, config, base, version=0)

    def copy_of_version_1(model, config, export_dir, limits, audio_input):  # the graph itself is tested above
        shutil.copytree(exported, export_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("assets.extra"))

    monkeypatch.setattr(saved_model_module.signatures, "write_saved_model", copy_of_version_1)
    # The next export is version 2; it warns when TF Serving would lack a TF-Text kernel.
    with monkeypatch.context() as patch, pytest.warns(UserWarning, match="stock TF Serving does not link"):
        patch.setattr(text_ops, "STOCK_SERVING_LIBRARIES", frozenset())
        second = export.export_saved_model(model, config, base)
    assert second == os.path.join(base, "2") and export.versions(base) == [1, 2] and export.next_version(base) == 3
    assert export.read_metadata(second)["warmup"] == {"records": 4, "signatures": ["serving_default", "embedding"],
                                                         "source": "synthetic"}
    assert export.export_saved_model(model, config, base, version=7) == os.path.join(base, "7")
    assert export.versions(base) == [1, 2, 7] and export.next_version(base) == 8
    shutil.rmtree(second)
    shutil.rmtree(os.path.join(base, "7"))


def test_a_failed_export_leaves_nothing_visible(exported, classifier, monkeypatch):
    model, config = classifier
    base = os.path.dirname(exported)
    before = sorted(os.listdir(base))
    with open(os.path.join(exported, "saved_model.pb"), "rb") as f:
        original = f.read()

    def broken(model, config, export_dir, limits, audio_input):
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
            f.write(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(saved_model_module.signatures, "write_saved_model", broken)
    with pytest.raises(OSError, match="disk full"):
        export.export_saved_model(model, config, base)
    with pytest.raises(OSError, match="disk full"):  # replacing a version: the old one stays whole
        export.export_saved_model(model, config, base, version=1, overwrite=True)
    assert sorted(os.listdir(base)) == before
    with open(os.path.join(exported, "saved_model.pb"), "rb") as f:
        assert f.read() == original


def test_model_and_config_must_match(classifier, tmp_path):
    model, config = classifier
    other = mmf.ModelConfig.from_dict(config.to_dict())
    other.presence_inputs = False
    with pytest.raises(ValueError, match="does not match `config`"):
        export.export_saved_model(model, other, str(tmp_path))
    with pytest.raises(ValueError, match="max_text_length"):
        export.export_saved_model(model, config, str(tmp_path), max_text_length=0)
    assert os.listdir(tmp_path) == []


def test_regression_with_waveform_input(hub_dir, tmp_path):
    config = mmf.ModelConfig(
        modalities=[
            mmf.TextModality(name="text", handle=hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"]),
            mmf.AudioModality(name="audio", handle=hub_dir["audio"], sample_rate=hm.SAMPLE_RATE,
                              num_samples=NUM_SAMPLES),
            mmf.TabularModality(name="table", numeric_features=["beds"], numeric_stats={"beds": [2.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="concat", projection_dim=4),
        head=mmf.HeadConfig(task="regression", hidden_units=[]),
    )
    model = mmf.build_model(config)
    rng = np.random.default_rng(5)
    examples = {
        "text": ["the red car", "dog"],
        "audio": rng.normal(size=(2, 1000)).astype("float32") * 0.1,  # longer than num_samples: cropped
        "beds": np.array([1.0, 2.0], "float32"),
    }
    path = export.export_saved_model(model, config, str(tmp_path / "reg"), examples=examples, audio_input="waveform",
                                     max_audio_seconds=0.2)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    assert serve.structured_input_signature[1]["audio"].shape.as_list() == [None, None]
    assert set(serve.structured_outputs) == {"prediction", "fusion_weights", "modality_predictions"}
    out = _call(serve, examples)
    expected = model.predict({**examples, "text": np.array(examples["text"], dtype=object),
                              "audio": examples["audio"][:, :NUM_SAMPLES]}, verbose=0)
    assert out["prediction"].shape == (2,)
    np.testing.assert_allclose(out["prediction"], expected["prediction"][:, 0], atol=1e-5)
    diffs = export.parity_check(model, config, path, examples)
    assert set(diffs) == {"prediction", "fusion_weights", "modality_predictions", "embedding"}
    assert max(diffs.values()) <= 1e-5
    too_long = dict(examples, audio=np.zeros([2, 2000], "float32"))  # 0.25 s at 8 kHz
    with pytest.raises(tf.errors.InvalidArgumentError, match="Input `audio`.*max_audio_seconds=0.2"):
        _call(serve, too_long)


def test_binary_head_outputs_threshold_and_label_names():
    head = mmf.HeadConfig(task="binary", labels=["no", "yes"])
    outputs = {"probabilities": tf.constant([[0.2], [0.7]]), "logits": tf.zeros([2, 1]),
               "fusion_weights": tf.ones([2, 2])}
    result = export.signatures.serving_outputs(outputs, head)
    assert result["classes"].numpy().tolist() == [0, 1] and result["labels"].numpy().tolist() == [b"no", b"yes"]
    assert export.signatures.label_names(mmf.HeadConfig(task="multiclass", num_classes=3)) == ["0", "1", "2"]
