import os

import numpy as np
import pytest

from mmfusion_tf.hub.torch_checkpoint import UnsafeCheckpointError, load_torch_state_dict
from tests.hub.torch_files import write_hostile, write_state_dict

ARRAYS = {
    "conv.weight": np.arange(2 * 3 * 3 * 3, dtype="float32").reshape(2, 3, 3, 3) / 7.0,
    "bn.running_var": np.array([0.5, 2.0], "float32"),
    "bn.num_batches_tracked": np.array(12, "int64"),
    "half": np.array([[1.5, -2.0]], "float16"),
}


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_round_trip_of_both_layouts(tmp_path, layout):
    path = write_state_dict(str(tmp_path / "weights.pth"), ARRAYS, layout=layout)
    loaded = load_torch_state_dict(path)
    assert list(loaded) == list(ARRAYS)
    for name, array in ARRAYS.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def test_views_sharing_a_storage_keep_offset_and_stride(tmp_path):
    base = np.arange(12, dtype="float32").reshape(3, 4)
    views = {
        "whole": ("base", 0, (3, 4), (4, 1)),
        "transposed": ("base", 0, (4, 3), (1, 4)),
        "row_1": ("base", 4, (4,), (1,)),
    }
    path = write_state_dict(str(tmp_path / "views.pth"), {"base": base}, tensors=views)
    loaded = load_torch_state_dict(path)
    np.testing.assert_array_equal(loaded["whole"], base)
    np.testing.assert_array_equal(loaded["transposed"], base.T)
    np.testing.assert_array_equal(loaded["row_1"], base[1])
    assert loaded["transposed"].flags["C_CONTIGUOUS"]


@pytest.mark.parametrize("layout", ["legacy", "zip"])
def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, layout):
    target = tmp_path / "created_by_the_pickle"
    path = write_hostile(str(tmp_path / "hostile.pth"), str(target), layout=layout)
    with pytest.raises(UnsafeCheckpointError, match=r"asks for `os\.makedirs`.*refusing"):
        load_torch_state_dict(path)
    assert not target.exists()


def test_hostile_checkpoint_is_refused_by_the_import_command(tmp_path, capsys):
    from mmfusion_tf.cli import main

    target = tmp_path / "created_by_the_pickle"
    path = write_hostile(str(tmp_path / "efficientnet-lite0-evil.pth"), str(target))
    code = main(["hub", "import-image", path, "--output", str(tmp_path / "out")])
    assert code == 2
    assert "os.makedirs" in capsys.readouterr().err
    assert not target.exists() and not (tmp_path / "out").exists()


def test_truncated_file_names_the_missing_storage(tmp_path):
    path = write_state_dict(str(tmp_path / "weights.pth"), ARRAYS)
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:-10])
    with pytest.raises(ValueError, match=r"weights\.pth: truncated file \(storage '3'"):
        load_torch_state_dict(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"just some text, not a pickle")
    with pytest.raises(ValueError, match="notes.pth: not a readable PyTorch checkpoint"):
        load_torch_state_dict(str(path))
    with pytest.raises(FileNotFoundError, match="Checkpoint file not found: .*missing.pth"):
        load_torch_state_dict(str(tmp_path / "missing.pth"))


def test_a_pickle_that_is_not_a_state_dict(tmp_path):
    import pickle

    path = tmp_path / "list.pth"
    with open(path, "wb") as f:
        for item in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, [1, 2, 3], []):
            pickle.dump(item, f, protocol=2)
    with pytest.raises(ValueError, match="expected a state dict .* holds a list"):
        load_torch_state_dict(str(path))
    assert os.path.exists(path)


def test_view_past_its_storage_is_refused(tmp_path):
    """A corrupt or hostile size/stride must not make the reader read memory past the storage."""
    base = np.arange(6, dtype="float32")
    path = write_state_dict(str(tmp_path / "views.pth"), {"base": base}, tensors={"big": ("base", 2, (4, 4), (4, 1))})
    with pytest.raises(ValueError, match=r"views\.pth: tensor 'big' reaches element 17 of a storage of 6 elements"):
        load_torch_state_dict(path)
