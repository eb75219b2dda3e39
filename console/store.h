/*
 * store: the Console's persistent state behind one interface. Back ends implement struct store_ops;
 * store_sqlite.c is the embedded default. Every call is safe from any thread (the back end
 * serialises), returns 0 or a negative errno (-ENOENT when a looked-up row is absent, -EEXIST on a
 * uniqueness conflict, -EBUSY when a row still in use cannot be deleted, -EIO on a database
 * error, which is logged once), and copies what it returns: strings are malloc()ed and json_t
 * values are new references owned by the caller.
 */
#ifndef GARRISON_CONSOLE_STORE_H
#define GARRISON_CONSOLE_STORE_H

#include <stdint.h>
#include <time.h>
#include <jansson.h>

struct store;

/* One Defender as the Console knows it. Strings may be NULL when unknown. */
struct store_defender {
	char *hostname;
	char *version;
	char *type;           /* Prisma defender.Type: "ecs", "daemonset", "docker", ... */
	char *category;       /* "container" or "host" */
	char *cluster;
	char *cluster_source; /* how the Defender found the cluster name */
	json_t *cloud_metadata;
	json_t *system_info;
	char *cert_serial;
	time_t cert_expiration;
	time_t last_modified;
	time_t first_seen;
	int connected;
	char *remote_addr;
};

struct store_defender_filter {
	const char *hostname;  /* exact, or NULL */
	const char *const *clusters; /* any of, or NULL */
	size_t nclusters;
	int connected;         /* -1 any, 0, 1 */
	long offset, limit;    /* limit 0 = all */
};

/* One inventory document as the list views see it: the fields that filters, sorts and collections
 * use are stored in columns beside the document (schema v2), so a list reads them without parsing
 * any JSON. What each holds depends on the kind:
 *   name      container: its name; image: its first repo tag, else its id; host: the hostname
 *   image     container: its image as reported; image: as name; host: NULL
 *   image_id, namespace_   containers only (NULL otherwise)
 *   cluster   the effective cluster: a container's own (from its ECS label), else its node's from
 *             the Defenders table ("" when the node has none, NULL when there is no Defender row)
 *   account_id  the node's cloudMetadata.accountID (NULL when unknown)
 *   labels    containers: "key:value" strings (at most STORE_INV_LABELS_MAX; a label without ':'
 *             is stored as "key:"), else none
 * These are exactly the values a collection is matched against (struct collection_subject). */
struct store_inv_row {
	char *hostname, *id, *name, *image, *image_id, *namespace_, *cluster, *account_id;
	char **labels;
	size_t nlabels;
	time_t updated;
	json_t *doc;          /* the document, only when the query asked for it (with_doc) */
};

#define STORE_INV_LABELS_MAX 256

/* What a list is sorted by; ties are broken by hostname, then id. */
enum store_inv_sort {
	STORE_INV_SORT_NONE,      /* hostname, id */
	STORE_INV_SORT_NAME,
	STORE_INV_SORT_HOSTNAME,
	STORE_INV_SORT_ID,
	STORE_INV_SORT_IMAGE,
	STORE_INV_SORT_NAMESPACE,
	STORE_INV_SORT_CLUSTER,
	STORE_INV_SORT_UPDATED,
	STORE_INV_SORT_DOC,       /* sort_path inside the document (SQLite's json_extract) */
};

/* How collections are applied (tests compare the modes; the API uses AUTO). */
enum store_inv_pushdown {
	STORE_PUSHDOWN_AUTO,      /* in SQL where that is exact, the rest in C */
	STORE_PUSHDOWN_NONE,      /* every row checked in C with collection_match_any() */
};

struct collection;

/* An inventory list request. Strings are compared as documented per member; every member may be
 * left zero/NULL (no filter). */
struct store_inv_query {
	const char *kind;         /* "container", "image" or "host" (required) */
	const char *hostname;     /* exact */
	const char *id;           /* exact */
	const char *image;        /* image contains this, ASCII case ignored */
	const char *search;       /* name, image, hostname (not for images) or id contains this,
				   * ASCII case ignored */
	const char *const *clusters;   /* the effective cluster is one of these (exact) */
	size_t nclusters;
	const char *const *namespaces; /* the namespace is one of these (exact) */
	size_t nnamespaces;
	struct collection *const *colls; /* the union of these (collection_match_any()); 0: no filter */
	size_t ncolls;
	enum store_inv_sort sort;
	const char *sort_path;    /* STORE_INV_SORT_DOC: letters, digits, '_' and '.' only */
	int reverse;
	long offset, limit;       /* limit 0: every row */
	int with_doc;             /* fill row.doc (parsed after the store lock is released) */
	enum store_inv_pushdown pushdown;
};

