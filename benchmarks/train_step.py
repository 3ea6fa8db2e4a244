r"""Full W-GAN-GP train step: jaxenhance (``steps.make_steps``, jitted, AOT) vs the PyTorch loop.

  .venv/bin/python benchmarks/train_step.py                       # hand-made setting, n_critic 5, 2, 1
  .venv/bin/python benchmarks/train_step.py --settings quickstart,default,flagship \
      --shapes flagship:8x96,flagship:32x48 --profile short       # the shipped configs' steps
  .venv/bin/python benchmarks/train_step.py --profile --repeats 3 # + where the time goes
  .venv/bin/python benchmarks/train_step.py --settings flagship --shapes 2x32 --skip-own-shape \
      --repeats 1                                                 # quick parity check

``--markdown FILE`` also writes the output, with the command, to FILE (e.g.
``results/train_step_shapes.md``).

Settings (``--settings``, comma-separated; each runs at its config's own batch x crop, plus the
``--shapes`` given as BxS for every setting or SETTING:BxS for one):

* ``quickstart``, ``default``, ``flagship`` (= ``flagship.py:adversarial``, the adversarial
  fine-tune; its content stage trains no critic): the config as the trainer runs it, i.e. its
  generator, critic, loss weights, n_critic, optimizers (the generator's own betas, clip and
  schedule), batch and crop. ``critic.layers="selected"`` is resolved as the trainer resolves
  it, from the select stage's report for the config's ``selection`` parameters: the stored
  ``results/selection_vgg16/report.json`` where its parameters match (the default's 224² probe,
  ~6 min on 2 cores), else the select stage's probe, scoring and selection run here (the reduced
  64² probe of quickstart and flagship: seconds, cached by its parameters). At the time of
  writing: quickstart = generator residual w32, full resolution (0 scales), 4 blocks, luma
  correction, 15² high-pass; critic w24 proj16 on relu2_1 + relu2_2 (read at half resolution:
  the RGB stem sees the image's 2x2 space-to-depth), n_critic 2, batch 8 x 48². Flagship: the
  same with 8 blocks, critic w32 proj16, n_critic 2, batch 16 x 64². Default: generator w64,
  2 scales, 8 blocks, RGB correction; critic w64 proj32 on relu2_1 + relu2_2 + relu3_2, n_critic
  5, batch 16 x 96². All: l1 + 1e-3 adversarial, λ_gp = 10, critic Adam(0, 0.9).
* ``handmade`` (the default; issue 5's setting): batch 8 of 96x96 crops (``--batch``, ``--size``);
  generator "residual", width 32, 2 scales, 4 blocks; W-GAN critic (width 64, 1x1 projections to
  32, 3 stride-2 convs, LayerNorm) on the VGG-16 taps relu1_2 and relu2_2 (VGG runs 4 convs), RGB
  stem; losses l1 + 1e-3 adversarial, λ_gp = 10; the quickstart's optimizers (critic Adam(0, 0.9),
  generator Adam(0.9, 0.999) after a global-norm clip at 1); one row per ``--n-critic``.

Batches are crops of real photos (uint8 gt and its JPEG q10 version).

"The same math": both sides minimise the same W-GAN-GP objectives on the same batch, with the same
weights (the JAX init copied into torch; parameter counts checked equal; one forward with
perturbed weights and one whole step checked to match, with torch fed JAX's ε; for every setting
and shape, the torch loop with and without reuse):

* critic, n_critic times: E[D(G(lq))] - E[D(gt)] + 10·E[(‖∇_x̂ D(x̂)‖₂ - 1)²], x̂ = ε·gt + (1-ε)·G(lq),
  one Adam step each; the generator is fixed meanwhile, so G(lq) and the VGG taps of gt and G(lq)
  have the same values in every critic iteration. jaxenhance computes them once per batch and
  reuses them; the idiomatic torch loop recomputes them per iteration.
  Both use the same batch for all n_critic updates (the torch loop could draw a new batch per
  critic update; it is given the same one so the work compared is the same).
* generator: |raw - gt|₁ - 1e-3·E[D(clip(raw))] with the updated critic (raw = G(lq) before the
  clip), one step of the config's generator optimizer. jaxenhance pulls this loss's gradient back
  through the VJP of G(lq) and its taps saved at the start of the step (``train.reuse_forward``;
  variant "recompute" runs both forwards again, as the idiomatic torch loop does).

"torch (reuse)" is the torch loop with jaxenhance's reuse: G and the VGG taps once per batch, read
detached by the critic iterations and backpropagated through by the generator update, to separate
what comes from doing less from what comes from XLA.

Achieved GFLOP/s use the compiled step's ``cost_analysis()`` FLOPs. XLA counts a while loop's body
once, so the step's FLOPs are ``cost(step) + (n_critic - 1) · cost(one critic update)``. The torch
FLOPs are counted by ``torch.utils.flop_counter`` (it does more work for the same math). The conv
peak is one large jitted 3x3 conv, timed in the same interleaved rounds as the steps. Times are
the best of ``--repeats`` rounds (the median is printed too): on a shared machine a round can
lose seconds to other jobs, torch's OpenMP barriers most. Targets (issue 5, issue 21 at the
flagship's shape): jax >= 1.3x the torch step (with reuse), >= 60 % of the conv peak.
``--profile short`` times the step's sub-parts of every row that misses a target and prints one
line saying where its time goes.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, os.path.dirname(__file__))

from jaxenhance import assets, losses, steps, train
from jaxenhance.config_loader import load_config
from jaxenhance.models import critic as critic_lib
from jaxenhance.models import vgg

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
# The shipped configs benchmarked by --settings (flagship: its adversarial stage).
SHIPPED = {"quickstart": "quickstart", "default": "default", "flagship": "flagship:adversarial"}
# The select stage's report for the default config's selection parameters (README).
STORED_REPORT = Path(__file__).resolve().parent / "results" / "selection_vgg16" / "report.json"


# --------------------------------------------------------------------------- setting


def make_config(args, n_critic: int, gp: float = 10.0):
  """The hand-made setting (issue 5) with ``n_critic`` critic updates."""
  c = load_config("quickstart")
  c.generator.update(kind="residual", width=args.g_width, num_scales=2, num_blocks=args.g_blocks,
                     temporal_window=1, correction="rgb", highpass=0)
  c.critic.update(kind="wgan", layers=args.layers, width=args.d_width, proj_channels=args.proj,
                  num_downsamples=3, norm="layer", rgb_stem=True,
                  conv_impl=getattr(args, "conv_impl", "patches"))
  c.loss.update(l1=1.0, mse=0.0, ssim=0.0, perceptual=args.perceptual, adversarial=1e-3, gp=gp)
  c.loss.perceptual_normalize = "layer"
  c.train.n_critic = n_critic
  c.data.crop_size = args.size
  c.data.batch_size = args.batch
  return c


def selection_report(config) -> Path:
  """The layer-selection report the select stage writes for ``config.selection``.

  The trainer reads ``critic.layers="selected"`` from it (``train.build_models``). A report is
  reused when its probe, scoring and selection parameters are this config's: the stored one of
  the default parameters, or one this function wrote before (cached by those parameters);
  otherwise the select stage runs here without its figures (``select_layers.run_stage``: the
  probe, itself cached by its parameters, then scoring and selection).
  """
  from jaxenhance import select_layers
  from jaxenhance.perception import networks, probe, scoring, selection

  sel = config.selection
  network = networks.get_network(str(sel.network))
  layers = network.resolve_layers(sel.get("layers", "default"))
  stim = select_layers.stimulus_spec(sel)
  top_k = int(sel.top_k) if sel.top_k is not None else None
  threshold = float(sel.threshold) if sel.threshold is not None else None
  sspec = select_layers.scoring_spec(sel)
  want = json.loads(json.dumps({
      "probe": probe.probe_params(stim, layers, float(sel.get("crop_fraction", 0.5)), True,
                                  network.network_id),
      "scoring": sspec.params(), "selection": {"top_k": top_k, "threshold": threshold}}))
  cached = assets.cache_dir() / "train_step_selection" / f"report_{probe.cache_key(want)}.json"
  for path in (STORED_REPORT, cached):
    if path.is_file():
      params = json.loads(path.read_text())["params"]
      if all(params.get(k) == v for k, v in want.items()):
        return path
  start = time.perf_counter()
  result = select_layers.run_probe(sel, network)
  scores = scoring.score_layers(result.responses, result.freqs, result.thetas, sspec,
                                int(result.params["stimulus"]["size"]))
  chosen = selection.select({n: v.score for n, v in scores.items()}, top_k, threshold)
  report = selection.build_report(result, scores, sspec, chosen, network=str(sel.network),
                                  top_k=top_k, threshold=threshold)
  selection.write_report(report, cached)
  print(f"  layer selection ({stim.size}², {stim.num_freqs} freqs x {stim.num_orients} orients, "
        f"top {top_k}): {', '.join(chosen)} in {time.perf_counter() - start:.1f}s -> {cached}")
  return cached


def shipped_config(name: str, batch: int | None = None, size: int | None = None):
  """A shipped config as the trainer runs it, at its own batch x crop or the one given."""
  c = load_config(SHIPPED[name])
  if c.critic.get("kind", "wgan") == "wgan" and str(c.critic.layers).strip() == "selected":
    c.selection.report = str(selection_report(c))
  if batch:
    c.data.batch_size = batch
  if size:
    c.data.crop_size = size
  return c


def describe(config, critic) -> str:
  """One line: the setting's generator, critic, losses and optimizers."""
  g, t, l = config.generator, config.train, config.loss
  layers = ",".join(critic.layers) or "none"
  return (f"generator {g.kind} w{g.width} {g.num_scales} scales {g.num_blocks} blocks "
          f"{g.get('correction', 'rgb')} highpass {g.get('highpass', 0)}; critic w{critic.width} "
          f"proj{critic.proj_channels} on {layers} (at 1/{critic.resolution_factor} res"
          f"{', channel selection' if critic.channels else ''}); l1 {l.l1} mse {l.mse} "
          f"perceptual {l.perceptual} adversarial {l.adversarial} gp {l.gp}; n_critic "
          f"{t.n_critic}; Adam lr_g {t.lr_generator:g} ({t.get('generator_b1', t.b1)}, "
          f"{t.get('generator_b2', t.b2)}) clip {t.get('generator_clip_norm', 0.0)}, lr_d "
          f"{t.lr_critic:g} ({t.b1}, {t.b2})")


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


