/*
 * cli: the `garrison` command (the twistcli equivalent). main.c dispatches to one file per
 * command; they use only the public library headers. Exit status: CLI_OK, CLI_FAIL when the
 * command could not be done (the reason is printed), CLI_USAGE for a bad command line.
 */
#ifndef GARRISON_CLI_H
#define GARRISON_CLI_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include <garrison/apiclient.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Commands: argv[0] is the command's own name. They return an exit status. */
int cmd_defender(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_hosts(int argc, char **argv);
int cmd_feed(int argc, char **argv);

/* Prints "garrison: MESSAGE" and a pointer to the help of the command to stderr; returns
 * CLI_USAGE. */
int cli_usage_error(const char *help_cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checks the connection options (completing them from the environment), creates the client and
 * logs in. On failure prints why and returns CLI_USAGE or CLI_FAIL with *out NULL. */
int cli_connect(struct apiclient_opts *conn, const char *help_cmd, struct apiclient **out);

/* Writes data to path (mode 0600, atomically: the output may hold the install bundle) or to
 * standard output when path is NULL or "-". CLI_OK or CLI_FAIL (reason printed). */
int cli_write_output(const char *path, const char *data, size_t len);

#define CLI_CELL_MAX 64
#define CLI_COLS_MAX 16

/* One table cell from untrusted JSON member d[key]: printable (control bytes become '?'), at most
 * CLI_CELL_MAX bytes, numbers and booleans written out, "-" when absent or empty. */
void cli_cell(const json_t *d, const char *key, char *buf, size_t buflen);

/* Prints rows (an array of objects) as a table of ncols columns (at most CLI_COLS_MAX) with the
 * given headings and member names, columns padded to their widest cell. */
void cli_print_table(FILE *f, const json_t *rows, int ncols, const char *const *head,
		     const char *const *keys);

/* The connection options, for help texts. */
extern const char cli_conn_help[];

#endif
