#!/bin/bash
# Shared settings for the setup scripts: everything is cached outside the repository, under
# PODSLEUTH_CACHE, so a second run is a no-op and a fresh machine builds it all once.
set -euo pipefail
export PODSLEUTH_CACHE=${PODSLEUTH_CACHE:-$HOME/.cache/podsleuth-dev}
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$PODSLEUTH_CACHE"
log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# apt_ready runs 'apt-get update' at most once per boot (apt-cache needs it before any lookup).
apt_ready() {
  local stamp=/tmp/.podsleuth-apt-updated
  [ -f $stamp ] && return 0
  apt-get update -qq >/dev/null 2>&1 || apt-get update -qq
  touch $stamp
}
# suite_download SUITE DIR PKG... downloads Debian packages of another suite with a private apt
# state, leaving the host's own apt state alone, then unpacks each into DIR/root with dpkg -x.
suite_download() {
  local suite=$1 dir=$2; shift 2
  local a=$PODSLEUTH_CACHE/apt-$suite
  mkdir -p $a/lists/partial $a/cache/archives/partial $dir/debs $dir/root
  echo "deb http://deb.debian.org/debian $suite main" > $a/sources.list
  : > $a/status
  local o="-oDir::State::status=$a/status -oDir::Etc::SourceList=$a/sources.list -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists=$a/lists -oDir::Cache=$a/cache -oAcquire::Check-Valid-Until=false"
  [ -n "$(ls $a/lists 2>/dev/null | grep -v partial)" ] || apt-get $o update -qq
  (cd $dir/debs && apt-get $o download "$@" 2>&1 | grep -v 'unsandboxed' | tail -1 || true)
  for f in $dir/debs/*.deb; do dpkg -x "$f" $dir/root; done
}
