/*
 * api_inventory: what runs where. Containers, images and hosts as the Defenders reported them
 * (stored as documents per host by the hub), shaped as Prisma Cloud Compute's
 * shared.ContainerScanResult / shared.ImageScanResult, and the Radar views built from them.
 * Every list takes offset, limit, search, sort, reverse, collections, clusters and hostname where
 * they apply, and returns the total before paging in Total-Count. Filtering, sorting and paging
 * are the store's (inv_query: in SQL on stored columns, collections too where SQL is exact, the
 * rest in C with lib/collection.c), so a page costs the documents of that page, not of every
 * container stored. Images and the Radar views are aggregates: they are built from the light
 * rows (no documents) and only the entries of the page read their documents.
 */
#include "api.h"
#include "scans.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/collection.h>
#include <garrison/log.h>
#include <garrison/util.h>

/* The request's common filters. */
struct inv_filter {
	struct collection **colls;
	size_t ncolls;
	const char *clusters[64];
	size_t nclusters;
	char cbuf[4096];
	const char *namespaces[64];
	size_t nnamespaces;
	char nbuf[4096];
	const char *hostname, *id, *image, *search;
};

static int filter_init(struct api_req *r, struct inv_filter *f)
{
	memset(f, 0, sizeof(*f));
	if (api_collections_filter(r, &f->colls, &f->ncolls) < 0)
		return -EINVAL;
	f->nclusters = api_query_list(r, "clusters", f->cbuf, sizeof(f->cbuf), f->clusters, 64);
	if (f->nclusters == 0)
		f->nclusters = api_query_list(r, "cluster", f->cbuf, sizeof(f->cbuf), f->clusters, 64);
	f->nnamespaces = api_query_list(r, "namespaces", f->nbuf, sizeof(f->nbuf), f->namespaces, 64);
	f->hostname = api_query(r, "hostname");
	f->id = api_query(r, "id");
	f->image = api_query(r, "image");
	f->search = api_query(r, "search");
	return 0;
}

