/*
 * pkgdb_rootfs: finds and reads the package databases of a root file system (an unpacked image
 * or a container's merged directory). Every path is opened with openat2(RESOLVE_IN_ROOT), so
 * symbolic links inside the image resolve within it and never reach the host; where openat2 is
 * missing (Linux < 5.6) each component is opened with O_NOFOLLOW instead (no links at all).
 * Files are opened O_NONBLOCK and must be regular files (a FIFO planted at a database path
 * cannot block the scan) of at most PKGDB_FILE_MAX bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "garrison/log.h"
#include "garrison/pkgdb.h"
#include "pkgdb_int.h"

/* Opens path (relative, no leading '/') inside the directory rootfd. -errno on failure. */
static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = { 0 };
	int fd;

	how.flags = (unsigned long long)(flags | O_CLOEXEC | O_NOCTTY);
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd >= 0)
		return fd;
	if (errno != ENOSYS)
		return -errno;

	/* No openat2: walk the components without following any link. */
	char comp[256];
	int dfd = dup(rootfd);
	if (dfd < 0)
		return -errno;
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 0 || n >= sizeof(comp)) {
			close(dfd);
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		fd = openat(dfd, comp, (slash ? O_RDONLY | O_DIRECTORY : flags) | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		int e = errno;
		close(dfd);
		if (fd < 0)
			return -e;
		if (!slash)
			return fd;
		dfd = fd;
		p = slash + 1;
	}
}

/* Reads all of the regular file fd (at most PKGDB_FILE_MAX bytes) into a malloc()ed buffer. */
static int read_fd(int fd, const char *origin, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;

	if (fstat(fd, &st) < 0) {
		int e = errno;
		pkgdb_err(err, errlen, "%s: %s", origin, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		pkgdb_err(err, errlen, "%s: not a regular file", origin);
		return -EINVAL;
	}
	if ((unsigned long long)st.st_size > PKGDB_FILE_MAX) {
		pkgdb_err(err, errlen, "%s: larger than %lu bytes", origin, PKGDB_FILE_MAX);
		return -EFBIG;
	}
	cap = (size_t)st.st_size + 1; /* one more, to see a file that grew */
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			if (cap > PKGDB_FILE_MAX) {
				free(buf);
				pkgdb_err(err, errlen, "%s: larger than %lu bytes", origin, PKGDB_FILE_MAX);
				return -EFBIG;
			}
			size_t ncap = cap * 2 > PKGDB_FILE_MAX + 1 ? PKGDB_FILE_MAX + 1 : cap * 2;
			char *nb = realloc(buf, ncap);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		ssize_t r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			pkgdb_err(err, errlen, "%s: %s", origin, strerror(e));
			return -e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	*out = buf;
	*outlen = len;
	return 0;
}

typedef int (*parse_fn)(const char *, size_t, const char *, struct pkglist *, char *, size_t);

static int parse_dpkg_status_d(const char *t, size_t n, const char *o, struct pkglist *l, char *e,
			       size_t el)
{
	return pkgdb_dpkg_parse(t, n, o, 1, l, e, el);
}

/* Opens and parses one file: 0, -ENOENT when it does not exist, or the error. */
static int read_one(int dirfd, const char *path, const char *origin, parse_fn parse,
		    struct pkglist *out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, r;

	fd = open_in_root(dirfd, path, O_RDONLY | O_NONBLOCK);
	if (fd < 0) {
		if (fd != -ENOENT)
			pkgdb_err(err, errlen, "%s: %s", origin, strerror(-fd));
		return fd;
	}
	r = read_fd(fd, origin, &buf, &len, err, errlen);
	close(fd);
	if (r < 0)
		return r;
	r = parse(buf, len, origin, out, err, errlen);
	free(buf);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int skip_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n >= 8 && strcmp(name + n - 8, ".md5sums") == 0);
}

