/*
 * sensor_engine: the runtime-defense consumer loop of the Defender, alone, for benchmarks
 * (bench/sensor_engine.sh). One thread takes events from the eBPF sensor (sensor_next()), decides
 * on each with runtime_evaluate() under a realistic policy (bench's built-in copy of Prisma's
 * default rule plus two specific rules) and learned models, and offers every decision to the audit
 * throttle (records built as the Defender will build them; emitted audits are counted, not sent).
 *
 *   sensor_engine [--models learn|active|drain|SECONDS] [--ringbuf BYTES] [--queue N] [--seconds N]
 *                 [--throttle-ms MS]
 *
 * --models learn: every model learns for an hour (the state of a new Defender); active: models
 * are active from their first event with nothing learned (every workload event is an anomaly:
 * the most work per event); SECONDS: learn that long from each model's first event, then active.
 * Workloads: the container started when this program did. Images: a container's events are evaluated as image "bench/storm:1", the host's as "host".
 * "sensor_engine: ready" goes to standard error once the sensor runs. SIGUSR1 prints the counters
 * as one JSON line on standard output (cumulative); SIGINT/SIGTERM or --seconds print them a last
 * time and stop. SIGCONT after a SIGSTOP starts a drain measurement: the rate at which the loop
 * evaluated the backlog in the first 0.5 s ("drainRate" in the next report; meaningful only when
 * the backlog lasts longer than that). A benchmark tool: it never judges. Exit 0, 1 when the sensor cannot start, 2 for
 * bad arguments.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <jansson.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "../defender/audit.h"
#include "../defender/runtime.h"
#include "../defender/sensor.h"

static volatile sig_atomic_t stop_flag, report_flag, cont_flag;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report_flag = 1;
	else if (sig == SIGCONT)
		cont_flag = 1;
	else
		stop_flag = 1;
}

/* The drain measurement: after SIGCONT (the script stopped the engine with SIGSTOP while a storm
 * filled the ring buffer), the events evaluated in the first DRAIN_WINDOW seconds. */
#define DRAIN_WINDOW 0.5
static double drain_t0, drain_rate;
static uint64_t drain_n0;

