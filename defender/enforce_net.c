/*
 * enforce_net: outbound-connection prevention (see enforce.h and docs/enforcement.md) with the cgroup
 * sock_addr programs of bpf/netdeny.bpf.c, loaded from their skeleton.
 *
 * One struct enforce_net is one rule set (the "nd_rules" hash and the mode in "nd_cfg"), attached to
 * any number of cgroup v2 directories; each attachment is four bpf_links (connect4, connect6,
 * sendmsg4, sendmsg6), created with BPF_LINK_CREATE, which for cgroups means multi-attach: the
 * container's other programs keep running, and ours goes away when the link's last descriptor
 * closes, i.e. when enforce_net_free() runs or the process dies. Nothing is pinned.
 *
 * Decision records come from the ring buffer "nd_events"; they are checked for size and their
 * strings bounded before use. The rule parser accepts only what inet_pton(3) accepts, a decimal
 * port 1..65535 or '*', and "/tcp" or "/udp".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "../bpf/netdeny.h"
#include "netdeny.skel.h"
#include "enforce.h"

#include <garrison/util.h>

_Static_assert(sizeof(struct nd_decision) == 56, "nd_decision layout");
_Static_assert(sizeof(struct nd_key) == 20, "nd_key layout");

#define CGROUP2_MAGIC 0x63677270
#define NET_CGROUPS_MAX 256
#define CG_FILE_MAX (64 * 1024)

struct attachment {
	uint64_t cgroup_id;
	char label[ENFORCE_CONTAINER_MAX];
	struct bpf_link *links[4];
};

struct enforce_net {
	struct netdeny_bpf *skel;
	struct ring_buffer *rb;
	struct attachment *att;
	size_t natt;
	size_t nrules;
	/* set during enforce_net_poll() */
	enforce_net_report_fn report;
	void *report_arg;
	int reported;
};


/* ---- rules -------------------------------------------------------------------------------------- */

int enforce_net_rule_parse(const char *s, struct enforce_net_rule *out)
{
	char buf[96], *host, *port, *proto;
	size_t n;

	if (s == NULL)
		return -EINVAL;
	n = strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n + 1);
	memset(out, 0, sizeof(*out));
	proto = strrchr(buf, '/');
	if (proto != NULL) {
		*proto++ = 0;
		if (strcmp(proto, "tcp") == 0)
			out->proto = ENFORCE_NET_PROTO_TCP;
		else if (strcmp(proto, "udp") == 0)
			out->proto = ENFORCE_NET_PROTO_UDP;
		else
			return -EINVAL;
	}
	if (buf[0] == '[') {
		char *e = strchr(buf, ']');
		if (e == NULL || e[1] != ':')
			return -EINVAL;
		*e = 0;
		host = buf + 1;
		port = e + 2;
		out->family = AF_INET6;
		if (inet_pton(AF_INET6, host, out->addr) != 1)
			return -EINVAL;
	} else {
		char *c = strrchr(buf, ':');
		if (c == NULL)
			return -EINVAL;
		*c = 0;
		host = buf;
		port = c + 1;
		out->family = AF_INET;
		if (strcmp(host, "*") == 0)
			out->family = AF_UNSPEC;
		else if (strchr(host, ':') != NULL || inet_pton(AF_INET, host, out->addr) != 1)
			return -EINVAL;
	}
	if (strcmp(port, "*") == 0) {
		out->port = 0;
	} else {
		unsigned long v = 0;
		if (port[0] == 0 || strlen(port) > 5)
			return -EINVAL;
		for (const char *p = port; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v == 0 || v > 65535)
			return -EINVAL;
		out->port = (uint16_t)v;
	}
	if (out->family == AF_UNSPEC && out->port == 0)
		return -EINVAL; /* "*:*" would deny every connection */
	return 0;
}

