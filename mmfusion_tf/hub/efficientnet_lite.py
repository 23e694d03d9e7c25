"""EfficientNet-Lite (Tan & Le 2019; the TF TPU repo's `efficientnet/lite`) as a Keras 3 functional model.

Lite variants differ from EfficientNet-B*: ReLU6 instead of swish, no
squeeze-and-excitation, and stem and head not scaled. Layer names follow the
PyTorch checkpoints of `efficientnet-lite-pytorch` (`_blocks.3._expand_conv`
is the layer `blocks_3_expand_conv`), so `import_image` copies weights by name.

The model takes images with values in [0, 1] (TF-Hub's image convention), of
any size: it resizes them to the variant's resolution and applies the
checkpoint's normalisation ((255·x − 127) / 128 for the Lite checkpoints)
itself. BatchNormalization runs with its stored statistics by default (also when
fine-tuning, as Keras' transfer-learning guide recommends for small batches);
its scale and offset stay trainable.

Example:

>>> model = efficientnet_lite("efficientnet-lite0")
>>> outputs = model(np.zeros((1, 224, 224, 3), "float32"))
>>> outputs["feature_vector"].shape, outputs["classification"].shape
(TensorShape([1, 1280]), TensorShape([1, 1000]))
"""

import dataclasses
import math

import tensorflow as tf

from mmfusion_tf._keras import keras

# (expand_ratio, kernel, stride, input filters, output filters, repeats) of the 7 stages.
_STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
# name -> (width coefficient, depth coefficient, resolution, dropout)
VARIANTS = {
    "efficientnet-lite0": (1.0, 1.0, 224, 0.2),
    "efficientnet-lite1": (1.0, 1.1, 240, 0.2),
    "efficientnet-lite2": (1.1, 1.2, 260, 0.3),
    "efficientnet-lite3": (1.2, 1.4, 280, 0.3),
    "efficientnet-lite4": (1.4, 1.8, 300, 0.3),
}
BATCH_NORM_EPSILON = 1e-3
DROP_CONNECT_RATE = 0.2
# The Lite checkpoints' input normalisation (TF TPU repo, lite: MEAN_RGB = 127, STDDEV_RGB = 128).
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0


@dataclasses.dataclass(frozen=True)
class LiteConfig:
    """The architecture of one EfficientNet-Lite variant."""

    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    num_classes: int = 1000

    @classmethod
    def from_name(cls, name, num_classes=1000):
        if name not in VARIANTS:
            raise ValueError(f"Unknown EfficientNet-Lite variant. Received: name={name!r}. Known: {sorted(VARIANTS)}")
        return cls(name, *VARIANTS[name], num_classes=num_classes)

    def filters(self, count):
        """Channel count scaled by `width` and rounded to a multiple of 8 (never more than 10 % down)."""
        scaled = count * self.width
        rounded = max(8, int(scaled + 4) // 8 * 8)
        return int(rounded + 8 if rounded < 0.9 * scaled else rounded)

    def blocks(self):
        """Yields (block index, expand_ratio, kernel, stride, input filters, output filters)."""
        index = 0
        last = len(_STAGES) - 1
        for stage, (expand, kernel, stride, filters_in, filters_out, repeats) in enumerate(_STAGES):
            filters_in, filters_out = self.filters(filters_in), self.filters(filters_out)
            if stage == 0:
                filters_in = 32  # the stem is not scaled in Lite models
            if stage not in (0, last):  # nor are the first and last stages' depths
                repeats = int(math.ceil(self.depth * repeats))
            for repeat in range(repeats):
                yield (
                    index,
                    expand,
                    kernel,
                    stride if repeat == 0 else 1,
                    filters_in if repeat == 0 else filters_out,
                    filters_out,
                )
                index += 1


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class DropConnect(keras.layers.Layer):
    """Drops a residual branch for whole examples while training (stochastic depth).

    Args:
        rate: float in [0, 1), probability of dropping the branch of an example.
        seed: optional int.
        **kwargs: base layer arguments.

    Example:

    >>> DropConnect(0.2)(tf.ones((2, 4, 4, 8)), training=False).shape
    TensorShape([2, 4, 4, 8])
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (tf.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = tf.floor(keep + keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype))
        return inputs / keep * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class LitePreprocessing(keras.layers.Layer):
    """Images in [0, 1], any size -> the checkpoint's input: resized (bilinear) and normalised.

    Args:
        resolution: int, square side the network expects.
        mean: float, pixel mean on the 0-255 scale.
        std: float, pixel standard deviation on the 0-255 scale.
        **kwargs: base layer arguments.

    Example:

    >>> LitePreprocessing(224)(tf.zeros((1, 100, 80, 3))).shape
    TensorShape([1, 224, 224, 3])
    """

    def __init__(self, resolution, mean=PIXEL_MEAN, std=PIXEL_STD, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)
        self.mean = float(mean)
        self.std = float(std)

    def call(self, images):
        images = tf.cast(images, tf.float32)
        size = [self.resolution, self.resolution]
        static = tuple(images.shape[1:3])
        if None in static:  # size known only when called: resize unless it already fits
            same = tf.reduce_all(tf.equal(tf.shape(images)[1:3], size))
            images = tf.cond(same, lambda: images, lambda: tf.image.resize(images, size))
            images = tf.ensure_shape(images, [None, *size, None])
        elif static != tuple(size):
            images = tf.image.resize(images, size)
        return (images * 255.0 - self.mean) / self.std

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.resolution, self.resolution, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="mmfusion_tf")
class FrozenStatisticsBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization that always normalises with its stored statistics; scale and offset still train.

    A functional model passes its own `training` to every layer, so `layer(x, training=False)` at
    build time does not keep a BatchNormalization in inference mode; this layer does.

    Example:

    >>> layer = FrozenStatisticsBatchNormalization()
    >>> layer(tf.ones((4, 3)), training=True).shape
    TensorShape([4, 3])
    """

    def call(self, inputs, training=None, mask=None):
        return super().call(inputs, training=False, mask=mask)


def _batch_norm(x, name, frozen_statistics=True):
    if frozen_statistics:
        return FrozenStatisticsBatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=0.99, name=name)(x)
    # Trained from scratch on small data: statistics that follow within a few dozen steps.
    return keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=0.9, name=name)(x)


