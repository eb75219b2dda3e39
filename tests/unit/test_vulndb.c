/*
 * test_vulndb.c: the vulnerability database (lib/vulndb*.c): OSV validation and import (memory,
 * file, directory, zip), replacement and export, the range algorithm's edge cases in every
 * ecosystem order, the Prisma finding shape, and the real data sets of tests/data/vuln:
 * the Debian 12 minbase system against the OSV records derived from its own changelogs (zero
 * findings, then exactly the oracle's CVEs once versions are rewritten to vulnerable ones), and
 * the Alpine 3.14 minirootfs against the v3.11 secdb (hand-checked).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <garrison/log.h>
#include <garrison/pkgdb.h>
#include <garrison/util.h>
#include <garrison/vulndb.h>

#include "t.h"

#define DATA "tests/data/vuln/"

/* ---- helpers ---- */

/* A package list of one kind and OS; packages given as "name version source source_version". */
static void mklist(struct pkglist *l, enum pkgdb_kind kind, const char *os, const char *osv)
{
	pkglist_clear(l);
	l->kind = kind;
	l->os_id = os ? strdup(os) : NULL;
	l->os_version_id = osv ? strdup(osv) : NULL;
}

static void addpkg(struct pkglist *l, const char *name, const char *ver, const char *src,
		   const char *srcver)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
	}
	struct pkg *p = &l->v[l->n++];
	p->name = strdup(name);
	p->version = strdup(ver);
	p->source = strdup(src ? src : name);
	p->source_version = strdup(srcver ? srcver : ver);
	p->arch = NULL;
}

static struct vulndb *db_from(const char *json, struct vulndb_import_stats *st)
{
	char err[256] = "";
	struct vulndb *db = vulndb_new();
	int rc = vulndb_import_osv_mem(db, json, strlen(json), "test", st, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "  import: %d %s\n", rc, err);
	return db;
}

/* A one-record database: package "p" in ecosystem eco with the given ranges/versions JSON. */
static struct vulndb *db_one(const char *eco, const char *affected_rest)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
		 "{\"id\":\"CVE-2000-0001\",\"modified\":\"2024-01-02T03:04:05Z\","
		 "\"affected\":[{\"package\":{\"ecosystem\":\"%s\",\"name\":\"p\"},%s}]}",
		 eco, affected_rest);
	struct vulndb_import_stats st;
	struct vulndb *db = db_from(buf, &st);
	if (st.records != 1 || st.affected_indexed != 1)
		fprintf(stderr, "  db_one(%s, %s): records %zu indexed %zu: %s\n", eco, affected_rest,
			st.records, st.affected_indexed, st.first_error);
	return db;
}

/* Number of findings for package p at version v (kind/os given), and the status of the first. */
static int nfind(struct vulndb *db, enum pkgdb_kind kind, const char *os, const char *osv,
		 const char *v, char *status, size_t slen)
{
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	mklist(&l, kind, os, osv);
	addpkg(&l, "p", v, "p", v);
	int rc = vulndb_match(db, &l, NULL, &res);
	int n = rc == 0 ? (int)json_array_size(res.vulnerabilities) : -1;
	if (status && slen) {
		json_t *f = json_array_get(res.vulnerabilities, 0);
		snprintf(status, slen, "%s", f ? json_string_value(json_object_get(f, "status")) : "");
	}
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	return n;
}

#define DEB(db, v) nfind(db, PKGDB_DPKG, "debian", "12", v, NULL, 0)

/* ---- ranges ---- */

T_TEST(range_introduced_zero_fixed)
{
	struct vulndb *db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						"[{\"introduced\":\"0\"},{\"fixed\":\"1.2-3\"}]}]");
	char st[64];
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "1.2-2", st, sizeof(st)), 1);
	T_CHECK_STR(st, "fixed in 1.2-3");
	T_CHECK_INT(DEB(db, "0.1-1"), 1);
	T_CHECK_INT(DEB(db, "1.2-3"), 0);  /* the fixed version itself */
	T_CHECK_INT(DEB(db, "1.2-3+deb12u1"), 0);
	T_CHECK_INT(DEB(db, "1.2-10"), 0); /* numeric, not string, order */
	T_CHECK_INT(DEB(db, "1.2-3~bpo1"), 1); /* ~ sorts before the end */
	vulndb_free(db);
}

T_TEST(range_multiple)
{
	struct vulndb *db = db_one(
		"Debian:12",
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.0-1\"}]},"
		"{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"2.0-1\"},{\"fixed\":\"2.0-3\"}]}]");
	char st[64];
	T_CHECK_INT(DEB(db, "0.9-1"), 1);
	T_CHECK_INT(DEB(db, "1.0-1"), 0);
	T_CHECK_INT(DEB(db, "1.5-1"), 0);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "2.0-2", st, sizeof(st)), 1);
	T_CHECK_STR(st, "fixed in 2.0-3");
	T_CHECK_INT(DEB(db, "2.0-3"), 0);
	vulndb_free(db);

	/* one range with two intervals, events given out of order */
	db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"fixed\":\"3.0\"},"
				 "{\"introduced\":\"2.0\"},{\"fixed\":\"1.0\"},{\"introduced\":\"0.5\"}]}]");
	T_CHECK_INT(DEB(db, "0.4"), 0);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "0.5", st, sizeof(st)), 1);
	T_CHECK_STR(st, "fixed in 1.0");
	T_CHECK_INT(DEB(db, "1.0"), 0);
	T_CHECK_INT(DEB(db, "1.9"), 0);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "2.5", st, sizeof(st)), 1);
	T_CHECK_STR(st, "fixed in 3.0");
	T_CHECK_INT(DEB(db, "3.0"), 0);
	vulndb_free(db);
}

T_TEST(range_last_affected)
{
	struct vulndb *db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						"[{\"introduced\":\"1.0\"},{\"last_affected\":\"1.5\"}]}]");
	char st[64];
	T_CHECK_INT(DEB(db, "0.9"), 0);
	T_CHECK_INT(DEB(db, "1.0"), 1);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "1.5", st, sizeof(st)), 1);
	T_CHECK_STR(st, "open"); /* last_affected gives no fixed version */
	T_CHECK_INT(DEB(db, "1.5-1"), 0); /* 1.5-1 > 1.5 in dpkg order */
	T_CHECK_INT(DEB(db, "1.6"), 0);
	vulndb_free(db);
}

T_TEST(range_limit)
{
	struct vulndb *db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						"[{\"introduced\":\"0\"},{\"limit\":\"2.0\"}]}]");
	T_CHECK_INT(DEB(db, "1.9"), 1);
	T_CHECK_INT(DEB(db, "2.0"), 0);
	T_CHECK_INT(DEB(db, "2.1"), 0);
	vulndb_free(db);
	/* a limit below a fix cuts the range short */
	db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"1.0\"},"
				 "{\"fixed\":\"3.0\"},{\"limit\":\"2.0\"}]}]");
	T_CHECK_INT(DEB(db, "1.5"), 1);
	T_CHECK_INT(DEB(db, "2.5"), 0);
	vulndb_free(db);
}

