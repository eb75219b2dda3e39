/*
 * api: HTTPS server, routing and response helpers for the REST API. Every request is parsed here
 * (method, normalised path, query), authenticated unless its route is public, and handed to one
 * handler. Bodies are capped at API_MAX_BODY and headers at 64 KiB by evhttp itself; anything that
 * does not parse gets a 4xx with a message, never a crash.
 */
#include "api.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <garrison/log.h>

struct route {
	enum evhttp_cmd_type method;
	const char *path;  /* exact, or a prefix ending in '/' followed by "*" for a parameter */
	void (*fn)(struct api_req *r);
	int public_;
};

static const struct route routes[] = {
	{ EVHTTP_REQ_GET, "/api/v1/_ping", api_ping, 1 },
	{ EVHTTP_REQ_POST, "/api/v1/authenticate", api_authenticate, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/certs/ca.pem", api_ca_pem, 1 },
	{ EVHTTP_REQ_GET, "/api/v1/defenders", api_defenders_list, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/defenders/summary", api_defenders_summary, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/defenders/names", api_defenders_names, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/defenders/ecs-task.json", api_defenders_ecs_task, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/defenders/daemonset.yaml", api_defenders_daemonset, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/defenders/install-bundle", api_defenders_install_bundle, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/defenders/install-bundle/revoke", api_defenders_bundle_revoke, 0 },
	{ EVHTTP_REQ_DELETE, "/api/v1/defenders/*", api_defenders_delete, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/radar/container/clusters", api_radar_clusters, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/radar/container", api_radar_container, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/radar/host", api_radar_host, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/containers", api_containers, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/images", api_images, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/hosts", api_hosts, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/collections", api_collections_list, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/collections", api_collections_create, 0 },
	{ EVHTTP_REQ_PUT, "/api/v1/collections/*", api_collections_update, 0 },
	{ EVHTTP_REQ_DELETE, "/api/v1/collections/*", api_collections_delete, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/collections/*/usages", api_collections_usages, 0 },
	{ EVHTTP_REQ_PUT, "/api/v1/feeds/osv", api_feeds_osv_put, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/feeds/osv", api_feeds_osv_get, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/images/evaluate", api_images_evaluate, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/scans", api_scans_add, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/scans", api_scans_list, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/policies/runtime/container", api_rt_policy_get, 0 },
	{ EVHTTP_REQ_PUT, "/api/v1/policies/runtime/container", api_rt_policy_put, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/policies/runtime/container", api_rt_policy_put, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/policies/runtime/host", api_rt_policy_get, 0 },
	{ EVHTTP_REQ_PUT, "/api/v1/policies/runtime/host", api_rt_policy_put, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/policies/runtime/host", api_rt_policy_put, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/audits/runtime/container", api_rt_audits, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/audits/runtime/host", api_rt_audits, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/audits/incidents", api_rt_incidents, 0 },
	{ EVHTTP_REQ_PATCH, "/api/v1/audits/incidents/acknowledge/*", api_rt_incident_ack, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/profiles/container", api_rt_profiles, 0 },
	{ EVHTTP_REQ_GET, "/api/v1/profiles/container/download", api_rt_profiles_download, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/profiles/container/learn", api_rt_profiles_learn, 0 },
	{ EVHTTP_REQ_POST, "/api/v1/profiles/container/*/learn", api_rt_profile_learn, 0 },
};

static struct event_base *api_base;

void api_reply_raw(struct api_req *r, int status, const char *ctype, const void *data, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	if (buf && len)
		evbuffer_add(buf, data, len);
	evhttp_send_reply(r->req, status, NULL, buf);
	if (buf)
		evbuffer_free(buf);
}

void api_reply_json(struct api_req *r, int status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (s == NULL) {
		api_reply_raw(r, 500, "application/json", "{\"err\":\"out of memory\"}", 23);
		return;
	}
	api_reply_raw(r, status, "application/json", s, strlen(s));
	free(s);
}

void api_error(struct api_req *r, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_error("api: %s %s: %s", evhttp_request_get_uri(r->req), "error", msg);
	api_reply_json(r, status, json_pack("{s:s}", "err", msg));
}

static int body_json(struct api_req *r, size_t max, int any_container, json_t **out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	unsigned char *data;

	*out = NULL;
	if (len == 0) {
		*out = json_object();
		return 0;
	}
	if (len > max) {
		api_error(r, 413, "request body larger than %zu bytes", max);
		return -EINVAL;
	}
	data = evbuffer_pullup(in, -1);
	*out = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (*out == NULL) {
		api_error(r, 400, "invalid JSON body: %s (line %d, column %d)", jerr.text, jerr.line,
			  jerr.column);
		return -EINVAL;
	}
	if (!json_is_object(*out) && !(any_container && json_is_array(*out))) {
		json_decref(*out);
		*out = NULL;
		api_error(r, 400, "the JSON body must be an object%s", any_container ? " or an array" : "");
		return -EINVAL;
	}
	return 0;
}

int api_body_json(struct api_req *r, json_t **out)
{
	return body_json(r, API_MAX_BODY, 0, out);
}

int api_body_json_max(struct api_req *r, size_t max, json_t **out)
{
	return body_json(r, max, 1, out);
}

const char *api_query(struct api_req *r, const char *name)
{
	return evhttp_find_header(&r->query, name);
}

static int parse_long(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int api_paging(struct api_req *r, long *offset, long *limit)
{
	const char *o = api_query(r, "offset"), *l = api_query(r, "limit");

	*offset = 0;
	*limit = 0;
	if (o && parse_long(o, offset) < 0) {
		api_error(r, 400, "offset must be a non-negative integer");
		return -EINVAL;
	}
	if (l && parse_long(l, limit) < 0) {
		api_error(r, 400, "limit must be a non-negative integer");
		return -EINVAL;
	}
	return 0;
}

int api_query_bool(struct api_req *r, const char *name)
{
	const char *v = api_query(r, name);

	if (v == NULL)
		return -1;
	if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
		return 1;
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
		return 0;
	api_error(r, 400, "%s must be true or false", name);
	return -2;
}

size_t api_query_list(struct api_req *r, const char *name, char *buf, size_t buflen,
			 const char **out, size_t max)
{
	struct evkeyval *kv;
	size_t n = 0, used = 0;

	TAILQ_FOREACH(kv, &r->query, next) {
		if (strcmp(kv->key, name) != 0)
			continue;
		for (const char *p = kv->value; *p && n < max;) {
			size_t len = strcspn(p, ",");
			if (len > 0 && used + len + 1 <= buflen) {
				memcpy(buf + used, p, len);
				buf[used + len] = '\0';
				out[n++] = buf + used;
				used += len + 1;
			}
			p += len;
			if (*p == ',')
				p++;
		}
	}
	return n;
}

void api_total_count(struct api_req *r, long total)
{
	char n[32];

	snprintf(n, sizeof(n), "%ld", total);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Total-Count", n);
}

/* "/api/v34.04/x" and "/api/v1/x" both become "/api/v1/x". 0, or -EINVAL. */
static int normalise_path(const char *in, char *out, size_t len)
{
	const char *p = in;
	int r;

	if (strncmp(p, "/api/v", 6) == 0) {
		const char *q = p + 6;
		while ((*q >= '0' && *q <= '9') || *q == '.')
			q++;
		if (q > p + 6 && (*q == '/' || *q == '\0'))
			p = q;
		else
			return -EINVAL;
		r = snprintf(out, len, "/api/v1%s", p);
	} else {
		r = snprintf(out, len, "%s", p);
	}
	if (r < 0 || (size_t)r >= len)
		return -EINVAL;
	/* Trailing slashes are not significant. */
	for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
		out[n - 1] = '\0';
	return 0;
}

/* Matches a route path where one "*" segment stands for the parameter (no '/' inside it). */
static int route_match(const char *pat, const char *path, const char **param, size_t *plen)
{
	const char *star = strchr(pat, '*');
	size_t pre, post, n = strlen(path);

	if (star == NULL)
		return strcmp(pat, path) == 0;
	pre = (size_t)(star - pat);
	post = strlen(star + 1);
	if (n <= pre + post || strncmp(path, pat, pre) != 0 ||
	    strcmp(path + n - post, star + 1) != 0)
		return 0;
	*param = path + pre;
	*plen = n - pre - post;
	return memchr(*param, '/', *plen) == NULL;
}

static const struct route *route_find(struct api_req *r, int *path_known)
{
	*path_known = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct route *rt = &routes[i];
		const char *param = NULL;
		size_t plen = 0;

		if (!route_match(rt->path, r->path, &param, &plen))
			continue;
		*path_known = 1;
		if (rt->method != r->method)
			continue;
		if (param) {
			if (plen >= sizeof(r->param_buf))
				return NULL;
			memcpy(r->param_buf, param, plen);
			r->param_buf[plen] = '\0';
			r->param = r->param_buf;
		}
		return rt;
	}
	return NULL;
}

void api_req_free(struct api_req *r)
{
	if (r == NULL)
		return;
	evhttp_clear_headers(&r->query);
	api_collections_release(r);
	free(r);
}

static void api_dispatch(struct evhttp_request *req, void *arg)
{
	struct api_req *r = calloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw_path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *raw_query = uri ? evhttp_uri_get_query(uri) : NULL;
	char *decoded = NULL;
	const struct route *rt;
	size_t dlen = 0;
	int known, a;

	if (r == NULL) {
		evhttp_send_error(req, 503, "out of memory");
		return;
	}
	TAILQ_INIT(&r->query);
	r->req = req;
	r->c = arg;
	r->method = evhttp_request_get_command(req);
	if (raw_path == NULL)
		raw_path = "/";
	decoded = evhttp_uridecode(raw_path, 0, &dlen);
	/* A decoded path with an embedded NUL (strlen shorter than the size) is refused too. */
	if (decoded == NULL || strlen(decoded) != dlen ||
	    normalise_path(decoded, r->path, sizeof(r->path)) < 0) {
		api_error(r, 400, "bad request path");
		goto out;
	}
	if (raw_query && evhttp_parse_query_str(raw_query, &r->query) < 0) {
		api_error(r, 400, "bad query string");
		goto out;
	}
	rt = route_find(r, &known);
	if (rt == NULL) {
		if (known)
			api_error(r, 405, "method not allowed on %s", r->path);
		else if (strncmp(r->path, "/api/", 5) != 0 && r->method == EVHTTP_REQ_GET)
			api_reply_raw(r, 200, "text/html; charset=utf-8",
				      "<!doctype html><title>Garrison Console</title>"
				      "<p>Garrison Console. The REST API is under /api/v1/.</p>", 102);
		else
			api_error(r, 404, "no such endpoint: %s", r->path);
		goto out;
	}
	r->handler = rt->fn;
	if (!rt->public_) {
		a = auth_request(r);
		if (a == AUTH_DEFERRED) {
			r = NULL; /* owned by the password worker now */
			goto out;
		}
		if (a < 0) {
			api_unauthorized(r);
			goto out;
		}
	}
	rt->fn(r);
	if (r->deferred)
		r = NULL;
out:
	free(decoded);
	api_req_free(r);
}

void api_unauthorized(struct api_req *r)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "WWW-Authenticate",
			  "Basic realm=\"Garrison\"");
	api_error(r, 401, "authentication required");
}

