"""Strided convolution as slices + one matrix product ("patches"), a drop-in for nn.Conv.

Why: the W-GAN-GP critic update differentiates the critic twice (the gradient penalty is a
gradient, and the critic is trained on it). The second derivative of a strided convolution is a
convolution with input dilation and of its weight gradient one with kernel dilation; XLA:CPU has
no fast kernel for those and runs them at ~10 GFLOP/s, a fifteenth of its 3x3-conv peak. Written
as k*k slices concatenated on channels and one ``dot``, every derivative is again slices, pads
and matrix products, which run at matrix-product speed. Measured on the critic trunk (stem +
3 stride-2 convs, batch 8, 96², gradient of the penalty w.r.t. the weights, jax 0.10.2, 2 CPU
cores): 1014 ms with ``lax.conv_general_dilated``, 141 ms with slices + dot.

The input is viewed in whole stride blocks ([N, H/s, s, W/s, s, C], a reshape), so every tap is a
plain slice, and the patches' transpose is written by hand (``_patches_bwd``): one sum per stride
phase. Autodiff's own transpose of the slices materialises k*k full-size padded copies and XLA
re-reads them in every consumer; the hand-written one took the full W-GAN-GP step (n_critic 5,
batch 8, 96²) from 9.0 to 6.0 s.

Stride-1 convolutions keep the native kernel: their derivatives are ordinary convolutions, which
XLA:CPU runs fast, and the patches' 9x copy made them slower (critic update with the gradient
penalty, taps relu1_2 + relu2_2: native 3.32 s, all convs as patches 2.18 s, strided ones only
1.92 s).

The parameters, their names and the padding arithmetic are those of ``nn.Conv``: a checkpoint
trained with one implementation loads into the other, and tests check both give the same values
and gradients. ``xla`` (the native convolution) stays the better choice where the second
derivative is not needed or on accelerators whose compilers handle dilated convolutions well.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

CONV_IMPLS = ("xla", "patches")
_NHWC = ("NHWC", "HWIO", "NHWC")


def is_plain_nhwc(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any, lhs_dilation: Any,
                  rhs_dilation: Any, feature_group_count: int, extra: dict) -> bool:
  """A 2-D NHWC/HWIO convolution with no dilation, no feature groups and no other options:
  what the rewritten convolutions here and in ``winograd.py`` handle."""
  return (lhs.ndim == 4 and rhs.ndim == 4 and feature_group_count == 1 and not extra
          and dimension_numbers is not None
          and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
          == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
          and all(d == 1 for d in (lhs_dilation or (1, 1)))
          and all(d == 1 for d in (rhs_dilation or (1, 1))))


def patches_conv(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
                 padding: str | Sequence[tuple[int, int]], lhs_dilation: Any = None,
                 rhs_dilation: Any = None, dimension_numbers: Any = None,
                 feature_group_count: int = 1, precision: Any = None,
                 **kwargs: Any) -> jax.Array:
  """``lax.conv_general_dilated``; strided NHWC/HWIO convolutions run as slices + ``dot``.

  Stride 1, other layouts, dilations and feature groups go to ``lax.conv_general_dilated``
  unchanged.
  """
  plain = (any(s > 1 for s in window_strides)
           and is_plain_nhwc(lhs, rhs, dimension_numbers, lhs_dilation, rhs_dilation,
                             feature_group_count, kwargs))
  if not plain:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        precision=precision, **kwargs)
  kh, kw, cin, cout = rhs.shape
  sh, sw = window_strides
  n, h, w, _ = lhs.shape
  if isinstance(padding, str):  # "SAME", "VALID", "SAME_LOWER": XLA's own arithmetic
    padding = lax.padtype_to_pads((h, w), (kh, kw), (sh, sw), padding)
  (pt, pb), (pl, pr) = padding
  out = ((pt + h + pb - kh) // sh + 1, (pl + w + pr - kw) // sw + 1)
  # Pad (or crop: lax.pad takes negative widths) to the rows and columns the taps read, in whole
  # stride blocks, and view the result as [N, Hb, sh, Wb, sw, C]. Tap (i, j) is then the plain
  # slice at block offset (i // sh, j // sw) and phase (i % sh, j % sw).
  hb, wb = out[0] + (kh - 1) // sh, out[1] + (kw - 1) // sw
  x = lax.pad(lhs, jnp.zeros((), lhs.dtype),
              ((0, 0, 0), (pt, hb * sh - pt - h, 0), (pl, wb * sw - pl - w, 0), (0, 0, 0)))
  patches = _patches(x.reshape(n, hb, sh, wb, sw, cin), (kh, kw), out)
  # Kernel rows (i, j, c) in the same order as the patches' channels.
  return jnp.dot(patches, rhs.reshape(kh * kw * cin, cout), precision=precision)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _patches(x: jax.Array, kernel: tuple[int, int], out: tuple[int, int]) -> jax.Array:
  """[N, Hb, sh, Wb, sw, C] blocks -> [N, out_h, out_w, kh*kw*C], taps in row-major order."""
  (kh, kw), (out_h, out_w) = kernel, out
  sh, sw = x.shape[2], x.shape[4]
  cols = [x[:, i // sh:i // sh + out_h, i % sh, j // sw:j // sw + out_w, j % sw]
          for i in range(kh) for j in range(kw)]
  return cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)


def _patches_fwd(x, kernel, out):
  return _patches(x, kernel, out), jnp.zeros((0,) + x.shape, x.dtype)


def _patches_bwd(kernel, out, like, d):
  """The transpose of ``_patches``, written so XLA:CPU runs it at memory speed.

  Left to autodiff, it is kh*kw full-size zero-padded copies summed, and XLA re-reads all of
  them in each consumer's fusion (measured: 0.81 -> 0.44 s for the critic update without the
  penalty). Here each stride phase sums its few taps at block resolution, and the channel
  ``split``'s own transpose (in the penalty's second derivative) is one concatenate.
  """
  (kh, kw), (out_h, out_w) = kernel, out
  n, hb, sh, wb, sw, c = like.shape[1:]  # an empty array carries x's shape and dtype
  chunks = jnp.split(d, kh * kw, axis=-1)
  phases = []
  for py in range(sh):
    row = []
    for px in range(sw):
      total = jnp.zeros((n, hb, wb, c), d.dtype)
      for i in range(py, kh, sh):
        for j in range(px, kw, sw):
          by, bx = i // sh, j // sw
          total = total + jnp.pad(chunks[i * kw + j], ((0, 0), (by, hb - out_h - by),
                                                       (bx, wb - out_w - bx), (0, 0)))
      row.append(total)
    phases.append(jnp.stack(row, axis=3))  # [N, Hb, Wb, sw, C]
  return (jnp.stack(phases, axis=2),)  # [N, Hb, sh, Wb, sw, C]


_patches.defvjp(_patches_fwd, _patches_bwd)


def conv_fn(impl: str) -> Callable[..., jax.Array] | None:
  """The ``conv_general_dilated`` to give ``nn.Conv`` for ``impl`` (None: Flax's default)."""
  if impl == "xla":
    return None
  if impl == "patches":
    return patches_conv
  raise ValueError(f"conv implementation must be one of {CONV_IMPLS}; got {impl!r}")
