/*
 * cproc: the processes of a container, read from a procfs instead of asking the engine
 * (GET /containers/{id}/top makes dockerd fork `ps -ef` and scan the whole process table, 40 to
 * 60 ms per container). The anchor is the container's init (State.Pid of inspect): its
 * /proc/PID/cgroup names the container's cgroup, whose cgroup.procs lists the container's
 * processes; each one's stat, cmdline and status give what `ps -ef` would have printed.
 *
 * Guarantees: the anchor is accepted only when its cgroup names the container id (so a Defender in
 * another PID namespace, where the number means another process, gets -ESRCH, never a stranger's
 * processes); every file read is bounded (CPROC_FILE_MAX, CPROC_PIDS_READ_MAX lines); text that
 * goes into records is valid UTF-8 without control characters (invalid bytes become '?'); a
 * process that exits while it is being read is left out. When no cgroup file system shows the
 * cgroup (another mount namespace, a cgroup namespace), the procfs is scanned for processes whose
 * cgroup membership is the anchor's. Thread-safe: no state besides what the caller passes.
 */
#ifndef GARRISON_CPROC_H
#define GARRISON_CPROC_H

#include <stddef.h>

#include <jansson.h>

#define CPROC_FILE_MAX 8192          /* stat, status, cgroup: read at most this much */
#define CPROC_PIDS_READ_MAX 1000000  /* lines read from one cgroup.procs */
#define CPROC_USERS_MAX 4096         /* passwd entries kept */
#define CPROC_USER_NAME_MAX 32

/* uid -> name, from a passwd file (the host's: `ps -ef` on the host prints those names). */
struct cproc_users;

/* Reads path (at most 1 MiB, CPROC_USERS_MAX entries; malformed lines and names that are not
 * printable ASCII or longer than CPROC_USER_NAME_MAX are skipped). 0 and *out, -ENOMEM, or
 * -errno when the file cannot be read (*out = NULL: names are then numbers). */
int cproc_users_load(const char *path, struct cproc_users **out);
/* NULL is a no-op. */
void cproc_users_free(struct cproc_users *u);
/* The name of uid (u may be NULL), else the uid in decimal, written into buf. Returns buf. */
const char *cproc_user_name(const struct cproc_users *u, unsigned long uid, char *buf, size_t len);

/* The processes of container id (64 hex digits) whose init is anchor, in pid order:
 * pids[0..*n), at most max of them (*truncated = 1 when there were more). cgroup_root is where
 * the cgroup file systems are mounted (/sys/fs/cgroup; v1 hierarchies in subdirectories, the v2
 * one there or in "unified"); NULL or a root that does not show the container's cgroup means a
 * scan of proc_root. Returns 0; -ENOENT when the anchor is gone; -ESRCH when the anchor's cgroup
 * does not name id (it is another process: the Defender does not share the host's PID
 * namespace); -EACCES; -EBADMSG for an unreadable cgroup file; -ENOMEM; another -errno. */
int cproc_pids(const char *proc_root, const char *cgroup_root, const char *id, long anchor,
	       long *pids, size_t max, size_t *n, int *truncated);

/* Builds [{"name","cmdline","pid","ppid","user"}] for pids from proc_root, in the form of
 * inventory_processes() (`ps -ef`: user from the euid, cmdline the arguments joined by spaces or
 * "[comm]" when there are none, name the base name of its first word); a command line longer than
 * cmd_max bytes is cut on a UTF-8 boundary with "cmdlineTruncated": true. Processes that are
 * gone are left out. 0 and *out (a new array), or -ENOMEM. */
int cproc_processes(const char *proc_root, const struct cproc_users *users, const long *pids,
		    size_t n, size_t cmd_max, json_t **out);

/* Copies the len bytes at s into out (outlen >= len + 1) as valid UTF-8: control characters and
 * bytes that do not form a valid UTF-8 sequence become '?'. Returns the length written (== len). */
size_t cproc_clean_text(const char *s, size_t len, char *out, size_t outlen);

#endif
