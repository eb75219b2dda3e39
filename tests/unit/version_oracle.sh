#!/bin/bash
# version_oracle.sh: differential test of lib/version.c (through BUILD/tools/vercmp) against the
# ecosystems' own comparators on seeded random versions (docs/versions.md):
#   dpkg  `dpkg --compare-versions` (always present on Debian), plus python3-apt's
#         apt_pkg.version_compare when installed;
#   rpm   python3-rpm (rpm.ver, i.e. rpmverCmp) in one /usr/bin/python3 process, plus
#         `rpm --eval` with a Lua loop over rpm.vercmp in one rpm process when rpm is installed;
#   apk   no comparator is packaged for Debian: the generated versions must all be accepted and
#         every pair must compare antisymmetrically (apk's oracle is tests/data/versions).
# Every pair is also compared the other way round by our tool (antisymmetry).
# VERSION_ORACLE_PAIRS (default 2000) pairs per ecosystem, VERSION_ORACLE_SEED (default 20261127).
# Prints "ok - ..." / "not ok - ..." with every mismatch, "#" lines for skips, and the closing
# "N passed, N failed"; exits 1 on a failure.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${GARRISON_BUILD_DIR:-build/san}
VERCMP=${GARRISON_TOOLS_DIR:-$B/tools}/vercmp
N=${VERSION_ORACLE_PAIRS:-2000}
SEED=${VERSION_ORACLE_SEED:-20261127}
PY=/usr/bin/python3
passed=0; failed=0
pass() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if [ ! -x "$VERCMP" ]; then
	fail "vercmp tool not built: $VERCMP (make SAN=1 $B/tools/vercmp)"
	finish
fi
if [ ! -x "$PY" ]; then
	fail "$PY is needed to generate the random versions"
	finish
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/version-oracle.XXXXXX")
trap 'rm -rf "$W"' EXIT
start=$SECONDS

# ---- generate: "kind<TAB>a<TAB>b" lines, b often a small mutation of a (near-equal pairs matter).
"$PY" - "$N" "$SEED" >"$W/pairs" <<'PYEOF'
import random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
R = random.Random(seed)

def digits():
    k = R.choice([1, 1, 1, 2, 2, 3, 8, 21])
    s = "".join(R.choice("0123456789") for _ in range(k))
    return R.choice(["0", "00"]) + s if R.random() < 0.1 else s

def piece(alphabet):
    t = R.random()
    if t < 0.45: return digits()
    if t < 0.75: return "".join(R.choice("abczAZ") for _ in range(R.choice([1, 1, 2, 3])))
    return R.choice(alphabet)

def run(first_digit, alphabet, k):
    out = [digits() if first_digit else piece(alphabet)]
    for _ in range(R.randrange(k)):
        out.append(piece(alphabet))
    return "".join(out)

def dpkg():
    epoch = R.random() < 0.3
    rev = R.random() < 0.7
    alph = list(".+~~.") + ([":"] if epoch else []) + (["-"] if rev else []) + (["_"] if R.random() < 0.05 else [])
    v = run(R.random() > 0.05, alph, 7)
    if epoch: v = R.choice(["0", "1", "2", "00", "10"]) + ":" + v
    if rev: v += "-" + run(R.random() > 0.2, list(".+~~"), 4)
    return v

def rpm():
    epoch = R.random() < 0.3
    alph = list(".._+~^~^")
    v = run(R.random() > 0.1, alph, 7)
    if epoch: v = R.choice(["0", "1", "2", "01", "10"]) + ":" + v
    if R.random() < 0.75: v += "-" + run(R.random() > 0.2, alph, 4)
    return v

SUF = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"]
def apk():
    v = digits()
    for _ in range(R.randrange(4)): v += "." + digits()
    if R.random() < 0.2: v += R.choice("abz")
    for _ in range(R.choice([0, 0, 0, 1, 1, 2])):
        v += "_" + R.choice(SUF) + (digits() if R.random() < 0.6 else "")
    if R.random() < 0.1: v += "~" + "".join(R.choice("0123456789abcdef") for _ in range(R.randrange(1, 9)))
    if R.random() < 0.5: v += "-r" + digits()
    return v

