/*
 * enforce: the runtime enforcement primitives of the Defender ("prevent" and "block"), which the
 * rule engine calls; design, choices and limits in docs/enforcement.md.
 *
 *  - enforce_fanotify_*: exec and file-open prevention with fanotify permission events
 *    (FAN_OPEN_EXEC_PERM, FAN_OPEN_PERM) marked on a container's own root file system
 *    (FAN_MARK_FILESYSTEM on /proc/<pid>/root/), so that only that container's operations are
 *    seen. A dedicated reader thread answers every event within a deadline: the decision callback
 *    runs on worker threads, and an event whose decision has not come in time is answered with the
 *    timeout policy. The marks live and die with the fanotify descriptor: when the Defender stops
 *    or dies, the kernel removes them and allows whatever was pending.
 *  - enforce_net_*: outbound-connection prevention with a cgroup sock_addr BPF program
 *    (bpf/netdeny.bpf.c: connect4/6, sendmsg4/6) attached by bpf_link to a container's cgroup v2
 *    directory; connect() and sendmsg() get EPERM. Links are never pinned: they go away with the
 *    process.
 *  - enforce_lsm_probe(): whether BPF-LSM programs load and attach here.
 *  - enforce_block_container(): stop, kill or pause a container through the Docker Engine API.
 *  - enforce_path_* / enforce_pathset_*: path normalisation and the path deny lists (no root).
 *
 * Every function returns 0 (or a documented positive value) or a negative errno. Everything read
 * from the kernel, /proc and Docker is untrusted: sizes are bounded and failures are errors, never
 * crashes.
 */
#ifndef GARRISON_ENFORCE_H
#define GARRISON_ENFORCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ENFORCE_PATH_MAX 4096
#define ENFORCE_CONTAINER_MAX 128 /* a container label (id or name), NUL included */
#define ENFORCE_ERR_MAX 256

enum enforce_verdict { ENFORCE_ALLOW = 0, ENFORCE_DENY = 1 };

/* ---- paths and path deny lists (pure functions, no privileges) ------------------------------ */

/* Normalises an absolute path lexically: collapses "//", drops "." components, resolves ".."
 * (never above "/") and drops a trailing '/'. Symbolic links are not followed (the kernel reports
 * resolved paths). 0 and out (NUL-terminated), -EINVAL for an empty or relative path, -ENAMETOOLONG
 * when the result does not fit in len bytes. */
int enforce_path_normalize(const char *in, char *out, size_t len);

struct enforce_pathset;

/* An empty deny list. 0, -ENOMEM. */
int enforce_pathset_new(struct enforce_pathset **out);
/* Frees s. NULL is a no-op. */
void enforce_pathset_free(struct enforce_pathset *s);
/* Adds a pattern: an absolute path matches itself only ("/tmp/evil"); one ending in '/' matches
 * everything below that directory ("/tmp/x/"); one with '*', '?' or '[' is a glob matched with
 * fnmatch(3) and FNM_PATHNAME ("/usr/bin/nc*"). Paths are normalised first. 0, -EINVAL (not
 * absolute, empty), -ENAMETOOLONG, -ENOMEM. */
int enforce_pathset_add(struct enforce_pathset *s, const char *pattern);
/* Adds patterns separated by ',' (one command-line argument). Same errors; stops at the first. */
int enforce_pathset_add_list(struct enforce_pathset *s, const char *list);
/* 1 when the (already normalised, as the kernel reports it) path matches a pattern, else 0. */
int enforce_pathset_match(const struct enforce_pathset *s, const char *path);
/* Number of patterns. */
size_t enforce_pathset_count(const struct enforce_pathset *s);

/* ---- fanotify: exec and open prevention ------------------------------------------------------ */

enum enforce_op { ENFORCE_OP_EXEC = 1, ENFORCE_OP_OPEN = 2 };

