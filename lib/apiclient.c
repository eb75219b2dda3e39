/*
 * apiclient: HTTPS client of the Console API on one reused libcurl easy handle.
 *
 * Every request starts from curl_easy_reset() and sets the whole policy again, so no option can
 * leak from one call to the next: https only, peer and host verification on, no redirects, a
 * bounded answer, a timeout, and NOPROXY for loopback. Credentials are kept in this struct only and
 * wiped when it is freed; they are never logged.
 */
#include <garrison/apiclient.h>
#include <garrison/log.h>

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#ifndef GARRISON_VERSION
#define GARRISON_VERSION "0.0.0"
#endif

#define PATH_LEN_MAX     2048
#define TOKEN_MAX        8192
#define ENV_NOPROXY_MAX  4096
#define MSG_TEXT_MAX     200
#define CONNECT_TIMEOUT  10L
#define LOOPBACK_NOPROXY "localhost,127.0.0.0/8,::1"
#define AUTH_PATH        "/api/v1/authenticate"

struct apiclient {
	CURL *curl;
	char *base;        /* address without trailing '/' */
	char *user;
	char *password;
	char *token;
	char *cacert;
	char *auth_header; /* "Authorization: Bearer ..." once logged in */
	char *noproxy;
	long timeout_s;
	size_t max_response;
	char errbuf[CURL_ERROR_SIZE];
	char msg[APICLIENT_ERRMSG_MAX];
};

struct body_buf {
	char *p;
	size_t len, cap, max;
	int too_big;
};

static void setmsg(struct apiclient *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void setmsg(struct apiclient *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
}

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

static void free_secret(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

/* ---- options ----------------------------------------------------------------------------------- */

int apiclient_opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	*val = NULL;
	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	if (arg[n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -EINVAL;
	*i += 1;
	*val = argv[*i];
	return 1;
}

int apiclient_opt_parse(struct apiclient_opts *o, int argc, char **argv, int *i)
{
	static const char *const names[] = { "--address", "--user", "--password", "--token", "--cacert" };
	const char **slots[] = { &o->address, &o->user, &o->password, &o->token, &o->cacert };
	const char *v;

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		int rc = apiclient_opt_value(argc, argv, i, names[k], &v);

		if (rc == 0)
			continue;
		if (rc < 0 || v[0] == '\0')
			return -EINVAL;
		*slots[k] = v;
		return 1;
	}
	return 0;
}

int apiclient_url_host(const char *url, char *host, size_t hostlen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *h = NULL, *part = NULL;
	const char *hp;
	size_t n;
	int rc = -EINVAL;

	if (url == NULL || strlen(url) > PATH_LEN_MAX)
		return -EINVAL;
	u = curl_url();
	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		goto fail;
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK || strcmp(scheme, "https") != 0)
		goto fail;
	if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER)
		goto fail;
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) != CURLUE_NO_QUERY)
		goto fail;
	if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) != CURLUE_NO_FRAGMENT)
		goto fail;
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0')
		goto fail;
	hp = h;
	n = strlen(h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		hp = h + 1;
		n -= 2;
	}
	rc = -ENAMETOOLONG;
	if (n + 1 > hostlen)
		goto fail;
	memcpy(host, hp, n);
	host[n] = '\0';
	rc = 0;
fail:
	curl_free(part);
	curl_free(scheme);
	curl_free(h);
	curl_url_cleanup(u);
	return rc;
}

int apiclient_opts_finish(struct apiclient_opts *o, char *err, size_t errlen)
{
	char host[256];

	if (o->address == NULL) {
		seterr(err, errlen, "--address https://HOST:PORT of the Console is required");
		return -EINVAL;
	}
	if (apiclient_url_host(o->address, host, sizeof(host)) < 0) {
		seterr(err, errlen, "--address must be an https:// URL without user, query or fragment");
		return -EINVAL;
	}
	if (o->user != NULL && o->token != NULL) {
		seterr(err, errlen, "give either --user or --token, not both");
		return -EINVAL;
	}
	if (o->user != NULL && o->password == NULL)
		o->password = env_nonempty("GARRISON_PASSWORD");
	if (o->user == NULL && o->token == NULL)
		o->token = env_nonempty("GARRISON_TOKEN");
	if (o->token == NULL && (o->user == NULL || o->password == NULL)) {
		seterr(err, errlen, o->user != NULL ?
		       "no password for --user: give --password or set GARRISON_PASSWORD" :
		       "no credentials: give --user (with GARRISON_PASSWORD or --password) or --token");
		return -EINVAL;
	}
	if (o->password != NULL && o->user == NULL) {
		seterr(err, errlen, "--password needs --user");
		return -EINVAL;
	}
	if (o->cacert == NULL)
		o->cacert = env_nonempty("GARRISON_CACERT");
	if (o->cacert != NULL && access(o->cacert, R_OK) != 0) {
		seterr(err, errlen, "cannot read the CA file %.200s: %s", o->cacert, strerror(errno));
		return -EINVAL;
	}
	return 0;
}

