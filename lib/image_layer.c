/*
 * image_layer: reads one image layer (a tar, possibly gzip or zstd, through libarchive) from a
 * pull callback and keeps only bounded records: a 64-bit key per entry (SipHash-2-4 of the path
 * under a per-scan random key, kind in the low 2 bits: directory, non-directory, whiteout,
 * opaque directory), and full records for the entries the scan tracks (kept files with their
 * content, files that look like secrets, links at kept paths or their ancestors). Nothing is
 * written anywhere. The stored bytes are hashed (SHA-256) and read to their end.
 *
 * Guarantees: decompressed bytes are bounded per layer, per scan, and in ratio to the stored
 * bytes, checked each time libarchive asks for input, so a bomb stops within one input chunk;
 * entry paths are normalised and a leading '/' or any '..' is an error naming the layer and
 * entry; a kept path that occurs twice in one layer is an error; counts are bounded.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "garrison/util.h"
#include "image_int.h"

const char *const image_keep_default[] = {
	"var/lib/dpkg/status",
	"var/lib/dpkg/status.d/*",
	"lib/apk/db/installed",
	"var/lib/rpm/rpmdb.sqlite",
	"var/lib/rpm/rpmdb.sqlite-wal",
	"var/lib/rpm/rpmdb.sqlite-shm",
	"usr/lib/sysimage/rpm/rpmdb.sqlite",
	"usr/lib/sysimage/rpm/rpmdb.sqlite-wal",
	"usr/lib/sysimage/rpm/rpmdb.sqlite-shm",
	"etc/os-release",
	"usr/lib/os-release",
	NULL,
};

const char *const image_secret_paths_default[] = {
	"*.pem", "*.key", "*.p12", "*.pfx", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519",
	".aws/credentials", ".docker/config.json", ".git-credentials", ".netrc", ".pgpass",
	".npmrc", ".pypirc", NULL,
};

#define CHUNK_READ (64 * 1024)

void img_err(struct img_ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err_set)
		return;
	c->err_set = 1;
	if (!c->err || !c->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, c->errlen, fmt, ap);
	va_end(ap);
}

const char *img_safe(const char *s, char *out, size_t outlen)
{
	size_t k = 0;

	if (!s)
		s = "(null)";
	for (; *s && k + 1 < outlen && k < 160; s++)
		out[k++] = ((unsigned char)*s >= 0x20 && (unsigned char)*s < 0x7f) ? *s : '?';
	if (*s && k + 4 < outlen) {
		memcpy(out + k, "...", 3);
		k += 3;
	}
	out[k] = '\0';
	return out;
}

int img_ctx_init(struct img_ctx *c, const struct image_opts *o, char *err, size_t errlen)
{
	static const struct image_opts zero;
	struct image_limits *l = &c->lim;

	memset(c, 0, sizeof(*c));
	if (!o)
		o = &zero;
	c->err = err;
	c->errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	*l = o->limits;
	if (!l->layer_tar_max) l->layer_tar_max = 8ULL << 30;
	if (!l->total_tar_max) l->total_tar_max = 32ULL << 30;
	if (!l->ratio_after) l->ratio_after = 64ULL << 20;
	if (!l->ratio_max) l->ratio_max = 200;
	if (!l->kept_file_max) l->kept_file_max = PKGDB_FILE_MAX;
	if (!l->kept_total_max) l->kept_total_max = 256ULL << 20;
	if (!l->entries_max) l->entries_max = 4000000;
	if (!l->layers_max) l->layers_max = 512;
	if (!l->secrets_max) l->secrets_max = 1000;
	if (!l->link_hops_max) l->link_hops_max = 16;
	if (!l->json_max) l->json_max = 8U << 20;
	if (!l->secret_prefix) l->secret_prefix = 1024;
	if (l->secret_prefix > 65536)
		l->secret_prefix = 65536;
	c->keep = o->keep ? o->keep : image_keep_default;
	c->secret_paths = o->secret_paths ? o->secret_paths : image_secret_paths_default;
	c->tmpdir = o->tmpdir;
	c->no_packages = o->no_packages;
	if (util_random(c->sipkey, sizeof(c->sipkey)) != 0) {
		img_err(c, "no random bytes for the path hash key");
		return -EIO;
	}
	/* strict ancestors of every keep path: links there are followed when resolving */
	for (const char *const *k = c->keep; *k; k++) {
		for (const char *p = strchr(*k, '/'); p; p = strchr(p + 1, '/')) {
			size_t n = (size_t)(p - *k), i;
			for (i = 0; i < c->n_keep_anc; i++)
				if (strlen(c->keep_anc[i]) == n && memcmp(c->keep_anc[i], *k, n) == 0)
					break;
			if (i < c->n_keep_anc)
				continue;
			char **nv = realloc(c->keep_anc, (c->n_keep_anc + 1) * sizeof(*nv));
			if (!nv)
				goto nomem;
			c->keep_anc = nv;
			if (!(c->keep_anc[c->n_keep_anc] = strndup(*k, n)))
				goto nomem;
			c->n_keep_anc++;
		}
	}
	return 0;
