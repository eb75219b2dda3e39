/*
 * test_store_runtime: the runtime-defense part of the SQLite store (schema v4): policies and
 * their Console-wide revision, audits stored once per (hostname, seq, time) however often they
 * are resent, every filter, paging and Total-Count, incidents grouping audits of one workload within
 * the window, acknowledgement, profiles replaced per host, runtime status, and the migration of
 * a v3 database. Also the Console's runtime helpers the hub relies on (console/runtime.c): the
 * validation of runtime-audits batches, RFC 3339 times, incident categories, default policies.
 */
#include "t.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../console/runtime.h"
#include "../../console/store.h"

static char dbdir[] = "/tmp/garrison-test-store-rt.XXXXXX";

static struct store *open_db(const char *name, int fresh)
{
	char path[256];
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", dbdir, name);
	if (fresh)
		unlink(path);
	T_CHECK_INT(store_sqlite_open(path, &s), 0);
	return s;
}

#define SEC 1000000000ll
#define T0 (1764000000ll * SEC)

static struct store_rt_audit audit(const char *kind, uint64_t seq, int64_t t, const char *cid,
				   const char *attack, const char *category)
{
	struct store_rt_audit a = { 0 };

	a.kind = kind;
	a.seq = seq;
	a.time_ns = t;
	a.type = "processes";
	a.attack_type = attack;
	a.effect = "alert";
	a.rule_name = "r1";
	a.cluster = "prod";
	a.namespace_ = "";
	a.container_id = cid;
	a.container_name = cid[0] ? "web" : "";
	a.image_name = cid[0] ? "docker.io/library/nginx:latest" : "";
	a.process_path = "/bin/sh";
	a.user = "root";
	a.category = category;
	a.doc = json_pack("{s:s,s:I,s:s}", "attackType", attack, "seq", (json_int_t)seq, "containerId", cid);
	return a;
}

static void free_audits(struct store_rt_audit *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i].doc);
}

static long q_audits(struct store *s, const struct store_rt_query *q, json_t **out)
{
	long total = -1;
	json_t *arr = NULL;

	T_CHECK_INT(s->ops->rt_audits_query(s, q, &arr, &total), 0);
	if (out)
		*out = arr;
	else
		json_decref(arr);
	return total;
}

T_TEST(policies_and_revision)
{
	struct store *s = open_db("policies", 1);
	json_t *doc = NULL, *p = json_pack("{s:s,s:[]}", "_id", "containerRuntime", "rules");
	long long rev = -1;

	T_CHECK_INT(s->ops->rt_policy_get(s, "container", &doc, &rev), -ENOENT);
	T_CHECK_INT(s->ops->rt_revision(s, &rev), 0);
	T_CHECK_INT(rev, 0);
	T_CHECK_INT(s->ops->rt_policy_put(s, "container", p, &rev), 0);
	T_CHECK_INT(rev, 1);
	T_CHECK_INT(s->ops->rt_policy_put(s, "host", p, &rev), 0);
	T_CHECK_INT(rev, 2); /* one revision for both kinds */
	T_CHECK_INT(s->ops->rt_policy_put(s, "container", p, &rev), 0);
	T_CHECK_INT(rev, 3);
	store_close(s);
	s = open_db("policies", 0);
	T_CHECK_INT(s->ops->rt_policy_get(s, "container", &doc, &rev), 0);
	T_CHECK_INT(rev, 3);
	T_CHECK_STR(json_string_value(json_object_get(doc, "_id")), "containerRuntime");
	json_decref(doc);
	T_CHECK_INT(s->ops->rt_policy_get(s, "host", &doc, &rev), 0);
	T_CHECK_INT(rev, 2);
	json_decref(doc);
	T_CHECK_INT(s->ops->rt_revision(s, &rev), 0);
	T_CHECK_INT(rev, 3);
	json_decref(p);
	store_close(s);
}

