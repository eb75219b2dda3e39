/*
 * docker: the Engine API client (see docker.h). Requests go through one reused libcurl easy handle
 * (so the unix-socket connection is kept alive between calls); the event stream has its own handle
 * in a multi handle, so that a wait can also watch the caller's wake-up descriptor.
 *
 * The event stream is read into a raw buffer of at most EV_RAW_CAP bytes; when it is full the
 * transfer is paused (the engine then waits), and lines are cut and parsed one at a time by
 * docker_events_next(). So a flood of events costs bounded memory, and a line that never ends is
 * an error as soon as it exceeds DOCKER_EVENT_LINE_MAX.
 */
#include "docker.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <garrison/log.h>
#include <garrison/util.h>

#ifndef GARRISON_VERSION
#define GARRISON_VERSION "0"
#endif

#define SOCK_PATH_MAX 108
#define EV_RAW_CAP (4 * DOCKER_EVENT_LINE_MAX)
#define EV_ERRBODY_MAX 512
#define EV_OPEN_TIMEOUT_MS (DOCKER_CONNECT_TIMEOUT_MS + 5000)

struct docker {
	char sock[SOCK_PATH_MAX];
	atomic_int *cancel;
	CURL *h;
	char api[16];
	char engine[DOCKER_VERSION_MAX];
	char err[DOCKER_ERRMSG_MAX];
};

struct body {
	char *p;
	size_t len, cap;
	int too_big;
};

struct hdrs {
	char api[16];
	int have_api;
};

struct docker_events {
	struct docker *d;
	CURLM *m;
	CURL *h;
	int wake_fd;
	char *raw;             /* EV_RAW_CAP bytes: unread stream data at raw[off .. off + len) */
	size_t off, len;
	int paused;
	int headers_done;
	long status;
	char ebody[EV_ERRBODY_MAX];
	size_t ebody_len;
	int done;
	CURLcode done_code;
	int err;               /* an error already diagnosed (the stream is finished) */
};

/* ---- errors ---- */

