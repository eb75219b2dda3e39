/*
 * image_view: the final view of an image's layers, computed from the bounded per-layer records
 * of image_layer.c once the manifest has given the stacking order. A tracked entry of layer i is
 * visible when no layer above it has an entry at the same path, a whiteout of the path or of an
 * ancestor, an opaque marker on an ancestor, or a non-directory at an ancestor (overlayfs rules).
 * Kept paths that are links are resolved lexically inside the image ('..' stops at the root,
 * absolute targets start at the image root), through links recorded at kept paths and at their
 * ancestor directories, with at most link_hops_max hops; what cannot be resolved is a warning.
 * The kept files then go through the pkgdb parsers (rpmdb.sqlite through a private temp dir).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "garrison/log.h"
#include "image_int.h"
#include "pkgdb_int.h"

#define WARN_MAX 64

void img_warn(struct image_scan_result *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (r->n_warnings > WARN_MAX)
		return;
	if (r->n_warnings == WARN_MAX) {
		snprintf(buf, sizeof(buf), "more warnings not recorded");
	} else {
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
	}
	char **nw = realloc(r->warnings, (r->n_warnings + 1) * sizeof(*nw));
	if (!nw)
		return;
	r->warnings = nw;
	if ((nw[r->n_warnings] = strdup(buf)) != NULL)
		r->n_warnings++;
}

struct vrec {
	struct lrec *r;
	unsigned layer;
};

/* 1 when path (tracked in layer i) is hidden by one of the layers above, 0 when visible,
 * -ENOMEM. */
static int hidden(const struct img_ctx *c, struct layer_scan *const *ls, size_t n, size_t i,
		  const char *path)
{
	size_t len = strlen(path), na = 0, slashes = 0;
	uint64_t self[3] = { img_path_key(c, path, len, IMG_K_DIR), img_path_key(c, path, len, IMG_K_NONDIR),
			     img_path_key(c, path, len, IMG_K_WH) };
	uint64_t *anc;
	int hit = 0;

	if (i + 1 >= n)
		return 0;
	for (size_t k = 0; k < len; k++)
		slashes += path[k] == '/';
	if (!(anc = malloc((3 * slashes + 1) * sizeof(*anc))))
		return -ENOMEM;
	anc[na++] = img_path_key(c, "", 0, IMG_K_OPQ);
	for (size_t k = 0; k < len; k++) {
		if (path[k] != '/')
			continue;
		anc[na++] = img_path_key(c, path, k, IMG_K_NONDIR);
		anc[na++] = img_path_key(c, path, k, IMG_K_WH);
		anc[na++] = img_path_key(c, path, k, IMG_K_OPQ);
	}
	for (size_t j = i + 1; j < n && !hit; j++) {
		for (int k = 0; k < 3 && !hit; k++)
			hit = img_layer_has(ls[j], self[k]);
		for (size_t k = 0; k < na && !hit; k++)
			hit = img_layer_has(ls[j], anc[k]);
	}
	free(anc);
	return hit;
}

static int cmp_vrec(const void *a, const void *b)
{
	return strcmp(((const struct vrec *)a)->r->path, ((const struct vrec *)b)->r->path);
}

static struct vrec *lookup(struct vrec *v, size_t n, const char *path)
{
	struct lrec key = { .path = (char *)path };
	struct vrec k = { .r = &key };
	if (n == 0)
		return NULL;
	return bsearch(&k, v, n, sizeof(*v), cmp_vrec);
}

