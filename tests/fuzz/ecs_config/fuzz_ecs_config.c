/*
 * fuzz_ecs_config: cluster_ecs_config_parse() on arbitrary bytes, exactly as read from the host's
 * /etc/ecs/ecs.config (no NUL terminator: the harness passes libFuzzer's buffer, which ASan bounds
 * to the input's size, so reading one byte past the text is caught). Besides "no crash, no leak",
 * it checks the contract: 0 gives a malloc()ed value that passes cluster_name_check(), -ENOENT and
 * -EINVAL give no value (-EINVAL with a reason); nothing else but -ENOMEM may come back.
 */
#include <errno.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *value = (char *)"sentinel";
	int r;

	r = cluster_ecs_config_parse((const char *)data, size, &value, &why);
	switch (r) {
	case 0:
		BROKEN_IF(value == NULL || cluster_name_check(value, strlen(value), NULL) != 0);
		break;
	case -EINVAL:
		BROKEN_IF(value != NULL || why == NULL);
		break;
	case -ENOENT:
	case -ENOMEM:
		BROKEN_IF(value != NULL);
		break;
	default:
		BROKEN("a result the contract does not list");
	}
	free(value);
	return 0;
}
