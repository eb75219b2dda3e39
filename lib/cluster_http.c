/*
 * cluster_http: the one libcurl wrapper the cluster sources use. Every request bypasses proxies
 * (metadata services are link-local or loopback and must never be reached through a proxy),
 * follows no redirect, speaks only HTTP(S), asks for no compression, caps the body at
 * CLUSTER_HTTP_MAX_BODY, and ends by the caller's deadline. It never raises signals.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include <garrison/log.h>
#include <garrison/util.h>

#ifndef GARRISON_VERSION
#define GARRISON_VERSION "0"
#endif

static size_t http_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cl_http *r = ud;
	size_t add = size * nmemb;
	char *nb;

	if (add > CLUSTER_HTTP_MAX_BODY - r->len) {
		r->too_big = 1;
		return 0;
	}
	/* the buffer is allocated once at the cap + 1 on the first chunk: answers are small */
	if (r->body == NULL) {
		nb = malloc(CLUSTER_HTTP_MAX_BODY + 1);
		if (nb == NULL)
			return 0;
		r->body = nb;
	}
	memcpy(r->body + r->len, p, add);
	r->len += add;
	r->body[r->len] = '\0';
	return add;
}

static size_t http_header_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cl_http *r = ud;
	size_t n = size * nmemb, klen, vlen;
	const char *colon, *v, *end = p + n;

	/* a new status line (after a 1xx answer) starts a new set of headers */
	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->have_hdr = 0;
		r->hdr[0] = '\0';
		return n;
	}
	if (r->want_hdr == NULL)
		return n;
	colon = memchr(p, ':', n);
	if (colon == NULL)
		return n;
	klen = (size_t)(colon - p);
	if (klen != strlen(r->want_hdr) || strncasecmp(p, r->want_hdr, klen) != 0)
		return n;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	if (vlen >= sizeof(r->hdr))
		vlen = sizeof(r->hdr) - 1;
	memcpy(r->hdr, v, vlen);
	r->hdr[vlen] = '\0';
	r->have_hdr = 1;
	return n;
}

const char *cl_http_strerror(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "no connection (refused, unreachable or unresolved)";
	case -ETIMEDOUT:
		return "no answer within the time budget";
	case -EFBIG:
		return "body larger than 64 KiB";
	case -EINVAL:
		return "unusable URL";
	case -ENOMEM:
		return "out of memory";
	default:
		return "transfer failed";
	}
}

void cl_http_free(struct cl_http *resp)
{
	if (resp == NULL)
		return;
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

int cl_http_request(const char *method, const char *url, const char *const *headers,
		    const char *want_hdr, int64_t deadline_ms, struct cl_http *resp)
{
	struct curl_slist *list = NULL, *nl;
	CURL *h = NULL;
	CURLcode cc;
	curl_off_t connect_us = 0;
	int64_t left = deadline_ms - util_now_ms();
	int r;

	memset(resp, 0, sizeof(*resp));
	resp->want_hdr = want_hdr;
	if (left <= 0)
		return -ETIMEDOUT;
	h = curl_easy_init();
	if (h == NULL)
		return -ENOMEM;
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
		nl = curl_slist_append(list, headers[i]);
		if (nl == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		list = nl;
	}
	if (strcmp(method, "PUT") == 0) {
		/* an empty PUT; drop the form content type libcurl would add */
		nl = curl_slist_append(list, "Content-Type:");
		if (nl == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		list = nl;
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	}
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK) {
		r = -EINVAL;
		goto fail;
	}
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)CLUSTER_HTTP_MAX_BODY);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "garrison/" GARRISON_VERSION);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);

	cc = curl_easy_perform(h);
	switch (cc) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		r = 0;
		break;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		r = resp->too_big || cc == CURLE_FILESIZE_EXCEEDED ? -EFBIG : -ENOMEM;
		break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		r = -ECONNREFUSED;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		/* a timeout before the connection was made means nobody is there */
		curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect_us);
		r = connect_us == 0 ? -ECONNREFUSED : -ETIMEDOUT;
		break;
	case CURLE_OUT_OF_MEMORY:
		r = -ENOMEM;
		break;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		r = -EINVAL;
		break;
	default:
		r = -EIO;
		break;
	}
	if (r < 0)
		goto fail;
	if (resp->body == NULL) {
		resp->body = calloc(1, 1);
		if (resp->body == NULL) {
			r = -ENOMEM;
			goto fail;
		}
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(list);
	return 0;
fail:
	if (h != NULL)
		curl_easy_cleanup(h);
	curl_slist_free_all(list);
	cl_http_free(resp);
	return r;
}

int cl_http_get_json(const char *src, const char *what, const char *url,
		     const char *const *headers, int64_t deadline_ms, int quiet, json_t **root)
{
	struct cl_http resp;
	json_error_t jerr;
	json_t *j;
	int r;

	*root = NULL;
	r = cl_http_request("GET", url, headers, NULL, deadline_ms, &resp);
	if (r < 0) {
		if (quiet && r != -ENOMEM) {
			log_debug("cluster: %s: %s: %s", src, what, cl_http_strerror(r));
			return 0;
		}
		return cl_http_fail(src, what, r);
	}
	if (resp.status != 200) {
		if (quiet || resp.status == 404)
			log_debug("cluster: %s: %s: HTTP %ld", src, what, resp.status);
		else
			cl_reject(src, "%s: HTTP %ld", what, resp.status);
		cl_http_free(&resp);
		return 0;
	}
	j = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	cl_http_free(&resp);
	if (!json_is_object(j)) {
		if (quiet)
			log_debug("cluster: %s: %s: not a JSON object", src, what);
		else if (j == NULL)
			cl_reject(src, "%s: malformed JSON (line %d: %.80s)", what, jerr.line, jerr.text);
		else
			cl_reject(src, "%s: JSON answer is not an object", what);
		json_decref(j);
		return 0;
	}
	*root = j;
	return 1;
}
