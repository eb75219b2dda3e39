/*
 * sensor: the generic part of the runtime sensors (see sensor.h): the back end's thread, the
 * bounded queue to the consumer, container resolution and counters.
 *
 * The queue is a ring of preallocated struct event slots with one producer (the back end's thread)
 * and one consumer; head and tail are monotonic counters published with release/acquire, so
 * neither side takes a lock per event. The consumer sleeps on a condition variable only when the
 * queue is empty and says so in `waiting`; the producer signals only then (both sides use
 * sequentially consistent accesses on head/waiting so one of them always sees the other). The
 * producer never waits unless the configuration is lossless.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <garrison/log.h>

#include "sensor.h"

struct sensor {
	const struct sensor_backend *be;
	void *state;
	struct sensor_config cfg;
	struct sensor_cgroups *cg;

	struct event *slots;
	size_t cap;
	_Atomic uint64_t head; /* written by the producer */
	_Atomic uint64_t tail; /* written by the consumer */
	atomic_int waiting;    /* the consumer sleeps on cv */
	int batching;          /* producer only: commits do not wake the consumer (sensor_batch_*) */
	uint64_t batch_n;      /* producer only: commits since sensor_batch_begin */
	atomic_int pwaiting;   /* a lossless producer sleeps on pcv */
	pthread_mutex_t mu;
	pthread_cond_t cv, pcv;

	pthread_t th;
	int started;
	atomic_int stop;
	atomic_int ended;
	int run_rc;

	_Atomic uint64_t received, malformed, dropped, filtered, delivered, scans;
};

static const struct sensor_backend *const backends[] = { &sensor_backend_bpf, &sensor_backend_replay,
							    &sensor_backend_netlink };

int sensor_families_parse(const char *list, unsigned *out)
{
	static const struct { const char *name; unsigned bits; } fam[] = {
		{ "process", SENSOR_PROCESS }, { "network", SENSOR_NETWORK },
		{ "file", SENSOR_FILE }, { "all", SENSOR_ALL },
	};

	*out = 0;
	while (*list) {
		size_t n = strcspn(list, ","), i;
		for (i = 0; i < sizeof(fam) / sizeof(fam[0]); i++)
			if (strlen(fam[i].name) == n && strncmp(list, fam[i].name, n) == 0)
				break;
		if (i == sizeof(fam) / sizeof(fam[0]))
			return -EINVAL;
		*out |= fam[i].bits;
		list += n + (list[n] == ',');
	}
	return *out ? 0 : -EINVAL;
}

int sensor_syscall_hook_parse(const char *name, int *out)
{
	static const char *const names[] = { [SENSOR_HOOK_AUTO] = "auto",
					     [SENSOR_HOOK_TRACEPOINTS] = "tracepoints",
					     [SENSOR_HOOK_SYS_EXIT] = "sys_exit" };

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		if (strcmp(name, names[i]) == 0) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}

