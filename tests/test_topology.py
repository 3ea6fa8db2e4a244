"""``--dry_run --topology``: TPU slice names, the HBM table, and a deviceless compile (libtpu)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from jaxenhance import topology

ROOT = Path(__file__).resolve().parents[1]
MiB = 2 ** 20
needs_libtpu = pytest.mark.skipif(
    importlib.util.find_spec("libtpu") is None,
    reason="libtpu is not installed (optional: ./launch/setup.sh --tpu-compile)")


def test_slice_names_map_to_libtpu_topologies():
  assert topology.libtpu_topology("v4-8") == ("v4:2x2x1", "megacore")
  assert topology.libtpu_topology("v4-32") == ("v4:2x2x4", "megacore")  # 16 chips
  assert topology.libtpu_topology("v4-128") == ("v4:4x4x4", "megacore")
  assert topology.libtpu_topology("v5e-8") == ("v5e:2x4", "default")
  assert topology.libtpu_topology("v5e-256") == ("v5e:16x16", "default")
  assert topology.libtpu_topology("v5p-8") == ("v5:2x2x1", "megacore")
  assert topology.libtpu_topology("v4:4x4x12") == ("v4:4x4x12", "megacore")  # passes through
  for bad in ("v4-24", "v9-8", "tpu", ""):
    with pytest.raises(topology.TopologyError, match="unknown TPU"):
      topology.libtpu_topology(bad)


def test_unknown_topology_is_one_line_and_exit_2(tmp_path):
  proc = subprocess.run(
      [sys.executable, "-m", "jaxenhance.train", f"--config={ROOT / 'configs/tpu_v4_32.py'}",
       "--dry_run", "--topology=v4-33", f"--workdir={tmp_path / 'run'}"],
      cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
      env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert proc.returncode == 2, proc.stderr
  assert proc.stderr.strip().splitlines() == [(
      "jaxenhance train: error: unknown TPU slice 'v4-33': give its shape as a libtpu "
      "topology instead (e.g. v4:4x4x12, v5e:2x2)")]
  assert list(tmp_path.iterdir()) == []  # neither the work directory nor anything else


def _memory(argument, output, alias, temp, code=0):
  return SimpleNamespace(argument_size_in_bytes=argument * MiB, output_size_in_bytes=output * MiB,
                         alias_size_in_bytes=alias * MiB, temp_size_in_bytes=temp * MiB,
                         generated_code_size_in_bytes=code * MiB)


def test_memory_table_counts_the_donated_state_once():
  row = topology.memory_row(_memory(argument=100, output=101, alias=100, temp=50, code=2))
  assert row["total"] == (100 + 1 + 50 + 2) * MiB
  rows = {"pretrain": row, "adversarial": topology.memory_row(_memory(100, 101, 100, 900))}
  table, fits = topology.report(rows, {"pretrain": 2e9, "adversarial": 7.5e9}, 32 * 2 ** 30,
                                "v4-32: per device")
  assert fits
  lines = table.splitlines()
  assert lines[0] == "v4-32: per device"
  assert lines[3].split() == ["adversarial", "100.0", "101.0", "100.0", "900.0", "0.0",
                              "1,001.0", "7.5"]
  assert lines[-1] == "needs 0.98 GiB of 32 GiB HBM per device (3.1%): fits"
  # The biggest step decides; one byte over the capacity does not fit.
  table, fits = topology.report(rows, {}, 1001 * MiB - 1, "t")
  assert not fits and table.endswith("DOES NOT FIT")
  assert topology.report(rows, {}, None, "t")[1]  # unknown chip: reported, not refused


@needs_libtpu
def test_deviceless_compile_for_a_v4_8(monkeypatch, capsys):
  import jax
  import numpy as np
  from train_helpers import tiny_config

  config = tiny_config()  # global batch 8 of 32 px crops: 2 per chip
  config.generator.width = 64  # 3x3x64x64 kernels: over FSDP's 16k-element threshold
  config.sharding = "fsdp"
  # A chip smaller than the step (one compile, so this test also covers "does not fit").
  monkeypatch.setitem(topology.HBM_GIB, "TPU v4", 2 ** -10)
  result = topology.dry_run(config, "v4-8")
  out = capsys.readouterr().out
  assert result["device_kind"] == "TPU v4" and result["devices"] == 4
  assert set(result["memory"]) == {"pretrain", "adversarial"}
  assert 0 < result["flops"]["pretrain"] < result["flops"]["adversarial"]
  adversarial = result["memory"]["adversarial"]
  assert adversarial["total"] > adversarial["temp"] > 0
  assert "v4-8 (TPU v4, 4 devices, mesh {'data': 4}, sharding=fsdp, global batch 8)" in out
  assert not result["fits"] and out.rstrip().endswith("DOES NOT FIT")
  with pytest.raises(topology.TopologyError, match="more than the .* HBM of a TPU v4 chip"):
    topology.check_fits(result)
  # FSDP: each chip holds a quarter of the big arrays, so its state is smaller than the whole.
  from jaxenhance import steps, train

  generator, critic = train.build_models(config, Path("/nonexistent"))
  g_opt, d_opt = steps.make_optimizers(config)
  whole = jax.eval_shape(lambda r: train.init_state(generator, critic, g_opt, d_opt, config, r),
                         jax.random.PRNGKey(0))
  whole_bytes = sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(whole))
  assert result["memory"]["pretrain"]["alias"] < 0.5 * whole_bytes


@needs_libtpu
def test_mesh_the_slice_cannot_hold_is_one_error():
  from train_helpers import tiny_config

  config = tiny_config()
  config.mesh = [("data", 8)]  # configs/gpu8.py's mesh on a 4-chip slice
  with pytest.raises(topology.TopologyError, match="v4-8: mesh .* needs 8 devices; 4 are"):
    topology.dry_run(config, "v4-8")
  config.mesh = [("data", -1)]
  config.data.batch_size = 6
  with pytest.raises(topology.TopologyError, match="not divisible by the 4 devices"):
    topology.dry_run(config, "v4-8")
