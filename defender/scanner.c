/*
 * scanner: the Defender's scanning thread (see scanner.h). It polls the engine's image and
 * container lists, scans what is new (or older than the interval), writes each record to
 * <data_dir>/scans/ and emits it; on resync it emits every stored record again. Everything the
 * engine answers is untrusted: ids are checked before they reach a path or a URL, and a failure
 * of one image's scan is logged once and retried at the next interval, never fatal.
 */
#include "scanner.h"

#include "docker.h"

#include <garrison/log.h>
#include <garrison/scan.h>
#include <garrison/util.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ID_MAX 80 /* "sha256:" + 64 hex, NUL */

/* One scanned image or container: its id and when it was scanned (wall clock). */
struct seen {
	char id[ID_MAX];
	time_t at;
};

struct seen_set {
	struct seen *v;
	size_t n, cap;
};

struct scanner {
	char *docker_addr, *host_root, *hostname, *dir;
	char sock[128];
	int interval_s;
	scanner_emit_fn emit;
	void *arg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	atomic_int stop, resync;
	struct docker *dk;
	int negotiated;
	struct seen_set images, containers;
	time_t host_at;
	/* status, under mu */
	char scanning[ID_MAX], last_error[256];
};

static int seen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->id, ((const struct seen *)b)->id);
}

static struct seen *seen_find(struct seen_set *s, const char *id)
{
	struct seen key;

	snprintf(key.id, sizeof(key.id), "%s", id);
	return s->n ? bsearch(&key, s->v, s->n, sizeof(*s->v), seen_cmp) : NULL;
}

/* Adds id (kept sorted). 0 or -ENOMEM / -E2BIG. */
static int seen_add(struct seen_set *s, const char *id, time_t at, size_t max)
{
	struct seen *f = seen_find(s, id);

	if (f) {
		f->at = at;
		return 0;
	}
	if (s->n >= max)
		return -E2BIG;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		struct seen *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	snprintf(s->v[s->n].id, sizeof(s->v[s->n].id), "%s", id);
	s->v[s->n++].at = at;
	qsort(s->v, s->n, sizeof(*s->v), seen_cmp);
	return 0;
}

static void set_error(struct scanner *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(struct scanner *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->mu);
	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&s->mu);
}

static void set_scanning(struct scanner *s, const char *what)
{
	pthread_mutex_lock(&s->mu);
	snprintf(s->scanning, sizeof(s->scanning), "%s", what ? what : "");
	pthread_mutex_unlock(&s->mu);
}

/* The file of a record: <dir>/<kind>-<hex>.json ("host.json" for the host). id is checked. */
static int record_path(const struct scanner *s, const char *kind, const char *id, char *buf, size_t len)
{
	const char *hex = id;
	int n;

	if (strcmp(kind, "host") == 0) {
		n = snprintf(buf, len, "%s/host.json", s->dir);
	} else {
		if (strncmp(hex, "sha256:", 7) == 0)
			hex += 7;
		if (!docker_is_container_id(hex)) /* 64 lowercase hex digits, as image ids carry */
			return -EINVAL;
		n = snprintf(buf, len, "%s/%s-%s.json", s->dir, kind, hex);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Stores the message of a record and emits it (the emit callback takes msg). */
static void publish(struct scanner *s, const char *kind, const char *id, json_t *rec)
{
	char path[700];
	json_t *msg = json_pack("{ss ss so}", "type", "scan", "kind", kind, "record", rec);
	char *text;

	if (msg == NULL)
		return;
	if (id && json_object_set_new(msg, "id", json_string(id)) != 0) {
		json_decref(msg);
		return;
	}
	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL || strlen(text) > SCANNER_RECORD_MAX) {
		log_error("scanner: the %s record of %s is too large to send (%zu bytes)", kind,
			  id ? id : s->hostname, text ? strlen(text) : 0);
		free(text);
		json_decref(msg);
		return;
	}
	if (record_path(s, kind, id ? id : "", path, sizeof(path)) == 0) {
		int r = util_write_file(path, text, strlen(text), 0600);
		if (r < 0)
			log_warn("scanner: cannot store %s: %s", path, strerror(-r));
	}
	free(text);
	s->emit(msg, s->arg);
}

static void unpublish(struct scanner *s, const char *kind, const char *id)
{
	char path[700];
	json_t *msg;

	if (record_path(s, kind, id, path, sizeof(path)) == 0)
		unlink(path);
	msg = json_pack("{ss ss ss}", "type", "scan-removed", "kind", kind, "id", id);
	if (msg)
		s->emit(msg, s->arg);
}

/* Emits every stored record again. */
static void resend_all(struct scanner *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;
	size_t sent = 0;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && !atomic_load(&s->stop)) {
		char path[700], *text = NULL;
		size_t len;
		json_t *msg;

		if (e->d_name[0] == '.' || strstr(e->d_name, ".json") == NULL)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (util_read_file(path, SCANNER_RECORD_MAX, &text, &len) < 0)
			continue;
		msg = json_loadb(text, len, 0, NULL);
		free(text);
		if (!json_is_object(msg)) {
			log_warn("scanner: %s is not a stored record; removed", path);
			unlink(path);
			json_decref(msg);
			continue;
		}
		s->emit(msg, s->arg);
		sent++;
	}
	closedir(d);
	log_debug("scanner: %zu stored records sent again", sent);
}

