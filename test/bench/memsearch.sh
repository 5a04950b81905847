#!/bin/bash
# memsearch benchmark: `podsleuth memsearch` vs `checkpointctl memparse --search` (v1.6.0) on the
# same container checkpoint archives, searching the same literal in PID 1's memory:
#   - test/fixtures/archives/podman-crun.tar (the committed fixture, ~1 MB)
#   - bigmem-crun.tar of `target --mode bigmem` at 128 MiB and 1024 MiB (xorshift bytes with
#     planted PODSLEUTH-BIGMEM-MARKER-NNNN), made here with real criu+podman by
#     test/fixtures/gen.sh bigmem (cached in $PODSLEUTH_CACHE/bench; needs root).
# Prints one table: wall time (best of RUNS on a warm page cache), speedup, search throughput
# (archive bytes / podsleuth wall time, decode included), peak RSS of both tools, and hit counts
# (which must agree). BIGMEM_SIZES="128 1024" and RUNS=3 can be overridden.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH
CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
CC=${PODSLEUTH_CHECKPOINTCTL:-$CACHE/checkpointctl/bin/checkpointctl}
RUNS=${RUNS:-3}
SIZES=${BIGMEM_SIZES:-128 1024}
WORK=$(mktemp -d /tmp/podsleuth-bench-memsearch.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

[ -x "$CC" ] || CC=$("$ROOT/test/setup/checkpointctl.sh")
[ -x /usr/bin/time ] || { echo "memsearch bench needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
(cd "$ROOT" && go build -trimpath -o "$WORK/podsleuth" ./cmd/podsleuth)
PS=$WORK/podsleuth

inputs=("$ROOT/test/fixtures/archives/podman-crun.tar|CRIU-FORENSIC-MARKER-7f3a9c")
for mb in $SIZES; do
  d=$CACHE/bench/bigmem-$mb
  if [ ! -s "$d/bigmem-crun.tar" ]; then
    echo "making the ${mb} MiB checkpoint with criu+podman (test/fixtures/gen.sh bigmem $mb $d) ..." >&2
    "$ROOT/test/fixtures/gen.sh" bigmem "$mb" "$d" >&2
  fi
  inputs+=("$d/bigmem-crun.tar|PODSLEUTH-BIGMEM-MARKER-")
done

# best PROG...: runs the command RUNS times, prints "seconds peakKB lines" of the fastest run
best() {
  local bt=999999 bm=0 bl=0 i t m l
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" > "$WORK/out" 2>/dev/null || { echo "failed: $*" >&2; return 1; }
    read -r t m < "$WORK/time"
    l=$(wc -l < "$WORK/out")
    if awk -v a="$t" -v b="$bt" 'BEGIN{exit !(a<b)}'; then bt=$t bl=$l; fi
    [ "$m" -gt "$bm" ] && bm=$m
  done
  echo "$bt $bm $bl"
}

printf '%-30s %10s %9s %9s %8s %9s %11s %11s %6s %6s\n' INPUT BYTES PS_S CC_S SPEEDUP GB/S PS_RSS_MB CC_RSS_MB PS_HIT CC_HIT
fail=0
for in in "${inputs[@]}"; do
  f=${in%%|*} pat=${in#*|}
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null # warm the page cache: both tools read the same warm file
  read -r pt pm pl < <(best "$PS" memsearch "$f" "$pat" --pid 1)
  read -r ct cm cl < <(best "$CC" memparse --search "$pat" --pid 1 "$f")
  phits=$((pl - 1))                              # header line
  chits=$([ "$cl" -gt 2 ] && echo $((cl - 2)) || echo 0) # two header lines, or "No matches"
  read -r speed gbs < <(awk -v p="$pt" -v c="$ct" -v s="$size" 'BEGIN{ if (p < 0.01) p = 0.01; printf "%.1fx %.2f\n", c/p, s/p/1e9 }')
  name=$(basename "$(dirname "$f")")/$(basename "$f")
  printf '%-30s %10d %9s %9s %8s %9s %11.1f %11.1f %6d %6d\n' "$name" "$size" "$pt" "$ct" "$speed" "$gbs" \
    "$(echo "$pm" | awk '{print $1/1024}')" "$(echo "$cm" | awk '{print $1/1024}')" "$phits" "$chits"
  if [ "$phits" -ne "$chits" ]; then
    echo "MISMATCH: podsleuth found $phits, checkpointctl $chits in $f" >&2
    fail=1
  fi
done
echo "podsleuth baseline (podsleuth version): $(/usr/bin/time -f '%M' "$PS" version 2>&1 >/dev/null | awk '{printf "%.1f", $1/1024}') MB RSS"
echo "(wall time best of $RUNS, warm page cache; GB/s = archive bytes / podsleuth wall time incl. decoding; RSS = peak)"
exit $fail
