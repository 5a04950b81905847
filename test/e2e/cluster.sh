#!/bin/bash
# The real single-node test cluster of podsleuth's e2e suite:
#   etcd + kube-apiserver v1.37.2 (RBAC, audit log) + kube-controller-manager (Jobs: job, TTL-after-
#   finished and garbage-collector controllers only) + containerd v2.4.2 (CRIU enabled) + runc + criu 4.2.1
#   + a real kubelet v1.37.2 (ContainerCheckpoint gate) as Node "podsleuth-node"
#   + a kubelet stand-in (test/e2e/fakekubelet) as Node "podsleuth-fake" for error classes a real
#     kubelet cannot produce on demand, and Node "podsleuth-gone" whose kubelet address answers nothing.
#
# Usage: cluster.sh up|down|status|kubeconfig|env|import-image FILE
#   up          start everything (idempotent: a healthy running cluster is left as it is); < 60 s warm
#   down        delete pods (so their shims exit), stop every process by PID, unmount, remove the CNI
#               bridge and IPAM state; nothing is left running
#   kubeconfig  print the path of the kubeconfig (contexts podsleuth-admin, podsleuth-responder,
#               podsleuth-nobody; the current one is admin)
#   env         print shell exports (KUBECONFIG, node names, image names, paths)
#   status      print what runs
#   import-image FILE   import an OCI image archive (make analyzer-image) into the node's containerd
#               (namespace k8s.io, what the kubelet uses) under its name and its digest, so a pod
#               pinned to NAME@sha256:... starts offline (imagePullPolicy Never/IfNotPresent);
#               prints NAME@sha256:...; idempotent
# All state lives under $PODSLEUTH_CLUSTER_DIR (default $PODSLEUTH_CACHE/run/cluster), never in the
# repository. Binaries come from $PODSLEUTH_K8S_BIN (test/setup/k8s.sh) and criu from $PODSLEUTH_CRIU.
# The API server refuses to proxy to loopback node addresses (pkg/registry/core/node/strategy.go,
# isProxyableHostname), so the kubelets listen on this machine's own global-unicast address.
set -euo pipefail
# `flock LOCK cluster.sh up` hands the lock's descriptor to this script; the daemons started here
# would inherit it and keep the team's cluster lock held after the command ends (everyone's next
# flock then waits forever). The flock process keeps the lock; this script needs no copy of it.
for _fd in /proc/$$/fd/*; do
  _n=${_fd##*/}
  [ "$_n" -gt 2 ] 2>/dev/null || continue
  case $(readlink "$_fd" 2>/dev/null) in *.lock) eval "exec $_n>&-" ;; esac
done
unset _fd _n
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
B=${PODSLEUTH_K8S_BIN:-$PODSLEUTH_CACHE/k8s/bin}
CNIBIN=${PODSLEUTH_CNI_BIN:-$(dirname "$B")/cni-bin}
CRIU=${PODSLEUTH_CRIU:-$PODSLEUTH_CACHE/criu/bin/criu}
R=${PODSLEUTH_CLUSTER_DIR:-$PODSLEUTH_CACHE/run/cluster}
P=$R/pki; L=$R/logs; RUN=$R/pids
API_PORT=${PODSLEUTH_API_PORT:-36443}
ETCD_PORT=${PODSLEUTH_ETCD_PORT:-36379}
KUBELET_PORT=${PODSLEUTH_KUBELET_PORT:-10250}
FAKE_PORT=${PODSLEUTH_FAKE_KUBELET_PORT:-10255}
GONE_PORT=${PODSLEUTH_GONE_KUBELET_PORT:-10259}
NODE=podsleuth-node; FAKE=podsleuth-fake; GONE=podsleuth-gone
BRIDGE=psl0; SUBNET=10.244.77.0/24
IMG_BUSYBOX=podsleuth.local/busybox:1; IMG_PAUSE=podsleuth.local/pause:1
# The collector's default image (config cluster.collector_image) is tagged too, so the default
# configuration works offline against this cluster.
IMG_BUSYBOX_ALIAS=docker.io/library/busybox:1.37
KC=$R/kubeconfig
SOCK=$R/containerd/containerd.sock

