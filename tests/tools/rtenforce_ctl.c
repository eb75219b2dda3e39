/*
 * rtenforce_ctl: drives defender/rtenforce.c (runtime enforcement applied by policy) against real
 * containers, for the integration test tests/integration/rtenforce.sh and by hand. Needs root.
 *
 *   rtenforce_ctl --policy FILE [--docker ADDR] [--container ID]... [--block ID]...
 *                 [--deadline-ms N] [--duration S]
 *
 * Reads FILE (a runtime.ContainerPolicy JSON document), registers each container (inspected
 * through the engine: init pid, name, image), prints one line per container
 * ({"kind":"container","id":...,"rc":N,"err":S,"netEnforced":B}), then "rtenforce_ctl: ready" on
 * standard error, then queues the blocks. Every report is a JSON line on standard output:
 * {"kind":"prevent"|"block","container":ID,"effect":S,"rule":S,"attackType":S,"msg":S,"ok":B,
 * "why":S,"event":{...event JSON...}}. SIGHUP re-reads FILE and applies it
 * ({"kind":"policy","rc":N,"err":S} and the container lines again); SIGUSR1 prints the stats line;
 * SIGINT/SIGTERM or --duration end it with {"kind":"stats",...} (rtenforce_stats_json()).
 * Exit status: 0, 1 on a usage or setup error (with a sentence on standard error).
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include <garrison/log.h>

#include "../../defender/docker.h"
#include "../../defender/rtenforce.h"

#define MAX_CONTAINERS 32

static volatile sig_atomic_t stop, reload, dump;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct ctr {
	char arg[130];
	char id[EVENT_CONTAINER_MAX];
	char name[130];
	char image[256];
	pid_t pid;
};

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else if (sig == SIGUSR1)
		dump = 1;
	else
		stop = 1;
}

static void emit(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (s != NULL) {
		pthread_mutex_lock(&out_lock);
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		pthread_mutex_unlock(&out_lock);
	}
	free(s);
	json_decref(j);
}

static void on_report(const struct rtenforce_report *r, void *arg)
{
	json_t *ev = event_to_json(&r->ev);

	(void)arg;
	emit(json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:s,s:o*}", "kind",
		       r->d.effect == RUNTIME_EFFECT_BLOCK ? "block" : "prevent", "container", r->container,
		       "effect", runtime_effect_name(r->d.effect), "rule", r->d.rule, "attackType",
		       r->d.attack_type ? r->d.attack_type : "", "msg", r->d.msg, "ok", r->ok, "why",
		       r->why, "event", ev));
}

/* Inspects container c->arg through the engine. 0 or a negative errno (with a sentence). */
static int inspect(const char *addr, struct ctr *c)
{
	struct docker *d = NULL;
	json_t *j = NULL;
	char path[256];
	json_int_t p;
	const char *fid, *name, *image;
	int rc;

	for (const char *q = c->arg; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		      *q == '-' || *q == '_' || *q == '.'))
			return -EINVAL;
	rc = docker_new(addr, NULL, &d);
	if (rc < 0)
		return rc;
	rc = docker_negotiate(d);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "/containers/%s/json", c->arg);
	rc = docker_get_json(d, path, &j);
	if (rc < 0)
		goto fail;
	p = json_integer_value(json_object_get(json_object_get(j, "State"), "Pid"));
	fid = json_string_value(json_object_get(j, "Id"));
	name = json_string_value(json_object_get(j, "Name"));
	image = json_string_value(json_object_get(json_object_get(j, "Config"), "Image"));
	if (p <= 0 || fid == NULL) {
		rc = -ESRCH;
		goto fail;
	}
	c->pid = (pid_t)p;
	snprintf(c->id, sizeof(c->id), "%s", fid);
	snprintf(c->name, sizeof(c->name), "%s", name ? (name[0] == '/' ? name + 1 : name) : "");
	snprintf(c->image, sizeof(c->image), "%s", image ? image : "");
fail:
	if (rc < 0)
		fprintf(stderr, "rtenforce_ctl: container %s: %s %s\n", c->arg, strerror(-rc),
			docker_errmsg(d));
	json_decref(j);
	docker_free(d);
	return rc;
}