/* The answer of inv_query. exact is 1 when the database did all the filtering and paging (every
 * collection translated to SQL), 0 when rows were also checked in C. */
struct store_inv_result {
	struct store_inv_row *rows;
	size_t n;
	long total;               /* rows that pass the filters, before paging (Total-Count) */
	int exact;
};

/* Usage types of a collection, Prisma's collection.UsageType. */
#define STORE_USAGE_TYPES { "policy", "settings", "user", "group", "registryScan" }
#define STORE_USAGE_NAME_MAX 256

/* A page of scan records (kind "ci": the CLI results), newest first. pass: -1 any, 0, 1;
 * search: the job or image name contains it (case ignored); limit 0: all. */
struct store_scan_filter {
	long offset, limit;
	int pass;
	const char *search;
};


/* ---- runtime defense (schema v4, docs/runtime-console.md) ---- */

/* Columns that runtime lists filter on; which apply depends on the list (audits, incidents,
 * profiles: see each query). */
enum store_rt_col {
	STORE_RT_HOSTNAME,
	STORE_RT_CLUSTER,
	STORE_RT_NAMESPACE,
	STORE_RT_IMAGE,          /* audits: imageName; profiles: image */
	STORE_RT_CONTAINER_ID,
	STORE_RT_CONTAINER_NAME,
	STORE_RT_ATTACK_TYPE,
	STORE_RT_TYPE,           /* audits: processes, network, ... */
	STORE_RT_EFFECT,
	STORE_RT_RULE,
	STORE_RT_PROCESS,
	STORE_RT_USER,
	STORE_RT_CATEGORY,       /* incidents */
	STORE_RT_STATE,          /* profiles */
	STORE_RT_ID,             /* profiles: the profile _id */
	STORE_RT_NCOLS
};
#define STORE_RT_VALUES_MAX 16

/* A runtime list request: each column passes when it equals one of its values (none: no
 * filter); from_ns/to_ns bound the time (0: unbounded); id selects one row (0: any). Rows are
 * ordered by time ascending (reverse: descending), ties by id; limit 0: every row. */
/* A sort key that names a document member ("a.b": letters, digits, '_', segments joined by '.',
 * at most 128 bytes): 1, else 0. Lists that sort by a member use it as the JSON path "$.<p>". */
int store_sort_path_ok(const char *p);

/* The workload columns of one stored audit, for a filter the database cannot express
 * (collections). Strings are "" when empty; valid during the call only. */
struct store_rt_subject {
	const char *hostname, *cluster, *namespace_, *image, *container_name, *container_id;
};

struct store_rt_query {
	const char *kind;        /* audits and incidents: "container" or "host" (NULL: both) */
	const char *eq[STORE_RT_NCOLS][STORE_RT_VALUES_MAX];
	size_t neq[STORE_RT_NCOLS];
	int64_t from_ns, to_ns;
	long long id;
	int acknowledged;        /* incidents: -1 any, 0, 1 */
	int reverse;
	long offset, limit;
	/* Audits only: a member of the stored document to order by first (letters, digits, '_'
	 * and '.' between segments; "time": the time column), then time and _id; NULL: time. */
	const char *sort_path;
	/* Audits only: when set, a row that passes the other filters is listed only when keep()
	 * returns non-zero on its subject; paging and the total apply to the rows kept (the
	 * database still filters everything else; documents are read only for the page). */
	int (*keep)(const struct store_rt_subject *subj, void *arg);
	void *keep_arg;
};

/* One audit from a Defender, validated by the caller (console/runtime.c). Strings may be NULL
 * (stored as ""); doc is the Prisma shared.RuntimeAudit document stored as given (the store adds
 * nothing to it; the list adds _id). */
struct store_rt_audit {
	const char *kind;        /* "container" or "host" */
	uint64_t seq;            /* the Defender's spool sequence number */
	int64_t time_ns;
	int64_t first_ns;        /* a throttle update: the time of its window's first audit; else 0 */
	const char *type, *attack_type, *effect, *rule_name, *cluster, *namespace_, *container_id,
		*container_name, *image_name, *process_path, *user;
	const char *category;    /* the incident category this audit belongs to */
	json_t *doc;
};

/* Incidents: audits of one workload (kind, hostname, container id; "" for a host) and one
 * category, each within this window of the incident's earlier or later audits. */
#define STORE_RT_INCIDENT_WINDOW_NS (600ll * 1000000000ll)
/* Most audits listed inside one incident (the newest ones; "auditsTotal" has the count). */
#define STORE_RT_INCIDENT_AUDITS_MAX 100

struct store_ops {
	void (*close)(struct store *s);

