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

void cli_cell(const json_t *d, const char *key, char *buf, size_t buflen)
{
	const json_t *v = json_object_get(d, key);
	const char *s;
	size_t k = 0;

	if (json_is_boolean(v)) {
		snprintf(buf, buflen, "%s", json_is_true(v) ? "true" : "false");
		return;
	}
	if (json_is_integer(v)) {
		snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return;
	}
	if (json_is_real(v)) {
		snprintf(buf, buflen, "%.1f", json_real_value(v));
		return;
	}
	s = json_string_value(v);
	if (s == NULL || s[0] == '\0') {
		snprintf(buf, buflen, "-");
		return;
	}
	for (; *s && k + 1 < buflen && k < CLI_CELL_MAX; s++)
		buf[k++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	buf[k] = '\0';
}

void cli_print_table(FILE *f, const json_t *rows, int ncols, const char *const *head,
		     const char *const *keys)
{
	int width[CLI_COLS_MAX];
	char buf[CLI_CELL_MAX + 1];
	const json_t *d;
	size_t i;

	if (ncols > CLI_COLS_MAX)
		ncols = CLI_COLS_MAX;
	for (int k = 0; k < ncols; k++)
		width[k] = (int)strlen(head[k]);
	json_array_foreach(rows, i, d) {
		for (int k = 0; k < ncols; k++) {
			cli_cell(d, keys[k], buf, sizeof(buf));
			if ((int)strlen(buf) > width[k])
				width[k] = (int)strlen(buf);
		}
	}
	for (int k = 0; k < ncols; k++)
		fprintf(f, "%-*s%s", k < ncols - 1 ? width[k] : 0, head[k], k < ncols - 1 ? "  " : "\n");
	json_array_foreach(rows, i, d) {
		for (int k = 0; k < ncols; k++) {
			cli_cell(d, keys[k], buf, sizeof(buf));
			fprintf(f, "%-*s%s", k < ncols - 1 ? width[k] : 0, buf, k < ncols - 1 ? "  " : "\n");
		}
	}
}
