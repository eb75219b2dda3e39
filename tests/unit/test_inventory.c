/*
 * test_inventory: the Docker inventory (defender/inventory.c, defender/docker.c, lib/hostinfo.c).
 *
 * Three layers:
 *  - the record builders, fed with real answers recorded from Docker Engine 20.10 and real
 *    /proc/PID/net/tcp{,6} tables (tests/data/docker, see PROVENANCE.md there), and with garbage
 *    made from them (wrong types, huge values, missing members);
 *  - the Engine API client against a fake engine: libevent evhttp on a unix socket in a thread of
 *    this process, serving the recorded answers, streaming events chunk by chunk, and garbage
 *    (truncated JSON, an over-long event line, a body over the limit, a peer that is not HTTP);
 *  - the whole inventory thread against the fake engine: snapshot, events, engine restart,
 *    garbage, an absent engine, resync and stop.
 * Nothing leaves this machine: every socket is a unix socket in a fresh temporary directory.
 *
 * The data directory is $GARRISON_DOCKER_TEST_DATA, else ./tests/data/docker, else three levels
 * above this binary.
 */
#include "t.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <jansson.h>

#include <garrison/hostinfo.h>
#include <garrison/log.h>
#include <garrison/util.h>

#include "../../defender/cproc.h"
#include "../../defender/docker.h"
#include "../../defender/inventory.h"

#define ID_ECS "318dbc550856793d6c651aa3f3b78c03c0baf40f3ca9af816482b2c5a040c809"
#define ID_K8S "fd5abbb8db5b0b5d321cea0570340bacaa7bcea3323cb9add835c717c64530c1"
#define ID_PRIV "86914d2c9c5c4811739f4bf454f00dc21bcec76bd84f35c9cbace4338d92f9d7"
#define ID_HOSTNET "2e6a41034096d5da29a0dab22d4d55103966465d70017bb7560b2ab5f23febcf"
#define ID_EVT "2272cb439ed369639299e0dcb22246e44fbc7800b484986a6d6f3e2994c8b31d"
#define IMG_BB1 "sha256:0c75fcd7f5175b81092ef2e452e145a751c0ecb48916da32b2893b68dd6ec155"
#define IMG_DANGLING "sha256:fc8c718de3e56c92591e63603833cf92463fed7eaaa5e6814efb1cf11fdacde8"
/* A pid the kernel never hands out (pid_max is at most 4194304): the fake engine reports it so
 * that the inventory's /proc lookups find nothing on the machine running the test. */
#define NO_PID 4194304

static char data_dir[PATH_MAX];
static char tmp_dir[64];

/* ================================================================================================
 * Set-up and data
 * ============================================================================================== */

static void find_data(void)
{
	const char *env = getenv("GARRISON_DOCKER_TEST_DATA");
	char self[PATH_MAX], guess[PATH_MAX * 2];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (env != NULL && env[0] != '\0')
		snprintf(guess, sizeof(guess), "%s", env);
	else if (access("tests/data/docker/PROVENANCE.md", R_OK) == 0)
		snprintf(guess, sizeof(guess), "tests/data/docker");
	else
		snprintf(guess, sizeof(guess), "%s/../../../tests/data/docker", self);
	if (realpath(guess, data_dir) == NULL)
		snprintf(data_dir, sizeof(data_dir), "%.*s", PATH_MAX - 1, guess);
}

static char *read_data(const char *rel, size_t *len)
{
	char path[PATH_MAX * 2];
	char *buf = NULL;
	size_t l = 0;

	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	if (util_read_file(path, 64u << 20, &buf, &l) < 0) {
		fprintf(stderr, "  cannot read %s\n", path);
		return NULL;
	}
	if (len)
		*len = l;
	return buf;
}

static json_t *load_json(const char *rel)
{
	char path[PATH_MAX * 2];
	json_error_t je;
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	if (strncmp(rel, "containers/top-", 15) == 0 && access(path, R_OK) != 0)
		return NULL; /* a container that was not running has no top answer */
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		fprintf(stderr, "  cannot load %s: %s\n", path, je.text);
	return j;
}

static int contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static const char *sget(const json_t *o, const char *path)
{
	char buf[256], *save = NULL, *tok;
	const json_t *x = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && x; tok = strtok_r(NULL, ".", &save))
		x = json_object_get(x, tok);
	return json_string_value(x);
}

static const json_t *jget(const json_t *o, const char *path)
{
	char buf[256], *save = NULL, *tok;
	const json_t *x = o;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && x; tok = strtok_r(NULL, ".", &save))
		x = json_object_get(x, tok);
	return x;
}

/* 1 when the JSON array arr holds the string s. */
static int has_str(const json_t *arr, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* The port entry of rec with this container port and host IP ("" = any). */
static const json_t *find_port(const json_t *rec, int cport, const char *hostip)
{
	const json_t *ports = jget(rec, "network.ports"), *p;
	size_t i;

	json_array_foreach(ports, i, p) {
		const char *ip = json_string_value(json_object_get(p, "hostIP"));
		if (json_integer_value(json_object_get(p, "container")) != cport)
			continue;
		if (hostip[0] == '\0' || (ip && strcmp(ip, hostip) == 0))
			return p;
	}
	return NULL;
}

/* Facts from a recorded /proc: proc/<name>/net/tcp{,6} and the socket links in fd.txt. */
struct rec_facts {
	struct hostinfo_listen listen[64];
	uint64_t inodes[64];
	struct inventory_facts f;
};

static int load_facts(const char *name, struct rec_facts *rf)
{
	char rel[128], *text, *p;
	size_t len;
	int r;

	memset(rf, 0, sizeof(*rf));
	for (int v6 = 0; v6 < 2; v6++) {
		snprintf(rel, sizeof(rel), "proc/%s/net/tcp%s", name, v6 ? "6" : "");
		text = read_data(rel, &len);
		if (text == NULL)
			return -1;
		r = hostinfo_parse_tcp(text, len, v6, rf->listen, 64, &rf->f.nlisten);
		free(text);
		if (r < 0)
			return r;
	}
	snprintf(rel, sizeof(rel), "proc/%s/fd.txt", name);
	text = read_data(rel, &len);
	if (text == NULL)
		return -1;
	for (p = strstr(text, "socket:["); p && rf->f.ninodes < 64; p = strstr(p + 1, "socket:["))
		rf->inodes[rf->f.ninodes++] = strtoull(p + 8, NULL, 10);
	free(text);
	rf->f.listen = rf->listen;
	rf->f.listen_known = 1;
	rf->f.inodes = rf->inodes;
	rf->f.inodes_known = 1;
	return 0;
}

/* Builds the record of a recorded container (inspect-<name>.json, top-<name>.json). */
static json_t *record_of(const char *name, const struct inventory_facts *facts, const char *node_cluster)
{
	char rel[128], err[320] = "";
	json_t *inspect, *top, *procs = NULL, *rec = NULL;
	int r;

	snprintf(rel, sizeof(rel), "containers/inspect-%s.json", name);
	inspect = load_json(rel);
	snprintf(rel, sizeof(rel), "containers/top-%s.json", name);
	top = load_json(rel);
	if (top != NULL && json_object_get(top, "Titles") != NULL) {
		r = inventory_processes(top, &procs, err, sizeof(err));
		T_CHECK_INT(r, 0);
	}
	r = inventory_container_record(inspect, procs, facts, node_cluster, &rec, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "  %s: %s\n", name, err);
	T_CHECK_INT(r, 0);
	json_decref(inspect);
	json_decref(top);
	json_decref(procs);
	return rec;
}

/* ================================================================================================
 * Record builders on recorded answers
 * ============================================================================================== */

T_TEST(container_privileged_ports_mounts_caps)
{
	struct rec_facts rf;
	json_t *rec;
	const json_t *p, *m;

	T_CHECK_INT(load_facts("priv-web", &rf), 0);
	rec = record_of("priv-web", &rf.f, "node-cluster");
	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "id"), ID_PRIV);
	T_CHECK_STR(sget(rec, "name"), "priv-web");
	T_CHECK_STR(sget(rec, "image"), "test/busybox:1");
	T_CHECK_STR(sget(rec, "imageName"), "test/busybox:1");
	T_CHECK_STR(sget(rec, "imageID"), IMG_BB1);
	T_CHECK_STR(sget(rec, "state"), "running");
	T_CHECK_STR(sget(rec, "startTime"), "2026-11-27T04:11:03.955274126Z");
	T_CHECK_STR(sget(rec, "user"), "65534:65534");
	T_CHECK(json_is_true(jget(rec, "privileged")));
	T_CHECK_STR(sget(rec, "networkMode"), "default");
	T_CHECK(json_is_false(jget(rec, "hostNetwork")));
	T_CHECK_STR(sget(rec, "pidMode"), "host");
	T_CHECK(json_is_true(jget(rec, "hostPid")));
	T_CHECK_STR(sget(rec, "ipcMode"), "host");
	T_CHECK(json_is_true(jget(rec, "hostIpc")));
	T_CHECK_INT(json_integer_value(jget(rec, "pid")), 4630);
	T_CHECK_INT(json_array_size(jget(rec, "capAdd")), 2);
	T_CHECK(has_str(jget(rec, "capAdd"), "NET_ADMIN"));
	T_CHECK(has_str(jget(rec, "capAdd"), "SYS_PTRACE"));
	T_CHECK(has_str(jget(rec, "labels"), "tier:web"));
	T_CHECK_STR(sget(rec, "cluster"), "node-cluster");
	T_CHECK_STR(sget(rec, "clusterSource"), "node");
	T_CHECK(jget(rec, "ecs") == NULL);
	/* mounts: a read-only bind, a named volume, a tmpfs */
	T_CHECK_INT(json_array_size(jget(rec, "mounts")), 3);
	m = json_array_get(jget(rec, "mounts"), 0);
	T_CHECK_STR(sget(m, "type"), "bind");
	T_CHECK_STR(sget(m, "source"), "/tmp/gdrec/hostdata");
	T_CHECK_STR(sget(m, "destination"), "/data");
	T_CHECK(json_is_false(json_object_get(m, "rw")));
	m = json_array_get(jget(rec, "mounts"), 1);
	T_CHECK_STR(sget(m, "type"), "volume");
	T_CHECK_STR(sget(m, "name"), "appdata");
	T_CHECK(json_is_true(json_object_get(m, "rw")));
	m = json_array_get(jget(rec, "mounts"), 2);
	T_CHECK_STR(sget(m, "type"), "tmpfs");
	T_CHECK_STR(sget(m, "destination"), "/run/cache");
	/* ports: 127.0.0.1:18080->8080 where nc listens (tcp6 :::8080), 18443->8443 twice, idle */
	T_CHECK_INT(json_array_size(jget(rec, "network.ports")), 3);
	p = find_port(rec, 8080, "127.0.0.1");
	T_CHECK(p != NULL);
	T_CHECK_INT(json_integer_value(json_object_get(p, "host")), 18080);
	T_CHECK(json_is_true(json_object_get(p, "nat")));
	T_CHECK(json_is_true(json_object_get(p, "listening")));
	p = find_port(rec, 8443, "0.0.0.0");
	T_CHECK(p != NULL);
	T_CHECK_INT(json_integer_value(json_object_get(p, "host")), 18443);
	T_CHECK(json_is_false(json_object_get(p, "listening")));
	T_CHECK(find_port(rec, 8443, "::") != NULL);
	/* processes from top, seen from the host: nc as nobody */
	T_CHECK_INT(json_array_size(jget(rec, "processes")), 1);
	p = json_array_get(jget(rec, "processes"), 0);
	T_CHECK_STR(sget(p, "name"), "nc");
	T_CHECK_STR(sget(p, "cmdline"), "nc -l -p 8080");
	T_CHECK_STR(sget(p, "user"), "nobody");
	T_CHECK_INT(json_integer_value(json_object_get(p, "pid")), 4630);
	T_CHECK_INT(json_integer_value(json_object_get(p, "ppid")), 4607);
	T_CHECK_STR(sget(rec, "networkSettings.ipAddress"), "10.231.20.4");
	T_CHECK_STR(sget(json_array_get(jget(rec, "networkSettings.networks"), 0), "name"), "bridge");
	json_decref(rec);
}

