/*
 * test_scan: scan records (lib/scan.c) and the shared report helpers (lib/scanreport.c): the
 * packages of a real Debian root file system survive the round trip through a record, hostile
 * records are refused, vulnerabilities are applied from the stored packages (and change when
 * the data changes, without rescanning), distributions, thresholds and the twistcli document.
 * Data: tests/data/pkgdb/debian-bookworm-minbase (run from the top of the tree).
 */
#include "t.h"

#include <garrison/scan.h>
#include <garrison/scanreport.h>

#include <errno.h>

#define MINBASE "tests/data/pkgdb/debian-bookworm-minbase"

static const char osv_bash[] =
	"{\"schema_version\":\"1.6.0\",\"id\":\"x_TEST-BASH-1\",\"modified\":\"2026-01-01T00:00:00Z\","
	"\"published\":\"2025-06-01T00:00:00Z\",\"aliases\":[\"CVE-2099-0001\"],"
	"\"summary\":\"a test vulnerability\","
	"\"severity\":[{\"type\":\"CVSS_V3\",\"score\":\"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"}],"
	"\"affected\":[{\"package\":{\"ecosystem\":\"Debian:12\",\"name\":\"bash\"},"
	"\"ranges\":[{\"type\":\"ECOSYSTEM\",\"events\":[{\"introduced\":\"0\"},{\"fixed\":\"99.0-1\"}]}]}]}";

T_TEST(packages_round_trip)
{
	struct pkglist l = { 0 }, back = { 0 };
	char err[256] = "";
	json_t *rec = json_object();

	T_CHECK_INT(pkgdb_scan_rootfs(MINBASE, &l, err, sizeof(err)), 0);
	T_CHECK(l.n > 80);
	T_CHECK_INT(scan_record_set_packages(rec, &l), 0);
	T_CHECK_STR(json_string_value(json_object_get(rec, "osDistro")), "debian");
	T_CHECK_STR(json_string_value(json_object_get(rec, "osDistroVersion")), "12");
	T_CHECK_STR(json_string_value(json_object_get(rec, "osDistroRelease")), "bookworm");
	T_CHECK_STR(json_string_value(json_object_get(rec, "distro")), "Debian GNU/Linux 12 (bookworm)");
	T_CHECK(json_is_true(json_object_get(rec, "packageManager")));
	T_CHECK(json_is_string(json_object_get(rec, "scanTime")));
	/* through text, as the Console stores it */
	char *text = json_dumps(rec, JSON_COMPACT);
	json_t *parsed = json_loads(text, 0, NULL);
	T_CHECK_INT(scan_record_pkglist(parsed, &back, err, sizeof(err)), 0);
	T_CHECK_INT(back.n, l.n);
	T_CHECK_INT(back.kind, PKGDB_DPKG);
	for (size_t i = 0; i < l.n && i < back.n; i++) {
		T_CHECK_STR(back.v[i].name, l.v[i].name);
		T_CHECK_STR(back.v[i].version, l.v[i].version);
		T_CHECK_STR(back.v[i].source, l.v[i].source);
		T_CHECK_STR(back.v[i].source_version, l.v[i].source_version);
	}
	/* a binary whose source version differs keeps it (libgcc-s1 comes from gcc-12) */
	int differ = 0;
	for (size_t i = 0; i < l.n; i++)
		differ += strcmp(l.v[i].version, l.v[i].source_version) != 0;
	T_CHECK(differ > 0);
	free(text);
	json_decref(parsed);
	json_decref(rec);
	pkglist_clear(&l);
	pkglist_clear(&back);
}