static void set_err(struct docker *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct docker *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	/* the text may quote the engine: no control characters in logs and messages */
	for (char *p = d->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

const char *docker_errmsg(const struct docker *d)
{
	return d->err;
}

int docker_err_unreachable(int err)
{
	return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -ECONNRESET || err == -EPIPE;
}

/* Copies the "message" of an engine error body (or its first bytes) into buf, printable only. */
static void engine_message(const char *body, size_t len, char *buf, size_t buflen)
{
	json_t *j = NULL;
	const char *m = NULL;
	size_t n = 0;

	if (buflen == 0)
		return;
	buf[0] = '\0';
	if (body == NULL || len == 0)
		return;
	if (len <= 64 * 1024)
		j = json_loadb(body, len, 0, NULL);
	m = json_string_value(json_object_get(j, "message"));
	if (m == NULL) {
		m = body;
		n = len;
	} else {
		n = strlen(m);
	}
	if (n > 200)
		n = 200;
	for (size_t i = 0; i < n && i + 1 < buflen; i++) {
		unsigned char c = (unsigned char)m[i];
		buf[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
		buf[i + 1] = '\0';
	}
	json_decref(j);
}

static int map_curl(struct docker *d, CURLcode cc, const char *what)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		set_err(d, "cannot connect to the Docker engine at %s (%s)", d->sock, what);
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		set_err(d, "the Docker engine did not answer %s in time", what);
		return -ETIMEDOUT;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		set_err(d, "the Docker engine closed the connection during %s", what);
		return -ECONNRESET;
	case CURLE_ABORTED_BY_CALLBACK:
		set_err(d, "%s cancelled", what);
		return -ECANCELED;
	case CURLE_FILESIZE_EXCEEDED:
		set_err(d, "the answer to %s is larger than %u bytes", what, DOCKER_BODY_MAX);
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		set_err(d, "out of memory during %s", what);
		return -ENOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING:
	case CURLE_HTTP2:
		set_err(d, "the Docker engine's answer to %s is not HTTP (%s)", what,
			curl_easy_strerror(cc));
		return -EPROTO;
	default:
		set_err(d, "%s failed: %s", what, curl_easy_strerror(cc));
		return -EIO;
	}
}

static int map_status(struct docker *d, long status, const char *body, size_t len, const char *what)
{
	char msg[256];

	engine_message(body, len, msg, sizeof(msg));
	set_err(d, "%s: HTTP %ld%s%s", what, status, msg[0] ? ": " : "", msg);
	switch (status) {
	case 400:
		return -EINVAL;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* ---- addresses and ids ---- */

int docker_socket_path(const char *addr, char *buf, size_t len)
{
	const char *p = addr;
	size_t n;

	if (p == NULL || p[0] == '\0')
		p = DOCKER_DEFAULT_SOCKET;
	if (strncmp(p, "unix://", 7) == 0)
		p += 7;
	else if (strstr(p, "://") != NULL)
		return -EPROTONOSUPPORT;
	n = strlen(p);
	if (p[0] != '/' || n >= SOCK_PATH_MAX || n >= len)
		return -EINVAL;
	memcpy(buf, p, n + 1);
	return 0;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

int docker_is_container_id(const char *s)
{
	return s != NULL && is_hex64(s);
}

int docker_is_image_id(const char *s)
{
	return s != NULL && strncmp(s, "sha256:", 7) == 0 && is_hex64(s + 7);
}

/* ---- requests ---- */

static int xfer_cb(void *ud, curl_off_t dltot, curl_off_t dlnow, curl_off_t ultot, curl_off_t ulnow)
{
	struct docker *d = ud;

	return d->cancel != NULL && atomic_load(d->cancel) ? 1 : 0;
}

static size_t body_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t add = size * nmemb;

	if (add > DOCKER_BODY_MAX - b->len) {
		b->too_big = 1;
		return 0;
	}
	if (b->len + add + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 16384;
		char *nb;

		while (ncap < b->len + add + 1)
			ncap *= 2;
		if (ncap > (size_t)DOCKER_BODY_MAX + 1)
			ncap = (size_t)DOCKER_BODY_MAX + 1;
		nb = realloc(b->p, ncap);
		if (nb == NULL)
			return 0;
		b->p = nb;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, p, add);
	b->len += add;
	b->p[b->len] = '\0';
	return add;
}

static size_t hdr_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct hdrs *h = ud;
	size_t n = size * nmemb, vlen;
	const char *v, *end = p + n;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		h->have_api = 0; /* a new answer (after a 1xx) */
		return n;
	}
	if (n < 12 || strncasecmp(p, "Api-Version:", 12) != 0)
		return n;
	v = p + 12;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	if (vlen == 0 || vlen >= sizeof(h->api))
		return n; /* unusable: negotiation falls back to /version */
	memcpy(h->api, v, vlen);
	h->api[vlen] = '\0';
	h->have_api = 1;
	return n;
}

static void setup_common(struct docker *d, CURL *h, const char *url)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, d->sock);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)DOCKER_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "garrison-defender/" GARRISON_VERSION);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
}

/* GET url (a full http://docker/... URL). On success (any HTTP status) returns 0 with the body in
 * b and the status in *status; else an error. */
static int request(struct docker *d, const char *url, const char *what, struct hdrs *hd,
		   struct body *b, long *status)
{
	CURLcode cc;

	memset(b, 0, sizeof(*b));
	*status = 0;
	if (d->h == NULL) {
		d->h = curl_easy_init();
		if (d->h == NULL) {
			set_err(d, "out of memory");
			return -ENOMEM;
		}
	} else {
		curl_easy_reset(d->h);
	}
	setup_common(d, d->h, url);
	curl_easy_setopt(d->h, CURLOPT_TIMEOUT_MS, (long)DOCKER_TIMEOUT_MS);
	curl_easy_setopt(d->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)DOCKER_BODY_MAX);
	curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(d->h, CURLOPT_WRITEDATA, b);
	if (hd != NULL) {
		curl_easy_setopt(d->h, CURLOPT_HEADERFUNCTION, hdr_cb);
		curl_easy_setopt(d->h, CURLOPT_HEADERDATA, hd);
	}
	cc = curl_easy_perform(d->h);
	if (cc != CURLE_OK) {
		int r;
		if (cc == CURLE_WRITE_ERROR && b->too_big) {
			set_err(d, "the answer to %s is larger than %u bytes", what,
				DOCKER_BODY_MAX);
			r = -EFBIG;
		} else if (cc == CURLE_WRITE_ERROR) {
			set_err(d, "out of memory reading the answer to %s", what);
			r = -ENOMEM;
		} else {
			r = map_curl(d, cc, what);
		}
		free(b->p);
		memset(b, 0, sizeof(*b));
		return r;
	}
	curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

