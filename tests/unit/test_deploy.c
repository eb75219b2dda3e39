/*
 * Unit tests of lib/deploy.c (ECS task definition, DaemonSet YAML, CloudFormation) and of the parts
 * of lib/apiclient.c that need no server (options, URL, error text, a refused connection).
 * The YAML is read back with libyaml's parser through a strict loader: a plain scalar that a YAML
 * 1.1 reader would not take for a string must be one of the values the emitter writes plain.
 * Run from the repository root (reads tests/data/aws/...).
 */
#include "t.h"

#include <garrison/apiclient.h>
#include <garrison/deploy.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define BUNDLE "eyJjYSI6Ii0tLS0tQkVHSU4gQ0VSVElGSUNBVEUtLS0tLSJ9"

static const struct deploy_opts base_opts = {
	.console_addr = "console.example.com",
	.install_bundle = BUNDLE,
};

/* ---- helpers ------------------------------------------------------------------------------------ */

static const char *env_value(json_t *env, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(env, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
			return json_string_value(json_object_get(e, "value"));
	}
	return NULL;
}

static int count_env(json_t *env, const char *name)
{
	size_t i;
	json_t *e;
	int n = 0;

	json_array_foreach(env, i, e)
		n += strcmp(json_string_value(json_object_get(e, "name")), name) == 0;
	return n;
}

/* Scalars written plain that a YAML 1.1 reader resolves to something else than a string. */
static int plain_is_ambiguous(const char *s)
{
	static const char *const words[] = { "y", "n", "yes", "no", "on", "off", "true", "false",
					     "null", "~" };

	if (s[0] == '\0' || strchr("0123456789+-.", s[0]) != NULL)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return 1;
	return 0;
}

static json_t *scalar_to_json(const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char *end;
	long long v;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(s, n);
	if (strcmp(s, "true") == 0)
		return json_true();
	if (strcmp(s, "false") == 0)
		return json_false();
	if (strcmp(s, "null") == 0)
		return json_null();
	if (n > 0 && (s[0] == '-' || (s[0] >= '0' && s[0] <= '9'))) {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0' && (s[0] != '0' || n == 1))
			return json_integer(v);
	}
	if (plain_is_ambiguous(s)) {
		/* Would not read back as the string that was meant. */
		fprintf(stderr, "  ambiguous plain scalar: \"%s\"\n", s);
		return json_string("<AMBIGUOUS>");
	}
	return json_stringn(s, n);
}

/* Builds a JSON value from the events that start with ev (consumed). NULL on error. */
static json_t *load_node(yaml_parser_t *p, yaml_event_t *ev, int depth)
{
	json_t *out = NULL, *key = NULL, *val;
	yaml_event_t e;

	if (depth > 64)
		goto fail;
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		out = scalar_to_json(ev);
		yaml_event_delete(ev);
		return out;
	case YAML_SEQUENCE_START_EVENT:
		yaml_event_delete(ev);
		out = json_array();
		for (;;) {
			if (!yaml_parser_parse(p, &e))
				goto fail;
			if (e.type == YAML_SEQUENCE_END_EVENT) {
				yaml_event_delete(&e);
				return out;
			}
			val = load_node(p, &e, depth + 1);
			if (val == NULL || json_array_append_new(out, val) < 0)
				goto fail;
		}
	case YAML_MAPPING_START_EVENT:
		yaml_event_delete(ev);
		out = json_object();
		for (;;) {
			if (!yaml_parser_parse(p, &e))
				goto fail;
			if (e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				return out;
			}
			key = load_node(p, &e, depth + 1);
			if (!json_is_string(key))
				goto fail;
			if (!yaml_parser_parse(p, &e))
				goto fail;
			val = load_node(p, &e, depth + 1);
			if (val == NULL || json_object_set_new(out, json_string_value(key), val) < 0)
				goto fail;
			json_decref(key);
			key = NULL;
		}
	default:
		yaml_event_delete(ev);
		break;
	}
fail:
	json_decref(key);
	json_decref(out);
	return NULL;
}

/* All documents of a YAML stream as a JSON array, or NULL when it does not parse. */
static json_t *yaml_load_all(const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	json_t *docs = json_array(), *doc;
	int ok = 0;

	yaml_parser_initialize(&p);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev))
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			ok = 1;
			break;
		}
		if (ev.type != YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		yaml_event_delete(&ev);
		if (!yaml_parser_parse(&p, &ev))
			break;
		doc = load_node(&p, &ev, 0);
		if (doc == NULL)
			break;
		json_array_append_new(docs, doc);
		if (!yaml_parser_parse(&p, &ev)) /* document end */
			break;
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (!ok) {
		json_decref(docs);
		return NULL;
	}
	return docs;
}

static json_t *find_kind(json_t *docs, const char *kind)
{
	size_t i;
	json_t *d;

	json_array_foreach(docs, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "kind")), kind) == 0)
			return d;
	}
	return NULL;
}

/* ---- ECS ---------------------------------------------------------------------------------------- */

