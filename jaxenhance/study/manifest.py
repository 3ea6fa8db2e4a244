"""A study folder's manifest: what is shown, in which trials, and the sha256 of every stimulus.

A study folder (written whole by ``stimuli.prepare``) holds::

  manifest.json      this module's ``Manifest``: conditions, rungs, items and their crops,
                     presentation timings, every stimulus with its sha256 and size, every trial
  stimuli/*.png      (or *.webm) named by the first 16 hex digits of their sha256, so a file name
                     tells a participant nothing about its condition
  results.sqlite     the scores (``database.py``; created by ``serve``)

``load`` refuses a folder whose manifest is malformed or whose stimuli are missing or fail their
checksums, naming the file; ``serve`` and ``analyze`` both load through it. Stimuli are only ever
looked up by a name listed in the manifest (``stimulus_bytes``), never by joining a path a browser
sent, so nothing outside ``stimuli/`` can be reached.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

from jaxenhance import errors

FORMAT = "jaxenhance-study/1"
MANIFEST_FILE = "manifest.json"
STIMULI_DIR = "stimuli"
DATABASE_FILE = "results.sqlite"

REFERENCE = "reference"  # the hidden reference: the original shown as the test stimulus
COMPRESSED = "compressed"
KINDS = ("image", "clip")
PRESENTATIONS = ("sequence", "side-by-side")
# ITU-R BT.500's five-grade impairment scale (DSIS), best first, on a continuous 0-100 line:
# each label sits at the centre of its fifth (90, 70, 50, 30, 10).
SCALE_LABELS = ("Imperceptible", "Perceptible, but not annoying", "Slightly annoying",
                "Annoying", "Very annoying")
MEDIA_TYPES = {".png": "image/png", ".webm": "video/webm"}
_STIMULUS_NAME = re.compile(r"^[0-9a-f]{16}\.(png|webm)$")
_TRIAL_ID = re.compile(r"^[0-9a-z]{1,32}$")


class StudyError(errors.JaxenhanceError, ValueError):
  """A study folder, request or setting that cannot be used; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Stimulus:
  """One file of ``stimuli/``: its name, sha256, size and pixel size."""
  name: str
  sha256: str
  bytes: int
  width: int
  height: int


@dataclasses.dataclass(frozen=True)
class Trial:
  """One DSIS presentation: the reference, then the test stimulus, then a score.

  Attributes:
    id: opaque id (shown to the page; says nothing about the condition).
    training: a training trial (shown first, never analysed).
    item: the source item (suite id).
    rung: codec rung tag (``h264_qp37``); None for the hidden reference.
    condition: ``reference``, ``compressed`` or a model name.
    reference: stimulus name of the original crop.
    test: stimulus name of the crop under test.
  """
  id: str
  training: bool
  item: str
  rung: str | None
  condition: str
  reference: str
  test: str


@dataclasses.dataclass(frozen=True)
class Manifest:
  """Everything a study shows and how (see the module docstring)."""
  title: str
  kind: str
  presentation: dict[str, Any]
  conditions: tuple[str, ...]
  rungs: tuple[str, ...]
  items: tuple[dict[str, Any], ...]
  models: dict[str, str]
  stimuli: dict[str, Stimulus]
  trials: tuple[Trial, ...]
  created: str
  seed: int
  format: str = FORMAT

  @property
  def training_trials(self) -> list[Trial]:
    return [t for t in self.trials if t.training]

  @property
  def test_trials(self) -> list[Trial]:
    return [t for t in self.trials if not t.training]

  def trial(self, trial_id: str) -> Trial:
    for t in self.trials:
      if t.id == trial_id:
        return t
    raise StudyError(f"trial {trial_id!r} is not in the manifest")

  def to_json(self) -> str:
    data = dataclasses.asdict(self)
    data["stimuli"] = [dataclasses.asdict(s) for s in self.stimuli.values()]
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def _check(condition: bool, message: str) -> None:
  if not condition:
    raise StudyError(f"{MANIFEST_FILE}: {message}")


