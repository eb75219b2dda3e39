/*
 * api_collections: the collections API (Prisma's collection.Collection) and the helpers that
 * every view uses to filter by ?collections= and to list which collections a record belongs to.
 * Parsing and matching rules live in lib/collection.c, shared with the Defender. The built-in
 * "All" is not stored and can be neither changed nor deleted. A collection that does not
 * validate is refused whole with 400 and a message saying what is wrong. Users of a collection
 * (policies, settings, ...) register themselves in the store (coll_usage_set); usages lists
 * them, and a collection in use cannot be deleted (409). A collection cannot be renamed (the
 * name is its key, and a PUT whose body names another collection is refused), so usages stay
 * valid.
 */
#include "api.h"
#include "runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <garrison/collection.h>
#include <garrison/log.h>
#include <garrison/util.h>

#define ALL_NAME "All"

/* Loads All and every stored collection into r->colls (once per request). */
static int load_all(struct api_req *r)
{
	json_t *docs = NULL, *d;
	size_t i;

	if (r->colls_loaded)
		return 0;
	r->colls_loaded = 1;
	if (r->c->store->ops->coll_list(r->c->store, &docs) < 0)
		return -EIO;
	r->colls = calloc(json_array_size(docs) + 1, sizeof(*r->colls));
	if (r->colls == NULL) {
		json_decref(docs);
		return -ENOMEM;
	}
	r->colls[r->ncolls++] = collection_all();
	json_array_foreach(docs, i, d) {
		char err[256];
		struct collection *c = NULL;
		if (collection_from_json(d, &c, err, sizeof(err)) == 0)
			r->colls[r->ncolls++] = c;
		else
			log_warn("api: a stored collection does not parse any more: %s", err);
	}
	json_decref(docs);
	return 0;
}

static struct collection *find(struct api_req *r, const char *name)
{
	for (size_t i = 0; i < r->ncolls; i++)
		if (strcmp(collection_name(r->colls[i]), name) == 0)
			return r->colls[i];
	return NULL;
}

