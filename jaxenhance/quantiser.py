"""The quantiser a video decoder saw: frame QP and per-block QP map from FFmpeg's side data.

FFmpeg attaches ``AV_FRAME_DATA_VIDEO_ENC_PARAMS`` to decoded frames when the decoder is opened
with ``export_side_data=venc_params``; PyAV exposes it as ``VideoEncParams`` (``qp``,
``qp_map()``, ``block_size``). What each decoder of this PyAV build exports, checked by
``tests/test_quantiser.py``:

=========  ==================================  =============================================
codec      decoder                             exported
=========  ==================================  =============================================
H.264      ``h264``                            frame QP + one QP per 16x16 macroblock
VP9        ``vp9``                             frame base quantiser index (0-255), no blocks
HEVC       ``hevc``                            nothing (no VIDEO_ENC_PARAMS)
AV1        ``libdav1d``                        nothing
=========  ==================================  =============================================

Where nothing is exported (HEVC, AV1, images) a caller falls back to an estimate: for JPEG files
the file's own tables (``jpeg_quality.py``), else the quality predictor (``models/qf.py``).

The generator's QP input (``generator.conditioning="codec_qp"``) is ``pixel_map``: the QP of the
macroblock each pixel lies in, uint8, ``UNKNOWN`` (255) where the decoder said nothing. Only
H.264's per-block QP (0-51) fills it. VP9's frame quantiser index is on another scale (0-255,
per frame, no blocks) and any mapping onto H.264 QP would be a guess, so VP9 frames are unknown
here; the codec FiLM row still says "vp9".
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import av
import numpy as np

from jaxenhance import codecs, video_io

SIDE_DATA_OPTION = {"export_side_data": "venc_params"}
UNKNOWN = 255  # ``pixel_map`` value of pixels whose QP the decoder did not export
# FFmpeg decoders (``codec_context.name``) whose side data holds an H.264-scale QP per block.
QP_MAP_DECODERS = ("h264",)


@dataclasses.dataclass(frozen=True)
class Quantiser:
  """One decoded frame's quantiser.

  Attributes:
    qp: the frame's base QP (H.264: the picture parameter set's initial QP, 0-51; VP9: the base
      quantiser index, 0-255).
    qp_map: the QP each block was coded with (base + its delta; H.264 I frames of a constant-QP
      encode sit ~3 below P frames), int [rows, cols], or None when the decoder gives no blocks.
    block_size: (height, width) of a block of ``qp_map`` in pixels, or None.
    codec_type: whose scale ``qp`` and ``qp_map`` are on: "h264", "vp9" or "mpeg2".
  """
  qp: int
  qp_map: np.ndarray | None
  block_size: tuple[int, int] | None
  codec_type: str = "h264"

  @property
  def has_qp_map(self) -> bool:
    """True when there is a per-block map on the H.264 QP scale (what the generator reads)."""
    return self.qp_map is not None and self.codec_type == "h264"


def frame_quantiser(frame: av.VideoFrame) -> Quantiser | None:
  """The quantiser attached to ``frame`` (decoded with ``SIDE_DATA_OPTION``), or None."""
  for side in frame.side_data:
    if type(side).__name__ != "VideoEncParams":
      continue
    qp_map = block = None
    if side.nb_blocks:
      qp_map = np.asarray(side.qp_map(), np.int32)
      first = side.block_params(0)  # (``block_size`` is the C struct's size in bytes)
      block = (int(first.h), int(first.w))
    return Quantiser(int(side.qp), qp_map, block, side.codec_type.name.lower())
  return None


def frame_qp(q: Quantiser | None) -> int:
  """The frame's QP: the mean of its H.264 block map, rounded (-1: unknown).

  Not ``q.qp``: for H.264 that is the picture parameter set's initial QP, the same for every
  frame of a stream, while x264 codes I frames ~3 below and B frames above it.
  """
  if q is None or not q.has_qp_map:
    return -1
  return int(np.rint(q.qp_map.mean()))


def pixel_map(q: Quantiser | None, height: int, width: int) -> np.ndarray:
  """uint8 [height, width]: each pixel's block QP (nearest upsampling of the block map, cropped
  at the bottom/right as the encoder's padding is), or ``UNKNOWN`` everywhere without one."""
  if q is None or not q.has_qp_map:
    return np.full((height, width), UNKNOWN, np.uint8)
  bh, bw = q.block_size
  rows = np.minimum(np.arange(height) // bh, q.qp_map.shape[0] - 1)
  cols = np.minimum(np.arange(width) // bw, q.qp_map.shape[1] - 1)
  return np.clip(q.qp_map, 0, UNKNOWN - 1).astype(np.uint8)[rows[:, None], cols[None, :]]


def iter_quantisers(path: str | os.PathLike, max_frames: int | None = None
                    ) -> Iterator[tuple[np.ndarray, Quantiser | None]]:
  """Yields ``(rgb uint8 [H, W, 3], quantiser or None)`` per frame of a video file."""
  container, stream = video_io.open_video(path)
  with container:
    stream.codec_context.options = SIDE_DATA_OPTION
    for index, frame in enumerate(container.decode(stream)):
      if max_frames is not None and index >= max_frames:
        return
      yield codecs.frame_to_rgb(frame), frame_quantiser(frame)
