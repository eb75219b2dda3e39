/*
 * cmd_defender: `garrison defender export ecs|daemonset` asks the Console for a deployment artifact
 * (it holds the install bundle, which only the Console has) and writes it; CloudFormation is made
 * here from the Console's task definition. `garrison defender list` prints the Defenders.
 * Everything from the Console is untrusted: it is parsed before it is written, and text printed to
 * the terminal is cut and stripped of control characters.
 */
#include "cli.h"

#include <garrison/apiclient.h>
#include <garrison/deploy.h>
#include <garrison/log.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define LIST_PAGE      50
#define LIST_MAX_ROWS  100000

static const char defender_help[] =
	"Usage: garrison defender export ecs|daemonset [OPTIONS]\n"
	"       garrison defender list [OPTIONS]\n"
	"\n"
	"  export ecs        write the Defender's ECS task definition or a CloudFormation template\n"
	"  export daemonset  write the Defender's Kubernetes manifest (DaemonSet and what it needs)\n"
	"  list              list the Defenders the Console knows\n"
	"\n"
	"Run 'garrison defender SUBCOMMAND --help' for its options.\n";

static const char export_help[] =
	"Usage: garrison defender export ecs [OPTIONS]\n"
	"       garrison defender export daemonset [OPTIONS]\n"
	"Run 'garrison defender export ecs --help' or '... daemonset --help' for the options.\n";

static const char export_ecs_help[] =
	"Usage: garrison defender export ecs --address URL (--user USER | --token TOKEN) [OPTIONS]\n"
	"\n"
	"Writes the task definition that runs a Defender on each EC2 container instance of an ECS\n"
	"cluster (register it with 'aws ecs register-task-definition --cli-input-json file://F'),\n"
	"or a CloudFormation template with the task definition and a DAEMON service.\n"
	"\n"
	"Options:\n"
	"  --format json|cloudformation  output format (default json)\n"
	"  --cluster NAME       cluster name the Defenders report (default: detected from the cloud);\n"
	"                       with cloudformation also the default of the Cluster parameter\n"
	"  --task-name NAME     task definition family (default pc-defender)\n"
	"  --console-addr HOST  host the Defenders connect to (default: the host of --address)\n"
	"  --output FILE, -o    write to FILE (mode 0600) instead of standard output\n"
	"\n";

static const char export_ds_help[] =
	"Usage: garrison defender export daemonset --address URL (--user USER | --token TOKEN) [OPTIONS]\n"
	"\n"
	"Writes the Kubernetes manifest (Namespace, ServiceAccount, Secret, DaemonSet) that runs a\n"
	"Defender on every node; apply it with 'kubectl apply -f FILE'.\n"
	"\n"
	"Options:\n"
	"  --format yaml        output format (the only one)\n"
	"  --cluster NAME       cluster name the Defenders report (default: detected)\n"
	"  --namespace NS       namespace of the Defenders (default twistlock)\n"
	"  --console-addr HOST  host the Defenders connect to (default: the host of --address)\n"
	"  --output FILE, -o    write to FILE (mode 0600) instead of standard output\n"
	"\n";

static const char list_help[] =
	"Usage: garrison defender list --address URL (--user USER | --token TOKEN) [OPTIONS]\n"
	"\n"
	"Prints the Defenders: hostname, cluster, connected, type, version.\n"
	"\n"
	"Options:\n"
	"  --cluster NAME    only Defenders of this cluster\n"
	"  --hostname NAME   only this host\n"
	"  --connected       only connected Defenders\n"
	"  --json            print the Console's JSON instead of a table\n"
	"\n";

