/*
 * enforce_block: the "block" action (see enforce.h): stops, kills or pauses a container through the
 * Docker Engine API, POST /containers/<id>/{stop?t=N,kill,pause}, with libcurl over the engine's
 * unix socket. It has its own small libcurl request (docker.c speaks GET and the event stream, and
 * belongs to the inventory) but takes the socket path from docker_socket_path(), so both read
 * DOCKER_CLIENT_ADDRESS the same way. Unversioned paths are used: every engine serves them with its
 * newest API, and these three calls have not changed since API 1.24. The answer body is read only
 * for the error sentence (bounded, control characters dropped). No proxy, no redirect.
 * The process has called curl_global_init().
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "docker.h"
#include "enforce.h"

#include <garrison/util.h>

#define BODY_KEEP 200

struct body {
	char s[BODY_KEEP + 1];
	size_t len;
};


static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;

	for (size_t i = 0; i < n && b->len < BODY_KEEP; i++) {
		unsigned char c = (unsigned char)p[i];
		b->s[b->len++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
	}
	b->s[b->len] = 0;
	return n;
}

static int valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
			return 0;
	return 1;
}

int enforce_block_container(const char *docker_addr, const char *id,
			    enum enforce_block_action action, int timeout_s, char *err,
			    size_t errlen)
{
	char sock[128], url[256];
	struct body body = { .len = 0 };
	CURL *h = NULL;
	CURLcode cc;
	long status = 0;
	int rc;

	if (!valid_id(id) || timeout_s < 0 || timeout_s > 3600) {
		util_set_err(err, errlen, "invalid container id or timeout");
		return -EINVAL;
	}
	rc = docker_socket_path(docker_addr, sock, sizeof(sock));
	if (rc < 0) {
		util_set_err(err, errlen, "invalid Docker address");
		return rc;
	}
	switch (action) {
	case ENFORCE_BLOCK_STOP:
		snprintf(url, sizeof(url), "http://docker/containers/%s/stop?t=%d", id, timeout_s);
		break;
	case ENFORCE_BLOCK_KILL:
		snprintf(url, sizeof(url), "http://docker/containers/%s/kill", id);
		break;
	case ENFORCE_BLOCK_PAUSE:
		snprintf(url, sizeof(url), "http://docker/containers/%s/pause", id);
		break;
	default:
		util_set_err(err, errlen, "unknown block action");
		return -EINVAL;
	}
	h = curl_easy_init();
	if (h == NULL)
		return -ENOMEM;
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)DOCKER_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s + 30) * 1000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
		     cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED : -EIO;
		util_set_err(err, errlen, "Docker engine at %s: %s", sock, curl_easy_strerror(cc));
		goto fail;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status == 204 || status == 304 || status == 200) {
		rc = 0;
	} else {
		rc = status == 404 ? -ENOENT : status == 409 ? -EBUSY : status == 400 ? -EINVAL : -EIO;
		util_set_err(err, errlen, "Docker engine answered %ld: %s", status, body.s);
	}
fail:
	curl_easy_cleanup(h);
	return rc;
}
