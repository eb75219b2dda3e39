/*
 * fuzz_layer: the image layer reader (lib/image*.c) on arbitrary bytes. Byte 0 picks the mode:
 * even: the rest is one layer (tar, gzip or zstd, as libarchive detects it), wrapped here into a
 * docker-archive of one or two layers (manifest.json, a config whose diff_ids match, the layer
 * once or twice: byte 0 & 2) so that the layer parser, whiteouts, link resolution, secrets and the
 * pkgdb parsers run; odd: the rest is a whole archive (docker-archive or OCI layout tar).
 * Small bounds keep each run fast. Contract checked besides "no crash, no leak": the result is 0,
 * -EINVAL, -EFBIG, -E2BIG, -ENOTSUP or -ENOMEM; a failure gives no result and a message naming
 * the origin; a result has normalised kept paths (no leading '/', no '..'), NUL-terminated
 * contents of at most kept_file_max bytes, secrets with a "path:" or "content:" reason and never
 * more than secrets_max of them, layer indexes inside the layer list, and converts to JSON.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <garrison/image.h>
#include <garrison/log.h>

#define BROKEN(why)                                                                      \
	do {                                                                             \
		fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, why); \
		abort();                                                                 \
	} while (0)
#define BROKEN_IF(cond)             \
	do {                        \
		if (cond)           \
			BROKEN(#cond); \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_layer", LOG_LVL_ERROR);
	return 0;
}

struct mbuf {
	unsigned char *p;
	size_t n, cap;
};

static la_ssize_t mb_write(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct mbuf *m = arg;
	if (m->n + len > m->cap) {
		size_t nc = (m->n + len) * 2;
		unsigned char *np = realloc(m->p, nc);
		if (!np)
			return -1;
		m->p = np;
		m->cap = nc;
	}
	memcpy(m->p + m->n, buf, len);
	m->n += len;
	return (la_ssize_t)len;
}

static void add(struct archive *a, const char *name, const void *p, size_t n)
{
	struct archive_entry *x = archive_entry_new();
	archive_entry_set_pathname(x, name);
	archive_entry_set_filetype(x, AE_IFREG);
	archive_entry_set_perm(x, 0644);
	archive_entry_set_size(x, (la_int64_t)n);
	archive_write_header(a, x);
	if (n)
		archive_write_data(a, p, n);
	archive_entry_free(x);
}

/* A docker-archive holding the layer (twice when two) with matching digests. */
static unsigned char *wrap(const uint8_t *layer, size_t n, int two, size_t *outlen)
{
	unsigned char md[32];
	char hex[65], cfg[512], cfgname[80], man[512];

	EVP_Digest(layer, n, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(cfg, sizeof(cfg),
		 "{\"os\":\"linux\",\"config\":{\"User\":\"0\"},\"rootfs\":{\"type\":\"layers\","
		 "\"diff_ids\":[\"sha256:%s\"%s%s%s]}}",
		 hex, two ? ",\"sha256:" : "", two ? hex : "", two ? "\"" : "");
	EVP_Digest(cfg, strlen(cfg), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	snprintf(cfgname, sizeof(cfgname), "%s.json", hex);
	snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"Layers\":[\"l/layer.tar\"%s]}]", cfgname,
		 two ? ",\"l/layer.tar\"" : "");
	struct archive *a = archive_write_new();
	struct mbuf m = { 0 };
	archive_write_set_format_pax_restricted(a);
	archive_write_open(a, &m, NULL, mb_write, NULL);
	add(a, "l/layer.tar", layer, n);
	add(a, cfgname, cfg, strlen(cfg));
	add(a, "manifest.json", man, strlen(man));
	archive_write_close(a);
	archive_write_free(a);
	*outlen = m.n;
	return m.p;
}

static void check_path(const char *p)
{
	BROKEN_IF(p == NULL || p[0] == '\0' || p[0] == '/');
	BROKEN_IF(strstr(p, "//") != NULL);
	for (const char *s = p; s; s = strchr(s, '/')) {
		if (*s == '/')
			s++;
		BROKEN_IF(strncmp(s, "../", 3) == 0 || strcmp(s, "..") == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image_opts o = { .limits = { .layer_tar_max = 32u << 20, .total_tar_max = 48u << 20,
					    .kept_file_max = 1u << 20, .kept_total_max = 4u << 20,
					    .entries_max = 20000, .layers_max = 16, .secrets_max = 8,
					    .link_hops_max = 8 } };
	struct image_scan_result *r = (void *)1;
	char err[512] = "";
	unsigned char *buf = NULL;
	size_t len;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		rc = image_read_buffer(data + 1, size - 1, "fuzz", &o, &r, err, sizeof(err));
	} else {
		buf = wrap(data + 1, size - 1, (data[0] & 2) != 0, &len);
		BROKEN_IF(buf == NULL);
		rc = image_read_buffer(buf, len, "fuzz", &o, &r, err, sizeof(err));
		free(buf);
	}
	BROKEN_IF(rc != 0 && rc != -EINVAL && rc != -EFBIG && rc != -E2BIG && rc != -ENOTSUP &&
		  rc != -ENOMEM);
	if (rc < 0) {
		BROKEN_IF(r != NULL);
		BROKEN_IF(strncmp(err, "fuzz", 4) != 0);
		return 0;
	}
	BROKEN_IF(r == NULL || r->format == NULL);
	for (size_t i = 0; i < r->n_files; i++) {
		const struct image_file *f = &r->files[i];
		check_path(f->path);
		if (f->resolved)
			check_path(f->resolved);
		BROKEN_IF(f->len > o.limits.kept_file_max);
		BROKEN_IF(f->data == NULL || f->data[f->len] != '\0');
		BROKEN_IF(f->layer >= r->n_layers);
	}
	BROKEN_IF(r->n_secrets > o.limits.secrets_max);
	for (size_t i = 0; i < r->n_secrets; i++) {
		check_path(r->secrets[i].path);
		BROKEN_IF(strncmp(r->secrets[i].reason, "path:", 5) != 0 &&
			  strncmp(r->secrets[i].reason, "content:", 8) != 0);
		BROKEN_IF(r->secrets[i].layer >= r->n_layers);
	}
	BROKEN_IF(r->pkg_error && r->pkgs.n != 0);
	json_t *j = image_scan_result_json(r, 1);
	BROKEN_IF(j == NULL);
	json_decref(j);
	image_scan_result_free(r);
	return 0;
}
