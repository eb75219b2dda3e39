/*
 * compliance_dump: runs the CIS Docker Benchmark checks (lib/compliance*.c) on one container,
 * image or host and prints the results as one JSON object:
 *   {"results": [every result], "complianceIssues": [Prisma records of the failures],
 *    "complianceDistribution": {critical, high, medium, low, total}}
 *
 *   compliance_dump container --socket SOCK ID [--execs]   inspect from the engine (libcurl)
 *   compliance_dump container --file INSPECT.json [--execs-file EXECS.json]
 *   compliance_dump image --socket SOCK REF [--secret-files FILES.json]
 *   compliance_dump image --file CONFIG.json [--secret-files FILES.json]
 *   compliance_dump host ROOT [--socket SOCK | --info INFO.json]
 *
 * --execs also fetches GET /exec/{id}/json for each of the container's ExecIDs. For tests only:
 * ids and references are limited to the characters Docker allows in them.
 * Exit status: 0, 1 on an error (with a message on standard error), 2 on usage errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <garrison/compliance.h>

#include "../../defender/docker.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: compliance_dump container (--socket SOCK ID [--execs] | --file F [--execs-file F])\n"
		"       compliance_dump image (--socket SOCK REF | --file F) [--secret-files F]\n"
		"       compliance_dump host ROOT [--socket SOCK | --info F]\n");
	exit(2);
}

static int safe_ref(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("_.-:/@", c) != NULL))
			return 0;
	}
	return strstr(s, "..") == NULL;
}

static json_t *load(const char *path)
{
	json_error_t je;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		fprintf(stderr, "compliance_dump: %s: %s (line %d)\n", path, je.text, je.line);
	return j;
}

static json_t *get(struct docker *d, const char *fmt, const char *arg)
{
	char path[512];
	json_t *j = NULL;
	int rc;

	snprintf(path, sizeof(path), fmt, arg);
	rc = docker_get_json(d, path, &j);
	if (rc != 0)
		fprintf(stderr, "compliance_dump: GET %s: %s (%s)\n", path, strerror(-rc), docker_errmsg(d));
	return j;
}

int main(int argc, char **argv)
{
	const char *mode, *sock = NULL, *file = NULL, *ref = NULL, *extra = NULL, *root = NULL;
	int want_execs = 0, rc = 1, err;
	struct docker *d = NULL;
	json_t *input = NULL, *aux = NULL, *out = NULL;
	struct compliance_list *l = NULL;

	if (argc < 2)
		usage();
	mode = argv[1];
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			sock = argv[++i];
		else if ((strcmp(argv[i], "--file") == 0) && i + 1 < argc)
			file = argv[++i];
		else if ((strcmp(argv[i], "--info") == 0 || strcmp(argv[i], "--secret-files") == 0 ||
			  strcmp(argv[i], "--execs-file") == 0) && i + 1 < argc)
			extra = argv[++i];
		else if (strcmp(argv[i], "--execs") == 0)
			want_execs = 1;
		else if (argv[i][0] != '-' && strcmp(mode, "host") == 0 && root == NULL)
			root = argv[i];
		else if (argv[i][0] != '-' && ref == NULL)
			ref = argv[i];
		else
			usage();
	}
	if (sock != NULL) {
		char addr[200];

		if (ref == NULL && strcmp(mode, "host") != 0)
			usage();
		if (ref != NULL && !safe_ref(ref)) {
			fprintf(stderr, "compliance_dump: %s: not a container id, name or image reference\n", ref);
			return 2;
		}
		curl_global_init(CURL_GLOBAL_DEFAULT);
		snprintf(addr, sizeof(addr), "unix://%s", sock);
		if ((err = docker_new(addr, NULL, &d)) != 0 || (err = docker_negotiate(d)) != 0) {
			fprintf(stderr, "compliance_dump: %s: %s (%s)\n", sock, strerror(-err),
				d ? docker_errmsg(d) : "");
			goto done;
		}
	}
	l = compliance_list_new();
	if (l == NULL)
		goto done;
	if (strcmp(mode, "container") == 0) {
		input = d ? get(d, "/containers/%s/json", ref) : file ? load(file) : NULL;
		if (input == NULL)
			goto done;
		if (d != NULL && want_execs) {
			size_t i;
			json_t *id;

			aux = json_array();
			json_array_foreach(json_object_get(input, "ExecIDs"), i, id) {
				const char *s = json_string_value(id);
				json_t *e;

				if (s == NULL || !safe_ref(s))
					continue;
				e = get(d, "/exec/%s/json", s);
				if (e != NULL)
					json_array_append_new(aux, e);
			}
		} else if (extra != NULL && (aux = load(extra)) == NULL) {
			goto done;
		}
		err = compliance_container(input, aux, l);
	} else if (strcmp(mode, "image") == 0) {
		input = d ? get(d, "/images/%s/json", ref) : file ? load(file) : NULL;
		if (input == NULL || (extra != NULL && (aux = load(extra)) == NULL))
			goto done;
		err = compliance_image(input, aux, l);
	} else if (strcmp(mode, "host") == 0) {
		if (root == NULL)
			usage();
		if (d != NULL && (aux = get(d, "%s", "/info")) == NULL)
			goto done;
		if (d == NULL && extra != NULL && (aux = load(extra)) == NULL)
			goto done;
		err = compliance_host(root, aux, l);
	} else {
		usage();
	}
	if (err != 0) {
		fprintf(stderr, "compliance_dump: %s checks: %s\n", mode, strerror(-err));
		goto done;
	}
	out = json_pack("{s:o, s:o, s:o}", "results", compliance_results_json(l),
			"complianceIssues", compliance_prisma_issues(l),
			"complianceDistribution", compliance_prisma_distribution(l));
	if (out == NULL || json_dumpf(out, stdout, JSON_INDENT(1)) != 0)
		goto done;
	putchar('\n');
	rc = 0;
done:
	json_decref(out);
	json_decref(input);
	json_decref(aux);
	compliance_list_free(l);
	docker_free(d);
	if (sock != NULL)
		curl_global_cleanup();
	return rc;
}
