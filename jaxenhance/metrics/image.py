"""Full-reference image metrics, jitted per batch: PSNR (RGB and Y), SSIM, MS-SSIM, PSNR-B.

Images are float arrays ``[N, H, W, C]`` (or ``[H, W, C]``) in ``[0, max_val]``; every metric
returns one value per image.

* PSNR-Y uses the BT.601 "studio swing" luma of MATLAB's ``rgb2ycbcr``
  (``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` for R, G, B in [0, 1], on a 0–255 scale), as
  the super-resolution and artifact-removal literature (and basicsr) report it.
* SSIM is dm-pix's (Gaussian window 11×11, σ = 1.5, k1 = 0.01, k2 = 0.03, valid region, mean
  over channels), which equals scikit-image's ``structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=max_val, channel_axis=-1)``.
* MS-SSIM (Wang, Simoncelli & Bovik 2003): 5 scales with weights
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), contrast-structure terms at the first four scales and
  full SSIM at the last, 2×2 average-pool downsampling (odd sizes padded by edge replication),
  negative terms clipped to zero, product per channel then mean over channels — the same
  conventions as ``tf.image.ssim_multiscale``. The coarsest scale must still hold the 11-pixel
  window, so images need a side of at least 176 pixels (smaller: pass fewer ``weights``).
* PSNR-B (Yim & Bovik 2011): PSNR of ``MSE + BEF(test)``, the blocking-effect factor of the test
  image on the 8×8 grid, computed per channel and averaged over channels.
"""

from __future__ import annotations

import functools

import dm_pix
import jax
import jax.numpy as jnp
import numpy as np

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_HIGHEST = jax.lax.Precision.HIGHEST


