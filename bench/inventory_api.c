/*
 * inventory_api: the Console's inventory views under load, for bench/inventory_api.sh and
 * bench/inventory_start.sh (bench/README-inventory.md). It prints figures; it never passes or fails.
 *
 *   inventory_api run  --ws wss://H:P --bundle B64|@FILE --api https://H:P --cacert FILE
 *                      --token-file FILE [-k 50] [--per 200] [-n 20] [--template FILE]
 *                      [--console-pid PID] [--prefix invsim-]
 *   inventory_api wait --api https://H:P --cacert FILE --token-file FILE --path PATH --count N
 *                      --since EPOCH_S [--interval-ms 100] [--timeout 300] [--pid PID]
 *
 * run: K simulated Defenders speak the real Defender channel (docs/protocol.md) over real mutual
 * TLS, as defender/uplink.c does: each enrolls with the install bundle's certificate and a CSR for
 * a fresh P-256 key, reconnects with the certificate it got, says hello, sends docker-status and
 * one full inventory snapshot of PER container records (split into parts below 192 KiB, as the
 * Defender splits them), then a heartbeat: its ack means the hub has stored the snapshot (the hub
 * handles a connection's messages in order, and stores a snapshot before it reads the next
 * message). The Defenders stay connected, heartbeating, until the end. Records are shaped like
 * the real ones (the default template is a record the Defender built from a running busybox
 * container; --template takes another, e.g. one that inventory_start.sh saved); id, name, labels,
 * namespace, pod, image and cluster vary from record to record (70% Kubernetes pods in 20
 * namespaces, 10% ECS tasks with their own cluster, 20% plain containers; 25 images; the hosts in
 * 5 clusters). Then three collections are created with POST /api/v1/collections and each
 * endpoint of the table is requested once to warm up and n times to measure, over one kept-alive
 * HTTPS connection (libcurl); min, median, p95 and max, and the Console's CPU time per request.
 *
 * The TLS client certificate is chosen by SSL_CTX_set_client_cert_cb(): only one handshake is
 * under way at a time (messages of established connections still flow meanwhile), so the callback
 * knows whose certificate to present; CLIENT_ESTABLISHED checks that it was the right one.
 *
 * wait: polls GET PATH every interval over one kept-alive connection until Total-Count is at
 * least N; prints the seconds from --since (a wall-clock epoch) to the answer that said so.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <garrison/bundle.h>
#include <garrison/log.h>
#include <garrison/pki.h>
#include <garrison/proto.h>
#include <garrison/util.h>

#define PART_MAX (192 * 1024)   /* the Defender's INVENTORY_MSG_MAX */
#define TICK_US (20 * 1000)
#define ATTEMPTS_MAX 5
#define SAMPLES_MAX 10000
#define NAME_MAX_LEN 64

/* A container record as the Defender built it from a running busybox container with Kubernetes
 * labels (tests/tools/inventory_dump against a private dockerd, 2026-11-27). */
static const char default_template[] =
	"{\"id\":\"28cdf96cecca130afac174e6c91ba34cbe45ba5e41462be1a899ac84d3ee9951\","
	"\"name\":\"k8s_main_api-0_payments\",\"image\":\"test/busybox:1\",\"imageName\":\"test/busybox:1\","
	"\"imageID\":\"sha256:d041dbd364fe3acf5b282a9ece451ca08f4c1ba45d9e7523bce5ccbc37fd96f5\","
	"\"state\":\"running\",\"created\":\"2026-11-27T04:32:21.871978047Z\","
	"\"startTime\":\"2026-11-27T04:32:22.788318278Z\",\"pid\":4307,\"user\":\"\","
	"\"privileged\":false,\"readonlyRootfs\":false,\"networkMode\":\"none\",\"pidMode\":\"\","
	"\"ipcMode\":\"private\",\"hostNetwork\":false,\"hostPid\":false,\"hostIpc\":false,"
	"\"labels\":[\"app:api\",\"env:prod\",\"io.kubernetes.container.name:main\","
	"\"io.kubernetes.pod.name:api-0\",\"io.kubernetes.pod.namespace:payments\"],"
	"\"cluster\":\"bench-cluster\",\"clusterSource\":\"node\",\"namespace\":\"payments\","
	"\"pod\":\"api-0\",\"k8s\":{\"namespace\":\"payments\",\"pod\":\"api-0\",\"containerName\":\"main\"},"
	"\"infra\":false,\"capAdd\":[],\"capDrop\":[],\"mounts\":[],\"network\":{\"ports\":[]},"
	"\"networkSettings\":{\"networks\":[{\"name\":\"none\"}]},"
	"\"processes\":[{\"name\":\"sleep\",\"cmdline\":\"sleep 36000\",\"pid\":4307,\"ppid\":4284,"
	"\"user\":\"root\"}]}";

/* The host record and image record of the same run. */
static const char host_template[] =
	"{\"cpuCount\":2,\"memoryGB\":23.54013442993164,\"kernelVersion\":\"6.18.44-fc-v782\","
	"\"totalDiskSpaceGB\":251,\"freeDiskSpaceGB\":79,\"osVersion\":\"12\",\"osDistro\":\"debian\"}";
static const char image_template[] =
	"{\"id\":\"sha256:d041dbd364fe3acf5b282a9ece451ca08f4c1ba45d9e7523bce5ccbc37fd96f5\","
	"\"repoTags\":[\"test/busybox:1\"],\"repoDigests\":[],\"sizeBytes\":1984213,"
	"\"created\":\"2026-11-27T04:32:21Z\",\"os\":\"linux\",\"architecture\":\"amd64\"}";

