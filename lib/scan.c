/*
 * scan: Prisma-shaped scan records of images and hosts, from the image reader, the package
 * databases, the compliance checks and the vulnerability matcher. See include/garrison/scan.h.
 */
#include "garrison/scan.h"

#include "garrison/compliance.h"
#include "garrison/log.h"
#include "garrison/scanreport.h"
#include "garrison/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void scan_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void scan_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const char *kind_name(enum pkgdb_kind k)
{
	switch (k) {
	case PKGDB_DPKG: return "dpkg";
	case PKGDB_APK: return "apk";
	case PKGDB_RPM: return "rpm";
	default: return "";
	}
}

static enum pkgdb_kind kind_parse(const char *s)
{
	if (s == NULL)
		return PKGDB_NONE;
	if (strcmp(s, "dpkg") == 0)
		return PKGDB_DPKG;
	if (strcmp(s, "apk") == 0)
		return PKGDB_APK;
	if (strcmp(s, "rpm") == 0)
		return PKGDB_RPM;
	return PKGDB_NONE;
}

/* record["garrison"], created when absent; NULL on ENOMEM. */
static json_t *ext(json_t *record)
{
	json_t *g = json_object_get(record, "garrison");

	if (json_is_object(g))
		return g;
	g = json_object();
	if (g == NULL || json_object_set_new(record, "garrison", g) != 0)
		return NULL;
	return g;
}

/* Sets key to a string, or deletes it when s is NULL. 0 or -ENOMEM. */
static int set_str(json_t *o, const char *key, const char *s)
{
	if (s == NULL) {
		json_object_del(o, key);
		return 0;
	}
	return json_object_set_new(o, key, json_string(s)) ? -ENOMEM : 0;
}

static int set_now(json_t *record)
{
	char buf[32];

	util_time_rfc3339(time(NULL), buf, sizeof(buf));
	return set_str(record, "scanTime", buf);
}

json_t *scan_packages_json(const struct pkglist *l)
{
	json_t *pkgs = json_array(), *groups;

	if (pkgs == NULL)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		const struct pkg *p = &l->v[i];
		json_t *o = json_pack("{ss ss ss sb}", "name", p->name, "version", p->version,
				      "originPackageName", p->source, "osPackage", 1);

		if (o == NULL || json_array_append_new(pkgs, o) != 0)
			goto fail;
		if (strcmp(p->source_version, p->version) != 0 &&
		    json_object_set_new(o, "sourceVersion", json_string(p->source_version)) != 0)
			goto fail;
		if (p->arch && json_object_set_new(o, "arch", json_string(p->arch)) != 0)
			goto fail;
	}
	groups = json_pack("[{ss so}]", "pkgsType", "package", "pkgs", pkgs);
	return groups; /* json_pack's "o" takes pkgs even when it fails */
fail:
	json_decref(pkgs);
	return NULL;
}

int scan_record_set_packages(json_t *record, const struct pkglist *l)
{
	json_t *g = ext(record), *pk;

	if (g == NULL)
		return -ENOMEM;
	if (set_str(record, "osDistro", l->os_id) || set_str(record, "osDistroVersion", l->os_version_id) ||
	    set_str(record, "osDistroRelease", l->os_codename) || set_str(record, "distro", l->os_pretty_name))
		return -ENOMEM;
	if (json_object_set_new(record, "packageManager", json_boolean(l->kind != PKGDB_NONE)) != 0)
		return -ENOMEM;
	if ((pk = scan_packages_json(l)) == NULL || json_object_set_new(record, "packages", pk) != 0)
		return -ENOMEM;
	if (set_str(g, "pkgKind", kind_name(l->kind)))
		return -ENOMEM;
	if (json_object_set_new(g, "packageCount", json_integer((json_int_t)l->n)) != 0)
		return -ENOMEM;
	return set_now(record);
}

/* A string member that must be a string when present: 1 and *out (NULL when absent or null),
 * 0 when it has another type. */
static int opt_str(const json_t *o, const char *key, const char **out)
{
	const json_t *v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 1;
	if (!json_is_string(v))
		return 0;
	*out = json_string_value(v);
	return 1;
}