/* Loads what was scanned before a restart: the stored records and their times. */
static void load_seen(struct scanner *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char id[ID_MAX], path[700];
		struct stat st;
		size_t n = strlen(e->d_name);

		if (snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) != 0 || n < 5 || strcmp(e->d_name + n - 5, ".json") != 0)
			continue;
		if (strcmp(e->d_name, "host.json") == 0) {
			s->host_at = st.st_mtime;
		} else if (strncmp(e->d_name, "image-", 6) == 0 && n == 6 + 64 + 5) {
			snprintf(id, sizeof(id), "sha256:%.64s", e->d_name + 6);
			seen_add(&s->images, id, st.st_mtime, SCANNER_IMAGES_MAX);
		} else if (strncmp(e->d_name, "container-", 10) == 0 && n == 10 + 64 + 5) {
			snprintf(id, sizeof(id), "%.64s", e->d_name + 10);
			seen_add(&s->containers, id, st.st_mtime, SCANNER_CONTAINERS_MAX);
		}
	}
	closedir(d);
}

static void scan_image(struct scanner *s, const char *id)
{
	struct image_scan_result *img = NULL;
	char err[512] = "";
	json_t *rec = NULL;
	int64_t t0 = util_now_ms();
	int r;

	set_scanning(s, id);
	r = image_from_engine(s->sock, id, NULL, &img, err, sizeof(err));
	if (r < 0) {
		log_warn("scanner: image %s: %s", id, err[0] ? err : strerror(-r));
		set_error(s, "image %.80s: %.160s", id, err[0] ? err : strerror(-r));
		goto out;
	}
	if (img->pkg_error)
		log_warn("scanner: image %s: %s", id, img->pkg_error);
	if (scan_image_record(img, &rec) < 0)
		goto out;
	/* the engine's id is the image's identity in the inventory */
	json_object_set_new(rec, "_id", json_string(id));
	json_object_set_new(rec, "id", json_string(id));
	log_info("scanner: image %s: %zu packages, %zu layers, %zu secrets, %lld ms", id, img->pkgs.n,
		 img->n_layers, img->n_secrets, (long long)(util_now_ms() - t0));
	publish(s, "image", id, rec);
	rec = NULL;
out:
	set_scanning(s, NULL);
	json_decref(rec);
	image_scan_result_free(img);
}

static void scan_container(struct scanner *s, const char *id)
{
	char path[128];
	json_t *insp = NULL, *rec = NULL;
	int r;

	snprintf(path, sizeof(path), "/containers/%s/json", id);
	r = docker_get_json(s->dk, path, &insp);
	if (r < 0) {
		log_debug("scanner: container %s: %s", id, docker_errmsg(s->dk));
		return;
	}
	r = scan_container_record(insp, &rec);
	json_decref(insp);
	if (r < 0) {
		log_warn("scanner: container %s: cannot check it: %s", id, strerror(-r));
		return;
	}
	publish(s, "container", id, rec);
}

static void scan_host(struct scanner *s)
{
	char err[512] = "";
	json_t *info = NULL, *rec = NULL;
	int r;

	set_scanning(s, "host");
	if (s->negotiated && docker_get_json(s->dk, "/info", &info) < 0)
		info = NULL;
	r = scan_host_record(s->host_root, s->hostname, info, &rec, err, sizeof(err));
	json_decref(info);
	set_scanning(s, NULL);
	if (r < 0) {
		log_warn("scanner: host %s: %s", s->host_root, err[0] ? err : strerror(-r));
		set_error(s, "host: %.200s", err[0] ? err : strerror(-r));
		return;
	}
	publish(s, "host", NULL, rec);
}

/* Ids listed by the engine (images: "Id" of /images/json; containers: of /containers/json),
 * checked, sorted. */
static int list_ids(struct scanner *s, const char *path, int images, struct seen_set *out)
{
	json_t *arr = NULL, *it;
	size_t i;
	int r = docker_get_json(s->dk, path, &arr);

	if (r < 0)
		return r;
	if (!json_is_array(arr)) {
		json_decref(arr);
		return -EBADMSG;
	}
	json_array_foreach(arr, i, it) {
		const char *id = json_string_value(json_object_get(it, "Id"));

		if (id == NULL || !(images ? docker_is_image_id(id) : docker_is_container_id(id)))
			continue;
		if (seen_add(out, id, 0, images ? SCANNER_IMAGES_MAX : SCANNER_CONTAINERS_MAX) < 0)
			break;
	}
	json_decref(arr);
	return 0;
}