T_TEST(versions_list)
{
	struct vulndb *db = db_one("Debian:12", "\"versions\":[\"1.2-1\",\"1:1.4-1\"]");
	char st[64];
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "debian", "12", "1.2-1", st, sizeof(st)), 1);
	T_CHECK_STR(st, "open");
	T_CHECK_INT(DEB(db, "1.3-1"), 0);
	T_CHECK_INT(DEB(db, "1.4-1"), 0);   /* epoch 0 is not epoch 1 */
	T_CHECK_INT(DEB(db, "1:1.4-1"), 1);
	T_CHECK_INT(DEB(db, "1.2-01"), 1);  /* equal in dpkg order */
	vulndb_free(db);
	/* versions and a range together: either matches */
	db = db_one("Debian:12", "\"versions\":[\"5.0\"],\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
				 "[{\"introduced\":\"0\"},{\"fixed\":\"2.0\"}]}]");
	T_CHECK_INT(DEB(db, "1.0"), 1);
	T_CHECK_INT(DEB(db, "3.0"), 0);
	T_CHECK_INT(DEB(db, "5.0"), 1);
	vulndb_free(db);
}

T_TEST(epochs_and_tilde)
{
	struct vulndb *db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						"[{\"introduced\":\"0\"},{\"fixed\":\"1:1.0-1\"}]}]");
	T_CHECK_INT(DEB(db, "9.9-1"), 1);    /* epoch 0 < epoch 1 */
	T_CHECK_INT(DEB(db, "1:0.9-1"), 1);
	T_CHECK_INT(DEB(db, "1:1.0-1"), 0);
	T_CHECK_INT(DEB(db, "2:0.1-1"), 0);
	vulndb_free(db);
	db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
				 "[{\"introduced\":\"1.0~rc1-1\"},{\"fixed\":\"1.0-1\"}]}]");
	T_CHECK_INT(DEB(db, "1.0~beta1-1"), 0); /* ~beta < ~rc */
	T_CHECK_INT(DEB(db, "1.0~rc1-1"), 1);
	T_CHECK_INT(DEB(db, "1.0~rc2-1"), 1);
	T_CHECK_INT(DEB(db, "1.0-1"), 0);
	vulndb_free(db);
}

T_TEST(every_ecosystem)
{
	char st[64];
	/* Ubuntu: dpkg order, LTS suffix */
	struct vulndb *db = db_one("Ubuntu:22.04:LTS", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						       "[{\"introduced\":\"0\"},{\"fixed\":\"1.0-1ubuntu2\"}]}]");
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "ubuntu", "22.04", "1.0-1ubuntu1", NULL, 0), 1);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "ubuntu", "22.04", "1.0-1ubuntu2", NULL, 0), 0);
	T_CHECK_INT(nfind(db, PKGDB_DPKG, "ubuntu", "23.10", "1.0-1ubuntu1", NULL, 0), 0);
	vulndb_free(db);
	/* Alpine: apk order (_rc before the release, -r revisions) */
	db = db_one("Alpine:v3.18", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
				    "[{\"introduced\":\"0\"},{\"fixed\":\"1.2.3-r2\"}]}]");
	T_CHECK_INT(nfind(db, PKGDB_APK, "alpine", "3.18.4", "1.2.3_rc1-r9", st, sizeof(st)), 1);
	T_CHECK_STR(st, "fixed in 1.2.3-r2");
	T_CHECK_INT(nfind(db, PKGDB_APK, "alpine", "3.18.4", "1.2.3-r1", NULL, 0), 1);
	T_CHECK_INT(nfind(db, PKGDB_APK, "alpine", "3.18.4", "1.2.3-r2", NULL, 0), 0);
	T_CHECK_INT(nfind(db, PKGDB_APK, "alpine", "3.18.4", "1.2.3_p1-r0", NULL, 0), 0);
	T_CHECK_INT(nfind(db, PKGDB_APK, "alpine", "3.19.0", "1.2.3-r1", NULL, 0), 0); /* branch */
	vulndb_free(db);
	/* Wolfi: apk, no release suffix */
	db = db_one("Wolfi", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
			     "[{\"introduced\":\"0\"},{\"fixed\":\"2.0-r0\"}]}]");
	T_CHECK_INT(nfind(db, PKGDB_APK, "wolfi", "20230201", "1.9-r5", NULL, 0), 1);
	vulndb_free(db);
	/* rpm distributions: epochs, tilde, releases */
	static const struct {
		const char *eco, *os, *osv;
	} rpm[] = {
		{ "AlmaLinux:9", "almalinux", "9.3" },   { "Rocky Linux:8", "rocky", "8.9" },
		{ "Azure Linux:2", "mariner", "2.0" },   { "Azure Linux:3", "azurelinux", "3.0" },
		{ "Photon OS:5.0", "photon", "5.0" },    { "Mageia:9", "mageia", "9" },
	};
	for (size_t i = 0; i < sizeof(rpm) / sizeof(rpm[0]); i++) {
		db = db_one(rpm[i].eco, "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
					"[{\"introduced\":\"0\"},{\"fixed\":\"1:2.0-3.el9\"}]}]");
		T_CHECK_INT(nfind(db, PKGDB_RPM, rpm[i].os, rpm[i].osv, "1:2.0-2.el9", NULL, 0), 1);
		T_CHECK_INT(nfind(db, PKGDB_RPM, rpm[i].os, rpm[i].osv, "3.0-1.el9", NULL, 0), 1);
		T_CHECK_INT(nfind(db, PKGDB_RPM, rpm[i].os, rpm[i].osv, "1:2.0~rc1-3.el9", NULL, 0), 1);
		T_CHECK_INT(nfind(db, PKGDB_RPM, rpm[i].os, rpm[i].osv, "1:2.0-3.el9", NULL, 0), 0);
		T_CHECK_INT(nfind(db, PKGDB_RPM, rpm[i].os, rpm[i].osv, "1:2.0-10.el9", NULL, 0), 0);
		vulndb_free(db);
	}
}

T_TEST(release_scoping)
{
	/* a Debian:11 record does not apply to Debian 12; a bare "Debian" record applies to all */
	struct vulndb *db = db_from(
		"[{\"id\":\"CVE-2000-0001\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Debian:11\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
		"[{\"introduced\":\"0\"},{\"fixed\":\"9\"}]}]}]},"
		"{\"id\":\"CVE-2000-0002\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Debian\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
		"[{\"introduced\":\"0\"},{\"fixed\":\"9\"}]}]}]},"
		"{\"id\":\"CVE-2000-0003\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"npm\",\"name\":\"p\"},\"ranges\":[{\"type\":\"SEMVER\",\"events\":"
		"[{\"introduced\":\"0\"},{\"fixed\":\"9.0.0\"}]}]}]}]",
		NULL);
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	mklist(&l, PKGDB_DPKG, "debian", "12.4");
	addpkg(&l, "p", "1.0", "p", "1.0");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_STR(res.ecosystem, "Debian:12");
	T_CHECK_INT(json_array_size(res.vulnerabilities), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(res.vulnerabilities, 0), "cve")),
		    "CVE-2000-0002");
	vulndb_match_result_clear(&res);
	struct vulndb_info info;
	vulndb_info(db, &info);
	T_CHECK_INT(info.records, 3); /* the npm record is kept (export), not indexed */
	T_CHECK_INT(info.affected, 2);
	vulndb_free(db);
	/* a withdrawn record is kept but not matched */
	db = db_from("{\"id\":\"CVE-2000-0004\",\"modified\":\"2024-01-01T00:00:00Z\","
		     "\"withdrawn\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		     "{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		     "\"events\":[{\"introduced\":\"0\"}]}]}]}", NULL);
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
	vulndb_match_result_clear(&res);
	vulndb_info(db, &info);
	T_CHECK_INT(info.records, 1);
	T_CHECK_INT(info.affected, 0);
	pkglist_clear(&l);
	vulndb_free(db);
}

