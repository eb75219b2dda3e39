/*
 * test_image: the image layer reader (lib/image*.c). Layers and whole archives are built in
 * memory with libarchive's writer (docker-archive: manifest.json, config, <id>/layer.tar; OCI
 * layout in a private temp directory) and read back: whiteouts and opaque directories across
 * layers, a file hiding a lower directory, links at kept paths (resolved inside the image,
 * loops bounded), secrets by path and by content (reported without content, hidden by
 * whiteouts), layer order taken from the manifest whatever the archive order, and bad input:
 * '..' and absolute paths, truncated archives, bombs, missing layers, duplicates, digests.
 * The package databases come from tests/data/pkgdb (see its PROVENANCE.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <openssl/evp.h>

#include <garrison/image.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include "t.h"

/* ---- building archives in memory ----------------------------------------------------------- */

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

/* type: 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'z' file of len zero bytes (streamed) */
struct ent {
	const char *path;
	char type;
	const char *data;
	size_t len;
};

enum { F_NONE, F_GZIP, F_ZSTD };

static unsigned char *mk_tar(const struct ent *e, size_t n, int filter, size_t *outlen)
{
	struct archive *a = archive_write_new();
	struct mbuf m = { 0 };
	static char zeros[65536];

	archive_write_set_format_pax_restricted(a);
	if (filter == F_GZIP)
		archive_write_add_filter_gzip(a);
	else if (filter == F_ZSTD)
		archive_write_add_filter_zstd(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, &m, NULL, mb_write, NULL);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *x = archive_entry_new();
		archive_entry_set_pathname(x, e[i].path);
		archive_entry_set_mtime(x, 1700000000, 0);
		switch (e[i].type) {
		case 'd':
			archive_entry_set_filetype(x, AE_IFDIR);
			archive_entry_set_perm(x, 0755);
			break;
		case 'l':
			archive_entry_set_filetype(x, AE_IFLNK);
			archive_entry_set_perm(x, 0777);
			archive_entry_set_symlink(x, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_perm(x, 0644);
			archive_entry_set_hardlink(x, e[i].data);
			archive_entry_set_size(x, 0);
			break;
		default:
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_perm(x, 0644);
			archive_entry_set_size(x, (la_int64_t)(e[i].type == 'z' ? e[i].len :
							      e[i].data ? strlen(e[i].data) : 0));
		}
		archive_write_header(a, x);
		if (e[i].type == 'f' && e[i].data)
			archive_write_data(a, e[i].data, strlen(e[i].data));
		if (e[i].type == 'z')
			for (size_t done = 0; done < e[i].len;) {
				size_t k = e[i].len - done < sizeof(zeros) ? e[i].len - done : sizeof(zeros);
				archive_write_data(a, zeros, k);
				done += k;
			}
		archive_entry_free(x);
	}
	archive_write_close(a);
	archive_write_free(a);
	*outlen = m.n;
	return m.p;
}

static void sha_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

struct layer {
	unsigned char *p;
	size_t n;
};

/* A docker-archive of the layers (bottom first). config_inner: the "config" object's members
 * (JSON text without braces, may be ""). order: 0 = layers, config, manifest (as docker save);
 * 1 = manifest first, layers in reverse. bad_diff: a wrong diff_id for layer 0. */
static unsigned char *mk_docker(const struct layer *l, size_t nl, const char *config_inner, int order,
				int bad_diff, const char *extra_layer_name, size_t *outlen)
{
	char cfg[8192], man[4096], hex[65], names[8][80], cfgname[80];
	size_t k = 0;

	k += (size_t)snprintf(cfg + k, sizeof(cfg) - k,
			      "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{%s},"
			      "\"history\":[{\"created_by\":\"x\"},{\"empty_layer\":true}],"
			      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[",
			      config_inner);
	for (size_t i = 0; i < nl; i++) {
		sha_hex(l[i].p, l[i].n, hex);
		if (bad_diff && i == 0)
			hex[0] = hex[0] == '0' ? '1' : '0';
		k += (size_t)snprintf(cfg + k, sizeof(cfg) - k, "%s\"sha256:%s\"", i ? "," : "", hex);
		snprintf(names[i], sizeof(names[i]), "l%zu%.20s/layer.tar", i, hex);
	}
	snprintf(cfg + k, sizeof(cfg) - k, "]}}");
	sha_hex(cfg, strlen(cfg), hex);
	snprintf(cfgname, sizeof(cfgname), "%s.json", hex);
	k = (size_t)snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"RepoTags\":[\"t/x:1\"],\"Layers\":[",
			     cfgname);
	for (size_t i = 0; i < nl; i++)
		k += (size_t)snprintf(man + k, sizeof(man) - k, "%s\"%s\"", i ? "," : "", names[i]);
	if (extra_layer_name)
		k += (size_t)snprintf(man + k, sizeof(man) - k, ",\"%s\"", extra_layer_name);
	snprintf(man + k, sizeof(man) - k, "]}]");

	struct archive *a = archive_write_new();
	struct mbuf m = { 0 };
	archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, &m, NULL, mb_write, NULL);
	const char *ename[12];
	const void *edata[12];
	size_t elen[12], ne = 0;
	if (order == 1) {
		ename[ne] = "manifest.json", edata[ne] = man, elen[ne++] = strlen(man);
		ename[ne] = cfgname, edata[ne] = cfg, elen[ne++] = strlen(cfg);
		for (size_t i = nl; i-- > 0;)
			ename[ne] = names[i], edata[ne] = l[i].p, elen[ne++] = l[i].n;
	} else {
		for (size_t i = 0; i < nl; i++)
			ename[ne] = names[i], edata[ne] = l[i].p, elen[ne++] = l[i].n;
		ename[ne] = cfgname, edata[ne] = cfg, elen[ne++] = strlen(cfg);
		ename[ne] = "manifest.json", edata[ne] = man, elen[ne++] = strlen(man);
	}
	for (size_t i = 0; i < ne; i++) {
		struct archive_entry *x = archive_entry_new();
		archive_entry_set_pathname(x, ename[i]);
		archive_entry_set_filetype(x, AE_IFREG);
		archive_entry_set_perm(x, 0644);
		archive_entry_set_size(x, (la_int64_t)elen[i]);
		archive_write_header(a, x);
		archive_write_data(a, edata[i], elen[i]);
		archive_entry_free(x);
	}
	archive_write_close(a);
	archive_write_free(a);
	*outlen = m.n;
	return m.p;
}

