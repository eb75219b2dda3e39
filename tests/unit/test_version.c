/*
 * test_version: lib/version.c against every vector of tests/data/versions (PROVENANCE.md there):
 * dpkg pairs judged by dpkg 1.21.22, rpm's own rpmvercmp test triples, Mariner EVR pairs judged
 * by rpm 4.18, and apk-tools' version.data. Each file must agree 100%; every mismatch is printed
 * and each file reports its counts on a "#" line. Each pair is also checked the other way round
 * (antisymmetry). The data directory is ./tests/data/versions, else three levels above this binary.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <garrison/version.h>

#include "t.h"

static char data_dir[PATH_MAX];

static void find_data(void)
{
	char self[PATH_MAX];
	ssize_t n;

	if (data_dir[0] != '\0')
		return;
	if (access("tests/data/versions/PROVENANCE.md", R_OK) == 0) {
		snprintf(data_dir, sizeof(data_dir), "tests/data/versions");
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		n = 0;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	snprintf(data_dir, sizeof(data_dir), "%.*s/../../../tests/data/versions", PATH_MAX - 64, self);
}

static FILE *open_data(const char *name)
{
	char path[PATH_MAX + 64];

	find_data();
	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		fprintf(stderr, "  cannot open %s\n", path);
	return f;
}

static const char *kind_name(enum version_kind k)
{
	return k == VERSION_DPKG ? "dpkg" : k == VERSION_RPM ? "rpm" : "apk";
}

/* Checks cmp(a,b) == want and cmp(b,a) == -want; prints a mismatch. Returns 1 when both hold. */
static int check_pair(enum version_kind k, const char *file, int line, const char *a, const char *b,
		      int want)
{
	int r1 = 99, r2 = 99;
	int rc1 = version_compare(k, a, b, &r1), rc2 = version_compare(k, b, a, &r2);

	if (rc1 == 0 && rc2 == 0 && r1 == want && r2 == -want)
		return 1;
	fprintf(stderr, "  MISMATCH %s:%d %s: cmp(%s, %s) = %d (rc %d), reverse %d (rc %d), expected %d\n",
		file, line, kind_name(k), a, b, r1, rc1, r2, rc2, want);
	return 0;
}

/* Splits a line at tabs into at most max fields (the line is modified). */
static int split_tabs(char *line, char **fields, int max)
{
	int n = 0;

	line[strcspn(line, "\r\n")] = '\0';
	while (n < max) {
		fields[n++] = line;
		char *tab = strchr(line, '\t');
		if (tab == NULL)
			break;
		*tab = '\0';
		line = tab + 1;
	}
	return n;
}

/* Parses -1, 0 or 1. */
static int parse_result(const char *s, int *out)
{
	if (strcmp(s, "-1") == 0)
		*out = -1;
	else if (strcmp(s, "0") == 0)
		*out = 0;
	else if (strcmp(s, "1") == 0)
		*out = 1;
	else
		return -1;
	return 0;
}

/*
 * A TSV file with a header: columns ca and cb hold the versions, every column in want_cols[]
 * must hold the same expected result (-1/0/1).
 */
static void run_tsv(enum version_kind k, const char *name, int ca, int cb, const int *want_cols,
		    int nwant, int expect_rows)
{
	char line[4096];
	int lineno = 0, rows = 0, ok = 0;
	FILE *f = open_data(name);

	T_CHECK(f != NULL);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *fld[8];
		int want = 0, bad = 0;

		lineno++;
		T_CHECK(strchr(line, '\n') != NULL);
		if (lineno == 1)
			continue; /* header */
		int n = split_tabs(line, fld, 8);
		for (int i = 0; i < nwant; i++) {
			int w;
			if (want_cols[i] >= n || parse_result(fld[want_cols[i]], &w) < 0 || (i > 0 && w != want))
				bad = 1;
			else
				want = w;
		}
		if (bad || ca >= n || cb >= n) {
			fprintf(stderr, "  %s:%d: malformed or inconsistent row\n", name, lineno);
			T_CHECK(!bad);
			continue;
		}
		rows++;
		ok += check_pair(k, name, lineno, fld[ca], fld[cb], want);
	}
	fclose(f);
	printf("# %s: %d vectors, %d agree, %d mismatches\n", name, rows, ok, rows - ok);
	T_CHECK_INT(rows, expect_rows);
	T_CHECK_INT(ok, rows);
}

T_TEST(test_dpkg_vectors)
{
	static const int want[] = { 3 };
	run_tsv(VERSION_DPKG, "dpkg-compare-versions-pairs.tsv", 1, 2, want, 1, 3926);
}

T_TEST(test_rpmvercmp_vectors)
{
	/* Upstream's expected value and the local rpm 4.18 result must both match. */
	static const int want[] = { 2, 3 };
	run_tsv(VERSION_RPM, "rpm-rpmvercmp-upstream-tests.tsv", 0, 1, want, 2, 91);
}

T_TEST(test_rpm_evr_vectors)
{
	static const int want[] = { 2, 3 };
	run_tsv(VERSION_RPM, "rpm-evr-pairs-mariner.tsv", 0, 1, want, 2, 800);
}

