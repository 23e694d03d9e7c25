"""Modality encoders over TF-Hub backbones."""

from mmfusion_tf.backbones.audio import AudioEncoder
from mmfusion_tf.backbones.hub_encoder import HubEncoder
from mmfusion_tf.hub_handles import resolve_handle
from mmfusion_tf.backbones.image import ImageEncoder
from mmfusion_tf.backbones.tabular import TabularEncoder
from mmfusion_tf.backbones.text import TextEncoder

__all__ = ["AudioEncoder", "HubEncoder", "ImageEncoder", "TabularEncoder", "TextEncoder", "resolve_handle"]
