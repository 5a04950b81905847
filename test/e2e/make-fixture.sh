#!/bin/bash
# Regenerates test/fixtures/archives/containerd-busybox.tar: a real checkpoint archive written by
# kubelet v1.37.2 + containerd v2.4.2 + runc + criu 4.2.1 of a small busybox pod, taken through
# the API server's node proxy exactly as podsleuth does, on the test cluster (cluster.sh up).
# Planted facts (asserted by decoder tests; see test/fixtures/README.md):
#   env PODSLEUTH_MARKER=containerd-busybox-7c41 and API_TOKEN=sk_test_containerd_5b0e (a secret)
#   pid 1 sh; /tmp/.cache/httpd: a copy of busybox (a dropped executable) running
#   "httpd -f -p 9090" (TCP LISTEN :9090); /tmp/notes.txt containing "exfil-target 10.0.0.99"
#   (rootfs diff). No established TCP connection: without CRIU's --tcp-established (which
#   containerd does not pass) the dump fails with "Connected TCP socket" (a real HTTP 500).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd); REPO=$(cd "$HERE/../.." && pwd)
"$HERE/cluster.sh" up
eval "$("$HERE/cluster.sh" env)"
K=${PODSLEUTH_K8S_BIN:-${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}/k8s/bin}/kubectl
NS=fixture-$(date +%s)
"$K" create ns "$NS" >/dev/null
"$K" -n "$NS" create sa default >/dev/null
"$K" apply -f - >/dev/null <<EOT
apiVersion: v1
kind: Pod
metadata: {name: busybox, namespace: $NS, labels: {app: fixture}}
spec:
  nodeName: $PODSLEUTH_TEST_NODE
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - name: app
    image: $PODSLEUTH_TEST_IMAGE
    imagePullPolicy: Never
    env:
    - {name: PODSLEUTH_MARKER, value: containerd-busybox-7c41}
    - {name: API_TOKEN, value: sk_test_containerd_5b0e}
    command: [sh, -c, 'echo "exfil-target 10.0.0.99" > /tmp/notes.txt; mkdir -p /tmp/.cache; cp /bin/busybox /tmp/.cache/httpd; /tmp/.cache/httpd -f -p 9090 -h /tmp & while true; do sleep 1; done']
EOT
"$K" -n "$NS" wait --for=condition=Ready pod/busybox --timeout=60s >/dev/null
sleep 2
reply=$(echo '{}' | "$K" create --raw "/api/v1/nodes/$PODSLEUTH_TEST_NODE/proxy/checkpoint/$NS/busybox/app?timeout=60" -f -)
f=$(echo "$reply" | jq -r '.items[0]')
out=$REPO/test/fixtures/archives/containerd-busybox.tar
cp "$f" "$out"; chmod 0644 "$out"
"$K" -n "$NS" exec busybox -- ps -o pid,args > "${out%.tar}.ps.txt" || true
"$K" -n "$NS" delete pod busybox --grace-period=0 --force >/dev/null 2>&1 || true
"$K" delete ns "$NS" --wait=false >/dev/null 2>&1 || true
CC=${PODSLEUTH_CHECKPOINTCTL:-${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}/checkpointctl/bin/checkpointctl}
if [ -x "$CC" ]; then "$CC" inspect --all "$out" > "$out.checkpointctl-inspect.txt" 2>&1 || true; fi
ls -l "$out"; sha256sum "$out"
