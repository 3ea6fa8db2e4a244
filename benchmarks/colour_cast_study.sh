#!/usr/bin/env bash
# Why did the quickstart model learn a colour cast? Content-only runs of the quickstart config
# (1,000 L1 steps, what the cast was first seen in) that change one suspect at a time, each
# evaluated on the held-out suite's quick items at x264 QP 37 and JPEG QF 10 plus the flat
# palette and G(pristine):
#   rgb        the shipped recipe: the output conv corrects R, G, B
#   rgb_colour the same without the seven greyscale scikit-image photos
#   luma       one correction added to R, G, B alike (generator.correction=luma)
# Usage: benchmarks/colour_cast_study.sh [OUT_DIR]   (2-core CPU: ~5 min per variant)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${1:-$ROOT/workdir/colour_cast_study}"
PY=.venv/bin/python
COLOUR_PHOTOS="('sample:bikes','photo:astronaut','photo:chelsea','photo:coffee','photo:rocket','photo:hubble_deep_field','photo:stereo_motorcycle','photo:immunohistochemistry')"
run() {  # name, extra overrides...
  local name="$1"; shift
  local work="$OUT/$name"
  if [[ ! -f "$work/export/generator.json" ]]; then
    $PY -m jaxenhance.prepare --config=configs/quickstart.py --workdir="$work" "$@" >/dev/null
    $PY -m jaxenhance.train --config=configs/quickstart.py --workdir="$work" \
      --config.train.steps=1000 --config.train.warmup_steps=1000 \
      --config.critic.layers=relu2_1,relu2_2 "$@"
  fi
  $PY -m jaxenhance.evaluate --suite=quick --rungs=h264_qp37,jpeg_qf10 \
    --checkpoint="$work" --output="$work/suite" | tail -n 4
}
run rgb
run rgb_colour "--config.data.train_sources=$COLOUR_PHOTOS"
run luma --config.generator.correction=luma
