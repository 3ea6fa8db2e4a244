#!/usr/bin/env bash
# README command 2: set everything up, then run the test suite (about 10-15 minutes on 2 cores).
#   ./launch/test.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/launch/setup.sh"
cd "$ROOT"
# The held-out suite's photographs (pinned Debian packages): the tests that read them skip,
# saying so, where apt cannot fetch them.
.venv/bin/python -m jaxenhance.suite fetch >/dev/null \
  || echo "[test] warning: suite packages not fetched; photo-item tests will be skipped"
export TF_CPP_MIN_LOG_LEVEL=3
exec .venv/bin/python -m pytest -q -n 2 --durations=15 tests "$@"
