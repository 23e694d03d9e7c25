"""Training-time image augmentation (never applied at evaluation)."""

import tensorflow as tf


def augment_image(image, seed=0, crop_fraction=0.9, max_brightness=0.1):
    """Random crop (then resize back), left-right flip and brightness on a uint8 image.

    Args:
        image: uint8 `[height, width, channels]`.
        seed: int op seed (with the global seed, makes runs repeatable).
        crop_fraction: side fraction kept by the random crop.
        max_brightness: largest brightness shift, as a fraction of 255.

    Returns:
        uint8 image of the same shape.

    Example:

    >>> augment_image(tf.zeros([32, 32, 3], tf.uint8)).shape
    TensorShape([32, 32, 3])
    """
    shape = image.shape
    height, width, channels = shape
    crop = [max(1, int(round(height * crop_fraction))), max(1, int(round(width * crop_fraction))), channels]
    x = tf.image.random_crop(image, crop, seed=seed)
    x = tf.image.resize(tf.cast(x, tf.float32), [height, width])
    x = tf.image.random_flip_left_right(x, seed=seed + 1)
    x = x + tf.random.uniform([], -max_brightness, max_brightness, seed=seed + 2) * 255.0
    return tf.ensure_shape(tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8), shape)
