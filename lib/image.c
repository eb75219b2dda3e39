/*
 * image: the containers of an image. A docker-archive or an OCI layout tar is read as one
 * stream (libarchive, plain, gzip or zstd): each regular entry is either a small JSON document
 * (first byte '{' or '[' and at most json_max bytes: manifest.json, index.json, configs, OCI
 * manifests), kept in memory, or a layer candidate, scanned as it streams past (image_layer.c)
 * and remembered only by its bounded records and digest. Entries the docker-archive keeps for
 * the legacy format (<id>/json, <id>/VERSION, repositories) are skipped. When the stream ends,
 * manifest.json or index.json says which blobs are the config and the layers and in what order;
 * digests are checked (blob names, diff_ids, descriptor sizes) and image_view.c resolves the
 * final view. So the order of entries in the archive never matters and nothing is spooled: the
 * choice for `docker save` streams, whose manifest.json comes last.
 *
 * An OCI layout directory is read by following index.json: only the blobs it names are opened
 * (O_NOFOLLOW, each path component), in order. The Docker engine's /images/{name}/get is streamed
 * by a libcurl thread into one end of a socket pair, the reader reading the other (memory: the
 * socket buffer).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "garrison/image.h"
#include "garrison/log.h"
#include "image_int.h"

#define OUTER_ENTRIES_MAX 100000
#define LINK_HOPS 8
#define ERRBUF 512

enum { B_JSON, B_LAYER, B_FAILED, B_LINK };

struct blob {
	char *name;
	int kind;
	unsigned char *buf; /* B_JSON */
	size_t len;
	struct layer_scan *ls; /* B_LAYER */
	char *err;             /* B_FAILED: why it is not a layer */
	char *link;            /* B_LINK: normalised target name */
	unsigned char sha[32];
	uint64_t size;
};

struct scan {
	struct img_ctx c;
	struct blob *v;
	size_t n, cap;
	const char *origin;
	int dirfd; /* OCI layout directory, else -1 */
	struct image_scan_result *r;
};

static void blob_clear(struct blob *b)
{
	free(b->name);
	free(b->buf);
	img_layer_free(b->ls);
	free(b->err);
	free(b->link);
}

static void scan_clear(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		blob_clear(&s->v[i]);
	free(s->v);
	img_ctx_clear(&s->c);
}

static struct blob *blob_find(struct scan *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].name, name) == 0)
			return &s->v[i];
	return NULL;
}

static struct blob *blob_add(struct scan *s, const char *name, int *rc)
{
	char b[200];
	if (blob_find(s, name)) {
		img_err(&s->c, "%s: entry '%s' occurs twice", s->origin, img_safe(name, b, sizeof(b)));
		*rc = -EINVAL;
		return NULL;
	}
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct blob *nv = realloc(s->v, ncap * sizeof(*nv));
		if (!nv) {
			*rc = -ENOMEM;
			return NULL;
		}
		s->v = nv;
		s->cap = ncap;
	}
	struct blob *bl = &s->v[s->n];
	memset(bl, 0, sizeof(*bl));
	if (!(bl->name = strdup(name))) {
		*rc = -ENOMEM;
		return NULL;
	}
	s->n++;
	return bl;
}

static void sha_hex(const unsigned char sha[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[sha[i] >> 4];
		out[2 * i + 1] = hx[sha[i] & 15];
	}
	out[64] = '\0';
}

