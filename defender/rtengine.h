/*
 * rtengine: the Defender's runtime engine. It ties the runtime building blocks together: the
 * sensor (sensor.h) gives events, the container inventory gives the workloads they come from,
 * the runtime policy from the Console (or its copy on disk) and the learned models decide
 * (runtime.h), decisions become audits that are throttled and spooled on disk (audit.h), and
 * rtenforce (rtenforce.h) applies prevent and block. The uplink delivers audits, models and status
 * to the Console (docs/protocol.md "Runtime"); docs/runtime.md "Wiring" describes the whole.
 *
 * Threads. One engine thread (rtengine_start) owns the sensor's consumer side, the workload
 * table, the models, the throttle and the held events. Other threads talk to it only through
 * small queues under a mutex: inventory updates (rtengine_on_inventory), a new policy
 * (rtengine_set_policy, validated and persisted on the caller's thread, swapped in by the engine),
 * relearn requests, and rtenforce's reports. The spool is shared with the uplink under its own
 * mutex; everything the uplink asks for (rtengine_audits_next, _ack, _status_json,
 * _profiles_json) is thread-safe.
 *
 * Guarantees: every audit is on disk before it is offered to the uplink; audits are offered in
 * sequence order, at most PROTO_RT_AUDITS_INFLIGHT messages unacknowledged, and after
 * rtengine_session_begin() again from the oldest unacknowledged one; nothing acknowledged is
 * offered again. A policy that does not validate never replaces the one in force. Without a
 * sensor (no root, no BPF) the engine still runs, says why in its status, and delivers the spool.
 */
#ifndef GARRISON_RTENGINE_H
#define GARRISON_RTENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Events held while their container is unknown to the inventory, and for how long. */
#define RTENGINE_HOLD_MAX 4096
#define RTENGINE_HOLD_MS 3000
/* Most containers in the workload table; most labels copied per container. */
#define RTENGINE_WORKLOADS_MAX 20000
#define RTENGINE_LABELS_MAX 128
/* Largest runtime-policy document accepted (message or file). */
#define RTENGINE_POLICY_MAX (8 * 1024 * 1024)
/* Largest learned-models file read or written (<data>/runtime-models.json). */
#define RTENGINE_MODELS_FILE_MAX (64 * 1024 * 1024)
/* Payload bytes of one runtime-audits message (beside PROTO_RT_AUDITS_BATCH records). */
#define RTENGINE_AUDITS_BYTES (192 * 1024)

/* Called on the engine's thread when there is something new for the uplink (audits spooled,
 * profiles changed); must be quick and thread-safe (the uplink wakes its loop). */
typedef void (*rtengine_wake_fn)(void *arg);

struct rtengine_config {
	const char *data_dir;     /* runtime-policy.json and audits/ live here (required) */
	const char *hostname;     /* this node (audits, host workload) */
	const char *cluster;      /* the node's cluster (containers without their own) */
	const char *docker_addr;  /* for block (rtenforce); NULL: default socket */
	const char *backend;      /* sensor back end: "bpf", "netlink", "replay"; NULL: no sensor */
	const char *replay_path;  /* for "replay" */
	int replay_lossless;      /* replay: never drop (tests) */
	uint64_t learn_ns;        /* model learning period */
	uint64_t dryrun_ns;       /* model dry run after learning (0: none) */
	uint64_t throttle_ns;     /* audit throttle window (0: 60 s) */
	uint64_t spool_bytes;     /* audit spool bound (0: 64 MiB) */
	int hold_ms;              /* 0: RTENGINE_HOLD_MS */
	size_t hold_max;          /* 0: RTENGINE_HOLD_MAX */
	int enforce;              /* 1: create an rtenforce (prevent/block); 0: alerts only */
	int profiles_ms;          /* models rendered at most this often (0: 5000; tests use 1) */
	size_t ringbuf_bytes;     /* bpf: the ring buffer, a power of two (0: the sensor's default) */
	int fold_ms;              /* bpf: the fold window (0: the sensor's default; negative: off) */
	int syscall_hook;         /* bpf: enum sensor_syscall_hook (0: auto) */
	rtengine_wake_fn wake;
	void *wake_arg;
};

struct rtengine;

