#!/bin/bash
# Builds checkpointctl v1.6.0 (the reference tool podsleuth is compared against) into
# $PODSLEUTH_CACHE/checkpointctl/bin and prints the binary's path. Idempotent.
# v1.7.0 needs go-criu/v8 v8.5.0, which the module proxy here refuses; v1.6.0 builds as-is.
. "$(dirname "$0")/common.sh"
V=${CHECKPOINTCTL_VERSION:-v1.6.0}
B=$PODSLEUTH_CACHE/checkpointctl/bin
if [ -x $B/checkpointctl ] && [ "$(cat $B/.version 2>/dev/null)" = $V ]; then echo $B/checkpointctl; exit 0; fi
log "building checkpointctl $V into $B"
mkdir -p $B
GOBIN=$B GOFLAGS=-modcacherw go install github.com/checkpoint-restore/checkpointctl@$V >&2
echo $V > $B/.version
echo $B/checkpointctl
