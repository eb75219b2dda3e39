/*
 * enforce_fanotify: exec and open prevention with fanotify permission events (see enforce.h and
 * docs/enforcement.md).
 *
 * One fanotify group (FAN_CLASS_CONTENT, non-blocking) holds the marks of every container. A
 * reader thread reads events in batches, resolves each into a request (path of the event's
 * descriptor, exe of the process, container from the descriptor's mount id or st_dev) and puts it
 * into a slot of a fixed table and a FIFO; worker threads take requests from the FIFO, call the
 * decision callback and answer. Whoever answers first wins, under the table's lock: the worker with
 * the decision, or the reader when the slot's deadline has passed (the timeout policy). So every
 * permission event is answered within deadline_ms plus one reader wake-up, whatever the callback
 * does, and a full table makes the reader answer at once. With inline_decide the reader calls the
 * callback itself (no thread hop, no deadline: for callbacks that are pure computation). The process's own accesses are allowed
 * by the reader without a decision (a worker that opened a marked file would otherwise wait for
 * itself).
 *
 * Guarantees: an event's descriptor is answered exactly once and closed exactly once; the kernel
 * removes every mark and allows every pending event when the group's descriptor closes, so nothing
 * stays blocked when the Defender stops or dies. The host root's file system is never marked unless
 * asked explicitly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "enforce.h"

/* One read returns at most READ_BUF / 24 events, each with a new descriptor: with queue_max slots
 * the group holds at most queue_max + 170 descriptors, so that the default RLIMIT_NOFILE (1024)
 * is never reached (the kernel denies an event whose descriptor it cannot create). */
#define READ_BUF 4096
#define READ_BATCHES 16         /* reads per wake-up before deadlines are checked again */
#define MARKS_MAX 1024
#define MOUNTS_PER_CONTAINER 64
#define MOUNTINFO_MAX (1 << 20)

enum slot_state { SLOT_FREE = 0, SLOT_QUEUED, SLOT_DECIDING };

struct slot {
	enum slot_state state;
	uint64_t gen;
	int fd;
	int64_t t_read_us, deadline_us;
	struct enforce_req req;
};

struct qent {
	uint32_t idx;
	uint64_t gen;
};

struct mark {
	dev_t dev;        /* file-system mark: st_dev of its root */
	uint64_t mnt_id;  /* mount mark: the mount's id (0 for a file-system mark) */
	uint64_t mask;    /* file-system mark: the operations marked (for enforce_fanotify_remove) */
	char label[ENFORCE_CONTAINER_MAX];
};

struct enforce_fanotify {
	int fan_fd;
	int stop_fd; /* eventfd */
	struct enforce_fanotify_opts o;
	pid_t self;

	pthread_mutex_t lock; /* slots, free list, FIFO */
	pthread_cond_t cond;
	struct slot *slots;
	uint32_t nslots;
	uint32_t *free_idx; /* stack of free slot indexes */
	uint32_t nfree;
	struct qent *fifo;  /* ring of nslots entries */
	uint32_t fifo_head, fifo_len;
	int stopping;

	pthread_mutex_t mk_lock;
	struct mark marks[MARKS_MAX];
	size_t nmarks;

	pthread_t reader;
	pthread_t workers[16];
	int nworkers;
	int reader_started;

	uint64_t seq;                /* reader only */
	char *rbuf;                  /* reader only: READ_BUF bytes */
	struct enforce_req *rreq;    /* reader only */
	_Atomic uint64_t events, allowed, denied, timed_out, queue_full, self_n, errors, max_lat, nmarks_added;
};


static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* readlink into buf (NUL-terminated, "" on failure). */
static void read_link(const char *link, char *buf, size_t len)
{
	ssize_t n = readlink(link, buf, len - 1);

	if (n < 0)
		n = 0;
	buf[n] = 0;
}

static void note_latency(struct enforce_fanotify *f, int64_t lat)
{
	uint64_t cur = atomic_load(&f->max_lat);

	while (lat > 0 && (uint64_t)lat > cur && !atomic_compare_exchange_weak(&f->max_lat, &cur, (uint64_t)lat))
		;
}