/* enforce_fanotify_add() flags */
#define ENFORCE_WATCH_EXEC 0x1  /* FAN_OPEN_EXEC_PERM: executions (and shared-library mmaps) */
#define ENFORCE_WATCH_OPEN 0x2  /* FAN_OPEN_PERM: every open (exec opens included) */
#define ENFORCE_FORCE_HOST 0x4  /* mark even when the file system is the host root's (dangerous) */
#define ENFORCE_MOUNTS 0x8      /* also mark the container's other mounts (volumes, bind mounts of
				   /etc/hosts...) with FAN_MARK_MOUNT; see docs/enforcement.md */

/* One permission event, as given to the decision callback. */
struct enforce_req {
	enum enforce_op op;        /* EXEC when the kernel set FAN_OPEN_EXEC_PERM, else OPEN */
	pid_t pid;                 /* the process (thread group) doing the exec/open */
	char path[ENFORCE_PATH_MAX]; /* the file, from readlink(/proc/self/fd/N): the path inside the
					container ("/tmp/evil"); may end in " (deleted)" */
	char exe[ENFORCE_PATH_MAX];  /* readlink(/proc/<pid>/exe): the program doing it (for an exec,
					the program being replaced); "" when unreadable */
	char container[ENFORCE_CONTAINER_MAX]; /* the label given to enforce_fanotify_add() */
	uint64_t seq;              /* 1, 2, ... in arrival order */
};

/* The decision callback: returns ENFORCE_ALLOW or ENFORCE_DENY. Called on a worker thread, may
 * block (a slow decision is answered by the timeout policy), must be thread-safe when
 * opts.workers > 1, and must not open files of a marked file system (its own opens would wait for
 * its own answer; they are allowed after the deadline). */
typedef int (*enforce_decide_fn)(const struct enforce_req *req, void *arg);

struct enforce_answer {
	int verdict;      /* ENFORCE_ALLOW or ENFORCE_DENY: what the kernel was told */
	int timed_out;    /* 1: the decision did not come in time; verdict is the timeout policy */
	int queue_full;   /* 1: no room to queue the event; answered at once with the timeout policy */
	int64_t latency_us; /* from the read of the event to the answer */
};

/* Called after every answer (on the thread that answered: the reader or a worker); must be
 * thread-safe and quick. req is valid only during the call. */
typedef void (*enforce_report_fn)(const struct enforce_req *req, const struct enforce_answer *a,
				  void *arg);

struct enforce_fanotify_opts {
	enforce_decide_fn decide;  /* required */
	void *decide_arg;
	enforce_report_fn report;  /* optional */
	void *report_arg;
	int deadline_ms;           /* per event; 0: ENFORCE_DEADLINE_MS_DEFAULT; at most 10000 */
	int on_timeout;            /* ENFORCE_ALLOW (default: fail open) or ENFORCE_DENY (fail closed) */
	int workers;               /* decision threads; 0: 1; at most 16 */
	int queue_max;             /* events waiting for a decision; 0: 256; at most 65536. Each holds
				      a descriptor: keep queue_max + 200 under RLIMIT_NOFILE */
	int inline_decide;         /* 1: the callback never blocks (e.g. a deny-list match): the reader
				      thread calls it itself, saving a thread hop per event; the deadline
				      is then not enforced and no worker is started */
};

#define ENFORCE_DEADLINE_MS_DEFAULT 200

struct enforce_fanotify_stats {
	uint64_t events;     /* permission events read */
	uint64_t allowed;
	uint64_t denied;
	uint64_t timed_out;  /* answered by the timeout policy (queue_full included) */
	uint64_t queue_full;
	uint64_t self;       /* the Defender's own accesses, allowed without a decision */
	uint64_t errors;     /* answers the kernel refused (the event was then lost to us) */
	uint64_t max_latency_us;
	uint64_t marks;      /* marks added */
};

struct enforce_fanotify;

/* Creates a fanotify group (FAN_CLASS_CONTENT) and starts its reader and worker threads (nothing is
 * marked yet). A denied operation fails with EPERM in the process that tried it. Needs
 * CAP_SYS_ADMIN. 0 and *out; -EINVAL (bad options), -EPERM, -ENOSYS (no fanotify), -ENOMEM, or
 * another error of fanotify_init/pthread_create; err (may be NULL) gets a sentence. */
