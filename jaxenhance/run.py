r"""The main job: every stage of jaxenhance, in order, on one config.

  python -m jaxenhance.run --config=configs/quickstart.py --workdir=workdir/quickstart

Stages (``config.run.stages``; each one writes its outputs under the work directory and a line
into ``<workdir>/summary.json``):
  assets   locate and verify every pretrained asset and sample clip
  features VGG-16 and FID-InceptionV3 features of real sample frames; a picture of VGG maps
  prepare  pre-encoded patch records from real footage (TFDS + ArrayRecord)
  select   perceptual layer selection on VGG-16 (cached by its parameters)
  train    adversarial training against the perceptual critic
  evaluate held-out metrics of the enhanced output against the compressed input
  suite    the held-out suite of whole frames (``eval.suite``, ``eval.suite_rungs``) and the
           release gate's verdict on those rungs
  enhance  enhance a sample clip and write a side-by-side comparison

A stage that fails on bad input, a locked work directory or a full disk prints one line naming the
stage and exits with code 2 (the package's own errors and OS errors; anything else is a bug and
keeps its traceback).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from absl import app, flags, logging
from ml_collections import config_flags

from jaxenhance import (
  assets,
  cloud,
  config_loader,
  enhance,
  errors,
  evaluate,
  feature_maps,
  prepare,
  select_layers,
  train,
  xla_cache,
)

_CONFIG = config_flags.DEFINE_config_file(
    "config", str(config_loader.config_path("quickstart")), "Run config.")
_WORKDIR = flags.DEFINE_string("workdir", "workdir/quickstart", "Work directory.")


def _assets(config, workdir: Path) -> dict:
  del config, workdir
  if not assets.check_all(verbose=True):
    raise assets.AssetError("assets are missing (listed above): run ./launch/setup.sh")
  return {"cache": str(assets.cache_dir())}


# Each stage is the run_stage(config, workdir) -> summary dict of its program's module.
STAGES: dict[str, Callable[[Any, Path], dict]] = {
    "assets": _assets,
    "features": lambda config, workdir: feature_maps.describe_sample_features(workdir),
    "prepare": prepare.run_stage,
    "select": select_layers.run_stage,
    "train": train.run_stage,
    "evaluate": evaluate.run_stage,
    "suite": evaluate.run_suite_stage,
    "enhance": enhance.run_stage,
}


def main(argv: list[str]) -> None:
  del argv
  xla_cache.enable()
  config = _CONFIG.value
  workdir = cloud.path(_WORKDIR.value)
  try:
    cloud.check_bucket(workdir, "--workdir")
  except errors.USER_ERRORS as exc:
    errors.exit_on_error("run", exc)
  workdir = workdir if cloud.is_cloud(workdir) else workdir.resolve()
  cloud.makedirs(workdir)
  stages = list(config.run.stages) if "run" in config else list(STAGES)
  unknown = [s for s in stages if s not in STAGES]
  if unknown:
    raise app.UsageError(f"unknown stage(s) {unknown}; choose from {list(STAGES)}")
  summary: dict[str, Any] = {}
  for name in stages:
    start = time.perf_counter()
    logging.info("=== stage %s", name)
    print(f"\n=== {name}", flush=True)
    try:
      result = STAGES[name](config, workdir) or {}
    except errors.USER_ERRORS as exc:  # the project's own errors and the OS's say what to do
      errors.exit_on_error("run", exc, where=f"stage {name}")
    result["seconds"] = round(time.perf_counter() - start, 1)
    summary[name] = result
    print(json.dumps({name: result}, indent=1, default=str), flush=True)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
  print(f"\nall stages done; summary in {workdir / 'summary.json'}")


def cli() -> None:
  """The program (``jaxenhance run`` or ``python -m jaxenhance.run``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  app.run(main)


if __name__ == "__main__":
  cli()