/* Prisma's default container rule (every section on, alert) after two specific ones. */
static const char policy_text[] =
	"{\"_id\":\"containerRuntime\",\"learningDisabled\":false,\"rules\":["
	"{\"name\":\"nginx\",\"collections\":[{\"name\":\"web\",\"images\":[\"*nginx*\"]}],"
	"\"processes\":{\"defaultEffect\":\"alert\",\"allowedList\":[\"/usr/sbin/nginx\"],"
	"\"deniedList\":{\"effect\":\"block\",\"paths\":[\"/bin/sh\",\"/bin/bash\",\"*nc\"]},"
	"\"cryptoMinersEffect\":\"block\",\"reverseShellEffect\":\"block\",\"disabled\":false}},"
	"{\"name\":\"no-shell-in-db\",\"collections\":[{\"name\":\"db\",\"images\":[\"*postgres*\",\"*mysql*\"]}],"
	"\"processes\":{\"defaultEffect\":\"alert\",\"deniedList\":{\"effect\":\"prevent\",\"paths\":[\"/bin/*sh\"]},"
	"\"disabled\":false}},"
	"{\"name\":\"Default - alert on suspicious runtime behavior\","
	"\"advancedProtectionEffect\":\"alert\",\"cloudMetadataEnforcementEffect\":\"alert\","
	"\"kubernetesEnforcementEffect\":\"alert\",\"wildFireAnalysis\":\"disable\",\"customRules\":[],"
	"\"skipExecSessions\":false,\"collections\":[{\"name\":\"All\",\"containers\":[\"*\"],"
	"\"images\":[\"*\"],\"hosts\":[\"*\"],\"labels\":[\"*\"],\"namespaces\":[\"*\"],\"clusters\":[\"*\"],"
	"\"appIDs\":[\"*\"],\"accountIDs\":[\"*\"]}],"
	"\"processes\":{\"defaultEffect\":\"alert\",\"allowedList\":[],\"deniedList\":{\"effect\":\"alert\","
	"\"paths\":[\"/usr/bin/nmap\",\"/usr/bin/masscan\",\"*/xmrig\"]},"
	"\"checkParentChild\":true,\"cryptoMinersEffect\":\"alert\",\"lateralMovementEffect\":\"alert\","
	"\"modifiedProcessEffect\":\"alert\",\"reverseShellEffect\":\"alert\",\"suidBinariesEffect\":\"alert\",\"disabled\":false},"
	"\"network\":{\"defaultEffect\":\"alert\",\"allowedIPs\":[],"
	"\"deniedIPs\":[\"169.254.169.254\",\"198.51.100.0/24\",\"2001:db8::/32\"],\"deniedIPsEffect\":\"alert\","
	"\"listeningPorts\":{\"allowed\":[],\"denied\":[{\"start\":4444,\"end\":4444,\"deny\":true}],\"effect\":\"alert\"},"
	"\"outboundPorts\":{\"allowed\":[],\"denied\":[{\"start\":25,\"end\":25,\"deny\":true},{\"start\":6667,\"end\":6669,\"deny\":true}],\"effect\":\"alert\"},"
	"\"modifiedProcEffect\":\"alert\",\"portScanEffect\":\"alert\",\"rawSocketsEffect\":\"alert\",\"disabled\":false},"
	"\"dns\":{\"defaultEffect\":\"alert\",\"disabled\":false,\"domainList\":{\"allowed\":[],"
	"\"denied\":[\"*.onion\",\"*pool.minexmr.com\",\"*.ngrok.io\"],\"effect\":\"alert\"}},"
	"\"filesystem\":{\"defaultEffect\":\"alert\",\"allowedList\":[],\"deniedList\":{\"effect\":\"alert\","
	"\"paths\":[\"/etc/shadow\",\"/etc/sudoers\",\"*.ssh/authorized_keys\",\"/etc/ld.so.preload\"]},"
	"\"backdoorFilesEffect\":\"alert\",\"encryptedBinariesEffect\":\"alert\",\"newFilesEffect\":\"alert\","
	"\"suspiciousELFHeadersEffect\":\"alert\",\"disabled\":false}}]}";

struct counts {
	uint64_t events, decisions, offered, emitted, throttled_updates;
};

static void on_audit(const struct audit_record *r, void *arg)
{
	struct counts *c = arg;

	if (r->count > 1)
		c->throttled_updates++;
	else
		c->emitted++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS, VmHWM and RssAnon of this process in KiB (0 when unreadable). */
static void memory_kib(long *rss, long *hwm, long *anon)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	*rss = *hwm = *anon = 0;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm = strtol(line + 6, NULL, 10);
		else if (strncmp(line, "RssAnon:", 8) == 0)
			*anon = strtol(line + 8, NULL, 10);
	}
	fclose(f);
}

