/*
 * sensor_bpf: the eBPF back end of the runtime sensors (see sensor.h and docs/sensors.md).
 *
 * Loads the CO-RE objects of bpf/ (process.bpf.c for exec/exit; syscall.bpf.c for the network and
 * file families, which share one object) from their skeletons; the first one loaded creates the ring buffer "events" and the per-CPU "counters"
 * array and the others reuse both (bpf_map__reuse_fd), so one ring buffer carries every family and
 * one poll loop reads it. Records are decoded straight into the sensor queue's slots; a record of
 * the wrong size or an unknown type is counted as malformed and skipped (the kernel is trusted to
 * be the kernel, but a decoder never reads past a record). When the consumer's queue is full the
 * reader keeps the record it has just read and stops reading until a slot frees: bursts wait in
 * the ring buffer, and only what the ring buffer cannot hold is lost (counted by the kernel side).
 * Times are converted from
 * CLOCK_BOOTTIME to the Unix epoch with an offset refreshed every second.
 *
 * Needs CAP_BPF + CAP_PERFMON (or root) and a kernel with BTF; the programs attach to tracepoints
 * only (no kprobe or fentry): tp_btf/ for exec and exit, and for the syscalls either one
 * syscalls:sys_exit_<name> tracepoint per syscall reported (tracefs, mounted for the attach when
 * it is not) or, where those are missing, tp_btf/sys_exit on every syscall (docs/sensors.md,
 * "Hooks"). RLIMIT_MEMLOCK is not touched: libbpf >= 1.0 raises it only on kernels that still
 * charge BPF memory to it, and failing to do so is not fatal.
 */
#include <errno.h>
#include <malloc.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "../bpf/events.h"
#include "process.skel.h"
#include "syscall.skel.h"
#include "sensor.h"

_Static_assert((int)GEV_TYPE_MAX == (int)EVENT_TYPE_MAX, "event types of bpf/events.h and event.h differ");
_Static_assert((int)GEV_FILE_RENAME == (int)EVENT_FILE_RENAME, "file ops differ");

struct bpf_state {
	struct process_bpf *proc;
	struct syscall_bpf *sys;
	struct ring_buffer *rb;
	int counters_fd;
	int ncpus;
	uint64_t *cpu_vals; /* ncpus values of one per-CPU counter */
	struct sensor *s;
	int64_t boot_to_unix; /* ns to add to CLOCK_BOOTTIME */
	int poll_ms;
	/* Back-pressure: the record read when the queue was full, decoded, waiting for a slot. While
	 * it waits the ring buffer is not read, so bursts wait in the kernel's buffer (16 MiB holds
	 * ~50k exec or ~100k file records) rather than being dropped at the 4096-slot queue. */
	struct event *held;
	int has_held;
	/* Folding (bpf/events.h): the window, the map, when it was last swept for counts of keys
	 * that went quiet, and what was delivered (written on the sensor thread, read by counters). */
	uint64_t fold_ns;
	int folds_fd;
	int64_t last_sweep_ms;
	struct gev_fold_key *sweep_keys;
	struct gev_fold_val *sweep_vals;
	_Atomic uint64_t fold_delivered, fold_collected;
	const char *hook;     /* where the syscalls are seen: "tracepoints", "sys_exit" (NULL: not) */
	const char *dns_hook; /* where DNS queries are seen: "sock_send_length", "syscalls" (NULL: not) */
};

/* One batch of the sweep: keys and values copied out of the map per bpf_map_lookup_batch call. */
#define SWEEP_BATCH 64

_Static_assert(offsetof(struct gev_file, path) - offsetof(struct gev_file, op) == GEV_FOLD_FILE_FIXED,
	       "fold content of a file record");
_Static_assert(offsetof(struct gev_net, addr) + 16 - offsetof(struct gev_net, ret) == GEV_FOLD_NET_LEN,
	       "fold content of a connect record");
