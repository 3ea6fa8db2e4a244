r"""Helpers for the reliability tests and ``benchmarks/reliability``: a config file for the real
training CLI, subprocess runners and digests of what a run produced.

As a config file (tiny shapes, real records; ``--config.train.batch_log`` logs batch hashes)::

  python -m jaxenhance.train --config=tests/reliability_helpers.py:/path/to/records \
      --workdir=W --config.train.steps=12 --config.train.batch_log=W/batches.log
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:  # loaded as a config file by path: find train_helpers
  sys.path.insert(0, str(ROOT / "tests"))

from train_helpers import tiny_config


def get_config(records_dir: str | None = None):
  """The trainer tests' tiny config; ``batch_log`` exists so it can be set from the command line."""
  config = tiny_config(records_dir or None)
  with config.unlocked():
    config.train.batch_log = ""
  return config


def subprocess_env() -> dict[str, str]:
  """Environment for child processes: CPU, quiet TF, and the tests' XLA compilation cache."""
  cache = ROOT / ".pytest_cache" / "jax_compilation_cache"
  return dict(os.environ, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3",
              JAX_COMPILATION_CACHE_DIR=os.environ.get("JAX_COMPILATION_CACHE_DIR", str(cache)))


def train_command(records: Path, workdir: Path, *overrides: str) -> list[str]:
  return [sys.executable, "-m", "jaxenhance.train",
          f"--config={ROOT / 'tests' / 'reliability_helpers.py'}:{records}",
          f"--workdir={workdir}", *overrides]


def start_trainer(records: Path, workdir: Path, *overrides: str, log: Path | None = None
                  ) -> subprocess.Popen:
  """Starts the training CLI; stdout and stderr go to ``log`` (default ``<workdir>.log``)."""
  log = log or workdir.with_suffix(".log")
  with open(log, "ab") as f:
    return subprocess.Popen(train_command(records, workdir, *overrides), cwd=ROOT,
                            env=subprocess_env(), stdout=f, stderr=subprocess.STDOUT)


def wait_for(predicate, proc: subprocess.Popen | None = None, timeout: float = 600.0,
             interval: float = 0.005) -> bool:
  """Polls ``predicate`` until true; False if ``proc`` exits first or the time runs out."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    if predicate():
      return True
    if proc is not None and proc.poll() is not None:
      return bool(predicate())
    time.sleep(interval)
  return False


def batch_lines(path: Path) -> list[tuple[int, str]]:
  """``(step, sha1)`` lines of a batch log (a killed writer can leave a last partial line)."""
  if not path.is_file():
    return []
  out = []
  for line in path.read_text().splitlines():
    step, _, digest = line.partition(",")
    if len(digest) == 40:
      out.append((int(step), digest))
  return out


def checkpoint_steps(workdir: Path) -> list[int]:
  directory = workdir / "checkpoints"
  if not directory.is_dir():
    return []
  return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


def saving_checkpoint(workdir: Path) -> bool:
  """True while Orbax is writing a checkpoint (its temporary directory exists)."""
  directory = workdir / "checkpoints"
  return directory.is_dir() and any("tmp" in p.name for p in directory.iterdir())


def state_digests(workdir: Path, step: int | None = None) -> dict[str, str]:
  """sha1 per top-level key of the train state in checkpoint ``step`` (default: the newest)."""
  import orbax.checkpoint as ocp

  step = checkpoint_steps(workdir)[-1] if step is None else step
  with ocp.StandardCheckpointer() as ckpt:
    state = ckpt.restore((workdir / "checkpoints" / str(step) / "state").resolve())
  return {key: tree_digest(value) for key, value in sorted(state.items())}


def damage_checkpoint(step_dir: Path, damage: str = "flip") -> None:
  """Corrupts a complete checkpoint in place. ``truncate``: every file to half its size (the
  metadata no longer parses); ``flip``: inverts 32 bytes of every array data file (the metadata
  parses, TensorStore's checksums fail)."""
  files = [p for p in Path(step_dir).rglob("*") if p.is_file()]
  if damage == "flip":
    files = [p for p in files if p.parent.name == "d" and p.stat().st_size > 64]
  for path in files:
    data = bytearray(path.read_bytes())
    if damage == "truncate":
      data = data[:len(data) // 2]
    else:
      k = len(data) // 3
      data[k:k + 32] = bytes(b ^ 0xFF for b in data[k:k + 32])
    path.write_bytes(bytes(data))


def tree_digest(tree) -> str:
  import jax

  digest = hashlib.sha1()
  for path, leaf in sorted(jax.tree_util.tree_flatten_with_path(tree)[0],
                           key=lambda kv: jax.tree_util.keystr(kv[0])):
    digest.update(jax.tree_util.keystr(path).encode())
    digest.update(np.ascontiguousarray(np.asarray(leaf)).tobytes())
  return digest.hexdigest()


def file_digest(path: Path) -> str:
  return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digests(directory: Path) -> dict[str, str]:
  """sha256 of every file under ``directory`` (relative path -> digest)."""
  return {str(p.relative_to(directory)): file_digest(p)
          for p in sorted(Path(directory).rglob("*")) if p.is_file()}
