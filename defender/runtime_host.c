/*
 * runtime_host: host runtime policies (Prisma's runtime.HostPolicy) translated into container
 * policy documents (runtime.ContainerPolicy) and parsed by runtime_policy_from_json(), so that one
 * rule engine serves both. The translation is total and strict: every member of a host rule is
 * either translated, or type-checked and ignored (documented in docs/runtime.md, "Host
 * policies"), and anything else is refused with a sentence naming it. Errors found by the
 * container parser are reported with the host member names (the container path in the message
 * is rewritten), so a user never sees a member name they did not write.
 */
#include "runtime_host.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR(...)                                                   \
	do {                                                       \
		if (err != NULL && errlen > 0)                     \
			snprintf(err, errlen, __VA_ARGS__);        \
	} while (0)

static const char *const effects[] = { "disable", "alert", "prevent", "block", NULL };

/* A member that is accepted and not enforced must still have its type. */
static int check_effect(const json_t *obj, const char *key, const char *where, char *err,
			size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	const char *s;

	if (v == NULL || json_is_null(v))
		return 0;
	if ((s = json_string_value(v)) != NULL)
		for (size_t i = 0; effects[i]; i++)
			if (strcmp(s, effects[i]) == 0)
				return 0;
	ERR("%s.%s: not an effect (disable, alert, prevent, block)", where, key);
	return -EINVAL;
}

static int check_type(const json_t *obj, const char *key, json_type t, const char *where,
		      char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	static const char *const names[] = { [JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string", [JSON_TRUE] = "a boolean" };

	if (v == NULL || json_is_null(v))
		return 0;
	if (t == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == t)
		return 0;
	ERR("%s.%s: not %s", where, key, names[t]);
	return -EINVAL;
}

/* Copies obj[from] to out[to] when present and not null. */
static int copy(json_t *out, const char *to, const json_t *obj, const char *from)
{
	json_t *v = json_object_get(obj, from);

	if (v == NULL || json_is_null(v))
		return 0;
	return json_object_set(out, to, v) == 0 ? 0 : -ENOMEM;
}

/* fileIntegrityRules / logInspectionRules: arrays of objects with known members, ignored. */
static int check_ignored_list(const json_t *rule, const char *key, const char *const *known,
			      const char *where, char *err, size_t errlen)
{
	json_t *v = json_object_get(rule, key), *e;
	char w[200];
	size_t i;
	int r;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v) || json_array_size(v) > RUNTIME_LIST_MAX) {
		ERR("%s.%s: not an array of at most %d objects", where, key, RUNTIME_LIST_MAX);
		return -EINVAL;
	}
	json_array_foreach(v, i, e) {
		snprintf(w, sizeof(w), "%.150s.%s[%zu]", where, key, i);
		if ((r = runtime_check_members(e, w, known, err, errlen)) < 0)
			return r;
	}
	return 0;
}

static int translate_antimalware(const json_t *am, json_t *proc, const char *where, char *err,
				 size_t errlen)
{
	static const char *const known[] = { "allowedProcesses", "cryptoMiner", "customFeed",
		"deniedProcesses", "detectCompilerGeneratedBinary", "encryptedBinaries",
		"executionFlowHijack", "intelligenceFeed", "reverseShell", "serviceUnknownOriginBinary",
		"skipSSHTracking", "suspiciousELFHeaders", "tempFSProc", "userUnknownOriginBinary",
		"webShell", "wildFireAnalysis", NULL };
	static const char *const ignored[] = { "customFeed", "encryptedBinaries",
		"executionFlowHijack", "intelligenceFeed", "serviceUnknownOriginBinary",
		"suspiciousELFHeaders", "userUnknownOriginBinary", "webShell", "wildFireAnalysis",
		NULL };
	char w[200];
	int r;

	if (am == NULL || json_is_null(am))
		return 0;
	snprintf(w, sizeof(w), "%.150s.antiMalware", where);
	if ((r = runtime_check_members(am, w, known, err, errlen)) < 0 ||
	    (r = check_type(am, "detectCompilerGeneratedBinary", JSON_TRUE, w, err, errlen)) < 0 ||
	    (r = check_type(am, "skipSSHTracking", JSON_TRUE, w, err, errlen)) < 0)
		return r;
	for (size_t i = 0; ignored[i]; i++)
		if ((r = check_effect(am, ignored[i], w, err, errlen)) < 0)
			return r;
	if (copy(proc, "deniedList", am, "deniedProcesses") < 0 ||
	    copy(proc, "allowedList", am, "allowedProcesses") < 0 ||
	    copy(proc, "cryptoMinersEffect", am, "cryptoMiner") < 0 ||
	    copy(proc, "reverseShellEffect", am, "reverseShell") < 0 ||
	    copy(proc, "defaultEffect", am, "tempFSProc") < 0)
		return -ENOMEM;
	return 0;
}

