/*
 * inventory_dump: runs the Defender's Docker inventory against an engine and prints every message
 * it emits as one JSON line on standard output (flushed per line), for the integration tests.
 *
 *   inventory_dump --docker ADDR [--host-root DIR] [--node-cluster NAME] [--seconds N]
 *
 * SIGUSR1 asks for a resync (inventory_resync); SIGUSR2 prints inventory_status() as
 * {"type":"status-probe",...}; SIGTERM or SIGINT stop it (exit 0), as does the end of --seconds.
 * Log lines go to standard error. Bad arguments: a message and exit 2.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "../../defender/inventory.h"

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

static void print_line(json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);

	pthread_mutex_lock(&out_mu);
	if (s != NULL) {
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
	}
	pthread_mutex_unlock(&out_mu);
	free(s);
}

static void on_emit(json_t *msg, void *arg)
{
	(void)arg;
	print_line(msg);
	json_decref(msg);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: inventory_dump --docker ADDR [--host-root DIR] [--node-cluster NAME] [--seconds N]\n");
}

int main(int argc, char **argv)
{
	const char *docker = NULL, *host_root = NULL, *cluster = NULL;
	long seconds = 0;
	struct inventory *inv = NULL;
	sigset_t set;
	int64_t end;
	int r;

	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(argv[i], "--help") == 0) { /* the only flag without a value */
			usage(stdout);
			return 0;
		}
		if (v == NULL) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--docker") == 0) {
			docker = v;
		} else if (strcmp(argv[i], "--host-root") == 0) {
			host_root = v;
		} else if (strcmp(argv[i], "--node-cluster") == 0) {
			cluster = v;
		} else if (strcmp(argv[i], "--seconds") == 0) {
			char *e;
			seconds = strtol(v, &e, 10);
			if (*e != '\0' || seconds < 0 || seconds > 86400) {
				fprintf(stderr, "inventory_dump: --seconds must be 0..86400\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (docker == NULL) {
		usage(stderr);
		return 2;
	}
	log_init("inventory_dump", LOG_LVL_INFO);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* the inventory thread inherits this mask: the signals are taken here with sigtimedwait */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	r = inventory_start(docker, host_root, cluster, on_emit, NULL, &inv);
	if (r < 0) {
		fprintf(stderr, "inventory_dump: cannot start the inventory: %s\n", strerror(-r));
		curl_global_cleanup();
		return 2;
	}
	end = seconds > 0 ? util_now_ms() + seconds * 1000 : INT64_MAX;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000 * 1000 };
		int sig = sigtimedwait(&set, NULL, &ts);

		if (sig == SIGTERM || sig == SIGINT || util_now_ms() >= end)
			break;
		if (sig == SIGUSR1) {
			inventory_resync(inv);
		} else if (sig == SIGUSR2) {
			json_t *st = inventory_status(inv);
			if (st != NULL) {
				json_object_set_new(st, "type", json_string("status-probe"));
				print_line(st);
			}
			json_decref(st);
		}
	}
	inventory_stop(inv);
	curl_global_cleanup();
	return 0;
}