def mutate(v, gen):
    t = R.random()
    if t < 0.3: return v
    if t < 0.6:                                # change one character for another of its class
        i = R.randrange(len(v)); c = v[i]
        if c.isdigit(): c = R.choice("0123456789")
        elif c.isalpha(): c = R.choice("abzAZ") if gen is not apk else R.choice("abz")
        else: return gen()
        return v[:i] + c + v[i + 1:]
    if t < 0.8: return v + R.choice(["~", "^", ".1", "a", "0", "+", "_p1", "-r1", "~rc1"])
    return gen()

for kind, gen in (("dpkg", dpkg), ("rpm", rpm), ("apk", apk)):
    for _ in range(n):
        a = gen()
        b = mutate(a, gen)
        if R.random() < 0.5: a, b = b, a
        print(f"{kind}\t{a}\t{b}")
PYEOF
[ -s "$W/pairs" ] || { fail "generating the random versions"; finish; }

# Ours, both ways. Pairs our validator refuses are kept out of the oracle comparison (mutations
# can produce them for apk and rpm); they are listed and checked separately below.
awk -F'\t' '{print $1, $2, $3}' "$W/pairs" | "$VERCMP" >"$W/ours" || { fail "vercmp failed"; finish; }
awk -F'\t' '{print $1, $3, $2}' "$W/pairs" | "$VERCMP" >"$W/ours_rev" || { fail "vercmp failed"; finish; }
paste "$W/pairs" "$W/ours" "$W/ours_rev" >"$W/all"

for kind in dpkg rpm apk; do
	bad=$(awk -F'\t' -v k="$kind" '$1 == k && ($4 == "invalid") != ($5 == "invalid") || $1 == k && $4 != "invalid" && $4 != -$5' "$W/all")
	if [ -n "$bad" ]; then
		fail "$kind: cmp(a,b) == -cmp(b,a) on $N random pairs"
		sed 's/^/  # /' <<<"$bad"
	else
		pass "$kind: cmp(a,b) == -cmp(b,a) on $N random pairs"
	fi
	awk -F'\t' -v k="$kind" '$1 == k && $4 != "invalid" {print $2 "\t" $3 "\t" $4}' "$W/all" >"$W/$kind"
	echo "# $kind: $(wc -l <"$W/$kind") valid pairs of $N"
done

# Every generated dpkg version is valid by construction; rpm and apk mutations may not be.
nd=$(wc -l <"$W/dpkg")
if [ "$nd" -eq "$N" ]; then pass "dpkg: all $N generated pairs accepted"; else fail "dpkg: only $nd of $N generated pairs accepted"; fi
# apk: only the mutations that append to a version can make it invalid ("1.0~rc1", "1.0+" ...).
na=$(wc -l <"$W/apk")
if [ "$na" -ge $((N * 8 / 10)) ]; then pass "apk: $na of $N generated pairs accepted (>= 80%)"; else fail "apk: only $na of $N generated pairs accepted"; fi

# report NAME FILE-WITH "a b ours oracle" lines
report() {
	local name=$1 file=$2 n bad
	n=$(wc -l <"$file")
	bad=$(awk -F'\t' '$3 != $4' "$file")
	if [ "$n" -lt $((N / 2)) ]; then
		fail "$name: only $n pairs compared"
	elif [ -n "$bad" ]; then
		fail "$name: $(wc -l <<<"$bad") of $n pairs differ (a, b, ours, oracle):"
		sed 's/^/  # /' <<<"$bad"
	else
		pass "$name: $n random pairs agree"
	fi
}

