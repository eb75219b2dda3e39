/*
 * compliance_host: CIS Docker Benchmark v1.6.0 sections 1-3 (host, daemon configuration, daemon
 * configuration files) and 5.1 (swarm mode), decided from a host's root file system and,
 * optionally, the engine's GET /info answer.
 *
 * The daemon's effective configuration is what dockerd would use: a command-line flag of the
 * running dockerd (ROOT/proc/PID/cmdline, pflag syntax: --flag=value, --flag value, -H value,
 * bare boolean --flag), else the member of its configuration file (--config-file, default
 * /etc/docker/daemon.json), else dockerd's default. dockerd refuses to start when both name the
 * same option, so the order never hides a conflict. GET /info, when given, completes what it
 * reports (LiveRestoreEnabled, Driver, LoggingDriver, SecurityOptions, RegistryConfig, Swarm).
 *
 * Every file is opened inside the root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): an
 * absolute symbolic link in a fake tree or a mounted host root resolves within it. Files are read
 * up to COMPLIANCE_FILE_MAX bytes; /proc is scanned for at most PROC_SCAN_MAX entries. A missing,
 * unreadable, over-long or malformed file makes its checks "na" or "fail" with the reason; it is
 * never fatal. Audit checks (1.1.x) read the rules files (/etc/audit/audit.rules and
 * /etc/audit/rules.d/ *.rules), not the rules loaded in the kernel.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <garrison/util.h>

#include "compliance_int.h"

#define PROC_SCAN_MAX 1000000     /* /proc entries looked at when looking for dockerd */
#define CMDLINE_MAX (256 * 1024)
#define ARGS_MAX 4096
#define RULE_FILES_MAX 256
#define CERT_FILES_MAX 1024
#define LIST_MAX 64               /* values of one list option (-H, --insecure-registry) */

struct host {
	int rootfd;
	const char *root;
	const json_t *info;
	/* dockerd */
	long pid;
	int ndockerd;
	char *cmdbuf;
	char *argv[ARGS_MAX];
	size_t argc;
	/* its configuration file */
	char cfg_path[512];
	json_t *cfg;          /* the parsed object, or NULL */
	int cfg_err;          /* 0, -ENOENT, -EBADMSG, -EFBIG, ... */
	/* audit rules: every file's text, concatenated */
	char *rules;
	size_t rules_len;
	int nrule_files;
	/* gid of group docker, -1 when none */
	long docker_gid;
	char docker_members[200];
};

/* ---- files inside the root ---- */

static int in_open(const struct host *h, const char *path, int flags)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	/* openat2 refuses O_PATH with other flags than O_DIRECTORY, O_NOFOLLOW and O_CLOEXEC */
	how.flags = (unsigned long long)(flags | O_CLOEXEC | ((flags & O_PATH) ? 0 : O_NOCTTY));
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, h->rootfd, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

static int in_stat(const struct host *h, const char *path, struct stat *st)
{
	int fd = in_open(h, path, O_PATH), err = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) != 0)
		err = -errno;
	close(fd);
	return err;
}

/* Reads a regular file (or a procfs file, whose size is 0) of at most max bytes. 0 and a
 * malloc()ed NUL-terminated *out, -EFBIG, -EISDIR, or another -errno. */
static int in_read(const struct host *h, const char *path, size_t max, char **out, size_t *outlen)
{
	int fd = in_open(h, path, O_RDONLY), err = 0;
	struct stat st;
	char *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto fail;
	}
	buf = malloc(max + 1);
	if (buf == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	for (;;) {
		ssize_t r = read(fd, buf + len, max + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			err = -EFBIG;
			goto fail;
		}
	}
	buf[len] = '\0';
	close(fd);
	*out = buf;
	if (outlen != NULL)
		*outlen = len;
	return 0;
fail:
	free(buf);
	close(fd);
	return err;
}

/* Splits text into lines in place: returns the line at *p (NUL-terminated) and moves *p past
 * it, or NULL at the end. */
static char *next_line(char **p)
{
	char *line = *p, *nl;

	if (line == NULL || *line == '\0')
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*p = nl + 1;
	} else {
		*p = line + strlen(line);
	}
	return line;
}

/* ---- dockerd and its configuration ---- */

static void find_dockerd(struct host *h)
{
	int fd = in_open(h, "/proc", O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;
	size_t scanned = 0;
	char path[64], *text = NULL;
	size_t len = 0;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL && scanned++ < PROC_SCAN_MAX) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end != '\0' || pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		if (in_read(h, path, 64, &text, NULL) != 0)
			continue;
		if (strcmp(text, "dockerd\n") == 0 || strcmp(text, "dockerd") == 0) {
			h->ndockerd++;
			if (h->pid == 0 || pid < h->pid)
				h->pid = pid;
		}
		free(text);
		text = NULL;
	}
	closedir(d);
	if (h->pid == 0)
		return;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", h->pid);
	if (in_read(h, path, CMDLINE_MAX, &h->cmdbuf, &len) != 0)
		return;
	for (size_t i = 0; i < len && h->argc < ARGS_MAX; i += strlen(h->cmdbuf + i) + 1)
		h->argv[h->argc++] = h->cmdbuf + i;
}

/* Bool text as pflag reads it. 1, 0, or -1 when it is not a boolean. */
static int parse_bool(const char *s)
{
	static const char *const t[] = { "1", "t", "T", "true", "TRUE", "True" };
	static const char *const f[] = { "0", "f", "F", "false", "FALSE", "False" };

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		if (strcmp(s, t[i]) == 0)
			return 1;
		if (strcmp(s, f[i]) == 0)
			return 0;
	}
	return -1;
}