static char data_dir[PATH_MAX];

static const char *data_path(const char *rel)
{
	static char p[PATH_MAX * 2];
	if (!data_dir[0]) {
		char self[PATH_MAX] = "", guess[PATH_MAX * 2];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n > 0) {
			self[n] = '\0';
			char *s = strrchr(self, '/');
			if (s)
				*s = '\0';
		}
		if (access("tests/data/pkgdb/PROVENANCE.md", R_OK) == 0)
			snprintf(guess, sizeof(guess), "tests/data/pkgdb");
		else
			snprintf(guess, sizeof(guess), "%s/../../../tests/data/pkgdb", self);
		if (!realpath(guess, data_dir))
			snprintf(data_dir, sizeof(data_dir), "%.*s", PATH_MAX - 1, guess);
	}
	snprintf(p, sizeof(p), "%s/%s", data_dir, rel);
	return p;
}

static char *slurp(const char *rel, size_t *len)
{
	char *buf = NULL;
	if (util_read_file(data_path(rel), 64u << 20, &buf, len) != 0) {
		fprintf(stderr, "  cannot read %s\n", data_path(rel));
		return NULL;
	}
	return buf;
}

static int scan_layers(const struct layer *l, size_t nl, int order, const struct image_opts *o,
		       struct image_scan_result **r, char *err, size_t errlen)
{
	size_t n;
	unsigned char *a = mk_docker(l, nl, "", order, 0, NULL, &n);
	int rc = image_read_buffer(a, n, "test.tar", o, r, err, errlen);
	free(a);
	return rc;
}

static const struct image_file *file_of(const struct image_scan_result *r, const char *path)
{
	for (size_t i = 0; r && i < r->n_files; i++)
		if (strcmp(r->files[i].path, path) == 0)
			return &r->files[i];
	return NULL;
}

static const char *secret_of(const struct image_scan_result *r, const char *path)
{
	for (size_t i = 0; r && i < r->n_secrets; i++)
		if (strcmp(r->secrets[i].path, path) == 0)
			return r->secrets[i].reason;
	return NULL;
}

static int has_warning(const struct image_scan_result *r, const char *needle)
{
	for (size_t i = 0; r && i < r->n_warnings; i++)
		if (strstr(r->warnings[i], needle))
			return 1;
	return 0;
}

static const char dpkg_a[] = "Package: a\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\n\n"
			     "Package: b\nStatus: install ok installed\nVersion: 2:3.4-1\nArchitecture: all\n";
static const char dpkg_c[] = "Package: c\nStatus: install ok installed\nVersion: 9\nArchitecture: amd64\n";
static const char osrel[] = "ID=debian\nVERSION_ID=\"12\"\n";
static const char pem_key[] = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
			      "-----END OPENSSH PRIVATE KEY-----\n";
