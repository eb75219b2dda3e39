/*
 * test_rtengine: the Defender's runtime engine (defender/rtengine.c) driven without root or
 * network: the replay sensor back end plays tests/data/sensor/recording.jsonl (one real busybox
 * container) or a small recording written here, and the test plays the uplink (it calls what
 * uplink.c calls: set_policy, on_inventory, audits_next, audits_ack, relearn, status). Checks:
 * audits in the spool in order with their workload fields, throttled counts, no evaluation
 * before a policy, an invalid policy never replaces a valid one, the persisted policy reloaded
 * after a restart, events held until the inventory knows their container (or the hold times out),
 * batches and the in-flight bound, acknowledged records never offered again, relearn, host events
 * under the host policy, prevent/block that could not be enforced reported honestly, and the
 * status without a sensor.
 */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <garrison/proto.h>

#include "../../defender/audit.h"
#include "../../defender/rtengine.h"

#define CID "af4f842fa86bf94841d5ec91a2e8e814f5802ada7ccaae0ef996b8be45f85689"

static char recording[4096];

static void find_recording(void)
{
	char self[3072];
	ssize_t n;

	if (access("tests/data/sensor/recording.jsonl", R_OK) == 0) {
		snprintf(recording, sizeof(recording), "tests/data/sensor/recording.jsonl");
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = 0;
	snprintf(recording, sizeof(recording), "%.3000s/../../../tests/data/sensor/recording.jsonl", self);
}

static void tmpdir(char *out, size_t size)
{
	snprintf(out, size, "/tmp/h2-rt-XXXXXX");
	if (mkdtemp(out) == NULL)
		out[0] = 0;
}

static void rmrf(const char *dir)
{
	char cmd[600];

	if (dir[0] == 0 || strncmp(dir, "/tmp/h2-rt-", 11) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  cannot remove %s\n", dir);
}

static struct rtengine *engine(const char *dir, const char *backend, const char *replay, int hold_ms)
{
	struct rtengine_config c = {
		.data_dir = dir,
		.hostname = "node-1",
		.cluster = "c1",
		.backend = backend,
		.replay_path = replay,
		.learn_ns = 3600ull * 1000000000ull,
		.hold_ms = hold_ms,
		.profiles_ms = 1,
		.replay_lossless = 1,
	};
	struct rtengine *e = NULL;
	char err[300] = "";
	int r = rtengine_new(&c, &e, err, sizeof(err));

	if (r < 0)
		fprintf(stderr, "  rtengine_new: %d %s\n", r, err);
	return e;
}

/* Runs rounds until the sensor has ended and nothing is held (at most ~10 s). */
static void drain(struct rtengine *e)
{
	for (int i = 0; i < 1000; i++)
		if (rtengine_step(e, 10) == -EPIPE)
			return;
	fprintf(stderr, "  drain: the engine did not settle\n");
}

static json_t *container_msg(const char *type)
{
	return json_pack("{s:s,s:i,s:i,s:[{s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:[]}],s:[]}", "type", type,
			 "part", 1, "parts", 1, "containers", "id", CID, "name", "h6-sb", "image",
			 "test/busybox:1", "state", "running", "startTime", "2026-11-27T07:37:18.5Z",
			 "namespace", "payments", "labels", "app:web", "mounts", "images");
}

static json_t *policy(int rev, const char *cont_rules_json)
{
	json_t *rules = json_loads(cont_rules_json, 0, NULL);

	return json_pack("{s:s,s:i,s:{s:s,s:o},s:n}", "type", PROTO_RT_POLICY, "revision", rev,
			 "container", "_id", "containerRuntime", "rules", rules, "host");
}

/* Every record the engine offers, acking each batch (a fake Console). */
static json_t *all_audits(struct rtengine *e, int ack)
{
	json_t *all = json_array(), *m;

	rtengine_session_begin(e);
	while ((m = rtengine_audits_next(e)) != NULL) {
		json_t *recs = json_object_get(m, "records");
		size_t n = json_array_size(recs);
		json_array_extend(all, recs);
		if (ack && n)
			rtengine_audits_ack(e, (uint64_t)json_integer_value(
						       json_object_get(json_array_get(recs, n - 1), "seq")));
		json_decref(m);
	}
	return all;
}

#define RULES1 "[{\"name\":\"r1\",\"processes\":{\"deniedList\":{\"paths\":[\"nc\"],\"effect\":\"alert\"}}," \
	"\"dns\":{\"domainList\":{\"denied\":[\"h6-probe.example.test\"],\"effect\":\"alert\"}}," \
	"\"filesystem\":{\"deniedList\":{\"paths\":[\"/tmp/drop\"],\"effect\":\"alert\"}}}]"

static struct rtengine *engine_with_policy(const char *dir, const char *replay, const char *rules)
{
	struct rtengine *e = engine(dir, replay ? "replay" : NULL, replay, 0);
	char err[300] = "";
	json_t *m;

	if (e == NULL)
		return NULL;
	m = policy(1, rules);
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), 0);
	json_decref(m);
	return e;
}

static void send_inventory(struct rtengine *e)
{
	json_t *m = container_msg("inventory");

	rtengine_on_inventory(e, m);
	json_decref(m);
}

