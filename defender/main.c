/*
 * garrison-defender: the agent that runs on every node. It reads its deployment environment,
 * works out which cluster its node belongs to, and keeps a mutually authenticated channel to the
 * Console. `--print-identity` prints what it would report and exits without a Console.
 * Threads: the uplink (this thread, uplink.c), the Docker inventory, the scanner and the runtime
 * engine (rtengine.c, with its sensor and enforcement threads). Every inventory message goes to
 * the runtime engine (workloads) as well as to the Console.
 */
#include "defender.h"
#include "scanner.h"
#include "inventory.h"
#include "rtengine.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include <garrison/log.h>
#include <garrison/sysinfo.h>
#include <garrison/util.h>

static struct defender *the_defender;

static void inventory_emit(json_t *msg, void *arg)
{
	struct defender *d = arg;

	if (d->rt)
		rtengine_on_inventory(d->rt, msg);
	uplink_send(d, msg);
}

/* Starts runtime defense unless GARRISON_RUNTIME=off: sensors, rules, models, audits,
 * enforcement (rtengine.h). A failure leaves the Defender running without it. */
static void start_runtime(struct defender *d)
{
	const char *off = getenv("GARRISON_RUNTIME");
	struct rtengine_config rc = {
		.data_dir = d->data_dir,
		.hostname = d->hostname,
		.cluster = d->cluster.name,
		.docker_addr = d->docker_addr && d->docker_addr[0] ? d->docker_addr : NULL,
		.wake = uplink_wake,
		.wake_arg = d,
	};
	char err[512] = "";
	int r;

	if (off && strcmp(off, "off") == 0) {
		log_info("runtime defense is off (GARRISON_RUNTIME=off)");
		return;
	}
	rtengine_config_env(&rc);
	r = rtengine_new(&rc, &d->rt, err, sizeof(err));
	if (r == 0 && (r = rtengine_start(d->rt)) < 0) {
		snprintf(err, sizeof(err), "cannot start its thread: %s", strerror(-r));
		rtengine_free(d->rt);
		d->rt = NULL;
	}
	if (r < 0)
		log_warn("runtime defense is not running: %s", err[0] ? err : strerror(-r));
}

/* Starts the scans of this node unless GARRISON_SCAN=off (tests that do not need them). */
static void start_scanner(struct defender *d)
{
	const char *off = getenv("GARRISON_SCAN");
	struct scanner_config sc = {
		.docker_addr = d->docker_addr,
		.host_root = getenv("GARRISON_HOST_ROOT"),
		.hostname = d->hostname,
		.data_dir = d->data_dir,
		.emit = inventory_emit,
		.arg = d,
	};
	int r;

	if (off && strcmp(off, "off") == 0) {
		log_info("scans are off (GARRISON_SCAN=off)");
		return;
	}
	r = scanner_start(&sc, &d->scan);
	if (r < 0)
		log_warn("cannot start the scanner: %s; running without scans", strerror(-r));
}

static void on_signal(int sig)
{
	(void)sig;
	if (the_defender)
		the_defender->stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: garrison-defender [--print-identity] [--version] [--help]\n"
		   "Configured by the environment of its deployment:\n"
		   "  WS_ADDRESS             wss://CONSOLE:PORT of the Console's Defender channel\n"
		   "  INSTALL_BUNDLE         base64 install bundle from the Console\n"
		   "  DEFENDER_TYPE          ecs, daemonset, docker, serverLinux (default docker)\n"
		   "  DEFENDER_CLUSTER       cluster name; empty = detect it\n"
		   "  DOCKER_CLIENT_ADDRESS  Docker engine socket (default /var/run/docker.sock)\n"
		   "  GARRISON_DATA_DIR      state directory (default /var/lib/garrison)\n"
		   "  GARRISON_CLOUD_METADATA=off  never ask GCP, Azure or EC2 metadata services\n"
		   "  GARRISON_SCAN=off      no image, container or host scans\n"
		   "  GARRISON_SCAN_INTERVAL_SEC  rescan period (default 86400)\n"
		   "Runtime defense (docs/runtime.md):\n"
		   "  GARRISON_RUNTIME=off   no sensors, runtime rules, audits or enforcement\n"
		   "  GARRISON_SENSOR_BACKEND  bpf (default) or netlink; needs root, else runs without\n"
		   "  GARRISON_SENSOR_REPLAY  a recording (JSON lines) to replay instead (tests)\n"
		   "  GARRISON_MODEL_LEARN_SEC  learning period of a model (default 3600)\n"
		   "  GARRISON_MODEL_DRYRUN_SEC  dry run after learning (default 0)\n"
		   "  GARRISON_AUDIT_THROTTLE_SEC  window that merges repeated audits (default 60)\n"
		   "  GARRISON_AUDIT_SPOOL_MB  bound of the audit spool in the data directory (default 64)\n"
		   "  GARRISON_SENSOR_RINGBUF_MB  eBPF ring buffer, a power of two (default 4)\n"
		   "  GARRISON_SENSOR_FOLD_MS  repeats of a reported connect, DNS query or write open by one\n"
		   "                        process within this window are counted, not sent (default 1000; 0: off)\n"
		   "  GARRISON_SENSOR_SYSCALL_HOOK  auto (default: a tracepoint per syscall reported where the\n"
		   "                        kernel has them), tracepoints, or sys_exit (the exit of every syscall)\n");
}

