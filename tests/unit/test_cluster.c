/*
 * test_cluster: the cluster-identity module against real metadata answers (tests/data/cloud, see
 * PROVENANCE.md there) served by the metadata emulator (tests/tools/metaemu) on 127.0.0.1. Every
 * endpoint the module could reach is pointed at the emulator or at a loopback port that refuses
 * connections, so nothing outside this machine is ever contacted.
 *
 * Finds metaemu in $GARRISON_TOOLS_DIR, else next to this binary in ../tools; the data in
 * $GARRISON_TEST_DATA, else ./tests/data/cloud, else three levels above this binary.
 */
#include "t.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <garrison/cluster.h>
#include <garrison/log.h>
#include <garrison/util.h>

extern char **environ;

#define TASK_PATH "/v4/0123456789abcdef-task"

static char data_dir[PATH_MAX];
static char tools_dir[PATH_MAX];
static int dead_fd = -1;
static char dead_url[96], dead_host[64];

/* ---- set-up ---- */

static void exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		n = 0;
	buf[n] = '\0';
	slash = strrchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
}

static void find_dirs(void)
{
	const char *env = getenv("GARRISON_TEST_DATA");
	char self[PATH_MAX], guess[PATH_MAX * 2];

	exe_dir(self, sizeof(self));
	if (env != NULL && env[0] != '\0')
		snprintf(guess, sizeof(guess), "%s", env);
	else if (access("tests/data/cloud/PROVENANCE.md", R_OK) == 0)
		snprintf(guess, sizeof(guess), "tests/data/cloud");
	else
		snprintf(guess, sizeof(guess), "%s/../../../tests/data/cloud", self);
	if (realpath(guess, data_dir) == NULL)
		snprintf(data_dir, sizeof(data_dir), "%.*s", PATH_MAX - 1, guess);
	env = getenv("GARRISON_TOOLS_DIR");
	if (env != NULL && env[0] != '\0')
		snprintf(tools_dir, sizeof(tools_dir), "%s", env);
	else
		snprintf(tools_dir, sizeof(tools_dir), "%.*s/../tools", PATH_MAX - 16, self);
}

