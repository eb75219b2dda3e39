/*
 * rtenforce: applies the "prevent" effects of the container runtime policy to running containers
 * with the enforcement primitives of enforce.h, and reports what it prevented. The runtime engine
 * (rtengine.c) owns one; it tells it the policy and which containers run, and turns its reports
 * into audits.
 *
 *  - exec and file open: a container whose applicable rule (the first enabled rule whose
 *    collections match it) has processes.deniedList or filesystem.deniedList with effect
 *    "prevent" gets its root file system marked with fanotify permission events; each exec/open
 *    is decided from that rule's deny lists (runtime_evaluate without models: what a single event
 *    decides) and a denial fails with EPERM inside that container only.
 *  - outbound connections: a container whose rule has network.deniedIPs with deniedIPsEffect
 *    "prevent" gets the cgroup connect/sendmsg deny program attached to its cgroup, with that
 *    rule's addresses (single addresses, and CIDRs of at most 256 addresses); the connect()
 *    fails with EPERM. The sensor sees that failed connect itself, so these are not reported here.
 *    outboundPorts.denied with effect "prevent" becomes "any address" rules, one per port (at most
 *    256 ports per rule); larger CIDRs and the ports beyond are only counted in the stats
 *    (docs/enforcement.md, "Applied by policy").
 *  - block: rtenforce_block() stops a container through the Docker engine, on a thread of its own.
 *
 * Thread safety: every function may be called from any thread; report may be called from
 * rtenforce's own threads at any time between rtenforce_new() and rtenforce_free(). When the
 * Defender stops or dies, every mark and program goes with it (enforce.h).
 */
#ifndef GARRISON_RTENFORCE_H
#define GARRISON_RTENFORCE_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "event.h"
#include "runtime.h"

/* What was prevented (exec or file open) or blocked: a synthetic event (EVENT_EXEC with filename,
 * pid, comm; EVENT_FILE op open with path; for a block, the event that caused it), the decision
 * (effect PREVENT or BLOCK, rule, attack type, message), the container's id. For a block, ok is 1
 * when the engine stopped the container, 0 with why when it could not. */
struct rtenforce_report {
	char container[EVENT_CONTAINER_MAX];
	struct event ev;
	struct runtime_decision d;
	int ok;
	char why[256];
};

/* Called on rtenforce's threads; r is valid during the call only; must be quick and thread-safe. */
typedef void (*rtenforce_report_fn)(const struct rtenforce_report *r, void *arg);

struct rtenforce_config {
	const char *docker_addr;   /* for block: "unix:///path", "/path", NULL = /var/run/docker.sock */
	rtenforce_report_fn report;
	void *arg;
	int deadline_ms;           /* fanotify answer deadline (0: enforce.h default); fail open */
};

struct rtenforce;

/* Creates the enforcer; nothing is marked or attached yet (that happens per container, lazily, so
 * a node whose policy never prevents loads nothing). 0 and *out, -ENOMEM. */
int rtenforce_new(const struct rtenforce_config *cfg, struct rtenforce **out);
/* Replaces the container policy (a runtime.ContainerPolicy document, parsed here). Containers
 * already known are re-evaluated: marks and programs are added, changed or removed to follow the
 * new policy. 0, or -EINVAL with the parser's sentence in err (the old policy stays). */
int rtenforce_set_policy(struct rtenforce *e, const json_t *container_policy, char *err, size_t errlen);
/* A running container (id: 64 hex), its init process and workload (copied). Applies what its rule
 * prevents. Calling it again for a known id updates it. 0 when nothing needed doing or it was
 * applied; a negative errno when a primitive failed (the container then runs unenforced; err
 * says why, and the failure is counted in the stats). */
int rtenforce_container(struct rtenforce *e, const char *id, pid_t init_pid,
			const struct runtime_workload *w, char *err, size_t errlen);
/* The container stopped or was removed: forgets it (its marks and links go with it). */
void rtenforce_container_gone(struct rtenforce *e, const char *id);
/* 1 when outbound connections of container id are enforced in the kernel (the deny program is
 * attached), else 0: the engine uses it to tell a prevented connect from one that was not. */
int rtenforce_net_enforced(struct rtenforce *e, const char *id);
/* Stops container id through the engine, asynchronously; the result is reported with ev and d
 * (copied) as the cause. 0 when queued, -EALREADY when a block of id is pending, -ENOMEM. */
int rtenforce_block(struct rtenforce *e, const char *id, const struct event *ev,
		    const struct runtime_decision *d);
/* Counters for the Defender's runtime status: {"fanotify":{events,allowed,denied,timedOut,
 * marks,...},"net":{allowed,denied,links},"containers":N,"failures":N,"lastError":S,
 * "blocks":{"ok":N,"failed":N},"lsm":"available|unavailable: ..."}. New reference or NULL. */
json_t *rtenforce_stats_json(struct rtenforce *e);
/* Removes everything, stops the threads, frees e. NULL is a no-op. */
void rtenforce_free(struct rtenforce *e);

#endif
