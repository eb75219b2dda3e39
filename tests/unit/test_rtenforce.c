/*
 * test_rtenforce: what needs no privileges in runtime enforcement applied by policy: the rule
 * accessors of runtime.c (which rule applies to a workload, what it wants prevented, its lists),
 * and defender/rtenforce.c without a kernel to enforce in: policy refusals, containers that need
 * nothing, the failure accounting when a primitive refuses (the host root is never marked), the
 * stats document with its counts of what cannot be enforced, and block through an engine that is
 * not there (reported as failed, a second block of the same container refused while pending).
 * The kernel side is tests/integration/rtenforce.sh.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "../../defender/rtenforce.h"
#include "../../defender/runtime.h"
#include "t.h"

#define CID_A "af4f842fa86bf94841d5ec91a2e8e814f5802ada7ccaae0ef996b8be45f85689"
#define CID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char *POLICY =
	"{\"rules\":["
	"{\"name\":\"off\",\"disabled\":true,\"processes\":{\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"*\"]}}},"
	"{\"name\":\"web\",\"collections\":[{\"name\":\"web\",\"images\":[\"nginx*\"]}],"
	" \"processes\":{\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"/bin/wget\",\"nc\"]}},"
	" \"filesystem\":{\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"/etc/secret\"]}},"
	" \"network\":{\"deniedIPsEffect\":\"prevent\",\"deniedIPs\":[\"10.1.2.3\",\"10.9.8.0/30\",\"10.0.0.0/8\",\"fd00::1\"],"
	"  \"outboundPorts\":{\"effect\":\"prevent\",\"denied\":[{\"start\":25,\"end\":26},{\"start\":6667},{\"start\":1000,\"end\":2000}]}}},"
	"{\"name\":\"alerting\",\"collections\":[{\"name\":\"db\",\"images\":[\"postgres*\"]}],"
	" \"processes\":{\"deniedList\":{\"effect\":\"alert\",\"paths\":[\"/bin/sh\"]}},"
	" \"filesystem\":{\"disabled\":true,\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"/x\"]}},"
	" \"network\":{\"deniedIPsEffect\":\"prevent\",\"deniedIPs\":[]}},"
	"{\"name\":\"miners\",\"collections\":[{\"name\":\"m\",\"images\":[\"miner*\"]}],"
	" \"processes\":{\"cryptoMinersEffect\":\"prevent\"}}"
	"]}";

static struct runtime_policy *policy(const char *text)
{
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	struct runtime_policy *p = NULL;
	char err[300] = "";

	if (j == NULL || runtime_policy_from_json(j, &p, err, sizeof(err)) != 0)
		fprintf(stderr, "  test policy refused: %s\n", err);
	json_decref(j);
	return p;
}

static void workload(struct runtime_workload *w, const char *image)
{
	memset(w, 0, sizeof(*w));
	w->subject.container = "c1";
	w->subject.image = image;
	w->subject.host = "h";
}

T_TEST(match_first_enabled_rule)
{
	struct runtime_policy *p = policy(POLICY);
	struct runtime_workload w;

	T_CHECK(p != NULL);
	if (p == NULL)
		return;
	workload(&w, "nginx:1.25");
	T_CHECK_INT(runtime_policy_match(p, &w), 1); /* rule 0 is disabled */
	workload(&w, "postgres:16");
	T_CHECK_INT(runtime_policy_match(p, &w), 2);
	workload(&w, "miner:1");
	T_CHECK_INT(runtime_policy_match(p, &w), 3);
	workload(&w, "redis:7");
	T_CHECK_INT(runtime_policy_match(p, &w), -ENOENT);
	T_CHECK_INT(runtime_policy_match(NULL, &w), -EINVAL);
	runtime_policy_free(p);
}

