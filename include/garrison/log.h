/*
 * log: one line per event on standard error, "TIME LEVEL prog: message".
 * Safe to call from any thread (each line is written with one write(2)).
 * Untrusted text passed as %s is printed as is; callers bound its length.
 */
#ifndef GARRISON_LOG_H
#define GARRISON_LOG_H

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Sets the program name printed on each line and the lowest level printed.
 * GARRISON_LOG_LEVEL=debug|info|warn|error overrides min_level. */
void log_init(const char *prog, enum log_level min_level);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
