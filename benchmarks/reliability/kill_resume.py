r"""Kill the training CLI at random points, resume it, and compare with an uninterrupted run.

  python benchmarks/reliability/kill_resume.py [--steps 12] [--seed 0] [--out DIR]

Every run is the real ``python -m jaxenhance.train`` in a subprocess with the trainer tests' tiny
config on real records (``tests/reliability_helpers.py``), logging ``step,sha1(batch)`` for every
batch it consumes (``--config.train.batch_log``). A reference run goes straight through; each
scenario kills a run (SIGKILL unless said otherwise) at one or more points, starts it again on the
same work directory until it finishes, and checks:

* the final train state (generator and critic parameters, both optimizer states, RNG, step) is
  bit-identical to the reference's (sha1 of every leaf of the newest Orbax checkpoint);
* every batch every process consumed, including those replayed after a kill, is the batch the
  reference consumed at that step (so the sequence of batches is identical);
* no Orbax temporary directory is left and the work-directory lock was released.

Kill points: during start-up (lock held, before step 1), after a random step, while Orbax writes
a checkpoint (its temporary directory exists), right after a checkpoint completes, at a random
time of a resumed process (often during restore/compilation), during the final export, three
random kills in one run, and SIGTERM (which must save a checkpoint and exit 0). One more scenario
kills a run right after a checkpoint, garbles that (newest) checkpoint's arrays and resumes: the
run must fall back to the previous checkpoint, move the unreadable one aside, save that step
again (bit-identical to the reference's) and continue past it.

Takes ~1 min per process on a loaded 2-core machine (the XLA compilation cache of the tests is
reused). Writes ``benchmarks/results/kill_resume.md``; with ``--only`` the rows of the scenarios
not run are kept from the existing table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import reliability_helpers as h


def build_records(workdir: Path) -> Path:
  from jaxenhance.data import builder

  records = workdir / "records"
  builder.build(h.get_config(str(records)), workdir, num_workers=1)
  return records


class Run:
  """One work directory, run and killed repeatedly until the training finishes."""

  def __init__(self, records: Path, workdir: Path, steps: int):
    self.records, self.workdir, self.steps = records, workdir, steps
    self.batch_log = workdir.with_suffix(".batches")
    self.log = workdir.with_suffix(".log")
    self.events: list[str] = []
    self.corrupted: int | None = None  # a checkpoint step this scenario garbled

  def start(self):
    return h.start_trainer(self.records, self.workdir, f"--config.train.steps={self.steps}",
                           f"--config.train.batch_log={self.batch_log}", log=self.log)

  def lines(self) -> int:
    return len(h.batch_lines(self.batch_log))

  def kill_when(self, predicate, what: str, sig=signal.SIGKILL) -> int:
    proc = self.start()
    hit = h.wait_for(predicate, proc, timeout=900)
    if proc.poll() is None:
      proc.send_signal(sig)
      code = proc.wait()
      done = f"{'SIGKILL' if sig == signal.SIGKILL else 'SIGTERM'} {what}"
      self.events.append(done + f" (batches logged: {self.lines()}, checkpoints: "
                         f"{h.checkpoint_steps(self.workdir)})")
    else:
      code = proc.returncode
      self.events.append(f"{what}: not reached (exit {code})" if not hit else
                         f"{what}: reached as the process exited")
    return code

  def finish(self) -> int:
    proc = self.start()
    return proc.wait()


def compare(run: Run, reference: dict) -> dict:
  lines = h.batch_lines(run.batch_log)
  mismatched = sorted({s for s, d in lines if reference["batches"].get(s) != d})
  covered = sorted({s for s, _ in lines})
  leftovers = [p.name for p in (run.workdir / "checkpoints").iterdir() if "tmp" in p.name]
  digests = h.state_digests(run.workdir)
  same_state = digests == reference["state"]
  return {
      "identical state": same_state,
      "batches consumed": len(lines),
      "replayed": len(lines) - len(covered),
      "batch mismatches": mismatched,
      "all steps": covered == list(range(1, run.steps + 1)),
      "tmp left": leftovers,
      "export": (run.workdir / "export" / "generator.msgpack").is_file(),
  }


def fallback_line(run: Run) -> str:
  """The trainer's one-line fallback warning, from a run's log."""
  found = [ln.replace(str(run.workdir), "<workdir>")
           for ln in run.log.read_text(errors="replace").splitlines()
           if ln.startswith("warning: checkpoint")]
  if not found:
    return "NONE LOGGED"
  return found[-1].removeprefix("warning: ").replace(" moved them to ", " moved aside to ")


def merge_rows(old: list[str], new: list[str], only: list[str], note: str) -> list[str]:
  """The existing table with the rows of ``only`` replaced (or added) and the run noted."""
  rows = {ln.split("|")[1].strip(): ln for ln in new if ln.startswith("| ") and "|---" not in ln}
  merged = [rows.pop(ln.split("|")[1].strip(), ln) if ln.startswith("| ") else ln for ln in old]
  merged += [row for name, row in rows.items() if name in only]
  at = next(i for i, ln in enumerate(merged) if ln.startswith("| scenario"))
  return merged[:at] + [note, ""] + merged[at:]


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=12)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", type=Path, default=None, help="work area (default: a temp dir)")
  parser.add_argument("--only", default="", help="comma-separated scenario names")
  args = parser.parse_args()
  rng = random.Random(args.seed)
  base = args.out or Path(tempfile.mkdtemp(prefix="kill_resume_"))
  base.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  records = build_records(base)
  steps = args.steps

  print(f"work area {base}; reference run of {steps} steps", flush=True)
  ref = Run(records, base / "reference", steps)
  code = ref.finish()
  assert code == 0, f"reference run failed, see {ref.log}"
  reference = {"batches": dict(h.batch_lines(ref.batch_log)),
               "state": h.state_digests(ref.workdir)}
  assert sorted(reference["batches"]) == list(range(1, steps + 1))

  def after_step(run, k):
    return lambda: run.lines() >= k

  scenarios = {}

  def scenario(fn):
    scenarios[fn.__name__] = fn
    return fn

  @scenario
  def startup(run):
    run.kill_when(lambda: (run.workdir / "config.json").is_file(), "during start-up (lock held)")

  @scenario
  def random_step(run):
    k = rng.randint(1, steps - 1)
    run.kill_when(after_step(run, k), f"after batch {k} was read")

  @scenario
  def during_save(run):
    run.kill_when(lambda: h.saving_checkpoint(run.workdir), "while Orbax writes a checkpoint")

  @scenario
  def after_save(run):
    run.kill_when(lambda: 6 in h.checkpoint_steps(run.workdir) and not
                  h.saving_checkpoint(run.workdir), "right after checkpoint 6 completed")

  @scenario
  def during_resume(run):
    k = rng.randint(4, 5)
    run.kill_when(after_step(run, k), f"after batch {k}")
    seconds = rng.uniform(3.0, 25.0)
    t0 = time.monotonic()
    run.kill_when(lambda: time.monotonic() - t0 > seconds,
                  f"the resumed process {seconds:.1f} s after its start")

  @scenario
  def during_export(run):
    run.kill_when(lambda: (run.workdir / "export").exists(), "when the final export began")

  @scenario
  def three_kills(run):
    for k in sorted(rng.sample(range(1, steps), 3)):
      run.kill_when(after_step(run, k), f"after batch {k}")

  @scenario
  def sigterm(run):
    k = rng.randint(2, steps - 2)
    code = run.kill_when(after_step(run, k), f"after batch {k}", sig=signal.SIGTERM)
    text = run.log.read_text()
    saved = "SIGTERM received: checkpoint" in text
    run.events.append(f"exit code {code}; '{'saved' if saved else 'NO SAVE MESSAGE'}'; "
                      f"checkpoints {h.checkpoint_steps(run.workdir)}")
    if code != 0 or not saved:
      raise AssertionError(f"SIGTERM did not save and exit cleanly (exit {code})")

  @scenario
  def corrupt_newest(run):
    run.kill_when(lambda: 6 in h.checkpoint_steps(run.workdir) and not
                  h.saving_checkpoint(run.workdir), "right after checkpoint 6 completed")
    run.corrupted = h.checkpoint_steps(run.workdir)[-1]
    h.damage_checkpoint(run.workdir / "checkpoints" / str(run.corrupted), "flip")
    run.events.append(f"garbled the arrays of the newest checkpoint, {run.corrupted}")

  only = [s for s in args.only.split(",") if s]
  rows = []
  for name, fn in scenarios.items():
    if only and name not in only:
      continue
    run = Run(records, base / name, steps)
    t0 = time.perf_counter()
    try:
      fn(run)
      code = run.finish()
      result = compare(run, reference) if code == 0 else {"error": f"exit {code}, see {run.log}"}
      if code == 0 and run.corrupted is not None:  # saved again over the garbled step?
        result["garbled step saved again"] = (h.state_digests(run.workdir, run.corrupted)
                                              == h.state_digests(ref.workdir, run.corrupted))
        run.events.append(f"fallback: {fallback_line(run)}")
    except AssertionError as exc:
      result = {"error": str(exc)}
    ok = ("error" not in result and result["identical state"] and not result["batch mismatches"]
          and result["all steps"] and not result["tmp left"] and result["export"]
          and result.get("garbled step saved again", True))
    rows.append((name, "; ".join(run.events), result, ok, time.perf_counter() - t0))
    print(f"{name}: {'OK' if ok else 'FAILED'} {run.events} {result}", flush=True)

  intro = (f"`python benchmarks/reliability/kill_resume.py --steps {steps} --seed {args.seed}` "
           f"({len(rows)} scenarios, {time.perf_counter() - start:.0f} s). Each scenario kills "
           "the real training CLI, restarts it on the same work directory until it finishes, "
           "and compares with an uninterrupted run.")
  header = ("| scenario | interruptions | batches read (replayed) | final state bit-identical "
            "| batch sequence identical | result |")
  lines = ["# Kill/resume sweep", "", intro, "", header, "|---|---|---|---|---|---|"]
  for name, events, result, ok, seconds in rows:
    if "error" in result:
      lines.append(f"| {name} | {events} | | | | FAILED: {result['error']} |")
      continue
    if "garbled step saved again" in result:
      events += f"; step {run.corrupted} saved again bit-identical: " + \
          ("yes" if result["garbled step saved again"] else "NO")
    lines.append(f"| {name} | {events} | {result['batches consumed']} ({result['replayed']}) | "
                 f"{'yes' if result['identical state'] else 'NO'} | "
                 f"{'yes' if not result['batch mismatches'] else result['batch mismatches']} | "
                 f"{'ok' if ok else 'FAILED'} ({seconds:.0f} s) |")
  out = ROOT / "benchmarks" / "results" / "kill_resume.md"
  if only and out.is_file():
    note = (f"Row(s) {', '.join(only)} re-run alone (`--only {','.join(only)}`, "
            f"{time.perf_counter() - start:.0f} s with its reference run); the others are from "
            "the full sweep above.")
    lines = merge_rows(out.read_text().splitlines(), lines, only, note)
  table = "\n".join(lines) + "\n"
  print("\n" + table)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(table)
  if args.out is None:
    shutil.rmtree(base, ignore_errors=True)
  if not all(ok for *_, ok, _ in rows):
    sys.exit(1)


if __name__ == "__main__":
  main()
