"""`atomic_directory`: the old folder stays whole until the new one is in place."""

import os

import pytest

from mmfusion_tf import _atomic
from mmfusion_tf._atomic import atomic_directory


def _write(folder, name, text):
    with open(os.path.join(folder, name), "w") as f:
        f.write(text)


def _read(folder, name):
    with open(os.path.join(folder, name)) as f:
        return f.read()


def test_creates_the_folder_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "sub" / "module"
    with atomic_directory(str(target)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path / "sub")
        _write(tmp, "a.txt", "new")
    assert _read(target, "a.txt") == "new"
    assert os.listdir(tmp_path / "sub") == ["module"]


def test_existing_folder_needs_overwrite(tmp_path):
    target = tmp_path / "module"
    target.mkdir()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_directory(str(target)):
            pass
    assert os.listdir(tmp_path) == ["module"]


def test_overwrite_moves_the_old_folder_aside_before_deleting_it(tmp_path, monkeypatch):
    target = tmp_path / "module"
    target.mkdir()
    _write(target, "a.txt", "old")
    _write(target, "b.txt", "old")
    seen = []
    real_remove = _atomic._remove

    def remove(old):
        # When the old folder is deleted, the new one is already in place and
        # the old one is still whole (never a half-deleted `path`).
        seen.append((_read(target, "a.txt"), sorted(os.listdir(old))))
        real_remove(old)

    monkeypatch.setattr(_atomic, "_remove", remove)
    with atomic_directory(str(target) + os.sep, overwrite=True) as tmp:
        assert _read(target, "a.txt") == "old"  # untouched while the body runs
        _write(tmp, "a.txt", "new")
    assert seen == [("new", ["a.txt", "b.txt"])]
    assert sorted(os.listdir(target)) == ["a.txt"] and _read(target, "a.txt") == "new"
    assert os.listdir(tmp_path) == ["module"]  # neither the temporary nor the old folder remains


def test_failure_keeps_the_old_folder(tmp_path):
    target = tmp_path / "module"
    target.mkdir()
    _write(target, "a.txt", "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_directory(str(target), overwrite=True) as tmp:
            _write(tmp, "a.txt", "new")
            raise RuntimeError("boom")
    assert _read(target, "a.txt") == "old"
    assert os.listdir(tmp_path) == ["module"]


def test_failed_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    target = tmp_path / "module"
    target.mkdir()
    _write(target, "a.txt", "old")
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(src).startswith(".tmp_"):
            raise OSError("disk trouble")
        return real_replace(src, dst)

    monkeypatch.setattr(_atomic.os, "replace", replace)
    with pytest.raises(OSError, match="disk trouble"):
        with atomic_directory(str(target), overwrite=True) as tmp:
            _write(tmp, "a.txt", "new")
    assert _read(target, "a.txt") == "old"
    assert os.listdir(tmp_path) == ["module"]