static int is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* Checks that text is a YAML stream, so that an error page is never written as a manifest. */
static int yaml_parses(const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int ok = 0, done = 0;

	if (!yaml_parser_initialize(&p))
		return 0;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	while (!done) {
		if (!yaml_parser_parse(&p, &ev))
			break;
		done = ev.type == YAML_STREAM_END_EVENT;
		if (ev.type == YAML_DOCUMENT_START_EVENT)
			ok = 1;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return ok && done;
}

static int export_ecs(struct apiclient *c, const struct deploy_export_args *a, json_t *body)
{
	json_t *td = NULL, *out = NULL;
	char *text = NULL;
	int rc = CLI_FAIL;

	if (a->task_name != NULL && json_object_set_new(body, "taskName", json_string(a->task_name)) < 0)
		goto fail;
	if (apiclient_call_json(c, "POST", "/api/v1/defenders/ecs-task.json", body, &td, NULL) < 0) {
		log_error("%s", apiclient_errmsg(c));
		goto fail;
	}
	if (!json_is_object(td)) {
		log_error("the Console's answer is not a task definition");
		goto fail;
	}
	if (a->format == DEPLOY_FORMAT_CLOUDFORMATION) {
		out = deploy_ecs_cloudformation(td, a->cluster);
		if (out == NULL) {
			log_error("the Console's task definition cannot be made into a CloudFormation template");
			goto fail;
		}
	} else {
		out = json_incref(td);
	}
	text = json_dumps(out, JSON_INDENT(2));
	if (text == NULL) {
		log_error("out of memory");
		goto fail;
	}
	/* json_dumps gives no final newline; write it with the document. */
	{
		size_t n = strlen(text);
		char *t = realloc(text, n + 2);

		if (t == NULL) {
			log_error("out of memory");
			goto fail;
		}
		text = t;
		text[n] = '\n';
		text[n + 1] = '\0';
		rc = cli_write_output(a->output, text, n + 1);
	}
fail:
	if (text != NULL)
		explicit_bzero(text, strlen(text));
	free(text);
	json_decref(out);
	json_decref(td);
	return rc;
}

static int export_daemonset(struct apiclient *c, const struct deploy_export_args *a, json_t *body)
{
	struct apiclient_resp r;
	int rc;

	if (a->namespace_ != NULL &&
	    json_object_set_new(body, "namespace", json_string(a->namespace_)) < 0) {
		log_error("out of memory");
		return CLI_FAIL;
	}
	if (apiclient_call(c, "POST", "/api/v1/defenders/daemonset.yaml", body, &r) < 0) {
		log_error("%s", apiclient_errmsg(c));
		return CLI_FAIL;
	}
	if (r.len == 0 || !yaml_parses(r.body, r.len)) {
		log_error("the Console's answer is not a YAML manifest");
		apiclient_resp_clear(&r);
		return CLI_FAIL;
	}
	rc = cli_write_output(a->output, r.body, r.len);
	explicit_bzero(r.body, r.len);
	apiclient_resp_clear(&r);
	return rc;
}

static int defender_export(int argc, char **argv)
{
	struct apiclient_opts conn = { 0 };
	struct deploy_export_args a;
	struct apiclient *c = NULL;
	const char *help_cmd = "defender export ";
	char err[256], host[256];
	const char *addr;
	json_t *body = NULL;
	int rc;

	if (argc < 2)
		return cli_usage_error(help_cmd, "export needs \"ecs\" or \"daemonset\"");
	if (strcmp(argv[1], "ecs") == 0)
		help_cmd = "defender export ecs ";
	else if (strcmp(argv[1], "daemonset") == 0)
		help_cmd = "defender export daemonset ";
	if (deploy_export_args_parse(argc - 1, argv + 1, &a, &conn, err, sizeof(err)) < 0)
		return cli_usage_error(help_cmd, "%s", err);
	if (a.help) {
		if (is_help(argv[1]))
			fputs(export_help, stdout);
		else
			printf("%s%s", a.kind == DEPLOY_EXPORT_ECS ? export_ecs_help : export_ds_help,
			       cli_conn_help);
		return CLI_OK;
	}
	rc = cli_connect(&conn, help_cmd, &c);
	if (rc != CLI_OK)
		return rc;
	addr = a.console_addr;
	if (addr == NULL) {
		/* apiclient_opts_finish accepted the address, so it has a host. */
		if (apiclient_url_host(conn.address, host, sizeof(host)) < 0) {
			rc = cli_usage_error(help_cmd, "cannot take the console address from --address; "
					     "give --console-addr");
			goto done;
		}
		addr = host;
	}
	/* cluster "" asks the Defender to detect its cluster. */
	body = json_pack("{s:s, s:s}", "consoleAddr", addr, "cluster", a.cluster ? a.cluster : "");
	if (body == NULL) {
		rc = cli_usage_error(help_cmd, "--cluster and --console-addr must be UTF-8 text");
		goto done;
	}
	if (a.kind == DEPLOY_EXPORT_ECS)
		rc = export_ecs(c, &a, body);
	else
		rc = export_daemonset(c, &a, body);
done:
	json_decref(body);
	apiclient_free(c);
	return rc;
}

/* ---- list -------------------------------------------------------------------------------------- */

/* Appends "&name=value" with value percent-encoded. -ENAMETOOLONG when it does not fit. */
static int query_add(char *q, size_t qlen, const char *name, const char *value)
{
	size_t n = strlen(q);
	int w = snprintf(q + n, qlen - n, "&%s=", name);

	if (w < 0 || (size_t)w >= qlen - n)
		return -ENAMETOOLONG;
	n += (size_t)w;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		int unreserved = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
				 (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;

		w = unreserved ? snprintf(q + n, qlen - n, "%c", *p) : snprintf(q + n, qlen - n, "%%%02X", *p);
		if (w < 0 || (size_t)w >= qlen - n)
			return -ENAMETOOLONG;
		n += (size_t)w;
	}
	return 0;
}

static void print_table(json_t *all)
{
	static const char *const head[] = { "HOSTNAME", "CLUSTER", "CONNECTED", "TYPE", "VERSION" };
	static const char *const keys[] = { "hostname", "cluster", "connected", "type", "version" };

	cli_print_table(stdout, all, 5, head, keys);
}

static int defender_list(int argc, char **argv)
{
	struct apiclient_opts conn = { 0 };
	struct apiclient *c = NULL;
	const char *cluster = NULL, *hostname = NULL, *v;
	int connected = 0, as_json = 0, rc;
	char filter[1024] = "", path[1200];
	json_t *all = NULL, *page = NULL;
	long long total = -1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		rc = 0;
		if (is_help(arg)) {
			printf("%s%s", list_help, cli_conn_help);
			return CLI_OK;
		}
		if (strcmp(arg, "--connected") == 0) {
			connected = 1;
		} else if (strcmp(arg, "--json") == 0) {
			as_json = 1;
		} else if ((rc = apiclient_opt_value(argc, argv, &i, "--cluster", &v)) != 0) {
			cluster = v;
		} else if ((rc = apiclient_opt_value(argc, argv, &i, "--hostname", &v)) != 0) {
			hostname = v;
		} else if ((rc = apiclient_opt_parse(&conn, argc, argv, &i)) != 0) {
			/* a connection option */
		} else {
			return cli_usage_error("defender list ", "unknown option \"%.64s\"", arg);
		}
		if (rc < 0)
			return cli_usage_error("defender list ", "option \"%.64s\" needs a value", arg);
	}
	if ((cluster != NULL && query_add(filter, sizeof(filter), "cluster", cluster) < 0) ||
	    (hostname != NULL && query_add(filter, sizeof(filter), "hostname", hostname) < 0) ||
	    (connected && query_add(filter, sizeof(filter), "connected", "true") < 0))
		return cli_usage_error("defender list ", "filter values too long");
	rc = cli_connect(&conn, "defender list ", &c);
	if (rc != CLI_OK)
		return rc;

	rc = CLI_FAIL;
	all = json_array();
	if (all == NULL)
		goto done;
	/* Pages of LIST_PAGE until a short page or Total-Count; without Total-Count the first page
	 * is all there is (a Console that ignores offset would repeat it forever). */
	for (;;) {
		size_t offset = json_array_size(all);
		int n = snprintf(path, sizeof(path), "/api/v1/defenders?limit=%d&offset=%zu%s", LIST_PAGE,
				 offset, filter);

		if (n < 0 || (size_t)n >= sizeof(path))
			goto done;
		if (apiclient_call_json(c, "GET", path, NULL, &page, &total) < 0) {
			log_error("%s", apiclient_errmsg(c));
			goto done;
		}
		if (!json_is_array(page)) {
			log_error("GET /api/v1/defenders: the answer is not a JSON array");
			goto done;
		}
		if (json_array_extend(all, page) < 0)
			goto done;
		if (json_array_size(page) < LIST_PAGE || total < 0 ||
		    (long long)json_array_size(all) >= total || json_array_size(all) >= LIST_MAX_ROWS)
			break;
		json_decref(page);
		page = NULL;
	}
	if (as_json) {
		char *text = json_dumps(all, JSON_INDENT(2));

		if (text == NULL)
			goto done;
		printf("%s\n", text);
		free(text);
	} else {
		print_table(all);
	}
	rc = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
done:
	json_decref(page);
	json_decref(all);
	apiclient_free(c);
	return rc;
}

int cmd_defender(int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error("defender ", "defender needs a subcommand: export or list");
	if (is_help(argv[1])) {
		fputs(defender_help, stdout);
		return CLI_OK;
	}
	if (strcmp(argv[1], "export") == 0)
		return defender_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return defender_list(argc - 1, argv + 1);
	return cli_usage_error("defender ", "unknown subcommand \"%.64s\"", argv[1]);
}
