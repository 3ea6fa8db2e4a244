"""Checkpoints of a training run: Orbax for the train state, Grain for the input position.

Each checkpoint holds the trainable state (parameters, optimizer states, step, RNG, counters)
and the Grain iterator state, so a resumed run continues with exactly the batches it would have
seen. Orbax writes each step to a temporary directory and renames it when complete, so a save
interrupted by a crash is never taken for a checkpoint. A checkpoint that is complete on disk but
unreadable (truncated or garbled later) is skipped with a warning, the previous one is used, and
the unreadable steps are moved aside to ``<checkpoints>.unreadable/`` (Orbax refuses to save a
step at or below its newest one, so left in place they would block every save until the run
passed them). A save that Orbax refuses for any other reason raises ``CheckpointSaveError``: a
run never carries on without the checkpoints it was asked for.

The work directory also holds ``config.json`` (a run refuses to resume with a different model
or data config unless told to overwrite) and a lock file (a second trainer on the same directory
refuses to start).

A ``gs://`` work directory (:mod:`jaxenhance.cloud`) works the same way, except for the lock (see
``WorkdirLock``): Orbax writes each step there in place and marks it complete with a commit file
instead of a rename, and moving unreadable steps aside copies their objects.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from absl import logging

from jaxenhance import atomic_write, cloud, errors

# Config sections that define what a checkpoint contains; the others (steps, logging, eval)
# may change between a run and its resumption.
FINGERPRINT_KEYS = ("seed", "generator", "critic", "loss", "data.crop_size", "data.batch_size",
                    "data.temporal_window", "sharding")


class WorkdirLockedError(errors.JaxenhanceError, RuntimeError):
  """Another trainer holds the work directory."""


class ConfigMismatchError(errors.JaxenhanceError, RuntimeError):
  """The work directory was made by another config."""


class CheckpointSaveError(errors.JaxenhanceError, RuntimeError):
  """A checkpoint could not be written (disk full, permissions)."""


def _lookup(config: Any, dotted: str) -> Any:
  node = config
  for part in dotted.split("."):
    node = node[part] if part in node else None
    if node is None:
      return None
  return node.to_dict() if hasattr(node, "to_dict") else node


def fingerprint(config: Any) -> dict:
  return json.loads(json.dumps({k: _lookup(config, k) for k in FINGERPRINT_KEYS}, default=str))


class WorkdirLock:
  """An exclusive, process-lifetime lock on a work directory (released if the process dies).

  Local work directories only: an ``fcntl`` lock on ``<workdir>/.lock``. A ``gs://`` work
  directory is not locked, and a second trainer on it is not detected. GCS has no advisory
  locks, and a lock object made with a create-if-absent precondition would outlive a preempted
  or killed trainer and refuse its own resumption. What keeps a run's writes consistent there is
  the multi-host design: only process 0 writes the config, logs and exports, and Orbax
  coordinates the checkpoint writes of all processes. Give each job its own work directory.
  """

  def __init__(self, workdir: str | os.PathLike):
    self.path = cloud.path(workdir) / ".lock"
    self._file = None

  def acquire(self) -> "WorkdirLock":
    if cloud.is_cloud(self.path):
      return self  # no lock on GCS (see the class docstring)
    self.path.parent.mkdir(parents=True, exist_ok=True)
    self._file = open(self.path, "a+")
    try:
      fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
      self._file.close()
      self._file = None
      raise WorkdirLockedError(
          f"another trainer is using {self.path.parent} (lock {self.path}); wait for it to "
          "finish or choose another --workdir") from exc
    self._file.seek(0)
    self._file.truncate()
    self._file.write(str(os.getpid()))
    self._file.flush()
    return self

  def release(self) -> None:
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None


def check_config(workdir: str | os.PathLike, config: Any, overwrite: bool = False,
                 write: bool = True) -> None:
  """Records the config fingerprint, or refuses a work directory made by another config.

  ``write=False`` (every process of a multi-host run but the first) only checks, so all
  processes refuse alike; deleting and recording is left to the process that writes.
  """
  workdir = cloud.path(workdir)
  path = workdir / "config.json"
  current = fingerprint(config)
  if path.is_file() and (workdir / "checkpoints").exists():
    saved = json.loads(path.read_text())
    if saved != current:
      diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
      if not overwrite:
        raise ConfigMismatchError(
            f"{workdir} holds checkpoints of a different config (differs in {diff}). "
            "Use another --workdir, or pass --overwrite to delete its checkpoints.")
      if not write:
        return
      logging.warning("overwrite: deleting checkpoints of a different config in %s", workdir)
      cloud.rmtree(workdir / "checkpoints")
  if not write:
    return
  cloud.makedirs(path.parent)
  atomic_write.write_text(path, json.dumps(current, indent=1, sort_keys=True))


class Checkpointer:
  """Saves/restores ``{state, data iterator}`` with an async Orbax CheckpointManager."""

  def __init__(self, directory: str | os.PathLike, keep: int = 3, async_save: bool = True):
    self.directory = cloud.path(directory)
    self.fallback: dict | None = None  # set by restore_latest when it skipped unreadable steps
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=async_save)
    # Orbax wants an absolute path; a gs:// one is (resolve() would prefix the cwd to it).
    self.manager = ocp.CheckpointManager(
        self.directory if cloud.is_cloud(self.directory) else self.directory.resolve(),
        options=options, item_names=("state", "data"))

  def save(self, step: int, state: Any, data_iterator: Any, force: bool = False) -> None:
    """Saves ``step`` (asynchronously); raises ``CheckpointSaveError`` if Orbax declines."""
    saved = self.manager.save(
        step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=grain.checkpoint.CheckpointSave(data_iterator)), force=force)
    if not saved:
      raise CheckpointSaveError(
          f"checkpoint {step} was not saved in {self.directory} (Orbax declined it; newest "
          f"step there: {self.manager.latest_step()}). Stopping rather than training on "
          "without checkpoints; move the newer steps aside or use another --workdir")

  def restore_latest(self, abstract_state: Any, data_iterator: Any) -> tuple[int, Any] | None:
    """Restores the newest readable checkpoint; falls back over unreadable ones.

    Returns:
      ``(step, state)`` (the iterator is restored in place), or None without checkpoints.
    """
    steps = sorted(self.manager.all_steps(), reverse=True)
    unreadable = []
    for step in steps:
      try:
        restored = self.manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_state),
            data=grain.checkpoint.CheckpointRestore(data_iterator)))
      except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint: try the previous
        logging.warning("checkpoint %d in %s is unreadable (%s: %s); trying the previous one",
                        step, self.directory, type(exc).__name__, str(exc)[:200])
        unreadable.append(step)
        _silence_stray_reads()
        continue
      if unreadable:
        self._set_aside(unreadable, step)
      return step, restored["state"]
    if steps:
      raise RuntimeError(f"no readable checkpoint among steps {steps} in {self.directory}")
    return None

  def _set_aside(self, unreadable: list[int], resumed_from: int) -> None:
    """Moves unreadable steps out of the manager's way, so the run can save over them."""
    aside = self.directory.with_name(self.directory.name + ".unreadable")
    moved = []
    if jax.process_index() == 0:
      cloud.makedirs(aside)
      for step in unreadable:
        target = aside / str(step)
        n = 0
        while target.exists():  # the same step may have been set aside by an earlier run
          n += 1
          target = aside / f"{step}.{n}"
        cloud.rename(self.directory / str(step), target)
        moved.append(str(target))
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils

      multihost_utils.sync_global_devices("checkpoint fallback")
    self.manager.reload()
    self.fallback = {"unreadable": unreadable, "resumed_from": resumed_from, "moved_to": moved}
    logging.warning("checkpoint fallback: %s", self.fallback)
    print(f"warning: checkpoint(s) {unreadable} unreadable; resumed from step {resumed_from}; "
          f"moved them to {aside}", flush=True)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


def _silence_stray_reads() -> None:
  """Drops the "Event loop is closed" errors that follow a failed restore.

  A restore that fails on one array closes Orbax's event loop while TensorStore still reads the
  others; each of those reads then reports a ``RuntimeError: Event loop is closed`` traceback
  (through ``sys.unraisablehook``, about one per array) that says nothing the warning above does
  not. Every other unraisable error still reaches the previous hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, "drops_stray_reads", False):
    return

  def hook(unraisable):
    if (isinstance(unraisable.exc_value, RuntimeError)
        and str(unraisable.exc_value) == "Event loop is closed"):
      return
    previous(unraisable)

  hook.drops_stray_reads = True
  sys.unraisablehook = hook


def abstract_like(tree: Any) -> Any:
  """ShapeDtypeStructs (with shardings) describing ``tree``, for restoring into it."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
      tree)
