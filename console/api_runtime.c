/*
 * api_runtime: the runtime-defense endpoints, in Prisma Cloud Compute's shapes (docs/api.md,
 * "Runtime"; docs/runtime-console.md):
 *   GET/PUT/POST /api/v1/policies/runtime/container|host   the policy (runtime.ContainerPolicy,
 *                runtime.HostPolicy); POST also takes one rule (added first, or replacing the
 *                rule of that name)
 *   GET   /api/v1/audits/runtime/container|host            shared.RuntimeAudit pages
 *   GET   /api/v1/audits/incidents                         shared.Incident pages
 *   PATCH /api/v1/audits/incidents/acknowledge/{id}
 *   GET   /api/v1/profiles/container                       shared.ContainerRuntimeProfile pages
 *   POST  /api/v1/profiles/container/learn, /api/v1/profiles/container/{id}/learn  relearn
 * A policy is checked with the Defender's own parser before it is stored (400 with the parser's
 * sentence), its rules' collections must exist (400) and are registered as usages (so a used
 * collection cannot be deleted), it gets a new Console-wide revision, and it is pushed to every
 * live Defender through the hub.
 */
#include "api.h"
#include "hub.h"
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <garrison/collection.h>
#include <garrison/log.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#define RT_PAGE_DEFAULT 50
#define RT_PAGE_MAX 1000

static const char *kind_of(struct api_req *r)
{
	size_t n = strlen(r->path);

	return n >= 5 && strcmp(r->path + n - 5, "/host") == 0 ? "host" : "container";
}

/* ---- policies ---- */

void api_rt_policy_get(struct api_req *r)
{
	const char *kind = kind_of(r);
	json_t *doc = NULL;
	char err[256];

	if (r->c->store->ops->rt_policy_get(r->c->store, kind, &doc, NULL) == -ENOENT)
		doc = console_runtime_default_policy(kind);
	if (doc == NULL) {
		api_error(r, 500, "cannot read the %s runtime policy", kind);
		return;
	}
	/* Collections are shown as they are now (they may have been edited since). */
	if (console_runtime_resolve(r->c, doc, 0, err, sizeof(err)) < 0)
		log_warn("api: %s runtime policy: %s", kind, err);
	api_reply_json(r, 200, doc);
}

struct usage_ctx {
	struct store *s;
	const char *prefix;
	json_t *seen;   /* rule names of the new policy */
	int failed;
};

static int set_usage(const char *rule, const char **names, size_t n, void *arg)
{
	struct usage_ctx *u = arg;
	char name[STORE_USAGE_NAME_MAX + 1];
	const char *all = "All";

	snprintf(name, sizeof(name), "%s%s", u->prefix, rule);
	if (n == 0) { /* no collections: every workload, i.e. All */
		names = &all;
		n = 1;
	}
	if (u->s->ops->coll_usage_set(u->s, "policy", name, names, n) < 0)
		u->failed++;
	json_object_set_new(u->seen, rule, json_true());
	return 0;
}

static int clear_old_usage(const char *rule, const char **names, size_t n, void *arg)
{
	struct usage_ctx *u = arg;
	char name[STORE_USAGE_NAME_MAX + 1];

	(void)names;
	(void)n;
	if (json_object_get(u->seen, rule) != NULL)
		return 0;
	snprintf(name, sizeof(name), "%s%s", u->prefix, rule);
	if (u->s->ops->coll_usage_set(u->s, "policy", name, NULL, 0) < 0)
		u->failed++;
	return 0;
}

/* POST with one rule: the current policy with that rule replaced (same name or previousName),
 * or added first. Returns the new document (new reference) or NULL after an error reply. */
static json_t *policy_with_rule(struct api_req *r, const char *kind, json_t *rule)
{
	const char *name = json_string_value(json_object_get(rule, "name"));
	const char *prev = json_string_value(json_object_get(rule, "previousName"));
	json_t *doc = NULL, *rules, *ru;
	size_t i;

	if (name == NULL) {
		api_error(r, 400, "the body must be a runtime policy (with rules) or one rule (with a name)");
		return NULL;
	}
	if (r->c->store->ops->rt_policy_get(r->c->store, kind, &doc, NULL) == -ENOENT)
		doc = console_runtime_default_policy(kind);
	rules = json_object_get(doc, "rules");
	if (!json_is_array(rules)) {
		json_object_set_new(doc, "rules", json_array());
		rules = json_object_get(doc, "rules");
	}
	if (doc == NULL || rules == NULL) {
		json_decref(doc);
		api_error(r, 500, "cannot read the %s runtime policy", kind);
		return NULL;
	}
	json_array_foreach(rules, i, ru) {
		const char *rn = json_string_value(json_object_get(ru, "name"));
		if (rn && (strcmp(rn, name) == 0 || (prev && strcmp(rn, prev) == 0))) {
			json_array_set(rules, i, rule);
			return doc;
		}
	}
	json_array_insert(rules, 0, rule);
	return doc;
}

