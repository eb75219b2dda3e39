#!/bin/bash
# inventory_api: latency of the Console's inventory views with K x PER containers stored (default
# 50 x 200 = 10,000). Builds the release Console and bench/inventory_api, starts a fresh Console on
# 127.0.0.1 (its own data directory under $WORK), fetches the install bundle and a token through
# the API, and runs `inventory_api run` (bench/inventory_api.c): K simulated Defenders enroll over
# WSS with mutual TLS and send one inventory snapshot each through the real protocol, three
# collections are created, and GET /api/v1/containers (unfiltered, limit=50, ?collections=...) and
# the Radar views are timed over N requests each on a kept-alive connection: min, median, p95,
# max, the Console's CPU per request, and its VmRSS before and after loading.
# A benchmark: it prints figures and never judges them. Every process it starts is stopped on exit.
#
# Environment: K (50), PER (200), N (20), API_PORT (28583), DEF_PORT (28584), TEMPLATE (a container
# record to vary, e.g. saved by SAVE_RECORD=FILE bench/inventory_start.sh; default: the one built
# in), PROFILE=1 records the Console with `perf record -g` during the run and prints the top of the
# report, WORK (a new directory under /tmp), KEEP=1 keeps $WORK, B (build dir, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
export GARRISON_CLOUD_METADATA=off   # never probe cloud metadata addresses from a benchmark

B=${B:-build}
K=${K:-50}
PER=${PER:-200}
N=${N:-20}
API_PORT=${API_PORT:-28583}
DEF_PORT=${DEF_PORT:-28584}
TEMPLATE=${TEMPLATE:-}
PROFILE=${PROFILE:-0}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/garrison-invapi.XXXXXX)}
mkdir -p "$WORK"
chmod 700 "$WORK"

CONSOLE_PID=
PERF_PID=
stop_pid() {
	local p=$1 sig=${2:-TERM}
	[ -n "$p" ] || return 0
	kill -"$sig" "$p" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
cleanup() {
	stop_pid "$PERF_PID" INT
	stop_pid "$CONSOLE_PID"
	if [ "$KEEP" = 1 ]; then echo "kept $WORK (console.log, perf.data when PROFILE=1)"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl jq awk openssl; do
	command -v "$tool" >/dev/null || { echo "inventory_api: $tool is required" >&2; exit 1; }
done
echo "== building release binaries"
make -s "$B/bin/garrison-console" "$B/bench/inventory_api" >/dev/null

model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
memgb=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
echo "== machine: $(nproc) CPUs ($model), ${memgb} GiB, Linux $(uname -r), SQLite $(pkg-config --modversion sqlite3)," \
	"jansson $(pkg-config --modversion jansson), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (anything above 0 is other work competing for the CPUs)"

PASSWORD=$(openssl rand -hex 16)
DATA=$WORK/console
GARRISON_ADMIN_PASSWORD=$PASSWORD "$B/bin/garrison-console" --data-dir "$DATA" \
	--api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" --san 127.0.0.1 \
	>"$WORK/console.log" 2>&1 &
CONSOLE_PID=$!
URL=https://127.0.0.1:$API_PORT
for _ in $(seq 1 100); do
	curl -sf --max-time 1 --cacert "$DATA/ca.pem" "$URL/api/v1/_ping" -o /dev/null 2>/dev/null && break
	kill -0 "$CONSOLE_PID" 2>/dev/null || { echo "inventory_api: the Console did not start:" >&2; tail -20 "$WORK/console.log" >&2; exit 1; }
	sleep 0.1
done
curl -sf --cacert "$DATA/ca.pem" -u "admin:$PASSWORD" \
	"$URL/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle >"$WORK/bundle"
# A bearer token: Basic would pay the password hash whenever the credential cache expires.
curl -sf --cacert "$DATA/ca.pem" -H 'Content-Type: application/json' \
	-d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$URL/api/v1/authenticate" | jq -r .token >"$WORK/token"
chmod 600 "$WORK/bundle" "$WORK/token"
[ -s "$WORK/bundle" ] && [ -s "$WORK/token" ] || { echo "inventory_api: no bundle or token from the API" >&2; exit 1; }

if [ "$PROFILE" = 1 ]; then
	perf record -q -g -F 499 -p "$CONSOLE_PID" -o "$WORK/perf.data" >"$WORK/perf.log" 2>&1 &
	PERF_PID=$!
	sleep 1
fi
echo "== Console pid $CONSOLE_PID on $URL"
"$B/bench/inventory_api" run --ws "wss://127.0.0.1:$DEF_PORT" --bundle "@$WORK/bundle" --api "$URL" \
	--cacert "$DATA/ca.pem" --token-file "$WORK/token" -k "$K" --per "$PER" -n "$N" \
	--console-pid "$CONSOLE_PID" ${TEMPLATE:+--template "$TEMPLATE"} 2>"$WORK/inventory_api.log" ||
	{ echo "inventory_api: the run failed:" >&2; tail -20 "$WORK/inventory_api.log" >&2; }
# The first warnings of the load generator, if any (connection failures, refusals).
{ grep -E 'WARN|ERROR' "$WORK/inventory_api.log" || true; } | head -5 | sed 's/^/   log: /'
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$PROFILE" = 1 ]; then
	stop_pid "$PERF_PID" INT
	PERF_PID=
	echo "== perf: the Console's hottest functions over the whole run (self time)"
	perf report -i "$WORK/perf.data" --stdio --no-children --sort symbol 2>/dev/null |
		grep -E '^ +[0-9]+\.[0-9]+%' | head -25
fi
