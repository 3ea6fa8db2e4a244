r"""Hostile export directories, planted links and crafted torch files, as an attacker would try.

  python benchmarks/reliability/hostile_cases.py [--out DIR]

The cases of issue 17 that are not malformed footage (those are in ``bad_input_corpus.py``) nor
kills (``kill_resume.py``):

* hostile ``--checkpoint`` directories through ``python -m jaxenhance.enhance`` (a 16x16 PNG):
  a ``generator.json`` that is a list, lacks ``generator``, names an unknown kind, has a width of
  ``1e400``/``NaN``/``"abc"``, ``channel_multiplier: 0``, ``num_blocks: 20000``,
  ``temporal_window: 100000001``; parameters that are NaN, Inf, bool, int32, float16, float64 or
  complex. Expected: exit 2, one line naming the field, no output, in seconds;
* links planted in an output directory: at the temporary names used before (evaluate's
  ``.results.json.tmp``, the trainer's ``config.json.tmp``) and at the output name itself.
  Expected: the link's target keeps its sha256;
* crafted torch files read through ``torch_zip.read_state`` / ``inception.load_params`` in a
  child process whose peak resident memory is measured: a 1 GiB zip bomb (a 16-byte storage), a
  stride-0 tensor posing as 40 GB, an old-format file claiming 2**40 elements, and a file named
  ``pt_inception-2015-12-05-<its own sha256 prefix>.pth``. Expected: a ``TorchZipError`` /
  ``AssetError`` and a peak of tens of MB, not GB.

Writes ``benchmarks/results/reliability_hostile.md``. ~2-4 min on a loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import reliability_helpers as h

TIMEOUT = 300


def run(cmd: list[str]) -> tuple[int | None, str, str, float]:
  start = time.perf_counter()
  try:
    out = subprocess.run(cmd, cwd=ROOT, env=h.subprocess_env(), capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    return out.returncode, out.stdout, out.stderr, time.perf_counter() - start
  except subprocess.TimeoutExpired:
    return None, "", "", time.perf_counter() - start


def one_line_error(code, stderr: str, must_name: str, base: Path) -> tuple[str, bool]:
  lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
  if code is None:
    return "HANG (timeout)", False
  if "Traceback" in stderr:
    return f"CRASH (exit {code}): {lines[-1] if lines else ''}", False
  text = lines[-1].replace("jaxenhance enhance: error: ", "") if lines else "(no message)"
  text = text.replace(str(base), "<dir>")
  passed = code == 2 and len(lines) == 1 and must_name in lines[0]
  return f"exit {code}: {text}", passed


# ---------------------------------------------------------------------------------------------
# Hostile export directories.
# ---------------------------------------------------------------------------------------------

def export_cases(base: Path) -> list[dict]:
  from flax import serialization
  from PIL import Image

  from jaxenhance import export

  good = Path(export.save_generator(base / "good_export", h.get_config().generator, _params()))
  meta = json.loads((good / export.META_FILE).read_text())
  params = serialization.msgpack_restore((good / export.PARAMS_FILE).read_bytes())
  source = base / "in.png"
  Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(source)

  def with_gen(**fields):
    return json.dumps({**meta, "generator": {**meta["generator"], **fields}})

  def last_leaf(fn):
    import jax

    leaves, tree = jax.tree.flatten(params)
    leaves[-1] = fn(leaves[-1])
    return jax.tree.unflatten(tree, leaves)

  hostile_meta = {
      "generator.json is a list": ("[1, 2]", "JSON object"),
      "no 'generator'": ('{"format_version": 1}', "no 'generator'"),
      "unknown kind": (with_gen(kind="transformer"), "generator.kind"),
      "width 1e400": ('{"format_version": 1, "generator": {"width": 1e400}}', "generator.width"),
      "width NaN": ('{"format_version": 1, "generator": {"width": NaN}}', "generator.width"),
      'width "abc"': (with_gen(width="abc"), "generator.width"),
      "channel_multiplier 0": (with_gen(channel_multiplier=0), "generator.channel_multiplier"),
      "num_blocks 20000": (with_gen(num_blocks=20000), "generator.num_blocks"),
      "temporal_window 100000001": (with_gen(temporal_window=100000001),
                                    "generator.temporal_window"),
  }
  hostile_params = {
      "NaN parameters": (lambda x: np.full_like(x, np.nan), "NaN or infinite"),
      "Inf parameters": (lambda x: np.full_like(x, np.inf), "NaN or infinite"),
      "bool parameters": (lambda x: x > 0, "not float32"),
      "int32 parameters": (lambda x: x.astype(np.int32), "not float32"),
      "float16 parameters": (lambda x: x.astype(np.float16), "not float32"),
      "float64 parameters": (lambda x: x.astype(np.float64), "not float32"),
      "complex64 parameters": (lambda x: x.astype(np.complex64), "not float32"),
  }
  cases = [(name, text, params, field) for name, (text, field) in hostile_meta.items()]
  cases += [(name, json.dumps(meta), last_leaf(change), field)
            for name, (change, field) in hostile_params.items()]
  rows = []
  for i, (name, text, tensors, field) in enumerate(cases):
    directory = base / f"export_{i}"
    directory.mkdir()
    (directory / export.META_FILE).write_text(text)
    (directory / export.PARAMS_FILE).write_bytes(serialization.msgpack_serialize(tensors))
    out = base / f"out_{i}.png"
    code, _, err, secs = run([sys.executable, "-m", "jaxenhance.enhance", str(source), str(out),
                              f"--checkpoint={directory}", "--no-progress"])
    outcome, passed = one_line_error(code, err, field, base)
    if out.exists():
      outcome, passed = f"OUTPUT WRITTEN; {outcome}", False
    rows.append({"group": "hostile export (enhance CLI)", "case": name, "outcome": outcome,
                 "seconds": secs, "peak_mb": None, "passed": passed})
  return rows


def _params():
  import jax

  from jaxenhance.models import generator as generator_lib

  return generator_lib.make_generator(h.get_config().generator).init(
      jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))


# ---------------------------------------------------------------------------------------------
# Links planted in output directories.
# ---------------------------------------------------------------------------------------------

def planted_link_cases(base: Path) -> list[dict]:
  from PIL import Image

  export_dir = base / "good_export"
  config = ROOT / "benchmarks" / "reliability" / "corpus_config.py"
  victim = base / "victim.txt"
  rows = []

  def case(name, prepare, cmd, expect_code=0):
    victim.write_text("precious\n")
    before = hashlib.sha256(victim.read_bytes()).hexdigest()
    prepare()
    code, _, err, secs = run(cmd)
    kept = hashlib.sha256(victim.read_bytes()).hexdigest() == before
    passed = kept and code == expect_code and "Traceback" not in err
    rows.append({"group": "planted link", "case": name,
                 "outcome": f"exit {code}; link target {'unchanged' if kept else 'OVERWRITTEN'}",
                 "seconds": secs, "peak_mb": None, "passed": passed})

  eval_out = base / "eval_out"
  eval_out.mkdir()
  case("evaluate: link at the old `.results.json.tmp` and `.results.md.tmp`",
       lambda: [(eval_out / n).symlink_to(victim) for n in (".results.json.tmp",
                                                              ".results.md.tmp")],
       [sys.executable, "-m", "jaxenhance.evaluate", f"--config={config}:photo:coffee",
        f"--checkpoint={export_dir}", "--clips=photo:coffee", "--metrics=psnr",
        "--max_examples=2", f"--output={eval_out}"])
  work = base / "train_work"
  work.mkdir()
  case("train: link at the old `config.json.tmp`",
       lambda: (work / "config.json.tmp").symlink_to(victim),
       [sys.executable, "-m", "jaxenhance.train",
        f"--config={ROOT / 'tests' / 'reliability_helpers.py'}", f"--workdir={work}",
        "--dry_run"])
  source = base / "link_in.png"
  Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(source)
  out = base / "link_out.png"
  case("enhance: the output name itself is a link",
       lambda: out.symlink_to(victim),
       [sys.executable, "-m", "jaxenhance.enhance", str(source), str(out),
        f"--checkpoint={export_dir}", "--no-progress"])
  return rows


# ---------------------------------------------------------------------------------------------
# Crafted torch files, read in a child process whose peak memory is measured.
# ---------------------------------------------------------------------------------------------

_READ = r"""
import resource, sys, time
from jaxenhance import assets, torch_zip
from jaxenhance.models import inception
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Python, JAX, the reader
start = time.perf_counter()
try:
  (inception.load_params if sys.argv[2] == "inception" else torch_zip.read_state)(sys.argv[1])
  outcome = "read without error"
