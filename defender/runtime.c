/*
 * runtime: container runtime rules (Prisma's runtime.ContainerPolicy) and learned models; see
 * runtime.h for the contract and docs/runtime.md for the design.
 *
 * Guarantees: a policy document is untrusted (it comes from the Console): every member is checked
 * for type and bounds, unknown members are refused, a bad document is refused whole. Evaluation
 * allocates only when a model learns something new, never crashes on any event, and decides in
 * a fixed order: deny lists, allow lists (exempt), built-in detections, learned model.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <garrison/util.h>

#include "runtime.h"

#define ERR(...) snprintf(err, errlen, __VA_ARGS__)

typedef enum runtime_effect eff_t;

struct strlist {
	char **v;
	size_t n;
};

struct portrange {
	uint16_t start, end;
};

struct portlist {
	struct portrange *v;
	size_t n;
};

struct ipnet {
	int family;
	uint8_t addr[16];
	int prefix;
};

struct iplist {
	struct ipnet *v;
	size_t n;
};

struct rule {
	char *name;
	int disabled;
	struct collection **cols;
	size_t ncols;
	struct {
		int disabled;
		eff_t def, denied_eff, crypto, modified, revshell;
		struct strlist allowed, denied;
	} proc;
	struct {
		int disabled;
		eff_t def, denied_ips_eff, lport_eff, oport_eff;
		struct iplist allowed, denied;
		struct portlist lallow, ldeny, oallow, odeny;
	} net;
	struct {
		int disabled;
		eff_t def, list_eff;
		struct strlist allowed, denied;
	} dns;
	struct {
		int disabled;
		eff_t def, denied_eff;
		struct strlist allowed, denied;
	} fs;
	eff_t cloud, kube;
};

struct runtime_policy {
	int learning_disabled;
	struct rule *rules;
	size_t n;
};

const char *runtime_effect_name(enum runtime_effect e)
{
	switch (e) {
	case RUNTIME_EFFECT_DISABLE: return "disable";
	case RUNTIME_EFFECT_ALERT: return "alert";
	case RUNTIME_EFFECT_PREVENT: return "prevent";
	case RUNTIME_EFFECT_BLOCK: return "block";
	default: return "";
	}
}

/* ---- parsing ---- */

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void rule_free(struct rule *r)
{
	free(r->name);
	for (size_t i = 0; i < r->ncols; i++)
		collection_free(r->cols[i]);
	free(r->cols);
	strlist_free(&r->proc.allowed);
	strlist_free(&r->proc.denied);
	free(r->net.allowed.v);
	free(r->net.denied.v);
	free(r->net.lallow.v);
	free(r->net.ldeny.v);
	free(r->net.oallow.v);
	free(r->net.odeny.v);
	strlist_free(&r->dns.allowed);
	strlist_free(&r->dns.denied);
	strlist_free(&r->fs.allowed);
	strlist_free(&r->fs.denied);
}

void runtime_policy_free(struct runtime_policy *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++)
		rule_free(&p->rules[i]);
	free(p->rules);
	free(p);
}

size_t runtime_policy_rules(const struct runtime_policy *p)
{
	return p ? p->n : 0;
}

int runtime_check_members(const json_t *obj, const char *where, const char *const *known, char *err,
			  size_t errlen)
{
	const char *k;
	json_t *v;

	if (!json_is_object(obj)) {
		ERR("%s: not an object", where);
		return -EINVAL;
	}
	json_object_foreach((json_t *)obj, k, v) {
		size_t i;
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(known[i], k) == 0)
				break;
		if (known[i] == NULL) {
			ERR("%s: unknown member \"%.64s\"", where, k);
			return -EINVAL;
		}
	}
	return 0;
}

static int get_bool(const json_t *obj, const char *key, int *out, const char *where, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		ERR("%s.%s: not a boolean", where, key);
		return -EINVAL;
	}
	*out = json_is_true(v);
	return 0;
}

/* A missing effect is "alert" (Prisma's default rule alerts on every section). */
static int get_effect(const json_t *obj, const char *key, eff_t *out, const char *where, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	*out = RUNTIME_EFFECT_ALERT;
	if (v == NULL || json_is_null(v))
		return 0;
	s = json_string_value(v);
	if (s == NULL) {
		ERR("%s.%s: not a string", where, key);
		return -EINVAL;
	}
	if (strcmp(s, "disable") == 0)
		*out = RUNTIME_EFFECT_DISABLE;
	else if (strcmp(s, "alert") == 0)
		*out = RUNTIME_EFFECT_ALERT;
	else if (strcmp(s, "prevent") == 0)
		*out = RUNTIME_EFFECT_PREVENT;
	else if (strcmp(s, "block") == 0)
		*out = RUNTIME_EFFECT_BLOCK;
	else {
		ERR("%s.%s: \"%.32s\" is not an effect (disable, alert, prevent, block)", where, key, s);
		return -EINVAL;
	}
	return 0;
}

static int get_strlist(const json_t *obj, const char *key, struct strlist *out, const char *where,
		       char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key), *e;
	size_t i;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		ERR("%s.%s: not an array", where, key);
		return -EINVAL;
	}
	if (json_array_size(v) > RUNTIME_LIST_MAX) {
		ERR("%s.%s: more than %d entries", where, key, RUNTIME_LIST_MAX);
		return -EINVAL;
	}
	out->v = calloc(json_array_size(v) + 1, sizeof(char *));
	if (out->v == NULL)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e);
		if (s == NULL || s[0] == 0 || strlen(s) > 1024) {
			ERR("%s.%s[%zu]: not a non-empty string of at most 1024 bytes", where, key, i);
			return -EINVAL;
		}
		out->v[out->n] = strdup(s);
		if (out->v[out->n] == NULL)
			return -ENOMEM;
		out->n++;
	}
	return 0;
}

static int parse_ipnet(const char *s, struct ipnet *n)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	int max;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = 0;
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	n->prefix = max;
	if (slash) {
		const char *p = slash + 1;
		int v = 0;
		if (*p == 0 || strlen(p) > 3)
			return -EINVAL;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return -EINVAL;
			v = v * 10 + (*p - '0');
		}
		if (v > max)
			return -EINVAL;
		n->prefix = v;
	}
	return 0;
}

static int get_iplist(const json_t *obj, const char *key, struct iplist *out, const char *where,
		      char *err, size_t errlen)
{
	struct strlist l = { 0 };
	int r = get_strlist(obj, key, &l, where, err, errlen);

	if (r < 0)
		goto out;
	out->v = calloc(l.n + 1, sizeof(*out->v));
	if (out->v == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (parse_ipnet(l.v[i], &out->v[i]) != 0) {
			ERR("%s.%s[%zu]: not an IP address or CIDR", where, key, i);
			r = -EINVAL;
			goto out;
		}
		out->n++;
	}
out:
	strlist_free(&l);
	return r;
}

static int get_ports(const json_t *obj, const char *key, struct portlist *out, const char *where,
		     char *err, size_t errlen)
{
	static const char *const known[] = { "start", "end", "deny", NULL };
	json_t *v = json_object_get(obj, key), *e;
	char w[160];
	size_t i;
	int r;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > RUNTIME_LIST_MAX) {
		ERR("%s.%s: not an array of at most %d port ranges", where, key, RUNTIME_LIST_MAX);
		return -EINVAL;
	}
	out->v = calloc(json_array_size(v) + 1, sizeof(*out->v));
	if (out->v == NULL)
		return -ENOMEM;
	json_array_foreach(v, i, e) {
		snprintf(w, sizeof(w), "%.100s.%s[%zu]", where, key, i);
		if ((r = runtime_check_members(e, w, known, err, errlen)) < 0)
			return r;
		json_t *js = json_object_get(e, "start"), *je = json_object_get(e, "end");
		if (!json_is_integer(js) || (je != NULL && !json_is_integer(je))) {
			ERR("%s: start (and end) must be integers", w);
			return -EINVAL;
		}
		json_int_t s = json_integer_value(js), en = je ? json_integer_value(je) : s;
		if (en == 0)
			en = s; /* Prisma writes end 0 for a single port */
		if (s < 1 || s > 65535 || en < s || en > 65535) {
			ERR("%s: ports must be 1..65535 with start <= end", w);
			return -EINVAL;
		}
		out->v[out->n].start = (uint16_t)s;
		out->v[out->n].end = (uint16_t)en;
		out->n++;
	}
	return 0;
}