/* engine_with_policy(), then the container's inventory, then the recording drained: the
 * engine has decided every replayed event. NULL when it does not start. */
static struct rtengine *engine_replayed(const char *dir, const char *replay, const char *rules)
{
	struct rtengine *e = engine_with_policy(dir, replay, rules);

	if (e == NULL)
		return NULL;
	send_inventory(e);
	drain(e);
	return e;
}

static const char *rs(const json_t *a, size_t i, const char *key)
{
	const char *s = json_string_value(json_object_get(json_array_get(a, i), key));
	return s ? s : "(none)";
}

static long long ri(const json_t *a, size_t i, const char *key)
{
	return (long long)json_integer_value(json_object_get(json_array_get(a, i), key));
}

static long long status_int(struct rtengine *e, const char *obj, const char *key)
{
	json_t *st = rtengine_status_json(e);
	long long v = (long long)json_integer_value(json_object_get(json_object_get(st, obj), key));

	json_decref(st);
	return v;
}

static void status_str(struct rtengine *e, const char *obj, const char *key, char *out, size_t size)
{
	json_t *st = rtengine_status_json(e);
	const char *v = json_string_value(json_object_get(json_object_get(st, obj), key));

	snprintf(out, size, "%s", v ? v : "(none)");
	json_decref(st);
}

/* A policy arrives, the recording is replayed: the first audit of each kind at once, in order,
 * with the workload's fields; repeats only counted, their updates (count 2) spooled when the
 * throttle closes at stop. Read back after a restart, in sequence order. */
T_TEST(replay_audits_in_order)
{
	char dir[64];
	struct rtengine *e;
	json_t *a;

	tmpdir(dir, sizeof(dir));
	e = engine_replayed(dir, recording, RULES1);
	T_CHECK(e != NULL);
	if (e == NULL)
		return;
	T_CHECK_INT(status_int(e, "spool", "nextSeq"), 4); /* 3 audits; the repeats are counted */
	rtengine_free(e);

	e = engine(dir, NULL, NULL, 0);
	a = all_audits(e, 0);
	T_CHECK_INT(json_array_size(a), 6);
	for (size_t i = 0; i < json_array_size(a); i++) {
		T_CHECK_INT(ri(a, i, "seq"), (long long)i + 1);
		T_CHECK_STR(rs(a, i, "kind"), "container");
		T_CHECK_STR(rs(a, i, "containerId"), CID);
		T_CHECK_STR(rs(a, i, "containerName"), "h6-sb");
		T_CHECK_STR(rs(a, i, "imageName"), "test/busybox:1");
		T_CHECK_STR(rs(a, i, "namespace"), "payments");
		T_CHECK_STR(rs(a, i, "cluster"), "c1");
		T_CHECK_STR(rs(a, i, "hostname"), "node-1");
		T_CHECK_STR(rs(a, i, "effect"), "alert");
		T_CHECK_STR(rs(a, i, "ruleName"), "r1");
		T_CHECK_STR(rs(a, i, "user"), "root");
		T_CHECK_INT(ri(a, i, "count"), i < 3 ? 1 : 2);
		T_CHECK(json_object_get(json_array_get(a, i), "timeNs") == NULL);
	}
	T_CHECK_STR(rs(a, 0, "attackType"), "explicitlyDeniedProcess");
	T_CHECK_STR(rs(a, 0, "processPath"), "/bin/nc");
	T_CHECK_STR(rs(a, 0, "type"), "processes");
	T_CHECK_STR(rs(a, 1, "attackType"), "explicitlyDeniedDNS");
	T_CHECK_STR(rs(a, 1, "processPath"), "/bin/nslookup"); /* a DNS query: its process's exec */
	T_CHECK_STR(rs(a, 2, "attackType"), "explicitlyDeniedFile");
	T_CHECK_STR(rs(a, 2, "msg"), "write of /tmp/drop/echo is explicitly denied by rule r1");
	T_CHECK_STR(rs(a, 2, "processPath"), "cp"); /* cp was not exec'd (a busybox applet of sh) */
	T_CHECK_STR(rs(a, 3, "attackType"), "explicitlyDeniedProcess");
	T_CHECK_STR(rs(a, 4, "attackType"), "explicitlyDeniedDNS");
	T_CHECK_STR(rs(a, 5, "attackType"), "explicitlyDeniedFile");
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	T_CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* Events the sensor folded stand for 1 + repeats occurrences: the first audit says how many, the
 * throttle's update adds the later ones. */
T_TEST(folded_events_counted)
{
	char dir[64], rec[128];
	struct rtengine *e;
	json_t *a;

	tmpdir(dir, sizeof(dir));
	snprintf(rec, sizeof(rec), "%s/folded.jsonl", dir);
	write_file(rec,
		   "{\"type\":\"file\",\"time_ns\":1795762640000000000,\"container\":\"" CID "\",\"pid\":50,"
		   "\"tgid\":50,\"uid\":0,\"comm\":\"sh\",\"repeats\":4,\"op\":\"open\",\"path\":\"/tmp/drop/log\","
		   "\"flags\":1089,\"mode\":438,\"dirfd\":-100,\"result\":0}\n"
		   "{\"type\":\"file\",\"time_ns\":1795762641000000000,\"container\":\"" CID "\",\"pid\":50,"
		   "\"tgid\":50,\"uid\":0,\"comm\":\"sh\",\"repeats\":2,\"op\":\"open\",\"path\":\"/tmp/drop/log\","
		   "\"flags\":1089,\"mode\":438,\"dirfd\":-100,\"result\":0}\n"
		   "{\"type\":\"file\",\"time_ns\":1795762642000000000,\"container\":\"" CID "\",\"pid\":50,"
		   "\"tgid\":50,\"uid\":0,\"comm\":\"sh\",\"op\":\"open\",\"path\":\"/tmp/drop/log\","
		   "\"flags\":1089,\"mode\":438,\"dirfd\":-100,\"result\":0}\n");
	e = engine_replayed(dir, rec, RULES1);
	if (e == NULL)
		return;
	a = all_audits(e, 0);
	T_CHECK_INT(json_array_size(a), 1);
	T_CHECK_STR(rs(a, 0, "attackType"), "explicitlyDeniedFile");
	T_CHECK_INT(ri(a, 0, "count"), 5);
	json_decref(a);
	rtengine_free(e); /* closes the throttle's window: its update is spooled */

	e = engine(dir, NULL, NULL, 0);
	a = all_audits(e, 0);
	T_CHECK_INT(json_array_size(a), 2);
	T_CHECK_INT(ri(a, 1, "count"), 9);
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);
}

