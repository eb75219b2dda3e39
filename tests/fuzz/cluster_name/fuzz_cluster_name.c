/*
 * fuzz_cluster_name: cluster_name_check() on arbitrary bytes (a NUL may be among them). Every
 * cluster name the Defender reports passes through it, whatever source it came from, so it is the
 * last line of defence for the Console's store and UI. Besides "no crash", the harness checks the
 * documented contract with an independent reading of it: an accepted name is 1..CLUSTER_NAME_MAX
 * bytes of letters, digits and - _ . : / @ + = , ~; a refused one gets a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/cluster.h>

/* A broken contract: say which check and where, then abort() so that libFuzzer keeps the input. */
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

static int allowed(unsigned char ch)
{
	static const char extra[] = "-_.:/@+=,~";

	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && memchr(extra, ch, sizeof(extra) - 1) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	int want = size >= 1 && size <= CLUSTER_NAME_MAX;
	int r;

	for (size_t i = 0; want && i < size; i++)
		want = allowed(data[i]);
	r = cluster_name_check((const char *)data, size, &why);
	BROKEN_IF(r == 0 && !want); /* accepted a name the contract forbids */
	/* refused a good name, or without a reason */
	BROKEN_IF(r != 0 && (want || r != -22 /* -EINVAL */ || why == NULL || why[0] == '\0'));
	/* why may be NULL */
	(void)cluster_name_check((const char *)data, size, NULL);
	return 0;
}
