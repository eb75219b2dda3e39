/*
 * test_pkgdb: the package-inventory readers against real databases and their oracles
 * (tests/data/pkgdb, see PROVENANCE.md there): dpkg status files against dpkg-query output, the
 * apk installed db against its P/V/A/o lines, the rpm sqlite db against rpm -qa (only when built
 * with -DGARRISON_HAVE_RPM), os-release, whole root file systems (links kept inside the root),
 * distroless status.d/, and malformed input. Data directory: $GARRISON_PKGDB_DATA, else
 * ./tests/data/pkgdb, else three levels above this binary.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "garrison/pkgdb.h"
#include "garrison/util.h"
#include "t.h"

static char data_dir[PATH_MAX];

static void find_data(void)
{
	const char *env = getenv("GARRISON_PKGDB_DATA");
	char self[PATH_MAX] = "", guess[PATH_MAX * 2];
	ssize_t n;

	if (data_dir[0])
		return;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
	}
	if (env && env[0])
		snprintf(guess, sizeof(guess), "%s", env);
	else if (access("tests/data/pkgdb/PROVENANCE.md", R_OK) == 0)
		snprintf(guess, sizeof(guess), "tests/data/pkgdb");
	else
		snprintf(guess, sizeof(guess), "%s/../../../tests/data/pkgdb", self);
	if (!realpath(guess, data_dir))
		snprintf(data_dir, sizeof(data_dir), "%.*s", PATH_MAX - 1, guess);
}

static char *path_of(const char *rel)
{
	static char p[PATH_MAX * 2];
	find_data();
	snprintf(p, sizeof(p), "%s/%s", data_dir, rel);
	return p;
}

static char *slurp(const char *rel, size_t *len)
{
	char *buf = NULL;
	if (util_read_file(path_of(rel), 64u << 20, &buf, len) != 0) {
		fprintf(stderr, "  cannot read %s\n", path_of(rel));
		return NULL;
	}
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	T_CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

static void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_CHECK_INT(system(cmd), 0);
}

/* ---- comparing a list with an oracle, as sorted sets of tab-separated lines ---------------- */

struct lines {
	char **v;
	size_t n;
};

static void lines_add(struct lines *l, const char *s)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = strdup(s);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks that the two sets are equal; prints the first difference. */
static void check_same(struct lines *got, struct lines *want, const char *what)
{
	qsort(got->v, got->n, sizeof(char *), cmp_line);
	qsort(want->v, want->n, sizeof(char *), cmp_line);
	T_CHECK_INT(got->n, want->n);
	for (size_t i = 0; i < got->n && i < want->n; i++) {
		if (strcmp(got->v[i], want->v[i]) != 0) {
			fprintf(stderr, "  %s: line %zu: got \"%s\", want \"%s\"\n", what, i, got->v[i],
				want->v[i]);
			t_failed_checks++;
			break;
		}
	}
}

/* Splits line (modified) at tabs into at most max fields. */
static size_t split_tabs(char *line, char **f, size_t max)
{
	size_t k = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, "\t", &save); t && k < max; t = strtok_r(NULL, "\t", &save))
		f[k++] = t;
	return k;
}

