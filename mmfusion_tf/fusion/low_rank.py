"""Low-rank Multimodal Fusion (Liu et al., 2018)."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import check_positive_int

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class LowRankFusion(BaseFusion):
    """Low-rank Multimodal Fusion: TFN with a rank-`rank` weight tensor.

    Following Liu et al., "Efficient Low-rank Multimodal Fusion with
    Modality-Specific Factors" (ACL 2018): each modality is projected to
    `h_m` and extended to `z_m = [h_m, 1]`; modality factors `W_m` of shape
    `(rank, projection_dim + 1, output_dim)` give `f_m = z_m W_m`
    (`(batch, rank, output_dim)`); the factors are multiplied elementwise
    across modalities and summed over the rank with learned weights, plus a
    bias. This equals a Tensor Fusion Network whose weight tensor has rank
    `rank`, at a cost linear in M. A missing modality has `h_m = 0`, so only
    the factor row of its constant 1 remains. LMF has no per-modality
    weights; the `weights` output is uniform over the present modalities.

    Args:
        projection_dim: Int, size every modality is projected to (before
            the constant 1 is appended).
        output_dim: Int, size of the fused output.
        rank: Int, rank of the decomposed fusion weight tensor.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, output_dim)`;
        `weights` of shape `(batch, M)`, uniform over present modalities.

    Example:

    >>> import numpy as np
    >>> layer = LowRankFusion(projection_dim=4, output_dim=16, rank=2)
    >>> fused, weights = layer([np.ones((2, 3)), np.ones((2, 5))])
    >>> tuple(fused.shape), tuple(layer.factors[0].shape)
    ((2, 16), (2, 5, 16))
    """

    options = {"output_dim": 64, "rank": 4, "dropout": 0.0}
    search_space = {"rank": {"values": [2, 4, 8]}}
    in_default_space = True

    def __init__(
        self, projection_dim=32, output_dim=64, rank=4, dropout=0.0, **kwargs
    ):
        super().__init__(
            projection_dim=projection_dim, dropout=dropout, **kwargs
        )
        self.output_dim = check_positive_int("output_dim", output_dim)
        self.rank = check_positive_int("rank", rank)

    def _build_fusion(self, shapes):
        self.factors = [
            self.add_weight(
                shape=(self.rank, self.projection_dim + 1, self.output_dim),
                initializer="glorot_normal",
                name=f"factor_{i}",
            )
            for i in range(len(shapes))
        ]
        self.rank_weights = self.add_weight(
            shape=(self.rank,),
            initializer=keras.initializers.Constant(1.0 / self.rank),
            name="rank_weights",
        )
        self.bias = self.add_weight(
            shape=(self.output_dim,), initializer="zeros", name="bias"
        )

    def _fuse(self, features, mask, inputs, training=None):
        product = None
        for h, factor in zip(features, self.factors):
            z = ops.concatenate([h, ops.ones_like(h[:, :1])], axis=-1)
            f = ops.einsum("bi,rio->bro", z, factor)
            product = f if product is None else product * f
        fused = ops.einsum("r,bro->bo", self.rank_weights, product) + self.bias
        return fused, self._uniform_weights(mask)

    def _fused_dim(self, num_modalities):
        return self.output_dim

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "rank": self.rank})
        return config
