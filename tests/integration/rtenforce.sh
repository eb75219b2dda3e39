#!/bin/bash
# Runtime enforcement applied by policy (defender/rtenforce.c) against a real kernel and a real,
# private Docker engine (needs root, Debian's docker.io, busybox-static, jq, python3, bpftool).
# tests/tools/dockerd-harness.sh starts a dockerd of its own with a bridge of its own (gdk<N>,
# 10.231.<N>.1/24); tests/tools/rtenforce_ctl applies a runtime.ContainerPolicy to containers A and
# B and prints every report as a JSON line.
#
#  - the rule of A's collection (container name h4a) prevents: exec of /tmp/deny/wget (a copy of
#    busybox), opening /etc/secret, connects to 10.231.<N>.0/30 (expanded into 4 addresses, so the
#    bridge IP .1 is denied); B falls under a rule that only alerts: the same exec, open and
#    connect work there; a connect from A to another address of the host (.200) works.
#  - every prevented exec/open is reported with A's id, the rule and the attack type.
#  - a policy change (SIGHUP) moves the prevent rule to B: A is free again (no mark, no program on
#    its cgroup), B is prevented.
#  - kill -9 of the tool: B can exec again (the kernel removed the marks).
#  - block: the engine stops container C; the report says ok.
# Everything is removed on exit, whatever happens.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
PORT=28561
export GARRISON_CLOUD_METADATA=off

skip() { echo "rtenforce: skipped: $*"; t_done; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (fanotify permission events, BPF)"
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] ||
	skip "dockerd is not installed (apt-get install -y docker.io busybox-static)"
[ -x /bin/busybox ] || skip "busybox-static is not installed"
command -v jq >/dev/null || skip "jq is not installed"
if [ ! -x "$TOOLS/rtenforce_ctl" ]; then
	not_ok "rtenforce_ctl is built ($TOOLS/rtenforce_ctl)"
	t_done
	exit 1
fi