_Static_assert(offsetof(struct gev_dns, data) - offsetof(struct gev_dns, family) == GEV_FOLD_DNS_FIXED,
	       "fold content of a DNS record");

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[8192]; /* verifier logs come in one piece */
	int n;

	if (level == LIBBPF_DEBUG)
		return 0;
	if (vsnprintf(buf, sizeof(buf), fmt, ap) < 0)
		return 0;
	n = (int)strlen(buf);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = 0;
	log_msg(level == LIBBPF_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, "libbpf: %s", buf);
	return 0;
}

static int64_t ts_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void refresh_offset(struct bpf_state *b)
{
	b->boot_to_unix = ts_ns(CLOCK_REALTIME) - ts_ns(CLOCK_BOOTTIME);
}

/* Copies a kernel string of at most max bytes (maybe unterminated) into dst[max + 1]. */
static void kstr(char *dst, const char *src, size_t max)
{
	size_t n = strnlen(src, max);

	memcpy(dst, src, n);
	dst[n] = 0;
}

static void fill_hdr(struct bpf_state *b, struct event *ev, const struct gev_hdr *h)
{
	ev->type = (enum event_type)h->type;
	ev->time_ns = (uint64_t)((int64_t)h->ts_ns + b->boot_to_unix);
	ev->cgroup_id = h->cgroup_id;
	ev->container[0] = 0;
	ev->container_known = 0;
	ev->pid = h->pid;
	ev->tgid = h->tgid;
	ev->uid = h->uid;
	ev->gid = h->gid;
	ev->repeats = h->repeats;
	kstr(ev->comm, h->comm, GEV_COMM_MAX);
}

