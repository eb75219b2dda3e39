/*
 * cluster_int: what the cluster_*.c files share and nobody else sees. Each source is one function
 * with the same contract (cl_source_fn); cluster.c runs them in order. The HTTP helper wraps
 * libcurl with the limits every metadata request needs (no proxy, no redirects, bounded body,
 * deadline). Nothing here keeps state between two cluster_resolve() calls.
 */
#ifndef GARRISON_CLUSTER_INT_H
#define GARRISON_CLUSTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <garrison/cluster.h>

/* One resolution in progress. */
struct cl_ctx {
	int timeout_ms;
	const char *host_root;
	json_t *fallback_meta;   /* cloud metadata learned from a source that had no name; owned */
	char unreachable[512];   /* base URL that could not be connected to ("" = none) */
};

/* What a source found. Both fields are owned by the answer. */
struct cl_answer {
	char *name;
	json_t *meta;            /* NULL when the source knows nothing about the cloud */
};

/* A source: returns 1 and fills a when it answers, 0 when it has no answer (it logged why: one
 * warning for a malformed or hostile answer, a debug line for an absent source), or -ENOMEM. */
typedef int (*cl_source_fn)(struct cl_ctx *c, struct cl_answer *a);

int cl_src_ecs_task(struct cl_ctx *c, struct cl_answer *a);
int cl_src_ecs_agent(struct cl_ctx *c, struct cl_answer *a);
int cl_src_ecs_config(struct cl_ctx *c, struct cl_answer *a);
int cl_src_gcp(struct cl_ctx *c, struct cl_answer *a);
int cl_src_azure(struct cl_ctx *c, struct cl_answer *a);
int cl_src_ec2(struct cl_ctx *c, struct cl_answer *a);
int cl_src_kubeconfig(struct cl_ctx *c, struct cl_answer *a);
int cl_src_node_ip(struct cl_ctx *c, struct cl_answer *a);

/* ---- HTTP (cluster_http.c) ---- */

struct cl_http {
	long status;
	char *body;              /* malloc()ed, NUL-terminated; may hold NULs (len counts all) */
	size_t len;
	int have_hdr;            /* the header asked for was in the answer */
	char hdr[128];           /* its value, trimmed and truncated */
	int too_big;             /* internal */
	const char *want_hdr;    /* internal */
};

/* One request. method is "GET" or "PUT" (a PUT sends an empty body). headers is a NULL-terminated
 * list of "Name: value" lines or NULL. want_hdr names a response header to capture, or NULL.
 * The request may use whatever time is left until deadline_ms (util_now_ms() clock).
 * Returns 0 when an answer arrived (any status; free it with cl_http_free()), or
 *   -ECONNREFUSED  no connection (refused, unreachable, name not resolved, connect timed out),
 *   -ETIMEDOUT     connected but the answer did not come in time,
 *   -EFBIG         the body exceeds CLUSTER_HTTP_MAX_BODY,
 *   -EINVAL        the URL is unusable,  -ENOMEM,  -EIO  anything else. */
int cl_http_request(const char *method, const char *url, const char *const *headers,
		    const char *want_hdr, int64_t deadline_ms, struct cl_http *resp);
void cl_http_free(struct cl_http *resp);
/* GETs url and parses a 200 answer as a JSON object (duplicate keys rejected). Returns 1 and a
 * new reference in *root, 0 when there is no usable answer, or -ENOMEM. A failure is logged as
 * the source's one warning (as a debug line for a 404, an absent service, or when quiet). */
int cl_http_get_json(const char *src, const char *what, const char *url,
		     const char *const *headers, int64_t deadline_ms, int quiet, json_t **root);
/* A short text for a cl_http_request() error. */
const char *cl_http_strerror(int err);

/* ---- helpers (cluster.c) ---- */

/* Logs the one warning for a rejected answer: "cluster: <src> answer rejected: <why>". */
void cl_reject(const char *src, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes s (len bytes) into buf with non-printable bytes as \xNN, cut at 64 bytes, for logs. */
const char *cl_escape(const char *s, size_t len, char *buf, size_t buflen);
/* Logs a failed request: debug when nothing answered (absent service), else a warning.
 * Returns 0, or err when it is -ENOMEM. */
int cl_http_fail(const char *src, const char *what, int err);
/* Copies a base URL from an environment variable (or def) into buf without a trailing '/'.
 * Returns 0, or -EINVAL (logged as a rejection of src) when it is too long or not http(s). */
int cl_base_url(const char *src, const char *env, const char *def, char *buf, size_t len);

/* A string member of a JSON object, or NULL when absent; *bad is set when present with
 * another type. */
const char *cl_json_str(json_t *obj, const char *key, int *bad);
/* Sets meta[key] = value when value is a plausible metadata string (printable ASCII, at most
 * 1024 bytes); silently skips anything else. Returns 0 or -ENOMEM. */
int cl_meta_set(json_t *meta, const char *key, const char *value);
/* Records meta as the fallback cloud metadata when there is none yet; takes the reference. */
void cl_fallback_meta(struct cl_ctx *c, json_t *meta);

struct cl_arn {
	char partition[32];
	char service[32];
	char region[64];
	char account[64];
	char resource[512];
};
/* Splits "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE". 0 or -EINVAL. */
int cl_arn_parse(const char *s, struct cl_arn *arn);
/* "us-west-2d" -> "us-west-2" (AWS availability zone to region) into buf. 0 or -EINVAL. */
int cl_aws_az_region(const char *az, char *buf, size_t len);

#endif
