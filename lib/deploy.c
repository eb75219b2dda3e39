/*
 * deploy: Defender deployment artifacts. Everything is built as a jansson tree first; JSON output
 * is that tree, YAML output is the tree sent through libyaml's emitter event by event, so no
 * output is ever assembled by formatting strings and every value is escaped by the library.
 *
 * Options are checked before anything is built (they may arrive in an API request): hosts, names
 * and paths are matched against the characters their consumers accept, and every size is bounded.
 * What each field is for is written down in docs/deployment.md; keep the two in step.
 */
#include <garrison/deploy.h>
#include <garrison/apiclient.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define HOST_MAX     253
#define CLUSTER_MAX  255
#define FAMILY_MAX   255
#define IMAGE_MAX    255
#define PATH_MAX_LEN 1024
#define LABEL_MAX    63
#define YAML_MAX     (4u * 1024 * 1024)
#define YAML_DEPTH   64
#define CFN_DEPTH    32

/* Volume names shared by the ECS task definition and the DaemonSet. */
#define VOL_DATA   "garrison-data"
#define VOL_DOCKER "docker-sock"

/* Options with the defaults filled in. */
struct resolved {
	const char *console_addr;
	int port;
	const char *cluster;
	const char *task_name;
	const char *install_bundle;
	const char *image;
	const char *docker_socket;
	const char *namespace_;
	const char *data_dir;
	char ws_address[HOST_MAX + 32];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *dflt(const char *s, const char *d)
{
	return (s == NULL || s[0] == '\0') ? d : s;
}

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A DNS name or IPv4 address (letters, digits, '-', '_', '.'), or an IPv6 literal, bracketed or
 * not. Anything else could change the meaning of the wss:// URL it is put into. */
static int valid_host(const char *s)
{
	size_t n = strlen(s);
	char v6[64];
	struct in6_addr a6;

	if (n == 0 || n > HOST_MAX)
		return 0;
	if (strchr(s, ':') != NULL) {
		if (s[0] == '[') {
			if (n < 3 || s[n - 1] != ']' || n - 2 >= sizeof(v6))
				return 0;
			memcpy(v6, s + 1, n - 2);
			v6[n - 2] = '\0';
		} else {
			if (n >= sizeof(v6))
				return 0;
			memcpy(v6, s, n + 1);
		}
		return inet_pton(AF_INET6, v6, &a6) == 1;
	}
	if (s[0] == '-' || s[0] == '.')
		return 0;
	for (const char *p = s; *p; p++)
		if (!is_alnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			return 0;
	return strstr(s, "..") == NULL;
}

/* Any printable text without control characters (UTF-8 is let through), bounded. */
static int valid_text(const char *s, size_t max)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return n <= max;
}

/* ECS family: up to 255 letters, digits, '_' and '-'. */
static int valid_family(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > FAMILY_MAX)
		return 0;
	for (const char *p = s; *p; p++)
		if (!is_alnum((unsigned char)*p) && *p != '-' && *p != '_')
			return 0;
	return 1;
}

/* Kubernetes namespace: an RFC 1123 label. */
static int valid_label(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0 && i < n - 1);
		if (!ok)
			return 0;
	}
	return 1;
}

/* An image reference: registry/name:tag@digest characters only. */
static int valid_image(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > IMAGE_MAX)
		return 0;
	for (const char *p = s; *p; p++)
		if (!is_alnum((unsigned char)*p) && strchr("._-/:@", *p) == NULL)
			return 0;
	return 1;
}

/* An absolute host path that is not "/" and has no "." or ".." component: these paths are mounted
 * read-write into a privileged container, so they must say exactly what they mean. */
static int valid_host_path(const char *s)
{
	size_t n = strlen(s);
	const char *p = s;

	if (n < 2 || n > PATH_MAX_LEN || s[0] != '/')
		return 0;
	for (const char *q = s; *q; q++)
		if (!is_alnum((unsigned char)*q) && strchr("._-/+@", *q) == NULL)
			return 0;
	while (*p) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len;
	}
	return 1;
}

static int valid_base64(const char *s, size_t max)
{
	size_t n = 0;

	for (const char *p = s; *p; p++, n++)
		if (!is_alnum((unsigned char)*p) && *p != '+' && *p != '/' && *p != '=')
			return 0;
	return n > 0 && n <= max;
}

