"""Training: the transfer-learning `Trainer`, its losses, penalties, precision and devices.

Example:

>>> from mmfusion_tf.training import Trainer
>>> Trainer(ExperimentConfig.from_yaml("exp.yaml"), "runs/a").fit()
"""

from mmfusion_tf.training.calibration import calibrate
from mmfusion_tf.training.dead_backbones import DeadBackboneCheck, DeadBackboneWarning, dead_backbones
from mmfusion_tf.models.contrastive import ContrastiveAlignment, info_nce, paired_similarity
from mmfusion_tf.training.distribute import make_strategy
from mmfusion_tf.training.gradient_blending import GradientBlending
from mmfusion_tf.training.l2sp import L2SPPenalty
from mmfusion_tf.models.losses import SmoothedSparseCategoricalCrossentropy, task_loss
from mmfusion_tf.training.metrics import classification_metrics, regression_metrics
from mmfusion_tf.training.precision import apply_precision, resolve_precision
from mmfusion_tf.training.stage_loop import BestWeights
from mmfusion_tf.training.stages import set_backbones_trainable, stage_learning_rate
from mmfusion_tf.training.trainer import Trainer

__all__ = [
    "BestWeights", "GradientBlending", "calibrate",
    "ContrastiveAlignment", "DeadBackboneCheck", "DeadBackboneWarning", "L2SPPenalty",
    "SmoothedSparseCategoricalCrossentropy", "Trainer", "apply_precision",
    "classification_metrics", "dead_backbones", "info_nce", "make_strategy", "paired_similarity", "regression_metrics",
    "resolve_precision", "set_backbones_trainable", "stage_learning_rate", "task_loss",
]
