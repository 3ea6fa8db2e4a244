"""Encode RGB frames with a real codec at a quality setting and decode them back.

``round_trip(frames, fps, settings)`` is the degradation used to build training pairs:

* Video (``h264``, ``hevc``, ``av1``, ``vp9``) is encoded with PyAV's bundled FFmpeg encoders
  (libx264, libx265, libsvtav1, libvpx-vp9) straight from codec contexts in memory (no container,
  no temp file) and decoded with FFmpeg's decoders (h264, hevc, libdav1d, vp9). The compressed
  size is the sum of the encoded packets, i.e. the elementary bitstream without container
  overhead.
* ``jpeg`` encodes every frame independently with Pillow at the exact IJG quality factor
  (``quality=Q``, 4:2:0 chroma subsampling), as the Galteri et al. QF experiments do.

Colour (video): the RGB <-> YUV conversion is done here in numpy with **one** matrix, BT.709 with
limited ("TV", 16-235 / 16-240) range, used both ways, and the bitstream is tagged BT.709 / limited
so players agree. Chroma is 4:2:0 with centre siting: 2x2 box average down, bilinear up.
JPEG instead uses the JFIF convention every JPEG decoder assumes (BT.601, full range), applied by
libjpeg inside Pillow.

Sizes: yuv420p needs even dimensions and libx265 at least 16x16, so frames are padded by
edge replication up to the next even size (and to 16x16) before encoding and the decoded frames
are cropped back; ``bits_per_pixel`` is computed over the original (unpadded) pixels.

Alignment: decoded frames are ordered by their presentation timestamps (the encoder is fed
``pts = 0..T-1``), and the result is checked to be exactly one decoded frame per source frame;
anything else raises ``CodecError`` instead of silently misaligning a training pair.
"""

from __future__ import annotations

import dataclasses
import io
import os
from fractions import Fraction
from typing import NamedTuple

import av
import numpy as np
from av.video.frame import PictureType
from PIL import Image

CODECS = ("h264", "hevc", "av1", "vp9", "jpeg")

# Rate-control parameters each codec accepts, and their valid ranges.
_PARAMS: dict[str, dict[str, tuple[int, int]]] = {
    "h264": {"qp": (0, 51), "crf": (0, 51)},
    "hevc": {"qp": (0, 51), "crf": (0, 51)},
    "av1": {"crf": (1, 63)},
    "vp9": {"crf": (0, 63)},
    "jpeg": {"qf": (1, 100)},
}
_ENCODERS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
_DECODERS = {"h264": "h264", "hevc": "hevc", "av1": "libdav1d", "vp9": "vp9"}
# x264/x265 preset names, SVT-AV1 preset number, libvpx-vp9 cpu-used.
DEFAULT_PRESETS = {"h264": "medium", "hevc": "medium", "av1": "8", "vp9": "4"}
_MIN_SIZE = 16  # libx265 refuses frames smaller than 16x16

_PICTURE_TYPES = {
    PictureType.I: "I", PictureType.SI: "I",
    PictureType.P: "P", PictureType.SP: "P", PictureType.S: "P",
    PictureType.B: "B", PictureType.BI: "B",
}

# SVT-AV1 prints a banner on every encoder open; keep errors only unless the user asked otherwise.
os.environ.setdefault("SVT_LOG", "1")


class CodecError(ValueError):
  """Bad encode settings or a round trip that did not return one frame per source frame."""


@dataclasses.dataclass(frozen=True)
class EncodeSettings:
  """A codec and its quality setting.

  Attributes:
    codec: one of ``CODECS``.
    param: ``"qp"`` or ``"crf"`` for video (h264/hevc: both; av1/vp9: crf), ``"qf"`` for jpeg.
    value: the quantiser (higher = worse) or JPEG quality factor (higher = better).
    preset: encoder speed preset; None picks ``DEFAULT_PRESETS`` (x264/x265 ``medium``, SVT-AV1
      preset 8, VP9 ``cpu-used`` 4). Ignored for jpeg.
    gop: key-frame interval in frames (video only).
  """
  codec: str
  param: str
  value: int
  preset: str | None = None
  gop: int = 12

  def __post_init__(self):
    if self.codec not in _PARAMS:
      raise CodecError(f"unknown codec '{self.codec}'; choose one of {CODECS}.")
    allowed = _PARAMS[self.codec]
    if self.param not in allowed:
      raise CodecError(
          f"codec '{self.codec}' takes rate parameter {sorted(allowed)}, not '{self.param}'.")
    low, high = allowed[self.param]
    if not low <= int(self.value) <= high:
      raise CodecError(
          f"{self.codec} {self.param}={self.value} is out of range; use {low}..{high}.")
    if self.gop < 1:
      raise CodecError(f"gop must be >= 1 frame, got {self.gop}.")

  @property
  def tag(self) -> str:
    """Short name such as ``h264_qp32`` (used in record metadata and tables)."""
    return f"{self.codec}_{self.param}{self.value}"


