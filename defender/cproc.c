/*
 * cproc: a container's processes from a procfs (see cproc.h). The cgroup.procs of the anchor's
 * cgroup gives the members in one read; the candidates are the v2 hierarchy (at cgroup_root or
 * cgroup_root/unified on a hybrid host) and then every v1 hierarchy named in the anchor's cgroup
 * file, each accepted only when it lists the anchor. The fallback is a scan of proc_root
 * comparing each process's cgroup file with the anchor's.
 */
#include "cproc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <garrison/util.h>

#define PID_MAX 4194304
#define PATH_IN_CGROUP_MAX 1024

struct cproc_user {
	unsigned long uid;
	char name[CPROC_USER_NAME_MAX + 1];
};

struct cproc_users {
	struct cproc_user *v;
	size_t n;
};

/* ---- text ---- */

/* Length of the valid UTF-8 sequence at s (len bytes left), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 2;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0; /* no overlong forms */
		else if (c == 0xED)
			hi = 0x9F; /* no surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F; /* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (len < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need;
}

size_t cproc_clean_text(const char *s, size_t len, char *out, size_t outlen)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	if (outlen == 0)
		return 0;
	if (len > outlen - 1)
		len = outlen - 1;
	while (i < len) {
		size_t k = utf8_seq(u + i, len - i);

		if (k == 0 || (k == 1 && (u[i] < 0x20 || u[i] == 0x7f))) {
			out[i++] = '?';
			continue;
		}
		memcpy(out + i, u + i, k);
		i += k;
	}
	out[len] = '\0';
	return len;
}

/* Cuts s (len bytes, valid UTF-8) to at most max bytes on a character boundary. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

/* Reads at most max bytes of path into buf (max + 1 bytes, NUL-terminated). The length, or
 * -errno. A process file can vanish at any moment: ENOENT and ESRCH mean it is gone. */