	/* Scan records (console/scans.c, docs/scanning.md), one per (kind, id): kind "image"
	 * (id: image id), "container" (container id), "host" (hostname), "ci" (a CLI result);
	 * hostname: the Defender that sent it ("" for the CLI). scan_put inserts or replaces;
	 * scan_get gives the document or -ENOENT; scan_ids an array of {"id","hostname"} of a
	 * kind; scan_list a page of documents and the total. */
	int (*scan_put)(struct store *s, const char *kind, const char *id, const char *hostname,
			json_t *doc);
	int (*scan_get)(struct store *s, const char *kind, const char *id, json_t **doc);
	int (*scan_delete)(struct store *s, const char *kind, const char *id);
	int (*scan_ids)(struct store *s, const char *kind, json_t **out);
	int (*scan_list)(struct store *s, const char *kind, const struct store_scan_filter *f,
			 json_t **out, long *total);
	int (*meta_get)(struct store *s, const char *key, char **val);
	int (*meta_set)(struct store *s, const char *key, const char *val);
	int (*user_get)(struct store *s, const char *user, char **hash, char **role);
	int (*user_put)(struct store *s, const char *user, const char *hash, const char *role);
	int (*session_put)(struct store *s, const char *token_hash, const char *user, time_t expires);
	int (*session_get)(struct store *s, const char *token_hash, char **user, time_t *expires);
	int (*session_purge)(struct store *s, time_t now);
	int (*bundle_put)(struct store *s, const char *id, const char *b64);
	int (*bundle_current)(struct store *s, char **id, char **b64);
	int (*bundle_state)(struct store *s, const char *id, int *revoked);
	int (*bundle_revoke)(struct store *s, const char *id);
	int (*cert_put)(struct store *s, const char *serial, const char *hostname, time_t not_after);
	int (*cert_get)(struct store *s, const char *serial, char **hostname, int *revoked);
	int (*cert_revoke_host)(struct store *s, const char *hostname);
	int (*defender_put)(struct store *s, const struct store_defender *d);
	int (*defender_set_connected)(struct store *s, const char *hostname, int connected, time_t when);
	int (*defender_disconnect_all)(struct store *s, time_t when);
	int (*defender_delete)(struct store *s, const char *hostname);
	int (*defender_list)(struct store *s, const struct store_defender_filter *f,
			     struct store_defender **out, size_t *n, long *total);

	/* Inventory documents reported by Defenders, keyed by (kind, hostname, id); kinds are
	 * "container", "image", "host" (id = hostname) and "status". */
	/* Replaces every document of hostname by the given ones, in one transaction: host may be
	 * NULL; containers and images are arrays of objects with a string "id". */
	int (*inv_replace_host)(struct store *s, const char *hostname, json_t *host,
				json_t *containers, json_t *images);
	int (*inv_put)(struct store *s, const char *kind, const char *hostname, const char *id,
		       json_t *doc);
	int (*inv_delete)(struct store *s, const char *kind, const char *hostname, const char *id);
	/* Deletes every document of a host (the Defender was deleted). */
	int (*inv_delete_host)(struct store *s, const char *hostname);
	/* All documents of a kind (of one host when hostname is not NULL), as an array of
	 * {"hostname","id","updated","doc"} ordered by hostname and id. */
	int (*inv_list)(struct store *s, const char *kind, const char *hostname, json_t **out);
	/* One page of a kind's documents that pass q, and how many pass (docs/inventory.md, "The Console side").
	 * The rows are copied: free them with store_inv_result_clear(). -EINVAL for a bad query. */
	int (*inv_query)(struct store *s, const struct store_inv_query *q,
			 struct store_inv_result *out);
	/* How many documents pass q (its filters; sort and paging are ignored) on each host, as an
	 * object {hostname: count} (hosts with none are absent). */
	int (*inv_count_by_host)(struct store *s, const struct store_inv_query *q, json_t **out);
	/* One document, or -ENOENT. */
	int (*inv_get)(struct store *s, const char *kind, const char *hostname, const char *id,
		       json_t **doc);

	/* Collections, stored as their JSON document; name is the key. */
	int (*coll_list)(struct store *s, json_t **out);                     /* array of docs */
	int (*coll_get)(struct store *s, const char *name, json_t **doc);
	int (*coll_put)(struct store *s, const char *name, json_t *doc, int create); /* create: -EEXIST if present; else -ENOENT if absent */
	/* -EBUSY (and nothing deleted) while a usage names the collection. */
	int (*coll_delete)(struct store *s, const char *name);

