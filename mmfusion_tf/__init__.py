"""mmfusion_tf: multimodal fusion with transfer learning in TensorFlow/Keras.

Example:

>>> import mmfusion_tf as mmf
>>> config = mmf.ModelConfig(
...     modalities=[mmf.ImageModality(preset="mobilenet_v3_small"),
...                 mmf.TextModality(preset="small_bert_l2_h128")],
...     fusion=mmf.FusionConfig(method="weighted_sum"),
...     head=mmf.HeadConfig(task="multiclass", num_classes=5))
>>> model = mmf.build_model(config)
"""

__version__ = "0.1.0"

import os  # noqa: E402
import sys  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: hide CUDA probing noise

from mmfusion_tf._lazy import lazy_names  # noqa: E402

_NAMES = {
    "AudioEncoder": "backbones", "HubEncoder": "backbones", "ImageEncoder": "backbones",
    "TabularEncoder": "backbones", "TextEncoder": "backbones",
    "AudioModality": "config", "FusionConfig": "config", "HeadConfig": "config", "ImageModality": "config",
    "ModelConfig": "config", "TabularModality": "config", "TextModality": "config",
    "build_model": "models", "default_loss": "models", "default_metrics": "models",
    **{name: None for name in ("data", "datasets", "fusion", "evaluation", "export", "hub", "serving",
                               "training", "tuning")},  # subpackages
}
# Loaded only on first use, also by `import_all` (they bring gRPC, KerasTuner, matplotlib).
_ON_FIRST_USE = ("evaluation", "export", "hub", "serving", "training", "tuning")

# Every module that defines a Keras-serializable class: `keras.models.load_model` needs them
# registered (tests/test_console.py fails when a new one is missing here). The fusion layers'
# modules come from their registry, `fusion.available()`.
_KERAS_MODULES = (
    "backbones.audio", "backbones.hub_encoder", "backbones.image", "backbones.local_backbones",
    "backbones.tabular", "backbones.text", "fusion.modality_dropout", "hub.bert_encoder",
    "hub.efficientnet_lite", "models.builder", "models.decision_blend", "models.fusion_model",
    "models.heads", "models.modality_heads", "models.contrastive", "models.losses",
    "tuning.metrics",
)

__getattr__, __dir__ = lazy_names(__name__, _NAMES)


def import_all():
    """Imports the models, encoders and fusion layers, registering each with Keras.

    `import mmfusion_tf` does this, so `keras.models.load_model("model.keras")`
    finds the package's layers; only the `mmfusion` command defers it until
    a verb needs it, so that `mmfusion --help` starts without TensorFlow.
    """
    import importlib

    for name in _NAMES:
        if name not in _ON_FIRST_USE:
            globals()[name] = __getattr__(name)
    for module in _KERAS_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    fusion = importlib.import_module(f"{__name__}.fusion")
    for method in fusion.available():
        fusion.get(method)


def _started_as_cli():
    return os.path.basename(sys.argv[0] if sys.argv else "") in ("mmfusion", "mmfusion.exe", "mmfusion-script.py")


if not _started_as_cli():
    import_all()

__all__ = [
    "AudioEncoder", "AudioModality", "FusionConfig", "HeadConfig", "HubEncoder", "ImageEncoder",
    "ImageModality", "ModelConfig", "TabularEncoder", "TabularModality", "TextEncoder", "TextModality",
    "build_model", "data", "datasets", "default_loss", "default_metrics", "fusion", "import_all",
]