static const char *const namespaces[] = {
	"payments", "payments-batch", "checkout", "frontend", "backend", "search", "monitoring",
	"logging", "kube-system", "ingress", "auth", "billing", "orders", "inventory", "catalog",
	"notifications", "data", "ml", "web", "api",
};
static const char *const images[] = {
	"nginx:1.25.3", "docker.io/library/redis:7.2", "postgres:16.1", "busybox:1.36",
	"quay.io/prometheus/node-exporter:v1.7.0", "quay.io/prometheus/prometheus:v2.48.0",
	"registry.example.com/payments/api:2.3.1", "registry.example.com/payments/worker:2.3.1",
	"registry.example.com/checkout/web:5.0.0", "registry.example.com/search/indexer:1.9",
	"registry.example.com/platform/envoy:1.28", "ghcr.io/fluxcd/source-controller:v1.2.2",
	"gcr.io/google-containers/pause:3.9", "registry.k8s.io/coredns/coredns:v1.11.1",
	"registry.k8s.io/kube-proxy:v1.28.4", "docker.io/grafana/grafana:10.2.2",
	"docker.io/fluent/fluent-bit:2.2", "amazon/aws-cli:2.15.0",
	"111122223333.dkr.ecr.us-west-2.amazonaws.com/batch/report:41",
	"111122223333.dkr.ecr.us-west-2.amazonaws.com/batch/etl:17", "elasticsearch:8.11.1",
	"mongo:7.0", "rabbitmq:3.12-management", "memcached:1.6", "test/busybox:1",
};
static const char *const clusters[] = { "prod-east", "prod-west", "staging", "dev", "ecs-batch" };
#define N_NS (sizeof(namespaces) / sizeof(namespaces[0]))
#define N_IMG (sizeof(images) / sizeof(images[0]))
#define N_CL (sizeof(clusters) / sizeof(clusters[0]))

enum sim_state {
	S_WAIT,       /* needs an enrollment connection */
	S_ENROLLING,  /* enrollment connection under way */
	S_ENROLLED,   /* has its identity; needs an identity connection */
	S_HELLO,      /* identity connection under way, hello sent */
	S_SENDING,    /* welcomed; snapshot and its heartbeat queued */
	S_LOADED,     /* snapshot acknowledged; heartbeating */
	S_FAILED,
};

struct outbuf {
	struct outbuf *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the message */
};

struct sim {
	int idx;
	char host[NAME_MAX_LEN];
	EVP_PKEY *key;
	X509 *cert;
	struct lws *wsi;
	enum sim_state st;
	int enrolling;          /* the current connection presents the bundle certificate */
	int attempts;
	int64_t retry_ms;
	unsigned char *rx;
	size_t rx_len;
	struct outbuf *qh, *qt;
	int hb_sec;
	long long seq;
	int64_t next_hb_ms;
	int64_t t_launch, t_welcome, t_acked;
	size_t snap_bytes;
	int parts;
};

struct loader {
	/* options */
	char ws_host[256];
	int ws_port;
	int k, per;
	const char *prefix;
	json_t *tmpl, *host_tmpl, *img_tmpl;

	struct bundle bundle;
	X509 *ca, *enroll_cert;
	EVP_PKEY *enroll_key;
	SSL_CTX *ssl;
	struct lws_context *ctx;
	lws_sorted_usec_list_t tick;
	struct sim *sims;
	struct sim *handshaking;  /* the one connection whose TLS handshake is under way */
	int cursor;
	int64_t t0;

	atomic_int loaded, failed, stop, finished;
	long drops, mismatches, errors;
	size_t records_bytes, records;
};

static struct loader *L;
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

/* ---- small helpers ---- */

static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static double epoch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* 64 hex digits derived from (a, b): a container id or an image digest. */
static void hex64(uint64_t a, uint64_t b, char out[65])
{
	for (int i = 0; i < 4; i++)
		snprintf(out + 16 * i, 17, "%016llx", (unsigned long long)mix64(a * 4 + (uint64_t)i + (b << 32)));
}

/* A field of /proc/PID/status in kB; -1 when unknown. */
static long status_kb(long pid, const char *field)
{
	char path[64], *buf = NULL, *p;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	if (pid <= 0 || util_read_file(path, 65536, &buf, NULL) < 0)
		return -1;
	p = strstr(buf, field);
	if (p)
		kb = strtol(p + strlen(field), NULL, 10);
	free(buf);
	return kb;
}

/* utime + stime of a process in seconds; -1 when unknown. */
static double cpu_s(long pid)
{
	char path[64], *buf = NULL, *p;
	unsigned long long ut = 0, st = 0;
	double r = -1;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (pid <= 0 || util_read_file(path, 8192, &buf, NULL) < 0)
		return -1;
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
		r = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
	free(buf);
	return r;
}