nomem:
	img_ctx_clear(c);
	return -ENOMEM;
}

void img_ctx_clear(struct img_ctx *c)
{
	for (size_t i = 0; i < c->n_keep_anc; i++)
		free(c->keep_anc[i]);
	free(c->keep_anc);
	c->keep_anc = NULL;
	c->n_keep_anc = 0;
}

int img_norm_path(const char *in, char *out, size_t outlen)
{
	size_t k = 0;
	const char *p = in;

	if (!in || outlen < 2)
		return -EINVAL;
	if (*p == '/')
		return -EINVAL;
	while (*p) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		while (*p == '/')
			p++;
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return -EINVAL;
		if (k + (k ? 1 : 0) + n + 1 > outlen || k + n + 1 > IMG_PATH_MAX)
			return -EINVAL;
		if (k)
			out[k++] = '/';
		memcpy(out + k, s, n);
		k += n;
	}
	out[k] = '\0';
	return k == 0 ? 1 : 0;
}

/* SipHash-2-4 (Aumasson, Bernstein), keyed per scan so a layer cannot aim collisions at a path. */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                        \
	do {                                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);               \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);               \
	} while (0)

static uint64_t siphash(const uint64_t key[2], const unsigned char *m, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0], v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0], v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = ((uint64_t)len) << 56, w;
	size_t i, end = len - (len % 8);

	for (i = 0; i < end; i += 8) {
		w = 0;
		for (int j = 0; j < 8; j++)
			w |= (uint64_t)m[i + j] << (8 * j);
		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	for (int j = 0; i + (size_t)j < len; j++)
		b |= (uint64_t)m[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t img_path_key(const struct img_ctx *c, const char *path, size_t len, int kind)
{
	return (siphash(c->sipkey, (const unsigned char *)path, len) & ~(uint64_t)3) | (uint64_t)kind;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int img_layer_has(const struct layer_scan *l, uint64_t key)
{
	if (l->n == 0)
		return 0;
	return bsearch(&key, l->keys, l->n, sizeof(uint64_t), cmp_u64) != NULL;
}

int img_match_keep(const struct img_ctx *c, const char *path)
{
	size_t pl = strlen(path);

	for (const char *const *k = c->keep; *k; k++) {
		size_t kl = strlen(*k);
		if (kl >= 2 && (*k)[kl - 1] == '*' && (*k)[kl - 2] == '/') {
			/* "<dir>/" "*": a direct child of dir */
			if (pl > kl - 1 && memcmp(path, *k, kl - 1) == 0 &&
			    !strchr(path + kl - 1, '/'))
				return 1;
		} else if (pl == kl && memcmp(path, *k, kl) == 0) {
			return 1;
		}
	}
	return 0;
}

static int is_keep_ancestor(const struct img_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_keep_anc; i++)
		if (strcmp(c->keep_anc[i], path) == 0)
			return 1;
	return 0;
}

int img_match_secret_path(const struct img_ctx *c, const char *path, const char **pat)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (const char *const *s = c->secret_paths; *s; s++) {
		if (!strchr(*s, '/')) {
			if (fnmatch(*s, base, 0) == 0)
				goto hit;
			continue;
		}
		/* the pattern must match the path's last components exactly */
		size_t slashes = 0;
		for (const char *q = *s; *q; q++)
			slashes += *q == '/';
		const char *start = path + strlen(path);
		size_t seen = 0;
		while (start > path) {
			start--;
			if (*start == '/' && ++seen > slashes) {
				start++;
				break;
			}
		}
		if (seen >= slashes && fnmatch(*s, start, FNM_PATHNAME) == 0)
			goto hit;
		continue;
hit:
		if (pat)
			*pat = *s;
		return 1;
	}
	return 0;
}

/* 1 when the text holds a PEM "-----BEGIN ... PRIVATE KEY" line (also "PGP PRIVATE KEY BLOCK"). */
static int pem_private(const unsigned char *b, size_t n)
{
	static const char begin[] = "-----BEGIN ";
	for (size_t i = 0; i + sizeof(begin) - 1 <= n; i++) {
		if (memcmp(b + i, begin, sizeof(begin) - 1) != 0)
			continue;
		size_t j = i + sizeof(begin) - 1, e = j;
		while (e < n && e - j < 64 && b[e] != '\n' && b[e] != '-')
			e++;
		for (size_t k = j; k + 11 <= e; k++)
			if (memcmp(b + k, "PRIVATE KEY", 11) == 0)
				return 1;
	}
	return 0;
}

/* 1 when the first bytes are a PEM certificate or public key (a *.pem that is not a secret). */
static int pem_public(const unsigned char *b, size_t n)
{
	size_t i = 0;
	while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	static const char *const pub[] = { "-----BEGIN CERTIFICATE-----", "-----BEGIN PUBLIC KEY-----",
					   "-----BEGIN TRUSTED CERTIFICATE-----", NULL };
	for (const char *const *p = pub; *p; p++) {
		size_t l = strlen(*p);
		if (n - i >= l && memcmp(b + i, *p, l) == 0)
			return 1;
	}
	return 0;
}

/* ---- reading one layer ------------------------------------------------------------------- */

struct lstate {
	struct img_ctx *c;
	struct archive *a;
	const char *label;
	img_read_fn rd;
	void *arg;
	EVP_MD_CTX *md;
	struct layer_scan *l;
	int eof, failed, rc;
};

/* Checks the decompression bounds; 0 or -EFBIG with the message set. */
static int check_bounds(struct lstate *s)
{
	struct img_ctx *c = s->c;
	int64_t t = archive_filter_bytes(s->a, 0);
	uint64_t tar = t > 0 ? (uint64_t)t : 0;

	if (tar > c->lim.layer_tar_max) {
		img_err(c, "%s: more than %llu bytes once decompressed (limit)", s->label,
			(unsigned long long)c->lim.layer_tar_max);
		return -EFBIG;
	}
	if (c->total_tar + tar > c->lim.total_tar_max) {
		img_err(c, "%s: the image holds more than %llu decompressed bytes (limit)", s->label,
			(unsigned long long)c->lim.total_tar_max);
		return -EFBIG;
	}
	if (tar > c->lim.ratio_after && tar / (s->l->raw ? s->l->raw : 1) > c->lim.ratio_max) {
		img_err(c, "%s: compression ratio over %u:1 after %llu bytes (a decompression bomb?)",
			s->label, c->lim.ratio_max, (unsigned long long)tar);
		return -EFBIG;
	}
	return 0;
}

static la_ssize_t lread_cb(struct archive *a, void *arg, const void **buf)
{
	struct lstate *s = arg;
	ssize_t n;

	if (s->failed)
		return ARCHIVE_FATAL;
	if (s->eof)
		return 0;
	if ((s->rc = check_bounds(s)) < 0)
		goto fail;
	n = s->rd(s->arg, buf);
	if (n < 0) {
		s->rc = (int)n;
		goto fail;
	}
	if (n == 0) {
		s->eof = 1;
		return 0;
	}
	s->l->raw += (uint64_t)n;
	if (EVP_DigestUpdate(s->md, *buf, (size_t)n) != 1) {
		s->rc = -ENOMEM;
		goto fail;
	}
	return n;
fail:
	s->failed = 1;
	archive_set_error(a, EIO, "input stopped");
	return ARCHIVE_FATAL;
}

static int add_key(struct lstate *s, const char *path, int kind)
{
	struct layer_scan *l = s->l;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		uint64_t *nk = realloc(l->keys, ncap * sizeof(*nk));
		if (!nk)
			return -ENOMEM;
		l->keys = nk;
		l->cap = ncap;
	}
	l->keys[l->n++] = img_path_key(s->c, path, strlen(path), kind);
	return 0;
}