/* Scans what is new, forgets what is gone. */
static void sync_kind(struct scanner *s, struct seen_set *known, struct seen_set *now, const char *kind)
{
	time_t t = time(NULL);

	for (size_t i = 0; i < known->n;) {
		if (seen_find(now, known->v[i].id) == NULL) {
			unpublish(s, kind, known->v[i].id);
			memmove(&known->v[i], &known->v[i + 1], (known->n - i - 1) * sizeof(*known->v));
			known->n--;
		} else {
			i++;
		}
	}
	for (size_t i = 0; i < now->n && !atomic_load(&s->stop); i++) {
		struct seen *k = seen_find(known, now->v[i].id);
		int images = strcmp(kind, "image") == 0;

		/* a container's configuration does not change under the same id */
		if (k && (!images || t - k->at < s->interval_s))
			continue;
		if (images)
			scan_image(s, now->v[i].id);
		else
			scan_container(s, now->v[i].id);
		seen_add(known, now->v[i].id, time(NULL),
			 images ? SCANNER_IMAGES_MAX : SCANNER_CONTAINERS_MAX);
		if (atomic_exchange(&s->resync, 0))
			resend_all(s);
	}
}

static void poll_engine(struct scanner *s)
{
	struct seen_set imgs = { 0 }, ctrs = { 0 };

	if (!s->negotiated) {
		if (docker_negotiate(s->dk) < 0) {
			set_error(s, "docker: %.200s", docker_errmsg(s->dk));
			return;
		}
		s->negotiated = 1;
	}
	if (list_ids(s, "/images/json", 1, &imgs) == 0)
		sync_kind(s, &s->images, &imgs, "image");
	else
		s->negotiated = 0;
	if (s->negotiated && list_ids(s, "/containers/json", 0, &ctrs) == 0)
		sync_kind(s, &s->containers, &ctrs, "container");
	free(imgs.v);
	free(ctrs.v);
}

static void *scanner_main(void *arg)
{
	struct scanner *s = arg;

	load_seen(s);
	while (!atomic_load(&s->stop)) {
		struct timespec ts;

		if (atomic_exchange(&s->resync, 0))
			resend_all(s);
		if (time(NULL) - s->host_at >= s->interval_s) {
			scan_host(s);
			s->host_at = time(NULL);
		}
		poll_engine(s);
		pthread_mutex_lock(&s->mu);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SCANNER_POLL_MS / 1000;
		ts.tv_nsec += (long)(SCANNER_POLL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!atomic_load(&s->stop) && !atomic_load(&s->resync) &&
		       pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
			;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

static void scanner_free(struct scanner *s)
{
	if (s == NULL)
		return;
	docker_free(s->dk);
	free(s->docker_addr);
	free(s->host_root);
	free(s->hostname);
	free(s->dir);
	free(s->images.v);
	free(s->containers.v);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int scanner_start(const struct scanner_config *cfg, struct scanner **out)
{
	struct scanner *s;
	const char *root = cfg->host_root;
	const char *env = getenv("GARRISON_SCAN_INTERVAL_SEC");
	int r;

	*out = NULL;
	if (cfg->emit == NULL || cfg->data_dir == NULL || cfg->hostname == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (root == NULL || root[0] == '\0')
		root = access("/proc/1/root/etc", R_OK | X_OK) == 0 ? "/proc/1/root" : "/";
	s->interval_s = cfg->interval_s > 0 ? cfg->interval_s : SCANNER_INTERVAL_S;
	if (cfg->interval_s <= 0 && env && env[0]) {
		char *e;
		long v = strtol(env, &e, 10);
		if (*e == '\0' && v >= 60 && v <= 30L * 24 * 3600)
			s->interval_s = (int)v;
		else
			log_warn("scanner: GARRISON_SCAN_INTERVAL_SEC=%.32s ignored (60 s to 30 days)", env);
	}
	s->emit = cfg->emit;
	s->arg = cfg->arg;
	s->host_root = strdup(root);
	s->hostname = strdup(cfg->hostname);
	s->docker_addr = strdup(cfg->docker_addr ? cfg->docker_addr : "");
	if (asprintf(&s->dir, "%s/scans", cfg->data_dir) < 0)
		s->dir = NULL;
	if (!s->host_root || !s->hostname || !s->docker_addr || !s->dir) {
		r = -ENOMEM;
		goto fail;
	}
	r = docker_socket_path(s->docker_addr[0] ? s->docker_addr : NULL, s->sock, sizeof(s->sock));
	if (r < 0)
		goto fail;
	r = docker_new(s->docker_addr[0] ? s->docker_addr : NULL, &s->stop, &s->dk);
	if (r < 0)
		goto fail;
	r = util_mkdirs(s->dir, 0700);
	if (r < 0)
		goto fail;
	r = -pthread_create(&s->thread, NULL, scanner_main, s);
	if (r < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	scanner_free(s);
	return r;
}

void scanner_resync(struct scanner *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->resync, 1);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

json_t *scanner_status(struct scanner *s)
{
	json_t *st;

	pthread_mutex_lock(&s->mu);
	st = json_pack("{sI sI s:s? s:s?}", "images", (json_int_t)s->images.n, "containers",
		       (json_int_t)s->containers.n, "scanning", s->scanning[0] ? s->scanning : NULL,
		       "lastError", s->last_error[0] ? s->last_error : NULL);
	pthread_mutex_unlock(&s->mu);
	return st;
}

void scanner_stop(struct scanner *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	atomic_store(&s->stop, 1);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	scanner_free(s);
}
