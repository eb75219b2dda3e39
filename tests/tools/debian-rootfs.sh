#!/bin/bash
# debian-rootfs: a real Debian bookworm minbase root file system for tests and benchmarks, built
# once with mmdebstrap from bookworm, bookworm-updates and bookworm-security (so its packages are
# as current as the archive's, like a maintained system's) and cached as a tarball.
#
#   debian-rootfs.sh            print the path of the cached tarball (building it when absent)
#   debian-rootfs.sh --rebuild  build it again
#
# The cache lives in $GARRISON_CACHE_DIR (default /var/cache/garrison, else ~/.cache/garrison when
# that is not writable). Building needs root and Debian's archive (the mirror apt uses, or
# $DEBIAN_MIRROR, and $DEBIAN_SECURITY_MIRROR); it takes about a minute. Concurrent callers are serialised with flock, so two
# suites that start together build it once. The tarball holds the tree with numeric owners, as
# `docker import` and the scanners expect; nothing else is written outside the cache directory.
set -eu

CACHE=${GARRISON_CACHE_DIR:-/var/cache/garrison}
if ! mkdir -p "$CACHE" 2>/dev/null || [ ! -w "$CACHE" ]; then
	CACHE=$HOME/.cache/garrison
	mkdir -p "$CACHE"
fi
TAR=$CACHE/debian-bookworm-minbase-curl.tar
MIRROR=${DEBIAN_MIRROR:-}
if [ -z "$MIRROR" ]; then
	MIRROR=$(grep -hoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		head -1 | tr -d ' ')
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi
SECURITY=${DEBIAN_SECURITY_MIRROR:-}
if [ -z "$SECURITY" ]; then
	SECURITY=$(grep -hoE 'https?://[^ ]+/debian-security/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
		head -1 | tr -d ' ')
	SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
fi

exec 9>"$CACHE/.debian-rootfs.lock"
flock 9
if [ "${1:-}" = "--rebuild" ]; then rm -f "$TAR"; fi
if [ -s "$TAR" ]; then echo "$TAR"; exit 0; fi

command -v mmdebstrap >/dev/null || { echo "debian-rootfs: mmdebstrap is not installed" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "debian-rootfs: building the root file system needs root" >&2; exit 1; }
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The package set is the one of tests/data/pkgdb/debian-bookworm-minbase (the reference system
# the vulnerability test data were derived from): minbase plus curl, ca-certificates, openssl.
if ! mmdebstrap --variant=minbase --mode=root --include=ca-certificates,curl,openssl \
	bookworm "$WORK/root.tar" \
	"deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" \
	"deb $SECURITY bookworm-security main" >"$WORK/log" 2>&1; then
	tail -20 "$WORK/log" >&2
	echo "debian-rootfs: mmdebstrap failed (mirrors $MIRROR, $SECURITY)" >&2
	exit 1
fi
mv "$WORK/root.tar" "$TAR"
echo "$TAR"
