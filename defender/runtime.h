/*
 * runtime: the Defender's container runtime rules and learned models, in the shape of Prisma Cloud
 * Compute's runtime.ContainerPolicy (docs/runtime.md).
 *
 * A policy is parsed once (runtime_policy_from_json(), strict: a malformed document is refused
 * whole with a sentence naming the member at fault) and is immutable afterwards. Evaluation
 * (runtime_evaluate()) takes one sensor event and the workload it came from: the first enabled
 * rule whose collections match the workload applies, and only that rule. Its sections decide:
 * explicit deny lists first, then allow lists (which exempt), then the built-in detections that
 * one event decides alone (crypto miners, reverse shells, modified binaries, tmpfs executables,
 * kubectl, cloud metadata), then the learned model (when models are given and learning is not
 * disabled by the policy).
 *
 * Models (struct runtime_models) are kept per image + namespace + cluster: learning for a
 * configurable period from the first event seen, then dry run (anomalies alert and are learned),
 * then active (anomalies get the rule's effect). They can be reset (relearn) and rendered as JSON.
 * A runtime_models object is not thread-safe: one consumer thread owns it.
 */
#ifndef GARRISON_RUNTIME_H
#define GARRISON_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <garrison/collection.h>

#include "event.h"

/* Most rules in a policy; most entries in one list of a rule. */
#define RUNTIME_RULES_MAX 1024
#define RUNTIME_LIST_MAX 4096
/* Most entries in one set of a model (processes, ports, names, paths); beyond, learning stops
 * for that set and the overflow is counted. */
#define RUNTIME_MODEL_SET_MAX 2048
/* Most models in one runtime_models; a workload whose model does not fit gets no model checks. */
#define RUNTIME_MODELS_MAX 4096
#define RUNTIME_MODEL_STR_MAX 1024 /* longest learned string or model name kept on disk */

enum runtime_effect {
	RUNTIME_EFFECT_NONE = 0, /* allowed: nothing to report */
	RUNTIME_EFFECT_DISABLE,
	RUNTIME_EFFECT_ALERT,
	RUNTIME_EFFECT_PREVENT,
	RUNTIME_EFFECT_BLOCK,
};

/* "disable", "alert", "prevent", "block" ("" for NONE). */
const char *runtime_effect_name(enum runtime_effect e);

struct runtime_decision {
	enum runtime_effect effect;
	const char *type;        /* Prisma's RuntimeType: "processes", "network", "filesystem" */
	const char *attack_type; /* Prisma's RuntimeAttackType, e.g. "explicitlyDeniedProcess" */
	const char *severity;    /* "low", "medium", "high" */
	char rule[256];          /* the rule's name */
	char msg[512];
	int dry_run;             /* 1: from a model in dry run (effect capped at alert) */
};

/* The workload an event came from. subject is matched against the rules' collections (strings
 * are read during the call only). container_start is the container's start (Unix seconds; 0 when
 * unknown: modifiedProcess is then not decided). tmp_is_tmpfs: /tmp is a tmpfs in the container. */
struct runtime_workload {
	struct collection_subject subject;
	int64_t container_start;
	int tmp_is_tmpfs;
};

struct runtime_policy;
struct runtime_models;

/* Parses a runtime.ContainerPolicy ({"_id","learningDisabled","rules":[...]}) or a bare array of
 * runtime.ContainerPolicyRule. Each rule needs a non-empty unique "name"; "collections" is a list
 * of collection.Collection objects (missing or empty: every workload). Every member must be known
 * (Prisma's members that Garrison does not enforce yet are accepted and ignored, see
 * docs/runtime.md); effects must be "disable", "alert", "prevent" or "block"; ports 1..65535
 * with start <= end; lists hold at most RUNTIME_LIST_MAX strings. Returns 0 and *out (free with
 * runtime_policy_free), -EINVAL with a sentence in err (e.g. "rules[1].network.deniedIPs[0]: not
 * an IP address or CIDR"), or -ENOMEM. j is not kept. */
int runtime_policy_from_json(const json_t *j, struct runtime_policy **out, char *err, size_t errlen);
/* Frees p. NULL is a no-op. */
void runtime_policy_free(struct runtime_policy *p);
/* Number of rules. */
size_t runtime_policy_rules(const struct runtime_policy *p);
/* For the policy parsers (runtime.c, runtime_host.c): 0 when obj is an object whose members are
 * all in the NULL-terminated list known, else -EINVAL with "<where>: not an object" or
 * "<where>: unknown member \"<name>\"" in err. */
int runtime_check_members(const json_t *obj, const char *where, const char *const *known, char *err,
			  size_t errlen);

/* Decides on ev, from workload w, under policy p, with models m (NULL: no learned models). Returns
 * 1 with *d filled when something is to be reported or enforced (d->effect is ALERT, PREVENT or
 * BLOCK), 0 when the event is allowed (*d then has effect NONE and, when a rule applied, its name),
 * -EINVAL for a NULL argument. Learning happens here: while a model learns, what the event shows
 * is added to it. Events flagged runtime_setup (runc's own exec) and exit events are allowed. */
