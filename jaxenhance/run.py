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

A stage whose module is not installed in this checkout is reported as skipped, not faked. A
stage that fails on bad input, a locked work directory or a full disk prints one line naming the
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

_CONFIG = config_flags.DEFINE_config_file("config", "configs/quickstart.py", "Run config.")
_WORKDIR = flags.DEFINE_string("workdir", "workdir/quickstart", "Work directory.")

STAGES: dict[str, Callable[[Any, Path], dict]] = {}


def stage(name: str):
  def register(fn):
    STAGES[name] = fn
    return fn
  return register


@stage("assets")
def _assets(config, workdir: Path) -> dict:
  from jaxenhance import assets

  if not assets.check_all(verbose=True):
    raise SystemExit("assets missing: run ./launch/setup.sh")
  return {"cache": str(assets.cache_dir())}


@stage("features")
def _features(config, workdir: Path) -> dict:
  from jaxenhance import feature_maps

  return feature_maps.describe_sample_features(workdir)


def _optional_stage(module: str, function: str) -> Callable[[Any, Path], dict]:
  def run(config, workdir: Path) -> dict:
    import importlib

    try:
      mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
      if exc.name and exc.name.startswith("jaxenhance"):
        return {"skipped": f"{module} is not part of this checkout yet"}
      raise
    return getattr(mod, function)(config, workdir)
  return run


STAGES["prepare"] = _optional_stage("jaxenhance.prepare", "run_stage")
STAGES["select"] = _optional_stage("jaxenhance.select_layers", "run_stage")
STAGES["train"] = _optional_stage("jaxenhance.train", "run_stage")
STAGES["evaluate"] = _optional_stage("jaxenhance.evaluate", "run_stage")
STAGES["suite"] = _optional_stage("jaxenhance.evaluate", "run_suite_stage")
STAGES["enhance"] = _optional_stage("jaxenhance.enhance", "run_stage")


def _says_what_to_do(exc: Exception) -> bool:
  """The package's own error classes (``WorkdirLockedError``, ``SourceError``, ...) and OS errors
  (a full disk) carry messages meant for the user; a traceback would only bury them."""
  return isinstance(exc, OSError) or type(exc).__module__.startswith("jaxenhance")


def main(argv: list[str]) -> None:
  del argv
  from jaxenhance import xla_cache

  xla_cache.enable()
  config = _CONFIG.value
  workdir = Path(_WORKDIR.value).resolve()
  workdir.mkdir(parents=True, exist_ok=True)
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
    except Exception as exc:  # sorted below: user errors vs bugs
      if not _says_what_to_do(exc):
        raise
      print(f"jaxenhance run: error in stage {name}: {exc}", file=sys.stderr, flush=True)
      sys.exit(2)
    result["seconds"] = round(time.perf_counter() - start, 1)
    summary[name] = result
    print(json.dumps({name: result}, indent=1, default=str), flush=True)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
  print(f"\nall stages done; summary in {workdir / 'summary.json'}")


if __name__ == "__main__":
  app.run(main)
