"""Headless Chromium for the study's browser test: Debian's own packages, pinned, no root install.

  python -m jaxenhance.study.browser fetch   # Chromium, chromedriver, missing libraries; where
  python -m jaxenhance.study.browser pin     # the pin table for the versions the archive holds now

``ensure()`` fetches ``chromium``, ``chromium-common`` and ``chromium-driver`` at a version pinned
in ``chromium_pins.py`` (``apt-get download NAME=VERSION``, size and sha256 checked, ``dpkg-deb
-x`` into ``<asset cache>/debian/NAME_VERSION/``: the same steps and cache as
``debian_packages``). It then runs ``ldd`` over the browser, the driver and every library fetched
so far, and fetches the pinned package of each shared library the machine lacks, until nothing is
missing; the libraries are found through ``LD_LIBRARY_PATH`` (``Browser.env``). Fonts come from a
private fontconfig file that lists the DejaVu fonts inside matplotlib (always installed here) and
``/usr/share/fonts``, so pages render the same on a bare machine.

Where a pinned version has left the archive, ``ensure(allow_unpinned=True)`` (what the test asks
for) takes the archive's current version instead, which apt has verified against the signed
index, and says so; ``pin`` prints the table to refresh the pins with. A browser installed some
other way is used when ``$JAXENHANCE_CHROMIUM`` and ``$JAXENHANCE_CHROMEDRIVER`` name it.
Nothing here downloads a browser build of its own (no Selenium Manager, no Chrome for Testing).
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from jaxenhance import assets, debian_packages, errors
from jaxenhance.study import chromium_pins

logger = logging.getLogger("jaxenhance.study")

BROWSER_PACKAGES = ("chromium", "chromium-common", "chromium-driver")
FIX = "`python -m jaxenhance.study.browser fetch`"
# Shared libraries that come with the C library itself: never fetched (they must match ld.so).
_LIBC = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1",
         "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


class BrowserError(errors.JaxenhanceError, RuntimeError):
  """The browser cannot be fetched or started here; the message says why and what to do."""


@dataclasses.dataclass(frozen=True)
class Pin(debian_packages.DebianPackage):
  """A pinned architecture-specific package and the sonames it provides."""
  arch: str = chromium_pins.ARCH
  sonames: tuple[str, ...] = ()

  @property
  def deb_name(self) -> str:
    return f"{self.name}_{self.version.replace(':', '%3a')}_{self.arch}.deb"


def pins() -> dict[str, list[Pin]]:
  """``{package: [pins, preferred first]}`` from ``chromium_pins.TABLE``."""
  table: dict[str, list[Pin]] = {}
  for line in chromium_pins.TABLE.split("\n"):
    if not line.strip():
      continue
    name, version, size, sha256, sonames = line.split()
    table.setdefault(name, []).append(Pin(
        name, version, sha256, int(size), f"see usr/share/doc/{name}/copyright",
        sonames=tuple(s for s in sonames.split(",") if s != "-")))
  return table


@dataclasses.dataclass(frozen=True)
class Browser:
  """A Chromium and its chromedriver, and the environment both need to run."""
  chromium: Path
  chromedriver: Path
  version: str
  env: dict[str, str]
  pinned: bool

  def options(self, *, width: int = 1000, height: int = 760, profile: Path | None = None):
    """Selenium ``ChromeOptions`` for a headless, sandbox-free, fixed-size window."""
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    opts.binary_location = str(self.chromium)
    # No sandbox: CI containers run as root without user namespaces, and the browser only ever
    # opens the study server on 127.0.0.1.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--force-device-scale-factor=1", "--hide-scrollbars", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                 "--no-first-run", "--disable-extensions", "--disable-background-networking"):
      opts.add_argument(flag)
    if profile is not None:
      opts.add_argument(f"--user-data-dir={profile}")
    return opts

  def driver(self, **kwargs):
    """A started Selenium Chrome driver (the caller quits it)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # The driver passes its environment on to the browser. Naming the driver's path also keeps
    # Selenium Manager (which would download a browser) from running.
    service = Service(executable_path=str(self.chromedriver), env={**os.environ, **self.env})
    return webdriver.Chrome(service=service, options=self.options(**kwargs))


# ---------------------------------------------------------------------------------------------
# Fetching packages.
# ---------------------------------------------------------------------------------------------

def _root(name: str, version: str) -> Path:
  return assets.cache_dir() / "debian" / f"{name}_{version.replace(':', '_')}"


def _install(root: Path, debs: list[Path], note: str) -> Path:
  """Extracts ``debs`` into one tree at ``root``, whole or not at all (staged, then renamed)."""
  with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
    staged = Path(tmp) / "tree"
    for deb in debs:
      result = subprocess.run(["dpkg-deb", "-x", str(deb), str(staged)], capture_output=True,
                              text=True, check=False)
      if result.returncode != 0:
        raise BrowserError(f"dpkg-deb -x {deb.name} failed: {result.stderr.strip()}")
    (staged / ".complete").write_text(note + "\n")
    if root.exists():  # an earlier, unfinished extraction
      shutil.rmtree(root)
    os.replace(staged, root)
  return root


