import re

import pytest

import mmfusion_tf as mmf
from mmfusion_tf.config import ModelConfig


def _config():
    return mmf.ModelConfig(
        modalities=[
            mmf.ImageModality(name="photo", preset="mobilenet_v3_small", trainable=True),
            mmf.TextModality(name="review", preset="small_bert_l2_h128", pooling="mean"),
            mmf.AudioModality(name="call", preset="yamnet", pooling="attention"),
            mmf.TabularModality(name="table", numeric_features=["beds"], categorical_features={"city": ["a", "b"]}),
        ],
        fusion=mmf.FusionConfig(method="low_rank", projection_dim=16, options={"rank": 3}, modality_dropout=0.1),
        head=mmf.HeadConfig(task="multiclass", labels=["x", "y", "z"]),
        presence_inputs=True,
    )


def test_yaml_and_json_round_trip():
    config = _config()
    assert ModelConfig.from_yaml(config.to_yaml()) == config
    assert ModelConfig.from_json(config.to_json()) == config
    assert config.to_dict()["modalities"][0]["kind"] == "image"


def test_yaml_file_round_trip(tmp_path):
    path = str(tmp_path / "model.yaml")
    _config().to_yaml(path)
    assert ModelConfig.from_yaml(path) == _config()


def test_input_names_cover_columns_and_presence_masks():
    assert _config().input_names() == [
        "photo", "review", "call", "beds", "city", "photo_present", "review_present", "call_present", "table_present",
    ]


def test_presets_fill_unset_fields_and_explicit_values_win():
    image = mmf.ImageModality(preset="efficientnetv2_b0", image_size=[128, 128])
    resolved = image.resolved("image")
    assert resolved["image_size"] == [128, 128]
    assert resolved["handle"].startswith("https://tfhub.dev/google/imagenet/efficientnet_v2")
    audio = mmf.AudioModality(preset="yamnet").resolved("audio")
    assert audio["batched"] is False and audio["output_key"] == 1 and audio["sample_rate"] == 16000


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(epochs=3), r"Unknown key\(s\) \['epochs'\] in model config. Allowed keys: \['modalities'"),
        (lambda d: d["fusion"].update(method="magic"),
         r"Unknown fusion method 'magic' in fusion.method. Allowed values: \['weighted_sum'.*'late', 'auto'\]"),
        # The builder sets `return_logits` of a decision-level layer: not an option a config may set.
        (lambda d: d["fusion"].update(method="late", options={"return_logits": True}),
         r"Unknown key\(s\) \['return_logits'\] in fusion.options for method 'late'. "
         r"Allowed keys: \['dropout', 'hidden_units', 'mode', 'weights'\]"),
        (lambda d: d["fusion"]["options"].update(heads=2),
         r"Unknown key\(s\) \['heads'\] in fusion.options for method 'low_rank'.*rank"),
        (lambda d: d["head"].update(task="ranking"),
         r"head.task='ranking'.*\['binary', 'multiclass', 'multilabel', 'regression'\]"),
        (lambda d: d["modalities"][0].update(kind="video"),
         r"modalities\[0\].kind='video'.*\['image', 'text', 'audio', 'tabular'\]"),
        (lambda d: d["modalities"][1].update(tokenizer="x"), r"Unknown key\(s\) \['tokenizer'\] in modalities\[1\]"),
        (lambda d: d["modalities"][1].update(name="photo"), r"unique.*photo"),
        (lambda d: d["head"].update(num_classes=5), r"3 names but num_classes=5"),
        (lambda d: d["fusion"].update(modality_dropout=1.5), r"modality_dropout"),
    ],
)
def test_validation_errors_name_the_key(mutate, message):
    data = _config().to_dict()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        ModelConfig.from_dict(data).validate()


def test_modality_without_handle_or_preset():
    config = mmf.ModelConfig(modalities=[mmf.ImageModality()], head=mmf.HeadConfig(task="regression"))
    with pytest.raises(ValueError, match=r"modalities\[0\] needs `handle`"):
        config.validate()


@pytest.mark.parametrize(
    "training, message",
    [
        ({"label_smoothing": 0.1}, "training.label_smoothing=0.1 applies to classification heads"),
        ({"class_weights": "balanced"}, "training.class_weights='balanced' needs a multiclass or binary head"),
    ],
)
def test_experiment_rejects_classification_options_on_a_regression_head(training, message):
    from mmfusion_tf.config import ExperimentConfig

    experiment = ExperimentConfig.from_dict({
        "model": {"modalities": [{"kind": "tabular", "name": "table", "numeric_features": ["beds"]}],
                  "head": {"task": "regression"}},
        "data": {"train": "train.csv"},
        "training": training,
    })
    with pytest.raises(ValueError, match=re.escape(message)):
        experiment.validate()


def test_tpu_name_needs_the_tpu_strategy_and_round_trips():
    from mmfusion_tf.config import TrainingConfig

    with pytest.raises(ValueError, match="training.tpu='local' is only used with strategy 'tpu'"):
        TrainingConfig(tpu="local").validate()
    config = TrainingConfig(strategy="tpu", tpu="local")
    config.validate()
    assert TrainingConfig.from_dict({"strategy": "tpu", "tpu": "local"}) == config