/* A loopback port that is bound but never listens: every connection to it is refused. */
static void make_dead_port(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	dead_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (dead_fd < 0 || bind(dead_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(dead_fd, (struct sockaddr *)&sin, &sl) < 0) {
		fprintf(stderr, "  cannot bind a loopback port: %s\n", strerror(errno));
		exit(1);
	}
	snprintf(dead_host, sizeof(dead_host), "127.0.0.1:%u", ntohs(sin.sin_port));
	snprintf(dead_url, sizeof(dead_url), "http://%s", dead_host);
}

static char empty_root[PATH_MAX];

static void remove_empty_root(void)
{
	rmdir(empty_root);
}

/* Called first by every test: a clean environment in which every endpoint refuses. */
static void setup(void)
{
	static const char *const unset[] = { "DEFENDER_CLUSTER", "ECS_CONTAINER_METADATA_URI_V4",
		"KUBECONFIG", "AWS_EXECUTION_ENV", "GARRISON_LOG_LEVEL", "http_proxy",
		"HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
		"NO_PROXY" };

	if (dead_fd < 0) {
		find_dirs();
		make_dead_port();
		snprintf(empty_root, sizeof(empty_root), "/tmp/test_cluster-root-XXXXXX");
		if (mkdtemp(empty_root) == NULL)
			exit(1);
		atexit(remove_empty_root);
	}
	for (size_t i = 0; i < ARRAY_SIZE(unset); i++)
		unsetenv(unset[i]);
	log_init("test_cluster", LOG_LVL_INFO);
	setenv("GARRISON_CLOUD_METADATA", "off", 1);
	setenv("GARRISON_HOST_ROOT", empty_root, 1);
	setenv("GARRISON_ECS_AGENT_URI", dead_url, 1);
	setenv("GCE_METADATA_HOST", dead_host, 1);
	setenv("GARRISON_AZURE_IMDS_ENDPOINT", dead_url, 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", dead_url, 1);
}

static const char *data(const char *rel)
{
	static char buf[4][PATH_MAX * 2];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", data_dir, rel);
	return buf[i];
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static void rm_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static int write_text(const char *path, const char *text, size_t len)
{
	return util_write_file(path, text, len, 0644);
}

/* ---- the emulator ---- */

struct emu {
	pid_t pid;
	char dir[PATH_MAX];
	char base[96];
	char host[64];
};

static int emu_spawn(struct emu *m, const char *routes)
{
	char bin[PATH_MAX + 16], port_file[PATH_MAX + 16], *text = NULL, *end = NULL;
	char *argv[] = { bin, "--listen", "127.0.0.1:0", "--routes", (char *)routes,
			 "--port-file", port_file, NULL };
	int status;
	long port = 0;

	snprintf(bin, sizeof(bin), "%s/metaemu", tools_dir);
	snprintf(port_file, sizeof(port_file), "%s/port", m->dir);
	if (access(bin, X_OK) < 0) {
		fprintf(stderr, "  metaemu not found at %s: build it first "
				"(make SAN=1 build/san/tools/metaemu)\n", bin);
		return -1;
	}
	if (posix_spawn(&m->pid, bin, NULL, NULL, argv, environ) != 0) {
		m->pid = 0;
		return -1;
	}
	for (int i = 0; i < 500; i++) {
		if (util_read_file(port_file, 64, &text, NULL) == 0) {
			port = strtol(text, &end, 10);
			free(text);
			break;
		}
		if (waitpid(m->pid, &status, WNOHANG) == m->pid) {
			fprintf(stderr, "  metaemu exited early (routes %s)\n", routes);
			m->pid = 0;
			return -1;
		}
		usleep(10000);
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "  metaemu did not write its port\n");
		return -1;
	}
	snprintf(m->host, sizeof(m->host), "127.0.0.1:%ld", port);
	snprintf(m->base, sizeof(m->base), "http://%s", m->host);
	return 0;
}

/* Starts the emulator on a routes file below tests/data/cloud. */
static int emu_start_file(struct emu *m, const char *rel)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/test_cluster-emu-XXXXXX");
	if (mkdtemp(m->dir) == NULL)
		return -1;
	return emu_spawn(m, data(rel));
}

/* Starts the emulator on routes given as text; "@DATA@" stands for the data directory. */
static int emu_start(struct emu *m, const char *routes)
{
	char path[PATH_MAX + 16], out[16384];
	size_t o = 0;

	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/test_cluster-emu-XXXXXX");
	if (mkdtemp(m->dir) == NULL)
		return -1;
	for (const char *p = routes; *p != '\0' && o + PATH_MAX + 1 < sizeof(out); p++) {
		if (strncmp(p, "@DATA@", 6) == 0) {
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", data_dir);
			p += 5;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	snprintf(path, sizeof(path), "%s/routes.json", m->dir);
	if (write_text(path, out, o) < 0)
		return -1;
	return emu_spawn(m, path);
}

/* Stops the emulator: it must exit 0 on SIGTERM. */
static void emu_stop(struct emu *m)
{
	int status = 0;

	if (m->pid > 0) {
		kill(m->pid, SIGTERM);
		T_CHECK(waitpid(m->pid, &status, 0) == m->pid);
		T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	rm_tree(m->dir);
	memset(m, 0, sizeof(*m));
}

static size_t curl_sink(char *p, size_t size, size_t n, void *ud)
{
	char *buf = ud;
	size_t have = strlen(buf), add = size * n;

	if (have + add < 8192) {
		memcpy(buf + have, p, add);
		buf[have + add] = '\0';
	}
	return size * n;
}

/* The emulator's request counters: the total, or the hits of one "METHOD /path" route. */
static long emu_count(struct emu *m, const char *route)
{
	char url[128], body[8192] = "";
	CURL *h = curl_easy_init();
	json_t *j, *v;
	long n = -1;

	snprintf(url, sizeof(url), "%s/__count", m->base);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 3000L);
	if (curl_easy_perform(h) == CURLE_OK) {
		j = json_loads(body, 0, NULL);
		v = route ? json_object_get(json_object_get(j, "routes"), route)
			  : json_object_get(j, "total");
		if (json_is_integer(v))
			n = (long)json_integer_value(v);
		json_decref(j);
	}
	curl_easy_cleanup(h);
	return n;
}

/* ---- resolving with the log captured ---- */

struct run {
	struct cluster_identity id;
	int rc;
	int warns;       /* WARN lines */
	char log[8192];  /* what was logged */
	int64_t ms;      /* how long it took */
};

static void run_resolve(struct run *r, const char *manual, int off, int timeout_ms)
{
	struct cluster_opts o = { manual, NULL, timeout_ms, off };
	char path[] = "/tmp/test_cluster-log-XXXXXX", *text = NULL;
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	int64_t t0;

	memset(r, 0, sizeof(*r));
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	t0 = util_now_ms();
	r->rc = cluster_resolve(&o, &r->id);
	r->ms = util_now_ms() - t0;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	if (util_read_file(path, 1 << 20, &text, NULL) == 0) {
		snprintf(r->log, sizeof(r->log), "%s", text);
		for (char *p = strstr(text, " WARN "); p != NULL; p = strstr(p + 1, " WARN "))
			r->warns++;
		fputs(text, stderr);
		free(text);
	}
	unlink(path);
}

static const char *meta(const struct run *r, const char *key)
{
	return json_string_value(json_object_get(r->id.cloud_metadata, key));
}

/* The one warning names the source and says why. */
static void check_one_warning(const struct run *r, const char *source, const char *why)
{
	char want[64];

	snprintf(want, sizeof(want), "cluster: %s answer rejected", source);
	T_CHECK_INT(r->warns, 1);
	T_CHECK(strstr(r->log, want) != NULL);
	if (why != NULL && strstr(r->log, why) == NULL) {
		fprintf(stderr, "  expected \"%s\" in the warning\n", why);
		T_CHECK(strstr(r->log, why) != NULL);
	}
}

static void use_kubeconfig(void)
{
	setenv("KUBECONFIG", data("kube/config-demo.minify-dev-frontend.yaml"), 1);
}

/* The answer when everything before kubeconfig was rejected or absent. */
static void check_fell_to_kubeconfig(const struct run *r)
{
	T_CHECK_INT(r->rc, 0);
	T_CHECK_STR(r->id.source, "kubeconfig");
	T_CHECK_STR(r->id.name, "development");
}

static int is_host_ipv4(const char *s)
{
	struct ifaddrs *ifa = NULL;
	struct in_addr a;
	int found = 0;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1 || (ntohl(a.s_addr) >> 24) == 127)
		return 0;
	if (getifaddrs(&ifa) < 0)
		return 0;
	for (struct ifaddrs *i = ifa; i != NULL; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr == a.s_addr)
			found = 1;
	freeifaddrs(ifa);
	return found;
}

/* ---- pure functions ---- */

T_TEST(name_check_rules)
{
	static const char *const good[] = { "default", "cluster_name", "MyCluster", "test-cluster",
		"10.0.0.5", "gke_test-project_us-central1-a_test-cluster",
		"arn:aws:eks:us-west-2:111122223333:cluster/prod", "a", "x.y+z=w,v~u@t" };
	static const char *const bad[] = { "", "two words", "tab\tname", "new\nline", "bell\a",
		"esc\033[31m", "\"quoted\"", "it's", "back`tick", "<script>", "a;rm -rf /", "$(id)",
		"a|b", "a&b", "back\\slash", "{{", "caf\xc3\xa9", "del\x7f" };
	char long_ok[CLUSTER_NAME_MAX + 1], too_long[CLUSTER_NAME_MAX + 2];
	const char *why = NULL;

	setup();
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (cluster_name_check(good[i], strlen(good[i]), &why) != 0)
			fprintf(stderr, "  rejected good name \"%s\": %s\n", good[i], why);
		T_CHECK_INT(cluster_name_check(good[i], strlen(good[i]), NULL), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		why = NULL;
		if (cluster_name_check(bad[i], strlen(bad[i]), &why) == 0)
			fprintf(stderr, "  accepted bad name \"%s\"\n", bad[i]);
		T_CHECK_INT(cluster_name_check(bad[i], strlen(bad[i]), &why), -EINVAL);
		T_CHECK(why != NULL);
	}
	memset(long_ok, 'a', sizeof(long_ok) - 1);
	long_ok[sizeof(long_ok) - 1] = '\0';
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	T_CHECK_INT(cluster_name_check(long_ok, strlen(long_ok), NULL), 0);
	T_CHECK_INT(cluster_name_check(too_long, strlen(too_long), &why), -EINVAL);
	T_CHECK_STR(why, "name longer than 253 bytes");
	T_CHECK_INT(cluster_name_check("nul\0inside", 10, &why), -EINVAL);
	T_CHECK_STR(why, "name contains a control character");
	T_CHECK_INT(cluster_name_check(NULL, 0, NULL), -EINVAL);
}

static int parse_ecs_file(const char *rel, char **value, const char **why)
{
	char *text = NULL;
	size_t len = 0;
	int r = util_read_file(data(rel), 1 << 16, &text, &len);

	if (r < 0)
		return r;
	r = cluster_ecs_config_parse(text, len, value, why);
	free(text);
	return r;
}

T_TEST(ecs_config_real_examples)
{
	const char *why = NULL;
	char *v = NULL;

	setup();
	T_CHECK_INT(parse_ecs_file("aws/ecs.config.bootstrap-example", &v, &why), 0);
	T_CHECK_STR(v, "MyCluster");
	free(v);
	T_CHECK_INT(parse_ecs_file("aws/ecs.config.container-metadata-example", &v, &why), 0);
	T_CHECK_STR(v, "your_cluster_name");
	free(v);
}

T_TEST(ecs_config_syntax)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "ECS_CLUSTER=plain\n", "plain" },
		{ "  ECS_CLUSTER = spaced  \n", "spaced" },
		{ "ECS_CLUSTER=\"double\"\n", "double" },
		{ "ECS_CLUSTER='single'\r\n", "single" },
		{ "export ECS_CLUSTER=exported", "exported" },
		{ "# ECS_CLUSTER=commented\nECS_CLUSTER=real\n", "real" },
		{ "ECS_CLUSTER=first\nECS_CLUSTER=last\n", "last" },
		{ "ECS_CLUSTER_X=other\nXECS_CLUSTER=other\nECS_CLUSTER=exact\n", "exact" },
		{ "garbage line without equals\nECS_CLUSTER=after-garbage\n", "after-garbage" },
	};
	const char *why = NULL;
	char *v = NULL;

	setup();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		T_CHECK_INT(cluster_ecs_config_parse(cases[i].text, strlen(cases[i].text), &v, &why),
			    0);
		T_CHECK_STR(v, cases[i].want);
		free(v);
		v = NULL;
	}
	T_CHECK_INT(parse_ecs_file("made/ecs.config.syntax", &v, &why), 0);
	T_CHECK_STR(v, "quoted-cluster");
	free(v);
}