static const char pem_cert[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/* ---- tests ---------------------------------------------------------------------------------- */

T_TEST(test_single_layer_dpkg_and_links)
{
	const struct ent e[] = {
		{ "./", 'd', NULL, 0 },
		{ "./etc/", 'd', NULL, 0 },
		{ "./etc/os-release", 'l', "../usr/lib/os-release", 0 },
		{ "./usr/lib/os-release", 'f', osrel, 0 },
		{ "./var/lib/dpkg/status", 'f', dpkg_a, 0 },
		{ "./var/lib/dpkg/status-old", 'f', dpkg_c, 0 },
	};
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512];

	l.p = mk_tar(e, sizeof(e) / sizeof(e[0]), F_NONE, &l.n);
	T_CHECK_INT(scan_layers(&l, 1, 0, NULL, &r, err, sizeof(err)), 0);
	T_CHECK(r != NULL);
	if (r) {
		T_CHECK_STR(r->format, "docker-archive");
		T_CHECK_INT(r->n_layers, 1);
		T_CHECK_STR(r->layers[0].compression, "none");
		T_CHECK_INT(r->layers[0].size, l.n);
		T_CHECK_INT(r->pkgs.n, 2);
		T_CHECK_STR(r->pkgs.n > 1 ? r->pkgs.v[1].version : NULL, "2:3.4-1");
		T_CHECK_STR(r->pkgs.os_id, "debian");
		T_CHECK_STR(r->pkgs.os_version_id, "12");
		const struct image_file *f = file_of(r, "etc/os-release");
		T_CHECK(f != NULL);
		T_CHECK_STR(f ? f->resolved : NULL, "usr/lib/os-release");
		T_CHECK(file_of(r, "var/lib/dpkg/status-old") == NULL);
		T_CHECK_INT(r->n_secrets, 0);
		T_CHECK_INT(r->n_repo_tags, 1);
		T_CHECK_STR(r->cfg.os, "linux");
		T_CHECK_INT(r->cfg.n_history, 2);
		T_CHECK_INT(r->cfg.n_history_empty, 1);
		T_CHECK(r->pkg_error == NULL);
	}
	image_scan_result_free(r);
	free(l.p);
}

T_TEST(test_whiteouts_and_order)
{
	const struct ent e0[] = {
		{ "var/lib/dpkg/status", 'f', dpkg_a, 0 },
		{ "etc/ssl/private/site.key", 'f', pem_key, 0 },
		{ "root/.ssh/id_ed25519", 'f', pem_key, 0 },
		{ "root/.ssh/known", 'f', pem_key, 0 },
		{ "home/u/.aws/credentials", 'f', "[default]\n", 0 },
		{ "opt/app/notes.txt", 'f', pem_key, 0 },
		{ "etc/ssl/certs/ca.pem", 'f', pem_cert, 0 },
	};
	const struct ent e1[] = {
		{ "var/lib/dpkg/status", 'f', dpkg_c, 0 },
		{ "etc/ssl/private/.wh.site.key", 'f', "", 0 },
		{ "root/.ssh/.wh..wh..opq", 'f', "", 0 },
		{ "root/.ssh/config", 'f', "Host *\n", 0 },
	};
	struct layer l[2];
	l[0].p = mk_tar(e0, sizeof(e0) / sizeof(e0[0]), F_NONE, &l[0].n);
	l[1].p = mk_tar(e1, sizeof(e1) / sizeof(e1[0]), F_GZIP, &l[1].n);

	for (int order = 0; order < 2; order++) {
		struct image_scan_result *r = NULL;
		char err[512] = "";
		int rc = scan_layers(l, 2, order, NULL, &r, err, sizeof(err));
		T_CHECK_INT(rc, 0);
		if (rc) {
			fprintf(stderr, "  %s\n", err);
			continue;
		}
		T_CHECK_INT(r->pkgs.n, 1);
		T_CHECK_STR(r->pkgs.n ? r->pkgs.v[0].name : NULL, "c");
		const struct image_file *f = file_of(r, "var/lib/dpkg/status");
		T_CHECK_INT(f ? f->layer : 99, 1);
		T_CHECK_STR(r->layers[1].compression, "gzip");
		T_CHECK(secret_of(r, "etc/ssl/private/site.key") == NULL);
		T_CHECK(secret_of(r, "root/.ssh/id_ed25519") == NULL);
		T_CHECK(secret_of(r, "root/.ssh/known") == NULL);
		T_CHECK_STR(secret_of(r, "home/u/.aws/credentials"), "path:.aws/credentials");
		T_CHECK_STR(secret_of(r, "opt/app/notes.txt"), "content:PEM private key");
		T_CHECK(secret_of(r, "etc/ssl/certs/ca.pem") == NULL);
		T_CHECK_INT(r->n_secrets, 2);
		/* never the content */
		json_t *j = image_scan_result_json(r, 1);
		char *s = json_dumps(j, 0);
		T_CHECK(s && !strstr(s, "b3BlbnNzaC1rZXkt") && !strstr(s, "[default]"));
		free(s);
		json_decref(j);
		image_scan_result_free(r);
	}
	free(l[0].p);
	free(l[1].p);
}

