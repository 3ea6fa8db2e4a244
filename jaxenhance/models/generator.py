"""Artifact-removal generators: Galteri-style residual network and a fast real-time variant.

Both map compressed frames to enhanced frames, float32 in [0, 1], NHWC:

* single frame: ``[N, H, W, 3] -> [N, H, W, 3]``;
* temporal window T (odd): ``[N, T, H, W, 3] -> [N, H, W, 3]``, the T frames are stacked on the
  channel axis and the network predicts the centre frame (``[N, 1, H, W, 3]`` is accepted for T=1,
  which is how the patch records store ``lq``).

Shape of the network (Galteri et al., "Deep Generative Adversarial Compression Artifact Removal"):
conv stem -> ``num_scales`` stride-2 convs -> ``num_blocks`` residual blocks -> per scale a
nearest-neighbour x2 upsampling followed by two convs (no transposed convs, so no checkerboard) ->
a 3-channel conv giving a correction that is *added to the input centre frame* (global residual).
Channel widths double at each scale (``channel_multiplier``; project choice).

Initialisation (project choice): the output conv and the last conv of every residual block start at
zero, so at init every block is the identity and the generator returns its input exactly. Training
starts from "do nothing" instead of from noise, which keeps the early W-GAN steps stable.

Any frame size works: frames are padded (reflect, or edge where reflect is impossible) to a
multiple of ``2 ** num_scales`` and the output is cropped back.

The output is clipped to [0, 1] with a straight-through gradient: values the critic and VGG see are
always valid images, yet a pixel pushed out of range still receives the gradient that pulls it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
ModuleDef = Callable[..., nn.Module]

KINDS = ("residual", "fast")


def stack_frames(frames: Array, temporal_window: int) -> tuple[Array, Array]:
  """Checks the input layout and returns (network input [N,H,W,3T], centre frame [N,H,W,3])."""
  if frames.ndim == 4 and temporal_window == 1:
    frames = frames[:, None]
  if frames.ndim != 5 or frames.shape[1] != temporal_window or frames.shape[-1] != 3:
    want = "[N, H, W, 3] or [N, 1, H, W, 3]" if temporal_window == 1 else (
        f"[N, {temporal_window}, H, W, 3]")
    raise ValueError(
        f"generator with temporal_window={temporal_window} expects frames {want}; "
        f"got shape {frames.shape}")
  if not jnp.issubdtype(frames.dtype, jnp.floating):
    raise TypeError(f"generator expects float frames in [0, 1]; got {frames.dtype} "
                    "(convert uint8 with x / 255)")
  n, t, h, w, c = frames.shape
  stacked = jnp.moveaxis(frames, 1, 3).reshape(n, h, w, t * c)
  return stacked, frames[:, t // 2]


def pad_to_multiple(x: Array, multiple: int, mode: str = "reflect") -> Array:
  """Pads H and W (bottom/right) of an NHWC array up to a multiple of ``multiple``."""
  h, w = x.shape[1:3]
  ph, pw = -h % multiple, -w % multiple
  if ph == 0 and pw == 0:
    return x
  if mode == "reflect" and (ph >= h or pw >= w):
    mode = "edge"  # reflect needs more pixels than it pads (tiny frames)
  return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)


def upsample_nearest(x: Array, factor: int = 2) -> Array:
  """Nearest-neighbour upsampling of NHWC by an integer factor."""
  n, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (n, h, factor, w, factor, c))
  return x.reshape(n, h * factor, w * factor, c)


def clip_straight_through(x: Array) -> Array:
  """Clip to [0, 1] in the forward pass; identity gradient in the backward pass."""
  return x + jax.lax.stop_gradient(jnp.clip(x, 0.0, 1.0) - x)


def _scale_widths(width: int, num_scales: int, multiplier: int) -> list[int]:
  return [width * multiplier ** s for s in range(num_scales + 1)]


class ResidualBlock(nn.Module):
  """conv3x3 -> ReLU -> conv3x3 (zero-init) + skip."""

  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    y = nn.relu(nn.Conv(self.features, (3, 3), dtype=self.dtype)(x))
    y = nn.Conv(self.features, (3, 3), kernel_init=nn.initializers.zeros, dtype=self.dtype)(y)
    return x + y


class InvertedResidual(nn.Module):
  """MobileNetV2 block: 1x1 expand -> ReLU6 -> depthwise 3x3 -> ReLU6 -> 1x1 project (zero-init)."""

  features: int
  expansion: int = 4
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    hidden = self.features * self.expansion
    y = nn.relu6(nn.Conv(hidden, (1, 1), dtype=self.dtype)(x))
    y = nn.relu6(nn.Conv(hidden, (3, 3), feature_group_count=hidden, dtype=self.dtype)(y))
    y = nn.Conv(self.features, (1, 1), kernel_init=nn.initializers.zeros, dtype=self.dtype)(y)
    return x + y


class SeparableConv(nn.Module):
  """Depthwise 3x3 followed by a pointwise 1x1 (the cheap conv of the fast generator)."""

  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    c = x.shape[-1]
    x = nn.Conv(c, (3, 3), feature_group_count=c, dtype=self.dtype)(x)
    return nn.Conv(self.features, (1, 1), dtype=self.dtype)(x)


class Generator(nn.Module):
  """Encoder / residual trunk / NN-upsampling decoder with a global residual.

  Attributes:
    kind: "residual" (Galteri-style, full 3x3 convs) or "fast" (inverted-residual blocks and
      depthwise-separable decoder convs, for real-time use; ~32 channels).
    width: channels at full resolution.
    num_scales: number of stride-2 downsamplings (frames are padded to ``2**num_scales``).
    num_blocks: residual (or inverted-residual) blocks at the coarsest scale.
    temporal_window: T input frames (odd), stacked on channels; the centre frame is predicted.
    channel_multiplier: channel growth per scale (project choice: 2).
    expansion: inverted-residual expansion factor (fast kind only).
    pad_mode: "reflect" or "edge" padding to the stride multiple.
    dtype: computation dtype (params stay float32).
  """

  kind: str = "residual"
  width: int = 64
  num_scales: int = 2
  num_blocks: int = 8
  temporal_window: int = 1
  channel_multiplier: int = 2
  expansion: int = 4
  pad_mode: str = "reflect"
  dtype: Any = jnp.float32

  @property
  def stride(self) -> int:
    return 2 ** self.num_scales

  @nn.compact
  def __call__(self, frames: Array, clip: bool = True) -> Array:
    """Enhances ``frames`` ([N,H,W,3] or [N,T,H,W,3], [0,1]); returns [N,H,W,3].

    Args:
      frames: compressed frames, float in [0, 1].
      clip: clip the output to [0, 1] (straight-through gradient). False returns the raw sum.
    """
    x, centre = stack_frames(frames, self.temporal_window)
    h, w = x.shape[1:3]
    x = pad_to_multiple(x, self.stride, self.pad_mode).astype(self.dtype)
    widths = _scale_widths(self.width, self.num_scales, self.channel_multiplier)
    fast = self.kind == "fast"
    conv = lambda f, **kw: nn.Conv(f, (3, 3), dtype=self.dtype, **kw)

    x = nn.relu(conv(widths[0], name="stem")(x))
    for s in range(1, self.num_scales + 1):
      x = nn.relu(conv(widths[s], strides=(2, 2), name=f"down{s}")(x))
    for b in range(self.num_blocks):
      if fast:
        x = InvertedResidual(widths[-1], self.expansion, dtype=self.dtype, name=f"block{b}")(x)
      else:
        x = ResidualBlock(widths[-1], dtype=self.dtype, name=f"block{b}")(x)
    for s in range(self.num_scales - 1, -1, -1):
      x = upsample_nearest(x)
      for i in range(2):
        layer = SeparableConv if fast else (lambda f, **kw: conv(f, **kw))
        x = nn.relu(layer(widths[s], name=f"up{s}_{i}")(x))
    correction = nn.Conv(3, (3, 3), kernel_init=nn.initializers.zeros, dtype=self.dtype,
                         name="out")(x)
    y = centre.astype(jnp.float32) + correction[:, :h, :w].astype(jnp.float32)
    return clip_straight_through(y) if clip else y


def make_generator(config: Any) -> Generator:
  """Builds the generator from ``config.generator`` (kind, width, num_scales, num_blocks, …)."""
  get = config.get if hasattr(config, "get") else lambda k, d=None: getattr(config, k, d)
  kind = get("kind", "residual")
  if kind not in KINDS:
    raise ValueError(f"generator.kind must be one of {KINDS}; got {kind!r}")
  t = int(get("temporal_window", 1))
  if t < 1 or t % 2 == 0:
    raise ValueError(f"generator.temporal_window must be odd and >= 1 (1, 3, 5); got {t}")
  for key in ("width", "num_blocks"):
    if int(get(key, 1)) < 1:
      raise ValueError(f"generator.{key} must be >= 1; got {get(key)}")
  if int(get("num_scales", 0)) < 0:
    raise ValueError(f"generator.num_scales must be >= 0; got {get('num_scales')}")
  return Generator(
      kind=kind,
      width=int(get("width", 32 if kind == "fast" else 64)),
      num_scales=int(get("num_scales", 2)),
      num_blocks=int(get("num_blocks", 8)),
      temporal_window=t,
      channel_multiplier=int(get("channel_multiplier", 2)),
      expansion=int(get("expansion", 4)),
      pad_mode=get("pad_mode", "reflect"),
  )