def _download_pinned(pin: Pin, into: Path) -> Path:
  deb = debian_packages.download_deb(pin, into)  # the project's one apt download
  debian_packages.verify_deb(pin, deb, FIX)
  return deb


def _download_current(name: str, into: Path) -> tuple[Path, str]:
  """The archive's current ``.deb`` of ``name`` and its version (apt checked it against the
  signed index)."""
  result = subprocess.run(["apt-get", "download", name], cwd=into, capture_output=True,
                          text=True, check=False)
  found = sorted(into.glob(f"{name}_*.deb"))
  if result.returncode != 0 or len(found) != 1:
    hint = (result.stderr.strip().splitlines() or ["no output"])[-1]
    raise BrowserError(f"apt-get download {name} failed ({hint}); run `apt-get update` once")
  version = subprocess.run(["dpkg-deb", "-f", str(found[0]), "Version"], capture_output=True,
                           text=True, check=True).stdout.strip()
  return found[0], version


def _fetch(names: tuple[str, ...], root_name: str, table: dict[str, list[Pin]],
           allow_unpinned: bool) -> tuple[Path, str, bool]:
  """``(root, version, pinned)``: packages ``names`` (one version for all) in one tree."""
  parent = assets.cache_dir() / "debian"
  parent.mkdir(parents=True, exist_ok=True)
  failures = []
  versions = [p.version for p in table.get(names[0], [])] if _arch() == chromium_pins.ARCH else []
  if _arch() != chromium_pins.ARCH:
    failures.append(f"the pins are for {chromium_pins.ARCH}, this machine is {_arch()}")
  elif not versions:
    failures.append(f"{names[0]} is not pinned")
  for version in versions:
    root = _root(root_name, version)
    if (root / ".complete").is_file():
      return root, version, True
    pinned = [next((p for p in table[n] if p.version == version), None) for n in names]
    if None in pinned:
      continue
    with tempfile.TemporaryDirectory(dir=parent) as tmp:
      try:
        debs = [_download_pinned(p, Path(tmp)) for p in pinned]
      except errors.AssetError as exc:
        failures.append(str(exc))
        continue
      note = " ".join(f"{p.name}={p.version}:{p.sha256}" for p in pinned)
      return _install(root, debs, note), version, True
  if not allow_unpinned:
    raise BrowserError(f"{root_name}: no pinned version can be fetched ({'; '.join(failures)}); "
                       "refresh the pins with `python -m jaxenhance.study.browser pin`")
  logger.warning("%s: no pinned version can be fetched (%s); using the archive's current "
                 "version", root_name, failures[-1])
  current = _candidate(names[0])
  if current and (_root(root_name, current) / ".complete").is_file():
    return _root(root_name, current), current, False
  with tempfile.TemporaryDirectory(dir=parent) as tmp:
    found = [_download_current(n, Path(tmp)) for n in names]
    current = {v for _, v in found}
    if len(current) != 1:
      raise BrowserError(f"the archive serves {names} at different versions: {sorted(current)}")
    version = current.pop()
    root = _root(root_name, version)
    if not (root / ".complete").is_file():
      _install(root, [d for d, _ in found], " ".join(f"{n}={version}:unpinned" for n in names))
  return root, version, False


def _candidate(name: str) -> str | None:
  """The version ``apt-get download NAME`` would fetch (None when apt does not know)."""
  info = subprocess.run(["apt-cache", "show", "--no-all-versions", name], capture_output=True,
                        text=True, check=False).stdout
  found = re.search(r"^Version: (\S+)$", info, flags=re.MULTILINE)
  return found.group(1) if found else None


def _arch() -> str:
  try:
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


# ---------------------------------------------------------------------------------------------
# The browser and the libraries it needs.
# ---------------------------------------------------------------------------------------------

def _elf_files(root: Path) -> list[Path]:
  out = []
  for path in root.rglob("*.so*"):
    if path.is_file() and not path.is_symlink():
      with open(path, "rb") as f:
        if f.read(4) == b"\x7fELF":
          out.append(path)
  return out


def _library_dirs(roots: list[Path]) -> list[str]:
  dirs = []
  for root in roots:
    for path in sorted(root.rglob("*.so*")):
      if str(path.parent) not in dirs and "/usr/lib/chromium" not in str(path.parent):
        dirs.append(str(path.parent))
  return dirs


def _missing_sonames(files: list[Path], library_path: list[str]) -> set[str]:
  env = {**os.environ, "LD_LIBRARY_PATH": ":".join(library_path)}
  result = subprocess.run(["ldd", *map(str, files)], capture_output=True, text=True, env=env,
                          check=False)
  return set(re.findall(r"^\s*(\S+) => not found", result.stdout, flags=re.MULTILINE)) - _LIBC


def _fonts_conf(cache: Path) -> Path:
  import matplotlib

  fonts = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
  conf = cache / "chromium-fonts.conf"
  text = ('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n'
          f"  <dir>{fonts}</dir>\n  <dir>/usr/share/fonts</dir>\n"
          f"  <cachedir>{cache / 'fontconfig-cache'}</cachedir>\n</fontconfig>\n")
  if not conf.is_file() or conf.read_text() != text:
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(text)
  return conf


