# The Console and Defender part of scan_flow.sh (sourced by it: T, D, G, BIN, FEED, the images
# and $T/found.pairs are set up there). A Defender on this machine scans the engine's images and
# containers and "the host" (GARRISON_HOST_ROOT points at the downgraded tree); the Console holds
# no vulnerability data until `garrison feed import`, then re-evaluates the stored results
# without any new scan.

start_console() {
	GARRISON_ADMIN_PASSWORD=pw "$BIN/garrison-console" --data-dir "$T/console" \
		--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
		>>"$T/console.log" 2>&1 &
	CONSOLE_PID=$!
	T_PIDS+=("$!")
	wait_until 20 curl -sf --max-time 2 --cacert "$T/console/ca.pem" \
		"https://127.0.0.1:$API_PORT/api/v1/_ping" -o /dev/null
}
api() { # METHOD PATH [BODY]
	local extra=()
	[ -n "${3:-}" ] && extra=(-H 'Content-Type: application/json' --data "$3")
	curl -sS --max-time 20 --cacert "$T/console/ca.pem" -u admin:pw -D "$T/h" -X "$1" \
		"${extra[@]}" "https://127.0.0.1:$API_PORT$2"
}
CONN=(--address "https://127.0.0.1:$API_PORT" --user admin --cacert "$T/console/ca.pem")
export GARRISON_PASSWORD=pw

start_console || { not_ok "start the Console"; tail -20 "$T/console.log"; return; }
BUNDLE=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)
VULN_ID=$(dk image inspect -f '{{.Id}}' test/debian-vuln:12)
dk run -d --name c-hostnet --network host test/busybox:1 sleep 3600 >/dev/null
dk run -d --name c-plain --read-only --memory 64m --security-opt no-new-privileges test/busybox:1 sleep 3600 >/dev/null
dk run -d --name c-vuln test/debian-vuln:12 sleep 3600 >/dev/null
WS_ADDRESS=wss://127.0.0.1:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
	DEFENDER_CLUSTER=scan-cluster DOCKER_CLIENT_ADDRESS=$D/docker.sock GARRISON_HOST_ROOT=$T/vroot \
	GARRISON_DATA_DIR=$T/defender "$BIN/garrison-defender" >>"$T/defender.log" 2>&1 &
T_PIDS+=("$!")

image_json() { api GET "/api/v1/images?id=$VULN_ID" | jq --arg id "$VULN_ID" '[.[]|select(._id==$id)][0]'; }
image_scanned() { [ "$(image_json | jq '.packages|length')" -gt 0 ] 2>/dev/null; }
check "the Defender's scan of the image reaches the Console" wait_until 90 image_scanned
image_json >"$T/img0.json"
check "without vulnerability data it has no findings, and says why" \
	test "$(jq -r '"\(.vulnerabilitiesCount) \(.garrison.vulnReason)"' "$T/img0.json")" = "0 no vulnerability data"
check "its OS fields are filled" test "$(jq -r '"\(.osDistro) \(.osDistroVersion) \(.osDistroRelease)"' "$T/img0.json")" = "debian 12 bookworm"

"$G" feed import "${CONN[@]}" "$FEED" >"$T/import.txt" 2>&1
check "garrison feed import uploads the data" grep -q '^Imported [0-9]* records' "$T/import.txt"
NPAIRS=$(wc -l <"$T/found.pairs")
vulns_are() { [ "$(image_json | jq '.vulnerabilitiesCount')" = "$NPAIRS" ]; }
check "the stored image result is re-evaluated: $NPAIRS findings" wait_until 30 vulns_are
image_json | jq -r '.vulnerabilities[]|"\(.packageName)\t\(.cve)"' | sort -u >"$T/console.pairs"
check "the same CVEs as the CLI found" diff -q "$T/console.pairs" "$T/found.pairs"
check "without a new scan (the Defender scanned the image once)" \
	test "$(grep -c "scanner: image $VULN_ID" "$T/defender.log")" = 1
api GET /api/v1/images >"$T/images.json"
check "images match Prisma's -_shared.ImageScanResult schema" \
	python3 tests/tools/validate_openapi.py "$SPEC" -_shared.ImageScanResult "$T/images.json"

