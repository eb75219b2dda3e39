/*
 * sensor: the Defender's runtime event source behind one interface. A back end (struct
 * sensor_backend) produces struct event values on a thread of its own; the generic part here
 * (sensor.c) owns that thread, a bounded single-producer single-consumer queue between it and the
 * consumer, the mapping of cgroup ids to containers and the counters.
 *
 * Back ends: "bpf" (sensor_bpf.c: CO-RE programs of bpf/ on tp_btf and raw syscall tracepoints,
 * one ring buffer), "replay" (sensor_replay.c: a JSON-lines recording, for tests of rules and
 * models without root), "netlink" (sensor_procconn.c: the proc connector and fanotify, for kernels
 * without BTF; exec and exit, written files; racy /proc reads).
 *
 * Guarantees: the back end's thread never blocks the source on the consumer. When the queue is
 * full, the bpf back end stops reading its ring buffer (the kernel's buffer absorbs the burst, and
 * what it has no room for is counted there as lost); other back ends drop the event and count it
 * (the replay back end, configured lossless, waits instead). Events reach
 * the consumer in the order the back end produced them. Counters of events seen and lost in the
 * kernel, read by the back end and dropped in user space are available at any time from any
 * thread (sensor_stats). One consumer thread calls sensor_next(); the container id is resolved on
 * that thread (lazily, from the cgroup tree, with a cache).
 */
#ifndef GARRISON_SENSOR_H
#define GARRISON_SENSOR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "event.h"

#define SENSOR_PROCESS 0x1
#define SENSOR_NETWORK 0x2
#define SENSOR_FILE 0x4
#define SENSOR_ALL 0x7

#define SENSOR_DEFAULT_RINGBUF (8u << 20)
#define SENSOR_DEFAULT_QUEUE 1024 /* bursts wait in the ring buffer: the reader stops when the queue is full */
#define SENSOR_DEFAULT_WAKEUP (64u << 10)
#define SENSOR_WAKEUP_EACH ((size_t)-1)
#define SENSOR_DEFAULT_POLL_MS 20
#define SENSOR_DEFAULT_FOLD_MS 1000
#define SENSOR_FOLD_MAX_MS 60000
#define SENSOR_QUEUE_MAX (1u << 20)

/* bpf: where the network and file syscalls are seen (docs/sensors.md, "Hooks"). */
enum sensor_syscall_hook {
	SENSOR_HOOK_AUTO = 0,    /* the per-syscall tracepoints where the kernel has them, else sys_exit */
	SENSOR_HOOK_TRACEPOINTS, /* syscalls:sys_exit_<name> of the syscalls reported, or fail */
	SENSOR_HOOK_SYS_EXIT,    /* tp_btf/sys_exit: the exit of every syscall */
};

struct sensor_config {
	unsigned families;       /* SENSOR_* bits; 0 means SENSOR_ALL */
	size_t ringbuf_bytes;    /* bpf: ring buffer size, a power of two >= 4096 (0: default) */
	/* bpf: the kernel wakes the reader only once this many bytes wait (0: default); the reader
	 * also reads every poll_ms. SENSOR_WAKEUP_EACH: a wake-up per record when the reader has
	 * caught up (lowest latency, far more expensive for the traced processes). */
	size_t wakeup_bytes;
	int poll_ms;             /* bpf: the reader's timer, 1..1000 ms (0: default) */
	/* bpf: the fold window in ms (0: default; negative: off): repeats of a reported connect, DNS
	 * query or open for writing by the same process image are counted in the kernel, not
	 * written, and delivered as event.repeats (see bpf/events.h). */
	int fold_ms;
	int syscall_hook;        /* bpf: enum sensor_syscall_hook */
	size_t queue_len;        /* events held for the consumer, 2..SENSOR_QUEUE_MAX (0: default) */
	const char *cgroup_root; /* NULL: /sys/fs/cgroup */
	const char *replay_path; /* replay: the JSON-lines file */
	int drop_runtime;        /* drop runc's own exec instead of reporting it flagged */
	int lossless;            /* wait for room in the queue instead of dropping (replay only) */
};

struct sensor_stats {
	const char *backend;
	uint64_t seen[EVENT_TYPE_MAX];        /* kernel: records the programs tried to emit, per type */
	uint64_t lost_kernel[EVENT_TYPE_MAX]; /* kernel: ring buffer full, per type */
	uint64_t folded[EVENT_TYPE_MAX];      /* kernel: occurrences folded into a record, per type */
	uint64_t fold_delivered; /* the folded occurrences that reached the queue (event.repeats) */
	uint64_t fold_collected; /* events made of the counts of keys that went quiet */
	uint32_t fold_ms;        /* the fold window in force (0: no folding) */
	const char *syscall_hook; /* bpf: "tracepoints" or "sys_exit" (NULL: no syscall family) */
	const char *dns_hook;     /* bpf: "sock_send_length" (the socket layer) or "syscalls" (NULL: no network) */
	uint64_t ia32_undecoded; /* kernel: 32-bit syscalls of watched numbers, not decoded */
	uint64_t received;  /* records the back end read (bpf: ring buffer records and fold counts taken from the map) */
	uint64_t malformed; /* records the back end rejected (bad size or type, bad JSON line) */
	uint64_t dropped;   /* queue full: dropped in user space */
	uint64_t filtered;  /* dropped on purpose (drop_runtime) */
	uint64_t delivered; /* handed to the consumer by sensor_next */
	uint64_t cgroup_scans; /* re-reads of the cgroup tree for an unknown cgroup id */
	int running;        /* the back end's thread runs */
};

struct sensor;

