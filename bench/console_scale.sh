#!/bin/bash
# console_scale: how many Defenders one Console takes on this machine. Builds the release Console
# and bench/defender_swarm, starts a fresh Console on 127.0.0.1 (its own data directory under
# $WORK), fetches the install bundle through the API, then for each K in $KS runs one swarm of K
# simulated Defenders (real protocol, real mutual TLS; bench/defender_swarm.c) and prints:
#   K, seconds until the Console's API lists all K as connected (from the swarm's first identity
#   connection), the Console's VmRSS and VmHWM with the K connections live, the Console's CPU time
#   per heartbeat during a hold of $HOLD seconds (utime+stime delta / heartbeats acked), and the
#   latency of GET /api/v1/defenders (one page of 50, and the whole list).
# It stops at the first K that does not fully connect and says how far it went. A benchmark: it
# prints figures and never judges them. Every process it starts is stopped on exit.
#
# Environment: KS ("100 1000 5000 10000"), GARRISON_HEARTBEAT_SEC (10), HOLD (3 heartbeats),
# RATE (1000 new connections/s at most), INFLIGHT (200 handshakes at most), API_PORT (28083),
# DEF_PORT (28084), CONNECT_TIMEOUT (seconds per K, default 120 + K/50), WORK (a new directory
# under /tmp; an existing one from KEEP=1 is reused with its Console and identities), KEEP=1 keeps
# $WORK (logs, Console data) afterwards, B (build dir, default build).
set -euo pipefail
cd "$(dirname "$0")/.."
export GARRISON_CLOUD_METADATA=off   # never probe cloud metadata addresses from a benchmark

B=${B:-build}
KS=${KS:-100 1000 5000 10000}
HB=${GARRISON_HEARTBEAT_SEC:-10}
HOLD=${HOLD:-$((3 * HB))}
RATE=${RATE:-1000}
INFLIGHT=${INFLIGHT:-200}
API_PORT=${API_PORT:-28083}
DEF_PORT=${DEF_PORT:-28084}
KEEP=${KEEP:-0}
WORK=${WORK:-$(mktemp -d /tmp/garrison-scale.XXXXXX)}
mkdir -p "$WORK"
chmod 700 "$WORK"

CONSOLE_PID=
SWARM_PID=
cleanup() {
	local p
	for p in $SWARM_PID $CONSOLE_PID; do kill -TERM "$p" 2>/dev/null || true; done
	for p in $SWARM_PID $CONSOLE_PID; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		echo "kept $WORK (console.log, swarm-K.out/.log, Console data)"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in curl jq awk; do
	command -v "$tool" >/dev/null || { echo "console_scale: $tool is required" >&2; exit 1; }
done

echo "== building release binaries"
make -s "$B/bin/garrison-console" "$B/bench/defender_swarm" >/dev/null

# Descriptors: the Console and the swarm each hold one per Defender. Both raise their soft limit
# to the hard one; root may raise the hard one here for large K.
MAXK=0
for k in $KS; do [ "$k" -gt "$MAXK" ] && MAXK=$k; done
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt $((MAXK + 1024)) ]; then
	ulimit -Hn $((MAXK + 1024)) 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
memgb=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
echo "== machine: $(nproc) CPUs ($model), ${memgb} GiB, Linux $(uname -r), $(openssl version | cut -d' ' -f1-2)," \
	"libwebsockets $(pkg-config --modversion libwebsockets 2>/dev/null || echo '?'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg) (anything above 0 is other work competing for the CPUs)"
echo "== descriptors: hard limit $(ulimit -Hn); somaxconn $(cat /proc/sys/net/core/somaxconn);" \
	"local ports $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)"

# A $WORK kept from an earlier run (KEEP=1 WORK=DIR) keeps its Console data, admin password and
# enrolled identities: a rerun skips the enrollments done before.
DATA=$WORK/console
if [ -s "$WORK/admin-password" ] && [ -s "$DATA/ca.pem" ]; then
	PASSWORD=$(cat "$WORK/admin-password")
	echo "== reusing the Console data and identities in $WORK"
else
	PASSWORD=$(openssl rand -hex 16)
	(umask 077 && printf '%s\n' "$PASSWORD" >"$WORK/admin-password")
fi
GARRISON_ADMIN_PASSWORD=$PASSWORD GARRISON_HEARTBEAT_SEC=$HB "$B/bin/garrison-console" \
	--data-dir "$DATA" --api-addr "127.0.0.1:$API_PORT" --defender-addr "127.0.0.1:$DEF_PORT" \
	--san 127.0.0.1 --san localhost >"$WORK/console.log" 2>&1 &