static struct lrec *add_rec(struct lstate *s, const char *path, int *rc)
{
	struct layer_scan *l = s->l;
	char b[200];

	for (size_t i = 0; i < l->nrec; i++) {
		if (strcmp(l->recs[i].path, path) == 0) {
			img_err(s->c, "%s: entry '%s' occurs twice", s->label, img_safe(path, b, sizeof(b)));
			*rc = -EINVAL;
			return NULL;
		}
	}
	if (l->nrec == l->caprec) {
		size_t ncap = l->caprec ? l->caprec * 2 : 16;
		struct lrec *nr = realloc(l->recs, ncap * sizeof(*nr));
		if (!nr) {
			*rc = -ENOMEM;
			return NULL;
		}
		l->recs = nr;
		l->caprec = ncap;
	}
	struct lrec *r = &l->recs[l->nrec];
	memset(r, 0, sizeof(*r));
	if (!(r->path = strdup(path))) {
		*rc = -ENOMEM;
		return NULL;
	}
	l->nrec++;
	return r;
}

/* archive_read_data() error → message. */
static int data_err(struct lstate *s, const char *path)
{
	char b[200];
	if (s->failed)
		return s->rc;
	if (s->c->err_set)
		return -EINVAL;
	img_err(s->c, "%s: entry '%s': %s", s->label, img_safe(path, b, sizeof(b)),
		archive_error_string(s->a) ? archive_error_string(s->a) : "read error");
	return -EINVAL;
}

