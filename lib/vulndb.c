/*
 * vulndb.c: storage of the vulnerability database: records by id, the (ecosystem, package) index
 * used by the matcher, the canonical export and its data version (SHA-256). Imports stage their
 * records first (vulndb_osv.c, vulndb_secdb.c) and vulndb_commit() stores them, so a failing file
 * leaves the database as it was. After the last import the database is only read.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "vulndb_int.h"

void vulndb_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	if (err == NULL || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* FNV-1a, 64 bits */
uint64_t vulndb_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void *vhtab_get(const struct vhtab *t, const char *key)
{
	if (t->cap == 0)
		return NULL;
	uint64_t h = vulndb_hash(key);
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		const struct vhslot *s = &t->slot[i];
		if (s->key == NULL)
			return NULL;
		if (s->hash == h && strcmp(s->key, key) == 0)
			return s->val;
	}
}

static void vhtab_place(struct vhslot *slot, size_t cap, const char *key, uint64_t h, void *val)
{
	for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (slot[i].key == NULL) {
			slot[i] = (struct vhslot){ key, h, val };
			return;
		}
	}
}

int vhtab_put(struct vhtab *t, const char *key, void *val)
{
	uint64_t h = vulndb_hash(key);
	if (t->cap != 0) {
		for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
			struct vhslot *s = &t->slot[i];
			if (s->key == NULL)
				break;
			if (s->hash == h && strcmp(s->key, key) == 0) {
				s->key = key;
				s->val = val;
				return 0;
			}
		}
	}
	if ((t->n + 1) * 2 > t->cap) { /* keep the load at most 1/2 */
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct vhslot *ns = calloc(ncap, sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->slot[i].key != NULL)
				vhtab_place(ns, ncap, t->slot[i].key, t->slot[i].hash, t->slot[i].val);
		free(t->slot);
		t->slot = ns;
		t->cap = ncap;
	}
	vhtab_place(t->slot, t->cap, key, h, val);
	t->n++;
	return 0;
}

void vhtab_free(struct vhtab *t)
{
	free(t->slot);
	t->slot = NULL;
	t->cap = t->n = 0;
}

void vulndb_rec_free(struct vrec *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->naff; i++) {
		struct vaff *a = &r->aff[i];
		free(a->key);
		for (size_t j = 0; j < a->nranges; j++) {
			for (size_t k = 0; k < a->ranges[j].nev; k++)
				free(a->ranges[j].ev[k].v);
			free(a->ranges[j].ev);
		}
		free(a->ranges);
		for (size_t j = 0; j < a->nversions; j++)
			free(a->versions[j]);
		free(a->versions);
		free(a->vec);
		free(a->link);
	}
	free(r->aff);
	free(r->id);
	free(r->cve);
	free(r->description);
	free(r->canon);
	free(r);
}

void vulndb_stage_clear(struct vstage *sg)
{
	for (size_t i = 0; i < sg->n; i++)
		vulndb_rec_free(sg->v[i]);
	free(sg->v);
	sg->v = NULL;
	sg->n = sg->cap = 0;
}

struct vulndb *vulndb_new(void)
{
	struct vulndb *db = calloc(1, sizeof(*db));
	if (db == NULL)
		return NULL;
	/* the SHA-256 of nothing, so an empty database has a data version too */
	snprintf(db->data_version, sizeof(db->data_version), "%s",
		 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	return db;
}

void vulndb_free(struct vulndb *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->index.cap; i++) {
		struct vbucket *b = db->index.slot[i].val;
		if (db->index.slot[i].key == NULL || b == NULL)
			continue;
		free(b->key);
		free(b->v);
		free(b);
	}
	vhtab_free(&db->index);
	vhtab_free(&db->ids);
	for (size_t i = 0; i < db->nrecs; i++)
		vulndb_rec_free(db->recs[i]);
	free(db->recs);
	free(db->sorted);
	free(db);
}