def critic_update_fn(js: JaxSetting, gp_weight: float | None = -1.0):
  """One critic update as inside ``steps.adversarial_step`` (taps precomputed); gp_weight None
  drops the gradient penalty (its cost = full - this), -1 takes the config's λ_gp."""
  critic, d_opt = js.critic, js.d_opt
  if gp_weight is not None and gp_weight < 0:
    gp_weight = float(js.config.loss.gp)

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


def taps_fn(js: JaxSetting):
  """The critic's VGG taps of images (its channel selection applied), as ``steps`` takes them."""
  layers, channels = tuple(js.critic.layers), js.critic.channel_map
  return lambda v, x: critic_lib.critic_features(v, x, layers, channels)


def sub_parts(js: JaxSetting):
  """Jitted pieces of the step: {name: (compiled, args)}."""
  s, vp = js.state, js.vgg_params
  lq, gt = steps.batch_to_float(js.batch)
  taps = taps_fn(js)
  g_fwd = jax.jit(lambda p, x: js.generator.apply(p, x))
  fake = g_fwd(s["g_params"], lq)
  vgg_2n = jax.jit(lambda v, a, b: critic_lib.split_taps(taps(v, jnp.concatenate([a, b])),
                                                         a.shape[0]))
  real_taps, fake_taps = vgg_2n(vp, gt, fake)
  key = jax.random.PRNGKey(1)
  args_cu = (s["d_params"], s["d_opt"], vp, gt, fake, real_taps, fake_taps, key)

  def g_update(g_params, g_opt_state, d_params, vgg_params, lq, gt, real_taps):
    def terms(p):  # as steps.generator_terms: content loss on raw, critic and VGG on the clip
      raw = js.generator.apply(p, lq, clip=False)
      f = jnp.clip(raw, 0.0, 1.0)
      ft = taps(vgg_params, f)
      adv, _ = losses.wgan_generator_loss(js.critic.apply(d_params, f, ft))
      return losses.generator_loss(raw, gt, js.config.loss, adversarial=adv, fake_taps=ft,
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


def torch_parts(tws, lq, gt, repeats: int) -> dict[str, float]:
  """Best seconds of the torch loop's (with reuse) parts: the forwards, one critic update and
  the generator update (forwards + update, less the forwards: it frees their graph)."""
  import torch

  eps = torch.rand(gt.shape[0], 1, 1, 1)
  saved = tws.forwards(lq, gt)
  both = lambda: tws.generator_update(lq, gt, tws.forwards(lq, gt))
  t = time_rounds({"forwards": lambda: tws.forwards(lq, gt),
                   "critic update": lambda: tws.critic_update(lq, gt, eps, saved),
                   "forwards + generator update": both}, repeats)
  best = {k: min(v) for k, v in t.items()}
  return {"forwards": best["forwards"], "critic update": best["critic update"],
          "generator update": best["forwards + generator update"] - best["forwards"]}


def profile(js: JaxSetting, step_s: float, repeats: int, peak: float, torch_args=None) -> None:
  """Times the step's sub-parts and says where the step's time goes, in one line (and, given
  the torch loop with reuse and its batch, the same parts of torch's step, in another)."""
  n = int(js.config.train.n_critic)
  secs, gflops = {}, {}
  for name, (compiled, a) in sub_parts(js).items():
    call = functools.partial(compiled, *a)
    secs[name] = min(time_rounds({name: lambda c=call: jax.block_until_ready(c())},
                                 repeats)[name])
    gflops[name] = train.compiled_cost(compiled)["flops"] / 1e9
    print(f"    {name:32s} {1e3 * secs[name]:8.1f} ms {gflops[name]:7.2f} GFLOP "
          f"{gflops[name] / secs[name]:7.1f} GFLOP/s")
  full, plain = secs["critic update (full, 1 of n)"], secs["critic update without GP"]
  forwards = secs["G forward"] + secs["VGG forward [gt; G(lq)] (2N)"]
  shares = {f"{n} critic updates": n * full, "of which the penalty": n * (full - plain),
            "generator update": secs["generator update"], "G + VGG forwards": forwards}
  total = n * full + secs["generator update"] + forwards
  # The part losing the most time against the conv peak (its seconds minus peak-speed seconds).
  counted = {k: (v, gflops[k]) for k, v in secs.items() if k != "critic update without GP"}
  counted[f"{n} critic updates"] = (n * full, n * gflops["critic update (full, 1 of n)"])
  del counted["critic update (full, 1 of n)"]
  worst = max(counted, key=lambda k: counted[k][0] - counted[k][1] / peak)
  sec, gf = counted[worst]
  print("    where the time goes: " + ", ".join(f"{k} {100 * v / total:.0f} %"
                                             for k, v in shares.items())
        + f" of the parts' {total:.2f} s (jitted apart: the {step_s:.2f} s step reuses the "
        f"forwards); most time lost to the conv peak: {worst}, {sec:.2f} s at "
        f"{gf / sec:.0f} GFLOP/s ({100 * gf / sec / peak:.0f} %)")
  if torch_args is not None:
    tp = torch_parts(*torch_args, repeats)
    # jax's generator update is jitted apart, so it runs G and VGG on the fake again: less them.
    g_only = secs["generator update"] - secs["G forward"] - secs["VGG forward [gt; G(lq)] (2N)"] / 2
    print(f"    torch (reuse), same parts: G + VGG forwards {1e3 * tp['forwards']:.0f} ms (jax "
          f"{1e3 * forwards:.0f}), one critic update {1e3 * tp['critic update']:.0f} ms (jax "
          f"{1e3 * full:.0f}), generator update without its forwards "
          f"{1e3 * tp['generator update']:.0f} ms (jax ~{1e3 * g_only:.0f})")


# --------------------------------------------------------------------------- torch


def build_torch(js: JaxSetting, reuse: bool, g_vars=None, d_vars=None):
  """The torch mirror of ``js``'s networks and optimizers, with its (or the given) weights."""
  import torch_wgan as tw

  cfg = js.config
  t, g_cfg = cfg.train, cfg.generator
  critic = js.critic
  layers = tuple(critic.layers)
  g = tw.Generator(g_cfg.width, g_cfg.num_scales, g_cfg.num_blocks,
                   int(g_cfg.get("channel_multiplier", 2)), g_cfg.get("correction", "rgb"),
                   int(g_cfg.get("highpass", 0)))
  d = tw.CriticHead(layers, {n: critic.num_channels(n) for n in layers}, vgg.STRIDES,
                    critic.width, critic.proj_channels, critic.num_downsamples)
  net = tw.VGGTrunk(layers, critic.channel_map)
  tw.load_flax(g, d, net, jax.device_get(g_vars or js.state["g_params"]),
               jax.device_get(d_vars or js.state["d_params"]), jax.device_get(js.vgg_params))
  if cfg.loss.get("ssim", 0.0) or cfg.loss.get("perceptual_distance", "mse") != "mse":
    raise NotImplementedError("torch mirror: no SSIM loss, perceptual distance mse only")
  if g_cfg.kind != "residual" or int(g_cfg.temporal_window) != 1 or not critic.rgb_stem \
      or critic.norm != "layer":
    raise NotImplementedError("torch mirror: residual generator, T=1, critic with RGB stem and "
                              "LayerNorm only")
  lr_lambda = None
  if t.get("generator_lr_decay", "constant") == "cosine":
    lr_lambda = tw.cosine_lr(int(t.steps), float(t.get("generator_lr_final", 0.1)))
  g_b1, g_b2 = t.get("generator_b1", None), t.get("generator_b2", None)
  return tw.TorchWGAN(g, d, net, n_critic=int(t.n_critic), lr_g=t.lr_generator,
                      lr_d=t.lr_critic, betas=(t.b1, t.b2), l1=cfg.loss.l1,
                      mse=cfg.loss.get("mse", 0.0), adversarial=cfg.loss.adversarial,
                      gp=cfg.loss.gp, perceptual=cfg.loss.perceptual, reuse=reuse,
                      g_betas=(t.b1 if g_b1 is None else g_b1, t.b2 if g_b2 is None else g_b2),
                      g_clip_norm=float(t.get("generator_clip_norm", 0.0)), lr_lambda=lr_lambda)


def n_params(tree) -> int:
  return int(sum(np.size(x) for x in jax.tree.leaves(tree)))


def check_against_torch(js: JaxSetting, host_batch, reuse_too: bool = True) -> dict[str, float]:
  """Parameter counts, one forward with perturbed (non-identity) weights, one whole step (torch
  without and, if ``reuse_too``, with reuse). Returns the largest differences."""
  import torch
  import torch_wgan as tw

  tws = build_torch(js, reuse=False)
  n_convs = len(tws.vgg.convs)
  vgg_count = n_params({k: v for k, v in js.vgg_params["params"].items()
                        if int(k.split("_")[1]) < n_convs})
  counts = {"generator": (n_params(js.state["g_params"]), tw.num_params(tws.g)),
            "critic head": (n_params(js.state["d_params"]), tw.num_params(tws.d)),
            "VGG trunk": (vgg_count, sum(p.numel() for p in tws.vgg.parameters()))}
  print("  params " + ", ".join(f"{name} jax {a:,} torch {b:,}"
                                for name, (a, b) in counts.items()))
  for name, (a, b) in counts.items():
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
  tws = build_torch(js, reuse=False, g_vars=g_vars, d_vars=d_vars)
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

  # One whole step from the same state, torch fed JAX's ε: same losses. The generator starts
  # from the perturbed weights: at init it returns its input, so |G(lq) - gt| sits at its kink
  # wherever the codec kept a pixel (a third of them), and there XLA's step computes lq and gt
  # to within an ulp of each other or not, which flips the subgradient (pretrain step's
  # gradient norm 0.272 vs 0.281 for the same loss jitted alone; default config, 2 x 32²).
  n_critic = int(js.config.train.n_critic)
  g_host = jax.device_get(g_vars)  # the step donates its state's buffers
  state = dict(js.init(jax.random.PRNGKey(js.seed)), g_params=jax.tree.map(jnp.asarray, g_host))
  rng = jax.random.fold_in(state["rng"], state["step"])
  eps = [torch.from_numpy(np.array(jax.random.uniform(
      jax.random.fold_in(rng, i), (gt_np.shape[0], 1, 1, 1), jnp.float32)))
         for i in range(n_critic)]
  _, metrics = js.compiled(state, js.batch, js.vgg_params)  # a fresh state: donated here
  # After a critic update the losses agree only to ~1e-3: Adam with β1 = 0 moves every weight by
  # about ±lr on its first update whatever the gradient's size, and a few of the critic's
  # weights have gradients within rounding of zero (9 of 452k below 1e-7 at this batch), so
  # their sign, and so the next update's loss, depends on summation order. Two equal JAX
  # programs differ as much (reuse_forward on/off: 6e-4 at n_critic 5). The first critic
  # update's loss (n_critic 1) agrees to ~5e-5. The generator's gradient norm depends on the
  # critic only through the 1e-3 adversarial term.
  loose = 1e-3 if n_critic == 1 else 5e-3
  worst = {"forward G": d_fake, "forward score": d_score}
  for reuse in (False, True) if reuse_too and n_critic > 1 else (False,):
    out_t = build_torch(js, reuse=reuse, g_vars=g_host).step(lq_t, gt_t, eps)
    label = "torch (reuse)" if reuse else "torch"
    for name, jname, tol in (("d_loss", "d_loss", loose), ("gp", "gp", loose),
                             ("g_loss", "generator_loss", 1e-3),
                             ("g_grad_norm", "g_grad_norm", 1e-3)):
      a, b = float(metrics[jname]), float(out_t[name])
      worst[name] = max(worst.get(name, 0.0), abs(a - b))
      worst[f"{name} rel"] = max(worst.get(f"{name} rel", 0.0), abs(a - b) / max(abs(b), 1e-12))
      print(f"  one step vs {label:13s}, last {name:11s}: jax {a:.6f}  torch {b:.6f}  "
            f"|Δ| {abs(a - b):.1e}")
      if abs(a - b) > tol * max(1.0, abs(b)):
        raise AssertionError(f"one-step {name} differs between jax and {label}")
  return worst


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


def conv_peak(batch: int = 8, size: int = 64, channels: int = 256):
  """``common.conv_peak_gflops``'s jitted 3x3 conv as a blocking callable and its FLOPs, so it is
  timed in the same rounds as the steps (same load)."""
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (batch, size, size, channels), jnp.float32)
  w = jax.random.normal(key, (3, 3, channels, channels), jnp.float32) * 0.01
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))

  def run():  # three convs per round: it is short next to a step
    for _ in range(3):
      conv(x, w).block_until_ready()
  return run, 3 * 2 * batch * size * size * channels * channels * 9


