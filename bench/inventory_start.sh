#!/bin/bash
# inventory_start: how long a Defender takes, from its start, to put a complete inventory of N
# running containers (default 200) into the Console. Needs root and Debian's docker.io.
#
# A private dockerd (tests/tools/dockerd-harness.sh, its own directory under /tmp, no bridge) runs
# N busybox containers (test/busybox:1 `sleep 36000`, --network none, Kubernetes-style labels on
# half of them so that records carry namespaces and pods). A fresh release Console listens on
# 127.0.0.1 with its own data directory. Then, RUNS times (default 3), a real garrison-defender is
# started (DOCKER_CLIENT_ADDRESS = the private socket) and GET /api/v1/containers?hostname=H&limit=1
# is polled every 100 ms on one kept-alive HTTPS connection (`inventory_api wait`,
# bench/inventory_api.c) until Total-Count says N; the seconds from the Defender's exec to that
# answer are printed, then the median. Each run is the first start of a node: before it, the
# previous Defender is stopped, deleted through the API (which drops its inventory and revokes its
# identity) and its data directory wiped, so it enrolls with the install bundle again, says hello
# and sends its snapshot. VmRSS of the Defender (when complete) and of the Console are printed.
# A benchmark: it prints figures and never judges them. Everything it starts (containers, dockerd,
# Console, Defender) is stopped on exit.
#
# MODES="proc top" alternates, run by run, the Defender's normal way of reading a container's
# processes (/proc) with the engine's GET /containers/{id}/top (GARRISON_INVENTORY_TOP=1), for a
# paired comparison under the same load; the median is then printed per mode.
# Environment: N (200), RUNS (3), MODES (proc), TIMEOUT (seconds per run, 300), API_PORT (28483),
# DEF_PORT (28484), PAR (parallel `docker run`s, 4), WORK (a new directory under /tmp; keep it
# short, the Docker socket path must fit in 100 bytes), KEEP=1 keeps $WORK (logs),
# SAVE_RECORD=FILE writes one container's record (.info of /api/v1/containers) there, B (build dir),
# ENGINE_DIR=DIR uses the private engine already running in DIR (dockerd-harness.sh start DIR) with
# its N running containers instead of starting one (it is left running), NO_BUILD=1 uses the
# binaries already in $B.
#
# GARRISON_LOG_LEVEL=debug for the Defender: its log then has the heap figures after the snapshot.
set -euo pipefail
cd "$(dirname "$0")/.."
export GARRISON_CLOUD_METADATA=off   # never probe cloud metadata addresses from a benchmark

B=${B:-build}
N=${N:-200}
RUNS=${RUNS:-3}
read -r -a MODE_LIST <<<"${MODES:-proc}"
for m in "${MODE_LIST[@]}"; do
	case $m in proc | top) ;; *) echo "inventory_start: MODES holds proc and top only" >&2; exit 2 ;; esac
done
TIMEOUT=${TIMEOUT:-300}
API_PORT=${API_PORT:-28483}
DEF_PORT=${DEF_PORT:-28484}
PAR=${PAR:-4}
KEEP=${KEEP:-0}
SAVE_RECORD=${SAVE_RECORD:-}
HARNESS=$PWD/tests/tools/dockerd-harness.sh
WORK=${WORK:-$(mktemp -d /tmp/gis.XXXXXX)}
mkdir -p "$WORK"
chmod 700 "$WORK"
DK=${ENGINE_DIR:-$WORK/dk}