int sensor_open(const char *name, const struct sensor_config *cfg, struct sensor **out, char *err,
		size_t errlen)
{
	const struct sensor_backend *be = NULL;
	struct sensor *s = NULL;
	pthread_condattr_t ca;
	int r;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = 0;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (name != NULL && strcmp(name, backends[i]->name) == 0)
			be = backends[i];
	if (be == NULL) {
		if (err != NULL)
			snprintf(err, errlen, "unknown sensor back end \"%s\"", name ? name : "(null)");
		return -ENOENT;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->be = be;
	s->cfg = *cfg;
	if (s->cfg.families == 0)
		s->cfg.families = SENSOR_ALL;
	if (s->cfg.queue_len == 0)
		s->cfg.queue_len = SENSOR_DEFAULT_QUEUE;
	if (s->cfg.ringbuf_bytes == 0)
		s->cfg.ringbuf_bytes = SENSOR_DEFAULT_RINGBUF;
	if (s->cfg.wakeup_bytes == 0)
		s->cfg.wakeup_bytes = SENSOR_DEFAULT_WAKEUP;
	if (s->cfg.poll_ms == 0)
		s->cfg.poll_ms = SENSOR_DEFAULT_POLL_MS;
	if (s->cfg.fold_ms == 0)
		s->cfg.fold_ms = SENSOR_DEFAULT_FOLD_MS;
	if (s->cfg.syscall_hook < SENSOR_HOOK_AUTO || s->cfg.syscall_hook > SENSOR_HOOK_SYS_EXIT) {
		if (err != NULL)
			snprintf(err, errlen, "unknown syscall hook %d", s->cfg.syscall_hook);
		r = -EINVAL;
		goto fail;
	}
	if (s->cfg.fold_ms > SENSOR_FOLD_MAX_MS) {
		if (err != NULL)
			snprintf(err, errlen, "sensor fold window %d ms over %d", s->cfg.fold_ms, SENSOR_FOLD_MAX_MS);
		r = -EINVAL;
		goto fail;
	}
	if (s->cfg.poll_ms < 1 || s->cfg.poll_ms > 1000) {
		if (err != NULL)
			snprintf(err, errlen, "sensor poll interval %d ms not in 1..1000", s->cfg.poll_ms);
		r = -EINVAL;
		goto fail;
	}
	if (s->cfg.queue_len < 2 || s->cfg.queue_len > SENSOR_QUEUE_MAX) {
		if (err != NULL)
			snprintf(err, errlen, "sensor queue length %zu not in 2..%u", s->cfg.queue_len,
				 SENSOR_QUEUE_MAX);
		r = -EINVAL;
		goto fail;
	}
	s->cap = s->cfg.queue_len;
	/* calloc'ed slots are touched only when used: an idle sensor costs little resident memory. */
	s->slots = calloc(s->cap, sizeof(*s->slots));
	if (s->slots == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cv, &ca);
	pthread_cond_init(&s->pcv, &ca);
	pthread_condattr_destroy(&ca);
	r = sensor_cgroups_new(s->cfg.cgroup_root, &s->cg);
	if (r < 0)
		goto fail_sync;
	r = be->open(&s->cfg, &s->state, err, errlen);
	if (r < 0)
		goto fail_sync;
	*out = s;
	return 0;
fail_sync:
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->pcv);
	pthread_mutex_destroy(&s->mu);
fail:
	sensor_cgroups_free(s->cg);
	free(s->slots);
	free(s);
	return r;
}

static void wake(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	pthread_mutex_lock(mu);
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
}

static void *sensor_thread(void *arg)
{
	struct sensor *s = arg;

	s->run_rc = s->be->run(s->state, s, &s->stop);
	if (s->run_rc < 0 && s->run_rc != -ECANCELED)
		log_warn("sensor %s: stopped: %s", s->be->name, strerror(-s->run_rc));
	atomic_store(&s->ended, 1);
	wake(&s->cv, &s->mu);
	return NULL;
}

int sensor_start(struct sensor *s)
{
	int r;

	if (s->started)
		return -EALREADY;
	r = pthread_create(&s->th, NULL, sensor_thread, s);
	if (r != 0)
		return -r;
	s->started = 1;
	return 0;
}

int sensor_is_runtime_setup(const struct event *ev)
{
	const char *f = ev->exec.filename;

	if (ev->type != EVENT_EXEC)
		return 0;
	if (!event_exec_of_fd(f))
		return 0;
	return strcmp(ev->comm, "runc") == 0 || strncmp(ev->comm, "runc:[", 6) == 0;
}

int sensor_queue_full(struct sensor *s)
{
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);

	return h - atomic_load_explicit(&s->tail, memory_order_acquire) >= s->cap;
}

struct event *sensor_reserve(struct sensor *s)
{
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);

	if (h - t >= s->cap) {
		atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
		return NULL;
	}
	return &s->slots[h % s->cap];
}

void sensor_commit(struct sensor *s)
{
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
	struct event *ev = &s->slots[h % s->cap];

	if (ev->type == EVENT_EXEC && sensor_is_runtime_setup(ev)) {
		if (s->cfg.drop_runtime) {
			atomic_fetch_add_explicit(&s->filtered, 1, memory_order_relaxed);
			return;
		}
		ev->exec.runtime_setup = 1;
	}
	atomic_store(&s->head, h + 1); /* seq_cst: ordered before the load of waiting */
	if (s->batching) {
		s->batch_n++; /* the consumer is woken once, at sensor_batch_end() */
		return;
	}
	if (atomic_load(&s->waiting))
		wake(&s->cv, &s->mu);
}

