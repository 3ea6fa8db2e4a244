"""Inference: uint8 frames -> generator -> uint8 frames, the one path every caller uses.

* ``Enhancer`` (and ``enhance_array``) enhance whole frames of any size: batched, cut into
  equal, stride-aligned, overlapping tiles blended without seams (``tiling.py``), one jitted
  function per frame size, temporal generators fed a sliding window of T frames (end frames
  replicated). The enhance CLI, the held-out suite and the main job's enhance stage run it.
* A generator that reads the decoder's QP map (``conditioning="codec_qp"``) gets it per frame:
  stream items ``(frame, meta, qp_map)`` (uint8 [H, W], 255 where unknown; None: unknown),
  cut into the same tiles as the frames. Other generators never see it.
* ``batch_fn(generator)`` is the same model call on a batch of equal-sized inputs that need no
  tiling (training patches, evaluation crops, the QF ensemble), with a NaN flag per row for the
  evaluator; it is cached per generator, so every caller of one architecture shares one
  compilation per shape.

Both convert with ``to_uint8`` (clip to [0, 1], round to the nearest level), so a model gives the
same 8-bit output whichever path runs it.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxenhance import errors, tiling
from jaxenhance.models import generator as generator_lib


class EnhanceError(errors.JaxenhanceError, ValueError):
  """Bad frames, paths or settings for enhancement; the message says what to do."""


def to_uint8(x: jax.Array) -> jax.Array:
  """[0, 1] floats -> uint8 (clipped, rounded to the nearest level)."""
  return jnp.round(jnp.clip(x, 0.0, 1.0) * 255.0).astype(jnp.uint8)


def to_float(x: jax.Array) -> jax.Array:
  """uint8 -> float32 in [0, 1]."""
  return jnp.asarray(x).astype(jnp.float32) / 255.0


@functools.lru_cache(maxsize=16)
def batch_fn(generator: generator_lib.Generator) -> Callable:
  """The jitted ``(variables, lq uint8 [N, (T,) H, W, 3], codec rows [N] or None, qp_map
  [N, H, W] or None) -> (uint8 [N, H, W, 3], NaN flag [N])``.

  Cached by the generator module (Flax modules hash by their fields). The NaN flag is taken
  before rounding: uint8 cannot hold NaN. ``codec`` (``generator.CONDITION_CODECS`` rows) is
  read by codec-conditioned generators only, ``qp_map`` by QP-conditioned ones.
  """
  def enhance(variables, lq, codec=None, qp_map=None):
    qp = {"qp_map": qp_map} if generator.reads_qp else {}
    out = generator.apply(variables, to_float(lq), codec=codec, **qp)
    return to_uint8(out), jnp.any(jnp.isnan(out), axis=(1, 2, 3))

  return jax.jit(enhance)


def _build_tiled_fn(generator: generator_lib.Generator, plan: tiling.TilePlan,
                    tile_batch: int):
  """Jitted (params, clip uint8 [B + T - 1, H, W, 3], weights, codec row[, qp_map uint8
  [B, H, W]]) -> uint8 [B, H, W, 3]; the QP map only for a generator that reads it."""

  def apply(params, codec, tiles, qp=None):  # uint8 [k, T, th, tw, 3] -> float [k, th, tw, 3]
    extra = {} if qp is None else {"qp_map": qp}
    return generator.apply(params, to_float(tiles), codec=codec, **extra)

  def fn(params, clip, weights, codec, qp_map=None):
    h, w = clip.shape[1:3]
    # Pad exactly as the generator would, so tiles line up with its stride grid (the QP map
    # too: padding then normalising equals the generator's normalising then padding).
    x = generator_lib.pad_to_multiple(clip, generator.stride, generator.pad_mode)
    side = None
    if qp_map is not None:
      side = generator_lib.pad_to_multiple(qp_map[..., None], generator.stride,
                                           generator.pad_mode)[..., 0]
    y = tiling.map_tiles(functools.partial(apply, params, codec), x, plan, weights,
                         generator.temporal_window, tile_batch, side=side)
    return to_uint8(y[:, :h, :w])

  return jax.jit(fn)


def _chunks(items: Iterable[tuple[np.ndarray, Any]], batch: int, radius: int
            ) -> Iterator[tuple[np.ndarray, int, list]]:
  """Groups a frame stream into model inputs.

  Yields ``(clip, valid, metas)``: ``clip`` uint8 [batch + 2 * radius, H, W, 3] holds the frames
  of ``batch`` consecutive outputs with ``radius`` frames of context on each side (the clip's
  end frames replicated at its ends; the last batch padded with the last frame), ``valid`` how
  many outputs are real, ``metas`` their metadata.
  """
  window: collections.deque = collections.deque()
  shape = None
  need = batch + 2 * radius

  def emit(valid):
    frames = [f for f, _ in list(window)[:need]]
    frames += [frames[-1]] * (need - len(frames))
    metas = [m for _, m in list(window)[radius:radius + valid]]
    for _ in range(min(batch, len(window))):
      window.popleft()
    return np.stack(frames), valid, metas

  for frame, meta in items:
    if shape is None:
      shape = frame.shape
      window.extend([(frame, None)] * radius)  # replicate the first frame before the clip
    elif frame.shape != shape:
      raise EnhanceError(f"the frame size changes mid-stream from {shape[1]}x{shape[0]} to "
                         f"{frame.shape[1]}x{frame.shape[0]}; enhance each part separately")
    window.append((frame, meta))
    last = frame
    if len(window) >= need:
      yield emit(batch)
  if shape is None:
    return
  window.extend([(last, None)] * radius)  # replicate the last frame after the clip
  while len(window) > 2 * radius:
    yield emit(min(batch, len(window) - 2 * radius))


class Enhancer:
  """Enhances streams of uint8 RGB frames with a generator.

  Frames go through in batches of ``batch_size`` (the last batch is padded, so the jitted
  function sees one shape per frame size), cut into tiles of at most ``tile`` pixels a side
  overlapping by ``overlap`` (``tiling.py``), ``tile_batch`` tiles per network call (one by
  default: on CPU more tiles per call only adds fresh memory per batch and was no faster,
  ``benchmarks/enhance.py``; on a GPU a few more fill the device better). ``codec`` names the
  codec that made the frames (``generator.CONDITION_CODECS``; None: unknown), read by a
  codec-conditioned generator and ignored by others. Stream items may carry each frame's QP map
  as a third element (``(frame, meta, qp_map)``), read by a QP-conditioned generator (missing
  or None: unknown) and ignored by others.
  """

  def __init__(self, generator: generator_lib.Generator, params: Any, batch_size: int = 4,
               tile: int = 512, overlap: int = 64, tile_batch: int = 1,
               codec: str | None = None):
    if batch_size < 1 or tile_batch < 1:
      raise EnhanceError(f"batch size and tile batch must be >= 1, got {batch_size}, {tile_batch}")
    if overlap < 0 or tile <= overlap or tile < generator.stride:
      raise EnhanceError(f"--tile ({tile}) must exceed --overlap ({overlap}) and be at least the "
                         f"generator stride ({generator.stride})")
    self.generator = generator
    self.params = params
    self.batch_size = batch_size
    self.tile = tile
    self.overlap = overlap
    self.tile_batch = tile_batch
    self.codec = codec
    self._compiled: dict[tuple[int, int], tuple[Any, jax.Array, tiling.TilePlan]] = {}

  def for_codec(self, codec: str | None) -> Enhancer:
    """The same enhancer (sharing its compiled functions) told that ``codec`` made the frames."""
    other = copy.copy(self)
    other.codec = codec
    return other

  @property
  def radius(self) -> int:
    """Frames of context needed on each side of an output frame."""
    return self.generator.temporal_window // 2

  def plan(self, height: int, width: int) -> tiling.TilePlan:
    s = self.generator.stride
    return tiling.plan_tiles(-(-height // s) * s, -(-width // s) * s, self.tile, self.overlap, s)

  @property
  def reads_qp(self) -> bool:
    """Whether the generator reads the decoder's QP map (``conditioning="codec_qp"``)."""
    return getattr(self.generator, "reads_qp", False)

  def submit(self, clip: np.ndarray, qp_maps: np.ndarray | None = None) -> jax.Array:
    """Starts enhancing ``clip`` [batch + T - 1, H, W, 3] uint8; returns [batch, H, W, 3].

    ``qp_maps``: uint8 [batch, H, W], the QP map of each output's frame (None: unknown); read
    only by a QP-conditioned generator.
    """
    key = clip.shape[1:3]
    if key not in self._compiled:
      plan = self.plan(*key)
      fn = _build_tiled_fn(self.generator, plan, self.tile_batch)
      self._compiled[key] = (fn, jnp.asarray(plan.weights()), plan)
    fn, weights, _ = self._compiled[key]
    codec = np.int32(generator_lib.codec_index(self.codec))
    if not self.reads_qp:
      return fn(self.params, clip, weights, codec)
    if qp_maps is None:
      qp_maps = np.full((len(clip) - 2 * self.radius,) + key, generator_lib.QP_UNKNOWN,
                        np.uint8)
    return fn(self.params, clip, weights, codec, np.asarray(qp_maps, np.uint8))

  def _qp_batch(self, maps: list, shape: tuple[int, int]) -> np.ndarray:
    """uint8 [batch, H, W] from per-output maps (None and padding rows: unknown)."""
    out = np.full((self.batch_size,) + shape, generator_lib.QP_UNKNOWN, np.uint8)
    for i, qp in enumerate(maps):
      if qp is not None:
        if np.shape(qp) != shape:
          raise EnhanceError(f"a QP map of {np.shape(qp)} for a frame of {shape}; give one QP "
                             "per pixel (quantiser.pixel_map)")
        out[i] = qp
    return out

  def stream(self, items: Iterable[tuple]) -> Iterator[tuple[np.ndarray, np.ndarray, Any]]:
    """Yields ``(input frame, enhanced frame, meta)`` for each ``(frame, meta)`` or
    ``(frame, meta, qp_map)`` of ``items``.

    One batch is in flight while the next is decoded and assembled.
    """
    reads_qp = self.reads_qp
    # The QP map rides with the meta through the window (each output's own frame's map).
    items = ((item[0], (item[1], item[2] if len(item) > 2 else None)) for item in items)
    pending = None
    try:
      for clip, valid, tagged in _chunks(items, self.batch_size, self.radius):
        metas = [m for m, _ in tagged]
        qp_maps = self._qp_batch([q for _, q in tagged], clip.shape[1:3]) if reads_qp else None
        result = self.submit(clip) if qp_maps is None else self.submit(clip, qp_maps)
        if pending is not None:
          yield from self._collect(*pending)
        pending = (clip, valid, metas, result)
      if pending is not None:
        yield from self._collect(*pending)
    finally:
      if pending is not None:  # stopped early: no computation may outlive its inputs
        with contextlib.suppress(Exception):
          pending[-1].block_until_ready()

  def _collect(self, clip, valid, metas, result):
    out = np.asarray(result)
    for i in range(valid):
      yield clip[self.radius + i], out[i], metas[i]