/* The values of dockerd flag --name (or -short, 0 for none) in command-line order, into vals
 * (at most max). For a boolean flag without "=value", the value is "true". Returns the count. */
static size_t flag_values(const struct host *h, const char *name, char shortf, int is_bool,
			  const char **vals, size_t max)
{
	size_t n = 0, nl = strlen(name);

	for (size_t i = 1; i < h->argc && n < max; i++) {
		const char *a = h->argv[i], *v = NULL;

		if (strcmp(a, "--") == 0)
			break;
		if (a[0] == '-' && a[1] == '-' && strncmp(a + 2, name, nl) == 0) {
			if (a[2 + nl] == '=')
				v = a + 3 + nl;
			else if (a[2 + nl] == '\0')
				v = is_bool ? "true" : (i + 1 < h->argc ? h->argv[++i] : NULL);
		} else if (shortf != 0 && a[0] == '-' && a[1] == shortf) {
			if (a[2] == '=')
				v = a + 3;
			else if (a[2] != '\0')
				v = a + 2;
			else
				v = is_bool ? "true" : (i + 1 < h->argc ? h->argv[++i] : NULL);
		}
		if (v != NULL)
			vals[n++] = v;
	}
	return n;
}

/* An effective setting and where it came from. */
struct setting {
	int set;               /* found on the command line or in the file */
	int b;                 /* boolean value (dflt when not set) */
	const char *s;         /* string value, NULL when not set */
	char src[128];         /* "dockerd --icc=false", "daemon.json \"icc\": false" */
};

static void get_bool(const struct host *h, const char *flag, char shortf, const char *key, int dflt,
		     struct setting *st)
{
	const char *vals[LIST_MAX];
	size_t n = flag_values(h, flag, shortf, 1, vals, LIST_MAX);
	const json_t *j = h->cfg ? json_object_get(h->cfg, key) : NULL;

	memset(st, 0, sizeof(*st));
	st->b = dflt;
	if (n > 0 && parse_bool(vals[n - 1]) >= 0) {
		st->set = 1;
		st->b = parse_bool(vals[n - 1]);
		snprintf(st->src, sizeof(st->src), "dockerd --%s=%s", flag, st->b ? "true" : "false");
	} else if (json_is_boolean(j)) {
		st->set = 1;
		st->b = json_is_true(j);
		snprintf(st->src, sizeof(st->src), "daemon.json \"%s\": %s", key, st->b ? "true" : "false");
	} else {
		snprintf(st->src, sizeof(st->src), "--%s is not set (default %s)", flag,
			 dflt ? "true" : "false");
	}
}

static void get_str(const struct host *h, const char *flag, char shortf, const char *key,
		    struct setting *st)
{
	const char *vals[LIST_MAX];
	size_t n = flag_values(h, flag, shortf, 0, vals, LIST_MAX);
	const json_t *j = h->cfg && key ? json_object_get(h->cfg, key) : NULL;
	char q[COMPLIANCE_QBUF];

	memset(st, 0, sizeof(*st));
	if (n > 0) {
		st->set = 1;
		st->s = vals[n - 1];
		snprintf(st->src, sizeof(st->src), "dockerd --%s=%s", flag, compliance_quote(st->s, q, sizeof(q)));
	} else if (json_is_string(j)) {
		st->set = 1;
		st->s = json_string_value(j);
		snprintf(st->src, sizeof(st->src), "daemon.json \"%s\": \"%s\"", key,
			 compliance_quote(st->s, q, sizeof(q)));
	} else {
		snprintf(st->src, sizeof(st->src), "--%s is not set", flag);
	}
}

/* A list option: every flag occurrence, then the file's array (strings only). */
static size_t get_list(const struct host *h, const char *flag, char shortf, const char *key,
		       const char **vals, size_t max)
{
	size_t n = flag_values(h, flag, shortf, 0, vals, max), i;
	const json_t *arr = h->cfg && key ? json_object_get(h->cfg, key) : NULL, *v;

	json_array_foreach(arr, i, v) {
		if (n < max && json_is_string(v))
			vals[n++] = json_string_value(v);
	}
	return n;
}

static void load_config(struct host *h)
{
	struct setting cf;
	char *text = NULL;
	json_error_t jerr;
	int err;

	get_str(h, "config-file", 0, NULL, &cf);
	snprintf(h->cfg_path, sizeof(h->cfg_path), "%s", cf.set ? cf.s : "/etc/docker/daemon.json");
	err = in_read(h, h->cfg_path, COMPLIANCE_FILE_MAX, &text, NULL);
	if (err != 0) {
		h->cfg_err = err;
		return;
	}
	h->cfg = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(h->cfg)) {
		json_decref(h->cfg);
		h->cfg = NULL;
		h->cfg_err = -EBADMSG;
	}
	free(text);
}

static void load_group(struct host *h)
{
	char *text = NULL, *line, *cur;

	h->docker_gid = -1;
	if (in_read(h, "/etc/group", COMPLIANCE_FILE_MAX, &text, NULL) != 0)
		return;
	for (cur = text; (line = next_line(&cur)) != NULL;) {
		char *f[4] = { NULL }, *p = line, *end;
		int nf = 0;
		long gid;

		while (nf < 4) {
			f[nf++] = p;
			p = strchr(p, ':');
			if (p == NULL)
				break;
			*p++ = '\0';
		}
		if (nf < 4 || strcmp(f[0], "docker") != 0)
			continue;
		gid = strtol(f[2], &end, 10);
		if (end == f[2] || *end != '\0' || gid < 0)
			continue;
		h->docker_gid = gid;
		compliance_quote(f[3], h->docker_members, sizeof(h->docker_members));
		break;
	}
	free(text);
}

