"""Quality predictor: a small CNN that tells which quality class compressed frames belong to,
and routing of each frame to the generator trained for that class.

Classes (``QualityClasses``) are either exact JPEG quality factors (Galteri et al.: QF 5, 10, 20,
30, 40, 60) or, beyond the paper, bins of a video codec's quantiser (x264 QP 22-27, 28-32, 33-37,
38-42, 43-51). Each class has a representative *value* (the QF, or the ladder QP inside the bin)
that keys the generator ensemble; any value inside a class's range names that class, so
``override_class=30`` picks the QP 28-32 bin.

The JPEG predictor is trained on the whole quality range, not on its classes: its network
estimates the quality itself (``QualityHead``: fine classes QF 5, 10, ..., 95, or a regression),
on the quantiser-step axis ``qf_axis`` (log10 of IJG's table scale / 100: 0 at QF 50, -1 at QF 95,
+1 at QF 5; JPEG's steps are proportional to that scale). The estimate is routed to the nearest
class on that axis (``QualityClasses.nearest``), so QF 75-95 go to the highest class rather than
wherever a six-class network happened to put them. The H.264 predictor (and a JPEG one trained
with ``qf.head=""``) still outputs its classes directly.

Prediction works on patches: ``num_patches`` patches of ``patch_size`` pixels are cut at positions
aligned to ``align`` pixels (16: the 4:2:0 JPEG MCU and the H.264 macroblock, so every patch sees
the coding grid at the same phase as in training); the most textured ones (largest luma standard
deviation) are kept, because flat patches look the same at every quality. The image-level class is
the argmax of the patch logits averaged over those patches.

The network (``QualityNet``) has two stems: ``"dct"`` for JPEG (a fixed 8x8 block-DCT conv of
luma and a periodic "quantiser-step spectrum", then a small MLP; the default for JPEG) and
``"pixels"`` (a plain strided CNN, for any codec; not yet accurate on H.264 QP bins after the
short CPU training tried so far).

Routing (``route``) groups frames by class so each generator of the ``Ensemble`` runs once on a
batch of its frames; a user-given ``override_class`` replaces the prediction for every frame
(users can override the predicted quality). Conditioning one generator on the predicted
quality instead of an ensemble is not implemented; ``Predictor.predict_class`` returns the
probabilities such a generator would take as its conditioning input.

Files: ``<dir>/predictor.msgpack`` (flax msgpack: arrays only, no code) and ``<dir>/predictor.json``
(classes, network and patch settings, provenance), like ``export.py`` for generators.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxenhance import cloud, errors, inference, jpeg_quality

Array = jax.Array

JPEG_QFS = (5, 10, 20, 30, 40, 60)
H264_QP_BINS = ((22, 27), (28, 32), (33, 37), (38, 42), (43, 51))
# Representative QP of each bin: the default ladder's value (27, 32, 37, 42) inside it, else the middle.
H264_QP_VALUES = (27, 32, 37, 42, 47)

PARAMS_FILE = "predictor.msgpack"
META_FILE = "predictor.json"
FORMAT_VERSION = 2  # 2 adds the optional "head"; version 1 files (no head) still load
READABLE_VERSIONS = (1, 2)
# JFIF luma weights: JPEG quantises this Y, so it is recovered (up to rounding) from decoded RGB.
_LUMA = (0.299, 0.587, 0.114)


class PredictorError(errors.JaxenhanceError, ValueError):
  """Bad input to the predictor or the router, or a damaged predictor file."""


# ---------------------------------------------------------------------------------------------
# Classes.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class QualityClasses:
  """The quality classes of one codec.

  Attributes:
    codec: "jpeg", "h264", ... (as in ``codecs.CODECS``).
    param: the rate parameter, "qf" or "qp"/"crf".
    values: representative value of each class (keys of the ensemble).
    ranges: inclusive (low, high) of each class; (v, v) for exact JPEG quality factors.
  """
  codec: str
  param: str
  values: tuple[int, ...]
  ranges: tuple[tuple[int, int], ...]

  def __post_init__(self):
    if not self.values or len(self.values) != len(self.ranges):
      raise PredictorError(f"need one range per class value; got values {self.values} and "
                           f"ranges {self.ranges}.")
    for v, (lo, hi) in zip(self.values, self.ranges):
      if not lo <= v <= hi:
        raise PredictorError(f"class value {v} is outside its range {lo}-{hi}.")
    flat = sorted(self.ranges)
    for (_, hi), (lo, _) in itertools.pairwise(flat):
      if lo <= hi:
        raise PredictorError(f"class ranges overlap: {self.ranges}.")

  @classmethod
  def jpeg(cls, qfs: Sequence[int] = JPEG_QFS) -> QualityClasses:
    qfs = tuple(int(q) for q in qfs)
    return cls("jpeg", "qf", qfs, tuple((q, q) for q in qfs))

  @classmethod
  def bins(cls, codec: str, param: str, ranges: Sequence[Sequence[int]],
           values: Sequence[int] | None = None) -> QualityClasses:
    ranges = tuple((int(lo), int(hi)) for lo, hi in ranges)
    values = tuple(int(v) for v in values) if values else tuple((lo + hi) // 2
                                                                 for lo, hi in ranges)
    return cls(codec, param, values, ranges)

  @property
  def num_classes(self) -> int:
    return len(self.values)

  @property
  def labels(self) -> list[str]:
    """``qf20`` or ``qp28-32``: names for tables and plots."""
    return [f"{self.param}{lo}" if lo == hi else f"{self.param}{lo}-{hi}"
            for lo, hi in self.ranges]

  def index(self, value: int) -> int:
    """The class whose range holds ``value``; PredictorError if none does."""
    for i, (lo, hi) in enumerate(self.ranges):
      if lo <= int(value) <= hi:
        return i
    raise PredictorError(
        f"{self.codec} {self.param}={value} is not in any class of this predictor "
        f"({', '.join(self.labels)}); pass one of the class values {list(self.values)}.")

  def nearest(self, value: float) -> int:
    """The class closest to ``value``, which need not lie in any class: a QF 90 estimate goes
    to the highest-quality class. QF: closest on ``qf_axis`` (equal ratios of quantiser step),
    ties to the higher quality, the gentler generator (QF 50 sits exactly between 40 and 60 and
    goes to 60). Other parameters: the closest range, ties to the lower (better) value."""
    if self.param == "qf":
      gaps = np.abs(qf_axis(np.asarray(self.values)) - qf_axis(value))
      order = np.argsort(-np.asarray(self.values), kind="stable")  # high quality first on ties
    else:
      lo, hi = np.asarray(self.ranges).T
      gaps = np.maximum(np.maximum(lo - value, value - hi), 0.0)
      order = np.argsort(np.asarray(self.values), kind="stable")
    gaps = np.round(gaps, 9)  # so exact ties stay ties after floating-point logs
    return int(order[np.argmin(gaps[order])])

  def to_dict(self) -> dict[str, Any]:
    return {"codec": self.codec, "param": self.param, "values": list(self.values),
            "ranges": [list(r) for r in self.ranges]}

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> QualityClasses:
    return cls(str(d["codec"]), str(d["param"]), tuple(int(v) for v in d["values"]),
               tuple((int(lo), int(hi)) for lo, hi in d["ranges"]))


# ---------------------------------------------------------------------------------------------
# Full-range quality estimates.
# ---------------------------------------------------------------------------------------------

def qf_axis(quality: float | np.ndarray) -> np.ndarray:
  """JPEG quality on the quantiser-step axis: log10(IJG table scale / 100). 0 at QF 50, -1 at
  QF 95, +1 at QF 5; QF 5 -> 10 and 90 -> 95 both halve the steps (0.30 apart) while 50 -> 55
  shrinks them by a tenth (0.05 apart), which is what the pixels show."""
  return np.log10(jpeg_quality.ijg_scale(quality) / 100.0)


def quality_from_axis(axis: float | np.ndarray) -> np.ndarray:
  """The inverse of ``qf_axis``: real-valued QF (1-99)."""
  return jpeg_quality.quality_for_scale(100.0 * np.power(10.0, np.asarray(axis, np.float64)))


HEAD_KINDS = ("classes", "regression")


@dataclasses.dataclass(frozen=True)
class QualityHead:
  """What the outputs of a full-range JPEG predictor mean.

  Attributes:
    kind: ``"classes"``: one logit per quality of ``values`` (a fine grid such as QF 5, 10, ...,
      95), trained on two-hot targets (a quality between two grid points splits its weight
      between them on ``qf_axis``) and read as the probability-weighted mean on that axis.
      ``"regression"``: one output, ``qf_axis`` itself.
    values: the grid qualities (``"classes"`` only), ascending.
  """
  kind: str
  values: tuple[int, ...] = ()

  def __post_init__(self):
    if self.kind not in HEAD_KINDS:
      raise PredictorError(f"head kind must be one of {HEAD_KINDS}; got {self.kind!r}.")
    if self.kind == "classes" and (len(self.values) < 2 or list(self.values) != sorted(
        set(self.values))):
      raise PredictorError(f"a classes head needs two or more ascending qualities; got "
                           f"{self.values}.")

  @property
  def num_outputs(self) -> int:
    return len(self.values) if self.kind == "classes" else 1

  def targets(self, quality: np.ndarray) -> np.ndarray:
    """Training targets of qualities [N]: two-hot weights [N, K], or the axis [N, 1]."""
    axis = qf_axis(quality)
    if self.kind == "regression":
      return axis[:, None].astype(np.float32)
    # The grid's axis descends with quality; flip it so np.interp sees ascending points.
    grid = qf_axis(np.asarray(self.values))[::-1]
    k = len(grid)
    pos = np.interp(axis, grid, np.arange(k))  # clipped to the grid's ends
    lo = np.minimum(np.floor(pos).astype(int), k - 2)
    frac = pos - lo
    out = np.zeros((len(axis), k), np.float32)
    out[np.arange(len(axis)), lo] = 1.0 - frac
    out[np.arange(len(axis)), lo + 1] = frac
    return out[:, ::-1].copy()

  def axis(self, outputs: Any) -> Any:
    """Network outputs [N, K] -> the estimate on ``qf_axis`` [N] (numpy or jax arrays)."""
    if self.kind == "regression":
      return outputs[:, 0]
    probs = jax.nn.softmax(outputs, axis=-1)
    return probs @ jnp.asarray(qf_axis(np.asarray(self.values)), jnp.float32)

  def quality(self, outputs: np.ndarray) -> np.ndarray:
    """Network outputs [N, K] -> estimated QF [N] (float64)."""
    return quality_from_axis(np.asarray(self.axis(jnp.asarray(outputs))))

  def to_dict(self) -> dict[str, Any]:
    return {"kind": self.kind, "values": list(self.values)}

  @classmethod
  def from_dict(cls, d: Mapping[str, Any]) -> QualityHead:
    return cls(str(d["kind"]), tuple(int(v) for v in d.get("values", ())))


# ---------------------------------------------------------------------------------------------
# Network.
# ---------------------------------------------------------------------------------------------

def dct_basis(size: int = 8) -> np.ndarray:
  """Orthonormal 2-D DCT-II basis as a conv kernel [size, size, 1, size * size] (JPEG's FDCT)."""
  k = np.arange(size)
  c = np.sqrt(2.0 / size) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * size))
  c[0] /= np.sqrt(2.0)
  basis = np.einsum("uy,vx->yxuv", c, c).reshape(size, size, 1, size * size)
  return basis.astype(np.float32)