static int resolve(const struct deploy_opts *o, struct resolved *r, char *err, size_t errlen)
{
	int n;

	if (o == NULL) {
		seterr(err, errlen, "no options");
		return -EINVAL;
	}
	memset(r, 0, sizeof(*r));
	r->console_addr = o->console_addr;
	r->port = o->defender_port == 0 ? DEPLOY_DEFAULT_PORT : o->defender_port;
	r->cluster = o->cluster != NULL ? o->cluster : "";
	r->task_name = dflt(o->task_name, DEPLOY_DEFAULT_TASK_NAME);
	r->install_bundle = o->install_bundle;
	r->image = dflt(o->image, DEPLOY_DEFAULT_IMAGE);
	r->docker_socket = dflt(o->docker_socket, DEPLOY_DEFAULT_DOCKER_SOCKET);
	r->namespace_ = dflt(o->namespace_, DEPLOY_DEFAULT_NAMESPACE);
	r->data_dir = dflt(o->data_dir, DEPLOY_DEFAULT_DATA_DIR);

	if (r->console_addr == NULL || !valid_host(r->console_addr)) {
		seterr(err, errlen, "console address must be a host name or IP address");
		return -EINVAL;
	}
	if (r->port < 1 || r->port > 65535) {
		seterr(err, errlen, "defender port %d is out of range", r->port);
		return -EINVAL;
	}
	if (!valid_text(r->cluster, CLUSTER_MAX)) {
		seterr(err, errlen, "cluster name must be at most %d printable characters", CLUSTER_MAX);
		return -EINVAL;
	}
	if (!valid_family(r->task_name)) {
		seterr(err, errlen, "task name must be 1-%d letters, digits, '-' or '_'", FAMILY_MAX);
		return -EINVAL;
	}
	if (r->install_bundle == NULL || !valid_base64(r->install_bundle, DEPLOY_BUNDLE_MAX)) {
		seterr(err, errlen, "install bundle must be base64 of at most %d characters",
		       DEPLOY_BUNDLE_MAX);
		return -EINVAL;
	}
	if (!valid_image(r->image)) {
		seterr(err, errlen, "image must be an image reference of at most %d characters", IMAGE_MAX);
		return -EINVAL;
	}
	if (!valid_host_path(r->docker_socket)) {
		seterr(err, errlen, "docker socket must be an absolute path");
		return -EINVAL;
	}
	if (!valid_host_path(r->data_dir)) {
		seterr(err, errlen, "data dir must be an absolute path other than /");
		return -EINVAL;
	}
	if (!valid_label(r->namespace_)) {
		seterr(err, errlen, "namespace must be a lowercase RFC 1123 label");
		return -EINVAL;
	}
	/* An IPv6 literal needs brackets in a URL. */
	if (strchr(r->console_addr, ':') != NULL && r->console_addr[0] != '[')
		n = snprintf(r->ws_address, sizeof(r->ws_address), "wss://[%s]:%d", r->console_addr, r->port);
	else
		n = snprintf(r->ws_address, sizeof(r->ws_address), "wss://%s:%d", r->console_addr, r->port);
	if (n < 0 || (size_t)n >= sizeof(r->ws_address)) {
		seterr(err, errlen, "console address too long");
		return -EINVAL;
	}
	return 0;
}

int deploy_opts_check(const struct deploy_opts *o, char *err, size_t errlen)
{
	struct resolved r;

	return resolve(o, &r, err, errlen);
}

static json_t *env_var(const char *name, const char *value)
{
	return json_pack("{s:s, s:s}", "name", name, "value", value);
}