static void print_rss(const char *when, long pid)
{
	if (pid <= 0)
		return;
	printf("console: %s: VmRSS %.1f MiB, VmHWM %.1f MiB\n", when,
	       (double)status_kb(pid, "VmRSS:") / 1024.0, (double)status_kb(pid, "VmHWM:") / 1024.0);
	fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* ---- records ---- */

static json_t *str_array(const char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* Container record j of simulated host s (g is its global number). */
static json_t *make_record(struct loader *ld, struct sim *s, int j)
{
	uint64_t g = (uint64_t)s->idx * (uint64_t)ld->per + (uint64_t)j;
	json_t *r = json_deep_copy(ld->tmpl), *procs;
	char id[65], img_id[65], name[160], pod[96], uid[40], lab[8][160];
	const char *labels[8];
	const char *img = images[g % N_IMG], *ns = namespaces[(g * 7) % N_NS];
	const char *envs[] = { "prod", "staging", "dev" };
	int kind = (int)(g % 10); /* 0-6 Kubernetes, 7-8 plain, 9 ECS */
	size_t nl = 0;
	json_int_t pid = 10000 + j;

	hex64(g, 1, id);
	hex64(g % N_IMG, 2, img_id);
	snprintf(uid, sizeof(uid), "%.8s-%.4s-%.4s-%.4s-%.12s", id + 8, id + 16, id + 20, id + 24, id + 28);
	snprintf(lab[nl], sizeof(lab[0]), "app:app-%02u", (unsigned)(g % 20));
	labels[nl] = lab[nl]; nl++;
	snprintf(lab[nl], sizeof(lab[0]), "env:%s", envs[g % 3]);
	labels[nl] = lab[nl]; nl++;
	snprintf(lab[nl], sizeof(lab[0]), "team:team-%u", (unsigned)(g % 8));
	labels[nl] = lab[nl]; nl++;
	for (const char *k = "cluster\0clusterSource\0namespace\0pod\0k8s\0ecs\0"; *k; k += strlen(k) + 1)
		json_object_del(r, k);
	json_object_set_new(r, "cluster", json_string(clusters[s->idx % N_CL]));
	json_object_set_new(r, "clusterSource", json_string("node"));
	if (kind <= 6) {
		snprintf(pod, sizeof(pod), "app-%02u-%.6s-%.5s", (unsigned)(g % 20), id + 40, id + 50);
		snprintf(name, sizeof(name), "k8s_main_%s_%s_%s_0", pod, ns, uid);
		snprintf(lab[nl], sizeof(lab[0]), "io.kubernetes.container.name:main");
		labels[nl] = lab[nl]; nl++;
		snprintf(lab[nl], sizeof(lab[0]), "io.kubernetes.pod.name:%s", pod);
		labels[nl] = lab[nl]; nl++;
		snprintf(lab[nl], sizeof(lab[0]), "io.kubernetes.pod.namespace:%s", ns);
		labels[nl] = lab[nl]; nl++;
		snprintf(lab[nl], sizeof(lab[0]), "io.kubernetes.pod.uid:%s", uid);
		labels[nl] = lab[nl]; nl++;
		json_object_set_new(r, "namespace", json_string(ns));
		json_object_set_new(r, "pod", json_string(pod));
		json_object_set_new(r, "k8s", json_pack("{s:s,s:s,s:s,s:s}", "namespace", ns, "pod", pod,
							"containerName", "main", "podUID", uid));
	} else if (kind == 9) {
		unsigned fam = (unsigned)(g % 4);
		snprintf(name, sizeof(name), "ecs-batch-%u-%u-report-%.16s", fam, 40 + fam, id + 32);
		snprintf(lab[nl], sizeof(lab[0]), "com.amazonaws.ecs.cluster:ecs-prod");
		labels[nl] = lab[nl]; nl++;
		snprintf(lab[nl], sizeof(lab[0]), "com.amazonaws.ecs.task-definition-family:batch-%u", fam);
		labels[nl] = lab[nl]; nl++;
		json_object_set_new(r, "cluster", json_string("ecs-prod"));
		json_object_set_new(r, "clusterSource", json_string("ecs-label"));
		json_object_set_new(r, "ecs", json_pack("{s:s,s:s,s:s}", "cluster", "ecs-prod",
							"taskDefinitionFamily", "batch", "containerName", "report"));
	} else {
		snprintf(name, sizeof(name), "app-%02u-%llu", (unsigned)(g % 20), (unsigned long long)g);
	}
	json_object_set_new(r, "id", json_string(id));
	json_object_set_new(r, "name", json_string(name));
	json_object_set_new(r, "image", json_string(img));
	json_object_set_new(r, "imageName", json_string(img));
	{
		char full[80];
		snprintf(full, sizeof(full), "sha256:%s", img_id);
		json_object_set_new(r, "imageID", json_string(full));
	}
	json_object_set_new(r, "labels", str_array(labels, nl));
	json_object_set_new(r, "pid", json_integer(pid));
	procs = json_object_get(r, "processes");
	if (json_is_array(procs) && json_array_size(procs) > 0 && json_is_object(json_array_get(procs, 0))) {
		json_object_set_new(json_array_get(procs, 0), "pid", json_integer(pid));
		json_object_set_new(json_array_get(procs, 0), "ppid", json_integer(pid - 1));
	}
	return r;
}

static json_t *make_image(struct loader *ld, size_t i)
{
	json_t *r = json_deep_copy(ld->img_tmpl);
	char d[65], full[80];

	hex64(i, 2, d);
	snprintf(full, sizeof(full), "sha256:%s", d);
	json_object_set_new(r, "id", json_string(full));
	json_object_set_new(r, "repoTags", json_pack("[s]", images[i]));
	return r;
}

/* ---- the channel ---- */

static void queue_text(struct sim *s, const char *txt, size_t n)
{
	struct outbuf *b = malloc(sizeof(*b) + LWS_PRE + n);

	if (b == NULL)
		return;
	b->next = NULL;
	b->len = n;
	memcpy(b->buf + LWS_PRE, txt, n);
	if (s->qt)
		s->qt->next = b;
	else
		s->qh = b;
	s->qt = b;
	if (s->wsi)
		lws_callback_on_writable(s->wsi);
}

/* Queues msg (a new reference, consumed); returns its size in bytes. */
static size_t queue_json(struct sim *s, json_t *msg)
{
	char *txt = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
	size_t n = txt ? strlen(txt) : 0;

	json_decref(msg);
	if (txt)
		queue_text(s, txt, n);
	free(txt);
	return n;
}

static void sim_clear_io(struct sim *s)
{
	struct outbuf *b = s->qh;

	while (b) {
		struct outbuf *n = b->next;
		free(b);
		b = n;
	}
	s->qh = s->qt = NULL;
	free(s->rx);
	s->rx = NULL;
	s->rx_len = 0;
}

/* Builds the snapshot, split as the Defender splits it, and queues it behind a docker-status. */
static void queue_snapshot(struct loader *ld, struct sim *s)
{
	json_t *cs = json_array(), *host = json_deep_copy(ld->host_tmpl), *parts = json_array(), *cur;
	size_t cur_bytes = 0, nimg = (size_t)ld->per < N_IMG ? (size_t)ld->per : N_IMG, i;
	char sid[17];
	json_t *m;

	snprintf(sid, sizeof(sid), "%016llx", (unsigned long long)mix64((uint64_t)s->idx + 7));
	for (int j = 0; j < ld->per; j++)
		json_array_append_new(cs, make_record(ld, s, j));
	json_object_set_new(host, "hostname", json_string(s->host));
	json_object_set_new(host, "containerCount", json_integer(ld->per));
	json_object_set_new(host, "runningContainerCount", json_integer(ld->per));
	json_object_set_new(host, "imageCount", json_integer((json_int_t)nimg));
	cur = json_pack("{s:s,s:s,s:O,s:{s:s,s:s,s:s},s:[],s:[]}", "type", PROTO_INVENTORY,
			"snapshotID", sid, "host", host, "docker", "docker", "ok", "engineVersion",
			"20.10.24+dfsg1", "apiVersion", "1.41", "containers", "images");
	cur_bytes = json_dumpb(cur, NULL, 0, JSON_COMPACT);
	for (i = 0; i < json_array_size(cs); i++) {
		json_t *rec = json_array_get(cs, i);
		size_t n = json_dumpb(rec, NULL, 0, JSON_COMPACT) + 1;
		ld->records_bytes += n - 1;
		ld->records++;
		if (cur_bytes + n > PART_MAX && json_array_size(json_object_get(cur, "containers")) > 0) {
			json_array_append_new(parts, cur);
			cur = json_pack("{s:s,s:s,s:[],s:[]}", "type", PROTO_INVENTORY, "snapshotID", sid,
					"containers", "images");
			cur_bytes = json_dumpb(cur, NULL, 0, JSON_COMPACT);
		}
		json_array_append(json_object_get(cur, "containers"), rec);
		cur_bytes += n;
	}
	for (i = 0; i < nimg; i++)
		json_array_append_new(json_object_get(cur, "images"), make_image(ld, i));
	json_array_append_new(parts, cur);
	s->parts = (int)json_array_size(parts);
	s->snap_bytes = queue_json(s, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", PROTO_DOCKER_STATUS,
						"docker", "ok", "engineVersion", "20.10.24+dfsg1",
						"apiVersion", "1.41", "socket", "/var/run/docker.sock"));
	json_array_foreach(parts, i, m) {
		json_object_set_new(m, "part", json_integer((json_int_t)i + 1));
		json_object_set_new(m, "parts", json_integer(s->parts));
		s->snap_bytes += queue_json(s, json_incref(m));
	}
	s->seq = 1;
	queue_json(s, json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT, "seq", (json_int_t)s->seq));
	json_decref(parts);
	json_decref(host);
	json_decref(cs);
}

