/*
 * cluster: resolution of the cluster name and the host's cloud metadata. This file owns the
 * order of the sources, the validation of every name, and the helpers the source files share
 * (cluster_aws.c, cluster_gcp.c, cluster_azure.c, cluster_kube.c, cluster_node.c, cluster_http.c).
 * Guarantees: the resulting name always passes cluster_name_check(); each rejected answer costs
 * one warning line; only allocation failure makes cluster_resolve() fail.
 */
#include <garrison/cluster.h>

#include "cluster_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include <garrison/log.h>
#include <garrison/util.h>

void cluster_opts_from_env(struct cluster_opts *o)
{
	const char *off = getenv("GARRISON_CLOUD_METADATA");

	memset(o, 0, sizeof(*o));
	o->manual = getenv("DEFENDER_CLUSTER");
	o->host_root = getenv("GARRISON_HOST_ROOT");
	if (o->host_root != NULL && o->host_root[0] == '\0')
		o->host_root = NULL;
	o->timeout_ms = CLUSTER_TIMEOUT_MS_DEFAULT;
	o->cloud_metadata_off = off != NULL &&
				(strcasecmp(off, "off") == 0 || strcasecmp(off, "false") == 0 ||
				 strcmp(off, "0") == 0 || strcasecmp(off, "no") == 0);
}

/* The allowed set covers every provider's cluster naming rules (ECS, EKS, GKE, AKS), ARNs,
 * kubeconfig aliases such as gke_project_zone_name, and IPv4 literals, and leaves out quotes,
 * backslash, whitespace, markup and shell metacharacters, so the name is inert wherever it is
 * later shown or stored. */
static int name_char_ok(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("-_.:/@+=,~", ch) != NULL;
}

int cluster_name_check(const char *name, size_t len, const char **why)
{
	const char *reason = NULL;

	if (name == NULL || len == 0)
		reason = "empty name";
	else if (len > CLUSTER_NAME_MAX)
		reason = "name longer than 253 bytes";
	else {
		for (size_t i = 0; i < len && reason == NULL; i++) {
			unsigned char ch = (unsigned char)name[i];
			if (ch < 0x20 || ch == 0x7f)
				reason = "name contains a control character";
			else if (ch >= 0x80)
				reason = "name contains a non-ASCII byte";
			else if (ch == ' ')
				reason = "name contains whitespace";
			else if (ch == '"' || ch == '\'' || ch == '`')
				reason = "name contains a quote";
			else if (!name_char_ok(ch))
				reason = "name contains a disallowed character";
		}
	}
	if (reason == NULL)
		return 0;
	if (why != NULL)
		*why = reason;
	return -EINVAL;
}

const char *cl_escape(const char *s, size_t len, char *buf, size_t buflen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (buflen == 0)
		return "";
	for (size_t i = 0; s != NULL && i < len && i < 64; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '"') {
			if (o + 2 > buflen)
				break;
			buf[o++] = (char)ch;
		} else {
			if (o + 5 > buflen)
				break;
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	if (s != NULL && len > 64 && o + 4 <= buflen) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

void cl_reject(const char *src, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("cluster: %s answer rejected: %s", src, msg);
}

int cl_http_fail(const char *src, const char *what, int err)
{
	if (err == -ENOMEM)
		return err;
	if (err == -ECONNREFUSED)
		log_debug("cluster: %s: %s: %s", src, what, cl_http_strerror(err));
	else
		cl_reject(src, "%s: %s", what, cl_http_strerror(err));
	return 0;
}

int cl_base_url(const char *src, const char *env, const char *def, char *buf, size_t len)
{
	const char *v = getenv(env);
	size_t n;

	if (v == NULL || v[0] == '\0')
		v = def;
	n = strlen(v);
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (n == 0 || n >= len || n > 400 ||
	    (strncasecmp(v, "http://", 7) != 0 && strncasecmp(v, "https://", 8) != 0)) {
		cl_reject(src, "%s is not an http(s) URL of at most 400 bytes", env);
		return -EINVAL;
	}
	memcpy(buf, v, n);
	buf[n] = '\0';
	return 0;
}

const char *cl_json_str(json_t *obj, const char *key, int *bad)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (v == NULL || json_is_null(v))
		return NULL;
	if (!json_is_string(v)) {
		*bad = 1;
		return NULL;
	}
	return json_string_value(v);
}

int cl_meta_set(json_t *meta, const char *key, const char *value)
{
	size_t n;

	if (value == NULL)
		return 0;
	n = strlen(value);
	if (n == 0 || n > 1024)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)value[i] < 0x20 || (unsigned char)value[i] >= 0x7f)
			return 0;
	if (json_object_set_new(meta, key, json_string(value)) < 0)
		return -ENOMEM;
	return 0;
}

void cl_fallback_meta(struct cl_ctx *c, json_t *meta)
{
	if (meta == NULL)
		return;
	if (c->fallback_meta != NULL || json_object_size(meta) == 0) {
		json_decref(meta);
		return;
	}
	c->fallback_meta = meta;
}

