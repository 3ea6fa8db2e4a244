"""Robust video reading with PyAV: stream info, streaming RGB frames, clear errors.

* ``probe(path)`` opens a file, checks that it holds a decodable video stream and returns a
  ``StreamInfo`` (size, average fps, time base, frame count if known, rotation, audio, pixel
  format, variable frame rate).
* ``iter_frames(path)`` yields uint8 RGB frames one at a time in presentation order, so memory
  stays flat for long videos; ``read_frames`` collects a bounded number of them;
  ``decode_with_pts`` does the same on an open container with each frame's timestamp, handing
  audio packets to a callback.
* ``VideoWriter`` encodes RGB frames with their timestamps (``VideoEncoding``: codec, CRF/QP,
  preset, pixel format) and copies or re-encodes the input's audio; yuv420p goes through
  ``codecs.rgb_to_yuv420_frame``, the exact inverse of the decoder's conversion.

Reading and writing share this module (about 530 lines): both sides of a stream's colour,
timing and audio handling are read together.

Every failure to read a file becomes a ``VideoError`` (a ``ValueError``) that says what is wrong
and what to do: missing, empty, not a media file, a truncated MP4 whose index is missing, no
video stream (audio only), an unsupported codec, or data that stops decoding part way.

Pixel formats: every frame becomes 8-bit RGB through ``codecs.frame_to_rgb``. 8-bit 4:2:0
(``yuv420p``/``yuvj420p``) is converted exactly by the numpy matrix that decodes the training
pairs (BT.601 or BT.709 and the range as the stream is tagged; untagged: BT.601 below 720 rows,
BT.709 from 720), so sources, evaluation and enhance see the same colours as training. Any other
format FFmpeg decodes (10/12-bit, gray, 4:2:2, 4:4:4, ...) goes through FFmpeg's swscale
(``to_ndarray("rgb24")``, using the matrix the stream is tagged with). ``StreamInfo.pix_fmt`` and
``bit_depth`` tell the caller what the source was, nothing is refused.

Variable frame rate: frames are always returned in presentation order, one per decoded frame
(no frame is duplicated or dropped to force a constant rate). ``probe(scan=True)`` reads the
packet timestamps (no decoding) to detect a variable frame rate and to measure the average
frame rate, which is what ``StreamInfo.fps`` reports.

Rotation: the display-matrix rotation (degrees counter-clockwise, as FFmpeg reports it) is read
from the first decoded frame. Frames are returned as stored unless ``apply_rotation=True``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

from jaxenhance import codecs, errors

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                    ".y4m", ".ivf", ".flv", ".wmv", ".3gp")


class VideoError(errors.JaxenhanceError, ValueError):
  """A video file cannot be read; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class StreamInfo:
  """What a video file holds (its first video stream).

  Attributes:
    path: the file.
    width, height: stored frame size in pixels (before any rotation is applied).
    fps: average frame rate (measured from packet timestamps when scanned).
    time_base: the stream's time base (seconds per timestamp unit).
    num_frames: number of frames if the container or the scan knows it, else None.
    duration: seconds, if known.
    rotation: display rotation in degrees counter-clockwise (0, 90, 180, 270, or other).
    has_audio: the file also holds an audio stream.
    codec: decoder name, e.g. ``h264``.
    pix_fmt: the stream's pixel format, e.g. ``yuv420p10le``.
    bit_depth: bits per component of ``pix_fmt`` (8, 10, 12, ...).
    variable_frame_rate: True if frame intervals vary (None when not scanned).
  """
  path: str
  width: int
  height: int
  fps: float
  time_base: Fraction
  num_frames: int | None
  duration: float | None
  rotation: int
  has_audio: bool
  codec: str
  pix_fmt: str
  bit_depth: int
  variable_frame_rate: bool | None


# ---------------------------------------------------------------------------------------------
# Opening, with errors that say what to do.
# ---------------------------------------------------------------------------------------------