/* Before any policy is known nothing is evaluated (source "none"), and nothing is spooled. */
T_TEST(no_policy_no_audits)
{
	char dir[64], src[32];
	struct rtengine *e;

	tmpdir(dir, sizeof(dir));
	e = engine(dir, "replay", recording, 0);
	T_CHECK(e != NULL);
	if (e == NULL)
		return;
	send_inventory(e);
	drain(e);
	status_str(e, "policy", "source", src, sizeof(src));
	T_CHECK_STR(src, "none");
	T_CHECK_INT(status_int(e, "spool", "nextSeq"), 1);
	T_CHECK(rtengine_audits_next(e) == NULL);
	rtengine_free(e);
	rmrf(dir);
}

/* An invalid policy is refused with a sentence, reported in the status, and the valid one stays
 * in force (in memory and on disk). */
T_TEST(invalid_policy_keeps_previous)
{
	char dir[64], err[300] = "", path[128], *text = NULL, val[300];
	struct rtengine *e;
	json_t *m, *disk;
	FILE *f;
	long n;

	tmpdir(dir, sizeof(dir));
	e = engine_with_policy(dir, recording, RULES1);
	if (e == NULL)
		return;
	m = policy(2, "[{\"name\":\"bad\",\"processes\":{\"deniedList\":{\"paths\":[\"nc\"],\"effect\":\"explode\"}}}]");
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), -EINVAL);
	json_decref(m);
	T_CHECK(strstr(err, "container") != NULL && strstr(err, "effect") != NULL);
	m = json_pack("{s:s,s:i,s:n,s:{s:[{s:s,s:{}}]}}", "type", PROTO_RT_POLICY, "revision", 3,
		      "container", "host", "rules", "name", "h", "nosuch");
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "host") != NULL);
	json_decref(m);
	T_CHECK_INT(status_int(e, "policy", "revision"), 1);
	T_CHECK_INT(status_int(e, "policy", "rules"), 1);
	status_str(e, "policy", "error", val, sizeof(val));
	T_CHECK(strstr(val, "host") != NULL);
	status_str(e, "policy", "source", val, sizeof(val));
	T_CHECK_STR(val, "console");
	snprintf(path, sizeof(path), "%s/runtime-policy.json", dir);
	f = fopen(path, "r");
	T_CHECK(f != NULL);
	if (f) {
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		text = calloc(1, (size_t)n + 1);
		if (text && fread(text, 1, (size_t)n, f) != (size_t)n)
			text[0] = 0;
		fclose(f);
	}
	disk = text ? json_loads(text, 0, NULL) : NULL;
	T_CHECK_INT(json_integer_value(json_object_get(disk, "revision")), 1);
	json_decref(disk);
	free(text);
	/* and it is the one enforced */
	send_inventory(e);
	drain(e);
	T_CHECK_INT(status_int(e, "spool", "nextSeq"), 4);
	rtengine_free(e);
	rmrf(dir);
}

/* After a restart without the Console, the stored policy is in force (source "disk"); a damaged
 * file leaves no policy, with the reason in the status. */
