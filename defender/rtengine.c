/*
 * rtengine: the Defender's runtime engine (rtengine.h): sensor events + inventory workloads +
 * the runtime policy and learned models -> decisions -> throttled audits in the on-disk spool,
 * prevent and block through rtenforce, and what the uplink sends (audits, profiles, status).
 *
 * One engine thread owns the sensor's consumer side, the workload table, the models, the
 * throttle and the events held for containers the inventory does not know yet. Other threads
 * hand it work through queues under e->mu (inventory updates, a validated policy, relearn
 * requests, rtenforce reports), each bounded; the spool and the uplink's send state are under
 * e->sp_mu. The engine never blocks on the uplink: audits are appended to the spool and the
 * uplink is woken; the uplink reads the spool when it can send.
 *
 * Time: throttle windows and model states follow the events' own clock (the latest event time,
 * advanced by the monotonic time elapsed since), so a replayed recording behaves as it did live
 * and a live node behaves by the wall clock.
 */
#include "rtengine.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <garrison/log.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#include "audit.h"
#include "event.h"
#include "rtenforce.h"
#include "runtime.h"
#include "runtime_host.h"
#include "sensor.h"

#define NS_PER_SEC 1000000000ull
#define UPDATES_MAX 65536       /* queued inventory updates */
#define REPORTS_MAX 1024        /* queued rtenforce reports */
#define RELEARN_IDS_MAX 4096    /* profile ids in one relearn request */
#define EVENTS_PER_ROUND 1024   /* sensor events evaluated per round before the queues again */
#define PROFILES_MIN_MS 5000    /* models rendered at most this often */
#define PROFILES_IDLE_MS 60000  /* and at least this often (states change with time) */
#define MODELS_SAVE_MS 30000    /* learned models written at most this often (and at stop) */
#define SUMMARY_MS 60000        /* the one-line summary in the log */

/* One container as the inventory describes it (what rules, models and audits need). */
struct wl {
	char id[65];
	char name[256];
	char image[512];
	char ns[256];
	char cluster[256];
	char **labels;
	size_t nlabels;
	int64_t start;     /* Unix seconds, 0 unknown */
	int pid;
	int running;
	int tmp_tmpfs;
	unsigned gen;      /* the snapshot that last listed it */
	int enforced;      /* told to rtenforce as running */
};

enum upd_kind { UPD_UPSERT, UPD_REMOVE, UPD_SNAP_BEGIN, UPD_SNAP_END };

struct upd {
	struct upd *next;
	enum upd_kind kind;
	struct wl *w;      /* UPSERT (owned) */
	char id[65];       /* REMOVE */
};

struct rep {
	struct rep *next;
	struct rtenforce_report r;
};

struct relearn {
	struct relearn *next;
	int all;
	char **ids;
	size_t nids;
};

struct polset {
	struct runtime_policy *cont, *host;
	int64_t revision;
};

/* The last exec of a process (by tgid), for the processPath of its later events. Direct-mapped:
 * a slot is taken over by the next process that hashes there. */
#define EXE_SLOTS 4096
struct exe_slot {
	uint32_t tgid;
	char container[EVENT_CONTAINER_MAX];
	char path[EVENT_PATH_MAX + 1];
};

struct held {
	struct event ev;
	int64_t since_ms;
};

struct rtengine {
	/* configuration (copied) */
	char data_dir[512], hostname[256], cluster[256], docker_addr[512], backend[32], replay[512];
	char policy_path[600], spool_dir[600], models_path[600];
	int models_unsaved;    /* the models changed since they were last written */
	int64_t last_save_ms;
	int models_save_ms;
	uint64_t learn_ns, dryrun_ns, throttle_ns, spool_bytes;
	int hold_ms, profiles_ms, replay_lossless;
	size_t ringbuf_bytes;   /* the bpf sensor's ring buffer (0: the sensor's default) */
	int fold_ms;            /* the bpf sensor's fold window (0: default, negative: off) */
	int syscall_hook;       /* the bpf sensor's syscall hook (enum sensor_syscall_hook) */
	size_t hold_max;
	rtengine_wake_fn wake;
	void *wake_arg;

	/* the engine thread */
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	struct sensor *sensor;
	int sensor_started, sensor_ended;
	char sensor_why[512];
	struct runtime_models *models;
	struct audit_throttle *throttle;
	struct rtenforce *enf;
	struct polset pol;             /* in force (engine thread) */
	struct wl **wls;               /* sorted by id */
	size_t nwls;
	unsigned snap_gen;
	struct held *held;
	size_t nheld, held_cap;
	struct exe_slot *exe;          /* EXE_SLOTS, or NULL (out of memory: comm only) */
	uint64_t clk_ev_ns;            /* the event clock: latest event time */
	int64_t clk_mono_ms;           /* ... and when it was seen */
	int models_touched;
	int64_t last_render_ms, last_summary_ms;
	int want_wake;
	uint64_t n_events, n_decisions, n_audits, n_held_expired, n_held_overflow;
	uint64_t n_updates_dropped, n_reports_dropped, n_spool_errors;

	/* queues from other threads, and the policy / model status, under mu */
	pthread_mutex_t mu;
	struct upd *upd_head, *upd_tail;
	size_t nupd;
	struct rep *rep_head, *rep_tail;
	size_t nrep;
	struct relearn *rl_head, *rl_tail;
	struct polset *pol_pending;
	int64_t pol_revision;
	size_t pol_rules, pol_host_rules;
	char pol_source[16];
	char pol_error[512];
	char *prof_text;               /* the models, rendered (JSON array) */
	int prof_dirty;
	size_t models_count, models_state[3]; /* learning, dryRun, active */

	/* the spool and the uplink's send state, under sp_mu */
	pthread_mutex_t sp_mu;
	struct audit_spool *spool;
	uint64_t send_next;            /* next seq to offer; 0: the oldest unacknowledged */
	uint64_t inflight[PROTO_RT_AUDITS_INFLIGHT]; /* last seq of each message awaiting its ack */
	size_t ninflight;
	int prof_force;
};

/* ---- small helpers ---- */

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		n = 0; /* too long for its field: untrusted, leave it unknown rather than cut it */
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* Copies src cut to size - 1 bytes (our own sentences). */
static void copy_trunc(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		n = size - 1;
	memcpy(dst, src, n);
	dst[n] = 0;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* The event clock (see the top of the file). */
static uint64_t engine_now_ns(const struct rtengine *e)
{
	if (e->clk_ev_ns == 0)
		return wall_ns();
	return e->clk_ev_ns + (uint64_t)(util_now_ms() - e->clk_mono_ms) * 1000000ull;
}

/* RFC 3339 as Docker writes it ("2026-11-27T03:26:57.123456789Z") to Unix seconds; 0 when it
 * does not parse or is before 1970 (Docker's "0001-01-01T00:00:00Z": never started). */
static int64_t parse_rfc3339(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	time_t t;

	if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return 0;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	/* An offset (+hh:mm) after the fraction: Docker writes UTC, but be exact when it does not. */
	s += n;
	while (*s == '.' || (*s >= '0' && *s <= '9'))
		s++;
	if ((*s == '+' || *s == '-') && s[1] && s[2] && s[3] == ':') {
		int oh = 0, om = 0;
		if (sscanf(s + 1, "%2d:%2d", &oh, &om) == 2)
			t += (*s == '+' ? -1 : 1) * (time_t)(oh * 3600 + om * 60);
	}
	return (int64_t)t;
}

static int is_hex64(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 64;
}

static void wl_free(struct wl *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->nlabels; i++)
		free(w->labels[i]);
	free(w->labels);
	free(w);
}