static void sim_failed_attempt(struct loader *ld, struct sim *s, const char *why)
{
	if (ld->handshaking == s)
		ld->handshaking = NULL;
	s->wsi = NULL;
	sim_clear_io(s);
	if (atomic_load(&ld->stop))
		return;
	if (s->st == S_LOADED) {
		ld->drops++;
		atomic_fetch_sub(&ld->loaded, 1);
		s->attempts = 0;
	}
	log_warn("inventory_api: %s: %s", s->host, why);
	if (++s->attempts > ATTEMPTS_MAX) {
		s->st = S_FAILED;
		atomic_fetch_add(&ld->failed, 1);
		return;
	}
	s->st = s->cert ? S_ENROLLED : S_WAIT;
	s->retry_ms = util_now_ms() + 1000;
}

static void on_message(struct loader *ld, struct sim *s, struct lws *wsi)
{
	json_t *msg = json_loadb((const char *)s->rx, s->rx_len, 0, NULL);
	const char *type = json_string_value(json_object_get(msg, "type"));
	int64_t now = util_now_ms();

	(void)wsi;
	if (type == NULL) {
		log_warn("inventory_api: %s: malformed message from the Console", s->host);
	} else if (strcmp(type, PROTO_ENROLLED) == 0 && s->st == S_ENROLLING) {
		const char *pem = json_string_value(json_object_get(msg, "cert"));
		X509 *cert = NULL;
		if (pem && pki_cert_from_pem(pem, &cert) == 0 &&
		    pki_verify(ld->ca, cert, PKI_USAGE_CLIENT) == 0 && pki_key_matches_cert(s->key, cert) == 0) {
			X509_free(s->cert);
			s->cert = cert;
			s->st = S_ENROLLED; /* the enrollment connection is closed by the caller */
			s->retry_ms = 0;
		} else {
			X509_free(cert);
			log_warn("inventory_api: %s: unusable enrollment certificate", s->host);
		}
	} else if (strcmp(type, PROTO_WELCOME) == 0 && s->st == S_HELLO) {
		json_int_t hb = json_integer_value(json_object_get(msg, "heartbeatSec"));
		s->hb_sec = hb >= 1 && hb <= 300 ? (int)hb : 10;
		s->t_welcome = now;
		s->st = S_SENDING;
		queue_snapshot(ld, s);
	} else if (strcmp(type, PROTO_HEARTBEAT_ACK) == 0) {
		json_int_t seq = json_integer_value(json_object_get(msg, "seq"));
		if (s->st == S_SENDING && seq == 1) {
			s->t_acked = now;
			s->st = S_LOADED;
			s->attempts = 0;
			s->next_hb_ms = now + (int64_t)s->hb_sec * 1000;
			atomic_fetch_add(&ld->loaded, 1);
		}
	}
	json_decref(msg);
}