T_TEST(ecs_taskdef_defaults)
{
	json_t *td = deploy_ecs_taskdef(&base_opts);
	json_t *c, *env, *mp, *vol;

	T_CHECK(td != NULL);
	if (td == NULL)
		return;
	T_CHECK_STR(json_string_value(json_object_get(td, "family")), "pc-defender");
	T_CHECK_STR(json_string_value(json_object_get(td, "networkMode")), "host");
	T_CHECK_STR(json_string_value(json_object_get(td, "pidMode")), "host");
	T_CHECK_INT(json_array_size(json_object_get(td, "requiresCompatibilities")), 1);
	T_CHECK_STR(json_string_value(json_array_get(json_object_get(td, "requiresCompatibilities"), 0)), "EC2");
	T_CHECK_INT(json_array_size(json_object_get(td, "containerDefinitions")), 1);
	c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
	T_CHECK_STR(json_string_value(json_object_get(c, "name")), "garrison-defender");
	T_CHECK_STR(json_string_value(json_object_get(c, "image")), "garrison/defender:" GARRISON_VERSION);
	T_CHECK(json_is_true(json_object_get(c, "essential")));
	T_CHECK(json_is_true(json_object_get(c, "privileged")));
	T_CHECK(json_is_true(json_object_get(c, "readonlyRootFilesystem")));
	T_CHECK_INT(json_integer_value(json_object_get(c, "memory")), 512);
	T_CHECK_INT(json_integer_value(json_object_get(c, "memoryReservation")), 128);

	env = json_object_get(c, "environment");
	T_CHECK_INT(json_array_size(env), 6);
	T_CHECK_STR(env_value(env, "WS_ADDRESS"), "wss://console.example.com:8084");
	T_CHECK_STR(env_value(env, "INSTALL_BUNDLE"), BUNDLE);
	T_CHECK_STR(env_value(env, "DEFENDER_TYPE"), "ecs");
	T_CHECK_STR(env_value(env, "DEFENDER_CLUSTER"), "");
	T_CHECK_STR(env_value(env, "DOCKER_CLIENT_ADDRESS"), "/var/run/docker.sock");
	T_CHECK_STR(env_value(env, "GARRISON_DATA_DIR"), "/var/lib/garrison");
	T_CHECK_INT(count_env(env, "WS_ADDRESS"), 1);

	/* Exactly the data dir and the socket, both writable, each mount backed by its volume. */
	mp = json_object_get(c, "mountPoints");
	vol = json_object_get(td, "volumes");
	T_CHECK_INT(json_array_size(mp), 2);
	T_CHECK_INT(json_array_size(vol), 2);
	for (size_t i = 0; i < json_array_size(mp); i++) {
		json_t *m = json_array_get(mp, i), *v = json_array_get(vol, i);

		T_CHECK_STR(json_string_value(json_object_get(m, "sourceVolume")),
			    json_string_value(json_object_get(v, "name")));
		T_CHECK_STR(json_string_value(json_object_get(m, "containerPath")),
			    json_string_value(json_object_get(json_object_get(v, "host"), "sourcePath")));
		T_CHECK(json_is_false(json_object_get(m, "readOnly")));
	}
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(mp, 0), "containerPath")),
		    "/var/lib/garrison");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(mp, 1), "containerPath")),
		    "/var/run/docker.sock");
	json_decref(td);
}

T_TEST(ecs_taskdef_options)
{
	struct deploy_opts o = base_opts;
	json_t *td, *c, *env;

	o.defender_port = 9443;
	o.cluster = "prod-east";
	o.task_name = "garrison_defender-2";
	o.image = "registry.example.com:5000/sec/defender@sha256:0123abcd";
	o.docker_socket = "/run/docker.sock";
	o.data_dir = "/opt/garrison/data";
	td = deploy_ecs_taskdef(&o);
	T_CHECK(td != NULL);
	if (td == NULL)
		return;
	c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
	env = json_object_get(c, "environment");
	T_CHECK_STR(json_string_value(json_object_get(td, "family")), "garrison_defender-2");
	T_CHECK_STR(json_string_value(json_object_get(c, "image")), o.image);
	T_CHECK_STR(env_value(env, "WS_ADDRESS"), "wss://console.example.com:9443");
	T_CHECK_STR(env_value(env, "DEFENDER_CLUSTER"), "prod-east");
	T_CHECK_STR(env_value(env, "DOCKER_CLIENT_ADDRESS"), "/run/docker.sock");
	T_CHECK_STR(env_value(env, "GARRISON_DATA_DIR"), "/opt/garrison/data");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(
		json_object_get(td, "volumes"), 1), "host"), "sourcePath")), "/run/docker.sock");
	json_decref(td);

	/* IPv6 literals get brackets in the URL, given with or without them. */
	o = base_opts;
	o.console_addr = "fd00::1";
	td = deploy_ecs_taskdef(&o);
	c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
	T_CHECK_STR(env_value(json_object_get(c, "environment"), "WS_ADDRESS"), "wss://[fd00::1]:8084");
	json_decref(td);
	o.console_addr = "[::1]";
	td = deploy_ecs_taskdef(&o);
	c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
	T_CHECK_STR(env_value(json_object_get(c, "environment"), "WS_ADDRESS"), "wss://[::1]:8084");
	json_decref(td);
	o.console_addr = "10.0.0.5";
	td = deploy_ecs_taskdef(&o);
	c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
	T_CHECK_STR(env_value(json_object_get(c, "environment"), "WS_ADDRESS"), "wss://10.0.0.5:8084");
	json_decref(td);
}

