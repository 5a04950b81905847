#!/bin/bash
# Benchmark: `podsleuth inspect --all -o json` vs `checkpointctl inspect --all` (v1.6.0) on the
# same archives: every committed archive fixture plus one real podman+crun checkpoint of a
# process holding >= 512 MiB of memory (test/fixtures/gen.sh bigmem, made here when missing).
# Prints one table: median wall time of REPS runs (each run's first read warms the page cache
# for the next; both tools get the same treatment), peak RSS (/usr/bin/time -v "Maximum resident
# set size"), and the speed ratio. Target: podsleuth at least 5x faster.
#
#   REPS=5 BIG_MB=512 test/bench/inspect.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REPS=${REPS:-5}
BIG_MB=${BIG_MB:-512}
CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
CCTL=${PODSLEUTH_CHECKPOINTCTL:-$CACHE/checkpointctl/bin/checkpointctl}
export PATH=/usr/local/go/bin:$PATH LC_ALL=C

[ -x "$CCTL" ] || test/setup/checkpointctl.sh >&2
[ -x /usr/bin/time ] || { echo "inspect.sh: /usr/bin/time is needed (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d /tmp/podsleuth-bench-inspect.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -trimpath -o "$work/podsleuth" ./cmd/podsleuth

# the big input: reuse any bigmem dump of at least BIG_MB, else make one
big=""
for d in "$CACHE"/bench/bigmem-*; do
  [ -f "$d/bigmem-crun.tar" ] || continue
  mb=${d##*-}
  if [ "$mb" -ge "$BIG_MB" ] 2>/dev/null; then big=$d/bigmem-crun.tar; break; fi
done
if [ -z "$big" ]; then
  echo "inspect.sh: generating a ${BIG_MB} MiB checkpoint (test/fixtures/gen.sh bigmem)" >&2
  test/fixtures/gen.sh bigmem "$BIG_MB" "$CACHE/bench/bigmem-$BIG_MB" >&2
  big=$CACHE/bench/bigmem-$BIG_MB/bigmem-crun.tar
fi

inputs=(test/fixtures/archives/podman-crun.tar test/fixtures/archives/podman-crun.tar.gz
  test/fixtures/archives/podman-crun.tar.zst test/fixtures/archives/podman-runc.tar
  test/fixtures/archives/containerd-busybox.tar "$big")

# measure TOOL ARGS...: runs REPS times, prints "median_seconds max_rss_kib"
measure() {
  local times=() rss=0 i t m s e
  for ((i = 0; i < REPS; i++)); do
    # wall time in ns around the run (/usr/bin/time's own clock has 10 ms resolution)
    s=$(date +%s%N)
    (cd "$work/cwd" && /usr/bin/time -v "$@" >/dev/null 2>"$work/time.txt") || { cat "$work/time.txt" >&2; return 1; }
    e=$(date +%s%N)
    t=$(awk -v a="$s" -v b="$e" 'BEGIN {printf "%.4f", (b - a) / 1e9}')
    m=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s\n' "${times[@]}" | sort -g | awk -v rss="$rss" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.3f %d\n", m, rss}'
}

mkdir -p "$work/cwd" "$work/cache"
export PODSLEUTH_CACHE_DIR=$work/cache TMPDIR=$work
printf '%-28s %10s | %10s %9s | %13s %9s | %7s\n' input size podsleuth RSS checkpointctl RSS ratio
printf -- '-%.0s' {1..100}; echo
worst=""
for in in "${inputs[@]}"; do
  path=$(readlink -f "$in")
  size=$(du -h --apparent-size "$path" | cut -f1)
  read -r pt prss < <(measure "$work/podsleuth" inspect --all -o json "$path")
  read -r ct crss < <(measure "$CCTL" inspect --all "$path")
  ratio=$(awk -v a="$ct" -v b="$pt" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')
  printf '%-28s %10s | %9ss %6d MiB | %12ss %6d MiB | %6sx\n' "$(basename "$path")" "$size" "$pt" $((prss / 1024)) "$ct" $((crss / 1024)) "$ratio"
  if [ "$path" = "$(readlink -f "$big")" ]; then worst=$ratio; fi
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (shared machine: small inputs are dominated by process start-up and noise)"
echo "median of $REPS runs each; RSS is the peak over the runs; ratio = checkpointctl time / podsleuth time"
echo "podsleuth's RSS includes ~74 MiB of binary baseline (podsleuth version alone); decoding adds a few MiB"
if awk -v r="$worst" 'BEGIN {exit !(r >= 5)}'; then
  echo "target (>= 5x faster on the big archive): met (${worst}x)"
else
  echo "target (>= 5x faster on the big archive): NOT met (${worst}x)"
  exit 1
fi