/* Decodes one record into ev. 0, or -EBADMSG. */
static int decode(struct bpf_state *b, const void *data, size_t size, struct event *ev)
{
	const struct gev_hdr *h = data;

	if (size < sizeof(*h))
		return -EBADMSG;
	switch (h->type) {
	case GEV_EXEC: {
		const struct gev_exec *e = data;
		if (size < sizeof(*e))
			return -EBADMSG;
		fill_hdr(b, ev, h);
		ev->exec.ppid = e->ppid;
		ev->exec.start_ns = (uint64_t)((int64_t)e->start_ns + b->boot_to_unix);
		ev->exec.exe_ino = e->exe_ino;
		ev->exec.exe_dev = e->exe_dev;
		ev->exec.exe_mtime = e->exe_mtime;
		ev->exec.exe_ctime = e->exe_ctime;
		ev->exec.argv_truncated = (e->flags & GEV_EXEC_ARGS_TRUNC) != 0;
		ev->exec.runtime_setup = 0;
		for (int i = 0; i < 3; i++) {
			const struct gev_stdio *k = &e->stdio[i];
			struct event_stdio *u = &ev->exec.stdio[i];
			u->mode = k->mode & 0170000u; /* the type only: permissions say nothing here */
			u->family = u->mode == 0140000u ? k->family : 0;
			u->state = k->state;
			u->port = k->port;
			memcpy(u->addr, k->addr, 16);
			/* The peer means something only on a connected inet socket (JSON writes it only
			 * then): keep one representation. */
			if (!event_stdio_connected(u)) {
				u->state = (u->family == AF_INET || u->family == AF_INET6) ? k->state : 0;
				u->port = 0;
				memset(u->addr, 0, 16);
			}
		}
		kstr(ev->exec.filename, e->filename, GEV_PATH_MAX);
		size_t n = e->args_len > GEV_ARGS_MAX ? GEV_ARGS_MAX : e->args_len;
		memcpy(ev->exec.args, e->args, n);
		/* argv may be cut inside a string: terminate it (args has room for one more byte). */
		if (n > 0 && ev->exec.args[n - 1] != 0) {
			if (n < EVENT_ARGS_MAX)
				ev->exec.args[n++] = 0;
			else
				ev->exec.args[n - 1] = 0;
		}
		ev->exec.args_len = n;
		return 0;
	}
	case GEV_EXIT: {
		const struct gev_exit *e = data;
		if (size < sizeof(*e))
			return -EBADMSG;
		fill_hdr(b, ev, h);
		ev->exit.code = e->exit_code;
		return 0;
	}
	case GEV_CONNECT:
	case GEV_LISTEN:
	case GEV_BIND: {
		const struct gev_net *e = data;
		if (size < sizeof(*e))
			return -EBADMSG;
		fill_hdr(b, ev, h);
		ev->net.result = e->ret;
		ev->net.fd = e->fd;
		ev->net.family = e->family;
		ev->net.port = e->port;
		ev->net.proto = e->proto;
		memcpy(ev->net.addr, e->addr, 16);
		return 0;
	}
	case GEV_DNS: {
		const struct gev_dns *e = data;
		size_t off = offsetof(struct gev_dns, data);
		/* The record ends after the captured bytes. */
		if (size < off || e->cap > GEV_DNS_MAX || e->cap > size - off)
			return -EBADMSG;
		fill_hdr(b, ev, h);
		ev->dns.family = e->family;
		ev->dns.port = e->port;
		memcpy(ev->dns.addr, e->addr, 16);
		ev->dns.qlen = e->len;
		event_dns_parse_query(e->data, e->cap, ev->dns.qname,
				      sizeof(ev->dns.qname), &ev->dns.qtype);
		return 0;
	}
	case GEV_FILE: {
		const struct gev_file *e = data;
		size_t off = offsetof(struct gev_file, path);
		/* The record ends after the path's bytes (its NUL included), a rename's after path2. */
		if (size <= off || (e->op == GEV_FILE_RENAME && size < sizeof(*e)) ||
		    e->op < GEV_FILE_OPEN || e->op > GEV_FILE_CHMOD)
			return -EBADMSG;
		fill_hdr(b, ev, h);
		ev->file.op = (enum event_file_op)e->op;
		ev->file.result = e->ret;
		ev->file.flags = e->flags;
		ev->file.mode = e->mode;
		ev->file.dirfd = e->dirfd;
		kstr(ev->file.path, e->path, size - off < GEV_PATH_MAX ? size - off : GEV_PATH_MAX);
		if (e->op == GEV_FILE_RENAME)
			kstr(ev->file.path2, e->path2, GEV_PATH_MAX);
		else
			ev->file.path2[0] = 0;
		return 0;
	}
	default:
		return -EBADMSG;
	}
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct bpf_state *b = ctx;
	struct event *ev;

	sensor_count_received(b->s, 1);
	if (size < sizeof(struct gev_hdr) || ((const struct gev_hdr *)data)->type == 0 ||
	    ((const struct gev_hdr *)data)->type >= GEV_TYPE_MAX) {
		sensor_count_malformed(b->s);
		return 0;
	}
	if (sensor_queue_full(b->s)) {
		/* libbpf has consumed this record already: keep it, and stop reading (-EAGAIN ends
		 * this ring_buffer__poll/consume round). */
		if (decode(b, data, size, b->held) != 0) {
			sensor_count_malformed(b->s);
			return 0;
		}
		b->fold_delivered += b->held->repeats;
		b->has_held = 1;
		return -EAGAIN;
	}
	ev = sensor_reserve(b->s);
	if (ev == NULL)
		return 0;
	if (decode(b, data, size, ev) != 0) {
		sensor_count_malformed(b->s);
		return 0;
	}
	b->fold_delivered += ev->repeats;
	sensor_commit(b->s);
	return 0;
}

/* The record a quiet key's count stands for, rebuilt from the key and its value into rec (big
 * enough for any folded type); its size, or 0 when the key is not one this program writes. */
