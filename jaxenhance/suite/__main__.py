"""``python -m jaxenhance.suite fetch|list``: fetch the suite's packages, list its items."""

from __future__ import annotations

import argparse
import sys

from jaxenhance import debian_packages, errors
from jaxenhance.suite import items as items_lib
from jaxenhance.suite import runner


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m jaxenhance.suite",
                                   description="The held-out benchmark suite's sources.")
  parser.add_argument("command", choices=["fetch", "list"])
  args = parser.parse_args(argv)
  try:
    if args.command == "fetch":
      for name in items_lib.PACKAGES:
        print(f"{name}: {debian_packages.fetch(name)}", flush=True)
    ok = True
    for item in items_lib.ITEMS:
      try:
        status = f"ok  {runner.source_path(item)}"
      except runner.SuiteError as exc:
        ok, status = False, f"MISSING ({exc})"
      print(f"{item.id:24s} {item.category:13s} {item.licence:20.20s} {status}")
  except errors.USER_ERRORS as exc:
    return errors.report("suite", exc)
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