/* A container record (docs/inventory.md) to a workload; NULL when it has no valid id or out of
 * memory. Members of the wrong type or too long are left unknown. */
static struct wl *wl_from_json(const json_t *c)
{
	struct wl *w;
	const json_t *labels, *mounts, *m;
	size_t i;

	if (!json_is_object(c) || !is_hex64(jstr(c, "id")))
		return NULL;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return NULL;
	copy_str(w->id, sizeof(w->id), jstr(c, "id"));
	copy_str(w->name, sizeof(w->name), jstr(c, "name"));
	copy_str(w->image, sizeof(w->image), jstr(c, "image"));
	copy_str(w->ns, sizeof(w->ns), jstr(c, "namespace"));
	copy_str(w->cluster, sizeof(w->cluster), jstr(c, "cluster"));
	w->start = parse_rfc3339(json_string_value(json_object_get(c, "startTime")));
	if (json_is_integer(json_object_get(c, "pid"))) {
		json_int_t p = json_integer_value(json_object_get(c, "pid"));
		w->pid = p > 0 && p <= 4194304 ? (int)p : 0;
	}
	w->running = strcmp(jstr(c, "state"), "running") == 0;
	labels = json_object_get(c, "labels");
	if (json_is_array(labels) && json_array_size(labels) > 0) {
		size_t n = json_array_size(labels);
		if (n > RTENGINE_LABELS_MAX)
			n = RTENGINE_LABELS_MAX;
		w->labels = calloc(n, sizeof(*w->labels));
		if (w->labels == NULL)
			goto fail;
		for (i = 0; i < n; i++) {
			const char *l = json_string_value(json_array_get(labels, i));
			if (l == NULL || strlen(l) > 2048)
				continue;
			if ((w->labels[w->nlabels] = strdup(l)) == NULL)
				goto fail;
			w->nlabels++;
		}
	}
	mounts = json_object_get(c, "mounts");
	json_array_foreach(mounts, i, m) {
		if (strcmp(jstr(m, "destination"), "/tmp") == 0 && strcmp(jstr(m, "type"), "tmpfs") == 0)
			w->tmp_tmpfs = 1;
	}
	return w;
fail:
	wl_free(w);
	return NULL;
}

/* Index of id in the sorted table, or where it would go (*found 0). */
static size_t wl_pos(const struct rtengine *e, const char *id, int *found)
{
	size_t lo = 0, hi = e->nwls;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->wls[mid]->id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct wl *wl_find(const struct rtengine *e, const char *id)
{
	int found;
	size_t i;

	if (id == NULL || id[0] == 0 || e->nwls == 0)
		return NULL;
	i = wl_pos(e, id, &found);
	return found ? e->wls[i] : NULL;
}

static void wl_subject(const struct rtengine *e, const struct wl *w, const char *id,
		       struct runtime_workload *rw)
{
	memset(rw, 0, sizeof(*rw));
	rw->subject.host = e->hostname;
	if (w) {
		rw->subject.container = w->name;
		rw->subject.image = w->image;
		rw->subject.namespace_ = w->ns;
		rw->subject.cluster = w->cluster[0] ? w->cluster : e->cluster;
		rw->subject.labels = (const char *const *)w->labels;
		rw->subject.nlabels = w->nlabels;
		rw->container_start = w->start;
		rw->tmp_is_tmpfs = w->tmp_tmpfs;
	} else if (id) {
		/* Not (yet) known to the inventory: only its id. */
		rw->subject.container = id;
		rw->subject.cluster = e->cluster;
	} else {
		rw->subject.cluster = e->cluster; /* the host */
	}
}

/* Tells rtenforce what changed for w (running with an init pid, or not). */
static void wl_enforce(struct rtengine *e, struct wl *w)
{
	struct runtime_workload rw;
	char err[256] = "";
	int r;

	if (e->enf == NULL)
		return;
	if (w->running && w->pid > 0) {
		wl_subject(e, w, w->id, &rw);
		r = rtenforce_container(e->enf, w->id, w->pid, &rw, err, sizeof(err));
		if (r < 0 && r != -ENOSYS)
			log_warn("runtime: container %.12s runs without enforcement: %s", w->id,
				 err[0] ? err : strerror(-r));
		w->enforced = 1;
	} else if (w->enforced) {
		rtenforce_container_gone(e->enf, w->id);
		w->enforced = 0;
	}
}

static void wl_remove_at(struct rtengine *e, size_t i)
{
	struct wl *w = e->wls[i];

	if (e->enf && w->enforced)
		rtenforce_container_gone(e->enf, w->id);
	wl_free(w);
	memmove(&e->wls[i], &e->wls[i + 1], (e->nwls - i - 1) * sizeof(*e->wls));
	e->nwls--;
}

/* Takes ownership of w. */
static void wl_upsert(struct rtengine *e, struct wl *w)
{
	int found;
	size_t i = wl_pos(e, w->id, &found);

	w->gen = e->snap_gen;
	if (found) {
		w->enforced = e->wls[i]->enforced;
		wl_free(e->wls[i]);
		e->wls[i] = w;
	} else {
		struct wl **nv;
		if (e->nwls >= RTENGINE_WORKLOADS_MAX) {
			log_warn("runtime: more than %d containers; %.12s is left out", RTENGINE_WORKLOADS_MAX,
				 w->id);
			wl_free(w);
			return;
		}
		nv = realloc(e->wls, (e->nwls + 1) * sizeof(*e->wls));
		if (nv == NULL) {
			wl_free(w);
			return;
		}
		e->wls = nv;
		memmove(&e->wls[i + 1], &e->wls[i], (e->nwls - i) * sizeof(*e->wls));
		e->wls[i] = w;
		e->nwls++;
	}
	wl_enforce(e, w);
}

/* ---- policies ---- */

static void polset_clear(struct polset *p)
{
	runtime_policy_free(p->cont);
	runtime_policy_free(p->host);
	p->cont = p->host = NULL;
}

/* Validates a runtime-policy message into *out. 0, or -EINVAL/-ENOMEM with a sentence. */
static int policy_parse(const json_t *msg, struct polset *out, char *err, size_t errlen)
{
	const json_t *c, *h, *rev;
	char why[512] = "";
	int r;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(msg)) {
		snprintf(err, errlen, "runtime-policy: not an object");
		return -EINVAL;
	}
	rev = json_object_get(msg, "revision");
	if (rev && !json_is_integer(rev)) {
		snprintf(err, errlen, "runtime-policy: revision is not an integer");
		return -EINVAL;
	}
	out->revision = rev ? (int64_t)json_integer_value(rev) : 0;
	c = json_object_get(msg, "container");
	h = json_object_get(msg, "host");
	if (c && !json_is_null(c)) {
		r = runtime_policy_from_json(c, &out->cont, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "runtime-policy: container: %s", why[0] ? why : strerror(-r));
			goto fail;
		}
	}
	if (h && !json_is_null(h)) {
		r = runtime_host_policy_from_json(h, &out->host, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "runtime-policy: host: %s", why[0] ? why : strerror(-r));
			goto fail;
		}
	}
	return 0;
fail:
	polset_clear(out);
	return r;
}