/* out = normalised (base dir of the link) + target, '..' clamped at the root. */
static int link_join(const char *linkpath, size_t dirlen, const char *target, const char *rest,
		     char *out, size_t outlen)
{
	size_t k = 0;
	const char *parts[3] = { NULL, target, rest };
	char dir[IMG_PATH_MAX];

	if (dirlen >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, linkpath, dirlen);
	dir[dirlen] = '\0';
	parts[0] = target[0] == '/' ? "" : dir;
	out[0] = '\0';
	for (int i = 0; i < 3; i++) {
		const char *p = parts[i];
		if (!p)
			continue;
		while (*p) {
			const char *s = p;
			while (*p && *p != '/')
				p++;
			size_t n = (size_t)(p - s);
			while (*p == '/')
				p++;
			if (n == 0 || (n == 1 && s[0] == '.'))
				continue;
			if (n == 2 && s[0] == '.' && s[1] == '.') {
				while (k > 0 && out[k - 1] != '/')
					k--;
				if (k > 0)
					k--;
				out[k] = '\0';
				continue;
			}
			if (k + n + 2 > outlen)
				return -ENAMETOOLONG;
			if (k)
				out[k++] = '/';
			memcpy(out + k, s, n);
			k += n;
			out[k] = '\0';
		}
	}
	return 0;
}

/* Follows links from path to a regular file of the view: 0 and *res, or -ENOENT (not in the
 * tracked view), -ELOOP, -EINVAL (not a regular file), -ENAMETOOLONG. final gets its path. */
static int resolve(const struct img_ctx *c, struct vrec *v, size_t n, const char *path,
		   struct vrec **res, char *final, size_t finallen)
{
	char cur[IMG_PATH_MAX], next[IMG_PATH_MAX];
	unsigned hops = 0;
	int r;

	if (strlen(path) >= sizeof(cur))
		return -ENAMETOOLONG;
	memcpy(cur, path, strlen(path) + 1);
	for (;;) {
		struct vrec *x = lookup(v, n, cur);
		if (x) {
			if (x->r->type == LR_REG) {
				*res = x;
				snprintf(final, finallen, "%s", cur);
				return 0;
			}
			if (x->r->type == LR_OTHER)
				return -EINVAL;
			if (++hops > c->lim.link_hops_max)
				return -ELOOP;
			if (x->r->type == LR_HARDLINK) {
				snprintf(next, sizeof(next), "%s", x->r->target);
			} else {
				const char *sl = strrchr(cur, '/');
				if ((r = link_join(cur, sl ? (size_t)(sl - cur) : 0, x->r->target, NULL,
						   next, sizeof(next))) < 0)
					return r;
			}
			memcpy(cur, next, sizeof(cur));
			continue;
		}
		/* a link at an ancestor directory (longest first) */
		size_t len = strlen(cur), k = len;
		struct vrec *a = NULL;
		while (k > 0) {
			while (k > 0 && cur[k - 1] != '/')
				k--;
			if (k == 0)
				break;
			k--;
			cur[k] = '\0';
			a = lookup(v, n, cur);
			cur[k] = '/';
			if (a)
				break;
		}
		if (!a || a->r->type != LR_SYMLINK)
			return -ENOENT;
		if (++hops > c->lim.link_hops_max)
			return -ELOOP;
		cur[k] = '\0';
		const char *sl = strrchr(cur, '/');
		if ((r = link_join(cur, sl ? (size_t)(sl - cur) : 0, a->r->target, cur + k + 1, next,
				   sizeof(next))) < 0)
			return r;
		memcpy(cur, next, sizeof(cur));
	}
}

static int add_file(struct image_scan_result *r, const char *path, const char *resolved,
		    const struct vrec *t)
{
	struct image_file *nf = realloc(r->files, (r->n_files + 1) * sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	r->files = nf;
	struct image_file *f = &nf[r->n_files];
	memset(f, 0, sizeof(*f));
	f->layer = t->layer;
	f->len = t->r->len;
	if (!(f->path = strdup(path)) || (resolved && !(f->resolved = strdup(resolved))) ||
	    !(f->data = malloc(f->len + 1))) {
		free(f->path);
		free(f->resolved);
		return -ENOMEM;
	}
	if (f->len)
		memcpy(f->data, t->r->data, f->len);
	f->data[f->len] = '\0';
	r->n_files++;
	return 0;
}

static const struct image_file *find_file(const struct image_scan_result *r, const char *path)
{
	for (size_t i = 0; i < r->n_files; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct image_file *)a)->path, ((const struct image_file *)b)->path);
}

static int cmp_secret(const void *a, const void *b)
{
	return strcmp(((const struct image_secret *)a)->path, ((const struct image_secret *)b)->path);
}

