#!/bin/bash
# debian-rootfs: a real Debian bookworm minbase root file system for tests and benchmarks, built
# once with debootstrap and cached as a tarball.
#
#   debian-rootfs.sh            print the path of the cached tarball (building it when absent)
#   debian-rootfs.sh --rebuild  build it again
#
# The cache lives in $GARRISON_CACHE_DIR (default /var/cache/garrison, else ~/.cache/garrison when
# that is not writable). Building needs root and Debian's archive (the mirror apt uses, or
# $DEBIAN_MIRROR); it takes about a minute. Concurrent callers are serialised with flock, so two
# suites that start together build it once. The tarball holds the tree with numeric owners, as
# `docker import` and the scanners expect; nothing else is written outside the cache directory.
set -eu

CACHE=${GARRISON_CACHE_DIR:-/var/cache/garrison}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	CACHE=$HOME/.cache/garrison
	mkdir -p "$CACHE"
fi
TAR=$CACHE/debian-bookworm-minbase.tar
MIRROR=${DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
	MIRROR=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		head -1 | tr -d ' ')
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

exec 9>"$CACHE/.debian-rootfs.lock"
flock 9
if [ "${1:-}" = "--rebuild" ]; then rm -f "$TAR"; fi
if [ -s "$TAR" ]; then echo "$TAR"; exit 0; fi

command -v debootstrap >/dev/null || { echo "debian-rootfs: debootstrap is not installed" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "debian-rootfs: building the root file system needs root" >&2; exit 1; }
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if ! debootstrap --variant=minbase bookworm "$WORK/root" "$MIRROR" >"$WORK/log" 2>&1; then
	tail -20 "$WORK/log" >&2
	echo "debian-rootfs: debootstrap failed (mirror $MIRROR)" >&2
	exit 1
fi
# Drop what debootstrap leaves that no image would carry.
rm -rf "$WORK/root/var/cache/apt/archives/"*.deb "$WORK/root/debootstrap"
tar -C "$WORK/root" --numeric-owner -cf "$TAR.tmp" .
mv "$TAR.tmp" "$TAR"
echo "$TAR"
