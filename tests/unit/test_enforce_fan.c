/*
 * test_enforce_fan: the fanotify enforcement (defender/enforce_fanotify.c) against the real kernel
 * without Docker. A child process makes a mount namespace of its own, mounts a tmpfs (a file system
 * of its own, like a container's overlay) and makes it its root with pivot_root(2), as runc does; the test marks the child's root with
 * enforce_fanotify_add() and has the child open files: a denied path fails with EPERM, others
 * open, and the test's own open of the denied file is allowed without a decision; a slow decision is answered at the deadline by the timeout policy (allow, then deny); a
 * burst of opens is answered entirely; the host root is refused. Needs root (CAP_SYS_ADMIN);
 * every test says "skipped" and passes without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "../../defender/enforce.h"

struct child {
	pid_t pid;
	int cmd;  /* parent -> child: one byte per command */
	int res;  /* child -> parent: results */
	char dir[64];
};

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the child: commands are 'o' + a 1-byte name index (open "/f<idx>"), 'n' + 4-byte count
 * (open "/ok" count times), 'q'. Answers are ints (0 or errno) or, for 'n', the failures. */
static void child_main(int cmd, int res, const char *dir)
{
	char c;

	char old[96];

	/* like runc: the new file system becomes the namespace's root (pivot_root), so that the kernel
	 * reports paths inside it ("/f1") */
	snprintf(old, sizeof(old), "%s/old", dir);
	if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0 || mkdir(old, 0700) != 0 ||
	    syscall(SYS_pivot_root, dir, old) != 0 || chdir("/") != 0 ||
	    umount2("/old", MNT_DETACH) != 0 || rmdir("/old") != 0)
		_exit(2);
	for (int i = 0; i < 4; i++) {
		char name[16];
		snprintf(name, sizeof(name), "/f%d", i);
		int fd = open(name, O_CREAT | O_WRONLY, 0600);
		if (fd < 0)
			_exit(3);
		close(fd);
	}
	close(open("/ok", O_CREAT | O_WRONLY, 0600));
	c = 'r';
	if (write(res, &c, 1) != 1)
		_exit(4);
	while (read(cmd, &c, 1) == 1) {
		int r = 0;
		if (c == 'q')
			break;
		if (c == 'o') {
			unsigned char idx;
			char name[16];
			if (read(cmd, &idx, 1) != 1)
				break;
			snprintf(name, sizeof(name), "/f%u", idx);
			int fd = open(name, O_RDONLY);
			r = fd < 0 ? errno : 0;
			if (fd >= 0)
				close(fd);
		} else if (c == 'n') {
			int n;
			if (read(cmd, &n, sizeof(n)) != sizeof(n))
				break;
			for (int i = 0; i < n; i++) {
				int fd = open("/ok", O_RDONLY);
				if (fd < 0)
					r++;
				else
					close(fd);
			}
		}
		if (write(res, &r, sizeof(r)) != sizeof(r))
			break;
	}
	_exit(0);
}

static int child_start(struct child *ch)
{
	int a[2], b[2];
	char c;

	snprintf(ch->dir, sizeof(ch->dir), "/tmp/h7-fan.XXXXXX");
	if (mkdtemp(ch->dir) == NULL || pipe(a) != 0 || pipe(b) != 0)
		return -1;
	ch->pid = fork();
	if (ch->pid == 0) {
		close(a[1]);
		close(b[0]);
		child_main(a[0], b[1], ch->dir);
	}
	close(a[0]);
	close(b[1]);
	ch->cmd = a[1];
	ch->res = b[0];
	if (read(ch->res, &c, 1) != 1 || c != 'r')
		return -1;
	return 0;
}

static void child_stop(struct child *ch)
{
	char q = 'q';
	int st;

	if (ch->pid > 0) {
		if (write(ch->cmd, &q, 1) != 1)
			kill(ch->pid, SIGKILL);
		waitpid(ch->pid, &st, 0);
	}
	close(ch->cmd);
	close(ch->res);
	rmdir(ch->dir); /* the tmpfs was mounted in the child's namespace only */
}