def _describe_open_failure(path: Path, exc: Exception) -> str:
  with open(path, "rb") as f:
    head = f.read(64)
  if head[4:8] == b"ftyp":
    return (f"{path} is an MP4/MOV file that FFmpeg cannot open ({exc}); its index (moov "
            "atom) is missing, so the file is truncated or was not finished writing. "
            "Re-download or re-export it (a recorder must be stopped cleanly).")
  printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
  kind = "text" if head and printable == len(head) else "data"
  return (f"{path} is not a video file FFmpeg can read ({exc}); it starts with {kind} "
          f"{head[:16]!r}. Check that the path points at a real video (mp4, mkv, webm, mov, ...).")


def open_video(path: str | os.PathLike) -> tuple[av.container.InputContainer, av.VideoStream]:
  """Opens ``path`` and returns the container and its first video stream.

  Raises:
    VideoError: the file is missing, empty, unreadable or holds no video stream.
  """
  path = Path(path)
  if not path.exists():
    raise VideoError(f"{path}: no such file.")
  if path.is_dir():
    raise VideoError(f"{path} is a directory; pass a video file (or use a 'dir:' source).")
  if path.stat().st_size == 0:
    raise VideoError(f"{path} is empty (0 bytes): the copy or download did not complete. "
                     "Copy it again.")
  try:
    container = av.open(str(path), metadata_errors="ignore")
  except av.FFmpegError as exc:
    raise VideoError(_describe_open_failure(path, exc)) from exc
  if not container.streams.video:
    kinds = sorted({s.type for s in container.streams}) or ["none"]
    container.close()
    raise VideoError(
        f"{path} has no video stream (streams: {', '.join(kinds)}); it is an audio-only or "
        "data file. Pass a file with video.")
  stream = container.streams.video[0]
  if stream.codec_context is None:
    container.close()
    raise VideoError(f"{path}: this PyAV/FFmpeg build has no decoder for its video codec "
                     f"({stream.codec.name if stream.codec else 'unknown'}). Transcode it first, "
                     "e.g. `ffmpeg -i in -c:v libx264 -crf 12 out.mp4`.")
  return container, stream


def _bit_depth(pix_fmt: str | None) -> int:
  if not pix_fmt:
    return 8
  try:
    fmt = av.VideoFormat(pix_fmt)
    return max(c.bits for c in fmt.components)
  except (ValueError, av.FFmpegError):
    return 8


def _scan_timestamps(container, stream) -> list[int]:
  """Presentation timestamps of all video packets (demux only, no decoding)."""
  pts = []
  try:
    for packet in container.demux(stream):
      if packet.pts is not None and packet.size > 0:
        pts.append(packet.pts)
  except av.FFmpegError as exc:
    logger.warning("%s: stopped scanning timestamps after %d packets: %s",
                   container.name, len(pts), exc)
  return sorted(pts)


def _is_variable(deltas: np.ndarray) -> bool:
  # Timestamp rounding makes constant-rate deltas differ by one tick (e.g. 33/34 ms at 29.97).
  median = float(np.median(deltas))
  return bool(deltas.max() - deltas.min() > max(1.0, 0.05 * median))