class QualityNet(nn.Module):
  """Patches float [N, P, P, 3] in [0, 1] -> class logits [N, num_classes].

  Two stems (project choices):

  * ``"pixels"``: a plain CNN for any codec: 3x3 convs with ReLU, three stride-2 stages
    (total stride 8), global average and max pooling, a dense layer, the logits.
  * ``"dct"``: for JPEG. A fixed conv computes the 8x8 block DCT of luma (the transform JPEG
    quantises, aligned with its blocks since patches sit on the coding grid). A JPEG at quality
    Q leaves each coefficient near a multiple of its quantiser step q(u, v, Q); the stem measures
    that with ``cos(2 pi c / s)`` for every integer step s = 2..``max_step``, averaged over the
    blocks of the patch (and the fraction of zero coefficients per frequency), and a small MLP
    maps this "step spectrum" to the class. It is a CNN whose first layer and nonlinearity are
    fixed rather than learned; it learns in a few hundred steps where the pixel CNN needs
    thousands, and does not depend on image content.

  Attributes:
    num_classes: number of outputs (the classes, or a ``QualityHead``'s outputs).
    stem: "pixels" or "dct".
    widths: pixel stem: channels of the full-resolution conv, then of each stride-2 stage.
    dense: width of the hidden dense layer.
    channels: pixel stem: "luma" (JFIF Y) or "rgb" (the dct stem always reads luma).
    max_step: dct stem: largest quantiser step probed.
  """

  num_classes: int
  stem: str = "pixels"
  widths: Sequence[int] = (16, 32, 64, 96)
  dense: int = 64
  channels: str = "luma"
  max_step: int = 64

  @nn.compact
  def __call__(self, patches: Array) -> Array:
    if patches.ndim != 4 or patches.shape[-1] != 3:
      raise PredictorError(f"QualityNet expects patches [N, P, P, 3]; got {patches.shape}.")
    x = patches.astype(jnp.float32)
    luma = x @ jnp.asarray(_LUMA, jnp.float32)[:, None]
    if self.stem == "dct":
      features = self._step_spectrum(luma)
    elif self.stem == "pixels":
      features = self._pixel_features(luma if self.channels == "luma" else x)
    else:
      raise PredictorError(f"stem must be 'pixels' or 'dct'; got {self.stem!r}.")
    x = nn.relu(nn.Dense(self.dense, name="hidden")(features))
    return nn.Dense(self.num_classes, name="logits")(x)

  def _step_spectrum(self, luma: Array) -> Array:
    if luma.shape[1] % 8 or luma.shape[2] % 8:
      raise PredictorError(f"the dct stem needs patches whose side is a multiple of 8; got "
                           f"{luma.shape[1:3]}.")
    # JPEG's level shift and scale: coefficients in the units its quantiser steps use.
    coeffs = jax.lax.conv_general_dilated(
        luma * 255.0 - 128.0, jnp.asarray(dct_basis()), (8, 8), "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"))  # [N, h, w, 64]
    coeffs = coeffs.reshape(coeffs.shape[0], -1, 64)
    steps = jnp.arange(2, self.max_step + 1, dtype=jnp.float32)
    nonzero = (jnp.abs(coeffs) > 0.5).astype(jnp.float32)
    phase = jnp.cos(2.0 * jnp.pi * coeffs[..., None] / steps)  # [N, blocks, 64, S]
    spectrum = (phase * nonzero[..., None]).mean(1).reshape(coeffs.shape[0], -1)
    zeros = 1.0 - nonzero.mean(1)
    return jnp.concatenate([spectrum, zeros], axis=-1)

  def _pixel_features(self, x: Array) -> Array:
    # Scale so pixel steps are O(1): quantisation noise is a few grey levels out of 255.
    x = (x - 0.5) * 8.0
    x = nn.relu(nn.Conv(self.widths[0], (3, 3), name="stem")(x))
    for i, width in enumerate(self.widths[1:]):
      x = nn.relu(nn.Conv(width, (3, 3), strides=(2, 2), name=f"down{i}")(x))
      x = nn.relu(nn.Conv(width, (3, 3), name=f"conv{i}")(x))
    return jnp.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)


