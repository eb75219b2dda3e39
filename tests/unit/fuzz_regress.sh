#!/bin/bash
# fuzz_regress.sh: builds every fuzz harness (make -s fuzz: clang, libFuzzer, ASan+UBSan, into
# build/fuzz/) and, for each target under tests/fuzz/<target>/:
#   1. runs the harness once over every file of its seed corpus (a regression test: each input
#      that ever mattered must still pass), then
#   2. fuzzes it for FUZZ_SECONDS (default 15) seconds from that corpus.
# Targets run FUZZ_JOBS (default 2) at a time: about FUZZ_SECONDS / FUZZ_JOBS per target (8 targets:
# about 75 s on 2 cores).
# New inputs go to build/fuzz/work/<target>/ (the seed corpus is never written), crash, leak and
# timeout inputs to build/fuzz/artifacts/<target>/. Inputs under tests/fuzz/<target>/crashes/ are
# known, unfixed crashes: they are run and reported on "#" lines but do not count (README.md).
# Prints "ok - ..." / "not ok - ..." and the closing "N passed, N failed"; exits 1 on a failure.
# Without clang it prints why it skipped and "0 passed, 0 failed".
set -u

cd "$(dirname "$0")/../.." || exit 1
FUZZ_CC=${FUZZ_CC:-clang}
SECS=${FUZZ_SECONDS:-15}
JOBS=${FUZZ_JOBS:-2}
FB=build/fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
	echo "skipped: clang not installed (apt-get install -y clang, Debian 12: clang 14 with libFuzzer)"
	echo "0 passed, 0 failed"
	exit 0
fi

start=$SECONDS
mkdir -p "$FB"
if ! make -s -j"$JOBS" fuzz FUZZ_CC="$FUZZ_CC" >"$FB/build.log" 2>&1; then
	echo "not ok - make fuzz (build/fuzz/build.log):"
	tail -n 30 "$FB/build.log" | sed 's/^/  # /'
	echo "0 passed, 1 failed"
	exit 1
fi
echo "# built in $((SECONDS - start)) s"

targets=()
for src in tests/fuzz/*/fuzz_*.c; do
	[ -f "$src" ] || continue
	targets+=("$(basename "$(dirname "$src")")")
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "not ok - no harness under tests/fuzz/"
	echo "0 passed, 1 failed"
	exit 1
fi

# excerpt LOG: the failing input and the report, without libFuzzer's and libc's own frames.
excerpt() {
	{ grep 'Running:' "$1" | tail -n 1; grep -E 'contract broken|ERROR|SUMMARY|^    #[0-9]+ |Test unit written' "$1"; } |
		grep -vE 'fuzzer::|__sanitizer_print_stack|/libc\.so|libc-start|libc_start|pthread_kill|raise\.c|abort\.c| _start ' |
		sed -e 's/ (BuildId: [0-9a-f]*)//' -e 's/^/  # /' | head -n 30
}

# one_target NAME: writes NAME's result lines to $FB/results/NAME (first word ok or not ok).
one_target() {
	local t=$1 bin=$FB/$1 seeds=tests/fuzz/$1/corpus
	local work=$FB/work/$t art=$FB/artifacts/$t log=$FB/logs/$t res=$FB/results/$t
	local files=() f n runs
	rm -rf "$work" "$art"
	mkdir -p "$work" "$art" "$FB/logs"
	: >"$res"

	for f in "$seeds"/*; do [ -f "$f" ] && files+=("$f"); done
	if [ ${#files[@]} -eq 0 ]; then
		echo "not ok - $t corpus: $seeds is empty" >>"$res"
	elif "$bin" -timeout=20 -rss_limit_mb=2560 "${files[@]}" >"$log.corpus" 2>&1; then
		echo "ok - $t corpus: ${#files[@]} inputs pass" >>"$res"
	else
		echo "not ok - $t corpus: an input of $seeds fails ($log.corpus)" >>"$res"
		excerpt "$log.corpus" >>"$res"
	fi

	if "$bin" -max_total_time="$SECS" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$art/" "$work" "$seeds" >"$log.fuzz" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.fuzz")
		n=$(find "$work" -type f | wc -l)
		echo "ok - $t fuzz: ${SECS} s, ${runs:-?} runs, $n new inputs in $work" >>"$res"
	else
		echo "not ok - $t fuzz: found a failure; input in $art/ ($log.fuzz)" >>"$res"
		excerpt "$log.fuzz" >>"$res"
	fi

	for f in tests/fuzz/"$t"/crashes/*; do
		[ -f "$f" ] || continue
		if "$bin" -timeout=20 "$f" >"$log.known" 2>&1; then
			echo "# $f no longer fails: move it into $seeds/" >>"$res"
		else
			echo "# known failure, not counted: $f (see tests/fuzz/README.md)" >>"$res"
		fi
	done
}

mkdir -p "$FB/results"
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
	one_target "$t" &
	running=$((running + 1))
done
wait

passed=0
failed=0
for t in "${targets[@]}"; do
	r=$FB/results/$t
	if [ "$(grep -cE '^(not )?ok - ' "$r" 2>/dev/null)" != 2 ]; then
		echo "not ok - $t: its checks did not finish" >>"$r"
	fi
	cat "$r"
	passed=$((passed + $(grep -c '^ok - ' "$r")))
	failed=$((failed + $(grep -c '^not ok - ' "$r")))
done
echo "# ${#targets[@]} targets in $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
