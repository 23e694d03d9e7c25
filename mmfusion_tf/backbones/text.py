"""`TextEncoder`: raw strings -> feature vector through TF-Hub text modules."""

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.hub_encoder import HubEncoder
from mmfusion_tf.presets import encoder_arguments

POOLINGS = ("output_key", "mean")


def shorten_bert_inputs(tokens, max_length):
    """BERT inputs (`input_word_ids`, `input_mask`, `input_type_ids`) cut to `max_length` positions.

    A text longer than that keeps its closing `[SEP]` in the last position,
    as a preprocessor exported with `seq_length=max_length` would write it,
    so a module imported with 128 tokens serves at 32 without re-importing.

    Example:

    >>> shorten_bert_inputs(preprocessor(["a long sentence ..."]), 32)["input_word_ids"].shape
    TensorShape([1, 32])
    """
    length = tokens["input_word_ids"].shape[-1]
    if length is not None and max_length > length:
        raise ValueError(f"`max_length`={max_length} is longer than the preprocessor's sequence ({length} tokens): "
                         f"re-import the module with `mmfusion hub import-bert --seq-length {max_length}`.")
    ids, mask = tokens["input_word_ids"], tokens["input_mask"]
    used = tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)  # [CLS] + wordpieces + [SEP]
    sep = tf.gather(ids, tf.maximum(used - 1, 0), batch_dims=1)
    last = tf.logical_and(tf.range(max_length)[None, :] == max_length - 1, (used > max_length)[:, None])
    return {
        "input_word_ids": tf.where(last, tf.cast(sep[:, None], ids.dtype), ids[:, :max_length]),
        "input_mask": mask[:, :max_length],
        "input_type_ids": tokens["input_type_ids"][:, :max_length],
    }


def masked_mean(sequence, mask):
    """Mean of `sequence` `[batch, seq, dim]` over the positions where `mask` `[batch, seq]` is 1.

    Rows without any real token give 0. The divisor is at least 1, which
    leaves 0/1 masks exact and stays finite in float16.

    Example:

    >>> masked_mean(tf.ones((1, 3, 2)), tf.constant([[1, 1, 0]])).numpy()
    array([[1., 1.]], dtype=float32)
    """
    mask = tf.cast(mask, sequence.dtype)[..., None]
    return tf.reduce_sum(sequence * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class TextEncoder(keras.layers.Layer):
    """Encodes raw UTF-8 strings with a TF-Hub text module (tokenised in-model).

    Two TF-Hub styles are supported:

    - a preprocessor + encoder pair (BERT family): the preprocessor maps
      strings to `input_word_ids`/`input_mask`/`input_type_ids` (tensorflow-text
      WordPiece), the encoder returns `pooled_output` and `sequence_output`;
      the feature is `output_key` (default `pooled_output`) or, with
      `pooling="mean"`, the mask-weighted mean of `sequence_output`.
    - a single string-embedding module (Universal Sentence Encoder, NNLM):
      strings in, `[batch, dim]` out (`preprocessor=None`).

    Args:
        handle: str, TF-Hub handle/folder of the encoder.
        preprocessor: optional str, handle/folder of the matching preprocessor.
        output_key: optional str, encoder output to use (`pooled_output`).
        pooling: "output_key" (use `output_key`) or "mean" (masked mean of
            `sequence_output`; needs a preprocessor).
        trainable: bool, fine-tune the encoder (the preprocessor has no weights).
        max_length: optional int, tokens the encoder sees (with `[CLS]` and
            `[SEP]`): the preprocessor's output shortened by
            `shorten_bert_inputs`; encoder time grows with it (docs/guide/backbones.md).
        **kwargs: base layer arguments.

    Call arguments:
        text: `[batch]` (or `[batch, 1]`) tf.string tensor.
        training: Python bool.

    Example:

    >>> encoder = TextEncoder.from_preset("small_bert_l2_h128")   # needs network
    >>> features = encoder(keras.Input((), dtype="string"))
    """

    def __init__(self, handle, preprocessor=None, output_key=None, pooling="output_key", trainable=False,
                 max_length=None, **kwargs):
        super().__init__(trainable=trainable, **kwargs)
        if max_length is not None and (preprocessor is None or not isinstance(max_length, int) or max_length < 3):
            raise ValueError("`max_length` must be an int >= 3 and needs a `preprocessor`. "
                             f"Received: max_length={max_length!r}, preprocessor={preprocessor!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
        if pooling == "mean" and preprocessor is None:
            raise ValueError("`pooling`='mean' needs a BERT-style `preprocessor` (it uses input_mask).")
        if preprocessor is not None and output_key is None and pooling == "output_key":
            output_key = "pooled_output"
        self.handle = handle
        self.preprocessor = preprocessor
        self.output_key = output_key
        self.pooling = pooling
        self.max_length = max_length
        self.tokenizer = (
            HubEncoder(preprocessor, trainable=False, name="preprocessor") if preprocessor else None
        )
        backbone_key = "sequence_output" if pooling == "mean" else output_key
        self.backbone = HubEncoder(handle, trainable=trainable, output_key=backbone_key, name="backbone")

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Text encoder for a named preset (see `mmfusion_tf.presets`)."""
        return cls(**{**encoder_arguments(preset, "text"), **kwargs})

    def call(self, text, training=None):
        if text.shape.rank == 2:
            text = tf.squeeze(text, axis=-1)
        if self.tokenizer is None:
            return self.backbone(text, training=training)
        tokens = self.tokenizer(text)
        if self.max_length is not None:
            tokens = shorten_bert_inputs(tokens, self.max_length)
        outputs = self.backbone(tokens, training=training)  # pooled, or sequence for mean pooling
        if self.pooling != "mean":
            return outputs
        return masked_mean(outputs, tokens["input_mask"])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "preprocessor": self.preprocessor,
                "output_key": self.output_key,
                "pooling": self.pooling,
                "max_length": self.max_length,
            }
        )
        return config
