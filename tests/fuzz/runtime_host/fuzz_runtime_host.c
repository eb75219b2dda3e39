/*
 * fuzz_runtime_host: the host runtime policy parser (defender/runtime_host.c, which translates a
 * runtime.HostPolicy and hands it to defender/runtime.c) on arbitrary bytes. The input is loaded
 * as JSON (duplicate keys rejected) and given to runtime_host_policy_from_json(); when it parses,
 * a few host events are evaluated against it.
 *
 * Both files live in defender/ and are not in libgarrison.a, which the harnesses link: they are
 * compiled into this harness by inclusion, with the event model they use (each defines its own
 * ERR macro).
 *
 * Besides "no crash, no leak", it checks the contract and aborts when broken: a refused document
 * gives -EINVAL (or -ENOMEM), a message and *out NULL; the translation and the parse agree (a
 * document the translation refuses is refused by the parser with the same message); a decision
 * of 1 has an effect of at least alert.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define get_bool event_get_bool /* a static of both event.c and runtime.c */
#include "../../../defender/event.c"
#undef get_bool
#include "../../../defender/runtime.c"
#undef ERR
#include "../../../defender/runtime_host.c"

static void eval(const struct runtime_policy *p)
{
	struct runtime_workload w;
	struct runtime_decision d;
	struct event ev;

	memset(&w, 0, sizeof(w));
	w.subject.host = "node-1";
	w.subject.cluster = "prod";
	memset(&ev, 0, sizeof(ev));
	ev.type = EVENT_EXEC;
	ev.time_ns = 1795762600000000000ull;
	memcpy(ev.exec.filename, "/usr/bin/xmrig", 15);
	memcpy(ev.exec.args, "xmrig\0--donate-level\0", 21);
	ev.exec.args_len = 21;
	if (runtime_evaluate(p, NULL, &ev, &w, &d) == 1 && d.effect < RUNTIME_EFFECT_ALERT)
		abort();
	memset(&ev, 0, sizeof(ev));
	ev.type = EVENT_CONNECT;
	ev.net.family = AF_INET;
	ev.net.port = 4444;
	inet_pton(AF_INET, "203.0.113.7", ev.net.addr);
	if (runtime_evaluate(p, NULL, &ev, &w, &d) == 1 && d.effect < RUNTIME_EFFECT_ALERT)
		abort();
	memset(&ev, 0, sizeof(ev));
	ev.type = EVENT_DNS;
	memcpy(ev.dns.qname, "c2.evil.example", 16);
	if (runtime_evaluate(p, NULL, &ev, &w, &d) == 1 && d.effect < RUNTIME_EFFECT_ALERT)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
			       NULL);
	struct runtime_policy *p = (struct runtime_policy *)1;
	json_t *doc = (json_t *)1;
	char err[256] = "", terr[256] = "";
	int r, t;

	if (j == NULL)
		return 0;
	t = runtime_host_policy_translate(j, &doc, terr, sizeof(terr));
	if ((t == 0) != (doc != NULL) || (t < 0 && t != -EINVAL && t != -ENOMEM))
		abort();
	json_decref(t == 0 ? doc : NULL);
	r = runtime_host_policy_from_json(j, &p, err, sizeof(err));
	if (r == 0) {
		if (p == NULL || t != 0)
			abort();
		eval(p);
		runtime_policy_free(p);
	} else {
		if (p != NULL || (r != -EINVAL && r != -ENOMEM) || (r == -EINVAL && err[0] == '\0'))
			abort();
		if (t == -EINVAL && strcmp(err, terr) != 0)
			abort();
	}
	json_decref(j);
	return 0;
}
