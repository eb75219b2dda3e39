#!/bin/bash
# sensor_engine: what runtime defense carries and costs end to end: the eBPF sensors, sensor_next()
# and runtime_evaluate() with a realistic policy and learned models, and audit throttling, all on
# one consumer thread (bench/sensor_engine.c). The load comes from bench/sensor_pipeline.c run in a
# container-like cgroup of its own (a 64-hex "container" directory under the Docker cgroup parent,
# so the sensor attributes its events to a container and the rules and models apply), pinned to
# CPU $STORM_CPU while the engine has CPU $ENGINE_CPU.
#
# Part 1, throughput and loss: for each storm (exec: spawn of /bin/true, 2 events each; mixed:
# writable open+close alternating with a UDP connect, 1 event each) and each model mode (learn,
# active: nothing learned, so every container event is an anomaly, decided and throttled), the
# storm runs at the paced rates of $RATES_<storm> and then unpaced; after each step the engine's
# counters give the events seen in the kernel, lost there, dropped in user space, and evaluated.
# Part 2, drain: the consumer's ceiling (see below).
# Part 3, overhead: the syscall-heavy "workload" storm (open/close, read-only open, UDP connect,
# and a spawn of /bin/true every 20 rounds) timed in $REPEAT interleaved pairs, without the engine
# and with a freshly started one (models learn, the Defender's default buffers): medians of wall
# and CPU time and their ratios, and the engine's VmRSS, RssAnon and VmHWM.
#
# Needs root. A benchmark: it prints figures and never judges them; it stops everything it starts
# and removes its cgroup and work directory on exit.
#
# Environment: B (build dir, default build/rel-bench: a non-sanitized build is made there), PARTS
# ("throughput drain overhead"), N_DRAIN (800000), RINGBUF_DRAIN (268435456), MODELS ("learn active"), STORMS ("exec mixed"), RATES_mixed
# ("100000 200000 300000 400000 600000"), RATES_exec (""), SECONDS_STEP (3: paced steps last about
# this long), N_EXEC (3000), N_MIXED_MAX (2000000), N_WORKLOAD (20000), OVERHEAD_STORM (workload; or mixed, open, openmany, getppid, write,
# connect, exec), OVERHEAD_MODELS (learn; drain: the sensor alone, events read and not evaluated),
# OVERHEAD_FAMILIES (all; or a comma list of process, network, file: to split the overhead; none:
# no engine on either side, which shows the measurement's own bias and noise),
# SYSCALL_HOOK (auto; tracepoints or sys_exit: the engine's --syscall-hook, docs/sensors.md "Hooks"),
# AA (overhead part: 1 runs the storm a second time without the engine in each round, and prints
# that A/A ratio: the noise of this very series), COMPARE_B (overhead part: another build dir,
# e.g. a worktree of an older commit built with make B=...; each round also runs that build's
# engine, and its ratio and the ratio of the two engines are printed),
# FOLD_MS (the overhead part's fold window: 1000, the Defender's default; 0: off; the other parts
# measure the pipeline itself and run without folding, every event distinct), REPEAT (5), RINGBUF
# (16777216), QUEUE (8192), STORM_CPU (0), ENGINE_CPU (1), WORK (a new /tmp/h3-engine.XXXXXX).
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build/rel-bench}
PARTS=${PARTS:-throughput drain overhead}
N_DRAIN=${N_DRAIN:-800000}
RINGBUF_DRAIN=${RINGBUF_DRAIN:-268435456}
MODELS=${MODELS:-learn active}
STORMS=${STORMS:-exec mixed}
RATES_mixed=${RATES_mixed:-100000 200000 300000 400000 600000}
RATES_exec=${RATES_exec:-}
SECONDS_STEP=${SECONDS_STEP:-3}
N_EXEC=${N_EXEC:-3000}
N_MIXED_MAX=${N_MIXED_MAX:-2000000}
N_WORKLOAD=${N_WORKLOAD:-20000}
OVERHEAD_STORM=${OVERHEAD_STORM:-workload}
OVERHEAD_MODELS=${OVERHEAD_MODELS:-learn}
OVERHEAD_FAMILIES=${OVERHEAD_FAMILIES:-all}
FOLD_MS=${FOLD_MS:-1000}
SYSCALL_HOOK=${SYSCALL_HOOK:-auto}
REPEAT=${REPEAT:-5}
RINGBUF=${RINGBUF:-16777216}
QUEUE=${QUEUE:-8192}
STORM_CPU=${STORM_CPU:-0}
ENGINE_CPU=${ENGINE_CPU:-1}
WORK=${WORK:-$(mktemp -d /tmp/h3-engine.XXXXXX)}
PORT=28550

