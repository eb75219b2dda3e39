#!/bin/bash
# The image layer reader against real images from a private Docker engine (needs root, Debian's
# docker.io, busybox-static, skopeo and debootstrap or a cached root file system).
# tests/tools/debian-rootfs.sh gives the Debian bookworm minbase root file system; it is imported
# as test/debian:12 and read by tests/tools/image_dump four ways: (1) from the engine stream
# (GET /images/{name}/get), (2) from `docker save` output, (3) as an OCI layout made by
# `skopeo copy docker-archive:... oci:DIR:tag`, (4) as a tar of that layout. Each time the
# package list must equal `dpkg-query -W --admindir=` of the same root file system (extracted
# here for the comparison). Then a three-layer busybox image made with `docker commit` (a file
# deleted, a private key added then deleted, a directory replaced) checks whiteouts end to end,
# from the engine and from `docker save`. Everything is removed on exit.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
DUMP=$TOOLS/image_dump

skip() {
	echo "image_scan: skipped: $*"
	t_done
	exit 0
}
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || skip "dockerd is not installed (apt-get install -y docker.io busybox-static)"
command -v skopeo >/dev/null || skip "skopeo is not installed (apt-get install -y skopeo)"
command -v jq >/dev/null || skip "jq is not installed"
[ "$(id -u)" -eq 0 ] || skip "needs root (dockerd)"
if [ ! -x "$DUMP" ]; then
	not_ok "image_dump is built ($DUMP)"
	t_done
	exit 1
fi
ROOTFS=$(tests/tools/debian-rootfs.sh) || skip "no Debian root file system (tests/tools/debian-rootfs.sh failed: needs debootstrap and Debian's archive)"

D=$(mktemp -d /tmp/h4-is.XXXXXX)
cleanup() {
	"$HARNESS" stop "$D" >/dev/null 2>&1
	rm -rf "$D"
}
trap cleanup EXIT
dk() { "$HARNESS" docker "$D" "$@"; }

if ! "$HARNESS" start "$D" >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd"
	t_done
	exit 1
fi
ok "start a private dockerd"

# The expected list, from the root file system itself (only the dpkg database is extracted).
mkdir -p "$D/root"
tar -C "$D/root" -xf "$ROOTFS" ./var/lib/dpkg 2>"$D/untar.log"
dpkg-query -W -f '${Package} ${Version}\n' --admindir="$D/root/var/lib/dpkg" | sort >"$D/want.txt"
NWANT=$(wc -l <"$D/want.txt")
check "dpkg-query lists the root file system's packages ($NWANT)" test "$NWANT" -gt 50

dk import -c 'CMD ["/bin/bash"]' -c 'ENV GARRISON_T=1' -c 'USER nobody' -c 'EXPOSE 8080' \
	"$ROOTFS" test/debian:12 >/dev/null
check "docker import the Debian root file system as test/debian:12" dk image inspect test/debian:12 >/dev/null
DIFF_ID=$(dk image inspect -f '{{index .RootFS.Layers 0}}' test/debian:12)

# same_pkgs NAME JSON: the JSON's packages equal want.txt
same_pkgs() {
	jq -r '.packages[] | "\(.name) \(.version)"' "$2" | sort >"$D/got-$1.txt"
	if diff -u "$D/want.txt" "$D/got-$1.txt" >"$D/diff-$1.txt"; then
		ok "$1: package list equals dpkg-query ($NWANT packages)"
	else
		not_ok "$1: package list equals dpkg-query"
		head -n 20 "$D/diff-$1.txt" | sed 's/^/  # /'
	fi
}

# dump NAME ARGS...: image_dump ARGS > $D/NAME.json
dump() {
	local n=$1
	shift
	if "$DUMP" "$@" >"$D/$n.json" 2>"$D/$n.err"; then
		ok "$n: image_dump reads it"
	else
		not_ok "$n: image_dump reads it: $(head -c 400 "$D/$n.err")"
		echo '{}' >"$D/$n.json"
	fi
}

# (1) engine stream
dump engine --engine "$D/docker.sock" test/debian:12
same_pkgs engine "$D/engine.json"
check "engine: os debian 12, 1 layer whose digest is the diff_id" \
	test "$(jq -r '"\(.os.id) \(.os.version_id) \(.layers|length) \(.layers[0].digest) \(.format)"' "$D/engine.json")" = \
	"debian 12 1 $DIFF_ID docker-archive"
check "engine: config (User, Env, ExposedPorts, Cmd)" \
	test "$(jq -c '[.config.user, (.config.env|index("GARRISON_T=1") != null), (.config.exposed_ports|keys), .config.cmd]' "$D/engine.json")" = \
	'["nobody",true,["8080/tcp"],["/bin/bash"]]'
check "engine: etc/os-release resolved through its link" \
	test "$(jq -r '.files[] | select(.path == "etc/os-release") | .resolved' "$D/engine.json")" = "usr/lib/os-release"

# (2) docker save
dk save -o "$D/deb.tar" test/debian:12
dump save --docker-archive "$D/deb.tar"
same_pkgs save "$D/save.json"
check "save: same layers and config digest as from the engine" \
	test "$(jq -c '[.layers, .config_digest]' "$D/save.json")" = "$(jq -c '[.layers, .config_digest]' "$D/engine.json")"
