/*
 * cluster_gcp: GKE nodes. The GCP metadata server (GCE_METADATA_HOST, else
 * metadata.google.internal) answers GET /computeMetadata/v1/instance/attributes/cluster-name on
 * GKE nodes. Every request carries "Metadata-Flavor: Google" and every answer must carry it too:
 * without it the answer did not come from a metadata server and is rejected. The project id goes
 * into the cloud metadata (accountID), never into the name, so one cluster name seen from two
 * projects stays one name. Single-value paths are asked instead of ?recursive=true because the
 * recursive dump holds every instance attribute, including GKE's kube-env with its credentials.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/log.h>
#include <garrison/util.h>

static const char gcp_src[] = "gcp";

static int gcp_get(const char *host, const char *path, int64_t deadline, struct cl_http *resp)
{
	static const char *const hdrs[] = { "Metadata-Flavor: Google", NULL };
	char url[512];

	snprintf(url, sizeof(url), "http://%s/computeMetadata/v1/%s", host, path);
	return cl_http_request("GET", url, hdrs, "Metadata-Flavor", deadline, resp);
}

static int gcp_flavor_ok(const struct cl_http *resp)
{
	return resp->have_hdr && strcasecmp(resp->hdr, "Google") == 0;
}

/* One metadata value for the cloud metadata, best effort: *out is NULL when unavailable. */
static int gcp_text(const char *host, const char *path, int64_t deadline, char **out)
{
	struct cl_http resp;
	int r;

	*out = NULL;
	r = gcp_get(host, path, deadline, &resp);
	if (r < 0) {
		log_debug("cluster: gcp: %s: %s", path, cl_http_strerror(r));
		return r == -ENOMEM ? r : 0;
	}
	if (resp.status == 200 && gcp_flavor_ok(&resp) &&
	    cluster_name_check(resp.body, resp.len, NULL) == 0) {
		*out = strndup(resp.body, resp.len);
		if (*out == NULL) {
			cl_http_free(&resp);
			return -ENOMEM;
		}
	} else {
		log_debug("cluster: gcp: %s: unusable answer (HTTP %ld)", path, resp.status);
	}
	cl_http_free(&resp);
	return 0;
}

/* "projects/123/zones/us-central1-a", "us-central1-a" or "us-central1" -> "us-central1". */
static void gcp_region(const char *loc, char *buf, size_t len)
{
	const char *s = strrchr(loc, '/'), *dash;
	size_t n;

	s = s ? s + 1 : loc;
	n = strlen(s);
	dash = strrchr(s, '-');
	if (dash != NULL && dash[1] >= 'a' && dash[1] <= 'z' && dash[2] == '\0')
		n = (size_t)(dash - s);
	if (n >= len)
		n = 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

static int gcp_meta(const char *host, int64_t deadline, int gke, json_t **out)
{
	char *project = NULL, *loc = NULL, region[64] = "";
	json_t *meta = NULL;
	int r;

	*out = NULL;
	r = gcp_text(host, "project/project-id", deadline, &project);
	if (r == 0 && gke)
		r = gcp_text(host, "instance/attributes/cluster-location", deadline, &loc);
	if (r == 0 && loc == NULL)
		r = gcp_text(host, "instance/zone", deadline, &loc);
	if (r < 0)
		goto fail;
	if (loc != NULL)
		gcp_region(loc, region, sizeof(region));
	r = -ENOMEM;
	meta = json_object();
	if (meta == NULL || cl_meta_set(meta, "provider", "gcp") < 0 ||
	    cl_meta_set(meta, "accountID", project) < 0 ||
	    cl_meta_set(meta, "region", region) < 0)
		goto fail;
	free(project);
	free(loc);
	*out = meta;
	return 0;
fail:
	free(project);
	free(loc);
	json_decref(meta);
	return r;
}

int cl_src_gcp(struct cl_ctx *c, struct cl_answer *a)
{
	const char *host = getenv("GCE_METADATA_HOST"), *why = NULL;
	int64_t deadline = util_now_ms() + c->timeout_ms;
	struct cl_http resp;
	json_t *meta = NULL;
	char esc[300], *name;
	size_t n;
	int r;

	if (host == NULL || host[0] == '\0')
		host = "metadata.google.internal";
	n = strlen(host);
	if (n > 255 || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789.-:[]") != n) {
		cl_reject(gcp_src, "GCE_METADATA_HOST is not a host[:port]");
		return 0;
	}
	r = gcp_get(host, "instance/attributes/cluster-name", deadline, &resp);
	if (r < 0)
		return cl_http_fail(gcp_src, "GET instance/attributes/cluster-name", r);
	if (resp.status == 404) {
		int flavor = gcp_flavor_ok(&resp);

		cl_http_free(&resp);
		if (!flavor) {
			log_debug("cluster: gcp: HTTP 404 from %s, which is no metadata server", host);
			return 0;
		}
		log_debug("cluster: gcp: no cluster-name attribute: a GCE instance outside GKE");
		r = gcp_meta(host, deadline, 0, &meta);
		if (r < 0)
			return r;
		cl_fallback_meta(c, meta);
		return 0;
	}
	if (resp.status != 200) {
		cl_reject(gcp_src, "GET instance/attributes/cluster-name: HTTP %ld", resp.status);
		cl_http_free(&resp);
		return 0;
	}
	if (!gcp_flavor_ok(&resp)) {
		cl_reject(gcp_src, "the answer lacks the header \"Metadata-Flavor: Google\"");
		cl_http_free(&resp);
		return 0;
	}
	if (cluster_name_check(resp.body, resp.len, &why) < 0) {
		cl_reject(gcp_src, "cluster-name \"%s\": %s",
			  cl_escape(resp.body, resp.len, esc, sizeof(esc)), why);
		cl_http_free(&resp);
		return 0;
	}
	name = strndup(resp.body, resp.len);
	cl_http_free(&resp);
	if (name == NULL)
		return -ENOMEM;
	r = gcp_meta(host, deadline, 1, &meta);
	if (r < 0) {
		free(name);
		return r;
	}
	a->name = name;
	a->meta = meta;
	return 1;
}