T_TEST(test_opaque_dir_and_file_over_dir)
{
	const struct ent e0[] = {
		{ "var/lib/dpkg/status.d/base", 'f', dpkg_a, 0 },
		{ "var/lib/dpkg/status.d/base.md5sums", 'f', "x\n", 0 },
		{ "lib/apk/db/installed", 'f', "P:x\nV:1\n\n", 0 },
		{ "etc/secret/id_rsa", 'f', pem_key, 0 },
	};
	const struct ent e1[] = {
		{ "var/lib/dpkg/status.d/.wh..wh..opq", 'f', "", 0 },
		{ "var/lib/dpkg/status.d/other", 'f', dpkg_c, 0 },
		{ "lib/apk", 'f', "not a dir any more", 0 },
		{ "etc/secret", 'l', "/dev/null", 0 },
	};
	struct layer l[2];
	struct image_scan_result *r = NULL;
	char err[512] = "";
	l[0].p = mk_tar(e0, 4, F_NONE, &l[0].n);
	l[1].p = mk_tar(e1, 4, F_NONE, &l[1].n);
	T_CHECK_INT(scan_layers(l, 2, 0, NULL, &r, err, sizeof(err)), 0);
	if (r) {
		T_CHECK(file_of(r, "var/lib/dpkg/status.d/base") == NULL);
		T_CHECK(file_of(r, "var/lib/dpkg/status.d/other") != NULL);
		T_CHECK(file_of(r, "lib/apk/db/installed") == NULL);
		T_CHECK_INT(r->pkgs.n, 1);
		T_CHECK_STR(r->pkgs.n ? r->pkgs.v[0].name : NULL, "c");
		T_CHECK(secret_of(r, "etc/secret/id_rsa") == NULL);
	}
	image_scan_result_free(r);
	/* the same layers the other way up: everything of layer "0" is visible again */
	struct layer rev[2] = { l[1], l[0] };
	r = NULL;
	T_CHECK_INT(scan_layers(rev, 2, 0, NULL, &r, err, sizeof(err)), 0);
	if (r) {
		T_CHECK(file_of(r, "var/lib/dpkg/status.d/base") != NULL);
		T_CHECK(file_of(r, "lib/apk/db/installed") != NULL);
		T_CHECK_STR(secret_of(r, "etc/secret/id_rsa"), "content:PEM private key");
		/* dpkg and apk both: the list has both kinds of packages */
		T_CHECK_INT(r->pkgs.n, 4);
	}
	image_scan_result_free(r);
	free(l[0].p);
	free(l[1].p);
}

T_TEST(test_links_loops_and_clamping)
{
	const struct ent e[] = {
		{ "etc/os-release", 'l', "../../../../../usr/lib/os-release", 0 },
		{ "usr/lib/os-release", 'l', "/etc/os-release", 0 },
		{ "var/lib/dpkg/status", 'l', "/host/var/lib/dpkg/status", 0 },
	};
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512] = "";
	l.p = mk_tar(e, 3, F_NONE, &l.n);
	T_CHECK_INT(scan_layers(&l, 1, 0, NULL, &r, err, sizeof(err)), 0);
	if (r) {
		T_CHECK_INT(r->n_files, 0);
		T_CHECK(has_warning(r, "etc/os-release (layer 0): too many link hops"));
		T_CHECK(has_warning(r, "var/lib/dpkg/status (layer 0): a link to a file outside the kept set"));
		T_CHECK(r->pkgs.os_id == NULL);
		T_CHECK_INT(r->pkgs.n, 0);
	}
	image_scan_result_free(r);
	free(l.p);

	/* '..' past the root stays at the root; a link in an ancestor directory is followed */
	const struct ent e2[] = {
		{ "etc/os-release", 'l', "../../../../../usr/lib/os-release", 0 },
		{ "usr/lib/os-release", 'f', osrel, 0 },
		{ "var/lib", 'l', "../usr/lib", 0 },
		{ "usr/lib/dpkg/status", 'f', dpkg_a, 0 },
	};
	const char *keep[] = { "etc/os-release", "usr/lib/os-release", "var/lib/dpkg/status",
			       "usr/lib/dpkg/status", NULL };
	struct image_opts o = { .keep = keep };
	l.p = mk_tar(e2, 4, F_NONE, &l.n);
	r = NULL;
	T_CHECK_INT(scan_layers(&l, 1, 0, &o, &r, err, sizeof(err)), 0);
	if (r) {
		const struct image_file *f = file_of(r, "etc/os-release");
		T_CHECK_STR(f ? f->resolved : NULL, "usr/lib/os-release");
		T_CHECK_STR(r->pkgs.os_id, "debian");
		/* var/lib/dpkg/status is reached through the link var/lib -> ../usr/lib */
		f = file_of(r, "var/lib/dpkg/status");
		T_CHECK_STR(f ? f->resolved : NULL, "usr/lib/dpkg/status");
		T_CHECK_INT(r->pkgs.n, 2);
	}
	image_scan_result_free(r);
	free(l.p);

	/* a kept symlink whose target goes through a linked ancestor directory */
	const struct ent e3[] = {
		{ "usr/lib", 'l', "lib64", 0 },
		{ "usr/lib64/os-release", 'f', osrel, 0 },
		{ "etc/os-release", 'l', "/usr/lib/os-release", 0 },
	};
	const char *keep3[] = { "etc/os-release", "usr/lib/os-release", "usr/lib64/os-release", NULL };
	struct image_opts o3 = { .keep = keep3 };
	l.p = mk_tar(e3, 3, F_NONE, &l.n);
	r = NULL;
	T_CHECK_INT(scan_layers(&l, 1, 0, &o3, &r, err, sizeof(err)), 0);
	if (r) {
		const struct image_file *f = file_of(r, "etc/os-release");
		T_CHECK_STR(f ? f->resolved : NULL, "usr/lib64/os-release");
		T_CHECK_STR(r->pkgs.os_id, "debian");
	}
	image_scan_result_free(r);
	free(l.p);
}