T_TEST(audits_idempotent)
{
	struct store *s = open_db("idem", 1);
	struct store_rt_audit v[3] = {
		audit("container", 1, T0, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 2, T0 + SEC, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 3, T0 + 2 * SEC, "c1", "unexpectedProcess", "hijackedProcess"),
	};
	struct store_rt_query q = { .acknowledged = -1 };
	size_t added = 99;
	json_t *arr = NULL;

	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 2, &added), 0);
	T_CHECK_INT(added, 2);
	/* a resent batch overlapping the first: only seq 3 is new */
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 3, &added), 0);
	T_CHECK_INT(added, 1);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 3, &added), 0);
	T_CHECK_INT(added, 0);
	/* the same seq from another host is another audit */
	T_CHECK_INT(s->ops->rt_audits_add(s, "h2", v, 1, &added), 0);
	T_CHECK_INT(added, 1);
	/* a Defender whose spool started again (data directory lost): same seq, another time */
	struct store_rt_audit again = audit("container", 1, T0 + 100 * SEC, "c1", "unexpectedProcess",
					    "hijackedProcess");
	T_CHECK_INT(s->ops->rt_audits_add(s, "h2", &again, 1, &added), 0);
	T_CHECK_INT(added, 1);
	json_decref(again.doc);
	q.eq[STORE_RT_HOSTNAME][0] = "h1";
	q.neq[STORE_RT_HOSTNAME] = 1;
	T_CHECK_INT(q_audits(s, &q, &arr), 3);
	json_decref(arr);
	q.neq[STORE_RT_HOSTNAME] = 0;
	T_CHECK_INT(q_audits(s, &q, &arr), 5);
	T_CHECK_INT(json_array_size(arr), 5);
	/* time order, stable _id */
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 1);
	T_CHECK(json_is_string(json_object_get(json_array_get(arr, 0), "_id")));
	json_decref(arr);
	/* after a reopen the resend is still recognised */
	store_close(s);
	s = open_db("idem", 0);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 3, &added), 0);
	T_CHECK_INT(added, 0);
	T_CHECK_INT(q_audits(s, &q, NULL), 5);
	/* a bad batch stores nothing */
	json_t *keep = v[0].doc;
	v[0].doc = NULL;
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 3, &added), -EINVAL);
	v[0].doc = keep;
	free_audits(v, 3);
	store_close(s);
}

/* A throttle update (count > 1, firstTimeNs) raises the count of its window's first audit. */
T_TEST(audits_throttle_update_merges)
{
	struct store *s = open_db("merge", 1);
	struct store_rt_audit v[2] = {
		audit("container", 1, T0, "c1", "explicitlyDeniedProcess", "hijackedProcess"),
		audit("container", 2, T0 + 3 * SEC, "c1", "explicitlyDeniedProcess", "hijackedProcess"),
	};
	struct store_rt_audit lone = audit("container", 9, T0 + 9 * SEC, "c1",
					   "explicitlyDeniedProcess", "hijackedProcess");
	struct store_rt_query q = { .acknowledged = -1 };
	json_t *arr = NULL;

	json_object_set_new(v[0].doc, "count", json_integer(1));
	json_object_set_new(v[1].doc, "count", json_integer(150));
	v[1].first_ns = T0;
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 1, NULL), 0);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v + 1, 1, NULL), 0);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v + 1, 1, NULL), 0); /* resent: still 150 */
	T_CHECK_INT(q_audits(s, &q, &arr), 1);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "count")), 150);
	json_decref(arr);
	/* an update whose first audit is not stored (lost to the spool bound) stands alone */
	json_object_set_new(lone.doc, "count", json_integer(7));
	lone.first_ns = T0 + 8 * SEC;
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", &lone, 1, NULL), 0);
	T_CHECK_INT(q_audits(s, &q, NULL), 2);
	free_audits(v, 2);
	free_audits(&lone, 1);
	store_close(s);
}

