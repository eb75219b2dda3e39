/*
 * metaemu: a small cloud-metadata emulator for unit and integration tests (ECS agent and task
 * metadata, GCP metadata server, Azure IMDS, EC2 IMDSv2). It serves canned answers from a routes
 * file over HTTP (libevent evhttp), one thread, no blocking calls after start-up.
 *
 *   metaemu --listen ADDR:PORT --routes routes.json [--port-file F] [--log F]
 *
 * routes.json is an array of routes:
 *   {"method":"GET", "path":"/v1/metadata", "status":200,
 *    "file":"relative/to/the/routes/dir.json" | "body":"...", "repeat":1,
 *    "headers":{"Metadata-Flavor":"Google"},         response headers
 *    "requireHeaders":{"Metadata-Flavor":"Google"},  403 unless the request has these
 *    "imdsv2":true,                                   401 unless a token from PUT /latest/api/token
 *    "delayMs":0}
 * The path matches exactly, the query string ignored, unless the route's path holds a '?' (then
 * the whole request target must match). When any route is imdsv2, the emulator also serves
 * PUT /latest/api/token (header X-aws-ec2-metadata-token-ttl-seconds 1..21600; a PUT with
 * X-Forwarded-For gets 403). GET /__count answers {"total":N,"unmatched":N,"routes":{"GET
 * /path":N,...}} and is not counted itself. Port 0 picks a free port, written to --port-file
 * (atomically, so its appearance means the emulator listens). SIGTERM or SIGINT: delayed answers
 * still pending get 503, then it exits 0. Bad arguments or routes: a message and exit 2.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <jansson.h>

#include <garrison/util.h>

#define EMU_BODY_MAX (16u << 20)
#define EMU_TOKENS 64
#define EMU_DELAY_MAX_MS 600000

struct route {
	char *method;
	char *path;
	int status;
	char *body;
	size_t body_len;
	json_t *headers;  /* object of strings, or NULL */
	json_t *require;  /* object of strings, or NULL */
	int imdsv2;
	int delay_ms;
	unsigned long hits;
};

struct pending;

struct emu {
	struct event_base *base;
	struct evhttp *http;
	struct route *routes;
	size_t nroutes;
	int any_imdsv2;
	char *tokens[EMU_TOKENS];
	size_t next_token;
	unsigned long total, unmatched;
	struct pending *pending;
	FILE *log;
};

struct pending {
	struct emu *e;
	struct evhttp_request *req;
	const struct route *rt;
	struct event *ev;
	struct pending *next, **prevp;
};

static const char *emu_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Status";
	}
}

static const char *emu_method(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

static void emu_send_text(struct evhttp_request *req, int status, const char *ctype,
			  const char *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();

	if (ctype != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
	if (buf != NULL && len > 0)
		evbuffer_add(buf, body, len);
	evhttp_send_reply(req, status, emu_reason(status), buf);
	if (buf != NULL)
		evbuffer_free(buf);
}

static void emu_send_route(struct evhttp_request *req, const struct route *rt)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *k;
	json_t *v;
	int have_ctype = 0;

	json_object_foreach(rt->headers, k, v) {
		evhttp_add_header(out, k, json_string_value(v));
		if (strcasecmp(k, "Content-Type") == 0)
			have_ctype = 1;
	}
	emu_send_text(req, rt->status, have_ctype ? NULL : "text/plain", rt->body, rt->body_len);
}

static void emu_pending_fire(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	*p->prevp = p->next;
	if (p->next != NULL)
		p->next->prevp = p->prevp;
	emu_send_route(p->req, p->rt);
	event_free(p->ev);
	free(p);
}

static void emu_count(struct emu *e, struct evhttp_request *req)
{
	json_t *j = json_object(), *routes = json_object();
	char key[600], *text = NULL;

	if (j == NULL || routes == NULL)
		goto out;
	for (size_t i = 0; i < e->nroutes; i++) {
		json_t *old;

		snprintf(key, sizeof(key), "%s %s", e->routes[i].method, e->routes[i].path);
		old = json_object_get(routes, key);
		json_object_set_new(routes, key,
				    json_integer((json_int_t)e->routes[i].hits +
						 (old ? json_integer_value(old) : 0)));
	}
	json_object_set_new(j, "total", json_integer((json_int_t)e->total));
	json_object_set_new(j, "unmatched", json_integer((json_int_t)e->unmatched));
	json_object_set(j, "routes", routes);
	text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
out:
	if (text != NULL)
		emu_send_text(req, 200, "application/json", text, strlen(text));
	else
		emu_send_text(req, 500, "text/plain", "oom", 3);
	free(text);
	json_decref(routes);
	json_decref(j);
}

static void emu_token(struct emu *e, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *ttl = evhttp_find_header(in, "X-aws-ec2-metadata-token-ttl-seconds");
	char *tok, *end = NULL;
	long v;

	if (evhttp_find_header(in, "X-Forwarded-For") != NULL) {
		emu_send_text(req, 403, "text/plain", "forbidden", 9);
		return;
	}
	errno = 0;
	v = ttl ? strtol(ttl, &end, 10) : 0;
	if (ttl == NULL || errno != 0 || end == ttl || *end != '\0' || v < 1 || v > 21600) {
		emu_send_text(req, 400, "text/plain", "bad ttl", 7);
		return;
	}
	tok = util_random_hex(28);
	if (tok == NULL) {
		emu_send_text(req, 500, "text/plain", "oom", 3);
		return;
	}
	free(e->tokens[e->next_token]);
	e->tokens[e->next_token] = tok;
	e->next_token = (e->next_token + 1) % EMU_TOKENS;
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "X-aws-ec2-metadata-token-ttl-seconds", ttl);
	emu_send_text(req, 200, "text/plain", tok, strlen(tok));
}

