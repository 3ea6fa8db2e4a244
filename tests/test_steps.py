"""Pure train steps on tiny shapes: every critic variant trains, frozen VGG stays frozen,
non-finite losses never reach the parameters."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from train_helpers import synthetic_report

from jaxenhance import assets, steps, train
from jaxenhance.config_loader import load_config
from jaxenhance.models import critic as critic_lib


def tiny_config(layers="lpips", kind="wgan", perceptual=0.0, n_critic=2):
  c = load_config("default")
  c.generator.update(kind="residual", width=8, num_scales=1, num_blocks=1)
  c.critic.update(kind=kind, layers=layers, width=8, proj_channels=4, num_downsamples=2,
                  subpatch=8)
  c.loss.perceptual = perceptual
  c.train.n_critic = n_critic
  c.data.crop_size = 32
  return c


def real_batch(n=2, size=32, seed=0):
  """Co-located patches of a real photo and its JPEG-compressed version."""
  import io

  from PIL import Image

  photo = assets.sample_photo("chelsea")
  rng = np.random.default_rng(seed)
  gts, lqs = [], []
  for _ in range(n):
    y, x = rng.integers(0, 200), rng.integers(0, 300)
    gt = photo[y:y + size, x:x + size]
    buf = io.BytesIO()
    Image.fromarray(gt).save(buf, format="JPEG", quality=10)
    gts.append(gt)
    lqs.append(np.asarray(Image.open(buf).convert("RGB"))[None])
  return {"lq": jnp.asarray(np.stack(lqs)), "gt": jnp.asarray(np.stack(gts))}


def build(config, critic=None):
  generator = train.build_models(config, "/nonexistent")[0]
  critic = critic or critic_lib.make_critic(config.critic)
  g_opt = steps.make_optimizer(1e-3, 0.0, 0.9)
  d_opt = steps.make_optimizer(1e-3, 0.0, 0.9)
  state = train.init_state(generator, critic, g_opt, d_opt, config, jax.random.PRNGKey(0))
  pre, adv = steps.make_steps(generator, critic, g_opt, d_opt, config)
  return state, jax.jit(pre), jax.jit(adv)


# Shallow taps keep the compile small; every preset (none/all/lpips/selected) maps to the
# same code path, checked by tests/test_critic.py.
@pytest.mark.parametrize("layers,kind", [("none", "wgan"), ("relu1_2,relu2_2", "wgan"),
                                         ("none", "subpatch")])
def test_one_step_each_critic(layers, kind, vgg_params):
  config = tiny_config(layers=layers, kind=kind)
  state, pre, adv = build(config)
  batch = real_batch()
  vgg_before = jax.tree.map(np.array, vgg_params)
  state, metrics = pre(state, batch, vgg_params)
  d_before = jax.tree.map(np.array, state["d_params"])
  state, metrics = adv(state, batch, vgg_params)
  assert int(state["step"]) == 2 and int(state["nonfinite"]) == 0
  assert np.isfinite(float(metrics["generator_loss"])) and np.isfinite(float(metrics["d_loss"]))
  if kind == "wgan":
    assert "gp" in metrics and "wasserstein" in metrics
  changed = jax.tree.map(lambda a, b: not np.array_equal(a, np.asarray(b)), d_before,
                         state["d_params"])
  assert any(jax.tree.leaves(changed)), "the critic did not train"
  # The frozen VGG-16 parameters are an input, never changed.
  same = jax.tree.map(lambda a, b: np.array_equal(a, np.asarray(b)), vgg_before, vgg_params)
  assert all(jax.tree.leaves(same))


def test_perceptual_loss_in_step(vgg_params):
  config = tiny_config(layers="relu1_2", perceptual=1.0)
  state, pre, adv = build(config)
  state, metrics = pre(state, real_batch(), vgg_params)
  assert float(metrics["perceptual"]) > 0


def test_channel_keep_fraction_critic_and_perceptual_loss(tmp_path, vgg_params):
  """critic.channel_keep_fraction=0.5: half the channels in the critic and perceptual taps."""
  config = tiny_config(layers="selected", perceptual=1.0)
  config.selection.report = str(synthetic_report(tmp_path / "report.json"))
  config.critic.channel_keep_fraction = 0.5
  critic = train.build_models(config, tmp_path)[1]
  assert critic.num_channels("relu1_2") == 32
  state, _, adv = build(config, critic)
  assert state["d_params"]["params"]["proj_relu1_2"]["kernel"].shape == (1, 1, 32, 4)
  batch = real_batch()
  state, metrics = adv(state, batch, vgg_params)
  assert int(state["nonfinite"]) == 0
  assert all(np.isfinite(float(metrics[k])) for k in ("d_loss", "gp", "perceptual"))
  # 1.0 (the default) is no selection at all: the very same critic as without the option.
  config.critic.channel_keep_fraction = 1.0
  assert train.critic_channels(config, tmp_path / "report.json") is None
  plain = tiny_config(layers="selected")
  plain.selection.report = config.selection.report
  del plain.critic["channel_keep_fraction"]
  assert train.build_models(config, tmp_path)[1] == train.build_models(plain, tmp_path)[1]
  for bad in (0.0, 1.5):
    config.critic.channel_keep_fraction = bad
    with pytest.raises(ValueError, match="channel_keep_fraction"):
      train.build_models(config, tmp_path)
  config.critic.update(channel_keep_fraction=0.5, layers="relu1_2,relu2_2")
  with pytest.raises(ValueError, match="not in the report"):
    train.build_models(config, tmp_path)


def test_warmup_reduces_content_loss(vgg_params):
  config = tiny_config(layers="none")
  state, pre, _ = build(config)
  batch = real_batch(n=4)
  losses = []
  for _ in range(30):
    state, metrics = pre(state, batch, vgg_params)
    losses.append(float(metrics["content_loss"]))
  # The generator starts as the identity (zero-initialised output conv), so the first loss is
  # the JPEG's own error; learning must take it down.
  assert np.mean(losses[-5:]) < losses[0] * 0.97, losses


def test_nonfinite_batch_is_skipped_and_counted(vgg_params):
  config = tiny_config(layers="none")
  state, pre, adv = build(config)
  batch = real_batch()
  state, _ = pre(state, batch, vgg_params)
  before = jax.tree.map(np.array, state["g_params"])
  bad = dict(batch, gt=batch["gt"].astype(jnp.float32) * jnp.nan)
  state, metrics = adv(state, bad, vgg_params)
  assert int(state["nonfinite"]) == 1 and int(metrics["nonfinite"]) == 1
  same = jax.tree.map(lambda a, b: np.array_equal(a, np.asarray(b)), before, state["g_params"])
  assert all(jax.tree.leaves(same)), "a non-finite loss reached the parameters"


def test_content_loss_pulls_back_outputs_past_the_valid_range(vgg_params):
  # A saturated target (gt = 255) and an output pushed above 1: the content loss must see the
  # raw output, or (with a straight-through clip) nothing would pull it back.
  config = tiny_config(layers="none")
  state, pre, _ = build(config)
  batch = real_batch(n=2)
  batch["gt"] = jnp.full_like(batch["gt"], 255)
  batch["lq"] = jnp.full_like(batch["lq"], 255)
  out = state["g_params"]["params"]["out"]
  state["g_params"]["params"]["out"] = dict(out, bias=jnp.full_like(out["bias"], 0.2))
  before = float(state["g_params"]["params"]["out"]["bias"][0])
  state, metrics = pre(state, batch, vgg_params)
  assert float(metrics["l1"]) == pytest.approx(0.2, rel=1e-4)  # raw output 1.2 vs target 1.0
  assert float(state["g_params"]["params"]["out"]["bias"][0]) < before


def test_critic_loop_scan_and_unroll_give_the_same_step(vgg_params):
  batch = real_batch()
  out = {}
  for loop in ("unroll", "scan"):
    config = tiny_config(layers="relu1_2", n_critic=2)
    config.train.critic_loop = loop
    state, _, adv = build(config)
    out[loop] = adv(state, batch, vgg_params)
  (a, ma), (b, mb) = out["unroll"], out["scan"]
  np.testing.assert_allclose(float(ma["d_loss"]), float(mb["d_loss"]), rtol=1e-5)
  for x, y in zip(jax.tree.leaves(a["g_params"]), jax.tree.leaves(b["g_params"])):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
  config.train.critic_loop = "while"
  with pytest.raises(ValueError, match="critic_loop"):
    build(config)


@pytest.mark.parametrize("kind,layers,perceptual", [("wgan", "relu1_2", 0.1),
                                                    ("subpatch", "none", 0.1)])
def test_reused_generator_forward_gives_the_same_steps(kind, layers, perceptual, vgg_params):
  """train.reuse_forward (G(lq) and its taps computed once, with their VJP) changes no number."""
  batch = real_batch()
  out = {}
  for reuse in (True, False):
    config = tiny_config(layers=layers, kind=kind, perceptual=perceptual, n_critic=1)
    config.loss.perceptual_layers = "relu1_2"
    config.train.reuse_forward = reuse
    state, _, adv = build(config)
    history = []
    for _ in range(2):  # the second step starts from a generator that is no longer the identity
      state, metrics = adv(state, batch, vgg_params)
      history.append(metrics)
    out[reuse] = state, history
  (a, ha), (b, hb) = out[True], out[False]
  for ma, mb in zip(ha, hb):
    for key in ("generator_loss", "g_grad_norm", "d_loss", "perceptual"):
      np.testing.assert_allclose(float(ma[key]), float(mb[key]), rtol=1e-5, err_msg=key)
  for x, y in zip(jax.tree.leaves((a["g_params"], a["d_params"])),
                  jax.tree.leaves((b["g_params"], b["d_params"]))):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)


def test_lazy_gradient_penalty_steps(vgg_params):
  """loss.gp_every = k: the penalty step weights it k·λ_gp, the plain step leaves it out."""
  batch = real_batch()
  config = tiny_config(layers="relu1_2", n_critic=1)
  config.loss.gp_every = 3
  generator = train.build_models(config, "/nonexistent")[0]
  critic = critic_lib.make_critic(config.critic)
  g_opt = steps.make_optimizer(1e-3, 0.0, 0.9)
  d_opt = steps.make_optimizer(1e-3, 0.0, 0.9)
  state = train.init_state(generator, critic, g_opt, d_opt, config, jax.random.PRNGKey(0))
  with_gp = steps.make_steps(generator, critic, g_opt, d_opt, config)[1]
  without = steps.make_steps(generator, critic, g_opt, d_opt, config, penalty=False)[1]
  _, m = jax.jit(with_gp)(state, batch, vgg_params)
  np.testing.assert_allclose(float(m["d_loss"]),
                             -float(m["wasserstein"]) + 3 * 10.0 * float(m["gp"]), rtol=1e-5)
  _, m0 = jax.jit(without)(state, batch, vgg_params)
  assert "gp" not in m0
  np.testing.assert_allclose(float(m0["d_loss"]), -float(m0["wasserstein"]), rtol=1e-6)
  np.testing.assert_allclose(float(m0["wasserstein"]), float(m["wasserstein"]), rtol=1e-6)
  # The trainer's schedule: warm-up, then the penalty on every third step.
  kinds = [train.step_kind(s, warmup=2, gp_every=3) for s in range(1, 9)]
  assert kinds == ["pretrain", "pretrain", "adversarial", "adversarial_no_gp",
                   "adversarial_no_gp", "adversarial", "adversarial_no_gp", "adversarial_no_gp"]
  for bad in (0, -2):
    config.loss.gp_every = bad
    with pytest.raises(ValueError, match="gp_every"):
      steps.make_steps(generator, critic, g_opt, d_opt, config)


@pytest.mark.parametrize("name", ["galteri_jpeg", "paper", "default", "quickstart"])
def test_shipped_configs_build_their_steps(name, vgg_params, tmp_path):
  """Every shipped config's steps trace (shapes only): config values reach the steps intact."""
  config = load_config(name)
  config.generator.update(width=8, num_blocks=1)
  config.data.crop_size = 32
  config.selection.report = str(synthetic_report(tmp_path / "report.json"))
  generator, critic = train.build_models(config, tmp_path)
  g_opt, d_opt = steps.make_optimizers(config)
  state = jax.eval_shape(lambda: train.init_state(generator, critic, g_opt, d_opt, config,
                                                  jax.random.PRNGKey(0)))
  batch = real_batch(size=32)
  if config.generator.get("temporal_window", 1) > 1:
    batch["lq"] = jnp.repeat(batch["lq"], config.generator.temporal_window, axis=1)
  pre, adv = steps.make_steps(generator, critic, g_opt, d_opt, config)
  for fn in (pre, adv):
    _, metrics = jax.eval_shape(fn, state, batch, vgg_params)
    assert metrics["generator_loss"].shape == ()


