#!/usr/bin/env bash
# README command 1: set everything up, then run the main job on the embedded default
# (real sample footage from the installed packages) on this machine's CPU.
#   ./launch/quickstart.sh [--workdir=DIR] [extra --config.* overrides]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh"
cd "$ROOT"
WORKDIR="${WORKDIR:-$ROOT/workdir/quickstart}"
exec .venv/bin/python -m jaxenhance.run --config=configs/quickstart.py --workdir="$WORKDIR" "$@"
