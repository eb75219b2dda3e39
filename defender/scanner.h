/*
 * scanner: the Defender's scans of its node. One thread scans
 *   - every image present in the Docker engine (streamed with GET /images/{id}/get through the
 *     image reader: never extracted to disk), when it appears and every interval;
 *   - every running container's configuration (CIS Docker Benchmark section 5 on its inspect
 *     answer), when it starts;
 *   - the host: its packages through host_root (/proc/1/root from a container with host PID) and
 *     the host/daemon checks (sections 1-3), at start and every interval;
 * and sends each record (lib/scan.h: packages and compliance; the Console adds vulnerabilities)
 * to the Console:
 *   {"type":"scan", "kind":"image"|"container"|"host", "id", "record":{...}}
 *   {"type":"scan-removed", "kind":"image"|"container", "id"}
 * Records are also written to <data_dir>/scans/, so that after a reconnection (scanner_resync)
 * or a restart of the Defender every record is sent again without scanning again: none is lost
 * while the Console is away. New images and containers are noticed by listing them every
 * SCANNER_POLL_MS (two cheap requests); an image is scanned again after the interval
 * (GARRISON_SCAN_INTERVAL_SEC, default 24 h).
 */
#ifndef GARRISON_SCANNER_H
#define GARRISON_SCANNER_H

#include <jansson.h>

#define SCANNER_POLL_MS 3000
#define SCANNER_INTERVAL_S (24 * 3600)
#define SCANNER_RECORD_MAX (8u << 20) /* a larger record is not sent (PROTO_MAX_MSG is 16 MiB) */
#define SCANNER_IMAGES_MAX 5000
#define SCANNER_CONTAINERS_MAX 20000

struct scanner;

/* Called from the scanner thread; takes ownership of msg. */
typedef void (*scanner_emit_fn)(json_t *msg, void *arg);

struct scanner_config {
	const char *docker_addr; /* DOCKER_CLIENT_ADDRESS (NULL: the default socket) */
	const char *host_root;   /* the host's / (NULL or "": /proc/1/root when readable, else /) */
	const char *hostname;
	const char *data_dir;    /* records go to data_dir/scans/ (created 0700) */
	int interval_s;          /* 0: GARRISON_SCAN_INTERVAL_SEC, else SCANNER_INTERVAL_S */
	scanner_emit_fn emit;
	void *arg;
};

/* Starts the scanner thread (strings are copied). 0 and *out, -EINVAL, -ENOMEM, -errno. */
int scanner_start(const struct scanner_config *cfg, struct scanner **out);

/* Thread-safe: send every stored record again soon (after every new session with the Console). */
void scanner_resync(struct scanner *s);

/* Thread-safe: {"images", "containers", "hosts": records held; "scanning": what is being scanned
 * or null; "lastError"}: for the Defender's status. A new reference, NULL on ENOMEM. */
json_t *scanner_status(struct scanner *s);

/* Stops the thread (a scan under way finishes first: seconds at most) and frees s. NULL: no-op. */
void scanner_stop(struct scanner *s);

#endif