T_TEST(unknown_os)
{
	struct vulndb *db = db_one("Debian:12", "\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":"
						"[{\"introduced\":\"0\"}]}]");
	static const struct {
		enum pkgdb_kind kind;
		const char *os, *osv;
	} cases[] = {
		{ PKGDB_DPKG, NULL, NULL },        { PKGDB_DPKG, "debian", NULL },
		{ PKGDB_DPKG, "kali", "2024.1" },  { PKGDB_RPM, "rhel", "9.3" },
		{ PKGDB_RPM, "fedora", "39" },     { PKGDB_RPM, "sles", "15.5" },
		{ PKGDB_APK, "debian", "12" },     { PKGDB_NONE, "debian", "12" },
		{ PKGDB_APK, "alpine", "edge" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkglist l = { 0 };
		struct vulndb_match_result res;
		mklist(&l, cases[i].kind, cases[i].os, cases[i].osv);
		addpkg(&l, "p", "1.0", "p", "1.0");
		T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
		T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
		T_CHECK(res.reason != NULL && strlen(res.reason) > 10);
		T_CHECK_STR(res.ecosystem, "");
		T_CHECK_INT(json_integer_value(json_object_get(res.distribution, "total")), 0);
		vulndb_match_result_clear(&res);
		pkglist_clear(&l);
	}
	/* an override that disagrees with the list's kind is an error */
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	struct vulndb_match_opts o = { .ecosystem = "Alpine:v3.11" };
	mklist(&l, PKGDB_DPKG, "debian", "12");
	addpkg(&l, "p", "1.0", "p", "1.0");
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), -EINVAL);
	o.ecosystem = "npm";
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), -EINVAL);
	o.ecosystem = "Debian:12";
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 1);
	vulndb_match_result_clear(&res);
	/* an installed version that is not a valid dpkg version is skipped, not guessed at */
	pkglist_clear(&l);
	mklist(&l, PKGDB_DPKG, "debian", "12");
	addpkg(&l, "p", "1.0-", "p", "1.0-");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
	T_CHECK_INT(res.bad_versions, 1);
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	vulndb_free(db);
}

T_TEST(ecosystem_names)
{
	static const struct {
		enum pkgdb_kind kind;
		const char *os, *osv, *want;
	} cases[] = {
		{ PKGDB_DPKG, "debian", "12", "Debian:12" },
		{ PKGDB_DPKG, "debian", "11.9", "Debian:11" },
		{ PKGDB_DPKG, "ubuntu", "22.04", "Ubuntu:22.04:LTS" },
		{ PKGDB_DPKG, "ubuntu", "23.10", "Ubuntu:23.10" },
		{ PKGDB_DPKG, "ubuntu", "21.04", "Ubuntu:21.04" },
		{ PKGDB_APK, "alpine", "3.14.0", "Alpine:v3.14" },
		{ PKGDB_APK, "alpine", "3.19.1", "Alpine:v3.19" },
		{ PKGDB_APK, "wolfi", "20230201", "Wolfi" },
		{ PKGDB_RPM, "almalinux", "9.3", "AlmaLinux:9" },
		{ PKGDB_RPM, "rocky", "8.9", "Rocky Linux:8" },
		{ PKGDB_RPM, "mariner", "2.0", "Azure Linux:2" },
		{ PKGDB_RPM, "photon", "5.0", "Photon OS:5.0" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pkglist l = { 0 };
		char buf[VULNDB_ECOSYSTEM_MAX];
		const char *why = NULL;
		mklist(&l, cases[i].kind, cases[i].os, cases[i].osv);
		T_CHECK_INT(vulndb_ecosystem(&l, buf, sizeof(buf), &why), 0);
		T_CHECK_STR(buf, cases[i].want);
		pkglist_clear(&l);
	}
}

/* ---- findings ---- */

T_TEST(finding_shape_and_severity)
{
	struct vulndb *db = db_from(
		"[{\"id\":\"DSA-5000-1\",\"modified\":\"2024-02-03T04:05:06Z\",\"published\":\"2023-01-01T00:00:00.123Z\","
		"\"aliases\":[\"GHSA-aaaa-bbbb-cccc\",\"CVE-2023-0001\"],\"summary\":\"short\",\"details\":\"long text\","
		"\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}],"
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3.0.11-1~deb12u2\"}]}]}]},"
		"{\"id\":\"CVE-2023-0002\",\"modified\":\"2024-02-03T04:05:06Z\",\"summary\":\"only summary\","
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
		"\"ecosystem_specific\":{\"urgency\":\"high\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]},"
		"{\"id\":\"CVE-2023-0003\",\"modified\":\"2024-02-03T04:05:06Z\","
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]},"
		"{\"id\":\"CVE-2023-0004\",\"modified\":\"2024-02-03T04:05:06Z\","
		"\"database_specific\":{\"severity\":\"Moderate\"},"
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"openssl\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"}]}]}]}]",
		NULL);
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	mklist(&l, PKGDB_DPKG, "debian", "12");
	addpkg(&l, "libssl3", "3.0.11-1~deb12u1", "openssl", "3.0.11-1~deb12u1");
	addpkg(&l, "openssl", "3.0.11-1~deb12u1", "openssl", "3.0.11-1~deb12u1");
	addpkg(&l, "zlib1g", "1:1.2.13.dfsg-1", "zlib", "1:1.2.13.dfsg-1");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 4);
	T_CHECK_INT(res.packages, 2);
	json_t *f = json_array_get(res.vulnerabilities, 0);
	T_CHECK_STR(json_string_value(json_object_get(f, "cve")), "CVE-2023-0001");
	T_CHECK_STR(json_string_value(json_object_get(f, "osvId")), "DSA-5000-1");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageName")), "openssl");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageVersion")), "3.0.11-1~deb12u1");
	T_CHECK_STR(json_string_value(json_object_get(f, "status")), "fixed in 3.0.11-1~deb12u2");
	T_CHECK_STR(json_string_value(json_object_get(f, "severity")), "critical");
	T_CHECK(json_real_value(json_object_get(f, "cvss")) > 9.79 &&
		json_real_value(json_object_get(f, "cvss")) < 9.81);
	T_CHECK_STR(json_string_value(json_object_get(f, "vecStr")),
		    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H");
	T_CHECK_STR(json_string_value(json_object_get(f, "link")),
		    "https://security-tracker.debian.org/tracker/CVE-2023-0001");
	T_CHECK_INT(json_integer_value(json_object_get(f, "published")), 1672531200);
	T_CHECK_INT(json_integer_value(json_object_get(f, "fixDate")), 1706933106);
	T_CHECK_STR(json_string_value(json_object_get(f, "description")), "long text");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageType")), "package");
	json_t *bins = json_object_get(f, "binaryPkgs");
	T_CHECK_INT(json_array_size(bins), 2);
	T_CHECK_STR(json_string_value(json_array_get(bins, 0)), "libssl3");
	T_CHECK_STR(json_string_value(json_array_get(bins, 1)), "openssl");

	f = json_array_get(res.vulnerabilities, 1);
	T_CHECK_STR(json_string_value(json_object_get(f, "cve")), "CVE-2023-0002");
	T_CHECK_STR(json_string_value(json_object_get(f, "severity")), "high");
	T_CHECK_STR(json_string_value(json_object_get(f, "status")), "open");
	T_CHECK_INT(json_integer_value(json_object_get(f, "fixDate")), 0);
	T_CHECK_STR(json_string_value(json_object_get(f, "description")), "only summary");
	T_CHECK_STR(json_string_value(json_object_get(f, "vecStr")), "");
	T_CHECK_INT(json_integer_value(json_object_get(f, "published")), 1706933106);
	f = json_array_get(res.vulnerabilities, 2);
	T_CHECK_STR(json_string_value(json_object_get(f, "severity")), "low"); /* no data */
	f = json_array_get(res.vulnerabilities, 3);
	T_CHECK_STR(json_string_value(json_object_get(f, "severity")), "moderate");

	json_t *d = res.distribution;
	T_CHECK_INT(json_integer_value(json_object_get(d, "critical")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "high")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "medium")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "low")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "total")), 4);
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	vulndb_free(db);
}