static int get_sub(const json_t *obj, const char *key, const json_t **sub)
{
	json_t *v = json_object_get(obj, key);

	*sub = (v == NULL || json_is_null(v)) ? NULL : v;
	return 0;
}

static int parse_deny(const json_t *sec, const char *key, struct strlist *paths, eff_t *eff,
		      const char *where, char *err, size_t errlen)
{
	static const char *const known[] = { "effect", "paths", NULL };
	const json_t *d;
	char w[160];
	int r;

	*eff = RUNTIME_EFFECT_ALERT;
	get_sub(sec, key, &d);
	if (d == NULL)
		return 0;
	snprintf(w, sizeof(w), "%.100s.%s", where, key);
	if ((r = runtime_check_members(d, w, known, err, errlen)) < 0 ||
	    (r = get_effect(d, "effect", eff, w, err, errlen)) < 0 ||
	    (r = get_strlist(d, "paths", paths, w, err, errlen)) < 0)
		return r;
	return 0;
}

static int parse_processes(const json_t *sec, struct rule *ru, const char *where, char *err,
			   size_t errlen)
{
	static const char *const known[] = { "allowedList", "checkParentChild", "cryptoMinersEffect",
		"defaultEffect", "deniedList", "disabled", "lateralMovementEffect", "modifiedProcessEffect",
		"reverseShellEffect", "suidBinariesEffect", NULL };
	eff_t ignored;
	int r, b;

	ru->proc.def = ru->proc.denied_eff = ru->proc.crypto = ru->proc.modified = ru->proc.revshell =
		RUNTIME_EFFECT_ALERT;
	if (sec == NULL)
		return 0;
	if ((r = runtime_check_members(sec, where, known, err, errlen)) < 0 ||
	    (r = get_bool(sec, "disabled", &ru->proc.disabled, where, err, errlen)) < 0 ||
	    (r = get_bool(sec, "checkParentChild", &b, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "defaultEffect", &ru->proc.def, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "cryptoMinersEffect", &ru->proc.crypto, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "modifiedProcessEffect", &ru->proc.modified, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "reverseShellEffect", &ru->proc.revshell, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "lateralMovementEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "suidBinariesEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_strlist(sec, "allowedList", &ru->proc.allowed, where, err, errlen)) < 0 ||
	    (r = parse_deny(sec, "deniedList", &ru->proc.denied, &ru->proc.denied_eff, where, err,
			    errlen)) < 0)
		return r;
	return 0;
}

static int parse_portlist_rule(const json_t *sec, const char *key, struct portlist *allow,
			       struct portlist *deny, eff_t *eff, const char *where, char *err,
			       size_t errlen)
{
	static const char *const known[] = { "allowed", "denied", "effect", NULL };
	const json_t *d;
	char w[160];
	int r;

	*eff = RUNTIME_EFFECT_ALERT;
	get_sub(sec, key, &d);
	if (d == NULL)
		return 0;
	snprintf(w, sizeof(w), "%.100s.%s", where, key);
	if ((r = runtime_check_members(d, w, known, err, errlen)) < 0 ||
	    (r = get_effect(d, "effect", eff, w, err, errlen)) < 0 ||
	    (r = get_ports(d, "allowed", allow, w, err, errlen)) < 0 ||
	    (r = get_ports(d, "denied", deny, w, err, errlen)) < 0)
		return r;
	return 0;
}

static int parse_network(const json_t *sec, struct rule *ru, const char *where, char *err,
			 size_t errlen)
{
	static const char *const known[] = { "allowedIPs", "defaultEffect", "deniedIPs",
		"deniedIPsEffect", "disabled", "listeningPorts", "modifiedProcEffect", "outboundPorts",
		"portScanEffect", "rawSocketsEffect", NULL };
	eff_t ignored;
	int r;

	ru->net.def = ru->net.denied_ips_eff = ru->net.lport_eff = ru->net.oport_eff =
		RUNTIME_EFFECT_ALERT;
	if (sec == NULL)
		return 0;
	if ((r = runtime_check_members(sec, where, known, err, errlen)) < 0 ||
	    (r = get_bool(sec, "disabled", &ru->net.disabled, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "defaultEffect", &ru->net.def, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "deniedIPsEffect", &ru->net.denied_ips_eff, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "modifiedProcEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "portScanEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "rawSocketsEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_iplist(sec, "allowedIPs", &ru->net.allowed, where, err, errlen)) < 0 ||
	    (r = get_iplist(sec, "deniedIPs", &ru->net.denied, where, err, errlen)) < 0 ||
	    (r = parse_portlist_rule(sec, "listeningPorts", &ru->net.lallow, &ru->net.ldeny,
				     &ru->net.lport_eff, where, err, errlen)) < 0 ||
	    (r = parse_portlist_rule(sec, "outboundPorts", &ru->net.oallow, &ru->net.odeny,
				     &ru->net.oport_eff, where, err, errlen)) < 0)
		return r;
	return 0;
}

static int parse_dns(const json_t *sec, struct rule *ru, const char *where, char *err, size_t errlen)
{
	static const char *const known[] = { "defaultEffect", "disabled", "domainList", NULL };
	static const char *const known_list[] = { "allowed", "denied", "effect", NULL };
	const json_t *d;
	char w[160];
	int r;

	ru->dns.def = ru->dns.list_eff = RUNTIME_EFFECT_ALERT;
	if (sec == NULL)
		return 0;
	if ((r = runtime_check_members(sec, where, known, err, errlen)) < 0 ||
	    (r = get_bool(sec, "disabled", &ru->dns.disabled, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "defaultEffect", &ru->dns.def, where, err, errlen)) < 0)
		return r;
	get_sub(sec, "domainList", &d);
	if (d == NULL)
		return 0;
	snprintf(w, sizeof(w), "%.100s.domainList", where);
	if ((r = runtime_check_members(d, w, known_list, err, errlen)) < 0 ||
	    (r = get_effect(d, "effect", &ru->dns.list_eff, w, err, errlen)) < 0 ||
	    (r = get_strlist(d, "allowed", &ru->dns.allowed, w, err, errlen)) < 0 ||
	    (r = get_strlist(d, "denied", &ru->dns.denied, w, err, errlen)) < 0)
		return r;
	return 0;
}

static int parse_filesystem(const json_t *sec, struct rule *ru, const char *where, char *err,
			    size_t errlen)
{
	static const char *const known[] = { "allowedList", "backdoorFilesEffect", "defaultEffect",
		"deniedList", "disabled", "encryptedBinariesEffect", "newFilesEffect",
		"suspiciousELFHeadersEffect", NULL };
	static const char *const ignored_effects[] = { "backdoorFilesEffect", "encryptedBinariesEffect",
		"newFilesEffect", "suspiciousELFHeadersEffect", NULL };
	eff_t ignored;
	int r;

	ru->fs.def = ru->fs.denied_eff = RUNTIME_EFFECT_ALERT;
	if (sec == NULL)
		return 0;
	if ((r = runtime_check_members(sec, where, known, err, errlen)) < 0 ||
	    (r = get_bool(sec, "disabled", &ru->fs.disabled, where, err, errlen)) < 0 ||
	    (r = get_effect(sec, "defaultEffect", &ru->fs.def, where, err, errlen)) < 0 ||
	    (r = get_strlist(sec, "allowedList", &ru->fs.allowed, where, err, errlen)) < 0 ||
	    (r = parse_deny(sec, "deniedList", &ru->fs.denied, &ru->fs.denied_eff, where, err,
			    errlen)) < 0)
		return r;
	for (size_t i = 0; ignored_effects[i]; i++)
		if ((r = get_effect(sec, ignored_effects[i], &ignored, where, err, errlen)) < 0)
			return r;
	return 0;
}

static int parse_rule(const json_t *j, struct rule *ru, const char *where, char *err, size_t errlen)
{
	static const char *const known[] = { "advancedProtectionEffect", "cloudMetadataEnforcementEffect",
		"collections", "customRules", "disabled", "dns", "filesystem", "kubernetesEnforcementEffect",
		"modified", "name", "network", "notes", "owner", "previousName", "processes",
		"skipExecSessions", "wildFireAnalysis", NULL };
	const json_t *sec;
	json_t *cols, *c;
	char w[200], cerr[200];
	eff_t ignored;
	size_t i;
	int r, b;

	if ((r = runtime_check_members(j, where, known, err, errlen)) < 0)
		return r;
	const char *name = json_string_value(json_object_get(j, "name"));
	if (name == NULL || name[0] == 0 || strlen(name) > 255) {
		ERR("%s.name: a rule needs a name of 1..255 bytes", where);
		return -EINVAL;
	}
	if ((ru->name = strdup(name)) == NULL)
		return -ENOMEM;
	if ((r = get_bool(j, "disabled", &ru->disabled, where, err, errlen)) < 0 ||
	    (r = get_bool(j, "skipExecSessions", &b, where, err, errlen)) < 0 ||
	    (r = get_effect(j, "cloudMetadataEnforcementEffect", &ru->cloud, where, err, errlen)) < 0 ||
	    (r = get_effect(j, "kubernetesEnforcementEffect", &ru->kube, where, err, errlen)) < 0 ||
	    (r = get_effect(j, "advancedProtectionEffect", &ignored, where, err, errlen)) < 0 ||
	    (r = get_effect(j, "wildFireAnalysis", &ignored, where, err, errlen)) < 0)
		return r;
	cols = json_object_get(j, "collections");
	if (cols != NULL && !json_is_null(cols)) {
		if (!json_is_array(cols) || json_array_size(cols) > 256) {
			ERR("%s.collections: not an array of at most 256 collections", where);
			return -EINVAL;
		}
		ru->cols = calloc(json_array_size(cols) + 1, sizeof(*ru->cols));
		if (ru->cols == NULL)
			return -ENOMEM;
		json_array_foreach(cols, i, c) {
			r = collection_from_json(c, &ru->cols[ru->ncols], cerr, sizeof(cerr));
			if (r == -EINVAL)
				ERR("%s.collections[%zu]: %s", where, i, cerr);
			if (r < 0)
				return r;
			ru->ncols++;
		}
	}
	snprintf(w, sizeof(w), "%.150s.processes", where);
	get_sub(j, "processes", &sec);
	if ((r = parse_processes(sec, ru, w, err, errlen)) < 0)
		return r;
	snprintf(w, sizeof(w), "%.150s.network", where);
	get_sub(j, "network", &sec);
	if ((r = parse_network(sec, ru, w, err, errlen)) < 0)
		return r;
	snprintf(w, sizeof(w), "%.150s.dns", where);
	get_sub(j, "dns", &sec);
	if ((r = parse_dns(sec, ru, w, err, errlen)) < 0)
		return r;
	snprintf(w, sizeof(w), "%.150s.filesystem", where);
	get_sub(j, "filesystem", &sec);
	if ((r = parse_filesystem(sec, ru, w, err, errlen)) < 0)
		return r;
	return 0;
}

int runtime_policy_from_json(const json_t *j, struct runtime_policy **out, char *err, size_t errlen)
{
	static const char *const known[] = { "_id", "learningDisabled", "rules", NULL };
	char dummy[8], w[64];
	struct runtime_policy *p = NULL;
	json_t *rules, *rj;
	size_t i;
	int r;

	if (err == NULL) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	err[0] = 0;
	*out = NULL;
	if (j == NULL) {
		ERR("policy: no document");
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	if (json_is_array(j)) {
		rules = (json_t *)j;
	} else {
		if ((r = runtime_check_members(j, "policy", known, err, errlen)) < 0 ||
		    (r = get_bool(j, "learningDisabled", &p->learning_disabled, "policy", err, errlen)) < 0)
			goto fail;
		json_t *id = json_object_get(j, "_id");
		if (id != NULL && !json_is_string(id)) {
			ERR("policy._id: not a string");
			r = -EINVAL;
			goto fail;
		}
		rules = json_object_get(j, "rules");
		if (rules == NULL || json_is_null(rules))
			rules = NULL;
		else if (!json_is_array(rules)) {
			ERR("policy.rules: not an array");
			r = -EINVAL;
			goto fail;
		}
	}
	if (rules != NULL) {
		if (json_array_size(rules) > RUNTIME_RULES_MAX) {
			ERR("policy.rules: more than %d rules", RUNTIME_RULES_MAX);
			r = -EINVAL;
			goto fail;
		}
		p->rules = calloc(json_array_size(rules) + 1, sizeof(*p->rules));
		if (p->rules == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		json_array_foreach(rules, i, rj) {
			snprintf(w, sizeof(w), "rules[%zu]", i);
			p->n++;
			if ((r = parse_rule(rj, &p->rules[i], w, err, errlen)) < 0)
				goto fail;
			for (size_t k = 0; k < i; k++)
				if (strcmp(p->rules[k].name, p->rules[i].name) == 0) {
					ERR("%s.name: \"%.64s\" is the name of rules[%zu] too", w,
					    p->rules[i].name, k);
					r = -EINVAL;
					goto fail;
				}
		}
	}
	*out = p;
	return 0;
fail:
	if (r == -ENOMEM && err[0] == 0)
		ERR("policy: out of memory");
	runtime_policy_free(p);
	return r;
}

/* ---- matching helpers ---- */

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A process pattern with a '/' matches the path, one without matches the file name. */
static int proc_list_match(const struct strlist *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *pat = l->v[i];
		if (strchr(pat, '/') ? fnmatch(pat, path, 0) == 0 : fnmatch(pat, base_name(path), 0) == 0)
			return 1;
	}
	return 0;
}

/* A path pattern matches the path (glob) or anything under it ("/etc" and "/etc/" both cover
 * /etc/passwd). */
static int path_list_match(const struct strlist *l, const char *path)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *pat = l->v[i];
		size_t n = strlen(pat);
		if (fnmatch(pat, path, 0) == 0)
			return 1;
		while (n > 1 && pat[n - 1] == '/')
			n--;
		if (strncmp(pat, path, n) == 0 && (path[n] == '/' || path[n] == 0))
			return 1;
	}
	return 0;
}

/* "example.com" matches itself; "*.example.com" matches subdomains and example.com itself; any
 * other glob with fnmatch. Case is ignored; a trailing dot on the name is ignored. */
static int domain_list_match(const struct strlist *l, const char *qname)
{
	char name[EVENT_QNAME_MAX];
	size_t n = strlen(qname);

	if (n >= sizeof(name))
		return 0;
	memcpy(name, qname, n + 1);
	if (n > 1 && name[n - 1] == '.')
		name[--n] = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *pat = l->v[i];
		if (strcasecmp(pat, name) == 0 || fnmatch(pat, name, FNM_CASEFOLD) == 0)
			return 1;
		if (strncmp(pat, "*.", 2) == 0 && strcasecmp(pat + 2, name) == 0)
			return 1;
	}
	return 0;
}

static int ip_in(const struct iplist *l, int family, const uint8_t *addr)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct ipnet *n = &l->v[i];
		int bits = n->prefix, full = bits / 8, rest = bits % 8;
		if (n->family != family)
			continue;
		if (memcmp(n->addr, addr, (size_t)full) != 0)
			continue;
		if (rest && ((n->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		return 1;
	}
	return 0;
}

static int port_in(const struct portlist *l, uint16_t port)
{
	for (size_t i = 0; i < l->n; i++)
		if (port >= l->v[i].start && port <= l->v[i].end)
			return 1;
	return 0;
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "ip";
}

/* ---- learned models ---- */

/* A set of learned strings: a vector in learning order (what the profiles show) and an
 * open-addressing index on it (slots hold position + 1), so that a lookup on every event costs one
 * hash, not a comparison with each of up to RUNTIME_MODEL_SET_MAX strings. */
struct strset {
	char **v;
	size_t n, cap;
	uint32_t *idx;
	size_t nidx; /* a power of two, at least twice n; 0 when empty */
};

struct model {
	char *image, *namespace_, *cluster;
	uint64_t start_ns; /* 0: starts at its next event */
	uint64_t created_ns;
	struct strset procs, lports, oports, dns, paths;
	uint64_t overflow;
};

struct runtime_models {
	uint64_t learn_ns, dryrun_ns;
	struct model *v;
	size_t n, cap;
};

static void strset_free(struct strset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	free(s->idx);
	memset(s, 0, sizeof(*s));
}

static uint64_t str_hash(const char *v)
{
	uint64_t h = 1469598103934665603ull;

	for (const unsigned char *c = (const unsigned char *)v; *c; c++)
		h = (h ^ *c) * 1099511628211ull;
	return h;
}

/* The index slot of v: where it is, or the empty slot where it would go. */
static size_t strset_slot(const struct strset *s, const char *v)
{
	size_t mask = s->nidx - 1, i = (size_t)str_hash(v) & mask;

	while (s->idx[i] != 0 && strcmp(s->v[s->idx[i] - 1], v) != 0)
		i = (i + 1) & mask;
	return i;
}

static int strset_has(const struct strset *s, const char *v)
{
	return s->nidx != 0 && s->idx[strset_slot(s, v)] != 0;
}

/* Rebuilds the index with nidx slots. 0 or -ENOMEM (the old index stays). */
static int strset_reindex(struct strset *s, size_t nidx)
{
	uint32_t *old = s->idx;

	s->idx = calloc(nidx, sizeof(*s->idx));
	if (s->idx == NULL) {
		s->idx = old;
		return -ENOMEM;
	}
	s->nidx = nidx;
	for (size_t i = 0; i < s->n; i++)
		s->idx[strset_slot(s, s->v[i])] = (uint32_t)(i + 1);
	free(old);
	return 0;
}

/* 0 (added or present), -ENOSPC (full: counted by the caller), -ENOMEM. */
static int strset_add(struct strset *s, const char *v)
{
	if (strset_has(s, v))
		return 0;
	if (s->n >= RUNTIME_MODEL_SET_MAX)
		return -ENOSPC;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **nv = realloc(s->v, cap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	if ((s->n + 1) * 2 > s->nidx && strset_reindex(s, s->nidx ? s->nidx * 2 : 32) != 0)
		return -ENOMEM;
	if ((s->v[s->n] = strdup(v)) == NULL)
		return -ENOMEM;
	s->idx[strset_slot(s, v)] = (uint32_t)(s->n + 1);
	s->n++;
	return 0;
}

static void model_clear(struct model *md)
{
	strset_free(&md->procs);
	strset_free(&md->lports);
	strset_free(&md->oports);
	strset_free(&md->dns);
	strset_free(&md->paths);
	md->overflow = 0;
}

int runtime_models_new(uint64_t learn_ns, uint64_t dryrun_ns, struct runtime_models **out)
{
	struct runtime_models *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (m == NULL)
		return -ENOMEM;
	m->learn_ns = learn_ns;
	m->dryrun_ns = dryrun_ns;
	*out = m;
	return 0;
}

void runtime_models_free(struct runtime_models *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		model_clear(&m->v[i]);
		free(m->v[i].image);
		free(m->v[i].namespace_);
		free(m->v[i].cluster);
	}
	free(m->v);
	free(m);
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

static struct model *model_find(const struct runtime_models *m, const char *image, const char *ns,
				const char *cluster)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].image, nz(image)) == 0 && strcmp(m->v[i].namespace_, nz(ns)) == 0 &&
		    strcmp(m->v[i].cluster, nz(cluster)) == 0)
			return &m->v[i];
	return NULL;
}