static void expect_fail(const struct ent *e, size_t n, int want, const char *needle)
{
	struct layer l;
	struct image_scan_result *r = (void *)1;
	char err[512] = "";
	l.p = mk_tar(e, n, F_NONE, &l.n);
	int rc = scan_layers(&l, 1, 0, NULL, &r, err, sizeof(err));
	T_CHECK_INT(rc, want);
	T_CHECK(r == NULL);
	if (!strstr(err, needle)) {
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, needle);
		t_failed_checks++;
	}
	free(l.p);
}

T_TEST(test_bad_entries)
{
	const struct ent dotdot[] = { { "a/../../etc/passwd", 'f', "x", 0 } };
	const struct ent abs[] = { { "/etc/passwd", 'f', "x", 0 } };
	const struct ent dup[] = { { "etc/os-release", 'f', osrel, 0 }, { "./etc/os-release", 'f', osrel, 0 } };
	const struct ent badwh[] = { { "etc/.wh..", 'f', "", 0 } };
	const struct ent badhl[] = { { "etc/os-release", 'h', "../x", 0 } };
	expect_fail(dotdot, 1, -EINVAL, "layer.tar: entry 'a/../../etc/passwd': absolute path, '..'");
	expect_fail(abs, 1, -EINVAL, "entry '/etc/passwd'");
	expect_fail(dup, 2, -EINVAL, "entry 'etc/os-release' occurs twice");
	expect_fail(badwh, 1, -EINVAL, "bad whiteout");
	expect_fail(badhl, 1, -EINVAL, "bad hard link target");
}

T_TEST(test_bad_archives)
{
	const struct ent e[] = { { "var/lib/dpkg/status", 'f', dpkg_a, 0 }, { "x", 'z', NULL, 100000 } };
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512] = "";
	size_t n;
	l.p = mk_tar(e, 2, F_NONE, &l.n);

	/* truncated: every cut point fails cleanly */
	unsigned char *a = mk_docker(&l, 1, "", 0, 0, NULL, &n);
	size_t cuts[] = { 0, 10, 511, 512, 1000, n / 3, n / 2, n - 2048, n - 1100 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		err[0] = '\0';
		int rc = image_read_buffer(a, cuts[i], "cut.tar", NULL, &r, err, sizeof(err));
		T_CHECK(rc == -EINVAL);
		T_CHECK(r == NULL);
		T_CHECK(strncmp(err, "cut.tar", 7) == 0);
	}
	/* a byte flipped inside the layer: the diff_id check catches it */
	unsigned char *c = malloc(n);
	memcpy(c, a, n);
	c[1536 + 600] ^= 0x20;
	T_CHECK_INT(image_read_buffer(c, n, "flip.tar", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "is not diff_id") != NULL || strstr(err, "not a valid tar") != NULL);
	free(c);
	free(a);

	/* manifest naming a missing layer */
	a = mk_docker(&l, 1, "", 0, 0, "nope/layer.tar", &n);
	T_CHECK_INT(image_read_buffer(a, n, "m.tar", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "layer 'nope/layer.tar', which is not in the image") != NULL);
	free(a);

	/* diff_id mismatch */
	a = mk_docker(&l, 1, "", 0, 1, NULL, &n);
	T_CHECK_INT(image_read_buffer(a, n, "d.tar", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "is not diff_id") != NULL);
	free(a);

	/* not an archive at all, and an archive without a manifest */
	T_CHECK_INT(image_read_buffer("hello", 5, "h", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(image_read_buffer(l.p, l.n, "layer-only", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "neither manifest.json") != NULL);

	/* a config field of the wrong type */
	a = mk_docker(&l, 1, "\"Env\":\"A=1\"", 0, 0, NULL, &n);
	T_CHECK_INT(image_read_buffer(a, n, "c.tar", NULL, &r, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "Env has the wrong type") != NULL);
	free(a);
	free(l.p);
}

T_TEST(test_bombs_and_bounds)
{
	/* 40 MB of zeros compress about 1000:1 */
	const struct ent e[] = { { "var/lib/dpkg/status", 'f', dpkg_a, 0 }, { "zero", 'z', NULL, 40u << 20 } };
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512] = "";
	l.p = mk_tar(e, 2, F_GZIP, &l.n);
	T_CHECK(l.n < (1u << 20));

	struct image_opts o = { .limits = { .ratio_after = 4u << 20, .ratio_max = 100 } };
	T_CHECK_INT(scan_layers(&l, 1, 0, &o, &r, err, sizeof(err)), -EFBIG);
	T_CHECK(strstr(err, "compression ratio over 100:1") != NULL);

	struct image_opts o2 = { .limits = { .layer_tar_max = 8u << 20 } };
	T_CHECK_INT(scan_layers(&l, 1, 0, &o2, &r, err, sizeof(err)), -EFBIG);
	T_CHECK(strstr(err, "more than 8388608 bytes once decompressed") != NULL);

	/* the defaults accept it (ratio about 1000:1 is over 200 but we raise the bound here) */
	struct image_opts o3 = { .limits = { .ratio_max = 5000 } };
	T_CHECK_INT(scan_layers(&l, 1, 0, &o3, &r, err, sizeof(err)), 0);
	T_CHECK_INT(r ? r->layers[0].tar_bytes > (40u << 20) : 0, 1);
	image_scan_result_free(r);
	r = NULL;

	struct image_opts o4 = { .limits = { .entries_max = 1 } };
	T_CHECK_INT(scan_layers(&l, 1, 0, &o4, &r, err, sizeof(err)), -E2BIG);
	free(l.p);

	/* a kept file over the kept-file bound is a warning, not a failure */
	const struct ent big[] = { { "var/lib/dpkg/status", 'z', NULL, 5000 } };
	l.p = mk_tar(big, 1, F_NONE, &l.n);
	struct image_opts o5 = { .limits = { .kept_file_max = 4096 } };
	T_CHECK_INT(scan_layers(&l, 1, 0, &o5, &r, err, sizeof(err)), 0);
	T_CHECK(has_warning(r, "over the kept-file limit"));
	T_CHECK_INT(r ? r->n_files : 99, 0);
	image_scan_result_free(r);
	free(l.p);
}

