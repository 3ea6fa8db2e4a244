r"""Compiles the train steps for a Cloud TPU slice on a host without one (``--topology``).

  ./launch/setup.sh --tpu-compile   # once: libtpu into .venv (not part of the default set-up)
  python -m jaxenhance.train --config=configs/tpu_v4_32.py --dry_run --topology=v4-32

libtpu describes a slice's chips as compile-only devices (``jax.experimental.topologies``, as
MaxText's ``train_compile.py`` uses them). The config's mesh is laid over them and the steps the
trainer runs (:func:`jaxenhance.train.compile_steps`) are compiled by XLA:TPU, so the memory
it plans per chip can be checked against the chip's HBM before a slice is rented. Nothing is
allocated and no work directory is created (``--workdir`` is only read, for a selection report).

Slice names are Cloud TPU's (``v4-32``: 32 TensorCores, 16 chips; ``v5e-256``: 256 chips) for
power-of-two sizes; any name libtpu itself takes (``v4:2x2x4``, ``v4:4x4x12``) passes through.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxenhance import cloud, errors, sharding

_SLICE = re.compile(r"^(v4|v5p|v5e|v6e)-(\d+)$")
_LIBTPU = re.compile(r"^(v\w+)[:=_](\d+(?:x\d+)*)(_twisted|_untwisted)?$")
# Per generation: libtpu's name, TensorCores per chip counted in the slice name, chip config
# (megacore: one JAX device per chip, as on the real slice), and the chips of a 4-chip host.
_GENERATIONS = {"v4": ("v4", 2, "megacore", [2, 2, 1]), "v5p": ("v5", 2, "megacore", [2, 2, 1]),
                "v5e": ("v5e", 1, "default", [2, 2]), "v6e": ("v6e", 1, "default", [2, 2])}
# HBM per chip (GiB) by JAX device kind, from Cloud TPU's system architecture pages.
HBM_GIB = {"TPU v4": 32, "TPU v5": 95, "TPU v5p": 95, "TPU v5 lite": 16, "TPU v6 lite": 32}
GIB = 2 ** 30


class TopologyError(errors.JaxenhanceError, ValueError):
  """A topology, mesh or memory problem that the trainer reports as one line (exit code 2)."""


def libtpu_topology(name: str) -> tuple[str, str]:
  """``(libtpu topology, chip config)`` for a slice name (``v4-32``) or a libtpu name."""
  match = _SLICE.match(name)
  if match:
    prefix, cores_per_chip, chip_config, host = _GENERATIONS[match.group(1)]
    dims = list(host)
    chips = int(match.group(2)) // cores_per_chip
    if chips == 1 and len(dims) == 2:
      dims = [1, 1]
    # Cloud TPU's default shapes: from one host's chips, double the smallest side (the last of
    # equals) until the slice is reached (v4-32: 2x2x4, v4-128: 4x4x4, v5e-256: 16x16).
    while int(np.prod(dims)) < chips:
      small = min(dims)
      dims[len(dims) - 1 - dims[::-1].index(small)] *= 2
    if int(match.group(2)) % cores_per_chip or int(np.prod(dims)) != chips:
      raise TopologyError(f"unknown TPU slice '{name}': give its shape as a libtpu topology "
                          "instead (e.g. v4:4x4x12, v5e:2x2)")
    return f"{prefix}:{'x'.join(map(str, dims))}", chip_config
  match = _LIBTPU.match(name)
  if match:
    return name, "megacore" if match.group(1) in ("v4", "v5", "v5p") else "default"
  raise TopologyError(f"unknown TPU topology '{name}': use a slice name (v4-32, v5e-256, "
                      "v5p-8, v6e-16) or a libtpu topology (v4:2x2x4)")


def devices(name: str) -> list:
  """The compile-only devices of a TPU topology, one per chip (per core where chips have two)."""
  topology, chip_config = libtpu_topology(name)
  # This host is no TPU VM: without these, libtpu asks the metadata server and prints warnings
  # about worker hostnames for a host it will never run on. A real TPU VM sets its own.
  os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
  os.environ.setdefault("TPU_ACCELERATOR_TYPE", name if _SLICE.match(name) else "v4-8")
  os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
  # libtpu otherwise holds /tmp/libtpu_lockfile for a chip it would own; compiling owns no chip,
  # and two dry runs (or a test beside one) must not refuse each other.
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  from jax.experimental import topologies

  try:
    return list(topologies.get_topology_desc(topology, "tpu",
                                             chip_config_name=chip_config).devices)
  except RuntimeError as exc:  # JaxRuntimeError is one; "TPU support not installed" another
    if "not installed" in str(exc):
      raise TopologyError("--topology needs libtpu, which is not installed: run "
                          "./launch/setup.sh --tpu-compile") from exc
    raise TopologyError(f"libtpu refused topology '{topology}' (from '{name}'): "
                        f"{str(exc).splitlines()[0]}") from exc


def hbm_bytes(device_kind: str) -> int | None:
  gib = HBM_GIB.get(device_kind)
  return gib * GIB if gib else None


def memory_row(memory: Any) -> dict[str, int]:
  """Per-device bytes of one compiled step from its ``memory_analysis()``.

  ``total`` counts the donated state once (outputs that alias arguments are not new memory)
  and the program itself, which lives in HBM on a TPU.
  """
  row = {key: int(getattr(memory, f"{key}_size_in_bytes"))
         for key in ("argument", "output", "alias", "temp", "generated_code")}
  row["total"] = (row["argument"] + row["output"] - row["alias"] + row["temp"]
                  + row["generated_code"])
  return row


def report(rows: dict[str, dict], flops: dict[str, float], capacity: int | None, title: str
           ) -> tuple[str, bool]:
  """The per-device table and whether every step fits ``capacity`` bytes (None: unknown)."""
  mib = lambda b: f"{b / 2 ** 20:,.1f}"
  header = (f"{'step':<18}{'args MiB':>11}{'out MiB':>10}{'alias MiB':>11}{'temp MiB':>10}"
            f"{'code MiB':>10}{'total MiB':>11}{'GFLOP/step':>12}")
  lines = [title, header]
  for name, row in rows.items():
    lines.append(f"{name:<18}{mib(row['argument']):>11}{mib(row['output']):>10}"
                 f"{mib(row['alias']):>11}{mib(row['temp']):>10}{mib(row['generated_code']):>10}"
                 f"{mib(row['total']):>11}{flops.get(name, 0.0) / 1e9:>12,.1f}")
  need = max(row["total"] for row in rows.values())
  fits = capacity is None or need <= capacity
  if capacity is None:
    lines.append(f"needs {need / GIB:.2f} GiB per device; HBM of this chip unknown")
  else:
    lines.append(f"needs {need / GIB:.2f} GiB of {capacity / GIB:.0f} GiB HBM per device "
                 f"({100 * need / capacity:.1f}%): {'fits' if fits else 'DOES NOT FIT'}")
  return "\n".join(lines), fits


def dry_run(config: Any, name: str, workdir: str | Path | None = None) -> dict:
  """Compiles the config's train steps for TPU topology ``name`` and prints the HBM table.

  Raises:
    TopologyError: unknown topology, no libtpu, or a mesh or batch the slice cannot hold.
  """
  from jaxenhance import steps, train
  from jaxenhance.models import vgg

  try:  # host-side work (shapes, VGG weights) on the CPU, not on a TPU this host lacks
    jax.config.update("jax_platforms", "cpu")
  except RuntimeError:  # backends already up (tests): they stay as they are
    pass
  chips = devices(name)
  try:
    mesh = sharding.make_mesh(config.mesh, chips)
    sharding.check_batch_size(int(config.data.batch_size), mesh)
  except ValueError as exc:
    raise TopologyError(f"{name}: {exc}") from exc

  # The work directory is only looked into (for <workdir>/selection/report.json), never made.
  cloud.check_bucket(workdir or "", "--workdir")
  workdir = cloud.path(workdir) if workdir else Path.cwd() / ".no-workdir"
  try:
    generator, critic = train.build_models(config, workdir)
  except (FileNotFoundError, ValueError) as exc:  # e.g. critic.layers=selected, no report
    raise TopologyError(str(exc)) from exc
  g_opt, d_opt = steps.make_optimizers(config)
  init = lambda r: train.init_state(generator, critic, g_opt, d_opt, config, r)
  abstract = jax.eval_shape(init, jax.random.PRNGKey(int(config.seed)))
  rule = config.get("sharding", "data")
  state_sharding = sharding.param_shardings(abstract, mesh, rule)
  vgg_shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype),
                            vgg.load_params())
  compiled, costs, _ = train.compile_steps(config, mesh, (generator, critic), (g_opt, d_opt),
                                           abstract, state_sharding, vgg_shapes)

  rows = {kind: memory_row(exe.memory_analysis()) for kind, exe in compiled.items()}
  kind = chips[0].device_kind
  title = (f"{name} ({kind}, {len(chips)} devices, mesh {dict(mesh.shape)}, sharding={rule}, "
           f"global batch {int(config.data.batch_size)}): per device")
  table, fits = report(rows, {k: c["flops"] for k, c in costs.items()}, hbm_bytes(kind), title)
  print(table, flush=True)
  return {"topology": name, "device_kind": kind, "devices": len(chips), "memory": rows,
          "flops": {k: c["flops"] for k, c in costs.items()}, "fits": fits,
          "need_bytes": max(row["total"] for row in rows.values())}


def check_fits(result: dict) -> dict:
  """``result`` of :func:`dry_run`; raises :class:`TopologyError` if a step does not fit."""
  if not result["fits"]:
    kind = result["device_kind"]
    raise TopologyError(f"the config needs {result['need_bytes'] / GIB:.2f} GiB per device on "
                        f"{result['topology']}, more than the {HBM_GIB[kind]} GiB HBM of a {kind} "
                        "chip: shard the parameters (--config.sharding=fsdp) or lower "
                        "--config.data.batch_size")
  return result
