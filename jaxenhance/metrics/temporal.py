"""Temporal consistency: does an enhanced clip flicker more than the frames it came from?

``flicker(frames, reference, pairs)`` is the mean absolute difference, in 8-bit levels, between
the frame-to-frame changes of ``frames`` and those of the reference over the given consecutive
pairs ``(t, t + 1)``:

    mean over pairs, pixels, channels of |(x[t+1] - x[t]) - (r[t+1] - r[t])|

It is 0 when the clip changes exactly as the reference does (any constant per-pixel error is
ignored: only what changes between frames counts), and grows with temporal noise: codec
artifacts that move from frame to frame, or a single-frame enhancer that treats neighbouring
frames differently. The compressed input's value is the baseline an enhancer must not exceed.
No motion compensation: the pairs are one frame apart, and both rows are measured against the
same reference motion, so motion cancels in the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def flicker(frames: np.ndarray, reference: np.ndarray,
            pairs: Sequence[tuple[int, int]] | None = None) -> float:
  """Mean |Δ frames - Δ reference| over ``pairs`` (default: every consecutive pair), levels.

  Args:
    frames, reference: [T, H, W, C] of the same shape (uint8 or floats in 8-bit levels).
    pairs: ``(t, u)`` frame indices to difference (``u`` usually ``t + 1``).
  """
  frames = np.asarray(frames, np.float64)
  reference = np.asarray(reference, np.float64)
  if frames.shape != reference.shape or frames.ndim != 4:
    raise ValueError(f"flicker needs two [T, H, W, C] clips of one shape; got {frames.shape} "
                     f"and {reference.shape}")
  if pairs is None:
    pairs = [(t, t + 1) for t in range(len(frames) - 1)]
  if not pairs:
    raise ValueError("flicker needs at least one pair of frames")
  diffs = [np.abs((frames[u] - frames[t]) - (reference[u] - reference[t])).mean()
           for t, u in pairs]
  return float(np.mean(diffs))