void sensor_batch_begin(struct sensor *s)
{
	s->batching = 1;
	s->batch_n = 0;
}

void sensor_batch_end(struct sensor *s)
{
	s->batching = 0;
	if (s->batch_n > 0 && atomic_load(&s->waiting))
		wake(&s->cv, &s->mu);
	s->batch_n = 0;
}

int sensor_emit(struct sensor *s, const struct event *ev)
{
	struct event *slot;

	if (s->cfg.drop_runtime &&
	    (sensor_is_runtime_setup(ev) || (ev->type == EVENT_EXEC && ev->exec.runtime_setup))) {
		atomic_fetch_add_explicit(&s->filtered, 1, memory_order_relaxed);
		return 0;
	}
	if (s->cfg.lossless) {
		for (;;) {
			uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
			if (h - atomic_load(&s->tail) < s->cap)
				break;
			if (atomic_load(&s->stop))
				return -ECANCELED;
			pthread_mutex_lock(&s->mu);
			atomic_store(&s->pwaiting, 1);
			if (h - atomic_load(&s->tail) >= s->cap && !atomic_load(&s->stop)) {
				struct timespec ts;
				clock_gettime(CLOCK_MONOTONIC, &ts);
				ts.tv_nsec += 100 * 1000000L;
				if (ts.tv_nsec >= 1000000000L) {
					ts.tv_sec++;
					ts.tv_nsec -= 1000000000L;
				}
				pthread_cond_timedwait(&s->pcv, &s->mu, &ts);
			}
			atomic_store(&s->pwaiting, 0);
			pthread_mutex_unlock(&s->mu);
		}
	}
	slot = sensor_reserve(s);
	if (slot == NULL)
		return 0;
	*slot = *ev;
	sensor_commit(s);
	return 0;
}

void sensor_count_malformed(struct sensor *s)
{
	atomic_fetch_add_explicit(&s->malformed, 1, memory_order_relaxed);
}

void sensor_count_received(struct sensor *s, uint64_t n)
{
	atomic_fetch_add_explicit(&s->received, n, memory_order_relaxed);
}

int sensor_next(struct sensor *s, struct event *ev, int timeout_ms)
{
	uint64_t t = atomic_load_explicit(&s->tail, memory_order_relaxed);
	uint64_t h = atomic_load(&s->head);

	if (h == t) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		if (timeout_ms >= 0) {
			dl.tv_sec += timeout_ms / 1000;
			dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000L;
			}
		}
		pthread_mutex_lock(&s->mu);
		atomic_store(&s->waiting, 1);
		while ((h = atomic_load(&s->head)) == t && !atomic_load(&s->ended)) {
			int r = timeout_ms >= 0 ? pthread_cond_timedwait(&s->cv, &s->mu, &dl)
						: pthread_cond_wait(&s->cv, &s->mu);
			if (r == ETIMEDOUT) {
				h = atomic_load(&s->head);
				break;
			}
		}
		atomic_store(&s->waiting, 0);
		pthread_mutex_unlock(&s->mu);
		if (h == t) {
			/* the producer may have published its last events just before it ended */
			h = atomic_load(&s->head);
			if (h == t)
				return atomic_load(&s->ended) ? -EPIPE : 0;
		}
	}
	*ev = s->slots[t % s->cap];
	atomic_store_explicit(&s->tail, t + 1, memory_order_release);
	if (s->cfg.lossless && atomic_load(&s->pwaiting))
		wake(&s->pcv, &s->mu);
	if (!ev->container_known) {
		sensor_cgroups_resolve(s->cg, ev->cgroup_id, ev->container);
		ev->container_known = 1;
		atomic_store_explicit(&s->scans, sensor_cgroups_scans(s->cg), memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&s->delivered, 1, memory_order_relaxed);
	return 1;
}

