"""Shared pytest fixtures: an isolated asset cache per session and the real VGG-16 weights."""

import os
import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vgg_params():
  from jaxenhance.models import vgg

  return vgg.load_params()


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
  """A fresh, empty asset cache (the NIQE model is copied in when the real cache has it)."""
  from jaxenhance import assets

  real = assets.cache_dir()
  monkeypatch.setenv("JAXENHANCE_CACHE", str(tmp_path / "cache"))
  niqe = real / assets.ASSETS["niqe"].relpath
  if niqe.is_file():
    (tmp_path / "cache").mkdir(exist_ok=True)
    shutil.copy(niqe, tmp_path / "cache" / niqe.name)
  return tmp_path / "cache"


def pytest_configure(config):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  # Many tests compile the same small steps (a new jit object each time): XLA's persistent
  # cache turns the repeats into cache hits. Set before any test module imports jax.
  cache = Path(__file__).resolve().parents[1] / ".pytest_cache" / "jax_compilation_cache"
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cache))
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