static size_t fold_record(const struct gev_fold_key *k, const struct gev_fold_val *v, void *rec)
{
	struct gev_hdr *h = rec;
	size_t size;

	if (k->len > GEV_FOLD_MAX || v->repeats == 0)
		return 0;
	memset(rec, 0, sizeof(struct gev_file));
	h->type = k->type;
	h->pid = v->pid;
	h->tgid = k->tgid;
	h->uid = k->uid;
	h->gid = v->gid;
	/* The event stands for every occurrence counted: itself and repeats more. */
	h->repeats = v->repeats - 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)(v->repeats - 1);
	h->ts_ns = v->last_ns;
	h->cgroup_id = k->cgroup_id;
	memcpy(h->comm, v->comm, GEV_COMM_MAX);
	switch (k->type) {
	case GEV_FILE: {
		struct gev_file *e = rec;
		if (k->len <= GEV_FOLD_FILE_FIXED)
			return 0;
		memcpy(&e->op, k->content, k->len);
		size = offsetof(struct gev_file, op) + k->len;
		break;
	}
	case GEV_CONNECT: {
		struct gev_net *e = rec;
		if (k->len != GEV_FOLD_NET_LEN)
			return 0;
		memcpy(&e->ret, k->content, GEV_FOLD_NET_LEN);
		e->fd = -1; /* one descriptor or many: not kept */
		size = sizeof(*e);
		break;
	}
	case GEV_DNS: {
		struct gev_dns *e = rec;
		if (k->len <= GEV_FOLD_DNS_FIXED)
			return 0;
		memcpy(&e->family, k->content, GEV_FOLD_DNS_FIXED);
		/* data[0..1], the query id, is not kept (0 here). */
		memcpy(e->data + 2, k->content + GEV_FOLD_DNS_FIXED, k->len - GEV_FOLD_DNS_FIXED);
		if (e->cap != k->len - GEV_FOLD_DNS_FIXED + 2)
			return 0;
		size = offsetof(struct gev_dns, data) + e->cap;
		break;
	}
	default:
		return 0;
	}
	return size;
}

/* Delivers the counts of keys that went quiet (no occurrence for a whole window, repeats pending):
 * each becomes one event standing for its count. A key is taken with lookup-and-delete, so a count
 * is delivered once: the kernel starts the key afresh at its next occurrence. Stops early when the
 * queue is full (the counts wait in the map for the next sweep). */
static void fold_sweep(struct bpf_state *b)
{
	union {
		struct gev_file file;
		struct gev_net net;
		struct gev_dns dns;
	} rec;
	struct gev_fold_key batch_key;
	void *in = NULL;
	int done = 0;

	while (!done) {
		__u32 n = SWEEP_BATCH;
		int r = bpf_map_lookup_batch(b->folds_fd, in, &batch_key, b->sweep_keys, b->sweep_vals, &n,
					     NULL);
		if (r < 0 && errno != ENOENT)
			return;
		done = r < 0; /* ENOENT: this was the last batch */
		in = &batch_key;
		/* After the batch was read: the programs keep moving last_ns past an earlier "now". */
		uint64_t now = (uint64_t)ts_ns(CLOCK_BOOTTIME);
		for (__u32 i = 0; i < n; i++) {
			const struct gev_fold_key *k = &b->sweep_keys[i];
			struct gev_fold_val v;
			struct event *ev;
			size_t size;

			/* Quiet: no occurrence for a whole window (last_ns + fold_ns, never a difference
			 * that wraps when last_ns is later than now). */
			if (b->sweep_vals[i].repeats == 0 || b->sweep_vals[i].last_ns + b->fold_ns > now)
				continue;
			if (sensor_queue_full(b->s))
				return;
			if (bpf_map_lookup_and_delete_elem(b->folds_fd, k, &v) != 0 ||
			    (size = fold_record(k, &v, &rec)) == 0)
				continue;
			sensor_count_received(b->s, 1);
			ev = sensor_reserve(b->s);
			if (ev == NULL)
				return;
			if (decode(b, &rec, size, ev) != 0) {
				sensor_count_malformed(b->s);
				continue;
			}
			b->fold_delivered += v.repeats;
			b->fold_collected++;
			sensor_commit(b->s);
		}
	}
}

