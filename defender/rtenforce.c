/*
 * rtenforce: applies the "prevent" and "block" effects of the container runtime policy to the
 * running containers with the primitives of enforce.h (contract in rtenforce.h; what each effect
 * does, and what cannot be enforced, in docs/enforcement.md "Applied by policy").
 *
 * State: the parsed policy and a table of known containers (id, init pid, a deep copy of the
 * workload, the rule that applies, what is marked and attached). Two locks:
 *  - `op` serialises the control calls (set_policy, container, container_gone, stats, free),
 *    which make the slow system calls (fanotify_mark, BPF load and attach);
 *  - `rw` (a read-write lock) guards the policy pointer and the table as the fanotify decision
 *    workers read them. Writers hold it only to change memory, never across a system call, so a
 *    decision waits at most for a pointer swap; and the fanotify group answers every event within
 *    its deadline whatever happens (fail open).
 * A policy is immutable after parsing: set_policy swaps the pointer under the write lock and frees
 * the old one after, when no reader can hold it.
 *
 * Kernel objects: one fanotify group for every container, created at the first container that
 * needs it; one enforce_net rule set per rule of the policy that prevents connections, loaded at
 * the first container that needs it, attached to the cgroup of each container of that rule. A
 * policy change builds the new rule sets, attaches them, then frees the old ones (whose links go).
 * Block requests go to a worker thread with a small queue (a stop takes seconds).
 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "enforce.h"
#include "rtenforce.h"

#define RT_CONTAINERS_MAX 1024
#define RT_PORTS_MAX 256 /* denied outbound ports expanded per rule */
#define RT_EXPAND_MAX 256   /* addresses one CIDR of deniedIPs may expand into (/24, /120) */
#define RT_BLOCK_QUEUE 16
#define RT_BLOCK_TIMEOUT_S 2

/* A deep copy of a struct runtime_workload. */
struct wl {
	char *s[7]; /* container, image, host, namespace, cluster, app id, account id */
	char **labels;
	size_t nlabels;
	int64_t start;
	int tmpfs;
};

struct cont {
	char id[EVENT_CONTAINER_MAX];
	pid_t pid;
	struct wl w;
	int rule;        /* the applicable rule, -1 for none */
	unsigned want;   /* ENFORCE_WATCH_* the rule wants decided (read by the decision workers) */
	unsigned marked; /* ENFORCE_WATCH_* marked in the kernel */
	int net_rule;    /* the rule set attached to its cgroup, -1 for none */
};

struct netset {
	struct enforce_net *n;
	int tried, rc;
	size_t rules;
};

struct blk {
	char id[EVENT_CONTAINER_MAX];
	struct event ev;
	struct runtime_decision d;
};

struct rtenforce {
	rtenforce_report_fn report;
	void *arg;
	char *docker;
	int deadline_ms;

	pthread_mutex_t op;
	pthread_rwlock_t rw;
	struct runtime_policy *pol;   /* rw */
	struct cont **c;              /* rw (writers also hold op) */
	size_t nc;

	/* op only */
	struct enforce_fanotify *fan;
	int fan_rc;
	struct netset *nets;
	size_t nnets;
	size_t unenf_ips, unenf_ports;
	char lsm[ENFORCE_ERR_MAX];

	pthread_mutex_t err_lock;
	char last_error[ENFORCE_ERR_MAX];
	_Atomic uint64_t failures, blocks_ok, blocks_failed;

	pthread_mutex_t bl;
	pthread_cond_t bl_cond;
	struct blk *bq;          /* ring of RT_BLOCK_QUEUE */
	size_t bq_head, bq_len;
	char bl_current[EVENT_CONTAINER_MAX];
	int bl_stop, bl_started;
	pthread_t bl_thread;
};


static void note_failure(struct rtenforce *e, const char *why)
{
	atomic_fetch_add(&e->failures, 1);
	pthread_mutex_lock(&e->err_lock);
	snprintf(e->last_error, sizeof(e->last_error), "%s", why);
	pthread_mutex_unlock(&e->err_lock);
	log_warn("rtenforce: %s", why);
}

