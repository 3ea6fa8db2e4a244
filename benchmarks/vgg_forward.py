"""VGG-16 forward to relu4_3 on 128x128 patches: jaxenhance (jitted Flax) vs torch CPU eager.

  ./launch/setup.sh --bench && .venv/bin/python benchmarks/vgg_forward.py [--batch 16]

Both run the same weights on the same batch in the same process; the script prints images/s of
each, their ratio, the achieved GFLOP/s and the machine's conv peak measured in this run
(a large jitted 3x3 convolution). Targets (issue 2): >= 1.15x torch, >= 95 % of the conv peak.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import conv_peak_gflops, time_interleaved  # noqa: E402

from jaxenhance.models import vgg  # noqa: E402

TAP = "relu4_3"


def vgg_flops(size: int, batch: int, tap: str = TAP) -> float:
  """Multiply-adds x 2 of the convolutions up to ``tap`` (ReLU/pool cost is negligible)."""
  flops, h, cin = 0, size, 3
  for name in vgg.LAYERS[:vgg.LAYERS.index(tap) + 1]:
    if name.startswith("conv"):
      cout = vgg.CHANNELS[name]
      flops += 2 * h * h * cin * cout * 9
      cin = cout
    elif name.startswith("pool"):
      h //= 2
  return float(flops * batch)


def torch_forward(params: dict, images: np.ndarray):
  """The same network in torch (torchvision layout, eager, no_grad), or None without torch."""
  try:
    import torch
  except ImportError:
    print("torch not installed: ./launch/setup.sh --bench (installs torch==2.13.0 CPU)")
    return None
  sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "reference"))
  from make_vgg_reference import torchvision_vgg16_features

  # Cut torchvision's Sequential right after relu4_3 (index 22).
  net = torch.nn.Sequential(*list(torchvision_vgg16_features())[:23]).eval()
  convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
  for i, conv in enumerate(convs):
    p = params["params"][f"Conv_{i}"]
    conv.weight.data = torch.from_numpy(np.asarray(p["kernel"]).transpose(3, 2, 0, 1).copy())
    conv.bias.data = torch.from_numpy(np.asarray(p["bias"]).copy())
  mean = torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)
  std = torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)
  x = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

  def run():
    with torch.no_grad():
      return net((x - mean) / std)

  print(f"torch {torch.__version__}, threads={torch.get_num_threads()}")
  return run


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--size", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  params = jax.device_put(vgg.load_params())
  rng = np.random.default_rng(0)
  images = rng.random((args.batch, args.size, args.size, 3), dtype=np.float32)
  x = jnp.asarray(images)
  forward = jax.jit(lambda p, x: vgg.VGG16(taps=(TAP,)).apply(p, x)[TAP])
  fns = {"jax": lambda: forward(params, x).block_until_ready()}
  if (torch_run := torch_forward(params, images)) is not None:
    fns["torch"] = torch_run
  seconds = time_interleaved(fns, repeats=args.repeats)
  jax_ips = args.batch / seconds["jax"]
  gflops = vgg_flops(args.size, args.batch) / seconds["jax"] / 1e9
  torch_ips = args.batch / seconds["torch"] if "torch" in seconds else None
  peak = conv_peak_gflops()

  print(f"VGG-16 -> {TAP}, batch {args.batch} x {args.size}^2, jax {jax.__version__} "
        f"on {jax.devices()[0].platform}")
  print(f"jax   : {jax_ips:8.2f} img/s  {gflops:7.1f} GFLOP/s")
  if torch_ips:
    torch_gflops = vgg_flops(args.size, args.batch) * torch_ips / args.batch / 1e9
    print(f"torch : {torch_ips:8.2f} img/s  {torch_gflops:7.1f} GFLOP/s")
    print(f"ratio jax/torch: {jax_ips / torch_ips:.2f}x  (target >= 1.15x)")
  print(f"conv peak (3x3, 256ch, 64^2, jitted): {peak:.1f} GFLOP/s; "
        f"VGG at {100 * gflops / peak:.0f}% of peak (target >= 95%)")


if __name__ == "__main__":
  main()
