/*
 * api_defenders: the Defender endpoints (list, summary, names, delete), the deployment artifacts
 * (ECS task definition, DaemonSet, install bundle) and the cluster view of Radar. Shapes follow
 * Prisma Cloud Compute's defender.Defender, types.DefenderSummary and shared.DefenderInstallBundle.
 */
#include "api.h"
#include "hub.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/collection.h>
#include <garrison/deploy.h>
#include <garrison/log.h>
#include <garrison/util.h>

void api_ping(struct api_req *r)
{
	api_reply_raw(r, 200, "text/plain", "", 0);
}

void api_ca_pem(struct api_req *r)
{
	char *pem = NULL;
	size_t len = 0;

	if (util_read_file(r->c->ca_path, 1 << 20, &pem, &len) < 0) {
		api_error(r, 500, "cannot read the CA certificate");
		return;
	}
	api_reply_raw(r, 200, "application/x-pem-file", pem, len);
	free(pem);
}

static json_t *defender_json(const struct store_defender *d)
{
	char lm[32], exp[32];
	json_t *o;

	util_time_rfc3339(d->last_modified, lm, sizeof(lm));
	util_time_rfc3339(d->cert_expiration, exp, sizeof(exp));
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:s,s:O,s:O,s:s}",
		      "hostname", d->hostname ? d->hostname : "",
		      "version", d->version ? d->version : "",
		      "type", d->type ? d->type : "none",
		      "category", d->category ? d->category : "container",
		      "cluster", d->cluster ? d->cluster : "",
		      "clusterSource", d->cluster_source ? d->cluster_source : "",
		      "connected", d->connected ? 1 : 0,
		      "lastModified", lm,
		      "certificateExpiration", exp,
		      "cloudMetadata", d->cloud_metadata ? d->cloud_metadata : json_object(),
		      "systemInfo", d->system_info ? d->system_info : json_object(),
		      "remoteAddr", d->remote_addr ? d->remote_addr : "");
	if (o)
		json_object_set_new(o, "fqdn", json_string(d->hostname ? d->hostname : ""));
	return o;
}

/* GET /defenders without limit answers this many (Prisma's API pages by 50 too; the CLI asks
 * for pages of 50 and follows Total-Count), so that a plain request never reads every row. */
#define API_DEFENDERS_PAGE 50

/* Reads the Defenders that pass the request's filters. paged: 0 every row, 1 offset/limit as
 * given (no limit: all), 2 offset/limit with API_DEFENDERS_PAGE when limit is absent. */
static int defenders_query(struct api_req *r, struct store_defender **v, size_t *n, long *total,
			   int paged)
{
	struct store_defender_filter f = { 0 };
	const char *clusters[64];
	char buf[8192];
	int conn;

	f.connected = -1;
	if (paged && api_paging(r, &f.offset, &f.limit) < 0)
		return -EINVAL;
	if (paged == 2 && api_query(r, "limit") == NULL)
		f.limit = API_DEFENDERS_PAGE;
	conn = api_query_bool(r, "connected");
	if (conn == -2)
		return -EINVAL;
	f.connected = conn;
	f.hostname = api_query(r, "hostname");
	f.nclusters = api_query_list(r, "cluster", buf, sizeof(buf), clusters, 64);
	f.clusters = clusters;
	if (r->c->store->ops->defender_list(r->c->store, &f, v, n, total) < 0) {
		api_error(r, 500, "cannot read the Defenders");
		return -EIO;
	}
	return 0;
}

static void subject_of(const struct store_defender *d, struct collection_subject *s)
{
	memset(s, 0, sizeof(*s));
	s->host = d->hostname;
	s->cluster = d->cluster;
	s->account_id = json_string_value(json_object_get(d->cloud_metadata, "accountID"));
}

/* The Defender's latest runtime-status (docs/runtime-console.md) as "runtime", and Prisma's
 * status.runtime {enabled, err}: enabled when the Defender enforces a policy (from the Console
 * or its disk copy) without an error. */
