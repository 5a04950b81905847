#!/bin/bash
# Pull benchmark: a >= 256 MiB checkpoint archive (a busybox pod holding 256 MiB, checkpointed by
# the real kubelet) brought off the node by podsleuth (collector pod, sha256 on the node beside the
# stream, streaming over exec with the local sha256 and fsync into the evidence store) vs plain
# `kubectl exec POD -- cat FILE > file` through the same API server (no hashing at all) into a pod
# that already runs. podsleuth is timed twice: in the responder's flow, `checkpoint --pull`, whose
# collector starts while the kubelet checkpoints (the pull: from the kubelet's reply to the
# evidence sealed, from the custody log), and `--existing`, a pull on its own that waits for its
# collector pod to start. Prints one table; RUNS=N repeats (median).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=/usr/local/go/bin:$PATH
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
KBIN=${PODSLEUTH_K8S_BIN:-$PODSLEUTH_CACHE/k8s/bin}
K=$KBIN/kubectl
[ -x "$K" ] || { echo "SKIP: kubectl missing in $KBIN (run test/setup/k8s.sh)"; exit 0; }
MB=${BENCH_PULL_MIB:-256}
RUNS=${RUNS:-3}
test/e2e/cluster.sh up >/dev/null
eval "$(test/e2e/cluster.sh env)"
W=$(mktemp -d /tmp/podsleuth-bench-pull.XXXXXX)
NS=bench-pull-$(date +%s)
cleanup() {
  "$K" -n "$NS" delete pod --all --grace-period=0 --force >/dev/null 2>&1 || true
  [ -n "${F:-}" ] && rm -f "$F"
  rm -rf "$W"
}
trap cleanup EXIT
go build -o "$W/podsleuth" ./cmd/podsleuth
"$K" create ns "$NS" >/dev/null; "$K" -n "$NS" create sa default >/dev/null
"$K" apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Pod
metadata: {name: big, namespace: $NS}
spec:
  nodeName: $PODSLEUTH_TEST_NODE
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - name: app
    image: $PODSLEUTH_TEST_IMAGE
    imagePullPolicy: Never
    command: [sh, -c, 'x=\$(head -c $((MB * 1048576)) /dev/urandom | base64 -w0 | head -c $((MB * 1048576))); touch /tmp/ready; while true; do sleep 1; done']
    readinessProbe: {exec: {command: [test, -f, /tmp/ready]}, periodSeconds: 1}
EOT
"$K" -n "$NS" wait --for=condition=Ready pod/big --timeout=300s >/dev/null
t0=$(date +%s.%N)
F=$(echo '{}' | "$K" create --raw "/api/v1/nodes/$PODSLEUTH_TEST_NODE/proxy/checkpoint/$NS/big/app?timeout=300" -f - | jq -r '.items[0]')
ckpt=$(echo "$(date +%s.%N) - $t0" | bc)
SIZE=$(stat -c %s "$F")
[ "$SIZE" -ge $((256 * 1048576)) ] || [ "$MB" -lt 256 ] || { echo "archive only $SIZE bytes"; exit 1; }
DIR=$(dirname "$F"); BASE=$(basename "$F")

# kubectl reference: a collector pod like podsleuth's, then exec cat (the pod start is not timed)
"$K" apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Pod
metadata: {name: kcat, namespace: $NS}
spec:
  nodeName: $PODSLEUTH_TEST_NODE
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - {name: c, image: $PODSLEUTH_TEST_IMAGE, imagePullPolicy: Never, command: [sleep, "3600"],
     volumeMounts: [{name: ck, mountPath: /checkpoints, readOnly: true}]}
  volumes: [{name: ck, hostPath: {path: $DIR, type: Directory}}]