T_TEST(one_finding_per_cve)
{
	/* a DSA and the CVE record itself both name CVE-2023-0001 for the same package */
	struct vulndb *db = db_from(
		"[{\"id\":\"DSA-1-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":[\"CVE-2023-0001\"],"
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2\"}]}]}]},"
		"{\"id\":\"CVE-2023-0001\",\"modified\":\"2024-01-01T00:00:00Z\","
		"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2\"}]}]},"
		"{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},"
		"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2\"}]}]}]}]",
		NULL);
	T_CHECK_INT(DEB(db, "1"), 1);
	vulndb_free(db);
}

/* ---- import, validation, replacement, export ---- */

T_TEST(malformed_records_rejected)
{
	static const struct {
		const char *rec, *why;
	} bad[] = {
		{ "{\"modified\":\"2024-01-01T00:00:00Z\"}", "id is missing" },
		{ "{\"id\":\"FOO-1\",\"modified\":\"2024-01-01T00:00:00Z\"}", "prefix" },
		{ "{\"id\":\"CVE-1\"}", "modified is missing" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01\"}", "not a timestamp" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-13-01T00:00:00Z\"}", "not a timestamp" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"aliases\":[1]}", "aliases[0]" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":{}}", "affected is not" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		  "{\"ecosystem\":\"Plan9\",\"name\":\"p\"}}]}", "not an OSV ecosystem" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		  "{\"ecosystem\":\"Debian:12\"}}]}", "package.name" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"ECOSYSTEM\",\"events\":[{\"fixed\":\"1\"}]}]}]}", "no introduced" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"ECOSYSTEM\",\"events\":[]}]}]}", "events is empty" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\",\"fixed\":\"1\"}]}]}]}",
		  "more than one" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1\"},"
		  "{\"last_affected\":\"2\"}]}]}]}", "mutually exclusive" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"RPM\",\"events\":[{\"introduced\":\"0\"}]}]}]}", "type" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"GIT\",\"events\":[{\"introduced\":\"0\"}]}]}]}", "requires repo" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"GIT\",\"repo\":\"r\",\"events\":[{\"introduced\":\"abc\"}]}]}]}", "commit hashes" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"ranges\":"
		  "[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":0}]}]}]}", "not a string" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"severity\":[{\"type\":"
		  "\"CVSS_V3\",\"score\":\"AV:N\"}]}", "CVSS v3" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"severity\":[{\"type\":\"X\"}]}",
		  "severity[0].type" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"severity\":[],\"affected\":"
		  "[{\"severity\":[]}]}", "top-level severity" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"references\":[{\"type\":\"WEB\"}]}",
		  "url" },
		{ "{\"id\":\"CVE-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"credits\":[{}]}", "credits[0]" },
		{ "[1]", "not a JSON object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[2048];
		/* each bad record between two good ones: the good ones are imported */
		snprintf(buf, sizeof(buf),
			 "[{\"id\":\"CVE-0-1\",\"modified\":\"2024-01-01T00:00:00Z\"},%s,"
			 "{\"id\":\"CVE-0-2\",\"modified\":\"2024-01-01T00:00:00Z\"}]",
			 bad[i].rec[0] == '[' ? "1" : bad[i].rec);
		struct vulndb_import_stats st;
		struct vulndb *db = vulndb_new();
		T_CHECK_INT(vulndb_import_osv_mem(db, buf, strlen(buf), "bad.json", &st, NULL, 0), 0);
		T_CHECK_INT(st.records, 2);
		T_CHECK_INT(st.rejected, 1);
		if (strstr(st.first_error, bad[i].why) == NULL || strstr(st.first_error, "bad.json") == NULL)
			fprintf(stderr, "  case %zu: message \"%s\" lacks \"%s\"\n", i, st.first_error,
				bad[i].why);
		T_CHECK(strstr(st.first_error, bad[i].why) != NULL);
		T_CHECK(strstr(st.first_error, "bad.json: record 1") != NULL);
		vulndb_free(db);
	}
	/* the message names the record id when it has one */
	struct vulndb_import_stats st;
	struct vulndb *db = vulndb_new();
	const char *r = "{\"id\":\"CVE-2024-9\",\"modified\":\"yesterday\"}";
	T_CHECK_INT(vulndb_import_osv_mem(db, r, strlen(r), "one.json", &st, NULL, 0), 0);
	T_CHECK(strstr(st.first_error, "one.json: record 0 (id CVE-2024-9)") != NULL);
	vulndb_free(db);
}

T_TEST(real_osv_record)
{
	/* the OSV linter's real example: six Alpine branches, one GIT range (kept, not indexed) */
	char *text = NULL;
	size_t len = 0;
	struct vulndb_import_stats st;
	T_CHECK_INT(util_read_file(DATA "CVE-2018-5407.osv-linter-testdata.json", 1 << 20, &text, &len), 0);
	struct vulndb *db = vulndb_new();
	T_CHECK_INT(vulndb_import_osv_mem(db, text, len, "linter", &st, NULL, 0), 0);
	T_CHECK_INT(st.records, 1);
	T_CHECK_INT(st.rejected, 0);
	T_CHECK_INT(st.affected_indexed, 6);
	T_CHECK_INT(st.affected_ignored, 1); /* the GIT entry: no package to match by name */
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	mklist(&l, PKGDB_APK, "alpine", "3.8.5");
	addpkg(&l, "libssl1.0", "1.0.2p-r0", "openssl", "1.0.2p-r0");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 1);
	json_t *f = json_array_get(res.vulnerabilities, 0);
	T_CHECK_STR(json_string_value(json_object_get(f, "cve")), "CVE-2018-5407");
	T_CHECK_STR(json_string_value(json_object_get(f, "status")), "fixed in 1.0.2q-r0");
	T_CHECK_STR(json_string_value(json_object_get(f, "severity")), "medium");
	T_CHECK(json_real_value(json_object_get(f, "cvss")) > 4.69 &&
		json_real_value(json_object_get(f, "cvss")) < 4.71);
	T_CHECK_STR(json_string_value(json_object_get(f, "vecStr")),
		    "CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:H/I:N/A:N");
	T_CHECK_STR(json_string_value(json_object_get(f, "link")),
		    "https://security.alpinelinux.org/vuln/CVE-2018-5407");
	T_CHECK_INT(json_integer_value(json_object_get(f, "published")), 1542317340);
	T_CHECK_INT(json_integer_value(json_object_get(res.distribution, "medium")), 1);
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	mklist(&l, PKGDB_APK, "alpine", "3.9.0");
	addpkg(&l, "libssl1.0", "1.0.2p-r0", "openssl", "1.0.2p-r0");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0); /* v3.9 is not listed */
	vulndb_match_result_clear(&res);
	pkglist_clear(&l);
	vulndb_free(db);
	free(text);
}