/* Parses wss://host:port (host may be [v6]). 0 or -EINVAL. */
static int parse_ws_address(const char *s, char *host, size_t hlen, int *port)
{
	const char *p, *colon, *end;
	char *e;
	long v;
	size_t n;

	if (strncmp(s, "wss://", 6) != 0)
		return -EINVAL;
	p = s + 6;
	end = p + strcspn(p, "/");
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL)
			return -EINVAL;
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		p++;
		n = (size_t)(rb - p);
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= hlen)
		return -EINVAL;
	memcpy(host, p, n);
	host[n] = '\0';
	*port = 443;
	if (colon) {
		v = strtol(colon + 1, &e, 10);
		if (e != end || v <= 0 || v > 65535)
			return -EINVAL;
		*port = (int)v;
	}
	return 0;
}

static int resolve_identity(struct defender *d)
{
	struct cluster_opts o;
	const char *host_root;

	cluster_opts_from_env(&o);
	if (cluster_resolve(&o, &d->cluster) < 0)
		return -ENOMEM;
	host_root = getenv("GARRISON_HOST_ROOT");
	if (host_root == NULL || host_root[0] == '\0')
		host_root = access("/proc/1/root/etc", R_OK) == 0 ? "/proc/1/root" : "/";
	d->system_info = sysinfo_collect(host_root);
	if (gethostname(d->hostname, sizeof(d->hostname) - 1) < 0)
		return -errno;
	return 0;
}

static int print_identity(struct defender *d)
{
	json_t *o;
	char *s;

	if (resolve_identity(d) < 0)
		return 1;
	o = json_pack("{s:s,s:s,s:s,s:O,s:O}", "hostname", d->hostname, "cluster", d->cluster.name,
		      "clusterSource", d->cluster.source, "cloudMetadata", d->cluster.cloud_metadata,
		      "systemInfo", d->system_info);
	s = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	if (s)
		printf("%s\n", s);
	free(s);
	json_decref(o);
	return s ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct defender d;
	const char *ws, *bundle_b64, *type, *dir, *why = NULL;
	struct sigaction sa;
	int r, rc = 1;

	memset(&d, 0, sizeof(d));
	log_init("garrison-defender", LOG_LVL_INFO);
	/* Before any thread starts: the cluster sources and the inventory both use libcurl. */
	/* Two malloc arenas, not eight per core: the threads (uplink, inventory, ...) allocate
	 * little at a time, and every extra arena keeps its own freed pages (~0.5 MiB measured
	 * with the inventory of 200 containers, docs/benchmarks.md). */
	mallopt(M_ARENA_MAX, 2);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--print-identity") == 0) {
			rc = print_identity(&d);
			goto out;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("garrison-defender %s\n", GARRISON_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "garrison-defender: unknown argument %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}

	ws = getenv("WS_ADDRESS");
	bundle_b64 = getenv("INSTALL_BUNDLE");
	type = getenv("DEFENDER_TYPE");
	dir = getenv("GARRISON_DATA_DIR");
	d.docker_addr = getenv("DOCKER_CLIENT_ADDRESS");
	if (ws == NULL || parse_ws_address(ws, d.ws_host, sizeof(d.ws_host), &d.ws_port) < 0) {
		log_error("WS_ADDRESS must be wss://HOST:PORT (got %s)", ws ? ws : "nothing");
		return 2;
	}
	if (bundle_b64 == NULL || bundle_decode(bundle_b64, &d.bundle, &why) < 0) {
		log_error("INSTALL_BUNDLE is %s: %s", bundle_b64 ? "invalid" : "not set",
			  why ? why : "set it to the bundle the Console generated");
		return 2;
	}
	snprintf(d.type, sizeof(d.type), "%s", type && type[0] ? type : "docker");
	snprintf(d.data_dir, sizeof(d.data_dir), "%s", dir && dir[0] ? dir : "/var/lib/garrison");
	r = util_mkdirs(d.data_dir, 0700);
	if (r < 0) {
		log_error("cannot create the data directory %s: %s", d.data_dir, strerror(-r));
		goto out;
	}
	snprintf(d.id_key, sizeof(d.id_key), "%s/identity-key.pem", d.data_dir);
	snprintf(d.id_cert, sizeof(d.id_cert), "%s/identity-cert.pem", d.data_dir);
	snprintf(d.id_ca, sizeof(d.id_ca), "%s/identity-ca.pem", d.data_dir);
	if (resolve_identity(&d) < 0) {
		log_error("cannot read this node's identity");
		goto out;
	}
	log_info("garrison-defender %s on %s: cluster %s (from %s), Console wss://%s:%d",
		 GARRISON_VERSION, d.hostname, d.cluster.name, d.cluster.source, d.ws_host, d.ws_port);

	pthread_mutex_init(&d.q_mu, NULL);
	/* Before the inventory: the engine must see its first snapshot. */
	start_runtime(&d);
	if (inventory_start(d.docker_addr && d.docker_addr[0] ? d.docker_addr : "/var/run/docker.sock",
			    getenv("GARRISON_HOST_ROOT"), d.cluster.name, inventory_emit, &d, &d.inv) < 0)
		log_warn("cannot start the Docker inventory; running without it");
	start_scanner(&d);
	the_defender = &d;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = uplink_run(&d) == 0 ? 0 : 1;
	scanner_stop(d.scan);
	if (d.inv)
		inventory_stop(d.inv);
	rtengine_free(d.rt);
	log_info("stopped");
out:
	bundle_clear(&d.bundle);
	cluster_identity_clear(&d.cluster);
	json_decref(d.system_info);
	return rc;
}