static int translate_network(const json_t *hn, json_t *net, const char *where, char *err,
			     size_t errlen)
{
	static const char *const known[] = { "allowedOutboundIPs", "customFeed",
		"deniedListeningPorts", "deniedOutboundIPs", "deniedOutboundPorts", "denyListEffect",
		"intelligenceFeed", NULL };
	json_t *lp, *op;
	char w[200];
	int r;

	if (hn == NULL || json_is_null(hn))
		return 0;
	snprintf(w, sizeof(w), "%.150s.network", where);
	if ((r = runtime_check_members(hn, w, known, err, errlen)) < 0 ||
	    (r = check_effect(hn, "customFeed", w, err, errlen)) < 0 ||
	    (r = check_effect(hn, "intelligenceFeed", w, err, errlen)) < 0)
		return r;
	lp = json_object();
	op = json_object();
	if (lp == NULL || op == NULL || json_object_set_new(net, "listeningPorts", lp) < 0 ||
	    json_object_set_new(net, "outboundPorts", op) < 0)
		return -ENOMEM;
	if (copy(net, "deniedIPs", hn, "deniedOutboundIPs") < 0 ||
	    copy(net, "allowedIPs", hn, "allowedOutboundIPs") < 0 ||
	    copy(net, "deniedIPsEffect", hn, "denyListEffect") < 0 ||
	    copy(lp, "denied", hn, "deniedListeningPorts") < 0 ||
	    copy(lp, "effect", hn, "denyListEffect") < 0 ||
	    copy(op, "denied", hn, "deniedOutboundPorts") < 0 ||
	    copy(op, "effect", hn, "denyListEffect") < 0)
		return -ENOMEM;
	return 0;
}

static int translate_dns(const json_t *hd, json_t *dns, const char *where, char *err, size_t errlen)
{
	static const char *const known[] = { "allow", "deny", "denyListEffect", "intelligenceFeed",
		NULL };
	json_t *dl;
	char w[200];
	int r;

	if (hd == NULL || json_is_null(hd))
		return 0;
	snprintf(w, sizeof(w), "%.150s.dns", where);
	if ((r = runtime_check_members(hd, w, known, err, errlen)) < 0 ||
	    (r = check_effect(hd, "intelligenceFeed", w, err, errlen)) < 0)
		return r;
	if ((dl = json_object()) == NULL || json_object_set_new(dns, "domainList", dl) < 0)
		return -ENOMEM;
	if (copy(dl, "allowed", hd, "allow") < 0 || copy(dl, "denied", hd, "deny") < 0 ||
	    copy(dl, "effect", hd, "denyListEffect") < 0)
		return -ENOMEM;
	return 0;
}

static int translate_rule(const json_t *hr, const char *where, json_t **out, char *err,
			  size_t errlen)
{
	static const char *const known[] = { "antiMalware", "collections", "customRules",
		"disabled", "dns", "fileIntegrityRules", "forensic", "logInspectionRules", "modified",
		"name", "network", "notes", "owner", "previousName", NULL };
	static const char *const fim_known[] = { "dir", "exclusions", "metadata", "path",
		"procWhitelist", "read", "recursive", "write", NULL };
	static const char *const log_known[] = { "path", "regex", NULL };
	static const char *const forensic_known[] = { "activitiesDisabled", "dockerEnabled",
		"readonlyDockerEnabled", "serviceActivitiesEnabled", "sshdEnabled", "sudoEnabled",
		NULL };
	static const char *const copied[] = { "name", "disabled", "collections", "customRules",
		"modified", "notes", "owner", "previousName", NULL };
	json_t *cr = NULL, *proc = NULL, *net = NULL, *dns = NULL, *fs = NULL, *fo;
	char w[200];
	int r;

	*out = NULL;
	if ((r = runtime_check_members(hr, where, known, err, errlen)) < 0 ||
	    (r = check_ignored_list(hr, "fileIntegrityRules", fim_known, where, err, errlen)) < 0 ||
	    (r = check_ignored_list(hr, "logInspectionRules", log_known, where, err, errlen)) < 0)
		return r;
	fo = json_object_get(hr, "forensic");
	if (fo != NULL && !json_is_null(fo)) {
		snprintf(w, sizeof(w), "%.150s.forensic", where);
		if ((r = runtime_check_members(fo, w, forensic_known, err, errlen)) < 0)
			return r;
		for (size_t i = 0; forensic_known[i]; i++)
			if ((r = check_type(fo, forensic_known[i], JSON_TRUE, w, err, errlen)) < 0)
				return r;
	}
	r = -ENOMEM;
	cr = json_object();
	proc = json_pack("{s:s}", "modifiedProcessEffect", "disable");
	net = json_object();
	dns = json_object();
	fs = json_pack("{s:b}", "disabled", 1);
	if (cr == NULL || proc == NULL || net == NULL || dns == NULL || fs == NULL)
		goto fail;
	for (size_t i = 0; copied[i]; i++)
		if (copy(cr, copied[i], hr, copied[i]) < 0)
			goto fail;
	if ((r = translate_antimalware(json_object_get(hr, "antiMalware"), proc, where, err,
				       errlen)) < 0 ||
	    (r = translate_network(json_object_get(hr, "network"), net, where, err, errlen)) < 0 ||
	    (r = translate_dns(json_object_get(hr, "dns"), dns, where, err, errlen)) < 0)
		goto fail;
	r = -ENOMEM;
	if (json_object_set_new(cr, "cloudMetadataEnforcementEffect", json_string("disable")) < 0 ||
	    json_object_set_new(cr, "kubernetesEnforcementEffect", json_string("disable")) < 0 ||
	    json_object_set(cr, "processes", proc) < 0 || json_object_set(cr, "network", net) < 0 ||
	    json_object_set(cr, "dns", dns) < 0 || json_object_set(cr, "filesystem", fs) < 0)
		goto fail;
	*out = cr;
	cr = NULL;
	r = 0;
fail:
	json_decref(cr);
	json_decref(proc);
	json_decref(net);
	json_decref(dns);
	json_decref(fs);
	return r;
}