# ---------------------------------------------------------------------------------------------
# Patches.
# ---------------------------------------------------------------------------------------------

def check_frames(frames: Any) -> np.ndarray:
  """uint8 [N, H, W, 3] or PredictorError saying what was wrong."""
  frames = np.asarray(frames)
  if frames.ndim == 3:
    raise PredictorError(f"expected a batch of frames [N, H, W, 3]; got one image "
                         f"{frames.shape}: add a leading axis (frames[None]).")
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
    raise PredictorError(f"expected RGB frames [N, H, W, 3] with N >= 1; got {frames.shape}.")
  if frames.dtype != np.uint8:
    raise PredictorError(f"expected uint8 frames (0-255, as decoded); got {frames.dtype}. "
                         "Convert float frames in [0, 1] with np.round(x * 255).astype(np.uint8).")
  return frames


def grid_positions(height: int, width: int, patch: int, align: int) -> np.ndarray:
  """All (y, x) with y, x multiples of ``align`` where a patch fits: int [M, 2]."""
  if height < patch or width < patch:
    raise PredictorError(f"frames of {height}x{width} are smaller than the predictor's "
                         f"{patch}x{patch} patch; upscale them or use a predictor trained on "
                         "smaller patches.")
  ys = np.arange(0, height - patch + 1, align)
  xs = np.arange(0, width - patch + 1, align)
  return np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


