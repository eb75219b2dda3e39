#!/bin/bash
# Runs every test suite and prints the totals as the last line: "N passed, N failed".
#   tests/run.sh [BUILD_DIR] [SUITE_GLOB]
# BUILD_DIR (default build/san) holds the programs under test (bin/, tests/, tools/).
# Suites: each unit test binary (BUILD_DIR/tests/test_*), each shell test tests/unit/*.sh and each
# integration test tests/integration/*.sh. A suite's output goes to BUILD_DIR/test-logs/<suite>.log;
# a suite passes its own "N passed, N failed" line up; a suite that ends without one (a crash)
# counts as one failure. Unit suites run two at a time; integration suites one after the other
# (they share network namespaces and ports).
set -u
cd "$(dirname "$0")/.."
B=${1:-build/san}
FILTER=${2:-*}
LOGS=$B/test-logs
mkdir -p "$LOGS"
# This run's results (several runs may share LOGS).
RES=$(mktemp -d "${TMPDIR:-/tmp}/garrison-results.XXXXXX")
trap 'rm -rf "$RES"' EXIT
export GARRISON_BUILD_DIR=$PWD/$B
export GARRISON_TOOLS_DIR=$PWD/$B/tools
export GARRISON_BIN_DIR=$PWD/$B/bin
# Never let anything under test reach a real cloud metadata service.
export GARRISON_CLOUD_METADATA=off
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite() { # name command...
	local name=$1; shift
	local log=$LOGS/$name.log start=$SECONDS
	"$@" >"$log" 2>&1
	local rc=$?
	local line
	line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$line" ]; then
		line="0 passed, 1 failed"
		echo "no closing line (exit $rc)" >>"$log"
	elif [ "$rc" -ne 0 ] && ! grep -qE '[1-9][0-9]* failed' <<<"$line"; then
		line="${line%%passed*}passed, 1 failed"
		echo "exit status $rc" >>"$log"
	fi
	printf '%-28s %s (%ds)\n' "$name" "$line" $((SECONDS - start)) >"$RES/$name.result"
}
export -f run_suite
export LOGS RES

suites=()
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	n=$(basename "$t")
	[[ $n == $FILTER ]] || continue
	suites+=("$n|$t")
done
for t in tests/unit/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	[[ $n == $FILTER ]] || continue
	suites+=("$n|bash $t")
done
printf '%s\n' "${suites[@]}" | xargs -P 2 -I{} bash -c 'IFS="|" read -r n c <<<"{}"; run_suite "$n" $c'

for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	[[ $n == $FILTER ]] || continue
	if [ "$(id -u)" -ne 0 ]; then
		echo "$n: skipped: needs root (network namespaces)" | tee "$LOGS/$n.log"
		continue
	fi
	run_suite "$n" bash "$t"
done

passed=0; failed=0
for r in "$RES"/*.result; do
	[ -f "$r" ] || continue
	cat "$r"
	p=$(grep -oE '[0-9]+ passed' "$r" | grep -oE '[0-9]+'); f=$(grep -oE '[0-9]+ failed' "$r" | grep -oE '[0-9]+')
	passed=$((passed + p)); failed=$((failed + f))
	if [ "$f" -ne 0 ]; then
		n=$(basename "$r" .result)
		echo "---- $n (last 40 lines of $LOGS/$n.log) ----"
		tail -n 40 "$LOGS/$n.log"
		echo "----"
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