T_TEST(container_host_network_listening)
{
	struct rec_facts rf;
	json_t *rec;
	const json_t *p;

	T_CHECK_INT(load_facts("hostnet", &rf), 0);
	/* the host's table holds other listeners (docker-proxy on 18080 and 18443, sshd...) */
	T_CHECK(rf.f.nlisten >= 4);
	rec = record_of("hostnet", &rf.f, "node-cluster");
	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "networkMode"), "host");
	T_CHECK(json_is_true(jget(rec, "hostNetwork")));
	T_CHECK(json_is_false(jget(rec, "privileged")));
	/* only the socket nc holds counts: 18081 */
	T_CHECK_INT(json_array_size(jget(rec, "network.ports")), 1);
	p = find_port(rec, 18081, "");
	T_CHECK(p != NULL);
	T_CHECK_INT(json_integer_value(json_object_get(p, "host")), 18081);
	T_CHECK(json_is_true(json_object_get(p, "listening")));
	T_CHECK(json_is_false(json_object_get(p, "nat")));
	T_CHECK(find_port(rec, 18080, "") == NULL);
	json_decref(rec);

	/* Without the process sockets, none of the host's listeners is claimed. */
	rf.f.inodes_known = 0;
	rec = record_of("hostnet", &rf.f, NULL);
	if (rec == NULL)
		return;
	T_CHECK_INT(json_array_size(jget(rec, "network.ports")), 0);
	T_CHECK(jget(rec, "cluster") == NULL);
	json_decref(rec);
}

T_TEST(container_ecs_labels_override_node_cluster)
{
	json_t *rec = record_of("ecs-curl", NULL, "node-cluster");

	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "cluster"), "pc-ecs-cluster");
	T_CHECK_STR(sget(rec, "clusterSource"), "ecs-label");
	T_CHECK_STR(sget(rec, "ecs.taskArn"),
		    "arn:aws:ecs:us-west-2:111122223333:task/pc-ecs-cluster/158d1c8083dd49d6b527399fd6414f5c");
	T_CHECK_STR(sget(rec, "ecs.taskDefinitionFamily"), "curltest");
	T_CHECK_STR(sget(rec, "ecs.taskDefinitionVersion"), "24");
	T_CHECK_STR(sget(rec, "ecs.containerName"), "curl");
	T_CHECK(has_str(jget(rec, "labels"), "com.amazonaws.ecs.container-name:curl"));
	T_CHECK(json_is_false(jget(rec, "infra")));
	T_CHECK(jget(rec, "namespace") == NULL);
	/* no facts: no "listening" claims */
	T_CHECK_INT(json_array_size(jget(rec, "network.ports")), 0);
	T_CHECK_STR(sget(json_array_get(jget(rec, "processes"), 0), "name"), "sleep");
	json_decref(rec);
}

T_TEST(container_kubernetes_labels)
{
	json_t *rec = record_of("k8s-api", NULL, "node-cluster");

	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "namespace"), "payments");
	T_CHECK_STR(sget(rec, "pod"), "api-7d9f6c-x2x8q");
	T_CHECK_STR(sget(rec, "k8s.containerName"), "api");
	T_CHECK_STR(sget(rec, "k8s.podUID"), "1f0a3c2e-5b7d-4e0a-9c1b-2f3e4d5a6b7c");
	T_CHECK_STR(sget(rec, "cluster"), "node-cluster");
	T_CHECK_STR(sget(rec, "name"), "k8s_api_api-7d9f6c-x2x8q_payments_1f0a3c2e-5b7d-4e0a-9c1b-2f3e4d5a6b7c_0");
	T_CHECK_INT(json_array_size(jget(rec, "labels")), 4);
	/* sorted by key */
	T_CHECK_STR(json_string_value(json_array_get(jget(rec, "labels"), 0)),
		    "io.kubernetes.container.name:api");
	json_decref(rec);
}

T_TEST(container_not_running)
{
	json_t *rec = record_of("exited", NULL, "c");

	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "state"), "exited");
	T_CHECK(jget(rec, "pid") == NULL);
	T_CHECK(jget(rec, "startTime") != NULL);
	T_CHECK_INT(json_array_size(jget(rec, "processes")), 0);
	json_decref(rec);
	rec = record_of("created-only", NULL, "c");
	if (rec == NULL)
		return;
	T_CHECK_STR(sget(rec, "state"), "created");
	T_CHECK(jget(rec, "startTime") == NULL); /* Go's zero time is not a start time */
	json_decref(rec);
}

T_TEST(container_list_matches_inspects)
{
	json_t *list = load_json("containers/list-all.json");
	const json_t *e;
	size_t i;

	T_CHECK_INT(json_array_size(list), 6);
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		T_CHECK(docker_is_container_id(id));
	}
	json_decref(list);
}

/* Changes one member of the priv-web inspect answer (path "A.B", value JSON text, NULL =
 * remove) and expects -EBADMSG with a message holding want. */
static void expect_bad_inspect(const char *path, const char *value, const char *want)
{
	json_t *inspect = load_json("containers/inspect-priv-web.json"), *rec = NULL, *parent;
	char buf[128], *dot, err[320] = "";
	const char *leaf;
	int r;

	if (inspect == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", path);
	parent = inspect;
	leaf = buf;
	while ((dot = strchr(leaf, '.')) != NULL) {
		*dot = '\0';
		parent = json_object_get(parent, leaf);
		leaf = dot + 1;
	}
	if (value == NULL)
		json_object_del(parent, leaf);
	else
		json_object_set_new(parent, leaf, json_loads(value, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL));
	r = inventory_container_record(inspect, NULL, NULL, "c", &rec, err, sizeof(err));
	if (r != -EBADMSG || !contains(err, want))
		fprintf(stderr, "  %s=%s: r=%d err=\"%s\" (want \"%s\")\n", path, value ? value : "(removed)",
			r, err, want);
	T_CHECK_INT(r, -EBADMSG);
	T_CHECK(contains(err, want));
	T_CHECK(rec == NULL);
	json_decref(inspect);
}

T_TEST(container_garbage)
{
	char err[320];
	json_t *rec = NULL, *j;
	char *big;

	expect_bad_inspect("Id", "\"not-an-id\"", "Id is not a container id");
	expect_bad_inspect("Id", "42", "Id is not a string");
	expect_bad_inspect("State", NULL, "State is missing");
	expect_bad_inspect("State", "[]", "State is not an object");
	expect_bad_inspect("State.Pid", "99999999999", "Pid is out of range");
	expect_bad_inspect("State.Pid", "1e300", "Pid is not an integer");
	expect_bad_inspect("State.Pid", "-1", "Pid is out of range");
	expect_bad_inspect("HostConfig.Privileged", "\"yes\"", "Privileged is not a boolean");
	expect_bad_inspect("HostConfig.CapAdd", "{}", "CapAdd is not an array");
	expect_bad_inspect("HostConfig.CapAdd", "[1]", "CapAdd is not a string");
	expect_bad_inspect("Config.Labels", "{\"a\":1}", "label is not a string");
	expect_bad_inspect("Config.Image", NULL, "Image is missing");
	expect_bad_inspect("Mounts", "\"/\"", "Mounts is not an array");
	expect_bad_inspect("Mounts", "[{\"Type\":\"bind\"}]", "Destination is missing");
	expect_bad_inspect("NetworkSettings.Ports", "{\"http\":null}", "malformed key");
	expect_bad_inspect("NetworkSettings.Ports", "{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"99999\"}]}",
			   "malformed HostPort");
	expect_bad_inspect("NetworkSettings.Ports", "{\"80/tcp\":7}", "is not an array");
	expect_bad_inspect("Name", "\"a\\u0000b\"", "Name holds a NUL");

	/* a 300 KiB name */
	big = malloc(300 * 1024 + 3);
	memset(big, 'a', 300 * 1024 + 2);
	big[0] = '"';
	big[300 * 1024 + 1] = '"';
	big[300 * 1024 + 2] = '\0';
	expect_bad_inspect("Name", big, "Name is longer than 256 bytes");
	free(big);

	/* not an object at all */
	j = json_loads("[1,2]", 0, NULL);
	T_CHECK_INT(inventory_container_record(j, NULL, NULL, NULL, &rec, err, sizeof(err)), -EBADMSG);
	T_CHECK(contains(err, "not a JSON object"));
	json_decref(j);
	T_CHECK_INT(inventory_container_record(NULL, NULL, NULL, NULL, &rec, err, sizeof(err)), -EBADMSG);
}

T_TEST(container_bounds_and_shedding)
{
	json_t *inspect = load_json("containers/inspect-k8s-api.json"), *labels, *procs, *rec = NULL;
	char err[320], k[64], *v;
	int r;

	if (inspect == NULL)
		return;
	/* 400 labels, one with a value over the limit: 128 kept, flagged */
	labels = json_object_get(json_object_get(inspect, "Config"), "Labels");
	for (int i = 0; i < 400; i++) {
		snprintf(k, sizeof(k), "zz.label.%03d", i);
		json_object_set_new(labels, k, json_string("value"));
	}
	v = malloc(INVENTORY_LABEL_VALUE_MAX + 2);
	memset(v, 'v', INVENTORY_LABEL_VALUE_MAX + 1);
	v[INVENTORY_LABEL_VALUE_MAX + 1] = '\0';
	json_object_set_new(labels, "aa.huge", json_string(v));
	free(v);
	/* 256 processes with 1 KiB command lines: 256 KiB, over INVENTORY_RECORD_MAX */
	procs = json_array();
	v = malloc(1001);
	memset(v, 'x', 1000);
	v[1000] = '\0';
	for (int i = 0; i < 256; i++)
		json_array_append_new(procs, json_pack("{s:s,s:s,s:i}", "name", "x", "cmdline", v, "pid", i + 1));
	free(v);
	r = inventory_container_record(inspect, procs, NULL, "c", &rec, err, sizeof(err));
	T_CHECK_INT(r, 0);
	if (rec != NULL) {
		T_CHECK(json_dumpb(rec, NULL, 0, JSON_COMPACT) <= INVENTORY_RECORD_MAX);
		T_CHECK(json_is_true(jget(rec, "processesTruncated")));
		T_CHECK_INT(json_array_size(jget(rec, "processes")), 0);
		T_CHECK(json_is_true(jget(rec, "labelsTruncated")));
		T_CHECK_INT(json_array_size(jget(rec, "labels")), INVENTORY_LABELS_MAX);
		/* what was derived from the labels survives */
		T_CHECK_STR(sget(rec, "namespace"), "payments");
	}
	json_decref(rec);
	json_decref(procs);
	json_decref(inspect);
}

T_TEST(top_processes)
{
	static const char *const bad_tops[][2] = {
		{ "{\"Processes\":[]}", "Titles is missing" },
		{ "{\"Titles\":[\"UID\",\"CMD\"],\"Processes\":[]}", "no PID" },
		{ "{\"Titles\":[\"PID\",\"CMD\"],\"Processes\":[[\"1\"]]}", "not an array of 2 strings" },
		{ "{\"Titles\":[\"PID\",\"CMD\"],\"Processes\":[[\"abc\",\"sh\"]]}", "not a process id" },
		{ "{\"Titles\":[\"PID\",\"CMD\"],\"Processes\":[[\"99999999999\",\"sh\"]]}", "not a process id" },
		{ "{\"Titles\":[\"PID\",\"CMD\"],\"Processes\":[[1,\"sh\"]]}", "PID is not a string" },
		{ "{\"Titles\":[\"PID\",\"CMD\"],\"Processes\":{}}", "Processes is not an array" },
		{ "[]", "not a JSON object" },
	};
	char err[320];
	json_t *top, *procs = NULL, *rows;
	int r;

	top = load_json("containers/top-hostnet.json");
	r = inventory_processes(top, &procs, err, sizeof(err));
	T_CHECK_INT(r, 0);
	T_CHECK_INT(json_array_size(procs), 1);
	T_CHECK_STR(sget(json_array_get(procs, 0), "name"), "nc");
	T_CHECK_STR(sget(json_array_get(procs, 0), "user"), "root");
	json_decref(procs);
	json_decref(top);

	for (size_t i = 0; i < ARRAY_SIZE(bad_tops); i++) {
		top = json_loads(bad_tops[i][0], 0, NULL);
		procs = NULL;
		err[0] = '\0';
		r = inventory_processes(top, &procs, err, sizeof(err));
		if (r != -EBADMSG || !contains(err, bad_tops[i][1]))
			fprintf(stderr, "  %s: r=%d err=%s\n", bad_tops[i][0], r, err);
		T_CHECK_INT(r, -EBADMSG);
		T_CHECK(contains(err, bad_tops[i][1]));
		T_CHECK(procs == NULL);
		json_decref(top);
	}

	/* too many rows: cut, and said so; a long command line is cut on a character boundary */
	rows = json_array();
	for (int i = 0; i < 300; i++)
		json_array_append_new(rows, json_pack("[s,s]", "7", "/usr/bin/python3 -m http.server"));
	top = json_pack("{s:[s,s],s:o}", "Titles", "PID", "COMMAND", "Processes", rows);
	r = inventory_processes(top, &procs, err, sizeof(err));
	T_CHECK_INT(r, 1);
	T_CHECK_INT(json_array_size(procs), INVENTORY_PROCESSES_MAX);
	T_CHECK_STR(sget(json_array_get(procs, 0), "name"), "python3");
	json_decref(procs);
	json_decref(top);
	{
		char cmd[INVENTORY_CMD_MAX + 10];
		memset(cmd, 'a', sizeof(cmd));
		memcpy(cmd + INVENTORY_CMD_MAX - 1, "\xc3\xa9", 2); /* é straddles the cut */
		cmd[sizeof(cmd) - 1] = '\0';
		top = json_pack("{s:[s,s],s:[[s,s]]}", "Titles", "PID", "CMD", "Processes", "9", cmd);
		r = inventory_processes(top, &procs, err, sizeof(err));
		T_CHECK_INT(r, 0);
		T_CHECK_INT(strlen(sget(json_array_get(procs, 0), "cmdline")), INVENTORY_CMD_MAX - 1);
		T_CHECK(json_is_true(jget(json_array_get(procs, 0), "cmdlineTruncated")));
		json_decref(procs);
		json_decref(top);
	}
}

T_TEST(image_records)
{
	json_t *list = load_json("images/list.json"), *insp1 = load_json("images/inspect-test_busybox_1.json");
	json_t *inspd = load_json("images/inspect-dangling.json"), *rec = NULL;
	const json_t *e;
	char err[320];
	size_t i;
	int seen = 0;

	T_CHECK_INT(json_array_size(list), 3);
	json_array_foreach(list, i, e) {
		const char *id = json_string_value(json_object_get(e, "Id"));
		const json_t *insp = strcmp(id, IMG_BB1) == 0 ? insp1 : strcmp(id, IMG_DANGLING) == 0 ? inspd : NULL;

		T_CHECK_INT(inventory_image_record(e, insp, &rec, err, sizeof(err)), 0);
		if (rec == NULL)
			continue;
		T_CHECK_STR(sget(rec, "id"), id);
		T_CHECK_INT(json_integer_value(jget(rec, "sizeBytes")), 1984213);
		T_CHECK(sget(rec, "created") != NULL && strlen(sget(rec, "created")) == 20);
		if (strcmp(id, IMG_BB1) == 0) {
			T_CHECK_INT(json_array_size(jget(rec, "repoTags")), 2);
			T_CHECK(has_str(jget(rec, "repoTags"), "test/busybox:1"));
			T_CHECK(has_str(jget(rec, "repoTags"), "localhost:5000/team/busybox:stable"));
			T_CHECK_INT(json_array_size(jget(rec, "repoDigests")), 0); /* null in the answer */
			T_CHECK_STR(sget(rec, "os"), "linux");
			T_CHECK_STR(sget(rec, "architecture"), "amd64");
			T_CHECK_STR(sget(rec, "created"), "2026-11-27T04:10:40Z");
			seen++;
		} else if (strcmp(id, IMG_DANGLING) == 0) {
			/* "<none>:<none>" and "<none>@<none>" are Docker's way of saying nothing */
			T_CHECK_INT(json_array_size(jget(rec, "repoTags")), 0);
			T_CHECK_INT(json_array_size(jget(rec, "repoDigests")), 0);
			T_CHECK_STR(sget(rec, "os"), "linux");
			seen++;
		} else {
			T_CHECK(jget(rec, "os") == NULL);
			seen++;
		}
		json_decref(rec);
		rec = NULL;
	}
	T_CHECK_INT(seen, 3);

	/* garbage */
	{
		static const char *const bad[][2] = {
			{ "{\"Id\":\"sha256:xyz\"}", "Id is not an image id" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"Size\":1e300}", "Size is not an integer" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"Size\":9007199254740993}", "Size is out of range" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"Size\":-5}", "Size is out of range" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"RepoTags\":\"a\"}", "RepoTags is not an array" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"RepoTags\":[null]}", "RepoTags is not a string" },
			{ "{\"Id\":\"" IMG_BB1 "\",\"Created\":\"yesterday\"}", "Created is not an integer" },
			{ "7", "not a JSON object" },
		};
		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			json_t *s = json_loads(bad[k][0], JSON_DECODE_ANY, NULL);
			err[0] = '\0';
			T_CHECK_INT(inventory_image_record(s, NULL, &rec, err, sizeof(err)), -EBADMSG);
			if (!contains(err, bad[k][1]))
				fprintf(stderr, "  %s: %s\n", bad[k][0], err);
			T_CHECK(contains(err, bad[k][1]));
			json_decref(s);
		}
		/* an inspect answer about another image */
		T_CHECK_INT(inventory_image_record(json_array_get(list, 0), insp1, &rec, err, sizeof(err)), -EBADMSG);
		T_CHECK(contains(err, "another image"));
	}
	json_decref(list);
	json_decref(insp1);
	json_decref(inspd);
}