static void runtime_status_members(json_t *d, json_t *st)
{
	json_t *pol = json_object_get(st, "policy");
	const char *src = json_string_value(json_object_get(pol, "source"));
	const char *perr = json_string_value(json_object_get(pol, "error"));
	int enabled = st != NULL && src != NULL && strcmp(src, "none") != 0 &&
		      (perr == NULL || perr[0] == '\0');
	json_t *fs = json_pack("{s:b}", "enabled", enabled);

	if (fs && perr && perr[0])
		json_object_set_new(fs, "err", json_string(perr));
	json_object_set_new(d, "status", json_pack("{s:o}", "runtime", fs));
	if (st != NULL)
		json_object_set(d, "runtime", st);
}

void api_defenders_list(struct api_req *r)
{
	struct store_defender *v = NULL;
	struct collection **colls = NULL;
	size_t n = 0, ncolls = 0;
	long total = 0, offset = 0, limit = 0, kept = 0;
	json_t *arr, *rt = NULL;

	if (api_collections_filter(r, &colls, &ncolls) < 0)
		return;
	/* With a collection filter, paging applies after filtering, here rather than in SQL. */
	if (ncolls && api_paging(r, &offset, &limit) < 0)
		goto out;
	if (ncolls && api_query(r, "limit") == NULL)
		limit = API_DEFENDERS_PAGE;
	if (defenders_query(r, &v, &n, &total, ncolls == 0 ? 2 : 0) < 0)
		goto out;
	if (r->c->store->ops->rt_status_all(r->c->store, &rt) < 0)
		rt = NULL; /* the list is still useful without the runtime status */
	arr = json_array();
	for (size_t i = 0; i < n; i++) {
		struct collection_subject subj;
		json_t *d;

		subject_of(&v[i], &subj);
		if (ncolls && !collection_match_any(colls, ncolls, &subj))
			continue;
		if (ncolls && (kept++ < offset || (limit > 0 && (long)json_array_size(arr) >= limit)))
			continue;
		d = defender_json(&v[i]);
		json_object_set_new(d, "collections", api_collections_of(r, &subj));
		runtime_status_members(d, json_object_get(rt, v[i].hostname ? v[i].hostname : ""));
		json_array_append_new(arr, d);
	}
	json_decref(rt);
	store_defenders_free(v, n);
	api_total_count(r, ncolls ? kept : total);
	api_reply_json(r, 200, arr);
out:
	api_collections_filter_free(colls, ncolls);
}

void api_defenders_names(struct api_req *r)
{
	struct store_defender *v = NULL;
	size_t n = 0;
	long total = 0;
	json_t *arr;

	if (defenders_query(r, &v, &n, &total, 1) < 0)
		return;
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_string(v[i].hostname ? v[i].hostname : ""));
	store_defenders_free(v, n);
	api_total_count(r, total);
	api_reply_json(r, 200, arr);
}

void api_defenders_summary(struct api_req *r)
{
	static const char *const cats[] = { "container", "host" };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total = 0, deployed[2] = { 0, 0 }, connected[2] = { 0, 0 };
	json_t *arr;

	if (defenders_query(r, &v, &n, &total, 0) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int c = v[i].category && strcmp(v[i].category, "host") == 0;
		deployed[c]++;
		connected[c] += v[i].connected ? 1 : 0;
	}
	store_defenders_free(v, n);
	arr = json_array();
	for (int c = 0; c < 2; c++)
		json_array_append_new(arr, json_pack("{s:s,s:I,s:I,s:I}", "category", cats[c],
						     "connected", (json_int_t)connected[c],
						     "deployed", (json_int_t)deployed[c], "licensed",
						     (json_int_t)deployed[c]));
	api_reply_json(r, 200, arr);
}

void api_defenders_delete(struct api_req *r)
{
	struct store *s = r->c->store;
	int rc;

	if (r->param == NULL || strlen(r->param) > 253) {
		api_error(r, 400, "a Defender hostname is required");
		return;
	}
	/* Revoke first: even if the row is already gone, its certificates must stay refused. */
	if (s->ops->cert_revoke_host(s, r->param) < 0) {
		api_error(r, 500, "cannot revoke the Defender's certificates");
		return;
	}
	rc = s->ops->defender_delete(s, r->param);
	if (rc == -ENOENT) {
		api_error(r, 404, "no Defender named %s", r->param);
		return;
	}
	if (rc < 0) {
		api_error(r, 500, "cannot delete the Defender");
		return;
	}
	s->ops->inv_delete_host(s, r->param);
	hub_kick(r->c, r->param);
	log_info("api: %s deleted Defender %s; its identity is revoked", r->user, r->param);
	api_reply_raw(r, 200, "application/json", "", 0);
}