T_TEST(restart_uses_stored_policy)
{
	char dir[64], val[300], path[128];
	struct rtengine *e;
	FILE *f;

	tmpdir(dir, sizeof(dir));
	e = engine_with_policy(dir, NULL, RULES1);
	rtengine_free(e);
	e = engine(dir, "replay", recording, 0);
	T_CHECK(e != NULL);
	if (e == NULL)
		return;
	status_str(e, "policy", "source", val, sizeof(val));
	T_CHECK_STR(val, "disk");
	T_CHECK_INT(status_int(e, "policy", "revision"), 1);
	send_inventory(e);
	drain(e);
	T_CHECK_INT(status_int(e, "spool", "nextSeq"), 4);
	rtengine_free(e);

	snprintf(path, sizeof(path), "%s/runtime-policy.json", dir);
	f = fopen(path, "w");
	if (f) {
		fputs("{\"revision\": 4, \"container\": {\"rules\": [", f);
		fclose(f);
	}
	e = engine(dir, NULL, NULL, 0);
	status_str(e, "policy", "source", val, sizeof(val));
	T_CHECK_STR(val, "none");
	status_str(e, "policy", "error", val, sizeof(val));
	T_CHECK(strstr(val, "runtime-policy.json") != NULL);
	rtengine_free(e);
	rmrf(dir);
}

/* Events of a container the inventory does not know are held: evaluated with its workload when
 * the inventory describes it, or with its id only when the hold times out. */
T_TEST(held_until_inventory)
{
	char dir[64], err[300];
	struct rtengine *e;
	json_t *a, *m;
	int64_t t0;

	tmpdir(dir, sizeof(dir));
	e = engine(dir, "replay", recording, 10000);
	if (e == NULL)
		return;
	m = policy(1, RULES1);
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), 0);
	json_decref(m);
	for (int i = 0; i < 100; i++)
		rtengine_step(e, 5);
	T_CHECK_INT(status_int(e, "spool", "nextSeq"), 1); /* all held */
	send_inventory(e);
	drain(e);
	a = all_audits(e, 1);
	T_CHECK_INT(json_array_size(a), 3);
	T_CHECK_STR(rs(a, 0, "imageName"), "test/busybox:1");
	T_CHECK_STR(rs(a, 0, "attackType"), "explicitlyDeniedProcess");
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);

	/* Never described: after the hold, evaluated with the container id only. */
	tmpdir(dir, sizeof(dir));
	e = engine(dir, "replay", recording, 300);
	if (e == NULL)
		return;
	m = policy(1, RULES1);
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), 0);
	json_decref(m);
	t0 = time(NULL);
	drain(e);
	T_CHECK(time(NULL) - t0 < 5);
	a = all_audits(e, 1);
	T_CHECK_INT(json_array_size(a), 3);
	T_CHECK_STR(rs(a, 0, "containerId"), CID);
	T_CHECK_STR(rs(a, 0, "imageName"), "");
	T_CHECK_STR(rs(a, 0, "cluster"), "c1");
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);
}

/* A later snapshot without the container, or container-removed, forgets it: its events are held
 * again and judged without its workload. */
T_TEST(snapshot_replaces_workloads)
{
	char dir[64];
	struct rtengine *e;
	json_t *a, *m;

	for (int k = 0; k < 2; k++) {
		tmpdir(dir, sizeof(dir));
		e = engine(dir, "replay", recording, 300);
		if (e == NULL)
			return;
		send_inventory(e);
		if (k == 0)
			m = json_pack("{s:s,s:i,s:i,s:[],s:[]}", "type", "inventory", "part", 1, "parts",
				      1, "containers", "images");
		else
			m = json_pack("{s:s,s:s}", "type", "container-removed", "id", CID);
		rtengine_on_inventory(e, m);
		json_decref(m);
		m = policy(1, RULES1);
		T_CHECK_INT(rtengine_set_policy(e, m, NULL, 0), 0);
		json_decref(m);
		drain(e);
		a = all_audits(e, 1);
		T_CHECK_INT(json_array_size(a), 3);
		T_CHECK_STR(rs(a, 0, "imageName"), "");
		T_CHECK_STR(rs(a, 0, "containerId"), CID);
		json_decref(a);
		rtengine_free(e);
		rmrf(dir);
	}
}

/* The workload's start time (Docker's startTime) and a tmpfs /tmp reach the rules: the binary
 * written and run after the start is a modified process; without a start time it is not decided.
 * A "container" message adds a workload. */
T_TEST(workload_fields_reach_rules)
{
	static const char *const starts[] = { "2026-11-27T06:57:19.000000000Z", "0001-01-01T00:00:00Z" };
	char dir[64];

	for (int k = 0; k < 2; k++) {
		struct rtengine *e;
		json_t *a, *m;

		tmpdir(dir, sizeof(dir));
		e = engine_with_policy(dir, recording, "[{\"name\":\"p\",\"processes\":{}}]");
		if (e == NULL)
			return;
		m = json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:s,s:[{s:s,s:s}]}}", "type", "container",
			      "container", "id", CID, "name", "h6-sb", "image", "test/busybox:1", "state",
			      "running", "startTime", starts[k], "mounts", "type", "tmpfs", "destination",
			      "/tmp");
		rtengine_on_inventory(e, m);
		json_decref(m);
		drain(e);
		a = all_audits(e, 1);
		if (k == 0) {
			T_CHECK_INT(json_array_size(a), 1);
			T_CHECK_STR(rs(a, 0, "attackType"), "modifiedProcess");
			T_CHECK_STR(rs(a, 0, "processPath"), "/tmp/drop/echo");
		} else {
			/* no start time: tmpfs decides */
			T_CHECK_INT(json_array_size(a), 1);
			T_CHECK_STR(rs(a, 0, "attackType"), "tmpfsProcess");
		}
		json_decref(a);
		rtengine_free(e);
		rmrf(dir);
	}
}