T_TEST(bad_options_are_refused)
{
	static char big[DEPLOY_BUNDLE_MAX + 2];
	struct {
		const char *what;
		struct deploy_opts o;
	} cases[] = {
		{ "no console", { .install_bundle = BUNDLE } },
		{ "empty console", { .console_addr = "", .install_bundle = BUNDLE } },
		{ "console with path", { .console_addr = "evil.com/x", .install_bundle = BUNDLE } },
		{ "console with user", { .console_addr = "u@evil.com", .install_bundle = BUNDLE } },
		{ "console with port", { .console_addr = "host:8084", .install_bundle = BUNDLE } },
		{ "console with space", { .console_addr = "a b", .install_bundle = BUNDLE } },
		{ "bad ipv6", { .console_addr = "[fd00::1", .install_bundle = BUNDLE } },
		{ "port high", { .console_addr = "h", .install_bundle = BUNDLE, .defender_port = 65536 } },
		{ "port negative", { .console_addr = "h", .install_bundle = BUNDLE, .defender_port = -1 } },
		{ "no bundle", { .console_addr = "h" } },
		{ "empty bundle", { .console_addr = "h", .install_bundle = "" } },
		{ "bundle not base64", { .console_addr = "h", .install_bundle = "abc$" } },
		{ "bundle with newline", { .console_addr = "h", .install_bundle = "abc\ndef" } },
		{ "bundle too big", { .console_addr = "h", .install_bundle = big } },
		{ "family space", { .console_addr = "h", .install_bundle = BUNDLE, .task_name = "a b" } },
		{ "family colon", { .console_addr = "h", .install_bundle = BUNDLE, .task_name = "a:1" } },
		{ "cluster newline", { .console_addr = "h", .install_bundle = BUNDLE, .cluster = "a\nb" } },
		{ "image space", { .console_addr = "h", .install_bundle = BUNDLE, .image = "a b" } },
		{ "image quote", { .console_addr = "h", .install_bundle = BUNDLE, .image = "a\"b" } },
		{ "socket relative", { .console_addr = "h", .install_bundle = BUNDLE, .docker_socket = "docker.sock" } },
		{ "data dir root", { .console_addr = "h", .install_bundle = BUNDLE, .data_dir = "/" } },
		{ "data dir dotdot", { .console_addr = "h", .install_bundle = BUNDLE, .data_dir = "/var/../etc" } },
		{ "data dir dot", { .console_addr = "h", .install_bundle = BUNDLE, .data_dir = "/var/./x" } },
		{ "namespace upper", { .console_addr = "h", .install_bundle = BUNDLE, .namespace_ = "Twistlock" } },
		{ "namespace dash", { .console_addr = "h", .install_bundle = BUNDLE, .namespace_ = "-ns" } },
	};
	char err[160];
	char *yaml = (char *)"unchanged";
	size_t len = 7;

	memset(big, 'A', sizeof(big) - 1);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *td;
		int rc;

		err[0] = '\0';
		T_CHECK_INT(deploy_opts_check(&cases[i].o, err, sizeof(err)), -EINVAL);
		if (err[0] == '\0')
			fprintf(stderr, "  no reason for case \"%s\"\n", cases[i].what);
		T_CHECK(err[0] != '\0');
		td = deploy_ecs_taskdef(&cases[i].o);
		if (td != NULL)
			fprintf(stderr, "  case \"%s\" was accepted\n", cases[i].what);
		T_CHECK(td == NULL);
		json_decref(td);
		rc = deploy_daemonset_yaml(&cases[i].o, &yaml, &len);
		T_CHECK_INT(rc, -EINVAL);
		T_CHECK(yaml == NULL && len == 0);
		free(yaml);
	}
	T_CHECK(deploy_ecs_taskdef(NULL) == NULL);
	T_CHECK_INT(deploy_opts_check(&base_opts, err, sizeof(err)), 0);
	/* The largest bundle allowed is accepted. */
	{
		struct deploy_opts o = base_opts;
		json_t *td;

		big[DEPLOY_BUNDLE_MAX] = '\0';
		o.install_bundle = big;
		td = deploy_ecs_taskdef(&o);
		T_CHECK(td != NULL);
		json_decref(td);
	}
}

/* ---- DaemonSet ---------------------------------------------------------------------------------- */