/* Reads a kept regular file whole (size bytes, declared by the header). */
static int read_kept(struct lstate *s, const char *path, struct lrec *r, uint64_t size)
{
	struct img_ctx *c = s->c;

	r->size = size;
	if (size > c->lim.kept_file_max || c->kept_total + size > c->lim.kept_total_max) {
		r->too_big = 1;
		return 0;
	}
	if (!(r->data = malloc((size_t)size + 1)))
		return -ENOMEM;
	size_t got = 0;
	while (got < size) {
		la_ssize_t n = archive_read_data(s->a, r->data + got, (size_t)size - got);
		if (n < 0)
			return data_err(s, path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != size) {
		char b[200];
		img_err(c, "%s: entry '%s' is truncated", s->label, img_safe(path, b, sizeof(b)));
		return -EINVAL;
	}
	r->data[got] = '\0';
	r->len = got;
	c->kept_total += got;
	return 0;
}

static int scan_entries(struct lstate *s)
{
	struct img_ctx *c = s->c;
	struct layer_scan *l = s->l;
	struct archive_entry *e;
	char path[IMG_PATH_MAX], tmp[IMG_PATH_MAX], b[200];
	unsigned char *prefix = NULL;
	int r = 0, ar;

	if (!(prefix = malloc(c->lim.secret_prefix)))
		return -ENOMEM;
	while ((ar = archive_read_next_header(s->a, &e)) == ARCHIVE_OK || ar == ARCHIVE_WARN) {
		if ((r = check_bounds(s)) < 0)
			goto out;
		if (++c->total_entries > c->lim.entries_max) {
			img_err(c, "%s: the image has more than %zu entries (limit)", s->label,
				c->lim.entries_max);
			r = -E2BIG;
			goto out;
		}
		l->entries++;
		const char *name = archive_entry_pathname(e);
		int nr = img_norm_path(name ? name : "", path, sizeof(path));
		if (nr < 0) {
			img_err(c, "%s: entry '%s': absolute path, '..' or too long", s->label,
				img_safe(name, b, sizeof(b)));
			r = -EINVAL;
			goto out;
		}
		if (nr == 1)
			continue; /* the root directory itself */
		mode_t type = archive_entry_filetype(e);
		const char *hl = archive_entry_hardlink(e);
		char *base = strrchr(path, '/');
		size_t dirlen = base ? (size_t)(base - path) : 0;
		base = base ? base + 1 : path;

		if (strncmp(base, ".wh.", 4) == 0) {
			if (strcmp(base, ".wh..wh..opq") == 0) {
				path[dirlen] = '\0';
				r = add_key(s, path, IMG_K_OPQ);
			} else if (strncmp(base, ".wh..wh.", 8) == 0) {
				r = 0; /* aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs) */
			} else if (base[4] == '\0' || strcmp(base + 4, ".") == 0 || strcmp(base + 4, "..") == 0) {
				img_err(c, "%s: entry '%s': bad whiteout", s->label, img_safe(path, b, sizeof(b)));
				r = -EINVAL;
			} else {
				memmove(base, base + 4, strlen(base + 4) + 1);
				r = add_key(s, path, IMG_K_WH);
			}
			if (r < 0)
				goto out;
			continue;
		}
		int is_dir = type == AE_IFDIR && !hl;
		if ((r = add_key(s, path, is_dir ? IMG_K_DIR : IMG_K_NONDIR)) < 0)
			goto out;
		if (is_dir)
			continue;
		int kept = img_match_keep(c, path);
		const char *pat = NULL;
		int spath = img_match_secret_path(c, path, &pat);
		struct lrec *rec;

		if (hl) {
			if (!kept && !spath)
				continue;
			if (img_norm_path(hl, tmp, sizeof(tmp)) != 0) {
				img_err(c, "%s: entry '%s': bad hard link target '%s'", s->label,
					img_safe(path, b, sizeof(b)), hl);
				r = -EINVAL;
				goto out;
			}
			if (!(rec = add_rec(s, path, &r)))
				goto out;
			rec->type = LR_HARDLINK;
			rec->kept = (uint8_t)kept;
			if (!(rec->target = strdup(tmp))) {
				r = -ENOMEM;
				goto out;
			}
			if (spath && c->n_secret_recs >= c->lim.secrets_max)
				c->secrets_truncated = 1;
			else if (spath) {
				char reason[128];
				snprintf(reason, sizeof(reason), "path:%s", pat);
				if (!(rec->secret = strdup(reason))) {
					r = -ENOMEM;
					goto out;
				}
				c->n_secret_recs++;
			}
			continue;
		}
		if (type == AE_IFLNK) {
			if (!kept && !is_keep_ancestor(c, path))
				continue;
			const char *t = archive_entry_symlink(e);
			if (!(rec = add_rec(s, path, &r)))
				goto out;
			rec->type = LR_SYMLINK;
			rec->kept = (uint8_t)kept;
			if (!(rec->target = strndup(t ? t : "", IMG_PATH_MAX))) {
				r = -ENOMEM;
				goto out;
			}
			continue;
		}
		if (type != AE_IFREG) {
			if (kept) {
				if (!(rec = add_rec(s, path, &r)))
					goto out;
				rec->type = LR_OTHER;
				rec->kept = 1;
			}
			continue;
		}
		int64_t sz = archive_entry_size(e);
		uint64_t size = sz > 0 ? (uint64_t)sz : 0;
		if (kept) {
			if (!(rec = add_rec(s, path, &r)))
				goto out;
			rec->type = LR_REG;
			rec->kept = 1;
			if ((r = read_kept(s, path, rec, size)) < 0)
				goto out;
			if (rec->data && pem_private(rec->data, rec->len < c->lim.secret_prefix ?
								   rec->len : c->lim.secret_prefix)) {
				if (!(rec->secret = strdup("content:PEM private key"))) {
					r = -ENOMEM;
					goto out;
				}
			}
			continue;
		}
		/* Not kept: look at the first bytes for a private key. */
		size_t np = 0;
		if (size > 0 && c->n_secret_recs < c->lim.secrets_max) {
			while (np < c->lim.secret_prefix) {
				la_ssize_t n = archive_read_data(s->a, prefix + np, c->lim.secret_prefix - np);
				if (n < 0) {
					r = data_err(s, path);
					goto out;
				}
				if (n == 0)
					break;
				np += (size_t)n;
			}
		}
		int content = np && pem_private(prefix, np);
		int bypath = spath && !(np && !content && pem_public(prefix, np));
		if (!content && !bypath)
			continue;
		if (c->n_secret_recs >= c->lim.secrets_max) {
			c->secrets_truncated = 1;
			continue;
		}
		if (!(rec = add_rec(s, path, &r)))
			goto out;
		rec->type = LR_REG;
		rec->size = size;
		char reason[128];
		if (content)
			snprintf(reason, sizeof(reason), "content:PEM private key");
		else
			snprintf(reason, sizeof(reason), "path:%s", pat);
		if (!(rec->secret = strdup(reason))) {
			r = -ENOMEM;
			goto out;
		}
		c->n_secret_recs++;
	}
	if (ar != ARCHIVE_EOF) {
		if (s->failed)
			r = s->rc;
		else if (c->err_set)
			r = -EINVAL;
		else {
			img_err(c, "%s: not a valid tar layer: %s", s->label,
				archive_error_string(s->a) ? archive_error_string(s->a) : "read error");
			r = -EINVAL;
		}
		goto out;
	}
	r = check_bounds(s);
out:
	free(prefix);
	return r;
}

void img_layer_free(struct layer_scan *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nrec; i++) {
		free(l->recs[i].path);
		free(l->recs[i].target);
		free(l->recs[i].secret);
		free(l->recs[i].data);
	}
	free(l->recs);
	free(l->keys);
	free(l);
}

