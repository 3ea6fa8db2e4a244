"""Loads ``configs/*.py`` files the way ``--config=path:arg`` does, for notebooks and tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ml_collections

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def load_config(spec: str) -> ml_collections.ConfigDict:
  """``"quickstart"``, ``"configs/quickstart.py"`` or ``"paper.py:selected"`` -> ConfigDict."""
  path, _, arg = spec.partition(":")
  file = Path(path)
  if not file.suffix:
    file = CONFIG_DIR / f"{path}.py"
  elif not file.is_file():
    file = CONFIG_DIR / file.name
  if not file.is_file():
    raise FileNotFoundError(f"no config file {spec!r} (looked in {CONFIG_DIR})")
  module_spec = importlib.util.spec_from_file_location(f"_jaxenhance_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None) if arg else module.get_config()