log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
node_ip() {
  local ip=${PODSLEUTH_NODE_IP:-}
  [ -n "$ip" ] || ip=$(ip -4 route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
  [ -n "$ip" ] || ip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  [ -n "$ip" ] || die "no global-unicast IPv4 address on this machine (set PODSLEUTH_NODE_IP)"
  echo "$ip"
}
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
# api METHOD PATH [BODY] as admin, through curl (no kubectl needed); prints the body, fails on >= 400
api() {
  local m=$1 p=$2 body=${3:-}
  local args=(-sS --cacert "$P/ca.crt" -H "Authorization: Bearer podsleuth-admin-token" -X "$m" -w '\n%{http_code}')
  [ -n "$body" ] && args+=(-H "Content-Type: application/yaml" --data-binary "$body")
  local out code
  out=$(curl "${args[@]}" "https://127.0.0.1:$API_PORT$p") || return 1
  code=${out##*$'\n'}; out=${out%$'\n'*}
  if [ "$code" -ge 400 ] && ! { [ "$m" = POST ] && [ "$code" = 409 ]; } && ! { [ "$m" = DELETE ] && [ "$code" = 404 ]; }; then
    echo "$m $p -> $code: $out" >&2; return 1
  fi
  printf '%s' "$out"
}
ctr_() { "$B/ctr" -a "$SOCK" -n k8s.io "$@"; }

healthy() {
  alive etcd && alive apiserver && alive controller-manager && alive containerd && alive kubelet && alive fakekubelet &&
    curl -sf --cacert "$P/ca.crt" -H "Authorization: Bearer podsleuth-admin-token" \
      "https://127.0.0.1:$API_PORT/api/v1/nodes/$NODE" 2>/dev/null | tr -d ' \n' | grep -q '"type":"Ready","status":"True"'
}

check_bins() {
  local b
  for b in etcd kube-apiserver kube-controller-manager kubelet containerd containerd-shim-runc-v2 ctr runc busybox; do
    [ -x "$B/$b" ] || die "$B/$b missing: run test/setup/k8s.sh (make setup)"
  done
  [ -x "$CNIBIN/bridge" ] || die "CNI plugins missing in $CNIBIN: run test/setup/k8s.sh"
  [ -x "$CRIU" ] || die "criu 4.2.1 missing at $CRIU: run test/setup/criu.sh"
}

gen_pki() {
  local ip=$1
  [ -f "$P/.done-$ip" ] && return 0
  rm -rf "$P"; mkdir -p "$P"; (
  cd "$P"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=podsleuth-test-ca" 2>/dev/null
  cert() { # name subj ext
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    printf '%b' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -out "$1.crt" -days 3650 -extfile "$1.ext" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" "subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:$ip,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\n"
  cert kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth\n"
  cert kubelet "/O=system:nodes/CN=system:node:$NODE" "subjectAltName=IP:$ip,DNS:$NODE\nextendedKeyUsage=serverAuth\n"
  cert fakekubelet "/O=system:nodes/CN=system:node:$FAKE" "subjectAltName=IP:$ip,DNS:$FAKE\nextendedKeyUsage=serverAuth\n"
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  # token,user,uid,"groups": admin; a responder holding only docs/rbac.yaml's roles; a user with nothing
  cat > tokens.csv <<EOT
podsleuth-admin-token,admin,uid-admin,"system:masters"
podsleuth-kubelet-token,system:node:$NODE,uid-node,"system:masters"
podsleuth-responder-token,responder,uid-responder,"podsleuth:responders"
podsleuth-nobody-token,nobody,uid-nobody
EOT
  )
  touch "$P/.done-$ip"
}

write_kubeconfig() {
  cat > "$KC" <<EOT
apiVersion: v1
kind: Config
clusters:
- name: podsleuth-test
  cluster: {server: "https://127.0.0.1:$API_PORT", certificate-authority: "$P/ca.crt"}
users:
- {name: admin, user: {token: podsleuth-admin-token}}
- {name: responder, user: {token: podsleuth-responder-token}}
- {name: nobody, user: {token: podsleuth-nobody-token}}
contexts:
- {name: podsleuth-admin, context: {cluster: podsleuth-test, user: admin, namespace: default}}
- {name: podsleuth-responder, context: {cluster: podsleuth-test, user: responder, namespace: default}}
- {name: podsleuth-nobody, context: {cluster: podsleuth-test, user: nobody, namespace: default}}
current-context: podsleuth-admin
EOT
  sed 's/podsleuth-admin-token/podsleuth-kubelet-token/; s/current-context: podsleuth-admin/current-context: podsleuth-admin/' "$KC" > "$R/kubelet.kubeconfig"
  chmod 600 "$KC" "$R/kubelet.kubeconfig"
}

start_etcd() {
  alive etcd && return 0
  rm -rf "$R/etcd"; mkdir -p "$R/etcd"
  "$B/etcd" --name podsleuth --data-dir "$R/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT+1))" \
    --initial-cluster "podsleuth=http://127.0.0.1:$((ETCD_PORT+1))" \
    --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn > "$L/etcd.log" 2>&1 &
  echo $! > "$RUN/etcd.pid"
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && return 0; alive etcd || break; sleep 0.1; done
  tail -5 "$L/etcd.log" >&2; die "etcd did not start"
}

start_apiserver() {
  alive apiserver && return 0
  cat > "$R/audit-policy.yaml" <<EOT
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: ["system:node:$NODE"]
- level: Metadata
EOT
  "$B/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --client-ca-file="$P/ca.crt" --token-auth-file="$P/tokens.csv" \
    --authorization-mode=RBAC --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --kubelet-client-certificate="$P/kubelet-client.crt" --kubelet-client-key="$P/kubelet-client.key" \
    --kubelet-certificate-authority="$P/ca.crt" \
    --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname \
    --audit-policy-file="$R/audit-policy.yaml" --audit-log-path="$L/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 > "$L/apiserver.log" 2>&1 &
  echo $! > "$RUN/apiserver.pid"
  for _ in $(seq 300); do
    curl -sf --cacert "$P/ca.crt" -H "Authorization: Bearer podsleuth-admin-token" "https://127.0.0.1:$API_PORT/readyz" >/dev/null 2>&1 && return 0
    alive apiserver || break; sleep 0.2
  done
  tail -20 "$L/apiserver.log" >&2; die "kube-apiserver did not become ready"
}

# start_controller_manager runs only the controllers podsleuth's Jobs need: the Job controller (pods,
# retries, backoff), TTL-after-finished (cleanup of finished Jobs) and the garbage collector (a
# deleted Job's pods go with it). No service-account token or namespace controller: the other
# tests create what they need themselves, as before.
start_controller_manager() {
  alive controller-manager && return 0
  sed 's/current-context: .*/current-context: podsleuth-admin/' "$KC" > "$R/controller-manager.kubeconfig"
  chmod 600 "$R/controller-manager.kubeconfig"
  "$B/kube-controller-manager" \
    --kubeconfig="$R/controller-manager.kubeconfig" \
    --controllers=job-controller,ttl-after-finished-controller,garbage-collector-controller \
    --leader-elect=false --secure-port=0 --concurrent-job-syncs=5 \
    > "$L/controller-manager.log" 2>&1 &
  echo $! > "$RUN/controller-manager.pid"
  sleep 0.5
  alive controller-manager || { tail -20 "$L/controller-manager.log" >&2; die "kube-controller-manager did not start"; }
}

make_images() {
  local I=$R/images
  # rebuilt when the busybox binary or the tags change
  local stamp; stamp="$(sha256sum "$B/busybox" | cut -d' ' -f1) $IMG_BUSYBOX $IMG_BUSYBOX_ALIAS $IMG_PAUSE"
  [ -f "$I/busybox.tar" ] && [ -f "$I/pause.tar" ] && [ "$(cat "$I/stamp" 2>/dev/null)" = "$stamp" ] && return 0
  rm -rf "$I"; mkdir -p "$I/root/bin" "$I/root/tmp" "$I/root/etc"
  cp "$B/busybox" "$I/root/bin/busybox"
  for a in $("$B/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$I/root/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$I/root/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >> "$I/root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$I/root/etc/group"
  tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$I/root" -cf "$I/layer.tar" .
  local l; l=$(sha256sum "$I/layer.tar" | cut -d' ' -f1)
  mk() { # name cmd-json tag...
    local n=$1 cmd=$2; shift 2
    local d=$I/$n; mkdir -p "$d"; cp "$I/layer.tar" "$d/"
    printf '{"architecture":"amd64","os":"linux","config":{"Cmd":%s,"Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$cmd" "$l" > "$d/config.json"
    local tags; tags=$(printf '"%s",' "$@"); tags=${tags%,}
    printf '[{"Config":"config.json","RepoTags":[%s],"Layers":["layer.tar"]}]' "$tags" > "$d/manifest.json"
    tar -C "$d" -cf "$I/$n.tar" config.json manifest.json layer.tar
  }
  mk busybox '["/bin/sh"]' "$IMG_BUSYBOX" "$IMG_BUSYBOX_ALIAS"
  mk pause '["/bin/sleep","2147483647"]' "$IMG_PAUSE"
  echo "$stamp" > "$I/stamp"
}

start_containerd() {
  alive containerd && return 0
  local C=$R/containerd; mkdir -p "$C" "$R/cni-conf" "$R/criu-bin"
  ln -sf "$CRIU" "$R/criu-bin/criu"
  cat > "$R/cni-conf/10-podsleuth.conflist" <<EOT
{"cniVersion":"1.0.0","name":"podsleuth","plugins":[
 {"type":"bridge","bridge":"$BRIDGE","isGateway":true,"ipMasq":false,
  "ipam":{"type":"host-local","dataDir":"$R/cni-ipam","ranges":[[{"subnet":"$SUBNET"}]],"routes":[{"dst":"0.0.0.0/0"}]}},
 {"type":"loopback"}]}
EOT
  cat > "$C/config.toml" <<EOT
version = 3
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$SOCK"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$IMG_PAUSE"
[plugins.'io.containerd.cri.v1.runtime']
  # VMs without CAP_SYS_RESOURCE cannot set negative oom_score_adj (runc: "can't get final child's PID from pipe")
  restrict_oom_score_adj = true
  enable_criu = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$B/runc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNIBIN"]
    conf_dir = "$R/cni-conf"
EOT
  # runc runs plain "criu" from PATH: criu 4.2.1 must come first (Debian's 3.17 fails on this kernel).
  PATH="$R/criu-bin:$B:$PATH" "$B/containerd" --config "$C/config.toml" > "$L/containerd.log" 2>&1 &
  echo $! > "$RUN/containerd.pid"
  for _ in $(seq 150); do
    [ -S "$SOCK" ] && "$B/ctr" -a "$SOCK" version >/dev/null 2>&1 && break
    alive containerd || { tail -20 "$L/containerd.log" >&2; die "containerd died"; }; sleep 0.2
  done
  [ -S "$SOCK" ] || die "containerd did not start"
  local i
  for i in busybox pause; do ctr_ images import --no-unpack=false "$R/images/$i.tar" >/dev/null 2>&1 || die "import $i image"; done
}

# /etc/criu/runc.conf: runc hands it to CRIU; this machine has no iptables, so the network lock
# must use nftables. Created only if absent, removed on down only if we created it.
criu_conf() {
  if [ ! -f /etc/criu/runc.conf ]; then
    mkdir -p /etc/criu; echo 'network-lock nftables' > /etc/criu/runc.conf; touch "$R/.created-runc-conf"
  fi
}

start_kubelet() {
  alive kubelet && return 0
  local ip=$1 K=$R/kubelet; mkdir -p "$K"
  cat > "$R/kubelet-config.yaml" <<EOT
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$SOCK
address: $ip
port: $KUBELET_PORT
readOnlyPort: 0
healthzPort: 0
tlsCertFile: $P/kubelet.crt
tlsPrivateKeyFile: $P/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: AlwaysAllow}
failSwapOn: false
resolvConf: /etc/resolv.conf
enforceNodeAllocatable: []
evictionHard: {memory.available: "1Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
featureGates: {ContainerCheckpoint: true}
EOT
  "$B/kubelet" --config="$R/kubelet-config.yaml" --kubeconfig="$R/kubelet.kubeconfig" --root-dir="$K" \
    --hostname-override="$NODE" --node-ip="$ip" -v=1 > "$L/kubelet.log" 2>&1 &
  echo $! > "$RUN/kubelet.pid"
}

start_fakekubelet() {
  alive fakekubelet && return 0
  local ip=$1
  (cd "$REPO" && go build -o "$R/bin/fakekubelet" ./test/e2e/fakekubelet) || die "build fakekubelet"
  "$R/bin/fakekubelet" -addr "$ip:$FAKE_PORT" -cert "$P/fakekubelet.crt" -key "$P/fakekubelet.key" \
    -client-ca "$P/ca.crt" -checkpoint-dir "$R/kubelet/checkpoints" > "$L/fakekubelet.log" 2>&1 &
  echo $! > "$RUN/fakekubelet.pid"
  for _ in $(seq 50); do grep -q listening "$L/fakekubelet.log" 2>/dev/null && return 0; alive fakekubelet || break; sleep 0.1; done
  cat "$L/fakekubelet.log" >&2; die "fakekubelet did not start"
}

register_stand_in_nodes() {
  local ip=$1 n port
  for n in "$FAKE:$FAKE_PORT" "$GONE:$GONE_PORT"; do
    port=${n#*:}; n=${n%%:*}
    api POST /api/v1/nodes "apiVersion: v1
kind: Node
metadata: {name: $n, labels: {kubernetes.io/hostname: $n, podsleuth.dev/stand-in: \"true\"}}" >/dev/null
    # status: a kubelet v1.37.2 running containerd, reachable (or not) at ip:port
    curl -sf --cacert "$P/ca.crt" -H "Authorization: Bearer podsleuth-admin-token" -X PATCH \
      -H "Content-Type: application/merge-patch+json" "https://127.0.0.1:$API_PORT/api/v1/nodes/$n/status" \
      --data-binary "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"$ip\"},{\"type\":\"Hostname\",\"address\":\"$n\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":$port}},\"nodeInfo\":{\"kubeletVersion\":\"v1.37.2\",\"containerRuntimeVersion\":\"containerd://2.4.2\",\"kubeProxyVersion\":\"\",\"machineID\":\"\",\"systemUUID\":\"\",\"bootID\":\"\",\"kernelVersion\":\"\",\"osImage\":\"stand-in\",\"operatingSystem\":\"linux\",\"architecture\":\"amd64\"},\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"StandIn\",\"message\":\"podsleuth kubelet stand-in\",\"lastHeartbeatTime\":\"$(date -u +%FT%TZ)\",\"lastTransitionTime\":\"$(date -u +%FT%TZ)\"}]}}" >/dev/null \
      || die "patch node $n status"
  done
}

bootstrap_objects() {
  local ns
  for ns in default podsleuth-system; do
    api POST /api/v1/namespaces "apiVersion: v1
kind: Namespace
metadata: {name: $ns}" >/dev/null
    api POST "/api/v1/namespaces/$ns/serviceaccounts" "apiVersion: v1
kind: ServiceAccount
metadata: {name: default}" >/dev/null
  done
  # the least-privilege roles the docs describe, bound to the responder's group
  local doc
  while IFS= read -r -d $'\x1e' doc; do
    [ -n "$(echo "$doc" | grep -v '^\s*#' | tr -d '[:space:]')" ] || continue
    local kind ns path
    kind=$(echo "$doc" | sed -n 's/^kind: *//p' | head -1)
    ns=$(echo "$doc" | sed -n 's/^  namespace: *//p' | head -1)
    case $kind in
      # the admission policy and its parameters: ensure_admission, once the images are in
      ConfigMap|ValidatingAdmissionPolicy|ValidatingAdmissionPolicyBinding) continue ;;
      Namespace) path=/api/v1/namespaces ;;
      ClusterRole) path=/apis/rbac.authorization.k8s.io/v1/clusterroles ;;
      ClusterRoleBinding) path=/apis/rbac.authorization.k8s.io/v1/clusterrolebindings ;;
      Role) path=/apis/rbac.authorization.k8s.io/v1/namespaces/$ns/roles ;;
      RoleBinding) path=/apis/rbac.authorization.k8s.io/v1/namespaces/$ns/rolebindings ;;
      *) die "docs/rbac.yaml: unexpected kind $kind" ;;
    esac
    api POST "$path" "$doc" >/dev/null || die "apply docs/rbac.yaml ($kind)"
  done < <(awk '/^---/{printf "\x1e"; next} {print} END{printf "\x1e"}' "$REPO/docs/rbac.yaml")
}

