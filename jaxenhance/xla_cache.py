"""Turns on XLA's persistent compilation cache (compiled steps are reused across runs).

On a CPU the train steps take 10-20 s to compile; a resumed or repeated run with the same
shapes loads them from ``$JAX_COMPILATION_CACHE_DIR`` (default ``<asset cache>/xla``) instead.
"""

import os

import jax


def enable(directory: str | None = None) -> str:
  if not directory:
    directory = os.environ.get("JAX_COMPILATION_CACHE_DIR")
  if not directory:
    from jaxenhance import assets

    directory = str(assets.cache_dir() / "xla")
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  return directory
