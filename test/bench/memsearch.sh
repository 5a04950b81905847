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
. "$(dirname "$0")/lib.sh"
bench_init memsearch
SIZES=${BIGMEM_SIZES:-128 1024}

inputs=("$ROOT/test/fixtures/archives/podman-crun.tar|CRIU-FORENSIC-MARKER-7f3a9c")
for mb in $SIZES; do
  inputs+=("$(bigmem_archive "$mb")|PODSLEUTH-BIGMEM-MARKER-")
done

printf '%-30s %10s %9s %9s %8s %9s %11s %11s %6s %6s\n' INPUT BYTES PS_S CC_S SPEEDUP GB/S PS_RSS_MB CC_RSS_MB PS_HIT CC_HIT
fail=0
for in in "${inputs[@]}"; do
  f=${in%%|*} pat=${in#*|}
  size=$(stat -c %s "$f")
  cat "$f" > /dev/null # warm the page cache: both tools read the same warm file
  read -r pt pm pl < <(best lines "$PS" memsearch "$f" "$pat" --pid 1)
  read -r ct cm cl < <(best lines "$CC" memparse --search "$pat" --pid 1 "$f")
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
