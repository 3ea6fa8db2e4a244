"""``prepare``: cut a study's stimuli from held-out suite items and write the study folder.

For every source (a suite item's pristine clip, ``suite.runner.pristine_clip``) and every codec
rung (``suite.runner.rungs_by_tag``, encoded with ``codecs.round_trip`` as the suite does), the
conditions are:

  reference    the pristine crop, shown as the test stimulus: the hidden reference
  compressed   the decoded crop at that rung
  <model>      each model's output on the whole decoded frame (``inference.enhance_array``:
               tiled, 8-bit, temporal windows as the enhance CLI), then cropped

All conditions of a source use one crop window (matched crops), the most detailed window of a
coarse grid (flat regions hide every artifact, so every condition would score the same). Images
are frame ``SCORED_FRAMES[0]`` of the clip (a P-frame for the video rungs, as the suite scores)
saved as PNG; clips are the first ``clip_frames`` frames written as lossless VP9 4:4:4 WebM
(``video_io.VideoWriter``; every condition goes through the same lossless 8-bit YUV step).

Training trials (shown first, never analysed) use a second, non-overlapping crop of the first
source: the worst-looking rung, the hidden reference and the mildest rung, in that order, so a
participant sees the range of the scale before it counts.

The folder is staged beside its final name and renamed into place when complete.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from jaxenhance import codecs, errors
from jaxenhance.study import manifest as manifest_lib
from jaxenhance.study import schedule
from jaxenhance.study.manifest import COMPRESSED, REFERENCE, StudyError, Trial

Model = Callable[[np.ndarray], np.ndarray]  # uint8 [T, H, W, 3] -> uint8 [T, H, W, 3]
DEFAULT_RUNGS = ("h264_qp37", "jpeg_qf10")


@dataclasses.dataclass(frozen=True)
class Source:
  """A pristine clip to cut stimuli from: uint8 frames [T, H, W, 3] and where they came from."""
  id: str
  category: str
  licence: str
  frames: np.ndarray


@dataclasses.dataclass(frozen=True)
class Settings:
  """How ``prepare`` cuts and presents the stimuli.

  Attributes:
    rungs: suite rung tags (``python -m jaxenhance.suite`` lists them; ``runner.RUNGS``).
    crop: side of the square crop in pixels (shrunk to fit a smaller frame).
    kind: ``image`` (one frame, PNG) or ``clip`` (``clip_frames`` frames, lossless WebM).
    clip_frames: frames per clip (25 fps).
    presentation: ``sequence`` (reference, grey, test) or ``side-by-side`` (images only).
    reference_seconds, gap_seconds, test_seconds: how long images are shown (clips play whole).
    training: number of training trials (0-3).
    seed: seeds the crop choice among equals and each participant's order.
    title: shown at the top of the page.
  """
  rungs: tuple[str, ...] = DEFAULT_RUNGS
  crop: int = 256
  kind: str = "image"
  clip_frames: int = 50
  presentation: str = "sequence"
  reference_seconds: float = 3.0
  gap_seconds: float = 1.0
  test_seconds: float = 3.0
  training: int = 3
  seed: int = 0
  title: str = "Image quality study"

  def check(self) -> None:
    if self.kind not in manifest_lib.KINDS:
      raise StudyError(f"--kind must be one of {manifest_lib.KINDS}, got {self.kind!r}")
    if self.presentation not in manifest_lib.PRESENTATIONS:
      raise StudyError(f"--presentation must be one of {manifest_lib.PRESENTATIONS}")
    if self.kind == "clip" and self.presentation != "sequence":
      raise StudyError("clips are played in sequence (reference, then test): drop "
                       "--presentation side-by-side")
    if not 16 <= self.crop <= 2048:
      raise StudyError(f"--crop must be 16..2048 pixels, got {self.crop}")
    if not 2 <= self.clip_frames <= 500:
      raise StudyError(f"--clip-frames must be 2..500, got {self.clip_frames}")
    if not 0 <= self.training <= 3:
      raise StudyError(f"--training must be 0..3 trials, got {self.training}")
    for name in ("reference_seconds", "gap_seconds", "test_seconds"):
      if not 0 <= getattr(self, name) <= 60:
        raise StudyError(f"--{name.replace('_', '-')} must be 0..60 seconds")
    if not self.rungs:
      raise StudyError("give at least one --rungs tag")
    rungs_of(self.rungs)


def rungs_of(tags: Sequence[str]) -> list[codecs.EncodeSettings]:
  """The suite's rungs named by ``tags``; StudyError naming the unknown ones."""
  from jaxenhance.suite import runner  # imported where used: it loads JAX, serve needs none

  try:
    return runner.rungs_by_tag(list(tags))
  except errors.JaxenhanceError as exc:
    raise StudyError(str(exc)) from exc


