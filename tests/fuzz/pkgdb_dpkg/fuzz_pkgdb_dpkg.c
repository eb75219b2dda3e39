/*
 * fuzz_pkgdb_dpkg: pkgdb_read_dpkg() on arbitrary bytes, exactly as read from a dpkg status file
 * (libFuzzer's buffer, not NUL-terminated), then the same text as a distroless status.d/ file and
 * as os-release. Contract checked besides "no crash, no leak": the result is 0, -EINVAL, -E2BIG
 * or -ENOMEM; a failure leaves the list as it was (one seed package) with a reason naming the
 * origin and a line; every accepted package has non-empty, bounded values without blanks or
 * control bytes; a text accepted as a status file gives the same list as a status.d/ file (which
 * only adds stanzas without Status); os-release values are bounded identifiers.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/log.h>
#include <garrison/pkgdb.h>

#include "pkgdb_int.h"

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

static const char seed[] = "Package: seed\nStatus: install ok installed\nVersion: 1\nArchitecture: all\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_pkgdb_dpkg", LOG_LVL_ERROR);
	return 0;
}

/* An independent reading of "a kept value": non-empty, bounded, printable, no blank. */
static void check_value(const char *s, size_t max)
{
	BROKEN_IF(s == NULL);
	size_t n = strlen(s);
	BROKEN_IF(n == 0 || n > max);
	for (size_t i = 0; i < n; i++)
		BROKEN_IF((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/');
}

static void check_list(const struct pkglist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct pkg *p = &l->v[i];
		check_value(p->name, PKGDB_NAME_MAX);
		check_value(p->version, PKGDB_VERSION_MAX);
		check_value(p->source, PKGDB_NAME_MAX);
		check_value(p->source_version, PKGDB_VERSION_MAX);
		check_value(p->arch, PKGDB_ARCH_MAX);
	}
}

static int run(const uint8_t *data, size_t size, int status_d, struct pkglist *l)
{
	char err[256] = "";
	int r;

	BROKEN_IF(pkgdb_read_dpkg(seed, sizeof(seed) - 1, "seed", l, NULL, 0) != 0);
	if (status_d)
		r = pkgdb_dpkg_parse((const char *)data, size, "fuzz", 1, l, err, sizeof(err));
	else
		r = pkgdb_read_dpkg((const char *)data, size, "fuzz", l, err, sizeof(err));
	BROKEN_IF(r != 0 && r != -EINVAL && r != -E2BIG && r != -ENOMEM);
	BROKEN_IF(l->n < 1 || strcmp(l->v[0].name, "seed") != 0);
	if (r < 0) {
		BROKEN_IF(l->n != 1);
		BROKEN_IF(r == -EINVAL && strncmp(err, "fuzz:", 5) != 0);
	}
	check_list(l);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkglist a = { 0 }, b = { 0 }, os = { 0 };
	int ra = run(data, size, 0, &a), rb = run(data, size, 1, &b);

	if (ra == 0) {
		BROKEN_IF(rb != 0);
		BROKEN_IF(a.n != b.n);
		for (size_t i = 0; i < a.n && i < b.n; i++) {
			BROKEN_IF(strcmp(a.v[i].name, b.v[i].name) != 0);
			BROKEN_IF(strcmp(a.v[i].version, b.v[i].version) != 0);
			BROKEN_IF(strcmp(a.v[i].source, b.v[i].source) != 0);
			BROKEN_IF(strcmp(a.v[i].source_version, b.v[i].source_version) != 0);
		}
	}
	int r = pkgdb_os_release((const char *)data, size, &os);
	BROKEN_IF(r != 0 && r != -EINVAL && r != -ENOMEM);
	if (os.os_id)
		check_value(os.os_id, PKGDB_OS_MAX);
	if (os.os_version_id)
		check_value(os.os_version_id, PKGDB_OS_MAX);
	pkglist_clear(&a);
	pkglist_clear(&b);
	pkglist_clear(&os);
	return 0;
}
