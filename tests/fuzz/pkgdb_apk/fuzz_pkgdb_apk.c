/*
 * fuzz_pkgdb_apk: pkgdb_read_apk() on arbitrary bytes, exactly as read from lib/apk/db/installed
 * (libFuzzer's buffer, not NUL-terminated). Contract checked besides "no crash, no leak": the
 * result is 0, -EINVAL, -E2BIG or -ENOMEM; a failure leaves the list as it was (one seed package)
 * with a reason naming the origin and a line; every accepted package has non-empty, bounded
 * values without blanks or control bytes (arch may be absent), its source version is its
 * version, and the same text with CRLF line ends gives the same list.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/log.h>
#include <garrison/pkgdb.h>

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

static const char seed[] = "P:seed\nV:1-r0\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_pkgdb_apk", LOG_LVL_ERROR);
	return 0;
}

static void check_value(const char *s, size_t max)
{
	BROKEN_IF(s == NULL);
	size_t n = strlen(s);
	BROKEN_IF(n == 0 || n > max);
	for (size_t i = 0; i < n; i++)
		BROKEN_IF((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/');
}

static int run(const char *text, size_t size, struct pkglist *l)
{
	char err[256] = "";
	int r;

	BROKEN_IF(pkgdb_read_apk(seed, sizeof(seed) - 1, "seed", l, NULL, 0) != 0);
	r = pkgdb_read_apk(text, size, "fuzz", l, err, sizeof(err));
	BROKEN_IF(r != 0 && r != -EINVAL && r != -E2BIG && r != -ENOMEM);
	BROKEN_IF(l->n < 1 || strcmp(l->v[0].name, "seed") != 0);
	if (r < 0) {
		BROKEN_IF(l->n != 1);
		BROKEN_IF(r == -EINVAL && strncmp(err, "fuzz:", 5) != 0);
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct pkg *p = &l->v[i];
		check_value(p->name, PKGDB_NAME_MAX);
		check_value(p->version, PKGDB_VERSION_MAX);
		check_value(p->source, PKGDB_NAME_MAX);
		BROKEN_IF(strcmp(p->source_version, p->version) != 0);
		if (p->arch)
			check_value(p->arch, PKGDB_ARCH_MAX);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkglist a = { 0 }, b = { 0 };
	int ra = run((const char *)data, size, &a);

	/* CRLF copy: only when the text has no CR of its own (a CR inside a line is refused) */
	if (size <= (1u << 16) && !memchr(data, '\r', size)) {
		char *crlf = malloc(2 * size + 1);
		size_t m = 0;
		if (!crlf)
			return 0;
		for (size_t i = 0; i < size; i++) {
			if (data[i] == '\n')
				crlf[m++] = '\r';
			crlf[m++] = (char)data[i];
		}
		int rb = run(crlf, m, &b);
		BROKEN_IF((ra == 0) != (rb == 0));
		if (ra == 0 && rb == 0) {
			BROKEN_IF(a.n != b.n);
			for (size_t i = 0; i < a.n && i < b.n; i++) {
				BROKEN_IF(strcmp(a.v[i].name, b.v[i].name) != 0);
				BROKEN_IF(strcmp(a.v[i].version, b.v[i].version) != 0);
			}
		}
		free(crlf);
	}
	pkglist_clear(&a);
	pkglist_clear(&b);
	return 0;
}
