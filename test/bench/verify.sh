#!/bin/bash
# Verification-on-open benchmark: opening the >= 1 GiB checkpoint (test/fixtures/gen.sh bigmem,
# BIG_MB, default 1024) from the evidence store, where every opening re-hashes the archive and
# its artifacts, against opening the same archive by path without a hash (there is no switch
# that skips the store's verification: --no-hash by path is the open without it) and by path
# with its hash (the default for a plain tar by path).
#   CLI: `podsleuth inspect` wall time, best of RUNS (warm page cache); the store's extra cost
#        and the hashing rate it implies (archive bytes / (store - no-hash)). Budget: >= 1.5 GB/s.
#   TUI: the real binary in tmux (120x40), `podsleuth open ARG`: time to the first screen (the
#        conclusion is drawn) and, for the store item, to the banner's "verified"; best of RUNS.
#        The first screen must not wait for the hash: store first screen <= no-hash first screen
#        + 20% (+ 0.3 s of polling and start-up noise).
#   RUNS=3 BIG_MB=1024 test/bench/verify.sh
# Measured 2026-12-05 on the shared 2-core machine (AMD EPYC, SHA-NI), RUNS=3, 1025 MiB archive,
# load average < 1 (before: 1-4; earlier figures, 0.20 GB/s, were taken under a load of 16-60):
#   before (be23cce): no-hash 0.09 s, path with hash 0.88 s, store 1.02 s: verification 0.93 s
#     = 1.16 GB/s (FAIL); TUI first screen 3.19 s by path, 2.71 s from the store.
#   after: no-hash 0.09 s, path with hash 0.75 s, store 0.73 s: verification 0.64 s = 1.68 GB/s
#     (PASS; coreutils sha256sum 2.41 s, 0.45 GB/s); TUI first screen 2.29 s by path, 1.82 s from
#     the store, banner "verified" at 1.92 s.
# The archive is read ahead of the hash (archive.SHA256Reader: Go's SHA-256 alone does ~1.55 GB/s
# here, read-then-hash ~1.17 GB/s) and hashed beside the decoding. Under load the rate falls with
# the machine's (1.0-1.45 GB/s at load 3-5): re-run on an idle machine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init verify
BIG_MB=${BIG_MB:-1024}
command -v tmux >/dev/null || "$ROOT/test/setup/apt.sh"
export PODSLEUTH_DATA_DIR=$WORK/data XDG_CONFIG_HOME=$WORK/config PODSLEUTH_CACHE_DIR=$WORK/cache
big=$(bigmem_archive "$BIG_MB")
size=$(stat -c %s "$big")
"$PS" evidence add "$big" >/dev/null 2>&1 || "$PS" evidence add "$big"
sum=$(sha256sum "$big" | cut -d' ' -f1)
id=$("$PS" evidence list -o json | jq -r --arg s "$sum" '.[] | select(.manifest.local_sha256 == $s) | .id' | head -1)
[ -n "$id" ] || { echo "verify.sh: the archive is not in the store" >&2; exit 1; }
stored=$("$PS" evidence list -o json | jq -r --arg i "$id" '.[] | select(.id == $i) | .archive')
cat "$big" "$stored" > /dev/null

# the machine's own SHA-256 rate on the same file now (coreutils; with the CPU's SHA
# instructions when it has them): the reference for the verification cost
read -r rt _ _ < <(best bytes sha256sum "$stored")

# CLI
read -r nt nm _ < <(best bytes "$PS" inspect "$big" --no-hash)
read -r ht hm _ < <(best bytes "$PS" inspect "$big")
read -r st sm _ < <(best bytes "$PS" inspect "$id")
"$PS" inspect "$id" 2>&1 >/dev/null | grep -qi mismatch && { echo "verify.sh: the store item does not verify" >&2; exit 1; }