/* Copies field i (0-based, ':'-separated) of s into buf; the last field takes the rest. */
static int arn_field(const char *s, int i, int last, char *buf, size_t len)
{
	const char *p = s, *e;
	size_t n;

	for (; i > 0; i--) {
		p = strchr(p, ':');
		if (p == NULL)
			return -EINVAL;
		p++;
	}
	e = last ? p + strlen(p) : strchr(p, ':');
	if (e == NULL)
		return -EINVAL;
	n = (size_t)(e - p);
	if (n >= len)
		return -EINVAL;
	memcpy(buf, p, n);
	buf[n] = '\0';
	return 0;
}

int cl_arn_parse(const char *s, struct cl_arn *arn)
{
	char head[8];

	memset(arn, 0, sizeof(*arn));
	if (s == NULL || strlen(s) > 1024)
		return -EINVAL;
	if (arn_field(s, 0, 0, head, sizeof(head)) < 0 || strcmp(head, "arn") != 0 ||
	    arn_field(s, 1, 0, arn->partition, sizeof(arn->partition)) < 0 ||
	    arn_field(s, 2, 0, arn->service, sizeof(arn->service)) < 0 ||
	    arn_field(s, 3, 0, arn->region, sizeof(arn->region)) < 0 ||
	    arn_field(s, 4, 0, arn->account, sizeof(arn->account)) < 0 ||
	    arn_field(s, 5, 1, arn->resource, sizeof(arn->resource)) < 0)
		return -EINVAL;
	if (arn->partition[0] == '\0' || arn->service[0] == '\0' || arn->resource[0] == '\0')
		return -EINVAL;
	return 0;
}

int cl_aws_az_region(const char *az, char *buf, size_t len)
{
	size_t n = az ? strlen(az) : 0;

	/* us-west-2d, and local zones such as us-west-2-lax-1a, end in a digit and letters */
	while (n > 0 && az[n - 1] >= 'a' && az[n - 1] <= 'z')
		n--;
	if (n < 2 || n >= len || az[n - 1] < '0' || az[n - 1] > '9')
		return -EINVAL;
	memcpy(buf, az, n);
	buf[n] = '\0';
	return 0;
}

static const char *host_root_default(const struct cluster_opts *o)
{
	const char *env = getenv("GARRISON_HOST_ROOT");

	if (o->host_root != NULL && o->host_root[0] != '\0')
		return o->host_root;
	if (env != NULL && env[0] != '\0')
		return env;
	if (access("/proc/1/root/", R_OK | X_OK) == 0)
		return "/proc/1/root";
	return "/";
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	/* Never undone: other modules may use libcurl too, and the global state is reachable. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const struct {
	const char *name;
	cl_source_fn fn;
	int cloud; /* a network metadata service, skipped when cloud metadata is off */
} cl_sources[] = {
	{ "ecs-task-metadata", cl_src_ecs_task, 0 },
	{ "ecs-agent", cl_src_ecs_agent, 0 },
	{ "ecs-config", cl_src_ecs_config, 0 },
	{ "gcp", cl_src_gcp, 1 },
	{ "azure", cl_src_azure, 1 },
	{ "ec2-tags", cl_src_ec2, 1 },
	{ "kubeconfig", cl_src_kubeconfig, 0 },
	{ "node-ip", cl_src_node_ip, 0 },
};

int cluster_resolve(const struct cluster_opts *o, struct cluster_identity *out)
{
	struct cl_ctx c;
	struct cl_answer a = { NULL, NULL };
	const char *source = NULL, *why = NULL;
	char esc[300];
	int r;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	c.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : CLUSTER_TIMEOUT_MS_DEFAULT;
	c.host_root = host_root_default(o);
	pthread_once(&curl_once, curl_init_once);

	if (o->manual != NULL && o->manual[0] != '\0') {
		size_t n = strlen(o->manual);
		if (cluster_name_check(o->manual, n, &why) == 0) {
			a.name = strdup(o->manual);
			if (a.name == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			source = "manual";
		} else {
			cl_reject("manual", "DEFENDER_CLUSTER \"%s\": %s",
				  cl_escape(o->manual, n, esc, sizeof(esc)), why);
		}
	}
	for (size_t i = 0; source == NULL && i < ARRAY_SIZE(cl_sources); i++) {
		if (cl_sources[i].cloud && o->cloud_metadata_off) {
			log_debug("cluster: %s skipped: cloud metadata is off", cl_sources[i].name);
			continue;
		}
		r = cl_sources[i].fn(&c, &a);
		if (r < 0)
			goto fail;
		if (r > 0)
			source = cl_sources[i].name;
	}
	if (source == NULL) {
		a.name = strdup("unknown");
		if (a.name == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		source = "none";
	}
	if (a.meta == NULL) {
		a.meta = c.fallback_meta ? c.fallback_meta : json_object();
		c.fallback_meta = NULL;
		if (a.meta == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	out->source = strdup(source);
	if (out->source == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	out->name = a.name;
	out->cloud_metadata = a.meta;
	json_decref(c.fallback_meta);
	log_info("cluster: name \"%s\" from %s", out->name, out->source);
	return 0;
fail:
	free(a.name);
	json_decref(a.meta);
	json_decref(c.fallback_meta);
	free(out->source);
	memset(out, 0, sizeof(*out));
	return r;
}

void cluster_identity_clear(struct cluster_identity *id)
{
	if (id == NULL)
		return;
	free(id->name);
	free(id->source);
	json_decref(id->cloud_metadata);
	memset(id, 0, sizeof(*id));
}