int enforce_fanotify_new(const struct enforce_fanotify_opts *opts, struct enforce_fanotify **out,
			 char *err, size_t errlen);

/* Marks the root file system of the process pid (a container's init: /proc/<pid>/root/) for the
 * operations in flags (ENFORCE_WATCH_*), labelled container (copied, cut at
 * ENFORCE_CONTAINER_MAX - 1). Refuses (-EPERM with a sentence) a file system that is the host's
 * root (same st_dev or f_fsid as /proc/1/root/ or this process's /) unless
 * ENFORCE_FORCE_HOST. With ENFORCE_MOUNTS, also marks each other mount of the container that is
 * not a pseudo file system (proc, sysfs, cgroup, devpts, mqueue...) with FAN_MARK_MOUNT, which sees
 * only accesses made through the container's mount; those mounts are not checked against the host
 * root (a mount mark never sees the host's own accesses). Returns the number of marks added (>= 1),
 * or -ESRCH (no such process), -EPERM (host root refused), -ENOSPC (too many containers), or an
 * error of fanotify_mark. At most one label per file system: marking it again changes nothing
 * but the operations. */
int enforce_fanotify_add(struct enforce_fanotify *f, pid_t pid, const char *container,
			 unsigned flags, char *err, size_t errlen);

/* Removes the operations in flags (ENFORCE_WATCH_*) from the file-system mark that
 * enforce_fanotify_add() put on the root of process pid for container. When no operation is left,
 * or pid is 0 or gone (its file system usually went with it), every entry labelled container is
 * forgotten, so that a later file system with a reused device number is not taken for it. Mount
 * marks (ENFORCE_MOUNTS) lose the same operations while the process lives (its mountinfo names
 * them); when it is gone they go with their mounts. 0 (also when nothing was marked), -EINVAL, or the error of
 * fanotify_mark (err gets a sentence; the entries are forgotten anyway when nothing is left). */
int enforce_fanotify_remove(struct enforce_fanotify *f, pid_t pid, const char *container,
			    unsigned flags, char *err, size_t errlen);

/* Copies the counters (consistent with each other only approximately). */
void enforce_fanotify_stats(struct enforce_fanotify *f, struct enforce_fanotify_stats *st);

/* Stops the threads, answers every pending event with ENFORCE_ALLOW, closes the group (which
 * removes every mark) and frees f. NULL is a no-op. Must not be called from a callback. */
void enforce_fanotify_free(struct enforce_fanotify *f);

/* ---- cgroup sock_addr BPF: outbound-connection prevention ------------------------------------ */

#define ENFORCE_NET_PROTO_ANY 0
#define ENFORCE_NET_PROTO_TCP 6
#define ENFORCE_NET_PROTO_UDP 17

struct enforce_net_rule {
	int family;          /* AF_INET, AF_INET6, or AF_UNSPEC: any address (then port != 0) */
	uint8_t addr[16];    /* network order; IPv4 in the first 4 bytes */
	uint16_t port;       /* host order; 0: any port */
	uint8_t proto;       /* ENFORCE_NET_PROTO_*; 0: any */
};

/* Parses "IP:PORT[/tcp|/udp]", "[IPv6]:PORT[/proto]", with PORT a number 1..65535 or '*' (any).
 * 0, or -EINVAL. */
int enforce_net_rule_parse(const char *s, struct enforce_net_rule *out);
/* Formats a rule back ("10.0.0.1:80/tcp", "[::1]:*"). Always NUL-terminates. */
void enforce_net_rule_format(const struct enforce_net_rule *r, char *buf, size_t len);

/* One decision of the BPF program (denials; and allowed connects with report_allowed). */
struct enforce_net_decision {
	uint64_t cgroup_id;
	pid_t pid;
	const char *hook;     /* "connect4", "connect6", "sendmsg4", "sendmsg6" */
	char ip[48];          /* text */
	uint16_t port;
	uint8_t proto;
	int denied;
	char comm[17];
	char container[ENFORCE_CONTAINER_MAX]; /* label of the cgroup, "" when unknown */
};

