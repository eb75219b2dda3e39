/*
 * scans: the Console's vulnerability data and scan results (see scans.h). The current database
 * is a reference-counted snapshot: readers take a reference under feed_mu and match without any
 * lock; an import builds a new database beside it and swaps the pointer. Record writes (hub,
 * API, re-evaluation) are serialised by write_mu.
 */
#include "scans.h"

#include <garrison/log.h>
#include <garrison/scan.h>
#include <garrison/util.h>
#include <garrison/vulndb.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct feed {
	struct vulndb *db;
	char version[65];
	size_t records;
	time_t imported;
	int refs;
};

struct scans {
	pthread_mutex_t feed_mu;  /* guards cur and the refs of every feed */
	struct feed *cur;
	pthread_mutex_t write_mu; /* serialises record writes */
	pthread_mutex_t work_mu;  /* guards worker state */
	pthread_t worker;
	int worker_running, worker_joinable, reeval_again;
	struct console *c;
	char feed_path[700];
};

static struct scans *the_scans; /* one Console per process */

static struct feed *feed_get(struct scans *s)
{
	struct feed *f;

	pthread_mutex_lock(&s->feed_mu);
	f = s->cur;
	if (f)
		f->refs++;
	pthread_mutex_unlock(&s->feed_mu);
	return f;
}

static void feed_put(struct scans *s, struct feed *f)
{
	int last;

	if (f == NULL)
		return;
	pthread_mutex_lock(&s->feed_mu);
	last = --f->refs == 0;
	pthread_mutex_unlock(&s->feed_mu);
	if (last) {
		vulndb_free(f->db);
		free(f);
	}
}

/* Makes f current (the scans module holds one reference to the current feed). */
static void feed_swap(struct scans *s, struct feed *f)
{
	struct feed *old;

	f->refs = 1;
	pthread_mutex_lock(&s->feed_mu);
	old = s->cur;
	s->cur = f;
	pthread_mutex_unlock(&s->feed_mu);
	feed_put(s, old);
}

static struct feed *feed_new(struct vulndb *db, time_t imported)
{
	struct feed *f = calloc(1, sizeof(*f));
	struct vulndb_info info;

	if (f == NULL)
		return NULL;
	vulndb_info(db, &info);
	f->db = db;
	f->records = info.records;
	f->imported = imported;
	snprintf(f->version, sizeof(f->version), "%s", info.data_version);
	return f;
}

/* Applies the current data to a record (image or host). */
static int apply(struct scans *s, json_t *rec, char *err, size_t errlen)
{
	struct feed *f = feed_get(s);
	int r = scan_record_apply_vulndb(rec, f ? f->db : NULL, f ? f->version : NULL, err, errlen);

	feed_put(s, f);
	return r;
}

int scans_init(struct console *c)
{
	struct scans *s = calloc(1, sizeof(*s));
	char dir[600], *val = NULL;
	int r;

	if (s == NULL)
		return -ENOMEM;
	pthread_mutex_init(&s->feed_mu, NULL);
	pthread_mutex_init(&s->write_mu, NULL);
	pthread_mutex_init(&s->work_mu, NULL);
	s->c = c;
	snprintf(dir, sizeof(dir), "%s/feed", c->data_dir);
	snprintf(s->feed_path, sizeof(s->feed_path), "%s/osv.json", dir);
	r = util_mkdirs(dir, 0700);
	if (r < 0) {
		log_error("scans: cannot create %s: %s", dir, strerror(-r));
		free(s);
		return r;
	}
	the_scans = s;
	if (access(s->feed_path, R_OK) == 0) {
		struct vulndb *db = vulndb_new();
		struct vulndb_import_stats st = { 0 };
		char err[512] = "";
		time_t imported = 0;
		struct feed *f;

		if (db == NULL)
			return -ENOMEM;
		r = vulndb_import_osv_path(db, s->feed_path, &st, err, sizeof(err));
		if (r < 0) {
			log_error("scans: the stored vulnerability data %s cannot be read (%s); starting "
				  "without data", s->feed_path, err);
			vulndb_free(db);
			return 0;
		}
		if (c->store->ops->meta_get(c->store, "feed_import_time", &val) == 0 && val)
			imported = (time_t)strtoll(val, NULL, 10);
		free(val);
		f = feed_new(db, imported);
		if (f == NULL) {
			vulndb_free(db);
			return -ENOMEM;
		}
		feed_swap(s, f);
		log_info("scans: vulnerability data %.16s: %zu records", f->version, f->records);
	}
	return 0;
}

void scans_shutdown(struct console *c)
{
	struct scans *s = the_scans;

	(void)c;
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->work_mu);
	int join = s->worker_joinable;
	s->worker_joinable = 0;
	pthread_mutex_unlock(&s->work_mu);
	if (join)
		pthread_join(s->worker, NULL);
	pthread_mutex_lock(&s->feed_mu);
	struct feed *f = s->cur;
	s->cur = NULL;
	pthread_mutex_unlock(&s->feed_mu);
	feed_put(s, f);
	the_scans = NULL;
	free(s);
}

