/*
 * api_inventory: what runs where. Containers, images and hosts as the Defenders reported them
 * (stored as documents per host by the hub), shaped as Prisma Cloud Compute's
 * shared.ContainerScanResult / shared.ImageScanResult, and the Radar views built from them.
 * Every list takes offset, limit, search, sort, reverse, collections, clusters and hostname where
 * they apply, and returns the total before paging in Total-Count. Filtering is done here, over
 * the documents of the store (one read per request).
 */
#include "api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/collection.h>
#include <garrison/log.h>
#include <garrison/util.h>

#define MAX_LABELS 256

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

static int in_list(const char *v, const char *const *list, size_t n)
{
	if (n == 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		if (v && strcmp(v, list[i]) == 0)
			return 1;
	return 0;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Labels as "key:value" strings, from an array of strings or an object. Pointers into buf. */
static size_t labels_of(json_t *doc, char *buf, size_t buflen, const char **out, size_t max)
{
	json_t *l = json_object_get(doc, "labels");
	size_t n = 0, used = 0;

	if (json_is_array(l)) {
		size_t i;
		json_t *v;
		json_array_foreach(l, i, v) {
			if (n < max && json_is_string(v))
				out[n++] = json_string_value(v);
		}
	} else if (json_is_object(l)) {
		const char *k;
		json_t *v;
		json_object_foreach(l, k, v) {
			int w;
			if (n >= max || !json_is_string(v))
				continue;
			w = snprintf(buf + used, buflen - used, "%s:%s", k, json_string_value(v));
			if (w < 0 || (size_t)w >= buflen - used)
				break;
			out[n++] = buf + used;
			used += (size_t)w + 1;
		}
	}
	return n;
}

static int contains_ci(const char *hay, const char *needle)
{
	return hay && needle && strcasestr(hay, needle) != NULL;
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

/* Applies sort/reverse/offset/limit to arr (an array of objects) and replies with it. */
static void reply_list(struct api_req *r, json_t *arr, const char *default_sort)
{
	const char *sort = api_query(r, "sort");
	int reverse = api_query_bool(r, "reverse");
	long offset, limit;
	size_t n = json_array_size(arr);
	json_t **v, *out;

	if (reverse == -2 || api_paging(r, &offset, &limit) < 0) {
		json_decref(arr);
		return;
	}
	if (sort && (strlen(sort) > 128 || strspn(sort, "abcdefghijklmnopqrstuvwxyz"
					    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") != strlen(sort))) {
		json_decref(arr);
		api_error(r, 400, "sort must be a field name");
		return;
	}
	v = calloc(n ? n : 1, sizeof(*v));
	out = json_array();
	if (v == NULL || out == NULL) {
		free(v);
		json_decref(out);
		json_decref(arr);
		api_error(r, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(arr, i);
	sort_key_path = sort ? sort : default_sort;
	qsort(v, n, sizeof(*v), cmp_by_key);
	for (size_t i = 0; i < n; i++) {
		size_t k = reverse == 1 ? n - 1 - i : i;
		if ((long)i < offset)
			continue;
		if (limit > 0 && (long)json_array_size(out) >= limit)
			break;
		json_array_append(out, v[k]);
	}
	free(v);
	api_total_count(r, (long)n);
	json_decref(arr);
	api_reply_json(r, 200, out);
}

/* hostname -> {cluster, cloudMetadata, connected} from the Defenders table. */
static json_t *host_index(struct api_req *r)
{
	struct store_defender_filter f = { .connected = -1 };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total;
	json_t *idx = json_object();

	if (r->c->store->ops->defender_list(r->c->store, &f, &v, &n, &total) < 0)
		return idx;
	for (size_t i = 0; i < n; i++)
		json_object_set_new(idx, v[i].hostname, json_pack("{s:s,s:O,s:b,s:s}",
			"cluster", v[i].cluster ? v[i].cluster : "", "cloudMetadata",
			v[i].cloud_metadata ? v[i].cloud_metadata : json_null(), "connected",
			v[i].connected, "type", v[i].type ? v[i].type : ""));
	store_defenders_free(v, n);
	return idx;
}

static const char *host_cluster(json_t *idx, const char *host)
{
	return str(json_object_get(idx, host), "cluster");
}

static const char *host_account(json_t *idx, const char *host)
{
	return str(json_object_get(json_object_get(idx, host), "cloudMetadata"), "accountID");
}

/* The container's cluster: its own (from its ECS label, set by the Defender), else its node's. */
static const char *container_cluster(json_t *doc, json_t *idx, const char *host)
{
	const char *c = str(doc, "cluster");

	return c && c[0] ? c : host_cluster(idx, host);
}

static void time_of(json_t *row, char *buf, size_t len)
{
	util_time_rfc3339((time_t)json_integer_value(json_object_get(row, "updated")), buf, len);
}

/* Builds the container list entries that pass the filters. */
static json_t *containers_filtered(struct api_req *r, struct inv_filter *f, json_t *idx)
{
	json_t *rows = NULL, *out = json_array(), *row;
	size_t i;

	if (r->c->store->ops->inv_list(r->c->store, "container", f->hostname, &rows) < 0) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(rows, i, row) {
		json_t *doc = json_object_get(row, "doc");
		const char *host = str(row, "hostname");
		const char *cluster = container_cluster(doc, idx, host);
		const char *labels[MAX_LABELS];
		char lbuf[8192], ts[32];
		struct collection_subject subj = { 0 };
		json_t *info;

		if (f->id && strcmp(f->id, str(row, "id")) != 0)
			continue;
		if (f->image && !contains_ci(str(doc, "image"), f->image))
			continue;
		if (!in_list(cluster, f->clusters, f->nclusters) ||
		    !in_list(str(doc, "namespace"), f->namespaces, f->nnamespaces))
			continue;
		if (f->search && !contains_ci(str(doc, "name"), f->search) &&
		    !contains_ci(str(doc, "image"), f->search) && !contains_ci(host, f->search) &&
		    !contains_ci(str(row, "id"), f->search))
			continue;
		subj.container = str(doc, "name");
		subj.image = str(doc, "image");
		subj.host = host;
		subj.namespace_ = str(doc, "namespace");
		subj.cluster = cluster;
		subj.account_id = host_account(idx, host);
		subj.labels = labels;
		subj.nlabels = labels_of(doc, lbuf, sizeof(lbuf), labels, MAX_LABELS);
		if (f->ncolls && !collection_match_any(f->colls, f->ncolls, &subj))
			continue;
		/* The rows are dropped after the request: share the document unless it needs the
		 * node's cluster added, and then copy only its top level. */
		if (cluster && !str(doc, "cluster")) {
			info = json_copy(doc);
			json_object_set_new(info, "cluster", json_string(cluster));
		} else {
			info = json_incref(doc);
		}
		time_of(row, ts, sizeof(ts));
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:o,s:o}", "_id", str(row, "id"),
			"hostname", host, "scanTime", ts, "info", info,
			"collections", api_collections_of(r, &subj)));
	}
	json_decref(rows);
	return out;
}

void api_containers(struct api_req *r)
{
	struct inv_filter f;
	json_t *idx, *out;

	if (filter_init(r, &f) < 0)
		return;
	idx = host_index(r);
	out = containers_filtered(r, &f, idx);
	json_decref(idx);
	filter_clear(&f);
	if (out == NULL) {
		api_error(r, 500, "cannot read the inventory");
		return;
	}
	reply_list(r, out, "info.name");
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

void api_images(struct api_req *r)
{
	struct inv_filter f;
	json_t *rows = NULL, *idx, *byid = json_object(), *out = json_array(), *row, *e;
	const char *key;
	size_t i;

	if (filter_init(r, &f) < 0)
		goto done;
	idx = host_index(r);
	if (r->c->store->ops->inv_list(r->c->store, "image", f.hostname, &rows) < 0) {
		json_decref(idx);
		filter_clear(&f);
		api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	json_array_foreach(rows, i, row) {
		json_t *doc = json_object_get(row, "doc"), *tags = json_object_get(doc, "repoTags");
		const char *host = str(row, "hostname"), *id = str(row, "id");
		const char *name = json_string_value(json_array_get(tags, 0));
		const char *cluster = host_cluster(idx, host);
		struct collection_subject subj = { 0 };
		char ts[32];

		if (name == NULL)
			name = id;
		if (f.id && strcmp(f.id, id) != 0)
			continue;
		if (!in_list(cluster, f.clusters, f.nclusters))
			continue;
		if (f.search && !contains_ci(name, f.search) && !contains_ci(id, f.search))
			continue;
		subj.image = name;
		subj.host = host;
		subj.cluster = cluster;
		subj.account_id = host_account(idx, host);
		if (f.ncolls && !collection_match_any(f.colls, f.ncolls, &subj))
			continue;
		time_of(row, ts, sizeof(ts));
		e = json_object_get(byid, id);
		if (e == NULL) {
			json_t *tagl = json_array();
			size_t k;
			json_t *t;
			json_array_foreach(tags, k, t)
				if (json_is_string(t))
					json_array_append_new(tagl, image_tag(json_string_value(t)));
			e = json_pack("{s:s,s:s,s:s,s:o,s:o,s:O,s:o,s:{},s:[],s:[],s:[],s:s}",
				"_id", id, "id", id, "hostname", host, "repoTag", image_tag(name),
				"tags", tagl, "repoDigests", json_object_get(doc, "repoDigests") ?
				json_object_get(doc, "repoDigests") : json_null(),
				"collections", api_collections_of(r, &subj), "hosts", "instances",
				"clusters", "namespaces", "scanTime", ts);
			json_object_set(e, "creationTime", json_object_get(doc, "created") ?
				json_object_get(doc, "created") : json_string(""));
			json_object_set(e, "image", json_object_get(doc, "image") ?
				json_object_get(doc, "image") : json_object());
			json_object_set(e, "info", doc);
			json_object_set_new(byid, id, e);
		}
		json_object_set_new(json_object_get(e, "hosts"), host, json_pack("{s:s}", "modified", ts));
		json_array_append_new(json_object_get(e, "instances"),
				      json_pack("{s:s,s:s,s:s}", "host", host, "image", name, "modified", ts));
		if (cluster && cluster[0]) {
			json_t *cl = json_object_get(e, "clusters");
			size_t k;
			json_t *c;
			int seen = 0;
			json_array_foreach(cl, k, c)
				seen |= strcmp(json_string_value(c), cluster) == 0;
			if (!seen)
				json_array_append_new(cl, json_string(cluster));
		}
	}
	json_object_foreach(byid, key, e)
		json_array_append(out, e);
	json_decref(rows);
	json_decref(idx);
	filter_clear(&f);
	reply_list(r, out, "repoTag.repo");
	out = NULL;
done:
	json_decref(out);
	json_decref(byid);
}

static json_int_t count_on(json_t *rows, const char *host)
{
	json_int_t n = 0;
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
		n += strcmp(str(row, "hostname"), host) == 0;
	return n;
}

void api_hosts(struct api_req *r)
{
	struct inv_filter f;
	json_t *rows = NULL, *idx, *out = json_array(), *row, *conts = NULL;
	size_t i;

	if (filter_init(r, &f) < 0)
		goto done;
	idx = host_index(r);
	if (r->c->store->ops->inv_list(r->c->store, "container", f.hostname, &conts) < 0)
		conts = json_array();
	if (r->c->store->ops->inv_list(r->c->store, "host", f.hostname, &rows) < 0) {
		json_decref(conts);
		json_decref(idx);
		filter_clear(&f);
		api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	json_array_foreach(rows, i, row) {
		json_t *doc = json_object_get(row, "doc"), *e, *d = json_object_get(idx, str(row, "hostname"));
		const char *host = str(row, "hostname"), *cluster = str(d, "cluster");
		struct collection_subject subj = { 0 };
		char ts[32];

		if (!in_list(cluster, f.clusters, f.nclusters))
			continue;
		if (f.search && !contains_ci(host, f.search))
			continue;
		subj.host = host;
		subj.cluster = cluster;
		subj.account_id = host_account(idx, host);
		if (f.ncolls && !collection_match_any(f.colls, f.ncolls, &subj))
			continue;
		time_of(row, ts, sizeof(ts));
		e = json_copy(doc);
		/* The host document is from the last snapshot; count what runs there now. */
		json_object_set_new(e, "containerCount", json_integer(count_on(conts, host)));
		json_object_set_new(e, "_id", json_string(host));
		json_object_set_new(e, "hostname", json_string(host));
		json_object_set_new(e, "scanTime", json_string(ts));
		json_object_set_new(e, "type", json_string("host"));
		json_object_set_new(e, "clusters", cluster && cluster[0] ? json_pack("[s]", cluster) : json_array());
		json_object_set(e, "cloudMetadata", json_object_get(d, "cloudMetadata") ?
				json_object_get(d, "cloudMetadata") : json_object());
		json_object_set_new(e, "collections", api_collections_of(r, &subj));
		json_array_append_new(out, e);
	}
	json_decref(rows);
	json_decref(conts);
	json_decref(idx);
	filter_clear(&f);
	reply_list(r, out, "hostname");
	out = NULL;
done:
	json_decref(out);
}

/* Radar: one entity per image per cluster and namespace. */
void api_radar_container(struct api_req *r)
{
	struct inv_filter f;
	json_t *idx, *cont, *ents = json_object(), *out = json_array(), *c, *e;
	const char *key;
	size_t i;

	if (filter_init(r, &f) < 0)
		goto done;
	idx = host_index(r);
	cont = containers_filtered(r, &f, idx);
	json_decref(idx);
	filter_clear(&f);
	if (cont == NULL) {
		api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	json_array_foreach(cont, i, c) {
		json_t *info = json_object_get(c, "info"), *hosts;
		const char *img = str(info, "image"), *cl = str(info, "cluster"), *ns = str(info, "namespace");
		const char *host = str(c, "hostname");
		char k[1024];
		size_t j;
		json_t *h;
		int seen = 0;

		snprintf(k, sizeof(k), "%s|%s|%s", img ? img : "", cl ? cl : "", ns ? ns : "");
		e = json_object_get(ents, k);
		if (e == NULL) {
			e = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:[],s:[]}", "_id", k, "imageName",
				img ? img : "", "imageID", str(info, "imageID") ? str(info, "imageID") : "",
				"cluster", cl ? cl : "", "namespace", ns ? ns : "", "containerCount", 0,
				"hostCount", 0, "hosts", "containers");
			json_object_set_new(ents, k, e);
		}
		json_object_set_new(e, "containerCount",
			json_integer(json_integer_value(json_object_get(e, "containerCount")) + 1));
		json_array_append_new(json_object_get(e, "containers"),
			json_pack("{s:s,s:s,s:s}", "id", str(c, "_id"), "name",
				  str(info, "name") ? str(info, "name") : "", "hostname", host));
		hosts = json_object_get(e, "hosts");
		json_array_foreach(hosts, j, h)
			seen |= strcmp(json_string_value(h), host) == 0;
		if (!seen) {
			json_array_append_new(hosts, json_string(host));
			json_object_set_new(e, "hostCount", json_integer((json_int_t)json_array_size(hosts)));
		}
	}
	json_decref(cont);
	json_object_foreach(ents, key, e)
		json_array_append(out, e);
	reply_list(r, out, "imageName");
	out = NULL;
done:
	json_decref(out);
	json_decref(ents);
}

/* Radar: one entity per host, with what runs on it. */
void api_radar_host(struct api_req *r)
{
	struct inv_filter f;
	json_t *idx, *cont, *out = json_array(), *c, *e;
	const char *host;
	size_t i;

	if (filter_init(r, &f) < 0)
		goto done;
	idx = host_index(r);
	cont = containers_filtered(r, &f, idx);
	if (cont == NULL) {
		json_decref(idx);
		filter_clear(&f);
		api_error(r, 500, "cannot read the inventory");
		goto done;
	}
	json_object_foreach(idx, host, e) {
		const char *cl = str(e, "cluster");
		struct collection_subject subj = { 0 };
		long n = 0;

		if (f.hostname && strcmp(f.hostname, host) != 0)
			continue;
		if (!in_list(cl, f.clusters, f.nclusters))
			continue;
		subj.host = host;
		subj.cluster = cl;
		subj.account_id = host_account(idx, host);
		if (f.ncolls && !collection_match_any(f.colls, f.ncolls, &subj))
			continue;
		json_array_foreach(cont, i, c)
			n += strcmp(str(c, "hostname"), host) == 0;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:I,s:O,s:O}", "_id", host,
			"hostname", host, "cluster", cl ? cl : "", "containerCount", (json_int_t)n,
			"connected", json_object_get(e, "connected"), "cloudMetadata",
			json_object_get(e, "cloudMetadata")));
	}
	json_decref(cont);
	json_decref(idx);
	filter_clear(&f);
	reply_list(r, out, "hostname");
	out = NULL;
done:
	json_decref(out);
}
