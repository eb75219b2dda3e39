/*
 * vulndb_osv.c: OSV import. Checks each record against what the OSV schema (1.7.x,
 * validation/schema.json) requires, converts the usable affected[] entries into the internal
 * form (versions validated in the ecosystem's order, range events sorted once here) and reads
 * OSV from memory, files, directories and zip archives (libarchive). All input is untrusted:
 * sizes are bounded, a malformed record is rejected with a message naming the origin and the
 * record id, and a file that is not JSON fails the whole call with the database unchanged.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <garrison/cvss.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include "vulndb_int.h"

#define WARN_MAX 20 /* rejection messages logged per import; the rest are only counted */

/* ---- schema helpers ---- */

/* The home database prefixes of $defs/prefix, each followed by '-' in an id ("x_" alone). */
static const char *const id_prefixes[] = {
	"ASB-A", "PUB-A", "ALPINE", "ALSA", "ALBA", "ALEA", "AZL", "BELL", "BIT", "CGA",
	"CLEANSTART", "CLSA", "CURL", "CVE", "DEBIAN", "DHI", "DRUPAL", "DSA", "DLA", "ELA",
	"DTSA", "ECHO", "EEF", "FreeBSD", "GHSA", "GO", "GSD", "HSEC", "JLSEC", "KUBE", "LBSEC",
	"LSN", "MAL", "MINI", "MGASA", "OESA", "OSEC", "OSV", "openSUSE-SU", "PHSA", "PSF",
	"PYSEC", "RHBA", "RHEA", "RHSA", "RLSA", "RXSA", "RSEC", "ROOT", "RUSTSEC", "SUSE-SU",
	"SUSE-RU", "SUSE-FU", "SUSE-OU", "UBUNTU", "USN", "V8",
};

/* The ecosystem names of $defs/ecosystemWithSuffix. */
static const char *const ecosystems[] = {
	"AlmaLinux", "Alpaquita", "Alpine", "Android", "Azure Linux",
	"BellSoft Hardened Containers", "Bioconductor", "Bitnami", "Chainguard", "CleanStart",
	"ConanCenter", "CRAN", "crates.io", "Debian", "Docker Hardened Images", "Echo", "FreeBSD",
	"GHC", "GitHub Actions", "Go", "Hackage", "Hex", "Julia", "Kubernetes", "Linux", "Mageia",
	"Maven", "MinimOS", "npm", "NuGet", "opam", "openEuler", "openSUSE", "OSS-Fuzz",
	"Packagist", "Photon OS", "Pub", "PyPI", "Red Hat", "Rocky Linux", "Root", "RubyGems",
	"SUSE", "SwiftURL", "TuxCare", "Ubuntu", "VSCode", "Wolfi", "GIT",
};

/* OS ecosystems and their version order. */
static const struct {
	const char *name;
	enum version_kind kind;
} os_ecosystems[] = {
	{ "Debian", VERSION_DPKG },    { "Ubuntu", VERSION_DPKG },
	{ "Alpine", VERSION_APK },     { "Wolfi", VERSION_APK },
	{ "Chainguard", VERSION_APK }, { "AlmaLinux", VERSION_RPM },
	{ "Rocky Linux", VERSION_RPM }, { "Azure Linux", VERSION_RPM },
	{ "Photon OS", VERSION_RPM },  { "Mageia", VERSION_RPM },
	{ "Red Hat", VERSION_RPM },    { "SUSE", VERSION_RPM },
	{ "openSUSE", VERSION_RPM },   { "openEuler", VERSION_RPM },
};

static size_t base_len(const char *eco)
{
	const char *c = strchr(eco, ':');
	return c ? (size_t)(c - eco) : strlen(eco);
}

int vulndb_ecosystem_kind(const char *eco)
{
	size_t n = base_len(eco);
	for (size_t i = 0; i < ARRAY_SIZE(os_ecosystems); i++)
		if (strlen(os_ecosystems[i].name) == n && memcmp(os_ecosystems[i].name, eco, n) == 0)
			return (int)os_ecosystems[i].kind;
	return -1;
}

static int valid_ecosystem(const char *eco)
{
	size_t n = base_len(eco);
	for (size_t i = 0; i < ARRAY_SIZE(ecosystems); i++)
		if (strlen(ecosystems[i]) == n && memcmp(ecosystems[i], eco, n) == 0)
			/* "(:.+)?": a suffix, when present, is not empty and has no newline */
			return eco[n] == '\0' || (eco[n + 1] != '\0' && strchr(eco, '\n') == NULL);
	return 0;
}

static int valid_id(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > VULNDB_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
			return 0;
	if (strncmp(id, "x_", 2) == 0)
		return 1;
	for (size_t i = 0; i < ARRAY_SIZE(id_prefixes); i++) {
		size_t p = strlen(id_prefixes[i]);
		if (strncmp(id, id_prefixes[i], p) == 0 && id[p] == '-')
			return 1;
	}
	return 0;
}