static json_t *load_policy(const char *file)
{
	json_error_t je;
	json_t *j = json_load_file(file, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		fprintf(stderr, "rtenforce_ctl: %s:%d: %s\n", file, je.line, je.text);
	return j;
}

static void add_containers(struct rtenforce *e, struct ctr *cs, size_t n)
{
	char host[256] = "";

	gethostname(host, sizeof(host) - 1);
	for (size_t i = 0; i < n; i++) {
		struct runtime_workload w = { 0 };
		char err[256] = "";
		int rc;

		w.subject.container = cs[i].name;
		w.subject.image = cs[i].image;
		w.subject.host = host;
		rc = rtenforce_container(e, cs[i].id, cs[i].pid, &w, err, sizeof(err));
		emit(json_pack("{s:s,s:s,s:s,s:i,s:s,s:b}", "kind", "container", "id", cs[i].id, "name",
			       cs[i].name, "rc", rc, "err", err, "netEnforced",
			       rtenforce_net_enforced(e, cs[i].id)));
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: rtenforce_ctl --policy FILE [--docker ADDR] [--container ID]... "
			"[--block ID]... [--deadline-ms N] [--duration S]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "docker", required_argument, NULL, 'd' },
		{ "container", required_argument, NULL, 'c' },
		{ "block", required_argument, NULL, 'b' },
		{ "deadline-ms", required_argument, NULL, 'D' },
		{ "duration", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctr *cs = calloc(MAX_CONTAINERS, sizeof(*cs));
	char *blocks[MAX_CONTAINERS];
	size_t ncs = 0, nblocks = 0;
	const char *policy = NULL, *docker = NULL;
	long deadline = 0, duration = 0;
	struct rtenforce_config cfg = { 0 };
	struct rtenforce *e = NULL;
	char err[512] = "";
	json_t *pj = NULL;
	struct timespec t0, now;
	int o, rc, ret = 1;

	if (cs == NULL)
		return 1;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (o) {
		case 'p': policy = optarg; break;
		case 'd': docker = optarg; break;
		case 'c':
			if (ncs >= MAX_CONTAINERS || strlen(optarg) >= sizeof(cs[0].arg))
				goto usage;
			snprintf(cs[ncs++].arg, sizeof(cs[0].arg), "%s", optarg);
			break;
		case 'b':
			if (nblocks >= MAX_CONTAINERS)
				goto usage;
			blocks[nblocks++] = optarg;
			break;
		case 'D':
			deadline = strtol(optarg, &end, 10);
			if (*end || deadline < 0 || deadline > 10000)
				goto usage;
			break;
		case 't':
			duration = strtol(optarg, &end, 10);
			if (*end || duration < 0 || duration > 86400)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (policy == NULL || optind != argc)
		goto usage;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < ncs; i++)
		if (inspect(docker, &cs[i]) < 0)
			goto out;
	cfg.docker_addr = docker;
	cfg.report = on_report;
	cfg.deadline_ms = (int)deadline;
	rc = rtenforce_new(&cfg, &e);
	if (rc < 0) {
		fprintf(stderr, "rtenforce_ctl: rtenforce_new: %s\n", strerror(-rc));
		goto out;
	}
	pj = load_policy(policy);
	if (pj == NULL)
		goto out;
	rc = rtenforce_set_policy(e, pj, err, sizeof(err));
	json_decref(pj);
	if (rc < 0) {
		fprintf(stderr, "rtenforce_ctl: policy %s: %s\n", policy, err);
		goto out;
	}
	add_containers(e, cs, ncs);
	fprintf(stderr, "rtenforce_ctl: ready (%zu containers)\n", ncs);
	for (size_t i = 0; i < nblocks; i++) {
		struct runtime_decision d = { .effect = RUNTIME_EFFECT_BLOCK, .type = "processes",
					      .attack_type = "explicitlyDeniedProcess", .severity = "high" };
		struct event ev = { .type = EVENT_EXEC };

		snprintf(d.rule, sizeof(d.rule), "rtenforce_ctl --block");
		snprintf(d.msg, sizeof(d.msg), "blocked by request");
		rc = rtenforce_block(e, blocks[i], &ev, &d);
		if (rc < 0)
			fprintf(stderr, "rtenforce_ctl: block %s: %s\n", blocks[i], strerror(-rc));
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		if (reload) {
			reload = 0;
			err[0] = 0;
			pj = load_policy(policy);
			rc = pj ? rtenforce_set_policy(e, pj, err, sizeof(err)) : -EINVAL;
			json_decref(pj);
			emit(json_pack("{s:s,s:i,s:s}", "kind", "policy", "rc", rc, "err", err));
			add_containers(e, cs, ncs);
		}
		if (dump) {
			json_t *st = rtenforce_stats_json(e);
			dump = 0;
			if (st != NULL) {
				json_object_set_new(st, "kind", json_string("stats"));
				emit(st);
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (duration > 0 && now.tv_sec - t0.tv_sec >= duration)
			break;
	}
	{
		json_t *st = rtenforce_stats_json(e);
		if (st != NULL) {
			json_object_set_new(st, "kind", json_string("stats"));
			emit(st);
		}
	}
	ret = 0;
out:
	rtenforce_free(e);
	free(cs);
	curl_global_cleanup();
	return ret;
usage:
	usage();
	free(cs);
	return 1;
}
