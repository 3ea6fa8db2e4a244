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

CPU speed (same parameters and results, only the arithmetic is arranged differently): the first
decoder conv of the residual kind runs at the low resolution with the upsampling folded into its
taps (``UpsampleConv3x3``), and the fast kind's depthwise convs default to nine shifted
multiply-adds (``DepthwiseConv3x3``, ``depthwise_impl``).

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

from jaxenhance.models import winograd

Array = jax.Array
ModuleDef = Callable[..., nn.Module]

KINDS = ("residual", "fast")
CONV_IMPLS = ("xla", "winograd", "auto")
# Depthwise 3x3 implementations (same parameters, same result to float rounding). XLA:CPU's
# grouped convolutions (feature_group_count=C) are ~10x slower than PyTorch's (3x3, 512 channels,
# 90x160: 0.47 s vs 0.046 s); nine shifted multiply-adds fuse into one elementwise loop (0.012 s).
# On TPU/GPU both are fine.
DEPTHWISE_IMPLS = ("shift_add", "grouped_conv")
_NHWC = ("NHWC", "HWIO", "NHWC")
# What the output conv corrects. "rgb": three channels, free to change colour. "luma": one
# channel broadcast to R, G, B, so chroma (and hue) stay as decoded. Trained on the quickstart's
# small set, "rgb" learned colour casts on saturated colours it had rarely seen (up to 22 levels
# on flat cyan) and lost PSNR on held-out footage; see the README's model card.
CORRECTIONS = ("rgb", "luma")
# What the generator may be told about its input. "codec": which codec made it (the container
# says so for video, the file type for JPEG), so one network can treat SVT-AV1's smooth blur
# differently from H.264's blocking: a per-codec scale and shift of the trunk's features after
# every block (FiLM), from a table that starts at zero, so a conditioned generator initialised
# from an unconditioned export computes exactly what it did. "codec_qp": the same, plus the QP
# map the decoder exported (``quantiser.pixel_map``) as two more input channels, normalised QP
# and a known-mask, read by weights that start at zero (so it too starts as its export).
CONDITIONINGS = ("none", "codec", "codec_qp")
# Row 0 of the FiLM table is "unknown" (images, other codecs, conditioning dropout in training);
# row i + 1 is ``codecs.CODECS[i]``.
CONDITION_CODECS = ("unknown", "h264", "hevc", "av1", "vp9", "jpeg")


# QP map channels: (qp - QP_CENTRE) / QP_SCALE where known (H.264's 0-51: about -4 .. +2.4),
# 0 where unknown; ``QP_UNKNOWN`` (and anything outside 0..254) marks unknown pixels.
QP_CENTRE, QP_SCALE, QP_UNKNOWN = 32.0, 8.0, 255


def codec_index(codec: str | None) -> int:
  """The FiLM row of ``codec`` (a ``CONDITION_CODECS`` name); unknown names map to 0."""
  return CONDITION_CODECS.index(codec) if codec in CONDITION_CODECS else 0


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


def qp_channels(qp_map: Array | None, n: int, h: int, w: int) -> Array:
  """float32 [N, H, W, 2]: normalised QP and known-mask of ``qp_map`` ([N, H, W] QP per pixel,
  ``QP_UNKNOWN`` where unknown; None: unknown everywhere)."""
  if qp_map is None:
    return jnp.zeros((n, h, w, 2), jnp.float32)
  qp = jnp.broadcast_to(jnp.asarray(qp_map).astype(jnp.float32), (n, h, w))
  known = (qp >= 0) & (qp < QP_UNKNOWN)
  normalised = jnp.where(known, (qp - QP_CENTRE) / QP_SCALE, 0.0)
  return jnp.stack([normalised, known.astype(jnp.float32)], axis=-1)