T_TEST(audits_filters_paging)
{
	struct store *s = open_db("filters", 1);
	struct store_rt_audit v[10];
	struct store_rt_query q = { .acknowledged = -1 };
	json_t *arr = NULL;
	char id[32];

	for (int i = 0; i < 10; i++)
		v[i] = audit(i < 7 ? "container" : "host", (uint64_t)i + 1, T0 + i * SEC,
			     i < 7 ? (i % 2 ? "c1" : "c2") : "", i == 3 ? "cryptoMinerProcess" :
			     "unexpectedProcess", i == 3 ? "cryptoMiner" : "hijackedProcess");
	v[5].effect = "prevent";
	v[6].user = "www-data";
	v[6].process_path = "/usr/bin/curl";
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, 10, NULL), 0);

	q.kind = "container";
	T_CHECK_INT(q_audits(s, &q, NULL), 7);
	q.kind = "host";
	T_CHECK_INT(q_audits(s, &q, NULL), 3);
	q.kind = "container";
	q.eq[STORE_RT_CONTAINER_ID][0] = "c1";
	q.neq[STORE_RT_CONTAINER_ID] = 1;
	T_CHECK_INT(q_audits(s, &q, NULL), 3);
	q.eq[STORE_RT_CONTAINER_ID][1] = "c2";
	q.neq[STORE_RT_CONTAINER_ID] = 2;
	T_CHECK_INT(q_audits(s, &q, NULL), 7);
	q.neq[STORE_RT_CONTAINER_ID] = 0;
	q.eq[STORE_RT_ATTACK_TYPE][0] = "cryptoMinerProcess";
	q.neq[STORE_RT_ATTACK_TYPE] = 1;
	T_CHECK_INT(q_audits(s, &q, &arr), 1);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 4);
	json_decref(arr);
	q.neq[STORE_RT_ATTACK_TYPE] = 0;
	q.eq[STORE_RT_EFFECT][0] = "prevent";
	q.neq[STORE_RT_EFFECT] = 1;
	T_CHECK_INT(q_audits(s, &q, NULL), 1);
	q.neq[STORE_RT_EFFECT] = 0;
	q.eq[STORE_RT_USER][0] = "www-data";
	q.neq[STORE_RT_USER] = 1;
	q.eq[STORE_RT_PROCESS][0] = "/usr/bin/curl";
	q.neq[STORE_RT_PROCESS] = 1;
	T_CHECK_INT(q_audits(s, &q, NULL), 1);
	q.eq[STORE_RT_PROCESS][0] = "/bin/sh";
	T_CHECK_INT(q_audits(s, &q, NULL), 0); /* filters are ANDed */
	q.neq[STORE_RT_PROCESS] = q.neq[STORE_RT_USER] = 0;
	q.eq[STORE_RT_HOSTNAME][0] = "h2";
	q.neq[STORE_RT_HOSTNAME] = 1;
	T_CHECK_INT(q_audits(s, &q, NULL), 0);
	q.neq[STORE_RT_HOSTNAME] = 0;
	/* time window, inclusive */
	q.from_ns = T0 + 2 * SEC;
	q.to_ns = T0 + 4 * SEC;
	T_CHECK_INT(q_audits(s, &q, NULL), 3);
	q.from_ns = q.to_ns = 0;
	/* paging: Total-Count is before paging; reverse is newest first */
	q.offset = 2;
	q.limit = 3;
	T_CHECK_INT(q_audits(s, &q, &arr), 7);
	T_CHECK_INT(json_array_size(arr), 3);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 3);
	json_decref(arr);
	q.reverse = 1;
	T_CHECK_INT(q_audits(s, &q, &arr), 7);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 5);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(json_array_get(arr, 0), "_id")));
	json_decref(arr);
	/* by _id */
	q = (struct store_rt_query){ .acknowledged = -1, .id = strtoll(id, NULL, 10) };
	T_CHECK_INT(q_audits(s, &q, &arr), 1);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")), 5);
	json_decref(arr);
	/* a filter the list does not have is refused */
	q = (struct store_rt_query){ .acknowledged = -1 };
	q.eq[STORE_RT_CATEGORY][0] = "x";
	q.neq[STORE_RT_CATEGORY] = 1;
	arr = NULL;
	long total;
	T_CHECK_INT(s->ops->rt_audits_query(s, &q, &arr, &total), -EINVAL);
	T_CHECK(arr == NULL);
	free_audits(v, 10);
	store_close(s);
}

static long q_incidents(struct store *s, const struct store_rt_query *q, json_t **out)
{
	long total = -1;
	json_t *arr = NULL;

	T_CHECK_INT(s->ops->rt_incidents_query(s, q, &arr, &total), 0);
	if (out)
		*out = arr;
	else
		json_decref(arr);
	return total;
}