static int parse_json(struct docker *d, const struct body *b, const char *what, json_t **out)
{
	json_error_t je;

	*out = json_loadb(b->p ? b->p : "", b->len, JSON_REJECT_DUPLICATES, &je);
	if (*out == NULL) {
		set_err(d, "malformed JSON in the answer to %s: %s (line %d)", what, je.text,
			je.line);
		return -EBADMSG;
	}
	return 0;
}

int docker_new(const char *addr, atomic_int *cancel, struct docker **out)
{
	struct docker *d;
	int r;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	r = docker_socket_path(addr, d->sock, sizeof(d->sock));
	if (r < 0) {
		free(d);
		return r;
	}
	d->cancel = cancel;
	*out = d;
	return 0;
}

void docker_free(struct docker *d)
{
	if (d == NULL)
		return;
	if (d->h)
		curl_easy_cleanup(d->h);
	free(d);
}

const char *docker_api_version(const struct docker *d)
{
	return d->api;
}

const char *docker_engine_version(const struct docker *d)
{
	return d->engine;
}

/* Parses "1.NN" (NN 0..999). 0 and *minor, or -EINVAL. */
static int api_minor(const char *s, int *minor)
{
	int v = 0, digits = 0;

	if (s == NULL || strncmp(s, "1.", 2) != 0)
		return -EINVAL;
	for (s += 2; *s >= '0' && *s <= '9' && digits < 3; s++, digits++)
		v = v * 10 + (*s - '0');
	if (digits == 0 || *s != '\0')
		return -EINVAL;
	*minor = v;
	return 0;
}

int docker_negotiate(struct docker *d)
{
	struct hdrs hd;
	struct body b;
	long status;
	json_t *v = NULL;
	const char *api = NULL, *ver;
	char srv_api[16] = "";
	int r, minor, max_minor;

	d->api[0] = '\0';
	d->engine[0] = '\0';
	memset(&hd, 0, sizeof(hd));
	r = request(d, "http://docker/_ping", "GET /_ping", &hd, &b, &status);
	if (r < 0)
		return r;
	if (status != 200) {
		r = map_status(d, status, b.p, b.len, "GET /_ping");
		free(b.p);
		return r;
	}
	free(b.p);
	if (hd.have_api)
		snprintf(srv_api, sizeof(srv_api), "%s", hd.api);
	/* /version without a version prefix answers in the engine's own API version */
	r = request(d, "http://docker/version", "GET /version", NULL, &b, &status);
	if (r < 0)
		return r;
	if (status != 200) {
		r = map_status(d, status, b.p, b.len, "GET /version");
		free(b.p);
		return r;
	}
	r = parse_json(d, &b, "GET /version", &v);
	free(b.p);
	if (r < 0)
		return r;
	if (!json_is_object(v)) {
		set_err(d, "GET /version: not a JSON object");
		r = -EBADMSG;
		goto out;
	}
	if (srv_api[0] == '\0') {
		api = json_string_value(json_object_get(v, "ApiVersion"));
		if (api != NULL && strlen(api) < sizeof(srv_api))
			snprintf(srv_api, sizeof(srv_api), "%s", api);
	}
	if (api_minor(srv_api, &minor) < 0) {
		set_err(d, "the Docker engine reports no usable API version");
		r = -EPROTO;
		goto out;
	}
	if (minor < DOCKER_API_MIN_MINOR) {
		set_err(d, "the Docker engine's API %s is older than 1.%d", srv_api,
			DOCKER_API_MIN_MINOR);
		r = -EPROTO;
		goto out;
	}
	ver = json_string_value(json_object_get(v, "Version"));
	if (ver == NULL || ver[0] == '\0' || strlen(ver) >= sizeof(d->engine)) {
		set_err(d, "GET /version: Version is missing, not a string or too long");
		r = -EBADMSG;
		goto out;
	}
	for (const char *p = ver; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			set_err(d, "GET /version: Version holds control characters");
			r = -EBADMSG;
			goto out;
		}
	}
	api_minor(DOCKER_API_MAX, &max_minor);
	snprintf(d->api, sizeof(d->api), "1.%d", minor < max_minor ? minor : max_minor);
	snprintf(d->engine, sizeof(d->engine), "%s", ver);
	log_debug("docker: engine %s at %s, API %s", d->engine, d->sock, d->api);
	d->err[0] = '\0';
	r = 0;
