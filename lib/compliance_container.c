/*
 * compliance_container: CIS Docker Benchmark v1.6.0 section 5 (container runtime, except 5.1) on a
 * container's `docker inspect` answer, with the community capability checks C.5.3.x, and
 * section 4 (images) on an image configuration plus an optional list of secret-looking files.
 *
 * Every check reads only the members the engine documents (HostConfig.*, Config.*, Mounts,
 * NetworkSettings.Ports, AppArmorProfile, ProcessLabel); a member of the wrong type counts as
 * absent. Strings quoted into causes go through compliance_quote() (bounded, ASCII). Secret
 * values in an image's environment are never copied: only the variable's name and why it looks
 * like a secret.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/util.h>

#include "compliance_int.h"

#define MOUNTS_MAX 4096     /* mounts looked at per container */
#define PATH_CLEAN_MAX 1024

/* ---- JSON accessors: anything of the wrong type is absent ---- */

static const json_t *jobj(const json_t *o, const char *k)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;

	return json_is_object(v) ? v : NULL;
}

static const json_t *jarr(const json_t *o, const char *k)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;

	return json_is_array(v) ? v : NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int jtrue(const json_t *o, const char *k)
{
	return json_is_object(o) && json_is_true(json_object_get(o, k));
}

/* An integer member, or dflt when absent, null or not an integer. */
static long long jint(const json_t *o, const char *k, long long dflt)
{
	const json_t *v = json_is_object(o) ? json_object_get(o, k) : NULL;

	return json_is_integer(v) ? (long long)json_integer_value(v) : dflt;
}

static int streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Lexically cleans an absolute path ("//etc/./x/../" -> "/etc"). 0, or -EINVAL when p is not
 * absolute or too long. */
