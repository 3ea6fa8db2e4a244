"""Sinusoidal grating stimuli for probing the frequency and orientation tuning of a network.

G(x, y) = 0.5 + 0.5 * c * sin(2*pi*f*(x*cos(theta) + y*sin(theta)) + phi), an S x S image
replicated to RGB, with x the column and y the row (pixels, measured from the image centre so
that phi is the phase at the centre). f is in cycles per pixel: 0.5 is the Nyquist limit.
The defaults (log grid from 1/S to 0.5 c/px, 20 frequencies, 16 orientations over [0, pi),
4 phases, c = 1) are the project's choice (README: "Perceptual layer selection").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

NYQUIST = 0.5  # cycles per pixel
DEFAULT_PHASES = (0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi)


@dataclasses.dataclass(frozen=True)
class StimulusSpec:
  """Every parameter of the grating set; `params()` goes into reports and cache keys.

  Attributes:
    size: image side S in pixels.
    num_freqs: number of spatial frequencies on the log grid.
    num_orients: number of orientations, evenly spaced over [0, pi).
    phases: phases phi (radians) averaged over by the probe.
    contrast: Michelson contrast c in (0, 1].
    f_min: lowest frequency in cycles/pixel (None: 1/S, one cycle across the image).
    f_max: highest frequency in cycles/pixel; must not exceed the Nyquist limit 0.5.
  """

  size: int = 224
  num_freqs: int = 20
  num_orients: int = 16
  phases: tuple[float, ...] = DEFAULT_PHASES
  contrast: float = 1.0
  f_min: float | None = None
  f_max: float = NYQUIST

  def __post_init__(self):
    if self.size < 4:
      raise ValueError(f"Stimulus size must be at least 4 pixels, got {self.size}.")
    if self.num_freqs < 2 or self.num_orients < 2:
      raise ValueError("Need at least 2 frequencies and 2 orientations to measure tuning, got "
                       f"num_freqs={self.num_freqs}, num_orients={self.num_orients}.")
    if not self.phases:
      raise ValueError("Need at least one phase.")
    if not 0.0 < self.contrast <= 1.0:
      raise ValueError(f"Contrast must be in (0, 1] so pixels stay in [0, 1], got {self.contrast}.")
    check_frequencies([self.lowest_frequency, self.f_max])
    if self.lowest_frequency >= self.f_max:
      raise ValueError(f"f_min ({self.lowest_frequency}) must be below f_max ({self.f_max}).")

  @property
  def lowest_frequency(self) -> float:
    return 1.0 / self.size if self.f_min is None else float(self.f_min)

  def frequencies(self) -> np.ndarray:
    """The log-spaced frequency grid in cycles/pixel, [num_freqs]."""
    return np.geomspace(self.lowest_frequency, self.f_max, self.num_freqs)

  def orientations(self) -> np.ndarray:
    """Orientations in radians, evenly spaced over [0, pi), [num_orients]."""
    return np.arange(self.num_orients) * (math.pi / self.num_orients)

  def params(self) -> dict[str, Any]:
    d = dataclasses.asdict(self)
    d["phases"] = [float(p) for p in self.phases]
    d["f_min"] = self.lowest_frequency
    return d


def check_frequencies(freqs: Sequence[float] | np.ndarray) -> None:
  """Raises if a frequency is not positive or lies above the Nyquist limit (aliasing)."""
  f = np.asarray(freqs, dtype=np.float64)
  if not np.all(np.isfinite(f)) or np.any(f <= 0):
    raise ValueError(f"Grating frequencies must be positive and finite (cycles/pixel), got {f}.")
  if np.any(f > NYQUIST + 1e-12):
    raise ValueError(
        f"Grating frequency {f.max():.4g} cycles/pixel is above the Nyquist limit 0.5: it would "
        "alias to a lower frequency. Lower f_max to at most 0.5.")


def gratings(size: int, freqs: jnp.ndarray, thetas: jnp.ndarray, phases: jnp.ndarray,
             contrast: float = 1.0) -> jnp.ndarray:
  """Renders a batch of gratings; traceable, so the probe builds its stimuli inside jit.

  Args:
    size: image side S.
    freqs, thetas, phases: [N] arrays (cycles/pixel, radians, radians).
    contrast: Michelson contrast.

  Returns:
    float32 [N, S, S, 3] in [0, 1].
  """
  c = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2.0
  y, x = jnp.meshgrid(c, c, indexing="ij")
  f = jnp.asarray(freqs, jnp.float32)[:, None, None]
  t = jnp.asarray(thetas, jnp.float32)[:, None, None]
  p = jnp.asarray(phases, jnp.float32)[:, None, None]
  g = 0.5 + 0.5 * contrast * jnp.sin(2 * jnp.pi * f * (x * jnp.cos(t) + y * jnp.sin(t)) + p)
  return jnp.repeat(g[..., None], 3, axis=-1)


def grating(size: int, freq: float, theta: float, phase: float = 0.0,
            contrast: float = 1.0) -> np.ndarray:
  """One grating as a numpy float32 [S, S, 3] image (for plots and checks)."""
  check_frequencies([freq])
  return np.asarray(gratings(size, jnp.array([freq]), jnp.array([theta]), jnp.array([phase]),
                             contrast)[0])