static void bpf_close(void *state)
{
	struct bpf_state *b = state;

	if (b == NULL)
		return;
	ring_buffer__free(b->rb);
	free(b->held);
	free(b->cpu_vals);
	free(b->sweep_keys);
	free(b->sweep_vals);
	syscall_bpf__destroy(b->sys);
	process_bpf__destroy(b->proc);
	free(b);
}

/* Sets the shared maps of one object before load: its own (the first object) or reused. */
static int prepare_maps(struct bpf_map *events, struct bpf_map *counters, int events_fd, int counters_fd,
			size_t rb_bytes)
{
	int r;

	if (events_fd >= 0) {
		r = bpf_map__reuse_fd(events, events_fd);
		if (r == 0)
			r = bpf_map__reuse_fd(counters, counters_fd);
		return r;
	}
	return bpf_map__set_max_entries(events, (uint32_t)rb_bytes);
}

/* The wake-up threshold of the programs' .rodata (0: the kernel's adaptive wake-up). */
static uint64_t wake_bytes(const struct sensor_config *cfg)
{
	return cfg->wakeup_bytes == SENSOR_WAKEUP_EACH ? 0 : cfg->wakeup_bytes;
}

/* The tracing directory whose events/syscalls libbpf will read to attach the syscall
 * tracepoints (it uses /sys/kernel/debug/tracing when that exists, else /sys/kernel/tracing).
 * When no tracefs is mounted there (a minimal host, a container), tracefs is mounted at
 * /sys/kernel/tracing and *mounted is set: the caller unmounts it once the tracepoints are
 * attached (their perf events hold them). NULL: this kernel has no syscall tracepoints
 * (CONFIG_FTRACE_SYSCALLS) or tracefs cannot be mounted. */
static const char *syscall_events_dir(int *mounted)
{
	static const char debugfs[] = "/sys/kernel/debug/tracing", tracefs[] = "/sys/kernel/tracing";
	const char *dir = access(debugfs, F_OK) == 0 ? debugfs : tracefs;
	char p[64];

	*mounted = 0;
	snprintf(p, sizeof(p), "%s/events/syscalls", dir);
	if (access(p, F_OK) == 0)
		return dir;
	if (dir != tracefs || mount("nodev", tracefs, "tracefs", 0, NULL) != 0)
		return NULL;
	*mounted = 1;
	if (access(p, F_OK) == 0)
		return dir;
	umount2(tracefs, MNT_DETACH);
	*mounted = 0;
	return NULL;
}

/* Opens, loads and attaches syscall.bpf.c for the network and file families: with dir (the
 * tracing directory), the per-syscall tracepoint programs of the wanted families whose syscall
 * this kernel has (openat2 came in 5.6, fchmodat2 in 6.6: a missing event is a missing syscall);
 * without, the sys_exit program. On failure b->sys is destroyed and *stage says where. */