T_TEST(invalid_versions_not_indexed)
{
	struct vulndb_import_stats st;
	struct vulndb *db = db_from(
		"{\"id\":\"CVE-1-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":["
		"{\"package\":{\"ecosystem\":\"Alpine:v3.18\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"4.10-1-r1\"}]}]},"
		"{\"package\":{\"ecosystem\":\"Alpine:v3.18\",\"name\":\"q\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.0-r1\"}]}]}]}",
		&st);
	T_CHECK_INT(st.records, 1);
	T_CHECK_INT(st.affected_indexed, 1);
	T_CHECK_INT(st.affected_ignored, 1);
	vulndb_free(db);
}

T_TEST(not_json_fails_whole_import)
{
	struct vulndb *db = db_from("{\"id\":\"CVE-1-1\",\"modified\":\"2024-01-01T00:00:00Z\"}", NULL);
	struct vulndb_info before, after;
	vulndb_info(db, &before);
	char err[256] = "";
	static const char *const bad[] = { "[{\"id\":", "42", "\"x\"", "{\"a\":1,\"a\":2}", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		T_CHECK_INT(vulndb_import_osv_mem(db, bad[i], strlen(bad[i]), "feed.json", NULL, err,
						  sizeof(err)), -EINVAL);
		T_CHECK(strncmp(err, "feed.json: ", 11) == 0);
	}
	vulndb_info(db, &after);
	T_CHECK_INT(after.records, before.records);
	T_CHECK_STR(after.data_version, before.data_version);
	vulndb_free(db);
}

T_TEST(replace_by_modified)
{
	const char *v1 = "{\"id\":\"CVE-1-1\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
			 "{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
			 "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2\"}]}]}]}";
	const char *v2 = "{\"id\":\"CVE-1-1\",\"modified\":\"2024-06-01T00:00:00Z\",\"affected\":[{\"package\":"
			 "{\"ecosystem\":\"Debian:12\",\"name\":\"p\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
			 "\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"3\"}]}]}]}";
	struct vulndb_import_stats st;
	struct vulndb *db = db_from(v1, NULL);
	T_CHECK_INT(DEB(db, "2.5"), 0);
	T_CHECK_INT(vulndb_import_osv_mem(db, v2, strlen(v2), "v2", &st, NULL, 0), 0);
	T_CHECK_INT(st.replaced, 1);
	T_CHECK_INT(DEB(db, "2.5"), 1);
	/* an older one does not replace the newer */
	T_CHECK_INT(vulndb_import_osv_mem(db, v1, strlen(v1), "v1", &st, NULL, 0), 0);
	T_CHECK_INT(st.stale, 1);
	T_CHECK_INT(st.records, 0);
	T_CHECK_INT(DEB(db, "2.5"), 1);
	struct vulndb_info info;
	vulndb_info(db, &info);
	T_CHECK_INT(info.records, 1);
	T_CHECK_INT(info.affected, 1);
	vulndb_free(db);
}

static int count_cb(void *arg, const char *id, const char *json, size_t len)
{
	size_t *n = arg;
	if (len != strlen(json) || json[0] != '{' || id[0] == '\0')
		return -1;
	(*n)++;
	return 0;
}

T_TEST(export_round_trip)
{
	char dir[] = "/tmp/h3-vulndb-XXXXXX", path[256];
	T_CHECK(mkdtemp(dir) != NULL);
	struct vulndb *db = vulndb_new();
	struct vulndb_import_stats st;
	char err[256] = "";
	T_CHECK_INT(vulndb_import_osv_path(db, DATA "debian12-minbase-changelog-cves.osv.json", &st,
					   err, sizeof(err)), 0);
	T_CHECK_INT(st.records, 900);
	T_CHECK_INT(st.rejected, 0);
	T_CHECK_INT(st.affected_indexed, 906);
	struct vulndb_info a, b;
	vulndb_info(db, &a);
	T_CHECK_INT(a.records, 900);
	T_CHECK_INT(strlen(a.data_version), 64);
	size_t n = 0;
	T_CHECK_INT(vulndb_foreach(db, count_cb, &n), 0);
	T_CHECK_INT(n, 900);
	snprintf(path, sizeof(path), "%s/export.json", dir);
	T_CHECK_INT(vulndb_export_path(db, path), 0);
	struct vulndb *db2 = vulndb_new();
	T_CHECK_INT(vulndb_import_osv_path(db2, path, &st, err, sizeof(err)), 0);
	vulndb_info(db2, &b);
	T_CHECK_INT(b.records, 900);
	T_CHECK_STR(b.data_version, a.data_version);
	T_CHECK_INT(b.affected, a.affected);
	T_CHECK_INT(b.keys, a.keys);
	json_t *arr = NULL;
	T_CHECK_INT(vulndb_export_json(db2, &arr), 0);
	T_CHECK_INT(json_array_size(arr), 900);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "id")),
		    "x_DEBCL-CVE-2005-0448");
	json_decref(arr);
	/* a change in content changes the data version */
	const char *r = "{\"id\":\"x_extra\",\"modified\":\"2024-01-01T00:00:00Z\"}";
	T_CHECK_INT(vulndb_import_osv_mem(db2, r, strlen(r), NULL, &st, NULL, 0), 0);
	vulndb_info(db2, &b);
	T_CHECK(strcmp(b.data_version, a.data_version) != 0);
	/* an empty database has the SHA-256 of nothing */
	struct vulndb *e = vulndb_new();
	vulndb_info(e, &b);
	T_CHECK_STR(b.data_version, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	vulndb_free(e);
	vulndb_free(db2);
	vulndb_free(db);
	unlink(path);
	rmdir(dir);
	vulndb_free(NULL);
}

static void write_zip(const char *path, const char *const *names, const char *const *texts, int n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_zip(a);
	archive_write_open_filename(a, path);
	for (int i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, names[i]);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)strlen(texts[i]));
		archive_write_header(a, e);
		archive_write_data(a, texts[i], strlen(texts[i]));
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

