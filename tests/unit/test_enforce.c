/*
 * test_enforce: the parts of defender/enforce.h that need no root and no kernel feature: path
 * normalisation, path deny lists, network rule parsing and formatting, option checks, and the
 * block action's errors without an engine. The kernel paths (fanotify, cgroup BPF, BPF-LSM,
 * Docker) are covered by tests/integration/enforce.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "t.h"
#include "../../defender/enforce.h"

static const char *norm(const char *in)
{
	static char buf[ENFORCE_PATH_MAX];

	if (enforce_path_normalize(in, buf, sizeof(buf)) != 0)
		return "(error)";
	return buf;
}

T_TEST(test_path_normalize)
{
	char small[8];

	T_CHECK_STR(norm("/"), "/");
	T_CHECK_STR(norm("//"), "/");
	T_CHECK_STR(norm("/bin/sh"), "/bin/sh");
	T_CHECK_STR(norm("/bin//sh/"), "/bin/sh");
	T_CHECK_STR(norm("/./bin/./sh"), "/bin/sh");
	T_CHECK_STR(norm("/usr/bin/../lib/x"), "/usr/lib/x");
	T_CHECK_STR(norm("/../../etc/passwd"), "/etc/passwd");
	T_CHECK_STR(norm("/a/b/c/../../d"), "/a/d");
	T_CHECK_STR(norm("/a/.."), "/");
	T_CHECK_STR(norm("/a/..b/.c"), "/a/..b/.c");
	T_CHECK_STR(norm("/tmp/x (deleted)"), "/tmp/x (deleted)");
	T_CHECK_INT(enforce_path_normalize("bin/sh", small, sizeof(small)), -EINVAL);
	T_CHECK_INT(enforce_path_normalize("", small, sizeof(small)), -EINVAL);
	T_CHECK_INT(enforce_path_normalize(NULL, small, sizeof(small)), -EINVAL);
	T_CHECK_INT(enforce_path_normalize("/0123456789", small, sizeof(small)), -ENAMETOOLONG);
	T_CHECK_INT(enforce_path_normalize("/0123", small, sizeof(small)), 0);
	T_CHECK_STR(small, "/0123");
	T_CHECK_INT(enforce_path_normalize("/01234/..", small, sizeof(small)), 0);
	T_CHECK_STR(small, "/");
}

T_TEST(test_pathset_match)
{
	struct enforce_pathset *s = NULL;

	T_CHECK_INT(enforce_pathset_new(&s), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/tmp/evil"), 0);
	T_CHECK_INT(enforce_pathset_add(s, "/tmp//evil"), 0);        /* exact, normalised */
	T_CHECK_INT(enforce_pathset_add(s, "/opt/x/"), 0);           /* subtree */
	T_CHECK_INT(enforce_pathset_add(s, "/usr/bin/nc*"), 0);      /* glob */
	T_CHECK_INT(enforce_pathset_add(s, "/srv/*/key"), 0);        /* glob, one level */
	T_CHECK_INT(enforce_pathset_count(s), 4);
	T_CHECK_INT(enforce_pathset_match(s, "/tmp/evil"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/tmp/evil2"), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/tmp/evi"), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/tmp"), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/opt/x/a"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/opt/x/a/b/c"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/opt/xy/a"), 0);       /* a prefix ends at a '/' */
	T_CHECK_INT(enforce_pathset_match(s, "/opt/x"), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/usr/bin/nc"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/usr/bin/ncat"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/usr/bin/x/nc"), 0);
	T_CHECK_INT(enforce_pathset_match(s, "/srv/a/key"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/srv/a/b/key"), 0);    /* FNM_PATHNAME: '*' stops at '/' */
	T_CHECK_INT(enforce_pathset_match(NULL, "/tmp/evil"), 0);
	T_CHECK_INT(enforce_pathset_match(s, NULL), 0);
	T_CHECK_INT(enforce_pathset_add(s, "relative"), -EINVAL);
	T_CHECK_INT(enforce_pathset_add(s, ""), -EINVAL);
	T_CHECK_INT(enforce_pathset_add(s, NULL), -EINVAL);
	T_CHECK_INT(enforce_pathset_count(s), 4);
	enforce_pathset_free(s);
	enforce_pathset_free(NULL);
}

T_TEST(test_pathset_root_prefix)
{
	struct enforce_pathset *s = NULL;

	T_CHECK_INT(enforce_pathset_new(&s), 0);
	T_CHECK_INT(enforce_pathset_add(s, "/"), 0); /* "/" ends in '/': everything */
	T_CHECK_INT(enforce_pathset_match(s, "/bin/sh"), 1);
	enforce_pathset_free(s);
}

T_TEST(test_pathset_list)
{
	struct enforce_pathset *s = NULL;
	char big[ENFORCE_PATH_MAX + 10];

	T_CHECK_INT(enforce_pathset_new(&s), 0);
	T_CHECK_INT(enforce_pathset_add_list(s, "/a,/b/,,/c*"), 0);
	T_CHECK_INT(enforce_pathset_count(s), 3);
	T_CHECK_INT(enforce_pathset_match(s, "/a"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/b/z"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/cat"), 1);
	T_CHECK_INT(enforce_pathset_match(s, "/d"), 0);
	T_CHECK_INT(enforce_pathset_add_list(s, "/ok,bad"), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = 0;
	T_CHECK_INT(enforce_pathset_add_list(s, big), -ENAMETOOLONG);
	T_CHECK_INT(enforce_pathset_add(s, big), -ENAMETOOLONG);
	enforce_pathset_free(s);
}

static const char *fmt(const char *in)
{
	static char buf[96];
	struct enforce_net_rule r;

	if (enforce_net_rule_parse(in, &r) != 0)
		return "(error)";
	enforce_net_rule_format(&r, buf, sizeof(buf));
	return buf;
}

T_TEST(test_net_rule_parse)
{
	struct enforce_net_rule r;

	T_CHECK_INT(enforce_net_rule_parse("10.231.5.1:8080/tcp", &r), 0);
	T_CHECK_INT(r.family, AF_INET);
	T_CHECK_INT(r.port, 8080);
	T_CHECK_INT(r.proto, ENFORCE_NET_PROTO_TCP);
	T_CHECK(r.addr[0] == 10 && r.addr[1] == 231 && r.addr[2] == 5 && r.addr[3] == 1);
	T_CHECK(r.addr[4] == 0 && r.addr[15] == 0);
	T_CHECK_INT(enforce_net_rule_parse("[2001:db8::1]:53/udp", &r), 0);
	T_CHECK_INT(r.family, AF_INET6);
	T_CHECK_INT(r.port, 53);
	T_CHECK_INT(r.proto, ENFORCE_NET_PROTO_UDP);
	T_CHECK(r.addr[0] == 0x20 && r.addr[1] == 0x01 && r.addr[15] == 1);
	T_CHECK_INT(enforce_net_rule_parse("1.2.3.4:*", &r), 0);
	T_CHECK_INT(r.port, 0);
	T_CHECK_INT(r.proto, ENFORCE_NET_PROTO_ANY);

	T_CHECK_STR(fmt("10.231.5.1:8080/tcp"), "10.231.5.1:8080/tcp");
	T_CHECK_STR(fmt("1.2.3.4:*"), "1.2.3.4:*");
	T_CHECK_STR(fmt("[::1]:443"), "[::1]:443");
	T_CHECK_STR(fmt("[2001:DB8:0::1]:53/udp"), "[2001:db8::1]:53/udp");
	T_CHECK_STR(fmt("1.2.3.4:65535/udp"), "1.2.3.4:65535/udp");
	T_CHECK_INT(enforce_net_rule_parse("*:4444/tcp", &r), 0);
	T_CHECK_INT(r.family, AF_UNSPEC);
	T_CHECK_INT(r.port, 4444);
	T_CHECK_STR(fmt("*:4444/tcp"), "*:4444/tcp");

	static const char *bad[] = { "", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536",
				     "1.2.3.4:80/sctp", "1.2.3.4:80/", "1.2.3.4:-1", "1.2.3.4:8a",
				     "1.2.3:80", "256.1.1.1:80", "::1:80", "[::1]80", "[::1:80",
				     "[1.2.3.4]:80", "host:80", "1.2.3.4:000080",
				     "1.2.3.4:80 ", " 1.2.3.4:80", "*:*", "*:*/tcp", "[*]:80",
				     ("111111111111111111111111111111111111111111111111111111111111111111111111"
				      "111111111111111111111111:80") };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = enforce_net_rule_parse(bad[i], &r);
		if (rc != -EINVAL)
			fprintf(stderr, "  accepted bad rule \"%s\"\n", bad[i]);
		T_CHECK_INT(rc, -EINVAL);
	}
	T_CHECK_INT(enforce_net_rule_parse(NULL, &r), -EINVAL);
}

static int never(const struct enforce_req *req, void *arg)
{
	return ENFORCE_DENY;
}

T_TEST(test_fanotify_options)
{
	struct enforce_fanotify *f = (void *)1;
	struct enforce_fanotify_opts o = { 0 };
	char err[ENFORCE_ERR_MAX] = "";

	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), -EINVAL); /* no callback */
	T_CHECK(f == NULL);
	T_CHECK(err[0] != 0);
	o.decide = never;
	o.deadline_ms = 10001;
	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), -EINVAL);
	o.deadline_ms = 100;
	o.on_timeout = 7;
	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), -EINVAL);
	o.on_timeout = ENFORCE_DENY;
	o.workers = 17;
	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), -EINVAL);
	o.workers = 1;
	o.queue_max = -1;
	T_CHECK_INT(enforce_fanotify_new(&o, &f, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_fanotify_add(NULL, 1, "x", ENFORCE_WATCH_EXEC, err, sizeof(err)), -EINVAL);
	enforce_fanotify_free(NULL);
	enforce_net_free(NULL);
}

