"""`ImageEncoder`: decoded images -> feature vector through a TF-Hub backbone."""

import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones.hub_encoder import HubEncoder
from mmfusion_tf.presets import encoder_arguments, encoder_defaults

_DEFAULTS = encoder_defaults("image")


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class ImageEncoder(keras.layers.Layer):
    """Resizes, rescales and encodes images with a TF-Hub feature-vector module.

    Inputs are decoded images with pixel values in [0, 255] (uint8 or float),
    any size; resizing to `image_size` and rescaling to the backbone's
    `value_range` happen inside the model, so serving sees the same graph as
    training. Grey-scale inputs are repeated to 3 channels and an alpha
    channel is dropped when the backbone wants `channels=3`.

    Args:
        handle: str, TF-Hub handle or local module folder (feature-vector
            module: `[batch, h, w, channels]` float32 -> `[batch, dim]`).
        image_size: tuple `(height, width)` the backbone expects.
        value_range: tuple `(low, high)` of pixel values the backbone expects.
        channels: int, channels the backbone expects (1 or 3).
        trainable: bool, fine-tune the backbone.
        output_key: optional str, key of a dict output.
        **kwargs: base layer arguments.

    Call arguments:
        images: `[batch, height, width, c]` uint8 or float tensor in [0, 255].
        training: Python bool.

    Example:

    >>> encoder = ImageEncoder.from_preset("mobilenet_v3_small")   # needs network
    >>> encoder = ImageEncoder("/models/image_fv", image_size=(32, 32))
    >>> features = encoder(keras.Input((64, 64, 3), dtype="uint8"))
    """

    def __init__(
        self, handle, image_size=_DEFAULTS["image_size"], value_range=_DEFAULTS["value_range"], channels=3,
        trainable=False, output_key=None, **kwargs,
    ):
        # autocast=False: inputs stay float32 up to the float32 hub backbone.
        super().__init__(trainable=trainable, autocast=False, **kwargs)
        image_size = tuple(int(s) for s in image_size)
        if len(image_size) != 2 or min(image_size) <= 0:
            raise ValueError(f"`image_size` must be (height, width) > 0. Received: image_size={image_size}")
        value_range = tuple(float(v) for v in value_range)
        if len(value_range) != 2 or value_range[0] >= value_range[1]:
            raise ValueError(f"`value_range` must be (low, high) with low < high. Received: value_range={value_range}")
        if channels not in (1, 3):
            raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels}")
        self.handle = handle
        self.image_size = image_size
        self.value_range = value_range
        self.channels = channels
        self.output_key = output_key
        self.backbone = HubEncoder(handle, trainable=trainable, output_key=output_key, name="backbone")

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """Image encoder for a named preset (see `mmfusion_tf.presets`)."""
        return cls(**{**encoder_arguments(preset, "image"), **kwargs})

    def call(self, images, training=None):
        images = tf.cast(images, tf.float32)
        in_channels = images.shape[-1]
        if in_channels != self.channels:
            if in_channels == 1 and self.channels == 3:
                images = tf.repeat(images, 3, axis=-1)
            elif in_channels == 4 and self.channels == 3:
                images = images[..., :3]
            elif in_channels in (3, 4) and self.channels == 1:
                images = tf.image.rgb_to_grayscale(images[..., :3])
            else:
                raise ValueError(
                    f"ImageEncoder {self.name!r} cannot map {in_channels} input channels "
                    f"to the backbone's {self.channels}."
                )
        if tuple(images.shape[1:3]) != self.image_size:
            images = tf.image.resize(images, self.image_size)
        low, high = self.value_range
        images = images * ((high - low) / 255.0) + low
        return self.backbone(images, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "image_size": list(self.image_size),
                "value_range": list(self.value_range),
                "channels": self.channels,
                "output_key": self.output_key,
            }
        )
        return config
