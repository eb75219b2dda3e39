/*
 * common: what several commands share: connecting and logging in to the Console, and writing
 * the result to a file or standard output.
 */
#include "cli.h"

#include <garrison/log.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_connect(struct apiclient_opts *conn, const char *help_cmd, struct apiclient **out)
{
	struct apiclient *c = NULL;
	char err[256];
	int rc;

	*out = NULL;
	if (apiclient_opts_finish(conn, err, sizeof(err)) < 0)
		return cli_usage_error(help_cmd, "%s", err);
	rc = apiclient_new(conn, &c);
	if (rc < 0) {
		log_error("cannot create the API client: %s", strerror(-rc));
		return CLI_FAIL;
	}
	rc = apiclient_login(c);
	if (rc < 0) {
		log_error("%s", apiclient_errmsg(c));
		apiclient_free(c);
		return CLI_FAIL;
	}
	*out = c;
	return CLI_OK;
}

int cli_write_output(const char *path, const char *data, size_t len)
{
	int rc;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
			log_error("cannot write to standard output: %s", strerror(errno));
			return CLI_FAIL;
		}
		return CLI_OK;
	}
	rc = util_write_file(path, data, len, 0600);
	if (rc < 0) {
		log_error("cannot write %.200s: %s", path, strerror(-rc));
		return CLI_FAIL;
	}
	return CLI_OK;
}