T_TEST(test_pkg_error_is_reported)
{
	const struct ent e[] = { { "var/lib/dpkg/status", 'f', "Package: a\nVersion 1\n", 0 } };
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512] = "";
	l.p = mk_tar(e, 1, F_NONE, &l.n);
	T_CHECK_INT(scan_layers(&l, 1, 0, NULL, &r, err, sizeof(err)), 0);
	T_CHECK(r && r->pkg_error && strstr(r->pkg_error, "var/lib/dpkg/status"));
	T_CHECK_INT(r ? r->pkgs.n : 99, 0);
	image_scan_result_free(r);
	free(l.p);
}

T_TEST(test_real_databases)
{
	size_t nd, na, nr;
	char *dpkg = slurp("debian-bookworm-minbase/var/lib/dpkg/status", &nd);
	char *apk = slurp("alpine-3.14.0-minirootfs/lib/apk/db/installed", &na);
	char *rpm = slurp("cbl-mariner-2.0-rpm/var/lib/rpm/rpmdb.sqlite", &nr);
	T_CHECK(dpkg && apk && rpm);
	if (!dpkg || !apk || !rpm)
		goto out;
	/* mk_tar takes NUL-terminated text; the rpm database is written by hand below */
	const struct ent e[] = { { "var/lib/dpkg/status", 'f', dpkg, 0 } };
	struct layer l[2];
	l[0].p = mk_tar(e, 1, F_ZSTD, &l[0].n);
	{
		struct archive *a = archive_write_new();
		struct mbuf m = { 0 };
		archive_write_set_format_pax_restricted(a);
		archive_write_add_filter_gzip(a);
		archive_write_open(a, &m, NULL, mb_write, NULL);
		struct archive_entry *x = archive_entry_new();
		archive_entry_set_pathname(x, "var/lib/rpm/rpmdb.sqlite");
		archive_entry_set_filetype(x, AE_IFREG);
		archive_entry_set_perm(x, 0644);
		archive_entry_set_size(x, (la_int64_t)nr);
		archive_write_header(a, x);
		archive_write_data(a, rpm, nr);
		archive_entry_free(x);
		archive_write_close(a);
		archive_write_free(a);
		l[1].p = m.p;
		l[1].n = m.n;
	}
	struct image_scan_result *r = NULL;
	char err[512] = "";
	T_CHECK_INT(scan_layers(l, 2, 0, NULL, &r, err, sizeof(err)), 0);
	if (r) {
		T_CHECK_STR(r->layers[0].compression, "zstd");
		/* 114 dpkg packages (dpkg-query-expected.tsv) then 129 rpm ones (rpm-qa-expected.tsv) */
		T_CHECK_INT(r->pkgs.n, 114 + 129);
		T_CHECK(r->pkg_error == NULL);
		if (r->pkg_error)
			fprintf(stderr, "  %s\n", r->pkg_error);
	}
	image_scan_result_free(r);
	free(l[0].p);
	free(l[1].p);

	const struct ent ea[] = { { "lib/apk/db/installed", 'f', apk, 0 } };
	l[0].p = mk_tar(ea, 1, F_GZIP, &l[0].n);
	r = NULL;
	T_CHECK_INT(scan_layers(l, 1, 0, NULL, &r, err, sizeof(err)), 0);
	T_CHECK_INT(r ? r->pkgs.n : 0, 14);
	T_CHECK_INT(r ? r->pkgs.kind : 0, PKGDB_APK);
	image_scan_result_free(r);
	free(l[0].p);
out:
	free(dpkg);
	free(apk);
	free(rpm);
}