static void filter_clear(struct inv_filter *f)
{
	api_collections_filter_free(f->colls, f->ncolls);
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Sorts an array of objects by a string or number member (dotted paths allowed, e.g. info.name). */
static const char *sort_key_path;
static json_t *path_get(json_t *o, const char *path)
{
	char seg[64];

	while (o && *path) {
		size_t n = strcspn(path, ".");
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		o = json_object_get(o, seg);
		path += n;
		if (*path == '.')
			path++;
	}
	return o;
}

static int cmp_by_key(const void *a, const void *b)
{
	json_t *x = path_get(*(json_t *const *)a, sort_key_path);
	json_t *y = path_get(*(json_t *const *)b, sort_key_path);

	if (json_is_number(x) && json_is_number(y)) {
		double dx = json_number_value(x), dy = json_number_value(y);
		return dx < dy ? -1 : dx > dy;
	}
	return strcasecmp(json_is_string(x) ? json_string_value(x) : "",
			  json_is_string(y) ? json_string_value(y) : "");
}

/* The request's sort, reverse and paging: 0, or -EINVAL after a 400. */
static int list_params(struct api_req *r, const char **sort, int *reverse, long *offset,
		       long *limit)
{
	*sort = api_query(r, "sort");
	*reverse = api_query_bool(r, "reverse");
	if (*reverse == -2 || api_paging(r, offset, limit) < 0)
		return -EINVAL;
	if (*sort && (strlen(*sort) > 128 || strspn(*sort, "abcdefghijklmnopqrstuvwxyz"
					      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") != strlen(*sort))) {
		api_error(r, 400, "sort must be a field name");
		return -EINVAL;
	}
	*reverse = *reverse == 1;
	return 0;
}

/* Sorts arr (an array of objects, stolen) by sort (default_sort when NULL) and returns the page
 * [offset, offset + limit) as a new array; *total is the size before paging. NULL when out of
 * memory. For aggregates (images, Radar), whose entries are few next to the rows behind them. */
static json_t *sort_page(json_t *arr, const char *sort, const char *default_sort, int reverse,
			 long offset, long limit, long *total)
{
	size_t n = json_array_size(arr);
	json_t **v, *out;

	*total = (long)n;
	v = calloc(n ? n : 1, sizeof(*v));
	out = json_array();
	if (v == NULL || out == NULL) {
		free(v);
		json_decref(out);
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(arr, i);
	sort_key_path = sort ? sort : default_sort;
	qsort(v, n, sizeof(*v), cmp_by_key);
	for (size_t i = 0; i < n; i++) {
		size_t k = reverse ? n - 1 - i : i;
		if ((long)i < offset)
			continue;
		if (limit > 0 && (long)json_array_size(out) >= limit)
			break;
		json_array_append(out, v[k]);
	}
	free(v);
	json_decref(arr);
	return out;
}

/* Applies sort/reverse/offset/limit to arr (stolen) and replies with it. */
static void reply_list(struct api_req *r, json_t *arr, const char *default_sort)
{
	const char *sort;
	int reverse;
	long offset, limit, total;
	json_t *out;

	if (list_params(r, &sort, &reverse, &offset, &limit) < 0) {
		json_decref(arr);
		return;
	}
	out = sort_page(arr, sort, default_sort, reverse, offset, limit, &total);
	if (out == NULL) {
		api_error(r, 500, "out of memory");
		return;
	}
	api_total_count(r, total);
	api_reply_json(r, 200, out);
}

/* The store query for the request's common filters. */
static void query_of(const struct inv_filter *f, const char *kind, struct store_inv_query *q)
{
	memset(q, 0, sizeof(*q));
	q->kind = kind;
	q->hostname = f->hostname;
	q->id = f->id;
	q->search = f->search;
	q->clusters = f->clusters;
	q->nclusters = f->nclusters;
	q->colls = f->colls;
	q->ncolls = f->ncolls;
}

/* Maps a sort path of a view to the store's sort; paths into the document ("info.X" for
 * containers, "X" for hosts) are sorted by SQLite's json_extract(). */
static void sort_of(const char *sort, const char *doc_prefix, const char *const *map,
		    const enum store_inv_sort *to, size_t nmap, struct store_inv_query *q)
{
	size_t pl = doc_prefix ? strlen(doc_prefix) : 0;

	for (size_t i = 0; i < nmap; i++)
		if (strcmp(sort, map[i]) == 0) {
			q->sort = to[i];
			return;
		}
	if (doc_prefix && strncmp(sort, doc_prefix, pl) == 0 && sort[pl] != '\0') {
		q->sort = STORE_INV_SORT_DOC;
		q->sort_path = sort + pl;
		return;
	}
	q->sort = STORE_INV_SORT_NONE;
}

static json_t *container_entry(struct api_req *r, struct store_inv_row *row)
{
	struct collection_subject subj;
	json_t *info = row->doc;
	char ts[32];

	store_inv_row_subject(row, "container", &subj);
	/* The row's document belongs to this request: add the node's cluster in place. */
	if (row->cluster && !str(info, "cluster"))
		json_object_set_new(info, "cluster", json_string(row->cluster));
	util_time_rfc3339(row->updated, ts, sizeof(ts));
	row->doc = NULL;
	json_t *e = json_pack("{s:s,s:s,s:s,s:o,s:o}", "_id", row->id, "hostname", row->hostname,
			      "scanTime", ts, "info", info, "collections", api_collections_of(r, &subj));
	/* compliance of its settings, vulnerability counts of its image (docs/scanning.md) */
	scans_merge(r->c, "container", row->id, row->image_id, e);
	return e;
}

void api_containers(struct api_req *r)
{
	static const char *const map[] = { "info.name", "hostname", "_id", "info.id", "info.image",
					   "info.namespace", "info.cluster", "scanTime" };
	static const enum store_inv_sort to[] = {
		STORE_INV_SORT_NAME, STORE_INV_SORT_HOSTNAME, STORE_INV_SORT_ID, STORE_INV_SORT_ID,
		STORE_INV_SORT_IMAGE, STORE_INV_SORT_NAMESPACE, STORE_INV_SORT_CLUSTER,
		STORE_INV_SORT_UPDATED,
	};
	struct inv_filter f;
	struct store_inv_query q;
	struct store_inv_result res = { 0 };
	const char *sort;
	json_t *out;
	int rc;

	if (filter_init(r, &f) < 0)
		return;
	query_of(&f, "container", &q);
	if (list_params(r, &sort, &q.reverse, &q.offset, &q.limit) < 0)
		goto done;
	sort_of(sort ? sort : "info.name", "info.", map, to, ARRAY_SIZE(map), &q);
	q.image = f.image;
	q.namespaces = f.namespaces;
	q.nnamespaces = f.nnamespaces;
	q.with_doc = 1;
	rc = r->c->store->ops->inv_query(r->c->store, &q, &res);
	if (rc < 0) {
		if (rc == -EINVAL)
			api_error(r, 400, "sort must be a field name (letters, digits, _ and .)");
		else
			api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	out = json_array();
	for (size_t i = 0; i < res.n; i++)
		json_array_append_new(out, container_entry(r, &res.rows[i]));
	api_total_count(r, res.total);
	api_reply_json(r, 200, out);
done:
	store_inv_result_clear(&res);
	filter_clear(&f);
}

/* Splits a reference "registry/repo:tag" into Prisma's shared.ImageTag. */
static json_t *image_tag(const char *ref)
{
	char canon[512], *slash, *colon, *at;

	if (ref == NULL || collection_image_canonical(ref, canon, sizeof(canon)) < 0)
		return json_pack("{s:s,s:s,s:s}", "registry", "", "repo", ref ? ref : "", "tag", "");
	at = strchr(canon, '@');
	if (at)
		*at = '\0';
	slash = strchr(canon, '/');
	colon = strrchr(canon, ':');
	if (colon && slash && colon < slash)
		colon = NULL;
	if (colon)
		*colon = '\0';
	if (slash)
		*slash = '\0';
	return json_pack("{s:s,s:s,s:s,s:s}", "registry", slash ? canon : "", "repo",
			 slash ? slash + 1 : canon, "tag", colon ? colon + 1 : "",
			 "digest", at ? at + 1 : "");
}

/* The members of an image entry that come from its document (of its first host). */
static void image_fill(struct api_req *r, json_t *e)
{
	json_t *doc = NULL, *tags, *tagl, *t;
	size_t k;

	if (json_object_get(e, "info") != NULL)
		return;
	if (r->c->store->ops->inv_get(r->c->store, "image", str(e, "hostname"), str(e, "_id"),
				      &doc) < 0)
		doc = json_object();
	tags = json_object_get(doc, "repoTags");
	tagl = json_array();
	json_array_foreach(tags, k, t)
		if (json_is_string(t))
			json_array_append_new(tagl, image_tag(json_string_value(t)));
	json_object_set_new(e, "tags", tagl);
	json_object_set(e, "repoDigests", json_object_get(doc, "repoDigests") ?
		json_object_get(doc, "repoDigests") : json_null());
	json_object_set_new(e, "creationTime", json_object_get(doc, "created") ?
		json_incref(json_object_get(doc, "created")) : json_string(""));
	json_object_set_new(e, "image", json_object_get(doc, "image") ?
		json_incref(json_object_get(doc, "image")) : json_object());
	json_object_set_new(e, "info", doc);
	scans_merge(r->c, "image", str(e, "_id"), NULL, e);
}

/* Members of an image entry known without its document: sorting on them needs no document. */
static int image_light_sort(const char *sort)
{
	return sort == NULL || strcmp(sort, "_id") == 0 || strcmp(sort, "id") == 0 ||
	       strcmp(sort, "hostname") == 0 || strcmp(sort, "scanTime") == 0 ||
	       strncmp(sort, "repoTag.", 8) == 0;
}

/* One entry per image id across hosts. The rows (no documents) are grouped here; documents are
 * read for the entries of the page only (or for all when the sort needs them). */
void api_images(struct api_req *r)
{
	struct inv_filter f;
	struct store_inv_query q;
	struct store_inv_result res = { 0 };
	json_t *byid = json_object(), *arr = json_array(), *e, *out;
	const char *key, *sort;
	int reverse;
	long offset, limit, total;

	if (filter_init(r, &f) < 0)
		goto done;
	if (list_params(r, &sort, &reverse, &offset, &limit) < 0)
		goto done;
	query_of(&f, "image", &q);
	q.sort = STORE_INV_SORT_NONE;
	if (r->c->store->ops->inv_query(r->c->store, &q, &res) < 0) {
		api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	for (size_t i = 0; i < res.n; i++) {
		struct store_inv_row *row = &res.rows[i];
		const char *host = row->hostname, *id = row->id, *name = row->name ? row->name : id;
		const char *cluster = row->cluster;
		char ts[32];

		util_time_rfc3339(row->updated, ts, sizeof(ts));
		e = json_object_get(byid, id);
		if (e == NULL) {
			struct collection_subject subj;
			store_inv_row_subject(row, "image", &subj);
			e = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{},s:[],s:[],s:[],s:s}",
				"_id", id, "id", id, "hostname", host, "repoTag", image_tag(name),
				"collections", api_collections_of(r, &subj), "hosts", "instances",
				"clusters", "namespaces", "scanTime", ts);
			json_object_set_new(byid, id, e);
		}
		json_object_set_new(json_object_get(e, "hosts"), host, json_pack("{s:s}", "modified", ts));
		json_array_append_new(json_object_get(e, "instances"),
				      json_pack("{s:s,s:s,s:s}", "host", host, "image", name, "modified", ts));
		if (cluster && cluster[0]) {
			json_t *cl = json_object_get(e, "clusters"), *c;
			size_t k;
			int seen = 0;
			json_array_foreach(cl, k, c)
				seen |= strcmp(json_string_value(c), cluster) == 0;
			if (!seen)
				json_array_append_new(cl, json_string(cluster));
		}
	}
	json_object_foreach(byid, key, e) {
		if (!image_light_sort(sort))
			image_fill(r, e);
		json_array_append(arr, e);
	}
	out = sort_page(arr, sort, "repoTag.repo", reverse, offset, limit, &total);
	arr = NULL;
	if (out == NULL) {
		api_error(r, 500, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < json_array_size(out); i++)
		image_fill(r, json_array_get(out, i));
	api_total_count(r, total);
	api_reply_json(r, 200, out);
done:
	store_inv_result_clear(&res);
	filter_clear(&f);
	json_decref(arr);
	json_decref(byid);
}

/* The Defender row of a host (cloudMetadata, connected, type), or NULL. */
static json_t *defender_of(struct api_req *r, const char *host)
{
	struct store_defender_filter df = { .hostname = host, .connected = -1, .limit = 1 };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total;
	json_t *o = NULL;

	if (r->c->store->ops->defender_list(r->c->store, &df, &v, &n, &total) == 0 && n == 1)
		o = json_pack("{s:O,s:b}", "cloudMetadata",
			      v[0].cloud_metadata ? v[0].cloud_metadata : json_object(),
			      "connected", v[0].connected);
	store_defenders_free(v, n);
	return o;
}

void api_hosts(struct api_req *r)
{
	static const char *const map[] = { "hostname", "_id", "scanTime" };
	static const enum store_inv_sort to[] = { STORE_INV_SORT_HOSTNAME, STORE_INV_SORT_HOSTNAME,
						  STORE_INV_SORT_UPDATED };
	struct inv_filter f;
	struct store_inv_query q;
	struct store_inv_result res = { 0 };
	json_t *counts = NULL, *out;
	const char *sort;
	int rc;

	if (filter_init(r, &f) < 0)
		return;
	query_of(&f, "host", &q);
	if (list_params(r, &sort, &q.reverse, &q.offset, &q.limit) < 0)
		goto done;
	sort_of(sort ? sort : "hostname", "", map, to, ARRAY_SIZE(map), &q);
	q.with_doc = 1;
	rc = r->c->store->ops->inv_query(r->c->store, &q, &res);
	if (rc < 0) {
		if (rc == -EINVAL)
			api_error(r, 400, "sort must be a field name (letters, digits, _ and .)");
		else
			api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	/* The host document is from the last snapshot; count what runs there now. */
	{
		struct store_inv_query cq = { .kind = "container" };
		if (r->c->store->ops->inv_count_by_host(r->c->store, &cq, &counts) < 0)
			counts = json_object();
	}
	out = json_array();
	for (size_t i = 0; i < res.n; i++) {
		struct store_inv_row *row = &res.rows[i];
		const char *host = row->hostname, *cluster = row->cluster;
		json_t *e = row->doc, *d = defender_of(r, host);
		struct collection_subject subj;
		char ts[32];

		row->doc = NULL;
		store_inv_row_subject(row, "host", &subj);
		util_time_rfc3339(row->updated, ts, sizeof(ts));
		json_object_set_new(e, "containerCount",
				    json_integer(json_integer_value(json_object_get(counts, host))));
		json_object_set_new(e, "_id", json_string(host));
		json_object_set_new(e, "hostname", json_string(host));
		json_object_set_new(e, "scanTime", json_string(ts));
		json_object_set_new(e, "type", json_string("host"));
		json_object_set_new(e, "clusters", cluster && cluster[0] ? json_pack("[s]", cluster) :
									 json_array());
		json_object_set(e, "cloudMetadata", json_object_get(d, "cloudMetadata") ?
				json_object_get(d, "cloudMetadata") : json_object());
		json_object_set_new(e, "collections", api_collections_of(r, &subj));
		scans_merge(r->c, "host", host, NULL, e);
		json_array_append_new(out, e);
		json_decref(d);
	}
	api_total_count(r, res.total);
	api_reply_json(r, 200, out);
done:
	json_decref(counts);
	store_inv_result_clear(&res);
	filter_clear(&f);
}

/* The containers that pass the request's filters, as light rows (no documents). */
static int containers_light(struct api_req *r, struct inv_filter *f, struct store_inv_result *res)
{
	struct store_inv_query q;

	query_of(f, "container", &q);
	q.image = f->image;
	q.namespaces = f->namespaces;
	q.nnamespaces = f->nnamespaces;
	if (r->c->store->ops->inv_query(r->c->store, &q, res) < 0) {
		api_error(r, 500, "cannot read the inventory");
		return -EIO;
	}
	return 0;
}

/* Radar: one entity per image per cluster and namespace. */
void api_radar_container(struct api_req *r)
{
	struct inv_filter f;
	struct store_inv_result res = { 0 };
	json_t *ents = json_object(), *out = json_array(), *e;
	const char *key;

	if (filter_init(r, &f) < 0)
		goto done;
	if (containers_light(r, &f, &res) < 0)
		goto done;
	for (size_t i = 0; i < res.n; i++) {
		const struct store_inv_row *c = &res.rows[i];
		const char *img = c->image, *cl = c->cluster, *ns = c->namespace_, *host = c->hostname;
		json_t *hosts, *seen;
		char k[1024];

		snprintf(k, sizeof(k), "%s|%s|%s", img ? img : "", cl ? cl : "", ns ? ns : "");
		e = json_object_get(ents, k);
		if (e == NULL) {
			e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:[],s:[],s:{}}", "_id", k,
				"imageName", img ? img : "", "imageID", c->image_id ? c->image_id : "",
				"cluster", cl ? cl : "", "namespace", ns ? ns : "", "containerCount", 0,
				"hostCount", 0, "hosts", "containers", "seen");
			json_object_set_new(ents, k, e);
		}
		json_object_set_new(e, "containerCount",
			json_integer(json_integer_value(json_object_get(e, "containerCount")) + 1));
		json_array_append_new(json_object_get(e, "containers"),
			json_pack("{s:s,s:s,s:s}", "id", c->id, "name", c->name ? c->name : "",
				  "hostname", host));
		/* A set of the hosts seen (removed below), instead of a scan of the list. */
		seen = json_object_get(e, "seen");
		if (json_object_get(seen, host) == NULL) {
			json_object_set_new(seen, host, json_true());
			hosts = json_object_get(e, "hosts");
			json_array_append_new(hosts, json_string(host));
			json_object_set_new(e, "hostCount", json_integer((json_int_t)json_array_size(hosts)));
		}
	}
	json_object_foreach(ents, key, e) {
		json_object_del(e, "seen");
		json_array_append(out, e);
	}
	reply_list(r, out, "imageName");
	out = NULL;
done:
	store_inv_result_clear(&res);
	filter_clear(&f);
	json_decref(out);
	json_decref(ents);
}

/* Radar: one entity per host, with what runs on it. */
void api_radar_host(struct api_req *r)
{
	struct inv_filter f;
	struct store_defender_filter df = { .connected = -1 };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total;
	json_t *counts = json_object(), *out = json_array();

	if (filter_init(r, &f) < 0)
		goto done;
	/* The containers that pass the filters, counted per host by the store. */
	{
		struct store_inv_query q;
		json_decref(counts);
		counts = NULL;
		query_of(&f, "container", &q);
		q.image = f.image;
		q.namespaces = f.namespaces;
		q.nnamespaces = f.nnamespaces;
		if (r->c->store->ops->inv_count_by_host(r->c->store, &q, &counts) < 0) {
			api_error(r, 500, "cannot read the inventory");
			goto done;
		}
	}
	df.hostname = f.hostname;
	if (r->c->store->ops->defender_list(r->c->store, &df, &v, &n, &total) < 0) {
		api_error(r, 500, "cannot read the Defenders");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const char *host = v[i].hostname, *cl = v[i].cluster ? v[i].cluster : "";
		struct collection_subject subj = { 0 };
		size_t k;
		int in = f.nclusters == 0;

		for (k = 0; k < f.nclusters; k++)
			in |= strcmp(cl, f.clusters[k]) == 0;
		if (host == NULL || !in)
			continue;
		subj.host = host;
		subj.cluster = cl;
		subj.account_id = json_string_value(json_object_get(v[i].cloud_metadata, "accountID"));
		if (f.ncolls && !collection_match_any(f.colls, f.ncolls, &subj))
			continue;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:I,s:b,s:O}", "_id", host,
			"hostname", host, "cluster", cl,
			"containerCount", json_integer_value(json_object_get(counts, host)),
			"connected", v[i].connected, "cloudMetadata",
			v[i].cloud_metadata ? v[i].cloud_metadata : json_object()));
	}
	reply_list(r, out, "hostname");
	out = NULL;
done:
	store_defenders_free(v, n);
	filter_clear(&f);
	json_decref(out);
	json_decref(counts);
}
