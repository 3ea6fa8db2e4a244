"""Where patch records live and what identifies them; read by the builder and the pipeline.

A records build is identified by its ``RecordSpec``: every setting that changes the records
(sources, sizes, ladder, patch placement) is hashed into the config name, so records live at
``<data_dir>/jaxenhance_patches/<p{patch}_t{T}_{hash}>/<RECORDS_VERSION>/`` and a changed config
never reuses stale records. Records with the decoder's QP map (``data.quantiser``) are such a
change: the flag is in the hash (only when on, so every earlier build keeps its name) and the
features (``features.json`` lists ``qp_map``); RECORDS_VERSION stays, since bumping it would
orphan every build without the map. ``has_quantiser`` tells a reader which kind it holds. ``data_dir(config, workdir)`` is ``config.data.data_dir`` or
``<workdir>/records``; ``version_dir`` is the directory a finished build holds;
``is_complete`` tells a finished build from an interrupted one (TFDS renames its
``incomplete.*`` directory into place only at the end). ``rung_index`` lists each ladder rung's
records of a split (cached beside the shards). Every path here may be ``gs://``
(:mod:`jaxenhance.cloud`).

The writer (``builder.py``) and the reader (``pipeline.py``) both import this module; neither
imports the other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import Any

import numpy as np

from jaxenhance import atomic_write, cloud, codecs
from jaxenhance.data import records

DATASET_NAME = "jaxenhance_patches"  # the TFDS builder's name (builder.JaxenhancePatches)
SPLITS = ("train", "test")
RECORDS_VERSION = "1.0.0"


@dataclasses.dataclass(frozen=True)
class RecordSpec:
  """Everything that determines the content of the records (hashed into the config name)."""
  train_sources: tuple[str, ...]
  test_sources: tuple[str, ...]
  max_height: int
  max_frames: int
  fps: float
  ladder: tuple[tuple[str, str, tuple[int, ...], str | None], ...]  # codec, param, values, preset
  gop: int
  preset: str
  patches: records.PatchSettings
  skip_unreadable: bool = False  # skip unreadable files of dir:/photodir: sources
  photo_heights: tuple[int, ...] = ()  # animate each photo at these frame heights (sources.py)
  quantiser: bool = False  # also store the decoder's QP map of each patch (records.py)

  @classmethod
  def from_config(cls, config: Any) -> RecordSpec:
    """Reads ``config.data``; the patch jitter is seeded by ``data.patch_seed`` (-1 or absent:
    ``config.seed``), so runs of several seeds can share one records build."""
    data = config.data
    patch_seed = int(data.get("patch_seed", -1))
    patch_seed = int(config.get("seed", 0)) if patch_seed < 0 else patch_seed
    ladder = tuple(
        (str(e["codec"]), str(e["param"]), tuple(int(v) for v in e["values"]),
         e.get("preset", None)) for e in data.ladder)
    return cls(
        train_sources=tuple(data.train_sources),
        test_sources=tuple(data.test_sources),
        max_height=int(data.max_height),
        max_frames=int(data.max_frames),
        fps=float(data.fps),
        ladder=ladder,
        gop=int(data.gop),
        preset=str(data.preset or ""),
        patches=records.PatchSettings.from_config(data, seed=patch_seed),
        skip_unreadable=bool(data.get("skip_unreadable", False)),
        photo_heights=tuple(int(h) for h in data.get("photo_heights", ())),
        quantiser=bool(data.get("quantiser", False)),
    )

  def rungs(self) -> list[codecs.EncodeSettings]:
    ladder = [{"codec": c, "param": p, "values": v, "preset": s} for c, p, v, s in self.ladder]
    return records.ladder_settings(ladder, preset=self.preset, gop=self.gop)

  def sources(self, split: str) -> tuple[str, ...]:
    return {"train": self.train_sources, "test": self.test_sources}[split]

  def to_json(self) -> str:
    settings = dataclasses.asdict(self)
    # Absent when off: records built before these options keep their hashes.
    for name in ("skip_unreadable", "photo_heights", "quantiser"):
      if not settings[name]:
        del settings[name]
    return json.dumps(settings, sort_keys=True)

  @property
  def config_name(self) -> str:
    digest = hashlib.sha256(self.to_json().encode()).hexdigest()[:10]
    return f"p{self.patches.patch_size}_t{self.patches.temporal_window}_{digest}"

  def check(self) -> None:
    """Raises ``records.RecordError`` for settings that cannot build (before any encoding)."""
    self.rungs()  # validates the ladder
    for split in SPLITS:
      if not self.sources(split):
        raise records.RecordError(f"data.{split}_sources is empty; give at least one source.")
    from jaxenhance.suite import items as suite_items  # plain data: the suite's reserved files

    reserved = suite_items.suite_sources_in(self.train_sources)
    if reserved:
      raise records.RecordError(
          f"data.train_sources {reserved} read items of the held-out suite "
          "(jaxenhance/suite/items.py); training must never see them: drop those sources.")
    from jaxenhance.data import corpus  # a corpus file is read only after its checksum passes

    corpus.verify_specs(self.train_sources + self.test_sources)
    both = sorted(set(self.train_sources) & set(self.test_sources))
    if both:
      raise records.RecordError(
          f"sources {both} are in both data.train_sources and data.test_sources; splits are by "
          "source clip, so each source belongs to one split.")


def data_dir(config: Any, workdir: str | os.PathLike) -> cloud.AnyPath:
  """``config.data.data_dir`` or ``<workdir>/records``."""
  return cloud.path(config.data.get("data_dir", "") or cloud.path(workdir) / "records")


def version_dir(config: Any, root: str | os.PathLike) -> cloud.AnyPath:
  """Where ``config``'s finished records are under the records root ``root``."""
  spec = RecordSpec.from_config(config)
  return cloud.path(root) / DATASET_NAME / spec.config_name / RECORDS_VERSION