static struct model *model_get(struct runtime_models *m, const char *image, const char *ns,
			       const char *cluster)
{
	struct model *md = model_find(m, image, ns, cluster);

	if (md != NULL)
		return md;
	if (m->n >= RUNTIME_MODELS_MAX)
		return NULL; /* no room: the workload is judged by its rule alone */
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct model *nv = realloc(m->v, cap * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		m->v = nv;
		m->cap = cap;
	}
	md = &m->v[m->n];
	memset(md, 0, sizeof(*md));
	md->image = strdup(nz(image));
	md->namespace_ = strdup(nz(ns));
	md->cluster = strdup(nz(cluster));
	if (!md->image || !md->namespace_ || !md->cluster) {
		free(md->image);
		free(md->namespace_);
		free(md->cluster);
		return NULL;
	}
	m->n++;
	return md;
}

static enum runtime_model_state model_state(const struct runtime_models *m, const struct model *md,
					    uint64_t now)
{
	if (md->start_ns == 0 || now < md->start_ns + m->learn_ns)
		return RUNTIME_MODEL_LEARNING;
	if (now < md->start_ns + m->learn_ns + m->dryrun_ns)
		return RUNTIME_MODEL_DRY_RUN;
	return RUNTIME_MODEL_ACTIVE;
}