T_TEST(directory_and_zip)
{
	char dir[] = "/tmp/h3-vulndb-XXXXXX", p[512];
	T_CHECK(mkdtemp(dir) != NULL);
	const char *r1 = "{\"id\":\"CVE-1-1\",\"modified\":\"2024-01-01T00:00:00Z\"}";
	const char *r2 = "[{\"id\":\"CVE-1-2\",\"modified\":\"2024-01-01T00:00:00Z\"},"
			 "{\"id\":\"CVE-1-3\",\"modified\":\"2024-01-01T00:00:00Z\"}]";
	const char *r3 = "{\"id\":\"CVE-1-4\",\"modified\":\"2024-01-01T00:00:00Z\"}";
	snprintf(p, sizeof(p), "%s/a.json", dir);
	util_write_file(p, r1, strlen(r1), 0644);
	snprintf(p, sizeof(p), "%s/b.json", dir);
	util_write_file(p, r2, strlen(r2), 0644);
	snprintf(p, sizeof(p), "%s/notes.txt", dir);
	util_write_file(p, "not json", 8, 0644);
	const char *names[] = { "osv/CVE-1-4.json", "README", "osv/CVE-1-5.json" };
	const char *texts[] = { r3, "skip me", "{\"id\":\"CVE-1-5\",\"modified\":\"2024-01-01T00:00:00Z\"}" };
	snprintf(p, sizeof(p), "%s/c.zip", dir);
	write_zip(p, names, texts, 3);

	struct vulndb *db = vulndb_new();
	struct vulndb_import_stats st;
	char err[512] = "";
	T_CHECK_INT(vulndb_import_osv_path(db, dir, &st, err, sizeof(err)), 0);
	T_CHECK_INT(st.records, 5);
	T_CHECK_INT(st.files, 4);
	/* the zip alone */
	struct vulndb *dz = vulndb_new();
	T_CHECK_INT(vulndb_import_osv_path(dz, p, &st, err, sizeof(err)), 0);
	T_CHECK_INT(st.records, 2);
	vulndb_free(dz);
	/* a broken file in the directory fails the whole call, naming it; db unchanged */
	struct vulndb_info before, after;
	vulndb_info(db, &before);
	char bp[512];
	snprintf(bp, sizeof(bp), "%s/d.json", dir);
	util_write_file(bp, "{broken", 7, 0644);
	T_CHECK_INT(vulndb_import_osv_path(db, dir, &st, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "d.json") != NULL);
	vulndb_info(db, &after);
	T_CHECK_STR(after.data_version, before.data_version);
	/* a zip entry that is not JSON is named with the zip */
	const char *bn[] = { "x/bad.json" };
	const char *bt[] = { "[[[" };
	write_zip(bp, bn, bt, 1);
	snprintf(bp, sizeof(bp), "%s/d.zip", dir);
	write_zip(bp, bn, bt, 1);
	dz = vulndb_new();
	T_CHECK_INT(vulndb_import_osv_path(dz, bp, &st, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "d.zip:x/bad.json") != NULL);
	vulndb_free(dz);
	/* a truncated zip */
	char *zt = NULL;
	size_t zl = 0;
	T_CHECK_INT(util_read_file(p, 1 << 20, &zt, &zl), 0);
	dz = vulndb_new();
	T_CHECK(vulndb_import_osv_mem(dz, zt, zl / 2, "half", &st, NULL, 0) == -EINVAL);
	vulndb_free(dz);
	free(zt);
	T_CHECK_INT(vulndb_import_osv_path(db, "/nonexistent/feed", &st, err, sizeof(err)), -ENOENT);
	vulndb_free(db);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_CHECK_INT(system(cmd), 0);
}

/* ---- the Debian 12 minbase data set ---- */

static int load_minbase(struct pkglist *l)
{
	char err[256] = "";
	int rc = pkgdb_scan_rootfs("tests/data/pkgdb/debian-bookworm-minbase", l, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "  pkgdb: %d %s\n", rc, err);
	return rc;
}

static struct vulndb *load_feed(const char *file)
{
	char err[256] = "";
	struct vulndb_import_stats st;
	struct vulndb *db = vulndb_new();
	if (vulndb_import_osv_path(db, file, &st, err, sizeof(err)) != 0 || st.rejected != 0)
		fprintf(stderr, "  %s: %s %s\n", file, err, st.first_error);
	return db;
}

T_TEST(minbase_zero_findings)
{
	struct pkglist l = { 0 };
	struct vulndb_match_result res;
	T_CHECK_INT(load_minbase(&l), 0);
	T_CHECK_INT(l.n, 114);
	struct vulndb *db = load_feed(DATA "debian12-minbase-changelog-cves.osv.json");
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_STR(res.ecosystem, "Debian:12");
	T_CHECK(res.reason == NULL);
	T_CHECK_INT(res.packages, 79); /* the 79 source packages of the data set */
	T_CHECK_INT(res.bad_versions, 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
	T_CHECK_INT(json_integer_value(json_object_get(res.distribution, "total")), 0);
	vulndb_match_result_clear(&res);
	vulndb_free(db);
	pkglist_clear(&l);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

T_TEST(minbase_vulnerable_versions)
{
	struct pkglist l = { 0 };
	T_CHECK_INT(load_minbase(&l), 0);
	struct vulndb *db = load_feed(DATA "debian12-minbase-changelog-cves.osv.json");
	char *text = NULL;
	size_t len = 0;
	T_CHECK_INT(util_read_file(DATA "debian12-minbase-vulnerable-expected.tsv", 4 << 20, &text,
				   &len), 0);
	if (text == NULL)
		return;
	size_t cases = 0, total = 0, sources_missing = 0;
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save); /* header */
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (t2 == NULL) {
			T_CHECK(!"malformed expected line");
			continue;
		}
		*t1 = *t2 = '\0';
		const char *src = line, *ver = t1 + 1;
		char *cves = t2 + 1;
		/* rewrite the source version of every binary built from src */
		size_t changed = 0;
		char **saved = calloc(l.n, sizeof(*saved));
		for (size_t i = 0; i < l.n; i++)
			if (strcmp(l.v[i].source, src) == 0) {
				saved[i] = l.v[i].source_version;
				l.v[i].source_version = (char *)ver;
				changed++;
			}
		if (changed == 0)
			sources_missing++;
		struct vulndb_match_result res;
		T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
		for (size_t i = 0; i < l.n; i++)
			if (saved[i])
				l.v[i].source_version = saved[i];
		free(saved);
		/* expected set vs found set (all findings must be for src at ver) */
		char *exp[1024];
		size_t ne = 0;
		char *s2 = NULL;
		for (char *c = strtok_r(cves, ",", &s2); c && ne < 1024; c = strtok_r(NULL, ",", &s2))
			exp[ne++] = c;
		size_t nf = json_array_size(res.vulnerabilities);
		const char **got = calloc(nf + 1, sizeof(*got));
		size_t i;
		json_t *f;
		int wrong_pkg = 0;
		json_array_foreach(res.vulnerabilities, i, f) {
			got[i] = json_string_value(json_object_get(f, "cve"));
			wrong_pkg |= strcmp(json_string_value(json_object_get(f, "packageName")), src) != 0 ||
				     strcmp(json_string_value(json_object_get(f, "packageVersion")), ver) != 0;
		}
		qsort(exp, ne, sizeof(*exp), cmp_cstr);
		qsort(got, nf, sizeof(*got), cmp_cstr);
		int same = ne == nf;
		for (size_t k = 0; same && k < ne; k++)
			same = strcmp(exp[k], got[k]) == 0;
		if (!same || wrong_pkg)
			fprintf(stderr, "  %s %s: expected %zu CVEs (%s...), found %zu (%s...)%s\n", src,
				ver, ne, ne ? exp[0] : "", nf, nf ? got[0] : "",
				wrong_pkg ? ", some for another package" : "");
		T_CHECK(same);
		T_CHECK(!wrong_pkg);
		total += nf;
		cases++;
		free(got);
		vulndb_match_result_clear(&res);
	}
	T_CHECK_INT(cases, 482);
	T_CHECK_INT(sources_missing, 0);
	T_CHECK_INT(total, 22045);
	free(text);
	vulndb_free(db);
	pkglist_clear(&l);
}

