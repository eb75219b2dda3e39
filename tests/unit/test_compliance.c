/*
 * test_compliance: the CIS Docker Benchmark checks (lib/compliance*.c).
 *
 *  - the catalogue against docker-bench-security's check list (tests/data/cis-docker): ids and
 *    titles identical, and every check of sections 1-5 reported exactly once by the three entry
 *    points together;
 *  - container checks on real inspect answers of Docker Engine 20.10 (tests/data/docker) and on
 *    variants of one of them, each check seen failing and passing;
 *  - image checks on real image inspect answers and handcrafted configurations, with the secret
 *    heuristics (a secret's value never appears in a cause);
 *  - host checks on a fake root tree made in a temporary directory (modes, owners, a unix
 *    socket, audit rules, a fake /proc with a dockerd command line, an escaping symbolic link);
 *  - Prisma's shapes (complianceIssues, complianceDistribution) and garbage input.
 *
 * Data directory: $GARRISON_TEST_DATA, else ./tests/data, else three levels above this binary.
 * Ownership cases need root (chown); without it they say so and are skipped.
 */
#include "t.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include <garrison/compliance.h>
#include <garrison/util.h>

#include "../../lib/compliance_int.h"

static char data_dir[PATH_MAX];

static void find_data(void)
{
	const char *env = getenv("GARRISON_TEST_DATA");
	char self[PATH_MAX], guess[PATH_MAX * 2];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (env != NULL && env[0] != '\0')
		snprintf(guess, sizeof(guess), "%s", env);
	else if (access("tests/data/cis-docker/PROVENANCE.md", R_OK) == 0)
		snprintf(guess, sizeof(guess), "tests/data");
	else
		snprintf(guess, sizeof(guess), "%s/../../../tests/data", self);
	if (realpath(guess, data_dir) == NULL)
		snprintf(data_dir, sizeof(data_dir), "%.*s", PATH_MAX - 1, guess);
}

static json_t *load_json(const char *rel)
{
	char path[PATH_MAX * 2];
	json_error_t je;
	json_t *j;

	if (data_dir[0] == '\0')
		find_data();
	snprintf(path, sizeof(path), "%s/%s", data_dir, rel);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (j == NULL)
		fprintf(stderr, "  cannot load %s: %s\n", path, je.text);
	return j;
}

static int contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

/* Runs the container checks; returns the list (the caller frees it). */
static struct compliance_list *run_container(const json_t *inspect, const json_t *execs)
{
	struct compliance_list *l = compliance_list_new();
	int rc = compliance_container(inspect, execs, l);

	T_CHECK_INT(rc, 0);
	T_CHECK_INT(compliance_list_count(l), 35);
	return l;
}

static struct compliance_list *run_image(const json_t *cfg, const json_t *files);

/* Checks the status of id in l and that its cause contains want (NULL: anything). */
#define EXPECT(l, id, st, want) expect_(__FILE__, __LINE__, l, id, st, want)
static void expect_(const char *file, int line, const struct compliance_list *l, const char *id,
		    enum compliance_status st, const char *want)
{
	const struct compliance_result *r = compliance_list_find(l, id);

	if (r == NULL) {
		fprintf(stderr, "  %s:%d: no result for %s\n", file, line, id);
		t_failed_checks++;
		return;
	}
	if (r->status != st || (want != NULL && !contains(r->cause, want))) {
		fprintf(stderr, "  %s:%d: %s: %s \"%s\", expected %s \"%s\"\n", file, line, id,
			compliance_status_name(r->status), r->cause, compliance_status_name(st),
			want ? want : "");
		t_failed_checks++;
	}
}

/* ================================================================================================
 * Catalogue
 * ============================================================================================== */

T_TEST(catalogue_matches_docker_bench)
{
	char path[PATH_MAX * 2], *text = NULL, *line, *cur;
	size_t n, len, matched = 0, checks_1_5 = 0;
	const struct compliance_check *cat = compliance_catalog(&n);

	if (data_dir[0] == '\0')
		find_data();
	snprintf(path, sizeof(path), "%s/cis-docker/docker-bench-security-checks.tsv", data_dir);
	T_CHECK_INT(util_read_file(path, 1 << 20, &text, &len), 0);
	if (text == NULL)
		return;
	for (cur = text; (line = cur) != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n'), *f[4] = { NULL };
		int nf = 0;

		if (nl != NULL)
			*nl = '\0';
		cur = nl ? nl + 1 : line + strlen(line);
		for (char *p = line; nf < 4; nf++) {
			f[nf] = p;
			p = strchr(p, '\t');
			if (p == NULL) {
				nf++;
				break;
			}
			*p++ = '\0';
		}
		if (nf < 4 || strcmp(f[1], "check") != 0)
			continue;
		if (f[0][0] >= '1' && f[0][0] <= '5' && f[0][1] == '.')
			checks_1_5++;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(cat[i].id, f[0]) == 0) {
				T_CHECK_STR(cat[i].title, f[3]);
				matched++;
			}
		}
	}
	free(text);
	T_CHECK_INT(matched, n);                    /* every catalogue entry is in the TSV */
	T_CHECK_INT(n, checks_1_5 + 4);             /* all of sections 1-5, plus C.5.3.1-4 */
	T_CHECK_INT(checks_1_5, 106);
}

T_TEST(every_check_reported_once)
{
	json_t *inspect = load_json("docker/containers/inspect-ecs-curl.json");
	json_t *image = load_json("docker/images/inspect-test_busybox_1.json");
	json_t *info = load_json("docker/info.json");
	struct compliance_list *l = compliance_list_new();
	size_t n;
	const struct compliance_check *cat = compliance_catalog(&n);

	T_CHECK_INT(compliance_container(inspect, NULL, l), 0);
	T_CHECK_INT(compliance_image(image, NULL, l), 0);
	T_CHECK_INT(compliance_host("/nonexistent-h5", info, l), -ENOENT);
	T_CHECK_INT(compliance_host("/", info, l), 0);
	T_CHECK_INT(compliance_list_count(l), n);
	for (size_t i = 0; i < n; i++) {
		int seen = 0;

		for (size_t k = 0; k < compliance_list_count(l); k++) {
			const struct compliance_result *r = compliance_list_get(l, k);

			if (strcmp(r->id, cat[i].id) == 0)
				seen++;
			T_CHECK(r->cause[0] != '\0');
		}
		if (seen != 1)
			fprintf(stderr, "  %s reported %d times\n", cat[i].id, seen);
		T_CHECK_INT(seen, 1);
	}
	compliance_list_free(l);
	json_decref(inspect);
	json_decref(image);
	json_decref(info);
}

T_TEST(prisma_ids)
{
	T_CHECK_INT(compliance_prisma_id("5.4"), 54);
	T_CHECK_INT(compliance_prisma_id("5.31"), 531);
	T_CHECK_INT(compliance_prisma_id("3.10"), 310);
	T_CHECK_INT(compliance_prisma_id("1.1.12"), 1112);
	T_CHECK_INT(compliance_prisma_id("C.5.3.1"), 9531);
	T_CHECK_INT(compliance_prisma_id("x"), -1);
	T_CHECK_INT(compliance_prisma_id(NULL), -1);
	/* no two catalogue entries share a Prisma id */
	{
		size_t n;
		const struct compliance_check *cat = compliance_catalog(&n);

		for (size_t i = 0; i < n; i++)
			for (size_t k = i + 1; k < n; k++)
				T_CHECK(compliance_prisma_id(cat[i].id) != compliance_prisma_id(cat[k].id));
	}
}