T_TEST(incidents_grouping)
{
	struct store *s = open_db("incidents", 1);
	struct store_rt_audit v[] = {
		/* c1: three within 10 minutes of each other (the last 9 min after the second) */
		audit("container", 1, T0, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 2, T0 + 60 * SEC, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 3, T0 + 600 * SEC, "c1", "unexpectedListeningPort", "hijackedProcess"),
		/* c1, same category, 11 minutes later: a new incident */
		audit("container", 4, T0 + 1260 * SEC, "c1", "unexpectedProcess", "hijackedProcess"),
		/* c1, other category: its own incident */
		audit("container", 5, T0 + 70 * SEC, "c1", "cryptoMinerProcess", "cryptoMiner"),
		/* c2 */
		audit("container", 6, T0 + 30 * SEC, "c2", "reverseShell", "reverseShell"),
		/* the host */
		audit("host", 7, T0 + 40 * SEC, "", "reverseShell", "reverseShell"),
	};
	size_t n = sizeof(v) / sizeof(v[0]);
	struct store_rt_query q = { .acknowledged = -1 };
	json_t *arr = NULL, *inc;
	long long first_id;

	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, n, NULL), 0);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, n, NULL), 0); /* resent: no new incident */
	T_CHECK_INT(q_incidents(s, &q, &arr), 5);
	inc = json_array_get(arr, 0); /* the oldest first */
	T_CHECK_STR(json_string_value(json_object_get(inc, "category")), "hijackedProcess");
	T_CHECK_STR(json_string_value(json_object_get(inc, "containerID")), "c1");
	T_CHECK_STR(json_string_value(json_object_get(inc, "type")), "container");
	T_CHECK_STR(json_string_value(json_object_get(inc, "hostname")), "h1");
	T_CHECK_STR(json_string_value(json_object_get(inc, "imageName")), "docker.io/library/nginx:latest");
	T_CHECK_INT(json_array_size(json_object_get(inc, "audits")), 3);
	T_CHECK(json_is_false(json_object_get(inc, "acknowledged")));
	first_id = json_integer_value(json_object_get(inc, "serialNum"));
	T_CHECK_STR(json_string_value(json_object_get(inc, "time")), "2025-11-24T16:00:00.000000000Z");
	json_decref(arr);

	q.kind = "host";
	T_CHECK_INT(q_incidents(s, &q, &arr), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "containerID")), "");
	json_decref(arr);
	q.kind = NULL;
	q.eq[STORE_RT_CATEGORY][0] = "reverseShell";
	q.neq[STORE_RT_CATEGORY] = 1;
	T_CHECK_INT(q_incidents(s, &q, NULL), 2);
	q.eq[STORE_RT_CONTAINER_ID][0] = "c2";
	q.neq[STORE_RT_CONTAINER_ID] = 1;
	T_CHECK_INT(q_incidents(s, &q, NULL), 1);
	q = (struct store_rt_query){ .acknowledged = -1, .from_ns = T0 + 1000 * SEC };
	T_CHECK_INT(q_incidents(s, &q, NULL), 1); /* only the late one reaches past it */

	T_CHECK_INT(s->ops->rt_incident_ack(s, first_id, 1), 0);
	T_CHECK_INT(s->ops->rt_incident_ack(s, 999999, 1), -ENOENT);
	q = (struct store_rt_query){ .acknowledged = 1 };
	T_CHECK_INT(q_incidents(s, &q, &arr), 1);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(arr, 0), "serialNum")), first_id);
	T_CHECK(json_is_true(json_object_get(json_array_get(arr, 0), "acknowledged")));
	json_decref(arr);
	q.acknowledged = 0;
	T_CHECK_INT(q_incidents(s, &q, NULL), 4);
	q = (struct store_rt_query){ .acknowledged = -1, .limit = 2, .offset = 4 };
	T_CHECK_INT(q_incidents(s, &q, &arr), 5);
	T_CHECK_INT(json_array_size(arr), 1);
	json_decref(arr);
	free_audits(v, n);
	store_close(s);
}