def time_rounds(fns, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
  """Seconds of each callable in each of ``repeats`` rounds, every round running them all in
  turn (so load changes hit all alike), after ``warmup`` untimed rounds."""
  for _ in range(warmup):
    for fn in fns.values():
      fn()
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return times


def parse_shapes(text: str, settings: list[str]) -> dict[str, list[tuple[int, int]]]:
  """``"8x96,flagship:32x48"`` -> extra (batch, crop) shapes per setting."""
  extra = {name: [] for name in settings}
  for item in filter(None, (x.strip() for x in text.split(","))):
    who, _, shape = item.rpartition(":")
    batch, _, size = shape.lower().partition("x")
    if who and who not in extra:
      raise ValueError(f"--shapes {item!r}: {who!r} is not in --settings {settings}")
    for name in [who] if who else settings:
      extra[name].append((int(batch), int(size)))
  return extra


def cases(args) -> list[tuple[str, object]]:
  """(row label, config) of every setting and shape to time, in order."""
  settings = [s.strip() for s in args.settings.split(",") if s.strip()]
  unknown = [s for s in settings if s != "handmade" and s not in SHIPPED]
  if unknown:
    raise ValueError(f"unknown --settings {unknown}; choose from handmade, {', '.join(SHIPPED)}")
  extra = parse_shapes(args.shapes, settings)
  out = []
  for name in settings:
    if name == "handmade":
      base = [] if args.skip_own_shape and extra[name] else [(args.batch, args.size)]
      for batch, size in dict.fromkeys(base + extra[name]):
        for n in (int(k) for k in args.n_critic.split(",")):
          c = make_config(args, n)
          c.data.update(batch_size=batch, crop_size=size)
          out.append((f"handmade n={n} {batch}x{size}", c))
      continue
    own = shipped_config(name)
    base = [] if args.skip_own_shape else [(own.data.batch_size, own.data.crop_size)]
    for batch, size in dict.fromkeys(base + extra[name]):
      out.append((f"{name} {batch}x{size}", shipped_config(name, batch, size)))
  return out


def machine() -> str:
  """CPU model and whether it has AVX-512 (XLA:CPU and oneDNN both use it when present)."""
  model, flags = platform.processor() or "?", ""
  try:
    text = Path("/proc/cpuinfo").read_text()
    model = next((l.split(":", 1)[1].strip() for l in text.splitlines()
                  if l.startswith("model name")), model)
    flags = next((l for l in text.splitlines() if l.startswith("flags")), "")
  except OSError:
    pass
  return f"CPU {model}, avx512f {'yes' if ' avx512f' in flags else 'no'}"


class Tee:
  """``sys.stdout`` that also keeps what is printed (for --markdown)."""

  def __init__(self, stream):
    self.stream, self.captured = stream, io.StringIO()

  def write(self, text):
    self.captured.write(text)
    return self.stream.write(text)

  def __getattr__(self, name):  # flush, isatty, encoding, ...: the real stream's
    return getattr(self.stream, name)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--settings", default="handmade",
                      help="comma-separated: handmade, quickstart, default, flagship")
  parser.add_argument("--shapes", default="",
                      help="extra batch x crop shapes, comma-separated: BxS for every setting, "
                           "SETTING:BxS for one (e.g. flagship:8x96,flagship:32x48)")
  parser.add_argument("--skip-own-shape", action="store_true",
                      help="only the --shapes (e.g. small ones for a quick check)")
  parser.add_argument("--batch", type=int, default=8, help="handmade setting")
  parser.add_argument("--size", type=int, default=96, help="handmade setting")
  parser.add_argument("--g-width", type=int, default=32, help="handmade setting")
  parser.add_argument("--g-blocks", type=int, default=4, help="handmade setting")
  parser.add_argument("--layers", default="relu1_2,relu2_2", help="handmade setting")
  parser.add_argument("--d-width", type=int, default=64, help="handmade setting")
  parser.add_argument("--proj", type=int, default=32, help="handmade setting")
  parser.add_argument("--perceptual", type=float, default=0.0, help="handmade setting")
  parser.add_argument("--conv-impl", default="patches",
                      help="handmade setting's critic.conv_impl: patches or xla")
  parser.add_argument("--n-critic", default="5,2,1",
                      help="handmade setting, comma-separated (shipped ones use their config's)")
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--no-torch", action="store_true")
  parser.add_argument("--no-reuse-torch", action="store_true",
                      help="skip the torch loop with jaxenhance's reuse")
  parser.add_argument("--no-check", action="store_true")
  parser.add_argument("--profile", nargs="?", const="all", default="",
                      help="time the step's sub-parts: all (bare flag), short (rows missing a "
                           "target) or row labels (e.g. 'flagship 16x64', comma-separated)")
  parser.add_argument("--variants", default="",
                      help="alternatives to time too (comma-separated): recompute (no reuse "
                           "of the generator's forward), scan (the critic updates in a while "
                           "loop), recompute+scan; no-gp (the lazy penalty's plain step: "
                           "changes the math)")
  parser.add_argument("--markdown", default="",
                      help="also write the output, with the command, to this markdown file")
  args = parser.parse_args()
  if args.markdown:
    sys.stdout = Tee(sys.stdout)

  import torch
  torch.manual_seed(0)
  load_start = os.getloadavg()
  print(f"{datetime.datetime.now().isoformat(timespec='seconds')}; {machine()}")
  print(f"jax {jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cpus), "
        f"torch {torch.__version__} threads={torch.get_num_threads()}, "
        f"load average at start {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}")
  vgg_params = jax.device_put(vgg.load_params())
  variants = [v for v in args.variants.split(",") if v]

  fns, flops, setups, rows, parity, torch_reuse = {}, {}, {}, [], {}, {}
  host_batches = {}
  for label, config in cases(args):
    shape = (int(config.data.batch_size), int(config.data.crop_size))
    if shape not in host_batches:
      host_batches[shape] = real_batch(*shape)
    host_batch = host_batches[shape]
    batch = jax.device_put(host_batch)
    n = int(config.train.n_critic)
    start = time.perf_counter()
    models = Models(config)
    js = JaxSetting(models, config, batch, vgg_params)
    scanned = config.train.get("critic_loop", "unroll") == "scan"
    # XLA counts a while loop's body once: a scanned step adds the other n - 1 critic updates.
    cu_flops = (train.compiled_cost(critic_update_fn(js).lower(*sub_args(js)).compile())["flops"]
                if n > 1 and (scanned or any("scan" in v for v in variants)) else 0.0)
    flops[f"{label} jax"] = js.raw_flops + (n - 1) * cu_flops * scanned
    print(f"\n{label}: {describe(config, js.critic)}")
    print(f"  compiled in {time.perf_counter() - start:.1f}s; cost_analysis "
          f"{flops[f'{label} jax'] / 1e9:.1f} GFLOP/step")
    if not args.no_check and not args.no_torch:
      parity[label] = check_against_torch(js, host_batch, reuse_too=not args.no_reuse_torch)
    setups[label] = js
    fns[f"{label} jax"] = js.run
    row = {"label": label, "n": n, "batch": shape[0], "jax": f"{label} jax"}
    for variant in variants:
      start = time.perf_counter()
      jv = JaxSetting(models, config, batch, vgg_params, variant=variant)
      name = f"{label} jax {variant}"
      # Same FLOP count as the baseline minus what the variant skips (its own cost_analysis).
      flops[name] = jv.raw_flops + (n - 1) * cu_flops * (scanned or "scan" in variant)
      print(f"  variant {variant}: compiled in {time.perf_counter() - start:.1f}s, "
            f"cost_analysis {jv.raw_flops / 1e9:.1f} GFLOP")
      if not args.no_check and "no-gp" not in variant:  # the others must give the same step
        check_variant(js, jv)
      fns[name] = jv.run
    if not args.no_torch:
      lq_t = torch.from_numpy(host_batch["lq"][:, 0].astype(np.float32) / 255.0)
      gt_t = torch.from_numpy(host_batch["gt"].astype(np.float32) / 255.0)
      lq_t = lq_t.permute(0, 3, 1, 2).contiguous()
      gt_t = gt_t.permute(0, 3, 1, 2).contiguous()
      for reuse in (False,) if args.no_reuse_torch or n == 1 else (False, True):
        tws = build_torch(js, reuse=reuse)
        name = f"{label} torch{' (reuse)' if reuse else ''}"
        flops[name] = torch_flops(tws, lq_t, gt_t)
        fns[name] = functools.partial(tws.step, lq_t, gt_t)
        row["torch (reuse)" if reuse else "torch"] = name
        if reuse:
          torch_reuse[label] = (tws, lq_t, gt_t)
    rows.append(row)

  conv, flops["conv peak"] = conv_peak()
  fns["conv peak"] = conv
  load_before = os.getloadavg()
  times = time_rounds(fns, repeats=args.repeats, warmup=1)
  load_after = os.getloadavg()
  # Best of the rounds: on a shared machine a round can lose seconds to other jobs (torch's
  # OpenMP barriers most: one torch step measured 2.0 to 16.6 s under load 4.7 on 2 cores).
  seconds = {name: min(t) for name, t in times.items()}
  peak = flops["conv peak"] / seconds["conv peak"] / 1e9

  print(f"\nconv peak (3x3, 256ch, 8 x 64², jitted, timed with the steps): {peak:.1f} GFLOP/s; "
        f"load average before/after timing {load_before[0]:.2f}/{load_after[0]:.2f}; "
        f"best and median of {args.repeats} interleaved rounds after 1 warm-up")
  print(f"{'step':40s} {'s/step':>8s} {'median':>8s} {'patches/s':>10s} {'GFLOP/step':>11s} "
        f"{'GFLOP/s':>8s} {'% peak':>7s}")
  for row in rows:
    for name in [v for k, v in row.items() if k in ("jax", "torch", "torch (reuse)")] + [
        f"{row['label']} jax {v}" for v in variants]:
      sec, g = seconds[name], flops[name] / 1e9
      med = statistics.median(times[name])
      print(f"{name:40s} {sec:8.3f} {med:8.3f} {row['batch'] / sec:10.2f} {g:11.1f} "
            f"{g / sec:8.1f} {100 * g / sec / peak:6.0f}%")

  # The summary: one line per setting and shape.
  print("\n| setting | shape | n_critic | jax s/step | torch s/step | torch (reuse) s/step | "
        "torch / jax | torch (reuse) / jax | jax GFLOP/step | jax GFLOP/s | % of conv peak |")
  print("|---|---|---|---|---|---|---|---|---|---|---|")
  short, misses = [], []
  for row in rows:
    setting, shape = row["label"].rsplit(" ", 1)
    jx = seconds[row["jax"]]
    gf = flops[row["jax"]] / 1e9
    t = seconds.get(row.get("torch", ""), float("nan"))
    tr = seconds.get(row.get("torch (reuse)", ""), float("nan"))
    pct = 100 * gf / jx / peak
    ref = t if math.isnan(tr) else tr  # torch with reuse where it runs (n_critic > 1)
    if pct < 60 or (not math.isnan(ref) and ref / jx < 1.3):
      short.append(row["label"])
      misses.append(f"{row['label']}: {ref / jx:.2f}x torch"
                    f"{'' if math.isnan(tr) else ' (reuse)'}, {pct:.0f} % of the peak")
    fmt = lambda x, spec, unit="": "–" if math.isnan(x) else f"{x:{spec}}{unit}"  # not run
    print(f"| {setting} | {shape.replace('x', ' × ')}² | {row['n']} | {jx:.3f} | "
          f"{fmt(t, '.3f')} | {fmt(tr, '.3f')} | {fmt(t / jx, '.2f', '×')} | "
          f"{fmt(tr / jx, '.2f', '×')} | {gf:.1f} | {gf / jx:.1f} | {pct:.0f} % |")
  print(f"targets: jax >= 1.3x torch (reuse), >= 60 % of the conv peak ({peak:.1f} GFLOP/s); "
        f"short of one: {'; '.join(misses) or 'none'}")
  if parity:
    print("parity, max |Δ| jax vs torch (and relative to torch's value), over torch with and "
          "without reuse:")
    for label, d in parity.items():
      print(f"  {label}: " + ", ".join(
          f"{k} {v:.1e}" + (f" ({d[k + ' rel']:.1e})" if k + " rel" in d else "")
          for k, v in d.items() if not k.endswith(" rel")))
  for row in rows:  # lazy penalty (loss.gp_every = k): one penalty step in k, the rest plain
    plain = f"{row['label']} jax no-gp"
    if plain in seconds and "torch" in row:
      for k in (4, 16):
        lazy = (seconds[row["jax"]] + (k - 1) * seconds[plain]) / k
        print(f"{row['label']}, loss.gp_every={k} (changes the math): {lazy:.3f} s/step on "
              f"average, {seconds[row['torch']] / lazy:.2f}x the torch W-GAN-GP step")

  if args.profile:
    chosen = {"all": [r["label"] for r in rows], "short": short}.get(
        args.profile, [x.strip() for x in args.profile.split(",")])
    for label in chosen:
      print(f"\nsub-parts of {label}, best of {args.repeats}:")
      profile(setups[label], seconds[f"{label} jax"], args.repeats, peak,
              torch_reuse.get(label))
  load_end = os.getloadavg()
  print(f"\nload average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")
  if args.markdown:
    text = sys.stdout.captured.getvalue()
    sys.stdout = sys.stdout.stream
    command = " ".join([".venv/bin/python", "benchmarks/train_step.py"] + sys.argv[1:])
    Path(args.markdown).write_text(
        f"# W-GAN-GP train step at the shipped settings and shapes: jaxenhance vs torch\n\n"
        f"```\n{command}\n```\n\n```\n{text}```\n")


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
  taps = taps_fn(js)(js.vgg_params, jnp.concatenate([gt, fake]))
  real_taps, fake_taps = critic_lib.split_taps(taps, gt.shape[0])
  return (js.state["d_params"], js.state["d_opt"], js.vgg_params, gt, fake, real_taps, fake_taps,
          jax.random.PRNGKey(1))


if __name__ == "__main__":
  main()