int runtime_host_policy_translate(const json_t *j, json_t **out, char *err, size_t errlen)
{
	static const char *const known[] = { "_id", "owner", "rules", NULL };
	const json_t *rules = NULL, *id = NULL, *hr;
	json_t *doc = NULL, *crs = NULL, *cr;
	char w[64];
	size_t i;
	int r;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (j == NULL) {
		ERR("policy: no document");
		return -EINVAL;
	}
	if (json_is_array(j)) {
		rules = j;
	} else {
		if ((r = runtime_check_members(j, "policy", known, err, errlen)) < 0 ||
		    (r = check_type(j, "_id", JSON_STRING, "policy", err, errlen)) < 0 ||
		    (r = check_type(j, "owner", JSON_STRING, "policy", err, errlen)) < 0)
			return r;
		id = json_object_get(j, "_id");
		rules = json_object_get(j, "rules");
		if (rules != NULL && json_is_null(rules))
			rules = NULL;
		if (rules != NULL && !json_is_array(rules)) {
			ERR("policy.rules: not an array");
			return -EINVAL;
		}
	}
	if (rules != NULL && json_array_size(rules) > RUNTIME_RULES_MAX) {
		ERR("policy.rules: more than %d rules", RUNTIME_RULES_MAX);
		return -EINVAL;
	}
	r = -ENOMEM;
	if ((crs = json_array()) == NULL ||
	    (doc = json_pack("{s:b}", "learningDisabled", 1)) == NULL)
		goto fail;
	if (json_is_string(id) && json_object_set(doc, "_id", (json_t *)id) < 0)
		goto fail;
	if (rules != NULL) {
		json_array_foreach(rules, i, hr) {
			snprintf(w, sizeof(w), "rules[%zu]", i);
			if ((r = translate_rule(hr, w, &cr, err, errlen)) < 0)
				goto fail;
			if (json_array_append_new(crs, cr) < 0) {
				r = -ENOMEM;
				goto fail;
			}
		}
	}
	if (json_object_set(doc, "rules", crs) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	*out = doc;
	doc = NULL;
	r = 0;
fail:
	json_decref(crs);
	json_decref(doc);
	return r;
}

/* The container parser names container members: say the host ones instead. Longer names first
 * where one is a prefix of another. */
static void rewrite_err(char *err, size_t errlen)
{
	static const char *const map[][2] = {
		{ ".network.deniedIPsEffect", ".network.denyListEffect" },
		{ ".network.deniedIPs", ".network.deniedOutboundIPs" },
		{ ".network.allowedIPs", ".network.allowedOutboundIPs" },
		{ ".network.listeningPorts.denied", ".network.deniedListeningPorts" },
		{ ".network.listeningPorts.effect", ".network.denyListEffect" },
		{ ".network.outboundPorts.denied", ".network.deniedOutboundPorts" },
		{ ".network.outboundPorts.effect", ".network.denyListEffect" },
		{ ".dns.domainList.allowed", ".dns.allow" },
		{ ".dns.domainList.denied", ".dns.deny" },
		{ ".dns.domainList.effect", ".dns.denyListEffect" },
		{ ".processes.deniedList", ".antiMalware.deniedProcesses" },
		{ ".processes.allowedList", ".antiMalware.allowedProcesses" },
		{ ".processes.cryptoMinersEffect", ".antiMalware.cryptoMiner" },
		{ ".processes.reverseShellEffect", ".antiMalware.reverseShell" },
		{ ".processes.defaultEffect", ".antiMalware.tempFSProc" },
	};
	char buf[1024];

	if (err == NULL || errlen == 0)
		return;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		char *p = strstr(err, map[i][0]);
		size_t fl = strlen(map[i][0]);
		char next;

		if (p == NULL)
			continue;
		next = p[fl];
		if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z'))
			continue;
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - err), err, map[i][1], p + fl);
		snprintf(err, errlen, "%s", buf);
		return;
	}
}

int runtime_host_policy_from_json(const json_t *j, struct runtime_policy **out, char *err,
				  size_t errlen)
{
	json_t *doc = NULL;
	int r;

	*out = NULL;
	if ((r = runtime_host_policy_translate(j, &doc, err, errlen)) < 0)
		return r;
	r = runtime_policy_from_json(doc, out, err, errlen);
	if (r == -EINVAL)
		rewrite_err(err, errlen);
	json_decref(doc);
	return r;
}
