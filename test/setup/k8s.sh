#!/bin/bash
# Builds or unpacks every binary of the real single-node test cluster under $PODSLEUTH_CACHE/k8s/bin:
#   kube-apiserver + kubelet v1.37.2 (k8s.io/kubernetes through a wrapper module whose replace lines
#   map each ./staging module to its published v0.37.2), containerd v2.4.2 (+ shim, ctr), etcd from
#   Debian trixie, runc + CNI plugins (bookworm) and busybox-static (trixie) from Debian (dpkg -x,
#   nothing installed).
# Idempotent: each artefact is built only when missing. Cold: about 10 min on 2 cores.
. "$(dirname "$0")/common.sh"
K8S_VERSION=${K8S_VERSION:-v1.37.2}
CONTAINERD_VERSION=${CONTAINERD_VERSION:-v2.4.2}
K=$PODSLEUTH_CACHE/k8s; B=$K/bin; mkdir -p $B $K/pkgs
export GOFLAGS=-buildvcs=false
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"

# kube-apiserver, kubelet, kube-controller-manager (Jobs, their TTL and garbage collection for the
# hunt's analyzer Jobs) and kubectl (the pull benchmark's and the demo's reference client) from one
# wrapper module; only the missing ones are built.
need=""
for c in kube-apiserver kubelet kube-controller-manager kubectl; do [ -x $B/$c ] || need="$need k8s.io/kubernetes/cmd/$c"; done
if [ -n "$need" ]; then
  W=$K/wrap-$K8S_VERSION; mkdir -p $W; cd $W
  SV=v0.${K8S_VERSION#v1.}
  log "resolving k8s.io/kubernetes $K8S_VERSION"
  gomod=$(go mod download -json k8s.io/kubernetes@$K8S_VERSION | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module podsleuth.test/k8sbuild"; echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/\.[0-9]*$//')"; echo
    echo "require k8s.io/kubernetes $K8S_VERSION"; echo
    grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk -v sv=$SV '{print "replace " $1 " => " $1 " " sv}'
    grep -E '^\s*[^ ]+ .*=> [^.]' "$gomod" | grep -v staging | sed 's/^\s*/replace /' || true
  } > go.mod
  printf '//go:build tools\npackage tools\nimport (\n _ "k8s.io/kubernetes/cmd/kube-apiserver"\n _ "k8s.io/kubernetes/cmd/kubelet"\n _ "k8s.io/kubernetes/cmd/kube-controller-manager"\n _ "k8s.io/kubernetes/cmd/kubectl"\n)\n' > tools.go
  go mod tidy >&2
  log "building$need $K8S_VERSION (5-8 min cold)"
  go build -trimpath -ldflags="$ldflags" -o $B/ $need
fi

if [ ! -x $B/containerd ] || [ ! -x $B/containerd-shim-runc-v2 ] || [ ! -x $B/ctr ]; then
  log "building containerd $CONTAINERD_VERSION"
  GOBIN=$B CGO_ENABLED=1 go install -trimpath -tags "no_btrfs no_devmapper no_zfs" -ldflags="-s -w" \
    github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION \
    github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION
fi

if [ ! -x $B/etcd ]; then
  log "unpacking etcd (Debian trixie)"
  suite_download trixie $K/pkgs/etcd etcd-server >&2
  ln -sf $K/pkgs/etcd/root/usr/bin/etcd $B/etcd
fi

# busybox-bookworm (1.35) is the exact binary the committed kubelet/containerd fixture
# archive ran (test/fixtures/archives/containerd-busybox.tar): restoring it needs that build.
if [ ! -x $B/runc ] || [ ! -d $K/cni-bin ] || [ ! -x $B/busybox-bookworm ]; then
  log "unpacking runc, CNI plugins, busybox-static 1.35 (Debian bookworm)"
  suite_download bookworm $K/pkgs/node runc containernetworking-plugins busybox-static >&2
  ln -sf $K/pkgs/node/root/usr/sbin/runc $B/runc
  mkdir -p $K/cni-bin; cp -a $K/pkgs/node/root/usr/lib/cni/* $K/cni-bin/
  cp $K/pkgs/node/root/bin/busybox $B/busybox-bookworm
fi

# The test image's busybox, also tagged as the default collector image busybox:1.37. BusyBox >=
# 1.36 hashes with the SHA-NI instructions (SHA256_HWACCEL): sha256sum of a 256 MiB archive takes
# 0.21 s here against 1.44 s with bookworm's 1.35, and the node hash runs beside the pull's stream.
if ! { [ -x $B/busybox ] && $B/busybox 2>/dev/null | head -1 | grep -Eq 'v1\.(3[6-9]|[4-9][0-9])'; }; then
  log "unpacking busybox-static (Debian trixie)"
  rm -rf $K/pkgs/busybox
  suite_download trixie $K/pkgs/busybox busybox-static >&2
  cp $K/pkgs/busybox/root/usr/bin/busybox $B/busybox.new && mv -f $B/busybox.new $B/busybox
fi
ls -l $B >&2
echo $B