static int client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	struct sim *s = L ? L->handshaking : NULL;
	X509 *c;
	EVP_PKEY *k;

	(void)ssl;
	if (s == NULL)
		return 0;
	c = s->enrolling ? L->enroll_cert : s->cert;
	k = s->enrolling ? L->enroll_key : s->key;
	if (c == NULL || k == NULL)
		return 0;
	X509_up_ref(c); /* OpenSSL frees what the callback returns */
	EVP_PKEY_up_ref(k);
	*x509 = c;
	*pkey = k;
	return 1;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct loader *ld = L;
	struct sim *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	if (ld == NULL || s == NULL || wsi != s->wsi)
		return 0; /* an older connection of this Defender, still closing */
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
		char why[160];
		ld->errors++;
		snprintf(why, sizeof(why), "connection error: %.*s", in ? (int)(len > 120 ? 120 : len) : 7,
			 in ? (const char *)in : "unknown");
		sim_failed_attempt(ld, s, why);
		break;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED: {
		SSL *ssl = lws_get_ssl(wsi);
		X509 *mine = ssl ? SSL_get_certificate(ssl) : NULL;
		X509 *want = s->enrolling ? ld->enroll_cert : s->cert;
		char *csr = NULL;

		if (ld->handshaking == s)
			ld->handshaking = NULL;
		if (mine == NULL || want == NULL || X509_cmp(mine, want) != 0) {
			ld->mismatches++;
			return -1;
		}
		if (s->enrolling) {
			EVP_PKEY_free(s->key);
			s->key = NULL;
			if (pki_key_new(&s->key) < 0 || pki_csr_new(s->key, s->host, &csr) < 0)
				return -1;
			queue_json(s, json_pack("{s:s,s:s,s:s}", "type", PROTO_ENROLL, "hostname", s->host,
						"csr", csr));
			free(csr);
		} else {
			queue_json(s, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{},s:{s:s,s:s,s:i}}", "type",
						PROTO_HELLO, "hostname", s->host, "version",
						GARRISON_VERSION, "defenderType", "docker", "cluster",
						clusters[s->idx % N_CL], "clusterSource", "manual",
						"cloudMetadata", "systemInfo", "osDistro", "debian",
						"kernelVersion", "6.18.44", "cpuCount", 2));
		}
		break;
	}
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		size_t have = lws_is_first_fragment(wsi) ? 0 : s->rx_len;
		unsigned char *nb;

		if (have + len > PROTO_MAX_MSG)
			return -1;
		nb = realloc(s->rx, have + len + 1);
		if (nb == NULL)
			return -1;
		s->rx = nb;
		memcpy(s->rx + have, in, len);
		s->rx_len = have + len;
		if (!lws_is_final_fragment(wsi))
			break;
		on_message(ld, s, wsi);
		s->rx_len = 0;
		if (s->enrolling && s->st == S_ENROLLED)
			return -1; /* enrolled: this connection has served its purpose */
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct outbuf *b = s->qh;

		if (atomic_load(&ld->stop)) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bench over", 10);
			return -1;
		}
		if (b == NULL)
			break;
		s->qh = b->next;
		if (s->qh == NULL)
			s->qt = NULL;
		if (lws_write(wsi, b->buf + LWS_PRE, b->len, LWS_WRITE_TEXT) < (int)b->len) {
			free(b);
			return -1;
		}
		free(b);
		if (s->qh)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2 && !(s->enrolling && s->st == S_ENROLLED))
			log_warn("inventory_api: %s: closed by the Console: %.*s", s->host,
				 (int)(len - 2 > 120 ? 120 : len - 2), (const char *)in + 2);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (s->enrolling && s->st == S_ENROLLED) {
			s->wsi = NULL;
			sim_clear_io(s);
		} else {
			sim_failed_attempt(ld, s, "connection closed");
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	{ PROTO_NAME, callback, 0, 4096, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void launch(struct loader *ld, struct sim *s, int64_t now)
{
	struct lws_client_connect_info ci;

	memset(&ci, 0, sizeof(ci));
	ci.context = ld->ctx;
	ci.address = ld->ws_host;
	ci.port = ld->ws_port;
	ci.path = "/";
	ci.host = ld->ws_host;
	ci.origin = ld->ws_host;
	ci.protocol = PROTO_NAME;
	ci.ssl_connection = LCCSCF_USE_SSL;
	ci.opaque_user_data = s;
	ci.pwsi = &s->wsi;
	s->enrolling = s->st == S_WAIT;
	s->st = s->enrolling ? S_ENROLLING : S_HELLO;
	if (s->t_launch == 0)
		s->t_launch = now;
	ld->handshaking = s;
	if (lws_client_connect_via_info(&ci) == NULL && ld->handshaking == s)
		sim_failed_attempt(ld, s, "cannot start a connection");
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct loader *ld = lws_container_of(sul, struct loader, tick);
	int64_t now = util_now_ms();
	int open = 0;

	if (atomic_load(&ld->stop)) {
		for (int i = 0; i < ld->k; i++)
			if (ld->sims[i].wsi) {
				open++;
				lws_callback_on_writable(ld->sims[i].wsi);
			}
		if (open == 0 || now - ld->t0 > 5000) {
			atomic_store(&ld->finished, 1);
			lws_cancel_service(ld->ctx);
			return;
		}
		lws_sul_schedule(ld->ctx, 0, &ld->tick, tick_cb, TICK_US);
		return;
	}
	/* A connection lws dropped without a callback we acted on (it clears s->wsi through pwsi). */
	for (int i = 0; i < ld->k; i++) {
		struct sim *s = &ld->sims[i];
		if (s->wsi == NULL && (s->st == S_ENROLLING || s->st == S_HELLO || s->st == S_SENDING ||
				       s->st == S_LOADED))
			sim_failed_attempt(ld, s, "connection lost");
	}
	/* One handshake at a time (see the top of the file); the others' messages flow meanwhile. */
	for (int n = 0; n < ld->k && ld->handshaking == NULL; n++) {
		struct sim *s = &ld->sims[(ld->cursor + n) % ld->k];
		if ((s->st == S_WAIT || s->st == S_ENROLLED) && s->wsi == NULL && now >= s->retry_ms) {
			ld->cursor = (ld->cursor + n) % ld->k;
			launch(ld, s, now);
		}
	}
	for (int i = 0; i < ld->k; i++) {
		struct sim *s = &ld->sims[i];
		if (s->st == S_LOADED && s->wsi && now >= s->next_hb_ms) {
			queue_json(s, json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT, "seq",
						(json_int_t)++s->seq));
			s->next_hb_ms = now + (int64_t)s->hb_sec * 1000;
		}
	}
	lws_sul_schedule(ld->ctx, 0, &ld->tick, tick_cb, TICK_US);
}

static void *lws_thread(void *arg)
{
	struct loader *ld = arg;

	while (!atomic_load(&ld->finished))
		if (lws_service(ld->ctx, 0) < 0)
			break;
	return NULL;
}

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warn("lws: %.*s", (int)n, line);
}

static int parse_ws(struct loader *ld, const char *url)
{
	const char *p, *colon;
	size_t n;
	long port;
	char pb[16];

	if (strncmp(url, "wss://", 6) != 0)
		return -EINVAL;
	p = url + 6;
	colon = strrchr(p, ':');
	if (colon == NULL || (n = (size_t)(colon - p)) == 0 || n >= sizeof(ld->ws_host))
		return -EINVAL;
	memcpy(ld->ws_host, p, n);
	ld->ws_host[n] = '\0';
	n = strcspn(colon + 1, "/");
	if (n == 0 || n >= sizeof(pb))
		return -EINVAL;
	memcpy(pb, colon + 1, n);
	pb[n] = '\0';
	if (parse_long(pb, 1, 65535, &port) < 0)
		return -EINVAL;
	ld->ws_port = (int)port;
	return 0;
}

static int load_bundle(struct loader *ld, const char *arg)
{
	char *file = NULL;
	const char *why = NULL;
	int r;

	if (arg && arg[0] == '@') {
		if (util_read_file(arg + 1, BUNDLE_MAX, &file, NULL) < 0) {
			log_error("inventory_api: cannot read %s", arg + 1);
			return -EINVAL;
		}
		arg = file;
		file[strcspn(file, "\r\n")] = '\0';
	}
	r = arg ? bundle_decode(arg, &ld->bundle, &why) : -EINVAL;
	free(file);
	if (r < 0) {
		log_error("inventory_api: invalid install bundle: %s", why ? why : "none given");
		return -EINVAL;
	}
	if (pki_cert_from_pem(ld->bundle.ca_cert_pem, &ld->ca) < 0 ||
	    pki_cert_from_pem(ld->bundle.enroll_cert_pem, &ld->enroll_cert) < 0 ||
	    pki_key_from_pem(ld->bundle.enroll_key_pem, &ld->enroll_key) < 0)
		return -EINVAL;
	return 0;
}