def probe(path: str | os.PathLike, scan: bool = True) -> StreamInfo:
  """Checks that ``path`` has a decodable video stream and describes it.

  Args:
    path: a video file in any container FFmpeg reads.
    scan: also demux every packet (cheap: no decoding) to count frames, measure the average
      frame rate and detect a variable frame rate.

  Returns:
    ``StreamInfo`` of the first video stream.

  Raises:
    VideoError: the file cannot be opened or its first frame cannot be decoded.
  """
  container, stream = open_video(path)
  with container:
    first = None
    try:
      for frame in container.decode(stream):
        first = frame
        break
    except av.FFmpegError as exc:
      raise VideoError(f"{path}: the first video frame does not decode ({exc}); the file is "
                       "corrupt or truncated. Re-download or re-export it.") from exc
    if first is None:
      raise VideoError(f"{path}: the video stream holds no decodable frames (empty or cut "
                       "off). Re-export it.")
    rotation = round(getattr(first, "rotation", 0) or 0)
    time_base = stream.time_base or Fraction(1, 1)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    num_frames = stream.frames or None
    duration = float(stream.duration * time_base) if stream.duration else None
    if duration is None and container.duration:
      duration = container.duration / av.time_base
    vfr = None
    if scan:
      scan_container, scan_stream = open_video(path)  # a fresh demuxer: no seeking needed
      with scan_container:
        pts = _scan_timestamps(scan_container, scan_stream)
      if len(pts) >= 2:
        deltas = np.diff(np.asarray(pts, np.int64))
        deltas = deltas[deltas > 0]
        if deltas.size:
          vfr = _is_variable(deltas)
          span = float((pts[-1] - pts[0]) * time_base)
          fps = (len(pts) - 1) / span if span > 0 else fps
          if not vfr and rate and abs(fps - float(rate)) < 0.01 * float(rate):
            fps = float(rate)  # the container's exact rational rate, not a rounded measurement
      if num_frames and len(pts) < num_frames:
        raise VideoError(
            f"{path}: the index lists {num_frames} frames but the data ends after {len(pts)}; "
            "the file is truncated. Re-download or re-export it (video_io.iter_frames(..., "
            "strict=False) reads the frames before the cut).")
      num_frames = len(pts) or num_frames
    if not fps > 0:
      raise VideoError(f"{path}: the frame rate is unknown (no timestamps); remux it with "
                       "`ffmpeg -i in -c copy -r <fps> out.mkv`.")
    has_audio = bool(container.streams.audio)
    pix_fmt = stream.codec_context.pix_fmt or first.format.name
    info = StreamInfo(
        path=str(path), width=first.width, height=first.height, fps=fps, time_base=time_base,
        num_frames=num_frames, duration=duration, rotation=rotation, has_audio=has_audio,
        codec=stream.codec_context.name, pix_fmt=pix_fmt, bit_depth=_bit_depth(pix_fmt),
        variable_frame_rate=vfr)
  if vfr:
    logger.info("%s has a variable frame rate (average %.3f fps); frames are read in "
                "presentation order without resampling.", path, fps)
  return info


# ---------------------------------------------------------------------------------------------
# Streaming frames.
# ---------------------------------------------------------------------------------------------

def rotate(frame: np.ndarray, rotation: int) -> np.ndarray:
  """Applies a display rotation (degrees counter-clockwise, multiples of 90) to [H, W, C]."""
  k = round(rotation / 90.0) % 4
  return np.ascontiguousarray(np.rot90(frame, k=k)) if k else frame


def iter_frames(path: str | os.PathLike, start: int = 0, max_frames: int | None = None,
                apply_rotation: bool = False, strict: bool = True) -> Iterator[np.ndarray]:
  """Yields uint8 RGB frames [H, W, 3] of the first video stream, in presentation order.

  One frame is held at a time (memory stays flat for long videos). Frames before ``start`` are
  decoded and discarded (exact, unlike keyframe seeking).

  Args:
    path: the video file.
    start: index of the first frame to yield.
    max_frames: stop after this many frames (None: to the end).
    apply_rotation: rotate frames by the display rotation so they appear upright.
    strict: raise ``VideoError`` when the data stops decoding part way (truncated or corrupt);
      if False, log a warning, skip the damaged packets and keep every frame that decodes.

  Raises:
    VideoError: unreadable file, or (``strict``) a decoding error after some frames.
  """
  if start < 0:
    raise VideoError(f"start must be >= 0, got {start}.")
  container, stream = open_video(path)
  # Frame threads decode faster, but after a decoding error they drop the frames still in
  # flight, so the non-strict reader (which keeps frames up to the damage) uses slice threads.
  stream.thread_type = "AUTO" if strict else "SLICE"
  indexed = stream.frames or 0  # frames the container's index lists (0: unknown)
  counts: dict[str, int] = {}
  hint = ", or read it with strict=False to keep the frames that decode"
  with container:
    frames = _decoded(container, stream, path, strict=strict, hint=hint, counts=counts)
    try:
      for index, frame in enumerate(frames):
        if max_frames is not None and index - start >= max_frames:
          return
        if index >= start:
          rgb = codecs.frame_to_rgb(frame)
          if apply_rotation and frame.rotation:
            rgb = rotate(rgb, frame.rotation)
          yield rgb
    finally:
      frames.close()  # the demuxer goes before its container
    if indexed and not counts["failed"] and counts["packets"] < indexed:
      _damaged(path, f"the index lists {indexed} frames but the data ends after "
               f"{counts['packets']} ({counts['frames']} decoded)", strict, hint)
  if counts["frames"] == 0:
    raise VideoError(f"{path}: the video stream holds no decodable frames.")


