/*
 * sensor_pipeline: the load generator of bench/sensor_pipeline.sh. Runs one storm of syscalls the
 * runtime sensors report and prints how long it took, so the script can compare a run without the
 * sensor with a run under it.
 *
 *   sensor_pipeline exec N [PATH]     N times posix_spawn + wait of PATH (/bin/true): N exec events
 *   sensor_pipeline open N [FILE]     N times open(FILE, O_WRONLY|O_CREAT) + close: N file events
 *   sensor_pipeline connect N [PORT]  N times connect() of one UDP socket to 127.0.0.1:PORT (28920):
 *                                     N connect events
 *   sensor_pipeline openmany N [DIR]  N times open(DIR/f<i % 8192>, O_WRONLY|O_CREAT) + close: N file
 *                                     events, each of another file than the previous 8191 (more
 *                                     than the sensor's fold map holds: nothing folds, every open
 *                                     inserts a key); DIR (/tmp/sensor_pipeline.d) is created
 *   sensor_pipeline getppid N         N times getppid(2): no event; what every syscall pays for
 *                                     the sys_exit hook (the floor), with the cheapest syscall
 *   sensor_pipeline write N           N times write(2) of 64 bytes to /dev/null: no event; the cost
 *                                     of the commonest syscall, which the DNS sensor must look at
 *                                     (a write on a UDP socket connected to port 53 is a query)
 *   sensor_pipeline readonly N [FILE] N times open(FILE, O_RDONLY) + close: no event (the kernel
 *                                     filter's cost)
 *   sensor_pipeline mixed N [PORT]    N events, alternately a writable open + close of
 *                                     /tmp/sensor_pipeline.tmp and a UDP connect to 127.0.0.1:PORT
 *   sensor_pipeline workload N [PORT] N rounds of a syscall-heavy program: a writable open + close,
 *                                     a read-only open + close of /etc/hostname, a UDP connect to
 *                                     127.0.0.1:PORT, and every 20th round a spawn of /bin/true
 *                                     (N * 2 + N / 20 * 2 events: file, connect, exec, exit)
 *
 * --rate R (before KIND) paces the storm at R operations per second (checked every 64 operations,
 * so bursts are short); without it the storm runs as fast as it can.
 *
 * Prints one line "storm=KIND n=N seconds=S rate=R cpu=C" (R per second; C the CPU seconds, user +
 * system, of the storm and the children it spawned: less sensitive than S to other load). A benchmark tool: it never
 * judges. Exit 0, 1 on a failed syscall, 2 for bad arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double rate; /* operations per second; 0: unpaced */
static double t_start;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until operation i is due at the pace asked for. */
static void pace(long i)
{
	if (rate <= 0 || (i & 63) != 0)
		return;
	double due = t_start + (double)i / rate, now = now_s();
	if (due > now) {
		struct timespec ts = { (time_t)(due - now), (long)((due - now - (double)(time_t)(due - now)) * 1e9) };
		nanosleep(&ts, NULL);
	}
}

static int spawn_wait(const char *path)
{
	char *const argv[] = { (char *)path, NULL };
	pid_t pid;
	int st;

	if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0) {
		perror("spawn");
		return -1;
	}
	return 0;
}

static int open_close(const char *path, int flags)
{
	int fd = open(path, flags, 0600);

	if (fd < 0) {
		perror(path);
		return -1;
	}
	close(fd);
	return 0;
}

/* mixed (workload == 0) or workload (1). */
static int storm_mixed(long n, int port, int workload)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), r = -1;

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long i = 0; i < n; i++) {
		pace(i);
		if (workload || (i & 1) == 0)
			if (open_close("/tmp/sensor_pipeline.tmp", O_WRONLY | O_CREAT) != 0)
				goto out;
		if (workload && open_close("/etc/hostname", O_RDONLY) != 0)
			goto out;
		if ((workload || (i & 1) == 1) && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			perror("connect");
			goto out;
		}
		if (workload && i % 20 == 19 && spawn_wait("/bin/true") != 0)
			goto out;
	}
	r = 0;
out:
	close(fd);
	return r;
}