static SSL_CTX *client_ssl(struct loader *ld)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ld->ca) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_client_cert_cb(ctx, client_cert_cb);
	return ctx;
}

/* ---- the HTTPS side (libcurl, one kept-alive connection) ---- */

struct http {
	CURL *h;
	struct curl_slist *hdrs;
	char base[256];
	size_t bytes;
	long total;
	char *body;      /* kept only when want_body */
	size_t body_len;
	int want_body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct http *c = arg;
	size_t len = sz * n;

	c->bytes += len;
	if (c->want_body) {
		char *nb = realloc(c->body, c->body_len + len + 1);
		if (nb == NULL)
			return 0;
		c->body = nb;
		memcpy(c->body + c->body_len, p, len);
		c->body_len += len;
		c->body[c->body_len] = '\0';
	}
	return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct http *c = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Total-Count:", 12) == 0) {
		char tmp[32];
		size_t k = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		c->total = strtol(tmp, NULL, 10);
	}
	return len;
}

static int http_open(struct http *c, const char *base, const char *cacert, const char *token_file)
{
	char *tok = NULL, hdr[1024];

	memset(c, 0, sizeof(*c));
	if (strlen(base) >= sizeof(c->base) || util_read_file(token_file, 4096, &tok, NULL) < 0) {
		log_error("inventory_api: cannot read the token from %s", token_file);
		return -EINVAL;
	}
	tok[strcspn(tok, "\r\n")] = '\0';
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", tok);
	OPENSSL_cleanse(tok, strlen(tok));
	free(tok);
	memcpy(c->base, base, strlen(base) + 1);
	c->h = curl_easy_init();
	c->hdrs = curl_slist_append(NULL, hdr);
	c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/json");
	OPENSSL_cleanse(hdr, sizeof(hdr));
	if (c->h == NULL || c->hdrs == NULL)
		return -ENOMEM;
	curl_easy_setopt(c->h, CURLOPT_CAINFO, cacert);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	return 0;
}

static void http_close(struct http *c)
{
	curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	free(c->body);
}

/* One request on the kept-alive connection. Returns the HTTP status (0 on a transport error), the
 * total time in seconds in *secs and the time to the first byte of the answer in *ttfb (when not
 * NULL). body: NULL for GET, else POSTed. */
static long http_do2(struct http *c, const char *path, const char *body, double *secs, double *ttfb)
{
	char url[2048];
	long code = 0;
	curl_off_t us = 0, fb = 0;
	CURLcode rc;

	snprintf(url, sizeof(url), "%s%s", c->base, path);
	c->bytes = 0;
	c->total = -1;
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	if (body) {
		curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	} else {
		curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	}
	rc = curl_easy_perform(c->h);
	if (rc != CURLE_OK) {
		log_warn("inventory_api: %s: %s", path, curl_easy_strerror(rc));
		return 0;
	}
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(c->h, CURLINFO_TOTAL_TIME_T, &us);
	curl_easy_getinfo(c->h, CURLINFO_STARTTRANSFER_TIME_T, &fb);
	if (secs)
		*secs = (double)us / 1e6;
	if (ttfb)
		*ttfb = (double)fb / 1e6;
	return code;
}

static long http_do(struct http *c, const char *path, const char *body, double *secs)
{
	return http_do2(c, path, body, secs, NULL);
}

/* ---- run ---- */

static const char *const collections_json[] = {
	"{\"name\":\"payments\",\"description\":\"a namespace pattern\",\"namespaces\":[\"payments*\"]}",
	"{\"name\":\"prod-not-team3\",\"description\":\"a label pattern with an exclusion\","
	"\"labels\":[\"env:prod\",\"-team:team-3\"]}",
	"{\"name\":\"internal-registry\",\"description\":\"an image prefix\","
	"\"images\":[\"registry.example.com/*\"]}",
};

static const char *const endpoints[] = {
	"/api/v1/containers",
	"/api/v1/containers?limit=50",
	"/api/v1/containers?collections=payments",
	"/api/v1/containers?collections=payments&limit=50",
	"/api/v1/containers?collections=prod-not-team3&limit=50",
	"/api/v1/containers?collections=internal-registry&limit=50",
	"/api/v1/containers?collections=payments,prod-not-team3,internal-registry&limit=50",
	"/api/v1/containers?collections=prod-not-team3,internal-registry&limit=50&offset=2000",
	"/api/v1/containers?limit=50&offset=9950",
	"/api/v1/containers?limit=50&sort=info.image&reverse=true",
	"/api/v1/containers?limit=50&search=payments",
	"/api/v1/images?limit=50",
	"/api/v1/hosts?limit=50",
	"/api/v1/defenders",
	"/api/v1/radar/container",
	"/api/v1/radar/container?collections=payments",
	"/api/v1/radar/host",
};

static void measure(struct http *c, const char *path, int n, long console_pid)
{
	double *t = calloc((size_t)n, sizeof(*t)), *fb = calloc((size_t)n, sizeof(*fb)), c0, c1;
	long code, total = -1;
	size_t bytes = 0;
	int ok = 0;

	if (t == NULL || fb == NULL)
		goto out;
	code = http_do(c, path, NULL, NULL); /* warm-up, not counted */
	if (code != 200) {
		printf("%-80s HTTP %ld\n", path, code);
		goto out;
	}
	c0 = cpu_s(console_pid);
	for (int i = 0; i < n; i++) {
		double s = 0, f = 0;
		if (http_do2(c, path, NULL, &s, &f) == 200) {
			fb[ok] = f * 1000.0;
			t[ok++] = s * 1000.0;
			bytes = c->bytes;
			total = c->total;
		}
	}
	c1 = cpu_s(console_pid);
	if (ok == 0) {
		printf("%-80s no answer\n", path);
		goto out;
	}
	qsort(t, (size_t)ok, sizeof(*t), cmp_double);
	qsort(fb, (size_t)ok, sizeof(*fb), cmp_double);
	{
		int p95 = (int)((double)ok * 0.95 + 0.999999) - 1;
		double med = ok % 2 ? t[ok / 2] : (t[ok / 2 - 1] + t[ok / 2]) / 2;
		double fmed = ok % 2 ? fb[ok / 2] : (fb[ok / 2 - 1] + fb[ok / 2]) / 2;
		printf("%-80s %6ld %9.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f\n", path, total,
		       (double)bytes / 1024.0, t[0], med, t[p95], t[ok - 1], fmed,
		       c0 >= 0 && c1 >= 0 ? (c1 - c0) * 1000.0 / ok : -1.0);
	}
	fflush(stdout);
out:
	free(t);
	free(fb);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: inventory_api run --ws wss://H:P --bundle B64|@FILE --api https://H:P --cacert FILE\n"
		"                         --token-file FILE [-k 50] [--per 200] [-n 20] [--template FILE]\n"
		"                         [--console-pid PID] [--prefix invsim-]\n"
		"       inventory_api wait --api https://H:P --cacert FILE --token-file FILE --path PATH\n"
		"                          --count N --since EPOCH_S [--interval-ms 100] [--timeout 300] [--pid PID]\n");
}

