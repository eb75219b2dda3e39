/*
 * cluster_azure: AKS nodes, from the Azure Instance Metadata Service
 * (GARRISON_AZURE_IMDS_ENDPOINT, else http://169.254.169.254),
 * GET /metadata/instance?api-version=2021-11-15 with "Metadata: true". IMDS names the VM, not
 * the cluster, so the name is derived (docs/cluster-identity.md has the rule and its sources):
 *   1. the tag aks-managed-cluster-name, when the node carries it;
 *   2. else the node resource group AKS creates by default, MC_<group>_<cluster>_<location>
 *      (compared without case): strip "MC_" and "_<location>", then split the rest at the
 *      tag aks-managed-cluster-rg when present, else at its only '_'; several '_' and no tag
 *      is ambiguous and rejected;
 *   3. else this VM is not an AKS node: no name, but its cloud metadata is kept.
 * IMDS answers with strings for every leaf; another type is a malformed answer.
 */
#include "cluster_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <garrison/log.h>
#include <garrison/util.h>

static const char az_src[] = "azure";

/* The value of tag key in compute.tagsList (preferred) or the "k:v;k:v" compute.tags string,
 * copied into buf; NULL when absent. Sets *bad for a tagsList of the wrong shape. */
static const char *az_tag(json_t *compute, const char *key, char *buf, size_t len, int *bad)
{
	json_t *list = json_object_get(compute, "tagsList"), *t;
	const char *s, *p, *e;
	size_t i, kl = strlen(key), n;
	int ignored = 0;

	if (list != NULL && !json_is_array(list)) {
		*bad = 1;
		return NULL;
	}
	if (list != NULL) {
		json_array_foreach(list, i, t) {
			const char *k = cl_json_str(t, "name", bad), *v = cl_json_str(t, "value", bad);
			if (!json_is_object(t))
				*bad = 1;
			if (k != NULL && v != NULL && strcmp(k, key) == 0 && strlen(v) < len) {
				memcpy(buf, v, strlen(v) + 1);
				return buf;
			}
		}
		return NULL;
	}
	s = cl_json_str(compute, "tags", &ignored);
	for (p = s; p != NULL && *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, ';');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == ':') {
			n = (size_t)(e - p) - kl - 1;
			if (n >= len)
				return NULL;
			memcpy(buf, p + kl + 1, n);
			buf[n] = '\0';
			return buf;
		}
	}
	return NULL;
}

/* Rule 2 above. Returns 1 and the cluster in buf, 0 when rg is no default node resource group,
 * or -EINVAL (*why) when it is one but cannot be split. */
static int az_mc_group(const char *rg, const char *location, const char *tag_rg, char *buf,
		       size_t len, const char **why)
{
	size_t n = rg ? strlen(rg) : 0, ln = location ? strlen(location) : 0, mid_len, cl;
	const char *mid, *cut = NULL;

	if (n < 3 || strncasecmp(rg, "MC_", 3) != 0 || ln == 0 || n < 3 + 3 + ln + 1 ||
	    rg[n - ln - 1] != '_' || strcasecmp(rg + n - ln, location) != 0)
		return 0;
	mid = rg + 3;
	mid_len = n - 3 - ln - 1; /* "<group>_<cluster>" */
	if (tag_rg != NULL && strlen(tag_rg) + 1 < mid_len &&
	    strncasecmp(mid, tag_rg, strlen(tag_rg)) == 0 && mid[strlen(tag_rg)] == '_') {
		cut = mid + strlen(tag_rg);
	} else {
		const char *u = memchr(mid, '_', mid_len);
		if (u == NULL)
			return 0;
		if (memchr(u + 1, '_', mid_len - (size_t)(u + 1 - mid)) != NULL) {
			*why = "node resource group MC_<group>_<cluster>_<location> is ambiguous (several"
			       " '_' and no aks-managed-cluster-rg tag)";
			return -EINVAL;
		}
		cut = u;
	}
	cl = mid_len - (size_t)(cut + 1 - mid);
	if (cl == 0 || cut == mid || cl >= len) {
		*why = "node resource group MC_<group>_<cluster>_<location> has an empty part";
		return -EINVAL;
	}
	memcpy(buf, cut + 1, cl);
	buf[cl] = '\0';
	return 1;
}

