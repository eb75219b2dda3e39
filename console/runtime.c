/*
 * runtime (Console side): validation of what Defenders send for runtime defense, the incident
 * categories, the default policies, and the policy message pushed to Defenders. Policies are
 * checked with the Defender's own parsers (defender/runtime.c, defender/runtime_host.c) so the
 * Console never accepts a policy a Defender would refuse. Audit records are checked with
 * defender/audit.c's reader (bounded strings, integer ranges) and rewritten to their Prisma
 * members only, with the hostname taken from the Defender's certificate, never from the record.
 */
#include "hub.h"
#include "runtime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <garrison/collection.h>
#include <garrison/log.h>
#include <garrison/proto.h>

#include "../defender/audit.h"
#include "../defender/runtime_host.h"

#define ERR(...)                                                   \
	do {                                                       \
		if (err != NULL && errlen > 0)                     \
			snprintf(err, errlen, __VA_ARGS__);        \
	} while (0)

static int digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -EINVAL;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return 0;
}

static int expect(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return -EINVAL;
	(*p)++;
	return 0;
}

int console_runtime_parse_time(const char *s, int64_t *ns)
{
	const char *p = s;
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	int64_t frac = 0, scale = 1000000000ll, secs;

	if (s == NULL || strlen(s) > 64)
		return -EINVAL;
	if (digits(&p, 4, &y) < 0 || expect(&p, "-") < 0 || digits(&p, 2, &mo) < 0 ||
	    expect(&p, "-") < 0 || digits(&p, 2, &d) < 0 || expect(&p, "Tt ") < 0 ||
	    digits(&p, 2, &h) < 0 || expect(&p, ":") < 0 || digits(&p, 2, &mi) < 0 ||
	    expect(&p, ":") < 0 || digits(&p, 2, &sec) < 0)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		p++;
		if (digits(&p, 2, &oh) < 0 || expect(&p, ":") < 0 || digits(&p, 2, &om) < 0 ||
		    oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
	if (secs < 0 || secs > INT64_MAX / 1000000000ll - 1)
		return -EINVAL;
	*ns = secs * 1000000000ll + frac;
	return 0;
}

const char *console_runtime_category(const char *a)
{
	static const char *const map[][2] = {
		{ "reverseShell", "reverseShell" },
		{ "cryptoMinerProcess", "cryptoMiner" },
		{ "cloudMetadataProbing", "cloudProvider" },
		{ "kubectlSpawned", "kubernetes" },
		{ "kubectlDownloaded", "kubernetes" },
		{ "kubeletAPIAccess", "kubernetes" },
		{ "kubeletReadonlyAccess", "kubernetes" },
		{ "modifiedProcess", "alteredBinary" },
		{ "alteredBinary", "alteredBinary" },
		{ "listeningPortModifiedProcess", "alteredBinary" },
		{ "outboundPortModifiedProcess", "alteredBinary" },
		{ "horizontalPortScanning", "portScanning" },
		{ "verticalPortScanning", "portScanning" },
		{ "portScanProcess", "portScanning" },
		{ "lateralMovementProcess", "lateralMovement" },
		{ "explicitlyDeniedIP", "dataExfiltration" },
		{ "explicitlyDeniedOutboundPort", "dataExfiltration" },
		{ "unexpectedOutboundPort", "dataExfiltration" },
		{ "explicitlyDeniedDNS", "dataExfiltration" },
		{ "dnsQuery", "dataExfiltration" },
		{ "feedIP", "dataExfiltration" },
		{ "customFeedIP", "dataExfiltration" },
		{ "feedDNS", "dataExfiltration" },
		{ "suspiciousNetworkActivity", "dataExfiltration" },
		{ "unexpectedListeningPort", "hijackedProcess" },
		{ "explicitlyDeniedListeningPort", "hijackedProcess" },
		{ "unexpectedProcess", "hijackedProcess" },
		{ "policyHijacked", "hijackedProcess" },
		{ "webShell", "hijackedProcess" },
		{ "explicitlyDeniedFile", "hijackedProcess" },
		{ "fileIntegrity", "hijackedProcess" },
		{ "execFileAccess", "hijackedProcess" },
		{ "elfFileAccess", "hijackedProcess" },
		{ "secretFileAccess", "hijackedProcess" },
		{ "regFileAccess", "hijackedProcess" },
		{ "explicitlyDeniedProcess", "suspiciousBinary" },
		{ "tmpfsProcess", "suspiciousBinary" },
		{ "suidBinaries", "suspiciousBinary" },
		{ "unknownOriginBinary", "suspiciousBinary" },
		{ "encryptedBinary", "suspiciousBinary" },
		{ "suspiciousELFHeader", "suspiciousBinary" },
		{ "malwareProcessCustom", "malware" },
		{ "malwareProcessFeed", "malware" },
		{ "malwareFileCustom", "malware" },
		{ "malwareFileFeed", "malware" },
		{ "malwareDownloaded", "malware" },
		{ "wildfireMalware", "malware" },
		{ "sshAccess", "backdoorSSHAccess" },
		{ "administrativeAccount", "backdoorAdministrativeAccount" },
		{ "executionFlowHijackAttempt", "executionFlowHijackAttempt" },
		{ "customRule", "customRule" },
	};

	for (size_t i = 0; a && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(a, map[i][0]) == 0)
			return map[i][1];
	return "suspiciousBinary";
}

#define DEFAULT_RULE_NAME "Default - alert on suspicious runtime behavior"

static json_t *all_collection(void)
{
	struct collection *all = collection_all();
	json_t *j = all ? collection_to_json(all) : NULL;

	collection_free(all);
	return j;
}

json_t *console_runtime_default_policy(const char *kind)
{
	json_t *all = all_collection(), *p;

	if (all == NULL)
		return NULL;
	if (strcmp(kind, "host") == 0)
		p = json_pack(
			"{s:s,s:[{s:s,s:[o],"
			"s:{s:{s:s,s:[]},s:[],s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s},"
			"s:{s:[],s:[],s:[],s:[],s:s,s:s},"
			"s:{s:[],s:[],s:s,s:s}}]}",
			"_id", "hostRuntime", "rules", "name", DEFAULT_RULE_NAME, "collections", all,
			"antiMalware", "deniedProcesses", "effect", "alert", "paths", "allowedProcesses",
			"cryptoMiner", "alert", "reverseShell", "alert", "tempFSProc", "alert",
			"suspiciousELFHeaders", "alert", "encryptedBinaries", "alert",
			"executionFlowHijack", "alert", "serviceUnknownOriginBinary", "alert",
			"userUnknownOriginBinary", "alert", "webShell", "alert", "intelligenceFeed",
			"alert", "wildFireAnalysis", "disable",
			"network", "allowedOutboundIPs", "deniedOutboundIPs", "deniedListeningPorts",
			"deniedOutboundPorts", "denyListEffect", "alert", "intelligenceFeed", "alert",
			"dns", "allow", "deny", "denyListEffect", "alert", "intelligenceFeed", "alert");
	else
		p = json_pack(
			"{s:s,s:b,s:[{s:s,s:[o],s:s,s:s,s:s,s:s,"
			"s:{s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:[],s:{s:s,s:[]}},"
			"s:{s:s,s:s,s:[],s:[],s:{s:[],s:[],s:s},s:{s:[],s:[],s:s},s:s,s:s,s:s},"
			"s:{s:s,s:{s:[],s:[],s:s}},"
			"s:{s:s,s:[],s:{s:s,s:[]},s:s,s:s,s:s,s:s}}]}",
			"_id", "containerRuntime", "learningDisabled", 0, "rules",
			"name", DEFAULT_RULE_NAME, "collections", all, "advancedProtectionEffect", "alert",
			"cloudMetadataEnforcementEffect", "alert", "kubernetesEnforcementEffect", "alert",
			"wildFireAnalysis", "alert",
			"processes", "defaultEffect", "alert", "cryptoMinersEffect", "alert",
			"modifiedProcessEffect", "alert", "reverseShellEffect", "alert",
			"lateralMovementEffect", "alert", "suidBinariesEffect", "alert", "checkParentChild",
			1, "allowedList", "deniedList", "effect", "alert", "paths",
			"network", "defaultEffect", "alert", "deniedIPsEffect", "alert", "allowedIPs",
			"deniedIPs", "listeningPorts", "allowed", "denied", "effect", "alert",
			"outboundPorts", "allowed", "denied", "effect", "alert", "portScanEffect", "alert",
			"rawSocketsEffect", "alert", "modifiedProcEffect", "alert",
			"dns", "defaultEffect", "alert", "domainList", "allowed", "denied", "effect",
			"alert",
			"filesystem", "defaultEffect", "alert", "allowedList", "deniedList", "effect",
			"alert", "paths", "backdoorFilesEffect", "alert", "encryptedBinariesEffect", "alert",
			"newFilesEffect", "alert", "suspiciousELFHeadersEffect", "alert");
	return p;
}

int console_runtime_validate(const char *kind, const json_t *doc, char *err, size_t errlen)
{
	struct runtime_policy *p = NULL;
	int r;

	if (strcmp(kind, "host") == 0)
		r = runtime_host_policy_from_json(doc, &p, err, errlen);
	else
		r = runtime_policy_from_json(doc, &p, err, errlen);
	runtime_policy_free(p);
	return r;
}

int console_runtime_rules_foreach(const json_t *doc, console_runtime_rule_fn fn, void *arg)
{
	json_t *rules = json_is_array(doc) ? (json_t *)doc : json_object_get(doc, "rules"), *ru;
	const char *names[256];
	size_t i;
	int r;

	json_array_foreach(rules, i, ru) {
		json_t *cols = json_object_get(ru, "collections"), *c;
		const char *rn = json_string_value(json_object_get(ru, "name"));
		size_t k, n = 0;

		if (rn == NULL)
			continue;
		json_array_foreach(cols, k, c) {
			const char *cn = json_string_value(json_object_get(c, "name"));
			if (cn != NULL && n < sizeof(names) / sizeof(names[0]))
				names[n++] = cn;
		}
		if ((r = fn(rn, names, n, arg)) < 0)
			return r;
	}
	return 0;
}

int console_runtime_resolve(struct console *c, json_t *doc, int strict, char *err, size_t errlen)
{
	json_t *stored = NULL, *rules, *ru, *sc;
	size_t i, k;
	int r = 0;

	if (c->store->ops->coll_list(c->store, &stored) < 0) {
		ERR("cannot read the collections");
		return -EIO;
	}
	rules = json_is_array(doc) ? doc : json_object_get(doc, "rules");
	json_array_foreach(rules, i, ru) {
		json_t *cols = json_object_get(ru, "collections"), *col;

		if (!json_is_array(cols))
			continue;
		json_array_foreach(cols, k, col) {
			const char *name = json_string_value(json_object_get(col, "name"));
			json_t *found = NULL;
			size_t m;

			if (name == NULL)
				continue; /* the parser says what is wrong */
			if (strcmp(name, COLLECTION_ALL_NAME) == 0) {
				found = all_collection();
			} else {
				json_array_foreach(stored, m, sc) {
					const char *sn = json_string_value(json_object_get(sc, "name"));
					if (sn && strcmp(sn, name) == 0) {
						found = json_incref(sc);
						break;
					}
				}
			}
			if (found == NULL) {
				if (!strict)
					continue;
				ERR("rules[%zu].collections[%zu]: no collection named %.100s", i, k, name);
				r = -EINVAL;
				goto out;
			}
			json_array_set_new(cols, k, found);
		}
	}
out:
	json_decref(stored);
	return r;
}

json_t *console_runtime_policy_message(struct console *c)
{
	static const char *const kinds[] = { "container", "host" };
	json_t *msg;
	long long rev = 0;
	char err[256];

	c->store->ops->rt_revision(c->store, &rev);
	msg = json_pack("{s:s,s:I}", "type", PROTO_RT_POLICY, "revision", (json_int_t)rev);
	if (msg == NULL)
		return NULL;
	for (int i = 0; i < 2; i++) {
		json_t *doc = NULL;
		if (c->store->ops->rt_policy_get(c->store, kinds[i], &doc, NULL) < 0)
			doc = console_runtime_default_policy(kinds[i]);
		if (doc == NULL) {
			json_decref(msg);
			return NULL;
		}
		if (console_runtime_resolve(c, doc, 0, err, sizeof(err)) < 0)
			log_warn("runtime: the %s policy's collections were not resolved: %s",
				 kinds[i], err);
		json_object_set_new(msg, kinds[i], doc);
	}
	return msg;
}

struct uses_ctx {
	const char *name;
	int found;
};

static int uses_collection(const char *rule, const char **names, size_t n, void *arg)
{
	struct uses_ctx *u = arg;

	(void)rule;
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], u->name) == 0)
			u->found = 1;
	return 0;
}

