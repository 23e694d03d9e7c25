"""Which backbone weights train in a transfer-learning stage, and its learning rate per epoch."""

import math

from mmfusion_tf._private_apis import sublayers
from mmfusion_tf.backbones.hub_encoder import HubEncoder


def hub_encoders(layer):
    """Every `HubEncoder` inside `layer` (itself included), in tracking order."""
    return [sub for sub in [layer, *sublayers(layer, recursive=True)] if isinstance(sub, HubEncoder)]


def set_backbones_trainable(model, config, backbones):
    """Freezes or unfreezes every modality's backbone for a stage.

    Args:
        model: a model from `build_model(config)`.
        config: its `ModelConfig`.
        backbones: "frozen", "all", or a fraction in (0, 1]: the top part
            of each TF-Hub module's trainable variables (in the module's
            creation order, bottom to top), the rest stays frozen. Text
            preprocessors (no trainable weights) are unaffected.

    Returns:
        `{modality: number of trainable backbone weights}`.

    Example:

    >>> set_backbones_trainable(model, config, 0.5)  # top half of each backbone
    {'image': 6, 'text': 10}
    """
    counts = {}
    for modality in config.modalities:
        encoder = model.get_layer(f"{modality.name}_encoder")
        hubs = hub_encoders(encoder)
        if not hubs:  # tabular: learned from scratch, always trains
            encoder.trainable = True
            counts[modality.name] = len(encoder.trainable_weights)
            continue
        encoder.trainable = backbones != "frozen"
        if isinstance(backbones, (int, float)) and not isinstance(backbones, bool):
            for hub in hubs:
                # `encoder.trainable = True` just made every variable the module created trainable
                # trainable again, so these are all of them, in creation order.
                weights = list(hub.trainable_weights)
                keep_frozen = len(weights) - int(math.ceil(float(backbones) * len(weights)))
                for i, v in enumerate(weights):
                    v.trainable = i >= keep_frozen
        counts[modality.name] = sum(len(h.trainable_weights) for h in hubs)
    return counts


def stage_learning_rate(stage, epoch):
    """Learning rate of `stage` (a `StageConfig`) at `epoch` (0-based).

    Linear warm-up over `warmup_epochs`, then constant or cosine decay to
    zero at the end of the stage.

    Example:

    >>> stage_learning_rate(StageConfig(epochs=4, learning_rate=1e-3, lr_schedule="cosine"), 2)
    0.0005
    """
    base = float(stage.learning_rate)
    warmup = int(stage.warmup_epochs)
    if epoch < warmup:
        return base * (epoch + 1) / (warmup + 1)
    if stage.lr_schedule == "cosine":
        span = max(int(stage.epochs) - warmup, 1)
        return base * 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / span))
    return base
