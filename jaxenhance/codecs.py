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
``rgb_to_yuv420`` / ``yuv420_to_rgb`` also take BT.601 and full ("PC") range, and
``frame_to_rgb`` applies them to any decoded 8-bit 4:2:0 ``av.VideoFrame`` as its tags say: it is
the one decode that ``video_io`` (training sources, evaluation) and ``enhance`` use, so every
stage sees the colours the training pairs were made with (``rgb_to_yuv420_frame`` is its
encoder-side twin for enhance's yuv420p output).
JPEG instead uses the JFIF convention every JPEG decoder assumes (BT.601, full range), applied by
libjpeg inside Pillow.

Sizes: yuv420p needs even dimensions and libx265 at least 16x16, so frames are padded by
edge replication up to the next even size (and to 16x16) before encoding and the decoded frames
are cropped back; ``bits_per_pixel`` is computed over the original (unpadded) pixels.

Quantisers: ``round_trip(..., quantisers=True)`` also opens the decoder with
``quantiser.SIDE_DATA_OPTION`` and returns each decoded frame's ``quantiser.Quantiser`` (None
where the decoder exports none: HEVC, AV1, JPEG). The pixels are the same either way.

Alignment: decoded frames are ordered by their presentation timestamps (the encoder is fed
``pts = 0..T-1``), and the result is checked to be exactly one decoded frame per source frame;
anything else raises ``CodecError`` instead of silently misaligning a training pair.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
from fractions import Fraction
from typing import NamedTuple

import av
import numpy as np
from av.video.frame import PictureType
from PIL import Image

from jaxenhance import errors

CODECS = ("h264", "hevc", "av1", "vp9", "jpeg")