def is_complete(path: str | os.PathLike) -> bool:
  """True if ``path`` is a finished dataset version directory (what TFDS renames into place)."""
  path = cloud.path(path)
  return (not path.name.startswith("incomplete.") and (path / "dataset_info.json").is_file()
          and (path / "features.json").is_file())


def has_quantiser(path: str | os.PathLike) -> bool:
  """True if the finished records at ``path`` carry ``qp_map`` (built with ``data.quantiser``)."""
  features = json.loads((cloud.path(path) / "features.json").read_text())
  return "qp_map" in features.get("featuresDict", {}).get("features", {})


def rung_index(path: str | os.PathLike, split: str) -> dict[str, np.ndarray]:
  """Record indices of each ladder rung in ``split`` (cached in ``rungs-<split>.npz``).

  Used to mix codecs/qualities by weight and to count examples per rung. Computed by one pass
  over the records' metadata the first time, then read from the cache.
  """
  path = cloud.path(path)
  cache = path / f"rungs-{split}.npz"
  if cache.is_file():
    with np.load(io.BytesIO(cache.read_bytes()), allow_pickle=False) as data:
      return {k: data[k] for k in data.files}
  import tensorflow_datasets as tfds  # the reader of TFDS's own files

  source = tfds.builder_from_directory(os.fspath(path)).as_data_source(
      split, deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES)
  rungs: dict[str, list[int]] = {}
  feature_cls = records._example_proto()  # pylint: disable=protected-access
  for i in range(len(source)):
    feature = feature_cls.FromString(source[i]).features.feature
    rungs.setdefault(feature["rung"].bytes_list.value[0].decode(), []).append(i)
  index = {k: np.asarray(v, np.int64) for k, v in sorted(rungs.items())}
  with atomic_write.outputs(cache) as (tmp,), open(tmp, "wb") as f:
    np.savez(f, **index)
  return index
