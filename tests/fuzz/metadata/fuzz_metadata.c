/*
 * fuzz_metadata: the cloud metadata answers the Defender parses: ECS task metadata v4, the ECS
 * agent's introspection API, the Azure IMDS instance document, the GCP metadata server's values
 * and EC2 IMDSv2 (session token, eks:cluster-name tag, instance identity document).
 *
 * lib/cluster_int.h exposes no buffer-level parser for these answers: each cl_src_*() fetches its
 * answer over HTTP and parses it in static functions (ecs_answer, az_tag, az_mc_group, az_meta,
 * gcp_region, the EC2 identity document code). So the harness runs the real sources end to end
 * against a tiny HTTP server of its own on 127.0.0.1 (libevent evhttp on a thread) that answers
 * with the fuzz input; every endpoint variable points at it, so nothing else is ever contacted.
 * That costs one loopback HTTP exchange per request, and covers cl_http_request()'s header and
 * body callbacks and cl_http_get_json() too.
 *
 * Input layout:
 *   byte 0  the source: 0 ecs-task, 1 ecs-agent, 2 azure, 3 gcp, 4 ec2, 5 the string helpers
 *   byte 1  flags: bits 0-1 the status of the source's first request (200, 404, 403, 500);
 *           bit 2 leaves out the "Metadata-Flavor: Google" header; bit 2+i (i = 1..3) answers
 *           the source's request i with 404 instead of 200
 *   rest    the answer bodies in request order, separated by lines "--8<--":
 *           gcp: cluster-name, project/project-id, instance/attributes/cluster-location,
 *                instance/zone;  ec2: api/token, tags/instance/eks:cluster-name, the identity
 *                document;  the others: one JSON document
 *           for source 5 the rest is one string for cl_arn_parse(), cl_aws_az_region(),
 *           cl_escape(), cl_meta_set() and, as /proc/net/route text, cluster_node_ip_pick()
 *
 * Checks besides "no crash, no leak, no hang": a source returns 1 with a name that passes
 * cluster_name_check(), or 0 without one; all cloud metadata (the answer's and the fallback) is
 * an object of printable strings of at most 1024 bytes (one level of nested objects allowed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include <garrison/cluster.h>
#include <garrison/log.h>

#include "cluster_int.h"

/* A broken contract: say which check and where, then abort() so that libFuzzer keeps the input. */
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

#define CUT "\n--8<--\n"
#define PARTS 4
#define SOURCES 6

/* The requests of each source, in the order the source makes them (query strings ignored). */
static const char *const paths[SOURCES - 1][PARTS] = {
	{ "/v4/fuzz/task" },
	{ "/v1/metadata" },
	{ "/metadata/instance" },
	{ "/computeMetadata/v1/instance/attributes/cluster-name",
	  "/computeMetadata/v1/project/project-id",
	  "/computeMetadata/v1/instance/attributes/cluster-location",
	  "/computeMetadata/v1/instance/zone" },
	{ "/latest/api/token", "/latest/meta-data/tags/instance/eks:cluster-name",
	  "/latest/dynamic/instance-identity/document" },
};

static const cl_source_fn sources[SOURCES - 1] = { cl_src_ecs_task, cl_src_ecs_agent, cl_src_azure,
						   cl_src_gcp, cl_src_ec2 };