# The images by digest: the digest containerd gives the imported busybox image, as a digest
# reference the kubelet resolves offline (podsleuth.local/busybox@sha256:D), written to
# images/busybox.pinned as podsleuth.local/busybox:1@sha256:D (tests pin their collector and helper
# image with it). The default collector image (config cluster.collector_image, Docker Hub's
# busybox:1.37 pinned by digest) is aliased to the same local image, as its tag already is.
IMG_BUSYBOX_DEFAULT=docker.io/library/busybox:1.37@sha256:9db7b59979c38555a39def84a31fb98b5296952f9e3afd4f6f11f05b07adfab0
pin_images() {
  local d
  d=$(ctr_ images ls "name==$IMG_BUSYBOX" 2>/dev/null | awk 'NR == 2 {print $3}')
  case $d in sha256:*) ;; *) die "no digest for $IMG_BUSYBOX in containerd" ;; esac
  ctr_ images tag --force "$IMG_BUSYBOX" "${IMG_BUSYBOX%:*}@$d" >/dev/null || die "tag ${IMG_BUSYBOX%:*}@$d"
  ctr_ images tag --force "$IMG_BUSYBOX" "docker.io/library/busybox@${IMG_BUSYBOX_DEFAULT#*@}" >/dev/null || die "tag the default collector image"
  echo "$IMG_BUSYBOX@$d" > "$R/images/busybox.pinned"
}