/*
 * apk-tools version.data: "A OP B", "A !OP B", "V", "!V"; '#' starts a comment. The fuzzy
 * operators are not implemented (docs/versions.md): "~" and "!~" lines are counted as skipped;
 * "<~" and ">~" hold when the strict "<" or ">" holds, which is checked. Two comparisons have an
 * operand that is invalid by apk's grammar ("1.0bc", "23_foo"); apk-tools orders those by the
 * valid prefix, our API refuses them: checked as "version_valid() rejects it and
 * version_compare() returns -EINVAL".
 */
T_TEST(test_apk_vectors)
{
	const char *name = "apk-tools-version.data";
	char line[4096];
	int lineno = 0, cmp_ok = 0, cmp_n = 0, valid_ok = 0, valid_n = 0, fuzzy = 0, inval_ok = 0, inval_n = 0;
	FILE *f = open_data(name);

	T_CHECK(f != NULL);
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tok[4], *save = NULL;
		int n = 0;

		lineno++;
		line[strcspn(line, "#\r\n")] = '\0';
		for (char *p = strtok_r(line, " \t", &save); p != NULL && n < 4; p = strtok_r(NULL, " \t", &save))
			tok[n++] = p;
		if (n == 0)
			continue;
		if (n == 1) {
			int want_valid = tok[0][0] != '!';
			const char *v = want_valid ? tok[0] : tok[0] + 1;
			const char *why = NULL;
			int rc = version_valid(VERSION_APK, v, &why);
			valid_n++;
			if ((rc == 0) == want_valid && (rc == 0 || (rc == -EINVAL && why != NULL))) {
				valid_ok++;
			} else {
				fprintf(stderr, "  MISMATCH %s:%d: \"%s\" should be %s (rc %d, %s)\n", name, lineno,
					v, want_valid ? "valid" : "invalid", rc, why ? why : "-");
			}
			continue;
		}
		if (n != 3) {
			fprintf(stderr, "  %s:%d: malformed line\n", name, lineno);
			T_CHECK(n == 3);
			continue;
		}
		const char *a = tok[0], *b = tok[2], *op = tok[1];
		int neg = op[0] == '!';
		if (neg)
			op++;
		if (strcmp(op, "~") == 0) {
			fuzzy++;
			continue;
		}
		if (version_valid(VERSION_APK, a, NULL) < 0 || version_valid(VERSION_APK, b, NULL) < 0) {
			int r = 99;
			inval_n++;
			if (version_compare(VERSION_APK, a, b, &r) == -EINVAL && r == 99)
				inval_ok++;
			else
				fprintf(stderr, "  MISMATCH %s:%d: %s %s %s: invalid operand accepted\n", name,
					lineno, a, tok[1], b);
			continue;
		}
		int want;
		if (strcmp(op, "<") == 0 || strcmp(op, "<~") == 0)
			want = -1;
		else if (strcmp(op, ">") == 0 || strcmp(op, ">~") == 0)
			want = 1;
		else if (strcmp(op, "=") == 0)
			want = 0;
		else {
			fprintf(stderr, "  %s:%d: unknown operator %s\n", name, lineno, tok[1]);
			T_CHECK(0);
			continue;
		}
		cmp_n++;
		if (!neg) {
			cmp_ok += check_pair(VERSION_APK, name, lineno, a, b, want);
		} else {
			int r = 99;
			if (version_compare(VERSION_APK, a, b, &r) == 0 && r != want)
				cmp_ok++;
			else
				fprintf(stderr, "  MISMATCH %s:%d: %s %s %s: cmp = %d\n", name, lineno, a, tok[1], b, r);
		}
	}
	fclose(f);
	printf("# %s: %d comparisons (%d agree), %d validity cases (%d agree), %d with an invalid "
	       "operand refused (%d agree), %d fuzzy '~' lines skipped\n",
	       name, cmp_n, cmp_ok, valid_n, valid_ok, inval_n, inval_ok, fuzzy);
	T_CHECK_INT(cmp_ok, cmp_n);
	T_CHECK_INT(valid_ok, valid_n);
	T_CHECK_INT(inval_ok, inval_n);
	T_CHECK(cmp_n > 700);
	T_CHECK_INT(valid_n, 31);
	T_CHECK_INT(inval_n, 2);
	T_CHECK_INT(fuzzy, 14);
}

static int cmp(enum version_kind k, const char *a, const char *b)
{
	int r = 99;
	int rc = version_compare(k, a, b, &r);
	return rc < 0 ? rc * 100 : r;
}