T_TEST(event_lines)
{
	char *text, *line, *save = NULL, err[160];
	size_t len;
	int n = 0, creates = 0, destroys = 0, images = 0;
	struct docker_event e;

	text = read_data("events/stream.ndjson", &len);
	if (text == NULL) {
		T_CHECK(0);
		return;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		T_CHECK(j != NULL);
		T_CHECK_INT(docker_event_parse(j, &e, err, sizeof(err)), 0);
		if (strcmp(e.type, "container") == 0) {
			T_CHECK_STR(e.id, ID_EVT);
			creates += strcmp(e.action, "create") == 0;
			destroys += strcmp(e.action, "destroy") == 0;
		}
		images += strcmp(e.type, "image") == 0;
		json_decref(j);
		n++;
	}
	free(text);
	T_CHECK_INT(n, 24);
	T_CHECK_INT(creates, 1);
	T_CHECK_INT(destroys, 1);
	T_CHECK_INT(images, 3);

	/* "exec_create: true " keeps only the verb */
	text = read_data("events/stream-exec-import.ndjson", &len);
	if (text != NULL) {
		line = strtok_r(text, "\n", &save);
		json_t *j = json_loads(line, 0, NULL);
		T_CHECK_INT(docker_event_parse(j, &e, err, sizeof(err)), 0);
		T_CHECK_STR(e.action, "exec_create");
		T_CHECK_STR(e.id, ID_ECS);
		json_decref(j);
		free(text);
	}
	/* garbage */
	{
		static const char *const bad[][2] = {
			{ "{\"Action\":\"start\",\"Actor\":{\"ID\":\"x\"}}", "Type is missing" },
			{ "{\"Type\":7,\"Action\":\"start\",\"Actor\":{\"ID\":\"x\"}}", "Type is not a string" },
			{ "{\"Type\":\"container\",\"Action\":\"start\"}", "Actor is missing" },
			{ "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":[]}", "Actor is not an object" },
			{ "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":{}}}", "Actor.ID is not a string" },
			{ "{\"Type\":\"container\",\"Action\":\":x\",\"Actor\":{\"ID\":\"a\"}}", "Action is empty" },
			{ "[]", "not a JSON object" },
		};
		for (size_t k = 0; k < ARRAY_SIZE(bad); k++) {
			json_t *j = json_loads(bad[k][0], JSON_DECODE_ANY, NULL);
			err[0] = '\0';
			T_CHECK_INT(docker_event_parse(j, &e, err, sizeof(err)), -EBADMSG);
			if (!contains(err, bad[k][1]))
				fprintf(stderr, "  %s: %s\n", bad[k][0], err);
			T_CHECK(contains(err, bad[k][1]));
			json_decref(j);
		}
	}
}

