"""`AudioEncoder`: waveforms -> feature vector through a TF-Hub audio module."""

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf._validation import check_int
from mmfusion_tf.backbones.hub_encoder import HubEncoder
from mmfusion_tf.presets import encoder_arguments, encoder_defaults

_DEFAULTS = encoder_defaults("audio")
POOLINGS = ("mean", "max", "attention")


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class AudioEncoder(keras.layers.Layer):
    """Encodes float32 waveforms with a frame-embedding TF-Hub module, then pools.

    Frame-embedding modules (YAMNet, VGGish, TRILL style) map a waveform at
    the backbone's `sample_rate` to per-frame embeddings `[frames, dim]`;
    the encoder pools them over time (`mean`, `max` or learned `attention`
    pooling). Modules that take one waveform at a time (`batched=False`,
    e.g. YAMNet) are mapped over the batch. Modules that already return
    `[batch, dim]` are passed through.

    Args:
        handle: str, TF-Hub handle or local module folder.
        sample_rate: int, rate (Hz) the backbone expects; the data pipeline
            resamples to it.
        pooling: one of "mean", "max", "attention".
        batched: bool, whether the module takes `[batch, samples]` (True) or a
            single `[samples]` waveform (False).
        output_key: optional str/int, dict key or tuple index of the frame
            embeddings (YAMNet: 1).
        trainable: bool, fine-tune the backbone.
        **kwargs: base layer arguments.

    Call arguments:
        waveforms: `[batch, samples]` float tensor in [-1, 1].
        training: Python bool.

    Example:

    >>> encoder = AudioEncoder.from_preset("yamnet")   # needs network
    >>> features = encoder(keras.Input((16000,)))
    """

    def __init__(
        self, handle, sample_rate=_DEFAULTS["sample_rate"], pooling="mean", batched=_DEFAULTS["batched"],
        output_key=None, trainable=False, **kwargs,
    ):
        # autocast=False: inputs stay float32 up to the float32 hub backbone.
        super().__init__(trainable=trainable, autocast=False, **kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"`pooling` must be one of {POOLINGS}. Received: pooling={pooling!r}")
        self.handle = handle
        self.sample_rate = check_int("sample_rate", sample_rate, minimum=1)
        self.pooling = pooling
        self.batched = bool(batched)
        self.output_key = output_key
        self.backbone = HubEncoder(handle, trainable=trainable, output_key=output_key, name="backbone")
        self.attention_score = keras.layers.Dense(1, name="attention_score") if pooling == "attention" else None

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Audio encoder for a named preset (see `mmfusion_tf.presets`)."""
        return cls(**{**encoder_arguments(preset, "audio"), **kwargs})

    def build(self, input_shape):
        self._frame_dim = None
        if not self.batched:
            # Per-waveform modules hide their width inside tf.map_fn: probe it once.
            probe = self.backbone(tf.zeros([self.sample_rate], tf.float32))
            self._frame_dim = int(probe.shape[-1])

    def _frames(self, waveforms, training):
        if self.batched:
            return self.backbone(waveforms, training=training)
        frames = tf.map_fn(
            lambda wave: self.backbone(wave, training=training),
            waveforms,
            fn_output_signature=tf.TensorSpec(None, self.compute_dtype),
        )
        frames.set_shape([None, None, self._frame_dim])
        return frames

    def call(self, waveforms, training=None):
        waveforms = tf.cast(waveforms, tf.float32)
        if waveforms.shape.rank == 3:  # [batch, samples, 1]
            waveforms = tf.squeeze(waveforms, axis=-1)
        frames = self._frames(waveforms, training)
        if frames.shape.rank == 2:  # module already pooled: [batch, dim]
            return frames
        if self.pooling == "mean":
            return tf.reduce_mean(frames, axis=1)
        if self.pooling == "max":
            return tf.reduce_max(frames, axis=1)
        scores = tf.nn.softmax(self.attention_score(frames), axis=1)
        return tf.reduce_sum(scores * frames, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "sample_rate": self.sample_rate,
                "pooling": self.pooling,
                "batched": self.batched,
                "output_key": self.output_key,
            }
        )
        return config