/* Accepts a validated policy: rtenforce, the pending slot for the engine, the status. */
static void policy_accept(struct rtengine *e, const json_t *msg, struct polset *ps, const char *source)
{
	struct polset *np = malloc(sizeof(*np));
	const json_t *c = json_object_get(msg, "container");
	size_t nc = ps->cont ? runtime_policy_rules(ps->cont) : 0;
	size_t nh = ps->host ? runtime_policy_rules(ps->host) : 0;
	int64_t rev = ps->revision;
	char err[512] = "";
	int r;

	if (e->enf) {
		json_t *empty = NULL;
		if (c == NULL || json_is_null(c))
			c = empty = json_pack("{s:[]}", "rules");
		r = c ? rtenforce_set_policy(e->enf, c, err, sizeof(err)) : -ENOMEM;
		if (r < 0 && r != -ENOSYS)
			log_warn("runtime: enforcement did not take the policy: %s", err[0] ? err : strerror(-r));
		json_decref(empty);
	}
	pthread_mutex_lock(&e->mu);
	e->pol_revision = rev;
	e->pol_rules = nc;
	e->pol_host_rules = nh;
	snprintf(e->pol_source, sizeof(e->pol_source), "%s", source);
	e->pol_error[0] = 0;
	if (np) {
		*np = *ps;
		if (e->pol_pending) {
			polset_clear(e->pol_pending);
			free(e->pol_pending);
		}
		e->pol_pending = np;
	}
	pthread_mutex_unlock(&e->mu);
	if (np == NULL)
		polset_clear(ps);
	log_info("runtime: policy revision %" PRId64 " in force (%zu container rules, %zu host rules, "
		 "from %s)", rev, nc, nh, source);
}

static void policy_error(struct rtengine *e, const char *why, const char *then)
{
	pthread_mutex_lock(&e->mu);
	copy_trunc(e->pol_error, sizeof(e->pol_error), why);
	pthread_mutex_unlock(&e->mu);
	log_warn("runtime: %s; %s", why, then);
}

int rtengine_set_policy(struct rtengine *e, const json_t *msg, char *err, size_t errlen)
{
	struct polset ps;
	char why[600];
	char *text = NULL;
	int r;

	r = policy_parse(msg, &ps, why, sizeof(why));
	if (r < 0) {
		policy_error(e, why, "the previous policy stays in force");
		snprintf(err, errlen, "%s", why);
		return r;
	}
	/* Persist first: enforcement must survive a restart without the Console. */
	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL || strlen(text) > RTENGINE_POLICY_MAX) {
		log_warn("runtime: the policy is too large to keep in %s; it is enforced until a restart",
			 e->policy_path);
	} else if ((r = util_write_file(e->policy_path, text, strlen(text), 0600)) < 0) {
		log_warn("runtime: cannot write %s: %s; the policy is enforced until a restart",
			 e->policy_path, strerror(-r));
	}
	free(text);
	policy_accept(e, msg, &ps, "console");
	return 0;
}

#define DISK_THEN "no runtime policy until the Console sends one"

static void policy_load_disk(struct rtengine *e)
{
	struct polset ps;
	char *text = NULL, why[600];
	json_t *msg;
	json_error_t je;
	int r;

	r = util_read_file(e->policy_path, RTENGINE_POLICY_MAX, &text, NULL);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		snprintf(why, sizeof(why), "%.400s: %.150s", e->policy_path, strerror(-r));
		policy_error(e, why, DISK_THEN);
		return;
	}
	msg = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (msg == NULL) {
		snprintf(why, sizeof(why), "%.300s: line %d: %.160s", e->policy_path, je.line, je.text);
		policy_error(e, why, DISK_THEN);
		return;
	}
	r = policy_parse(msg, &ps, why, sizeof(why));
	if (r < 0) {
		char w2[700];
		snprintf(w2, sizeof(w2), "%.100s: %.590s", e->policy_path, why);
		policy_error(e, w2, DISK_THEN);
	} else {
		policy_accept(e, msg, &ps, "disk");
	}
	json_decref(msg);
}

/* ---- inventory (any thread) ---- */

static void upd_push_locked(struct rtengine *e, struct upd *u)
{
	u->next = NULL;
	if (e->upd_tail)
		e->upd_tail->next = u;
	else
		e->upd_head = u;
	e->upd_tail = u;
	e->nupd++;
}

static int upd_add_locked(struct rtengine *e, enum upd_kind kind, struct wl *w, const char *id)
{
	struct upd *u;

	if (e->nupd >= UPDATES_MAX || (u = calloc(1, sizeof(*u))) == NULL) {
		e->n_updates_dropped++;
		wl_free(w);
		return -ENOBUFS;
	}
	u->kind = kind;
	u->w = w;
	if (id)
		copy_str(u->id, sizeof(u->id), id);
	upd_push_locked(e, u);
	return 0;
}

void rtengine_on_inventory(struct rtengine *e, const json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));
	const json_t *cs, *c;
	size_t i;

	if (e == NULL || type == NULL)
		return;
	if (strcmp(type, "inventory") == 0) {
		json_int_t part = json_integer_value(json_object_get(msg, "part"));
		json_int_t parts = json_integer_value(json_object_get(msg, "parts"));
		struct wl **v;
		size_t n = 0;

		if (part <= 0)
			part = parts = 1;
		cs = json_object_get(msg, "containers");
		/* Build outside the lock: parsing a snapshot must not hold up the engine. */
		v = calloc(json_array_size(cs) + 1, sizeof(*v));
		if (v == NULL)
			return;
		json_array_foreach(cs, i, c) {
			if ((v[n] = wl_from_json(c)) != NULL)
				n++;
		}
		pthread_mutex_lock(&e->mu);
		if (part == 1)
			upd_add_locked(e, UPD_SNAP_BEGIN, NULL, NULL);
		for (i = 0; i < n; i++)
			upd_add_locked(e, UPD_UPSERT, v[i], NULL);
		if (part >= parts)
			upd_add_locked(e, UPD_SNAP_END, NULL, NULL);
		pthread_mutex_unlock(&e->mu);
		free(v);
	} else if (strcmp(type, "container") == 0) {
		struct wl *w = wl_from_json(json_object_get(msg, "container"));
		if (w == NULL)
			return;
		pthread_mutex_lock(&e->mu);
		upd_add_locked(e, UPD_UPSERT, w, NULL);
		pthread_mutex_unlock(&e->mu);
	} else if (strcmp(type, "container-removed") == 0) {
		const char *id = jstr(msg, "id");
		if (!is_hex64(id))
			return;
		pthread_mutex_lock(&e->mu);
		upd_add_locked(e, UPD_REMOVE, NULL, id);
		pthread_mutex_unlock(&e->mu);
	}
}

/* ---- relearn (any thread) ---- */

static void relearn_free(struct relearn *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nids; i++)
		free(r->ids[i]);
	free(r->ids);
	free(r);
}

int rtengine_relearn(struct rtengine *e, const json_t *msg)
{
	const json_t *ids = json_object_get(msg, "profiles"), *v;
	struct relearn *r;
	size_t i;

	if (!json_is_true(json_object_get(msg, "all")) && !json_is_array(ids))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->all = json_is_true(json_object_get(msg, "all"));
	if (!r->all) {
		size_t n = json_array_size(ids);
		if (n > RELEARN_IDS_MAX)
			n = RELEARN_IDS_MAX;
		r->ids = calloc(n + 1, sizeof(*r->ids));
		if (r->ids == NULL) {
			relearn_free(r);
			return -ENOMEM;
		}
		json_array_foreach(ids, i, v) {
			if (i >= n)
				break;
			if (json_is_string(v) && json_string_length(v) < 2048 &&
			    (r->ids[r->nids] = strdup(json_string_value(v))) != NULL)
				r->nids++;
		}
	}
	pthread_mutex_lock(&e->mu);
	if (e->rl_tail)
		e->rl_tail->next = r;
	else
		e->rl_head = r;
	e->rl_tail = r;
	pthread_mutex_unlock(&e->mu);
	log_info("runtime: relearn requested (%s)", r->all ? "all models" : "some models");
	return 0;
}

