#!/usr/bin/env bash
# Re-measures the README's speed figures, one benchmark after another (never two at once: they
# share the cores), each output kept under benchmarks/results/ with the CPU, its AVX-512 flag and
# the load average at start and end. Run from a fresh clone after ./launch/setup.sh --bench:
#   ./benchmarks/run_speed.sh                 # enhance, vgg_forward, fid, frechet, data, train step
#   ./benchmarks/run_speed.sh enhance vgg     # some of them
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=benchmarks/results
export TF_CPP_MIN_LOG_LEVEL=3

header() {
  local cpu flags
  cpu=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
  flags=$(grep -qw avx512f /proc/cpuinfo && echo "with AVX-512" || echo "no AVX-512")
  echo "# $* ($(date -u +%Y-%m-%dT%H:%MZ); $cpu, $flags, $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); commit $(git rev-parse --short HEAD))"
}

run() {  # run NAME COMMAND...: tees the output, with a header and the closing load
  local name=$1; shift
  { header "$*"; "$@" 2>&1 | grep -v "FAILS the release gate"; echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee "$OUT/$name.txt"
}

want() { [[ -z "$SELECTED" ]] || [[ " $SELECTED " == *" $1 "* ]]; }
SELECTED="$*"
want enhance && run enhance $PY benchmarks/enhance.py --markdown "$OUT/enhance.md"
want vgg && { run vgg_forward_b8 $PY benchmarks/vgg_forward.py --batch 8;
              run vgg_forward_b16 $PY benchmarks/vgg_forward.py --batch 16; }
want fid && run fid_features $PY benchmarks/fid_features.py --batch 8 --iters 3
want frechet && run frechet $PY benchmarks/frechet.py
want data && run data_pipeline $PY benchmarks/data_pipeline.py --workdir=/tmp/jaxenhance_bench
want train && run train_step_shapes $PY benchmarks/train_step.py --settings quickstart,default,flagship --shapes flagship:8x96,flagship:32x48 --repeats 2 --profile short --markdown "$OUT/train_step_shapes.md"
echo "done: outputs in $OUT/"
