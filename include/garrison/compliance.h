/*
 * compliance: the CIS Docker Benchmark v1.6.0 checks that can be decided from what a Defender
 * sees: a container's `docker inspect` answer (section 5), an image's configuration (section 4),
 * and the host's files, the dockerd command line and the engine's GET /info answer (sections 1-3
 * and 5.1). See docs/compliance.md for every check, how it is decided and the severity table.
 *
 * Each check function appends one result per benchmark check of its sections to a result list:
 * pass, fail, or not applicable ("na") when the given input cannot decide it, always with a cause
 * naming the exact setting (or the missing input) in human text. A check is never reported as
 * passing because its input was missing.
 *
 * All input is untrusted: JSON members of the wrong type count as absent, strings copied into a
 * cause are bounded and stripped of control characters, files are read with a size bound and
 * opened inside the given root (openat2 RESOLVE_IN_ROOT: symbolic links in a fake or mounted
 * root never reach the host). Secret values found in an image's environment are never copied
 * into a cause, only the variable's name.
 *
 * The functions keep no global state and are thread-safe; a list is used by one thread at a time.
 */
#ifndef GARRISON_COMPLIANCE_H
#define GARRISON_COMPLIANCE_H

#include <stddef.h>

#include <jansson.h>

#define COMPLIANCE_BENCHMARK "CIS_Docker_v1.6.0"
#define COMPLIANCE_CAUSE_MAX 384          /* longest cause kept, NUL included */
#define COMPLIANCE_FILE_MAX (1u << 20)    /* largest configuration file read (daemon.json, ...) */

enum compliance_status { COMPLIANCE_PASS, COMPLIANCE_FAIL, COMPLIANCE_NA };

/* Ordered: a higher value is more severe. */
enum compliance_severity {
	COMPLIANCE_SEV_LOW,
	COMPLIANCE_SEV_MEDIUM,
	COMPLIANCE_SEV_HIGH,
	COMPLIANCE_SEV_CRITICAL,
};

/* Prisma's vulnerability.Type values for the benchmark's sections. */
enum compliance_type {
	COMPLIANCE_TYPE_CONTAINER,            /* "container": section 5 */
	COMPLIANCE_TYPE_IMAGE,                /* "image": section 4 */
	COMPLIANCE_TYPE_HOST_CONFIG,          /* "host_config": section 1 */
	COMPLIANCE_TYPE_DAEMON_CONFIG,        /* "daemon_config": section 2 and 5.1 */
	COMPLIANCE_TYPE_DAEMON_CONFIG_FILES,  /* "daemon_config_files": section 3 */
};

struct compliance_result {
	const char *id;      /* CIS id, "5.4"; static storage */
	const char *title;   /* the check's title as docker-bench-security words it; static */
	enum compliance_type type;
	enum compliance_severity severity;   /* of a failure (see docs/compliance.md) */
	enum compliance_status status;
	char cause[COMPLIANCE_CAUSE_MAX];    /* why: the setting found, or the missing input */
};

struct compliance_list;

/* A new empty list, or NULL when out of memory. */
struct compliance_list *compliance_list_new(void);
/* Frees l. NULL is a no-op. */
void compliance_list_free(struct compliance_list *l);
/* The number of results in l. */
size_t compliance_list_count(const struct compliance_list *l);
/* Result i (< count), owned by l and valid until the next append or free. */
const struct compliance_result *compliance_list_get(const struct compliance_list *l, size_t i);
/* The last result with CIS id (e.g. "5.4"), or NULL. */
const struct compliance_result *compliance_list_find(const struct compliance_list *l,
						     const char *id);

/* Section 5 (except 5.1, see compliance_host) and the community capability checks C.5.3.x for one
 * container. inspect is the engine's answer to GET /containers/{id}/json (a created, running or
 * exited container). execs, optional (NULL), is an array of GET /exec/{id}/json answers for the
 * container's ExecIDs: without it 5.23 and 5.24 are not applicable. Appends one result per check
 * to out. Returns 0; -EINVAL when inspect is not a JSON object with a HostConfig object (nothing
 * is appended then); -ENOMEM. */
int compliance_container(const json_t *inspect, const json_t *execs, struct compliance_list *out);

/* Section 4 for one image. config is the engine's GET /images/{id}/json answer (its "Config"
 * member is used), or an OCI image configuration (its "config" member), or the configuration
 * object itself (with "User", "Env", "Healthcheck"). secret_files, optional (NULL), is the list
 * of secret-looking files another module found in the image's layers: an array of objects
 * {"path": string, "reason": string}; without it 4.10 can fail (on the environment) but not pass.
 * Appends one result per check to out. Returns 0, -EINVAL when no configuration object is found
 * or secret_files is not an array (nothing appended), -ENOMEM. */
int compliance_image(const json_t *config, const json_t *secret_files,
		     struct compliance_list *out);

/* Sections 1-3 and 5.1 for the host whose root file system is at root ("/" on the host itself,
 * "/proc/1/root" from a container sharing the host's PID namespace, or a test's fake tree). Reads
 * under root: etc/docker/daemon.json (or the file --config-file names), the dockerd command line
 * (proc/PID/cmdline of the process whose proc/PID/comm is "dockerd"; with several, the lowest
 * PID, named in the causes), etc/group, the systemd units, the audit rules files, the sockets
 * and certificates. docker_info, optional (NULL), is the engine's GET /info answer: it decides
 * 2.6 and 5.1 and completes other daemon checks. Appends one result per check to out. Returns 0,
 * -ENOENT when root is not a directory (nothing appended), -ENOMEM. Files that are missing,
 * unreadable, too large or malformed make their checks not applicable or failing with the reason
 * in the cause; they are never fatal. */
int compliance_host(const char *root, const json_t *docker_info, struct compliance_list *out);

/* "pass", "fail", "na". */
const char *compliance_status_name(enum compliance_status s);
/* "low", "medium", "high", "critical". */
const char *compliance_severity_name(enum compliance_severity s);
/* Prisma's vulnerability.Type value: "container", "image", "host_config", ... */
const char *compliance_type_name(enum compliance_type t);

/* Prisma's integer id of a CIS id: the digits in order ("5.4" -> 54, "3.10" -> 310, "1.1.12" ->
 * 1112), and 9 before them for community checks ("C.5.3.1" -> 9531). -1 for an id without digits. */
int compliance_prisma_id(const char *cis_id);

/* The failed checks of l as Prisma's complianceIssues: an array of vuln.Vulnerability objects
 * {id, title "(CIS_Docker_v1.6.0 - 5.4) ...", severity, cause, type, description, text,
 * templates: []}, most severe first. A new reference, or NULL when out of memory. */
json_t *compliance_prisma_issues(const struct compliance_list *l);

/* Prisma's complianceDistribution (vuln.Distribution) of the failed checks of l:
 * {critical, high, medium, low, total}. A new reference, or NULL when out of memory. */
json_t *compliance_prisma_distribution(const struct compliance_list *l);

/* Every result of l, passing and not applicable included, in list order: an array of
 * {id, title, severity, type, status, cause}. A new reference, or NULL when out of memory. */
json_t *compliance_results_json(const struct compliance_list *l);

#endif
