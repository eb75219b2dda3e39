/*
 * pkgdb_rpm: the rpm database (rpmdb.sqlite) read through librpm, built only with
 * GARRISON_HAVE_RPM (pkg-config "rpm", Debian package librpm-dev). librpm checks each header's
 * structure and digests as it reads it; we then bound and validate the few tags we keep exactly
 * as the text readers do. The database (rpmdb.sqlite, and rpmdb.sqlite-wal when present) is first
 * copied into a private temporary directory: SQLite opens a WAL-mode database only by creating
 * -shm and -wal files beside it, and a scan must never write into the image it scans (nor let
 * librpm follow links by path there). librpm's configuration and macros are process-wide, so the
 * reader is serialised by a mutex here and must not run beside other librpm users in the same
 * process. Without GARRISON_HAVE_RPM the entry points return -ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "garrison/log.h"
#include "garrison/pkgdb.h"
#include "pkgdb_int.h"

#ifndef GARRISON_HAVE_RPM

int pkgdb_rpm_read_at(int dirfd, const char *label, struct pkglist *out, char *err, size_t errlen)
{
	pkgdb_err(err, errlen, "%s: rpm support is not built in", label ? label : "rpmdb");
	return -ENOTSUP;
}

#else

#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmts.h>

static pthread_mutex_t rpm_lock = PTHREAD_MUTEX_INITIALIZER;
static int rpm_configured; /* under rpm_lock */

/* Splits "name-version-release.src.rpm" into name and "version-release": 0, or -1 when it does
 * not have that form. */
static int split_srpm(const char *s, const char **name, size_t *namelen, const char **vr,
		      size_t *vrlen)
{
	size_t n = strnlen(s, 2 * PKGDB_NAME_MAX + 64);
	const char *rel, *ver;

	if (n > 10 && !memcmp(s + n - 10, ".nosrc.rpm", 10))
		n -= 10;
	else if (n > 8 && !memcmp(s + n - 8, ".src.rpm", 8))
		n -= 8;
	else
		return -1;
	rel = memrchr(s, '-', n);
	if (!rel || rel == s)
		return -1;
	ver = memrchr(s, '-', (size_t)(rel - s));
	if (!ver || ver == s)
		return -1;
	*name = s;
	*namelen = (size_t)(ver - s);
	*vr = ver + 1;
	*vrlen = n - (size_t)(ver + 1 - s);
	return 0;
}

static int add_header(Header h, const char *label, struct pkglist *out, char *err, size_t errlen)
{
	const char *name = headerGetString(h, RPMTAG_NAME);
	const char *ver = headerGetString(h, RPMTAG_VERSION);
	const char *rel = headerGetString(h, RPMTAG_RELEASE);
	const char *arch = headerGetString(h, RPMTAG_ARCH);
	const char *srpm = headerGetString(h, RPMTAG_SOURCERPM);
	char evr[3 * PKGDB_VERSION_MAX], vr[2 * PKGDB_VERSION_MAX + 2];
	const char *src, *srcver;
	size_t srclen, srcverlen;
	int k;

	if (!name || !ver || !rel) {
		pkgdb_err(err, errlen, "%s: header without name, version or release", label);
		return -EINVAL;
	}
	if (strcmp(name, "gpg-pubkey") == 0)
		return 0; /* imported signing keys, not software */
	size_t nl = strnlen(name, PKGDB_NAME_MAX + 1), vl = strnlen(ver, PKGDB_VERSION_MAX + 1),
	       rl = strnlen(rel, PKGDB_VERSION_MAX + 1);
	if (!pkgdb_valid(name, nl, PKGDB_NAME_MAX, PKGDB_CLS_NAME) ||
	    !pkgdb_valid(ver, vl, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION) ||
	    !pkgdb_valid(rel, rl, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION)) {
		pkgdb_err(err, errlen, "%s: header with an invalid name, version or release", label);
		return -EINVAL;
	}
	k = snprintf(vr, sizeof(vr), "%s-%s", ver, rel);
	if (k < 0 || (size_t)k >= sizeof(vr) || k > PKGDB_VERSION_MAX) {
		pkgdb_err(err, errlen, "%s: %s: version too long", label, name);
		return -EINVAL;
	}
	if (headerIsEntry(h, RPMTAG_EPOCH) && headerGetNumber(h, RPMTAG_EPOCH) != 0)
		k = snprintf(evr, sizeof(evr), "%" PRIu64 ":%s", headerGetNumber(h, RPMTAG_EPOCH), vr);
	else
		k = snprintf(evr, sizeof(evr), "%s", vr);
	if (k < 0 || (size_t)k >= sizeof(evr) || k > PKGDB_VERSION_MAX) {
		pkgdb_err(err, errlen, "%s: %s: version too long", label, name);
		return -EINVAL;
	}
	size_t al = arch ? strnlen(arch, PKGDB_ARCH_MAX + 1) : 0;
	if (arch && !pkgdb_valid(arch, al, PKGDB_ARCH_MAX, PKGDB_CLS_ARCH)) {
		pkgdb_err(err, errlen, "%s: %s: invalid architecture", label, name);
		return -EINVAL;
	}
	src = name;
	srclen = nl;
	srcver = vr;
	srcverlen = strlen(vr);
	if (srpm && split_srpm(srpm, &src, &srclen, &srcver, &srcverlen) == 0) {
		if (!pkgdb_valid(src, srclen, PKGDB_NAME_MAX, PKGDB_CLS_NAME) ||
		    !pkgdb_valid(srcver, srcverlen, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION)) {
			pkgdb_err(err, errlen, "%s: %s: invalid SOURCERPM", label, name);
			return -EINVAL;
		}
	} else {
		src = name;
		srclen = nl;
		srcver = vr;
		srcverlen = strlen(vr);
	}
	int r = pkgdb_append(out, name, nl, evr, strlen(evr), src, srclen, srcver, srcverlen, arch,
			     al);
	if (r == -E2BIG)
		pkgdb_err(err, errlen, "%s: more than %d packages", label, PKGDB_PKGS_MAX);
	else if (r)
		pkgdb_err(err, errlen, "%s: out of memory", label);
	return r;
}

