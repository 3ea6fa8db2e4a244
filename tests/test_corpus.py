"""The training corpus: a sound registry, split from the held-out suite, clear errors, real loads.

Only the last test reads the corpus itself; it is skipped (with the command to run) where the
corpus has not been fetched, so the test suite never waits for the download.
"""

import re

import numpy as np
import pytest

from jaxenhance import assets, debian_packages
from jaxenhance.data import corpus, sources
from jaxenhance.suite import items as suite_items

CATEGORIES = {"nature", "landscape", "sky", "animals", "architecture", "city", "indoor",
              "objects", "people", "text"}
FETCH = "python -m jaxenhance.assets fetch-corpus"


# ---------------------------------------------------------------------------------------------
# Registry.
# ---------------------------------------------------------------------------------------------

def test_registry_holds_sixty_distinct_pinned_photographs():
  assert len(corpus.items(["photo"])) >= 60
  assert len(corpus.items(["clip"])) >= 1
  for key in (lambda i: i.id, lambda i: i.sha256, lambda i: (i.package, i.path)):
    assert len({key(i) for i in corpus.ITEMS}) == len(corpus.ITEMS)
  for item in corpus.ITEMS:
    assert item.package in debian_packages.PACKAGES, item.id
    assert len(item.sha256) == 64 and int(item.sha256, 16) >= 0, item.id
    assert item.category in CATEGORIES and item.licence, item.id
  for name in corpus.PACKAGES:
    pkg = debian_packages.PACKAGES[name]
    assert pkg.version and pkg.size > 0 and pkg.licence and int(pkg.sha256, 16) >= 0


def test_specs_name_one_source_per_item():
  specs = corpus.corpus_specs()
  assert len(set(specs)) == len(corpus.ITEMS)
  assert corpus.corpus_specs(["photo"]) == [s for s in specs if s.startswith("photo:")]
  assert all(s.startswith("file:") for s in corpus.corpus_specs(["clip"]))
  with pytest.raises(ValueError, match="video"):
    corpus.items(["video"])


# ---------------------------------------------------------------------------------------------
# Split from the held-out suite.
# ---------------------------------------------------------------------------------------------

def test_corpus_reads_no_suite_file():
  assert not {(i.package, i.path) for i in corpus.ITEMS} & suite_items.reserved_files()
  # By content too: the same photograph shipped in another package would leak just as well.
  assert not {i.sha256 for i in corpus.ITEMS} & {i.sha256 for i in suite_items.ITEMS}
  assert suite_items.suite_sources_in(corpus.corpus_specs()) == []


# ---------------------------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------------------------

def test_unfetched_corpus_names_the_package_and_the_fetch_command(isolated_cache):
  assert not corpus.is_fetched()
  first = corpus.ITEMS[0]
  with pytest.raises(assets.AssetError, match=rf"^{re.escape(first.package)}: .*not in the asset cache; "
                     rf"run `{FETCH}` \(or ./launch/setup.sh --corpus\)$"):
    corpus.corpus_paths()


def test_tampered_file_names_the_package_and_the_fetch_command(isolated_cache):
  item = corpus.ITEMS[0]
  root = debian_packages.package_root(item.package)
  (root / item.path).parent.mkdir(parents=True)
  (root / item.path).write_bytes(b"not the photograph")
  (root / ".complete").write_text("x")
  with pytest.raises(assets.AssetError, match=rf"^{re.escape(item.package)}: .*sha256.*{FETCH}"):
    corpus.corpus_paths()


def test_tampered_deb_is_refused_and_names_the_fetch_command(isolated_cache, tmp_path,
                                                             monkeypatch):
  first = corpus.PACKAGES[0]  # fetched first
  debs = tmp_path / "debs"
  debs.mkdir()
  (debs / debian_packages.PACKAGES[first].deb_name).write_bytes(b"!<arch>\n" + b"0" * 64)
  monkeypatch.setenv("JAXENHANCE_DEB_DIR", str(debs))
  with pytest.raises(assets.AssetError, match=rf"^{re.escape(first)}: .*bytes, expected.*{FETCH}"):
    corpus.fetch_corpus()
  assert not debian_packages.package_root(first).exists()


def test_package_that_cannot_be_downloaded_is_one_line_naming_the_command(isolated_cache, tmp_path,
                                                                         monkeypatch, capsys):
  monkeypatch.delenv("JAXENHANCE_DEB_DIR", raising=False)
  monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get
  assert assets.main(["fetch-corpus"]) == 1
  err = capsys.readouterr().err
  assert err.startswith(f"error: {corpus.PACKAGES[0]}: ") and FETCH in err
  assert err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# The real corpus (skipped where it is not fetched).
# ---------------------------------------------------------------------------------------------

@pytest.mark.skipif(not corpus.is_fetched(),
                    reason=f"corpus not fetched: run {FETCH} (or ./launch/setup.sh --corpus)")
def test_fetched_corpus_verifies_and_loads_as_clips():
  paths = corpus.corpus_paths()  # every file against its sha256 (~64 MB, well under a second)
  assert len(paths) == len(corpus.ITEMS)
  photo = next(i for i in corpus.ITEMS if i.id == "opencv/Footballer")
  clip = next(i for i in corpus.ITEMS if i.id == "opencv/vtest")
  by_id = dict(zip([i.id for i in corpus.ITEMS], corpus.corpus_specs(), strict=True))
  pan, video = sources.resolve_sources([by_id[photo.id], by_id[clip.id]], max_frames=6,
                                       max_height=120)
  assert pan.frames.shape[0] == 6 and pan.size[0] == 120 and pan.frames.dtype == np.uint8
  assert np.abs(np.diff(pan.frames.astype(np.int16), axis=0)).mean() > 0.5  # the camera moves
  chroma = pan.frames.max(-1).astype(np.int16) - pan.frames.min(-1)
  assert chroma.mean() > 5  # a colour photograph, not a grey one
  assert video.frames.shape[0] == 6 and video.size[0] <= 120


def test_records_build_refuses_a_corpus_file_that_is_missing_or_altered(tmp_path, monkeypatch):
  monkeypatch.setattr(assets, "cache_dir", lambda: tmp_path)
  spec = corpus.corpus_specs()[0]
  with pytest.raises(assets.AssetError, match=r"not in the asset cache; run .*fetch-corpus"):
    corpus.verify_specs(["sample:bikes", spec])
  item = corpus.ITEMS[0]
  root = debian_packages.package_root(item.package)
  (root / item.path).parent.mkdir(parents=True)
  (root / item.path).write_bytes(b"not the photo")
  (root / ".complete").write_text("")
  with pytest.raises(assets.AssetError, match=f"{item.package}.*fetch-corpus"):
    corpus.verify_specs([spec])
  corpus.verify_specs(["sample:bikes", "photo:astronaut"])  # not corpus files: nothing to check