T_TEST(daemonset_manifest)
{
	struct deploy_opts o = base_opts;
	char *yaml = NULL;
	size_t len = 0;
	json_t *docs, *ds, *sec, *spec, *c, *env, *vols, *e;
	unsigned char *dec = NULL;
	size_t declen = 0;

	o.cluster = "k8s-prod";
	T_CHECK_INT(deploy_daemonset_yaml(&o, &yaml, &len), 0);
	T_CHECK(yaml != NULL && strlen(yaml) == len);
	docs = yaml_load_all(yaml, len);
	T_CHECK(docs != NULL);
	if (docs == NULL) {
		free(yaml);
		return;
	}
	T_CHECK_INT(json_array_size(docs), 4);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(docs, 0), "kind")), "Namespace");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(docs, 0), "metadata"),
						      "name")), "twistlock");
	T_CHECK(find_kind(docs, "ServiceAccount") != NULL);
	sec = find_kind(docs, "Secret");
	ds = find_kind(docs, "DaemonSet");
	T_CHECK(sec != NULL && ds != NULL);
	if (sec == NULL || ds == NULL)
		goto out;
	T_CHECK_STR(json_string_value(json_object_get(ds, "apiVersion")), "apps/v1");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(ds, "metadata"), "namespace")), "twistlock");
	/* The Secret holds the bundle, base64 once more as Kubernetes wants. */
	T_CHECK_INT(util_b64_decode(json_string_value(json_object_get(json_object_get(sec, "data"),
								    DEPLOY_SECRET_KEY)), &dec, &declen), 0);
	T_CHECK(dec != NULL && strcmp((char *)dec, BUNDLE) == 0);
	free(dec);

	spec = json_object_get(json_object_get(json_object_get(ds, "spec"), "template"), "spec");
	T_CHECK(json_is_true(json_object_get(spec, "hostPID")));
	T_CHECK(json_is_true(json_object_get(spec, "hostNetwork")));
	T_CHECK_STR(json_string_value(json_object_get(spec, "serviceAccountName")), DEPLOY_SERVICE_ACCOUNT);
	c = json_array_get(json_object_get(spec, "containers"), 0);
	T_CHECK(json_is_true(json_object_get(json_object_get(c, "securityContext"), "privileged")));
	T_CHECK(json_is_true(json_object_get(json_object_get(c, "securityContext"), "readOnlyRootFilesystem")));
	env = json_object_get(c, "env");
	T_CHECK_STR(env_value(env, "WS_ADDRESS"), "wss://console.example.com:8084");
	T_CHECK_STR(env_value(env, "DEFENDER_TYPE"), "daemonset");
	T_CHECK_STR(env_value(env, "DEFENDER_CLUSTER"), "k8s-prod");
	T_CHECK_STR(env_value(env, "DOCKER_CLIENT_ADDRESS"), "/var/run/docker.sock");
	T_CHECK_STR(env_value(env, "GARRISON_DATA_DIR"), "/var/lib/garrison");
	/* The bundle comes from the Secret and never appears in the pod spec. */
	T_CHECK(env_value(env, "INSTALL_BUNDLE") == NULL);
	T_CHECK(strstr(yaml, BUNDLE) == NULL);
	e = NULL;
	for (size_t i = 0; i < json_array_size(env); i++)
		if (strcmp(json_string_value(json_object_get(json_array_get(env, i), "name")), "INSTALL_BUNDLE") == 0)
			e = json_object_get(json_object_get(json_array_get(env, i), "valueFrom"), "secretKeyRef");
	T_CHECK_STR(json_string_value(json_object_get(e, "name")), DEPLOY_SECRET_NAME);
	T_CHECK_STR(json_string_value(json_object_get(e, "key")), DEPLOY_SECRET_KEY);
	vols = json_object_get(spec, "volumes");
	T_CHECK_INT(json_array_size(vols), 2);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(vols, 0), "hostPath"), "path")),
		    "/var/lib/garrison");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(vols, 1), "hostPath"), "path")),
		    "/var/run/docker.sock");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(vols, 1), "hostPath"), "type")),
		    "Socket");
	T_CHECK_INT(json_array_size(json_object_get(c, "volumeMounts")), 2);
out:
	json_decref(docs);
	free(yaml);

	/* A built-in namespace is used but never declared (kubectl delete -f would remove it). */
	o.namespace_ = "kube-system";
	T_CHECK_INT(deploy_daemonset_yaml(&o, &yaml, &len), 0);
	docs = yaml_load_all(yaml, len);
	T_CHECK_INT(json_array_size(docs), 3);
	T_CHECK(find_kind(docs, "Namespace") == NULL);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(find_kind(docs, "DaemonSet"), "metadata"),
						      "namespace")), "kube-system");
	json_decref(docs);
	free(yaml);
}