static void add_rules(struct host *h, const char *path)
{
	char *text = NULL, *grown;
	size_t len = 0;

	if (h->nrule_files >= RULE_FILES_MAX || in_read(h, path, COMPLIANCE_FILE_MAX, &text, &len) != 0)
		return;
	grown = realloc(h->rules, h->rules_len + len + 2);
	if (grown != NULL) {
		h->rules = grown;
		memcpy(h->rules + h->rules_len, text, len);
		h->rules_len += len;
		h->rules[h->rules_len++] = '\n';
		h->rules[h->rules_len] = '\0';
		h->nrule_files++;
	}
	free(text);
}

static void load_rules(struct host *h)
{
	int fd;
	DIR *d;
	struct dirent *de;

	add_rules(h, "/etc/audit/audit.rules");
	fd = in_open(h, "/etc/audit/rules.d", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		char path[512];

		if (n < 7 || strcmp(de->d_name + n - 6, ".rules") != 0)
			continue;
		snprintf(path, sizeof(path), "/etc/audit/rules.d/%s", de->d_name);
		add_rules(h, path);
	}
	closedir(d);
}

/* 1 when an audit rule watches path: "-w PATH" or a "path=PATH" / "dir=PATH" field. */
static int rules_watch(const struct host *h, const char *path)
{
	const char *p = h->rules;
	size_t pl = strlen(path);

	while (p != NULL && *p != '\0') {
		const char *eol = strchr(p, '\n'), *t = p;
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		int prev_w = 0;

		while (t < p + ll && (*t == ' ' || *t == '\t'))
			t++;
		if (t < p + ll && *t != '#') {
			while (t < p + ll) {
				const char *s = t;
				size_t tl;

				while (t < p + ll && *t != ' ' && *t != '\t')
					t++;
				tl = (size_t)(t - s);
				if (prev_w && tl == pl && strncmp(s, path, pl) == 0)
					return 1;
				if ((tl == pl + 5 && strncmp(s, "path=", 5) == 0 && strncmp(s + 5, path, pl) == 0) ||
				    (tl == pl + 4 && strncmp(s, "dir=", 4) == 0 && strncmp(s + 4, path, pl) == 0))
					return 1;
				prev_w = tl == 2 && strncmp(s, "-w", 2) == 0;
				while (t < p + ll && (*t == ' ' || *t == '\t'))
					t++;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* The data root: --data-root / -g, "data-root" / "graph", GET /info DockerRootDir, else the
 * default. */
static void data_root(const struct host *h, char *buf, size_t len)
{
	struct setting st;
	const char *info = json_string_value(json_object_get(h->info, "DockerRootDir"));

	get_str(h, "data-root", 'g', "data-root", &st);
	if (!st.set)
		get_str(h, "graph", 0, "graph", &st);
	snprintf(buf, len, "%s", st.set ? st.s : info != NULL ? info : "/var/lib/docker");
}

#define ADD(id, st, ...)                                                        \
	do {                                                                    \
		if ((err = compliance_add(out, id, st, __VA_ARGS__)) != 0)      \
			goto fail;                                              \
	} while (0)

/* ---- section 1 ---- */

/* 1 when dir is a mount point in ROOT/proc/1/mountinfo, 0 when not, -errno when unknown. */
static int is_mount_point(const struct host *h, const char *dir)
{
	char *text = NULL, *line, *cur;
	int found = 0, err;

	err = in_read(h, "/proc/1/mountinfo", COMPLIANCE_FILE_MAX, &text, NULL);
	if (err != 0)
		return err;
	for (cur = text; !found && (line = next_line(&cur)) != NULL;) {
		char *f = line, mp[1024];
		size_t o = 0;

		for (int k = 0; k < 4 && f != NULL; k++) {
			f = strchr(f, ' ');
			if (f != NULL)
				f++;
		}
		if (f == NULL)
			continue;
		/* the mount point, with mountinfo's octal escapes (\040 for a space) */
		for (; *f != '\0' && *f != ' ' && o + 1 < sizeof(mp); f++) {
			if (f[0] == '\\' && f[1] >= '0' && f[1] <= '3' && f[2] >= '0' && f[2] <= '7' &&
			    f[3] >= '0' && f[3] <= '7') {
				mp[o++] = (char)((f[1] - '0') * 64 + (f[2] - '0') * 8 + (f[3] - '0'));
				f += 3;
			} else {
				mp[o++] = *f;
			}
		}
		mp[o] = '\0';
		if (strcmp(mp, dir) == 0)
			found = 1;
	}
	free(text);
	return found;
}

struct audit_item {
	const char *id;
	const char *paths[3];
};

static int section1(struct host *h, struct compliance_list *out)
{
	char dr[512], q1[COMPLIANCE_QBUF];
	struct stat st;
	int err = 0, r;
	static const struct audit_item items[] = {
		{ "1.1.3", { "/usr/bin/dockerd", "/usr/sbin/dockerd" } },
		{ "1.1.4", { "/run/containerd" } },
		{ "1.1.5", { NULL } },   /* the data root */
		{ "1.1.6", { "/etc/docker" } },
		{ "1.1.7", { "/lib/systemd/system/docker.service", "/usr/lib/systemd/system/docker.service",
			     "/etc/systemd/system/docker.service" } },
		{ "1.1.8", { "/run/containerd/containerd.sock" } },
		{ "1.1.9", { "/lib/systemd/system/docker.socket", "/usr/lib/systemd/system/docker.socket",
			     "/etc/systemd/system/docker.socket" } },
		{ "1.1.10", { "/etc/default/docker" } },
		{ "1.1.11", { "/etc/docker/daemon.json" } },
		{ "1.1.12", { "/etc/containerd/config.toml" } },
		{ "1.1.13", { "/etc/sysconfig/docker" } },
		{ "1.1.14", { "/usr/bin/containerd" } },
		{ "1.1.15", { "/usr/bin/containerd-shim" } },
		{ "1.1.16", { "/usr/bin/containerd-shim-runc-v1" } },
		{ "1.1.17", { "/usr/bin/containerd-shim-runc-v2" } },
		{ "1.1.18", { "/usr/bin/runc", "/usr/sbin/runc" } },
	};

	data_root(h, dr, sizeof(dr));
	compliance_quote(dr, q1, sizeof(q1));
	if (in_stat(h, dr, &st) != 0)
		ADD("1.1.1", COMPLIANCE_NA, "the data root %s does not exist on this host", q1);
	else if ((r = is_mount_point(h, dr)) == 1)
		ADD("1.1.1", COMPLIANCE_PASS, "the data root %s is a mount point of its own", q1);
	else if (r == 0)
		ADD("1.1.1", COMPLIANCE_FAIL, "the data root %s is not a separate mount (not in /proc/1/mountinfo)", q1);
	else
		ADD("1.1.1", COMPLIANCE_NA, "/proc/1/mountinfo cannot be read (%s)", strerror(-r));

	if (h->docker_gid < 0)
		ADD("1.1.2", COMPLIANCE_NA, "no docker group in /etc/group; who may use the socket is decided by its owner and mode (3.15, 3.16)");
	else
		ADD("1.1.2", COMPLIANCE_NA, "members of group docker (gid %ld): %s (whether they are trusted is the owner's decision)",
		    h->docker_gid, h->docker_members[0] ? h->docker_members : "none");

	for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
		const char *found = NULL, *watched = NULL;
		const char *const *paths = items[i].paths;
		const char *one[2] = { dr, NULL };

		if (strcmp(items[i].id, "1.1.5") == 0)
			paths = one;
		for (size_t k = 0; k < 3 && paths[k] != NULL; k++) {
			if (found == NULL && in_stat(h, paths[k], &st) == 0)
				found = paths[k];
			if (watched == NULL && rules_watch(h, paths[k]))
				watched = paths[k];
		}
		if (found == NULL)
			ADD(items[i].id, COMPLIANCE_NA, "%s does not exist on this host", compliance_quote(paths[0], q1, sizeof(q1)));
		else if (watched != NULL)
			ADD(items[i].id, COMPLIANCE_PASS, "an audit rule watches %s", compliance_quote(watched, q1, sizeof(q1)));
		else if (h->nrule_files == 0)
			ADD(items[i].id, COMPLIANCE_FAIL, "no audit rules file (/etc/audit/audit.rules, /etc/audit/rules.d/*.rules): %s is not audited",
			    compliance_quote(found, q1, sizeof(q1)));
		else
			ADD(items[i].id, COMPLIANCE_FAIL, "no audit rule watches %s", compliance_quote(found, q1, sizeof(q1)));
	}
	ADD("1.2.1", COMPLIANCE_NA, "manual check: host hardening is reviewed by its owner");
	{
		const char *v = json_string_value(json_object_get(h->info, "ServerVersion"));

		if (v != NULL)
			ADD("1.2.2", COMPLIANCE_NA, "the engine is version %s; whether that is current is not decided here",
			    compliance_quote(v, q1, sizeof(q1)));
		else
			ADD("1.2.2", COMPLIANCE_NA, "manual check: needs the engine's version and the current release");
	}
	return 0;
fail:
	return err;
}

/* ---- section 2 ---- */

/* What limits the daemon's settings, for causes: no dockerd found, an unreadable configuration
 * file, or several dockerd processes (the lowest PID is used). */
static void config_note(const struct host *h, char *buf, size_t len)
{
	size_t o = 0;
	int w;
	char q[COMPLIANCE_QBUF];

	buf[0] = '\0';
	if (h->pid == 0)
		w = snprintf(buf, len, "no dockerd process found; ");
	else if (h->ndockerd > 1)
		w = snprintf(buf, len, "%d dockerd processes, pid %ld used; ", h->ndockerd, h->pid);
	else
		w = 0;
	if (w > 0 && (size_t)w < len)
		o = (size_t)w;
	if (h->cfg_err != 0 && h->cfg_err != -ENOENT)
		snprintf(buf + o, len - o, "%s unusable (%s); ", compliance_quote(h->cfg_path, q, sizeof(q)),
			 h->cfg_err == -EBADMSG ? "not a JSON object" : strerror(-h->cfg_err));
}

static int section2(struct host *h, struct compliance_list *out)
{
	struct setting st, st2;
	char q1[COMPLIANCE_QBUF], note[160];
	const char *vals[LIST_MAX];
	size_t n;
	int err = 0;
	const json_t *info = h->info;

	config_note(h, note, sizeof(note));

	/* 2.1 */
	{
		char path[64], *text = NULL, *u;
		int rootless = 0;
		size_t i;
		const json_t *v;

		json_array_foreach(json_object_get(info, "SecurityOptions"), i, v) {
			const char *s = json_string_value(v);

			if (s != NULL && strstr(s, "name=rootless") != NULL)
				rootless = 1;
		}
		snprintf(path, sizeof(path), "/proc/%ld/status", h->pid);
		if (rootless)
			ADD("2.1", COMPLIANCE_PASS, "GET /info SecurityOptions has name=rootless");
		else if (h->pid == 0 || in_read(h, path, 65536, &text, NULL) != 0)
			ADD("2.1", COMPLIANCE_NA, "no dockerd process found (needs its user)");
		else if ((u = strstr(text, "\nUid:")) != NULL && strtol(u + 5, NULL, 10) == 0)
			ADD("2.1", COMPLIANCE_FAIL, "dockerd (pid %ld) runs as uid 0 (not rootless)", h->pid);
		else
			ADD("2.1", COMPLIANCE_PASS, "dockerd (pid %ld) does not run as uid 0", h->pid);
		free(text);
	}

	/* 2.2 icc */
	get_bool(h, "icc", 0, "icc", 1, &st);
	ADD("2.2", st.b ? COMPLIANCE_FAIL : COMPLIANCE_PASS, "%s%s", note, st.src);

	/* 2.3 log level */
	get_str(h, "log-level", 'l', "log-level", &st);
	get_bool(h, "debug", 'D', "debug", 0, &st2);
	if (st2.b || json_is_true(json_object_get(info, "Debug")))
		ADD("2.3", COMPLIANCE_FAIL, "%s (debug logging)", st2.b ? st2.src : "GET /info Debug is true");
	else if (!st.set || strcmp(st.s, "info") == 0)
		ADD("2.3", COMPLIANCE_PASS, "%s%s", note, st.set ? st.src : "--log-level is not set (default info)");
	else
		ADD("2.3", COMPLIANCE_FAIL, "%s (not info)", st.src);

	/* 2.4 iptables */
	get_bool(h, "iptables", 0, "iptables", 1, &st);
	ADD("2.4", st.b ? COMPLIANCE_PASS : COMPLIANCE_FAIL, "%s%s", note, st.src);

	/* 2.5 insecure registries */
	n = get_list(h, "insecure-registry", 0, "insecure-registries", vals, LIST_MAX);
	if (n > 0) {
		ADD("2.5", COMPLIANCE_FAIL, "insecure registry %s is configured (--insecure-registry or daemon.json \"insecure-registries\")",
		    compliance_quote(vals[0], q1, sizeof(q1)));
	} else {
		const json_t *rc = json_object_get(info, "RegistryConfig"), *v;
		const char *bad = NULL, *key;
		size_t i;

		json_array_foreach(json_object_get(rc, "InsecureRegistryCIDRs"), i, v) {
			const char *c = json_string_value(v);

			if (c != NULL && strcmp(c, "127.0.0.0/8") != 0 && strcmp(c, "::1/128") != 0 && bad == NULL)
				bad = c;
		}
		json_object_foreach(json_object_get(rc, "IndexConfigs"), key, v) {
			if (json_is_false(json_object_get(v, "Secure")) && bad == NULL)
				bad = key;
		}
		if (bad != NULL)
			ADD("2.5", COMPLIANCE_FAIL, "GET /info RegistryConfig marks %s insecure", compliance_quote(bad, q1, sizeof(q1)));
		else
			ADD("2.5", COMPLIANCE_PASS, "%sno insecure registry is configured (loopback is always insecure)", note);
	}

	/* 2.6 aufs */
	{
		const char *drv = json_string_value(json_object_get(info, "Driver"));

		get_str(h, "storage-driver", 's', "storage-driver", &st);
		if ((st.set && strcmp(st.s, "aufs") == 0) || (drv != NULL && strcmp(drv, "aufs") == 0))
			ADD("2.6", COMPLIANCE_FAIL, "the storage driver is aufs (%s)", st.set ? st.src : "GET /info Driver");
		else if (drv != NULL)
			ADD("2.6", COMPLIANCE_PASS, "GET /info Driver is %s", compliance_quote(drv, q1, sizeof(q1)));
		else if (st.set)
			ADD("2.6", COMPLIANCE_PASS, "%s", st.src);
		else
			ADD("2.6", COMPLIANCE_NA, "the storage driver is chosen at start: needs GET /info");
	}

	/* 2.7 TLS on a TCP socket */
	{
		const char *tcp = NULL;
		struct setting v, ca, cert, key;

		n = get_list(h, "host", 'H', "hosts", vals, LIST_MAX);
		for (size_t i = 0; i < n && tcp == NULL; i++)
			if (strncmp(vals[i], "tcp://", 6) == 0)
				tcp = vals[i];
		get_bool(h, "tlsverify", 0, "tlsverify", 0, &v);
		get_str(h, "tlscacert", 0, "tlscacert", &ca);
		get_str(h, "tlscert", 0, "tlscert", &cert);
		get_str(h, "tlskey", 0, "tlskey", &key);
		if (tcp == NULL)
			ADD("2.7", COMPLIANCE_PASS, "%sthe daemon listens on no TCP socket", note);
		else if (!v.b)
			ADD("2.7", COMPLIANCE_FAIL, "the daemon listens on %s without --tlsverify",
			    compliance_quote(tcp, q1, sizeof(q1)));
		else if (!ca.set || !cert.set || !key.set)
			ADD("2.7", COMPLIANCE_FAIL, "the daemon listens on %s with --tlsverify but without %s",
			    compliance_quote(tcp, q1, sizeof(q1)),
			    !ca.set ? "--tlscacert" : !cert.set ? "--tlscert" : "--tlskey");
		else
			ADD("2.7", COMPLIANCE_PASS, "the daemon listens on %s with --tlsverify, a CA, a certificate and a key",
			    compliance_quote(tcp, q1, sizeof(q1)));
	}

	ADD("2.8", COMPLIANCE_NA, "manual check: which default ulimits fit is the owner's decision");

	/* 2.9 user namespaces */
	{
		int in_info = 0;
		size_t i;
		const json_t *v;

		json_array_foreach(json_object_get(info, "SecurityOptions"), i, v) {
			const char *s = json_string_value(v);

			if (s != NULL && strstr(s, "name=userns") != NULL)
				in_info = 1;
		}
		get_str(h, "userns-remap", 0, "userns-remap", &st);
		if (st.set && st.s[0] != '\0')
			ADD("2.9", COMPLIANCE_PASS, "%s", st.src);
		else if (in_info)
			ADD("2.9", COMPLIANCE_PASS, "GET /info SecurityOptions has name=userns");
		else
			ADD("2.9", COMPLIANCE_FAIL, "%s%s", note, st.set ? "userns-remap is empty" : "--userns-remap is not set");
	}

	/* 2.10 cgroup parent */
	get_str(h, "cgroup-parent", 0, "cgroup-parent", &st);
	if (st.set && st.s[0] != '\0')
		ADD("2.10", COMPLIANCE_FAIL, "%s (not the default: confirm it)", st.src);
	else
		ADD("2.10", COMPLIANCE_PASS, "%s--cgroup-parent is not set (the default)", note);

	/* 2.11 base device size */
	{
		const char *found = NULL;

		n = get_list(h, "storage-opt", 0, "storage-opts", vals, LIST_MAX);
		for (size_t i = 0; i < n; i++)
			if (strncmp(vals[i], "dm.basesize", 11) == 0)
				found = vals[i];
		if (found != NULL)
			ADD("2.11", COMPLIANCE_FAIL, "storage option %s changes the base device size",
			    compliance_quote(found, q1, sizeof(q1)));
		else
			ADD("2.11", COMPLIANCE_PASS, "%sno dm.basesize storage option", note);
	}

	/* 2.12 authorization plugin */
	n = get_list(h, "authorization-plugin", 0, "authorization-plugins", vals, LIST_MAX);
	if (n > 0)
		ADD("2.12", COMPLIANCE_PASS, "authorization plugin %s", compliance_quote(vals[0], q1, sizeof(q1)));
	else if (json_array_size(json_object_get(json_object_get(info, "Plugins"), "Authorization")) > 0)
		ADD("2.12", COMPLIANCE_PASS, "GET /info Plugins.Authorization is not empty");
	else
		ADD("2.12", COMPLIANCE_FAIL, "%sno authorization plugin (--authorization-plugin, \"authorization-plugins\")", note);

	/* 2.13 remote logging */
	{
		const char *drv;

		get_str(h, "log-driver", 0, "log-driver", &st);
		drv = st.set ? st.s : json_string_value(json_object_get(info, "LoggingDriver"));
		if (drv == NULL)
			drv = "json-file";
		if (strcmp(drv, "json-file") == 0 || strcmp(drv, "local") == 0 || strcmp(drv, "none") == 0)
			ADD("2.13", COMPLIANCE_FAIL, "%sthe log driver is %s (%s; not centralized)", note, drv,
			    st.set ? st.src : json_object_get(info, "LoggingDriver") ? "GET /info LoggingDriver" : "default");
		else
			ADD("2.13", COMPLIANCE_PASS, "the log driver is %s", compliance_quote(drv, q1, sizeof(q1)));
	}

	/* 2.14 no-new-privileges */
	get_bool(h, "no-new-privileges", 0, "no-new-privileges", 0, &st);
	ADD("2.14", st.b ? COMPLIANCE_PASS : COMPLIANCE_FAIL, "%s%s", note, st.src);

	/* 2.15 live restore */
	get_bool(h, "live-restore", 0, "live-restore", 0, &st);
	if (st.b)
		ADD("2.15", COMPLIANCE_PASS, "%s", st.src);
	else if (json_is_true(json_object_get(info, "LiveRestoreEnabled")))
		ADD("2.15", COMPLIANCE_PASS, "GET /info LiveRestoreEnabled is true");
	else
		ADD("2.15", COMPLIANCE_FAIL, "%s%s", note, st.src);

	/* 2.16 userland proxy */
	get_bool(h, "userland-proxy", 0, "userland-proxy", 1, &st);
	ADD("2.16", st.b ? COMPLIANCE_FAIL : COMPLIANCE_PASS, "%s%s", note, st.src);

	/* 2.17 seccomp profile */
	get_str(h, "seccomp-profile", 0, "seccomp-profile", &st);
	if (st.set && strcmp(st.s, "unconfined") == 0)
		ADD("2.17", COMPLIANCE_FAIL, "%s (seccomp disabled daemon-wide)", st.src);
	else if (st.set)
		ADD("2.17", COMPLIANCE_PASS, "%s", st.src);
	else
		ADD("2.17", COMPLIANCE_NA, "%sDocker's default seccomp profile applies; whether a custom one is needed is the owner's decision", note);

	/* 2.18 experimental */
	get_bool(h, "experimental", 0, "experimental", 0, &st);
	if (st.b)
		ADD("2.18", COMPLIANCE_FAIL, "%s", st.src);
	else if (json_is_true(json_object_get(info, "ExperimentalBuild")))
		ADD("2.18", COMPLIANCE_FAIL, "GET /info ExperimentalBuild is true");
	else
		ADD("2.18", COMPLIANCE_PASS, "%s%s", note, st.src);
	return 0;
fail:
	return err;
}

/* ---- section 3 ---- */

/* Checks owner (uid 0, gid want_gid) and mode (no bit outside max_mode) of every existing path:
 * one result for the ownership check own_id and one for the permission check perm_id. */
static int owner_mode(struct host *h, struct compliance_list *out, const char *own_id,
		      const char *perm_id, const char *const *paths, size_t npaths, mode_t max_mode,
		      long want_gid, const char *want_desc, const char *absent)
{
	char q1[COMPLIANCE_QBUF], own_bad[COMPLIANCE_CAUSE_MAX] = "", mode_bad[COMPLIANCE_CAUSE_MAX] = "";
	const char *first = NULL;
	int err = 0, nfound = 0;
	mode_t first_mode = 0;

	for (size_t i = 0; i < npaths; i++) {
		struct stat st;

		if (paths[i] == NULL || in_stat(h, paths[i], &st) != 0)
			continue;
		if (first == NULL) {
			first = paths[i];
			first_mode = st.st_mode & 07777;
		}
		nfound++;
		compliance_quote(paths[i], q1, sizeof(q1));
		if (own_bad[0] == '\0' && (st.st_uid != 0 || want_gid < 0 || (long)st.st_gid != want_gid))
			snprintf(own_bad, sizeof(own_bad), "%s is owned by %ld:%ld, not %s%s", q1,
				 (long)st.st_uid, (long)st.st_gid, want_desc,
				 want_gid < 0 ? " (no docker group in /etc/group)" : "");
		if (mode_bad[0] == '\0' && (st.st_mode & 07777 & ~max_mode) != 0)
			snprintf(mode_bad, sizeof(mode_bad), "%s has mode %04o (more than %04o)", q1,
				 (unsigned)(st.st_mode & 07777), (unsigned)max_mode);
	}
	if (first == NULL) {
		if (own_id != NULL)
			ADD(own_id, COMPLIANCE_NA, "%s", absent);
		if (perm_id != NULL)
			ADD(perm_id, COMPLIANCE_NA, "%s", absent);
		return 0;
	}
	compliance_quote(first, q1, sizeof(q1));
	if (own_id != NULL) {
		if (own_bad[0] != '\0')
			ADD(own_id, COMPLIANCE_FAIL, "%s", own_bad);
		else
			ADD(own_id, COMPLIANCE_PASS, "%s%s is owned by %s", q1, nfound > 1 ? " (and the others found)" : "", want_desc);
	}
	if (perm_id != NULL) {
		if (mode_bad[0] != '\0')
			ADD(perm_id, COMPLIANCE_FAIL, "%s", mode_bad);
		else
			ADD(perm_id, COMPLIANCE_PASS, "%s has mode %04o, within %04o%s", q1,
			    (unsigned)first_mode, (unsigned)max_mode,
			    nfound > 1 ? " (and so have the others found)" : "");
	}
	return 0;
fail:
	return err;
}

/* Files in /etc/docker/certs.d/<registry>/ (at most max), malloc()ed paths into out. */
static size_t registry_certs(struct host *h, char **out, size_t max)
{
	size_t n = 0;
	int fd = in_open(h, "/etc/docker/certs.d", O_RDONLY | O_DIRECTORY);
	DIR *d;
	struct dirent *de;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL && n < max) {
		char sub[512];
		int sfd;
		DIR *sd;
		struct dirent *se;

		if (de->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "/etc/docker/certs.d/%s", de->d_name);
		sfd = in_open(h, sub, O_RDONLY | O_DIRECTORY);
		if (sfd < 0)
			continue;
		sd = fdopendir(sfd);
		if (sd == NULL) {
			close(sfd);
			continue;
		}
		while ((se = readdir(sd)) != NULL && n < max) {
			char *p;

			if (se->d_name[0] == '.')
				continue;
			if (asprintf(&p, "%s/%s", sub, se->d_name) < 0)
				break;
			out[n++] = p;
		}
		closedir(sd);
	}
	closedir(d);
	return n;
}

static int section3(struct host *h, struct compliance_list *out)
{
	static const char *const service[] = { "/lib/systemd/system/docker.service",
					       "/usr/lib/systemd/system/docker.service",
					       "/etc/systemd/system/docker.service" };
	static const char *const socket_unit[] = { "/lib/systemd/system/docker.socket",
						   "/usr/lib/systemd/system/docker.socket",
						   "/etc/systemd/system/docker.socket" };
	const char *one[1];
	char *certs[CERT_FILES_MAX] = { 0 };
	size_t ncerts = 0, n;
	int err = 0;
	struct setting st;
	const char *vals[LIST_MAX], *socks[LIST_MAX];
	size_t nsocks = 0;

	if ((err = owner_mode(h, out, "3.1", "3.2", service, 3, 0644, 0, "root:root",
			      "no docker.service unit on this host")) != 0)
		goto fail;
	if ((err = owner_mode(h, out, "3.3", "3.4", socket_unit, 3, 0644, 0, "root:root",
			      "no docker.socket unit on this host")) != 0)
		goto fail;
	one[0] = "/etc/docker";
	if ((err = owner_mode(h, out, "3.5", "3.6", one, 1, 0755, 0, "root:root",
			      "/etc/docker does not exist on this host")) != 0)
		goto fail;

	ncerts = registry_certs(h, certs, CERT_FILES_MAX);
	if ((err = owner_mode(h, out, "3.7", "3.8", (const char *const *)certs, ncerts, 0444, 0,
			      "root:root", "no registry certificate under /etc/docker/certs.d")) != 0)
		goto fail;

	get_str(h, "tlscacert", 0, "tlscacert", &st);
	one[0] = st.set ? st.s : NULL;
	if ((err = owner_mode(h, out, "3.9", "3.10", one, 1, 0444, 0, "root:root",
			      st.set ? "the --tlscacert file does not exist" : "no --tlscacert is configured")) != 0)
		goto fail;
	get_str(h, "tlscert", 0, "tlscert", &st);
	one[0] = st.set ? st.s : NULL;
	if ((err = owner_mode(h, out, "3.11", "3.12", one, 1, 0444, 0, "root:root",
			      st.set ? "the --tlscert file does not exist" : "no --tlscert is configured")) != 0)
		goto fail;
	get_str(h, "tlskey", 0, "tlskey", &st);
	one[0] = st.set ? st.s : NULL;
	if ((err = owner_mode(h, out, "3.13", "3.14", one, 1, 0400, 0, "root:root",
			      st.set ? "the --tlskey file does not exist" : "no --tlskey is configured")) != 0)
		goto fail;

	/* the daemon's unix sockets: -H unix://PATH; fd:// (socket activation) and no -H mean the
	 * default path */
	n = get_list(h, "host", 'H', "hosts", vals, LIST_MAX);
	for (size_t i = 0; i < n; i++)
		if (strncmp(vals[i], "unix://", 7) == 0 && vals[i][7] == '/')
			socks[nsocks++] = vals[i] + 7;
	if (nsocks == 0) {
		socks[nsocks++] = "/var/run/docker.sock";
		socks[nsocks++] = "/run/docker.sock";
	}
	if ((err = owner_mode(h, out, "3.15", "3.16", socks, nsocks, 0660, h->docker_gid,
			      "root:docker", "the Docker socket does not exist on this host")) != 0)
		goto fail;

	one[0] = h->cfg_path;
	if ((err = owner_mode(h, out, "3.17", "3.18", one, 1, 0644, 0, "root:root",
			      "daemon.json does not exist on this host")) != 0)
		goto fail;
	one[0] = "/etc/default/docker";
	if ((err = owner_mode(h, out, "3.19", "3.20", one, 1, 0644, 0, "root:root",
			      "/etc/default/docker does not exist on this host")) != 0)
		goto fail;
	one[0] = "/etc/sysconfig/docker";
	if ((err = owner_mode(h, out, NULL, "3.21", one, 1, 0644, 0, "root:root",
			      "/etc/sysconfig/docker does not exist on this host")) != 0)
		goto fail;
	if ((err = owner_mode(h, out, "3.22", NULL, one, 1, 0644, 0, "root:root",
			      "/etc/sysconfig/docker does not exist on this host")) != 0)
		goto fail;
	one[0] = "/run/containerd/containerd.sock";
	if ((err = owner_mode(h, out, "3.23", "3.24", one, 1, 0660, 0, "root:root",
			      "the containerd socket does not exist on this host")) != 0)
		goto fail;
fail:
	for (size_t i = 0; i < ncerts; i++)
		free(certs[i]);
	return err;
}

int compliance_host(const char *root, const json_t *docker_info, struct compliance_list *out)
{
	struct host *h;
	size_t n0 = compliance_list_count(out);
	int err = 0;

	if (root == NULL || out == NULL)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->root = root;
	h->info = json_is_object(docker_info) ? docker_info : NULL;
	h->rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (h->rootfd < 0) {
		free(h);
		return -ENOENT;
	}
	find_dockerd(h);
	load_config(h);
	load_group(h);
	load_rules(h);

	if ((err = section1(h, out)) != 0 || (err = section2(h, out)) != 0 ||
	    (err = section3(h, out)) != 0)
		goto fail;
	{
		const char *state = json_string_value(json_object_get(json_object_get(h->info, "Swarm"),
									"LocalNodeState"));
		char q[COMPLIANCE_QBUF];

		if (state == NULL)
			err = compliance_add(out, "5.1", COMPLIANCE_NA, "needs GET /info (Swarm.LocalNodeState)");
		else if (strcmp(state, "inactive") == 0 || strcmp(state, "") == 0)
			err = compliance_add(out, "5.1", COMPLIANCE_PASS, "GET /info Swarm.LocalNodeState is %s",
					     state[0] ? "inactive" : "empty");
		else
			err = compliance_add(out, "5.1", COMPLIANCE_FAIL,
					     "GET /info Swarm.LocalNodeState is %s (swarm mode is enabled: confirm it is needed)",
					     compliance_quote(state, q, sizeof(q)));
		if (err != 0)
			goto fail;
	}
	goto done;
fail:
	compliance_list_truncate(out, n0);
done:
	close(h->rootfd);
	json_decref(h->cfg);
	free(h->cmdbuf);
	free(h->rules);
	free(h);
	return err;
}