T_TEST(ecs_config_rejects)
{
	const char *why = NULL;
	char *v = NULL;

	setup();
	T_CHECK_INT(cluster_ecs_config_parse("", 0, &v, &why), -ENOENT);
	T_CHECK_INT(cluster_ecs_config_parse("ECS_LOGLEVEL=debug\n", 19, &v, &why), -ENOENT);
	T_CHECK_INT(cluster_ecs_config_parse("ECS_CLUSTER=\n", 13, &v, &why), -ENOENT);
	T_CHECK_INT(cluster_ecs_config_parse("ECS_CLUSTER=\"\"\n", 15, &v, &why), -ENOENT);
	T_CHECK_INT(cluster_ecs_config_parse("ECS_CLUSTER=a\0b\n", 16, &v, &why), -EINVAL);
	T_CHECK_STR(why, "file contains a NUL byte");
	T_CHECK_INT(parse_ecs_file("made/ecs.config.inline-comment", &v, &why), -EINVAL);
	T_CHECK_STR(why, "name contains whitespace");
	T_CHECK_INT(parse_ecs_file("made/ecs.config.hostile", &v, &why), -EINVAL);
	T_CHECK_STR(why, "name contains a control character");
	T_CHECK(v == NULL);
}

T_TEST(kubeconfig_real_examples)
{
	const char *why = NULL;
	char *name = NULL;

	setup();
	T_CHECK_INT(cluster_kubeconfig_name(data("kube/config-demo.minify-dev-frontend.yaml"), &name,
					    &why), 0);
	T_CHECK_STR(name, "development");
	free(name);
	name = NULL;
	/* the full view has current-context "": nothing to resolve */
	T_CHECK_INT(cluster_kubeconfig_name(data("kube/config-demo.full.yaml"), &name, &why),
		    -EINVAL);
	T_CHECK_STR(why, "no current-context is set");
	T_CHECK_INT(cluster_kubeconfig_name(data("kube/config-demo-2.yaml"), &name, &why), -EINVAL);
	T_CHECK_STR(why, "no current-context is set");
	T_CHECK_INT(cluster_kubeconfig_name(data("kube/config-demo.skeleton.yaml"), &name, &why),
		    -EINVAL);
	T_CHECK(name == NULL);
}

T_TEST(kubeconfig_merge)
{
	char list[PATH_MAX * 4], *name = NULL;
	const char *why = NULL;

	setup();
	/* missing files are skipped; "" does not set current-context, the next file does */
	snprintf(list, sizeof(list), "/nonexistent/kubeconfig:%s:%s",
		 data("kube/config-demo.full.yaml"), data("kube/config-demo.minify-dev-frontend.yaml"));
	T_CHECK_INT(cluster_kubeconfig_name(list, &name, &why), 0);
	T_CHECK_STR(name, "development");
	free(name);
	name = NULL;
	/* current-context from the first file, the context from the second */
	snprintf(list, sizeof(list), "%s:%s", data("made/kubeconfig.current-only.yaml"),
		 data("kube/config-demo-2.yaml"));
	T_CHECK_INT(cluster_kubeconfig_name(list, &name, &why), 0);
	T_CHECK_STR(name, "development");
	free(name);
	name = NULL;
	/* the same files the other way round: the context is still found */
	snprintf(list, sizeof(list), "%s:%s", data("kube/config-demo-2.yaml"),
		 data("made/kubeconfig.current-only.yaml"));
	T_CHECK_INT(cluster_kubeconfig_name(list, &name, &why), 0);
	T_CHECK_STR(name, "development");
	free(name);
	name = NULL;
	/* the current context alone, defined nowhere */
	T_CHECK_INT(cluster_kubeconfig_name(data("made/kubeconfig.current-only.yaml"), &name, &why),
		    -EINVAL);
	T_CHECK_STR(why, "current-context names no defined context");
	T_CHECK_INT(cluster_kubeconfig_name("/nonexistent/a:/nonexistent/b", &name, &why), -ENOENT);
	T_CHECK_INT(cluster_kubeconfig_name("", &name, &why), -ENOENT);
}

T_TEST(kubeconfig_rejects)
{
	char list[PATH_MAX * 2], *name = NULL;
	const char *why = NULL;

	setup();
	T_CHECK_INT(cluster_kubeconfig_name(data("made/kubeconfig.garbage"), &name, &why), -EINVAL);
	T_CHECK_STR(why, "a file is not valid YAML");
	T_CHECK_INT(cluster_kubeconfig_name(data("made/kubeconfig.list.yaml"), &name, &why), -EINVAL);
	T_CHECK_STR(why, "a file is not a YAML mapping");
	T_CHECK_INT(cluster_kubeconfig_name(data("made/kubeconfig.hostile.yaml"), &name, &why),
		    -EINVAL);
	T_CHECK_STR(why, "name contains a control character");
	/* one garbage file spoils the list, as it does for kubectl */
	snprintf(list, sizeof(list), "%s:%s", data("kube/config-demo.minify-dev-frontend.yaml"),
		 data("made/kubeconfig.garbage"));
	T_CHECK_INT(cluster_kubeconfig_name(list, &name, &why), -EINVAL);
	T_CHECK(name == NULL);
}

struct fake_if {
	struct ifaddrs ifa;
	struct sockaddr_in sin;
};

static void fake_if(struct fake_if *f, struct fake_if *next, const char *name, const char *ip,
		    unsigned flags)
{
	memset(f, 0, sizeof(*f));
	f->ifa.ifa_next = next ? &next->ifa : NULL;
	f->ifa.ifa_name = (char *)name;
	f->ifa.ifa_flags = flags;
	f->sin.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &f->sin.sin_addr);
	f->ifa.ifa_addr = (struct sockaddr *)&f->sin;
}