/* Sets owner and modified on every rule, as Prisma does. */
static void stamp_rules(struct api_req *r, json_t *doc)
{
	json_t *rules = json_is_array(doc) ? doc : json_object_get(doc, "rules"), *ru;
	char ts[32];
	size_t i;

	util_time_rfc3339(time(NULL), ts, sizeof(ts));
	json_array_foreach(rules, i, ru) {
		json_object_set_new(ru, "modified", json_string(ts));
		if (!json_is_string(json_object_get(ru, "owner")))
			json_object_set_new(ru, "owner", json_string(r->user));
	}
}

/* Defenders close a connection that carries a message over PROTO_MAX_MSG; a policy that made
 * runtime-policy larger would make them reconnect forever. 1 (after a 400) when it would. */
static int message_too_large(struct api_req *r, const char *kind, json_t *doc)
{
	const char *other = strcmp(kind, "host") == 0 ? "container" : "host";
	json_t *o = NULL;
	char err[256];
	size_t n = json_dumpb(doc, NULL, 0, JSON_COMPACT);

	if (r->c->store->ops->rt_policy_get(r->c->store, other, &o, NULL) < 0)
		o = console_runtime_default_policy(other);
	if (o && console_runtime_resolve(r->c, o, 0, err, sizeof(err)) == 0)
		n += json_dumpb(o, NULL, 0, JSON_COMPACT);
	json_decref(o);
	if (n + 1024 <= PROTO_MAX_MSG)
		return 0;
	api_error(r, 400, "invalid runtime policy: with its collections the policies take %zu bytes,"
		  " more than a Defender accepts in one message (%d)", n, PROTO_MAX_MSG);
	return 1;
}

void api_rt_policy_put(struct api_req *r)
{
	const char *kind = kind_of(r);
	const char *prefix = strcmp(kind, "host") == 0 ? CONSOLE_RUNTIME_USAGE_HOST :
							   CONSOLE_RUNTIME_USAGE_CONTAINER;
	json_t *body = NULL, *doc = NULL, *old = NULL, *rules, *ru;
	struct usage_ctx u = { 0 };
	long long rev = 0;
	char err[512];
	size_t i;
	int rc;

	if (api_body_json_max(r, API_MAX_BODY, &body) < 0)
		return;
	if (r->method == EVHTTP_REQ_POST && json_is_object(body) &&
	    json_object_get(body, "rules") == NULL && json_object_get(body, "name") != NULL) {
		if ((doc = policy_with_rule(r, kind, body)) == NULL)
			goto out;
	} else if (json_is_array(body)) {
		doc = json_pack("{s:O}", "rules", body);
	} else {
		doc = json_incref(body);
	}
	if (!json_is_object(doc)) {
		api_error(r, 400, "the body must be a runtime policy object");
		goto out;
	}
	if (json_object_get(doc, "_id") == NULL)
		json_object_set_new(doc, "_id", json_string(strcmp(kind, "host") == 0 ? "hostRuntime" :
							   "containerRuntime"));
	rules = json_object_get(doc, "rules");
	json_array_foreach(rules, i, ru) {
		const char *rn = json_string_value(json_object_get(ru, "name"));
		if (rn && strlen(prefix) + strlen(rn) > STORE_USAGE_NAME_MAX) {
			api_error(r, 400, "invalid runtime policy: rules[%zu].name: at most %zu bytes", i,
				  STORE_USAGE_NAME_MAX - strlen(prefix));
			goto out;
		}
	}
	rc = console_runtime_resolve(r->c, doc, 1, err, sizeof(err));
	if (rc == -EINVAL) {
		api_error(r, 400, "invalid runtime policy: %s", err);
		goto out;
	} else if (rc < 0) {
		api_error(r, 500, "%s", err);
		goto out;
	}
	rc = console_runtime_validate(kind, doc, err, sizeof(err));
	if (rc == -EINVAL) {
		api_error(r, 400, "invalid runtime policy: %s", err);
		goto out;
	} else if (rc < 0) {
		api_error(r, 500, "cannot check the policy: %s", strerror(-rc));
		goto out;
	}
	stamp_rules(r, doc);
	if (message_too_large(r, kind, doc))
		goto out;
	if (r->c->store->ops->rt_policy_get(r->c->store, kind, &old, NULL) < 0)
		old = NULL;
	if (r->c->store->ops->rt_policy_put(r->c->store, kind, doc, &rev) < 0) {
		api_error(r, 500, "cannot store the %s runtime policy", kind);
		goto out;
	}
	u.s = r->c->store;
	u.prefix = prefix;
	u.seen = json_object();
	console_runtime_rules_foreach(doc, set_usage, &u);
	if (old)
		console_runtime_rules_foreach(old, clear_old_usage, &u);
	if (u.failed)
		log_warn("api: %d collection usages of the %s runtime policy were not recorded",
			 u.failed, kind);
	json_decref(u.seen);
	log_info("api: %s stored the %s runtime policy (%zu rules, revision %lld)", r->user, kind,
		 json_array_size(rules), rev);
	if (console_runtime_push(r->c) < 0)
		log_warn("api: the runtime policy (revision %lld) was not pushed to the Defenders; "
			 "they get it at their next connection", rev);
	api_reply_raw(r, 200, "application/json", "", 0);
out:
	json_decref(body);
	json_decref(doc);
	json_decref(old);
}

