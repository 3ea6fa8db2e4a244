"""The flicker metric: zero for a clip that changes as its reference does, and it sees noise that
changes from frame to frame but not a steady error."""

import numpy as np
import pytest

from jaxenhance import assets, codecs, video_io
from jaxenhance.metrics import temporal


@pytest.fixture(scope="module")
def clip():
  frames, info = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=6)
  return frames, info.fps


def test_a_steady_error_does_not_flicker_but_changing_noise_does(clip):
  frames, _ = clip
  offset = np.clip(frames.astype(int) + 7, 0, 255)  # the same error in every frame
  assert temporal.flicker(frames, frames) == 0.0
  # Clipping at 255 turns the offset into a change where the content moves: small, not 0.
  assert temporal.flicker(offset, frames) < 0.2
  noise = np.random.default_rng(0).normal(0, 4, frames.shape)  # new noise in every frame
  noisy = frames + noise  # floats in levels: no clipping to bend the distribution
  # Two independent N(0, 4) draws differ by N(0, 4 sqrt 2): mean |.| = 4 sqrt(2) sqrt(2 / pi).
  assert temporal.flicker(noisy, frames) == pytest.approx(8 / np.sqrt(np.pi), rel=0.1)


def test_by_hand_on_the_given_pairs():
  ref = np.zeros((3, 1, 2, 1))
  x = np.array([0, 0, 3, 1, 3, 1], float).reshape(3, 1, 2, 1)
  assert temporal.flicker(x, ref, [(0, 1)]) == 2.0  # |3 - 0| and |1 - 0|
  assert temporal.flicker(x, ref, [(1, 2)]) == 0.0
  assert temporal.flicker(x, ref) == 1.0


def test_codec_noise_flickers(clip):
  frames, fps = clip
  h264 = codecs.round_trip(frames, fps, codecs.EncodeSettings("h264", "qp", 42)).frames
  assert temporal.flicker(h264, frames) > 1.0


def test_bad_shapes_are_named():
  with pytest.raises(ValueError, match="one shape"):
    temporal.flicker(np.zeros((2, 4, 4, 3)), np.zeros((3, 4, 4, 3)))
