r"""The release gate: run a checkpoint over the held-out suite and refuse it if it harms footage.

  python benchmarks/release_gate.py --checkpoint=shipped                 # whole suite (~30 min)
  python benchmarks/release_gate.py --checkpoint=DIR --suite=quick        # a few items
  python benchmarks/release_gate.py --results=DIR/suite.json              # gate a finished run

Prints the gate's table (``jaxenhance/suite/gate.py``: per rung mean ΔPSNR >= 0 and mean
ΔLPIPS <= 0, added colour shift within 0.5 levels per channel, G(pristine) within 38 dB of
pristine) and exits 1 when any check fails, 2 on bad input. With ``--output`` the suite's
Markdown/JSON/plot are written there too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  what = parser.add_mutually_exclusive_group(required=True)
  what.add_argument("--checkpoint", help="export dir, work dir holding export/, or 'shipped'")
  what.add_argument("--results", help="suite.json of a finished suite run")
  parser.add_argument("--suite", default="full", help="full, quick or comma-separated item ids")
  parser.add_argument("--output", help="also write suite.md/.json/.png here")
  args = parser.parse_args(argv)

  from jaxenhance import export
  from jaxenhance.suite import gate, report
  from jaxenhance.suite.runner import SuiteError

  try:
    if args.results:
      results = json.loads(Path(args.results).read_text())
    else:
      from jaxenhance.evaluate import evaluate_suite

      results = evaluate_suite(args.checkpoint, args.suite)
    if args.output:
      report.write(results, args.output, title="Release gate")
  except (SuiteError, export.ExportError, OSError, json.JSONDecodeError, KeyError) as exc:
    print(f"release gate: error: {exc}", file=sys.stderr)
    return 2
  print(f"checkpoint: {results.get('checkpoint')}  items: {len(results['items'])}  "
        f"rungs: {len(results['rungs'])}")
  print(gate.markdown(results))
  return 0 if gate.passed(results) else 1


if __name__ == "__main__":
  sys.exit(main())