json_t *deploy_ecs_taskdef(const struct deploy_opts *o)
{
	struct resolved r;
	char err[160];
	json_t *td = NULL, *env = NULL;

	if (resolve(o, &r, err, sizeof(err)) < 0) {
		log_warn("deploy: ECS task definition not built: %s", err);
		return NULL;
	}
	env = json_pack("[o, o, o, o, o, o]",
			env_var("WS_ADDRESS", r.ws_address),
			env_var("DEFENDER_TYPE", "ecs"),
			env_var("DEFENDER_CLUSTER", r.cluster),
			env_var("DOCKER_CLIENT_ADDRESS", r.docker_socket),
			env_var("GARRISON_DATA_DIR", r.data_dir),
			env_var("INSTALL_BUNDLE", r.install_bundle));
	if (env == NULL)
		goto fail;
	/* Host network and PID namespaces: the Defender watches every process and connection of the
	 * instance. Privileged: it needs the host's capabilities for its sensors. The root filesystem
	 * stays read-only; all state goes to the data volume. */
	td = json_pack("{s:s, s:[s], s:s, s:s,"
		       " s:[{s:s, s:s, s:b, s:b, s:b, s:i, s:i, s:o,"
		       "     s:[{s:s, s:s, s:b}, {s:s, s:s, s:b}]}],"
		       " s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}]}",
		       "family", r.task_name,
		       "requiresCompatibilities", "EC2",
		       "networkMode", "host",
		       "pidMode", "host",
		       "containerDefinitions",
		       "name", DEPLOY_CONTAINER_NAME,
		       "image", r.image,
		       "essential", 1,
		       "privileged", 1,
		       "readonlyRootFilesystem", 1,
		       "memory", 512,
		       "memoryReservation", 128,
		       "environment", env,
		       "mountPoints",
		       "sourceVolume", VOL_DATA, "containerPath", r.data_dir, "readOnly", 0,
		       "sourceVolume", VOL_DOCKER, "containerPath", r.docker_socket, "readOnly", 0,
		       "volumes",
		       "name", VOL_DATA, "host", "sourcePath", r.data_dir,
		       "name", VOL_DOCKER, "host", "sourcePath", r.docker_socket);
	env = NULL; /* "o" stole it, even on failure */
	if (td == NULL)
		goto fail;
	return td;
fail:
	json_decref(env);
	log_error("deploy: out of memory building the ECS task definition");
	return NULL;
}

/* ---- CloudFormation ---------------------------------------------------------------------------- */

/* Members of RegisterTaskDefinitionRequest that AWS::ECS::TaskDefinition also has. */
static const char *const cfn_taskdef_keys[] = {
	"family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
	"placementConstraints", "requiresCompatibilities", "cpu", "memory", "tags", "pidMode", "ipcMode",
	"proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform",
};

/* Members whose value is a free-form string map: its keys are data, not property names. */
static const char *const cfn_map_keys[] = { "dockerLabels", "options", "driverOpts", "labels" };

/* Property names that are not the API name with its first letter raised. parent is the API name
 * of the enclosing member, or NULL for anywhere. */
static const struct {
	const char *parent, *api, *cfn;
} cfn_renames[] = {
	{ NULL, "efsVolumeConfiguration", "EFSVolumeConfiguration" },
	{ "proxyConfiguration", "properties", "ProxyConfigurationProperties" },
};

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

static int cfn_name(const char *parent, const char *api, char *out, size_t outlen)
{
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(cfn_renames); i++)
		if (strcmp(api, cfn_renames[i].api) == 0 &&
		    (cfn_renames[i].parent == NULL ||
		     (parent != NULL && strcmp(parent, cfn_renames[i].parent) == 0))) {
			api = cfn_renames[i].cfn;
			break;
		}
	n = strlen(api);
	if (n == 0 || n >= outlen)
		return -EINVAL;
	memcpy(out, api, n + 1);
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
	return 0;
}

/* Deep copy of v with every object key turned into its CloudFormation name; parent is the API
 * name of the member v is the value of (array items share their array's). */
