import argparse
import json
import os

import numpy as np
import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones import HubEncoder
from mmfusion_tf.cli import main
from mmfusion_tf.hub.command import add_hub_parser

URL = "https://tfhub.dev/google/tiny-dense/1"


def _run(capsys, *argv):
    code = main(["hub", *argv])
    out = capsys.readouterr().out
    return code, out


def test_every_tool_has_help(capsys):
    parser = argparse.ArgumentParser(prog="mmfusion")
    add_hub_parser(parser.add_subparsers(dest="verb"))
    for tool in (
        [], ["export-keras"], ["import-bert"], ["ls"], ["info"], ["cache"], ["cache", "add"], ["cache", "remove"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args(["hub", *tool, "--help"])
        assert exit_info.value.code == 0
        assert "usage: mmfusion hub" in capsys.readouterr().out
    assert main(["hub"]) == 2


def test_cache_add_ls_info_remove(capsys, hub_folders, tiny_module):
    code, out = _run(capsys, "cache", "--json")
    assert code == 0 and json.loads(out)["modules"] == 0
    assert json.loads(out)["hub_dirs"] == [hub_folders["mirror"], hub_folders["cache"]]

    code, out = _run(capsys, "cache", "add", URL, tiny_module)
    assert code == 0 and out.strip().startswith(hub_folders["cache"])
    code, out = _run(capsys, "ls")
    assert code == 0 and URL in out and "tfhub-cache" in out
    listed = json.loads(_run(capsys, "ls", "--json")[1])["modules"]
    assert [m["handle"] for m in listed] == [URL]

    info = json.loads(_run(capsys, "info", URL, "--json")[1])
    assert info["output_dims"] == {"output": 2}
    assert info["reusable"] and info["trainable_parameters"] == 3 * 2 + 2
    assert [e["training"] for e in info["call"]] == [False, True]
    assert info["call"][0]["inputs"] == {"dtype": "float32", "shape": [None, 3]}
    code, out = _run(capsys, "info", URL)
    assert code == 0 and "output dims: output=2" in out and "__call__(training=True)" in out

    code, out = _run(capsys, "cache")
    assert code == 0 and "1 module(s)" in out
    assert _run(capsys, "cache", "remove", URL)[0] == 0
    assert _run(capsys, "cache", "remove", URL)[0] == 1
    assert _run(capsys, "cache", "add", URL, tiny_module, "--hub-dir", hub_folders["mirror"])[0] == 0
    assert json.loads(_run(capsys, "ls", "--json")[1])["modules"][0]["hub_dir"] == hub_folders["mirror"]


def test_import_bert_into_the_hub_folder(capsys, hub_folders, tiny_checkpoint):
    code, out = _run(capsys, "import-bert", tiny_checkpoint, "--name", "tiny", "--seq-length", "10")
    assert code == 0 and "local-hub://tiny/encoder" in out
    info = json.loads(_run(capsys, "info", "local-hub://tiny/encoder", "--json")[1])
    assert info["output_dims"] == {"default": 16, "pooled_output": 16, "sequence_output": 16}
    assert set(info["call"][0]["inputs"]) == {"input_word_ids", "input_mask", "input_type_ids"}
    info = json.loads(_run(capsys, "info", "local-hub://tiny/preprocessor", "--json")[1])
    assert info["call"][0]["inputs"] == {"dtype": "string", "shape": [None]}
    assert info["output_dims"]["input_word_ids"] == 10 and info["variables"] == 0
    handles = {m["handle"] for m in json.loads(_run(capsys, "ls", "--json")[1])["modules"]}
    assert handles == {"local-hub://tiny/encoder", "local-hub://tiny/preprocessor"}


def test_export_keras(capsys, hub_folders, tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="features")
    outputs = keras.layers.Dense(3, kernel_regularizer="l2")(keras.layers.BatchNormalization()(inputs))
    model = keras.Model(inputs, outputs)
    model.save(str(tmp_path / "model.keras"))
    code, out = _run(capsys, "export-keras", str(tmp_path / "model.keras"), str(tmp_path / "module"), "--handle", URL)
    assert code == 0 and "cached as" in out
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    encoder = HubEncoder(URL, trainable=True)  # the real URL, from the cache
    np.testing.assert_allclose(encoder(x).numpy(), model(x).numpy(), atol=1e-6)
    info = json.loads(_run(capsys, "info", str(tmp_path / "module"), "--json")[1])
    assert info["regularization_losses"] == 1 and info["variables"] == 6 and info["trainable_variables"] == 4
    assert main(["hub", "export-keras", str(tmp_path / "missing.keras"), str(tmp_path / "m2")]) == 2
    assert "missing.keras" in capsys.readouterr().err  # FileNotFoundError, reported by the CLI
    assert not os.path.exists(tmp_path / "m2")


def test_info_on_a_signature_only_module(capsys, tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.scale = tf.Variable(2.0)
    double = tf.function(lambda x: {"y": x * module.scale},
                         input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": double})
    info = json.loads(_run(capsys, "info", str(tmp_path), "--json")[1])
    assert not info["reusable"] and info["call"] == []
    assert info["signatures"] == {"serving_default": {"inputs": {"x": {"dtype": "float32", "shape": [None, 3]}},
                                                      "outputs": {"y": {"dtype": "float32", "shape": [None, 3]}}}}
    assert info["output_dims"] == {"y": 3}