int scan_record_pkglist(const json_t *record, struct pkglist *out, char *err, size_t errlen)
{
	const json_t *groups = json_object_get(record, "packages"), *g, *p;
	const char *os_id, *os_ver, *kind;
	size_t i, j;
	int r;

	if (!json_is_object(record)) {
		scan_err(err, errlen, "scan record is not an object");
		return -EINVAL;
	}
	if (!opt_str(record, "osDistro", &os_id) || !opt_str(record, "osDistroVersion", &os_ver) ||
	    !opt_str(json_object_get(record, "garrison"), "pkgKind", &kind)) {
		scan_err(err, errlen, "scan record: osDistro, osDistroVersion or pkgKind is not a string");
		return -EINVAL;
	}
	if (groups != NULL && !json_is_array(groups)) {
		scan_err(err, errlen, "scan record: packages is not an array");
		return -EINVAL;
	}
	json_array_foreach(groups, i, g) {
		const char *type;

		if (!json_is_object(g) || !opt_str(g, "pkgsType", &type) ||
		    !json_is_array(json_object_get(g, "pkgs"))) {
			scan_err(err, errlen, "scan record: packages[%zu] is malformed", i);
			r = -EINVAL;
			goto fail;
		}
		if (type != NULL && strcmp(type, "package") != 0)
			continue; /* not an OS package group */
		json_array_foreach(json_object_get(g, "pkgs"), j, p) {
			const char *name, *ver, *src, *srcver, *arch;

			if (!json_is_object(p) || !opt_str(p, "name", &name) || !opt_str(p, "version", &ver) ||
			    !opt_str(p, "originPackageName", &src) || !opt_str(p, "sourceVersion", &srcver) ||
			    !opt_str(p, "arch", &arch) || name == NULL || ver == NULL) {
				scan_err(err, errlen, "scan record: package %zu is malformed", j);
				r = -EINVAL;
				goto fail;
			}
			r = pkgdb_add(out, name, ver, src, srcver, arch);
			if (r < 0) {
				if (r == -EINVAL)
					scan_err(err, errlen, "scan record: package %zu has an invalid name or version", j);
				else
					scan_err(err, errlen, "scan record: %s", strerror(-r));
				goto fail;
			}
		}
	}
	out->kind = kind_parse(kind);
	free(out->os_id);
	free(out->os_version_id);
	out->os_id = os_id ? strdup(os_id) : NULL;
	out->os_version_id = os_ver ? strdup(os_ver) : NULL;
	if ((os_id && !out->os_id) || (os_ver && !out->os_version_id)) {
		r = -ENOMEM;
		goto fail;
	}
	return 0;
fail:
	pkglist_clear(out);
	return r;
}

/* Sets the compliance members from a list of results. */
static int set_compliance(json_t *record, const struct compliance_list *cl)
{
	json_t *issues = compliance_prisma_issues(cl), *dist = compliance_prisma_distribution(cl);
	json_t *all = compliance_results_json(cl), *g = ext(record);

	if (issues == NULL || dist == NULL || all == NULL || g == NULL)
		goto fail;
	if (json_object_set_new(record, "complianceIssuesCount",
				json_integer((json_int_t)json_array_size(issues))) != 0)
		goto fail;
	if (json_object_set_new(record, "complianceIssues", issues) != 0) {
		issues = NULL;
		goto fail;
	}
	issues = NULL;
	if (json_object_set_new(record, "complianceDistribution", dist) != 0) {
		dist = NULL;
		goto fail;
	}
	dist = NULL;
	if (json_object_set_new(g, "complianceResults", all) != 0)
		return -ENOMEM;
	return 0;
fail:
	json_decref(issues);
	json_decref(dist);
	json_decref(all);
	return -ENOMEM;
}

int scan_image_record(const struct image_scan_result *r, json_t **out)
{
	json_t *rec = json_object(), *g, *secrets = NULL, *paths = NULL, *layers = NULL, *warn = NULL;
	struct compliance_list *cl = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (rec == NULL || (g = ext(rec)) == NULL)
		goto fail;
	if (r->config_digest && (set_str(rec, "_id", r->config_digest) || set_str(rec, "id", r->config_digest)))
		goto fail;
	if (scan_record_set_packages(rec, &r->pkgs) != 0)
		goto fail;
	if (r->pkg_error && set_str(g, "pkgError", r->pkg_error))
		goto fail;
	secrets = json_array();
	paths = json_array();
	layers = json_array();
	warn = json_array();
	if (!secrets || !paths || !layers || !warn)
		goto fail;
	for (size_t i = 0; i < r->n_secrets; i++) {
		if (json_array_append_new(paths, json_string(r->secrets[i].path)) != 0 ||
		    json_array_append_new(secrets, json_pack("{ss ss}", "path", r->secrets[i].path,
							     "reason", r->secrets[i].reason)) != 0)
			goto fail;
	}
	for (size_t i = 0; i < r->n_layers; i++)
		if (json_array_append_new(layers, json_string(r->layers[i].digest)) != 0)
			goto fail;
	for (size_t i = 0; i < r->n_warnings; i++)
		if (json_array_append_new(warn, json_string(r->warnings[i])) != 0)
			goto fail;
	if ((cl = compliance_list_new()) == NULL)
		goto fail;
	if (r->config != NULL && compliance_image(r->config, secrets, cl) == -ENOMEM)
		goto fail;
	if (set_compliance(rec, cl) != 0)
		goto fail;
	if (json_object_set(rec, "Secrets", paths) != 0 || json_object_set(rec, "layers", layers) != 0 ||
	    json_object_set(g, "secrets", secrets) != 0 || json_object_set(g, "warnings", warn) != 0 ||
	    json_object_set_new(g, "secretsTruncated", json_boolean(r->secrets_truncated)) != 0 ||
	    json_object_set_new(g, "sizeStored", json_integer((json_int_t)r->size_stored)) != 0 ||
	    json_object_set_new(g, "sizeTar", json_integer((json_int_t)r->size_tar)) != 0 ||
	    (r->format && set_str(g, "format", r->format)))
		goto fail;
	if (r->cfg.os && set_str(rec, "osType", r->cfg.os))
		goto fail;
	*out = rec;
	rec = NULL;
	rc = 0;
fail:
	compliance_list_free(cl);
	json_decref(secrets);
	json_decref(paths);
	json_decref(layers);
	json_decref(warn);
	json_decref(rec);
	return rc;
}

