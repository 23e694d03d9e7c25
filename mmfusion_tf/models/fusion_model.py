"""`FusionModel`: a functional model whose outputs are a dict of named heads."""

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf._private_apis import compiled_loss, created_trainable_variables, sublayers


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class FusionModel(keras.Model):
    """Functional model with dict outputs, trained by plain `fit` on `(x, y)`.

    The model returns `{"logits", "probabilities", "fusion_weights"}`
    (classification) or `{"prediction", "fusion_weights"}` (regression). The
    loss is computed on `logits` (or `prediction`) and the compiled metrics
    on `probabilities` (or `prediction`), so a dataset of `(features, label)`
    works with `compile(loss=..., metrics=[...])` as for a single-output
    model. Nothing else changes: `fit`, callbacks, `.keras` saving.

    Variables frozen one by one inside a trainable layer (a transfer stage
    with `backbones: 0.5` freezes the bottom half of each hub module) are
    listed in the config as `frozen_variables`, so a loaded model trains the
    same variables and its optimizer state loads (see `frozen_variables`).

    With per-modality heads (`HeadConfig.modality_heads`), the compiled loss
    is computed on the fused head (`fused_logits` / `fused_prediction`) and
    each modality head adds the same loss on its own output, weighted by
    the `modality_heads` layer's `loss_weights` (an example whose modality
    is absent, `<name>_present` = 0, does not count for that head). The
    training `loss` is that weighted sum; `val_loss` (evaluation) is the
    fused head's task loss alone, so it stays comparable across epochs
    whatever the weights. `fused_loss` and `<modality>_loss` log each head.

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
        outputs = self.output  # a functional model's outputs as built (here a dict)
        return sorted(outputs) if isinstance(outputs, dict) else []

    @property
    def loss_output(self):
        """Name of the output the compiled loss is computed on."""
        keys = self.output_keys
        for name in ("fused_logits", "logits", "fused_prediction"):
            if name in keys:
                return name
        return "prediction"

    @property
    def metrics_output(self):
        """Name of the output the compiled metrics see."""
        return "probabilities" if "probabilities" in self.output_keys else "prediction"

    @property
    def modality_output(self):
        """Name of the per-modality heads' output, or None."""
        for name in ("modality_logits", "modality_predictions"):
            if name in self.output_keys:
                return name
        return None

    def modality_heads(self):
        """The `ModalityHeads` layer, or None."""
        if self.modality_output is None:
            return None
        return self.get_layer("modality_heads")

    def get_config(self):
        config = super().get_config()
        frozen = frozen_variables(self)
        if frozen:
            config["frozen_variables"] = frozen
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        frozen = config.pop("frozen_variables", None)
        model = super().from_config(config, custom_objects=custom_objects)
        if frozen:  # before `load_model` compiles: the optimizer is built for the trainable variables
            freeze_variables(model, frozen)
        return model

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        outputs = y_pred if isinstance(y_pred, dict) else None
        if outputs is not None:
            y_pred = outputs[self.loss_output]
        loss = super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        heads = self.modality_heads() if outputs is not None else None
        if heads is not None and compiled_loss(self) is not None:
            loss = self._add_modality_losses(heads, loss, x, y, outputs, sample_weight, training)
        if training and getattr(self, "_penalties", None):
            loss = loss + sum(tf.cast(penalty(), loss.dtype) for penalty in self._penalties)
        return loss

    def _add_modality_losses(self, heads, loss, x, y, outputs, sample_weight, training):
        """`loss` (fused head + extra losses) with the weighted modality-head losses added when training."""
        loss_fn = self.loss if isinstance(self.loss, keras.losses.Loss) else keras.losses.get(self.loss)
        fused = compiled_loss(self)(y, outputs[self.loss_output], sample_weight)
        modality = outputs[self.modality_output]
        weights = tf.cast(heads.loss_weights, loss.dtype)
        head_losses, shares = [], []
        for k, name in enumerate(heads.modality_names):
            weight, share = sample_weight, 1.0
            present = x.get(f"{name}_present") if isinstance(x, dict) else None
            if present is not None:  # mean over the examples that have the modality
                present = tf.reshape(tf.cast(present, tf.float32), [-1])
                share = tf.reduce_mean(present)
                weight = present if weight is None else tf.reshape(tf.cast(weight, tf.float32), [-1]) * present
            value = loss_fn(y, modality[:, k], sample_weight=weight) / tf.maximum(share, 1e-6)
            head_losses.append(tf.cast(value, loss.dtype))
            shares.append(share)
        for tracker, value, share in zip(heads.loss_trackers, head_losses + [fused], shares + [1.0]):
            tracker.update_state(value, sample_weight=share)  # batches without the modality do not count
        if not training:
            return loss
        return loss + (weights[-1] - 1.0) * fused + sum(weights[k] * value for k, value in enumerate(head_losses))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred[self.metrics_output]
        return super().compute_metrics(x, y, y_pred, sample_weight)


def _layers_by_path(model):
    """`{"text_encoder/backbone": layer, ...}`: every nested layer of `model` by its chain of names."""
    found = {}

    def visit(layer, prefix):
        for child in sublayers(layer):
            path = f"{prefix}{child.name}"
            if path not in found:
                found[path] = child
                visit(child, path + "/")

    visit(model, "")
    return found


def frozen_variables(model):
    """The variables created trainable but frozen since, as `{layer path: [index, ...]}`.

    The index counts the layer's own variables that were created trainable
    (`created_trainable_variables(layer)`), in creation order. Layers frozen as a
    whole (`layer.trainable = False`) are not listed: their config saves that.

    Example:

    >>> set_backbones_trainable(model, config, 0.5)
    >>> frozen_variables(model)
    {'image_encoder/backbone': [0, 1, 2, 3, 4]}
    """
    frozen = {}
    for path, layer in _layers_by_path(model).items():
        if not layer.trainable:  # frozen as a whole (every variable): its config says so
            continue
        indices = [i for i, v in enumerate(created_trainable_variables(layer)) if not v.trainable]
        if indices:
            frozen[path] = indices
    return frozen


def freeze_variables(model, frozen):
    """Sets `trainable = False` on the variables `frozen` lists (the output of `frozen_variables`).

    Example:

    >>> freeze_variables(model, {"image_encoder/backbone": [0, 1, 2, 3, 4]})
    """
    layers = _layers_by_path(model)
    for path, indices in frozen.items():
        layer = layers.get(path)
        if layer is None:
            raise ValueError(
                f"The model config freezes variables of layer {path!r}, but the model has no such layer "
                f"(it has {sorted(layers)[:20]}...). Was the file saved from a different model?"
            )
        variables = created_trainable_variables(layer)
        if indices and max(indices) >= len(variables):
            raise ValueError(
                f"The model config freezes variable {max(indices)} of layer {path!r}, but that layer has "
                f"only {len(variables)} variables created trainable. Was the file saved from a different model?"
            )
        for i in indices:
            variables[i].trainable = False
