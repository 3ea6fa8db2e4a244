"""Shared helpers for the benchmarks: timing and the machine's measured conv peak."""

from __future__ import annotations

import time
from typing import Callable

import jax
import jax.numpy as jnp


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
  """Median wall time of ``fn()`` in seconds (``fn`` must block until its result is ready)."""
  for _ in range(warmup):
    fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  times.sort()
  return times[len(times) // 2]


def conv_peak_gflops(batch: int = 8, size: int = 64, channels: int = 256) -> float:
  """Achieved GFLOP/s of one large jitted 3x3 convolution: the machine's practical conv peak."""
  key = jax.random.PRNGKey(0)
  x = jax.random.normal(key, (batch, size, size, channels), jnp.float32)
  w = jax.random.normal(key, (3, 3, channels, channels), jnp.float32) * 0.01
  conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
  seconds = time_call(lambda: conv(x, w).block_until_ready(), repeats=7, warmup=2)
  flops = 2 * batch * size * size * channels * channels * 9
  return flops / seconds / 1e9


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5,
                     warmup: int = 1) -> dict[str, float]:
  """Median seconds of each callable, timed in alternation so load changes hit all equally."""
  for fn in fns.values():
    for _ in range(warmup):
      fn()
  times: dict[str, list[float]] = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      fn()
      times[name].append(time.perf_counter() - start)
  return {name: sorted(t)[len(t) // 2] for name, t in times.items()}