# docs/rbac.yaml's admission policy, its bindings and its parameters for this cluster: the
# kubelet's checkpoint directory (its --root-dir is $R/kubelet) and the pinned images. Applied on
# every up (a running cluster too), replacing what an earlier version applied.
ensure_admission() {
  local pinned doc kind name path
  pinned=$(cat "$R/images/busybox.pinned")
  while IFS= read -r -d $'\x1e' doc; do
    kind=$(echo "$doc" | sed -n 's/^kind: *//p' | head -1)
    name=$(echo "$doc" | sed -n 's/^  name: *//p' | head -1)
    case $kind in
      ConfigMap)
        path=/api/v1/namespaces/podsleuth-system/configmaps
        doc=$(echo "$doc" | sed "s|^  checkpointDir: .*|  checkpointDir: $R/kubelet/checkpoints|; s|^  collectorImages: .*|  collectorImages: $pinned $IMG_BUSYBOX_DEFAULT|; s|^  helperImages: .*|  helperImages: $pinned $IMG_BUSYBOX_DEFAULT|") ;;
      ValidatingAdmissionPolicy) path=/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies ;;
      ValidatingAdmissionPolicyBinding) path=/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings ;;
      *) continue ;;
    esac
    api DELETE "$path/$name" >/dev/null || die "delete $kind $name"
    api POST "$path" "$doc" >/dev/null || die "apply docs/rbac.yaml ($kind $name)"
  done < <(awk '/^---/{printf "\x1e"; next} {print} END{printf "\x1e"}' "$REPO/docs/rbac.yaml")
  # the API server loads a new policy, binding and parameters asynchronously (informers): wait
  # until a pod of no podsleuth shape is refused (dry run), so no test runs before it applies
  local probe="apiVersion: v1
