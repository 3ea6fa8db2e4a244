r"""Cloud TPU v4-32 pod slice (4 hosts x 4 chips): the default recipe at pod scale.

  ./launch/tpu_pod.sh my-tpu us-central2-b gs://my-bucket/jaxenhance/run1 configs/tpu_v4_32.py
which runs on every host:
  python -m jaxenhance.train --config=configs/tpu_v4_32.py --workdir=gs://…/run1

Records must be prepared once beforehand (e.g. on Dataflow; see the README) into
--config.data.data_dir=gs://…/records. Hardware: v4-32. Expected time: ~1 h for 20k steps
(not measured here: no TPU on the development machines; use --dry_run first to check memory).

Check that it fits a v4-32 without one (needs ./launch/setup.sh --tpu-compile; table in the
README's Training section):
  python -m jaxenhance.train --config=configs/tpu_v4_32.py --dry_run --topology=v4-32 \
      --config.selection.report=benchmarks/results/selection_vgg16/report.json
"""

import importlib.util
from pathlib import Path


def get_config(arg: str | None = None):
  spec = importlib.util.spec_from_file_location("_cfg_default", Path(__file__).with_name(
      "default.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  c = module.get_config(arg)
  c.distributed = True  # jax.distributed.initialize() on every host
  c.mesh = [("data", -1)]
  c.data.batch_size = 256  # 16 per chip
  c.data.crop_size = 128
  c.data.patch_size = 128
  c.data.grain_workers = 8
  c.train.peak_flops_per_device = 275e12  # v4 bf16 peak, for MFU
  c.train.checkpoint_every = 500
  return c
