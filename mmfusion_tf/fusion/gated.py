"""Gated Multimodal Units (Arevalo et al., 2017) for M modalities."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import masked_softmax

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class GatedFusion(BaseFusion):
    """Gated Multimodal Unit (GMU) generalised to M modalities.

    Following Arevalo et al., "Gated Multimodal Units for Information
    Fusion" (ICLR workshop 2017): each modality gives `h_m = tanh(W_m x_m)`
    (`projection_dim` units), and a gate looks at all the raw inputs at once,
    `z = softmax_m(W_z [x_1, ..., x_M])` with `z` of shape
    `(batch, M, projection_dim)`; the fused vector is `sum_m z_m * h_m`. With
    two modalities this is the GMU's `z * h_v + (1 - z) * h_t` with a
    sigmoid gate. Missing modalities are zeroed in the gate's input and
    excluded from the softmax over modalities.

    Args:
        projection_dim: Int, number of units of every `h_m` and of the fused
            output.
        dropout: Float in [0, 1), dropout rate on the `h_m`.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, projection_dim)`;
        `weights` of shape `(batch, M)`, the gate `z_m` averaged over the
        `projection_dim` units (sums to 1 over present modalities).

    Example:

    >>> import numpy as np
    >>> layer = GatedFusion(projection_dim=8)
    >>> fused, weights = layer([np.ones((2, 3)), np.ones((2, 5))])
    >>> tuple(fused.shape), np.asarray(weights).sum(axis=-1).round(3).tolist()
    ((2, 8), [1.0, 1.0])
    """

    in_default_space = True

    def _build_fusion(self, shapes):
        self.gate = keras.layers.Dense(
            len(shapes) * self.projection_dim,
            name="gate",
            dtype=self.dtype_policy,
        )
        self.gate.build((None, sum(int(shape[-1]) for shape in shapes)))

    def _project(self, i, x, training=None):
        h = ops.tanh(self.projections[i](x))
        return self.feature_dropout(h, training=training)

    def _fuse(self, features, mask, inputs, training=None):
        masked_inputs = []
        for i, x in enumerate(inputs):
            masked_inputs.append(
                ops.where(mask[:, i : i + 1], x, ops.zeros_like(x))
            )
        logits = self.gate(ops.concatenate(masked_inputs, axis=-1))
        logits = ops.reshape(
            logits, (-1, self.num_modalities, self.projection_dim)
        )
        gates = masked_softmax(logits, mask[:, :, None], axis=1)  # [B, M, D]
        fused = ops.sum(gates * ops.stack(features, axis=1), axis=1)
        return fused, ops.mean(gates, axis=-1)