out:
	json_decref(v);
	return r;
}

int docker_get_json(struct docker *d, const char *path, json_t **out)
{
	struct body b;
	long status;
	char *url = NULL, what[160];
	size_t n;
	int r;

	*out = NULL;
	if (d->api[0] == '\0') {
		set_err(d, "the API version has not been negotiated");
		return -EINVAL;
	}
	if (path == NULL || path[0] != '/')
		return -EINVAL;
	n = strlen(path) + strlen(d->api) + 32;
	url = malloc(n);
	if (url == NULL)
		return -ENOMEM;
	snprintf(url, n, "http://docker/v%s%s", d->api, path);
	snprintf(what, sizeof(what), "GET %.140s", path);
	r = request(d, url, what, NULL, &b, &status);
	free(url);
	if (r < 0)
		return r;
	if (status < 200 || status > 299)
		r = map_status(d, status, b.p, b.len, what);
	else
		r = parse_json(d, &b, what, out);
	free(b.p);
	return r;
}

/* ---- events ---- */

static size_t ev_hdr_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct docker_events *e = ud;
	size_t n = size * nmemb;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		e->headers_done = 0;
	} else if ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n')) {
		long st = 0;
		curl_easy_getinfo(e->h, CURLINFO_RESPONSE_CODE, &st);
		if (st >= 200) { /* not the end of a 1xx */
			e->status = st;
			e->headers_done = 1;
		}
	}
	return n;
}

static size_t ev_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct docker_events *e = ud;
	size_t n = size * nmemb;

	if (e->status != 200) {
		size_t keep = EV_ERRBODY_MAX - 1 - e->ebody_len;
		if (keep > n)
			keep = n;
		memcpy(e->ebody + e->ebody_len, p, keep);
		e->ebody_len += keep;
		return n;
	}
	if (e->off > 0 && e->off + e->len + n > EV_RAW_CAP) {
		memmove(e->raw, e->raw + e->off, e->len);
		e->off = 0;
	}
	if (e->len + n > EV_RAW_CAP) {
		if (e->len == 0)
			return 0; /* larger than the buffer: libcurl never does that */
		e->paused = 1;
		return CURL_WRITEFUNC_PAUSE;
	}
	memcpy(e->raw + e->off + e->len, p, n);
	e->len += n;
	return n;
}

