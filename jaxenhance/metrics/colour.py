"""Colour fidelity: mean shift per channel, CIEDE2000, and flat palette patches.

A restoration model must not move colours. These numbers catch what PSNR averages away:

* ``mean_shift(x, ref)``: mean of ``x - ref`` per RGB channel in 8-bit levels (a cast).
* ``ciede2000(x, ref)``: mean CIEDE2000 colour difference (scikit-image's ``rgb2lab`` with the
  sRGB D65 conversion and ``deltaE_ciede2000``; 1.0 is about a just-noticeable difference).
* ``PALETTE``: flat patches (greys, skin tones, saturated primaries) that an enhancer must return
  unchanged: a flat patch has no compression artifacts to remove.

These run on the host (numpy / scikit-image): they are computed once per evaluated frame, next
to the jitted PSNR/SSIM/LPIPS pass.
"""

from __future__ import annotations

import numpy as np

# name -> RGB. Greys across the range, skin tones from light to dark, saturated primaries and
# secondaries (the colours the shipped demo model once shifted by up to 21 levels).
PALETTE: dict[str, tuple[int, int, int]] = {
    "grey16": (16, 16, 16), "grey64": (64, 64, 64), "grey128": (128, 128, 128),
    "grey192": (192, 192, 192), "grey235": (235, 235, 235),
    "skin_light": (255, 219, 172), "skin_medium": (224, 172, 105),
    "skin_tan": (198, 134, 66), "skin_dark": (141, 85, 36),
    "green": (60, 160, 60), "red": (200, 60, 60), "blue": (60, 60, 200),
    "cyan": (40, 200, 220), "yellow": (230, 200, 40), "magenta": (190, 50, 170),
}


def _as_float(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x)
  if x.shape[-1] != 3:
    raise ValueError(f"expected RGB images [..., H, W, 3]; got shape {x.shape}")
  return x.astype(np.float64)


def mean_shift(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
  """Mean of ``x - ref`` per channel over all pixels, in levels: float [3] (R, G, B)."""
  x, ref = _as_float(x), _as_float(ref)
  if x.shape != ref.shape:
    raise ValueError(f"images differ in shape: {x.shape} vs {ref.shape}")
  return (x - ref).reshape(-1, 3).mean(axis=0)


def ciede2000(x: np.ndarray, ref: np.ndarray) -> float:
  """Mean CIEDE2000 difference between uint8 sRGB images of one shape (scikit-image)."""
  from skimage import color

  x, ref = np.asarray(x), np.asarray(ref)
  if x.shape != ref.shape:
    raise ValueError(f"images differ in shape: {x.shape} vs {ref.shape}")
  lab_x = color.rgb2lab(x.reshape(-1, 1, 3).astype(np.float64) / 255.0)
  lab_ref = color.rgb2lab(ref.reshape(-1, 1, 3).astype(np.float64) / 255.0)
  return float(np.mean(color.deltaE_ciede2000(lab_ref, lab_x)))


def palette_patches(size: int = 32) -> tuple[list[str], np.ndarray]:
  """(names, uint8 [len(PALETTE), size, size, 3]) flat patches of ``PALETTE``."""
  names = list(PALETTE)
  patches = np.stack([np.full((size, size, 3), PALETTE[n], np.uint8) for n in names])
  return names, patches


def palette_shifts(enhanced: np.ndarray, patches: np.ndarray, margin: int = 4) -> np.ndarray:
  """Mean shift per patch and channel over the patch interior (``margin`` px from its border,
  where padding may legitimately differ): float [N, 3]."""
  inner = (slice(None), slice(margin, -margin), slice(margin, -margin))
  diff = _as_float(enhanced)[inner] - _as_float(patches)[inner]
  return diff.mean(axis=(1, 2))
