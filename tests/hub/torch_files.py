"""Write state dicts in `torch.save`'s two layouts without PyTorch, and hostile pickles.

The pickles name the same globals as PyTorch's (`torch._utils._rebuild_tensor_v2`,
`torch.FloatStorage`, `collections.OrderedDict`) and use the same persistent ids, so the reader
is tested on the byte format it meets in real `.pth` files. Stand-in `torch` modules exist in
`sys.modules` only while pickling.
"""

import collections
import contextlib
import io
import os
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("float16"): "HalfStorage",
    np.dtype("int32"): "IntStorage",
}


@contextlib.contextmanager
def _stand_in_torch():
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")
    for name in _STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules.update({"torch": torch, "torch._utils": utils})
    try:
        yield torch, utils
    finally:
        for key, module in saved.items():
            if module is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = module


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride


def _tensors(arrays):
    """One storage per array (C order), tensors viewing them whole."""
    out = collections.OrderedDict()
    storages = []
    for i, (name, array) in enumerate(arrays.items()):
        array = np.array(array, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        storage = _Storage(str(i), array.reshape(-1))
        storages.append(storage)
        stride = tuple(s // array.itemsize for s in array.strides)
        out[name] = _Tensor(storage, 0, tuple(array.shape), stride)
    return out, storages


def _pickle(state, torch, utils):
    buffer = io.BytesIO()

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                storage_type = getattr(torch, _STORAGE_NAMES[obj.array.dtype])
                return ("storage", storage_type, obj.key, "cpu", obj.array.size)
            return None

        def reducer_override(self, obj):
            if isinstance(obj, _Tensor):
                args = (obj.storage, obj.offset, obj.shape, obj.stride, False, collections.OrderedDict())
                return utils._rebuild_tensor_v2, args
            return NotImplemented

    Pickler(buffer, protocol=2).dump(state)
    return buffer.getvalue()


def write_state_dict(path, arrays, layout="legacy", tensors=None):
    """Writes `arrays` (name -> np.ndarray) as a PyTorch state dict file; returns `path`.

    `layout`: "legacy" (torch < 1.6 stream) or "zip" (current `torch.save`). `tensors`
    optionally replaces the tensor views (name -> (array name, offset, shape, stride)) to test
    views that share a storage.
    """
    state, storages = _tensors(arrays)
    if tensors:
        by_name = {name: t.storage for name, t in state.items()}
        state = collections.OrderedDict(
            (name, _Tensor(by_name[base], offset, shape, stride))
            for name, (base, offset, shape, stride) in tensors.items()
        )
        used = {id(t.storage) for t in state.values()}
        storages = [s for s in storages if id(s) in used]
    with _stand_in_torch() as (torch, utils):
        body = _pickle(state, torch, utils)
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", body)
            archive.writestr("archive/version", "3\n")
            for storage in storages:
                archive.writestr(
                    f"archive/data/{storage.key}", storage.array.astype(storage.array.dtype.newbyteorder("<")).tobytes()
                )
        return path
    with open(path, "wb") as f:
        for header in (
            0x1950A86A20F9469CFC6C,
            1001,
            {"protocol_version": 1001, "little_endian": True, "type_sizes": {"short": 2, "int": 4, "long": 4}},
        ):
            pickle.dump(header, f, protocol=2)
        f.write(body)
        pickle.dump([s.key for s in storages], f, protocol=2)
        for storage in storages:
            f.write(struct.pack("<q", storage.array.size))
            f.write(storage.array.tobytes())
    return path


class _Hostile:
    """Unpickling it would call `os.makedirs(target)`."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return os.makedirs, (self.target,)


def write_hostile(path, target, layout="legacy"):
    """A `.pth` whose state dict holds an object that would create the folder `target` when unpickled."""
    state = collections.OrderedDict(weight=_Hostile(target))
    body = pickle.dumps(state, protocol=2)
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", body)
        return path
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(body)
    return path