/* ---- client ------------------------------------------------------------------------------------ */

static char *dup_or_null(const char *s, int *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*failed = 1;
	return d;
}

static int set_token(struct apiclient *c, const char *token)
{
	static const char prefix[] = "Authorization: Bearer ";
	size_t n = strlen(token);
	char *h;

	/* The token goes into a header line: visible ASCII only, bounded. */
	if (n == 0 || n > TOKEN_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (token[i] <= 0x20 || token[i] >= 0x7f)
			return -EINVAL;
	h = malloc(sizeof(prefix) + n);
	if (h == NULL)
		return -ENOMEM;
	memcpy(h, prefix, sizeof(prefix) - 1);
	memcpy(h + sizeof(prefix) - 1, token, n + 1);
	free_secret(c->auth_header);
	c->auth_header = h;
	return 0;
}

int apiclient_new(const struct apiclient_opts *o, struct apiclient **out)
{
	struct apiclient *c;
	const char *env = env_nonempty("NO_PROXY");
	size_t n;
	int failed = 0;

	*out = NULL;
	if (o == NULL || o->address == NULL)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->base = dup_or_null(o->address, &failed);
	c->user = dup_or_null(o->user, &failed);
	c->password = dup_or_null(o->password, &failed);
	c->token = dup_or_null(o->token, &failed);
	c->cacert = dup_or_null(o->cacert, &failed);
	c->timeout_s = o->timeout_s > 0 ? o->timeout_s : APICLIENT_TIMEOUT_S;
	c->max_response = o->max_response > 0 ? o->max_response : APICLIENT_MAX_RESPONSE;
	if (failed)
		goto nomem;
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';

	/* CURLOPT_NOPROXY replaces the NO_PROXY variable, so keep what the user had in it. */
	if (env == NULL)
		env = env_nonempty("no_proxy");
	if (env != NULL && strlen(env) <= ENV_NOPROXY_MAX) {
		n = sizeof(LOOPBACK_NOPROXY) + 1 + strlen(env);
		c->noproxy = malloc(n);
		if (c->noproxy != NULL)
			snprintf(c->noproxy, n, "%s,%s", LOOPBACK_NOPROXY, env);
	} else {
		c->noproxy = strdup(LOOPBACK_NOPROXY);
	}
	if (c->noproxy == NULL)
		goto nomem;
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		goto nomem;
	*out = c;
	return 0;
nomem:
	apiclient_free(c);
	return -ENOMEM;
}

void apiclient_free(struct apiclient *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->base);
	free(c->user);
	free_secret(c->password);
	free_secret(c->token);
	free_secret(c->auth_header);
	free(c->cacert);
	free(c->noproxy);
	free(c);
}

const char *apiclient_errmsg(const struct apiclient *c)
{
	return c != NULL ? c->msg : "";
}

void apiclient_resp_clear(struct apiclient_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
	r->total_count = -1;
}