def from_json(text: str) -> Manifest:
  """Parses and validates a manifest (structure only; ``load`` also checks the files)."""
  try:
    data = json.loads(text)
  except (ValueError, RecursionError) as exc:
    raise StudyError(f"{MANIFEST_FILE} is not valid JSON ({exc}); the study folder is "
                     "damaged: prepare it again") from exc
  _check(isinstance(data, dict) and data.get("format") == FORMAT,
         f"format must be {FORMAT!r}; not a study folder made by this version of jaxenhance")
  try:
    stimuli = {s["name"]: Stimulus(**s) for s in data["stimuli"]}
    trials = tuple(Trial(**t) for t in data["trials"])
    manifest = Manifest(
        title=str(data["title"]), kind=data["kind"], presentation=dict(data["presentation"]),
        conditions=tuple(data["conditions"]), rungs=tuple(data["rungs"]),
        items=tuple(data["items"]), models=dict(data["models"]), stimuli=stimuli,
        trials=trials, created=str(data["created"]), seed=int(data["seed"]))
  except (KeyError, TypeError, ValueError) as exc:
    raise StudyError(f"{MANIFEST_FILE} is missing or has a malformed field ({exc!r}); "
                     "prepare the study again") from exc
  _check(manifest.kind in KINDS, f"kind must be one of {KINDS}")
  _check(manifest.presentation.get("mode") in PRESENTATIONS,
         f"presentation mode must be one of {PRESENTATIONS}")
  for key in ("reference_seconds", "gap_seconds", "test_seconds"):
    value = manifest.presentation.get(key)
    _check(isinstance(value, (int, float)) and math.isfinite(value) and 0 <= value <= 60,
           f"presentation {key} must be a number of seconds in 0..60")
  for name, s in stimuli.items():
    _check(bool(_STIMULUS_NAME.match(name)) and name.startswith(s.sha256[:16]),
           f"stimulus name {name!r} must be the first 16 hex digits of its sha256 + .png/.webm")
  ids = [t.id for t in trials]
  _check(len(set(ids)) == len(ids), "trial ids must be unique")
  for t in trials:
    _check(bool(_TRIAL_ID.match(t.id)), f"trial id {t.id!r} must be short lower-case letters "
           "and digits")
    _check(t.reference in stimuli and t.test in stimuli,
           f"trial {t.id} names a stimulus that is not listed")
    _check(t.condition in manifest.conditions, f"trial {t.id}: unknown condition {t.condition!r}")
    _check(t.rung is None if t.condition == REFERENCE else t.rung in manifest.rungs,
           f"trial {t.id}: rung {t.rung!r} does not fit condition {t.condition!r}")
  _check(bool(manifest.test_trials), "there are no test trials")
  return manifest


def load(study_dir: str | Path, verify: bool = True) -> Manifest:
  """The manifest of ``study_dir``; with ``verify``, every stimulus is checked against its
  sha256 and size first.

  Raises:
    StudyError: no manifest, a malformed one, or a stimulus missing or failing its checksum.
  """
  study_dir = Path(study_dir)
  path = study_dir / MANIFEST_FILE
  if not path.is_file():
    raise StudyError(f"{study_dir} is not a study folder (no {MANIFEST_FILE}); make one with "
                     "`python -m jaxenhance.study prepare`")
  manifest = from_json(path.read_text())
  if verify:
    for name in manifest.stimuli:
      stimulus_bytes(study_dir, manifest, name)
  return manifest


def manifest_sha256(study_dir: str | Path) -> str:
  return hashlib.sha256((Path(study_dir) / MANIFEST_FILE).read_bytes()).hexdigest()


def stimulus_bytes(study_dir: str | Path, manifest: Manifest, name: str) -> bytes:
  """The verified bytes of stimulus ``name`` (a name listed in the manifest, nothing else).

  Raises:
    StudyError: ``name`` is not a listed stimulus, or its file is missing or fails its checksum.
  """
  stimulus = manifest.stimuli.get(name)
  if stimulus is None:
    raise StudyError(f"no stimulus named {name!r} in this study")
  # The name matched a strict pattern when the manifest was read: no separators, no dots but
  # the extension's, so this path stays inside stimuli/.
  path = Path(study_dir) / STIMULI_DIR / stimulus.name
  try:
    data = path.read_bytes()
  except OSError as exc:
    raise StudyError(f"stimulus {path} cannot be read ({exc.strerror}); the study folder is "
                     "incomplete: copy it again or prepare it again") from exc
  digest = hashlib.sha256(data).hexdigest()
  if len(data) != stimulus.bytes or digest != stimulus.sha256:
    raise StudyError(f"stimulus {path} fails its checksum (sha256 {digest[:16]}..., expected "
                     f"{stimulus.sha256[:16]}...): the study folder was modified; restore it or "
                     "prepare it again")
  return data
