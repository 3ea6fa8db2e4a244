"""The small generator that ships with the package, trained by the project's own quickstart config.

``python -m jaxenhance.enhance IN OUT --checkpoint=shipped`` uses it; so do the demo notebook and
the main job's enhance stage when no run of your own exists. Its model card (config, command,
data, training time, held-out metrics) is in the README and in ``quickstart/generator.json``.
"""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "quickstart"


def shipped_checkpoint() -> Path:
  """Directory of the shipped generator export (``generator.msgpack`` + ``generator.json``)."""
  if not (SHIPPED / "generator.msgpack").is_file():
    raise FileNotFoundError(
        f"the shipped checkpoint is missing from {SHIPPED}; reinstall jaxenhance or pass "
        "--checkpoint=<your workdir>/export")
  return SHIPPED
