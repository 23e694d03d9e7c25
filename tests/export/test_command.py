import argparse
import json
import os

import pytest

import mmfusion_tf as mmf
from mmfusion_tf.export import read_metadata
from mmfusion_tf.config import load_model_config
from mmfusion_tf.export.command import add_export_parser


def _parser():
    parser = argparse.ArgumentParser(prog="mmfusion")
    add_export_parser(parser.add_subparsers(dest="verb"))
    return parser


def _text_table_config(hub_dir):
    return mmf.ModelConfig(
        modalities=[
            mmf.TextModality(name="text", handle=hub_dir["bert_encoder"], preprocessor=hub_dir["bert_preprocessor"]),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]},
                                numeric_stats={"beds": [2.0, 1.0]}),
        ],
        fusion=mmf.FusionConfig(method="gated", projection_dim=4),
        head=mmf.HeadConfig(task="multiclass", labels=["low", "high"], hidden_units=[]),
    )


def test_export_verb_writes_the_version_and_checks_parity(hub_dir, tmp_path, capsys):
    config = _text_table_config(hub_dir)
    model_path, config_path = str(tmp_path / "model.keras"), str(tmp_path / "model_config.yaml")
    mmf.build_model(config).save(model_path)
    config.to_yaml(config_path)
    manifest = tmp_path / "examples.csv"
    manifest.write_text("text,beds,city,label\nthe red car,1,a,low\nbig dogs,,b,high\ncats,3,zzz,low\n")
    base, report = str(tmp_path / "models" / "fusion"), str(tmp_path / "export.json")
    args = _parser().parse_args([
        "export", model_path, "--config", config_path, "--base", base, "--version", "3",
        "--examples", str(manifest), "--check", "--report", report, "--max-text-length", "100",
    ])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"exported version 3 to {os.path.join(base, '3')}" in out and "WordpieceTokenizeWithOffsets" in out
    assert "saved_model_cli lists every input" in out and "parity probabilities" in out
    assert "exporting to" in out and "parity: the Keras model against the SavedModel on the examples ... done in" in out
    with open(report, encoding="utf-8") as f:
        data = json.load(f)
    assert data["export"] == {"path": os.path.join(base, "3"), "version": 3}
    assert data["check"]["parity_ok"] and data["check"]["signature_listed"]
    assert max(data["check"]["parity"].values()) <= 1e-5
    metadata = read_metadata(os.path.join(base, "3"))
    assert metadata["limits"]["max_text_length"] == 100 and metadata["warmup"]["records"] == 6
    assert metadata["labels"] == ["low", "high"]


def test_config_from_a_model_or_an_experiment_yaml(hub_dir, tmp_path):
    config = _text_table_config(hub_dir)
    model_yaml, experiment_yaml = tmp_path / "model.yaml", tmp_path / "experiment.yaml"
    config.to_yaml(str(model_yaml))
    indented = "".join("  " + line for line in model_yaml.read_text().splitlines(keepends=True))
    experiment_yaml.write_text("model:\n" + indented + "data: {train: train.csv}\n")
    assert load_model_config(str(model_yaml)) == config
    assert load_model_config(str(experiment_yaml)) == config


def test_export_verb_errors_name_the_file(tmp_path):
    args = _parser().parse_args(["export", str(tmp_path / "missing.keras"), "--config", str(tmp_path / "c.yaml"),
                                 "--base", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="c.yaml"):
        args.func(args)
    with pytest.raises(SystemExit):
        _parser().parse_args(["export", "model.keras", "--base", "b"])  # --config is required