def test_cosine_generator_rate_decays_over_the_run():
  config = ml_collections.ConfigDict({"train": dict(
      lr_generator=1e-2, lr_critic=1e-3, b1=0.0, b2=0.9, generator_b1=0.9, generator_b2=0.999,
      generator_clip_norm=0.0, generator_lr_decay="cosine", generator_lr_final=0.1, steps=10)})
  g_opt, _ = steps.make_optimizers(config)
  params = {"w": jnp.zeros(4)}
  state = g_opt.init(params)
  sizes = []
  for _ in range(11):  # Adam's first updates are ~lr in size for a constant gradient
    updates, state = g_opt.update({"w": jnp.ones(4)}, state, params)
    sizes.append(float(jnp.abs(updates["w"]).mean()))
  np.testing.assert_allclose(sizes[0], 1e-2, rtol=1e-3)
  np.testing.assert_allclose(sizes[10], 1e-3, rtol=1e-3)  # the final rate: 0.1 x the start
  assert all(a >= b for a, b in zip(sizes, sizes[1:]))
  config.train.generator_lr_decay = "linear"
  with pytest.raises(ValueError, match="'constant' or 'cosine'"):
    steps.make_optimizers(config)


def test_condition_codes_map_the_records_codec_and_drop_by_step():
  batch = {"codec": jnp.array([-1, 0, 2, 4] * 64, jnp.int32)}
  codes = steps.condition_codes(batch, jnp.int32(0), 0.0)
  np.testing.assert_array_equal(codes[:4], [0, 1, 3, 5])  # unknown, h264, av1, jpeg
  dropped = steps.condition_codes(batch, jnp.int32(7), 0.25)
  again = steps.condition_codes(batch, jnp.int32(7), 0.25)
  np.testing.assert_array_equal(dropped, again)  # a resumed run draws the same
  hidden = np.asarray((dropped == 0) & (codes != 0))
  assert 0.1 < hidden.mean() < 0.4
  other = steps.condition_codes(batch, jnp.int32(8), 0.25)
  assert not np.array_equal(dropped, other)