/* Copies the regular file name in dirfd (not a link) to dst in tmpfd: 0, -ENOENT, -errno, -EFBIG. */
static int copy_file(int dirfd, const char *name, int tmpfd, const char *label, char *err,
		     size_t errlen)
{
	static char buf[1 << 16];
	struct stat st;
	unsigned long long total = 0;
	int in, outfd, r = 0;

	in = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (in < 0)
		return errno == ELOOP ? -EINVAL : -errno;
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(in);
		pkgdb_err(err, errlen, "%s: %s is not a regular file", label, name);
		return -EINVAL;
	}
	outfd = openat(tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (outfd < 0) {
		r = -errno;
		close(in);
		pkgdb_err(err, errlen, "%s: cannot copy %s: %s", label, name, strerror(-r));
		return r;
	}
	for (;;) { /* buf is shared: callers hold rpm_lock */
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		total += (unsigned long long)n;
		if (total > PKGDB_RPMDB_MAX) {
			r = -EFBIG;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(outfd, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				r = -errno;
				goto done;
			}
			off += w;
		}
	}
done:
	close(in);
	if (close(outfd) < 0 && r == 0)
		r = -errno;
	if (r == -EFBIG)
		pkgdb_err(err, errlen, "%s: %s larger than %llu bytes", label, name,
			  (unsigned long long)PKGDB_RPMDB_MAX);
	else if (r < 0)
		pkgdb_err(err, errlen, "%s: cannot copy %s: %s", label, name, strerror(-r));
	return r;
}

/* Removes the private directory and whatever SQLite left in it. */
static void remove_tmp(int tmpfd, const char *tmp)
{
	DIR *d = fdopendir(tmpfd);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	} else {
		close(tmpfd);
	}
	rmdir(tmp);
}

/* Checks the copy with SQLite itself before librpm sees it: the file must be an intact SQLite
 * database (PRAGMA quick_check) with a Packages table. librpm 4.18 leaks its SQLite connection
 * when opening a broken database fails, and its messages say little; this gives a clear error. */
static int precheck(const char *tmp, const char *label, char *err, size_t errlen)
{
	char path[4200];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int r = -EINVAL, rc;

	snprintf(path, sizeof(path), "%s/rpmdb.sqlite", tmp);
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Packages'",
			       -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		st = NULL;
		sqlite3_close(db);
		pkgdb_err(err, errlen, "%s: not an rpm database (no Packages table)", label);
		return -EINVAL;
	}
	r = 0;
out:
	if (r < 0)
		pkgdb_err(err, errlen, "%s: not an intact SQLite database: %s", label,
			  db ? sqlite3_errmsg(db) : "cannot open");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

