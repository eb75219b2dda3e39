# Shared helpers for the integration tests (sourced). Each test prints "ok - ..." / "not ok - ..."
# lines and ends with t_done, which prints "N passed, N failed" and sets the exit status.
# Test hosts are network namespaces on a bridge of a private /24 that the test creates and removes;
# no traffic leaves this machine.

T_PASSED=0
T_FAILED=0
T_PIDS=()
T_NETNS=()
T_LINKS=()

ok() { echo "ok - $*"; T_PASSED=$((T_PASSED + 1)); }
not_ok() { echo "not ok - $*"; T_FAILED=$((T_FAILED + 1)); }
check() { # description command...
	local d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; return 1; fi
}
# wait_until SECONDS command...: 0 as soon as the command succeeds, 1 on time-out.
wait_until() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	while [ $SECONDS -lt $end ]; do
		"$@" && return 0
		sleep 0.5
	done
	"$@"
}
t_done() {
	echo "$T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
}
t_cleanup() {
	local p
	for p in "${T_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${T_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for n in "${T_NETNS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done
	for l in "${T_LINKS[@]}"; do ip link del "$l" 2>/dev/null; done
}

# net_bridge NAME CIDR: a bridge in this namespace holding the first address of the /24.
net_bridge() {
	ip link add "$1" type bridge || return 1
	T_LINKS+=("$1")
	ip addr add "$2" dev "$1" && ip link set "$1" up
}
# net_host NS BRIDGE ADDR/24: a test host (network namespace) with one veth on the bridge.
net_host() {
	local ns=$1 br=$2 addr=$3 v
	v="v$1"; v=${v:0:15}
	ip netns add "$ns" || return 1
	T_NETNS+=("$ns")
	ip link add "$v" type veth peer name eth0 netns "$ns" || return 1
	T_LINKS+=("$v")
	ip link set "$v" master "$br" && ip link set "$v" up &&
		ip -n "$ns" addr add "$addr" dev eth0 && ip -n "$ns" link set eth0 up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" route add default via "${BRIDGE_IP}" 2>/dev/null
	return 0
}
