"""PyTorch mirror of jaxenhance's W-GAN-GP training step, for benchmarks only (never imported by
the library).

It rebuilds, in plain torch (NCHW, CPU, eager), the same networks as the Flax modules:

* :class:`Generator` = ``models.generator.Generator(kind="residual")``, with the options the
  shipped configs use: any ``num_scales`` (0: the trunk at full resolution), ``correction``
  "rgb" or "luma" (one channel added to R, G and B), ``highpass`` (the correction loses its
  local mean, reflect-padded);
* :class:`VGGTrunk` = ``models.vgg.VGG16`` cut at the deepest tap (ImageNet normalisation
  inside), optionally keeping only selected channels of each tap (``critic.channel_map``);
* :class:`CriticHead` = ``models.critic.Critic`` (1x1 tap projections, bilinear resize to the
  shallowest tap's resolution, RGB stem on the space-to-depth of the image at that resolution,
  stride-2 convs with per-sample LayerNorm, mean pool, dense), for any taps: the selected
  relu2_1 + relu2_2 (+ relu3_2) read the image at half resolution;

and :func:`load_flax` copies Flax parameters into them, so one forward can be compared with the
JAX one. Flax's ``padding="SAME"`` on a stride-2 3x3 conv pads (0, 1), not (1, 1) as torch's
``padding=1`` does, so those convs pad explicitly. ``critic.space_to_depth`` orders the channels
(fy, fx, c), ``F.pixel_unshuffle`` (c, fy, fx), so :func:`space_to_depth` permutes by hand.

:class:`TorchWGAN` is the W-GAN-GP step as it is usually written in PyTorch (Gulrajani et al.'s
reference loop): per critic iteration ``fake = G(lq).detach()``, VGG + critic on real and on fake,
the interpolates' gradient with ``autograd.grad(create_graph=True)``, an Adam step; then a
generator step with the critic frozen. As in ``jaxenhance.steps`` the content loss reads the
generator's raw output and the critic and VGG its clipped one. ``reuse=True`` instead computes
``G(lq)`` and the VGG taps of real and fake once per batch, as ``jaxenhance.steps`` does with
``train.reuse_forward`` (same math, less work): the critic iterations read them detached, and the
generator update backpropagates through that same graph instead of running G and VGG again. It
separates what comes from doing less from what comes from the compiler.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_VGG_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
LN_EPS = 1e-6  # flax.linen.LayerNorm default
NORM_EPS = 1e-12  # jaxenhance.losses._NORM_EPS


def _pad_same(x: torch.Tensor, stride: int, kernel: int = 3) -> torch.Tensor:
  """XLA "SAME" padding (e.g. (0, 1) for a 3x3 stride-2 conv on an even size)."""
  pads = []
  for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    pads += [total // 2, total - total // 2]
  return F.pad(x, pads)


class Conv(nn.Module):
  """3x3 (or 1x1) conv with Flax/XLA "SAME" padding for any stride."""

  def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
    super().__init__()
    self.stride, self.kernel = stride, kernel
    self.conv = nn.Conv2d(cin, cout, kernel, stride=stride,
                          padding=(kernel // 2) if stride == 1 else 0)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if self.stride != 1:
      x = _pad_same(x, self.stride, self.kernel)
    return self.conv(x)


# --------------------------------------------------------------------------- generator


class ResidualBlock(nn.Module):
  def __init__(self, c: int):
    super().__init__()
    self.conv0, self.conv1 = Conv(c, c), Conv(c, c)

  def forward(self, x):
    return x + self.conv1(F.relu(self.conv0(x)))


def remove_local_mean(x: torch.Tensor, size: int) -> torch.Tensor:
  """``generator.remove_local_mean``: ``x`` minus its reflect-padded ``size``² window mean."""
  r = size // 2
  padded = F.pad(x, (r, r, r, r), mode="reflect")
  return x - F.avg_pool2d(padded, size, stride=1)


class Generator(nn.Module):
  """``models.generator.Generator(kind="residual", temporal_window=1)`` for sizes divisible by
  ``2**num_scales`` (the benchmark's crops; no padding needed)."""

  def __init__(self, width: int, num_scales: int, num_blocks: int, multiplier: int = 2,
               correction: str = "rgb", highpass: int = 0):
    super().__init__()
    if correction not in ("rgb", "luma"):
      raise ValueError(f"correction must be rgb or luma; got {correction!r}")
    self.widths = [width * multiplier ** s for s in range(num_scales + 1)]
    self.num_scales, self.highpass = num_scales, highpass
    self.stem = Conv(3, self.widths[0])
    self.down = nn.ModuleList(Conv(self.widths[s - 1], self.widths[s], stride=2)
                              for s in range(1, num_scales + 1))
    self.blocks = nn.ModuleList(ResidualBlock(self.widths[-1]) for _ in range(num_blocks))
    up = {}
    cin = self.widths[-1]
    for s in range(num_scales - 1, -1, -1):
      for i in range(2):
        up[f"up{s}_{i}"] = Conv(cin, self.widths[s])
        cin = self.widths[s]
    self.up = nn.ModuleDict(up)
    # "luma": one channel, broadcast over R, G, B by the addition below.
    self.out = Conv(self.widths[0], 1 if correction == "luma" else 3)

  def forward(self, frames: torch.Tensor, clip: bool = True) -> torch.Tensor:
    """``Generator.apply(..., clip=clip)``: straight-through clip to [0, 1], or the raw sum."""
    if frames.shape[-1] % 2 ** self.num_scales or frames.shape[-2] % 2 ** self.num_scales:
      raise NotImplementedError("mirror needs sizes divisible by 2**num_scales (no padding)")
    x = F.relu(self.stem(frames))
    for conv in self.down:
      x = F.relu(conv(x))
    for block in self.blocks:
      x = block(x)
    for s in range(self.num_scales - 1, -1, -1):
      x = F.interpolate(x, scale_factor=2, mode="nearest")
      for i in range(2):
        x = F.relu(self.up[f"up{s}_{i}"](x))
    correction = self.out(x)
    if self.highpass > 1:
      correction = remove_local_mean(correction, self.highpass)
    y = frames + correction
    return y + (y.clamp(0.0, 1.0) - y).detach() if clip else y


# --------------------------------------------------------------------------- VGG and critic


def vgg_layer_names() -> list[str]:
  names = []
  for block, count, _ in _VGG_BLOCKS:
    for i in range(1, count + 1):
      names += [f"conv{block}_{i}", f"relu{block}_{i}"]
    names.append(f"pool{block}")
  return names


class VGGTrunk(nn.Module):
  """torchvision's VGG-16 ``features`` up to the deepest of ``taps``; frozen. ``channels``
  (``{tap: indices}``, ``critic.channel_map``) keeps only those channels of a tap."""

  def __init__(self, taps: Sequence[str], channels: Mapping[str, Sequence[int]] | None = None):
    super().__init__()
    names = vgg_layer_names()
    self.taps = tuple(taps)
    self.index = {n: torch.tensor(sorted(i), dtype=torch.long) for n, i in (channels or {}).items()}
    self.names = names[:max(names.index(t) for t in taps) + 1]
    convs, cin = [], 3
    for block, count, cout in _VGG_BLOCKS:
      for _ in range(count):
        convs.append(nn.Conv2d(cin, cout, 3, padding=1))
        cin = cout
    n_convs = sum(1 for n in self.names if n.startswith("conv"))
    self.convs = nn.ModuleList(convs[:n_convs])
    self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
    self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
    self.requires_grad_(False)

  def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
    x = (images - self.mean) / self.std
    out, k = {}, 0
    for name in self.names:
      if name.startswith("conv"):
        x = self.convs[k](x)
        k += 1
      elif name.startswith("relu"):
        x = F.relu(x)
      else:
        x = F.max_pool2d(x, 2, 2)
      if name in self.taps:
        out[name] = x.index_select(1, self.index[name]) if name in self.index else x
    return out


class LayerNorm(nn.Module):
  """Per-sample normalisation over (C, H, W) with per-channel scale and bias (Flax's layout)."""

  def __init__(self, c: int):
    super().__init__()
    self.scale, self.bias = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c))

  def forward(self, x):
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.square().mean(dim=(1, 2, 3), keepdim=True) - mean.square()  # Flax's fast variance
    x = (x - mean) * torch.rsqrt(var.clamp_min(0) + LN_EPS)
    return x * self.scale.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def space_to_depth(x: torch.Tensor, factor: int) -> torch.Tensor:
  """``critic.space_to_depth`` in NCHW: [N, C, H, W] -> [N, f*f*C, H//f, W//f], channels in
  JAX's (fy, fx, c) order (``F.pixel_unshuffle`` gives (c, fy, fx): other stem weights)."""
  if factor == 1:
    return x
  n, c, h, w = x.shape
  h, w = h // factor, w // factor
  x = x[:, :, :h * factor, :w * factor].reshape(n, c, h, factor, w, factor)
  return x.permute(0, 3, 5, 1, 2, 4).reshape(n, factor * factor * c, h, w)