/* Untrusted input from Docker (through the inventory) and the Console: wrong types, bad ids,
 * too many labels, garbage policies and relearn requests change nothing and crash nothing. */
T_TEST(garbage_in)
{
	static const char *const inv[] = {
		"{\"type\":\"inventory\",\"containers\":7}",
		"{\"type\":\"inventory\",\"part\":\"x\",\"containers\":[1,null,{\"id\":5},{\"id\":\"AF\"}]}",
		"{\"type\":\"container\",\"container\":{\"id\":\"" CID "x\"}}",
		"{\"type\":\"container\",\"container\":[]}",
		"{\"type\":\"container-removed\",\"id\":\"../../etc\"}",
		"{\"type\":\"container-removed\"}",
		"{\"type\":7}",
		"[]",
	};
	static const char *const pol[] = {
		"[]",
		"{\"revision\":\"1\"}",
		"{\"revision\":1,\"container\":5}",
		"{\"revision\":1,\"container\":{\"rules\":[{\"name\":\"\"}]}}",
		"{\"revision\":1,\"host\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
	};
	char dir[64], err[300], val[32];
	struct rtengine *e;
	json_t *m, *labels;

	tmpdir(dir, sizeof(dir));
	e = engine_with_policy(dir, recording, RULES1);
	if (e == NULL)
		return;
	for (size_t i = 0; i < sizeof(inv) / sizeof(inv[0]); i++) {
		m = json_loads(inv[i], 0, NULL);
		T_CHECK(m != NULL);
		rtengine_on_inventory(e, m);
		json_decref(m);
	}
	for (size_t i = 0; i < sizeof(pol) / sizeof(pol[0]); i++) {
		m = json_loads(pol[i], 0, NULL);
		err[0] = 0;
		T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), -EINVAL);
		T_CHECK(err[0] != 0);
		json_decref(m);
	}
	m = json_pack("{s:s,s:[i,s]}", "type", PROTO_RT_RELEARN, "profiles", 3, "x");
	T_CHECK_INT(rtengine_relearn(e, m), 0); /* the string is kept, the number skipped */
	json_decref(m);
	/* 1,000 labels of which 128 are kept; the container is known and its events judged */
	m = container_msg("inventory");
	labels = json_object_get(json_array_get(json_object_get(m, "containers"), 0), "labels");
	for (int i = 0; i < 1000; i++)
		json_array_append_new(labels, json_sprintf("k%d:v", i));
	rtengine_on_inventory(e, m);
	json_decref(m);
	drain(e);
	T_CHECK_INT(status_int(e, "policy", "revision"), 1);
	status_str(e, "policy", "source", val, sizeof(val));
	T_CHECK_STR(val, "console");
	m = all_audits(e, 1);
	T_CHECK_INT(json_array_size(m), 3);
	T_CHECK_STR(rs(m, 0, "imageName"), "test/busybox:1");
	json_decref(m);
	rtengine_free(e);
	rmrf(dir);
}

static void prefill_spool(const char *dir, int n)
{
	char sdir[128], err[200];
	struct audit_spool *sp = NULL;
	struct audit_record r;

	snprintf(sdir, sizeof(sdir), "%s/audits", dir);
	T_CHECK_INT(audit_spool_open(sdir, 64u << 20, &sp, err, sizeof(err)), 0);
	memset(&r, 0, sizeof(r));
	snprintf(r.type, sizeof(r.type), "processes");
	snprintf(r.attack_type, sizeof(r.attack_type), "explicitlyDeniedProcess");
	snprintf(r.effect, sizeof(r.effect), "alert");
	snprintf(r.hostname, sizeof(r.hostname), "node-1");
	r.count = 1;
	for (int i = 0; sp && i < n; i++) {
		r.time_ns = 1795762638000000000ull + (uint64_t)i;
		r.pid = (uint32_t)i + 1;
		T_CHECK_INT(audit_spool_append_record(sp, &r, NULL), 0);
	}
	audit_spool_close(sp);
}

static long long first_seq(json_t *m)
{
	return (long long)json_integer_value(json_object_get(json_array_get(json_object_get(m, "records"), 0), "seq"));
}

/* Batches of PROTO_RT_AUDITS_BATCH, at most PROTO_RT_AUDITS_INFLIGHT unacknowledged; more as
 * acks come; after a reconnect from the oldest unacknowledged; acknowledged never again, also
 * after a restart. */
