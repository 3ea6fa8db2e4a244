"""Exported generators: a round trip, and hostile or broken export directories refused in one line
before anything is built (issue 17.3)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import serialization
from PIL import Image
from train_helpers import tiny_config

from jaxenhance import export
from jaxenhance.models import generator as generator_lib

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
  """A tiny export: ``(directory, its generator.json as a dict, its params)``."""
  config = tiny_config().generator
  params = generator_lib.make_generator(config).init(
      jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  directory = export.save_generator(tmp_path_factory.mktemp("export"), config, params)
  meta = json.loads((directory / export.META_FILE).read_text())
  return directory, meta, jax.tree.map(np.asarray, params)


def _copy(saved, tmp_path, meta_text: str | None = None, params=None) -> Path:
  _, meta, good = saved
  out = tmp_path / "hostile"
  out.mkdir()
  (out / export.META_FILE).write_text(json.dumps(meta) if meta_text is None else meta_text)
  (out / export.PARAMS_FILE).write_bytes(serialization.msgpack_serialize(
      good if params is None else params))
  return out


def _with_generator(meta: dict, **fields) -> str:
  return json.dumps({**meta, "generator": {**meta["generator"], **fields}})


def test_round_trip(saved):
  directory, meta, params = saved
  generator, loaded, loaded_meta = export.load_generator(directory)
  assert loaded_meta == meta and generator.width == meta["generator"]["width"]
  assert jax.tree.all(jax.tree.map(np.array_equal, loaded, params))


def test_round_trip_of_a_qp_conditioned_generator(tmp_path):
  config = tiny_config().generator
  config.conditioning = "codec_qp"
  params = generator_lib.make_generator(config).init(
      jax.random.PRNGKey(0), np.zeros((1, 1, 16, 16, 3), np.float32))
  generator, loaded, _ = export.load_generator(export.save_generator(tmp_path, config, params))
  assert generator.reads_qp and "qp_stem" in loaded["params"]
  assert jax.tree.all(jax.tree.map(np.array_equal, loaded, jax.tree.map(np.asarray, params)))


# Raw JSON text where the hostile value cannot be written by json.dumps (1e400, NaN).
HOSTILE_META = {
    "a list": ("[1, 2]", "JSON object"),
    "no generator": ('{"format_version": 1}', "no 'generator'"),
    "generator a string": ('{"format_version": 1, "generator": "x"}', "'generator' must be"),
    "unknown kind": ({"kind": "transformer"}, "generator.kind"),
    "width 1e400": ('{"format_version": 1, "generator": {"width": 1e400}}', "generator.width"),
    "width NaN": ('{"format_version": 1, "generator": {"width": NaN}}', "generator.width"),
    "width a string": ({"width": "abc"}, "generator.width"),
    "width a bool": ({"width": True}, "generator.width"),
    "width a float": ({"width": 8.0}, "generator.width"),
    "channel_multiplier 0": ({"channel_multiplier": 0}, "generator.channel_multiplier"),
    "num_blocks 20000": ({"num_blocks": 20000}, "generator.num_blocks"),
    "temporal_window 100000001": ({"temporal_window": 100000001}, "generator.temporal_window"),
    "temporal_window even": ({"temporal_window": 2}, "generator.temporal_window must be odd"),
    "num_scales -1": ({"num_scales": -1}, "generator.num_scales"),
    "unknown field": ({"widht": 8}, "unknown field generator.widht"),
    "bad UTF-8": ("\udcff", "not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_META))
def test_hostile_generator_json_is_refused_in_one_line(saved, tmp_path, case):
  value, message = HOSTILE_META[case]
  text = value if isinstance(value, str) else _with_generator(saved[1], **value)
  directory = _copy(saved, tmp_path)
  (directory / export.META_FILE).write_bytes(text.encode("utf-8", "surrogateescape"))
  start = time.perf_counter()
  with pytest.raises(export.ExportError, match=message) as info:
    export.load_generator(directory)
  assert time.perf_counter() - start < 10  # no minutes-long shape inference, no huge array
  assert "\n" not in str(info.value)


HOSTILE_PARAMS = {
    "NaN": lambda x: np.full_like(x, np.nan),
    "Inf": lambda x: np.full_like(x, np.inf),
    "bool": lambda x: x > 0,
    "int32": lambda x: x.astype(np.int32),
    "float16": lambda x: x.astype(np.float16),
    "float64": lambda x: x.astype(np.float64),
    "complex64": lambda x: x.astype(np.complex64),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PARAMS))
def test_parameters_must_be_finite_float32(saved, tmp_path, case):
  params = jax.tree.map(np.asarray, saved[2])
  leaves, tree = jax.tree.flatten(params)
  leaves[-1] = HOSTILE_PARAMS[case](leaves[-1])
  directory = _copy(saved, tmp_path, params=jax.tree.unflatten(tree, leaves))
  match = "NaN or infinite" if case in ("NaN", "Inf") else "not float32"
  with pytest.raises(export.ExportError, match=match):
    export.load_generator(directory)


@pytest.mark.parametrize("case", ["NaN params", "width NaN"])
def test_enhance_cli_refuses_a_hostile_export_with_exit_2(saved, tmp_path, case):
  """Before: NaN parameters wrote an all-black image (exit 0); a NaN width, a traceback."""
  if case == "NaN params":
    directory = _copy(saved, tmp_path, params=jax.tree.map(
        lambda x: np.full_like(x, np.nan), saved[2]))
  else:
    directory = _copy(saved, tmp_path, meta_text=HOSTILE_META["width NaN"][0])
  source = tmp_path / "in.png"
  Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(source)
  done = subprocess.run(
      [sys.executable, "-m", "jaxenhance.enhance", str(source), str(tmp_path / "out.png"),
       f"--checkpoint={directory}"], cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, "JAX_PLATFORMS": "cpu"}, check=False)
  assert done.returncode == 2, done.stderr[-2000:]
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("jaxenhance enhance: error:"), done.stderr
  assert ("NaN or infinite" if case == "NaN params" else "generator.width") in lines[0]
  assert not (tmp_path / "out.png").exists()
