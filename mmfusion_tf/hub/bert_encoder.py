"""A BERT encoder in Keras 3 layers (TF ops) with TF-Hub's dict interface.

The layers keep Hugging Face's BERT weight layout (`query`/`key`/`value`/
`dense`, post-LayerNorm, GELU intermediate), so a checkpoint maps onto them
one tensor at a time (`mmfusion_tf.hub.import_bert`).

Example:

>>> config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2,
...                     num_attention_heads=2, intermediate_size=64)
>>> encoder = bert_encoder(config)
>>> sorted(encoder.output)
['default', 'pooled_output', 'sequence_output']
"""

import dataclasses

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.text import masked_mean

# Hugging Face `hidden_act` names -> TF activation.
ACTIVATIONS = {
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: tf.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu": tf.nn.relu,
}
POOLED_OUTPUTS = ("pooler", "mean")


def _check_activation(hidden_act):
    if hidden_act not in ACTIVATIONS:
        raise ValueError(f"`hidden_act` must be one of {sorted(ACTIVATIONS)}. Received: hidden_act={hidden_act!r}")


@dataclasses.dataclass
class BertConfig:
    """The facts of a Hugging Face `config.json` (BERT family) the encoder needs."""

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def from_dict(cls, config):
        """Keeps the known keys of a `config.json` dict, checks the rest."""
        model_type = config.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"Only BERT-family checkpoints (`model_type`='bert') are supported. Received: model_type={model_type!r}"
            )
        position_type = config.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(
                "Only absolute position embeddings are supported. "
                f"Received: position_embedding_type={position_type!r}"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})

    def __post_init__(self):
        _check_activation(self.hidden_act)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                "`hidden_size` must be a multiple of `num_attention_heads`. Received: "
                f"hidden_size={self.hidden_size}, num_attention_heads={self.num_attention_heads}"
            )


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class BertEmbeddings(keras.layers.Layer):
    """Word + position + token-type embeddings, then LayerNorm and dropout.

    Args:
        vocab_size: int, number of WordPiece ids.
        hidden_size: int, embedding width.
        max_position_embeddings: int, longest sequence.
        type_vocab_size: int, number of segment ids.
        layer_norm_eps: float, LayerNorm epsilon.
        dropout: float, dropout rate in training.
        **kwargs: base layer arguments.

    Call arguments:
        word_ids: int `[batch, seq]`.
        type_ids: int `[batch, seq]`.
        training: Python bool.

    Example:

    >>> layer = BertEmbeddings(10, 8, 16, 2, 1e-12, 0.0)
    >>> layer(tf.zeros((1, 4), "int32"), tf.zeros((1, 4), "int32")).shape
    TensorShape([1, 4, 8])
    """

    def __init__(
        self, vocab_size, hidden_size, max_position_embeddings, type_vocab_size, layer_norm_eps, dropout, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_eps, dtype=self.dtype_policy, name="LayerNorm"
        )
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, word_ids_shape, type_ids_shape=None):
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.word_embeddings = self.add_weight((self.vocab_size, self.hidden_size), init, name="word_embeddings")
        self.position_embeddings = self.add_weight(
            (self.max_position_embeddings, self.hidden_size), init, name="position_embeddings"
        )
        self.token_type_embeddings = self.add_weight(
            (self.type_vocab_size, self.hidden_size), init, name="token_type_embeddings"
        )
        self.layer_norm.build((None, None, self.hidden_size))

    def call(self, word_ids, type_ids, training=None):
        length = tf.shape(word_ids)[1]
        x = (
            tf.gather(self.word_embeddings, word_ids)
            + tf.gather(self.token_type_embeddings, type_ids)
            + self.position_embeddings[None, :length]
        )
        return self.dropout_layer(self.layer_norm(x), training=training)

    def compute_output_shape(self, word_ids_shape, type_ids_shape=None):
        return (*word_ids_shape, self.hidden_size)

    def get_config(self):
        config = {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "max_position_embeddings": self.max_position_embeddings,
            "type_vocab_size": self.type_vocab_size,
            "layer_norm_eps": self.layer_norm_eps,
            "dropout": self.dropout,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class BertLayer(keras.layers.Layer):
    """One post-LayerNorm transformer layer with Hugging Face's BERT layout.

    `x = LN(x + dense(self_attention(x)))`, then `x = LN(x + output(act(intermediate(x))))`.
    Sub-layers are named like the checkpoint's keys (`query`, `key`, `value`,
    `attention_output`, `attention_norm`, `intermediate`, `output`,
    `output_norm`); Dense kernels are the transposed PyTorch `weight`s.

    Args:
        hidden_size: int, model width.
        num_attention_heads: int, heads (divide `hidden_size`).
        intermediate_size: int, feed-forward width.
        hidden_act: str, Hugging Face activation name ("gelu" is the exact erf GELU).
        layer_norm_eps: float, LayerNorm epsilon.
        dropout: float, dropout on hidden states in training.
        attention_dropout: float, dropout on attention probabilities in training.
        **kwargs: base layer arguments.

    Call arguments:
        x: float `[batch, seq, hidden_size]`.
        mask: int or bool `[batch, seq]`, 1 for real tokens; padded keys get no attention.
        training: Python bool.

    Example:

    >>> layer = BertLayer(8, 2, 16)
    >>> layer(tf.zeros((1, 4, 8)), tf.ones((1, 4), "int32")).shape
    TensorShape([1, 4, 8])
    """

    def __init__(
        self, hidden_size, num_attention_heads, intermediate_size, hidden_act="gelu", layer_norm_eps=1e-12,
        dropout=0.0, attention_dropout=0.0, **kwargs,
    ):
        super().__init__(**kwargs)
        _check_activation(hidden_act)
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.layer_norm_eps = layer_norm_eps
        self.dropout = dropout
        self.attention_dropout = attention_dropout

        # === Layers ===
        def dense(units, name):
            init = keras.initializers.TruncatedNormal(stddev=0.02)  # BERT's initializer_range
            return keras.layers.Dense(units, kernel_initializer=init, dtype=self.dtype_policy, name=name)

        def norm(name):
            return keras.layers.LayerNormalization(epsilon=layer_norm_eps, dtype=self.dtype_policy, name=name)

        self.query = dense(hidden_size, "query")
        self.key = dense(hidden_size, "key")
        self.value = dense(hidden_size, "value")
        self.attention_output = dense(hidden_size, "attention_output")
        self.attention_norm = norm("attention_norm")
        self.intermediate = dense(intermediate_size, "intermediate")
        self.output_dense = dense(hidden_size, "output")
        self.output_norm = norm("output_norm")
        self.attention_probs_dropout = keras.layers.Dropout(attention_dropout, dtype=self.dtype_policy)
        self.hidden_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, x_shape, mask_shape=None):
        hidden = (None, None, self.hidden_size)
        for layer in (self.query, self.key, self.value, self.attention_output, self.intermediate):
            layer.build(hidden)
        self.output_dense.build((None, None, self.intermediate_size))
        self.attention_norm.build(hidden)
        self.output_norm.build(hidden)

    def _split_heads(self, x):
        batch, length = tf.shape(x)[0], tf.shape(x)[1]
        head_size = self.hidden_size // self.num_attention_heads
        x = tf.reshape(x, [batch, length, self.num_attention_heads, head_size])
        return tf.transpose(x, [0, 2, 1, 3])  # [batch, heads, seq, head_size]

    def call(self, x, mask, training=None):
        head_size = self.hidden_size // self.num_attention_heads
        q, k, v = (self._split_heads(layer(x)) for layer in (self.query, self.key, self.value))
        scores = tf.matmul(q, k, transpose_b=True) / tf.cast(head_size, x.dtype) ** 0.5
        key_mask = tf.cast(mask, x.dtype)[:, None, None, :]
        scores += (1.0 - key_mask) * x.dtype.min  # as Hugging Face's extended attention mask
        probs = self.attention_probs_dropout(tf.nn.softmax(scores, axis=-1), training=training)
        context = tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3])
        context = tf.reshape(context, [tf.shape(x)[0], tf.shape(x)[1], self.hidden_size])
        attended = self.hidden_dropout(self.attention_output(context), training=training)
        x = self.attention_norm(x + attended)
        hidden = self.output_dense(ACTIVATIONS[self.hidden_act](self.intermediate(x)))
        return self.output_norm(x + self.hidden_dropout(hidden, training=training))

    def compute_output_shape(self, x_shape, mask_shape=None):
        return x_shape

    def get_config(self):
        config = {
            "hidden_size": self.hidden_size,
            "num_attention_heads": self.num_attention_heads,
            "intermediate_size": self.intermediate_size,
            "hidden_act": self.hidden_act,
            "layer_norm_eps": self.layer_norm_eps,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class MaskedMeanPooling(keras.layers.Layer):
    """Mean of `[batch, seq, dim]` over the real tokens (`mask` 1), as sentence-transformers pools.

    Call arguments:
        sequence: float `[batch, seq, dim]`.
        mask: int `[batch, seq]`.

    Example:

    >>> MaskedMeanPooling()(tf.ones((1, 3, 2)), tf.constant([[1, 1, 0]])).shape
    TensorShape([1, 2])
    """

    def call(self, sequence, mask):
        return masked_mean(sequence, mask)

    def compute_output_shape(self, sequence_shape, mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])


