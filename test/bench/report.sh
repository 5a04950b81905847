#!/bin/bash
# report benchmark: `podsleuth report` (decode + memory index + indicator scan of all memory +
# findings + render) in JSON and HTML vs `checkpointctl inspect --all --format json` (v1.6.0, the
# reference decoder: no memory scan) on the same container checkpoint archives:
#   - test/fixtures/archives/podman-crun.tar (the committed fixture)
#   - bigmem-crun.tar at the BIGMEM_SIZES (default "128 1024") MiB made by test/fixtures/gen.sh
#     bigmem (cached in $PODSLEUTH_CACHE/bench; made here when missing, needs root)
# Prints one table: wall time (best of RUNS, warm page cache) of the JSON and HTML reports, of a
# JSON report with --no-memory-scan (QUICK_S) and of checkpointctl; peak RSS and output sizes.
# The report scans every byte of memory for indicators, which inspect does not do: the column
# MEM_GB/S is archive bytes per second of the JSON report.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init report
SIZES=${BIGMEM_SIZES:-128 1024}
export PODSLEUTH_DATA_DIR=$WORK/data XDG_CONFIG_HOME=$WORK/config PODSLEUTH_CACHE_DIR=$WORK/cache

inputs=("$ROOT/test/fixtures/archives/podman-crun.tar")
for mb in $SIZES; do
  inputs+=("$(bigmem_archive "$mb")")
done

printf '%-28s %10s %8s %8s %8s %8s %9s %9s %9s %9s %9s\n' INPUT BYTES JSON_S HTML_S QUICK_S CC_S MEM_GB/S JSON_MB HTML_KB JSON_RSS CC_RSS
for f in "${inputs[@]}"; do
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null
  read -r jt jm jb < <(best bytes "$PS" report "$f" -f json --no-store)
  read -r ht hm hb < <(best bytes "$PS" report "$f" -f html --no-store)
  read -r qt qm qb < <(best bytes "$PS" report "$f" -f json --no-store --no-memory-scan)
  read -r ct cm cb < <(best bytes "$CC" inspect "$f" --all --format json)
  name=$(basename "$(dirname "$f")")/$(basename "$f")
  awk -v n="$name" -v s="$size" -v jt="$jt" -v ht="$ht" -v qt="$qt" -v ct="$ct" -v jb="$jb" -v hb="$hb" -v jm="$jm" -v cm="$cm" 'BEGIN{
    p = jt < 0.01 ? 0.01 : jt
    printf "%-28s %10d %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %9.1f %8dM %8dM\n", n, s, jt, ht, qt, ct, s/p/1e9, jb/1e6, hb/1e3, jm/1024, cm/1024 }'
done
