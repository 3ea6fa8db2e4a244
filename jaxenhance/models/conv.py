"""Strided convolution as shifted slices + one matrix product ("patches"), a drop-in for nn.Conv.

Why: the W-GAN-GP critic update differentiates the critic twice (the gradient penalty is a
gradient, and the critic is trained on it). The second derivative of a strided convolution is a
convolution with input dilation and of its weight gradient one with kernel dilation; XLA:CPU has
no fast kernel for those and runs them at ~10 GFLOP/s, a fifteenth of its 3x3-conv peak. Written
as k*k strided slices concatenated on channels and one ``dot``, every derivative is again slices,
pads and matrix products, which run at matrix-product speed. Measured on the critic trunk (stem +
3 stride-2 convs, batch 8, 96², gradient of the penalty w.r.t. the weights, jax 0.10.2, 2 CPU
cores): 1014 ms with ``lax.conv_general_dilated``, 141 ms with slices + dot.

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

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

CONV_IMPLS = ("xla", "patches")
_NHWC = ("NHWC", "HWIO", "NHWC")


def patches_conv(lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
                 padding: str | Sequence[tuple[int, int]], lhs_dilation: Any = None,
                 rhs_dilation: Any = None, dimension_numbers: Any = None,
                 feature_group_count: int = 1, precision: Any = None,
                 **kwargs: Any) -> jax.Array:
  """``lax.conv_general_dilated``; strided NHWC/HWIO convolutions run as slices + ``dot``.

  Stride 1, other layouts, dilations and feature groups go to ``lax.conv_general_dilated``
  unchanged.
  """
  plain = (any(s > 1 for s in window_strides) and lhs.ndim == 4 and rhs.ndim == 4
           and feature_group_count == 1 and not kwargs and dimension_numbers is not None
           and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
           == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
           and all(d == 1 for d in (lhs_dilation or (1, 1)))
           and all(d == 1 for d in (rhs_dilation or (1, 1))))
  if not plain:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        precision=precision, **kwargs)
  kh, kw, cin, cout = rhs.shape
  sh, sw = window_strides
  if isinstance(padding, str):  # "SAME", "VALID", "SAME_LOWER": XLA's own arithmetic
    padding = lax.padtype_to_pads(lhs.shape[1:3], (kh, kw), (sh, sw), padding)
  (pt, pb), (pl, pr) = padding
  x = jnp.pad(lhs, ((0, 0), (pt, pb), (pl, pr), (0, 0))) if pt or pb or pl or pr else lhs
  out_h = (x.shape[1] - kh) // sh + 1
  out_w = (x.shape[2] - kw) // sw + 1
  cols = [x[:, i:i + (out_h - 1) * sh + 1:sh, j:j + (out_w - 1) * sw + 1:sw]
          for i in range(kh) for j in range(kw)]
  patches = cols[0] if len(cols) == 1 else jnp.concatenate(cols, axis=-1)
  # Kernel rows (i, j, c) in the same order as the concatenated patches' channels.
  return jnp.dot(patches, rhs.reshape(kh * kw * cin, cout), precision=precision)


def conv_fn(impl: str) -> Callable[..., jax.Array] | None:
  """The ``conv_general_dilated`` to give ``nn.Conv`` for ``impl`` (None: Flax's default)."""
  if impl == "xla":
    return None
  if impl == "patches":
    return patches_conv
  raise ValueError(f"conv implementation must be one of {CONV_IMPLS}; got {impl!r}")