@dataclasses.dataclass
class RoundTrip:
  """Decoded frames and what the codec spent on them.

  Attributes:
    frames: uint8 [T, H, W, 3], decoded frame t corresponds to source frame t.
    picture_types: 'I', 'P' or 'B' per frame, in source (presentation) order.
    num_bytes: compressed size (sum of encoded packets; for jpeg, of the JPEG files).
    bits_per_pixel: ``num_bytes * 8 / (T * H * W)``.
    bitrate: bits per second at the given fps.
  """
  frames: np.ndarray
  picture_types: list[str]
  num_bytes: int
  bits_per_pixel: float
  bitrate: float


# ---------------------------------------------------------------------------------------------
# Colour: BT.709 limited range, 4:2:0 centre-sited chroma.
# ---------------------------------------------------------------------------------------------

_KR, _KB = 0.2126, 0.0722
_KG = 1.0 - _KR - _KB
_CB_SCALE = 2.0 * (1.0 - _KB)  # 1.8556
_CR_SCALE = 2.0 * (1.0 - _KR)  # 1.5748


class YUV420(NamedTuple):
  """Planes of 8-bit 4:2:0 video: y [..., H, W], u and v [..., H/2, W/2] (uint8)."""
  y: np.ndarray
  u: np.ndarray
  v: np.ndarray


# Rows: Y, Cb, Cr as functions of R, G, B on the 0-255 scale (offsets 16, 128, 128 added after).
_RGB_TO_YCC = np.array([
    [_KR, _KG, _KB],
    [-_KR / _CB_SCALE, -_KG / _CB_SCALE, (1.0 - _KB) / _CB_SCALE],
    [(1.0 - _KR) / _CR_SCALE, -_KG / _CR_SCALE, -_KB / _CR_SCALE],
]) * (np.array([219.0, 224.0, 224.0]) / 255.0)[:, None]
def _to_uint8(x: np.ndarray) -> np.ndarray:
  np.rint(x, out=x)
  np.clip(x, 0, 255, out=x)
  return x.astype(np.uint8)


def rgb_to_yuv420(frames: np.ndarray) -> YUV420:
  """BT.709 limited-range RGB -> Y'CbCr 4:2:0.

  Y = 16 + 219 E_Y with E_Y = 0.2126 R + 0.7152 G + 0.0722 B (R, G, B in [0, 1]);
  Cb = 128 + 224 (B - E_Y) / 1.8556; Cr = 128 + 224 (R - E_Y) / 1.5748. Chroma is the mean
  over 2x2 blocks (centre siting); since Cb and Cr are linear in R, G, B it is computed from the
  2x2 means of R, G, B, which is the same thing at a quarter of the cost.

  Args:
    frames: uint8 [..., H, W, 3] RGB with even H and W.

  Returns:
    ``YUV420`` of uint8 planes.
  """
  frames = np.asarray(frames)
  h, w = frames.shape[-3:-1]
  if h % 2 or w % 2:
    raise CodecError(f"4:2:0 needs even frame sizes, got {h}x{w}; pad or crop first.")
  matrix = _RGB_TO_YCC.astype(np.float32)
  rgb = frames.astype(np.float32)
  luma = rgb @ matrix[0]
  luma += 16.0
  quad = rgb[..., 0::2, 0::2, :] + rgb[..., 1::2, 0::2, :]
  quad += rgb[..., 0::2, 1::2, :]
  quad += rgb[..., 1::2, 1::2, :]
  chroma = quad @ (0.25 * matrix[1:].T)
  chroma += 128.0
  chroma = _to_uint8(chroma)
  return YUV420(_to_uint8(luma), np.ascontiguousarray(chroma[..., 0]),
                np.ascontiguousarray(chroma[..., 1]))


