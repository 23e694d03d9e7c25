"""`DecisionBlend`: the model's answer as a validation-fitted blend of its fused and per-modality heads."""

import tensorflow as tf

from mmfusion_tf._keras import keras


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class DecisionBlend(keras.layers.Layer):
    """Blends the fused head with the per-modality heads, per pattern of present modalities.

    For each of the `2**M` patterns of present modalities the layer keeps
    a row of `M + 1` non-negative weights (modality heads, then the fused
    head) and a temperature. A row's weights of absent modalities are
    ignored and the rest renormalised, so a missing modality never
    contributes. Classification blends logits and divides by the
    temperature; regression blends values (temperature unused).

    Built with every row "fused head only, temperature 1", so an
    uncalibrated model answers with its fused head;
    `mmfusion_tf.training.calibrate` fits the rows on validation data and
    `set_blend` writes them. With `num_modalities=0` the layer only applies
    the temperature.

    Args:
        num_modalities: M, the number of modality heads (0: temperature only).
        mode: "logits" (classification) or "values" (regression).

    Call arguments:
        fused: `[batch, K]` fused head output.
        modality: `[batch, M, K]` per-modality head outputs (M > 0).
        presence: optional `[batch, M]` presence mask (1 present, 0 missing).

    Example:

    >>> blend = DecisionBlend(2)
    >>> blend(tf.ones([4, 3]), tf.zeros([4, 2, 3])).shape  # fused head only until fitted
    TensorShape([4, 3])
    """

    def __init__(self, num_modalities, mode="logits", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if mode not in ("logits", "values"):
            raise ValueError(f"`mode` must be 'logits' or 'values'. Received: mode={mode!r}")
        self.num_modalities = int(num_modalities)
        self.mode = mode
        self.num_patterns = 2 ** self.num_modalities

    def build(self, *args, **kwargs):
        initial = [[0.0] * self.num_modalities + [1.0]] * self.num_patterns
        self.blend_weights = self.add_weight(
            name="blend_weights", shape=(self.num_patterns, self.num_modalities + 1),
            initializer=keras.initializers.Constant(initial), trainable=False, dtype="float32",
        )
        self.temperature = self.add_weight(
            name="temperature", shape=(self.num_patterns,), initializer="ones", trainable=False, dtype="float32",
        )

    def pattern_index(self, presence, batch):
        """Row of each example: sum of 2**k over its present modalities k (all present without a mask)."""
        if presence is None:
            return tf.fill([batch], self.num_patterns - 1)
        bits = tf.cast(tf.cast(presence, tf.float32) > 0.5, tf.int32)
        return tf.reduce_sum(bits * (2 ** tf.range(self.num_modalities)), axis=-1)

    def call(self, fused, modality=None, presence=None):
        fused = tf.cast(fused, tf.float32)
        index = self.pattern_index(presence, tf.shape(fused)[0])
        temperature = tf.gather(self.temperature, index)[:, None]
        if self.num_modalities == 0:
            return fused / temperature if self.mode == "logits" else fused
        weights = tf.gather(self.blend_weights, index)  # [batch, M + 1]
        if presence is not None:
            mask = tf.concat([tf.cast(presence > 0.5, tf.float32), tf.ones_like(weights[:, :1])], axis=-1)
            weights = weights * mask
        total = tf.reduce_sum(weights, axis=-1, keepdims=True)
        fused_only = tf.one_hot(tf.fill([tf.shape(weights)[0]], self.num_modalities), self.num_modalities + 1)
        weights = tf.where(total > 0, weights / tf.maximum(total, 1e-12), fused_only)
        heads = tf.concat([tf.cast(modality, tf.float32), fused[:, None, :]], axis=1)  # [batch, M + 1, K]
        blended = tf.reduce_sum(weights[:, :, None] * heads, axis=1)
        return blended / temperature if self.mode == "logits" else blended

    def set_blend(self, weights, temperature=None):
        """Writes the fitted rows: `weights` `[2**M, M + 1]`, `temperature` `[2**M]` (default: 1)."""
        self.blend_weights.assign(tf.constant(weights, tf.float32))
        if temperature is not None:
            self.temperature.assign(tf.constant(temperature, tf.float32))

    def compute_output_shape(self, fused_shape, *args, **kwargs):
        return fused_shape

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {**config, "num_modalities": self.num_modalities, "mode": self.mode}