int scan_container_record(const json_t *inspect, json_t **out)
{
	struct compliance_list *cl = NULL;
	json_t *rec = NULL;
	const char *id = json_string_value(json_object_get(inspect, "Id"));
	const char *image = json_string_value(json_object_get(inspect, "Image"));
	const char *name = json_string_value(json_object_get(inspect, "Name"));
	int r = -ENOMEM;

	*out = NULL;
	if (id == NULL)
		return -EINVAL;
	if ((cl = compliance_list_new()) == NULL || (rec = json_object()) == NULL)
		goto fail;
	r = compliance_container(inspect, NULL, cl);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	if (set_str(rec, "_id", id) || set_str(rec, "id", id) || set_str(rec, "imageID", image) ||
	    set_str(rec, "name", name && name[0] == '/' ? name + 1 : name) || set_now(rec) ||
	    set_compliance(rec, cl))
		goto fail;
	*out = rec;
	rec = NULL;
	r = 0;
fail:
	compliance_list_free(cl);
	json_decref(rec);
	return r;
}

int scan_host_record(const char *root, const char *hostname, const json_t *docker_info,
		     json_t **out, char *err, size_t errlen)
{
	struct pkglist l = { 0 };
	struct compliance_list *cl = NULL;
	json_t *rec = NULL;
	int r;

	*out = NULL;
	r = pkgdb_scan_rootfs(root, &l, err, errlen);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	if ((rec = json_object()) == NULL)
		goto fail;
	if (hostname && (set_str(rec, "_id", hostname) || set_str(rec, "hostname", hostname)))
		goto fail;
	if (scan_record_set_packages(rec, &l) != 0)
		goto fail;
	if ((cl = compliance_list_new()) == NULL)
		goto fail;
	r = compliance_host(root, docker_info, cl);
	if (r == -ENOMEM)
		goto fail;
	if (r < 0)
		log_warn("scan: host compliance checks of %s: %s", root, strerror(-r));
	r = -ENOMEM;
	if (set_compliance(rec, cl) != 0)
		goto fail;
	*out = rec;
	rec = NULL;
	r = 0;
fail:
	if (r == -ENOMEM)
		scan_err(err, errlen, "out of memory");
	compliance_list_free(cl);
	pkglist_clear(&l);
	json_decref(rec);
	return r;
}

int scan_record_apply_vulndb(json_t *record, const struct vulndb *db, const char *feed_version,
			     char *err, size_t errlen)
{
	struct vulndb_match_result res = { 0 };
	struct pkglist l = { 0 };
	json_t *g = ext(record), *vulns = NULL, *dist = NULL;
	const char *reason = NULL;
	int r;

	if (g == NULL)
		return -ENOMEM;
	r = scan_record_pkglist(record, &l, err, errlen);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		reason = "malformed package list";
	} else if (db == NULL) {
		reason = "no vulnerability data";
	} else {
		r = vulndb_match(db, &l, NULL, &res);
		if (r == -ENOMEM)
			goto out;
		if (r < 0) {
			reason = "the package list cannot be matched";
		} else {
			vulns = json_incref(res.vulnerabilities);
			dist = json_incref(res.distribution);
			reason = res.reason;
			if (res.ecosystem[0] && set_str(g, "ecosystem", res.ecosystem)) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	if (vulns == NULL)
		vulns = json_array();
	if (dist == NULL)
		dist = scanreport_distribution(NULL);
	if (vulns == NULL || dist == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (json_object_set_new(record, "vulnerabilitiesCount",
				json_integer((json_int_t)json_array_size(vulns))) != 0 ||
	    json_object_set(record, "vulnerabilities", vulns) != 0 ||
	    json_object_set(record, "vulnerabilityDistribution", dist) != 0 ||
	    set_str(g, "vulnReason", reason) || set_str(g, "feedVersion", feed_version)) {
		r = -ENOMEM;
		goto out;
	}
	r = reason && strcmp(reason, "malformed package list") == 0 ? -EINVAL : 0;
out:
	json_decref(vulns);
	json_decref(dist);
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	return r;
}
