r"""The paper's comparison: one generator, four critics, equal budgets (Ramsook & Kokaram 2023).

Variants (``--config=configs/paper.py:VARIANT``), differing only in the VGG-16 layers the critic
reads:
  none      W-GAN critic on RGB only (the baseline of the Δ% columns)
  all       all 13 ReLU layers
  lpips     the LPIPS layers relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
  selected  the layers chosen by perceptual selection (<workdir>/selection/report.json or
            --config.selection.report=…)
  content   no adversarial term at all (content-loss-only row)
Append ``,cpu`` for the CPU-sized budget used by benchmarks/critic_comparison.py, e.g.
``configs/paper.py:lpips,cpu``.

Command (one variant, one seed):
  python -m jaxenhance.train --config=configs/paper.py:selected --workdir=/tmp/paper/selected-s0 \
      --config.seed=0
Hardware: 1 GPU/TPU host (default budget) or 2 CPU cores (``,cpu``: ~5 min per run).
Expected: the selected-layer critic at or below the no-VGG baseline's FID/KID (the paper
reports up to 10 % FID and 15 % KID); on the CPU budget the differences are small and noisy,
see the README's table for what we measured.
"""

import importlib.util
from pathlib import Path

VARIANTS = ("none", "all", "lpips", "selected", "content")


def _load(name):
  spec = importlib.util.spec_from_file_location(f"_cfg_{name}", Path(__file__).with_name(name))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg: str | None = None):
  parts = [p for p in (arg or "selected").split(",") if p]
  variant, cpu = parts[0], "cpu" in parts[1:]
  if variant not in VARIANTS:
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")
  c = (_load("quickstart.py") if cpu else _load("default.py")).get_config()
  c.critic.layers = "none" if variant == "content" else variant
  if variant == "content":
    c.loss.adversarial = 0.0
    c.train.n_critic = 1
  if cpu:
    c.train.update(steps=1200, warmup_steps=1000, checkpoint_every=200, log_every=100)
  return c