def enhance_array(frames: np.ndarray, generator: generator_lib.Generator, params: Any,
                  qp_maps: np.ndarray | None = None, **enhancer_kwargs) -> np.ndarray:
  """Enhances uint8 RGB frames [N, H, W, 3] (consecutive frames of one clip) -> uint8 [N, H, W, 3].

  ``qp_maps``: uint8 [N, H, W], the decoder's QP map of each frame (``quantiser.pixel_map``;
  None: unknown), read by a QP-conditioned generator only. ``enhancer_kwargs`` go to
  ``Enhancer`` (batch_size, tile, overlap, tile_batch, codec); pass ``enhancer=`` to reuse one
  (and its compiled functions).
  """
  frames = np.asarray(frames)
  if frames.ndim == 3:
    frames = frames[None]
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
    raise EnhanceError(f"expected uint8 RGB frames [N, H, W, 3] with N >= 1; got "
                       f"{frames.dtype} {frames.shape}")
  enhancer = enhancer_kwargs.pop("enhancer", None) or Enhancer(generator, params,
                                                              **enhancer_kwargs)
  if qp_maps is not None and len(qp_maps) != len(frames):
    raise EnhanceError(f"{len(qp_maps)} QP maps for {len(frames)} frames; give one per frame")
  maps = [None] * len(frames) if qp_maps is None else list(qp_maps)
  return np.stack([out for _, out, _ in enhancer.stream(
      (f, None, q) for f, q in zip(frames, maps))])
