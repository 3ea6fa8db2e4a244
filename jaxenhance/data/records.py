"""Patch records: where patches are cut, what one example holds, and how to read it back fast.

One example is one co-located patch pair cut from a clip and its compressed round trip:

* ``lq``: uint8 [T, P, P, 3], the decoded (compressed) frames ``t - T//2 .. t + T//2``;
* ``gt``: uint8 [P, P, 3], the source frame ``t`` at the same position;
* metadata: ``codec``, ``param`` and ``value`` (the rate control, e.g. ``qp`` 32), ``rung`` (the
  ladder tag, e.g. ``h264_qp32``), ``picture_type`` of frame ``t`` ('I'/'P'/'B'), ``source_id``,
  ``frame_index`` (= t), ``y``, ``x`` (top-left corner in the frame) and ``bits_per_pixel`` (of
  the whole encoded clip at that rung: the codecs report clip-level sizes);
* with ``data.quantiser`` only: ``qp_map`` uint8 [P, P], the QP of the macroblock each pixel of
  frame ``t`` lies in, as the decoder exported it (``quantiser.pixel_map``: 255 where it
  exported none, i.e. HEVC, AV1, VP9, JPEG), and ``frame_qp`` (the frame's mean block QP, -1
  unknown). Records without them keep their old layout and config hash (``layout.py``).

Positions are chosen once per clip from the ground truth only (``patch_positions``), so every
rung of the ladder is cut at exactly the same (t, y, x): a model sees the same content at many
qualities. Grid: per target frame, ``ceil((H - P) / stride) + 1`` rows spread evenly over
``0 .. H - P`` (same for columns), so the whole frame is covered with spacing <= stride; each
position then moves by a seeded random jitter in ``[-jitter, jitter]`` (clipped to the frame),
and patches whose ``gt`` standard deviation (0-255 scale) is below ``skip_flat_std`` are
dropped (flat sky, black borders: nothing to restore).

Temporal window and clip ends: target frames are every ``frame_step``-th frame. With
``edge="replicate"`` (default) every frame can be a target and windows reaching past either end
repeat the first/last frame; with ``edge="skip"`` targets closer than ``T//2`` to an end are not
used. Either way a clip must have at least ``T`` frames.

Storage (see ``builder.py``): ``lq`` and ``gt`` are TFDS ``Tensor`` features with
``Encoding.BYTES``, i.e. their raw bytes sit in a ``tf.train.Example`` bytes field. The TFDS data
source decodes them correctly, but its generic per-feature decoding costs ~0.33 ms/example, so
the training pipeline reads the serialized records (``DeserializeMethod.RAW_BYTES``) and
``parse_record`` pulls the fields out with one protobuf parse and ``np.frombuffer`` (~0.04 ms).

This module imports no TFDS/TensorFlow at module level: encoding workers only need numpy,
``jaxenhance.codecs`` and ``jaxenhance.quantiser`` (PyAV).
"""

from __future__ import annotations

import dataclasses
import math
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from jaxenhance import codecs, errors, quantiser

PICTURE_TYPES = ("I", "P", "B")
EDGE_MODES = ("replicate", "skip")

# Feature names and the numpy dtype of each scalar metadata field.
TEXT_FIELDS = ("codec", "param", "rung", "picture_type", "source_id")
INT_FIELDS = ("value", "frame_index", "y", "x")
FLOAT_FIELDS = ("bits_per_pixel",)
QUANTISER_FIELDS = ("qp_map", "frame_qp")  # only in records built with data.quantiser
REBUILD_FOR_QP = ("records built without the decoder's QP map (data.quantiser=False); rebuild "
                  "them with data.quantiser=True: python -m jaxenhance.prepare --config=... "
                  "--workdir=... --config.data.quantiser=True")


