"""Bjøntegaard delta on synthetic rate-quality curves with known answers."""

import numpy as np
import pytest

from jaxenhance.metrics import bd_rate as bd

RATES = np.array([0.05, 0.11, 0.24, 0.52])  # bits per pixel of four codec rungs
PSNR = np.array([29.1, 31.8, 34.2, 36.9])  # a concave, realistic rate-PSNR curve
LPIPS = np.array([0.42, 0.31, 0.22, 0.15])  # lower is better


@pytest.mark.parametrize("method", bd.METHODS)
@pytest.mark.parametrize("quality", [PSNR, LPIPS], ids=["psnr", "lpips"])
def test_constant_rate_factor_gives_exactly_that_saving(method, quality):
  # The same qualities at 0.8x the bits: 20 % saving at every quality, whatever the fit.
  assert bd.bd_rate(RATES, quality, 0.8 * RATES, quality, method) == pytest.approx(-20.0, abs=1e-9)
  assert bd.bd_rate(0.8 * RATES, quality, RATES, quality, method) == pytest.approx(25.0, abs=1e-9)
  assert bd.bd_rate(RATES, quality, RATES, quality, method) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("method", bd.METHODS)
def test_log_linear_curves_known_rate_and_quality_deltas(method):
  # q = 10 log10(r) + c: +1 dB at equal rate is 10^-0.1 of the rate at equal quality.
  rates = np.geomspace(0.02, 0.6, 5)
  anchor, test = 10 * np.log10(rates) + 30, 10 * np.log10(rates) + 31
  assert bd.bd_quality(rates, anchor, rates, test, method) == pytest.approx(1.0, abs=1e-9)
  expected = (10 ** -0.1 - 1) * 100  # -20.57 %
  assert bd.bd_rate(rates, anchor, rates, test, method) == pytest.approx(expected, abs=1e-9)


def test_cubic_matches_the_vceg_m33_reference_formula():
  # The widely used reference: polyfit(quality, log(rate), 3), polyint, average over the overlap.
  r_test = np.array([0.04, 0.10, 0.2, 0.47])
  q_test = np.array([29.6, 32.5, 34.6, 37.4])

  def reference(r1, q1, r2, q2):
    p1, p2 = np.polyfit(q1, np.log(r1), 3), np.polyfit(q2, np.log(r2), 3)
    lo, hi = max(q1.min(), q2.min()), min(q1.max(), q2.max())
    i1, i2 = np.polyint(p1), np.polyint(p2)
    avg = ((np.polyval(i2, hi) - np.polyval(i2, lo)) - (np.polyval(i1, hi) - np.polyval(i1, lo)))
    return (np.exp(avg / (hi - lo)) - 1) * 100

  got = bd.bd_rate(RATES, PSNR, r_test, q_test, "cubic")
  assert got == pytest.approx(reference(RATES, PSNR, r_test, q_test), rel=1e-9)
  assert got < 0  # the test curve is above and to the left: it saves bits
  # pchip differs from the cubic fit but agrees in sign and roughly in size on smooth curves.
  assert bd.bd_rate(RATES, PSNR, r_test, q_test, "pchip") == pytest.approx(got, abs=3.0)


def test_bad_curves_get_clear_errors():
  with pytest.raises(ValueError, match="share no quality"):
    bd.bd_rate(RATES, PSNR, RATES, PSNR + 20)
  with pytest.raises(ValueError, match="positive"):
    bd.bd_rate(RATES * 0, PSNR, RATES, PSNR)
  with pytest.raises(ValueError, match="at least 2"):
    bd.bd_rate(RATES[:1], PSNR[:1], RATES, PSNR)
  with pytest.raises(ValueError, match="finite"):
    bd.bd_rate(RATES, [np.nan, 1, 2, 3], RATES, PSNR)
  with pytest.raises(ValueError, match="monotonic"):
    bd.bd_rate(RATES, [30, 30, 31, 32], RATES, PSNR)
  with pytest.raises(ValueError, match="method"):
    bd.bd_rate(RATES, PSNR, RATES, PSNR, method="linear")