static int valid_id(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		return 0;
	for (; id[n]; n++)
		if (!((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')) || n >= 64)
			return 0;
	return n == 64;
}

/* ---- workload copies ------------------------------------------------------------------------- */

static void wl_free(struct wl *w)
{
	for (size_t i = 0; i < 7; i++)
		free(w->s[i]);
	for (size_t i = 0; i < w->nlabels; i++)
		free(w->labels[i]);
	free(w->labels);
	memset(w, 0, sizeof(*w));
}

static int dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int wl_copy(struct wl *dst, const struct runtime_workload *w)
{
	const struct collection_subject *s = &w->subject;
	const char *src[7] = { s->container, s->image, s->host, s->namespace_, s->cluster, s->app_id,
			       s->account_id };

	memset(dst, 0, sizeof(*dst));
	dst->start = w->container_start;
	dst->tmpfs = w->tmp_is_tmpfs;
	for (size_t i = 0; i < 7; i++)
		if (dup_opt(src[i], &dst->s[i]) < 0)
			goto fail;
	if (s->nlabels > 0 && s->labels != NULL) {
		if (s->nlabels > 4096)
			goto fail;
		dst->labels = calloc(s->nlabels, sizeof(*dst->labels));
		if (dst->labels == NULL)
			goto fail;
		for (size_t i = 0; i < s->nlabels; i++) {
			if (dup_opt(s->labels[i] ? s->labels[i] : "", &dst->labels[i]) < 0)
				goto fail;
			dst->nlabels++;
		}
	}
	return 0;
fail:
	wl_free(dst);
	return -ENOMEM;
}

static void wl_view(const struct wl *src, struct runtime_workload *w)
{
	memset(w, 0, sizeof(*w));
	w->subject.container = src->s[0];
	w->subject.image = src->s[1];
	w->subject.host = src->s[2];
	w->subject.namespace_ = src->s[3];
	w->subject.cluster = src->s[4];
	w->subject.app_id = src->s[5];
	w->subject.account_id = src->s[6];
	w->subject.labels = (const char *const *)src->labels;
	w->subject.nlabels = src->nlabels;
	w->container_start = src->start;
	w->tmp_is_tmpfs = src->tmpfs;
}

static void cont_free(struct cont *c)
{
	if (c == NULL)
		return;
	wl_free(&c->w);
	free(c);
}

/* rw held (read or write) */
static struct cont *find(struct rtenforce *e, const char *id, size_t *idx)
{
	for (size_t i = 0; i < e->nc; i++) {
		if (strcmp(e->c[i]->id, id) == 0) {
			if (idx)
				*idx = i;
			return e->c[i];
		}
	}
	return NULL;
}

/* ---- fanotify decisions (worker threads) ------------------------------------------------------ */

static void read_comm(pid_t pid, char *out, size_t len)
{
	char path[64];
	ssize_t n = 0;
	int fd;

	out[0] = 0;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		n = 0;
	out[n] = 0;
	out[strcspn(out, "\n")] = 0;
}

/* The path as the deny lists see it: " (deleted)" dropped (a deleted file keeps its name for
 * the rule), cut at EVENT_PATH_MAX. */
static void req_path(const char *in, char *out, size_t len)
{
	static const char del[] = " (deleted)";
	size_t n = strlen(in);

	if (n >= sizeof(del) - 1 && strcmp(in + n - (sizeof(del) - 1), del) == 0)
		n -= sizeof(del) - 1;
	if (n >= len)
		n = len - 1;
	memcpy(out, in, n);
	out[n] = 0;
}

static int decide(const struct enforce_req *req, void *arg)
{
	struct rtenforce *e = arg;
	struct rtenforce_report rep, *r = &rep;
	struct runtime_workload w;
	struct timespec ts;
	struct cont *c;
	int deny = 0;

	memset(r, 0, sizeof(*r));
	clock_gettime(CLOCK_REALTIME, &ts);
	r->ev.time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	r->ev.pid = r->ev.tgid = (uint32_t)req->pid;

	pthread_rwlock_rdlock(&e->rw);
	c = req->container[0] ? find(e, req->container, NULL) : NULL;
	if (c == NULL || e->pol == NULL || c->rule < 0 || c->want == 0)
		goto out;
	wl_view(&c->w, &w);
	snprintf(r->ev.container, sizeof(r->ev.container), "%s", c->id);
	r->ev.container_known = 1;
	if (req->op == ENFORCE_OP_EXEC && (c->want & ENFORCE_WATCH_EXEC)) {
		r->ev.type = EVENT_EXEC;
		req_path(req->path, r->ev.exec.filename, sizeof(r->ev.exec.filename));
		if (runtime_evaluate(e->pol, NULL, &r->ev, &w, &r->d) == 1 &&
		    r->d.effect == RUNTIME_EFFECT_PREVENT)
			deny = 1;
	}
	/* an exec is also an open of the file: a denied path cannot be executed either */
	if (!deny && (c->want & ENFORCE_WATCH_OPEN)) {
		memset(&r->ev.exec, 0, sizeof(r->ev.exec));
		r->ev.type = EVENT_FILE;
		r->ev.file.op = EVENT_FILE_OPEN;
		req_path(req->path, r->ev.file.path, sizeof(r->ev.file.path));
		if (runtime_evaluate(e->pol, NULL, &r->ev, &w, &r->d) == 1 &&
		    r->d.effect == RUNTIME_EFFECT_PREVENT)
			deny = 1;
	}
out:
	pthread_rwlock_unlock(&e->rw);
	if (deny && e->report != NULL) {
		/* only for the report: the deny lists do not look at it, and most events are allowed */
		read_comm(req->pid, r->ev.comm, sizeof(r->ev.comm));
		memcpy(r->container, r->ev.container, sizeof(r->container));
		r->ok = 1;
		e->report(r, e->arg);
	}
	return deny ? ENFORCE_DENY : ENFORCE_ALLOW;
}

/* ---- network rule sets (op held) -------------------------------------------------------------- */

static void nets_free(struct netset *nets, size_t n)
{
	for (size_t i = 0; nets != NULL && i < n; i++)
		enforce_net_free(nets[i].n);
	free(nets);
}

/* Adds the addresses of one deniedIPs entry: one rule per address for /32, /128 and CIDRs of at
 * most RT_EXPAND_MAX addresses; returns the rules added, -ERANGE for a larger CIDR (not
 * enforceable), or the error of enforce_net_add_rule. */
static int add_prefix(struct enforce_net *n, const struct runtime_net_prefix *pf)
{
	int bits = pf->family == AF_INET ? 32 : 128, host = bits - pf->prefix, added = 0;
	size_t alen = pf->family == AF_INET ? 4 : 16;
	struct enforce_net_rule r;
	uint8_t base[16];
	unsigned count;

	if (host < 0 || (1u << (host > 8 ? 9 : host)) > RT_EXPAND_MAX)
		return -ERANGE;
	count = 1u << host;
	memcpy(base, pf->addr, sizeof(base));
	base[alen - 1] &= (uint8_t)(0xff << host); /* host <= 8: only the last byte has host bits */
	for (unsigned i = 0; i < count; i++) {
		int rc;

		memset(&r, 0, sizeof(r));
		r.family = pf->family;
		memcpy(r.addr, base, alen);
		r.addr[alen - 1] = (uint8_t)(base[alen - 1] | i);
		rc = enforce_net_add_rule(n, &r);
		if (rc < 0)
			return rc;
		added++;
	}
	return added;
}

/* The rule set of rule idx, loaded the first time. 0 and *out (NULL when the rule has no
 * enforceable address), or the load's error (err says why; remembered: not retried until the next
 * policy). */
static int netset_get(struct rtenforce *e, size_t idx, struct enforce_net **out, char *err,
		      size_t errlen)
{
	struct netset *s = &e->nets[idx];
	struct runtime_prevent_info info;
	struct enforce_net *n = NULL;
	int rc;

	*out = NULL;
	if (s->tried) {
		*out = s->n;
		if (s->rc < 0)
			util_set_err(err, errlen, "the network rule set of this rule could not be loaded");
		return s->rc;
	}
	s->tried = 1;
	rc = runtime_rule_prevent_info(e->pol, idx, &info);
	if (rc < 0)
		goto fail;
	rc = enforce_net_new(0, 0, &n, err, errlen);
	malloc_trim(0); /* loading parsed the kernel's BTF (several MiB, freed) */
	if (rc < 0)
		goto fail;
	for (size_t i = 0; i < info.nips; i++) {
		struct runtime_net_prefix pf;
		int added;

		if (runtime_rule_denied_ip(e->pol, idx, i, &pf) < 0)
			continue;
		added = add_prefix(n, &pf);
		if (added == -ERANGE)
			continue; /* counted in set_policy */
		if (added < 0) {
			rc = added;
			util_set_err(err, errlen, "rule %s: cannot add a denied address: %s", info.rule,
				strerror(-rc));
			goto fail;
		}
		s->rules += (size_t)added;
	}
	/* outboundPorts.denied: one "any address" rule per port, at most RT_PORTS_MAX per rule */
	for (size_t i = 0, nports = 0; info.ports && i < info.nports; i++) {
		uint16_t lo, hi;

		if (runtime_rule_denied_ports(e->pol, idx, i, &lo, &hi) < 0 ||
		    (size_t)(hi - lo) + 1 > RT_PORTS_MAX - nports)
			continue; /* counted in set_policy */
		for (uint32_t port = lo; port <= hi; port++) {
			struct enforce_net_rule r = { .family = AF_UNSPEC, .port = (uint16_t)port };

			rc = enforce_net_add_rule(n, &r);
			if (rc < 0) {
				util_set_err(err, errlen, "rule %s: cannot add a denied port: %s", info.rule,
					strerror(-rc));
				goto fail;
			}
			s->rules++;
			nports++;
		}
	}
	if (s->rules == 0) {
		enforce_net_free(n);
		n = NULL;
	}
	s->n = n;
	s->rc = 0;
	*out = n;
	return 0;
fail:
	enforce_net_free(n);
	s->rc = rc;
	return rc;
}

/* ---- applying a container's rule (op held) ---------------------------------------------------- */

static int fan_get(struct rtenforce *e, char *err, size_t errlen)
{
	struct enforce_fanotify_opts o = {
		.decide = decide,
		.decide_arg = e,
		.deadline_ms = e->deadline_ms,
		.on_timeout = ENFORCE_ALLOW,
		.workers = 2,
	};

	if (e->fan != NULL)
		return 0;
	if (e->fan_rc < 0) {
		util_set_err(err, errlen, "no fanotify group (its creation failed: %s)", strerror(-e->fan_rc));
		return e->fan_rc;
	}
	e->fan_rc = enforce_fanotify_new(&o, &e->fan, err, errlen);
	return e->fan_rc;
}

/* Makes the kernel follow what c's rule wants. The first failure is returned (with err) and
 * counted; what could be applied is applied. */
static int apply(struct rtenforce *e, struct cont *c, char *err, size_t errlen)
{
	struct runtime_prevent_info info;
	struct runtime_workload w;
	char why[ENFORCE_ERR_MAX] = "";
	unsigned want = 0, add, drop;
	int rule = -1, net_want = -1, rc = 0, r;

	if (e->pol != NULL) {
		wl_view(&c->w, &w);
		rule = runtime_policy_match(e->pol, &w);
		if (rule < 0)
			rule = -1;
	}
	if (rule >= 0 && runtime_rule_prevent_info(e->pol, (size_t)rule, &info) == 0) {
		want = (info.exec ? ENFORCE_WATCH_EXEC : 0) | (info.open ? ENFORCE_WATCH_OPEN : 0);
		if (info.net || info.ports)
			net_want = rule;
	}
	/* first what the decisions read, then the kernel: an event that arrives in between is
	 * judged by the new rule */
	pthread_rwlock_wrlock(&e->rw);
	c->rule = rule;
	c->want = want;
	pthread_rwlock_unlock(&e->rw);

	add = want & ~c->marked;
	drop = c->marked & ~want;
	if (add != 0) {
		r = fan_get(e, why, sizeof(why));
		if (r == 0)
			/* its volumes and bind mounts too: a denied file on a volume is the user's
			 * file as much as one in the image */
			r = enforce_fanotify_add(e->fan, c->pid, c->id, want | ENFORCE_MOUNTS, why, sizeof(why));
		if (r < 0) {
			if (rc == 0) {
				rc = r;
				util_set_err(err, errlen, "container %.12s: exec/open prevention: %s", c->id, why);
			}
		} else {
			c->marked |= want;
		}
	}
	if (drop != 0 && e->fan != NULL) {
		r = enforce_fanotify_remove(e->fan, c->pid, c->id, drop, why, sizeof(why));
		c->marked &= ~drop; /* the table entry is gone either way */
		if (r < 0 && rc == 0) {
			rc = r;
			util_set_err(err, errlen, "container %.12s: %s", c->id, why);
		}
	}

	if (c->net_rule != net_want) {
		struct enforce_net *n = NULL;

		if (c->net_rule >= 0 && (size_t)c->net_rule < e->nnets && e->nets[c->net_rule].n)
			enforce_net_detach(e->nets[c->net_rule].n, c->id);
		pthread_rwlock_wrlock(&e->rw);
		c->net_rule = -1;
		pthread_rwlock_unlock(&e->rw);
		if (net_want >= 0) {
			r = netset_get(e, (size_t)net_want, &n, why, sizeof(why));
			if (r == 0 && n != NULL)
				r = enforce_net_attach_pid(n, c->pid, c->id, why, sizeof(why));
			if (r < 0) {
				if (rc == 0) {
					rc = r;
					util_set_err(err, errlen, "container %.12s: connection prevention: %s",
						c->id, why);
				}
			} else if (n != NULL) {
				pthread_rwlock_wrlock(&e->rw);
				c->net_rule = net_want;
				pthread_rwlock_unlock(&e->rw);
			}
		}
	}
	if (rc < 0)
		note_failure(e, err != NULL && errlen > 0 ? err : "a primitive failed");
	return rc;
}

/* Takes away c's marks and links (op held; c is no longer in the table or is about to change). */
static void unapply(struct rtenforce *e, struct cont *c)
{
	if (e->fan != NULL && c->marked != 0)
		enforce_fanotify_remove(e->fan, c->pid, c->id, c->marked, NULL, 0);
	c->marked = 0;
	if (c->net_rule >= 0 && (size_t)c->net_rule < e->nnets && e->nets[c->net_rule].n)
		enforce_net_detach(e->nets[c->net_rule].n, c->id);
	pthread_rwlock_wrlock(&e->rw);
	c->net_rule = -1;
	pthread_rwlock_unlock(&e->rw);
}

/* ---- block worker ------------------------------------------------------------------------------ */

static void *block_main(void *arg)
{
	struct rtenforce *e = arg;
	struct rtenforce_report *r = calloc(1, sizeof(*r));
	struct blk *b = malloc(sizeof(*b));

	pthread_mutex_lock(&e->bl);
	for (;;) {
		int rc;

		while (!e->bl_stop && e->bq_len == 0)
			pthread_cond_wait(&e->bl_cond, &e->bl);
		if (e->bl_stop || r == NULL || b == NULL)
			break;
		*b = e->bq[e->bq_head];
		e->bq_head = (e->bq_head + 1) % RT_BLOCK_QUEUE;
		e->bq_len--;
		memcpy(e->bl_current, b->id, sizeof(e->bl_current));
		pthread_mutex_unlock(&e->bl);

		memset(r, 0, sizeof(*r));
		rc = enforce_block_container(e->docker, b->id, ENFORCE_BLOCK_STOP, RT_BLOCK_TIMEOUT_S,
					     r->why, sizeof(r->why));
		memcpy(r->container, b->id, sizeof(r->container));
		r->ev = b->ev;
		r->d = b->d;
		r->ok = rc == 0;
		if (rc == 0)
			r->why[0] = 0;
		atomic_fetch_add(rc == 0 ? &e->blocks_ok : &e->blocks_failed, 1);
		if (e->report)
			e->report(r, e->arg);

		pthread_mutex_lock(&e->bl);
		e->bl_current[0] = 0;
	}
	/* what is still queued is not done: say so */
	while (r != NULL && b != NULL && e->bq_len > 0) {
		*b = e->bq[e->bq_head];
		e->bq_head = (e->bq_head + 1) % RT_BLOCK_QUEUE;
		e->bq_len--;
		memset(r, 0, sizeof(*r));
		memcpy(r->container, b->id, sizeof(r->container));
		r->ev = b->ev;
		r->d = b->d;
		snprintf(r->why, sizeof(r->why), "the Defender stopped before the block was sent");
		atomic_fetch_add(&e->blocks_failed, 1);
		if (e->report)
			e->report(r, e->arg);
	}
	pthread_mutex_unlock(&e->bl);
	free(r);
	free(b);
	return NULL;
}

/* ---- public ------------------------------------------------------------------------------------- */

int rtenforce_new(const struct rtenforce_config *cfg, struct rtenforce **out)
{
	struct rtenforce *e;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->deadline_ms < 0 || cfg->deadline_ms > 10000)
		return -EINVAL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->report = cfg->report;
	e->arg = cfg->arg;
	e->deadline_ms = cfg->deadline_ms;
	pthread_mutex_init(&e->op, NULL);
	pthread_rwlock_init(&e->rw, NULL);
	pthread_mutex_init(&e->err_lock, NULL);
	pthread_mutex_init(&e->bl, NULL);
	pthread_cond_init(&e->bl_cond, NULL);
	e->c = calloc(RT_CONTAINERS_MAX, sizeof(*e->c));
	e->bq = calloc(RT_BLOCK_QUEUE, sizeof(*e->bq));
	if (e->c == NULL || e->bq == NULL || (cfg->docker_addr && !(e->docker = strdup(cfg->docker_addr)))) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&e->bl_thread, NULL, block_main, e);
	if (rc < 0)
		goto fail;
	e->bl_started = 1;
	*out = e;
	return 0;
fail:
	rtenforce_free(e);
	return rc;
}

int rtenforce_set_policy(struct rtenforce *e, const json_t *container_policy, char *err, size_t errlen)
{
	struct runtime_policy *np = NULL, *old;
	struct netset *nn = NULL, *old_nets;
	size_t nrules, old_nnets, ips = 0, ports = 0;
	char why[ENFORCE_ERR_MAX];
	int rc;

	if (e == NULL || container_policy == NULL) {
		util_set_err(err, errlen, "no enforcer or no policy");
		return -EINVAL;
	}
	rc = runtime_policy_from_json(container_policy, &np, err, errlen);
	if (rc < 0)
		return rc;
	nrules = runtime_policy_rules(np);
	nn = calloc(nrules ? nrules : 1, sizeof(*nn));
	if (nn == NULL) {
		runtime_policy_free(np);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nrules; i++) {
		struct runtime_prevent_info info;

		if (runtime_rule_prevent_info(np, i, &info) < 0)
			continue;
		for (size_t k = 0, nports = 0; info.ports && k < info.nports; k++) {
			uint16_t lo, hi;

			if (runtime_rule_denied_ports(np, i, k, &lo, &hi) < 0)
				continue;
			if ((size_t)(hi - lo) + 1 > RT_PORTS_MAX - nports)
				ports++;
			else
				nports += (size_t)(hi - lo) + 1;
		}
		for (size_t k = 0; info.net && k < info.nips; k++) {
			struct runtime_net_prefix pf;
			int host;

			if (runtime_rule_denied_ip(np, i, k, &pf) < 0)
				continue;
			host = (pf.family == AF_INET ? 32 : 128) - pf.prefix;
			if (host > 8)
				ips++;
		}
	}

	pthread_mutex_lock(&e->op);
	pthread_rwlock_wrlock(&e->rw);
	old = e->pol;
	e->pol = np;
	pthread_rwlock_unlock(&e->rw);
	old_nets = e->nets;
	old_nnets = e->nnets;
	e->nets = nn;
	e->nnets = nrules;
	e->unenf_ips = ips;
	e->unenf_ports = ports;
	/* the old rule sets go below, links and all: every container attaches to the new ones */
	pthread_rwlock_wrlock(&e->rw);
	for (size_t i = 0; i < e->nc; i++)
		e->c[i]->net_rule = -1;
	pthread_rwlock_unlock(&e->rw);
	for (size_t i = 0; i < e->nc; i++)
		apply(e, e->c[i], why, sizeof(why));
	nets_free(old_nets, old_nnets);
	pthread_mutex_unlock(&e->op);
	runtime_policy_free(old); /* no reader holds it: they take rw */
	return 0;
}

int rtenforce_container(struct rtenforce *e, const char *id, pid_t init_pid,
			const struct runtime_workload *w, char *err, size_t errlen)
{
	struct cont *c, *nc = NULL;
	int rc;

	if (e == NULL || w == NULL || init_pid <= 0 || !valid_id(id)) {
		util_set_err(err, errlen, "a container needs a 64-hex id, an init pid and a workload");
		return -EINVAL;
	}
	nc = calloc(1, sizeof(*nc));
	if (nc == NULL || wl_copy(&nc->w, w) < 0) {
		cont_free(nc);
		util_set_err(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&e->op);
	c = find(e, id, NULL);
	if (c != NULL && c->pid != init_pid) {
		/* restarted: a new root file system and cgroup; the old ones' marks and links go */
		unapply(e, c);
		c->pid = init_pid;
	}
	if (c != NULL) {
		pthread_rwlock_wrlock(&e->rw);
		wl_free(&c->w);
		c->w = nc->w;
		memset(&nc->w, 0, sizeof(nc->w));
		pthread_rwlock_unlock(&e->rw);
		cont_free(nc);
	} else {
		if (e->nc >= RT_CONTAINERS_MAX) {
			pthread_mutex_unlock(&e->op);
			cont_free(nc);
			util_set_err(err, errlen, "too many containers (%d)", RT_CONTAINERS_MAX);
			note_failure(e, "too many containers to enforce");
			return -ENOSPC;
		}
		c = nc;
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->pid = init_pid;
		c->rule = -1;
		c->net_rule = -1;
		pthread_rwlock_wrlock(&e->rw);
		e->c[e->nc++] = c;
		pthread_rwlock_unlock(&e->rw);
	}
	rc = apply(e, c, err, errlen);
	pthread_mutex_unlock(&e->op);
	return rc;
}

void rtenforce_container_gone(struct rtenforce *e, const char *id)
{
	struct cont *c;
	size_t idx;

	if (e == NULL || id == NULL)
		return;
	pthread_mutex_lock(&e->op);
	pthread_rwlock_wrlock(&e->rw);
	c = find(e, id, &idx);
	if (c != NULL)
		e->c[idx] = e->c[--e->nc];
	pthread_rwlock_unlock(&e->rw);
	if (c != NULL)
		unapply(e, c);
	pthread_mutex_unlock(&e->op);
	cont_free(c);
}

int rtenforce_net_enforced(struct rtenforce *e, const char *id)
{
	struct cont *c;
	int r = 0;

	if (e == NULL || id == NULL)
		return 0;
	pthread_rwlock_rdlock(&e->rw);
	c = find(e, id, NULL);
	if (c != NULL && c->net_rule >= 0)
		r = 1;
	pthread_rwlock_unlock(&e->rw);
	return r;
}

int rtenforce_block(struct rtenforce *e, const char *id, const struct event *ev,
		    const struct runtime_decision *d)
{
	struct blk *b;
	int rc = 0;

	if (e == NULL || id == NULL || id[0] == 0 || strlen(id) >= EVENT_CONTAINER_MAX)
		return -EINVAL;
	pthread_mutex_lock(&e->bl);
	if (strcmp(e->bl_current, id) == 0) {
		rc = -EALREADY;
		goto out;
	}
	for (size_t i = 0; i < e->bq_len; i++) {
		if (strcmp(e->bq[(e->bq_head + i) % RT_BLOCK_QUEUE].id, id) == 0) {
			rc = -EALREADY;
			goto out;
		}
	}
	if (e->bq_len >= RT_BLOCK_QUEUE || e->bl_stop) {
		rc = -ENOMEM;
		goto out;
	}
	b = &e->bq[(e->bq_head + e->bq_len) % RT_BLOCK_QUEUE];
	memset(b, 0, sizeof(*b));
	snprintf(b->id, sizeof(b->id), "%s", id);
	if (ev != NULL)
		b->ev = *ev;
	if (d != NULL)
		b->d = *d;
	else
		b->d.effect = RUNTIME_EFFECT_BLOCK;
	if (b->d.type == NULL)
		b->d.type = "";
	if (b->d.attack_type == NULL)
		b->d.attack_type = "";
	if (b->d.severity == NULL)
		b->d.severity = "";
	e->bq_len++;
	pthread_cond_signal(&e->bl_cond);
out:
	pthread_mutex_unlock(&e->bl);
	return rc;
}

json_t *rtenforce_stats_json(struct rtenforce *e)
{
	struct enforce_fanotify_stats fs;
	struct enforce_net_stats ns = { 0 };
	size_t marked = 0, attached = 0, ncont;
	char last[ENFORCE_ERR_MAX];
	json_t *j;

	if (e == NULL)
		return NULL;
	pthread_mutex_lock(&e->op);
	if (e->lsm[0] == 0) {
		enforce_lsm_probe(e->lsm, sizeof(e->lsm));
		malloc_trim(0); /* the probe parsed the kernel's BTF (several MiB, freed) */
	}
	enforce_fanotify_stats(e->fan, &fs);
	for (size_t i = 0; i < e->nnets; i++) {
		struct enforce_net_stats one;

		if (e->nets[i].n == NULL)
			continue;
		enforce_net_stats(e->nets[i].n, &one);
		ns.allowed += one.allowed;
		ns.denied += one.denied;
		ns.lost += one.lost;
		ns.links += one.links;
	}
	for (size_t i = 0; i < e->nc; i++) {
		marked += e->c[i]->marked != 0;
		attached += e->c[i]->net_rule >= 0;
	}
	ncont = e->nc;
	pthread_mutex_lock(&e->err_lock);
	memcpy(last, e->last_error, sizeof(last));
	pthread_mutex_unlock(&e->err_lock);
	j = json_pack("{s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b},"
		      "s:{s:I,s:I,s:I,s:I,s:I,s:I},"
		      "s:I,s:I,s:s,s:{s:I,s:I},s:s}",
		      "fanotify", "events", (json_int_t)fs.events, "allowed", (json_int_t)fs.allowed,
		      "denied", (json_int_t)fs.denied, "timedOut", (json_int_t)fs.timed_out,
		      "queueFull", (json_int_t)fs.queue_full, "errors", (json_int_t)fs.errors,
		      "maxLatencyUs", (json_int_t)fs.max_latency_us, "marks", (json_int_t)fs.marks,
		      "containers", (json_int_t)marked, "active", e->fan != NULL,
		      "net", "allowed", (json_int_t)ns.allowed, "denied", (json_int_t)ns.denied,
		      "links", (json_int_t)ns.links, "containers", (json_int_t)attached,
		      "unenforcedCIDRs", (json_int_t)e->unenf_ips,
		      "unenforcedPortRanges", (json_int_t)e->unenf_ports,
		      "containers", (json_int_t)ncont, "failures", (json_int_t)atomic_load(&e->failures),
		      "lastError", last,
		      "blocks", "ok", (json_int_t)atomic_load(&e->blocks_ok),
		      "failed", (json_int_t)atomic_load(&e->blocks_failed),
		      "lsm", e->lsm);
	pthread_mutex_unlock(&e->op);
	return j;
}

void rtenforce_free(struct rtenforce *e)
{
	if (e == NULL)
		return;
	if (e->bl_started) {
		pthread_mutex_lock(&e->bl);
		e->bl_stop = 1;
		pthread_cond_broadcast(&e->bl_cond);
		pthread_mutex_unlock(&e->bl);
		pthread_join(e->bl_thread, NULL);
	}
	/* the group first: no decision runs after this, and every mark goes with it */
	enforce_fanotify_free(e->fan);
	nets_free(e->nets, e->nnets);
	for (size_t i = 0; e->c != NULL && i < e->nc; i++)
		cont_free(e->c[i]);
	free(e->c);
	free(e->bq);
	runtime_policy_free(e->pol);
	free(e->docker);
	pthread_cond_destroy(&e->bl_cond);
	pthread_mutex_destroy(&e->bl);
	pthread_mutex_destroy(&e->err_lock);
	pthread_rwlock_destroy(&e->rw);
	pthread_mutex_destroy(&e->op);
	free(e);
}