def pad_to_multiple(x: Array, multiple: int, mode: str = "reflect") -> Array:
  """Pads H and W (bottom/right) of an NHWC array up to a multiple of ``multiple``."""
  h, w = x.shape[1:3]
  ph, pw = -h % multiple, -w % multiple
  if ph == 0 and pw == 0:
    return x
  if mode == "reflect" and (ph >= h or pw >= w):
    mode = "edge"  # reflect needs more pixels than it pads (tiny frames)
  return jnp.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)


def remove_local_mean(x: Array, size: int) -> Array:
  """``x`` minus its mean over ``size`` x ``size`` windows (reflect-padded): a high-pass that is
  translation-equivariant, so tiled enhancement still matches whole frames."""
  r = size // 2
  padded = jnp.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
  total = jax.lax.reduce_window(padded, 0.0, jax.lax.add, (1, size, size, 1), (1, 1, 1, 1),
                                "VALID")
  return x - total / (size * size)


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


def depthwise3x3_shift_add(x: Array, kernel: Array) -> Array:
  """Depthwise 3x3 conv, SAME zero padding, as nine shifted multiply-adds.

  Args:
    x: [N, H, W, C].
    kernel: [3, 3, 1, C] (the layout of ``nn.Conv(C, (3, 3), feature_group_count=C)``).

  Returns:
    [N, H, W, C], no bias.
  """
  h, w = x.shape[1:3]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  out = xp[:, :h, :w] * kernel[0, 0, 0]
  for i in range(3):
    for j in range(3):
      if i or j:
        out = out + xp[:, i:i + h, j:j + w] * kernel[i, j, 0]
  return out


class DepthwiseConv3x3(nn.Module):
  """Depthwise 3x3 conv with SAME padding and a bias.

  Parameters (names, shapes, initialisers) are those of
  ``nn.Conv(C, (3, 3), feature_group_count=C)``, so checkpoints of either implementation load
  into the other.

  Attributes:
    impl: "shift_add" (nine shifted multiply-adds) or "grouped_conv" (XLA's grouped conv).
    dtype: computation dtype (params stay ``param_dtype``).
  """

  impl: str = "shift_add"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Array] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if self.impl not in DEPTHWISE_IMPLS:
      raise ValueError(f"depthwise_impl must be one of {DEPTHWISE_IMPLS}; got {self.impl!r}")
    c = x.shape[-1]
    kernel = self.param("kernel", self.kernel_init, (3, 3, 1, c), self.param_dtype)
    bias = self.param("bias", self.bias_init, (c,), self.param_dtype)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    if self.impl == "shift_add":
      y = depthwise3x3_shift_add(x, kernel)
    else:
      y = jax.lax.conv_general_dilated(x, kernel, (1, 1), ((1, 1), (1, 1)),
                                       dimension_numbers=_NHWC, feature_group_count=c)
    return y + bias


def fold_nearest_up_kernel(kernel: Array) -> list[list[Array]]:
  """The 2x2 kernels a 3x3 kernel applies after NN x2 upsampling, per output phase (a, b).

  Output row 2i reads upsampled rows 2i-1, 2i, 2i+1, i.e. input rows i-1, i, i: taps
  (k0, k1 + k2) on input rows (i-1, i). Output row 2i+1 reads input rows i, i, i+1: taps
  (k0 + k1, k2) on rows (i, i+1). Columns likewise.

  Args:
    kernel: [3, 3, Cin, Cout].

  Returns:
    ``k[a][b]``: [2, 2, Cin, Cout] for output pixels (2i + a, 2j + b).
  """
  rows = [jnp.stack([kernel[0], kernel[1] + kernel[2]]),
          jnp.stack([kernel[0] + kernel[1], kernel[2]])]
  return [[jnp.stack([r[:, 0], r[:, 1] + r[:, 2]], 1),
           jnp.stack([r[:, 0] + r[:, 1], r[:, 2]], 1)] for r in rows]


