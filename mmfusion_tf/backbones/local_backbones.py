"""Small Keras backbones to write as local TF-Hub modules.

These are *stand-ins* for real TF-Hub backbones, for air-gapped machines,
the embedded demo and the tests: pretrain one on a source task, write it
with `mmfusion_tf.hub.export_keras_as_hub_module`, and load it through
`HubEncoder` exactly as a tfhub.dev module would be loaded. Each follows
the input/output convention of the TF-Hub family it stands in for.

Example:

>>> backbone = small_image_backbone(image_size=32, output_dim=64)
>>> export_keras_as_hub_module(backbone, "/tmp/image_fv", overwrite=True)
"""

import tensorflow as tf

from mmfusion_tf._keras import keras


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class PerImageStandardization(keras.layers.Layer):
    """Zero mean, unit variance per image (`tf.image.per_image_standardization`)."""

    def call(self, images):
        return tf.image.per_image_standardization(images)


def small_image_backbone(image_size=32, output_dim=64, width=16, name="small_image_backbone"):
    """Feature-vector CNN: `[batch, s, s, 3]` float in [0, 1] -> `[batch, output_dim]`."""
    images = keras.Input((image_size, image_size, 3), name="images")
    x = PerImageStandardization(name="standardize")(images)
    for i, filters in enumerate((width, width * 2, width * 4, width * 4)):
        x = keras.layers.Conv2D(filters, 3, strides=2 if i else 1, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    features = keras.layers.Dense(output_dim, activation="relu", name="feature_vector")(x)
    return keras.Model(images, features, name=name)


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embedding added to `[batch, seq, dim]` inputs."""

    def __init__(self, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.sequence_length, input_shape[-1]), initializer="glorot_uniform", name="positions"
        )

    def call(self, inputs):
        return inputs + tf.cast(self.positions[None, : tf.shape(inputs)[1]], inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length}


def small_bert_encoder(vocab_size, seq_length=32, hidden_dim=64, num_layers=1, num_heads=2, name="small_bert_encoder"):
    """BERT-style encoder with TF-Hub's dict interface.

    Inputs `input_word_ids`, `input_mask`, `input_type_ids` (int32 `[batch,
    seq_length]`); outputs `pooled_output` `[batch, hidden_dim]`,
    `sequence_output` `[batch, seq, hidden_dim]` and `default` (= pooled).
    """
    word_ids = keras.Input((seq_length,), dtype="int32", name="input_word_ids")
    mask = keras.Input((seq_length,), dtype="int32", name="input_mask")
    type_ids = keras.Input((seq_length,), dtype="int32", name="input_type_ids")
    x = keras.layers.Embedding(vocab_size, hidden_dim, name="word_embeddings")(word_ids)
    x = x + keras.layers.Embedding(2, hidden_dim, name="type_embeddings")(type_ids)
    x = PositionEmbedding(seq_length, name="position_embeddings")(x)
    x = keras.layers.LayerNormalization(name="embeddings_norm")(x)
    attention_mask = keras.ops.cast(mask[:, None, :], "bool")
    for i in range(num_layers):
        attended = keras.layers.MultiHeadAttention(
            num_heads, hidden_dim // num_heads, name=f"layer_{i}_attention"
        )(x, x, attention_mask=attention_mask)
        x = keras.layers.LayerNormalization(name=f"layer_{i}_attention_norm")(x + attended)
        hidden = keras.layers.Dense(hidden_dim * 2, activation="gelu", name=f"layer_{i}_intermediate")(x)
        hidden = keras.layers.Dense(hidden_dim, name=f"layer_{i}_output")(hidden)
        x = keras.layers.LayerNormalization(name=f"layer_{i}_output_norm")(x + hidden)
    pooled = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler")(x[:, 0])
    inputs = {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}
    outputs = {"pooled_output": pooled, "sequence_output": x, "default": pooled}
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class LogMelFrames(keras.layers.Layer):
    """Waveform `[batch, samples]` -> log-mel frames `[batch, frames, num_mel_bins]`.

    25 ms windows every 10 ms, as YAMNet/VGGish frame their input.
    """

    def __init__(self, sample_rate=16000, num_mel_bins=32, **kwargs):
        super().__init__(**kwargs)
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins

    def call(self, waveforms):
        frame_length = int(0.025 * self.sample_rate)
        frame_step = int(0.010 * self.sample_rate)
        fft_length = 1 << (frame_length - 1).bit_length()
        spectrum = tf.abs(tf.signal.stft(tf.cast(waveforms, tf.float32), frame_length, frame_step, fft_length))
        mel = tf.signal.linear_to_mel_weight_matrix(
            self.num_mel_bins, fft_length // 2 + 1, self.sample_rate, 60.0, self.sample_rate / 2.0
        )
        return tf.math.log(tf.tensordot(spectrum, mel, 1) + 1e-3)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "num_mel_bins": self.num_mel_bins}


def small_audio_backbone(sample_rate=16000, output_dim=64, num_mel_bins=32, name="small_audio_backbone"):
    """Frame-embedding model (YAMNet-like, batched): `[batch, samples]` -> `[batch, frames, output_dim]`."""
    waveforms = keras.Input((None,), name="waveforms")  # any length
    x = LogMelFrames(sample_rate, num_mel_bins, name="log_mel")(waveforms)
    x = keras.layers.BatchNormalization(name="mel_norm")(x)
    x = keras.layers.Conv1D(output_dim, 5, padding="same", activation="relu", name="conv_1")(x)
    x = keras.layers.Conv1D(output_dim, 5, padding="same", activation="relu", name="conv_2")(x)
    frames = keras.layers.Dense(output_dim, activation="relu", name="frame_embeddings")(x)
    return keras.Model(waveforms, frames, name=name)
