r"""Full W-GAN-GP train step: jaxenhance (``steps.make_steps``, jitted, AOT) vs the PyTorch loop.

  .venv/bin/python benchmarks/train_step.py                       # n_critic 5, 2 and 1
  .venv/bin/python benchmarks/train_step.py --profile --repeats 3 # + where the time goes

Setting (defaults): batch 8 of 96x96 crops of real photos (uint8 gt and its JPEG q10 version);
generator "residual", width 32, 2 scales, 4 blocks; W-GAN critic (width 64, 1x1 projections to 32,
3 stride-2 convs, LayerNorm) on the VGG-16 taps relu1_2 and relu2_2 (VGG runs 4 convs), RGB stem;
losses l1 + 1e-3 adversarial, λ_gp = 10; Adam(β = 0, 0.9).

"The same math": both sides minimise the same W-GAN-GP objectives on the same batch, with the same
weights (the JAX init copied into torch; parameter counts checked equal; one forward and one
whole step checked to match, with torch fed JAX's ε):

* critic, n_critic times: E[D(G(lq))] - E[D(gt)] + 10·E[(‖∇_x̂ D(x̂)‖₂ - 1)²], x̂ = ε·gt + (1-ε)·G(lq),
  one Adam step each; the generator is fixed meanwhile, so G(lq) and the VGG taps of gt and G(lq)
  have the same values in every critic iteration. jaxenhance computes them once per batch and
  reuses them; the idiomatic torch loop recomputes them per iteration.
  Both use the same batch for all n_critic updates (the torch loop could draw a new batch per
  critic update; it is given the same one so the work compared is the same).
* generator: |G(lq) - gt|₁ - 1e-3·E[D(G(lq))] with the updated critic, one Adam step. jaxenhance
  pulls this loss's gradient back through the VJP of G(lq) and its taps saved at the start of the
  step (``train.reuse_forward``; variant "recompute" runs both forwards again, as torch does).

"torch (reuse)" is the torch loop with jaxenhance's reuse (G and the VGG taps once per batch), to
separate what comes from doing less from what comes from XLA.

Achieved GFLOP/s use the compiled step's ``cost_analysis()`` FLOPs. XLA counts a while loop's body
once, so the step's FLOPs are ``cost(step) + (n_critic - 1) · cost(one critic update)``. The torch
FLOPs are counted by ``torch.utils.flop_counter`` (it does more work for the same math). The conv
peak is one large jitted 3x3 conv, measured in the same run. Targets (issue 5): jax >= 1.3x the
torch step, >= 60 % of the conv peak.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(__file__))
from common import conv_peak_gflops, time_call, time_interleaved

from jaxenhance import assets, losses, steps, train
from jaxenhance.config_loader import load_config
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import vgg

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


# --------------------------------------------------------------------------- setting


def make_config(args, n_critic: int, gp: float = 10.0):
  c = load_config("quickstart")
  c.generator.update(kind="residual", width=args.g_width, num_scales=2, num_blocks=args.g_blocks,
                     temporal_window=1)
  c.critic.update(kind="wgan", layers=args.layers, width=args.d_width, proj_channels=args.proj,
                  num_downsamples=3, norm="layer", rgb_stem=True,
                  conv_impl=getattr(args, "conv_impl", "patches"))
  c.loss.update(l1=1.0, mse=0.0, ssim=0.0, perceptual=args.perceptual, adversarial=1e-3, gp=gp)
  c.loss.perceptual_normalize = "layer"
  c.train.n_critic = n_critic
  c.data.crop_size = args.size
  c.data.batch_size = args.batch
  return c


def real_batch(n: int, size: int, seed: int = 0) -> dict[str, np.ndarray]:
  """Crops of real photos (gt) and their JPEG q10 versions (lq [N,1,H,W,3]), uint8."""
  from PIL import Image

  rng = np.random.default_rng(seed)
  gts, lqs = [], []
  for i in range(n):
    photo = assets.sample_photo(PHOTOS[i % len(PHOTOS)])
    y = rng.integers(0, photo.shape[0] - size)
    x = rng.integers(0, photo.shape[1] - size)
    gt = np.ascontiguousarray(photo[y:y + size, x:x + size, :3])
    buf = io.BytesIO()
    Image.fromarray(gt).save(buf, format="JPEG", quality=10)
    gts.append(gt)
    lqs.append(np.asarray(Image.open(buf).convert("RGB"))[None])
  return {"lq": np.stack(lqs), "gt": np.stack(gts)}


class Models:
  """Generator, critic, optimizers and the jitted ``init_state``, shared by every setting."""

  def __init__(self, config):
    self.generator, self.critic = train.build_models(config, Path("/nonexistent"))
    self.g_opt, self.d_opt = steps.make_optimizers(config)
    self.init = jax.jit(lambda r: train.init_state(
        self.generator, self.critic, self.g_opt, self.d_opt, config, r))


class JaxSetting:
  """One compiled adversarial step, used exactly as the trainer does (jit + donate + AOT).

  ``variant``: "" is ``steps.make_steps`` with the config as given; "scan" puts the critic updates
  in a while loop (``train.critic_loop``), "recompute" runs G(lq) and its VGG taps again in the
  generator update (``train.reuse_forward = False``); both keep the math. "no-gp" is the lazy
  gradient penalty's plain step (``make_steps(..., penalty=False)``): it changes the math.
  """

  def __init__(self, models: Models, config, batch, vgg_params, variant: str = "",
               seed: int = 0):
    self.models, self.config, self.seed = models, config, seed
    self.generator, self.critic = models.generator, models.critic
    self.g_opt, self.d_opt, self.init = models.g_opt, models.d_opt, models.init
    self.state = self.init(jax.random.PRNGKey(seed))
    if variant:
      config = config.copy_and_resolve_references()
    if "scan" in variant:  # the critic updates in a while loop (train.critic_loop)
      config.train.critic_loop = "scan"
    if "recompute" in variant:  # G(lq) and its taps run again in the generator update
      config.train.reuse_forward = False
    _, self.step_fn = steps.make_steps(self.generator, self.critic, self.g_opt, self.d_opt,
                                       config, penalty="no-gp" not in variant)
    self.batch, self.vgg_params = batch, vgg_params
    self.compiled = jax.jit(self.step_fn, donate_argnums=(0,)).lower(
        self.state, batch, vgg_params).compile()
    self.raw_flops = train.compiled_cost(self.compiled)["flops"]

  def run(self) -> None:
    self.state, metrics = self.compiled(self.state, self.batch, self.vgg_params)
    jax.block_until_ready((self.state, metrics))


# --------------------------------------------------------------------------- sub-parts


def critic_update_fn(js: JaxSetting, gp_weight: float | None = 10.0):
  """One critic update as inside ``steps.adversarial_step`` (taps precomputed); gp_weight None
  drops the gradient penalty (its cost = full - this)."""
  critic, d_opt = js.critic, js.d_opt

  def update(d_params, d_opt_state, vgg_params, gt, fake, real_taps, fake_taps, key):
    def loss_fn(p):
      if gp_weight is None:
        both = {k: jnp.concatenate([real_taps[k], fake_taps[k]]) for k in real_taps}
        scores = critic.apply(p, jnp.concatenate([gt, fake]), both)
        return losses.wgan_critic_loss(scores[:gt.shape[0]], scores[gt.shape[0]:])
      return losses.wgan_gp_critic_loss(critic, p, vgg_params, gt, fake, key,
                                        real_taps=real_taps, fake_taps=fake_taps,
                                        gp_weight=gp_weight)
    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(d_params)
    updates, d_opt_state = d_opt.update(grads, d_opt_state, d_params)
    return optax.apply_updates(d_params, updates), d_opt_state, loss
  return jax.jit(update)


def sub_parts(js: JaxSetting):
  """Jitted pieces of the step: {name: (compiled, args)}."""
  s, vp = js.state, js.vgg_params
  lq, gt = steps.batch_to_float(js.batch)
  layers = tuple(js.critic.layers)
  g_fwd = jax.jit(lambda p, x: js.generator.apply(p, x))
  fake = g_fwd(s["g_params"], lq)
  vgg_2n = jax.jit(lambda v, a, b: critic_lib.split_taps(
      critic_lib.critic_features(v, jnp.concatenate([a, b]), layers), a.shape[0]))
  real_taps, fake_taps = vgg_2n(vp, gt, fake)
  key = jax.random.PRNGKey(1)
  args_cu = (s["d_params"], s["d_opt"], vp, gt, fake, real_taps, fake_taps, key)

  def g_update(g_params, g_opt_state, d_params, vgg_params, lq, gt, real_taps):
    def terms(p):
      f = js.generator.apply(p, lq)
      ft = critic_lib.critic_features(vgg_params, f, layers)
      adv, _ = losses.wgan_generator_loss(js.critic.apply(d_params, f, ft))
      return losses.generator_loss(f, gt, js.config.loss, adversarial=adv, fake_taps=ft,
                                   real_taps=real_taps)
    (loss, _), grads = jax.value_and_grad(terms, has_aux=True)(g_params)
    updates, g_opt_state = js.g_opt.update(grads, g_opt_state, g_params)
    return optax.apply_updates(g_params, updates), g_opt_state, loss

  parts = {
      "G forward": (g_fwd, (s["g_params"], lq)),
      "VGG forward [gt; G(lq)] (2N)": (vgg_2n, (vp, gt, fake)),
      "critic update (full, 1 of n)": (critic_update_fn(js), args_cu),
      "critic update without GP": (critic_update_fn(js, None), args_cu),
      "generator update": (jax.jit(g_update), (s["g_params"], s["g_opt"], s["d_params"], vp,
                                               lq, gt, real_taps)),
  }
  return {name: (fn.lower(*a).compile(), a) for name, (fn, a) in parts.items()}


# --------------------------------------------------------------------------- torch


def build_torch(js: JaxSetting, args, n_critic: int, reuse: bool):
  import torch_wgan as tw

  cfg = js.config
  layers = tuple(js.critic.layers)
  g = tw.Generator(cfg.generator.width, cfg.generator.num_scales, cfg.generator.num_blocks)
  d = tw.CriticHead(layers, vgg.CHANNELS, vgg.STRIDES, cfg.critic.width, cfg.critic.proj_channels,
                    cfg.critic.num_downsamples)
  net = tw.VGGTrunk(layers)
  tw.load_flax(g, d, net, jax.device_get(js.state["g_params"]),
               jax.device_get(js.state["d_params"]), jax.device_get(js.vgg_params))
  return tw.TorchWGAN(g, d, net, n_critic=n_critic, lr_g=cfg.train.lr_generator,
                      lr_d=cfg.train.lr_critic, betas=(cfg.train.b1, cfg.train.b2), l1=cfg.loss.l1,
                      adversarial=cfg.loss.adversarial, gp=cfg.loss.gp,
                      perceptual=cfg.loss.perceptual, reuse=reuse)


def n_params(tree) -> int:
  return int(sum(np.size(x) for x in jax.tree.leaves(tree)))


def check_against_torch(js: JaxSetting, args, host_batch) -> None:
  """Parameter counts, one forward with perturbed (non-identity) weights, one whole step."""
  import torch
  import torch_wgan as tw

  tws = build_torch(js, args, int(js.config.train.n_critic), reuse=False)
  n_convs = len(tws.vgg.convs)
  vgg_count = n_params({k: v for k, v in js.vgg_params["params"].items()
                        if int(k.split("_")[1]) < n_convs})
  counts = {"generator": (n_params(js.state["g_params"]), tw.num_params(tws.g)),
            "critic head": (n_params(js.state["d_params"]), tw.num_params(tws.d)),
            "VGG trunk": (vgg_count, sum(p.numel() for p in tws.vgg.parameters()))}
  for name, (a, b) in counts.items():
    print(f"  params {name:12s}: jax {a:,}  torch {b:,}")
    if a != b:
      raise AssertionError(f"{name} parameter counts differ: jax {a} torch {b}")

  lq_np = host_batch["lq"][:, 0].astype(np.float32) / 255.0
  gt_np = host_batch["gt"].astype(np.float32) / 255.0
  lq_t, gt_t = tw.nchw(lq_np), tw.nchw(gt_np)

  # Forward with perturbed weights: at init the generator is the identity (zero-init output).
  noise = lambda tree, seed: jax.tree.map(
      lambda p, k: p + 0.02 * jax.random.normal(k, p.shape),
      tree, jax.tree.unflatten(jax.tree.structure(tree),
                               list(jax.random.split(jax.random.PRNGKey(seed),
                                                     len(jax.tree.leaves(tree))))))
  g_vars, d_vars = noise(js.state["g_params"], 1), noise(js.state["d_params"], 2)
  tw.load_flax(tws.g, tws.d, tws.vgg, jax.device_get(g_vars), jax.device_get(d_vars),
               jax.device_get(js.vgg_params))
  fake_j = js.generator.apply(g_vars, jnp.asarray(lq_np))
  score_j = critic_lib.critic_scores(js.critic, d_vars, js.vgg_params, fake_j)
  with torch.no_grad():
    fake_t = tws.g(lq_t)
    score_t = tws.critic(fake_t)
  d_fake = float(np.max(np.abs(np.asarray(fake_j).transpose(0, 3, 1, 2) - fake_t.numpy())))
  score_t = score_t.numpy()
  d_score = float(np.max(np.abs(np.asarray(score_j) - score_t)))
  print(f"  forward (perturbed weights): max|ΔG(lq)| {d_fake:.2e}, max|Δscore| {d_score:.2e} "
        f"(|score| ~ {float(np.abs(score_t).mean()):.3g})")
  if d_fake > 1e-4 or d_score > 1e-4 * max(1.0, float(np.abs(score_t).max())):
    raise AssertionError("torch mirror forward differs from jaxenhance by more than 1e-4")

  # One whole step from the same init, torch fed JAX's ε: same losses.
  tws = build_torch(js, args, int(js.config.train.n_critic), reuse=False)
  state = js.init(jax.random.PRNGKey(js.seed))
  rng = jax.random.fold_in(state["rng"], state["step"])
  eps = [torch.from_numpy(np.array(jax.random.uniform(
      jax.random.fold_in(rng, i), (args.batch, 1, 1, 1), jnp.float32)))
         for i in range(int(js.config.train.n_critic))]
  _, metrics = js.compiled(state, js.batch, js.vgg_params)  # a fresh state: donated here
  out_t = tws.step(lq_t, gt_t, eps)
  # After a critic update the losses agree only to ~1e-3: Adam with β1 = 0 moves every weight by
  # about ±lr on its first update whatever the gradient's size, and a few of the critic's
  # weights have gradients within rounding of zero (9 of 452k below 1e-7 at this batch), so
  # their sign, and so the next update's loss, depends on summation order. Two equal JAX
  # programs differ as much (reuse_forward on/off: 6e-4 at n_critic 5). The first critic
  # update's loss (n_critic 1) agrees to ~5e-5.
  loose = 1e-3 if int(js.config.train.n_critic) == 1 else 5e-3
  for name, jname, tol in (("d_loss", "d_loss", loose), ("gp", "gp", loose),
                           ("g_loss", "generator_loss", 1e-3)):
    a, b = float(metrics[jname]), float(out_t[name])
    print(f"  one step, last {name:6s}: jax {a:.6f}  torch {b:.6f}  |Δ| {abs(a - b):.1e}")
    if abs(a - b) > tol * max(1.0, abs(b)):
      raise AssertionError(f"one-step {name} differs between jax and torch")


def torch_flops(tws, lq, gt) -> float:
  """FLOPs of one torch step, counted per dispatched aten op with torch's own formulas.

  (``FlopCounterMode`` itself cannot run ``autograd.grad(create_graph=True)``: its module
  tracker's backward hooks refuse it.)
  """
  from torch.utils._python_dispatch import TorchDispatchMode
  from torch.utils.flop_counter import flop_registry

  class Counter(TorchDispatchMode):
    total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
      kwargs = kwargs or {}
      out = func(*args, **kwargs)
      formula = flop_registry.get(func._overloadpacket)
      if formula is not None:
        Counter.total += formula(*args, **kwargs, out_val=out)
      return out

  with Counter():
    tws.step(lq, gt)
  return float(Counter.total)


# --------------------------------------------------------------------------- main


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--size", type=int, default=96)
  parser.add_argument("--g-width", type=int, default=32)
  parser.add_argument("--g-blocks", type=int, default=4)
  parser.add_argument("--layers", default="relu1_2,relu2_2")
  parser.add_argument("--d-width", type=int, default=64)
  parser.add_argument("--proj", type=int, default=32)
  parser.add_argument("--perceptual", type=float, default=0.0)
  parser.add_argument("--conv-impl", default="patches", help="critic.conv_impl: patches or xla")
  parser.add_argument("--n-critic", default="5,2,1", help="comma-separated settings")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--no-torch", action="store_true")
  parser.add_argument("--no-reuse-torch", action="store_true",
                      help="skip the torch loop with jaxenhance's reuse")
  parser.add_argument("--no-check", action="store_true")
  parser.add_argument("--profile", action="store_true", help="time the step's sub-parts")
  parser.add_argument("--variants", default="",
                      help="alternatives to time too (comma-separated): recompute (no reuse "
                           "of the generator's forward), scan (the critic updates in a while "
                           "loop), recompute+scan; no-gp (the lazy penalty's plain step: "
                           "changes the math)")
  args = parser.parse_args()

  import torch
  torch.manual_seed(0)
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cpus), "
        f"torch {torch.__version__} threads={torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.2f}")
  print(f"batch {args.batch} x {args.size}^2, generator residual w{args.g_width} 2 scales "
        f"{args.g_blocks} blocks, critic w{args.d_width} proj{args.proj} on VGG {args.layers}, "
        f"perceptual {args.perceptual}")
  host_batch = real_batch(args.batch, args.size)
  batch = jax.device_put(host_batch)
  vgg_params = jax.device_put(vgg.load_params())
  lq_t = torch.from_numpy(host_batch["lq"][:, 0].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
  gt_t = torch.from_numpy(host_batch["gt"].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
  lq_t, gt_t = lq_t.contiguous(), gt_t.contiguous()

  settings = [int(n) for n in args.n_critic.split(",")]
  variants = [v for v in args.variants.split(",") if v]
  models = Models(make_config(args, settings[0]))
  fns, flops, setups = {}, {}, {}
  for n in settings:
    config = make_config(args, n)
    start = time.perf_counter()
    js = JaxSetting(models, config, batch, vgg_params)
    # XLA counts a while loop's body once: a scanned step adds the other n - 1 critic updates.
    cu_flops = (train.compiled_cost(critic_update_fn(js).lower(*sub_args(js)).compile())["flops"]
                if n > 1 and (config.train.critic_loop == "scan"
                              or any("scan" in v for v in variants)) else 0.0)
    scanned = config.train.critic_loop == "scan"
    flops[f"jax n={n}"] = js.raw_flops + (n - 1) * cu_flops * scanned
    print(f"n_critic={n}: compiled in {time.perf_counter() - start:.1f}s; cost_analysis "
          f"{js.raw_flops / 1e9:.1f} GFLOP "
          f"(+ {n - 1} x critic update {cu_flops * scanned / 1e9:.1f})")
    if not args.no_check and not args.no_torch:
      check_against_torch(js, args, host_batch)
    setups[n] = js
    fns[f"jax n={n}"] = js.run
    for variant in variants:
      start = time.perf_counter()
      jv = JaxSetting(models, config, batch, vgg_params, variant=variant)
      name = f"jax {variant} n={n}"
      # Same FLOP count as the baseline minus what the variant skips (its own cost_analysis).
      flops[name] = jv.raw_flops + (n - 1) * cu_flops * (scanned or "scan" in variant)
      print(f"  variant {variant}: compiled in {time.perf_counter() - start:.1f}s, "
            f"cost_analysis {jv.raw_flops / 1e9:.1f} GFLOP")
      if not args.no_check:
        if "no-gp" not in variant:  # the others must give the same step
          check_variant(js, jv)
      fns[name] = jv.run
    if not args.no_torch:
      for reuse in (False,) if args.no_reuse_torch or n == 1 else (False, True):
        tws = build_torch(js, args, n, reuse=reuse)
        name = f"torch{' (reuse)' if reuse else ''} n={n}"
        flops[name] = torch_flops(tws, lq_t, gt_t)
        fns[name] = functools.partial(tws.step, lq_t, gt_t)

  load_before = os.getloadavg()
  seconds = time_interleaved(fns, repeats=args.repeats, warmup=1)
  load_after = os.getloadavg()
  peak = conv_peak_gflops()

  print(f"\nconv peak (3x3, 256ch, 64^2, jitted): {peak:.1f} GFLOP/s; "
        f"load average before/after timing {load_before[0]:.2f}/{load_after[0]:.2f}")
  print(f"{'step':30s} {'s/step':>8s} {'patches/s':>10s} {'GFLOP/step':>11s} {'GFLOP/s':>8s} "
        f"{'% peak':>7s}")
  for name, sec in seconds.items():
    g = flops[name] / 1e9
    print(f"{name:30s} {sec:8.3f} {args.batch / sec:10.2f} {g:11.1f} {g / sec:8.1f} "
          f"{100 * g / sec / peak:6.0f}%")
  for n in settings:
    base = seconds[f"jax n={n}"]
    parts = [f"{name.replace(f' n={n}', '')} {seconds[name] / base:.2f}x"
             for name in seconds if name.endswith(f" n={n}") and name != f"jax n={n}"]
    print(f"n_critic={n}: time of each relative to jax (>1 = jax faster): " + ", ".join(parts))
  print("targets: jax >= 1.3x torch; >= 60 % of the conv peak")
  for n in settings:  # lazy penalty (loss.gp_every = k): one penalty step in k, the rest plain
    if f"jax no-gp n={n}" in seconds and f"torch n={n}" in seconds:
      for k in (4, 16):
        lazy = (seconds[f"jax n={n}"] + (k - 1) * seconds[f"jax no-gp n={n}"]) / k
        print(f"n_critic={n}, loss.gp_every={k} (changes the math): {lazy:.3f} s/step on "
              f"average, {seconds[f'torch n={n}'] / lazy:.2f}x the torch W-GAN-GP step")

  if args.profile:
    js = setups[settings[0]]
    print(f"\nsub-parts (n_critic={settings[0]} setting), median of {args.repeats}:")
    for name, (compiled, a) in sub_parts(js).items():
      call = functools.partial(compiled, *a)
      sec = time_call(lambda c=call: jax.block_until_ready(c()), repeats=args.repeats)
      f = train.compiled_cost(compiled)["flops"] / 1e9
      print(f"  {name:32s} {1e3 * sec:8.1f} ms {f:7.2f} GFLOP {f / sec:7.1f} GFLOP/s")


def check_variant(js: JaxSetting, jv: JaxSetting) -> None:
  """A candidate change must give the same step: same losses and parameters from one state."""
  out_a, m_a = js.compiled(js.init(jax.random.PRNGKey(js.seed)), js.batch, js.vgg_params)
  out_b, m_b = jv.compiled(jv.init(jax.random.PRNGKey(js.seed)), js.batch, js.vgg_params)
  dl = max(abs(float(m_a[k]) - float(m_b[k])) for k in ("d_loss", "generator_loss"))
  dp = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(
      jax.tree.leaves(out_a["g_params"]), jax.tree.leaves(out_b["g_params"])))
  print(f"    same step as steps.py: max |Δloss| {dl:.1e}, max |Δ generator param| {dp:.1e} "
        f"(lr_g {js.config.train.lr_generator:g})")


def sub_args(js: JaxSetting):
  lq, gt = steps.batch_to_float(js.batch)
  fake = js.generator.apply(js.state["g_params"], lq)
  taps = critic_lib.critic_features(js.vgg_params, jnp.concatenate([gt, fake]),
                                    tuple(js.critic.layers))
  real_taps, fake_taps = critic_lib.split_taps(taps, gt.shape[0])
  return (js.state["d_params"], js.state["d_opt"], js.vgg_params, gt, fake, real_taps, fake_taps,
          jax.random.PRNGKey(1))


if __name__ == "__main__":
  main()