static json_t *cfn_convert(const char *parent, json_t *v, int depth)
{
	json_t *out = NULL, *item;
	const char *key;
	size_t i;
	char name[128];

	if (depth > CFN_DEPTH)
		return NULL;
	if (json_is_array(v)) {
		out = json_array();
		if (out == NULL)
			return NULL;
		json_array_foreach(v, i, item) {
			if (json_array_append_new(out, cfn_convert(parent, item, depth + 1)) < 0)
				goto fail;
		}
		return out;
	}
	if (!json_is_object(v))
		return json_deep_copy(v);
	out = json_object();
	if (out == NULL)
		return NULL;
	json_object_foreach(v, key, item) {
		json_t *conv;

		if (cfn_name(parent, key, name, sizeof(name)) < 0)
			goto fail;
		if (in_list(key, cfn_map_keys, ARRAY_SIZE(cfn_map_keys)) && json_is_object(item))
			conv = json_deep_copy(item);
		else
			conv = cfn_convert(key, item, depth + 1);
		if (json_object_set_new(out, name, conv) < 0)
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

json_t *deploy_ecs_cloudformation(json_t *taskdef, const char *ecs_cluster)
{
	json_t *props = NULL, *tpl = NULL, *param;
	json_t *family, *defs;
	const char *key;
	json_t *item;

	if (!json_is_object(taskdef)) {
		log_warn("deploy: CloudFormation: the task definition is not a JSON object");
		return NULL;
	}
	family = json_object_get(taskdef, "family");
	defs = json_object_get(taskdef, "containerDefinitions");
	if (!json_is_string(family) || !valid_family(json_string_value(family)) ||
	    !json_is_array(defs) || json_array_size(defs) == 0) {
		log_warn("deploy: CloudFormation: the task definition lacks a family or containers");
		return NULL;
	}
	json_object_foreach(taskdef, key, item) {
		if (!in_list(key, cfn_taskdef_keys, ARRAY_SIZE(cfn_taskdef_keys))) {
			log_warn("deploy: CloudFormation: task definition member \"%.64s\" has no "
				 "CloudFormation property", key);
			return NULL;
		}
	}
	if (ecs_cluster != NULL && ecs_cluster[0] != '\0' && !valid_text(ecs_cluster, CLUSTER_MAX)) {
		log_warn("deploy: CloudFormation: bad cluster name");
		return NULL;
	}
	props = cfn_convert(NULL, taskdef, 0);
	if (props == NULL)
		goto fail;

	param = json_pack("{s:s, s:s}", "Type", "String", "Description",
			  "Name of the ECS cluster whose EC2 container instances get a Defender");
	if (param == NULL)
		goto fail;
	if (ecs_cluster != NULL && ecs_cluster[0] != '\0' &&
	    json_object_set_new(param, "Default", json_string(ecs_cluster)) < 0) {
		json_decref(param);
		goto fail;
	}
	/* DAEMON places one task on every container instance of the cluster, including instances
	 * added later; DAEMON is EC2-only, and so is a Defender (Fargate has no host to protect). */
	tpl = json_pack("{s:s, s:s, s:{s:o}, s:{s:{s:s, s:o}, s:{s:s, s:{s:{s:s}, s:s, s:{s:s},"
			" s:s, s:s}}}, s:{s:{s:s, s:{s:s}}, s:{s:s, s:{s:s}}}}",
			"AWSTemplateFormatVersion", "2010-09-09",
			"Description", "Garrison Defender on every EC2 container instance of an ECS cluster",
			"Parameters", "Cluster", param,
			"Resources",
			"DefenderTaskDefinition", "Type", "AWS::ECS::TaskDefinition", "Properties", props,
			"DefenderService", "Type", "AWS::ECS::Service", "Properties",
			"Cluster", "Ref", "Cluster",
			"ServiceName", json_string_value(family),
			"TaskDefinition", "Ref", "DefenderTaskDefinition",
			"SchedulingStrategy", "DAEMON",
			"LaunchType", "EC2",
			"Outputs",
			"TaskDefinitionArn", "Description", "ARN of the Defender task definition",
			"Value", "Ref", "DefenderTaskDefinition",
			"ServiceArn", "Description", "ARN of the Defender DAEMON service",
			"Value", "Ref", "DefenderService");
	props = NULL;
	if (tpl == NULL)
		goto fail;
	return tpl;
fail:
	json_decref(props);
	log_error("deploy: CloudFormation: cannot build the template");
	return NULL;
}

/* ---- YAML -------------------------------------------------------------------------------------- */

struct ybuf {
	char *p;
	size_t len, cap;
};

static int ybuf_write(void *data, unsigned char *buf, size_t size)
{
	struct ybuf *b = data;

	if (size > YAML_MAX - b->len)
		return 0;
	if (b->len + size + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + size + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return 0;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, buf, size);
	b->len += size;
	b->p[b->len] = '\0';
	return 1;
}

/* Whether s may be written as a plain scalar and still read back as a string by a YAML 1.1 or
 * 1.2 reader. Conservative: anything that starts like a number, a date or an indicator is quoted. */
static int yaml_plain_is_string(const char *s)
{
	static const char *const special[] = {
		"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "<<", "=",
	};

	if (s[0] == '\0' || strchr("0123456789+-.", s[0]) != NULL)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(special); i++)
		if (strcasecmp(s, special[i]) == 0)
			return 0;
	return 1;
}

static int yaml_scalar(yaml_emitter_t *em, const char *s, size_t n, int is_string)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n,
					  is_string ? yaml_plain_is_string(s) : 1, is_string,
					  is_string ? YAML_ANY_SCALAR_STYLE : YAML_PLAIN_SCALAR_STYLE))
		return -ENOMEM;
	return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
}