/* ---- lists ---- */

/* Reads a repeatable, comma-separated filter into q (at most STORE_RT_VALUES_MAX values). */
static void filter(struct api_req *r, struct store_rt_query *q, enum store_rt_col col,
		   const char *param, char *buf, size_t len)
{
	q->neq[col] = api_query_list(r, param, buf, len, q->eq[col], STORE_RT_VALUES_MAX);
}

/* offset, limit (default RT_PAGE_DEFAULT, at most RT_PAGE_MAX), reverse, from, to. 0, or
 * -EINVAL after a 400. */
static int common_params(struct api_req *r, struct store_rt_query *q)
{
	const char *from = api_query(r, "from"), *to = api_query(r, "to");
	int rev;

	if (api_paging(r, &q->offset, &q->limit) < 0)
		return -EINVAL;
	if (q->limit == 0)
		q->limit = RT_PAGE_DEFAULT;
	if (q->limit > RT_PAGE_MAX)
		q->limit = RT_PAGE_MAX;
	if ((rev = api_query_bool(r, "reverse")) == -2)
		return -EINVAL;
	q->reverse = rev == 1;
	if (from && console_runtime_parse_time(from, &q->from_ns) < 0) {
		api_error(r, 400, "from must be an RFC 3339 time (e.g. 2026-11-27T09:00:00Z)");
		return -EINVAL;
	}
	if (to && console_runtime_parse_time(to, &q->to_ns) < 0) {
		api_error(r, 400, "to must be an RFC 3339 time (e.g. 2026-11-27T09:00:00Z)");
		return -EINVAL;
	}
	return 0;
}

/* ?id=: a decimal _id; anything else matches nothing (*none set). */
static void id_param(struct api_req *r, struct store_rt_query *q, int *none)
{
	const char *id = api_query(r, "id");
	char *end;

	*none = 0;
	if (id == NULL)
		return;
	q->id = strtoll(id, &end, 10);
	if (*id == '\0' || *end != '\0' || q->id <= 0)
		*none = 1;
}

static void reply_list(struct api_req *r, int rc, json_t *arr, long total, const char *what)
{
	if (rc == -EINVAL) {
		api_error(r, 400, "bad %s filter", what);
		return;
	}
	if (rc < 0) {
		api_error(r, 500, "cannot read the %s", what);
		return;
	}
	api_total_count(r, total);
	api_reply_json(r, 200, arr);
}

struct keep_ctx {
	struct collection **colls;
	size_t n;
};

/* An audit's workload against the collections asked for: hosts, images, containers (by name),
 * namespaces, clusters. Audits carry no labels: a collection that needs labels matches none. */
static int keep_in_collections(const struct store_rt_subject *a, void *arg)
{
	const struct keep_ctx *k = arg;
	struct collection_subject subj = {
		.container = a->container_name, .image = a->image, .host = a->hostname,
		.namespace_ = a->namespace_, .cluster = a->cluster,
	};

	return collection_match_any(k->colls, k->n, &subj);
}

