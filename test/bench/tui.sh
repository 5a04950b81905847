#!/bin/bash
# TUI benchmark: 10,000 pods in the pod list; one filter keystroke to rendered frame (App.Update
# + App.View at 120x40). Budget: median < 50 ms, memory < 300 MB. Prints one table.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
out=$(go test -run '^$' -bench 'BenchmarkPodFilterKeystroke' -benchtime 500x -count 1 ./tui/ 2>&1)
line=$(grep '^BenchmarkPodFilterKeystroke' <<<"$out")
if [ -z "$line" ]; then echo "$out"; exit 1; fi
metric() { awk -v m="$1" '{for (i=1;i<=NF;i++) if ($i==m) print $(i-1)}' <<<"$line"; }
median=$(metric ms-median/keystroke); p99=$(metric ms-p99/keystroke)
heap=$(metric MB-heap-inuse); sys=$(metric MB-sys)
printf '%-44s %12s %12s\n' "tui: 10,000 pods, filter keystroke" "measured" "budget"
printf '%-44s %9s ms %9s ms\n' "Update+View median" "$median" "50"
printf '%-44s %9s ms %12s\n' "Update+View p99" "$p99" "-"
printf '%-44s %9s MB %9s MB\n' "heap in use (10,000 pods loaded)" "$heap" "300"
printf '%-44s %9s MB %12s\n' "runtime total (Sys)" "$sys" "-"
awk -v m="$median" -v s="$sys" 'BEGIN { exit !(m < 50 && s < 300) }' || { echo "FAIL: over budget"; exit 1; }
