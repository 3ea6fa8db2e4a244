"""Reads the tensors of torch files without torch and without running pickled code.

Two layouts are understood:

* the zip layout (``torch.save`` since torch 1.6 and every TorchScript ``torch.jit.save`` file):
  ``<prefix>/data.pkl`` plus raw storages ``<prefix>/data/<key>``; a TorchScript file pickles its
  module tree (``__torch__.*`` classes) and a state dict pickles an ``OrderedDict``;
* the legacy layout of ``torch.save`` before 1.6 (e.g. pytorch-fid's
  ``pt_inception-2015-12-05-*.pth``): a run of pickles followed by the raw storages.

The pickles go through :class:`RestrictedUnpickler`: ``__torch__.*`` module classes become inert
placeholders that only record their attributes; tensors are rebuilt with numpy from the raw
storages (bounds-checked, so a crafted stride cannot read outside its storage); the only other
globals admitted are ``collections.OrderedDict`` and torch's int/float/bool list builders.
Everything else (``os.system``, ``builtins.eval``, ...) is refused with :class:`TorchZipError`.

What a file can make the reader allocate is bounded (``read_tree(max_bytes=...)``): the storages
the pickle declares, checked before any is read; every zip member, read only up to the size
expected of it (a zip bomb inflates no further); and the tensors built from the storages, checked
before each is materialised (a stride-0 tensor can view a small storage as a huge one).
"""

from __future__ import annotations

import collections
import io
import math
import os
import pickle
import struct
import zipfile
import zlib
from typing import Any, BinaryIO, ClassVar

import ml_dtypes
import numpy as np

from jaxenhance.errors import AssetError


class TorchZipError(AssetError):
  """A torch file is unreadable, truncated or holds something other than plain tensors."""


# torch storage class name -> numpy dtype of one element (byte order applied later).
STORAGE_DTYPES: dict[str, np.dtype] = {
    "FloatStorage": np.dtype(np.float32),
    "DoubleStorage": np.dtype(np.float64),
    "HalfStorage": np.dtype(np.float16),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype(np.int64),
    "IntStorage": np.dtype(np.int32),
    "ShortStorage": np.dtype(np.int16),
    "CharStorage": np.dtype(np.int8),
    "ByteStorage": np.dtype(np.uint8),
    "BoolStorage": np.dtype(np.bool_),
}

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# Default bound on the bytes a file may make the reader allocate: its storages together, and the
# tensors built from them together. The largest file the project reads, the FID Inception
# TorchScript zip, holds 87 MB; VGG-16 in torchvision's layout would be 528 MB.
MAX_BYTES = 2 << 30
MAX_PICKLE_BYTES = 64 << 20  # a data.pkl (the FID Inception file's is 28 kB)


# ---------------------------------------------------------------------------------------------
# Inert stand-ins for what the pickles name.
# ---------------------------------------------------------------------------------------------

class ScriptModule:
  """Placeholder for a pickled ``__torch__.*`` module: keeps its attributes, runs nothing."""

  torch_class = "?"

  def __init__(self, *args: Any) -> None:
    del args
    self.attributes: dict[str, Any] = {}

  def __setstate__(self, state: Any) -> None:
    if not isinstance(state, dict):
      raise TorchZipError(f"{self.torch_class}: unexpected pickled state {type(state).__name__}.")
    self.attributes = dict(state)


_placeholders: dict[str, type] = {}


def _placeholder_class(qualname: str) -> type:
  if qualname not in _placeholders:
    _placeholders[qualname] = type(qualname.rsplit(".", 1)[-1], (ScriptModule,),
                                   {"torch_class": qualname})
  return _placeholders[qualname]


class _StorageType:
  def __init__(self, name: str) -> None:
    self.name = name
    self.dtype = STORAGE_DTYPES[name]


class _Storage:
  """A storage named by the pickle; its bytes are attached by the reader."""

  def __init__(self, key: str, dtype: np.dtype, numel: int) -> None:
    self.key, self.dtype, self.numel = key, dtype, numel
    self.array: np.ndarray | None = None


