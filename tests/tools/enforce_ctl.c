/*
 * enforce_ctl: drives the enforcement primitives of defender/enforce.h against one container, for
 * the integration test (tests/integration/enforce.sh), the benchmark (bench/enforce_latency.sh) and
 * by hand. Needs root.
 *
 *   enforce_ctl (--pid PID | --container ID) [--docker ADDR]
 *               [--deny-exec P[,P...]]... [--deny-open P[,P...]]... [--watch exec|open]...
 *               [--deny-net IP:PORT[/proto]]... (IP * = any address) [--allow-net IP:PORT[/proto]]... [--report-allowed]
 *               [--mounts] [--force-host] [--deadline-ms N] [--on-timeout allow|deny]
 *               [--workers N | --inline] [--delay-ms N] [--duration S] [--quiet]
 *   enforce_ctl --block ID [--kill | --pause] [--timeout S] [--docker ADDR]
 *   enforce_ctl --lsm-probe | --net-probe
 *
 * With deny lists it marks the container's root file system (fanotify) and/or attaches the network
 * filter to its cgroup, prints "enforce_ctl: ready" on standard error, then one JSON line per
 * decision on standard output ({"kind":"exec"|"open"|"connect4"|...,"verdict":"allow"|"deny",...})
 * until --duration seconds have passed or SIGINT/SIGTERM; last comes {"kind":"stats",...}.
 * --allow-net switches the network filter to allow-list mode. --delay-ms makes every decision that
 * slow (to test the deadline), --inline decides on the fanotify reader thread (no worker),
 * --quiet prints only denials, timeouts and the stats.
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
#include "../../defender/enforce.h"

#define NET_RULES_MAX 256

static volatile sig_atomic_t stop;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

struct ctx {
	struct enforce_pathset *deny_exec, *deny_open;
	int delay_ms;
	int quiet;
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void emit(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);

	if (s != NULL) {
		pthread_mutex_lock(&out_lock);
		fputs(s, stdout);
		fputc('\n', stdout);
		fflush(stdout);
		pthread_mutex_unlock(&out_lock);
		free(s);
	}
	json_decref(j);
}

static int decide(const struct enforce_req *req, void *arg)
{
	struct ctx *c = arg;
	int deny;

	if (c->delay_ms > 0) {
		struct timespec ts = { c->delay_ms / 1000, (long)(c->delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	deny = enforce_pathset_match(c->deny_open, req->path) ||
	       (req->op == ENFORCE_OP_EXEC && enforce_pathset_match(c->deny_exec, req->path));
	return deny ? ENFORCE_DENY : ENFORCE_ALLOW;
}

static void on_answer(const struct enforce_req *req, const struct enforce_answer *a, void *arg)
{
	struct ctx *c = arg;

	if (c->quiet && a->verdict == ENFORCE_ALLOW && !a->timed_out)
		return;
	emit(json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I}", "kind",
		       req->op == ENFORCE_OP_EXEC ? "exec" : "open", "pid", (json_int_t)req->pid,
		       "path", req->path, "exe", req->exe, "container", req->container, "verdict",
		       a->verdict == ENFORCE_DENY ? "deny" : "allow", "timed_out", a->timed_out,
		       "queue_full", a->queue_full, "latency_us", (json_int_t)a->latency_us, "seq",
		       (json_int_t)req->seq));
}

static void on_net(const struct enforce_net_decision *d, void *arg)
{
	struct ctx *c = arg;

	if (c->quiet && !d->denied)
		return;
	emit(json_pack("{s:s, s:I, s:s, s:s, s:i, s:s, s:s, s:s, s:I}", "kind", d->hook, "pid",
		       (json_int_t)d->pid, "comm", d->comm, "ip", d->ip, "port", (int)d->port, "proto",
		       d->proto == 6 ? "tcp" : d->proto == 17 ? "udp" : "other", "container",
		       d->container, "verdict", d->denied ? "deny" : "allow", "cgroup_id",
		       (json_int_t)d->cgroup_id));
}

static int usage(void)
{
	fprintf(stderr, "usage: enforce_ctl (--pid PID | --container ID) [--deny-exec P] [--deny-open P] "
			"[--deny-net IP:PORT[/proto]] [--allow-net ...] [--duration S] ...\n"
			"       enforce_ctl --block ID [--kill|--pause] [--timeout S]\n"
			"       enforce_ctl --lsm-probe | --net-probe\n");
	return 1;
}

/* The pid of a running container's init, through the engine. */
static int container_pid(const char *addr, const char *id, pid_t *pid, char *full, size_t fulllen)
{
	struct docker *d = NULL;
	json_t *j = NULL;
	char path[256];
	json_int_t p;
	const char *fid;
	int rc;

	for (const char *q = id; *q; q++)
		if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
		      *q == '-' || *q == '_' || *q == '.'))
			return -EINVAL;
	if (strlen(id) == 0 || strlen(id) > 128)
		return -EINVAL;
	rc = docker_new(addr, NULL, &d);
	if (rc < 0)
		return rc;
	rc = docker_negotiate(d);
	if (rc < 0)
		goto fail;
	snprintf(path, sizeof(path), "/containers/%s/json", id);
	rc = docker_get_json(d, path, &j);
	if (rc < 0)
		goto fail;
	p = json_integer_value(json_object_get(json_object_get(j, "State"), "Pid"));
	fid = json_string_value(json_object_get(j, "Id"));
	if (p <= 0 || fid == NULL) {
		rc = -ESRCH;
		goto fail;
	}
	*pid = (pid_t)p;
	snprintf(full, fulllen, "%s", fid);
