import json
import os
import shutil

import numpy as np
import pytest

from mmfusion_tf.backbones import HubEncoder, TextEncoder
from mmfusion_tf import hub_mirror as mirror
from mmfusion_tf.hub_handles import resolve_handle
from mmfusion_tf.presets import encoder_arguments

URL = "https://tfhub.dev/google/tiny-dense/1"
X = np.ones((2, 3), "float32")


def test_hub_dirs_order_and_default(hub_folders, monkeypatch, tmp_path):
    assert mirror.hub_dirs() == [hub_folders["mirror"], hub_folders["cache"]]
    assert mirror.default_hub_dir() == hub_folders["mirror"]
    monkeypatch.setenv("MMFUSION_HUB_DIR", os.pathsep.join([str(tmp_path / "a"), hub_folders["cache"]]))
    assert mirror.hub_dirs() == [str(tmp_path / "a"), hub_folders["cache"]]  # no duplicates
    monkeypatch.delenv("MMFUSION_HUB_DIR")
    monkeypatch.delenv("TFHUB_CACHE_DIR")
    assert mirror.hub_dirs()[0].endswith("tfhub_modules")  # tensorflow_hub's default


def test_find_mirror_in_each_layout(hub_folders, tiny_module):
    root = hub_folders["mirror"]
    shutil.copytree(tiny_module, os.path.join(root, "copies", "mapped"))
    with open(os.path.join(root, "mirrors.json"), "w", encoding="utf-8") as f:
        json.dump({"https://www.kaggle.com/models/google/mapped/1": "copies/mapped"}, f)
    shutil.copytree(tiny_module, os.path.join(root, "tfhub.dev", "google", "readable", "2"))
    shutil.copytree(tiny_module, os.path.join(root, "my-bert", "encoder"))
    cached = mirror.add_to_cache(URL, tiny_module, hub_dir=root)

    assert mirror.find_mirror("https://www.kaggle.com/models/google/mapped/1") == os.path.join(root, "copies", "mapped")
    assert mirror.find_mirror("https://tfhub.dev/google/readable/2/") == os.path.join(
        root, "tfhub.dev", "google", "readable", "2"
    )
    assert mirror.find_mirror("https://tfhub.dev/google/readable/2?tf-hub-format=compressed").endswith("readable/2")
    assert mirror.find_mirror("local-hub://my-bert/encoder") == os.path.join(root, "my-bert", "encoder")
    assert mirror.find_mirror(URL) == cached == os.path.join(root, mirror.cache_name(URL))
    assert mirror.find_mirror("https://tfhub.dev/google/absent/1") is None
    assert mirror.find_mirror("local-hub://my-bert") is None  # a folder without saved_model.pb is no module


def test_configured_folder_wins_over_the_tfhub_cache(hub_folders, tiny_module):
    in_cache = mirror.add_to_cache(URL, tiny_module)  # the TF-Hub cache by default
    assert mirror.find_mirror(URL) == in_cache == os.path.join(hub_folders["cache"], mirror.cache_name(URL))
    in_mirror = mirror.add_to_cache(URL, tiny_module, hub_dir=hub_folders["mirror"])
    assert mirror.find_mirror(URL) == in_mirror != in_cache


def test_cached_module_loads_offline_under_its_real_url(hub_folders, tiny_module):
    """TF-Hub's own cache layout: tensorflow_hub and HubEncoder find it with no network."""
    import tensorflow_hub as hub

    path = mirror.add_to_cache(URL, tiny_module)
    assert open(path + ".descriptor.txt", encoding="utf-8").readline().strip() == f"Module: {URL}"
    assert hub.resolve(URL) == path
    np.testing.assert_allclose(HubEncoder(URL)(X).numpy(), HubEncoder(tiny_module)(X).numpy())
    assert resolve_handle(URL) == path


def test_list_and_remove(hub_folders, tiny_module):
    mirror.add_to_cache(URL, tiny_module)
    shutil.copytree(tiny_module, os.path.join(hub_folders["cache"], "tfhub.dev", "google", "other", "3"))
    os.makedirs(os.path.join(hub_folders["cache"], "not-a-module"))
    with open(os.path.join(hub_folders["cache"], "mirrors.json"), "w", encoding="utf-8") as f:
        json.dump({"https://example.com/gone": "/nowhere"}, f)
    modules = mirror.list_modules()
    assert [(m["handle"], m["layout"], m["exists"]) for m in modules] == [
        ("https://example.com/gone", "mirrors.json", False),
        (URL, "tfhub-cache", True),
        ("https://tfhub.dev/google/other/3", "folder", True),
    ]
    assert modules[1]["size_bytes"] == mirror.folder_size(tiny_module) > 0
    assert mirror.remove_from_cache(URL) == modules[1]["path"]
    assert not os.path.exists(modules[1]["path"] + ".descriptor.txt")
    assert mirror.remove_from_cache(URL) is None


def test_errors(hub_folders, tiny_module, tmp_path):
    with pytest.raises(FileNotFoundError, match="import-bert"):
        resolve_handle("local-hub://absent/encoder")
    assert resolve_handle(tiny_module) == tiny_module
    with pytest.raises(ValueError, match="saved_model.pb"):
        mirror.add_to_cache(URL, str(tmp_path))
    mirror.add_to_cache(URL, tiny_module)
    with pytest.raises(FileExistsError):
        mirror.add_to_cache(URL, tiny_module)
    assert mirror.readable_path("https://tfhub.dev/../etc") is None
    with open(os.path.join(hub_folders["mirror"], "mirrors.json"), "w", encoding="utf-8") as f:
        f.write("[not json")
    with pytest.raises(ValueError, match="mirrors.json"):
        mirror.find_mirror(URL)


def test_offline_minilm_preset_resolves_to_the_imported_pair(hub_folders, imported_bert):
    """`all_minilm_l6_v2` names local-hub:// handles; `hub import-bert all-minilm-l6-v2` writes them."""
    folder = os.path.join(hub_folders["mirror"], "all-minilm-l6-v2")
    shutil.copytree(imported_bert["root"], folder)
    arguments = encoder_arguments("all_minilm_l6_v2", "text")
    assert arguments["output_key"] == "default"
    resolved = {k: resolve_handle(arguments[k]) for k in ("handle", "preprocessor")}
    assert resolved == {"handle": os.path.join(folder, "encoder"), "preprocessor": os.path.join(folder, "preprocessor")}
    encoder = TextEncoder(**{**arguments, **resolved})
    assert encoder(np.array(["the red car", "a dog"], dtype=object)).shape == (2, 16)


def test_resolve_handle_finds_a_local_mirror_before_the_network(tmp_path, monkeypatch, hub_dir):
    from mmfusion_tf.hub_handles import resolve_handle

    mirror = tmp_path / "tfhub.dev" / "google" / "x" / "1"
    shutil.copytree(hub_dir["image"], mirror)
    monkeypatch.setenv("MMFUSION_HUB_DIR", str(tmp_path))
    assert os.path.samefile(resolve_handle("https://tfhub.dev/google/x/1"), mirror)
