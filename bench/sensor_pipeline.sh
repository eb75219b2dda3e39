#!/bin/bash
# sensor_pipeline: what the eBPF runtime sensors cost and carry. For each storm (open: writable
# opens, connect: UDP connects, exec: spawn of /bin/true, readonly: read-only opens that the
# kernel filter drops) it times the storm without the sensor, then under tests/tools/sensor_dump
# (the bpf back end, events consumed and discarded by its user-space loop, --quiet), and prints:
# the storm's slowdown ratio, the events per second carried from the kernel through the user-space
# loop, the loss rate ((lost in the kernel + dropped in user space) / seen) and the sensor
# process's resident memory (VmRSS at the end, VmHWM), and the CPU time the sensor process
# spent per event delivered (its user-space loop's cost; 1 / that is what one core could carry).
# The storm runs on CPU $STORM_CPU, the sensor on $SENSOR_CPU, so the sensor's loop has one core. Needs root. A benchmark: it prints figures and
# never judges them; everything it starts is stopped on exit.
#
# Environment: N_OPEN (400000), N_CONNECT (400000), N_READONLY (400000), N_EXEC (1000), REPEAT (3:
# each timing is the best of REPEAT runs), RINGBUF (16777216 bytes), QUEUE (4096), WAKEUP (bytes
# waiting before the kernel wakes the reader; 0: every record; empty: the sensor's default),
# FOLD_MS (0: every occurrence is a record, which is what this measures; 1000 is the Defender's
# default, under which these one-process storms are almost entirely folded), STORM_CPU (0),
# SENSOR_CPU (1), STORMS ("open connect readonly exec"), WORK (a new directory under /tmp),
# KEEP=1 keeps $WORK, B (build dir, default build).
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build}
N_OPEN=${N_OPEN:-400000}
N_CONNECT=${N_CONNECT:-400000}
N_READONLY=${N_READONLY:-400000}
N_EXEC=${N_EXEC:-1000}
REPEAT=${REPEAT:-3}
RINGBUF=${RINGBUF:-16777216}
QUEUE=${QUEUE:-4096}
WAKEUP=${WAKEUP:-}
FOLD_MS=${FOLD_MS:-0}
STORM_CPU=${STORM_CPU:-0}
SENSOR_CPU=${SENSOR_CPU:-1}
STORMS=${STORMS:-open connect readonly exec}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/garrison-sensor.XXXXXX)}
mkdir -p "$WORK"

SENSOR_PID=
cleanup() {
	if [ -n "$SENSOR_PID" ]; then
		kill -INT "$SENSOR_PID" 2>/dev/null || true
		wait "$SENSOR_PID" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "sensor_pipeline: needs root (loads BPF programs)"; exit 1; }
command -v jq >/dev/null || { echo "sensor_pipeline: needs jq"; exit 1; }
make -s B="$B" "$B/tools/sensor_dump" "$B/bench/sensor_pipeline" >/dev/null

GEN=$B/bench/sensor_pipeline
DUMP=$B/tools/sensor_dump

# best_of KIND N ARG: the shortest of REPEAT storms, in seconds; the sum goes to $WORK/sum.
best_of() {
	local best="" s sum=0
	for _ in $(seq 1 "$REPEAT"); do
		s=$(taskset -c "$STORM_CPU" "$GEN" "$1" "$2" "$3" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
		sum=$(awk -v a="$sum" -v b="$s" 'BEGIN { print a + b }')
		if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
	done
	echo "$sum" >"$WORK/sum"
	echo "$best"
}

echo "sensor_pipeline: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ring buffer $RINGBUF bytes, queue $QUEUE events, wake-up after ${WAKEUP:-default} bytes, storm on CPU $STORM_CPU, sensor on CPU $SENSOR_CPU, best of $REPEAT"
printf '%-9s %8s %7s %8s %8s %10s %10s %8s %7s %7s %7s %8s\n' storm n base_s sensor_s slowdown \
	storm_ev/s carried/s seen loss rss_MiB hwm_MiB us/event
for kind in $STORMS; do
	case $kind in
	open) n=$N_OPEN arg=$WORK/storm.tmp type=file ;;
	connect) n=$N_CONNECT arg=28920 type=connect ;;
	readonly) n=$N_READONLY arg=/etc/hostname type=file ;;
	exec) n=$N_EXEC arg=/bin/true type=exec ;;
	*) echo "unknown storm $kind"; exit 1 ;;
	esac
	base=$(best_of "$kind" "$n" "$arg")

	wopt=()
	[ -n "$WAKEUP" ] && wopt=(--wakeup "$WAKEUP")
	taskset -c "$SENSOR_CPU" "$DUMP" --quiet --stats --fold-ms "$FOLD_MS" --ringbuf "$RINGBUF" --queue "$QUEUE" "${wopt[@]}" \
		>"$WORK/stats.$kind" 2>"$WORK/sensor.$kind.err" &
	SENSOR_PID=$!
	for _ in $(seq 1 200); do grep -q ready "$WORK/sensor.$kind.err" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$WORK/sensor.$kind.err" || { cat "$WORK/sensor.$kind.err"; exit 1; }
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$SENSOR_PID/stat")
	with=$(best_of "$kind" "$n" "$arg")
	storm_total=$(cat "$WORK/sum")
	sleep 1 # let the loop drain what is left
	hwm=$(awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$SENSOR_PID/status")
	rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$SENSOR_PID/status")
	cpu=$(( $(awk '{ print $14 + $15 }' "/proc/$SENSOR_PID/stat") - cpu0 ))
	kill -INT "$SENSOR_PID"
	wait "$SENSOR_PID" || true
	SENSOR_PID=
	st=$(grep '"type":"stats"' "$WORK/stats.$kind" | tail -n 1)
	seen=$(jq -r ".events.$type.seen" <<<"$st")
	loss=$(jq -r '.lossRate' <<<"$st")
	delivered=$(jq -r '.delivered' <<<"$st")
	awk -v k="$kind" -v n="$n" -v b="$base" -v w="$with" -v tot="$storm_total" -v r="$REPEAT" \
		-v seen="$seen" -v del="$delivered" -v loss="$loss" -v hwm="$hwm" -v rss="$rss" \
		-v cpu="$cpu" -v hz="$(getconf CLK_TCK)" 'BEGIN {
		ev = (k == "readonly") ? 0 : n * r;
		us = del > 0 ? cpu * 1e6 / hz / del : 0;
		printf "%-9s %8d %7.3f %8.3f %7.2fx %10.0f %10.0f %8d %7.4f %7s %7s %8.2f\n", k, n, b, w, \
			w / b, ev / tot, del / tot, seen, loss, rss, hwm, us }'
	echo "  stats: $st" >>"$WORK/all-stats"
done
echo "storm_ev/s: events the storm produced per second under the sensor; carried/s: events the"
echo "user-space loop delivered per second of storm (all processes, the storm's and the machine's);"
echo "us/event: CPU time of the sensor process (user + system, the ring buffer reads included) per"
echo "event delivered: 1e6 / us/event is what its loop could carry on one core."
echo "Full counters of each run: $WORK/all-stats (KEEP=1 keeps it)."
