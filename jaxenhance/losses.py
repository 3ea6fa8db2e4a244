"""Training losses: W-GAN-GP, BCE sub-patch GAN, L1/MSE/SSIM content and VGG perceptual losses.

Every loss returns ``(loss, metrics)`` where metrics is a flat dict of scalars, so a jitted train
step can sum losses and merge metrics without knowing their internals. Loss weights are Python
floats (from ``config.loss``); a weight of 0 removes the term from the compiled step entirely.

W-GAN-GP (Gulrajani et al. 2017): critic loss E[D(fake)] - E[D(real)] + λ·E[(‖∇D(x̂)‖₂ - 1)²] with
x̂ = ε·real + (1 - ε)·fake, ε ~ U[0, 1] per sample. The gradient is taken as ``jax.grad`` of the
*sum* of the critic outputs w.r.t. x̂: the critic treats samples independently (no BatchNorm), so
that gradient's n-th slice is exactly ∇D(x̂_n), and one backward pass is cheaper than a ``vmap``
of per-sample gradients. The interpolates' VGG taps are recomputed inside the differentiated
function (they depend on x̂); the real and fake taps can be passed in precomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dm_pix
import jax
import jax.numpy as jnp
import optax

from jaxenhance.models import critic as critic_lib

Array = jax.Array
Metrics = dict[str, Array]
Taps = Mapping[str, Array]

GP_WEIGHT = 10.0
_NORM_EPS = 1e-12  # keeps sqrt differentiable when a gradient is exactly zero


# --------------------------------------------------------------------------- W-GAN-GP


def per_sample_norm(x: Array) -> Array:
  """L2 norm of each sample of ``x`` ([N, ...] -> [N])."""
  return jnp.sqrt(jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim))) + _NORM_EPS)


def interpolate(real: Array, fake: Array, rng: Array) -> Array:
  """x̂ = ε·real + (1 - ε)·fake with one ε ~ U[0, 1] per sample."""
  eps = jax.random.uniform(rng, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return eps * real + (1.0 - eps) * fake


def gradient_penalty(score_fn: Callable[[Array], Array], real: Array, fake: Array,
                     rng: Array) -> tuple[Array, Array]:
  """E[(‖∇_x̂ D(x̂)‖₂ - 1)²] and the per-sample gradient norms.

  Args:
    score_fn: images [N, ...] -> critic scores [N]; samples must be independent. For the
      feature-selected critic it must compute the VGG taps of its input itself
      (see :func:`jaxenhance.models.critic.critic_scores`).
    real, fake: [N, ...] batches.
    rng: PRNG key for ε.

  Returns:
    (penalty, gradient norms [N]).
  """
  x_hat = interpolate(real, fake, rng)
  grads = jax.grad(lambda x: jnp.sum(score_fn(x)))(x_hat)
  norms = per_sample_norm(grads)
  return jnp.mean(jnp.square(norms - 1.0)), norms


def wgan_critic_loss(d_real: Array, d_fake: Array, gp: Array | None = None,
                     gp_weight: float = GP_WEIGHT) -> tuple[Array, Metrics]:
  """E[D(fake)] - E[D(real)] (+ gp_weight·gp); metrics carry the Wasserstein estimate."""
  wasserstein = jnp.mean(d_real) - jnp.mean(d_fake)
  loss = -wasserstein
  metrics = {"wasserstein": wasserstein, "d_real": jnp.mean(d_real), "d_fake": jnp.mean(d_fake)}
  if gp is not None:
    loss = loss + gp_weight * gp
    metrics["gp"] = gp
  metrics["critic_loss"] = loss
  return loss, metrics


def wgan_gp_critic_loss(critic: critic_lib.Critic, critic_params: Any, vgg_params: Any,
                        real: Array, fake: Array, rng: Array, *,
                        real_taps: Taps | None = None, fake_taps: Taps | None = None,
                        masks: Mapping[str, Array] | None = None,
                        gp_weight: float = GP_WEIGHT) -> tuple[Array, Metrics]:
  """The full W-GAN-GP critic loss of the feature-selected critic.

  Missing taps are computed here, with one VGG pass over real and fake together when both are
  missing. ``fake`` is treated as a constant (the critic step does not train the generator).

  Args:
    critic: the critic head module; critic_params its variables.
    vgg_params: frozen VGG-16 variables (ignored by the no-VGG critic).
    real, fake: [N, H, W, 3] images in [0, 1].
    rng: PRNG key for the interpolation weights.
    real_taps, fake_taps: precomputed ``critic_features`` of real / fake with the critic's
      ``channel_map`` (reuse the real ones across the n_critic steps of a batch).
    masks: optional per-channel tap masks.
    gp_weight: λ_gp (10 in the W-GAN-GP paper); 0 leaves the penalty out (and its cost).

  Returns:
    (loss, metrics with critic_loss, wasserstein, d_real, d_fake, and gp, grad_norm unless
    gp_weight is 0).
  """
  fake = jax.lax.stop_gradient(fake)
  n = real.shape[0]
  layers = tuple(critic.layers)
  # The critic's channel selection, so the taps match its projections.
  features = lambda x: critic_lib.critic_features(vgg_params, x, layers, critic.channel_map)
  images = jnp.concatenate([real, fake])
  if real_taps is None and fake_taps is None:
    both = features(images)  # one VGG pass
  else:
    if real_taps is None:
      real_taps = features(real)
    if fake_taps is None:
      fake_taps = features(fake)
    both = {k: jnp.concatenate([real_taps[k], fake_taps[k]]) for k in layers}
  # One head pass over real ++ fake: the critic scores each sample independently.
  scores = critic.apply(critic_params, images, both, masks)
  if not gp_weight:  # no penalty: nothing of it is computed (lazy penalty's plain steps)
    return wgan_critic_loss(scores[:n], scores[n:])
  score_fn = lambda x: critic_lib.critic_scores(critic, critic_params, vgg_params, x, masks)
  gp, norms = gradient_penalty(score_fn, real, fake, rng)
  loss, metrics = wgan_critic_loss(scores[:n], scores[n:], gp, gp_weight)
  metrics["grad_norm"] = jnp.mean(norms)
  return loss, metrics


def wgan_generator_loss(d_fake: Array) -> tuple[Array, Metrics]:
  """Adversarial generator loss -E[D(G(x))]."""
  loss = -jnp.mean(d_fake)
  return loss, {"adversarial": loss}


# --------------------------------------------------------------------------- BCE sub-patch GAN


def bce_discriminator_loss(logits_real: Array, logits_fake: Array) -> tuple[Array, Metrics]:
  """BCE over every sub-patch logit: real sub-patches -> 1, generated -> 0."""
  loss_real = jnp.mean(optax.sigmoid_binary_cross_entropy(logits_real, jnp.ones_like(logits_real)))
  loss_fake = jnp.mean(optax.sigmoid_binary_cross_entropy(logits_fake, jnp.zeros_like(logits_fake)))
  loss = loss_real + loss_fake
  return loss, {
      "disc_loss": loss,
      "d_real_prob": jnp.mean(jax.nn.sigmoid(logits_real)),
      "d_fake_prob": jnp.mean(jax.nn.sigmoid(logits_fake)),
  }


def bce_generator_loss(logits_fake: Array) -> tuple[Array, Metrics]:
  """Non-saturating generator loss: BCE of the generated sub-patches against the label 1."""
  loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits_fake, jnp.ones_like(logits_fake)))
  return loss, {"adversarial": loss}


# --------------------------------------------------------------------------- content


def content_loss(pred: Array, target: Array, *, l1: float = 1.0, mse: float = 0.0,
                 ssim: float = 0.0) -> tuple[Array, Metrics]:
  """l1·|p - t| + mse·(p - t)² + ssim·(1 - SSIM(p, t)), means over the batch; [N, H, W, 3] in [0, 1].

  SSIM is ``dm_pix.ssim`` (11x11 Gaussian window, σ = 1.5, max value 1), so images need H, W >= 11.
  """
  if pred.shape != target.shape:
    raise ValueError(f"prediction {pred.shape} and target {target.shape} shapes differ")
  loss = jnp.zeros((), jnp.float32)
  metrics: Metrics = {}
  if l1:
    metrics["l1"] = jnp.mean(jnp.abs(pred - target))
    loss = loss + l1 * metrics["l1"]
  if mse:
    metrics["mse"] = jnp.mean(jnp.square(pred - target))
    loss = loss + mse * metrics["mse"]
  if ssim:
    metrics["ssim"] = jnp.mean(dm_pix.ssim(pred, target, max_val=1.0))
    loss = loss + ssim * (1.0 - metrics["ssim"])
  metrics["content_loss"] = loss
  return loss, metrics


# --------------------------------------------------------------------------- VGG perceptual


PERCEPTUAL_DISTANCES = ("mse", "l1")
PERCEPTUAL_NORMS = ("none", "layer", "channel")


def perceptual_loss(fake_taps: Taps, real_taps: Taps, layers: Sequence[str] | None = None, *,
                    distance: str = "mse", normalize: str = "none") -> tuple[Array, Metrics]:
  """Mean over layers of the distance between VGG taps of generated and real images.

  Args:
    fake_taps, real_taps: ``critic_features`` of the generated and the target images (the real
      ones are typically precomputed once per batch; they are treated as constants).
    layers: taps to compare (default: every tap in ``real_taps``).
    distance: "mse" (mean squared) or "l1" (mean absolute) difference.
    normalize: "none"; "layer" divides each layer's distance by the real taps' mean squared
      (or absolute) activation, so deep layers with large activations do not dominate
      (project choice); "channel" unit-normalises each pixel's feature vector first (as LPIPS).

  Returns:
    (loss, metrics with perceptual and perceptual/<layer>).
  """
  if distance not in PERCEPTUAL_DISTANCES:
    raise ValueError(f"perceptual distance must be one of {PERCEPTUAL_DISTANCES}; got {distance!r}")
  if normalize not in PERCEPTUAL_NORMS:
    raise ValueError(f"perceptual normalize must be one of {PERCEPTUAL_NORMS}; got {normalize!r}")
  layers = tuple(real_taps) if layers is None else tuple(layers)
  if not layers:
    raise ValueError("perceptual loss needs at least one VGG layer (critic.layers is 'none'?)")
  missing = [k for k in layers if k not in fake_taps or k not in real_taps]
  if missing:
    raise ValueError(f"perceptual loss: taps {missing} missing from the given features")
  dist = jnp.square if distance == "mse" else jnp.abs
  metrics: Metrics = {}
  total = jnp.zeros((), jnp.float32)
  for name in layers:
    f = fake_taps[name].astype(jnp.float32)
    r = jax.lax.stop_gradient(real_taps[name]).astype(jnp.float32)
    if normalize == "channel":
      f = f / (jnp.linalg.norm(f, axis=-1, keepdims=True) + 1e-10)
      r = r / (jnp.linalg.norm(r, axis=-1, keepdims=True) + 1e-10)
    d = jnp.mean(dist(f - r))
    if normalize == "layer":
      d = d / (jnp.mean(dist(r)) + 1e-8)
    metrics[f"perceptual/{name}"] = d
    total = total + d
  loss = total / len(layers)
  metrics["perceptual"] = loss
  return loss, metrics


# --------------------------------------------------------------------------- generator total


def generator_loss(fake: Array, target: Array, weights: Any, *,
                   adversarial: Array | None = None, fake_taps: Taps | None = None,
                   real_taps: Taps | None = None,
                   perceptual_layers: Sequence[str] | None = None,
                   perceptual_distance: str = "mse",
                   perceptual_normalize: str = "none") -> tuple[Array, Metrics]:
  """content + weights.perceptual·perceptual + weights.adversarial·adversarial.

  Args:
    fake, target: generated and ground-truth frames.
    weights: ``config.loss`` (l1, mse, ssim, perceptual, adversarial; Python floats).
    adversarial: the adversarial term, from :func:`wgan_generator_loss` or
      :func:`bce_generator_loss` (None: content only, e.g. during warm-up).
    fake_taps, real_taps: VGG taps for the perceptual term (needed when its weight is > 0).
    perceptual_layers, perceptual_distance, perceptual_normalize: see :func:`perceptual_loss`.

  Returns:
    (loss, metrics with generator_loss and every term).
  """
  get = weights.get if hasattr(weights, "get") else lambda k, d=0.0: getattr(weights, k, d)
  loss, metrics = content_loss(fake, target, l1=float(get("l1", 0.0)),
                               mse=float(get("mse", 0.0)), ssim=float(get("ssim", 0.0)))
  w_perc = float(get("perceptual", 0.0))
  if w_perc:
    if fake_taps is None or real_taps is None:
      raise ValueError("loss.perceptual > 0 needs the VGG taps of the generated and real frames")
    perc, perc_metrics = perceptual_loss(fake_taps, real_taps, perceptual_layers,
                                         distance=perceptual_distance,
                                         normalize=perceptual_normalize)
    loss = loss + w_perc * perc
    metrics.update(perc_metrics)
  w_adv = float(get("adversarial", 0.0))
  if w_adv and adversarial is not None:
    loss = loss + w_adv * adversarial
    metrics["adversarial"] = adversarial
  metrics["generator_loss"] = loss
  return loss, metrics
