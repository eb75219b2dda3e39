/*
 * fuzz_osv: the vulnerability database's untrusted inputs. The first byte chooses the parser:
 * even: the rest is OSV JSON for vulndb_import_osv_mem() (a record or an array, or a zip when it
 * starts with "PK"); odd: the rest is an Alpine secdb document for vulndb_secdb_to_osv().
 * Contract checked besides "no crash, no leak":
 *   - the result is 0, -EINVAL, -E2BIG, -EFBIG or -ENOMEM; a failed import leaves the database
 *     as it was (same data version and record count), with a reason naming the origin;
 *   - counts add up: accepted records appear in vulndb_info(), rejected ones carry a message;
 *   - export then import into a new database gives the same data version (the canonical form
 *     is stable);
 *   - secdb conversion output is accepted by the OSV import with no record rejected;
 *   - matching, for packages named by the records themselves (every event version of their
 *     first affected entries as the installed version): every finding names the package and
 *     version it was given, its status is "open" or "fixed in V" with the installed version
 *     below V in the ecosystem's order, and the distribution totals the findings.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <garrison/log.h>
#include <garrison/pkgdb.h>
#include <garrison/version.h>
#include <garrison/vulndb.h>

#include "vulndb_int.h"

#define BROKEN(why)                                                                      \
	do {                                                                             \
		fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, why); \
		abort();                                                                 \
	} while (0)
#define BROKEN_IF(cond)             \
	do {                        \
		if (cond)           \
			BROKEN(#cond); \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init("fuzz_osv", LOG_LVL_ERROR);
	return 0;
}

static const char seed[] = "{\"id\":\"CVE-0-0\",\"modified\":\"2020-01-01T00:00:00Z\"}";

static void check_rc(int rc)
{
	BROKEN_IF(rc != 0 && rc != -EINVAL && rc != -E2BIG && rc != -EFBIG && rc != -ENOMEM);
}

static enum pkgdb_kind pkgkind(int vk)
{
	return vk == VERSION_DPKG ? PKGDB_DPKG : vk == VERSION_APK ? PKGDB_APK : PKGDB_RPM;
}

/* Matches name at each event version of the record's affected entry a (as exported). */
static void match_entry(const struct vulndb *db, json_t *a)
{
	json_t *pkg = json_object_get(a, "package");
	const char *eco = json_string_value(json_object_get(pkg, "ecosystem"));
	const char *name = json_string_value(json_object_get(pkg, "name"));
	if (eco == NULL || name == NULL || strlen(name) > PKGDB_NAME_MAX ||
	    strlen(eco) >= VULNDB_ECOSYSTEM_MAX)
		return;
	int vk = vulndb_ecosystem_kind(eco);
	if (vk < 0)
		return;
	size_t i, k;
	json_t *r, *e;
	json_array_foreach(json_object_get(a, "ranges"), i, r) {
		json_array_foreach(json_object_get(r, "events"), k, e) {
			const char *key;
			json_t *v;
			json_object_foreach(e, key, v) {
				const char *ver = json_string_value(v);
				if (ver == NULL || version_valid((enum version_kind)vk, ver, NULL) != 0)
					continue;
				struct pkg p = { (char *)name, (char *)ver, (char *)name, (char *)ver, NULL };
				struct pkglist l = { .v = &p, .n = 1, .cap = 1, .kind = pkgkind(vk) };
				struct vulndb_match_opts o = { .ecosystem = eco };
				struct vulndb_match_result res;
				int rc = vulndb_match(db, &l, &o, &res);
				BROKEN_IF(rc != 0 && rc != -ENOMEM);
				if (rc != 0)
					continue;
				size_t n;
				json_t *f;
				json_array_foreach(res.vulnerabilities, n, f) {
					const char *st = json_string_value(json_object_get(f, "status"));
					BROKEN_IF(st == NULL);
					BROKEN_IF(strcmp(json_string_value(json_object_get(f, "packageName")), name) != 0);
					BROKEN_IF(strcmp(json_string_value(json_object_get(f, "packageVersion")), ver) != 0);
					if (strcmp(st, "open") != 0) {
						int c = 0;
						BROKEN_IF(strncmp(st, "fixed in ", 9) != 0);
						BROKEN_IF(version_compare((enum version_kind)vk, ver, st + 9, &c) != 0);
						BROKEN_IF(c >= 0);
					}
				}
				BROKEN_IF((size_t)json_integer_value(json_object_get(res.distribution, "total")) !=
					  json_array_size(res.vulnerabilities));
				vulndb_match_result_clear(&res);
			}
		}
	}
}

