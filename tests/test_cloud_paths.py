"""``gs://`` paths end to end, against a local Google Cloud Storage API (``gcs_emulator.py``).

Through the code a user's job runs: patch records built into ``gs://bucket/records`` and read
back by Grain, the trainer on ``--workdir=gs://bucket/run`` (Orbax saves, a second run restores
and resumes), the export and an evaluation written there, and the bad input that must stop with
one line and no local ``gs:`` folder (a missing bucket, no answer from GCS).

The clients, pointed at the emulator: gcsfs (etils.epath, with ``EPATH_USE_TF=false``: every
file the project and TFDS write), TensorStore (Orbax's array data), google-cloud-cpp
(ArrayRecord's shard reader). TensorFlow's own GCS client cannot be pointed at an emulator (its
endpoints are compiled in), so TensorBoard summaries, which only it writes, are off here: the
trainer's writer only logs.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gcs_emulator
import numpy as np
import pytest
from etils import epath
from etils.epath import backend as epath_backend
from etils.epath import gpath
from train_helpers import tiny_config

from jaxenhance import cloud, evaluate, export, train
from jaxenhance.data import builder, layout, pipeline, records

# Looked up, not imported: gcsfs reads its environment when first imported (the fixture's).
pytestmark = pytest.mark.skipif(
    not (importlib.util.find_spec("gcp_storage_emulator") and importlib.util.find_spec("gcsfs")),
    reason="gcp-storage-emulator or gcsfs is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[1]
RECORDS, RUN = "gs://bucket/records", "gs://bucket/run"


def _forget_clients() -> None:
  """Drops cached GCS clients and checks, so the next use reads the environment afresh."""
  import fsspec
  import gcsfs.core

  # The plain client: gcsfs's zonal-bucket variant (the default where gcsfs was imported before
  # GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false) asks a gRPC API the emulator does not have.
  for protocol in ("gcs", "gs"):
    fsspec.register_implementation(protocol, gcsfs.core.GCSFileSystem, clobber=True)
  gcsfs.core.GCSFileSystem.clear_instance_cache()
  # etils caches its backend choice (EPATH_USE_TF) and its gcsfs client.
  epath_backend.fsspec_backend._get_filesystem.cache_clear()
  gpath._is_tf_installed.cache_clear()
  cloud._REACHED.clear()  # pylint: disable=protected-access


@pytest.fixture(scope="module")
def gcs():
  """The emulator with ``gs://bucket``, and this process's clients pointed at it."""
  import fsspec.config

  emulator = gcs_emulator.Emulator("bucket")
  saved = fsspec.config.conf.get("gcs")
  try:
    with gcs_emulator.environ({**emulator.env, "JAXENHANCE_GCS_TIMEOUT": "10"}):
      # FSSPEC_GCS_TOKEN is read when fsspec is imported, which may have happened already.
      fsspec.config.conf["gcs"] = {**(saved or {}), "token": "anon"}
      _forget_clients()
      # gcsfs, not TensorFlow's client, which would try the real endpoints.
      assert epath.Path("gs://bucket")._backend is epath_backend.fsspec_backend
      yield emulator
  finally:
    if saved is None:
      fsspec.config.conf.pop("gcs", None)
    else:
      fsspec.config.conf["gcs"] = saved
    _forget_clients()
    emulator.stop()


@pytest.fixture(scope="module")
def gcs_records(gcs):
  """Tiny patch records built straight into gs://bucket/records."""
  config = tiny_config(RECORDS)
  path = builder.build_dataset(config, "gs://bucket/unused-workdir", num_workers=1)
  return config, path


@pytest.fixture()
def no_summaries(monkeypatch):
  """TensorBoard summaries need TensorFlow's GCS client, which cannot reach the emulator."""
  from clu import metric_writers

  create = metric_writers.create_default_writer
  monkeypatch.setattr(metric_writers, "create_default_writer",
                      lambda logdir, **kw: create(logdir, **{**kw, "just_logging": True}))