/* ================================================================================================
 * Containers: recorded answers
 * ============================================================================================== */

T_TEST(container_priv_web)
{
	json_t *j = load_json("docker/containers/inspect-priv-web.json");
	struct compliance_list *l = run_container(j, NULL);

	EXPECT(l, "5.5", COMPLIANCE_FAIL, "HostConfig.Privileged is true");
	EXPECT(l, "5.4", COMPLIANCE_FAIL, "Privileged");
	EXPECT(l, "5.3", COMPLIANCE_FAIL, "label=disable");
	EXPECT(l, "5.16", COMPLIANCE_FAIL, "HostConfig.PidMode is host");
	EXPECT(l, "5.17", COMPLIANCE_FAIL, "HostConfig.IpcMode is host");
	EXPECT(l, "5.10", COMPLIANCE_PASS, "default");
	EXPECT(l, "5.8", COMPLIANCE_PASS, NULL);          /* 18080 and 18443 */
	EXPECT(l, "5.14", COMPLIANCE_FAIL, "8443/tcp");   /* 18443 on 0.0.0.0 */
	EXPECT(l, "5.6", COMPLIANCE_PASS, NULL);          /* /tmp/gdrec/hostdata */
	EXPECT(l, "5.32", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.18", COMPLIANCE_FAIL, "Privileged");
	EXPECT(l, "5.22", COMPLIANCE_FAIL, "Privileged");
	EXPECT(l, "5.11", COMPLIANCE_FAIL, "Memory is 0");
	EXPECT(l, "5.29", COMPLIANCE_FAIL, "null");
	EXPECT(l, "5.13", COMPLIANCE_FAIL, "ReadonlyRootfs is false");
	EXPECT(l, "5.30", COMPLIANCE_FAIL, "default");
	EXPECT(l, "5.7", COMPLIANCE_NA, "top");
	EXPECT(l, "5.23", COMPLIANCE_NA, "exec");
	EXPECT(l, "C.5.3.3", COMPLIANCE_FAIL, "CAP_SYS_ADMIN");
	/* the distribution counts the failures by severity */
	{
		json_t *d = compliance_prisma_distribution(l);
		json_t *issues = compliance_prisma_issues(l);
		size_t fails = 0;

		for (size_t i = 0; i < compliance_list_count(l); i++)
			fails += compliance_list_get(l, i)->status == COMPLIANCE_FAIL;
		T_CHECK_INT(json_integer_value(json_object_get(d, "total")), fails);
		T_CHECK_INT(json_array_size(issues), fails);
		T_CHECK_INT(json_integer_value(json_object_get(d, "critical")), 3); /* 5.5, C.5.3.2, C.5.3.3 */
		T_CHECK_INT(json_integer_value(json_object_get(d, "critical")) +
			    json_integer_value(json_object_get(d, "high")) +
			    json_integer_value(json_object_get(d, "medium")) +
			    json_integer_value(json_object_get(d, "low")), fails);
		/* most severe first; the record has Prisma's members */
		{
			json_t *first = json_array_get(issues, 0);

			T_CHECK_STR(json_string_value(json_object_get(first, "severity")), "critical");
			T_CHECK_INT(json_integer_value(json_object_get(first, "id")), 55);
			T_CHECK_STR(json_string_value(json_object_get(first, "title")),
				    "(CIS_Docker_v1.6.0 - 5.5) Ensure that privileged containers are not used");
			T_CHECK_STR(json_string_value(json_object_get(first, "type")), "container");
			T_CHECK_STR(json_string_value(json_object_get(first, "cause")),
				    "HostConfig.Privileged is true");
			T_CHECK(json_is_string(json_object_get(first, "description")));
			T_CHECK(json_is_array(json_object_get(first, "templates")));
		}
		for (size_t i = 1; i < json_array_size(issues); i++) {
			static const char *const order[] = { "low", "medium", "high", "critical" };
			int a = -1, b = -1;

			for (int k = 0; k < 4; k++) {
				if (strcmp(order[k], json_string_value(json_object_get(json_array_get(issues, i - 1), "severity"))) == 0)
					a = k;
				if (strcmp(order[k], json_string_value(json_object_get(json_array_get(issues, i), "severity"))) == 0)
					b = k;
			}
			T_CHECK(a >= b);
		}
		json_decref(d);
		json_decref(issues);
	}
	compliance_list_free(l);
	json_decref(j);
}

T_TEST(container_hostnet_and_plain)
{
	json_t *h = load_json("docker/containers/inspect-hostnet.json");
	json_t *e = load_json("docker/containers/inspect-ecs-curl.json");
	struct compliance_list *l = run_container(h, NULL);

	EXPECT(l, "5.10", COMPLIANCE_FAIL, "HostConfig.NetworkMode is host");
	EXPECT(l, "5.14", COMPLIANCE_NA, "host");
	EXPECT(l, "5.30", COMPLIANCE_PASS, "host");
	EXPECT(l, "5.5", COMPLIANCE_PASS, NULL);
	compliance_list_free(l);

	l = run_container(e, NULL);
	EXPECT(l, "5.4", COMPLIANCE_PASS, "CapAdd is empty");
	EXPECT(l, "5.5", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.10", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.14", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.16", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.22", COMPLIANCE_PASS, "default seccomp");
	EXPECT(l, "5.2", COMPLIANCE_NA, "AppArmor");
	EXPECT(l, "5.3", COMPLIANCE_NA, "SELinux");
	EXPECT(l, "5.26", COMPLIANCE_FAIL, "lacks no-new-privileges");
	EXPECT(l, "5.27", COMPLIANCE_FAIL, "not set");
	EXPECT(l, "5.15", COMPLIANCE_PASS, "no");
	compliance_list_free(l);
	json_decref(h);
	json_decref(e);
}

/* Containers and images made for these checks on a private engine (docker/compliance). */
T_TEST(recorded_cis)
{
	json_t *hard = load_json("docker/compliance/inspect-cis-hardened.json");
	json_t *risky = load_json("docker/compliance/inspect-cis-risky.json");
	json_t *priv = load_json("docker/compliance/inspect-cis-priv-created.json");
	json_t *exec = load_json("docker/compliance/exec-cis-hardened-root.json");
	json_t *good = load_json("docker/compliance/image-cis-good.json");
	json_t *secret = load_json("docker/compliance/image-cis-secret.json");
	json_t *execs = json_pack("[O]", exec);
	struct compliance_list *l = run_container(hard, execs);

	EXPECT(l, "5.11", COMPLIANCE_PASS, "67108864");
	EXPECT(l, "5.12", COMPLIANCE_PASS, "CpuShares is 512");
	EXPECT(l, "5.13", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.26", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.29", COMPLIANCE_PASS, "50");
	EXPECT(l, "5.15", COMPLIANCE_PASS, "on-failure:3");
	EXPECT(l, "5.27", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.30", COMPLIANCE_PASS, "appnet");
	EXPECT(l, "5.14", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.4", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.23", COMPLIANCE_PASS, "none of the 1 exec");
	EXPECT(l, "5.24", COMPLIANCE_FAIL, "user root");
	compliance_list_free(l);
	l = run_container(risky, NULL);
	EXPECT(l, "5.4", COMPLIANCE_FAIL, "SYS_ADMIN");
	EXPECT(l, "C.5.3.3", COMPLIANCE_FAIL, "CAP_SYS_ADMIN");
	EXPECT(l, "5.22", COMPLIANCE_FAIL, "seccomp=unconfined");
	EXPECT(l, "5.15", COMPLIANCE_FAIL, "always");
	EXPECT(l, "5.21", COMPLIANCE_FAIL, "UTSMode is host");
	EXPECT(l, "5.32", COMPLIANCE_FAIL, "the Docker socket /tmp/h5-x/docker.sock is mounted at /var/run/docker.sock");
	EXPECT(l, "5.6", COMPLIANCE_FAIL, "host /etc is mounted at /host/etc (read-write)");
	EXPECT(l, "5.14", COMPLIANCE_FAIL, "8080/tcp");
	EXPECT(l, "5.8", COMPLIANCE_PASS, NULL);
	compliance_list_free(l);
	l = run_container(priv, NULL);
	EXPECT(l, "5.5", COMPLIANCE_FAIL, NULL);
	EXPECT(l, "5.8", COMPLIANCE_FAIL, "host port 80");
	EXPECT(l, "5.6", COMPLIANCE_FAIL, "host /etc is mounted at /host/etc (read-only)");
	compliance_list_free(l);
	l = run_image(good, NULL);
	EXPECT(l, "4.1", COMPLIANCE_PASS, "1000:1000");
	EXPECT(l, "4.6", COMPLIANCE_PASS, NULL);
	compliance_list_free(l);
	l = run_image(secret, json_array_get(execs, 99) /* NULL */);
	EXPECT(l, "4.10", COMPLIANCE_FAIL, "DB_PASSWORD (name looks like a secret)");
	T_CHECK(!contains(compliance_list_find(l, "4.10")->cause, "hunter2"));
	compliance_list_free(l);
	json_decref(execs);
	json_decref(hard);
	json_decref(risky);
	json_decref(priv);
	json_decref(exec);
	json_decref(good);
	json_decref(secret);
}

/* ================================================================================================
 * Containers: variants, each check failing and passing
 * ============================================================================================== */

struct variant {
	const char *id;
	const char *json;           /* members merged into the inspect answer (json_object_update_recursive) */
	enum compliance_status st;
	const char *cause;
};

static const struct variant variants[] = {
	{ "5.2", "{\"AppArmorProfile\":\"docker-default\"}", COMPLIANCE_PASS, "docker-default" },
	{ "5.2", "{\"AppArmorProfile\":\"unconfined\"}", COMPLIANCE_FAIL, "unconfined" },
	{ "5.2", "{\"HostConfig\":{\"SecurityOpt\":[\"apparmor=unconfined\"]}}", COMPLIANCE_FAIL, "apparmor=unconfined" },
	{ "5.3", "{\"HostConfig\":{\"SecurityOpt\":[\"label=type:svirt_apache_t\"]}}", COMPLIANCE_PASS, "svirt_apache_t" },
	{ "5.3", "{\"ProcessLabel\":\"system_u:system_r:container_t:s0:c1,c2\"}", COMPLIANCE_PASS, "container_t" },
	{ "5.3", "{\"HostConfig\":{\"SecurityOpt\":[\"label:disable\"]}}", COMPLIANCE_FAIL, "label=disable" },
	{ "5.4", "{\"HostConfig\":{\"CapAdd\":[\"NET_ADMIN\",\"SYS_TIME\"]}}", COMPLIANCE_FAIL, "NET_ADMIN, SYS_TIME" },
	{ "5.4", "{\"HostConfig\":{\"CapAdd\":[],\"CapDrop\":[\"ALL\"]}}", COMPLIANCE_PASS, NULL },
	{ "5.5", "{\"HostConfig\":{\"Privileged\":true}}", COMPLIANCE_FAIL, "Privileged is true" },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc\",\"Destination\":\"/host/etc\",\"RW\":false}]}", COMPLIANCE_FAIL, "host /etc is mounted at /host/etc (read-only)" },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"//usr/./lib/../\",\"Destination\":\"/u\",\"RW\":true}]}", COMPLIANCE_FAIL, "host /usr is mounted" },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/\",\"Destination\":\"/host\",\"RW\":true}]}", COMPLIANCE_FAIL, "host / is mounted at /host (read-write)" },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc/ssl/certs\",\"Destination\":\"/c\",\"RW\":true}]}", COMPLIANCE_FAIL, "/etc/ssl/certs" },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etc/localtime\",\"Destination\":\"/etc/localtime\",\"RW\":false}]}", COMPLIANCE_PASS, NULL },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/etcetera\",\"Destination\":\"/x\",\"RW\":true}]}", COMPLIANCE_PASS, NULL },
	{ "5.6", "{\"Mounts\":[{\"Type\":\"volume\",\"Source\":\"/etc\",\"Destination\":\"/x\",\"RW\":true}]}", COMPLIANCE_PASS, NULL },
	{ "5.6", "{\"Mounts\":[],\"HostConfig\":{\"Binds\":[\"/proc:/hostproc:ro\"]}}", COMPLIANCE_FAIL, "host /proc is mounted at /hostproc (read-only)" },
	{ "5.6", "{\"Mounts\":[],\"HostConfig\":{\"Binds\":[\"/dev:/d:rprivate,z\"]}}", COMPLIANCE_FAIL, "host /dev is mounted at /d (read-write)" },
	{ "5.20", "{\"Mounts\":[],\"HostConfig\":{\"Binds\":[\"/srv:/s:ro,rshared\"]}}", COMPLIANCE_FAIL, "/srv is mounted at /s with propagation rshared" },
	{ "5.20", "{\"Mounts\":[],\"HostConfig\":{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv\",\"Target\":\"/t\",\"BindOptions\":{\"Propagation\":\"shared\"}}]}}", COMPLIANCE_FAIL, "/srv is mounted at /t with propagation shared" },
	{ "5.8", "{\"NetworkSettings\":{\"Ports\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"80\"}]}}}", COMPLIANCE_FAIL, "host port 80" },
	{ "5.8", "{\"HostConfig\":{\"PortBindings\":{\"22/tcp\":[{\"HostIp\":\"10.0.0.1\",\"HostPort\":\"2222\"}]}}}", COMPLIANCE_PASS, NULL },
	{ "5.14", "{\"HostConfig\":{\"PortBindings\":{\"22/tcp\":[{\"HostIp\":\"10.0.0.1\",\"HostPort\":\"2222\"}]}}}", COMPLIANCE_PASS, NULL },
	{ "5.14", "{\"HostConfig\":{\"PortBindings\":{\"22/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"2222\"}]}}}", COMPLIANCE_FAIL, "0.0.0.0:2222" },
	{ "5.14", "{\"NetworkSettings\":{\"Ports\":{\"53/udp\":[{\"HostIp\":\"::\",\"HostPort\":\"5353\"}]}}}", COMPLIANCE_FAIL, "host :::5353" },
	{ "5.14", "{\"HostConfig\":{\"PublishAllPorts\":true}}", COMPLIANCE_FAIL, "PublishAllPorts" },
	{ "5.10", "{\"HostConfig\":{\"NetworkMode\":\"host\"}}", COMPLIANCE_FAIL, "host" },
	{ "5.11", "{\"HostConfig\":{\"Memory\":268435456}}", COMPLIANCE_PASS, "268435456" },
	{ "5.12", "{\"HostConfig\":{\"CpuShares\":512}}", COMPLIANCE_PASS, "CpuShares is 512" },
	{ "5.12", "{\"HostConfig\":{\"CpuShares\":1024}}", COMPLIANCE_FAIL, "1024" },
	{ "5.12", "{\"HostConfig\":{\"NanoCpus\":500000000}}", COMPLIANCE_PASS, "NanoCpus" },
	{ "5.13", "{\"HostConfig\":{\"ReadonlyRootfs\":true}}", COMPLIANCE_PASS, NULL },
	{ "5.15", "{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":0}}}", COMPLIANCE_FAIL, "always" },
	{ "5.15", "{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":5}}}", COMPLIANCE_PASS, "on-failure:5" },
	{ "5.15", "{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":0}}}", COMPLIANCE_FAIL, "unlimited" },
	{ "5.15", "{\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":9}}}", COMPLIANCE_FAIL, "more than 5" },
	{ "5.16", "{\"HostConfig\":{\"PidMode\":\"host\"}}", COMPLIANCE_FAIL, NULL },
	{ "5.16", "{\"HostConfig\":{\"PidMode\":\"container:abc\"}}", COMPLIANCE_PASS, "container:abc" },
	{ "5.17", "{\"HostConfig\":{\"IpcMode\":\"host\"}}", COMPLIANCE_FAIL, NULL },
	{ "5.17", "{\"HostConfig\":{\"IpcMode\":\"private\"}}", COMPLIANCE_PASS, "private" },
	{ "5.18", "{\"HostConfig\":{\"Devices\":[{\"PathOnHost\":\"/dev/fuse\",\"PathInContainer\":\"/dev/fuse\",\"CgroupPermissions\":\"rwm\"}]}}", COMPLIANCE_FAIL, "/dev/fuse" },
	{ "5.18", "{\"HostConfig\":{\"DeviceCgroupRules\":[\"c 10:229 rwm\"]}}", COMPLIANCE_FAIL, "c 10:229 rwm" },
	{ "5.20", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv/data\",\"Destination\":\"/d\",\"RW\":true,\"Propagation\":\"rshared\"}]}", COMPLIANCE_FAIL, "rshared" },
	{ "5.20", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv/data\",\"Destination\":\"/d\",\"RW\":true,\"Propagation\":\"rprivate\"}]}", COMPLIANCE_PASS, NULL },
	{ "5.21", "{\"HostConfig\":{\"UTSMode\":\"host\"}}", COMPLIANCE_FAIL, NULL },
	{ "5.22", "{\"HostConfig\":{\"SecurityOpt\":[\"seccomp=unconfined\"]}}", COMPLIANCE_FAIL, "seccomp=unconfined" },
	{ "5.22", "{\"HostConfig\":{\"SecurityOpt\":[\"seccomp:unconfined\"]}}", COMPLIANCE_FAIL, "seccomp=unconfined" },
	{ "5.22", "{\"HostConfig\":{\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ERRNO\\\"}\"]}}", COMPLIANCE_PASS, "custom" },
	{ "5.25", "{\"HostConfig\":{\"CgroupParent\":\"/custom\"}}", COMPLIANCE_FAIL, "/custom" },
	{ "5.26", "{\"HostConfig\":{\"SecurityOpt\":[\"no-new-privileges\"]}}", COMPLIANCE_PASS, NULL },
	{ "5.26", "{\"HostConfig\":{\"SecurityOpt\":[\"no-new-privileges:true\"]}}", COMPLIANCE_PASS, NULL },
	{ "5.26", "{\"HostConfig\":{\"SecurityOpt\":[\"no-new-privileges=false\"]}}", COMPLIANCE_FAIL, "=false" },
	{ "5.27", "{\"Config\":{\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"]}}}", COMPLIANCE_PASS, NULL },
	{ "5.27", "{\"Config\":{\"Healthcheck\":{\"Test\":[\"NONE\"]}}}", COMPLIANCE_FAIL, "NONE" },
	{ "5.29", "{\"HostConfig\":{\"PidsLimit\":100}}", COMPLIANCE_PASS, "100" },
	{ "5.29", "{\"HostConfig\":{\"PidsLimit\":-1}}", COMPLIANCE_FAIL, "-1" },
	{ "5.30", "{\"HostConfig\":{\"NetworkMode\":\"appnet\"}}", COMPLIANCE_PASS, "appnet" },
	{ "5.31", "{\"HostConfig\":{\"UsernsMode\":\"host\"}}", COMPLIANCE_FAIL, NULL },
	{ "5.32", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/var/run/docker.sock\",\"Destination\":\"/var/run/docker.sock\",\"RW\":true}]}", COMPLIANCE_FAIL, "the Docker socket /var/run/docker.sock" },
	{ "5.32", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/run\",\"Destination\":\"/hostrun\",\"RW\":false}]}", COMPLIANCE_FAIL, "host /run (which holds" },
	{ "5.32", "{\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"/srv/docker.socket.d\",\"Destination\":\"/x\",\"RW\":false}]}", COMPLIANCE_PASS, NULL },
	{ "C.5.3.1", "{\"HostConfig\":{\"CapAdd\":[\"CAP_DAC_READ_SEARCH\"]}}", COMPLIANCE_FAIL, "CAP_DAC_READ_SEARCH" },
	{ "C.5.3.2", "{\"HostConfig\":{\"CapAdd\":[\"ALL\"]}}", COMPLIANCE_FAIL, "CAP_SYS_MODULE" },
	{ "C.5.3.3", "{\"HostConfig\":{\"CapAdd\":[\"sys_admin\"]}}", COMPLIANCE_FAIL, "CAP_SYS_ADMIN" },
	{ "C.5.3.4", "{\"HostConfig\":{\"CapAdd\":[\"SYS_PTRACE\"]}}", COMPLIANCE_FAIL, "CAP_SYS_PTRACE" },
	{ "C.5.3.4", "{\"HostConfig\":{\"CapAdd\":[\"NET_ADMIN\"]}}", COMPLIANCE_PASS, NULL },
};

