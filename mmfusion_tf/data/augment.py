"""Training-time image augmentation (never applied at evaluation)."""

import tensorflow as tf


def augment_image(image, seed, crop_fraction=0.9, max_brightness=0.1):
    """Random crop (then resize back), left-right flip and brightness on a uint8 image.

    Stateless: the same `seed` gives the same augmentation. `make_dataset`
    draws a new seed per image from a `tf.random.Generator`, whose state
    lives on across passes, so every epoch augments differently (the
    pattern of TensorFlow's data augmentation guide).

    Args:
        image: uint8 `[height, width, channels]`.
        seed: int tensor of shape `[2]` (e.g. `generator.make_seeds(1)[:, 0]`).
        crop_fraction: side fraction kept by the random crop.
        max_brightness: largest brightness shift, as a fraction of 255.

    Returns:
        uint8 image of the same shape.

    Example:

    >>> augment_image(tf.zeros([32, 32, 3], tf.uint8), seed=[1, 2]).shape
    TensorShape([32, 32, 3])
    """
    shape = image.shape
    height, width, channels = shape
    crop = [max(1, int(round(height * crop_fraction))), max(1, int(round(width * crop_fraction))), channels]
    crop_seed, flip_seed, brightness_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    x = tf.image.stateless_random_crop(image, crop, seed=crop_seed)
    x = tf.image.resize(tf.cast(x, tf.float32), [height, width])
    x = tf.image.stateless_random_flip_left_right(x, seed=flip_seed)
    x = x + tf.random.stateless_uniform([], brightness_seed, -max_brightness, max_brightness) * 255.0
    return tf.ensure_shape(tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8), shape)