void api_rt_audits(struct api_req *r)
{
	static const struct { enum store_rt_col col; const char *param; } params[] = {
		{ STORE_RT_HOSTNAME, "hostname" }, { STORE_RT_CLUSTER, "cluster" },
		{ STORE_RT_NAMESPACE, "namespace" }, { STORE_RT_IMAGE, "imageName" },
		{ STORE_RT_CONTAINER_ID, "containerID" }, { STORE_RT_CONTAINER_NAME, "container" },
		{ STORE_RT_ATTACK_TYPE, "attackType" }, { STORE_RT_TYPE, "type" },
		{ STORE_RT_EFFECT, "effect" }, { STORE_RT_RULE, "ruleName" },
		{ STORE_RT_PROCESS, "processPath" }, { STORE_RT_USER, "user" },
	};
	struct store_rt_query q = { .acknowledged = -1 };
	char bufs[sizeof(params) / sizeof(params[0])][2048];
	json_t *arr = NULL;
	long total = 0;
	int none, rc;

	q.kind = kind_of(r);
	if (common_params(r, &q) < 0)
		return;
	/* sort: a member of shared.RuntimeAudit (time, hostname, attackType, ...), as Prisma's */
	q.sort_path = api_query(r, "sort");
	if (q.sort_path && !store_sort_path_ok(q.sort_path)) {
		api_error(r, 400, "sort must name a member of the audit (letters, digits, '_', '.' between "
				  "segments), e.g. time, hostname or attackType");
		return;
	}
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		filter(r, &q, params[i].col, params[i].param, bufs[i], sizeof(bufs[i]));
	id_param(r, &q, &none);
	if (none) {
		api_total_count(r, 0);
		api_reply_json(r, 200, json_array());
		return;
	}
	struct keep_ctx k = { NULL, 0 };
	if (api_collections_filter(r, &k.colls, &k.n) < 0)
		return;
	if (k.n) {
		q.keep = keep_in_collections;
		q.keep_arg = &k;
	}
	rc = r->c->store->ops->rt_audits_query(r->c->store, &q, &arr, &total);
	api_collections_filter_free(k.colls, k.n);
	reply_list(r, rc, arr, total, "runtime audits");
}

void api_rt_incidents(struct api_req *r)
{
	struct store_rt_query q = { .acknowledged = -1 };
	char b1[2048], b2[2048], b3[2048], b4[2048];
	const char *type = api_query(r, "type");
	json_t *arr = NULL;
	long total = 0;
	int none, rc;

	if (common_params(r, &q) < 0)
		return;
	if (type != NULL) {
		if (strcmp(type, "container") != 0 && strcmp(type, "host") != 0) {
			api_total_count(r, 0); /* function, appEmbedded, fargate: none here */
			api_reply_json(r, 200, json_array());
			return;
		}
		q.kind = type;
	}
	if ((q.acknowledged = api_query_bool(r, "acknowledged")) == -2)
		return;
	filter(r, &q, STORE_RT_HOSTNAME, "hostname", b1, sizeof(b1));
	filter(r, &q, STORE_RT_CLUSTER, "cluster", b2, sizeof(b2));
	filter(r, &q, STORE_RT_CONTAINER_ID, "containerID", b3, sizeof(b3));
	filter(r, &q, STORE_RT_CATEGORY, "category", b4, sizeof(b4));
	id_param(r, &q, &none);
	if (none) {
		api_total_count(r, 0);
		api_reply_json(r, 200, json_array());
		return;
	}
	rc = r->c->store->ops->rt_incidents_query(r->c->store, &q, &arr, &total);
	reply_list(r, rc, arr, total, "incidents");
}

void api_rt_incident_ack(struct api_req *r)
{
	json_t *body = NULL, *ack;
	long long id;
	char *end;
	int rc;

	id = strtoll(r->param, &end, 10);
	if (r->param[0] == '\0' || *end != '\0' || id <= 0) {
		api_error(r, 404, "no incident %s", r->param);
		return;
	}
	if (api_body_json(r, &body) < 0)
		return;
	ack = json_object_get(body, "acknowledged");
	if (ack != NULL && !json_is_boolean(ack)) {
		api_error(r, 400, "acknowledged must be true or false");
		goto out;
	}
	rc = r->c->store->ops->rt_incident_ack(r->c->store, id, ack == NULL || json_is_true(ack));
	if (rc == -ENOENT)
		api_error(r, 404, "no incident %s", r->param);
	else if (rc < 0)
		api_error(r, 500, "cannot update the incident");
	else
		api_reply_raw(r, 200, "application/json", "", 0);
out:
	json_decref(body);
}