T_TEST(yaml_quotes_what_would_not_read_back)
{
	static const char *const tricky[] = {
		"true", "False", "yes", "NO", "on", "off", "y", "n", "null", "~", "", "0123", "1e3",
		"-1", "+1", ".5", ".inf", "2026-11-27", "12:30", "a: b", "#comment", "- item", "[x]",
		"{x}", "*ref", "&anchor", "!tag", "|", ">", "'single'", "\"double\"", "@at", "`tick`",
		"line1\nline2", "tab\there", "trailing ", " leading", "ünïcödé", "%percent", "<<", "=",
		"back\\slash", "k8s-prod", "/var/run/docker.sock",
	};
	json_t *in = json_object(), *docs, *arr = json_array();
	char *yaml = NULL;
	size_t len = 0;

	for (size_t i = 0; i < ARRAY_SIZE(tricky); i++)
		json_array_append_new(arr, json_string(tricky[i]));
	json_object_set_new(in, "strings", arr);
	json_object_set_new(in, "int", json_integer(-42));
	json_object_set_new(in, "zero", json_integer(0));
	json_object_set_new(in, "t", json_true());
	json_object_set_new(in, "f", json_false());
	json_object_set_new(in, "nothing", json_null());
	json_object_set_new(in, "empty map", json_object());
	json_object_set_new(in, "empty list", json_array());
	json_object_set_new(in, "true", json_string("key that is a bool word"));
	T_CHECK_INT(deploy_yaml_emit(in, 0, &yaml, &len), 0);
	docs = yaml ? yaml_load_all(yaml, len) : NULL;
	T_CHECK(docs != NULL && json_array_size(docs) == 1);
	T_CHECK(json_equal(json_array_get(docs, 0), in));
	if (!json_equal(json_array_get(docs, 0), in))
		fprintf(stderr, "  emitted:\n%s\n", yaml ? yaml : "(null)");
	json_decref(docs);
	free(yaml);

	/* multi needs an array; deep nesting is refused, not overflowed. */
	T_CHECK_INT(deploy_yaml_emit(in, 1, &yaml, &len), -EINVAL);
	json_decref(in);
	{
		json_t *deep = json_string("leaf");

		for (int i = 0; i < 100; i++) {
			json_t *a = json_array();

			json_array_append_new(a, deep);
			deep = a;
		}
		T_CHECK_INT(deploy_yaml_emit(deep, 0, &yaml, &len), -EINVAL);
		T_CHECK(yaml == NULL);
		json_decref(deep);
	}
}

T_TEST(daemonset_cluster_names_stay_strings)
{
	static const char *const names[] = { "true", "0123", "null", "", "a: b", "yes" };
	struct deploy_opts o = base_opts;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *yaml = NULL;
		size_t len = 0;
		json_t *docs, *env;

		o.cluster = names[i];
		T_CHECK_INT(deploy_daemonset_yaml(&o, &yaml, &len), 0);
		docs = yaml_load_all(yaml, len);
		env = json_object_get(json_array_get(json_object_get(json_object_get(json_object_get(
			json_object_get(find_kind(docs, "DaemonSet"), "spec"), "template"), "spec"),
			"containers"), 0), "env");
		T_CHECK_STR(env_value(env, "DEFENDER_CLUSTER"), names[i]);
		json_decref(docs);
		free(yaml);
	}
}

/* ---- CloudFormation ----------------------------------------------------------------------------- */

T_TEST(cloudformation_from_taskdef)
{
	json_t *td = deploy_ecs_taskdef(&base_opts), *copy, *tpl, *res, *props, *svc, *c;

	T_CHECK(td != NULL);
	copy = json_deep_copy(td);
	tpl = deploy_ecs_cloudformation(td, "pc-ecs-cluster");
	T_CHECK(tpl != NULL);
	T_CHECK(json_equal(td, copy)); /* the input is left alone */
	if (tpl == NULL)
		goto out;
	T_CHECK_STR(json_string_value(json_object_get(tpl, "AWSTemplateFormatVersion")), "2010-09-09");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(tpl, "Parameters"),
									"Cluster"), "Default")), "pc-ecs-cluster");
	res = json_object_get(tpl, "Resources");
	T_CHECK_INT(json_object_size(res), 2);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(res, "DefenderTaskDefinition"), "Type")),
		    "AWS::ECS::TaskDefinition");
	props = json_object_get(json_object_get(res, "DefenderTaskDefinition"), "Properties");
	T_CHECK_STR(json_string_value(json_object_get(props, "Family")), "pc-defender");
	T_CHECK_STR(json_string_value(json_object_get(props, "NetworkMode")), "host");
	T_CHECK_STR(json_string_value(json_object_get(props, "PidMode")), "host");
	T_CHECK(json_object_get(props, "family") == NULL);
	c = json_array_get(json_object_get(props, "ContainerDefinitions"), 0);
	T_CHECK(json_is_true(json_object_get(c, "Privileged")));
	T_CHECK(json_is_true(json_object_get(c, "ReadonlyRootFilesystem")));
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(c, "Environment"), 0), "Name")),
		    "WS_ADDRESS");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(
		json_object_get(props, "Volumes"), 1), "Host"), "SourcePath")), "/var/run/docker.sock");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(c, "MountPoints"), 0),
						      "SourceVolume")), "garrison-data");

	svc = json_object_get(json_object_get(res, "DefenderService"), "Properties");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(res, "DefenderService"), "Type")),
		    "AWS::ECS::Service");
	T_CHECK_STR(json_string_value(json_object_get(svc, "SchedulingStrategy")), "DAEMON");
	T_CHECK_STR(json_string_value(json_object_get(svc, "LaunchType")), "EC2");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(svc, "Cluster"), "Ref")), "Cluster");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(svc, "TaskDefinition"), "Ref")),
		    "DefenderTaskDefinition");
	T_CHECK(json_object_get(svc, "DesiredCount") == NULL);
	json_decref(tpl);

	/* Without a cluster the parameter has no default: the stack asks for it. */
	tpl = deploy_ecs_cloudformation(td, NULL);
	T_CHECK(tpl != NULL);
	T_CHECK(json_object_get(json_object_get(json_object_get(tpl, "Parameters"), "Cluster"), "Default") == NULL);
	json_decref(tpl);
