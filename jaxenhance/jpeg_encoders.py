"""JPEG round trips through real encoders, each decoded the way its users decode it.

* ``pillow``: libjpeg-turbo inside Pillow: the IJG quality factor and the standard tables, 4:4:4,
  4:2:2 or 4:2:0 chroma; decoded by Pillow.
* ``opencv``: ``cv2.imencode`` with ``IMWRITE_JPEG_QUALITY`` (OpenCV's own libjpeg build, IJG
  tables); decoded by ``cv2.imdecode``. OpenCV is a test dependency only: without it this
  encoder raises ``JpegEncodeError``.
* ``mjpeg``: FFmpeg's Motion-JPEG encoder through PyAV at a fixed ``qscale`` (1-69; FFmpeg
  refuses 70 and above), 4:2:0 only. It writes MPEG-1's intra matrix times qscale / 8 with a DC
  step of 8, not IJG tables, so its quality is the *effective* IJG quality ``jpeg_quality``
  reads from the bytes (qscale 1 -> 97, 2 -> 92, 8 -> 69, 31 -> 20, 60 -> 5). Decoded by FFmpeg
  through ``codecs.frame_to_rgb``, as video frames are.

Every round trip reports the quality that the file's own tables give (``jpeg_quality``), not the
knob that was turned: that is what a reader of the file would see, on one axis for all encoders.
"""

from __future__ import annotations

import dataclasses
import functools
import io
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from jaxenhance import codecs, errors, jpeg_quality

ENCODERS = ("pillow", "opencv", "mjpeg")
SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
MJPEG_QSCALES = tuple(range(1, 70))


class JpegEncodeError(errors.JaxenhanceError, ValueError):
  """Unknown encoder or setting, or an encoder that is not installed."""


@dataclasses.dataclass(frozen=True)
class JpegRoundTrip:
  """One image through one encoder and back.

  Attributes:
    decoded: uint8 [H, W, 3], the size of the input.
    data: the JPEG file.
    quality: IJG quality of the file's tables (exact for IJG encoders, effective otherwise).
    exact: the tables are IJG tables.
  """
  decoded: np.ndarray
  data: bytes
  quality: int
  exact: bool


def available(encoder: str) -> bool:
  """Whether ``encoder``'s library is installed (OpenCV is optional)."""
  if encoder != "opencv":
    return encoder in ENCODERS
  try:
    import cv2  # noqa: F401
  except ImportError:
    return False
  return True


def _cv2():
  try:
    import cv2
  except ImportError as exc:
    raise JpegEncodeError("the opencv encoder needs OpenCV: pip install "
                          "opencv-python-headless (the test extra), or leave opencv out.") from exc
  return cv2


def _check(image: np.ndarray) -> np.ndarray:
  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
    raise JpegEncodeError(f"expected one uint8 RGB image [H, W, 3]; got {image.dtype} "
                          f"{image.shape}.")
  return image


def mjpeg_encode(image: np.ndarray, qscale: int) -> bytes:
  """One JPEG from FFmpeg's ``mjpeg`` encoder at fixed ``qscale`` (4:2:0, full-range BT.601)."""
  image = _check(image)
  if int(qscale) not in MJPEG_QSCALES:
    raise JpegEncodeError(f"mjpeg qscale must be 1-69, got {qscale}.")
  h, w = image.shape[:2]
  # 4:2:0 planes need even sides: repeat the last row/column (the decoder crops them off).
  padded = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
  y, u, v = codecs.rgb_to_yuv420(padded, matrix="bt601", full_range=True)
  planes = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
  frame = av.VideoFrame.from_ndarray(planes.reshape(-1, padded.shape[1]), format="yuvj420p")
  ctx = av.CodecContext.create("mjpeg", "w")
  ctx.width, ctx.height, ctx.pix_fmt = padded.shape[1], padded.shape[0], "yuvj420p"
  ctx.time_base = Fraction(1, 25)
  ctx.options = {"qmin": str(qscale), "qmax": str(qscale)}
  packets = ctx.encode(frame) + ctx.encode(None)
  data = bytes(packets[0])
  if (h, w) != padded.shape[:2]:
    data = _set_jpeg_size(data, h, w)
  return data


