/*
 * garrison: command-line client of the Console. Dispatches to the command files; every command
 * that talks to the Console shares the connection options of cli_connect().
 */
#include "cli.h"

#include <garrison/log.h>

#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#ifndef GARRISON_VERSION
#define GARRISON_VERSION "0.0.0"
#endif

const char cli_conn_help[] =
	"Connection options:\n"
	"  --address URL      Console API, https://HOST:8083 (required)\n"
	"  --user USER        user name; the password comes from GARRISON_PASSWORD\n"
	"  --password PASS    password (visible to other users in ps; prefer GARRISON_PASSWORD)\n"
	"  --token TOKEN      API token instead of --user (or GARRISON_TOKEN)\n"
	"  --cacert FILE      CA certificate of the Console, PEM (or GARRISON_CACERT);\n"
	"                     without it the system CAs are used. TLS is always verified.\n";

static const char main_help[] =
	"Usage: garrison COMMAND [OPTIONS]\n"
	"\n"
	"Commands:\n"
	"  defender export ecs        write the ECS task definition (or a CloudFormation template)\n"
	"  defender export daemonset  write the Kubernetes DaemonSet manifest\n"
	"  defender list              list the Defenders the Console knows\n"
	"  images scan IMAGE          scan an image for vulnerabilities and compliance issues\n"
	"  hosts scan                 scan this host (or a root file system)\n"
	"  feed import PATH           upload vulnerability data (OSV, Alpine secdb) to the Console\n"
	"  version                    print the version of this program\n"
	"\n"
	"Run 'garrison COMMAND --help' for a command's options.\n"
	"Exit status: 0 done, 1 failed (the reason is printed), 2 bad command line.\n";

int cli_usage_error(const char *help_cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("garrison: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'garrison %s--help'.\n", help_cmd);
	return CLI_USAGE;
}

int cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs("Usage: garrison version\nPrints the version of this program.\n", stdout);
		return CLI_OK;
	}
	if (argc > 1)
		return cli_usage_error("version ", "version takes no arguments");
	printf("garrison %s\n", GARRISON_VERSION);
	return CLI_OK;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = {
		{ "defender", cmd_defender },
		{ "feed", cmd_feed },
		{ "hosts", cmd_hosts },
		{ "images", cmd_images },
		{ "version", cmd_version },
	};
	int rc;

	log_init("garrison", LOG_LVL_WARN);
	if (argc < 2)
		return cli_usage_error("", "a command is required");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(main_help, stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("cannot initialise libcurl");
			return CLI_FAIL;
		}
		rc = cmds[i].fn(argc - 1, argv + 1);
		curl_global_cleanup();
		return rc;
	}
	return cli_usage_error("", "unknown command \"%.64s\"", argv[1]);
}
