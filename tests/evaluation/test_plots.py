import math

import pytest

from mmfusion_tf._keras import keras
from mmfusion_tf.evaluation import (
    plot_confusion_matrix,
    plot_modality_contributions,
    plot_robustness,
    plot_training_curves,
)
from mmfusion_tf.evaluation.plots import merge_stages

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=5_000):
    with open(path, "rb") as f:
        content = f.read()
    assert content[:8] == PNG_SIGNATURE and len(content) > min_bytes


def test_merge_stages_concatenates_and_marks_boundaries():
    head = keras.callbacks.History()
    head.history = {"loss": [3.0, 2.0], "accuracy": [0.2, 0.4]}
    metrics, boundaries = merge_stages([head, {"loss": [1.0], "val_loss": [1.5], "accuracy": [0.6]}])
    assert boundaries == [2]
    assert metrics["loss"] == [3.0, 2.0, 1.0] and metrics["accuracy"] == [0.2, 0.4, 0.6]
    assert [math.isnan(v) for v in metrics["val_loss"]] == [True, True, False] and metrics["val_loss"][2] == 1.5
    assert merge_stages({"loss": [1.0, 0.5]}) == ({"loss": [1.0, 0.5]}, [])


def test_every_plot_writes_a_png(tmp_path):
    stages = [{"loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5]},
              {"loss": [0.5, 0.4], "val_loss": [0.7, 0.6], "accuracy": [0.8, 0.9], "val_accuracy": [0.7, 0.8]}]
    contrib = {"metric": "accuracy", "better_is": "higher", "clean": 0.9, "removed_via": "presence_mask",
               "modalities": {"image": {"mean_weight": 0.6, "metric": 0.5, "metric_change": -0.4, "metric_drop": 0.4},
                              "text": {"mean_weight": 0.4, "metric": 0.95, "metric_change": 0.05,
                                       "metric_drop": -0.05}}}
    curves = {"metric": "accuracy", "levels": [0.0, 0.5, 1.0],
              "curves": {"image": [0.9, 0.7, 0.5], "text": [0.9, 0.85, 0.8], "all": [0.9, 0.6, 0.3]}}
    paths = [
        plot_training_curves(stages, tmp_path / "curves.png"),
        plot_confusion_matrix([[5, 1, 0], [2, 7, 1], [0, 0, 9]], ["cat", "dog", "fox"], tmp_path / "cm.png"),
        plot_confusion_matrix([[[3, 1], [0, 4]], [[2, 2], [1, 3]]], None, tmp_path / "sub" / "multilabel.png"),
        plot_modality_contributions(contrib, tmp_path / "contrib.png"),
        plot_robustness(curves, tmp_path / "robustness.png"),
    ]
    assert paths[0] == str(tmp_path / "curves.png")
    for path in paths:
        assert_png(path)


def test_contribution_changes_of_very_different_sizes_share_one_symlog_scale(tmp_path):
    # rmse: a table change 2000x the text one, one undefined, one negative; an older dict without
    # `metric_change`/`better_is` (the change comes from `metric` - `clean`)
    contrib = {"metric": "rmse", "clean": 50.0, "removed_via": "mean_replacement",
               "modalities": {"text": {"mean_weight": 0.3, "metric": 50.4, "metric_drop": 0.4},
                              "table": {"mean_weight": 0.7, "metric": 870.0, "metric_drop": 820.0},
                              "image": {"mean_weight": 0.0, "metric": 49.0, "metric_drop": -1.0},
                              "audio": {"mean_weight": 0.0, "metric": None, "metric_drop": None}}}
    assert_png(plot_modality_contributions(contrib, tmp_path / "contrib.png"))
    no_weights = {"metric": "auc", "clean": None, "modalities": {"text": {"metric_drop": 0.1}}}
    assert_png(plot_modality_contributions(no_weights, tmp_path / "no_weights.png"), min_bytes=2_000)


def test_plot_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="`labels` must have 2 names"):
        plot_confusion_matrix([[1, 0], [0, 1]], ["a", "b", "c"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match=r"`cm` must be a \[C, C\] matrix"):
        plot_confusion_matrix([[1, 0, 2]], None, tmp_path / "cm.png")
    with pytest.raises(ValueError, match="`history` holds no epochs"):
        plot_training_curves({}, tmp_path / "curves.png")
    with pytest.raises(ValueError, match=r"`history` must be a dict .* Received: history\[1\]=3"):
        plot_training_curves([{"loss": [1.0]}, 3], tmp_path / "curves.png")
    with pytest.raises(ValueError, match="`contrib` must be the dict of `modality_contributions`"):
        plot_modality_contributions([0.5], tmp_path / "contrib.png")
    with pytest.raises(ValueError, match="`curves` must be the dict of `robustness_curve`"):
        plot_robustness({"image": [1.0]}, tmp_path / "robustness.png")
