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
#include <stdlib.h>
#include <string.h>

#include <garrison/cluster.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	char *value = (char *)"sentinel";
	int r;

	r = cluster_ecs_config_parse((const char *)data, size, &value, &why);
	switch (r) {
	case 0:
		if (value == NULL || cluster_name_check(value, strlen(value), NULL) != 0)
			abort();
		break;
	case -EINVAL:
		if (value != NULL || why == NULL)
			abort();
		break;
	case -ENOENT:
	case -ENOMEM:
		if (value != NULL)
			abort();
		break;
	default:
		abort();
	}
	free(value);
	return 0;
}