int runtime_evaluate(const struct runtime_policy *p, struct runtime_models *m, const struct event *ev,
		     const struct runtime_workload *w, struct runtime_decision *d);

/* ---- learned models ---- */

enum runtime_model_state { RUNTIME_MODEL_LEARNING, RUNTIME_MODEL_DRY_RUN, RUNTIME_MODEL_ACTIVE };

/* A set of models: learning lasts learn_ns from a model's first event, dry run dryrun_ns after
 * that (0: none). 0 or -ENOMEM. */
int runtime_models_new(uint64_t learn_ns, uint64_t dryrun_ns, struct runtime_models **out);
/* Frees m. NULL is a no-op. */
void runtime_models_free(struct runtime_models *m);
/* The state of the model of (image, namespace, cluster) at time now_ns (Unix epoch); NULL strings
 * are "". Returns the state, or -ENOENT when no such model exists yet. */
int runtime_models_state(const struct runtime_models *m, const char *image, const char *namespace_,
			 const char *cluster, uint64_t now_ns);
/* Relearn: empties the model of (image, namespace, cluster) and starts learning again at its next
 * event. 0, or -ENOENT when there is no such model. */
int runtime_models_reset(struct runtime_models *m, const char *image, const char *namespace_,
			 const char *cluster);
/* Every model as a JSON array in the shape of shared.ContainerRuntimeProfile (the members
 * Garrison fills: _id, image, namespace, cluster, state, created, processes.static[].path,
 * network.behavioral.{listeningPorts[0].portsData.ports, outboundPorts.ports, dnsQueries},
 * filesystem.behavioral[].path, learnedOverflow). New reference or NULL (out of memory). */
json_t *runtime_models_json(const struct runtime_models *m, uint64_t now_ns);

/* The models as the Defender keeps them on disk: {"version":1,"models":[{image, namespace,
 * cluster, startNs, createdNs, overflow, processes, listeningPorts, outboundPorts, dns, paths}]}
 * (the learned sets as arrays of strings). New reference or NULL (out of memory). */
json_t *runtime_models_save_json(const struct runtime_models *m);
/* Adds the models of such a document to m (a model already in m is replaced). The document is
 * untrusted: unknown members, wrong types, more than RUNTIME_MODELS_MAX models or
 * RUNTIME_MODEL_SET_MAX strings per set, strings longer than RUNTIME_MODEL_STR_MAX, or a model
 * twice are -EINVAL with a sentence in err, and nothing is changed; -ENOMEM when memory runs out
 * (the models loaded so far stay). */
int runtime_models_load_json(struct runtime_models *m, const json_t *j, char *err, size_t errlen);

/* ---- what a rule prevents in the kernel (for rtenforce.c) ---- */

/* The index of the rule that applies to workload w (the first enabled rule whose collections
 * match it: the rule runtime_evaluate() would use), or -ENOENT when none applies, -EINVAL for a
 * NULL argument. */
int runtime_policy_match(const struct runtime_policy *p, const struct runtime_workload *w);

/* What rule idx of p wants prevented before the operation happens (strings and lists point into p
 * and live as long as it). A flag is set only when its section is enabled, its effect is
 * "prevent" and its list is not empty:
 *   exec: processes.deniedList (or cryptoMinersEffect: the miners' names) -> exec decisions;
 *   open: filesystem.deniedList -> open decisions;
 *   net:  network.deniedIPs with deniedIPsEffect prevent (ips);
 *   ports: network.outboundPorts.denied with effect prevent (ports). */
struct runtime_net_prefix {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network order */
	int prefix;        /* bits: 32 or 128 for one address */
};

struct runtime_prevent_info {
	const char *rule;
	int exec, open, net, ports;
	const char *const *procs;  /* processes.deniedList.paths */
	size_t nprocs;
	const char *const *paths;  /* filesystem.deniedList.paths */
	size_t npaths;
	size_t nips;               /* network.deniedIPs: read with runtime_rule_denied_ip() */
	size_t nports;             /* outboundPorts.denied: runtime_rule_denied_ports() */
};

/* Fills *out for rule idx. 0, or -ENOENT (no such rule), -EINVAL. */
int runtime_rule_prevent_info(const struct runtime_policy *p, size_t idx,
			      struct runtime_prevent_info *out);
/* Entry i of rule idx's network.deniedIPs. 0, or -ENOENT. */
int runtime_rule_denied_ip(const struct runtime_policy *p, size_t idx, size_t i,
			   struct runtime_net_prefix *out);
/* Entry i of rule idx's outboundPorts.denied as an inclusive range. 0, or -ENOENT. */
int runtime_rule_denied_ports(const struct runtime_policy *p, size_t idx, size_t i, uint16_t *start,
			      uint16_t *end);

#endif