T_TEST(batches_inflight_acks)
{
	char dir[64];
	struct rtengine *e;
	json_t *m[6];

	tmpdir(dir, sizeof(dir));
	prefill_spool(dir, 1100);
	e = engine(dir, NULL, NULL, 0);
	if (e == NULL)
		return;
	rtengine_session_begin(e);
	for (int i = 0; i < 5; i++)
		m[i] = rtengine_audits_next(e);
	for (int i = 0; i < 4; i++) {
		T_CHECK_INT(json_array_size(json_object_get(m[i], "records")), PROTO_RT_AUDITS_BATCH);
		T_CHECK_INT(first_seq(m[i]), 1 + i * PROTO_RT_AUDITS_BATCH);
		T_CHECK_STR(json_string_value(json_object_get(m[i], "type")), PROTO_RT_AUDITS);
	}
	T_CHECK(m[4] == NULL); /* 4 in flight */
	T_CHECK_INT(rtengine_audits_ready(e), 0);
	T_CHECK_INT(rtengine_audits_ack(e, 5000), -EINVAL); /* never sent */
	T_CHECK_INT(rtengine_audits_ack(e, 256), 0);
	T_CHECK_INT(rtengine_audits_ready(e), 1);
	m[5] = rtengine_audits_next(e);
	T_CHECK_INT(json_array_size(json_object_get(m[5], "records")), 1100 - 1024);
	T_CHECK_INT(first_seq(m[5]), 1025);
	T_CHECK(rtengine_audits_next(e) == NULL);
	for (int i = 0; i < 6; i++)
		json_decref(m[i]);
	T_CHECK_INT(status_int(e, "spool", "acked"), 256);

	/* reconnect: from the oldest unacknowledged */
	rtengine_session_begin(e);
	m[0] = rtengine_audits_next(e);
	T_CHECK_INT(first_seq(m[0]), 257);
	T_CHECK_INT(rtengine_audits_ack(e, 1100), -EINVAL); /* not sent in this session yet */
	T_CHECK_INT(rtengine_audits_ack(e, 512), 0);
	json_decref(m[0]);
	rtengine_free(e);

	/* restart: the ack survived */
	e = engine(dir, NULL, NULL, 0);
	rtengine_session_begin(e);
	m[0] = rtengine_audits_next(e);
	T_CHECK_INT(first_seq(m[0]), 513);
	json_decref(m[0]);
	json_decref(all_audits(e, 1));
	T_CHECK_INT(status_int(e, "spool", "acked"), 1100);
	rtengine_session_begin(e);
	T_CHECK(rtengine_audits_next(e) == NULL);
	rtengine_free(e);
	rmrf(dir);
}

static json_t *profiles(struct rtengine *e, int force)
{
	json_t *m = rtengine_profiles_json(e, force), *p;

	if (m == NULL)
		return NULL;
	p = json_incref(json_object_get(m, "profiles"));
	json_decref(m);
	return p;
}

/* An engine in dir that learned the recording's one model: its profiles in *p, its _id in id;
 * NULL when the engine does not start. */
static struct rtengine *learned_engine(char *dir, size_t dirlen, char *id, size_t idlen, json_t **p)
{
	struct rtengine *e;

	tmpdir(dir, dirlen);
	e = engine_replayed(dir, recording, RULES1);
	if (e == NULL)
		return NULL;
	rtengine_step(e, 5);
	*p = profiles(e, 1);
	T_CHECK_INT(json_array_size(*p), 1);
	snprintf(id, idlen, "%s", rs(*p, 0, "_id"));
	return e;
}

/* Models learn from the replay; runtime-profiles carries them; relearn by _id and all resets. */
T_TEST(profiles_and_relearn)
{
	char dir[64], id[1600];
	struct rtengine *e;
	json_t *p, *m;

	e = learned_engine(dir, sizeof(dir), id, sizeof(id), &p);
	if (e == NULL)
		return;
	T_CHECK_STR(rs(p, 0, "image"), "test/busybox:1");
	T_CHECK_STR(rs(p, 0, "namespace"), "payments");
	T_CHECK_STR(rs(p, 0, "state"), "learning");
	T_CHECK(json_array_size(json_object_get(json_object_get(json_array_get(p, 0), "processes"), "static")) >= 3);
	json_decref(p);
	{
		json_t *st = rtengine_status_json(e);
		T_CHECK_INT(json_integer_value(json_object_get(json_object_get(st, "models"), "count")), 1);
		T_CHECK_INT(json_integer_value(json_object_get(json_object_get(st, "models"), "learning")), 1);
		T_CHECK_INT(json_integer_value(json_object_get(json_object_get(st, "models"), "active")), 0);
		json_decref(st);
	}
	T_CHECK(rtengine_profiles_json(e, 0) == NULL); /* nothing changed since */

	m = json_pack("{s:[s]}", "profiles", id);
	T_CHECK_INT(rtengine_relearn(e, m), 0);
	json_decref(m);
	rtengine_step(e, 5);
	p = profiles(e, 0);
	T_CHECK(p != NULL); /* changed */
	T_CHECK_INT(json_array_size(json_object_get(json_object_get(json_array_get(p, 0), "processes"), "static")), 0);
	json_decref(p);
	m = json_object();
	T_CHECK_INT(rtengine_relearn(e, m), -EINVAL);
	json_decref(m);
	m = json_pack("{s:b}", "all", 1);
	T_CHECK_INT(rtengine_relearn(e, m), 0);
	json_decref(m);
	rtengine_step(e, 5);
	rtengine_free(e);
	rmrf(dir);
}