static int emu_token_ok(const struct emu *e, const char *tok)
{
	if (tok == NULL)
		return 0;
	for (size_t i = 0; i < EMU_TOKENS; i++)
		if (e->tokens[i] != NULL && strcmp(e->tokens[i], tok) == 0)
			return 1;
	return 0;
}

static void emu_request(struct evhttp_request *req, void *arg)
{
	struct emu *e = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *method = emu_method(evhttp_request_get_command(req));
	const char *uri = evhttp_request_get_uri(req), *q, *k;
	struct route *rt = NULL;
	size_t plen;
	json_t *v;
	int status;

	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	if (strcmp(method, "GET") == 0 && plen == 8 && strncmp(uri, "/__count", 8) == 0) {
		emu_count(e, req);
		return;
	}
	e->total++;
	if (e->any_imdsv2 && strcmp(method, "PUT") == 0 && plen == 17 &&
	    strncmp(uri, "/latest/api/token", 17) == 0) {
		if (e->log) {
			fprintf(e->log, "%s %s token\n", method, uri);
			fflush(e->log);
		}
		emu_token(e, req);
		return;
	}
	for (size_t i = 0; i < e->nroutes && rt == NULL; i++) {
		struct route *c = &e->routes[i];
		if (strcasecmp(c->method, method) != 0)
			continue;
		if (strchr(c->path, '?') ? strcmp(c->path, uri) == 0
					 : strlen(c->path) == plen && strncmp(c->path, uri, plen) == 0)
			rt = c;
	}
	if (rt == NULL) {
		e->unmatched++;
		status = 404;
	} else {
		rt->hits++;
		status = rt->status;
		json_object_foreach(rt->require, k, v) {
			const char *got = evhttp_find_header(in, k);
			if (got == NULL || strcmp(got, json_string_value(v)) != 0)
				status = 403;
		}
		if (status != 403 && rt->imdsv2 &&
		    !emu_token_ok(e, evhttp_find_header(in, "X-aws-ec2-metadata-token")))
			status = 401;
	}
	if (e->log) {
		fprintf(e->log, "%s %s %d\n", method, uri, status);
		fflush(e->log);
	}
	if (rt == NULL || status != rt->status) {
		emu_send_text(req, status, "text/plain", emu_reason(status),
			      strlen(emu_reason(status)));
		return;
	}
	if (rt->delay_ms > 0) {
		struct pending *p = calloc(1, sizeof(*p));
		struct timeval tv = { rt->delay_ms / 1000, (rt->delay_ms % 1000) * 1000 };

		if (p != NULL)
			p->ev = evtimer_new(e->base, emu_pending_fire, p);
		if (p == NULL || p->ev == NULL || evtimer_add(p->ev, &tv) < 0) {
			if (p != NULL && p->ev != NULL)
				event_free(p->ev);
			free(p);
			emu_send_text(req, 500, "text/plain", "oom", 3);
			return;
		}
		p->e = e;
		p->req = req;
		p->rt = rt;
		p->next = e->pending;
		p->prevp = &e->pending;
		if (e->pending != NULL)
			e->pending->prevp = &p->next;
		e->pending = p;
		return;
	}
	emu_send_route(req, rt);
}

static int emu_strings_object(json_t *o)
{
	const char *k;
	json_t *v;

	if (o == NULL)
		return 1;
	if (!json_is_object(o))
		return 0;
	json_object_foreach(o, k, v)
		if (!json_is_string(v) || strpbrk(k, "\r\n:") || strpbrk(json_string_value(v), "\r\n"))
			return 0;
	return 1;
}