/* Retention: by age, then by count per kind; incidents keep what is left of them. */
T_TEST(audits_prune)
{
	struct store *s = open_db("prune", 1);
	struct store_rt_audit v[] = {
		audit("container", 1, T0, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 2, T0 + 60 * SEC, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 3, T0 + 120 * SEC, "c1", "unexpectedProcess", "hijackedProcess"),
		audit("container", 4, T0 + 130 * SEC, "c2", "reverseShell", "reverseShell"),
		audit("host", 5, T0 + 10 * SEC, "", "reverseShell", "reverseShell"),
		audit("host", 6, T0 + 140 * SEC, "", "reverseShell", "reverseShell"),
	};
	size_t n = sizeof(v) / sizeof(v[0]);
	struct store_rt_query q = { .acknowledged = -1 };
	json_t *arr = NULL;
	long long na = -1, ni = -1;

	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", v, n, NULL), 0);
	T_CHECK_INT(q_incidents(s, &q, NULL), 3);
	/* Nothing to do. */
	T_CHECK_INT(s->ops->rt_prune(s, T0 - SEC, 100, &na, &ni), 0);
	T_CHECK_INT(na, 0);
	T_CHECK_INT(ni, 0);
	/* By age: the audits before T0 + 30 s (seq 1 and 5); the host incident's first audit goes,
	 * the incident stays with one. */
	T_CHECK_INT(s->ops->rt_prune(s, T0 + 30 * SEC, 0, &na, &ni), 0);
	T_CHECK_INT(na, 2);
	T_CHECK_INT(ni, 0);
	T_CHECK_INT(q_audits(s, &q, NULL), 4);
	q.kind = "host";
	T_CHECK_INT(q_incidents(s, &q, &arr), 1);
	T_CHECK_INT(json_array_size(json_object_get(json_array_get(arr, 0), "audits")), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "time")),
		    "2025-11-24T16:02:20.000000000Z"); /* its first audit is now seq 6's */
	json_decref(arr);
	/* By count: one container audit kept (the newest, c2's): c1's incident goes. */
	q.kind = NULL;
	T_CHECK_INT(s->ops->rt_prune(s, 0, 1, &na, &ni), 0);
	T_CHECK_INT(na, 2);
	T_CHECK_INT(ni, 1);
	q.kind = "container";
	T_CHECK_INT(q_audits(s, &q, &arr), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 0), "containerId")), "c2");
	json_decref(arr);
	T_CHECK_INT(q_incidents(s, &q, NULL), 1);
	q.kind = "host";
	T_CHECK_INT(q_audits(s, &q, NULL), 1);
	/* Stored again after a prune: a resend of a pruned record is a new row (it is not kept
	 * as a tombstone), as a Defender resends only what was not acknowledged. */
	free_audits(v, n);
	store_close(s);
}

T_TEST(profiles_and_status)
{
	struct store *s = open_db("profiles", 1);
	json_t *p1 = json_pack("[{s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s}]",
			       "_id", "a", "image", "nginx", "state", "learning", "cluster", "prod",
			       "_id", "b", "image", "redis", "state", "active", "cluster", "prod");
	json_t *p2 = json_pack("[{s:s,s:s,s:s}]", "_id", "a", "image", "nginx", "state", "active");
	json_t *bad = json_pack("[{s:s}]", "image", "x");
	struct store_rt_query q = { .acknowledged = -1 };
	json_t *arr = NULL, *st = NULL;
	long total = -1;

	T_CHECK_INT(s->ops->rt_profiles_replace(s, "h1", p1), 0);
	T_CHECK_INT(s->ops->rt_profiles_replace(s, "h2", p2), 0);
	T_CHECK_INT(s->ops->rt_profiles_replace(s, "h2", bad), -EINVAL);
	T_CHECK_INT(s->ops->rt_profiles_query(s, &q, &arr, &total), 0);
	T_CHECK_INT(total, 3);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 2), "hostname")), "h2");
	json_decref(arr);
	/* replaced as a whole */
	T_CHECK_INT(s->ops->rt_profiles_replace(s, "h1", p2), 0);
	q.eq[STORE_RT_ID][0] = "b";
	q.neq[STORE_RT_ID] = 1;
	T_CHECK_INT(s->ops->rt_profiles_query(s, &q, &arr, &total), 0);
	T_CHECK_INT(total, 0);
	json_decref(arr);
	q.eq[STORE_RT_ID][0] = "a";
	q.eq[STORE_RT_STATE][0] = "active";
	q.neq[STORE_RT_STATE] = 1;
	T_CHECK_INT(s->ops->rt_profiles_query(s, &q, &arr, &total), 0);
	T_CHECK_INT(total, 2);
	json_decref(arr);
	T_CHECK_INT(s->ops->rt_profile_hosts(s, "a", &arr), 0);
	T_CHECK_INT(json_array_size(arr), 2);
	T_CHECK_STR(json_string_value(json_array_get(arr, 0)), "h1");
	json_decref(arr);

	T_CHECK_INT(s->ops->rt_status_put(s, "h1", p2), 0);
	T_CHECK_INT(s->ops->rt_status_put(s, "h1", bad), 0);
	T_CHECK_INT(s->ops->rt_status_all(s, &st), 0);
	T_CHECK_INT(json_object_size(st), 1);
	T_CHECK(json_equal(json_object_get(st, "h1"), bad));
	json_decref(st);
	json_decref(p1);
	json_decref(p2);
	json_decref(bad);
	store_close(s);
}

