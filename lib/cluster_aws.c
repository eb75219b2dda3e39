/*
 * cluster_aws: the AWS sources. ECS first, because a Defender running as an ECS daemon task knows
 * its cluster for certain: the task metadata endpoint v4 (${ECS_CONTAINER_METADATA_URI_V4}/task),
 * the ECS agent's introspection API on the host's loopback (GET /v1/metadata), and the agent's
 * configuration file on the host (ECS_CLUSTER in /etc/ecs/ecs.config). Then, for EKS nodes, the
 * EC2 instance tag eks:cluster-name through IMDSv2, with the instance identity document as the
 * host's cloud metadata. The ECS agent is loopback and not a cloud metadata service, so it is
 * asked even when cloud metadata is off.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/log.h>
#include <garrison/util.h>

#define ECS_CONFIG_MAX (64 * 1024)
#define EC2_TOKEN_MAX 512

/* Builds the answer from an ECS JSON object with a "Cluster" member (a name or a cluster ARN).
 * arn_key names the member whose ARN gives region and account when Cluster is a plain name. */
static int ecs_answer(const char *src, json_t *root, const char *arn_key, struct cl_answer *a)
{
	struct cl_arn arn, res;
	const char *cluster, *name, *why = NULL, *res_arn, *az, *launch, *env;
	const char *region = NULL, *account = NULL;
	char esc[300], az_region[64], exec_env[64];
	json_t *meta = NULL;
	int bad = 0, ignored = 0, have_res = 0;

	cluster = cl_json_str(root, "Cluster", &bad);
	if (cluster == NULL) {
		cl_reject(src, "%s", bad ? "\"Cluster\" is not a string" : "no \"Cluster\" member");
		return 0;
	}
	name = cluster;
	if (strncmp(cluster, "arn:", 4) == 0) {
		if (cl_arn_parse(cluster, &arn) < 0 || strcmp(arn.service, "ecs") != 0 ||
		    strncmp(arn.resource, "cluster/", 8) != 0 || strchr(arn.resource + 8, '/')) {
			cl_reject(src, "\"Cluster\" is not an ECS cluster ARN: \"%s\"",
				  cl_escape(cluster, strlen(cluster), esc, sizeof(esc)));
			return 0;
		}
		name = cluster + strlen(cluster) - strlen(arn.resource + 8);
		region = arn.region;
		account = arn.account;
	}
	if (cluster_name_check(name, strlen(name), &why) < 0) {
		cl_reject(src, "\"Cluster\" \"%s\": %s", cl_escape(name, strlen(name), esc, sizeof(esc)),
			  why);
		return 0;
	}

	/* the rest is metadata: a member of the wrong type is left out, not fatal */
	res_arn = cl_json_str(root, arn_key, &ignored);
	az = cl_json_str(root, "AvailabilityZone", &ignored);
	launch = cl_json_str(root, "LaunchType", &ignored);
	if (res_arn != NULL && cl_arn_parse(res_arn, &res) == 0) {
		have_res = 1;
		if (region == NULL || region[0] == '\0')
			region = res.region;
		if (account == NULL || account[0] == '\0')
			account = res.account;
	}
	if ((region == NULL || region[0] == '\0') && az != NULL &&
	    cl_aws_az_region(az, az_region, sizeof(az_region)) == 0)
		region = az_region;
	env = getenv("AWS_EXECUTION_ENV");
	if ((env == NULL || strncmp(env, "AWS_ECS_", 8) != 0) && launch != NULL &&
	    strlen(launch) < 32) {
		snprintf(exec_env, sizeof(exec_env), "AWS_ECS_%s", launch);
		env = exec_env;
	} else if (env != NULL && strncmp(env, "AWS_ECS_", 8) != 0) {
		env = NULL;
	}

	meta = json_object();
	a->name = strdup(name);
	if (meta == NULL || a->name == NULL)
		goto fail;
	if (cl_meta_set(meta, "provider", "aws") < 0 ||
	    cl_meta_set(meta, "accountID", account) < 0 ||
	    cl_meta_set(meta, "region", region) < 0 ||
	    cl_meta_set(meta, "resourceID", have_res ? res_arn : NULL) < 0 ||
	    cl_meta_set(meta, "awsExecutionEnv", env) < 0)
		goto fail;
	a->meta = meta;
	return 1;
fail:
	json_decref(meta);
	free(a->name);
	a->name = NULL;
	return -ENOMEM;
}

