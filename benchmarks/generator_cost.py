"""What each flagship generator candidate costs: parameters, GFLOP per 720p frame, frames/s and
content-training steps/s, measured in one run so the ratios compare.

  .venv/bin/python benchmarks/generator_cost.py [--sizes 1280x720,640x360] [--batch 16]
      [--crop 64] [--steps 5] [--markdown benchmarks/results/generator_cost.md]

GFLOP are XLA's own count for the compiled forward (``cost_analysis``) at batch 1. Frames/s is
the jitted forward alone (``conv_impl="auto"``, as enhancing runs it), best of ``--repeats`` after
one warm-up call. Steps/s is one jitted L1 + Adam step at ``--batch`` crops of ``--crop`` pixels,
the flagship's content phase, best of ``--steps`` after compiling.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxenhance.models import generator as generator_lib

# name -> generator config overrides (the luma + highpass-15 output of the shipped model).
CANDIDATES = {
    "w32_b4 (shipped)": dict(width=32, num_blocks=4, num_scales=0),
    "w32_b8": dict(width=32, num_blocks=8, num_scales=0),
    "w48_b6": dict(width=48, num_blocks=6, num_scales=0),
    "w64_s1_b6": dict(width=64, num_blocks=6, num_scales=1),
}


def make(overrides: dict, conv_impl: str) -> generator_lib.Generator:
  cfg = ml_collections.ConfigDict(dict(kind="residual", correction="luma", highpass=15,
                                       conv_impl=conv_impl, **overrides))
  return generator_lib.make_generator(cfg)


def best_seconds(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return min(times)


def measure(name: str, overrides: dict, sizes, args) -> dict:
  rng = jax.random.PRNGKey(0)
  model = make(overrides, "auto")
  params = model.init(rng, jnp.zeros((1, 64, 64, 3)))["params"]
  row = {"name": name, "params": sum(x.size for x in jax.tree_util.tree_leaves(params))}
  for w, h in sizes:
    frame = jnp.asarray(np.random.default_rng(0).random((1, h, w, 3), np.float32))
    fwd = jax.jit(lambda p, x: model.apply({"params": p}, x))
    compiled = fwd.lower(params, frame).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    row[f"gflop_{w}x{h}"] = float(cost["flops"]) / 1e9
    compiled(params, frame).block_until_ready()
    row[f"fps_{w}x{h}"] = 1.0 / best_seconds(lambda: compiled(params, frame), args.repeats)

  train_model = make(overrides, "xla")
  opt = optax.adam(3e-4)
  state = opt.init(params)
  data = np.random.default_rng(1).random((2, args.batch, args.crop, args.crop, 3), np.float32)
  gt, lq = jnp.asarray(data[0]), jnp.asarray(data[1])

  @jax.jit
  def step(p, s):
    loss, grads = jax.value_and_grad(
        lambda p: jnp.abs(train_model.apply({"params": p}, lq) - gt).mean())(p)
    updates, s = opt.update(grads, s, p)
    return optax.apply_updates(p, updates), s, loss

  p, s, _ = step(params, state)
  jax.block_until_ready(p)
  row["steps_per_s"] = 1.0 / best_seconds(lambda: step(p, s)[2], args.steps)
  return row


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="1280x720,640x360")
  parser.add_argument("--batch", type=int, default=16)
  parser.add_argument("--crop", type=int, default=64)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--only", default="", help="comma-separated candidate names")
  parser.add_argument("--markdown", default="")
  args = parser.parse_args()
  sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
  names = [n for n in CANDIDATES if not args.only or n.split()[0] in args.only.split(",")]
  rows = [measure(n, CANDIDATES[n], sizes, args) for n in names]
  base = rows[0]
  cols = ["params"] + [f"{k}_{w}x{h}" for w, h in sizes for k in ("gflop", "fps")]
  lines = [f"devices: {jax.devices()[0].device_kind}; train step: batch {args.batch}, crop "
           f"{args.crop}; ratios against {base['name']}", "",
           "| candidate | " + " | ".join(cols) + " | steps/s | step cost ratio |",
           "|---" * (len(cols) + 3) + "|"]
  for r in rows:
    cells = [f"{r['params']:,}"] + [f"{r[c]:.1f}" if "gflop" in c else f"{r[c]:.2f}"
                                    for c in cols[1:]]
    lines.append(f"| {r['name']} | " + " | ".join(cells) +
                 f" | {r['steps_per_s']:.2f} | {base['steps_per_s'] / r['steps_per_s']:.2f}x |")
  text = "\n".join(lines)
  print(text)
  if args.markdown:
    with open(args.markdown, "w") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  main()
