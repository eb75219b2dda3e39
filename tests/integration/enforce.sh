#!/bin/bash
# The enforcement primitives (defender/enforce.h) against a real kernel and a real, private Docker
# engine (needs root, Debian's docker.io, busybox-static, jq, python3). tests/tools/dockerd-harness.sh
# starts a dockerd of its own with a bridge of its own (gdk<N>, 10.231.<N>.1/24);
# tests/tools/enforce_ctl enforces deny lists on container A and prints every decision as JSON.
#
#  - exec: /tmp/deny/echo (a copy of busybox) is denied in A (EPERM); the same file runs in B and
#    on the host.
#  - open: /etc/secret cannot be opened in A; B reads its own.
#  - connect: a TCP connect from A to a listener on the bridge IP is denied, to another port
#    allowed; B connects to both (cgroup sock_addr BPF, links visible with bpftool).
#  - volumes: a file on a bind-mounted volume is seen only with --mounts (FAN_MARK_MOUNT), and only
#    through the container's mount: the host reads it.
#  - stress: many execs in A while the tool runs: every one is answered (under timeout), none
#    times out, and the tool counts them.
#  - kill -9 of the tool while an exec waits for a (slow) decision: the exec goes on at once, and
#    everything works again in A (no fanotify mark, no BPF link left).
#  - block: a container is stopped (and another killed) through the Engine API.
#  - BPF-LSM: the probe answers cleanly ("unavailable: <reason>" here).
# Everything is removed on exit, whatever happens.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
PORT_DENY=28951
PORT_OK=28952
PORT_ANY=28953 # denied for every address ("*:PORT" rule); nothing listens there
STRESS_N=${STRESS_N:-300}
export GARRISON_CLOUD_METADATA=off

skip() { echo "enforce: skipped: $*"; t_done; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (fanotify permission events, BPF)"
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] ||
	skip "dockerd is not installed (apt-get install -y docker.io busybox-static)"
[ -x /bin/busybox ] || skip "busybox-static is not installed"
command -v jq >/dev/null || skip "jq is not installed"
if [ ! -x "$TOOLS/enforce_ctl" ]; then
	not_ok "enforce_ctl is built ($TOOLS/enforce_ctl)"
	t_done
	exit 1
fi