static int bucket_add(struct vulndb *db, struct vaff *a)
{
	struct vbucket *b = vhtab_get(&db->index, a->key);
	if (b == NULL) {
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return -ENOMEM;
		b->key = strdup(a->key);
		if (b->key == NULL || vhtab_put(&db->index, b->key, b) != 0) {
			free(b->key);
			free(b);
			return -ENOMEM;
		}
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 4;
		struct vaff **nv = realloc(b->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		b->v = nv;
		b->cap = ncap;
	}
	b->v[b->n++] = a;
	return 0;
}

static int cmp_simple(const void *a, const void *b, void *arg)
{
	const struct vaff *x = *(const struct vaff *const *)a, *y = *(const struct vaff *const *)b;
	int r = 0;
	(void)arg;
	if (version_compare(x->vk, x->simple_fix, y->simple_fix, &r) != 0)
		r = strcmp(x->simple_fix, y->simple_fix); /* cannot happen: validated at import */
	return r;
}

/* Puts each bucket's simple entries first, sorted by their fixed version (vulndb_match.c
 * binary-searches them). */
static void sort_buckets(struct vulndb *db)
{
	for (size_t i = 0; i < db->index.cap; i++) {
		struct vbucket *b = db->index.slot[i].val;
		if (db->index.slot[i].key == NULL || b == NULL)
			continue;
		size_t s = 0;
		for (size_t j = 0; j < b->n; j++)
			if (b->v[j]->simple_fix != NULL) {
				struct vaff *t = b->v[s];
				b->v[s++] = b->v[j];
				b->v[j] = t;
			}
		b->nsimple = s;
		if (s > 1)
			qsort_r(b->v, s, sizeof(*b->v), cmp_simple, NULL);
	}
}

static int cmp_rec_id(const void *a, const void *b)
{
	const struct vrec *x = *(const struct vrec *const *)a, *y = *(const struct vrec *const *)b;
	return strcmp(x->id, y->id);
}

/* Rebuilds db->sorted and the data version from the live records. */
static int refresh(struct vulndb *db)
{
	int rc = -ENOMEM;
	EVP_MD_CTX *md = NULL;
	struct vrec **s = malloc((db->nrecs ? db->nrecs : 1) * sizeof(*s));
	if (s == NULL)
		goto fail;
	size_t n = 0;
	for (size_t i = 0; i < db->nrecs; i++)
		if (!db->recs[i]->dead)
			s[n++] = db->recs[i];
	qsort(s, n, sizeof(*s), cmp_rec_id);
	md = EVP_MD_CTX_new();
	unsigned char h[32];
	unsigned int hl = 0;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (EVP_DigestUpdate(md, s[i]->canon, s[i]->canon_len) != 1 ||
		    EVP_DigestUpdate(md, "\n", 1) != 1)
			goto fail;
	if (EVP_DigestFinal_ex(md, h, &hl) != 1 || hl != 32)
		goto fail;
	for (unsigned i = 0; i < 32; i++)
		snprintf(db->data_version + 2 * i, 3, "%02x", h[i]);
	free(db->sorted);
	db->sorted = s;
	db->nsorted = n;
	s = NULL;
	rc = 0;
fail:
	EVP_MD_CTX_free(md);
	free(s);
	return rc;
}

int vulndb_commit(struct vulndb *db, struct vstage *sg)
{
	int rc = 0;
	size_t replaced = 0;
	if (db->nrecs + sg->n > (size_t)VULNDB_RECORDS_MAX) {
		vulndb_stage_clear(sg);
		return -E2BIG;
	}
	if (db->nrecs + sg->n > db->cap) {
		size_t ncap = db->cap ? db->cap : 64;
		while (ncap < db->nrecs + sg->n)
			ncap *= 2;
		struct vrec **nr = realloc(db->recs, ncap * sizeof(*nr));
		if (nr == NULL) {
			vulndb_stage_clear(sg);
			return -ENOMEM;
		}
		db->recs = nr;
		db->cap = ncap;
	}
	/* From here on a failure (out of memory only) may leave part of the import stored. */
	for (size_t i = 0; i < sg->n; i++) {
		struct vrec *r = sg->v[i];
		struct vrec *old = vhtab_get(&db->ids, r->id);
		if (old != NULL && old->modified > r->modified) {
			if (sg->st) {
				sg->st->stale++;
				sg->st->records--;
				for (size_t k = 0; k < r->naff; k++)
					if (sg->st->affected_indexed > 0)
						sg->st->affected_indexed--;
			}
			vulndb_rec_free(r);
			sg->v[i] = NULL;
			continue;
		}
		if ((rc = vhtab_put(&db->ids, r->id, r)) != 0)
			goto fail;
		if (old != NULL) {
			old->dead = 1;
			db->affected -= old->naff;
			replaced++;
			if (sg->st)
				sg->st->replaced++;
		}
		db->recs[db->nrecs++] = r;
		sg->v[i] = NULL;
		for (size_t k = 0; k < r->naff; k++) {
			if ((rc = bucket_add(db, &r->aff[k])) != 0)
				goto fail;
			db->affected++;
		}
	}
fail:
	vulndb_stage_clear(sg);
	if (replaced > 0) {
		/* drop the replaced records' entries from the buckets, then the records */
		for (size_t i = 0; i < db->index.cap; i++) {
			struct vbucket *b = db->index.slot[i].val;
			if (db->index.slot[i].key == NULL || b == NULL)
				continue;
			size_t o = 0;
			for (size_t j = 0; j < b->n; j++)
				if (!b->v[j]->rec->dead)
					b->v[o++] = b->v[j];
			b->n = o;
		}
		size_t o = 0;
		for (size_t i = 0; i < db->nrecs; i++) {
			if (db->recs[i]->dead)
				vulndb_rec_free(db->recs[i]);
			else
				db->recs[o++] = db->recs[i];
		}
		db->nrecs = o;
	}
	sort_buckets(db);
	int rc2 = refresh(db);
	return rc ? rc : rc2;
}

void vulndb_info(const struct vulndb *db, struct vulndb_info *info)
{
	memset(info, 0, sizeof(*info));
	if (db == NULL)
		return;
	info->records = db->nsorted;
	info->affected = db->affected;
	for (size_t i = 0; i < db->index.cap; i++) {
		const struct vbucket *b = db->index.slot[i].val;
		if (db->index.slot[i].key != NULL && b != NULL && b->n > 0)
			info->keys++;
	}
	memcpy(info->data_version, db->data_version, sizeof(info->data_version));
}

int vulndb_foreach(const struct vulndb *db,
		   int (*fn)(void *arg, const char *id, const char *json, size_t len), void *arg)
{
	if (db == NULL || fn == NULL)
		return -EINVAL;
	for (size_t i = 0; i < db->nsorted; i++) {
		const struct vrec *r = db->sorted[i];
		int rc = fn(arg, r->id, r->canon, r->canon_len);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int vulndb_export_json(const struct vulndb *db, json_t **out)
{
	int rc = -ENOMEM;
	json_t *arr = json_array();
	*out = NULL;
	if (arr == NULL)
		goto fail;
	for (size_t i = 0; i < db->nsorted; i++) {
		const struct vrec *r = db->sorted[i];
		json_t *v = json_loadb(r->canon, r->canon_len, 0, NULL);
		if (v == NULL) {
			rc = -EINVAL;
			goto fail;
		}
		if (json_array_append_new(arr, v) != 0)
			goto fail;
	}
	*out = arr;
	return 0;
fail:
	json_decref(arr);
	return rc;
}

int vulndb_export_path(const struct vulndb *db, const char *path)
{
	size_t total = 4;
	for (size_t i = 0; i < db->nsorted; i++)
		total += db->sorted[i]->canon_len + 2;
	char *buf = malloc(total);
	if (buf == NULL)
		return -ENOMEM;
	size_t o = 0;
	buf[o++] = '[';
	buf[o++] = '\n';
	for (size_t i = 0; i < db->nsorted; i++) {
		const struct vrec *r = db->sorted[i];
		memcpy(buf + o, r->canon, r->canon_len);
		o += r->canon_len;
		if (i + 1 < db->nsorted)
			buf[o++] = ',';
		buf[o++] = '\n';
	}
	buf[o++] = ']';
	buf[o++] = '\n';
	int rc = util_write_file(path, buf, o, 0644);
	free(buf);
	return rc;
}