/* Fills deploy options from a request body; strings point into body. */
static int deploy_opts_from(struct api_req *r, json_t *body, struct deploy_opts *o, char **bundle)
{
	char *id = NULL, err[256];
	json_t *v;
	const char *keys[] = { "consoleAddr", "cluster", "taskName", "namespace", "image" };

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		v = json_object_get(body, keys[i]);
		if (v && !json_is_string(v) && !json_is_null(v)) {
			api_error(r, 400, "%s must be a string", keys[i]);
			return -EINVAL;
		}
	}
	memset(o, 0, sizeof(*o));
	o->console_addr = json_string_value(json_object_get(body, "consoleAddr"));
	if (o->console_addr == NULL || o->console_addr[0] == '\0')
		o->console_addr = r->c->default_console_addr;
	o->defender_port = r->c->defender_port;
	o->cluster = json_string_value(json_object_get(body, "cluster"));
	o->task_name = json_string_value(json_object_get(body, "taskName"));
	o->namespace_ = json_string_value(json_object_get(body, "namespace"));
	o->image = json_string_value(json_object_get(body, "image"));
	if (console_bundle_current(r->c, &id, bundle) < 0) {
		api_error(r, 500, "cannot create an install bundle");
		return -EIO;
	}
	free(id);
	o->install_bundle = *bundle;
	if (deploy_opts_check(o, err, sizeof(err)) < 0) {
		api_error(r, 400, "%s", err);
		free(*bundle);
		*bundle = NULL;
		return -EINVAL;
	}
	return 0;
}

void api_defenders_ecs_task(struct api_req *r)
{
	struct deploy_opts o;
	json_t *body = NULL, *td;
	char *bundle = NULL;

	if (api_body_json(r, &body) < 0)
		return;
	if (deploy_opts_from(r, body, &o, &bundle) < 0)
		goto out;
	td = deploy_ecs_taskdef(&o);
	if (td == NULL)
		api_error(r, 400, "cannot build the task definition from these options");
	else
		api_reply_json(r, 200, td);
out:
	free(bundle);
	json_decref(body);
}

void api_defenders_daemonset(struct api_req *r)
{
	struct deploy_opts o;
	json_t *body = NULL;
	char *bundle = NULL, *yaml = NULL;
	size_t len = 0;

	if (api_body_json(r, &body) < 0)
		return;
	if (deploy_opts_from(r, body, &o, &bundle) < 0)
		goto out;
	if (deploy_daemonset_yaml(&o, &yaml, &len) < 0)
		api_error(r, 400, "cannot build the DaemonSet from these options");
	else
		api_reply_raw(r, 200, "application/x-yaml", yaml, len);
out:
	free(yaml);
	free(bundle);
	json_decref(body);
}

void api_defenders_install_bundle(struct api_req *r)
{
	const char *addr = api_query(r, "consoleaddr");
	char *id = NULL, *b64 = NULL, ws[320];

	if (addr == NULL || addr[0] == '\0')
		addr = r->c->default_console_addr;
	if (strlen(addr) > 253 || strpbrk(addr, "/ \t\r\n\"'") != NULL) {
		api_error(r, 400, "consoleaddr must be a host name or an IP address");
		return;
	}
	if (console_bundle_current(r->c, &id, &b64) < 0) {
		api_error(r, 500, "cannot create an install bundle");
		return;
	}
	snprintf(ws, sizeof(ws), "wss://%s:%d", addr, r->c->defender_port);
	api_reply_json(r, 200, json_pack("{s:s,s:s,s:s}", "installBundle", b64, "wsAddress", ws,
					 "bundleID", id));
	free(id);
	free(b64);
}

/* Revokes an install bundle (by default the current one): Defenders that have not enrolled with
 * it yet are refused from now on; Defenders that did keep their own identity. */