/* A database of schema v3 (the runtime tables absent) is migrated on open and keeps its data. */
T_TEST(migrates_v3)
{
	struct store *s = open_db("v3", 1);
	char path[256];
	sqlite3 *db = NULL;
	json_t *coll = json_pack("{s:s}", "name", "prod"), *doc = NULL;
	struct store_rt_audit a = audit("container", 1, T0, "c1", "unexpectedProcess", "hijackedProcess");
	sqlite3_stmt *st = NULL;

	T_CHECK_INT(s->ops->coll_put(s, "prod", coll, 1), 0);
	store_close(s);
	snprintf(path, sizeof(path), "%s/v3.db", dbdir);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_exec(db, "DROP TABLE runtime_policies; DROP TABLE runtime_audits;"
				 "DROP TABLE runtime_incidents; DROP TABLE runtime_profiles;"
				 "DROP TABLE runtime_status; PRAGMA user_version=3;", NULL, NULL, NULL),
		    SQLITE_OK);
	sqlite3_close(db);
	s = open_db("v3", 0);
	T_CHECK_INT(s->ops->coll_get(s, "prod", &doc), 0);
	json_decref(doc);
	T_CHECK_INT(s->ops->rt_audits_add(s, "h1", &a, 1, NULL), 0);
	store_close(s);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_prepare_v2(db, "SELECT user_version FROM pragma_user_version", -1, &st,
				       NULL), SQLITE_OK);
	T_CHECK_INT(sqlite3_step(st), SQLITE_ROW);
	T_CHECK_INT(sqlite3_column_int(st, 0), 4);
	sqlite3_finalize(st);
	sqlite3_close(db);
	json_decref(a.doc);
	json_decref(coll);
}


T_TEST(console_time_parse)
{
	int64_t ns = -1;

	T_CHECK_INT(console_runtime_parse_time("2025-11-24T16:00:00Z", &ns), 0);
	T_CHECK_INT(ns, T0);
	T_CHECK_INT(console_runtime_parse_time("2025-11-24T16:00:01.5Z", &ns), 0);
	T_CHECK_INT(ns, T0 + SEC + SEC / 2);
	T_CHECK_INT(console_runtime_parse_time("2025-11-24T16:00:00.000000001Z", &ns), 0);
	T_CHECK_INT(ns, T0 + 1);
	T_CHECK_INT(console_runtime_parse_time("2025-11-24T18:00:00+02:00", &ns), 0);
	T_CHECK_INT(ns, T0);
	T_CHECK_INT(console_runtime_parse_time("2025-11-24T15:30:00-00:30", &ns), 0);
	T_CHECK_INT(ns, T0);
	const char *bad[] = { "", "yesterday", "2025-11-24", "2025-11-24T16:00:00", "2025-13-24T16:00:00Z",
			      "2025-11-24T16:00:00Zjunk", "2025-11-24T16:00:00.Z", "1969-12-31T23:59:59Z",
			      "2025-11-24T16:00:00+2:00", NULL };
	for (int i = 0; bad[i]; i++)
		T_CHECK_INT(console_runtime_parse_time(bad[i], &ns), -EINVAL);
}