class UpsampleConv3x3(nn.Module):
  """Nearest-neighbour x2 upsampling then a 3x3 SAME conv, computed at the low resolution.

  Same result as ``nn.Conv(features, (3, 3))(upsample_nearest(x))`` (to float rounding) and the
  same parameters. Each output phase (a, b) is a 2x2 conv of the low-resolution input with
  summed taps (``fold_nearest_up_kernel``): 16 instead of 36 multiply-adds per input pixel and
  channel pair, and the 4x larger upsampled tensor is never written. The four phases run as one
  2x2 conv with 4 x features outputs (one large matrix product, ~2x faster on XLA:CPU than four
  small ones); phase (a, b) then reads its outputs at offset (a, b).
  """

  features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  kernel_init: Callable[..., Array] = nn.initializers.lecun_normal()
  bias_init: Callable[..., Array] = nn.initializers.zeros_init()

  @nn.compact
  def __call__(self, x: Array) -> Array:
    n, h, w, c = x.shape
    f = self.features
    kernel = self.param("kernel", self.kernel_init, (3, 3, c, f), self.param_dtype)
    bias = self.param("bias", self.bias_init, (f,), self.param_dtype)
    # Fold in the parameter dtype: summed taps would lose bits in bfloat16.
    folded = fold_nearest_up_kernel(kernel)
    folded = jnp.concatenate([folded[a][b] for a in range(2) for b in range(2)], axis=-1)
    x, folded, bias = nn.dtypes.promote_dtype(x, folded, bias, dtype=self.dtype)
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    z = jax.lax.conv_general_dilated(xp, folded, (1, 1), "VALID", dimension_numbers=_NHWC)
    # z[:, r, c] covers padded rows r, r+1: phase (a, b) of output (i, j) is z[:, i+a, j+b].
    phases = [[z[:, a:a + h, b:b + w, (2 * a + b) * f:(2 * a + b + 1) * f] for b in range(2)]
              for a in range(2)]
    y = jnp.stack([jnp.stack(row, 3) for row in phases], 2)  # [N, H, 2, W, 2, F]
    return y.reshape(n, 2 * h, 2 * w, f) + bias


def block_conv_fn(impl: str) -> Callable[..., Array] | None:
  """The ``conv_general_dilated`` of the residual blocks for ``impl`` (None: XLA's)."""
  if impl not in CONV_IMPLS:
    raise ValueError(f"generator.conv_impl must be one of {CONV_IMPLS}; got {impl!r}")
  if impl == "auto":  # Winograd pays on CPU; accelerators' native convolutions are faster
    impl = "winograd" if jax.default_backend() == "cpu" else "xla"
  return winograd.winograd_conv if impl == "winograd" else None


class ResidualBlock(nn.Module):
  """conv3x3 -> ReLU -> conv3x3 (zero-init) + skip."""

  features: int
  conv_impl: str = "xla"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    conv = block_conv_fn(self.conv_impl)
    y = nn.relu(nn.Conv(self.features, (3, 3), dtype=self.dtype, conv_general_dilated=conv)(x))
    y = nn.Conv(self.features, (3, 3), kernel_init=nn.initializers.zeros, dtype=self.dtype,
                conv_general_dilated=conv)(y)
    return x + y


class InvertedResidual(nn.Module):
  """MobileNetV2 block: 1x1 expand -> ReLU6 -> depthwise 3x3 -> ReLU6 -> 1x1 project (zero-init)."""

  features: int
  expansion: int = 4
  depthwise_impl: str = "shift_add"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    hidden = self.features * self.expansion
    y = nn.relu6(nn.Conv(hidden, (1, 1), dtype=self.dtype, name="Conv_0")(x))
    y = nn.relu6(DepthwiseConv3x3(self.depthwise_impl, dtype=self.dtype, name="Conv_1")(y))
    y = nn.Conv(self.features, (1, 1), kernel_init=nn.initializers.zeros, dtype=self.dtype,
                name="Conv_2")(y)
    return x + y


