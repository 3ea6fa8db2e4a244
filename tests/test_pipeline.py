"""Grain pipeline over real patch records: shapes, crops, determinism, resume, shards, mixing,
padding of the last evaluation batch, and global batches on an 8-device CPU mesh."""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaxenhance.data import builder, pipeline, records
from jaxenhance.data import layout

ROOT = Path(__file__).resolve().parents[1]


def tiny_config():
  spec = importlib.util.spec_from_file_location("quickstart_cfg", ROOT / "configs/quickstart.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  d = c.data
  d.train_sources = ("photo:astronaut",)
  d.test_sources = ("sample:carphone",)
  d.max_height, d.max_frames = 64, 6
  d.ladder = [{"codec": "h264", "param": "qp", "values": [37]},
              {"codec": "jpeg", "param": "qf", "values": [20]}]
  d.patch_size, d.patch_stride, d.patch_jitter, d.frame_step = 32, 16, 4, 2
  d.skip_flat_std = 0.0
  d.num_workers = 0
  d.temporal_window = 3
  d.crop_size, d.batch_size = 24, 4
  return c


@pytest.fixture(scope="module")
def built(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("pipeline")
  config = tiny_config()
  builder.build_dataset(config, workdir)
  return config, layout.data_dir(config, workdir)


def _take(ds, n):
  it = iter(ds)
  return [next(it) for _ in range(n)]


def test_batches_match_the_spec(built):
  config, data_dir = built
  batch = _take(pipeline.make_dataset(config, data_dir), 1)[0]
  spec = pipeline.batch_spec(config, data_dir)
  assert set(batch) == set(spec)
  for k, (shape, dtype) in spec.items():
    assert batch[k].shape == shape and batch[k].dtype == dtype, k
  assert batch["lq"].shape == (4, 3, 24, 24, 3)
  assert set(batch["codec"]) <= {0, 4}  # h264, jpeg (codecs.CODECS order)


def test_random_crops_and_flips_keep_lq_and_gt_aligned(built):
  config, data_dir = built
  path = pipeline.dataset_dir(config, data_dir)
  source = pipeline.data_source(path, "train")
  recs = [source[i] for i in range(0, len(source), max(1, len(source) // 12))]
  batch = pipeline.RandomBatch(20, hflip=True, vflip=True).random_map(
      recs, np.random.default_rng(0))
  assert batch["gt"].shape == (len(recs), 20, 20, 3)
  assert batch["lq"].shape == (len(recs), 3, 20, 20, 3)
  flips = set()
  for i, rec in enumerate(recs):
    full = records.parse_record(rec)
    assert batch["value"][i] == full["value"]
    # Find the crop and flip that produce gt; lq must have had exactly the same.
    found = False
    for hf in (False, True):
      for vf in (False, True):
        g, l = full["gt"], full["lq"]
        if hf:
          g, l = g[:, ::-1], l[:, :, ::-1]
        if vf:
          g, l = g[::-1], l[:, ::-1]
        for y in range(13):
          for x in range(13):
            if np.array_equal(g[y:y + 20, x:x + 20], batch["gt"][i]):
              np.testing.assert_array_equal(l[:, y:y + 20, x:x + 20], batch["lq"][i])
              found = True
              flips.add((hf, vf))
    assert found
  assert len(flips) > 1


def test_same_seed_same_batches_other_seed_other_batches(built):
  config, data_dir = built
  a = _take(pipeline.make_dataset(config, data_dir, seed=1), 3)
  b = _take(pipeline.make_dataset(config, data_dir, seed=1), 3)
  c = _take(pipeline.make_dataset(config, data_dir, seed=2), 3)
  for x, y in zip(a, b):
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])
  assert not all(np.array_equal(x["gt"], y["gt"]) for x, y in zip(a, c))


def test_iterator_state_restores_exactly(built):
  config, data_dir = built
  ds = pipeline.make_dataset(config, data_dir)
  it = iter(ds)
  for _ in range(len(pipeline.data_source(pipeline.dataset_dir(config, data_dir), "train")) // 4
                 + 2):  # past the end of the first epoch
    next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(4)]
  resumed = iter(pipeline.make_dataset(config, data_dir))
  resumed.set_state(json.loads(json.dumps(state)) if isinstance(state, dict) else state)
  for want in expected:
    got = next(resumed)
    for k in want:
      np.testing.assert_array_equal(got[k], want[k])


def _keys(batches):
  out = []
  for b in batches:
    for i in np.flatnonzero(b["mask"]):
      out.append(b["gt"][i].tobytes() + b["lq"][i].tobytes())
  return out


def test_process_shards_are_disjoint_and_cover_the_split(built):
  config, data_dir = built
  n = len(pipeline.data_source(pipeline.dataset_dir(config, data_dir), "test"))
  whole = _keys(pipeline.make_dataset(config, data_dir, "test", shuffle=False, repeat=False,
                                      process_index=0, process_count=1))
  parts = [_keys(pipeline.make_dataset(config, data_dir, "test", shuffle=False, repeat=False,
                                       process_index=i, process_count=2)) for i in range(2)]
  assert len(whole) == n
  assert not set(parts[0]) & set(parts[1])
  assert sorted(parts[0] + parts[1]) == sorted(whole)
  with pytest.raises(pipeline.PipelineError, match="not divisible"):
    pipeline.make_dataset(config, data_dir, process_index=0, process_count=3)


def test_evaluation_pads_the_last_batch_with_a_mask(built):
  config, data_dir = built
  batches = list(pipeline.make_dataset(config, data_dir, "test", shuffle=False, repeat=False))
  n = len(pipeline.data_source(pipeline.dataset_dir(config, data_dir), "test"))
  assert all(b["gt"].shape[0] == 4 for b in batches)
  assert sum(int(b["mask"].sum()) for b in batches) == n
  assert set(pipeline.batch_spec(config, train=False)) == set(batches[0])


def test_codec_weights_mix_in_proportion(built):
  config, data_dir = built
  config = config.copy_and_resolve_references()
  config.data.codec_weights = {"jpeg": 0.8, "h264_qp37": 0.2}
  codes = np.concatenate([b["codec"] for b in _take(pipeline.make_dataset(config, data_dir),
                                                    50)])
  share = np.mean(codes == 4)
  assert 0.7 < share < 0.9
  config.data.codec_weights = {"av1": 1.0}
  with pytest.raises(pipeline.PipelineError, match="only the rungs"):
    pipeline.make_dataset(config, data_dir)


@pytest.fixture(scope="module")
def built_qp(tmp_path_factory):
  """Records with the decoder's QP map; x264 CRF (adaptive quantisation) varies it per block."""
  workdir = tmp_path_factory.mktemp("pipeline_qp")
  config = tiny_config()
  config.data.quantiser = True
  config.data.test_sources = ("sample:carphone",)
  config.data.train_sources = ("sample:bikes",)
  config.data.ladder = [{"codec": "h264", "param": "crf", "values": [30]},
                        {"codec": "jpeg", "param": "qf", "values": [20]}]
  builder.build_dataset(config, workdir)
  return config, layout.data_dir(config, workdir)


def test_qp_maps_are_cropped_and_flipped_with_lq_and_gt(built_qp):
  config, data_dir = built_qp
  batch = _take(pipeline.make_dataset(config, data_dir), 1)[0]
  spec = pipeline.batch_spec(config)
  assert batch["qp_map"].shape == spec["qp_map"][0] == (4, 24, 24)
  source = pipeline.data_source(pipeline.dataset_dir(config, data_dir), "train")
  recs = [source[i] for i in range(len(source))]
  batch = pipeline.RandomBatch(20, hflip=True, vflip=True, with_quantiser=True).random_map(
      recs, np.random.default_rng(0))
  checked = flips = 0
  for i, rec in enumerate(recs):
    full = records.parse_record(rec, with_quantiser=True)
    if full["codec"] != "h264" or len(np.unique(full["qp_map"])) < 2:
      continue
    matches = []
    for hf in (False, True):
      for vf in (False, True):
        g, q = full["gt"], full["qp_map"]
        if hf:
          g, q = g[:, ::-1], q[:, ::-1]
        if vf:
          g, q = g[::-1], q[::-1]
        for y in range(13):
          for x in range(13):
            if np.array_equal(g[y:y + 20, x:x + 20], batch["gt"][i]):
              matches.append(q[y:y + 20, x:x + 20])
              flips += hf or vf
    assert any(np.array_equal(m, batch["qp_map"][i]) for m in matches), i
    checked += 1
  assert checked >= 4 and flips > 0
  centre = next(iter(pipeline.make_dataset(config, data_dir, "test", shuffle=False,
                                           repeat=False)))
  assert centre["qp_map"].shape == (4, 24, 24)
  assert (centre["qp_map"][~centre["mask"]] == 255).all()


def test_missing_records_say_how_to_build_them(tmp_path):
  with pytest.raises(pipeline.PipelineError, match="jaxenhance.prepare"):
    pipeline.make_dataset(tiny_config(), tmp_path)


_EIGHT_DEVICES = textwrap.dedent("""
    import json, sys
    import numpy as np
    from absl import app

    def main(argv):
      import jax
      from jaxenhance import sharding
      from jaxenhance.data import pipeline
      sys.path.insert(0, "{tests}")
      from test_pipeline import tiny_config
      config = tiny_config()
      config.data.batch_size = 8
      mesh = sharding.make_mesh([("data", -1)])
      host = next(iter(pipeline.make_dataset(config, "{data_dir}")))
      batch = pipeline.make_global_batch(host, mesh)
      explicit = jax.make_mesh((8,), ("data",))  # Explicit axis types (this JAX's default)
      batch2 = pipeline.make_global_batch(host, explicit)
      config.data.grain_workers = 1  # worker processes need absl flags parsed: app.run did
      worker = next(iter(pipeline.make_dataset(config, "{data_dir}")))
      out = dict(
          devices=jax.device_count(),
          shapes={{k: list(v.shape) for k, v in batch.items()}},
          shards=len(batch["lq"].addressable_shards),
          shard_shape=list(batch["lq"].addressable_shards[0].data.shape),
          equal=all(np.array_equal(np.asarray(batch[k]), host[k]) for k in host),
          equal_explicit=all(np.array_equal(np.asarray(batch2[k]), host[k]) for k in host),
          spec=str(batch["gt"].sharding.spec),
          worker_equal=all(np.array_equal(worker[k], host[k]) for k in host))
      print("RESULT" + json.dumps(out))

    if __name__ == "__main__":  # grain's worker processes re-import this file
      app.run(main)
""")


def test_global_batches_on_eight_cpu_devices(built, tmp_path):
  _config, data_dir = built
  script = tmp_path / "eight.py"
  script.write_text(_EIGHT_DEVICES.format(tests=ROOT / "tests", data_dir=data_dir))
  env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
         "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
  proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                        check=False, text=True, timeout=240)
  assert proc.returncode == 0, proc.stderr[-3000:]
  line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT")][-1]
  out = json.loads(line[len("RESULT"):])
  assert out["devices"] == 8
  assert out["shapes"]["lq"] == [8, 3, 24, 24, 3] and out["shapes"]["codec"] == [8]
  assert out["shards"] == 8 and out["shard_shape"] == [1, 3, 24, 24, 3]
  assert out["spec"] in ("P('data',)", "PartitionSpec('data',)")
  assert out["equal"] and out["equal_explicit"] and out["worker_equal"]
