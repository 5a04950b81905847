#!/bin/bash
# Debian packages the tests use on the host: tmux (TUI end-to-end), chromium (HTML reports),
# iproute2/nftables (sandbox, cluster node), openssl (test PKI), zstd (fixtures), util-linux,
# libyara-dev + golang-github-hillu-go-yara-dev (the YARA engine and go-yara's source, linked with
# -tags yara; go.mod replaces github.com/hillu/go-yara/v4 with it) and yara (the reference CLI),
# python3-securesystemslib (an independent check of the DSSE signatures of evidence bundles).
. "$(dirname "$0")/common.sh"
want="tmux chromium iproute2 nftables openssl zstd util-linux procps gcc libc6-dev conntrack iptables socat jq curl bc time libyara-dev golang-github-hillu-go-yara-dev yara python3-securesystemslib"
missing=""
for p in $want; do dpkg-query -W -f='${Status}' $p 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
log "apt-get install$missing"
apt_ready
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