D=$(mktemp -d /tmp/h7-en.XXXXXX)
CTL_PID=
SRV_PID=
cleanup() {
	[ -n "$CTL_PID" ] && kill -9 "$CTL_PID" 2>/dev/null && wait "$CTL_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	t_cleanup
	"$HARNESS" stop "$D" >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

dk() { "$HARNESS" docker "$D" "$@"; }
ctl() { "$TOOLS/enforce_ctl" --docker "$D/docker.sock" "$@"; }
# start_ctl OUT ARGS...: runs enforce_ctl in the background and waits for "ready". CTL_PID is the
# tool itself (not a subshell: the kill -9 below must hit it).
start_ctl() {
	local out=$1; shift
	"$TOOLS/enforce_ctl" --docker "$D/docker.sock" "$@" >"$out" 2>"$out.err" &
	CTL_PID=$!
	if ! wait_until 20 grep -q "enforce_ctl: ready" "$out.err"; then
		cat "$out.err"
		return 1
	fi
}
stop_ctl() { # SIGTERM, then wait (the stats line is written at exit); CTL_RC: its exit status
	kill -TERM "$CTL_PID" 2>/dev/null
	wait "$CTL_PID" 2>/dev/null
	CTL_RC=$?
	CTL_PID=
}
has() { # FILE JQ_BOOLEAN: some line matches
	jq -e -s "map(select($2)) | length > 0" "$1" >/dev/null 2>&1
}
nohas() { ! has "$@"; }
denied_msg() { grep -qiE 'not permitted|permission denied' "$1"; }

if ! "$HARNESS" start "$D" --bridge >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd with a bridge"
	t_done
	exit 1
fi
ok "start a private dockerd with a bridge"
BR_IP=10.231.$(cat "$D/harness.bridge-num").1

mkdir -p "$D/vol" "$D/host/deny"
echo volume-secret >"$D/vol/f"
cp /bin/busybox "$D/host/deny/echo"
A=$(dk run -d --name h7a test/busybox:1 sleep 3600)
B=$(dk run -d --name h7b test/busybox:1 sleep 3600)
C=$(dk run -d --name h7c -v "$D/vol:/vol" test/busybox:1 sleep 3600)
for c in h7a h7b; do
	dk exec "$c" sh -c 'mkdir -p /tmp/deny && cp /bin/busybox /tmp/deny/echo && echo secret > /etc/secret'
done
check "three containers run" test -n "$A" -a -n "$B" -a -n "$C"
CG=/sys/fs/cgroup/unified/docker/$A
[ -d "$CG" ] || CG=/sys/fs/cgroup/system.slice/docker-$A.scope

# listeners on the bridge IP
"$PY" - "$BR_IP" "$PORT_DENY" "$PORT_OK" >"$D/servers.log" 2>&1 <<'PYEOF' &
import socket, sys, threading
ip = sys.argv[1]
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
for p in sys.argv[2:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
threading.Event().wait()
PYEOF
SRV_PID=$!

# ---- probes ----------------------------------------------------------------------------------
ctl --lsm-probe >"$D/lsm.json" 2>"$D/lsm.err"
if jq -e '.kind == "lsm_probe" and (.available == true or (.reason | startswith("unavailable: ")))' \
	"$D/lsm.json" >/dev/null 2>&1; then
	ok "BPF-LSM probe answers cleanly: $(jq -r .reason "$D/lsm.json")"
	jq -e '.available' "$D/lsm.json" >/dev/null ||
		echo "# BPF-LSM checks skipped: $(jq -r .reason "$D/lsm.json")"
else
	cat "$D/lsm.json" "$D/lsm.err"
	not_ok "BPF-LSM probe answers cleanly"
fi
NET=1
ctl --net-probe >"$D/net.json" 2>&1
if ! jq -e '.available' "$D/net.json" >/dev/null 2>&1; then
	NET=0
	echo "# network checks skipped: $(jq -r .reason "$D/net.json" 2>/dev/null || cat "$D/net.json")"
fi

# ---- exec, open and connect denied in A only ---------------------------------------------------
NETARGS=()
[ "$NET" = 1 ] && NETARGS=(--deny-net "$BR_IP:$PORT_DENY/tcp" --deny-net "*:$PORT_ANY/tcp" --report-allowed)
OUT=$D/run1.jsonl
if ! start_ctl "$OUT" --container "$A" --deny-exec /tmp/deny/echo --deny-open /etc/secret "${NETARGS[@]}"; then
	not_ok "enforce_ctl marks container A"
	t_done
	exit 1
fi
ok "enforce_ctl marks container A"

timeout 20 "$HARNESS" docker "$D" exec h7a /tmp/deny/echo hi >"$D/a-exec.out" 2>&1
rc=$?
check "A: exec of a denied binary fails with EPERM (rc=$rc: $(head -c 100 "$D/a-exec.out"))" \
	eval '[ $rc -ne 0 ] && denied_msg "$D/a-exec.out"'
timeout 20 "$HARNESS" docker "$D" exec h7a sh -c '/tmp/deny/echo hi; echo "rc=$?"' >"$D/a-sh.out" 2>&1
check "A: exec from a shell fails too ($(tr '\n' ' ' <"$D/a-sh.out" | head -c 100))" \
	eval 'grep -q "rc=126" "$D/a-sh.out" && denied_msg "$D/a-sh.out"'
check "B: the same exec succeeds" eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7b /tmp/deny/echo hi)" = hi ]'
check "host: the same binary runs" eval '[ "$("$D/host/deny/echo" hi)" = hi ]'
check "A: other execs succeed" eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7a echo ok)" = ok ]'

timeout 20 "$HARNESS" docker "$D" exec h7a cat /etc/secret >"$D/a-open.out" 2>&1
rc=$?
check "A: a denied file cannot be opened (rc=$rc: $(head -c 100 "$D/a-open.out"))" \
	eval '[ $rc -ne 0 ] && denied_msg "$D/a-open.out"'
