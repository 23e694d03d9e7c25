"""Datasets: the embedded demo (procedural, no download) and its stand-in backbones."""

from mmfusion_tf.datasets import demo

__all__ = ["demo"]
