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
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import av
import numpy as np

from jaxenhance import codecs, video_io

SIDE_DATA_OPTION = {"export_side_data": "venc_params"}


@dataclasses.dataclass(frozen=True)
class Quantiser:
  """One decoded frame's quantiser.

  Attributes:
    qp: the frame's base QP (H.264: the picture parameter set's initial QP, 0-51; VP9: the base
      quantiser index, 0-255).
    qp_map: the QP each block was coded with (base + its delta; H.264 I frames of a constant-QP
      encode sit ~3 below P frames), int [rows, cols], or None when the decoder gives no blocks.
    block_size: (height, width) of a block of ``qp_map`` in pixels, or None.
  """
  qp: int
  qp_map: np.ndarray | None
  block_size: tuple[int, int] | None


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
    return Quantiser(int(side.qp), qp_map, block)
  return None


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