static int emu_load_route(struct route *rt, json_t *j, const char *dir, size_t idx)
{
	json_t *status = json_object_get(j, "status"), *delay = json_object_get(j, "delayMs");
	json_t *repeat = json_object_get(j, "repeat"), *body = json_object_get(j, "body");
	json_t *method = json_object_get(j, "method"), *path = json_object_get(j, "path");
	json_t *file = json_object_get(j, "file"), *imds = json_object_get(j, "imdsv2");
	char fpath[PATH_MAX], *data = NULL;
	size_t len = 0, n = 1;
	int r;

	if (!json_is_object(j) || !json_is_string(path) || json_string_value(path)[0] != '/' ||
	    (method && !json_is_string(method)) || (status && !json_is_integer(status)) ||
	    (delay && !json_is_integer(delay)) || (repeat && !json_is_integer(repeat)) ||
	    (imds && !json_is_boolean(imds)) || (body && !json_is_string(body)) ||
	    (file && !json_is_string(file)) || (body && file) ||
	    !emu_strings_object(json_object_get(j, "headers")) ||
	    !emu_strings_object(json_object_get(j, "requireHeaders"))) {
		fprintf(stderr, "metaemu: route %zu: bad shape\n", idx);
		return -EINVAL;
	}
	rt->status = status ? (int)json_integer_value(status) : 200;
	rt->delay_ms = delay ? (int)json_integer_value(delay) : 0;
	if (repeat)
		n = json_integer_value(repeat) > 0 ? (size_t)json_integer_value(repeat) : 0;
	if (rt->status < 100 || rt->status > 599 || rt->delay_ms < 0 ||
	    rt->delay_ms > EMU_DELAY_MAX_MS || n == 0) {
		fprintf(stderr, "metaemu: route %zu: status, delayMs or repeat out of range\n", idx);
		return -EINVAL;
	}
	rt->method = strdup(method ? json_string_value(method) : "GET");
	rt->path = strdup(json_string_value(path));
	if (rt->method == NULL || rt->path == NULL)
		return -ENOMEM;
	rt->imdsv2 = imds ? json_is_true(imds) : 0;
	rt->headers = json_incref(json_object_get(j, "headers"));
	rt->require = json_incref(json_object_get(j, "requireHeaders"));
	if (file != NULL) {
		const char *f = json_string_value(file);
		r = f[0] == '/' ? snprintf(fpath, sizeof(fpath), "%s", f)
				: snprintf(fpath, sizeof(fpath), "%s/%s", dir, f);
		if (r < 0 || (size_t)r >= sizeof(fpath))
			return -ENAMETOOLONG;
		r = util_read_file(fpath, EMU_BODY_MAX, &data, &len);
		if (r < 0) {
			fprintf(stderr, "metaemu: route %zu: %s: %s\n", idx, fpath, strerror(-r));
			return r;
		}
	} else if (body != NULL) {
		len = json_string_length(body);
		data = malloc(len + 1);
		if (data == NULL)
			return -ENOMEM;
		memcpy(data, json_string_value(body), len + 1);
	}
	if (len > 0 && n > EMU_BODY_MAX / len) {
		free(data);
		fprintf(stderr, "metaemu: route %zu: body larger than 16 MiB\n", idx);
		return -EFBIG;
	}
	rt->body_len = len * n;
	rt->body = malloc(rt->body_len + 1);
	if (rt->body == NULL) {
		free(data);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && len > 0; i++)
		memcpy(rt->body + i * len, data, len);
	rt->body[rt->body_len] = '\0';
	free(data);
	return 0;
}

static int emu_load(struct emu *e, const char *path)
{
	char dir[PATH_MAX], *text = NULL, *slash;
	json_error_t jerr;
	json_t *arr = NULL;
	size_t i;
	int r;

	r = snprintf(dir, sizeof(dir), "%s", path);
	if (r < 0 || (size_t)r >= sizeof(dir))
		return -ENAMETOOLONG;
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	r = util_read_file(path, 1 << 20, &text, NULL);
	if (r < 0) {
		fprintf(stderr, "metaemu: %s: %s\n", path, strerror(-r));
		return r;
	}
	arr = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_array(arr) || json_array_size(arr) > 1000) {
		fprintf(stderr, "metaemu: %s: not a JSON array of routes (%s)\n", path,
			arr ? "too many routes" : jerr.text);
		json_decref(arr);
		return -EINVAL;
	}
	e->routes = calloc(json_array_size(arr) + 1, sizeof(*e->routes));
	if (e->routes == NULL) {
		json_decref(arr);
		return -ENOMEM;
	}
	for (i = 0; i < json_array_size(arr); i++) {
		r = emu_load_route(&e->routes[i], json_array_get(arr, i), dir, i);
		e->nroutes = i + 1;
		if (r < 0)
			break;
		if (e->routes[i].imdsv2)
			e->any_imdsv2 = 1;
	}
	json_decref(arr);
	return r < 0 ? r : 0;
}

