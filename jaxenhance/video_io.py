"""Robust video reading with PyAV: stream info, streaming RGB frames, clear errors.

* ``probe(path)`` opens a file, checks that it holds a decodable video stream and returns a
  ``StreamInfo`` (size, average fps, time base, frame count if known, rotation, audio, pixel
  format, variable frame rate).
* ``iter_frames(path)`` yields uint8 RGB frames one at a time in presentation order, so memory
  stays flat for long videos; ``read_frames`` collects a bounded number of them.

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

import dataclasses
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from jaxenhance import codecs

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts",
                    ".y4m", ".ivf", ".flv", ".wmv", ".3gp")


class VideoError(ValueError):
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
  packets = index = yielded = 0

  def damaged(reason: str, exc: Exception | None = None) -> None:
    message = f"{path}: {reason}; the file is truncated or corrupt. Re-download or re-export it"
    if strict:
      raise VideoError(f"{message}, or read it with strict=False to keep the frames that "
                       "decode.") from exc
    logger.warning("%s; keeping the frames that decode.", message)

  def decoded():
    nonlocal packets
    for packet in container.demux(stream):
      if packet.size:
        packets += 1
      try:
        frames = packet.decode()  # the final empty packet flushes the decoder
      except av.FFmpegError as exc:
        # Non-strict: skip the damaged packet; the decoder resynchronises at the next one.
        damaged(f"decoding failed after {index} frames ({exc})", exc)
        continue
      yield from frames

  with container:
    try:
      for frame in decoded():
        if max_frames is not None and yielded >= max_frames:
          return
        if index >= start:
          rgb = codecs.frame_to_rgb(frame)
          if apply_rotation and frame.rotation:
            rgb = rotate(rgb, frame.rotation)
          yielded += 1
          yield rgb
        index += 1
    except av.FFmpegError as exc:  # the demuxer itself failed: nothing after this is readable
      damaged(f"reading failed after {index} frames ({exc})", exc)
      return
    if indexed and packets < indexed:
      damaged(f"the index lists {indexed} frames but the data ends after {packets} "
              f"({index} decoded)")
  if index == 0:
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
