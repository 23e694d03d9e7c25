"""Weighted sum of modalities: h = α·h_image + β·h_audio + γ·h_text."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import ScalarWeightsMixin

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class WeightedSumFusion(ScalarWeightsMixin, BaseFusion):
    """Weighted sum of the projected modalities, one scalar per modality.

    Each modality is projected to `projection_dim` and the fused vector is
    `sum_m w_m * h_m`, e.g. `α·h_image + β·h_audio + γ·h_text`. The
    weights are global (one per modality); for each example they are
    restricted to the present modalities:

    - `mode="fixed"`: `weights` as given (>= 0), renormalised over the
      present modalities of each example (e.g. `[0.5, 0.3, 0.2]` with the
      second modality missing becomes `[0.5, 0, 0.2] / 0.7`).
    - `mode="learned"`: learnable raw scalars initialised from `weights`
      (default `1/M`), times presence, *not* normalised.
    - `mode="softmax"`: learnable logits initialised from `log(weights)`
      (default zeros, i.e. uniform), softmax over the present modalities.

    The global weights are `global_weights()`; the per-example weights are
    the second output. The constructor argument `weights` is stored as the
    attribute `modality_weights` (`Layer.weights` is Keras' list of
    variables) and returned by `get_config()` under `"weights"`.

    Args:
        projection_dim: Int, size every modality is projected to and size of
            the fused output.
        weights: Optional list of M floats, one per modality (required for
            `mode="fixed"`, must be > 0 for `mode="softmax"`).
        mode: String, one of `"fixed"`, `"learned"`, `"softmax"`.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, projection_dim)`;
        `weights` of shape `(batch, M)`, the global weights restricted (and,
        except in `"learned"` mode, renormalised) to each example's present
        modalities.

    Example:

    >>> import numpy as np
    >>> layer = WeightedSumFusion(
    ...     projection_dim=4, weights=[0.5, 0.3, 0.2], mode="fixed")
    >>> inputs = [np.ones((2, 3)), np.ones((2, 5)), np.ones((2, 6))]
    >>> presence = np.array([[1, 1, 1], [1, 0, 1]])
    >>> fused, weights = layer(inputs, presence=presence)
    >>> tuple(fused.shape)
    (2, 4)
    >>> np.asarray(weights).astype(float).round(3).tolist()
    [[0.5, 0.3, 0.2], [0.714, 0.0, 0.286]]
    """

    options = {"weights": None, "mode": "softmax", "dropout": 0.0}
    in_default_space = True
    weighted = True

    def __init__(
        self,
        projection_dim=64,
        weights=None,
        mode="softmax",
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(
            projection_dim=projection_dim, dropout=dropout, **kwargs
        )
        self._init_modality_weights(
            weights, mode, allowed_modes=("fixed", "learned", "softmax")
        )

    def _build_fusion(self, shapes):
        self._build_modality_weights(len(shapes))

    def _fuse(self, features, mask, inputs, training=None):
        weights = self._per_example_weights(mask, self.compute_dtype)
        stacked = ops.stack(features, axis=1)  # [B, M, D]
        fused = ops.sum(stacked * weights[:, :, None], axis=1)
        return fused, weights

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.modality_weights, "mode": self.mode})
        return config
