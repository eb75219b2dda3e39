/*
 * garrison-console: the central server. Opens the store in its data directory, creates or loads
 * its CA, certificates and admin user, then serves the Defender channel (hub thread) and the HTTPS
 * REST API (this thread) until SIGINT/SIGTERM.
 */
#include "console.h"
#include "runtime.h"
#include "scans.h"
#include "hub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <garrison/log.h>
#include <garrison/util.h>

static char san_store[CONSOLE_MAX_SANS][256];

static void usage(FILE *f)
{
	fprintf(f,
		"usage: garrison-console [options]\n"
		"  --data-dir DIR        state directory (default /var/lib/garrison/console)\n"
		"  --api-addr HOST:PORT  HTTPS UI and REST API (default 0.0.0.0:8083)\n"
		"  --defender-addr HOST:PORT  Defender channel (default 0.0.0.0:8084)\n"
		"  --san NAME            name or IP for the Console certificates (repeatable;\n"
		"                        default: the hostname and its addresses)\n"
		"  --version, --help\n"
		"Environment: GARRISON_ADMIN_USER (default admin), GARRISON_ADMIN_PASSWORD\n"
		"(default: generated, written to DATA_DIR/initial-admin-password).\n");
}

static int add_san(struct console *c, const char *name)
{
	for (size_t i = 0; i < c->nsans; i++)
		if (strcmp(c->sans[i], name) == 0)
			return 0;
	if (c->nsans >= CONSOLE_MAX_SANS || strlen(name) >= sizeof(san_store[0]) || name[0] == '\0')
		return -EINVAL;
	snprintf(san_store[c->nsans], sizeof(san_store[0]), "%s", name);
	c->sans[c->nsans] = san_store[c->nsans];
	c->nsans++;
	return 0;
}

static void default_sans(struct console *c)
{
	char host[256];
	struct ifaddrs *ifa = NULL;

	if (gethostname(host, sizeof(host) - 1) == 0) {
		host[sizeof(host) - 1] = '\0';
		add_san(c, host);
	}
	add_san(c, "localhost");
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			char buf[INET6_ADDRSTRLEN];
			if (i->ifa_addr == NULL)
				continue;
			if (i->ifa_addr->sa_family == AF_INET)
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf,
					  sizeof(buf));
			else
				continue;
			add_san(c, buf);
		}
		freeifaddrs(ifa);
	}
}

static int port_of(const char *addr)
{
	const char *colon = strrchr(addr, ':');
	long p;
	char *end;

	if (colon == NULL)
		return -1;
	p = strtol(colon + 1, &end, 10);
	return (*end == '\0' && p > 0 && p <= 65535) ? (int)p : -1;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* An integer setting from the environment: def when unset; a value that is not an integer in
 * [min, max] is refused with a warning and def is used. */
static long long env_num(const char *name, long long def, long long min, long long max)
{
	const char *v = getenv(name);
	char *end = NULL;
	long long n;

	if (v == NULL || v[0] == 0)
		return def;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != 0 || n < min || n > max) {
		log_warn("%s=%s is not an integer in %lld..%lld: using %lld", name, v, min, max, def);
		return def;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "api-addr", required_argument, NULL, 'a' },
		{ "defender-addr", required_argument, NULL, 'D' },
		{ "san", required_argument, NULL, 's' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct console c;
	char dbpath[600];
	const char *hb;
	int ch, r, rc = 1;

	memset(&c, 0, sizeof(c));
	log_init("garrison-console", LOG_LVL_INFO);
	snprintf(c.data_dir, sizeof(c.data_dir), "/var/lib/garrison/console");
	snprintf(c.api_addr, sizeof(c.api_addr), "0.0.0.0:8083");
	snprintf(c.defender_addr, sizeof(c.defender_addr), "0.0.0.0:8084");
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			snprintf(c.data_dir, sizeof(c.data_dir), "%s", optarg);
			break;
		case 'a':
			snprintf(c.api_addr, sizeof(c.api_addr), "%s", optarg);
			break;
		case 'D':
			snprintf(c.defender_addr, sizeof(c.defender_addr), "%s", optarg);
			break;
		case 's':
			if (add_san(&c, optarg) < 0) {
				fprintf(stderr, "garrison-console: bad or too many --san values\n");
				return 2;
			}
			break;
		case 'V':
			printf("garrison-console %s\n", GARRISON_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	c.api_port = port_of(c.api_addr);
	c.defender_port = port_of(c.defender_addr);
	if (c.api_port < 0 || c.defender_port < 0) {
		fprintf(stderr, "garrison-console: --api-addr and --defender-addr take HOST:PORT\n");
		return 2;
	}
	if (c.nsans == 0)
		default_sans(&c);
	/* Defenders reach the Console by its first name unless a request says otherwise. */
	snprintf(c.default_console_addr, sizeof(c.default_console_addr), "%s", c.sans[0]);
	hb = getenv("GARRISON_HEARTBEAT_SEC");
	c.heartbeat_sec = hb ? (int)strtol(hb, NULL, 10) : 10;
	if (c.heartbeat_sec < 1 || c.heartbeat_sec > 60)
		c.heartbeat_sec = 10;
	c.dead_after_sec = c.heartbeat_sec * 2 + 5;
	c.audit_retention_days = (int)env_num("GARRISON_AUDIT_RETENTION_DAYS", 90, 0, 36500);
	c.audit_max_per_kind = env_num("GARRISON_AUDIT_MAX", 100000, 0, 1000000000);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	r = util_mkdirs(c.data_dir, 0700);
	if (r < 0) {
		log_error("cannot create %s: %s", c.data_dir, strerror(-r));
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/garrison.db", c.data_dir);
	if (store_sqlite_open(dbpath, &c.store) < 0)
		return 1;
	if (console_identity_init(&c) < 0)
		goto out;
	/* Nobody is connected before the hub has seen them. */
	c.store->ops->defender_disconnect_all(c.store, time(NULL));
	c.store->ops->session_purge(c.store, time(NULL));
	if (scans_init(&c) < 0)
		goto out;
	console_runtime_prune(&c);
	if (hub_start(&c) < 0)
		goto out;
	log_info("garrison-console %s: data in %s, UI and API at https://%s:%d/", GARRISON_VERSION,
		 c.data_dir, c.default_console_addr, c.api_port);
	rc = console_api_run(&c) == 0 ? 0 : 1;
	hub_stop(&c);
out:
	scans_shutdown(&c);
	X509_free(c.ca_cert);
	EVP_PKEY_free(c.ca_key);
	store_close(c.store);
	return rc;
}
