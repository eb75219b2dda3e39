/*
 * api_scans: the scanning endpoints.
 *   PUT  /api/v1/feeds/osv        import OSV records (Garrison's; `garrison feed import`)
 *   GET  /api/v1/feeds/osv        what data is held: records, version, import time
 *   POST /api/v1/images/evaluate  Prisma's "resolve images": {"images":[record...]} -> the same
 *                                 records with vulnerabilities from the Console's data
 *   POST /api/v1/scans            Prisma's "add CLI scan result" (shared.CLIScanResult)
 *   GET  /api/v1/scans            the CLI results, newest first (offset, limit, search = job
 *                                 or image name, pass=true|false), with Total-Count
 * Bodies are untrusted JSON; records are checked by lib/scan.c before anything is matched.
 */
#include "api.h"
#include "scans.h"

#include <garrison/log.h>
#include <garrison/util.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define EVALUATE_IMAGES_MAX 50

void api_feeds_osv_put(struct api_req *r)
{
	json_t *body = NULL, *ans = NULL;
	char err[512] = "";
	int rc;

	if (api_body_json_max(r, API_MAX_FEED_BODY, &body) < 0)
		return;
	rc = scans_feed_import(r->c, body, &ans, err, sizeof(err));
	json_decref(body);
	if (rc == -EINVAL || rc == -EFBIG || rc == -E2BIG) {
		api_error(r, 400, "%s", err[0] ? err : strerror(-rc));
		return;
	}
	if (rc < 0) {
		api_error(r, 500, "cannot import the data: %s", err[0] ? err : strerror(-rc));
		return;
	}
	api_reply_json(r, 200, ans);
}

void api_feeds_osv_get(struct api_req *r)
{
	json_t *info = scans_feed_info(r->c);

	if (info == NULL) {
		api_error(r, 500, "no scan module");
		return;
	}
	api_reply_json(r, 200, info);
}

void api_images_evaluate(struct api_req *r)
{
	json_t *body = NULL, *images, *img;
	char err[512] = "";
	size_t i;

	if (api_body_json_max(r, API_MAX_SCAN_BODY, &body) < 0)
		return;
	images = json_object_get(body, "images");
	if (!json_is_array(images) || json_array_size(images) > EVALUATE_IMAGES_MAX) {
		api_error(r, 400, "the body must be {\"images\": [image, ...]} with at most %d images",
			  EVALUATE_IMAGES_MAX);
		json_decref(body);
		return;
	}
	json_array_foreach(images, i, img) {
		int rc = json_is_object(img) ? scans_evaluate(r->c, img, err, sizeof(err)) : -EINVAL;

		if (rc == -EINVAL) {
			api_error(r, 400, "images[%zu]: %s", i, err[0] ? err : "not an object");
			json_decref(body);
			return;
		}
		if (rc < 0) {
			api_error(r, 500, "cannot evaluate images[%zu]: %s", i, strerror(-rc));
			json_decref(body);
			return;
		}
	}
	api_reply_json(r, 200, json_pack("{sO}", "images", images));
	json_decref(body);
}

void api_scans_add(struct api_req *r)
{
	json_t *body = NULL, *ent;
	char id[40], now[32], *rnd;
	int rc;

	if (api_body_json_max(r, API_MAX_SCAN_BODY, &body) < 0)
		return;
	ent = json_object_get(body, "entityInfo");
	if (!json_is_object(body) || !json_is_object(ent) ||
	    (json_object_get(body, "pass") && !json_is_boolean(json_object_get(body, "pass")))) {
		api_error(r, 400, "a CLI scan result needs an entityInfo object (and pass a boolean)");
		json_decref(body);
		return;
	}
	rnd = util_random_hex(12);
	if (rnd == NULL) {
		json_decref(body);
		api_error(r, 500, "out of memory");
		return;
	}
	snprintf(id, sizeof(id), "%s", rnd);
	free(rnd);
	util_time_rfc3339(time(NULL), now, sizeof(now));
	json_object_set_new(body, "_id", json_string(id));
	json_object_set_new(body, "time", json_string(now));
	rc = r->c->store->ops->scan_put(r->c->store, "ci", id, "", body);
	json_decref(body);
	if (rc < 0) {
		api_error(r, 500, "cannot store the result: %s", strerror(-rc));
		return;
	}
	api_reply_json(r, 200, json_pack("{ss}", "_id", id));
}

void api_scans_list(struct api_req *r)
{
	struct store_scan_filter f = { 0 };
	json_t *out = NULL;
	long total = 0;
	int pass, rc;

	if (api_paging(r, &f.offset, &f.limit) < 0)
		return;
	if ((pass = api_query_bool(r, "pass")) == -2)
		return;
	f.pass = pass;
	f.search = api_query(r, "search");
	rc = r->c->store->ops->scan_list(r->c->store, "ci", &f, &out, &total);
	if (rc < 0) {
		api_error(r, 500, "cannot list the results: %s", strerror(-rc));
		return;
	}
	api_total_count(r, total);
	api_reply_json(r, 200, out);
}
