"""Response maps R(f, theta) of every channel of any CNN to grating stimuli.

The network is a function ``features_fn(images) -> {layer: [N, h, w, C]}`` (or
``features_fn(params, images)`` when ``params`` is given, so large weights are jit arguments and
not constants baked into the program). For each (frequency, orientation) the probe renders the
gratings of every phase inside jit, runs all requested layers in one pass, reduces each layer to
the per-channel mean of its post-ReLU activation over the central crop (borders see the zero
padding), and averages the phases, so only [batch, C] leaves the device.

Results are cached on disk by a hash of every parameter (network id included), so the selection
CLI, the benchmark and the training job share one probe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxenhance import cloud
from jaxenhance.perception import gratings

FeaturesFn = Callable[..., Mapping[str, jax.Array]]
CACHE_VERSION = 1


@dataclasses.dataclass
class ProbeResult:
  """Phase-averaged responses of each layer.

  Attributes:
    freqs: [F] frequencies in cycles/pixel.
    thetas: [T] orientations in radians.
    responses: layer -> float32 [F, T, C], R(f, theta) per channel.
    params: every parameter of the probe (stimulus, crop, network id, layers).
    timing: wall-clock seconds (``total_s``, ``first_batch_s`` includes compilation), the
      process's CPU seconds (``process_cpu_s``: on a shared machine the CPU it actually got),
      images.
  """

  freqs: np.ndarray
  thetas: np.ndarray
  responses: dict[str, np.ndarray]
  params: dict[str, Any]
  timing: dict[str, float]

  @property
  def layers(self) -> tuple[str, ...]:
    return tuple(self.responses)


def central_crop_mean(x: jax.Array, crop_fraction: float) -> jax.Array:
  """Mean over the central crop of a [N, h, w, C] map -> [N, C] (at least one pixel per side)."""
  _, h, w, _ = x.shape
  ch, cw = max(1, round(h * crop_fraction)), max(1, round(w * crop_fraction))
  top, left = (h - ch) // 2, (w - cw) // 2
  return jnp.mean(x[:, top:top + ch, left:left + cw, :], axis=(1, 2))


def _check_layers(features_fn: FeaturesFn, params: Any, size: int,
                  layers: Sequence[str]) -> None:
  """Traces the network once (no compute) to check that every requested layer exists."""
  if not layers:
    raise ValueError("No layers to probe: give at least one layer name.")
  images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  call = (lambda x: features_fn(x)) if params is None else (lambda p, x: features_fn(p, x))
  args = (images,) if params is None else (params, images)
  shapes = jax.eval_shape(call, *args)
  missing = [l for l in layers if l not in shapes]
  if missing:
    raise ValueError(f"Layer(s) {missing} are not returned by the network; it returns: "
                     f"{', '.join(shapes)}.")
  for name in layers:
    if len(shapes[name].shape) != 4:
      raise ValueError(f"Layer {name!r} has shape {shapes[name].shape}; expected [N, h, w, C].")


def probe(features_fn: FeaturesFn, stimulus: gratings.StimulusSpec, layers: Sequence[str], *,
          params: Any = None, batch_size: int = 16, crop_fraction: float = 0.5,
          rectify: bool = True, network_id: str = "unnamed",
          log: Callable[[str], None] | None = None) -> ProbeResult:
  """Measures R(f, theta) for every channel of `layers`.

  Args:
    features_fn: ``images [N, S, S, 3] in [0, 1] -> {layer: [N, h, w, C]}`` (or
      ``(params, images) -> ...`` when `params` is given).
    stimulus: the grating set.
    layers: names of the layers to probe; all are computed in the same forward pass.
    params: optional network parameters passed to `features_fn` as a jit argument.
    batch_size: images per jitted call; rounded down to a multiple of the number of phases.
    crop_fraction: side of the central crop relative to each feature map.
    rectify: apply ReLU to the taps (a no-op on ReLU/pool outputs; makes conv taps post-ReLU).
    network_id: recorded in the parameters (and the cache key).
    log: optional progress callback.

  Returns:
    The phase-averaged responses.
  """
  layers = tuple(layers)
  if not 0.0 < crop_fraction <= 1.0:
    raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction}.")
  num_phases = len(stimulus.phases)
  conds_per_batch = max(1, batch_size // num_phases)
  _check_layers(features_fn, params, stimulus.size, layers)

  freqs, thetas = stimulus.frequencies(), stimulus.orientations()
  ff, tt = np.meshgrid(freqs, thetas, indexing="ij")
  cond_f, cond_t = ff.ravel().astype(np.float32), tt.ravel().astype(np.float32)
  num_conds = cond_f.size
  pad = (-num_conds) % conds_per_batch  # repeat the last condition so every batch has one shape
  cond_f = np.concatenate([cond_f, np.full(pad, cond_f[-1], np.float32)])
  cond_t = np.concatenate([cond_t, np.full(pad, cond_t[-1], np.float32)])
  phases = jnp.asarray(stimulus.phases, jnp.float32)

  def step(p, f, t):
    b = f.shape[0]
    images = gratings.gratings(stimulus.size, jnp.repeat(f, num_phases),
                               jnp.repeat(t, num_phases), jnp.tile(phases, b), stimulus.contrast)
    feats = features_fn(images) if p is None else features_fn(p, images)
    out = {}
    for name in layers:
      x = feats[name].astype(jnp.float32)
      x = jax.nn.relu(x) if rectify else x
      m = central_crop_mean(x, crop_fraction)
      out[name] = m.reshape(b, num_phases, -1).mean(axis=1)
    return out

  step = jax.jit(step)
  if params is not None:
    params = jax.device_put(params)  # once, not on every call (host numpy weights)
  chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
  start, cpu_start = time.perf_counter(), time.process_time()
  first_batch_s = 0.0
  num_batches = cond_f.size // conds_per_batch
  for i in range(num_batches):
    sl = slice(i * conds_per_batch, (i + 1) * conds_per_batch)
    out = jax.device_get(step(params, cond_f[sl], cond_t[sl]))
    for name in layers:
      chunks[name].append(np.asarray(out[name]))
    if i == 0:
      first_batch_s = time.perf_counter() - start
    if log and (i + 1) % max(1, num_batches // 10) == 0:
      log(f"probe: batch {i + 1}/{num_batches}, {time.perf_counter() - start:.1f} s")
  total_s = time.perf_counter() - start
  cpu_s = time.process_time() - cpu_start  # on a shared machine, compare with total_s

  responses = {}
  for name in layers:
    r = np.concatenate(chunks[name])[:num_conds]
    if not np.all(np.isfinite(r)):
      raise FloatingPointError(f"The network produced non-finite activations at layer {name!r} "
                               "for grating inputs; check its weights and input range.")
    responses[name] = r.reshape(len(freqs), len(thetas), -1)
  num_images = num_conds * num_phases
  return ProbeResult(
      freqs=freqs, thetas=thetas, responses=responses,
      params=probe_params(stimulus, layers, crop_fraction, rectify, network_id),
      timing={"total_s": total_s, "first_batch_s": first_batch_s, "process_cpu_s": cpu_s,
              "images": num_images, "images_per_s": num_images / total_s,
              "batch_size": conds_per_batch * num_phases, "backend": jax.default_backend()})


def probe_params(stimulus: gratings.StimulusSpec, layers: Sequence[str], crop_fraction: float,
                 rectify: bool, network_id: str) -> dict[str, Any]:
  """The parameters that determine a probe's result (the batch size does not)."""
  return {"stimulus": stimulus.params(), "layers": list(layers), "crop_fraction": crop_fraction,
              "rectify": rectify, "network": network_id, "cache_version": CACHE_VERSION}


