"""Model building: config -> functional model, heads, losses and metrics."""

from mmfusion_tf.models.builder import adapt_tabular, build_encoder, build_fusion, build_model
from mmfusion_tf.models.fusion_model import FusionModel
from mmfusion_tf.models.heads import build_head, default_loss, default_metrics

__all__ = [
    "FusionModel", "adapt_tabular", "build_encoder", "build_fusion", "build_head", "build_model", "default_loss",
    "default_metrics",
]