T_TEST(node_ip_pick_rules)
{
	static const char routes[] =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
		"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n"
		"eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
		"eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
	static const char down_route[] =
		"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
		"eth0\t00000000\t0100000A\t0002\t0\t0\t100\t00000000\t0\t0\t0\n";
	struct fake_if lo, docker, wlan, eth, down;
	char ip[INET_ADDRSTRLEN];

	setup();
	fake_if(&eth, NULL, "eth0", "10.0.0.5", IFF_UP);
	fake_if(&wlan, &eth, "wlan0", "192.168.1.20", IFF_UP);
	fake_if(&docker, &wlan, "docker0", "172.17.0.1", IFF_UP);
	fake_if(&down, &docker, "veth9", "192.0.2.9", 0);
	fake_if(&lo, &down, "lo", "127.0.0.1", IFF_UP | IFF_LOOPBACK);
	/* the default route with the lowest metric wins over interface order */
	T_CHECK_INT(cluster_node_ip_pick(routes, &lo.ifa, ip, sizeof(ip)), 0);
	T_CHECK_STR(ip, "10.0.0.5");
	/* no route table, or a default route that is not up: first usable address */
	T_CHECK_INT(cluster_node_ip_pick(NULL, &lo.ifa, ip, sizeof(ip)), 0);
	T_CHECK_STR(ip, "172.17.0.1");
	T_CHECK_INT(cluster_node_ip_pick(down_route, &lo.ifa, ip, sizeof(ip)), 0);
	T_CHECK_STR(ip, "172.17.0.1");
	T_CHECK_INT(cluster_node_ip_pick("garbage", &lo.ifa, ip, sizeof(ip)), 0);
	T_CHECK_STR(ip, "172.17.0.1");
	/* the default interface has no IPv4 address here: fall back to the first usable one */
	eth.ifa.ifa_name = (char *)"eth1";
	docker.ifa.ifa_flags = 0;
	T_CHECK_INT(cluster_node_ip_pick(routes, &lo.ifa, ip, sizeof(ip)), 0);
	T_CHECK_STR(ip, "192.168.1.20");
	/* loopback and interfaces that are down never count */
	lo.ifa.ifa_next = &down.ifa;
	down.ifa.ifa_next = NULL;
	T_CHECK_INT(cluster_node_ip_pick(routes, &lo.ifa, ip, sizeof(ip)), -ENOENT);
	T_CHECK_INT(cluster_node_ip_pick(routes, NULL, ip, sizeof(ip)), -ENOENT);
}

T_TEST(opts_from_env)
{
	struct cluster_opts o;

	setup();
	setenv("DEFENDER_CLUSTER", "prod-eu", 1);
	setenv("GARRISON_HOST_ROOT", "/host", 1);
	setenv("GARRISON_CLOUD_METADATA", "OFF", 1);
	cluster_opts_from_env(&o);
	T_CHECK_STR(o.manual, "prod-eu");
	T_CHECK_STR(o.host_root, "/host");
	T_CHECK_INT(o.cloud_metadata_off, 1);
	T_CHECK_INT(o.timeout_ms, CLUSTER_TIMEOUT_MS_DEFAULT);
	setenv("GARRISON_CLOUD_METADATA", "on", 1);
	setenv("GARRISON_HOST_ROOT", "", 1);
	cluster_opts_from_env(&o);
	T_CHECK_INT(o.cloud_metadata_off, 0);
	T_CHECK(o.host_root == NULL);
	unsetenv("GARRISON_CLOUD_METADATA");
	unsetenv("DEFENDER_CLUSTER");
	cluster_opts_from_env(&o);
	T_CHECK_INT(o.cloud_metadata_off, 0);
	T_CHECK(o.manual == NULL);
}

T_TEST(identity_clear_safe)
{
	struct cluster_identity id;

	setup();
	memset(&id, 0, sizeof(id));
	cluster_identity_clear(&id);
	cluster_identity_clear(NULL);
	id.name = strdup("x");
	id.source = strdup("manual");
	id.cloud_metadata = json_object();
	cluster_identity_clear(&id);
	T_CHECK(id.name == NULL && id.source == NULL && id.cloud_metadata == NULL);
	cluster_identity_clear(&id);
}

/* ---- each source through cluster_resolve() ---- */