def test_codec_conditioned_generator_trains_only_the_rows_it_is_told(vgg_params):
  config = tiny_config(layers="none")
  config.generator.conditioning = "codec"
  config.train.condition_dropout = 0.0
  state, pre, _ = build(config)
  batch = dict(real_batch(), codec=jnp.array([1, 1], jnp.int32))  # both HEVC
  before = np.array(state["g_params"]["params"]["codec_film"]["embedding"])
  state, _ = pre(state, batch, vgg_params)
  state, _ = pre(state, batch, vgg_params)
  after = np.asarray(state["g_params"]["params"]["codec_film"]["embedding"])
  moved = np.any(after != before, axis=1)
  np.testing.assert_array_equal(moved, [False, False, True, False, False, False])
  assert int(state["nonfinite"]) == 0


def test_condition_dropout_hides_the_qp_map_on_the_rows_it_hides_the_codec():
  n = 256
  batch = {"codec": jnp.zeros(n, jnp.int32),
           "qp_map": jnp.full((n, 4, 4), 30, jnp.uint8)}
  codes = steps.condition_codes(batch, jnp.int32(7), 0.25)
  qp = steps.condition_qp_map(batch, jnp.int32(7), 0.25)
  hidden = np.asarray(codes == 0)
  assert 0.1 < hidden.mean() < 0.4
  np.testing.assert_array_equal(np.asarray(qp)[hidden], 255)
  np.testing.assert_array_equal(np.asarray(qp)[~hidden], 30)
  np.testing.assert_array_equal(steps.condition_qp_map(batch, jnp.int32(7), 0.0),
                                batch["qp_map"])