static int is_hex64(const char *s, size_t n)
{
	if (n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/* ---- reading the outer archive ------------------------------------------------------------- */

struct outer_rd {
	struct scan *s;
	struct archive *oa;
	const char *label;
	const void *peek;
	size_t peeklen;
	int64_t off;
};

static ssize_t outer_read(void *arg, const void **buf)
{
	struct outer_rd *o = arg;
	size_t size;
	la_int64_t off;

	if (o->peek) {
		*buf = o->peek;
		o->peek = NULL;
		o->off += (int64_t)o->peeklen;
		return (ssize_t)o->peeklen;
	}
	for (;;) {
		int r = archive_read_data_block(o->oa, buf, &size, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			img_err(&o->s->c, "%s: truncated or corrupt archive: %s", o->label,
				archive_error_string(o->oa) ? archive_error_string(o->oa) : "read error");
			return -EINVAL;
		}
		if (off != o->off) {
			img_err(&o->s->c, "%s: sparse archive entry", o->label);
			return -EINVAL;
		}
		o->off += (int64_t)size;
		if (size)
			return (ssize_t)size;
	}
}

/* Reads a whole JSON entry (the first block already read) into b. */
static int read_json_entry(struct scan *s, struct outer_rd *o, struct blob *b, int64_t declared)
{
	size_t cap = declared > 0 ? (size_t)declared : 4096, len = 0;
	unsigned char *buf = malloc(cap + 1);
	const void *p;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while ((n = outer_read(o, &p)) > 0) {
		if (len + (size_t)n > s->c.lim.json_max) {
			free(buf);
			img_err(&s->c, "%s: over %zu bytes", o->label, s->c.lim.json_max);
			return -EFBIG;
		}
		if (len + (size_t)n > cap) {
			size_t ncap = (len + (size_t)n) * 2;
			if (ncap > s->c.lim.json_max)
				ncap = s->c.lim.json_max;
			unsigned char *nb = realloc(buf, ncap + 1);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		memcpy(buf + len, p, (size_t)n);
		len += (size_t)n;
	}
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[len] = '\0';
	b->kind = B_JSON;
	b->buf = buf;
	b->len = len;
	b->size = len;
	if (!EVP_Digest(buf, len, b->sha, NULL, EVP_sha256(), NULL))
		return -ENOMEM;
	return 0;
}

static int legacy_entry(const char *name)
{
	const char *base = strrchr(name, '/');
	if (!base)
		return strcmp(name, "repositories") == 0 || strcmp(name, "oci-layout") == 0;
	base++;
	return strcmp(base, "json") == 0 || strcmp(base, "VERSION") == 0;
}

/* One regular entry of the outer archive. */
static int outer_entry(struct scan *s, struct archive *oa, const char *name, int64_t declared)
{
	struct outer_rd o = { .s = s, .oa = oa };
	char label[IMG_PATH_MAX + 256], b[200];
	size_t size = 0;
	la_int64_t off = 0;
	const void *p = NULL;
	int rc = 0;

	snprintf(label, sizeof(label), "%s: %s", s->origin, img_safe(name, b, sizeof(b)));
	o.label = label;
	struct blob *bl = blob_add(s, name, &rc);
	if (!bl)
		return rc;
	if (legacy_entry(name)) {
		bl->kind = B_FAILED;
		if (!(bl->err = strdup("not a blob")))
			return -ENOMEM;
		return 0; /* the next header skips the data */
	}
	int ar = archive_read_data_block(oa, &p, &size, &off);
	if (ar == ARCHIVE_EOF) {
		size = 0;
	} else if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
		img_err(&s->c, "%s: truncated or corrupt archive: %s", label,
			archive_error_string(oa) ? archive_error_string(oa) : "read error");
		return -EINVAL;
	} else if (off != 0) {
		img_err(&s->c, "%s: sparse archive entry", label);
		return -EINVAL;
	}
	o.peek = size ? p : NULL;
	o.peeklen = size;
	size_t i = 0;
	const unsigned char *q = p;
	while (i < size && (q[i] == ' ' || q[i] == '\n' || q[i] == '\r' || q[i] == '\t'))
		i++;
	if (size && i < size && (q[i] == '{' || q[i] == '[') && declared >= 0 &&
	    (uint64_t)declared <= s->c.lim.json_max)
		return read_json_entry(s, &o, bl, declared);

	rc = img_layer_scan(&s->c, label, outer_read, &o, &bl->ls);
	if (rc == -EINVAL && s->c.err_set && !o.peek) {
		/* Not a layer (or a corrupt one): an error only if the manifest names it. The rest of
		 * the entry is skipped by the next header; a truncated archive fails there. */
		bl->kind = B_FAILED;
		bl->err = strdup(s->c.err ? s->c.err : "not a layer");
		s->c.err_set = 0;
		if (s->c.err)
			s->c.err[0] = '\0';
		return bl->err ? 0 : -ENOMEM;
	}
	if (rc < 0)
		return rc;
	bl->kind = B_LAYER;
	bl->size = bl->ls->raw;
	memcpy(bl->sha, bl->ls->sha256, 32);
	return 0;
}

/* out = dir (dirlen bytes of base) + "/" + rel, with '.' and '..' applied; -EINVAL when '..'
 * would leave the archive. */
static int rel_join(const char *base, size_t dirlen, const char *rel, char *out, size_t outlen)
{
	size_t k = 0;
	if (dirlen + 1 >= outlen)
		return -EINVAL;
	memcpy(out, base, dirlen);
	k = dirlen;
	out[k] = '\0';
	const char *p = rel;
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
			if (k == 0)
				return -EINVAL;
			while (k > 0 && out[k - 1] != '/')
				k--;
			if (k > 0)
				k--;
			out[k] = '\0';
			continue;
		}
		if (k + n + 2 > outlen)
			return -EINVAL;
		if (k)
			out[k++] = '/';
		memcpy(out + k, s, n);
		k += n;
		out[k] = '\0';
	}
	return k ? 0 : -EINVAL;
}

