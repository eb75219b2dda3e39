/*
 * scanreport: severity ranks, distributions, thresholds and the twistcli output document over
 * Prisma-shaped scan records. See include/garrison/scanreport.h.
 */
#include "garrison/scanreport.h"
#include "garrison/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum scan_sev scanreport_sev(const char *word)
{
	static const struct {
		const char *w;
		enum scan_sev s;
	} words[] = {
		{ "critical", SCAN_SEV_CRITICAL }, { "high", SCAN_SEV_HIGH },
		{ "important", SCAN_SEV_HIGH },    { "medium", SCAN_SEV_MEDIUM },
		{ "moderate", SCAN_SEV_MEDIUM },   { "low", SCAN_SEV_LOW },
	};

	if (word == NULL)
		return SCAN_SEV_NONE;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(word, words[i].w) == 0)
			return words[i].s;
	return SCAN_SEV_NONE;
}

const char *scanreport_sev_name(enum scan_sev s)
{
	switch (s) {
	case SCAN_SEV_CRITICAL: return "critical";
	case SCAN_SEV_HIGH: return "high";
	case SCAN_SEV_MEDIUM: return "medium";
	case SCAN_SEV_LOW: return "low";
	default: return "unknown";
	}
}

int scanreport_parse_threshold(const char *word, enum scan_sev *out)
{
	if (word == NULL)
		return -EINVAL;
	if (strcasecmp(word, "off") == 0 || strcasecmp(word, "none") == 0) {
		*out = SCAN_SEV_NONE;
		return 0;
	}
	*out = scanreport_sev(word);
	return *out == SCAN_SEV_NONE ? -EINVAL : 0;
}

static enum scan_sev item_sev(const json_t *item)
{
	return scanreport_sev(json_string_value(json_object_get(item, "severity")));
}

json_t *scanreport_distribution(const json_t *items)
{
	long long n[SCAN_SEV_CRITICAL + 1] = { 0 }, total = 0;
	size_t i;
	const json_t *it;

	if (json_is_array(items)) {
		json_array_foreach(items, i, it) {
			n[item_sev(it)]++;
			total++;
		}
	}
	return json_pack("{sI sI sI sI sI}", "critical", (json_int_t)n[SCAN_SEV_CRITICAL],
			 "high", (json_int_t)n[SCAN_SEV_HIGH], "medium", (json_int_t)n[SCAN_SEV_MEDIUM],
			 "low", (json_int_t)n[SCAN_SEV_LOW], "total", (json_int_t)total);
}

int scanreport_exceeds(const json_t *items, enum scan_sev threshold)
{
	size_t i;
	const json_t *it;

	if (threshold == SCAN_SEV_NONE || !json_is_array(items))
		return 0;
	json_array_foreach(items, i, it)
		if (item_sev(it) >= threshold)
			return 1;
	return 0;
}

/* Unix seconds (Prisma's int64 dates) as RFC 3339 UTC; NULL for absent or 0. */
static json_t *iso_date(const json_t *v)
{
	char buf[32];

	if (!json_is_integer(v) || json_integer_value(v) <= 0)
		return NULL;
	util_time_rfc3339((time_t)json_integer_value(v), buf, sizeof(buf));
	return json_string(buf);
}

static int set_copy(json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
	json_t *v = json_object_get(src, skey);

	if (v == NULL || json_is_null(v))
		return 0;
	return json_object_set(dst, dkey, v);
}