/* ---- Alpine secdb ---- */

T_TEST(secdb_conversion)
{
	char *text = NULL;
	size_t len = 0;
	json_t *recs = NULL;
	char err[256] = "";
	T_CHECK_INT(util_read_file(DATA "alpine-v3.11-main.yaml", 1 << 20, &text, &len), 0);
	T_CHECK_INT(vulndb_secdb_to_osv(text, len, "main.yaml", &recs, err, sizeof(err)), 0);
	T_CHECK(json_array_size(recs) > 1000);
	/* CVE-2019-1551: openssl, fixed in 1.1.1d-r3 */
	size_t i;
	json_t *r, *found = NULL;
	json_array_foreach(recs, i, r)
		if (strcmp(json_string_value(json_object_get(r, "id")),
			   "x_ALPINE-v3.11-main-CVE-2019-1551") == 0)
			found = r;
	T_CHECK(found != NULL);
	json_t *a = json_array_get(json_object_get(found, "affected"), 0);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(a, "package"), "ecosystem")),
		    "Alpine:v3.11");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(a, "package"), "name")), "openssl");
	json_t *ev = json_object_get(json_array_get(json_object_get(a, "ranges"), 0), "events");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(ev, 1), "fixed")), "1.1.1d-r3");
	T_CHECK_STR(json_string_value(json_array_get(json_object_get(found, "aliases"), 0)),
		    "CVE-2019-1551");
	json_decref(recs);
	free(text);

	/* aliases, non-secdb documents, garbage */
	static const char *const bad[] = {
		"distroversion: v3.11\npackages:\n  - pkg: &a\n      name: x\n  - pkg: *a\n",
		"- a\n- b\n",
		"distroversion: 3.11\npackages: []\n",
		"distroversion: v3.11\npackages: {}\n",
		"distroversion: v3.11\npackages: [\n",
		"",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		recs = NULL;
		T_CHECK_INT(vulndb_secdb_to_osv(bad[k], strlen(bad[k]), "bad.yaml", &recs, err,
						sizeof(err)), -EINVAL);
		T_CHECK(recs == NULL);
		T_CHECK(strncmp(err, "bad.yaml: ", 10) == 0);
	}
	/* odd entries: ids in free text, "0", invalid versions, duplicates (highest fix kept) */
	const char *odd = "distroversion: v3.11\nreponame: main\npackages:\n"
			  "  - pkg:\n      name: tcpdump\n      secfixes:\n"
			  "        4.9.3-r0:\n          - CVE-2018-14468 (FrameRelay)\n"
			  "          - CVE-?\?\?\?-?\?\?\?\?  XSA-295\n          - CVE-2017-17434-1\n"
			  "          - no id here\n"
			  "        0:\n          - CVE-2020-0001\n"
			  "        4.10-1-r1:\n          - CVE-2020-0002\n"
			  "  - pkg:\n      name: busybox\n      secfixes:\n"
			  "        1.30.1-r2:\n          - CVE-2019-5747\n"
			  "        1.29.3-r10:\n          - CVE-2019-5747\n"
			  "  - pkg:\n      name: nofixes\n";
	T_CHECK_INT(vulndb_secdb_to_osv(odd, strlen(odd), "odd.yaml", &recs, err, sizeof(err)), 0);
	T_CHECK_INT(json_array_size(recs), 4);
	const char *want[] = { "x_ALPINE-v3.11-main-CVE-2017-17434", "x_ALPINE-v3.11-main-CVE-2018-14468",
			       "x_ALPINE-v3.11-main-CVE-2019-5747", "x_ALPINE-v3.11-main-XSA-295" };
	for (size_t k = 0; k < 4; k++)
		T_CHECK_STR(json_string_value(json_object_get(json_array_get(recs, k), "id")), want[k]);
	ev = json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(
		json_array_get(recs, 2), "affected"), 0), "ranges"), 0), "events");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(ev, 1), "fixed")), "1.30.1-r2");
	json_decref(recs);
}

static void set_version(struct pkglist *l, const char *origin, const char *v)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].source, origin) == 0) {
			free(l->v[i].version);
			free(l->v[i].source_version);
			l->v[i].version = strdup(v);
			l->v[i].source_version = strdup(v);
		}
}

T_TEST(alpine_minirootfs_vs_secdb)
{
	struct pkglist l = { 0 };
	char err[256] = "";
	T_CHECK_INT(pkgdb_scan_rootfs("tests/data/pkgdb/alpine-3.14.0-minirootfs", &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 14);
	struct vulndb *db = vulndb_new();
	struct vulndb_import_stats st;
	T_CHECK_INT(vulndb_import_secdb_path(db, DATA "alpine-v3.11-main.yaml", &st, err, sizeof(err)), 0);
	T_CHECK(st.records > 1000);
	T_CHECK_INT(st.rejected, 0);
	size_t main_records = st.records;
	T_CHECK_INT(vulndb_import_secdb_path(db, DATA "alpine-v3.11-community.yaml", &st, err,
					     sizeof(err)), 0);
	T_CHECK(st.records > 300);
	T_CHECK_INT(st.replaced, 0); /* main and community records have distinct ids */
	struct vulndb_info info;
	vulndb_info(db, &info);
	T_CHECK_INT(info.records, main_records + st.records);

	struct vulndb_match_result res;
	/* its own branch (v3.14) has no records here: nothing, and no reason (the OS is known) */
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_STR(res.ecosystem, "Alpine:v3.14");
	T_CHECK(res.reason == NULL);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
	vulndb_match_result_clear(&res);
	/* against v3.11: every installed version is newer than every v3.11 fix (checked by hand:
	 * openssl 1.1.1k-r0 > 1.1.1d-r3, busybox 1.33.1-r2 > 1.30.1-r2, musl 1.2.2-r3 > 1.1.23-r2;
	 * zlib, apk-tools, pax-utils, ca-certificates, libretls, libc-dev, alpine-* have no
	 * secfixes in v3.11 main or community) */
	struct vulndb_match_opts o = { .ecosystem = "Alpine:v3.11" };
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), 0);
	T_CHECK_INT(res.packages, 11);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 0);
	vulndb_match_result_clear(&res);
	/* older versions, hand-checked against alpine-v3.11-main.yaml:
	 *   openssl 1.1.1d-r1 (libcrypto1.1, libssl1.1): CVE-2019-1551, fixed in 1.1.1d-r3
	 *   busybox 1.30.0-r0 (busybox, ssl_client): CVE-2019-5747, listed under 1.29.3-r10
	 *     and 1.30.1-r2: the higher is kept
	 *   musl 1.1.20-r4 (musl, musl-utils): CVE-2019-14697, fixed in 1.1.23-r2 */
	set_version(&l, "openssl", "1.1.1d-r1");
	set_version(&l, "busybox", "1.30.0-r0");
	set_version(&l, "musl", "1.1.20-r4");
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 3);
	static const char *const want[][4] = {
		{ "busybox", "CVE-2019-5747", "fixed in 1.30.1-r2", "busybox ssl_client" },
		{ "musl", "CVE-2019-14697", "fixed in 1.1.23-r2", "musl musl-utils" },
		{ "openssl", "CVE-2019-1551", "fixed in 1.1.1d-r3", "libcrypto1.1 libssl1.1" },
	};
	for (size_t i = 0; i < 3; i++) {
		json_t *f = json_array_get(res.vulnerabilities, i);
		T_CHECK_STR(json_string_value(json_object_get(f, "packageName")), want[i][0]);
		T_CHECK_STR(json_string_value(json_object_get(f, "cve")), want[i][1]);
		T_CHECK_STR(json_string_value(json_object_get(f, "status")), want[i][2]);
		json_t *b = json_object_get(f, "binaryPkgs");
		char bins[128];
		snprintf(bins, sizeof(bins), "%s %s", json_string_value(json_array_get(b, 0)),
			 json_string_value(json_array_get(b, 1)));
		T_CHECK_STR(bins, want[i][3]);
	}
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(res.vulnerabilities, 2), "link")),
		    "https://security.alpinelinux.org/vuln/CVE-2019-1551");
	vulndb_match_result_clear(&res);
	/* one step older openssl: three more CVEs of 1.1.1d-r1 */
	set_version(&l, "openssl", "1.1.1d-r0");
	T_CHECK_INT(vulndb_match(db, &l, &o, &res), 0);
	T_CHECK_INT(json_array_size(res.vulnerabilities), 6);
	vulndb_match_result_clear(&res);
	vulndb_free(db);
	pkglist_clear(&l);
}

