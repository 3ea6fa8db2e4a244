"""The networks the probe knows by name: a features function, its parameters and layer names.

Any other Flax CNN works too: call `probe.probe` with your own ``features_fn``. A network here
is probed through ``features_fn(params, images)`` with images in [0, 1]; the id includes the
weights' sha256 so cached probes are invalidated when the weights change.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from jaxenhance import assets


@dataclasses.dataclass(frozen=True)
class Network:
  """A probe-able network.

  Attributes:
    name: short name ("vgg16").
    network_id: name plus the weights' checksum (part of the probe cache key).
    params: the network's variables.
    layers: every layer the features function can return, in network order.
    default_layers: what the selection probes unless told otherwise.
    make_features_fn: layers -> ``features_fn(params, images) -> {layer: [N, h, w, C]}``.
  """

  name: str
  network_id: str
  params: Any
  layers: tuple[str, ...]
  default_layers: tuple[str, ...]
  make_features_fn: Callable[[Sequence[str]], Callable[..., Any]]

  def resolve_layers(self, layers: str | Sequence[str] | None) -> tuple[str, ...]:
    """"default"/None, "all", or a list of names (checked, returned in network order)."""
    if layers in (None, "", "default"):
      return self.default_layers
    if layers == "all":
      return self.layers
    if isinstance(layers, str):
      layers = [l.strip() for l in layers.split(",") if l.strip()]
    unknown = [l for l in layers if l not in self.layers]
    if unknown:
      raise ValueError(f"Unknown {self.name} layer(s) {unknown}; valid names are: "
                       f"{', '.join(self.layers)}.")
    if not layers:
      raise ValueError(f"No {self.name} layers given; choose from {', '.join(self.layers)}.")
    return tuple(l for l in self.layers if l in set(layers))


def _vgg16() -> Network:
  from jaxenhance.models import vgg

  def make(layers):
    taps = vgg.validate_taps(layers)
    return lambda params, images: vgg.VGG16(taps=taps).apply(params, images)

  return Network(
      name="vgg16", network_id=f"vgg16:{assets.ASSETS['vgg16'].sha256[:16]}",
      params=vgg.load_params(), layers=tuple(vgg.LAYERS), default_layers=tuple(vgg.RELU_LAYERS),
      make_features_fn=make)


def _inception() -> Network:
  try:
    from jaxenhance.models import inception
  except ImportError as e:
    raise ImportError("The FID InceptionV3 needs jaxenhance/models/inception.py, which is not "
                      f"available ({e}).") from e
  return inception.probe_network()  # pragma: no cover - see the note in get_network


NETWORKS: dict[str, Callable[[], Network]] = {"vgg16": _vgg16, "inception_v3": _inception}


def get_network(name: str) -> Network:
  """Loads a named network (weights from the verified assets)."""
  if name not in NETWORKS:
    raise ValueError(f"Unknown network {name!r}; known: {sorted(NETWORKS)}. For another Flax "
                     "CNN call jaxenhance.perception.probe.probe with its features_fn.")
  return NETWORKS[name]()