def read_frames(path: str | os.PathLike, start: int = 0, max_frames: int | None = None,
                apply_rotation: bool = True, strict: bool = True
                ) -> tuple[np.ndarray, StreamInfo]:
  """Reads frames ``[start, start + max_frames)`` into uint8 [T, H, W, 3] with the stream info."""
  info = probe(path)
  frames = list(iter_frames(path, start=start, max_frames=max_frames,
                            apply_rotation=apply_rotation, strict=strict))
  if not frames:
    raise VideoError(f"{path}: no frames at or after frame {start} (the video has "
                     f"{info.num_frames if info.num_frames is not None else 'unknown'} frames).")
  return np.stack(frames), info


# ---------------------------------------------------------------------------------------------
# Decoding with timestamps and audio (the enhance CLI's input side).
# ---------------------------------------------------------------------------------------------

def decode_with_pts(container, stream, path, on_audio=None, quantisers: bool = False
                    ) -> Iterator[tuple]:
  """Yields ``(rgb uint8 [H, W, 3], pts)`` in presentation order from an open container (frames
  without a pts get the previous one plus a frame's duration); with ``on_audio``, the first
  audio stream's packets go to it as they are demuxed (the enhance CLI copies them into its
  output). With ``quantisers`` (before anything is decoded), the decoder exports its side data
  and each item is ``(rgb, pts, quantiser.Quantiser or None)``. Decoding failures part way raise
  ``VideoError`` (truncated or corrupt data)."""
  read_quantiser = None
  if quantisers:
    from jaxenhance import quantiser  # it reads files through this module: imported here

    stream.codec_context.options = quantiser.SIDE_DATA_OPTION
    read_quantiser = quantiser.frame_quantiser
  step = 1
  if stream.average_rate and stream.time_base:
    step = max(1, round(1 / (stream.average_rate * stream.time_base)))
  last = None
  frames = _decoded(container, stream, path, strict=True, on_audio=on_audio)
  try:
    for frame in frames:
      pts = frame.pts if frame.pts is not None else (0 if last is None else last + step)
      last = pts
      if read_quantiser is None:
        yield codecs.frame_to_rgb(frame), pts
      else:
        yield codecs.frame_to_rgb(frame), pts, read_quantiser(frame)
  finally:
    frames.close()  # the demuxer goes before its container


def _damaged(path, reason: str, strict: bool, hint: str = "",
             exc: Exception | None = None) -> None:
  message = f"{path}: {reason}; the file is truncated or corrupt. Re-download or re-export it"
  if strict:
    raise VideoError(f"{message}{hint}.") from exc
  logger.warning("%s; keeping the frames that decode.", message)


def _decoded(container, stream, path, *, strict: bool = True, hint: str = "", on_audio=None,
             counts: dict[str, int] | None = None) -> Iterator[av.VideoFrame]:
  """The one decode loop: the frames of ``stream`` in presentation order.

  A packet that fails to decode raises ``VideoError`` (``strict``) or is skipped with a warning
  (the decoder resynchronises at the next one); a demuxer failure ends the stream the same way.
  With ``on_audio``, packets of the first audio stream go to it. ``counts`` receives the video
  packets read, the frames decoded and whether the demuxer failed.
  """
  audio = container.streams.audio[0] if (on_audio and container.streams.audio) else None
  packets = container.demux(stream, *([audio] if audio is not None else []))
  read = decoded = 0
  failed = False
  try:
    while True:
      try:
        packet = next(packets)
      except StopIteration:
        break
      except av.FFmpegError as exc:  # the demuxer itself failed: nothing after this is readable
        failed = True
        _damaged(path, f"reading failed after {decoded} frames ({exc})", strict, hint, exc)
        break
      if audio is not None and packet.stream.index == audio.index:
        on_audio(packet)
        continue
      if packet.size:
        read += 1
      try:
        frames = packet.decode()  # the final empty packet flushes the decoder
      except av.FFmpegError as exc:
        _damaged(path, f"decoding failed after {decoded} frames ({exc})", strict, hint, exc)
        continue
      for frame in frames:
        decoded += 1
        yield frame
  finally:
    # Release the demuxer before the container closes (a demux generator that outlives its
    # container crashes when it is garbage collected).
    packets.close()
    if counts is not None:
      counts.update(packets=read, frames=decoded, failed=int(failed))