int api_collections_filter(struct api_req *r, struct collection ***out, size_t *n)
{
	const char *names[64];
	char buf[4096];
	size_t k = api_query_list(r, "collections", buf, sizeof(buf), names, 64);

	*out = NULL;
	*n = 0;
	if (k == 0)
		return 0;
	if (load_all(r) < 0) {
		api_error(r, 500, "cannot read the collections");
		return -EIO;
	}
	*out = calloc(k, sizeof(**out));
	if (*out == NULL) {
		api_error(r, 500, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < k; i++) {
		struct collection *c = find(r, names[i]);
		if (c == NULL) {
			free(*out);
			*out = NULL;
			api_error(r, 400, "unknown collection: %s", names[i]);
			return -EINVAL;
		}
		(*out)[(*n)++] = c;
	}
	return 0;
}

/* A filter borrows its collections from r->colls: only its array is freed here. */
void api_collections_filter_free(struct collection **v, size_t n)
{
	(void)n;
	free(v);
}

void api_collections_release(struct api_req *r)
{
	for (size_t i = 0; i < r->ncolls; i++)
		collection_free(r->colls[i]);
	free(r->colls);
	r->colls = NULL;
	r->ncolls = 0;
	r->colls_loaded = 0;
}

json_t *api_collections_of(struct api_req *r, const struct collection_subject *s)
{
	json_t *names = json_array();

	if (load_all(r) < 0)
		return names;
	for (size_t i = 0; i < r->ncolls; i++)
		if (collection_match(r->colls[i], s))
			json_array_append_new(names, json_string(collection_name(r->colls[i])));
	return names;
}

void api_collections_list(struct api_req *r)
{
	json_t *out = json_array();

	if (load_all(r) < 0) {
		json_decref(out);
		api_error(r, 500, "cannot read the collections");
		return;
	}
	for (size_t i = 0; i < r->ncolls; i++)
		json_array_append_new(out, collection_to_json(r->colls[i]));
	api_total_count(r, (long)json_array_size(out));
	api_reply_json(r, 200, out);
}

/* Parses and validates the body; on success *doc is the normalised document to store. */
static int parse_body(struct api_req *r, struct collection **c, json_t **doc)
{
	json_t *body = NULL;
	char err[256];

	*c = NULL;
	*doc = NULL;
	if (api_body_json(r, &body) < 0)
		return -EINVAL;
	if (collection_from_json(body, c, err, sizeof(err)) < 0) {
		json_decref(body);
		api_error(r, 400, "invalid collection: %s", err);
		return -EINVAL;
	}
	json_decref(body);
	*doc = collection_to_json(*c);
	if (*doc == NULL) {
		collection_free(*c);
		*c = NULL;
		api_error(r, 500, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static void stamp(struct api_req *r, json_t *doc)
{
	char ts[32];

	util_time_rfc3339(time(NULL), ts, sizeof(ts));
	json_object_set_new(doc, "modified", json_string(ts));
	json_object_set_new(doc, "owner", json_string(r->user));
	json_object_set_new(doc, "system", json_false());
}

void api_collections_create(struct api_req *r)
{
	struct collection *c;
	json_t *doc;
	int rc;

	if (parse_body(r, &c, &doc) < 0)
		return;
	if (strcmp(collection_name(c), ALL_NAME) == 0) {
		api_error(r, 400, "the collection All is built in and cannot be changed");
		goto out;
	}
	stamp(r, doc);
	rc = r->c->store->ops->coll_put(r->c->store, collection_name(c), doc, 1);
	if (rc == -EEXIST)
		api_error(r, 400, "a collection named %s already exists", collection_name(c));
	else if (rc < 0)
		api_error(r, 500, "cannot store the collection");
	else
		api_reply_raw(r, 200, "application/json", "", 0);
out:
	collection_free(c);
	json_decref(doc);
}

void api_collections_update(struct api_req *r)
{
	struct collection *c;
	json_t *doc;
	int rc;

	if (strcmp(r->param, ALL_NAME) == 0) {
		api_error(r, 400, "the collection All is built in and cannot be changed");
		return;
	}
	if (parse_body(r, &c, &doc) < 0)
		return;
	if (strcmp(collection_name(c), r->param) != 0) {
		api_error(r, 400, "the name in the body (%s) differs from the one in the path (%s)",
			  collection_name(c), r->param);
		goto out;
	}
	stamp(r, doc);
	rc = r->c->store->ops->coll_put(r->c->store, r->param, doc, 0);
	if (rc == -ENOENT)
		api_error(r, 404, "no collection named %s", r->param);
	else if (rc < 0)
		api_error(r, 500, "cannot store the collection");
	else {
		/* Runtime policies scoped by it take the new content and go to the Defenders now. */
		if (console_runtime_collection_changed(r->c, r->param) < 0)
			log_warn("api: the runtime policies that use collection %s were not all updated",
				 r->param);
		api_reply_raw(r, 200, "application/json", "", 0);
	}
out:
	collection_free(c);
	json_decref(doc);
}

/* "policy runtime-container/a, user alice" from a usages array, cut to fit len. */
static void usage_names(json_t *u, char *buf, size_t len)
{
	size_t w = 0, i;
	json_t *e;

	buf[0] = '\0';
	json_array_foreach(u, i, e) {
		int n = snprintf(buf + w, len - w, "%s%s %s", i ? ", " : "", json_string_value(
					 json_object_get(e, "type")), json_string_value(json_object_get(e, "name")));
		if (n < 0 || (size_t)n >= len - w) {
			if (len > 4)
				memcpy(buf + len - 4, "...", 4);
			return;
		}
		w += (size_t)n;
	}
}

/* A collection that something uses (collection_usages, registered by its users through
 * store coll_usage_set) cannot be deleted: 409 naming the users. */
void api_collections_delete(struct api_req *r)
{
	json_t *u = NULL;
	char who[512];
	int rc;

	if (strcmp(r->param, ALL_NAME) == 0) {
		api_error(r, 400, "the collection All is built in and cannot be deleted");
		return;
	}
	rc = r->c->store->ops->coll_delete(r->c->store, r->param);
	if (rc == -EBUSY) {
		if (r->c->store->ops->coll_usages(r->c->store, r->param, &u) < 0)
			u = json_array();
		usage_names(u, who, sizeof(who));
		api_error(r, 409, "collection %s is in use by %s; remove it from them first", r->param,
			  who);
		json_decref(u);
	} else if (rc == -ENOENT) {
		api_error(r, 404, "no collection named %s", r->param);
	} else if (rc < 0) {
		api_error(r, 500, "cannot delete the collection");
	} else {
		api_reply_raw(r, 200, "application/json", "", 0);
	}
}

/* Who uses the collection, as Prisma's [collection.Usage] ({type, name}); 404 for an unknown
 * collection. All is used by whatever registers it like any other name. */
void api_collections_usages(struct api_req *r)
{
	json_t *doc = NULL, *u = NULL;

	if (strcmp(r->param, ALL_NAME) != 0 &&
	    r->c->store->ops->coll_get(r->c->store, r->param, &doc) < 0) {
		api_error(r, 404, "no collection named %s", r->param);
		return;
	}
	json_decref(doc);
	if (r->c->store->ops->coll_usages(r->c->store, r->param, &u) < 0) {
		api_error(r, 500, "cannot read the usages of the collection");
		return;
	}
	api_total_count(r, (long)json_array_size(u));
	api_reply_json(r, 200, u);
}