# TUI: first screen (the conclusion) and, for store evidence, the banner's "verified"
tui_open() { # ARG -> "first_screen_s verified_s" (verified_s 0 when there is no banner)
  local s=podsleuth-bench-verify-$$ t0 now first=0 ver=0 screen deadline
  tmux kill-session -t "$s" 2>/dev/null || true
  t0=$(date +%s%N)
  tmux new-session -d -s "$s" -x 120 -y 40 \
    "PODSLEUTH_DATA_DIR=$PODSLEUTH_DATA_DIR XDG_CONFIG_HOME=$XDG_CONFIG_HOME PODSLEUTH_CACHE_DIR=$PODSLEUTH_CACHE_DIR $PS open $1"
  deadline=$((t0 + 300000000000))
  while :; do
    now=$(date +%s%N)
    [ "$now" -lt "$deadline" ] || { echo "verify.sh: the TUI did not show $1 in 300 s" >&2; tmux kill-session -t "$s"; return 1; }
    screen=$(tmux capture-pane -p -t "$s" 2>/dev/null || true)
    if [ "$first" = 0 ] && grep -q '^Conclusion:' <<<"$screen"; then first=$(( (now - t0) / 1000000 )); fi
    if [ "$2" = banner ] && [ "$ver" = 0 ] && grep -q 'verified at' <<<"$screen"; then ver=$(( (now - t0) / 1000000 )); fi
    grep -q 'MISMATCH' <<<"$screen" && { echo "verify.sh: MISMATCH in the TUI" >&2; tmux kill-session -t "$s"; return 1; }
    if [ "$first" != 0 ] && { [ "$2" != banner ] || [ "$ver" != 0 ]; }; then break; fi
    sleep 0.02
  done
  tmux kill-session -t "$s"
  awk -v f="$first" -v v="$ver" 'BEGIN{printf "%.2f %.2f\n", f/1000, v/1000}'
}
tui_best() {
  local bf=999999 bv=999999 f v i
  for i in $(seq "$RUNS"); do
    read -r f v < <(tui_open "$1" "$2")
    awk -v a="$f" -v b="$bf" 'BEGIN{exit !(a<b)}' && bf=$f
    awk -v a="$v" -v b="$bv" 'BEGIN{exit !(a<b)}' && bv=$v
  done
  echo "$bf $bv"
}
read -r tpf _ < <(tui_best "$big" none)
read -r tsf tsv < <(tui_best "$id" banner)

printf '%-54s %9s %9s\n' "open of $(basename "$(dirname "$big")")/$(basename "$big") ($((size / 1048576)) MiB)" SECONDS PEAK_RSS
printf '%-54s %9.2f %8dM\n' "CLI inspect PATH --no-hash (no verification)" "$nt" $((nm / 1024))
printf '%-54s %9.2f %8dM\n' "CLI inspect PATH (SHA-256 of the archive)" "$ht" $((hm / 1024))
printf '%-54s %9.2f %8dM\n' "CLI inspect EVIDENCE-ID (verified on open)" "$st" $((sm / 1024))
awk -v s="$size" -v n="$nt" -v st="$st" 'BEGIN{ d = st - n; if (d < 0.01) d = 0.01
  printf "%-54s %9.2f  (%.2f GB/s)\n", "CLI verification cost (store - no-hash)", st - n, s / d / 1e9 }'
awk -v s="$size" -v t="$rt" 'BEGIN{ if (t < 0.01) t = 0.01
  printf "%-54s %9.2f  (%.2f GB/s)\n", "reference: sha256sum of the stored archive", t, s / t / 1e9 }'
printf '%-54s %9.2f\n' "TUI first screen, open PATH (no verification)" "$tpf"
printf '%-54s %9.2f\n' "TUI first screen, open EVIDENCE-ID (verifying)" "$tsf"
printf '%-54s %9.2f\n' "TUI banner 'verified', open EVIDENCE-ID" "$tsv"
awk -v s="$size" -v n="$nt" -v st="$st" -v pf="$tpf" -v sf="$tsf" 'BEGIN{ d = st - n; if (d < 0.01) d = 0.01
  ok = 1
  if (s / d / 1e9 < 1.5) { print "FAIL: CLI verification below 1.5 GB/s (compare with the sha256sum reference: a loaded machine hashes slower)"; ok = 0 }
  if (sf > pf * 1.2 + 0.3) { print "FAIL: the TUI first screen waits for the verification"; ok = 0 }
  exit !ok }'
