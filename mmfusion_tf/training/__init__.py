"""Training helpers: metrics (and, later, the transfer-learning trainer)."""

from mmfusion_tf.training.metrics import classification_metrics, regression_metrics

__all__ = ["classification_metrics", "regression_metrics"]