int runtime_models_state(const struct runtime_models *m, const char *image, const char *namespace_,
			 const char *cluster, uint64_t now_ns)
{
	const struct model *md = model_find(m, image, namespace_, cluster);

	return md ? (int)model_state(m, md, now_ns) : -ENOENT;
}

int runtime_models_reset(struct runtime_models *m, const char *image, const char *namespace_,
			 const char *cluster)
{
	struct model *md = model_find(m, image, namespace_, cluster);

	if (md == NULL)
		return -ENOENT;
	model_clear(md);
	md->start_ns = 0;
	return 0;
}

static const char *state_name(enum runtime_model_state s)
{
	return s == RUNTIME_MODEL_LEARNING ? "learning" : s == RUNTIME_MODEL_DRY_RUN ? "dryRun" : "active";
}

static json_t *paths_json(const struct strset *s, const char *key)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n; i++)
		json_array_append_new(a, json_pack("{s:s}", key, s->v[i]));
	return a;
}

static json_t *ports_json(const struct strset *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n; i++) {
		const char *slash = strchr(s->v[i], '/');
		long port = slash ? strtol(slash + 1, NULL, 10) : 0;
		json_array_append_new(a, json_pack("{s:I,s:s%}", "port", (json_int_t)port, "protocol",
						   s->v[i], slash ? (size_t)(slash - s->v[i]) : 0));
	}
	return a;
}

