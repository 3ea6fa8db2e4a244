"""Multi-host training for real, on one machine: 2 processes x 4 CPU devices == 1 x 8 devices.

Each process is the training CLI that ``launch/tpu_pod.sh`` starts on every host of a pod
(``python -m jaxenhance.train ... --config.distributed=True``), told where the coordinator is
through ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (what Cloud
TPU tells JAX by itself). The two-process job trains 3 steps, stops, resumes and trains 3 more;
each process must read its half of every batch of the one-process run, process 1 must write
nothing but its share of the checkpoints, both must resume from the same step, and the job must
end with the one-process run's parameters.
"""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from reliability_helpers import get_config, subprocess_env, train_command

from jaxenhance import train
from jaxenhance.data import builder, pipeline

STEPS, RESUME_AT = 6, 3
TIMEOUT_S = 300

# Loaded in process 1 only (PYTHONPATH): logs every write it makes under $WATCH_DIR. Python
# level only (Orbax's array data goes through TensorStore), which is what the trainer's own
# writes (config, lock, logs, exports) and Grain's iterator state go through.
_WATCH = r'''
import os, sys
_root = os.path.realpath(os.environ["WATCH_DIR"]) + os.sep
_log = open(os.environ["WATCH_LOG"], "a", buffering=1)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_EVENTS = ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "shutil.rmtree", "os.truncate")

def _hook(event, args):
  if event == "open" and not (isinstance(args[2], int) and args[2] & _WRITE):
    return
  if event != "open" and event not in _EVENTS:
    return
  for path in args[:2] if event == "os.rename" else args[:1]:
    if isinstance(path, (str, bytes, os.PathLike)):
      path = os.path.realpath(os.fsdecode(path))
      if path.startswith(_root):
        _log.write(f"{event} {path[len(_root):]}\n")

sys.addaudithook(_hook)
'''


@pytest.fixture(scope="module")
def records(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("records")
  builder.build(get_config(str(workdir / "records")), workdir, num_workers=1)
  return workdir / "records"


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class Job:
  """The training CLI as ``processes`` processes with 8 CPU devices in all, started at once.

  ``watch``: a folder for process 1's record of its writes into ``workdir`` (``_WATCH``).
  """

  def __init__(self, records: Path, workdir: Path, steps: int, batches: Path, processes: int,
               watch: Path | None = None):
    overrides = [f"--config.train.steps={steps}", f"--config.train.batch_log={batches}",
                 "--config.train.n_critic=1", "--config.train.export_every=3",
                 "--config.train.eval_every=6", "--config.eval.train_metrics=('psnr',)",
                 "--config.eval.train_max_examples=8",
                 # No parameter without a gradient (a bias the high-pass filter or a norm
                 # removes): Adam would scale its round-off up to whole steps.
                 "--config.generator.highpass=0", "--config.critic.norm=none"]
    # Process 1 compiles on every run (JAX writes its persistent cache from process 0 only):
    # XLA's cheapest CPU code generation keeps that short.
    env = dict(subprocess_env(), XLA_FLAGS="--xla_backend_optimization_level=0 "
               f"--xla_force_host_platform_device_count={8 // processes}")
    if processes > 1:
      overrides.append("--config.distributed=True")
      env.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{free_port()}",
                 JAX_NUM_PROCESSES=str(processes))
    self.procs, self.logs = [], []
    for i in range(processes):
      proc_env = dict(env, JAX_PROCESS_ID=str(i)) if processes > 1 else env
      if i > 0 and watch is not None:
        watch.mkdir(exist_ok=True)
        (watch / "sitecustomize.py").write_text(_WATCH)
        path = [str(watch)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        proc_env.update(PYTHONPATH=os.pathsep.join(path), WATCH_DIR=str(workdir),
                        WATCH_LOG=str(watch / "writes.log"))
      name = f"{workdir.name}.steps{steps}.process{i}"
      self.logs.append((workdir.with_name(name + ".out"), workdir.with_name(name + ".err")))
      with open(self.logs[-1][0], "w") as stdout, open(self.logs[-1][1], "w") as stderr:
        self.procs.append(subprocess.Popen(
            train_command(records, workdir, *overrides), env=proc_env, stdout=stdout,
            stderr=stderr, cwd=Path(__file__).resolve().parents[1]))

  def kill(self) -> None:
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
      proc.wait()

  def wait(self) -> list[dict]:
    """Each process's printed summary (and ``pid``); all are killed if one fails or hangs."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
      while any(p.poll() is None for p in self.procs) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in self.procs):
          break  # one failed: the others would wait for it until JAX's heartbeat gives up
        time.sleep(0.2)
    finally:
      self.kill()
    failed = [(i, p.returncode) for i, p in enumerate(self.procs) if p.returncode != 0]
    assert not failed, "\n".join(
        f"process {i} exited {rc}:\n{self.logs[i][1].read_text()[-3000:]}" for i, rc in failed)
    return [dict(summary_of(out.read_text()), pid=proc.pid)
            for (out, _), proc in zip(self.logs, self.procs)]


@pytest.fixture()
def start_job():
  """Starts a ``Job``; whatever is still running at the end is killed."""
  jobs = []
  yield lambda *args, **kwargs: jobs.append(Job(*args, **kwargs)) or jobs[-1]
  for job in jobs:
    job.kill()


def summary_of(stdout: str) -> dict:
  """The JSON summary the CLI prints last."""
  lines = stdout.splitlines()
  return json.loads("\n".join(lines[max(i for i, line in enumerate(lines) if line == "{"):]))


def host_batches(records: Path, index: int, count: int) -> list[dict]:
  """The first ``STEPS`` batches process ``index`` of ``count`` reads, as the trainer does."""
  it = iter(pipeline.make_dataset(get_config(str(records)), records, split="train",
                                  shuffle=True, repeat=True, process_index=index,
                                  process_count=count))
  return [next(it) for _ in range(STEPS)]


def logged_digests(path: Path) -> list[str]:
  lines = path.read_text().split()
  assert [int(line.split(",")[0]) for line in lines] == list(range(1, STEPS + 1)), lines
  return [line.split(",")[1] for line in lines]


def final_state(workdir: Path) -> dict:
  """The step-``STEPS`` checkpoint's train state as host arrays (whatever mesh saved it)."""
  path = workdir / "checkpoints" / str(STEPS) / "state"
  checkpointer = ocp.PyTreeCheckpointer()
  tree = checkpointer.metadata(path).item_metadata.tree
  args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=args))