static int write_private(int dfd, const char *name, const struct image_file *f)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	while (off < f->len) {
		ssize_t w = write(fd, f->data + off, f->len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int e = -errno;
			close(fd);
			return e;
		}
		off += (size_t)w;
	}
	return close(fd) < 0 ? -errno : 0;
}

/* rpmdb.sqlite (+ -wal, -shm) of dir written into a private directory for librpm. */
static int read_rpm(const struct img_ctx *c, const struct image_scan_result *r, const char *dir,
		    struct pkglist *pl, char *err, size_t errlen)
{
	static const char *const names[] = { "rpmdb.sqlite", "rpmdb.sqlite-wal", "rpmdb.sqlite-shm" };
	const char *base = c->tmpdir ? c->tmpdir : getenv("TMPDIR");
	char tmp[IMG_PATH_MAX], p[IMG_PATH_MAX];
	int dfd = -1, rc = 0;

	if (!base || !*base)
		base = "/tmp";
	snprintf(tmp, sizeof(tmp), "%s/garrison-img.XXXXXX", base);
	if (!mkdtemp(tmp)) {
		rc = -errno;
		snprintf(err, errlen, "%s/rpmdb.sqlite: cannot make a private directory under %s: %s",
			 dir, base, strerror(-rc));
		return rc;
	}
	if ((dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		const struct image_file *f = find_file(r, p);
		if (f && (rc = write_private(dfd, names[i], f)) < 0) {
			snprintf(err, errlen, "%.200s: cannot write the private copy: %s", p, strerror(-rc));
			goto out;
		}
	}
	rc = pkgdb_read_rpm_sqlite(tmp, pl, err, errlen);
out:
	if (dfd >= 0) {
		for (int i = 0; i < 3; i++)
			unlinkat(dfd, names[i], 0);
		close(dfd);
	}
	rmdir(tmp);
	return rc;
}

static int status_d_skip(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n >= 8 && strcmp(name + n - 8, ".md5sums") == 0);
}

static void packages(const struct img_ctx *c, struct image_scan_result *r)
{
	struct pkglist *pl = &r->pkgs;
	const struct image_file *f;
	char err[512] = "";
	int rc = 0;

	if ((f = find_file(r, "etc/os-release")) || (f = find_file(r, "usr/lib/os-release"))) {
		if (pkgdb_os_release((const char *)f->data, f->len, pl) < 0)
			img_warn(r, "%s: not an os-release file", f->path);
	}
	if ((f = find_file(r, "var/lib/dpkg/status")) &&
	    (rc = pkgdb_read_dpkg((const char *)f->data, f->len, f->path, pl, err, sizeof(err))) < 0)
		goto fail;
	static const char sd[] = "var/lib/dpkg/status.d/";
	for (size_t i = 0; i < r->n_files; i++) { /* files are sorted by path */
		f = &r->files[i];
		if (strncmp(f->path, sd, sizeof(sd) - 1) != 0 || status_d_skip(f->path + sizeof(sd) - 1))
			continue;
		if ((rc = pkgdb_dpkg_parse((const char *)f->data, f->len, f->path, 1, pl, err,
					   sizeof(err))) < 0)
			goto fail;
		pl->kind = PKGDB_DPKG;
	}
	if ((f = find_file(r, "lib/apk/db/installed")) &&
	    (rc = pkgdb_read_apk((const char *)f->data, f->len, f->path, pl, err, sizeof(err))) < 0)
		goto fail;
	const char *rpmdir = find_file(r, "var/lib/rpm/rpmdb.sqlite") ? "var/lib/rpm" :
			     find_file(r, "usr/lib/sysimage/rpm/rpmdb.sqlite") ? "usr/lib/sysimage/rpm" : NULL;
	if (rpmdir) {
		rc = read_rpm(c, r, rpmdir, pl, err, sizeof(err));
		if (rc == -ENOTSUP) {
			img_warn(r, "%s/rpmdb.sqlite: rpm support is not built in", rpmdir);
			rc = 0;
		} else if (rc < 0) {
			goto fail;
		}
	}
	return;
fail:
	pkgdb_truncate(pl, 0);
	pl->kind = PKGDB_NONE;
	r->pkg_error = strdup(err[0] ? err : strerror(-rc));
}