out:
	json_decref(copy);
	json_decref(td);
}

T_TEST(cloudformation_names)
{
	/* Free-form maps keep their keys; the two irregular names are mapped. */
	json_t *td = json_pack("{s:s, s:[{s:s, s:s, s:{s:s}, s:{s:s, s:{s:s}}}],"
			       " s:{s:s, s:s, s:[{s:s, s:s}]}, s:[{s:s, s:{s:s}}]}",
			       "family", "f",
			       "containerDefinitions", "name", "app", "image", "i",
			       "dockerLabels", "com.example.team", "sec",
			       "logConfiguration", "logDriver", "awslogs",
			       "options", "awslogs-group", "/ecs/x",
			       "proxyConfiguration", "type", "APPMESH", "containerName", "envoy",
			       "properties", "name", "AppPorts", "value", "9080",
			       "volumes", "name", "efs", "efsVolumeConfiguration", "fileSystemId", "fs-1");
	json_t *tpl, *props, *c;

	tpl = deploy_ecs_cloudformation(td, "");
	T_CHECK(tpl != NULL);
	props = json_object_get(json_object_get(json_object_get(tpl, "Resources"), "DefenderTaskDefinition"),
				"Properties");
	c = json_array_get(json_object_get(props, "ContainerDefinitions"), 0);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(c, "DockerLabels"), "com.example.team")), "sec");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(c, "LogConfiguration"),
								      "Options"), "awslogs-group")), "/ecs/x");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(json_object_get(props,
		"ProxyConfiguration"), "ProxyConfigurationProperties"), 0), "Name")), "AppPorts");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(json_object_get(props,
		"Volumes"), 0), "EFSVolumeConfiguration"), "FileSystemId")), "fs-1");
	T_CHECK(json_object_get(json_object_get(json_object_get(tpl, "Parameters"), "Cluster"), "Default") == NULL);
	json_decref(tpl);
	json_decref(td);
}

T_TEST(cloudformation_refuses_non_taskdefs)
{
	json_t *v;

	T_CHECK(deploy_ecs_cloudformation(NULL, NULL) == NULL);
	v = json_string("x");
	T_CHECK(deploy_ecs_cloudformation(v, NULL) == NULL);
	json_decref(v);
	v = json_pack("{s:[]}", "containerDefinitions");
	T_CHECK(deploy_ecs_cloudformation(v, NULL) == NULL);
	json_decref(v);
	v = json_pack("{s:s, s:[]}", "family", "f", "containerDefinitions");
	T_CHECK(deploy_ecs_cloudformation(v, NULL) == NULL);
	json_decref(v);
	/* A DescribeTaskDefinition answer has read-only members CloudFormation does not take. */
	v = json_pack("{s:s, s:[{s:s}], s:s}", "family", "f", "containerDefinitions", "name", "a",
		      "taskDefinitionArn", "arn:aws:ecs:us-east-1:1:task-definition/f:1");
	T_CHECK(deploy_ecs_cloudformation(v, NULL) == NULL);
	json_decref(v);
}

T_TEST(cloudformation_of_real_task_definitions)
{
	static const char *const files[] = {
		"datadog-agent-ecs-daemon.json", "example-appmesh-gateway.json", "example-env-file.json",
		"example-sample-app.json", "example-webserver-linux.json", "example-windows-simple-iis.json",
		"example-windows-webserver.json",
	};
	char path[256];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		json_t *td, *tpl, *props;

		snprintf(path, sizeof(path), "tests/data/aws/ecs-task-definitions/%s", files[i]);
		td = json_load_file(path, 0, NULL);
		if (td == NULL)
			fprintf(stderr, "  cannot read %s (run from the repository root)\n", path);
		T_CHECK(td != NULL);
		tpl = deploy_ecs_cloudformation(td, "c");
		T_CHECK(tpl != NULL);
		props = json_object_get(json_object_get(json_object_get(tpl, "Resources"), "DefenderTaskDefinition"),
					"Properties");
		T_CHECK_INT(json_object_size(props), json_object_size(td));
		T_CHECK_STR(json_string_value(json_object_get(props, "Family")),
			    json_string_value(json_object_get(td, "family")));
		json_decref(tpl);
		json_decref(td);
	}
}

/* ---- CLI arguments ------------------------------------------------------------------------------ */

