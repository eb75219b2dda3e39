/*
 * sensor_procconn: the "netlink" back end of the runtime sensors, for kernels without BTF (see
 * sensor.h and docs/sensors.md). Process events come from the netlink proc connector
 * (PROC_EVENT_EXEC, PROC_EVENT_EXIT); written files from fanotify notification events
 * (FAN_CLOSE_WRITE) on the host's root file system and on each container's root file system.
 *
 * The proc connector gives only pid and tgid (and the exit status). Everything else is read from
 * /proc/<pid> right away: exe (the file name), cmdline, status (PPid, Uid, Gid), comm, cgroup (the
 * cgroup v2 path, whose directory inode is the cgroup id the eBPF back end reports), the
 * executable's inode and times, and the types of descriptors 0-2. This is racy by nature: a
 * process that exits or execs again before the reader gets to it is reported with what could still
 * be read (an exec whose /proc entry is gone has an empty file name and cgroup 0, i.e. the host).
 * The cgroup and comm seen at a process's exec are kept (a 4096-entry direct-mapped cache by tgid)
 * for its exit and file events, whose /proc entry may be gone by then.
 * Socket peers are not read (the eBPF back end reports them). Every /proc read is bounded; a
 * netlink message is checked against its length before any field is read.
 *
 * File events: FAN_CLOSE_WRITE says a file opened for writing was closed, reported as a file
 * "open" with O_WRONLY. The path is the one this process sees (/proc/self/fd), so a container's
 * file shows the host path of its overlay ("/.../merged/etc/passwd"): the part after "/merged" is
 * kept, which is the container's own path with Docker's overlay2 driver (the same for the exec's
 * file name from /proc/<pid>/exe, which is also resolved: a busybox applet shows /bin/busybox). A container's file system
 * is marked (FAN_MARK_FILESYSTEM on /proc/<pid>/root) the first time one of its processes execs;
 * files written before that are not seen. Needs root (CAP_NET_ADMIN for the connector,
 * CAP_SYS_ADMIN for fanotify); without fanotify only process events are reported.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include <garrison/log.h>

#include "sensor.h"

#define MARKED_MAX 1024 /* container file systems marked for fanotify */
#define PIDCACHE 4096   /* pid -> cgroup and comm seen at exec, direct-mapped */

/* What an exec showed of a process, for its later events when /proc no longer has it (a shell
 * that writes a file and exits at once is gone before its fanotify event is read). */
struct pid_seen {
	uint32_t pid;
	uint64_t cgroup_id;
	char comm[EVENT_COMM_MAX + 1];
};

struct nl_state {
	int nl;  /* the proc connector socket */
	int fan; /* fanotify, or -1 */
	int poll_ms;
	unsigned families;
	pid_t self;
	char cg_root[64]; /* where the cgroup v2 hierarchy is mounted */
	uint64_t marked[MARKED_MAX]; /* cgroup ids whose root file system is marked */
	size_t nmarked;
	struct pid_seen seen[PIDCACHE];
};

static void pid_remember(struct nl_state *st, const struct event *ev)
{
	struct pid_seen *p = &st->seen[ev->tgid % PIDCACHE];

	p->pid = ev->tgid;
	p->cgroup_id = ev->cgroup_id;
	memcpy(p->comm, ev->comm, sizeof(p->comm));
}

/* Fills ev's cgroup id and comm from the cache when /proc gave nothing. */
static void pid_recall(const struct nl_state *st, struct event *ev)
{
	const struct pid_seen *p = &st->seen[ev->tgid % PIDCACHE];

	if (p->pid != ev->tgid)
		return;
	if (ev->cgroup_id == 0)
		ev->cgroup_id = p->cgroup_id;
	if (ev->comm[0] == 0)
		memcpy(ev->comm, p->comm, sizeof(ev->comm));
}

static uint64_t now_unix_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads at most size - 1 bytes of a /proc file into buf (NUL-terminated). Bytes read, or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return n;
}

