/*
 * fuzz_version: version_compare() and version_valid() on arbitrary pairs, for each kind. Input:
 * byte 0 picks the kind (mod 3), the rest is "A\nB" (split at the first newline; A and B may hold
 * any bytes, a NUL among them ends the C string as it would for a caller). Besides "no crash",
 * the harness checks the contract: compare succeeds exactly when both sides are valid, results
 * are -1/0/1, cmp(a,a) == 0, cmp(a,b) == -cmp(b,a), a refusal leaves *result untouched and
 * version_valid() gives a reason. Reflexivity is checked against a separate copy of A, so a
 * comparison that looked at pointers instead of bytes would show.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/version.h>

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

/* A heap copy of exactly the bytes, so ASan sees any read past the terminating NUL. */
static char *dup_bytes(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4 * VERSION_MAX)
		return 0;
	enum version_kind k = (enum version_kind)(data[0] % 3);
	const uint8_t *rest = data + 1, *nl = memchr(rest, '\n', size - 1);
	size_t an = nl ? (size_t)(nl - rest) : size - 1;
	char *a = dup_bytes(rest, an);
	char *b = nl ? dup_bytes(nl + 1, size - 1 - an - 1) : dup_bytes(rest, an);
	char *a2 = dup_bytes((const uint8_t *)a, strlen(a));
	const char *why = NULL;
	int va = version_valid(k, a, &why);
	BROKEN_IF(va != 0 && va != -EINVAL);
	BROKEN_IF(va != 0 && why == NULL);
	int vb = version_valid(k, b, NULL);
	BROKEN_IF(vb != 0 && vb != -EINVAL);
	BROKEN_IF(va == 0 && (strlen(a) == 0 || strlen(a) > VERSION_MAX));

	int ab = 99, ba = 99, aa = 99;
	int rab = version_compare(k, a, b, &ab), rba = version_compare(k, b, a, &ba);
	int raa = version_compare(k, a, a2, &aa);
	BROKEN_IF(rab != ((va == 0 && vb == 0) ? 0 : -EINVAL));
	BROKEN_IF(rba != rab);
	BROKEN_IF(raa != va);
	if (rab == 0) {
		BROKEN_IF(ab < -1 || ab > 1);
		BROKEN_IF(ab != -ba); /* antisymmetry */
	} else {
		BROKEN_IF(ab != 99 || ba != 99); /* untouched on refusal */
	}
	if (raa == 0)
		BROKEN_IF(aa != 0); /* reflexivity */
	free(a);
	free(b);
	free(a2);
	return 0;
}