/* ---- enforcement reports (rtenforce's threads) ---- */

static void on_report(const struct rtenforce_report *r, void *arg)
{
	struct rtengine *e = arg;
	struct rep *p;

	pthread_mutex_lock(&e->mu);
	if (e->nrep >= REPORTS_MAX || (p = malloc(sizeof(*p))) == NULL) {
		e->n_reports_dropped++;
		pthread_mutex_unlock(&e->mu);
		return;
	}
	p->next = NULL;
	p->r = *r;
	if (e->rep_tail)
		e->rep_tail->next = p;
	else
		e->rep_head = p;
	e->rep_tail = p;
	e->nrep++;
	pthread_mutex_unlock(&e->mu);
}

/* ---- audits (engine thread) ---- */

/* Throttle output: into the spool. */
static void emit_audit(const struct audit_record *r, void *arg)
{
	struct rtengine *e = arg;
	int rc;

	pthread_mutex_lock(&e->sp_mu);
	rc = audit_spool_append_record(e->spool, r, NULL);
	pthread_mutex_unlock(&e->sp_mu);
	if (rc < 0) {
		if (e->n_spool_errors++ % 1000 == 0)
			log_warn("runtime: cannot spool an audit: %s", strerror(-rc));
		return;
	}
	e->n_audits++;
	e->want_wake = 1;
}

/* Builds the audit of decision d on ev from workload w (NULL: unknown or host) with the given
 * effect; note (may be NULL) is added to the message. Offers it to the throttle. */
static void audit(struct rtengine *e, const struct event *ev, const struct wl *w,
		  const struct runtime_decision *d, const char *effect, const char *note)
{
	struct audit_record r;
	const char *cluster = w && w->cluster[0] ? w->cluster : e->cluster;
	struct audit_key k = {
		.type = d->type, .attack_type = d->attack_type, .effect = effect,
		.container_id = ev->container, .image_name = w ? w->image : "",
		.namespace_ = w ? w->ns : "", .cluster = cluster, .hostname = e->hostname,
	};
	uint64_t now = ev->time_ns ? ev->time_ns : engine_now_ns(e);

	/* A repeat within its throttle window is only counted: no record to build. */
	if (audit_throttle_repeat(e->throttle, &k, now, 1 + (uint64_t)ev->repeats) == 1)
		return;
	memset(&r, 0, sizeof(r));
	r.time_ns = now;
	copy_str(r.type, sizeof(r.type), d->type);
	copy_str(r.attack_type, sizeof(r.attack_type), d->attack_type);
	copy_str(r.effect, sizeof(r.effect), effect);
	copy_str(r.severity, sizeof(r.severity), d->severity);
	if (note && note[0])
		snprintf(r.msg, sizeof(r.msg), "%.400s (%.100s)", d->msg, note);
	else
		copy_str(r.msg, sizeof(r.msg), d->msg);
	copy_str(r.rule_name, sizeof(r.rule_name), d->rule);
	copy_str(r.hostname, sizeof(r.hostname), e->hostname);
	copy_str(r.cluster, sizeof(r.cluster), cluster);
	if (w) {
		copy_str(r.namespace_, sizeof(r.namespace_), w->ns);
		copy_str(r.container_name, sizeof(r.container_name), w->name);
		copy_str(r.image_name, sizeof(r.image_name), w->image);
	}
	copy_str(r.container_id, sizeof(r.container_id), ev->container);
	r.pid = ev->tgid ? ev->tgid : ev->pid;
	if (ev->type == EVENT_EXEC && ev->exec.filename[0]) {
		copy_str(r.process_path, sizeof(r.process_path), ev->exec.filename);
	} else {
		const struct exe_slot *x = e->exe ? &e->exe[ev->tgid % EXE_SLOTS] : NULL;
		if (x && ev->tgid && x->tgid == ev->tgid && strcmp(x->container, ev->container) == 0)
			copy_str(r.process_path, sizeof(r.process_path), x->path);
		else
			copy_str(r.process_path, sizeof(r.process_path), ev->comm);
	}
	if (ev->uid == 0)
		snprintf(r.user, sizeof(r.user), "root");
	else
		snprintf(r.user, sizeof(r.user), "%" PRIu32, ev->uid);
	r.count = 1 + (uint64_t)ev->repeats;
	if (audit_throttle_offer(e->throttle, &r) < 0)
		log_warn("runtime: out of memory for the audit throttle; an audit is lost");
}

static void decide(struct rtengine *e, const struct event *ev, const struct wl *w,
		   const struct runtime_decision *d)
{
	const char *id = ev->container;
	int r;

	e->n_decisions++;
	switch (d->effect) {
	case RUNTIME_EFFECT_ALERT:
		audit(e, ev, w, d, "alert", NULL);
		break;
	case RUNTIME_EFFECT_PREVENT:
		/* Only a connect the kernel refused was prevented; everything else the sensor reports
		 * had already happened (exec and open are prevented by rtenforce before they happen,
		 * and come back as its reports). */
		if (ev->type == EVENT_CONNECT && ev->net.result == -EPERM && id[0] && e->enf &&
		    rtenforce_net_enforced(e->enf, id))
			audit(e, ev, w, d, "prevent", NULL);
		else
			audit(e, ev, w, d, "alert", "prevent was not possible: the operation had already "
			      "happened");
		break;
	case RUNTIME_EFFECT_BLOCK:
		if (id[0] == 0) {
			audit(e, ev, w, d, "alert", "block is not possible for a host");
			break;
		}
		r = e->enf ? rtenforce_block(e->enf, id, ev, d) : -ENOTSUP;
		if (r == 0)
			break; /* the report brings the audit */
		if (r == -EALREADY)
			audit(e, ev, w, d, "alert", "a block of this container is under way");
		else {
			char note[128];
			snprintf(note, sizeof(note), "block failed: %s",
				 r == -ENOTSUP ? "enforcement is off" : strerror(-r));
			audit(e, ev, w, d, "alert", note);
		}
		break;
	default:
		break;
	}
}

/* Remembers the file an exec ran, for the process's later events (evaluation order, which is
 * the sensor's order within a container). */
static void exe_note(struct rtengine *e, const struct event *ev)
{
	struct exe_slot *x;

	if (e->exe == NULL || ev->tgid == 0 || ev->exec.filename[0] == 0 || ev->exec.runtime_setup)
		return;
	x = &e->exe[ev->tgid % EXE_SLOTS];
	x->tgid = ev->tgid;
	memcpy(x->container, ev->container, sizeof(x->container));
	memcpy(x->path, ev->exec.filename, sizeof(x->path));
}

/* Evaluates one event; w is its container (NULL: the host, or a container not known). */
static void evaluate(struct rtengine *e, const struct event *ev, const struct wl *w)
{
	struct runtime_workload rw;
	struct runtime_decision d;
	int r;

	if (ev->type == EVENT_EXEC)
		exe_note(e, ev);

	if (ev->container[0] == 0) {
		if (e->pol.host == NULL)
			return;
		wl_subject(e, NULL, NULL, &rw);
		r = runtime_evaluate(e->pol.host, NULL, ev, &rw, &d);
	} else {
		if (e->pol.cont == NULL)
			return;
		wl_subject(e, w, ev->container, &rw);
		/* A container the inventory never described has no model (its image is unknown). */
		r = runtime_evaluate(e->pol.cont, w ? e->models : NULL, ev, &rw, &d);
		if (w)
			e->models_touched = 1;
	}
	if (r == 1)
		decide(e, ev, w, &d);
}