CONSOLE_PID=$!
URL=https://127.0.0.1:$API_PORT
for _ in $(seq 1 100); do
	curl -sf --max-time 1 --cacert "$DATA/ca.pem" "$URL/api/v1/_ping" -o /dev/null 2>/dev/null && break
	kill -0 "$CONSOLE_PID" 2>/dev/null || { echo "console_scale: the Console did not start:" >&2; tail -20 "$WORK/console.log" >&2; exit 1; }
	sleep 0.1
done
# The bundle as the issue says (Basic), then a bearer token for the polls: Basic would pay scrypt
# whenever the Console's one-minute credential cache expires.
curl -sf --cacert "$DATA/ca.pem" -u "admin:$PASSWORD" \
	"$URL/api/v1/defenders/install-bundle?consoleaddr=127.0.0.1" | jq -r .installBundle >"$WORK/bundle"
chmod 600 "$WORK/bundle"
TOKEN=$(curl -sf --cacert "$DATA/ca.pem" -H 'Content-Type: application/json' \
	-d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "$URL/api/v1/authenticate" | jq -r .token)
AUTH="Authorization: Bearer $TOKEN"
[ -s "$WORK/bundle" ] && [ -n "$TOKEN" ] || { echo "console_scale: no bundle or token from the API" >&2; exit 1; }

api() { curl -sf --max-time 30 --cacert "$DATA/ca.pem" -H "$AUTH" "$@"; }
connected() {
	api -D - -o /dev/null "$URL/api/v1/defenders?connected=true&limit=1" 2>/dev/null |
		awk 'tolower($1) == "total-count:" {gsub("\r", "", $2); print $2}'
}
# CPU time in clock ticks: the whole machine (busy, all CPUs) and one process (utime + stime).
# machine_ticks prints "process-time irq-time": softirq time (loopback TCP of the Console and the
# swarm among it) is not charged to any process.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4, $7 + $8}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)
status_mib() { awk -v f="$1:" '$1 == f {printf "%.0f", $2 / 1024}' "/proc/$CONSOLE_PID/status"; }
# Median of three timed requests, in ms.
api_ms() {
	local t a=() i
	for i in 1 2 3; do
		t=$(api -o /dev/null -w '%{time_total}' "$1" 2>/dev/null || echo 999)
		a+=("$t")
	done
	printf '%s\n' "${a[@]}" | sort -n | awk 'NR == 2 {printf "%.0f", $1 * 1000}'
}
out_field() { # FILE KEY: value of KEY=... on the RESULT line
	awk -v k="$2" '/^RESULT / {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' "$1"
}
wait_line() { # FILE PATTERN SECONDS: 0 once a line matches, 1 on time-out or when the swarm ended
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$SWARM_PID" 2>/dev/null || { grep -q "$2" "$1" 2>/dev/null; return; }
		sleep 0.2
	done
	return 1
}

echo "== Console pid $CONSOLE_PID, heartbeat ${HB} s, hold ${HOLD} s, at most $RATE new connections/s" \
	"and $INFLIGHT handshakes in flight; idle VmRSS $(status_mib VmRSS) MiB"
printf '%-7s %9s %9s %9s %8s %8s %8s %9s %10s %9s %10s %s\n' K enroll_s connect_s console_s \
	rss_MiB hwm_MiB KiB/conn us/hb acked/sent list50_ms list_all_ms notes
