"""Evaluating fusion models: metrics, modality contributions, robustness, plots, reports.

Every function takes the model of `build_model(config)`, labelled data (a
`tf.data.Dataset` of `(features, label)` or a dict of numpy arrays with a
`"label"` key) and the `ModelConfig`.

Example:

>>> from mmfusion_tf import evaluation
>>> evaluation.evaluate(model, test_data, config)["probabilities"]["accuracy"]
0.97
>>> evaluation.write_report("eval", model, test_data, config, history=history)["plots"]["robustness"]
'eval/robustness.png'
"""

from mmfusion_tf.evaluation.compare import compare_fusion
from mmfusion_tf.evaluation.contributions import modality_contributions
from mmfusion_tf.evaluation.metrics import compute_metrics, evaluate, metric_names, roc_auc
from mmfusion_tf.evaluation.plots import (
    plot_confusion_matrix,
    plot_modality_contributions,
    plot_robustness,
    plot_training_curves,
)
from mmfusion_tf.models.predictions import predict
from mmfusion_tf.evaluation.report import write_report, write_run_report
from mmfusion_tf.evaluation.robustness import robustness_curve

__all__ = [
    "compare_fusion",
    "compute_metrics",
    "evaluate",
    "metric_names",
    "modality_contributions",
    "plot_confusion_matrix",
    "plot_modality_contributions",
    "plot_robustness",
    "plot_training_curves",
    "predict",
    "robustness_curve",
    "roc_auc",
    "write_report",
    "write_run_report",
]