class SeparableConv(nn.Module):
  """Depthwise 3x3 followed by a pointwise 1x1 (the cheap conv of the fast generator)."""

  features: int
  depthwise_impl: str = "shift_add"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x = DepthwiseConv3x3(self.depthwise_impl, dtype=self.dtype, name="Conv_0")(x)
    return nn.Conv(self.features, (1, 1), dtype=self.dtype, name="Conv_1")(x)


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
    depthwise_impl: depthwise 3x3 implementation of the fast kind, see ``DEPTHWISE_IMPLS``.
    conv_impl: the residual blocks' 3x3 convs: "xla" (native, for training), "winograd"
      (``models/winograd.py``, fewer multiplies at >= 256 channels) or "auto" (Winograd on CPU,
      native elsewhere; what enhancing uses). The parameters are the same for all three.
    correction: "rgb" (the output conv predicts a correction per channel) or "luma" (one
      correction added to R, G and B alike: colours cannot move, only lightness; see
      ``CORRECTIONS``).
    conditioning: "none", "codec" or "codec_qp" (see ``CONDITIONINGS``): "codec" reads the
      call's ``codec`` ([N] int, ``CONDITION_CODECS`` rows; None: unknown), "codec_qp" also its
      ``qp_map`` ([N, H, W], the decoder's QP per pixel; None: unknown).
    highpass: if > 1 (odd), the correction loses its local mean over ``highpass`` x
      ``highpass`` windows (``remove_local_mean``): compression artifacts (blocking, ringing,
      mosquito noise) live at high frequencies, and a slow drift of brightness or colour is
      never what a codec did wrong.
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
  depthwise_impl: str = "shift_add"
  conv_impl: str = "xla"
  correction: str = "rgb"
  highpass: int = 0
  conditioning: str = "none"
  dtype: Any = jnp.float32

  @property
  def stride(self) -> int:
    return 2 ** self.num_scales

  @property
  def reads_qp(self) -> bool:
    """Whether the call reads ``qp_map`` (``conditioning="codec_qp"``)."""
    return self.conditioning == "codec_qp"

  @nn.compact
  def __call__(self, frames: Array, clip: bool = True, codec: Array | None = None,
               qp_map: Array | None = None) -> Array:
    """Enhances ``frames`` ([N,H,W,3] or [N,T,H,W,3], [0,1]); returns [N,H,W,3].

    Args:
      frames: compressed frames, float in [0, 1].
      clip: clip the output to [0, 1] (straight-through gradient). False returns the raw sum.
      codec: [N] (or scalar) ``CONDITION_CODECS`` row per frame; read only by a generator with
        ``conditioning`` "codec" or "codec_qp" (None: unknown).
      qp_map: [N, H, W] (float or uint8) the decoder's QP of each pixel of the centre frame,
        ``QP_UNKNOWN`` where unknown; read only with ``conditioning="codec_qp"`` (None: unknown).
    """
    x, centre = stack_frames(frames, self.temporal_window)
    n, h, w = x.shape[:3]
    x = pad_to_multiple(x, self.stride, self.pad_mode).astype(self.dtype)
    widths = _scale_widths(self.width, self.num_scales, self.channel_multiplier)
    fast = self.kind == "fast"
    conv = lambda f, **kw: nn.Conv(f, (3, 3), dtype=self.dtype, **kw)

    film = self._film(codec, x.shape[0], widths[-1])
    stem = conv(widths[0], name="stem")(x)
    if self.reads_qp:
      # The QP channels concatenated to the input, as a separate conv summed into the stem's
      # (the same linear map, split by input channel): a plain or codec-only export keeps its
      # parameter tree and the new zero-initialised kernel is the only addition.
      qp = pad_to_multiple(qp_channels(qp_map, n, h, w), self.stride, self.pad_mode)
      stem = stem + conv(widths[0], use_bias=False, kernel_init=nn.initializers.zeros,
                         name="qp_stem")(qp.astype(self.dtype))
    x = nn.relu(stem)
    for s in range(1, self.num_scales + 1):
      x = nn.relu(conv(widths[s], strides=(2, 2), name=f"down{s}")(x))
    for b in range(self.num_blocks):
      if fast:
        x = InvertedResidual(widths[-1], self.expansion, self.depthwise_impl, dtype=self.dtype,
                             name=f"block{b}")(x)
      else:
        x = ResidualBlock(widths[-1], self.conv_impl, dtype=self.dtype, name=f"block{b}")(x)
      if film is not None:
        scale, shift = film[:, b, 0], film[:, b, 1]
        x = x * (1.0 + scale[:, None, None]) + shift[:, None, None]
    for s in range(self.num_scales - 1, -1, -1):
      if fast:
        x = upsample_nearest(x)
        for i in range(2):
          x = nn.relu(SeparableConv(widths[s], self.depthwise_impl, dtype=self.dtype,
                                    name=f"up{s}_{i}")(x))
      else:  # the upsampling is folded into the first conv (same params, less work)
        x = nn.relu(UpsampleConv3x3(widths[s], dtype=self.dtype, name=f"up{s}_0")(x))
        x = nn.relu(conv(widths[s], name=f"up{s}_1")(x))
    channels = 1 if self.correction == "luma" else 3
    correction = nn.Conv(channels, (3, 3), kernel_init=nn.initializers.zeros, dtype=self.dtype,
                         name="out")(x)
    if self.highpass > 1:
      correction = remove_local_mean(correction, self.highpass)
    # A luma correction is one value added to R, G and B alike: since the luma weights of
    # BT.601 and BT.709 sum to one, that moves Y by the value and leaves Cb, Cr unchanged.
    y = centre.astype(jnp.float32) + correction[:, :h, :w].astype(jnp.float32)
    return clip_straight_through(y) if clip else y

  def _film(self, codec: Array | None, n: int, features: int) -> Array | None:
    """Per-frame FiLM [N, num_blocks, 2, features] (scale - 1, shift) of ``codec``, or None."""
    if self.conditioning == "none":
      return None
    table = nn.Embed(len(CONDITION_CODECS), self.num_blocks * 2 * features,
                     embedding_init=nn.initializers.zeros, name="codec_film")
    codec = jnp.zeros((n,), jnp.int32) if codec is None else jnp.broadcast_to(
        jnp.asarray(codec, jnp.int32), (n,))
    return table(codec).reshape(n, self.num_blocks, 2, features).astype(self.dtype)


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
  depthwise_impl = get("depthwise_impl", "shift_add")
  if depthwise_impl not in DEPTHWISE_IMPLS:
    raise ValueError(f"generator.depthwise_impl must be one of {DEPTHWISE_IMPLS}; "
                     f"got {depthwise_impl!r}")
  conv_impl = get("conv_impl", "xla")
  block_conv_fn(conv_impl)  # validates
  correction = get("correction", "rgb")  # exports from before this option corrected RGB
  if correction not in CORRECTIONS:
    raise ValueError(f"generator.correction must be one of {CORRECTIONS}; got {correction!r}")
  highpass = int(get("highpass", 0))
  if highpass < 0 or (highpass > 1 and highpass % 2 == 0):
    raise ValueError(f"generator.highpass must be 0 (off) or an odd window size; got {highpass}")
  conditioning = get("conditioning", "none")  # exports from before this option had none
  if conditioning not in CONDITIONINGS:
    raise ValueError(f"generator.conditioning must be one of {CONDITIONINGS}; "
                     f"got {conditioning!r}")
  return Generator(
      kind=kind,
      width=int(get("width", 32 if kind == "fast" else 64)),
      num_scales=int(get("num_scales", 2)),
      num_blocks=int(get("num_blocks", 8)),
      temporal_window=t,
      channel_multiplier=int(get("channel_multiplier", 2)),
      expansion=int(get("expansion", 4)),
      pad_mode=get("pad_mode", "reflect"),
      depthwise_impl=depthwise_impl,
      conv_impl=conv_impl,
      correction=correction,
      highpass=highpass,
      conditioning=conditioning,
  )
