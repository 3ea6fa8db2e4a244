r"""One host with 8 GPUs: the default recipe, data-parallel over the 8 devices.

  ./launch/gpu_local.sh configs/gpu8.py /scratch/jaxenhance/run1
Hardware: 8x A100/H100. Expected time: ~1-2 h for 20k steps (not measured here: no GPU on the
development machines; use --dry_run first to check memory).
"""

import importlib.util
from pathlib import Path


def get_config(arg: str | None = None):
  spec = importlib.util.spec_from_file_location("_cfg_default", Path(__file__).with_name(
      "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  c.mesh = [("data", 8)]
  c.data.batch_size = 128
  c.data.grain_workers = 8
  c.train.peak_flops_per_device = 312e12  # A100 bf16 dense peak, for MFU
  return c