/* Moves the multi handle on and notes the end of the transfer. */
static void ev_perform(struct docker_events *e)
{
	CURLMsg *msg;
	int running = 0, left;

	curl_multi_perform(e->m, &running);
	while ((msg = curl_multi_info_read(e->m, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e->h) {
			e->done = 1;
			e->done_code = msg->data.result;
		}
	}
}

/* The error of a finished stream. */
static int ev_finish_code(struct docker_events *e)
{
	struct docker *d = e->d;

	if (e->err)
		return e->err;
	if (e->done_code == CURLE_OK || e->done_code == CURLE_PARTIAL_FILE) {
		if (e->status != 200 && e->status != 0) {
			e->err = map_status(d, e->status, e->ebody, e->ebody_len, "GET /events");
		} else if (e->status == 0) {
			set_err(d, "GET /events: no answer");
			e->err = -ECONNRESET;
		} else {
			set_err(d, "the Docker engine ended the event stream");
			e->err = -EPIPE;
		}
	} else {
		e->err = map_curl(d, e->done_code, "GET /events");
	}
	return e->err;
}

/* Cuts the next complete line. 1 and *ev, 0 when there is none yet, or an error. */
static int ev_take_line(struct docker_events *e, json_t **ev)
{
	struct docker *d = e->d;
	json_error_t je;

	for (;;) {
		char *start = e->raw + e->off, *nl;
		size_t scan =
			e->len < DOCKER_EVENT_LINE_MAX + 1 ? e->len : DOCKER_EVENT_LINE_MAX + 1;
		size_t l;
		json_t *j;

		nl = memchr(start, '\n', scan);
		if (nl == NULL) {
			if (e->len > DOCKER_EVENT_LINE_MAX) {
				set_err(d,
					"an event line from the Docker engine is longer than %d bytes",
					DOCKER_EVENT_LINE_MAX);
				return e->err = -EMSGSIZE;
			}
			if (e->len == 0)
				e->off = 0;
			return 0;
		}
		l = (size_t)(nl - start);
		e->off += l + 1;
		e->len -= l + 1;
		if (l > 0 && start[l - 1] == '\r')
			l--;
		if (l == 0)
			continue; /* an empty line: a keep-alive at most */
		j = json_loadb(start, l, JSON_REJECT_DUPLICATES, &je);
		if (j == NULL || !json_is_object(j)) {
			if (j == NULL)
				set_err(d, "malformed event line from the Docker engine: %s",
					je.text);
			else
				set_err(d,
					"an event line from the Docker engine is not a JSON object");
			json_decref(j);
			return e->err = -EBADMSG;
		}
		*ev = j;
		return 1;
	}
}

int docker_events_open(struct docker *d, const char *filters, int wake_fd,
		       struct docker_events **out)
{
	struct docker_events *e;
	char *url = NULL, *esc = NULL;
	size_t n;
	int64_t deadline;
	int r;

	*out = NULL;
	if (d->api[0] == '\0') {
		set_err(d, "the API version has not been negotiated");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->d = d;
	e->wake_fd = wake_fd;
	e->raw = malloc(EV_RAW_CAP);
	e->m = curl_multi_init();
	e->h = curl_easy_init();
	if (e->raw == NULL || e->m == NULL || e->h == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (filters != NULL) {
		esc = curl_easy_escape(e->h, filters, 0);
		if (esc == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	n = strlen(d->api) + (esc ? strlen(esc) : 0) + 48;
	url = malloc(n);
	if (url == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	snprintf(url, n, "http://docker/v%s/events%s%s", d->api, esc ? "?filters=" : "",
		 esc ? esc : "");
	setup_common(d, e->h, url);
	curl_easy_setopt(e->h, CURLOPT_WRITEFUNCTION, ev_write_cb);
	curl_easy_setopt(e->h, CURLOPT_WRITEDATA, e);
	curl_easy_setopt(e->h, CURLOPT_HEADERFUNCTION, ev_hdr_cb);
	curl_easy_setopt(e->h, CURLOPT_HEADERDATA, e);
	if (curl_multi_add_handle(e->m, e->h) != CURLM_OK) {
		r = -ENOMEM;
		goto fail;
	}
	/* Wait for the headers: once the engine has sent them it has subscribed us. */
	deadline = util_now_ms() + EV_OPEN_TIMEOUT_MS;
	for (;;) {
		int64_t left;

		ev_perform(e);
		if (e->headers_done && e->status == 200)
			break;
		if (e->done) {
			r = ev_finish_code(e);
			goto fail;
		}
		if (d->cancel != NULL && atomic_load(d->cancel)) {
			set_err(d, "GET /events cancelled");
			r = -ECANCELED;
			goto fail;
		}
		left = deadline - util_now_ms();
		if (left <= 0) {
			if (e->headers_done)
				r = map_status(d, e->status, e->ebody, e->ebody_len, "GET /events");
			else {
				set_err(d, "the Docker engine did not answer GET /events in time");
				r = -ETIMEDOUT;
			}
			goto fail;
		}
		curl_multi_poll(e->m, NULL, 0, left > 200 ? 200 : (int)left, NULL);
	}
	free(url);
	curl_free(esc);
	*out = e;
	return 0;
fail:
	free(url);
	curl_free(esc);
	docker_events_close(e);
	return r;
}

int docker_events_next(struct docker_events *e, int timeout_ms, json_t **ev)
{
	int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct curl_waitfd wfd;
	int r;

	*ev = NULL;
	for (;;) {
		int64_t left;

		if (e->err)
			return e->err;
		r = ev_take_line(e, ev);
		if (r != 0)
			return r;
		if (e->done) {
			if (e->len > 0 && e->status == 200) {
				set_err(e->d, "the event stream ended in the middle of a line");
				return e->err = -EBADMSG;
			}
			return ev_finish_code(e);
		}
		if (e->paused && e->len <= EV_RAW_CAP / 2) {
			e->paused = 0;
			/* may call ev_write_cb at once with the data held back */
			curl_easy_pause(e->h, CURLPAUSE_CONT);
			ev_perform(e);
			continue;
		}
		if (e->d->cancel != NULL && atomic_load(e->d->cancel))
			return 0;
		left = deadline - util_now_ms();
		if (left <= 0)
			return 0;
		memset(&wfd, 0, sizeof(wfd));
		wfd.fd = e->wake_fd;
		wfd.events = CURL_WAIT_POLLIN;
		curl_multi_poll(e->m, e->wake_fd >= 0 ? &wfd : NULL, e->wake_fd >= 0 ? 1 : 0,
				left > 1000 ? 1000 : (int)left, NULL);
		ev_perform(e);
		if (e->wake_fd >= 0 && (wfd.revents & CURL_WAIT_POLLIN)) {
			r = ev_take_line(e, ev);
			return r != 0 ? r : 0;
		}
	}
}

void docker_events_close(struct docker_events *e)
{
	if (e == NULL)
		return;
	if (e->m != NULL && e->h != NULL)
		curl_multi_remove_handle(e->m, e->h);
	if (e->h)
		curl_easy_cleanup(e->h);
	if (e->m)
		curl_multi_cleanup(e->m);
	free(e->raw);
	free(e);
}

/* ---- event records ---- */

static int copy_member(const json_t *o, const char *key, char *buf, size_t len, const char *name,
		       char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);
	const char *s = json_string_value(v);
	size_t n;

	if (s == NULL) {
		snprintf(err, errlen, "event %s is %s", name,
			 v == NULL ? "missing" : "not a string");
		return -EBADMSG;
	}
	n = json_string_length(v);
	if (n >= len || strlen(s) != n) {
		snprintf(err, errlen, "event %s is longer than %zu bytes or holds a NUL", name,
			 len - 1);
		return -EBADMSG;
	}
	memcpy(buf, s, n + 1);
	return 0;
}

int docker_event_parse(const json_t *ev, struct docker_event *out, char *err, size_t errlen)
{
	const json_t *actor;
	char action[256];
	size_t n;
	int r;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ev)) {
		snprintf(err, errlen, "event is not a JSON object");
		return -EBADMSG;
	}
	r = copy_member(ev, "Type", out->type, sizeof(out->type), "Type", err, errlen);
	if (r < 0)
		return r;
	r = copy_member(ev, "Action", action, sizeof(action), "Action", err, errlen);
	if (r < 0)
		return r;
	/* "exec_create: sh -c ..." and "health_status: healthy" carry arguments after the verb */
	n = strcspn(action, ":");
	if (n == 0 || n >= sizeof(out->action)) {
		snprintf(err, errlen, "event Action is empty or too long");
		return -EBADMSG;
	}
	memcpy(out->action, action, n);
	out->action[n] = '\0';
	actor = json_object_get(ev, "Actor");
	if (!json_is_object(actor)) {
		snprintf(err, errlen, "event Actor is %s", actor ? "not an object" : "missing");
		return -EBADMSG;
	}
	return copy_member(actor, "ID", out->id, sizeof(out->id), "Actor.ID", err, errlen);
}
