"""Cross-modal contrastive alignment: symmetric InfoNCE between modality embeddings.

As in CLIP (Radford et al., 2021): each modality's embedding is projected
to a shared space and L2-normalised; within a batch, the paired example of
the other modality is the positive and every other example a negative; the
loss is the mean of the two directions' cross-entropies, scaled by a
learnable temperature.
"""

import itertools
import math

import numpy as np
import tensorflow as tf

from mmfusion_tf._keras import keras

_MAX_LOGIT_SCALE = 100.0


def info_nce(a, b, logit_scale, mask=None):
    """Symmetric InfoNCE between row-paired embeddings `a`, `b` (`[B, D]`, normalised).

    `mask` (`[B]`, 1 = both modalities present) drops absent rows as
    anchors and as negatives. Returns a float32 scalar.

    Example:

    >>> a = tf.math.l2_normalize(tf.random.normal([8, 4]), -1)
    >>> float(info_nce(a, a, 10.0)) < float(info_nce(a, tf.roll(a, 1, 0), 10.0))
    True
    """
    a = tf.cast(a, tf.float32)
    b = tf.cast(b, tf.float32)
    logits = tf.cast(logit_scale, tf.float32) * tf.matmul(a, b, transpose_b=True)
    labels = tf.range(tf.shape(a)[0])
    if mask is None:
        mask = tf.ones([tf.shape(a)[0]], tf.float32)
    mask = tf.cast(mask, tf.float32)
    # Absent columns cannot be negatives.
    logits += (1.0 - mask)[tf.newaxis, :] * -1e9
    forward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
    backward = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.transpose(logits))
    per_row = 0.5 * (forward + backward) * mask
    return tf.math.divide_no_nan(tf.reduce_sum(per_row), tf.reduce_sum(mask))


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ContrastiveAlignment(keras.layers.Layer):
    """Adds `weight · InfoNCE` between pairs of modality embeddings while training.

    The layer is a pass-through: it returns its inputs unchanged, so it sits
    between the encoders and the fusion layer; at inference it does nothing.
    Each modality gets a linear projection to `projection_dim`; the
    temperature is learned (CLIP's `logit_scale = 1/τ`, capped at 100).

    Args:
        modality_names: list of str, the order of the features.
        pairs: list of `[name, name]` pairs, default every pair.
        weight: float λ of the auxiliary loss.
        projection_dim: int, width of the shared space.
        temperature: float, initial τ.

    Call arguments:
        features: list of `[batch, dim_m]` tensors, one per modality.
        presence: optional `[batch, M]` mask; absent rows are left out.
        training: bool; the loss is only added when True.

    Example:

    >>> align = ContrastiveAlignment(["image", "audio"], weight=0.5)
    >>> features = align([image_features, audio_features], training=True)
    >>> align.losses  # [0.5 * InfoNCE]
    """

    def __init__(self, modality_names, pairs=None, weight=1.0, projection_dim=64, temperature=0.07, **kwargs):
        super().__init__(**kwargs)
        self.modality_names = list(modality_names)
        if pairs is None:
            pairs = [list(p) for p in itertools.combinations(self.modality_names, 2)]
        for pair in pairs:
            if len(pair) != 2 or any(n not in self.modality_names for n in pair) or pair[0] == pair[1]:
                raise ValueError(f"`pairs` must hold pairs of names from {self.modality_names}. Received: {pair}")
        if not pairs:
            raise ValueError(
                f"`pairs` is empty: alignment needs two modalities. Received: modality_names={self.modality_names}"
            )
        self.pairs = [list(p) for p in pairs]
        self.weight = float(weight)
        self.projection_dim = int(projection_dim)
        self.temperature = float(temperature)
        self.projections = {
            name: keras.layers.Dense(
                self.projection_dim, use_bias=False, dtype="float32", name=f"{name}_alignment_projection"
            )
            for name in self.modality_names
        }

    def build(self, input_shape):
        for name, shape in zip(self.modality_names, input_shape):
            self.projections[name].build(shape)
        self.log_logit_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(math.log(1.0 / self.temperature)),
            dtype="float32", name="log_logit_scale",
        )

    def project(self, name, features):
        """L2-normalised embedding of modality `name` in the shared space."""
        return tf.math.l2_normalize(self.projections[name](tf.cast(features, tf.float32)), axis=-1)

    @property
    def logit_scale(self):
        return tf.minimum(tf.exp(tf.convert_to_tensor(self.log_logit_scale.value)), _MAX_LOGIT_SCALE)

    def alignment_loss(self, features, presence=None):
        """Mean InfoNCE over the pairs (unweighted), float32."""
        by_name = dict(zip(self.modality_names, features))
        losses = []
        for first, second in self.pairs:
            mask = None
            if presence is not None:
                i, j = self.modality_names.index(first), self.modality_names.index(second)
                mask = tf.cast(presence[:, i] * presence[:, j], tf.float32)
            losses.append(info_nce(
                self.project(first, by_name[first]), self.project(second, by_name[second]), self.logit_scale, mask
            ))
        return tf.add_n(losses) / float(len(losses))

    def call(self, features, presence=None, training=None):
        if training and self.weight > 0:
            self.add_loss(self.weight * self.alignment_loss(features, presence))
        return list(features)

    def compute_output_shape(self, input_shape):
        return list(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "modality_names": self.modality_names,
            "pairs": self.pairs,
            "weight": self.weight,
            "projection_dim": self.projection_dim,
            "temperature": self.temperature,
        }


def paired_similarity(model, features, batch_size=64):
    """Mean cosine similarity of paired vs unpaired examples, per modality pair.

    Runs `model`'s encoders on `features` (a dict of arrays) and projects
    with its `contrastive_alignment` layer. Returns
    `{"image-audio": {"paired": s_ii, "unpaired": s_ij, "gap": …}, …}`.

    Example:

    >>> paired_similarity(model, held_out)["image-audio"]["gap"] > 0
    True
    """
    try:
        layer = model.get_layer("contrastive_alignment")
    except ValueError as error:
        raise ValueError("`model` has no `contrastive_alignment` layer: build it with `contrastive=` set.") from error
    encoders = keras.Model(model.inputs, [model.get_layer(f"{n}_encoder").output for n in layer.modality_names])
    embedded = encoders.predict(features, batch_size=batch_size, verbose=0)
    by_name = dict(zip(layer.modality_names, embedded))
    result = {}
    for first, second in layer.pairs:
        a = np.asarray(layer.project(first, by_name[first]))
        b = np.asarray(layer.project(second, by_name[second]))
        sims = a @ b.T
        n = len(sims)
        paired = float(np.mean(np.diag(sims)))
        unpaired = float((sims.sum() - np.trace(sims)) / max(n * n - n, 1))
        result[f"{first}-{second}"] = {"paired": paired, "unpaired": unpaired, "gap": paired - unpaired}
    return result