/* The cgroup id of pid: the inode of its cgroup v2 directory, or 0. */
static uint64_t pid_cgroup(const struct nl_state *st, pid_t pid)
{
	char path[64], buf[4096], dir[4200];
	struct stat sb;
	const char *line;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return 0;
	/* The v2 line is "0::/path". */
	for (line = buf; line != NULL && *line != 0;) {
		const char *nl = strchr(line, '\n');
		if (strncmp(line, "0::", 3) == 0) {
			size_t n = nl != NULL ? (size_t)(nl - line - 3) : strlen(line + 3);
			if (snprintf(dir, sizeof(dir), "%s%.*s", st->cg_root, (int)n, line + 3) >= (int)sizeof(dir))
				return 0;
			return stat(dir, &sb) == 0 ? (uint64_t)sb.st_ino : 0;
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	return 0;
}

/* PPid, Uid and Gid from /proc/<pid>/status. */
static void pid_status(pid_t pid, struct event *ev)
{
	char path[64], buf[4096];
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return;
	if ((p = strstr(buf, "\nPPid:\t")) != NULL)
		ev->exec.ppid = (uint32_t)strtoul(p + 7, NULL, 10);
	if ((p = strstr(buf, "\nUid:\t")) != NULL)
		ev->uid = (uint32_t)strtoul(p + 6, NULL, 10);
	if ((p = strstr(buf, "\nGid:\t")) != NULL)
		ev->gid = (uint32_t)strtoul(p + 6, NULL, 10);
}

static void pid_comm(pid_t pid, struct event *ev)
{
	char path[64], buf[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	n = read_small(path, buf, sizeof(buf));
	if (n <= 0)
		return;
	if (buf[n - 1] == '\n')
		buf[--n] = 0;
	snprintf(ev->comm, sizeof(ev->comm), "%.*s", EVENT_COMM_MAX, buf);
}

/* The container's path of a host path into a container's overlay (".../merged/x" -> "/x"). */
static const char *container_path(const char *p)
{
	const char *m = strstr(p, "/merged/");

	return m != NULL ? m + 7 : p;
}

static void fill_exec(const struct nl_state *st, pid_t pid, pid_t tgid, struct event *ev)
{
	char path[64], buf[EVENT_ARGS_MAX + 2];
	struct stat sb;
	ssize_t n;

	memset(ev, 0, sizeof(*ev));
	ev->type = EVENT_EXEC;
	ev->time_ns = now_unix_ns();
	ev->pid = (uint32_t)pid;
	ev->tgid = (uint32_t)tgid;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)tgid);
	{
		char exe[EVENT_PATH_MAX * 4];
		n = readlink(path, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = 0;
		snprintf(ev->exec.filename, sizeof(ev->exec.filename), "%.*s", EVENT_PATH_MAX,
			 container_path(exe));
	}
	if (stat(path, &sb) == 0) {
		ev->exec.exe_ino = sb.st_ino;
		ev->exec.exe_dev = (uint32_t)sb.st_dev;
		ev->exec.exe_mtime = sb.st_mtim.tv_sec;
		ev->exec.exe_ctime = sb.st_ctim.tv_sec;
	}
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)tgid);
	n = read_small(path, buf, sizeof(buf));
	if (n > 0) {
		size_t len = (size_t)n;
		if (len > EVENT_ARGS_MAX) {
			len = EVENT_ARGS_MAX;
			ev->exec.argv_truncated = 1;
		}
		memcpy(ev->exec.args, buf, len);
		if (ev->exec.args[len - 1] != 0) { /* cut inside a string: terminate it */
			if (len < EVENT_ARGS_MAX)
				ev->exec.args[len++] = 0;
			else
				ev->exec.args[len - 1] = 0;
		}
		ev->exec.args_len = len;
	}
	for (int fd = 0; fd < 3; fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)tgid, fd);
		if (stat(path, &sb) == 0)
			ev->exec.stdio[fd].mode = sb.st_mode & S_IFMT;
	}
	pid_status(tgid, ev);
	pid_comm(tgid, ev);
	ev->cgroup_id = pid_cgroup(st, tgid);
	/* runc re-executes itself from a memfd: /proc shows "/memfd:runc_cloned:... (deleted)". */
	if (strncmp(ev->exec.filename, "/memfd:", 7) == 0 && strncmp(ev->comm, "runc", 4) == 0)
		ev->exec.runtime_setup = 1;
}