static int write_all(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, p, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

T_TEST(test_oci_layout)
{
	char dir[] = "/tmp/test_image.XXXXXX", p[PATH_MAX], hex[65], lhex[65], chex[65], mhex[65];
	const struct ent e[] = {
		{ "etc/os-release", 'f', osrel, 0 },
		{ "var/lib/dpkg/status", 'f', dpkg_a, 0 },
	};
	struct layer l;
	char cfg[1024], man[2048], idx[1024];

	T_CHECK(mkdtemp(dir) != NULL);
	l.p = mk_tar(e, 2, F_GZIP, &l.n);
	size_t tn;
	unsigned char *tar = mk_tar(e, 2, F_NONE, &tn);
	sha_hex(tar, tn, hex);
	free(tar);
	sha_hex(l.p, l.n, lhex);
	snprintf(cfg, sizeof(cfg),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"1000\","
		 "\"ExposedPorts\":{\"80/tcp\":{}},\"Labels\":{\"a\":\"b\"}},"
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]}}", hex);
	sha_hex(cfg, strlen(cfg), chex);
	snprintf(man, sizeof(man),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:%s\",\"size\":%zu},"
		 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
		 chex, strlen(cfg), lhex, l.n);
	sha_hex(man, strlen(man), mhex);
	snprintf(idx, sizeof(idx),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"sha256:%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
		 mhex, strlen(man));
	snprintf(p, sizeof(p), "%s/blobs/sha256", dir);
	T_CHECK(util_mkdirs(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, chex);
	T_CHECK(write_all(p, cfg, strlen(cfg)) == 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, mhex);
	T_CHECK(write_all(p, man, strlen(man)) == 0);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, lhex);
	T_CHECK(write_all(p, l.p, l.n) == 0);
	snprintf(p, sizeof(p), "%s/index.json", dir);
	T_CHECK(write_all(p, idx, strlen(idx)) == 0);
	snprintf(p, sizeof(p), "%s/oci-layout", dir);
	T_CHECK(write_all(p, "{\"imageLayoutVersion\":\"1.0.0\"}", 30) == 0);

	struct image_scan_result *r = NULL;
	char err[512] = "";
	int rc = image_open_oci_layout(dir, NULL, &r, err, sizeof(err));
	T_CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	if (r) {
		T_CHECK_STR(r->format, "oci");
		T_CHECK_INT(r->pkgs.n, 2);
		T_CHECK_STR(r->cfg.user, "1000");
		T_CHECK(r->cfg.exposed_ports && json_object_get(r->cfg.exposed_ports, "80/tcp"));
		T_CHECK_STR(json_string_value(json_object_get(r->cfg.labels, "a")), "b");
		T_CHECK_STR(r->n_repo_tags ? r->repo_tags[0] : NULL, "v1");
		T_CHECK_STR(r->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	}
	image_scan_result_free(r);
	r = NULL;
	/* a docker-archive reader refuses it; a layer blob that does not match its digest fails */
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", dir, lhex);
	l.p[l.n - 1] ^= 1;
	T_CHECK(write_all(p, l.p, l.n) == 0);
	rc = image_open_oci_layout(dir, NULL, &r, err, sizeof(err));
	T_CHECK(rc == -EINVAL);
	T_CHECK(strstr(err, lhex) != NULL);
	/* a layer blob that is a link is not followed */
	unlink(p);
	T_CHECK(symlink("/etc/passwd", p) == 0);
	rc = image_open_oci_layout(dir, NULL, &r, err, sizeof(err));
	T_CHECK(rc < 0);
	T_CHECK(r == NULL);
	unlink(p);
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	T_CHECK(system(p) == 0);
	free(l.p);
	T_CHECK_INT(image_open_oci_layout("/nonexistent-dir", NULL, &r, err, sizeof(err)), -ENOENT);
}