	/* Who uses which collection (docs/collections.md, "Usages"). A user of collections (a policy
	 * rule, a setting, a user or group's scope, a registry scan) is identified by its type (one
	 * of STORE_USAGE_TYPES) and a name (1 to STORE_USAGE_NAME_MAX bytes, unique within the
	 * type). coll_usage_set replaces the list of collections that (type, name) uses by the n
	 * given (n 0: it uses none any more), in one transaction; call it whenever the user is
	 * saved or deleted. -EINVAL for an unknown type or a bad name. The collections need not
	 * exist (a rule may be stored before its collection; the API checks what it must). */
	int (*coll_usage_set)(struct store *s, const char *type, const char *name,
			      const char *const *collections, size_t n);
	/* The users of a collection, as Prisma's [collection.Usage]: [{"type","name"}], ordered by
	 * type and name; [] when none. */
	int (*coll_usages)(struct store *s, const char *collection, json_t **out);

	/* Runtime policies, one per kind ("container", "host"). rt_policy_get gives the document
	 * and its revision, or -ENOENT when none was stored. rt_policy_put stores doc and gives it
	 * the next Console-wide revision (*revision; shared by both kinds, so a Defender needs only
	 * one number), in one transaction. rt_revision: the current revision (0: none). */
	int (*rt_policy_get)(struct store *s, const char *kind, json_t **doc, long long *revision);
	int (*rt_policy_put)(struct store *s, const char *kind, json_t *doc, long long *revision);
	int (*rt_revision)(struct store *s, long long *revision);
	/* Stores n audits of hostname in one transaction, idempotently: an audit whose (hostname,
	 * seq, time_ns) is stored already is skipped (a resent record; the time tells a resend
	 * from a new record of a Defender whose spool restarted at 1). New audits join or open incidents.
	 * *added (may be NULL): how many were new. All or nothing: on error nothing is stored. */
	int (*rt_audits_add)(struct store *s, const char *hostname, const struct store_rt_audit *v,
			     size_t n, size_t *added);
	/* Retention: deletes the audits older than before_ns (0: none by age), then the oldest of
	 * each kind ("container", "host") beyond max_per_kind (0: no bound); incidents keep the
	 * count of the audits they still have and go when they have none. *audits and *incidents
	 * (may be NULL): how many were deleted. One transaction. */
	int (*rt_prune)(struct store *s, int64_t before_ns, long long max_per_kind, long long *audits,
			long long *incidents);
	/* A page of audits (filters: every column but CATEGORY, STATE, ID; id = the audit's _id) as
	 * an array of documents with "_id", and the number that pass (Total-Count). */
	int (*rt_audits_query)(struct store *s, const struct store_rt_query *q, json_t **out,
			       long *total);
	/* A page of incidents (filters: HOSTNAME, CLUSTER, CONTAINER_ID, CATEGORY, kind,
	 * acknowledged, from/to on the last audit, id = serialNum) as shared.Incident documents
	 * with their audits, and the total. */
	int (*rt_incidents_query)(struct store *s, const struct store_rt_query *q, json_t **out,
				  long *total);
	/* Sets an incident's acknowledged flag; -ENOENT when there is no such incident. */
	int (*rt_incident_ack)(struct store *s, long long id, int acknowledged);
	/* Replaces every runtime profile of hostname by the objects of profiles (each with a
	 * string "_id"), in one transaction. -EINVAL when one has no _id. */
	int (*rt_profiles_replace)(struct store *s, const char *hostname, json_t *profiles);
	/* A page of profiles (filters: HOSTNAME, IMAGE, NAMESPACE, CLUSTER, STATE, ID), each its
	 * document with "hostname" added, ordered by hostname and _id (reverse: descending), and
	 * the total. */
	int (*rt_profiles_query)(struct store *s, const struct store_rt_query *q, json_t **out,
				 long *total);
	/* Every hostname that holds the profile id, as an array of strings. */
	int (*rt_profile_hosts)(struct store *s, const char *id, json_t **out);
	/* The latest runtime-status of a Defender (replaced as a whole), and all of them as an
	 * object {hostname: status}. */
	int (*rt_status_put)(struct store *s, const char *hostname, json_t *doc);
	int (*rt_status_all)(struct store *s, json_t **out);
};

struct store {
	const struct store_ops *ops;
};

/* Opens (creating if needed) the SQLite database at path and migrates its schema. */
int store_sqlite_open(const char *path, struct store **out);

static inline void store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

void store_defender_clear(struct store_defender *d);
void store_defenders_free(struct store_defender *v, size_t n);
/* Frees the rows of a result and zeroes it; NULL is a no-op. */
void store_inv_result_clear(struct store_inv_result *r);
/* The collection subject of a row (pointers into the row; valid while it lives). */
struct collection_subject;
void store_inv_row_subject(const struct store_inv_row *row, const char *kind,
			   struct collection_subject *s);

#endif