/* Marks the root file system of a container process for written files, once per cgroup. */
static void mark_container_fs(struct nl_state *st, pid_t pid, uint64_t cgroup_id)
{
	char root[64];

	if (st->fan < 0 || cgroup_id == 0 || st->nmarked >= MARKED_MAX)
		return;
	for (size_t i = 0; i < st->nmarked; i++)
		if (st->marked[i] == cgroup_id)
			return;
	st->marked[st->nmarked++] = cgroup_id;
	snprintf(root, sizeof(root), "/proc/%d/root/", (int)pid);
	if (fanotify_mark(st->fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD, root) != 0)
		log_debug("netlink sensor: fanotify mark of %s: %s", root, strerror(errno));
}

static void on_proc_event(struct nl_state *st, struct sensor *s, const struct proc_event *pe)
{
	struct event ev;

	if (pe->what == PROC_EVENT_EXEC && (st->families & SENSOR_PROCESS)) {
		pid_t pid = pe->event_data.exec.process_pid, tgid = pe->event_data.exec.process_tgid;
		if (tgid == st->self)
			return;
		fill_exec(st, pid, tgid, &ev);
		if (ev.cgroup_id != 0)
			pid_remember(st, &ev);
		sensor_count_received(s, 1);
		sensor_emit(s, &ev);
		if (ev.cgroup_id != 0 && !ev.exec.runtime_setup)
			mark_container_fs(st, tgid, ev.cgroup_id);
	} else if (pe->what == PROC_EVENT_EXIT && (st->families & SENSOR_PROCESS)) {
		pid_t pid = pe->event_data.exit.process_pid, tgid = pe->event_data.exit.process_tgid;
		if (pid != tgid || tgid == st->self)
			return;
		memset(&ev, 0, sizeof(ev));
		ev.type = EVENT_EXIT;
		ev.time_ns = now_unix_ns();
		ev.pid = (uint32_t)pid;
		ev.tgid = (uint32_t)tgid;
		ev.exit.code = (int32_t)pe->event_data.exit.exit_code;
		/* The process is a zombie now: its /proc entry still says its cgroup and name. */
		pid_comm(tgid, &ev);
		ev.cgroup_id = pid_cgroup(st, tgid);
		pid_recall(st, &ev);
		sensor_count_received(s, 1);
		sensor_emit(s, &ev);
	}
}

static void read_netlink(struct nl_state *st, struct sensor *s)
{
	/* Aligned for nlmsghdr; one datagram holds one message. */
	char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));

	for (;;) {
		ssize_t n = recv(st->nl, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_NOOP || h->nlmsg_type == NLMSG_ERROR)
				continue;
			size_t plen = NLMSG_PAYLOAD(h, 0);
			const struct cn_msg *cn = NLMSG_DATA(h);
			if (plen < sizeof(*cn) || cn->len > plen - sizeof(*cn) ||
			    cn->len < sizeof(struct proc_event) || cn->id.idx != CN_IDX_PROC) {
				sensor_count_malformed(s);
				continue;
			}
			/* cn->data is at offset 36 of the datagram: copy it out, aligned. */
			struct proc_event pe;
			memcpy(&pe, cn->data, sizeof(pe));
			on_proc_event(st, s, &pe);
		}
	}
}