class CriticHead(nn.Module):
  """``models.critic.Critic`` with norm="layer" and the RGB stem: ``(images, taps) -> [N]``.

  ``channels[n]`` is the number of channels tap ``n`` has as the critic reads it (after any
  channel selection); ``strides`` are ``vgg.STRIDES``.
  """

  def __init__(self, layers: Sequence[str], channels: Mapping[str, int], strides: Mapping[str, int],
               width: int, proj_channels: int, num_downsamples: int):
    super().__init__()
    self.layers = tuple(layers)
    # The trunk runs at the shallowest tap's resolution; the stem reads the image there.
    self.factor = min((strides[n] for n in self.layers), default=1)
    self.proj = nn.ModuleDict({n: nn.Conv2d(channels[n], proj_channels, 1) for n in self.layers})
    self.rgb_stem = Conv(3 * self.factor ** 2, width)
    cin = proj_channels * len(self.layers) + width
    self.down, self.norms = nn.ModuleList(), nn.ModuleList()
    for i in range(num_downsamples):
      self.down.append(Conv(cin, width * 2 ** i, stride=2))
      self.norms.append(LayerNorm(width * 2 ** i))
      cin = width * 2 ** i
    self.head = nn.Linear(cin, 1)

  def forward(self, images: torch.Tensor, taps: Mapping[str, torch.Tensor]) -> torch.Tensor:
    size = (images.shape[-2] // self.factor, images.shape[-1] // self.factor)
    feats = []
    for name in self.layers:
      t = self.proj[name](taps[name])
      if tuple(t.shape[-2:]) != size:  # deeper taps: upsampled, half-pixel centres as in JAX
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
      feats.append(t)
    feats.append(self.rgb_stem(space_to_depth(images, self.factor)))
    x = F.leaky_relu(torch.cat(feats, 1), 0.2)
    for conv, norm in zip(self.down, self.norms):
      x = F.leaky_relu(norm(conv(x)), 0.2)
    return self.head(x.mean(dim=(2, 3)))[:, 0]


# --------------------------------------------------------------------------- Flax -> torch


def _set_conv(conv: nn.Conv2d, p: Mapping[str, Any]) -> None:
  conv.weight.data = torch.from_numpy(np.asarray(p["kernel"], np.float32).transpose(3, 2, 0, 1).copy())
  conv.bias.data = torch.from_numpy(np.asarray(p["bias"], np.float32).copy())


def load_flax(g: Generator, d: CriticHead, vgg: VGGTrunk, g_vars: Mapping, d_vars: Mapping,
              vgg_vars: Mapping) -> None:
  """Copies Flax variables (``{"params": ...}``) into the torch modules, in place."""
  gp, dp, vp = g_vars["params"], d_vars["params"], vgg_vars["params"]
  _set_conv(g.stem.conv, gp["stem"])
  for s, conv in enumerate(g.down, start=1):
    _set_conv(conv.conv, gp[f"down{s}"])
  for b, block in enumerate(g.blocks):
    _set_conv(block.conv0.conv, gp[f"block{b}"]["Conv_0"])
    _set_conv(block.conv1.conv, gp[f"block{b}"]["Conv_1"])
  for name, conv in g.up.items():
    _set_conv(conv.conv, gp[name])
  _set_conv(g.out.conv, gp["out"])
  for name, conv in d.proj.items():
    _set_conv(conv, dp[f"proj_{name}"])
  _set_conv(d.rgb_stem.conv, dp["rgb_stem"])
  trunk = dp["trunk"]
  for i, (conv, norm) in enumerate(zip(d.down, d.norms)):
    _set_conv(conv.conv, trunk[f"down{i}"])
    norm.scale.data = torch.from_numpy(np.asarray(trunk[f"norm{i}"]["scale"]).copy())
    norm.bias.data = torch.from_numpy(np.asarray(trunk[f"norm{i}"]["bias"]).copy())
  d.head.weight.data = torch.from_numpy(np.asarray(trunk["head"]["kernel"]).T.copy())
  d.head.bias.data = torch.from_numpy(np.asarray(trunk["head"]["bias"]).copy())
  for i, conv in enumerate(vgg.convs):
    _set_conv(conv, vp[f"Conv_{i}"])


def num_params(module: nn.Module) -> int:
  return sum(p.numel() for p in module.parameters())


def nchw(x: np.ndarray) -> torch.Tensor:
  return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32).transpose(0, 3, 1, 2)))


