"""The model of an experiment and its compilation per transfer stage (shared by `Trainer` and the tuner).

Example:

>>> model, l2sp = build_experiment_model(experiment, adapt_data=train_columns)
>>> compile_stage(model, experiment, experiment.training.stages[0])
"""

from mmfusion_tf._keras import keras
from mmfusion_tf.models import build_model, default_metrics
from mmfusion_tf.training.experiment_data import tabular_columns
from mmfusion_tf.training.l2sp import L2SPPenalty
from mmfusion_tf.models.losses import task_loss

WARMUP_STAGE = "contrastive_warmup"


def training_columns(experiment, sources):
    """The columns tabular statistics adapt on: the tabular columns of `sources["train"]` (any source kind)."""
    return tabular_columns(experiment, (sources or {}).get("train"))


def build_experiment_model(experiment, adapt_data=None):
    """`build_model` of `experiment.model`, with contrastive alignment and L2-SP as `experiment.training` says.

    Keras (Python, NumPy and TF) is seeded with `training.seed` first, so
    the new weights follow the experiment's seed. Call it under the
    distribution strategy's scope, if any.

    Args:
        experiment: `ExperimentConfig`.
        adapt_data: optional dict of training columns (tabular statistics
            missing from the config are adapted on it).

    Returns:
        `(model, l2sp)`: the model and its `L2SPPenalty` (None when `training.l2_sp` is 0).
    """
    training = experiment.training
    contrastive = training.contrastive
    keras.utils.set_random_seed(training.seed)
    model = build_model(
        experiment.model, adapt_data=adapt_data, contrastive=contrastive if contrastive.enabled else None
    )
    if "modality_heads" in [layer.name for layer in model.layers]:
        heads = model.get_layer("modality_heads")
        heads.loss_weights.assign([float(training.auxiliary_weight)] * len(heads.modality_names) + [1.0])
    l2sp = None
    if training.l2_sp > 0:
        l2sp = L2SPPenalty(model, training.l2_sp)
        model.add_penalty(l2sp)
    return model, l2sp


def compile_stage(model, experiment, stage, metrics=None, optimizer=None, loss=None):
    """Compiles `model` for one transfer stage, under the model's distribution strategy.

    Args:
        model: a model of `build_experiment_model(experiment)`.
        experiment: its `ExperimentConfig`.
        stage: the `StageConfig` (the contrastive warm-up stage trains the
            alignment loss only, without the task loss).
        metrics: compiled metrics (default: `default_metrics` of the head).
        optimizer: optional new optimizer to use instead of Adam; its
            learning rate is set to the stage's.
        loss: optional loss to use instead of the head's task loss.

    With contrastive alignment, its loss weight is `contrastive.weight` in
    the warm-up stage and, in mode "alongside", in every stage; 0 otherwise.
    """
    training, head = experiment.training, experiment.model.head
    warmup = stage.name == WARMUP_STAGE
    if training.contrastive.enabled:
        alignment = model.get_layer("contrastive_alignment")
        keeps_alignment = warmup or training.contrastive.mode == "alongside"
        alignment.weight = float(training.contrastive.weight) if keeps_alignment else 0.0
    with model.distribute_strategy.scope():
        if optimizer is None:
            optimizer = keras.optimizers.Adam(stage.learning_rate)
        else:
            optimizer.learning_rate = stage.learning_rate
        if loss is None and not warmup:
            loss = task_loss(head, training.label_smoothing)
        model.compile(
            optimizer, loss=None if warmup else loss, metrics=metrics or default_metrics(head),
            jit_compile=bool(training.jit_compile),
        )