def _set_jpeg_size(data: bytes, height: int, width: int) -> bytes:
  """``data`` with its frame header (SOF0) saying ``height`` x ``width``: every decoder then
  crops the padded edge itself."""
  pos = 2  # after SOI; walk the header segments (each FF xx, then a 2-byte length)
  while pos + 4 <= len(data) and data[pos] == 0xFF:
    marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
    if marker == 0xC0:
      size = height.to_bytes(2, "big") + width.to_bytes(2, "big")
      return data[:pos + 5] + size + data[pos + 9:]
    if marker == 0xDA:  # start of scan: no frame header before it
      break
    pos += 2 + length
  raise JpegEncodeError("mjpeg wrote no baseline frame header (SOF0).")


@functools.cache
def mjpeg_qualities() -> dict[int, int]:
  """Effective IJG quality of every mjpeg qscale. The tables depend on qscale alone, so a flat
  16x16 image tells them."""
  flat = np.full((16, 16, 3), 128, np.uint8)
  return {qs: jpeg_quality.estimate_file(io.BytesIO(mjpeg_encode(flat, qs))).quality
          for qs in MJPEG_QSCALES}


def mjpeg_qscale(quality: float, rng: np.random.Generator | None = None) -> int:
  """The qscale whose effective quality is nearest ``quality``; among several with that same
  quality (qscale 57-65 all give 5), the lowest, or a random one with ``rng``."""
  table = mjpeg_qualities()
  gaps = {qs: abs(q - quality) for qs, q in table.items()}
  best = min(gaps.values())
  candidates = [qs for qs, gap in gaps.items() if gap == best]
  return int(rng.choice(candidates)) if rng is not None else candidates[0]


def encode(image: np.ndarray, encoder: str, quality: float, subsampling: str = "4:2:0",
           rng: np.random.Generator | None = None) -> bytes:
  """``image`` (uint8 RGB [H, W, 3]) as a JPEG file.

  Args:
    image: the picture.
    encoder: one of ``ENCODERS``.
    quality: IJG quality 1-100 (mjpeg: the qscale whose effective quality is nearest).
    subsampling: chroma subsampling, one of ``SUBSAMPLINGS`` (mjpeg: 4:2:0 only).
    rng: mjpeg only: picks among qscales of equal effective quality.
  """
  image = _check(image)
  if subsampling not in SUBSAMPLINGS:
    raise JpegEncodeError(f"subsampling must be one of {SUBSAMPLINGS}, got {subsampling!r}.")
  if encoder == "pillow":
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=round(quality), subsampling=subsampling)
    return buf.getvalue()
  if encoder == "opencv":
    cv2 = _cv2()
    factor = {"4:4:4": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
              "4:2:2": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
              "4:2:0": cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420}[subsampling]
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [
        cv2.IMWRITE_JPEG_QUALITY, round(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor])
    if not ok:
      raise JpegEncodeError(f"OpenCV could not encode a {image.shape} image.")
    return data.tobytes()
  if encoder == "mjpeg":
    if subsampling != "4:2:0":
      raise JpegEncodeError(f"the mjpeg encoder writes 4:2:0 only, not {subsampling}.")
    return mjpeg_encode(image, mjpeg_qscale(quality, rng))
  raise JpegEncodeError(f"unknown JPEG encoder {encoder!r}; choose one of {ENCODERS}.")


def decode(data: bytes, encoder: str) -> np.ndarray:
  """The JPEG ``data`` as uint8 RGB [H, W, 3], by the decoder that goes with ``encoder``."""
  if encoder == "pillow":
    with Image.open(io.BytesIO(data)) as image:
      return np.asarray(image.convert("RGB"))
  if encoder == "opencv":
    cv2 = _cv2()
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[..., ::-1])
  if encoder == "mjpeg":
    frames = av.CodecContext.create("mjpeg", "r").decode(av.Packet(data))
    if len(frames) != 1:
      raise JpegEncodeError(f"FFmpeg decoded {len(frames)} frames from one JPEG.")
    return codecs.frame_to_rgb(frames[0])
  raise JpegEncodeError(f"unknown JPEG encoder {encoder!r}; choose one of {ENCODERS}.")


def round_trip(image: np.ndarray, encoder: str, quality: float, subsampling: str = "4:2:0",
               rng: np.random.Generator | None = None) -> JpegRoundTrip:
  """Encodes and decodes ``image``; the result carries the quality the file's tables give."""
  data = encode(image, encoder, quality, subsampling, rng)
  decoded = decode(data, encoder)
  if decoded.shape != np.shape(image):
    raise JpegEncodeError(f"{encoder} decoded {decoded.shape} from a {np.shape(image)} image.")
  estimate = jpeg_quality.estimate_file(io.BytesIO(data))
  return JpegRoundTrip(decoded, data, estimate.quality, estimate.exact)