/* The member at a dotted path ("a.b.0.c": a number indexes an array), or NULL. */
static json_t *at(json_t *o, const char *path)
{
	char seg[64];

	while (o != NULL && *path) {
		size_t n = strcspn(path, ".");
		if (n == 0 || n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = 0;
		if (json_is_array(o) && strspn(seg, "0123456789") == n)
			o = json_array_get(o, (size_t)strtoul(seg, NULL, 10));
		else
			o = json_object_get(o, seg);
		path += n + (path[n] == '.');
	}
	return o;
}

/* The key of element e: its k1 (and k2) values as compact JSON, or NULL. */
static char *elem_key(const json_t *e, const char *k1, const char *k2)
{
	json_t *k = json_pack("[O?,O?]", json_object_get(e, k1), k2 ? json_object_get(e, k2) : NULL);
	char *t = k ? json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	json_decref(k);
	return t;
}

/* Adds to array dst the elements of src whose k1 (and k2 when given) values are not in it yet;
 * one pass over each (the keys of dst in a set), as lists hold up to thousands of entries and a
 * profile may merge the models of many hosts. */
static void union_by(json_t *dst, json_t *src, const char *k1, const char *k2)
{
	json_t *seen, *e;
	size_t i;

	if (!json_is_array(dst) || !json_is_array(src) || (seen = json_object()) == NULL)
		return;
	json_array_foreach(dst, i, e) {
		char *t = elem_key(e, k1, k2);
		if (t)
			json_object_set_new(seen, t, json_true());
		free(t);
	}
	json_array_foreach(src, i, e) {
		char *t = elem_key(e, k1, k2);
		if (t && json_object_get(seen, t) == NULL) {
			json_object_set_new(seen, t, json_true());
			json_array_append(dst, e);
		}
		free(t);
	}
	json_decref(seen);
}

static int state_rank(const json_t *p)
{
	const char *s = json_string_value(json_object_get(p, "state"));

	return s == NULL || strcmp(s, "learning") == 0 ? 0 : strcmp(s, "dryRun") == 0 ? 1 : 2;
}

/* Merges profile src (of another host) into dst, a profile with the same _id: the learned lists
 * are united, the state is the least advanced (a model still learning somewhere learns), the
 * creation time the earliest, overflows add up, and the host joins "hostnames". */
static void profile_merge(json_t *dst, json_t *src)
{
	static const struct { const char *path, *k1, *k2; } lists[] = {
		{ "processes.static", "path", NULL },
		{ "network.behavioral.listeningPorts.0.portsData.ports", "port", "protocol" },
		{ "network.behavioral.outboundPorts.ports", "port", "protocol" },
		{ "network.behavioral.dnsQueries", "domainName", NULL },
		{ "filesystem.behavioral", "path", NULL },
	};
	const char *c1 = json_string_value(json_object_get(dst, "created"));
	const char *c2 = json_string_value(json_object_get(src, "created"));

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		union_by(at(dst, lists[i].path), at(src, lists[i].path), lists[i].k1, lists[i].k2);
	if (state_rank(src) < state_rank(dst))
		json_object_set(dst, "state", json_object_get(src, "state"));
	if (c1 && c2 && strcmp(c2, c1) < 0)
		json_object_set_new(dst, "created", json_string(c2));
	if (json_is_integer(json_object_get(src, "learnedOverflow")))
		json_object_set_new(dst, "learnedOverflow",
				    json_integer(json_integer_value(json_object_get(dst, "learnedOverflow")) +
						 json_integer_value(json_object_get(src, "learnedOverflow"))));
	json_array_append(json_object_get(dst, "hostnames"), json_object_get(src, "hostname"));
}

static int by_id(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "_id"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "_id"));

	return strcmp(x ? x : "", y ? y : "");
}

/* One profile per _id (image, namespace, cluster), as Prisma lists them: the Defenders' models of
 * it merged (profile_merge), ordered by _id, then paged. */