static int az_meta(json_t *compute, json_t **out)
{
	json_t *meta = json_object(), *azure = json_object(), *img;
	const char *pub, *offer, *sku, *ver, *id;
	char image[1100] = "";
	int ignored = 0;

	*out = NULL;
	if (meta == NULL || azure == NULL)
		goto fail;
	img = json_object_get(json_object_get(compute, "storageProfile"), "imageReference");
	id = cl_json_str(img, "id", &ignored);
	pub = cl_json_str(img, "publisher", &ignored);
	offer = cl_json_str(img, "offer", &ignored);
	sku = cl_json_str(img, "sku", &ignored);
	ver = cl_json_str(img, "version", &ignored);
	if (id != NULL && id[0] != '\0')
		snprintf(image, sizeof(image), "%s", id);
	else if (pub != NULL && offer != NULL && sku != NULL && ver != NULL && pub[0] != '\0')
		snprintf(image, sizeof(image), "%s:%s:%s:%s", pub, offer, sku, ver);
	if (cl_meta_set(meta, "provider", "azure") < 0 ||
	    cl_meta_set(meta, "accountID", cl_json_str(compute, "subscriptionId", &ignored)) < 0 ||
	    cl_meta_set(meta, "region", cl_json_str(compute, "location", &ignored)) < 0 ||
	    cl_meta_set(meta, "resourceID", cl_json_str(compute, "resourceId", &ignored)) < 0 ||
	    cl_meta_set(meta, "name", cl_json_str(compute, "name", &ignored)) < 0 ||
	    cl_meta_set(meta, "type", cl_json_str(compute, "vmSize", &ignored)) < 0 ||
	    cl_meta_set(meta, "image", image[0] ? image : NULL) < 0 ||
	    cl_meta_set(meta, "vmID", cl_json_str(compute, "vmId", &ignored)) < 0 ||
	    cl_meta_set(azure, "resourceGroup",
			cl_json_str(compute, "resourceGroupName", &ignored)) < 0)
		goto fail;
	if (json_object_size(azure) > 0) {
		if (json_object_set(meta, "azure", azure) < 0)
			goto fail;
	}
	json_decref(azure);
	*out = meta;
	return 0;
fail:
	json_decref(meta);
	json_decref(azure);
	return -ENOMEM;
}

int cl_src_azure(struct cl_ctx *c, struct cl_answer *a)
{
	static const char *const hdrs[] = { "Metadata: true", NULL };
	static const char *const leaves[] = { "location", "subscriptionId", "resourceGroupName",
					      "resourceId", "name", "vmSize", "vmId", "tags" };
	char base[512], url[600], tag_name[300], tag_rg[300], mc[300], esc[300];
	const char *name = NULL, *rg, *location, *tn, *trg, *why = NULL;
	struct cl_http resp;
	json_error_t jerr;
	json_t *root = NULL, *compute, *meta = NULL;
	int r, bad = 0;

	if (cl_base_url(az_src, "GARRISON_AZURE_IMDS_ENDPOINT", "http://169.254.169.254", base,
			sizeof(base)) < 0)
		return 0;
	snprintf(url, sizeof(url), "%s/metadata/instance?api-version=2021-11-15", base);
	r = cl_http_request("GET", url, hdrs, NULL, util_now_ms() + c->timeout_ms, &resp);
	if (r == -ECONNREFUSED)
		snprintf(c->unreachable, sizeof(c->unreachable), "%s", base);
	if (r < 0)
		return cl_http_fail(az_src, "GET /metadata/instance", r);
	if (resp.status != 200) {
		/* an EC2 metadata service at the same address answers 404: not Azure */
		if (resp.status == 404 || resp.status == 400)
			log_debug("cluster: azure: GET /metadata/instance: HTTP %ld", resp.status);
		else
			cl_reject(az_src, "GET /metadata/instance: HTTP %ld", resp.status);
		cl_http_free(&resp);
		return 0;
	}
	root = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
	cl_http_free(&resp);
	if (root == NULL) {
		cl_reject(az_src, "malformed JSON (line %d: %.80s)", jerr.line, jerr.text);
		return 0;
	}
	compute = json_object_get(root, "compute");
	if (!json_is_object(compute)) {
		cl_reject(az_src, "no \"compute\" object");
		goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(leaves); i++) {
		(void)cl_json_str(compute, leaves[i], &bad);
		if (bad) {
			cl_reject(az_src, "compute.%s is not a string", leaves[i]);
			goto out;
		}
	}
	rg = cl_json_str(compute, "resourceGroupName", &bad);
	location = cl_json_str(compute, "location", &bad);
	tn = az_tag(compute, "aks-managed-cluster-name", tag_name, sizeof(tag_name), &bad);
	trg = az_tag(compute, "aks-managed-cluster-rg", tag_rg, sizeof(tag_rg), &bad);
	if (bad) {
		cl_reject(az_src, "compute.tagsList is not a list of {name, value} strings");
		goto out;
	}
	if (tn != NULL) {
		name = tn;
	} else {
		r = az_mc_group(rg, location, trg, mc, sizeof(mc), &why);
		if (r < 0) {
			cl_reject(az_src, "%s", why);
			goto out;
		}
		if (r > 0)
			name = mc;
	}
	if (name != NULL && cluster_name_check(name, strlen(name), &why) < 0) {
		cl_reject(az_src, "AKS cluster name \"%s\": %s",
			  cl_escape(name, strlen(name), esc, sizeof(esc)), why);
		goto out;
	}
	r = az_meta(compute, &meta);
	if (r < 0)
		goto fail;
	if (name == NULL) {
		log_debug("cluster: azure: not an AKS node (no aks-managed-cluster-name tag, no "
			  "MC_<group>_<cluster>_<location> resource group)");
		cl_fallback_meta(c, meta);
		goto out;
	}
	a->name = strdup(name);
	if (a->name == NULL) {
		json_decref(meta);
		r = -ENOMEM;
		goto fail;
	}
	a->meta = meta;
	json_decref(root);
	return 1;
out:
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	return r;
}
