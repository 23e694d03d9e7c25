"""Local TF-Hub tooling: write Keras models and tokenizers as TF-Hub modules.

TF-Hub's reusable SavedModel format (TF2) is what `HubEncoder` loads. These
writers make such modules from local code so that air-gapped users (and this
project's tests and demo) can use pretrained backbones without a hub.
"""

from mmfusion_tf.hub.export_keras import export_keras_as_hub_module
from mmfusion_tf.hub.wordpiece_preprocessor import export_wordpiece_preprocessor

__all__ = ["export_keras_as_hub_module", "export_wordpiece_preprocessor"]