# Rate-control parameters each codec accepts, and their valid ranges.
PARAM_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "h264": {"qp": (0, 51), "crf": (0, 51)},
    "hevc": {"qp": (0, 51), "crf": (0, 51)},
    "av1": {"crf": (1, 63)},
    "vp9": {"crf": (0, 63)},
    "jpeg": {"qf": (1, 100)},
}
ENCODERS = {"h264": "libx264", "hevc": "libx265", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
_DECODERS = {"h264": "h264", "hevc": "hevc", "av1": "libdav1d", "vp9": "vp9"}
# The codec family of an FFmpeg decoder name (a video's ``codec_context.name``); Motion JPEG
# frames are JPEG pictures. Other decoders (MPEG-2, MPEG-4 part 2, ...) have no family here.
DECODER_FAMILIES = {"h264": "h264", "libopenh264": "h264", "hevc": "hevc", "av1": "av1",
                    "libdav1d": "av1", "libaom-av1": "av1", "vp9": "vp9", "libvpx-vp9": "vp9",
                    "mjpeg": "jpeg"}


def family_of_decoder(name: str | None) -> str | None:
  """``CODECS`` name of the decoder ``name`` (e.g. "libdav1d" -> "av1"), or None."""
  return DECODER_FAMILIES.get(str(name or "").lower())
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


class CodecError(errors.JaxenhanceError, ValueError):
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
    if self.codec not in PARAM_RANGES:
      raise CodecError(f"unknown codec '{self.codec}'; choose one of {CODECS}.")
    allowed = PARAM_RANGES[self.codec]
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
    quantisers: per frame, the decoder's ``quantiser.Quantiser`` or None; None unless asked
      for (``round_trip(..., quantisers=True)``).
  """
  frames: np.ndarray
  picture_types: list[str]
  num_bytes: int
  bits_per_pixel: float
  bitrate: float
  quantisers: list | None = None


# ---------------------------------------------------------------------------------------------
# Colour: BT.601 / BT.709, limited or full range, 4:2:0 centre-sited chroma.
# ---------------------------------------------------------------------------------------------

# (Kr, Kb) of the matrices 8-bit video uses: E_Y = Kr R + (1 - Kr - Kb) G + Kb B (ITU-R BT.601,
# BT.709).
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


class YUV420(NamedTuple):
  """Planes of 8-bit 4:2:0 video: y [..., H, W], u and v [..., H/2, W/2] (uint8)."""
  y: np.ndarray
  u: np.ndarray
  v: np.ndarray


class _Coefficients(NamedTuple):
  forward: np.ndarray  # float32 [3, 3]: rows Y, Cb, Cr from R, G, B on the 0-255 scale
  luma_offset: float   # 16 (limited) or 0 (full); chroma is always centred on 128
  luma_scale: np.float32    # 255 / 219 (limited) or 1
  chroma_scale: np.float32  # 255 / 224 (limited) or 1
  cr_to_r: np.float32
  cb_to_b: np.float32
  cb_to_g: np.float32
  cr_to_g: np.float32


@functools.cache
def _coefficients(matrix: str, full_range: bool) -> _Coefficients:
  if matrix not in MATRICES:
    raise CodecError(f"unknown colour matrix {matrix!r}; choose one of {sorted(MATRICES)}.")
  kr, kb = MATRICES[matrix]
  kg = 1.0 - kr - kb
  cb_scale, cr_scale = 2.0 * (1.0 - kb), 2.0 * (1.0 - kr)
  luma_range, chroma_range = (255.0, 255.0) if full_range else (219.0, 224.0)
  forward = np.array([
      [kr, kg, kb],
      [-kr / cb_scale, -kg / cb_scale, (1.0 - kb) / cb_scale],
      [(1.0 - kr) / cr_scale, -kg / cr_scale, -kb / cr_scale],
  ]) * (np.array([luma_range, chroma_range, chroma_range]) / 255.0)[:, None]
  forward = forward.astype(np.float32)
  forward.flags.writeable = False  # shared by every call (cached)
  return _Coefficients(
      forward=forward, luma_offset=0.0 if full_range else 16.0,
      luma_scale=np.float32(255.0 / luma_range), chroma_scale=np.float32(255.0 / chroma_range),
      cr_to_r=np.float32(cr_scale), cb_to_b=np.float32(cb_scale),
      cb_to_g=np.float32(kb * cb_scale / kg), cr_to_g=np.float32(kr * cr_scale / kg))


def _to_uint8(x: np.ndarray) -> np.ndarray:
  np.rint(x, out=x)
  np.clip(x, 0, 255, out=x)
  return x.astype(np.uint8)


def rgb_to_yuv420(frames: np.ndarray, *, matrix: str = "bt709", full_range: bool = False
                  ) -> YUV420:
  """RGB -> Y'CbCr 4:2:0 (default BT.709, limited range: what the training pairs use).

  Y = 16 + 219 E_Y with E_Y = Kr R + Kg G + Kb B (R, G, B in [0, 1]);
  Cb = 128 + 224 (B - E_Y) / (2 - 2 Kb); Cr = 128 + 224 (R - E_Y) / (2 - 2 Kr). Full range uses
  255 instead of 219 and 224, and no luma offset. Chroma is the mean over 2x2 blocks (centre
  siting); since Cb and Cr are linear in R, G, B it is computed from the 2x2 means of R, G, B,
  which is the same thing at a quarter of the cost.

  Args:
    frames: uint8 [..., H, W, 3] RGB with even H and W.
    matrix: a key of ``MATRICES``, ``"bt709"`` or ``"bt601"``.
    full_range: full ("pc", 0-255) instead of limited ("tv", 16-235 / 16-240) range.

  Returns:
    ``YUV420`` of uint8 planes.
  """
  coeffs = _coefficients(matrix, bool(full_range))
  frames = np.asarray(frames)
  h, w = frames.shape[-3:-1]
  if h % 2 or w % 2:
    raise CodecError(f"4:2:0 needs even frame sizes, got {h}x{w}; pad or crop first.")
  rgb = frames.astype(np.float32)
  luma = rgb @ coeffs.forward[0]
  luma += coeffs.luma_offset
  quad = rgb[..., 0::2, 0::2, :] + rgb[..., 1::2, 0::2, :]
  quad += rgb[..., 0::2, 1::2, :]
  quad += rgb[..., 1::2, 1::2, :]
  chroma = quad @ (0.25 * coeffs.forward[1:].T)
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


def yuv420_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray, *, matrix: str = "bt709",
                  full_range: bool = False) -> np.ndarray:
  """Inverse of ``rgb_to_yuv420`` (same matrix and range): uint8 [..., H, W, 3].

  R = Y' + (2 - 2 Kr) Cr', B = Y' + (2 - 2 Kb) Cb', G = (Y' - Kr R - Kb B) / Kg with
  Y' = (Y - 16) / 219, Cb' = (Cb - 128) / 224, Cr' = (Cr - 128) / 224 (full range: / 255 and
  no luma offset); chroma is upsampled bilinearly (centre siting) first. Odd H or W are accepted
  with chroma planes of the rounded-up size (as decoders store them); the upsampled chroma is
  cropped to the luma size.
  """
  coeffs = _coefficients(matrix, bool(full_range))
  y = np.asarray(y)
  h, w = y.shape[-2:]
  chroma_shape = ((h + 1) // 2, (w + 1) // 2)
  if np.shape(u)[-2:] != chroma_shape or np.shape(v)[-2:] != chroma_shape:
    raise CodecError(f"4:2:0 chroma planes of a {h}x{w} frame are {chroma_shape}, got "
                     f"{np.shape(u)[-2:]} and {np.shape(v)[-2:]}.")
  cb = (np.asarray(u, np.float32) - 128.0) * coeffs.chroma_scale
  cr = (np.asarray(v, np.float32) - 128.0) * coeffs.chroma_scale
  cb = _upsample2(_upsample2(cb, -1), -2)[..., :h, :w]
  cr = _upsample2(_upsample2(cr, -1), -2)[..., :h, :w]
  luma = (y.astype(np.float32) - coeffs.luma_offset) * coeffs.luma_scale
  out = np.empty(luma.shape + (3,), np.uint8)
  out[..., 0] = _to_uint8(luma + coeffs.cr_to_r * cr)
  out[..., 2] = _to_uint8(luma + coeffs.cb_to_b * cb)
  green = luma - coeffs.cb_to_g * cb
  green -= coeffs.cr_to_g * cr
  out[..., 1] = _to_uint8(green)
  return out


# ---------------------------------------------------------------------------------------------
# Decoded and encoded PyAV frames: one exact colour path for 8-bit 4:2:0.
# ---------------------------------------------------------------------------------------------

# AVColorSpace tags (libavutil/pixfmt.h) that name one of MATRICES. FCC's Kr, Kb (0.30, 0.11) are
# within 0.005 of BT.601's, and only old NTSC masters carry the tag.
_TAGGED_MATRICES = {1: "bt709", 4: "bt601", 5: "bt601", 6: "bt601"}
_UNTAGGED = 2  # AVCOL_SPC_UNSPECIFIED
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG
_HD_ROWS = 720  # untagged content from 720 rows up is BT.709, below it BT.601 (as players assume)


def frame_colour(frame: av.VideoFrame) -> tuple[str, bool] | None:
  """``(matrix, full_range)`` that ``frame_to_rgb`` applies to ``frame``, or None for swscale."""
  if frame.format.name not in ("yuv420p", "yuvj420p"):
    return None
  if frame.colorspace == _UNTAGGED:
    matrix = "bt601" if frame.height < _HD_ROWS else "bt709"
  else:
    matrix = _TAGGED_MATRICES.get(frame.colorspace)
    if matrix is None:
      return None
  return matrix, frame.format.name == "yuvj420p" or frame.color_range == _FULL_RANGE


def _plane(plane) -> np.ndarray:
  rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
  return rows[:plane.height, :plane.width]


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
  """A decoded PyAV video frame as uint8 RGB [H, W, 3].

  8-bit 4:2:0 (``yuv420p``, and ``yuvj420p``, which is full range) is converted here by
  ``yuv420_to_rgb``, the numpy matrix and chroma upsampling that decode the training pairs, so
  training sources, evaluation and enhance see the same colours. The matrix follows the frame's
  colorspace tag (BT.709; BT.470BG, SMPTE 170M and FCC as BT.601); untagged frames are BT.601
  below 720 rows and BT.709 from 720 rows (the SD/HD convention players follow). The range is
  limited unless the frame is tagged full. Odd sizes are fine (chroma planes of rounded-up size).

  Every other format (10/12-bit, 4:2:2, 4:4:4, gray, RGB, ...) and 4:2:0 tagged with another
  matrix (BT.2020, SMPTE 240M, YCgCo) goes through FFmpeg's swscale, ``to_ndarray("rgb24")``,
  which follows the tag too. On 8-bit 4:2:0 swscale's default path is not exact: on a
  BT.709-tagged x264 QP 0 encode of scikit-image's astronaut it returns the frame about a level
  darker than this decode (mean shift -0.89, -1.34, -0.90 per channel, up to 34 levels at chroma
  edges); this decode is within 0.03 of the source photo's mean colour.
  """
  colour = frame_colour(frame)
  if colour is None:
    return frame.to_ndarray(format="rgb24")
  matrix, full_range = colour
  y, u, v = (_plane(p) for p in frame.planes[:3])
  return yuv420_to_rgb(y, u, v, matrix=matrix, full_range=full_range)


def rgb_to_yuv420_frame(rgb: np.ndarray) -> av.VideoFrame:
  """uint8 RGB [H, W, 3] (even H and W) as a yuv420p ``VideoFrame``, BT.709 limited range
  (``rgb_to_yuv420``) and tagged so: the encoder-side twin of ``frame_to_rgb``."""
  rgb = np.asarray(rgb)
  y, u, v = rgb_to_yuv420(rgb)
  i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(-1, rgb.shape[1])
  frame = av.VideoFrame.from_ndarray(i420, format="yuv420p")
  frame.colorspace, frame.color_range = 1, 1  # AVCOL_SPC_BT709, AVCOL_RANGE_MPEG
  return frame


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


def _video_round_trip(frames: np.ndarray, fps: float, settings: EncodeSettings,
                      quantisers: bool = False):
  t, h, w, _ = frames.shape
  padded = _pad_for_420(frames)
  ph, pw = padded.shape[1:3]
  planes = rgb_to_yuv420(padded)

  rate = Fraction(fps).limit_denominator(1001)
  enc = av.CodecContext.create(ENCODERS[settings.codec], "w")
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
  if quantisers:
    from jaxenhance import quantiser  # imports this module: imported where it is used

    dec.options = quantiser.SIDE_DATA_OPTION
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
  if not quantisers:
    return rgb, types, num_bytes, None
  return rgb, types, num_bytes, [quantiser.frame_quantiser(f) for f in decoded]


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


def round_trip(frames: np.ndarray, fps: float, settings: EncodeSettings, *,
               quantisers: bool = False) -> RoundTrip:
  """Compresses ``frames`` with ``settings`` and decodes them back, aligned one-to-one.

  Args:
    frames: uint8 RGB [T, H, W, 3] (any size; odd sizes are edge-padded and cropped back).
    fps: frame rate, used for the encoder's time base (rate control) and for ``bitrate``.
    settings: codec and quality.
    quantisers: also return the decoder's quantiser of each frame (``RoundTrip.quantisers``).

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
    found = [None] * len(frames) if quantisers else None  # JPEG has tables, not a QP map
  else:
    decoded, types, num_bytes, found = _video_round_trip(frames, fps, settings, quantisers)
  t, h, w, _ = frames.shape
  bpp = num_bytes * 8.0 / (t * h * w)
  return RoundTrip(frames=decoded, picture_types=types, num_bytes=int(num_bytes),
                   bits_per_pixel=bpp, bitrate=num_bytes * 8.0 * fps / t, quantisers=found)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
  """PSNR in dB over all pixels of two uint8 arrays (a quick check, not the evaluation metric)."""
  mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
  return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))
