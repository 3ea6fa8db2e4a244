"""Choose layers from their scores, write/read the JSON report, and build per-channel masks.

The report holds, per layer, its scores, responsive fraction, preferred-frequency histogram and
per-channel scores, the ranking, the selected layers, and every parameter used (probe, scoring,
selection), so it can be reproduced. The critic and the perceptual loss read it with
`load_selected_layers(report_path)` and optionally `channel_masks(report, layers, keep_fraction)`
(or `kept_channels`, the same selection as static channel indices).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxenhance import cloud
from jaxenhance.perception import csf as csf_lib
from jaxenhance.perception import probe as probe_lib
from jaxenhance.perception import scoring

REPORT_VERSION = 1
MAKE_REPORT = ("python -m jaxenhance.select_layers --config=configs/select_layers.py "
               "--workdir=<workdir>")


def ranking(layer_scores: Mapping[str, float | None]) -> list[str]:
  """Scored layers, best first (ties keep the network's order); unscored layers are left out."""
  scored = [(name, s) for name, s in layer_scores.items() if s is not None]
  return [name for name, _ in sorted(scored, key=lambda item: -item[1])]


def select(layer_scores: Mapping[str, float | None], top_k: int | None = None,
           threshold: float | None = None) -> list[str]:
  """The selected layers, in the network's order.

  Args:
    layer_scores: layer -> score (None for a layer without responsive channels).
    top_k: keep the k best-scoring layers (used when `threshold` is None or negative).
    threshold: when >= 0, keep every layer scoring above it instead.
  """
  names = list(layer_scores)
  ranked = ranking(layer_scores)
  unscored = [n for n in names if layer_scores[n] is None]
  if threshold is not None and threshold >= 0:
    chosen = {n for n in ranked if layer_scores[n] > threshold}
    if not chosen:
      best = f"{ranked[0]} = {layer_scores[ranked[0]]:.4g}" if ranked else "none scored"
      raise ValueError(f"No layer scores above threshold {threshold} (best: {best}); lower the "
                       "threshold or use top_k.")
  else:
    check_rule(names, top_k, threshold)
    if top_k > len(ranked):
      raise ValueError(f"top_k={top_k} but only {len(ranked)} layer(s) have responsive channels; "
                       f"unscored (flagged {scoring.NO_RESPONSIVE_CHANNELS}): {unscored}.")
    chosen = set(ranked[:top_k])
  return [n for n in names if n in chosen]


def check_rule(layers: Sequence[str], top_k: int | None, threshold: float | None) -> None:
  """Raises early (before a probe) if the selection rule cannot be met with these layers."""
  if threshold is not None and threshold >= 0:
    return
  if top_k is None or top_k < 1:
    raise ValueError(f"top_k must be a positive integer, got {top_k}.")
  if top_k > len(layers):
    raise ValueError(f"top_k={top_k} is larger than the number of probed layers "
                     f"({len(layers)}: {', '.join(layers)}).")


def _histogram(scores: scoring.LayerScores, num_freqs: int) -> list[int]:
  idx = scores.preferred_index[scores.responsive]
  return np.bincount(idx, minlength=num_freqs).astype(int).tolist()


def _rounded(x: np.ndarray, digits: int = 6) -> list:
  return np.round(np.asarray(x, np.float64), digits).tolist()


def build_report(result: probe_lib.ProbeResult, scores: Mapping[str, scoring.LayerScores],
                 spec: scoring.ScoringSpec, selected: Sequence[str], *, network: str,
                 top_k: int | None, threshold: float | None,
                 extra_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
  """The JSON-ready report (see the module docstring)."""
  size = int(result.params["stimulus"]["size"])
  weights = csf_lib.normalized(result.freqs, spec.ppd, spec.csf, **spec.csf_kwargs(size))
  layer_scores = {n: s.score for n, s in scores.items()}
  ranked = ranking(layer_scores)
  layers = {}
  for name, s in scores.items():
    layers[name] = {
        "score": s.score, "mean_s_f": s.mean_s_f, "mean_s_o": s.mean_s_o,
        "responsive_fraction": s.responsive_fraction, "num_channels": int(s.responsive.size),
        "num_responsive": int(s.responsive.sum()), "flags": list(s.flags),
        "rank": ranked.index(name) + 1 if name in ranked else None,
        "preferred_freq_histogram": _histogram(s, len(result.freqs)),
        "channels": {"s_f": _rounded(s.s_f), "s_o": _rounded(s.s_o),
                      "responsive": s.responsive.astype(bool).tolist(),
                      "preferred_index": s.preferred_index.astype(int).tolist(),
                      "preferred_orient": _rounded(s.preferred_orient),
                      "peak_response": _rounded(s.peak_response)}}
  return {
      "version": REPORT_VERSION, "network": network,
      "params": dict(probe=result.params, scoring=spec.params(),
                  selection={"top_k": top_k, "threshold": threshold}, **(extra_params or {})),
      "frequencies_cpp": _rounded(result.freqs, 8),
      "frequencies_cpd": _rounded(result.freqs * spec.ppd, 6),
      "orientations_rad": _rounded(result.thetas, 8),
      "csf_weights": _rounded(weights),
      "layers": layers, "ranking": ranked, "selected_layers": list(selected),
      "timing": dict(result.timing)}


def write_report(report: Mapping[str, Any], path: str | os.PathLike) -> cloud.AnyPath:
  """Writes the report atomically; refuses NaN/inf (a bug, never a valid score)."""
  path = cloud.path(path)
  text = json.dumps(report, indent=1, allow_nan=False)
  if cloud.is_cloud(path):
    path.write_text(text)  # one object write: whole or not at all
    return path
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.json")
  with os.fdopen(fd, "w") as f:
    f.write(text)
  os.replace(tmp, path)
  return path


def load_report(report: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
  """A report dict from a path (or the dict itself), with its structure checked."""
  if isinstance(report, Mapping):
    data = dict(report)
  else:
    path = cloud.path(report)  # local or gs://
    if not path.is_file():
      raise FileNotFoundError(f"No layer-selection report at {path}; make one with: "
                              f"{MAKE_REPORT}")
    try:
      data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
      raise ValueError(f"{path} is not a valid JSON report ({e}); regenerate it with: "
                       f"{MAKE_REPORT}") from e
  missing = [k for k in ("layers", "selected_layers", "params") if k not in data]
  if missing:
    raise ValueError(f"Not a layer-selection report (missing {missing}); make one with: "
                     f"{MAKE_REPORT}")
  return data


def load_selected_layers(report_path: str | os.PathLike,
                         network: str | None = "vgg16") -> tuple[str, ...]:
  """The selected layer names stored in a report, in the network's order.

  Args:
    report_path: the JSON report written by the selection CLI.
    network: the network the caller taps (None: any); a report about another network is refused.
  """
  report = load_report(report_path)
  if network is not None and report.get("network") != network:
    raise ValueError(f"The report {report_path} selects layers of {report.get('network')!r}, "
                     f"not {network!r}; rerun the selection with selection.network={network!r}.")
  selected = tuple(report["selected_layers"])
  if not selected:
    raise ValueError(f"The report {report_path} selects no layers; rerun the selection.")
  unknown = [l for l in selected if l not in report["layers"]]
  if unknown:
    raise ValueError(f"The report {report_path} selects unprobed layers {unknown}; it is corrupt.")
  return selected


def channel_masks(report: str | os.PathLike | Mapping[str, Any], layers: Sequence[str],
                  keep_fraction: float) -> dict[str, np.ndarray]:
  """Keeps the top-scoring channels (by S_F * S_O) of each layer.

  Args:
    report: a report dict or its path.
    layers: layer names present in the report.
    keep_fraction: fraction of each layer's channels to keep, in (0, 1]; at least one channel
      is kept, and never an unresponsive one (so fewer are kept when too few respond).

  Returns:
    layer -> bool [C] mask.
  """
  report = load_report(report)
  if not 0.0 < keep_fraction <= 1.0:
    raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}.")
  unknown = [l for l in layers if l not in report["layers"]]
  if unknown:
    raise ValueError(f"Layer(s) {unknown} are not in the report; it has: "
                     f"{', '.join(report['layers'])}.")
  masks = {}
  for name in layers:
    ch = report["layers"][name]["channels"]
    responsive = np.asarray(ch["responsive"], bool)
    if not responsive.any():
      raise ValueError(f"Layer {name!r} has no responsive channel (flagged "
                       f"{scoring.NO_RESPONSIVE_CHANNELS}); no channel can be kept.")
    score = np.asarray(ch["s_f"]) * np.asarray(ch["s_o"])
    score = np.where(responsive, score, -np.inf)
    keep = min(max(1, math.ceil(keep_fraction * responsive.size)), int(responsive.sum()))
    order = np.argsort(-score, kind="stable")
    mask = np.zeros(responsive.size, bool)
    mask[order[:keep]] = True
    masks[name] = mask
  return masks


def kept_channels(report: str | os.PathLike | Mapping[str, Any], layers: Sequence[str],
                  keep_fraction: float) -> dict[str, tuple[int, ...]]:
  """The channels :func:`channel_masks` keeps, as ascending index tuples.

  Static indices (not masks), so a consumer can gather them with shapes known at trace time:
  the critic's taps then have fewer channels instead of zeroed ones.
  """
  masks = channel_masks(report, layers, keep_fraction)
  return {name: tuple(int(i) for i in np.flatnonzero(mask)) for name, mask in masks.items()}