def bert_encoder(config, pooled_output="pooler", name="bert_encoder"):
    """BERT encoder as a functional Keras model with TF-Hub's BERT interface.

    Inputs `input_word_ids`, `input_mask`, `input_type_ids` (int32 `[batch,
    seq]`, any `seq` up to `max_position_embeddings`). Outputs
    `sequence_output` `[batch, seq, hidden]`, `default` (mean of
    `sequence_output` over real tokens: the sentence-transformers embedding
    before normalisation) and `pooled_output` (`"pooler"`: BERT's
    `tanh(dense(sequence_output[:, 0]))`; `"mean"`: equal to `default`, for
    checkpoints without pooler weights).

    Args:
        config: `BertConfig`.
        pooled_output: "pooler" or "mean", what `pooled_output` is.
        name: str, model name.

    Returns:
        A `keras.Model` (float32 whatever the global policy: hub graphs are float32).
    """
    if pooled_output not in POOLED_OUTPUTS:
        raise ValueError(f"`pooled_output` must be one of {POOLED_OUTPUTS}. Received: pooled_output={pooled_output!r}")

    # === Layers ===
    embeddings = BertEmbeddings(
        config.vocab_size, config.hidden_size, config.max_position_embeddings, config.type_vocab_size,
        config.layer_norm_eps, config.hidden_dropout_prob, dtype="float32", name="embeddings",
    )
    layers = [
        BertLayer(
            config.hidden_size, config.num_attention_heads, config.intermediate_size, config.hidden_act,
            config.layer_norm_eps, config.hidden_dropout_prob, config.attention_probs_dropout_prob,
            dtype="float32", name=f"layer_{i}",
        )
        for i in range(config.num_hidden_layers)
    ]
    mean_pooling = MaskedMeanPooling(dtype="float32", name="mean_pooling")
    pooler = (
        keras.layers.Dense(config.hidden_size, activation="tanh", dtype="float32", name="pooler")
        if pooled_output == "pooler" else None
    )

    # === Functional Model ===
    word_ids = keras.Input((None,), dtype="int32", name="input_word_ids")
    mask = keras.Input((None,), dtype="int32", name="input_mask")
    type_ids = keras.Input((None,), dtype="int32", name="input_type_ids")
    x = embeddings(word_ids, type_ids)
    for layer in layers:
        x = layer(x, mask)
    mean = mean_pooling(x, mask)
    pooled = pooler(x[:, 0]) if pooler is not None else mean
    inputs = {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}
    outputs = {"pooled_output": pooled, "sequence_output": x, "default": mean}
    return keras.Model(inputs, outputs, name=name)