check "B: the same file opens" eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7b cat /etc/secret)" = secret ]'

sleep 0.5
check "the exec denial is reported with A's id and the path" \
	has "$OUT" ".kind == \"exec\" and .verdict == \"deny\" and .path == \"/tmp/deny/echo\" and .container == \"$A\""
check "the open denial is reported" \
	has "$OUT" ".kind == \"open\" and .verdict == \"deny\" and .path == \"/etc/secret\" and .container == \"$A\""
check "no decision concerns B's or the host's files (only A's container label)" \
	nohas "$OUT" "(.kind == \"exec\" or .kind == \"open\") and .container != \"$A\""

if [ "$NET" = 1 ]; then
	timeout 20 "$HARNESS" docker "$D" exec h7a nc -w 3 "$BR_IP" "$PORT_DENY" </dev/null >"$D/a-nc1.out" 2>&1
	rc=$?
	check "A: a denied connect fails with EPERM (rc=$rc: $(head -c 100 "$D/a-nc1.out"))" \
		eval '[ $rc -ne 0 ] && denied_msg "$D/a-nc1.out"'
	timeout 20 "$HARNESS" docker "$D" exec h7a nc -w 3 "::ffff:$BR_IP" "$PORT_DENY" </dev/null >"$D/a-nc6.out" 2>&1
	check "A: the same destination as an IPv4-mapped IPv6 address is denied too ($(head -c 80 "$D/a-nc6.out"))" \
		denied_msg "$D/a-nc6.out"
	timeout 20 "$HARNESS" docker "$D" exec h7a nc -w 3 10.231.254.254 "$PORT_ANY" </dev/null >"$D/a-ncany.out" 2>&1
	check "A: a port denied for any address fails with EPERM ($(head -c 80 "$D/a-ncany.out"))" \
		denied_msg "$D/a-ncany.out"
	timeout 20 "$HARNESS" docker "$D" exec h7b nc -w 3 "$BR_IP" "$PORT_ANY" </dev/null >"$D/b-ncany.out" 2>&1
	check "B: the same port is only refused by the host there ($(head -c 80 "$D/b-ncany.out"))" \
		eval '! denied_msg "$D/b-ncany.out"'
	check "A: an allowed connect works" \
		eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7a nc -w 3 "$BR_IP" "$PORT_OK" </dev/null)" = hello ]'
	check "B: the denied destination works from B" \
		eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7b nc -w 3 "$BR_IP" "$PORT_DENY" </dev/null)" = hello ]'
	sleep 0.5
	check "the connect denial is reported" \
		has "$OUT" ".kind == \"connect4\" and .verdict == \"deny\" and .port == $PORT_DENY and .container == \"$A\""
	check "the allowed connect is reported" \
		has "$OUT" ".kind == \"connect4\" and .verdict == \"allow\" and .port == $PORT_OK"
	bpftool cgroup show "$CG" >"$D/bpf-cg1.txt" 2>&1
	check "the four sock_addr programs are attached to A's cgroup ($(grep -c nd_ "$D/bpf-cg1.txt"))" \
		eval '[ "$(grep -c nd_ "$D/bpf-cg1.txt")" -eq 4 ]'
fi

# ---- stress: many execs in A, every one answered --------------------------------------------------
t0=$SECONDS
timeout 120 "$HARNESS" docker "$D" exec h7a sh -c \
	"i=0; while [ \$i -lt $STRESS_N ]; do /bin/true || exit 1; i=\$((i+1)); done; echo done" >"$D/stress.out" 2>&1
rc=$?
check "stress: $STRESS_N execs in A complete (rc=$rc, $((SECONDS - t0)) s)" eval '[ $rc -eq 0 ] && grep -q done "$D/stress.out"'
stop_ctl
STATS=$(jq -c 'select(.kind == "stats")' "$OUT" | tail -n 1)
echo "# stats: $STATS"
check "enforce_ctl exits cleanly on SIGTERM (status $CTL_RC, no sanitizer report)" \
	eval '[ "$CTL_RC" -eq 0 ] && ! grep -qE "Sanitizer|runtime error" "$OUT.err"'