/* Reads the copy in tmp through librpm. Called with rpm_lock held. */
static int read_copy(const char *tmp, const char *label, struct pkglist *out, char *err,
		     size_t errlen)
{
	rpmts ts = NULL;
	rpmdbMatchIterator mi = NULL;
	Header h;
	int r = 0;

	if (!rpm_configured) {
		/* librpm prints its own complaints on stderr; keep only the serious ones */
		rpmlogSetMask(RPMLOG_UPTO(RPMLOG_CRIT));
		if (rpmReadConfigFiles(NULL, NULL) != 0) {
			pkgdb_err(err, errlen, "%s: librpm cannot read its configuration", label);
			return -EINVAL;
		}
		rpm_configured = 1;
	}
	rpmPushMacro(NULL, "_dbpath", NULL, tmp, RMIL_CMDLINE);
	rpmPushMacro(NULL, "_db_backend", NULL, "sqlite", RMIL_CMDLINE);
	ts = rpmtsCreate();
	if (!ts) {
		r = -ENOMEM;
		goto out;
	}
	rpmtsSetRootDir(ts, "/");
	if (rpmtsOpenDB(ts, O_RDONLY) != 0) {
		pkgdb_err(err, errlen, "%s: librpm cannot open the database", label);
		r = -EINVAL;
		goto out;
	}
	mi = rpmtsInitIterator(ts, RPMDBI_PACKAGES, NULL, 0);
	if (!mi) {
		pkgdb_err(err, errlen, "%s: librpm cannot read the database", label);
		r = -EINVAL;
		goto out;
	}
	while ((h = rpmdbNextIterator(mi)) != NULL) {
		if ((r = add_header(h, label, out, err, errlen)) < 0)
			goto out;
	}
	out->kind = PKGDB_RPM;
out:
	if (mi)
		rpmdbFreeIterator(mi);
	if (ts) {
		rpmtsCloseDB(ts);
		rpmtsFree(ts);
	}
	rpmPopMacro(NULL, "_db_backend");
	rpmPopMacro(NULL, "_dbpath");
	return r;
}

int pkgdb_rpm_read_at(int dirfd, const char *label, struct pkglist *out, char *err, size_t errlen)
{
	const char *tdir = getenv("TMPDIR");
	char tmp[4096];
	size_t n0;
	int tmpfd, r;

	if (dirfd < 0 || !out)
		return -EINVAL;
	if (!label)
		label = "rpmdb.sqlite";
	n0 = out->n;
	if (!tdir || tdir[0] != '/' || strlen(tdir) > 1024)
		tdir = "/tmp";
	snprintf(tmp, sizeof(tmp), "%s/garrison-rpmdb-XXXXXX", tdir);

	pthread_mutex_lock(&rpm_lock);
	if (!mkdtemp(tmp)) {
		r = -errno;
		pthread_mutex_unlock(&rpm_lock);
		pkgdb_err(err, errlen, "%s: cannot make a temporary directory: %s", label, strerror(-r));
		return r;
	}
	tmpfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmpfd < 0) {
		r = -errno;
		rmdir(tmp);
		pthread_mutex_unlock(&rpm_lock);
		return r;
	}
	/* librpm would create an empty database where there is none: the copy fails first. */
	r = copy_file(dirfd, "rpmdb.sqlite", tmpfd, label, err, errlen);
	if (r == -ENOENT)
		pkgdb_err(err, errlen, "%s: no rpmdb.sqlite", label);
	if (r == 0) {
		r = copy_file(dirfd, "rpmdb.sqlite-wal", tmpfd, label, err, errlen);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0)
		r = precheck(tmp, label, err, errlen);
	if (r == 0)
		r = read_copy(tmp, label, out, err, errlen);
	remove_tmp(tmpfd, tmp);
	pthread_mutex_unlock(&rpm_lock);
	if (r < 0) {
		pkgdb_truncate(out, n0);
		log_debug("pkgdb: %s", err && errlen ? err : "rpm database refused");
	}
	return r;
}

#endif

int pkgdb_read_rpm_sqlite(const char *dbdir, struct pkglist *out, char *err, size_t errlen)
{
	int fd, r;

	if (!dbdir || !out)
		return -EINVAL;
	fd = open(dbdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		pkgdb_err(err, errlen, "%s: %s", dbdir, strerror(-r));
		return r;
	}
	r = pkgdb_rpm_read_at(fd, dbdir, out, err, errlen);
	close(fd);
	return r;
}