static int dig(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

static int num(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int vulndb_parse_time(const char *s, int64_t *out)
{
	/* YYYY-MM-DDTHH:MM:SS[.frac]Z, checked position by position (no reading past the NUL:
	 * each check stops at the first mismatch, and NUL matches nothing) */
	if (strnlen(s, 20) < 20 || !dig(s, 4) || s[4] != '-' || !dig(s + 5, 2) || s[7] != '-' ||
	    !dig(s + 8, 2) || s[10] != 'T' || !dig(s + 11, 2) || s[13] != ':' || !dig(s + 14, 2) ||
	    s[16] != ':' || !dig(s + 17, 2))
		return -EINVAL;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (p[0] != 'Z' || p[1] != '\0')
		return -EINVAL;
	struct tm tm = { 0 };
	tm.tm_year = num(s, 4) - 1900;
	tm.tm_mon = num(s + 5, 2) - 1;
	tm.tm_mday = num(s + 8, 2);
	tm.tm_hour = num(s + 11, 2);
	tm.tm_min = num(s + 14, 2);
	tm.tm_sec = num(s + 17, 2);
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* Each check writes the reason into why (whylen bytes) and returns -EINVAL. */
#define BAD(...)                                          \
	do {                                              \
		snprintf(why, whylen, __VA_ARGS__);       \
		return -EINVAL;                           \
	} while (0)

static int check_str_array(json_t *a, const char *what, int nullable, char *why, size_t whylen)
{
	if (a == NULL || (nullable && json_is_null(a)))
		return 0;
	if (!json_is_array(a))
		BAD("%s is not an array", what);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			BAD("%s[%zu] is not a string", what, i);
	return 0;
}

static int check_opt_type(json_t *o, const char *key, int (*is)(const json_t *), const char *tname,
			  const char *where, char *why, size_t whylen)
{
	json_t *v = json_object_get(o, key);
	if (v != NULL && !is(v))
		BAD("%s%s is not %s", where, key, tname);
	return 0;
}

static int is_string(const json_t *j) { return json_is_string(j); }
static int is_object(const json_t *j) { return json_is_object(j); }

static int check_severity(json_t *s, const char *where, char *why, size_t whylen)
{
	if (s == NULL || json_is_null(s))
		return 0;
	if (!json_is_array(s))
		BAD("%sseverity is not an array", where);
	size_t i;
	json_t *e;
	json_array_foreach(s, i, e) {
		if (!json_is_object(e))
			BAD("%sseverity[%zu] is not an object", where, i);
		json_t *t = json_object_get(e, "type"), *sc = json_object_get(e, "score");
		if (t != NULL) {
			const char *ts = json_string_value(t);
			if (ts == NULL || (strcmp(ts, "CVSS_V2") != 0 && strcmp(ts, "CVSS_V3") != 0 &&
					   strcmp(ts, "CVSS_V4") != 0 && strcmp(ts, "Ubuntu") != 0))
				BAD("%sseverity[%zu].type is not CVSS_V2, CVSS_V3, CVSS_V4 or Ubuntu",
				    where, i);
		}
		if (sc != NULL && !json_is_string(sc))
			BAD("%sseverity[%zu].score is not a string", where, i);
		if (t != NULL && sc != NULL && strcmp(json_string_value(t), "CVSS_V3") == 0) {
			const char *v = json_string_value(sc);
			if (strncmp(v, "CVSS:3.0/", 9) != 0 && strncmp(v, "CVSS:3.1/", 9) != 0)
				BAD("%sseverity[%zu].score is not a CVSS v3 vector", where, i);
		}
	}
	return 0;
}

static int is_git_hash(const char *v)
{
	size_t n = strlen(v);
	if (strcmp(v, "0") == 0)
		return 1;
	if (n != 40 && n != 64)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
	return 1;
}

static const char *const event_keys[] = { "introduced", "last_affected", "fixed", "limit" };

/* The one event key of an event object (index into event_keys), or -1. */
static int event_kind(json_t *ev)
{
	int found = -1;
	for (int k = 0; k < 4; k++) {
		if (json_object_get(ev, event_keys[k]) != NULL) {
			if (found >= 0)
				return -2; /* oneOf: more than one branch matches */
			found = k;
		}
	}
	return found;
}

static int check_range(json_t *r, const char *where, char *why, size_t whylen)
{
	if (!json_is_object(r))
		BAD("%s is not an object", where);
	const char *type = json_string_value(json_object_get(r, "type"));
	if (type == NULL)
		BAD("%s.type is missing or not a string", where);
	int git = strcmp(type, "GIT") == 0;
	if (!git && strcmp(type, "SEMVER") != 0 && strcmp(type, "ECOSYSTEM") != 0)
		BAD("%s.type \"%.40s\" is not GIT, SEMVER or ECOSYSTEM", where, type);
	json_t *repo = json_object_get(r, "repo");
	if (repo != NULL && !json_is_string(repo))
		BAD("%s.repo is not a string", where);
	if (git && repo == NULL)
		BAD("%s: a GIT range requires repo", where);
	json_t *ds = json_object_get(r, "database_specific");
	if (ds != NULL && !json_is_object(ds))
		BAD("%s.database_specific is not an object", where);
	json_t *evs = json_object_get(r, "events");
	if (!json_is_array(evs))
		BAD("%s.events is missing or not an array", where);
	if (json_array_size(evs) == 0)
		BAD("%s.events is empty", where);
	size_t i;
	json_t *e;
	int intro = 0, fixed = 0, last = 0;
	json_array_foreach(evs, i, e) {
		if (!json_is_object(e))
			BAD("%s.events[%zu] is not an object", where, i);
		int k = event_kind(e);
		if (k == -1)
			BAD("%s.events[%zu] has none of introduced, fixed, last_affected, limit", where,
			    i);
		if (k == -2)
			BAD("%s.events[%zu] has more than one of introduced, fixed, last_affected, "
			    "limit", where, i);
		const char *v = json_string_value(json_object_get(e, event_keys[k]));
		if (v == NULL)
			BAD("%s.events[%zu].%s is not a string", where, i, event_keys[k]);
		if (git && !is_git_hash(v))
			BAD("%s.events[%zu]: GIT ranges must use full-length commit hashes", where, i);
		intro |= k == VEV_INTRODUCED;
		last |= k == VEV_LAST_AFFECTED;
		fixed |= k == VEV_FIXED;
	}
	if (!intro)
		BAD("%s.events has no introduced event", where);
	if (last && fixed)
		BAD("%s.events has both last_affected and fixed (mutually exclusive)", where);
	return 0;
}

static int check_affected(json_t *a, const char *where, int top_severity, char *why, size_t whylen)
{
	char w[96];
	if (!json_is_object(a))
		BAD("%s is not an object", where);
	json_t *pkg = json_object_get(a, "package");
	if (pkg != NULL) {
		if (!json_is_object(pkg))
			BAD("%s.package is not an object", where);
		const char *eco = json_string_value(json_object_get(pkg, "ecosystem"));
		if (eco == NULL)
			BAD("%s.package.ecosystem is missing or not a string", where);
		if (!valid_ecosystem(eco))
			BAD("%s.package.ecosystem \"%.60s\" is not an OSV ecosystem", where, eco);
		if (!json_is_string(json_object_get(pkg, "name")))
			BAD("%s.package.name is missing or not a string", where);
		json_t *purl = json_object_get(pkg, "purl");
		if (purl != NULL && !json_is_string(purl))
			BAD("%s.package.purl is not a string", where);
	}
	json_t *sev = json_object_get(a, "severity");
	if (top_severity && sev != NULL && !json_is_null(sev))
		BAD("%s.severity is set although the record has a top-level severity", where);
	snprintf(w, sizeof(w), "%s.", where);
	if (check_severity(sev, w, why, whylen) != 0)
		return -EINVAL;
	json_t *ranges = json_object_get(a, "ranges");
	if (ranges != NULL) {
		if (!json_is_array(ranges))
			BAD("%s.ranges is not an array", where);
		size_t i;
		json_t *r;
		json_array_foreach(ranges, i, r) {
			snprintf(w, sizeof(w), "%s.ranges[%zu]", where, i);
			if (check_range(r, w, why, whylen) != 0)
				return -EINVAL;
		}
	}
	snprintf(w, sizeof(w), "%s.versions", where);
	if (check_str_array(json_object_get(a, "versions"), w, 0, why, whylen) != 0)
		return -EINVAL;
	snprintf(w, sizeof(w), "%s.", where);
	if (check_opt_type(a, "ecosystem_specific", is_object, "an object", w, why, whylen) != 0 ||
	    check_opt_type(a, "database_specific", is_object, "an object", w, why, whylen) != 0)
		return -EINVAL;
	return 0;
}

static const char *const ref_types[] = { "ADVISORY", "ARTICLE", "DETECTION", "DISCUSSION",
					 "REPORT", "FIX", "INTRODUCED", "GIT", "PACKAGE",
					 "EVIDENCE", "WEB" };
static const char *const credit_types[] = { "FINDER", "REPORTER", "ANALYST", "COORDINATOR",
					    "REMEDIATION_DEVELOPER", "REMEDIATION_REVIEWER",
					    "REMEDIATION_VERIFIER", "TOOL", "SPONSOR", "OTHER" };

static int in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s != NULL && i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

/* The OSV schema's requirements on one record. */
static int check_record(json_t *rec, char *why, size_t whylen)
{
	char w[64];
	if (!json_is_object(rec))
		BAD("not a JSON object");
	const char *id = json_string_value(json_object_get(rec, "id"));
	if (id == NULL)
		BAD("id is missing or not a string");
	if (!valid_id(id))
		BAD("id does not start with a known home database prefix (e.g. CVE-, DSA-, x_) "
		    "or is longer than %d bytes", VULNDB_ID_MAX);
	const char *mod = json_string_value(json_object_get(rec, "modified"));
	int64_t t;
	if (mod == NULL)
		BAD("modified is missing or not a string");
	if (vulndb_parse_time(mod, &t) != 0)
		BAD("modified \"%.40s\" is not a timestamp YYYY-MM-DDTHH:MM:SS[.f]Z", mod);
	static const char *const times[] = { "published", "withdrawn" };
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		json_t *v = json_object_get(rec, times[i]);
		if (v == NULL)
			continue;
		if (!json_is_string(v) || vulndb_parse_time(json_string_value(v), &t) != 0)
			BAD("%s is not a timestamp YYYY-MM-DDTHH:MM:SS[.f]Z", times[i]);
	}
	if (check_opt_type(rec, "schema_version", is_string, "a string", "", why, whylen) != 0 ||
	    check_opt_type(rec, "summary", is_string, "a string", "", why, whylen) != 0 ||
	    check_opt_type(rec, "details", is_string, "a string", "", why, whylen) != 0 ||
	    check_opt_type(rec, "database_specific", is_object, "an object", "", why, whylen) != 0 ||
	    check_str_array(json_object_get(rec, "aliases"), "aliases", 1, why, whylen) != 0 ||
	    check_str_array(json_object_get(rec, "related"), "related", 0, why, whylen) != 0 ||
	    check_str_array(json_object_get(rec, "upstream"), "upstream", 0, why, whylen) != 0)
		return -EINVAL;
	json_t *sev = json_object_get(rec, "severity");
	if (check_severity(sev, "", why, whylen) != 0)
		return -EINVAL;
	int top_sev = sev != NULL && !json_is_null(sev);
	json_t *aff = json_object_get(rec, "affected");
	if (aff != NULL && !json_is_null(aff)) {
		if (!json_is_array(aff))
			BAD("affected is not an array");
		if (json_array_size(aff) > VULNDB_AFFECTED_MAX)
			BAD("more than %d affected entries", VULNDB_AFFECTED_MAX);
		size_t i;
		json_t *a;
		json_array_foreach(aff, i, a) {
			snprintf(w, sizeof(w), "affected[%zu]", i);
			if (check_affected(a, w, top_sev, why, whylen) != 0)
				return -EINVAL;
		}
	}
	json_t *refs = json_object_get(rec, "references");
	if (refs != NULL && !json_is_null(refs)) {
		if (!json_is_array(refs))
			BAD("references is not an array");
		size_t i;
		json_t *r;
		json_array_foreach(refs, i, r) {
			if (!json_is_object(r))
				BAD("references[%zu] is not an object", i);
			if (!in_list(json_string_value(json_object_get(r, "type")), ref_types,
				     ARRAY_SIZE(ref_types)))
				BAD("references[%zu].type is missing or not a reference type", i);
			if (!json_is_string(json_object_get(r, "url")))
				BAD("references[%zu].url is missing or not a string", i);
		}
	}
	json_t *credits = json_object_get(rec, "credits");
	if (credits != NULL) {
		if (!json_is_array(credits))
			BAD("credits is not an array");
		size_t i;
		json_t *c;
		json_array_foreach(credits, i, c) {
			if (!json_is_object(c) || !json_is_string(json_object_get(c, "name")))
				BAD("credits[%zu] is not an object with a name string", i);
			snprintf(w, sizeof(w), "credits[%zu].contact", i);
			if (check_str_array(json_object_get(c, "contact"), w, 0, why, whylen) != 0)
				return -EINVAL;
			json_t *ct = json_object_get(c, "type");
			if (ct != NULL && !in_list(json_string_value(ct), credit_types,
						   ARRAY_SIZE(credit_types)))
				BAD("credits[%zu].type is not a credit type", i);
		}
	}
	return 0;
}

/* ---- conversion ---- */

/* Prisma's severity words from a vendor word (Debian urgency, Ubuntu priority, Red Hat impact). */
static const char *vendor_severity(const char *w)
{
	static const struct {
		const char *in, *out;
	} map[] = {
		{ "critical", "critical" }, { "high", "high" },     { "important", "important" },
		{ "medium", "medium" },     { "moderate", "moderate" }, { "low", "low" },
		{ "negligible", "low" },    { "unimportant", "low" },
	};
	if (w == NULL)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (strcasecmp(w, map[i].in) == 0)
			return map[i].out;
	/* Debian writes e.g. "low**" or "medium*" for uncertain urgencies */
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		size_t n = strlen(map[i].in);
		if (strncasecmp(w, map[i].in, n) == 0 && w[n] == '*')
			return map[i].out;
	}
	return NULL;
}

/* A vendor severity word from a "severity" or "urgency" member of o (an object or NULL). */
static const char *vendor_in(json_t *o)
{
	const char *s = vendor_severity(json_string_value(json_object_get(o, "severity")));
	return s ? s : vendor_severity(json_string_value(json_object_get(o, "urgency")));
}

/* The CVSS v3 vector and score in a severity array, and an "Ubuntu" priority if present. */
static void severity_of(json_t *sev, const char **vec, double *score, const char **ubuntu)
{
	size_t i;
	json_t *e;
	if (!json_is_array(sev))
		return;
	json_array_foreach(sev, i, e) {
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *s = json_string_value(json_object_get(e, "score"));
		if (t == NULL || s == NULL)
			continue;
		double sc;
		if (*vec == NULL && strcmp(t, "CVSS_V3") == 0 && cvss3_base_score(s, &sc) == 0) {
			*vec = s;
			*score = sc;
		} else if (strcmp(t, "Ubuntu") == 0 && *ubuntu == NULL) {
			*ubuntu = vendor_severity(s);
		}
	}
}

static char *dup_utf8_bounded(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		/* do not cut a UTF-8 sequence: back off continuation bytes and their lead byte */
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

static int cmp_events(const void *a, const void *b, void *arg)
{
	const struct vev *x = a, *y = b;
	enum version_kind vk = *(const enum version_kind *)arg;
	int r = 0;
	if (x->v == NULL || y->v == NULL)
		r = (x->v != NULL) - (y->v != NULL);
	else if (version_compare(vk, x->v, y->v, &r) != 0)
		r = strcmp(x->v, y->v); /* cannot happen: validated before sorting */
	if (r != 0)
		return r;
	return (int)x->kind - (int)y->kind;
}

static const char *link_template(const char *eco)
{
	size_t n = base_len(eco);
	if (n == 6 && memcmp(eco, "Debian", 6) == 0)
		return "https://security-tracker.debian.org/tracker/";
	if (n == 6 && memcmp(eco, "Ubuntu", 6) == 0)
		return "https://ubuntu.com/security/";
	if (n == 6 && memcmp(eco, "Alpine", 6) == 0)
		return "https://security.alpinelinux.org/vuln/";
	return NULL;
}

static char *make_link(const char *eco, const char *cve, json_t *refs)
{
	const char *t = link_template(eco);
	char buf[512];
	if (t != NULL) {
		snprintf(buf, sizeof(buf), "%s%s", t, cve);
		return strdup(buf);
	}
	const char *first = NULL, *adv = NULL;
	size_t i;
	json_t *r;
	json_array_foreach(refs, i, r) {
		const char *u = json_string_value(json_object_get(r, "url"));
		const char *ty = json_string_value(json_object_get(r, "type"));
		if (u == NULL)
			continue;
		if (first == NULL)
			first = u;
		if (adv == NULL && ty != NULL && strcmp(ty, "ADVISORY") == 0)
			adv = u;
	}
	if (adv != NULL || first != NULL)
		return dup_utf8_bounded(adv ? adv : first, 2048);
	if (strncmp(cve, "CVE-", 4) == 0) {
		snprintf(buf, sizeof(buf), "https://nvd.nist.gov/vuln/detail/%s", cve);
		return strdup(buf);
	}
	return strdup("");
}

struct recsev {
	const char *vec, *vendor;
	double score;
};

/* Builds *a from affected entry aj; 1 when usable, 0 when ignored (*why says why), -ENOMEM. */
static int build_aff(struct vaff *a, json_t *aj, const struct recsev *rs, json_t *rec,
		     const char *cve, const char **why)
{
	json_t *pkg = json_object_get(aj, "package");
	const char *eco = json_string_value(json_object_get(pkg, "ecosystem"));
	const char *name = json_string_value(json_object_get(pkg, "name"));
	*why = NULL;
	if (eco == NULL || name == NULL)
		return 0; /* no package: nothing to match by name */
	int kind = vulndb_ecosystem_kind(eco);
	if (kind < 0)
		return 0; /* not an OS ecosystem: kept in the record, not indexed */
	if (strlen(eco) >= VULNDB_ECOSYSTEM_MAX || strlen(name) > VULNDB_ID_MAX || name[0] == '\0' ||
	    strchr(name, '\n') != NULL) {
		*why = "package name or ecosystem too long, empty or with a newline";
		return 0;
	}
	a->vk = (enum version_kind)kind;
	json_t *ranges = json_object_get(aj, "ranges"), *versions = json_object_get(aj, "versions");
	size_t i, nr = 0;
	json_t *r;
	json_array_foreach(ranges, i, r)
		nr += strcmp(json_string_value(json_object_get(r, "type")), "ECOSYSTEM") == 0;
	size_t nv = json_array_size(versions);
	if (nr == 0 && nv == 0)
		return 0;
	/* every version must be valid in the ecosystem's order, else the entry could match wrongly */
	json_array_foreach(ranges, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "type")), "ECOSYSTEM") != 0)
			continue;
		json_t *evs = json_object_get(r, "events"), *e;
		size_t k;
		if (json_array_size(evs) > VULNDB_EVENTS_MAX) {
			*why = "too many events in a range";
			return 0;
		}
		json_array_foreach(evs, k, e) {
			int ek = event_kind(e);
			const char *v = json_string_value(json_object_get(e, event_keys[ek]));
			if (ek == VEV_INTRODUCED && strcmp(v, "0") == 0)
				continue;
			if (version_valid(a->vk, v, why) != 0)
				return 0;
		}
	}
	if (nv > VULNDB_EVENTS_MAX) {
		*why = "too many versions";
		return 0;
	}
	json_t *v;
	json_array_foreach(versions, i, v)
		if (version_valid(a->vk, json_string_value(v), why) != 0)
			return 0;

	size_t kl = strlen(eco) + 1 + strlen(name) + 1;
	if ((a->key = malloc(kl)) == NULL)
		return -ENOMEM;
	snprintf(a->key, kl, "%s\n%s", eco, name);
	if (nr > 0 && (a->ranges = calloc(nr, sizeof(*a->ranges))) == NULL)
		return -ENOMEM;
	json_array_foreach(ranges, i, r) {
		if (strcmp(json_string_value(json_object_get(r, "type")), "ECOSYSTEM") != 0)
			continue;
		struct vrange *vr = &a->ranges[a->nranges++];
		json_t *evs = json_object_get(r, "events"), *e;
		size_t k;
		if ((vr->ev = calloc(json_array_size(evs), sizeof(*vr->ev))) == NULL)
			return -ENOMEM;
		json_array_foreach(evs, k, e) {
			int ek = event_kind(e);
			const char *s = json_string_value(json_object_get(e, event_keys[ek]));
			struct vev *ev = &vr->ev[vr->nev++];
			ev->kind = (enum vev_kind)ek;
			if (ek == VEV_INTRODUCED && strcmp(s, "0") == 0)
				continue;
			if ((ev->v = strdup(s)) == NULL)
				return -ENOMEM;
		}
		qsort_r(vr->ev, vr->nev, sizeof(*vr->ev), cmp_events, &a->vk);
	}
	if (nv == 0 && a->nranges == 1 && a->ranges[0].nev == 2 &&
	    a->ranges[0].ev[0].kind == VEV_INTRODUCED && a->ranges[0].ev[0].v == NULL &&
	    a->ranges[0].ev[1].kind == VEV_FIXED)
		a->simple_fix = a->ranges[0].ev[1].v;
	if (nv > 0 && (a->versions = calloc(nv, sizeof(*a->versions))) == NULL)
		return -ENOMEM;
	json_array_foreach(versions, i, v)
		if ((a->versions[a->nversions++] = strdup(json_string_value(v))) == NULL)
			return -ENOMEM;

	/* severity: a CVSS v3 vector (affected, then record), else a vendor word, else low */
	const char *vec = NULL, *ubuntu = NULL;
	double score = 0;
	severity_of(json_object_get(aj, "severity"), &vec, &score, &ubuntu);
	if (vec == NULL && rs->vec != NULL) {
		vec = rs->vec;
		score = rs->score;
	}
	if (vec != NULL) {
		a->cvss = score;
		a->severity = score > 0 ? cvss3_severity(score) : "low";
		if ((a->vec = strdup(vec)) == NULL)
			return -ENOMEM;
	} else {
		const char *s = ubuntu;
		if (s == NULL)
			s = vendor_in(json_object_get(aj, "ecosystem_specific"));
		if (s == NULL)
			s = vendor_in(json_object_get(aj, "database_specific"));
		if (s == NULL)
			s = rs->vendor;
		a->severity = s ? s : "low";
	}
	if ((a->link = make_link(eco, cve, json_object_get(rec, "references"))) == NULL)
		return -ENOMEM;
	return 1;
}