[ "$(id -u)" -eq 0 ] || { echo "sensor_engine: needs root (loads BPF programs)"; exit 1; }
command -v jq >/dev/null || { echo "sensor_engine: needs jq"; exit 1; }
make -s B="$B" "$B/bench/sensor_engine" "$B/bench/sensor_pipeline" >/dev/null
COMPARE_B=${COMPARE_B:-}
[ -n "$COMPARE_B" ] && [[ $COMPARE_B != /* ]] && COMPARE_B=$PWD/$COMPARE_B
if [ -n "$COMPARE_B" ] && [ ! -x "$COMPARE_B/bench/sensor_engine" ]; then
	echo "sensor_engine: COMPARE_B=$COMPARE_B has no bench/sensor_engine (build it there first)"
	exit 1
fi
GEN=$PWD/$B/bench/sensor_pipeline
ENGINE=$PWD/$B/bench/sensor_engine

# A container-like cgroup: where the sensor's resolver looks for Docker containers.
CID=$(printf 'b3%.0s' $(seq 1 32))
if [ -d /sys/fs/cgroup/unified ]; then PARENT=/sys/fs/cgroup/unified/docker; else PARENT=/sys/fs/cgroup/docker; fi
MADE_PARENT=0
[ -d "$PARENT" ] || MADE_PARENT=1
CG=$PARENT/$CID
mkdir -p "$CG"

ENGINE_PID=
cleanup() {
	if [ -n "$ENGINE_PID" ]; then
		kill -INT "$ENGINE_PID" 2>/dev/null || true
		wait "$ENGINE_PID" 2>/dev/null || true
	fi
	rmdir "$CG" 2>/dev/null || true
	[ "$MADE_PARENT" = 1 ] && rmdir "$PARENT" 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# gen ARGS...: the generator in the container cgroup on STORM_CPU; prints its result line.
gen() {
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG" taskset -c "$STORM_CPU" "$GEN" "$@"
}

engine_start() { # MODELS [FAMILIES [FOLD_MS [ENGINE]]]
	local hook=()
	# Only when asked: an engine built before the option existed takes the others.
	[ "$SYSCALL_HOOK" != auto ] && hook=(--syscall-hook "$SYSCALL_HOOK")
	taskset -c "$ENGINE_CPU" "${4:-$ENGINE}" --models "$1" --families "${2:-all}" --fold-ms "${3:-0}" \
		"${hook[@]}" --ringbuf "$RINGBUF" --queue "$QUEUE" \
		>"$WORK/engine.out" 2>"$WORK/engine.err" &
	ENGINE_PID=$!
	for _ in $(seq 1 200); do grep -q ready "$WORK/engine.err" 2>/dev/null && break; sleep 0.05; done
	grep -q ready "$WORK/engine.err" || { cat "$WORK/engine.err"; exit 1; }
}
engine_stop() {
	kill -INT "$ENGINE_PID"
	wait "$ENGINE_PID" || true
	ENGINE_PID=
}
# snap: the engine's cumulative counters now (one JSON line).
snap() {
	local n
	n=$(wc -l <"$WORK/engine.out")
	kill -USR1 "$ENGINE_PID"
	for _ in $(seq 1 100); do [ "$(wc -l <"$WORK/engine.out")" -gt "$n" ] && break; sleep 0.02; done
	tail -n 1 "$WORK/engine.out"
}
# delta A B: the step's figures from two snapshots.
delta() {
	jq -n -c --argjson a "$1" --argjson b "$2" '
		def seen(s): [s.sensor.events[] | .seen] | add;
		def lost(s): [s.sensor.events[] | .lostKernel] | add;
		{ seen: (seen($b) - seen($a)), lost: (lost($b) - lost($a)),
		  dropped: ($b.sensor.dropped - $a.sensor.dropped),
		  evaluated: ($b.evaluated - $a.evaluated), decisions: ($b.decisions - $a.decisions),
		  audits: ($b.audits - $a.audits),
		  cpu: (($b.cpuUser + $b.cpuSys) - ($a.cpuUser + $a.cpuSys)),
		  rss: ($b.rssKiB / 1024), hwm: ($b.hwmKiB / 1024), anon: ($b.anonKiB / 1024) }'
}

echo "sensor_engine: $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ring buffer $RINGBUF bytes, queue $QUEUE events, storm on CPU $STORM_CPU in cgroup ${CG#/sys/fs/cgroup/}, engine on CPU $ENGINE_CPU"

if [[ " $PARTS " == *" throughput "* ]]; then
	printf '%-6s %-6s %9s %9s %10s %10s %8s %8s %9s %9s %8s %7s\n' models storm asked/s storm_ev/s \
		seen lost dropped loss evaluated decisions us/event rss_MiB
	for models in $MODELS; do
		engine_start "$models"
		for storm in $STORMS; do
			eval "rates=\${RATES_$storm}"
			for rate in $rates max; do
				per_op=1
				[ "$storm" = exec ] && per_op=2
				if [ "$storm" = exec ]; then
					n=$N_EXEC
				elif [ "$rate" = max ]; then
					n=$N_MIXED_MAX
				else
					n=$((rate * SECONDS_STEP))
				fi
				ropt=()
				[ "$rate" != max ] && ropt=(--rate "$((rate / per_op))")
				[ "$storm" = exec ] && [ "$rate" != max ] && n=$((rate * SECONDS_STEP / per_op))
				a=$(snap)
				line=$(gen "${ropt[@]}" "$storm" "$n" "$([ "$storm" = exec ] && echo /bin/true || echo $PORT)")
				sleep 0.5 # let the engine drain
				b=$(snap)
				d=$(delta "$a" "$b")
				secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$line")
				jq -r --arg m "$models" --arg s "$storm" --arg r "$rate" --argjson n "$n" \
					--argjson per "$per_op" --argjson secs "$secs" '
					[ $m, $s, $r, ($n * $per / $secs | floor), .seen, .lost, .dropped,
					  (if .seen > 0 then (.lost + .dropped) / .seen else 0 end),
					  .evaluated, .decisions,
					  (if .evaluated > 0 then .cpu * 1e6 / .evaluated else 0 end), .rss ] |
					"\(.[0]) \(.[1]) \(.[2]) \(.[3]) \(.[4]) \(.[5]) \(.[6]) \(.[7]) \(.[8]) \(.[9]) \(.[10]) \(.[11])"' \
					<<<"$d" | awk '{ printf "%-6s %-6s %9s %9d %10d %10d %8d %8.4f %9d %9d %8.2f %7.1f\n", \
						$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }'
			done
		done
		engine_stop
	done
	echo "asked/s: the pace asked of the storm (events/s; max: unpaced); storm_ev/s: what it reached;"
	echo "seen/lost: records the BPF programs emitted / found no ring-buffer room for (all processes);"
	echo "dropped: events the sensor thread found no queue slot for; loss = (lost + dropped) / seen;"
	echo "us/event: CPU time of the engine process (both its threads) per event evaluated."
fi

if [[ " $PARTS " == *" drain "* ]]; then
	# The consumer's own ceiling: the storm fills a large ring buffer while the engine is stopped
	# (SIGSTOP), then the engine drains the backlog; its rate over the first 0.5 s is what one
	# consumer thread carries when it never waits for the kernel.
	echo
	echo "drain: $N_DRAIN mixed events queued in a $RINGBUF_DRAIN-byte ring buffer while the engine is stopped"
	printf '%-6s %10s %10s %8s %12s %12s\n' models seen lost dropped drain_ev/s ev/cpu_s
	for models in $MODELS; do
		RINGBUF_SAVED=$RINGBUF
		RINGBUF=$RINGBUF_DRAIN
		engine_start "$models"
		RINGBUF=$RINGBUF_SAVED
		a=$(snap)
		kill -STOP "$ENGINE_PID"
		gen mixed "$N_DRAIN" "$PORT" >/dev/null
		kill -CONT "$ENGINE_PID"
		sleep 3
		b=$(snap)
		d=$(delta "$a" "$b")
		rate=$(jq -r .drainRate <<<"$b")
		jq -r --arg m "$models" --arg r "$rate" '"\($m) \(.seen) \(.lost) \(.dropped) \($r) \(if .cpu > 0 then .evaluated / .cpu else 0 end)"' <<<"$d" |
			awk '{ printf "%-6s %10d %10d %8d %12.0f %12.0f\n", $1, $2, $3, $4, $5, $6 }'
		engine_stop
	done
	echo "drain_ev/s: events evaluated per second in the first 0.5 s of the drain (wall clock, the machine's"
	echo "other load included); ev/cpu_s: events evaluated per CPU second of the engine process."
fi

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

if [[ " $PARTS " == *" overhead "* ]]; then
	# Interleaved pairs (without, then with a freshly started engine) so that the drift of a
	# shared machine hits both sides alike; wall time and CPU time (storm + its children).
	echo
	echo "overhead (engine with the Defender's defaults: 8 MiB ring buffer, 4096 queue slots, fold $FOLD_MS ms, syscall hook $SYSCALL_HOOK, models $OVERHEAD_MODELS, families $OVERHEAD_FAMILIES):"
	echo "$OVERHEAD_STORM storm of $N_WORKLOAD rounds, $REPEAT interleaved pairs"
	case $OVERHEAD_STORM in
	readonly) oarg=/etc/hostname ;;
	open) oarg=$WORK/storm.tmp ;;
	openmany) oarg=$WORK/many ;;
	exec) oarg=/bin/true ;;
	*) oarg=$PORT ;;
	esac
	: >"$WORK/base"
	: >"$WORK/base2"
	: >"$WORK/with"
	: >"$WORK/with2"
	: >"$WORK/mem"
	timed() { gen "$OVERHEAD_STORM" "$N_WORKLOAD" "$oarg" | sed -n 's/.*seconds=\([0-9.]*\).*cpu=\([0-9.]*\).*/\1 \2/p'; }
	for _ in $(seq 1 "$REPEAT"); do
		timed >>"$WORK/base"
		[ "${AA:-0}" = 1 ] && timed >>"$WORK/base2"
		if [ "$OVERHEAD_FAMILIES" = none ]; then
			timed >>"$WORK/with"
			continue
		fi
		RINGBUF=$((8 << 20)) QUEUE=4096 engine_start "$OVERHEAD_MODELS" "$OVERHEAD_FAMILIES" "$FOLD_MS"
		a=$(snap)
		timed >>"$WORK/with"
		sleep 0.3
		b=$(snap)
		engine_stop
		delta "$a" "$b" >>"$WORK/mem"
		if [ -n "$COMPARE_B" ]; then
			RINGBUF=$((8 << 20)) QUEUE=4096 engine_start "$OVERHEAD_MODELS" "$OVERHEAD_FAMILIES" "$FOLD_MS" \
				"$COMPARE_B/bench/sensor_engine"
			timed >>"$WORK/with2"
			sleep 0.3
			engine_stop
		fi
	done
	mb=$(cut -d' ' -f1 "$WORK/base" | median)
	mw=$(cut -d' ' -f1 "$WORK/with" | median)
	cb=$(cut -d' ' -f2 "$WORK/base" | median)
	cw=$(cut -d' ' -f2 "$WORK/with" | median)
	echo "without (wall s, cpu s): $(tr '\n' ';' <"$WORK/base")"
	echo "with    (wall s, cpu s): $(tr '\n' ';' <"$WORK/with")"
	awk -v b="$mb" -v w="$mw" 'BEGIN { printf "wall: median without %.3f s, with %.3f s, ratio %.3f (overhead %+.1f%%)\n", b, w, w / b, (w / b - 1) * 100 }'
	awk -v b="$cb" -v w="$cw" 'BEGIN { printf "CPU:  median without %.3f s, with %.3f s, ratio %.3f (overhead %+.1f%%)\n", b, w, w / b, (w / b - 1) * 100 }'
	# Each pair's own ratio: the drift between pairs cancels out; the quartiles show the spread.
	pairs() { # LABEL FILE_A FILE_B: the wall ratios B/A of each round
		paste -d' ' "$2" "$3" | awk '{ print $3 / $1 }' | sort -g | awk -v l="$1" '
			{ v[NR] = $1 }
			function q(p,  i, f) { i = 1 + (NR - 1) * p; f = int(i); return v[f] + (i - f) * (v[f + 1 < NR ? f + 1 : NR] - v[f]) }
			END { printf "%s: wall ratio median %.3f (overhead %+.1f%%), quartiles %.3f to %.3f, %d pairs\n", l, q(0.5), (q(0.5) - 1) * 100, q(0.25), q(0.75), NR }'
	}
	pairs pairs "$WORK/base" "$WORK/with"
	[ -s "$WORK/base2" ] && pairs "A/A (without, twice)" "$WORK/base" "$WORK/base2"
	if [ -s "$WORK/with2" ]; then
		pairs "pairs with $COMPARE_B" "$WORK/base" "$WORK/with2"
		pairs "$B against $COMPARE_B" "$WORK/with2" "$WORK/with"
	fi
	[ -s "$WORK/mem" ] && jq -s -r '"engine per run: seen \(map(.seen) | add / length | floor), lost \(map(.lost) | add), dropped \(map(.dropped) | add), engine CPU \(map(.cpu) | add / length) s; VmRSS \(map(.rss) | max) MiB (RssAnon \(map(.anon) | max) MiB; the ring buffer counts twice in RssFile), VmHWM \(map(.hwm) | max) MiB"' "$WORK/mem"
fi
