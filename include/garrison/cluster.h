/*
 * cluster: which cluster this host belongs to. The Defender calls cluster_resolve() once at start;
 * the answer names the host's cluster in the Console and carries the host's cloud metadata in the
 * shape of Prisma Cloud's common.CloudMetadata.
 *
 * Sources are tried in a fixed order and the first one that answers wins: manual
 * (DEFENDER_CLUSTER), ECS (task metadata v4, agent introspection, /etc/ecs/ecs.config), GCP
 * metadata server, Azure IMDS (AKS), EC2 IMDSv2 instance tag eks:cluster-name, the current
 * kubeconfig context, and finally the node's IP address. Every answer is untrusted: a malformed or
 * hostile one is rejected with a single warning and the next source is tried. Each source has its
 * own time budget (cluster_opts.timeout_ms), so a dead or slow endpoint costs at most that long.
 * docs/cluster-identity.md describes the sources, overrides and rules.
 */
#ifndef GARRISON_CLUSTER_H
#define GARRISON_CLUSTER_H

#include <stddef.h>

#include <jansson.h>

/* Longest accepted cluster name (a DNS name's limit). */
#define CLUSTER_NAME_MAX 253
/* Cap on every metadata response body; a larger answer is rejected. */
#define CLUSTER_HTTP_MAX_BODY (64 * 1024)
#define CLUSTER_TIMEOUT_MS_DEFAULT 1500

struct cluster_opts {
	const char *manual;     /* DEFENDER_CLUSTER; NULL or "" = not given */
	const char *host_root;  /* where the host's / is visible; NULL = GARRISON_HOST_ROOT, else
				 * "/proc/1/root" when readable, else "/" */
	int timeout_ms;         /* budget per source; <= 0 means CLUSTER_TIMEOUT_MS_DEFAULT */
	int cloud_metadata_off; /* skip GCP, Azure and EC2 (the network metadata services) */
};

struct cluster_identity {
	char *name;             /* resolved cluster name; never NULL after success */
	char *source;           /* "manual", "ecs-task-metadata", "ecs-agent", "ecs-config", "gcp",
				 * "azure", "ec2-tags", "kubeconfig", "node-ip" or "none" */
	json_t *cloud_metadata; /* object (common.CloudMetadata shape); {} when nothing is known */
};

/* Fills o from the environment: DEFENDER_CLUSTER, GARRISON_HOST_ROOT and
 * GARRISON_CLOUD_METADATA ("off", "false", "0" or "no" turn the cloud services off). Fields point
 * into the environment; they stay valid while the environment is not changed. timeout_ms gets
 * the default. */
void cluster_opts_from_env(struct cluster_opts *o);

/* Resolves the cluster identity. Returns 0 and fills *out (the caller releases it with
 * cluster_identity_clear()), or -ENOMEM; nothing else fails: when no source answers, not even
 * the node IP, the name is "unknown" and the source "none". Blocks for at most about
 * timeout_ms per network source, so call it off the event loop. Reads these environment
 * variables besides o: ECS_CONTAINER_METADATA_URI_V4, GARRISON_ECS_AGENT_URI, GCE_METADATA_HOST,
 * GARRISON_AZURE_IMDS_ENDPOINT, AWS_EC2_METADATA_SERVICE_ENDPOINT, KUBECONFIG, AWS_EXECUTION_ENV,
 * and GARRISON_HOST_ROOT when o->host_root is NULL (DEFENDER_CLUSTER and GARRISON_CLOUD_METADATA
 * only through cluster_opts_from_env()). Safe to call from any thread. */
int cluster_resolve(const struct cluster_opts *o, struct cluster_identity *out);

/* Frees what cluster_resolve() put in id and zeroes it. id may be zeroed or NULL. */
void cluster_identity_clear(struct cluster_identity *id);

/* Checks one cluster name of len bytes (which may hold a NUL, which is rejected): 1 to
 * CLUSTER_NAME_MAX bytes of letters, digits and - _ . : / @ + = , ~. Returns 0, or -EINVAL and
 * sets *why (when why is not NULL) to a static reason. */
int cluster_name_check(const char *name, size_t len, const char **why);

/* Finds ECS_CLUSTER in the text of an ecs.config (env-file syntax: # comments, blank lines,
 * optional "export ", whitespace around key and value, one pair of matching quotes around the
 * value; the last assignment wins). Returns 0 and a malloc()ed value, -ENOENT when the key is
 * absent or empty, -EINVAL when the value is not a valid cluster name (*why says why), or
 * -ENOMEM. */
int cluster_ecs_config_parse(const char *text, size_t len, char **value, const char **why);

/* The kubeconfig source on its own: the cluster of the current context of the colon-separated
 * list of files (kubectl's merge: the first file that sets a non-empty current-context wins,
 * the first file that defines that context wins; missing files are skipped). Returns 0 and a
 * malloc()ed name, -ENOENT when no file could be read, -EINVAL when the files are unusable
 * (*why says why), or -ENOMEM. */
int cluster_kubeconfig_name(const char *list, char **name, const char **why);

struct ifaddrs;
/* Picks the node IP: the first non-loopback IPv4 address of the interface that holds the
 * default route in route_text (the text of /proc/net/route; NULL or unusable = no default route,
 * lowest metric wins), else the first non-loopback IPv4 address in ifa. Writes it in dotted form
 * into buf (>= 16 bytes). Returns 0, or -ENOENT when there is none. */
int cluster_node_ip_pick(const char *route_text, const struct ifaddrs *ifa, char *buf, size_t len);

#endif