int console_runtime_collection_changed(struct console *c, const char *name)
{
	static const char *const kinds[] = { "container", "host" };
	int changed = 0, failed = 0;
	char err[256];

	for (int i = 0; i < 2; i++) {
		json_t *doc = NULL;
		long long rev = 0;
		if (c->store->ops->rt_policy_get(c->store, kinds[i], &doc, NULL) < 0)
			continue; /* none stored: the default policy's All cannot change */
		struct uses_ctx u = { name, 0 };
		console_runtime_rules_foreach(doc, uses_collection, &u);
		if (u.found) {
			if (console_runtime_resolve(c, doc, 0, err, sizeof(err)) < 0)
				log_warn("runtime: the %s policy's collections were not resolved: %s", kinds[i], err);
			if (c->store->ops->rt_policy_put(c->store, kinds[i], doc, &rev) < 0) {
				failed++;
			} else {
				changed++;
				log_info("runtime: collection %s changed: the %s runtime policy is now revision %lld",
					 name, kinds[i], rev);
			}
		}
		json_decref(doc);
	}
	if (changed && console_runtime_push(c) < 0)
		log_warn("runtime: the runtime policy was not pushed to the Defenders after collection %s "
			 "changed; they get it at their next connection", name);
	return failed ? -EIO : changed;
}