T_TEST(proc_net_tcp)
{
	struct hostinfo_listen l[16], one;
	size_t n = 0, len;
	char *text = read_data("proc/hostnet/net/tcp", &len);
	char line[700];

	if (text == NULL) {
		T_CHECK(0);
		return;
	}
	T_CHECK_INT(hostinfo_parse_tcp(text, len, 0, l, 16, &n), 0);
	free(text);
	T_CHECK_INT(n, 3);
	T_CHECK_INT(l[0].port, 18080);
	T_CHECK_INT(l[0].loopback, 1);
	T_CHECK_INT(l[1].port, 18443);
	T_CHECK_INT(l[1].loopback, 0);
	T_CHECK_INT(l[1].inode, 2823432);
	text = read_data("proc/hostnet/net/tcp6", &len);
	n = 0;
	T_CHECK_INT(hostinfo_parse_tcp(text, len, 1, l, 16, &n), 0);
	free(text);
	T_CHECK_INT(n, 2);
	T_CHECK_INT(l[1].port, 18081);
	T_CHECK_INT(l[1].inode, 2823618);
	T_CHECK_INT(l[1].v6, 1);
	/* not enough room */
	text = read_data("proc/hostnet/net/tcp", &len);
	n = 0;
	T_CHECK_INT(hostinfo_parse_tcp(text, len, 0, l, 2, &n), -E2BIG);
	T_CHECK_INT(n, 2);
	free(text);
	/* an established socket is not listening; ::1 is loopback */
	T_CHECK_INT(hostinfo_parse_tcp_line("   3: 0100007F:0016 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 1234 1", 0, &one), 0);
	T_CHECK_INT(hostinfo_parse_tcp_line("   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1", 1, &one), 1);
	T_CHECK_INT(one.port, 631);
	T_CHECK_INT(one.loopback, 1);
	/* malformed lines */
	T_CHECK_INT(hostinfo_parse_tcp_line("   0: 0100007F:46A0 00000000:0000 0A", 0, &one), -EBADMSG);
	T_CHECK_INT(hostinfo_parse_tcp_line("   0: 0100007G:46A0 00000000:0000 0A 0:0 0:0 0 0 0 1", 0, &one), -EBADMSG);
	T_CHECK_INT(hostinfo_parse_tcp_line("   0: 0100007F:46A0 00000000:0000 0A 0:0 0:0 0 0 0 99999999999999999999999", 0, &one), -EBADMSG);
	T_CHECK_INT(hostinfo_parse_tcp_line("   0: 0100007F:46A0 00000000:0000 0A 0:0 0:0 0 0 0 1", 1, &one), -EBADMSG);
	T_CHECK_INT(hostinfo_parse_tcp_line("", 0, &one), -EBADMSG);
	memset(line, ' ', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	n = 0;
	T_CHECK_INT(hostinfo_parse_tcp(line, strlen(line), 0, l, 16, &n), -EBADMSG);
	/* a missing process */
	n = 0;
	T_CHECK_INT(hostinfo_listening("/proc", NO_PID, l, 16, &n), -ENOENT);
	/* this process: its own table parses */
	n = 0;
	{
		struct hostinfo_listen *many = calloc(INVENTORY_LISTEN_MAX, sizeof(*many));
		int r = hostinfo_listening("/proc", (long)getpid(), many, INVENTORY_LISTEN_MAX, &n);
		T_CHECK(r == 0 || r == -E2BIG);
		free(many);
	}
}

T_TEST(snapshot_parts)
{
	json_t *host = json_pack("{s:s}", "hostname", "h"), *docker = json_pack("{s:s}", "docker", "ok");
	json_t *cs = json_array(), *is = json_array(), *parts = NULL, *p;
	char *pad = malloc(2001);
	size_t i, total_c = 0, total_i = 0;
	const char *sid = NULL;

	memset(pad, 'p', 2000);
	pad[2000] = '\0';
	for (int k = 0; k < 300; k++)
		json_array_append_new(cs, json_pack("{s:i,s:s}", "n", k, "pad", pad));
	for (int k = 0; k < 50; k++)
		json_array_append_new(is, json_pack("{s:i,s:s}", "n", k, "pad", pad));
	T_CHECK_INT(inventory_snapshot_messages(host, docker, cs, is, &parts), 0);
	T_CHECK(json_array_size(parts) >= 4);
	json_array_foreach(parts, i, p) {
		char *s = json_dumps(p, JSON_COMPACT);
		T_CHECK(strlen(s) <= INVENTORY_MSG_MAX);
		free(s);
		T_CHECK_STR(sget(p, "type"), "inventory");
		T_CHECK_INT(json_integer_value(jget(p, "part")), (long long)i + 1);
		T_CHECK_INT(json_integer_value(jget(p, "parts")), (long long)json_array_size(parts));
		T_CHECK((jget(p, "host") != NULL) == (i == 0));
		T_CHECK((jget(p, "docker") != NULL) == (i == 0));
		if (sid == NULL)
			sid = sget(p, "snapshotID");
		T_CHECK_STR(sget(p, "snapshotID"), sid);
		total_c += json_array_size(jget(p, "containers"));
		total_i += json_array_size(jget(p, "images"));
	}
	T_CHECK_INT(total_c, 300);
	T_CHECK_INT(total_i, 50);
	json_decref(parts);
	/* a small snapshot is one message */
	json_array_clear(cs);
	T_CHECK_INT(inventory_snapshot_messages(host, docker, cs, cs, &parts), 0);
	T_CHECK_INT(json_array_size(parts), 1);
	T_CHECK_INT(json_integer_value(jget(json_array_get(parts, 0), "parts")), 1);
	json_decref(parts);
	free(pad);
	json_decref(host);
	json_decref(docker);
	json_decref(cs);
	json_decref(is);
}

T_TEST(socket_addresses)
{
	char buf[128];
	char long_path[200];

	T_CHECK_INT(docker_socket_path(NULL, buf, sizeof(buf)), 0);
	T_CHECK_STR(buf, "/var/run/docker.sock");
	T_CHECK_INT(docker_socket_path("", buf, sizeof(buf)), 0);
	T_CHECK_STR(buf, "/var/run/docker.sock");
	T_CHECK_INT(docker_socket_path("unix:///run/user/1000/docker.sock", buf, sizeof(buf)), 0);
	T_CHECK_STR(buf, "/run/user/1000/docker.sock");
	T_CHECK_INT(docker_socket_path("/x/docker.sock", buf, sizeof(buf)), 0);
	T_CHECK_STR(buf, "/x/docker.sock");
	T_CHECK_INT(docker_socket_path("tcp://127.0.0.1:2375", buf, sizeof(buf)), -EPROTONOSUPPORT);
	T_CHECK_INT(docker_socket_path("npipe:////./pipe/docker_engine", buf, sizeof(buf)), -EPROTONOSUPPORT);
	T_CHECK_INT(docker_socket_path("docker.sock", buf, sizeof(buf)), -EINVAL);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	T_CHECK_INT(docker_socket_path(long_path, buf, sizeof(buf)), -EINVAL);
	T_CHECK(docker_is_container_id(ID_ECS));
	T_CHECK(!docker_is_container_id("../../images/json"));
	T_CHECK(!docker_is_container_id(IMG_BB1));
	T_CHECK(docker_is_image_id(IMG_BB1));
	T_CHECK(!docker_is_image_id("sha256:../x"));
}

/* ================================================================================================
 * A fake engine: evhttp on a unix socket, in its own thread
 * ============================================================================================== */

struct fake_route {
	char *path;  /* without the /v1.NN prefix, with the query */
	int status;
	char *body;
	size_t len;
};

#define FAKE_ROUTES 64
#define FAKE_STREAMS 8
#define FAKE_PUSH 64

struct fake {
	char sock[108];
	pthread_mutex_t mu;
	struct fake_route routes[FAKE_ROUTES];
	size_t nroutes;
	char api_hdr[16];          /* "" = no Api-Version header on /_ping */
	int requests, events_requests;
	/* commands to the server thread, under mu */
	char *push[FAKE_PUSH];
	size_t push_len[FAKE_PUSH];
	size_t npush;
	int end_streams, quit;
	/* the running server */
	int running;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	struct event *cmd_ev;
	int cmd_fd;
	struct evhttp_request *streams[FAKE_STREAMS];
	struct evhttp_connection *stream_conns[FAKE_STREAMS];
};

static struct fake fk;

static void fake_route_set(const char *path, int status, const char *body, size_t len)
{
	size_t i;

	pthread_mutex_lock(&fk.mu);
	for (i = 0; i < fk.nroutes; i++)
		if (strcmp(fk.routes[i].path, path) == 0)
			break;
	if (i == fk.nroutes) {
		if (fk.nroutes == FAKE_ROUTES) {
			pthread_mutex_unlock(&fk.mu);
			fprintf(stderr, "  too many fake routes\n");
			return;
		}
		fk.routes[i].path = strdup(path);
		fk.nroutes++;
	}
	free(fk.routes[i].body);
	fk.routes[i].status = status;
	fk.routes[i].body = malloc(len + 1);
	memcpy(fk.routes[i].body, body, len);
	fk.routes[i].body[len] = '\0';
	fk.routes[i].len = len;
	pthread_mutex_unlock(&fk.mu);
}

static void fake_route_str(const char *path, int status, const char *body)
{
	fake_route_set(path, status, body, strlen(body));
}

static void fake_route_json(const char *path, int status, const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	fake_route_set(path, status, s, strlen(s));
	free(s);
}

static void fake_route_file(const char *path, int status, const char *rel)
{
	size_t len;
	char *body = read_data(rel, &len);

	if (body != NULL)
		fake_route_set(path, status, body, len);
	free(body);
}

static void fake_routes_clear(void)
{
	pthread_mutex_lock(&fk.mu);
	for (size_t i = 0; i < fk.nroutes; i++) {
		free(fk.routes[i].path);
		free(fk.routes[i].body);
	}
	memset(fk.routes, 0, sizeof(fk.routes));
	fk.nroutes = 0;
	pthread_mutex_unlock(&fk.mu);
}

static void fake_stream_closed(struct evhttp_connection *conn, void *arg)
{
	for (int i = 0; i < FAKE_STREAMS; i++) {
		if (fk.stream_conns[i] == conn) {
			/* The client hung up: libevent has detached the unfinished request from the
			 * connection and leaves it to us; ending it frees it. */
			evhttp_send_reply_end(fk.streams[i]);
			fk.streams[i] = NULL;
			fk.stream_conns[i] = NULL;
		}
	}
}

static void fake_reply(struct evhttp_request *req, int status, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void fake_request(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req), *path = uri;
	size_t i;

	if (strncmp(uri, "/v1.", 4) == 0) {
		path = strchr(uri + 1, '/');
		if (path == NULL)
			path = "/";
	}
	pthread_mutex_lock(&fk.mu);
	fk.requests++;
	if (strncmp(path, "/events", 7) == 0) {
		fk.events_requests++;
		for (i = 0; i < FAKE_STREAMS; i++) {
			if (fk.streams[i] == NULL) {
				fk.streams[i] = req;
				fk.stream_conns[i] = evhttp_request_get_connection(req);
				evhttp_connection_set_closecb(fk.stream_conns[i], fake_stream_closed, NULL);
				evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
						  "application/json");
				evhttp_send_reply_start(req, 200, "OK");
				break;
			}
		}
		if (i == FAKE_STREAMS)
			fake_reply(req, 500, "{\"message\":\"too many streams\"}", 30);
	} else if (strcmp(path, "/_ping") == 0) {
		if (fk.api_hdr[0])
			evhttp_add_header(evhttp_request_get_output_headers(req), "Api-Version", fk.api_hdr);
		fake_reply(req, 200, "OK", 2);
	} else {
		for (i = 0; i < fk.nroutes; i++)
			if (strcmp(fk.routes[i].path, path) == 0)
				break;
		if (i < fk.nroutes)
			fake_reply(req, fk.routes[i].status, fk.routes[i].body, fk.routes[i].len);
		else
			fake_reply(req, 404, "{\"message\":\"page not found\"}", 28);
	}
	pthread_mutex_unlock(&fk.mu);
}

/* Runs the commands queued by the test thread. */
static void fake_command(evutil_socket_t fd, short what, void *arg)
{
	uint64_t v;
	ssize_t rd = read(fk.cmd_fd, &v, sizeof(v));

	(void)rd;
	pthread_mutex_lock(&fk.mu);
	for (size_t k = 0; k < fk.npush; k++) {
		for (int i = 0; i < FAKE_STREAMS; i++) {
			if (fk.streams[i] != NULL) {
				struct evbuffer *b = evbuffer_new();
				evbuffer_add(b, fk.push[k], fk.push_len[k]);
				evhttp_send_reply_chunk(fk.streams[i], b);
				evbuffer_free(b);
			}
		}
		free(fk.push[k]);
	}
	fk.npush = 0;
	if (fk.end_streams) {
		for (int i = 0; i < FAKE_STREAMS; i++) {
			if (fk.streams[i] != NULL) {
				evhttp_connection_set_closecb(fk.stream_conns[i], NULL, NULL);
				evhttp_send_reply_end(fk.streams[i]);
				fk.streams[i] = NULL;
				fk.stream_conns[i] = NULL;
			}
		}
		fk.end_streams = 0;
	}
	if (fk.quit)
		event_base_loopbreak(fk.base);
	pthread_mutex_unlock(&fk.mu);
}

static void fake_signal(void)
{
	uint64_t one = 1;
	ssize_t w = write(fk.cmd_fd, &one, sizeof(one));
	(void)w;
}

static void *fake_main(void *arg)
{
	event_base_dispatch(fk.base);
	return NULL;
}

static int fake_start(void)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk.sock);
	unlink(fk.sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		perror("  fake engine socket");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	evutil_make_socket_nonblocking(fd);
	fk.base = event_base_new();
	fk.http = evhttp_new(fk.base);
	evhttp_set_gencb(fk.http, fake_request, NULL);
	if (evhttp_accept_socket_with_handle(fk.http, fd) == NULL) {
		close(fd);
		return -1;
	}
	fk.cmd_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fk.cmd_ev = event_new(fk.base, fk.cmd_fd, EV_READ | EV_PERSIST, fake_command, NULL);
	event_add(fk.cmd_ev, NULL);
	fk.quit = 0;
	fk.end_streams = 0;
	memset(fk.streams, 0, sizeof(fk.streams));
	memset(fk.stream_conns, 0, sizeof(fk.stream_conns));
	fk.running = 1;
	return pthread_create(&fk.thread, NULL, fake_main, NULL) == 0 ? 0 : -1;
}

/* Stops the engine: its socket disappears and every connection is closed. */
static void fake_stop(void)
{
	if (!fk.running)
		return;
	pthread_mutex_lock(&fk.mu);
	fk.quit = 1;
	pthread_mutex_unlock(&fk.mu);
	fake_signal();
	pthread_join(fk.thread, NULL);
	for (int i = 0; i < FAKE_STREAMS; i++)
		if (fk.stream_conns[i] != NULL)
			evhttp_connection_set_closecb(fk.stream_conns[i], NULL, NULL);
	evhttp_free(fk.http);
	event_free(fk.cmd_ev);
	event_base_free(fk.base);
	close(fk.cmd_fd);
	unlink(fk.sock);
	for (size_t k = 0; k < fk.npush; k++)
		free(fk.push[k]);
	fk.npush = 0;
	fk.running = 0;
}

static void fake_push(const char *text, size_t len)
{
	pthread_mutex_lock(&fk.mu);
	if (fk.npush < FAKE_PUSH) {
		fk.push[fk.npush] = malloc(len);
		memcpy(fk.push[fk.npush], text, len);
		fk.push_len[fk.npush++] = len;
	}
	pthread_mutex_unlock(&fk.mu);
	fake_signal();
}

static void fake_push_str(const char *text)
{
	fake_push(text, strlen(text));
}

static void fake_end_streams(void)
{
	pthread_mutex_lock(&fk.mu);
	fk.end_streams = 1;
	pthread_mutex_unlock(&fk.mu);
	fake_signal();
}