static void read_fanotify(struct nl_state *st, struct sensor *s)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct fanotify_event_metadata))));

	for (;;) {
		ssize_t n = read(st->fan, buf, sizeof(buf));
		if (n <= 0)
			return;
		for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
			char link[64], path[EVENT_PATH_MAX * 4];
			struct event ev;
			ssize_t l;

			if (m->vers != FANOTIFY_METADATA_VERSION) {
				sensor_count_malformed(s);
				if (m->fd >= 0)
					close(m->fd);
				continue;
			}
			if (m->fd < 0)
				continue; /* FAN_NOFD: the queue overflowed */
			snprintf(link, sizeof(link), "/proc/self/fd/%d", m->fd);
			l = readlink(link, path, sizeof(path) - 1);
			close(m->fd);
			if (l <= 0 || m->pid == st->self || !(st->families & SENSOR_FILE))
				continue;
			path[l] = 0;
			memset(&ev, 0, sizeof(ev));
			ev.type = EVENT_FILE;
			ev.time_ns = now_unix_ns();
			ev.pid = ev.tgid = (uint32_t)m->pid;
			ev.file.op = EVENT_FILE_OPEN;
			ev.file.flags = O_WRONLY;
			ev.file.dirfd = AT_FDCWD;
			snprintf(ev.file.path, sizeof(ev.file.path), "%.*s", EVENT_PATH_MAX,
				 container_path(path));
			pid_comm(m->pid, &ev);
			ev.cgroup_id = pid_cgroup(st, m->pid);
			pid_recall(st, &ev);
			sensor_count_received(s, 1);
			sensor_emit(s, &ev);
		}
	}
}

static void nl_close(void *state)
{
	struct nl_state *st = state;

	if (st == NULL)
		return;
	if (st->nl >= 0)
		close(st->nl);
	if (st->fan >= 0)
		close(st->fan);
	free(st);
}

static int nl_open(const struct sensor_config *cfg, void **state, char *err, size_t errlen)
{
	struct nl_state *st = calloc(1, sizeof(*st));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC };
	struct {
		struct nlmsghdr h;
		struct cn_msg cn;
		enum proc_cn_mcast_op op;
	} __attribute__((packed)) req;
	struct stat sb;
	const char *stage = "socket";
	int r;

	*state = NULL;
	if (st == NULL)
		return -ENOMEM;
	st->fan = -1;
	st->self = getpid();
	st->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : SENSOR_DEFAULT_POLL_MS;
	st->families = cfg->families ? cfg->families : SENSOR_ALL;
	snprintf(st->cg_root, sizeof(st->cg_root), "%s",
		 stat("/sys/fs/cgroup/unified/cgroup.procs", &sb) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup");
	st->nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
	if (st->nl < 0)
		goto fail_errno;
	sa.nl_pid = 0; /* the kernel picks a port id */
	stage = "bind";
	if (bind(st->nl, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto fail_errno;
	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = NLMSG_DONE;
	req.cn.id.idx = CN_IDX_PROC;
	req.cn.id.val = CN_VAL_PROC;
	req.cn.len = sizeof(req.op);
	req.op = PROC_CN_MCAST_LISTEN;
	stage = "subscribe";
	if (send(st->nl, &req, sizeof(req), 0) != (ssize_t)sizeof(req))
		goto fail_errno;
	if (st->families & SENSOR_FILE) {
		st->fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK,
					O_RDONLY | O_LARGEFILE | O_CLOEXEC);
		if (st->fan < 0 ||
		    fanotify_mark(st->fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD, "/") != 0)
			log_warn("netlink sensor: fanotify unavailable (%s): no file events", strerror(errno));
	}
	*state = st;
	return 0;
fail_errno:
	r = -errno;
	snprintf(err, errlen, "netlink sensor: proc connector %s: %s%s", stage, strerror(-r),
		 r == -EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
	nl_close(st);
	return r;
}

static int nl_run(void *state, struct sensor *s, const atomic_int *stop)
{
	struct nl_state *st = state;

	while (!atomic_load(stop)) {
		struct pollfd p[2] = { { st->nl, POLLIN, 0 }, { st->fan, POLLIN, 0 } };
		int n = poll(p, st->fan >= 0 ? 2 : 1, st->poll_ms < 200 ? st->poll_ms : 200);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		if (p[0].revents & POLLIN)
			read_netlink(st, s);
		if (st->fan >= 0 && (p[1].revents & POLLIN))
			read_fanotify(st, s);
		if (p[0].revents & (POLLERR | POLLHUP))
			log_warn("netlink sensor: the proc connector socket reports an error (overrun?)");
	}
	return 0;
}

const struct sensor_backend sensor_backend_netlink = {
	.name = "netlink",
	.open = nl_open,
	.run = nl_run,
	.counters = NULL,
	.close = nl_close,
};