void sensor_stats(struct sensor *s, struct sensor_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->backend = s->be->name;
	st->received = atomic_load(&s->received);
	st->malformed = atomic_load(&s->malformed);
	st->dropped = atomic_load(&s->dropped);
	st->filtered = atomic_load(&s->filtered);
	st->delivered = atomic_load(&s->delivered);
	st->cgroup_scans = atomic_load(&s->scans);
	st->running = s->started && !atomic_load(&s->ended);
	if (s->be->counters != NULL)
		s->be->counters(s->state, st);
}

json_t *sensor_stats_json(const struct sensor_stats *st)
{
	json_t *o = json_object(), *ev = json_object();
	uint64_t seen = 0, lost = 0, folded = 0;
	double rate;

	if (o == NULL || ev == NULL)
		goto fail;
	for (int t = 1; t < EVENT_TYPE_MAX; t++) {
		json_t *e = json_pack("{s:I,s:I,s:I}", "seen", (json_int_t)st->seen[t], "lostKernel",
				      (json_int_t)st->lost_kernel[t], "folded", (json_int_t)st->folded[t]);
		if (e == NULL || json_object_set_new(ev, event_type_name((enum event_type)t), e) != 0)
			goto fail;
		seen += st->seen[t];
		lost += st->lost_kernel[t];
		folded += st->folded[t];
	}
	/* Without kernel counters (replay) the records read are what was seen. */
	if (seen == 0)
		seen = st->received;
	rate = seen ? (double)(lost + st->dropped) / (double)seen : 0.0;
	/* json_object_set_new() takes the reference even when it fails. */
	if (json_object_set_new(o, "events", ev) != 0)
		goto fail_ev;
	if (json_object_set_new(o, "backend", json_string(st->backend ? st->backend : "")) != 0 ||
	    json_object_set_new(o, "running", json_boolean(st->running)) != 0 ||
	    json_object_set_new(o, "seen", json_integer((json_int_t)seen)) != 0 ||
	    json_object_set_new(o, "lostKernel", json_integer((json_int_t)lost)) != 0 ||
	    json_object_set_new(o, "received", json_integer((json_int_t)st->received)) != 0 ||
	    json_object_set_new(o, "malformed", json_integer((json_int_t)st->malformed)) != 0 ||
	    json_object_set_new(o, "dropped", json_integer((json_int_t)st->dropped)) != 0 ||
	    json_object_set_new(o, "filtered", json_integer((json_int_t)st->filtered)) != 0 ||
	    json_object_set_new(o, "delivered", json_integer((json_int_t)st->delivered)) != 0 ||
	    json_object_set_new(o, "cgroupScans", json_integer((json_int_t)st->cgroup_scans)) != 0 ||
	    json_object_set_new(o, "ia32Undecoded", json_integer((json_int_t)st->ia32_undecoded)) != 0 ||
	    json_object_set_new(o, "folded", json_integer((json_int_t)folded)) != 0 ||
	    json_object_set_new(o, "foldedDelivered", json_integer((json_int_t)st->fold_delivered)) != 0 ||
	    json_object_set_new(o, "foldCollected", json_integer((json_int_t)st->fold_collected)) != 0 ||
	    json_object_set_new(o, "foldMs", json_integer((json_int_t)st->fold_ms)) != 0 ||
	    json_object_set_new(o, "syscallHook", json_string(st->syscall_hook ? st->syscall_hook : "")) != 0 ||
	    json_object_set_new(o, "dnsHook", json_string(st->dns_hook ? st->dns_hook : "")) != 0 ||
	    json_object_set_new(o, "lossRate", json_real(rate)) != 0)
		goto fail_ev;
	return o;
fail:
	json_decref(ev);
fail_ev:
	json_decref(o);
	return NULL;
}

void sensor_free(struct sensor *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, 1);
	if (s->started) {
		wake(&s->pcv, &s->mu);
		pthread_join(s->th, NULL);
	}
	s->be->close(s->state);
	sensor_cgroups_free(s->cg);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->pcv);
	pthread_mutex_destroy(&s->mu);
	free(s->slots);
	free(s);
}
