/*
 * sensor_pipeline: the load generator of bench/sensor_pipeline.sh. Runs one storm of syscalls the
 * runtime sensors report and prints how long it took, so the script can compare a run without the
 * sensor with a run under it.
 *
 *   sensor_pipeline exec N [PATH]     N times posix_spawn + wait of PATH (/bin/true): N exec events
 *   sensor_pipeline open N [FILE]     N times open(FILE, O_WRONLY|O_CREAT) + close: N file events
 *   sensor_pipeline connect N [PORT]  N times connect() of one UDP socket to 127.0.0.1:PORT (28920):
 *                                     N connect events
 *   sensor_pipeline readonly N [FILE] N times open(FILE, O_RDONLY) + close: no event (the kernel
 *                                     filter's cost)
 *
 * Prints one line "storm=KIND n=N seconds=S rate=R" (R per second). A benchmark tool: it never
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int storm_exec(long n, const char *path)
{
	char *const argv[] = { (char *)path, NULL };

	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;
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
		int fd = open(path, flags, 0600);
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

	if (argc < 3)
		goto usage;
	errno = 0;
	n = strtol(argv[2], &end, 10);
	if (*end != 0 || errno != 0 || n <= 0)
		goto usage;
	t0 = now_s();
	if (strcmp(argv[1], "exec") == 0) {
		r = storm_exec(n, argc > 3 ? argv[3] : "/bin/true");
	} else if (strcmp(argv[1], "open") == 0) {
		r = storm_open(n, argc > 3 ? argv[3] : "/tmp/sensor_pipeline.tmp", O_WRONLY | O_CREAT);
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
	printf("storm=%s n=%ld seconds=%.4f rate=%.0f\n", argv[1], n, t, (double)n / t);
	return 0;
usage:
	fprintf(stderr, "usage: sensor_pipeline exec|open|connect|readonly N [PATH|PORT]\n");
	return 2;
}