static json_t *profiles_merged(json_t *rows, const struct store_rt_query *q, long *total)
{
	json_t *byid = json_object(), *out = json_array(), *e, *page;
	json_t **v = NULL;
	size_t i, n = 0;
	const char *k;

	json_array_foreach(rows, i, e) {
		const char *id = json_string_value(json_object_get(e, "_id"));
		json_t *m;
		if (id == NULL)
			continue;
		if ((m = json_object_get(byid, id)) != NULL) {
			profile_merge(m, e);
			continue;
		}
		m = json_deep_copy(e);
		json_object_set_new(m, "hostnames", json_pack("[O]", json_object_get(e, "hostname")));
		json_object_set_new(byid, id, m);
	}
	v = calloc(json_object_size(byid) + 1, sizeof(*v));
	json_object_foreach(byid, k, e) {
		if (v == NULL)
			break;
		/* "hostname" stays only when one host has the model */
		if (json_array_size(json_object_get(e, "hostnames")) > 1)
			json_object_del(e, "hostname");
		v[n++] = e;
	}
	if (v)
		qsort(v, n, sizeof(*v), by_id);
	*total = (long)n;
	for (i = 0; v && i < n; i++) {
		size_t idx = q->reverse ? n - 1 - i : i;
		if ((long)i < q->offset)
			continue;
		if (q->limit > 0 && (long)json_array_size(out) >= q->limit)
			break;
		json_array_append(out, v[idx]);
	}
	page = out;
	free(v);
	json_decref(byid);
	return page;
}

/* The profiles the request asks for (filters, then merged per _id and paged) into *arr; every
 * one when whole and the request has no limit (a download). 0, or -1 when a reply was sent
 * already (bad parameters), or the store's error. */
static int profiles_page(struct api_req *r, int whole, json_t **arr, long *total)
{
	struct store_rt_query q = { .acknowledged = -1 }, all;
	char b[6][2048];
	json_t *rows = NULL;
	int rc;

	*arr = NULL;
	*total = 0;
	if (common_params(r, &q) < 0)
		return -1;
	if (whole && evhttp_find_header(&r->query, "limit") == NULL)
		q.limit = 0;
	q.from_ns = q.to_ns = 0;
	filter(r, &q, STORE_RT_HOSTNAME, "hostName", b[0], sizeof(b[0]));
	filter(r, &q, STORE_RT_IMAGE, "image", b[1], sizeof(b[1]));
	filter(r, &q, STORE_RT_NAMESPACE, "namespace", b[2], sizeof(b[2]));
	filter(r, &q, STORE_RT_CLUSTER, "cluster", b[3], sizeof(b[3]));
	filter(r, &q, STORE_RT_STATE, "state", b[4], sizeof(b[4]));
	filter(r, &q, STORE_RT_ID, "id", b[5], sizeof(b[5]));
	/* every host's model of every profile that passes the filters, merged here, then paged */
	all = q;
	all.offset = 0;
	all.limit = 0;
	all.reverse = 0;
	rc = r->c->store->ops->rt_profiles_query(r->c->store, &all, &rows, total);
	if (rc == 0) {
		*arr = profiles_merged(rows, &q, total);
		if (*arr == NULL)
			rc = -ENOMEM;
	}
	json_decref(rows);
	return rc == -1 ? -EIO : rc;
}

void api_rt_profiles(struct api_req *r)
{
	json_t *arr;
	long total;
	int rc = profiles_page(r, 0, &arr, &total);

	if (rc == -1)
		return;
	reply_list(r, rc, arr, total, "runtime profiles");
}

/* One CSV cell (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes doubled.
 * A cell a spreadsheet would take for a formula (=, +, -, @, tab, CR first) gets a ' in front:
 * process paths and names come from the workloads, which an attacker may control. */
static void csv_cell(FILE *f, const char *s, int last)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		fputc('"', f);
	if (s[0] != 0 && strchr("=+-@\t\r", s[0]) != NULL)
		fputc('\'', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	if (quote)
		fputc('"', f);
	fputs(last ? "\r\n" : ",", f);
}

/* The values of member key of the elements of array a (port/protocol pairs when key is NULL,
 * the strings themselves when key is ""), joined by "; ", as one cell. */
