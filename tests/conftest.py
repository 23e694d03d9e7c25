"""Shared fixtures: tiny TF-Hub-format modules written once per test session."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tests import hub_modules  # noqa: E402


@pytest.fixture(scope="session")
def hub_dir(tmp_path_factory):
    """Folder holding every tiny module, keyed by kind."""
    root = tmp_path_factory.mktemp("hub")
    preprocessor, encoder = hub_modules.write_bert_modules(str(root / "bert"))
    return {
        "image": hub_modules.write_image_module(str(root / "image")),
        "bert_preprocessor": preprocessor,
        "bert_encoder": encoder,
        "string_embedding": hub_modules.write_string_embedding_module(str(root / "nnlm")),
        "audio": hub_modules.write_audio_module(str(root / "audio")),
        "audio_per_waveform": hub_modules.write_per_waveform_audio_module(str(root / "yamnet_like")),
        "signature_only": hub_modules.write_signature_only_module(str(root / "tf1_style")),
    }


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory):
    """One folder for the demo's stand-in backbones, shared by the demo, README and notebook tests
    (they are pretrained once per session instead of once per test module)."""
    return str(tmp_path_factory.mktemp("demo_hub_cache"))


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts and ends under the float32 policy."""
    from mmfusion_tf._keras import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")
