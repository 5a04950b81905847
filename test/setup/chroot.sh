#!/bin/bash
# Debian trixie tree for container checkpoints: podman 5, crun, runc, conmon, busybox-static, and
# criu 4.2.1 + libcriu2 from sid (trixie's criu 4.1.1 cannot dump TCP sockets on kernels >= 6.16).
# Cached under $PODSLEUTH_CACHE/trixie; nothing is installed into the host root except debootstrap.
#
#   chroot.sh            build the tree if missing (idempotent) and print its path
#   chroot.sh run 'CMD'  run CMD with the tree as the real root of a private mount namespace
#                        (pivot_root, not chroot: CRIU refuses a task whose root differs from its
#                        mount namespace's root). The host dir $PODSLEUTH_CACHE/xchg is at /xchg.
. "$(dirname "$0")/common.sh"
ROOT=$PODSLEUTH_CACHE/trixie
XCHG=$PODSLEUTH_CACHE/xchg
STAMP=$ROOT/.podsleuth-ready

build() {
  [ -f $STAMP ] && return 0
  command -v debootstrap >/dev/null || { apt_ready; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2; }
  if [ ! -x $ROOT/usr/bin/apt-get ]; then
    log "debootstrap trixie into $ROOT (about 1 min)"
    rm -rf $ROOT
    debootstrap --variant=minbase trixie $ROOT http://deb.debian.org/debian >&2
  fi
  echo "deb http://deb.debian.org/debian sid main" > $ROOT/etc/apt/sources.list.d/sid.list
  echo 'Acquire::Check-Valid-Until "false";' > $ROOT/etc/apt/apt.conf.d/99novalid
  printf 'Package: *\nPin: release n=sid\nPin-Priority: 100\n' > $ROOT/etc/apt/preferences.d/sid
  cp -L /etc/resolv.conf $ROOT/etc/resolv.conf 2>/dev/null || true
  log "installing podman, crun, runc and criu 4.2.1 (sid) into the tree"
  # private mount namespace: the /proc, /dev, /sys mounts vanish with it
  unshare --mount --propagation private bash -euc '
    mount -t proc proc $0/proc
    mount --rbind /dev $0/dev
    mount --rbind /sys $0/sys
    mount -t tmpfs tmpfs $0/run
    export DEBIAN_FRONTEND=noninteractive
    chroot $0 apt-get update -qq
    chroot $0 apt-get install -y -qq --no-install-recommends podman crun runc conmon catatonit \
      iproute2 procps busybox-static nftables iptables util-linux ca-certificates zstd
    chroot $0 apt-get install -y -qq --no-install-recommends -t sid criu libcriu2
    chroot $0 apt-get clean
  ' $ROOT >&2
  # podman without systemd on a cgroup v1/hybrid host; CRIU (RPC mode via crun/runc) locks TCP with nftables
  mkdir -p $ROOT/etc/containers $ROOT/etc/criu
  printf '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "crun"\n' > $ROOT/etc/containers/containers.conf
  for f in default crun runc; do echo "network-lock nftables" > $ROOT/etc/criu/$f.conf; done
  chroot $ROOT dpkg-query -W podman crun runc criu conmon busybox-static >&2
  touch $STAMP
}

build
case ${1:-} in
run)
  shift
  mkdir -p $XCHG $ROOT/xchg
  export ROOT XCHG
  exec unshare --mount --propagation private bash -euc '
    mount --bind "$ROOT" "$ROOT"
    mount -t proc proc "$ROOT/proc"
    mount --rbind /sys "$ROOT/sys"
    umount "$ROOT/sys/fs/cgroup/unified" 2>/dev/null || true   # crun refuses hybrid cgroups
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs tmpfs "$ROOT/run"
    mount -t tmpfs tmpfs "$ROOT/tmp"
    mount --bind "$XCHG" "$ROOT/xchg"
    cd "$ROOT"; mkdir -p .oldroot; pivot_root . .oldroot; umount -l /.oldroot
    export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PODMAN_IGNORE_CGROUPSV1_WARNING=1
    exec bash -euc "$0"
  ' "$*" ;;
"") echo $ROOT ;;
*) echo "usage: $0 [run 'CMD']" >&2; exit 2 ;;
esac
