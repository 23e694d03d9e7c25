"""Local TF-Hub tooling: write Keras models, tokenizers and BERT checkpoints as TF-Hub modules.

TF-Hub's reusable SavedModel format (TF2) is what `HubEncoder` loads. These
writers make such modules from local code so that air-gapped users (and this
project's tests and demo) can use pretrained backbones without a hub:
`export_keras_as_hub_module`, `export_wordpiece_preprocessor`,
`import_bert` (safetensors checkpoint -> preprocessor + encoder pair) and
`import_image` (EfficientNet-Lite `.pth` checkpoint -> image module).
`mmfusion_tf.hub_mirror` finds modules for real handles in local hub
folders; `mmfusion_tf.hub.command` is the `mmfusion hub` command line.
"""

from mmfusion_tf._lazy import lazy_names

_NAMES = {
    "export_keras_as_hub_module": "export_keras",
    "import_bert": "bert_checkpoint",
    "import_image": "image_checkpoint",
    "export_wordpiece_preprocessor": "wordpiece_preprocessor",
}

__getattr__, __dir__ = lazy_names(__name__, _NAMES)

__all__ = ["export_keras_as_hub_module", "export_wordpiece_preprocessor", "import_bert", "import_image"]