/* What the server answers; written by the fuzzing thread under mu before each source runs. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int src;
	unsigned flags;
	const uint8_t *part[PARTS];
	size_t len[PARTS];
} cur;

static void on_request(struct evhttp_request *req, void *arg)
{
	static const int first_status[4] = { 200, 404, 403, 500 };
	struct evbuffer *body = evbuffer_new();
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *uri = evhttp_request_get_uri(req);
	size_t plen = strcspn(uri, "?");
	int status = 404, i;

	pthread_mutex_lock(&mu);
	for (i = 0; cur.src < SOURCES - 1 && i < PARTS && paths[cur.src][i]; i++)
		if (strlen(paths[cur.src][i]) == plen && strncmp(paths[cur.src][i], uri, plen) == 0)
			break;
	if (cur.src < SOURCES - 1 && i < PARTS && paths[cur.src][i]) {
		if (i == 0)
			status = first_status[cur.flags & 3];
		else
			status = (cur.flags >> (2 + i)) & 1 ? 404 : 200;
		if (body != NULL && cur.part[i] != NULL)
			evbuffer_add(body, cur.part[i], cur.len[i]);
	}
	if (!(cur.flags & 4))
		evhttp_add_header(out, "Metadata-Flavor", "Google");
	pthread_mutex_unlock(&mu);
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply(req, status, "Fuzz", body);
	if (body != NULL)
		evbuffer_free(body);
}

static void *serve(void *base)
{
	event_base_dispatch(base);
	return NULL;
}

static void setenv_or_die(const char *k, const char *v)
{
	if (setenv(k, v, 1) != 0) {
		perror("setenv");
		exit(1);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	pthread_t th;
	char url[128];
	int port;

	log_init("fuzz_metadata", LOG_LVL_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	base = event_base_new();
	http = base ? evhttp_new(base) : NULL;
	bound = http ? evhttp_bind_socket_with_handle(http, "127.0.0.1", 0) : NULL;
	if (bound == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &sl) != 0) {
		fprintf(stderr, "fuzz_metadata: cannot listen on 127.0.0.1\n");
		exit(1);
	}
	port = ntohs(sin.sin_port);
	evhttp_set_gencb(http, on_request, NULL);
	/* Every endpoint a source could use points at our server; none is left at its default. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/v4/fuzz", port);
	setenv_or_die("ECS_CONTAINER_METADATA_URI_V4", url);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	setenv_or_die("GARRISON_ECS_AGENT_URI", url);
	setenv_or_die("GARRISON_AZURE_IMDS_ENDPOINT", url);
	setenv_or_die("AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
	snprintf(url, sizeof(url), "127.0.0.1:%d", port);
	setenv_or_die("GCE_METADATA_HOST", url);
	unsetenv("AWS_EXECUTION_ENV");
	unsetenv("KUBECONFIG");
	if (pthread_create(&th, NULL, serve, base) != 0)
		exit(1);
	pthread_detach(th);
	return 0;
}

static void check_meta(json_t *m, int depth)
{
	const char *key;
	json_t *v;

	if (m == NULL)
		return;
	BROKEN_IF(!json_is_object(m) || depth > 1);
	json_object_foreach(m, key, v) {
		if (json_is_object(v)) {
			check_meta(v, depth + 1);
			continue;
		}
		const char *s = json_string_value(v);
		size_t n = s ? strlen(s) : 0;
		BROKEN_IF(s == NULL || n == 0 || n > 1024 || n != json_string_length(v));
		for (size_t i = 0; i < n; i++)
			BROKEN_IF((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f);
	}
}

static void run_source(int src)
{
	struct cl_ctx c;
	struct cl_answer a = { NULL, NULL };
	int r;

	memset(&c, 0, sizeof(c));
	c.timeout_ms = 5000;
	c.host_root = "/";
	r = sources[src](&c, &a);
	if (r == 1) {
		BROKEN_IF(a.name == NULL || cluster_name_check(a.name, strlen(a.name), NULL) != 0);
	} else if (r == 0) {
		BROKEN_IF(a.name != NULL || a.meta != NULL);
	} else {
		BROKEN_IF(r != -ENOMEM);
	}
	check_meta(a.meta, 0);
	check_meta(c.fallback_meta, 0);
	free(a.name);
	json_decref(a.meta);
	json_decref(c.fallback_meta);
}

static void run_helpers(const char *s, size_t n)
{
	struct cl_arn arn;
	char buf[300], small[7];
	json_t *meta = json_object();
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct ifaddrs lo = { 0 }, eth = { 0 };

	BROKEN_IF(cl_arn_parse(s, &arn) == 0 &&
	    (arn.partition[0] == '\0' || arn.service[0] == '\0' || arn.resource[0] == '\0'));
	/* the region is a prefix of the zone */
	BROKEN_IF(cl_aws_az_region(s, buf, sizeof(buf)) == 0 &&
	    (buf[0] == '\0' || strncmp(buf, s, strlen(buf)) != 0));
	(void)cl_aws_az_region(s, small, sizeof(small));
	BROKEN_IF(strlen(cl_escape(s, n, buf, sizeof(buf))) >= sizeof(buf));
	(void)cl_escape(s, n, small, sizeof(small));
	(void)cl_escape(s, n, small, 1);
	BROKEN_IF(meta == NULL || cl_meta_set(meta, "k", s) < 0);
	check_meta(meta, 0);
	json_decref(meta);

	/* the route table text with a loopback and one ordinary interface */
	inet_pton(AF_INET, "10.1.2.3", &addr.sin_addr);
	eth.ifa_name = (char *)"eth0";
	eth.ifa_flags = IFF_UP;
	eth.ifa_addr = (struct sockaddr *)&addr;
	lo.ifa_next = &eth;
	lo.ifa_name = (char *)"lo";
	lo.ifa_flags = IFF_UP | IFF_LOOPBACK;
	lo.ifa_addr = (struct sockaddr *)&addr;
	BROKEN_IF(cluster_node_ip_pick(s, &lo, buf, sizeof(buf)) != 0);
	BROKEN_IF(strcmp(buf, "10.1.2.3") != 0);
	(void)cluster_node_ip_pick(s, NULL, buf, sizeof(buf));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *end = data + size;
	size_t cl = strlen(CUT);
	int src;

	if (size < 2)
		return 0;
	src = data[0] % SOURCES;
	if (src == SOURCES - 1) {
		char *s = malloc(size - 2 + 1);
		if (s == NULL)
			return 0;
		memcpy(s, data + 2, size - 2);
		s[size - 2] = '\0';
		run_helpers(s, size - 2);
		free(s);
		return 0;
	}
	pthread_mutex_lock(&mu);
	memset(&cur, 0, sizeof(cur));
	cur.src = src;
	cur.flags = data[1];
	p = data + 2;
	for (int i = 0; i < PARTS; i++) {
		const uint8_t *cut = i < PARTS - 1 ? memmem(p, (size_t)(end - p), CUT, cl) : NULL;
		cur.part[i] = p;
		cur.len[i] = (size_t)((cut ? cut : end) - p);
		if (cut == NULL)
			break;
		p = cut + cl;
	}
	pthread_mutex_unlock(&mu);
	run_source(src);
	/* data is libFuzzer's until we return: a straggling request must not read it later */
	pthread_mutex_lock(&mu);
	memset(&cur, 0, sizeof(cur));
	cur.src = SOURCES - 1;
	pthread_mutex_unlock(&mu);
	return 0;
}