/* The learned models survive a restart (<data>/runtime-models.json); a damaged file is set aside
 * and learning starts again. */
T_TEST(models_survive_restart)
{
	char dir[64], id[1600], path[128], bad[140];
	struct rtengine *e;
	json_t *p;
	size_t nprocs;
	struct stat st;

	e = learned_engine(dir, sizeof(dir), id, sizeof(id), &p);
	if (e == NULL)
		return;
	nprocs = json_array_size(json_object_get(json_object_get(json_array_get(p, 0), "processes"), "static"));
	T_CHECK(nprocs >= 3);
	json_decref(p);
	rtengine_free(e);
	snprintf(path, sizeof(path), "%s/runtime-models.json", dir);
	T_CHECK_INT(stat(path, &st), 0);

	/* No sensor this time: what the profiles show comes from the file. */
	e = engine(dir, NULL, NULL, 0);
	T_CHECK(e != NULL);
	if (e == NULL)
		return;
	rtengine_step(e, 5);
	p = profiles(e, 1);
	T_CHECK_INT(json_array_size(p), 1);
	T_CHECK_STR(rs(p, 0, "_id"), id);
	/* The recording's events are hours old: the hour of learning that began with them is over
	 * by the clock of an engine that has seen no event since. */
	T_CHECK_STR(rs(p, 0, "state"), "active");
	T_CHECK_INT(json_array_size(json_object_get(json_object_get(json_array_get(p, 0), "processes"), "static")),
		    nprocs);
	json_decref(p);
	T_CHECK_INT(status_int(e, "models", "count"), 1);
	rtengine_free(e);

	write_file(path, "{\"version\":1,\"models\":[{\"image\":5}]}");
	e = engine(dir, NULL, NULL, 0);
	T_CHECK(e != NULL);
	if (e == NULL)
		return;
	rtengine_step(e, 5);
	p = profiles(e, 1);
	T_CHECK_INT(json_array_size(p), 0);
	json_decref(p);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	T_CHECK_INT(stat(bad, &st), 0);
	rtengine_free(e);
	rmrf(dir);
}

/* A host event is judged by the host policy (kind "host", no container fields), a container
 * event by the container policy only. */
T_TEST(host_policy)
{
	char dir[64], rec[128], err[300] = "";
	struct rtengine *e;
	json_t *m, *a;

	tmpdir(dir, sizeof(dir));
	snprintf(rec, sizeof(rec), "%s/host.jsonl", dir);
	write_file(rec,
		   "{\"type\":\"exec\",\"time_ns\":1795762640000000000,\"container\":\"\",\"pid\":42,\"tgid\":42,"
		   "\"uid\":1000,\"comm\":\"nc\",\"filename\":\"/usr/bin/nc\",\"argv\":[\"nc\",\"-l\"]}\n"
		   "{\"type\":\"exec\",\"time_ns\":1795762640100000000,\"container\":\"" CID "\",\"pid\":43,"
		   "\"tgid\":43,\"uid\":0,\"comm\":\"nc\",\"filename\":\"/bin/nc\",\"argv\":[\"nc\"]}\n");
	e = engine(dir, "replay", rec, 0);
	if (e == NULL)
		return;
	m = json_pack("{s:s,s:i,s:{s:[]},s:{s:s,s:[{s:s,s:{s:{s:[s],s:s}}}]}}", "type",
		      PROTO_RT_POLICY, "revision", 7, "container", "rules", "host", "_id", "hostRuntime",
		      "rules", "name", "h1", "antiMalware", "deniedProcesses", "paths", "nc", "effect",
		      "alert");
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "  %s\n", err);
	json_decref(m);
	T_CHECK_INT(status_int(e, "policy", "hostRules"), 1);
	send_inventory(e);
	drain(e);
	a = all_audits(e, 1);
	T_CHECK_INT(json_array_size(a), 1);
	T_CHECK_STR(rs(a, 0, "kind"), "host");
	T_CHECK_STR(rs(a, 0, "containerId"), "");
	T_CHECK_STR(rs(a, 0, "hostname"), "node-1");
	T_CHECK_STR(rs(a, 0, "ruleName"), "h1");
	T_CHECK_STR(rs(a, 0, "attackType"), "explicitlyDeniedProcess");
	T_CHECK_STR(rs(a, 0, "processPath"), "/usr/bin/nc");
	T_CHECK_STR(rs(a, 0, "user"), "1000");
	T_CHECK_INT(ri(a, 0, "pid"), 42);
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);
}

/* prevent on an operation the sensor saw after the fact, and block without enforcement, are
 * reported as alerts that say so. */