static void apply_reports(struct rtengine *e)
{
	struct rep *p;

	pthread_mutex_lock(&e->mu);
	p = e->rep_head;
	e->rep_head = e->rep_tail = NULL;
	e->nrep = 0;
	pthread_mutex_unlock(&e->mu);
	while (p) {
		struct rep *next = p->next;
		const struct rtenforce_report *r = &p->r;
		const struct wl *w = wl_find(e, r->container);
		struct event ev = r->ev;

		copy_str(ev.container, sizeof(ev.container), r->container);
		if (r->d.effect == RUNTIME_EFFECT_BLOCK && !r->ok) {
			char note[300];
			snprintf(note, sizeof(note), "block failed: %.250s", r->why);
			audit(e, &ev, w, &r->d, "alert", note);
		} else {
			audit(e, &ev, w, &r->d, r->d.effect == RUNTIME_EFFECT_BLOCK ? "block" : "prevent",
			      NULL);
		}
		free(p);
		p = next;
	}
}

/* ---- the engine's round ---- */

static void apply_updates(struct rtengine *e)
{
	struct upd *u;
	struct polset *np;
	struct relearn *rl;

	pthread_mutex_lock(&e->mu);
	u = e->upd_head;
	e->upd_head = e->upd_tail = NULL;
	e->nupd = 0;
	np = e->pol_pending;
	e->pol_pending = NULL;
	rl = e->rl_head;
	e->rl_head = e->rl_tail = NULL;
	pthread_mutex_unlock(&e->mu);

	if (np) {
		polset_clear(&e->pol);
		e->pol = *np;
		free(np);
	}
	while (u) {
		struct upd *next = u->next;
		int found;
		size_t i;

		switch (u->kind) {
		case UPD_SNAP_BEGIN:
			e->snap_gen++;
			break;
		case UPD_UPSERT:
			wl_upsert(e, u->w);
			u->w = NULL;
			break;
		case UPD_REMOVE:
			i = wl_pos(e, u->id, &found);
			if (found)
				wl_remove_at(e, i);
			break;
		case UPD_SNAP_END:
			for (i = 0; i < e->nwls;) {
				if (e->wls[i]->gen != e->snap_gen)
					wl_remove_at(e, i);
				else
					i++;
			}
			break;
		}
		wl_free(u->w);
		free(u);
		u = next;
	}
	while (rl) {
		struct relearn *next = rl->next;
		json_t *all = runtime_models_json(e->models, engine_now_ns(e)), *p;
		size_t i, n = 0;

		json_array_foreach(all, i, p) {
			int hit = rl->all;
			for (size_t k = 0; !hit && k < rl->nids; k++)
				hit = strcmp(rl->ids[k], jstr(p, "_id")) == 0;
			if (hit && runtime_models_reset(e->models, jstr(p, "image"), jstr(p, "namespace"),
							jstr(p, "cluster")) == 0)
				n++;
		}
		json_decref(all);
		log_info("runtime: relearning %zu model(s)", n);
		e->models_touched = 1;
		e->last_render_ms = 0; /* show the reset at once */
		relearn_free(rl);
		rl = next;
	}
}

static void hold(struct rtengine *e, const struct event *ev)
{
	if (e->nheld == e->hold_max) {
		/* Full: the oldest quarter is evaluated now with what is known (its id). */
		size_t n = e->hold_max / 4 ? e->hold_max / 4 : 1;
		for (size_t i = 0; i < n; i++)
			evaluate(e, &e->held[i].ev, wl_find(e, e->held[i].ev.container));
		e->n_held_overflow += n;
		memmove(e->held, e->held + n, (e->nheld - n) * sizeof(*e->held));
		e->nheld -= n;
	}
	if (e->nheld == e->held_cap) {
		size_t cap = e->held_cap ? e->held_cap * 2 : 64;
		struct held *nv;
		if (cap > e->hold_max)
			cap = e->hold_max;
		nv = realloc(e->held, cap * sizeof(*nv));
		if (nv == NULL) {
			evaluate(e, ev, NULL);
			return;
		}
		e->held = nv;
		e->held_cap = cap;
	}
	e->held[e->nheld].ev = *ev;
	e->held[e->nheld].since_ms = util_now_ms();
	e->nheld++;
}

/* Evaluates held events whose container became known, or that waited long enough. Order among
 * the events of one container is kept. Returns how many were evaluated. */
static int release_held(struct rtengine *e)
{
	int64_t now = util_now_ms();
	size_t i, k = 0;
	int n = 0;

	for (i = 0; i < e->nheld; i++) {
		struct held *h = &e->held[i];
		const struct wl *w = wl_find(e, h->ev.container);
		if (w || now - h->since_ms >= e->hold_ms) {
			if (w == NULL)
				e->n_held_expired++;
			evaluate(e, &h->ev, w);
			n++;
		} else {
			if (k != i)
				e->held[k] = *h;
			k++;
		}
	}
	e->nheld = k;
	return n;
}

static void on_event(struct rtengine *e, const struct event *ev)
{
	const struct wl *w = NULL;

	e->n_events++;
	if (ev->time_ns > e->clk_ev_ns) {
		e->clk_ev_ns = ev->time_ns;
		e->clk_mono_ms = util_now_ms();
	}
	if (ev->type == EVENT_EXIT) {
		/* Always allowed, never learned; the process's exec is forgotten. */
		struct exe_slot *x = e->exe ? &e->exe[ev->tgid % EXE_SLOTS] : NULL;
		if (x && ev->pid == ev->tgid && x->tgid == ev->tgid &&
		    strcmp(x->container, ev->container) == 0)
			x->tgid = 0;
		return;
	}
	if (ev->container[0]) {
		w = wl_find(e, ev->container);
		if (w == NULL) {
			hold(e, ev);
			return;
		}
	}
	evaluate(e, ev, w);
}

/* ---- learned models on disk ---- */

/* The models learned before a restart: learning goes on where it stopped (a model whose learning
 * time passed while the Defender was down is active at once). A file that cannot be read or is
 * not valid is set aside as .bad and learning starts again, said in the log. */
static void models_load_disk(struct rtengine *e)
{
	char *text = NULL, why[600], bad[640];
	json_error_t je;
	json_t *j;
	int r;

	r = util_read_file(e->models_path, RTENGINE_MODELS_FILE_MAX, &text, NULL);
	if (r == -ENOENT)
		return;
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", strerror(-r));
	} else if ((j = json_loads(text, 0, &je)) == NULL) {
		snprintf(why, sizeof(why), "not JSON: %s (line %d)", je.text, je.line);
	} else {
		r = runtime_models_load_json(e->models, j, why, sizeof(why));
		json_decref(j);
		if (r == -ENOMEM)
			snprintf(why, sizeof(why), "out of memory");
	}
	free(text);
	if (r == 0) {
		e->models_touched = 1;
		log_info("runtime: learned models restored from %s", e->models_path);
		return;
	}
	snprintf(bad, sizeof(bad), "%s.bad", e->models_path);
	if (rename(e->models_path, bad) != 0)
		snprintf(bad, sizeof(bad), "(not moved: %s)", strerror(errno));
	log_warn("runtime: cannot restore the learned models from %s: %s; models learn again (the file "
		 "is kept as %s)", e->models_path, why, bad);
}

/* Writes the models (atomically): at most every MODELS_SAVE_MS after their rendering changed, and
 * at stop. */
