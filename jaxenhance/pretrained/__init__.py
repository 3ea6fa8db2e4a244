"""The generators that ship with the package.

* ``flagship/``: trained by ``configs/flagship.py`` on the real-photo corpus; this is
  ``--checkpoint=shipped`` (the enhance CLI's and the evaluator's default, and the demo
  notebook's model) once it is in the package.
* ``quickstart/``: the main job's small demo model (``configs/quickstart.py``), also
  ``--checkpoint=quickstart``.

Each ``generator.json`` holds its config, provenance and the release gate's verdict
(``release_gate``); the README has the model cards.
"""

from __future__ import annotations

import json
from pathlib import Path

_HERE = Path(__file__).resolve().parent
QUICKSTART = _HERE / "quickstart"
FLAGSHIP = _HERE / "flagship"
# The flagship when the package holds one (only a model that passed the release gate is put
# there), else the quickstart demo.
SHIPPED = FLAGSHIP if (FLAGSHIP / "generator.msgpack").is_file() else QUICKSTART


def shipped_checkpoint() -> Path:
  """Directory of the shipped generator export (``generator.msgpack`` + ``generator.json``)."""
  if not (SHIPPED / "generator.msgpack").is_file():
    from jaxenhance.errors import AssetError

    raise AssetError(
        f"the shipped checkpoint is missing from {SHIPPED}; reinstall jaxenhance or pass "
        "--checkpoint=<your workdir>/export")
  return SHIPPED


def release_notice() -> str | None:
  """One line saying what the shipped model does to footage, when it failed the release gate.

  The verdict is stored in the shipped model's ``generator.json`` (``release_gate``) by the run that
  measured it on the held-out suite (``benchmarks/release_gate.py``); a model without a verdict
  is treated as not cleared.
  """
  try:
    meta = json.loads((SHIPPED / "generator.json").read_text())
  except (OSError, json.JSONDecodeError):
    return "the shipped model's model card is missing: reinstall jaxenhance"
  verdict = meta.get("release_gate") or {}
  if verdict.get("passed"):
    return None
  summary = verdict.get("summary", "it has not been run through the release gate")
  failed = f"{verdict['checks_failed']} of {verdict['checks']} checks" if "checks" in verdict \
      else "the gate"
  return (f"the shipped checkpoint ({SHIPPED.name}) FAILS the release gate on held-out footage "
          f"({failed}: {summary}); see the README's model card before using it on footage you "
          "care about")