kind: Pod
metadata: {name: podsleuth-admission-probe, namespace: podsleuth-system}
spec: {containers: [{name: x, image: $IMG_BUSYBOX}]}" err
  for _ in $(seq 120); do
    if err=$(api POST "/api/v1/namespaces/podsleuth-system/pods?dryRun=All" "$probe" 2>&1 >/dev/null); then
      sleep 0.5; continue
    fi
    case $err in *podsleuth-workloads*) return 0 ;; esac
    sleep 0.5
  done
  die "docs/rbac.yaml's admission policy does not apply after 60 s (last answer: ${err:-admitted})"
}

wait_node_ready() {
  for _ in $(seq 240); do
    curl -sf --cacert "$P/ca.crt" -H "Authorization: Bearer podsleuth-admin-token" \
      "https://127.0.0.1:$API_PORT/api/v1/nodes/$NODE" 2>/dev/null | tr -d ' \n' | grep -q '"type":"Ready","status":"True"' && return 0
    alive kubelet || { tail -20 "$L/kubelet.log" >&2; die "kubelet died"; }
    sleep 0.25
  done
  tail -30 "$L/kubelet.log" >&2; die "node $NODE not Ready"
}

up() {
  if healthy; then pin_images; ensure_admission; log "already up ($KC)"; return 0; fi
  check_bins
  local t0=$SECONDS ip; ip=$(node_ip)
  mkdir -p "$R" "$L" "$RUN" "$R/bin"
  gen_pki "$ip"; write_kubeconfig; make_images; criu_conf
  start_etcd; start_apiserver
  bootstrap_objects
  start_controller_manager
  start_containerd; start_kubelet "$ip"; start_fakekubelet "$ip"
  register_stand_in_nodes "$ip"
  pin_images; ensure_admission
  wait_node_ready
  echo "$ip" > "$R/node-ip"
  log "up in $((SECONDS - t0)) s: KUBECONFIG=$KC (nodes $NODE real, $FAKE stand-in, $GONE unreachable)"
}