def check_new_folder(out_dir: str | os.PathLike) -> Path:
  """``out_dir`` as a Path; StudyError when it exists and is not an empty folder."""
  out_dir = Path(out_dir)
  if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
    raise StudyError(f"{out_dir} exists and is not empty; choose a new study folder")
  return out_dir


# ---------------------------------------------------------------------------------------------
# Sources and models.
# ---------------------------------------------------------------------------------------------

def suite_sources(item_ids: Sequence[str], num_frames: int) -> list[Source]:
  """Pristine clips of held-out suite items (``python -m jaxenhance.suite fetch`` first)."""
  from jaxenhance.suite import items as items_lib
  from jaxenhance.suite import runner

  try:
    chosen = items_lib.items_by_id(list(item_ids))
    return [Source(i.id, i.category, i.licence, runner.pristine_clip(i, num_frames))
            for i in chosen]
  except (ValueError, errors.JaxenhanceError) as exc:
    raise StudyError(str(exc)) from exc


def sample_sources(names: Sequence[str], num_frames: int, size: tuple[int, int] = (240, 320)
                   ) -> list[Source]:
  """Pan/zoom clips of scikit-image's sample photos: for a pipeline check on a machine without
  the suite's packages (these photos are training data, never a held-out result)."""
  from jaxenhance.data import sources

  out = []
  for n, name in enumerate(names):
    try:
      clip = sources.photo_clip(name, num_frames, size, seed=n, source_id=f"sample:{name}")
    except errors.JaxenhanceError as exc:
      raise StudyError(str(exc)) from exc
    out.append(Source(f"sample/{name}", "sample (training data)", "scikit-image data",
                      clip.frames))
  return out


def checkpoint_model(checkpoint: str) -> Model:
  """A model that runs a generator export (or ``shipped``) as the enhance CLI does."""
  from jaxenhance import export, inference

  generator, params, _ = export.load_generator(checkpoint)
  enhancer = inference.Enhancer(generator, params, batch_size=2)
  return lambda frames: inference.enhance_array(frames, generator, None, enhancer=enhancer)


# ---------------------------------------------------------------------------------------------
# Crops and files.
# ---------------------------------------------------------------------------------------------

