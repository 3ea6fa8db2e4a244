"""Bjøntegaard delta: average bitrate saving at equal quality, and quality gain at equal rate.

VCEG-M33 (Bjøntegaard 2001): fit ``log10(rate)`` as a function of quality for the anchor and the
test curve, integrate both over the quality interval they share, and turn the average difference
into a rate ratio: ``BD-rate = (10 ** mean(log10 R_test - log10 R_anchor) - 1) * 100`` percent
(negative: the test needs fewer bits for the same quality). ``bd_quality`` swaps the axes: the
mean quality difference at equal ``log10(rate)`` (BD-PSNR for PSNR).

Fits (``method``):
  ``"cubic"``  VCEG-M33's least-squares cubic polynomial (degree ``min(3, points - 1)``), integrated
               analytically.
  ``"pchip"``  piecewise cubic Hermite interpolation through the points (the later JCTVC / VTM
               spreadsheets' "piecewise cubic"), which never overshoots between rate points;
               integrated exactly (it is piecewise polynomial).
Quality may increase or decrease with rate (PSNR, SSIM vs LPIPS, FID): the integral over the
shared interval does not depend on the direction, so a lower-is-better metric needs no sign flip.
Points are sorted by the fitted axis; the curve must be strictly monotonic in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.interpolate

METHODS = ("pchip", "cubic")


def _check_curve(rate: Sequence[float], quality: Sequence[float], name: str
                 ) -> tuple[np.ndarray, np.ndarray]:
  r, q = np.asarray(rate, np.float64).ravel(), np.asarray(quality, np.float64).ravel()
  if r.shape != q.shape:
    raise ValueError(f"{name}: {r.size} rates but {q.size} quality values")
  if r.size < 2:
    raise ValueError(f"{name}: a curve needs at least 2 rate points; got {r.size} (4 for the "
                     "VCEG-M33 cubic fit)")
  if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
    raise ValueError(f"{name}: rates and quality values must be finite; got {r} and {q}")
  if np.any(r <= 0):
    raise ValueError(f"{name}: rates must be positive (they are compared in log scale); got {r}")
  return np.log10(r), q


def _integral(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
  """Integral over [lo, hi] of the fit of y as a function of x."""
  order = np.argsort(x)
  x, y = x[order], y[order]
  if np.any(np.diff(x) <= 0):
    raise ValueError(f"the curve is not strictly monotonic along the fitted axis (values {x}); "
                     "BD needs distinct, monotonic points")
  if method == "cubic":
    degree = min(3, x.size - 1)
    poly = np.polynomial.Polynomial.fit(x, y, degree).convert()
    antiderivative = poly.integ()
    return float(antiderivative(hi) - antiderivative(lo))
  if method == "pchip":
    return float(scipy.interpolate.PchipInterpolator(x, y).integrate(lo, hi))
  raise ValueError(f"method must be one of {METHODS}; got {method!r}")


def _overlap(a: np.ndarray, b: np.ndarray, axis: str) -> tuple[float, float]:
  lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
  if not hi > lo:
    raise ValueError(f"the two curves share no {axis} interval ([{a.min():.4g}, {a.max():.4g}] "
                     f"vs [{b.min():.4g}, {b.max():.4g}]); BD needs overlapping curves: add rate "
                     "points so their ranges overlap")
  return float(lo), float(hi)


def bd_rate(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
            rate_test: Sequence[float], quality_test: Sequence[float],
            method: str = "pchip") -> float:
  """Average rate difference of the test curve vs the anchor at equal quality, in percent.

  Args:
    rate_anchor, quality_anchor: anchor curve (e.g. the codec alone): rates (bits per pixel,
      kbit/s: any positive unit, the same for both curves) and quality (PSNR, LPIPS, ...).
    rate_test, quality_test: test curve (e.g. codec + enhancement).
    method: "pchip" or "cubic" (see module docstring).

  Returns:
    Percent; negative means the test saves bits (e.g. -20.0: 20 % fewer bits for equal quality).
  """
  la, qa = _check_curve(rate_anchor, quality_anchor, "anchor")
  lt, qt = _check_curve(rate_test, quality_test, "test")
  lo, hi = _overlap(qa, qt, "quality")
  diff = (_integral(qt, lt, lo, hi, method) - _integral(qa, la, lo, hi, method)) / (hi - lo)
  return float((10.0 ** diff - 1.0) * 100.0)


def bd_quality(rate_anchor: Sequence[float], quality_anchor: Sequence[float],
               rate_test: Sequence[float], quality_test: Sequence[float],
               method: str = "pchip") -> float:
  """Average quality difference (test - anchor) at equal log-rate (BD-PSNR for PSNR)."""
  la, qa = _check_curve(rate_anchor, quality_anchor, "anchor")
  lt, qt = _check_curve(rate_test, quality_test, "test")
  lo, hi = _overlap(la, lt, "log-rate")
  return float((_integral(lt, qt, lo, hi, method) - _integral(la, qa, lo, hi, method)) / (hi - lo))


__all__ = ["METHODS", "bd_quality", "bd_rate"]
