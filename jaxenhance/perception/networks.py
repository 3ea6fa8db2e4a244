"""The networks the probe knows by name: a features function, its parameters and layer names.

Any other Flax CNN works too: call `probe.probe` with your own ``features_fn``. A network here
is probed through ``features_fn(params, images)`` with images in [0, 1]; the id includes the
weights' sha256 so cached probes are invalidated when the weights change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

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
    required_size: the stimulus size the network must be probed at (None: any size).
  """

  name: str
  network_id: str
  params: Any
  layers: tuple[str, ...]
  default_layers: tuple[str, ...]
  make_features_fn: Callable[[Sequence[str]], Callable[..., Any]]
  required_size: int | None = None  # stimulus size the network needs (None: any)

  def check_size(self, size: int) -> None:
    if self.required_size is not None and size != self.required_size:
      raise ValueError(f"{self.name} must be probed at its input size {self.required_size} "
                       f"(stimulus size {size} would be resized, changing the frequencies); set "
                       f"selection.size={self.required_size}.")

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
  """The FID InceptionV3, tapped at its stem convs and mixed blocks (pytorch-fid names).

  Its input is 299x299 (the stimulus size must be 299: no resize, so the grating frequencies are
  the network's own), float in [0, 1] without 8-bit rounding. Every tap is post-ReLU (a ReLU
  output or a concatenation/pool of them). Taps are read with Flax's `capture_intermediates`;
  the layers past the deepest requested tap are unused, so XLA drops them.
  """
  from jaxenhance.models import inception

  modules = {fid: ts for ts, fid, *_ in inception.STEM}
  modules.update({fid: ts for ts, fid, *_ in inception.BLOCKS})

  def make(layers):
    layers = tuple(layers)
    unknown = [l for l in layers if l not in modules]
    if unknown:
      raise ValueError(f"Unknown inception_v3 layer(s) {unknown}; valid: {', '.join(modules)}.")
    wanted = {modules[l] for l in layers}
    net = inception.FIDInception(resize=None, quantize=False)

    def features(params, images):
      _, state = net.apply(
          params, images, mutable=["intermediates"],
          capture_intermediates=lambda m, method: (
              method == "__call__" and len(m.scope.path) == 1 and m.name in wanted))
      inter = state["intermediates"]
      return {l: inter[modules[l]]["__call__"][0] for l in layers}

    return features

  return Network(
      name="inception_v3",
      network_id=f"inception_v3:{assets.ASSETS['fid_inception'].sha256[:16]}",
      params=inception.load_params(), layers=tuple(modules), default_layers=tuple(modules),
      make_features_fn=make, required_size=inception.SIZE)


NETWORKS: dict[str, Callable[[], Network]] = {"vgg16": _vgg16, "inception_v3": _inception}


def get_network(name: str) -> Network:
  """Loads a named network (weights from the verified assets)."""
  if name not in NETWORKS:
    raise ValueError(f"Unknown network {name!r}; known: {sorted(NETWORKS)}. For another Flax "
                     "CNN call jaxenhance.perception.probe.probe with its features_fn.")
  return NETWORKS[name]()