CONSOLE_PID=
DEFENDER_PID=
stop_pid() {
	local p=$1
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
cleanup() {
	stop_pid "$DEFENDER_PID"
	stop_pid "$CONSOLE_PID"
	# The harness stops dockerd (which stops the containers) and kills whatever it left behind.
	[ -n "${ENGINE_DIR:-}" ] || bash "$HARNESS" stop "$DK" >>"$WORK/harness.log" 2>&1 || true
	if [ "$KEEP" = 1 ]; then
		echo "kept $WORK (console.log, defender-*.log, harness.log, dk/dockerd.log)"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "inventory_start: needs root (a private dockerd)" >&2; exit 1; }
for tool in curl jq awk; do
	command -v "$tool" >/dev/null || { echo "inventory_start: $tool is required" >&2; exit 1; }
done

if [ "${NO_BUILD:-0}" = 1 ]; then
	for f in "$B/bin/garrison-console" "$B/bin/garrison-defender" "$B/bench/inventory_api"; do
		[ -x "$f" ] || { echo "inventory_start: NO_BUILD=1 but $f is missing" >&2; exit 1; }
	done
else
	echo "== building release binaries"
	make -s "$B/bin/garrison-console" "$B/bin/garrison-defender" "$B/bench/inventory_api" >/dev/null
fi

model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
memgb=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
echo "== machine: $(nproc) CPUs ($model), ${memgb} GiB, Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"

dk() { bash "$HARNESS" docker "$DK" "$@"; }
t0=$SECONDS
if [ -n "${ENGINE_DIR:-}" ]; then
	echo "== the private dockerd already running in $DK"
else
echo "== private dockerd in $DK"
t0=$SECONDS
bash "$HARNESS" start "$DK" >>"$WORK/harness.log" 2>&1 || {
	echo "inventory_start: cannot start dockerd:" >&2; tail -20 "$WORK/harness.log" >&2; exit 1; }
echo "   $(dk version --format 'engine {{.Server.Version}}, storage driver' 2>/dev/null)" \
	"$(dk info --format '{{.Driver}}' 2>/dev/null), up in $((SECONDS - t0)) s"

echo "== starting $N containers (test/busybox:1 sleep 36000, --network none, $PAR at a time)"
t0=$SECONDS
# Every other container looks like a Kubernetes pod (namespace, pod, container name labels).
run_one() {
	local i=$1
	local labels=(--label "app=app-$((i % 10))" --label "env=$([ $((i % 3)) = 0 ] && echo prod || echo dev)")
	if [ $((i % 2)) = 0 ]; then
		labels+=(--label "io.kubernetes.pod.namespace=ns-$((i % 5))" --label "io.kubernetes.pod.name=pod-$i"
			--label "io.kubernetes.container.name=main")
	fi
	bash "$HARNESS" docker "$DK" run -d --network none --name "inv-$i" "${labels[@]}" \
		test/busybox:1 sleep 36000 >/dev/null
}
export -f run_one
export HARNESS DK
seq 1 "$N" | xargs -P "$PAR" -I{} bash -c 'run_one {}' >>"$WORK/harness.log" 2>&1 || true
fi
running=$(dk ps -q | wc -l)
echo "   $running running after $((SECONDS - t0)) s"
[ "$running" = "$N" ] || { echo "inventory_start: only $running of $N containers run" >&2; tail -20 "$WORK/harness.log" >&2; exit 1; }

PASSWORD=$(openssl rand -hex 16)
DATA=$WORK/console
GARRISON_ADMIN_PASSWORD=$PASSWORD "$B/bin/garrison-console" --data-dir "$DATA" \
	--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
	>"$WORK/console.log" 2>&1 &
CONSOLE_PID=$!
URL=https://127.0.0.1:$API_PORT
for _ in $(seq 1 100); do
	curl -sf --max-time 1 --cacert "$DATA/ca.pem" "$URL/api/v1/_ping" -o /dev/null 2>/dev/null && break
	kill -0 "$CONSOLE_PID" 2>/dev/null || { echo "inventory_start: the Console did not start:" >&2; tail -20 "$WORK/console.log" >&2; exit 1; }
	sleep 0.1
done
BUNDLE=$(curl -sf --cacert "$DATA/ca.pem" -u "admin:$PASSWORD" \
	"$URL/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)
# A bearer token for the polls: Basic would pay the password hash whenever its cache expires.
TOKEN=$(curl -sf --cacert "$DATA/ca.pem" -H 'Content-Type: application/json' \
	-d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$URL/api/v1/authenticate" | jq -r .token)
[ -n "$BUNDLE" ] && [ -n "$TOKEN" ] || { echo "inventory_start: no bundle or token from the API" >&2; exit 1; }
(umask 077; printf '%s\n' "$TOKEN" >"$WORK/token")
api() { curl -sf --max-time 10 --cacert "$DATA/ca.pem" -H "Authorization: Bearer $TOKEN" "$@"; }
HOST=$(hostname)
total() {
	api -D - -o /dev/null "$URL/api/v1/containers?hostname=$HOST&limit=1" 2>/dev/null |
		awk 'tolower($1) == "total-count:" {gsub("\r", "", $2); print $2}'
}
kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$2/status" 2>/dev/null; }
mib() { awk -v k="${1:-0}" 'BEGIN {printf "%.1f", k / 1024}'; }
now() { date +%s.%N; }

echo "== Console pid $CONSOLE_PID on $URL; Defender host name $HOST; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# Where the time goes, from the Defender's log: its session with the Console welcomed it
# (uplink: connected), and it had listed and inspected every container (inventory: Docker engine ...,
# logged just before the snapshot is sent).
log_s() { # FILE PATTERN: seconds from $start to the first log line matching PATTERN
	local ts
	ts=$(grep -m1 "$2" "$1" 2>/dev/null | cut -d' ' -f1)
	[ -n "$ts" ] || { echo -; return; }
	awk -v a="$start" -v b="$(date -d "$ts" +%s.%N)" 'BEGIN {printf "%.2f", b - a}'
}
printf '%-4s %-5s %8s %10s %10s %8s %14s %14s %s\n' run mode seconds connected collected polls \
	defender_MiB console_MiB notes
RESULTS=()
declare -A MODE_RESULTS=()
for run in $(seq 1 "$RUNS"); do
	mode=${MODE_LIST[$(( (run - 1) % ${#MODE_LIST[@]} ))]}
	force_top=0
	[ "$mode" = top ] && force_top=1
	# A first start each time: no identity, nothing stored for this host.
	stop_pid "$DEFENDER_PID"
	DEFENDER_PID=
	api -X DELETE -o /dev/null "$URL/api/v1/defenders/$HOST" 2>/dev/null || true
	rm -rf "$WORK/defender"
	[ "$(total)" = 0 ] || { echo "inventory_start: the Console still lists containers of $HOST" >&2; exit 1; }
	start=$(now)
	WS_ADDRESS=wss://127.0.0.1:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
		DEFENDER_CLUSTER=bench-cluster DOCKER_CLIENT_ADDRESS=$DK/docker.sock GARRISON_INVENTORY_TOP=$force_top \
		GARRISON_DATA_DIR=$WORK/defender "$B/bin/garrison-defender" >"$WORK/defender-$run.log" 2>&1 &
	DEFENDER_PID=$!
	out=$("$B/bench/inventory_api" wait --api "$URL" --cacert "$DATA/ca.pem" --token-file "$WORK/token" \
		--path "/api/v1/containers?hostname=$HOST&limit=1" --count "$N" --since "$start" \
		--interval-ms 100 --timeout "$TIMEOUT" --pid "$DEFENDER_PID" 2>>"$WORK/wait.log" || true)
	secs=$(sed -n 's/^seconds=\([^ ]*\).*/\1/p' <<<"$out")
	polls=$(sed -n 's/.* polls=\([0-9]*\).*/\1/p' <<<"$out")
	notes=$(sed -n 's/.*total=[-0-9]* *//p' <<<"$out")
	secs=${secs:--}
	drss=$(kb VmRSS "$DEFENDER_PID")
	crss=$(kb VmRSS "$CONSOLE_PID")
	printf '%-4s %-5s %8s %10s %10s %8s %14s %14s %s\n' "$run" "$mode" "$secs" \
		"$(log_s "$WORK/defender-$run.log" 'uplink: connected')" \
		"$(log_s "$WORK/defender-$run.log" 'inventory: Docker engine .* (API')" "$polls" \
		"$(mib "$drss")" "$(mib "$crss")" "$notes"
	if [ "$secs" != - ]; then
		RESULTS+=("$secs")
		MODE_RESULTS[$mode]="${MODE_RESULTS[$mode]:-} $secs"
	fi
done

if [ -n "$SAVE_RECORD" ]; then
	api "$URL/api/v1/containers?hostname=$HOST&search=inv-2&limit=1&sort=info.name" | jq '.[0].info' >"$SAVE_RECORD" &&
		echo "== one container record saved in $SAVE_RECORD"
fi
# The Defender idles a few seconds (heartbeats, the events stream) before its memory is read again.
sleep 5
echo "== after the last run: Defender VmRSS $(mib "$(kb VmRSS "$DEFENDER_PID")") MiB (VmHWM" \
	"$(mib "$(kb VmHWM "$DEFENDER_PID")") MiB), Console VmRSS $(mib "$(kb VmRSS "$CONSOLE_PID")") MiB" \
	"(VmHWM $(mib "$(kb VmHWM "$CONSOLE_PID")") MiB); load average $(cut -d' ' -f1-3 /proc/loadavg)"
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
if [ ${#RESULTS[@]} -gt 0 ]; then
	if [ ${#MODE_LIST[@]} -gt 1 ]; then
		for m in "${MODE_LIST[@]}"; do
			read -r -a mr <<<"${MODE_RESULTS[$m]:-}"
			[ ${#mr[@]} -gt 0 ] || continue
			echo "== mode $m: ${mr[*]} s; median $(median "${mr[@]}") s"
		done
	fi
	echo "== Defender start to $N containers in the Console: ${RESULTS[*]} s; median $(median "${RESULTS[@]}") s (${#RESULTS[@]} of $RUNS runs complete)"
else
	echo "== no run completed"
fi
