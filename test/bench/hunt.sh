#!/bin/bash
# Hunt benchmark: N pods (default 20) each holding MIB MiB (default 64) in memory on the real test
# cluster, hunted two ways with the same analysis:
#   hunt      podsleuth hunt: checkpoints in waves, analysed on the node by the analyzer Job, only
#             results come back (the archives are deleted on the node)
#   pull-all  podsleuth checkpoint -l --pull of every pod, then the local triage
#             (podsleuth findings) of every pulled archive
# Bytes across the API server are counted by a TCP proxy between podsleuth and the API server
# (test/bench/countproxy: TLS bytes, both directions); the node-side analyzer's peak memory is the
# largest VmHWM its results report. Prints one table.
# Measured 2026-12-05 (20 x 64 MiB, load 2-10): hunt 52.8 s, 784,670 bytes, analyzer 65.7 MiB;
# pull-all 80.4 s, 1,353,938,157 bytes, local 97 MiB: wall ratio 0.66, bytes 0.058 %, the same
# 8 findings both ways (docs/hunt.md has the earlier runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
KBIN=${PODSLEUTH_K8S_BIN:-$PODSLEUTH_CACHE/k8s/bin}
K=$KBIN/kubectl
[ -x "$K" ] || { echo "SKIP: kubectl missing in $KBIN (run test/setup/k8s.sh)"; exit 0; }
N=${BENCH_HUNT_PODS:-20}
MB=${BENCH_HUNT_MIB:-64}
# pull-all checkpoints 4 at a time (one node here); the hunt keeps its default of one frozen
# container per node (BENCH_HUNT_PER_NODE=4 gives it the same concurrency: on this loaded 2-core
# machine 13 of 20 such checkpoints failed in the runtime, "unable to freeze"); its analyzer may
# use both cores as the local triage does
PERNODE=${BENCH_HUNT_PER_NODE:-1}
CPU=${BENCH_HUNT_CPU:-2}
test/e2e/cluster.sh up >/dev/null
eval "$(test/e2e/cluster.sh env)"
R=$(dirname "$PODSLEUTH_TEST_KUBECONFIG")
W=$(mktemp -d /tmp/podsleuth-bench-hunt.XXXXXX)
NS=bench-hunt-$(date +%s)
PROXY=
cleanup() {
  [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null || true
  "$K" -n "$NS" delete pod --all --grace-period=0 --force >/dev/null 2>&1 || true
  rm -f "$PODSLEUTH_TEST_CHECKPOINT_DIR"/checkpoint-*_"$NS"-*
  # BENCH_HUNT_SAVE=DIR keeps both halves' JSON (per-container phases and timings) there
  [ -n "${BENCH_HUNT_SAVE:-}" ] && mkdir -p "$BENCH_HUNT_SAVE" && cp "$W"/*.json "$BENCH_HUNT_SAVE"/ 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
export GOFLAGS=-tags=yara
go build -o "$W/podsleuth" ./cmd/podsleuth
go build -o "$W/countproxy" ./test/bench/countproxy
make -s analyzer-image ANALYZER_DIR="$W" >/dev/null
REF=$(test/e2e/cluster.sh import-image "$W/analyzer-image.tar")
COLLECTOR=${PODSLEUTH_TEST_IMAGE_PINNED:-$(cat "$R/images/busybox.pinned" 2>/dev/null || echo "$PODSLEUTH_TEST_IMAGE")}

"$K" create ns "$NS" >/dev/null; "$K" -n "$NS" create sa default >/dev/null
for i in $(seq -w 1 "$N"); do
  # every fifth pod holds a mining pool URL in its shell's memory (and argv): both ways must find
  # the same findings in the same pods
  plant=; [ $((10#$i % 5)) = 1 ] && plant="p=stratum+tcp://xmr.pool-$i.evil.example:3333; "
  "$K" apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Pod
metadata: {name: big-$i, namespace: $NS, labels: {app: bench}}
spec:
  nodeName: $PODSLEUTH_TEST_NODE
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - name: app
    image: $PODSLEUTH_TEST_IMAGE
    imagePullPolicy: Never
    command: [sh, -c, '${plant}x=\$(head -c $((MB * 1048576 * 3 / 4)) /dev/urandom | base64 -w0); touch /tmp/ready; while true; do sleep 1; done']
    readinessProbe: {exec: {command: [test, -f, /tmp/ready]}, periodSeconds: 10}  # an exec per pod every second would load the node (20 runc execs a second on 2 cores) during both halves
EOT
done
"$K" -n "$NS" wait --for=condition=Ready pod -l app=bench --timeout=600s >/dev/null

# every podsleuth request goes through the counting proxy (the kubeconfig's server may be
# quoted: server: "https://127.0.0.1:PORT")
APIPORT=$(sed -n 's|.*server: *"\{0,1\}https://127.0.0.1:\([0-9]*\).*|\1|p' "$PODSLEUTH_TEST_KUBECONFIG" | head -1)
[ -n "$APIPORT" ] || { echo "no https://127.0.0.1:PORT server in $PODSLEUTH_TEST_KUBECONFIG"; exit 1; }
proxy() { # report-file
  "$W/countproxy" -target "127.0.0.1:$APIPORT" -report "$1" > "$W/proxy.addr" &
  PROXY=$!
  for _ in $(seq 50); do [ -s "$W/proxy.addr" ] && break; sleep 0.1; done
  [ -s "$W/proxy.addr" ] || { echo "countproxy did not start"; exit 1; }
  sed "s|https://127.0.0.1:$APIPORT|https://$(cat "$W/proxy.addr")|" "$PODSLEUTH_TEST_KUBECONFIG" > "$W/kubeconfig"
  grep -q "https://$(cat "$W/proxy.addr")" "$W/kubeconfig" || { echo "the kubeconfig was not pointed at the proxy"; exit 1; }
}
unproxy() { sleep 0.5; kill "$PROXY"; wait "$PROXY" 2>/dev/null || true; PROXY=; [ -s "$1" ] || { echo "countproxy wrote no report"; exit 1; }; }
export PODSLEUTH_CLUSTER_KUBELET_CHECKPOINT_DIR=$PODSLEUTH_TEST_CHECKPOINT_DIR PODSLEUTH_SIGNING_KEY=$W/analyst.pem \
  PODSLEUTH_SIGNING_TRUSTED_KEYS=$W/trusted.json PODSLEUTH_CACHE_DIR=$W/cache XDG_CONFIG_HOME=$W/config
common=(--kubeconfig "$W/kubeconfig" --context podsleuth-admin --collector-namespace podsleuth-system --collector-image "$COLLECTOR")

proxy "$W/hunt.bytes"
t=$(date +%s.%N)
"$W/podsleuth" hunt -n "$NS" -l app=bench --image "$REF" --yes -q -o json --data-dir "$W/hstore" \
  --memory 1Gi --cpu "$CPU" --concurrency 4 --per-node "$PERNODE" "${common[@]}" > "$W/hunt.json" ||
  echo "the hunt exited $? (a failed container is a named result: counted below)"
HT=$(echo "$(date +%s.%N) - $t" | bc)
unproxy "$W/hunt.bytes"
read -r HUP HDOWN < "$W/hunt.bytes"
HOK=$(jq '[.outcomes[] | select(.error == null or .error == "")] | length' "$W/hunt.json")
[ "$HOK" = "$N" ] || { echo "WARNING: the hunt analysed $HOK of $N (named failures below); the figures count them"; jq -r '.outcomes[] | select(.error != null and .error != "") | .target.pod + ": " + .error' "$W/hunt.json"; }
PEAK=$(jq '[.outcomes[].result.peak_rss] | max' "$W/hunt.json")
ASIZE=$(jq '[.outcomes[].result.size] | add' "$W/hunt.json")
HF=$(jq '[.outcomes[].result.findings // [] | length] | add' "$W/hunt.json")
[ -z "$(ls "$PODSLEUTH_TEST_CHECKPOINT_DIR" | grep "_$NS-" || true)" ] || { echo "the hunt left archives"; exit 1; }

proxy "$W/pull.bytes"
t=$(date +%s.%N)
"$W/podsleuth" checkpoint -n "$NS" -l app=bench --pull --delete-from-node --concurrency 4 -q -o json --data-dir "$W/pstore" \
  "${common[@]}" > "$W/pull.json" || echo "checkpoint --pull exited $? (its failures are named in its JSON)"
PT=$(echo "$(date +%s.%N) - $t" | bc)
unproxy "$W/pull.bytes"
read -r PUP PDOWN < "$W/pull.bytes"
PF=0; TPEAK=0
for id in $(jq -r '.[].evidence.id // empty' "$W/pull.json"); do
  /usr/bin/time -f '%M' -o "$W/tm" "$W/podsleuth" findings "$id" -o json --data-dir "$W/pstore" > "$W/f.json"
  PF=$((PF + $(jq ".findings | length" "$W/f.json"))); m=$(cat "$W/tm"); [ "$m" -gt "$TPEAK" ] && TPEAK=$m
done
TT=$(echo "$(date +%s.%N) - $t" | bc)

mib() { echo "scale=2; $1 / 1048576" | bc; }
printf '\nhunt vs pull-all over %d pods holding %d MiB each (archives %s MiB in all), same analysis; 4 checkpoints at a time both ways (hunt --per-node %s, analyzer --cpu %s)\n' "$N" "$MB" "$(mib "$ASIZE")" "$PERNODE" "$CPU"
printf '%-44s %10s %16s %16s\n' "" "wall s" "bytes via API" "peak memory"
printf '%-44s %10.1f %16s %16s\n' "podsleuth hunt (analysis on the node)" "$HT" "$((HUP + HDOWN))" "$(mib "$PEAK") MiB (node)"
printf '%-44s %10.1f %16s %16s\n' "checkpoint --pull of all + local findings" "$TT" "$((PUP + PDOWN))" "$((TPEAK / 1024)) MiB (local)"
printf '%-44s %10.1f\n' "  of which checkpoint --pull" "$PT"
printf 'hunt: %s of %d analysed on the node; pull-all: %s of %d pulled and analysed locally\n' "$HOK" "$N" "$(jq '[.[] | select(.evidence.id != null)] | length' "$W/pull.json")" "$N"
[ "$HF" = "$PF" ] || echo "WARNING: the hunt found $HF findings, the local triage $PF: not the same analysis"
printf 'ratios: wall %.2f, bytes %.4f%%; findings: hunt %s, pull-all %s\n' "$(echo "$HT / $TT" | bc -l)" "$(echo "100 * ($HUP + $HDOWN) / ($PUP + $PDOWN)" | bc -l)" "$HF" "$PF"
