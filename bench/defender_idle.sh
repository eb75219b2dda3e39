#!/bin/bash
# defender_idle: the resident memory of one idle Defender. Builds the release Console and
# Defender, starts a fresh Console on 127.0.0.1 and one real garrison-defender (its own data
# directory, cloud metadata off), waits until the Console lists it as connected, lets it idle for
# $IDLE seconds (heartbeats only) and prints its VmRSS and VmHWM, with the breakdown into
# anonymous memory and mapped files (shared libraries) and the proportional share (Pss) from
# /proc/PID/smaps_rollup. A benchmark: it prints figures and never judges them. Every process it
# starts is stopped on exit.
#
# Environment: IDLE (30 s), GARRISON_HEARTBEAT_SEC (10), API_PORT (28183), DEF_PORT (28184),
# WORK (a new directory under /tmp), KEEP=1 keeps $WORK, B (build dir, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
export GARRISON_CLOUD_METADATA=off   # the Defender must never probe cloud metadata addresses here

B=${B:-build}
IDLE=${IDLE:-30}
HB=${GARRISON_HEARTBEAT_SEC:-10}
API_PORT=${API_PORT:-28183}
DEF_PORT=${DEF_PORT:-28184}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/garrison-idle.XXXXXX)}
mkdir -p "$WORK"
chmod 700 "$WORK"

CONSOLE_PID=
DEFENDER_PID=
cleanup() {
	local p
	for p in $DEFENDER_PID $CONSOLE_PID; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $DEFENDER_PID $CONSOLE_PID; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl jq awk; do
	command -v "$tool" >/dev/null || { echo "defender_idle: $tool is required" >&2; exit 1; }
done
make -s "$B/bin/garrison-console" "$B/bin/garrison-defender" >/dev/null

PASSWORD=$(openssl rand -hex 16)
DATA=$WORK/console
GARRISON_ADMIN_PASSWORD=$PASSWORD GARRISON_HEARTBEAT_SEC=$HB "$B/bin/garrison-console" \
	--data-dir "$DATA" --api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" \
	--san 127.0.0.1 --san localhost >"$WORK/console.log" 2>&1 &
CONSOLE_PID=$!
URL=https://127.0.0.1:$API_PORT
for _ in $(seq 1 100); do
	curl -sf --max-time 1 --cacert "$DATA/ca.pem" "$URL/api/v1/_ping" -o /dev/null 2>/dev/null && break
	kill -0 "$CONSOLE_PID" 2>/dev/null || { echo "defender_idle: the Console did not start:" >&2; tail -20 "$WORK/console.log" >&2; exit 1; }
	sleep 0.1
done
BUNDLE=$(curl -sf --cacert "$DATA/ca.pem" -u "admin:$PASSWORD" \
	"$URL/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle)
[ -n "$BUNDLE" ] || { echo "defender_idle: no install bundle from the API" >&2; exit 1; }

WS_ADDRESS=wss://127.0.0.1:$DEF_PORT INSTALL_BUNDLE=$BUNDLE DEFENDER_TYPE=docker \
	DEFENDER_CLUSTER=bench-cluster GARRISON_DATA_DIR="$WORK/defender" \
	"$B/bin/garrison-defender" >"$WORK/defender.log" 2>&1 &
DEFENDER_PID=$!
unset BUNDLE

connected() {
	curl -sf --max-time 5 --cacert "$DATA/ca.pem" -u "admin:$PASSWORD" -D - -o /dev/null \
		"$URL/api/v1/defenders?connected=true&limit=1" 2>/dev/null |
		awk 'tolower($1) == "total-count:" {gsub("\r", "", $2); print $2}'
}
start=$SECONDS
until [ "$(connected)" = 1 ]; do
	kill -0 "$DEFENDER_PID" 2>/dev/null || { echo "defender_idle: the Defender exited:" >&2; tail -20 "$WORK/defender.log" >&2; exit 1; }
	[ $((SECONDS - start)) -lt 60 ] || { echo "defender_idle: the Defender did not connect in 60 s" >&2; tail -20 "$WORK/defender.log" >&2; exit 1; }
	sleep 0.2
done
echo "== Defender pid $DEFENDER_PID connected after $((SECONDS - start)) s; idling ${IDLE} s (heartbeat ${HB} s)"
sleep "$IDLE"
kill -0 "$DEFENDER_PID" 2>/dev/null || { echo "defender_idle: the Defender exited while idle" >&2; exit 1; }

kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$DEFENDER_PID/$2"; }
model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo "== machine: $(nproc) CPUs ($model), Linux $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== idle garrison-defender after ${IDLE} s connected:"
printf '   VmRSS %6s kB  (%.1f MiB; target under 15 MB)\n' "$(kb VmRSS status)" "$(awk -v k="$(kb VmRSS status)" 'BEGIN {print k / 1024}')"
printf '   VmHWM %6s kB  (%.1f MiB)\n' "$(kb VmHWM status)" "$(awk -v k="$(kb VmHWM status)" 'BEGIN {print k / 1024}')"
printf '   RssAnon %4s kB, RssFile %s kB, RssShmem %s kB; VmSize %s kB; threads %s\n' \
	"$(kb RssAnon status)" "$(kb RssFile status)" "$(kb RssShmem status)" "$(kb VmSize status)" "$(kb Threads status)"
if [ -r "/proc/$DEFENDER_PID/smaps_rollup" ]; then
	printf '   Pss %s kB (shared library pages divided among the processes that map them)\n' "$(kb Pss smaps_rollup)"
fi
echo "   CPU: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$DEFENDER_PID/stat") s since start"