host_vulns() { [ "$(api GET /api/v1/hosts | jq '.[0].vulnerabilitiesCount')" = "$NPAIRS" ]; }
check "the host (its root at GARRISON_HOST_ROOT) has the same findings" wait_until 30 host_vulns
api GET /api/v1/hosts >"$T/hosts.json"
check "its compliance checks are there" test "$(jq '.[0].complianceIssuesCount' "$T/hosts.json")" -gt 0
check "hosts match Prisma's -_shared.ImageScanResult schema" \
	python3 tests/tools/validate_openapi.py "$SPEC" -_shared.ImageScanResult "$T/hosts.json"

cinfo() { api GET "/api/v1/containers?search=$1" | jq --arg n "$1" "[.[]|select(.info.name==\$n)][0].info|$2"; }
c_checked() { [ "$(cinfo c-plain '.complianceIssues|length')" -gt 0 ] 2>/dev/null; }
check "containers carry their compliance issues" wait_until 30 c_checked
check "host network fails 5.10 (id 510) on c-hostnet" test "$(cinfo c-hostnet '[.complianceIssues[].id]|index(510)!=null')" = true
check "but not on c-plain" test "$(cinfo c-plain '[.complianceIssues[].id]|index(510)!=null')" = false
check "a read-only root passes 5.13 (id 513) on c-plain" test "$(cinfo c-plain '[.complianceIssues[].id]|index(513)!=null')" = false
check "and fails it on c-hostnet" test "$(cinfo c-hostnet '[.complianceIssues[].id]|index(513)!=null')" = true
check "a memory limit passes 5.11 (id 511) on c-plain" test "$(cinfo c-plain '[.complianceIssues[].id]|index(511)!=null')" = false
check "and its absence fails it on c-hostnet" test "$(cinfo c-hostnet '[.complianceIssues[].id]|index(511)!=null')" = true
check "a container shows its image's vulnerability count" test "$(cinfo c-vuln .vulnerabilitiesCount)" = "$NPAIRS"
api GET /api/v1/containers >"$T/containers.json"
check "containers match Prisma's -_shared.ContainerScanResult schema" \
	python3 tests/tools/validate_openapi.py "$SPEC" -_shared.ContainerScanResult "$T/containers.json"

"$G" images scan "${CONN[@]}" --docker-address "$D/docker.sock" --vuln-threshold high \
	--job-name ci-42 test/debian-vuln:12 >"$T/ci.txt" 2>&1
CI_RC=$?
HIGH=$(jq '[.vulnerabilities[]|select(.severity=="critical" or .severity=="high")]|length' <(image_json))
check "images scan --address uses the Console's data (exit $CI_RC, $HIGH high or critical)" \
	test "$CI_RC" = "$([ "$HIGH" -gt 0 ] && echo 1 || echo 0)"
check "and prints the same total" grep -q "^Vulnerabilities found for image test/debian-vuln:12: total $NPAIRS," "$T/ci.txt"
api GET "/api/v1/scans?search=ci-42" >"$T/scans.json"
check "the result is recorded in GET /api/v1/scans" \
	test "$(jq -r '.[0].jobName+" "+(.[0].entityInfo.vulnerabilitiesCount|tostring)' "$T/scans.json")" = "ci-42 $NPAIRS"
check "with Total-Count" grep -qi '^Total-Count: 1' "$T/h"

VERSION=$(api GET /api/v1/feeds/osv | jq -r .dataVersion)
kill "$CONSOLE_PID"; wait "$CONSOLE_PID" 2>/dev/null
start_console
check "a restarted Console keeps the data (version ${VERSION:0:12})" \
	test "$(api GET /api/v1/feeds/osv | jq -r .dataVersion)" = "$VERSION"
check "and the results" vulns_are
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/console/ca.pem" -u admin:pw -X PUT \
	-H 'Content-Type: application/json' --data '[{"id":"nope"}]' "https://127.0.0.1:$API_PORT/api/v1/feeds/osv")
check "a feed without one valid record is refused (400)" test "$code" = 400