def cache_key(params: Mapping[str, Any]) -> str:
  return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def save(result: ProbeResult, path: str | os.PathLike) -> None:
  """Writes the result atomically as .npz (no pickles); a gs:// path as one object."""
  path = cloud.path(path)
  arrays = {f"R/{k}": v for k, v in result.responses.items()}
  meta = json.dumps({"params": result.params, "timing": result.timing, "layers": list(result.layers)})
  if cloud.is_cloud(path):
    buffer = io.BytesIO()
    np.savez(buffer, freqs=result.freqs, thetas=result.thetas, meta=np.array(meta), **arrays)
    path.write_bytes(buffer.getvalue())
    return
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
  os.close(fd)
  try:
    np.savez(tmp, freqs=result.freqs, thetas=result.thetas, meta=np.array(meta), **arrays)
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def load(path: str | os.PathLike) -> ProbeResult:
  source = io.BytesIO(cloud.path(path).read_bytes()) if cloud.is_cloud(path) else path
  with np.load(source, allow_pickle=False) as z:
    meta = json.loads(str(z["meta"]))
    responses = {k: z[f"R/{k}"] for k in meta["layers"]}
    return ProbeResult(freqs=z["freqs"], thetas=z["thetas"], responses=responses,
                       params=meta["params"], timing=meta["timing"])


def cached_probe(features_fn: FeaturesFn, stimulus: gratings.StimulusSpec,
                 layers: Sequence[str], cache_dir: str | os.PathLike | None, *,
                 network_id: str, crop_fraction: float = 0.5, rectify: bool = True,
                 log: Callable[[str], None] | None = None, **kwargs: Any) -> ProbeResult:
  """`probe`, reusing ``<cache_dir>/probe_<network>_<hash>.npz`` when the parameters match.

  The network id must change when the weights change (e.g. include their sha256).
  """
  params = probe_params(stimulus, layers, crop_fraction, rectify, network_id)
  path = None
  if cache_dir:
    safe = "".join(ch if ch.isalnum() else "_" for ch in network_id.split(":")[0])
    path = cloud.path(cache_dir) / f"probe_{safe}_{cache_key(params)}.npz"
    if path.is_file():
      result = load(path)
      if result.params == json.loads(json.dumps(params)):
        if log:
          log(f"probe: reusing cached {path}")
        return result
  result = probe(features_fn, stimulus, layers, network_id=network_id,
                 crop_fraction=crop_fraction, rectify=rectify, log=log, **kwargs)
  if path is not None:
    save(result, path)
    if log:
      log(f"probe: cached at {path}")
  return result
