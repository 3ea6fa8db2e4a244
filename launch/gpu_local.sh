#!/usr/bin/env bash
# Single-host multi-GPU training (one process drives all local GPUs).
#   ./launch/gpu_local.sh [CONFIG] [WORKDIR] [extra flags…]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONFIG="${1:-configs/gpu8.py}"; WORKDIR="${2:-$ROOT/workdir/gpu8}"; shift $(( $# < 2 ? $# : 2 ))
"$ROOT/launch/setup.sh"
"$ROOT/.venv/bin/pip" install -q "jax[cuda12]"
cd "$ROOT"
exec .venv/bin/python -m jaxenhance.train --config="$CONFIG" --workdir="$WORKDIR" "$@"