static void reject(struct vstage *sg, const char *origin, size_t ordinal, const char *id,
		   const char *why)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s: record %zu (%s%.*s): rejected: %s", origin, ordinal,
		 id ? "id " : "no id", id ? 80 : 0, id ? id : "", why);
	if (sg->st) {
		sg->st->rejected++;
		if (sg->st->first_error[0] == '\0')
			snprintf(sg->st->first_error, sizeof(sg->st->first_error), "%s", msg);
	}
	if (sg->warned < WARN_MAX)
		log_warn("%s", msg);
	else if (sg->warned == WARN_MAX)
		log_warn("%s: more records rejected; only counted from here on", origin);
	sg->warned++;
}

int vulndb_stage_record(struct vstage *sg, json_t *rec, const char *origin, size_t ordinal)
{
	char why[256];
	int rc = -ENOMEM;
	struct vrec *r = NULL;
	if (check_record(rec, why, sizeof(why)) != 0) {
		reject(sg, origin, ordinal, json_string_value(json_object_get(rec, "id")), why);
		return 0;
	}
	if (sg->n == sg->cap) {
		size_t ncap = sg->cap ? sg->cap * 2 : 64;
		struct vrec **nv = realloc(sg->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		sg->v = nv;
		sg->cap = ncap;
	}
	if (sg->n >= VULNDB_RECORDS_MAX)
		return -E2BIG;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto fail;
	const char *id = json_string_value(json_object_get(rec, "id"));
	if ((r->id = strdup(id)) == NULL)
		goto fail;
	vulndb_parse_time(json_string_value(json_object_get(rec, "modified")), &r->modified);
	r->published = r->modified;
	if (json_object_get(rec, "published") != NULL)
		vulndb_parse_time(json_string_value(json_object_get(rec, "published")),
				  &r->published);
	/* the CVE: the id itself, else the first CVE alias, else the id */
	const char *cve = id;
	if (strncmp(id, "CVE-", 4) != 0) {
		size_t i;
		json_t *al;
		json_array_foreach(json_object_get(rec, "aliases"), i, al) {
			const char *s = json_string_value(al);
			if (strncmp(s, "CVE-", 4) == 0 && strlen(s) <= VULNDB_ID_MAX) {
				cve = s;
				break;
			}
		}
	}
	if ((r->cve = strdup(cve)) == NULL)
		goto fail;
	const char *desc = json_string_value(json_object_get(rec, "details"));
	if (desc == NULL || desc[0] == '\0')
		desc = json_string_value(json_object_get(rec, "summary"));
	if ((r->description = dup_utf8_bounded(desc ? desc : "", VULNDB_TEXT_MAX)) == NULL)
		goto fail;
	if ((r->canon = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		goto fail;
	r->canon_len = strlen(r->canon);

	struct recsev rs = { 0 };
	const char *ubuntu = NULL;
	severity_of(json_object_get(rec, "severity"), &rs.vec, &rs.score, &ubuntu);
	rs.vendor = ubuntu ? ubuntu : vendor_in(json_object_get(rec, "database_specific"));

	json_t *aff = json_object_get(rec, "affected");
	/* a withdrawn record is kept (export) but never matched */
	size_t na = json_object_get(rec, "withdrawn") != NULL ? 0 : json_array_size(aff);
	if (na > 0 && (r->aff = calloc(na, sizeof(*r->aff))) == NULL)
		goto fail;
	size_t i;
	json_t *aj;
	json_array_foreach(aff, i, aj) {
		if (i >= na)
			break;
		struct vaff *a = &r->aff[r->naff];
		const char *why2 = NULL;
		memset(a, 0, sizeof(*a));
		a->rec = r;
		int u = build_aff(a, aj, &rs, rec, r->cve, &why2);
		if (u < 0) {
			r->naff++; /* so that vulndb_rec_free() frees its parts */
			goto fail;
		}
		if (u == 0) {
			/* build_aff() allocates nothing before it decides to use an entry */
			memset(a, 0, sizeof(*a));
			if (sg->st)
				sg->st->affected_ignored++;
			if (why2 != NULL) {
				if (sg->warned < WARN_MAX)
					log_warn("%s: record %zu (id %.80s): affected[%zu] not used for "
						 "matching: %s", origin, ordinal, id, i, why2);
				sg->warned++;
			}
			continue;
		}
		r->naff++;
		if (sg->st)
			sg->st->affected_indexed++;
	}
	sg->v[sg->n++] = r;
	if (sg->st)
		sg->st->records++;
	return 0;
fail:
	vulndb_rec_free(r);
	return rc;
}

/* ---- reading ---- */

int vulndb_stage_json(struct vstage *sg, json_t *root, const char *origin, char *err,
		      size_t errlen)
{
	int rc;
	if (json_is_object(root))
		return vulndb_stage_record(sg, root, origin, 0);
	if (!json_is_array(root)) {
		vulndb_seterr(err, errlen, "%s: neither an OSV record (object) nor an array of them",
			      origin);
		return -EINVAL;
	}
	size_t i;
	json_t *rec;
	json_array_foreach(root, i, rec)
		if ((rc = vulndb_stage_record(sg, rec, origin, i)) != 0) {
			vulndb_seterr(err, errlen, "%s: record %zu: %s", origin, i,
				      rc == -E2BIG ? "too many records" : "out of memory");
			return rc;
		}
	return 0;
}

/* Parses one JSON text into the stage. */
static int stage_text(struct vstage *sg, const char *data, size_t len, const char *origin,
		      char *err, size_t errlen)
{
	json_error_t je;
	if (len > VULNDB_FILE_MAX) {
		vulndb_seterr(err, errlen, "%s: larger than %lu bytes", origin, VULNDB_FILE_MAX);
		return -EFBIG;
	}
	json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		vulndb_seterr(err, errlen, "%s: not JSON: line %d column %d: %s", origin, je.line,
			      je.column, je.text);
		return -EINVAL;
	}
	int rc = vulndb_stage_json(sg, root, origin, err, errlen);
	json_decref(root);
	if (sg->st)
		sg->st->files++;
	return rc;
}

static int is_zip(const char *d, size_t n);
static int stage_zip(struct vstage *sg, const char *data, size_t len, const char *origin,
		     char *err, size_t errlen);

static void stats_init(struct vulndb_import_stats *st)
{
	if (st)
		memset(st, 0, sizeof(*st));
}

int vulndb_import_osv_mem(struct vulndb *db, const char *data, size_t len, const char *origin,
			  struct vulndb_import_stats *st, char *err, size_t errlen)
{
	struct vulndb_import_stats local;
	struct vstage sg = { .st = st ? st : &local };
	if (db == NULL || (data == NULL && len > 0))
		return -EINVAL;
	stats_init(sg.st);
	origin = origin ? origin : "memory";
	int rc;
	if (data != NULL && is_zip(data, len))
		rc = stage_zip(&sg, data, len, origin, err, errlen);
	else
		rc = stage_text(&sg, data ? data : "", len, origin, err, errlen);
	if (rc != 0) {
		vulndb_stage_clear(&sg);
		return rc;
	}
	rc = vulndb_commit(db, &sg);
	if (rc != 0)
		vulndb_seterr(err, errlen, "%s: storing the records failed", origin);
	return rc;
}

/* Reads an open regular file of at most max bytes into a malloc()ed NUL-terminated buffer. */
static int read_fd(int fd, size_t max, char **out, size_t *outlen)
{
	struct stat sb;
	if (fstat(fd, &sb) != 0)
		return -errno;
	if (!S_ISREG(sb.st_mode))
		return -EINVAL;
	if ((uint64_t)sb.st_size > max)
		return -EFBIG;
	size_t cap = (size_t)sb.st_size + 1, n = 0;
	char *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (n + 1 == cap) { /* the file grew while we read it */
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int is_zip(const char *d, size_t n)
{
	return n >= 4 && d[0] == 'P' && d[1] == 'K' &&
	       ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6));
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Every regular *.json entry of a zip held in memory. */
static int stage_zip(struct vstage *sg, const char *data, size_t len, const char *origin,
		     char *err, size_t errlen)
{
	int rc = 0;
	char *buf = NULL;
	size_t entries = 0;
	struct archive *ar = archive_read_new();
	struct archive_entry *ent;
	if (ar == NULL)
		return -ENOMEM;
	archive_read_support_format_zip(ar);
	if (archive_read_open_memory(ar, data, len) != ARCHIVE_OK) {
		vulndb_seterr(err, errlen, "%s: not a readable zip: %s", origin,
			      archive_error_string(ar));
		rc = -EINVAL;
		goto fail;
	}
	for (;;) {
		int r = archive_read_next_header(ar, &ent);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			vulndb_seterr(err, errlen, "%s: zip: %s", origin, archive_error_string(ar));
			rc = -EINVAL;
			goto fail;
		}
		if (++entries > VULNDB_DIR_MAX) {
			vulndb_seterr(err, errlen, "%s: more than %d zip entries", origin,
				      VULNDB_DIR_MAX);
			rc = -E2BIG;
			goto fail;
		}
		const char *name = archive_entry_pathname(ent);
		if (archive_entry_filetype(ent) != AE_IFREG || name == NULL || !ends_with(name, ".json"))
			continue;
		char eorigin[512];
		snprintf(eorigin, sizeof(eorigin), "%s:%.200s", origin, name);
		if (archive_entry_size_is_set(ent) && archive_entry_size(ent) > (la_int64_t)VULNDB_ENTRY_MAX) {
			vulndb_seterr(err, errlen, "%s: larger than %lu bytes", eorigin,
				      VULNDB_ENTRY_MAX);
			rc = -EFBIG;
			goto fail;
		}
		size_t cap = 65536, n = 0;
		if ((buf = malloc(cap)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		for (;;) {
			if (n == cap) {
				if (cap >= VULNDB_ENTRY_MAX) {
					vulndb_seterr(err, errlen, "%s: larger than %lu bytes",
						      eorigin, VULNDB_ENTRY_MAX);
					rc = -EFBIG;
					goto fail;
				}
				char *nb = realloc(buf, cap * 2);
				if (nb == NULL) {
					rc = -ENOMEM;
					goto fail;
				}
				buf = nb;
				cap *= 2;
			}
			la_ssize_t got = archive_read_data(ar, buf + n, cap - n);
			if (got < 0) {
				vulndb_seterr(err, errlen, "%s: %s", eorigin, archive_error_string(ar));
				rc = -EINVAL;
				goto fail;
			}
			if (got == 0)
				break;
			n += (size_t)got;
		}
		if ((rc = stage_text(sg, buf, n, eorigin, err, errlen)) != 0)
			goto fail;
		free(buf);
		buf = NULL;
	}
fail:
	free(buf);
	archive_read_free(ar);
	return rc;
}

/* One file (JSON or zip); inside a directory a final symbolic link is not followed. */
static int stage_file(struct vstage *sg, int dirfd, const char *name, const char *origin,
		      int nofollow, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0) {
		int e = -errno;
		vulndb_seterr(err, errlen, "%s: %s", origin, strerror(-e));
		return e;
	}
	int rc = read_fd(fd, VULNDB_FILE_MAX, &data, &len);
	close(fd);
	if (rc != 0) {
		vulndb_seterr(err, errlen, "%s: %s", origin,
			      rc == -EINVAL ? "not a regular file" : strerror(-rc));
		return rc;
	}
	if (is_zip(data, len))
		rc = stage_zip(sg, data, len, origin, err, errlen);
	else
		rc = stage_text(sg, data, len, origin, err, errlen);
	free(data);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int stage_dir(struct vstage *sg, const char *path, char *err, size_t errlen)
{
	int rc = 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		rc = -errno;
		if (dfd >= 0)
			close(dfd);
		vulndb_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !(ends_with(de->d_name, ".json") || ends_with(de->d_name, ".zip")))
			continue;
		if (n == VULNDB_DIR_MAX) {
			vulndb_seterr(err, errlen, "%s: more than %d files", path, VULNDB_DIR_MAX);
			rc = -E2BIG;
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));
			if (nn == NULL) {
				rc = -ENOMEM;
				goto fail;
			}
			names = nn;
			cap = ncap;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char origin[1024];
		snprintf(origin, sizeof(origin), "%s/%s", path, names[i]);
		if ((rc = stage_file(sg, dirfd(d), names[i], origin, 1, err, errlen)) != 0)
			goto fail;
	}
fail:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int vulndb_import_osv_path(struct vulndb *db, const char *path, struct vulndb_import_stats *st,
			   char *err, size_t errlen)
{
	struct vulndb_import_stats local;
	struct vstage sg = { .st = st ? st : &local };
	struct stat sb;
	int rc;
	if (db == NULL || path == NULL)
		return -EINVAL;
	stats_init(sg.st);
	if (stat(path, &sb) != 0) {
		rc = -errno;
		vulndb_seterr(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (S_ISDIR(sb.st_mode))
		rc = stage_dir(&sg, path, err, errlen);
	else
		rc = stage_file(&sg, AT_FDCWD, path, path, 0, err, errlen);
	if (rc != 0) {
		vulndb_stage_clear(&sg);
		return rc;
	}
	rc = vulndb_commit(db, &sg);
	if (rc != 0)
		vulndb_seterr(err, errlen, "%s: storing the records failed", path);
	return rc;
}