static int yaml_node(yaml_emitter_t *em, json_t *v, int depth)
{
	yaml_event_t ev;
	char num[64];
	const char *key;
	json_t *item;
	size_t i;
	int rc, n;

	if (depth > YAML_DEPTH)
		return -EINVAL;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE))
			return -ENOMEM;
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
		json_object_foreach(v, key, item) {
			rc = yaml_scalar(em, key, strlen(key), 1);
			if (rc == 0)
				rc = yaml_node(em, item, depth + 1);
			if (rc < 0)
				return rc;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return -ENOMEM;
		return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
	case JSON_ARRAY:
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE))
			return -ENOMEM;
		if (!yaml_emitter_emit(em, &ev))
			return -EIO;
		json_array_foreach(v, i, item) {
			rc = yaml_node(em, item, depth + 1);
			if (rc < 0)
				return rc;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return -ENOMEM;
		return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
	case JSON_STRING:
		return yaml_scalar(em, json_string_value(v), json_string_length(v), 1);
	case JSON_INTEGER:
		n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return yaml_scalar(em, num, (size_t)n, 0);
	case JSON_REAL:
		n = snprintf(num, sizeof(num), "%.17g", json_real_value(v));
		return yaml_scalar(em, num, (size_t)n, 0);
	case JSON_TRUE:
		return yaml_scalar(em, "true", 4, 0);
	case JSON_FALSE:
		return yaml_scalar(em, "false", 5, 0);
	case JSON_NULL:
		return yaml_scalar(em, "null", 4, 0);
	}
	return -EINVAL;
}

int deploy_yaml_emit(json_t *docs, int multi, char **yaml, size_t *len)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	struct ybuf b = { 0 };
	size_t ndocs = multi ? json_array_size(docs) : 1;
	int rc = -EIO;

	*yaml = NULL;
	*len = 0;
	if (docs == NULL || (multi && !json_is_array(docs)))
		return -EINVAL;
	if (!yaml_emitter_initialize(&em))
		return -ENOMEM;
	yaml_emitter_set_output(&em, ybuf_write, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, -1); /* never fold long values such as the bundle */
	yaml_emitter_set_indent(&em, 2);

	if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || !yaml_emitter_emit(&em, &ev))
		goto fail;
	for (size_t i = 0; i < ndocs; i++) {
		if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0) ||
		    !yaml_emitter_emit(&em, &ev))
			goto fail;
		rc = yaml_node(&em, multi ? json_array_get(docs, i) : docs, 0);
		if (rc < 0)
			goto fail;
		rc = -EIO;
		if (!yaml_document_end_event_initialize(&ev, 1) || !yaml_emitter_emit(&em, &ev))
			goto fail;
	}
	if (!yaml_stream_end_event_initialize(&ev) || !yaml_emitter_emit(&em, &ev) ||
	    !yaml_emitter_flush(&em))
		goto fail;
	yaml_emitter_delete(&em);
	if (b.p == NULL)
		return -EIO;
	*yaml = b.p;
	*len = b.len;
	return 0;
fail:
	if (em.problem != NULL)
		log_error("deploy: YAML emitter: %s", em.problem);
	yaml_emitter_delete(&em);
	free(b.p);
	return rc;
}

/* ---- Kubernetes -------------------------------------------------------------------------------- */

/* Creating and later deleting (kubectl delete -f) a Namespace object for one of these would take
 * down the cluster's own workloads, so the manifest never contains them. */
static int builtin_namespace(const char *ns)
{
	return strcmp(ns, "default") == 0 || strncmp(ns, "kube-", 5) == 0;
}