T_TEST(resolve_manual)
{
	struct run r;

	setup();
	run_resolve(&r, "prod-eu-1", 0, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_STR(r.id.source, "manual");
	T_CHECK_STR(r.id.name, "prod-eu-1");
	T_CHECK(json_is_object(r.id.cloud_metadata) && json_object_size(r.id.cloud_metadata) == 0);
	T_CHECK_INT(r.warns, 0);
	cluster_identity_clear(&r.id);
}

T_TEST(resolve_manual_hostile)
{
	struct run r;

	setup();
	use_kubeconfig();
	run_resolve(&r, "evil\ncluster", 1, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "manual", "control character");
	T_CHECK(strstr(r.log, "evil\\x0acluster") != NULL); /* logged escaped, not raw */
	cluster_identity_clear(&r.id);
}

T_TEST(resolve_ecs_task)
{
	struct emu m;
	struct run r;
	char uri[128];

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	snprintf(uri, sizeof(uri), "%s" TASK_PATH, m.base);
	setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
	run_resolve(&r, NULL, 1, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_STR(r.id.source, "ecs-task-metadata");
	T_CHECK_STR(r.id.name, "default");
	T_CHECK_STR(meta(&r, "provider"), "aws");
	T_CHECK_STR(meta(&r, "accountID"), "111122223333");
	T_CHECK_STR(meta(&r, "region"), "us-west-2");
	T_CHECK_STR(meta(&r, "resourceID"),
		    "arn:aws:ecs:us-west-2:111122223333:task/default/158d1c8083dd49d6b527399fd6414f5c");
	T_CHECK_STR(meta(&r, "awsExecutionEnv"), "AWS_ECS_EC2");
	T_CHECK_INT(r.warns, 0);
	T_CHECK_INT(emu_count(&m, "GET " TASK_PATH "/task"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ecs_task_arn)
{
	struct emu m;
	struct run r;
	char uri[128];

	setup();
	/* Fargate answers carry the cluster ARN; the name is its last part */
	T_CHECK(emu_start(&m, "[{\"path\":\"" TASK_PATH "/task\",\"body\":"
			      "\"{\\\"Cluster\\\":\\\"arn:aws:ecs:eu-west-1:123456789012:cluster/prod\\\","
			      "\\\"LaunchType\\\":\\\"FARGATE\\\",\\\"AvailabilityZone\\\":\\\"eu-west-1a\\\"}\"}]") == 0);
	snprintf(uri, sizeof(uri), "%s" TASK_PATH "/", m.base);
	setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
	run_resolve(&r, NULL, 1, 1000);
	T_CHECK_STR(r.id.source, "ecs-task-metadata");
	T_CHECK_STR(r.id.name, "prod");
	T_CHECK_STR(meta(&r, "region"), "eu-west-1");
	T_CHECK_STR(meta(&r, "accountID"), "123456789012");
	T_CHECK_STR(meta(&r, "awsExecutionEnv"), "AWS_ECS_FARGATE");
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ecs_agent)
{
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("GARRISON_ECS_AGENT_URI", m.base, 1);
	run_resolve(&r, NULL, 1, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_STR(r.id.source, "ecs-agent");
	T_CHECK_STR(r.id.name, "cluster_name");
	T_CHECK_STR(meta(&r, "provider"), "aws");
	/* the documentation's placeholders, taken from ContainerInstanceArn */
	T_CHECK_STR(meta(&r, "region"), "region");
	T_CHECK_STR(meta(&r, "accountID"), "aws_account_id");
	T_CHECK_STR(meta(&r, "resourceID"), "arn:aws:ecs:region:aws_account_id:container-instance/"
					    "cluster_name/container_instance_id");
	T_CHECK_INT(r.warns, 0);
	T_CHECK_INT(emu_count(&m, "GET /v1/metadata"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

/* A host root whose etc/ecs/ecs.config is a copy of a data file. */
static void make_host_root(char *dir, size_t len, const char *rel)
{
	char path[PATH_MAX * 2], *text = NULL;
	size_t n = 0;

	snprintf(dir, len, "/tmp/test_cluster-host-XXXXXX");
	T_CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/etc/ecs", dir);
	T_CHECK(util_mkdirs(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/etc/ecs/ecs.config", dir);
	T_CHECK(util_read_file(data(rel), 1 << 16, &text, &n) == 0);
	T_CHECK(text != NULL && write_text(path, text, n) == 0);
	free(text);
}

T_TEST(resolve_ecs_config)
{
	static const struct {
		const char *file, *want;
	} cases[] = {
		{ "aws/ecs.config.bootstrap-example", "MyCluster" },
		{ "aws/ecs.config.container-metadata-example", "your_cluster_name" },
		{ "made/ecs.config.syntax", "quoted-cluster" },
	};
	char root[PATH_MAX];
	struct run r;

	setup();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		make_host_root(root, sizeof(root), cases[i].file);
		setenv("GARRISON_HOST_ROOT", root, 1);
		run_resolve(&r, NULL, 1, 1000);
		T_CHECK_STR(r.id.source, "ecs-config");
		T_CHECK_STR(r.id.name, cases[i].want);
		T_CHECK_INT(r.warns, 0);
		cluster_identity_clear(&r.id);
		rm_tree(root);
	}
	/* a hostile value is rejected with one warning and the next source answers */
	make_host_root(root, sizeof(root), "made/ecs.config.hostile");
	setenv("GARRISON_HOST_ROOT", root, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 1, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "ecs-config", "control character");
	cluster_identity_clear(&r.id);
	rm_tree(root);
}

T_TEST(resolve_gcp)
{
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_STR(r.id.source, "gcp");
	T_CHECK_STR(r.id.name, "test-cluster");
	T_CHECK_STR(meta(&r, "provider"), "gcp");
	T_CHECK_STR(meta(&r, "accountID"), "test-project");
	T_CHECK_STR(meta(&r, "region"), "us-central1");
	T_CHECK_INT(r.warns, 0);
	/* the request carried Metadata-Flavor (the route answers 403 without it) */
	T_CHECK_INT(emu_count(&m, "GET /computeMetadata/v1/instance/attributes/cluster-name"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

#define GCP_ROUTE(path, what) \
	"{\"path\":\"/computeMetadata/v1/" path "\"," what ",\"headers\":{\"Metadata-Flavor\":\"Google\"}," \
	"\"requireHeaders\":{\"Metadata-Flavor\":\"Google\"}}"

T_TEST(resolve_gcp_two_projects)
{
	struct emu a, b;
	struct run ra, rb;

	setup();
	T_CHECK(emu_start(&a, "[" GCP_ROUTE("instance/attributes/cluster-name",
			      "\"file\":\"@DATA@/gcp/computeMetadata_v1_instance_attributes_cluster-name.txt\"")
			      "," GCP_ROUTE("project/project-id",
			      "\"file\":\"@DATA@/gcp/computeMetadata_v1_project_project-id.txt\"") "]") == 0);
	T_CHECK(emu_start(&b, "[" GCP_ROUTE("instance/attributes/cluster-name",
			      "\"file\":\"@DATA@/gcp/computeMetadata_v1_instance_attributes_cluster-name.txt\"")
			      "," GCP_ROUTE("project/project-id", "\"body\":\"other-project\"") "]") == 0);
	setenv("GCE_METADATA_HOST", a.host, 1);
	run_resolve(&ra, NULL, 0, 1000);
	setenv("GCE_METADATA_HOST", b.host, 1);
	run_resolve(&rb, NULL, 0, 1000);
	/* one cluster name in two projects is one cluster; the project is metadata */
	T_CHECK_STR(ra.id.source, "gcp");
	T_CHECK_STR(rb.id.source, "gcp");
	T_CHECK_STR(ra.id.name, "test-cluster");
	T_CHECK_STR(rb.id.name, "test-cluster");
	T_CHECK_STR(meta(&ra, "accountID"), "test-project");
	T_CHECK_STR(meta(&rb, "accountID"), "other-project");
	cluster_identity_clear(&ra.id);
	cluster_identity_clear(&rb.id);
	emu_stop(&a);
	emu_stop(&b);
}

T_TEST(resolve_gcp_not_gke)
{
	struct emu m;
	struct run r;

	setup();
	/* a plain GCE VM: no cluster-name attribute, but the project is known */
	T_CHECK(emu_start(&m, "[" GCP_ROUTE("instance/attributes/cluster-name",
			      "\"status\":404,\"body\":\"not found\"")
			      "," GCP_ROUTE("project/project-id",
			      "\"file\":\"@DATA@/gcp/computeMetadata_v1_project_project-id.txt\"")
			      "," GCP_ROUTE("instance/zone", "\"body\":\"projects/1234567890/zones/europe-west1-b\"")
			      "]") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(r.warns, 0);
	T_CHECK_STR(meta(&r, "provider"), "gcp");
	T_CHECK_STR(meta(&r, "accountID"), "test-project");
	T_CHECK_STR(meta(&r, "region"), "europe-west1");
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_gcp_no_flavor)
{
	struct emu m;
	struct run r;

	setup();
	/* the right body without "Metadata-Flavor: Google" did not come from a metadata server */
	T_CHECK(emu_start(&m, "[{\"path\":\"/computeMetadata/v1/instance/attributes/cluster-name\","
			      "\"file\":\"@DATA@/gcp/computeMetadata_v1_instance_attributes_cluster-name.txt\"}]") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "gcp", "Metadata-Flavor");
	T_CHECK_INT(emu_count(&m, "GET /computeMetadata/v1/instance/attributes/cluster-name"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_gcp_bad_payloads)
{
	static const char *const files[] = {
		"gcp/computeMetadata_v1_recursive.bad-wrong-type.json",
		"gcp/computeMetadata_v1_recursive.bad-wrong-structure.json",
		"gcp/computeMetadata_v1_recursive.bad-malformed.txt",
		"made/gcp.cluster-name.nul.txt",
	};
	char routes[1024];
	struct emu m;
	struct run r;

	setup();
	use_kubeconfig();
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(routes, sizeof(routes),
			 "[" GCP_ROUTE("instance/attributes/cluster-name", "\"file\":\"@DATA@/%s\"") "]",
			 files[i]);
		T_CHECK(emu_start(&m, routes) == 0);
		setenv("GCE_METADATA_HOST", m.host, 1);
		run_resolve(&r, NULL, 0, 1000);
		check_fell_to_kubeconfig(&r);
		check_one_warning(&r, "gcp", "cluster-name");
		cluster_identity_clear(&r.id);
		emu_stop(&m);
	}
}

static int emu_azure(struct emu *m, const char *file)
{
	char routes[1024];

	snprintf(routes, sizeof(routes),
		 "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"file\":\"@DATA@/azure/%s\","
		 "\"requireHeaders\":{\"Metadata\":\"true\"}}]", file);
	return emu_start(m, routes);
}

T_TEST(resolve_azure_real_not_aks)
{
	struct emu m;
	struct run r;
	json_t *az;

	setup();
	/* the official example VM is no AKS node: no name, but its metadata is kept */
	T_CHECK(emu_azure(&m, "metadata_instance.api-version=2021-11-15.json") == 0);
	setenv("GARRISON_AZURE_IMDS_ENDPOINT", m.base, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(r.warns, 0);
	T_CHECK_STR(meta(&r, "provider"), "azure");
	T_CHECK_STR(meta(&r, "accountID"), "8d10da13-8125-4ba9-a717-bf7490507b3d");
	T_CHECK_STR(meta(&r, "region"), "westus");
	T_CHECK_STR(meta(&r, "name"), "examplevmname");
	T_CHECK_STR(meta(&r, "type"), "Standard_A3");
	T_CHECK_STR(meta(&r, "vmID"), "02aab8a4-74ef-476e-8182-f6d2ba4166a6");
	T_CHECK_STR(meta(&r, "image"), "Canonical:UbuntuServer:16.04.0-LTS:latest");
	T_CHECK_STR(meta(&r, "resourceID"),
		    "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/"
		    "macikgo-test-may-23/providers/Microsoft.Compute/virtualMachines/examplevmname");
	az = json_object_get(r.id.cloud_metadata, "azure");
	T_CHECK_STR(json_string_value(json_object_get(az, "resourceGroup")), "macikgo-test-may-23");
	T_CHECK_INT(emu_count(&m, "GET /metadata/instance?api-version=2021-11-15"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_azure_aks)
{
	static const struct {
		const char *file, *want;
	} cases[] = {
		{ "metadata_instance.aks-tag.DERIVED.json", "myAKSCluster" },
		{ "metadata_instance.aks-mc-group.DERIVED.json", "myAKSCluster" },
		{ "metadata_instance.aks-mc-ambiguous-rg-tag.DERIVED.json", "my_cluster" },
	};
	struct emu m;
	struct run r;

	setup();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		T_CHECK(emu_azure(&m, cases[i].file) == 0);
		setenv("GARRISON_AZURE_IMDS_ENDPOINT", m.base, 1);
		run_resolve(&r, NULL, 0, 1000);
		T_CHECK_STR(r.id.source, "azure");
		T_CHECK_STR(r.id.name, cases[i].want);
		T_CHECK_STR(meta(&r, "provider"), "azure");
		T_CHECK_STR(meta(&r, "region"), "westus");
		T_CHECK_INT(r.warns, 0);
		cluster_identity_clear(&r.id);
		emu_stop(&m);
	}
}

T_TEST(resolve_azure_rejects)
{
	static const struct {
		const char *routes, *why;
	} cases[] = {
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"file\":"
		  "\"@DATA@/azure/metadata_instance.aks-mc-ambiguous.DERIVED.json\"}]", "ambiguous" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"file\":"
		  "\"@DATA@/azure/metadata_instance.aks-tag-hostile.DERIVED.json\"}]", "disallowed" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"body\":"
		  "\"{\\\"compute\\\":{\\\"location\\\":5}}\"}]", "compute.location is not a string" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"body\":"
		  "\"{\\\"compute\\\":[]}\"}]", "no \"compute\" object" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"body\":"
		  "\"{\\\"compute\\\":{\\\"tagsList\\\":[{\\\"name\\\":1}]}}\"}]", "tagsList" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"body\":"
		  "\"{\\\"compute\\\":{},\\\"compute\\\":{}}\"}]", "malformed JSON" },
		{ "[{\"path\":\"/metadata/instance?api-version=2021-11-15\",\"status\":500}]",
		  "HTTP 500" },
	};
	struct emu m;
	struct run r;

	setup();
	use_kubeconfig();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		T_CHECK(emu_start(&m, cases[i].routes) == 0);
		setenv("GARRISON_AZURE_IMDS_ENDPOINT", m.base, 1);
		run_resolve(&r, NULL, 0, 1000);
		check_fell_to_kubeconfig(&r);
		check_one_warning(&r, "azure", cases[i].why);
		cluster_identity_clear(&r.id);
		emu_stop(&m);
	}
}

T_TEST(resolve_ec2_tags)
{
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_STR(r.id.source, "ec2-tags");
	T_CHECK_STR(r.id.name, "test-eks-cluster");
	T_CHECK_STR(meta(&r, "provider"), "aws");
	T_CHECK_STR(meta(&r, "accountID"), "123456789012");
	T_CHECK_STR(meta(&r, "region"), "us-west-2");
	T_CHECK_STR(meta(&r, "resourceID"), "i-1234567890abcdef0");
	T_CHECK_STR(meta(&r, "type"), "t2.micro");
	T_CHECK_STR(meta(&r, "image"), "ami-5fb8c835");
	T_CHECK_INT(r.warns, 0);
	/* the IMDSv2 routes answer 401 without a token: PUT token, tag, identity document */
	T_CHECK_INT(emu_count(&m, NULL), 3);
	T_CHECK_INT(emu_count(&m, "GET /latest/meta-data/tags/instance/eks:cluster-name"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ec2_imdsv1_fallback)
{
	struct emu m;
	struct run r;

	setup();
	/* no token service (PUT answers 404): the GETs go without a token */
	T_CHECK(emu_start(&m, "[{\"path\":\"/latest/meta-data/tags/instance/eks:cluster-name\","
			      "\"body\":\"v1-cluster\"}]") == 0);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "ec2-tags");
	T_CHECK_STR(r.id.name, "v1-cluster");
	T_CHECK_INT(r.warns, 0);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ec2_no_tag)
{
	struct emu m;
	struct run r;

	setup();
	/* an EC2 instance outside EKS: the identity document is kept as metadata */
	T_CHECK(emu_start(&m, "[{\"path\":\"/latest/dynamic/instance-identity/document\","
			      "\"file\":\"@DATA@/aws/ec2.latest_dynamic_instance-identity_document.json\","
			      "\"imdsv2\":true}]") == 0);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(r.warns, 0);
	T_CHECK_STR(meta(&r, "provider"), "aws");
	T_CHECK_STR(meta(&r, "resourceID"), "i-1234567890abcdef0");
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ec2_rejects)
{
	static const struct {
		const char *routes, *why;
	} cases[] = {
		{ "[{\"path\":\"/latest/meta-data/tags/instance/eks:cluster-name\",\"body\":"
		  "\"bad\\u0007name\",\"imdsv2\":true}]", "control character" },
		{ "[{\"path\":\"/latest/meta-data/tags/instance/eks:cluster-name\",\"body\":"
		  "\"eks cluster\",\"imdsv2\":true}]", "whitespace" },
		{ "[{\"path\":\"/latest/meta-data/tags/instance/eks:cluster-name\",\"body\":"
		  "\"x\",\"status\":500,\"imdsv2\":true}]", "HTTP 500" },
		/* a token service that hands out garbage */
		{ "[{\"method\":\"PUT\",\"path\":\"/latest/api/token\",\"body\":\"tok\\nX-Evil: 1\"}]",
		  "session token" },
	};
	struct emu m;
	struct run r;

	setup();
	use_kubeconfig();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		T_CHECK(emu_start(&m, cases[i].routes) == 0);
		setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
		run_resolve(&r, NULL, 0, 1000);
		check_fell_to_kubeconfig(&r);
		check_one_warning(&r, "ec2-tags", cases[i].why);
		cluster_identity_clear(&r.id);
		emu_stop(&m);
	}
}

T_TEST(resolve_kubeconfig)
{
	struct run r;
	char list[PATH_MAX * 3];

	setup();
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(r.warns, 0);
	cluster_identity_clear(&r.id);
	/* current-context "" is no answer: rejected, and the node IP follows */
	setenv("KUBECONFIG", data("kube/config-demo.full.yaml"), 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK(strcmp(r.id.source, "node-ip") == 0 || strcmp(r.id.source, "none") == 0);
	check_one_warning(&r, "kubeconfig", "no current-context");
	cluster_identity_clear(&r.id);
	snprintf(list, sizeof(list), "%s:%s", data("kube/config-demo.full.yaml"),
		 data("kube/config-demo.minify-dev-frontend.yaml"));
	setenv("KUBECONFIG", list, 1);
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	cluster_identity_clear(&r.id);
}

T_TEST(resolve_garbage_kubeconfig)
{
	struct run r;

	setup();
	setenv("KUBECONFIG", data("made/kubeconfig.garbage"), 1);
	run_resolve(&r, NULL, 1, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK(strcmp(r.id.source, "node-ip") == 0 || strcmp(r.id.source, "none") == 0);
	check_one_warning(&r, "kubeconfig", "not valid YAML");
	cluster_identity_clear(&r.id);
}

T_TEST(resolve_last_resort)
{
	struct run r;

	setup();
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_INT(r.rc, 0);
	T_CHECK_INT(r.warns, 0);
	if (r.id.source != NULL && strcmp(r.id.source, "none") == 0) {
		/* only possible on a machine without any IPv4 address besides loopback */
		printf("# resolve_last_resort: no non-loopback IPv4 here, checked the \"none\" answer\n");
		T_CHECK_STR(r.id.name, "unknown");
	} else {
		T_CHECK_STR(r.id.source, "node-ip");
		T_CHECK(is_host_ipv4(r.id.name));
	}
	T_CHECK(json_is_object(r.id.cloud_metadata) && json_object_size(r.id.cloud_metadata) == 0);
	cluster_identity_clear(&r.id);
}

/* ---- order and switches ---- */

T_TEST(resolve_precedence)
{
	char root[PATH_MAX], uri[128];
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	make_host_root(root, sizeof(root), "aws/ecs.config.bootstrap-example");
	snprintf(uri, sizeof(uri), "%s" TASK_PATH, m.base);
	setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
	setenv("GARRISON_ECS_AGENT_URI", m.base, 1);
	setenv("GARRISON_HOST_ROOT", root, 1);
	setenv("GCE_METADATA_HOST", m.host, 1);
	setenv("GARRISON_AZURE_IMDS_ENDPOINT", m.base, 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
	use_kubeconfig();

	/* every source answers; take them away one by one */
	run_resolve(&r, "manual-cluster", 0, 1000);
	T_CHECK_STR(r.id.source, "manual");
	T_CHECK_STR(r.id.name, "manual-cluster");
	cluster_identity_clear(&r.id);
	T_CHECK_INT(emu_count(&m, NULL), 0); /* manual asks nobody */

	run_resolve(&r, "", 0, 1000);
	T_CHECK_STR(r.id.source, "ecs-task-metadata");
	T_CHECK_STR(r.id.name, "default");
	cluster_identity_clear(&r.id);

	unsetenv("ECS_CONTAINER_METADATA_URI_V4");
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "ecs-agent");
	T_CHECK_STR(r.id.name, "cluster_name");
	cluster_identity_clear(&r.id);

	setenv("GARRISON_ECS_AGENT_URI", dead_url, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "ecs-config");
	T_CHECK_STR(r.id.name, "MyCluster");
	cluster_identity_clear(&r.id);

	setenv("GARRISON_HOST_ROOT", empty_root, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "gcp");
	T_CHECK_STR(r.id.name, "test-cluster");
	cluster_identity_clear(&r.id);

	setenv("GCE_METADATA_HOST", dead_host, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "azure");
	T_CHECK_STR(r.id.name, "myAKSCluster");
	cluster_identity_clear(&r.id);

	setenv("GARRISON_AZURE_IMDS_ENDPOINT", dead_url, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "ec2-tags");
	T_CHECK_STR(r.id.name, "test-eks-cluster");
	cluster_identity_clear(&r.id);

	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", dead_url, 1);
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	cluster_identity_clear(&r.id);

	unsetenv("KUBECONFIG");
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK(strcmp(r.id.source, "node-ip") == 0 || strcmp(r.id.source, "none") == 0);
	T_CHECK_INT(r.warns, 0);
	cluster_identity_clear(&r.id);

	rm_tree(root);
	emu_stop(&m);
}

T_TEST(resolve_cloud_off_contacts_nothing)
{
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	setenv("GARRISON_AZURE_IMDS_ENDPOINT", m.base, 1);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", m.base, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 1, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(emu_count(&m, NULL), 0);
	cluster_identity_clear(&r.id);
	/* the same set-up with cloud metadata on does reach the emulator */
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "gcp");
	T_CHECK(emu_count(&m, NULL) > 0);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

T_TEST(resolve_ecs_agent_not_skipped_when_off)
{
	struct emu m;
	struct run r;

	setup();
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("GARRISON_ECS_AGENT_URI", m.base, 1);
	run_resolve(&r, NULL, 1, 1000);
	T_CHECK_STR(r.id.source, "ecs-agent");
	T_CHECK_INT(emu_count(&m, "GET /v1/metadata"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

/* ---- hostile and broken answers ---- */

/* Serves body at the ECS task path and checks that it is rejected with why. */
static void check_ecs_task_rejects(const char *routes, const char *why)
{
	struct emu m;
	struct run r;
	char uri[128];

	T_CHECK(emu_start(&m, routes) == 0);
	snprintf(uri, sizeof(uri), "%s" TASK_PATH, m.base);
	setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 1, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "ecs-task-metadata", why);
	cluster_identity_clear(&r.id);
	emu_stop(&m);
}

#define TASK_BODY(b) "[{\"path\":\"" TASK_PATH "/task\",\"body\":\"" b "\"}]"

T_TEST(resolve_bad_json)
{
	setup();
	check_ecs_task_rejects(TASK_BODY("{"), "malformed JSON");
	check_ecs_task_rejects(TASK_BODY("[\\\"Cluster\\\"]"), "not an object");
	check_ecs_task_rejects(TASK_BODY(""), "malformed JSON");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"a\\\",\\\"Cluster\\\":\\\"b\\\"}"),
			       "duplicate");
	check_ecs_task_rejects("[{\"path\":\"" TASK_PATH "/task\",\"file\":"
			       "\"@DATA@/gcp/computeMetadata_v1_recursive.bad-malformed.txt\"}]",
			       "malformed JSON");
}

T_TEST(resolve_wrong_types)
{
	setup();
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":5}"), "not a string");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":[\\\"default\\\"]}"), "not a string");
	check_ecs_task_rejects(TASK_BODY("{\\\"cluster\\\":\\\"default\\\"}"), "no \"Cluster\"");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"arn:aws:ecs:r:a:service/x\\\"}"),
			       "not an ECS cluster ARN");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"arn:aws:ecs:r:a:cluster/a/b\\\"}"),
			       "not an ECS cluster ARN");
}

T_TEST(resolve_control_chars)
{
	setup();
	/* escaped in the JSON text, so the parser hands the raw bytes to the name check */
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"evil\\\\u001b[31mred\\\"}"),
			       "control character");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"line\\\\nbreak\\\"}"),
			       "control character");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"tab\\\\tname\\\"}"),
			       "control character");
	/* raw control bytes inside a JSON string are not JSON at all */
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"evil\\u001b[31mred\\\"}"),
			       "malformed JSON");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"<img src=x onerror=alert(1)>\\\"}"),
			       "disallowed character");
	check_ecs_task_rejects(TASK_BODY("{\\\"Cluster\\\":\\\"\\\"}"), "empty name");
}