T_TEST(container_variants)
{
	json_t *base = load_json("docker/containers/inspect-ecs-curl.json");
	struct compliance_list *plain;

	if (base == NULL) {
		T_CHECK(0);
		return;
	}
	/* the variants change one thing of a container that fails or passes each of those checks
	 * the other way round: check the base first */
	plain = run_container(base, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		const struct compliance_result *r = compliance_list_find(plain, variants[i].id);
		int other = 0;

		for (size_t k = 0; k < ARRAY_SIZE(variants); k++)
			if (strcmp(variants[k].id, variants[i].id) == 0 && r != NULL &&
			    variants[k].st != r->status)
				other = 1;
		if (!other)
			fprintf(stderr, "  no variant turns %s from the base's status\n", variants[i].id);
		T_CHECK(other);
	}
	compliance_list_free(plain);

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		json_t *v = json_deep_copy(base);
		json_error_t je;
		json_t *patch = json_loads(variants[i].json, JSON_REJECT_DUPLICATES, &je);
		struct compliance_list *l;

		if (patch == NULL)
			fprintf(stderr, "  variant %zu: %s\n", i, je.text);
		T_CHECK(patch != NULL);
		T_CHECK_INT(json_object_update_recursive(v, patch), 0);
		l = run_container(v, NULL);
		expect_(__FILE__, (int)i, l, variants[i].id, variants[i].st, variants[i].cause);
		compliance_list_free(l);
		json_decref(patch);
		json_decref(v);
	}
	json_decref(base);
}