static int fake_streams_open(void)
{
	int n = 0;

	/* read without the lock's help from the server thread: only a count for polling */
	pthread_mutex_lock(&fk.mu);
	for (int i = 0; i < FAKE_STREAMS; i++)
		n += fk.streams[i] != NULL;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

/* The recorded answers of tests/data/docker as routes; Pid and top PIDs made unreal (NO_PID). */
static void fake_routes_recorded(void)
{
	static const char *const names[] = { "created-only", "ecs-curl", "exited", "hostnet", "k8s-api", "priv-web" };
	static const char *const images[] = { "dangling", "test_busybox_1", "test_busybox_2" };
	char rel[128], path[160];

	fake_routes_clear();
	fake_route_file("/version", 200, "version.json");
	fake_route_file("/containers/json?all=1", 200, "containers/list-all.json");
	fake_route_file("/images/json", 200, "images/list.json");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		json_t *insp, *top;
		const char *id;

		snprintf(rel, sizeof(rel), "containers/inspect-%s.json", names[i]);
		insp = load_json(rel);
		if (insp == NULL)
			continue;
		id = json_string_value(json_object_get(insp, "Id"));
		if (json_integer_value(json_object_get(json_object_get(insp, "State"), "Pid")) > 0)
			json_object_set_new(json_object_get(insp, "State"), "Pid", json_integer(NO_PID));
		snprintf(path, sizeof(path), "/containers/%s/json", id);
		fake_route_json(path, 200, insp);
		snprintf(path, sizeof(path), "/containers/%s/top", id);
		snprintf(rel, sizeof(rel), "containers/top-%s.json", names[i]);
		top = load_json(rel);
		if (top != NULL && json_object_get(top, "Titles") != NULL) {
			json_t *row = json_array_get(json_object_get(top, "Processes"), 0);
			json_array_set_new(row, 1, json_string("4194304"));
			fake_route_json(path, 200, top);
		} else {
			snprintf(rel, sizeof(rel), "containers/top-%s.error.json", names[i]);
			fake_route_file(path, 409, rel);
		}
		json_decref(top);
		json_decref(insp);
	}
	for (size_t i = 0; i < ARRAY_SIZE(images); i++) {
		json_t *insp;
		snprintf(rel, sizeof(rel), "images/inspect-%s.json", images[i]);
		insp = load_json(rel);
		if (insp == NULL)
			continue;
		snprintf(path, sizeof(path), "/images/%s/json", json_string_value(json_object_get(insp, "Id")));
		fake_route_json(path, 200, insp);
		json_decref(insp);
	}
}

/* A peer that is not HTTP: answers every connection with a line of noise. */
struct noise {
	char sock[108];
	int fd;
	pthread_t thread;
};

static void *noise_main(void *arg)
{
	struct noise *n = arg;

	for (;;) {
		char buf[512];
		int c = accept(n->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		ssize_t rd = read(c, buf, sizeof(buf));
		(void)rd;
		ssize_t w = write(c, "SSH-2.0-OpenSSH_9.2 garbage\r\n\r\n", 31);
		(void)w;
		close(c);
	}
}

/* ================================================================================================
 * The client against the fake engine
 * ============================================================================================== */

static struct docker *client(void)
{
	struct docker *d = NULL;

	T_CHECK_INT(docker_new(fk.sock, NULL, &d), 0);
	return d;
}

T_TEST(client_negotiation)
{
	struct docker *d;

	fake_routes_recorded();
	T_CHECK_INT(fake_start(), 0);
	d = client();
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.41");
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_STR(docker_api_version(d), "1.41");
	T_CHECK_STR(docker_engine_version(d), "20.10.24+dfsg1");
	/* a newer engine: we stay at what we speak */
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.45");
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_STR(docker_api_version(d), "1.41");
	/* an older one: its version */
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.30");
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_STR(docker_api_version(d), "1.30");
	/* no header: /version says 1.41 */
	fk.api_hdr[0] = '\0';
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_STR(docker_api_version(d), "1.41");
	/* too old */
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.12");
	T_CHECK_INT(docker_negotiate(d), -EPROTO);
	T_CHECK(contains(docker_errmsg(d), "older than 1.24"));
	T_CHECK_STR(docker_api_version(d), "");
	/* garbage in the header and in /version */
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "one.four");
	fake_route_str("/version", 200, "{\"Version\":\"20.10\",\"ApiVersion\":7}");
	T_CHECK_INT(docker_negotiate(d), -EPROTO);
	fake_route_str("/version", 200, "{\"Version\":");
	T_CHECK_INT(docker_negotiate(d), -EBADMSG);
	T_CHECK(contains(docker_errmsg(d), "malformed JSON"));
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.41");
	fake_route_str("/version", 200, "{\"Version\":\"20.10\\n\",\"ApiVersion\":\"1.41\"}");
	T_CHECK_INT(docker_negotiate(d), -EBADMSG);
	fake_route_str("/version", 500, "{\"message\":\"boom\"}");
	T_CHECK_INT(docker_negotiate(d), -EIO);
	T_CHECK(contains(docker_errmsg(d), "HTTP 500: boom"));
	docker_free(d);
	fake_stop();
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.41");
}

T_TEST(client_garbage_answers)
{
	struct docker *d;
	json_t *j = NULL;
	char *big;
	size_t big_len = DOCKER_BODY_MAX + 1024;

	fake_routes_recorded();
	T_CHECK_INT(fake_start(), 0);
	d = client();
	T_CHECK_INT(docker_get_json(d, "/containers/json?all=1", &j), -EINVAL); /* not negotiated */
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_INT(docker_get_json(d, "/containers/json?all=1", &j), 0);
	T_CHECK_INT(json_array_size(j), 6);
	json_decref(j);
	/* truncated JSON */
	fake_route_str("/containers/json?all=1", 200, "[{\"Id\":\"31");
	T_CHECK_INT(docker_get_json(d, "/containers/json?all=1", &j), -EBADMSG);
	T_CHECK(j == NULL);
	T_CHECK(contains(docker_errmsg(d), "malformed JSON in the answer to GET /containers/json"));
	/* duplicate keys */
	fake_route_str("/containers/json?all=1", 200, "{\"a\":1,\"a\":2}");
	T_CHECK_INT(docker_get_json(d, "/containers/json?all=1", &j), -EBADMSG);
	/* 404 and 409 with the engine's message */
	T_CHECK_INT(docker_get_json(d, "/containers/" ID_EVT "/json", &j), -ENOENT);
	T_CHECK(contains(docker_errmsg(d), "HTTP 404"));
	fake_route_file("/containers/" ID_EVT "/top", 409, "containers/top-exited.error.json");
	T_CHECK_INT(docker_get_json(d, "/containers/" ID_EVT "/top", &j), -EBUSY);
	T_CHECK(contains(docker_errmsg(d), "is not running"));
	/* a control character in an error message does not reach the logs */
	fake_route_str("/x", 500, "{\"message\":\"a\\nb\\u001b[31m\"}");
	T_CHECK_INT(docker_get_json(d, "/x", &j), -EIO);
	T_CHECK(strchr(docker_errmsg(d), '\n') == NULL && strchr(docker_errmsg(d), 0x1b) == NULL);
	/* a body over the limit */
	big = malloc(big_len);
	memset(big, ' ', big_len);
	big[0] = '[';
	big[big_len - 1] = ']';
	fake_route_set("/big", 200, big, big_len);
	free(big);
	T_CHECK_INT(docker_get_json(d, "/big", &j), -EFBIG);
	T_CHECK(contains(docker_errmsg(d), "larger than"));
	fake_route_str("/big", 200, "[]");
	docker_free(d);
	fake_stop();

	/* nobody at the socket */
	d = client();
	T_CHECK_INT(docker_negotiate(d), -ECONNREFUSED);
	T_CHECK(docker_err_unreachable(-ECONNREFUSED));
	T_CHECK(contains(docker_errmsg(d), fk.sock));
	docker_free(d);

	/* a peer that does not speak HTTP */
	{
		struct noise n;
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		snprintf(n.sock, sizeof(n.sock), "%s/noise.sock", tmp_dir);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", n.sock);
		n.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		T_CHECK(bind(n.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(n.fd, 4) == 0);
		pthread_create(&n.thread, NULL, noise_main, &n);
		d = NULL;
		T_CHECK_INT(docker_new(n.sock, NULL, &d), 0);
		int r = docker_negotiate(d);
		T_CHECK(r == -EPROTO || r == -ECONNRESET);
		T_CHECK(!docker_err_unreachable(r) || r == -ECONNRESET);
		docker_free(d);
		shutdown(n.fd, SHUT_RDWR);
		close(n.fd);
		pthread_join(n.thread, NULL);
		unlink(n.sock);
	}
}

/* Waits for the fake to have n open event streams. */
static int wait_streams(int n, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (fake_streams_open() == n)
			return 1;
		usleep(10000);
	}
	return fake_streams_open() == n;
}