static void report(struct sensor *s, const struct counts *c, double t0, const char *models)
{
	struct sensor_stats st;
	struct rusage ru;
	long rss, hwm, anon;
	json_t *j, *o;

	sensor_stats(s, &st);
	getrusage(RUSAGE_SELF, &ru);
	memory_kib(&rss, &hwm, &anon);
	j = sensor_stats_json(&st);
	if (j == NULL)
		return;
	o = json_pack("{s:i,s:f,s:s,s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:i,s:i}", "anonKiB", (int)anon,
		      "drainRate", drain_rate,
		      "type", "engine", "models", models,
		      "elapsed", mono_s() - t0, "evaluated", (json_int_t)c->events, "decisions",
		      (json_int_t)c->decisions, "audits", (json_int_t)c->emitted, "throttleUpdates",
		      (json_int_t)c->throttled_updates, "offered", (json_int_t)c->offered, "cpuUser",
		      (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6, "cpuSys",
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6, "rssKiB", (int)rss,
		      "hwmKiB", (int)hwm);
	if (o != NULL && json_object_set(o, "sensor", j) == 0) {
		char *text = json_dumps(o, JSON_COMPACT);
		if (text != NULL)
			printf("%s\n", text);
		free(text);
		fflush(stdout);
	}
	json_decref(o);
	json_decref(j);
}

static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != 0 || errno != 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	struct sensor_config cfg = { .families = SENSOR_ALL, .drop_runtime = 1 };
	const char *models_arg = "learn";
	unsigned long long seconds = 0, throttle_ms = 60000, v;
	uint64_t learn_ns = 3600ull * 1000000000ull;
	struct runtime_policy *p = NULL;
	struct runtime_models *m = NULL;
	struct audit_throttle *thr = NULL;
	struct sensor *s = NULL;
	struct counts c = { 0 };
	struct event *ev = NULL;
	int64_t started = (int64_t)time(NULL);
	char err[512];
	json_t *pj = NULL;
	int rc = 1, drain_only = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (val == NULL)
			goto usage;
		if (strcmp(a, "--models") == 0) {
			models_arg = val;
			if (strcmp(val, "learn") == 0)
				learn_ns = 3600ull * 1000000000ull;
			else if (strcmp(val, "active") == 0)
				learn_ns = 0;
			else if (strcmp(val, "drain") == 0)
				drain_only = 1; /* the sensor only: events are read, not evaluated */
			else if (parse_num(val, 86400, &v) == 0)
				learn_ns = v * 1000000000ull;
			else
				goto usage;
		} else if (strcmp(a, "--ringbuf") == 0 && parse_num(val, 1ull << 30, &v) == 0) {
			cfg.ringbuf_bytes = v;
		} else if (strcmp(a, "--queue") == 0 && parse_num(val, SENSOR_QUEUE_MAX, &v) == 0) {
			cfg.queue_len = v;
		} else if (strcmp(a, "--families") == 0) {
			/* to split the overhead by family */
			if (sensor_families_parse(val, &cfg.families) != 0)
				goto usage;
		} else if (strcmp(a, "--fold-ms") == 0 && parse_num(val, SENSOR_FOLD_MAX_MS, &v) == 0) {
			cfg.fold_ms = v == 0 ? -1 : (int)v; /* 0: folding off */
		} else if (strcmp(a, "--syscall-hook") == 0) {
			if (sensor_syscall_hook_parse(val, &cfg.syscall_hook) != 0)
				goto usage;
		} else if (strcmp(a, "--seconds") == 0 && parse_num(val, 86400, &v) == 0) {
			seconds = v;
		} else if (strcmp(a, "--throttle-ms") == 0 && parse_num(val, 86400000, &v) == 0 && v > 0) {
			throttle_ms = v;
		} else {
			goto usage;
		}
		i++;
	}
	log_init("sensor_engine", LOG_LVL_WARN);
	pj = json_loads(policy_text, JSON_REJECT_DUPLICATES, NULL);
	if (pj == NULL || runtime_policy_from_json(pj, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "sensor_engine: the built-in policy is refused: %s\n", pj ? err : "not JSON");
		goto out;
	}
	if (runtime_models_new(learn_ns, 0, &m) != 0 ||
	    audit_throttle_new(throttle_ms * 1000000ull, 0, on_audit, &c, &thr) != 0 ||
	    (ev = malloc(sizeof(*ev))) == NULL) {
		fprintf(stderr, "sensor_engine: out of memory\n");
		goto out;
	}
	if (sensor_open("bpf", &cfg, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "sensor_engine: %s\n", err);
		goto out;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
	signal(SIGCONT, on_signal);
	if (sensor_start(s) != 0) {
		fprintf(stderr, "sensor_engine: cannot start the sensor thread\n");
		goto out;
	}
	fprintf(stderr, "sensor_engine: ready\n");
	double t0 = mono_s();
	uint64_t last_flush = now_ns();
	while (!stop_flag && (seconds == 0 || mono_s() - t0 < (double)seconds)) {
		struct runtime_decision d;
		int r = sensor_next(s, ev, 100);
		if (r < 0)
			break;
		if (r == 1) {
			struct runtime_workload w = { 0 };
			int in_container = ev->container[0] != 0;
			w.subject.image = in_container ? "bench/storm:1" : "host";
			w.subject.container = in_container ? "storm" : "";
			w.subject.host = "bench-node";
			w.subject.namespace_ = "";
			w.subject.cluster = "";
			/* The storm's binaries are older than this: modifiedProcess only for files
			 * changed while the bench runs. */
			w.container_start = started;
			c.events++;
			if (!drain_only && runtime_evaluate(p, m, ev, &w, &d) == 1) {
				struct audit_record ar;
				struct audit_key k = {
					.type = d.type, .attack_type = d.attack_type,
					.effect = runtime_effect_name(d.effect), .container_id = ev->container,
					.image_name = w.subject.image, .namespace_ = "", .cluster = "",
					.hostname = "bench-node",
				};
				c.decisions++;
				/* As the Defender's engine: a repeat is only counted. */
				if (audit_throttle_repeat(thr, &k, ev->time_ns, 1 + (uint64_t)ev->repeats) == 1) {
					c.offered++;
					goto counted;
				}
				memset(&ar, 0, sizeof(ar));
				ar.time_ns = ev->time_ns;
				snprintf(ar.type, sizeof(ar.type), "%s", d.type);
				snprintf(ar.attack_type, sizeof(ar.attack_type), "%s", d.attack_type);
				snprintf(ar.effect, sizeof(ar.effect), "%s", runtime_effect_name(d.effect));
				snprintf(ar.severity, sizeof(ar.severity), "%s", d.severity);
				snprintf(ar.msg, sizeof(ar.msg), "%s", d.msg);
				snprintf(ar.rule_name, sizeof(ar.rule_name), "%s", d.rule);
				snprintf(ar.hostname, sizeof(ar.hostname), "bench-node");
				size_t cl = strnlen(ev->container, sizeof(ar.container_id) - 1);
				memcpy(ar.container_id, ev->container, cl);
				snprintf(ar.image_name, sizeof(ar.image_name), "%s", w.subject.image);
				ar.pid = ev->tgid;
				snprintf(ar.process_path, sizeof(ar.process_path), "%.255s",
					 ev->type == EVENT_EXEC ? ev->exec.filename : ev->comm);
				ar.count = 1 + (uint64_t)ev->repeats;
				if (audit_throttle_offer(thr, &ar) >= 0)
					c.offered++;
			}
		counted:;
		}
		if ((c.events & 4095) == 0 || r == 0) {
			uint64_t n = now_ns();
			if (n - last_flush > 1000000000ull) {
				audit_throttle_flush(thr, n);
				last_flush = n;
			}
		}
		if (cont_flag) {
			cont_flag = 0;
			drain_t0 = mono_s();
			drain_n0 = c.events;
		}
		if (drain_t0 > 0) {
			double dt = mono_s() - drain_t0;
			if (dt >= DRAIN_WINDOW) {
				drain_rate = (double)(c.events - drain_n0) / dt;
				drain_t0 = 0;
			}
		}
		if (report_flag) {
			report_flag = 0;
			report(s, &c, t0, models_arg);
		}
	}
	audit_throttle_flush(thr, UINT64_MAX);
	report(s, &c, t0, models_arg);
	rc = 0;
out:
	sensor_free(s);
	audit_throttle_free(thr);
	runtime_models_free(m);
	runtime_policy_free(p);
	json_decref(pj);
	free(ev);
	return rc;
usage:
	fprintf(stderr, "usage: sensor_engine [--models learn|active|drain|SECONDS] [--ringbuf BYTES] [--queue N]\n"
			"       [--families process,network,file|all] [--fold-ms MS (0: off)] [--seconds N]\n"
			"       [--throttle-ms MS] [--syscall-hook auto|tracepoints|sys_exit]\n");
	return 2;
}