except (torch_zip.TorchZipError, assets.AssetError) as exc:
  outcome = f"{type(exc).__name__}: {exc}"
except MemoryError as exc:
  outcome = f"MemoryError {exc}"
print(outcome.replace(sys.argv[1], "FILE"))
print(time.perf_counter() - start)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def _tensor_pickle(stride, size=(2, 2), numel=4, legacy=False) -> bytes:
  """{'w': a float tensor over storage '0' of ``numel`` elements}, opcode by opcode."""
  def ints(values):
    return b"(" + b"".join(b"I%d\n" % v for v in values) + b"t"

  return (b"\x80\x02}Vw\nctorch._utils\n_rebuild_tensor_v2\n(("
          b"Vstorage\nctorch\nFloatStorage\nV0\nVcpu\nI%d\n%stQ" % (numel, b"N" if legacy else b"")
          + b"I0\n" + ints(size) + ints(stride) + b"\x89ccollections\nOrderedDict\n)Rt"
          b"Rs.")


def torch_cases(base: Path) -> list[dict]:
  from jaxenhance import torch_zip

  files = {}
  bomb = base / "bomb.pt"
  with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("archive/data.pkl", _tensor_pickle((2, 1)))
    with archive.open("archive/data/0", "w") as member:
      for _ in range(1024):
        member.write(bytes(1 << 20))
  files[f"zip bomb: {bomb.stat().st_size / 1e6:.1f} MB inflating to 1 GiB, 16 bytes declared"] = (
      bomb, "read_state", "inflates to more than")
  stride0 = base / "stride0.pt"
  with zipfile.ZipFile(stride0, "w") as archive:
    archive.writestr("archive/data.pkl", _tensor_pickle((0, 0), size=(100_000, 100_000)))
    archive.writestr("archive/data/0", np.arange(4, dtype="<f4").tobytes())
  files["stride-0 tensor: 4 elements posing as 100000x100000 (40 GB)"] = (
      stride0, "read_state", "would take")
  legacy = base / "legacy.pth"
  header = b"".join(pickle.dumps(v, protocol=2) for v in (
      torch_zip.LEGACY_MAGIC, 1001, {"little_endian": True, "protocol_version": 1001}))
  legacy.write_bytes(header + _tensor_pickle((2, 1), numel=1 << 40, legacy=True)
                     + pickle.dumps(["0"], protocol=2) + (1 << 40).to_bytes(8, "little"))
  files["old-format file claiming 2**40 elements"] = (legacy, "read_state", "declare")
  data = legacy.read_bytes()
  named = base / f"pt_inception-2015-12-05-{hashlib.sha256(data).hexdigest()[:8]}.pth"
  named.write_bytes(data)
  files["any file named pt_inception-2015-12-05-<its own sha256 prefix>.pth"] = (
      named, "inception", "not that of pytorch-fid")
  rows = []
  for name, (path, reader, expect) in files.items():
    code, out, err, secs = run([sys.executable, "-c", _READ, str(path), reader])
    lines = out.strip().splitlines()
    if code != 0 or len(lines) != 3:
      rows.append({"group": "crafted torch file (API)", "case": name,
                   "outcome": f"CRASH (exit {code}): {(err.strip().splitlines() or [''])[-1]}",
                   "seconds": secs, "peak_mb": None, "passed": False})
      continue
    outcome, seconds = lines[0], float(lines[1])
    before, peak = (float(v) for v in lines[2].split())
    rows.append({"group": "crafted torch file (API)", "case": name, "outcome": outcome,
                 "seconds": seconds, "peak_mb": (before, peak),
                 "passed": expect in outcome and peak - before < 64})
  return rows


