/*
 * docker: a small client of the Docker Engine API over its unix socket (libcurl with
 * CURLOPT_UNIX_SOCKET_PATH), for the inventory. It negotiates the API version (GET /_ping, the
 * Api-Version header, else GET /version), then sends every request to /v<version>/...; it reads
 * JSON answers (jansson, duplicate keys rejected) and follows GET /events, a stream of
 * newline-delimited JSON objects.
 *
 * Every answer is untrusted: a body larger than DOCKER_BODY_MAX, an event line longer than
 * DOCKER_EVENT_LINE_MAX, malformed JSON, a missing or odd status line all end in an error code and
 * a sentence in docker_errmsg(), never in a crash or an unbounded allocation. Proxies are never
 * used, redirects never followed, and only http over the unix socket is spoken.
 *
 * Error codes (negative errno): -ECONNREFUSED (no engine at the socket), -ETIMEDOUT, -ECONNRESET
 * (the engine closed the connection), -EPIPE (the event stream ended), -ECANCELED (the cancel flag
 * was raised), -ENOENT (404), -EBUSY (409, e.g. top of a stopped container), -EINVAL (400 or a bad
 * argument), -EIO (5xx and other HTTP errors), -EPROTO (not HTTP, or an engine API too old),
 * -EBADMSG (malformed JSON or a wrong type), -EFBIG (body too large), -EMSGSIZE (event line too
 * long), -ENOMEM. docker_err_unreachable() tells the first group (the engine is not there) from
 * the rest (the engine answered, badly).
 *
 * The process calls curl_global_init() before the first docker_new(). One struct docker (and the
 * event streams opened from it) is used by one thread at a time.
 */
#ifndef GARRISON_DOCKER_H
#define GARRISON_DOCKER_H

#include <stdatomic.h>
#include <stddef.h>

#include <jansson.h>

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_API_MAX "1.41"             /* the newest API this client speaks (engine 20.10) */
#define DOCKER_API_MIN_MINOR 24           /* refuses engines older than API 1.24 (Docker 1.12) */
#define DOCKER_BODY_MAX (32u << 20)       /* largest answer accepted */
#define DOCKER_EVENT_LINE_MAX (64 * 1024) /* longest event line accepted */
#define DOCKER_EVENTS_QUEUED_MAX 1024     /* parsed events held before the stream is paused */
#define DOCKER_TIMEOUT_MS 20000           /* one request, connection included */
#define DOCKER_CONNECT_TIMEOUT_MS 3000
#define DOCKER_ERRMSG_MAX 320
#define DOCKER_VERSION_MAX 64             /* longest engine version string kept */

struct docker;
struct docker_events;

/* Turns DOCKER_CLIENT_ADDRESS into a socket path: "unix:///path" or "/path" (NULL or "" mean
 * DOCKER_DEFAULT_SOCKET). Returns 0, -EPROTONOSUPPORT for another scheme (tcp://, ssh://, npipe://)
 * or -EINVAL for a relative or over-long path (a socket path has at most 107 bytes). */
int docker_socket_path(const char *addr, char *buf, size_t len);

/* A client for addr (see docker_socket_path). Connects lazily: this never touches the socket.
 * cancel, when not NULL, is watched during every transfer: a non-zero value aborts it with
 * -ECANCELED (for a prompt shutdown). 0, -EPROTONOSUPPORT, -EINVAL or -ENOMEM. */
int docker_new(const char *addr, atomic_int *cancel, struct docker **out);
/* Frees d. NULL is a no-op. Close d's event streams first. */
void docker_free(struct docker *d);

/* Pings the engine and negotiates the API version: min(engine's, DOCKER_API_MAX). Also reads the
 * engine version. 0 or an error above (-EPROTO for an engine older than API 1.24). */
int docker_negotiate(struct docker *d);
/* "1.41" after a successful negotiation, "" before. */
const char *docker_api_version(const struct docker *d);
/* The engine's version ("20.10.24+dfsg1") after a successful negotiation, "" before. */
const char *docker_engine_version(const struct docker *d);

/* GET /v<api><path> (path starts with '/', may carry a query; the caller has checked any id it
 * holds) and parses the answer as JSON. 0 and *out (a new reference), or an error above with
 * *out = NULL. Needs a successful docker_negotiate(). */
int docker_get_json(struct docker *d, const char *path, json_t **out);

/* The reason for the last failure on d or one of its streams, "" when there was none. Holds no
 * control characters and at most DOCKER_ERRMSG_MAX - 1 bytes. */
const char *docker_errmsg(const struct docker *d);

/* 1 when err means the engine could not be reached (-ECONNREFUSED, -ETIMEDOUT, -ECONNRESET,
 * -EPIPE), 0 when it answered something unusable. */
int docker_err_unreachable(int err);

/* Opens GET /events, with filters (a JSON object as text, URL-encoded here; NULL for none), and
 * waits until the engine has answered 200 with its headers: from then on no event is missed.
 * wake_fd (or -1) is a descriptor docker_events_next() also waits on: when it is readable the
 * wait ends early (it is not read here). 0 and *out, or an error above. */
int docker_events_open(struct docker *d, const char *filters, int wake_fd,
		       struct docker_events **out);

/* Waits up to timeout_ms for the next event. Returns 1 and *ev (a new reference to a JSON object,
 * one line of the stream), 0 when the time passed or wake_fd became readable, or an error:
 * -EPIPE when the engine ended the stream, -EMSGSIZE for a line longer than DOCKER_EVENT_LINE_MAX,
 * -EBADMSG for a line that is not a JSON object, others as above. Events that arrived before an
 * error are returned first. After an error the stream is finished: close it. */
int docker_events_next(struct docker_events *e, int timeout_ms, json_t **ev);

/* Ends the stream and frees e. NULL is a no-op. */
void docker_events_close(struct docker_events *e);

/* The parts of an event the inventory uses. */
struct docker_event {
	char type[32];     /* "container", "image", "network", ... */
	char action[64];   /* "start", "die", ...; of "exec_create: sh" only the verb */
	char id[160];      /* Actor.ID: a container id, an image id or reference, ... */
};

/* Reads Type, Action and Actor.ID of one event (a JSON object from the stream). 0, or -EBADMSG
 * with a sentence in err when a member is missing, not a string or too long. */
int docker_event_parse(const json_t *ev, struct docker_event *out, char *err, size_t errlen);

/* 1 when s is a full container id (64 lowercase hex digits), else 0. */
int docker_is_container_id(const char *s);
/* 1 when s is an image id "sha256:" followed by 64 lowercase hex digits, else 0. */
int docker_is_image_id(const char *s);

#endif