def crop_windows(frame: np.ndarray, size: int, count: int) -> list[tuple[int, int]]:
  """Top-left corners of the ``count`` most detailed ``size`` windows of ``frame`` on a
  half-window grid (detail: mean absolute luma gradient) that do not overlap; where the frame
  has no room for that, the windows farthest from those chosen."""
  height, width = frame.shape[:2]
  luma = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  detail = np.zeros_like(luma)
  detail[:, 1:] += np.abs(np.diff(luma, axis=1))
  detail[1:, :] += np.abs(np.diff(luma, axis=0))
  step = max(size // 2, 1)
  ys = sorted({*range(0, height - size + 1, step), height - size})
  xs = sorted({*range(0, width - size + 1, step), width - size})
  ranked = sorted(((float(detail[y:y + size, x:x + size].mean()), y, x) for y in ys for x in xs),
                  key=lambda r: (-r[0], r[1], r[2]))
  chosen: list[tuple[int, int]] = []
  for _, y, x in ranked:
    if all(abs(y - cy) >= size or abs(x - cx) >= size for cy, cx in chosen):
      chosen.append((y, x))
    if len(chosen) == count:
      return chosen
  while len(chosen) < min(count, len(ranked)):
    distance = {(y, x): min(max(abs(y - cy), abs(x - cx)) for cy, cx in chosen)
                for _, y, x in ranked}
    chosen.append(max(distance, key=distance.get))  # first of the most detailed among ties
  return chosen


def _png(image: np.ndarray, role: str) -> bytes:
  # The role (reference or test) is written into the file, so a hidden reference's test file
  # differs from its reference file: equal names in the page would give the trial away.
  info = PngImagePlugin.PngInfo()
  info.add_text("role", role)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG", compress_level=6, pnginfo=info)
  return buffer.getvalue()


def _webm(frames: np.ndarray, scratch: Path) -> bytes:
  from jaxenhance import video_io

  path = scratch / "clip.webm"
  encoding = video_io.VideoEncoding(codec="vp9", qp=0, pix_fmt="yuv444p")  # lossless VP9
  writer = video_io.VideoWriter(path, encoding, frames.shape[2], frames.shape[1],
                                fps=25.0, time_base=Fraction(1, 25))
  try:
    for t, frame in enumerate(frames):
      writer.write(np.ascontiguousarray(frame), t)
    writer.close()
  except BaseException:
    writer.abort()
    raise
  data = path.read_bytes()
  path.unlink()
  return data


class _Stimuli:
  """Writes stimuli into a staging folder, named by content, and lists them."""

  def __init__(self, folder: Path, kind: str):
    self.folder, self.kind, self.listed = folder, kind, {}

  def add(self, pixels: np.ndarray, role: str) -> str:
    # WebM files differ on every write anyway (the muxer's random segment id).
    data = _png(pixels, role) if self.kind == "image" else _webm(pixels, self.folder)
    digest = hashlib.sha256(data).hexdigest()
    name = f"{digest[:16]}.{'png' if self.kind == 'image' else 'webm'}"
    if name not in self.listed:
      (self.folder / name).write_bytes(data)
      height, width = pixels.shape[-3:-1]
      self.listed[name] = manifest_lib.Stimulus(name, digest, len(data), width, height)
    return name


# ---------------------------------------------------------------------------------------------
# The study.
# ---------------------------------------------------------------------------------------------

def _versions(source: Source, rungs, models: dict[str, Model], settings: Settings
              ) -> tuple[np.ndarray, dict[tuple[str, str | None], np.ndarray]]:
  """The source's frames and every condition's frames: ``{(condition, rung): frames}``."""
  from jaxenhance.suite import runner

  frames = np.asarray(source.frames)
  need = settings.clip_frames if settings.kind == "clip" else runner.SCORED_FRAMES[0] + 1
  if (frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8
      or len(frames) < need):
    raise StudyError(f"source {source.id}: need uint8 frames [>= {need}, H, W, 3], got "
                     f"{frames.dtype} {frames.shape}")
  if settings.kind == "clip":
    frames = frames[:settings.clip_frames]
  versions = {(REFERENCE, None): frames}
  for rung in rungs:
    try:
      decoded = codecs.round_trip(frames, runner.FPS, rung).frames
    except errors.JaxenhanceError as exc:
      raise StudyError(f"source {source.id}, rung {rung.tag}: {exc}") from exc
    versions[COMPRESSED, rung.tag] = decoded
    for name, model in models.items():
      out = np.asarray(model(decoded))
      if out.shape != decoded.shape or out.dtype != np.uint8:
        raise StudyError(f"model {name} returned {out.dtype} {out.shape} for frames "
                         f"{decoded.shape}; a model must keep the frame size")
      versions[name, rung.tag] = out
  return frames, versions


def _training_rows(versions, window: tuple[int, int], size: int, frame_index: int):
  """Worst rung (lowest PSNR of its crop), hidden reference, mildest rung."""
  y, x = window
  pristine = versions[REFERENCE, None][frame_index, y:y + size, x:x + size]
  rungs = sorted((rung for condition, rung in versions if condition == COMPRESSED),
                 key=lambda r: codecs.psnr(
                     versions[COMPRESSED, r][frame_index, y:y + size, x:x + size], pristine))
  return [(COMPRESSED, rungs[0]), (REFERENCE, None), (COMPRESSED, rungs[-1])]


def _trials(source_id: str, versions, keys, window: tuple[int, int], size: int, kind: str,
            stimuli: _Stimuli, training: bool) -> list[Trial]:
  """One trial per ``(condition, rung)`` of ``keys``: the crop at ``window`` of the original,
  then of that version (frame ``SCORED_FRAMES[0]`` for images, the whole clip for clips)."""
  from jaxenhance.suite import runner

  y, x = window

  def cut(frames):
    crop = frames[:, y:y + size, x:x + size]
    return crop[runner.SCORED_FRAMES[0]] if kind == "image" else crop

  reference = stimuli.add(cut(versions[REFERENCE, None]), "reference")
  return [Trial("", training, source_id, rung, condition, reference,
                stimuli.add(cut(versions[condition, rung]), "test")) for condition, rung in keys]


def prepare(out_dir: str | os.PathLike, sources: Sequence[Source], models: dict[str, Model],
            settings: Settings = Settings(), model_sources: dict[str, str] | None = None
            ) -> manifest_lib.Manifest:
  """Cuts the stimuli of ``sources`` and writes the study folder ``out_dir`` (whole or not at
  all); returns its manifest.

  Args:
    out_dir: a new folder (or an empty one).
    sources: pristine clips (``suite_sources``).
    models: condition name -> model (``checkpoint_model``).
    settings: crops, rungs, presentation (``Settings``).
    model_sources: condition name -> where the model came from (recorded in the manifest).

  Raises:
    StudyError: bad settings, an existing non-empty ``out_dir``, a model that changes the frame
      size, or conditions that cannot alternate.
  """
  from jaxenhance.suite import runner

  settings.check()
  out_dir = check_new_folder(out_dir)
  if not sources:
    raise StudyError("no sources: give --items")
  for name in models:
    if name in (REFERENCE, COMPRESSED) or not name.replace("-", "").replace("_", "").isalnum():
      raise StudyError(f"model name {name!r}: use letters, digits, - and _, and not "
                       f"{REFERENCE!r} or {COMPRESSED!r}")
  rungs = rungs_of(settings.rungs)
  frame_index = runner.SCORED_FRAMES[0]

  out_dir.parent.mkdir(parents=True, exist_ok=True)
  staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
  try:
    (staging / manifest_lib.STIMULI_DIR).mkdir()
    stimuli = _Stimuli(staging / manifest_lib.STIMULI_DIR, settings.kind)
    trials: list[Trial] = []
    items = []
    for n, source in enumerate(sources):
      frames, versions = _versions(source, rungs, models, settings)
      size = min(settings.crop, *frames.shape[1:3]) // 2 * 2
      shown = frames[len(frames) // 2] if settings.kind == "clip" else frames[frame_index]
      with_training = n == 0 and settings.training > 0
      windows = crop_windows(shown, size, 2 if with_training else 1)
      train_window = windows[-1]  # a second crop (the first when the frame is the crop)
      if with_training:  # training trials come first in the manifest
        keys = _training_rows(versions, train_window, size, frame_index)[:settings.training]
        trials += _trials(source.id, versions, keys, train_window, size, settings.kind,
                          stimuli, training=True)
      trials += _trials(source.id, versions, list(versions), windows[0], size, settings.kind,
                        stimuli, training=False)
      items.append({"id": source.id, "category": source.category, "licence": source.licence,
                    "crop": [int(windows[0][0]), int(windows[0][1]), size, size],
                    "frames": (list(range(len(frames))) if settings.kind == "clip"
                               else [frame_index])})
      if with_training:
        items[-1]["training_crop"] = [int(train_window[0]), int(train_window[1]), size, size]

    # Opaque trial ids: numbered in a shuffled order, so an id says nothing about its condition.
    numbers = np.random.default_rng(settings.seed).permutation(len(trials))
    trials = [dataclasses.replace(t, id=f"t{numbers[i]:03d}") for i, t in enumerate(trials)]
    schedule.check_arrangeable([t for t in trials if not t.training])
    manifest = manifest_lib.Manifest(
        title=settings.title, kind=settings.kind,
        presentation={"mode": settings.presentation,
                      "reference_seconds": settings.reference_seconds,
                      "gap_seconds": settings.gap_seconds,
                      "test_seconds": settings.test_seconds},
        conditions=(REFERENCE, COMPRESSED, *models), rungs=tuple(r.tag for r in rungs),
        items=tuple(items),
        models=dict(model_sources or {name: "in-memory model" for name in models}),
        stimuli=dict(sorted(stimuli.listed.items())), trials=tuple(trials),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        seed=settings.seed)
    (staging / manifest_lib.MANIFEST_FILE).write_text(manifest.to_json())
    if out_dir.exists():
      out_dir.rmdir()  # empty, checked above
    os.replace(staging, out_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return manifest
