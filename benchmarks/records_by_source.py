"""Patch pairs per corpus package of a records build (the README's data table), and the Grain
pipeline's throughput on it.

  .venv/bin/python benchmarks/records_by_source.py [--config=flagship:content]
      [--data_dir=workdir/flagship/records] [--batches 200]

Counts each training clip's patch positions exactly as the builder chooses them
(``records.patch_positions`` on the same clips), times the ladder's rungs, groups them by corpus
package, and checks the total against the example count the finished build's
``dataset_info.json`` reports (when the records exist under ``--data_dir``). Then it times
``--batches`` training batches of ``pipeline.make_dataset`` over the build (the config's crop and
batch size, one process), after one warm-up batch.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from jaxenhance import config_loader, debian_packages
from jaxenhance.data import corpus, layout, pipeline, records, sources


def package_of(source_id: str) -> str:
  for name in corpus.PACKAGES:
    if str(debian_packages.package_root(name)) in source_id:
      return name
  return source_id


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="flagship:content")
  parser.add_argument("--data_dir", default="workdir/flagship/records")
  parser.add_argument("--batches", type=int, default=200)
  args = parser.parse_args()
  config = config_loader.load_config(args.config)
  spec = layout.RecordSpec.from_config(config)
  clips = sources.resolve_sources(list(spec.train_sources), max_frames=spec.max_frames,
                                  max_height=spec.max_height, fps=spec.fps,
                                  seed=spec.patches.seed, photo_heights=spec.photo_heights)
  rungs = len(spec.rungs())
  per_package: Counter = Counter()
  for clip in clips:
    per_package[package_of(clip.source_id)] += len(
        records.patch_positions(clip.frames, clip.source_id, spec.patches)) * rungs
  total = sum(per_package.values())
  out = {"config": args.config, "rungs": rungs, "clips": len(clips), "total": total,
         "per_package": dict(per_package.most_common())}
  info = layout.version_dir(config, args.data_dir) / "dataset_info.json"
  if info.is_file():
    splits = json.loads(info.read_text())["splits"]
    built = sum(int(n) for s in splits if s["name"] == "train" for n in s["shardLengths"])
    out["records_train_examples"] = built
    out["matches_records"] = built == total
    batches = iter(pipeline.make_dataset(config, args.data_dir))
    next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
      next(batches)
    seconds = time.perf_counter() - start
    batch = int(config.data.batch_size)
    out["grain"] = {"batch": batch, "crop": int(config.data.crop_size),
                    "pairs_per_s": round(args.batches * batch / seconds, 1)}
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
