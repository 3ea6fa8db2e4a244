#!/usr/bin/env bash
# The flagship model (configs/flagship.py), trained in the background on the real-photo corpus.
#   ./launch/flagship.sh content       # records (once), then content training, in the background
#   ./launch/flagship.sh adversarial   # layer selection, then the adversarial fine-tune of the
#                                      # content export, in the background
#   ./launch/flagship.sh perceptual    # the L1 + selected-layer VGG feature fine-tune of the
#                                      # content export, in the background
#   ./launch/flagship.sh codec         # the same fine-tune of a codec-conditioned generator
#   ./launch/flagship.sh codec_l1      # ... on L1 alone
#   ./launch/flagship.sh codec_ssim    # ... on L1 + (1 - SSIM)
#   ./launch/flagship.sh curve         # learning curve of the content run's snapshots (foreground)
#   ./launch/flagship.sh status        # what is running, the last log lines
# BASE (default workdir/flagship) holds records/, content/, adversarial/. Training survives the
# shell that started it (nohup) and runs at nice 10; run the same command again after any stop
# (reboot, kill, session end): it resumes exactly from the last checkpoint (Orbax state + Grain
# iterator). Logs: BASE/VARIANT/train.log. The fine-tunes start from INIT (default
# BASE/content/export; INIT=jaxenhance/pretrained/flagship starts from the shipped model).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VARIANT="${1:-content}"
BASE="$(realpath -m "${BASE:-$ROOT/workdir/flagship}")"
PY="$ROOT/.venv/bin/python"
cd "$ROOT"

running() {  # the pid in $1/pid is alive and is one of ours
  [[ -f "$1/pid" ]] && kill -0 "$(cat "$1/pid")" 2>/dev/null
}

case "$VARIANT" in
  content|adversarial|perceptual|codec|codec_l1|codec_ssim)
    WORKDIR="$BASE/$VARIANT"
    mkdir -p "$WORKDIR"
    if running "$WORKDIR"; then
      echo "flagship $VARIANT is already running (pid $(cat "$WORKDIR/pid")); log: $WORKDIR/train.log"
      exit 0
    fi
    "$ROOT/launch/setup.sh" --corpus
    FLAGS=(--config="configs/flagship.py:$VARIANT" --workdir="$WORKDIR"
           --config.data.data_dir="$BASE/records")
    STEPS=("$PY -m jaxenhance.prepare ${FLAGS[*]}")
    if [[ "$VARIANT" != content ]]; then
      INIT="$(realpath -m "${INIT:-$BASE/content/export}")"
      if [[ ! -f "$INIT/generator.json" ]]; then
        echo "no content model at $INIT; run ./launch/flagship.sh content first (or set INIT)" >&2
        exit 1
      fi
      FLAGS+=(--config.train.init_generator="$INIT")
    fi
    if [[ "$VARIANT" == adversarial ]]; then
      STEPS+=("$PY -m jaxenhance.select_layers ${FLAGS[*]}")
    fi
    STEPS+=("$PY -m jaxenhance.train ${FLAGS[*]}")
    CMD="$(printf '%s && ' "${STEPS[@]}")true"
    echo "[flagship] $(date -u +%FT%TZ) starting: $CMD" >> "$WORKDIR/train.log"
    nohup nice -n 10 bash -c "$CMD" >> "$WORKDIR/train.log" 2>&1 < /dev/null &
    echo $! > "$WORKDIR/pid"
    echo "flagship $VARIANT started in the background (pid $!); log: $WORKDIR/train.log"
    ;;
  curve)
    exec nice -n 10 "$PY" benchmarks/learning_curve.py --exports="$BASE/content/exports" \
        --out="${OUT:-benchmarks/results/flagship_curve}" "${@:2}"
    ;;
  status)
    for v in content adversarial perceptual codec codec_l1; do
      d="$BASE/$v"
      [[ -d "$d" ]] || continue
      if running "$d"; then echo "$v: running (pid $(cat "$d/pid"))"; else echo "$v: stopped"; fi
      [[ -f "$d/train.log" ]] && tail -n 3 "$d/train.log"
    done
    ;;
  *)
    echo "usage: $0 content|adversarial|perceptual|codec|codec_l1|curve|status" >&2
    exit 2
    ;;
esac
