/*
 * inventory: what runs on this host — its containers, its images and the host itself — kept in
 * step with the Docker engine and sent to the Console as messages. One thread per inventory talks
 * to the engine (docker.h): it lists containers (all) and images, reads the processes and
 * listening ports of running ones from /proc (cproc.h, hostinfo.h), then follows GET /events, so a
 * container that starts or stops reaches the emit callback within a second or two; every
 * INVENTORY_REFRESH_S seconds it lists everything again and sends what changed (processes and
 * listening ports change without events).
 *
 * Messages (JSON objects, docs/inventory.md has every field):
 *   {"type":"inventory", "snapshotID", "part", "parts", "docker":{status}, "host":{...},
 *    "containers":[...], "images":[...]}      a full snapshot, split into parts when large
 *   {"type":"container", "container":{...}}   added or changed
 *   {"type":"container-removed", "id"}
 *   {"type":"image", "image":{...}} / {"type":"image-removed", "id"}
 *   {"type":"docker-status", "docker":"ok"|"unreachable"|"error", "error", "engineVersion", ...}
 * A full snapshot follows every successful (re)connection to the engine and every
 * inventory_resync(). An engine that is absent, restarts or answers garbage is reported through
 * docker-status and retried with a jittered backoff (1 s doubling to 16 s); nothing it sends can
 * crash the Defender or make it allocate without bound.
 *
 * The record builders below are pure functions of Docker's JSON, exported for the tests.
 */
#ifndef GARRISON_INVENTORY_H
#define GARRISON_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <garrison/hostinfo.h>

#define INVENTORY_REFRESH_S 60          /* full re-list; GARRISON_INVENTORY_REFRESH_SEC overrides */
#define INVENTORY_RECHECK_MS 2000       /* a started container is looked at again after this */
#define INVENTORY_MSG_MAX (192 * 1024)  /* snapshot parts stay below (PROTO_MAX_MSG 256 KiB) */
#define INVENTORY_RECORD_MAX (48 * 1024) /* a larger container record sheds processes, labels... */
#define INVENTORY_CONTAINERS_MAX 20000
#define INVENTORY_IMAGES_MAX 20000
#define INVENTORY_LABELS_MAX 128
#define INVENTORY_LABEL_KEY_MAX 256
#define INVENTORY_LABEL_VALUE_MAX 1024
#define INVENTORY_PROCESSES_MAX 256
#define INVENTORY_CMD_MAX 1024          /* a longer command line is cut (and says so) */
#define INVENTORY_PORTS_MAX 256
#define INVENTORY_LISTEN_MAX 4096       /* listening sockets read from one namespace */
#define INVENTORY_INODES_MAX 8192       /* socket inodes read from one container's processes */
#define INVENTORY_MOUNTS_MAX 128
#define INVENTORY_CAPS_MAX 64
#define INVENTORY_NETWORKS_MAX 32
#define INVENTORY_TAGS_MAX 256

struct inventory;

/* Called from the inventory thread; takes ownership of msg (the caller must json_decref it). */
typedef void (*inventory_emit_fn)(json_t *msg, void *arg);

/* Starts the inventory thread. docker_addr: DOCKER_CLIENT_ADDRESS ("/path" or "unix:///path";
 * NULL or "" = /var/run/docker.sock). host_root: where the host's / is visible (NULL or "" =
 * /proc/1/root when readable, else "/"); /proc/PID of containers is read from host_root/proc when
 * that is a procfs, else from /proc, and their cgroups from host_root/sys/fs/cgroup, else
 * /sys/fs/cgroup (the environment variables GARRISON_PROC_ROOT and GARRISON_CGROUP_ROOT override
 * both, for tests; GARRISON_INVENTORY_TOP=1 makes every container's processes come from the
 * engine's top, for benchmarks). node_cluster: this node's cluster name (NULL = none); a
 * container's own com.amazonaws.ecs.cluster label wins over it. Strings are copied. The engine is
 * contacted only from the thread, so this returns at once: 0 and *out, -EPROTONOSUPPORT or
 * -EINVAL for an unusable docker_addr, -ENOMEM, or -errno from pthread_create. */
int inventory_start(const char *docker_addr, const char *host_root, const char *node_cluster,
		    inventory_emit_fn emit, void *arg, struct inventory **out);

/* Thread-safe: emit a full snapshot as soon as possible (after every (re)connection to the
 * Console). While the engine is unreachable the snapshot holds the last known containers and
 * images, and its "docker" member says so. */
void inventory_resync(struct inventory *inv);

/* Thread-safe: {"docker":"ok"|"unreachable"|"error", "error":"..." (when not ok),
 * "engineVersion":"..." and "apiVersion":"..." (when known), "socket":"/path"}. A new reference
 * (NULL only when out of memory). */
json_t *inventory_status(struct inventory *inv);

/* Stops the thread (interrupting any request to the engine), waits for it and frees inv. No emit
 * call happens after it returns. NULL is a no-op. */
void inventory_stop(struct inventory *inv);

/* ---- the record builders (exported for tests) ---- */

/* Facts about a container that the engine does not give, read from /proc. */
struct inventory_facts {
	const struct hostinfo_listen *listen; /* listening TCP and bound UDP sockets of its netns */
	size_t nlisten;
	int listen_known;     /* 0: unknown (not running, or /proc unreadable): no "listening" */
	const uint64_t *inodes; /* socket inodes its processes hold */
	size_t ninodes;
	int inodes_known;     /* 0: unknown; then every socket of a private namespace counts as the
			       * container's, and none of the host's (host network) */
};

/* Builds our container record from GET /containers/{id}/json (inspect), the processes made by
 * cproc_processes() from /proc or by inventory_processes() from GET /containers/{id}/top (NULL
 * when not running or unknown) and facts
 * (NULL = none). node_cluster may be NULL. Returns 0 and *out (a new reference), or -EBADMSG with
 * a sentence in err when inspect lacks a required member or has one of the wrong type or size
 * (-ENOMEM when out of memory). Over-long or too many labels, processes, ports... are cut to the
 * INVENTORY_*_MAX bounds and flagged ("labelsTruncated", ...), never refused. */
int inventory_container_record(const json_t *inspect, const json_t *processes,
			       const struct inventory_facts *facts, const char *node_cluster,
			       json_t **out, char *err, size_t errlen);

/* Turns GET /containers/{id}/top into our process list: [{"name","cmdline","pid","ppid","user"}]
 * (at most INVENTORY_PROCESSES_MAX). 0 and *out, or -EBADMSG with err. */
int inventory_processes(const json_t *top, json_t **out, char *err, size_t errlen);

/* Builds our image record from one element of GET /images/json (summary) and, when not NULL, GET
 * /images/{id}/json (inspect, for os and architecture). 0 and *out, or -EBADMSG with err. */
int inventory_image_record(const json_t *summary, const json_t *inspect, json_t **out, char *err,
			   size_t errlen);

/* Splits a full snapshot into messages of at most INVENTORY_MSG_MAX bytes each (when a single
 * record is larger, it travels alone): the first carries host and docker, every one carries
 * "snapshotID", "part" (1-based) and "parts". containers and images are arrays of records.
 * Returns 0 and *out, a new JSON array of messages, or -ENOMEM. */
int inventory_snapshot_messages(const json_t *host, const json_t *docker, const json_t *containers,
				const json_t *images, json_t **out);

#endif