def test_records_build_into_gcs_and_grain_reads_them(gcs_records):
  config, path = gcs_records
  assert str(path).startswith(RECORDS + "/") and cloud.is_cloud(path)
  assert layout.is_complete(path)
  assert str(pipeline.dataset_dir(config, RECORDS)) == str(path)
  source = pipeline.data_source(path, "train")
  example = records.parse_record(source[0])
  assert example["gt"].shape == (32, 32, 3) and example["lq"].shape == (1, 32, 32, 3)
  rungs = layout.rung_index(path, "train")  # computed, then cached beside the shards on GCS
  assert (path / "rungs-train.npz").is_file()
  assert sorted(rungs) == ["h264_qp40", "jpeg_qf10"]
  assert layout.rung_index(path, "train").keys() == rungs.keys()  # read back from the cache
  # One whole pass (nothing left prefetching from GCS when the emulator stops).
  batches = list(pipeline.make_dataset(config, RECORDS, split="test", shuffle=False,
                                       repeat=False))
  assert sum(int(b["mask"].sum()) for b in batches) == len(pipeline.data_source(path, "test"))
  assert batches[0]["lq"].shape == (8, 1, 32, 32, 3) and batches[0]["lq"].dtype == np.uint8


def test_train_saves_to_gcs_and_resumes_then_exports_and_evaluates(
    gcs_records, no_summaries, tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # a gs: folder made by mistake would appear here
  del gcs_records  # built: the config's records are in gs://bucket/records
  config = tiny_config(RECORDS)
  config.train.update(steps=2, checkpoint_every=2, image_summary_every=2, log_every=1)
  first = train.train_and_evaluate(config, RUN)
  assert first["last_step"] == 2
  run = epath.Path(RUN)
  assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2"]
  assert (run / "config.json").is_file() and (run / "export" / export.PARAMS_FILE).is_file()

  config.train.steps = 4
  second = train.train_and_evaluate(config, RUN)
  assert second["first_step"] == 2 and second["last_step"] == 4
  assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["2", "4"]
  _, _, meta = export.load_generator(RUN)  # a work directory holding export/
  assert meta["step"] == 4

  results = evaluate.evaluate_checkpoint(config, RUN, metrics=("psnr",), max_examples=8)
  assert results["data"] == RECORDS and np.isfinite(results["overall"]["enhanced"]["psnr"])
  files = evaluate.write_results(results, RUN + "/eval")
  assert files["json"] == RUN + "/eval/results.json"
  assert {"results.json", "results.md", "metrics.png"} <= {
      p.name for p in (run / "eval").iterdir()}
  assert not list(tmp_path.iterdir()), "something was written locally"


def _train_cli(env: dict, cwd: Path, workdir: str) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-m", "jaxenhance.train",
       f"--config={ROOT / 'jaxenhance' / 'configs' / 'quickstart.py'}", f"--workdir={workdir}",
       "--dry_run"],
      env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd=cwd, capture_output=True,
      text=True, timeout=120, check=False)


def _error_lines(result: subprocess.CompletedProcess) -> list[str]:
  return [line for line in result.stderr.splitlines() if line.startswith("jaxenhance train:")]


def test_missing_bucket_is_one_line_and_makes_nothing(gcs, tmp_path):
  result = _train_cli({**gcs.env, "JAXENHANCE_GCS_TIMEOUT": "20"}, tmp_path,
                      "gs://no-such-bucket/run1")
  assert result.returncode == 2, result.stderr[-2000:]
  assert _error_lines(result) == [(
      "jaxenhance train: error: --workdir gs://no-such-bucket/run1: bucket gs://no-such-bucket "
      "does not exist (or these credentials cannot see it); create it (gcloud storage buckets "
      "create gs://no-such-bucket) or fix the path")]
  assert "Traceback" not in result.stderr
  assert not list(tmp_path.iterdir())  # no local gs:/no-such-bucket/run1
  assert not epath.Path("gs://no-such-bucket").exists()  # and no bucket made on the way


def test_unreachable_gcs_is_one_line_within_the_timeout(tmp_path):
  nobody = "http://" + gcs_emulator.CLOSED  # nothing listens: as without network
  result = _train_cli({**gcs_emulator.client_env(nobody), "JAXENHANCE_GCS_TIMEOUT": "2"},
                      tmp_path, "gs://bucket/run1")
  assert result.returncode == 2, result.stderr[-2000:]
  lines = _error_lines(result)
  assert len(lines) == 1 and lines[0].startswith(
      "jaxenhance train: error: --workdir gs://bucket/run1: no answer from Google Cloud Storage "
      "about gs://bucket within 2 s; check the network and the credentials"), lines
  assert "Traceback" not in result.stderr
  assert not list(tmp_path.iterdir())