int cl_src_ecs_task(struct cl_ctx *c, struct cl_answer *a)
{
	static const char src[] = "ecs-task-metadata";
	const char *base = getenv("ECS_CONTAINER_METADATA_URI_V4");
	char url[600];
	json_t *root = NULL;
	size_t n;
	int r;

	if (base == NULL || base[0] == '\0') {
		log_debug("cluster: %s: ECS_CONTAINER_METADATA_URI_V4 not set", src);
		return 0;
	}
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	if (n == 0 || n > 500 ||
	    (strncasecmp(base, "http://", 7) != 0 && strncasecmp(base, "https://", 8) != 0)) {
		cl_reject(src, "ECS_CONTAINER_METADATA_URI_V4 is not an http URL of at most 500 bytes");
		return 0;
	}
	snprintf(url, sizeof(url), "%.*s/task", (int)n, base);
	r = cl_http_get_json(src, "GET /task", url, NULL, util_now_ms() + c->timeout_ms, 0, &root);
	if (r <= 0)
		return r;
	r = ecs_answer(src, root, "TaskARN", a);
	json_decref(root);
	return r;
}

int cl_src_ecs_agent(struct cl_ctx *c, struct cl_answer *a)
{
	static const char src[] = "ecs-agent";
	char base[512], url[600];
	json_t *root = NULL;
	int r;

	if (cl_base_url(src, "GARRISON_ECS_AGENT_URI", "http://127.0.0.1:51678", base,
			sizeof(base)) < 0)
		return 0;
	snprintf(url, sizeof(url), "%s/v1/metadata", base);
	r = cl_http_get_json(src, "GET /v1/metadata", url, NULL, util_now_ms() + c->timeout_ms, 0,
			     &root);
	if (r <= 0)
		return r;
	r = ecs_answer(src, root, "ContainerInstanceArn", a);
	json_decref(root);
	return r;
}

static int is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

int cluster_ecs_config_parse(const char *text, size_t len, char **value, const char **why)
{
	const char *p = text, *end = text + len, *val = NULL;
	size_t val_len = 0;
	int found = 0;

	*value = NULL;
	if (memchr(text, '\0', len) != NULL) {
		*why = "file contains a NUL byte";
		return -EINVAL;
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *ls = p, *le, *eq, *ke;

		if (eol == NULL)
			eol = end;
		p = eol + 1;
		le = eol;
		while (ls < le && is_space(*ls))
			ls++;
		while (le > ls && is_space(le[-1]))
			le--;
		if (ls == le || *ls == '#' || *ls == ';')
			continue;
		if (le - ls > 7 && strncmp(ls, "export", 6) == 0 && is_space(ls[6])) {
			ls += 7;
			while (ls < le && is_space(*ls))
				ls++;
		}
		eq = memchr(ls, '=', (size_t)(le - ls));
		if (eq == NULL)
			continue;
		ke = eq;
		while (ke > ls && is_space(ke[-1]))
			ke--;
		if (ke - ls != 11 || strncmp(ls, "ECS_CLUSTER", 11) != 0)
			continue;
		val = eq + 1;
		while (val < le && is_space(*val))
			val++;
		val_len = (size_t)(le - val);
		if (val_len >= 2 && (val[0] == '"' || val[0] == '\'') && val[val_len - 1] == val[0]) {
			val++;
			val_len -= 2;
		}
		found = 1; /* the last assignment wins, as in a shell or systemd */
	}
	if (!found || val_len == 0)
		return -ENOENT;
	if (cluster_name_check(val, val_len, why) < 0)
		return -EINVAL;
	*value = strndup(val, val_len);
	return *value ? 0 : -ENOMEM;
}

int cl_src_ecs_config(struct cl_ctx *c, struct cl_answer *a)
{
	static const char src[] = "ecs-config";
	const char *why = NULL;
	char path[4096], *text = NULL, *value = NULL;
	size_t len = 0;
	int r;

	r = snprintf(path, sizeof(path), "%s/etc/ecs/ecs.config",
		     strcmp(c->host_root, "/") == 0 ? "" : c->host_root);
	if (r < 0 || (size_t)r >= sizeof(path)) {
		cl_reject(src, "host root path too long");
		return 0;
	}
	r = util_read_file(path, ECS_CONFIG_MAX, &text, &len);
	if (r == -ENOENT || r == -ENOTDIR) {
		log_debug("cluster: %s: no %s", src, path);
		return 0;
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		cl_reject(src, "%s: %s", path, r == -EFBIG ? "larger than 64 KiB" : strerror(-r));
		return 0;
	}
	r = cluster_ecs_config_parse(text, len, &value, &why);
	free(text);
	if (r == -ENOENT) {
		log_debug("cluster: %s: no ECS_CLUSTER in %s", src, path);
		return 0;
	}
	if (r == -EINVAL) {
		cl_reject(src, "ECS_CLUSTER in %s: %s", path, why);
		return 0;
	}
	if (r < 0)
		return r;
	a->name = value;
	return 1;
}