check "save: stdin (a pipe) gives the same result" \
	bash -c "'$DUMP' --fd-stdin <'$D/deb.tar' | jq -c .packages | cmp -s - <(jq -c .packages '$D/save.json')"

# (3) OCI layout, (4) a tar of it
if skopeo copy -q "docker-archive:$D/deb.tar" "oci:$D/oci:12" 2>"$D/skopeo.log"; then
	ok "skopeo copy docker-archive -> oci layout"
	dump oci --oci-dir "$D/oci"
	same_pkgs oci "$D/oci.json"
	check "oci: format oci, tag 12, a gzip layer of the same tar bytes" \
		test "$(jq -r '"\(.format) \(.repo_tags[0]) \(.layers[0].compression) \(.layers[0].tar_bytes)"' "$D/oci.json")" = \
		"oci 12 gzip $(jq -r '.layers[0].tar_bytes' "$D/save.json")"
	tar -C "$D/oci" -cf "$D/oci.tar" .
	dump ociarch --oci-archive "$D/oci.tar"
	same_pkgs ociarch "$D/ociarch.json"
	check "oci archive: the docker-archive reader refuses it" \
		bash -c "! '$DUMP' --docker-archive '$D/oci.tar' >/dev/null 2>'$D/refuse.err' && grep -q 'is an oci archive, not docker-archive' '$D/refuse.err'"
else
	not_ok "skopeo copy docker-archive -> oci layout: $(head -c 300 "$D/skopeo.log")"
fi
check "a missing image: HTTP 404 from the engine" \
	bash -c "'$DUMP' --engine '$D/docker.sock' no/such:1 2>&1 | grep -q 'HTTP 404'"

# ---- whiteouts end to end: three layers made with docker commit ------------------------------
KEY='-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n'
dk run --name h4c1 test/busybox:1 sh -c "rm /etc/group && mkdir -p /root/.ssh /data && \
	printf '$KEY' > /root/.ssh/id_rsa && printf '$KEY' > /data/deploy.txt && echo old > /data/old && \
	printf 'ID=busybox\nVERSION_ID=1\n' > /etc/os-release" >/dev/null
dk commit h4c1 test/bb:2 >/dev/null
dk run --name h4c2 test/bb:2 sh -c 'rm /root/.ssh/id_rsa && rm -rf /data && mkdir /data && echo new > /data/new' >/dev/null
dk commit h4c2 test/bb:3 >/dev/null
dk rm h4c1 h4c2 >/dev/null
KEEP=(--keep etc/passwd --keep etc/group --keep data/old --keep data/new)
for src in engine save; do
	if [ $src = engine ]; then
		dump "bb2-$src" "${KEEP[@]}" --engine "$D/docker.sock" test/bb:2
		dump "bb3-$src" "${KEEP[@]}" --engine "$D/docker.sock" test/bb:3
	else
		dk save -o "$D/bb3.tar" test/bb:3
		dk save -o "$D/bb2.tar" test/bb:2
		dump "bb2-$src" "${KEEP[@]}" --docker-archive "$D/bb2.tar"
		dump "bb3-$src" "${KEEP[@]}" --docker-archive "$D/bb3.tar"
	fi
	check "$src: bb:2 has 2 layers, bb:3 has 3" \
		test "$(jq '.layers|length' "$D/bb2-$src.json") $(jq '.layers|length' "$D/bb3-$src.json")" = "2 3"
	check "$src: bb:2 reports the private keys (path and content reasons, layer 1), never their bytes" \
		test "$(jq -c '[.secrets[] | [.path, .reason, .layer]]' "$D/bb2-$src.json")" = \
		'[["data/deploy.txt","content:PEM private key",1],["root/.ssh/id_rsa","content:PEM private key",1]]'
	# (the key is in the config's Cmd, which docker commit copies from the container: only the
	# file records must not carry it)
	check "$src: no key bytes in the file and secret records" \
		bash -c "! jq -c '[.secrets, .files]' '$D/bb2-$src.json' | grep -q MIIEowIBAAKCAQEA"
	check "$src: bb:3: the deleted key and the replaced directory's file are gone" \
		test "$(jq -c '[.secrets[].path]' "$D/bb3-$src.json")" = '[]'
	check "$src: bb:3 final view: etc/group deleted (whiteout), etc/passwd from layer 0, data/ replaced" \
		test "$(jq -c '[.files[] | [.path, .layer]]' "$D/bb3-$src.json")" = \
		'[["data/new",2],["etc/os-release",1],["etc/passwd",0]]'
	check "$src: os-release from the committed layer" \
		test "$(jq -r '"\(.os.id) \(.os.version_id)"' "$D/bb3-$src.json")" = "busybox 1"
done
# What the engine wrote for the replaced directory (informational: opaque marker or whiteouts).
tar -xOf "$D/bb3.tar" "$(jq -r '.[0].Layers[2]' <(tar -xOf "$D/bb3.tar" manifest.json))" 2>/dev/null |
	tar -t 2>/dev/null | grep -E '\.wh\.' | sed 's/^/# bb:3 layer 2 whiteout: /'

t_done
