"""Stage `augment_images`: a new random crop, flip and brightness for every image of an example, every pass.

The seeds come from a `tf.random.Generator` whose state lives on across
passes and iterators, so each epoch augments differently, and each image
input of an example gets its own seed (`augment.augment_image`).

Example:

>>> augment = augment_images(["image"], seed=0)
>>> augment({"image": tf.zeros([28, 28, 1], tf.uint8), "text": tf.constant("a")})["image"].shape
TensorShape([28, 28, 1])
"""

import tensorflow as tf

from mmfusion_tf.data.augment import augment_image


def augment_images(image_names, seed):
    """One example -> the same example with its images `image_names` augmented."""
    generator = tf.random.Generator.from_seed(seed)

    def augment(example):
        example = dict(example)
        seeds = generator.make_seeds(len(image_names))  # one seed per image input
        for k, name in enumerate(image_names):
            example[name] = augment_image(example[name], seed=seeds[:, k])
        return example

    return augment
