"""Tiny training configs and a synthetic selection report shared by the trainer tests."""

import json
from pathlib import Path

import numpy as np

from jaxenhance.config_loader import load_config
from jaxenhance.models import vgg


def tiny_config(records_dir: Path | str | None = None):
  c = load_config("quickstart")
  c.data.update(train_sources=("photo:astronaut",), test_sources=("sample:carphone",),
                max_height=96, max_frames=6, patch_size=32, patch_stride=32, patch_jitter=0,
                frame_step=3, crop_size=32, batch_size=8, num_workers=1, preset="ultrafast",
                ladder=[{"codec": "jpeg", "param": "qf", "values": [10]},
                        {"codec": "h264", "param": "qp", "values": [40]}])
  if records_dir is not None:
    c.data.data_dir = str(records_dir)
  c.generator.update(width=8, num_scales=1, num_blocks=1)
  c.critic.update(layers="relu1_2", width=8, proj_channels=4, num_downsamples=2)
  # Periodic evaluation off: the tests that need it turn it on (it costs seconds per run).
  c.train.update(steps=6, warmup_steps=2, n_critic=2, log_every=2, checkpoint_every=3,
                 image_summary_every=3, eval_every=0, async_checkpoints=True)
  c.train.export_every = 0  # the default; present so a command line can set it
  return c


def synthetic_report(path: Path, layers=("relu1_2",), seed: int = 0) -> Path:
  """A selection report with random per-channel scores, every channel responsive."""
  rng = np.random.default_rng(seed)
  channels = {n: {"s_f": rng.random(vgg.CHANNELS[n]).tolist(),
                  "s_o": rng.random(vgg.CHANNELS[n]).tolist(),
                  "responsive": [True] * vgg.CHANNELS[n]} for n in layers}
  path.write_text(json.dumps({"version": 1, "network": "vgg16", "params": {},
                              "selected_layers": list(layers),
                              "layers": {n: {"channels": c} for n, c in channels.items()}}))
  return path
