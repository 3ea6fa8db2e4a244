"""Image files and frame layouts: read upright 8-bit RGB (+ alpha), write at a quality, compare.

* ``read_image``: EXIF orientation applied (the pixels come back upright), gray, palette, CMYK
  and 16-bit inputs converted to 8-bit RGB with a note saying so, alpha returned separately.
* ``save_image``: uint8 RGB, alpha kept where the format has it (PNG, WebP, TIFF), JPEG at
  ``quality`` without chroma subsampling.
* ``compare_frame``: input and output side by side or split at the middle (images and video
  frames alike).

Unreadable, truncated or oversized (decompression-bomb) files raise ``ImageError`` with what to
do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from jaxenhance import errors

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")
COMPARE_MODES = ("side", "split")


class ImageError(errors.JaxenhanceError, ValueError):
  """An image cannot be read or written; the message says why and what to do."""


def is_image(path: str | Path) -> bool:
  """Whether ``path`` names an image file (by extension)."""
  return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
  """Reads an image upright as uint8 RGB [H, W, 3], its alpha [H, W] (or None) and notes."""
  try:
    with Image.open(path) as image:
      image.load()
      notes = []
      if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation
        notes.append("the EXIF orientation is applied; the output is stored upright")
      image = ImageOps.exif_transpose(image)
      mode = image.mode
  except UnidentifiedImageError as exc:
    raise ImageError(f"{path} is not an image Pillow can read; check the file") from exc
  except Image.DecompressionBombError as exc:  # not an OSError: would escape as a traceback
    raise ImageError(f"{path}: its header claims more pixels than Pillow decodes safely "
                       f"({exc}); a real image this large must be downscaled first") from exc
  except (OSError, SyntaxError, ValueError) as exc:
    raise ImageError(f"{path} cannot be decoded ({exc}); the file is truncated or corrupt. "
                       "Re-download or re-export it") from exc
  alpha = None
  if mode in ("I;16", "I;16B", "I;16L", "I"):
    data = np.asarray(image, np.int64)
    scale = 257.0 if data.max() > 255 else 1.0
    image = Image.fromarray(np.clip(np.round(data / scale), 0, 255).astype(np.uint8))
    notes.append(f"16-bit {mode} input converted to 8-bit RGB")
  elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3].copy()
    image = rgba
  if mode in ("L", "1", "LA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "F"):
    notes.append(f"the input is {mode}; it is converted to 8-bit RGB")
  return np.asarray(image.convert("RGB")), alpha, notes


def save_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None = None,
               quality: int = 95, fmt: str | None = None, comment: str | None = None) -> None:
  """Writes uint8 RGB (+ alpha when the format has it) at JPEG/WebP ``quality``; ``comment``
  goes into a JPEG COM segment or a PNG ``Comment`` text chunk (other formats: dropped)."""
  fmt = fmt or Image.registered_extensions().get(path.suffix.lower())
  if fmt is None:
    raise ImageError(f"unknown image extension {path.suffix}; use one of {IMAGE_EXTENSIONS}")
  image = Image.fromarray(rgb)
  if alpha is not None and fmt in _ALPHA_FORMATS:
    image.putalpha(Image.fromarray(alpha))
  kwargs: dict[str, Any] = {}
  if fmt == "JPEG":
    kwargs = {"quality": quality, "subsampling": 0}
    if comment:
      kwargs["comment"] = comment
  elif fmt == "WEBP":
    kwargs = {"quality": quality}
  elif fmt == "PNG" and comment:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", comment)
    kwargs = {"pnginfo": info}
  image.save(path, format=fmt, **kwargs)


def compare_frame(before: np.ndarray, after: np.ndarray, mode: str = "side") -> np.ndarray:
  """Input and output in one frame: side by side ([H, 2W]) or split at the middle ([H, W])."""
  if mode == "side":
    return np.concatenate([before, after], axis=1)
  if mode == "split":
    w = before.shape[1]
    out = np.concatenate([before[:, : w // 2], after[:, w // 2:]], axis=1)
    out[:, w // 2] = 255  # a divider line
    return out
  raise ImageError(f"--compare-mode must be one of {COMPARE_MODES}, got {mode!r}")