/* Counts, answers the kernel for fd, closes it, then reports. The counters are updated before the
 * answer, so that whoever sees the process go on also sees them. Never fails the caller. */
static void answer(struct enforce_fanotify *f, int fd, const struct enforce_req *req, int verdict,
		   int timed_out, int queue_full, int64_t t_read)
{
	struct fanotify_response r = { .fd = fd, .response = verdict == ENFORCE_DENY ? FAN_DENY : FAN_ALLOW };
	struct enforce_answer a = { verdict, timed_out, queue_full, now_us() - t_read };

	note_latency(f, a.latency_us);
	atomic_fetch_add(verdict == ENFORCE_DENY ? &f->denied : &f->allowed, 1);
	if (timed_out)
		atomic_fetch_add(&f->timed_out, 1);
	if (queue_full)
		atomic_fetch_add(&f->queue_full, 1);
	if (write(f->fan_fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		atomic_fetch_add(&f->errors, 1);
	close(fd);
	if (req != NULL && f->o.report)
		f->o.report(req, &a, f->o.report_arg);
}

/* ---- workers --------------------------------------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct enforce_fanotify *f = arg;
	struct enforce_req *req = malloc(sizeof(*req));

	if (req == NULL)
		return NULL;
	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct qent q;
		struct slot *s;
		int verdict, fd;
		int64_t t_read;

		while (!f->stopping && f->fifo_len == 0)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->stopping)
			break;
		q = f->fifo[f->fifo_head];
		f->fifo_head = (f->fifo_head + 1) % f->nslots;
		f->fifo_len--;
		s = &f->slots[q.idx];
		if (s->gen != q.gen || s->state != SLOT_QUEUED)
			continue; /* answered by the reader meanwhile */
		s->state = SLOT_DECIDING;
		*req = s->req;
		pthread_mutex_unlock(&f->lock);

		verdict = f->o.decide(req, f->o.decide_arg) == ENFORCE_DENY ? ENFORCE_DENY : ENFORCE_ALLOW;

		pthread_mutex_lock(&f->lock);
		if (s->gen != q.gen || s->state != SLOT_DECIDING)
			continue; /* too late: the reader answered with the timeout policy */
		fd = s->fd;
		t_read = s->t_read_us;
		s->state = SLOT_FREE;
		s->gen++;
		f->free_idx[f->nfree++] = q.idx;
		pthread_mutex_unlock(&f->lock);
		answer(f, fd, req, verdict, 0, 0, t_read);
		pthread_mutex_lock(&f->lock);
	}
	pthread_mutex_unlock(&f->lock);
	free(req);
	return NULL;
}

/* ---- reader ------------------------------------------------------------------------------------ */

/* The label of the container whose mark saw fd, "" when none matches. */
static void lookup_container(struct enforce_fanotify *f, int fd, char *out)
{
	struct statx stx;
	struct stat st;
	int have_mnt = 0, have_dev = 0;

	out[0] = 0;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) == 0 && (stx.stx_mask & STATX_MNT_ID))
		have_mnt = 1;
	if (fstat(fd, &st) == 0)
		have_dev = 1;
	pthread_mutex_lock(&f->mk_lock);
	/* a mount mark (volume) first: its st_dev is some other file system's */
	for (size_t i = 0; have_mnt && i < f->nmarks; i++) {
		if (f->marks[i].mnt_id != 0 && f->marks[i].mnt_id == stx.stx_mnt_id) {
			memcpy(out, f->marks[i].label, ENFORCE_CONTAINER_MAX);
			goto done;
		}
	}
	for (size_t i = 0; have_dev && i < f->nmarks; i++) {
		if (f->marks[i].mnt_id == 0 && f->marks[i].dev == st.st_dev) {
			memcpy(out, f->marks[i].label, ENFORCE_CONTAINER_MAX);
			goto done;
		}
	}
done:
	pthread_mutex_unlock(&f->mk_lock);
}