static int storm_exec(long n, const char *path)
{
	char *const argv[] = { (char *)path, NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;
		pace(i);
		if (posix_spawn(&pid, path, NULL, NULL, argv, environ) != 0 || waitpid(pid, &st, 0) < 0) {
			perror("spawn");
			return -1;
		}
	}
	return 0;
}

static int storm_open(long n, const char *path, int flags)
{
	for (long i = 0; i < n; i++) {
		pace(i);
		int fd = open(path, flags, 0600);
		if (fd < 0) {
			perror(path);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int storm_openmany(long n, const char *dir)
{
	char path[4096];

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		perror(dir);
		return -1;
	}
	for (long i = 0; i < n; i++) {
		pace(i);
		snprintf(path, sizeof(path), "%s/f%ld", dir, i % 8192);
		int fd = open(path, O_WRONLY | O_CREAT, 0600);
		if (fd < 0) {
			perror(path);
			return -1;
		}
		close(fd);
	}
	return 0;
}

static int storm_connect(long n, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (long i = 0; i < n; i++) {
		pace(i);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			perror("connect");
			close(fd);
			return -1;
		}
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	char *end;
	long n;
	double t0, t;
	int r;

	if (argc >= 3 && strcmp(argv[1], "--rate") == 0) {
		rate = strtod(argv[2], &end);
		if (*end != 0 || !(rate > 0))
			goto usage;
		argc -= 2;
		argv += 2;
	}
	if (argc < 3)
		goto usage;
	errno = 0;
	n = strtol(argv[2], &end, 10);
	if (*end != 0 || errno != 0 || n <= 0)
		goto usage;
	t0 = t_start = now_s();
	if (strcmp(argv[1], "mixed") == 0 || strcmp(argv[1], "workload") == 0) {
		long port = argc > 3 ? strtol(argv[3], &end, 10) : 28920;
		if (port <= 0 || port > 65535)
			goto usage;
		r = storm_mixed(n, (int)port, strcmp(argv[1], "workload") == 0);
	} else if (strcmp(argv[1], "exec") == 0) {
		r = storm_exec(n, argc > 3 ? argv[3] : "/bin/true");
	} else if (strcmp(argv[1], "open") == 0) {
		r = storm_open(n, argc > 3 ? argv[3] : "/tmp/sensor_pipeline.tmp", O_WRONLY | O_CREAT);
	} else if (strcmp(argv[1], "openmany") == 0) {
		r = storm_openmany(n, argc > 3 ? argv[3] : "/tmp/sensor_pipeline.d");
	} else if (strcmp(argv[1], "getppid") == 0) {
		for (long i = 0; i < n; i++) {
			pace(i);
			syscall(SYS_getppid);
		}
		r = 0;
	} else if (strcmp(argv[1], "write") == 0) {
		static const char buf[64];
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (fd < 0)
			return 1;
		r = 0;
		for (long i = 0; i < n && r == 0; i++) {
			pace(i);
			if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
				r = -1;
		}
		close(fd);
	} else if (strcmp(argv[1], "readonly") == 0) {
		r = storm_open(n, argc > 3 ? argv[3] : "/etc/hostname", O_RDONLY);
	} else if (strcmp(argv[1], "connect") == 0) {
		long port = argc > 3 ? strtol(argv[3], &end, 10) : 28920;
		if (port <= 0 || port > 65535)
			goto usage;
		r = storm_connect(n, (int)port);
	} else {
		goto usage;
	}
	if (r != 0)
		return 1;
	t = now_s() - t0;
	struct rusage self, kids;
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_CHILDREN, &kids);
	double cpu = (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec + kids.ru_utime.tv_sec +
			      kids.ru_stime.tv_sec) +
		     (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec + kids.ru_utime.tv_usec +
			      kids.ru_stime.tv_usec) / 1e6;
	printf("storm=%s n=%ld seconds=%.4f rate=%.0f cpu=%.4f\n", argv[1], n, t, (double)n / t, cpu);
	return 0;
usage:
	fprintf(stderr, "usage: sensor_pipeline [--rate R] exec|open|openmany|connect|getppid|write|readonly|mixed|workload N [PATH|DIR|PORT]\n");
	return 2;
}