/* What a back end implements. open() gets the configuration and returns its state; run() is
 * called once on the sensor's thread and produces events with sensor_emit() until *stop is set
 * (it must look at least every 200 ms) or its source ends; it returns 0 or a negative errno.
 * counters() adds the back end's own counters (kernel) to st and may be called from any thread
 * while run() runs. close() frees the state after run() has returned. */
struct sensor_backend {
	const char *name;
	int (*open)(const struct sensor_config *cfg, void **state, char *err, size_t errlen);
	int (*run)(void *state, struct sensor *s, const atomic_int *stop);
	void (*counters)(void *state, struct sensor_stats *st);
	void (*close)(void *state);
};

extern const struct sensor_backend sensor_backend_bpf;
extern const struct sensor_backend sensor_backend_replay;
extern const struct sensor_backend sensor_backend_netlink;

/* Parses a comma-separated list of family names ("process", "network", "file", "all") into
 * SENSOR_* bits. 0, or -EINVAL for an empty list or an unknown name. */
int sensor_families_parse(const char *list, unsigned *out);

/* Parses "auto", "tracepoints" or "sys_exit" into enum sensor_syscall_hook: 0 and *out, or
 * -EINVAL. */
int sensor_syscall_hook_parse(const char *name, int *out);

/* Opens the back end named name ("bpf", "replay", "netlink") with cfg (copied; strings must stay valid until
 * sensor_free). Nothing runs yet. 0 and *out, -ENOENT for an unknown name, -EINVAL for a bad
 * configuration, or the back end's error (-EPERM: not allowed to load BPF, ...); err gets a
 * sentence. */
int sensor_open(const char *name, const struct sensor_config *cfg, struct sensor **out, char *err,
		size_t errlen);
/* Starts the back end's thread. 0 or -errno. Call once. */
int sensor_start(struct sensor *s);
/* The next event, waiting up to timeout_ms (-1: forever). Returns 1 with *ev filled (container
 * resolved), 0 on time-out, -EPIPE when the back end has ended and every event was handed out.
 * One consumer thread only. */
int sensor_next(struct sensor *s, struct event *ev, int timeout_ms);
/* Counters, safe from any thread. */
void sensor_stats(struct sensor *s, struct sensor_stats *st);
/* The counters as a JSON object for the Defender's status: {"backend","running","events":{"<type>":
 * {"seen","lostKernel","folded"}},"seen","lostKernel","received","malformed","dropped","filtered",
 * "delivered","cgroupScans","ia32Undecoded","folded","foldedDelivered","foldCollected","foldMs",
 * "lossRate"}.
 * New reference or NULL (out of memory). */
json_t *sensor_stats_json(const struct sensor_stats *st);
/* Stops the thread (if started), closes the back end and frees s. NULL is a no-op. */
void sensor_free(struct sensor *s);

/* For back ends, on the sensor thread: queues ev (copied). Drops it when the queue is full (or
 * waits, lossless), drops runc's setup exec when configured. Returns 0, or -ECANCELED when a
 * lossless wait was cut short by sensor_free. */
int sensor_emit(struct sensor *s, const struct event *ev);
/* A slot to fill in place, to spare a copy: returns a pointer into the queue, or NULL when the
 * queue is full (the drop is counted). sensor_commit() publishes it. Not for lossless use. */
struct event *sensor_reserve(struct sensor *s);
void sensor_commit(struct sensor *s);
/* For back ends, on the sensor thread: 1 when the queue has no free slot (nothing is counted), so
 * that a back end with a buffer of its own (the bpf ring buffer) can stop reading instead of
 * dropping. */
int sensor_queue_full(struct sensor *s);
/* For a back end that produces in bursts (the eBPF reader drains the ring buffer in rounds):
 * between begin and end, commits do not wake the consumer; end wakes it once when anything was
 * committed. Without this, a consumer faster than the decoder sleeps and is woken for nearly every
 * event (a futex wake and a context switch each, ~2 us). Producer thread only. */
void sensor_batch_begin(struct sensor *s);
void sensor_batch_end(struct sensor *s);
/* For back ends: counts a malformed record / one record read. */
void sensor_count_malformed(struct sensor *s);
void sensor_count_received(struct sensor *s, uint64_t n);

/* 1 when ev is the container runtime's own setup exec: runc executes itself from a memfd as
 * /dev/fd/N or /proc/self/fd/N (comm "runc" or "runc:[...]"). */
int sensor_is_runtime_setup(const struct event *ev);

/* ---- cgroup id -> container (sensor_cgroup.c) ---- */

struct sensor_cgroups;

/* A resolver over the cgroup tree at root (NULL: /sys/fs/cgroup). It looks for containers, in
 * order, under unified/docker/<id>, docker/<id> (cgroup v2 with the cgroupfs driver),
 * system.slice/docker-<id>.scope and unified/system.slice/docker-<id>.scope, and their
 * subdirectories to depth 3; the cgroup id is the directory's inode number. 0 or -ENOMEM. */
int sensor_cgroups_new(const char *root, struct sensor_cgroups **out);
void sensor_cgroups_free(struct sensor_cgroups *c);
/* The container of cgroup id into out (EVENT_CONTAINER_MAX bytes): 1 with the 64-hex id, 0 with
 * "" for the host (any cgroup that is not under a container's). An unknown id rescans the tree, at
 * most once per 50 ms; answers are cached (negative ones for 10 s). Not thread-safe. */
int sensor_cgroups_resolve(struct sensor_cgroups *c, uint64_t cgroup_id, char *out);
/* Forgets everything cached (tests; a container was removed). */
void sensor_cgroups_flush(struct sensor_cgroups *c);
/* Rescans performed so far. */
uint64_t sensor_cgroups_scans(const struct sensor_cgroups *c);

#endif