T_TEST(prevent_info)
{
	struct runtime_policy *p = policy(POLICY);
	struct runtime_prevent_info in;
	struct runtime_net_prefix pf;
	uint16_t s, e;
	uint8_t a[16];

	if (p == NULL) {
		T_CHECK(p != NULL);
		return;
	}
	T_CHECK_INT(runtime_rule_prevent_info(p, 1, &in), 0);
	T_CHECK_STR(in.rule, "web");
	T_CHECK(in.exec && in.open && in.net && in.ports);
	T_CHECK_INT(in.nprocs, 2);
	T_CHECK_STR(in.procs[0], "/bin/wget");
	T_CHECK_STR(in.procs[1], "nc");
	T_CHECK_INT(in.npaths, 1);
	T_CHECK_STR(in.paths[0], "/etc/secret");
	T_CHECK_INT(in.nips, 4);
	T_CHECK_INT(in.nports, 3);

	T_CHECK_INT(runtime_rule_denied_ip(p, 1, 0, &pf), 0);
	inet_pton(AF_INET, "10.1.2.3", a);
	T_CHECK(pf.family == AF_INET && pf.prefix == 32 && memcmp(pf.addr, a, 4) == 0);
	T_CHECK_INT(runtime_rule_denied_ip(p, 1, 1, &pf), 0);
	T_CHECK_INT(pf.prefix, 30);
	T_CHECK_INT(runtime_rule_denied_ip(p, 1, 3, &pf), 0);
	inet_pton(AF_INET6, "fd00::1", a);
	T_CHECK(pf.family == AF_INET6 && pf.prefix == 128 && memcmp(pf.addr, a, 16) == 0);
	T_CHECK_INT(runtime_rule_denied_ip(p, 1, 4, &pf), -ENOENT);

	T_CHECK_INT(runtime_rule_denied_ports(p, 1, 0, &s, &e), 0);
	T_CHECK(s == 25 && e == 26);
	T_CHECK_INT(runtime_rule_denied_ports(p, 1, 1, &s, &e), 0);
	T_CHECK(s == 6667 && e == 6667); /* no end: one port */
	T_CHECK_INT(runtime_rule_denied_ports(p, 1, 2, &s, &e), 0);
	T_CHECK(s == 1000 && e == 2000);
	T_CHECK_INT(runtime_rule_denied_ports(p, 1, 3, &s, &e), -ENOENT);

	/* alert effect, disabled section, empty list: nothing to prevent */
	T_CHECK_INT(runtime_rule_prevent_info(p, 2, &in), 0);
	T_CHECK_STR(in.rule, "alerting");
	T_CHECK(!in.exec && !in.open && !in.net && !in.ports);
	/* crypto miners with prevent: exec decisions without a deny list */
	T_CHECK_INT(runtime_rule_prevent_info(p, 3, &in), 0);
	T_CHECK(in.exec && !in.open && !in.net && in.nprocs == 0);
	T_CHECK_INT(runtime_rule_prevent_info(p, 4, &in), -ENOENT);
	T_CHECK_INT(runtime_rule_prevent_info(NULL, 0, &in), -EINVAL);
	runtime_policy_free(p);
}

/* ---- rtenforce ---- */

struct rec {
	pthread_mutex_t m;
	pthread_cond_t c;
	int n, ok, hold;
	char why[256], container[EVENT_CONTAINER_MAX], attack[64];
};

static void on_report(const struct rtenforce_report *r, void *arg)
{
	struct rec *rc = arg;

	pthread_mutex_lock(&rc->m);
	while (rc->hold)
		pthread_cond_wait(&rc->c, &rc->m);
	rc->n++;
	rc->ok = r->ok;
	snprintf(rc->why, sizeof(rc->why), "%s", r->why);
	snprintf(rc->container, sizeof(rc->container), "%s", r->container);
	snprintf(rc->attack, sizeof(rc->attack), "%s", r->d.attack_type ? r->d.attack_type : "");
	pthread_cond_broadcast(&rc->c);
	pthread_mutex_unlock(&rc->m);
}

static json_t *stats_get(struct rtenforce *e, const char *a, const char *b)
{
	json_t *j = rtenforce_stats_json(e), *v;
	static char buf[300];

	T_CHECK(j != NULL);
	if (j == NULL)
		return NULL;
	v = b ? json_object_get(json_object_get(j, a), b) : json_object_get(j, a);
	v = v ? json_deep_copy(v) : NULL;
	json_decref(j);
	(void)buf;
	return v;
}

static long long stat_int(struct rtenforce *e, const char *a, const char *b)
{
	json_t *v = stats_get(e, a, b);
	long long r = json_is_integer(v) ? (long long)json_integer_value(v) : -1;

	json_decref(v);
	return r;
}

