/*
 * sensor_replay: the replay back end of the runtime sensors (see sensor.h): events recorded as
 * JSON lines (event.h's shape, what tests/tools/sensor_dump prints) are read from a file and
 * produced in order, so rules and models can be tested without root or a kernel.
 *
 * The file is untrusted: a line longer than REPLAY_LINE_MAX, a line that is not a JSON object of
 * a known type (duplicate keys rejected) or has a field out of range is counted as malformed,
 * logged (the first few, with their line number) and skipped. Blank lines and lines starting with
 * '#' are ignored. The run ends at the end of the file (sensor_next then returns -EPIPE). Events
 * that carry "container" keep it; the others are resolved from their cgroup id like live ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/log.h>

#include "sensor.h"

#define REPLAY_LINE_MAX (64 * 1024)
#define REPLAY_LOG_MAX 5 /* malformed lines logged; the rest are only counted */

struct replay_state {
	FILE *f;
	char path[512];
};

static int replay_open(const struct sensor_config *cfg, void **state, char *err, size_t errlen)
{
	struct replay_state *rs;
	int r;

	*state = NULL;
	if (cfg->replay_path == NULL || cfg->replay_path[0] == 0) {
		snprintf(err, errlen, "replay sensor: no recording given");
		return -EINVAL;
	}
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return -ENOMEM;
	snprintf(rs->path, sizeof(rs->path), "%s", cfg->replay_path);
	rs->f = fopen(cfg->replay_path, "re");
	if (rs->f == NULL) {
		r = -errno;
		snprintf(err, errlen, "replay sensor: %s: %s", cfg->replay_path, strerror(errno));
		free(rs);
		return r;
	}
	*state = rs;
	return 0;
}

/* Reads one line into buf (size bytes) without its newline. Returns its length, -1 at the end of
 * the file, or -2 for a line that does not fit (the rest of it is skipped). */
static ssize_t read_line(FILE *f, char *buf, size_t size)
{
	size_t n;

	if (fgets(buf, (int)size, f) == NULL)
		return -1;
	n = strlen(buf);
	if (n > 0 && buf[n - 1] == '\n') {
		buf[--n] = 0;
		if (n > 0 && buf[n - 1] == '\r')
			buf[--n] = 0;
		return (ssize_t)n;
	}
	if (feof(f))
		return (ssize_t)n;
	for (int ch; (ch = fgetc(f)) != EOF && ch != '\n';)
		;
	return -2;
}

static int replay_run(void *state, struct sensor *s, const atomic_int *stop)
{
	struct replay_state *rs = state;
	char msg[200];
	size_t lineno = 0;
	int logged = 0, r = 0;
	ssize_t n;
	struct event *ev = malloc(sizeof(*ev));
	char *line = malloc(REPLAY_LINE_MAX + 2);

	if (ev == NULL || line == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (!atomic_load(stop) && (n = read_line(rs->f, line, REPLAY_LINE_MAX + 2)) != -1) {
		json_error_t je;
		json_t *j;
		const char *why = NULL;

		lineno++;
		if (n == 0 || (n > 0 && line[0] == '#'))
			continue;
		sensor_count_received(s, 1);
		if (n < 0) {
			why = "line too long";
		} else if ((j = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je)) == NULL) {
			snprintf(msg, sizeof(msg), "not JSON: %s", je.text);
			why = msg;
		} else {
			if (event_from_json(j, ev, msg, sizeof(msg)) != 0)
				why = msg;
			json_decref(j);
		}
		if (why != NULL) {
			sensor_count_malformed(s);
			if (logged++ < REPLAY_LOG_MAX)
				log_warn("replay sensor: %s:%zu: %s", rs->path, lineno, why);
			continue;
		}
		r = sensor_emit(s, ev);
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(rs->f))
		r = -EIO;
out:
	free(line);
	free(ev);
	return r;
}

static void replay_close(void *state)
{
	struct replay_state *rs = state;

	if (rs == NULL)
		return;
	if (rs->f != NULL)
		fclose(rs->f);
	free(rs);
}

const struct sensor_backend sensor_backend_replay = {
	.name = "replay",
	.open = replay_open,
	.run = replay_run,
	.counters = NULL,
	.close = replay_close,
};
