#!/bin/bash
# Browser scale benchmark: 10,000 pods in the real test API server (bound to a node that does not
# exist, so nothing runs them), listed through podsleuth's shared informers in a fresh process:
# time to the first full list and RSS. kubectl get pods -A (one paged list) is the reference.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
N=${BENCH_PODS:-10000}
RUNS=${RUNS:-3}
test/e2e/cluster.sh up >/dev/null
export KUBECONFIG=$(test/e2e/cluster.sh kubeconfig)
W=$(mktemp -d /tmp/podsleuth-bench-informer.XXXXXX); trap 'rm -rf "$W"' EXIT
go build -o "$W/informer" ./test/bench/informer
"$W/informer" -mode create -n "$N"
K=${PODSLEUTH_K8S_BIN:-$PODSLEUTH_CACHE/k8s/bin}/kubectl
printf '\n%d pods (all namespaces), fresh process each run\n' "$N"
printf '%-44s %s\n' "tool" "result"
for i in $(seq "$RUNS"); do
  printf '%-44s %s\n' "podsleuth Browser (informers) run $i" "$("$W/informer" -mode list 2>/dev/null)"
done
if [ -x "$K" ]; then
  for i in $(seq "$RUNS"); do
    s=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$W/rss" "$K" get pods -A --no-headers > "$W/list" 2>/dev/null
    printf '%-44s pods=%d first_full_list_s=%.2f rss_mib=%.1f\n' "kubectl get pods -A run $i" "$(wc -l < "$W/list")" \
      "$(echo "$(date +%s.%N) - $s" | bc)" "$(echo "$(cat "$W/rss") / 1024" | bc -l)"
  done
fi
[ "${KEEP_PODS:-0}" = 1 ] || "$W/informer" -mode delete
