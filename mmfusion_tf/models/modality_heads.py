"""`ModalityHeads`: one small task head per modality, next to the fused head."""

import tensorflow as tf

from mmfusion_tf._keras import keras


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ModalityHeads(keras.layers.Layer):
    """Per-modality heads on the encoder features, stacked to `[batch, M, num_outputs]` (float32).

    Each modality gets `Dropout -> Dense(hidden, relu) -> Dropout -> Dense(num_outputs)`
    on its own features, so every encoder gets a training signal of its own
    (auxiliary losses) and the model can answer from each modality alone
    (the decision blend, the per-modality serving outputs). Regression heads
    rescale their standard-unit output with `target_scale` `(mean, std)`.

    The layer also holds `loss_weights` `[M + 1]` (non-trainable): the weight
    of each modality head's loss and, last, of the fused head's.
    `FusionModel.compute_loss` reads them; `GradientBlending` sets them.
    Its `<modality>_loss` and `fused_loss` metrics report each head's task
    loss per epoch (`val_...` on validation).

    Args:
        modality_names: names of the modalities, in input order.
        num_outputs: width of each head (classes, or 1).
        hidden_units: int, width of the hidden layer (0: linear heads).
        dropout: float, dropout before each dense layer.
        auxiliary_weight: float, initial loss weight of the modality heads.
        target_scale: optional `(mean, std)` for regression.

    Example:

    >>> heads = ModalityHeads(["image", "text"], num_outputs=3)
    >>> heads([tf.zeros([2, 16]), tf.zeros([2, 8])]).shape
    TensorShape([2, 2, 3])
    """

    def __init__(
        self, modality_names, num_outputs, hidden_units=64, dropout=0.1, auxiliary_weight=1.0, target_scale=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")  # float32 outputs (and loss) under mixed precision
        super().__init__(**kwargs)
        self.modality_names = list(modality_names)
        self.num_outputs = int(num_outputs)
        self.hidden_units = int(hidden_units)
        self.dropout = float(dropout)
        self.auxiliary_weight = float(auxiliary_weight)
        self.target_scale = None if target_scale is None else [float(v) for v in target_scale]
        self.hidden = {
            name: keras.layers.Dense(self.hidden_units, activation="relu", name=f"{name}_hidden")
            for name in self.modality_names if self.hidden_units
        }
        self.outputs = {
            name: keras.layers.Dense(self.num_outputs, dtype="float32", name=f"{name}_output")
            for name in self.modality_names
        }
        self.drop = keras.layers.Dropout(self.dropout)
        self.loss_trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in self.head_names]

    @property
    def head_names(self):
        """The modality names, then "fused": the order of `loss_weights`."""
        return self.modality_names + ["fused"]

    def build(self, input_shape):
        if len(input_shape) != len(self.modality_names):
            raise ValueError(
                f"ModalityHeads expects {len(self.modality_names)} feature tensors ({self.modality_names}). "
                f"Received: {len(input_shape)}"
            )
        for name, shape in zip(self.modality_names, input_shape):
            width = shape[-1]
            if self.hidden_units:
                self.hidden[name].build(shape)
                width = self.hidden_units
            self.outputs[name].build((None, width))
        initial = [self.auxiliary_weight] * len(self.modality_names) + [1.0]
        self.loss_weights = self.add_weight(
            name="loss_weights", shape=(len(initial),), initializer=keras.initializers.Constant(initial),
            trainable=False, dtype="float32",
        )

    def call(self, features, training=None):
        outputs = []
        for name, x in zip(self.modality_names, features):
            x = self.drop(x, training=training)
            if self.hidden_units:
                x = self.drop(self.hidden[name](x), training=training)
            y = tf.cast(self.outputs[name](x), tf.float32)
            if self.target_scale is not None:
                y = y * self.target_scale[1] + self.target_scale[0]
            outputs.append(y)
        return tf.stack(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], len(self.modality_names), self.num_outputs)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {
            **config, "modality_names": self.modality_names, "num_outputs": self.num_outputs,
            "hidden_units": self.hidden_units, "dropout": self.dropout, "auxiliary_weight": self.auxiliary_weight,
            "target_scale": self.target_scale,
        }