json_t *runtime_models_json(const struct runtime_models *m, uint64_t now_ns)
{
	json_t *arr = json_array();
	char id[1600], created[40];

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct model *md = &m->v[i];
		snprintf(id, sizeof(id), "%.1000s_%.250s_%.250s", md->image, md->namespace_, md->cluster);
		util_time_rfc3339((time_t)(md->created_ns / 1000000000u), created, sizeof(created));
		json_t *o = json_pack(
			"{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:o},s:{s:{s:[{s:s,s:{s:o}}],s:{s:o},s:o}},s:{s:o},s:I}",
			"_id", id, "image", md->image, "namespace", md->namespace_, "cluster", md->cluster,
			"state", state_name(model_state(m, md, now_ns)), "created", created, "processes",
			"static", paths_json(&md->procs, "path"), "network", "behavioral", "listeningPorts",
			"app", "*", "portsData", "ports", ports_json(&md->lports), "outboundPorts", "ports",
			ports_json(&md->oports), "dnsQueries", paths_json(&md->dns, "domainName"),
			"filesystem", "behavioral", paths_json(&md->paths, "path"), "learnedOverflow",
			(json_int_t)md->overflow);
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* ---- models on disk ---- */

#define MODELS_FILE_VERSION 1

static json_t *strset_json(const struct strset *s)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < s->n; i++)
		if (json_array_append_new(a, json_string(s->v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *runtime_models_save_json(const struct runtime_models *m)
{
	json_t *arr = json_array(), *top;

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < m->n; i++) {
		const struct model *md = &m->v[i];
		json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o*,s:o*,s:o*,s:o*,s:o*}", "image", md->image,
				      "namespace", md->namespace_, "cluster", md->cluster, "startNs",
				      (json_int_t)md->start_ns, "createdNs", (json_int_t)md->created_ns,
				      "overflow", (json_int_t)md->overflow, "processes",
				      strset_json(&md->procs), "listeningPorts", strset_json(&md->lports),
				      "outboundPorts", strset_json(&md->oports), "dns", strset_json(&md->dns),
				      "paths", strset_json(&md->paths));
		if (o == NULL || json_object_size(o) != 11 || json_array_append_new(arr, o) != 0) {
			json_decref(o);
			json_decref(arr);
			return NULL;
		}
	}
	top = json_pack("{s:i,s:o}", "version", MODELS_FILE_VERSION, "models", arr);
	return top;
}

static int load_strset(const json_t *o, const char *key, size_t i, struct strset *s, char *err,
		       size_t errlen)
{
	const json_t *a = json_object_get(o, key), *v;
	size_t j;

	if (a == NULL)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > RUNTIME_MODEL_SET_MAX) {
		snprintf(err, errlen, "models[%zu].%s: not an array of at most %d strings", i, key,
			 RUNTIME_MODEL_SET_MAX);
		return -EINVAL;
	}
	json_array_foreach(a, j, v) {
		const char *str = json_string_value(v);
		if (str == NULL || str[0] == 0 || strlen(str) > RUNTIME_MODEL_STR_MAX) {
			snprintf(err, errlen, "models[%zu].%s[%zu]: not a string of 1..%d bytes", i, key, j,
				 RUNTIME_MODEL_STR_MAX);
			return -EINVAL;
		}
		if (strset_add(s, str) != 0)
			return -ENOMEM;
	}
	return 0;
}

