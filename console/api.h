/*
 * api: the Console's HTTPS REST API (libevent evhttp over bufferevent_openssl). api.c owns the
 * server, routing, authentication and response helpers; api_*.c hold the handlers. Paths are the
 * Prisma Cloud Compute ones: /api/v1/... and, as an alias, /api/vNN.NN/...
 * Handlers run on the API thread; they must not block for long (store calls are short).
 */
#ifndef GARRISON_CONSOLE_API_H
#define GARRISON_CONSOLE_API_H

#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "console.h"

#define API_MAX_BODY (1 << 20)          /* most routes */
#define API_MAX_SCAN_BODY (16u << 20)    /* images/evaluate, scans: a record with its packages */
#define API_MAX_FEED_BODY (64u << 20)    /* feeds/osv: larger feeds are imported in parts */

struct api_req {
	struct evhttp_request *req;
	struct console *c;
	enum evhttp_cmd_type method;
	char path[1024];        /* decoded, normalised to /api/v1/..., no query string */
	const char *param;      /* the {id} part of a route with a parameter (decoded), or NULL */
	char param_buf[256];
	struct evkeyvalq query;
	char user[128];         /* authenticated user, "" for public routes */
	void (*handler)(struct api_req *r); /* the route's handler */
	int deferred;           /* set by a handler that handed the request to a worker */
	struct collection **colls; /* every collection, loaded on first use (api_collections.c) */
	size_t ncolls;
	int colls_loaded;
};

/* Requests are heap-allocated by the dispatcher and freed after the handler returns, unless the
 * handler set deferred (then whoever completes it calls api_req_free). */
void api_req_free(struct api_req *r);
void api_unauthorized(struct api_req *r);

/* Sends a JSON body (the reference is stolen) with the status. */
void api_reply_json(struct api_req *r, int status, json_t *body);
/* Sends raw bytes with a content type. */
void api_reply_raw(struct api_req *r, int status, const char *ctype, const void *data, size_t len);
/* Sends {"err": message} with the status. */
void api_error(struct api_req *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Parses the request body as JSON. An empty body gives an empty object. 0, or -EINVAL after
 * having sent a 400 that says what is wrong. */
int api_body_json(struct api_req *r, json_t **out);
/* The same with a bound of max bytes, accepting an object or an array. */
int api_body_json_max(struct api_req *r, size_t max, json_t **out);
/* A query parameter (decoded), or NULL. */
const char *api_query(struct api_req *r, const char *name);
/* Parses offset/limit: 0, or -EINVAL after a 400. */
int api_paging(struct api_req *r, long *offset, long *limit);
/* Parses a boolean query parameter: -1 absent, 0, 1; -2 after a 400 for a bad value. */
int api_query_bool(struct api_req *r, const char *name);
void api_total_count(struct api_req *r, long total);

/* auth.c */
/* Checks username/password; 0 or -EACCES. Slow on purpose (scrypt): call it only from the
 * password worker, never on the API loop. */
int auth_check_password(struct console *c, const char *user, const char *password);
/* The password worker: a thread that runs password checks and completes the request back on the
 * API loop (base must have been made after evthread_use_pthreads()). */
int auth_worker_start(struct event_base *base);
void auth_worker_stop(void);
#define AUTH_DEFERRED 1
/* Creates a bearer token for user (malloc()ed), valid for AUTH_TOKEN_TTL seconds. */
int auth_token_new(struct console *c, const char *user, char **token);
/* Authenticates a request from its Authorization header; fills r->user. 0, -EACCES, or
 * AUTH_DEFERRED when a password must be checked: the worker then owns r and either runs
 * r->handler or answers 401 itself. */
int auth_request(struct api_req *r);
#define AUTH_TOKEN_TTL 3600

/* handlers */
void api_ping(struct api_req *r);
void api_authenticate(struct api_req *r);
void api_ca_pem(struct api_req *r);
void api_defenders_list(struct api_req *r);
void api_defenders_summary(struct api_req *r);
void api_defenders_names(struct api_req *r);
void api_defenders_delete(struct api_req *r);
void api_defenders_ecs_task(struct api_req *r);
void api_defenders_daemonset(struct api_req *r);
void api_defenders_install_bundle(struct api_req *r);
void api_defenders_bundle_revoke(struct api_req *r);
void api_radar_clusters(struct api_req *r);
void api_radar_container(struct api_req *r);
void api_radar_host(struct api_req *r);
void api_containers(struct api_req *r);
void api_images(struct api_req *r);
void api_hosts(struct api_req *r);
void api_collections_list(struct api_req *r);
void api_collections_create(struct api_req *r);
void api_collections_update(struct api_req *r);
void api_collections_delete(struct api_req *r);
void api_collections_usages(struct api_req *r);
void api_feeds_osv_put(struct api_req *r);
void api_feeds_osv_get(struct api_req *r);
void api_images_evaluate(struct api_req *r);
void api_scans_add(struct api_req *r);
void api_scans_list(struct api_req *r);
/* api_runtime.c (runtime defense) */
void api_rt_policy_get(struct api_req *r);
void api_rt_policy_put(struct api_req *r);
void api_rt_audits(struct api_req *r);
void api_rt_incidents(struct api_req *r);
void api_rt_incident_ack(struct api_req *r);
void api_rt_profiles(struct api_req *r);
void api_rt_profiles_download(struct api_req *r);
void api_rt_profiles_learn(struct api_req *r);
void api_rt_profile_learn(struct api_req *r);

/* api_collections.c: the collections named by ?collections= (comma separated or repeated), for
 * filtering. 0 with *n == 0 when none was asked for; -EINVAL after a 400 for an unknown name. */
struct collection;
int api_collections_filter(struct api_req *r, struct collection ***out, size_t *n);
void api_collections_filter_free(struct collection **v, size_t n);
/* Frees the collections a request loaded (api_req_free calls it). */
void api_collections_release(struct api_req *r);
/* Names of every collection (All and the stored ones) a subject belongs to. */
struct collection_subject;
json_t *api_collections_of(struct api_req *r, const struct collection_subject *s);
/* Collects a repeatable, comma-separated query parameter into out (at most max). */
size_t api_query_list(struct api_req *r, const char *name, char *buf, size_t buflen,
		      const char **out, size_t max);

#endif