static json_t *k8s_docs(const struct resolved *r)
{
	json_t *docs = NULL, *doc = NULL, *env = NULL;
	char *bundle64 = NULL;

	docs = json_array();
	if (docs == NULL)
		goto fail;
	if (!builtin_namespace(r->namespace_)) {
		doc = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Namespace",
				"metadata", "name", r->namespace_);
		if (json_array_append_new(docs, doc) < 0)
			goto fail;
	}
	/* The Defender does not call the Kubernetes API: no token is mounted into its pods. */
	doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:b}", "apiVersion", "v1", "kind", "ServiceAccount",
			"metadata", "name", DEPLOY_SERVICE_ACCOUNT, "namespace", r->namespace_,
			"automountServiceAccountToken", 0);
	if (json_array_append_new(docs, doc) < 0)
		goto fail;

	bundle64 = util_b64_encode(r->install_bundle, strlen(r->install_bundle));
	if (bundle64 == NULL)
		goto fail;
	doc = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "Secret",
			"metadata", "name", DEPLOY_SECRET_NAME, "namespace", r->namespace_,
			"type", "Opaque", "data", DEPLOY_SECRET_KEY, bundle64);
	if (json_array_append_new(docs, doc) < 0)
		goto fail;

	env = json_pack("[o, o, o, o, o, {s:s, s:{s:{s:s, s:s}}}]",
			env_var("WS_ADDRESS", r->ws_address),
			env_var("DEFENDER_TYPE", "daemonset"),
			env_var("DEFENDER_CLUSTER", r->cluster),
			env_var("DOCKER_CLIENT_ADDRESS", r->docker_socket),
			env_var("GARRISON_DATA_DIR", r->data_dir),
			"name", "INSTALL_BUNDLE", "valueFrom", "secretKeyRef",
			"name", DEPLOY_SECRET_NAME, "key", DEPLOY_SECRET_KEY);
	if (env == NULL)
		goto fail;
	/* hostPID/hostNetwork/privileged for the same reasons as on ECS. ClusterFirstWithHostNet keeps
	 * cluster DNS working with host networking, for a Console addressed by a Service name. The
	 * socket volume has type Socket so that a node without Docker fails visibly instead of getting
	 * an empty directory at that path. */
	doc = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}},"
			" s:{s:{s:{s:s}}, s:{s:{s:{s:s}},"
			"   s:{s:s, s:b, s:b, s:s,"
			"      s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}],"
			"      s:[{s:s, s:s, s:o, s:{s:b, s:b},"
			"          s:{s:{s:s}, s:{s:s, s:s}},"
			"          s:[{s:s, s:s}, {s:s, s:s}]}],"
			"      s:[{s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}]}}}}",
			"apiVersion", "apps/v1", "kind", "DaemonSet",
			"metadata", "name", DEPLOY_DAEMONSET_NAME, "namespace", r->namespace_,
			"labels", "app", DEPLOY_CONTAINER_NAME,
			"spec",
			"selector", "matchLabels", "app", DEPLOY_CONTAINER_NAME,
			"template", "metadata", "labels", "app", DEPLOY_CONTAINER_NAME,
			"spec",
			"serviceAccountName", DEPLOY_SERVICE_ACCOUNT,
			"hostPID", 1, "hostNetwork", 1, "dnsPolicy", "ClusterFirstWithHostNet",
			"tolerations",
			"key", "node-role.kubernetes.io/control-plane", "operator", "Exists",
			"effect", "NoSchedule",
			"key", "node-role.kubernetes.io/master", "operator", "Exists",
			"effect", "NoSchedule",
			"containers",
			"name", DEPLOY_CONTAINER_NAME, "image", r->image, "env", env,
			"securityContext", "privileged", 1, "readOnlyRootFilesystem", 1,
			"resources", "limits", "memory", "512Mi", "requests", "cpu", "100m",
			"memory", "128Mi",
			"volumeMounts",
			"name", VOL_DATA, "mountPath", r->data_dir,
			"name", VOL_DOCKER, "mountPath", r->docker_socket,
			"volumes",
			"name", VOL_DATA, "hostPath", "path", r->data_dir, "type", "DirectoryOrCreate",
			"name", VOL_DOCKER, "hostPath", "path", r->docker_socket, "type", "Socket");
	env = NULL;
	if (json_array_append_new(docs, doc) < 0)
		goto fail;
	free(bundle64);
	return docs;
fail:
	json_decref(env);
	json_decref(docs);
	free(bundle64);
	return NULL;
}

int deploy_daemonset_yaml(const struct deploy_opts *o, char **yaml, size_t *len)
{
	struct resolved r;
	char err[160];
	json_t *docs;
	int rc;

	*yaml = NULL;
	*len = 0;
	rc = resolve(o, &r, err, sizeof(err));
	if (rc < 0) {
		log_warn("deploy: DaemonSet not built: %s", err);
		return rc;
	}
	docs = k8s_docs(&r);
	if (docs == NULL) {
		log_error("deploy: out of memory building the DaemonSet");
		return -ENOMEM;
	}
	rc = deploy_yaml_emit(docs, 1, yaml, len);
	json_decref(docs);
	return rc;
}