REACHED=0
FAILED=
BASE_RSS=$(status_mib VmRSS)
for K in $KS; do
	# The previous swarm's Defenders must be gone before this one is counted.
	for _ in $(seq 1 300); do [ "$(connected)" = 0 ] && break; sleep 0.2; done
	OUT=$WORK/swarm-$K.out
	read -r m0 q0 < <(machine_ticks)
	c0=$(proc_ticks "$CONSOLE_PID") w0=$SECONDS
	"$B/bench/defender_swarm" --ws "wss://127.0.0.1:$DEF_PORT" --bundle "@$WORK/bundle" -k "$K" \
		--rate "$RATE" --inflight "$INFLIGHT" --hold "$HOLD" --linger --console-pid "$CONSOLE_PID" \
		--identity-dir "$WORK/identities" >"$OUT" 2>"$WORK/swarm-$K.log" &
	SWARM_PID=$!
	limit=${CONNECT_TIMEOUT:-$((120 + K / 50))}
	notes=
	console_s=-
	if ! wait_line "$OUT" '^phase=connect-start' $((limit + K / 20)); then
		notes="enrollment did not finish"
	else
		t0=$(awk '/^phase=connect-start/ {split($2, e, "="); print e[2]}' "$OUT")
		end=$((SECONDS + limit))
		n=0
		while [ $SECONDS -lt $end ]; do
			n=$(connected || echo 0)
			[ "${n:-0}" -ge "$K" ] && break
			kill -0 "$SWARM_PID" 2>/dev/null || break
			sleep 0.25
		done
		if [ "${n:-0}" -ge "$K" ]; then
			console_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
		else
			notes="the Console saw ${n:-0} of $K connected"
		fi
	fi
	rss=- hwm=- perconn=- list50=- listall=-
	if wait_line "$OUT" '^phase=hold-end' $((limit + HOLD + 60)); then
		rss=$(status_mib VmRSS)
		hwm=$(status_mib VmHWM)
		perconn=$(awk -v r="$rss" -v b="$BASE_RSS" -v k="$K" 'BEGIN {printf "%.0f", (r - b) * 1024 / k}')
		list50=$(api_ms "$URL/api/v1/defenders?limit=50")
		listall=$(api_ms "$URL/api/v1/defenders?limit=0")
	else
		notes="${notes:+$notes; }the swarm did not finish its hold"
	fi
	read -r m1 q1 < <(machine_ticks)
	c1=$(proc_ticks "$CONSOLE_PID") s1=$(proc_ticks "$SWARM_PID") w1=$SECONDS
	kill -TERM "$SWARM_PID" 2>/dev/null || true
	wait "$SWARM_PID" 2>/dev/null || true
	SWARM_PID=
	# Every Defender of this swarm has closed its connection: how long until the API agrees.
	d0=$(date +%s.%N)
	for _ in $(seq 1 600); do [ "$(connected)" = 0 ] && break; sleep 0.1; done
	disc_s=$(awk -v a="$d0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
	welcomed=$(out_field "$OUT" welcomed)
	if [ "${welcomed:-0}" != "$K" ]; then
		notes="${notes:+$notes; }the swarm saw ${welcomed:-0} of $K welcomed"
	fi
	if ! kill -0 "$CONSOLE_PID" 2>/dev/null; then
		notes="${notes:+$notes; }the Console died"
	fi
	printf '%-7s %9s %9s %9s %8s %8s %8s %9s %10s %9s %10s %s\n' "$K" \
		"$(out_field "$OUT" enroll_s)" "$(out_field "$OUT" connect_s)" "$console_s" "$rss" "$hwm" \
		"$perconn" "$(out_field "$OUT" console_cpu_us_per_hb)" \
		"$(out_field "$OUT" hb_acked)/$(out_field "$OUT" hb_sent)" "$list50" "$listall" "$notes"
	grep -E '^(enroll|connect|failures|hold|console|swarm):|^ +[0-9]+ x ' "$OUT" | sed 's/^/    /' || true
	# Other work on the machine takes CPU from both the Console and the swarm: say how much.
	awk -v m=$((m1 - m0)) -v q=$((q1 - q0)) -v c=$((c1 - c0)) -v s="$s1" -v hz="$HZ" -v w=$((w1 - w0)) \
		-v n="$(nproc)" 'BEGIN {printf "    CPU over these %d s (%d CPUs): Console %.1f s, swarm %.1f s, " \
		"interrupts and softirq (loopback TCP included) %.1f s, other processes %.1f s\n",
		w, n, c / hz, s / hz, q / hz, (m - c - s) / hz}'
	echo "    the API listed 0 connected ${disc_s} s after the swarm closed its connections"
	if [ "${welcomed:-0}" != "$K" ] || [ "$console_s" = - ]; then
		FAILED=$K
		break
	fi
	REACHED=$K
done

echo
if [ -n "$FAILED" ]; then
	echo "== reached K=$REACHED; K=$FAILED did not fully connect (see above)."
else
	echo "== reached K=$REACHED (every K in: $KS)."
fi
echo "== targets: 10000 Defenders on this machine with the Console under 1024 MiB resident;" \
	"Console VmHWM now $(status_mib VmHWM) MiB."
if [ "$KEEP" != 1 ]; then
	echo "   (KEEP=1 keeps $WORK with the Console and swarm logs)"
fi
