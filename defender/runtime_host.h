/*
 * runtime_host: Prisma Cloud Compute's host runtime policy (runtime.HostPolicy) read into the same
 * rule engine as container policies (runtime.h). Each runtime.HostPolicyRule is translated into
 * the equivalent runtime.ContainerPolicyRule document and the result is parsed by
 * runtime_policy_from_json(), so hosts and containers share one evaluator and one set of
 * semantics (docs/runtime.md, "Host policies"). Strict like the container parser: an unknown
 * member is refused with a sentence that names it, with the host member names in every message.
 * Used by the Console (validation of PUT /api/v1/policies/runtime/host) and the Defender.
 */
#ifndef GARRISON_RUNTIME_HOST_H
#define GARRISON_RUNTIME_HOST_H

#include <stddef.h>

#include <jansson.h>

#include "runtime.h"

struct runtime_policy;

/* Parses a runtime.HostPolicy ({"_id","owner","rules":[runtime.HostPolicyRule...]}) or a bare
 * array of runtime.HostPolicyRule into a struct runtime_policy (free with runtime_policy_free).
 * Translation per rule: network.deniedOutboundIPs / allowedOutboundIPs / deniedListeningPorts /
 * deniedOutboundPorts with denyListEffect; dns.allow / deny with denyListEffect;
 * antiMalware.deniedProcesses{paths,effect}, allowedProcesses, cryptoMiner, reverseShell,
 * tempFSProc. Learned models are off for host policies (learningDisabled), and the container-only
 * detections (cloud metadata, kubectl, modified binaries) are disabled. fileIntegrityRules,
 * logInspectionRules, forensic, customRules and the feed / WildFire / ELF effects are
 * type-checked, accepted and not enforced. Returns 0 and *out, -EINVAL with a sentence in err
 * naming the member at fault (e.g. "rules[0].network.deniedOutboundIPs[1]: not an IP address
 * or CIDR"), or -ENOMEM. j is not kept; err may be NULL. */
int runtime_host_policy_from_json(const json_t *j, struct runtime_policy **out, char *err,
				  size_t errlen);

/* The translated runtime.ContainerPolicy document of a host policy, without parsing it (for
 * tests and diagnostics): 0 and a new reference in *out, or -EINVAL / -ENOMEM as above. */
int runtime_host_policy_translate(const json_t *j, json_t **out, char *err, size_t errlen);

#endif