/* Takes one permission event (fd is ours from now on). */
static void take_event(struct enforce_fanotify *f, const struct fanotify_event_metadata *md,
		       struct enforce_req *req)
{
	char link[64];
	int64_t t = now_us();
	uint32_t idx;
	struct slot *s;

	atomic_fetch_add(&f->events, 1);
	if (md->pid == f->self) {
		atomic_fetch_add(&f->self_n, 1);
		answer(f, md->fd, NULL, ENFORCE_ALLOW, 0, 0, t);
		return;
	}
	memset(req, 0, offsetof(struct enforce_req, path) + 1);
	req->op = (md->mask & FAN_OPEN_EXEC_PERM) ? ENFORCE_OP_EXEC : ENFORCE_OP_OPEN;
	req->pid = md->pid;
	req->seq = ++f->seq;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", md->fd);
	read_link(link, req->path, sizeof(req->path));
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)md->pid);
	read_link(link, req->exe, sizeof(req->exe));
	lookup_container(f, md->fd, req->container);
	if (f->o.inline_decide) {
		int v = f->o.decide(req, f->o.decide_arg) == ENFORCE_DENY ? ENFORCE_DENY : ENFORCE_ALLOW;
		answer(f, md->fd, req, v, 0, 0, t);
		return;
	}

	pthread_mutex_lock(&f->lock);
	if (f->nfree == 0) {
		pthread_mutex_unlock(&f->lock);
		answer(f, md->fd, req, f->o.on_timeout, 1, 1, t);
		return;
	}
	idx = f->free_idx[--f->nfree];
	s = &f->slots[idx];
	s->state = SLOT_QUEUED;
	s->fd = md->fd;
	s->t_read_us = t;
	s->deadline_us = t + (int64_t)f->o.deadline_ms * 1000;
	memcpy(&s->req, req, sizeof(*req));
	f->fifo[(f->fifo_head + f->fifo_len) % f->nslots] = (struct qent){ idx, s->gen };
	f->fifo_len++;
	pthread_cond_signal(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* Answers every slot whose deadline has passed (all of them when all is set) with the timeout
 * policy (ALLOW when all is set). Returns the earliest deadline still pending, or 0. */
static int64_t expire(struct enforce_fanotify *f, struct enforce_req *req, int all)
{
	int64_t next = 0;

	for (;;) {
		int64_t now = now_us(), t_read = 0;
		int fd = -1;

		next = 0;
		pthread_mutex_lock(&f->lock);
		for (uint32_t i = 0; i < f->nslots; i++) {
			struct slot *s = &f->slots[i];

			if (s->state == SLOT_FREE)
				continue;
			if (all || s->deadline_us <= now) {
				fd = s->fd;
				t_read = s->t_read_us;
				*req = s->req;
				s->state = SLOT_FREE;
				s->gen++;
				f->free_idx[f->nfree++] = i;
				break;
			}
			if (next == 0 || s->deadline_us < next)
				next = s->deadline_us;
		}
		pthread_mutex_unlock(&f->lock);
		if (fd < 0)
			return next;
		answer(f, fd, req, all ? ENFORCE_ALLOW : f->o.on_timeout, 1, 0, t_read);
	}
}

static void *reader_main(void *arg)
{
	struct enforce_fanotify *f = arg;
	char *buf = f->rbuf;
	struct enforce_req *req = f->rreq;
	int64_t next = 0;

	for (;;) {
		struct pollfd pf[2] = { { f->fan_fd, POLLIN, 0 }, { f->stop_fd, POLLIN, 0 } };
		int timeout = 1000;

		if (next != 0) {
			int64_t d = next - now_us();
			timeout = d <= 0 ? 0 : (int)((d + 999) / 1000);
			if (timeout > 1000)
				timeout = 1000;
		}
		if (poll(pf, 2, timeout) < 0) {
			/* EINTR, or ENOMEM: never leave the group unserved; deadlines are still checked */
			pf[0].revents = pf[1].revents = 0;
		}
		if (pf[1].revents)
			break;
		for (int b = 0; b < READ_BATCHES; b++) {
			ssize_t n = read(f->fan_fd, buf, READ_BUF);
			const struct fanotify_event_metadata *md;

			if (n <= 0)
				break;
			for (md = (const void *)buf; FAN_EVENT_OK(md, n); md = FAN_EVENT_NEXT(md, n)) {
				if (md->vers != FANOTIFY_METADATA_VERSION) {
					/* cannot parse what follows; the kernel answers when the group closes */
					log_error("enforce: fanotify metadata version %u, expected %u",
						  md->vers, FANOTIFY_METADATA_VERSION);
					if (md->fd >= 0)
						close(md->fd);
					continue;
				}
				if (md->fd < 0) /* FAN_NOFD: queue overflow */
					continue;
				if (!(md->mask & (FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM))) {
					close(md->fd);
					continue;
				}
				take_event(f, md, req);
			}
		}
		next = expire(f, req, 0);
	}
	return NULL;
}

/* ---- public ------------------------------------------------------------------------------------ */

int enforce_fanotify_new(const struct enforce_fanotify_opts *opts, struct enforce_fanotify **out,
			 char *err, size_t errlen)
{
	struct enforce_fanotify *f = NULL;
	int rc;

	*out = NULL;
	if (opts == NULL || opts->decide == NULL || opts->deadline_ms < 0 || opts->deadline_ms > 10000 ||
	    opts->workers < 0 || opts->workers > 16 || opts->queue_max < 0 || opts->queue_max > 65536 ||
	    (opts->on_timeout != ENFORCE_ALLOW && opts->on_timeout != ENFORCE_DENY)) {
		util_set_err(err, errlen, "invalid fanotify options");
		return -EINVAL;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->fan_fd = -1;
	f->stop_fd = -1;
	f->o = *opts;
	if (f->o.deadline_ms == 0)
		f->o.deadline_ms = ENFORCE_DEADLINE_MS_DEFAULT;
	if (f->o.workers == 0)
		f->o.workers = 1;
	if (f->o.queue_max == 0)
		f->o.queue_max = 256;
	f->self = getpid();
	f->nslots = (uint32_t)f->o.queue_max;
	pthread_mutex_init(&f->lock, NULL);
	pthread_mutex_init(&f->mk_lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->slots = calloc(f->nslots, sizeof(*f->slots));
	f->free_idx = calloc(f->nslots, sizeof(*f->free_idx));
	f->fifo = calloc(f->nslots, sizeof(*f->fifo));
	f->rbuf = malloc(READ_BUF);
	f->rreq = malloc(sizeof(*f->rreq));
	if (f->slots == NULL || f->free_idx == NULL || f->fifo == NULL || f->rbuf == NULL ||
	    f->rreq == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < f->nslots; i++)
		f->free_idx[f->nfree++] = f->nslots - 1 - i;

	f->fan_fd = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK | FAN_UNLIMITED_QUEUE |
					  FAN_UNLIMITED_MARKS,
				  O_RDONLY | O_LARGEFILE | O_CLOEXEC);
	if (f->fan_fd < 0) {
		rc = -errno;
		util_set_err(err, errlen, "fanotify_init: %s", strerror(errno));
		goto fail;
	}
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_fd < 0) {
		rc = -errno;
		util_set_err(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	rc = -pthread_create(&f->reader, NULL, reader_main, f);
	if (rc < 0) {
		util_set_err(err, errlen, "cannot start the fanotify reader: %s", strerror(-rc));
		goto fail;
	}
	f->reader_started = 1;
	for (int i = 0; i < (f->o.inline_decide ? 0 : f->o.workers); i++) {
		rc = -pthread_create(&f->workers[i], NULL, worker_main, f);
		if (rc < 0) {
			util_set_err(err, errlen, "cannot start a decision worker: %s", strerror(-rc));
			goto fail;
		}
		f->nworkers++;
	}
	*out = f;
	return 0;
fail:
	enforce_fanotify_free(f);
	return rc;
}

/* 1 when st/sf describe the same file system as the root of /proc/1 or of this process. */
static int is_host_root(const struct stat *st, const struct statfs *sf)
{
	static const char *roots[] = { "/proc/1/root/", "/" };

	for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		struct stat hs;
		struct statfs hf;

		if (stat(roots[i], &hs) == 0 && hs.st_dev == st->st_dev)
			return 1;
		if (statfs(roots[i], &hf) == 0 &&
		    memcmp(&hf.f_fsid, &sf->f_fsid, sizeof(hf.f_fsid)) == 0 &&
		    (hf.f_fsid.__val[0] != 0 || hf.f_fsid.__val[1] != 0))
			return 1;
	}
	return 0;
}

static int add_mark_entry(struct enforce_fanotify *f, dev_t dev, uint64_t mnt_id, const char *label)
{
	int rc = 0;

	pthread_mutex_lock(&f->mk_lock);
	for (size_t i = 0; i < f->nmarks; i++) {
		if (f->marks[i].mnt_id == mnt_id && (mnt_id != 0 || f->marks[i].dev == dev))
			goto out; /* marked already: keeps its first label */
	}
	if (f->nmarks >= MARKS_MAX) {
		rc = -ENOSPC;
		goto out;
	}
	f->marks[f->nmarks].dev = dev;
	f->marks[f->nmarks].mnt_id = mnt_id;
	snprintf(f->marks[f->nmarks].label, ENFORCE_CONTAINER_MAX, "%s", label ? label : "");
	f->nmarks++;
out:
	pthread_mutex_unlock(&f->mk_lock);
	return rc;
}

/* Decodes the octal escapes of a mountinfo field in place (\040 -> ' '). */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = 0;
}

static int pseudo_fs(const char *type)
{
	static const char *skip[] = { "proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue",
				      "devtmpfs", "securityfs", "debugfs", "tracefs", "bpf", "fusectl",
				      "configfs", "pstore", "hugetlbfs", "nsfs", "binfmt_misc",
				      "autofs", "efivarfs", "selinuxfs", "rpc_pipefs" };

	for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcmp(type, skip[i]) == 0)
			return 1;
	return 0;
}