int console_runtime_push(struct console *c)
{
	json_t *msg = console_runtime_policy_message(c);
	int r = msg ? hub_broadcast(c, msg) : -ENOMEM;

	json_decref(msg);
	return r < 0 ? r : 0;
}

void console_runtime_prune(struct console *c)
{
	int64_t before = 0;
	long long na = 0, ni = 0;

	if (c->audit_retention_days > 0)
		before = ((int64_t)time(NULL) - (int64_t)c->audit_retention_days * 86400) * 1000000000;
	if (before <= 0 && c->audit_max_per_kind <= 0)
		return;
	if (c->store->ops->rt_prune(c->store, before, c->audit_max_per_kind, &na, &ni) < 0) {
		log_warn("runtime: the audit retention could not run (see the store's error)");
		return;
	}
	if (na > 0 || ni > 0)
		log_info("runtime: retention deleted %lld audits and %lld incidents (older than %d days or "
			 "beyond %lld per kind)", na, ni, c->audit_retention_days, c->audit_max_per_kind);
}

/* Prisma shared.RuntimeAudit members a Defender may add beyond audit_record's, kept when they
 * have the right type. */
static void copy_extras(const json_t *rec, json_t *doc)
{
	static const char *const strs[] = { "command", "domain", "filepath", "ip", "label", "md5",
		"os", "profileId", "err", "fqdn", "country", "imageId", "accountID", "provider",
		"region", "resourceID", "vmID", NULL };
	json_t *v;

	for (size_t i = 0; strs[i]; i++) {
		v = json_object_get(rec, strs[i]);
		if (json_is_string(v) && json_string_length(v) <= 4096)
			json_object_set(doc, strs[i], v);
	}
	v = json_object_get(rec, "port");
	if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= 65535)
		json_object_set(doc, "port", v);
	v = json_object_get(rec, "interactive");
	if (json_is_boolean(v))
		json_object_set(doc, "interactive", v);
}