/* The rules named in docs/versions.md, one by one, and the input bounds. */
T_TEST(test_rules)
{
	/* dpkg */
	T_CHECK_INT(cmp(VERSION_DPKG, "1.0~rc1", "1.0"), -1);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.0", "1.0+b1"), -1);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.0a", "1.0+"), -1); /* letters before non-letters */
	T_CHECK_INT(cmp(VERSION_DPKG, "1:0.1", "9.9"), 1);
	T_CHECK_INT(cmp(VERSION_DPKG, "0:1.0", "1.0"), 0);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.0-0", "1.0"), 0);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.010", "1.9"), 1);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.2-3-4", "1.2-3-10"), -1); /* revision after the last '-' */
	T_CHECK_INT(cmp(VERSION_DPKG, "a1", "b1"), -1); /* dpkg only warns here */
	T_CHECK_INT(cmp(VERSION_DPKG, "1:2:3", "1:2:4"), -1);
	T_CHECK_INT(cmp(VERSION_DPKG, "99999999999999999999999", "99999999999999999999998"), 1);
	T_CHECK_INT(cmp(VERSION_DPKG, ":1", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_DPKG, "a:1", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_DPKG, "2147483648:1", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_DPKG, "2147483647:1", "1"), 1);
	T_CHECK_INT(cmp(VERSION_DPKG, "1:", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_DPKG, "1.0-", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_DPKG, "-1", "1"), -EINVAL * 100);
	/* rpm */
	T_CHECK_INT(cmp(VERSION_RPM, "1.0", "1.0-1"), -1); /* a missing release sorts first */
	T_CHECK_INT(cmp(VERSION_RPM, "1.0-1", "1.0-1"), 0);
	T_CHECK_INT(cmp(VERSION_RPM, "1:1.0", "2.0"), 1);
	T_CHECK_INT(cmp(VERSION_RPM, "0:1.0-1", "1.0-1"), 0);
	T_CHECK_INT(cmp(VERSION_RPM, "01:1", "1:1"), 0);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0~rc1", "1.0"), -1);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0^1", "1.0"), 1);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0^1", "1.0.1"), -1);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0a", "1.0.1"), -1);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0-a-b", "1.0-a"), 1);
	T_CHECK_INT(cmp(VERSION_RPM, ":1.0", "1.0"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_RPM, "1:", "1"), -EINVAL * 100);
	T_CHECK_INT(cmp(VERSION_RPM, "1.0-", "1"), -EINVAL * 100);
	/* apk */
	T_CHECK_INT(cmp(VERSION_APK, "1.0_rc1", "1.0"), -1);
	T_CHECK_INT(cmp(VERSION_APK, "1.0_p1", "1.0"), 1);
	T_CHECK_INT(cmp(VERSION_APK, "1.0-r1", "1.0"), 1);
	T_CHECK_INT(cmp(VERSION_APK, "1.02", "1.1"), -1);
	T_CHECK_INT(cmp(VERSION_APK, "1.0a", "1.0.1"), -1);
	T_CHECK_INT(cmp(VERSION_APK, "1.0~abc", "1.0~abd"), -1);
	T_CHECK_INT(cmp(VERSION_APK, "1.0bc", "1.0"), -EINVAL * 100);
	/* common bounds */
	char buf[VERSION_MAX + 2];
	memset(buf, '1', sizeof(buf));
	buf[VERSION_MAX] = '\0';
	for (int k = VERSION_DPKG; k <= VERSION_APK; k++) {
		int r = 99;
		const char *why = NULL;
		T_CHECK_INT(version_valid((enum version_kind)k, buf, NULL), 0);
		T_CHECK_INT(version_compare((enum version_kind)k, buf, buf, &r), 0);
		T_CHECK_INT(r, 0);
		buf[VERSION_MAX] = '1';
		buf[VERSION_MAX + 1] = '\0';
		T_CHECK_INT(version_valid((enum version_kind)k, buf, &why), -EINVAL);
		T_CHECK(why != NULL);
		buf[VERSION_MAX] = '\0';
		T_CHECK_INT(version_valid((enum version_kind)k, "", NULL), -EINVAL);
		T_CHECK_INT(version_valid((enum version_kind)k, "1.0\t", NULL), -EINVAL);
		T_CHECK_INT(version_valid((enum version_kind)k, "1 0", NULL), -EINVAL);
		T_CHECK_INT(version_valid((enum version_kind)k, "1.0\x80", NULL), -EINVAL);
		T_CHECK_INT(version_valid((enum version_kind)k, NULL, NULL), -EINVAL);
		r = 99;
		T_CHECK_INT(version_compare((enum version_kind)k, "1.0", "1\x01", &r), -EINVAL);
		T_CHECK_INT(r, 99); /* untouched on error */
		T_CHECK_INT(version_compare((enum version_kind)k, "1.0", NULL, &r), -EINVAL);
		T_CHECK_INT(version_compare((enum version_kind)k, "1.0", "1.0", NULL), -EINVAL);
	}
	T_CHECK_INT(version_valid((enum version_kind)7, "1.0", NULL), -EINVAL);
	int r = 99;
	T_CHECK_INT(version_compare((enum version_kind)7, "1.0", "1.0", &r), -EINVAL);
}

T_MAIN(T_CASE(test_dpkg_vectors), T_CASE(test_rpmvercmp_vectors), T_CASE(test_rpm_evr_vectors),
       T_CASE(test_apk_vectors), T_CASE(test_rules))