T_TEST(client_event_stream)
{
	struct docker *d;
	struct docker_events *ev = NULL;
	json_t *j = NULL;
	char *text, *line2, *big;
	size_t len;
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint64_t one = 1;
	int64_t t0;

	fake_routes_recorded();
	T_CHECK_INT(fake_start(), 0);
	d = client();
	T_CHECK_INT(docker_negotiate(d), 0);
	T_CHECK_INT(docker_events_open(d, "{\"type\":[\"container\"]}", efd, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	/* nothing yet */
	T_CHECK_INT(docker_events_next(ev, 50, &j), 0);
	/* the wake-up descriptor ends a wait early */
	T_CHECK(write(efd, &one, sizeof(one)) == sizeof(one));
	t0 = util_now_ms();
	T_CHECK_INT(docker_events_next(ev, 5000, &j), 0);
	T_CHECK(util_now_ms() - t0 < 1000);
	T_CHECK(read(efd, &one, sizeof(one)) == sizeof(one));

	/* three real lines: the first two in one chunk, the third split in the middle */
	text = read_data("events/stream.ndjson", &len);
	line2 = strchr(strchr(text, '\n') + 1, '\n') + 1;
	fake_push(text, (size_t)(line2 - text));
	{
		char *end3 = strchr(line2, '\n') + 1;
		size_t half = (size_t)(end3 - line2) / 2;
		T_CHECK_INT(docker_events_next(ev, 2000, &j), 1);
		T_CHECK_STR(sget(j, "Action"), "create");
		json_decref(j);
		T_CHECK_INT(docker_events_next(ev, 2000, &j), 1);
		T_CHECK_STR(sget(j, "Action"), "connect");
		json_decref(j);
		fake_push(line2, half);
		T_CHECK_INT(docker_events_next(ev, 200, &j), 0);
		fake_push(line2 + half, (size_t)(end3 - line2) - half);
		T_CHECK_INT(docker_events_next(ev, 2000, &j), 1);
		T_CHECK_STR(sget(j, "Action"), "start");
		json_decref(j);
	}
	/* a flood: 2000 events in one go arrive in order, with bounded buffering */
	{
		char *flood = malloc(2000 * 80), *p = flood;
		int got = 0, order = 1;
		for (int i = 0; i < 2000; i++)
			p += snprintf(p, 80, "{\"Type\":\"container\",\"Action\":\"top\",\"Actor\":{\"ID\":\"%d\"}}\n", i);
		fake_push(flood, (size_t)(p - flood));
		free(flood);
		while (got < 2000 && docker_events_next(ev, 2000, &j) == 1) {
			char want[16];
			snprintf(want, sizeof(want), "%d", got);
			order &= strcmp(sget(j, "Actor.ID"), want) == 0;
			got++;
			json_decref(j);
		}
		T_CHECK_INT(got, 2000);
		T_CHECK(order);
	}
	/* a line that is not JSON ends the stream with -EBADMSG (after the good line before it) */
	fake_push_str("{\"Type\":\"image\",\"Action\":\"tag\",\"Actor\":{\"ID\":\"x\"}}\nnot json\n");
	T_CHECK_INT(docker_events_next(ev, 2000, &j), 1);
	json_decref(j);
	T_CHECK_INT(docker_events_next(ev, 2000, &j), -EBADMSG);
	T_CHECK(contains(docker_errmsg(d), "malformed event line"));
	T_CHECK_INT(docker_events_next(ev, 10, &j), -EBADMSG);
	docker_events_close(ev);
	T_CHECK(wait_streams(0, 2000));

	/* an over-long line */
	T_CHECK_INT(docker_events_open(d, NULL, -1, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	big = malloc(DOCKER_EVENT_LINE_MAX + 100);
	memset(big, 'a', DOCKER_EVENT_LINE_MAX + 100);
	big[0] = '"';
	fake_push(big, DOCKER_EVENT_LINE_MAX + 100);
	free(big);
	T_CHECK_INT(docker_events_next(ev, 3000, &j), -EMSGSIZE);
	T_CHECK(contains(docker_errmsg(d), "longer than"));
	docker_events_close(ev);
	T_CHECK(wait_streams(0, 2000));

	/* a JSON line that is not an object */
	T_CHECK_INT(docker_events_open(d, NULL, -1, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	fake_push_str("[1,2]\n");
	T_CHECK_INT(docker_events_next(ev, 2000, &j), -EBADMSG);
	T_CHECK(contains(docker_errmsg(d), "not a JSON object"));
	docker_events_close(ev);
	T_CHECK(wait_streams(0, 2000));

	/* the engine ends the stream: the last complete line first, then -EPIPE */
	T_CHECK_INT(docker_events_open(d, NULL, -1, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	fake_push(text, strchr(text, '\n') + 1 - text);
	fake_end_streams();
	T_CHECK_INT(docker_events_next(ev, 2000, &j), 1);
	json_decref(j);
	T_CHECK_INT(docker_events_next(ev, 2000, &j), -EPIPE);
	T_CHECK(docker_err_unreachable(-EPIPE));
	docker_events_close(ev);

	/* ... and a stream cut in the middle of a line */
	T_CHECK_INT(docker_events_open(d, NULL, -1, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	fake_push(text, 40);
	fake_end_streams();
	T_CHECK_INT(docker_events_next(ev, 2000, &j), -EBADMSG);
	T_CHECK(contains(docker_errmsg(d), "middle of a line"));
	docker_events_close(ev);

	/* the engine goes away under an open stream */
	T_CHECK_INT(docker_events_open(d, NULL, -1, &ev), 0);
	T_CHECK(wait_streams(1, 2000));
	fake_stop();
	{
		int r = docker_events_next(ev, 3000, &j);
		T_CHECK(docker_err_unreachable(r));
	}
	docker_events_close(ev);
	free(text);
	docker_free(d);
	close(efd);
}

/* ================================================================================================
 * The inventory thread against the fake engine
 * ============================================================================================== */

struct sink {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	json_t *msgs;
};

static struct sink sink = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL };

static void sink_emit(json_t *msg, void *arg)
{
	struct sink *s = arg;
	char *text;

	/* every message must be serializable on its own and fit the channel */
	text = json_dumps(msg, JSON_COMPACT);
	if (text == NULL || strlen(text) > 256 * 1024)
		fprintf(stderr, "  an emitted message does not serialize or is too large\n");
	free(text);
	pthread_mutex_lock(&s->mu);
	json_array_append_new(s->msgs, msg);
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static size_t sink_count(void)
{
	size_t n;

	pthread_mutex_lock(&sink.mu);
	n = json_array_size(sink.msgs);
	pthread_mutex_unlock(&sink.mu);
	return n;
}

/* Waits for a message of type at index >= *from whose member key (NULL = any) equals value;
 * returns a new reference and moves *from past it, or NULL after ms. */
static json_t *sink_wait(size_t *from, const char *type, const char *key, const char *value, int ms)
{
	struct timespec ts;
	json_t *found = NULL;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sink.mu);
	for (;;) {
		for (size_t i = *from; i < json_array_size(sink.msgs); i++) {
			json_t *m = json_array_get(sink.msgs, i);
			if (strcmp(sget(m, "type") ? sget(m, "type") : "", type) != 0)
				continue;
			if (key != NULL && (sget(m, key) == NULL || strcmp(sget(m, key), value) != 0))
				continue;
			found = json_incref(m);
			*from = i + 1;
			break;
		}
		if (found != NULL || pthread_cond_timedwait(&sink.cv, &sink.mu, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&sink.mu);
	return found;
}

/* The container record with this id in a snapshot message. */
static const json_t *snap_container(const json_t *snap, const char *id)
{
	const json_t *c;
	size_t i;

	json_array_foreach(json_object_get(snap, "containers"), i, c)
		if (strcmp(sget(c, "id") ? sget(c, "id") : "", id) == 0)
			return c;
	return NULL;
}

T_TEST(inventory_follows_the_engine)
{
	struct inventory *inv = NULL;
	json_t *m, *insp, *st;
	size_t at = 0, mark;
	char *text, *line, *save = NULL, *create = NULL, *start = NULL, *destroy = NULL, *imgdel = NULL;
	size_t len;
	int64_t t0;

	json_array_clear(sink.msgs);
	fake_routes_recorded();
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.41");
	T_CHECK_INT(fake_start(), 0);
	T_CHECK_INT(inventory_start(fk.sock, tmp_dir, "node-cluster", sink_emit, &sink, &inv), 0);
	if (inv == NULL)
		return;

	/* docker-status ok, then a full snapshot */
	m = sink_wait(&at, "docker-status", "docker", "ok", 5000);
	T_CHECK(m != NULL);
	T_CHECK_STR(sget(m, "engineVersion"), "20.10.24+dfsg1");
	T_CHECK_STR(sget(m, "apiVersion"), "1.41");
	json_decref(m);
	m = sink_wait(&at, "inventory", NULL, NULL, 5000);
	T_CHECK(m != NULL);
	if (m == NULL)
		goto out;
	T_CHECK_INT(json_integer_value(jget(m, "part")), 1);
	T_CHECK_INT(json_integer_value(jget(m, "parts")), 1);
	T_CHECK_INT(json_array_size(jget(m, "containers")), 6);
	T_CHECK_INT(json_array_size(jget(m, "images")), 3);
	T_CHECK_STR(sget(m, "docker.docker"), "ok");
	T_CHECK(sget(m, "host.hostname") != NULL);
	T_CHECK(jget(m, "host.cpuCount") != NULL);
	T_CHECK_INT(json_integer_value(jget(m, "host.containerCount")), 6);
	T_CHECK_INT(json_integer_value(jget(m, "host.runningContainerCount")), 4);
	T_CHECK_STR(sget(snap_container(m, ID_ECS), "cluster"), "pc-ecs-cluster");
	T_CHECK_STR(sget(snap_container(m, ID_K8S), "cluster"), "node-cluster");
	T_CHECK_STR(sget(snap_container(m, ID_K8S), "namespace"), "payments");
	T_CHECK(json_is_true(jget(snap_container(m, ID_PRIV), "privileged")));
	T_CHECK_STR(sget(snap_container(m, ID_HOSTNET), "networkMode"), "host");
	T_CHECK_INT(json_array_size(jget(snap_container(m, ID_HOSTNET), "processes")), 1);
	json_decref(m);
	st = inventory_status(inv);
	T_CHECK_STR(sget(st, "docker"), "ok");
	T_CHECK(jget(st, "error") == NULL);
	T_CHECK_STR(sget(st, "socket"), fk.sock);
	json_decref(st);

	/* real event lines: a new container is created and started, then destroyed */
	text = read_data("events/stream.ndjson", &len);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (create == NULL && contains(line, "\"Action\":\"create\""))
			create = line;
		else if (start == NULL && contains(line, "\"Action\":\"start\"") && contains(line, "\"container\""))
			start = line;
		else if (destroy == NULL && contains(line, "\"Action\":\"destroy\""))
			destroy = line;
		else if (imgdel == NULL && contains(line, "\"Action\":\"delete\""))
			imgdel = line;
	}
	T_CHECK(create && start && destroy && imgdel);
	if (!(create && start && destroy && imgdel)) {
		free(text);
		goto out;
	}
	/* the new container's inspect answer: ecs-curl's, renamed to the event's container */
	insp = load_json("containers/inspect-ecs-curl.json");
	json_object_set_new(insp, "Id", json_string(ID_EVT));
	json_object_set_new(insp, "Name", json_string("/evt"));
	json_object_set_new(json_object_get(insp, "State"), "Pid", json_integer(NO_PID));
	fake_route_json("/containers/" ID_EVT "/json", 200, insp);
	json_decref(insp);
	fake_route_str("/containers/" ID_EVT "/top", 200,
		       "{\"Processes\":[[\"root\",\"4194304\",\"1\",\"sleep 3600\"]],\"Titles\":[\"UID\",\"PID\",\"PPID\",\"CMD\"]}");
	T_CHECK(wait_streams(1, 3000));
	t0 = util_now_ms();
	{
		char buf[4096];
		int n = snprintf(buf, sizeof(buf), "%s\n%s\n", create, start);
		fake_push(buf, (size_t)n);
	}
	m = sink_wait(&at, "container", "container.id", ID_EVT, 5000);
	T_CHECK(m != NULL);
	T_CHECK(util_now_ms() - t0 < 5000);
	T_CHECK_STR(sget(m, "container.name"), "evt");
	T_CHECK_STR(sget(m, "container.state"), "running");
	T_CHECK_STR(sget(m, "container.cluster"), "pc-ecs-cluster");
	json_decref(m);
	/* gone: destroy, and the engine no longer knows it */
	fake_route_str("/containers/" ID_EVT "/json", 404, "{\"message\":\"No such container\"}");
	t0 = util_now_ms();
	{
		char buf[4096];
		int n = snprintf(buf, sizeof(buf), "%s\n", destroy);
		fake_push(buf, (size_t)n);
	}
	m = sink_wait(&at, "container-removed", "id", ID_EVT, 5000);
	T_CHECK(m != NULL);
	T_CHECK(util_now_ms() - t0 < 5000);
	json_decref(m);
	/* an image deleted: the list changes, the event says so */
	{
		json_t *list = load_json("images/list.json"), *e;
		size_t i;
		json_array_foreach(list, i, e) {
			if (strcmp(sget(e, "Id"), IMG_DANGLING) == 0) {
				json_array_remove(list, i);
				break;
			}
		}
		fake_route_json("/images/json", 200, list);
		json_decref(list);
		char buf[4096];
		int n = snprintf(buf, sizeof(buf), "%s\n", imgdel);
		fake_push(buf, (size_t)n);
	}
	m = sink_wait(&at, "image-removed", "id", IMG_DANGLING, 5000);
	T_CHECK(m != NULL);
	json_decref(m);
	free(text);

	/* resync: a full snapshot without the removed ones */
	inventory_resync(inv);
	m = sink_wait(&at, "inventory", NULL, NULL, 3000);
	T_CHECK(m != NULL);
	T_CHECK_INT(json_array_size(jget(m, "containers")), 6);
	T_CHECK(snap_container(m, ID_EVT) == NULL);
	T_CHECK_INT(json_array_size(jget(m, "images")), 2);
	json_decref(m);

	/* the engine goes away: unreachable; a resync meanwhile still sends the last known state */
	fake_stop();
	m = sink_wait(&at, "docker-status", "docker", "unreachable", 5000);
	T_CHECK(m != NULL);
	T_CHECK(sget(m, "error") != NULL);
	json_decref(m);
	st = inventory_status(inv);
	T_CHECK_STR(sget(st, "docker"), "unreachable");
	json_decref(st);
	inventory_resync(inv);
	m = sink_wait(&at, "inventory", NULL, NULL, 3000);
	T_CHECK(m != NULL);
	T_CHECK_STR(sget(m, "docker.docker"), "unreachable");
	T_CHECK_INT(json_array_size(jget(m, "containers")), 6);
	json_decref(m);
	/* it comes back: ok and a full snapshot */
	mark = at;
	T_CHECK_INT(fake_start(), 0);
	m = sink_wait(&at, "docker-status", "docker", "ok", 20000);
	T_CHECK(m != NULL);
	json_decref(m);
	m = sink_wait(&at, "inventory", NULL, NULL, 5000);
	T_CHECK(m != NULL);
	T_CHECK_INT(json_array_size(jget(m, "containers")), 6);
	json_decref(m);
	(void)mark;

	/* garbage: the list is truncated JSON; the stream is ended to force a new session */
	fake_route_str("/containers/json?all=1", 200, "[{\"Id\":");
	T_CHECK(wait_streams(1, 3000));
	fake_end_streams();
	m = sink_wait(&at, "docker-status", "docker", "error", 15000);
	T_CHECK(m != NULL);
	T_CHECK(contains(sget(m, "error"), "malformed JSON"));
	json_decref(m);
	/* an over-long event line */
	fake_route_file("/containers/json?all=1", 200, "containers/list-all.json");
	m = sink_wait(&at, "docker-status", "docker", "ok", 20000);
	T_CHECK(m != NULL);
	json_decref(m);
	T_CHECK(wait_streams(1, 3000));
	{
		char *big = malloc(DOCKER_EVENT_LINE_MAX + 10);
		memset(big, '{', DOCKER_EVENT_LINE_MAX + 10);
		fake_push(big, DOCKER_EVENT_LINE_MAX + 10);
		free(big);
	}
	m = sink_wait(&at, "docker-status", "docker", "error", 10000);
	T_CHECK(m != NULL);
	T_CHECK(contains(sget(m, "error"), "longer than"));
	json_decref(m);
	m = sink_wait(&at, "docker-status", "docker", "ok", 20000);
	T_CHECK(m != NULL);
	json_decref(m);
	m = sink_wait(&at, "inventory", NULL, NULL, 5000);
	T_CHECK(m != NULL);
	json_decref(m);
out:
	t0 = util_now_ms();
	inventory_stop(inv);
	T_CHECK(util_now_ms() - t0 < 3000);
	fake_stop();
	json_array_clear(sink.msgs);
}

T_TEST(inventory_without_engine)
{
	struct inventory *inv = NULL;
	json_t *m, *st;
	size_t at = 0, n;
	char sock[128];
	int64_t t0;

	json_array_clear(sink.msgs);
	snprintf(sock, sizeof(sock), "unix://%s/absent.sock", tmp_dir);
	T_CHECK_INT(inventory_start("tcp://127.0.0.1:2375", NULL, NULL, sink_emit, &sink, &inv), -EPROTONOSUPPORT);
	T_CHECK(inv == NULL);
	T_CHECK_INT(inventory_start(sock, NULL, NULL, sink_emit, &sink, &inv), 0);
	if (inv == NULL)
		return;
	st = inventory_status(inv);
	T_CHECK_STR(sget(st, "docker"), "unreachable");
	json_decref(st);
	m = sink_wait(&at, "docker-status", "docker", "unreachable", 3000);
	T_CHECK(m != NULL);
	T_CHECK(contains(sget(m, "error"), "absent.sock"));
	json_decref(m);
	/* the Console connects: it gets the host and no containers */
	inventory_resync(inv);
	m = sink_wait(&at, "inventory", NULL, NULL, 3000);
	T_CHECK(m != NULL);
	T_CHECK_INT(json_array_size(jget(m, "containers")), 0);
	T_CHECK_STR(sget(m, "docker.docker"), "unreachable");
	T_CHECK(sget(m, "host.hostname") != NULL);
	json_decref(m);
	/* status is emitted on transitions only: waiting a few retries adds nothing */
	n = sink_count();
	usleep(2500 * 1000);
	T_CHECK_INT(sink_count(), n);
	t0 = util_now_ms();
	inventory_stop(inv);
	T_CHECK(util_now_ms() - t0 < 1000);
	inventory_stop(NULL);
	inventory_resync(NULL);
	json_array_clear(sink.msgs);
}

/* ================================================================================================
 * UDP sockets and processes from /proc (cproc)
 * ============================================================================================== */

T_TEST(proc_net_udp)
{
	struct hostinfo_listen l[16], one;
	size_t n = 0, len;
	char *text = read_data("proc/udp-listener/net/udp", &len);

	if (text == NULL) {
		T_CHECK(0);
		return;
	}
	/* a real table: busybox udhcpd (0.0.0.0:67) in a container of its own */
	T_CHECK_INT(hostinfo_parse_udp(text, len, 0, l, 16, &n), 0);
	free(text);
	T_CHECK_INT(n, 1);
	T_CHECK_INT(l[0].port, 67);
	T_CHECK_INT(l[0].udp, 1);
	T_CHECK_INT(l[0].v6, 0);
	T_CHECK_INT(l[0].loopback, 0);
	T_CHECK_INT(l[0].inode, 6431340);
	text = read_data("proc/udp-listener/net/udp6", &len);
	n = 0;
	T_CHECK_INT(hostinfo_parse_udp(text ? text : "", text ? len : 0, 1, l, 16, &n), 0);
	T_CHECK_INT(n, 0);
	free(text);
	/* bound and unconnected: listening; connected (01), or 07 with a peer, or port 0: not */
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 31337 2 0000000000000000 0", 0, &one), 1);
	T_CHECK_INT(one.port, 53);
	T_CHECK_INT(one.loopback, 1);
	T_CHECK_INT(one.inode, 31337);
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 0100007F:0035 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 31338 2 0000000000000000 0", 0, &one), 0);
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 0100007F:0035 0100007F:0000 07 00000000:00000000 00:00000000 00000000     0        0 31339 2 0000000000000000 0", 0, &one), 0);
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 00000000:0000 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 31340 2 0000000000000000 0", 0, &one), 0);
	T_CHECK_INT(hostinfo_parse_udp_line("  5: 00000000000000000000000000000000:14E9 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0", 1, &one), 1);
	T_CHECK_INT(one.port, 5353);
	T_CHECK_INT(one.v6, 1);
	T_CHECK_INT(one.udp, 1);
	/* the TCP parser never takes a UDP socket for a listener, nor the reverse */
	T_CHECK_INT(hostinfo_parse_tcp_line("  118: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 31337 2 0000000000000000 0", 0, &one), 0);
	T_CHECK_INT(hostinfo_parse_udp_line("   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1", 0, &one), 0);
	/* malformed */
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 0100007F:0035 00000000:0000 07", 0, &one), -EBADMSG);
	T_CHECK_INT(hostinfo_parse_udp_line("  118: 0100007F:0035 00000000:0000 07 0:0 0:0 0 0 0 1", 1, &one), -EBADMSG);
}

T_TEST(container_udp_port)
{
	struct hostinfo_listen listen[3];
	uint64_t inodes[2] = { 7001, 7002 };
	struct inventory_facts f;
	const json_t *p, *ports;
	json_t *insp = load_json("containers/inspect-priv-web.json"), *rec = NULL;
	char err[320];
	size_t i;
	int udp_seen = 0;

	if (insp == NULL) {
		T_CHECK(0);
		return;
	}
	/* published 5353/udp (not listening), and nc -u -l on 28552 (not published) */
	json_object_set_new(json_object_get(json_object_get(insp, "NetworkSettings"), "Ports"), "5353/udp",
			    json_pack("[{s:s,s:s}]", "HostIp", "0.0.0.0", "HostPort", "15353"));
	memset(listen, 0, sizeof(listen));
	listen[0].port = 28552;
	listen[0].udp = 1;
	listen[0].inode = 7001;
	listen[1].port = 28552; /* the same socket seen in udp6: one entry */
	listen[1].udp = 1;
	listen[1].v6 = 1;
	listen[1].inode = 7002;
	listen[2].port = 9999; /* another process's: not the container's */
	listen[2].udp = 1;
	listen[2].inode = 8000;
	memset(&f, 0, sizeof(f));
	f.listen = listen;
	f.nlisten = 3;
	f.listen_known = 1;
	f.inodes = inodes;
	f.ninodes = 2;
	f.inodes_known = 1;
	T_CHECK_INT(inventory_container_record(insp, NULL, &f, NULL, &rec, err, sizeof(err)), 0);
	json_decref(insp);
	ports = jget(rec, "network.ports");
	json_array_foreach(ports, i, p) {
		const char *proto = sget(p, "protocol");
		long long c = json_integer_value(json_object_get(p, "container"));

		T_CHECK(proto != NULL);
		if (proto == NULL || strcmp(proto, "udp") != 0)
			continue;
		udp_seen++;
		if (c == 28552) {
			T_CHECK(json_is_true(json_object_get(p, "listening")));
			T_CHECK(json_is_false(json_object_get(p, "nat")));
			T_CHECK(json_object_get(p, "host") == NULL);
		} else {
			T_CHECK_INT(c, 5353);
			T_CHECK(json_is_false(json_object_get(p, "listening")));
			T_CHECK(json_is_true(json_object_get(p, "nat")));
			T_CHECK_INT(json_integer_value(json_object_get(p, "host")), 15353);
		}
	}
	T_CHECK_INT(udp_seen, 2);
	json_decref(rec);
}

/* A recorded /proc and cgroup tree under tmp_dir/<name>: put_file(root, "proc/1/stat", text). */
static void put_file(const char *root, const char *rel, const char *data, size_t len)
{
	char path[PATH_MAX], dir[PATH_MAX];
	char *slash;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	T_CHECK_INT(util_mkdirs(dir, 0755), 0);
	T_CHECK_INT(util_write_file(path, data, len, 0644), 0);
}

#define CPROC_ID "5f0b8d2b4ad1e7a2b5d34a5e8f6ad5a3c0d7c2f0e6b9a1b2c3d4e5f60718293a"
#define CPROC_OTHER "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* One process in the tree: stat, status (uid), cmdline and cgroup. */
static void put_proc(const char *root, long pid, const char *comm, long ppid, long euid,
		     const char *cmdline, size_t cmdlen, const char *cgroup)
{
	char rel[64], buf[1024];
	int n;

	snprintf(rel, sizeof(rel), "proc/%ld/stat", pid);
	n = snprintf(buf, sizeof(buf), "%ld (%s) S %ld %ld %ld 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 5000 1000 10\n",
		     pid, comm, ppid, pid, pid);
	put_file(root, rel, buf, (size_t)n);
	snprintf(rel, sizeof(rel), "proc/%ld/status", pid);
	n = snprintf(buf, sizeof(buf), "Name:\t%.15s\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t%ld\nPid:\t%ld\nPPid:\t%ld\nUid:\t0\t%ld\t%ld\t%ld\nGid:\t0\t0\t0\t0\n",
		     comm, pid, pid, ppid, euid, euid, euid);
	put_file(root, rel, buf, (size_t)n);
	snprintf(rel, sizeof(rel), "proc/%ld/cmdline", pid);
	put_file(root, rel, cmdline, cmdlen);
	snprintf(rel, sizeof(rel), "proc/%ld/cgroup", pid);
	put_file(root, rel, cgroup, strlen(cgroup));
}

/* The process with this pid in a list from cproc_processes(). */
static const json_t *proc_of(const json_t *procs, long pid)
{
	const json_t *p;
	size_t i;

	json_array_foreach(procs, i, p)
		if (json_integer_value(json_object_get(p, "pid")) == pid)
			return p;
	return NULL;
}

T_TEST(processes_from_proc)
{
	/* a hybrid host (v1 controllers + v2 in unified), as the test machines */
	static const char cg[] = "12:pids:/docker/" CPROC_ID "\n4:memory:/docker/" CPROC_ID "\n"
				 "1:name=systemd:/docker/" CPROC_ID "\n0::/docker/" CPROC_ID "\n";
	static const char cg_host[] = "12:pids:/\n4:memory:/\n1:name=systemd:/init.scope\n0::/init.scope\n";
	char root[PATH_MAX], proc[PATH_MAX + 8], cgr[PATH_MAX + 32], big[3000], *raw;
	long pids[8];
	size_t n = 0;
	int trunc = 0;
	json_t *procs = NULL;
	const json_t *p;
	struct cproc_users *users = NULL;
	char name[64];

	snprintf(root, sizeof(root), "%s/cproc", tmp_dir);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cgr, sizeof(cgr), "%s/sys/fs/cgroup", root);
	put_proc(root, 4100, "sleep", 4090, 0, "sleep\0" "600\0", 10, cg);
	/* a child with a directory in argv[0], run as nobody */
	put_proc(root, 4107, "nc", 4100, 65534, "/bin/nc\0-u\0-l\0-p\0" "28552\0", 24, cg);
	/* a zombie: no command line */
	put_proc(root, 4105, "defunct (x)", 4100, 0, "", 0, cg);
	/* invalid UTF-8 and a control character; a cut over the limit */
	put_proc(root, 4103, "weird", 4100, 1000, "a\xff\x01" "b\0\xc3\xa9t\xc3\xa9\0", 11, cg);
	memset(big, 'x', sizeof(big));
	memcpy(big + 1022, "\xe2\x82\xac", 3); /* a 3-byte character across the 1 KiB cut */
	put_proc(root, 4104, "long", 4100, 0, big, sizeof(big), cg);
	/* a process of the host in the same PID namespace: not the container's */
	put_proc(root, 1, "systemd", 0, 0, "/sbin/init\0", 11, cg_host);
	put_file(root, "sys/fs/cgroup/unified/docker/" CPROC_ID "/cgroup.procs",
		 "4100\n4107\n4103\n4104\n4105\n", 25);
	{
		static const char pw[] = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
					 "bad line\n\xff\xfe:x:1000:1000::/:/bin/sh\n";
		put_file(root, "etc/passwd", pw, strlen(pw));
	}

	/* from the v2 hierarchy under "unified", in pid order */
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 5);
	T_CHECK_INT(trunc, 0);
	T_CHECK_INT(pids[0], 4100);
	T_CHECK_INT(pids[1], 4103);
	T_CHECK_INT(pids[4], 4107);
	/* more than fit */
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 3, &n, &trunc), 0);
	T_CHECK_INT(n, 3);
	T_CHECK_INT(trunc, 1);
	/* a hybrid host whose engine does not use the v2 hierarchy: the anchor's v2 cgroup is the
	 * root, shared with the host; only the v1 cgroup that names the container counts */
	put_proc(root, 4200, "sleep", 1, 0, "sleep\0", 6, "12:pids:/docker/" CPROC_OTHER "\n0::/\n");
	put_file(root, "sys/fs/cgroup/unified/cgroup.procs", "1\n4200\n", 7);
	put_file(root, "sys/fs/cgroup/pids/docker/" CPROC_OTHER "/cgroup.procs", "4200\n", 5);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_OTHER, 4200, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 1);
	T_CHECK_INT(pids[0], 4200);
	/* the anchor is not the container's (another PID namespace): refused */
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_OTHER, 4100, pids, 8, &n, &trunc), -ESRCH);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 1, pids, 8, &n, &trunc), -ESRCH);
	/* gone */
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4199, pids, 8, &n, &trunc), -ENOENT);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 0, pids, 8, &n, &trunc), -EINVAL);
	/* no cgroup file system: a scan of /proc finds the same processes */
	T_CHECK_INT(cproc_pids(proc, NULL, CPROC_ID, 4100, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 5);
	T_CHECK_INT(pids[0], 4100);
	T_CHECK_INT(pids[4], 4107);
	T_CHECK_INT(cproc_pids(proc, "/nonexistent", CPROC_ID, 4107, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 5);
	/* a v1 hierarchy only (pure v1 host): the pids controller's */
	put_file(root, "v1/pids/docker/" CPROC_ID "/cgroup.procs", "4100\n4107\n", 10);
	snprintf(cgr, sizeof(cgr), "%s/v1", root);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 2);
	/* a cgroup.procs that does not list the anchor is not the container's: the scan decides */
	put_file(root, "v1/pids/docker/" CPROC_ID "/cgroup.procs", "4107\n", 5);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(n, 5);
	/* garbage in cgroup.procs */
	put_file(root, "v1/pids/docker/" CPROC_ID "/cgroup.procs", "4100\nfoo\n", 9);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 8, &n, &trunc), -EBADMSG);
	snprintf(cgr, sizeof(cgr), "%s/sys/fs/cgroup", root);

	/* the processes, as `ps -ef` through top would give them */
	snprintf(cgr, sizeof(cgr), "%s/etc/passwd", root);
	T_CHECK_INT(cproc_users_load(cgr, &users), 0);
	snprintf(cgr, sizeof(cgr), "%s/sys/fs/cgroup", root);
	T_CHECK_INT(cproc_pids(proc, cgr, CPROC_ID, 4100, pids, 8, &n, &trunc), 0);
	T_CHECK_INT(cproc_processes(proc, users, pids, n, 1024, &procs), 0);
	T_CHECK_INT(json_array_size(procs), 5);
	p = proc_of(procs, 4100);
	T_CHECK_STR(sget(p, "name"), "sleep");
	T_CHECK_STR(sget(p, "cmdline"), "sleep 600");
	T_CHECK_STR(sget(p, "user"), "root");
	T_CHECK_INT(json_integer_value(json_object_get(p, "ppid")), 4090);
	p = proc_of(procs, 4107);
	T_CHECK_STR(sget(p, "name"), "nc");
	T_CHECK_STR(sget(p, "cmdline"), "/bin/nc -u -l -p 28552");
	T_CHECK_STR(sget(p, "user"), "nobody");
	T_CHECK_INT(json_integer_value(json_object_get(p, "ppid")), 4100);
	p = proc_of(procs, 4105);
	T_CHECK_STR(sget(p, "cmdline"), "[defunct (x)]");
	p = proc_of(procs, 4103);
	T_CHECK_STR(sget(p, "cmdline"), "a??b \xc3\xa9t\xc3\xa9");
	T_CHECK_STR(sget(p, "user"), "1000"); /* its passwd line was not a valid name */
	p = proc_of(procs, 4104);
	T_CHECK(json_is_true(json_object_get(p, "cmdlineTruncated")));
	T_CHECK_INT(strlen(sget(p, "cmdline")), 1022);
	json_decref(procs);
	/* a process that exited meanwhile is left out */
	pids[0] = 4100;
	pids[1] = 4188;
	T_CHECK_INT(cproc_processes(proc, users, pids, 2, 1024, &procs), 0);
	T_CHECK_INT(json_array_size(procs), 1);
	json_decref(procs);
	/* users: names, else numbers */
	T_CHECK_STR(cproc_user_name(users, 65534, name, sizeof(name)), "nobody");
	T_CHECK_STR(cproc_user_name(users, 4242, name, sizeof(name)), "4242");
	T_CHECK_STR(cproc_user_name(NULL, 0, name, sizeof(name)), "0");
	cproc_users_free(users);
	cproc_users_free(NULL);
	T_CHECK_INT(cproc_users_load("/nonexistent/passwd", &users), -ENOENT);
	T_CHECK(users == NULL);
	/* the cleaner: valid UTF-8 out, whatever comes in */
	raw = malloc(16);
	T_CHECK_INT(cproc_clean_text("\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80", 9, raw, 16), 9);
	T_CHECK_STR(raw, "?????????");
	T_CHECK_INT(cproc_clean_text("ok\xf0\x9f\x99\x82", 6, raw, 16), 6);
	T_CHECK_STR(raw, "ok\xf0\x9f\x99\x82");
	free(raw);
	/* this machine's own /proc: this process is in no container of that id */
	T_CHECK_INT(cproc_pids("/proc", "/sys/fs/cgroup", CPROC_ID, (long)getpid(), pids, 8, &n, &trunc), -ESRCH);
}

