#!/bin/bash
# Vulnerability and compliance scanning end to end (needs root, Debian's docker.io, debootstrap,
# skopeo and python3-apt). A real Debian bookworm minbase root file system
# (tests/tools/debian-rootfs.sh, cached) is imported into a private dockerd as test/debian:12,
# and a copy whose dpkg status file is downgraded to the vulnerable versions of
# tests/data/vuln/debian12-minbase-vulnerable-version-examples.tsv as test/debian-vuln:12.
#   - `garrison images scan --feed` (the twistcli equivalent) reads each image from the engine,
#     from `docker save`, from an OCI layout (skopeo) and from a tar of that layout: the package
#     list equals dpkg-query's on the same root file system; against the data derived from the
#     system's own changelogs the clean image has no finding; the downgraded one has exactly the
#     CVEs an independent oracle (python3-apt's version_compare) expects, including every listed
#     example; thresholds give exit status 1, errors 2.
#   - `garrison hosts scan --rootfs` on the extracted tree.
#   - A Console and a Defender on this machine: the Defender scans the images, containers and
#     host; the Console shows no vulnerabilities until data is imported (`garrison feed import`),
#     then recomputes every stored result without a new scan; containers carry the compliance
#     issues of their settings; `garrison images scan --address` records its result in
#     GET /api/v1/scans. Responses are validated against Prisma's OpenAPI schemas.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

BIN=${GARRISON_BIN_DIR:-$PWD/build/san/bin}
API_PORT=28483
DEF_PORT=28484
HARNESS=tests/tools/dockerd-harness.sh
SPEC=tests/data/prisma-api/openapi-subset.json
VULN=tests/data/vuln
FEED=$VULN/debian12-minbase-changelog-cves.osv.json
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
export GARRISON_CLOUD_METADATA=off

for tool in dockerd skopeo debootstrap; do
	if ! command -v $tool >/dev/null && [ ! -x /usr/sbin/$tool ]; then
		echo "scan_flow: skipped: $tool is not installed (scripts/install-deps.sh installs it)"
		t_done
		exit 0
	fi
done

T=$(mktemp -d /tmp/gsf.XXXXXX)
D=$T/dk
trap 't_cleanup; bash $HARNESS stop "$D" >/dev/null 2>&1; rm -rf "$T"' EXIT
dk() { bash $HARNESS docker "$D" "$@"; }
G=$BIN/garrison

if ! bash $HARNESS start "$D" >"$T/harness.log" 2>&1; then
	not_ok "start a private Docker engine"; cat "$T/harness.log"; t_done; exit 1
fi
ROOTFS_TAR=$(tests/tools/debian-rootfs.sh) || { not_ok "build the Debian root file system"; t_done; exit 1; }
ok "a cached Debian bookworm minbase root file system"

# ---- the two images ---------------------------------------------------------------------------
mkdir -p "$T/root" "$T/vroot"
tar -C "$T/root" -xf "$ROOTFS_TAR"
tar -C "$T/vroot" -xf "$ROOTFS_TAR"
# Downgrade every source package of the examples to its lowest listed vulnerable version; the
# oracle of what must then be found is written beside (source, version, cve).
/usr/bin/python3 - "$VULN" "$T/vroot/var/lib/dpkg/status" "$T/expected.tsv" <<'EOF'
import sys, csv, re, collections, apt_pkg
apt_pkg.init()
vuln, status, expected = sys.argv[1:4]
prev = {}
listed = collections.defaultdict(set)
for src, cve, fixed, p in csv.reader(open(f"{vuln}/debian12-minbase-vulnerable-version-examples.tsv"), delimiter="\t"):
    if src == "source_package": continue
    listed[src].add(cve)
    if src not in prev or apt_pkg.version_compare(p, prev[src]) < 0: prev[src] = p
fixed = collections.defaultdict(list)
for src, cve, fv, _d, _t in csv.reader(open(f"{vuln}/debian12-minbase-changelog-cves.tsv"), delimiter="\t"):
    if src == "source_package": continue
    fixed[src].append((cve, fv))
out = []
for stanza in open(status).read().split("\n\n"):
    if not stanza.strip(): out.append(stanza); continue
    f = dict(re.findall(r"^([A-Za-z-]+): ?(.*)$", stanza, re.M))
    src, srcver = f["Package"], None
    if "Source" in f:
        m = re.match(r"(\S+)(?: \((.+)\))?$", f["Source"]); src, srcver = m.group(1), m.group(2)
    if src in prev and "install ok installed" in f.get("Status", ""):
        if "Source" in f:
            stanza = re.sub(r"^Source: .*$", f"Source: {src} ({prev[src]})", stanza, flags=re.M)
        else:
            stanza = re.sub(r"^Version: .*$", f"Version: {prev[src]}", stanza, flags=re.M)
    out.append(stanza)
open(status, "w").write("\n\n".join(out))
with open(expected, "w") as e:
    for src, v in sorted(prev.items()):
        for cve, fv in fixed[src]:
            if apt_pkg.version_compare(v, fv) < 0: e.write(f"{src}\t{cve}\n")
        for cve in listed[src]:
            e.write(f"{src}\t{cve}\tlisted\n")
