"""Additive (Bahdanau-style) attention over modalities."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import check_positive_int
from mmfusion_tf.fusion.base import masked_softmax

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class AttentionFusion(BaseFusion):
    """Additive attention over the projected modalities of each example.

    Each modality is projected to `h_m` (`projection_dim`) and scored with
    `s_m = v^T tanh(W h_m + b)` (`W`, `b`, `v` shared by all modalities). A
    softmax over the present modalities of each example gives the weights
    `a_m`, and the fused vector is `sum_m a_m h_m`.

    Args:
        projection_dim: Int, size every modality is projected to and size of
            the fused output.
        attention_units: Int, size of the hidden layer `W` of the scorer.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, projection_dim)`;
        `weights` of shape `(batch, M)`, the per-example attention weights
        (sum to 1 over present modalities, 0 for missing ones).

    Example:

    >>> import numpy as np
    >>> layer = AttentionFusion(projection_dim=8, attention_units=4)
    >>> fused, weights = layer(
    ...     [np.ones((2, 3)), np.ones((2, 5))],
    ...     presence=np.array([[1, 1], [0, 1]]))
    >>> tuple(fused.shape), np.asarray(weights)[1].tolist()
    ((2, 8), [0.0, 1.0])
    """

    options = {"attention_units": 64, "dropout": 0.0}
    in_default_space = True

    def __init__(
        self, projection_dim=64, attention_units=64, dropout=0.0, **kwargs
    ):
        super().__init__(
            projection_dim=projection_dim, dropout=dropout, **kwargs
        )
        self.attention_units = check_positive_int(
            "attention_units", attention_units
        )
        self.attention_hidden = keras.layers.Dense(
            self.attention_units,
            activation="tanh",
            name="attention_hidden",
            dtype=self.dtype_policy,
        )
        self.attention_score = keras.layers.Dense(
            1, use_bias=False, name="attention_score", dtype=self.dtype_policy
        )

    def _build_fusion(self, shapes):
        self.attention_hidden.build((None, len(shapes), self.projection_dim))
        self.attention_score.build((None, len(shapes), self.attention_units))

    def _fuse(self, features, mask, inputs, training=None):
        stacked = ops.stack(features, axis=1)  # [B, M, D]
        scores = self.attention_score(self.attention_hidden(stacked))[..., 0]
        weights = masked_softmax(scores, mask)
        fused = ops.sum(stacked * weights[:, :, None], axis=1)
        return fused, weights

    def get_config(self):
        config = super().get_config()
        config.update({"attention_units": self.attention_units})
        return config
