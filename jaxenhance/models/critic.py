"""Critics: the feature-selected W-GAN critic and the Galteri conditional sub-patch discriminator.

Feature-selected W-GAN critic (Ramsook & Kokaram 2023; the layout below is the project's own,
since only the abstract is available): frozen VGG-16 taps at the configured layers -> a 1x1
projection per tap -> bilinear resize to the shallowest tap's resolution -> concatenate, optionally
with an RGB stem (space-to-depth of the image to that resolution, then a 3x3 conv) -> stride-2 3x3
convs with LeakyReLU(0.2) and LayerNorm (or none; never BatchNorm, which would couple the samples
that the gradient penalty treats independently) -> global mean pool -> dense scalar.

The VGG features are NOT part of the trainable critic. :class:`Critic` takes the image and a dict
of precomputed taps, so a training step can compute the real images' taps once per batch, run one
VGG pass over real and fake together, and stop VGG at the deepest tap. :func:`critic_features`
computes the taps from the frozen VGG params (a separate input: never trained, never donated).
:func:`critic_scores` chains both; use it where the taps must be recomputed from the critic's input,
i.e. for the gradient-penalty interpolates.

Variants for the paper's comparison (``resolve_layers``): "none" (RGB stem only, the baseline),
"all" (the 13 ReLU layers), "lpips" (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3), "selected"
(read from the layer-selection report) or an explicit list.

Channel selection (optional): ``Critic.channels`` names, per layer, the VGG channels it reads (the
top-scoring channels of the selection report, ``critic.channel_keep_fraction``). The indices are
static, so :func:`critic_features` gathers them and the taps (and each 1x1 projection's inputs)
shrink; every call site passes ``critic.channel_map`` and stays consistent with the parameters.

Galteri conditional sub-patch discriminator: the image is cut into S x S sub-patches, each is
concatenated on channels with the matching sub-patch of the compressed input, and a small CNN gives
one logit per sub-patch (trained with BCE, see :mod:`jaxenhance.losses`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxenhance import cloud
from jaxenhance.models import conv as conv_lib
from jaxenhance.models import vgg

Array = jax.Array
Taps = Mapping[str, Array]
Masks = Mapping[str, Array]
Channels = Mapping[str, Sequence[int]]
# Hashable form of Channels for a Flax attribute: ((layer, (index, ...)), ...) by layer depth.
ChannelSpec = tuple[tuple[str, tuple[int, ...]], ...]

KINDS = ("wgan", "subpatch")
NORMS = ("layer", "none")
LAYER_PRESETS = ("none", "all", "lpips", "selected")
# Key of the layer-selection JSON report (jaxenhance.perception.selection) holding the chosen
# layer names; "selected" is accepted for hand-written reports. (Its "layers" entry holds every
# scored layer, not the selection.)
_REPORT_KEYS = ("selected_layers", "selected")
_MAKE_REPORT = ("python -m jaxenhance.select_layers --config=configs/select_layers.py "
                "--workdir=<workdir>")


# --------------------------------------------------------------------------- layer specs


def _check_names(names: Sequence[str], source: str) -> tuple[str, ...]:
  names = [str(n).strip() for n in names]
  unknown = [n for n in names if n not in vgg.LAYERS]
  if unknown:
    raise ValueError(
        f"unknown VGG-16 layer name(s) {unknown} in {source}; valid names are: "
        f"{', '.join(vgg.LAYERS)} (or the presets {', '.join(LAYER_PRESETS)})")
  dupes = sorted({n for n in names if names.count(n) > 1})
  if dupes:
    raise ValueError(f"VGG-16 layer(s) {dupes} listed more than once in {source}")
  # Canonical order: by depth, so the same set always builds the same critic.
  return tuple(sorted(names, key=vgg.LAYERS.index))


def read_selected_layers(report: str | Path) -> tuple[str, ...]:
  """The layer names chosen by ``select_layers``, read from its JSON report."""
  path = cloud.path(report)  # local or gs://
  if not str(report) or not path.is_file():
    raise FileNotFoundError(
        f"critic.layers='selected' needs the layer-selection report, but {str(report)!r} is not "
        f"a file; make it with: {_MAKE_REPORT} (or set selection.report, or set critic.layers "
        "to an explicit list such as 'relu1_2,relu3_3')")
  try:
    data = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is not a valid JSON layer-selection report ({e}); regenerate it "
                     f"with: {_MAKE_REPORT}") from e
  for key in _REPORT_KEYS:
    if isinstance(data, dict) and key in data:
      names = data[key]
      break
  else:
    raise ValueError(f"{path} is not a layer-selection report (no {_REPORT_KEYS[0]!r} entry); "
                     f"make one with: {_MAKE_REPORT}")
  if isinstance(names, dict):  # {"relu1_2": score, ...}
    names = list(names)
  if not names:
    raise ValueError(f"layer-selection report {path} selected no layers")
  return _check_names(names, f"report {path}")


def resolve_layers(spec: str | Sequence[str] | None,
                   report: str | Path | None = None) -> tuple[str, ...]:
  """Maps a critic layer spec to a tuple of VGG-16 layer names (ordered by depth).

  Args:
    spec: "none" (no VGG), "all" (13 ReLU layers), "lpips", "selected" (read ``report``), a
      comma-separated string of names ("relu1_2,relu3_3"), or a list of names.
    report: the layer-selection JSON report (only for "selected").

  Returns:
    Layer names; empty for "none".

  Raises:
    ValueError: an unknown name (the message lists the valid ones) or a duplicate.
  """
  if spec is None:
    return ()
  if isinstance(spec, str):
    key = spec.strip().lower()
    if key in ("none", ""):
      return ()
    if key == "all":
      return tuple(vgg.RELU_LAYERS)
    if key == "lpips":
      return tuple(vgg.LPIPS_LAYERS)
    if key == "selected":
      return read_selected_layers(report or "")
    return _check_names([s for s in spec.split(",") if s.strip()], f"critic layers {spec!r}")
  return _check_names(list(spec), f"critic layers {list(spec)}")


def check_channels(layers: Sequence[str], channels: Channels | None) -> ChannelSpec:
  """Validates a per-layer channel selection; returns its canonical, hashable form.

  Raises:
    ValueError: a layer the critic does not read, an empty selection, or an index outside the
      layer's channels (or repeated).
  """
  channels = dict(channels or {})
  unknown = [n for n in channels if n not in layers]
  if unknown:
    raise ValueError(f"channel selection given for layer(s) {unknown} that the critic does not "
                     f"read ({list(layers)})")
  spec = []
  for name in sorted(channels, key=vgg.LAYERS.index):
    index = [int(i) for i in channels[name]]
    size = vgg.CHANNELS[name]
    if not index or len(set(index)) != len(index) or not all(0 <= i < size for i in index):
      raise ValueError(f"channel selection of {name} must be distinct indices in [0, {size}); "
                       f"got {len(index)} index(es) {index[:8]}...")
    spec.append((name, tuple(sorted(index))))
  return tuple(spec)


# --------------------------------------------------------------------------- building blocks


def _norm(kind: str, name: str | None = None) -> Any:
  if kind == "layer":
    # Per-sample LayerNorm over (H, W, C), per-channel scale/bias: samples stay independent.
    return nn.LayerNorm(reduction_axes=(-3, -2, -1), feature_axes=-1, name=name)
  if kind == "none":
    return lambda x: x
  raise ValueError(f"critic norm must be one of {NORMS}; got {kind!r}")


def space_to_depth(x: Array, factor: int) -> Array:
  """[N, H, W, C] -> [N, H//f, W//f, C*f*f] (rows/cols beyond a multiple of f are dropped)."""
  if factor == 1:
    return x
  n, h, w, c = x.shape
  h, w = h // factor, w // factor
  x = x[:, :h * factor, :w * factor]
  x = x.reshape(n, h, factor, w, factor, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h, w, factor * factor * c)


def _leaky(x: Array) -> Array:
  return nn.leaky_relu(x, 0.2)


class ConvTrunk(nn.Module):
  """``num_downsamples`` x [3x3 stride-2 conv -> norm -> LeakyReLU(0.2)] -> mean pool -> dense."""

  width: int
  num_downsamples: int
  norm: str = "layer"
  conv_impl: str = "patches"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    conv = conv_lib.conv_fn(self.conv_impl)
    for i in range(self.num_downsamples):
      x = nn.Conv(self.width * 2 ** i, (3, 3), strides=(2, 2), dtype=self.dtype,
                  conv_general_dilated=conv, name=f"down{i}")(x)
      x = _leaky(_norm(self.norm, name=f"norm{i}")(x))
    x = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    return nn.Dense(1, name="head")(x)[:, 0]


# --------------------------------------------------------------------------- W-GAN critic


class Critic(nn.Module):
  """Trainable head of the feature-selected W-GAN critic.

  Attributes:
    layers: VGG-16 taps it reads (empty: the no-VGG baseline, RGB stem only).
    width: channels of the first strided conv (doubling after each).
    proj_channels: output channels of each tap's 1x1 projection (project choice).
    rgb_stem: also read the RGB image at the shallowest tap's resolution.
    num_downsamples: stride-2 convs before the global pool.
    norm: "layer" or "none".
    channels: channel selection ``((layer, (index, ...)), ...)`` (see :func:`check_channels`);
      layers not listed use every channel. Its taps come from ``critic_features(...,
      critic.channel_map)``.
    conv_impl: "patches" (strided convs as slices + dot: fast second derivatives for the
      penalty) or "xla" (the native convolution); same parameters, see
      :mod:`jaxenhance.models.conv`.
    dtype: computation dtype.
  """

  layers: Sequence[str] = ()
  width: int = 64
  proj_channels: int = 32
  rgb_stem: bool = True
  num_downsamples: int = 3
  norm: str = "layer"
  channels: ChannelSpec = ()
  conv_impl: str = "patches"
  dtype: Any = jnp.float32

  @property
  def channel_map(self) -> dict[str, tuple[int, ...]]:
    """``{layer: kept channel indices}`` for :func:`critic_features`."""
    return dict(self.channels)

  def num_channels(self, name: str) -> int:
    """Channels of tap ``name`` as the critic reads it (after any channel selection)."""
    return len(self.channel_map.get(name, ())) or vgg.CHANNELS[name]

  @property
  def resolution_factor(self) -> int:
    """Downsampling of the shallowest tap relative to the image (1 without taps)."""
    return min((vgg.STRIDES[n] for n in self.layers), default=1)

  @nn.compact
  def __call__(self, images: Array, taps: Taps | None = None,
               masks: Masks | None = None) -> Array:
    """Scores images: ``[N, H, W, 3]`` in [0, 1] -> ``[N]`` (higher = more real).

    Args:
      images: the images being scored (needed by the RGB stem and for the output size).
      taps: VGG-16 features of ``images`` for at least ``self.layers`` (from
        ``critic_features(vgg_params, images, critic.layers, critic.channel_map)``); extra
        entries are ignored.
      masks: optional ``{layer: bool/float [C]}`` channel masks applied to the taps before their
        projection (channel selection); layers without a mask use every channel.
    """
    layers = tuple(self.layers)
    if not layers and not self.rgb_stem:
      raise ValueError("a critic with no VGG layers needs rgb_stem=True (nothing to read)")
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"critic expects images [N, H, W, 3]; got shape {images.shape}")
    taps = taps or {}
    missing = [n for n in layers if n not in taps]
    if missing:
      raise ValueError(
          f"critic reads VGG taps {list(layers)} but {missing} were not given; compute them with "
          "critic.critic_features(vgg_params, images, critic.layers)")
    masks = masks or {}
    unknown_masks = [k for k in masks if k not in layers]
    if unknown_masks:
      raise ValueError(f"masks given for layers {unknown_masks} that the critic does not read "
                       f"({list(layers)})")
    factor = self.resolution_factor
    size = (images.shape[1] // factor, images.shape[2] // factor)
    conv = conv_lib.conv_fn(self.conv_impl)

    features = []
    for name in layers:
      t = taps[name]
      if t.shape[0] != images.shape[0]:
        raise ValueError(f"tap {name} has batch {t.shape[0]} but images have {images.shape[0]}")
      if t.shape[-1] != self.num_channels(name):
        raise ValueError(
            f"tap {name} has {t.shape[-1]} channels but the critic reads "
            f"{self.num_channels(name)} (its channel selection); compute the taps with "
            "critic.critic_features(vgg_params, images, critic.layers, critic.channel_map)")
      if name in masks:
        t = t * jnp.asarray(masks[name], t.dtype)
      t = nn.Conv(self.proj_channels, (1, 1), dtype=self.dtype, conv_general_dilated=conv,
                  name=f"proj_{name}")(t)
      if t.shape[1:3] != size:
        t = jax.image.resize(t, (t.shape[0], *size, t.shape[-1]), "bilinear")
      features.append(t)
    if self.rgb_stem:
      x = space_to_depth(images.astype(self.dtype), factor)
      features.append(nn.Conv(self.width, (3, 3), dtype=self.dtype, conv_general_dilated=conv,
                              name="rgb_stem")(x))
    x = _leaky(jnp.concatenate(features, axis=-1))
    return ConvTrunk(self.width, self.num_downsamples, self.norm, self.conv_impl, self.dtype,
                     name="trunk")(x)


def critic_features(vgg_params: Any, images: Array, layers: Sequence[str],
                    channels: Channels | None = None) -> dict[str, Array]:
  """VGG-16 taps ``layers`` of ``images`` ({} for no layers); VGG stops at the deepest tap.

  ``vgg_params`` are wrapped in ``stop_gradient``: gradients flow to the images (needed for the
  gradient penalty) but never to the frozen VGG weights.

  Args:
    vgg_params: frozen VGG-16 variables.
    images: ``[N, H, W, 3]`` in [0, 1].
    layers: taps to return.
    channels: optional ``{layer: channel indices}`` (e.g. ``critic.channel_map``): those taps
      keep only these channels, in ascending order. The indices are static (shapes stay known).
  """
  if not layers:
    return {}
  spec = check_channels(layers, channels)
  taps = vgg.VGG16(taps=tuple(layers)).apply(jax.lax.stop_gradient(vgg_params), images)
  for name, index in spec:
    taps[name] = taps[name][..., np.asarray(index)]
  return taps


def critic_scores(critic: Critic, critic_params: Any, vgg_params: Any, images: Array,
                  masks: Masks | None = None) -> Array:
  """VGG taps of ``images`` then the critic head: ``[N, H, W, 3] -> [N]``.

  Differentiable w.r.t. ``images`` (through VGG) and ``critic_params``; used for the interpolates
  of the gradient penalty, whose taps must be recomputed from the interpolated images.
  """
  taps = critic_features(vgg_params, images, critic.layers, critic.channel_map)
  return critic.apply(critic_params, images, taps, masks)


def split_taps(taps: Taps, n: int) -> tuple[dict[str, Array], dict[str, Array]]:
  """Splits taps of a concatenated batch (e.g. real ++ fake) into the first n and the rest."""
  return {k: v[:n] for k, v in taps.items()}, {k: v[n:] for k, v in taps.items()}


# --------------------------------------------------------------------------- Galteri sub-patch


def to_subpatches(x: Array, size: int) -> Array:
  """[N, H, W, C] -> [N * H/S * W/S, S, S, C], row-major over the sub-patch grid."""
  n, h, w, c = x.shape
  if h % size or w % size:
    raise ValueError(
        f"sub-patch discriminator needs H and W divisible by critic.subpatch={size}; got "
        f"{h}x{w} (use a training crop that is a multiple of {size})")
  x = x.reshape(n, h // size, size, w // size, size, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n * (h // size) * (w // size), size, size, c)


class SubpatchDiscriminator(nn.Module):
  """Galteri conditional sub-patch discriminator: one logit per S x S sub-patch.

  Attributes:
    subpatch: sub-patch size S (16 for 128 x 128 patches in the paper).
    width: channels of the first conv (doubling after each stride-2 conv).
    num_downsamples: stride-2 convs per sub-patch (at most log2 S).
    norm: "layer" or "none".
  """

  subpatch: int = 16
  width: int = 64
  num_downsamples: int = 3
  norm: str = "layer"
  conv_impl: str = "patches"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: Array, condition: Array) -> Array:
    """Logits ``[N, H/S, W/S]`` for ``images`` given the compressed ``condition`` (both [N,H,W,3])."""
    if images.shape != condition.shape:
      raise ValueError(f"images {images.shape} and compressed condition {condition.shape} must "
                       "have the same shape (pass the centre frame for temporal inputs)")
    if 2 ** self.num_downsamples > self.subpatch:
      raise ValueError(f"{self.num_downsamples} stride-2 convs do not fit a "
                       f"{self.subpatch}-pixel sub-patch")
    n, h, w, _ = images.shape
    s = self.subpatch
    x = jnp.concatenate([to_subpatches(images, s), to_subpatches(condition, s)], axis=-1)
    x = _leaky(nn.Conv(self.width, (3, 3), dtype=self.dtype,
                       conv_general_dilated=conv_lib.conv_fn(self.conv_impl),
                       name="stem")(x.astype(self.dtype)))
    logits = ConvTrunk(self.width, self.num_downsamples, self.norm, self.conv_impl, self.dtype,
                       name="trunk")(x)
    return logits.reshape(n, h // s, w // s)


# --------------------------------------------------------------------------- construction


def make_critic(config: Any, report: str | Path | None = None,
                channels: Channels | None = None) -> Critic | SubpatchDiscriminator:
  """Builds the critic from ``config.critic``.

  Args:
    config: the ``critic`` config section.
    report: the selection report path (for ``layers="selected"``).
    channels: optional per-layer channel selection (``{layer: indices}``) of the W-GAN critic.
  """
  get = config.get if hasattr(config, "get") else lambda k, d=None: getattr(config, k, d)
  kind = get("kind", "wgan")
  norm = get("norm", "layer")
  if norm not in NORMS:
    raise ValueError(f"critic.norm must be one of {NORMS}; got {norm!r}")
  conv_impl = get("conv_impl", "patches")
  if conv_impl not in conv_lib.CONV_IMPLS:
    raise ValueError(f"critic.conv_impl must be one of {conv_lib.CONV_IMPLS}; got {conv_impl!r}")
  if kind == "subpatch":
    return SubpatchDiscriminator(subpatch=int(get("subpatch", 16)), width=int(get("width", 64)),
                                 num_downsamples=int(get("num_downsamples", 3)), norm=norm,
                                 conv_impl=conv_impl)
  if kind != "wgan":
    raise ValueError(f"critic.kind must be one of {KINDS}; got {kind!r}")
  layers = resolve_layers(get("layers", "none"), report)
  rgb_stem = bool(get("rgb_stem", True))
  if not layers and not rgb_stem:
    raise ValueError("critic.layers='none' needs critic.rgb_stem=True (the baseline reads RGB)")
  return Critic(layers=layers, width=int(get("width", 64)),
                proj_channels=int(get("proj_channels", 32)), rgb_stem=rgb_stem,
                num_downsamples=int(get("num_downsamples", 3)), norm=norm,
                channels=check_channels(layers, channels), conv_impl=conv_impl)
