"""Learning curve on the held-out suite: every generator snapshot of a run, scored on the suite.

  .venv/bin/python benchmarks/learning_curve.py --exports=workdir/flagship/content/exports \
      [--suite=quick] [--rungs=h264_qp37,hevc_qp37,av1_crf45,jpeg_qf10] \
      [--out=benchmarks/results/flagship_curve] [--watch=SECONDS]

Training writes a snapshot every ``train.export_every`` steps (``<workdir>/exports/step_N``). Each
snapshot not yet in ``<out>/curve.json`` is run through the suite (``evaluate.evaluate_suite``:
whole frames through the enhance CLI's tiled path), and the curve is rewritten: ``curve.json``
(per step and rung: mean ΔPSNR, ΔLPIPS and the worst item's ΔPSNR), ``curve.md`` and
``curve.png``. With ``--watch`` it keeps polling for new snapshots (e.g. beside a background
run) until the run's final ``export/`` appears and is scored.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from jaxenhance import atomic_write, evaluate

DEFAULT_RUNGS = "h264_qp37,hevc_qp37,av1_crf45,jpeg_qf10"


def snapshots(exports: Path) -> dict[int, Path]:
  found = {}
  for path in exports.glob("step_*"):
    match = re.fullmatch(r"step_(\d+)", path.name)
    if match and (path / "generator.json").is_file():
      found[int(match.group(1))] = path
  return dict(sorted(found.items()))


def point(results: dict) -> dict:
  return {tag: {"delta_psnr": r["delta_psnr"], "delta_lpips": r["delta_lpips"],
                "worst_delta_psnr": r["worst_delta_psnr"],
                "compressed_psnr": r["compressed"]["psnr"]}
          for tag, r in results["rungs"].items()} | {
              "identity_psnr": results["identity"]["mean_psnr"]}


def markdown(curve: dict, title: str) -> str:
  steps = sorted(curve["points"], key=int)
  tags = list(curve["points"][steps[0]]) if steps else []
  tags = [t for t in tags if t != "identity_psnr"]
  lines = [f"# {title}", "", f"suite: {curve['suite']}; mean ΔPSNR dB / ΔLPIPS (worst item's "
           "ΔPSNR) per rung against the compressed input; G(pristine) PSNR", "",
           "| step | " + " | ".join(tags) + " | G(pristine) |", "|---" * (len(tags) + 2) + "|"]
  for s in steps:
    p = curve["points"][s]
    cells = [f"{p[t]['delta_psnr']:+.3f} / {p[t]['delta_lpips']:+.4f} "
             f"({p[t]['worst_delta_psnr']['value']:+.2f})" for t in tags]
    lines.append(f"| {s} | " + " | ".join(cells) + f" | {p['identity_psnr']:.1f} |")
  return "\n".join(lines) + "\n"


def plot(curve: dict, path: Path, title: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  steps = sorted(curve["points"], key=int)
  tags = [t for t in curve["points"][steps[0]] if t != "identity_psnr"]
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  for tag in tags:
    xs = [int(s) for s in steps]
    axes[0].plot(xs, [curve["points"][s][tag]["delta_psnr"] for s in steps], "o-", label=tag)
    axes[1].plot(xs, [curve["points"][s][tag]["delta_lpips"] for s in steps], "o-", label=tag)
  for ax, name in zip(axes, ("mean ΔPSNR (dB)", "mean ΔLPIPS")):
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel(name)
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=7)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def update(exports: Path, out: Path, suite: str, rungs: list[str], title: str,
           final: Path | None = None) -> dict:
  """Scores every snapshot (and ``final``, as its own step) not yet in the curve."""
  curve_path = out / "curve.json"
  curve = json.loads(curve_path.read_text()) if curve_path.is_file() else {
      "suite": suite, "rungs": rungs, "points": {}}
  todo = {str(s): p for s, p in snapshots(exports).items() if str(s) not in curve["points"]}
  if final is not None and (final / "generator.json").is_file():
    step = str(json.loads((final / "generator.json").read_text()).get("step"))
    if step not in curve["points"]:
      todo[step] = final
  for step, path in sorted(todo.items(), key=lambda kv: int(kv[0])):
    start = time.perf_counter()
    results = evaluate.evaluate_suite(str(path), suite=suite, rungs=rungs)
    curve["points"][step] = point(results)
    print(f"step {step}: " + ", ".join(
        f"{t} {curve['points'][step][t]['delta_psnr']:+.3f} dB" for t in rungs) +
          f" ({time.perf_counter() - start:.0f} s)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write.write_text(curve_path, json.dumps(curve, indent=1))
    atomic_write.write_text(out / "curve.md", markdown(curve, title))
    plot(curve, out / "curve.png", title)
  return curve


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--exports", required=True, help="<workdir>/exports of a training run")
  parser.add_argument("--suite", default="quick")
  parser.add_argument("--rungs", default=DEFAULT_RUNGS)
  parser.add_argument("--out", default="benchmarks/results/flagship_curve")
  parser.add_argument("--title", default="Learning curve on the held-out suite")
  parser.add_argument("--watch", type=float, default=0.0,
                      help="poll for new snapshots every this many seconds until the run's "
                           "final export exists and is scored")
  args = parser.parse_args()
  exports, out = Path(args.exports), Path(args.out)
  final = exports.parent / "export"
  rungs = [r for r in args.rungs.split(",") if r]
  while True:
    update(exports, out, args.suite, rungs, args.title, final)
    if not args.watch or (final / "generator.json").is_file():
      break
    time.sleep(args.watch)


if __name__ == "__main__":
  main()
