"""Grain input pipeline over the patch records, and host batches -> global ``jax.Array``s.

Training (``make_dataset(config, data_dir, split="train", shuffle=True, repeat=True)``)::

  TFDS data source (raw serialized records, see below)
    -> MapDataset.source -> shuffle(seed) -> repeat()      (each epoch reshuffled, seeded)
       [or, with data.codec_weights: one shuffled+repeated dataset per codec/rung, mixed by weight]
    -> batch(global batch / process_count, drop_remainder) (lists of serialized records)
    -> [process_index::process_count]                      (this process's block of each global
                                                            batch: disjoint per-process shards)
    -> random_map(RandomBatch)                             (seeded per batch: parse each record,
                                                            random crop to data.crop_size and
                                                            flips, written into the batch arrays)
    -> to_iter_dataset(ReadOptions(threads, prefetch))     [-> mp_prefetch(worker processes)]

Multi-host, the processes' blocks of a step, side by side on the mesh, are the global batch one
process would read, row for row, crops and flips included (``RandomBatch`` draws them for the
whole global batch and keeps its block's): a run sees the same data on any number of hosts,
and its devices the same rows (``tests/test_multihost.py``).

Parsing and augmenting once per batch rather than per example keeps Grain's per-element
bookkeeping (statistics, RNG set-up, pytree stacking) off the hot path.

``iter(dataset)`` is a Grain ``DatasetIterator``: ``get_state()``/``set_state()`` (or
``grain.checkpoint.CheckpointSave/Restore`` inside an Orbax checkpoint) resume at exactly the next
batch. Evaluation (``shuffle=False, repeat=False``) reads one pass in record order (records
``process_index``, ``+ process_count``, … on each process), centre-crops, and pads the last batch
to full size with ``mask`` = False on the padding, so every batch has one shape (one
compilation) and nothing is dropped.

Why raw records: TFDS's data source can decode the examples itself (``builder.as_data_source``
gives dicts of arrays), but its generic decoding costs ~0.33 ms per example; reading the same
shards with ``DeserializeMethod.RAW_BYTES`` and parsing them in ``records.parse_record`` (one
protobuf parse, ``np.frombuffer`` views) takes ~0.04 ms. Measured numbers and where the time
goes: ``benchmarks/data_pipeline.py``. On 2 cores one process without worker processes is
fastest (``data.grain_threads`` = 1 keeps one background reader so input overlaps the step);
``data.grain_workers > 0`` enables ``mp_prefetch`` for machines with cores to spare (worker
processes need absl flags parsed; outside ``absl.app.run`` they are marked parsed).

Batches hold uint8 pixels (``lq`` [B, T, C, C, 3], ``gt`` [B, C, C, 3]; the model converts on the
device, so the host->device copy is 4x smaller than float32) and per-example metadata: ``codec``
(index into ``codecs.CODECS``), ``value`` (rate-control value), ``picture_type`` (index into
``records.PICTURE_TYPES``) and ``bits_per_pixel``. With ``data.quantiser`` they also hold
``qp_map`` uint8 [B, C, C], the decoder's QP of each pixel of the target frame (255: unknown),
cut with the same crop and flips as ``lq`` and ``gt``; records built without it are refused
with how to rebuild them.

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
from absl import flags, logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxenhance import cloud, codecs, errors, quantiser
from jaxenhance.sharding import DATA_AXIS
from jaxenhance.data import layout, records

METADATA = ("codec", "value", "picture_type", "bits_per_pixel")
_CODEC_IDS = {name: i for i, name in enumerate(codecs.CODECS)}
_PICTURE_IDS = {name: i for i, name in enumerate(records.PICTURE_TYPES)}


class PipelineError(errors.JaxenhanceError, ValueError):
  """The records or the pipeline settings do not fit; the message says what to change."""


# ---------------------------------------------------------------------------------------------
# Sources.
# ---------------------------------------------------------------------------------------------

def dataset_dir(config: Any, data_dir: str | os.PathLike) -> cloud.AnyPath:
  """The version directory of ``config``'s records: ``data_dir`` itself if it is one, else
  ``<data_dir>/jaxenhance_patches/<config name>/<version>``. Local or ``gs://``: TFDS reads the
  metadata through etils.epath, ArrayRecord the shards through its own GCS client."""
  path = cloud.path(data_dir)
  cloud.check_bucket(path, "the records directory (data.data_dir)")
  if layout.is_complete(path):
    return path
  path = layout.version_dir(config, path)
  if not layout.is_complete(path):
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
  source = builder.as_data_source(split,
                                  deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
  shards = [(fi.filename, int(fi.take)) for fi in builder.info.splits[split].file_instructions]
  return _ShardNamingSource(source, cloud.path(path), shards)


class _ShardNamingSource:
  """A record source whose read errors name the shard file and what to do.

  ArrayRecord reports a corrupt or truncated shard as a bare ``RuntimeError`` ("Corrupted
  Riegeli/records file: chunk data hash mismatch ...") that does not say which file it is.
  """

  def __init__(self, source, path: cloud.AnyPath, shards: list[tuple[str, int]]):
    self._source, self._path = source, path
    self._shards = [Path(name).name for name, _ in shards]
    self._ends = np.cumsum([take for _, take in shards])

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> bytes:
    try:
      return self._source[index]
    except (RuntimeError, OSError, ValueError) as exc:
      shard = self._shards[min(int(np.searchsorted(self._ends, index, side="right")),
                               len(self._shards) - 1)]
      raise PipelineError(
          f"record {index} cannot be read from shard {self._path / shard} ({exc}); the shard is "
          f"corrupt or truncated. Delete {self._path} and rebuild the records "
          "(python -m jaxenhance.prepare --config=... --workdir=...).") from exc


class _Subset:
  """The records at ``indices`` of a random-access source (for mixing by codec/rung)."""

  def __init__(self, source, indices: np.ndarray):
    self._source, self._indices = source, np.asarray(indices, np.int64)

  def __len__(self) -> int:
    return len(self._indices)

  def __getitem__(self, index: int):
    return self._source[int(self._indices[index])]


# ---------------------------------------------------------------------------------------------
# Batch assembly: serialized records -> one batch, in one transform per batch.
# ---------------------------------------------------------------------------------------------

def _flipped_columns(size: int) -> np.ndarray:
  """Byte columns of a horizontally flipped ``size``-wide RGB window (offset by 3 * x)."""
  cols = _FLIPPED_COLUMNS.get(size)
  if cols is None:
    cols = ((size - 1 - np.arange(size))[:, None] * 3 + np.arange(3)[None]).ravel()
    _FLIPPED_COLUMNS[size] = cols
  return cols


_FLIPPED_COLUMNS: dict[int, np.ndarray] = {}


def assemble_batch(recs: Sequence[bytes], ys: np.ndarray, xs: np.ndarray, crop_size: int,
                   hflip: np.ndarray | None = None, vflip: np.ndarray | None = None,
                   batch_size: int | None = None, with_quantiser: bool = False
                   ) -> dict[str, np.ndarray]:
  """Parses ``recs`` and writes their crops straight into the batch arrays.

  Args:
    recs: serialized records (``records.parse_record``).
    ys, xs: top-left corner of each crop in its patch.
    crop_size: crop side C (<= 0 or >= P: the whole patch).
    hflip, vflip: per-record booleans.
    batch_size: pad to this many rows and add ``mask`` (False on padding); None: no padding.
    with_quantiser: also ``qp_map`` uint8 [B, C, C] (padding rows: 255, unknown).

  Returns:
    ``lq`` uint8 [B, T, C, C, 3], ``gt`` uint8 [B, C, C, 3] and the ``METADATA`` fields.
  """
  # One record at a time: parse, copy its crop, let it go. (Parsing a whole batch first holds
  # ~100 kB per record at once, which measured ~2x slower: the allocator keeps returning and
  # re-faulting that memory, and none of it stays in cache.)
  first = _parse(recs[0], with_quantiser)
  n = len(recs)
  rows = n if batch_size is None else int(batch_size)
  t, p = first["lq"].shape[:2]
  c = min(crop_size, p) if crop_size > 0 else p
  lq = np.zeros((rows, t, c, c, 3), np.uint8)
  gt = np.zeros((rows, c, c, 3), np.uint8)
  meta = {"codec": np.zeros(rows, np.int32), "value": np.zeros(rows, np.int32),
          "picture_type": np.zeros(rows, np.int32),
          "bits_per_pixel": np.zeros(rows, np.float32)}
  if with_quantiser:
    meta["qp_map"] = np.full((rows, c, c), quantiser.UNKNOWN, np.uint8)
  for i, rec in enumerate(recs):
    ex = first if i == 0 else _parse(rec, with_quantiser)
    if ex["gt"].shape[0] != p or ex["lq"].shape[0] != t:
      raise PipelineError("records of different patch sizes or windows in one dataset.")
    y, x = int(ys[i]), int(xs[i])
    src_lq = ex["lq"].reshape(t, p, p * 3)[:, y:y + c]
    src_gt = ex["gt"].reshape(p, p * 3)[y:y + c]
    if vflip is not None and vflip[i]:
      src_lq, src_gt = src_lq[:, ::-1], src_gt[::-1]
    if hflip is not None and hflip[i]:
      # ``a[:, ::-1]`` on uint8 RGB copies 3-byte runs one by one (~8x slower than a crop);
      # one gather of the flipped window's byte columns (unbuffered: mode="clip") is faster.
      cols = _flipped_columns(c) + 3 * x
      np.take(src_lq, cols, axis=2, out=lq[i].reshape(t, c, c * 3), mode="clip")
      np.take(src_gt, cols, axis=1, out=gt[i].reshape(c, c * 3), mode="clip")
    else:
      lq[i].reshape(t, c, c * 3)[:] = src_lq[:, :, 3 * x:3 * (x + c)]
      gt[i].reshape(c, c * 3)[:] = src_gt[:, 3 * x:3 * (x + c)]
    meta["codec"][i] = _CODEC_IDS.get(ex["codec"], -1)
    meta["value"][i] = ex["value"]
    meta["picture_type"][i] = _PICTURE_IDS.get(ex["picture_type"], -1)
    meta["bits_per_pixel"][i] = ex["bits_per_pixel"]
    if with_quantiser:
      qp = ex["qp_map"][y:y + c, x:x + c]
      if vflip is not None and vflip[i]:
        qp = qp[::-1]
      if hflip is not None and hflip[i]:
        qp = qp[:, ::-1]
      meta["qp_map"][i] = qp
  out = {"lq": lq, "gt": gt, **meta}
  if batch_size is not None:
    out["mask"] = np.arange(rows) < n
  return out


def _parse(record: bytes, with_quantiser: bool) -> dict[str, Any]:
  try:
    return records.parse_record(record, with_quantiser=with_quantiser)
  except records.RecordError as exc:
    raise PipelineError(str(exc)) from exc


def _patch_size(record: bytes) -> int:
  return records.parse_record(record, metadata=False)["gt"].shape[0]


class RandomBatch(grain.transforms.RandomMap):
  """Records -> training batch: the same random crop of lq (every frame) and gt, random flips.

  ``shard=(index, count)``: the records are block ``index`` of ``count`` of a global batch
  (``make_dataset``). Crops and flips are drawn for the whole global batch and the block's
  kept, so each example is augmented as one process would (and hosts do not all repeat the
  same crops).
  """

  def __init__(self, crop_size: int, hflip: bool = True, vflip: bool = False,
               shard: tuple[int, int] = (0, 1), with_quantiser: bool = False):
    self.crop_size, self.hflip, self.vflip = int(crop_size), bool(hflip), bool(vflip)
    self.index, self.count = int(shard[0]), int(shard[1])
    self.with_quantiser = bool(with_quantiser)

  def random_map(self, recs: Sequence[bytes], rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, p = len(recs), _patch_size(recs[0])
    c = min(self.crop_size, p) if self.crop_size > 0 else p
    rows = slice(self.index * n, (self.index + 1) * n)
    ys, xs = rng.integers(0, p - c + 1, size=(2, n * self.count))[:, rows]
    flips = (rng.random((2, n * self.count)) < 0.5)[:, rows]
    return assemble_batch(recs, ys, xs, c, flips[0] & self.hflip, flips[1] & self.vflip,
                          with_quantiser=self.with_quantiser)


class CentreBatch(grain.transforms.Map):
  """Records -> evaluation batch: centre crops, padded to ``batch_size`` with ``mask``."""

  def __init__(self, crop_size: int, batch_size: int, with_quantiser: bool = False):
    self.crop_size, self.batch_size = int(crop_size), int(batch_size)
    self.with_quantiser = bool(with_quantiser)

  def map(self, recs: Sequence[bytes]) -> dict[str, np.ndarray]:
    n, p = len(recs), _patch_size(recs[0])
    c = min(self.crop_size, p) if self.crop_size > 0 else p
    offset = np.full(n, (p - c) // 2)
    return assemble_batch(recs, offset, offset, c, batch_size=self.batch_size,
                          with_quantiser=self.with_quantiser)


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
    data_dir: the records root (``layout.data_dir``) or a dataset version directory.
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
  with_quantiser = bool(data.get("quantiser", False))
  if with_quantiser and not layout.has_quantiser(path):
    raise PipelineError(f"{path} holds {records.REBUILD_FOR_QP}.")
  seed = int(data.get("shuffle_seed", 0) if seed is None else seed)
  index = jax.process_index() if process_index is None else int(process_index)
  count = jax.process_count() if process_count is None else int(process_count)
  batch_size = per_process_batch_size(int(data.batch_size), count)
  crop = int(data.crop_size)

  weights = dict(data.get("codec_weights", None) or {})
  if weights and shuffle:
    groups, mix = _mixture_groups(weights, layout.rung_index(path, split))
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
  # Batch the serialized records, then parse + crop + flip once per batch: Grain's per-element
  # overhead (stats, RNG, tree ops) is paid per batch instead of per example.
  if shuffle:
    # Block ``index`` of every global batch: the processes' blocks, side by side on the mesh,
    # are the global batch one process would read, row for row.
    ds = ds.batch(batch_size, drop_remainder=True, batch_fn=list)
    ds = ds[:len(ds) // count * count][index::count]  # every process gets as many batches
    ds = ds.random_map(RandomBatch(crop, bool(data.get("hflip", True)),
                                   bool(data.get("vflip", False)), shard=(index, count),
                                   with_quantiser=with_quantiser),
                       seed=seed)
  else:
    # Records index, index + count, ... (``evaluation.record_batches`` relies on this order).
    ds = ds[index::count].batch(batch_size, drop_remainder=False, batch_fn=list)
    ds = ds.map(CentreBatch(crop, batch_size, with_quantiser))
  options = grain.ReadOptions(num_threads=int(data.get("grain_threads", 1)),
                              prefetch_buffer_size=int(data.get("prefetch", 2)))
  iter_ds = ds.to_iter_dataset(options)
  workers = int(data.get("grain_workers", 0))
  if workers > 0:
    if not flags.FLAGS.is_parsed():
      # Grain's worker processes read absl flags; outside absl.app.run (notebooks, tests) mark
      # them parsed so the defaults apply instead of failing inside a worker.
      logging.info("absl flags not parsed: marking them parsed for Grain's worker processes.")
      flags.FLAGS.mark_as_parsed()
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
  if data.get("quantiser", False):
    spec["qp_map"] = ((b, c, c), np.dtype(np.uint8))
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