# --------------------------------------------------------------------------- the W-GAN-GP step


def clip01(x: torch.Tensor) -> torch.Tensor:
  """``jnp.clip(x, 0, 1)`` with its gradient: min(max(x, 0), 1) splits the gradient at a tie
  (0.5 for a pixel exactly at 0 or 1, as a saturated input at init is), where ``clamp`` passes
  all of it."""
  return torch.minimum(torch.maximum(x, x.new_zeros(())), x.new_ones(()))


def abs_jax(x: torch.Tensor) -> torch.Tensor:
  """``jnp.abs`` with its gradient: +1 at 0 (torch's ``abs`` gives 0 there). At init the
  generator returns its input, so ``raw - gt`` is exactly 0 wherever the codec kept a pixel."""
  return torch.where(x >= 0, x, -x)


def cosine_lr(steps: int, alpha: float):
  """``optax.cosine_decay_schedule(lr, steps, alpha)`` as a factor of the initial rate."""
  return lambda t: (1 - alpha) * 0.5 * (1 + math.cos(math.pi * min(t, steps) / steps)) + alpha


class TorchWGAN:
  """W-GAN-GP step: ``n_critic`` critic updates then one generator update, on one batch.

  Losses (identical to ``jaxenhance.losses``): critic E[D(fake)] - E[D(real)] + gp·E[(‖∇D(x̂)‖ - 1)²],
  x̂ = ε·real + (1 - ε)·fake; generator l1·|raw - gt| + mse·(raw - gt)² - adversarial·E[D(fake)]
  (+ perceptual·mean over taps of the layer-normalised MSE, when > 0), where raw is G(lq) before
  the clip and fake = clip(raw, 0, 1). Adam(β1, β2) for the critic; the generator's optimizer as
  ``steps.make_optimizers`` builds it: its own betas, an optional global-norm clip and an optional
  learning-rate schedule (``lr_lambda``: step -> factor).
  """

  def __init__(self, g: Generator, d: CriticHead, vgg: VGGTrunk, *, n_critic: int, lr_g: float,
               lr_d: float, betas: tuple[float, float], l1: float, adversarial: float, gp: float,
               perceptual: float = 0.0, mse: float = 0.0, reuse: bool = False,
               g_betas: tuple[float, float] | None = None, g_clip_norm: float = 0.0,
               lr_lambda=None):
    self.g, self.d, self.vgg = g, d, vgg
    self.n_critic, self.l1, self.mse, self.adversarial, self.gp = n_critic, l1, mse, adversarial, gp
    self.perceptual, self.reuse, self.g_clip_norm = perceptual, reuse, g_clip_norm
    self.g_opt = torch.optim.Adam(g.parameters(), lr=lr_g, betas=g_betas or betas, eps=1e-8)
    self.d_opt = torch.optim.Adam(d.parameters(), lr=lr_d, betas=betas, eps=1e-8)
    self.g_sched = (torch.optim.lr_scheduler.LambdaLR(self.g_opt, lr_lambda)
                    if lr_lambda is not None else None)

  def critic(self, images):
    return self.d(images, self.vgg(images))

  def gradient_penalty(self, real, fake, eps):
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
    norms = torch.sqrt(grad.square().flatten(1).sum(1) + NORM_EPS)
    return (norms - 1).square().mean()

  def forwards(self, lq: torch.Tensor, gt: torch.Tensor) -> dict[str, Any]:
    """G(lq) and the VGG taps of real and fake, once per batch (``reuse``): the generator's with
    their graph, for the generator update; detached copies for the critic iterations."""
    raw = self.g(lq, clip=False)
    fake_g = clip01(raw)
    fake_taps = self.vgg(fake_g)
    with torch.no_grad():
      real_taps = self.vgg(gt)
    fake = fake_g.detach()
    return {"raw": raw, "fake_g": fake_g, "fake_taps": fake_taps, "real_taps": real_taps,
            "fake": fake, "images": torch.cat([gt, fake]),
            "both": {k: torch.cat([real_taps[k], fake_taps[k].detach()]) for k in real_taps}}

  def critic_update(self, lq: torch.Tensor, gt: torch.Tensor, eps: torch.Tensor,
                    saved: Mapping[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One critic update; ``saved`` (from :meth:`forwards`) or None: G and VGG run again."""
    n = gt.shape[0]
    if saved is not None:
      scores = self.d(saved["images"], saved["both"])
      d_real, d_fake, fake = scores[:n], scores[n:], saved["fake"]
    else:
      fake = self.g(lq).detach()
      d_real, d_fake = self.critic(gt), self.critic(fake)
    gp = self.gradient_penalty(gt, fake, eps)
    d_loss = d_fake.mean() - d_real.mean() + self.gp * gp
    self.d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    self.d_opt.step()
    return d_loss, gp

  def generator_update(self, lq: torch.Tensor, gt: torch.Tensor,
                       saved: Mapping[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator update with the critic frozen; backpropagates through ``saved``'s graph
    (which it frees) or runs G and VGG again (None). Returns the loss and the gradient norm."""
    self.d.requires_grad_(False)  # the generator step does not train the critic
    if saved is not None:
      raw, fake_g, fake_taps, real_taps = (saved[k] for k in ("raw", "fake_g", "fake_taps",
                                                              "real_taps"))
    else:
      raw = self.g(lq, clip=False)
      fake_g = clip01(raw)
      fake_taps = self.vgg(fake_g)
    g_loss = (self.l1 * abs_jax(raw - gt).mean()
              - self.adversarial * self.d(fake_g, fake_taps).mean())
    if self.mse:
      g_loss = g_loss + self.mse * (raw - gt).square().mean()
    if self.perceptual:
      if saved is None:
        with torch.no_grad():
          real_taps = self.vgg(gt)
      terms = [(fake_taps[k] - real_taps[k]).square().mean() / (real_taps[k].square().mean() + 1e-8)
               for k in self.vgg.taps]
      g_loss = g_loss + self.perceptual * sum(terms) / len(terms)
    self.g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    params = [p for p in self.g.parameters() if p.grad is not None]
    g_norm = torch.sqrt(sum(p.grad.square().sum() for p in params))  # before the clip
    if self.g_clip_norm > 0:
      # optax.clip_by_global_norm: g * c / max(‖g‖, c) (torch's clip_grad_norm_ adds 1e-6).
      scale = self.g_clip_norm / torch.maximum(g_norm, torch.tensor(self.g_clip_norm))
      for p in params:
        p.grad.mul_(scale)
    self.g_opt.step()
    if self.g_sched is not None:
      self.g_sched.step()
    self.d.requires_grad_(True)
    return g_loss, g_norm

  def step(self, lq: torch.Tensor, gt: torch.Tensor, eps: Sequence[torch.Tensor] | None = None
           ) -> dict[str, float]:
    """One adversarial step; ``eps[i]`` ([N,1,1,1]) fixes critic update i's ε (for checks)."""
    self.d.requires_grad_(True)
    # With reuse: G(lq) and the taps once, with their graph: the critic iterations read them
    # detached, the generator update backpropagates through them (train.reuse_forward).
    saved = self.forwards(lq, gt) if self.reuse else None
    for i in range(self.n_critic):
      e = eps[i] if eps is not None else torch.rand(gt.shape[0], 1, 1, 1)
      d_loss, gp = self.critic_update(lq, gt, e, saved)
    g_loss, g_norm = self.generator_update(lq, gt, saved)
    return {"d_loss": d_loss.detach(), "gp": gp.detach(), "g_loss": g_loss.detach(),
            "g_grad_norm": g_norm.detach()}