# ---- dpkg --compare-versions. One process per call (about 18 ms here), so: one call per pair,
# asking whether our answer holds (more calls only to name dpkg's answer on a mismatch), in two
# parallel loops, and on VERSION_ORACLE_DPKG_CLI (default 300) pairs when python3-apt checks all
# of them, else on every pair.
cli_n=${VERSION_ORACLE_DPKG_CLI:-300}
"$PY" -c 'import apt_pkg' 2>/dev/null || cli_n=$N
dpkg_check() { # file: "a b ours" lines -> "a b ours dpkg"
	local a b ours op r
	while IFS=$'\t' read -r a b ours; do
		case $ours in -1) op=lt ;; 0) op=eq ;; *) op=gt ;; esac
		if dpkg --compare-versions "$a" "$op" "$b" 2>/dev/null; then r=$ours
		elif dpkg --compare-versions "$a" lt "$b" 2>/dev/null; then r=-1
		elif dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then r=0
		else r=1; fi
		printf '%s\t%s\t%s\t%s\n' "$a" "$b" "$ours" "$r"
	done <"$1"
}
t0=$SECONDS
head -n "$cli_n" "$W/dpkg" >"$W/dpkg.sub"
half=$(( ($(wc -l <"$W/dpkg.sub") + 1) / 2 ))
head -n "$half" "$W/dpkg.sub" >"$W/dpkg.sub1"
tail -n +"$((half + 1))" "$W/dpkg.sub" >"$W/dpkg.sub2"
dpkg_check "$W/dpkg.sub1" >"$W/dpkg.cli1" &
dpkg_check "$W/dpkg.sub2" >"$W/dpkg.cli2"
wait
cat "$W/dpkg.cli1" "$W/dpkg.cli2" >"$W/dpkg.cli"
N_SAVE=$N; N=$((cli_n * 2))  # report() wants at least N/2 pairs
report "dpkg: dpkg --compare-versions $(dpkg-query -W -f='${Version}' dpkg 2>/dev/null) ($((SECONDS - t0)) s)" "$W/dpkg.cli"
N=$N_SAVE

# ---- apt_pkg.version_compare, one process.
if "$PY" -c 'import apt_pkg' 2>/dev/null; then
	"$PY" -c '
import sys, apt_pkg
apt_pkg.init_system()
for line in open(sys.argv[1]):
    a, b, ours = line.rstrip("\n").split("\t")
    r = apt_pkg.version_compare(a, b)
    print(f"{a}\t{b}\t{ours}\t{(r > 0) - (r < 0)}")
' "$W/dpkg" >"$W/dpkg.apt"
	report "dpkg: python3-apt apt_pkg.version_compare" "$W/dpkg.apt"
else
	echo "# skipped: python3-apt not installed (second dpkg oracle; apt-get install -y python3-apt)"
fi

# ---- rpm: python3-rpm's rpm.ver (rpmverCmp), one process.
if "$PY" -c 'import rpm; rpm.ver' 2>/dev/null; then
	"$PY" -c '
import sys, rpm
for line in open(sys.argv[1]):
    a, b, ours = line.rstrip("\n").split("\t")
    va, vb = rpm.ver(a), rpm.ver(b)
    r = -1 if va < vb else (1 if va > vb else 0)
    print(f"{a}\t{b}\t{ours}\t{r}")
' "$W/rpm" >"$W/rpm.py"
	report "rpm: python3-rpm $("$PY" -c 'import rpm; print(rpm.__version__)') rpm.ver" "$W/rpm.py"
else
	echo "# skipped: python3-rpm not installed (apt-get install -y rpm python3-rpm)"
fi
# ---- rpm: the Lua rpm.vercmp of `rpm --eval`, one process.
if command -v rpm >/dev/null 2>&1; then
	cut -f1,2 "$W/rpm" >"$W/rpm.in"
	rpm --eval "%{lua: for l in io.lines('$W/rpm.in') do local a, b = l:match('^(.-)\\t(.*)\$'); io.write(rpm.vercmp(a, b), '\\n') end}" >"$W/rpm.lua.out" 2>"$W/rpm.lua.err"
	paste "$W/rpm" "$W/rpm.lua.out" | awk -F'\t' 'NF == 4' >"$W/rpm.lua"
	report "rpm: rpm --eval Lua rpm.vercmp" "$W/rpm.lua"
else
	echo "# skipped: rpm not installed (apt-get install -y rpm)"
fi

echo "# $((SECONDS - start)) s"
finish