def _from_environment() -> Browser | None:
  chromium, driver = os.environ.get("JAXENHANCE_CHROMIUM"), os.environ.get(
      "JAXENHANCE_CHROMEDRIVER")
  if not chromium and not driver:
    return None
  if not (chromium and driver and Path(chromium).is_file() and Path(driver).is_file()):
    raise BrowserError("set both $JAXENHANCE_CHROMIUM and $JAXENHANCE_CHROMEDRIVER to existing "
                       f"files (got {chromium!r}, {driver!r})")
  return Browser(Path(chromium), Path(driver), "from the environment",
                 {"FONTCONFIG_FILE": str(_fonts_conf(assets.cache_dir() / "debian"))}, False)


def ensure(allow_unpinned: bool = False) -> Browser:
  """Fetches (once) and returns the browser; ``BrowserError`` says why when it cannot.

  Args:
    allow_unpinned: where no pinned version can be fetched, take the archive's current one.
  """
  if (found := _from_environment()) is not None:
    return found
  lock = assets.cache_dir() / "debian" / ".chromium.lock"
  lock.parent.mkdir(parents=True, exist_ok=True)
  with open(lock, "w") as handle:
    # One fetch at a time (parallel test workers): a second one would replace the first's tree.
    fcntl.flock(handle, fcntl.LOCK_EX)
    return _ensure(allow_unpinned)


def _ensure(allow_unpinned: bool) -> Browser:
  if shutil.which("apt-get") is None and not os.environ.get("JAXENHANCE_DEB_DIR"):
    raise BrowserError("apt-get is not available (not a Debian machine?); install chromium and "
                       "chromium-driver and set $JAXENHANCE_CHROMIUM and $JAXENHANCE_CHROMEDRIVER")
  if shutil.which("dpkg-deb") is None or shutil.which("ldd") is None:
    raise BrowserError("dpkg-deb and ldd are needed to unpack the browser; not found on PATH")
  table = pins()
  # The browser's three packages go into one tree: chromium finds its resources (ICU data,
  # .pak files) beside its binary.
  root, version, pinned = _fetch(BROWSER_PACKAGES, "chromium-headless", table, allow_unpinned)
  app = root / "usr" / "lib" / "chromium"
  chromium, driver = app / "chromium", app / "chromedriver"
  binaries = [chromium, driver, *sorted(app.glob("*.so"))]
  by_soname = {s: name for name, versions in table.items() for s in versions[0].sonames}
  libraries: list[Path] = []
  for _ in range(10):  # each round fetches the libraries of the last round's libraries
    files = binaries + [f for lib in libraries for f in _elf_files(lib)]
    missing = _missing_sonames(files, _library_dirs(libraries))
    if not missing:
      break
    unknown = sorted(s for s in missing if s not in by_soname)
    if unknown:
      raise BrowserError(f"this machine lacks {unknown}, which no pinned package provides; "
                         "install them with apt-get, or refresh the pins")
    for name in sorted({by_soname[s] for s in missing}):
      lib, _, lib_pinned = _fetch((name,), name, table, allow_unpinned)
      pinned = pinned and lib_pinned
      if lib not in libraries:
        libraries.append(lib)
  else:
    raise BrowserError(f"libraries still missing after 10 rounds: {sorted(missing)}")
  env = {"FONTCONFIG_FILE": str(_fonts_conf(assets.cache_dir() / "debian"))}
  if libraries:
    env["LD_LIBRARY_PATH"] = ":".join(
        _library_dirs(libraries) + [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":")
                                    if p])
  return Browser(chromium, driver, version, env, pinned)


def pin_table() -> str:
  """The pin table for the archive's current version of every pinned package."""
  lines = []
  for name, versions in pins().items():
    info = subprocess.run(["apt-cache", "show", "--no-all-versions", name], capture_output=True,
                          text=True, check=False).stdout
    fields = dict(re.findall(r"^(Version|Size|SHA256): (\S+)$", info, flags=re.MULTILINE))
    if len(fields) != 3:
      raise BrowserError(f"apt-cache show {name} gave no version; run `apt-get update` once")
    sonames = ",".join(versions[0].sonames) or "-"
    lines.append(f"{name} {fields['Version']} {fields['Size']} {fields['SHA256']} {sonames}")
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxenhance.study.browser",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("command", choices=["fetch", "pin"])
  parser.add_argument("--allow-unpinned", action="store_true",
                      help="take the archive's current version where a pin is gone")
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.WARNING, format="%(message)s")
  try:
    if args.command == "pin":
      print(pin_table())
      return 0
    browser = ensure(allow_unpinned=args.allow_unpinned)
  except (errors.JaxenhanceError, OSError) as exc:
    return errors.report("study browser", exc)
  print(f"chromium      {browser.chromium} ({browser.version}, "
        f"{'pinned' if browser.pinned else 'NOT pinned'})")
  print(f"chromedriver  {browser.chromedriver}")
  for key, value in browser.env.items():
    print(f"{key}={value}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