/* Fills c from the environment (GARRISON_RUNTIME is read by the caller): GARRISON_SENSOR_BACKEND
 * (default "bpf"), GARRISON_SENSOR_REPLAY (a recording: selects "replay"),
 * GARRISON_MODEL_LEARN_SEC (3600), GARRISON_MODEL_DRYRUN_SEC (0), GARRISON_AUDIT_THROTTLE_SEC
 * (60), GARRISON_AUDIT_SPOOL_MB (64), GARRISON_SENSOR_RINGBUF_MB (4; a power of two: the ring is
 * mapped twice, so it costs twice its size in resident memory), GARRISON_SENSOR_FOLD_MS (1000;
 * 0 turns folding off; at most 60000), GARRISON_SENSOR_SYSCALL_HOOK (auto, tracepoints or
 * sys_exit; see sensor.h), enforce on. Strings point into the environment. Values
 * that do not parse are logged and replaced by the default. Other members are left as they are. */
void rtengine_config_env(struct rtengine_config *c);

/* Creates the engine: opens the spool (data_dir/audits), loads data_dir/runtime-policy.json when
 * present (source "disk"), opens the sensor back end (falling back from a failing back end to
 * "netlink" when that exists, else running without sensor; the reason is kept for the status).
 * Nothing runs yet. 0 and *out; -EINVAL (no data_dir), -ENOMEM, or the spool's error (err says
 * why). */
int rtengine_new(const struct rtengine_config *cfg, struct rtengine **out, char *err, size_t errlen);
/* Starts the engine thread (and the sensor's). 0 or -errno. Call at most once. */
int rtengine_start(struct rtengine *e);
/* Without rtengine_start (tests): does one round of the engine's loop on the caller's thread:
 * applies queued policy, inventory, relearn and reports; evaluates held events that are due;
 * evaluates sensor events, waiting up to timeout_ms for the first; flushes throttle windows that
 * ended; renders the models when due. Returns the number of events evaluated, or -EPIPE when the
 * sensor has ended (or there is none) and nothing is held or queued. Starts the sensor's thread
 * on the first call. */
int rtengine_step(struct rtengine *e, int timeout_ms);
/* Stops the thread, flushes the throttle (pending updates are spooled), closes the spool and the
 * sensor, frees e. NULL is a no-op. */
void rtengine_free(struct rtengine *e);

/* An inventory message (docs/inventory.md: inventory, container, container-removed; others are
 * ignored), borrowed during the call: what the engine needs is copied. Thread-safe. */
void rtengine_on_inventory(struct rtengine *e, const json_t *msg);
/* A runtime-policy message {revision, container, host}. Both policies are validated; when valid,
 * the message is written to data_dir/runtime-policy.json atomically, the engine switches to it at
 * its next round and rtenforce gets the container policy; 0. When invalid, the previous policy
 * stays, the error is kept for the status, and -EINVAL with the sentence in err. Thread-safe. */
int rtengine_set_policy(struct rtengine *e, const json_t *msg, char *err, size_t errlen);
/* A runtime-relearn message ({all: true} or {profiles: [_id...]}): the models named are reset at
 * the engine's next round. 0 or -EINVAL (neither given). Thread-safe. */
int rtengine_relearn(struct rtengine *e, const json_t *msg);

/* ---- for the uplink (thread-safe) ---- */

/* A new session (after welcome): the next audits offered start at the oldest unacknowledged
 * record, nothing is in flight, and the next rtengine_profiles_json(e, 0) returns the profiles. */
void rtengine_session_begin(struct rtengine *e);
/* The next runtime-audits message ({type, records: [{seq, kind, ...}]}: at most
 * PROTO_RT_AUDITS_BATCH records, about RTENGINE_AUDITS_BYTES) when there are records not sent in
 * this session and fewer than PROTO_RT_AUDITS_INFLIGHT messages await their ack; else NULL.
 * New reference. */
json_t *rtengine_audits_next(struct rtengine *e);
/* 1 when rtengine_audits_next would return a message now. */
int rtengine_audits_ready(struct rtengine *e);
/* runtime-audits-ack: acknowledges the spool up to seq (durable), and the messages in flight
 * that end at or before seq. 0, -EINVAL (seq beyond what was sent), or the spool's error. */
int rtengine_audits_ack(struct rtengine *e, uint64_t seq);
/* A runtime-profiles message ({type, profiles}) when the models changed since the last one
 * taken (or after rtengine_session_begin, or force); else NULL. The engine renders the models at
 * most every 5 s. New reference. */
json_t *rtengine_profiles_json(struct rtengine *e, int force);
/* The runtime-status message ({type, sensor, enforcement, spool: {nextSeq, acked, dropped,
 * corrupt, bytes}, policy: {revision, rules, hostRules, source, error}, models: {count, learning,
 * dryRun, active}}). New reference or NULL (out of memory). */
json_t *rtengine_status_json(struct rtengine *e);

#endif
