r"""Enhance videos and images with a trained generator.

  python -m jaxenhance.enhance IN OUT --checkpoint=DIR [--codec h264 --crf 12 | --qp 0]
      [--compare CMP.mp4 --compare-mode side|split] [--batch-size 4 --tile 512 --overlap 64]
  jaxenhance enhance IN OUT --checkpoint=DIR      (the same)

``DIR`` is a generator export (``generator.json`` + ``generator.msgpack``, see ``export.py``) or a
training work directory holding one in ``export/``.

Video (any container/codec PyAV decodes) -> video:
* Frames are decoded one at a time and enhanced in batches of ``--batch-size`` frames, so memory
  stays flat however long the video is. Large frames are cut into equal, stride-aligned,
  overlapping tiles that are blended without seams (``tiling.py``). The jitted function sees one
  shape per video (the last batch is padded), so it compiles once. The next batch is decoded
  while the current one runs (JAX dispatch is asynchronous).
* Temporal generators (``temporal_window`` T > 1) see a sliding window of T frames centred on
  each output frame, with the end frames replicated at the clip ends.
* Re-encoded with ``--codec`` (libx264 by default; libvpx-vp9 for ``.webm``; also libx265,
  libsvtav1, ffv1) at ``--crf`` (default visually lossless: x264 12, x265 14, VP9 15, AV1 20) or
  ``--qp`` (``--qp 0`` is lossless in YUV; add ``--pix-fmt yuv444p`` to keep full chroma, or use
  ``--codec ffv1`` for lossless RGB). RGB -> YUV uses BT.709, limited range, and the stream is
  tagged so; for yuv420p it is ``codecs.rgb_to_yuv420``, the exact inverse of the decoder's
  ``codecs.frame_to_rgb``, so a ``--qp 0`` round trip returns the colours it was given.
* Kept from the input: every frame's timestamp (pts, time base: variable frame rates survive),
  the frame rate, the display rotation (written back as the container's display matrix), and the
  first audio stream: its packets are copied unchanged when the output container accepts the
  codec, else it is re-encoded (AAC, or Opus for WebM) and a warning says so.
* Pixel formats: every input format is converted to 8-bit RGB (10/12-bit, gray, 4:2:2, 4:4:4, ...)
  and a warning says what was converted; the output is 8-bit.
* Odd frame sizes: 4:2:0 cannot represent an odd width or height, so such videos are written in
  4:4:4 (``yuv444p``) at exactly the input size, with a warning that some players (browsers) only
  play 4:2:0. (SVT-AV1 has no 4:4:4: it refuses odd sizes; pick another codec.)
* The output appears atomically: it is written to a new ``OUT.partial-<random>.<ext>`` beside
  ``OUT`` (``atomic_write``: never a planted file or link) and renamed over it when complete.
  Any error, Ctrl-C or SIGTERM deletes the partial file, so no half-written file ever carries
  the output name. The input is only ever read.

Images (``.jpg .jpeg .png .webp .bmp .tif .tiff``) -> images: EXIF orientation is applied (the
output is stored upright), gray/palette/16-bit inputs are converted to 8-bit RGB (with a
warning), alpha is kept when the output format has it, JPEG/WebP quality is ``--quality``
(default 95, JPEG without chroma subsampling).

``--compare PATH`` writes input and output side by side (``--compare-mode side``) or one frame
whose left half is the input and right half the output (``split``), as a video or an image.

Errors (unreadable/truncated/empty input, missing output directory, output equal to the input,
an incompatible checkpoint, ...) exit with code 2 and one message; no traceback. An existing
output is replaced and the CLI says so; ``--no-clobber`` refuses instead.

Python API: ``enhance_video``, ``enhance_image``, ``enhance_array`` (uint8 frames in memory),
``Enhancer`` (the batched, tiled, jitted core) and ``run_stage`` (the main job's enhance stage).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import jax
import jax.numpy as jnp
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from jaxenhance import atomic_write, codecs, export, tiling, video_io
from jaxenhance.models import generator as generator_lib

logger = logging.getLogger("jaxenhance.enhance")

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_ALPHA_FORMATS = ("PNG", "WEBP", "TIFF")
COMPARE_MODES = ("side", "split")

# Encoder per codec name a user may type.
ENCODERS = {
    "h264": "libx264", "x264": "libx264", "libx264": "libx264",
    "hevc": "libx265", "h265": "libx265", "x265": "libx265", "libx265": "libx265",
    "vp9": "libvpx-vp9", "libvpx-vp9": "libvpx-vp9",
    "av1": "libsvtav1", "libsvtav1": "libsvtav1",
    "ffv1": "ffv1",
}
# Visually lossless defaults (project choice) and the valid ranges.
DEFAULT_CRF = {"libx264": 12, "libx265": 14, "libvpx-vp9": 15, "libsvtav1": 20}
_CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63),
              "libsvtav1": (1, 63)}


class EnhanceError(ValueError):
  """Bad paths or settings for enhancement; the message says what to do."""


# ---------------------------------------------------------------------------------------------
# The core: uint8 frames -> enhanced uint8 frames, batched, tiled, jitted.
# ---------------------------------------------------------------------------------------------

def _build_enhance_fn(generator: generator_lib.Generator, plan: tiling.TilePlan,
                      tile_batch: int):
  """Jitted (params, clip uint8 [B + T - 1, H, W, 3], weights) -> uint8 [B, H, W, 3]."""
  t = generator.temporal_window

  def enhance_one(params, tile):
    return generator.apply(params, tile[None])[0]

  def fn(params, clip, weights):
    b = clip.shape[0] - (t - 1)
    x = clip.astype(jnp.float32) / 255.0
    if t > 1:  # window of T frames per output frame, stacked t-major on channels
      x = jnp.concatenate([x[i:i + b] for i in range(t)], axis=-1)
    h, w = x.shape[1:3]
    # Pad exactly as the generator would, so tiles line up with its stride grid.
    x = generator_lib.pad_to_multiple(x, generator.stride, generator.pad_mode)
    tiles = tiling.split(x, plan)
    if t > 1:
      tiles = jnp.moveaxis(tiles.reshape(*tiles.shape[:3], t, 3), 3, 1)
    if tiles.shape[0] <= tile_batch:
      y = generator.apply(params, tiles)
    else:  # bound memory: run tile_batch tiles at a time
      y = jax.lax.map(lambda tile: enhance_one(params, tile), tiles, batch_size=tile_batch)
    y = tiling.merge(y, plan, weights)[:, :h, :w]
    return jnp.round(jnp.clip(y, 0.0, 1.0) * 255.0).astype(jnp.uint8)

  return jax.jit(fn)


def _chunks(items: Iterable[tuple[np.ndarray, Any]], batch: int, radius: int
            ) -> Iterator[tuple[np.ndarray, int, list]]:
  """Groups a frame stream into model inputs.

  Yields ``(clip, valid, metas)``: ``clip`` uint8 [batch + 2 * radius, H, W, 3] holds the frames
  of ``batch`` consecutive outputs with ``radius`` frames of context on each side (the clip's
  end frames replicated at its ends; the last batch padded with the last frame), ``valid`` how
  many outputs are real, ``metas`` their metadata.
  """
  window: collections.deque = collections.deque()
  shape = None
  need = batch + 2 * radius

  def emit(valid):
    frames = [f for f, _ in list(window)[:need]]
    frames += [frames[-1]] * (need - len(frames))
    metas = [m for _, m in list(window)[radius:radius + valid]]
    for _ in range(min(batch, len(window))):
      window.popleft()
    return np.stack(frames), valid, metas

  for frame, meta in items:
    if shape is None:
      shape = frame.shape
      window.extend([(frame, None)] * radius)  # replicate the first frame before the clip
    elif frame.shape != shape:
      raise EnhanceError(f"the frame size changes mid-stream from {shape[1]}x{shape[0]} to "
                         f"{frame.shape[1]}x{frame.shape[0]}; enhance each part separately")
    window.append((frame, meta))
    last = frame
    if len(window) >= need:
      yield emit(batch)
  if shape is None:
    return
  window.extend([(last, None)] * radius)  # replicate the last frame after the clip
  while len(window) > 2 * radius:
    yield emit(min(batch, len(window) - 2 * radius))


class Enhancer:
  """Enhances streams of uint8 RGB frames with a generator.

  Frames go through in batches of ``batch_size`` (the last batch is padded, so the jitted
  function sees one shape per frame size), cut into tiles of at most ``tile`` pixels a side
  overlapping by ``overlap`` (``tiling.py``), ``tile_batch`` tiles per network call.
  """

  def __init__(self, generator: generator_lib.Generator, params: Any, batch_size: int = 4,
               tile: int = 512, overlap: int = 64, tile_batch: int = 4):
    if batch_size < 1 or tile_batch < 1:
      raise EnhanceError(f"batch size and tile batch must be >= 1, got {batch_size}, {tile_batch}")
    if overlap < 0 or tile <= overlap or tile < generator.stride:
      raise EnhanceError(f"--tile ({tile}) must exceed --overlap ({overlap}) and be at least the "
                         f"generator stride ({generator.stride})")
    self.generator = generator
    self.params = params
    self.batch_size = batch_size
    self.tile = tile
    self.overlap = overlap
    self.tile_batch = tile_batch
    self._compiled: dict[tuple[int, int], tuple[Any, jax.Array, tiling.TilePlan]] = {}

  @property
  def radius(self) -> int:
    """Frames of context needed on each side of an output frame."""
    return self.generator.temporal_window // 2

  def plan(self, height: int, width: int) -> tiling.TilePlan:
    s = self.generator.stride
    return tiling.plan_tiles(-(-height // s) * s, -(-width // s) * s, self.tile, self.overlap, s)

  def submit(self, clip: np.ndarray) -> jax.Array:
    """Starts enhancing ``clip`` [batch + T - 1, H, W, 3] uint8; returns [batch, H, W, 3]."""
    key = clip.shape[1:3]
    if key not in self._compiled:
      plan = self.plan(*key)
      fn = _build_enhance_fn(self.generator, plan, self.tile_batch)
      self._compiled[key] = (fn, jnp.asarray(plan.weights()), plan)
    fn, weights, _ = self._compiled[key]
    return fn(self.params, clip, weights)

  def stream(self, items: Iterable[tuple[np.ndarray, Any]]
             ) -> Iterator[tuple[np.ndarray, np.ndarray, Any]]:
    """Yields ``(input frame, enhanced frame, meta)`` for each ``(frame, meta)`` of ``items``.

    One batch is in flight while the next is decoded and assembled.
    """
    pending = None
    try:
      for clip, valid, metas in _chunks(items, self.batch_size, self.radius):
        result = self.submit(clip)
        if pending is not None:
          yield from self._collect(*pending)
        pending = (clip, valid, metas, result)
      if pending is not None:
        yield from self._collect(*pending)
    finally:
      if pending is not None:  # stopped early: no computation may outlive its inputs
        with contextlib.suppress(Exception):
          pending[-1].block_until_ready()

  def _collect(self, clip, valid, metas, result):
    out = np.asarray(result)
    for i in range(valid):
      yield clip[self.radius + i], out[i], metas[i]


def enhance_array(frames: np.ndarray, generator: generator_lib.Generator, params: Any,
                  **enhancer_kwargs) -> np.ndarray:
  """Enhances uint8 RGB frames [N, H, W, 3] (consecutive frames of one clip) -> uint8 [N, H, W, 3].

  ``enhancer_kwargs`` go to ``Enhancer`` (batch_size, tile, overlap, tile_batch); pass
  ``enhancer=`` to reuse one (and its compiled functions).
  """
  frames = np.asarray(frames)
  if frames.ndim == 3:
    frames = frames[None]
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
    raise EnhanceError(f"expected uint8 RGB frames [N, H, W, 3] with N >= 1; got "
                       f"{frames.dtype} {frames.shape}")
  enhancer = enhancer_kwargs.pop("enhancer", None) or Enhancer(generator, params,
                                                              **enhancer_kwargs)
  return np.stack([out for _, out, _ in enhancer.stream((f, None) for f in frames)])


# ---------------------------------------------------------------------------------------------
# Paths: checks before any work, and atomic outputs.
# ---------------------------------------------------------------------------------------------

def _is_image(path: Path) -> bool:
  return path.suffix.lower() in IMAGE_EXTENSIONS


def check_paths(input_path: str | os.PathLike, output_path: str | os.PathLike,
                compare: str | os.PathLike | None = None) -> tuple[Path, Path, Path | None]:
  """Validates input/output paths up front; raises ``EnhanceError`` with what to do."""
  src, out = Path(input_path), Path(output_path)
  cmp = Path(compare) if compare else None
  if not src.exists():
    raise EnhanceError(f"{src}: no such file")
  if src.is_dir():
    raise EnhanceError(f"{src} is a directory; pass a video or image file")
  for path, what in ((out, "output"), (cmp, "--compare")):
    if path is None:
      continue
    if path.is_dir():
      raise EnhanceError(f"{what} {path} is a directory; give a file name such as "
                         f"{path / ('enhanced' + src.suffix)}")
    if not path.parent.is_dir():
      raise EnhanceError(f"the {what} directory {path.parent} does not exist; create it first "
                         f"(mkdir -p {path.parent})")
    if not os.access(path.parent, os.W_OK):
      raise EnhanceError(f"the {what} directory {path.parent} is not writable")
    if path.resolve() == src.resolve() or (path.exists() and os.path.samefile(path, src)):
      raise EnhanceError(f"the {what} path {path} is the input file; refusing to overwrite the "
                         "input. Choose another output name")
    if _is_image(src) != _is_image(path):
      kind = "an image" if _is_image(src) else "a video"
      exts = (", ".join(IMAGE_EXTENSIONS) if _is_image(src)
              else ".mp4, .mkv, .mov, .webm")
      raise EnhanceError(f"{src} is {kind}, so the {what} must be too: use one of {exts} "
                         f"(got {path.name})")
  if cmp is not None and cmp.resolve() == out.resolve():
    raise EnhanceError("--compare must differ from the output path")
  return src, out, cmp


# ---------------------------------------------------------------------------------------------
# Video encoding.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VideoEncoding:
  """How the output video is encoded.

  Attributes:
    codec: encoder or codec name (``ENCODERS``); "" picks libx264 (libvpx-vp9 for .webm).
    crf: constant-rate factor; None: ``DEFAULT_CRF`` unless ``qp`` is given.
    qp: constant quantiser (x264/x265; for VP9 only 0 = lossless). Excludes ``crf``.
    preset: speed preset (x264/x265 name, SVT-AV1 number, VP9 cpu-used); None: medium / 8 / 4.
    pix_fmt: output pixel format; None: yuv420p, or yuv444p for odd sizes (bgr0 for ffv1).
  """
  codec: str = ""
  crf: int | None = None
  qp: int | None = None
  preset: str | None = None
  pix_fmt: str | None = None

  def resolve(self, suffix: str, width: int, height: int
              ) -> tuple[str, dict[str, str], str, list[str]]:
    """Returns ``(encoder, options, pix_fmt, notes)`` for a ``width x height`` output."""
    name = self.codec or ("libvpx-vp9" if suffix.lower() == ".webm" else "libx264")
    encoder = ENCODERS.get(name.lower())
    if encoder is None:
      raise EnhanceError(f"unknown codec {name!r}; choose one of {sorted(set(ENCODERS))}")
    if encoder not in av.codecs_available:
      raise EnhanceError(f"this PyAV build has no {encoder} encoder")
    notes = []
    if self.crf is not None and self.qp is not None:
      raise EnhanceError("give --crf or --qp, not both")
    options: dict[str, str] = {}
    if encoder == "ffv1":
      if self.crf is not None or self.qp is not None:
        raise EnhanceError("ffv1 is always lossless: drop --crf/--qp")
    elif self.qp is not None:
      if encoder in ("libx264", "libx265") and 0 <= self.qp <= 51:
        options["qp"] = str(self.qp)
      elif encoder == "libvpx-vp9" and self.qp == 0:
        options["lossless"] = "1"
      else:
        raise EnhanceError(f"--qp {self.qp} is not supported by {encoder} (x264/x265: 0-51, "
                           "VP9: 0 only); use --crf")
    else:
      crf = DEFAULT_CRF[encoder] if self.crf is None else self.crf
      low, high = _CRF_RANGE[encoder]
      if not low <= crf <= high:
        raise EnhanceError(f"--crf {crf} is out of range for {encoder}: use {low}..{high}")
      options["crf"] = str(crf)
    if encoder in ("libx264", "libx265"):
      options["preset"] = self.preset or "medium"
      if encoder == "libx265":
        params = "log-level=error"
        for key in ("qp", "crf"):
          if key in options:
            params = f"{key}={options.pop(key)}:{params}"
        options["x265-params"] = params
    elif encoder == "libvpx-vp9":
      options.update({"b": "0", "deadline": "good", "cpu-used": self.preset or "4",
                      "row-mt": "1"})
    elif encoder == "libsvtav1":
      options["preset"] = self.preset or "8"

    supported = [f.name for f in av.codec.Codec(encoder, "w").video_formats or []]
    odd = width % 2 or height % 2
    pix_fmt = self.pix_fmt
    if pix_fmt is None:
      if encoder == "ffv1":
        pix_fmt = "bgr0"  # lossless RGB: no colour conversion at all
      elif odd:
        if "yuv444p" not in supported:
          raise EnhanceError(f"{encoder} cannot encode the odd frame size {width}x{height} "
                             "(4:2:0 needs even sizes and it has no 4:4:4); use --codec h264, "
                             "hevc or vp9")
        pix_fmt = "yuv444p"
        notes.append(f"odd frame size {width}x{height}: 4:2:0 needs even sizes, so the video "
                     "is written as yuv444p at the exact input size; some players (browsers) "
                     "only play yuv420p")
      else:
        pix_fmt = "yuv420p"
    if pix_fmt not in supported:
      raise EnhanceError(f"{encoder} cannot encode pixel format {pix_fmt}; it supports "
                         f"{', '.join(supported)}")
    if odd and "420" in pix_fmt or (width % 2 and "422" in pix_fmt):
      raise EnhanceError(f"{pix_fmt} needs even frame sizes; the video is {width}x{height}: "
                         "use --pix-fmt yuv444p")
    return encoder, options, pix_fmt, notes


class VideoWriter:
  """Encodes RGB frames with their timestamps into a container, plus the input's audio.

  Args:
    path: output file (its extension picks the container).
    encoding: codec settings.
    width, height: frame size.
    fps: nominal frame rate (stream header, encoder rate control).
    time_base: time base of the pts passed to ``write`` (the input stream's).
    rotation: display rotation to record (degrees counter-clockwise).
    audio: an input audio stream whose packets ``write_audio`` will receive, or None.
  """

  def __init__(self, path: Path, encoding: VideoEncoding, width: int, height: int,
               fps: float, time_base: Fraction, rotation: int = 0, audio=None):
    encoder, options, self.pix_fmt, self.notes = encoding.resolve(path.suffix, width, height)
    self.encoder = encoder
    try:
      self.container = av.open(str(path), "w")
    except (ValueError, av.FFmpegError) as exc:
      raise EnhanceError(f"cannot write a video file named {path.name} ({exc}); use the "
                         "extension .mp4, .mkv, .mov or .webm") from exc
    try:
      codec_name = av.codec.Codec(encoder, "w").canonical_name
      if codec_name not in self.container.supported_codecs:
        raise EnhanceError(f"the {self.container.format.name} container cannot hold {codec_name} "
                           f"video; pick another --codec (webm: vp9/av1) or another extension")
      rate = Fraction(fps).limit_denominator(100_000) if fps > 0 else Fraction(25)
      self.stream = self.container.add_stream(encoder, rate=rate, options=options)
      self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, self.pix_fmt
      self.stream.codec_context.time_base = time_base
      self.stream.time_base = time_base
      if self.pix_fmt.startswith("yuv"):
        self.stream.codec_context.colorspace = Colorspace.ITU709
        self.stream.codec_context.color_range = ColorRange.MPEG
      if rotation:
        self.stream.set_display_rotation(rotation)
      self.audio_mode, self._audio_out, self._audio_decoder = "none", None, None
      if audio is not None:
        self._add_audio(audio)
      self.container.start_encoding()
    except BaseException:
      self.abort()
      raise
    self._last_pts = None

  def _add_audio(self, audio) -> None:
    name = audio.codec_context.name
    if name in self.container.supported_codecs:
      self._audio_out = self.container.add_stream_from_template(audio)
      self.audio_mode = f"copied ({name})"
      return
    target = "aac" if "aac" in self.container.supported_codecs else "libopus"
    rate = audio.codec_context.sample_rate if target == "aac" else 48_000
    self._audio_out = self.container.add_stream(target, rate=rate)
    self._audio_out.layout = audio.codec_context.layout
    self._audio_decoder = audio.codec_context
    self.audio_mode = f"re-encoded {name} -> {target}"
    self.notes.append(f"the {self.container.format.name} container cannot hold {name} audio "
                      f"unchanged, so the audio is re-encoded to {target}")

  def write(self, rgb: np.ndarray, pts: int) -> None:
    if self._last_pts is not None and pts <= self._last_pts:
      pts = self._last_pts + 1  # encoders need strictly increasing timestamps
    self._last_pts = pts
    if self.pix_fmt == "yuv420p":
      # The numpy matrix the decoder inverts exactly (swscale's own is a level off on decode).
      frame = codecs.rgb_to_yuv420_frame(rgb)
    elif self.pix_fmt.startswith("yuv"):
      frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
      # Area-averaged chroma: ~2 dB closer to the RGB input than swscale's default bilinear.
      frame = frame.reformat(format=self.pix_fmt, dst_colorspace=Colorspace.ITU709,
                             dst_color_range=ColorRange.MPEG, interpolation=Interpolation.AREA)
    else:
      frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=self.pix_fmt)
    frame.pts = pts
    self.container.mux(self.stream.encode(frame))

  def write_audio(self, packet) -> None:
    if self._audio_out is None or packet.dts is None or not packet.size:
      return
    if self._audio_decoder is None:
      packet.stream = self._audio_out
      self.container.mux(packet)
      return
    for frame in self._audio_decoder.decode(packet):
      frame.pts = None  # the encoder numbers samples itself
      self.container.mux(self._audio_out.encode(frame))

  def close(self) -> None:
    """Flushes the encoders and finalises the file."""
    self.container.mux(self.stream.encode(None))
    if self._audio_decoder is not None:
      for frame in self._audio_decoder.decode(None):
        frame.pts = None
        self.container.mux(self._audio_out.encode(frame))
      self.container.mux(self._audio_out.encode(None))
    self.container.close()

  def abort(self) -> None:
    """Closes the file without caring about its content (it is deleted next)."""
    with contextlib.suppress(Exception):
      self.container.close()


def compare_frame(before: np.ndarray, after: np.ndarray, mode: str = "side") -> np.ndarray:
  """Input and output in one frame: side by side ([H, 2W]) or split at the middle ([H, W])."""
  if mode == "side":
    return np.concatenate([before, after], axis=1)
  if mode == "split":
    w = before.shape[1]
    out = np.concatenate([before[:, : w // 2], after[:, w // 2:]], axis=1)
    out[:, w // 2] = 255  # a divider line
    return out
  raise EnhanceError(f"--compare-mode must be one of {COMPARE_MODES}, got {mode!r}")


# ---------------------------------------------------------------------------------------------
# Video.
# ---------------------------------------------------------------------------------------------

def _format_notes(info: video_io.StreamInfo, out_pix_fmt: str) -> list[str]:
  notes = []
  if info.bit_depth > 8:
    notes.append(f"the input is {info.bit_depth}-bit ({info.pix_fmt}); it is converted to 8-bit "
                 "RGB and the output is 8-bit")
  if info.pix_fmt.startswith(("gray", "ya")):
    notes.append(f"the input is grayscale ({info.pix_fmt}); it is enhanced as RGB with three "
                 "equal channels")
  elif ("444" in info.pix_fmt or info.pix_fmt.startswith(("gbr", "rgb", "bgr"))) and (
      "420" in out_pix_fmt):
    notes.append(f"the input has full-resolution chroma ({info.pix_fmt}); the default output is "
                 "4:2:0: pass --pix-fmt yuv444p to keep it")
  if info.variable_frame_rate:
    notes.append("the input has a variable frame rate; every frame keeps its own timestamp")
  return notes


def _decode(container, stream, path, on_audio=None) -> Iterator[tuple[np.ndarray, int]]:
  """Yields ``(rgb uint8 [H, W, 3], pts)`` in presentation order; audio packets go to
  ``on_audio``. Decoding failures part way raise ``VideoError`` (truncated or corrupt data)."""
  audio = container.streams.audio[0] if (on_audio and container.streams.audio) else None
  packets = container.demux(stream, *([audio] if audio is not None else []))
  step = 1
  if stream.average_rate and stream.time_base:
    step = max(1, round(1 / (stream.average_rate * stream.time_base)))
  try:
    yield from _decode_packets(packets, audio, on_audio, path, step)
  finally:
    # Release the demuxer before the container closes (a demux generator that outlives its
    # container crashes when it is garbage collected).
    packets.close()


def _decode_packets(packets, audio, on_audio, path, step):
  index, last = 0, None

  def damaged(exc):
    return video_io.VideoError(f"{path}: decoding failed after {index} frames ({exc}); the file "
                               "is truncated or corrupt. Re-download or re-export it")

  while True:
    try:
      packet = next(packets)
    except StopIteration:
      break
    except av.FFmpegError as exc:
      raise damaged(exc) from exc
    if audio is not None and packet.stream.index == audio.index:
      on_audio(packet)
      continue
    try:
      frames = packet.decode()
    except av.FFmpegError as exc:
      raise damaged(exc) from exc
    for frame in frames:
      pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
      last = pts
      index += 1
      yield codecs.frame_to_rgb(frame), pts


def enhance_video(input_path: str | os.PathLike, output_path: str | os.PathLike,
                  generator: generator_lib.Generator, params: Any, *,
                  encoding: VideoEncoding | None = None, compare: str | os.PathLike | None = None,
                  compare_mode: str = "side", max_frames: int | None = None,
                  progress: bool = True, enhancer: Enhancer | None = None,
                  **enhancer_kwargs) -> dict:
  """Enhances a video file into ``output_path`` (atomically); see the module docstring.

  Args:
    input_path: any video PyAV decodes.
    output_path: the enhanced video (extension picks the container).
    generator, params: from ``export.load_generator``.
    encoding: output codec settings (default: libx264 crf 12, yuv420p).
    compare: also write an input-vs-output comparison video here.
    compare_mode: "side" (side by side) or "split" (left input, right output).
    max_frames: enhance only the first frames.
    progress: show a progress bar (frames/s) on stderr.
    enhancer: reuse an ``Enhancer`` (and its compiled function); else one is made from
      ``enhancer_kwargs`` (batch_size, tile, overlap, tile_batch).

  Returns:
    Summary: output, frames, seconds, fps, codec, pix_fmt, audio, rotation, compare, notes.

  Raises:
    VideoError: the input cannot be read. EnhanceError: bad paths or settings.
  """
  src, out, cmp = check_paths(input_path, output_path, compare)
  if compare_mode not in COMPARE_MODES:
    raise EnhanceError(f"--compare-mode must be one of {COMPARE_MODES}, got {compare_mode!r}")
  if max_frames is not None and max_frames < 1:
    raise EnhanceError(f"--max-frames must be at least 1, got {max_frames}")
  encoding = encoding or VideoEncoding()
  info = video_io.probe(src)
  enhancer = enhancer or Enhancer(generator, params, **enhancer_kwargs)
  total = info.num_frames if max_frames is None else min(max_frames, info.num_frames or max_frames)
  start = time.perf_counter()
  count = 0
  with atomic_write.outputs(out, cmp) as (tmp_out, tmp_cmp):
    container, stream = video_io.open_video(src)
    writers: list[VideoWriter] = []
    try:
      with container:
        stream.thread_type = "AUTO"
        audio = container.streams.audio[0] if container.streams.audio else None
        time_base = stream.time_base or Fraction(1, 1000)
        writer = VideoWriter(tmp_out, encoding, info.width, info.height, info.fps, time_base,
                             info.rotation, audio)
        writers.append(writer)
        if tmp_cmp is not None:
          cw = info.width * (2 if compare_mode == "side" else 1)
          writers.append(VideoWriter(tmp_cmp, encoding, cw, info.height, info.fps, time_base,
                                     info.rotation))
        notes = list(dict.fromkeys(_format_notes(info, writer.pix_fmt) + writer.notes))
        for note in dict.fromkeys(notes + [n for w in writers[1:] for n in w.notes]):
          logger.warning("%s: %s", src.name, note)
        decoded = _decode(container, stream, src, writer.write_audio if audio else None)
        frames = decoded if max_frames is None else _take(decoded, max_frames)
        outputs = enhancer.stream(frames)
        bar = _progress(total, progress, f"enhance {src.name}")
        try:
          for before, after, pts in outputs:
            _check_stop()
            writer.write(after, pts)
            if tmp_cmp is not None:
              writers[1].write(compare_frame(before, after, compare_mode), pts)
            count += 1
            bar.update(1)
        finally:  # finish the pipeline while the input container is still open
          outputs.close()
          decoded.close()
          bar.close()
        if count == 0:
          raise video_io.VideoError(f"{src}: the video stream holds no decodable frames")
        for w in writers:
          w.close()
    except BaseException:
      for w in writers:
        w.abort()
      raise
  seconds = time.perf_counter() - start
  return {"output": str(out), "frames": count, "seconds": round(seconds, 2),
          "fps": round(count / seconds, 2), "codec": writer.encoder, "pix_fmt": writer.pix_fmt,
          "audio": writer.audio_mode, "rotation": info.rotation,
          "compare": str(cmp) if cmp else None, "notes": notes}


def _take(items: Iterator, n: int) -> Iterator:
  for i, item in enumerate(items):
    if i >= n:
      return
    yield item


def _progress(total: int | None, enabled: bool, desc: str):
  from tqdm import tqdm  # only the CLI-facing paths need it

  return tqdm(total=total, unit="frame", desc=desc, disable=not enabled, dynamic_ncols=True,
              smoothing=0.1)


# ---------------------------------------------------------------------------------------------
# Images.
# ---------------------------------------------------------------------------------------------

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
    raise EnhanceError(f"{path} is not an image Pillow can read; check the file") from exc
  except Image.DecompressionBombError as exc:  # not an OSError: would escape as a traceback
    raise EnhanceError(f"{path}: its header claims more pixels than Pillow decodes safely "
                       f"({exc}); a real image this large must be downscaled first") from exc
  except (OSError, SyntaxError, ValueError) as exc:
    raise EnhanceError(f"{path} cannot be decoded ({exc}); the file is truncated or corrupt. "
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
               quality: int = 95, fmt: str | None = None) -> None:
  """Writes uint8 RGB (+ alpha when the format has it) at JPEG/WebP ``quality``."""
  fmt = fmt or Image.registered_extensions().get(path.suffix.lower())
  if fmt is None:
    raise EnhanceError(f"unknown image extension {path.suffix}; use one of {IMAGE_EXTENSIONS}")
  image = Image.fromarray(rgb)
  if alpha is not None and fmt in _ALPHA_FORMATS:
    image.putalpha(Image.fromarray(alpha))
  kwargs: dict[str, Any] = {}
  if fmt == "JPEG":
    kwargs = {"quality": quality, "subsampling": 0}
  elif fmt == "WEBP":
    kwargs = {"quality": quality}
  image.save(path, format=fmt, **kwargs)


def enhance_image(input_path: str | os.PathLike, output_path: str | os.PathLike,
                  generator: generator_lib.Generator, params: Any, *, quality: int = 95,
                  compare: str | os.PathLike | None = None, compare_mode: str = "side",
                  enhancer: Enhancer | None = None, **enhancer_kwargs) -> dict:
  """Enhances an image file into ``output_path`` (atomically); returns a summary dict."""
  src, out, cmp = check_paths(input_path, output_path, compare)
  if not 1 <= quality <= 100:
    raise EnhanceError(f"--quality must be 1..100, got {quality}")
  rgb, alpha, notes = read_image(src)
  for note in notes:
    logger.warning("%s: %s", src.name, note)
  start = time.perf_counter()
  enhanced = enhance_array(rgb[None], generator, params, enhancer=enhancer,
                           **enhancer_kwargs)[0]
  _check_stop()
  with atomic_write.outputs(out, cmp) as (tmp_out, tmp_cmp):
    save_image(tmp_out, enhanced, alpha, quality, Image.registered_extensions()[out.suffix.lower()])
    if tmp_cmp is not None:
      save_image(tmp_cmp, compare_frame(rgb, enhanced, compare_mode), None, quality,
                 Image.registered_extensions()[cmp.suffix.lower()])
  return {"output": str(out), "size": list(rgb.shape[:2]),
          "seconds": round(time.perf_counter() - start, 2),
          "compare": str(cmp) if cmp else None, "notes": notes}


# ---------------------------------------------------------------------------------------------
# Checkpoints and the main job's stage.
# ---------------------------------------------------------------------------------------------

def load_checkpoint(path: str | os.PathLike) -> tuple[generator_lib.Generator, Any, dict]:
  """Loads a generator export from ``path``, ``path/export`` (a training work dir) or, for
  ``"shipped"``, the small generator that ships with the package."""
  if str(path) == "shipped":
    from jaxenhance.pretrained import release_notice, shipped_checkpoint

    path = shipped_checkpoint()
    if (notice := release_notice()) is not None:
      logger.warning("%s", notice)
  path = Path(path)
  if not path.exists():
    raise export.ExportError(f"checkpoint {path}: no such directory")
  if not (path / export.META_FILE).is_file() and (path / "export" / export.META_FILE).is_file():
    path = path / "export"
  return export.load_generator(path)


def run_stage(config: Any, workdir: str | os.PathLike) -> dict:
  """Main-job stage: compress the carphone sample, enhance it, compare, report PSNR.

  The sample clip (176x144, first 48 frames) is the reference. It is compressed with x264 at
  qp 37 (``codecs.round_trip``), stored losslessly (ffv1) as the input file, and enhanced with
  ``<workdir>/export`` through the same path as the CLI. PSNR (RGB, all frames) of the
  compressed and of the enhanced frames against the reference is reported (the reference is
  itself H.264, lightly compressed; it is used as is).
  """
  from jaxenhance import assets, codecs

  workdir = Path(workdir)
  export_dir = workdir / "export"
  if not (export_dir / export.META_FILE).is_file():
    return {"skipped": f"no trained generator in {export_dir}: run the train stage first"}
  generator, params, meta = export.load_generator(export_dir)
  out_dir = workdir / "enhance"
  out_dir.mkdir(parents=True, exist_ok=True)
  source, info = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=48)
  settings = codecs.EncodeSettings("h264", "qp", 37)
  compressed = codecs.round_trip(source, info.fps, settings).frames

  input_path = out_dir / f"carphone_{settings.tag}.mkv"
  with atomic_write.outputs(input_path) as (tmp,):
    writer = VideoWriter(tmp, VideoEncoding(codec="ffv1"), info.width, info.height, info.fps,
                         Fraction(1, 1000))
    for i, frame in enumerate(compressed):
      writer.write(frame, round(i * 1000 / info.fps))
    writer.close()

  enhancer = Enhancer(generator, params)
  summary = enhance_video(input_path, out_dir / "carphone_enhanced.mp4", generator, params,
                          compare=out_dir / "carphone_compare.mp4", progress=False,
                          enhancer=enhancer)
  enhanced = enhance_array(compressed, generator, params, enhancer=enhancer)
  k = len(source) // 2
  panel = np.concatenate([source[k], compressed[k], enhanced[k]], axis=1)
  image = Image.fromarray(panel)
  draw = ImageDraw.Draw(image)
  for i, label in enumerate(("reference", settings.tag, "enhanced")):
    draw.text((i * info.width + 4, 4), label, fill=(255, 255, 0))
  png = out_dir / "carphone_compare_frame.png"
  image.save(png)
  psnr_in, psnr_out = codecs.psnr(compressed, source), codecs.psnr(enhanced, source)
  return {
      "generator": {k: meta.get(k) for k in ("generator", "num_params", "step") if k in meta},
      "input": str(input_path), "frames": summary["frames"], "fps": summary["fps"],
      "enhanced": summary["output"], "compare": summary["compare"], "compare_png": str(png),
      "psnr_compressed": round(psnr_in, 3), "psnr_enhanced": round(psnr_out, 3),
      "psnr_gain": round(psnr_out - psnr_in, 3),
      "reference": "carphone_pristine.mp4 (176x144, itself H.264), first 48 frames",
  }


# ---------------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="jaxenhance enhance",
      description="Enhance a video or image with a trained jaxenhance generator.")
  p.add_argument("input", help="input video (any format FFmpeg reads) or image")
  p.add_argument("output", help="output file; its extension picks the container/format")
  p.add_argument("--checkpoint", required=True,
                 help="generator export dir (generator.json + generator.msgpack) or a training "
                      "workdir containing export/")
  p.add_argument("--codec", default="", help="h264 (default), hevc, vp9 (default for .webm), "
                                             "av1, ffv1 (lossless RGB)")
  q = p.add_mutually_exclusive_group()
  q.add_argument("--crf", type=int, help="constant rate factor (default: x264 12, x265 14, "
                                         "vp9 15, av1 20)")
  q.add_argument("--qp", type=int, help="constant quantiser; 0 = lossless YUV (x264/x265/vp9)")
  p.add_argument("--preset", help="encoder speed preset (x264/x265 default: medium)")
  p.add_argument("--pix-fmt", help="output pixel format (default yuv420p; yuv444p for odd sizes)")
  p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality for image outputs")
  p.add_argument("--compare", help="also write an input-vs-output comparison here")
  p.add_argument("--compare-mode", choices=("side", "split"), default="side")
  p.add_argument("--batch-size", type=int, default=4, help="frames per network call")
  p.add_argument("--tile", type=int, default=512, help="largest tile side in pixels")
  p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels")
  p.add_argument("--tile-batch", type=int, default=4, help="tiles per network call")
  p.add_argument("--max-frames", type=int, help="enhance only the first N frames")
  p.add_argument("--no-progress", action="store_true", help="no progress bar")
  p.add_argument("--no-clobber", action="store_true",
                 help="refuse to replace an existing output (or --compare) file")
  return p


class Interrupted(KeyboardInterrupt):
  """A stop signal (SIGINT/SIGTERM) reached the CLI; raised between frames."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


_stop_signal: int | None = None


def _request_stop(signum, frame):
  """CLI signal handler: note the signal; the frame loop stops at the next frame boundary.

  Raising straight from the handler could interrupt PyAV half way through an encoder call and
  crash the process at exit; a second signal stops at once anyway.
  """
  del frame
  global _stop_signal
  if _stop_signal is not None:
    raise Interrupted(signum)
  _stop_signal = signum


def _check_stop() -> None:
  if _stop_signal is not None:
    raise Interrupted(_stop_signal)


def main(argv: list[str] | None = None) -> int:
  """The CLI: returns the exit code (0 ok, 2 bad input, 128 + signal number if interrupted)."""
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(name)s: %(levelname)s: %(message)s")
  global _stop_signal
  _stop_signal = None
  previous = {signum: signal.signal(signum, _request_stop)
              for signum in (signal.SIGINT, signal.SIGTERM)}
  try:
    return _run(args)
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)


