/*
 * runtime (Console side): what the Console does for runtime defense besides storing and serving
 * (docs/runtime-console.md). It validates what Defenders send (runtime-audits batches), maps
 * attack types to Prisma's incident categories, keeps the default policies, and builds the
 * runtime-policy message pushed to Defenders (rules' collections resolved to full
 * collection.Collection objects). Every function is safe from any thread: state lives in the
 * store.
 */
#ifndef GARRISON_CONSOLE_RUNTIME_H
#define GARRISON_CONSOLE_RUNTIME_H

#include <stdint.h>

#include <jansson.h>

#include "console.h"
#include "store.h"

/* Usage names of policy rules: "runtime-container/<rule>", "runtime-host/<rule>". */
#define CONSOLE_RUNTIME_USAGE_CONTAINER "runtime-container/"
#define CONSOLE_RUNTIME_USAGE_HOST "runtime-host/"

/* Parses an RFC 3339 time ("2026-11-27T09:00:00Z", fractions of a second and +hh:mm offsets
 * allowed) into nanoseconds since the Unix epoch. 0, or -EINVAL. */
int console_runtime_parse_time(const char *s, int64_t *ns);

/* Prisma's shared.IncidentCategory for an attack type (docs/runtime-console.md has the table);
 * never NULL (an unknown type gives "suspiciousBinary"). */
const char *console_runtime_category(const char *attack_type);

/* The default policy of a kind ("container" or "host") when none is stored: a new reference. */
json_t *console_runtime_default_policy(const char *kind);

/* Checks a policy document of a kind with the Defender's parser (runtime_policy_from_json or
 * runtime_host_policy_from_json). 0, or -EINVAL with the parser's sentence in err, or -ENOMEM. */
int console_runtime_validate(const char *kind, const json_t *doc, char *err, size_t errlen);

/* The names of the collections a policy's rules use, per rule: calls fn(rule name, names, n)
 * for each rule (names: the "name" of each collection; none = All). */
typedef int (*console_runtime_rule_fn)(const char *rule, const char **names, size_t n, void *arg);
int console_runtime_rules_foreach(const json_t *doc, console_runtime_rule_fn fn, void *arg);

/* Replaces each rule's "collections" entries in doc (modified in place) by the stored
 * collection of the same name (All: the built-in). strict: an unknown name is -EINVAL with a
 * sentence naming it; else it is kept as given. -EIO when the collections cannot be read. */
int console_runtime_resolve(struct console *c, json_t *doc, int strict, char *err, size_t errlen);

/* The runtime-policy message for Defenders ({type, revision, container, host}): the stored
 * policies (or the defaults), each rule's collections replaced by the stored collection of that
 * name (All: the built-in; an unknown name is kept as given). New reference, or NULL. */
json_t *console_runtime_policy_message(struct console *c);
/* Sends the current runtime-policy message (console_runtime_policy_message) to every live
 * Defender. 0, or a negative errno (the Defenders then get it at their next connection). */
int console_runtime_push(struct console *c);
/* After collection name changed: each stored runtime policy with a rule scoped by it is stored
 * again with the collection's new content (a new revision), and the policy is pushed to every
 * live Defender. Returns how many policies were re-stored (0: none uses it), or -EIO. */
int console_runtime_collection_changed(struct console *c, const char *name);
/* Retention of runtime audits and incidents (audit_retention_days, audit_max_per_kind of c):
 * deletes what is beyond, says so in the log. Called at start and hourly by the hub. */
void console_runtime_prune(struct console *c);

/* A parsed runtime-audits batch, ready for store rt_audits_add. */
struct console_runtime_batch {
	struct store_rt_audit *v;
	size_t n;
	uint64_t max_seq;
	void *priv;   /* the records the strings point into */
};

/* Validates a runtime-audits message's records (at most PROTO_RT_AUDITS_BATCH objects, each an
 * audit record with "seq" >= 1 and "kind" container|host) for hostname, into *b (free with
 * console_runtime_batch_free). Each stored document is the record's Prisma members, with
 * hostname set to the Defender's own name. 0, or -EINVAL with a sentence naming the record, or
 * -ENOMEM. */
int console_runtime_batch_parse(const char *hostname, const json_t *records,
				struct console_runtime_batch *b, char *err, size_t errlen);
void console_runtime_batch_free(struct console_runtime_batch *b);

#endif