static void models_save_disk(struct rtengine *e)
{
	e->models_unsaved = 0;
	e->last_save_ms = util_now_ms();
	json_t *j = runtime_models_save_json(e->models);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int r;

	json_decref(j);
	if (text == NULL) {
		log_warn("runtime: out of memory: the learned models are not saved");
		return;
	}
	if (strlen(text) > RTENGINE_MODELS_FILE_MAX)
		log_warn("runtime: the learned models are too large to keep in %s (%zu bytes)",
			 e->models_path, strlen(text));
	else if ((r = util_write_file(e->models_path, text, strlen(text), 0600)) < 0)
		log_warn("runtime: cannot write %s: %s", e->models_path, strerror(-r));
	free(text);
}

static void render_profiles(struct rtengine *e, int64_t now_ms)
{
	json_t *arr;
	char *text;
	size_t n, states[3];

	e->last_render_ms = now_ms;
	e->models_touched = 0;
	arr = runtime_models_json(e->models, engine_now_ns(e));
	if (arr == NULL)
		return;
	n = json_array_size(arr);
	memset(states, 0, sizeof(states));
	for (size_t i = 0; i < n; i++) {
		const char *st = jstr(json_array_get(arr, i), "state");
		states[strcmp(st, "learning") == 0 ? 0 : strcmp(st, "dryRun") == 0 ? 1 : 2]++;
	}
	text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (text == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	e->models_count = n;
	memcpy(e->models_state, states, sizeof(states));
	int changed = e->prof_text == NULL || strcmp(e->prof_text, text) != 0;
	if (changed) {
		free(e->prof_text);
		e->prof_text = text;
		text = NULL;
		e->prof_dirty = 1;
		e->want_wake = 1;
	}
	pthread_mutex_unlock(&e->mu);
	free(text);
	if (changed)
		e->models_unsaved = 1;
}

static void summary(struct rtengine *e)
{
	struct audit_spool_stats st;
	struct sensor_stats ss;

	memset(&ss, 0, sizeof(ss));
	if (e->sensor)
		sensor_stats(e->sensor, &ss);
	pthread_mutex_lock(&e->sp_mu);
	audit_spool_stats(e->spool, &st);
	pthread_mutex_unlock(&e->sp_mu);
	pthread_mutex_lock(&e->mu);
	log_info("runtime: sensor %s, %" PRIu64 " events (%" PRIu64 " dropped), %" PRIu64
		 " decisions, %" PRIu64 " audits, %zu held, %zu containers, policy rev %" PRId64
		 " (%s), %zu models, spool next %" PRIu64 " acked %" PRIu64 " dropped %" PRIu64,
		 e->sensor ? (e->sensor_ended ? "ended" : ss.backend) : "none", e->n_events,
		 ss.dropped, e->n_decisions, e->n_audits, e->nheld, e->nwls, e->pol_revision,
		 e->pol_source, e->models_count, st.next_seq, st.acked, st.dropped);
	pthread_mutex_unlock(&e->mu);
}

static int queues_empty(struct rtengine *e)
{
	int empty;

	pthread_mutex_lock(&e->mu);
	empty = e->upd_head == NULL && e->rep_head == NULL && e->rl_head == NULL &&
		e->pol_pending == NULL;
	pthread_mutex_unlock(&e->mu);
	return empty;
}

/* Starts the sensor's thread once (before the engine's thread, or on the first step). */
static void start_sensor(struct rtengine *e)
{
	int r;

	if (e->sensor == NULL || e->sensor_started)
		return;
	e->sensor_started = 1;
	r = sensor_start(e->sensor);
	if (r < 0) {
		snprintf(e->sensor_why, sizeof(e->sensor_why), "the sensor thread did not start: %s",
			 strerror(-r));
		log_warn("runtime: %s", e->sensor_why);
		e->sensor_ended = 1;
	}
}

int rtengine_step(struct rtengine *e, int timeout_ms)
{
	struct event ev;
	int64_t now;
	int n = 0, r;

	start_sensor(e);
	apply_updates(e);
	apply_reports(e);
	if (e->nheld)
		n += release_held(e);
	if (e->sensor && !e->sensor_ended) {
		for (int i = 0; i < EVENTS_PER_ROUND; i++) {
			r = sensor_next(e->sensor, &ev, i == 0 ? timeout_ms : 0);
			if (r == -EPIPE) {
				e->sensor_ended = 1;
				log_info("runtime: the sensor has ended");
				break;
			}
			if (r <= 0)
				break;
			on_event(e, &ev);
			n++;
		}
	} else if (timeout_ms > 0 && e->nheld) {
		usleep((useconds_t)(timeout_ms > 50 ? 50 : timeout_ms) * 1000);
	}
	apply_reports(e);
	audit_throttle_flush(e->throttle, engine_now_ns(e));
	now = util_now_ms();
	/* a model still learning or in dry run changes state with time alone: look again every
	 * profiles_ms (only a changed rendering is sent) */
	if (((e->models_touched || e->models_state[0] + e->models_state[1] > 0) &&
	     now - e->last_render_ms >= e->profiles_ms) ||
	    now - e->last_render_ms >= PROFILES_IDLE_MS)
		render_profiles(e, now);
	if (e->models_unsaved && now - e->last_save_ms >= e->models_save_ms)
		models_save_disk(e);
	if (now - e->last_summary_ms >= SUMMARY_MS) {
		if (e->last_summary_ms)
			summary(e);
		e->last_summary_ms = now;
	}
	if (e->want_wake) {
		e->want_wake = 0;
		if (e->wake)
			e->wake(e->wake_arg);
	}
	if (n == 0 && (e->sensor == NULL || e->sensor_ended) && e->nheld == 0 && queues_empty(e))
		return -EPIPE;
	return n;
}

static void *engine_main(void *arg)
{
	struct rtengine *e = arg;

	while (!atomic_load(&e->stop))
		if (rtengine_step(e, 100) == -EPIPE)
			usleep(100 * 1000);
	return NULL;
}

int rtengine_start(struct rtengine *e)
{
	pthread_attr_t at;
	int r;

	/* Here, so that sensor_why is written before other threads may read it (status). */
	start_sensor(e);
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 1u << 20);
	r = pthread_create(&e->thread, &at, engine_main, e);
	pthread_attr_destroy(&at);
	if (r != 0)
		return -r;
	e->thread_started = 1;
	return 0;
}

/* ---- creation ---- */

static uint64_t env_sec(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long long v;

	if (s == NULL || s[0] == 0)
		return def;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || s[0] == '-' || v > 10ull * 365 * 86400) {
		log_warn("runtime: %s=%s is not a whole number in range; using %" PRIu64, name, s, def);
		return def;
	}
	return (uint64_t)v;
}

