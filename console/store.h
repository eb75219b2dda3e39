/*
 * store: the Console's persistent state behind one interface. Back ends implement struct store_ops;
 * store_sqlite.c is the embedded default. Every call is safe from any thread (the back end
 * serialises), returns 0 or a negative errno (-ENOENT when a looked-up row is absent, -EEXIST on a
 * uniqueness conflict, -EIO on a database error, which is logged once), and copies what it returns:
 * strings are malloc()ed and json_t values are new references owned by the caller.
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

struct store_ops {
	void (*close)(struct store *s);
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

	/* Collections, stored as their JSON document; name is the key. */
	int (*coll_list)(struct store *s, json_t **out);                     /* array of docs */
	int (*coll_get)(struct store *s, const char *name, json_t **doc);
	int (*coll_put)(struct store *s, const char *name, json_t *doc, int create); /* create: -EEXIST if present; else -ENOENT if absent */
	int (*coll_delete)(struct store *s, const char *name);
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

#endif
