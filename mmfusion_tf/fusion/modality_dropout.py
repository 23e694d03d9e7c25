"""Random dropping of whole modalities during training."""

from mmfusion_tf._keras import keras
from mmfusion_tf._validation import check_int
from mmfusion_tf.fusion.base import check_rate

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ModalityDropout(keras.layers.Layer):
    """Randomly marks modalities as missing in a presence mask (training).

    In training, each entry of the presence mask `(batch, M)` is set to 0
    independently with probability `rate`, so the fusion layer learns to
    cope with missing modalities. An example never loses all of its present
    modalities: if every present one was dropped, one of them, chosen at
    random, is kept. Hence the effective drop rate is slightly below `rate`
    (by about `rate**M / M` for an example with all M modalities present,
    and an example with a single present modality never loses it). Entries
    that are already 0 stay 0. At inference the mask passes through
    unchanged. Place it between the presence input and the fusion layer's
    `presence` argument.

    Args:
        rate: Float in [0, 1), probability of dropping each present
            modality.
        seed: Optional int, seed of the random generator.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        presence: Float tensor of shape `(batch, M)`, 1 = present,
            0 = missing.
        training: Python bool, whether the call is in training mode.

    Returns:
        The presence mask, of the same shape, with dropped entries set to 0.

    Example:

    >>> import numpy as np
    >>> layer = ModalityDropout(rate=0.5, seed=0)
    >>> presence = np.ones((1000, 3), "float32")
    >>> bool(np.all(np.asarray(layer(presence, training=True)).sum(-1) >= 1))
    True
    >>> bool(np.all(np.asarray(layer(presence, training=False)) == presence))
    True
    """

    def __init__(self, rate=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = check_int("seed", seed, allow_none=True, noun="int")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, presence, training=None):
        presence = ops.cast(presence, self.compute_dtype)
        if not training or self.rate == 0:
            return presence
        present = ops.greater(presence, 0)
        shape = ops.shape(presence)
        keep = ops.greater_equal(
            keras.random.uniform(shape, seed=self.seed_generator), self.rate
        )
        kept = ops.logical_and(present, keep)
        # Rows that lost every present modality keep one of them at random.
        lost_all = ops.logical_and(
            ops.logical_not(ops.any(kept, axis=-1, keepdims=True)),
            ops.any(present, axis=-1, keepdims=True),
        )
        scores = keras.random.uniform(shape, seed=self.seed_generator)
        scores = ops.where(present, scores, -ops.ones_like(scores))
        rescued = ops.cast(
            ops.one_hot(ops.argmax(scores, axis=-1), shape[-1]), "bool"
        )
        kept = ops.where(lost_all, rescued, kept)
        return ops.where(kept, presence, ops.zeros_like(presence))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