T_TEST(test_block_errors)
{
	char err[ENFORCE_ERR_MAX] = "";
	int rc;

	T_CHECK_INT(enforce_block_container(NULL, "../x", ENFORCE_BLOCK_STOP, 1, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_block_container(NULL, "", ENFORCE_BLOCK_STOP, 1, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_block_container(NULL, "a b", ENFORCE_BLOCK_KILL, 1, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_block_container(NULL, "abc", ENFORCE_BLOCK_STOP, -1, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_block_container(NULL, "abc", (enum enforce_block_action)9, 1, err, sizeof(err)), -EINVAL);
	T_CHECK_INT(enforce_block_container("tcp://1.2.3.4:2375", "abc", ENFORCE_BLOCK_STOP, 1, err,
					    sizeof(err)), -EPROTONOSUPPORT);
	/* no engine at that socket */
	err[0] = 0;
	rc = enforce_block_container("unix:///nonexistent-h7/docker.sock", "abc", ENFORCE_BLOCK_STOP, 1,
				     err, sizeof(err));
	T_CHECK(rc == -ECONNREFUSED || rc == -EIO);
	T_CHECK(strstr(err, "/nonexistent-h7/docker.sock") != NULL);
}

T_TEST(test_cgroup_dir_errors)
{
	char dir[ENFORCE_PATH_MAX];

	/* pid 0 and a pid that cannot exist (above pid_max's hard limit) */
	T_CHECK_INT(enforce_cgroup_dir(0x7ffffff0, dir, sizeof(dir)), -ESRCH);
}

int main(int argc, char **argv)
{
	static const struct t_case cases[] = {
		T_CASE(test_path_normalize), T_CASE(test_pathset_match), T_CASE(test_pathset_root_prefix),
		T_CASE(test_pathset_list), T_CASE(test_net_rule_parse), T_CASE(test_fanotify_options),
		T_CASE(test_block_errors), T_CASE(test_cgroup_dir_errors),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	curl_global_cleanup();
	return rc;
}