/* Marks (op FAN_MARK_ADD) or unmarks (FAN_MARK_REMOVE) the operations of mask on the container's
 * mounts other than / and pseudo file systems (FAN_MARK_MOUNT). Returns the number of mounts
 * marked or unmarked, or a negative errno when mountinfo cannot be read. */
static int mark_mounts(struct enforce_fanotify *f, pid_t pid, unsigned op, uint64_t mask, const char *label)
{
	char path[64], *buf = NULL, *line, *next_line = NULL;
	int fd, added = 0;
	size_t len = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(MOUNTINFO_MAX);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (len < MOUNTINFO_MAX - 1 && (n = read(fd, buf + len, MOUNTINFO_MAX - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = 0;
	for (line = buf; line != NULL && *line && added < MOUNTS_PER_CONTAINER; line = next_line) {
		/* id parent maj:min root mountpoint opts [optional...] - fstype source superopts */
		char *fld[5], *sep, *type, *p = line;
		char full[ENFORCE_PATH_MAX];
		struct statx stx;
		int i;

		next_line = strchr(line, '\n');
		if (next_line != NULL)
			*next_line++ = 0;
		sep = strstr(line, " - ");
		if (sep == NULL)
			continue;
		*sep = 0;
		type = sep + 3;
		type[strcspn(type, " ")] = 0;
		for (i = 0; i < 5 && p != NULL; i++) {
			fld[i] = p;
			p = strchr(p, ' ');
			if (p != NULL)
				*p++ = 0;
		}
		if (i < 5)
			continue;
		unescape(fld[4]);
		if (fld[4][0] != '/' || strcmp(fld[4], "/") == 0 || pseudo_fs(type) ||
		    strncmp(fld[4], "/proc", 5) == 0 || strncmp(fld[4], "/sys", 4) == 0 ||
		    strncmp(fld[4], "/dev", 4) == 0)
			continue;
		if ((size_t)snprintf(full, sizeof(full), "/proc/%d/root%s", (int)pid, fld[4]) >= sizeof(full))
			continue;
		if (statx(AT_FDCWD, full, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) != 0 ||
		    !(stx.stx_mask & STATX_MNT_ID))
			continue;
		if (op == FAN_MARK_REMOVE) {
			/* ENOENT: that mount had no mark (added after the container started) */
			if (fanotify_mark(f->fan_fd, FAN_MARK_REMOVE | FAN_MARK_MOUNT, mask, AT_FDCWD, full) == 0)
				added++;
			else if (errno != ENOENT)
				log_warn("enforce: cannot unmark the mount %s of %s: %s", fld[4], label,
					 strerror(errno));
			continue;
		}
		if (fanotify_mark(f->fan_fd, FAN_MARK_ADD | FAN_MARK_MOUNT, mask, AT_FDCWD, full) != 0) {
			log_warn("enforce: cannot mark the mount %s of %s: %s", fld[4], label, strerror(errno));
			continue;
		}
		if (add_mark_entry(f, 0, stx.stx_mnt_id, label) == 0)
			added++;
	}
	free(buf);
	return added;
}

int enforce_fanotify_add(struct enforce_fanotify *f, pid_t pid, const char *container,
			 unsigned flags, char *err, size_t errlen)
{
	char root[64];
	struct stat st;
	struct statfs sf;
	uint64_t mask = 0;
	int rc, added = 0;

	if (f == NULL || pid <= 0 || !(flags & (ENFORCE_WATCH_EXEC | ENFORCE_WATCH_OPEN))) {
		util_set_err(err, errlen, "nothing to watch or no process");
		return -EINVAL;
	}
	if (flags & ENFORCE_WATCH_EXEC)
		mask |= FAN_OPEN_EXEC_PERM;
	if (flags & ENFORCE_WATCH_OPEN)
		mask |= FAN_OPEN_PERM;
	snprintf(root, sizeof(root), "/proc/%d/root/", (int)pid);
	if (stat(root, &st) != 0 || statfs(root, &sf) != 0) {
		rc = errno == ENOENT ? -ESRCH : -errno;
		util_set_err(err, errlen, "%s: %s", root, strerror(errno));
		return rc;
	}
	if (!(flags & ENFORCE_FORCE_HOST) && is_host_root(&st, &sf)) {
		util_set_err(err, errlen,
			"%s is on the host root's file system: refusing to mark it (it would hold every "
			"exec/open of the host)", root);
		return -EPERM;
	}
	rc = add_mark_entry(f, st.st_dev, 0, container);
	if (rc < 0) {
		util_set_err(err, errlen, "too many marks (%d)", MARKS_MAX);
		return rc;
	}
	if (fanotify_mark(f->fan_fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, mask, AT_FDCWD, root) != 0) {
		rc = -errno;
		util_set_err(err, errlen, "fanotify_mark(FAN_MARK_FILESYSTEM, %s): %s", root, strerror(errno));
		return rc;
	}
	added = 1;
	pthread_mutex_lock(&f->mk_lock);
	for (size_t i = 0; i < f->nmarks; i++)
		if (f->marks[i].mnt_id == 0 && f->marks[i].dev == st.st_dev)
			f->marks[i].mask |= mask;
	pthread_mutex_unlock(&f->mk_lock);
	if (flags & ENFORCE_MOUNTS) {
		rc = mark_mounts(f, pid, FAN_MARK_ADD, mask, container);
		if (rc > 0)
			added += rc;
	}
	atomic_fetch_add(&f->nmarks_added, (uint64_t)added);
	return added;
}

/* Drops every table entry labelled container (mk_lock held). */
static void forget_label(struct enforce_fanotify *f, const char *container)
{
	size_t o = 0;

	for (size_t i = 0; i < f->nmarks; i++) {
		if (strncmp(f->marks[i].label, container, ENFORCE_CONTAINER_MAX - 1) == 0)
			continue;
		if (o != i)
			f->marks[o] = f->marks[i];
		o++;
	}
	f->nmarks = o;
}

int enforce_fanotify_remove(struct enforce_fanotify *f, pid_t pid, const char *container,
			    unsigned flags, char *err, size_t errlen)
{
	char root[64];
	struct stat st;
	uint64_t mask = 0, left = 0;
	int rc = 0, found = 0;

	if (f == NULL || container == NULL || container[0] == 0) {
		util_set_err(err, errlen, "no fanotify group or no label");
		return -EINVAL;
	}
	if (flags & ENFORCE_WATCH_EXEC)
		mask |= FAN_OPEN_EXEC_PERM;
	if (flags & ENFORCE_WATCH_OPEN)
		mask |= FAN_OPEN_PERM;
	snprintf(root, sizeof(root), "/proc/%d/root/", (int)pid);
	if (pid > 0 && mask != 0 && stat(root, &st) == 0) {
		pthread_mutex_lock(&f->mk_lock);
		for (size_t i = 0; i < f->nmarks; i++) {
			struct mark *m = &f->marks[i];

			if (m->mnt_id != 0 || m->dev != st.st_dev ||
			    strncmp(m->label, container, ENFORCE_CONTAINER_MAX - 1) != 0)
				continue;
			found = 1;
			m->mask &= ~mask;
			left = m->mask;
		}
		pthread_mutex_unlock(&f->mk_lock);
		if (found && fanotify_mark(f->fan_fd, FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, mask, AT_FDCWD,
					   root) != 0 && errno != ENOENT) {
			rc = -errno;
			util_set_err(err, errlen, "fanotify_mark(FAN_MARK_REMOVE, %s): %s", root, strerror(errno));
		}
		/* The same operations off the container's mount marks (ENFORCE_MOUNTS), if any. */
		if (found)
			mark_mounts(f, pid, FAN_MARK_REMOVE, mask, container);
		if (found && left != 0)
			return rc;
	}
	/* nothing left, or the process (and so, most likely, its file system) is gone */
	pthread_mutex_lock(&f->mk_lock);
	forget_label(f, container);
	pthread_mutex_unlock(&f->mk_lock);
	return rc;
}

void enforce_fanotify_stats(struct enforce_fanotify *f, struct enforce_fanotify_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (f == NULL)
		return;
	st->events = atomic_load(&f->events);
	st->allowed = atomic_load(&f->allowed);
	st->denied = atomic_load(&f->denied);
	st->timed_out = atomic_load(&f->timed_out);
	st->queue_full = atomic_load(&f->queue_full);
	st->self = atomic_load(&f->self_n);
	st->errors = atomic_load(&f->errors);
	st->max_latency_us = atomic_load(&f->max_lat);
	st->marks = atomic_load(&f->nmarks_added);
}

void enforce_fanotify_free(struct enforce_fanotify *f)
{
	uint64_t one = 1;
	struct enforce_req *req;

	if (f == NULL)
		return;
	if (f->stop_fd >= 0 && write(f->stop_fd, &one, sizeof(one)) < 0)
		log_warn("enforce: cannot wake the fanotify reader: %s", strerror(errno));
	pthread_mutex_lock(&f->lock);
	f->stopping = 1;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	if (f->reader_started)
		pthread_join(f->reader, NULL);
	for (int i = 0; i < f->nworkers; i++)
		pthread_join(f->workers[i], NULL);
	req = malloc(sizeof(*req));
	if (req != NULL && f->slots != NULL) {
		expire(f, req, 1); /* whatever is still pending: allowed */
	}
	free(req);
	if (f->fan_fd >= 0)
		close(f->fan_fd); /* removes every mark; the kernel allows events not yet read */
	if (f->stop_fd >= 0)
		close(f->stop_fd);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	pthread_mutex_destroy(&f->mk_lock);
	free(f->slots);
	free(f->free_idx);
	free(f->fifo);
	free(f->rbuf);
	free(f->rreq);
	free(f);
}
