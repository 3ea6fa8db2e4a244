#!/usr/bin/env bash
# Run jaxenhance training on every host of a Cloud TPU VM pod slice.
#   ./launch/tpu_pod.sh TPU_NAME ZONE GCS_WORKDIR [CONFIG] [extra flags…]
# Ships this checkout (git archive of HEAD) to every host, runs ./launch/setup.sh there, installs
# jax[tpu], then starts the same train command on all hosts at once (--worker=all). The
# --config.distributed=True flag makes each process call jax.distributed.initialize(), which on
# Cloud TPU finds the coordinator and the hosts itself; tests/test_multihost.py runs this same
# command as two processes on one machine (with JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and
# JAX_PROCESS_ID set instead). Every host must see the work directory: give a gs://bucket/run
# URL (read and written as GCS objects, jaxenhance/cloud.py) or a shared mount.
set -euo pipefail
TPU="$1"; ZONE="$2"; WORKDIR="$3"; CONFIG="${4:-configs/tpu_v4_32.py}"
shift $(( $# < 4 ? $# : 4 ))
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARCHIVE="$(mktemp -d)/jaxenhance.tar.gz"
git -C "$ROOT" archive --format=tar.gz -o "$ARCHIVE" HEAD
gcloud compute tpus tpu-vm scp "$ARCHIVE" "$TPU":~/jaxenhance.tar.gz --zone="$ZONE" --worker=all
CMD="set -e; rm -rf ~/jaxenhance && mkdir -p ~/jaxenhance && tar xzf ~/jaxenhance.tar.gz -C ~/jaxenhance \
&& cd ~/jaxenhance && ./launch/setup.sh && .venv/bin/pip install -q 'jax[tpu]' \
&& .venv/bin/python -m jaxenhance.train --config=$CONFIG --workdir=$WORKDIR --config.distributed=True $*"
exec gcloud compute tpus tpu-vm ssh "$TPU" --zone="$ZONE" --worker=all --command="$CMD"