int img_view_resolve(struct img_ctx *c, struct layer_scan *const *ls, size_t n,
		     struct image_scan_result *r)
{
	struct vrec *v = NULL;
	size_t nv = 0, cap = 0, ns = 0, nf = 0;
	char final[IMG_PATH_MAX], b[200], b2[200];
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < ls[i]->nrec; k++) {
			struct lrec *x = &ls[i]->recs[k];
			int h = hidden(c, ls, n, i, x->path);
			if (h < 0)
				goto nomem;
			if (h)
				continue;
			if (nv == cap) {
				size_t ncap = cap ? cap * 2 : 32;
				struct vrec *nvv = realloc(v, ncap * sizeof(*nvv));
				if (!nvv)
					goto nomem;
				v = nvv;
				cap = ncap;
			}
			v[nv].r = x;
			v[nv].layer = (unsigned)i;
			nv++;
		}
	}
	if (nv > 1)
		qsort(v, nv, sizeof(*v), cmp_vrec);
	for (size_t i = 0; i < nv; i++) {
		ns += v[i].r->secret != NULL;
		nf += v[i].r->kept;
	}
	if (ns && !(r->secrets = calloc(ns, sizeof(*r->secrets))))
		goto nomem;
	(void)nf;
	r->secrets_truncated = c->secrets_truncated;
	for (size_t i = 0; i < nv; i++) {
		struct lrec *x = v[i].r;
		if (x->secret) {
			struct image_secret *s = &r->secrets[r->n_secrets];
			if (!(s->path = strdup(x->path)) || !(s->reason = strdup(x->secret))) {
				free(s->path);
				goto nomem;
			}
			s->layer = v[i].layer;
			r->n_secrets++;
		}
		if (!x->kept)
			continue;
		struct vrec *t = &v[i];
		final[0] = '\0';
		if (x->type != LR_REG) {
			rc = resolve(c, v, nv, x->path, &t, final, sizeof(final));
			if (rc < 0) {
				const char *why = rc == -ELOOP ? "too many link hops (a loop?)" :
						  rc == -EINVAL ? "not a regular file" :
						  rc == -ENOENT ? "a link to a file outside the kept set" :
								  "link target too long";
				img_warn(r, "%s (layer %u): %s%s%s", img_safe(x->path, b, sizeof(b)), v[i].layer,
					 why, x->target ? ", target " : "",
					 x->target ? img_safe(x->target, b2, sizeof(b2)) : "");
				rc = 0;
				continue;
			}
		}
		if (t->r->too_big) {
			img_warn(r, "%s (layer %u): %llu bytes, over the kept-file limit; not read",
				 img_safe(t->r->path, b, sizeof(b)), t->layer,
				 (unsigned long long)t->r->size);
			continue;
		}
		if ((rc = add_file(r, x->path, final[0] ? final : NULL, t)) < 0)
			goto nomem;
	}
	/* a kept path under a linked directory (var/lib -> ../usr/lib): resolved through the link
	 * when the path it leads to is kept too */
	for (const char *const *k = c->keep; *k; k++) {
		size_t kl = strlen(*k);
		struct vrec *t = NULL;
		if ((kl >= 1 && (*k)[kl - 1] == '*') || lookup(v, nv, *k))
			continue;
		if (resolve(c, v, nv, *k, &t, final, sizeof(final)) < 0 || !t->r->kept || t->r->too_big)
			continue;
		if ((rc = add_file(r, *k, final, t)) < 0)
			goto nomem;
	}
	if (r->n_files > 1)
		qsort(r->files, r->n_files, sizeof(*r->files), cmp_file);
	if (r->n_secrets > 1)
		qsort(r->secrets, r->n_secrets, sizeof(*r->secrets), cmp_secret);
	free(v);
	if (!c->no_packages)
		packages(c, r);
	return 0;
nomem:
	free(v);
	img_err(c, "out of memory resolving the image view");
	return -ENOMEM;
}
