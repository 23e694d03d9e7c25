"""Transformer over modality tokens with a CLS token."""

from mmfusion_tf._keras import keras
from mmfusion_tf.fusion.base import BaseFusion
from mmfusion_tf.fusion.base import check_positive_int
from mmfusion_tf.fusion.base import renormalize_over_present

ops = keras.ops


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class TransformerFusion(BaseFusion):
    """Pre-norm Transformer encoder over one token per modality plus CLS.

    Each modality becomes a token: its projection to `projection_dim` plus a
    learned modality-type embedding. A learned CLS token is prepended and
    `num_layers` pre-norm blocks (`x + MHA(LN(x))`, `x + FFN(LN(x))`) run
    over the `1 + M` tokens. Missing modalities are excluded as attention
    keys (the CLS token is always visible), so they cannot influence any
    present token. The output is the final CLS token after a LayerNorm.

    Args:
        projection_dim: Int, token size and size of the fused output; must
            be divisible by `num_heads`.
        num_heads: Int, attention heads (key size
            `projection_dim // num_heads`).
        num_layers: Int, number of Transformer blocks.
        ff_dim: Int, hidden units of each block's feed-forward network.
        dropout: Float in [0, 1), dropout rate on the tokens, the attention
            probabilities and the residual branches.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        `inputs`, `presence`, `training` as in `BaseFusion`.

    Returns:
        `(fused, weights)`: `fused` of shape `(batch, projection_dim)`;
        `weights` of shape `(batch, M)`, the last layer's attention from the
        CLS token to the modality tokens, averaged over heads and
        renormalised over the modality tokens (the CLS token's attention to
        itself is left out), so they sum to 1 over present modalities.

    Example:

    >>> import numpy as np
    >>> layer = TransformerFusion(projection_dim=8, num_heads=2, ff_dim=16)
    >>> fused, weights = layer(
    ...     [np.ones((2, 3)), np.ones((2, 5))],
    ...     presence=np.array([[1, 1], [0, 1]]))
    >>> tuple(fused.shape), np.asarray(weights)[1].tolist()
    ((2, 8), [0.0, 1.0])
    """

    options = {"num_heads": 4, "num_layers": 1, "ff_dim": 128, "dropout": 0.1}
    # Each value divides every `projection_dim` of the default space.
    search_space = {"num_heads": {"values": [1, 2, 4]}}
    in_default_space = True

    def __init__(
        self,
        projection_dim=64,
        num_heads=4,
        num_layers=1,
        ff_dim=128,
        dropout=0.1,
        **kwargs,
    ):
        super().__init__(
            projection_dim=projection_dim, dropout=dropout, **kwargs
        )
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.ff_dim = check_positive_int("ff_dim", ff_dim)
        if self.projection_dim % self.num_heads:
            raise ValueError(
                "`projection_dim` must be divisible by `num_heads`. Received: "
                f"projection_dim={projection_dim}, num_heads={num_heads}"
            )
        policy = self.dtype_policy
        self.attention_norms = []
        self.attentions = []
        self.ff_norms = []
        self.ff_hidden = []
        self.ff_output = []
        for i in range(self.num_layers):
            self.attention_norms.append(
                keras.layers.LayerNormalization(
                    epsilon=1e-6, name=f"attention_norm_{i}", dtype=policy
                )
            )
            self.attentions.append(
                keras.layers.MultiHeadAttention(
                    num_heads=self.num_heads,
                    key_dim=self.projection_dim // self.num_heads,
                    dropout=self.dropout,
                    name=f"attention_{i}",
                    dtype=policy,
                )
            )
            self.ff_norms.append(
                keras.layers.LayerNormalization(
                    epsilon=1e-6, name=f"ff_norm_{i}", dtype=policy
                )
            )
            self.ff_hidden.append(
                keras.layers.Dense(
                    self.ff_dim,
                    activation="gelu",
                    name=f"ff_hidden_{i}",
                    dtype=policy,
                )
            )
            self.ff_output.append(
                keras.layers.Dense(
                    self.projection_dim, name=f"ff_output_{i}", dtype=policy
                )
            )
        self.residual_dropout = keras.layers.Dropout(
            self.dropout, name="residual_dropout"
        )
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=1e-6, name="final_norm", dtype=policy
        )

    def _build_fusion(self, shapes):
        num_tokens = 1 + len(shapes)
        token_shape = (None, num_tokens, self.projection_dim)
        self.cls_token = self.add_weight(
            shape=(self.projection_dim,),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="cls_token",
        )
        self.modality_embeddings = self.add_weight(
            shape=(len(shapes), self.projection_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="modality_embeddings",
        )
        for i in range(self.num_layers):
            self.attention_norms[i].build(token_shape)
            self.attentions[i].build(token_shape, token_shape)
            self.ff_norms[i].build(token_shape)
            self.ff_hidden[i].build(token_shape)
            self.ff_output[i].build((None, num_tokens, self.ff_dim))
        self.final_norm.build((None, self.projection_dim))

    def _fuse(self, features, mask, inputs, training=None):
        tokens = ops.stack(features, axis=1) + self.modality_embeddings
        cls = ops.broadcast_to(
            self.cls_token, (ops.shape(tokens)[0], 1, self.projection_dim)
        )
        x = ops.concatenate([cls, tokens], axis=1)  # [B, 1 + M, D]
        # Keys visible to every query: the CLS token and present modalities.
        visible = ops.concatenate(
            [ops.ones_like(mask[:, :1]), mask], axis=-1
        )  # [B, 1 + M]
        attention_mask = ops.logical_and(
            visible[:, None, :], ops.ones_like(visible[:, :, None])
        )  # [B, 1 + M (queries), 1 + M (keys)]
        for i in range(self.num_layers):
            y = self.attention_norms[i](x)
            last = i == self.num_layers - 1  # only its scores become the weights
            y = self.attentions[i](
                y,
                y,
                attention_mask=attention_mask,
                return_attention_scores=last,
                training=training,
            )
            if last:
                y, scores = y
            x = x + self.residual_dropout(y, training=training)
            y = self.ff_output[i](self.ff_hidden[i](self.ff_norms[i](x)))
            x = x + self.residual_dropout(y, training=training)
        fused = self.final_norm(x[:, 0])
        # scores: [B, heads, queries, keys]; CLS query -> modality keys.
        weights = ops.mean(scores[:, :, 0, 1:], axis=1)
        weights = renormalize_over_present(ops.cast(weights, fused.dtype), mask)
        return fused, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "ff_dim": self.ff_dim,
            }
        )
        return config