fail:
	if (rc < 0)
		fprintf(stderr, "enforce_ctl: container %s: %s %s\n", id, strerror(-rc), docker_errmsg(d));
	json_decref(j);
	docker_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	enum { O_PID = 1, O_CONTAINER, O_DOCKER, O_DENY_EXEC, O_DENY_OPEN, O_WATCH, O_DENY_NET,
	       O_ALLOW_NET, O_REPORT_ALLOWED, O_MOUNTS, O_FORCE_HOST, O_DEADLINE, O_ON_TIMEOUT,
	       O_WORKERS, O_DELAY, O_DURATION, O_QUIET, O_BLOCK, O_KILL, O_PAUSE, O_TIMEOUT,
	       O_LSM_PROBE, O_NET_PROBE, O_INLINE };
	static const struct option opts[] = {
		{ "pid", required_argument, 0, O_PID },
		{ "container", required_argument, 0, O_CONTAINER },
		{ "docker", required_argument, 0, O_DOCKER },
		{ "deny-exec", required_argument, 0, O_DENY_EXEC },
		{ "deny-open", required_argument, 0, O_DENY_OPEN },
		{ "watch", required_argument, 0, O_WATCH },
		{ "deny-net", required_argument, 0, O_DENY_NET },
		{ "allow-net", required_argument, 0, O_ALLOW_NET },
		{ "report-allowed", no_argument, 0, O_REPORT_ALLOWED },
		{ "mounts", no_argument, 0, O_MOUNTS },
		{ "force-host", no_argument, 0, O_FORCE_HOST },
		{ "deadline-ms", required_argument, 0, O_DEADLINE },
		{ "on-timeout", required_argument, 0, O_ON_TIMEOUT },
		{ "workers", required_argument, 0, O_WORKERS },
		{ "delay-ms", required_argument, 0, O_DELAY },
		{ "duration", required_argument, 0, O_DURATION },
		{ "quiet", no_argument, 0, O_QUIET },
		{ "block", required_argument, 0, O_BLOCK },
		{ "kill", no_argument, 0, O_KILL },
		{ "pause", no_argument, 0, O_PAUSE },
		{ "timeout", required_argument, 0, O_TIMEOUT },
		{ "lsm-probe", no_argument, 0, O_LSM_PROBE },
		{ "net-probe", no_argument, 0, O_NET_PROBE },
		{ "inline", no_argument, 0, O_INLINE },
		{ 0, 0, 0, 0 },
	};
	struct ctx c = { 0 };
	struct enforce_fanotify_opts fo = { 0 };
	struct enforce_fanotify *fan = NULL;
	struct enforce_net *net = NULL;
	struct enforce_net_rule rules[NET_RULES_MAX];
	size_t nrules = 0;
	const char *docker = NULL, *container = NULL, *block = NULL;
	char label[ENFORCE_CONTAINER_MAX] = "", err[ENFORCE_ERR_MAX] = "";
	unsigned watch = 0, flags = 0;
	int allow_mode = 0, report_allowed = 0, duration = 0, timeout_s = 10, rc = 1, opt;
	enum enforce_block_action action = ENFORCE_BLOCK_STOP;
	pid_t pid = 0;
	long v;
	char *end;

	log_init("enforce_ctl", LOG_LVL_WARN);
	if (enforce_pathset_new(&c.deny_exec) < 0 || enforce_pathset_new(&c.deny_open) < 0)
		return 1;
	fo.on_timeout = ENFORCE_ALLOW;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case O_PID:
		case O_DEADLINE:
		case O_WORKERS:
		case O_DELAY:
		case O_DURATION:
		case O_TIMEOUT:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 0 || v > 1000000) {
				fprintf(stderr, "enforce_ctl: bad number %s\n", optarg);
				goto out;
			}
			if (opt == O_PID)
				pid = (pid_t)v;
			else if (opt == O_DEADLINE)
				fo.deadline_ms = (int)v;
			else if (opt == O_WORKERS)
				fo.workers = (int)v;
			else if (opt == O_DELAY)
				c.delay_ms = (int)v;
			else if (opt == O_DURATION)
				duration = (int)v;
			else
				timeout_s = (int)v;
			break;
		case O_CONTAINER: container = optarg; break;
		case O_DOCKER: docker = optarg; break;
		case O_DENY_EXEC:
		case O_DENY_OPEN:
			if (enforce_pathset_add_list(opt == O_DENY_EXEC ? c.deny_exec : c.deny_open, optarg) < 0) {
				fprintf(stderr, "enforce_ctl: bad path list %s (absolute paths)\n", optarg);
				goto out;
			}
			watch |= opt == O_DENY_EXEC ? ENFORCE_WATCH_EXEC : ENFORCE_WATCH_OPEN;
			break;
		case O_WATCH:
			if (strcmp(optarg, "exec") == 0)
				watch |= ENFORCE_WATCH_EXEC;
			else if (strcmp(optarg, "open") == 0)
				watch |= ENFORCE_WATCH_OPEN;
			else
				return usage();
			break;
		case O_DENY_NET:
		case O_ALLOW_NET:
			if (nrules >= NET_RULES_MAX || enforce_net_rule_parse(optarg, &rules[nrules]) < 0) {
				fprintf(stderr, "enforce_ctl: bad address %s (IP:PORT[/tcp|/udp])\n", optarg);
				goto out;
			}
			nrules++;
			if (opt == O_ALLOW_NET)
				allow_mode = 1;
			break;
		case O_REPORT_ALLOWED: report_allowed = 1; break;
		case O_MOUNTS: flags |= ENFORCE_MOUNTS; break;
		case O_FORCE_HOST: flags |= ENFORCE_FORCE_HOST; break;
		case O_ON_TIMEOUT:
			if (strcmp(optarg, "allow") == 0)
				fo.on_timeout = ENFORCE_ALLOW;
			else if (strcmp(optarg, "deny") == 0)
				fo.on_timeout = ENFORCE_DENY;
			else
				return usage();
			break;
		case O_QUIET: c.quiet = 1; break;
		case O_INLINE: fo.inline_decide = 1; break;
		case O_BLOCK: block = optarg; break;
		case O_KILL: action = ENFORCE_BLOCK_KILL; break;
		case O_PAUSE: action = ENFORCE_BLOCK_PAUSE; break;
		case O_LSM_PROBE:
		case O_NET_PROBE: {
			char why[ENFORCE_ERR_MAX];
			int ok = opt == O_LSM_PROBE ? enforce_lsm_probe(why, sizeof(why)) :
						      enforce_net_probe(why, sizeof(why));
			emit(json_pack("{s:s, s:b, s:s}", "kind", opt == O_LSM_PROBE ? "lsm_probe" : "net_probe",
				       "available", ok, "reason", why));
			rc = 0;
			goto out;
		}
		default:
			rc = usage();
			goto out;
		}
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (block != NULL) {
		rc = enforce_block_container(docker, block, action, timeout_s, err, sizeof(err));
		emit(json_pack("{s:s, s:s, s:s, s:b, s:s}", "kind", "block", "container", block, "action",
			       action == ENFORCE_BLOCK_STOP ? "stop" : action == ENFORCE_BLOCK_KILL ? "kill" : "pause",
			       "ok", rc == 0, "error", rc == 0 ? "" : err));
		rc = rc == 0 ? 0 : 1;
		goto out_curl;
	}
	if (container != NULL) {
		if (container_pid(docker, container, &pid, label, sizeof(label)) < 0)
			goto out_curl;
	} else if (pid > 0) {
		snprintf(label, sizeof(label), "pid:%d", (int)pid);
	} else {
		rc = usage();
		goto out_curl;
	}
	if (watch == 0 && nrules == 0) {
		fprintf(stderr, "enforce_ctl: nothing to enforce (no --deny-*, --allow-net or --watch)\n");
		goto out_curl;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (watch) {
		fo.decide = decide;
		fo.decide_arg = &c;
		fo.report = on_answer;
		fo.report_arg = &c;
		if (enforce_fanotify_new(&fo, &fan, err, sizeof(err)) < 0 ||
		    enforce_fanotify_add(fan, pid, label, watch | flags, err, sizeof(err)) < 0) {
			fprintf(stderr, "enforce_ctl: fanotify: %s\n", err);
			goto out_curl;
		}
	}
	if (nrules) {
		if (enforce_net_new(allow_mode, report_allowed, &net, err, sizeof(err)) < 0) {
			fprintf(stderr, "enforce_ctl: network filter: %s\n", err);
			goto out_curl;
		}
		for (size_t i = 0; i < nrules; i++) {
			if (enforce_net_add_rule(net, &rules[i]) < 0) {
				fprintf(stderr, "enforce_ctl: cannot add rule %zu\n", i);
				goto out_curl;
			}
		}
		if (enforce_net_attach_pid(net, pid, label, err, sizeof(err)) < 0) {
			fprintf(stderr, "enforce_ctl: network filter: %s\n", err);
			goto out_curl;
		}
	}
	fprintf(stderr, "enforce_ctl: ready (container %s, pid %d)\n", label, (int)pid);
	{
		time_t t_end = duration > 0 ? time(NULL) + duration : 0;

		while (!stop && (t_end == 0 || time(NULL) < t_end)) {
			if (net != NULL) {
				enforce_net_poll(net, 200, on_net, &c);
			} else {
				struct timespec ts = { 0, 200 * 1000000L };
				nanosleep(&ts, NULL);
			}
		}
		if (net != NULL)
			enforce_net_poll(net, 0, on_net, &c);
	}
	{
		struct enforce_fanotify_stats fs;
		struct enforce_net_stats ns;

		enforce_fanotify_stats(fan, &fs);
		enforce_net_stats(net, &ns);
		emit(json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			       "kind", "stats", "events", (json_int_t)fs.events, "allowed",
			       (json_int_t)fs.allowed, "denied", (json_int_t)fs.denied, "timed_out",
			       (json_int_t)fs.timed_out, "queue_full", (json_int_t)fs.queue_full, "self",
			       (json_int_t)fs.self, "errors", (json_int_t)fs.errors, "max_latency_us",
			       (json_int_t)fs.max_latency_us, "marks", (json_int_t)fs.marks,
			       "net_allowed", (json_int_t)ns.allowed, "net_denied", (json_int_t)ns.denied,
			       "net_lost", (json_int_t)ns.lost, "net_links", (json_int_t)ns.links));
	}
	rc = 0;
out_curl:
	enforce_fanotify_free(fan);
	enforce_net_free(net);
	curl_global_cleanup();
out:
	enforce_pathset_free(c.deny_exec);
	enforce_pathset_free(c.deny_open);
	return rc;
}