T_TEST(export_args)
{
	struct deploy_export_args a;
	struct apiclient_opts c;
	char err[256];
	char *ecs[] = { "ecs", "--format", "cloudformation", "--cluster=pc-ecs-cluster", "--task-name",
			"pc-defender", "--console-addr", "10.0.0.1", "--address", "https://c:8083",
			"--user", "admin", "--cacert=/tmp/ca.pem", "-o", "out.json" };
	char *ds[] = { "daemonset", "--namespace", "garrison", "--token", "tok", "--cluster=" };

	memset(&c, 0, sizeof(c));
	T_CHECK_INT(deploy_export_args_parse((int)ARRAY_SIZE(ecs), ecs, &a, &c, err, sizeof(err)), 0);
	T_CHECK_INT(a.kind, DEPLOY_EXPORT_ECS);
	T_CHECK_INT(a.format, DEPLOY_FORMAT_CLOUDFORMATION);
	T_CHECK_STR(a.cluster, "pc-ecs-cluster");
	T_CHECK_STR(a.task_name, "pc-defender");
	T_CHECK_STR(a.console_addr, "10.0.0.1");
	T_CHECK_STR(a.output, "out.json");
	T_CHECK_STR(c.address, "https://c:8083");
	T_CHECK_STR(c.user, "admin");
	T_CHECK_STR(c.cacert, "/tmp/ca.pem");
	T_CHECK(c.password == NULL && c.token == NULL);
	T_CHECK(!a.help);

	memset(&c, 0, sizeof(c));
	T_CHECK_INT(deploy_export_args_parse((int)ARRAY_SIZE(ds), ds, &a, &c, err, sizeof(err)), 0);
	T_CHECK_INT(a.kind, DEPLOY_EXPORT_DAEMONSET);
	T_CHECK_INT(a.format, DEPLOY_FORMAT_YAML);
	T_CHECK_STR(a.namespace_, "garrison");
	T_CHECK_STR(a.cluster, "");
	T_CHECK_STR(c.token, "tok");
	T_CHECK(a.output == NULL && a.console_addr == NULL);

	{
		char *v[] = { "ecs" };

		T_CHECK_INT(deploy_export_args_parse(1, v, &a, &c, err, sizeof(err)), 0);
		T_CHECK_INT(a.format, DEPLOY_FORMAT_JSON);
	}
	{
		char *v[] = { "ecs", "--cluster", "x", "--help", "--bogus" };

		T_CHECK_INT(deploy_export_args_parse(5, v, &a, &c, err, sizeof(err)), 0);
		T_CHECK(a.help);
	}
}

T_TEST(export_args_errors)
{
	static const struct {
		int argc;
		const char *argv[6];
		const char *msg; /* a word of the message */
	} cases[] = {
		{ 1, { "swarm" }, "unknown deployment kind" },
		{ 2, { "ecs", "--namespace=x" }, "unknown option" },
		{ 2, { "daemonset", "--task-name=x" }, "unknown option" },
		{ 3, { "ecs", "--format", "yaml" }, "format" },
		{ 3, { "daemonset", "--format", "json" }, "format" },
		{ 2, { "ecs", "--cluster" }, "needs a value" },
		{ 2, { "ecs", "--address" }, "needs a value" },
		{ 2, { "ecs", "--user=" }, "needs a value" },
		{ 2, { "ecs", "extra" }, "unknown option" },
		{ 3, { "ecs", "--task-name", "bad name" }, "--task-name" },
		{ 3, { "daemonset", "--namespace", "Bad" }, "--namespace" },
		{ 3, { "ecs", "--console-addr", "h/x" }, "--console-addr" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct deploy_export_args a;
		struct apiclient_opts c = { 0 };
		char err[256] = "";

		T_CHECK_INT(deploy_export_args_parse(cases[i].argc, (char **)cases[i].argv, &a, &c, err,
						     sizeof(err)), -EINVAL);
		if (strstr(err, cases[i].msg) == NULL)
			fprintf(stderr, "  case %zu: message \"%s\" lacks \"%s\"\n", i, err, cases[i].msg);
		T_CHECK(strstr(err, cases[i].msg) != NULL);
	}
}

T_TEST(connection_options)
{
	struct apiclient_opts o;
	char err[256];

	unsetenv("GARRISON_PASSWORD");
	unsetenv("GARRISON_TOKEN");
	unsetenv("GARRISON_CACERT");

	memset(&o, 0, sizeof(o));
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "--address") != NULL);

	o.address = "http://console:8083";
	o.token = "t";
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "https") != NULL);

	memset(&o, 0, sizeof(o));
	o.address = "https://console:8083";
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "credentials") != NULL);

	o.user = "admin";
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "GARRISON_PASSWORD") != NULL);

	setenv("GARRISON_PASSWORD", "s3cret", 1);
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), 0);
	T_CHECK_STR(o.password, "s3cret");
	unsetenv("GARRISON_PASSWORD");

	memset(&o, 0, sizeof(o));
	o.address = "https://console:8083";
	o.user = "admin";
	o.token = "t";
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);

	memset(&o, 0, sizeof(o));
	o.address = "https://console:8083";
	setenv("GARRISON_TOKEN", "tok-from-env", 1);
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), 0);
	T_CHECK_STR(o.token, "tok-from-env");
	unsetenv("GARRISON_TOKEN");

	o.cacert = "/nonexistent/ca.pem";
	T_CHECK_INT(apiclient_opts_finish(&o, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);
}

