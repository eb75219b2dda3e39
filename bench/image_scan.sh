#!/bin/bash
# image_scan: how fast the image layer reader reads real images and how much memory it needs.
# Prints figures; passes or fails nothing.
#
#   bench/image_scan.sh              B=build (release) binaries; builds tools/image_dump there
#   RUNS=5 BIG_MB=400 bench/image_scan.sh
#
# Starts a private dockerd (tests/tools/dockerd-harness.sh, under $WORK), imports the Debian
# bookworm minbase root file system (tests/tools/debian-rootfs.sh) as test/debian:12, builds a
# large image from it with `docker commit` (BIG_MB MB of random files, 1 MB each, in an extra
# layer), and measures tools/image_dump (the whole scan: layers, whiteouts, secrets, config,
# package list) reading: the Debian image as a docker-archive file, from the engine stream, as an
# OCI layout (gzip layers, made with skopeo), and the large image as a docker-archive and from
# the engine. Wall seconds and peak RSS (GNU time's %M) are the median of RUNS runs; the engine
# runs include the engine's own cost of producing the archive. Environment: B (build), RUNS (3),
# BIG_MB (200), WORK (a new /tmp/gbench-img.XXXXXX), KEEP=1 keeps WORK.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
RUNS=${RUNS:-3}
BIG_MB=${BIG_MB:-200}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
[ -x /usr/bin/time ] || { echo "image_scan: needs GNU time (apt-get install -y time)"; exit 1; }
command -v skopeo >/dev/null || echo "# skopeo missing: the OCI layout row is skipped"
make -s -j2 B="$B" "$B/tools/image_dump" >/dev/null || { echo "image_scan: build failed"; exit 1; }
DUMP=$PWD/$B/tools/image_dump
ROOTFS=$(tests/tools/debian-rootfs.sh) || { echo "image_scan: no Debian root file system"; exit 1; }

WORK=${WORK:-$(mktemp -d /tmp/gbench-img.XXXXXX)}
cleanup() {
	"$HARNESS" stop "$WORK/d" >/dev/null 2>&1
	[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
mkdir -p "$WORK/d"
"$HARNESS" start "$WORK/d" >"$WORK/harness.log" 2>&1 || { cat "$WORK/harness.log"; exit 1; }
dk() { "$HARNESS" docker "$WORK/d" "$@"; }

dk import -c 'CMD ["/bin/bash"]' "$ROOTFS" test/debian:12 >/dev/null
dk run --name bigc test/debian:12 bash -c \
	"mkdir /big && for i in \$(seq 1 $BIG_MB); do head -c 1048576 /dev/urandom > /big/f\$i; done" >/dev/null
dk commit bigc test/big:1 >/dev/null
dk rm bigc >/dev/null
dk save -o "$WORK/deb.tar" test/debian:12
dk save -o "$WORK/big.tar" test/big:1
HAVE_OCI=0
if command -v skopeo >/dev/null && skopeo copy -q "docker-archive:$WORK/deb.tar" "oci:$WORK/oci:12" 2>/dev/null; then
	HAVE_OCI=1
fi

# measure LABEL ARGS...: median seconds and peak RSS of RUNS runs of image_dump ARGS
measure() {
	local label=$1 i line secs=() rss=()
	shift
	"$DUMP" "$@" >"$WORK/out.json" 2>"$WORK/err" || { printf '%-34s failed: %s\n' "$label" "$(head -c 200 "$WORK/err")"; return; }
	local pk layers stored tarb
	pk=$(jq '.packages|length' "$WORK/out.json")
	layers=$(jq '.layers|length' "$WORK/out.json")
	stored=$(jq '.size_stored' "$WORK/out.json")
	tarb=$(jq '.size_tar' "$WORK/out.json")
	for i in $(seq 1 "$RUNS"); do
		line=$(/usr/bin/time -f '%e %M' "$DUMP" "$@" 2>&1 >/dev/null | tail -n 1)
		secs+=("${line% *}")
		rss+=("${line#* }")
	done
	local ms mr
	ms=$(printf '%s\n' "${secs[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
	mr=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
	printf '%-34s %7s s %8.1f MiB %9.1f MB %9.1f MB %6s %4s\n' "$label" "$ms" "$(echo "$mr / 1024" | bc -l)" \
		"$(echo "$stored / 1000000" | bc -l)" "$(echo "$tarb / 1000000" | bc -l)" "$layers" "$pk"
}

echo "# $(nproc) CPUs, $(uname -r), libarchive $(pkg-config --modversion libarchive), RUNS=$RUNS, build $B"
printf '%-34s %9s %12s %12s %12s %6s %4s\n' "source" "seconds" "peak RSS" "stored" "tar bytes" "layers" "pkgs"
measure "debian docker-archive (file)" --docker-archive "$WORK/deb.tar"
measure "debian engine stream" --engine "$WORK/d/docker.sock" test/debian:12
[ "$HAVE_OCI" = 1 ] && measure "debian OCI layout (gzip)" --oci-dir "$WORK/oci"
measure "debian+${BIG_MB}MB docker-archive (file)" --docker-archive "$WORK/big.tar"
measure "debian+${BIG_MB}MB engine stream" --engine "$WORK/d/docker.sock" test/big:1
s=$(date +%s.%N); curl -s --unix-socket "$WORK/d/docker.sock" http://docker/images/test/big:1/get >/dev/null; e=$(date +%s.%N)
printf '# reference: the engine alone producing the big archive (curl > /dev/null) %.2f s\n' "$(echo "$e - $s" | bc -l)"
s=$(date +%s.%N); cat "$WORK/big.tar" >/dev/null; e=$(date +%s.%N)
printf '# reference: cat of the big archive (page cache) %.2f s; sha256sum of it:' "$(echo "$e - $s" | bc -l)"
s=$(date +%s.%N); sha256sum "$WORK/big.tar" >/dev/null; e=$(date +%s.%N)
printf ' %.2f s\n' "$(echo "$e - $s" | bc -l)"
