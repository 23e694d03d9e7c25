"""Concatenation of the projected modalities (early fusion)."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ConcatFusion(BaseFusion):
    """Concatenates the projected modalities, with zeros for missing ones.

    Each modality is projected to `projection_dim`; the features of missing
    modalities are zeroed and all are concatenated in input order, giving
    `M * projection_dim` features. Concatenation has no fusion weights: how
    much each modality matters is decided by the layers that follow. The
    `weights` output is therefore only the uniform weight `1 / num_present`
    over the present modalities (0 for missing ones), reported so that every
    fusion layer has the same outputs.

    Args:
        projection_dim: Int, size every modality is projected to.
        dropout: Float in [0, 1), dropout rate on the projected features.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, M * projection_dim)`;
        `weights` of shape `(batch, M)`, uniform over present modalities.

    Example:

    >>> import numpy as np
    >>> fused, weights = ConcatFusion(projection_dim=4)(
    ...     [np.ones((2, 3)), np.ones((2, 5))],
    ...     presence=np.array([[1, 1], [0, 1]]))
    >>> tuple(fused.shape)
    (2, 8)
    >>> np.asarray(weights).tolist()
    [[0.5, 0.5], [0.0, 1.0]]
    """

    in_default_space = True

    def _fuse(self, features, mask, inputs, training=None):
        return ops.concatenate(features, axis=-1), self._uniform_weights(mask)

    def _fused_dim(self, num_modalities):
        return num_modalities * self.projection_dim