def _upsample2(c: np.ndarray, axis: int) -> np.ndarray:
  """Bilinear x2 upsampling of centre-sited samples along ``axis`` (-1 or -2; edges replicated).

  Output sample 2i is 3/4 c[i] + 1/4 c[i-1], sample 2i+1 is 3/4 c[i] + 1/4 c[i+1].
  """
  shape = list(c.shape)
  shape[axis] *= 2
  out = np.empty(shape, np.float32)

  def at(s):
    return (Ellipsis, s) if axis == -1 else (Ellipsis, s, slice(None))

  even, odd = out[at(slice(0, None, 2))], out[at(slice(1, None, 2))]
  quarter = c * np.float32(0.25)
  np.multiply(c, np.float32(0.75), out=even)
  np.copyto(odd, even)
  even[at(slice(1, None))] += quarter[at(slice(0, -1))]
  even[at(slice(0, 1))] += quarter[at(slice(0, 1))]
  odd[at(slice(0, -1))] += quarter[at(slice(1, None))]
  odd[at(slice(-1, None))] += quarter[at(slice(-1, None))]
  return out


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Inverse of ``rgb_to_yuv420`` (same BT.709 limited-range matrix): uint8 [..., H, W, 3].

  R = Y' + 1.5748 Cr', B = Y' + 1.8556 Cb', G = (Y' - 0.2126 R - 0.0722 B) / 0.7152 with
  Y' = (Y - 16) / 219, Cb' = (Cb - 128) / 224, Cr' = (Cr - 128) / 224; chroma is upsampled
  bilinearly (centre siting) first.
  """
  scale = np.float32(255.0 / 224.0)
  cb = (np.asarray(u, np.float32) - 128.0) * scale
  cr = (np.asarray(v, np.float32) - 128.0) * scale
  cb = _upsample2(_upsample2(cb, -1), -2)
  cr = _upsample2(_upsample2(cr, -1), -2)
  luma = (np.asarray(y, np.float32) - 16.0) * np.float32(255.0 / 219.0)
  out = np.empty(luma.shape + (3,), np.uint8)
  out[..., 0] = _to_uint8(luma + np.float32(_CR_SCALE) * cr)
  out[..., 2] = _to_uint8(luma + np.float32(_CB_SCALE) * cb)
  green = luma - np.float32(_KB * _CB_SCALE / _KG) * cb
  green -= np.float32(_KR * _CR_SCALE / _KG) * cr
  out[..., 1] = _to_uint8(green)
  return out


# ---------------------------------------------------------------------------------------------
# Round trips.
# ---------------------------------------------------------------------------------------------

def _check_frames(frames: np.ndarray) -> np.ndarray:
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
    raise CodecError(f"expected RGB frames [T, H, W, 3] with T >= 1, got shape {frames.shape}.")
  if frames.dtype != np.uint8:
    raise CodecError(f"expected uint8 frames (0-255), got {frames.dtype}.")
  return frames


def _pad_for_420(frames: np.ndarray) -> np.ndarray:
  _, h, w, _ = frames.shape
  ph = max(h + h % 2, _MIN_SIZE) - h
  pw = max(w + w % 2, _MIN_SIZE) - w
  if ph or pw:
    frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
  return frames


def _encoder_options(settings: EncodeSettings) -> dict[str, str]:
  preset = settings.preset or DEFAULT_PRESETS[settings.codec]
  value = str(int(settings.value))
  if settings.codec == "h264":
    return {"preset": preset, settings.param: value}
  if settings.codec == "hevc":
    params = "log-level=error"
    if settings.param == "qp":
      params = f"qp={value}:{params}"
      return {"preset": preset, "x265-params": params}
    return {"preset": preset, "crf": value, "x265-params": params}
  if settings.codec == "av1":
    return {"preset": preset, "crf": value}
  # vp9: constant quality needs b=0; "good" deadline with cpu-used as the speed knob.
  return {"crf": value, "b": "0", "deadline": "good", "cpu-used": preset, "row-mt": "1"}


def _video_round_trip(frames: np.ndarray, fps: float, settings: EncodeSettings):
  t, h, w, _ = frames.shape
  padded = _pad_for_420(frames)
  ph, pw = padded.shape[1:3]
  planes = rgb_to_yuv420(padded)

  rate = Fraction(fps).limit_denominator(1001)
  enc = av.CodecContext.create(_ENCODERS[settings.codec], "w")
  enc.width, enc.height, enc.pix_fmt = pw, ph, "yuv420p"
  enc.time_base = 1 / rate
  enc.framerate = rate
  enc.gop_size = settings.gop
  # Tag the bitstream with the matrix the planes were made with (1 = BT.709; range 1 = limited).
  enc.colorspace = enc.color_primaries = enc.color_trc = 1
  enc.color_range = 1
  enc.options = _encoder_options(settings)

  # One contiguous I420 buffer per frame: rows 0..H-1 luma, then U and V packed as W-wide rows.
  i420 = np.concatenate([p.reshape(t, -1) for p in planes], axis=1).reshape(t, -1, pw)

  packets = []
  for i in range(t):
    frame = av.VideoFrame.from_ndarray(i420[i], format="yuv420p")
    frame.pts = i
    packets.extend(enc.encode(frame))
  packets.extend(enc.encode(None))
  num_bytes = sum(p.size for p in packets)

  dec = av.CodecContext.create(_DECODERS[settings.codec], "r")
  decoded = []
  for packet in packets:
    decoded.extend(dec.decode(packet))
  decoded.extend(dec.decode(None))

  if len(decoded) != t:
    raise CodecError(
        f"{settings.tag}: decoder returned {len(decoded)} frames for {t} source frames; the "
        "decoded clip cannot be aligned with the source.")
  pts = [f.pts for f in decoded]
  if None not in pts:
    if sorted(pts) != list(range(t)):
      raise CodecError(f"{settings.tag}: decoded timestamps {sorted(pts)} are not 0..{t - 1}.")
    decoded.sort(key=lambda f: f.pts)

  out = np.empty((t, ph * 3 // 2, pw), np.uint8)
  for i, frame in enumerate(decoded):
    if frame.format.name != "yuv420p" or (frame.height, frame.width) != (ph, pw):
      raise CodecError(f"{settings.tag}: decoder returned {frame.format.name} "
                       f"{frame.width}x{frame.height}, expected yuv420p {pw}x{ph}.")
    out[i] = frame.to_ndarray(format="yuv420p")
  chroma = out[:, ph:].reshape(t, -1)
  u = chroma[:, : ph * pw // 4].reshape(t, ph // 2, pw // 2)
  v = chroma[:, ph * pw // 4:].reshape(t, ph // 2, pw // 2)
  rgb = yuv420_to_rgb(out[:, :ph], u, v)[:, :h, :w]
  types = [_PICTURE_TYPES.get(PictureType(f.pict_type), "P") for f in decoded]
  return rgb, types, num_bytes


def _jpeg_round_trip(frames: np.ndarray, settings: EncodeSettings):
  out = np.empty_like(frames)
  num_bytes = 0
  for i, frame in enumerate(frames):
    buf = io.BytesIO()
    # subsampling=2 is 4:2:0; quality is the IJG quality factor (libjpeg's standard tables).
    Image.fromarray(frame).save(buf, format="JPEG", quality=int(settings.value), subsampling=2)
    num_bytes += buf.tell()
    buf.seek(0)
    with Image.open(buf) as image:
      out[i] = np.asarray(image.convert("RGB"))
  return out, ["I"] * len(frames), num_bytes


def round_trip(frames: np.ndarray, fps: float, settings: EncodeSettings) -> RoundTrip:
  """Compresses ``frames`` with ``settings`` and decodes them back, aligned one-to-one.

  Args:
    frames: uint8 RGB [T, H, W, 3] (any size; odd sizes are edge-padded and cropped back).
    fps: frame rate, used for the encoder's time base (rate control) and for ``bitrate``.
    settings: codec and quality.

  Returns:
    ``RoundTrip`` with decoded frames of the same shape as ``frames``.

  Raises:
    CodecError: bad input, or the decoder did not return exactly one frame per source frame.
  """
  frames = _check_frames(frames)
  if not fps > 0:
    raise CodecError(f"fps must be positive, got {fps}.")
  if settings.codec == "jpeg":
    decoded, types, num_bytes = _jpeg_round_trip(frames, settings)
  else:
    decoded, types, num_bytes = _video_round_trip(frames, fps, settings)
  t, h, w, _ = frames.shape
  bpp = num_bytes * 8.0 / (t * h * w)
  return RoundTrip(frames=decoded, picture_types=types, num_bytes=int(num_bytes),
                   bits_per_pixel=bpp, bitrate=num_bytes * 8.0 * fps / t)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  """PSNR in dB over all pixels of two uint8 arrays (a quick check, not the evaluation metric)."""
  mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))