/* The instance identity document as cloud metadata, best effort: NULL when unavailable. */
static int ec2_identity_meta(const char *base, const char *const *hdrs, int64_t deadline,
			     json_t **out)
{
	char url[600];
	json_t *doc = NULL, *meta = NULL;
	int r, ignored = 0;

	*out = NULL;
	snprintf(url, sizeof(url), "%s/latest/dynamic/instance-identity/document", base);
	r = cl_http_get_json("ec2-tags", "identity document", url, hdrs, deadline, 1, &doc);
	if (r <= 0)
		return r;
	meta = json_object();
	if (meta == NULL)
		goto fail;
	if (cl_meta_set(meta, "provider", "aws") < 0 ||
	    cl_meta_set(meta, "accountID", cl_json_str(doc, "accountId", &ignored)) < 0 ||
	    cl_meta_set(meta, "region", cl_json_str(doc, "region", &ignored)) < 0 ||
	    cl_meta_set(meta, "resourceID", cl_json_str(doc, "instanceId", &ignored)) < 0 ||
	    cl_meta_set(meta, "type", cl_json_str(doc, "instanceType", &ignored)) < 0 ||
	    cl_meta_set(meta, "image", cl_json_str(doc, "imageId", &ignored)) < 0)
		goto fail;
	json_decref(doc);
	*out = meta;
	return 0;
fail:
	json_decref(doc);
	json_decref(meta);
	return -ENOMEM;
}

int cl_src_ec2(struct cl_ctx *c, struct cl_answer *a)
{
	static const char src[] = "ec2-tags";
	static const char *const put_hdrs[] = { "X-aws-ec2-metadata-token-ttl-seconds: 60", NULL };
	const char *hdrs[2] = { NULL, NULL }, *why = NULL;
	char base[512], url[600], tok_hdr[EC2_TOKEN_MAX + 64], esc[300];
	struct cl_http resp;
	int64_t deadline = util_now_ms() + c->timeout_ms;
	json_t *meta = NULL;
	char *name = NULL;
	int r;

	if (cl_base_url(src, "AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254", base,
			sizeof(base)) < 0)
		return 0;
	if (strcmp(base, c->unreachable) == 0) {
		log_debug("cluster: %s: %s did not answer the previous source either", src, base);
		return 0;
	}
	snprintf(url, sizeof(url), "%s/latest/api/token", base);
	r = cl_http_request("PUT", url, put_hdrs, NULL, deadline, &resp);
	if (r < 0)
		return cl_http_fail(src, "PUT /latest/api/token", r);
	if (resp.status == 200) {
		if (resp.len == 0 || resp.len > EC2_TOKEN_MAX ||
		    strspn(resp.body, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789+/=-_.") != resp.len) {
			cl_reject(src, "session token of %zu bytes is not base64 text", resp.len);
			cl_http_free(&resp);
			return 0;
		}
		snprintf(tok_hdr, sizeof(tok_hdr), "X-aws-ec2-metadata-token: %s", resp.body);
		hdrs[0] = tok_hdr;
	} else if (resp.status == 403) {
		log_debug("cluster: %s: IMDS refused a session token (HTTP 403): disabled", src);
		cl_http_free(&resp);
		return 0;
	} else {
		/* an IMDSv1-only service does not know the token call: go on without one */
		log_debug("cluster: %s: PUT /latest/api/token: HTTP %ld, trying IMDSv1", src,
			  resp.status);
	}
	cl_http_free(&resp);

	snprintf(url, sizeof(url), "%s/latest/meta-data/tags/instance/eks:cluster-name", base);
	r = cl_http_request("GET", url, hdrs, NULL, deadline, &resp);
	if (r < 0)
		return cl_http_fail(src, "GET tags/instance/eks:cluster-name", r);
	if (resp.status == 200) {
		if (cluster_name_check(resp.body, resp.len, &why) < 0) {
			cl_reject(src, "eks:cluster-name \"%s\": %s",
				  cl_escape(resp.body, resp.len, esc, sizeof(esc)), why);
			cl_http_free(&resp);
			return 0;
		}
		name = strndup(resp.body, resp.len);
		if (name == NULL) {
			cl_http_free(&resp);
			return -ENOMEM;
		}
	} else if (resp.status != 404) {
		cl_reject(src, "GET tags/instance/eks:cluster-name: HTTP %ld%s", resp.status,
			  resp.status == 401 ? " (session token refused)" : "");
		cl_http_free(&resp);
		return 0;
	}
	cl_http_free(&resp);

	r = ec2_identity_meta(base, hdrs, deadline, &meta);
	if (r < 0) {
		free(name);
		return r;
	}
	if (name == NULL) {
		log_debug("cluster: %s: no eks:cluster-name instance tag", src);
		cl_fallback_meta(c, meta);
		return 0;
	}
	a->name = name;
	a->meta = meta;
	return 1;
}