static int syscall_load(struct bpf_state *b, const struct sensor_config *cfg, const char *dir, int dns_at_send,
			int events_fd, int counters_fd, size_t rb, const char **stage)
{
	static const char tp[] = "tracepoint/syscalls/";
	static const char *const at_send[] = { "gev_net_write", "gev_net_writev", "gev_net_sendto",
					       "gev_net_sendmsg" };
	int want_net = (cfg->families & SENSOR_NETWORK) != 0, want_file = (cfg->families & SENSOR_FILE) != 0;
	struct bpf_program *p;
	int r, n = 0;

	*stage = "syscall: open";
	b->sys = syscall_bpf__open();
	if (b->sys == NULL)
		return -errno;
	b->sys->rodata->self_tgid = (uint32_t)getpid();
	b->sys->rodata->wakeup_bytes = wake_bytes(cfg);
	b->sys->rodata->want_net = want_net;
	b->sys->rodata->want_file = want_file;
	b->sys->rodata->fold_ns = b->fold_ns;
	b->sys->rodata->dns_at_send = dns_at_send;
	bpf_object__for_each_program(p, b->sys->obj) {
		const char *sec = bpf_program__section_name(p), *name = bpf_program__name(p);
		int load = 0;

		if (strncmp(sec, tp, sizeof(tp) - 1) == 0) {
			char ev[160];

			load = dir != NULL && ((want_net && strncmp(name, "gev_net_", 8) == 0) ||
					       (want_file && strncmp(name, "gev_file_", 9) == 0));
			for (size_t i = 0; load && dns_at_send && i < sizeof(at_send) / sizeof(at_send[0]); i++)
				load = strcmp(name, at_send[i]) != 0;
			if (load) {
				snprintf(ev, sizeof(ev), "%s/events/syscalls/%s", dir, sec + sizeof(tp) - 1);
				load = access(ev, F_OK) == 0;
			}
		} else if (strcmp(name, "gev_sock_send") == 0) {
			load = dns_at_send;
		} else {
			load = dir == NULL;
		}
		if ((r = bpf_program__set_autoload(p, load)) < 0)
			goto fail;
		n += load;
	}
	r = -ENOENT;
	*stage = "syscall: no syscall tracepoint of the families";
	if (n == 0)
		goto fail;
	*stage = "syscall: maps";
	if ((r = prepare_maps(b->sys->maps.events, b->sys->maps.counters, events_fd, counters_fd, rb)) < 0)
		goto fail;
	*stage = "syscall: load";
	if ((r = syscall_bpf__load(b->sys)) < 0)
		goto fail;
	*stage = "syscall: attach";
	if ((r = syscall_bpf__attach(b->sys)) < 0)
		goto fail;
	b->hook = dir != NULL ? "tracepoints" : "sys_exit";
	b->dns_hook = !want_net ? NULL : dns_at_send ? "sock_send_length" : "syscalls";
	return 0;
fail:
	syscall_bpf__destroy(b->sys);
	b->sys = NULL;
	return r < 0 ? r : -EIO;
}

/* Whether this kernel has what collecting folded counts needs: batch lookups and
 * lookup-and-delete on an LRU hash (Linux 5.14). Without them the counts of quiet keys could not
 * be taken, so the sensor runs without folding (every occurrence a record). */
static int fold_supported(void)
{
	struct gev_fold_key k = { 0 }, out;
	struct gev_fold_val v;
	__u32 n = 1;
	int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "gfold_probe", sizeof(k), sizeof(v), 8, NULL);
	int ok;

	if (fd < 0)
		return 0;
	ok = bpf_map_lookup_batch(fd, NULL, &out, &k, &v, &n, NULL) < 0 && errno == ENOENT &&
	     bpf_map_lookup_and_delete_elem(fd, &k, &v) < 0 && errno == ENOENT;
	close(fd);
	return ok;
}

