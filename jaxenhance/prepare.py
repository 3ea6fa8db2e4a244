r"""Build the pre-encoded patch records of a config (TFDS ``array_record`` dataset).

  python -m jaxenhance.prepare --config=configs/quickstart.py --workdir=/tmp/x
  python -m jaxenhance.prepare --config=configs/quickstart.py --workdir=/tmp/x \
      --beam --beam_options=--runner=DirectRunner

Records go to ``config.data.data_dir`` or ``<workdir>/records`` (either may be ``gs://``) under
``jaxenhance_patches/<config name>/1.0.0``; an existing complete build of the same settings is
reused. The summary gives examples and bytes per split, examples per codec and rung, and where
the time went (codec round trips vs everything else). Beam runners for real corpora (Dataflow,
Spark, Flink): see ``jaxenhance/data/builder.py``.

Library use: ``jaxenhance.data.builder.build_dataset(config, workdir) -> path`` (this module's
``build_dataset`` is the same function).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from absl import app, flags
from ml_collections import config_flags

from jaxenhance import cloud, config_loader, errors
from jaxenhance.data import builder as builder_lib
from jaxenhance.data import layout

build_dataset = builder_lib.build_dataset

_FLAGS: dict[str, Any] = {}


def _define_flags() -> None:
  """Command-line flags, defined only when this module is the program: ``jaxenhance.run`` (or a
  benchmark) imports it next to its own ``--config``/``--workdir`` flags."""
  _FLAGS.update(
      config=config_flags.DEFINE_config_file(
          "config", str(config_loader.config_path("quickstart")), "Run config."),
      workdir=flags.DEFINE_string("workdir", None,
                                  "Work directory (records in <workdir>/records)."),
      num_workers=flags.DEFINE_integer(
          "num_workers", None, "Local encoding processes (default: config.data.num_workers)."),
      beam=flags.DEFINE_boolean("beam", False, "Generate with Apache Beam instead of locally."),
      beam_options=flags.DEFINE_list("beam_options", ["--runner=DirectRunner"],
                                     "Beam pipeline flags, comma separated (with --beam)."),
  )


def summarize(builder: builder_lib.JaxenhancePatches, seconds: float) -> dict[str, Any]:
  """Examples/bytes per split, examples per codec and rung, and the time split."""
  path = builder_lib.dataset_path(builder)
  summary: dict[str, Any] = {"path": str(path), "config": builder.builder_config.name,
                             "seconds": round(seconds, 2), "splits": {}}
  for split in layout.SPLITS:
    info = builder.info.splits[split]
    rungs = {k: len(v) for k, v in layout.rung_index(path, split).items()}
    codecs = Counter()
    for rung, n in rungs.items():
      codecs[rung.split("_")[0]] += n
    summary["splits"][split] = {"examples": int(info.num_examples),
                                "bytes": int(info.num_bytes),
                                "per_codec": dict(sorted(codecs.items())), "per_rung": rungs}
  if builder.stats:  # a fresh local build (not a reused dataset, not Beam)
    stats = list(builder.stats.values())
    encode = sum(s.encode_seconds for s in stats)
    summary["time"] = {
        "wall": round(seconds, 2),
        "load_sources": round(sum(s.load_seconds for s in stats), 2),
        "encoder (summed over jobs)": round(encode, 2),
        "cut patches (summed over jobs)": round(sum(s.cut_seconds for s in stats), 2),
        "tfds serialize (writer process)": round(sum(s.write_seconds for s in stats), 2),
    }
    summary["encoded_bytes"] = sum(sum(s.encoded_bytes.values()) for s in stats)
  return summary


def print_summary(summary: dict[str, Any]) -> None:
  print(f"records: {summary['path']}  ({summary['seconds']} s)")
  for split, s in summary["splits"].items():
    print(f"  {split:5s}: {s['examples']:7d} examples, {s['bytes'] / 1e6:8.1f} MB; per codec "
          + ", ".join(f"{k} {v}" for k, v in s["per_codec"].items()))
  if "time" in summary:
    print("  time: " + ", ".join(f"{k} {v}" for k, v in summary["time"].items()))


def run_stage(config: Any, workdir: str | Path, *, num_workers: int | None = None,
              beam_options: list[str] | None = None) -> dict[str, Any]:
  """Builds the records and returns the summary (the ``prepare`` stage of ``jaxenhance.run``)."""
  start = time.perf_counter()
  builder = builder_lib.build(config, workdir, num_workers=num_workers,
                              beam_options=beam_options)
  summary = summarize(builder, time.perf_counter() - start)
  print_summary(summary)
  return summary


def main(argv: list[str]) -> None:
  del argv
  workdir = _FLAGS["workdir"].value
  if not workdir:
    raise app.UsageError("--workdir is required (records go to <workdir>/records).")
  beam_options = _FLAGS["beam_options"].value if _FLAGS["beam"].value else None
  try:
    cloud.check_bucket(workdir, "--workdir")
    summary = run_stage(_FLAGS["config"].value, workdir, num_workers=_FLAGS["num_workers"].value,
                        beam_options=beam_options)
  except errors.USER_ERRORS as exc:
    # Bad sources or settings, a full disk: the message says what to do; no traceback. TFDS
    # has already removed its incomplete.* directory, so nothing half-built is left behind.
    errors.exit_on_error("prepare", exc)
  except RuntimeError as exc:
    if "No space left on device" not in str(exc):  # ArrayRecord reports ENOSPC this way
      raise
    errors.exit_on_error("prepare", exc)
  out = cloud.makedirs(workdir) / "prepare_summary.json"
  out.write_text(json.dumps(summary, indent=1))


def cli() -> None:
  """The program (``jaxenhance prepare`` or ``python -m jaxenhance.prepare``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  _define_flags()
  app.run(main)


if __name__ == "__main__":
  cli()