/* ---- transfer ---------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
	struct body_buf *b = userp;
	size_t n = size * nmemb;

	if (n > b->max - b->len) {
		b->too_big = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return 0;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
	struct apiclient_resp *r = userp;
	size_t n = size * nmemb;
	static const char name[] = "total-count:";
	char num[32];
	size_t i = sizeof(name) - 1, k = 0;

	if (n <= i || strncasecmp(data, name, i) != 0)
		return n;
	while (i < n && (data[i] == ' ' || data[i] == '\t'))
		i++;
	while (i < n && k + 1 < sizeof(num) && data[i] >= '0' && data[i] <= '9')
		num[k++] = data[i++];
	num[k] = '\0';
	if (k > 0 && k < 19)
		r->total_count = strtoll(num, NULL, 10);
	return n;
}

void apiclient_format_http_error(long status, const char *body, size_t len, char *buf, size_t buflen)
{
	char text[MSG_TEXT_MAX + 1];
	const char *src = NULL;
	size_t srclen = 0, k = 0;
	json_t *j = NULL;

	if (buflen == 0)
		return;
	if (body != NULL && len > 0) {
		j = json_loadb(body, len, 0, NULL);
		if (json_is_object(j) && json_is_string(json_object_get(j, "err"))) {
			src = json_string_value(json_object_get(j, "err"));
			srclen = json_string_length(json_object_get(j, "err"));
		} else {
			src = body;
			srclen = len;
		}
	}
	/* Server text is untrusted: one line, printable, bounded. */
	for (size_t i = 0; src != NULL && i < srclen && k < MSG_TEXT_MAX; i++) {
		unsigned char ch = (unsigned char)src[i];

		if (ch == '\n' || ch == '\r') {
			if (k > 0)
				break;
			continue;
		}
		text[k++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
	}
	text[k] = '\0';
	if (k > 0)
		snprintf(buf, buflen, "HTTP %ld: %s", status, text);
	else
		snprintf(buf, buflen, "HTTP %ld", status);
	json_decref(j);
}

static int map_curl_error(struct apiclient *c, CURLcode cc, const struct body_buf *b)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);

	switch (cc) {
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			setmsg(c, "the answer from %.200s is larger than %zu bytes", c->base, c->max_response);
			return -EFBIG;
		}
		setmsg(c, "reading the answer from %.200s: %s", c->base, detail);
		return -ENOMEM;
	case CURLE_OUT_OF_MEMORY:
		setmsg(c, "out of memory");
		return -ENOMEM;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		setmsg(c, "cannot connect to %.200s: %s", c->base, detail);
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		setmsg(c, "%.200s did not answer in time: %s", c->base, detail);
		return -ETIMEDOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		setmsg(c, "TLS with %.200s failed: %s (give the Console's CA certificate with --cacert "
		       "FILE or GARRISON_CACERT)", c->base, detail);
		return -EPROTO;
	case CURLE_UNSUPPORTED_PROTOCOL:
		setmsg(c, "%.200s: only https is supported", c->base);
		return -EPROTO;
	default:
		setmsg(c, "request to %.200s failed: %s", c->base, detail);
		return -EIO;
	}
}

static int do_call(struct apiclient *c, const char *method, const char *path, const json_t *body,
		   int with_auth, struct apiclient_resp *r)
{
	struct curl_slist *hdrs = NULL, *tmp;
	struct body_buf b = { .max = c->max_response };
	char *url = NULL, *data = NULL;
	char ua[64], http[APICLIENT_ERRMSG_MAX - 64];
	size_t n;
	CURLcode cc;
	int rc = -ENOMEM, bad_char = 0;

	memset(r, 0, sizeof(*r));
	r->total_count = -1;
	c->msg[0] = '\0';
	c->errbuf[0] = '\0';
	n = strlen(path);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] <= 0x20 || path[i] == 0x7f)
			bad_char = 1;
	if (path[0] != '/' || n > PATH_LEN_MAX || bad_char ||
	    method[0] == '\0' || strlen(method) > 16 ||
	    strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method)) {
		setmsg(c, "bad request method or path");
		return -EINVAL;
	}
	url = malloc(strlen(c->base) + n + 1);
	if (url == NULL)
		goto fail;
	memcpy(url, c->base, strlen(c->base));
	memcpy(url + strlen(c->base), path, n + 1);
	if (body != NULL) {
		data = json_dumps(body, JSON_COMPACT);
		if (data == NULL)
			goto fail;
	}
#define ADD_HDR(s)                                  \
	do {                                        \
		tmp = curl_slist_append(hdrs, (s)); \
		if (tmp == NULL)                    \
			goto fail;                  \
		hdrs = tmp;                         \
	} while (0)
	ADD_HDR("Accept: application/json");
	if (data != NULL)
		ADD_HDR("Content-Type: application/json");
	if (with_auth && c->auth_header != NULL)
		ADD_HDR(c->auth_header);
	ADD_HDR("Expect:");