stop_pid() { # name [tenths of a second to wait before SIGKILL]
  local n=$1 f=$RUN/$1.pid p
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if kill "$p" 2>/dev/null; then
    for _ in $(seq "${2:-100}"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null
  fi
  rm -f "$f"
}

down() {
  [ -d "$R" ] || { log "nothing to stop"; return 0; }
  local t0=$SECONDS
  # pods first, so the kubelet stops their containers and the shims exit
  if alive apiserver && alive kubelet && [ -S "$SOCK" ]; then
    local nss ns
    nss=$(api GET /api/v1/namespaces 2>/dev/null | sed -n 's/^ *"name": *"\([^"]*\)".*/\1/p' | sort -u || true)
    for ns in $nss; do
      api DELETE "/api/v1/namespaces/$ns/pods?gracePeriodSeconds=0" >/dev/null 2>&1 || true
    done
    # the kubelet confirms each deletion once the pod's containers are stopped
    for _ in $(seq 80); do
      api GET "/api/v1/pods?fieldSelector=spec.nodeName%3D$NODE" 2>/dev/null | tr -d ' \n' | grep -q '"items":\[\]' &&
        ! ctr_ tasks ls 2>/dev/null | grep -q RUNNING && break
      sleep 0.25
    done
  fi
  log "pods deleted ($((SECONDS - t0)) s)"
  stop_pid kubelet
  # whatever the kubelet did not stop: kill the tasks, then the shims (our containerd's only)
  if alive containerd && [ -S "$SOCK" ]; then
    local t
    for t in $(ctr_ tasks ls 2>/dev/null | awk '$3 == "RUNNING" {print $1}'); do ctr_ tasks kill -s KILL "$t" >/dev/null 2>&1 || true; done
    for _ in $(seq 20); do ctr_ tasks ls 2>/dev/null | grep -q RUNNING || break; sleep 0.1; done
    for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  log "tasks stopped ($((SECONDS - t0)) s)"
  # containerd v2.4 hangs after "Stop CRI service" until killed; its tasks are gone by now
  stop_pid containerd 30
  local sp
  for sp in $(pgrep -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null); do kill "$sp" 2>/dev/null || true; done
  stop_pid fakekubelet; stop_pid controller-manager; stop_pid apiserver; stop_pid etcd
  # mounts under our state dir (kubelet volumes, containerd snapshots, shm), deepest first
  local m
  for m in $(awk -v d="$R/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  # network namespaces containerd pinned for pod sandboxes (cni-*) that no process uses any more
  local n
  for n in $(ls /var/run/netns 2>/dev/null | grep '^cni-' || true); do
    [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && ip netns del "$n" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -rf "$R/cni-ipam"
  # pod cgroups the kubelet made (cgroupfs driver): kubepods under each v1 controller / the v2 tree
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods /sys/fs/cgroup/unified/kubepods; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  if [ -f "$R/.created-runc-conf" ]; then
    rm -f /etc/criu/runc.conf; rmdir /etc/criu 2>/dev/null || true; rm -f "$R/.created-runc-conf"
  fi
  # state, but keep the PKI and images for a fast warm start
  rm -rf "$R/etcd" "$R/kubelet" "$R/containerd" "$R/pids"
  log "down in $((SECONDS - t0)) s"
}

import_image() {
  local f=${1:-}
  [ -n "$f" ] && [ -f "$f" ] || die "import-image: no such file '${f}'"
  healthy || die "import-image: the cluster is not running (cluster.sh up)"
  # the name and manifest digest the archive's index.json gives its one image
  local meta name digest repo
  meta=$(tar -xOf "$f" index.json 2>/dev/null | python3 -c '
import json, sys
m = json.load(sys.stdin)["manifests"]
assert len(m) == 1, "want one image"
n = m[0]["annotations"]["io.containerd.image.name"]
last = n.rsplit("/", 1)[-1]
repo = n[: len(n) - len(last)] + last.split(":", 1)[0]
print(n, m[0]["digest"], repo)') || die "import-image: $f is not an OCI archive of one named image (make analyzer-image)"
  read -r name digest repo <<< "$meta"
  ctr_ images import --no-unpack=false "$f" >/dev/null 2>&1 || die "import-image: ctr images import $f failed"
  local got; got=$(ctr_ images ls "name==$name" 2>/dev/null | awk 'NR == 2 {print $3}')
  [ "$got" = "$digest" ] || die "import-image: containerd has $name at '$got', the archive says $digest"
  # the CRI resolves a digest reference by an image record of that name
  ctr_ images tag --force "$name" "$repo@$digest" >/dev/null 2>&1 || die "import-image: tag $repo@$digest"
  echo "$repo@$digest"
}

status() {
  local n
  for n in etcd apiserver controller-manager containerd kubelet fakekubelet; do
    if alive $n; then echo "$n: running (pid $(cat "$RUN/$n.pid"))"; else echo "$n: stopped"; fi
  done
  healthy && echo "cluster: ready ($KC)" || { echo "cluster: not ready"; return 1; }
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  kubeconfig) echo "$KC" ;;
  import-image) import_image "${2:-}" ;;
  env)
    echo "export KUBECONFIG=$KC"
    echo "export PODSLEUTH_TEST_KUBECONFIG=$KC"
    echo "export PODSLEUTH_TEST_NODE=$NODE PODSLEUTH_TEST_FAKE_NODE=$FAKE PODSLEUTH_TEST_GONE_NODE=$GONE"
    echo "export PODSLEUTH_TEST_IMAGE=$IMG_BUSYBOX PODSLEUTH_TEST_AUDIT_LOG=$L/audit.log"
    echo "export PODSLEUTH_TEST_IMAGE_PINNED=$(cat "$R/images/busybox.pinned" 2>/dev/null)"
    echo "export PODSLEUTH_TEST_CHECKPOINT_DIR=$R/kubelet/checkpoints"
    ;;
  *) echo "usage: $0 up|down|status|kubeconfig|env|import-image FILE" >&2; exit 2 ;;
esac