T_TEST(test_docker_archive_link_and_fd)
{
	/* docker save writes a layer already written as a symlink to the first copy */
	const struct ent e[] = { { "var/lib/dpkg/status", 'f', dpkg_a, 0 } };
	struct layer l;
	l.p = mk_tar(e, 1, F_NONE, &l.n);
	char hex[65], cfg[1024], man[1024], cn[80];
	sha_hex(l.p, l.n, hex);
	snprintf(cfg, sizeof(cfg), "{\"os\":\"linux\",\"rootfs\":{\"diff_ids\":[\"sha256:%s\",\"sha256:%s\"]}}", hex, hex);
	sha_hex(cfg, strlen(cfg), hex);
	snprintf(cn, sizeof(cn), "%s.json", hex);
	snprintf(man, sizeof(man), "[{\"Config\":\"%s\",\"Layers\":[\"a/layer.tar\",\"b/layer.tar\"]}]", cn);
	struct archive *a = archive_write_new();
	struct mbuf m = { 0 };
	archive_write_set_format_pax_restricted(a);
	archive_write_open(a, &m, NULL, mb_write, NULL);
	const char *names[] = { "a/layer.tar", "b/layer.tar", cn, "manifest.json" };
	const void *datas[] = { l.p, NULL, cfg, man };
	size_t lens[] = { l.n, 0, strlen(cfg), strlen(man) };
	for (int i = 0; i < 4; i++) {
		struct archive_entry *x = archive_entry_new();
		archive_entry_set_pathname(x, names[i]);
		archive_entry_set_perm(x, 0644);
		if (i == 1) {
			archive_entry_set_filetype(x, AE_IFLNK);
			archive_entry_set_symlink(x, "../a/layer.tar");
		} else {
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_size(x, (la_int64_t)lens[i]);
		}
		archive_write_header(a, x);
		if (datas[i])
			archive_write_data(a, datas[i], lens[i]);
		archive_entry_free(x);
	}
	archive_write_close(a);
	archive_write_free(a);

	/* through a pipe, as from the engine */
	int pfd[2];
	T_CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		size_t off = 0;
		while (off < m.n) {
			ssize_t w = write(pfd[1], m.p + off, m.n - off > 3000 ? 3000 : m.n - off);
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
		_exit(0);
	}
	close(pfd[1]);
	struct image_scan_result *r = NULL;
	char err[512] = "";
	int rc = image_read_fd(pfd[0], "pipe", NULL, &r, err, sizeof(err));
	close(pfd[0]);
	int st = 0;
	T_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	T_CHECK_INT(rc, 0);
	if (rc)
		fprintf(stderr, "  %s\n", err);
	T_CHECK_INT(r ? r->n_layers : 0, 2);
	T_CHECK_INT(r ? r->pkgs.n : 0, 2);
	T_CHECK_INT(r ? r->files[0].layer : 0, 1);
	image_scan_result_free(r);
	free(m.p);
	free(l.p);
}

T_TEST(test_layer_that_looks_like_json_and_engine_errors)
{
	/* a layer whose first entry name starts with '{' is kept as a JSON candidate and scanned
	 * from memory once the manifest names it as a layer */
	const struct ent e[] = { { "{x", 'f', "y", 0 }, { "etc/os-release", 'f', osrel, 0 } };
	struct layer l;
	struct image_scan_result *r = NULL;
	char err[512] = "";
	l.p = mk_tar(e, 2, F_NONE, &l.n);
	T_CHECK_INT(scan_layers(&l, 1, 0, NULL, &r, err, sizeof(err)), 0);
	T_CHECK_STR(r ? r->pkgs.os_id : NULL, "debian");
	T_CHECK_INT(r ? r->layers[0].size : 0, l.n);
	image_scan_result_free(r);
	free(l.p);

	r = (void *)1;
	T_CHECK_INT(image_from_engine("/nonexistent/docker.sock", "test/x:1", NULL, &r, err, sizeof(err)),
		    -ECONNREFUSED);
	T_CHECK(r == NULL);
	T_CHECK(strstr(err, "engine image test/x:1") != NULL);
	T_CHECK_INT(image_from_engine("/nonexistent/docker.sock", "bad name", NULL, &r, err, sizeof(err)),
		    -EINVAL);
	T_CHECK_INT(image_from_engine("/nonexistent/docker.sock", "../../containers/json", NULL, &r, err,
				      sizeof(err)), -EINVAL);
}

T_MAIN(T_CASE(test_single_layer_dpkg_and_links), T_CASE(test_whiteouts_and_order),
       T_CASE(test_opaque_dir_and_file_over_dir), T_CASE(test_links_loops_and_clamping),
       T_CASE(test_bad_entries), T_CASE(test_bad_archives), T_CASE(test_bombs_and_bounds),
       T_CASE(test_pkg_error_is_reported), T_CASE(test_real_databases), T_CASE(test_oci_layout),
       T_CASE(test_docker_archive_link_and_fd), T_CASE(test_layer_that_looks_like_json_and_engine_errors))