typedef void (*enforce_net_report_fn)(const struct enforce_net_decision *d, void *arg);

struct enforce_net_stats {
	uint64_t allowed, denied, lost;
	uint64_t links;
};

struct enforce_net;

/* Loads bpf/netdeny.bpf.c into the kernel without attaching it: 1 when it loads, 0 when the
 * kernel refuses it (why gets "unavailable: <reason>"); never an error. */
int enforce_net_probe(char *why, size_t len);

/* Loads the program. allow_mode 0: the rules are denied, the rest allowed; 1: the rules are
 * allowed, the rest denied. report_allowed 1: allowed connects are reported too. 0 and *out,
 * or the negative errno of the load (err gets a sentence). Needs CAP_BPF + CAP_NET_ADMIN (root). */
int enforce_net_new(int allow_mode, int report_allowed, struct enforce_net **out, char *err,
		    size_t errlen);
/* Adds a rule (effective at once, for every attached cgroup). 0, -E2BIG (ND_RULES_MAX rules), or
 * the map update's error. */
int enforce_net_add_rule(struct enforce_net *n, const struct enforce_net_rule *r);
/* Attaches the four programs to the cgroup v2 directory of process pid (found from
 * /proc/<pid>/cgroup "0::" and the cgroup2 mount), labelled container. 0, -ESRCH, -ENOENT (no cgroup
 * v2 for it), -ENOSPC (too many cgroups), or the attach error. */
int enforce_net_attach_pid(struct enforce_net *n, pid_t pid, const char *container, char *err,
			   size_t errlen);
/* The same for a cgroup v2 directory given by path. */
int enforce_net_attach_cgroup(struct enforce_net *n, const char *cgroup_dir, const char *container,
			      char *err, size_t errlen);
/* Detaches the programs from every cgroup attached with label container (their links are
 * destroyed: the cgroup's connects are no longer filtered by this rule set). Returns the number of
 * cgroups detached (0 when none had that label), or -EINVAL. */
int enforce_net_detach(struct enforce_net *n, const char *container);
/* Waits up to timeout_ms for decisions and calls report for each. Returns the number reported or a
 * negative errno. */
int enforce_net_poll(struct enforce_net *n, int timeout_ms, enforce_net_report_fn report, void *arg);
void enforce_net_stats(struct enforce_net *n, struct enforce_net_stats *st);
/* Detaches every link, unloads and frees n. NULL is a no-op. */
void enforce_net_free(struct enforce_net *n);

/* The cgroup v2 directory of process pid into out: 0, -ESRCH, -ENOENT, -ENAMETOOLONG, -EBADMSG. */
int enforce_cgroup_dir(pid_t pid, char *out, size_t len);

/* ---- BPF-LSM ---------------------------------------------------------------------------------- */

/* Tries to load and attach a trivial lsm/file_open program (bpf/lsm_probe.bpf.c), then detaches it.
 * 1: BPF-LSM works ("available" in why); 0: it does not, why gets "unavailable: <reason>". */
int enforce_lsm_probe(char *why, size_t len);

/* ---- block: stop, kill or pause a container ---------------------------------------------------- */

enum enforce_block_action { ENFORCE_BLOCK_STOP = 1, ENFORCE_BLOCK_KILL = 2, ENFORCE_BLOCK_PAUSE = 3 };

/* POSTs /containers/<id>/stop?t=<timeout_s>, /kill or /pause to the engine at docker_addr
 * ("unix:///path", "/path", NULL for /var/run/docker.sock). id: a container id or name
 * ([A-Za-z0-9_.-], 1..128 bytes). Waits for the engine's answer (a stop waits up to timeout_s + 30
 * seconds). 0 (done, or already stopped: 304), -ENOENT (no such container), -EBUSY (409: not
 * running, already paused), -EINVAL, -ECONNREFUSED, -ETIMEDOUT, -EIO; err gets a sentence. */
int enforce_block_container(const char *docker_addr, const char *id,
			    enum enforce_block_action action, int timeout_s, char *err,
			    size_t errlen);

#endif