T_TEST(container_execs)
{
	json_t *base = load_json("docker/containers/inspect-ecs-curl.json");
	json_t *execs = json_loads("[{\"ID\":\"e1\",\"ProcessConfig\":{\"privileged\":false,\"user\":\"\"}},"
				   "{\"ID\":\"e2\",\"ProcessConfig\":{\"privileged\":true,\"user\":\"0:0\"}}]", 0, NULL);
	json_t *clean = json_loads("[{\"ID\":\"e1\",\"ProcessConfig\":{\"privileged\":false,\"user\":\"1000\"}}]", 0, NULL);
	struct compliance_list *l = run_container(base, execs);

	EXPECT(l, "5.23", COMPLIANCE_FAIL, "exec e2");
	EXPECT(l, "5.24", COMPLIANCE_FAIL, "user 0:0");
	compliance_list_free(l);
	l = run_container(base, clean);
	EXPECT(l, "5.23", COMPLIANCE_PASS, "1 exec");
	EXPECT(l, "5.24", COMPLIANCE_PASS, NULL);
	compliance_list_free(l);
	json_decref(execs);
	json_decref(clean);
	json_decref(base);
}

/* Every member of HostConfig, Config and the top level replaced by values of every JSON type:
 * never a crash, always 35 results; a non-object inspect is refused. */
