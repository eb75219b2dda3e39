/*
 * vulndb_match.c: matching a package list against the vulnerability database, and the findings
 * in Prisma Cloud Compute's vuln.Vulnerability shape. Packages are grouped by source package and
 * version; each group is looked up in the (ecosystem, name) index and every entry found is
 * evaluated with the OSV range algorithm on events sorted at import. Read-only on the database:
 * any number of matches may run at once. An unknown OS gives no findings and a reason, never a
 * guess at an ecosystem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/util.h>
#include <garrison/version.h>

#include "vulndb_int.h"
#include "garrison/scanreport.h"

/* leading digits of s into out ("12.4" -> "12"); 0, or -1 when s does not start with a digit */
static int major_of(const char *s, char *out, size_t len)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || n >= len)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int vulndb_ecosystem(const struct pkglist *l, char *buf, size_t len, const char **why)
{
	char m[32];
	const char *id, *v;
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (l == NULL || buf == NULL || len < VULNDB_ECOSYSTEM_MAX)
		return -EINVAL;
	buf[0] = '\0';
	id = l->os_id;
	v = l->os_version_id;
	if (id == NULL) {
		*why = "no os-release ID: the distribution is unknown";
		return -ENOENT;
	}
	switch (l->kind) {
	case PKGDB_DPKG:
		if (strcmp(id, "debian") == 0) {
			if (v == NULL || major_of(v, m, sizeof(m)) != 0) {
				*why = "Debian without a numeric VERSION_ID (testing/unstable): no "
				       "OSV release to match";
				return -ENOENT;
			}
			snprintf(buf, len, "Debian:%s", m);
			return 0;
		}
		if (strcmp(id, "ubuntu") == 0) {
			if (v == NULL || strlen(v) != 5 || strspn(v, "0123456789") != 2 || v[2] != '.' ||
			    strspn(v + 3, "0123456789") != 2) {
				*why = "Ubuntu without a YY.MM VERSION_ID";
				return -ENOENT;
			}
			int lts = ((v[1] - '0') % 2 == 0) && strcmp(v + 3, "04") == 0;
			snprintf(buf, len, "Ubuntu:%s%s", v, lts ? ":LTS" : "");
			return 0;
		}
		*why = "dpkg distribution other than Debian or Ubuntu: no known OSV ecosystem";
		return -ENOENT;
	case PKGDB_APK:
		if (strcmp(id, "alpine") == 0) {
			size_t a = v ? strspn(v, "0123456789") : 0;
			size_t b = a && v[a] == '.' ? strspn(v + a + 1, "0123456789") : 0;
			if (a == 0 || b == 0 || a + b + 1 > 20) {
				*why = "Alpine without a X.Y VERSION_ID";
				return -ENOENT;
			}
			snprintf(buf, len, "Alpine:v%.*s", (int)(a + 1 + b), v);
			return 0;
		}
		if (strcmp(id, "wolfi") == 0) {
			snprintf(buf, len, "Wolfi");
			return 0;
		}
		if (strcmp(id, "chainguard") == 0) {
			snprintf(buf, len, "Chainguard");
			return 0;
		}
		*why = "apk distribution other than Alpine, Wolfi or Chainguard: no known OSV "
		       "ecosystem";
		return -ENOENT;
	case PKGDB_RPM: {
		static const struct {
			const char *os_id, *eco;
			int major_only;
		} rpm[] = {
			{ "almalinux", "AlmaLinux", 1 }, { "rocky", "Rocky Linux", 1 },
			{ "mariner", "Azure Linux", 1 }, { "azurelinux", "Azure Linux", 1 },
			{ "photon", "Photon OS", 0 },    { "mageia", "Mageia", 0 },
		};
		for (size_t i = 0; i < ARRAY_SIZE(rpm); i++) {
			if (strcmp(id, rpm[i].os_id) != 0)
				continue;
			if (v == NULL || major_of(v, m, sizeof(m)) != 0 ||
			    strspn(v, "0123456789.") != strlen(v) || strlen(v) > 20) {
				*why = "rpm distribution without a numeric VERSION_ID";
				return -ENOENT;
			}
			snprintf(buf, len, "%s:%s", rpm[i].eco, rpm[i].major_only ? m : v);
			return 0;
		}
		if (strcmp(id, "rhel") == 0 || strcmp(id, "centos") == 0) {
			*why = "Red Hat OSV data is keyed by CPE product stream (e.g. "
			       "\"Red Hat:enterprise_linux:9::baseos\"), which os-release does not "
			       "give; pass the ecosystem explicitly";
			return -ENOENT;
		}
		if (strncmp(id, "sles", 4) == 0 || strncmp(id, "opensuse", 8) == 0) {
			*why = "SUSE OSV data is keyed by the product's PRETTY_NAME, which the package "
			       "list does not keep; pass the ecosystem explicitly";
			return -ENOENT;
		}
		*why = "rpm distribution without a known OSV ecosystem";
		return -ENOENT;
	}
	default:
		*why = "no package database found";
		return -ENOENT;
	}
}

