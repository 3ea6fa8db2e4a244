#!/usr/bin/env bash
# Train locally (CPU or whatever JAX finds) with any config.
#   ./launch/local.sh [CONFIG] [WORKDIR] [extra flags…]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${1:-configs/quickstart.py}"; WORKDIR="${2:-$ROOT/workdir/local}"; shift $(( $# < 2 ? $# : 2 ))
"$ROOT/launch/setup.sh"
cd "$ROOT"
.venv/bin/python -m jaxenhance.prepare --config="$CONFIG" --workdir="$WORKDIR"
exec .venv/bin/python -m jaxenhance.train --config="$CONFIG" --workdir="$WORKDIR" "$@"
