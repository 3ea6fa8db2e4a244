"""Frequency and orientation selectivity scores of channels and layers.

The project's formulation (README: "Perceptual layer selection").

For a channel with phase-averaged responses R(f, theta) >= 0:
  r(f)  = max_theta R(f, theta), normalised to sum 1     (frequency tuning)
  f*    = argmax_f r(f)                                  (preferred frequency)
  S_F   = sum_f r(f) CSF(f * ppd) / max CSF              (frequency score, in [0, 1])
  o(th) = R(f*, th)
  S_O   = |sum_th o(th) e^{2 i th}| / sum_th o(th)       (1 - circular variance, in [0, 1])
Channels whose peak response is negligible are flagged and not scored; a layer's score is the
mean of S_F * S_O over its responsive channels. A layer without responsive channels gets no
score (None) and a flag, never NaN.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxenhance.perception import csf as csf_lib

NO_RESPONSIVE_CHANNELS = "no_responsive_channels"


@dataclasses.dataclass(frozen=True)
class ScoringSpec:
  """Scoring parameters; `params()` goes into the report.

  Attributes:
    ppd: pixels per degree of visual angle (project choice: 32).
    csf: "mannos_sakrison" (default) or "barten".
    barten_luminance: Barten's mean luminance in cd/m^2.
    barten_field_deg: Barten's field size in degrees (None: stimulus size / ppd).
    abs_tol: a channel whose peak response is <= abs_tol is unresponsive.
    rel_tol: ... or whose peak is <= rel_tol times the layer's strongest channel peak.
  """

  ppd: float = 32.0
  csf: str = "mannos_sakrison"
  barten_luminance: float = 100.0
  barten_field_deg: float | None = None
  abs_tol: float = 1e-6
  rel_tol: float = 1e-2

  def __post_init__(self):
    if not self.ppd > 0:
      raise ValueError(f"ppd (pixels per degree) must be positive, got {self.ppd}.")
    csf_lib.get_model(self.csf)  # raises on an unknown name
    if self.abs_tol < 0 or not 0 <= self.rel_tol < 1:
      raise ValueError(f"Need abs_tol >= 0 and 0 <= rel_tol < 1, got {self.abs_tol}, "
                       f"{self.rel_tol}.")

  def csf_kwargs(self, size: int) -> dict[str, float]:
    if self.csf != "barten":
      return {}
    field = self.barten_field_deg if self.barten_field_deg else size / self.ppd
    return {"luminance": self.barten_luminance, "field_deg": field}

  def params(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


@dataclasses.dataclass
class LayerScores:
  """Per-channel scores of one layer (arrays over its C channels) and the layer summary."""

  responsive: np.ndarray  # bool [C]
  peak_response: np.ndarray  # [C], max over (f, theta)
  tuning: np.ndarray  # [F, C], r(f) (zeros for unresponsive channels)
  preferred_index: np.ndarray  # int [C], index of f* in the frequency grid
  preferred_freq: np.ndarray  # [C], f* in cycles/pixel
  preferred_orient: np.ndarray  # [C], argmax_theta R(f*, theta) in radians
  s_f: np.ndarray  # [C] (0 for unresponsive channels)
  s_o: np.ndarray  # [C] (0 for unresponsive channels)
  score: float | None  # mean S_F * S_O over responsive channels
  mean_s_f: float | None
  mean_s_o: float | None
  responsive_fraction: float
  flags: list[str]

  @property
  def channel_score(self) -> np.ndarray:
    return self.s_f * self.s_o


def responsive_channels(responses: np.ndarray, abs_tol: float, rel_tol: float) -> np.ndarray:
  """bool [C]: channels whose peak response is not negligible (responses [F, T, C])."""
  peak = responses.max(axis=(0, 1))
  ceiling = peak.max(initial=0.0)
  return (peak > abs_tol) & (peak > rel_tol * ceiling)


def frequency_tuning(responses: np.ndarray) -> np.ndarray:
  """r(f) [F, C] = max_theta R, normalised to sum 1 (all-zero channels stay zero)."""
  r = responses.max(axis=1)
  total = r.sum(axis=0, keepdims=True)
  return np.divide(r, total, out=np.zeros_like(r), where=total > 0)


def frequency_score(tuning: np.ndarray, csf_weights: np.ndarray) -> np.ndarray:
  """S_F [C] = sum_f r(f) * CSF(f ppd) / max CSF."""
  return np.einsum("fc,f->c", tuning, csf_weights)


def orientation_responses(responses: np.ndarray, preferred_index: np.ndarray) -> np.ndarray:
  """o(theta) = R(f*, theta) per channel, [C, T]."""
  return responses[preferred_index, :, np.arange(responses.shape[-1])]


def orientation_score(responses: np.ndarray, thetas: np.ndarray,
                      preferred_index: np.ndarray) -> np.ndarray:
  """S_O [C] = |sum o(theta) e^{2 i theta}| / sum o(theta), o = R(f*, theta)."""
  o = orientation_responses(responses, preferred_index)
  total = o.sum(axis=1)
  resultant = np.abs(o @ np.exp(2j * thetas))
  return np.divide(resultant, total, out=np.zeros_like(total), where=total > 0)


def score_layer(responses: np.ndarray, freqs: np.ndarray, thetas: np.ndarray,
                csf_weights: np.ndarray, spec: ScoringSpec) -> LayerScores:
  """Scores one layer from its responses [F, T, C]."""
  responses = np.asarray(responses, np.float64)
  if responses.ndim != 3 or responses.shape[:2] != (len(freqs), len(thetas)):
    raise ValueError(f"Responses must be [F={len(freqs)}, T={len(thetas)}, C]; got "
                     f"{responses.shape}.")
  if not np.all(np.isfinite(responses)):
    raise FloatingPointError("Responses contain NaN or inf; the probe must be rerun.")
  if responses.min(initial=0.0) < 0:
    raise ValueError("Responses must be post-ReLU (non-negative) for the orientation score; "
                     "probe with rectify=True or probe ReLU layers.")
  resp = responsive_channels(responses, spec.abs_tol, spec.rel_tol)
  tuning = frequency_tuning(responses) * resp
  pref = np.argmax(tuning, axis=0)
  s_f = frequency_score(tuning, csf_weights) * resp
  s_o = orientation_score(responses, thetas, pref) * resp
  flags = []
  if resp.any():
    both = s_f[resp] * s_o[resp]
    score, mean_f, mean_o = float(both.mean()), float(s_f[resp].mean()), float(s_o[resp].mean())
  else:
    flags.append(NO_RESPONSIVE_CHANNELS)
    score = mean_f = mean_o = None
  return LayerScores(
      responsive=resp, peak_response=responses.max(axis=(0, 1)), tuning=tuning,
      preferred_index=pref, preferred_freq=np.asarray(freqs)[pref],
      preferred_orient=np.asarray(thetas)[np.argmax(orientation_responses(responses, pref), 1)],
      s_f=s_f, s_o=s_o,
      score=score, mean_s_f=mean_f, mean_s_o=mean_o, responsive_fraction=float(resp.mean()),
      flags=flags)


def score_layers(responses: Mapping[str, np.ndarray], freqs: np.ndarray, thetas: np.ndarray,
                 spec: ScoringSpec, size: int) -> dict[str, LayerScores]:
  """Scores every layer of a probe result (`size`: stimulus side, for Barten's field size)."""
  weights = csf_lib.normalized(freqs, spec.ppd, spec.csf, **spec.csf_kwargs(size))
  return {name: score_layer(r, freqs, thetas, weights, spec) for name, r in responses.items()}