EOF
check "the vulnerable status file was written" test -s "$T/expected.tsv"
cut -f1,2 "$T/expected.tsv" | sort -u >"$T/expected.pairs"
grep -P '\tlisted$' "$T/expected.tsv" | cut -f1,2 | sort -u >"$T/listed.pairs"
tar -C "$T/root" --numeric-owner -c . | dk import -c 'CMD ["/bin/bash"]' - test/debian:12 >/dev/null &&
	tar -C "$T/vroot" --numeric-owner -c . | dk import -c 'CMD ["/bin/bash"]' - test/debian-vuln:12 >/dev/null
check "both images imported into the engine" test $? -eq 0
dpkg-query -W -f '${Package} ${Version}\n' --admindir="$T/root/var/lib/dpkg" | sort >"$T/dpkg-query.txt"

pkgs_of() { jq -r '.results[0].packages[]|"\(.name) \(.version)"' "$1" | sort; }
pairs_of() { jq -r '.results[0].vulnerabilities[]|"\(.packageName)\t\(.id)"' "$1" | sort -u; }
scan() { # OUT-FILE ARGS...: garrison images scan with the local feed; prints the exit status
	local out=$1; shift
	"$G" images scan --feed "$FEED" --docker-address "$D/docker.sock" --output-file "$out" "$@" \
		>"$out.txt" 2>"$out.err"
	echo $?
}

# ---- the CLI: the engine, docker save, OCI layout, OCI archive --------------------------------
check "images scan of the clean image passes (exit 0)" test "$(scan "$T/clean.json" test/debian:12)" = 0
check "its package list equals dpkg-query's" diff -q <(pkgs_of "$T/clean.json") "$T/dpkg-query.txt"
check "it has no vulnerability (everything installed is fixed)" \
	test "$(jq '.results[0].vulnerabilities|length' "$T/clean.json")" = 0
check "the summary line says so" \
	grep -q '^Vulnerabilities found for image test/debian:12: total 0, critical 0, high 0, medium 0, low 0$' "$T/clean.json.txt"
check "the OS is known" test "$(jq -r '.results[0].distro' "$T/clean.json")" = "Debian GNU/Linux 12 (bookworm)"

check "images scan of the downgraded image (exit 0 without threshold)" test "$(scan "$T/vuln.json" test/debian-vuln:12)" = 0
pairs_of "$T/vuln.json" >"$T/found.pairs"
check "it reports exactly the CVEs the oracle expects ($(wc -l <"$T/expected.pairs"))" diff "$T/found.pairs" "$T/expected.pairs"
check "including every listed example ($(wc -l <"$T/listed.pairs"))" test -z "$(comm -13 "$T/found.pairs" "$T/listed.pairs")"
check "every finding says which version fixes it" \
	test "$(jq '[.results[0].vulnerabilities[]|select(.status|startswith("fixed in "))]|length' "$T/vuln.json")" = "$(wc -l <"$T/found.pairs")"
check "--vuln-threshold low fails it (exit 1)" test "$(scan "$T/thr.json" --vuln-threshold low test/debian-vuln:12)" = 1
check "and says FAIL" grep -q '^Vulnerability threshold check results: FAIL$' "$T/thr.json.txt"
check "an unknown image is an error (exit 2)" test "$(scan "$T/none.json" test/absent:1)" = 2
check "a bad threshold is an error (exit 2)" test "$(scan "$T/bad.json" --vuln-threshold severe test/debian:12)" = 2

dk save -o "$T/vuln-save.tar" test/debian-vuln:12
check "--tarball of a docker save archive gives the same findings" \
	test "$(scan "$T/save.json" --tarball "$T/vuln-save.tar")" = 0
check "(same pairs)" diff -q <(pairs_of "$T/save.json") "$T/found.pairs"
skopeo copy -q "docker-archive:$T/vuln-save.tar" "oci:$T/oci:test" >"$T/skopeo.log" 2>&1
check "skopeo made an OCI layout" test -f "$T/oci/index.json"
check "an OCI layout directory gives the same findings" test "$(scan "$T/oci.json" "$T/oci")" = 0
check "(same pairs)" diff -q <(pairs_of "$T/oci.json") "$T/found.pairs"
tar -C "$T/oci" -cf "$T/oci.tar" .
check "an OCI archive gives the same findings" test "$(scan "$T/ocitar.json" --tarball "$T/oci.tar")" = 0
check "(same pairs)" diff -q <(pairs_of "$T/ocitar.json") "$T/found.pairs"
head -c 100000 "$T/vuln-save.tar" >"$T/trunc.tar"
check "a truncated archive is a clear error (exit 2)" test "$(scan "$T/trunc.json" --tarball "$T/trunc.tar")" = 2
check "(naming the file)" grep -q "trunc.tar" "$T/trunc.json.err"

"$G" hosts scan --rootfs "$T/vroot" --feed "$FEED" --hostname vhost --output-file "$T/host.json" >"$T/host.txt" 2>&1
check "hosts scan --rootfs finds the same CVEs in the tree" diff -q <(pairs_of "$T/host.json") "$T/found.pairs"

# ---- Console and Defender (GARRISON_SCAN_FLOW_CONSOLE=off skips) ------------------------------
if [ "${GARRISON_SCAN_FLOW_CONSOLE:-on}" = off ]; then
	t_done
	exit
fi
. tests/integration/scan_flow_console.bash
t_done
