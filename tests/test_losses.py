"""Losses: the gradient penalty against an independent computation, W-GAN/BCE/content/perceptual
values, and a few jitted steps that really reduce the content loss on JPEG-compressed photos."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from jaxenhance import assets, losses
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import generator as gen_lib

# Threefry keys compile slowly on this CPU; the "rbg" generator keeps init cheap.
KEY = jax.random.key(0, impl="rbg")


def _pairs(n: int = 2, size: int = 32, quality: int = 10) -> tuple[jax.Array, jax.Array]:
  """(JPEG-compressed, original) real crops of the astronaut photo, float in [0, 1]."""
  photo = assets.sample_photo("astronaut")
  lq, gt = [], []
  for i in range(n):
    crop = photo[80 + 60 * i:80 + 60 * i + size, 180:180 + size]
    buf = io.BytesIO()
    Image.fromarray(crop).save(buf, format="JPEG", quality=quality)
    lq.append(np.asarray(Image.open(buf).convert("RGB")))
    gt.append(crop)
  to = lambda a: jnp.asarray(np.stack(a), jnp.float32) / 255.0
  return to(lq), to(gt)


@pytest.fixture(scope="module")
def vgg_critic(vgg_params):
  c = critic_lib.Critic(layers=("relu1_2", "relu2_2"), width=8, proj_channels=4,
                        num_downsamples=2)
  _lq, gt = _pairs()
  params = jax.jit(c.init)(KEY, gt, critic_lib.critic_features(vgg_params, gt, c.layers))
  return c, params


# --------------------------------------------------------------------------- W-GAN-GP


def test_gradient_penalty_matches_per_sample_gradients(vgg_critic, vgg_params):
  """grad-of-sum GP (VGG taps recomputed from x̂) == vmap of per-sample grads, to 1e-5."""
  c, params = vgg_critic
  fake, real = _pairs()
  rng = jax.random.key(3, impl="rbg")
  score = lambda x: critic_lib.critic_scores(c, params, vgg_params, x)
  gp, norms = jax.jit(lambda r, f: losses.gradient_penalty(score, r, f, rng))(real, fake)

  @jax.jit
  def independent(r, f):
    x_hat = losses.interpolate(r, f, rng)  # same ε
    one = lambda x: score(x[None])[0]
    g = jax.vmap(jax.grad(one))(x_hat)
    n = jnp.sqrt(jnp.sum(g.reshape(g.shape[0], -1) ** 2, axis=1))
    return jnp.mean((n - 1.0) ** 2), n

  gp_ref, norms_ref = independent(real, fake)
  np.testing.assert_allclose(norms, norms_ref, rtol=1e-5)
  assert abs(float(gp) - float(gp_ref)) <= 1e-5 * max(1.0, abs(float(gp_ref)))
  assert np.all(norms > 0)
  # ε is one uniform draw per sample, so x̂ lies on the segment between real and fake.
  x_hat = losses.interpolate(real, fake, rng)
  eps = (x_hat - fake) / jnp.where(jnp.abs(real - fake) > 1e-3, real - fake, jnp.nan)
  per_sample = [np.nanmax(e) - np.nanmin(e) for e in np.asarray(eps)]
  assert max(per_sample) < 1e-3


def test_wgan_gp_critic_loss_terms_and_precomputed_taps(vgg_critic, vgg_params):
  c, params = vgg_critic
  fake, real = _pairs()
  rng = jax.random.key(5, impl="rbg")

  @jax.jit
  def run(p, real, fake):
    (loss, m), grads = jax.value_and_grad(
        lambda p: losses.wgan_gp_critic_loss(c, p, vgg_params, real, fake, rng), has_aux=True)(p)
    real_taps = critic_lib.critic_features(vgg_params, real, c.layers)
    reused, _ = losses.wgan_gp_critic_loss(c, p, vgg_params, real, fake, rng, real_taps=real_taps)
    d_real = critic_lib.critic_scores(c, p, vgg_params, real)
    d_fake = critic_lib.critic_scores(c, p, vgg_params, fake)
    return loss, m, grads, reused, d_real, d_fake

  loss, m, grads, reused, d_real, d_fake = run(params, real, fake)
  w = float(jnp.mean(d_real) - jnp.mean(d_fake))
  np.testing.assert_allclose(m["wasserstein"], w, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(loss, -w + 10.0 * float(m["gp"]), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(reused, loss, rtol=1e-5, atol=1e-6)
  assert set(m) >= {"critic_loss", "wasserstein", "gp", "grad_norm", "d_real", "d_fake"}
  # Weight 0 (the lazy penalty's plain steps) leaves the penalty out.
  plain, m0 = jax.jit(lambda p: losses.wgan_gp_critic_loss(c, p, vgg_params, real, fake, rng,
                                                           gp_weight=0.0))(params)
  np.testing.assert_allclose(plain, -w, rtol=1e-5, atol=1e-6)
  assert "gp" not in m0 and "grad_norm" not in m0
  # The critic's gradient (through the double backward of VGG for the GP) exists and is finite.
  leaves = jax.tree_util.tree_leaves(grads)
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert any(np.abs(g).max() > 0 for g in leaves)


def test_wgan_generator_and_critic_loss_values():
  loss, m = losses.wgan_critic_loss(jnp.array([2.0, 4.0]), jnp.array([1.0, -1.0]),
                                    gp=jnp.array(0.5))
  assert float(m["wasserstein"]) == 3.0 and float(loss) == -3.0 + 5.0
  g_loss, _ = losses.wgan_generator_loss(jnp.array([1.0, 3.0]))
  assert float(g_loss) == -2.0


# --------------------------------------------------------------------------- BCE sub-patch


def test_bce_subpatch_losses():
  lq, gt = _pairs(2, 32)
  d = critic_lib.SubpatchDiscriminator(subpatch=16, width=8, num_downsamples=2)
  params = jax.jit(d.init)(KEY, gt, lq)
  apply = jax.jit(d.apply)
  logits_real, logits_fake = apply(params, gt, lq), apply(params, lq, lq)
  assert logits_real.shape == logits_fake.shape == (2, 2, 2)
  loss, m = losses.bce_discriminator_loss(logits_real, logits_fake)
  assert loss.shape == () and 0 < float(m["d_real_prob"]) < 1
  # Known values: logit 0 costs log 2 per side.
  zero = jnp.zeros((2, 2, 2))
  np.testing.assert_allclose(losses.bce_discriminator_loss(zero, zero)[0], 2 * np.log(2), 1e-6)
  np.testing.assert_allclose(losses.bce_generator_loss(zero)[0], np.log(2), 1e-6)
  # Confident and right -> ~0; the generator loss falls as the fakes are called real.
  big = jnp.full((2, 2, 2), 20.0)
  assert float(losses.bce_discriminator_loss(big, -big)[0]) < 1e-6
  assert float(losses.bce_generator_loss(big)[0]) < float(losses.bce_generator_loss(-big)[0])


# --------------------------------------------------------------------------- content + perceptual


def test_content_loss_values():
  lq, gt = _pairs()
  loss, m = losses.content_loss(lq, gt, l1=1.0, mse=2.0, ssim=0.5)
  a, b = np.asarray(lq, np.float64), np.asarray(gt, np.float64)
  np.testing.assert_allclose(m["l1"], np.abs(a - b).mean(), rtol=1e-5)
  np.testing.assert_allclose(m["mse"], ((a - b) ** 2).mean(), rtol=1e-5)
  assert 0.0 < float(m["ssim"]) < 1.0  # JPEG q10 is visibly different from the original
  np.testing.assert_allclose(loss, m["l1"] + 2 * m["mse"] + 0.5 * (1 - m["ssim"]), rtol=1e-6)
  same, m_same = losses.content_loss(gt, gt, l1=1.0, mse=1.0, ssim=1.0)
  assert abs(float(same)) < 1e-5 and abs(float(m_same["ssim"]) - 1.0) < 1e-5
  # A zero weight removes the term altogether.
  assert set(losses.content_loss(lq, gt, l1=1.0)[1]) == {"l1", "content_loss"}


def test_perceptual_loss(vgg_params):
  lq, gt = _pairs()
  layers = ("relu1_2", "relu2_2")
  taps = critic_lib.critic_features(vgg_params, jnp.concatenate([lq, gt]), layers)
  fake_taps, real_taps = critic_lib.split_taps(taps, 2)
  loss, _m = losses.perceptual_loss(fake_taps, real_taps)
  want = np.mean([np.mean((np.asarray(fake_taps[k]) - np.asarray(real_taps[k])) ** 2)
                  for k in layers])
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  assert float(losses.perceptual_loss(real_taps, real_taps, distance="l1")[0]) == 0.0
  # Per-layer normalisation makes each layer's term scale-free.
  scaled = {k: 10 * v for k, v in fake_taps.items()}, {k: 10 * v for k, v in real_taps.items()}
  np.testing.assert_allclose(losses.perceptual_loss(*scaled, normalize="layer")[0],
                             losses.perceptual_loss(fake_taps, real_taps, normalize="layer")[0],
                             rtol=1e-4)
  with pytest.raises(ValueError, match="missing"):
    losses.perceptual_loss(fake_taps, real_taps, ["relu3_3"])


def test_generator_loss_combines_weighted_terms(vgg_params):
  lq, gt = _pairs()
  taps = critic_lib.critic_features(vgg_params, jnp.concatenate([lq, gt]), ("relu1_2",))
  fake_taps, real_taps = critic_lib.split_taps(taps, 2)
  weights = {"l1": 1.0, "mse": 0.0, "ssim": 0.0, "perceptual": 0.1, "adversarial": 1e-3}
  adv, _ = losses.wgan_generator_loss(jnp.array([2.0, 4.0]))
  loss, m = losses.generator_loss(lq, gt, weights, adversarial=adv, fake_taps=fake_taps,
                                  real_taps=real_taps)
  np.testing.assert_allclose(loss, m["l1"] + 0.1 * m["perceptual"] - 3e-3, rtol=1e-5)
  with pytest.raises(ValueError, match="VGG taps"):
    losses.generator_loss(lq, gt, weights)


# --------------------------------------------------------------------------- optimisation


def test_jitted_steps_reduce_content_loss():
  """Adam on L1 + SSIM with the residual generator, real JPEG q10 crops: the loss goes down."""
  lq, gt = _pairs(2, 32)
  g = gen_lib.Generator(width=8, num_scales=1, num_blocks=1)
  params = jax.jit(g.init)(KEY, lq)
  opt = optax.adam(3e-3)
  opt_state = opt.init(params)

  @jax.jit
  def step(params, opt_state):
    def loss_fn(p):
      return losses.content_loss(g.apply(p, lq), gt, l1=1.0, ssim=0.1)[0]
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = opt.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  history = []
  for _ in range(40):
    params, opt_state, loss = step(params, opt_state)
    history.append(float(loss))
  final = float(losses.content_loss(g.apply(params, lq), gt, l1=1.0, ssim=0.1)[0])
  # Step 0 is the identity (the compressed input itself); training must beat it clearly.
  assert final < 0.95 * history[0], history