static int bpf_open(const struct sensor_config *cfg, void **state, char *err, size_t errlen)
{
	struct bpf_state *b;
	int events_fd = -1, counters_fd = -1, r;
	const char *stage = "";
	size_t rb = cfg->ringbuf_bytes;
	uint32_t self = (uint32_t)getpid();

	*state = NULL;
	if (rb < 4096 || (rb & (rb - 1)) != 0 || rb > (1u << 30)) {
		snprintf(err, errlen, "ring buffer size %zu is not a power of two in 4 KiB..1 GiB", rb);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return -ENOMEM;
	b->counters_fd = -1;
	b->folds_fd = -1;
	b->fold_ns = cfg->fold_ms > 0 ? (uint64_t)cfg->fold_ms * 1000000ull : 0;
	if (b->fold_ns && (cfg->families & (SENSOR_NETWORK | SENSOR_FILE)) && !fold_supported()) {
		log_warn("eBPF sensor: this kernel cannot hand folded counts back (batch lookups or "
			 "lookup-and-delete on LRU maps are missing): every occurrence is reported");
		b->fold_ns = 0;
	}
	b->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : SENSOR_DEFAULT_POLL_MS;
	libbpf_set_print(libbpf_log);
	refresh_offset(b);

	if (cfg->families & SENSOR_PROCESS) {
		stage = "process: open";
		b->proc = process_bpf__open();
		if (b->proc == NULL) {
			r = -errno;
			goto fail;
		}
		b->proc->rodata->self_tgid = self;
		b->proc->rodata->wakeup_bytes = wake_bytes(cfg);
		stage = "process: maps";
		r = prepare_maps(b->proc->maps.events, b->proc->maps.counters, events_fd, counters_fd, rb);
		if (r < 0)
			goto fail;
		stage = "process: load";
		if ((r = process_bpf__load(b->proc)) < 0)
			goto fail;
		stage = "process: attach";
		if ((r = process_bpf__attach(b->proc)) < 0)
			goto fail;
		events_fd = bpf_map__fd(b->proc->maps.events);
		counters_fd = bpf_map__fd(b->proc->maps.counters);
	}
	if (cfg->families & (SENSOR_NETWORK | SENSOR_FILE)) {
		/* Network and file share one object; .rodata says which families. */
		const char *dir = NULL;
		int mounted = 0;
		/* DNS at the socket layer where the kernel has the tracepoint (6.3): no hook on
		 * write(2). Looked up once: the kernel's BTF is parsed for it. */
		int dns_at_send = (cfg->families & SENSOR_NETWORK) &&
				  libbpf_find_vmlinux_btf_id("sock_send_length", BPF_TRACE_RAW_TP) > 0;

		if (cfg->syscall_hook != SENSOR_HOOK_SYS_EXIT) {
			dir = syscall_events_dir(&mounted);
			if (dir == NULL && cfg->syscall_hook == SENSOR_HOOK_TRACEPOINTS) {
				snprintf(err, errlen, "eBPF sensor: this kernel has no syscall tracepoints "
						      "(tracefs events/syscalls)");
				r = -ENOENT;
				goto fail_msg;
			}
		}
		r = syscall_load(b, cfg, dir, dns_at_send, events_fd, counters_fd, rb, &stage);
		if (mounted)
			umount2(dir, MNT_DETACH);
		if (dir != NULL && r < 0 && cfg->syscall_hook == SENSOR_HOOK_AUTO) {
			log_warn("eBPF sensor: the syscall tracepoints do not attach (%s: %s): the exit of "
				 "every syscall is hooked instead, which costs every syscall more", stage,
				 strerror(-r));
			dir = NULL;
			r = syscall_load(b, cfg, NULL, dns_at_send, events_fd, counters_fd, rb, &stage);
		} else if (dir == NULL && cfg->syscall_hook == SENSOR_HOOK_AUTO) {
			log_info("eBPF sensor: no syscall tracepoints here (tracefs events/syscalls): the exit "
				 "of every syscall is hooked (tp_btf/sys_exit)");
		}
		if (r < 0)
			goto fail;
		if (events_fd < 0) {
			events_fd = bpf_map__fd(b->sys->maps.events);
			counters_fd = bpf_map__fd(b->sys->maps.counters);
		}
		if (b->fold_ns)
			b->folds_fd = bpf_map__fd(b->sys->maps.folds);
	}
	if (events_fd < 0) {
		snprintf(err, errlen, "no sensor family selected");
		r = -EINVAL;
		goto fail_msg;
	}
	/* Loading parsed the kernel's BTF twice (several MiB, freed now): give the memory
	 * back so that the sensor's resident size is what it uses. */
	malloc_trim(0);
	b->counters_fd = counters_fd;
	b->ncpus = libbpf_num_possible_cpus();
	if (b->ncpus <= 0 || b->ncpus > 4096) {
		stage = "possible CPUs";
		r = b->ncpus < 0 ? b->ncpus : -EINVAL;
		goto fail;
	}
	b->cpu_vals = calloc((size_t)b->ncpus, sizeof(uint64_t));
	b->held = malloc(sizeof(*b->held));
	b->sweep_keys = calloc(SWEEP_BATCH, sizeof(*b->sweep_keys));
	b->sweep_vals = calloc(SWEEP_BATCH, sizeof(*b->sweep_vals));
	if (b->cpu_vals == NULL || b->held == NULL || b->sweep_keys == NULL || b->sweep_vals == NULL) {
		stage = "counters";
		r = -ENOMEM;
		goto fail;
	}
	stage = "ring buffer";
	b->rb = ring_buffer__new(events_fd, on_record, b, NULL);
	if (b->rb == NULL) {
		r = -errno;
		goto fail;
	}
	*state = b;
	return 0;
fail:
	if (r >= 0)
		r = -EIO;
	snprintf(err, errlen, "eBPF sensor: %s: %s%s", stage, strerror(-r),
		 r == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
fail_msg:
	bpf_close(b);
	return r;
}

static int bpf_run(void *state, struct sensor *s, const atomic_int *stop)
{
	struct bpf_state *b = state;
	int64_t last = util_now_ms();

	b->s = s;
	while (!atomic_load(stop)) {
		if (b->has_held) {
			/* Wait for the consumer, checking stop; the kernel keeps filling the ring. */
			struct timespec pause = { 0, 200 * 1000 };
			if (sensor_queue_full(s)) {
				nanosleep(&pause, NULL);
				continue;
			}
			struct event *ev = sensor_reserve(s);
			if (ev != NULL) {
				*ev = *b->held;
				sensor_commit(s);
			}
			b->has_held = 0;
		}
		/* One wake-up of the consumer per round, not per record. */
		sensor_batch_begin(s);
		int n = ring_buffer__poll(b->rb, b->poll_ms);
		/* A missed wake-up must not stall the reader: read whatever is there anyway. */
		if (n == 0)
			n = ring_buffer__consume(b->rb);
		sensor_batch_end(s);
		if (n < 0 && n != -EINTR && n != -EAGAIN)
			return n;
		int64_t now = util_now_ms();
		if (now - last >= 1000) {
			refresh_offset(b);
			last = now;
		}
		/* Quiet keys' counts: at most a window plus this much late. */
		if (b->folds_fd >= 0 && !b->has_held && now - b->last_sweep_ms >= 250) {
			sensor_batch_begin(s);
			fold_sweep(b);
			sensor_batch_end(s);
			b->last_sweep_ms = now;
		}
	}
	return 0;
}

static void bpf_counters(void *state, struct sensor_stats *st)
{
	struct bpf_state *b = state;
	uint64_t *vals = b != NULL ? b->cpu_vals : NULL;

	if (vals == NULL || b->counters_fd < 0)
		return;
	for (uint32_t i = 0; i < GEV_CNT_MAX; i++) {
		uint64_t sum = 0;
		if (bpf_map_lookup_elem(b->counters_fd, &i, vals) != 0)
			continue;
		for (int c = 0; c < b->ncpus; c++)
			sum += vals[c];
		if (i == GEV_CNT_IA32)
			st->ia32_undecoded += sum;
		else if (i % 3 == 0)
			st->seen[i / 3] += sum;
		else if (i % 3 == 1)
			st->lost_kernel[i / 3] += sum;
		else
			st->folded[i / 3] += sum;
	}
	st->fold_delivered += b->fold_delivered;
	st->fold_collected += b->fold_collected;
	st->fold_ms = (uint32_t)(b->fold_ns / 1000000u);
	st->syscall_hook = b->hook;
	st->dns_hook = b->dns_hook;
}

const struct sensor_backend sensor_backend_bpf = {
	.name = "bpf",
	.open = bpf_open,
	.run = bpf_run,
	.counters = bpf_counters,
	.close = bpf_close,
};