class _TensorRef:
  """What ``_rebuild_tensor_v2`` returned; becomes a numpy array once storages are read."""

  def __init__(self, storage: Any, offset: Any, size: Any, stride: Any) -> None:
    if not isinstance(storage, _Storage):
      raise TorchZipError("a tensor in the pickle does not point to a storage.")
    self.storage, self.offset = storage, int(offset)
    self.size, self.stride = tuple(int(v) for v in size), tuple(int(v) for v in stride)
    if len(self.size) != len(self.stride) or self.offset < 0 or min(self.size, default=0) < 0:
      raise TorchZipError(f"malformed tensor: size {self.size}, stride {self.stride}.")

  def materialise(self) -> np.ndarray:
    data = self.storage.array
    assert data is not None
    if 0 in self.size:
      return np.zeros(self.size, data.dtype)
    if min(self.stride, default=0) < 0:
      raise TorchZipError(f"negative stride {self.stride} in tensor of storage {self.storage.key}.")
    last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
    if last >= data.size:  # as_strided would otherwise read memory outside the storage
      raise TorchZipError(
          f"tensor of storage {self.storage.key} (size {self.size}, stride {self.stride}, offset "
          f"{self.offset}) reaches element {last} of a {data.size}-element storage.")
    view = np.lib.stride_tricks.as_strided(
        data[self.offset:], self.size, tuple(s * data.itemsize for s in self.stride),
        writeable=False)
    return np.array(view, dtype=data.dtype.newbyteorder("="))


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> _TensorRef:
  del rest  # requires_grad, backward hooks, metadata: irrelevant for frozen weights
  return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data: Any, *rest: Any) -> Any:
  del rest
  return data


class RestrictedUnpickler(pickle.Unpickler):
  """Unpickles torch files into placeholders and tensor references; refuses every other global."""

  ALLOWED: ClassVar[dict[tuple[str, str], Any]] = {
      ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
      ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
      ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
      ("collections", "OrderedDict"): collections.OrderedDict,
      ("torch.jit._pickle", "build_intlist"): list,
      ("torch.jit._pickle", "build_doublelist"): list,
      ("torch.jit._pickle", "build_boollist"): list,
  }

  def __init__(self, file: BinaryIO, storages: dict[str, _Storage]) -> None:
    super().__init__(file)
    self.storages = storages

  def find_class(self, module: str, name: str) -> Any:
    if module == "__torch__" or module.startswith("__torch__."):
      return _placeholder_class(f"{module}.{name}")
    if module == "torch" and name in STORAGE_DTYPES:
      return _StorageType(name)
    if (module, name) in self.ALLOWED:
      return self.ALLOWED[(module, name)]
    raise TorchZipError(
        f"refusing to unpickle global {module}.{name}: a weight file may only hold torch module "
        "placeholders, tensors and plain containers (this file may be crafted to run code).")

  def persistent_load(self, pid: Any) -> Any:
    # zip: ('storage', type, key, location, numel); legacy adds view metadata (None here).
    if (not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage"
        or not isinstance(pid[1], _StorageType)):
      raise TorchZipError(f"unsupported persistent id {pid!r} in a torch pickle.")
    if len(pid) == 6 and pid[5] is not None:
      raise TorchZipError("storage views of pre-1.0 torch files are not supported; re-save it.")
    key, numel = str(pid[2]), int(pid[4])
    storage = self.storages.get(key)
    if storage is None:
      storage = self.storages[key] = _Storage(key, pid[1].dtype, numel)
    elif storage.dtype != pid[1].dtype:
      raise TorchZipError(f"storage {key} is used with two dtypes; not a plain weight file.")
    return storage