D=$(mktemp -d /tmp/h4-rt.XXXXXX)
CTL_PID=
SRV_PID=
BR=
BR_IP2=
cleanup() {
	[ -n "$CTL_PID" ] && kill -9 "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	[ -n "$BR_IP2" ] && ip addr del "$BR_IP2/32" dev "$BR" 2>/dev/null
	t_cleanup
	"$HARNESS" stop "$D" >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

dk() { "$HARNESS" docker "$D" "$@"; }
dx() { timeout 20 "$HARNESS" docker "$D" exec "$@"; }
# start_ctl OUT ARGS...: rtenforce_ctl in the background, waits for "ready"; CTL_PID is the tool.
start_ctl() {
	local out=$1; shift
	"$TOOLS/rtenforce_ctl" --docker "$D/docker.sock" "$@" >"$out" 2>"$out.err" &
	CTL_PID=$!
	if ! wait_until 20 grep -q "rtenforce_ctl: ready" "$out.err"; then
		cat "$out.err"
		return 1
	fi
}
has() { jq -e -s "map(select($2)) | length > 0" "$1" >/dev/null 2>&1; }
nohas() { ! has "$@"; }
denied_msg() { grep -qiE 'not permitted|permission denied' "$1"; }
nd_progs() { bpftool cgroup show "$1" 2>/dev/null | grep -c nd_; }
cgdir() {
	local c=/sys/fs/cgroup/unified/docker/$1
	[ -d "$c" ] || c=/sys/fs/cgroup/system.slice/docker-$1.scope
	echo "$c"
}

if ! "$HARNESS" start "$D" --bridge >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd with a bridge"
	t_done
	exit 1
fi
ok "start a private dockerd with a bridge"
N=$(cat "$D/harness.bridge-num")
BR=$(cat "$D/harness.bridge-name")
BR_IP=10.231.$N.1
ip addr add "10.231.$N.200/32" dev "$BR" && BR_IP2=10.231.$N.200

for c in h4a h4b h4c; do
	# a volume each (a host directory): a denied file there is prevented like one in the image
	mkdir -p "$D/vol-$c" && echo vsecret >"$D/vol-$c/vsecret"
	dk create --name "$c" -v "$D/vol-$c:/vol" test/busybox:1 sleep 3600 >"$D/$c.id" && dk start "$c" >/dev/null
done
A=$(cat "$D/h4a.id"); B=$(cat "$D/h4b.id"); C=$(cat "$D/h4c.id")
for c in h4a h4b; do
	dx "$c" sh -c 'mkdir -p /tmp/deny && cp /bin/busybox /tmp/deny/wget && echo secret > /etc/secret'
done
check "three containers run (docker create + start)" \
	eval '[ ${#A} -eq 64 ] && [ ${#B} -eq 64 ] && [ "$(dk inspect -f "{{.State.Status}}" h4c)" = running ]'

"$PY" - "$BR_IP" "$BR_IP2" "$PORT" >"$D/servers.log" 2>&1 <<'PYEOF' &
import socket, sys, threading
def serve(ip, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
for ip in sys.argv[1:3]:
    if ip:
        threading.Thread(target=serve, args=(ip, int(sys.argv[3])), daemon=True).start()
threading.Event().wait()
PYEOF
SRV_PID=$!

# policy: the prevent rule for container NAME, then a rule for everything that only alerts
policy() { # NAME NET(0|1) > file
	local net=
	[ "$2" = 1 ] && net=",\"network\":{\"deniedIPsEffect\":\"prevent\",\"deniedIPs\":[\"10.231.$N.0/30\"]}"
	cat <<JSON
{"_id":"containerRuntime","rules":[
 {"name":"prevent-$1","collections":[{"name":"c-$1","containers":["$1"]}],
  "processes":{"deniedList":{"effect":"prevent","paths":["/tmp/deny/wget"]}},
  "filesystem":{"deniedList":{"effect":"prevent","paths":["/etc/secret","/vol/vsecret"]}}$net},
 {"name":"alert-all","processes":{"deniedList":{"effect":"alert","paths":["/tmp/deny/wget"]}},
  "filesystem":{"deniedList":{"effect":"alert","paths":["/etc/secret"]}},
  "network":{"deniedIPsEffect":"alert","deniedIPs":["10.231.$N.0/30"]}}]}
JSON
}
NET=1
"$TOOLS/enforce_ctl" --net-probe >"$D/net.json" 2>&1
if ! jq -e '.available' "$D/net.json" >/dev/null 2>&1; then
	NET=0
	echo "# network checks skipped: $(jq -r .reason "$D/net.json" 2>/dev/null || cat "$D/net.json")"
fi
[ -n "$BR_IP2" ] || echo "# the allowed-address check is skipped: cannot add $BR_IP2 to $BR"
policy h4a "$NET" >"$D/policy.json"

OUT=$D/run1.jsonl
if ! start_ctl "$OUT" --policy "$D/policy.json" --container "$A" --container "$B"; then
	not_ok "rtenforce_ctl applies the policy to A and B"
	t_done
	exit 1
fi
check "A is enforced (rc 0, netEnforced $NET)" \
	has "$OUT" ".kind == \"container\" and .id == \"$A\" and .rc == 0 and .netEnforced == ($NET == 1)"
check "B needs nothing (rc 0, not netEnforced)" \
	has "$OUT" ".kind == \"container\" and .id == \"$B\" and .rc == 0 and .netEnforced == false"

dx h4a /tmp/deny/wget --help >"$D/a-exec.out" 2>&1
rc=$?
check "A: exec of the denied binary fails with EPERM (rc=$rc: $(head -c 100 "$D/a-exec.out"))" \
	eval '[ $rc -ne 0 ] && denied_msg "$D/a-exec.out"'
dx h4a sh -c '/tmp/deny/wget --help >/dev/null 2>&1; echo "rc=$?"' >"$D/a-sh.out" 2>&1
check "A: the same exec from a shell gets 126 ($(tr '\n' ' ' <"$D/a-sh.out"))" grep -q "rc=126" "$D/a-sh.out"
check "B: the same exec works" eval 'dx h4b /tmp/deny/wget --help >/dev/null 2>&1'
check "A: other execs work" eval '[ "$(dx h4a echo ok)" = ok ]'
dx h4a cat /etc/secret >"$D/a-open.out" 2>&1
rc=$?
check "A: opening the denied file fails with EPERM (rc=$rc: $(head -c 100 "$D/a-open.out"))" \
	eval '[ $rc -ne 0 ] && denied_msg "$D/a-open.out"'
check "B: the same file opens" eval '[ "$(dx h4b cat /etc/secret)" = secret ]'
dx h4a cat /vol/vsecret >"$D/a-vol.out" 2>&1
rc=$?
check "A: opening the denied file on its volume fails with EPERM (rc=$rc: $(head -c 100 "$D/a-vol.out"))" \
	eval '[ $rc -ne 0 ] && denied_msg "$D/a-vol.out"'
check "the host opens that file in the volume's directory (a mount mark sees only the container)" \
	eval '[ "$(cat "$D/vol-h4a/vsecret")" = vsecret ]'
check "B: the file on its own volume opens" eval '[ "$(dx h4b cat /vol/vsecret)" = vsecret ]'
# the mount marks in the kernel: the fanotify group's fdinfo lists one "mnt_id:" line per mount
mnt_marks() { # prints the hex mount ids marked by rtenforce_ctl
	local fd
	for fd in /proc/"$CTL_PID"/fdinfo/*; do
		grep -o 'fanotify mnt_id:[0-9a-f]*' "$fd" 2>/dev/null | cut -d: -f2
	done | sort -u
}
vol_mnt() { # NAME: the hex mount id of /vol in the container
	printf '%x\n' "$(awk '$5 == "/vol" { print $1 }' "/proc/$(dk inspect -f '{{.State.Pid}}' "$1")/mountinfo")"
}
A_VOL=$(vol_mnt h4a)
B_VOL=$(vol_mnt h4b)
check "A's volume has a mount mark, B's has none" \
	eval 'mnt_marks | grep -qx "$A_VOL" && ! mnt_marks | grep -qx "$B_VOL"'
sleep 0.5
check "the exec is reported: A, rule, attack type, path" \
	has "$OUT" ".kind == \"prevent\" and .container == \"$A\" and .effect == \"prevent\" and .rule == \"prevent-h4a\" and .attackType == \"explicitlyDeniedProcess\" and .event.type == \"exec\" and .event.filename == \"/tmp/deny/wget\" and .event.container == \"$A\""
check "the open is reported" \
	has "$OUT" ".kind == \"prevent\" and .container == \"$A\" and .attackType == \"explicitlyDeniedFile\" and .event.type == \"file\" and .event.path == \"/etc/secret\""
check "nothing is reported for B" nohas "$OUT" ".kind == \"prevent\" and .container == \"$B\""

if [ "$NET" = 1 ]; then
	dx h4a nc -w 3 "$BR_IP" "$PORT" </dev/null >"$D/a-nc.out" 2>&1
	rc=$?
	check "A: a connect to a denied address (in the /30) fails with EPERM (rc=$rc: $(head -c 80 "$D/a-nc.out"))" \
		eval '[ $rc -ne 0 ] && denied_msg "$D/a-nc.out"'
	if [ -n "$BR_IP2" ]; then
		check "A: a connect to another address works" \
			eval '[ "$(dx h4a nc -w 3 "$BR_IP2" "$PORT" </dev/null)" = hello ]'
	fi
	check "B: the denied address works from B" eval '[ "$(dx h4b nc -w 3 "$BR_IP" "$PORT" </dev/null)" = hello ]'
	check "four programs on A's cgroup, none on B's" \
		eval '[ "$(nd_progs "$(cgdir "$A")")" -eq 4 ] && [ "$(nd_progs "$(cgdir "$B")")" -eq 0 ]'
fi

# ---- policy change: the prevent rule moves to B --------------------------------------------------
policy h4b "$NET" >"$D/policy.json"
kill -HUP "$CTL_PID"
check "the new policy is applied" wait_until 10 has "$OUT" '.kind == "policy" and .rc == 0'
sleep 0.5
check "after the change: A execs the binary" eval 'dx h4a /tmp/deny/wget --help >/dev/null 2>&1'
check "after the change: A opens the file" eval '[ "$(dx h4a cat /etc/secret)" = secret ]'
dx h4b /tmp/deny/wget --help >"$D/b-exec.out" 2>&1
rc=$?
check "after the change: B's exec fails with EPERM (rc=$rc)" eval '[ $rc -ne 0 ] && denied_msg "$D/b-exec.out"'
check "after the change: B's open fails" eval '! dx h4b cat /etc/secret >/dev/null 2>&1'
check "after the change: A opens the file on its volume, B cannot" \
	eval '[ "$(dx h4a cat /vol/vsecret)" = vsecret ] && ! dx h4b cat /vol/vsecret >/dev/null 2>&1'
check "after the change: A's mount mark is removed from the kernel, B's volume is marked" \
	eval '! mnt_marks | grep -qx "$A_VOL" && mnt_marks | grep -qx "$B_VOL"'
if [ "$NET" = 1 ]; then
	check "after the change: A connects to the address, B cannot" \
		eval '[ "$(dx h4a nc -w 3 "$BR_IP" "$PORT" </dev/null)" = hello ] && ! dx h4b nc -w 3 "$BR_IP" "$PORT" </dev/null >/dev/null 2>&1'
	check "after the change: no program on A's cgroup, four on B's" \
		eval '[ "$(nd_progs "$(cgdir "$A")")" -eq 0 ] && [ "$(nd_progs "$(cgdir "$B")")" -eq 4 ]'
fi
# a burst of execs in B (each one an exec and several open decisions): every one is answered
dx h4b sh -c 'i=0; while [ $i -lt 300 ]; do /bin/true || exit 1; i=$((i+1)); done; echo done' >"$D/stress.out" 2>&1
check "300 execs in the marked container B all run ($(tail -c 60 "$D/stress.out"))" grep -qx done "$D/stress.out"
kill -USR1 "$CTL_PID"
sleep 0.5
check "stats: denials counted, two containers, no failure, nothing timed out" \
	has "$OUT" '.kind == "stats" and .fanotify.denied >= 4 and .fanotify.events >= 600 and .containers == 2 and .failures == 0 and .fanotify.timedOut == 0'
grep '"kind":"stats"' "$OUT" | tail -n 1 | jq -c '{fanotify}' | sed 's/^/# /'

# ---- kill -9: the marks go with the process --------------------------------------------------------
kill -9 "$CTL_PID"
wait "$CTL_PID" 2>/dev/null
CTL_PID=
check "after kill -9: B execs the binary again" eval 'dx h4b /tmp/deny/wget --help >/dev/null 2>&1'
check "after kill -9: B opens the file again" eval '[ "$(dx h4b cat /etc/secret)" = secret ]'
if [ "$NET" = 1 ]; then
	check "after kill -9: no program left on B's cgroup" eval '[ "$(nd_progs "$(cgdir "$B")")" -eq 0 ]'
fi

# ---- block ----------------------------------------------------------------------------------------
OUT=$D/run2.jsonl
if start_ctl "$OUT" --policy "$D/policy.json" --block "$C"; then
	check "block: reported ok" wait_until 30 has "$OUT" ".kind == \"block\" and .container == \"$C\" and .ok == true"
	check "block: C has exited" eval '[ "$(dk inspect -f "{{.State.Status}}" h4c)" = exited ]'
	check "block: A and B still run" \
		eval '[ "$(dk inspect -f "{{.State.Status}}" h4a)" = running ] && [ "$(dk inspect -f "{{.State.Status}}" h4b)" = running ]'
	kill -TERM "$CTL_PID"
	wait "$CTL_PID"
	rc=$?
	CTL_PID=
	check "the tool exits 0 and prints its stats (blocks.ok 1)" \
		eval '[ $rc -eq 0 ] && has "$OUT" ".kind == \"stats\" and .blocks.ok == 1"'
else
	not_ok "rtenforce_ctl starts for a block"
fi

t_done
