#!/bin/bash
# Runs every benchmark script beside this one (inspect, memsearch, pull, tui, ...) and collects
# their result tables in test/bench/out/. Each script compares podsleuth with the reference tool
# on the same input and prints one table.
set -uo pipefail
cd "$(dirname "$0")"
mkdir -p out
rc=0
for s in [a-z]*.sh; do
  case $s in run.sh|lib.sh) continue ;; esac
  echo "=== $s"
  bash "$s" 2>&1 | tee "out/${s%.sh}.txt" || rc=1
done
exit $rc