static void round_trip_and_match(struct vulndb *db)
{
	json_t *arr = NULL;
	struct vulndb_info a, b;
	vulndb_info(db, &a);
	if (vulndb_export_json(db, &arr) != 0)
		return;
	BROKEN_IF(json_array_size(arr) != a.records);
	char *text = json_dumps(arr, JSON_COMPACT);
	if (text != NULL) {
		struct vulndb *db2 = vulndb_new();
		struct vulndb_import_stats st;
		if (db2 != NULL && vulndb_import_osv_mem(db2, text, strlen(text), "export", &st, NULL, 0) == 0) {
			vulndb_info(db2, &b);
			BROKEN_IF(st.rejected != 0);
			BROKEN_IF(b.records != a.records);
			BROKEN_IF(strcmp(a.data_version, b.data_version) != 0);
		}
		vulndb_free(db2);
		free(text);
	}
	/* matching: the first affected entries of the first records */
	size_t i, j;
	json_t *rec, *aff;
	json_array_foreach(arr, i, rec) {
		if (i >= 4)
			break;
		json_array_foreach(json_object_get(rec, "affected"), j, aff) {
			if (j >= 4)
				break;
			match_entry(db, aff);
		}
	}
	json_decref(arr);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	struct vulndb *db = vulndb_new();
	if (db == NULL)
		return 0;
	struct vulndb_import_stats st;
	BROKEN_IF(vulndb_import_osv_mem(db, seed, sizeof(seed) - 1, "seed", &st, NULL, 0) != 0);
	struct vulndb_info before, after;
	vulndb_info(db, &before);

	if ((data[0] & 1) == 0) {
		err[0] = '\0';
		int rc = vulndb_import_osv_mem(db, text, len, "fuzz", &st, err, sizeof(err));
		check_rc(rc);
		vulndb_info(db, &after);
		if (rc != 0) {
			BROKEN_IF(strcmp(after.data_version, before.data_version) != 0);
			BROKEN_IF(after.records != before.records);
			BROKEN_IF(rc != -ENOMEM && strncmp(err, "fuzz", 4) != 0);
		} else {
			BROKEN_IF(after.records > before.records + st.records);
			BROKEN_IF(st.rejected > 0 && strstr(st.first_error, "fuzz") == NULL);
			BROKEN_IF(st.rejected == 0 && st.first_error[0] != '\0');
			round_trip_and_match(db);
		}
	} else {
		json_t *recs = NULL;
		err[0] = '\0';
		int rc = vulndb_secdb_to_osv(text, len, "fuzz.yaml", &recs, err, sizeof(err));
		check_rc(rc);
		if (rc == 0) {
			BROKEN_IF(!json_is_array(recs));
			char *j = json_dumps(recs, JSON_COMPACT);
			if (j != NULL) {
				rc = vulndb_import_osv_mem(db, j, strlen(j), "converted", &st, NULL, 0);
				check_rc(rc);
				if (rc == 0) {
					if (st.rejected != 0)
						fprintf(stderr, "%s\n", st.first_error);
					BROKEN_IF(st.rejected != 0);
					BROKEN_IF(st.records != json_array_size(recs));
					round_trip_and_match(db);
				}
				free(j);
			}
			json_decref(recs);
		} else {
			BROKEN_IF(recs != NULL);
			BROKEN_IF(rc != -ENOMEM && strncmp(err, "fuzz.yaml", 9) != 0);
		}
	}
	vulndb_free(db);
	return 0;
}