T_TEST(container_garbage)
{
	json_t *base = load_json("docker/containers/inspect-priv-web.json");
	json_t *vals[] = { json_null(), json_integer(-1), json_string("host"), json_array(),
			   json_object(), json_true(), json_real(1e300),
			   json_pack("[s,i,{}]", "x\001\"\\\xc3\xa9", 7) };
	struct compliance_list *l = compliance_list_new();
	const char *key;
	json_t *val;
	char longs[5000];

	T_CHECK_INT(compliance_container(NULL, NULL, l), -EINVAL);
	T_CHECK_INT(compliance_container(vals[2], NULL, l), -EINVAL);
	T_CHECK_INT(compliance_container(vals[4], NULL, l), -EINVAL);
	T_CHECK_INT(compliance_list_count(l), 0);
	compliance_list_free(l);
	for (int part = 0; part < 3; part++) {
		json_t *target = part == 0 ? base : json_object_get(base, part == 1 ? "HostConfig" : "Config");
		json_t *keys = json_array();

		json_object_foreach(target, key, val)
			json_array_append_new(keys, json_string(key));
		for (size_t k = 0; k < json_array_size(keys); k++) {
			for (size_t t = 0; t < ARRAY_SIZE(vals); t++) {
				json_t *v = json_deep_copy(base);
				json_t *tg = part == 0 ? v : json_object_get(v, part == 1 ? "HostConfig" : "Config");
				const char *name = json_string_value(json_array_get(keys, k));

				json_object_set(tg, name, vals[t]);
				l = compliance_list_new();
				if (part == 0 && strcmp(name, "HostConfig") == 0 && !json_is_object(vals[t])) {
					T_CHECK_INT(compliance_container(v, NULL, l), -EINVAL);
				} else {
					T_CHECK_INT(compliance_container(v, vals[t], l), 0);
					T_CHECK_INT(compliance_list_count(l), 35);
				}
				compliance_list_free(l);
				json_decref(v);
			}
		}
		json_decref(keys);
	}
	/* a huge, hostile string is bounded and cleaned in the cause */
	memset(longs, 'A', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	longs[3] = '\n';
	json_object_set_new(json_object_get(base, "HostConfig"), "CgroupParent", json_string(longs));
	l = run_container(base, NULL);
	{
		const struct compliance_result *r = compliance_list_find(l, "5.25");

		T_CHECK(r != NULL && strlen(r->cause) < COMPLIANCE_CAUSE_MAX);
		T_CHECK(r != NULL && contains(r->cause, "AAA?AAA") && contains(r->cause, "..."));
		T_CHECK(r != NULL && strchr(r->cause, '\n') == NULL);
	}
	{
		json_t *issues = compliance_prisma_issues(l);
		json_t *all = compliance_results_json(l);

		T_CHECK(issues != NULL);
		T_CHECK_INT(json_array_size(all), 35);
		json_decref(issues);
		json_decref(all);
	}
	compliance_list_free(l);
	for (size_t t = 0; t < ARRAY_SIZE(vals); t++)
		json_decref(vals[t]);
	json_decref(base);
}

/* ================================================================================================
 * Images
 * ============================================================================================== */

static struct compliance_list *run_image(const json_t *cfg, const json_t *files)
{
	struct compliance_list *l = compliance_list_new();

	T_CHECK_INT(compliance_image(cfg, files, l), 0);
	T_CHECK_INT(compliance_list_count(l), 12);
	return l;
}

T_TEST(image_recorded)
{
	json_t *j = load_json("docker/images/inspect-test_busybox_1.json");
	json_t *none = json_array();
	json_t *files = json_pack("[{s:s,s:s}]", "path", "/root/.ssh/id_rsa", "reason", "private key (PEM)");
	struct compliance_list *l = run_image(j, NULL);

	EXPECT(l, "4.1", COMPLIANCE_FAIL, "Config.User is empty");
	EXPECT(l, "4.6", COMPLIANCE_FAIL, "Healthcheck is not set");
	EXPECT(l, "4.10", COMPLIANCE_NA, "not searched");
	EXPECT(l, "4.5", COMPLIANCE_NA, "DOCKER_CONTENT_TRUST");
	compliance_list_free(l);
	l = run_image(j, none);
	EXPECT(l, "4.10", COMPLIANCE_PASS, NULL);
	compliance_list_free(l);
	l = run_image(j, files);
	EXPECT(l, "4.10", COMPLIANCE_FAIL, "image file /root/.ssh/id_rsa: private key (PEM)");
	compliance_list_free(l);
	/* secret_files must be an array */
	l = compliance_list_new();
	T_CHECK_INT(compliance_image(j, json_object_get(j, "Config"), l), -EINVAL);
	T_CHECK_INT(compliance_image(json_object_get(j, "RepoTags"), NULL, l), -EINVAL);
	T_CHECK_INT(compliance_list_count(l), 0);
	compliance_list_free(l);
	json_decref(files);
	json_decref(none);
	json_decref(j);
}

struct img_case {
	const char *json;
	const char *id;
	enum compliance_status st;
	const char *cause;
	const char *never;   /* text that must not appear in the cause (a secret value) */
};

static const struct img_case img_cases[] = {
	{ "{\"Config\":{\"User\":\"1000:1000\"}}", "4.1", COMPLIANCE_PASS, "1000:1000", NULL },
	{ "{\"config\":{\"User\":\"app\"}}", "4.1", COMPLIANCE_PASS, "app", NULL },       /* OCI */
	{ "{\"User\":\"root:root\"}", "4.1", COMPLIANCE_FAIL, "root:root", NULL },        /* bare */
	{ "{\"User\":\"0\"}", "4.1", COMPLIANCE_FAIL, "User is 0", NULL },
	{ "{\"User\":\"00:1\"}", "4.1", COMPLIANCE_FAIL, NULL, NULL },
	{ "{\"User\":\"10\"}", "4.1", COMPLIANCE_PASS, NULL, NULL },
	{ "{\"User\":\"rooter\"}", "4.1", COMPLIANCE_PASS, NULL, NULL },
	{ "{\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"wget -q localhost\"]}}", "4.6", COMPLIANCE_PASS, NULL, NULL },
	{ "{\"Healthcheck\":{\"Test\":[\"NONE\"]}}", "4.6", COMPLIANCE_FAIL, "NONE", NULL },
	{ "{\"Env\":[\"PATH=/usr/bin\",\"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"]}", "4.10", COMPLIANCE_FAIL, "AWS_SECRET_ACCESS_KEY (name looks like a secret)", "wJalr" },
	{ "{\"Env\":[\"KEY_ID=AKIAIOSFODNN7EXAMPLE\"]}", "4.10", COMPLIANCE_FAIL, "KEY_ID (value looks like an AWS access key id)", "AKIAIOSF" },
	{ "{\"Env\":[\"TLS=-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEE\\n-----END EC PRIVATE KEY-----\"]}", "4.10", COMPLIANCE_FAIL, "TLS (value holds private key material)", "MHcC" },
	{ "{\"Env\":[\"DB_PASSWORD=hunter2\",\"GITHUB_TOKEN=ghp_abc\",\"api_key=x\",\"MYSQL_ROOT_PASSWORD=y\",\"Z_SECRET=z\"]}", "4.10", COMPLIANCE_FAIL, "DB_PASSWORD (name looks like a secret), GITHUB_TOKEN", "hunter2" },
	{ "{\"Env\":[\"DB_PASSWORD_FILE=/run/secrets/db\",\"PATH=/bin\",\"EMPTY_TOKEN=\",\"PASSWORDLESS_LOGIN_URL_FILE=/x\",\"TOKENIZER=bert\"]}", "4.10", COMPLIANCE_NA, "no secret-looking variable", NULL },
	{ "{\"Env\":[\"NOEQUALS\",7,null]}", "4.10", COMPLIANCE_NA, NULL, NULL },
};

