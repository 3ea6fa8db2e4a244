"""Figures of a layer selection: per-layer scores, example tuning curves, an orientation polar plot,
and the preferred-frequency histograms. Uses matplotlib's non-interactive Agg backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from jaxenhance import atomic_write, cloud
from jaxenhance.perception import probe as probe_lib
from jaxenhance.perception import scoring


def layer_scores(report: Mapping[str, Any], path: str | Path) -> Path:
  """Bars per layer: score (mean S_F*S_O), mean S_F, mean S_O, responsive fraction."""
  names = list(report["layers"])
  selected = set(report["selected_layers"])
  keys = [("score", "score  mean(S_F·S_O)"), ("mean_s_f", "mean S_F"), ("mean_s_o", "mean S_O"),
          ("responsive_fraction", "responsive fraction")]
  fig, axes = plt.subplots(len(keys), 1, figsize=(max(6, 0.55 * len(names)), 9), sharex=True)
  x = np.arange(len(names))
  for ax, (key, label) in zip(axes, keys):
    vals = [report["layers"][n][key] for n in names]
    heights = [0.0 if v is None else v for v in vals]
    colors = ["tab:orange" if n in selected else "tab:blue" for n in names]
    ax.bar(x, heights, color=colors)
    for i, v in enumerate(vals):
      if v is None:  # a flagged layer: say so instead of drawing a zero
        ax.text(i, 0, "no resp.", rotation=90, ha="center", va="bottom", fontsize=7)
    ax.set_ylabel(label, fontsize=8)
  axes[-1].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
  p = report["params"]
  axes[0].set_title(f"{report['network']}: size {p['probe']['stimulus']['size']}, "
                    f"ppd {p['scoring']['ppd']}, CSF {p['scoring']['csf']} "
                    "(orange = selected)", fontsize=9)
  return _save(fig, path)


def example_channels(scores: Mapping[str, scoring.LayerScores], layers: Sequence[str],
                     per_layer: int = 2) -> list[tuple[str, int]]:
  """The best-scoring responsive channels of each layer, plus the worst of the first one."""
  picks = []
  for name in layers:
    s = scores[name]
    if not s.responsive.any():
      continue
    cs = np.where(s.responsive, s.channel_score, -np.inf)
    picks += [(name, int(c)) for c in np.argsort(-cs, kind="stable")[:per_layer]]
  if layers and scores[layers[0]].responsive.any():
    s = scores[layers[0]]
    cs = np.where(s.responsive, s.channel_score, np.inf)
    picks.append((layers[0], int(np.argmin(cs))))
  return picks


def tuning_curves(report: Mapping[str, Any], scores: Mapping[str, scoring.LayerScores],
                  channels: Sequence[tuple[str, int]], path: str | Path) -> Path:
  """r(f) of example channels against frequency (c/deg), with the normalised CSF."""
  freqs_cpd = np.asarray(report["frequencies_cpd"])
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for name, c in channels:
    s = scores[name]
    ax.plot(freqs_cpd, s.tuning[:, c], marker="o", ms=3,
            label=f"{name}[{c}]  S_F={s.s_f[c]:.2f} S_O={s.s_o[c]:.2f}")
  ax2 = ax.twinx()
  ax2.plot(freqs_cpd, report["csf_weights"], "k--", lw=1, label="CSF / max")
  ax2.set_ylim(0, 1.05)
  ax2.set_ylabel("CSF / max CSF")
  ax.set_xscale("log")
  ax.set_xlabel(f"frequency (cycles/degree at {report['params']['scoring']['ppd']} ppd)")
  ax.set_ylabel("r(f)  (max over θ, sums to 1)")
  ax.legend(fontsize=7, loc="upper left")
  ax2.legend(fontsize=7, loc="upper right")
  ax.set_title("Frequency tuning of example channels", fontsize=9)
  return _save(fig, path)


def orientation_polar(result: probe_lib.ProbeResult, scores: Mapping[str, scoring.LayerScores],
                      channel: tuple[str, int], path: str | Path) -> Path:
  """o(theta) = R(f*, theta) of one channel on a polar axis (mirrored to theta + pi)."""
  name, c = channel
  s = scores[name]
  o = result.responses[name][s.preferred_index[c], :, c]
  theta = np.concatenate([result.thetas, result.thetas + np.pi, result.thetas[:1] + 2 * np.pi])
  r = np.concatenate([o, o, o[:1]])
  fig = plt.figure(figsize=(4.5, 4.5))
  ax = fig.add_subplot(projection="polar")
  ax.plot(theta, r, marker="o", ms=3)
  ax.fill(theta, r, alpha=0.2)
  ax.set_title(f"{name}[{c}] at f*={s.preferred_freq[c]:.3g} c/px: S_O={s.s_o[c]:.2f} "
               "(θ in image axes, y down)",
               fontsize=9)
  return _save(fig, path)


def preferred_frequency_histograms(report: Mapping[str, Any], path: str | Path) -> Path:
  """Per layer, the fraction of responsive channels preferring each frequency (a heat map)."""
  names = list(report["layers"])
  h = np.array([report["layers"][n]["preferred_freq_histogram"] for n in names], float)
  h = h / np.maximum(h.sum(axis=1, keepdims=True), 1)
  fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.5))
  im = ax.imshow(h, aspect="auto", cmap="viridis")
  ax.set_yticks(range(len(names)), names, fontsize=7)
  freqs = report["frequencies_cpd"]
  ticks = range(0, len(freqs), max(1, len(freqs) // 8))
  ax.set_xticks(list(ticks), [f"{freqs[i]:.2g}" for i in ticks], fontsize=7)
  ax.set_xlabel("preferred frequency f* (cycles/degree)")
  fig.colorbar(im, ax=ax, label="fraction of responsive channels")
  return _save(fig, path)


def write_all(report: Mapping[str, Any], result: probe_lib.ProbeResult,
              scores: Mapping[str, scoring.LayerScores], out_dir: str | Path) -> list[Path]:
  """Writes every figure into `out_dir`; returns their paths."""
  out = cloud.makedirs(out_dir)  # local or gs://
  paths = [layer_scores(report, out / "layer_scores.png"),
           preferred_frequency_histograms(report, out / "preferred_frequency.png")]
  shown = list(report["selected_layers"]) or list(report["ranking"][:1])
  picks = example_channels(scores, shown)
  if picks:
    paths.append(tuning_curves(report, scores, picks, out / "tuning_curves.png"))
    paths.append(orientation_polar(result, scores, picks[0], out / "orientation_polar.png"))
  return paths


def _save(fig, path: str | Path) -> Path:
  path = cloud.path(path)
  fig.tight_layout()
  with atomic_write.outputs(path) as (tmp,):  # a local file, uploaded for a gs:// path
    fig.savefig(tmp, dpi=110, format=path.suffix.lstrip(".") or "png")
  plt.close(fig)
  return path