/* ---- range evaluation ---- */

static int vcmp(enum version_kind k, const char *a, const char *b)
{
	int r = 0;
	if (version_compare(k, a, b, &r) != 0)
		return 2; /* not comparable: validated at import and before matching */
	return r;
}

/* 1 when v is in the range; *fix gets the fixed event that ends the affected interval (or NULL). */
static int range_hit(const struct vrange *r, enum version_kind k, const char *v, const char **fix)
{
	int vuln = 0, has_limit = 0, under_limit = 0;
	*fix = NULL;
	for (size_t i = 0; i < r->nev; i++) {
		const struct vev *e = &r->ev[i];
		int c;
		switch (e->kind) {
		case VEV_INTRODUCED:
			if (e->v == NULL || ((c = vcmp(k, v, e->v)) != 2 && c >= 0))
				vuln = 1;
			break;
		case VEV_FIXED:
			c = vcmp(k, v, e->v);
			if (c == 2)
				break;
			if (c >= 0) {
				vuln = 0;
			} else if (vuln && *fix == NULL) {
				*fix = e->v;
			}
			break;
		case VEV_LAST_AFFECTED:
			c = vcmp(k, v, e->v);
			if (c != 2 && c > 0)
				vuln = 0;
			break;
		case VEV_LIMIT:
			has_limit = 1;
			c = vcmp(k, v, e->v);
			if (c != 2 && c < 0)
				under_limit = 1;
			break;
		}
		/* events are sorted: once one lies above v, no later introduced/fixed/last_affected
		 * changes the state (limits still have to be seen) */
	}
	if (has_limit && !under_limit)
		vuln = 0;
	if (!vuln)
		*fix = NULL;
	return vuln;
}

static int aff_hit(const struct vaff *a, const char *v, const char **fix)
{
	int hit = 0;
	*fix = NULL;
	for (size_t i = 0; i < a->nversions; i++)
		if (vcmp(a->vk, v, a->versions[i]) == 0) {
			hit = 1;
			break;
		}
	for (size_t i = 0; i < a->nranges; i++) {
		const char *f;
		if (!range_hit(&a->ranges[i], a->vk, v, &f))
			continue;
		hit = 1;
		if (f != NULL && (*fix == NULL || vcmp(a->vk, f, *fix) < 0))
			*fix = f;
	}
	return hit;
}

/* ---- grouping and findings ---- */

struct group_key {
	const char *name, *version;
	size_t pkg;
};

static int cmp_group(const void *a, const void *b)
{
	const struct group_key *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r == 0)
		r = strcmp(x->version, y->version);
	if (r == 0)
		r = (x->pkg > y->pkg) - (x->pkg < y->pkg);
	return r;
}

struct hit {
	const struct vaff *a;
	const char *fix;
};

static int cmp_hit(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;
	int r = strcmp(x->a->rec->cve, y->a->rec->cve);
	if (r == 0)
		r = strcmp(x->a->rec->id, y->a->rec->id);
	return r;
}

static int kind_matches(enum pkgdb_kind pk, int vk)
{
	return (pk == PKGDB_DPKG && vk == VERSION_DPKG) || (pk == PKGDB_APK && vk == VERSION_APK) ||
	       (pk == PKGDB_RPM && vk == VERSION_RPM);
}

void vulndb_match_result_clear(struct vulndb_match_result *res)
{
	if (res == NULL)
		return;
	json_decref(res->vulnerabilities);
	json_decref(res->distribution);
	memset(res, 0, sizeof(*res));
}

static json_t *finding(const struct hit *h, const char *name, const char *version,
		       const struct pkglist *l, const struct group_key *g, size_t ng)
{
	const struct vrec *r = h->a->rec;
	char status[VERSION_MAX + 16];
	if (h->fix)
		snprintf(status, sizeof(status), "fixed in %s", h->fix);
	else
		snprintf(status, sizeof(status), "open");
	json_t *bins = json_array();
	for (size_t i = 0; bins != NULL && i < ng; i++)
		if (json_array_append_new(bins, json_string(l->v[g[i].pkg].name)) != 0) {
			json_decref(bins);
			bins = NULL;
		}
	if (bins == NULL)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:f, s:s, s:s, s:I, s:I, s:s}",
			 "cve", r->cve, "osvId", r->id, "packageName", name, "packageVersion",
			 version, "binaryPkgs", bins, "packageType", "package", "status", status,
			 "severity", h->a->severity, "cvss", h->a->cvss, "vecStr",
			 h->a->vec ? h->a->vec : "", "link", h->a->link, "published",
			 (json_int_t)r->published, "fixDate", (json_int_t)(h->fix ? r->modified : 0),
			 "description", r->description);
}