T_TEST(hostile_records)
{
	static const char *const bad[] = {
		"[]",
		"{\"packages\":{}}",
		"{\"packages\":[1]}",
		"{\"packages\":[{\"pkgsType\":\"package\",\"pkgs\":[{\"name\":\"a\"}]}]}",
		"{\"packages\":[{\"pkgsType\":\"package\",\"pkgs\":[{\"name\":\"a b\",\"version\":\"1\"}]}]}",
		"{\"packages\":[{\"pkgsType\":\"package\",\"pkgs\":[{\"name\":\"a\",\"version\":\"1\\n\"}]}]}",
		"{\"packages\":[{\"pkgsType\":\"package\",\"pkgs\":[{\"name\":\"a\",\"version\":7}]}]}",
		"{\"osDistro\":5,\"packages\":[]}",
		"{\"garrison\":{\"pkgKind\":[]},\"packages\":[]}",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pkglist l = { 0 };
		json_t *j = json_loads(bad[i], 0, NULL);

		err[0] = '\0';
		T_CHECK(j != NULL);
		T_CHECK_INT(scan_record_pkglist(j, &l, err, sizeof(err)), -EINVAL);
		T_CHECK(err[0] != '\0');
		T_CHECK_INT(l.n, 0);
		json_decref(j);
	}
	/* other package types are not OS packages: skipped, not refused */
	struct pkglist l = { 0 };
	json_t *j = json_loads("{\"packages\":[{\"pkgsType\":\"nodejs\",\"pkgs\":[{\"name\":\"x y\"}]}]}", 0, NULL);
	T_CHECK_INT(scan_record_pkglist(j, &l, err, sizeof(err)), 0);
	T_CHECK_INT(l.n, 0);
	json_decref(j);
	pkglist_clear(&l);
}

T_TEST(vulns_from_stored_packages)
{
	struct pkglist l = { 0 };
	struct vulndb *db = vulndb_new();
	char err[256] = "";
	json_t *rec = json_object();

	T_CHECK_INT(pkgdb_scan_rootfs(MINBASE, &l, err, sizeof(err)), 0);
	T_CHECK_INT(scan_record_set_packages(rec, &l), 0);
	/* no data yet: an empty result that says why */
	T_CHECK_INT(scan_record_apply_vulndb(rec, NULL, NULL, err, sizeof(err)), 0);
	T_CHECK_INT(json_integer_value(json_object_get(rec, "vulnerabilitiesCount")), 0);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(rec, "garrison"), "vulnReason")),
		    "no vulnerability data");
	/* new data: the same stored record now has the finding */
	T_CHECK_INT(vulndb_import_osv_mem(db, osv_bash, sizeof(osv_bash) - 1, "test", NULL, err, sizeof(err)), 0);
	T_CHECK_INT(scan_record_apply_vulndb(rec, db, "v1", err, sizeof(err)), 0);
	json_t *v = json_object_get(rec, "vulnerabilities");
	T_CHECK_INT(json_array_size(v), 1);
	T_CHECK_INT(json_integer_value(json_object_get(rec, "vulnerabilitiesCount")), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "cve")), "CVE-2099-0001");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "packageName")), "bash");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(v, 0), "severity")), "critical");
	T_CHECK_INT(json_integer_value(json_object_get(json_object_get(rec, "vulnerabilityDistribution"), "critical")), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(rec, "garrison"), "feedVersion")), "v1");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(rec, "garrison"), "ecosystem")), "Debian:12");
	/* an unknown OS: no findings and the reason, never a guess */
	json_object_set_new(rec, "osDistro", json_string("plan9"));
	T_CHECK_INT(scan_record_apply_vulndb(rec, db, "v1", err, sizeof(err)), 0);
	T_CHECK_INT(json_integer_value(json_object_get(rec, "vulnerabilitiesCount")), 0);
	T_CHECK(json_string_value(json_object_get(json_object_get(rec, "garrison"), "vulnReason")) != NULL);
	vulndb_free(db);
	json_decref(rec);
	pkglist_clear(&l);
}

