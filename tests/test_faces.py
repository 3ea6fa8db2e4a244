"""Face-detection agreement on real frames with faces (carphone clip, astronaut photo)."""

import numpy as np
import pytest

from jaxenhance import assets, codecs, video_io
from jaxenhance.metrics import faces


@pytest.fixture(scope="module")
def carphone():
  frames, _ = video_io.read_frames(assets.sample_clip_path("carphone"), max_frames=8)
  return frames


def test_haar_cascade_finds_the_faces():
  boxes = faces.detect_faces(assets.sample_photo("astronaut"))
  assert len(boxes) == 1
  x, y, w, h = boxes[0]
  assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 170  # Eileen Collins' face, upper middle


def test_identical_frames_agree_perfectly(carphone):
  frames = list(carphone) + [assets.sample_photo("astronaut")]
  result = faces.agreement(frames, [f.copy() for f in frames])
  assert result["reference_faces"] >= len(carphone)  # the carphone speaker in every frame
  assert result["recall"] == result["precision"] == result["f1"] == 1.0
  assert result["fp"] == result["fn"] == 0


def test_destroyed_frames_lose_the_faces(carphone):
  flat = [np.full_like(f, 128) for f in carphone]
  result = faces.agreement(carphone, flat)
  assert result["recall"] == 0.0 and result["test_faces"] == 0
  assert np.isnan(result["precision"])  # nothing detected: precision is undefined, not 1


def test_heavy_jpeg_changes_agreement_but_stays_in_range(carphone):
  jpeg = codecs.round_trip(carphone, 25.0, codecs.EncodeSettings("jpeg", "qf", 5)).frames
  result = faces.agreement(carphone, jpeg)
  assert 0.0 <= result["recall"] <= 1.0
  assert result["frames"] == len(carphone)


def test_iou_and_matching():
  a = np.array([[0, 0, 10, 10], [20, 20, 10, 10]])
  b = np.array([[5, 0, 10, 10], [100, 100, 5, 5]])
  np.testing.assert_allclose(faces.iou(a, b), [[50 / 150, 0], [0, 0]])
  assert faces.match(a, a) == (2, 0, 0)
  assert faces.match(a, b, iou_threshold=0.3) == (1, 1, 1)
  assert faces.match(a, np.zeros((0, 4))) == (0, 0, 2)


def test_bad_input():
  with pytest.raises(ValueError, match="uint8 RGB"):
    faces.detect_faces(np.zeros((32, 32), np.uint8))
  with pytest.raises(ValueError, match="frames"):
    faces.agreement([], [])
