"""Real photographs shipped as Debian package data: fetch a pinned package, verify, extract.

Some of the project's footage (the held-out suite's photographs, and training photographs) lives
in Debian packages of desktop wallpapers. They are fetched once, on demand, never at run time:

  python -m jaxenhance.suite fetch        (or ./launch/setup.sh --suite)

``fetch(package)`` runs ``apt-get download NAME=VERSION`` (no root install, nothing is
configured), checks the ``.deb``'s size and sha256 against the pin, and extracts it with
``dpkg-deb -x`` into ``<asset cache>/debian/NAME_VERSION/`` (staged in a temporary directory and
renamed into place, so a tree is there whole or not at all). Where the machine has no apt (or no
network), put the ``.deb`` files in ``$JAXENHANCE_DEB_DIR`` and they are used instead, after
the same checks. Every file read from a package is checked again against its own sha256 by the
caller (``file_path``), so a tampered tree is refused at use.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jaxenhance import assets


@dataclasses.dataclass(frozen=True)
class DebianPackage:
  """A pinned Debian package (bookworm) and the licence its copyright file states."""
  name: str
  version: str
  sha256: str
  size: int
  licence: str

  @property
  def deb_name(self) -> str:
    # apt-get writes epochs as %3a in the file name.
    return f"{self.name}_{self.version.replace(':', '%3a')}_all.deb"


PACKAGES: dict[str, DebianPackage] = {
    p.name: p for p in [
        DebianPackage("mate-backgrounds", "1.26.0-1",
                      "7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04",
                      46_638_500, "GPL-2+ (debian/copyright, per file)"),
        DebianPackage("ukui-wallpapers", "20.04.3-1.1",
                      "6d49be70152e6d603163458e177e501deb0be8f2916389ccbfcf59b0d7fc0262",
                      21_469_048, "CC-BY-SA-3.0"),
        DebianPackage("plasma-workspace-wallpapers", "4:5.27.5-2",
                      "32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b",
                      94_047_772, "GPL-2+ (KDE Visual Design Group)"),
    ]
}


def _package(name: str) -> DebianPackage:
  if name not in PACKAGES:
    raise assets.AssetError(f"unknown Debian package '{name}'; pinned: {sorted(PACKAGES)}")
  return PACKAGES[name]


def package_root(name: str) -> Path:
  """Where ``name`` is (or will be) extracted: ``<cache>/debian/NAME_VERSION``."""
  pkg = _package(name)
  return assets.cache_dir() / "debian" / f"{pkg.name}_{pkg.version.replace(':', '_')}"


def _verify_deb(pkg: DebianPackage, path: Path) -> None:
  asset = assets.Asset(pkg.name, None, pkg.deb_name, pkg.sha256, pkg.size,
                       f"python -m jaxenhance.suite fetch (apt-get download {pkg.name}="
                       f"{pkg.version})", f"Debian package {pkg.name} {pkg.version}")
  assets.verify(asset, path)


def _download(pkg: DebianPackage, into: Path) -> Path:
  local = os.environ.get("JAXENHANCE_DEB_DIR")
  if local and (Path(local) / pkg.deb_name).is_file():
    return Path(local) / pkg.deb_name
  if shutil.which("apt-get") is None:
    raise assets.AssetError(
        f"{pkg.name}: apt-get is not available; download {pkg.deb_name} from a Debian mirror and "
        "put it in $JAXENHANCE_DEB_DIR")
  command = ["apt-get", "download", f"{pkg.name}={pkg.version}"]
  result = subprocess.run(command, cwd=into, capture_output=True, text=True, check=False)
  if result.returncode != 0 and os.geteuid() == 0:
    # A fresh machine may have empty package lists: read them once (as root), then retry.
    subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, check=False)
    result = subprocess.run(command, cwd=into, capture_output=True, text=True, check=False)
  found = into / pkg.deb_name
  if result.returncode != 0 or not found.is_file():
    hint = result.stderr.strip().splitlines()[-1:] or ["no output"]
    raise assets.AssetError(
        f"apt-get download {pkg.name}={pkg.version} failed ({hint[0]}); run `apt-get update` "
        f"once, or put {pkg.deb_name} in $JAXENHANCE_DEB_DIR")
  return found


def fetch(name: str) -> Path:
  """Downloads, verifies and extracts package ``name`` once; returns its extracted root."""
  pkg = _package(name)
  root = package_root(name)
  if (root / ".complete").is_file():
    return root
  root.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
    deb = _download(pkg, Path(tmp))
    _verify_deb(pkg, deb)
    staged = Path(tmp) / "tree"
    result = subprocess.run(["dpkg-deb", "-x", str(deb), str(staged)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
      raise assets.AssetError(f"dpkg-deb -x {deb.name} failed: {result.stderr.strip()}")
    (staged / ".complete").write_text(f"{pkg.name} {pkg.version} {pkg.sha256}\n")
    if root.exists():  # an earlier, unfinished extraction
      shutil.rmtree(root)
    os.replace(staged, root)
  return root


def file_path(package: str, relpath: str, sha256: str) -> Path:
  """The verified path of ``relpath`` inside extracted ``package``.

  Raises:
    AssetError: the package is not fetched, or the file is missing or fails its checksum (the
      message names the fetch command).
  """
  root = package_root(package)
  path = root / relpath
  fix = "run `python -m jaxenhance.suite fetch` (or ./launch/setup.sh --suite)"
  if not (root / ".complete").is_file() or not path.is_file():
    raise assets.AssetError(f"{package}: {relpath} is not in the asset cache; {fix}")
  digest = assets.sha256_of(path)
  if digest != sha256:
    raise assets.AssetError(f"{package}: {path} has sha256 {digest[:16]}…, expected "
                            f"{sha256[:16]}… (corrupt or replaced); delete {root} and {fix}")
  return path