void api_defenders_bundle_revoke(struct api_req *r)
{
	json_t *body = NULL;
	const char *id;
	char *cur = NULL, *b64 = NULL;
	int rc;

	if (api_body_json(r, &body) < 0)
		return;
	id = json_string_value(json_object_get(body, "bundleID"));
	if (id == NULL) {
		if (r->c->store->ops->bundle_current(r->c->store, &cur, &b64) < 0) {
			api_error(r, 404, "there is no install bundle to revoke");
			goto out;
		}
		id = cur;
	}
	rc = r->c->store->ops->bundle_revoke(r->c->store, id);
	if (rc == -ENOENT)
		api_error(r, 404, "no install bundle %s", id);
	else if (rc < 0)
		api_error(r, 500, "cannot revoke the install bundle");
	else {
		log_info("api: %s revoked install bundle %s", r->user, id);
		api_reply_json(r, 200, json_pack("{s:s}", "revoked", id));
	}
out:
	free(cur);
	free(b64);
	json_decref(body);
}

static void set_add(json_t *arr, const char *v)
{
	size_t i;
	json_t *x;

	if (v == NULL || v[0] == '\0')
		return;
	json_array_foreach(arr, i, x)
		if (strcmp(json_string_value(x), v) == 0)
			return;
	json_array_append_new(arr, json_string(v));
}

/* One entry per cluster name; the providers, sources and accounts seen under that name are listed
 * so that two environments silently sharing a name are visible. */
void api_radar_clusters(struct api_req *r)
{
	struct store_defender_filter f = { 0 };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total = 0;
	json_t *byname = json_object(), *arr = json_array(), *e;
	const char *name;

	f.connected = -1;
	if (r->c->store->ops->defender_list(r->c->store, &f, &v, &n, &total) < 0) {
		api_error(r, 500, "cannot read the Defenders");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *cl = v[i].cluster && v[i].cluster[0] ? v[i].cluster : "";
		e = json_object_get(byname, cl);
		if (e == NULL) {
			e = json_pack("{s:s,s:i,s:i,s:[],s:[],s:[],s:[],s:[]}", "name", cl, "hostCount",
				      0, "connectedHostCount", 0, "providers", "sources", "accountIDs",
				      "regions", "namespaces");
			json_object_set_new(byname, cl, e);
		}
		json_object_set_new(e, "hostCount",
				    json_integer(json_integer_value(json_object_get(e, "hostCount")) + 1));
		if (v[i].connected)
			json_object_set_new(e, "connectedHostCount",
					    json_integer(json_integer_value(
						    json_object_get(e, "connectedHostCount")) + 1));
		set_add(json_object_get(e, "providers"),
			json_string_value(json_object_get(v[i].cloud_metadata, "provider")));
		set_add(json_object_get(e, "sources"), v[i].cluster_source);
		set_add(json_object_get(e, "accountIDs"),
			json_string_value(json_object_get(v[i].cloud_metadata, "accountID")));
		set_add(json_object_get(e, "regions"),
			json_string_value(json_object_get(v[i].cloud_metadata, "region")));
	}
	/* Namespaces per cluster, from the containers the Defenders reported (their effective
	 * cluster: their own, else their node's), read without their documents. */
	{
		struct store_inv_query q = { .kind = "container" };
		struct store_inv_result res = { 0 };
		if (r->c->store->ops->inv_query(r->c->store, &q, &res) == 0) {
			for (size_t k = 0; k < res.n; k++) {
				const char *cl = res.rows[k].cluster, *ns = res.rows[k].namespace_;
				e = cl ? json_object_get(byname, cl) : NULL;
				if (e && ns && ns[0])
					set_add(json_object_get(e, "namespaces"), ns);
			}
		}
		store_inv_result_clear(&res);
	}
	json_object_foreach(byname, name, e) {
		json_t *prov = json_object_get(e, "providers");
		json_object_set_new(e, "namespaceCount",
				    json_integer((json_int_t)json_array_size(json_object_get(e, "namespaces"))));
		json_object_set_new(e, "cloudProvider",
				    json_array_size(prov) == 1 ? json_copy(json_array_get(prov, 0))
							       : json_string(json_array_size(prov) ? "mixed" : "others"));
		json_array_append(arr, e);
	}
	api_total_count(r, (long)json_array_size(arr));
	api_reply_json(r, 200, arr);
	arr = NULL;
out:
	store_defenders_free(v, n);
	json_decref(byname);
	json_decref(arr);
}
