/*
 * image_engine: an image read straight from a Docker engine. GET /images/{name}/get answers a
 * docker-archive stream; a thread runs the libcurl transfer (unix socket, no proxy, connect
 * time-out, low-speed abort) and writes the body into one end of a socket pair while the caller
 * reads the other end with image_read_fd(). Nothing is stored: memory is the socket buffer and
 * libcurl's. When the reader stops early (an error, or the end of the tar before the end of the
 * body), closing its end makes the writer's send() fail and the transfer abort. An error answer
 * (404 for an unknown image) is reported with the engine's message.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "garrison/image.h"
#include "image_int.h"

#define ENGINE_CONNECT_TIMEOUT_MS 5000L
#define ENGINE_STALL_SEC 300L /* Docker 20.10 exports the image to a temp dir before the first byte */

struct engine_xfer {
	CURL *h;
	int wfd;
	long status;
	int started;
	CURLcode rc;
	char ebody[1024];
	size_t elen;
	char cerr[CURL_ERROR_SIZE];
};

static size_t engine_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct engine_xfer *x = arg;
	size_t n = size * nmemb, off = 0;

	if (!x->started) {
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
		x->started = 1;
	}
	if (x->status != 200) {
		size_t k = n < sizeof(x->ebody) - 1 - x->elen ? n : sizeof(x->ebody) - 1 - x->elen;
		memcpy(x->ebody + x->elen, p, k);
		x->elen += k;
		x->ebody[x->elen] = '\0';
		return n;
	}
	while (off < n) {
		ssize_t w = send(x->wfd, p + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 0; /* the reader is gone: abort the transfer */
		}
		off += (size_t)w;
	}
	return n;
}

static void *engine_thread(void *arg)
{
	struct engine_xfer *x = arg;
	x->rc = curl_easy_perform(x->h);
	if (!x->started)
		curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	shutdown(x->wfd, SHUT_WR);
	close(x->wfd);
	return NULL;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 512)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == '@'))
			return 0;
	}
	return s[0] != '/' && !strstr(s, "..");
}

int image_from_engine(const char *socket_path, const char *name, const struct image_opts *o,
		      struct image_scan_result **out, char *err, size_t errlen)
{
	struct engine_xfer x = { .wfd = -1 };
	char url[700], origin[600];
	int sv[2] = { -1, -1 }, rc, started = 0;
	pthread_t th;

	if (!out || !socket_path || !name)
		return -EINVAL;
	*out = NULL;
	if (!name_ok(name)) {
		if (err && errlen)
			snprintf(err, errlen, "engine: '%.100s' is not an image name", name);
		return -EINVAL;
	}
	snprintf(url, sizeof(url), "http://docker/images/%s/get", name);
	snprintf(origin, sizeof(origin), "engine image %s", name);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		rc = -errno;
		goto fail_msg;
	}
	if (!(x.h = curl_easy_init())) {
		rc = -ENOMEM;
		goto fail_msg;
	}
	x.wfd = sv[1];
	curl_easy_setopt(x.h, CURLOPT_URL, url);
	curl_easy_setopt(x.h, CURLOPT_UNIX_SOCKET_PATH, socket_path);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(x.h, CURLOPT_PROTOCOLS_STR, "http");
#else
	curl_easy_setopt(x.h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTP);
#endif
	curl_easy_setopt(x.h, CURLOPT_PROXY, "");
	curl_easy_setopt(x.h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(x.h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(x.h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x.h, CURLOPT_CONNECTTIMEOUT_MS, ENGINE_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x.h, CURLOPT_LOW_SPEED_TIME, ENGINE_STALL_SEC);
	curl_easy_setopt(x.h, CURLOPT_USERAGENT, "garrison/" GARRISON_VERSION);
	curl_easy_setopt(x.h, CURLOPT_WRITEFUNCTION, engine_write);
	curl_easy_setopt(x.h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(x.h, CURLOPT_ERRORBUFFER, x.cerr);
	if ((rc = -pthread_create(&th, NULL, engine_thread, &x)) != 0)
		goto fail_msg;
	started = 1;
	sv[1] = -1; /* the thread closes it */
	rc = image_read_fd(sv[0], origin, o, out, err, errlen);
	close(sv[0]); /* a writer still sending fails now */
	sv[0] = -1;
	pthread_join(th, NULL);
	if (x.status != 200) {
		json_t *j = json_loads(x.ebody, 0, NULL);
		const char *m = json_string_value(json_object_get(j, "message"));
		if (err && errlen) {
			if (x.status)
				snprintf(err, errlen, "%s: HTTP %ld: %.300s", origin, x.status,
					 m ? m : x.ebody);
			else
				snprintf(err, errlen, "%s: %s: %s", origin, socket_path,
					 x.cerr[0] ? x.cerr : curl_easy_strerror(x.rc));
		}
		json_decref(j);
		image_scan_result_free(*out);
		*out = NULL;
		rc = x.status == 404 ? -ENOENT : x.status ? -EPROTO : -ECONNREFUSED;
	} else if (rc < 0 && x.rc != CURLE_OK && x.rc != CURLE_WRITE_ERROR) {
		/* the stream broke: say why, after the reader's view of it */
		size_t k = err ? strlen(err) : 0;
		if (err && k + 4 < errlen)
			snprintf(err + k, errlen - k, " (transfer: %s)",
				 x.cerr[0] ? x.cerr : curl_easy_strerror(x.rc));
	}
	curl_easy_cleanup(x.h);
	return rc;
fail_msg:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", origin, strerror(-rc));
	if (!started && x.h)
		curl_easy_cleanup(x.h);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return rc;
}