static void csv_list(FILE *f, const json_t *a, const char *key, int last)
{
	char *text = NULL;
	size_t len = 0;
	FILE *l = open_memstream(&text, &len);
	const json_t *e;
	size_t i;

	if (l == NULL) {
		csv_cell(f, "", last);
		return;
	}
	json_array_foreach(a, i, e) {
		if (i > 0)
			fputs("; ", l);
		if (key == NULL) {
			const char *proto = json_string_value(json_object_get(e, "protocol"));
			fprintf(l, "%s/%" JSON_INTEGER_FORMAT, proto && proto[0] ? proto : "?",
				json_integer_value(json_object_get(e, "port")));
		} else {
			const char *v = json_string_value(key[0] ? json_object_get(e, key) : e);
			fputs(v ? v : "", l);
		}
	}
	fclose(l);
	csv_cell(f, text ? text : "", last);
	free(text);
}

void api_rt_profiles_download(struct api_req *r)
{
	static const char *const header[] = { "Id", "Image", "Namespace", "Cluster", "State", "Created",
		"Hosts", "Processes", "Listening ports", "Outbound ports", "DNS queries", "File paths",
		"Learned overflow" };
	static const char *const str[] = { "_id", "image", "namespace", "cluster", "state", "created" };
	const size_t nh = sizeof(header) / sizeof(header[0]);
	char *text = NULL;
	size_t len = 0, i;
	json_t *arr, *p;
	long total;
	FILE *f;
	int rc = profiles_page(r, 1, &arr, &total);

	if (rc == -1)
		return;
	if (rc < 0) {
		reply_list(r, rc, NULL, 0, "runtime profiles");
		return;
	}
	if ((f = open_memstream(&text, &len)) == NULL) {
		json_decref(arr);
		api_error(r, 500, "out of memory");
		return;
	}
	for (i = 0; i < nh; i++)
		csv_cell(f, header[i], i + 1 == nh);
	json_array_foreach(arr, i, p) {
		for (size_t k = 0; k < sizeof(str) / sizeof(str[0]); k++) {
			const char *v = json_string_value(json_object_get(p, str[k]));
			csv_cell(f, v ? v : "", 0);
		}
		csv_list(f, json_object_get(p, "hostnames"), "", 0);
		csv_list(f, at(p, "processes.static"), "path", 0);
		csv_list(f, at(p, "network.behavioral.listeningPorts.0.portsData.ports"), NULL, 0);
		csv_list(f, at(p, "network.behavioral.outboundPorts.ports"), NULL, 0);
		csv_list(f, at(p, "network.behavioral.dnsQueries"), "domainName", 0);
		csv_list(f, at(p, "filesystem.behavioral"), "path", 0);
		fprintf(f, "%" JSON_INTEGER_FORMAT "\r\n", json_integer_value(json_object_get(p, "learnedOverflow")));
	}
	json_decref(arr);
	if (fclose(f) != 0 || text == NULL) {
		free(text);
		api_error(r, 500, "out of memory");
		return;
	}
	api_total_count(r, total);
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Content-Disposition",
			  "attachment; filename=\"runtime_container_profiles.csv\"");
	api_reply_raw(r, 200, "text/csv; charset=utf-8", text, len);
	free(text);
}

void api_rt_profiles_learn(struct api_req *r)
{
	json_t *msg = json_pack("{s:s,s:b}", "type", PROTO_RT_RELEARN, "all", 1);
	int rc = msg ? hub_broadcast(r->c, msg) : -ENOMEM;

	json_decref(msg);
	if (rc < 0) {
		api_error(r, 500, "cannot reach the Defenders");
		return;
	}
	log_info("api: %s asked every Defender to relearn its runtime models", r->user);
	api_reply_raw(r, 200, "application/json", "", 0);
}

void api_rt_profile_learn(struct api_req *r)
{
	json_t *hosts = NULL, *msg, *h;
	size_t i;

	if (r->c->store->ops->rt_profile_hosts(r->c->store, r->param, &hosts) < 0) {
		api_error(r, 500, "cannot read the runtime profiles");
		return;
	}
	if (json_array_size(hosts) == 0) {
		json_decref(hosts);
		api_error(r, 404, "no runtime profile %s", r->param);
		return;
	}
	msg = json_pack("{s:s,s:[s]}", "type", PROTO_RT_RELEARN, "profiles", r->param);
	json_array_foreach(hosts, i, h)
		if (msg == NULL || hub_send_to(r->c, json_string_value(h), msg) < 0)
			log_warn("api: relearn of profile %s not sent to %s", r->param,
				 json_string_value(h));
	json_decref(msg);
	json_decref(hosts);
	log_info("api: %s asked for runtime profile %s to be relearned", r->user, r->param);
	api_reply_raw(r, 200, "application/json", "", 0);
}