def _unpickle(file: BinaryIO, storages: dict[str, _Storage]) -> Any:
  try:
    return RestrictedUnpickler(file, storages).load()
  except TorchZipError:
    raise
  except Exception as exc:  # truncated or garbled pickle streams raise many types
    raise TorchZipError(f"corrupt torch pickle: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# The two file layouts.
# ---------------------------------------------------------------------------------------------

def _check_storages(storages: dict[str, _Storage], max_bytes: int, path: Any,
                    left_in_file: int | None = None) -> None:
  """Refuses storages that together declare more than ``max_bytes`` (or than is left of the
  file, where they follow in it), before reading any."""
  if any(s.numel < 0 for s in storages.values()):
    raise TorchZipError(f"{path}: a storage declares a negative size (a crafted file).")
  declared = sum(s.numel * s.dtype.itemsize for s in storages.values())
  if declared > max_bytes:
    raise TorchZipError(f"{path}: its storages declare {declared:,} bytes, more than the "
                        f"{max_bytes:,} allowed (a crafted or unexpected file).")
  if left_in_file is not None and declared > left_in_file:
    raise TorchZipError(f"{path}: its storages declare {declared:,} bytes but only "
                        f"{left_in_file:,} follow (truncated file?).")


def _read_member(archive: zipfile.ZipFile, member: str, limit: int, path: Any) -> bytes:
  """A zip member's bytes, inflating at most ``limit`` + 1 of them."""
  with archive.open(member) as f:
    data = f.read(limit + 1)
  if len(data) > limit:
    raise TorchZipError(f"{path}: '{member}' inflates to more than the {limit:,} bytes "
                        "expected of it (a zip bomb or a crafted file).")
  return data


def _read_zip(path: str | os.PathLike, max_bytes: int) -> tuple[Any, dict[str, _Storage]]:
  with zipfile.ZipFile(path) as archive:
    names = archive.namelist()
    pickles = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
    if len(pickles) != 1:
      raise TorchZipError(f"{path}: a torch zip has one '<name>/data.pkl'; found {pickles}.")
    prefix = pickles[0][: -len("data.pkl")]
    order = "<"
    if f"{prefix}byteorder" in names:
      order = "<" if _read_member(archive, f"{prefix}byteorder", 16, path).strip() == b"little" \
          else ">"
    storages: dict[str, _Storage] = {}
    root = _unpickle(io.BytesIO(_read_member(archive, pickles[0], MAX_PICKLE_BYTES, path)),
                     storages)
    _check_storages(storages, max_bytes, path)
    for storage in storages.values():
      member = f"{prefix}data/{storage.key}"
      if member not in names:
        raise TorchZipError(f"{path}: storage '{member}' is missing (truncated file?).")
      raw = _read_member(archive, member, storage.numel * storage.dtype.itemsize, path)
      storage.array = _storage_array(raw, storage, order, path)
  return root, storages


def _storage_array(raw: bytes, storage: _Storage, order: str, path: Any) -> np.ndarray:
  dtype = storage.dtype.newbyteorder(order)
  if len(raw) < storage.numel * dtype.itemsize:
    raise TorchZipError(
        f"{path}: storage {storage.key} has {len(raw)} bytes, expected "
        f"{storage.numel * dtype.itemsize} (truncated file?).")
  return np.frombuffer(raw, dtype, count=storage.numel)


def _read_legacy(path: str | os.PathLike, max_bytes: int) -> tuple[Any, dict[str, _Storage]]:
  with open(path, "rb") as f:
    header = [_unpickle(f, {}) for _ in range(3)]  # magic number, protocol version, sys info
    if header[0] != LEGACY_MAGIC or not isinstance(header[2], dict):
      raise TorchZipError(f"{path} is not a torch file (neither a zip nor the legacy format).")
    order = "<" if header[2].get("little_endian", True) else ">"
    storages: dict[str, _Storage] = {}
    root = _unpickle(f, storages)
    _check_storages(storages, max_bytes, path,
                    left_in_file=os.fstat(f.fileno()).st_size - f.tell())
    keys = _unpickle(f, {})
    if not isinstance(keys, list):
      raise TorchZipError(f"{path}: malformed storage key list.")
    for key in keys:
      storage = storages.get(str(key))
      count = f.read(8)
      if storage is None or len(count) != 8:
        raise TorchZipError(f"{path}: storage {key} is missing (truncated file?).")
      numel = struct.unpack(f"{order}q", count)[0]
      if numel != storage.numel:
        raise TorchZipError(f"{path}: storage {key} holds {numel} elements, expected {storage.numel}.")
      raw = f.read(numel * storage.dtype.itemsize)
      storage.array = _storage_array(raw, storage, order, path)
  return root, storages


def read_tree(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> Any:
  """The unpickled content of a torch file, as plain Python data.

  Module placeholders become dicts with a ``'__class__'`` entry (the TorchScript class name) plus
  their attributes (sub-modules, tensors, ints such as ``stride``/``padding``); tensors become
  numpy arrays. ``max_bytes`` bounds the storages and, separately, the tensors built from them.
  """
  path = os.fspath(path)
  try:
    with open(path, "rb") as f:
      is_zip = f.read(4) == b"PK\x03\x04"  # not is_zipfile(): a truncated zip must say so
    if is_zip:
      root, storages = _read_zip(path, max_bytes)
    else:
      root, storages = _read_legacy(path, max_bytes)
  except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
    raise TorchZipError(
        f"{path} is truncated or corrupt ({exc}); reinstall or re-download it.") from exc
  for storage in storages.values():
    if storage.array is None:
      raise TorchZipError(f"{path}: storage {storage.key} was never read (truncated file?).")
  try:
    return _Plain(max_bytes, path).convert(root)
  except RecursionError as exc:
    raise TorchZipError(f"{path}: its pickle nests too deeply (a crafted file).") from exc


class _Plain:
  """Converts the unpickled tree to plain data, materialising tensors within a byte budget."""

  def __init__(self, max_bytes: int, path: Any):
    self.left, self.path = max_bytes, path
    self.done: dict[int, Any] = {}  # by id: a pickle can reference one object many times

  def convert(self, value: Any) -> Any:
    if isinstance(value, (_TensorRef, ScriptModule, dict, list, tuple)):
      if id(value) not in self.done:
        self.done[id(value)] = self._convert(value)
      return self.done[id(value)]
    return value

  def _convert(self, value: Any) -> Any:
    if isinstance(value, _TensorRef):
      nbytes = math.prod(value.size) * value.storage.dtype.itemsize
      if nbytes > self.left:
        raise TorchZipError(
            f"{self.path}: tensor of storage {value.storage.key} (size {value.size}, stride "
            f"{value.stride}) would take {nbytes:,} bytes, beyond what is left of the "
            "allowed bytes (a crafted file).")
      self.left -= nbytes
      return value.materialise()
    if isinstance(value, ScriptModule):
      return {"__class__": value.torch_class,
              **{k: self.convert(v) for k, v in value.attributes.items()}}
    if isinstance(value, dict):
      return {str(k): self.convert(v) for k, v in value.items()}
    return type(value)(self.convert(v) for v in value)


def flatten_tensors(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
  """Dotted paths of every array in a :func:`read_tree` result (other attributes are skipped)."""
  out: dict[str, np.ndarray] = {}
  if isinstance(tree, np.ndarray):
    out[prefix] = tree
  elif isinstance(tree, dict):
    for key, value in tree.items():
      out.update(flatten_tensors(value, f"{prefix}.{key}" if prefix else key))
  return out


def read_state(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
  """Every tensor of a TorchScript zip or a torch state-dict file, keyed by dotted module path.

  For the FID TorchScript file the keys look like ``'net.layers.mixed_9.tower_conv.weight'``;
  for a saved ``state_dict`` they are its own keys (``'Conv2d_1a_3x3.conv.weight'``, ...).

  Raises:
    TorchZipError: the file is truncated/corrupt or its pickle names anything but torch module
      placeholders, tensors and plain containers.
  """
  tensors = flatten_tensors(read_tree(path, max_bytes))
  if not tensors:
    raise TorchZipError(f"{path} holds no tensors.")
  return tensors
