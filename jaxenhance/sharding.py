"""Device mesh and sharding rules.

The mesh comes from the config as ``[(axis_name, size), …]`` with ``-1`` meaning "the rest of the
devices" (default ``[("data", -1)]``: pure data parallelism). Two parameter rules exist:

* ``"data"``: parameters and optimizer states replicated on every device; batches split over
  the ``data`` axis. Right for the small convnets of this project.
* ``"fsdp"``: each parameter's largest dimension divisible by the ``data`` axis size is split over
  it (ZeRO-3 style); others stay replicated. XLA gathers them around each use. This is for
  generator/critic widths that do not fit one device's memory.

The same code runs on one CPU, eight GPUs or a TPU pod slice: only the mesh differs.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def make_mesh(axes: Sequence[tuple[str, int]], devices: Sequence[jax.Device] | None = None
              ) -> Mesh:
  """A mesh over all (or the given) devices; one axis size may be -1 (fill the rest)."""
  devices = list(devices if devices is not None else jax.devices())
  names = [name for name, _ in axes]
  sizes = [int(size) for _, size in axes]
  if DATA_AXIS not in names:
    raise ValueError(f"the mesh needs a '{DATA_AXIS}' axis; got {names}")
  if sizes.count(-1) > 1:
    raise ValueError(f"at most one mesh axis may be -1; got {list(axes)}")
  known = int(np.prod([s for s in sizes if s != -1]))
  if -1 in sizes:
    if len(devices) % known:
      raise ValueError(f"{len(devices)} devices cannot fill mesh {list(axes)}")
    sizes[sizes.index(-1)] = len(devices) // known
  if int(np.prod(sizes)) != len(devices):
    raise ValueError(f"mesh {dict(zip(names, sizes))} needs {int(np.prod(sizes))} devices; "
                     f"{len(devices)} are available")
  # Auto axis types: shardings are propagated by XLA from the in/out shardings we give jit
  # (jax.make_mesh defaults to Explicit axes in this JAX version, which we do not use).
  return jax.make_mesh(tuple(sizes), tuple(names), devices=devices,
                       axis_types=(jax.sharding.AxisType.Auto,) * len(names))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over the data axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  devices = mesh.shape[DATA_AXIS]
  if batch_size % devices:
    raise ValueError(
        f"global batch size {batch_size} is not divisible by the {devices} devices of the "
        f"'{DATA_AXIS}' axis; use a multiple of {devices} (--config.data.batch_size=…)")


def _fsdp_spec(shape: tuple[int, ...], axis_size: int, min_size: int = 2 ** 14) -> P:
  """Splits the largest dimension divisible by the axis size; small arrays stay replicated."""
  if axis_size == 1 or int(np.prod(shape, dtype=np.int64)) < min_size:
    return P()
  for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
    if shape[dim] % axis_size == 0:
      spec = [None] * len(shape)
      spec[dim] = DATA_AXIS
      return P(*spec)
  return P()


def param_shardings(abstract_tree: Any, mesh: Mesh, rule: str = "data") -> Any:
  """Shardings for a pytree of (abstract) parameters or optimizer states under ``rule``."""
  if rule == "data":
    return jax.tree.map(lambda _: replicated(mesh), abstract_tree)
  if rule == "fsdp":
    size = mesh.shape[DATA_AXIS]
    return jax.tree.map(lambda x: NamedSharding(mesh, _fsdp_spec(tuple(x.shape), size)),
                        abstract_tree)
  raise ValueError(f"unknown sharding rule '{rule}'; choose 'data' or 'fsdp'")