static int clean_path(const char *p, char *out, size_t len)
{
	size_t o = 0;

	if (p == NULL || p[0] != '/' || len < 2 || strlen(p) >= len)
		return -EINVAL;
	while (*p != '\0') {
		const char *s;
		size_t n;

		while (*p == '/')
			p++;
		s = p;
		while (*p != '\0' && *p != '/')
			p++;
		n = (size_t)(p - s);
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;   /* the slash before the dropped component */
			continue;
		}
		if (o + 1 + n >= len)
			return -EINVAL;
		out[o++] = '/';
		memcpy(out + o, s, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return 0;
}

/* ---- mounts ---- */

struct mnt {
	const char *type;        /* "bind", "volume", "tmpfs", ... */
	const char *source;      /* host path, as the engine reports it */
	const char *dest;
	const char *propagation;
	int rw;
};

/* The container's mounts: the top-level Mounts; when that is empty (older engines, some created
 * containers), HostConfig.Binds ("src:dst[:opts]") and HostConfig.Mounts. At most MOUNTS_MAX.
 * Returns 0 with *out (malloc()ed, *n entries; strings point into inspect or into the block
 * after the entries, for split Binds), or -ENOMEM. */
static int collect_mounts(const json_t *inspect, struct mnt **out, size_t *count)
{
	const json_t *arr = jarr(inspect, "Mounts"), *hc = jobj(inspect, "HostConfig"), *v;
	const json_t *binds = jarr(hc, "Binds"), *hmounts = jarr(hc, "Mounts");
	size_t n = 0, i, max = json_array_size(arr), text = 0;
	struct mnt *m;
	char *sb;

	if (max == 0) {
		max = json_array_size(binds) + json_array_size(hmounts);
		json_array_foreach(binds, i, v)
			text += json_string_length(v) + 2;   /* both halves, NUL-terminated */
	}
	if (max > MOUNTS_MAX)
		max = MOUNTS_MAX;
	m = calloc(1, max * sizeof(*m) + text + 1);
	if (m == NULL)
		return -ENOMEM;
	sb = (char *)(m + max);
	*out = m;
	json_array_foreach(arr, i, v) {
		if (n == max)
			break;
		if (!json_is_object(v))
			continue;
		m[n].type = jstr(v, "Type");
		m[n].source = jstr(v, "Source");
		m[n].dest = jstr(v, "Destination");
		m[n].propagation = jstr(v, "Propagation");
		m[n].rw = json_object_get(v, "RW") != NULL ? jtrue(v, "RW") : 1;
		n++;
	}
	if (json_array_size(arr) > 0) {
		*count = n;
		return 0;
	}
	json_array_foreach(binds, i, v) {
		const char *b = json_string_value(v), *c1, *c2;
		size_t sl, dl;

		if (n == max || b == NULL)
			break;
		c1 = strchr(b, ':');
		if (c1 == NULL || b[0] != '/')
			continue;
		c2 = strchr(c1 + 1, ':');
		sl = (size_t)(c1 - b);
		dl = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
		memcpy(sb, b, sl);
		sb[sl] = '\0';
		m[n].source = sb;
		sb += sl + 1;
		memcpy(sb, c1 + 1, dl);
		sb[dl] = '\0';
		m[n].dest = sb;
		sb += dl + 1;
		m[n].type = "bind";
		m[n].rw = 1;
		m[n].propagation = NULL;
		/* options: comma-separated ro, rw, z, Z, nocopy, and a propagation mode */
		for (const char *o = c2 ? c2 + 1 : NULL; o != NULL && *o != '\0';) {
			static const char *const props[] = { "rshared", "shared", "rslave", "slave",
							     "rprivate", "private" };
			size_t ol = strcspn(o, ",");

			if (ol == 2 && strncmp(o, "ro", 2) == 0)
				m[n].rw = 0;
			for (size_t k = 0; k < ARRAY_SIZE(props); k++)
				if (ol == strlen(props[k]) && strncmp(o, props[k], ol) == 0)
					m[n].propagation = props[k];
			o += ol;
			if (*o == ',')
				o++;
		}
		n++;
	}
	json_array_foreach(hmounts, i, v) {
		if (n == max)
			break;
		if (!json_is_object(v))
			continue;
		m[n].type = jstr(v, "Type");
		m[n].source = jstr(v, "Source");
		m[n].dest = jstr(v, "Target");
		m[n].propagation = jstr(jobj(v, "BindOptions"), "Propagation");
		m[n].rw = !jtrue(v, "ReadOnly");
		n++;
	}
	*count = n;
	return 0;
}

static const char *const sensitive_dirs[] = { "/", "/boot", "/dev", "/etc", "/lib", "/proc",
					       "/sys", "/usr" };

/* 1 when the cleaned path p is dir or lies beneath it. */
static int path_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return 1;
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* ---- security options ---- */

/* The value of HostConfig.SecurityOpt entry "name=value" or "name:value" (the old syntax), or ""
 * for a bare "name"; NULL when there is no such entry (the last one counts). */
static const char *secopt(const json_t *hc, const char *name)
{
	const char *found = NULL;
	size_t n = strlen(name), i;
	const json_t *v;

	json_array_foreach(jarr(hc, "SecurityOpt"), i, v) {
		const char *s = json_string_value(v);

		if (s == NULL || strncmp(s, name, n) != 0)
			continue;
		if (s[n] == '\0')
			found = "";
		else if (s[n] == '=' || s[n] == ':')
			found = s + n + 1;
	}
	return found;
}

/* ---- ports ---- */

struct port_scan {
	int privileged;            /* a host port < 1024 */
	int all_interfaces;        /* a binding on 0.0.0.0, :: or "" */
	char priv_desc[200];
	char all_desc[200];
};

static void scan_bindings(const json_t *ports, const char *where, struct port_scan *ps)
{
	const char *key;
	const json_t *list;

	if (!json_is_object(ports))
		return;
	json_object_foreach((json_t *)ports, key, list) {
		size_t i;
		const json_t *b;

		json_array_foreach(list, i, b) {
			const char *ip = jstr(b, "HostIp"), *hp = jstr(b, "HostPort");
			char *end = NULL;
			long port = hp != NULL && hp[0] != '\0' ? strtol(hp, &end, 10) : -1;
			char q1[COMPLIANCE_QBUF], q2[COMPLIANCE_QBUF], q3[COMPLIANCE_QBUF];

			if (!json_is_object(b))
				continue;
			if (port > 0 && port < 1024 && end != NULL && (*end == '\0' || *end == '-') &&
			    !ps->privileged) {
				ps->privileged = 1;
				snprintf(ps->priv_desc, sizeof(ps->priv_desc),
					 "%s maps container port %s to host port %ld", where,
					 compliance_quote(key, q1, sizeof(q1)), port);
			}
			if ((ip == NULL || ip[0] == '\0' || strcmp(ip, "0.0.0.0") == 0 ||
			     strcmp(ip, "::") == 0) && !ps->all_interfaces) {
				ps->all_interfaces = 1;
				snprintf(ps->all_desc, sizeof(ps->all_desc),
					 "%s binds container port %s to host %s:%s (all interfaces)",
					 where, compliance_quote(key, q1, sizeof(q1)),
					 ip == NULL || ip[0] == '\0' ? "0.0.0.0" :
					 compliance_quote(ip, q2, sizeof(q2)),
					 hp ? compliance_quote(hp, q3, sizeof(q3)) : "?");
			}
		}
	}
}

/* ---- capabilities ---- */

/* 1 when the CapAdd list holds cap ("SYS_ADMIN"), with or without "CAP_", or "ALL". */
static int cap_added(const json_t *hc, const char *cap)
{
	size_t i;
	const json_t *v;

	json_array_foreach(jarr(hc, "CapAdd"), i, v) {
		const char *s = json_string_value(v);

		if (s == NULL)
			continue;
		if (strncasecmp(s, "CAP_", 4) == 0)
			s += 4;
		if (strcasecmp(s, cap) == 0 || strcasecmp(s, "ALL") == 0)
			return 1;
	}
	return 0;
}

static int is_root_user(const char *user)
{
	size_t n;

	if (user == NULL)
		return 1;
	while (*user == ' ')
		user++;
	n = strcspn(user, ":");
	if (n == 0)
		return 1;
	if (n == 4 && strncmp(user, "root", 4) == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (user[i] != '0')
			return 0;
	return 1;   /* "0", "00", "0:0" */
}

/* 1 when Healthcheck holds a test that is not NONE. */
static int has_healthcheck(const json_t *config)
{
	const json_t *test = jarr(jobj(config, "Healthcheck"), "Test");
	const char *first = json_string_value(json_array_get(test, 0));

	return first != NULL && strcmp(first, "NONE") != 0 && json_array_size(test) > 0;
}

/* ---- the container checks ---- */

#define ADD(id, st, ...)                                                        \
	do {                                                                    \
		if ((err = compliance_add(out, id, st, __VA_ARGS__)) != 0)      \
			goto fail;                                              \
	} while (0)

static const char *mode_of(const json_t *hc, const char *k)
{
	const char *m = jstr(hc, k);

	return m != NULL ? m : "";
}

int compliance_container(const json_t *inspect, const json_t *execs, struct compliance_list *out)
{
	const json_t *hc = jobj(inspect, "HostConfig"), *cfg = jobj(inspect, "Config");
	size_t n0 = compliance_list_count(out), nm, i;
	int err = 0, priv;
	char q1[COMPLIANCE_QBUF], q2[COMPLIANCE_QBUF];
	struct mnt *m = NULL;
	const char *s;
	long long v;

	if (hc == NULL || out == NULL)
		return -EINVAL;
	if ((err = collect_mounts(inspect, &m, &nm)) != 0)
		goto fail;
	priv = jtrue(hc, "Privileged");

	/* 5.2 AppArmor */
	s = secopt(hc, "apparmor");
	if (streq(s, "unconfined"))
		ADD("5.2", COMPLIANCE_FAIL, "HostConfig.SecurityOpt has apparmor=unconfined");
	else if (streq(jstr(inspect, "AppArmorProfile"), "unconfined"))
		ADD("5.2", COMPLIANCE_FAIL, "AppArmorProfile is unconfined");
	else if (priv)
		ADD("5.2", COMPLIANCE_FAIL,
		    "HostConfig.Privileged is true (no AppArmor confinement for privileged containers)");
	else if ((s = jstr(inspect, "AppArmorProfile")) != NULL && s[0] != '\0')
		ADD("5.2", COMPLIANCE_PASS, "AppArmorProfile is %s", compliance_quote(s, q1, sizeof(q1)));
	else
		ADD("5.2", COMPLIANCE_NA,
		    "AppArmorProfile is empty: the engine applies no AppArmor profile (AppArmor is not enabled on this host)");

	/* 5.3 SELinux */
	s = secopt(hc, "label");
	if (streq(s, "disable") && priv)
		ADD("5.3", COMPLIANCE_FAIL, "HostConfig.Privileged is true (SELinux labeling is disabled: label=disable)");
	else if (streq(s, "disable"))
		ADD("5.3", COMPLIANCE_FAIL, "HostConfig.SecurityOpt has label=disable");
	else if (priv)
		ADD("5.3", COMPLIANCE_FAIL, "HostConfig.Privileged is true (SELinux labeling is disabled)");
	else if (s != NULL)
		ADD("5.3", COMPLIANCE_PASS, "HostConfig.SecurityOpt has label=%s", compliance_quote(s, q1, sizeof(q1)));
	else if ((s = jstr(inspect, "ProcessLabel")) != NULL && s[0] != '\0')
		ADD("5.3", COMPLIANCE_PASS, "ProcessLabel is %s", compliance_quote(s, q1, sizeof(q1)));
	else
		ADD("5.3", COMPLIANCE_NA,
		    "ProcessLabel is empty and no label option is set: SELinux is not enabled for the engine");

	/* 5.4 capabilities */
	if (priv) {
		ADD("5.4", COMPLIANCE_FAIL, "HostConfig.Privileged is true (every capability is granted)");
	} else if (json_array_size(jarr(hc, "CapAdd")) > 0) {
		char caps[200] = "";
		size_t len = 0;
		const json_t *c;

		json_array_foreach(jarr(hc, "CapAdd"), i, c) {
			int w = snprintf(caps + len, sizeof(caps) - len, "%s%s", i ? ", " : "",
					 compliance_quote(json_string_value(c), q1, sizeof(q1)));
			if (w < 0 || (size_t)w >= sizeof(caps) - len)
				break;
			len += (size_t)w;
		}
		ADD("5.4", COMPLIANCE_FAIL, "HostConfig.CapAdd adds %s", caps);
	} else {
		ADD("5.4", COMPLIANCE_PASS, "HostConfig.CapAdd is empty");
	}

	/* 5.5 privileged */
	if (priv)
		ADD("5.5", COMPLIANCE_FAIL, "HostConfig.Privileged is true");
	else
		ADD("5.5", COMPLIANCE_PASS, "HostConfig.Privileged is false");

	/* 5.6 sensitive host directories */
	{
		char found[COMPLIANCE_CAUSE_MAX] = "";
		size_t nfound = 0;

		for (i = 0; i < nm; i++) {
			char p[PATH_CLEAN_MAX];
			int hit = 0;

			if (!streq(m[i].type, "bind") || clean_path(m[i].source, p, sizeof(p)) != 0)
				continue;
			for (size_t k = 0; k < ARRAY_SIZE(sensitive_dirs); k++) {
				if (strcmp(p, sensitive_dirs[k]) == 0 ||
				    (m[i].rw && strcmp(sensitive_dirs[k], "/") != 0 &&
				     path_under(p, sensitive_dirs[k])))
					hit = 1;
			}
			if (!hit)
				continue;
			if (nfound++ == 0)
				snprintf(found, sizeof(found), "host %s is mounted at %s (%s)",
					 compliance_quote(p, q1, sizeof(q1)),
					 compliance_quote(m[i].dest, q2, sizeof(q2)),
					 m[i].rw ? "read-write" : "read-only");
		}
		if (nfound > 1)
			ADD("5.6", COMPLIANCE_FAIL, "Mounts: %s, and %zu more", found, nfound - 1);
		else if (nfound == 1)
			ADD("5.6", COMPLIANCE_FAIL, "Mounts: %s", found);
		else
			ADD("5.6", COMPLIANCE_PASS, "no bind mount of /, /boot, /dev, /etc, /lib, /proc, /sys or /usr (nor a writable one beneath them)");
	}

	/* 5.7 sshd */
	ADD("5.7", COMPLIANCE_NA, "needs the container's processes (GET /containers/{id}/top), not in inspect data");

	/* 5.8 privileged ports, 5.14 all interfaces */
	{
		struct port_scan ps;

		memset(&ps, 0, sizeof(ps));
		scan_bindings(json_object_get(jobj(inspect, "NetworkSettings"), "Ports"),
			      "NetworkSettings.Ports", &ps);
		scan_bindings(json_object_get(hc, "PortBindings"), "HostConfig.PortBindings", &ps);
		if (ps.privileged)
			ADD("5.8", COMPLIANCE_FAIL, "%s", ps.priv_desc);
		else
			ADD("5.8", COMPLIANCE_PASS, "no host port below 1024 is mapped");
		if (streq(mode_of(hc, "NetworkMode"), "host"))
			ADD("5.14", COMPLIANCE_NA,
			    "HostConfig.NetworkMode is host: no port is published, the container binds host interfaces itself (see 5.10)");
		else if (ps.all_interfaces)
			ADD("5.14", COMPLIANCE_FAIL, "%s", ps.all_desc);
		else if (jtrue(hc, "PublishAllPorts"))
			ADD("5.14", COMPLIANCE_FAIL,
			    "HostConfig.PublishAllPorts is true (exposed ports are published on all interfaces)");
		else
			ADD("5.14", COMPLIANCE_PASS, "every published port is bound to a specific host address");
	}

	/* 5.9 */
	ADD("5.9", COMPLIANCE_NA, "manual check: which ports are needed is the owner's decision");

	/* 5.10 host network */
	s = mode_of(hc, "NetworkMode");
	if (strcmp(s, "host") == 0)
		ADD("5.10", COMPLIANCE_FAIL, "HostConfig.NetworkMode is host");
	else
		ADD("5.10", COMPLIANCE_PASS, "HostConfig.NetworkMode is %s",
		    s[0] ? compliance_quote(s, q1, sizeof(q1)) : "empty");

	/* 5.11 memory */
	v = jint(hc, "Memory", 0);
	if (v > 0)
		ADD("5.11", COMPLIANCE_PASS, "HostConfig.Memory is %lld bytes", v);
	else
		ADD("5.11", COMPLIANCE_FAIL, "HostConfig.Memory is 0 (no memory limit)");

	/* 5.12 CPU priority: shares other than the default, or a CPU limit */
	{
		long long shares = jint(hc, "CpuShares", 0), nano = jint(hc, "NanoCpus", 0),
			  quota = jint(hc, "CpuQuota", 0);

		if (shares > 0 && shares != 1024)
			ADD("5.12", COMPLIANCE_PASS, "HostConfig.CpuShares is %lld", shares);
		else if (nano > 0)
			ADD("5.12", COMPLIANCE_PASS, "HostConfig.NanoCpus is %lld", nano);
		else if (quota > 0)
			ADD("5.12", COMPLIANCE_PASS, "HostConfig.CpuQuota is %lld", quota);
		else
			ADD("5.12", COMPLIANCE_FAIL,
			    "HostConfig.CpuShares is %lld (default) and no CPU limit (NanoCpus, CpuQuota) is set",
			    shares);
	}

	/* 5.13 read-only root */
	if (jtrue(hc, "ReadonlyRootfs"))
		ADD("5.13", COMPLIANCE_PASS, "HostConfig.ReadonlyRootfs is true");
	else
		ADD("5.13", COMPLIANCE_FAIL, "HostConfig.ReadonlyRootfs is false");

	/* 5.15 restart policy */
	{
		const json_t *rp = jobj(hc, "RestartPolicy");
		const char *name = jstr(rp, "Name");
		long long max = jint(rp, "MaximumRetryCount", 0);

		if (name == NULL || name[0] == '\0' || strcmp(name, "no") == 0)
			ADD("5.15", COMPLIANCE_PASS, "HostConfig.RestartPolicy.Name is %s (never restarted)",
			    name && name[0] ? "no" : "empty");
		else if (strcmp(name, "on-failure") == 0 && max > 0 && max <= 5)
			ADD("5.15", COMPLIANCE_PASS, "HostConfig.RestartPolicy is on-failure:%lld", max);
		else if (strcmp(name, "on-failure") == 0)
			ADD("5.15", COMPLIANCE_FAIL, "HostConfig.RestartPolicy is on-failure with MaximumRetryCount %lld%s",
			    max, max <= 0 ? " (unlimited)" : " (more than 5)");
		else
			ADD("5.15", COMPLIANCE_FAIL, "HostConfig.RestartPolicy.Name is %s (restarts without limit)",
			    compliance_quote(name, q1, sizeof(q1)));
	}

	/* 5.16, 5.17 host namespaces */
	{
		s = mode_of(hc, "PidMode");
		if (strcmp(s, "host") == 0)
			ADD("5.16", COMPLIANCE_FAIL, "HostConfig.PidMode is host");
		else
			ADD("5.16", COMPLIANCE_PASS, "HostConfig.PidMode is %s", s[0] ? compliance_quote(s, q1, sizeof(q1)) : "empty");
		s = mode_of(hc, "IpcMode");
		if (strcmp(s, "host") == 0)
			ADD("5.17", COMPLIANCE_FAIL, "HostConfig.IpcMode is host");
		else
			ADD("5.17", COMPLIANCE_PASS, "HostConfig.IpcMode is %s", s[0] ? compliance_quote(s, q1, sizeof(q1)) : "empty");
	}

	/* 5.18 devices */
	if (priv)
		ADD("5.18", COMPLIANCE_FAIL, "HostConfig.Privileged is true (every host device is exposed)");
	else if (json_array_size(jarr(hc, "Devices")) > 0)
		ADD("5.18", COMPLIANCE_FAIL, "HostConfig.Devices exposes host device %s%s",
		    compliance_quote(jstr(json_array_get(jarr(hc, "Devices"), 0), "PathOnHost"), q1, sizeof(q1)),
		    json_array_size(jarr(hc, "Devices")) > 1 ? " and more" : "");
	else if (json_array_size(jarr(hc, "DeviceCgroupRules")) > 0)
		ADD("5.18", COMPLIANCE_FAIL, "HostConfig.DeviceCgroupRules allows %s",
		    compliance_quote(json_string_value(json_array_get(jarr(hc, "DeviceCgroupRules"), 0)), q1, sizeof(q1)));
	else
		ADD("5.18", COMPLIANCE_PASS, "HostConfig.Devices and DeviceCgroupRules are empty");

	/* 5.19 */
	ADD("5.19", COMPLIANCE_NA, "manual check: whether the default ulimits fit is the owner's decision");

	/* 5.20 mount propagation */
	{
		size_t hit = nm;

		for (i = 0; i < nm && hit == nm; i++)
			if (streq(m[i].propagation, "shared") || streq(m[i].propagation, "rshared"))
				hit = i;
		if (hit < nm)
			ADD("5.20", COMPLIANCE_FAIL, "Mounts: %s is mounted at %s with propagation %s",
			    compliance_quote(m[hit].source, q1, sizeof(q1)),
			    compliance_quote(m[hit].dest, q2, sizeof(q2)), m[hit].propagation);
		else
			ADD("5.20", COMPLIANCE_PASS, "no mount has shared propagation");
	}

	/* 5.21 UTS */
	s = mode_of(hc, "UTSMode");
	if (strcmp(s, "host") == 0)
		ADD("5.21", COMPLIANCE_FAIL, "HostConfig.UTSMode is host");
	else
		ADD("5.21", COMPLIANCE_PASS, "HostConfig.UTSMode is %s", s[0] ? compliance_quote(s, q1, sizeof(q1)) : "empty");

	/* 5.22 seccomp */
	s = secopt(hc, "seccomp");
	if (streq(s, "unconfined"))
		ADD("5.22", COMPLIANCE_FAIL, "HostConfig.SecurityOpt has seccomp=unconfined");
	else if (priv)
		ADD("5.22", COMPLIANCE_FAIL, "HostConfig.Privileged is true (no seccomp filtering)");
	else if (s != NULL)
		ADD("5.22", COMPLIANCE_PASS, "HostConfig.SecurityOpt sets a custom seccomp profile");
	else
		ADD("5.22", COMPLIANCE_PASS, "the daemon's default seccomp profile applies");

	/* 5.23, 5.24 exec */
	if (!json_is_array(execs)) {
		ADD("5.23", COMPLIANCE_NA, "needs the container's exec sessions (GET /exec/{id}/json for ExecIDs)");
		ADD("5.24", COMPLIANCE_NA, "needs the container's exec sessions (GET /exec/{id}/json for ExecIDs)");
	} else {
		const json_t *e, *priv_e = NULL, *root_e = NULL;

		json_array_foreach(execs, i, e) {
			const json_t *pc = jobj(e, "ProcessConfig");
			const char *u = jstr(pc, "user");

			if (priv_e == NULL && jtrue(pc, "privileged"))
				priv_e = e;
			if (root_e == NULL && u != NULL && u[0] != '\0' && is_root_user(u))
				root_e = e;
		}
		if (priv_e != NULL)
			ADD("5.23", COMPLIANCE_FAIL, "exec %s runs with ProcessConfig.privileged true",
			    compliance_quote(jstr(priv_e, "ID"), q1, sizeof(q1)));
		else
			ADD("5.23", COMPLIANCE_PASS, "none of the %zu exec sessions the engine keeps is privileged",
			    json_array_size(execs));
		if (root_e != NULL)
			ADD("5.24", COMPLIANCE_FAIL, "exec %s runs with ProcessConfig.user %s",
			    compliance_quote(jstr(root_e, "ID"), q1, sizeof(q1)),
			    compliance_quote(jstr(jobj(root_e, "ProcessConfig"), "user"), q2, sizeof(q2)));
		else
			ADD("5.24", COMPLIANCE_PASS, "none of the %zu exec sessions the engine keeps sets user root",
			    json_array_size(execs));
	}

	/* 5.25 cgroup */
	s = jstr(hc, "CgroupParent");
	if (s != NULL && s[0] != '\0')
		ADD("5.25", COMPLIANCE_FAIL, "HostConfig.CgroupParent is %s (not the default: confirm it)",
		    compliance_quote(s, q1, sizeof(q1)));
	else
		ADD("5.25", COMPLIANCE_PASS, "HostConfig.CgroupParent is empty (the default cgroup)");

	/* 5.26 no-new-privileges */
	s = secopt(hc, "no-new-privileges");
	if (s != NULL && (s[0] == '\0' || strcmp(s, "true") == 0))
		ADD("5.26", COMPLIANCE_PASS, "HostConfig.SecurityOpt has no-new-privileges");
	else if (s != NULL)
		ADD("5.26", COMPLIANCE_FAIL, "HostConfig.SecurityOpt has no-new-privileges=%s",
		    compliance_quote(s, q1, sizeof(q1)));
	else
		ADD("5.26", COMPLIANCE_FAIL, "HostConfig.SecurityOpt lacks no-new-privileges");

	/* 5.27 health check */
	if (has_healthcheck(cfg))
		ADD("5.27", COMPLIANCE_PASS, "Config.Healthcheck is set");
	else if (json_array_size(jarr(jobj(cfg, "Healthcheck"), "Test")) > 0)
		ADD("5.27", COMPLIANCE_FAIL, "Config.Healthcheck is NONE (disabled)");
	else
		ADD("5.27", COMPLIANCE_FAIL, "Config.Healthcheck is not set");

	/* 5.28 */
	ADD("5.28", COMPLIANCE_NA, "manual check: how images are pulled is not in inspect data");

	/* 5.29 PIDs limit */
	v = jint(hc, "PidsLimit", 0);
	if (v > 0)
		ADD("5.29", COMPLIANCE_PASS, "HostConfig.PidsLimit is %lld", v);
	else
		ADD("5.29", COMPLIANCE_FAIL, "HostConfig.PidsLimit is %s (no limit)",
		    json_is_integer(json_object_get(hc, "PidsLimit")) ? (v < 0 ? "-1" : "0") : "null");

	/* 5.30 default bridge */
	s = mode_of(hc, "NetworkMode");
	if (strcmp(s, "default") == 0 || strcmp(s, "bridge") == 0 || s[0] == '\0')
		ADD("5.30", COMPLIANCE_FAIL, "HostConfig.NetworkMode is %s (the default bridge)",
		    s[0] ? s : "empty");
	else
		ADD("5.30", COMPLIANCE_PASS, "HostConfig.NetworkMode is %s", compliance_quote(s, q1, sizeof(q1)));

	/* 5.31 user namespace */
	s = mode_of(hc, "UsernsMode");
	if (strcmp(s, "host") == 0)
		ADD("5.31", COMPLIANCE_FAIL, "HostConfig.UsernsMode is host");
	else
		ADD("5.31", COMPLIANCE_PASS, "HostConfig.UsernsMode is %s", s[0] ? compliance_quote(s, q1, sizeof(q1)) : "empty");

	/* 5.32 Docker socket */
	{
		static const char *const holders[] = { "/", "/run", "/var", "/var/run", "/run/docker" };
		size_t hit = nm;
		char p[PATH_CLEAN_MAX], hp[PATH_CLEAN_MAX] = "";

		for (i = 0; i < nm && hit == nm; i++) {
			const char *base;

			if (!streq(m[i].type, "bind") || clean_path(m[i].source, p, sizeof(p)) != 0)
				continue;
			base = strrchr(p, '/');
			if (strcmp(base + 1, "docker.sock") == 0)
				hit = i;
			for (size_t k = 0; k < ARRAY_SIZE(holders); k++)
				if (strcmp(p, holders[k]) == 0)
					hit = i;
			if (hit == i)
				snprintf(hp, sizeof(hp), "%s", p);
		}
		if (hit < nm && strcmp(strrchr(hp, '/') + 1, "docker.sock") == 0)
			ADD("5.32", COMPLIANCE_FAIL, "Mounts: the Docker socket %s is mounted at %s",
			    compliance_quote(hp, q1, sizeof(q1)), compliance_quote(m[hit].dest, q2, sizeof(q2)));
		else if (hit < nm)
			ADD("5.32", COMPLIANCE_FAIL, "Mounts: host %s (which holds the Docker socket) is mounted at %s",
			    compliance_quote(hp, q1, sizeof(q1)), compliance_quote(m[hit].dest, q2, sizeof(q2)));
		else
			ADD("5.32", COMPLIANCE_PASS, "no mount of docker.sock or of a directory holding it");
	}

	/* C.5.3.x community capability checks */
	{
		static const struct { const char *id, *cap; } caps[] = {
			{ "C.5.3.1", "DAC_READ_SEARCH" }, { "C.5.3.2", "SYS_MODULE" },
			{ "C.5.3.3", "SYS_ADMIN" }, { "C.5.3.4", "SYS_PTRACE" },
		};

		for (size_t k = 0; k < ARRAY_SIZE(caps); k++) {
			if (priv)
				ADD(caps[k].id, COMPLIANCE_FAIL, "HostConfig.Privileged is true (CAP_%s is granted)", caps[k].cap);
			else if (cap_added(hc, caps[k].cap))
				ADD(caps[k].id, COMPLIANCE_FAIL, "HostConfig.CapAdd grants CAP_%s", caps[k].cap);
			else
				ADD(caps[k].id, COMPLIANCE_PASS, "CAP_%s is not added (not in Docker's default set)", caps[k].cap);
		}
	}
	free(m);
	return 0;
fail:
	compliance_list_truncate(out, n0);
	free(m);
	return err;
}

/* ---- images ---- */

/* Why an environment variable looks like a secret, or NULL. Looks at the name and the value; the
 * value is never copied anywhere. */
static const char *env_secret_reason(const char *name, size_t nlen, const char *value)
{
	char up[128];
	size_t i;

	if (value[0] == '\0')
		return NULL;
	if (strstr(value, "-----BEGIN") != NULL && strstr(value, "PRIVATE KEY") != NULL)
		return "value holds private key material";
	for (const char *p = value; *p != '\0'; p++) {
		static const char *const aws[] = { "AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA" };

		if (p != value && isalnum((unsigned char)p[-1]))
			continue;
		for (i = 0; i < ARRAY_SIZE(aws); i++) {
			size_t k;

			if (strncmp(p, aws[i], 4) != 0)
				continue;
			for (k = 4; k < 20 && (isupper((unsigned char)p[k]) || isdigit((unsigned char)p[k])); k++)
				;
			if (k == 20 && !isalnum((unsigned char)p[20]))
				return "value looks like an AWS access key id";
		}
	}
	if (strncmp(value, "ghp_", 4) == 0 || strncmp(value, "github_pat_", 11) == 0)
		return "value looks like a GitHub token";
	if (strncmp(value, "xox", 3) == 0 && value[3] != '\0' && strchr("abprs", value[3]) && value[4] == '-')
		return "value looks like a Slack token";
	if (nlen >= sizeof(up))
		nlen = sizeof(up) - 1;
	for (i = 0; i < nlen; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[nlen] = '\0';
	/* variables naming a file that holds the secret (Docker secrets' *_FILE convention) */
	{
		static const char *const refs[] = { "_FILE", "_PATH", "_DIR", "_URL_FILE" };

		for (i = 0; i < ARRAY_SIZE(refs); i++) {
			size_t rl = strlen(refs[i]);

			if (nlen > rl && strcmp(up + nlen - rl, refs[i]) == 0)
				return NULL;
		}
	}
	{
		static const char *const ends[] = { "PASSWORD", "PASSWD", "_PASS", "_PWD", "TOKEN",
						    "_API_KEY", "APIKEY", "ACCESS_KEY", "PRIVATE_KEY",
						    "SECRET_KEY", "SECRET", "_CREDENTIALS", "ACCESS_KEY_ID" };

		for (i = 0; i < ARRAY_SIZE(ends); i++) {
			size_t el = strlen(ends[i]);

			if (nlen >= el && strcmp(up + nlen - el, ends[i]) == 0)
				return "name looks like a secret";
		}
		if (strstr(up, "PASSWORD") != NULL || strstr(up, "SECRET") != NULL)
			return "name looks like a secret";
	}
	return NULL;
}

int compliance_image(const json_t *config, const json_t *secret_files,
		     struct compliance_list *out)
{
	const json_t *cfg = NULL, *v;
	size_t n0 = compliance_list_count(out), i;
	int err = 0;
	char q1[COMPLIANCE_QBUF], q2[COMPLIANCE_QBUF];
	const char *s;

	if (jobj(config, "Config") != NULL)
		cfg = jobj(config, "Config");
	else if (jobj(config, "config") != NULL)
		cfg = jobj(config, "config");
	else if (json_is_object(config) &&
		 (json_object_get(config, "User") || json_object_get(config, "Env") ||
		  json_object_get(config, "Healthcheck") || json_object_get(config, "Cmd")))
		cfg = config;
	if (cfg == NULL || out == NULL || (secret_files != NULL && !json_is_array(secret_files)))
		return -EINVAL;

	/* 4.1 user */
	s = jstr(cfg, "User");
	if (s == NULL || s[0] == '\0')
		ADD("4.1", COMPLIANCE_FAIL, "Config.User is empty (the image runs as root)");
	else if (is_root_user(s))
		ADD("4.1", COMPLIANCE_FAIL, "Config.User is %s", compliance_quote(s, q1, sizeof(q1)));
	else
		ADD("4.1", COMPLIANCE_PASS, "Config.User is %s", compliance_quote(s, q1, sizeof(q1)));

	ADD("4.2", COMPLIANCE_NA, "manual check: which base images are trusted is the owner's decision");
	ADD("4.3", COMPLIANCE_NA, "manual check: which packages are needed is the owner's decision");
	ADD("4.4", COMPLIANCE_NA, "manual check: see the image's vulnerability scan");
	ADD("4.5", COMPLIANCE_NA, "content trust is a setting of the client that pulls (DOCKER_CONTENT_TRUST), not of the image");

	/* 4.6 health check */
	if (has_healthcheck(cfg))
		ADD("4.6", COMPLIANCE_PASS, "Config.Healthcheck is set");
	else if (json_array_size(jarr(jobj(cfg, "Healthcheck"), "Test")) > 0)
		ADD("4.6", COMPLIANCE_FAIL, "Config.Healthcheck is NONE (disabled)");
	else
		ADD("4.6", COMPLIANCE_FAIL, "Config.Healthcheck is not set (no HEALTHCHECK instruction)");

	ADD("4.7", COMPLIANCE_NA, "manual check: needs the Dockerfile");
	ADD("4.8", COMPLIANCE_NA, "needs the image's file list (setuid and setgid files in its layers)");
	ADD("4.9", COMPLIANCE_NA, "manual check: needs the Dockerfile");

	/* 4.10 secrets: environment, then files another module found */
	{
		char names[COMPLIANCE_CAUSE_MAX] = "";
		size_t len = 0, nenv = 0;

		json_array_foreach(jarr(cfg, "Env"), i, v) {
			const char *e = json_string_value(v), *eq, *why;

			if (e == NULL || (eq = strchr(e, '=')) == NULL)
				continue;
			why = env_secret_reason(e, (size_t)(eq - e), eq + 1);
			if (why == NULL)
				continue;
			if (nenv++ < 3) {
				char nm[COMPLIANCE_QBUF];
				int w;

				snprintf(nm, sizeof(nm), "%.*s", (int)(eq - e < COMPLIANCE_QUOTE_MAX ? eq - e : COMPLIANCE_QUOTE_MAX), e);
				w = snprintf(names + len, sizeof(names) - len, "%s%s (%s)", len ? ", " : "",
					     compliance_quote(nm, q1, sizeof(q1)), why);
				if (w > 0 && (size_t)w < sizeof(names) - len)
					len += (size_t)w;
			}
		}
		if (nenv > 0) {
			ADD("4.10", COMPLIANCE_FAIL, "Config.Env has %s%s", names,
			    nenv > 3 ? ", and more" : "");
		} else if (json_array_size(secret_files) > 0) {
			const json_t *f = json_array_get(secret_files, 0);

			ADD("4.10", COMPLIANCE_FAIL, "image file %s: %s%s",
			    compliance_quote(jstr(f, "path"), q1, sizeof(q1)),
			    compliance_quote(jstr(f, "reason"), q2, sizeof(q2)),
			    json_array_size(secret_files) > 1 ? ", and more files" : "");
		} else if (secret_files != NULL) {
			ADD("4.10", COMPLIANCE_PASS, "no secret-looking variable in Config.Env and no secret-looking file in the layers");
		} else {
			ADD("4.10", COMPLIANCE_NA, "no secret-looking variable in Config.Env; the image's files were not searched");
		}
	}
	ADD("4.11", COMPLIANCE_NA, "manual check: needs the Dockerfile and the package sources");
	ADD("4.12", COMPLIANCE_NA, "manual check: needs the build's signature verification");
	return 0;
fail:
	compliance_list_truncate(out, n0);
	return err;
}