static ssize_t read_small(const char *path, char *buf, size_t max)
{
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (got < max) {
		ssize_t r = read(fd, buf + got, max - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return r;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* A decimal number of at most 10 digits ending at a non-digit. -1 when malformed. */
static long parse_dec(const char *s, const char **end)
{
	long v = 0;
	int digits = 0;

	while (*s >= '0' && *s <= '9') {
		if (++digits > 10)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	if (end)
		*end = s;
	return digits ? v : -1;
}

/* ---- users ---- */

static int user_cmp(const void *a, const void *b)
{
	const struct cproc_user *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

int cproc_users_load(const char *path, struct cproc_users **out)
{
	struct cproc_users *u = NULL;
	char *text = NULL, *line, *next;
	size_t len = 0;
	int r;

	*out = NULL;
	r = util_read_file(path, 1u << 20, &text, &len);
	if (r < 0)
		return r;
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	for (line = text; line != NULL && line < text + len; line = next) {
		char *nl = memchr(line, '\n', (size_t)(text + len - line));
		char *c1, *c2, *c3;
		const char *e;
		size_t nlen;
		long uid;
		int ok = 1;

		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		c1 = strchr(line, ':');
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		c3 = c2 ? strchr(c2 + 1, ':') : NULL;
		if (c3 == NULL)
			continue;
		nlen = (size_t)(c1 - line);
		uid = parse_dec(c2 + 1, &e);
		if (nlen == 0 || nlen > CPROC_USER_NAME_MAX || uid < 0 || e != c3)
			continue;
		for (size_t i = 0; i < nlen; i++)
			if (!isgraph((unsigned char)line[i]))
				ok = 0;
		if (!ok)
			continue;
		if (u->n == CPROC_USERS_MAX)
			break;
		if (u->n % 64 == 0) {
			struct cproc_user *nv = realloc(u->v, (u->n + 64) * sizeof(*nv));
			if (nv == NULL) {
				r = -ENOMEM;
				goto fail;
			}
			u->v = nv;
		}
		u->v[u->n].uid = (unsigned long)uid;
		memcpy(u->v[u->n].name, line, nlen);
		u->v[u->n].name[nlen] = '\0';
		u->n++;
	}
	if (u->n > 1) {
		/* A stable insertion sort: among equal uids the file's first entry stays first, as
		 * getpwuid() would answer. Passwd files are small. */
		for (size_t i = 1; i < u->n; i++) {
			struct cproc_user t = u->v[i];
			size_t j = i;
			while (j > 0 && user_cmp(&u->v[j - 1], &t) > 0) {
				u->v[j] = u->v[j - 1];
				j--;
			}
			u->v[j] = t;
		}
	}
	free(text);
	*out = u;
	return 0;
fail:
	free(text);
	cproc_users_free(u);
	return r;
}

void cproc_users_free(struct cproc_users *u)
{
	if (u == NULL)
		return;
	free(u->v);
	free(u);
}

const char *cproc_user_name(const struct cproc_users *u, unsigned long uid, char *buf, size_t len)
{
	if (u != NULL && u->n > 0) {
		size_t lo = 0, hi = u->n;

		while (lo < hi) { /* the first entry with this uid */
			size_t mid = lo + (hi - lo) / 2;
			if (u->v[mid].uid < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < u->n && u->v[lo].uid == uid) {
			snprintf(buf, len, "%s", u->v[lo].name);
			return buf;
		}
	}
	snprintf(buf, len, "%lu", uid);
	return buf;
}

/* ---- the members of a cgroup ---- */

static int long_cmp(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* Reads a cgroup.procs. 0 with the pids (the first max) and *found when anchor is listed;
 * -errno when it cannot be opened; -EBADMSG when a line is not a pid. */
static int read_procs(const char *path, long anchor, long *pids, size_t max, size_t *n,
		      int *truncated, int *found)
{
	char line[32];
	size_t lines = 0;
	FILE *f = fopen(path, "re");
	int r = 0;

	*n = 0;
	*truncated = 0;
	*found = 0;
	if (f == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *e;
		long pid = parse_dec(line, &e);

		if (pid < 1 || pid > PID_MAX || (*e != '\n' && *e != '\0')) {
			r = -EBADMSG;
			break;
		}
		if (++lines > CPROC_PIDS_READ_MAX) {
			*truncated = 1;
			break;
		}
		if (pid == anchor)
			*found = 1;
		if (*n < max)
			pids[(*n)++] = pid;
		else
			*truncated = 1;
	}
	fclose(f);
	return r;
}

/* A path inside a hierarchy that is usable below a mount point: absolute, bounded, without "..". */
static int cgroup_path_ok(const char *p, size_t len)
{
	if (len == 0 || len > PATH_IN_CGROUP_MAX || p[0] != '/')
		return 0;
	for (size_t i = 0; i + 1 < len; i++)
		if (p[i] == '.' && p[i + 1] == '.' && (i == 0 || p[i - 1] == '/'))
			return 0;
	return memchr(p, '\0', len) == NULL;
}

/* Tries the cgroup.procs of each hierarchy named in the anchor's cgroup text. 1 when one lists the
 * anchor (pids filled), 0 when none does, or -ENOMEM / -EBADMSG. */
static int from_cgroupfs(const char *cgroup_root, const char *text, const char *id, long anchor,
			 long *pids, size_t max, size_t *n, int *truncated)
{
	char path[PATH_MAX];
	int r;

	/* the v2 hierarchy first (pass 0), then the v1 ones */
	for (int pass = 0; pass < 2; pass++) {
		const char *line = text;

		while (*line) {
			const char *nl = strchr(line, '\n');
			size_t l = nl ? (size_t)(nl - line) : strlen(line);
			const char *c1 = memchr(line, ':', l);
			const char *c2 = c1 ? memchr(c1 + 1, ':', l - (size_t)(c1 + 1 - line)) : NULL;
			const char *cg;
			size_t ctl_len, cg_len;

			line = nl ? nl + 1 : line + l;
			if (c2 == NULL)
				continue;
			ctl_len = (size_t)(c2 - c1 - 1);
			cg = c2 + 1;
			cg_len = (size_t)((nl ? nl : cg + strlen(cg)) - cg);
			/* only a cgroup of the container itself: on a hybrid host whose engine does
			 * not use the v2 hierarchy, the anchor's v2 cgroup is the root or a service's,
			 * shared with the rest of the host */
			if (!cgroup_path_ok(cg, cg_len) || ctl_len > 128 ||
			    memmem(cg, cg_len, id, 64) == NULL)
				continue;
			for (int variant = 0; variant < 2; variant++) {
				int found = 0, w;

				if (pass == 0 && ctl_len == 0)
					w = snprintf(path, sizeof(path), "%s%s%.*s/cgroup.procs",
						     cgroup_root, variant == 0 ? "/unified" : "",
						     (int)cg_len, cg);
				else if (pass == 1 && ctl_len > 0 && variant == 0) {
					const char *ctl = c1 + 1;
					if (ctl_len > 5 && strncmp(ctl, "name=", 5) == 0) {
						ctl += 5; /* name=systemd is mounted as systemd */
						ctl_len -= 5;
					}
					if (memchr(ctl, '/', ctl_len) != NULL || ctl[0] == '.')
						continue;
					w = snprintf(path, sizeof(path), "%s/%.*s%.*s/cgroup.procs",
						     cgroup_root, (int)ctl_len, ctl, (int)cg_len,
						     cg);
				} else {
					continue;
				}
				if (w < 0 || (size_t)w >= sizeof(path))
					continue;
				r = read_procs(path, anchor, pids, max, n, truncated, &found);
				if (r == -EBADMSG || r == -ENOMEM)
					return r;
				if (r == 0 && found)
					return 1;
			}
		}
	}
	*n = 0;
	return 0;
}

/* Scans proc_root for the processes whose cgroup file reads exactly like the anchor's. */
static int from_scan(const char *proc_root, const char *text, size_t text_len, long anchor,
		     long *pids, size_t max, size_t *n, int *truncated)
{
	char path[PATH_MAX], *buf = NULL;
	struct dirent *de;
	DIR *d;
	int found = 0, r = 0;

	*n = 0;
	*truncated = 0;
	buf = malloc(CPROC_FILE_MAX + 1);
	if (buf == NULL)
		return -ENOMEM;
	d = opendir(proc_root);
	if (d == NULL) {
		r = -errno;
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *e;
		long pid = parse_dec(de->d_name, &e);
		ssize_t l;

		if (pid < 1 || pid > PID_MAX || *e != '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%ld/cgroup", proc_root, pid);
		l = read_small(path, buf, CPROC_FILE_MAX);
		if (l < 0 || (size_t)l != text_len || memcmp(buf, text, text_len) != 0)
			continue;
		if (pid == anchor)
			found = 1;
		if (*n < max)
			pids[(*n)++] = pid;
		else
			*truncated = 1;
	}
	closedir(d);
	if (!found)
		r = -ENOENT; /* the anchor exited meanwhile */
out:
	free(buf);
	return r;
}

int cproc_pids(const char *proc_root, const char *cgroup_root, const char *id, long anchor,
	       long *pids, size_t max, size_t *n, int *truncated)
{
	char path[PATH_MAX], *text;
	ssize_t l;
	int r;

	*n = 0;
	*truncated = 0;
	if (anchor < 1 || anchor > PID_MAX || id == NULL || strlen(id) != 64)
		return -EINVAL;
	text = malloc(CPROC_FILE_MAX + 1);
	if (text == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/%ld/cgroup", proc_root, anchor);
	l = read_small(path, text, CPROC_FILE_MAX);
	if (l < 0) {
		r = l == -ESRCH ? -ENOENT : (int)l;
		goto out;
	}
	if ((size_t)l == CPROC_FILE_MAX || memchr(text, '\0', (size_t)l) != NULL) {
		r = -EBADMSG;
		goto out;
	}
	/* the number is the container's init only when its cgroup says so */
	if (strstr(text, id) == NULL) {
		r = -ESRCH;
		goto out;
	}
	r = 0;
	if (cgroup_root != NULL && cgroup_root[0] != '\0')
		r = from_cgroupfs(cgroup_root, text, id, anchor, pids, max, n, truncated);
	if (r < 0)
		goto out;
	if (r == 0)
		r = from_scan(proc_root, text, (size_t)l, anchor, pids, max, n, truncated);
	else
		r = 0;
	if (r == 0)
		qsort(pids, *n, sizeof(*pids), long_cmp);
out:
	free(text);
	return r;
}

/* ---- one process ---- */

struct pinfo {
	char comm[64];
	long ppid;
	unsigned long euid;
};

/* stat: "PID (COMM) S PPID ...", where COMM may hold spaces and parentheses. */
static int read_stat(const char *proc_root, long pid, char *buf, struct pinfo *pi)
{
	char path[PATH_MAX];
	const char *open_p, *close_p, *p;
	ssize_t l;
	size_t cl;

	snprintf(path, sizeof(path), "%s/%ld/stat", proc_root, pid);
	l = read_small(path, buf, CPROC_FILE_MAX);
	if (l < 0)
		return (int)l;
	open_p = strchr(buf, '(');
	close_p = strrchr(buf, ')');
	if (open_p == NULL || close_p == NULL || close_p < open_p)
		return -EBADMSG;
	cl = (size_t)(close_p - open_p - 1);
	if (cl >= sizeof(pi->comm))
		cl = sizeof(pi->comm) - 1;
	cproc_clean_text(open_p + 1, cl, pi->comm, sizeof(pi->comm));
	p = close_p + 1;
	if (p[0] != ' ' || p[1] == '\0' || p[2] != ' ')
		return -EBADMSG;
	pi->ppid = parse_dec(p + 3, NULL);
	if (pi->ppid < 0 || pi->ppid > PID_MAX)
		return -EBADMSG;
	return 0;
}

/* status: "Uid:\treal\teffective\tsaved\tfs". */
static int read_euid(const char *proc_root, long pid, char *buf, struct pinfo *pi)
{
	char path[PATH_MAX];
	const char *p, *e;
	ssize_t l;
	long v;

	snprintf(path, sizeof(path), "%s/%ld/status", proc_root, pid);
	l = read_small(path, buf, CPROC_FILE_MAX);
	if (l < 0)
		return (int)l;
	p = strstr(buf, "\nUid:");
	if (p == NULL)
		return -EBADMSG;
	p += 5;
	while (*p == '\t' || *p == ' ')
		p++;
	if (parse_dec(p, &e) < 0)
		return -EBADMSG;
	p = e;
	while (*p == '\t' || *p == ' ')
		p++;
	v = parse_dec(p, NULL);
	if (v < 0)
		return -EBADMSG;
	pi->euid = (unsigned long)v;
	return 0;
}

/* The command line, arguments joined by spaces, cleaned; cut at cmd_max. Returns its length. */
static ssize_t read_cmdline(const char *proc_root, long pid, size_t cmd_max, char *raw, char *out,
			    int *cut)
{
	char path[PATH_MAX];
	ssize_t l;
	size_t len;

	*cut = 0;
	snprintf(path, sizeof(path), "%s/%ld/cmdline", proc_root, pid);
	l = read_small(path, raw, cmd_max + 4);
	if (l < 0)
		return l;
	len = (size_t)l;
	while (len > 0 && raw[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (raw[i] == '\0')
			raw[i] = ' ';
	cproc_clean_text(raw, len, out, len + 1);
	if (len > cmd_max) {
		len = utf8_cut(out, len, cmd_max);
		out[len] = '\0';
		*cut = 1;
	}
	return (ssize_t)len;
}

int cproc_processes(const char *proc_root, const struct cproc_users *users, const long *pids,
		    size_t n, size_t cmd_max, json_t **out)
{
	char *buf = NULL, *raw = NULL, *cmd = NULL, user[CPROC_USER_NAME_MAX + 24], name[257];
	json_t *arr = NULL;
	int r = -ENOMEM;

	*out = NULL;
	buf = malloc(CPROC_FILE_MAX + 1);
	raw = malloc(cmd_max + 5);
	cmd = malloc(cmd_max + 5);
	arr = json_array();
	if (buf == NULL || raw == NULL || cmd == NULL || arr == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		struct pinfo pi;
		const char *w, *slash;
		ssize_t cl;
		size_t nl;
		int cut, bad = 0;
		json_t *p;

		memset(&pi, 0, sizeof(pi));
		if (read_stat(proc_root, pids[i], buf, &pi) < 0 ||
		    read_euid(proc_root, pids[i], buf, &pi) < 0)
			continue; /* gone, or not a process we can read */
		cl = read_cmdline(proc_root, pids[i], cmd_max, raw, cmd, &cut);
		if (cl < 0)
			continue;
		if (cl == 0) /* a kernel thread or a zombie: ps shows [comm] */
			snprintf(cmd, cmd_max + 5, "[%s]", pi.comm);
		/* name: the first word of the command line, without its directory (as from top) */
		w = cmd;
		nl = strcspn(w, " ");
		slash = memrchr(w, '/', nl);
		if (slash != NULL && (size_t)(slash + 1 - w) < nl) {
			nl -= (size_t)(slash + 1 - w);
			w = slash + 1;
		}
		nl = utf8_cut(w, nl, sizeof(name) - 1);
		memcpy(name, w, nl);
		name[nl] = '\0';
		p = json_object();
		if (p == NULL)
			goto fail;
		bad |= json_object_set_new(p, "name", json_string(name[0] ? name : cmd));
		bad |= json_object_set_new(p, "cmdline", json_string(cmd));
		if (cut)
			bad |= json_object_set_new(p, "cmdlineTruncated", json_true());
		bad |= json_object_set_new(p, "pid", json_integer(pids[i]));
		bad |= json_object_set_new(p, "ppid", json_integer(pi.ppid));
		bad |= json_object_set_new(p, "user",
					   json_string(cproc_user_name(users, pi.euid, user,
								       sizeof(user))));
		if (bad) {
			json_decref(p);
			goto fail;
		}
		if (json_array_append_new(arr, p) < 0) /* (which frees p) */
			goto fail;
	}
	free(buf);
	free(raw);
	free(cmd);
	*out = arr;
	return 0;
fail:
	free(buf);
	free(raw);
	free(cmd);
	json_decref(arr);
	return r;
}