/* Opens /f<idx> in the child: 0 or its errno. */
static int child_open(struct child *ch, unsigned char idx)
{
	char m[2] = { 'o', (char)idx };
	int r = -1;

	if (write(ch->cmd, m, 2) != 2 || read(ch->res, &r, sizeof(r)) != sizeof(r))
		return -1;
	return r;
}

static int child_burst(struct child *ch, int n)
{
	char m = 'n';
	int r = -1;

	if (write(ch->cmd, &m, 1) != 1 || write(ch->cmd, &n, sizeof(n)) != sizeof(n) ||
	    read(ch->res, &r, sizeof(r)) != sizeof(r))
		return -1;
	return r;
}

struct dec {
	int delay_ms;
	atomic_int calls;
	atomic_int reports;
	char last_container[ENFORCE_CONTAINER_MAX];
};

static int decide(const struct enforce_req *req, void *arg)
{
	struct dec *d = arg;

	atomic_fetch_add(&d->calls, 1);
	if (d->delay_ms) {
		struct timespec ts = { 0, (long)d->delay_ms * 1000000L };
		nanosleep(&ts, NULL);
	}
	return strcmp(req->path, "/f1") == 0 ? ENFORCE_DENY : ENFORCE_ALLOW;
}

static void on_report(const struct enforce_req *req, const struct enforce_answer *a, void *arg)
{
	struct dec *d = arg;

	atomic_fetch_add(&d->reports, 1);
	if (getenv("T_VERBOSE"))
		printf("# %s %s verdict=%d timed_out=%d\n", req->container, req->path, a->verdict, a->timed_out);
	memcpy(d->last_container, req->container, sizeof(d->last_container));
}

static int skip(const char *name)
{
	if (geteuid() != 0) {
		printf("# %s: skipped: needs root (fanotify permission events need CAP_SYS_ADMIN)\n", name);
		return 1;
	}
	return 0;
}

static int setup(struct child *ch, struct dec *d, int deadline_ms, int on_timeout,
		 struct enforce_fanotify **f)
{
	struct enforce_fanotify_opts o = { .decide = decide, .decide_arg = d, .report = on_report,
					   .report_arg = d, .deadline_ms = deadline_ms,
					   .on_timeout = on_timeout, .workers = 2 };
	char err[ENFORCE_ERR_MAX] = "";
	int rc;

	if (child_start(ch) != 0) {
		fprintf(stderr, "  cannot start the chrooted child\n");
		return -1;
	}
	rc = enforce_fanotify_new(&o, f, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "  enforce_fanotify_new: %s\n", err);
		return rc;
	}
	rc = enforce_fanotify_add(*f, ch->pid, "child", ENFORCE_WATCH_OPEN | ENFORCE_WATCH_EXEC, err,
				  sizeof(err));
	if (rc < 0)
		fprintf(stderr, "  enforce_fanotify_add: %s\n", err);
	return rc;
}

