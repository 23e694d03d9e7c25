"""Warn when a frozen backbone's features do not vary: a branch that carries nothing while frozen.

A backbone exported with random weights (`keras.applications.MobileNetV3Small(weights=None)`, a
from-scratch network) can give features of magnitude ~1e-10 that barely differ between examples.
Frozen, its modality is dead: the model trains around it and nothing says why. `dead_backbones`
measures the spread of each frozen backbone's features over one batch; `DeadBackboneCheck` runs it
on the first training batch at the start of `fit` and warns, naming the modality.

Example:

>>> model.fit(train_ds, epochs=3, callbacks=[DeadBackboneCheck(train_ds, config)])
DeadBackboneWarning: Frozen backbone of modality 'image' gives (near-)constant features ...
"""

import warnings

import numpy as np

from mmfusion_tf._keras import keras
from mmfusion_tf.training.stages import hub_encoders

# Dead when the mean over feature dimensions of the std across examples is at most
# ATOL + RTOL * mean |feature|: ~0 for constant features, ~1e-12 for random-init ones above.
ATOL = 1e-6
RTOL = 1e-3


class DeadBackboneWarning(UserWarning):
    """A frozen backbone gives (near-)constant features."""


def _frozen_backbone_encoders(model, config):
    """(modality, encoder layer) for every modality whose TF-Hub backbone has no trainable weight now."""
    out = []
    for modality in config.modalities:
        try:
            encoder = model.get_layer(f"{modality.name}_encoder")
        except ValueError:
            continue
        hubs = hub_encoders(encoder)
        if hubs and not any(hub.trainable_weights for hub in hubs):
            out.append((modality, encoder))
    return out


def dead_backbones(model, config, features, atol=ATOL, rtol=RTOL):
    """Frozen backbones whose features are (near-)constant over one batch.

    Args:
        model: a model from `build_model(config)`.
        config: its `ModelConfig`.
        features: one batch of model inputs (dict keyed by input name), at least 2 examples.
        atol: float, absolute bound on the features' spread.
        rtol: float, bound on the spread relative to the mean |feature|.

    Returns:
        list of dicts `{"modality", "handle", "spread", "scale"}` (spread = mean over feature
        dimensions of the std across examples; scale = mean |feature|), one per dead backbone.
    """
    dead = []
    for modality, encoder in _frozen_backbone_encoders(model, config):
        if modality.name not in features:
            continue
        values = keras.ops.convert_to_numpy(encoder(features[modality.name], training=False)).astype("float64")
        values = values.reshape(values.shape[0], -1)
        if values.shape[0] < 2:
            continue
        spread = float(values.std(axis=0).mean())
        scale = float(np.abs(values).mean())
        if not np.isfinite(spread) or spread <= atol + rtol * scale:
            dead.append(
                {
                    "modality": modality.name,
                    "handle": modality.handle or modality.preset,
                    "spread": spread,
                    "scale": scale,
                }
            )
    return dead


def warn_dead_backbones(model, config, features, atol=ATOL, rtol=RTOL):
    """`dead_backbones`, with a `DeadBackboneWarning` for each; returns the list."""
    dead = dead_backbones(model, config, features, atol=atol, rtol=rtol)
    for entry in dead:
        warnings.warn(
            f"Frozen backbone of modality {entry['modality']!r} ({entry['handle']}) gives (near-)constant features "
            f"on the first training batch: std across examples {entry['spread']:.2e}, mean |feature| "
            f"{entry['scale']:.2e}. While frozen this modality carries no information. Likely cause: "
            "random-init weights (e.g. a Keras application exported with weights=None); otherwise a wrong "
            "`output_key` or `value_range`. Use pretrained weights (e.g. preset 'efficientnet_lite0_imagenet') "
            "or fine-tune the backbone from the first stage.",
            DeadBackboneWarning,
            stacklevel=2,
        )
    return dead


class DeadBackboneCheck(keras.callbacks.Callback):
    """At the start of `fit`, warns about frozen backbones with (near-)constant features on one batch.

    Args:
        data: the training data: a `tf.data.Dataset` of `(features, labels[, weights])` batches
            or a dict of input arrays (its first 64 rows are used).
        config: the model's `ModelConfig`.

    Attributes:
        dead: the `dead_backbones` result of the last check.

    Example:

    >>> model.fit(train_ds, epochs=3, callbacks=[DeadBackboneCheck(train_ds, config)])
    """

    def __init__(self, data, config):
        super().__init__()
        self.data = data
        self.config = config
        self.dead = []

    def _first_batch(self):
        if isinstance(self.data, dict):
            return {k: v[:64] for k, v in self.data.items()}
        element = next(iter(self.data))
        return element[0] if isinstance(element, tuple) else element

    def on_train_begin(self, logs=None):
        if _frozen_backbone_encoders(self.model, self.config):
            self.dead = warn_dead_backbones(self.model, self.config, self._first_batch())
