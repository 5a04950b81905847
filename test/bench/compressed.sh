#!/bin/bash
# Benchmark: opening compressed checkpoints, podsleuth vs checkpointctl (v1.6.0) on the same
# files (podsleuth inspect -o json, checkpointctl inspect --all: both decode everything). Inputs: the hostile 4 GiB-of-zeros .tar.zst (test/hostile WriteCostly: a 0.4 MB file
# whose pages member is 4 GiB of zeros and whose pagemap declares one page) and a real >= 1 GiB
# .tar.zst checkpoint (the bigmem podman+crun checkpoint of lib.sh, compressed with zstd -3).
# For each: wall time, peak RSS and PEAK TEMPORARY DISK (polled every 20 ms: the blocks of the
# files under the tool's TMPDIR and cache dir plus the blocks of unlinked files it holds open,
# which is where podsleuth's spill file lives). Issue 12's target for a hostile input: < 2 s,
# < 256 MiB RSS, < 64 MiB temporary disk.
#
#   BIG_MB=1024 test/bench/compressed.sh
set -uo pipefail
source "$(dirname "$0")/lib.sh"
bench_init compressed
BIG_MB=${BIG_MB:-1024}

zeros=$CACHE/bench/hostile/pages-4gib-zeros.tar.zst
if [ ! -s "$zeros" ]; then
  mkdir -p "$CACHE/bench/hostile"
  (cd "$ROOT" && go test ./test/hostile -count=1 -run '^$' -args -write "$CACHE/bench/hostile" -costly) >/dev/null
fi
tar=$(bigmem_archive "$BIG_MB")
big=${tar%.tar}.tar.zst
if [ ! -s "$big" ] || [ "$big" -ot "$tar" ]; then
  zstd -q -T2 -3 -f "$tar" -o "$big"
fi

# peak_disk PID DIR...: the peak, while PID runs, of the disk used under DIRs plus the blocks
# of deleted files PID holds open (KiB)
peak_disk() {
  local pid=$1; shift
  local peak=0 d f b p
  while kill -0 "$pid" 2>/dev/null; do
    d=$(du -sk "$@" 2>/dev/null | awk '{s+=$1} END {print s+0}')
    # $pid is /usr/bin/time: look at the tool it runs
    for f in $(for p in $(pgrep -P "$pid"); do echo /proc/"$p"/fd/*; done); do
      case $(readlink "$f" 2>/dev/null) in *"(deleted)") b=$(stat -L -c %b "$f" 2>/dev/null || echo 0); d=$((d + b / 2)) ;; esac
    done
    [ "$d" -gt "$peak" ] && peak=$d
    sleep 0.02
  done
  echo "$peak"
}

# run NAME CMD...: prints "seconds rssKiB diskKiB rc"
run() {
  local tmp=$WORK/tmp-$1; shift
  rm -rf "$tmp"; mkdir -p "$tmp/t" "$tmp/c"
  local s e rc
  s=$(date +%s%N)
  TMPDIR=$tmp/t PODSLEUTH_CACHE_DIR=$tmp/c /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/err" &
  local pid=$!
  local disk
  disk=$(peak_disk "$pid" "$tmp")
  wait "$pid"; rc=$?
  e=$(date +%s%N)
  echo "$(awk -v a="$s" -v b="$e" 'BEGIN {printf "%.2f", (b - a) / 1e9}') $(tail -1 "$WORK/rss") $disk $rc"
  rm -rf "$tmp"
}

printf '%-30s %9s | %-9s %8s %10s %3s | %-9s %8s %10s %3s\n' input size podsleuth RSS "temp disk" rc checkpointctl RSS "temp disk" rc
printf -- '-%.0s' {1..112}; echo
for in in "$zeros" "$big"; do
  size=$(du -h --apparent-size "$in" | cut -f1)
  read -r pt pr pd prc < <(run ps "$PS" inspect -o json "$in")
  read -r ct cr cd crc < <(run cc "$CC" inspect --all "$in")
  printf '%-30s %9s | %8ss %5d MiB %6d MiB %3s | %8ss %5d MiB %6d MiB %3s\n' "$(basename "$in")" "$size" \
    "$pt" $((pr / 1024)) $((pd / 1024)) "$prc" "$ct" $((cr / 1024)) $((cd / 1024)) "$crc"
done
echo
echo "uncompressed: the zeros archive holds a 4 GiB pages member; $(basename "$big") is $(du -h --apparent-size "$tar" | cut -f1) as a plain tar"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs (shared machine)"
echo "rc: exit status (checkpointctl refuses the hostile archive's missing images after extracting it)"
