#!/bin/bash
# Runs the test suite. unit: no cluster. e2e: the real single-node cluster (test/e2e/cluster.sh)
# is started once, its kubeconfig exported as PODSLEUTH_TEST_KUBECONFIG, and stopped afterwards.
# all: both. Tests of real components skip with a printed reason when a component is missing,
# and fail instead when CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
mode=${1:-all}
flags=${GOTEST_FLAGS:--timeout 45m}
rc=0
cluster_up() {
  if [ -x test/e2e/cluster.sh ]; then
    test/e2e/cluster.sh up || return 1
    export PODSLEUTH_TEST_KUBECONFIG=$(test/e2e/cluster.sh kubeconfig)
  fi
}
cluster_down() { [ -x test/e2e/cluster.sh ] && test/e2e/cluster.sh down; }
case $mode in
  unit) go test $flags $(go list ./... | grep -v /test/e2e) || rc=$? ;;
  e2e)  cluster_up || exit 1; trap cluster_down EXIT
        go test $flags ./test/e2e/... || rc=$? ;;
  all)  cluster_up || exit 1; trap cluster_down EXIT
        go test $flags ./... || rc=$? ;;
  *) echo "usage: $0 unit|e2e|all" >&2; exit 2 ;;
esac
exit $rc