static int cmd_run(int k, int per, int n, const char *ws, const char *bundle_arg, const char *api,
		   const char *cacert, const char *token_file, const char *template_path,
		   long console_pid, const char *prefix)
{
	struct loader ld;
	struct lws_context_creation_info info;
	struct http c;
	pthread_t th;
	int th_started = 0, rc = 1;
	double *lat = NULL;
	int64_t t_end = 0;

	memset(&ld, 0, sizeof(ld));
	memset(&c, 0, sizeof(c));
	ld.k = k;
	ld.per = per;
	ld.prefix = prefix;
	L = &ld;
	if (parse_ws(&ld, ws) < 0) {
		fprintf(stderr, "inventory_api: --ws wss://HOST:PORT is required\n");
		return 2;
	}
	if (template_path) {
		json_error_t e;
		ld.tmpl = json_load_file(template_path, JSON_REJECT_DUPLICATES, &e);
		if (!json_is_object(ld.tmpl)) {
			fprintf(stderr, "inventory_api: %s: not a JSON object (%s)\n", template_path, e.text);
			return 2;
		}
	} else {
		ld.tmpl = json_loads(default_template, 0, NULL);
	}
	ld.host_tmpl = json_loads(host_template, 0, NULL);
	ld.img_tmpl = json_loads(image_template, 0, NULL);
	if (ld.tmpl == NULL || ld.host_tmpl == NULL || ld.img_tmpl == NULL)
		goto out;
	if (load_bundle(&ld, bundle_arg) < 0 || (ld.ssl = client_ssl(&ld)) == NULL)
		goto out;
	if (http_open(&c, api, cacert, token_file) < 0)
		goto out;
	ld.sims = calloc((size_t)k, sizeof(*ld.sims));
	lat = calloc((size_t)k, sizeof(*lat));
	if (ld.sims == NULL || lat == NULL)
		goto out;
	for (int i = 0; i < k; i++) {
		ld.sims[i].idx = i;
		snprintf(ld.sims[i].host, sizeof(ld.sims[i].host), "%s%04d", prefix, i + 1);
	}
	lws_set_log_level(LLL_ERR, lws_log_emit);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.provided_client_ssl_ctx = ld.ssl;
	info.connect_timeout_secs = 30;
	info.timeout_secs = 60;
	ld.ctx = lws_create_context(&info);
	if (ld.ctx == NULL) {
		log_error("inventory_api: cannot create the lws context");
		goto out;
	}

	printf("load: %d simulated Defenders (%s0001..) x %d containers against wss://%s:%d\n", k, prefix,
	       per, ld.ws_host, ld.ws_port);
	print_rss("before loading", console_pid);
	ld.t0 = util_now_ms();
	lws_sul_schedule(ld.ctx, 0, &ld.tick, tick_cb, TICK_US);
	if (pthread_create(&th, NULL, lws_thread, &ld) != 0)
		goto out;
	th_started = 1;
	while (!got_signal && atomic_load(&ld.loaded) + atomic_load(&ld.failed) < k &&
	       util_now_ms() - ld.t0 < 600000)
		usleep(10000);
	t_end = util_now_ms();
	{
		int nl = 0;
		size_t snap = 0;
		int parts = 0;
		for (int i = 0; i < k; i++) {
			struct sim *s = &ld.sims[i];
			if (s->t_acked) {
				lat[nl++] = (double)(s->t_acked - s->t_welcome);
				snap += s->snap_bytes;
				parts += s->parts;
			}
		}
		qsort(lat, (size_t)nl, sizeof(*lat), cmp_double);
		printf("load: %d of %d snapshots stored in %.2f s (%d failed); %d parts, %.0f KiB per "
		       "snapshot, %.0f bytes per container record\n", atomic_load(&ld.loaded), k,
		       (double)(t_end - ld.t0) / 1000.0, atomic_load(&ld.failed), parts,
		       nl ? (double)snap / nl / 1024.0 : 0.0,
		       ld.records ? (double)ld.records_bytes / (double)ld.records : 0.0);
		if (nl)
			printf("load: welcome to snapshot acknowledged (generate, send, store %d records): "
			       "min %.0f ms, median %.0f ms, max %.0f ms\n", per, lat[0], lat[nl / 2],
			       lat[nl - 1]);
		if (ld.mismatches || ld.errors || ld.drops)
			printf("load: %ld certificate mismatches, %ld connection errors, %ld drops\n",
			       ld.mismatches, ld.errors, ld.drops);
	}
	print_rss("after loading", console_pid);
	if (got_signal)
		goto out;

	{
		double s = 0;
		long code = http_do(&c, "/api/v1/containers?limit=1", NULL, &s);
		printf("check: GET /api/v1/containers?limit=1 -> HTTP %ld, Total-Count %ld (expected %ld)\n",
		       code, c.total, (long)k * per);
	}
	for (size_t i = 0; i < sizeof(collections_json) / sizeof(collections_json[0]); i++) {
		long code;
		c.want_body = 1;
		code = http_do(&c, "/api/v1/collections", collections_json[i], NULL);
		c.want_body = 0;
		printf("collection: POST %s -> HTTP %ld%s%s\n", collections_json[i], code,
		       code == 200 ? "" : " ", code == 200 ? "" : (c.body ? c.body : ""));
	}
	curl_easy_setopt(c.h, CURLOPT_POSTFIELDS, NULL);

	printf("\nlatency over %d requests each on one kept-alive HTTPS connection (after one warm-up "
	       "request), in ms;\nfirst_b = median time to the first byte of the answer; cpu_ms = the "
	       "Console's CPU time per request\n", n);
	printf("%-80s %6s %9s %8s %8s %8s %8s %8s %8s\n", "GET", "total", "KiB", "min", "median", "p95",
	       "max", "first_b", "cpu_ms");
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]) && !got_signal; i++)
		measure(&c, endpoints[i], n, console_pid);
	printf("\n");
	print_rss("after the requests", console_pid);
	printf("load: %d of %d simulated Defenders still connected at the end\n",
	       atomic_load(&ld.loaded), k);
	rc = 0;