/* The thread takes the processes from /proc when the anchor there names the container, and asks
 * the engine's top for the others. */
T_TEST(inventory_processes_from_proc)
{
	char root[PATH_MAX], proc[PATH_MAX + 8], cgr[PATH_MAX + 32], cg[256];
	struct inventory *inv = NULL;
	size_t at = 0;
	json_t *m;
	const json_t *procs;

	snprintf(root, sizeof(root), "%s/thread", tmp_dir);
	snprintf(proc, sizeof(proc), "%s/proc", root);
	snprintf(cgr, sizeof(cgr), "%s/cgroup", root);
	/* the recorded running containers all have State.Pid NO_PID; in this tree it is hostnet's */
	snprintf(cg, sizeof(cg), "0::/system.slice/docker-%s.scope\n", ID_HOSTNET);
	put_proc(root, NO_PID, "sh", 4000, 0, "/bin/sh\0-c\0nc -l -p 18080\0", 26, cg);
	put_proc(root, NO_PID - 1, "nc", NO_PID, 65534, "nc\0-l\0-p\0" "18080\0", 15, cg);
	snprintf(cg, sizeof(cg), "system.slice/docker-%s.scope/cgroup.procs", ID_HOSTNET);
	{
		char rel[300], list[32];
		int n = snprintf(list, sizeof(list), "%d\n%d\n", NO_PID, NO_PID - 1);
		snprintf(rel, sizeof(rel), "cgroup/%s", cg);
		put_file(root, rel, list, (size_t)n);
	}
	{
		static const char pw[] = "root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n";
		put_file(root, "etc/passwd", pw, strlen(pw));
	}

	json_array_clear(sink.msgs);
	fake_routes_recorded();
	T_CHECK_INT(fake_start(), 0);
	setenv("GARRISON_PROC_ROOT", proc, 1);
	setenv("GARRISON_CGROUP_ROOT", cgr, 1);
	T_CHECK_INT(inventory_start(fk.sock, root, NULL, sink_emit, &sink, &inv), 0);
	unsetenv("GARRISON_PROC_ROOT");
	unsetenv("GARRISON_CGROUP_ROOT");
	if (inv == NULL) {
		fake_stop();
		return;
	}
	m = sink_wait(&at, "inventory", NULL, NULL, 5000);
	T_CHECK(m != NULL);
	if (m != NULL) {
		/* hostnet: both processes from the tree, with the tree's passwd names */
		procs = jget(snap_container(m, ID_HOSTNET), "processes");
		T_CHECK_INT(json_array_size(procs), 2);
		T_CHECK_STR(sget(json_array_get(procs, 0), "cmdline"), "nc -l -p 18080");
		T_CHECK_STR(sget(json_array_get(procs, 0), "user"), "nobody");
		T_CHECK_INT(json_integer_value(jget(json_array_get(procs, 1), "pid")), NO_PID);
		T_CHECK_STR(sget(json_array_get(procs, 1), "name"), "sh");
		/* the others: the pid names another container's init there, so top answered */
		procs = jget(snap_container(m, ID_ECS), "processes");
		T_CHECK_INT(json_array_size(procs), 1);
		T_CHECK_STR(sget(json_array_get(procs, 0), "name"), "sleep");
	}
	json_decref(m);
	inventory_stop(inv);
	fake_stop();
	json_array_clear(sink.msgs);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/cproc", tmp_dir);
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	snprintf(p, sizeof(p), "%s/thread", tmp_dir);
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	snprintf(p, sizeof(p), "%s/docker.sock", tmp_dir);
	unlink(p);
	rmdir(tmp_dir);
	fake_routes_clear();
	json_decref(sink.msgs);
}

