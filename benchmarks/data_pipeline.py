r"""Data benchmarks: (b) record preparation time split, (a) Grain input throughput.

  python benchmarks/data_pipeline.py --workdir=/tmp/jaxenhance_bench
  python benchmarks/data_pipeline.py --workdir=/tmp/jaxenhance_bench --skip_build  # reuse

(b) Preparation: ``configs/default.py``'s data settings (the full 17-rung ladder, 128x128
patches, stride 96, frames every 4th, sources bikes + bigbuckbunny + 5 photos at <= 240 rows) with
``--max_frames`` frames per clip, built in-process (``num_workers=0``) so the parts add up:
time in the codec round trips vs everything else (loading sources, choosing positions, cutting
patches, TFDS encoding/serialization/writing). Target: overhead <= 30 % of encoder time.

(a) Throughput of ``pipeline.make_dataset`` on those records: 128x128 pairs cropped to 96x96,
batch 32, one process (target >= 3,000 pairs/s), with a breakdown per stage measured on its own
(reading the serialized record, parsing it, cropping/flipping, batching) and, for comparison,
TFDS's own decoding of the same records.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import numpy as np
from absl import app, flags

_WORKDIR = flags.DEFINE_string("workdir", "/tmp/jaxenhance_bench", "Where records go.")
_MAX_FRAMES = flags.DEFINE_integer("max_frames", 24, "Frames per source clip.")
_SKIP_BUILD = flags.DEFINE_boolean("skip_build", False, "Reuse records built before.")
_BATCHES = flags.DEFINE_integer("batches", 150, "Batches timed for throughput.")

ROOT = Path(__file__).resolve().parents[1]


def bench_config():
  spec = importlib.util.spec_from_file_location("default_cfg", ROOT / "configs/default.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  c.data.max_frames = _MAX_FRAMES.value
  c.data.num_workers = 0
  c.data.crop_size = 96
  c.data.batch_size = 32
  c.data.grain_workers = 0
  return c


def rate(fn, n: int) -> float:
  """Items per CPU-second of calling fn(i) for i < n (CPU time: robust to other jobs)."""
  start = time.process_time()
  for i in range(n):
    fn(i)
  return n / (time.process_time() - start)


def main(argv):
  del argv
  import tensorflow_datasets as tfds

  from jaxenhance import prepare
  from jaxenhance.data import builder, layout, pipeline, records

  config = bench_config()
  workdir = Path(_WORKDIR.value)
  print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

  # ------------------------------------------------------------------ (b) preparation
  if not _SKIP_BUILD.value:
    start = time.perf_counter()
    b = builder.build(config, workdir, num_workers=0)
    wall = time.perf_counter() - start
    summary = prepare.summarize(b, wall)
    prepare.print_summary(summary)
    if b.stats:
      encode = sum(s.encode_seconds for s in b.stats.values())
      rest = wall - encode
      print(f"(b) preparation: wall {wall:.1f} s = encoder {encode:.1f} s + rest {rest:.1f} s "
            f"-> overhead {100 * rest / encode:.1f} % of encoder time")
      for name in ("load_seconds", "cut_seconds", "write_seconds"):
        print(f"      {name:14s} {sum(getattr(s, name) for s in b.stats.values()):6.2f} s")
      parts = sum(s.load_seconds + s.cut_seconds + s.write_seconds for s in b.stats.values())
      print(f"      other (TFDS shuffle/shard writing, info) {rest - parts:6.2f} s")
      n = sum(summary["splits"][s]["examples"] for s in summary["splits"])
      print(f"      {n} examples; {1e3 * sum(s.write_seconds for s in b.stats.values()) / n:.3f} "
            "ms/example in TFDS encode+serialize")

  # ------------------------------------------------------------------ (a) throughput
  path = pipeline.dataset_dir(config, layout.data_dir(config, workdir))
  raw = pipeline.data_source(path, "train")
  n = len(raw)
  print(f"\n(a) pipeline throughput on {n} train records of 128x128 (crop 96, batch 32)")
  order = np.random.default_rng(0).permutation(n)
  m = min(n, 3000)
  read = rate(lambda i: raw[int(order[i])], m)
  blobs = [raw[int(order[i])] for i in range(m)]
  parse_meta = rate(lambda i: records.parse_record(blobs[i]), m)
  parse_px = rate(lambda i: records.parse_record(blobs[i], metadata=False), m)
  augment = pipeline.RandomBatch(96)
  rng = np.random.default_rng(0)
  batches = [blobs[32 * j:32 * j + 32] for j in range(m // 32)]
  assemble = 32 * rate(lambda i: augment.random_map(batches[i % len(batches)], rng),
                       len(batches))
  no_flip = pipeline.RandomBatch(96, hflip=False)
  assemble_noflip = 32 * rate(lambda i: no_flip.random_map(batches[i % len(batches)], rng),
                              len(batches))
  decoded = tfds.builder_from_directory(os.fspath(path)).as_data_source("train")
  tfds_rate = rate(lambda i: decoded[int(order[i])], min(m, 1000))
  print("  per stage, alone (items per CPU-second):")
  print(f"    read record {read:8.0f}/s   parse (pixels+metadata) "
        f"{parse_meta:8.0f}/s   parse (pixels only) {parse_px:8.0f}/s")
  print(f"    batch assembly (parse + crop + flips + copy) {assemble:8.0f}/s"
        f"   (without horizontal flips {assemble_noflip:8.0f}/s)")
  print(f"    [TFDS's own decoding of a record instead of parse: "
        f"{tfds_rate:.0f}/s]")
  per = {"read": 1 / read, "parse": 1 / parse_meta, "crop+flip+copy": 1 / assemble
         - 1 / parse_meta}
  total = sum(per.values())
  print("  share of the per-pair cost: " + ", ".join(
      f"{k} {100 * v / total:.0f} %" for k, v in per.items())
        + f" (sum {1e6 * total:.0f} us/pair -> {1 / total:.0f} pairs per CPU-second before "
        "Grain's own overhead)")

  for threads, workers, hflip in ((0, 0, True), (1, 0, True), (2, 0, True), (0, 0, False),
                                 (0, 2, True)):
    config.data.grain_threads, config.data.grain_workers = threads, workers
    config.data.hflip = hflip
    it = iter(pipeline.make_dataset(config, layout.data_dir(config, workdir)))
    for _ in range(5 if workers == 0 else 20):  # warm up (workers: spawn + fill)
      next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(_BATCHES.value):
      batch = next(it)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert batch["gt"].shape == (32, 96, 96, 3)
    pairs = 32 * _BATCHES.value / seconds
    # CPU time of this process: what the pipeline costs when it has a core to itself (the
    # wall-clock rate drops when other jobs share the 2 cores). Not meaningful with workers.
    per_cpu = 32 * _BATCHES.value / cpu if workers == 0 else float("nan")
    print(f"  make_dataset  grain_threads={threads} grain_workers={workers} hflip={hflip:d}: "
          f"{pairs:6.0f} pairs/s wall, {per_cpu:6.0f} pairs per CPU-second "
          f"[target 3,000/s: {'PASS' if max(pairs, per_cpu) >= 3000 else 'below'}]")
    if hasattr(it, "close"):
      it.close()
  print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
  app.run(main)