T_TEST(policy_and_containers)
{
	struct rtenforce_config cfg = { 0 };
	struct rtenforce *e = NULL;
	struct runtime_workload w;
	json_t *j, *v;
	char err[300];
	int rc;

	T_CHECK_INT(rtenforce_new(&cfg, &e), 0);
	if (e == NULL)
		return;
	/* refused policy: the sentence names the member */
	j = json_loads("{\"rules\":[{\"name\":\"a\",\"network\":{\"deniedIPs\":[\"nope\"]}}]}", 0, NULL);
	err[0] = 0;
	T_CHECK_INT(rtenforce_set_policy(e, j, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "deniedIPs[0]") != NULL);
	json_decref(j);

	j = json_loads(POLICY, 0, NULL);
	T_CHECK_INT(rtenforce_set_policy(e, j, err, sizeof(err)), 0);
	json_decref(j);
	/* 10.0.0.0/8 cannot be enforced (more than 256 addresses); /30 expands; 2 port ranges */
	T_CHECK_INT(stat_int(e, "net", "unenforcedCIDRs"), 1);
	T_CHECK_INT(stat_int(e, "net", "unenforcedPortRanges"), 1); /* 1000-2000: more than 256 ports */

	/* a bad id or pid */
	workload(&w, "redis:7");
	T_CHECK_INT(rtenforce_container(e, "abc", 1, &w, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(rtenforce_container(e, CID_A, 0, &w, err, sizeof(err)), -EINVAL);
	/* a container whose rule prevents nothing: known, nothing loaded */
	T_CHECK_INT(rtenforce_container(e, CID_A, getpid(), &w, err, sizeof(err)), 0);
	workload(&w, "postgres:16");
	T_CHECK_INT(rtenforce_container(e, CID_B, getpid(), &w, err, sizeof(err)), 0);
	T_CHECK_INT(stat_int(e, "containers", NULL), 2);
	T_CHECK_INT(stat_int(e, "failures", NULL), 0);
	v = stats_get(e, "fanotify", "active");
	T_CHECK(json_is_false(v));
	json_decref(v);
	T_CHECK_INT(rtenforce_net_enforced(e, CID_A), 0);

	/* exec prevention wanted for a "container" whose root is the host's: refused, counted, and
	 * the container runs unenforced (as root the host root is refused; without root fanotify
	 * itself is refused) */
	workload(&w, "miner:1");
	err[0] = 0;
	rc = rtenforce_container(e, CID_A, getpid(), &w, err, sizeof(err));
	T_CHECK(rc == -EPERM || rc == -EINVAL || rc == -ENOSYS);
	T_CHECK(strstr(err, CID_A) == NULL && strstr(err, "af4f842fa86b") != NULL);
	T_CHECK_INT(stat_int(e, "failures", NULL), 1);
	v = stats_get(e, "lastError", NULL);
	T_CHECK(json_is_string(v) && strstr(json_string_value(v), "exec/open prevention") != NULL);
	json_decref(v);
	T_CHECK_INT(stat_int(e, "fanotify", "containers"), 0);

	/* a policy without prevent: re-evaluated, nothing to apply, no new failure */
	j = json_loads("{\"rules\":[{\"name\":\"only-alerts\"}]}", 0, NULL);
	T_CHECK_INT(rtenforce_set_policy(e, j, err, sizeof(err)), 0);
	json_decref(j);
	T_CHECK_INT(stat_int(e, "failures", NULL), 1);
	T_CHECK_INT(stat_int(e, "net", "unenforcedCIDRs"), 0);

	rtenforce_container_gone(e, CID_A);
	rtenforce_container_gone(e, CID_A); /* twice: nothing */
	T_CHECK_INT(stat_int(e, "containers", NULL), 1);
	v = stats_get(e, "lsm", NULL);
	T_CHECK(json_is_string(v) && (strncmp(json_string_value(v), "available", 9) == 0 ||
				       strncmp(json_string_value(v), "unavailable: ", 13) == 0));
	json_decref(v);
	rtenforce_free(e);
	rtenforce_free(NULL);
}

T_TEST(block_without_engine)
{
	struct rec r = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 1, "", "", "" };
	struct rtenforce_config cfg = { "unix:///tmp/h4-no-such-dir/docker.sock", on_report, &r, 0 };
	struct rtenforce *e = NULL;
	struct runtime_decision d = { 0 };
	struct event ev = { 0 };

	T_CHECK_INT(rtenforce_new(&cfg, &e), 0);
	if (e == NULL)
		return;
	d.effect = RUNTIME_EFFECT_BLOCK;
	d.attack_type = "explicitlyDeniedProcess";
	d.type = "processes";
	d.severity = "high";
	ev.type = EVENT_EXEC;
	T_CHECK_INT(rtenforce_block(e, CID_A, &ev, &d), 0);
	/* the report is held: the block of A is pending (queued or running) */
	T_CHECK_INT(rtenforce_block(e, CID_A, &ev, &d), -EALREADY);
	T_CHECK_INT(rtenforce_block(e, CID_B, &ev, &d), 0);
	pthread_mutex_lock(&r.m);
	r.hold = 0;
	pthread_cond_broadcast(&r.c);
	while (r.n < 2)
		pthread_cond_wait(&r.c, &r.m);
	pthread_mutex_unlock(&r.m);
	T_CHECK_INT(r.ok, 0);
	T_CHECK(r.why[0] != 0);
	T_CHECK_STR(r.container, CID_B);
	T_CHECK_STR(r.attack, "explicitlyDeniedProcess");
	T_CHECK_INT(stat_int(e, "blocks", "failed"), 2);
	T_CHECK_INT(stat_int(e, "blocks", "ok"), 0);
	/* once done, A can be blocked again */
	T_CHECK_INT(rtenforce_block(e, CID_A, &ev, &d), 0);
	T_CHECK_INT(rtenforce_block(e, "", &ev, &d), -EINVAL);
	rtenforce_free(e); /* reports or finishes what is queued */
	T_CHECK_INT(r.n, 3);
}

T_MAIN(T_CASE(match_first_enabled_rule), T_CASE(prevent_info), T_CASE(policy_and_containers),
       T_CASE(block_without_engine))