static void emu_free(struct emu *e)
{
	for (size_t i = 0; i < e->nroutes; i++) {
		free(e->routes[i].method);
		free(e->routes[i].path);
		free(e->routes[i].body);
		json_decref(e->routes[i].headers);
		json_decref(e->routes[i].require);
	}
	free(e->routes);
	for (size_t i = 0; i < EMU_TOKENS; i++)
		free(e->tokens[i]);
}

static void emu_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

/* Splits a copy of "ADDR:PORT" ("[v6]:PORT" too) held in spec (at most len bytes). */
static int emu_parse_listen(const char *arg, char *spec, size_t len, char **addr,
			    unsigned short *port)
{
	char *colon, *end = NULL;
	long v;

	if (strlen(arg) >= len)
		return -EINVAL;
	memcpy(spec, arg, strlen(arg) + 1);
	colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec)
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno != 0 || end == colon + 1 || *end != '\0' || v < 0 || v > 65535)
		return -EINVAL;
	*port = (unsigned short)v;
	*addr = spec;
	if (spec[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		*addr = spec + 1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: metaemu --listen ADDR:PORT --routes routes.json "
			"[--port-file F] [--log F]\n");
}

int main(int argc, char **argv)
{
	const char *routes = NULL, *port_file = NULL, *log_file = NULL;
	struct evhttp_bound_socket *bound;
	struct event *sig_term = NULL, *sig_int = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	unsigned short port = 0;
	struct emu e;
	const char *listen = NULL;
	char spec[256], *addr = NULL, buf[16];
	int rc = 2;

	memset(&e, 0, sizeof(e));
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "--listen") == 0)
			listen = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--routes") == 0)
			routes = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--port-file") == 0)
			port_file = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--log") == 0)
			log_file = argv[++i];
		else {
			usage();
			return 2;
		}
	}
	if (listen == NULL || routes == NULL || emu_parse_listen(listen, spec, sizeof(spec), &addr, &port) < 0) {
		usage();
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (emu_load(&e, routes) < 0)
		goto out;
	if (log_file != NULL) {
		e.log = fopen(log_file, "a");
		if (e.log == NULL) {
			fprintf(stderr, "metaemu: %s: %s\n", log_file, strerror(errno));
			goto out;
		}
	}
	e.base = event_base_new();
	e.http = e.base ? evhttp_new(e.base) : NULL;
	if (e.http == NULL) {
		fprintf(stderr, "metaemu: libevent set-up failed\n");
		goto out;
	}
	evhttp_set_allowed_methods(e.http, EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
						   EVHTTP_REQ_HEAD | EVHTTP_REQ_DELETE |
						   EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(e.http, 16 * 1024);
	evhttp_set_max_body_size(e.http, 64 * 1024);
	evhttp_set_timeout(e.http, 30);
	evhttp_set_gencb(e.http, emu_request, &e);
	bound = evhttp_bind_socket_with_handle(e.http, addr, port);
	if (bound == NULL) {
		fprintf(stderr, "metaemu: cannot listen on %s:%u\n", addr, port);
		goto out;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sslen) < 0) {
		fprintf(stderr, "metaemu: getsockname: %s\n", strerror(errno));
		goto out;
	}
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	sig_term = evsignal_new(e.base, SIGTERM, emu_on_signal, e.base);
	sig_int = evsignal_new(e.base, SIGINT, emu_on_signal, e.base);
	if (sig_term == NULL || sig_int == NULL || event_add(sig_term, NULL) < 0 ||
	    event_add(sig_int, NULL) < 0) {
		fprintf(stderr, "metaemu: signal set-up failed\n");
		goto out;
	}
	if (port_file != NULL) {
		snprintf(buf, sizeof(buf), "%u\n", port);
		if (util_write_file(port_file, buf, strlen(buf), 0644) < 0) {
			fprintf(stderr, "metaemu: cannot write %s\n", port_file);
			goto out;
		}
	}
	event_base_dispatch(e.base);
	rc = 0;
out:
	/* answers still delayed are cut short so that every request is freed */
	while (e.pending != NULL) {
		struct pending *p = e.pending;

		e.pending = p->next;
		event_free(p->ev);
		emu_send_text(p->req, 503, "text/plain", "shutting down", 13);
		free(p);
	}
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	if (e.http != NULL)
		evhttp_free(e.http);
	if (e.base != NULL)
		event_base_free(e.base);
	if (e.log != NULL)
		fclose(e.log);
	emu_free(&e);
	libevent_global_shutdown();
	return rc;
}
