"""A semantic-task check: do faces found on the original frames survive compression/enhancement?

Faces are detected with OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``, shipped
inside opencv-python-headless: nothing is downloaded) on the original frames and on the
compressed or enhanced frames. Detections on the original are the reference: a test detection
matches a reference one when their IoU reaches ``iou_threshold`` (one-to-one, by maximum total
IoU via the Hungarian algorithm). Reported per set of frames: recall (reference faces found
again), precision (test detections that are real, i.e. also found on the original), F1 and the
counts. Identical frames give recall = precision = 1 whenever the original has faces.

This measures *agreement with the detector's behaviour on the original*, not detection accuracy
against human labels (there are none here); Galteri et al. use detection the same way. A ratio
with a zero denominator is NaN (e.g. recall when the original shows no face): no silent number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.optimize

CASCADE = "haarcascade_frontalface_default.xml"


@dataclasses.dataclass(frozen=True)
class DetectorSettings:
  """``cv2.CascadeClassifier.detectMultiScale`` settings (OpenCV's documented defaults, except a
  minimum face of 24 px, the cascade's own window size)."""
  scale_factor: float = 1.1
  min_neighbors: int = 5
  min_size: int = 24
  cascade: str = CASCADE


_CASCADES: dict[str, object] = {}


def _cascade(name: str):
  import cv2  # opencv-python-headless; imported here so the metrics package does not need it

  if name not in _CASCADES:
    path = Path(name) if Path(name).is_file() else Path(cv2.data.haarcascades) / name
    classifier = cv2.CascadeClassifier(str(path))
    if classifier.empty():
      raise FileNotFoundError(f"cannot load the Haar cascade {path}; install "
                              "opencv-python-headless (it ships cv2.data.haarcascades)")
    _CASCADES[name] = classifier
  return _CASCADES[name]


def detect_faces(image: np.ndarray, settings: DetectorSettings = DetectorSettings()
                 ) -> np.ndarray:
  """Face boxes ``[K, 4]`` as (x, y, w, h) in pixels of a uint8 RGB image ``[H, W, 3]``."""
  import cv2

  image = np.asarray(image)
  if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
    raise ValueError(f"detect_faces expects a uint8 RGB image [H, W, 3]; got {image.dtype} "
                     f"{image.shape}")
  gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
  boxes = _cascade(settings.cascade).detectMultiScale(
      gray, scaleFactor=settings.scale_factor, minNeighbors=settings.min_neighbors,
      minSize=(settings.min_size, settings.min_size))
  return np.asarray(boxes, np.int64).reshape(-1, 4)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Pairwise IoU ``[len(a), len(b)]`` of (x, y, w, h) boxes."""
  a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
  x0 = np.maximum(a[:, None, 0], b[None, :, 0])
  y0 = np.maximum(a[:, None, 1], b[None, :, 1])
  x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
  y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
  inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
  union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def match(reference: np.ndarray, test: np.ndarray, iou_threshold: float = 0.5
          ) -> tuple[int, int, int]:
  """(true positives, false positives, false negatives) of ``test`` boxes vs ``reference``."""
  overlaps = iou(reference, test)
  if overlaps.size == 0:
    return 0, len(test), len(reference)
  rows, cols = scipy.optimize.linear_sum_assignment(overlaps, maximize=True)
  tp = int(np.sum(overlaps[rows, cols] >= iou_threshold))
  return tp, len(test) - tp, len(reference) - tp


def _ratio(num: int, den: int) -> float:
  return num / den if den else float("nan")


def agreement(reference_frames: Sequence[np.ndarray] | np.ndarray,
              test_frames: Sequence[np.ndarray] | np.ndarray, iou_threshold: float = 0.5,
              settings: DetectorSettings = DetectorSettings(),
              reference_boxes: Sequence[np.ndarray] | None = None) -> dict[str, float]:
  """Detection agreement of ``test_frames`` with ``reference_frames`` (same count and sizes).

  Args:
    reference_frames: original uint8 RGB frames.
    test_frames: compressed or enhanced versions of the same frames.
    iou_threshold: IoU at which a detection matches.
    settings: detector settings.
    reference_boxes: detections on the originals, if already computed (see ``detect_all``).

  Returns:
    ``recall``, ``precision``, ``f1``, ``tp``, ``fp``, ``fn``, ``reference_faces``,
    ``test_faces``, ``frames``.
  """
  if len(reference_frames) != len(test_frames):
    raise ValueError(f"{len(reference_frames)} original frames but {len(test_frames)} test frames")
  if len(reference_frames) == 0:
    raise ValueError("no frames given: the face check needs at least one frame")
  if reference_boxes is None:
    reference_boxes = detect_all(reference_frames, settings)
  tp = fp = fn = found = 0
  for ref_frame, frame, ref in zip(reference_frames, test_frames, reference_boxes):
    if np.shape(ref_frame) != np.shape(frame):
      raise ValueError(f"frame sizes differ: {np.shape(ref_frame)} vs {np.shape(frame)}")
    boxes = detect_faces(frame, settings)
    t, f, n = match(ref, boxes, iou_threshold)
    tp, fp, fn, found = tp + t, fp + f, fn + n, found + len(boxes)
  recall, precision = _ratio(tp, tp + fn), _ratio(tp, tp + fp)
  f1 = _ratio(2 * tp, 2 * tp + fp + fn)
  return {"recall": recall, "precision": precision, "f1": f1, "tp": tp, "fp": fp, "fn": fn,
          "reference_faces": tp + fn, "test_faces": found, "frames": len(test_frames)}


def detect_all(frames: Sequence[np.ndarray] | np.ndarray,
               settings: DetectorSettings = DetectorSettings()) -> list[np.ndarray]:
  """Detections on every frame (compute the originals' once, reuse for every test set)."""
  return [detect_faces(f, settings) for f in frames]


__all__ = ["CASCADE", "DetectorSettings", "agreement", "detect_all", "detect_faces", "iou",
           "match"]
