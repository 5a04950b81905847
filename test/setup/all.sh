#!/bin/bash
# Installs everything the test suite needs, idempotently. Each step is skipped when done.
. "$(dirname "$0")/common.sh"
here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
"$here/apt.sh"
"$here/npm.sh"
"$here/criu.sh" >/dev/null
"$here/checkpointctl.sh" >/dev/null
"$here/k8s.sh" >/dev/null
log "setup done in $(( $(date +%s) - t0 ))s"
