"""A trained generator as a small, self-describing, pickle-free file pair.

``<dir>/generator.msgpack`` holds the parameters (flax msgpack serialization: arrays only, no
code) and ``<dir>/generator.json`` the generator config plus provenance (training config name,
step, metrics, data). The enhance CLI, the notebooks and the shipped checkpoint use this format;
training writes it to ``<workdir>/export`` at the end of a run.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import serialization

from jaxenhance.models import generator as generator_lib

PARAMS_FILE = "generator.msgpack"
META_FILE = "generator.json"
FORMAT_VERSION = 1


class ExportError(ValueError):
  pass


def _write_atomically(path: Path, data: bytes) -> None:
  with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as tmp:
    tmp.write(data)
  os.chmod(tmp.name, 0o644)  # NamedTemporaryFile creates 0600; exports are meant to be shared
  os.replace(tmp.name, path)


def save_generator(directory: str | os.PathLike, generator_config: Any, params: Any,
                   metadata: dict | None = None) -> Path:
  """Writes params + config; each file appears whole or not at all."""
  directory = Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  params = jax.tree.map(lambda x: np.asarray(jax.device_get(x)), params)
  config = (generator_config.to_dict() if isinstance(generator_config, ml_collections.ConfigDict)
            else dict(generator_config))
  meta = {"format_version": FORMAT_VERSION, "generator": config,
          "num_params": int(sum(x.size for x in jax.tree.leaves(params))),
          **(metadata or {})}
  _write_atomically(directory / PARAMS_FILE, serialization.msgpack_serialize(params))
  _write_atomically(directory / META_FILE, json.dumps(meta, indent=1, default=str).encode())
  return directory


def load_generator(directory: str | os.PathLike, conv_impl: str = "auto"
                   ) -> tuple[generator_lib.Generator, Any, dict]:
  """Returns ``(generator module, params, metadata)`` from an export directory.

  ``conv_impl`` picks the residual blocks' convolution for inference (``Generator.conv_impl``;
  "auto": Winograd on CPU, native elsewhere); the parameters do not depend on it.
  """
  directory = Path(directory)
  params_path, meta_path = directory / PARAMS_FILE, directory / META_FILE
  if not params_path.is_file() or not meta_path.is_file():
    raise ExportError(
        f"{directory} is not an exported generator (needs {PARAMS_FILE} and {META_FILE}); "
        "train with python -m jaxenhance.train (it writes <workdir>/export) or pass the "
        "shipped checkpoint")
  try:
    meta = json.loads(meta_path.read_text())
  except json.JSONDecodeError as exc:
    raise ExportError(f"{meta_path} is not valid JSON ({exc}); the export is damaged") from exc
  if meta.get("format_version") != FORMAT_VERSION:
    raise ExportError(f"{directory}: export format {meta.get('format_version')} is not "
                      f"supported (expected {FORMAT_VERSION})")
  generator = generator_lib.make_generator(
      ml_collections.ConfigDict({**meta["generator"], "conv_impl": conv_impl}))
  try:
    params = serialization.msgpack_restore(params_path.read_bytes())
  except Exception as exc:  # noqa: BLE001 - any decoding failure means a damaged file
    raise ExportError(f"{params_path} cannot be read ({type(exc).__name__}); the file is "
                      "truncated or damaged") from exc
  t = int(meta["generator"].get("temporal_window", 1))
  expected = jax.eval_shape(generator.init, jax.random.PRNGKey(0),
                            np.zeros((1, t, 16, 16, 3), np.float32))
  got_shapes = jax.tree.map(np.shape, params)
  want_shapes = jax.tree.map(lambda x: tuple(x.shape), expected)
  if got_shapes != want_shapes:
    raise ExportError(f"{params_path} does not match the generator config in {meta_path} "
                      "(a checkpoint from an incompatible config)")
  return generator, params, meta
