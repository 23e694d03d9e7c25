"""Tensor Fusion Network (Zadeh et al., 2017)."""

import math

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import check_positive_int

ops = keras.ops

MAX_TENSOR_FEATURES = 1_000_000


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class TensorFusion(BaseFusion):
    """Tensor Fusion Network: outer product of the modalities plus a Dense.

    Following Zadeh et al., "Tensor Fusion Network for Multimodal Sentiment
    Analysis" (EMNLP 2017): each modality is projected to `h_m` and extended
    with a constant, `z_m = [h_m, 1]`; the outer product of all `z_m` is
    flattened (`prod_m (projection_dim + 1)` features, which keeps every
    unimodal, bimodal, ... interaction) and mapped by
    `Dense(output_dim, relu)`. A missing modality has `h_m = 0`, so only its
    constant 1 remains and the output is that of the other modalities. The
    size grows exponentially with M: more than 1,000,000 features raises an
    error (use `LowRankFusion` then). TFN has no per-modality weights; the
    `weights` output is uniform over the present modalities.

    Args:
        projection_dim: Int, size every modality is projected to (before
            the constant 1 is appended).
        output_dim: Int, units of the output Dense layer.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, output_dim)`;
        `weights` of shape `(batch, M)`, uniform over present modalities.

    Example:

    >>> import numpy as np
    >>> layer = TensorFusion(projection_dim=4, output_dim=16)
    >>> inputs = [np.ones((2, 3)), np.ones((2, 5)), np.ones((2, 6))]
    >>> fused, weights = layer(inputs)
    >>> tuple(fused.shape), tuple(layer.output_dense.kernel.shape)  # 5**3 = 125
    ((2, 16), (125, 16))
    """

    options = {"output_dim": 64, "dropout": 0.0}
    # Not in the default space: exponential in M, too big at its widths.
    in_default_space = False

    def __init__(self, projection_dim=8, output_dim=64, dropout=0.0, **kwargs):
        super().__init__(
            projection_dim=projection_dim, dropout=dropout, **kwargs
        )
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.output_dense = keras.layers.Dense(
            self.output_dim,
            activation="relu",
            name="output_dense",
            dtype=self.dtype_policy,
        )

    def _build_fusion(self, shapes):
        num_features = (self.projection_dim + 1) ** len(shapes)
        if num_features > MAX_TENSOR_FEATURES:
            raise ValueError(
                "TensorFusion's outer product would have "
                "(projection_dim + 1) ** num_modalities = "
                f"{self.projection_dim + 1} ** {len(shapes)} = "
                f"{num_features:,} features, more than "
                f"{MAX_TENSOR_FEATURES:,}. Use a smaller "
                "`projection_dim` or LowRankFusion. Received: "
                f"projection_dim={self.projection_dim}"
            )
        self.output_dense.build((None, num_features))

    def _fuse(self, features, mask, inputs, training=None):
        product = None
        for h in features:
            z = ops.concatenate([h, ops.ones_like(h[:, :1])], axis=-1)
            if product is None:
                product = z
                continue
            outer = product[:, :, None] * z[:, None, :]
            product = ops.reshape(outer, (-1, math.prod(outer.shape[1:])))
        return self.output_dense(product), self._uniform_weights(mask)

    def _fused_dim(self, num_modalities):
        return self.output_dim

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim})
        return config
