/*
 * log: timestamped lines on stderr. Each line is formatted into a local buffer and written with a
 * single write(2), so lines from several threads never interleave.
 */
#include <garrison/log.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "garrison";
static enum log_level log_min = LOG_LVL_INFO;

void log_init(const char *prog, enum log_level min_level)
{
	const char *env = getenv("GARRISON_LOG_LEVEL");

	log_prog = prog;
	log_min = min_level;
	if (env == NULL)
		return;
	if (strcasecmp(env, "debug") == 0)
		log_min = LOG_LVL_DEBUG;
	else if (strcasecmp(env, "info") == 0)
		log_min = LOG_LVL_INFO;
	else if (strcasecmp(env, "warn") == 0)
		log_min = LOG_LVL_WARN;
	else if (strcasecmp(env, "error") == 0)
		log_min = LOG_LVL_ERROR;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "DEBUG", "INFO", "WARN", "ERROR" };
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;
	va_list ap;

	if (lvl < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s[%d]: ", ts.tv_nsec / 1000000L,
		     names[lvl], log_prog, (int)getpid());
	if (r > 0)
		n += (size_t)r;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}