int img_layer_scan(struct img_ctx *c, const char *label, img_read_fn rd, void *arg,
		   struct layer_scan **out)
{
	struct lstate s = { .c = c, .label = label, .rd = rd, .arg = arg };
	unsigned int mdlen = 0;
	int r;

	*out = NULL;
	if (++c->n_layer_scans > c->lim.layers_max) {
		img_err(c, "%s: more than %u layers (limit)", label, c->lim.layers_max);
		return -E2BIG;
	}
	if (!(s.l = calloc(1, sizeof(*s.l))) || !(s.md = EVP_MD_CTX_new()) ||
	    !(s.a = archive_read_new())) {
		r = -ENOMEM;
		goto fail;
	}
	if (EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		goto fail;
	}
	/* gzip and zstd only through the linked libraries (ARCHIVE_OK), never an external program */
	archive_read_support_format_tar(s.a);
	archive_read_support_format_empty(s.a);
	if (archive_read_support_filter_gzip(s.a) != ARCHIVE_OK) {
		img_err(c, "%s: libarchive has no built-in gzip", label);
		r = -ENOTSUP;
		goto fail;
	}
	if (archive_libzstd_version())
		archive_read_support_filter_zstd(s.a);
	if (archive_read_open(s.a, &s, NULL, lread_cb, NULL) != ARCHIVE_OK) {
		if (!c->err_set)
			img_err(c, "%s: %s", label,
				archive_error_string(s.a) ? archive_error_string(s.a) : "cannot read");
		r = s.failed ? s.rc : -EINVAL;
		goto fail;
	}
	r = scan_entries(&s);
	if (r < 0) {
		/* the reader's own failure (I/O, bounds) keeps its code */
		goto fail;
	}
	switch (archive_filter_code(s.a, 0)) {
	case ARCHIVE_FILTER_GZIP: s.l->compression = "gzip"; break;
	case ARCHIVE_FILTER_ZSTD: s.l->compression = "zstd"; break;
	case ARCHIVE_FILTER_NONE: s.l->compression = "none"; break;
	default: s.l->compression = "other"; break;
	}
	int64_t t = archive_filter_bytes(s.a, 0);
	s.l->tar = t > 0 ? (uint64_t)t : 0;
	/* the rest of the stored bytes (tar padding after the end marker) count for the digest */
	while (!s.eof) {
		const void *buf;
		ssize_t n = rd(arg, &buf);
		if (n < 0) {
			r = (int)n;
			goto fail;
		}
		if (n == 0)
			break;
		s.l->raw += (uint64_t)n;
		if (EVP_DigestUpdate(s.md, buf, (size_t)n) != 1) {
			r = -ENOMEM;
			goto fail;
		}
	}
	if (EVP_DigestFinal_ex(s.md, s.l->sha256, &mdlen) != 1 || mdlen != 32) {
		r = -ENOMEM;
		goto fail;
	}
	c->total_tar += s.l->tar;
	if (s.l->n > 1)
		qsort(s.l->keys, s.l->n, sizeof(uint64_t), cmp_u64);
	archive_read_free(s.a);
	EVP_MD_CTX_free(s.md);
	*out = s.l;
	return 0;
fail:
	if (r == -ENOMEM && !c->err_set)
		img_err(c, "%s: out of memory", label);
	if (!c->err_set)
		img_err(c, "%s: %s", label, strerror(-r));
	if (s.a)
		archive_read_free(s.a);
	EVP_MD_CTX_free(s.md);
	img_layer_free(s.l);
	return r;
}
