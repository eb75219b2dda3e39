/*
 * deploy_gen: prints what lib/deploy.c generates, for the validator tests
 * (tests/unit/test_deploy_validate.sh) and for looking at the output by hand.
 *
 *   deploy_gen ecs|cloudformation|daemonset [--console-addr H] [--port N] [--cluster C]
 *              [--task-name F] [--bundle B64] [--image I] [--docker-socket P] [--namespace NS]
 *              [--data-dir D] [--ecs-cluster NAME]
 *   deploy_gen cloudformation --from FILE.json [--ecs-cluster NAME]   (a task definition file)
 *
 * Exit status 0, 1 when the generator refused the options, 2 for a bad command line.
 */
#include <garrison/apiclient.h>
#include <garrison/deploy.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fputs("usage: deploy_gen ecs|cloudformation|daemonset [--console-addr H] [--port N] "
	      "[--cluster C] [--task-name F] [--bundle B64] [--image I] [--docker-socket P] "
	      "[--namespace NS] [--data-dir D] [--ecs-cluster NAME] [--from TASKDEF.json]\n", stderr);
	return 2;
}

static int print_json(json_t *j)
{
	char *s;

	if (j == NULL)
		return 1;
	s = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (s == NULL)
		return 1;
	printf("%s\n", s);
	free(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct deploy_opts o = {
		.console_addr = "console.example.com",
		.install_bundle = "eyJzZWNyZXQiOiJub3QgYSByZWFsIGJ1bmRsZSJ9",
	};
	const char *ecs_cluster = NULL, *from = NULL, *port = NULL, *v;
	char *yaml = NULL;
	size_t len;
	int rc;

	log_init("deploy_gen", LOG_LVL_INFO);
	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i++) {
		static const char *const names[] = {
			"--console-addr", "--port", "--cluster", "--task-name", "--bundle", "--image",
			"--docker-socket", "--namespace", "--data-dir", "--ecs-cluster", "--from",
		};
		const char **slots[] = {
			&o.console_addr, &port, &o.cluster, &o.task_name, &o.install_bundle, &o.image,
			&o.docker_socket, &o.namespace_, &o.data_dir, &ecs_cluster, &from,
		};
		size_t k;

		for (k = 0; k < ARRAY_SIZE(names); k++) {
			rc = apiclient_opt_value(argc, argv, &i, names[k], &v);
			if (rc < 0)
				return usage();
			if (rc > 0) {
				*slots[k] = v;
				break;
			}
		}
		if (k == ARRAY_SIZE(names))
			return usage();
	}
	if (port != NULL) {
		char *end;
		long p;

		errno = 0;
		p = strtol(port, &end, 10);
		if (errno != 0 || *end != '\0' || p < -1 || p > 70000)
			return usage();
		o.defender_port = (int)p;
	}

	if (strcmp(argv[1], "ecs") == 0)
		return print_json(deploy_ecs_taskdef(&o));
	if (strcmp(argv[1], "cloudformation") == 0) {
		json_t *td;

		if (from != NULL) {
			json_error_t jerr;

			td = json_load_file(from, 0, &jerr);
			if (td == NULL) {
				fprintf(stderr, "deploy_gen: %s: %s\n", from, jerr.text);
				return 1;
			}
		} else {
			td = deploy_ecs_taskdef(&o);
			if (td == NULL)
				return 1;
		}
		rc = print_json(deploy_ecs_cloudformation(td, ecs_cluster));
		json_decref(td);
		return rc;
	}
	if (strcmp(argv[1], "daemonset") == 0) {
		if (deploy_daemonset_yaml(&o, &yaml, &len) < 0)
			return 1;
		fwrite(yaml, 1, len, stdout);
		free(yaml);
		return 0;
	}
	return usage();
}
