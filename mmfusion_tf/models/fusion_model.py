"""`FusionModel`: a functional model whose outputs are a dict of named heads."""

import tensorflow as tf

from mmfusion_tf._keras import keras


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class FusionModel(keras.Model):
    """Functional model with dict outputs, trained by plain `fit` on `(x, y)`.

    The model returns `{"logits", "probabilities", "fusion_weights"}`
    (classification) or `{"prediction", "fusion_weights"}` (regression). The
    loss is computed on `logits` (or `prediction`) and the compiled metrics
    on `probabilities` (or `prediction`), so a dataset of `(features, label)`
    works with `compile(loss=..., metrics=[...])` as for a single-output
    model. Nothing else changes: `fit`, callbacks, `.keras` saving.

    Example:

    >>> model = build_model(config)            # returns a FusionModel
    >>> model.compile("adam", "sparse_categorical_crossentropy"...)
    >>> model.fit(dataset)                     # dataset yields (features, label)
    >>> model.predict(features)["fusion_weights"]
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._penalties = []

    def add_penalty(self, penalty):
        """Adds `penalty()` (a scalar) to the training loss, e.g. `L2SPPenalty`.

        Penalties are a training-time setting: they are not saved with the
        model. Recompile (or call `make_train_function(force=True)`) after
        adding one to a model that has already trained.
        """
        if not callable(penalty):
            raise TypeError(f"`penalty` must be callable and return a scalar. Received: {penalty!r}")
        self._penalties.append(penalty)

    @property
    def output_keys(self):
        """Names of the dict outputs."""
        outputs = self._outputs_struct
        return sorted(outputs) if isinstance(outputs, dict) else []

    @property
    def loss_output(self):
        """Name of the output the loss is computed on."""
        return "logits" if "logits" in self.output_keys else "prediction"

    @property
    def metrics_output(self):
        """Name of the output the compiled metrics see."""
        return "probabilities" if "probabilities" in self.output_keys else "prediction"

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, dict):
            y_pred = y_pred[self.loss_output]
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if training and getattr(self, "_penalties", None):
            loss = loss + sum(tf.cast(penalty(), loss.dtype) for penalty in self._penalties)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred[self.metrics_output]
        return super().compute_metrics(x, y, y_pred, sample_weight)