#undef ADD_HDR
	snprintf(ua, sizeof(ua), "garrison/%s", GARRISON_VERSION);

	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->cacert != NULL)
		curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->cacert);
	curl_easy_setopt(c->curl, CURLOPT_NOPROXY, c->noproxy);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, c->timeout_s);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, ua);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->max_response);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	if (strcmp(method, "GET") == 0 || strcmp(method, "DELETE") == 0 || strcmp(method, "HEAD") == 0) {
		if (data != NULL) {
			setmsg(c, "%s takes no body", method);
			rc = -EINVAL;
			goto fail;
		}
		if (strcmp(method, "GET") == 0)
			curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
		else
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		if (strcmp(method, "HEAD") == 0)
			curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else {
		/* POST, PUT, PATCH: always with a body, empty when none is given (Content-Length: 0). */
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, data != NULL ? data : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(data != NULL ? strlen(data) : 0));
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	}

	cc = curl_easy_perform(c->curl);
	if (cc != CURLE_OK) {
		rc = map_curl_error(c, cc, &b);
		goto fail;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (b.p == NULL) {
		b.p = calloc(1, 1);
		if (b.p == NULL)
			goto fail;
	}
	if (r->status < 200 || r->status > 299) {
		apiclient_format_http_error(r->status, b.p, b.len, http, sizeof(http));
		setmsg(c, "%s %.100s: %s", method, path, http);
		rc = r->status == 401 || r->status == 403 ? -EACCES : r->status == 404 ? -ENOENT : -EIO;
		goto fail;
	}
	r->body = b.p;
	r->len = b.len;
	b.p = NULL;
	rc = 0;
fail:
	if (rc == -ENOMEM && c->msg[0] == '\0')
		setmsg(c, "out of memory");
	if (rc < 0) {
		long status = r->status;

		apiclient_resp_clear(r);
		r->status = status;
	}
	/* The handle keeps pointers to these until the next reset. */
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	free_secret(data);
	free(url);
	free(b.p);
	return rc;
}

int apiclient_call(struct apiclient *c, const char *method, const char *path, const json_t *body,
		   struct apiclient_resp *r)
{
	return do_call(c, method, path, body, 1, r);
}

int apiclient_call_json(struct apiclient *c, const char *method, const char *path,
			const json_t *body, json_t **out, long long *total_count)
{
	struct apiclient_resp r;
	json_error_t jerr;
	int rc;

	*out = NULL;
	rc = apiclient_call(c, method, path, body, &r);
	if (rc < 0)
		return rc;
	if (total_count != NULL)
		*total_count = r.total_count;
	*out = json_loadb(r.body, r.len, 0, &jerr);
	apiclient_resp_clear(&r);
	if (*out == NULL) {
		setmsg(c, "%s %.100s: the answer is not JSON: %s (line %d)", method, path, jerr.text,
		       jerr.line);
		return -EBADMSG;
	}
	return 0;
}

int apiclient_login(struct apiclient *c)
{
	struct apiclient_resp r;
	json_t *body, *ans = NULL, *tok;
	char prev[APICLIENT_ERRMSG_MAX];
	int rc;

	c->msg[0] = '\0';
	if (c->token != NULL) {
		rc = set_token(c, c->token);
		if (rc == -EINVAL)
			setmsg(c, "the token has characters that cannot be sent");
		return rc;
	}
	if (c->user == NULL || c->password == NULL) {
		setmsg(c, "no credentials");
		return -EINVAL;
	}
	body = json_pack("{s:s, s:s}", "username", c->user, "password", c->password);
	if (body == NULL) {
		setmsg(c, "the user name or password is not valid UTF-8");
		return -EINVAL;
	}
	rc = do_call(c, "POST", AUTH_PATH, body, 0, &r);
	/* json_decref frees the password copy inside body; wipe it first. */
	tok = json_object_get(body, "password");
	explicit_bzero((char *)json_string_value(tok), json_string_length(tok));
	json_decref(body);
	if (rc < 0) {
		if (rc == -EACCES) {
			memcpy(prev, c->msg, sizeof(prev));
			setmsg(c, "login as %.64s refused: %s", c->user, prev);
		}
		return rc;
	}
	ans = json_loadb(r.body, r.len, 0, NULL);
	tok = json_object_get(ans, "token");
	if (!json_is_string(tok)) {
		setmsg(c, "login: the answer of %.200s has no token", c->base);
		rc = -EBADMSG;
	} else {
		rc = set_token(c, json_string_value(tok));
		if (rc == -EINVAL)
			setmsg(c, "login: the token from %.200s is malformed", c->base);
		explicit_bzero((char *)json_string_value(tok), json_string_length(tok));
	}
	explicit_bzero(r.body, r.len);
	apiclient_resp_clear(&r);
	json_decref(ans);
	return rc;
}