static struct bufferevent *api_bevcb(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					      BEV_OPT_CLOSE_ON_FREE);
}

static SSL_CTX *api_ssl_ctx(struct console *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_path) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->key_path, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_error("api: cannot load the server certificate: %s",
			  ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void api_on_signal(evutil_socket_t fd, short what, void *arg)
{
	log_info("signal %d: stopping", (int)fd);
	event_base_loopbreak(arg);
}

void console_api_stop(void)
{
	if (api_base)
		event_base_loopbreak(api_base);
}

/* Splits "host:port" ("[v6]:port" too). */
static int split_addr(const char *addr, char *host, size_t hlen, int *port)
{
	const char *colon = strrchr(addr, ':');
	char *end;
	long p;
	size_t n;

	if (colon == NULL)
		return -EINVAL;
	n = (size_t)(colon - addr);
	if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') {
		addr++;
		n -= 2;
	}
	if (n >= hlen)
		return -EINVAL;
	memcpy(host, addr, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p <= 0 || p > 65535)
		return -EINVAL;
	*port = (int)p;
	return 0;
}

int console_api_run(struct console *c)
{
	struct evhttp *http = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	SSL_CTX *ctx = NULL;
	struct evhttp_bound_socket *bound;
	char host[128];
	int port, r = -EIO, one = 1;

	if (split_addr(c->api_addr, host, sizeof(host), &port) < 0) {
		log_error("api: bad --api-addr %s (want HOST:PORT)", c->api_addr);
		return -EINVAL;
	}
	evthread_use_pthreads();
	api_base = event_base_new();
	if (api_base && auth_worker_start(api_base) < 0) {
		event_base_free(api_base);
		api_base = NULL;
	}
	ctx = api_ssl_ctx(c);
	if (api_base == NULL || ctx == NULL)
		goto out;
	http = evhttp_new(api_base);
	if (http == NULL)
		goto out;
	evhttp_set_bevcb(http, api_bevcb, ctx);
	evhttp_set_gencb(http, api_dispatch, c);
	/* the largest body of any route; each route checks its own bound (api_body_json*) */
	evhttp_set_max_body_size(http, API_MAX_FEED_BODY);
	evhttp_set_max_headers_size(http, 64 * 1024);
	evhttp_set_timeout(http, 60);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					 EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_PATCH);
	bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (bound == NULL) {
		log_error("api: cannot listen on %s", c->api_addr);
		goto out;
	}
	/* Accepted sockets inherit it: evhttp writes headers and body separately, and without it a
	 * kept-alive client waits for its delayed ACK (40 ms) on every response. */
	if (setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one,
		       sizeof(one)) < 0)
		log_warn("api: cannot set TCP_NODELAY: %s", strerror(errno));
	sigint = evsignal_new(api_base, SIGINT, api_on_signal, api_base);
	sigterm = evsignal_new(api_base, SIGTERM, api_on_signal, api_base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	log_info("api: listening on https://%s", c->api_addr);
	event_base_dispatch(api_base);
	r = 0;
out:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (http)
		evhttp_free(http);
	SSL_CTX_free(ctx);
	auth_worker_stop();
	if (api_base)
		event_base_free(api_base);
	api_base = NULL;
	return r;
}
