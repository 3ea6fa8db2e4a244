"""Put a gated generator into the package as ``--checkpoint=shipped`` (``pretrained/flagship``).

  .venv/bin/python benchmarks/ship_model.py --export=workdir/flagship/content/export \
      --results=benchmarks/results/suite_flagship_content/suite.json [--force]

Copies the export's two files and records the release gate's verdict from that suite run (the
whole suite, every rung) in ``generator.json`` (``release_gate``), which ``pretrained``
reads on every load of ``shipped``. Refuses a suite run of another checkpoint, a partial suite,
and (without ``--force``) a model that fails the gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jaxenhance import export, pretrained
from jaxenhance.suite import gate, items


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--export", required=True)
  parser.add_argument("--results", required=True, help="suite.json of a whole-suite run")
  parser.add_argument("--force", action="store_true", help="ship even if the gate fails")
  args = parser.parse_args()
  results = json.loads(Path(args.results).read_text())
  export_dir, _ = export.resolve(args.export)
  if Path(results["checkpoint"]).resolve() != export_dir.resolve() and \
      Path(results["checkpoint"]).resolve() != export_dir.parent.resolve():
    print(f"error: {args.results} scored {results['checkpoint']}, not {export_dir}")
    return 2
  if len(results["items"]) != len(items.ITEMS) or len(results["rungs"]) < 9:
    print(f"error: {args.results} is a partial suite run; the gate needs the whole suite")
    return 2
  rows = gate.checks(results)
  failed = [c for c in rows if not c.passed]
  if failed and not args.force:
    print(f"error: the gate fails ({len(failed)} of {len(rows)} checks); not shipping")
    return 1
  generator, params, meta = export.load_generator(export_dir)
  deltas = [r["delta_psnr"] for r in results["rungs"].values()]
  summary = (f"whole-suite mean ΔPSNR {min(deltas):+.2f} to {max(deltas):+.2f} dB over the "
             f"{len(deltas)} rungs; "
             + ("every check holds" if not failed else "fails " + "; ".join(
                 f"{c.name} {c.value:+.4f} (limit {c.limit})" for c in failed)))
  meta["release_gate"] = {"passed": not failed, "checks_failed": len(failed),
                          "checks": len(rows), "summary": summary,
                          "results": str(Path(args.results).with_suffix(".md"))}
  export.write_model_files(pretrained.FLAGSHIP, params, meta)
  print(f"shipped {export_dir} as {pretrained.FLAGSHIP} ({'PASS' if not failed else 'FAIL'}, "
        f"{len(rows) - len(failed)}/{len(rows)} checks)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