static const struct t_case cases[] = {
	T_CASE(container_privileged_ports_mounts_caps),
	T_CASE(container_host_network_listening),
	T_CASE(container_ecs_labels_override_node_cluster),
	T_CASE(container_kubernetes_labels),
	T_CASE(container_not_running),
	T_CASE(container_list_matches_inspects),
	T_CASE(container_garbage),
	T_CASE(container_bounds_and_shedding),
	T_CASE(top_processes),
	T_CASE(image_records),
	T_CASE(event_lines),
	T_CASE(proc_net_tcp),
	T_CASE(snapshot_parts),
	T_CASE(socket_addresses),
	T_CASE(client_negotiation),
	T_CASE(client_garbage_answers),
	T_CASE(client_event_stream),
	T_CASE(inventory_follows_the_engine),
	T_CASE(inventory_without_engine),
	T_CASE(proc_net_udp),
	T_CASE(container_udp_port),
	T_CASE(processes_from_proc),
	T_CASE(inventory_processes_from_proc),
};

int main(int argc, char **argv)
{
	int rc;

	log_init("test_inventory", LOG_LVL_WARN);
	find_data();
	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/gtinv.XXXXXX");
	if (mkdtemp(tmp_dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	evthread_use_pthreads();
	/* the fake engine writes to clients that hung up, as the Defender's peers may */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&fk.mu, NULL);
	snprintf(fk.sock, sizeof(fk.sock), "%s/docker.sock", tmp_dir);
	snprintf(fk.api_hdr, sizeof(fk.api_hdr), "1.41");
	sink.msgs = json_array();
	rc = t_run(cases, ARRAY_SIZE(cases), argc, argv);
	cleanup();
	curl_global_cleanup();
	libevent_global_shutdown();
	return rc;
}