/* Reads the whole outer archive oa (opened by the caller) into s->v. */
static int read_outer(struct scan *s, struct archive *oa)
{
	struct archive_entry *e;
	char name[IMG_PATH_MAX], tgt[IMG_PATH_MAX], b[200];
	size_t count = 0;
	int ar, rc;

	while ((ar = archive_read_next_header(oa, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		if (++count > OUTER_ENTRIES_MAX) {
			img_err(&s->c, "%s: more than %d archive entries", s->origin, OUTER_ENTRIES_MAX);
			return -E2BIG;
		}
		int64_t t = archive_filter_bytes(oa, 0);
		if (t > 0 && (uint64_t)t > s->c.lim.total_tar_max + (1ULL << 30)) {
			img_err(&s->c, "%s: the archive holds more than %llu bytes (limit)", s->origin,
				(unsigned long long)s->c.lim.total_tar_max);
			return -EFBIG;
		}
		const char *raw = archive_entry_pathname(e);
		if (img_norm_path(raw ? raw : "", name, sizeof(name)) < 0) {
			img_err(&s->c, "%s: entry '%s': absolute path, '..' or too long", s->origin,
				img_safe(raw, b, sizeof(b)));
			return -EINVAL;
		}
		mode_t type = archive_entry_filetype(e);
		const char *hl = archive_entry_hardlink(e);
		if (!name[0] || (type == AE_IFDIR && !hl))
			continue;
		if (hl || type == AE_IFLNK) {
			int lr;
			if (hl) {
				lr = img_norm_path(hl, tgt, sizeof(tgt));
			} else {
				/* a symlink to another entry: relative to the link's directory */
				const char *st = archive_entry_symlink(e);
				const char *sl = strrchr(name, '/');
				lr = (st && st[0] != '/') ?
					     rel_join(name, sl ? (size_t)(sl - name) : 0, st, tgt, sizeof(tgt)) :
					     -EINVAL;
			}
			if (lr != 0) {
				img_err(&s->c, "%s: entry '%s': link target outside the archive", s->origin,
					img_safe(name, b, sizeof(b)));
				return -EINVAL;
			}
			struct blob *bl = blob_add(s, name, &rc);
			if (!bl)
				return rc;
			bl->kind = B_LINK;
			if (!(bl->link = strdup(tgt)))
				return -ENOMEM;
			continue;
		}
		if (type != AE_IFREG)
			continue;
		if ((rc = outer_entry(s, oa, name, archive_entry_size(e))) < 0)
			return rc;
	}
	if (ar != ARCHIVE_EOF) {
		img_err(&s->c, "%s: truncated or corrupt archive: %s", s->origin,
			archive_error_string(oa) ? archive_error_string(oa) : "read error");
		return -EINVAL;
	}
	return 0;
}

/* ---- OCI layout directory: blobs on demand -------------------------------------------------- */

struct fd_rd {
	int fd;
	unsigned char *buf;
	size_t cap;
	struct img_ctx *c;
	const char *label;
};

static ssize_t fd_read(void *arg, const void **buf)
{
	struct fd_rd *f = arg;
	for (;;) {
		ssize_t n = read(f->fd, f->buf, f->cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			img_err(f->c, "%s: %s", f->label, strerror(e));
			return -e;
		}
		*buf = f->buf;
		return n;
	}
}

/* Opens name ("blobs/sha256/<hex>", "index.json") inside the layout, no link followed. */
static int layout_open(struct scan *s, const char *name)
{
	char comp[IMG_PATH_MAX];
	int dfd = s->dirfd, fd = -1;
	const char *p = name;

	for (;;) {
		const char *sl = strchr(p, '/');
		size_t n = sl ? (size_t)(sl - p) : strlen(p);
		if (n == 0 || n >= sizeof(comp)) {
			fd = -EINVAL;
			break;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		fd = openat(dfd, comp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
					       (sl ? O_DIRECTORY : 0));
		if (dfd != s->dirfd)
			close(dfd);
		if (fd < 0) {
			fd = -errno;
			break;
		}
		if (!sl)
			break;
		dfd = fd;
		p = sl + 1;
	}
	if (fd >= 0) {
		struct stat st;
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			fd = -EINVAL;
		}
	}
	return fd;
}

/* In directory mode, loads a blob the manifest names (as_layer: scan it; else read JSON). */
static struct blob *layout_load(struct scan *s, const char *name, int as_layer, int *rc)
{
	char label[IMG_PATH_MAX + 256], b[200];
	snprintf(label, sizeof(label), "%s/%s", s->origin, img_safe(name, b, sizeof(b)));
	int fd = layout_open(s, name);
	if (fd < 0) {
		img_err(&s->c, "%s: %s", label, fd == -EINVAL ? "not a regular file" : strerror(-fd));
		*rc = fd == -ENOENT ? -EINVAL : fd;
		return NULL;
	}
	struct blob *bl = blob_add(s, name, rc);
	struct fd_rd f = { .fd = fd, .c = &s->c, .label = label, .cap = 256 * 1024 };
	if (!bl || !(f.buf = malloc(f.cap))) {
		if (bl)
			*rc = -ENOMEM;
		close(fd);
		return NULL;
	}
	if (as_layer) {
		*rc = img_layer_scan(&s->c, label, fd_read, &f, &bl->ls);
		if (*rc == 0) {
			bl->kind = B_LAYER;
			bl->size = bl->ls->raw;
			memcpy(bl->sha, bl->ls->sha256, 32);
		}
	} else {
		size_t len = 0, cap = 0;
		const void *p;
		ssize_t n;
		*rc = 0;
		while ((n = fd_read(&f, &p)) > 0) {
			if (len + (size_t)n > s->c.lim.json_max) {
				img_err(&s->c, "%s: over %zu bytes", label, s->c.lim.json_max);
				*rc = -EFBIG;
				break;
			}
			if (len + (size_t)n + 1 > cap) {
				cap = (len + (size_t)n + 1) * 2;
				unsigned char *nb = realloc(bl->buf, cap);
				if (!nb) {
					*rc = -ENOMEM;
					break;
				}
				bl->buf = nb;
			}
			memcpy(bl->buf + len, p, (size_t)n);
			len += (size_t)n;
		}
		if (n < 0)
			*rc = (int)n;
		if (*rc == 0) {
			if (!bl->buf && !(bl->buf = malloc(1)))
				*rc = -ENOMEM;
			else {
				bl->buf[len] = '\0';
				bl->len = bl->size = len;
				bl->kind = B_JSON;
				if (!EVP_Digest(bl->buf, len, bl->sha, NULL, EVP_sha256(), NULL))
					*rc = -ENOMEM;
			}
		}
	}
	free(f.buf);
	close(fd);
	return *rc == 0 ? bl : NULL;
}

/* The blob named name, following archive links; loaded on demand in directory mode. */
static struct blob *get_blob(struct scan *s, const char *name, int as_layer, int *rc)
{
	struct blob *b = blob_find(s, name);
	*rc = 0;
	for (int hops = 0; b && b->kind == B_LINK; hops++) {
		if (hops >= LINK_HOPS)
			return NULL;
		b = blob_find(s, b->link);
	}
	if (!b && s->dirfd >= 0)
		return layout_load(s, name, as_layer, rc);
	return b;
}

/* ---- the config ---------------------------------------------------------------------------- */

static int str_array(json_t *a, char ***out, size_t *n)
{
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return -EINVAL;
	size_t k = json_array_size(a);
	if (k > 100000)
		return -EINVAL;
	if (k && !(*out = calloc(k, sizeof(char *))))
		return -ENOMEM;
	for (size_t i = 0; i < k; i++) {
		json_t *x = json_array_get(a, i);
		if (!json_is_string(x))
			return -EINVAL;
		if (!((*out)[i] = strndup(json_string_value(x), json_string_length(x))))
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static int opt_str(json_t *o, const char *key, char **out)
{
	json_t *x = json_object_get(o, key);
	if (!x || json_is_null(x))
		return 0;
	if (!json_is_string(x))
		return -EINVAL;
	return (*out = strndup(json_string_value(x), json_string_length(x))) ? 0 : -ENOMEM;
}

static int parse_config(struct scan *s, struct blob *b, const char *what)
{
	struct image_scan_result *r = s->r;
	struct image_config *cf = &r->cfg;
	json_error_t je;
	const char *field = NULL;
	int rc;

	r->config = json_loadb((const char *)b->buf, b->len, JSON_REJECT_DUPLICATES, &je);
	if (!r->config || !json_is_object(r->config)) {
		img_err(&s->c, "%s: config %s: %s", s->origin, what, r->config ? "not an object" : je.text);
		return -EINVAL;
	}
	json_t *root = r->config, *c = json_object_get(root, "config");
	if ((rc = opt_str(root, field = "os", &cf->os)) < 0 ||
	    (rc = opt_str(root, field = "architecture", &cf->architecture)) < 0 ||
	    (rc = opt_str(root, field = "variant", &cf->variant)) < 0 ||
	    (rc = opt_str(root, field = "created", &cf->created)) < 0)
		goto fail;
	if (c && !json_is_null(c)) {
		if (!json_is_object(c)) {
			field = "config";
			rc = -EINVAL;
			goto fail;
		}
		if ((rc = opt_str(c, field = "User", &cf->user)) < 0 ||
		    (rc = opt_str(c, field = "WorkingDir", &cf->working_dir)) < 0 ||
		    (rc = str_array(json_object_get(c, field = "Env"), &cf->env, &cf->n_env)) < 0 ||
		    (rc = str_array(json_object_get(c, field = "Cmd"), &cf->cmd, &cf->n_cmd)) < 0 ||
		    (rc = str_array(json_object_get(c, field = "Entrypoint"), &cf->entrypoint,
				    &cf->n_entrypoint)) < 0)
			goto fail;
		static const char *const objs[] = { "Labels", "Healthcheck", "ExposedPorts" };
		json_t **dst[] = { &cf->labels, &cf->healthcheck, &cf->exposed_ports };
		for (int i = 0; i < 3; i++) {
			json_t *x = json_object_get(c, objs[i]);
			if (!x || json_is_null(x))
				continue;
			if (!json_is_object(x)) {
				field = objs[i];
				rc = -EINVAL;
				goto fail;
			}
			*dst[i] = x;
		}
		if (cf->labels) {
			const char *k;
			json_t *v;
			json_object_foreach(cf->labels, k, v) {
				if (!json_is_string(v)) {
					field = "Labels";
					rc = -EINVAL;
					goto fail;
				}
			}
		}
	}
	json_t *h = json_object_get(root, "history");
	if (h && !json_is_null(h)) {
		if (!json_is_array(h)) {
			field = "history";
			rc = -EINVAL;
			goto fail;
		}
		cf->n_history = json_array_size(h);
		for (size_t i = 0; i < cf->n_history; i++)
			cf->n_history_empty += json_is_true(json_object_get(json_array_get(h, i), "empty_layer"));
	}
	return 0;
fail:
	if (rc == -EINVAL)
		img_err(&s->c, "%s: config %s: %s has the wrong type", s->origin, what, field);
	return rc;
}

/* ---- ordering the layers: docker-archive and OCI ------------------------------------------- */

/* Checks a blob's digest against "<hex>.json" or "blobs/sha256/<hex>" in its name, if any. */
static int check_name_digest(struct scan *s, const char *name, const struct blob *b)
{
	char hex[65], bb[200];
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	size_t n = strlen(base);
	if (n == 69 && strcmp(base + 64, ".json") == 0)
		n = 64;
	else if (strncmp(name, "blobs/sha256/", 13) != 0)
		return 0;
	if (!is_hex64(base, n))
		return 0;
	sha_hex(b->sha, hex);
	if (memcmp(hex, base, 64) != 0) {
		img_err(&s->c, "%s: %s: content does not match its digest (sha256:%s)", s->origin,
			img_safe(name, bb, sizeof(bb)), hex);
		return -EINVAL;
	}
	return 0;
}

/* The blob as a layer: scanned already, or (a layer that happened to start like JSON) scanned
 * now from memory. */
struct mem_rd {
	const unsigned char *p;
	size_t n;
};
static ssize_t mem_read(void *arg, const void **buf)
{
	struct mem_rd *m = arg;
	size_t n = m->n > (1U << 20) ? (1U << 20) : m->n;
	*buf = m->p;
	m->p += n;
	m->n -= n;
	return (ssize_t)n;
}

static struct blob *layer_blob(struct scan *s, const char *name, const char *from, int *rc)
{
	char b[200], label[512];
	struct blob *bl = get_blob(s, name, 1, rc);

	if (*rc < 0)
		return NULL;
	if (!bl) {
		img_err(&s->c, "%s: %s names layer '%s', which is not in the image", s->origin, from,
			img_safe(name, b, sizeof(b)));
		*rc = -EINVAL;
		return NULL;
	}
	if (bl->kind == B_FAILED) {
		img_err(&s->c, "%s", bl->err);
		*rc = -EINVAL;
		return NULL;
	}
	if (bl->kind == B_JSON) {
		struct mem_rd m = { bl->buf, bl->len };
		snprintf(label, sizeof(label), "%s: %s", s->origin, img_safe(name, b, sizeof(b)));
		if ((*rc = img_layer_scan(&s->c, label, mem_read, &m, &bl->ls)) < 0)
			return NULL;
		bl->kind = B_LAYER;
	}
	return bl;
}

static int add_layer(struct scan *s, struct blob *bl, const char *media_type)
{
	struct image_scan_result *r = s->r;
	struct image_layer *L = &r->layers[r->n_layers];
	char hex[65], d[80];

	sha_hex(bl->sha, hex);
	snprintf(d, sizeof(d), "sha256:%s", hex);
	if (!(L->digest = strdup(d)) || !(L->compression = strdup(bl->ls->compression)) ||
	    (media_type && !(L->media_type = strdup(media_type))))
		return -ENOMEM;
	L->size = bl->ls->raw;
	L->tar_bytes = bl->ls->tar;
	L->entries = bl->ls->entries;
	r->size_stored += L->size;
	r->size_tar += L->tar_bytes;
	r->n_layers++;
	return 0;
}

static struct blob *json_blob(struct scan *s, const char *name, const char *what, int *rc)
{
	char b[200];
	struct blob *bl = get_blob(s, name, 0, rc);
	if (*rc < 0)
		return NULL;
	if (!bl || bl->kind != B_JSON) {
		img_err(&s->c, "%s: %s '%s' %s", s->origin, what, img_safe(name, b, sizeof(b)),
			bl ? "is not a JSON document of at most json_max bytes" : "is missing");
		*rc = bl ? -EINVAL : -EINVAL;
		return NULL;
	}
	return bl;
}

static json_t *load_json(struct scan *s, struct blob *b, const char *what)
{
	json_error_t je;
	json_t *j = json_loadb((const char *)b->buf, b->len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		img_err(&s->c, "%s: %s: line %d: %s", s->origin, what, je.line, je.text);
	return j;
}

static int finish_docker(struct scan *s, struct blob *mb, struct layer_scan ***order)
{
	struct image_scan_result *r = s->r;
	json_t *m = load_json(s, mb, "manifest.json"), *e, *cfgname, *layers, *tags;
	char b[200];
	int rc = -EINVAL;

	if (!m)
		return -EINVAL;
	if (!json_is_array(m) || json_array_size(m) == 0 || !json_is_object(e = json_array_get(m, 0)) ||
	    !json_is_string(cfgname = json_object_get(e, "Config")) ||
	    !json_is_array(layers = json_object_get(e, "Layers"))) {
		img_err(&s->c, "%s: manifest.json: not an array of {Config, Layers}", s->origin);
		goto out;
	}
	if (json_array_size(m) > 1)
		img_warn(r, "manifest.json lists %zu images; the first is read", json_array_size(m));
	tags = json_object_get(e, "RepoTags");
	if (json_is_array(tags) && (rc = str_array(tags, &r->repo_tags, &r->n_repo_tags)) < 0) {
		if (rc == -EINVAL)
			img_err(&s->c, "%s: manifest.json: RepoTags is not an array of strings", s->origin);
		goto out;
	}
	r->format = "docker-archive";
	const char *cn = json_string_value(cfgname);
	struct blob *cb = json_blob(s, cn, "config", &rc);
	if (!cb || (rc = check_name_digest(s, cn, cb)) < 0 || (rc = parse_config(s, cb, cn)) < 0)
		goto out;
	char hex[65], d[80];
	sha_hex(cb->sha, hex);
	snprintf(d, sizeof(d), "sha256:%s", hex);
	if (!(r->config_digest = strdup(d))) {
		rc = -ENOMEM;
		goto out;
	}
	size_t nl = json_array_size(layers);
	json_t *diff = json_object_get(json_object_get(r->config, "rootfs"), "diff_ids");
	if (nl > s->c.lim.layers_max) {
		img_err(&s->c, "%s: more than %u layers", s->origin, s->c.lim.layers_max);
		rc = -E2BIG;
		goto out;
	}
	if (nl && (!(r->layers = calloc(nl, sizeof(*r->layers))) || !(*order = calloc(nl, sizeof(**order))))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		json_t *ln = json_array_get(layers, i);
		if (!json_is_string(ln)) {
			img_err(&s->c, "%s: manifest.json: Layers[%zu] is not a string", s->origin, i);
			rc = -EINVAL;
			goto out;
		}
		struct blob *lb = layer_blob(s, json_string_value(ln), "manifest.json", &rc);
		if (!lb || (rc = check_name_digest(s, json_string_value(ln), lb)) < 0)
			goto out;
		if (!json_is_array(diff) || i >= json_array_size(diff)) {
			img_err(&s->c, "%s: config %s: rootfs.diff_ids does not list the %zu layers of manifest.json",
				s->origin, img_safe(cn, b, sizeof(b)), nl);
			rc = -EINVAL;
			goto out;
		}
		/* an uncompressed layer's digest is its diff_id */
		const char *want = json_string_value(json_array_get(diff, i));
		sha_hex(lb->sha, hex);
		if (strcmp(lb->ls->compression, "none") == 0 &&
		    (!want || strncmp(want, "sha256:", 7) != 0 || strcmp(want + 7, hex) != 0)) {
			img_err(&s->c, "%s: layer %s: sha256:%s is not diff_id %s of the config", s->origin,
				img_safe(json_string_value(ln), b, sizeof(b)), hex, want ? want : "(none)");
			rc = -EINVAL;
			goto out;
		}
		(*order)[i] = lb->ls;
		if ((rc = add_layer(s, lb, NULL)) < 0)
			goto out;
	}
	if (json_array_size(diff) != nl) {
		img_err(&s->c, "%s: config %s: rootfs.diff_ids does not list the %zu layers of manifest.json",
			s->origin, img_safe(cn, b, sizeof(b)), nl);
		rc = -EINVAL;
		goto out;
	}
	rc = 0;
out:
	json_decref(m);
	return rc;
}

/* "sha256:<hex>" -> "blobs/sha256/<hex>" */
static int digest_name(struct scan *s, json_t *desc, const char *what, char *out, size_t outlen)
{
	json_t *d = json_object_get(desc, "digest");
	const char *v = json_string_value(d);
	char b[200];
	if (!v) {
		img_err(&s->c, "%s: %s: descriptor without digest", s->origin, what);
		return -EINVAL;
	}
	if (strncmp(v, "sha256:", 7) != 0) {
		img_err(&s->c, "%s: %s: digest '%s': only sha256 is supported", s->origin, what,
			img_safe(v, b, sizeof(b)));
		return strchr(v, ':') ? -ENOTSUP : -EINVAL;
	}
	if (!is_hex64(v + 7, strlen(v + 7))) {
		img_err(&s->c, "%s: %s: bad digest '%s'", s->origin, what, img_safe(v, b, sizeof(b)));
		return -EINVAL;
	}
	snprintf(out, outlen, "blobs/sha256/%s", v + 7);
	return 0;
}

static int check_desc(struct scan *s, json_t *desc, const char *name, const struct blob *b)
{
	json_t *sz = json_object_get(desc, "size");
	char bb[200];
	int rc = check_name_digest(s, name, b);
	if (rc < 0)
		return rc;
	if (json_is_integer(sz) && (json_int_t)b->size != json_integer_value(sz)) {
		img_err(&s->c, "%s: %s: %llu bytes, the descriptor says %lld", s->origin,
			img_safe(name, bb, sizeof(bb)), (unsigned long long)b->size,
			(long long)json_integer_value(sz));
		return -EINVAL;
	}
	return 0;
}

static int is_index_type(const char *mt)
{
	return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
		      strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

/* Picks the manifest of an index: the first linux/amd64, else the first. */
static json_t *pick_manifest(json_t *ms)
{
	size_t i;
	json_t *d;
	json_array_foreach(ms, i, d) {
		json_t *p = json_object_get(d, "platform");
		const char *os = json_string_value(json_object_get(p, "os"));
		const char *ar = json_string_value(json_object_get(p, "architecture"));
		if (os && ar && strcmp(os, "linux") == 0 && strcmp(ar, "amd64") == 0)
			return d;
	}
	return json_array_get(ms, 0);
}

static int finish_oci(struct scan *s, struct blob *ib, struct layer_scan ***order)
{
	struct image_scan_result *r = s->r;
	json_t *idx = load_json(s, ib, "index.json"), *cur = NULL, *man = NULL;
	char name[128], what[160], b[200];
	int rc = -EINVAL;

	if (!idx)
		return -EINVAL;
	r->format = "oci";
	cur = idx;
	json_incref(cur);
	snprintf(what, sizeof(what), "index.json");
	for (int depth = 0;; depth++) {
		json_t *ms = json_object_get(cur, "manifests");
		if (!json_is_object(cur) || !json_is_array(ms) || json_array_size(ms) == 0) {
			img_err(&s->c, "%s: %s: no manifests", s->origin, what);
			goto out;
		}
		if (depth > 4) {
			img_err(&s->c, "%s: indexes nested too deep", s->origin);
			goto out;
		}
		json_t *d = pick_manifest(ms);
		const char *ref = json_string_value(json_object_get(json_object_get(d, "annotations"),
								    "org.opencontainers.image.ref.name"));
		if (ref && !r->repo_tags) {
			if (!(r->repo_tags = calloc(1, sizeof(char *))) || !(r->repo_tags[0] = strdup(ref))) {
				rc = -ENOMEM;
				goto out;
			}
			r->n_repo_tags = 1;
		}
		if ((rc = digest_name(s, d, what, name, sizeof(name))) < 0)
			goto out;
		struct blob *mb = json_blob(s, name, "manifest", &rc);
		if (!mb || (rc = check_desc(s, d, name, mb)) < 0)
			goto out;
		json_t *j = load_json(s, mb, name);
		if (!j) {
			rc = -EINVAL;
			goto out;
		}
		json_decref(cur);
		cur = j;
		snprintf(what, sizeof(what), "manifest %s", name);
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		const char *own = json_string_value(json_object_get(j, "mediaType"));
		if (is_index_type(mt) || is_index_type(own) ||
		    (!json_object_get(j, "config") && json_object_get(j, "manifests")))
			continue;
		man = j;
		break;
	}
	json_t *cd = json_object_get(man, "config"), *ls = json_object_get(man, "layers");
	if (!json_is_object(cd) || !json_is_array(ls)) {
		img_err(&s->c, "%s: %s: no config or layers", s->origin, what);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = digest_name(s, cd, what, name, sizeof(name))) < 0)
		goto out;
	struct blob *cb = json_blob(s, name, "config", &rc);
	if (!cb || (rc = check_desc(s, cd, name, cb)) < 0 || (rc = parse_config(s, cb, name)) < 0)
		goto out;
	if (!(r->config_digest = strdup(json_string_value(json_object_get(cd, "digest"))))) {
		rc = -ENOMEM;
		goto out;
	}
	size_t nl = json_array_size(ls);
	if (nl > s->c.lim.layers_max) {
		img_err(&s->c, "%s: more than %u layers", s->origin, s->c.lim.layers_max);
		rc = -E2BIG;
		goto out;
	}
	if (nl && (!(r->layers = calloc(nl, sizeof(*r->layers))) || !(*order = calloc(nl, sizeof(**order))))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < nl; i++) {
		json_t *d = json_array_get(ls, i);
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		if (mt && strstr(mt, "encrypted")) {
			img_err(&s->c, "%s: layer %zu: encrypted layers (%s) are not supported", s->origin, i,
				img_safe(mt, b, sizeof(b)));
			rc = -ENOTSUP;
			goto out;
		}
		if ((rc = digest_name(s, d, what, name, sizeof(name))) < 0)
			goto out;
		struct blob *lb = layer_blob(s, name, what, &rc);
		if (!lb || (rc = check_desc(s, d, name, lb)) < 0)
			goto out;
		(*order)[i] = lb->ls;
		if ((rc = add_layer(s, lb, mt)) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(cur);
	json_decref(idx);
	return rc;
}

static int finish(struct scan *s)
{
	struct layer_scan **order = NULL;
	struct blob *b;
	int rc = 0;

	if (s->dirfd < 0 && (b = get_blob(s, "manifest.json", 0, &rc)) && b->kind == B_JSON)
		rc = finish_docker(s, b, &order);
	else if (rc == 0 && (b = get_blob(s, "index.json", 0, &rc)) && b->kind == B_JSON)
		rc = finish_oci(s, b, &order);
	else if (rc == 0) {
		img_err(&s->c, "%s: neither manifest.json (docker-archive) nor index.json (OCI layout)",
			s->origin);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = img_view_resolve(&s->c, order, s->r->n_layers, s->r);
	free(order);
	return rc;
}

/* ---- public entry points ------------------------------------------------------------------- */

void image_scan_result_free(struct image_scan_result *r)
{
	if (!r)
		return;
	free(r->config_digest);
	struct image_config *c = &r->cfg;
	free(c->os);
	free(c->architecture);
	free(c->variant);
	free(c->user);
	free(c->working_dir);
	free(c->created);
	for (size_t i = 0; i < c->n_env; i++)
		free(c->env[i]);
	for (size_t i = 0; i < c->n_cmd; i++)
		free(c->cmd[i]);
	for (size_t i = 0; i < c->n_entrypoint; i++)
		free(c->entrypoint[i]);
	free(c->env);
	free(c->cmd);
	free(c->entrypoint);
	json_decref(r->config);
	for (size_t i = 0; i < r->n_repo_tags; i++)
		free(r->repo_tags[i]);
	free(r->repo_tags);
	for (size_t i = 0; i < r->n_layers; i++) {
		free(r->layers[i].digest);
		free(r->layers[i].media_type);
		free(r->layers[i].compression);
	}
	free(r->layers);
	for (size_t i = 0; i < r->n_files; i++) {
		free(r->files[i].path);
		free(r->files[i].resolved);
		free(r->files[i].data);
	}
	free(r->files);
	for (size_t i = 0; i < r->n_secrets; i++) {
		free(r->secrets[i].path);
		free(r->secrets[i].reason);
	}
	free(r->secrets);
	pkglist_clear(&r->pkgs);
	free(r->pkg_error);
	for (size_t i = 0; i < r->n_warnings; i++)
		free(r->warnings[i]);
	free(r->warnings);
	free(r);
}

/* Common set-up and tear-down around a reader. */
static int scan_begin(struct scan *s, const char *origin, const struct image_opts *o, char *ebuf)
{
	memset(s, 0, sizeof(*s));
	s->origin = origin ? origin : "image";
	s->dirfd = -1;
	int rc = img_ctx_init(&s->c, o, ebuf, ERRBUF);
	if (rc < 0)
		return rc;
	if (!(s->r = calloc(1, sizeof(*s->r))))
		return -ENOMEM;
	return 0;
}

static int scan_end(struct scan *s, int rc, const char *want_format, struct image_scan_result **out,
		    const char *ebuf, char *err, size_t errlen)
{
	if (rc == 0 && want_format && strcmp(s->r->format, want_format) != 0) {
		img_err(&s->c, "%s: is an %s archive, not %s", s->origin, s->r->format, want_format);
		rc = -EINVAL;
	}
	if (rc < 0) {
		if (!s->c.err_set)
			img_err(&s->c, "%s: %s", s->origin, strerror(-rc));
		if (err && errlen)
			snprintf(err, errlen, "%s", ebuf);
		image_scan_result_free(s->r);
		s->r = NULL;
		log_debug("image: %s", ebuf);
	}
	*out = s->r;
	scan_clear(s);
	return rc;
}

static struct archive *outer_new(void)
{
	struct archive *a = archive_read_new();
	if (!a)
		return NULL;
	archive_read_support_format_tar(a);
	archive_read_support_filter_gzip(a);
	if (archive_libzstd_version())
		archive_read_support_filter_zstd(a);
	return a;
}

static int read_archive(struct scan *s, struct archive *oa, int opened)
{
	int rc;
	if (opened != ARCHIVE_OK) {
		img_err(&s->c, "%s: %s", s->origin,
			archive_error_string(oa) ? archive_error_string(oa) : "cannot read the archive");
		return -EINVAL;
	}
	if ((rc = read_outer(s, oa)) < 0)
		return rc;
	return finish(s);
}

static int read_fd_as(int fd, const char *origin, const char *want, const struct image_opts *o,
		      struct image_scan_result **out, char *err, size_t errlen)
{
	struct scan s;
	char ebuf[ERRBUF] = "";
	int rc;

	*out = NULL;
	if ((rc = scan_begin(&s, origin, o, ebuf)) == 0) {
		struct archive *oa = outer_new();
		if (!oa)
			rc = -ENOMEM;
		else {
			rc = read_archive(&s, oa, archive_read_open_fd(oa, fd, 256 * 1024));
			archive_read_free(oa);
		}
	}
	return scan_end(&s, rc, want, out, ebuf, err, errlen);
}

int image_read_fd(int fd, const char *origin, const struct image_opts *o,
		  struct image_scan_result **out, char *err, size_t errlen)
{
	if (!out)
		return -EINVAL;
	return read_fd_as(fd, origin, NULL, o, out, err, errlen);
}

int image_read_buffer(const void *buf, size_t len, const char *origin, const struct image_opts *o,
		      struct image_scan_result **out, char *err, size_t errlen)
{
	struct scan s;
	char ebuf[ERRBUF] = "";
	int rc;

	if (!out || (!buf && len))
		return -EINVAL;
	*out = NULL;
	if ((rc = scan_begin(&s, origin, o, ebuf)) == 0) {
		struct archive *oa = outer_new();
		if (!oa)
			rc = -ENOMEM;
		else {
			rc = read_archive(&s, oa, archive_read_open_memory(oa, buf ? buf : "", len));
			archive_read_free(oa);
		}
	}
	return scan_end(&s, rc, NULL, out, ebuf, err, errlen);
}

static int open_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		int e = errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		if (err && errlen)
			snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	return fd;
}

int image_open_docker_archive(const char *path, const struct image_opts *o,
			      struct image_scan_result **out, char *err, size_t errlen)
{
	if (!out || !path)
		return -EINVAL;
	*out = NULL;
	int fd = open_file(path, err, errlen);
	if (fd < 0)
		return fd;
	int rc = read_fd_as(fd, path, "docker-archive", o, out, err, errlen);
	close(fd);
	return rc;
}

int image_open_oci_archive(const char *path, const struct image_opts *o,
			   struct image_scan_result **out, char *err, size_t errlen)
{
	if (!out || !path)
		return -EINVAL;
	*out = NULL;
	int fd = open_file(path, err, errlen);
	if (fd < 0)
		return fd;
	int rc = read_fd_as(fd, path, "oci", o, out, err, errlen);
	close(fd);
	return rc;
}

int image_open_oci_layout(const char *dir, const struct image_opts *o,
			  struct image_scan_result **out, char *err, size_t errlen)
{
	struct scan s;
	char ebuf[ERRBUF] = "";
	int rc;

	if (!out || !dir)
		return -EINVAL;
	*out = NULL;
	if ((rc = scan_begin(&s, dir, o, ebuf)) == 0) {
		s.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (s.dirfd < 0) {
			rc = -errno;
			img_err(&s.c, "%s: %s", dir, strerror(-rc));
		} else {
			rc = finish(&s);
		}
	}
	if (s.dirfd >= 0)
		close(s.dirfd);
	return scan_end(&s, rc, NULL, out, ebuf, err, errlen);
}
