"""JPEG quality read from the file itself: the quantisation tables its encoder wrote.

A JPEG file carries the tables its coefficients were divided by (the DQT segments; Pillow exposes
them as ``Image.quantization``, in natural order). Encoders derived from the IJG library
(libjpeg, libjpeg-turbo, Pillow, OpenCV, most cameras' "quality" settings) scale the two tables
of the JPEG standard's Annex K by

    scale = 5000 / q  (q < 50)      scale = 200 - 2 q  (q >= 50)
    table = clip(floor((base * scale + 50) / 100), 1, 255)

so the quality factor q can be read back exactly. Other encoders (FFmpeg's ``mjpeg`` with its
``qscale``, Photoshop, some phones) use other scalings or tables: for those the estimate is the
IJG quality whose tables are closest (mean absolute difference of log step sizes), an *effective*
quality on the same 1-100 axis, and ``QualityEstimate.exact`` is False.

This replaces guessing from pixels where the file is at hand: a learned predictor can only
match what it was trained on (six Pillow qualities), while the tables are what the decoder
itself uses.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxenhance import errors

# The JPEG standard's example tables (ITU-T T.81 Annex K), natural (row-major) order.
LUMA_BASE = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.int64)
CHROMA_BASE = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, np.int64)


class JpegQualityError(errors.JaxenhanceError, ValueError):
  """The file is not a JPEG with quantisation tables; the message says what it is."""


@dataclasses.dataclass(frozen=True)
class QualityEstimate:
  """The IJG quality factor whose tables match a file's.

  Attributes:
    quality: 1-100 (IJG scale).
    exact: the file's tables are the IJG tables of ``quality`` exactly (an IJG-style encoder).
    distance: mean absolute difference of log2 step sizes to those tables (0 when exact).
  """
  quality: int
  exact: bool
  distance: float


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
  """The table an IJG encoder writes for ``base`` at ``quality`` (1-100), natural order."""
  if not 1 <= quality <= 100:
    raise JpegQualityError(f"JPEG quality must be 1-100, got {quality}")
  scale = 5000 // quality if quality < 50 else 200 - 2 * quality
  return np.clip((base * scale + 50) // 100, 1, 255)


def ijg_scale(quality: float | np.ndarray) -> np.ndarray:
  """IJG's table scale in percent (``5000 / q`` below 50, ``200 - 2 q`` from 50) for real-valued
  qualities, clipped to 1-99 so that it stays positive: float64, the shape of ``quality``."""
  q = np.clip(np.asarray(quality, np.float64), 1.0, 99.0)
  return np.where(q < 50, 5000.0 / q, 200.0 - 2.0 * q)


def quality_for_scale(scale: float | np.ndarray) -> np.ndarray:
  """The inverse of ``ijg_scale``: real-valued quality (1-99) of a table scale in percent."""
  s = np.clip(np.asarray(scale, np.float64), 2.0, 5000.0)
  return np.where(s > 100, 5000.0 / s, (200.0 - s) / 2.0)


_QUALITIES = np.arange(1, 101)
_REFERENCE = {name: np.stack([ijg_table(base, q) for q in _QUALITIES])
              for name, base in (("luma", LUMA_BASE), ("chroma", CHROMA_BASE))}


def estimate_from_tables(tables: Mapping[int, Sequence[int]]) -> QualityEstimate:
  """The IJG quality of quantisation tables ``{0: luma[64], 1: chroma[64], ...}`` (natural order,
  as Pillow gives them). Table 0 is luma; table 1, when present, chroma."""
  if 0 not in tables or len(tables[0]) != 64:
    raise JpegQualityError(f"need a 64-entry luma table 0; got tables {sorted(tables)}")
  parts = [("luma", np.asarray(tables[0], np.int64))]
  if 1 in tables and len(tables[1]) == 64:
    parts.append(("chroma", np.asarray(tables[1], np.int64)))
  exact = np.all([np.all(_REFERENCE[name] == table, axis=1) for name, table in parts], axis=0)
  if exact.any():
    return QualityEstimate(int(_QUALITIES[np.argmax(exact)]), True, 0.0)
  distance = np.mean([np.abs(np.log2(_REFERENCE[name]) - np.log2(np.maximum(table, 1))).mean(1)
                      for name, table in parts], axis=0)
  best = int(np.argmin(distance))
  return QualityEstimate(int(_QUALITIES[best]), False, float(distance[best]))


def estimate_file(path: str | os.PathLike) -> QualityEstimate:
  """The IJG quality of a JPEG file's own tables.

  Raises:
    JpegQualityError: the file is not a JPEG (or has no quantisation tables).
  """
  try:
    with Image.open(path) as image:
      if image.format != "JPEG":
        raise JpegQualityError(f"{path} is {image.format or 'not an image'}, not a JPEG: only "
                               "JPEG files carry quantisation tables")
      tables = dict(getattr(image, "quantization", None) or {})
  except (UnidentifiedImageError, OSError) as exc:
    raise JpegQualityError(f"{path} cannot be read as an image ({exc})") from exc
  return estimate_from_tables(tables)