def files_outside_checkpoints(workdir: Path) -> set[str]:
  names = set()
  for path in workdir.rglob("*"):
    relative = path.relative_to(workdir)
    if path.is_file() and relative.parts[0] != "checkpoints":
      names.add("logs/<events>" if relative.parts[0] == "logs" else str(relative))
  return names


@pytest.mark.slow
def test_two_processes_train_resume_and_match_one(records, tmp_path, start_job):
  # The one-process run goes alongside the first half of the two-process one, which leaves a
  # core idle while process 1 compiles.
  one = start_job(records, tmp_path / "one", STEPS, tmp_path / "one.batches", processes=1)
  first = start_job(records, tmp_path / "two", RESUME_AT, tmp_path / "two.batches",
                    processes=2, watch=tmp_path / "watch").wait()
  second = start_job(records, tmp_path / "two", STEPS, tmp_path / "two.batches", processes=2,
                     watch=tmp_path / "watch").wait()
  one = one.wait()

  # Every process resumed from the same step and ended at the last one.
  assert [s["first_step"] for s in first] == [0, 0]
  assert [s["first_step"] for s in second] == [RESUME_AT, RESUME_AT]
  assert [s["last_step"] for s in second] == [STEPS, STEPS] and one[0]["last_step"] == STEPS

  # The periodic evaluation (process 0 alone) saw every test record, as the one-process run.
  assert one[0]["eval"] and second[0]["eval"] == pytest.approx(one[0]["eval"], abs=1e-3), (second[0], one[0])

  # Same global data order: process i reads half i of each one-process batch, crops and flips
  # included, and the trainers consumed exactly those batches (across the resume too).
  whole = host_batches(records, 0, 1)
  halves = [host_batches(records, i, 2) for i in range(2)]
  for step, batch in enumerate(whole, 1):
    for key, rows in batch.items():
      n = len(rows) // 2
      for i, half in enumerate(halves):
        np.testing.assert_array_equal(half[step - 1][key], rows[i * n:(i + 1) * n],
                                      err_msg=f"step {step} {key} process {i}")
  assert logged_digests(tmp_path / "one.batches") == [train.batch_digest(b) for b in whole]
  for i, half in enumerate(halves):
    assert logged_digests(tmp_path / f"two.batches.process{i}") == [
        train.batch_digest(b) for b in half]

  # Only process 0 writes into the work directory; process 1 only its share of each checkpoint.
  writes = (tmp_path / "watch" / "writes.log").read_text().splitlines()
  assert any(w.endswith("/process_1-of-2.json") for w in writes), writes  # the hook works
  assert [w for w in writes if not w.split(" ", 1)[1].startswith("checkpoints/")] == []
  assert files_outside_checkpoints(tmp_path / "two") == files_outside_checkpoints(tmp_path / "one")
  # TensorBoard files (written in C++, out of the hook's sight) name the process that wrote them.
  writers = {int(p.name.split(".")[-3]) for p in (tmp_path / "two" / "logs").iterdir()}
  assert writers == {first[0]["pid"], second[0]["pid"]}

  # The same parameters and optimizer states as one process with 8 devices.
  assert_same_state(final_state(tmp_path / "two"), final_state(tmp_path / "one"),
                    get_config(str(records)))


def assert_same_state(got: dict, want: dict, config) -> None:
  """Equal up to float32 round-off, which differs because the gradients' all-reduce adds in
  another order (gloo between the processes).

  Adam moves every element by about the learning rate whatever the size of its gradient, so an
  element whose gradient is near zero at some step turns that round-off into a fraction of a
  step (3e-5 seen with lr 2e-4, in 1 of the critic's 2,541); the rest agree to ~1e-7. A wrong
  batch or an unsynchronised gradient moves most elements by whole steps.
  """
  assert np.array_equal(got["step"], want["step"]) and np.array_equal(got["rng"], want["rng"])
  for key, lr in (("g_params", config.train.lr_generator), ("d_params", config.train.lr_critic)):
    a, b = (np.concatenate([np.ravel(x) for x in jax.tree.leaves(t[key])]) for t in (got, want))
    np.testing.assert_allclose(a, b, rtol=0, atol=lr / 2, err_msg=key)
    close = np.mean(np.abs(a - b) <= 1e-6 + 1e-5 * np.abs(b))
    assert close > 0.99, f"only {close:.2%} of {key} agree to float32 round-off"
  for key in ("g_opt", "d_opt"):
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(got[key]),
                            jax.tree.leaves(want[key])):
      scale = float(np.max(np.abs(b), initial=0.0))
      np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * scale,
                                 err_msg=key + jax.tree_util.keystr(path))