T_TEST(test_fan_deny_open)
{
	struct child ch = { 0 };
	struct dec d = { 0 };
	struct enforce_fanotify *f = NULL;
	struct enforce_fanotify_stats st;

	if (skip(__func__))
		return;
	T_CHECK_INT(setup(&ch, &d, 500, ENFORCE_ALLOW, &f), 1);
	T_CHECK_INT(child_open(&ch, 0), 0);
	T_CHECK_INT(child_open(&ch, 1), EPERM);
	T_CHECK_INT(child_open(&ch, 2), 0);
	{
		/* our own open of the denied file: allowed by the reader, no decision asked */
		char p[64];
		int calls = atomic_load(&d.calls), fd;
		snprintf(p, sizeof(p), "/proc/%d/root/f1", (int)ch.pid);
		fd = open(p, O_RDONLY);
		T_CHECK(fd >= 0);
		if (fd >= 0)
			close(fd);
		T_CHECK_INT(atomic_load(&d.calls), calls);
	}
	enforce_fanotify_stats(f, &st);
	T_CHECK_INT(st.self, 1);
	T_CHECK_INT(st.events, 4);
	T_CHECK_INT(st.denied, 1);
	T_CHECK_INT(st.allowed, 3);
	T_CHECK_INT(st.timed_out, 0);
	T_CHECK_INT(st.errors, 0);
	enforce_fanotify_free(f); /* reports come after the answers; all are done once it returns */
	T_CHECK_INT(atomic_load(&d.reports), 3);
	T_CHECK_STR(d.last_container, "child");
	/* the group is gone: nothing is denied any more */
	T_CHECK_INT(child_open(&ch, 1), 0);
	child_stop(&ch);
}

T_TEST(test_fan_deadline)
{
	for (int pol = 0; pol < 2; pol++) {
		struct child ch = { 0 };
		struct dec d = { .delay_ms = 400 };
		struct enforce_fanotify *f = NULL;
		struct enforce_fanotify_stats st;
		int64_t t0, dt;

		if (skip(__func__))
			return;
		T_CHECK_INT(setup(&ch, &d, 50, pol ? ENFORCE_DENY : ENFORCE_ALLOW, &f), 1);
		t0 = ms_now();
		/* /f0 would be allowed by the (slow) decision: the timeout policy answers first */
		T_CHECK_INT(child_open(&ch, 0), pol ? EPERM : 0);
		dt = ms_now() - t0;
		T_CHECK(dt >= 45 && dt < 350);
		enforce_fanotify_stats(f, &st);
		T_CHECK_INT(st.timed_out, 1);
		T_CHECK(st.max_latency_us >= 45000);
		enforce_fanotify_free(f); /* waits for the slow worker, whose late answer is dropped */
		child_stop(&ch);
		T_CHECK_INT(atomic_load(&d.calls), 1);
		T_CHECK_INT(atomic_load(&d.reports), 1);
	}
}

T_TEST(test_fan_burst)
{
	struct child ch = { 0 };
	struct dec d = { 0 };
	struct enforce_fanotify *f = NULL;
	struct enforce_fanotify_stats st;
	int n = 3000;

	if (skip(__func__))
		return;
	T_CHECK_INT(setup(&ch, &d, 1000, ENFORCE_DENY, &f), 1);
	T_CHECK_INT(child_burst(&ch, n), 0);
	enforce_fanotify_stats(f, &st);
	T_CHECK_INT(st.events, n);
	T_CHECK_INT(st.allowed, n);
	T_CHECK_INT(st.timed_out, 0);
	T_CHECK_INT(st.errors, 0);
	printf("# %d opens answered, max latency %llu us\n", n, (unsigned long long)st.max_latency_us);
	enforce_fanotify_free(f);
	child_stop(&ch);
}

T_TEST(test_fan_refuses_host_root)
{
	struct dec d = { 0 };
	struct enforce_fanotify_opts o = { .decide = decide, .decide_arg = &d };
	struct enforce_fanotify *f = NULL;
	char err[ENFORCE_ERR_MAX] = "";

	if (skip(__func__))
		return;
	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), 0);
	T_CHECK_INT(enforce_fanotify_add(f, getpid(), "self", ENFORCE_WATCH_EXEC, err, sizeof(err)), -EPERM);
	T_CHECK(strstr(err, "host root") != NULL);
	T_CHECK_INT(enforce_fanotify_add(f, 0x7ffffff0, "none", ENFORCE_WATCH_EXEC, err, sizeof(err)), -ESRCH);
	enforce_fanotify_free(f);
}

T_MAIN(T_CASE(test_fan_deny_open), T_CASE(test_fan_deadline), T_CASE(test_fan_burst),
       T_CASE(test_fan_refuses_host_root))