static int models_u64(const json_t *o, const char *key, size_t i, uint64_t *out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		snprintf(err, errlen, "models[%zu].%s: not a non-negative integer", i, key);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int models_load(struct runtime_models *m, const json_t *j, char *err, size_t errlen)
{
	static const char *const top_known[] = { "version", "models", NULL };
	static const char *const known[] = { "image", "namespace", "cluster", "startNs", "createdNs",
		"overflow", "processes", "listeningPorts", "outboundPorts", "dns", "paths", NULL };
	const json_t *arr, *o;
	size_t i;
	int r;

	if ((r = runtime_check_members(j, "models file", top_known, err, errlen)) < 0)
		return r;
	if (json_integer_value(json_object_get(j, "version")) != MODELS_FILE_VERSION) {
		snprintf(err, errlen, "models file: version is not %d", MODELS_FILE_VERSION);
		return -EINVAL;
	}
	arr = json_object_get(j, "models");
	if (!json_is_array(arr) || json_array_size(arr) > RUNTIME_MODELS_MAX) {
		snprintf(err, errlen, "models: not an array of at most %d models", RUNTIME_MODELS_MAX);
		return -EINVAL;
	}
	json_array_foreach(arr, i, o) {
		char where[40];
		const char *img, *ns, *cl;
		snprintf(where, sizeof(where), "models[%zu]", i);
		if ((r = runtime_check_members(o, where, known, err, errlen)) < 0)
			return r;
		img = json_string_value(json_object_get(o, "image"));
		ns = json_string_value(json_object_get(o, "namespace"));
		cl = json_string_value(json_object_get(o, "cluster"));
		if (img == NULL || ns == NULL || cl == NULL || strlen(img) > RUNTIME_MODEL_STR_MAX ||
		    strlen(ns) > RUNTIME_MODEL_STR_MAX || strlen(cl) > RUNTIME_MODEL_STR_MAX) {
			snprintf(err, errlen, "%s: image, namespace and cluster must be strings of at most %d bytes",
				 where, RUNTIME_MODEL_STR_MAX);
			return -EINVAL;
		}
		for (size_t k = 0; k < i; k++) {
			const json_t *p = json_array_get(arr, k);
			if (strcmp(img, json_string_value(json_object_get(p, "image"))) == 0 &&
			    strcmp(ns, json_string_value(json_object_get(p, "namespace"))) == 0 &&
			    strcmp(cl, json_string_value(json_object_get(p, "cluster"))) == 0) {
				snprintf(err, errlen, "%s: the same model as models[%zu]", where, k);
				return -EINVAL;
			}
		}
	}
	json_array_foreach(arr, i, o) {
		struct model *md = model_get(m, json_string_value(json_object_get(o, "image")),
					     json_string_value(json_object_get(o, "namespace")),
					     json_string_value(json_object_get(o, "cluster")));
		if (md == NULL)
			return -ENOMEM;
		model_clear(md);
		if ((r = models_u64(o, "startNs", i, &md->start_ns, err, errlen)) < 0 ||
		    (r = models_u64(o, "createdNs", i, &md->created_ns, err, errlen)) < 0 ||
		    (r = models_u64(o, "overflow", i, &md->overflow, err, errlen)) < 0 ||
		    (r = load_strset(o, "processes", i, &md->procs, err, errlen)) < 0 ||
		    (r = load_strset(o, "listeningPorts", i, &md->lports, err, errlen)) < 0 ||
		    (r = load_strset(o, "outboundPorts", i, &md->oports, err, errlen)) < 0 ||
		    (r = load_strset(o, "dns", i, &md->dns, err, errlen)) < 0 ||
		    (r = load_strset(o, "paths", i, &md->paths, err, errlen)) < 0) {
			model_clear(md);
			md->start_ns = 0;
			return r;
		}
	}
	return 0;
}

int runtime_models_load_json(struct runtime_models *m, const json_t *j, char *err, size_t errlen)
{
	struct runtime_models *tmp = NULL;
	int r;

	/* Into a set of its own first: a bad document changes nothing in m. */
	if (runtime_models_new(m->learn_ns, m->dryrun_ns, &tmp) != 0)
		return -ENOMEM;
	r = models_load(tmp, j, err, errlen);
	for (size_t i = 0; r == 0 && i < tmp->n; i++) {
		struct model *src = &tmp->v[i], *dst = model_get(m, src->image, src->namespace_, src->cluster);
		if (dst == NULL) {
			r = -ENOMEM;
			break;
		}
		model_clear(dst);
		dst->start_ns = src->start_ns;
		dst->created_ns = src->created_ns;
		dst->overflow = src->overflow;
		dst->procs = src->procs;
		dst->lports = src->lports;
		dst->oports = src->oports;
		dst->dns = src->dns;
		dst->paths = src->paths;
		memset(&src->procs, 0, sizeof(src->procs));
		memset(&src->lports, 0, sizeof(src->lports));
		memset(&src->oports, 0, sizeof(src->oports));
		memset(&src->dns, 0, sizeof(src->dns));
		memset(&src->paths, 0, sizeof(src->paths));
	}
	runtime_models_free(tmp);
	return r;
}

/* ---- evaluation ---- */

static const char *severity_of(const char *attack)
{
	static const char *const high[] = { "cryptoMinerProcess", "reverseShell", "cloudMetadataProbing",
		"kubectlSpawned", "modifiedProcess", NULL };
	static const char *const medium[] = { "explicitlyDeniedProcess", "explicitlyDeniedIP",
		"explicitlyDeniedDNS", "explicitlyDeniedFile", "explicitlyDeniedListeningPort",
		"explicitlyDeniedOutboundPort", "tmpfsProcess", NULL };

	for (size_t i = 0; high[i]; i++)
		if (strcmp(high[i], attack) == 0)
			return "high";
	for (size_t i = 0; medium[i]; i++)
		if (strcmp(medium[i], attack) == 0)
			return "medium";
	return "low";
}

/* Fills d and returns 1 unless eff is disable (then 0: the check is off). */
__attribute__((format(printf, 5, 6))) static int decide(struct runtime_decision *d, eff_t eff,
							 const char *type, const char *attack,
							 const char *fmt, ...)
{
	va_list ap;

	if (eff == RUNTIME_EFFECT_DISABLE || eff == RUNTIME_EFFECT_NONE)
		return 0;
	d->effect = eff;
	d->type = type;
	d->attack_type = attack;
	d->severity = severity_of(attack);
	va_start(ap, fmt);
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	return 1;
}

static int is_shell(const char *name)
{
	static const char *const shells[] = { "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh",
		"busybox", NULL };

	for (size_t i = 0; shells[i]; i++)
		if (strcmp(shells[i], name) == 0)
			return 1;
	return 0;
}

/* 1 when any argv string contains needle (ASCII case ignored). Bounded by args_len: the kernel's
 * bytes are not trusted to end in a NUL. */
static int args_contain(const struct event *ev, const char *needle)
{
	size_t len = ev->exec.args_len < sizeof(ev->exec.args) ? ev->exec.args_len : sizeof(ev->exec.args) - 1;
	size_t nl = strlen(needle);

	for (size_t off = 0; off < len;) {
		const char *a = ev->exec.args + off;
		size_t n = strnlen(a, len - off);
		for (size_t i = 0; n >= nl && i <= n - nl; i++)
			if (strncasecmp(a + i, needle, nl) == 0)
				return 1;
		off += n + 1;
	}
	return 0;
}

/* 1 when some argv string equals s. */
static int args_have(const struct event *ev, const char *s)
{
	size_t len = ev->exec.args_len < sizeof(ev->exec.args) ? ev->exec.args_len : sizeof(ev->exec.args) - 1;
	size_t sl = strlen(s);

	for (size_t off = 0; off < len;) {
		const char *a = ev->exec.args + off;
		size_t n = strnlen(a, len - off);
		if (n == sl && memcmp(a, s, n) == 0)
			return 1;
		off += n + 1;
	}
	return 0;
}

static int is_miner(const struct event *ev, const char *name)
{
	static const char *const names[] = { "xmrig", "xmr-stak", "minerd", "cpuminer", "ccminer",
		"ethminer", "t-rex", "nbminer", "lolminer", "cgminer", "bfgminer", "nanominer",
		"phoenixminer", "kdevtmpfsi", "kinsing", NULL };
	static const char *const args[] = { "stratum+tcp://", "stratum+ssl://", "stratum2+tcp://",
		"--donate-level", "--coin=monero", "cryptonight", NULL };

	for (size_t i = 0; names[i]; i++)
		if (strcasecmp(names[i], name) == 0)
			return 1;
	for (size_t i = 0; args[i]; i++)
		if (args_contain(ev, args[i]))
			return 1;
	return 0;
}

/* The base name of argv[0] (bounded by args_len), or "" . */
static const char *argv0_base(const struct event *ev, char *buf, size_t size)
{
	size_t len = ev->exec.args_len < sizeof(ev->exec.args) ? ev->exec.args_len : sizeof(ev->exec.args) - 1;
	size_t n = strnlen(ev->exec.args, len);
	const char *a = ev->exec.args, *slash;

	buf[0] = 0;
	if (n == 0 || n >= size)
		return buf;
	memcpy(buf, a, n);
	buf[n] = 0;
	slash = strrchr(buf, '/');
	return slash != NULL ? slash + 1 : buf;
}

/* 1 when the exec runs an interactive-capable shell: by the executable's name, or busybox run as
 * a shell (argv[0] "sh"/"ash", or "busybox sh ..."). Other busybox applets (cat, ls) are not
 * shells: nc -e /bin/cat is not a reverse shell. */
static int runs_shell(const struct event *ev, const char *name)
{
	static const char *const more[] = { "fish", "tcsh", "csh", "yash", "rbash", "posh", NULL };
	char a0[EVENT_PATH_MAX];
	const char *b;

	if (strcmp(name, "busybox") != 0) {
		if (is_shell(name))
			return 1;
		for (size_t i = 0; more[i]; i++)
			if (strcmp(more[i], name) == 0)
				return 1;
		return 0;
	}
	b = argv0_base(ev, a0, sizeof(a0));
	if (strcmp(b, "busybox") != 0)
		return strcmp(b, "") != 0 && is_shell(b);
	/* "busybox sh ...": argv[1]. */
	size_t len = ev->exec.args_len < sizeof(ev->exec.args) ? ev->exec.args_len : sizeof(ev->exec.args) - 1;
	size_t n0 = strnlen(ev->exec.args, len);
	if (n0 + 1 >= len)
		return 0;
	size_t n1 = strnlen(ev->exec.args + n0 + 1, len - n0 - 1);
	if (n1 == 0 || n1 >= sizeof(a0))
		return 0;
	memcpy(a0, ev->exec.args + n0 + 1, n1);
	a0[n1] = 0;
	return strcmp(a0, "busybox") != 0 && is_shell(a0);
}

/* The descriptor (0 or 1) of a shell that is a connected inet socket, or -1. Prisma's rule: a
 * shell whose stdin or stdout is a network connection. stderr alone does not count (services log
 * to sockets). Unix sockets never count: systemd services and docker attach use them. */
static int stdio_socket(const struct event *ev)
{
	for (int fd = 0; fd < 2; fd++)
		if (event_stdio_connected(&ev->exec.stdio[fd]))
			return fd;
	return -1;
}

/* A reverse shell: a shell whose stdin or stdout is a connected inet socket (what the sensor
 * reads at exec; this catches every way of wiring one up: nc -e, python/perl dup2, socat), or,
 * when the event lacks descriptor types (older recordings, back ends that cannot read them),
 * what the command line tells: a shell redirected to /dev/tcp, nc/ncat -e, socat exec:. *fd is
 * the socket descriptor or -1 when the command line decided. */
static int is_reverse_shell(const struct event *ev, const char *name, int *fd)
{
	*fd = -1;
	if (runs_shell(ev, name) && (*fd = stdio_socket(ev)) >= 0)
		return 1;
	if (is_shell(name) && (args_contain(ev, "/dev/tcp/") || args_contain(ev, "/dev/udp/")))
		return 1;
	if ((strcmp(name, "nc") == 0 || strcmp(name, "ncat") == 0 || strcmp(name, "netcat") == 0) &&
	    (args_have(ev, "-e") || args_have(ev, "-c") || args_have(ev, "--exec") ||
	     args_have(ev, "--sh-exec")))
		return 1;
	if (strcmp(name, "socat") == 0 && (args_contain(ev, "exec:") || args_contain(ev, "system:")))
		return 1;
	return 0;
}

/* Decides a reverse shell of ev; 1 when decided. */
static int decide_reverse_shell(struct runtime_decision *d, eff_t eff, const struct event *ev,
				const char *path, int fd)
{
	char peer[INET6_ADDRSTRLEN] = "";
	const struct event_stdio *s;

	if (fd < 0)
		return decide(d, eff, "processes", "reverseShell", "%s launched as a reverse shell", path);
	s = &ev->exec.stdio[fd];
	if (inet_ntop(s->family, s->addr, peer, sizeof(peer)) == NULL)
		peer[0] = 0;
	return decide(d, eff, "processes", "reverseShell",
		      s->family == AF_INET6 ? "%s launched as a reverse shell: its %s is a connection to [%s]:%u"
					    : "%s launched as a reverse shell: its %s is a connection to %s:%u",
		      path, fd == 0 ? "stdin" : "stdout", peer, s->port);
}

static int is_tmpfs_path(const char *path, int tmp_is_tmpfs)
{
	return strncmp(path, "/dev/shm/", 9) == 0 || strncmp(path, "/run/", 5) == 0 ||
	       (tmp_is_tmpfs && strncmp(path, "/tmp/", 5) == 0);
}

/* What the model says about item in set: 0 known or learned now, 1 anomaly; *dry set in dry
 * run (the anomaly is then learned so that it is reported once). */
static int model_check(struct runtime_models *m, struct model *md, struct strset *set,
		       const char *item, uint64_t now, int *dry)
{
	enum runtime_model_state st;

	*dry = 0;
	if (md == NULL)
		return 0;
	if (md->start_ns == 0) {
		md->start_ns = now ? now : 1;
		if (md->created_ns == 0)
			md->created_ns = md->start_ns;
	}
	if (strset_has(set, item))
		return 0;
	st = model_state(m, md, now);
	if (st == RUNTIME_MODEL_ACTIVE)
		return 1;
	if (strset_add(set, item) == -ENOSPC)
		md->overflow++;
	if (st == RUNTIME_MODEL_DRY_RUN) {
		*dry = 1;
		return 1;
	}
	return 0;
}

static int anomaly(struct runtime_decision *d, int dry, eff_t eff, const char *type,
		   const char *attack, const char *what)
{
	if (dry && eff > RUNTIME_EFFECT_ALERT)
		eff = RUNTIME_EFFECT_ALERT;
	if (!decide(d, eff, type, attack, "%s%s is not in the learned model", dry ? "dry run: " : "",
		    what))
		return 0;
	d->dry_run = dry;
	return 1;
}

/* What an exec of a file that names no program was invoked as: for /proc/self/exe,
 * /proc/<pid>/exe and descriptors (/dev/fd/N, /proc/self/fd/N: fexecve), its argv[0] (copied into
 * buf); NULL for an ordinary path or without argv. Busybox's shell runs its applets as
 * /proc/self/exe with the applet's name in argv[0], and busybox picks the applet from it, so for
 * deny lists and miner names argv[0] is what ran. */
static const char *exec_alias(const struct event *ev, char *buf, size_t size)
{
	const char *f = ev->exec.filename, *p;
	size_t n;

	if (strcmp(f, "/proc/self/exe") == 0 || event_exec_of_fd(f)) {
		/* an alias */
	} else if (strncmp(f, "/proc/", 6) == 0) {
		p = f + 6;
		if (*p < '0' || *p > '9')
			return NULL;
		p += strspn(p, "0123456789");
		if (strcmp(p, "/exe") != 0)
			return NULL;
	} else {
		return NULL;
	}
	n = strnlen(ev->exec.args, ev->exec.args_len < sizeof(ev->exec.args) ? ev->exec.args_len : sizeof(ev->exec.args));
	if (n == 0 || n >= size)
		return NULL;
	memcpy(buf, ev->exec.args, n);
	buf[n] = 0;
	return buf;
}

static int eval_exec(const struct rule *ru, struct runtime_models *m, struct model *md,
		     const struct event *ev, const struct runtime_workload *w,
		     struct runtime_decision *d)
{
	const char *path = ev->exec.filename, *name = base_name(path), *alias;
	char abuf[EVENT_PATH_MAX + 1];
	int dry, rfd;

	if (ru->proc.disabled)
		return 0;
	alias = exec_alias(ev, abuf, sizeof(abuf));
	if (proc_list_match(&ru->proc.denied, path) &&
	    decide(d, ru->proc.denied_eff, "processes", "explicitlyDeniedProcess",
		   "%s launched and is explicitly denied by rule %s", path, ru->name))
		return 1;
	if (alias && proc_list_match(&ru->proc.denied, alias) &&
	    decide(d, ru->proc.denied_eff, "processes", "explicitlyDeniedProcess",
		   "%s (%.200s) launched and is explicitly denied by rule %s", path, alias, ru->name))
		return 1;
	if (proc_list_match(&ru->proc.allowed, path))
		return 0;
	if ((is_miner(ev, name) || (alias && is_miner(ev, base_name(alias)))) &&
	    decide(d, ru->proc.crypto, "processes", "cryptoMinerProcess",
		   "%s launched and is a crypto miner", alias ? alias : path))
		return 1;
	if (is_reverse_shell(ev, name, &rfd) && decide_reverse_shell(d, ru->proc.revshell, ev, path, rfd))
		return 1;
	if (ev->container[0] != 0 && strcmp(name, "kubectl") == 0 &&
	    decide(d, ru->kube, "processes", "kubectlSpawned", "%s (kubectl) launched in a container",
		   path))
		return 1;
	if (w->container_start > 0 && ev->exec.exe_ctime > w->container_start &&
	    decide(d, ru->proc.modified, "processes", "modifiedProcess",
		   "%s launched and was created or modified after the container started", path))
		return 1;
	if (is_tmpfs_path(path, w->tmp_is_tmpfs) &&
	    decide(d, ru->proc.def, "processes", "tmpfsProcess", "%s launched from a tmpfs", path))
		return 1;
	if (md && model_check(m, md, &md->procs, path, ev->time_ns, &dry))
		return anomaly(d, dry, ru->proc.def, "processes", "unexpectedProcess", path);
	return 0;
}

static int eval_net(const struct rule *ru, struct runtime_models *m, struct model *md,
		    const struct event *ev, struct runtime_decision *d)
{
	const struct event_net *n = &ev->net;
	int fam = n->family == AF_INET6 ? AF_INET6 : AF_INET;
	char ip[INET6_ADDRSTRLEN] = "?", item[32];
	int dry;

	if (ru->net.disabled)
		return 0;
	inet_ntop(fam, n->addr, ip, sizeof(ip));
	snprintf(item, sizeof(item), "%s/%u", proto_name(n->proto), n->port);
	if (ev->type == EVENT_CONNECT) {
		static const uint8_t md4[4] = { 169, 254, 169, 254 };
		/* fd00:ec2::254 */
		static const uint8_t md6[16] = { 0xfd, 0, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54 };
		if (ip_in(&ru->net.denied, fam, n->addr) &&
		    decide(d, ru->net.denied_ips_eff, "network", "explicitlyDeniedIP",
			   "outbound connection to %s is explicitly denied by rule %s", ip, ru->name))
			return 1;
		if (((fam == AF_INET && memcmp(n->addr, md4, 4) == 0) ||
		     (fam == AF_INET6 && memcmp(n->addr, md6, 16) == 0)) &&
		    decide(d, ru->cloud, "network", "cloudMetadataProbing",
			   "connection to the cloud metadata service %s", ip))
			return 1;
		if (port_in(&ru->net.odeny, n->port) &&
		    decide(d, ru->net.oport_eff, "network", "explicitlyDeniedOutboundPort",
			   "outbound connection to %s port %u is explicitly denied by rule %s", ip, n->port,
			   ru->name))
			return 1;
		if (ip_in(&ru->net.allowed, fam, n->addr) || port_in(&ru->net.oallow, n->port))
			return 0;
		if (md && model_check(m, md, &md->oports, item, ev->time_ns, &dry)) {
			char what[80];
			snprintf(what, sizeof(what), "outbound port %s (to %s)", item, ip);
			return anomaly(d, dry, ru->net.def, "network", "unexpectedOutboundPort", what);
		}
		return 0;
	}
	/* listen, or bind of a UDP socket; a UDP bind to an ephemeral port is a client's. */
	if (ev->type == EVENT_BIND && n->port >= 32768)
		return 0;
	if (port_in(&ru->net.ldeny, n->port) &&
	    decide(d, ru->net.lport_eff, "network", "explicitlyDeniedListeningPort",
		   "listening on port %u is explicitly denied by rule %s", n->port, ru->name))
		return 1;
	if (port_in(&ru->net.lallow, n->port))
		return 0;
	if (md && model_check(m, md, &md->lports, item, ev->time_ns, &dry)) {
		char what[64];
		snprintf(what, sizeof(what), "listening port %s", item);
		return anomaly(d, dry, ru->net.def, "network", "unexpectedListeningPort", what);
	}
	return 0;
}

static int eval_dns(const struct rule *ru, struct runtime_models *m, struct model *md,
		    const struct event *ev, struct runtime_decision *d)
{
	const char *q = ev->dns.qname;
	int dry;

	if (ru->dns.disabled || q[0] == 0)
		return 0;
	if (domain_list_match(&ru->dns.denied, q) &&
	    decide(d, ru->dns.list_eff, "network", "explicitlyDeniedDNS",
		   "DNS query for %s is explicitly denied by rule %s", q, ru->name))
		return 1;
	if (strcasecmp(q, "metadata.google.internal") == 0 &&
	    decide(d, ru->cloud, "network", "cloudMetadataProbing",
		   "DNS query for the cloud metadata service %s", q))
		return 1;
	if (domain_list_match(&ru->dns.allowed, q))
		return 0;
	if (md && model_check(m, md, &md->dns, q, ev->time_ns, &dry)) {
		char what[EVENT_QNAME_MAX + 16];
		snprintf(what, sizeof(what), "DNS name %s", q);
		return anomaly(d, dry, ru->dns.def, "network", "dnsQuery", what);
	}
	return 0;
}

/* What the message calls the operation: an open is a "write" when it asked for writing (the
 * sensor reports those); an open without write access (from fanotify, which has no flags) is an
 * "open". */
static const char *file_op_name(const struct event *ev)
{
	switch (ev->file.op) {
	case EVENT_FILE_OPEN: return (ev->file.flags & O_ACCMODE) != O_RDONLY ? "write" : "open";
	case EVENT_FILE_UNLINK: return "unlink";
	case EVENT_FILE_RENAME: return "rename";
	default: return "chmod";
	}
}

static int eval_file(const struct rule *ru, struct runtime_models *m, struct model *md,
		     const struct event *ev, const struct runtime_workload *w,
		     struct runtime_decision *d)
{
	const char *paths[2] = { ev->file.path, ev->file.op == EVENT_FILE_RENAME ? ev->file.path2 : "" };
	char dir[EVENT_PATH_MAX + 1];
	int dry;

	if (ru->fs.disabled || ev->file.result < 0)
		return 0;
	for (int i = 0; i < 2; i++)
		if (paths[i][0] && path_list_match(&ru->fs.denied, paths[i]) &&
		    decide(d, ru->fs.denied_eff, "filesystem", "explicitlyDeniedFile",
			   "%s of %s is explicitly denied by rule %s", file_op_name(ev),
			   paths[i], ru->name))
			return 1;
	if (path_list_match(&ru->fs.allowed, paths[0]))
		return 0;
	/* The runtime's own setup writes are not the workload's: runc (comm "runc", "runc:[...]"),
	 * and anything in the container's cgroup before the container started. */
	if (strncmp(ev->comm, "runc", 4) == 0 ||
	    (w->container_start > 0 && ev->time_ns / 1000000000u < (uint64_t)w->container_start))
		return 0;
	/* The model holds directories: a workload writing many files in one place is one entry. */
	snprintf(dir, sizeof(dir), "%s", paths[0]);
	char *slash = strrchr(dir, '/');
	if (slash != NULL)
		slash[slash == dir ? 1 : 0] = 0;
	if (md && model_check(m, md, &md->paths, dir, ev->time_ns, &dry)) {
		char what[EVENT_PATH_MAX + 32];
		snprintf(what, sizeof(what), "write in %s", dir);
		return anomaly(d, dry, ru->fs.def, "filesystem", "fileIntegrity", what);
	}
	return 0;
}

int runtime_evaluate(const struct runtime_policy *p, struct runtime_models *m, const struct event *ev,
		     const struct runtime_workload *w, struct runtime_decision *d)
{
	const struct rule *ru = NULL;
	struct model *md = NULL;

	if (p == NULL || ev == NULL || w == NULL || d == NULL)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->type = "";
	d->attack_type = "";
	d->severity = "";
	if (ev->type == EVENT_EXIT || (ev->type == EVENT_EXEC && ev->exec.runtime_setup))
		return 0;
	for (size_t i = 0; i < p->n; i++) {
		if (p->rules[i].disabled)
			continue;
		if (collection_match_any(p->rules[i].cols, p->rules[i].ncols, &w->subject)) {
			ru = &p->rules[i];
			break;
		}
	}
	if (ru == NULL)
		return 0;
	snprintf(d->rule, sizeof(d->rule), "%s", ru->name);
	if (m != NULL && !p->learning_disabled)
		md = model_get(m, w->subject.image, w->subject.namespace_, w->subject.cluster);
	switch (ev->type) {
	case EVENT_EXEC: return eval_exec(ru, m, md, ev, w, d);
	case EVENT_CONNECT:
	case EVENT_LISTEN:
	case EVENT_BIND: return eval_net(ru, m, md, ev, d);
	case EVENT_DNS: return eval_dns(ru, m, md, ev, d);
	case EVENT_FILE: return eval_file(ru, m, md, ev, w, d);
	default: return 0;
	}
}

/* ---- what a rule prevents in the kernel (runtime.h; used by rtenforce.c) ---- */

int runtime_policy_match(const struct runtime_policy *p, const struct runtime_workload *w)
{
	if (p == NULL || w == NULL)
		return -EINVAL;
	for (size_t i = 0; i < p->n && i < RUNTIME_RULES_MAX; i++) {
		if (p->rules[i].disabled)
			continue;
		if (collection_match_any(p->rules[i].cols, p->rules[i].ncols, &w->subject))
			return (int)i;
	}
	return -ENOENT;
}

int runtime_rule_prevent_info(const struct runtime_policy *p, size_t idx,
			      struct runtime_prevent_info *out)
{
	const struct rule *ru;

	if (p == NULL || out == NULL)
		return -EINVAL;
	if (idx >= p->n)
		return -ENOENT;
	ru = &p->rules[idx];
	memset(out, 0, sizeof(*out));
	out->rule = ru->name;
	out->procs = (const char *const *)ru->proc.denied.v;
	out->nprocs = ru->proc.denied.n;
	out->paths = (const char *const *)ru->fs.denied.v;
	out->npaths = ru->fs.denied.n;
	out->nips = ru->net.denied.n;
	out->nports = ru->net.odeny.n;
	out->exec = !ru->proc.disabled &&
		    ((ru->proc.denied_eff == RUNTIME_EFFECT_PREVENT && ru->proc.denied.n > 0) ||
		     ru->proc.crypto == RUNTIME_EFFECT_PREVENT);
	out->open = !ru->fs.disabled && ru->fs.denied_eff == RUNTIME_EFFECT_PREVENT && ru->fs.denied.n > 0;
	out->net = !ru->net.disabled && ru->net.denied_ips_eff == RUNTIME_EFFECT_PREVENT &&
		   ru->net.denied.n > 0;
	out->ports = !ru->net.disabled && ru->net.oport_eff == RUNTIME_EFFECT_PREVENT &&
		     ru->net.odeny.n > 0;
	return 0;
}

int runtime_rule_denied_ip(const struct runtime_policy *p, size_t idx, size_t i,
			   struct runtime_net_prefix *out)
{
	const struct ipnet *n;

	if (p == NULL || out == NULL)
		return -EINVAL;
	if (idx >= p->n || i >= p->rules[idx].net.denied.n)
		return -ENOENT;
	n = &p->rules[idx].net.denied.v[i];
	out->family = n->family;
	memcpy(out->addr, n->addr, sizeof(out->addr));
	out->prefix = n->prefix;
	return 0;
}

int runtime_rule_denied_ports(const struct runtime_policy *p, size_t idx, size_t i, uint16_t *start,
			      uint16_t *end)
{
	if (p == NULL || start == NULL || end == NULL)
		return -EINVAL;
	if (idx >= p->n || i >= p->rules[idx].net.odeny.n)
		return -ENOENT;
	*start = p->rules[idx].net.odeny.v[i].start;
	*end = p->rules[idx].net.odeny.v[i].end;
	return 0;
}
