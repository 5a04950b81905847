#!/bin/bash
# Installs criu 4.2.1 (Debian sid) with its own libraries under $PODSLEUTH_CACHE/criu, run through
# sid's own dynamic loader (bookworm's criu 3.17 fails on kernels >= 6.x: vDSO; trixie's 4.1.1
# cannot dump TCP sockets on >= 6.16). Prints the wrapper's path. Idempotent.
. "$(dirname "$0")/common.sh"
D=$PODSLEUTH_CACHE/criu
if [ -x $D/bin/criu ] && $D/bin/criu --version 2>/dev/null | grep -q 'Version: 4\.[2-9]'; then echo $D/bin/criu; exit 0; fi
log "installing criu 4.2.1 from Debian sid into $D"
rm -rf $D; mkdir -p $D/bin
suite_download sid $D criu libcompel1 libc6 libbsd0 libmd0 libgnutls30t64 libnet9 libnftables1 libnl-3-200 \
  libprotobuf-c1 libuuid1 libidn2-0 libp11-kit0 libtasn1-6 libunistring5 libnettle8t64 libhogweed6t64 \
  libgmp10 libffi8 libmnl0 libnftnl11 libxtables12 libjansson4 libedit2 libtinfo6 libgcc-s1 libzstd1 liblz4-1 libcap2 >&2
R=$D/root
cat > $D/bin/criu <<W
#!/bin/bash
exec $R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path $R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu $R/usr/sbin/criu "\$@"
W
chmod +x $D/bin/criu
$D/bin/criu --version >&2
echo $D/bin/criu
