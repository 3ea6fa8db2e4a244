"""A trained generator as a small, self-describing, pickle-free file pair.

``<dir>/generator.msgpack`` holds the parameters (flax msgpack serialization: arrays only, no
code) and ``<dir>/generator.json`` the generator config plus provenance (training config name,
step, metrics, data). The enhance CLI, the notebooks and the shipped checkpoint use this format;
training writes it to ``<workdir>/export`` at the end of a run.

``resolve`` turns what a user passes as ``--checkpoint`` (an export directory, a training work
directory, or ``shipped``) into the export directory; ``load_generator`` accepts all three.
Directories may be ``gs://`` paths (:mod:`jaxenhance.cloud`); each file is one object there.

An export may come from anyone, so loading checks it before building anything: the generator
config against a schema (known fields, integer sizes within bounds, known choices), then the
parameters against the shapes that config implies, then every parameter for dtype float32 and
finite values. Each refusal is one ``ExportError`` line naming the field or parameter.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from flax import serialization

from jaxenhance import atomic_write, cloud, errors
from jaxenhance.models import generator as generator_lib

PARAMS_FILE = "generator.msgpack"
META_FILE = "generator.json"
FORMAT_VERSION = 1


class ExportError(errors.JaxenhanceError, ValueError):
  """A directory is not a loadable generator export; the message says why."""


SHIPPED = "shipped"  # the checkpoint name of the generator inside the package


def resolve(checkpoint: str | os.PathLike) -> tuple[cloud.AnyPath, cloud.AnyPath | None]:
  """``(export dir, work dir or None)`` of what a user passes as ``--checkpoint``.

  ``checkpoint`` is ``"shipped"`` (the generator inside the package; a warning says what it
  does to footage when it has not passed the release gate), ``"quickstart"`` (the main job's
  small demo model inside the package), an export directory, or a training work directory
  holding ``export/``. Every program resolves checkpoints here.
  """
  if str(checkpoint) == SHIPPED:
    from jaxenhance import pretrained  # plain data beside the package

    notice = pretrained.release_notice()
    if notice is not None:
      logging.getLogger("jaxenhance").warning("%s", notice)
    return pretrained.shipped_checkpoint(), None
  if str(checkpoint) == "quickstart" and not Path(checkpoint).exists():
    from jaxenhance import pretrained

    return pretrained.QUICKSTART, None
  path = cloud.path(checkpoint)
  cloud.check_bucket(path, "checkpoint")
  if (path / PARAMS_FILE).is_file():
    return path, (path.parent if path.name == "export" else None)
  if (path / "export" / PARAMS_FILE).is_file():
    return path / "export", path
  if not path.exists():
    raise ExportError(f"checkpoint {path}: no such directory; pass an export directory, a "
                      "training work directory, or 'shipped'")
  raise ExportError(
      f"{path} is neither an export directory (with {PARAMS_FILE}) nor a work directory "
      "holding export/: train first (python -m jaxenhance.train writes <workdir>/export) or "
      "pass --checkpoint=shipped")


# Integer fields of the generator config: (lowest, highest). The upper bounds are ~8x the largest
# configs the project uses (configs/galteri_jpeg.py: width 64, 15 blocks); far outside them a
# config would hang the shape inference (num_blocks 20000) or ask for gigabytes before any
# comparison with the parameters could refuse it.
INT_FIELDS = {"width": (1, 1024), "num_scales": (0, 6), "num_blocks": (1, 128),
              "temporal_window": (1, 15), "channel_multiplier": (1, 4), "expansion": (1, 16),
              "highpass": (0, 63)}
CHOICE_FIELDS = {"kind": generator_lib.KINDS, "depthwise_impl": generator_lib.DEPTHWISE_IMPLS,
                 "correction": generator_lib.CORRECTIONS, "pad_mode": ("reflect", "edge"),
                 "conv_impl": generator_lib.CONV_IMPLS,
                 "conditioning": generator_lib.CONDITIONINGS}


def check_generator_config(config: Any, where: str) -> dict:
  """The exported generator config, checked field by field; raises ``ExportError``."""
  if not isinstance(config, dict):
    raise ExportError(f"{where}: 'generator' must be an object of generator settings; got "
                      f"{type(config).__name__}")
  for key, value in config.items():
    if key in INT_FIELDS:
      low, high = INT_FIELDS[key]
      if type(value) is not int or not low <= value <= high:  # bool, float, str: refused
        raise ExportError(f"{where}: generator.{key} must be an integer in [{low}, {high}]; "
                          f"got {value!r}")
    elif key in CHOICE_FIELDS:
      if value not in CHOICE_FIELDS[key]:
        raise ExportError(f"{where}: generator.{key} must be one of {CHOICE_FIELDS[key]}; "
                          f"got {value!r}")
    else:
      raise ExportError(f"{where}: unknown field generator.{key} (known: "
                        f"{sorted(INT_FIELDS) + sorted(CHOICE_FIELDS)})")
  if config.get("temporal_window", 1) % 2 == 0:
    raise ExportError(f"{where}: generator.temporal_window must be odd; got "
                      f"{config['temporal_window']}")
  return config


def check_params(params: Any, expected: Any, where: str) -> None:
  """Shapes as ``expected`` (a tree of ShapeDtypeStructs), float32 and finite, or ``ExportError``."""
  if jax.tree.map(np.shape, params) != jax.tree.map(lambda x: tuple(x.shape), expected):
    raise ExportError(f"{where} does not match the generator config in {META_FILE} "
                      "(a checkpoint from an incompatible config)")
  for keypath, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
    name = "/".join(str(getattr(k, "key", k)) for k in keypath)
    dtype = getattr(leaf, "dtype", type(leaf).__name__)
    if not isinstance(leaf, np.ndarray) or leaf.dtype != np.float32:
      raise ExportError(f"{where}: parameter {name} is {dtype}, not float32; the export is "
                        "damaged or not from jaxenhance")
    if not np.isfinite(leaf).all():
      raise ExportError(f"{where}: parameter {name} holds NaN or infinite values (a damaged "
                        "export or a diverged run); it would enhance to garbage")


def write_model_files(directory: str | os.PathLike, params: Any, meta: dict,
                      params_file: str = PARAMS_FILE, meta_file: str = META_FILE
                      ) -> cloud.AnyPath:
  """Writes a model's parameters (flax msgpack: arrays only) and its JSON description into
  ``directory``; each file appears whole or not at all. Generators and the quality predictor
  are saved through this."""
  cloud.check_bucket(directory, "export directory")
  directory = cloud.makedirs(directory)
  params = jax.tree.map(lambda x: np.asarray(jax.device_get(x)), params)
  atomic_write.write_bytes(directory / params_file, serialization.msgpack_serialize(params))
  atomic_write.write_text(directory / meta_file, json.dumps(meta, indent=1, default=str))
  return directory


def save_generator(directory: str | os.PathLike, generator_config: Any, params: Any,
                   metadata: dict | None = None) -> cloud.AnyPath:
  """Writes params + config; each file appears whole or not at all."""
  config = (generator_config.to_dict() if isinstance(generator_config, ml_collections.ConfigDict)
            else dict(generator_config))
  meta = {"format_version": FORMAT_VERSION, "generator": config,
          "num_params": int(sum(np.size(x) for x in jax.tree.leaves(params))),
          **(metadata or {})}
  return write_model_files(directory, params, meta)


def load_generator(checkpoint: str | os.PathLike, conv_impl: str = "auto"
                   ) -> tuple[generator_lib.Generator, Any, dict]:
  """Returns ``(generator module, params, metadata)`` of a checkpoint (see ``resolve``: an
  export directory, a work directory holding ``export/``, or ``"shipped"``).

  ``conv_impl`` picks the residual blocks' convolution for inference (``Generator.conv_impl``;
  "auto": Winograd on CPU, native elsewhere); the parameters do not depend on it.
  """
  directory, _ = resolve(checkpoint)
  params_path, meta_path = directory / PARAMS_FILE, directory / META_FILE
  if not meta_path.is_file():
    raise ExportError(f"{directory} is not an exported generator (needs {PARAMS_FILE} and "
                      f"{META_FILE}); train with python -m jaxenhance.train (it writes "
                      "<workdir>/export) or pass --checkpoint=shipped")
  try:
    meta = json.loads(meta_path.read_text())
  except (ValueError, RecursionError) as exc:  # bad JSON, bad UTF-8, absurd nesting
    raise ExportError(f"{meta_path} is not valid JSON ({type(exc).__name__}); the export is "
                      "damaged") from exc
  if not isinstance(meta, dict):
    raise ExportError(f"{meta_path} must hold a JSON object; got {type(meta).__name__}")
  if meta.get("format_version") != FORMAT_VERSION:
    raise ExportError(f"{directory}: export format {meta.get('format_version')!r} is not "
                      f"supported (expected {FORMAT_VERSION})")
  if "generator" not in meta:
    raise ExportError(f"{meta_path} has no 'generator' settings; the export is damaged")
  config = check_generator_config(meta["generator"], str(meta_path))
  generator = generator_lib.make_generator(
      ml_collections.ConfigDict({**config, "conv_impl": conv_impl}))
  try:
    params = serialization.msgpack_restore(params_path.read_bytes())
  except Exception as exc:  # noqa: BLE001 - any decoding failure means a damaged file
    raise ExportError(f"{params_path} cannot be read ({type(exc).__name__}); the file is "
                      "truncated or damaged") from exc
  expected = jax.eval_shape(generator.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct(
      (1, generator.temporal_window, 16, 16, 3), np.float32))
  check_params(params, expected, str(params_path))
  return generator, params, meta
