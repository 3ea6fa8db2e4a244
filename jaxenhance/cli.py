"""``jaxenhance <command> …``: one entry point for the package's command-line tools.

  jaxenhance assets [check|fetch-niqe|convert]
  jaxenhance run --config=configs/quickstart.py --workdir=DIR     (the main job, every stage)
  jaxenhance prepare --config=… --workdir=…                        (patch records)
  jaxenhance select-layers --config=… --workdir=…                  (perceptual layer selection)
  jaxenhance train --config=… --workdir=…
  jaxenhance evaluate --config=… --checkpoint=…
  jaxenhance enhance IN OUT --checkpoint=…

Each command is the module of the same name (``python -m jaxenhance.<module>`` works too).
"""

from __future__ import annotations

import importlib
import runpy
import sys

COMMANDS = {
    "assets": "jaxenhance.assets",
    "run": "jaxenhance.run",
    "prepare": "jaxenhance.prepare",
    "select-layers": "jaxenhance.select_layers",
    "train": "jaxenhance.train",
    "evaluate": "jaxenhance.evaluate",
    "enhance": "jaxenhance.enhance",
}


def main(argv: list[str] | None = None) -> None:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
    print(__doc__)
    sys.exit(0 if not argv or argv[0] in ("-h", "--help") else 2)
  module = COMMANDS[argv[0]]
  if importlib.util.find_spec(module) is None:
    sys.exit(f"'{argv[0]}' is not available in this version of jaxenhance")
  sys.argv = [f"jaxenhance {argv[0]}", *argv[1:]]
  runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
  main()