T_TEST(image_cases)
{
	for (size_t i = 0; i < ARRAY_SIZE(img_cases); i++) {
		json_error_t je;
		json_t *j = json_loads(img_cases[i].json, JSON_REJECT_DUPLICATES, &je);
		struct compliance_list *l;
		const struct compliance_result *r;

		if (j == NULL)
			fprintf(stderr, "  case %zu: %s\n", i, je.text);
		l = run_image(j, NULL);
		expect_(__FILE__, (int)i, l, img_cases[i].id, img_cases[i].st, img_cases[i].cause);
		r = compliance_list_find(l, img_cases[i].id);
		if (img_cases[i].never != NULL)
			T_CHECK(r != NULL && !contains(r->cause, img_cases[i].never));
		compliance_list_free(l);
		json_decref(j);
	}
}

/* ================================================================================================
 * Host: a fake root tree
 * ============================================================================================== */

static char root[64];

static void mkfile(const char *rel, const char *text, mode_t mode, uid_t uid, gid_t gid)
{
	char p[512];
	int fd;

	snprintf(p, sizeof(p), "%s%s", root, rel);
	{
		char d[512], *s;

		snprintf(d, sizeof(d), "%s", p);
		s = strrchr(d, '/');
		*s = '\0';
		util_mkdirs(d, 0755);
	}
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	T_CHECK(fd >= 0);
	if (fd < 0)
		return;
	if (text != NULL)
		T_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	T_CHECK_INT(chmod(p, mode), 0);
	if (geteuid() == 0)
		T_CHECK_INT(chown(p, uid, gid), 0);
}

/* A file with NULs inside (a /proc/PID/cmdline). */
static void mkcmdline(const char *rel, const char *const *argv)
{
	char p[512], buf[4096];
	size_t n = 0;
	FILE *f;

	for (size_t i = 0; argv[i] != NULL; i++) {
		size_t l = strlen(argv[i]) + 1;

		memcpy(buf + n, argv[i], l);
		n += l;
	}
	mkfile(rel, NULL, 0444, 0, 0);
	snprintf(p, sizeof(p), "%s%s", root, rel);
	f = fopen(p, "w");
	T_CHECK(f != NULL);
	if (f != NULL) {
		fwrite(buf, 1, n, f);
		fclose(f);
	}
}

static void mksocket(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s%s", root, rel);
	unlink(sa.sun_path);
	T_CHECK_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	T_CHECK_INT(chmod(sa.sun_path, mode), 0);
	if (geteuid() == 0)
		T_CHECK_INT(chown(sa.sun_path, uid, gid), 0);
}

static void mkdirp(const char *rel, mode_t mode)
{
	char p[512];

	snprintf(p, sizeof(p), "%s%s", root, rel);
	util_mkdirs(p, 0755);
	chmod(p, mode);
}