# ---------------------------------------------------------------------------------------------
# Writing.
# ---------------------------------------------------------------------------------------------

# Encoder per codec name a user may type: the codec names of ``codecs.ENCODERS``, the encoders'
# own names, common aliases, and lossless ffv1.
ENCODERS = {**codecs.ENCODERS, **{e: e for e in codecs.ENCODERS.values()},
            "x264": "libx264", "h265": "libx265", "x265": "libx265", "ffv1": "ffv1"}
# Visually lossless defaults (project choice); the valid ranges are the codecs' own.
DEFAULT_CRF = {"libx264": 12, "libx265": 14, "libvpx-vp9": 15, "libsvtav1": 20}
_CRF_RANGE = {codecs.ENCODERS[c]: codecs.PARAM_RANGES[c]["crf"] for c in codecs.ENCODERS}


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
      raise VideoError(f"unknown codec {name!r}; choose one of {sorted(set(ENCODERS))}")
    if encoder not in av.codecs_available:
      raise VideoError(f"this PyAV build has no {encoder} encoder")
    notes = []
    if self.crf is not None and self.qp is not None:
      raise VideoError("give --crf or --qp, not both")
    options: dict[str, str] = {}
    if encoder == "ffv1":
      if self.crf is not None or self.qp is not None:
        raise VideoError("ffv1 is always lossless: drop --crf/--qp")
    elif self.qp is not None:
      if encoder in ("libx264", "libx265") and 0 <= self.qp <= 51:
        options["qp"] = str(self.qp)
      elif encoder == "libvpx-vp9" and self.qp == 0:
        options["lossless"] = "1"
      else:
        raise VideoError(f"--qp {self.qp} is not supported by {encoder} (x264/x265: 0-51, "
                           "VP9: 0 only); use --crf")
    else:
      crf = DEFAULT_CRF[encoder] if self.crf is None else self.crf
      low, high = _CRF_RANGE[encoder]
      if not low <= crf <= high:
        raise VideoError(f"--crf {crf} is out of range for {encoder}: use {low}..{high}")
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
          raise VideoError(f"{encoder} cannot encode the odd frame size {width}x{height} "
                             "(4:2:0 needs even sizes and it has no 4:4:4); use --codec h264, "
                             "hevc or vp9")
        pix_fmt = "yuv444p"
        notes.append(f"odd frame size {width}x{height}: 4:2:0 needs even sizes, so the video "
                     "is written as yuv444p at the exact input size; some players (browsers) "
                     "only play yuv420p")
      else:
        pix_fmt = "yuv420p"
    if pix_fmt not in supported:
      raise VideoError(f"{encoder} cannot encode pixel format {pix_fmt}; it supports "
                         f"{', '.join(supported)}")
    if odd and "420" in pix_fmt or (width % 2 and "422" in pix_fmt):
      raise VideoError(f"{pix_fmt} needs even frame sizes; the video is {width}x{height}: "
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
    comment: the container's ``comment`` tag (what enhanced it and how), or None.
  """

  def __init__(self, path: Path, encoding: VideoEncoding, width: int, height: int,
               fps: float, time_base: Fraction, rotation: int = 0, audio=None,
               comment: str | None = None):
    encoder, options, self.pix_fmt, self.notes = encoding.resolve(path.suffix, width, height)
    self.encoder = encoder
    try:
      self.container = av.open(str(path), "w")
    except (ValueError, av.FFmpegError) as exc:
      raise VideoError(f"cannot write a video file named {path.name} ({exc}); use the "
                         "extension .mp4, .mkv, .mov or .webm") from exc
    try:
      codec_name = av.codec.Codec(encoder, "w").canonical_name
      if codec_name not in self.container.supported_codecs:
        raise VideoError(f"the {self.container.format.name} container cannot hold {codec_name} "
                           f"video; pick another --codec (webm: vp9/av1) or another extension")
      if comment:
        self.container.metadata["comment"] = comment
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
