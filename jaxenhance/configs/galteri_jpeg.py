r"""Galteri et al.: JPEG artifact removal with a conditional sub-patch discriminator (BCE).

  python -m jaxenhance.train --config=configs/galteri_jpeg.py --workdir=/tmp/galteri
  python -m jaxenhance.train --config=configs/galteri_jpeg.py:qf=20 …   # one QF (ensemble member)

Hardware: one GPU/TPU host (hours) — or add --config.train.steps=200 for a CPU smoke run.
Setup from the paper's abstract: 128x128 patches, residual generator with strided convs and
nearest-neighbour upsampling, discriminator on 16x16 sub-patches concatenated with the compressed
input, BCE over all sub-patches, content + perceptual + adversarial loss; JPEG QF 5-60. Loss
weights are project choices (the paper body is not available here).
"""

import importlib.util
from pathlib import Path


def get_config(arg: str | None = None):
  spec = importlib.util.spec_from_file_location("_cfg_default", Path(__file__).with_name(
      "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config()
  qfs = [5, 10, 20, 30, 40, 60]
  if arg and arg.startswith("qf="):
    qfs = [int(arg[3:])]
  c.data.ladder = [dict(codec="jpeg", param="qf", values=qfs)]
  c.data.train_sources = ("photos:sample", "sample:bikes", "sample:bigbuckbunny")
  c.data.patch_size = 128
  c.data.crop_size = 128
  c.generator.update(kind="residual", width=64, num_scales=2, num_blocks=15)
  c.critic.update(kind="subpatch", subpatch=16, width=64, num_downsamples=3)
  c.loss.update(l1=0.0, mse=1.0, perceptual=1.0, adversarial=1e-3)
  c.loss.perceptual_layers = "relu2_2,relu5_3"
  c.train.update(n_critic=1, b1=0.9, b2=0.999, warmup_steps=5_000)
  return c