static void rm_root(void)
{
	char cmd[128];

	if (strncmp(root, "/tmp/h5-", 8) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	T_CHECK_INT(system(cmd), 0);
}

static struct compliance_list *run_host(const json_t *info)
{
	struct compliance_list *l = compliance_list_new();

	T_CHECK_INT(compliance_host(root, info, l), 0);
	T_CHECK_INT(compliance_list_count(l), 63);
	return l;
}

/* A well-configured host: every decidable check of sections 1-3 passes. */
static void build_good_root(void)
{
	static const char *const argv[] = { "/usr/sbin/dockerd", "-H", "fd://", "--icc=false",
					    "--containerd=/run/containerd/containerd.sock",
					    "--userland-proxy=false", "--log-level", "info", NULL };
	char link[600];

	snprintf(root, sizeof(root), "/tmp/h5-hostXXXXXX");
	T_CHECK(mkdtemp(root) != NULL);
	chmod(root, 0755);
	mkfile("/etc/group", "root:x:0:\ndocker:x:998:alice,bob\n", 0644, 0, 0);
	mkfile("/etc/docker/daemon.json",
	       "{\"live-restore\": true, \"no-new-privileges\": true, \"userns-remap\": \"default\","
	       " \"log-driver\": \"syslog\", \"authorization-plugins\": [\"opa\"]}", 0644, 0, 0);
	mkdirp("/etc/docker", 0755);
	mkfile("/etc/docker/certs.d/registry.example:5000/ca.crt", "x", 0444, 0, 0);
	mkfile("/lib/systemd/system/docker.service", "[Service]\n", 0644, 0, 0);
	mkfile("/lib/systemd/system/docker.socket", "[Socket]\n", 0644, 0, 0);
	mkfile("/etc/default/docker", "", 0644, 0, 0);
	mkfile("/usr/sbin/dockerd", "", 0755, 0, 0);
	mkfile("/usr/bin/runc", "", 0755, 0, 0);
	mkfile("/etc/audit/rules.d/docker.rules",
	       "# docker\n-w /usr/sbin/dockerd -k docker\n-a always,exit -F path=/usr/bin/runc -F perm=x -k docker\n"
	       "-w /var/lib/docker -k docker\n-w /etc/docker -k docker\n-w /lib/systemd/system/docker.service -k docker\n"
	       "-w /lib/systemd/system/docker.socket -k docker\n-w /etc/default/docker -k docker\n"
	       "-w /etc/docker/daemon.json -k docker\n-w /run/containerd -k docker\n"
	       "-w /run/containerd/containerd.sock -k docker\n",
	       0640, 0, 0);
	mkdirp("/var/lib/docker", 0710);
	mkdirp("/run/containerd", 0711);
	mksocket("/run/docker.sock", 0660, 0, 998);
	mksocket("/run/containerd/containerd.sock", 0660, 0, 0);
	mkdirp("/var", 0755);
	/* /var/run -> /run, absolute as on a real host: must resolve inside the root */
	snprintf(link, sizeof(link), "%s/var/run", root);
	T_CHECK_INT(symlink("/run", link), 0);
	mkfile("/proc/1/mountinfo",
	       "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
	       "40 22 8:2 / /var/lib/docker rw,relatime - ext4 /dev/sda2 rw\n", 0444, 0, 0);
	mkfile("/proc/4242/comm", "dockerd\n", 0444, 0, 0);
	mkfile("/proc/4242/status", "Name:\tdockerd\nUid:\t0\t0\t0\t0\n", 0444, 0, 0);
	mkcmdline("/proc/4242/cmdline", argv);
	mkfile("/proc/17/comm", "containerd\n", 0444, 0, 0);
}

T_TEST(host_good)
{
	struct compliance_list *l;
	json_t *info = load_json("docker/info.json");

	if (geteuid() != 0) {
		printf("# host_good: skipped: needs root to chown files of the fake root\n");
		json_decref(info);
		return;
	}
	build_good_root();
	l = run_host(info);
	EXPECT(l, "1.1.1", COMPLIANCE_NA, "/tmp/gdrec/data does not exist"); /* info's DockerRootDir */
	EXPECT(l, "1.1.2", COMPLIANCE_NA, "alice,bob");
	EXPECT(l, "1.1.3", COMPLIANCE_PASS, "/usr/sbin/dockerd");
	EXPECT(l, "1.1.18", COMPLIANCE_PASS, "/usr/bin/runc");
	EXPECT(l, "1.1.5", COMPLIANCE_NA, "/tmp/gdrec/data"); /* info's DockerRootDir is not in the tree */
	EXPECT(l, "1.1.13", COMPLIANCE_NA, "does not exist");
	EXPECT(l, "2.1", COMPLIANCE_FAIL, "pid 4242");
	EXPECT(l, "2.2", COMPLIANCE_PASS, "dockerd --icc=false");
	EXPECT(l, "2.3", COMPLIANCE_PASS, "--log-level=info");
	EXPECT(l, "2.4", COMPLIANCE_PASS, "default true");
	EXPECT(l, "2.5", COMPLIANCE_PASS, NULL);
	EXPECT(l, "2.6", COMPLIANCE_PASS, "overlay2");
	EXPECT(l, "2.7", COMPLIANCE_PASS, "no TCP socket");
	EXPECT(l, "2.9", COMPLIANCE_PASS, "userns-remap");
	EXPECT(l, "2.12", COMPLIANCE_PASS, "opa");
	EXPECT(l, "2.13", COMPLIANCE_PASS, "syslog");
	EXPECT(l, "2.14", COMPLIANCE_PASS, "daemon.json \"no-new-privileges\": true");
	EXPECT(l, "2.15", COMPLIANCE_PASS, "live-restore");
	EXPECT(l, "2.16", COMPLIANCE_PASS, "--userland-proxy=false");
	EXPECT(l, "2.18", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.1", COMPLIANCE_PASS, "docker.service");
	EXPECT(l, "3.2", COMPLIANCE_PASS, "0644");
	EXPECT(l, "3.3", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.4", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.5", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.6", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.7", COMPLIANCE_PASS, "ca.crt");
	EXPECT(l, "3.8", COMPLIANCE_PASS, "0444");
	EXPECT(l, "3.9", COMPLIANCE_NA, "no --tlscacert");
	EXPECT(l, "3.15", COMPLIANCE_PASS, "/run/docker.sock");   /* via the /var/run link */
	EXPECT(l, "3.16", COMPLIANCE_PASS, "0660");
	EXPECT(l, "3.17", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.18", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.19", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.21", COMPLIANCE_NA, NULL);
	EXPECT(l, "3.23", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.24", COMPLIANCE_PASS, NULL);
	EXPECT(l, "5.1", COMPLIANCE_PASS, "inactive");
	compliance_list_free(l);
	/* without GET /info: what only /info decides is not applicable */
	l = run_host(NULL);
	EXPECT(l, "2.6", COMPLIANCE_NA, "GET /info");
	EXPECT(l, "5.1", COMPLIANCE_NA, "GET /info");
	EXPECT(l, "1.1.5", COMPLIANCE_PASS, "/var/lib/docker");
	EXPECT(l, "1.1.1", COMPLIANCE_PASS, "/var/lib/docker is a mount point");
	compliance_list_free(l);
	rm_root();
	json_decref(info);
}

T_TEST(host_bad)
{
	struct compliance_list *l;
	json_t *info = load_json("docker/info.json");
	static const char *const argv[] = { "dockerd", "-H", "tcp://0.0.0.0:2375", "-H=unix:///run/docker.sock",
					    "--insecure-registry", "10.0.0.0/8", "-D", "--iptables=false",
					    "--experimental", "--config-file=/etc/alt/daemon.json", NULL };
	char link[600];

	if (geteuid() != 0) {
		printf("# host_bad: skipped: needs root to chown files of the fake root\n");
		json_decref(info);
		return;
	}
	build_good_root();
	mkcmdline("/proc/4242/cmdline", argv);
	mkfile("/proc/4242/status", "Name:\tdockerd\nUid:\t1000\t1000\t1000\t1000\n", 0444, 0, 0);
	mkfile("/proc/99/comm", "dockerd\n", 0444, 0, 0);        /* a second one, lower pid */
	mkcmdline("/proc/99/cmdline", argv);
	mkfile("/proc/99/status", "Name:\tdockerd\nUid:\t0\t0\t0\t0\n", 0444, 0, 0);
	mkfile("/etc/alt/daemon.json", "{\"icc\": true, \"storage-opts\": [\"dm.basesize=20G\"], \"cgroup-parent\": \"/foo\","
	       " \"seccomp-profile\": \"unconfined\", \"log-driver\": \"json-file\"}", 0666, 1000, 0);
	mkfile("/lib/systemd/system/docker.service", "[Service]\n", 0664, 0, 0);
	mkfile("/lib/systemd/system/docker.socket", "[Socket]\n", 0644, 1000, 0);
	mkdirp("/etc/docker", 0775);
	mkfile("/etc/docker/certs.d/registry.example:5000/ca.crt", "x", 0644, 0, 1000);
	mksocket("/run/docker.sock", 0666, 0, 0);
	mkfile("/etc/default/docker", "", 0600, 0, 5);
	mkfile("/etc/sysconfig/docker", "", 0646, 7, 0);
	mksocket("/run/containerd/containerd.sock", 0666, 0, 0);
	mkfile("/etc/audit/rules.d/docker.rules", "# -w /usr/sbin/dockerd -k docker\n", 0640, 0, 0);
	mkfile("/proc/1/mountinfo", "22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n", 0444, 0, 0);
	l = run_host(info);
	EXPECT(l, "1.1.3", COMPLIANCE_FAIL, "no audit rule watches /usr/sbin/dockerd");   /* commented out */
	EXPECT(l, "2.1", COMPLIANCE_FAIL, "pid 99");
	EXPECT(l, "2.2", COMPLIANCE_FAIL, "2 dockerd processes, pid 99 used; daemon.json \"icc\": true");
	EXPECT(l, "2.3", COMPLIANCE_FAIL, "--debug=true");
	EXPECT(l, "2.4", COMPLIANCE_FAIL, "--iptables=false");
	EXPECT(l, "2.5", COMPLIANCE_FAIL, "10.0.0.0/8");
	EXPECT(l, "2.7", COMPLIANCE_FAIL, "tcp://0.0.0.0:2375 without --tlsverify");
	EXPECT(l, "2.10", COMPLIANCE_FAIL, "/foo");
	EXPECT(l, "2.11", COMPLIANCE_FAIL, "dm.basesize=20G");
	EXPECT(l, "2.12", COMPLIANCE_FAIL, NULL);
	EXPECT(l, "2.13", COMPLIANCE_FAIL, "json-file");
	EXPECT(l, "2.14", COMPLIANCE_FAIL, NULL);
	EXPECT(l, "2.15", COMPLIANCE_FAIL, NULL);
	EXPECT(l, "2.16", COMPLIANCE_FAIL, "default true");
	EXPECT(l, "2.17", COMPLIANCE_FAIL, "unconfined");
	EXPECT(l, "2.18", COMPLIANCE_FAIL, "--experimental=true");
	EXPECT(l, "2.9", COMPLIANCE_FAIL, "--userns-remap is not set");
	EXPECT(l, "3.1", COMPLIANCE_PASS, NULL);
	EXPECT(l, "3.2", COMPLIANCE_FAIL, "mode 0664");
	EXPECT(l, "3.3", COMPLIANCE_FAIL, "owned by 1000:0");
	EXPECT(l, "3.6", COMPLIANCE_FAIL, "0775");
	EXPECT(l, "3.7", COMPLIANCE_FAIL, "0:1000");
	EXPECT(l, "3.8", COMPLIANCE_FAIL, "0644");
	EXPECT(l, "3.15", COMPLIANCE_FAIL, "owned by 0:0, not root:docker");
	EXPECT(l, "3.16", COMPLIANCE_FAIL, "0666");
	EXPECT(l, "3.17", COMPLIANCE_FAIL, "/etc/alt/daemon.json is owned by 1000:0");
	EXPECT(l, "3.18", COMPLIANCE_FAIL, "0666");
	EXPECT(l, "3.19", COMPLIANCE_FAIL, "0:5");
	EXPECT(l, "3.20", COMPLIANCE_PASS, "mode 0600, within 0644");
	EXPECT(l, "3.21", COMPLIANCE_FAIL, "0646");
	EXPECT(l, "3.22", COMPLIANCE_FAIL, "7:0");
	EXPECT(l, "3.24", COMPLIANCE_FAIL, "0666");
	compliance_list_free(l);

	/* TLS files: configured and too open */
	{
		static const char *const tls[] = { "dockerd", "-H", "tcp://0.0.0.0:2376", "--tlsverify",
						   "--tlscacert=/etc/docker/ca.pem", "--tlscert", "/etc/docker/cert.pem",
						   "--tlskey=/etc/docker/key.pem", NULL };

		mkcmdline("/proc/99/cmdline", tls);
		mkcmdline("/proc/4242/cmdline", tls);
		mkfile("/etc/docker/ca.pem", "x", 0444, 0, 0);
		mkfile("/etc/docker/cert.pem", "x", 0644, 0, 0);
		mkfile("/etc/docker/key.pem", "x", 0600, 0, 0);
		l = run_host(info);
		EXPECT(l, "2.7", COMPLIANCE_PASS, "tcp://0.0.0.0:2376 with --tlsverify");
		EXPECT(l, "3.9", COMPLIANCE_PASS, "/etc/docker/ca.pem");
		EXPECT(l, "3.10", COMPLIANCE_PASS, NULL);
		EXPECT(l, "3.11", COMPLIANCE_PASS, NULL);
		EXPECT(l, "3.12", COMPLIANCE_FAIL, "0644");
		EXPECT(l, "3.13", COMPLIANCE_PASS, NULL);
		EXPECT(l, "3.14", COMPLIANCE_FAIL, "0600 (more than 0400)");
		compliance_list_free(l);
	}

	/* GET /info decides what the files do not: swarm, aufs, debug, insecure registries */
	{
		json_t *bad = json_deep_copy(info);

		json_object_set_new(json_object_get(bad, "Swarm"), "LocalNodeState", json_string("active"));
		json_object_set_new(bad, "Driver", json_string("aufs"));
		json_object_set_new(bad, "LiveRestoreEnabled", json_true());
		json_array_append_new(json_object_get(json_object_get(bad, "RegistryConfig"), "InsecureRegistryCIDRs"),
				      json_string("192.168.0.0/16"));
		l = run_host(bad);
		EXPECT(l, "5.1", COMPLIANCE_FAIL, "active");
		EXPECT(l, "2.6", COMPLIANCE_FAIL, "aufs");
		EXPECT(l, "2.15", COMPLIANCE_PASS, NULL);
		compliance_list_free(l);
		json_decref(bad);
	}

	/* symbolic links resolve inside the root: an absolute link to the host's /etc/group (which
	 * has no docker group here, or another one) must read ROOT/etc/group-x, which is absent */
	snprintf(link, sizeof(link), "%s/etc/alt/daemon.json", root);
	unlink(link);
	T_CHECK_INT(symlink("/etc/hostname", link), 0);
	{
		static const char *const plain[] = { "dockerd", "--config-file", "/etc/alt/daemon.json", NULL };

		mkcmdline("/proc/99/cmdline", plain);
		l = run_host(NULL);
		EXPECT(l, "3.17", COMPLIANCE_NA, "does not exist");  /* ROOT/etc/hostname is absent */
		EXPECT(l, "1.1.1", COMPLIANCE_FAIL, "/var/lib/docker is not a separate mount");
		EXPECT(l, "2.2", COMPLIANCE_FAIL, "default true");
		compliance_list_free(l);
		mkfile("/etc/hostname", "not json", 0644, 0, 0);
		l = run_host(NULL);
		EXPECT(l, "3.17", COMPLIANCE_PASS, NULL);
		EXPECT(l, "2.2", COMPLIANCE_FAIL, "/etc/alt/daemon.json unusable (not a JSON object)");
		compliance_list_free(l);
	}
	rm_root();
	json_decref(info);
}

T_TEST(host_empty_root)
{
	struct compliance_list *l;

	snprintf(root, sizeof(root), "/tmp/h5-emptyXXXXXX");
	T_CHECK(mkdtemp(root) != NULL);
	l = run_host(NULL);
	/* nothing on an empty tree may pass on the strength of a missing file, except the settings
	 * whose dockerd default is the recommended value */
	for (size_t i = 0; i < compliance_list_count(l); i++) {
		const struct compliance_result *r = compliance_list_get(l, i);

		if (r->id[0] == '1' || r->id[0] == '3' || strcmp(r->id, "5.1") == 0) {
			if (r->status != COMPLIANCE_NA)
				fprintf(stderr, "  %s: %s %s\n", r->id, compliance_status_name(r->status), r->cause);
			T_CHECK(r->status == COMPLIANCE_NA);
		}
	}
	EXPECT(l, "2.2", COMPLIANCE_FAIL, "no dockerd process found");
	EXPECT(l, "2.1", COMPLIANCE_NA, NULL);
	compliance_list_free(l);
	rm_root();
}

T_MAIN(T_CASE(catalogue_matches_docker_bench), T_CASE(every_check_reported_once), T_CASE(prisma_ids),
       T_CASE(container_priv_web), T_CASE(container_hostnet_and_plain), T_CASE(recorded_cis), T_CASE(container_variants),
       T_CASE(container_execs), T_CASE(container_garbage), T_CASE(image_recorded), T_CASE(image_cases),
       T_CASE(host_good), T_CASE(host_bad), T_CASE(host_empty_root))