T_TEST(resolve_oversized_body)
{
	setup();
	/* 70 000 bytes, above the 64 KiB cap (announced in Content-Length) */
	check_ecs_task_rejects("[{\"path\":\"" TASK_PATH "/task\",\"body\":\"xxxxxxxxxx\","
			       "\"repeat\":7000}]", "larger than 64 KiB");
	/* a name of 300 bytes in a small answer */
	check_ecs_task_rejects("[{\"path\":\"" TASK_PATH "/task\",\"body\":\"{\\\"Cluster\\\":\\\""
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\\"}\"}]",
			       "longer than 253");
}

T_TEST(resolve_http_errors)
{
	setup();
	check_ecs_task_rejects("[{\"path\":\"" TASK_PATH "/task\",\"status\":500,\"body\":\"{}\"}]",
			       "HTTP 500");
	/* a redirect is not followed: it is an answer of its own, and a wrong one */
	check_ecs_task_rejects("[{\"path\":\"" TASK_PATH "/task\",\"status\":302,\"headers\":"
			       "{\"Location\":\"/elsewhere\"}},{\"path\":\"/elsewhere\",\"file\":"
			       "\"@DATA@/aws/ecs-task-metadata-v4.task.json\"}]", "HTTP 302");
}

T_TEST(resolve_slow_endpoint)
{
	struct emu m;
	struct run r;

	setup();
	/* the answer would come after 5 s; the budget is 300 ms */
	T_CHECK(emu_start(&m, "[" GCP_ROUTE("instance/attributes/cluster-name",
			      "\"body\":\"slow-cluster\",\"delayMs\":5000") "]") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 300);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "gcp", "time budget");
	if (r.ms >= 2000)
		fprintf(stderr, "  resolution took %lld ms\n", (long long)r.ms);
	T_CHECK(r.ms < 2000);
	T_CHECK_INT(emu_count(&m, "GET /computeMetadata/v1/instance/attributes/cluster-name"), 1);
	cluster_identity_clear(&r.id);
	emu_stop(&m); /* with the delayed answer still pending */
}