static int valid_kind(const char *kind)
{
	return kind && (strcmp(kind, "image") == 0 || strcmp(kind, "container") == 0 ||
			strcmp(kind, "host") == 0);
}

/* An id we accept as a key: printable, 1..200 bytes. */
static int valid_id(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 200)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x21 || id[i] == 0x7f)
			return 0;
	return 1;
}

int scans_defender_record(struct console *c, const char *hostname, const char *kind, const char *id,
			  json_t *record, char *err, size_t errlen)
{
	struct scans *s = the_scans;
	int r;

	if (s == NULL)
		return -ENODEV;
	if (!valid_kind(kind) || !json_is_object(record)) {
		snprintf(err, errlen, "scan: kind must be image, container or host with a record object");
		return -EINVAL;
	}
	if (strcmp(kind, "host") == 0)
		id = hostname;
	if (!valid_id(id)) {
		snprintf(err, errlen, "scan: missing or malformed id");
		return -EINVAL;
	}
	pthread_mutex_lock(&s->write_mu);
	if (strcmp(kind, "container") != 0) {
		r = apply(s, record, err, errlen);
		if (r == -ENOMEM)
			goto out;
		/* -EINVAL: malformed packages; the record is kept with the reason */
	}
	if (strcmp(kind, "host") == 0)
		json_object_set_new(record, "hostname", json_string(hostname));
	r = c->store->ops->scan_put(c->store, kind, id, hostname, record);
	if (r < 0)
		snprintf(err, errlen, "scan: cannot store the record: %s", strerror(-r));
out:
	pthread_mutex_unlock(&s->write_mu);
	return r;
}

int scans_defender_removed(struct console *c, const char *hostname, const char *kind, const char *id)
{
	(void)hostname;
	if (kind == NULL || strcmp(kind, "container") != 0 || !valid_id(id))
		return 0;
	return c->store->ops->scan_delete(c->store, kind, id);
}

int scans_evaluate(struct console *c, json_t *record, char *err, size_t errlen)
{
	(void)c;
	if (the_scans == NULL)
		return -ENODEV;
	return apply(the_scans, record, err, errlen);
}

static const char *const merged_image[] = {
	"vulnerabilities", "vulnerabilitiesCount", "vulnerabilityDistribution", "complianceIssues",
	"complianceIssuesCount", "complianceDistribution", "packages", "osDistro",
	"osDistroVersion", "osDistroRelease", "distro", "packageManager", "scanTime", "Secrets",
	"layers", "garrison", NULL,
};
static const char *const merged_container[] = {
	"complianceIssues", "complianceIssuesCount", "complianceDistribution", NULL,
};

static void copy_members(json_t *dst, const json_t *src, const char *const *keys)
{
	for (size_t i = 0; keys[i]; i++) {
		json_t *v = json_object_get(src, keys[i]);

		if (v != NULL)
			json_object_set(dst, keys[i], v);
	}
}

void scans_merge(struct console *c, const char *kind, const char *id, const char *image_id,
		 json_t *entry)
{
	json_t *rec = NULL, *img = NULL, *info;

	if (the_scans == NULL || id == NULL || !json_is_object(entry))
		return;
	if (strcmp(kind, "container") != 0) {
		if (c->store->ops->scan_get(c->store, kind, id, &rec) == 0)
			copy_members(entry, rec, merged_image);
		json_decref(rec);
		return;
	}
	info = json_object_get(entry, "info");
	if (!json_is_object(info))
		info = entry;
	if (c->store->ops->scan_get(c->store, "container", id, &rec) == 0)
		copy_members(info, rec, merged_container);
	if (image_id && c->store->ops->scan_get(c->store, "image", image_id, &img) == 0) {
		static const char *const vk[] = { "vulnerabilitiesCount", "vulnerabilityDistribution", NULL };
		copy_members(info, img, vk);
	}
	json_decref(rec);
	json_decref(img);
}