def markdown(rows: list[dict], seconds: float) -> str:
  failed = sum(not r["passed"] for r in rows)
  intro = (f"`python benchmarks/reliability/hostile_cases.py`: {len(rows)} cases, "
           f"{len(rows) - failed} passed, {failed} failed ({seconds:.0f} s). Hostile exports and "
           "planted links go through the real CLIs in subprocesses (seconds: the whole "
           "process); crafted torch files through the reader in a child process (seconds: the "
           "read; peak: the child's maximum resident memory before → after the read, Python, "
           "JAX and the reader's imports included before).")
  lines = ["# Hostile inputs", "", intro, "",
           "| group | case | outcome | seconds | peak MB | pass |", "|---|---|---|---|---|---|"]
  for r in rows:
    outcome = r["outcome"].replace("|", "/")
    outcome = outcome if len(outcome) <= 200 else outcome[:197] + "..."
    peak = "{:.0f} → {:.0f}".format(*r["peak_mb"]) if r["peak_mb"] is not None else ""
    lines.append(f"| {r['group']} | {r['case']} | {outcome} | {r['seconds']:.1f} | {peak} | "
                 f"{'yes' if r['passed'] else '**NO**'} |")
  return "\n".join(lines) + "\n"


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--out", type=Path, default=None, help="work area (default: a temp dir)")
  args = parser.parse_args()
  base = args.out or Path(tempfile.mkdtemp(prefix="hostile_"))
  base.mkdir(parents=True, exist_ok=True)
  start = time.perf_counter()
  rows = export_cases(base) + planted_link_cases(base) + torch_cases(base)
  for r in rows:
    print(f"{'PASS' if r['passed'] else 'FAIL'} {r['case']}: {r['outcome'][:150]}", flush=True)
  table = markdown(rows, time.perf_counter() - start)
  out = ROOT / "benchmarks" / "results" / "reliability_hostile.md"
  out.write_text(table)
  print("\n" + table + f"\nwrote {out}")
  sys.exit(0 if all(r["passed"] for r in rows) else 1)


if __name__ == "__main__":
  os.environ.setdefault("JAX_PLATFORMS", "cpu")
  main()