out:
	if (th_started) {
		atomic_store(&ld.stop, 1);
		lws_cancel_service(ld.ctx);
		pthread_join(th, NULL);
	}
	if (ld.ctx)
		lws_context_destroy(ld.ctx);
	SSL_CTX_free(ld.ssl);
	for (int i = 0; ld.sims && i < k; i++) {
		EVP_PKEY_free(ld.sims[i].key);
		X509_free(ld.sims[i].cert);
		sim_clear_io(&ld.sims[i]);
	}
	free(ld.sims);
	free(lat);
	X509_free(ld.ca);
	X509_free(ld.enroll_cert);
	EVP_PKEY_free(ld.enroll_key);
	bundle_clear(&ld.bundle);
	json_decref(ld.tmpl);
	json_decref(ld.host_tmpl);
	json_decref(ld.img_tmpl);
	if (c.h)
		http_close(&c);
	L = NULL;
	return rc;
}

/* ---- wait ---- */

static int cmd_wait(const char *api, const char *cacert, const char *token_file, const char *path,
		    long count, double since, long interval_ms, long timeout_s, long pid)
{
	struct http c;
	long polls = 0, last = -1;
	int rc = 1;

	if (http_open(&c, api, cacert, token_file) < 0)
		return 2;
	for (;;) {
		long code = http_do(&c, path, NULL, NULL);
		double now = epoch_now();
		polls++;
		if (code == 200)
			last = c.total;
		if (code == 200 && c.total >= count) {
			printf("seconds=%.2f polls=%ld total=%ld\n", now - since, polls, c.total);
			rc = 0;
			break;
		}
		if (got_signal || now - since > (double)timeout_s ||
		    (pid > 0 && kill((pid_t)pid, 0) != 0)) {
			printf("seconds=- polls=%ld total=%ld (%s)\n", polls, last,
			       got_signal ? "interrupted" : pid > 0 && kill((pid_t)pid, 0) != 0 ?
			       "the process exited" : "timed out");
			break;
		}
		usleep((useconds_t)interval_ms * 1000);
	}
	fflush(stdout);
	http_close(&c);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ws", required_argument, NULL, 'w' },
		{ "bundle", required_argument, NULL, 'b' },
		{ "api", required_argument, NULL, 'a' },
		{ "cacert", required_argument, NULL, 'c' },
		{ "token-file", required_argument, NULL, 't' },
		{ "per", required_argument, NULL, 'p' },
		{ "template", required_argument, NULL, 'T' },
		{ "console-pid", required_argument, NULL, 'P' },
		{ "prefix", required_argument, NULL, 'x' },
		{ "path", required_argument, NULL, 'q' },
		{ "count", required_argument, NULL, 'C' },
		{ "since", required_argument, NULL, 's' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 'o' },
		{ "pid", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ws = NULL, *bundle = NULL, *api = NULL, *cacert = NULL, *token = NULL;
	const char *tmpl = NULL, *prefix = "invsim-", *path = NULL, *cmd;
	long k = 50, per = 200, n = 20, cpid = 0, count = -1, interval = 100, timeout = 300, pid = 0;
	double since = -1;
	struct sigaction sa;
	int ch, rc;

	if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "wait") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	cmd = argv[1];
	log_init("inventory_api", LOG_LVL_INFO);
	while ((ch = getopt_long(argc - 1, argv + 1, "k:n:h", opts, NULL)) != -1) {
		const char *bad = NULL;
		switch (ch) {
		case 'w': ws = optarg; break;
		case 'b': bundle = optarg; break;
		case 'a': api = optarg; break;
		case 'c': cacert = optarg; break;
		case 't': token = optarg; break;
		case 'T': tmpl = optarg; break;
		case 'x': prefix = optarg; break;
		case 'q': path = optarg; break;
		case 'k': if (parse_long(optarg, 1, 10000, &k) < 0) bad = "-k"; break;
		case 'p': if (parse_long(optarg, 1, PROTO_MAX_DOCS, &per) < 0) bad = "--per"; break;
		case 'n': if (parse_long(optarg, 1, SAMPLES_MAX, &n) < 0) bad = "-n"; break;
		case 'P': if (parse_long(optarg, 1, INT_MAX, &cpid) < 0) bad = "--console-pid"; break;
		case 'C': if (parse_long(optarg, 0, LONG_MAX, &count) < 0) bad = "--count"; break;
		case 'i': if (parse_long(optarg, 1, 60000, &interval) < 0) bad = "--interval-ms"; break;
		case 'o': if (parse_long(optarg, 1, 86400, &timeout) < 0) bad = "--timeout"; break;
		case 'D': if (parse_long(optarg, 1, INT_MAX, &pid) < 0) bad = "--pid"; break;
		case 's': {
			char *end;
			since = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || since <= 0)
				bad = "--since";
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "inventory_api: bad value for %s: %s\n", bad, optarg);
			return 2;
		}
	}
	if (strlen(prefix) > NAME_MAX_LEN - 8 || api == NULL || cacert == NULL || token == NULL) {
		usage(stderr);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (strcmp(cmd, "wait") == 0) {
		if (path == NULL || count < 0 || since <= 0) {
			usage(stderr);
			return 2;
		}
		rc = cmd_wait(api, cacert, token, path, count, since, interval, timeout, pid);
	} else {
		if (ws == NULL) {
			usage(stderr);
			return 2;
		}
		rc = cmd_run((int)k, (int)per, (int)n, ws, bundle ? bundle : getenv("INSTALL_BUNDLE"),
			     api, cacert, token, tmpl, cpid, prefix);
	}
	curl_global_cleanup();
	return rc;
}