T_TEST(url_host)
{
	char h[64];

	T_CHECK_INT(apiclient_url_host("https://console.example.com:8083", h, sizeof(h)), 0);
	T_CHECK_STR(h, "console.example.com");
	T_CHECK_INT(apiclient_url_host("https://[fd00::1]:8083/", h, sizeof(h)), 0);
	T_CHECK_STR(h, "fd00::1");
	T_CHECK_INT(apiclient_url_host("https://10.1.2.3", h, sizeof(h)), 0);
	T_CHECK_STR(h, "10.1.2.3");
	T_CHECK_INT(apiclient_url_host("http://console:8083", h, sizeof(h)), -EINVAL);
	T_CHECK_INT(apiclient_url_host("https://user:pw@console:8083", h, sizeof(h)), -EINVAL);
	T_CHECK_INT(apiclient_url_host("https://console:8083/?x=1", h, sizeof(h)), -EINVAL);
	T_CHECK_INT(apiclient_url_host("console:8083", h, sizeof(h)), -EINVAL);
	T_CHECK_INT(apiclient_url_host("", h, sizeof(h)), -EINVAL);
	T_CHECK_INT(apiclient_url_host("https://a-rather-long-host-name.example.com", h, 8), -ENAMETOOLONG);
}

T_TEST(http_error_text)
{
	char buf[128];
	char big[600];
	const char *j = "{\"err\":\"invalid credentials\"}";

	apiclient_format_http_error(401, j, strlen(j), buf, sizeof(buf));
	T_CHECK_STR(buf, "HTTP 401: invalid credentials");
	apiclient_format_http_error(500, "", 0, buf, sizeof(buf));
	T_CHECK_STR(buf, "HTTP 500");
	apiclient_format_http_error(502, "\r\nBad gateway\x1b[31m\nmore", 28, buf, sizeof(buf));
	T_CHECK_STR(buf, "HTTP 502: Bad gateway?[31m");
	j = "{\"err\":\"two\\nlines\"}";
	apiclient_format_http_error(400, j, strlen(j), buf, sizeof(buf));
	T_CHECK_STR(buf, "HTTP 400: two");
	memset(big, 'x', sizeof(big));
	apiclient_format_http_error(413, big, sizeof(big), buf, sizeof(buf));
	T_CHECK(strlen(buf) == sizeof(buf) - 1 && strncmp(buf, "HTTP 413: xxx", 13) == 0);
	/* JSON without "err" is shown as text. */
	j = "{\"message\":\"m\"}";
	apiclient_format_http_error(404, j, strlen(j), buf, sizeof(buf));
	T_CHECK_STR(buf, "HTTP 404: {\"message\":\"m\"}");
}

T_TEST(connection_refused_is_reported)
{
	struct apiclient_opts o = { .address = "https://127.0.0.1:1", .user = "u", .password = "p",
				    .timeout_s = 5 };
	struct apiclient *c = NULL;
	struct apiclient_resp r;

	T_CHECK_INT(apiclient_new(&o, &c), 0);
	if (c == NULL)
		return;
	T_CHECK_INT(apiclient_login(c), -ECONNREFUSED);
	T_CHECK(strstr(apiclient_errmsg(c), "cannot connect to https://127.0.0.1:1") != NULL);
	T_CHECK_INT(apiclient_call(c, "GET", "no-slash", NULL, &r), -EINVAL);
	T_CHECK_INT(apiclient_call(c, "GET", "/a b", NULL, &r), -EINVAL);
	T_CHECK_INT(apiclient_call(c, "GET", "/a\x01", NULL, &r), -EINVAL);
	T_CHECK_INT(apiclient_call(c, "get", "/api/v1/_ping", NULL, &r), -EINVAL);
	T_CHECK_INT(apiclient_call(c, "GET /x HTTP/1.1\r\n", "/api/v1/_ping", NULL, &r), -EINVAL);
	{
		json_t *b = json_object();

		T_CHECK_INT(apiclient_call(c, "GET", "/api/v1/_ping", b, &r), -EINVAL);
		json_decref(b);
	}
	apiclient_free(c);
	apiclient_free(NULL);

	/* A token with a line break would inject a header: refused before any request. */
	o.user = NULL;
	o.password = NULL;
	o.token = "abc\r\nX-Evil: 1";
	T_CHECK_INT(apiclient_new(&o, &c), 0);
	T_CHECK_INT(apiclient_login(c), -EINVAL);
	apiclient_free(c);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	log_init("test_deploy", LOG_LVL_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void) __attribute__((destructor));
static void teardown(void)
{
	curl_global_cleanup();
}

T_MAIN(T_CASE(ecs_taskdef_defaults), T_CASE(ecs_taskdef_options), T_CASE(bad_options_are_refused),
       T_CASE(daemonset_manifest), T_CASE(yaml_quotes_what_would_not_read_back),
       T_CASE(daemonset_cluster_names_stay_strings), T_CASE(cloudformation_from_taskdef),
       T_CASE(cloudformation_names), T_CASE(cloudformation_refuses_non_taskdefs),
       T_CASE(cloudformation_of_real_task_definitions), T_CASE(export_args), T_CASE(export_args_errors),
       T_CASE(connection_options), T_CASE(url_host), T_CASE(http_error_text),
       T_CASE(connection_refused_is_reported))