/* Reads a TSV oracle; fn turns each row (fields f[0..nf)) into the comparable line. */
static void read_tsv(const char *rel, int header, void (*fn)(char **f, size_t nf, struct lines *),
		     struct lines *out)
{
	size_t len;
	char *buf = slurp(rel, &len), *save = NULL;
	int first = 1;
	T_CHECK(buf != NULL);
	if (!buf)
		return;
	for (char *ln = strtok_r(buf, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
		char *f[8];
		if (first && header) {
			first = 0;
			continue;
		}
		first = 0;
		fn(f, split_tabs(ln, f, 8), out);
	}
	free(buf);
}

static void list_lines(const struct pkglist *l, struct lines *out)
{
	for (size_t i = 0; i < l->n; i++) {
		char s[1400];
		const struct pkg *p = &l->v[i];
		snprintf(s, sizeof(s), "%s\t%s\t%s\t%s\t%s", p->name, p->version,
			 p->arch ? p->arch : "-", p->source, p->source_version);
		lines_add(out, s);
	}
}

/* dpkg-query: Package Version Architecture source:Package source:Version */
static void dpkg_row(char **f, size_t nf, struct lines *out)
{
	char s[1400];
	T_CHECK_INT(nf, 5);
	if (nf != 5)
		return;
	snprintf(s, sizeof(s), "%s\t%s\t%s\t%s\t%s", f[0], f[1], f[2], f[3], f[4]);
	lines_add(out, s);
}

static void check_dpkg(const char *dir, size_t count)
{
	char rel[256], err[256] = "";
	struct pkglist l = { 0 };
	struct lines got = { 0 }, want = { 0 };
	size_t len;

	snprintf(rel, sizeof(rel), "%s/var/lib/dpkg/status", dir);
	char *text = slurp(rel, &len);
	T_CHECK(text != NULL);
	if (!text)
		return;
	int r = pkgdb_read_dpkg(text, len, rel, &l, err, sizeof(err));
	if (r)
		fprintf(stderr, "  %s\n", err);
	T_CHECK_INT(r, 0);
	T_CHECK_INT(l.n, count);
	T_CHECK_INT(l.kind, PKGDB_DPKG);
	list_lines(&l, &got);
	snprintf(rel, sizeof(rel), "%s/dpkg-query-expected.tsv", dir);
	read_tsv(rel, 0, dpkg_row, &want);
	check_same(&got, &want, dir);
	lines_free(&got);
	lines_free(&want);
	pkglist_clear(&l);
	free(text);
}

T_TEST(dpkg_minbase)
{
	check_dpkg("debian-bookworm-minbase", 114);
}

T_TEST(dpkg_buildhost)
{
	check_dpkg("debian-bookworm-buildhost", 869);
}

/* installed-P-V-A-o.tsv: name version arch origin; source version = version */
static void apk_row(char **f, size_t nf, struct lines *out)
{
	char s[1400];
	T_CHECK_INT(nf, 4);
	if (nf != 4)
		return;
	snprintf(s, sizeof(s), "%s\t%s\t%s\t%s\t%s", f[0], f[1], f[2], f[3], f[1]);
	lines_add(out, s);
}

T_TEST(apk_minirootfs)
{
	const char *rel = "alpine-3.14.0-minirootfs/lib/apk/db/installed";
	char err[256] = "";
	struct pkglist l = { 0 };
	struct lines got = { 0 }, want = { 0 };
	size_t len;
	char *text = slurp(rel, &len);

	T_CHECK(text != NULL);
	if (!text)
		return;
	T_CHECK_INT(pkgdb_read_apk(text, len, rel, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 14);
	T_CHECK_INT(l.kind, PKGDB_APK);
	list_lines(&l, &got);
	read_tsv("alpine-3.14.0-minirootfs/installed-P-V-A-o.tsv", 0, apk_row, &want);
	check_same(&got, &want, "apk");
	lines_free(&got);
	lines_free(&want);
	pkglist_clear(&l);
	free(text);
}

#ifdef GARRISON_HAVE_RPM
/* rpm -qa: name epochnum version release arch sourcerpm vendor. Compared as
 * name, [E:]V-R, arch and the source rpm file name rebuilt from source and source_version. */
static void rpm_row(char **f, size_t nf, struct lines *out)
{
	char s[1400], evr[600];
	T_CHECK(nf >= 6);
	if (nf < 6)
		return;
	if (strcmp(f[1], "0") != 0)
		snprintf(evr, sizeof(evr), "%s:%s-%s", f[1], f[2], f[3]);
	else
		snprintf(evr, sizeof(evr), "%s-%s", f[2], f[3]);
	snprintf(s, sizeof(s), "%s\t%s\t%s\t%s", f[0], evr, f[4], f[5]);
	lines_add(out, s);
}
#endif

T_TEST(rpm_mariner)
{
	char err[256] = "", dir[PATH_MAX * 2];
	struct pkglist l = { 0 };

	snprintf(dir, sizeof(dir), "%s", path_of("cbl-mariner-2.0-rpm/var/lib/rpm"));
	int r = pkgdb_read_rpm_sqlite(dir, &l, err, sizeof(err));
#ifndef GARRISON_HAVE_RPM
	printf("# skip rpm_mariner: built without GARRISON_HAVE_RPM (librpm); only the stub is checked\n");
	T_CHECK_INT(r, -ENOTSUP);
	T_CHECK_INT(l.n, 0);
#else
	struct lines got = { 0 }, want = { 0 };
	if (r)
		fprintf(stderr, "  %s\n", err);
	T_CHECK_INT(r, 0);
	T_CHECK_INT(l.n, 129);
	T_CHECK_INT(l.kind, PKGDB_RPM);
	for (size_t i = 0; i < l.n; i++) {
		char s[1400];
		const struct pkg *p = &l.v[i];
		snprintf(s, sizeof(s), "%s\t%s\t%s\t%s-%s.src.rpm", p->name, p->version, p->arch,
			 p->source, p->source_version);
		lines_add(&got, s);
	}
	read_tsv("cbl-mariner-2.0-rpm/rpm-qa-expected.tsv", 1, rpm_row, &want);
	check_same(&got, &want, "rpm");
	lines_free(&got);
	lines_free(&want);
	/* no database there: an error, and nothing created */
	T_CHECK_INT(pkgdb_read_rpm_sqlite(path_of("alpine-3.14.0-minirootfs"), &l, err, sizeof(err)),
		    -ENOENT);
	T_CHECK(access(path_of("alpine-3.14.0-minirootfs/rpmdb.sqlite"), F_OK) != 0);
	T_CHECK_INT(l.n, 129);
	/* SQLite's -shm/-wal files went to the private copy, not beside the scanned database */
	T_CHECK(access(path_of("cbl-mariner-2.0-rpm/var/lib/rpm/rpmdb.sqlite-shm"), F_OK) != 0);
	T_CHECK(access(path_of("cbl-mariner-2.0-rpm/var/lib/rpm/rpmdb.sqlite-wal"), F_OK) != 0);

	/* junk, a truncated database and a link instead of the file: errors, list unchanged */
	char tmp[] = "/tmp/pkgdb-rpm-XXXXXX", p[PATH_MAX];
	T_CHECK(mkdtemp(tmp) != NULL);
	snprintf(p, sizeof(p), "%s/rpmdb.sqlite", tmp);
	write_file(p, "SQLite format 3\nnot really\n");
	r = pkgdb_read_rpm_sqlite(tmp, &l, err, sizeof(err));
	T_CHECK(r < 0);
	T_CHECK(strstr(err, tmp) != NULL);
	T_CHECK_INT(l.n, 129);
	size_t len;
	char *db = slurp("cbl-mariner-2.0-rpm/var/lib/rpm/rpmdb.sqlite", &len);
	T_CHECK(db != NULL);
	if (db) {
		FILE *f = fopen(p, "w");
		T_CHECK(f != NULL);
		if (f) {
			fwrite(db, 1, len / 3, f);
			fclose(f);
		}
		r = pkgdb_read_rpm_sqlite(tmp, &l, err, sizeof(err));
		T_CHECK_INT(r, -EINVAL);
		T_CHECK(strstr(err, "not an intact SQLite database") != NULL);
		T_CHECK_INT(l.n, 129);
		free(db);
	}
	unlink(p);
	T_CHECK_INT(symlink(path_of("cbl-mariner-2.0-rpm/var/lib/rpm/rpmdb.sqlite"), p), 0);
	T_CHECK_INT(pkgdb_read_rpm_sqlite(tmp, &l, err, sizeof(err)), -EINVAL);
	rm_rf(tmp);
#endif
	pkglist_clear(&l);
}

T_TEST(os_release)
{
	struct pkglist l = { 0 };
	size_t len;
	char *t = slurp("alpine-3.14.0-minirootfs/etc/os-release", &len);

	T_CHECK(t != NULL);
	T_CHECK_INT(pkgdb_os_release(t, len, &l), 0);
	T_CHECK_STR(l.os_id, "alpine");
	T_CHECK_STR(l.os_version_id, "3.14.0");
	free(t);
	t = slurp("debian-bookworm-minbase/usr/lib/os-release", &len);
	T_CHECK(t != NULL);
	T_CHECK_INT(pkgdb_os_release(t, len, &l), 0);
	T_CHECK_STR(l.os_id, "debian");
	T_CHECK_STR(l.os_version_id, "12");
	T_CHECK_STR(l.os_pretty_name, "Debian GNU/Linux 12 (bookworm)");
	T_CHECK_STR(l.os_codename, "bookworm");
	free(t);

	static const char q[] = "# c\nID='rhel'\nVERSION_ID=\"9\\.2\"\nID_LIKE=fedora\n";
	T_CHECK_INT(pkgdb_os_release(q, sizeof(q) - 1, &l), 0);
	T_CHECK_STR(l.os_id, "rhel");
	T_CHECK_STR(l.os_version_id, "9.2");
	/* unterminated quote, spaces, control bytes: ignored, not guessed */
	static const char bad[] = "ID=\"deb\nVERSION_ID=1 2\n";
	T_CHECK_INT(pkgdb_os_release(bad, sizeof(bad) - 1, &l), 0);
	T_CHECK(l.os_id == NULL);
	T_CHECK(l.os_version_id == NULL);
	T_CHECK(l.os_pretty_name == NULL);
	static const char ctl[] = "PRETTY_NAME=\"a\tb\"\nVERSION_CODENAME=\"x y\"\n";
	T_CHECK_INT(pkgdb_os_release(ctl, sizeof(ctl) - 1, &l), 0);
	T_CHECK(l.os_pretty_name == NULL);
	T_CHECK(l.os_codename == NULL);
	static const char nul[] = "ID=a\0b\n";
	T_CHECK_INT(pkgdb_os_release(nul, sizeof(nul) - 1, &l), -EINVAL);
	pkglist_clear(&l);
}

/* ---- root file systems and status.d/ -------------------------------------------------------- */

T_TEST(scan_rootfs)
{
	char err[256] = "";
	struct pkglist l = { 0 };

	T_CHECK_INT(pkgdb_scan_rootfs(path_of("debian-bookworm-minbase"), &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 114);
	T_CHECK_STR(l.os_id, "debian"); /* through the relative link etc/os-release */
	T_CHECK_STR(l.os_version_id, "12");
	pkglist_clear(&l);

	T_CHECK_INT(pkgdb_scan_rootfs(path_of("alpine-3.14.0-minirootfs"), &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 14);
	T_CHECK_STR(l.os_id, "alpine");
	T_CHECK_STR(l.v[0].name, "musl");
	pkglist_clear(&l);

	T_CHECK_INT(pkgdb_scan_rootfs(path_of("cbl-mariner-2.0-rpm"), &l, err, sizeof(err)), 0);
#ifdef GARRISON_HAVE_RPM
	T_CHECK_INT(l.n, 129);
#else
	T_CHECK_INT(l.n, 0);
#endif
	pkglist_clear(&l);

	T_CHECK(pkgdb_scan_rootfs(path_of("no-such-root"), &l, err, sizeof(err)) == -ENOENT);
}

/* Links in an image must stay inside it: an absolute link is taken relative to the root, and
 * ../../.. cannot climb out. */
T_TEST(scan_rootfs_links)
{
	char root[] = "/tmp/pkgdb-root-XXXXXX", p[PATH_MAX], err[256] = "";
	struct pkglist l = { 0 };

	T_CHECK(mkdtemp(root) != NULL);
	snprintf(p, sizeof(p), "%s/var", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/var/lib", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/var/lib/dpkg", root);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/etc", root);
	mkdir(p, 0755);
	/* a link to the host's copy of a real status file: must not be read */
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/status", root);
	T_CHECK_INT(symlink(path_of("debian-bookworm-minbase/var/lib/dpkg/status"), p), 0);
	snprintf(p, sizeof(p), "%s/etc/os-release", root);
	T_CHECK_INT(symlink("../../../../../../../../etc/os-release.inside", p), 0);
	snprintf(p, sizeof(p), "%s/etc/os-release.inside", root);
	write_file(p, "ID=inside\nVERSION_ID=1\n");
	T_CHECK_INT(pkgdb_scan_rootfs(root, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 0);
	T_CHECK_STR(l.os_id, "inside");
	pkglist_clear(&l);

	/* an absolute link that makes sense inside the root is followed there */
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/status", root);
	unlink(p);
	T_CHECK_INT(symlink("/var/lib/dpkg/status.real", p), 0);
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/status.real", root);
	write_file(p, "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n");
	T_CHECK_INT(pkgdb_scan_rootfs(root, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 1);
	pkglist_clear(&l);

	/* a FIFO where the database should be: refused, not waited on */
	snprintf(p, sizeof(p), "%s/var/lib/dpkg/status.real", root);
	unlink(p);
	T_CHECK_INT(mkfifo(p, 0644), 0);
	T_CHECK_INT(pkgdb_scan_rootfs(root, &l, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "not a regular file") != NULL);
	T_CHECK_INT(l.n, 0);
	pkglist_clear(&l);
	rm_rf(root);
}

T_TEST(dpkg_status_d)
{
	char root[] = "/tmp/pkgdb-distroless-XXXXXX", d[PATH_MAX], p[PATH_MAX + 64], err[256] = "";
	struct pkglist l = { 0 };

	T_CHECK(mkdtemp(root) != NULL);
	snprintf(d, sizeof(d), "%s/var", root);
	mkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/var/lib", root);
	mkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/var/lib/dpkg", root);
	mkdir(d, 0755);
	snprintf(d, sizeof(d), "%s/var/lib/dpkg/status.d", root);
	mkdir(d, 0755);
	snprintf(p, sizeof(p), "%s/libc6", d);
	write_file(p, "Package: libc6\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\n"
		      "Source: glibc\nDescription: GNU C Library\n shared libraries\n");
	snprintf(p, sizeof(p), "%s/base-files", d);
	write_file(p, "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n");
	snprintf(p, sizeof(p), "%s/old", d);
	write_file(p, "Package: old\nStatus: deinstall ok config-files\nVersion: 1\n");
	snprintf(p, sizeof(p), "%s/libc6.md5sums", d);
	write_file(p, "0123456789abcdef  lib/x86_64-linux-gnu/libc.so.6\n");
	T_CHECK_INT(pkgdb_read_dpkg_dir(d, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		T_CHECK_STR(l.v[0].name, "base-files"); /* files in name order */
		T_CHECK_STR(l.v[1].source, "glibc");
		T_CHECK_STR(l.v[1].source_version, "2.36-9+deb12u4");
	}
	pkglist_clear(&l);
	T_CHECK_INT(pkgdb_scan_rootfs(root, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 2);
	pkglist_clear(&l);

	/* a bad file names itself and its line; nothing is kept */
	snprintf(p, sizeof(p), "%s/zz-bad", d);
	write_file(p, "Package: zz\nVersion 1\n");
	T_CHECK_INT(pkgdb_read_dpkg_dir(d, &l, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "/zz-bad:2:") != NULL);
	T_CHECK_INT(l.n, 0);
	T_CHECK_INT(pkgdb_read_dpkg_dir("/nonexistent/status.d", &l, err, sizeof(err)), -ENOENT);
	pkglist_clear(&l);
	rm_rf(root);
}

/* ---- malformed input ------------------------------------------------------------------------- */

static const char good_dpkg[] =
	"Package: libfoo1\n"
	"Status: install ok installed\n"
	"Architecture: amd64\n"
	"Source: foo (1.2-3)\n"
	"Version: 1.2-3+b1\n"
	"Description: foo\n"
	" long text\n"
	" .\n"
	" more\n"
	"\n"
	"Package: gone\n"
	"Status: deinstall ok config-files\n"
	"Version: 0.1\n"
	"\n"
	"Package: bar\n"
	"Status: hold ok installed\n"
	"Version: 2:3.0\n"
	"Architecture: all\n"
	"Source: barsrc\n";

/* Parses text as dpkg (or apk) with one package already in the list; returns the result and
 * checks that a failure leaves the list as it was. */
static int parse_one(int apk, const char *text, size_t len, char *err, size_t errlen, size_t *n)
{
	struct pkglist l = { 0 };
	static const char seed[] = "Package: seed\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n";
	T_CHECK_INT(pkgdb_read_dpkg(seed, sizeof(seed) - 1, "seed", &l, NULL, 0), 0);
	int r = apk ? pkgdb_read_apk(text, len, "bad", &l, err, errlen)
		    : pkgdb_read_dpkg(text, len, "bad", &l, err, errlen);
	if (r < 0)
		T_CHECK_INT(l.n, 1);
	T_CHECK_STR(l.v[0].name, "seed");
	*n = l.n - 1;
	pkglist_clear(&l);
	return r;
}

static void expect_error(int apk, const char *text, size_t len, const char *where)
{
	char err[256] = "";
	size_t n;
	int r = parse_one(apk, text, len, err, sizeof(err), &n);
	T_CHECK_INT(r, -EINVAL);
	if (!strstr(err, where)) {
		fprintf(stderr, "  error \"%s\" does not name \"%s\"\n", err, where);
		t_failed_checks++;
	}
}

T_TEST(dpkg_fields)
{
	struct pkglist l = { 0 };
	char err[256] = "";

	T_CHECK_INT(pkgdb_read_dpkg(good_dpkg, sizeof(good_dpkg) - 1, "x", &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		T_CHECK_STR(l.v[0].name, "libfoo1");
		T_CHECK_STR(l.v[0].version, "1.2-3+b1");
		T_CHECK_STR(l.v[0].source, "foo");
		T_CHECK_STR(l.v[0].source_version, "1.2-3");
		T_CHECK_STR(l.v[0].arch, "amd64");
		T_CHECK_STR(l.v[1].name, "bar");
		T_CHECK_STR(l.v[1].source, "barsrc");
		T_CHECK_STR(l.v[1].source_version, "2:3.0");
	}
	pkglist_clear(&l);
	T_CHECK_INT(pkgdb_read_dpkg("", 0, "empty", &l, err, sizeof(err)), 0);
	T_CHECK_INT(pkgdb_read_dpkg("\n\n\n", 3, "blank", &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 0);
}

T_TEST(dpkg_bad_input)
{
	size_t n;
	char err[256];

	/* truncated in the middle of a line, and after a complete but unfinished stanza */
	expect_error(0, good_dpkg, 55, "bad:3: line is not");
	static const char trunc[] = "Package: a\nStatus: install ok installed\n";
	expect_error(0, trunc, sizeof(trunc) - 1, "bad:1: installed package without a Version");
	static const char nopkg[] = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n\n"
				    "Status: install ok installed\nVersion: 1\nArchitecture: all\n";
	expect_error(0, nopkg, sizeof(nopkg) - 1, "bad:6: stanza without a Package");
	static const char dup[] = "Package: a\nStatus: install ok installed\nVersion: 1\nversion: 2\nArchitecture: all\n";
	expect_error(0, dup, sizeof(dup) - 1, "bad:4: duplicate Version field (first at line 3)");
	static const char nostatus[] = "Package: a\nVersion: 1\nArchitecture: all\n";
	expect_error(0, nostatus, sizeof(nostatus) - 1, "bad:1: stanza without a Status");
	static const char bin[] = "Package: a\nStatus: install ok installed\nVersion: 1\x01\x02\nArchitecture: all\n";
	expect_error(0, bin, sizeof(bin) - 1, "bad:3: binary byte 0x01");
	static const char nul[] = "Package: a\nStatus: install ok installed\nVer\0sion: 1\n";
	expect_error(0, nul, sizeof(nul) - 1, "bad:3: binary byte 0x00");
	static const char cont[] = " leading continuation\nPackage: a\n";
	expect_error(0, cont, sizeof(cont) - 1, "bad:1: continuation line outside");
	static const char cont2[] = "Package: a\n b\n";
	expect_error(0, cont2, sizeof(cont2) - 1, "bad:2: continuation of a one-line field");
	static const char badsrc[] = "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: all\nSource: s (1\n";
	expect_error(0, badsrc, sizeof(badsrc) - 1, "bad:5: Source is not");
	static const char badver[] = "Package: a\nStatus: install ok installed\nVersion: 1 2\nArchitecture: all\n";
	expect_error(0, badver, sizeof(badver) - 1, "bad:3: invalid Version");
	static const char badname[] = "Package: a/../b\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n";
	expect_error(0, badname, sizeof(badname) - 1, "bad:1: invalid package name");

	/* a 10 MB field on one line: refused; the same size in continuation lines: fine (skipped) */
	size_t big = 10u << 20;
	char *t = malloc(big + 256);
	T_CHECK(t != NULL);
	if (!t)
		return;
	int k = snprintf(t, 256, "Package: a\nStatus: install ok installed\nDescription: ");
	memset(t + k, 'x', big);
	memcpy(t + k + big, "\nVersion: 1\nArchitecture: all\n", 31);
	expect_error(0, t, (size_t)k + big + 30, "bad:3: line longer than");
	for (size_t i = (size_t)k + 1; i < (size_t)k + big; i += 80)
		t[i] = '\n', t[i + 1] = ' ';
	T_CHECK_INT(parse_one(0, t, (size_t)k + big + 30, err, sizeof(err), &n), 0);
	T_CHECK_INT(n, 1);
	/* a 10 MB Version value on one line is refused the same way */
	k = snprintf(t, 256, "Package: a\nStatus: install ok installed\nVersion: ");
	memset(t + k, '1', big);
	expect_error(0, t, (size_t)k + big, "bad:3: line longer than");
	free(t);

	/* no newline at the end, and CRLF line ends: the same result as the plain text */
	T_CHECK_INT(parse_one(0, good_dpkg, sizeof(good_dpkg) - 2, err, sizeof(err), &n), 0);
	T_CHECK_INT(n, 2);
	char crlf[sizeof(good_dpkg) * 2];
	size_t m = 0;
	for (const char *p = good_dpkg; *p; p++) {
		if (*p == '\n')
			crlf[m++] = '\r';
		crlf[m++] = *p;
	}
	struct pkglist l = { 0 };
	T_CHECK_INT(pkgdb_read_dpkg(crlf, m, "crlf", &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		T_CHECK_STR(l.v[0].source_version, "1.2-3");
		T_CHECK_STR(l.v[1].source, "barsrc");
	}
	pkglist_clear(&l);
}

static const char good_apk[] =
	"C:Q1abc=\n"
	"P:libcrypto1.1\n"
	"V:1.1.1k-r0\n"
	"A:armv7\n"
	"o:openssl\n"
	"F:lib\n"
	"R:libcrypto.so.1.1\n"
	"R:libcrypto.so.1.1.1\n"
	"\n"
	"P:noarch\n"
	"V:1-r0\n";

T_TEST(apk_bad_input)
{
	struct pkglist l = { 0 };
	char err[256] = "";
	size_t n;

	T_CHECK_INT(pkgdb_read_apk(good_apk, sizeof(good_apk) - 1, "x", &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 2);
	if (l.n == 2) {
		T_CHECK_STR(l.v[0].source, "openssl");
		T_CHECK_STR(l.v[0].source_version, "1.1.1k-r0");
		T_CHECK_STR(l.v[1].source, "noarch");
		T_CHECK(l.v[1].arch == NULL);
	}
	pkglist_clear(&l);

	static const char nop[] = "V:1\nA:x86_64\n";
	expect_error(1, nop, sizeof(nop) - 1, "bad:1: package without a P:");
	static const char nov[] = "P:a\n\nP:b\nV:1\n";
	expect_error(1, nov, sizeof(nov) - 1, "bad:1: package without a V:");
	static const char dup[] = "P:a\nV:1\nP:b\n";
	expect_error(1, dup, sizeof(dup) - 1, "bad:3: duplicate P: line (first at line 1)");
	static const char junk[] = "P:a\nV:1\nnot a line\n";
	expect_error(1, junk, sizeof(junk) - 1, "bad:3: line is not");
	static const char bin[] = "P:a\nV:1\nT:\x7f\x1b[31m\n";
	expect_error(1, bin, sizeof(bin) - 1, "bad:3: binary byte 0x7f");
	expect_error(1, good_apk, 14, "bad:1: package without a V:"); /* truncated */
	size_t big = 10u << 20;
	char *t = malloc(big + 16);
	T_CHECK(t != NULL);
	if (!t)
		return;
	memcpy(t, "P:a\nV:1\nT:", 10);
	memset(t + 10, 'x', big);
	expect_error(1, t, big + 10, "bad:3: line longer than");
	free(t);

	T_CHECK_INT(parse_one(1, good_apk, sizeof(good_apk) - 2, err, sizeof(err), &n), 0);
	T_CHECK_INT(n, 2);
	char crlf[sizeof(good_apk) * 2];
	size_t m = 0;
	for (const char *p = good_apk; *p; p++) {
		if (*p == '\n')
			crlf[m++] = '\r';
		crlf[m++] = *p;
	}
	T_CHECK_INT(parse_one(1, crlf, m, err, sizeof(err), &n), 0);
	T_CHECK_INT(n, 2);
}

T_MAIN(T_CASE(dpkg_minbase), T_CASE(dpkg_buildhost), T_CASE(apk_minirootfs), T_CASE(rpm_mariner),
       T_CASE(os_release), T_CASE(scan_rootfs), T_CASE(scan_rootfs_links), T_CASE(dpkg_status_d),
       T_CASE(dpkg_fields), T_CASE(dpkg_bad_input), T_CASE(apk_bad_input))
