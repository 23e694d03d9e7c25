"""Read a PyTorch `.pth` state dict into NumPy arrays, without PyTorch and without running its code.

A `.pth` file is a Python pickle: unpickling it with `pickle.load` (or
`torch.load(weights_only=False)`) can call any function the file names. This
reader unpickles with an allow-list: the tensor-rebuild functions, the
storage classes and `collections.OrderedDict`; any other global is refused
with `UnsafeCheckpointError` before it is looked up, so nothing of a hostile
file is imported or called. Both layouts `torch.save` writes are read: the
legacy stream (PyTorch < 1.6 or `_use_new_zipfile_serialization=False`: magic
number, protocol, system info, the pickle, then every storage's bytes) and the
zip archive (`archive/data.pkl` + `archive/data/<key>`).

Example:

>>> weights = load_torch_state_dict("efficientnet-lite0-57934424.pth")
>>> weights["_conv_stem.weight"].shape
(32, 3, 3, 3)
"""

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# torch.UntypedStorage / TypedStorage pickles name the dtype instead of a storage class.
_DTYPES = {
    "float64": np.float64,
    "float32": np.float32,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """A checkpoint's pickle names something other than tensors and plain containers."""


class _StorageType:
    def __init__(self, name, dtype):
        self.name, self.dtype = name, np.dtype(dtype)


class _Storage:
    """One storage of the file: its element type and, once read, its flat array."""

    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel, self.array = key, dtype, numel, None


class _TensorRef:
    """A tensor waiting for its storage's bytes (legacy files store them after the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, int(offset), tuple(size), tuple(stride)

    def numpy(self, name, source):
        flat = self.storage.array
        if (
            self.offset < 0
            or min(self.size, default=0) < 0
            or min(self.stride, default=0) < 0
            or len(self.stride) != len(self.size)
        ):
            raise ValueError(
                f"{source}: tensor {name!r} has an invalid view (offset {self.offset}, size {self.size}, "
                f"stride {self.stride})."
            )
        last = (
            self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
            if all(self.size)
            else self.offset - 1
        )
        if last >= len(flat):  # as_strided would read past the storage
            raise ValueError(f"{source}: tensor {name!r} reaches element {last} of a storage of {len(flat)} elements.")
        if not self.size:
            return flat[self.offset].copy()
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=[s * itemsize for s in self.stride], writeable=False
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(tensor, requires_grad=None, backward_hooks=None, *unused):
    return tensor


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, source, storage_for):
        super().__init__(file)
        self.source = source
        self.storage_for = storage_for

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "torch" and name in _DTYPES:
            return _StorageType(name, _DTYPES[name])
        raise UnsafeCheckpointError(
            f"{self.source}: the checkpoint's pickle asks for `{module}.{name}`, which is not a tensor or "
            "container type; refusing to load it (a .pth file is a pickle and could run code)."
        )

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or not pid or pid[0] != "storage":
            raise UnsafeCheckpointError(f"{self.source}: unexpected persistent id {pid!r} in the checkpoint.")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise UnsafeCheckpointError(f"{self.source}: storage of unknown type {storage_type!r}.")
        return self.storage_for(str(key), storage_type.dtype, numel)


def _finish(state, source):
    """The unpickled state dict with every tensor as a NumPy array."""
    if not isinstance(state, dict):
        raise ValueError(f"{source}: expected a state dict (name -> tensor); the file holds a {type(state).__name__}.")
    out = collections.OrderedDict()
    for name, value in state.items():
        if not isinstance(value, _TensorRef):
            raise ValueError(f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor.")
        out[name] = value.numpy(name, source)
    return out


def _load_legacy(f, source):
    storages = {}

    def storage_for(key, dtype, numel):
        if key not in storages:
            storages[key] = _Storage(key, dtype, numel)
        return storages[key]

    def restricted_load():
        return _RestrictedUnpickler(f, source, storage_for).load()

    if restricted_load() != _LEGACY_MAGIC:
        raise ValueError(f"{source}: not a PyTorch checkpoint (bad magic number).")
    protocol = restricted_load()
    if protocol != _LEGACY_PROTOCOL:
        raise ValueError(f"{source}: unsupported legacy protocol version {protocol!r}.")
    sys_info = restricted_load()
    if not sys_info.get("little_endian", True):
        raise ValueError(f"{source}: big-endian checkpoints are not supported.")
    state = restricted_load()
    keys = restricted_load()
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise ValueError(f"{source}: storage {key!r} is listed but no tensor uses it.")
        header = f.read(8)
        if len(header) != 8:
            raise ValueError(f"{source}: truncated file (storage {key!r} missing).")
        (numel,) = struct.unpack("<q", header)
        data = f.read(numel * storage.dtype.itemsize)
        if len(data) != numel * storage.dtype.itemsize:
            raise ValueError(
                f"{source}: truncated file (storage {key!r} has {len(data)} of {numel * storage.dtype.itemsize} bytes)."
            )
        storage.array = np.frombuffer(data, dtype=storage.dtype.newbyteorder("<"))
    missing = [k for k, s in storages.items() if s.array is None]
    if missing:
        raise ValueError(f"{source}: storages {missing[:5]} have no data.")
    return _finish(state, source)


def _load_zip(path, source):
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise ValueError(f"{source}: zip file without data.pkl: not a PyTorch checkpoint.")
        prefix = pickles[0][: -len("data.pkl")]

        def storage_for(key, dtype, numel):
            member = f"{prefix}data/{key}"
            if member not in names:
                raise ValueError(f"{source}: storage {member!r} is missing from the archive.")
            storage = _Storage(key, dtype, numel)
            storage.array = np.frombuffer(archive.read(member), dtype=np.dtype(dtype).newbyteorder("<"))
            return storage

        with archive.open(pickles[0]) as f:
            state = _RestrictedUnpickler(io.BytesIO(f.read()), source, storage_for).load()
        return _finish(state, source)


def load_torch_state_dict(path):
    """A PyTorch state dict file (`torch.save(model.state_dict())`) as `{name: np.ndarray}`.

    Args:
        path: str, a `.pth`/`.pt`/`.bin` file (legacy or zip layout).

    Returns:
        `collections.OrderedDict` of NumPy arrays, in the file's order.

    Raises:
        FileNotFoundError: `path` does not exist.
        UnsafeCheckpointError: the pickle names a global outside the allow-list
            (nothing of it was imported or called).
        ValueError: the file is not a state dict of tensors, or is truncated.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    if zipfile.is_zipfile(path):
        return _load_zip(path, path)
    with open(path, "rb") as f:
        try:
            return _load_legacy(f, path)
        except UnsafeCheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, IndexError) as error:
            raise ValueError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {error}).") from None