/* ---- CLI options ------------------------------------------------------------------------------- */

int deploy_export_args_parse(int argc, char **argv, struct deploy_export_args *a,
			     struct apiclient_opts *conn, char *err, size_t errlen)
{
	const char *format = NULL, *v;
	int rc;

	memset(a, 0, sizeof(*a));
	if (argc < 1 || argv[0] == NULL) {
		seterr(err, errlen, "expected \"ecs\" or \"daemonset\"");
		return -EINVAL;
	}
	if (strcmp(argv[0], "ecs") == 0) {
		a->kind = DEPLOY_EXPORT_ECS;
	} else if (strcmp(argv[0], "daemonset") == 0) {
		a->kind = DEPLOY_EXPORT_DAEMONSET;
	} else if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		a->help = 1;
		return 0;
	} else {
		seterr(err, errlen, "unknown deployment kind \"%.64s\" (expected ecs or daemonset)", argv[0]);
		return -EINVAL;
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			a->help = 1;
			return 0;
		}
		if ((rc = apiclient_opt_value(argc, argv, &i, "--format", &v)) != 0) {
			format = v;
		} else if ((rc = apiclient_opt_value(argc, argv, &i, "--cluster", &v)) != 0) {
			a->cluster = v;
		} else if (a->kind == DEPLOY_EXPORT_ECS &&
			   (rc = apiclient_opt_value(argc, argv, &i, "--task-name", &v)) != 0) {
			a->task_name = v;
		} else if (a->kind == DEPLOY_EXPORT_DAEMONSET &&
			   (rc = apiclient_opt_value(argc, argv, &i, "--namespace", &v)) != 0) {
			a->namespace_ = v;
		} else if ((rc = apiclient_opt_value(argc, argv, &i, "--console-addr", &v)) != 0) {
			a->console_addr = v;
		} else if ((rc = apiclient_opt_value(argc, argv, &i, "--output", &v)) != 0 ||
			   (rc = apiclient_opt_value(argc, argv, &i, "-o", &v)) != 0) {
			a->output = v;
		} else if ((rc = apiclient_opt_parse(conn, argc, argv, &i)) != 0) {
			/* a connection option */
		} else {
			seterr(err, errlen, "unknown option \"%.64s\"", arg);
			return -EINVAL;
		}
		if (rc < 0) {
			seterr(err, errlen, "option \"%.64s\" needs a value", arg);
			return -EINVAL;
		}
	}

	if (format == NULL)
		a->format = a->kind == DEPLOY_EXPORT_ECS ? DEPLOY_FORMAT_JSON : DEPLOY_FORMAT_YAML;
	else if (a->kind == DEPLOY_EXPORT_ECS && strcmp(format, "json") == 0)
		a->format = DEPLOY_FORMAT_JSON;
	else if (a->kind == DEPLOY_EXPORT_ECS && strcmp(format, "cloudformation") == 0)
		a->format = DEPLOY_FORMAT_CLOUDFORMATION;
	else if (a->kind == DEPLOY_EXPORT_DAEMONSET && strcmp(format, "yaml") == 0)
		a->format = DEPLOY_FORMAT_YAML;
	else {
		seterr(err, errlen, "format \"%.32s\" is not one of %s", format,
		       a->kind == DEPLOY_EXPORT_ECS ? "json, cloudformation" : "yaml");
		return -EINVAL;
	}
	/* The same rules as the generator applies, so mistakes show here as usage errors. */
	if (a->cluster != NULL && !valid_text(a->cluster, CLUSTER_MAX)) {
		seterr(err, errlen, "--cluster must be at most %d printable characters", CLUSTER_MAX);
		return -EINVAL;
	}
	if (a->task_name != NULL && !valid_family(a->task_name)) {
		seterr(err, errlen, "--task-name must be 1-%d letters, digits, '-' or '_'", FAMILY_MAX);
		return -EINVAL;
	}
	if (a->namespace_ != NULL && !valid_label(a->namespace_)) {
		seterr(err, errlen, "--namespace must be a lowercase RFC 1123 label");
		return -EINVAL;
	}
	if (a->console_addr != NULL && !valid_host(a->console_addr)) {
		seterr(err, errlen, "--console-addr must be a host name or IP address");
		return -EINVAL;
	}
	return 0;
}