void rtengine_config_env(struct rtengine_config *c)
{
	const char *b = getenv("GARRISON_SENSOR_BACKEND"), *rp = getenv("GARRISON_SENSOR_REPLAY");

	c->backend = b && b[0] ? b : "bpf";
	if (rp && rp[0]) {
		c->backend = "replay";
		c->replay_path = rp;
	}
	c->learn_ns = env_sec("GARRISON_MODEL_LEARN_SEC", 3600) * NS_PER_SEC;
	c->dryrun_ns = env_sec("GARRISON_MODEL_DRYRUN_SEC", 0) * NS_PER_SEC;
	c->throttle_ns = env_sec("GARRISON_AUDIT_THROTTLE_SEC", 60) * NS_PER_SEC;
	c->spool_bytes = env_sec("GARRISON_AUDIT_SPOOL_MB", 64) << 20;
	c->ringbuf_bytes = (size_t)env_sec("GARRISON_SENSOR_RINGBUF_MB", 4) << 20;
	uint64_t fold = env_sec("GARRISON_SENSOR_FOLD_MS", SENSOR_DEFAULT_FOLD_MS);
	if (fold > SENSOR_FOLD_MAX_MS) {
		log_warn("runtime: GARRISON_SENSOR_FOLD_MS=%" PRIu64 " is over %d; using %d", fold,
			 SENSOR_FOLD_MAX_MS, SENSOR_DEFAULT_FOLD_MS);
		fold = SENSOR_DEFAULT_FOLD_MS;
	}
	c->fold_ms = fold == 0 ? -1 : (int)fold;
	const char *hook = getenv("GARRISON_SENSOR_SYSCALL_HOOK");
	if (hook != NULL && hook[0] != 0 && sensor_syscall_hook_parse(hook, &c->syscall_hook) != 0) {
		log_warn("runtime: GARRISON_SENSOR_SYSCALL_HOOK=%s is not auto, tracepoints or sys_exit; using auto",
			 hook);
		c->syscall_hook = SENSOR_HOOK_AUTO;
	}
	c->enforce = 1;
}

static void open_sensor(struct rtengine *e)
{
	struct sensor_config sc;
	char err[400] = "", err2[400] = "";
	int r;

	if (e->backend[0] == 0) {
		snprintf(e->sensor_why, sizeof(e->sensor_why), "no sensor back end configured");
		return;
	}
	memset(&sc, 0, sizeof(sc));
	sc.replay_path = e->replay[0] ? e->replay : NULL;
	sc.lossless = strcmp(e->backend, "replay") == 0 && e->replay_lossless;
	sc.ringbuf_bytes = e->ringbuf_bytes;
	sc.fold_ms = e->fold_ms;
	sc.syscall_hook = e->syscall_hook;
	r = sensor_open(e->backend, &sc, &e->sensor, err, sizeof(err));
	if (r == 0) {
		log_info("runtime: sensor back end %s", e->backend);
		return;
	}
	log_warn("runtime: sensor back end %s does not open: %s", e->backend, err[0] ? err : strerror(-r));
	if (strcmp(e->backend, "netlink") != 0 && strcmp(e->backend, "replay") != 0) {
		r = sensor_open("netlink", &sc, &e->sensor, err2, sizeof(err2));
		if (r == 0) {
			log_info("runtime: falling back to the netlink sensor back end");
			snprintf(e->sensor_why, sizeof(e->sensor_why), "%s: %.300s; using netlink",
				 e->backend, err[0] ? err : strerror(-r));
			return;
		}
		if (r == -ENOENT)
			snprintf(err2, sizeof(err2), "no netlink back end in this build");
	}
	snprintf(e->sensor_why, sizeof(e->sensor_why), "%s: %.250s%s%.200s", e->backend,
		 err[0] ? err : "cannot open", err2[0] ? "; " : "", err2);
	e->sensor = NULL;
	log_warn("runtime: running without sensors (%s); the spool is still delivered", e->sensor_why);
}

int rtengine_new(const struct rtengine_config *cfg, struct rtengine **out, char *err, size_t errlen)
{
	struct rtengine *e;
	int r;

	*out = NULL;
	if (cfg->data_dir == NULL || cfg->data_dir[0] == 0) {
		snprintf(err, errlen, "runtime: no data directory");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	pthread_mutex_init(&e->mu, NULL);
	pthread_mutex_init(&e->sp_mu, NULL);
	atomic_init(&e->stop, 0);
	copy_str(e->data_dir, sizeof(e->data_dir), cfg->data_dir);
	copy_str(e->hostname, sizeof(e->hostname), cfg->hostname);
	copy_str(e->cluster, sizeof(e->cluster), cfg->cluster);
	copy_str(e->docker_addr, sizeof(e->docker_addr), cfg->docker_addr);
	copy_str(e->backend, sizeof(e->backend), cfg->backend);
	copy_str(e->replay, sizeof(e->replay), cfg->replay_path);
	snprintf(e->policy_path, sizeof(e->policy_path), "%s/runtime-policy.json", e->data_dir);
	snprintf(e->models_path, sizeof(e->models_path), "%s/runtime-models.json", e->data_dir);
	snprintf(e->spool_dir, sizeof(e->spool_dir), "%s/audits", e->data_dir);
	snprintf(e->pol_source, sizeof(e->pol_source), "none");
	e->learn_ns = cfg->learn_ns;
	e->dryrun_ns = cfg->dryrun_ns;
	e->throttle_ns = cfg->throttle_ns ? cfg->throttle_ns : 60 * NS_PER_SEC;
	e->spool_bytes = cfg->spool_bytes ? cfg->spool_bytes : 64ull << 20;
	e->hold_ms = cfg->hold_ms > 0 ? cfg->hold_ms : RTENGINE_HOLD_MS;
	e->hold_max = cfg->hold_max ? cfg->hold_max : RTENGINE_HOLD_MAX;
	e->profiles_ms = cfg->profiles_ms > 0 ? cfg->profiles_ms : PROFILES_MIN_MS;
	e->models_save_ms = e->profiles_ms < MODELS_SAVE_MS ? MODELS_SAVE_MS : e->profiles_ms;
	e->ringbuf_bytes = cfg->ringbuf_bytes;
	e->fold_ms = cfg->fold_ms;
	e->syscall_hook = cfg->syscall_hook;
	e->replay_lossless = cfg->replay_lossless;
	e->wake = cfg->wake;
	e->wake_arg = cfg->wake_arg;
	e->prof_force = 1;

	r = audit_spool_open(e->spool_dir, e->spool_bytes, &e->spool, err, errlen);
	if (r < 0)
		goto fail;
	e->exe = calloc(EXE_SLOTS, sizeof(*e->exe));
	r = runtime_models_new(e->learn_ns, e->dryrun_ns, &e->models);
	if (r < 0)
		goto fail;
	models_load_disk(e);
	r = audit_throttle_new(e->throttle_ns, 0, emit_audit, e, &e->throttle);
	if (r < 0)
		goto fail;
	if (cfg->enforce) {
		struct rtenforce_config ec = {
			.docker_addr = e->docker_addr[0] ? e->docker_addr : NULL,
			.report = on_report,
			.arg = e,
		};
		r = rtenforce_new(&ec, &e->enf);
		if (r < 0) {
			log_warn("runtime: enforcement is off: %s", strerror(-r));
			e->enf = NULL;
		}
	}
	policy_load_disk(e);
	open_sensor(e);
	*out = e;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err, errlen, "runtime: out of memory");
	rtengine_free(e);
	return r;
}

void rtengine_free(struct rtengine *e)
{
	if (e == NULL)
		return;
	atomic_store(&e->stop, 1);
	if (e->thread_started)
		pthread_join(e->thread, NULL);
	sensor_free(e->sensor);
	/* Enforcement first: its threads may still report; what they reported becomes audits. */
	rtenforce_free(e->enf);
	e->enf = NULL;
	if (e->throttle && e->spool) {
		apply_reports(e);
		audit_throttle_flush(e->throttle, UINT64_MAX);
	}
	audit_throttle_free(e->throttle);
	if (e->models && (e->models_touched || e->models_unsaved))
		models_save_disk(e); /* what was learned since the last save */
	runtime_models_free(e->models);
	polset_clear(&e->pol);
	for (size_t i = 0; i < e->nwls; i++)
		wl_free(e->wls[i]);
	free(e->wls);
	free(e->held);
	free(e->exe);
	while (e->upd_head) {
		struct upd *u = e->upd_head;
		e->upd_head = u->next;
		wl_free(u->w);
		free(u);
	}
	while (e->rep_head) {
		struct rep *p = e->rep_head;
		e->rep_head = p->next;
		free(p);
	}
	while (e->rl_head) {
		struct relearn *rl = e->rl_head;
		e->rl_head = rl->next;
		relearn_free(rl);
	}
	if (e->pol_pending) {
		polset_clear(e->pol_pending);
		free(e->pol_pending);
	}
	free(e->prof_text);
	audit_spool_close(e->spool);
	pthread_mutex_destroy(&e->mu);
	pthread_mutex_destroy(&e->sp_mu);
	free(e);
}

