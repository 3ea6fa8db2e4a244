"""Suite results as Markdown, JSON and a plot of the per-rung deltas with the zero line."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from jaxenhance import atomic_write, cloud
from jaxenhance.suite import gate


def _row(r: dict[str, Any], m: str, digits: int) -> str:
  c, e = r["compressed"][m], r["enhanced"][m]
  return f"{c:.{digits}f} → {e:.{digits}f} ({e - c:+.{digits}f})"


def _flicker(r: dict[str, Any]) -> str:
  """Suites run before the flicker column existed have no value for it."""
  return _row(r, "flicker", 2) if "flicker" in r["compressed"] else "n/a"


def markdown(results: dict[str, Any], title: str = "Held-out suite") -> str:
  """Per-rung table (compressed → enhanced (Δ), worst item), per-item ΔPSNR / ΔLPIPS matrices,
  identity, palette and the release gate."""
  rungs = results["rungs"]
  parts = [f"# {title}", ""]
  for key in ("checkpoint", "step"):
    if results.get(key) is not None:
      parts.append(f"- {key}: `{results[key]}`")
  f = results["frames"]
  parts += [(f"- {len(results['items'])} items, photos as {f['photo_size'][0]}×"
            f"{f['photo_size'][1]} pan/zoom clips of {f['num_frames']} frames; frames "
            f"{f['scored']} scored whole (tiled as the enhance CLI does)"),
            f"- seconds: {results.get('seconds')}", "",
            "## Per rung: compressed → enhanced (Δ), mean over items", "",
            ("| rung | bpp | PSNR | PSNR-Y | SSIM | LPIPS | ΔE2000 | flicker | mean shift R,G,B: "
             "codec → added | worst ΔPSNR | worst ΔLPIPS |"), "|" + "---|" * 11]
  for tag, r in rungs.items():
    shift = (", ".join(f"{r['compressed'][f'shift_{c}']:+.2f}" for c in "rgb") + " → "
             + ", ".join(f"{v:+.2f}" for v in gate.added_shift(r)))
    wp, wl = r["worst_delta_psnr"], r["worst_delta_lpips"]
    parts.append(f"| {tag} | {r['bits_per_pixel']:.3f} | {_row(r, 'psnr', 2)} | "
                 f"{_row(r, 'psnr_y', 2)} | {_row(r, 'ssim', 4)} | {_row(r, 'lpips', 4)} | "
                 f"{_row(r, 'ciede2000', 2)} | {_flicker(r)} | {shift} | {wp['item']} {wp['value']:+.2f} | "
                 f"{wl['item']} {wl['value']:+.4f} |")
  for metric, digits in (("psnr", 2), ("lpips", 4)):
    parts += ["", f"## Δ{metric.upper()} per item and rung (enhanced − compressed)", "",
              "| item | " + " | ".join(rungs) + " |", "|" + "---|" * (len(rungs) + 1)]
    for item in results["items"]:
      deltas = [item["rungs"][t]["enhanced"][metric] - item["rungs"][t]["compressed"][metric]
                for t in rungs]
      cells = [f"{d:+.{digits}f}" for d in deltas]
      parts.append(f"| {item['id']} | " + " | ".join(cells) + " |")
  ident = results["identity"]
  parts += ["", "## Colour and identity", "",
            (f"- G(pristine) vs pristine: mean {ident['mean_psnr']:.2f} dB, worst "
            f"{ident['worst']['item']} {ident['worst']['psnr']:.2f} dB")]
  if results.get("palette"):
    worst = max(results["palette"].items(), key=lambda kv: max(abs(v) for v in kv[1]))
    parts.append(f"- flat palette patches: largest shift {worst[0]} "
                 f"({', '.join(f'{v:+.1f}' for v in worst[1])}) levels; all: " + "; ".join(
                     f"{k} ({', '.join(f'{v:+.1f}' for v in s)})"
                     for k, s in results["palette"].items()))
  parts += ["", "## Release gate", "", gate.markdown(results)]
  return "\n".join(parts) + "\n"


def plot(results: dict[str, Any], path: Path) -> None:
  """ΔPSNR and ΔLPIPS per rung: one dot per item, a bar for the mean, the zero line."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  tags = list(results["rungs"])
  x = np.arange(len(tags))
  fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
  for ax, metric, label in ((axes[0], "psnr", "ΔPSNR (dB), higher is better"),
                            (axes[1], "lpips", "ΔLPIPS, lower is better")):
    for i, tag in enumerate(tags):
      deltas = [it["rungs"][tag]["enhanced"][metric] - it["rungs"][tag]["compressed"][metric]
                for it in results["items"]]
      ax.scatter(np.full(len(deltas), i) + np.linspace(-0.2, 0.2, len(deltas)), deltas, s=8,
                 color="0.4", zorder=3)
      mean = results["rungs"][tag][f"delta_{metric}"]
      good = mean >= 0 if metric == "psnr" else mean <= 0
      ax.bar(i, mean, 0.6, color="tab:green" if good else "tab:red", alpha=0.6, zorder=2)
    ax.axhline(0.0, color="black", linewidth=1.0, zorder=4)
    ax.set_xticks(x, tags, rotation=40, ha="right", fontsize=8)
    ax.set_title(label, fontsize=10)
  fig.suptitle("held-out suite: enhanced − compressed per item (dots) and mean (bars)",
               fontsize=10)
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):
    fig.savefig(tmp, dpi=110)
  plt.close(fig)


def write(results: dict[str, Any], out_dir: str | os.PathLike, title: str = "Held-out suite"
          ) -> dict[str, str]:
  """Writes ``suite.json``, ``suite.md`` and ``suite.png`` into ``out_dir`` (local or
  ``gs://``); returns the paths."""
  cloud.check_bucket(out_dir, "suite output")
  out = cloud.makedirs(out_dir)
  files = {"json": out / "suite.json", "markdown": out / "suite.md", "plot": out / "suite.png"}
  plot(results, files["plot"])
  atomic_write.write_text(files["json"], json.dumps(results, indent=1))
  atomic_write.write_text(files["markdown"], markdown(results, title))
  return {k: str(v) for k, v in files.items()}