EOT
"$K" -n "$NS" wait --for=condition=Ready pod/kcat --timeout=60s >/dev/null
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# the evidence of one podsleuth run: the "pulled" custody event's details
pulled() {
  local id; id=$(jq -r '.[0].evidence.id' "$W/p.json")
  [ "$(jq -r '.[0].evidence.manifest.node_sha256 == .[0].evidence.manifest.local_sha256' "$W/p.json")" = true ] || { echo "hash mismatch"; exit 1; }
  [ "$(jq -r '.[0].evidence.manifest.size' "$W/p.json")" -ge $((MB * 1048576)) ] || { echo "short archive"; exit 1; }
  jq -c 'select(.action == "pulled") | .details' "$W/store/evidence/$id/custody.jsonl"
}
kt=(); ct=(); cp=(); cw=(); cs=(); et=(); es=(); eh=()
export PODSLEUTH_CLUSTER_KUBELET_CHECKPOINT_DIR=$DIR
for i in $(seq "$RUNS"); do
  rm -f "$W/k.tar"
  t=$(date +%s.%N); "$K" -n "$NS" exec kcat -- cat "/checkpoints/$BASE" > "$W/k.tar"; kt+=("$(echo "$(date +%s.%N) - $t" | bc)")
  [ "$(stat -c %s "$W/k.tar")" = "$SIZE" ] || { echo "kubectl pulled a short file"; exit 1; }
  rm -f "$W/k.tar"

  # the responder's flow: checkpoint --pull (the collector starts while the kubelet checkpoints)
  rm -rf "$W/store"
  t=$(date +%s.%N)
  "$W/podsleuth" checkpoint "$NS/big" -c app --pull --data-dir "$W/store" \
    --collector-image "$PODSLEUTH_TEST_IMAGE" -q -o json > "$W/p.json"
  ct+=("$(echo "$(date +%s.%N) - $t" | bc)")
  d=$(pulled)
  cp+=("$(jq -r .pull_seconds <<<"$d")"); cw+=("$(jq -r .collector_wait_seconds <<<"$d")"); cs+=("$(jq -r .collector_start_seconds <<<"$d")")
  rm -f "$(jq -r '.[0].checkpoint.node_path' "$W/p.json")"

  # a pull on its own of the archive already on the node: the collector's start is all in it
  rm -rf "$W/store"
  t=$(date +%s.%N)
  "$W/podsleuth" checkpoint "$NS/big" -c app --pull --existing "$F" --data-dir "$W/store" \
    --collector-image "$PODSLEUTH_TEST_IMAGE" -q -o json > "$W/p.json"
  et+=("$(echo "$(date +%s.%N) - $t" | bc)")
  d=$(pulled)
  es+=("$(jq -r .collector_start_seconds <<<"$d")"); eh+=("$(jq -r .node_hash_seconds <<<"$d")")
done
med() { printf '%s\n' "$@" | median; }
K_MED=$(med "${kt[@]}"); CP_MED=$(med "${cp[@]}"); CT_MED=$(med "${ct[@]}"); ET_MED=$(med "${et[@]}")
mib=$(echo "scale=1; $SIZE / 1048576" | bc)
row() { printf '%-70s %8.2f %10.1f %7.2f\n' "$1" "$2" "$(echo "$SIZE/1048576/$2" | bc -l)" "$(echo "$2/$K_MED" | bc -l)"; }
printf '\npull of a %s MiB kubelet checkpoint archive (checkpoint itself: %.2f s), median of %d runs\n' "$mib" "$ckpt" "$RUNS"
printf '%-70s %8s %10s %7s\n' "tool" "seconds" "MiB/s" "ratio"
row "kubectl exec cat > file (no hashing, its pod already running)" "$K_MED"
row "podsleuth checkpoint --pull: the pull (both sha256, fsync, sealed)" "$CP_MED"
row "podsleuth checkpoint --pull: checkpoint + pull, whole command" "$CT_MED"
row "podsleuth --existing: pull alone (+collector pod start, cleanup)" "$ET_MED"
echo "runs: kubectl ${kt[*]} | pull after checkpoint ${cp[*]} | checkpoint+pull ${ct[*]} | pull alone ${et[*]}"
echo "collector (median): start $(med "${cs[@]}") s of which the pull after the checkpoint waited $(med "${cw[@]}") s; alone: start $(med "${es[@]}") s; node sha256 beside the stream $(med "${eh[@]}") s"
