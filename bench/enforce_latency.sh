#!/bin/bash
# enforce_latency: what fanotify prevention (defender/enforce_fanotify.c) costs a container. Starts
# a private dockerd (tests/tools/dockerd-harness.sh, no network), one busybox container, and times
# inside it a loop of N_EXEC execs of /bin/true and a loop of N_OPEN opens (a shell redirection,
# no exec), each as one `docker exec`, minus the same loop running the shell's ':' (so the docker
# exec and the loop itself are subtracted), best of REPEAT. Three modes: no mark; tests/tools/enforce_ctl with an exec deny list (FAN_OPEN_EXEC_PERM
# on the container's root file system); with an open deny list (FAN_OPEN_PERM, which also sees
# every exec). Nothing in the lists matches, so every event goes through a decision and is allowed.
# Then PAR parallel open loops run under the open mark and the tool's counters give the permission
# events answered per second and the worst answer latency. Needs root. A benchmark: it prints
# figures and never judges them; everything it starts is stopped on exit.
#
# Environment: N_EXEC (500), N_OPEN (20000), PAR (2), N_PAR (20000 opens per parallel loop),
# REPEAT (3), WORKERS (decision threads, 1; 0: --inline, decisions on the reader thread),
# WORK (a new directory under /tmp), KEEP=1 keeps $WORK, B (build dir, default build; the release
# build gives the real figures).
set -euo pipefail
cd "$(dirname "$0")/.."
export GARRISON_CLOUD_METADATA=off

B=${B:-build}
N_EXEC=${N_EXEC:-500}
N_OPEN=${N_OPEN:-20000}
PAR=${PAR:-2}
N_PAR=${N_PAR:-20000}
REPEAT=${REPEAT:-3}
WORKERS=${WORKERS:-1}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/garrison-enforce.XXXXXX)}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
mkdir -p "$WORK"
CTL_PID=
cleanup() {
	if [ -n "$CTL_PID" ]; then kill -TERM "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
	"$HARNESS" stop "$WORK/d" >/dev/null 2>&1 || true
	if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "enforce_latency: needs root" >&2; exit 1; }
make -s -j2 B="$B" "$B/tools/enforce_ctl" >/dev/null
CTL=$PWD/$B/tools/enforce_ctl
"$HARNESS" start "$WORK/d" >"$WORK/harness.log" 2>&1 || { cat "$WORK/harness.log"; exit 1; }
dk() { "$HARNESS" docker "$WORK/d" "$@"; }
CID=$(dk run -d test/busybox:1 sleep 36000)

now() { date +%s%N; }
# loop_ns N CMD: ns for one docker exec running CMD N times in the container
loop_ns() {
	local t0 t1
	t0=$(now)
	dk exec "$CID" sh -c "i=0; while [ \$i -lt $1 ]; do $2; i=\$((i+1)); done" >/dev/null
	t1=$(now)
	echo $((t1 - t0))
}
# per_op_ns N CMD: best of REPEAT of (loop(N, CMD) - loop(N, :)) / N: what CMD costs beyond the
# shell loop and the docker exec around it
per_op_ns() {
	local best= a b v
	for _ in $(seq 1 "$REPEAT"); do
		a=$(loop_ns "$1" :)
		b=$(loop_ns "$1" "$2")
		v=$(((b - a) / $1))
		[ $v -lt 0 ] && v=0
		if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v; fi
	done
	echo "$best"
}
start_ctl() {
	local how=(--workers "$WORKERS")
	[ "$WORKERS" = 0 ] && how=(--inline)
	"$CTL" --docker "$WORK/d/docker.sock" --container "$CID" --quiet "${how[@]}" "$@" \
		>"$WORK/ctl.out" 2>"$WORK/ctl.err" &
	CTL_PID=$!
	for _ in $(seq 1 100); do grep -q ready "$WORK/ctl.err" 2>/dev/null && return 0; sleep 0.1; done
	cat "$WORK/ctl.err" >&2
	exit 1
}
stop_ctl() {
	kill -TERM "$CTL_PID"
	wait "$CTL_PID" || true
	CTL_PID=
}

echo "# enforce_latency: N_EXEC=$N_EXEC N_OPEN=$N_OPEN REPEAT=$REPEAT WORKERS=$WORKERS B=$B kernel $(uname -r), $(nproc) cores"
printf '%-10s %10s %7s %10s %7s\n' mode exec_us ratio open_us ratio
base_exec=$(per_op_ns "$N_EXEC" /bin/true)
base_open=$(per_op_ns "$N_OPEN" ': </etc/passwd')
row() { # mode exec_ns open_ns
	awk -v m="$1" -v e="$2" -v o="$3" -v be="$base_exec" -v bo="$base_open" \
		'BEGIN { printf "%-10s %10.1f %7.2f %10.2f %7.2f\n", m, e / 1000, (be ? e / be : 0), o / 1000, (bo ? o / bo : 0) }'
}
row none "$base_exec" "$base_open"
start_ctl --deny-exec /nonexistent/x
row exec-mark "$(per_op_ns "$N_EXEC" /bin/true)" "$(per_op_ns "$N_OPEN" ': </etc/passwd')"
stop_ctl
start_ctl --deny-open /nonexistent/x
row open-mark "$(per_op_ns "$N_EXEC" /bin/true)" "$(per_op_ns "$N_OPEN" ': </etc/passwd')"
stop_ctl

# throughput: PAR parallel open loops under the open mark
start_ctl --deny-open /nonexistent/x
t0=$(now)
pids=()
for _ in $(seq 1 "$PAR"); do
	dk exec "$CID" sh -c "i=0; while [ \$i -lt $N_PAR ]; do : </etc/passwd; i=\$((i+1)); done" &
	pids+=($!)
done
wait "${pids[@]}"
t1=$(now)
stop_ctl
jq -r --arg ns "$((t1 - t0))" 'select(.kind == "stats") |
	"answered \(.events) permission events in \(($ns | tonumber) / 1e9 * 100 | floor / 100) s: \((.events / (($ns | tonumber) / 1e9)) | floor) events/s; timed out \(.timed_out), queue full \(.queue_full), max answer latency \(.max_latency_us) us"' \
	"$WORK/ctl.out"
