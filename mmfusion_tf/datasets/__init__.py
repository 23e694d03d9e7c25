"""Datasets: the embedded demo (procedural, no download) and real-data loaders.

Example:

>>> from mmfusion_tf.datasets import av_digits
>>> data = av_digits("../shared/data", difficulty=0.6)
>>> products = flipkart_products("../shared/data/flipkart_products")
"""

from mmfusion_tf.datasets import demo
from mmfusion_tf.datasets.av_digits import av_digits, write_av_digits_files
from mmfusion_tf.datasets.flipkart import flipkart_products, split_products

__all__ = ["av_digits", "demo", "flipkart_products", "split_products", "write_av_digits_files"]
