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
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH
CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
CC=${PODSLEUTH_CHECKPOINTCTL:-$CACHE/checkpointctl/bin/checkpointctl}
RUNS=${RUNS:-3}
SIZES=${BIGMEM_SIZES:-128 1024}
WORK=$(mktemp -d /tmp/podsleuth-bench-report.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[ -x "$CC" ] || CC=$("$ROOT/test/setup/checkpointctl.sh")
[ -x /usr/bin/time ] || { echo "report bench needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
(cd "$ROOT" && go build -trimpath -o "$WORK/podsleuth" ./cmd/podsleuth)
PS=$WORK/podsleuth
export PODSLEUTH_DATA_DIR=$WORK/data XDG_CONFIG_HOME=$WORK/config PODSLEUTH_CACHE_DIR=$WORK/cache

inputs=("$ROOT/test/fixtures/archives/podman-crun.tar")
for mb in $SIZES; do
  d=$CACHE/bench/bigmem-$mb
  if [ ! -s "$d/bigmem-crun.tar" ]; then
    echo "making the ${mb} MiB checkpoint with criu+podman (test/fixtures/gen.sh bigmem $mb $d) ..." >&2
    "$ROOT/test/fixtures/gen.sh" bigmem "$mb" "$d" >&2
  fi
  inputs+=("$d/bigmem-crun.tar")
done

# best CMD...: runs the command RUNS times, prints "seconds peakKB outputBytes" of the fastest run
best() {
  local bt=999999 bm=0 bb=0 i t m b
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" > "$WORK/out" 2>/dev/null || { echo "failed: $*" >&2; return 1; }
    read -r t m < "$WORK/time"
    b=$(stat -c %s "$WORK/out")
    if awk -v a="$t" -v b="$bt" 'BEGIN{exit !(a<b)}'; then bt=$t bb=$b; fi
    [ "$m" -gt "$bm" ] && bm=$m
  done
  echo "$bt $bm $bb"
}

printf '%-28s %10s %8s %8s %8s %8s %9s %9s %9s %9s %9s\n' INPUT BYTES JSON_S HTML_S QUICK_S CC_S MEM_GB/S JSON_MB HTML_KB JSON_RSS CC_RSS
for f in "${inputs[@]}"; do
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null
  read -r jt jm jb < <(best "$PS" report "$f" -f json --no-store)
  read -r ht hm hb < <(best "$PS" report "$f" -f html --no-store)
  read -r qt qm qb < <(best "$PS" report "$f" -f json --no-store --no-memory-scan)
  read -r ct cm cb < <(best "$CC" inspect "$f" --all --format json)
  name=$(basename "$(dirname "$f")")/$(basename "$f")
  awk -v n="$name" -v s="$size" -v jt="$jt" -v ht="$ht" -v qt="$qt" -v ct="$ct" -v jb="$jb" -v hb="$hb" -v jm="$jm" -v cm="$cm" 'BEGIN{
    p = jt < 0.01 ? 0.01 : jt
    printf "%-28s %10d %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %9.1f %8dM %8dM\n", n, s, jt, ht, qt, ct, s/p/1e9, jb/1e6, hb/1e3, jm/1024, cm/1024 }'
done