T_TEST(prevent_block_reported_honestly)
{
	char dir[64];
	struct rtengine *e;
	json_t *a;

	tmpdir(dir, sizeof(dir));
	e = engine_replayed(dir, recording,
			    "[{\"name\":\"p\",\"processes\":{\"deniedList\":{\"paths\":[\"nc\"],\"effect\":\"prevent\"}},"
			    "\"dns\":{\"domainList\":{\"denied\":[\"h6-probe.example.test\"],\"effect\":\"block\"}}}]");
	if (e == NULL)
		return;
	a = all_audits(e, 1);
	T_CHECK_INT(json_array_size(a), 2);
	T_CHECK_STR(rs(a, 0, "attackType"), "explicitlyDeniedProcess");
	T_CHECK_STR(rs(a, 0, "effect"), "alert");
	T_CHECK(strstr(rs(a, 0, "msg"), "prevent was not possible") != NULL);
	T_CHECK_STR(rs(a, 1, "attackType"), "explicitlyDeniedDNS");
	T_CHECK_STR(rs(a, 1, "effect"), "alert");
	T_CHECK(strstr(rs(a, 1, "msg"), "block failed: enforcement is off") != NULL);
	json_decref(a);
	rtengine_free(e);
	rmrf(dir);
}

/* Without a sensor the engine says why and still delivers the spool; status has every part. */
T_TEST(no_sensor_status)
{
	char dir[64], val[600];
	struct rtengine *e;
	json_t *st, *m;

	tmpdir(dir, sizeof(dir));
	prefill_spool(dir, 2);
	/* A recording that is not there: the replay back end does not open (and, a test back end,
	 * has no fallback). */
	e = engine(dir, "replay", "/tmp/h2-rt-no-such-recording.jsonl", 0);
	if (e == NULL)
		return;
	T_CHECK_INT(rtengine_step(e, 5), -EPIPE);
	status_str(e, "sensor", "backend", val, sizeof(val));
	T_CHECK_STR(val, "none");
	status_str(e, "sensor", "error", val, sizeof(val));
	T_CHECK(strstr(val, "no-such-recording") != NULL);
	st = rtengine_status_json(e);
	T_CHECK_STR(json_string_value(json_object_get(st, "type")), PROTO_RT_STATUS);
	T_CHECK(json_is_object(json_object_get(st, "enforcement")));
	T_CHECK_INT(json_integer_value(json_object_get(json_object_get(st, "spool"), "nextSeq")), 3);
	T_CHECK(json_is_integer(json_object_get(json_object_get(st, "spool"), "dropped")));
	T_CHECK(json_is_integer(json_object_get(json_object_get(st, "spool"), "corrupt")));
	T_CHECK(json_is_integer(json_object_get(json_object_get(st, "spool"), "bytes")));
	T_CHECK(json_is_string(json_object_get(json_object_get(st, "policy"), "error")));
	json_decref(st);
	rtengine_session_begin(e);
	m = rtengine_audits_next(e);
	T_CHECK_INT(json_array_size(json_object_get(m, "records")), 2);
	T_CHECK_STR(rs(json_object_get(m, "records"), 0, "kind"), "host");
	json_decref(m);
	rtengine_free(e);

	/* The replay back end's status while it runs. */
	e = engine(dir, "replay", recording, 0);
	status_str(e, "sensor", "backend", val, sizeof(val));
	T_CHECK_STR(val, "replay");
	rtengine_free(e);
	rmrf(dir);
}

/* Started as a thread, the engine wakes the uplink when audits are spooled. */
static int woken;
static void on_wake(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&woken, 1, __ATOMIC_SEQ_CST);
}

T_TEST(thread_wakes_uplink)
{
	char dir[64], err[300];
	struct rtengine_config c = {
		.hostname = "node-1",
		.backend = "replay",
		.replay_path = recording,
		.learn_ns = 3600ull * 1000000000ull,
		.wake = on_wake,
	};
	struct rtengine *e = NULL;
	json_t *m;

	tmpdir(dir, sizeof(dir));
	c.data_dir = dir;
	T_CHECK_INT(rtengine_new(&c, &e, err, sizeof(err)), 0);
	if (e == NULL)
		return;
	m = policy(1, RULES1);
	T_CHECK_INT(rtengine_set_policy(e, m, err, sizeof(err)), 0);
	json_decref(m);
	send_inventory(e);
	T_CHECK_INT(rtengine_start(e), 0);
	/* The wake-up comes at the end of the engine's round, after the spool append. */
	for (int i = 0; i < 200 && !(rtengine_audits_ready(e) &&
				     __atomic_load_n(&woken, __ATOMIC_SEQ_CST) > 0); i++)
		usleep(20 * 1000);
	T_CHECK_INT(rtengine_audits_ready(e), 1);
	T_CHECK(__atomic_load_n(&woken, __ATOMIC_SEQ_CST) > 0);
	rtengine_free(e);
	rmrf(dir);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(replay_audits_in_order),
		T_CASE(folded_events_counted),
		T_CASE(no_policy_no_audits),
		T_CASE(invalid_policy_keeps_previous),
		T_CASE(restart_uses_stored_policy),
		T_CASE(held_until_inventory),
		T_CASE(snapshot_replaces_workloads),
		T_CASE(workload_fields_reach_rules),
		T_CASE(garbage_in),
		T_CASE(batches_inflight_acks),
		T_CASE(profiles_and_relearn), T_CASE(models_survive_restart),
		T_CASE(host_policy),
		T_CASE(prevent_block_reported_honestly),
		T_CASE(no_sensor_status),
		T_CASE(thread_wakes_uplink),
	};

	find_recording();
	return t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
