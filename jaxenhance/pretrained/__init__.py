"""The small generator that ships with the package, trained by the project's own quickstart config.

``python -m jaxenhance.enhance IN OUT --checkpoint=shipped`` uses it; so do the demo notebook and
the main job's enhance stage when no run of your own exists. Its model card (config, command,
data, training time, held-out metrics) is in the README and in ``quickstart/generator.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "quickstart"


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

  The verdict is stored in ``quickstart/generator.json`` (``release_gate``) by the run that
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
  return (f"the shipped checkpoint is a small demo model that FAILS the release gate on "
          f"held-out footage ({summary}); use it to try the pipeline, not on footage you care "
          "about (README: 'Held-out suite and release gate')")
