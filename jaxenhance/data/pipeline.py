"""Grain input pipeline over the patch records, and host batches -> global ``jax.Array``s.

Training (``make_dataset(config, data_dir, split="train", shuffle=True, repeat=True)``)::

  TFDS data source (raw serialized records, see below)
    -> MapDataset.source -> shuffle(seed) -> repeat()      (each epoch reshuffled, seeded)
       [or, with data.codec_weights: one shuffled+repeated dataset per codec/rung, mixed by weight]
    -> [process_index::process_count]                      (disjoint per-process shard)
    -> map(parse)                                          (protobuf parse + np.frombuffer)
    -> random_map(random crop to data.crop_size, flips)    (seeded per element)
    -> batch(global batch / process_count, drop_remainder)
    -> to_iter_dataset(ReadOptions(threads, prefetch))     [-> mp_prefetch(worker processes)]

``iter(dataset)`` is a Grain ``DatasetIterator``: ``get_state()``/``set_state()`` (or
``grain.checkpoint.CheckpointSave/Restore`` inside an Orbax checkpoint) resume at exactly the next
batch. Evaluation (``shuffle=False, repeat=False``) reads one pass in record order, centre-crops,
and pads the last batch to full size with ``mask`` = False on the padding, so every batch has one
shape (one compilation) and nothing is dropped.

Why raw records: TFDS's data source can decode the examples itself (``builder.as_data_source``
gives dicts of arrays), but its generic decoding costs ~0.35 ms per example; reading the same
shards with ``DeserializeMethod.RAW_BYTES`` and parsing them in ``records.parse_record`` (one
protobuf parse, ``np.frombuffer`` views) is several times cheaper. Measured numbers are in
``benchmarks/data_pipeline.py``. On 2 cores one process with no worker processes is fastest;
``data.grain_workers > 0`` enables ``mp_prefetch`` for machines with cores to spare (worker
processes need absl flags parsed: run under ``absl.app.run``).

Batches hold uint8 pixels (``lq`` [B, T, C, C, 3], ``gt`` [B, C, C, 3]; the model converts on the
device, so the host->device copy is 4x smaller than float32) and per-example metadata: ``codec``
(index into ``codecs.CODECS``), ``value`` (rate-control value), ``picture_type`` (index into
``records.PICTURE_TYPES``) and ``bits_per_pixel``.

``make_global_batch(batch, mesh)`` assembles each process's batch into global arrays sharded over
the mesh's ``data`` axis with ``jax.make_array_from_process_local_data``. It works with meshes of
``Auto`` axis types (``jaxenhance.sharding.make_mesh``) and with ``Explicit`` ones (the default of
``jax.make_mesh`` in this JAX version): the sharding is given explicitly either way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grain
import jax
import numpy as np
import tensorflow_datasets as tfds
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxenhance import codecs
from jaxenhance.data import builder as builder_lib
from jaxenhance.data import records

DATA_AXIS = "data"
METADATA = ("codec", "value", "picture_type", "bits_per_pixel")
_CODEC_IDS = {name: i for i, name in enumerate(codecs.CODECS)}
_PICTURE_IDS = {name: i for i, name in enumerate(records.PICTURE_TYPES)}


class PipelineError(ValueError):
  """The records or the pipeline settings do not fit; the message says what to change."""


# ---------------------------------------------------------------------------------------------
# Sources.
# ---------------------------------------------------------------------------------------------

def dataset_dir(config: Any, data_dir: str | os.PathLike) -> Path:
  """The version directory of ``config``'s records: ``data_dir`` itself if it is one, else
  ``<data_dir>/jaxenhance_patches/<config name>/<version>``."""
  path = Path(data_dir)
  if builder_lib.is_complete(path):
    return path
  spec = builder_lib.RecordSpec.from_config(config)
  path = (path / builder_lib.JaxenhancePatches.name / spec.config_name
          / builder_lib.RECORDS_VERSION)
  if not builder_lib.is_complete(path):
    raise PipelineError(
        f"no complete patch records for this config at {path}; build them first with "
        "`python -m jaxenhance.prepare --config=... --workdir=...` (an interrupted build leaves "
        "only an incomplete.* directory, which is never read).")
  return path


def data_source(path: str | os.PathLike, split: str):
  """Random-access source of the serialized records of ``split`` (``records.parse_record``)."""
  builder = tfds.builder_from_directory(os.fspath(path))
  if split not in builder.info.splits:
    raise PipelineError(f"split '{split}' not in {path}; it has {list(builder.info.splits)}.")
  return builder.as_data_source(split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)


class _Subset:
  """The records at ``indices`` of a random-access source (for mixing by codec/rung)."""

  def __init__(self, source, indices: np.ndarray):
    self._source, self._indices = source, np.asarray(indices, np.int64)

  def __len__(self) -> int:
    return len(self._indices)

  def __getitem__(self, index: int):
    return self._source[int(self._indices[index])]


# ---------------------------------------------------------------------------------------------
# Per-element transforms (classes, so worker processes can pickle them).
# ---------------------------------------------------------------------------------------------

class ParseRecord(grain.transforms.Map):
  """Serialized record -> dict of ``lq``, ``gt`` and numeric metadata."""

  def map(self, record: bytes) -> dict[str, Any]:
    ex = records.parse_record(record)
    return {
        "lq": ex["lq"], "gt": ex["gt"],
        "codec": np.int32(_CODEC_IDS.get(ex["codec"], -1)),
        "value": np.int32(ex["value"]),
        "picture_type": np.int32(_PICTURE_IDS.get(ex["picture_type"], -1)),
        "bits_per_pixel": np.float32(ex["bits_per_pixel"]),
    }


def _crop(ex: dict[str, Any], y: int, x: int, size: int) -> dict[str, Any]:
  ex = dict(ex)
  ex["lq"] = ex["lq"][:, y:y + size, x:x + size]
  ex["gt"] = ex["gt"][y:y + size, x:x + size]
  return ex


class RandomCropFlip(grain.transforms.RandomMap):
  """The same random ``crop_size`` window of lq (every frame) and gt, then random flips."""

  def __init__(self, crop_size: int, hflip: bool = True, vflip: bool = False):
    self.crop_size, self.hflip, self.vflip = int(crop_size), hflip, vflip

  def random_map(self, ex: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    p = ex["gt"].shape[0]
    size = min(self.crop_size, p) if self.crop_size > 0 else p
    y, x = (int(v) for v in rng.integers(0, p - size + 1, size=2))
    hflip = self.hflip and rng.random() < 0.5
    vflip = self.vflip and rng.random() < 0.5
    if hflip:
      ex = _crop_hflip(ex, y, x, size)
    else:
      ex = _crop(ex, y, x, size)  # views only: batching copies each element once anyway
    if vflip:
      ex["lq"], ex["gt"] = ex["lq"][:, ::-1], ex["gt"][::-1]
    return ex


def _crop_hflip(ex: dict[str, Any], y: int, x: int, size: int) -> dict[str, Any]:
  """Crop + horizontal flip as one gather over flattened rows.

  ``a[:, ::-1]`` on uint8 RGB makes numpy copy 3-byte runs one by one (measured ~8x slower than
  a plain crop); gathering the byte columns of the flipped window in one ``np.take`` is ~2.5x
  faster than that.
  """
  p = ex["gt"].shape[0]
  cols = _FLIPPED_COLUMNS.get(size)
  if cols is None:
    cols = _FLIPPED_COLUMNS.setdefault(
        size, ((size - 1 - np.arange(size))[:, None] * 3 + np.arange(3)[None]).ravel())
  cols = cols + 3 * x
  ex = dict(ex)
  t = ex["lq"].shape[0]
  ex["lq"] = np.take(ex["lq"].reshape(t, p, p * 3)[:, y:y + size], cols, axis=2).reshape(
      t, size, size, 3)
  ex["gt"] = np.take(ex["gt"].reshape(p, p * 3)[y:y + size], cols, axis=1).reshape(
      size, size, 3)
  return ex


_FLIPPED_COLUMNS: dict[int, np.ndarray] = {}


class CentreCrop(grain.transforms.Map):

  def __init__(self, crop_size: int):
    self.crop_size = int(crop_size)

  def map(self, ex: dict[str, Any]) -> dict[str, Any]:
    p = ex["gt"].shape[0]
    size = min(self.crop_size, p) if self.crop_size > 0 else p
    return _crop(ex, (p - size) // 2, (p - size) // 2, size)


class PadBatch(grain.transforms.Map):
  """Pads a (last, short) batch to ``batch_size`` and adds ``mask`` (False on padding)."""

  def __init__(self, batch_size: int):
    self.batch_size = int(batch_size)

  def map(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(batch["gt"])
    pad = self.batch_size - n
    out = {k: np.concatenate([v, np.zeros((pad, *v.shape[1:]), v.dtype)]) if pad else v
           for k, v in batch.items()}
    out["mask"] = np.arange(self.batch_size) < n
    return out


# ---------------------------------------------------------------------------------------------
# Datasets.
# ---------------------------------------------------------------------------------------------

def _mixture_groups(weights: Mapping[str, float], rung_index: Mapping[str, np.ndarray]
                    ) -> tuple[list[np.ndarray], list[float]]:
  """Indices per weighted group; a key names a codec ("jpeg") or a rung ("h264_qp32")."""
  groups, mix = [], []
  for key, weight in weights.items():
    if weight <= 0:
      continue
    parts = [idx for rung, idx in rung_index.items() if rung == key or rung.split("_")[0] == key]
    if not parts:
      raise PipelineError(f"data.codec_weights names '{key}', but the records hold only the "
                          f"rungs {sorted(rung_index)}.")
    groups.append(np.sort(np.concatenate(parts)))
    mix.append(float(weight))
  if not groups:
    raise PipelineError("data.codec_weights gives no positive weight.")
  return groups, mix


def per_process_batch_size(global_batch_size: int, process_count: int) -> int:
  if global_batch_size % process_count:
    raise PipelineError(
        f"data.batch_size={global_batch_size} is not divisible by the {process_count} "
        "processes; use a multiple.")
  return global_batch_size // process_count


def make_dataset(
    config: Any,
    data_dir: str | os.PathLike,
    split: str = "train",
    shuffle: bool = True,
    repeat: bool = True,
    *,
    seed: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> grain.IterDataset:
  """The batched Grain dataset of ``split``; ``iter()`` it for a checkpointable iterator.

  Args:
    config: run config (``data.crop_size``, ``data.batch_size`` (global), ``data.shuffle_seed``,
      ``data.codec_weights``, ``data.hflip``/``data.vflip``, ``data.grain_threads``,
      ``data.prefetch``, ``data.grain_workers``; also used to find the records).
    data_dir: the records root (``builder.data_dir``) or a dataset version directory.
    split: "train" or "test".
    shuffle: training mode: shuffled, randomly cropped and flipped, full batches only.
      Otherwise record order, centre crops and a padded last batch with ``mask``.
    repeat: repeat forever (training) instead of one pass.
    seed: shuffle/augmentation seed (default ``data.shuffle_seed``).
    process_index, process_count: this process's shard (default: JAX's).

  Returns:
    A ``grain.IterDataset`` of dicts of numpy arrays with this process's part of the batch.
  """
  data = config.data
  path = dataset_dir(config, data_dir)
  source = data_source(path, split)
  if len(source) == 0:
    raise PipelineError(f"split '{split}' of {path} has no examples.")
  seed = int(data.get("shuffle_seed", 0) if seed is None else seed)
  index = jax.process_index() if process_index is None else int(process_index)
  count = jax.process_count() if process_count is None else int(process_count)
  batch_size = per_process_batch_size(int(data.batch_size), count)
  crop = int(data.crop_size)

  weights = dict(data.get("codec_weights", None) or {})
  if weights and shuffle:
    groups, mix = _mixture_groups(weights, builder_lib.rung_index(path, split))
    parts = [grain.MapDataset.source(_Subset(source, g)).shuffle(seed=seed + i).repeat()
             for i, g in enumerate(groups)]
    ds = grain.MapDataset.mix(parts, mix)
    if not repeat:
      ds = ds[:len(source)]  # one epoch's worth of mixed examples
  else:
    ds = grain.MapDataset.source(source)
    if shuffle:
      ds = ds.shuffle(seed=seed)
    if repeat:
      ds = ds.repeat()
  ds = ds[index::count]
  ds = ds.map(ParseRecord())
  if shuffle:
    ds = ds.random_map(RandomCropFlip(crop, bool(data.get("hflip", True)),
                                      bool(data.get("vflip", False))), seed=seed)
    ds = ds.batch(batch_size, drop_remainder=True)
  else:
    ds = ds.map(CentreCrop(crop)).batch(batch_size, drop_remainder=False)
    ds = ds.map(PadBatch(batch_size))
  options = grain.ReadOptions(num_threads=int(data.get("grain_threads", 1)),
                              prefetch_buffer_size=int(data.get("prefetch", 2)))
  iter_ds = ds.to_iter_dataset(options)
  workers = int(data.get("grain_workers", 0))
  if workers > 0:
    iter_ds = iter_ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return iter_ds


def batch_spec(config: Any, data_dir: str | os.PathLike | None = None, train: bool = True
               ) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
  """Global shapes and dtypes of the batches ``make_dataset`` yields (for ahead-of-time jit).

  The temporal window and crop come from the config (the records are built from the same
  settings); ``data_dir`` is accepted for symmetry and, if given, checked against the records.
  """
  data = config.data
  b, t = int(data.batch_size), int(data.temporal_window)
  c = min(int(data.crop_size), int(data.patch_size)) if int(data.crop_size) > 0 else int(
      data.patch_size)
  if data_dir is not None:
    info = tfds.builder_from_directory(os.fspath(dataset_dir(config, data_dir))).info
    stored = info.features["lq"].shape
    if stored[0] != t or stored[1] != int(data.patch_size):
      raise PipelineError(f"records hold lq {stored}, config expects T={t}, P={data.patch_size}.")
  spec = {
      "lq": ((b, t, c, c, 3), np.dtype(np.uint8)),
      "gt": ((b, c, c, 3), np.dtype(np.uint8)),
      "codec": ((b,), np.dtype(np.int32)),
      "value": ((b,), np.dtype(np.int32)),
      "picture_type": ((b,), np.dtype(np.int32)),
      "bits_per_pixel": ((b,), np.dtype(np.float32)),
  }
  if not train:
    spec["mask"] = ((b,), np.dtype(bool))
  return spec


def make_global_batch(batch: Mapping[str, np.ndarray], mesh: Mesh,
                      axes: str | Sequence[str] = DATA_AXIS) -> dict[str, jax.Array]:
  """Turns this process's batch into global arrays split over ``axes`` of ``mesh``.

  Each leaf's leading dimension is this process's share; the global array's is
  ``process_count`` times larger, laid out over the devices of ``axes`` (default ``data``).
  """
  sharding = NamedSharding(mesh, PartitionSpec(axes))
  return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
          for k, v in batch.items()}
