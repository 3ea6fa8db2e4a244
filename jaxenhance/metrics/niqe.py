"""NIQE (Mittal, Soundararajan & Bovik 2013), the MATLAB/basicsr algorithm with its pristine model.

Per image: BT.601 luma (MATLAB ``rgb2ycbcr``, 0–255, rounded to integers as basicsr does), cropped
to whole 96×96 blocks; at two scales (the second is MATLAB's antialiased bicubic ``imresize`` by
0.5): MSCN coefficients with the model's 7×7 Gaussian window ('nearest' borders), then per block
an AGGD fit of the coefficients (shape, mean scale) and of their products with the four
neighbours (right, down, down-right, down-left; circular within the block) — shape, mean, left
and right scales — 18 features per scale, 36 per block. The features are computed jitted on the
device; a multivariate Gaussian is fitted to the blocks on the host in float64 and compared with
the pristine model: ``sqrt((mu_p - mu)^T pinv((S_p + S) / 2) (mu_p - mu))``.

The pristine model is basicsr's ``niqe_pris_params.npz`` (:func:`jaxenhance.assets.load_niqe`).
The local mean and variance are computed from neighbour differences (see :func:`_mscn`): the
same maths as basicsr's ``E[x²] - mu²``, without its float32 cancellation, and perfectly flat
areas give MSCN coefficients of exactly zero — as basicsr's float32 run also does (its mean is
rounded back to the integer pixel value). In a float64 run (and in MATLAB) they are round-off
residuals whose sign decides which AGGD half they count in, so on images with exactly flat areas
NIQE is only defined to about 1 % (basicsr in float32 vs float64: 0.9 % apart on scikit-image's
astronaut). Measured agreement with basicsr's ``calculate_niqe``: ≤ 5e-4 relative.
Lower is better.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from jaxenhance import assets

BLOCK = 96
_HIGHEST = jax.lax.Precision.HIGHEST
# The AGGD shape is found on basicsr's grid 0.2, 0.201, ..., 10 by matching the moment ratio.
_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = scipy.special.gamma(2 / _GAM) ** 2 / (scipy.special.gamma(1 / _GAM)
                                               * scipy.special.gamma(3 / _GAM))
_SCALE_OF_STD = np.sqrt(scipy.special.gamma(1 / _GAM) / scipy.special.gamma(3 / _GAM))
_MEAN_FACTOR = scipy.special.gamma(2 / _GAM) / scipy.special.gamma(1 / _GAM)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


def load_model(path: str | None = None) -> dict[str, np.ndarray]:
  """The pristine model (``mu_pris_param``, ``cov_pris_param``, ``gaussian_window``)."""
  return assets.load_niqe(path)


def _matlab_resize_matrix(length: int, scale: float = 0.5) -> np.ndarray:
  """MATLAB ``imresize`` (bicubic, antialiased) along one axis as an [out, in] matrix.

  Follows basicsr's ``calculate_weights_indices``; the symmetric border padding is folded into
  the matrix by reflecting out-of-range taps (index -1 -> 0, n -> n - 1).
  """
  out_length = math.ceil(length * scale)
  width = 4.0 / scale if scale < 1 else 4.0
  x = np.arange(1, out_length + 1, dtype=np.float64)
  u = x / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(u - width / 2)
  taps = math.ceil(width) + 2
  indices = left[:, None] + np.arange(taps)[None, :]
  dist = (u[:, None] - indices) * (scale if scale < 1 else 1.0)
  a = np.abs(dist)
  cubic = ((1.5 * a**3 - 2.5 * a**2 + 1) * (a <= 1)
           + (-0.5 * a**3 + 2.5 * a**2 - 4 * a + 2) * ((a > 1) & (a <= 2)))
  weights = cubic / cubic.sum(axis=1, keepdims=True)
  zero_based = indices.astype(np.int64) - 1
  reflected = np.where(zero_based < 0, -zero_based - 1, zero_based)
  reflected = np.where(reflected >= length, 2 * length - 1 - reflected, reflected)
  matrix = np.zeros((out_length, length))
  np.add.at(matrix, (np.repeat(np.arange(out_length), taps), reflected.ravel()), weights.ravel())
  return matrix


def _mscn(img: jax.Array, window: jax.Array) -> jax.Array:
  """(x - mu) / (sigma + 1) with a Gaussian-weighted local mean/std, edge-replicated borders.

  Computed from the neighbour differences ``d = x_q - x_p``: ``mu - x = Σ w d`` and
  ``sigma² = Σ w d² - (Σ w d)²``. Flat areas give exactly zero (not round-off of either sign)
  and there is no cancellation of large ``E[x²] - mu²`` terms in float32.
  """
  k = window.shape[0]
  h, w = img.shape
  padded = jnp.pad(img, k // 2, mode="edge")
  offset = jnp.zeros_like(img)  # mu - x
  second = jnp.zeros_like(img)  # Σ w d²
  for i in range(k):
    for j in range(k):
      d = jax.lax.dynamic_slice(padded, (i, j), (h, w)) - img
      offset = offset + window[i, j] * d
      second = second + window[i, j] * d * d
  var = jnp.maximum(second - offset**2, 0.0)
  return -offset / (jnp.sqrt(var) + 1.0)


def _aggd(x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """AGGD fit per row of ``x`` [B, n]: (shape alpha, beta_l, beta_r, grid index).

  basicsr takes the grid shape whose moment ratio is nearest (argmin of squared distance, first
  on ties) to the sample's; the ratio is increasing on the grid, so a binary search finds it.
  A NaN ratio (a block with no negative or no positive value) gives index 0, as ``np.argmin``.
  """
  neg, pos = x < 0, x > 0
  sq = x * x
  left_std = jnp.sqrt(jnp.sum(sq * neg, axis=1) / jnp.sum(neg, axis=1))
  right_std = jnp.sqrt(jnp.sum(sq * pos, axis=1) / jnp.sum(pos, axis=1))
  g = left_std / right_std
  rhat = jnp.mean(jnp.abs(x), axis=1) ** 2 / jnp.mean(sq, axis=1)
  rhatnorm = rhat * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
  r_gam = jnp.asarray(_R_GAM, x.dtype)
  upper = jnp.clip(jnp.searchsorted(r_gam, rhatnorm), 1, r_gam.shape[0] - 1)
  lower = upper - 1
  idx = jnp.where((r_gam[lower] - rhatnorm) ** 2 <= (r_gam[upper] - rhatnorm) ** 2, lower, upper)
  idx = jnp.where(jnp.isnan(rhatnorm), 0, idx)
  scale = jnp.asarray(_SCALE_OF_STD, x.dtype)[idx]
  return jnp.asarray(_GAM, x.dtype)[idx], left_std * scale, right_std * scale, idx


def _block_features(blocks: jax.Array) -> jax.Array:
  """The 18 NIQE features of each block ``[B, h, w]`` -> ``[B, 18]``."""
  b = blocks.shape[0]
  products = [blocks * jnp.roll(blocks, shift, axis=(1, 2)) for shift in _SHIFTS]
  # One AGGD fit over the coefficients and their four neighbour products: [5 * B, h * w].
  alpha, beta_l, beta_r, idx = _aggd(jnp.concatenate([blocks, *products]).reshape(5 * b, -1))
  alpha, beta_l, beta_r, idx = (v.reshape(5, b) for v in (alpha, beta_l, beta_r, idx))
  mean = (beta_r - beta_l) * jnp.asarray(_MEAN_FACTOR, blocks.dtype)[idx]
  feats = [alpha[0], (beta_l[0] + beta_r[0]) / 2]
  for k in range(1, 5):
    feats += [alpha[k], mean[k], beta_l[k], beta_r[k]]
  return jnp.stack(feats, axis=1)


def _to_blocks(img: jax.Array, size: int) -> jax.Array:
  """[H, W] -> [nh * nw, size, size], ordered column of blocks by column as basicsr."""
  h, w = img.shape
  nh, nw = h // size, w // size
  return img.reshape(nh, size, nw, size).transpose(2, 0, 1, 3).reshape(nh * nw, size, size)


@jax.jit
def _normalised_blocks(luma: jax.Array, window: jax.Array, resize_h: jax.Array,
                       resize_w: jax.Array) -> tuple[jax.Array, jax.Array]:
  """MSCN blocks at both scales, ``[B', 96, 96]`` and ``[B', 48, 48]``, B' padded to _CHUNK."""
  out = []
  img = luma
  for scale in (1, 2):
    blocks = _to_blocks(_mscn(img, window), BLOCK // scale)
    pad = -blocks.shape[0] % _CHUNK
    out.append(jnp.concatenate([blocks, jnp.repeat(blocks[:1], pad, axis=0)]))
    if scale == 1:
      img = jnp.matmul(jnp.matmul(resize_h, img / 255.0, precision=_HIGHEST), resize_w.T,
                       precision=_HIGHEST) * 255.0
  return out[0], out[1]


# Block features run on fixed-size chunks of blocks, so they compile once per process and only
# the cheap MSCN stage compiles per image size.
_CHUNK = 16
_block_features_jit = jax.jit(_block_features)


def _features(luma: jax.Array, window: jax.Array, resize_h: jax.Array,
              resize_w: jax.Array) -> np.ndarray:
  """NIQE features ``[blocks, 36]`` of one rounded 0-255 luma image cropped to whole blocks."""
  count = (luma.shape[0] // BLOCK) * (luma.shape[1] // BLOCK)
  per_scale = []
  for blocks in _normalised_blocks(luma, window, resize_h, resize_w):
    chunks = [_block_features_jit(blocks[i:i + _CHUNK]) for i in range(0, count, _CHUNK)]
    per_scale.append(np.concatenate(jax.device_get(chunks))[:count])
  return np.concatenate(per_scale, axis=1)


def _luma(image: np.ndarray | jax.Array, max_val: float) -> jax.Array:
  """Rounded BT.601 luma on the 0–255 scale (basicsr's ``to_y_channel`` + ``round``)."""
  image = jnp.asarray(image)
  if jnp.issubdtype(image.dtype, jnp.integer):
    rgb = image.astype(jnp.float32) / 255.0
  else:
    rgb = image.astype(jnp.float32) / max_val
  if rgb.ndim == 3 and rgb.shape[-1] == 1:
    rgb = rgb[..., 0]
  if rgb.ndim == 2:
    return jnp.round(rgb * 255.0)
  y = jnp.matmul(rgb, jnp.asarray([65.481, 128.553, 24.966], jnp.float32),
                 precision=_HIGHEST) + 16.0
  return jnp.round(y / 255.0 * 255.0)


def niqe_distance(features: np.ndarray, model: dict[str, np.ndarray]) -> float:
  """Host float64 MVG fit of block features ``[B, 36]`` and its distance to the pristine model."""
  features = np.asarray(features, np.float64)
  mu = np.nanmean(features, axis=0)
  complete = features[~np.isnan(features).any(axis=1)]
  if complete.shape[0] < 2:
    raise ValueError(f"NIQE needs at least 2 blocks with finite features; got {complete.shape[0]} "
                     "(the image is too small or too flat)")
  cov = np.cov(complete, rowvar=False)
  diff = np.asarray(model["mu_pris_param"], np.float64).reshape(-1) - mu
  inv = np.linalg.pinv((np.asarray(model["cov_pris_param"], np.float64) + cov) / 2)
  return float(np.sqrt(diff @ inv @ diff))


def niqe(images: np.ndarray | jax.Array, max_val: float = 1.0, crop_border: int = 0,
         model: dict[str, np.ndarray] | None = None) -> np.ndarray:
  """NIQE of each image; lower is better.

  Args:
    images: one image ``[H, W, 3]`` (grey: ``[H, W]``) or a batch ``[N, H, W, 3|1]``; uint8,
      or float in ``[0, max_val]``. At least 96×192 pixels (two 96×96 blocks) after cropping.
    max_val: peak value of float input (ignored for integer input, which is taken as 0–255).
    crop_border: pixels removed from each edge before the metric.
    model: the pristine model (default :func:`load_model`).

  Returns:
    float64 array ``[N]`` (``[1]`` for a single image).
  """
  images = np.asarray(jax.device_get(images))
  if images.ndim == 2:  # one grey image
    images = images[..., None]
  if images.ndim == 3:  # one image
    images = images[None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise ValueError(f"NIQE expects images [N, H, W, 3|1] or [H, W, 3]; got shape {images.shape}")
  if crop_border:
    images = images[:, crop_border:-crop_border, crop_border:-crop_border]
  _, h, w, _ = images.shape
  nh, nw = h // BLOCK, w // BLOCK
  if nh * nw < 2:
    raise ValueError(f"NIQE needs at least two {BLOCK}×{BLOCK} blocks (e.g. {BLOCK}×{2 * BLOCK} "
                     f"pixels); got {h}×{w} after cropping {crop_border} border pixels")
  model = load_model() if model is None else model
  window = jnp.asarray(model["gaussian_window"], jnp.float32)
  resize_h = jnp.asarray(_matlab_resize_matrix(nh * BLOCK), jnp.float32)
  resize_w = jnp.asarray(_matlab_resize_matrix(nw * BLOCK), jnp.float32)
  scores = []
  for image in images:
    luma = _luma(image, max_val)[:nh * BLOCK, :nw * BLOCK]
    feats = _features(luma, window, resize_h, resize_w)
    scores.append(niqe_distance(feats, model))
  return np.asarray(scores, np.float64)


__all__ = ["BLOCK", "load_model", "niqe", "niqe_distance"]