class RecordError(errors.JaxenhanceError, ValueError):
  """A clip or a setting that cannot produce patch records; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class PatchSettings:
  """How patches are placed and what each example holds.

  Attributes:
    patch_size: stored patch side P (pixels).
    stride: grid spacing upper bound (pixels).
    jitter: max random shift of each grid position (pixels, seeded).
    skip_flat_std: drop patches whose gt std (0-255) is below this; 0 keeps all.
    frame_step: take target frames every ``frame_step`` frames.
    temporal_window: T, odd (1, 3, 5): compressed frames centred on the target.
    edge: "replicate" (repeat end frames in windows) or "skip" (no targets near the ends).
    seed: jitter seed (combined with the source id, so each clip gets its own positions).
  """
  patch_size: int = 128
  stride: int = 96
  jitter: int = 16
  skip_flat_std: float = 2.0
  frame_step: int = 4
  temporal_window: int = 1
  edge: str = "replicate"
  seed: int = 0

  def __post_init__(self):
    if self.patch_size < 8:
      raise RecordError(f"data.patch_size must be >= 8 pixels, got {self.patch_size}.")
    if self.stride < 1 or self.frame_step < 1:
      raise RecordError(
          f"data.patch_stride and data.frame_step must be >= 1, got {self.stride}, "
          f"{self.frame_step}.")
    if self.jitter < 0:
      raise RecordError(f"data.patch_jitter must be >= 0, got {self.jitter}.")
    if self.temporal_window < 1 or self.temporal_window % 2 == 0:
      raise RecordError(
          f"data.temporal_window must be an odd number of frames (1, 3, 5), got "
          f"{self.temporal_window}.")
    if self.edge not in EDGE_MODES:
      raise RecordError(f"data.temporal_edge must be one of {EDGE_MODES}, got '{self.edge}'.")

  @classmethod
  def from_config(cls, data: Any, seed: int = 0) -> PatchSettings:
    """Reads the ``config.data`` section (missing optional keys take the defaults)."""
    return cls(
        patch_size=int(data.patch_size),
        stride=int(data.patch_stride),
        jitter=int(data.patch_jitter),
        skip_flat_std=float(data.skip_flat_std),
        frame_step=int(data.frame_step),
        temporal_window=int(data.temporal_window),
        edge=str(data.get("temporal_edge", "replicate")),
        seed=int(seed),
    )


def check_clip(frames: np.ndarray, source_id: str, settings: PatchSettings) -> None:
  """Raises ``RecordError`` if ``frames`` [T, H, W, 3] cannot give patches under ``settings``."""
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise RecordError(
        f"source '{source_id}': expected uint8 RGB frames [T, H, W, 3], got {frames.dtype} "
        f"{frames.shape}.")
  num_frames, height, width, _ = frames.shape
  p, t = settings.patch_size, settings.temporal_window
  if height < p or width < p:
    raise RecordError(
        f"source '{source_id}': frames are {width}x{height} but data.patch_size is {p}; lower "
        "data.patch_size, raise data.max_height, or drop this source.")
  if num_frames < t:
    raise RecordError(
        f"source '{source_id}' has {num_frames} frame(s) but data.temporal_window={t} needs at "
        f"least {t}; use temporal_window=1 for still images, a longer clip, or raise "
        "data.max_frames.")


def target_frames(num_frames: int, settings: PatchSettings) -> list[int]:
  """Indices of the frames patches are centred on."""
  half = settings.temporal_window // 2
  if settings.edge == "skip":
    return list(range(half, num_frames - half, settings.frame_step))
  return list(range(0, num_frames, settings.frame_step))


def window(t: int, num_frames: int, temporal_window: int) -> np.ndarray:
  """Frame indices of the window centred on ``t``, replicating the first/last frame."""
  half = temporal_window // 2
  return np.clip(np.arange(t - half, t + half + 1), 0, num_frames - 1)


def _grid(extent: int, patch: int, stride: int) -> np.ndarray:
  """Evenly spread starts over 0..extent-patch with spacing <= stride."""
  span = extent - patch
  count = math.ceil(span / stride) + 1
  return np.rint(np.linspace(0, span, count)).astype(np.int64)


def source_seed(source_id: str, seed: int) -> int:
  """A per-clip seed that does not depend on Python's hash randomisation."""
  return (zlib.crc32(source_id.encode()) ^ (seed * 0x9E3779B1)) & 0xFFFFFFFF