def _run(args: argparse.Namespace) -> int:
  try:
    src, out, cmp = check_paths(args.input, args.output, args.compare)
    existing = [str(p) for p in (out, cmp) if p is not None and p.exists()]
    if existing and args.no_clobber:
      raise EnhanceError(f"{existing[0]} exists and --no-clobber was given; nothing written")
    generator, params, _ = load_checkpoint(args.checkpoint)
    enhancer = Enhancer(generator, params, batch_size=args.batch_size, tile=args.tile,
                        overlap=args.overlap, tile_batch=args.tile_batch)
    if _is_image(src):
      summary = enhance_image(src, out, generator, params, quality=args.quality, compare=cmp,
                              compare_mode=args.compare_mode, enhancer=enhancer)
    else:
      encoding = VideoEncoding(codec=args.codec, crf=args.crf, qp=args.qp, preset=args.preset,
                               pix_fmt=args.pix_fmt)
      summary = enhance_video(src, out, generator, params, encoding=encoding, compare=cmp,
                              compare_mode=args.compare_mode, max_frames=args.max_frames,
                              progress=not args.no_progress, enhancer=enhancer)
  except (EnhanceError, export.ExportError, video_io.VideoError) as exc:
    print(f"jaxenhance enhance: error: {exc}", file=sys.stderr)
    return 2
  except av.FFmpegError as exc:
    print(f"jaxenhance enhance: error: FFmpeg failed: {exc}", file=sys.stderr)
    return 2
  except OSError as exc:  # disk full, permissions, ...
    print(f"jaxenhance enhance: error: {exc}", file=sys.stderr)
    return 2
  except KeyboardInterrupt as exc:
    signum = getattr(exc, "signum", signal.SIGINT)
    print(f"jaxenhance enhance: interrupted ({signal.Signals(signum).name}); no output was "
          "written", file=sys.stderr)
    return 128 + signum
  rate = f", {summary['fps']} frames/s" if "fps" in summary else ""
  print(f"wrote {summary['output']}{rate}" +
        (f"; comparison in {summary['compare']}" if summary.get("compare") else ""))
  if existing:  # replaced, as asked, but never silently
    print(f"replaced the existing {', '.join(existing)} (--no-clobber keeps existing files)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
