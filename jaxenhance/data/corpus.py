"""The training corpus: real photographs and real footage from pinned Debian packages.

  python -m jaxenhance.assets fetch-corpus     (or ./launch/setup.sh --corpus; ~230 MB, once)

Sixty-seven photographs and two clips, each one file of a pinned Debian package
(``debian_packages.PACKAGES``: the ``.deb`` is checked against its sha256 before extraction, and
every file against its own sha256 before use). Nothing is fetched at run time, and neither the
quickstart nor the tests wait for the corpus.

The selection was reviewed by eye, from contact sheets of the candidate images of each package:
real photographs only. Left out: vector art, renders and gradients (gnome-backgrounds, sway,
lxde, fvwm-crystal, most of lxqt-themes and plasma), colour-washed composites (lomiri's
analogpattern and Infinite-Sea), black-and-white and greyscale images (plasma's ColdRipple,
opencv's basketball1 and box_in_scene), drawings, paintings and synthetic images (opencv's
HappyFish, starry_night, pic1-6, smarties), images under 256 rows (a frame would be smaller than
a 128-pixel patch: cimg's milla), 320x240 clips (realshort.mp4, tree.avi) and second views of a
kept scene (opencv's leuvenB and aero3).

Split from the held-out suite by source: the suite reads mate-backgrounds, ukui-wallpapers, five
plasma photographs and carphone; the corpus reads neither of those packages, only other plasma
photographs. ``tests/test_corpus.py`` checks paths and checksums against the suite's, and
``suite.items.suite_sources_in(corpus_specs())`` is empty.

Photographs become pan/zoom clips through ``photo:<path>`` sources, the two clips are
``file:<path>`` sources (``corpus_specs``). The clips are lossy-coded already (cockatoo: H.264,
1280x720 at 0.39 Mb/s; vtest: MS-MPEG-4, 768x576 at 0.8 Mb/s), so use them only where
``data.max_height`` is at most half their height (360 and 288 rows): the area downscale then
averages their own artifacts away (the default 240 does).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxenhance import assets, debian_packages

FIX = "`python -m jaxenhance.assets fetch-corpus` (or ./launch/setup.sh --corpus)"
KINDS = ("photo", "clip")
_CLIP_SUFFIXES = (".mp4", ".avi")


@dataclasses.dataclass(frozen=True)
class CorpusItem(debian_packages.PackagedFile):
  """One photograph or clip of the corpus (category: nature, landscape, sky, animals,
  architecture, city, indoor, objects, people, text; licence as its debian/copyright or a
  licence file beside the image states)."""

  @property
  def kind(self) -> str:
    return "clip" if Path(self.path).suffix in _CLIP_SUFFIXES else "photo"


# (package, folder inside it, licence of its files, [(id, category, file, sha256[, licence])]).
_SOURCES = [
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds/", None, [  # licence per file
        ("lomiri/Bridge", "architecture", "Bridge_by_Sander_Klootwijk.jpg",
         "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050", "CC-BY-SA-4.0"),
        ("lomiri/Dragonfly", "nature", "Dragonfly_by_Bolly.jpg",
         "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3", "CC-BY-SA-4.0"),
        ("lomiri/Fig", "objects", "Picture_0B_by_freespace.jpg",
         "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad", "CC-BY-4.0"),
        ("lomiri/Brushes", "objects", "Picture_1A_by_freespace.jpg",
         "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b", "CC-BY-4.0"),
        ("lomiri/Wine", "indoor", "Wine_by_Jakkub_Mede.jpg",
         "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74", "CC-BY-4.0"),
        ("lomiri/Aitzgorri", "landscape", "aitzgorri_by_Aitzol_Berasategi.jpg",
         "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36", "CC-BY-4.0"),
        ("lomiri/Free", "indoor", "free_by_Peter_Nerlich.jpg",
         "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373", "CC-BY-SA-4.0"),
        ("lomiri/Friends", "animals", "friends_by_Aitzol_Berasategi.jpg",
         "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d", "CC-BY-4.0"),
        ("lomiri/Greentock", "objects", "greentock_by_Peter_Nerlich.jpg",
         "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889", "CC-BY-SA-4.0"),
        ("lomiri/Life", "nature", "life_by_Aitzol_Berasategi.jpg",
         "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05", "CC-BY-4.0"),
        ("lomiri/PicosDeEuropa", "landscape", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
         "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a", "CC-BY-4.0"),
        ("lomiri/Seeding", "nature", "seeding_by_Clements_Engelhardt.jpg",
         "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f", "CC0-1.0"),
        ("lomiri/Sunset", "landscape", "sunset_by_Aitzol_Berasategi.jpg",
         "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18", "CC-BY-4.0"),
    ]),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/", "CC-BY-SA-3.0", [
        ("lomiri/Kleiber", "animals", "Kleiber_by_Lukas_Baubkus.jpg",
         "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7"),
    ]),
    ("plasma-workspace-wallpapers", "usr/share/wallpapers/", "GPL-2+ (metadata.json: LGPLv3)", [
        ("plasma/BytheWater", "landscape", "BytheWater/contents/images/2560x1600.jpg",
         "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f"),
        ("plasma/FallenLeaf", "nature", "FallenLeaf/contents/images/2560x1600.jpg",
         "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de"),
        ("plasma/Kite", "sky", "Kite/contents/images/2560x1600.jpg",
         "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8"),
        ("plasma/OneStandsOut", "nature", "OneStandsOut/contents/images/2560x1600.jpg",
         "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd"),
        ("plasma/Path", "nature", "Path/contents/images/2560x1600.jpg",
         "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8"),
        ("plasma/summer_1am", "landscape", "summer_1am/contents/images/2560x1600.jpg",
         "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8"),
    ]),
    ("lxqt-themes", "usr/share/lxqt/wallpapers/", "CC-BY-SA-3.0 (wallpapers/License)", [
        ("lxqt/ButterflyWimer", "nature", "Butterfly-Kenneth-Wimer.jpg",
         "c237c26f6f0b18db3afa62a0eff13cb8208b79a1ef35aaadcb745d8f9faef146"),
        ("lxqt/Valendas", "landscape", "Valendas.png",
         "f2d275c51d116942cea8e7d80d30c7d3c130349a0695caf2aa235f926ae15759"),
        ("lxqt/AfterTheRain", "sky", "after-the-rain.jpg",
         "e6cb8b3e09b904cc493ff17fddcd564d4e46a1761d05adf972c285a1fd878234"),
        ("lxqt/AppleFlower", "nature", "appleflower.png",
         "bae8a8eb8274b29509f1cbbfe250081331c5704a1fea25d5052166a0451e67f3"),
        ("lxqt/Beam", "landscape", "beam.png",
         "3d199194b048cb793c0ad558337cda3e16f14cd054168d1d813620e24a0a5659"),
        ("lxqt/Butterfly", "nature", "butterfly.png",
         "13175434d99075e075de7321942e66169e3c99ac9416024dcf4123bd3b38749c"),
        ("lxqt/Cloud", "sky", "cloud.png",
         "522dbf79dfaff751cf8ef2f337c9d196a231fa096bc38806a76ce048b8c7b5a2"),
        ("lxqt/Drop", "nature", "drop.png",
         "3b726aea9a6f8af36431c6f1974f982f7f4c5a4443499500bda31be27e4ffde8"),
        ("lxqt/Flowers", "nature", "flowers.png",
         "3a935d8be4d6c9784f9079ff2814acd2de2c8406e9fe584be03e90264f37c371"),
        ("lxqt/Fog", "landscape", "fog.jpg",
         "a8235344ee6b5ab1b6de3ccef731bcc0e6509cf33ce832db87eae1eb75987083"),
        ("lxqt/Hills", "landscape", "this-is-not-windows.jpg",
         "2d885e0438c0ab244f818d33d8f745a1cc486558462faf9bf3948675c68ac227"),
    ]),
    ("sddm-theme-maldives", "usr/share/sddm/themes/maldives/", "CC-BY-3.0", [
        ("sddm/Maldives", "landscape", "background.jpg",
         "032d28ee4f3d885e9340ae430457fd59341e9fbf8ca45502d86ad14362ffb4a0"),
    ]),
    ("digikam-data", "usr/share/digikam/about/images/", "GPL-2+", [
        ("digikam/Lake", "landscape", "body-background.jpg",
         "c7be31659ad55ee2b88bc5d0651ce7925829a34ca843e620b6d23c6303e36860"),
    ]),
    ("palapeli-data", "usr/share/palapeli/collection/", "GPL-2+", [
        ("palapeli/CastleMaintenon", "architecture", "castle-maintenon.jpg",
         "f4a6bf48b97d97715413f9ebd2d8744bd46df0e492bc8326e2513d51084f2612"),
        ("palapeli/CincinnatiBridge", "city", "cincinnati-bridge.jpg",
         "09772d09318b34a5c5edd58ee86ff462bcd2907006f31cc8e0704310f8e9ab60"),
        ("palapeli/CitrusFruits", "objects", "citrus-fruits.jpg",
         "0cbd7154a14789803167c86705130d0358875198231269df168ea26224e70848"),
        ("palapeli/HoneyBee", "nature", "european-honey-bee.jpg",
         "9d54ae706bddd899c91b2b801d9ca4556a5a9a399b4043f9d539df62a8cb7f27"),
        ("palapeli/Chameleon", "animals", "panther-chameleon-female.jpg",
         "adb9e2834a8a3db40ca3817452b956ada527085e5aa2bd604c465651a3834ae4"),
    ]),
    ("python3-sklearn", "usr/lib/python3/dist-packages/sklearn/datasets/images/",
     "CC-BY-2.0 (images/README.txt)", [
        ("sklearn/China", "architecture", "china.jpg",
         "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29"),
        ("sklearn/Flower", "nature", "flower.jpg",
         "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638"),
    ]),
    ("opencv-doc", "usr/share/doc/opencv-doc/examples/", "Apache-2.0 AND BSD-3-Clause", [
        ("opencv/Aerial", "city", "data/aero1.jpg",
         "d9a69191f6e3642ea361bc3c62e677b2f40fe6534b78da540f4155e0734b59ef"),
        ("opencv/Aloe", "indoor", "data/aloeL.jpg",
         "cce5736808efe80d9f04b118dbb978c344d4345672b332718c3e039a3eeb8eee"),
        ("opencv/Apple", "objects", "data/apple.jpg",
         "e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd"),
        ("opencv/Baboon", "animals", "data/baboon.jpg",
         "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f"),
        ("opencv/Board", "objects", "data/board.jpg",
         "4c9a24ba67138ad5486d550f586cc5dd1161be112f1c1bea336d6c550cdf255f"),
        ("opencv/Building", "architecture", "data/building.jpg",
         "742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07"),
        ("opencv/Butterfly", "nature", "data/butterfly.jpg",
         "34a99716b78ded10eae87b4880de739d3e68cc7dd1a96812bb28f469d5eeaea8"),
        ("opencv/Notebook", "objects", "data/ela_original.jpg",
         "b55798b35e2dcb24675f0865a2442d0e4887eeb6aff322ecb1968d936cc23e7f"),
        ("opencv/Fruits", "objects", "data/fruits.jpg",
         "9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1"),
        ("opencv/Graffiti", "city", "data/graf1.png",
         "1504b769303c7bde00fa578eeaad3c68e02aceabeb1242e556f1f8d19e4bdea5"),
        ("opencv/Home", "architecture", "data/home.jpg",
         "23b8cf46a1965d0ec33459b875aed43187802834db49e0daa9fa2cc842e9d8d2"),
        ("opencv/Leuven", "city", "data/leuvenA.jpg",
         "b2977cdbd9fb3f94dadd6f76cf586d145676deb8a22b5f0f42149d21c058c09f"),
        ("opencv/Footballer", "people", "data/messi5.jpg",
         "1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"),
        ("opencv/Orange", "objects", "data/orange.jpg",
         "152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079"),
        ("opencv/RubberWhale", "indoor", "data/rubberwhale1.png",
         "eb312435369dac9efcc92f7e098edbd9ed8d7e6dfede8b3b4d8e3702cd80b796"),
        ("opencv/Squirrel", "animals", "data/squirrel_cls.jpg",
         "20bb6e8ae96918a36c9886b6d48e54eedeb3948591e1485c206bc1dc60c8dc8b"),
        ("opencv/Desk", "indoor", "data/stuff.jpg",
         "21cd00afbdd0727f445dd91c0a09633e6345ed5b05a3d2355453a1f3c314c6c5"),
        ("opencv/Dog", "animals", "data/chicky_512.png",
         "4d2cf040de084fd3f34d5e3f96f1251faaa4787c1ac3b548fec5809a0d01854e"),
        ("opencv/Plant", "indoor", "alphamat/input_images/plant.jpg",
         "9928b44eee0d1d7ab2ffd9d6d80bbbff962d6e85c7786de2cd3c97fe72229186"),
        ("opencv/StreetText", "text", "text/scenetext05.jpg",
         "63985ac1a9989a8320605d5be0ec285af0c6304a78cc9cc5de6c2c7c435f7c0b"),
        ("opencv/vtest", "people", "data/vtest.avi",
         "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"),
    ]),
    ("cimg-examples", "usr/share/doc/cimg-dev/examples/img/", "CeCILL", [
        ("cimg/Parrot", "animals", "parrot.ppm",
         "47773719d2f92aebcbe14346c8b2023621d66a0ac8dee021de734804cb54a457"),
    ]),
    ("libjxl-testdata", "usr/share/libjxl-testdata/", "BSD-3-clause-Google", [
        ("jxl/Flower", "nature", "jxl/flower/flower.png",
         "06fe0af7a5c790d2932a40e2d76b0d91aa6e73f3e55cc3f97ea6afae0133c2e7"),
        ("jxl/Room", "indoor", "jxl/hdr_room.png",
         "df2efb86c6114dba264c849ac0ae3a073c663d5aa55890fa276b8bd3b0efb2ae"),
        ("jxl/Cliff", "landscape", "external/wesaturate/500px/cvo9xd_keong_macan_srgb8.png",
         "f4e2d8da468a4f6bfd3a651a7f0a24c2b883e7f398b326c0e77a9dab42fb5322", "CC0"),
        ("jxl/Tulips", "nature", "external/wesaturate/500px/tmshre_riaphotographs_srgb8.png",
         "b490de2143a336aff26a7ce4ee010f18dece53c3b0802cda76c1796daa5f32a0", "CC0"),
        ("jxl/Blossom", "nature", "external/wesaturate/500px/u76c0g_bliznaca_srgb8.png",
         "9631423e430c1682fca3c2212adc6ae046df8839d22dfaa8b662761f34b6f711", "CC0"),
    ]),
    ("python-matplotlib-data", "usr/share/matplotlib/mpl-data/sample_data/",
     "matplotlib license (PSF-based)", [
        ("matplotlib/GraceHopper", "people", "grace_hopper.jpg",
         "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
    ]),
    ("python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/", "BSD-2-Clause", [
        ("imageio/cockatoo", "animals", "cockatoo.mp4",
         "5fde35f5a288ca86e216d2dc28188ab64b4560d3021f273faefdf0de80f38aa5"),
    ]),
]

ITEMS: tuple[CorpusItem, ...] = tuple(
    CorpusItem(row[0], row[1], package, folder + row[2], row[3], row[4] if len(row) > 4 else lic)
    for package, folder, lic, rows in _SOURCES for row in rows)

PACKAGES = tuple(sorted({i.package for i in ITEMS}))


def items(kinds: Sequence[str] = KINDS) -> list[CorpusItem]:
  """The corpus items of the given kinds (``photo``, ``clip``), in registry order."""
  unknown = sorted(set(kinds) - set(KINDS))
  if unknown:
    raise ValueError(f"unknown corpus kind(s) {unknown}; choose from {KINDS}")
  return [i for i in ITEMS if i.kind in kinds]


def is_fetched() -> bool:
  """Whether every corpus package is extracted in the asset cache (files are not verified)."""
  return all((debian_packages.package_root(p) / ".complete").is_file() for p in PACKAGES)


def corpus_paths(kinds: Sequence[str] = KINDS) -> list[Path]:
  """Verified paths of the corpus files.

  Raises:
    AssetError: a package is not fetched, or a file is missing or fails its sha256; the message
      names the package and the fetch command.
  """
  return [debian_packages.file_path(i.package, i.path, i.sha256, fix=FIX) for i in items(kinds)]


def fetch_corpus(report: Callable[[str], None] | None = None) -> list[Path]:
  """Fetches (once) and verifies every corpus package and file; returns the files' paths.

  Args:
    report: called with one line per package (e.g. ``print``).

  Raises:
    AssetError: a package cannot be downloaded or fails its checksum, or a file fails its own.
  """
  for name in PACKAGES:
    pkg = debian_packages.PACKAGES[name]
    try:
      root = debian_packages.fetch(name, fix=FIX)
    except assets.AssetError as exc:
      if FIX in str(exc):
        raise
      # apt-get's own failures name the package but not how to retry the whole corpus.
      raise assets.AssetError(f"{exc}; then run {FIX}") from exc
    if report is not None:
      count = sum(i.package == name for i in ITEMS)
      report(f"{name} {pkg.version} ({pkg.size / 1e6:.1f} MB, {count} used): {root}")
  return corpus_paths()


def verify_specs(specs: Sequence[str]) -> None:
  """Verifies every corpus file that ``specs`` read (by its sha256), before a records build.

  Raises:
    AssetError: a corpus package is not fetched, or one of its files is missing or fails its
      checksum; the message names the package and the fetch command.
  """
  by_spec = dict(zip(corpus_specs(), ITEMS))  # corpus_specs() lists ITEMS in order
  for spec in specs:
    item = by_spec.get(str(spec))
    if item is not None:
      debian_packages.file_path(item.package, item.path, item.sha256, fix=FIX)


def corpus_specs(kinds: Sequence[str] = KINDS) -> list[str]:
  """Source specs for ``data.train_sources``: ``photo:<path>`` per photo, ``file:<path>`` per clip.

  The paths are where ``fetch_corpus`` puts the files; nothing is read or checked here, so a
  config can name the corpus on a machine that has not fetched it (the records build reads the
  files; run ``fetch_corpus`` first, which verifies them).
  """
  return [f"{'photo' if i.kind == 'photo' else 'file'}:"
          f"{debian_packages.package_root(i.package) / i.path}" for i in items(kinds)]