/* Re-evaluates every stored image and host record against the current data. */
static void reevaluate(struct scans *s)
{
	static const char *const kinds[] = { "image", "host" };
	size_t done = 0;
	int64_t t0 = util_now_ms();

	for (int k = 0; k < 2; k++) {
		json_t *ids = NULL, *idv;
		size_t i;

		if (s->c->store->ops->scan_ids(s->c->store, kinds[k], &ids) < 0)
			continue;
		json_array_foreach(ids, i, idv) {
			const char *id = json_string_value(json_object_get(idv, "id"));
			const char *host = json_string_value(json_object_get(idv, "hostname"));
			json_t *rec = NULL;
			char err[256] = "";

			pthread_mutex_lock(&s->write_mu);
			if (id && s->c->store->ops->scan_get(s->c->store, kinds[k], id, &rec) == 0 &&
			    apply(s, rec, err, sizeof(err)) != -ENOMEM) {
				s->c->store->ops->scan_put(s->c->store, kinds[k], id, host ? host : "", rec);
				done++;
			}
			pthread_mutex_unlock(&s->write_mu);
			json_decref(rec);
		}
		json_decref(ids);
	}
	log_info("scans: %zu stored results re-evaluated against the new data in %lld ms", done,
		 (long long)(util_now_ms() - t0));
}

static void *worker_main(void *arg)
{
	struct scans *s = arg;

	for (;;) {
		reevaluate(s);
		pthread_mutex_lock(&s->work_mu);
		if (!s->reeval_again) {
			s->worker_running = 0;
			pthread_mutex_unlock(&s->work_mu);
			return NULL;
		}
		s->reeval_again = 0;
		pthread_mutex_unlock(&s->work_mu);
	}
}

static void start_reevaluation(struct scans *s)
{
	pthread_mutex_lock(&s->work_mu);
	if (s->worker_running) {
		s->reeval_again = 1;
		pthread_mutex_unlock(&s->work_mu);
		return;
	}
	if (s->worker_joinable) {
		pthread_join(s->worker, NULL); /* finished: worker_running is 0 */
		s->worker_joinable = 0;
	}
	if (pthread_create(&s->worker, NULL, worker_main, s) == 0) {
		s->worker_running = 1;
		s->worker_joinable = 1;
	} else {
		log_error("scans: cannot start the re-evaluation thread");
	}
	pthread_mutex_unlock(&s->work_mu);
}

int scans_feed_import(struct console *c, const json_t *records, json_t **answer, char *err,
		      size_t errlen)
{
	struct scans *s = the_scans;
	struct vulndb_import_stats st = { 0 }, old = { 0 };
	struct vulndb *db = NULL;
	struct feed *cur, *f;
	char *text = NULL, buf[32];
	time_t now = time(NULL);
	int r;

	*answer = NULL;
	if (s == NULL)
		return -ENODEV;
	if (!json_is_array(records)) {
		snprintf(err, errlen, "the body must be an array of OSV records");
		return -EINVAL;
	}
	if ((db = vulndb_new()) == NULL)
		return -ENOMEM;
	/* what is held first, then the new records (a later `modified` replaces) */
	cur = feed_get(s);
	if (cur && cur->records > 0) {
		r = vulndb_import_osv_path(db, s->feed_path, &old, err, errlen);
		if (r < 0)
			log_warn("scans: the held data could not be re-read (%s); the import replaces it", err);
	}
	feed_put(s, cur);
	text = json_dumps(records, JSON_COMPACT);
	if (text == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	r = vulndb_import_osv_mem(db, text, strlen(text), "upload", &st, err, errlen);
	free(text);
	if (r < 0)
		goto fail;
	if (st.records == 0 && json_array_size(records) > 0) {
		snprintf(err, errlen, "no record was accepted: %s", st.first_error);
		r = -EINVAL;
		goto fail;
	}
	r = vulndb_export_path(db, s->feed_path);
	if (r < 0) {
		snprintf(err, errlen, "cannot store the data: %s", strerror(-r));
		goto fail;
	}
	snprintf(buf, sizeof(buf), "%lld", (long long)now);
	c->store->ops->meta_set(c->store, "feed_import_time", buf);
	if ((f = feed_new(db, now)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	db = NULL;
	feed_swap(s, f);
	log_info("scans: imported %zu records (%zu rejected); data %.16s holds %zu records",
		 st.records, st.rejected, f->version, f->records);
	*answer = json_pack("{sI ss sI sI ss sI}", "records", (json_int_t)f->records, "dataVersion",
			    f->version, "imported", (json_int_t)st.records, "rejected",
			    (json_int_t)st.rejected, "firstError", st.first_error, "importTime",
			    (json_int_t)now);
	start_reevaluation(s);
	return 0;
fail:
	vulndb_free(db);
	return r;
}

json_t *scans_feed_info(struct console *c)
{
	struct scans *s = the_scans;
	struct feed *f;
	json_t *o;
	int running;

	(void)c;
	if (s == NULL)
		return NULL;
	f = feed_get(s);
	pthread_mutex_lock(&s->work_mu);
	running = s->worker_running;
	pthread_mutex_unlock(&s->work_mu);
	o = json_pack("{sI ss sI sb}", "records", (json_int_t)(f ? f->records : 0), "dataVersion",
		      f ? f->version : "", "importTime", (json_int_t)(f ? f->imported : 0),
		      "reevaluating", running);
	feed_put(s, f);
	return o;
}