/* Reads the status.d/ directory open at dfd (taken over and closed). */
static int read_status_d(int dfd, const char *label, struct pkglist *out, char *err, size_t errlen)
{
	DIR *d = fdopendir(dfd);
	char **names = NULL;
	size_t n = 0, cap = 0, n0 = out->n;
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = -errno;
		close(dfd);
		pkgdb_err(err, errlen, "%s: %s", label, strerror(-r));
		return r;
	}
	while ((de = readdir(d)) != NULL) {
		if (skip_name(de->d_name))
			continue;
		if (n == PKGDB_DIR_MAX) {
			pkgdb_err(err, errlen, "%s: more than %d files", label, PKGDB_DIR_MAX);
			r = -E2BIG;
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
			cap = ncap;
		}
		if (!(names[n] = strdup(de->d_name))) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char origin[512], safe[256];
		size_t k = 0;
		/* file names are untrusted: print only safe bytes */
		for (const char *p = names[i]; *p && k < sizeof(safe) - 1; p++)
			safe[k++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
		safe[k] = '\0';
		snprintf(origin, sizeof(origin), "%s/%s", label, safe);
		int fd = openat(dirfd(d), names[i], O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			if (errno == ELOOP || errno == ENOENT)
				continue; /* a link (not followed) or gone */
			r = -errno;
			pkgdb_err(err, errlen, "%s: %s", origin, strerror(-r));
			goto out;
		}
		struct stat st;
		if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
			close(fd);
			continue;
		}
		char *buf = NULL;
		size_t len = 0;
		r = read_fd(fd, origin, &buf, &len, err, errlen);
		close(fd);
		if (r < 0)
			goto out;
		r = parse_dpkg_status_d(buf, len, origin, out, err, errlen);
		free(buf);
		if (r < 0)
			goto out;
	}
out:
	if (r < 0)
		pkgdb_truncate(out, n0);
	else
		out->kind = PKGDB_DPKG;
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

int pkgdb_read_dpkg_dir(const char *status_d, struct pkglist *out, char *err, size_t errlen)
{
	int fd;

	if (!status_d || !out)
		return -EINVAL;
	fd = open(status_d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		pkgdb_err(err, errlen, "%s: %s", status_d, strerror(e));
		return -e;
	}
	return read_status_d(fd, status_d, out, err, errlen);
}

static int parse_os(const char *t, size_t n, const char *o, struct pkglist *l, char *e, size_t el)
{
	int r = pkgdb_os_release(t, n, l);
	if (r < 0)
		pkgdb_err(e, el, "%s: not an os-release file", o);
	return r;
}

int pkgdb_scan_rootfs(const char *root, struct pkglist *out, char *err, size_t errlen)
{
	size_t n0;
	int rootfd, fd, r;

	if (!root || !out)
		return -EINVAL;
	n0 = out->n;
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		r = -errno;
		pkgdb_err(err, errlen, "%s: %s", root, strerror(-r));
		return r;
	}
	/* OS: os-release(5) says etc/ first, then usr/lib/. A bad one is not fatal. */
	r = read_one(rootfd, "etc/os-release", "etc/os-release", parse_os, out, err, errlen);
	if (r < 0)
		r = read_one(rootfd, "usr/lib/os-release", "usr/lib/os-release", parse_os, out,
			     err, errlen);

	r = read_one(rootfd, "var/lib/dpkg/status", "var/lib/dpkg/status", pkgdb_read_dpkg, out,
		     err, errlen);
	if (r < 0 && r != -ENOENT)
		goto fail;
	fd = open_in_root(rootfd, "var/lib/dpkg/status.d", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		if ((r = read_status_d(fd, "var/lib/dpkg/status.d", out, err, errlen)) < 0)
			goto fail;
	} else if (fd != -ENOENT && fd != -ENOTDIR) {
		r = fd;
		pkgdb_err(err, errlen, "var/lib/dpkg/status.d: %s", strerror(-r));
		goto fail;
	}
	r = read_one(rootfd, "lib/apk/db/installed", "lib/apk/db/installed", pkgdb_read_apk, out,
		     err, errlen);
	if (r < 0 && r != -ENOENT)
		goto fail;

	/* rpm: the reader copies the database out of the directory opened here, inside root. */
	fd = open_in_root(rootfd, "var/lib/rpm", O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		struct stat st;
		int have = fstatat(fd, "rpmdb.sqlite", &st, AT_SYMLINK_NOFOLLOW) == 0;
		r = have ? pkgdb_rpm_read_at(fd, "var/lib/rpm/rpmdb.sqlite", out, err, errlen) : 0;
		close(fd);
		if (r == -ENOTSUP)
			log_warn("pkgdb: %s has an rpm database, but rpm support is not built in", root);
		else if (r < 0)
			goto fail;
	}
	close(rootfd);
	return 0;
fail:
	pkgdb_truncate(out, n0);
	close(rootfd);
	return r;
}