int vulndb_match(const struct vulndb *db, const struct pkglist *l,
		 const struct vulndb_match_opts *opts, struct vulndb_match_result *res)
{
	int rc = -ENOMEM;
	struct group_key *keys = NULL;
	struct hit *hits = NULL;
	size_t nhits = 0, caphits = 0;
	char eco[VULNDB_ECOSYSTEM_MAX], bare[VULNDB_ECOSYSTEM_MAX];
	char lk[VULNDB_ECOSYSTEM_MAX + VULNDB_ID_MAX + 2];

	if (res == NULL)
		return -EINVAL;
	memset(res, 0, sizeof(*res));
	if (db == NULL || l == NULL)
		return -EINVAL;
	res->vulnerabilities = json_array();
	if (res->vulnerabilities == NULL)
		goto fail;

	int vk;
	if (opts != NULL && opts->ecosystem != NULL) {
		vk = vulndb_ecosystem_kind(opts->ecosystem);
		if (vk < 0 || !kind_matches(l->kind, vk) ||
		    strlen(opts->ecosystem) >= VULNDB_ECOSYSTEM_MAX) {
			rc = -EINVAL;
			goto fail;
		}
		snprintf(eco, sizeof(eco), "%s", opts->ecosystem);
	} else {
		const char *why = NULL;
		if (vulndb_ecosystem(l, eco, sizeof(eco), &why) != 0) {
			res->reason = why;
			goto done;
		}
		vk = vulndb_ecosystem_kind(eco);
	}
	snprintf(res->ecosystem, sizeof(res->ecosystem), "%s", eco);
	snprintf(bare, sizeof(bare), "%.*s", (int)strcspn(eco, ":"), eco);
	if (l->n == 0)
		goto done;

	/* group binaries by source package and the version the feed speaks of */
	if ((keys = calloc(l->n, sizeof(*keys))) == NULL)
		goto fail;
	for (size_t i = 0; i < l->n; i++) {
		const struct pkg *p = &l->v[i];
		keys[i].pkg = i;
		keys[i].name = p->source ? p->source : p->name;
		if (l->kind == PKGDB_DPKG)
			keys[i].version = p->source_version ? p->source_version : p->version;
		else /* apk: the origin's version is the package's; rpm: the SRPM has no epoch */
			keys[i].version = p->version;
	}
	qsort(keys, l->n, sizeof(*keys), cmp_group);

	for (size_t g = 0; g < l->n;) {
		size_t ge = g + 1;
		while (ge < l->n && strcmp(keys[ge].name, keys[g].name) == 0 &&
		       strcmp(keys[ge].version, keys[g].version) == 0)
			ge++;
		const char *name = keys[g].name, *version = keys[g].version;
		res->packages++;
		nhits = 0;
		/* a name longer than any indexed one could only be looked up truncated: skip it */
		if (version_valid((enum version_kind)vk, version, NULL) != 0 ||
		    strlen(name) > VULNDB_ID_MAX) {
			res->bad_versions++;
			g = ge;
			continue;
		}
		for (int pass = 0; pass < 2; pass++) {
			if (pass == 1 && strcmp(bare, eco) == 0)
				break;
			snprintf(lk, sizeof(lk), "%s\n%s", pass ? bare : eco, name);
			const struct vbucket *b = vhtab_get(&db->index, lk);
			if (b == NULL || b->n == 0 || (int)b->v[0]->vk != vk)
				continue;
			/* entries "introduced 0, fixed F" sorted by F: those with version < F */
			size_t lo = 0, hi = b->nsimple;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (vcmp((enum version_kind)vk, version, b->v[mid]->simple_fix) < 0)
					hi = mid;
				else
					lo = mid + 1;
			}
			for (size_t i = lo; i < b->n; i++) {
				const struct vaff *a = b->v[i];
				const char *fix = a->simple_fix;
				if (i >= b->nsimple && !aff_hit(a, version, &fix))
					continue;
				if (nhits == caphits) {
					size_t nc = caphits ? caphits * 2 : 16;
					struct hit *nh = realloc(hits, nc * sizeof(*nh));
					if (nh == NULL)
						goto fail;
					hits = nh;
					caphits = nc;
				}
				hits[nhits++] = (struct hit){ a, fix };
			}
		}
		if (nhits > 1)
			qsort(hits, nhits, sizeof(*hits), cmp_hit);
		for (size_t i = 0; i < nhits; i++) {
			/* one finding per CVE: several records (or affected entries) may name it */
			if (i > 0 && strcmp(hits[i].a->rec->cve, hits[i - 1].a->rec->cve) == 0)
				continue;
			json_t *f = finding(&hits[i], name, version, l, &keys[g], ge - g);
			if (f == NULL || json_array_append_new(res->vulnerabilities, f) != 0)
				goto fail;
		}
		g = ge;
	}
done:
	/* every severity a record gets is one of the four words (vulndb_osv.c) */
	res->distribution = scanreport_distribution(res->vulnerabilities);
	if (res->distribution == NULL)
		goto fail;
	free(keys);
	free(hits);
	return 0;
fail:
	free(keys);
	free(hits);
	vulndb_match_result_clear(res);
	return rc;
}