T_TEST(report_helpers)
{
	json_t *items = json_loads("[{\"severity\":\"critical\"},{\"severity\":\"important\"},"
				   "{\"severity\":\"moderate\"},{\"severity\":\"low\"},{\"severity\":\"low\"},"
				   "{\"severity\":\"negligible\"},{}]", 0, NULL);
	json_t *d = scanreport_distribution(items);
	enum scan_sev t;

	T_CHECK_INT(json_integer_value(json_object_get(d, "critical")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "high")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "medium")), 1);
	T_CHECK_INT(json_integer_value(json_object_get(d, "low")), 2);
	T_CHECK_INT(json_integer_value(json_object_get(d, "total")), 7);
	T_CHECK_INT(scanreport_parse_threshold("HIGH", &t), 0);
	T_CHECK_INT(t, SCAN_SEV_HIGH);
	T_CHECK_INT(scanreport_exceeds(items, t), 1);
	T_CHECK_INT(scanreport_parse_threshold("off", &t), 0);
	T_CHECK_INT(scanreport_exceeds(items, t), 0);
	T_CHECK_INT(scanreport_parse_threshold("severe", &t), -EINVAL);
	json_t *low = json_loads("[{\"severity\":\"low\"},{\"severity\":\"medium\"}]", 0, NULL);
	T_CHECK_INT(scanreport_exceeds(low, SCAN_SEV_HIGH), 0);
	T_CHECK_INT(scanreport_exceeds(low, SCAN_SEV_MEDIUM), 1);

	json_t *img = json_loads(
		"{\"_id\":\"sha256:aa\",\"id\":\"sha256:aa\",\"distro\":\"Debian GNU/Linux 12 (bookworm)\","
		"\"osDistroRelease\":\"bookworm\",\"packages\":[{\"pkgsType\":\"package\",\"pkgs\":"
		"[{\"name\":\"bash\",\"version\":\"5.2.15-2+b2\"}]}],"
		"\"vulnerabilities\":[{\"cve\":\"CVE-2099-0001\",\"severity\":\"critical\",\"cvss\":9.8,"
		"\"vecStr\":\"CVSS:3.1/AV:N\",\"packageName\":\"bash\",\"packageVersion\":\"5.2.15-2\","
		"\"status\":\"fixed in 99.0-1\",\"published\":1748736000}],"
		"\"complianceIssues\":[{\"id\":41,\"title\":\"t\",\"severity\":\"high\",\"cause\":\"c\"}]}",
		0, NULL);
	json_t *doc = scanreport_twistcli(img, "test/debian:12", 0, 1, "https://c:8083");
	json_t *r0 = json_array_get(json_object_get(doc, "results"), 0);
	T_CHECK(r0 != NULL);
	T_CHECK_STR(json_string_value(json_object_get(r0, "name")), "test/debian:12");
	T_CHECK_STR(json_string_value(json_object_get(r0, "distroRelease")), "bookworm");
	json_t *v0 = json_array_get(json_object_get(r0, "vulnerabilities"), 0);
	T_CHECK_STR(json_string_value(json_object_get(v0, "id")), "CVE-2099-0001");
	T_CHECK_STR(json_string_value(json_object_get(v0, "vector")), "CVSS:3.1/AV:N");
	T_CHECK_STR(json_string_value(json_object_get(v0, "publishedDate")), "2025-06-01T00:00:00Z");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(r0, "packages"), 0), "type")), "os");
	T_CHECK(json_is_false(json_object_get(r0, "vulnerabilityScanPassed")));
	T_CHECK(json_is_true(json_object_get(r0, "complianceScanPassed")));
	T_CHECK_INT(json_integer_value(json_object_get(json_object_get(r0, "complianceDistribution"), "high")), 1);
	T_CHECK_STR(json_string_value(json_object_get(doc, "consoleURL")), "https://c:8083");
	json_decref(doc);
	json_decref(img);
	json_decref(low);
	json_decref(d);
	json_decref(items);
}

T_MAIN(T_CASE(packages_round_trip), T_CASE(hostile_records), T_CASE(vulns_from_stored_packages),
       T_CASE(report_helpers))