/* ---- rpm: the CBL-Mariner 2.0 database ---- */

T_TEST(mariner_rpm_source_and_epoch)
{
#ifdef GARRISON_HAVE_RPM
	struct pkglist l = { 0 };
	char err[256] = "";
	T_CHECK_INT(pkgdb_read_rpm_sqlite("tests/data/pkgdb/cbl-mariner-2.0-rpm/var/lib/rpm", &l, err,
					  sizeof(err)), 0);
	T_CHECK_INT(l.n, 129);
	l.os_id = strdup("mariner");
	l.os_version_id = strdup("2.0");
	/* hand-made records against real packages (rpm-qa-expected.tsv): ca-certificates-* are
	 * 1:2.0.0-1.cm2 from ca-certificates-2.0.0-1.cm2.src.rpm, openssl(-libs) 1.1.1k-7.cm2 */
	struct vulndb *db = db_from(
		"[{\"id\":\"CVE-2000-0010\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Azure Linux:2\",\"name\":\"ca-certificates\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1:2.0.0-2.cm2\"}]}]}]},"
		"{\"id\":\"CVE-2000-0011\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Azure Linux:2\",\"name\":\"ca-certificates\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"2.0.0-2.cm2\"}]}]}]},"
		"{\"id\":\"CVE-2000-0012\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Azure Linux:2\",\"name\":\"openssl\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.1.1k-8.cm2\"}]}]}]},"
		"{\"id\":\"CVE-2000-0013\",\"modified\":\"2024-01-01T00:00:00Z\",\"affected\":[{\"package\":"
		"{\"ecosystem\":\"Azure Linux:2\",\"name\":\"openssl-libs\"},\"ranges\":[{\"type\":\"ECOSYSTEM\","
		"\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"1.1.1k-8.cm2\"}]}]}]}]",
		NULL);
	struct vulndb_match_result res;
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	T_CHECK_STR(res.ecosystem, "Azure Linux:2");
	T_CHECK_INT(res.bad_versions, 0);
	/* 0010 (epoch 1 below the fix); not 0011 (epoch 0 fix: the installed epoch 1 is newer, so
	 * the epoch comes from the binary, not the SRPM name); 0012 by source name; not 0013, a
	 * binary name */
	T_CHECK_INT(json_array_size(res.vulnerabilities), 2);
	json_t *f = json_array_get(res.vulnerabilities, 0);
	T_CHECK_STR(json_string_value(json_object_get(f, "cve")), "CVE-2000-0010");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageName")), "ca-certificates");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageVersion")), "1:2.0.0-1.cm2");
	T_CHECK(json_array_size(json_object_get(f, "binaryPkgs")) >= 3);
	f = json_array_get(res.vulnerabilities, 1);
	T_CHECK_STR(json_string_value(json_object_get(f, "cve")), "CVE-2000-0012");
	T_CHECK_STR(json_string_value(json_object_get(f, "packageName")), "openssl");
	T_CHECK_STR(json_string_value(json_object_get(f, "status")), "fixed in 1.1.1k-8.cm2");
	json_t *b = json_object_get(f, "binaryPkgs");
	int libs = 0;
	size_t i;
	json_t *v;
	json_array_foreach(b, i, v)
		libs |= strcmp(json_string_value(v), "openssl-libs") == 0;
	T_CHECK(libs);
	vulndb_match_result_clear(&res);
	vulndb_free(db);
	pkglist_clear(&l);
#else
	printf("# skip mariner_rpm_source_and_epoch: built without GARRISON_HAVE_RPM (librpm)\n");
#endif
}

/* ---- concurrency ---- */

struct thr {
	struct vulndb *db;
	struct pkglist *l;
	size_t findings;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < 20; i++) {
		struct vulndb_match_result res;
		if (vulndb_match(t->db, t->l, NULL, &res) != 0)
			return NULL;
		t->findings += json_array_size(res.vulnerabilities);
		vulndb_match_result_clear(&res);
	}
	return NULL;
}

T_TEST(concurrent_matches)
{
	struct pkglist l = { 0 };
	T_CHECK_INT(load_minbase(&l), 0);
	set_version(&l, "openssl", "3.0.0-1");
	struct vulndb *db = load_feed(DATA "debian12-minbase-changelog-cves.osv.json");
	struct vulndb_match_result res;
	T_CHECK_INT(vulndb_match(db, &l, NULL, &res), 0);
	size_t one = json_array_size(res.vulnerabilities);
	T_CHECK(one > 10);
	vulndb_match_result_clear(&res);
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ db, &l, 0 };
		T_CHECK_INT(pthread_create(&th[i], NULL, thr_main, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		T_CHECK_INT(t[i].findings, one * 20);
	}
	vulndb_free(db);
	pkglist_clear(&l);
}

static void setup(void) __attribute__((constructor));
static void setup(void)
{
	log_init("test_vulndb", LOG_LVL_ERROR);
}

T_MAIN(T_CASE(range_introduced_zero_fixed), T_CASE(range_multiple), T_CASE(range_last_affected),
       T_CASE(range_limit), T_CASE(versions_list), T_CASE(epochs_and_tilde),
       T_CASE(every_ecosystem), T_CASE(release_scoping), T_CASE(unknown_os),
       T_CASE(ecosystem_names), T_CASE(finding_shape_and_severity), T_CASE(one_finding_per_cve),
       T_CASE(malformed_records_rejected), T_CASE(real_osv_record),
       T_CASE(invalid_versions_not_indexed),
       T_CASE(not_json_fails_whole_import), T_CASE(replace_by_modified),
       T_CASE(export_round_trip), T_CASE(directory_and_zip), T_CASE(minbase_zero_findings),
       T_CASE(minbase_vulnerable_versions), T_CASE(secdb_conversion),
       T_CASE(alpine_minirootfs_vs_secdb), T_CASE(mariner_rpm_source_and_epoch),
       T_CASE(concurrent_matches))
