"""Pure training steps: ``(state, batch, vgg_params) -> (state, metrics)``.

The trainer jits these once with explicit shardings and donates ``state``. ``vgg_params`` is a
separate, frozen argument: never part of the trainable state, never donated.

One adversarial step = ``n_critic`` critic updates + one generator update, all on one batch:

* The generator output ``G(lq)`` and the VGG taps of ``gt`` and ``G(lq)`` are computed once (VGG
  stops at the deepest tap) and reused by every critic update (the generator does not change
  during them) and by the perceptual loss (the real taps).
* ``train.reuse_forward`` (default on): ``G(lq)`` and its taps are computed with their VJP
  (``jax.vjp``), and the generator update pulls its loss's gradient back through those saved
  forward passes instead of running the generator and VGG again: the same gradient, measured
  3.5 % off the n_critic 1 step (batch 8, 96²; 13.6 of 216 GFLOP). The saved activations stay in
  memory during the critic updates (``--dry_run`` of the default config at batch 8, taps relu1_2 +
  relu2_2: peak 2.19 vs 2.11 GB); turn it off where memory is tighter than time. Off, the real
  and fake taps come from one VGG pass over ``[gt; G(lq)]``.
* Each critic update only re-runs VGG on the interpolates x̂ of the gradient penalty, which
  depend on that update's random ε. The penalty is the gradient of the *summed* critic output.
* The critic updates run inside the compiled step (no host round trip), unrolled by default:
  XLA:CPU runs the same critic update ~6x slower inside a while loop (``lax.scan``; measured 24.6 s
  vs 3.5 s at batch 8, 96², jax 0.10.2), so ``train.critic_loop="scan"`` is an option for large
  ``n_critic`` on accelerators, where it saves compile time.

Non-finite losses and updates never reach the parameters: the step keeps the previous state and
counts the event in ``state["nonfinite"]``; the trainer raises (or carries on, by config) when
it sees it.
The RNG is ``fold_in(state["rng"], step)``.

A conditioned generator is told each row's codec (``condition_codes``) and, with
``conditioning="codec_qp"``, the decoder's QP map of its patch (``condition_qp_map``); both are
hidden together on the ``train.condition_dropout`` share of rows drawn from the step number.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxenhance import errors, losses
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import generator as generator_lib

CRITIC_LOOPS = ("unroll", "scan")
State = dict[str, Any]
Metrics = dict[str, jax.Array]


class ConditioningError(errors.JaxenhanceError, ValueError):
  """The generator asks for an input the configured batches do not hold; says what to set."""


def batch_to_float(batch: dict[str, jax.Array]) -> tuple[jax.Array, jax.Array]:
  """uint8 records -> (lq float [N,T,H,W,3], gt float [N,H,W,3]) in [0, 1], on the device."""
  lq = batch["lq"].astype(jnp.float32) / 255.0
  gt = batch["gt"].astype(jnp.float32) / 255.0
  if lq.ndim == 4:
    lq = lq[:, None]
  return lq, gt


def condition_dropped(n: int, step: jax.Array, dropout: float) -> jax.Array | None:
  """bool [n]: the rows whose conditioning is hidden at ``step`` (None: no dropout).

  Drawn from the step number, so a resumed run draws the same; the codec and the QP map of a
  row are hidden together.
  """
  if dropout <= 0:
    return None
  key = jax.random.fold_in(jax.random.PRNGKey(0x60D3C), step)
  return jax.random.bernoulli(key, dropout, (n,))


def condition_codes(batch: dict[str, jax.Array], step: jax.Array, dropout: float) -> jax.Array:
  """The generator's codec rows ([N] int32, ``generator.CONDITION_CODECS``) for a batch.

  The records' ``codec`` indexes ``codecs.CODECS`` (-1: unknown), one less than the FiLM row.
  A ``dropout`` share of the rows (``condition_dropped``) is set to unknown: the model must also
  work where nothing tells it the codec.
  """
  codes = jnp.maximum(batch["codec"].astype(jnp.int32) + 1, 0)
  dropped = condition_dropped(codes.shape[0], step, dropout)
  return codes if dropped is None else jnp.where(dropped, 0, codes)


def condition_qp_map(batch: dict[str, jax.Array], step: jax.Array, dropout: float) -> jax.Array:
  """The batch's ``qp_map`` (uint8 [N, H, W]) with the rows ``condition_codes`` hides at
  ``step`` set to unknown (``generator.QP_UNKNOWN``) as well."""
  qp = batch["qp_map"]
  dropped = condition_dropped(qp.shape[0], step, dropout)
  if dropped is None:
    return qp
  return jnp.where(dropped[:, None, None], jnp.asarray(generator_lib.QP_UNKNOWN, qp.dtype), qp)


def centre_frame(lq: jax.Array) -> jax.Array:
  return lq[:, lq.shape[1] // 2]


def _select(finite: jax.Array, new: Any, old: Any) -> Any:
  return jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)


def _all_finite(*values: jax.Array) -> jax.Array:
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in values]))


def make_optimizer(learning_rate: float | optax.Schedule, b1: float, b2: float,
                   clip_norm: float = 0.0) -> optax.GradientTransformation:
  """Adam(β1, β2), after clipping the gradient's global norm to ``clip_norm`` (0: no clipping).

  W-GAN-GP's defaults are β1 = 0, β2 = 0.9.
  """
  adam = optax.adam(learning_rate, b1=b1, b2=b2)
  return optax.chain(optax.clip_by_global_norm(clip_norm), adam) if clip_norm > 0 else adam


def make_optimizers(config: Any) -> tuple[optax.GradientTransformation,
                                          optax.GradientTransformation]:
  """(generator, critic) optimizers from ``config.train``.

  The generator may have its own betas (``generator_b1/b2``; configs without them share the
  critic's ``b1/b2``) and a gradient-norm clip (``generator_clip_norm``, 0: off). W-GAN-GP's
  (0, 0.9) suits the critic; content pretraining of the generator commonly uses (0.9, 0.999).
  ``generator_lr_decay`` = "cosine" lowers the generator's rate along a cosine to
  ``generator_lr_final`` times its start over ``train.steps`` ("constant", the default, keeps
  it); the schedule reads the optimizer's own step count, so a resumed run continues it exactly.
  """
  t = config.train
  g_b1 = t.get("generator_b1", None)
  g_b2 = t.get("generator_b2", None)
  decay = t.get("generator_lr_decay", "constant")
  if decay not in ("constant", "cosine"):
    raise ValueError(f"train.generator_lr_decay must be 'constant' or 'cosine'; got {decay!r}")
  g_lr = t.lr_generator
  if decay == "cosine":
    g_lr = optax.cosine_decay_schedule(t.lr_generator, int(t.steps),
                                       alpha=float(t.get("generator_lr_final", 0.1)))
  g_opt = make_optimizer(g_lr, t.b1 if g_b1 is None else g_b1,
                         t.b2 if g_b2 is None else g_b2, float(t.get("generator_clip_norm", 0.0)))
  d_opt = make_optimizer(t.lr_critic, t.b1, t.b2)
  return g_opt, d_opt


def penalty_interval(config: Any) -> int:
  """``loss.gp_every``: the gradient penalty's interval in adversarial steps (1: every step).

  With k > 1 the penalty is lazy (as StyleGAN2's lazy R1): only every k-th adversarial step's
  critic updates carry it, weighted k·λ_gp so its average weight stays λ_gp, and the other steps
  skip its cost (most of a critic update's). This changes the math: W-GAN-GP as published is 1.
  """
  k = config.loss.get("gp_every", 1)
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ValueError(f"loss.gp_every must be a whole number of steps >= 1 (1: the penalty on "
                     f"every step, as in W-GAN-GP); got {k!r}")
  return k


def make_steps(generator: Any, critic: Any, g_opt: optax.GradientTransformation,
               d_opt: optax.GradientTransformation, config: Any, *, penalty: bool = True
               ) -> tuple[Callable, Callable]:
  """Builds ``(pretrain_step, adversarial_step)`` for a generator/critic pair.

  Args:
    generator: a ``models.generator.Generator``.
    critic: a ``models.critic.Critic`` (W-GAN-GP) or ``SubpatchDiscriminator`` (BCE).
    g_opt, d_opt: optax transformations for generator and critic.
    config: the run config (uses ``loss``, ``train.n_critic``, ``train.critic_loop``:
      "unroll" (default) or "scan", and ``train.reuse_forward``, default True).
    penalty: the W-GAN critic updates carry the gradient penalty, weighted
      ``loss.gp · loss.gp_every``; False builds the lazy penalty's plain step (no penalty).
  """
  loss_cfg = config.loss
  gp_weight = float(loss_cfg.gp) * penalty_interval(config) if penalty else 0.0
  n_critic = int(config.train.n_critic)
  critic_loop = config.train.get("critic_loop", "unroll")
  reuse_forward = bool(config.train.get("reuse_forward", True))
  if critic_loop not in CRITIC_LOOPS:
    raise ValueError(f"train.critic_loop must be one of {CRITIC_LOOPS}; got {critic_loop!r}")
  wgan = isinstance(critic, critic_lib.Critic)
  critic_layers = tuple(critic.layers) if wgan else ()
  # "relu2_2,relu5_3", a preset ("lpips", "all") or a list; empty: the critic's layers.
  perceptual_layers = critic_lib.resolve_layers(loss_cfg.get("perceptual_layers", None) or ())
  perceptual_layers = perceptual_layers or critic_layers
  use_perceptual = float(loss_cfg.perceptual) > 0
  if use_perceptual and not perceptual_layers:
    raise ValueError("loss.perceptual > 0 needs VGG layers: set loss.perceptual_layers or give "
                     "the critic VGG layers")
  # One VGG pass serves the critic's taps and the perceptual loss. The critic's channel
  # selection applies to both: the perceptual loss compares only the kept channels of those
  # layers (other perceptual layers keep every channel).
  vgg_layers = tuple(dict.fromkeys(critic_layers + (perceptual_layers if use_perceptual else ())))
  channels = critic.channel_map if wgan else {}

  def taps_of(vgg_params, images):
    return critic_lib.critic_features(vgg_params, images, vgg_layers, channels)

  conditioned = getattr(generator, "conditioning", "none") != "none"
  reads_qp = getattr(generator, "reads_qp", False)
  if reads_qp and not config.data.get("quantiser", False):
    raise ConditioningError("generator.conditioning='codec_qp' reads the decoder's QP map of "
                            "each patch: set data.quantiser=True (records are rebuilt with it)")
  condition_dropout = float(config.train.get("condition_dropout", 0.0))

  def condition_of(state, batch):
    """The generator's conditioning keywords for a batch (none for a plain generator)."""
    if not conditioned:
      return {}
    cond = {"codec": condition_codes(batch, state["step"], condition_dropout)}
    if reads_qp:
      cond["qp_map"] = condition_qp_map(batch, state["step"], condition_dropout)
    return cond

  def generator_forward(g_params, vgg_params, lq, adversarial: bool, cond=None):
    """G(lq) raw (for the content loss), clipped (for the critic and VGG), and its VGG taps.

    ``cond``: the generator's conditioning keywords (``condition_of``; None: none)."""
    # The content loss sees the raw output, the critic and VGG the clipped one. (With a
    # straight-through clip a pixel past 0 or 1 on a saturated target gets no gradient back, so
    # such outputs drift further batch after batch; measured: train PSNR fell from 31.6 to
    # 8.8 dB within 900 steps at lr 3e-4.)
    raw = generator.apply(g_params, lq, clip=False, **(cond or {}))
    fake = jnp.clip(raw, 0.0, 1.0)
    fake_taps = taps_of(vgg_params, fake) if (use_perceptual or (adversarial and wgan)) else {}
    return raw, fake, fake_taps

  def generator_head(raw, fake, fake_taps, d_params, lq, gt, real_taps, adversarial: bool):
    """The generator loss as a function of G(lq) and its taps."""
    adv = None
    if adversarial:
      if wgan:
        adv, _ = losses.wgan_generator_loss(critic.apply(d_params, fake, fake_taps))
      else:
        adv, _ = losses.bce_generator_loss(critic.apply(d_params, fake, centre_frame(lq)))
    return losses.generator_loss(
        raw, gt, loss_cfg, adversarial=adv, fake_taps=fake_taps, real_taps=real_taps,
        perceptual_layers=perceptual_layers if use_perceptual else None,
        perceptual_distance=loss_cfg.get("perceptual_distance", "mse"),
        perceptual_normalize=loss_cfg.get("perceptual_normalize", "layer"))

  def generator_terms(g_params, d_params, vgg_params, lq, gt, real_taps, adversarial: bool,
                      cond):
    outputs = generator_forward(g_params, vgg_params, lq, adversarial, cond)
    return generator_head(*outputs, d_params, lq, gt, real_taps, adversarial)

  def apply_generator_grads(state, grads):
    updates, g_opt_state = g_opt.update(grads, state["g_opt"], state["g_params"])
    return optax.apply_updates(state["g_params"], updates), g_opt_state

  def generator_update(state, vgg_params, lq, gt, real_taps, adversarial: bool, cond):
    grad_fn = jax.value_and_grad(generator_terms, has_aux=True)
    (g_loss, metrics), grads = grad_fn(state["g_params"], state["d_params"], vgg_params, lq, gt,
                                       real_taps, adversarial, cond)
    g_params, g_opt_state = apply_generator_grads(state, grads)
    metrics["g_grad_norm"] = optax.global_norm(grads)
    return g_params, g_opt_state, g_loss, metrics

  def finish(state, new, finite, metrics):
    """Keeps the old state on a non-finite loss or update; advances step and counters."""
    # A finite loss can still give non-finite parameters (an inf learning rate, an overflowing
    # or NaN gradient): the updated parameters are checked too, or they would be kept and every
    # later loss would be NaN.
    finite = finite & _all_finite(*jax.tree.leaves((new["g_params"], new["d_params"])))
    out = _select(finite, new, state)
    out["step"] = state["step"] + 1
    out["nonfinite"] = state["nonfinite"] + (~finite).astype(jnp.int32)
    metrics["nonfinite"] = out["nonfinite"]
    return out, metrics

  def pretrain_step(state: State, batch: dict, vgg_params: Any) -> tuple[State, Metrics]:
    """Generator warm-up on the content (+ perceptual) loss; the critic does not move."""
    lq, gt = batch_to_float(batch)
    real_taps = taps_of(vgg_params, gt) if use_perceptual else {}
    g_params, g_opt_state, g_loss, metrics = generator_update(
        state, vgg_params, lq, gt, real_taps, adversarial=False, cond=condition_of(state, batch))
    new = dict(state, g_params=g_params, g_opt=g_opt_state)
    return finish(state, new, _all_finite(g_loss), metrics)

  def adversarial_step(state: State, batch: dict, vgg_params: Any) -> tuple[State, Metrics]:
    lq, gt = batch_to_float(batch)
    n = gt.shape[0]
    rng = jax.random.fold_in(state["rng"], state["step"])
    cond = condition_of(state, batch)
    if reuse_forward:
      # G(lq) and its taps, with their VJP: the generator update below reuses both forwards.
      (raw, fake, fake_taps), pullback = jax.vjp(
          lambda p: generator_forward(p, vgg_params, lq, adversarial=True, cond=cond),
          state["g_params"])
      real_taps = taps_of(vgg_params, gt) if vgg_layers else {}
    else:
      fake = jax.lax.stop_gradient(generator.apply(state["g_params"], lq, **cond))
      if vgg_layers:  # one VGG pass over real and fake together
        real_taps, fake_taps = critic_lib.split_taps(
            taps_of(vgg_params, jnp.concatenate([gt, fake])), n)
      else:
        real_taps, fake_taps = {}, {}
    condition = centre_frame(lq)

    def critic_loss(d_params, key):
      if wgan:
        return losses.wgan_gp_critic_loss(
            critic, d_params, vgg_params, gt, fake, key, real_taps=real_taps,
            fake_taps=fake_taps, gp_weight=gp_weight)
      logits = critic.apply(d_params, jnp.concatenate([gt, fake]),
                            jnp.concatenate([condition, condition]))
      return losses.bce_discriminator_loss(logits[:n], logits[n:])

    def critic_update(carry, index):
      d_params, d_opt_state = carry
      key = jax.random.fold_in(rng, index)
      (d_loss, metrics), grads = jax.value_and_grad(critic_loss, has_aux=True)(d_params, key)
      updates, d_opt_state = d_opt.update(grads, d_opt_state, d_params)
      metrics["d_loss"] = d_loss
      return (optax.apply_updates(d_params, updates), d_opt_state), metrics

    carry = (state["d_params"], state["d_opt"])
    if critic_loop == "scan":
      carry, d_metrics = jax.lax.scan(critic_update, carry, jnp.arange(n_critic))
      d_metrics = jax.tree.map(lambda x: x[-1], d_metrics)  # the last critic update's values
    else:
      for index in range(n_critic):
        carry, d_metrics = critic_update(carry, index)
    d_params, d_opt_state = carry
    updated = dict(state, d_params=d_params, d_opt=d_opt_state)
    if reuse_forward:
      # The generator loss's gradient w.r.t. G(lq) and its taps, pulled back through the saved
      # forward passes: the same gradient as differentiating from g_params, without re-running
      # the generator and VGG.
      head = lambda outputs: generator_head(*outputs, d_params, lq, gt, real_taps, True)
      (g_loss, g_metrics), cotangent = jax.value_and_grad(head, has_aux=True)(
          (raw, fake, fake_taps))
      grads, = pullback(cotangent)
      g_params, g_opt_state = apply_generator_grads(updated, grads)
      g_metrics["g_grad_norm"] = optax.global_norm(grads)
    else:
      g_params, g_opt_state, g_loss, g_metrics = generator_update(
          updated, vgg_params, lq, gt, real_taps, adversarial=True, cond=cond)
    new = dict(updated, g_params=g_params, g_opt=g_opt_state)
    metrics = {**d_metrics, **g_metrics}
    return finish(state, new, _all_finite(g_loss, d_metrics["d_loss"]), metrics)

  return pretrain_step, adversarial_step