void enforce_net_rule_format(const struct enforce_net_rule *r, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?", port[8] = "*";
	const char *proto = r->proto == ENFORCE_NET_PROTO_TCP ? "/tcp" :
			    r->proto == ENFORCE_NET_PROTO_UDP ? "/udp" : "";

	if (len == 0)
		return;
	if (r->family == AF_UNSPEC)
		snprintf(ip, sizeof(ip), "*");
	else if (inet_ntop(r->family == AF_INET6 ? AF_INET6 : AF_INET, r->addr, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	if (r->port != 0)
		snprintf(port, sizeof(port), "%u", (unsigned)r->port);
	if (r->family == AF_INET6)
		snprintf(buf, len, "[%s]:%s%s", ip, port, proto);
	else
		snprintf(buf, len, "%s:%s%s", ip, port, proto);
}

/* ---- cgroup v2 ------------------------------------------------------------------------------------ */

int enforce_cgroup_dir(pid_t pid, char *out, size_t len)
{
	static const char *mounts[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char path[64], buf[4096], *line, *rel = NULL;
	const char *mnt = NULL;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = 0;
	for (line = buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		if (strncmp(line, "0::", 3) == 0) {
			rel = line + 3;
			break;
		}
		line = nl ? nl + 1 : NULL;
	}
	if (rel == NULL || rel[0] != '/' || strstr(rel, "/..") != NULL)
		return rel == NULL ? -ENOENT : -EBADMSG;
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		struct statfs sf;
		if (statfs(mounts[i], &sf) == 0 && (unsigned long)sf.f_type == CGROUP2_MAGIC) {
			mnt = mounts[i];
			break;
		}
	}
	if (mnt == NULL)
		return -ENOENT;
	if ((size_t)snprintf(out, len, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- the program ------------------------------------------------------------------------------------ */

int enforce_net_probe(char *why, size_t len)
{
	struct netdeny_bpf *skel = netdeny_bpf__open();
	int rc;

	if (skel == NULL) {
		util_set_err(why, len, "unavailable: cannot open the netdeny object: %s", strerror(errno));
		return 0;
	}
	rc = netdeny_bpf__load(skel);
	netdeny_bpf__destroy(skel);
	if (rc != 0) {
		util_set_err(why, len, "unavailable: the kernel refused the cgroup sock_addr program: %s",
			strerror(-rc));
		return 0;
	}
	util_set_err(why, len, "available");
	return 1;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct enforce_net *n = ctx;
	const struct nd_decision *r = data;
	struct enforce_net_decision d;
	static const char *hooks[] = { "?", "connect4", "connect6", "sendmsg4", "sendmsg6" };

	if (size < sizeof(*r))
		return 0;
	memset(&d, 0, sizeof(d));
	d.cgroup_id = r->cgroup_id;
	d.pid = (pid_t)r->tgid;
	d.hook = r->hook < 5 ? hooks[r->hook] : "?";
	if (inet_ntop(r->family == ND_FAMILY_INET6 ? AF_INET6 : AF_INET, r->addr, d.ip, sizeof(d.ip)) == NULL)
		snprintf(d.ip, sizeof(d.ip), "?");
	d.port = r->port;
	d.proto = r->proto;
	d.denied = r->denied != 0;
	memcpy(d.comm, r->comm, 16);
	d.comm[16] = 0;
	for (size_t i = 0; i < n->natt; i++) {
		if (n->att[i].cgroup_id == r->cgroup_id) {
			memcpy(d.container, n->att[i].label, sizeof(d.container));
			break;
		}
	}
	if (n->report)
		n->report(&d, n->report_arg);
	n->reported++;
	return 0;
}

int enforce_net_new(int allow_mode, int report_allowed, struct enforce_net **out, char *err,
		    size_t errlen)
{
	struct enforce_net *n;
	struct nd_config cfg = { .allow_mode = allow_mode ? 1 : 0, .report_allowed = report_allowed ? 1 : 0 };
	uint32_t zero = 0;
	int rc;

	*out = NULL;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	n->att = calloc(NET_CGROUPS_MAX, sizeof(*n->att));
	if (n->att == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	n->skel = netdeny_bpf__open();
	if (n->skel == NULL) {
		rc = -errno;
		util_set_err(err, errlen, "cannot open the netdeny BPF object: %s", strerror(errno));
		goto fail;
	}
	rc = netdeny_bpf__load(n->skel);
	if (rc != 0) {
		util_set_err(err, errlen, "the kernel refused the netdeny program: %s", strerror(-rc));
		goto fail;
	}
	if (bpf_map_update_elem(bpf_map__fd(n->skel->maps.nd_cfg), &zero, &cfg, BPF_ANY) != 0) {
		rc = -errno;
		util_set_err(err, errlen, "cannot configure netdeny: %s", strerror(errno));
		goto fail;
	}
	n->rb = ring_buffer__new(bpf_map__fd(n->skel->maps.nd_events), on_record, n, NULL);
	if (n->rb == NULL) {
		rc = -errno;
		util_set_err(err, errlen, "cannot open the netdeny ring buffer: %s", strerror(errno));
		goto fail;
	}
	*out = n;
	return 0;
fail:
	enforce_net_free(n);
	return rc < 0 ? rc : -EINVAL;
}

int enforce_net_add_rule(struct enforce_net *n, const struct enforce_net_rule *r)
{
	struct nd_key k;
	uint8_t one = 1;

	if (n == NULL || r == NULL ||
	    (r->family != AF_INET && r->family != AF_INET6 && r->family != AF_UNSPEC) ||
	    (r->family == AF_UNSPEC && r->port == 0))
		return -EINVAL;
	if (n->nrules >= ND_RULES_MAX)
		return -E2BIG;
	memset(&k, 0, sizeof(k));
	if (r->family != AF_UNSPEC)
		memcpy(k.addr, r->addr, r->family == AF_INET ? 4 : 16);
	k.port = r->port;
	k.proto = r->proto;
	k.family = r->family == AF_INET ? ND_FAMILY_INET :
		   r->family == AF_INET6 ? ND_FAMILY_INET6 : ND_FAMILY_ANY;
	if (bpf_map_update_elem(bpf_map__fd(n->skel->maps.nd_rules), &k, &one, BPF_ANY) != 0)
		return -errno;
	n->nrules++;
	return 0;
}

int enforce_net_attach_cgroup(struct enforce_net *n, const char *cgroup_dir, const char *container,
			      char *err, size_t errlen)
{
	struct bpf_program *progs[4];
	struct attachment *a;
	struct stat st;
	int fd, rc = 0;

	if (n == NULL || cgroup_dir == NULL)
		return -EINVAL;
	if (n->natt >= NET_CGROUPS_MAX) {
		util_set_err(err, errlen, "too many cgroups (%d)", NET_CGROUPS_MAX);
		return -ENOSPC;
	}
	fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		rc = -errno;
		util_set_err(err, errlen, "%s: %s", cgroup_dir, strerror(errno));
		goto fail;
	}
	a = &n->att[n->natt];
	memset(a, 0, sizeof(*a));
	a->cgroup_id = st.st_ino; /* the cgroup id is the kernfs inode number */
	snprintf(a->label, sizeof(a->label), "%s", container ? container : "");
	progs[0] = n->skel->progs.nd_connect4;
	progs[1] = n->skel->progs.nd_connect6;
	progs[2] = n->skel->progs.nd_sendmsg4;
	progs[3] = n->skel->progs.nd_sendmsg6;
	for (int i = 0; i < 4; i++) {
		a->links[i] = bpf_program__attach_cgroup(progs[i], fd);
		if (a->links[i] == NULL) {
			rc = errno ? -errno : -EINVAL;
			util_set_err(err, errlen, "cannot attach %s to %s: %s", bpf_program__name(progs[i]),
				cgroup_dir, strerror(-rc));
			for (int j = 0; j < i; j++)
				bpf_link__destroy(a->links[j]);
			goto fail;
		}
	}
	n->natt++;
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

int enforce_net_attach_pid(struct enforce_net *n, pid_t pid, const char *container, char *err,
			   size_t errlen)
{
	char dir[ENFORCE_PATH_MAX];
	int rc = enforce_cgroup_dir(pid, dir, sizeof(dir));

	if (rc < 0) {
		util_set_err(err, errlen, "no cgroup v2 directory for process %d: %s", (int)pid, strerror(-rc));
		return rc;
	}
	return enforce_net_attach_cgroup(n, dir, container, err, errlen);
}

int enforce_net_detach(struct enforce_net *n, const char *container)
{
	size_t o = 0;
	int detached = 0;

	if (n == NULL || container == NULL)
		return -EINVAL;
	for (size_t i = 0; i < n->natt; i++) {
		if (strncmp(n->att[i].label, container, ENFORCE_CONTAINER_MAX - 1) == 0) {
			for (int j = 0; j < 4; j++)
				bpf_link__destroy(n->att[i].links[j]);
			detached++;
			continue;
		}
		if (o != i)
			n->att[o] = n->att[i];
		o++;
	}
	n->natt = o;
	return detached;
}

int enforce_net_poll(struct enforce_net *n, int timeout_ms, enforce_net_report_fn report, void *arg)
{
	int rc;

	if (n == NULL)
		return -EINVAL;
	n->report = report;
	n->report_arg = arg;
	n->reported = 0;
	rc = ring_buffer__poll(n->rb, timeout_ms);
	n->report = NULL;
	if (rc < 0 && rc != -EINTR)
		return rc;
	return n->reported;
}

void enforce_net_stats(struct enforce_net *n, struct enforce_net_stats *st)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;

	memset(st, 0, sizeof(*st));
	if (n == NULL || ncpu <= 0)
		return;
	st->links = n->natt * 4;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (vals == NULL)
		return;
	for (uint32_t i = 0; i < ND_CNT_MAX; i++) {
		uint64_t sum = 0;
		if (bpf_map_lookup_elem(bpf_map__fd(n->skel->maps.nd_counters), &i, vals) != 0)
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		if (i == ND_CNT_ALLOWED)
			st->allowed = sum;
		else if (i == ND_CNT_DENIED)
			st->denied = sum;
		else
			st->lost = sum;
	}
	free(vals);
}

void enforce_net_free(struct enforce_net *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; n->att && i < n->natt; i++)
		for (int j = 0; j < 4; j++)
			bpf_link__destroy(n->att[i].links[j]);
	ring_buffer__free(n->rb);
	netdeny_bpf__destroy(n->skel);
	free(n->att);
	free(n);
}
