#!/bin/bash
# Shared by the benchmark scripts (sourced, not run): setup, the big real inputs, timing.
#   bench_init NAME   sets ROOT, CACHE, CC (checkpointctl v1.6.0, installed when missing), RUNS,
#                     WORK (a temp dir removed on exit) and PS (podsleuth built into WORK)
#   bigmem_archive MB prints the path of a real criu+podman checkpoint archive of a process
#                     holding MB MiB (test/fixtures/gen.sh bigmem; cached in $CACHE/bench; made
#                     here when missing, needs root)
#   best MEASURE CMD... runs CMD RUNS times and prints "seconds peakKB measure" of the fastest
#                     run; MEASURE is "lines" or "bytes" of its standard output
bench_init() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  export PATH=/usr/local/go/bin:$PATH
  CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
  CC=${PODSLEUTH_CHECKPOINTCTL:-$CACHE/checkpointctl/bin/checkpointctl}
  [ -x "$CC" ] || CC=$("$ROOT/test/setup/checkpointctl.sh")
  [ -x /usr/bin/time ] || "$ROOT/test/setup/apt.sh"
  RUNS=${RUNS:-3}
  WORK=$(mktemp -d "/tmp/podsleuth-bench-$1.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  (cd "$ROOT" && go build -trimpath -o "$WORK/podsleuth" ./cmd/podsleuth)
  PS=$WORK/podsleuth
}

bigmem_archive() {
  local d=$CACHE/bench/bigmem-$1
  if [ ! -s "$d/bigmem-crun.tar" ]; then
    echo "making the $1 MiB checkpoint with criu+podman (test/fixtures/gen.sh bigmem $1 $d) ..." >&2
    "$ROOT/test/fixtures/gen.sh" bigmem "$1" "$d" >&2
  fi
  echo "$d/bigmem-crun.tar"
}

best() {
  local measure=$1; shift
  local bt=999999 bm=0 bx=0 i t m x
  for i in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" > "$WORK/out" 2>/dev/null || { echo "failed: $*" >&2; return 1; }
    read -r t m < "$WORK/time"
    case $measure in
      lines) x=$(wc -l < "$WORK/out") ;;
      *) x=$(stat -c %s "$WORK/out") ;;
    esac
    if awk -v a="$t" -v b="$bt" 'BEGIN{exit !(a<b)}'; then bt=$t bx=$x; fi
    [ "$m" -gt "$bm" ] && bm=$m
  done
  echo "$bt $bm $bx"
}