def _relu6(x, name):
    return keras.layers.ReLU(max_value=6.0, name=name)(x)


def _block(x, index, expand, kernel, stride, filters_in, filters_out, drop_rate, frozen_statistics):
    prefix = f"blocks_{index}_"
    inputs = x
    channels = filters_in * expand
    if expand != 1:
        x = keras.layers.Conv2D(channels, 1, padding="same", use_bias=False, name=prefix + "expand_conv")(x)
        x = _relu6(_batch_norm(x, prefix + "bn0", frozen_statistics), prefix + "expand_relu6")
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=prefix + "depthwise_conv")(x)
    x = _relu6(_batch_norm(x, prefix + "bn1", frozen_statistics), prefix + "depthwise_relu6")
    x = keras.layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=prefix + "project_conv")(x)
    x = _batch_norm(x, prefix + "bn2", frozen_statistics)
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = DropConnect(drop_rate, name=prefix + "drop_connect")(x)
        x = keras.layers.Add(name=prefix + "add")([x, inputs])
    return x


def efficientnet_lite(
    name="efficientnet-lite0",
    num_classes=1000,
    drop_connect_rate=DROP_CONNECT_RATE,
    resolution=None,
    frozen_statistics=True,
):
    """An EfficientNet-Lite variant as a functional model (random init; `import_image` fills in weights).

    Args:
        name: str, one of `VARIANTS` ("efficientnet-lite0" ... "efficientnet-lite4").
        num_classes: int, width of the classification layer.
        drop_connect_rate: float, stochastic depth of the last block (earlier
            blocks scale it down linearly), used only when training.
        resolution: optional int, the side images are resized to (default:
            the variant's, 224 for lite0); lower is faster, the weights are the same.
        frozen_statistics: bool, BatchNormalization always uses its stored
            statistics (right for fine-tuning pretrained weights on small
            batches); False lets it follow `training` (training from scratch; momentum
            0.9 so its statistics catch up within a few dozen steps).

    Returns:
        `keras.Model` from `[batch, h, w, 3]` float images in [0, 1] to a dict:
        `feature_vector` (`[batch, 1280]`, global average of the head's
        ReLU6 features) and `classification` (`[batch, num_classes]` logits).
    """
    config = LiteConfig.from_name(name, num_classes)
    resolution = config.resolution if resolution is None else resolution
    if not isinstance(resolution, int) or not 32 <= resolution <= 1024:
        raise ValueError(f"`resolution` must be an int in [32, 1024]. Received: resolution={resolution!r}")

    # === Functional Model ===
    images = keras.Input((None, None, 3), dtype="float32", name="images")
    x = LitePreprocessing(resolution, name="preprocessing")(images)
    x = keras.layers.Conv2D(32, 3, 2, padding="same", use_bias=False, name="conv_stem")(x)
    x = _relu6(_batch_norm(x, "bn0", frozen_statistics), "stem_relu6")
    blocks = list(config.blocks())
    for index, expand, kernel, stride, filters_in, filters_out in blocks:
        x = _block(
            x,
            index,
            expand,
            kernel,
            stride,
            filters_in,
            filters_out,
            drop_connect_rate * index / len(blocks),
            frozen_statistics,
        )
    x = keras.layers.Conv2D(1280, 1, padding="same", use_bias=False, name="conv_head")(x)
    x = _relu6(_batch_norm(x, "bn1", frozen_statistics), "head_relu6")
    features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = keras.layers.Dropout(config.dropout, name="dropout")(features)
    logits = keras.layers.Dense(config.num_classes, name="fc")(logits)
    outputs = {
        "feature_vector": keras.layers.Identity(name="feature_vector")(features),
        "classification": keras.layers.Identity(name="classification")(logits),
    }
    return keras.Model(images, outputs, name=name.replace("-", "_"))
