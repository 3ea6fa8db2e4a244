"""Contrast sensitivity functions (CSF) of human vision, in cycles per degree.

The probe measures frequencies in cycles/pixel; `pixels per degree` (ppd) converts them:
u = f * ppd. Mannos-Sakrison (1974) is the default; Barten's simplified model (Barten 2003, as
used in ITU-R BT.2246) is the option. Their viewing parameters (ppd 32, luminance 100 cd/m^2,
field size = image size / ppd) are the project's choices, not given by the source papers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

# Dense grid over which each model's maximum is taken (covers every peak by a wide margin).
_U_DENSE = np.geomspace(1e-3, 200.0, 40_001)


def mannos_sakrison(u: np.ndarray) -> np.ndarray:
  """CSF 2.6 (0.0192 + 0.114 u) exp(-(0.114 u)^1.1), u in cycles/degree (peak ~8 c/deg)."""
  u = np.asarray(u, dtype=np.float64)
  return 2.6 * (0.0192 + 0.114 * u) * np.exp(-((0.114 * u) ** 1.1))


def barten(u: np.ndarray, luminance: float = 100.0, field_deg: float = 7.0) -> np.ndarray:
  """Barten's simplified CSF.

  S(u) = 5200 exp(-0.0016 u^2 (1 + 100/L)^0.08)
         / sqrt((1 + 144/X0^2 + 0.64 u^2) (63/L^0.83 + 1/(1 - exp(-0.02 u^2))))

  Args:
    u: spatial frequency in cycles/degree.
    luminance: mean luminance L in cd/m^2.
    field_deg: angular size X0 of the stimulus in degrees.
  """
  u = np.maximum(np.asarray(u, dtype=np.float64), 1e-6)  # the formula divides by 1 - exp(-u^2)
  num = 5200.0 * np.exp(-0.0016 * u**2 * (1.0 + 100.0 / luminance) ** 0.08)
  den = np.sqrt((1.0 + 144.0 / field_deg**2 + 0.64 * u**2)
                * (63.0 / luminance**0.83 + 1.0 / (1.0 - np.exp(-0.02 * u**2))))
  return num / den


MODELS: dict[str, Callable[..., np.ndarray]] = {
    "mannos_sakrison": mannos_sakrison,
    "barten": barten,
}


def get_model(name: str, **kwargs: Any) -> Callable[[np.ndarray], np.ndarray]:
  """The CSF `name` with its keyword parameters bound."""
  if name not in MODELS:
    raise ValueError(f"Unknown CSF model {name!r}; choose one of {sorted(MODELS)}.")
  return functools.partial(MODELS[name], **kwargs)


def peak(name: str, **kwargs: Any) -> tuple[float, float]:
  """(frequency in cycles/degree, sensitivity) at the model's maximum."""
  s = get_model(name, **kwargs)(_U_DENSE)
  i = int(np.argmax(s))
  return float(_U_DENSE[i]), float(s[i])


def normalized(freqs_cpp: np.ndarray, ppd: float, name: str = "mannos_sakrison",
               **kwargs: Any) -> np.ndarray:
  """CSF(f * ppd) / max CSF for frequencies in cycles/pixel: weights in [0, 1]."""
  if not ppd > 0:
    raise ValueError(f"Pixels per degree must be positive, got {ppd}.")
  model = get_model(name, **kwargs)
  return model(np.asarray(freqs_cpp, np.float64) * ppd) / peak(name, **kwargs)[1]
