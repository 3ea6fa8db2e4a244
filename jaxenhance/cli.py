"""``jaxenhance <command> …``: the one entry point of the package's programs.

  jaxenhance run --config=configs/quickstart.py --workdir=DIR      (the main job, every stage)
  jaxenhance prepare --config=… --workdir=…                        (patch records)
  jaxenhance select-layers --config=… --workdir=…                  (perceptual layer selection)
  jaxenhance train --config=… --workdir=…
  jaxenhance evaluate --checkpoint=… [--config=… | --suite=quick]
  jaxenhance enhance IN OUT --checkpoint=shipped
  jaxenhance qf-train --config=configs/qf.py --workdir=…           (quality predictor)
  jaxenhance assets [check|fetch-niqe|convert|fetch-corpus]
  jaxenhance suite [fetch|list]                                    (the held-out suite's files)
  jaxenhance study prepare|serve|analyze …                         (subjective DSIS study)

Each command is a program module with a ``cli()`` (or ``main()``) function, listed in
``PROGRAMS``; ``python -m jaxenhance.<module>`` runs the same function. Programs are the modules
named there (``suite/__main__.py`` and ``study/__main__.py`` among them); everything else in the
package is library code that never parses a command line. A program prints the project's errors
as one line and exits with status 2.
"""

from __future__ import annotations

import importlib
import sys

# command -> (module, function). Imported only when run: each program loads what it needs.
PROGRAMS = {
    "run": ("jaxenhance.run", "cli"),
    "prepare": ("jaxenhance.prepare", "cli"),
    "select-layers": ("jaxenhance.select_layers", "cli"),
    "train": ("jaxenhance.train", "cli"),
    "evaluate": ("jaxenhance.evaluate", "cli"),
    "enhance": ("jaxenhance.enhance", "main"),
    "qf-train": ("jaxenhance.qf_train", "cli"),
    "assets": ("jaxenhance.assets", "main"),
    "suite": ("jaxenhance.suite.__main__", "main"),
    "study": ("jaxenhance.study.__main__", "main"),
}


def main(argv: list[str] | None = None) -> None:
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help"):
    print(__doc__)
    sys.exit(0)
  if argv[0] not in PROGRAMS:
    print(f"jaxenhance: error: unknown command {argv[0]!r}; choose one of "
          f"{', '.join(PROGRAMS)} (jaxenhance --help)", file=sys.stderr)
    sys.exit(2)
  module, function = PROGRAMS[argv[0]]
  program_module = importlib.import_module(module)
  program = getattr(program_module, function)
  if function == "main":  # argparse programs take argv and return the exit status
    sys.argv = [f"jaxenhance {argv[0]}", *argv[1:]]
    sys.exit(program(argv[1:]))
  # absl programs read sys.argv and exit themselves. Their --help shows the __main__ module's
  # docstring and the flags of the module argv[0] names: make both the program's, as
  # `python -m jaxenhance.<module>` would.
  sys.modules["__main__"].__doc__ = program_module.__doc__
  sys.argv = [module, *argv[1:]]
  program()


if __name__ == "__main__":
  main()
