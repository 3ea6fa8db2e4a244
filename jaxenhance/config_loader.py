"""Run configs by name or path: ``load_config`` for notebooks and tests, ``expand_config_flags``
for the programs' ``--config`` flag (a name means the config shipped in ``jaxenhance/configs/``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import ml_collections

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def config_path(name: str) -> Path:
  """The shipped config file ``name`` (``"quickstart"`` or ``"quickstart.py"``)."""
  return CONFIG_DIR / (name if name.endswith(".py") else f"{name}.py")


def expand_config_flags(argv: list[str]) -> list[str]:
  """``argv`` with every ``--config=NAME[:ARG]`` that names no existing file but a shipped
  config rewritten to that config's path, so ``--config=quickstart`` works from any directory
  (absl's config flag itself only reads paths)."""
  out = []
  for arg in argv:
    flag, eq, value = arg.partition("=")
    if flag in ("--config", "-config") and eq:
      path, colon, rest = value.partition(":")
      if not Path(path).is_file() and config_path(Path(path).name).is_file():
        arg = f"{flag}={config_path(Path(path).name)}{colon}{rest}"
    out.append(arg)
  return out


def load_config(spec: str) -> ml_collections.ConfigDict:
  """``"quickstart"``, ``"configs/quickstart.py"`` or ``"paper.py:selected"`` -> ConfigDict."""
  path, _, arg = spec.partition(":")
  file = Path(path)
  if not file.is_file():
    file = config_path(file.name)
  if not file.is_file():
    raise FileNotFoundError(f"no config file {spec!r} (looked in {CONFIG_DIR})")
  module_spec = importlib.util.spec_from_file_location(f"_jaxenhance_config_{file.stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None) if arg else module.get_config()
