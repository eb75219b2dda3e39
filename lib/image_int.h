/*
 * image_int.h: what the image reader's files (lib/image*.c) share; not a public interface.
 * image_layer.c reads one layer into a struct layer_scan (entry keys, tracked records);
 * image.c reads the containers (archives, layout directories, the engine), orders the layers
 * by the manifest and resolves the final view (image_view.c).
 */
#ifndef GARRISON_IMAGE_INT_H
#define GARRISON_IMAGE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "garrison/image.h"

#define IMG_PATH_MAX 4096

/* Kinds of entry keys: the low 2 bits of a key; the rest is a keyed hash of the path. */
enum { IMG_K_DIR = 0, IMG_K_NONDIR = 1, IMG_K_WH = 2, IMG_K_OPQ = 3 };

enum lrec_type { LR_REG, LR_SYMLINK, LR_HARDLINK, LR_OTHER };

/* A tracked entry of one layer: kept, secret-looking, or a link on the way to a kept path.
 * target: a link's target as written (symlink) or the normalised path (hard link). data: the
 * content of a kept regular file (len bytes + NUL), NULL when not kept or too big. */
struct lrec {
	char *path, *target, *secret;
	unsigned char *data;
	size_t len;
	uint64_t size;
	uint8_t type, kept, too_big;
};

struct layer_scan {
	uint64_t *keys; /* sorted after the scan */
	size_t n, cap;
	struct lrec *recs;
	size_t nrec, caprec;
	uint64_t raw, tar; /* bytes as stored, decompressed tar bytes */
	unsigned char sha256[32];
	const char *compression;
	size_t entries;
};

/* State of one scan, shared by its layers. */
struct img_ctx {
	struct image_limits lim;
	const char *const *keep;
	const char *const *secret_paths;
	const char *tmpdir;
	int no_packages;
	char **keep_anc; /* strict ancestors of the keep paths */
	size_t n_keep_anc;
	uint64_t sipkey[2];
	uint64_t total_tar, kept_total;
	size_t total_entries;
	unsigned n_secret_recs, n_layer_scans;
	int secrets_truncated;
	char *err;
	size_t errlen;
	int err_set;
};

/* Reads the next chunk of a layer's stored bytes: returns its length and sets *buf (valid until
 * the next call), 0 at the end, or a negative errno (the reader has set the message). */
typedef ssize_t (*img_read_fn)(void *arg, const void **buf);

int img_ctx_init(struct img_ctx *c, const struct image_opts *o, char *err, size_t errlen);
void img_ctx_clear(struct img_ctx *c);
/* Formats the scan's error message (the first one wins). */
void img_err(struct img_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies at most 160 bytes of untrusted s into out with unprintable bytes as '?'. */
const char *img_safe(const char *s, char *out, size_t outlen);

/* Normalises a layer entry path: "./a//b/" -> "a/b". 0, 1 for the root itself, -EINVAL for a
 * leading '/', a '..' component, or a path over IMG_PATH_MAX. */
int img_norm_path(const char *in, char *out, size_t outlen);

uint64_t img_path_key(const struct img_ctx *c, const char *path, size_t len, int kind);
int img_layer_has(const struct layer_scan *l, uint64_t key);

/* Reads one layer (tar, gzip or zstd) from rd: 0 and *out, or a negative errno with the message
 * set (label names the layer). The stored bytes are read to their end and hashed. */
int img_layer_scan(struct img_ctx *c, const char *label, img_read_fn rd, void *arg,
		   struct layer_scan **out);
void img_layer_free(struct layer_scan *l);

/* 1 when path matches one of the keep paths / secret patterns (the pattern matched in *pat). */
int img_match_keep(const struct img_ctx *c, const char *path);
int img_match_secret_path(const struct img_ctx *c, const char *path, const char **pat);

/* Resolves the final view of the layers in stacking order into r (files, secrets, warnings,
 * packages). 0 or a negative errno with the message set. */
int img_view_resolve(struct img_ctx *c, struct layer_scan *const *layers, size_t n,
		     struct image_scan_result *r);
/* Appends a warning to r (bounded; extra ones are counted in the last). */
void img_warn(struct image_scan_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