T_TEST(console_categories_and_defaults)
{
	json_t *c = console_runtime_default_policy("container");
	json_t *h = console_runtime_default_policy("host");
	char err[256] = "";

	T_CHECK_STR(console_runtime_category("reverseShell"), "reverseShell");
	T_CHECK_STR(console_runtime_category("cryptoMinerProcess"), "cryptoMiner");
	T_CHECK_STR(console_runtime_category("kubectlSpawned"), "kubernetes");
	T_CHECK_STR(console_runtime_category("cloudMetadataProbing"), "cloudProvider");
	T_CHECK_STR(console_runtime_category("explicitlyDeniedIP"), "dataExfiltration");
	T_CHECK_STR(console_runtime_category("modifiedProcess"), "alteredBinary");
	T_CHECK_STR(console_runtime_category("no-such-type"), "suspiciousBinary");
	T_CHECK_STR(console_runtime_category(NULL), "suspiciousBinary");
	/* the defaults are policies the Defender accepts */
	T_CHECK_INT(console_runtime_validate("container", c, err, sizeof(err)), 0);
	T_CHECK_INT(console_runtime_validate("host", h, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	json_decref(c);
	json_decref(h);
}

static json_t *rec(int seq, const char *kind, const char *cid)
{
	return json_pack("{s:i,s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s}", "seq", seq, "kind", kind,
			 "timeNs", (json_int_t)(T0 + seq), "type", "processes", "attackType",
			 "reverseShell", "effect", "alert", "hostname", "forged", "containerId", cid,
			 "containerName", "web", "msg", "m", "pid", 7, "command", "sh -i");
}

T_TEST(console_batch_parse)
{
	struct console_runtime_batch b;
	json_t *recs = json_pack("[o,o,o]", rec(5, "container", "c1"), rec(9, "host", "c1"),
				 rec(7, "container", "c2"));
	char err[256] = "";

	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), 0);
	T_CHECK_INT(b.n, 3);
	T_CHECK_INT(b.max_seq, 9);
	T_CHECK_STR(b.v[0].kind, "container");
	T_CHECK_INT(b.v[0].time_ns, T0 + 5);
	T_CHECK_STR(b.v[0].category, "reverseShell");
	T_CHECK_STR(json_string_value(json_object_get(b.v[0].doc, "hostname")), "node-1");
	T_CHECK_STR(json_string_value(json_object_get(b.v[0].doc, "command")), "sh -i");
	T_CHECK(json_object_get(b.v[0].doc, "seq") == NULL);
	T_CHECK_INT(json_integer_value(json_object_get(b.v[0].doc, "count")), 1);
	/* a host audit has no container */
	T_CHECK_STR(b.v[1].container_id, "");
	T_CHECK(json_is_false(json_object_get(b.v[1].doc, "container")));
	console_runtime_batch_free(&b);
	console_runtime_batch_free(&b); /* twice: a no-op */

	/* time from "time" when timeNs is absent */
	json_object_del(json_array_get(recs, 0), "timeNs");
	json_object_set_new(json_array_get(recs, 0), "time", json_string("2025-11-24T16:00:00.25Z"));
	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), 0);
	T_CHECK_INT(b.v[0].time_ns, T0 + SEC / 4);
	console_runtime_batch_free(&b);

	json_object_set_new(json_array_get(recs, 2), "seq", json_integer(0));
	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "records[2].seq: not an integer >= 1");
	T_CHECK_INT(b.n, 0);
	json_object_set_new(json_array_get(recs, 2), "seq", json_integer(7));
	json_object_set_new(json_array_get(recs, 1), "kind", json_string("pod"));
	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "records[1].kind: not \"container\" or \"host\"");
	json_object_set_new(json_array_get(recs, 1), "kind", json_string("host"));
	json_object_set_new(json_array_get(recs, 1), "user", json_integer(3));
	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "records[1]: audit record: user") != NULL);
	json_object_del(json_array_get(recs, 1), "user");
	json_object_del(json_array_get(recs, 1), "timeNs");
	T_CHECK_INT(console_runtime_batch_parse("node-1", recs, &b, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "records[1]: neither timeNs nor an RFC 3339 time");
	json_t *obj = json_object();
	T_CHECK_INT(console_runtime_batch_parse("node-1", obj, &b, err, sizeof(err)), -EINVAL);
	json_decref(obj);
	json_t *big = json_array();
	for (int i = 0; i < 257; i++)
		json_array_append_new(big, rec(i + 1, "host", ""));
	T_CHECK_INT(console_runtime_batch_parse("node-1", big, &b, err, sizeof(err)), -EINVAL);
	json_decref(big);
	json_decref(recs);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(policies_and_revision), T_CASE(audits_idempotent), T_CASE(audits_throttle_update_merges),
		T_CASE(audits_filters_paging), T_CASE(incidents_grouping), T_CASE(audits_prune),
		T_CASE(profiles_and_status),   T_CASE(migrates_v3),
		T_CASE(console_time_parse),    T_CASE(console_categories_and_defaults),
		T_CASE(console_batch_parse),
	};
	int r;

	if (mkdtemp(dbdir) == NULL)
		return 1;
	r = t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dbdir);
	return r;
}
