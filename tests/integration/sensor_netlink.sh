#!/bin/bash
# The "netlink" sensor back end (proc connector + fanotify, for kernels without BTF) against a real
# kernel and a private Docker engine (needs root, Debian's docker.io and busybox-static).
# tests/tools/dockerd-harness.sh starts a dockerd of its own; tests/tools/sensor_dump runs the
# netlink back end. In a busybox container the test runs /bin/sleep and writes a file; the exec
# (with its argv, read from /proc), its exit and the written file must be attributed to the
# container (cgroup id = inode of the container's cgroup), and a host process to the host. The
# processes live a few hundred milliseconds on purpose: the back end reads /proc after the exec,
# so a process that is gone by then (`id -u` often is) loses its argv and container (documented in
# docs/sensors.md; the eBPF back end has no such race). Everything is removed on exit.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/testlib.bash

TOOLS=${GARRISON_TOOLS_DIR:-$PWD/build/san/tools}
HARNESS=$PWD/tests/tools/dockerd-harness.sh

skip() { echo "sensor_netlink: skipped: $*"; t_done; exit 0; }
[ "$(id -u)" -eq 0 ] || skip "needs root (proc connector, fanotify)"
command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] ||
	skip "dockerd is not installed (apt-get install -y docker.io busybox-static)"
command -v jq >/dev/null || skip "jq is not installed"
if [ ! -x "$TOOLS/sensor_dump" ]; then
	not_ok "sensor_dump is built ($TOOLS/sensor_dump)"
	t_done
	exit 1
fi

D=$(mktemp -d /tmp/h3-nl.XXXXXX)
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
lines() { head -n "$(wc -l <"$OUT")" "$OUT"; }
has() { lines | jq -e -s "map(select($1)) | length > 0" >/dev/null 2>&1; }
first() { lines | jq -c -s "map(select($1)) | first // empty" 2>/dev/null; }

if ! "$HARNESS" start "$D" >"$D/harness.log" 2>&1; then
	cat "$D/harness.log"
	not_ok "start a private dockerd"
	t_done
	exit 1
fi
ok "start a private dockerd"

"$TOOLS/sensor_dump" --backend netlink --stats >"$OUT" 2>"$D/dump.err" &
DUMP_PID=$!
if ! wait_until 20 grep -q "sensor_dump: ready" "$D/dump.err"; then
	cat "$D/dump.err"
	not_ok "sensor_dump runs the netlink back end"
	t_done
	exit 1
fi
ok "sensor_dump runs the netlink back end"

CID=$(dk run -d --stop-timeout 1 test/busybox:1 sleep 300)
if [ ${#CID} -ne 64 ]; then
	not_ok "start a busybox container ($CID)"
	t_done
	exit 1
fi
ok "start a busybox container ${CID:0:12}"
IN="(.container == \"$CID\")"
# The first exec in the container (sleep) marks its file system for fanotify.
wait_until 10 has "$IN and .type == \"exec\"" || true
dk exec "$CID" /bin/sleep 0.4
dk exec "$CID" sh -c 'echo netlink > /tmp/h3-nl-written; sleep 0.4'
sh -c 'exec /bin/sleep 0.41' >/dev/null

check "exec of /bin/sleep in the container, argv from /proc (the binary is busybox)" \
	wait_until 10 has "$IN and .type == \"exec\" and .argv == [\"/bin/sleep\",\"0.4\"] and .filename == \"/bin/busybox\" and .ppid > 0 and .exe_ino > 0"
check "its exit in the container" \
	wait_until 10 has "$IN and .type == \"exit\" and .comm == \"sleep\" and .exit_code == 0"
check "a file written in the container (fanotify close-write): /tmp/h3-nl-written" \
	wait_until 10 has "$IN and .type == \"file\" and .op == \"open\" and .path == \"/tmp/h3-nl-written\""
check "a host process is attributed to the host" \
	wait_until 10 has "(.container == \"\") and .type == \"exec\" and .argv == [\"/bin/sleep\",\"0.41\"]"
CG=$(first "$IN and .type == \"exec\" and .argv == [\"/bin/sleep\",\"0.4\"]" | jq -r .cgroup_id)
for dir in /sys/fs/cgroup/unified/docker/$CID /sys/fs/cgroup/docker/$CID /sys/fs/cgroup/system.slice/docker-$CID.scope; do
	[ -d "$dir" ] && break
done
check "the cgroup id is the inode of the container's cgroup ($dir)" \
	test "$CG" = "$(stat -c %i "$dir" 2>/dev/null)"

kill -INT "$DUMP_PID"
wait "$DUMP_PID"
DUMP_PID=
STATS=$(grep '"type":"stats"' "$OUT" | tail -n 1)
echo "stats: $STATS"
check "the sensor reports its counters (backend netlink, events delivered, nothing malformed)" \
	jq -e -n --argjson s "${STATS:-null}" '$s != null and $s.backend == "netlink" and $s.delivered > 0 and $s.malformed == 0'
t_done
