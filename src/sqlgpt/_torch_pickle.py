"""Read PyTorch's `pytorch_model.bin` (a pickled state dict) into NumPy, without torch.

Both formats torch.save has written are understood: the zip archive (torch >= 1.6) and the
legacy stream of pickles (what many 2019-era hub files, GPT-2's among them, still are).
Pickles can run arbitrary code, so the unpickler resolves only the handful of globals a
state dict needs and refuses everything else. Used only by `checkpoint.py`.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from typing import IO, Any

import numpy as np

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",  # no NumPy dtype: widened by hand below
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsupportedPickle(ValueError):
    """The file holds something other than a plain state dict of tensors."""


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]

    def from_bytes(self, raw: bytes) -> np.ndarray:
        if self.dtype == "bfloat16":
            # bfloat16 is the top half of a float32.
            return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        return np.frombuffer(raw, dtype=np.dtype(self.dtype).newbyteorder("<"))


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, *_: Any) -> np.ndarray:
    if not size:
        return storage[offset : offset + 1].reshape(()).copy()
    itemsize = storage.itemsize
    flat = storage[offset:]
    return np.lib.stride_tricks.as_strided(
        flat, shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    ).copy()


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], load_storage: Any) -> None:
        super().__init__(file)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsupportedPickle(f"refusing to load {module}.{name} (not part of a state dict)") from None

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsupportedPickle(f"unexpected persistent id {pid!r}")
        return self._load_storage(pid)


def _load_zip(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise UnsupportedPickle("zip archive has no single data.pkl")
        prefix = pickles[0][: -len("data.pkl")]

        def load_storage(pid: tuple) -> np.ndarray:
            _, storage_type, key, _location, _numel = pid[:5]
            return storage_type.from_bytes(archive.read(f"{prefix}data/{key}"))

        return _Unpickler(io.BytesIO(archive.read(pickles[0])), load_storage).load()


def _load_legacy(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as f:
        header = _Unpickler(f, None)
        if header.load() != _LEGACY_MAGIC:
            raise UnsupportedPickle("not a PyTorch file (bad magic number)")
        header.load()  # protocol version
        header.load()  # system info
        # Storages are referenced first and their bytes come after the main pickle, so
        # tensors are rebuilt lazily: remember each view, fill the storages, then resolve.
        storages: dict[str, tuple[_StorageType, int]] = {}
        views: list[tuple[str, int, tuple, tuple]] = []

        def load_storage(pid: tuple) -> Any:
            _, storage_type, key, _location, numel = pid[:5]
            storages[key] = (storage_type, numel)
            return _Pending(key)

        def rebuild(storage: Any, offset: int, size: tuple, stride: tuple, *_: Any) -> "_PendingTensor":
            views.append((storage.key, offset, tuple(size), tuple(stride)))
            return _PendingTensor(len(views) - 1)

        main = _Unpickler(f, load_storage)
        main.find_class = _legacy_find_class(main.find_class, rebuild)  # type: ignore[method-assign]
        state = main.load()
        keys = pickle.Unpickler(f).load()
        data: dict[str, np.ndarray] = {}
        for key in keys:
            storage_type, numel = storages[key]
            (count,) = struct.unpack("<q", f.read(8))
            itemsize = 2 if storage_type.dtype == "bfloat16" else np.dtype(storage_type.dtype).itemsize
            data[key] = storage_type.from_bytes(f.read(count * itemsize))
        tensors = [_rebuild_tensor(data[k], off, size, stride) for k, off, size, stride in views]
        return {name: tensors[t.index] if isinstance(t, _PendingTensor) else t for name, t in state.items()}


class _Pending:
    def __init__(self, key: str) -> None:
        self.key = key


class _PendingTensor:
    def __init__(self, index: int) -> None:
        self.index = index


def _legacy_find_class(find_class: Any, rebuild: Any) -> Any:
    def patched(module: str, name: str) -> Any:
        if (module, name) in (("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor")):
            return rebuild
        return find_class(module, name)

    return patched


def load_state_dict(path: str) -> dict[str, np.ndarray]:
    """Tensors of a torch-saved state dict, by name, as NumPy arrays (bfloat16 widened)."""
    state = _load_zip(path) if zipfile.is_zipfile(path) else _load_legacy(path)
    if not isinstance(state, dict):
        raise UnsupportedPickle("file does not hold a state dict")
    return {str(k): v for k, v in state.items() if isinstance(v, np.ndarray)}
