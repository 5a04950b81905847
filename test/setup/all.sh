#!/bin/bash
# Installs everything the test suite needs, idempotently. Each step is skipped when done.
. "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
"$here/apt.sh"
"$here/criu.sh" >/dev/null
for s in checkpointctl.sh k8s.sh; do
  [ -x "$here/$s" ] && "$here/$s" >/dev/null
done
log "setup done in $(( $(date +%s) - t0 ))s"