def test_qp_conditioned_generator_learns_from_the_qp_map_of_the_batch(vgg_params):
  config = tiny_config(layers="none")
  config.generator.conditioning = "codec_qp"
  config.train.condition_dropout = 0.0
  with pytest.raises(ValueError, match="data.quantiser=True"):
    build(config)
  config.data.quantiser = True
  start, pre, _ = build(config)
  base = dict(real_batch(), codec=jnp.array([0, 0], jnp.int32))
  rng = np.random.default_rng(0)
  known = dict(base, qp_map=jnp.asarray(rng.integers(20, 45, (2, 32, 32)), jnp.uint8))
  unknown = dict(base, qp_map=jnp.full((2, 32, 32), 255, jnp.uint8))
  before = np.array(start["g_params"]["params"]["qp_stem"]["kernel"])
  assert not before.any()
  moved = {}
  for name, batch in (("known", known), ("unknown", unknown)):
    state = jax.tree.map(jnp.copy, start)
    for _ in range(2):  # the first step moves the zero output conv, the second reaches the stem
      state, _ = pre(state, batch, vgg_params)
    moved[name] = np.abs(np.asarray(state["g_params"]["params"]["qp_stem"]["kernel"])).max()
    assert int(state["nonfinite"]) == 0
  assert moved["known"] > 0 and moved["unknown"] == 0