void console_runtime_batch_free(struct console_runtime_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->v[i].doc);
	free(b->v);
	free(b->priv);
	memset(b, 0, sizeof(*b));
}

int console_runtime_batch_parse(const char *hostname, const json_t *records,
				struct console_runtime_batch *b, char *err, size_t errlen)
{
	struct audit_record *recs = NULL;
	const json_t *rec;
	size_t i, n;
	int r;

	memset(b, 0, sizeof(*b));
	if (!json_is_array(records) || json_array_size(records) > PROTO_RT_AUDITS_BATCH) {
		ERR("records: not an array of at most %d audits", PROTO_RT_AUDITS_BATCH);
		return -EINVAL;
	}
	n = json_array_size(records);
	if (n == 0)
		return 0;
	recs = calloc(n, sizeof(*recs));
	b->v = calloc(n, sizeof(*b->v));
	if (recs == NULL || b->v == NULL) {
		free(recs);
		free(b->v);
		b->v = NULL;
		return -ENOMEM;
	}
	b->priv = recs;
	json_array_foreach(records, i, rec) {
		struct store_rt_audit *a = &b->v[i];
		struct audit_record *ar = &recs[i];
		json_t *seq = json_object_get(rec, "seq");
		const char *kind = json_string_value(json_object_get(rec, "kind"));
		char aerr[200];
		int64_t t;

		if ((r = audit_record_from_json(rec, ar, aerr, sizeof(aerr))) < 0) {
			ERR("records[%zu]: %s", i, aerr);
			goto fail;
		}
		if (!json_is_integer(seq) || json_integer_value(seq) < 1) {
			ERR("records[%zu].seq: not an integer >= 1", i);
			r = -EINVAL;
			goto fail;
		}
		if (kind == NULL || (strcmp(kind, "container") != 0 && strcmp(kind, "host") != 0)) {
			ERR("records[%zu].kind: not \"container\" or \"host\"", i);
			r = -EINVAL;
			goto fail;
		}
		if (ar->time_ns == 0) {
			const char *ts = json_string_value(json_object_get(rec, "time"));
			if (ts == NULL || console_runtime_parse_time(ts, &t) < 0) {
				ERR("records[%zu]: neither timeNs nor an RFC 3339 time", i);
				r = -EINVAL;
				goto fail;
			}
			ar->time_ns = (uint64_t)t;
		}
		/* The certificate says who sent it, not the record. */
		snprintf(ar->hostname, sizeof(ar->hostname), "%s", hostname);
		if (strcmp(kind, "host") == 0) {
			ar->container_id[0] = '\0';
			ar->container_name[0] = '\0';
		}
		if (ar->count == 0)
			ar->count = 1;
		a->doc = audit_record_to_json(ar);
		if (a->doc == NULL) {
			r = -ENOMEM;
			goto fail;
		}
		b->n++;
		copy_extras(rec, a->doc);
		a->kind = strcmp(kind, "host") == 0 ? "host" : "container";
		a->seq = (uint64_t)json_integer_value(seq);
		a->time_ns = (int64_t)ar->time_ns;
		a->first_ns = (int64_t)ar->first_ns;
		a->type = ar->type;
		a->attack_type = ar->attack_type;
		a->effect = ar->effect;
		a->rule_name = ar->rule_name;
		a->cluster = ar->cluster;
		a->namespace_ = ar->namespace_;
		a->container_id = ar->container_id;
		a->container_name = ar->container_name;
		a->image_name = ar->image_name;
		a->process_path = ar->process_path;
		a->user = ar->user;
		a->category = console_runtime_category(ar->attack_type);
		if (a->seq > b->max_seq)
			b->max_seq = a->seq;
	}
	return 0;
fail:
	console_runtime_batch_free(b);
	return r;
}
