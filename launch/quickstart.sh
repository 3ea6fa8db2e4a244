#!/usr/bin/env bash
# README command 1: set everything up, then run the main job on the embedded default
# (real sample footage from the installed packages) on this machine's CPU.
#   ./launch/quickstart.sh [--workdir=DIR] [extra --config.* overrides]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh"
cd "$ROOT"
# The held-out suite's photographs (pinned Debian packages, 162 MB): the suite stage skips,
# saying so, where apt cannot fetch them.
.venv/bin/python -m jaxenhance.suite fetch >/dev/null \
  || echo "[quickstart] warning: suite packages not fetched; the suite stage will be skipped"
WORKDIR="${WORKDIR:-$ROOT/workdir/quickstart}"
exec .venv/bin/python -m jaxenhance.run --config=configs/quickstart.py --workdir="$WORKDIR" "$@"
