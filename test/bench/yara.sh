#!/bin/bash
# YARA benchmark: `podsleuth yara` (libyara through go-yara, every VMA as memory blocks at its
# real addresses, read on demand from the archive) vs the `yara` command line tool (same libyara)
# scanning the same bytes: the checkpoint's pages images, extracted once for the comparison only.
# Inputs: bigmem-crun.tar of `target --mode bigmem` at 128 and 1024 MiB (test/fixtures/gen.sh
# bigmem, cached in $PODSLEUTH_CACHE/bench). Rules: podsleuth's default set plus one rule for the
# planted PODSLEUTH-BIGMEM-MARKER- strings, whose match counts must agree. Prints wall time (best
# of RUNS, warm page cache; podsleuth's includes decoding the archive), the ratio, peak RSS of
# both (podsleuth's must not grow with the checkpoint) and the marker counts.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_init yara
(cd "$ROOT" && go build -tags yara -trimpath -o "$PS" ./cmd/podsleuth)
command -v yara >/dev/null || "$ROOT/test/setup/apt.sh"
SIZES=${BIGMEM_SIZES:-128 1024}
R=$WORK/rules.yar
"$PS" yara --show-default > "$R"
printf 'rule bigmem_marker { strings: $m = "PODSLEUTH-BIGMEM-MARKER-" condition: $m }\n' >> "$R"
DEFS=(-d filename= -d filepath= -d extension= -d filetype=memory -d owner= -d ps_kind=memory -d ps_region=anon
  -d ps_perm=rw-p -d ps_comm= -d ps_pid=0 -d ps_base=0 -d ps_exec=false)

printf '%-22s %12s %8s %8s %7s %10s %10s %7s %7s\n' INPUT PAGES_BYTES PS_S YARA_S RATIO PS_RSS_MB YARA_RSS_MB PS_HIT YARA_HIT
fail=0
for mb in $SIZES; do
  f=$(bigmem_archive "$mb")
  d=$WORK/pages-$mb
  mkdir -p "$d"
  tar -xf "$f" -C "$d" --wildcards 'checkpoint/pages-*.img'   # dumped once, for the yara CLI only
  pages=$(cat "$d"/checkpoint/pages-*.img | wc -c)
  cat "$f" "$d"/checkpoint/pages-*.img > /dev/null             # warm page cache for both
  read -r pt pm _ < <(best bytes "$PS" yara "$R" "$f" --no-objects -o json --max-strings 1000)
  phit=$("$PS" yara "$R" "$f" --no-objects -o json --max-strings 1000 2>/dev/null | jq '[.hits[] | select(.rule=="bigmem_marker") | .matches] | add // 0')
  read -r yt ym _ < <(best bytes yara -s "${DEFS[@]}" "$R" "$d/checkpoint")
  yhit=$(yara -s "${DEFS[@]}" "$R" "$d/checkpoint" | grep -c ':\$m: ' || true)
  ratio=$(awk -v p="$pt" -v y="$yt" 'BEGIN{ if (y < 0.01) y = 0.01; printf "%.2fx", p/y }')
  printf '%-22s %12d %8s %8s %7s %10.1f %10.1f %7d %7d\n' "bigmem-$mb/bigmem-crun.tar" "$pages" "$pt" "$yt" "$ratio" \
    "$(echo "$pm" | awk '{print $1/1024}')" "$(echo "$ym" | awk '{print $1/1024}')" "$phit" "$yhit"
  [ "$phit" -eq "$yhit" ] || { echo "MISMATCH: podsleuth found $phit markers, yara $yhit" >&2; fail=1; }
  rm -rf "$d"
done
echo "(wall time best of $RUNS, warm page cache; RATIO = podsleuth / yara CLI, target <= 1.5x; RSS = peak)"
exit $fail