def patch_positions(frames: np.ndarray, source_id: str, settings: PatchSettings) -> np.ndarray:
  """Chooses the (frame, y, x) of every patch of a clip from its ground-truth frames.

  Args:
    frames: uint8 [T, H, W, 3] source (ground-truth) frames.
    source_id: the clip's id (seeds the jitter).
    settings: patch settings.

  Returns:
    int64 [N, 3] rows (frame_index, y, x), N >= 0, sorted by frame.
  """
  check_clip(frames, source_id, settings)
  num_frames, height, width, _ = frames.shape
  p = settings.patch_size
  ys, xs = _grid(height, p, settings.stride), _grid(width, p, settings.stride)
  grid_y, grid_x = (a.ravel() for a in np.meshgrid(ys, xs, indexing="ij"))
  rng = np.random.default_rng(source_seed(source_id, settings.seed))
  rows = []
  for t in target_frames(num_frames, settings):
    y, x = grid_y, grid_x
    if settings.jitter:
      j = settings.jitter
      y = np.clip(y + rng.integers(-j, j + 1, y.shape), 0, height - p)
      x = np.clip(x + rng.integers(-j, j + 1, x.shape), 0, width - p)
    # Jitter (or a tiny frame) can land two grid points on one spot: keep each spot once.
    y, x = np.unique(np.stack([y, x], axis=1), axis=0).T
    if settings.skip_flat_std > 0:
      keep = [frames[t, yy:yy + p, xx:xx + p].std() >= settings.skip_flat_std
              for yy, xx in zip(y, x)]
      y, x = y[keep], x[keep]
    rows.append(np.stack([np.full_like(y, t), y, x], axis=1))
  return np.concatenate(rows) if rows else np.zeros((0, 3), np.int64)


def cut_examples(
    gt_frames: np.ndarray,
    trip: codecs.RoundTrip,
    encode: codecs.EncodeSettings,
    positions: np.ndarray,
    source_id: str,
    temporal_window: int,
    patch_size: int,
    with_quantiser: bool = False,
) -> Iterator[tuple[str, dict[str, Any]]]:
  """Yields ``(key, example)`` for each position: the TFDS example dicts of one rung.

  ``with_quantiser``: add ``qp_map`` and ``frame_qp`` from ``trip.quantisers``.
  """
  num_frames, height, width = gt_frames.shape[:3]
  p = patch_size
  maps: dict[int, np.ndarray] = {}
  for t, y, x in positions:
    t, y, x = int(t), int(y), int(x)
    frames = window(t, num_frames, temporal_window)
    example = {
        "lq": np.ascontiguousarray(trip.frames[frames, y:y + p, x:x + p]),
        "gt": np.ascontiguousarray(gt_frames[t, y:y + p, x:x + p]),
        "codec": encode.codec,
        "param": encode.param,
        "value": int(encode.value),
        "rung": encode.tag,
        "picture_type": trip.picture_types[t],
        "source_id": source_id,
        "frame_index": t,
        "y": y,
        "x": x,
        "bits_per_pixel": np.float32(trip.bits_per_pixel),
    }
    if with_quantiser:
      q = trip.quantisers[t]
      if t not in maps:
        maps[t] = quantiser.pixel_map(q, height, width)
      example["qp_map"] = np.ascontiguousarray(maps[t][y:y + p, x:x + p])
      example["frame_qp"] = quantiser.frame_qp(q)
    yield f"{source_id}|{encode.tag}|{t:06d}|{y:05d}|{x:05d}", example


@dataclasses.dataclass
class RungResult:
  """The examples of one (clip, rung) job and where its time went."""
  source_id: str
  rung: str
  examples: list[tuple[str, dict[str, Any]]]
  num_bytes: int
  bits_per_pixel: float
  encode_seconds: float  # codec round trip (encode + decode + colour conversion)
  cut_seconds: float  # patch cutting and example assembly


def encode_and_cut(
    frames: np.ndarray,
    fps: float,
    source_id: str,
    encode: codecs.EncodeSettings,
    positions: np.ndarray,
    settings: PatchSettings,
    with_quantiser: bool = False,
) -> RungResult:
  """Encodes a whole clip at one rung and cuts its patches at ``positions`` (with the decoder's
  QP map if ``with_quantiser``)."""
  start = time.perf_counter()
  trip = codecs.round_trip(frames, fps, encode, quantisers=with_quantiser)
  encoded = time.perf_counter()
  examples = list(cut_examples(frames, trip, encode, positions, source_id,
                               settings.temporal_window, settings.patch_size, with_quantiser))
  return RungResult(source_id, encode.tag, examples, trip.num_bytes, trip.bits_per_pixel,
                    encoded - start, time.perf_counter() - encoded)