def luma_std(patches: np.ndarray) -> np.ndarray:
  """Standard deviation of the JFIF luma of uint8 patches [..., P, P, 3] -> [...]."""
  y = patches.astype(np.float32) @ np.asarray(_LUMA, np.float32)
  return y.reshape(*y.shape[:-2], -1).std(-1)


def textured_patches(frame: np.ndarray, patch: int, num: int, align: int = 16) -> np.ndarray:
  """The ``num`` grid-aligned patches of ``frame`` with the largest luma std (fewer if the frame
  is small), uint8 [K, P, P, 3]. Deterministic: ties go to the earlier position."""
  pos = grid_positions(frame.shape[0], frame.shape[1], patch, align)
  patches = np.stack([frame[y:y + patch, x:x + patch] for y, x in pos])
  order = np.argsort(-luma_std(patches), kind="stable")[:num]
  return patches[np.sort(order)]


# ---------------------------------------------------------------------------------------------
# Predictor.
# ---------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Predictor:
  """A trained ``QualityNet`` with its classes and patch settings.

  Attributes:
    net: the module.
    params: its variables ({"params": ...}).
    classes: the quality classes.
    patch_size: patch side P.
    num_patches: patches averaged per frame (K).
    align: patch positions are multiples of this.
    metadata: provenance (training data, accuracy, ...), as stored in ``predictor.json``.
    head: what the network outputs when it estimates the quality itself (full-range JPEG
      predictors); None when its outputs are the logits of ``classes``.
  """
  net: QualityNet
  params: Any
  classes: QualityClasses
  patch_size: int = 48
  num_patches: int = 16
  align: int = 16
  metadata: dict = dataclasses.field(default_factory=dict)
  head: QualityHead | None = None

  def __post_init__(self):
    self._apply = jax.jit(self.net.apply)

  def patch_logits(self, patches: np.ndarray, batch_size: int = 128) -> np.ndarray:
    """uint8 patches [M, P, P, 3] -> logits [M, C] (float32 numpy)."""
    out = []
    for start in range(0, len(patches), batch_size):
      chunk = patches[start:start + batch_size]
      # Pad to a power of two so frames with different patch counts reuse a few compilations.
      size = min(batch_size, 1 << max(len(chunk) - 1, 0).bit_length())
      padded = np.zeros((size, *chunk.shape[1:]), np.uint8)
      padded[:len(chunk)] = chunk
      logits = self._apply(self.params, jnp.asarray(padded, jnp.float32) / 255.0)
      out.append(np.asarray(logits)[:len(chunk)])
    return np.concatenate(out)

  def frame_logits(self, frames: np.ndarray) -> np.ndarray:
    """Mean patch outputs of each frame: uint8 [N, H, W, 3] -> [N, C] (C: the head's outputs
    when there is one)."""
    frames = check_frames(frames)
    groups = [textured_patches(f, self.patch_size, self.num_patches, self.align) for f in frames]
    logits = self.patch_logits(np.concatenate(groups))
    splits = np.cumsum([len(g) for g in groups])[:-1]
    return np.stack([chunk.mean(0) for chunk in np.split(logits, splits)])

  def predict_quality(self, frames: np.ndarray) -> np.ndarray:
    """Estimated quality (e.g. QF 87.3) of uint8 frames [N, H, W, 3]: float [N]. Without a
    head, the value of the predicted class."""
    if self.head is None:
      return self.predict_value(frames).astype(np.float64)
    return self.head.quality(self.frame_logits(frames))

  def predict_class(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class index [N] (int) and class probabilities [N, C] of uint8 frames [N, H, W, 3].

    With a head, the class is the one nearest the estimated quality (``QualityClasses.nearest``)
    and the probabilities are the head's: a fine class's probability counts for the routing
    class nearest to it (one-hot for a regression head).
    """
    logits = self.frame_logits(frames)
    if self.head is None:
      probs = np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))
      return logits.argmax(-1), probs
    index = np.asarray([self.classes.nearest(q) for q in self.head.quality(logits)], np.int64)
    if self.head.kind == "regression":
      return index, np.eye(self.classes.num_classes, dtype=np.float32)[index]
    fine = np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))
    owner = [self.classes.nearest(v) for v in self.head.values]
    probs = np.zeros((len(fine), self.classes.num_classes), np.float32)
    np.add.at(probs.T, owner, fine.T)
    return index, probs

  def predict_value(self, frames: np.ndarray) -> np.ndarray:
    """The class value (e.g. QF 20 or QP 32) of each frame: int [N]."""
    index, _ = self.predict_class(frames)
    return np.asarray(self.classes.values)[index]


def _net_config(net: QualityNet) -> dict[str, Any]:
  return {"num_classes": net.num_classes, "stem": net.stem, "widths": list(net.widths),
          "dense": net.dense, "channels": net.channels, "max_step": net.max_step}


def save_predictor(directory: str | os.PathLike, predictor: Predictor) -> cloud.AnyPath:
  """Writes ``predictor.msgpack`` + ``predictor.json``; each file appears whole or not at all."""
  from jaxenhance import export  # the one writer of model files

  meta = {**predictor.metadata, "format_version": FORMAT_VERSION,
          "classes": predictor.classes.to_dict(),
          "head": predictor.head.to_dict() if predictor.head else None,
          "net": _net_config(predictor.net),
          "patch_size": predictor.patch_size, "num_patches": predictor.num_patches,
          "align": predictor.align}
  return export.write_model_files(directory, predictor.params, meta, PARAMS_FILE, META_FILE)


def load_predictor(directory: str | os.PathLike) -> Predictor:
  """Reads a predictor written by ``save_predictor`` (``python -m jaxenhance.qf_train``).

  Raises:
    PredictorError: missing, damaged or mismatching files, with what to do about it.
  """
  directory = cloud.path(directory)  # local or gs://
  params_path, meta_path = directory / PARAMS_FILE, directory / META_FILE
  if not params_path.is_file() or not meta_path.is_file():
    raise PredictorError(
        f"{directory} is not a saved quality predictor (needs {PARAMS_FILE} and {META_FILE}); "
        "train one with python -m jaxenhance.qf_train --workdir=<dir> (it writes "
        "<dir>/qf/<codec>).")
  try:
    meta = json.loads(meta_path.read_text())
    if meta.get("format_version") not in READABLE_VERSIONS:
      raise PredictorError(f"{meta_path}: predictor format {meta.get('format_version')} is not "
                           f"supported (expected {FORMAT_VERSION}); retrain the predictor.")
    classes = QualityClasses.from_dict(meta["classes"])
    head = QualityHead.from_dict(meta["head"]) if meta.get("head") else None
    n = meta["net"]
    net = QualityNet(num_classes=int(n["num_classes"]), stem=str(n["stem"]),
                     widths=tuple(int(w) for w in n["widths"]), dense=int(n["dense"]),
                     channels=str(n["channels"]), max_step=int(n["max_step"]))
    patch, num, align = int(meta["patch_size"]), int(meta["num_patches"]), int(meta["align"])
  except PredictorError:
    raise
  except (ValueError, KeyError, TypeError) as exc:
    raise PredictorError(f"{meta_path} is damaged ({type(exc).__name__}: {exc}); retrain the "
                         "predictor or restore the file.") from exc
  outputs = head.num_outputs if head else classes.num_classes
  if net.num_classes != outputs:
    wants = "its head wants" if head else "its classes want"
    raise PredictorError(f"{meta_path}: the network has {net.num_classes} outputs but {wants} "
                         f"{outputs}; the file is damaged.")
  try:
    params = serialization.msgpack_restore(params_path.read_bytes())
  except Exception as exc:  # any decoding failure means a damaged file
    raise PredictorError(f"{params_path} cannot be read ({type(exc).__name__}); the file is "
                         "truncated or damaged. Retrain the predictor or restore the file.") from exc
  expected = jax.eval_shape(net.init, jax.random.key(0, impl="rbg"),
                            jax.ShapeDtypeStruct((1, patch, patch, 3), jnp.float32))
  got = jax.tree.map(np.shape, params) if isinstance(params, dict) else None
  if got != jax.tree.map(lambda x: tuple(x.shape), expected):
    raise PredictorError(f"{params_path} does not match the network described in {meta_path} "
                         "(files from different runs?); retrain or restore both files together.")
  params = jax.tree.map(jnp.asarray, params)
  metadata = {k: v for k, v in meta.items() if k not in (
      "format_version", "classes", "head", "net", "patch_size", "num_patches", "align")}
  return Predictor(net, params, classes, patch, num, align, metadata, head)


# ---------------------------------------------------------------------------------------------
# Ensemble routing.
# ---------------------------------------------------------------------------------------------

class Ensemble:
  """One generator per quality class: ``Ensemble({class_value: (generator, params)})``.

  Generators run through ``inference.batch_fn`` (one compilation per architecture and shape); a
  member may be shared by several classes (pass the same pair twice).
  """

  def __init__(self, members: Mapping[int, tuple[nn.Module, Any]]):
    if not members:
      raise PredictorError("an ensemble needs at least one (generator, params) member.")
    self.members: dict[int, tuple[nn.Module, Any]] = {}
    for value, member in members.items():
      if not isinstance(member, tuple) or len(member) != 2:
        raise PredictorError(f"ensemble member for class {value} must be a (generator, params) "
                             f"pair; got {type(member).__name__}.")
      self.members[int(value)] = member

  @property
  def values(self) -> list[int]:
    return sorted(self.members)

  def enhance(self, value: int, frames: np.ndarray) -> np.ndarray:
    """Runs the generator of class ``value`` on uint8 frames [N, H, W, 3]; returns uint8."""
    generator, params = self.members[int(value)]
    return np.asarray(inference.batch_fn(generator)(params, np.asarray(frames, np.uint8))[0])


@dataclasses.dataclass
class Routed:
  """Result of ``route``.

  Attributes:
    frames: enhanced uint8 [N, H, W, 3], in input order.
    class_values: the class value each frame was routed to, int [N].
    probabilities: predicted class probabilities [N, C], None when the class was overridden.
    overridden: True when ``override_class`` decided the class.
  """
  frames: np.ndarray
  class_values: np.ndarray
  probabilities: np.ndarray | None
  overridden: bool


def route(frames: np.ndarray, predictor: Predictor, ensemble: Ensemble,
          override_class: int | None = None, batch_size: int = 8) -> Routed:
  """Enhances each frame with the ensemble generator of its (predicted or given) quality class.

  Args:
    frames: decoded uint8 frames [N, H, W, 3].
    predictor: the quality predictor; its class values key the ensemble.
    ensemble: generators by class value.
    override_class: a quality value (e.g. QF 20, or any QP inside a bin) that replaces the
      prediction for every frame; it must belong to one of the predictor's classes.
    batch_size: frames per generator call.

  Returns:
    ``Routed`` with the enhanced frames and the class of each frame.
  """
  frames = check_frames(frames)
  values = np.asarray(predictor.classes.values)
  if override_class is not None:
    index = predictor.classes.index(override_class)
    chosen = np.full(len(frames), values[index])
    probs = None
  else:
    missing = sorted(set(values.tolist()) - set(ensemble.values))
    if missing:
      raise PredictorError(
          f"the ensemble has no generator for classes {missing} that the predictor can output "
          f"(it has {ensemble.values}); add them, share a member between classes, or pass "
          "override_class.")
    index, probs = predictor.predict_class(frames)
    chosen = values[index]
  if override_class is not None and int(chosen[0]) not in ensemble.members:
    raise PredictorError(f"override_class={override_class} is class {int(chosen[0])}, which "
                         f"has no generator in the ensemble (it has {ensemble.values}).")
  out = np.empty_like(frames)
  # Group frames by class so each generator runs on batches of its own frames.
  for value in np.unique(chosen):
    idx = np.flatnonzero(chosen == value)
    for start in range(0, len(idx), batch_size):
      part = idx[start:start + batch_size]
      out[part] = ensemble.enhance(int(value), frames[part])
  return Routed(out, chosen.astype(np.int64), probs, override_class is not None)