check "stress: the tool counted at least $STRESS_N events, none timed out, no answer refused" \
	eval '[ -n "$STATS" ] && jq -e ".events >= $STRESS_N and .timed_out == 0 and .errors == 0 and .denied >= 2" <<<"$STATS" >/dev/null'

# ---- volumes: seen with --mounts only, and only through the container ---------------------------
OUT=$D/run-vol.jsonl
if start_ctl "$OUT" --container "$C" --deny-open /vol/f --quiet; then
	check "volume without --mounts: the file on the volume is not seen (documented limit)" \
		eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7c cat /vol/f)" = volume-secret ]'
	stop_ctl
else
	not_ok "enforce_ctl marks container C"
fi
if start_ctl "$OUT" --container "$C" --deny-open /vol/f --mounts --quiet; then
	timeout 20 "$HARNESS" docker "$D" exec h7c cat /vol/f >"$D/c-vol.out" 2>&1
	rc=$?
	check "volume with --mounts: the open is denied in C (rc=$rc)" eval '[ $rc -ne 0 ] && denied_msg "$D/c-vol.out"'
	check "volume with --mounts: the host reads the same file" eval '[ "$(cat "$D/vol/f")" = volume-secret ]'
	stop_ctl
else
	not_ok "enforce_ctl marks container C with --mounts"
fi

# ---- kill -9 while an exec waits for a slow decision: all marks and links go ---------------------
OUT=$D/run2.jsonl
if start_ctl "$OUT" --container "$A" --deny-exec /tmp/deny/echo --deny-open /etc/secret \
	--delay-ms 8000 --deadline-ms 9000 "${NETARGS[@]}"; then
	timeout 30 "$HARNESS" docker "$D" exec h7a echo pending >"$D/pending.out" 2>&1 &
	PEND=$!
	sleep 2
	check "an exec waits for the slow decision" kill -0 "$PEND"
	kill -9 "$CTL_PID"
	wait "$CTL_PID" 2>/dev/null
	CTL_PID=
	t1=$SECONDS
	wait "$PEND"
	rc=$?
	check "after kill -9 the waiting exec goes on at once (rc=$rc, $((SECONDS - t1)) s)" \
		eval '[ $rc -eq 0 ] && [ $((SECONDS - t1)) -le 3 ] && grep -q pending "$D/pending.out"'
	check "after kill -9: the denied exec works in A" \
		eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7a /tmp/deny/echo hi)" = hi ]'
	check "after kill -9: the denied file opens in A" \
		eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7a cat /etc/secret)" = secret ]'
	if [ "$NET" = 1 ]; then
		check "after kill -9: the denied connect works in A" \
			eval '[ "$(timeout 20 "$HARNESS" docker "$D" exec h7a nc -w 3 "$BR_IP" "$PORT_DENY" </dev/null)" = hello ]'
		bpftool cgroup show "$CG" >"$D/bpf-cg2.txt" 2>&1
		check "after kill -9: no program is left on A's cgroup" eval '! grep -q nd_ "$D/bpf-cg2.txt"'
	fi
else
	not_ok "enforce_ctl marks container A again"
fi

# ---- block ----------------------------------------------------------------------------------------
ctl --block h7b --timeout 1 >"$D/block.json" 2>&1
check "block (stop) answers ok" eval 'jq -e .ok "$D/block.json" >/dev/null'
check "block: B has exited" eval '[ "$(dk inspect -f "{{.State.Status}}" h7b)" = exited ]'
ctl --block h7c --kill >"$D/kill.json" 2>&1
check "block --kill: C has exited" eval 'jq -e .ok "$D/kill.json" >/dev/null && [ "$(dk inspect -f "{{.State.Status}}" h7c)" = exited ]'
ctl --block h7nonexistent >"$D/block404.json" 2>&1
check "block of an unknown container fails with the engine's message" \
	eval '! jq -e .ok "$D/block404.json" >/dev/null && jq -e ".error | test(\"404\")" "$D/block404.json" >/dev/null'
check "A still runs" eval '[ "$(dk inspect -f "{{.State.Status}}" h7a)" = running ]'

t_done
