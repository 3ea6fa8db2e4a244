r"""Adversarial training of an artifact-removal generator against a perceptual critic.

  python -m jaxenhance.train --config=configs/quickstart.py --workdir=workdir/quickstart
  python -m jaxenhance.train --config=configs/default.py --workdir=gs://… --config.train.steps=…
  python -m jaxenhance.train --config=… --workdir=… --dry_run   # compile only: memory + FLOPs
  python -m jaxenhance.train --config=configs/tpu_v4_32.py --dry_run --topology=v4-32  # no TPU

``train_and_evaluate`` reads top to bottom: logging → mesh → input → models and optimizers →
sharded state → compiled steps → checkpoint restore → loop. (One file of ~530 lines on purpose:
the whole run in reading order, as big_vision's ``train.py``.) The loop runs ``warmup_steps`` of
content-only generator updates, then adversarial steps (``n_critic`` critic updates + one
generator update per batch; see :mod:`jaxenhance.steps`). Every ``train.eval_every`` steps and
at the last step it evaluates the generator on the held-out test records
(:class:`jaxenhance.evaluation.Evaluator`, metrics ``eval.train_metrics``) and writes
``eval/<metric>`` and the compressed-input baseline ``eval/<metric>_compressed``. It resumes
from the newest readable checkpoint (unreadable newer ones are moved aside, and the fallback is
reported in the summary), stops if a checkpoint cannot be saved, saves on SIGTERM (TPU
preemption) before exiting, and refuses a work directory that holds checkpoints of another
config. The work directory and ``data.data_dir`` may be ``gs://`` paths (:mod:`jaxenhance.cloud`):
a missing bucket or missing credentials stop the run with one line before anything is written,
and a ``gs://`` work directory is not locked against a second trainer.

Multi-host (``--config.distributed=True``, what ``launch/tpu_pod.sh`` runs on every host): one
process per host joins the job with ``jax.distributed.initialize()``. Cloud TPU (and Slurm, Open
MPI) tell JAX the coordinator and the processes; elsewhere set ``JAX_COORDINATOR_ADDRESS``
(host:port of process 0), ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` on each process
(``tests/test_multihost.py`` runs two processes on one machine this way). Each process reads
its own shard of every global batch (:mod:`jaxenhance.data.pipeline`); Orbax saves the state
from all of them (plus each one's input position); only process 0 takes the lock, writes the
config, logs, images and exports, and runs the periodic evaluation. A SIGTERM on any host
stops every host at the same step, after a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from jaxenhance import (
  checkpointing,
  cloud,
  config_loader,
  errors,
  evaluation,
  export,
  inference,
  sharding,
  steps,
  xla_cache,
)
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import generator as generator_lib
from jaxenhance.models import vgg

_FLAGS: dict[str, Any] = {}


def _define_flags() -> None:
  """Flags exist only when this module is the program (``jaxenhance.run`` imports it)."""
  _FLAGS.update(
      config=config_flags.DEFINE_config_file("config", None, "Training config."),
      workdir=flags.DEFINE_string("workdir", None, "Work directory (checkpoints, logs)."),
      dry_run=flags.DEFINE_bool("dry_run", False, "Compile the steps, print memory/FLOPs, exit."),
      topology=flags.DEFINE_string(
          "topology", None, "With --dry_run: compile for this TPU slice (v4-32, v5e-256, "
          "v4:2x2x4) on this host, without its devices (needs libtpu; --workdir optional)."),
      overwrite=flags.DEFINE_bool("overwrite", False,
                                  "Delete checkpoints of a different config in --workdir."))


class NonFiniteLossError(errors.JaxenhanceError, FloatingPointError):
  """The loss became NaN/inf (train.nonfinite="raise")."""


class _Preemption:
  """Records SIGTERM so the loop can save a checkpoint and exit cleanly.

  Multi-host, the hosts must stop at the same step (the save is collective): JAX's preemption
  service catches SIGTERM on any host and names a step all of them reach (``check``).
  """

  def __init__(self):
    self.requested = False
    self._previous = None

  def install(self):
    if jax.process_count() == 1:  # multi-host: JAX's own SIGTERM handler must stay in place
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def check(self, step: int) -> None:
    """Multi-host: sets ``requested`` at the agreed step; every process calls it every step."""
    if jax.process_count() > 1 and not self.requested:
      from jax.experimental import multihost_utils

      self.requested = multihost_utils.reached_preemption_sync_point(step)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def restore(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def selection_report_path(config: Any, workdir: str | os.PathLike) -> cloud.AnyPath | None:
  report = config.selection.get("report", "") if "selection" in config else ""
  path = cloud.path(report) if report else cloud.path(workdir) / "selection" / "report.json"
  return path if path.is_file() else None


def critic_channels(config: Any, report: cloud.AnyPath | None
                    ) -> dict[str, tuple[int, ...]] | None:
  """The kept channels per critic layer (``critic.channel_keep_fraction`` < 1), else None.

  Channels are ranked by the selection report's per-channel scores, so every layer the critic
  reads must be in the report.
  """
  keep = float(config.critic.get("channel_keep_fraction", 1.0))
  if not 0.0 < keep <= 1.0:
    raise ValueError(f"critic.channel_keep_fraction must be in (0, 1]; got {keep}")
  if keep == 1.0 or config.critic.get("kind", "wgan") != "wgan":
    return None
  layers = critic_lib.resolve_layers(config.critic.layers, report)
  if not layers:
    return None
  if report is None:
    raise ValueError(
        f"critic.channel_keep_fraction={keep} ranks channels by the layer-selection report, but "
        "there is none (selection.report or <workdir>/selection/report.json): run the select "
        "stage first, or set critic.channel_keep_fraction=1.0")
  from jaxenhance.perception import selection

  return selection.kept_channels(report, layers, keep)


def build_models(config: Any, workdir: Path):
  generator = generator_lib.make_generator(config.generator)
  report = selection_report_path(config, workdir)
  critic = critic_lib.make_critic(config.critic, report, critic_channels(config, report))
  return generator, critic


def init_state(generator, critic, g_opt, d_opt, config, rng: jax.Array) -> dict:
  """The whole trainable state as plain data; jitted with out_shardings, so never whole on host."""
  crop = int(config.data.crop_size)
  t = int(config.generator.temporal_window)
  g_rng, d_rng, rng = jax.random.split(rng, 3)
  lq = jnp.zeros((1, t, crop, crop, 3), jnp.float32)
  image = jnp.zeros((1, crop, crop, 3), jnp.float32)
  g_params = generator.init(g_rng, lq)
  if isinstance(critic, critic_lib.Critic):
    taps = {name: jnp.zeros((1, crop // vgg.STRIDES[name], crop // vgg.STRIDES[name],
                             critic.num_channels(name))) for name in critic.layers}
    d_params = critic.init(d_rng, image, taps)
  else:
    d_params = critic.init(d_rng, image, image)
  return {
      "step": jnp.zeros((), jnp.int32),
      "rng": rng,
      "g_params": g_params,
      "g_opt": g_opt.init(g_params),
      "d_params": d_params,
      "d_opt": d_opt.init(d_params),
      "nonfinite": jnp.zeros((), jnp.int32),
  }


def make_evaluator(config: Any, data_dir: Path) -> evaluation.Evaluator | None:
  """The periodic evaluator on the test records, or None (off, not process 0, or no records).

  Built once: its evaluation set stays on the host and its compiled functions are reused. A
  missing or empty test split turns it off with one warning; a bad ``eval.*`` value raises.
  """
  if not int(config.train.get("eval_every", 0)) or jax.process_index() > 0:
    return None
  if not _test_records(config, data_dir):
    logging.warning("train.eval_every=%s but %s has no test records: periodic evaluation off",
                    config.train.eval_every, data_dir)
    return None
  return evaluation.Evaluator(
      config, data_dir, split="test", metrics=tuple(config.eval.train_metrics),
      max_examples=int(config.eval.get("train_max_examples", 64)), group_fid=False,
      shard=(0, 1))  # process 0 evaluates alone, so it reads every test record


def _test_records(config: Any, data_dir: Path) -> int:
  from jaxenhance.data import pipeline

  try:
    return len(pipeline.data_source(pipeline.dataset_dir(config, data_dir), "test"))
  except pipeline.PipelineError:
    return 0


def initialize_distributed() -> None:
  """Joins the multi-process job (``config.distributed``), one process per host.

  Without ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` JAX detects the cluster (Cloud TPU,
  Slurm, Open MPI); with them (and ``JAX_COORDINATOR_ADDRESS``, which JAX reads itself) any
  machines work, CPU ones included (their collectives: JAX's default, gloo).
  """
  count, index = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
  if (count is None) != (index is None):
    raise errors.JaxenhanceError(
        "config.distributed=True: set both JAX_NUM_PROCESSES and JAX_PROCESS_ID (and "
        "JAX_COORDINATOR_ADDRESS=host:port of process 0), or neither on Cloud TPU")
  kwargs = {} if count is None else {"num_processes": int(count), "process_id": int(index)}
  try:
    jax.distributed.initialize(**kwargs)
  except ValueError as exc:  # no cluster detected and nothing given
    raise errors.JaxenhanceError(
        f"config.distributed=True but this machine is not in a detected cluster ({exc}); set "
        "JAX_COORDINATOR_ADDRESS=host:port of process 0, JAX_NUM_PROCESSES and JAX_PROCESS_ID "
        "on every process") from exc


def sync_processes(name: str) -> None:
  """Waits until every process gets here (multi-host only)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def host_params(tree: Any) -> Any:
  """The whole of a (possibly sharded) pytree as host arrays, the same on every process.

  Collective on multi-host (every process must call it), so the evaluator can run on process 0's
  local device whatever the mesh and the parameter sharding.
  """
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def eval_scalars(evaluator: evaluation.Evaluator, generator: Any, g_params: Any
                 ) -> dict[str, float]:
  """``eval/<metric>`` of the enhanced output and ``eval/<metric>_compressed`` of the input."""
  flat = evaluator.run(generator, g_params)
  scalars = {}
  for name in evaluator.metrics:
    scalars[f"eval/{name}"] = flat[f"enhanced/{name}"]
    scalars[f"eval/{name}_compressed"] = flat[f"compressed/{name}"]
  return scalars


def init_generator_from(state: dict, export_dir: str | Path, state_sharding: Any) -> dict:
  """A fresh state whose generator starts from an exported one (``train.init_generator``).

  For fine-tuning a content-pretrained generator adversarially (e.g. every critic variant of the
  paper's comparison from one shared warm-up). The generator's optimizer state starts fresh.
  """
  from flax import traverse_util

  _, params, meta = export.load_generator(export_dir)
  want = traverse_util.flatten_dict(jax.tree.map(lambda x: tuple(x.shape), state["g_params"]))
  got = traverse_util.flatten_dict(jax.tree.map(np.shape, params))
  # A conditioned generator may start from a plain or codec-only export: its FiLM table and QP
  # input kernel are absent there and keep their zero init, so the start computes exactly what
  # the export did.
  added = {k for k in set(want) - set(got) if "codec_film" in k or "qp_stem" in k}
  if set(got) != set(want) - added or any(want[k] != got[k] for k in got):
    raise ValueError(f"train.init_generator={export_dir} holds a generator of another shape "
                     f"({meta.get('generator')}); it must match the config's generator section")
  fresh = traverse_util.flatten_dict(jax.device_get(state["g_params"]))
  params = traverse_util.unflatten_dict(
      {**{k: fresh[k] for k in added}, **traverse_util.flatten_dict(params)})
  g_params = jax.device_put(params, state_sharding["g_params"])
  logging.info("generator initialised from %s (step %s)", export_dir, meta.get("step"))
  return dict(state, g_params=g_params)


def step_kind(step: int, warmup: int, gp_every: int = 1) -> str:
  """Which compiled step runs at ``step``: "pretrain" during warm-up, then "adversarial"; with a
  lazy gradient penalty (``gp_every`` > 1) "adversarial_no_gp" between the penalty steps."""
  if step <= warmup:
    return "pretrain"
  return "adversarial" if step % gp_every == 0 else "adversarial_no_gp"


def compiled_cost(compiled) -> dict:
  """FLOPs and memory of a compiled step (for MFU and the fits-before-you-rent check)."""
  out = {}
  try:
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    out["flops"] = float(cost.get("flops", 0.0))
  except Exception:  # noqa: BLE001 - some backends do not report costs
    out["flops"] = 0.0
  try:
    mem = compiled.memory_analysis()
    out["argument_bytes"] = int(mem.argument_size_in_bytes)
    out["output_bytes"] = int(mem.output_size_in_bytes)
    out["temp_bytes"] = int(mem.temp_size_in_bytes)
    out["peak_bytes_estimate"] = out["argument_bytes"] + out["output_bytes"] + out["temp_bytes"]
  except Exception:  # noqa: BLE001
    pass
  return out


def compile_steps(config: Any, mesh: Any, models: tuple, optimizers: tuple, abstract: Any,
                  state_sharding: Any, vgg_params: Any) -> tuple[dict, dict, int]:
  """The train steps compiled ahead of time for ``mesh``: ``(executables, costs, gp_every)``.

  Executables and costs are keyed by :func:`step_kind`. ``abstract`` and ``vgg_params`` may be
  shapes only, so the same compile serves training, ``--dry_run`` and a TPU topology without
  its devices (:mod:`jaxenhance.topology`).
  """
  from jaxenhance.data import pipeline

  (generator, critic), (g_opt, d_opt) = models, optimizers
  pretrain_fn, adversarial_fn = steps.make_steps(generator, critic, g_opt, d_opt, config)
  step_fns = {"pretrain": pretrain_fn, "adversarial": adversarial_fn}
  # Lazy gradient penalty (W-GAN critics only): the steps in between run a penalty-free step.
  gp_every = (steps.penalty_interval(config) if isinstance(critic, critic_lib.Critic) else 1)
  if gp_every > 1:
    step_fns["adversarial_no_gp"] = steps.make_steps(generator, critic, g_opt, d_opt, config,
                                                     penalty=False)[1]
  batch_sharding = sharding.batch_sharding(mesh)
  vgg_sharding = jax.tree.map(lambda _: sharding.replicated(mesh), vgg_params)
  jit_kwargs = dict(in_shardings=(state_sharding, batch_sharding, vgg_sharding),
                    out_shardings=(state_sharding, sharding.replicated(mesh)),
                    donate_argnums=(0,))
  abstract_batch = {k: jax.ShapeDtypeStruct(shape, dtype, sharding=batch_sharding)
                    for k, (shape, dtype) in pipeline.batch_spec(config).items()}
  # Compiled ahead of time, once: the executables are what the loop calls, and their cost
  # analysis gives the FLOPs per step (for FLOP/s and MFU) and the memory (for --dry_run).
  costs, compiled = {}, {}
  for name, fn in step_fns.items():
    compiled[name] = jax.jit(fn, **jit_kwargs).lower(abstract, abstract_batch,
                                                     vgg_params).compile()
    costs[name] = compiled_cost(compiled[name])
    logging.info("%s step: %s", name, costs[name])
  return compiled, costs, gp_every


def train_and_evaluate(config: Any, workdir: str | Path, *, dry_run: bool = False,
                       overwrite: bool = False) -> dict:
  """Trains per ``config`` in ``workdir``; returns a summary of the run."""
  from clu import metric_writers, periodic_actions  # heavy imports: only when training

  from jaxenhance.data import layout, pipeline

  workdir = cloud.path(workdir)
  cloud.check_bucket(workdir, "--workdir")  # before anything is written (or a folder made)
  if config.get("distributed", False):
    initialize_distributed()  # before anything that starts JAX's backends
  # Multi-host: the other processes write only what Orbax asks of each (checkpoints).
  primary = jax.process_index() == 0

  # ------------------------------------------------------------------ logging, lock, config
  lock = checkpointing.WorkdirLock(workdir)
  if primary:
    cloud.makedirs(workdir)
    lock.acquire()
  try:
    checkpointing.check_config(workdir, config, overwrite=overwrite, write=primary)
    sync_processes("config checked")  # an --overwrite deletion is done before anyone goes on
    writer = metric_writers.create_default_writer(str(workdir / "logs"), just_logging=not primary)
    writer.write_hparams({k: v for k, v in checkpointing.fingerprint(config).items()
                          if isinstance(v, (int, float, str, bool))})

    # ---------------------------------------------------------------- mesh
    mesh = sharding.make_mesh(config.mesh)
    sharding.check_batch_size(int(config.data.batch_size), mesh)
    logging.info("mesh %s over %d devices (%s)", dict(mesh.shape), mesh.size,
                 jax.devices()[0].platform)

    # ---------------------------------------------------------------- input
    # A dry run only compiles: it needs the batch shapes, not the records.
    if not dry_run:
      data_dir = layout.data_dir(config, workdir)
      train_iter = iter(pipeline.make_dataset(config, data_dir, split="train", shuffle=True,
                                              repeat=True))

    # ---------------------------------------------------------------- models and optimizers
    generator, critic = build_models(config, workdir)
    g_opt, d_opt = steps.make_optimizers(config)
    logging.info("critic reads VGG layers: %s (channels: %s)",
                 getattr(critic, "layers", "(sub-patch)"),
                 {n: len(i) for n, i in getattr(critic, "channels", ())} or "all")

    # ---------------------------------------------------------------- sharded state
    rng = jax.random.PRNGKey(int(config.seed))
    init = lambda r: init_state(generator, critic, g_opt, d_opt, config, r)  # noqa: E731
    abstract = jax.eval_shape(init, rng)
    state_sharding = sharding.param_shardings(abstract, mesh, config.get("sharding", "data"))
    # Created directly with its shardings: nothing is materialised whole on one device.
    state = jax.jit(init, out_shardings=state_sharding)(rng)
    vgg_params = jax.device_put(vgg.load_params(), sharding.replicated(mesh))

    # ---------------------------------------------------------------- compiled steps
    compiled, costs, gp_every = compile_steps(config, mesh, (generator, critic), (g_opt, d_opt),
                                              abstract, state_sharding, vgg_params)
    if dry_run:
      print(json.dumps({"devices": mesh.size, "platform": jax.devices()[0].platform,
                        "per_device": costs}, indent=1))
      return {"dry_run": costs}

    # ---------------------------------------------------------------- checkpoint restore
    checkpointer = checkpointing.Checkpointer(
        workdir / "checkpoints", keep=int(config.train.keep_checkpoints),
        async_save=bool(config.train.get("async_checkpoints", True)))
    restored = checkpointer.restore_latest(checkpointing.abstract_like(state), train_iter)
    if restored is not None:
      step, state = restored
      logging.info("resumed from step %d", step)
      print(f"resumed from checkpoint step {step}", flush=True)
    elif config.train.get("init_generator", ""):
      state = init_generator_from(state, config.train.init_generator, state_sharding)
    first_step = int(jax.device_get(state["step"]))

    # ---------------------------------------------------------------- periodic evaluation
    # Reads the test split through its own pipeline: the train iterator (and so resuming) is
    # untouched.
    eval_every = int(config.train.get("eval_every", 0))
    export_every = int(config.train.get("export_every", 0))  # 0: only the final export
    evaluator = make_evaluator(config, data_dir)

    # ---------------------------------------------------------------- loop
    total_steps = int(config.train.steps)
    warmup = int(config.train.warmup_steps)
    peak_flops = float(config.train.get("peak_flops_per_device", 0.0)) * mesh.size
    report_progress = periodic_actions.ReportProgress(num_train_steps=total_steps,
                                                      writer=writer,
                                                      every_steps=int(config.train.log_every))
    preemption = _Preemption().install()
    nonfinite_mode = config.train.get("nonfinite", "raise")
    if nonfinite_mode not in ("raise", "skip"):
      raise ValueError(f"train.nonfinite must be 'raise' or 'skip', got {nonfinite_mode!r}")
    # The state's counter is cumulative and survives checkpoints: raise only on events new to
    # this process, so a run resumed after a fix (e.g. a lower learning rate) is not refused.
    nonfinite_seen = int(jax.device_get(state["nonfinite"]))
    batch_log = config.train.get("batch_log", "")
    last_metrics: dict = {}
    summary: dict = {"first_step": first_step, "costs": costs}
    if checkpointer.fallback:  # unreadable newest steps were skipped and moved aside
      summary["checkpoint_fallback"] = checkpointer.fallback
    window_start, window_steps, window_flops = time.perf_counter(), 0, 0.0
    try:
      for step in range(first_step + 1, total_steps + 1):
        host_batch = next(train_iter)
        if batch_log:
          log_batch(batch_log, step, host_batch)
        batch = pipeline.make_global_batch(host_batch, mesh)
        kind = step_kind(step, warmup, gp_every)
        state, metrics = compiled[kind](state, batch, vgg_params)
        preemption.check(step)  # multi-host: the hosts agree on the step to stop at
        report_progress(step, time.time())
        window_steps += 1
        window_flops += costs[kind]["flops"]  # kinds differ in cost (warm-up, lazy penalty)

        if step % int(config.train.log_every) == 0 or step == total_steps:
          metrics = jax.device_get(metrics)  # the only host sync outside checkpoints
          new_nonfinite = int(metrics["nonfinite"]) - nonfinite_seen
          nonfinite_seen = int(metrics["nonfinite"])
          if new_nonfinite and nonfinite_mode == "raise":
            raise NonFiniteLossError(
                f"non-finite loss at or before step {step} ({new_nonfinite} "
                "update(s) skipped); the parameters were not updated by it and the last "
                f"checkpoint in {workdir / 'checkpoints'} is intact. Lower the learning rate, "
                "check the data, or set --config.train.nonfinite=skip to carry on.")
          elapsed = time.perf_counter() - window_start
          scalars = {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}
          scalars["steps_per_sec"] = window_steps / max(elapsed, 1e-9)
          flops_per_sec = window_flops / max(elapsed, 1e-9)
          scalars["gflops_per_sec"] = flops_per_sec / 1e9
          if peak_flops:
            scalars["mfu"] = flops_per_sec / peak_flops
          writer.write_scalars(step, scalars)
          last_metrics = scalars
          window_start, window_steps, window_flops = time.perf_counter(), 0, 0.0

        if step % int(config.train.image_summary_every) == 0 or step == total_steps:
          # From this process's batch: a global one is not all on any one host.
          g_image = state["g_params"] if jax.process_count() == 1 else host_params(
              state["g_params"])  # collective: every process takes part
          if primary:
            writer.write_images(step, {"compressed|enhanced|original": image_strip(
                generator, g_image, host_batch)})

        if eval_every and (step % eval_every == 0 or step == total_steps) \
            and not preemption.requested:
          eval_start = time.perf_counter()
          g_host = host_params(state["g_params"])  # collective: every process takes part
          if evaluator is not None:
            summary["eval"] = eval_scalars(evaluator, generator, g_host)
            writer.write_scalars(step, summary["eval"])
          # Evaluation time is not training time: keep it out of steps/s.
          window_start += time.perf_counter() - eval_start

        if step % int(config.train.checkpoint_every) == 0 or step == total_steps \
            or preemption.requested:
          checkpointer.save(step, state, train_iter, force=preemption.requested)
        if export_every and step % export_every == 0:
          # A generator snapshot per interval (<workdir>/exports/step_N) for the learning curve
          # on the held-out suite; a few hundred kB each.
          g_host = host_params(state["g_params"])  # collective: every process takes part
          if primary:
            export.save_generator(workdir / "exports" / f"step_{step}", config.generator, g_host,
                                  {"step": step, "metrics": last_metrics})
        if preemption.requested:
          logging.warning("SIGTERM: saved checkpoint %d, exiting", step)
          print(f"SIGTERM received: checkpoint {step} saved, exiting", flush=True)
          summary["preempted_at"] = step
          break
    finally:
      preemption.restore()
      checkpointer.close()
      writer.flush()
    summary.update(last_step=int(jax.device_get(state["step"])), metrics=last_metrics)
    g_host = host_params(state["g_params"])  # collective: every process takes part
    if primary:
      export.save_generator(workdir / "export", config.generator, g_host,
                            {"step": summary["last_step"], "metrics": last_metrics,
                             "critic_layers": list(getattr(critic, "layers", ())),
                             "train_sources": list(config.data.train_sources)})
    summary["state"] = state
    summary["models"] = (generator, critic)
    return summary
  finally:
    lock.release()


def log_batch(path: str | Path, step: int, batch: dict) -> None:
  """Appends ``step,sha1`` of this process's host batch to ``path`` (``train.batch_log``).

  For checking that a resumed run consumes exactly the batches of an uninterrupted one
  (``benchmarks/reliability/kill_resume.py``); off by default. Opened per line so a killed
  process leaves only whole lines behind. Multi-host, each process writes
  ``<path>.process<index>``.
  """
  if jax.process_count() > 1:
    path = f"{path}.process{jax.process_index()}"
  with open(path, "a") as f:
    f.write(f"{step},{batch_digest(batch)}\n")


def batch_digest(batch: dict) -> str:
  """sha1 of a host batch: its keys and array bytes."""
  digest = hashlib.sha1()
  for key in sorted(batch):
    digest.update(key.encode())
    digest.update(np.ascontiguousarray(batch[key]).tobytes())
  return digest.hexdigest()


def image_strip(generator, g_params, batch, count: int = 4) -> np.ndarray:
  """[count, P, 3P, 3] uint8 strips: compressed | enhanced | original."""
  lq, gt = (np.asarray(jax.device_get(batch[k][:count])) for k in ("lq", "gt"))
  enhanced, _ = inference.batch_fn(generator)(g_params, lq)
  return np.concatenate([lq[:, lq.shape[1] // 2], np.asarray(enhanced), gt], axis=2)


def run_stage(config: Any, workdir: Path) -> dict:
  """The main job's ``train`` stage."""
  summary = train_and_evaluate(config, workdir)
  summary.pop("state", None)
  summary.pop("models", None)
  return summary


def main(argv: list[str]) -> None:
  del argv
  try:
    config = _FLAGS["config"].value
    config.get("train")  # a bad --config fails on first use: here, before any folder is made
  except errors.USER_ERRORS as exc:
    errors.exit_on_error("train", exc)
  xla_cache.enable()
  if _FLAGS["topology"].value:
    if not _FLAGS["dry_run"].value:
      raise app.UsageError("--topology compiles only; add --dry_run")
    from jaxenhance import topology

    try:
      topology.check_fits(topology.dry_run(config, _FLAGS["topology"].value,
                                           _FLAGS["workdir"].value))
    except errors.USER_ERRORS as exc:
      errors.exit_on_error("train", exc)
    return
  if _FLAGS["workdir"].value is None:
    raise app.UsageError("--workdir is required")
  try:
    summary = train_and_evaluate(config, _FLAGS["workdir"].value,
                                 dry_run=_FLAGS["dry_run"].value,
                                 overwrite=_FLAGS["overwrite"].value)
  except errors.USER_ERRORS as exc:
    # These messages say what happened and what to do; a traceback would only bury them.
    errors.exit_on_error("train", exc)
  summary.pop("state", None)
  summary.pop("models", None)
  print(json.dumps(summary, indent=1, default=str))


def cli() -> None:
  """The program (``jaxenhance train`` or ``python -m jaxenhance.train``)."""
  sys.argv = config_loader.expand_config_flags(sys.argv)
  _define_flags()
  flags.mark_flags_as_required(["config"])
  app.run(main)


if __name__ == "__main__":
  cli()