T_TEST(resolve_absent_endpoints)
{
	struct run r;
	char uri[128];

	setup();
	/* every endpoint refuses connections: no warning, quick fall-through */
	snprintf(uri, sizeof(uri), "%s" TASK_PATH, dead_url);
	setenv("ECS_CONTAINER_METADATA_URI_V4", uri, 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	T_CHECK_INT(r.warns, 0);
	T_CHECK(r.ms < 1000);
	T_CHECK(json_object_size(r.id.cloud_metadata) == 0);
	cluster_identity_clear(&r.id);
}

T_TEST(resolve_ignores_proxy)
{
	struct emu m;
	struct run r;

	setup();
	/* a proxy in the environment must not be used for metadata requests */
	T_CHECK(emu_start_file(&m, "routes/all.json") == 0);
	setenv("GCE_METADATA_HOST", m.host, 1);
	setenv("http_proxy", dead_url, 1);
	setenv("HTTP_PROXY", dead_url, 1);
	setenv("ALL_PROXY", dead_url, 1);
	run_resolve(&r, NULL, 0, 1000);
	T_CHECK_STR(r.id.source, "gcp");
	T_CHECK_STR(r.id.name, "test-cluster");
	cluster_identity_clear(&r.id);
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("ALL_PROXY");
	emu_stop(&m);
}

T_TEST(resolve_bad_override_urls)
{
	struct run r;

	setup();
	/* only http(s) base URLs are accepted; file:// and friends are refused */
	setenv("GARRISON_ECS_AGENT_URI", "file:///etc/passwd", 1);
	use_kubeconfig();
	run_resolve(&r, NULL, 1, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "ecs-agent", "GARRISON_ECS_AGENT_URI");
	cluster_identity_clear(&r.id);
	setenv("GARRISON_ECS_AGENT_URI", dead_url, 1);
	setenv("GCE_METADATA_HOST", "evil/path?x=", 1);
	run_resolve(&r, NULL, 0, 1000);
	check_fell_to_kubeconfig(&r);
	check_one_warning(&r, "gcp", "GCE_METADATA_HOST");
	cluster_identity_clear(&r.id);
}

T_MAIN(T_CASE(name_check_rules), T_CASE(ecs_config_real_examples), T_CASE(ecs_config_syntax),
       T_CASE(ecs_config_rejects), T_CASE(kubeconfig_real_examples), T_CASE(kubeconfig_merge),
       T_CASE(kubeconfig_rejects), T_CASE(node_ip_pick_rules), T_CASE(opts_from_env),
       T_CASE(identity_clear_safe), T_CASE(resolve_manual), T_CASE(resolve_manual_hostile),
       T_CASE(resolve_ecs_task), T_CASE(resolve_ecs_task_arn), T_CASE(resolve_ecs_agent),
       T_CASE(resolve_ecs_config), T_CASE(resolve_gcp), T_CASE(resolve_gcp_two_projects),
       T_CASE(resolve_gcp_not_gke), T_CASE(resolve_gcp_no_flavor),
       T_CASE(resolve_gcp_bad_payloads), T_CASE(resolve_azure_real_not_aks),
       T_CASE(resolve_azure_aks), T_CASE(resolve_azure_rejects), T_CASE(resolve_ec2_tags),
       T_CASE(resolve_ec2_imdsv1_fallback), T_CASE(resolve_ec2_no_tag),
       T_CASE(resolve_ec2_rejects), T_CASE(resolve_kubeconfig),
       T_CASE(resolve_garbage_kubeconfig), T_CASE(resolve_last_resort),
       T_CASE(resolve_precedence), T_CASE(resolve_cloud_off_contacts_nothing),
       T_CASE(resolve_ecs_agent_not_skipped_when_off), T_CASE(resolve_bad_json),
       T_CASE(resolve_wrong_types), T_CASE(resolve_control_chars), T_CASE(resolve_oversized_body),
       T_CASE(resolve_http_errors), T_CASE(resolve_slow_endpoint),
       T_CASE(resolve_absent_endpoints), T_CASE(resolve_ignores_proxy),
       T_CASE(resolve_bad_override_urls))
