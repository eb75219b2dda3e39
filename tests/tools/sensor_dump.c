/*
 * sensor_dump: runs a runtime sensor back end and prints its events as JSON lines (event.h's
 * shape, container id resolved), for tests, benchmarks and debugging.
 *
 *   sensor_dump [--backend bpf|replay] [--replay FILE] [--seconds N] [--container ID|host]
 *               [--types exec,connect,...] [--families process,network,file] [--ringbuf BYTES]
 *               [--queue N] [--wakeup BYTES] [--poll-ms MS] [--fold-ms MS] [--cgroup-root DIR]
 *               [--syscall-hook auto|tracepoints|sys_exit] [--drop-runtime] [--quiet] [--stats]
 *
 * --wakeup 0 asks the kernel to wake the reader for every record (lowest latency); the default
 * batches (sensor.h SENSOR_DEFAULT_WAKEUP) and the reader polls every --poll-ms.
 * --fold-ms sets the fold window of repeated connects, DNS queries and write opens (default
 * SENSOR_DEFAULT_FOLD_MS; 0: off, every occurrence is a record).
 * --syscall-hook chooses where the network and file syscalls are seen (sensor.h; default auto).
 * --container keeps the events of containers whose id starts with ID ("host": the host's only).
 * --quiet prints no events (for throughput measurements). --stats prints sensor_stats_json() as
 * {"type":"stats",...} last. "sensor_dump: ready" goes to standard error once the sensor runs.
 * Stops on SIGINT/SIGTERM, at the end of --seconds, or at the end of a replay. Exit 0, 1 when the
 * sensor cannot start (the reason on standard error), 2 for bad arguments.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "../../defender/sensor.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sensor_dump [--backend bpf|replay] [--replay FILE] [--seconds N]\n"
		   "       [--container ID|host] [--types LIST] [--families LIST] [--ringbuf BYTES]\n"
		   "       [--queue N] [--wakeup BYTES] [--poll-ms MS] [--fold-ms MS] [--cgroup-root DIR]\n"
		   "       [--syscall-hook auto|tracepoints|sys_exit] [--drop-runtime] [--quiet] [--stats]\n");
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != 0 || errno != 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A comma-separated list of names into a bit mask; names[i] gives bit 1 << i. */
static int parse_list(const char *s, const char *const *names, int n, unsigned *mask)
{
	char buf[256];
	const char *p = s;

	*mask = 0;
	while (*p) {
		size_t l = strcspn(p, ",");
		int found = 0;
		if (l == 0 || l >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, p, l);
		buf[l] = 0;
		for (int i = 0; i < n; i++)
			if (names[i] != NULL && strcmp(buf, names[i]) == 0) {
				*mask |= 1u << i;
				found = 1;
			}
		if (!found)
			return -EINVAL;
		p += l;
		if (*p == ',')
			p++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *types_names[EVENT_TYPE_MAX];
	struct sensor_config cfg = { 0 };
	const char *backend = "bpf", *container = NULL;
	unsigned long long seconds = 0, v;
	unsigned types = 0;
	int quiet = 0, stats = 0, r;
	struct sensor *s = NULL;
	struct event *ev = NULL;
	char err[512];
	struct sigaction sa;
	int64_t end = 0;

	log_init("sensor_dump", LOG_LVL_INFO);
	for (int t = 0; t < EVENT_TYPE_MAX; t++)
		types_names[t] = event_type_name((enum event_type)t);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--quiet") == 0) {
			quiet = 1;
			continue;
		} else if (strcmp(a, "--stats") == 0) {
			stats = 1;
			continue;
		} else if (strcmp(a, "--drop-runtime") == 0) {
			cfg.drop_runtime = 1;
			continue;
		}
		if (val == NULL)
			goto bad;
		i++;
		if (strcmp(a, "--backend") == 0) {
			backend = val;
		} else if (strcmp(a, "--replay") == 0) {
			cfg.replay_path = val;
		} else if (strcmp(a, "--seconds") == 0) {
			if (parse_num(val, 86400 * 365, &seconds) != 0)
				goto bad;
		} else if (strcmp(a, "--container") == 0) {
			container = val;
		} else if (strcmp(a, "--types") == 0) {
			if (parse_list(val, types_names, EVENT_TYPE_MAX, &types) != 0)
				goto bad;
		} else if (strcmp(a, "--families") == 0) {
			if (sensor_families_parse(val, &cfg.families) != 0)
				goto bad;
		} else if (strcmp(a, "--ringbuf") == 0) {
			if (parse_num(val, 1u << 30, &v) != 0)
				goto bad;
			cfg.ringbuf_bytes = (size_t)v;
		} else if (strcmp(a, "--wakeup") == 0) {
			if (parse_num(val, 1u << 30, &v) != 0)
				goto bad;
			cfg.wakeup_bytes = v == 0 ? SENSOR_WAKEUP_EACH : (size_t)v;
		} else if (strcmp(a, "--poll-ms") == 0) {
			if (parse_num(val, 1000, &v) != 0 || v == 0)
				goto bad;
			cfg.poll_ms = (int)v;
		} else if (strcmp(a, "--fold-ms") == 0) {
			if (parse_num(val, SENSOR_FOLD_MAX_MS, &v) != 0)
				goto bad;
			cfg.fold_ms = v == 0 ? -1 : (int)v;
		} else if (strcmp(a, "--syscall-hook") == 0) {
			if (sensor_syscall_hook_parse(val, &cfg.syscall_hook) != 0)
				goto bad;
		} else if (strcmp(a, "--queue") == 0) {
			if (parse_num(val, SENSOR_QUEUE_MAX, &v) != 0)
				goto bad;
			cfg.queue_len = (size_t)v;
		} else if (strcmp(a, "--cgroup-root") == 0) {
			cfg.cgroup_root = val;
		} else {
			goto bad;
		}
	}
	if (strcmp(backend, "replay") == 0)
		cfg.lossless = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	r = sensor_open(backend, &cfg, &s, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "sensor_dump: %s\n", err[0] ? err : strerror(-r));
		return 1;
	}
	ev = malloc(sizeof(*ev));
	if (ev == NULL || (r = sensor_start(s)) < 0) {
		fprintf(stderr, "sensor_dump: cannot start the sensor\n");
		free(ev);
		sensor_free(s);
		return 1;
	}
	fprintf(stderr, "sensor_dump: ready\n");
	if (seconds > 0)
		end = util_now_ms() + (int64_t)seconds * 1000;
	while (!stop_flag && (end == 0 || util_now_ms() < end)) {
		r = sensor_next(s, ev, 200);
		if (r == -EPIPE)
			break;
		if (r <= 0)
			continue;
		if (quiet)
			continue;
		if (types != 0 && !(types & (1u << ev->type)))
			continue;
		if (container != NULL) {
			if (strcmp(container, "host") == 0 ? ev->container[0] != 0
							   : strncmp(ev->container, container, strlen(container)) != 0)
				continue;
		}
		json_t *j = event_to_json(ev);
		char *line = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		if (line != NULL) {
			fputs(line, stdout);
			fputc('\n', stdout);
			fflush(stdout);
		}
		free(line);
		json_decref(j);
	}
	if (stats) {
		struct sensor_stats st;
		sensor_stats(s, &st);
		json_t *j = sensor_stats_json(&st);
		if (j != NULL) {
			json_object_set_new(j, "type", json_string("stats"));
			char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
			if (line != NULL)
				printf("%s\n", line);
			free(line);
			json_decref(j);
		}
	}
	fflush(stdout);
	free(ev);
	sensor_free(s);
	return 0;
bad:
	usage(stderr);
	return 2;
}