def _as_batch(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
  if a.ndim == 3:
    a, b = a[None], b[None]
  if a.ndim != 4:
    raise ValueError(f"images must be [N, H, W, C] or [H, W, C]; got shape {a.shape}")
  if not (jnp.issubdtype(a.dtype, jnp.floating) and jnp.issubdtype(b.dtype, jnp.floating)):
    raise TypeError(f"images must be float in [0, max_val]; got {a.dtype}, {b.dtype} "
                    "(convert uint8 with x / 255 and max_val=1, or x.astype(float32), max_val=255)")
  return a.astype(jnp.float32), b.astype(jnp.float32)


def rgb_to_y(images: jax.Array, max_val: float = 1.0) -> jax.Array:
  """BT.601 studio-swing luma (MATLAB ``rgb2ycbcr``) of RGB images, same range as the input."""
  if images.shape[-1] != 3:
    raise ValueError(f"rgb_to_y needs 3 channels; got shape {images.shape}")
  rgb = images / max_val
  y = 16.0 + rgb @ jnp.asarray([65.481, 128.553, 24.966], images.dtype)
  return (y / 255.0 * max_val)[..., None]


@functools.partial(jax.jit, static_argnames=("max_val",))
def _psnr(a: jax.Array, b: jax.Array, max_val: float) -> jax.Array:
  return dm_pix.psnr(a / max_val, b / max_val)


def psnr(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
  """PSNR in dB over all pixels and channels of each image, ``[N]``."""
  a, b = _as_batch(a, b)
  return _psnr(a, b, float(max_val))


def psnr_y(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
  """PSNR in dB of the BT.601 luma (see module docstring), ``[N]``."""
  a, b = _as_batch(a, b)
  return _psnr(rgb_to_y(a, max_val), rgb_to_y(b, max_val), float(max_val))


@functools.partial(jax.jit, static_argnames=("max_val",))
def _ssim(a: jax.Array, b: jax.Array, max_val: float) -> jax.Array:
  return dm_pix.ssim(a, b, max_val=max_val, filter_size=11, filter_sigma=1.5)


def ssim(a: jax.Array, b: jax.Array, max_val: float = 1.0) -> jax.Array:
  """SSIM (dm-pix, Gaussian 11×11 σ=1.5) averaged over the valid region and channels, ``[N]``."""
  a, b = _as_batch(a, b)
  if min(a.shape[1:3]) < 11:
    raise ValueError(f"SSIM needs images of at least 11×11 pixels; got {a.shape[1:3]}")
  return _ssim(a, b, float(max_val))


def _gaussian_blur_valid(x: jax.Array, size: int = 11, sigma: float = 1.5) -> jax.Array:
  """Separable Gaussian blur per channel, 'valid' region (dm-pix's window)."""
  coords = np.arange(size) - (size - 1) / 2
  taps = np.exp(-0.5 * (coords / sigma) ** 2)
  taps = jnp.asarray(taps / taps.sum(), x.dtype)
  channels = x.shape[-1]
  dims = ("NHWC", "HWIO", "NHWC")
  for kernel_shape in ((size, 1, 1, channels), (1, size, 1, channels)):
    kernel = jnp.broadcast_to(taps.reshape(kernel_shape[:2] + (1, 1)), kernel_shape)
    x = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=dims,
                                     feature_group_count=channels, precision=_HIGHEST)
  return x


def _ssim_and_cs(a: jax.Array, b: jax.Array, max_val: float) -> tuple[jax.Array, jax.Array]:
  """Per-channel mean SSIM and contrast-structure term, each ``[N, C]`` (dm-pix's formulas)."""
  mu0, mu1 = _gaussian_blur_valid(a), _gaussian_blur_valid(b)
  mu00, mu11, mu01 = mu0 * mu0, mu1 * mu1, mu0 * mu1
  eps = jnp.finfo(jnp.float32).eps ** 2
  s00 = jnp.maximum(eps, _gaussian_blur_valid(a * a) - mu00)
  s11 = jnp.maximum(eps, _gaussian_blur_valid(b * b) - mu11)
  s01 = _gaussian_blur_valid(a * b) - mu01
  s01 = jnp.sign(s01) * jnp.minimum(jnp.sqrt(s00 * s11), jnp.abs(s01))
  c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
  cs_map = (2 * s01 + c2) / (s00 + s11 + c2)
  ssim_map = (2 * mu01 + c1) / (mu00 + mu11 + c1) * cs_map
  return jnp.mean(ssim_map, axis=(1, 2)), jnp.mean(cs_map, axis=(1, 2))


def _downsample2(x: jax.Array) -> jax.Array:
  pad_h, pad_w = x.shape[1] % 2, x.shape[2] % 2
  x = jnp.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


@functools.partial(jax.jit, static_argnames=("max_val", "weights"))
def _ms_ssim(a: jax.Array, b: jax.Array, max_val: float, weights: tuple[float, ...]) -> jax.Array:
  terms = []
  for scale in range(len(weights)):
    if scale:
      a, b = _downsample2(a), _downsample2(b)
    ssim_c, cs_c = _ssim_and_cs(a, b, max_val)
    terms.append(cs_c if scale < len(weights) - 1 else ssim_c)
  stacked = jax.nn.relu(jnp.stack(terms, axis=-1))  # [N, C, scales]
  per_channel = jnp.prod(stacked ** jnp.asarray(weights, stacked.dtype), axis=-1)
  return jnp.mean(per_channel, axis=-1)


def ms_ssim(a: jax.Array, b: jax.Array, max_val: float = 1.0,
            weights: tuple[float, ...] = MS_SSIM_WEIGHTS) -> jax.Array:
  """Multi-scale SSIM (Wang et al. 2003; tf.image.ssim_multiscale's conventions), ``[N]``."""
  a, b = _as_batch(a, b)
  smallest = min(a.shape[1:3])
  needed = 11 * 2 ** (len(weights) - 1)
  if smallest < needed:
    raise ValueError(
        f"MS-SSIM with {len(weights)} scales needs images of at least {needed} pixels per side "
        f"(the 11-pixel window at the coarsest scale); got {a.shape[1:3]}. Use larger images or "
        "fewer weights, e.g. weights=MS_SSIM_WEIGHTS[:3].")
  return _ms_ssim(a, b, float(max_val), tuple(float(w) for w in weights))


def _boundary_mask(length: int, block: int) -> np.ndarray:
  """Which of the ``length - 1`` neighbour differences straddle a block boundary."""
  positions = np.arange(length - 1)
  return (positions % block) == block - 1


@functools.partial(jax.jit, static_argnames=("max_val", "block"))
def _psnr_b(ref: jax.Array, test: jax.Array, max_val: float, block: int) -> jax.Array:
  _, h, w, _ = test.shape
  dh = (test[:, 1:, :, :] - test[:, :-1, :, :]) ** 2  # vertical neighbours, [N, H-1, W, C]
  dw = (test[:, :, 1:, :] - test[:, :, :-1, :]) ** 2  # horizontal neighbours, [N, H, W-1, C]
  mask_h = jnp.asarray(_boundary_mask(h, block))[None, :, None, None]
  mask_w = jnp.asarray(_boundary_mask(w, block))[None, None, :, None]
  n_b = w * int(_boundary_mask(h, block).sum()) + h * int(_boundary_mask(w, block).sum())
  n_bc = w * (h - 1) + h * (w - 1) - n_b
  d_b = (jnp.sum(dh * mask_h, axis=(1, 2)) + jnp.sum(dw * mask_w, axis=(1, 2))) / max(n_b, 1)
  d_bc = (jnp.sum(dh * ~mask_h, axis=(1, 2)) + jnp.sum(dw * ~mask_w, axis=(1, 2))) / n_bc
  eta = np.log2(block) / np.log2(min(h, w))
  bef = jnp.where(d_b > d_bc, eta * (d_b - d_bc), 0.0)  # [N, C]
  mse = jnp.mean((ref - test) ** 2, axis=(1, 2))
  per_channel = 10.0 * jnp.log10(max_val**2 / (mse + bef))
  return jnp.mean(per_channel, axis=-1)


def psnr_b(reference: jax.Array, test: jax.Array, max_val: float = 1.0,
           block: int = 8) -> jax.Array:
  """PSNR-B (Yim & Bovik 2011) of ``test`` against ``reference``, ``[N]``.

  ``MSE-B = MSE + BEF(test)``, where ``BEF = η (D_B − D_Bc)`` if ``D_B > D_Bc`` (else 0), ``D_B``
  and ``D_Bc`` are mean squared neighbour differences across and off the block boundaries, and
  ``η = log2(block) / log2(min(H, W))``. The counts are those of the boundaries actually present
  (equal to the paper's ``N_V (N_H/B − 1)`` when the size is a multiple of ``block``). Per
  channel, then averaged; for the usual grey/Y PSNR-B pass ``rgb_to_y`` images.
  """
  reference, test = _as_batch(reference, test)
  if min(test.shape[1:3]) <= block:
    raise ValueError(f"PSNR-B needs images larger than one {block}×{block} block; "
                     f"got {test.shape[1:3]}")
  return _psnr_b(reference, test, float(max_val), int(block))


__all__ = ["MS_SSIM_WEIGHTS", "ms_ssim", "psnr", "psnr_b", "psnr_y", "rgb_to_y", "ssim"]