/* ---- for the uplink ---- */

void rtengine_session_begin(struct rtengine *e)
{
	pthread_mutex_lock(&e->sp_mu);
	e->send_next = 0;
	e->ninflight = 0;
	e->prof_force = 1;
	pthread_mutex_unlock(&e->sp_mu);
}

/* The next sequence number to offer (sp_mu held). */
static uint64_t send_from_locked(struct rtengine *e, struct audit_spool_stats *st)
{
	audit_spool_stats(e->spool, st);
	return e->send_next > st->acked ? e->send_next : st->acked + 1;
}

int rtengine_audits_ready(struct rtengine *e)
{
	struct audit_spool_stats st;
	int ready;

	pthread_mutex_lock(&e->sp_mu);
	ready = e->ninflight < PROTO_RT_AUDITS_INFLIGHT && send_from_locked(e, &st) < st.next_seq;
	pthread_mutex_unlock(&e->sp_mu);
	return ready;
}

struct batch {
	json_t *records;
	size_t bytes;
	uint64_t last;
	size_t bad;
};

static int batch_add(uint64_t seq, const void *data, size_t len, void *arg)
{
	struct batch *b = arg;
	json_t *rec;
	const char *cid;

	if (b->bytes > 0 && b->bytes + len > RTENGINE_AUDITS_BYTES)
		return 1; /* the next message takes it */
	b->last = seq;
	b->bytes += len;
	rec = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(rec)) {
		/* The spool's CRC held, so this is our own bug or a foreign file: skip it. */
		json_decref(rec);
		b->bad++;
		return 0;
	}
	cid = json_string_value(json_object_get(rec, "containerId"));
	json_object_del(rec, "timeNs");
	if (json_object_set_new(rec, "seq", json_integer((json_int_t)seq)) < 0 ||
	    json_object_set_new(rec, "kind", json_string(cid && cid[0] ? "container" : "host")) < 0 ||
	    json_array_append_new(b->records, rec) < 0)
		return 1;
	return 0;
}

json_t *rtengine_audits_next(struct rtengine *e)
{
	struct audit_spool_stats st;
	struct batch b = { 0 };
	json_t *msg = NULL;
	uint64_t from;
	ssize_t n;

	pthread_mutex_lock(&e->sp_mu);
	if (e->ninflight >= PROTO_RT_AUDITS_INFLIGHT)
		goto out;
	from = send_from_locked(e, &st);
	if (from >= st.next_seq)
		goto out;
	b.records = json_array();
	if (b.records == NULL)
		goto out;
	n = audit_spool_read(e->spool, from, PROTO_RT_AUDITS_BATCH, batch_add, &b);
	if (n < 0) {
		log_warn("runtime: cannot read the audit spool: %s", strerror((int)-n));
		goto out;
	}
	if (b.last == 0) {
		/* Nothing at or after from (the bound deleted it): jump to the end. */
		e->send_next = st.next_seq;
		goto out;
	}
	e->send_next = b.last + 1;
	if (b.bad)
		log_warn("runtime: %zu spooled audit(s) are not JSON; skipped", b.bad);
	if (json_array_size(b.records) == 0)
		goto out;
	e->inflight[e->ninflight++] = b.last;
	msg = json_pack("{s:s,s:O}", "type", PROTO_RT_AUDITS, "records", b.records);
out:
	pthread_mutex_unlock(&e->sp_mu);
	json_decref(b.records);
	return msg;
}

int rtengine_audits_ack(struct rtengine *e, uint64_t seq)
{
	struct audit_spool_stats st;
	size_t k = 0;
	int r;

	pthread_mutex_lock(&e->sp_mu);
	if (seq == 0 || seq >= send_from_locked(e, &st)) {
		pthread_mutex_unlock(&e->sp_mu);
		return -EINVAL;
	}
	r = audit_spool_ack(e->spool, seq);
	for (size_t i = 0; i < e->ninflight; i++)
		if (e->inflight[i] > seq)
			e->inflight[k++] = e->inflight[i];
	e->ninflight = k;
	pthread_mutex_unlock(&e->sp_mu);
	if (r < 0)
		log_warn("runtime: cannot record the ack of audit %" PRIu64 ": %s", seq, strerror(-r));
	return r;
}

json_t *rtengine_profiles_json(struct rtengine *e, int force)
{
	json_t *arr = NULL, *msg = NULL;
	int take;

	pthread_mutex_lock(&e->sp_mu);
	force |= e->prof_force;
	e->prof_force = 0;
	pthread_mutex_unlock(&e->sp_mu);
	pthread_mutex_lock(&e->mu);
	take = force || e->prof_dirty;
	if (take) {
		e->prof_dirty = 0;
		arr = e->prof_text ? json_loads(e->prof_text, 0, NULL) : json_array();
	}
	pthread_mutex_unlock(&e->mu);
	if (arr)
		msg = json_pack("{s:s,s:o}", "type", PROTO_RT_PROFILES, "profiles", arr);
	return msg;
}

json_t *rtengine_status_json(struct rtengine *e)
{
	struct audit_spool_stats st;
	struct sensor_stats ss;
	json_t *sensor, *enf, *msg;

	if (e->sensor) {
		sensor_stats(e->sensor, &ss);
		sensor = sensor_stats_json(&ss);
		if (sensor && e->sensor_why[0])
			json_object_set_new(sensor, "error", json_string(e->sensor_why));
	} else {
		sensor = json_pack("{s:s,s:b,s:s}", "backend", "none", "running", 0, "error",
				   e->sensor_why);
	}
	enf = e->enf ? rtenforce_stats_json(e->enf) : json_pack("{s:b}", "enabled", 0);
	pthread_mutex_lock(&e->sp_mu);
	audit_spool_stats(e->spool, &st);
	pthread_mutex_unlock(&e->sp_mu);
	pthread_mutex_lock(&e->mu);
	msg = json_pack("{s:s,s:o*,s:o*,s:{s:I,s:I,s:I,s:I,s:I},s:{s:I,s:I,s:I,s:s,s:s},"
			"s:{s:I,s:I,s:I,s:I}}",
			"type", PROTO_RT_STATUS, "sensor", sensor, "enforcement", enf,
			"spool", "nextSeq", (json_int_t)st.next_seq, "acked", (json_int_t)st.acked,
			"dropped", (json_int_t)st.dropped, "corrupt", (json_int_t)st.corrupt, "bytes",
			(json_int_t)st.bytes,
			"policy", "revision", (json_int_t)e->pol_revision, "rules",
			(json_int_t)e->pol_rules, "hostRules", (json_int_t)e->pol_host_rules, "source",
			e->pol_source, "error", e->pol_error,
			"models", "count", (json_int_t)e->models_count, "learning",
			(json_int_t)e->models_state[0], "dryRun", (json_int_t)e->models_state[1],
			"active", (json_int_t)e->models_state[2]);
	pthread_mutex_unlock(&e->mu);
	return msg;
}