static json_t *twistcli_vulns(const json_t *vulns)
{
	json_t *out = json_array(), *e;
	const json_t *v;
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(vulns, i, v) {
		json_t *d;

		e = json_object();
		if (e == NULL || json_array_append_new(out, e) != 0)
			goto fail;
		if (set_copy(e, "id", v, "cve") || set_copy(e, "status", v, "status") ||
		    set_copy(e, "cvss", v, "cvss") || set_copy(e, "vector", v, "vecStr") ||
		    set_copy(e, "description", v, "description") ||
		    set_copy(e, "severity", v, "severity") ||
		    set_copy(e, "packageName", v, "packageName") ||
		    set_copy(e, "packageVersion", v, "packageVersion") ||
		    set_copy(e, "link", v, "link"))
			goto fail;
		if ((d = iso_date(json_object_get(v, "published"))) != NULL &&
		    json_object_set_new(e, "publishedDate", d) != 0)
			goto fail;
		if ((d = iso_date(json_object_get(v, "discovered"))) != NULL &&
		    json_object_set_new(e, "discoveredDate", d) != 0)
			goto fail;
		if ((d = iso_date(json_object_get(v, "fixDate"))) != NULL &&
		    json_object_set_new(e, "fixDate", d) != 0)
			goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static json_t *twistcli_compliance(const json_t *issues)
{
	json_t *out = json_array(), *e;
	const json_t *c;
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(issues, i, c) {
		e = json_object();
		if (e == NULL || json_array_append_new(out, e) != 0 || set_copy(e, "id", c, "id") ||
		    set_copy(e, "title", c, "title") || set_copy(e, "severity", c, "severity") ||
		    set_copy(e, "cause", c, "cause") || set_copy(e, "description", c, "description")) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* Prisma's packages: [{pkgsType, pkgs: [{name, version, license, ...}]}] -> twistcli's flat list
 * [{type, name, version, license}] ("package" is an OS package: twistcli says "os"). */
static json_t *twistcli_packages(const json_t *groups)
{
	json_t *out = json_array();
	const json_t *g, *p;
	size_t i, j;

	if (out == NULL)
		return NULL;
	json_array_foreach(groups, i, g) {
		const char *type = json_string_value(json_object_get(g, "pkgsType"));

		if (type == NULL || strcmp(type, "package") == 0)
			type = "os";
		json_array_foreach(json_object_get(g, "pkgs"), j, p) {
			json_t *e = json_pack("{ss}", "type", type);

			if (e == NULL || json_array_append_new(out, e) != 0 ||
			    set_copy(e, "name", p, "name") || set_copy(e, "version", p, "version") ||
			    set_copy(e, "license", p, "license")) {
				json_decref(out);
				return NULL;
			}
		}
	}
	return out;
}

json_t *scanreport_twistcli(const json_t *image, const char *name, int vuln_pass, int comp_pass,
			    const char *console_url)
{
	json_t *doc = NULL, *res, *results, *v;
	const json_t *vulns = json_object_get(image, "vulnerabilities");
	const json_t *comp = json_object_get(image, "complianceIssues");

	res = json_object();
	if (res == NULL)
		return NULL;
	if (set_copy(res, "id", image, "_id") || set_copy(res, "digest", image, "id") ||
	    set_copy(res, "distro", image, "distro") ||
	    set_copy(res, "distroRelease", image, "osDistroRelease") ||
	    set_copy(res, "collections", image, "collections") ||
	    set_copy(res, "history", image, "history") ||
	    set_copy(res, "scanTime", image, "scanTime"))
		goto fail;
	if (name != NULL && json_object_set_new(res, "name", json_string(name)) != 0)
		goto fail;
	if ((v = twistcli_packages(json_object_get(image, "packages"))) == NULL ||
	    json_object_set_new(res, "packages", v) != 0)
		goto fail;
	if (json_object_set_new(res, "applications", json_array()) != 0)
		goto fail;
	if ((v = twistcli_compliance(comp)) == NULL || json_object_set_new(res, "compliances", v) != 0)
		goto fail;
	if ((v = scanreport_distribution(comp)) == NULL ||
	    json_object_set_new(res, "complianceDistribution", v) != 0)
		goto fail;
	if (json_object_set_new(res, "complianceScanPassed", json_boolean(comp_pass)) != 0)
		goto fail;
	if ((v = twistcli_vulns(vulns)) == NULL ||
	    json_object_set_new(res, "vulnerabilities", v) != 0)
		goto fail;
	if ((v = scanreport_distribution(vulns)) == NULL ||
	    json_object_set_new(res, "vulnerabilityDistribution", v) != 0)
		goto fail;
	if (json_object_set_new(res, "vulnerabilityScanPassed", json_boolean(vuln_pass)) != 0)
		goto fail;
	results = json_array();
	if (results == NULL)
		goto fail;
	/* the _new functions of jansson take the reference even when they fail */
	if (json_array_append_new(results, res) != 0) {
		json_decref(results);
		return NULL;
	}
	doc = json_pack("{so}", "results", results);
	if (doc == NULL)
		return NULL;
	if (console_url != NULL && json_object_set_new(doc, "consoleURL", json_string(console_url)) != 0) {
		json_decref(doc);
		return NULL;
	}
	return doc;
fail:
	json_decref(res);
	return NULL;
}
