r"""The evaluation core: fixed evaluation batches and a cached, jitted ``Evaluator``.

A building block shared by the ``evaluate`` entry point (tables, plots, CLI) and the trainer's
periodic evaluation; it imports no entry point. (~520 lines: batches, the Evaluator and FID/KID
from features stay together, since every result row comes from all three.)

Every result has the compressed-input row next to the enhanced row. Metrics (subset of
``METRICS``):
  psnr, psnr_y, ssim, lpips  full reference, mean over images (:mod:`jaxenhance.metrics.image`,
                             :mod:`jaxenhance.metrics.lpips`)
  fid, kid                   against the original images' FID-Inception pool3 features
                             (resize ``eval.fid_resize``); KID's std is over its subsets
  niqe                       no reference; needs images of at least two 96×96 blocks, so it is
                             reported as not computed on small patches
  bits_per_pixel             the codec's cost, the same for both rows (enhancement is free)
The enhanced output is rounded to 8 bits before any metric, as it is when written to a file (and
as basicsr evaluates): a generator whose correction stays below half a grey level (e.g. after a
few training steps from the zero-initialised output conv) scores exactly like its input.

``Evaluator(config, data_dir).run(generator, variables)`` returns flat ``{"enhanced/psnr": …,
"compressed/psnr": …, "count": …}``. The evaluation set is read once and kept on the host; the
compressed-input metrics and the original images' features are computed once; enhancement and
metrics run as one jitted function per generator, compiled once and cached, so each call costs
one pass of the generator, LPIPS and (if asked) Inception.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxenhance import codecs, errors, inference
from jaxenhance.metrics import fid as fid_lib
from jaxenhance.metrics import image as image_metrics
from jaxenhance.metrics import lpips as lpips_lib
from jaxenhance.metrics import niqe as niqe_lib
from jaxenhance.models import generator as generator_lib
from jaxenhance.models import inception

METRICS = ("psnr", "psnr_y", "ssim", "lpips", "fid", "kid", "niqe")
PER_IMAGE = ("psnr", "psnr_y", "ssim", "lpips")
LOWER_IS_BETTER = {"psnr": False, "psnr_y": False, "ssim": False, "lpips": True, "fid": True,
                   "kid": True, "niqe": True, "bits_per_pixel": True}
ROWS = ("compressed", "enhanced")
_RESIZE = {"bilinear_tf": "tf_bilinear", "tf_bilinear": "tf_bilinear",
           "bicubic_pil": "pil_bicubic", "pil_bicubic": "pil_bicubic", "none": None}


class EvaluationError(errors.JaxenhanceError, ValueError):
  """The evaluation set or the model output cannot give meaningful numbers; says what to do."""


# ---------------------------------------------------------------------------------------------
# Evaluation batches: records or clips, one fixed shape per batch.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class EvalBatch:
  """One batch of evaluation pairs, padded to a fixed size.

  Attributes:
    lq: compressed frames, uint8 [B, T, H, W, 3] (T = the generator's temporal window).
    gt: originals of the centre frames, uint8 [B, H, W, 3].
    mask: bool [B], False on padding rows.
    rung: codec rung of each row (e.g. ``h264_qp32``); padding rows ''.
    source: source clip id of each row.
    bits_per_pixel: float [B], the codec's cost of each row's frame (clip average for clips).
    qp_map: uint8 [B, H, W], the decoder's QP of each pixel of the centre frame (255:
      unknown), or None (unknown everywhere); read by QP-conditioned generators only.
  """
  lq: np.ndarray
  gt: np.ndarray
  mask: np.ndarray
  rung: list[str]
  source: list[str]
  bits_per_pixel: np.ndarray
  qp_map: np.ndarray | None = None

  def __post_init__(self):
    if self.lq.ndim == 4:
      self.lq = self.lq[:, None]
    if self.lq.ndim != 5 or self.gt.ndim != 4 or self.lq.shape[-1] != 3:
      raise EvaluationError(f"an evaluation batch needs lq [B, T, H, W, 3] and gt [B, H, W, 3]; "
                            f"got {self.lq.shape} and {self.gt.shape}")
    if self.lq.dtype != np.uint8 or self.gt.dtype != np.uint8:
      raise EvaluationError(f"evaluation images must be uint8 (0..255); got {self.lq.dtype} and "
                            f"{self.gt.dtype}: convert with np.round(x * 255).astype(np.uint8)")
    b = self.gt.shape[0]
    if self.lq.shape[0] != b or self.lq.shape[2:] != self.gt.shape[1:]:
      raise EvaluationError(f"compressed {self.lq.shape} and original {self.gt.shape} frames "
                            "differ in count or size: each pair must be co-located crops")
    if not (len(self.mask) == len(self.rung) == len(self.source) == len(self.bits_per_pixel)
            == b):
      raise EvaluationError("mask, rung, source and bits_per_pixel need one entry per row")
    if self.qp_map is not None and self.qp_map.shape != (b,) + self.gt.shape[1:3]:
      raise EvaluationError(f"a QP map per row of {self.gt.shape[1:3]} pixels is needed; got "
                            f"{self.qp_map.shape}")

  @property
  def count(self) -> int:
    return int(np.sum(self.mask))

  @classmethod
  def from_images(cls, lq: Sequence[np.ndarray] | np.ndarray,
                  gt: Sequence[np.ndarray] | np.ndarray, rung: str = "input",
                  source: str = "input", bits_per_pixel: float = float("nan"),
                  batch_size: int | None = None) -> list[EvalBatch]:
    """Batches of user images (all one size), padded to ``batch_size`` (default: all in one)."""
    lq_list, gt_list = list(lq), list(gt)
    if len(lq_list) != len(gt_list):
      raise EvaluationError(f"{len(lq_list)} compressed images but {len(gt_list)} originals")
    if not lq_list:
      raise EvaluationError("the evaluation set is empty: give at least one image pair")
    sizes = sorted({tuple(np.shape(x)[-3:-1]) for x in lq_list + gt_list})
    if len(sizes) > 1:
      raise EvaluationError(
          f"images of mixed sizes {sizes} in one set: crop them to one size, or pass one set "
          "per size (each size is one compiled shape; the tables can then be merged by hand)")
    lq_arr, gt_arr = np.stack(lq_list), np.stack(gt_list)
    n = lq_arr.shape[0]
    size = n if batch_size is None else int(batch_size)
    batches = []
    for start in range(0, n, size):
      stop = min(start + size, n)
      batches.append(_padded(lq_arr[start:stop], gt_arr[start:stop], size,
                             [rung] * (stop - start), [source] * (stop - start),
                             np.full(stop - start, bits_per_pixel, np.float32)))
    return batches


def _padded(lq: np.ndarray, gt: np.ndarray, size: int, rung: list[str], source: list[str],
            bpp: np.ndarray, qp_map: np.ndarray | None = None) -> EvalBatch:
  """A batch of ``len(gt)`` rows padded to ``size`` by repeating the last row (mask False)."""
  n = gt.shape[0]
  pad = size - n
  if lq.ndim == 4:
    lq = lq[:, None]
  if pad:
    lq = np.concatenate([lq, np.repeat(lq[-1:], pad, axis=0)])
    gt = np.concatenate([gt, np.repeat(gt[-1:], pad, axis=0)])
    bpp = np.concatenate([bpp, np.full(pad, np.nan, np.float32)])
    if qp_map is not None:
      qp_map = np.concatenate([qp_map, np.repeat(qp_map[-1:], pad, axis=0)])
  return EvalBatch(lq=np.ascontiguousarray(lq), gt=np.ascontiguousarray(gt),
                   mask=np.arange(size) < n, rung=list(rung) + [""] * pad,
                   source=list(source) + [""] * pad, bits_per_pixel=bpp.astype(np.float32),
                   qp_map=qp_map)


def _eval_config(config: Any, batch_size: int | None, process_count: int) -> Any:
  config = config.copy_and_resolve_references()
  size = batch_size or int(config.get("eval", {}).get("batch_size", 0) or config.data.batch_size)
  with config.unlocked():
    config.data.batch_size = int(size) * process_count
  return config


def record_batches(config: Any, data_dir: str | os.PathLike, split: str = "test",
                   max_examples: int | None = None,
                   batch_size: int | None = None,
                   shard: tuple[int, int] | None = None) -> list[EvalBatch]:
  """The ``split`` records as centre-cropped evaluation batches of ``eval.batch_size``.

  Pixels come from :func:`jaxenhance.data.pipeline.make_dataset` (record order, padded last
  batch); each row's rung and source come from one metadata pass over the same records.
  ``shard`` = (index, count): read records ``index::count`` (default: this process's share of
  a multi-host job; ``(0, 1)`` reads them all, for an evaluation run by one process alone).
  """
  from jaxenhance.data import pipeline, records  # data stack only when reading records

  index, count = shard or (jax.process_index(), jax.process_count())
  config = _eval_config(config, batch_size, count)
  path = pipeline.dataset_dir(config, data_dir)
  source = pipeline.data_source(path, split)
  total = len(source)
  if total == 0:
    raise EvaluationError(f"the '{split}' split of {path} has no examples: the evaluation set "
                          "is empty (check data.test_sources and rebuild the records)")
  indices = list(range(index, total, count))
  limit = len(indices) if not max_examples else min(int(max_examples), len(indices))
  batches, seen = [], 0
  for raw in pipeline.make_dataset(config, path, split=split, shuffle=False, repeat=False,
                                   process_index=index, process_count=count):
    rows = indices[seen:seen + int(np.sum(raw["mask"]))]
    keep = min(len(rows), limit - seen)
    meta = [records.parse_record(source[i]) for i in rows[:keep]]
    size = raw["mask"].shape[0]
    mask = np.arange(size) < keep
    batches.append(EvalBatch(
        lq=raw["lq"], gt=raw["gt"], mask=mask,
        rung=[m["rung"] for m in meta] + [""] * (size - keep),
        source=[m["source_id"] for m in meta] + [""] * (size - keep),
        bits_per_pixel=np.where(mask, raw["bits_per_pixel"], np.nan).astype(np.float32),
        qp_map=raw.get("qp_map")))
    seen += keep
    if seen >= limit:
      break
  if seen == 0:
    raise EvaluationError(f"the evaluation set is empty (max_examples={max_examples})")
  return batches


def encode_clips(config: Any, source_specs: Sequence[str],
                 rungs: Sequence[codecs.EncodeSettings] | None = None,
                 max_frames: int | None = None, quantisers: bool = False
                 ) -> list[tuple[Any, codecs.EncodeSettings, codecs.RoundTrip]]:
  """Loads ``source_specs`` as the records builder does and encodes each at every rung
  (``quantisers``: with the decoder's quantiser of each frame, for a QP-conditioned model).

  Returns:
    ``(clip, rung, round_trip)`` per clip and rung.
  """
  from jaxenhance.data import records, sources

  data = config.data
  if rungs is None:
    rungs = records.ladder_settings(data.ladder, preset=data.get("preset") or None,
                                    gop=int(data.get("gop", 12)))
  clips = sources.resolve_sources(list(source_specs),
                                  max_frames=int(max_frames or data.max_frames),
                                  max_height=int(data.max_height), fps=float(data.fps),
                                  seed=int(config.get("seed", 0)))
  if not clips:
    raise EvaluationError(f"no clips in {list(source_specs)}: the evaluation set is empty")
  return [(clip, rung, codecs.round_trip(clip.frames, clip.fps, rung, quantisers=quantisers))
          for clip in clips for rung in rungs]


def clip_batches(encoded: Iterable[tuple[Any, codecs.EncodeSettings, codecs.RoundTrip]],
                 temporal_window: int = 1, batch_size: int = 8) -> list[EvalBatch]:
  """Whole decoded frames as evaluation batches (one clip and rung per batch), with the
  decoder's QP maps where the round trip kept its quantisers."""
  from jaxenhance import quantiser
  from jaxenhance.data import records

  batches = []
  for clip, rung, rt in encoded:
    n = rt.frames.shape[0]
    windows = np.stack([rt.frames[records.window(t, n, temporal_window)] for t in range(n)])
    maps = None
    if rt.quantisers is not None:
      maps = np.stack([quantiser.pixel_map(q, *rt.frames.shape[1:3]) for q in rt.quantisers])
    for start in range(0, n, batch_size):
      stop = min(start + batch_size, n)
      k = stop - start
      batches.append(_padded(windows[start:stop], clip.frames[start:stop], batch_size,
                             [rung.tag] * k, [clip.source_id] * k,
                             np.full(k, rt.bits_per_pixel, np.float32),
                             None if maps is None else maps[start:stop]))
  if not batches:
    raise EvaluationError("the evaluation set is empty (no decoded frames)")
  return batches


# ---------------------------------------------------------------------------------------------
# The evaluator.
# ---------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def frame_metrics_fn(with_lpips: bool = True) -> Callable:
  """The jitted ``(lpips params, pred uint8, gt uint8) -> {psnr, psnr_y, ssim[, lpips]}`` per
  row that every evaluation uses (records, clips and the held-out suite), shared by both rows
  and every evaluator: identical images give identical numbers."""
  def metrics(lpips_params, pred, gt):
    a, b = inference.to_float(pred), inference.to_float(gt)
    out = {"psnr": image_metrics.psnr(a, b), "psnr_y": image_metrics.psnr_y(a, b),
           "ssim": image_metrics.ssim(a, b)}
    if with_lpips:
      # The traceable core: lpips.lpips checks value ranges on the host, which cannot run under
      # jit; both inputs come from uint8 here, so they are in [0, 1].
      out["lpips"] = lpips_lib._lpips(lpips_params, a, b)
    return out

  return jax.jit(metrics)


class Evaluator:
  """Compressed vs enhanced metrics on a fixed evaluation set, with cached compiled functions.

  Args:
    config: run config (``eval.*``, ``data.*`` to find and crop the records).
    data_dir: records root or dataset directory (ignored when ``batches`` is given).
    split: records split.
    batches: evaluate these instead of records (e.g. :func:`clip_batches`).
    metrics: subset of ``METRICS`` (default ``eval.metrics`` or all).
    max_examples: evaluate at most this many records (default ``eval.max_examples``; 0 = all).
    group_fid: also compute FID/KID per group (rung, source); off for cheap periodic runs.
    shard: (index, count) of the records to read (``record_batches``; default this process's).
  """

  def __init__(self, config: Any, data_dir: str | os.PathLike | None = None, *,
               split: str = "test", batches: Sequence[EvalBatch] | None = None,
               metrics: Sequence[str] | None = None, max_examples: int | None = None,
               group_fid: bool = True, shard: tuple[int, int] | None = None):
    ev = config.get("eval", None) or {}
    get = ev.get if hasattr(ev, "get") else lambda k, d=None: d
    self.metrics = tuple(metrics if metrics is not None else get("metrics", METRICS))
    unknown = sorted(set(self.metrics) - set(METRICS))
    if unknown:
      raise EvaluationError(f"unknown metric(s) {unknown}; choose from {METRICS}")
    resize = str(get("fid_resize", "bilinear_tf"))
    if resize not in _RESIZE:
      raise EvaluationError(f"eval.fid_resize={resize!r}; choose from {sorted(_RESIZE)}")
    self.resize = _RESIZE[resize]
    self.kid_subsets = int(get("kid_subsets", 100))
    self.kid_subset_size = int(get("kid_subset_size", 1000))
    self.group_fid = group_fid
    if batches is None:
      if data_dir is None:
        raise EvaluationError("give data_dir (the records) or batches")
      max_examples = int(get("max_examples", 0) if max_examples is None else max_examples)
      batches = record_batches(config, data_dir, split, max_examples or None, shard=shard)
    self.batches = list(batches)
    if not self.batches or sum(b.count for b in self.batches) == 0:
      raise EvaluationError("the evaluation set is empty: no image pairs to evaluate")
    self.count = sum(b.count for b in self.batches)
    self.rung = np.array([r for b in self.batches for r, m in zip(b.rung, b.mask) if m])
    self.source = np.array([s for b in self.batches for s, m in zip(b.source, b.mask) if m])
    self.bpp = np.concatenate([b.bits_per_pixel[b.mask] for b in self.batches]).astype(np.float64)
    self.sizes = sorted({b.gt.shape[1:3] for b in self.batches})
    if "ssim" in self.metrics and min(min(size) for size in self.sizes) < 11:
      # Checked here so a tiny input gets this message, not a ValueError from inside the metric.
      raise EvaluationError(f"images of {self.sizes[0][1]}x{self.sizes[0][0]} pixels are smaller "
                            "than SSIM's 11x11 window; evaluate larger images or leave ssim out "
                            "of --metrics")
    self._features = "fid" in self.metrics or "kid" in self.metrics
    self._lpips_params = lpips_lib.load_params() if "lpips" in self.metrics else None
    self._inception_params = inception.load_params() if self._features else None
    self._niqe_model = niqe_lib.load_model() if "niqe" in self.metrics else None
    self._reference: dict[str, Any] | None = None

  # ------------------------------------------------------------------------- compiled pass
  def _metrics_fn(self) -> Callable:
    return frame_metrics_fn("lpips" in self.metrics)

  def _features_of(self, images: jax.Array) -> jax.Array:
    # extract_pool3 is jitted on its own: one Inception compilation serves every image set.
    return inception.extract_pool3(self._inception_params, images, resize=self.resize)

  def _run_pass(self, generator: Any | None, g_vars: Any, keep_images: int = 0
                ) -> dict[str, Any]:
    """Per-row outputs over every batch, padding dropped; NaN output is an error.

    ``generator=None`` evaluates the compressed input itself (the centre frame) and also
    extracts the originals' Inception features.
    """
    metrics_fn = self._metrics_fn()
    rows: dict[str, list[np.ndarray]] = {}
    examples: list[np.ndarray] = []
    nan = 0
    for batch in self.batches:
      if generator is None:
        pred = jnp.asarray(batch.lq[:, batch.lq.shape[1] // 2])
      else:
        codec = np.array([generator_lib.codec_index(rung.split("_")[0]) for rung in batch.rung],
                         np.int32)  # padding rows ('') are unknown
        pred, nan_rows = inference.batch_fn(generator)(g_vars, batch.lq, codec, batch.qp_map)
        nan += int(np.sum(np.asarray(nan_rows)[batch.mask]))
      gt = jnp.asarray(batch.gt)
      out = metrics_fn(self._lpips_params, pred, gt)
      if self._features:
        out["features"] = self._features_of(pred)
        if generator is None:
          out["gt_features"] = self._features_of(gt)
      for name, value in jax.device_get(out).items():
        rows.setdefault(name, []).append(np.asarray(value)[batch.mask])
      if "niqe" in self.metrics or len(examples) < keep_images:
        images = np.asarray(pred)[batch.mask]
        if "niqe" in self.metrics:
          rows.setdefault("pred", []).append(images)
        examples.extend(images[:keep_images - len(examples)])
    what = "compressed input" if generator is None else "enhanced output"
    if nan:
      raise EvaluationError(
          f"{nan} of {self.count} images of the {what} contain NaN: the generator's parameters "
          "or the checkpoint are probably non-finite (evaluate an earlier checkpoint)")
    merged = {k: (v if k == "pred" else np.concatenate(v)) for k, v in rows.items()}
    for name in ("features", "gt_features"):
      if name in merged and not np.all(np.isfinite(merged[name])):
        bad = int(np.sum(~np.isfinite(merged[name]).all(axis=1)))
        raise EvaluationError(f"{bad} Inception feature vectors of the {what} are NaN/Inf; the "
                              "images are finite 8-bit, so the Inception weights are damaged "
                              "(run `jaxenhance assets check`)")
    merged["examples"] = examples
    return merged

  # ------------------------------------------------------------------------- statistics
  def _niqe(self, images: list[np.ndarray], notes: list[str]) -> np.ndarray | None:
    """NIQE per image (one array per batch); NaN for images smaller than two blocks."""
    scores, small = [], set()
    for batch in images:
      h, w = batch.shape[1:3]
      if (h // niqe_lib.BLOCK) * (w // niqe_lib.BLOCK) < 2:
        small.add((h, w))
        scores.append(np.full(batch.shape[0], np.nan))
      else:
        scores.append(niqe_lib.niqe(batch, model=self._niqe_model))
    if small:
      sizes = ", ".join(f"{h}×{w}" for h, w in sorted(small))
      note = (f"NIQE not computed on images of {sizes}: NIQE needs at least two "
              f"{niqe_lib.BLOCK}×{niqe_lib.BLOCK} blocks (evaluate whole frames of at least "
              f"{niqe_lib.BLOCK}×{2 * niqe_lib.BLOCK}: --clips with a large enough "
              "data.max_height); NIQE columns average the other images only")
      if note not in notes:
        notes.append(note)
    merged = np.concatenate(scores)
    return merged if np.any(np.isfinite(merged)) else None

  def _set_metrics(self, rows: dict[str, Any], gt_features: np.ndarray | None,
                   select: np.ndarray, notes: list[str], with_fid: bool) -> dict[str, float]:
    """Metrics of the rows in ``select`` (boolean mask over all rows)."""
    n = int(np.sum(select))
    out: dict[str, float] = {"count": n, "bits_per_pixel": nanmean(self.bpp[select])}
    for name in PER_IMAGE:
      if name in rows:
        out[name] = float(np.mean(rows[name][select]))
    if "niqe" in rows and np.any(np.isfinite(rows["niqe"][select])):
      out["niqe"] = nanmean(rows["niqe"][select])
    if with_fid and gt_features is not None:
      feats, ref = rows["features"][select], gt_features[select]
      if n < 2:
        notes.append(f"FID/KID not computed for a set of {n} image(s): they need at least 2")
        return out
      # The small-sample warnings become one note (below) instead of one warning per group.
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "fid" in self.metrics:
          out["fid"] = fid_of_features(feats, ref)
        if "kid" in self.metrics:
          k = fid_lib.kid(feats, ref, num_subsets=self.kid_subsets,
                          subset_size=self.kid_subset_size)
          out["kid"], out["kid_std"] = k["kid_mean"], k["kid_std"]
    return out

  def _ensure_reference(self, notes: list[str]) -> dict[str, Any]:
    if self._reference is None:
      start = time.perf_counter()
      rows = self._run_pass(None, None, keep_images=4)
      if "niqe" in self.metrics and "pred" in rows:
        scores = self._niqe(rows.pop("pred"), notes)
        if scores is not None:
          rows["niqe"] = scores
      self._reference = rows
      logging.info("evaluation reference (%d images) computed in %.1f s", self.count,
                   time.perf_counter() - start)
    return self._reference

  # ------------------------------------------------------------------------- public API
  def evaluate(self, generator: Any, g_variables: Any, group_fid: bool | None = None
               ) -> dict[str, Any]:
    """Full results: overall and per-group rows for the compressed input and the enhanced output.

    Returns:
      ``{"count", "metrics", "sizes", "overall": {row: {metric: value}}, "groups": {"rung"|
      "source": {name: {"count", row: {...}}}}, "notes": [...], "seconds"}``.
    """
    start = time.perf_counter()
    notes: list[str] = []
    reference = self._ensure_reference(notes)
    enhanced = self._run_pass(generator, g_variables, keep_images=4)
    if "niqe" in self.metrics and "pred" in enhanced:
      scores = self._niqe(enhanced.pop("pred"), notes)
      if scores is not None:
        enhanced["niqe"] = scores
    group_fid = self.group_fid if group_fid is None else group_fid
    gt_features = reference.get("gt_features")
    everything = np.ones(self.count, bool)
    sets = {"compressed": reference, "enhanced": enhanced}
    overall = {row: self._set_metrics(r, gt_features, everything, notes, True)
               for row, r in sets.items()}
    groups: dict[str, dict[str, Any]] = {}
    for kind, labels in (("rung", self.rung), ("source", self.source)):
      groups[kind] = {}
      for name in sorted(set(labels)):
        select = labels == name
        groups[kind][str(name)] = {
            "count": int(select.sum()),
            **{row: self._set_metrics(r, gt_features, select, notes, group_fid)
               for row, r in sets.items()}}
    if self._features and self.count < inception.FEATURES:
      notes.append(f"FID/KID from {self.count} images (< {inception.FEATURES} feature dims): the "
                   "covariance is singular, FID is biased upwards and noisy; compare values "
                   "only at equal sample counts")
    for note in notes:
      logging.warning("%s", note)
    return {"count": self.count, "metrics": list(self.metrics),
            "sizes": [list(s) for s in self.sizes], "overall": overall, "groups": groups,
            "notes": sorted(set(notes), key=notes.index),
            "examples": {"compressed": reference["examples"], "enhanced": enhanced["examples"],
                         "original": [g for b in self.batches for g in b.gt[b.mask]][:4]},
            "seconds": round(time.perf_counter() - start, 2)}

  def run(self, generator: Any, g_variables: Any) -> dict[str, float]:
    """Overall metrics as flat scalars (``"enhanced/psnr"``, ``"compressed/fid"``, ``"count"``)."""
    results = self.evaluate(generator, g_variables, group_fid=False)
    flat: dict[str, float] = {"count": float(results["count"])}
    for row, values in results["overall"].items():
      for name, value in values.items():
        if name != "count":
          flat[f"{row}/{name}"] = float(value)
    return flat


def fid_of_features(x: np.ndarray, y: np.ndarray) -> float:
  """FID between feature sets ``[n1, D]`` and ``[n2, D]``, in float64.

  With fewer samples than dims (every small evaluation set), ``S1 = AᵀA / (n1 - 1)`` and
  ``S2 = BᵀB / (n2 - 1)`` for the centred features A, B, and the non-zero eigenvalues of
  ``S1 S2`` are those of ``M Mᵀ / ((n1 - 1)(n2 - 1))`` with ``M = A Bᵀ`` (``XY`` and ``YX`` share
  them), so ``tr sqrt(S1 S2)`` is the sum of M's singular values over ``sqrt((n1-1)(n2-1))``:
  exact, and an ``n1 × n2`` SVD instead of two ``D × D`` eigendecompositions (seconds -> ms
  at D = 2048). Otherwise :func:`jaxenhance.metrics.fid.fid_from_features`.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  (n1, d), n2 = x.shape, y.shape[0]
  if min(n1, n2) < 2:
    raise EvaluationError(f"FID needs at least 2 images per set; got {n1} and {n2}")
  if min(n1, n2) >= d:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")
      return float(fid_lib.fid_from_features(x, y)[0])
  a, b = x - x.mean(axis=0), y - y.mean(axis=0)
  c = (n1 - 1) * (n2 - 1)
  trace_sqrt = float(np.sum(np.linalg.svd(a @ b.T, compute_uv=False))) / np.sqrt(c)
  diff = x.mean(axis=0) - y.mean(axis=0)
  return float(diff @ diff + np.sum(a * a) / (n1 - 1) + np.sum(b * b) / (n2 - 1)
               - 2.0 * trace_sqrt)


def nanmean(x: np.ndarray) -> float:
  """Mean of the finite entries (NaN when there are none)."""
  x = np.asarray(x, np.float64)
  return float(np.mean(x[np.isfinite(x)])) if np.any(np.isfinite(x)) else float("nan")