def ladder_settings(ladder: Sequence[Mapping[str, Any]], preset: str | None = None,
                    gop: int = 12) -> list[codecs.EncodeSettings]:
  """Expands ``config.data.ladder`` ({codec, param, values}) into one setting per rung.

  ``preset`` (``data.preset``, an x264/x265 preset name) applies to h264/hevc only; SVT-AV1 and
  VP9 take numeric speeds and use ``codecs.DEFAULT_PRESETS``. A ladder entry may set its own
  ``preset``, which wins.
  """
  rungs = []
  for entry in ladder:
    missing = {"codec", "param", "values"} - set(entry)
    if missing:
      raise RecordError(f"data.ladder entry {dict(entry)} lacks {sorted(missing)}.")
    own = entry.get("preset", None)
    if own is None and entry["codec"] in ("h264", "hevc"):
      own = preset or None
    for value in entry["values"]:
      rungs.append(codecs.EncodeSettings(entry["codec"], entry["param"], int(value),
                                         preset=own, gop=gop))
  tags = [r.tag for r in rungs]
  if len(set(tags)) != len(tags):
    raise RecordError(f"data.ladder repeats a rung: {tags}.")
  if not rungs:
    raise RecordError("data.ladder is empty: give at least one {codec, param, values} entry.")
  return rungs


# ---------------------------------------------------------------------------------------------
# Reading records back.
# ---------------------------------------------------------------------------------------------

_EXAMPLE_PROTO = None


def _example_proto():
  global _EXAMPLE_PROTO
  if _EXAMPLE_PROTO is None:
    # TFDS's copy of tf.train.Example, so reading needs neither TensorFlow nor TFDS decoding.
    from tensorflow_datasets.proto import tf_example_pb2  # pylint: disable=g-import-not-at-top
    _EXAMPLE_PROTO = tf_example_pb2.Example
  return _EXAMPLE_PROTO


def parse_record(record: bytes, metadata: bool = True, with_quantiser: bool = False
                 ) -> dict[str, Any]:
  """Parses one serialized example into numpy arrays, cheaply.

  Args:
    record: the bytes TFDS wrote (``tf.train.Example``), e.g. from a data source opened with
      ``deserialize_method=tfds.decode.DeserializeMethod.RAW_BYTES``.
    metadata: also return the metadata fields (text fields as ``str``).
    with_quantiser: also return ``qp_map`` uint8 [P, P] and ``frame_qp``; a record without them
      raises ``RecordError`` saying to rebuild.

  Returns:
    dict with ``lq`` uint8 [T, P, P, 3] and ``gt`` uint8 [P, P, 3] (read-only views of the
    record) and, if asked, the metadata and quantiser fields.
  """
  feature = _example_proto().FromString(record).features.feature
  gt = np.frombuffer(feature["gt"].bytes_list.value[0], np.uint8)
  lq = np.frombuffer(feature["lq"].bytes_list.value[0], np.uint8)
  p = math.isqrt(gt.size // 3)
  if 3 * p * p != gt.size or lq.size % gt.size:
    raise RecordError(f"record holds gt of {gt.size} bytes and lq of {lq.size} bytes: not a "
                      "jaxenhance patch record.")
  out = {"lq": lq.reshape(lq.size // gt.size, p, p, 3), "gt": gt.reshape(p, p, 3)}
  if with_quantiser:
    if "qp_map" not in feature:
      raise RecordError(f"a record without qp_map: {REBUILD_FOR_QP}.")
    out["qp_map"] = np.frombuffer(feature["qp_map"].bytes_list.value[0], np.uint8).reshape(p, p)
    out["frame_qp"] = int(feature["frame_qp"].int64_list.value[0])
  if metadata:
    for name in TEXT_FIELDS:
      out[name] = feature[name].bytes_list.value[0].decode()
    for name in INT_FIELDS:
      out[name] = int(feature[name].int64_list.value[0])
    for name in FLOAT_FIELDS:
      out[name] = float(feature[name].float_list.value[0])
  return out
