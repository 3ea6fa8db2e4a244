"""Full-range evaluation of a JPEG quality predictor: held-out images at every quality of a grid,
through every encoder; the error of the estimated quality and where routing would send each image.

``evaluate`` does the work (one JPEG round trip and one prediction per image, encoder and
quality) and returns plain lists; ``summarise`` turns them into per-quality rows (MAE, spread,
routed classes) and totals; ``markdown`` and ``plot`` show one or several runs side by side
(``qf_train`` writes one, ``benchmarks/qf_fullrange.py`` compares runs).

The true quality of an image is the one its file's tables give (``jpeg_quality``): the QF asked
for with Pillow and OpenCV, mjpeg's effective quality otherwise. The *expected* class is the
routing class nearest that true quality (``QualityClasses.nearest``): what a perfect estimate
would route to. A class *below* it (a lower QF: a stronger generator than the image needs) is the
costly mistake; the table counts those separately.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jaxenhance import atomic_write, jpeg_encoders
from jaxenhance.models import qf

HIGH_QF = 60  # the split the totals report: QF up to 60 (the classes' range) and above it


def evaluate(predictor: qf.Predictor, frames: Sequence[np.ndarray], encoders: Sequence[str],
             qualities: Sequence[int], log: Callable[[str], Any] | None = None) -> dict[str, Any]:
  """Every frame (uint8 [H, W, 3]) at every quality through every encoder.

  Returns:
    {"classes": routing class values, "qualities": the grid, "encoders": {encoder: [{"target":
    QF asked, "true": [QF the file says, per frame], "pred": [estimate per frame]}]}}.
  """
  out = {"classes": list(predictor.classes.values), "qualities": [int(v) for v in qualities],
         "encoders": {}}
  for encoder in encoders:
    rows = []
    for target in qualities:
      true, pred = [], []
      for frame in frames:
        coded = jpeg_encoders.round_trip(frame, encoder, target)
        true.append(coded.quality)
        pred.append(round(float(predictor.predict_quality(coded.decoded[None])[0]), 2))
      rows.append({"target": int(target), "true": true, "pred": pred})
    out["encoders"][encoder] = rows
    if log:
      log(f"evaluated {encoder}: {len(frames)} images at {len(qualities)} qualities")
  return out


def _routes(row: Mapping[str, Any], classes: qf.QualityClasses) -> tuple[np.ndarray, ...]:
  """True QF, estimate, routed class value and expected class value of each image of a row."""
  true, pred = np.asarray(row["true"], np.float64), np.asarray(row["pred"], np.float64)
  # The class route() picks: Predictor.predict_class is nearest(predict_quality).
  routed = np.asarray([classes.values[classes.nearest(p)] for p in pred])
  expected = np.asarray([classes.values[classes.nearest(t)] for t in true])
  return true, pred, routed, expected


def _row_summary(row: Mapping[str, Any], classes: qf.QualityClasses) -> dict[str, Any]:
  true, pred, routed, expected = _routes(row, classes)
  values, counts = np.unique(routed, return_counts=True)
  return {"target": row["target"], "true": float(np.median(true)), "count": len(true),
          "mae": float(np.abs(pred - true).mean()), "median": float(np.median(pred)),
          "p10": float(np.percentile(pred, 10)), "p90": float(np.percentile(pred, 90)),
          "routed": {int(v): int(c) for v, c in zip(values[::-1], counts[::-1])},
          "expected": int(np.median(expected)),
          "right": float((routed == expected).mean()), "lower": float((routed < expected).mean())}


def summarise(results: Mapping[str, Any]) -> dict[str, Any]:
  """Per encoder: one row per quality (MAE, median and 10-90 % of the estimate, routed classes
  with counts, expected class, share routed right and below) and totals up to / above
  ``HIGH_QF``."""
  classes = qf.QualityClasses.jpeg(results["classes"])
  out = {}
  for encoder, rows in results["encoders"].items():
    true, pred, routed, expected = (np.concatenate(a) for a in zip(
        *(_routes(row, classes) for row in rows)))
    totals = {}
    for part, keep in (("all", true > 0), ("low", true <= HIGH_QF), ("high", true > HIGH_QF)):
      if keep.any():
        totals[part] = {"mae": float(np.abs(pred - true)[keep].mean()),
                        "right": float((routed == expected)[keep].mean()),
                        "lower": float((routed < expected)[keep].mean()),
                        "count": int(keep.sum())}
    out[encoder] = {"rows": [_row_summary(row, classes) for row in rows], "totals": totals}
  return out


def _routed_text(routed: Mapping[int, int]) -> str:
  return ", ".join(f"{v}×{c}" for v, c in sorted(routed.items(), key=lambda kv: -kv[1]))


def _total_cell(totals: Mapping[str, Any], part: str, key: str, percent: bool = False) -> str:
  if part not in totals:
    return "–"
  value = totals[part][key]
  return f"{100 * value:.1f} %" if percent else f"{value:.1f}"


def markdown(runs: Mapping[str, Mapping[str, Any]], title: str, header: Sequence[str] = ()
             ) -> str:
  """Markdown for one or more runs (``{name: evaluate(...)}``) evaluated on the same images;
  ``header``: lines (the command, the data) put under the title."""
  sums = {name: summarise(r) for name, r in runs.items()}
  first = next(iter(runs.values()))
  lines = [f"# {title}", ""] + ([*header, ""] if header else [])
  note = (f"Routing classes: QF {', '.join(str(v) for v in first['classes'])}. *Expected*: "
          "the class nearest the file's quality on the quantiser-step axis (ties to the higher "
          "QF); *lower*: routed to a lower-QF class than expected (a stronger generator than "
          "the image needs).")
  columns = ("run", "encoder", "MAE (QF) all", "MAE QF ≤ 60", "MAE QF > 60",
             "routed as expected QF ≤ 60", "routed as expected QF > 60", "routed lower QF > 60")
  lines += [note, "", "## Totals", "", "| " + " | ".join(columns) + " |",
            "|---" * len(columns) + "|"]
  for name, s in sums.items():
    for encoder, e in s.items():
      t = e["totals"]
      cells = [_total_cell(t, "all", "mae"), _total_cell(t, "low", "mae"),
               _total_cell(t, "high", "mae"), _total_cell(t, "low", "right", True),
               _total_cell(t, "high", "right", True), _total_cell(t, "high", "lower", True)]
      lines.append(f"| {name} | {encoder} | " + " | ".join(cells) + " |")
  lines.append("")
  names = list(sums)
  for encoder in first["encoders"]:
    rows = {name: sums[name][encoder]["rows"] for name in names if encoder in sums[name]}
    count = next(iter(rows.values()))[0]["count"]
    lines += [f"## {encoder} ({count} held-out images per row)", "",
              "| QF asked | QF in file | expected class | " + " | ".join(
                  f"{n}: MAE | {n}: estimate median [10–90 %] | {n}: routed to" for n in rows)
              + " |", "|---" * (3 + 3 * len(rows)) + "|"]
    for i, base in enumerate(next(iter(rows.values()))):
      cells = [str(base["target"]), f"{base['true']:g}", str(base["expected"])]
      for r in (rows[n][i] for n in rows):
        cells += [f"{r['mae']:.1f}", f"{r['median']:.1f} [{r['p10']:.1f}–{r['p90']:.1f}]",
                  _routed_text(r["routed"])]
      lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
  return "\n".join(lines)


def plot(runs: Mapping[str, Mapping[str, Any]], title: str, path: str | Path) -> None:
  """Estimated vs true QF per encoder: each run's median and 10-90 % band, the diagonal and the
  routing classes' boundaries."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  sums = {name: summarise(r) for name, r in runs.items()}
  first = next(iter(runs.values()))
  classes = qf.QualityClasses.jpeg(first["classes"])
  # Boundaries between neighbouring classes: where nearest() changes, on a fine QF grid.
  grid = np.arange(1.0, 99.0, 0.1)
  owner = np.asarray([classes.nearest(v) for v in grid])
  bounds = grid[1:][np.diff(owner) != 0]
  encoders = list(first["encoders"])
  fig, axes = plt.subplots(1, len(encoders), figsize=(5 * len(encoders), 5), squeeze=False)
  for ax, encoder in zip(axes[0], encoders):
    ax.plot([0, 100], [0, 100], color="gray", lw=0.8, ls="--", label="estimate = true")
    for b in bounds:
      ax.axhline(b, color="gray", lw=0.5, ls=":")
    for name, s in sums.items():
      rows = s[encoder]["rows"]
      x = [r["true"] for r in rows]
      ax.plot(x, [r["median"] for r in rows], marker="o", ms=3, label=f"{name} median")
      ax.fill_between(x, [r["p10"] for r in rows], [r["p90"] for r in rows], alpha=0.25,
                      label=f"{name} 10–90 %")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("true QF (read from the file's tables)")
    ax.set_ylabel("estimated QF")
    ax.set_title(encoder)
    ax.legend(fontsize=7, loc="upper left")
  fig.suptitle(f"{title}\n(dotted: boundaries between routing classes "
               f"{', '.join(str(v) for v in classes.values)})", fontsize=10)
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):  # a local file, uploaded for a gs:// path
    fig.savefig(tmp, dpi=100, format="png")
  plt.close(fig)
