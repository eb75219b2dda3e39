/*
 * store_sqlite: the embedded SQLite back end of the Console store. One connection guarded by a
 * mutex (the Console's API thread and hub thread both call in); WAL journal so readers are cheap
 * and a crash never loses a committed row. The schema is created and migrated by user_version
 * (SCHEMA_VERSION; a database from a newer Garrison is refused, an older one is migrated in one
 * transaction on open, keeping its data).
 *
 * Inventory lists (inv_query) filter, sort and page in SQL on columns stored beside each
 * document; collections are translated to SQL where the translation is exact (LIKE with ESCAPE,
 * which ignores ASCII case only, as lib/collection.c does), and every row is checked in C with
 * collection_match_any() when some pattern cannot be expressed exactly, so the answer never
 * differs from the C rules (docs/inventory.md, "The Console side").
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include <garrison/collection.h>
#include <garrison/log.h>

#define SCHEMA_VERSION 4
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

struct store_sqlite {
	struct store base;
	sqlite3 *db;
	pthread_mutex_t mu;
};

#define SS(s) ((struct store_sqlite *)(s))

static const char *schema_v1 =
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS users(username TEXT PRIMARY KEY, hash TEXT NOT NULL,"
	"  role TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sessions(token_hash TEXT PRIMARY KEY, username TEXT NOT NULL,"
	"  expires INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bundles(id TEXT PRIMARY KEY, bundle TEXT NOT NULL,"
	"  created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS certs(serial TEXT PRIMARY KEY, hostname TEXT NOT NULL,"
	"  not_after INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS certs_host ON certs(hostname);"
	"CREATE TABLE IF NOT EXISTS defenders(hostname TEXT PRIMARY KEY, version TEXT, type TEXT,"
	"  category TEXT, cluster TEXT, cluster_source TEXT, cloud_metadata TEXT, system_info TEXT,"
	"  cert_serial TEXT, cert_expiration INTEGER, last_modified INTEGER, first_seen INTEGER,"
	"  connected INTEGER NOT NULL DEFAULT 0, remote_addr TEXT);"
	"CREATE INDEX IF NOT EXISTS defenders_cluster ON defenders(cluster);"
	"CREATE TABLE IF NOT EXISTS inventory(kind TEXT NOT NULL, hostname TEXT NOT NULL,"
	"  id TEXT NOT NULL, doc TEXT NOT NULL, updated INTEGER NOT NULL,"
	"  PRIMARY KEY(kind, hostname, id));"
	"CREATE INDEX IF NOT EXISTS inventory_host ON inventory(hostname);"
	"CREATE TABLE IF NOT EXISTS collections(name TEXT PRIMARY KEY, doc TEXT NOT NULL,"
	"  modified INTEGER NOT NULL);";

/* v2: the fields inventory lists filter and sort on, beside each document (filled by
 * inv_insert(), and by migrate_v2() for the documents already stored); the Defender's cloud
 * account; who uses which collection. */
static const char *schema_v2 =
	"ALTER TABLE inventory ADD COLUMN name TEXT;"
	"ALTER TABLE inventory ADD COLUMN image TEXT;"
	"ALTER TABLE inventory ADD COLUMN image_id TEXT;"
	"ALTER TABLE inventory ADD COLUMN namespace TEXT;"
	"ALTER TABLE inventory ADD COLUMN cluster TEXT;"
	"ALTER TABLE inventory ADD COLUMN labels TEXT;"
	"ALTER TABLE inventory ADD COLUMN image_canon TEXT;"
	"ALTER TABLE inventory ADD COLUMN image_forms TEXT;"
	/* The lists' index: in their default order, and covering every column but the document, so
	 * that filtering, counting and finding a page never read a document (a row is ~1 KiB of
	 * JSON, an entry of this index a few hundred bytes). */
	"CREATE INDEX inventory_list ON inventory(kind, name COLLATE NOCASE, hostname, id, namespace,"
	"  cluster, image, image_canon, image_forms, labels, image_id, updated);"
	"CREATE INDEX inventory_namespace ON inventory(kind, namespace);"
	"CREATE INDEX inventory_cluster ON inventory(kind, cluster);"
	"CREATE INDEX inventory_updated ON inventory(kind, updated);"
	"ALTER TABLE defenders ADD COLUMN account_id TEXT;"
	"UPDATE defenders SET account_id = CASE WHEN json_valid(cloud_metadata) THEN"
	"  CASE WHEN json_type(cloud_metadata, '$.accountID') = 'text'"
	"  THEN json_extract(cloud_metadata, '$.accountID') END END;"
	"CREATE INDEX defenders_connected ON defenders(connected);"
	"CREATE TABLE collection_usages(collection TEXT NOT NULL, type TEXT NOT NULL,"
	"  name TEXT NOT NULL, PRIMARY KEY(collection, type, name));"
	"CREATE INDEX collection_usages_user ON collection_usages(type, name);";

/* v3: scan records (console/scans.c): kind image|container|host|ci, one row per (kind, id). */
static const char *schema_v3 =
	"CREATE TABLE scans(kind TEXT NOT NULL, id TEXT NOT NULL, hostname TEXT NOT NULL,"
	"  doc TEXT NOT NULL, updated INTEGER NOT NULL, pass INTEGER, search TEXT,"
	"  PRIMARY KEY(kind, id));"
	"CREATE INDEX scans_updated ON scans(kind, updated);";

/* v4: runtime defense (docs/runtime-console.md): policies with a Console-wide revision, audits
 * (one row per hostname + Defender sequence number + time, so a resent record is stored once,
 * and a Defender whose spool started again at 1 (its data directory was lost) is not mistaken
 * for a resend),
 * incidents that group them, learned profiles per host and each Defender's runtime status. */
static const char *schema_v4 =
	"CREATE TABLE runtime_policies(kind TEXT PRIMARY KEY, doc TEXT NOT NULL,"
	"  revision INTEGER NOT NULL, modified INTEGER NOT NULL);"
	"CREATE TABLE runtime_audits(id INTEGER PRIMARY KEY, hostname TEXT NOT NULL,"
	"  seq INTEGER NOT NULL, kind TEXT NOT NULL, time_ns INTEGER NOT NULL, type TEXT,"
	"  attack_type TEXT, effect TEXT, rule_name TEXT, cluster TEXT, namespace TEXT,"
	"  container_id TEXT, container_name TEXT, image_name TEXT, process_path TEXT, user TEXT,"
	"  incident INTEGER, doc TEXT NOT NULL, UNIQUE(hostname, seq, time_ns));"
	"CREATE INDEX runtime_audits_time ON runtime_audits(kind, time_ns, id);"
	"CREATE INDEX runtime_audits_host ON runtime_audits(hostname, time_ns);"
	"CREATE INDEX runtime_audits_container ON runtime_audits(container_id, time_ns);"
	"CREATE INDEX runtime_audits_attack ON runtime_audits(attack_type, time_ns);"
	"CREATE INDEX runtime_audits_incident ON runtime_audits(incident, time_ns);"
	"CREATE TABLE runtime_incidents(id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,"
	"  hostname TEXT NOT NULL, container_id TEXT NOT NULL, category TEXT NOT NULL,"
	"  cluster TEXT, namespace TEXT, container_name TEXT, image_name TEXT,"
	"  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,"
	"  acknowledged INTEGER NOT NULL DEFAULT 0, count INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX runtime_incidents_time ON runtime_incidents(first_ns, id);"
	"CREATE INDEX runtime_incidents_workload ON runtime_incidents(hostname, container_id,"
	"  category, last_ns);"
	"CREATE TABLE runtime_profiles(hostname TEXT NOT NULL, id TEXT NOT NULL, image TEXT,"
	"  namespace TEXT, cluster TEXT, state TEXT, doc TEXT NOT NULL, updated INTEGER NOT NULL,"
	"  PRIMARY KEY(hostname, id));"
	"CREATE INDEX runtime_profiles_id ON runtime_profiles(id);"
	"CREATE TABLE runtime_status(hostname TEXT PRIMARY KEY, doc TEXT NOT NULL,"
	"  updated INTEGER NOT NULL);";

static int db_err(struct store_sqlite *s, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
	return -EIO;
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t ? strdup((const char *)t) : NULL;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	json_t *j = t ? json_loads(t, 0, NULL) : NULL;
	return j ? j : json_object();
}

/* Runs a statement that returns no rows, binding n text values (NULL binds SQL NULL).
 * The caller holds s->mu. -EEXIST on a constraint violation. */
static int exec_text(struct store_sqlite *s, const char *sql, int n, const char *const *vals)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "prepare");
	for (int i = 0; i < n; i++)
		sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return -EEXIST;
	if (rc != SQLITE_DONE)
		return db_err(s, "step");
	return 0;
}

static void ss_close(struct store *base)
{
	struct store_sqlite *s = SS(base);

	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int ss_meta_get(struct store *base, const char *key, char **val)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*val = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "meta_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*val = col_str(st, 0);
		r = *val ? 0 : -ENOMEM;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_meta_set(struct store *base, const char *key, const char *val)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { key, val };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "INSERT INTO meta(key,value) VALUES(?,?)"
			 " ON CONFLICT(key) DO UPDATE SET value=excluded.value", 2, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_user_get(struct store *base, const char *user, char **hash, char **role)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*hash = NULL;
	if (role)
		*role = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT hash, role FROM users WHERE username=?", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "user_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*hash = col_str(st, 0);
		if (role)
			*role = col_str(st, 1);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_user_put(struct store *base, const char *user, const char *hash, const char *role)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { user, hash, role };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "INSERT INTO users(username,hash,role) VALUES(?,?,?) ON CONFLICT(username)"
			 " DO UPDATE SET hash=excluded.hash, role=excluded.role", 3, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_session_put(struct store *base, const char *token_hash, const char *user,
			  time_t expires)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO sessions(token_hash,username,expires) VALUES(?,?,?)",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "session_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)expires);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "session_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_session_get(struct store *base, const char *token_hash, char **user, time_t *expires)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*user = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT username, expires FROM sessions WHERE token_hash=?", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(s, "session_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*user = col_str(st, 0);
		*expires = (time_t)sqlite3_column_int64(st, 1);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_session_purge(struct store *base, time_t now)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "DELETE FROM sessions WHERE expires < ?", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "session_purge");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)now);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "session_purge");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_bundle_put(struct store *base, const char *id, const char *b64)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO bundles(id,bundle,created) VALUES(?,?,?)", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "bundle_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, b64, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "bundle_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_bundle_current(struct store *base, char **id, char **b64)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*id = *b64 = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT id, bundle FROM bundles WHERE revoked=0"
				      " ORDER BY created DESC, rowid DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "bundle_current");
		goto out;
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		*id = col_str(st, 0);
		*b64 = col_str(st, 1);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_bundle_state(struct store *base, const char *id, int *revoked)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT revoked FROM bundles WHERE id=?", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "bundle_state");
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*revoked = sqlite3_column_int(st, 0);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_bundle_revoke(struct store *base, const char *id)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { id };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "UPDATE bundles SET revoked=1 WHERE id=?", 1, v);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_cert_put(struct store *base, const char *serial, const char *hostname,
		       time_t not_after)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO certs(serial,hostname,not_after) VALUES(?,?,?)", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(s, "cert_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)not_after);
	r = sqlite3_step(st);
	r = r == SQLITE_DONE ? 0 : r == SQLITE_CONSTRAINT ? -EEXIST : db_err(s, "cert_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_cert_get(struct store *base, const char *serial, char **hostname, int *revoked)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*hostname = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT hostname, revoked FROM certs WHERE serial=?", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "cert_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, serial, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*hostname = col_str(st, 0);
		*revoked = sqlite3_column_int(st, 1);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_cert_revoke_host(struct store *base, const char *hostname)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { hostname };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "UPDATE certs SET revoked=1 WHERE hostname=?", 1, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *j)
{
	char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;

	if (t)
		sqlite3_bind_text(st, i, t, -1, free);
	else
		sqlite3_bind_null(st, i);
}

static int ss_defender_put(struct store *base, const struct store_defender *d)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db,
		"INSERT INTO defenders(hostname,version,type,category,cluster,cluster_source,"
		"cloud_metadata,system_info,cert_serial,cert_expiration,last_modified,first_seen,"
		"connected,remote_addr,account_id) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
		" ON CONFLICT(hostname) DO UPDATE SET "
		"version=excluded.version, type=excluded.type, category=excluded.category,"
		"cluster=excluded.cluster, cluster_source=excluded.cluster_source,"
		"cloud_metadata=excluded.cloud_metadata, system_info=excluded.system_info,"
		"cert_serial=excluded.cert_serial, cert_expiration=excluded.cert_expiration,"
		"last_modified=excluded.last_modified, connected=excluded.connected,"
		"remote_addr=excluded.remote_addr, account_id=excluded.account_id",
		-1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "defender_put");
		goto out;
	}
	bind_opt_text(st, 1, d->hostname);
	bind_opt_text(st, 2, d->version);
	bind_opt_text(st, 3, d->type);
	bind_opt_text(st, 4, d->category);
	bind_opt_text(st, 5, d->cluster);
	bind_opt_text(st, 6, d->cluster_source);
	bind_json(st, 7, d->cloud_metadata);
	bind_json(st, 8, d->system_info);
	bind_opt_text(st, 9, d->cert_serial);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)d->cert_expiration);
	sqlite3_bind_int64(st, 11, (sqlite3_int64)d->last_modified);
	sqlite3_bind_int64(st, 12, (sqlite3_int64)d->first_seen);
	sqlite3_bind_int(st, 13, d->connected);
	bind_opt_text(st, 14, d->remote_addr);
	/* The account collections match (accountIDs), as the API reads it: a string or nothing. */
	bind_opt_text(st, 15, json_string_value(json_object_get(d->cloud_metadata, "accountID")));
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "defender_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_defender_set_connected(struct store *base, const char *hostname, int connected,
				     time_t when)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "UPDATE defenders SET connected=?, last_modified=? WHERE hostname=?",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "defender_set_connected");
		goto out;
	}
	sqlite3_bind_int(st, 1, connected);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)when);
	sqlite3_bind_text(st, 3, hostname, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "defender_set_connected");
	else if (sqlite3_changes(s->db) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_defender_disconnect_all(struct store *base, time_t when)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "UPDATE defenders SET connected=0, last_modified=? WHERE connected=1",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "defender_disconnect_all");
		goto out;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)when);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "defender_disconnect_all");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_defender_delete(struct store *base, const char *hostname)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { hostname };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "DELETE FROM defenders WHERE hostname=?", 1, v);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	/* Its runtime status and profiles go with it; its audits and incidents stay (history). */
	if (r == 0 && (exec_text(s, "DELETE FROM runtime_status WHERE hostname=?", 1, v) < 0 ||
		       exec_text(s, "DELETE FROM runtime_profiles WHERE hostname=?", 1, v) < 0))
		log_warn("store: the runtime status or profiles of %s were not deleted", hostname);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* Builds "WHERE ..." for a filter and binds it; returns the next bind index. */
static void filter_sql(const struct store_defender_filter *f, char *buf, size_t len)
{
	size_t n = 0;
	const char *sep = " WHERE ";

	buf[0] = '\0';
	if (f->hostname) {
		n += (size_t)snprintf(buf + n, len - n, "%shostname=?", sep);
		sep = " AND ";
	}
	if (f->nclusters > 0) {
		n += (size_t)snprintf(buf + n, len - n, "%scluster IN (", sep);
		for (size_t i = 0; i < f->nclusters && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s?", i ? "," : "");
		n += (size_t)snprintf(buf + n, len - n, ")");
		sep = " AND ";
	}
	if (f->connected >= 0 && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%sconnected=?", sep);
}

static int filter_bind(sqlite3_stmt *st, const struct store_defender_filter *f)
{
	int i = 1;

	if (f->hostname)
		sqlite3_bind_text(st, i++, f->hostname, -1, SQLITE_STATIC);
	for (size_t c = 0; c < f->nclusters; c++)
		sqlite3_bind_text(st, i++, f->clusters[c], -1, SQLITE_STATIC);
	if (f->connected >= 0)
		sqlite3_bind_int(st, i++, f->connected ? 1 : 0);
	return i;
}

static int ss_defender_list(struct store *base, const struct store_defender_filter *f,
			    struct store_defender **out, size_t *n, long *total)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char where[4096], sql[8192];
	struct store_defender *v = NULL;
	size_t cap = 0, cnt = 0;
	int r = 0, i;

	*out = NULL;
	*n = 0;
	if (f->nclusters > 256)
		return -EINVAL;
	filter_sql(f, where, sizeof(where));
	pthread_mutex_lock(&s->mu);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM defenders%s", where);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "defender_list");
		goto out;
	}
	filter_bind(st, f);
	*total = sqlite3_step(st) == SQLITE_ROW ? (long)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	snprintf(sql, sizeof(sql),
		 "SELECT hostname,version,type,category,cluster,cluster_source,cloud_metadata,"
		 "system_info,cert_serial,cert_expiration,last_modified,first_seen,connected,remote_addr"
		 " FROM defenders%s ORDER BY hostname LIMIT ? OFFSET ?", where);
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "defender_list");
		st = NULL;
		goto out;
	}
	i = filter_bind(st, f);
	sqlite3_bind_int64(st, i++, f->limit > 0 ? f->limit : -1);
	sqlite3_bind_int64(st, i, f->offset > 0 ? f->offset : 0);
	while ((r = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_defender *d;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_defender *nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		d = &v[cnt++];
		memset(d, 0, sizeof(*d));
		d->hostname = col_str(st, 0);
		d->version = col_str(st, 1);
		d->type = col_str(st, 2);
		d->category = col_str(st, 3);
		d->cluster = col_str(st, 4);
		d->cluster_source = col_str(st, 5);
		d->cloud_metadata = col_json(st, 6);
		d->system_info = col_json(st, 7);
		d->cert_serial = col_str(st, 8);
		d->cert_expiration = (time_t)sqlite3_column_int64(st, 9);
		d->last_modified = (time_t)sqlite3_column_int64(st, 10);
		d->first_seen = (time_t)sqlite3_column_int64(st, 11);
		d->connected = sqlite3_column_int(st, 12);
		d->remote_addr = col_str(st, 13);
	}
	r = r == SQLITE_DONE ? 0 : db_err(s, "defender_list");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		store_defenders_free(v, cnt);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void store_defender_clear(struct store_defender *d)
{
	if (d == NULL)
		return;
	free(d->hostname);
	free(d->version);
	free(d->type);
	free(d->category);
	free(d->cluster);
	free(d->cluster_source);
	json_decref(d->cloud_metadata);
	json_decref(d->system_info);
	free(d->cert_serial);
	free(d->remote_addr);
	memset(d, 0, sizeof(*d));
}

void store_defenders_free(struct store_defender *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		store_defender_clear(&v[i]);
	free(v);
}

/* ---- inventory ------------------------------------------------------------------------------ */

/* The columns stored beside a document (struct store_inv_row says what each holds). Strings
 * point into the document or are owned (labels, canon, forms; free with inv_cols_clear()). */
struct inv_cols {
	const char *name, *image, *image_id, *ns, *cluster;
	char *labels, *canon, *forms;
};

static void inv_cols_clear(struct inv_cols *c)
{
	free(c->labels);
	free(c->canon);
	free(c->forms);
	memset(c, 0, sizeof(*c));
}

/* A growing string; err is set (and the text dropped) when memory runs out. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;
		while (b->len + n + 1 > ncap)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (np == NULL) {
			free(b->p);
			b->p = NULL;
			b->len = b->cap = 0;
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

/* Labels are stored as "\nlabel\nlabel\n" ("" for none) with '\\' written "\\\\" and a newline
 * "\\n", so that "\n" only ever separates labels and a LIKE pattern can anchor on it. */
static void label_escape(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			sb_add(b, "\\\\");
		else if (s[i] == '\n')
			sb_add(b, "\\n");
		else
			sb_addn(b, s + i, 1);
	}
}

static void label_add(struct sbuf *b, const char *k, size_t kn, const char *v, size_t vn)
{
	label_escape(b, k, kn);
	/* A label without ':' is a key with an empty value: stored as "key:". */
	if (v == NULL && memchr(k, ':', kn) == NULL)
		sb_add(b, ":");
	if (v != NULL) {
		sb_add(b, ":");
		label_escape(b, v, vn);
	}
	sb_add(b, "\n");
}

/* Labels as the views read them: an array of "key:value" strings, or an object key -> string. */
static char *labels_column(json_t *doc)
{
	json_t *l = json_object_get(doc, "labels"), *v;
	struct sbuf b = { 0 };
	size_t n = 0;

	sb_add(&b, "");
	if (json_is_array(l)) {
		size_t i;
		json_array_foreach(l, i, v) {
			if (n >= STORE_INV_LABELS_MAX || !json_is_string(v))
				continue;
			if (n++ == 0)
				sb_add(&b, "\n");
			label_add(&b, json_string_value(v), json_string_length(v), NULL, 0);
		}
	} else if (json_is_object(l)) {
		const char *k;
		json_object_foreach(l, k, v) {
			if (n >= STORE_INV_LABELS_MAX || !json_is_string(v))
				continue;
			if (n++ == 0)
				sb_add(&b, "\n");
			label_add(&b, k, strlen(k), json_string_value(v), json_string_length(v));
		}
	}
	return b.p;
}

/* The canonical image and its familiar spellings ("\nform\nform\n"), as lib/collection.c's
 * img_prepare() computes them: the canonical form; without "docker.io/"; for official images
 * the short name and "docker.io/<name>". Both NULL when the image is not a reference. */
static int image_columns(const char *image, char **canon, char **forms)
{
	char c[COLLECTION_IMAGE_MAX + 1];
	struct sbuf b = { 0 };

	*canon = *forms = NULL;
	if (image == NULL || collection_image_canonical(image, c, sizeof(c)) < 0)
		return 0;
	sb_add(&b, "\n");
	sb_add(&b, c);
	sb_add(&b, "\n");
	if (strncmp(c, "docker.io/", 10) == 0) {
		sb_add(&b, c + 10);
		sb_add(&b, "\n");
		if (strncmp(c + 10, "library/", 8) == 0) {
			const char *sh = c + 18;
			if (sh[strcspn(sh, "/:@")] != '/') {
				sb_add(&b, sh);
				sb_add(&b, "\ndocker.io/");
				sb_add(&b, sh);
				sb_add(&b, "\n");
			}
		}
	}
	if (b.err || (*canon = strdup(c)) == NULL) {
		free(b.p);
		return -ENOMEM;
	}
	*forms = b.p;
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int inv_cols_of(const char *kind, const char *hostname, const char *id, json_t *doc,
		       struct inv_cols *c)
{
	memset(c, 0, sizeof(*c));
	if (strcmp(kind, "container") == 0) {
		c->name = jstr(doc, "name");
		c->image = jstr(doc, "image");
		c->image_id = jstr(doc, "imageID");
		c->ns = jstr(doc, "namespace");
		c->cluster = jstr(doc, "cluster");
		if ((c->labels = labels_column(doc)) == NULL)
			return -ENOMEM;
	} else if (strcmp(kind, "image") == 0) {
		c->name = json_string_value(json_array_get(json_object_get(doc, "repoTags"), 0));
		if (c->name == NULL)
			c->name = id;
		c->image = c->name;
	} else if (strcmp(kind, "host") == 0) {
		c->name = hostname;
	}
	if (image_columns(c->image, &c->canon, &c->forms) < 0) {
		inv_cols_clear(c);
		return -ENOMEM;
	}
	return 0;
}

static void bind_cols(sqlite3_stmt *st, int first, const struct inv_cols *c)
{
	bind_opt_text(st, first, c->name);
	bind_opt_text(st, first + 1, c->image);
	bind_opt_text(st, first + 2, c->image_id);
	bind_opt_text(st, first + 3, c->ns);
	bind_opt_text(st, first + 4, c->cluster);
	bind_opt_text(st, first + 5, c->labels);
	bind_opt_text(st, first + 6, c->canon);
	bind_opt_text(st, first + 7, c->forms);
}

static int inv_insert(struct store_sqlite *s, sqlite3_stmt *st, const char *kind,
		      const char *hostname, const char *id, json_t *doc, time_t now)
{
	char *txt = json_dumps(doc, JSON_COMPACT);
	struct inv_cols c;
	int rc;

	if (txt == NULL)
		return -ENOMEM;
	if (inv_cols_of(kind, hostname, id, doc, &c) < 0) {
		free(txt);
		return -ENOMEM;
	}
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, txt, -1, free);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	bind_cols(st, 6, &c);
	rc = sqlite3_step(st);
	inv_cols_clear(&c);
	return rc == SQLITE_DONE ? 0 : db_err(s, "inventory insert");
}

#define INV_UPSERT "INSERT INTO inventory(kind,hostname,id,doc,updated,name,image,image_id," \
	"namespace,cluster,labels,image_canon,image_forms) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)" \
	" ON CONFLICT(kind,hostname,id) DO UPDATE SET doc=excluded.doc, updated=excluded.updated," \
	" name=excluded.name, image=excluded.image, image_id=excluded.image_id," \
	" namespace=excluded.namespace, cluster=excluded.cluster, labels=excluded.labels," \
	" image_canon=excluded.image_canon, image_forms=excluded.image_forms"

static int inv_insert_array(struct store_sqlite *s, sqlite3_stmt *st, const char *kind,
			    const char *hostname, json_t *arr, time_t now)
{
	size_t i;
	json_t *doc;

	json_array_foreach(arr, i, doc) {
		const char *id = json_string_value(json_object_get(doc, "id"));
		int r;
		if (id == NULL)
			continue;
		r = inv_insert(s, st, kind, hostname, id, doc, now);
		if (r < 0)
			return r;
	}
	return 0;
}

static int ss_inv_replace_host(struct store *base, const char *hostname, json_t *host,
			       json_t *containers, json_t *images)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *del = NULL, *ins = NULL;
	time_t now = time(NULL);
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "inventory begin");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db, "DELETE FROM inventory WHERE hostname=? AND kind<>'status'",
			       -1, &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, INV_UPSERT, -1, &ins, NULL) != SQLITE_OK) {
		r = db_err(s, "inventory prepare");
		goto rollback;
	}
	sqlite3_bind_text(del, 1, hostname, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE) {
		r = db_err(s, "inventory delete");
		goto rollback;
	}
	if (host && (r = inv_insert(s, ins, "host", hostname, hostname, host, now)) < 0)
		goto rollback;
	if ((r = inv_insert_array(s, ins, "container", hostname, containers, now)) < 0 ||
	    (r = inv_insert_array(s, ins, "image", hostname, images, now)) < 0)
		goto rollback;
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "inventory commit");
		goto rollback;
	}
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_inv_put(struct store *base, const char *kind, const char *hostname, const char *id,
		      json_t *doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, INV_UPSERT, -1, &st, NULL) != SQLITE_OK)
		r = db_err(s, "inv_put");
	else
		r = inv_insert(s, st, kind, hostname, id, doc, time(NULL));
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_inv_delete(struct store *base, const char *kind, const char *hostname,
			 const char *id)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { kind, hostname, id };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "DELETE FROM inventory WHERE kind=? AND hostname=? AND id=?", 3, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_inv_delete_host(struct store *base, const char *hostname)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { hostname };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "DELETE FROM inventory WHERE hostname=?", 1, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

struct inv_row {
	char *hostname, *id, *doc;
	sqlite3_int64 updated;
};

/* Rows are copied as text under the lock and parsed after it is released: parsing thousands of
 * documents must not hold up the hub, which stores through the same lock. */
static int ss_inv_list(struct store *base, const char *kind, const char *hostname, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	struct inv_row *rows = NULL;
	size_t n = 0, cap = 0;
	json_t *arr = NULL;
	int r = 0, rc;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, hostname ?
			       "SELECT hostname,id,updated,doc FROM inventory WHERE kind=? AND hostname=?"
			       " ORDER BY hostname,id" :
			       "SELECT hostname,id,updated,doc FROM inventory WHERE kind=? ORDER BY hostname,id",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "inv_list");
		goto unlock;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (hostname)
		sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct inv_row *nr = realloc(rows, ncap * sizeof(*rows));
			if (nr == NULL) {
				r = -ENOMEM;
				goto unlock;
			}
			rows = nr;
			cap = ncap;
		}
		rows[n].hostname = col_str(st, 0);
		rows[n].id = col_str(st, 1);
		rows[n].updated = sqlite3_column_int64(st, 2);
		rows[n].doc = col_str(st, 3);
		n++;
	}
	if (rc != SQLITE_DONE)
		r = db_err(s, "inv_list");
unlock:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && (arr = json_array()) == NULL)
		r = -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && rows[i].hostname && rows[i].id) {
			json_t *doc = rows[i].doc ? json_loads(rows[i].doc, 0, NULL) : NULL;
			json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:o}", "hostname",
				rows[i].hostname, "id", rows[i].id, "updated", (json_int_t)rows[i].updated,
				"doc", doc ? doc : json_object()));
		}
		free(rows[i].hostname);
		free(rows[i].id);
		free(rows[i].doc);
	}
	free(rows);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

/* ---- inventory queries ---------------------------------------------------------------------- */

/* SQL text and the text values bound to its '?' in order (owned). */
struct sqlq {
	struct sbuf sql;
	char **binds;
	size_t nbinds, bcap;
	int err;
	int join;       /* the text uses the Defenders table (d.) */
};

static void q_cat(struct sqlq *q, const char *s)
{
	sb_add(&q->sql, s);
}

/* Adds v (taken over; NULL means out of memory) to the values bound, without touching the text. */
static void q_push(struct sqlq *q, char *v)
{
	if (v == NULL) {
		q->err = -ENOMEM;
		return;
	}
	if (q->nbinds == q->bcap) {
		size_t ncap = q->bcap ? q->bcap * 2 : 16;
		char **nb = realloc(q->binds, ncap * sizeof(*nb));
		if (nb == NULL) {
			free(v);
			q->err = -ENOMEM;
			return;
		}
		q->binds = nb;
		q->bcap = ncap;
	}
	q->binds[q->nbinds++] = v;
}

/* Appends "?" bound to v (taken over; NULL means out of memory). */
static void q_bind(struct sqlq *q, char *v)
{
	q_push(q, v);
	q_cat(q, "?");
}

/* Appends another query's text and values. */
static void q_append(struct sqlq *q, const struct sqlq *w)
{
	q_cat(q, w->sql.p ? w->sql.p : "");
	for (size_t i = 0; i < w->nbinds; i++)
		q_push(q, strdup(w->binds[i]));
	if (w->err || w->sql.err)
		q->err = -ENOMEM;
}

static void q_bind_str(struct sqlq *q, const char *v)
{
	q_bind(q, strdup(v));
}

static void q_free(struct sqlq *q)
{
	for (size_t i = 0; i < q->nbinds; i++)
		free(q->binds[i]);
	free(q->binds);
	free(q->sql.p);
	memset(q, 0, sizeof(*q));
}

static int q_prepare(struct store_sqlite *s, struct sqlq *q, sqlite3_stmt **st)
{
	*st = NULL;
	if (q->err || q->sql.err)
		return -ENOMEM;
	if (sqlite3_prepare_v2(s->db, q->sql.p, -1, st, NULL) != SQLITE_OK)
		return db_err(s, "inv_query prepare");
	for (size_t i = 0; i < q->nbinds; i++)
		sqlite3_bind_text(*st, (int)i + 1, q->binds[i], -1, SQLITE_STATIC);
	return 0;
}

/* A LIKE pattern (ESCAPE '\') for pre + body + post: body's % _ \ are escaped; with label set,
 * body is first written as labels are stored (label_escape()). pre and post are taken as is. */
static char *like_pattern(const char *pre, const char *body, size_t n, const char *post, int label)
{
	struct sbuf b = { 0 };

	sb_add(&b, pre);
	for (size_t i = 0; i < n; i++) {
		char ch = body[i];
		if (label && ch == '\\')
			sb_add(&b, "\\\\\\\\");
		else if (label && ch == '\n')
			sb_add(&b, "\\\\n");
		else if (ch == '%' || ch == '_' || ch == '\\') {
			char e[3] = { '\\', ch, '\0' };
			sb_add(&b, e);
		} else {
			sb_addn(&b, &ch, 1);
		}
	}
	sb_add(&b, post);
	return b.p;
}

enum pk { PK_ANY, PK_EXACT, PK_PREFIX, PK_SUFFIX, PK_CONTAINS };

/* s[0..n) without its leading and trailing runs of '*', and what they make of it (the pattern
 * was validated by collection_from_json(): no '*' inside). */
static enum pk stars(const char *s, size_t n, const char **body, size_t *bn)
{
	size_t lead = 0, trail = 0;

	while (lead < n && s[lead] == '*')
		lead++;
	if (lead == n) {
		*body = s + n;
		*bn = 0;
		return PK_ANY;
	}
	while (s[n - 1 - trail] == '*')
		trail++;
	*body = s + lead;
	*bn = n - lead - trail;
	return lead && trail ? PK_CONTAINS : lead ? PK_SUFFIX : trail ? PK_PREFIX : PK_EXACT;
}

static const char *const like_pre[] = { "", "", "", "%", "%" };
static const char *const like_post[] = { "", "", "%", "", "%" };

static void like_term(struct sqlq *q, const char *col, enum pk k, const char *b, size_t bn)
{
	q_cat(q, "(");
	q_cat(q, col);
	q_cat(q, " LIKE ");
	q_bind(q, like_pattern(like_pre[k], b, bn, like_post[k], 0));
	q_cat(q, " ESCAPE '\\')");
}

static int ci_word(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* One image pattern (without its '-'), as lib/collection.c's image_hit(): against the canonical
 * form (prefixes: any familiar spelling) when the subject's image is a reference, else against
 * the image as reported. 1 when exact. */
static int image_term(struct sqlq *q, enum pk k, const char *b, size_t bn)
{
	char canon[COLLECTION_IMAGE_MAX + 1], pat[COLLECTION_PATTERN_MAX + 1];
	const char *a = b;
	size_t an = bn;
	char alias[COLLECTION_PATTERN_MAX + 16];

	if (k == PK_ANY) {
		q_cat(q, "1");
		return 1;
	}
	if (bn > COLLECTION_PATTERN_MAX)
		return 0;
	q_cat(q, "(CASE WHEN i.image_canon IS NOT NULL THEN ");
	if (k == PK_EXACT) {
		memcpy(pat, b, bn);
		pat[bn] = '\0';
		if (collection_image_canonical(pat, canon, sizeof(canon)) < 0) {
			q_cat(q, "1 ELSE 1 END)");
			return 0;
		}
		like_term(q, "i.image_canon", PK_EXACT, canon, strlen(canon));
		q_cat(q, " ELSE ");
		like_term(q, "i.image", PK_EXACT, b, bn);
		q_cat(q, " END)");
		return 1;
	}
	if (k == PK_PREFIX) {
		const char *sl = memchr(b, '/', bn);
		/* A prefix that names a Docker Hub alias is read as docker.io. */
		if (sl != NULL && (ci_word(b, (size_t)(sl - b), "docker.io") ||
				   ci_word(b, (size_t)(sl - b), "index.docker.io") ||
				   ci_word(b, (size_t)(sl - b), "registry-1.docker.io"))) {
			size_t rest = bn - (size_t)(sl - b);
			memcpy(alias, "docker.io", 9);
			memcpy(alias + 9, sl, rest);
			a = alias;
			an = 9 + rest;
		}
		q_cat(q, "(i.image_forms LIKE ");
		q_bind(q, like_pattern("%\n", a, an, "%", 0));
		q_cat(q, " ESCAPE '\\')");
	} else {
		like_term(q, "i.image_canon", k, b, bn);
	}
	q_cat(q, " ELSE ");
	like_term(q, "i.image", k, a, an);
	q_cat(q, " END)");
	return 1;
}

/* One label pattern (without its '-'): exact in SQL when its key has no '*' and its value is
 * exact, a prefix or '*' (the stored "\n" anchors the key; a '%' before a value suffix could run
 * over into another label). 1 when exact; otherwise nothing is appended. */
static int label_term(struct sqlq *q, const char *body, size_t n)
{
	const char *colon = memchr(body, ':', n), *kb, *vb;
	size_t kbn, vbn;
	enum pk kk, vk;
	struct sbuf b = { 0 };
	char *inner;

	if (colon == NULL)
		return 0;
	kk = stars(body, (size_t)(colon - body), &kb, &kbn);
	if ((size_t)(colon - body) + 1 == n) {
		vk = PK_EXACT;
		vb = colon + 1;
		vbn = 0;
	} else {
		vk = stars(colon + 1, n - (size_t)(colon - body) - 1, &vb, &vbn);
	}
	if (kk != PK_EXACT || (vk != PK_EXACT && vk != PK_PREFIX && vk != PK_ANY))
		return 0;
	inner = like_pattern("%\n", kb, kbn, ":", 1);
	if (inner == NULL) {
		q->err = -ENOMEM;
		return 1;
	}
	sb_add(&b, inner);
	free(inner);
	inner = like_pattern("", vb, vbn, vk == PK_EXACT ? "\n%" : "%", 1);
	if (inner != NULL)
		sb_add(&b, inner);
	else
		b.err = -ENOMEM;
	free(inner);
	q_cat(q, "(ifnull(i.labels, '') LIKE ");
	q_bind(q, b.err ? NULL : b.p);
	if (b.err)
		free(b.p);
	q_cat(q, " ESCAPE '\\')");
	return 1;
}

/* The effective cluster: the container's own, else its node's ("" when the node has none). */
#define EFF_CLUSTER "(CASE WHEN i.cluster <> '' THEN i.cluster WHEN d.hostname IS NOT NULL" \
	" THEN ifnull(d.cluster, '') END)"

/* The column a collection field is matched against for a kind, or NULL when the subject has no
 * such value (app IDs never; containers, images, namespaces, labels only for some kinds). */
static const char *field_col(int f, const char *kind)
{
	int cont = strcmp(kind, "container") == 0, img = strcmp(kind, "image") == 0;

	switch (f) {
	case 0: return cont ? "i.name" : NULL;               /* containers */
	case 1: return cont || img ? "i.image" : NULL;       /* images */
	case 2: return "i.hostname";                         /* hosts */
	case 3: return cont ? "ifnull(i.labels, '')" : NULL; /* labels: never unknown */
	case 4: return cont ? "i.namespace" : NULL;          /* namespaces */
	case 5: return EFF_CLUSTER;                          /* clusters */
	case 7: return "d.account_id";                       /* accountIDs */
	default: return NULL;                                /* appIDs */
	}
}

static const char *const field_names[] = { "containers", "images", "hosts", "labels",
					   "namespaces", "clusters", "appIDs", "accountIDs" };

/* One term's condition; an inexact one is replaced by what keeps every row the C rules could
 * keep: "1" for an inclusion, "0" for an exclusion (then negated). 1 when exact. */
static int term_sql(struct sqlq *q, int f, const char *col, const char *body, size_t n, int excl)
{
	const char *b;
	size_t bn;
	enum pk k;
	int exact;

	if (f == 3) {
		k = stars(body, n, &b, &bn);
		if (k == PK_ANY) {
			q_cat(q, "1");
			return 1;
		}
		exact = label_term(q, body, n);
	} else if (f == 1) {
		k = stars(body, n, &b, &bn);
		exact = image_term(q, k, b, bn);
		return exact;
	} else {
		k = stars(body, n, &b, &bn);
		if (k == PK_ANY)
			q_cat(q, "1");
		else
			like_term(q, col, k, b, bn);
		return 1;
	}
	if (!exact)
		q_cat(q, excl ? "0" : "1");
	return exact;
}

/* One field of a collection (lib/collection.c's field_match() and labels_match()): exclusions
 * first, then an open field (no inclusion, or '*') takes the rest, else an inclusion must match;
 * an unknown value (NULL) is taken by an open field only. Written in the simplest form that keeps
 * those rules, so that SQLite reads only the columns a collection names (a covering index, no
 * join when no field needs the Defenders table): an open field without exclusions is "1";
 * otherwise, since a NULL value makes LIKE NULL and the fields and collections are only ever
 * ANDed and ORed (never negated), a NULL is "not in" unless "V IS NULL OR" says otherwise.
 * 1 when exact. */
static int field_sql(struct sqlq *q, int f, const char *kind, json_t *pats)
{
	const char *col = field_col(f, kind);
	size_t i, ninc = 0, nexc = 0;
	int open = 0, exact = 1, first = 1;
	json_t *p;

	json_array_foreach(pats, i, p) {
		const char *raw = json_string_value(p), *b;
		size_t bn;
		if (raw == NULL)
			continue;
		if (raw[0] == '-') {
			nexc++;
			continue;
		}
		ninc++;
		/* A label pattern is "any" only when it is all stars ("*:*" needs a label). */
		if (stars(raw, strlen(raw), &b, &bn) == PK_ANY)
			open = 1;
	}
	if (ninc == 0)
		open = 1;
	if (col == NULL || (open && nexc == 0)) {
		q_cat(q, open ? "1" : "0");
		return 1;
	}
	if (strstr(col, "d.") != NULL)
		q->join = 1;
	q_cat(q, "(");
	if (open) {
		q_cat(q, col);
		q_cat(q, " IS NULL OR (");
	}
	json_array_foreach(pats, i, p) {
		const char *raw = json_string_value(p);
		if (raw == NULL || raw[0] != '-')
			continue;
		q_cat(q, first ? "NOT " : " AND NOT ");
		first = 0;
		exact &= term_sql(q, f, col, raw + 1, strlen(raw + 1), 1);
	}
	if (open) {
		q_cat(q, "))");
		return exact;
	}
	q_cat(q, first ? "(" : " AND (");
	first = 1;
	json_array_foreach(pats, i, p) {
		const char *raw = json_string_value(p);
		if (raw == NULL || raw[0] == '-')
			continue;
		q_cat(q, first ? "" : " OR ");
		first = 0;
		exact &= term_sql(q, f, col, raw, strlen(raw), 0);
	}
	q_cat(q, "))");
	return exact;
}

/* " AND (c1 OR c2 ...)" for the union of the collections. 1 when the SQL is exactly the C rules,
 * 0 when it keeps a superset (the caller must check rows in C), <0 out of memory. */
static int colls_sql(struct sqlq *q, struct collection *const *cs, size_t n, const char *kind)
{
	int exact = 1;

	q_cat(q, " AND (0");
	for (size_t c = 0; c < n; c++) {
		json_t *j = collection_to_json(cs[c]);
		if (j == NULL)
			return -ENOMEM;
		q_cat(q, " OR (1");
		for (int f = 0; f < 8; f++) {
			q_cat(q, " AND ");
			exact &= field_sql(q, f, kind, json_object_get(j, field_names[f]));
		}
		q_cat(q, ")");
		json_decref(j);
	}
	q_cat(q, ")");
	return q->err || q->sql.err ? -ENOMEM : exact;
}

int store_sort_path_ok(const char *p)
{
	size_t n = p ? strlen(p) : 0;

	/* Becomes the JSON path "$.<p>": segments of letters, digits and '_', none empty. */
	return n > 0 && n <= 128 && p[0] != '.' && p[n - 1] != '.' && strstr(p, "..") == NULL &&
	       strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._") == n;
}

static void order_sql(struct sqlq *q, const struct store_inv_query *iq)
{
	const char *dir = iq->reverse ? " DESC" : "";

	q_cat(q, " ORDER BY ");
	switch (iq->sort) {
	case STORE_INV_SORT_NAME: q_cat(q, "i.name COLLATE NOCASE"); break;
	case STORE_INV_SORT_HOSTNAME: q_cat(q, "i.hostname COLLATE NOCASE"); break;
	case STORE_INV_SORT_ID: q_cat(q, "i.id"); break;
	case STORE_INV_SORT_IMAGE: q_cat(q, "i.image COLLATE NOCASE"); break;
	case STORE_INV_SORT_NAMESPACE: q_cat(q, "i.namespace COLLATE NOCASE"); break;
	case STORE_INV_SORT_CLUSTER: q_cat(q, EFF_CLUSTER " COLLATE NOCASE"); break;
	case STORE_INV_SORT_UPDATED: q_cat(q, "i.updated"); break;
	case STORE_INV_SORT_DOC: {
		char *path = malloc(strlen(iq->sort_path) + 3);
		if (path)
			snprintf(path, strlen(iq->sort_path) + 3, "$.%s", iq->sort_path);
		q_cat(q, "json_extract(i.doc, ");
		q_bind(q, path);
		q_cat(q, ") COLLATE NOCASE");
		break;
	}
	case STORE_INV_SORT_NONE:
	default:
		q_cat(q, "i.hostname");
		q_cat(q, dir);
		q_cat(q, ", i.id");
		q_cat(q, dir);
		return;
	}
	q_cat(q, dir);
	q_cat(q, ", i.hostname");
	q_cat(q, dir);
	q_cat(q, ", i.id");
	q_cat(q, dir);
}

/* WHERE for everything but collections. */
static int where_sql(struct sqlq *q, const struct store_inv_query *iq)
{
	q_cat(q, " WHERE i.kind = ");
	q_bind_str(q, iq->kind);
	if (iq->hostname) {
		q_cat(q, " AND i.hostname = ");
		q_bind_str(q, iq->hostname);
	}
	if (iq->id) {
		q_cat(q, " AND i.id = ");
		q_bind_str(q, iq->id);
	}
	if (iq->image) {
		q_cat(q, " AND ");
		like_term(q, "i.image", PK_CONTAINS, iq->image, strlen(iq->image));
	}
	if (iq->search) {
		size_t n = strlen(iq->search);
		q_cat(q, " AND (");
		like_term(q, "i.name", PK_CONTAINS, iq->search, n);
		q_cat(q, " OR ");
		like_term(q, "i.image", PK_CONTAINS, iq->search, n);
		if (strcmp(iq->kind, "image") != 0) { /* an image's hosts are not its name */
			q_cat(q, " OR ");
			like_term(q, "i.hostname", PK_CONTAINS, iq->search, n);
		}
		q_cat(q, " OR ");
		like_term(q, "i.id", PK_CONTAINS, iq->search, n);
		q_cat(q, ")");
	}
	if (iq->nclusters) {
		q->join = 1;
		q_cat(q, " AND " EFF_CLUSTER " IN (");
		for (size_t i = 0; i < iq->nclusters; i++) {
			q_cat(q, i ? ", " : "");
			q_bind_str(q, iq->clusters[i]);
		}
		q_cat(q, ")");
	}
	if (iq->nnamespaces) {
		q_cat(q, " AND i.namespace IN (");
		for (size_t i = 0; i < iq->nnamespaces; i++) {
			q_cat(q, i ? ", " : "");
			q_bind_str(q, iq->namespaces[i]);
		}
		q_cat(q, ")");
	}
	return q->err || q->sql.err ? -ENOMEM : 0;
}

#define ROW_COLS "i.hostname, i.id, i.name, i.image, i.image_id, i.namespace, " EFF_CLUSTER \
	", d.account_id, i.labels, i.updated, i.rowid"
#define ROW_FROM " FROM inventory i LEFT JOIN defenders d ON d.hostname = i.hostname"

/* Splits a stored labels column into strings; returns the count (at most max), or -ENOMEM.
 * *buf is a scratch buffer grown as needed (the caller frees it); out points into it. */
static int labels_split(const char *col, char **buf, size_t *cap, char **out, size_t max)
{
	size_t n = col ? strlen(col) : 0, k = 0;
	char *w;

	if (n + 1 > *cap) {
		char *nb = realloc(*buf, n + 1);
		if (nb == NULL)
			return -ENOMEM;
		*buf = nb;
		*cap = n + 1;
	}
	w = *buf;
	for (size_t i = 0; i < n; i++) {
		if (col[i] == '\n') {
			*w++ = '\0';
			if (i + 1 < n && k < max)
				out[k++] = w;
			continue;
		}
		if (col[i] == '\\' && i + 1 < n) {
			i++;
			*w++ = col[i] == 'n' ? '\n' : col[i];
			continue;
		}
		*w++ = col[i];
	}
	*w = '\0';
	return (int)k;
}

static char *dup_opt(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void row_clear(struct store_inv_row *r)
{
	free(r->hostname);
	free(r->id);
	free(r->name);
	free(r->image);
	free(r->image_id);
	free(r->namespace_);
	free(r->cluster);
	free(r->account_id);
	for (size_t i = 0; i < r->nlabels; i++)
		free(r->labels[i]);
	free(r->labels);
	json_decref(r->doc);
	memset(r, 0, sizeof(*r));
}

void store_inv_result_clear(struct store_inv_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++)
		row_clear(&r->rows[i]);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

void store_inv_row_subject(const struct store_inv_row *row, const char *kind,
			   struct collection_subject *s)
{
	int cont = kind && strcmp(kind, "container") == 0, img = kind && strcmp(kind, "image") == 0;

	memset(s, 0, sizeof(*s));
	s->host = row->hostname;
	s->cluster = row->cluster;
	s->account_id = row->account_id;
	if (cont || img)
		s->image = row->image;
	if (cont) {
		s->container = row->name;
		s->namespace_ = row->namespace_;
		s->labels = (const char *const *)row->labels;
		s->nlabels = row->nlabels;
	}
}

/* A row being read: the statement's columns, valid until the next step. */
struct raw_row {
	const char *c[9];
	sqlite3_int64 updated, rowid;
	char *lbuf;
	size_t lcap;
	char *labels[STORE_INV_LABELS_MAX];
	size_t nlabels;
};

static int raw_read(sqlite3_stmt *st, struct raw_row *rr)
{
	int k;

	for (int i = 0; i < 9; i++)
		rr->c[i] = (const char *)sqlite3_column_text(st, i);
	rr->updated = sqlite3_column_int64(st, 9);
	rr->rowid = sqlite3_column_int64(st, 10);
	k = labels_split(rr->c[8], &rr->lbuf, &rr->lcap, rr->labels, STORE_INV_LABELS_MAX);
	if (k < 0)
		return k;
	rr->nlabels = (size_t)k;
	return 0;
}

/* The raw row as a store_inv_row (copies; doc text, when present, is kept in *doctxt). */
static int raw_keep(const struct raw_row *rr, struct store_inv_row *r)
{
	memset(r, 0, sizeof(*r));
	r->hostname = dup_opt(rr->c[0]);
	r->id = dup_opt(rr->c[1]);
	r->name = dup_opt(rr->c[2]);
	r->image = dup_opt(rr->c[3]);
	r->image_id = dup_opt(rr->c[4]);
	r->namespace_ = dup_opt(rr->c[5]);
	r->cluster = dup_opt(rr->c[6]);
	r->account_id = dup_opt(rr->c[7]);
	r->updated = (time_t)rr->updated;
	if (rr->nlabels && (r->labels = calloc(rr->nlabels, sizeof(*r->labels))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < rr->nlabels; i++) {
		if ((r->labels[i] = strdup(rr->labels[i])) == NULL)
			return -ENOMEM;
		r->nlabels++;
	}
	if (r->hostname == NULL || r->id == NULL)
		return -ENOMEM;
	return 0;
}

static int rows_push(struct store_inv_result *out, size_t *cap, char ***docs,
		     sqlite3_int64 **rowids)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct store_inv_row *nr = realloc(out->rows, ncap * sizeof(*nr));
		char **nd;
		sqlite3_int64 *ni;
		if (nr == NULL)
			return -ENOMEM;
		out->rows = nr;
		nd = realloc(*docs, ncap * sizeof(*nd));
		if (nd == NULL)
			return -ENOMEM;
		*docs = nd;
		ni = realloc(*rowids, ncap * sizeof(*ni));
		if (ni == NULL)
			return -ENOMEM;
		*rowids = ni;
		*cap = ncap;
	}
	memset(&out->rows[out->n], 0, sizeof(out->rows[0]));
	(*docs)[out->n] = NULL;
	out->n++;
	return 0;
}

/* Reads the page (and the total) under the lock; documents are copied as text into docs. */
static int inv_query_locked(struct store_sqlite *s, const struct store_inv_query *iq,
			    const struct sqlq *w, int exact, struct store_inv_result *out,
			    char ***docs, size_t *cap)
{
	struct sqlq q = { 0 };
	sqlite3_stmt *st = NULL;
	struct raw_row rr = { 0 };
	sqlite3_int64 *rowids = NULL;
	int r = 0, rc;

	if (exact) {
		/* The database filters, counts and pages. Without the join when the filters do not
		 * need it: the count can then be read from a covering index. */
		q_cat(&q, w->join ? "SELECT count(*)" ROW_FROM : "SELECT count(*) FROM inventory i");
		q_append(&q, w);
		if ((r = q_prepare(s, &q, &st)) < 0)
			goto out;
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = db_err(s, "inv_query count");
			goto out;
		}
		out->total = (long)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		q_free(&q);
	}
	q_cat(&q, "SELECT " ROW_COLS);
	q_cat(&q, exact && iq->with_doc ? ", i.doc" : ", NULL");
	q_cat(&q, ROW_FROM);
	q_append(&q, w);
	order_sql(&q, iq);
	if (exact) {
		char num[64];
		snprintf(num, sizeof(num), " LIMIT %ld OFFSET %ld", iq->limit > 0 ? iq->limit : -1L,
			 iq->offset);
		q_cat(&q, num);
	}
	if ((r = q_prepare(s, &q, &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((r = raw_read(st, &rr)) < 0)
			goto out;
		if (!exact) {
			/* Some pattern is not in the SQL: the C rules decide, then the page is cut. */
			struct store_inv_row tmp = { 0 };
			struct collection_subject subj;
			tmp.hostname = (char *)rr.c[0];
			tmp.name = (char *)rr.c[2];
			tmp.image = (char *)rr.c[3];
			tmp.namespace_ = (char *)rr.c[5];
			tmp.cluster = (char *)rr.c[6];
			tmp.account_id = (char *)rr.c[7];
			tmp.labels = rr.labels;
			tmp.nlabels = rr.nlabels;
			store_inv_row_subject(&tmp, iq->kind, &subj);
			if (!collection_match_any(iq->colls, iq->ncolls, &subj))
				continue;
			if (out->total++ < iq->offset ||
			    (iq->limit > 0 && (long)out->n >= iq->limit))
				continue;
		}
		if ((r = rows_push(out, cap, docs, &rowids)) < 0 ||
		    (r = raw_keep(&rr, &out->rows[out->n - 1])) < 0)
			goto out;
		rowids[out->n - 1] = rr.rowid;
		if (exact && iq->with_doc) {
			const char *t = (const char *)sqlite3_column_text(st, 11);
			if (t && ((*docs)[out->n - 1] = strdup(t)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
	if (rc != SQLITE_DONE) {
		r = db_err(s, "inv_query");
		goto out;
	}
	if (!exact && iq->with_doc && out->n > 0) {
		sqlite3_finalize(st);
		if (sqlite3_prepare_v2(s->db, "SELECT doc FROM inventory WHERE rowid = ?", -1, &st,
				       NULL) != SQLITE_OK) {
			st = NULL;
			r = db_err(s, "inv_query doc");
			goto out;
		}
		for (size_t i = 0; i < out->n; i++) {
			const char *t;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, rowids[i]);
			t = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
							    : NULL;
			if (t && ((*docs)[i] = strdup(t)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
	}
out:
	sqlite3_finalize(st);
	free(rowids);
	free(rr.lbuf);
	q_free(&q);
	return r;
}

static int ss_inv_query(struct store *base, const struct store_inv_query *iq,
			struct store_inv_result *out)
{
	struct store_sqlite *s = SS(base);
	struct sqlq w = { 0 };
	char **docs = NULL;
	size_t cap = 0, n;
	int r, exact = 1;

	memset(out, 0, sizeof(*out));
	if (iq->kind == NULL || (strcmp(iq->kind, "container") != 0 &&
				 strcmp(iq->kind, "image") != 0 && strcmp(iq->kind, "host") != 0) ||
	    iq->nclusters > 256 || iq->nnamespaces > 256 || iq->ncolls > 256 || iq->offset < 0 ||
	    iq->limit < 0 || (iq->sort == STORE_INV_SORT_DOC && !store_sort_path_ok(iq->sort_path)))
		return -EINVAL;
	if ((r = where_sql(&w, iq)) < 0)
		goto out;
	if (iq->ncolls) {
		if (iq->pushdown == STORE_PUSHDOWN_NONE)
			exact = 0;
		else if ((exact = r = colls_sql(&w, iq->colls, iq->ncolls, iq->kind)) < 0)
			goto out;
	}
	pthread_mutex_lock(&s->mu);
	r = inv_query_locked(s, iq, &w, exact, out, &docs, &cap);
	pthread_mutex_unlock(&s->mu);
	n = out->n;
	/* Parsed after the lock is released: the hub stores through the same lock. */
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && iq->with_doc) {
			json_t *doc = docs[i] ? json_loads(docs[i], 0, NULL) : NULL;
			out->rows[i].doc = doc ? doc : json_object();
		}
		free(docs[i]);
	}
	out->exact = exact;
out:
	free(docs);
	q_free(&w);
	if (r < 0)
		store_inv_result_clear(out);
	return r < 0 ? r : 0;
}

static int ss_inv_count_by_host(struct store *base, const struct store_inv_query *iq, json_t **out)
{
	struct store_sqlite *s = SS(base);
	struct store_inv_query all = { 0 };
	struct sqlq w = { 0 }, q = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *o = json_object();
	int r = 0, rc;

	*out = NULL;
	if (o == NULL)
		return -ENOMEM;
	if (iq->kind == NULL || iq->nclusters > 256 || iq->nnamespaces > 256 || iq->ncolls > 256) {
		r = -EINVAL;
		goto out;
	}
	if ((r = where_sql(&w, iq)) < 0)
		goto out;
	if (iq->ncolls && (iq->pushdown == STORE_PUSHDOWN_NONE ||
			   (r = colls_sql(&w, iq->colls, iq->ncolls, iq->kind)) <= 0)) {
		/* Not all in SQL: count the rows the C rules keep. */
		struct store_inv_result res = { 0 };
		if (r < 0)
			goto out;
		all = *iq;
		all.offset = all.limit = 0;
		all.with_doc = 0;
		all.sort = STORE_INV_SORT_NONE;
		if ((r = ss_inv_query(base, &all, &res)) < 0)
			goto out;
		for (size_t i = 0; i < res.n; i++) {
			json_t *c = json_object_get(o, res.rows[i].hostname);
			json_object_set_new(o, res.rows[i].hostname, json_integer(json_integer_value(c) + 1));
		}
		store_inv_result_clear(&res);
		goto out;
	}
	q_cat(&q, w.join ? "SELECT i.hostname, count(*)" ROW_FROM :
			   "SELECT i.hostname, count(*) FROM inventory i");
	q_append(&q, &w);
	q_cat(&q, " GROUP BY i.hostname");
	pthread_mutex_lock(&s->mu);
	if ((r = q_prepare(s, &q, &st)) == 0) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *h = (const char *)sqlite3_column_text(st, 0);
			if (h)
				json_object_set_new(o, h, json_integer(sqlite3_column_int64(st, 1)));
		}
		if (rc != SQLITE_DONE)
			r = db_err(s, "inv_count_by_host");
	}
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
out:
	q_free(&q);
	q_free(&w);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	*out = o;
	return 0;
}

static int ss_inv_get(struct store *base, const char *kind, const char *hostname, const char *id,
		      json_t **doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *txt = NULL;
	int r = -ENOENT;

	*doc = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT doc FROM inventory WHERE kind=? AND hostname=? AND id=?",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "inv_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		txt = col_str(st, 0);
		r = txt ? 0 : -ENOMEM;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r == 0) {
		*doc = json_loads(txt, 0, NULL);
		if (*doc == NULL)
			*doc = json_object();
	}
	free(txt);
	return r;
}

/* ---- collections ---------------------------------------------------------------------------- */

static int ss_coll_list(struct store *base, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int r = 0, rc;

	*out = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT doc FROM collections ORDER BY rowid", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "coll_list");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, col_json(st, 0));
	if (rc != SQLITE_DONE)
		r = db_err(s, "coll_list");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

static int ss_coll_get(struct store *base, const char *name, json_t **doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*doc = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT doc FROM collections WHERE name=?", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "coll_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*doc = col_json(st, 0);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_coll_put(struct store *base, const char *name, json_t *doc, int create)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *txt = json_dumps(doc, JSON_COMPACT);
	int r = 0, rc;

	if (txt == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	rc = sqlite3_prepare_v2(s->db, create ?
		"INSERT INTO collections(name,doc,modified) VALUES(?,?,?)" :
		"UPDATE collections SET doc=?2, modified=?3 WHERE name=?1", -1, &st, NULL);
	if (rc != SQLITE_OK) {
		r = db_err(s, "coll_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, txt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		r = -EEXIST;
	else if (rc != SQLITE_DONE)
		r = db_err(s, "coll_put");
	else if (!create && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	free(txt);
	return r;
}

static int ss_coll_delete(struct store *base, const char *name)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	const char *v[] = { name };
	int r;

	pthread_mutex_lock(&s->mu);
	/* One statement: the check and the delete cannot be split by a usage_set. */
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM collection_usages WHERE collection=? LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "coll_delete");
		goto out;
	}
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(st);
	if (r == SQLITE_ROW) {
		r = -EBUSY;
		goto out;
	}
	if (r != SQLITE_DONE) {
		r = db_err(s, "coll_delete");
		goto out;
	}
	r = exec_text(s, "DELETE FROM collections WHERE name=?", 1, v);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int usage_type_ok(const char *type)
{
	static const char *const types[] = STORE_USAGE_TYPES;

	for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(type, types[i]) == 0)
			return 1;
	return 0;
}

static int ss_coll_usage_set(struct store *base, const char *type, const char *name,
			     const char *const *colls, size_t n)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *del = NULL, *ins = NULL;
	size_t nl = name ? strnlen(name, STORE_USAGE_NAME_MAX + 1) : 0;
	int r = 0;

	if (!usage_type_ok(type) || nl == 0 || nl > STORE_USAGE_NAME_MAX || (n && colls == NULL))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (colls[i] == NULL || colls[i][0] == '\0')
			return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "coll_usage_set begin");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db, "DELETE FROM collection_usages WHERE type=? AND name=?", -1,
			       &del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO collection_usages(collection,type,name)"
				      " VALUES(?,?,?)", -1, &ins, NULL) != SQLITE_OK) {
		r = db_err(s, "coll_usage_set prepare");
		goto rollback;
	}
	sqlite3_bind_text(del, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 2, name, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE) {
		r = db_err(s, "coll_usage_set delete");
		goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, colls[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, type, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, name, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			r = db_err(s, "coll_usage_set insert");
			goto rollback;
		}
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "coll_usage_set commit");
		goto rollback;
	}
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_coll_usages(struct store *base, const char *collection, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int r = 0, rc;

	*out = NULL;
	if (arr == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT type, name FROM collection_usages WHERE collection=?"
				      " ORDER BY type, name", -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "coll_usages");
		goto out;
	}
	sqlite3_bind_text(st, 1, collection, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s,s:s}",
			"type", (const char *)sqlite3_column_text(st, 0),
			"name", (const char *)sqlite3_column_text(st, 1)));
	if (rc != SQLITE_DONE)
		r = db_err(s, "coll_usages");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

/* ---- scan records ------------------------------------------------------------------------ */

static int ss_scan_put(struct store *base, const char *kind, const char *id, const char *hostname,
		       json_t *doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *text = json_dumps(doc, JSON_COMPACT);
	const json_t *ent = json_object_get(doc, "entityInfo");
	const char *job = json_string_value(json_object_get(doc, "jobName"));
	const char *name = json_string_value(json_object_get(json_object_get(ent, "repoTag"), "repo"));
	char search[600];
	int r = 0;

	if (text == NULL)
		return -ENOMEM;
	snprintf(search, sizeof(search), "%s %s", job ? job : "", name ? name : "");
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "INSERT INTO scans(kind,id,hostname,doc,updated,pass,search)"
				      " VALUES(?,?,?,?,?,?,?) ON CONFLICT(kind,id) DO UPDATE SET"
				      " hostname=excluded.hostname, doc=excluded.doc,"
				      " updated=excluded.updated, pass=excluded.pass, search=excluded.search",
			       -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "scan_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, hostname ? hostname : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	if (json_is_boolean(json_object_get(doc, "pass")))
		sqlite3_bind_int(st, 6, json_is_true(json_object_get(doc, "pass")));
	sqlite3_bind_text(st, 7, search, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "scan_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	free(text);
	return r;
}

static int ss_scan_get(struct store *base, const char *kind, const char *id, json_t **doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *text = NULL;
	int r = -ENOENT;

	*doc = NULL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT doc FROM scans WHERE kind=? AND id=?", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "scan_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		text = col_str(st, 0);
		r = text ? 0 : -ENOMEM;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r == 0) {
		/* parsed after the lock is released: documents may be megabytes */
		*doc = json_loads(text, 0, NULL);
		r = *doc ? 0 : -EIO;
	}
	free(text);
	return r;
}

static int ss_scan_delete(struct store *base, const char *kind, const char *id)
{
	struct store_sqlite *s = SS(base);
	const char *v[] = { kind, id };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "DELETE FROM scans WHERE kind=? AND id=?", 2, v);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_scan_ids(struct store *base, const char *kind, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	*out = json_array();
	if (*out == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT id, hostname FROM scans WHERE kind=? ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(s, "scan_ids");
		goto out;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (json_array_append_new(*out, json_pack("{s:s,s:s}", "id",
				(const char *)sqlite3_column_text(st, 0), "hostname",
				(const char *)sqlite3_column_text(st, 1))) != 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		r = db_err(s, "scan_ids");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

static int ss_scan_list(struct store *base, const char *kind, const struct store_scan_filter *f,
			json_t **out, long *total)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char where[256], sql[512], pat[300];
	char **texts = NULL;
	size_t n = 0, cap = 0;
	int r = 0, rc;

	*out = NULL;
	*total = 0;
	snprintf(where, sizeof(where), "kind=?1%s%s", f->pass >= 0 ? " AND pass=?2" : "",
		 f->search ? " AND search LIKE ?3 ESCAPE '\\'" : "");
	if (f->search) {
		size_t k = 0;
		pat[k++] = '%';
		for (const char *c = f->search; *c && k + 3 < sizeof(pat); c++) {
			if (*c == '%' || *c == '_' || *c == '\\')
				pat[k++] = '\\';
			pat[k++] = *c;
		}
		pat[k++] = '%';
		pat[k] = '\0';
	}
	pthread_mutex_lock(&s->mu);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0)
			snprintf(sql, sizeof(sql), "SELECT count(*) FROM scans WHERE %s", where);
		else
			snprintf(sql, sizeof(sql), "SELECT doc FROM scans WHERE %s ORDER BY updated DESC,"
				 " id LIMIT ?4 OFFSET ?5", where);
		if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
			r = db_err(s, "scan_list");
			goto out;
		}
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
		if (f->pass >= 0)
			sqlite3_bind_int(st, 2, f->pass);
		if (f->search)
			sqlite3_bind_text(st, 3, pat, -1, SQLITE_STATIC);
		if (pass == 1) {
			sqlite3_bind_int64(st, 4, f->limit > 0 ? f->limit : -1);
			sqlite3_bind_int64(st, 5, f->offset);
		}
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (pass == 0) {
				*total = (long)sqlite3_column_int64(st, 0);
				continue;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				char **v = realloc(texts, nc * sizeof(*v));
				if (v == NULL) {
					r = -ENOMEM;
					goto out;
				}
				texts = v;
				cap = nc;
			}
			if ((texts[n] = col_str(st, 0)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			n++;
		}
		if (rc != SQLITE_DONE) {
			r = db_err(s, "scan_list");
			goto out;
		}
		sqlite3_finalize(st);
		st = NULL;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r == 0 && (*out = json_array()) == NULL)
		r = -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (r == 0)
			json_array_append_new(*out, json_loads(texts[i], 0, NULL));
		free(texts[i]);
	}
	free(texts);
	return r;
}

/* ---- runtime defense (schema v4) ---------------------------------------------------------- */

#define RT_REVISION_KEY "runtime.revision"

/* Column names of each runtime table per store_rt_col (NULL: not a filter of that list). */
static const char *const rt_audit_cols[STORE_RT_NCOLS] = {
	"hostname", "cluster", "namespace", "image_name", "container_id", "container_name",
	"attack_type", "type", "effect", "rule_name", "process_path", "user", NULL, NULL, NULL,
};
static const char *const rt_incident_cols[STORE_RT_NCOLS] = {
	"hostname", "cluster", NULL, NULL, "container_id", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	"category", NULL, NULL,
};
static const char *const rt_profile_cols[STORE_RT_NCOLS] = {
	"hostname", "cluster", "namespace", "image", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
	NULL, "state", "id",
};

static int rt_revision_locked(struct store_sqlite *s, long long *rev)
{
	sqlite3_stmt *st = NULL;
	int r = 0;

	*rev = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='" RT_REVISION_KEY "'", -1,
			       &st, NULL) != SQLITE_OK)
		return db_err(s, "rt_revision");
	if (sqlite3_step(st) == SQLITE_ROW)
		*rev = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return r;
}

static int ss_rt_revision(struct store *base, long long *rev)
{
	struct store_sqlite *s = SS(base);
	int r;

	pthread_mutex_lock(&s->mu);
	r = rt_revision_locked(s, rev);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_rt_policy_get(struct store *base, const char *kind, json_t **doc, long long *rev)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;

	*doc = NULL;
	if (rev)
		*rev = 0;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT doc, revision FROM runtime_policies WHERE kind=?", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_policy_get");
		goto out;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*doc = col_json(st, 0);
		if (rev)
			*rev = sqlite3_column_int64(st, 1);
		r = 0;
	}
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_rt_policy_put(struct store *base, const char *kind, json_t *doc, long long *rev)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *txt = json_dumps(doc, JSON_COMPACT);
	long long cur = 0;
	int r = 0;

	if (txt == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_policy_put begin");
		goto out;
	}
	if ((r = rt_revision_locked(s, &cur)) < 0)
		goto rollback;
	cur++;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO runtime_policies(kind,doc,revision,modified)"
				      " VALUES(?,?,?,?) ON CONFLICT(kind) DO UPDATE SET doc=excluded.doc,"
				      " revision=excluded.revision, modified=excluded.modified", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "rt_policy_put");
		goto rollback;
	}
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, txt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, cur);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(s, "rt_policy_put");
		goto rollback;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO meta(key,value) VALUES('" RT_REVISION_KEY "',?)"
				      " ON CONFLICT(key) DO UPDATE SET value=excluded.value", -1, &st,
			       NULL) != SQLITE_OK) {
		r = db_err(s, "rt_policy_put revision");
		goto rollback;
	}
	sqlite3_bind_int64(st, 1, cur);
	if (sqlite3_step(st) != SQLITE_DONE) {
		r = db_err(s, "rt_policy_put revision");
		goto rollback;
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_policy_put commit");
		goto rollback;
	}
	if (rev)
		*rev = cur;
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	free(txt);
	return r;
}

static const char *nz(const char *v)
{
	return v ? v : "";
}

/* The incident an audit joins (same workload and category, within the window of its audits),
 * created when there is none. Caller holds the lock inside a transaction. */
static int rt_incident_for(struct store_sqlite *s, const char *hostname,
			   const struct store_rt_audit *a, sqlite3_int64 *id)
{
	sqlite3_stmt *st = NULL;
	int r = 0, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT id FROM runtime_incidents WHERE hostname=?1 AND"
				      " container_id=?2 AND category=?3 AND kind=?4 AND"
				      " first_ns - ?6 <= ?5 AND ?5 <= last_ns + ?6"
				      " ORDER BY last_ns DESC LIMIT 1", -1, &st, NULL) != SQLITE_OK)
		return db_err(s, "rt incident");
	sqlite3_bind_text(st, 1, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, nz(a->container_id), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, nz(a->category), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, nz(a->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, a->time_ns);
	sqlite3_bind_int64(st, 6, STORE_RT_INCIDENT_WINDOW_NS);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (sqlite3_prepare_v2(s->db, "UPDATE runtime_incidents SET first_ns=min(first_ns,?2),"
					      " last_ns=max(last_ns,?2), count=count+1 WHERE id=?1", -1,
				       &st, NULL) != SQLITE_OK)
			return db_err(s, "rt incident update");
		sqlite3_bind_int64(st, 1, *id);
		sqlite3_bind_int64(st, 2, a->time_ns);
		if (sqlite3_step(st) != SQLITE_DONE)
			r = db_err(s, "rt incident update");
		sqlite3_finalize(st);
		return r;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(s, "rt incident");
	if (sqlite3_prepare_v2(s->db, "INSERT INTO runtime_incidents(kind,hostname,container_id,"
				      "category,cluster,namespace,container_name,image_name,first_ns,"
				      "last_ns,count) VALUES(?,?,?,?,?,?,?,?,?,?,1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(s, "rt incident insert");
	sqlite3_bind_text(st, 1, nz(a->kind), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, nz(a->container_id), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, nz(a->category), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, nz(a->cluster), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, nz(a->namespace_), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, nz(a->container_name), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, nz(a->image_name), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, a->time_ns);
	sqlite3_bind_int64(st, 10, a->time_ns);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "rt incident insert");
	else
		*id = sqlite3_last_insert_rowid(s->db);
	sqlite3_finalize(st);
	return r;
}

static int ss_rt_prune(struct store *base, int64_t before_ns, long long max_per_kind,
		       long long *audits, long long *incidents)
{
	static const char *const kinds[] = { "container", "host" };
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	long long na = 0, ni = 0;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_prune begin");
		goto out;
	}
	if (before_ns > 0) {
		if (sqlite3_prepare_v2(s->db, "DELETE FROM runtime_audits WHERE time_ns < ?", -1, &st,
				       NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_int64(st, 1, before_ns);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		na += sqlite3_changes(s->db);
		sqlite3_finalize(st);
		st = NULL;
	}
	for (int k = 0; max_per_kind > 0 && k < 2; k++) {
		/* Everything older than the max_per_kind-th newest (time, then id) of the kind. */
		if (sqlite3_prepare_v2(s->db,
				       "DELETE FROM runtime_audits WHERE id IN (SELECT id FROM runtime_audits"
				       " WHERE kind=?1 ORDER BY time_ns DESC, id DESC LIMIT -1 OFFSET ?2)",
				       -1, &st, NULL) != SQLITE_OK)
			goto fail;
		sqlite3_bind_text(st, 1, kinds[k], -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, max_per_kind);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		na += sqlite3_changes(s->db);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (na > 0) {
		if (sqlite3_exec(s->db,
				 "UPDATE runtime_incidents SET count=(SELECT COUNT(*) FROM runtime_audits a"
				 " WHERE a.incident=runtime_incidents.id), first_ns=coalesce((SELECT"
				 " min(time_ns) FROM runtime_audits a WHERE a.incident=runtime_incidents.id),"
				 " first_ns)", NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(s->db, "DELETE FROM runtime_incidents WHERE count=0", NULL, NULL, NULL) !=
			    SQLITE_OK)
			goto fail;
		ni = sqlite3_changes(s->db);
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	goto out;
fail:
	r = db_err(s, "rt_prune");
	sqlite3_finalize(st);
	st = NULL;
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	na = ni = 0;
out:
	pthread_mutex_unlock(&s->mu);
	if (audits)
		*audits = na;
	if (incidents)
		*incidents = ni;
	return r;
}

static int ss_rt_audits_add(struct store *base, const char *hostname,
			    const struct store_rt_audit *v, size_t n, size_t *added)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *ins = NULL, *link = NULL, *merge = NULL;
	size_t nnew = 0;
	int r = 0;

	if (added)
		*added = 0;
	if (hostname == NULL || (n && v == NULL))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (v[i].doc == NULL || v[i].seq > INT64_MAX)
			return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_audits_add begin");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO runtime_audits(hostname,seq,kind,time_ns,"
				      "type,attack_type,effect,rule_name,cluster,namespace,container_id,"
				      "container_name,image_name,process_path,user,doc)"
				      " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", -1, &ins, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "UPDATE runtime_audits SET incident=? WHERE id=?", -1, &link,
			       NULL) != SQLITE_OK ||
	    /* a throttle update (count > 1) is a copy of its window's first audit with the total:
	     * it raises that audit's count instead of standing beside it (docs/runtime-console.md) */
	    sqlite3_prepare_v2(s->db, "UPDATE runtime_audits SET doc=json_set(doc,'$.count',"
				      "max(coalesce(json_extract(doc,'$.count'),1),?1)) WHERE hostname=?2"
				      " AND time_ns=?3 AND kind=?4 AND attack_type=?5 AND effect=?6 AND"
				      " container_id=?7 AND seq<?8", -1, &merge, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_audits_add prepare");
		goto rollback;
	}
	for (size_t i = 0; i < n; i++) {
		const struct store_rt_audit *a = &v[i];
		const char *txt[] = { a->kind, a->type, a->attack_type, a->effect, a->rule_name,
				      a->cluster, a->namespace_, a->container_id, a->container_name,
				      a->image_name, a->process_path, a->user };
		json_int_t count = json_integer_value(json_object_get(a->doc, "count"));
		char *doc;
		sqlite3_int64 aid, inc = 0;

		if (count > 1 && a->first_ns > 0) {
			sqlite3_reset(merge);
			sqlite3_bind_int64(merge, 1, count);
			sqlite3_bind_text(merge, 2, hostname, -1, SQLITE_STATIC);
			sqlite3_bind_int64(merge, 3, a->first_ns);
			sqlite3_bind_text(merge, 4, nz(a->kind), -1, SQLITE_STATIC);
			sqlite3_bind_text(merge, 5, nz(a->attack_type), -1, SQLITE_STATIC);
			sqlite3_bind_text(merge, 6, nz(a->effect), -1, SQLITE_STATIC);
			sqlite3_bind_text(merge, 7, nz(a->container_id), -1, SQLITE_STATIC);
			sqlite3_bind_int64(merge, 8, (sqlite3_int64)a->seq);
			if (sqlite3_step(merge) != SQLITE_DONE) {
				r = db_err(s, "rt_audits_add merge");
				goto rollback;
			}
			if (sqlite3_changes(s->db) > 0)
				continue; /* merged into its first audit */
		}
		doc = json_dumps(a->doc, JSON_COMPACT);
		if (doc == NULL) {
			r = -ENOMEM;
			goto rollback;
		}
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		sqlite3_bind_text(ins, 1, hostname, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)a->seq);
		sqlite3_bind_text(ins, 3, nz(txt[0]), -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, a->time_ns);
		for (int k = 1; k < 12; k++)
			sqlite3_bind_text(ins, 4 + k, nz(txt[k]), -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 16, doc, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			free(doc);
			r = db_err(s, "rt_audits_add insert");
			goto rollback;
		}
		free(doc);
		if (sqlite3_changes(s->db) == 0)
			continue; /* stored already: a resent record */
		aid = sqlite3_last_insert_rowid(s->db);
		nnew++;
		if ((r = rt_incident_for(s, hostname, a, &inc)) < 0)
			goto rollback;
		sqlite3_reset(link);
		sqlite3_bind_int64(link, 1, inc);
		sqlite3_bind_int64(link, 2, aid);
		if (sqlite3_step(link) != SQLITE_DONE) {
			r = db_err(s, "rt_audits_add link");
			goto rollback;
		}
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_audits_add commit");
		goto rollback;
	}
	if (added)
		*added = nnew;
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(ins);
	sqlite3_finalize(link);
	sqlite3_finalize(merge);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* WHERE for a runtime list into q (bound values pushed), from the table's column names. */
static int rt_where(struct sqlq *q, const struct store_rt_query *rq, const char *const *cols,
		    const char *time_col, int has_kind, int has_ack)
{
	q_cat(q, " WHERE 1");
	if (rq->kind && has_kind) {
		q_cat(q, " AND kind=");
		q_bind_str(q, rq->kind);
	}
	for (int c = 0; c < STORE_RT_NCOLS; c++) {
		if (rq->neq[c] == 0)
			continue;
		if (cols[c] == NULL || rq->neq[c] > STORE_RT_VALUES_MAX)
			return -EINVAL;
		q_cat(q, " AND ");
		q_cat(q, cols[c]);
		q_cat(q, " IN (");
		for (size_t i = 0; i < rq->neq[c]; i++) {
			if (i)
				q_cat(q, ",");
			q_bind_str(q, rq->eq[c][i] ? rq->eq[c][i] : "");
		}
		q_cat(q, ")");
	}
	if (time_col && rq->from_ns > 0) {
		char b[64];
		snprintf(b, sizeof(b), " AND %s >= %lld", time_col, (long long)rq->from_ns);
		q_cat(q, b);
	}
	if (time_col && rq->to_ns > 0) {
		char b[64];
		snprintf(b, sizeof(b), " AND %s <= %lld", time_col, (long long)rq->to_ns);
		q_cat(q, b);
	}
	if (rq->id > 0) {
		char b[64];
		snprintf(b, sizeof(b), " AND id = %lld", rq->id);
		q_cat(q, b);
	}
	if (has_ack && rq->acknowledged >= 0)
		q_cat(q, rq->acknowledged ? " AND acknowledged=1" : " AND acknowledged=0");
	return q->err ? -ENOMEM : 0;
}

/* RFC 3339 UTC with nanoseconds. */
static void rt_time_str(int64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000ll);
	struct tm tm;
	char t[32];

	if (ns < 0 || gmtime_r(&secs, &tm) == NULL || strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S",
							     &tm) == 0) {
		snprintf(buf, len, "1970-01-01T00:00:00Z");
		return;
	}
	snprintf(buf, len, "%s.%09lldZ", t, (long long)(ns % 1000000000ll));
}

/* Runs "SELECT count(*) FROM <from><where>" into *total. Caller holds the lock. */
static int rt_count(struct store_sqlite *s, const char *from, struct sqlq *where, long *total)
{
	struct sqlq q = { 0 };
	sqlite3_stmt *st = NULL;
	int r;

	q_cat(&q, "SELECT count(*) FROM ");
	q_cat(&q, from);
	q_append(&q, where);
	if ((r = q_prepare(s, &q, &st)) == 0) {
		if (sqlite3_step(st) == SQLITE_ROW)
			*total = (long)sqlite3_column_int64(st, 0);
		else
			r = db_err(s, "rt count");
	}
	sqlite3_finalize(st);
	q_free(&q);
	return r;
}

/* Appends ORDER BY: the document member doc_path first when given (json_extract, case-insensitive;
 * NULL: none), then terms, each with DESC when reverse; then LIMIT/OFFSET. */
static void rt_order(struct sqlq *q, const char *doc_path, const char *const *terms,
		     const struct store_rt_query *rq)
{
	const char *dir = rq->reverse ? " DESC" : " ASC";
	char b[96];

	q_cat(q, " ORDER BY ");
	if (doc_path != NULL) {
		char *path = malloc(strlen(doc_path) + 3);
		if (path)
			snprintf(path, strlen(doc_path) + 3, "$.%s", doc_path);
		q_cat(q, "json_extract(doc, ");
		q_bind(q, path);
		q_cat(q, ") COLLATE NOCASE");
		q_cat(q, dir);
		q_cat(q, ", ");
	}
	for (size_t i = 0; terms[i]; i++) {
		q_cat(q, i ? ", " : "");
		q_cat(q, terms[i]);
		q_cat(q, dir);
	}
	snprintf(b, sizeof(b), " LIMIT %ld OFFSET %ld", rq->limit > 0 ? rq->limit : -1L,
		 rq->offset > 0 ? rq->offset : 0L);
	q_cat(q, b);
}

static const char *const audit_order[] = { "time_ns", "id", NULL };

/* The document member an audits list is ordered by first: NULL for time (the time column). */
static const char *audit_sort(const struct store_rt_query *rq)
{
	return rq->sort_path && strcmp(rq->sort_path, "time") != 0 ? rq->sort_path : NULL;
}

static json_t *rt_audit_doc(sqlite3_stmt *st, int id_col, int doc_col)
{
	json_t *d = col_json(st, doc_col);
	char id[32];

	snprintf(id, sizeof(id), "%lld", (long long)sqlite3_column_int64(st, id_col));
	json_object_set_new(d, "_id", json_string(id));
	return d;
}

static int ss_rt_audits_query(struct store *base, const struct store_rt_query *rq, json_t **out,
			      long *total)
{
	struct store_sqlite *s = SS(base);
	struct sqlq where = { 0 }, q = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int r, rc;

	*out = NULL;
	*total = 0;
	if (arr == NULL)
		return -ENOMEM;
	if ((r = rt_where(&where, rq, rt_audit_cols, "time_ns", 1, 0)) < 0)
		goto done;
	if (rq->sort_path != NULL && !store_sort_path_ok(rq->sort_path)) {
		r = -EINVAL;
		goto done;
	}
	if (rq->keep != NULL) {
		/* Every row that passes the SQL filters, in order; keep() decides, the page is cut
		 * here and only its documents are decoded. */
		struct store_rt_query all = *rq;
		long kept = 0;
		all.offset = 0;
		all.limit = 0;
		q_cat(&q, "SELECT id, doc, hostname, cluster, namespace, image_name, container_name,"
			  " container_id FROM runtime_audits");
		q_append(&q, &where);
		rt_order(&q, audit_sort(&all), audit_order, &all);
		pthread_mutex_lock(&s->mu);
		if ((r = q_prepare(s, &q, &st)) < 0)
			goto out;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			struct store_rt_subject subj = {
				nz((const char *)sqlite3_column_text(st, 2)),
				nz((const char *)sqlite3_column_text(st, 3)),
				nz((const char *)sqlite3_column_text(st, 4)),
				nz((const char *)sqlite3_column_text(st, 5)),
				nz((const char *)sqlite3_column_text(st, 6)),
				nz((const char *)sqlite3_column_text(st, 7)),
			};
			if (!rq->keep(&subj, rq->keep_arg))
				continue;
			if (kept >= rq->offset && (rq->limit <= 0 || (long)json_array_size(arr) < rq->limit))
				json_array_append_new(arr, rt_audit_doc(st, 0, 1));
			kept++;
		}
		*total = kept;
		if (rc != SQLITE_DONE)
			r = db_err(s, "rt_audits_query");
		goto out;
	}
	q_cat(&q, "SELECT id, doc FROM runtime_audits");
	q_append(&q, &where);
	rt_order(&q, audit_sort(rq), audit_order, rq);
	pthread_mutex_lock(&s->mu);
	if ((r = rt_count(s, "runtime_audits", &where, total)) < 0 || (r = q_prepare(s, &q, &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, rt_audit_doc(st, 0, 1));
	if (rc != SQLITE_DONE)
		r = db_err(s, "rt_audits_query");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
done:
	q_free(&where);
	q_free(&q);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

/* The audits of one incident, newest STORE_RT_INCIDENT_AUDITS_MAX in time order. Locked. */
static json_t *rt_incident_audits(struct store_sqlite *s, sqlite3_stmt *st, sqlite3_int64 id)
{
	json_t *arr = json_array();
	int rc;

	sqlite3_reset(st);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_insert_new(arr, 0, rt_audit_doc(st, 0, 1));
	if (rc != SQLITE_DONE)
		db_err(s, "rt incident audits");
	return arr;
}

static int ss_rt_incidents_query(struct store *base, const struct store_rt_query *rq, json_t **out,
				 long *total)
{
	static const char *const order[] = { "first_ns", "id", NULL };
	struct store_sqlite *s = SS(base);
	struct sqlq where = { 0 }, q = { 0 };
	sqlite3_stmt *st = NULL, *au = NULL;
	json_t *arr = json_array();
	char b[96];
	int r, rc;

	*out = NULL;
	*total = 0;
	if (arr == NULL)
		return -ENOMEM;
	if ((r = rt_where(&where, rq, rt_incident_cols, NULL, 1, 1)) < 0)
		goto done;
	/* An incident is in [from, to] when its audits overlap it. */
	if (rq->from_ns > 0) {
		snprintf(b, sizeof(b), " AND last_ns >= %lld", (long long)rq->from_ns);
		q_cat(&where, b);
	}
	if (rq->to_ns > 0) {
		snprintf(b, sizeof(b), " AND first_ns <= %lld", (long long)rq->to_ns);
		q_cat(&where, b);
	}
	q_cat(&q, "SELECT id, kind, hostname, container_id, category, cluster, namespace,"
		  " container_name, image_name, first_ns, last_ns, acknowledged, count"
		  " FROM runtime_incidents");
	q_append(&q, &where);
	rt_order(&q, NULL, order, rq);
	pthread_mutex_lock(&s->mu);
	if ((r = rt_count(s, "runtime_incidents", &where, total)) < 0 ||
	    (r = q_prepare(s, &q, &st)) < 0)
		goto out;
	if (sqlite3_prepare_v2(s->db, "SELECT id, doc FROM runtime_audits WHERE incident=?"
				      " ORDER BY time_ns DESC, id DESC LIMIT "
				      STRINGIFY(STORE_RT_INCIDENT_AUDITS_MAX), -1, &au, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "rt_incidents_query");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		char ids[32], when[48];
		json_t *inc;

		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		rt_time_str(sqlite3_column_int64(st, 9), when, sizeof(when));
		inc = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:o,s:I}",
				"_id", ids, "time", when,
				"type", (const char *)sqlite3_column_text(st, 1),
				"hostname", (const char *)sqlite3_column_text(st, 2),
				"containerID", (const char *)sqlite3_column_text(st, 3),
				"category", (const char *)sqlite3_column_text(st, 4),
				"cluster", (const char *)sqlite3_column_text(st, 5),
				"namespace", (const char *)sqlite3_column_text(st, 6),
				"containerName", (const char *)sqlite3_column_text(st, 7),
				"imageName", (const char *)sqlite3_column_text(st, 8),
				"acknowledged", sqlite3_column_int(st, 11),
				"serialNum", (json_int_t)id,
				"audits", rt_incident_audits(s, au, id),
				"auditsTotal", (json_int_t)sqlite3_column_int64(st, 12));
		if (inc) {
			rt_time_str(sqlite3_column_int64(st, 10), when, sizeof(when));
			json_object_set_new(inc, "lastTime", json_string(when));
		}
		if (inc == NULL || json_array_append_new(arr, inc) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE)
		r = db_err(s, "rt_incidents_query");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(au);
	pthread_mutex_unlock(&s->mu);
done:
	q_free(&where);
	q_free(&q);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

static int ss_rt_incident_ack(struct store *base, long long id, int ack)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	int r = 0;

	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "UPDATE runtime_incidents SET acknowledged=? WHERE id=?", -1,
			       &st, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_incident_ack");
		goto out;
	}
	sqlite3_bind_int(st, 1, ack ? 1 : 0);
	sqlite3_bind_int64(st, 2, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "rt_incident_ack");
	else if (sqlite3_changes(s->db) == 0)
		r = -ENOENT;
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_rt_profiles_replace(struct store *base, const char *hostname, json_t *profiles)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *del = NULL, *ins = NULL;
	json_t *p;
	size_t i;
	int r = 0;

	if (hostname == NULL || !json_is_array(profiles))
		return -EINVAL;
	json_array_foreach(profiles, i, p)
		if (!json_is_string(json_object_get(p, "_id")))
			return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_profiles_replace begin");
		goto out;
	}
	if (sqlite3_prepare_v2(s->db, "DELETE FROM runtime_profiles WHERE hostname=?", -1, &del,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO runtime_profiles(hostname,id,image,"
				      "namespace,cluster,state,doc,updated) VALUES(?,?,?,?,?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_profiles_replace prepare");
		goto rollback;
	}
	sqlite3_bind_text(del, 1, hostname, -1, SQLITE_STATIC);
	if (sqlite3_step(del) != SQLITE_DONE) {
		r = db_err(s, "rt_profiles_replace delete");
		goto rollback;
	}
	json_array_foreach(profiles, i, p) {
		char *txt = json_dumps(p, JSON_COMPACT);
		static const char *const keys[] = { "_id", "image", "namespace", "cluster", "state" };

		if (txt == NULL) {
			r = -ENOMEM;
			goto rollback;
		}
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, hostname, -1, SQLITE_STATIC);
		for (int k = 0; k < 5; k++)
			sqlite3_bind_text(ins, 2 + k, nz(json_string_value(json_object_get(p, keys[k]))),
					  -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 7, txt, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 8, (sqlite3_int64)time(NULL));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			free(txt);
			r = db_err(s, "rt_profiles_replace insert");
			goto rollback;
		}
		free(txt);
	}
	if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_profiles_replace commit");
		goto rollback;
	}
	goto out;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_finalize(del);
	sqlite3_finalize(ins);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int ss_rt_profiles_query(struct store *base, const struct store_rt_query *rq, json_t **out,
				long *total)
{
	static const char *const order[] = { "hostname", "id", NULL };
	struct store_sqlite *s = SS(base);
	struct sqlq where = { 0 }, q = { 0 };
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int r, rc;

	*out = NULL;
	*total = 0;
	if (arr == NULL)
		return -ENOMEM;
	if ((r = rt_where(&where, rq, rt_profile_cols, NULL, 0, 0)) < 0)
		goto done;
	q_cat(&q, "SELECT hostname, doc FROM runtime_profiles");
	q_append(&q, &where);
	rt_order(&q, NULL, order, rq);
	pthread_mutex_lock(&s->mu);
	if ((r = rt_count(s, "runtime_profiles", &where, total)) < 0 ||
	    (r = q_prepare(s, &q, &st)) < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *d = col_json(st, 1);
		json_object_set_new(d, "hostname", json_string((const char *)sqlite3_column_text(st, 0)));
		json_array_append_new(arr, d);
	}
	if (rc != SQLITE_DONE)
		r = db_err(s, "rt_profiles_query");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
done:
	q_free(&where);
	q_free(&q);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

static int ss_rt_profile_hosts(struct store *base, const char *id, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	json_t *arr = json_array();
	int r = 0, rc;

	*out = NULL;
	if (arr == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT DISTINCT hostname FROM runtime_profiles WHERE id=?"
				      " ORDER BY hostname", -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_profile_hosts");
		goto out;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(arr, json_string((const char *)sqlite3_column_text(st, 0)));
	if (rc != SQLITE_DONE)
		r = db_err(s, "rt_profile_hosts");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		json_decref(arr);
		return r;
	}
	*out = arr;
	return 0;
}

static int ss_rt_status_put(struct store *base, const char *hostname, json_t *doc)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	char *txt = json_dumps(doc, JSON_COMPACT);
	int r = 0;

	if (txt == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO runtime_status(hostname,doc,updated)"
				      " VALUES(?,?,?)", -1, &st, NULL) != SQLITE_OK) {
		r = db_err(s, "rt_status_put");
		goto out;
	}
	sqlite3_bind_text(st, 1, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, txt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		r = db_err(s, "rt_status_put");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	free(txt);
	return r;
}

static int ss_rt_status_all(struct store *base, json_t **out)
{
	struct store_sqlite *s = SS(base);
	sqlite3_stmt *st = NULL;
	json_t *obj = json_object();
	int r = 0, rc;

	*out = NULL;
	if (obj == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	if (sqlite3_prepare_v2(s->db, "SELECT hostname, doc FROM runtime_status", -1, &st, NULL) !=
	    SQLITE_OK) {
		r = db_err(s, "rt_status_all");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0), col_json(st, 1));
	if (rc != SQLITE_DONE)
		r = db_err(s, "rt_status_all");
out:
	sqlite3_finalize(st);
	pthread_mutex_unlock(&s->mu);
	if (r < 0) {
		json_decref(obj);
		return r;
	}
	*out = obj;
	return 0;
}

static const struct store_ops sqlite_ops = {
	.close = ss_close,
	.scan_put = ss_scan_put,
	.scan_get = ss_scan_get,
	.scan_delete = ss_scan_delete,
	.scan_ids = ss_scan_ids,
	.scan_list = ss_scan_list,
	.meta_get = ss_meta_get,
	.meta_set = ss_meta_set,
	.user_get = ss_user_get,
	.user_put = ss_user_put,
	.session_put = ss_session_put,
	.session_get = ss_session_get,
	.session_purge = ss_session_purge,
	.bundle_put = ss_bundle_put,
	.bundle_current = ss_bundle_current,
	.bundle_state = ss_bundle_state,
	.bundle_revoke = ss_bundle_revoke,
	.cert_put = ss_cert_put,
	.cert_get = ss_cert_get,
	.cert_revoke_host = ss_cert_revoke_host,
	.defender_put = ss_defender_put,
	.defender_set_connected = ss_defender_set_connected,
	.defender_disconnect_all = ss_defender_disconnect_all,
	.defender_delete = ss_defender_delete,
	.defender_list = ss_defender_list,
	.inv_replace_host = ss_inv_replace_host,
	.inv_put = ss_inv_put,
	.inv_delete = ss_inv_delete,
	.inv_delete_host = ss_inv_delete_host,
	.inv_list = ss_inv_list,
	.inv_query = ss_inv_query,
	.inv_count_by_host = ss_inv_count_by_host,
	.inv_get = ss_inv_get,
	.coll_list = ss_coll_list,
	.coll_get = ss_coll_get,
	.coll_put = ss_coll_put,
	.coll_delete = ss_coll_delete,
	.coll_usage_set = ss_coll_usage_set,
	.coll_usages = ss_coll_usages,
	.rt_policy_get = ss_rt_policy_get,
	.rt_policy_put = ss_rt_policy_put,
	.rt_revision = ss_rt_revision,
	.rt_audits_add = ss_rt_audits_add,
	.rt_prune = ss_rt_prune,
	.rt_audits_query = ss_rt_audits_query,
	.rt_incidents_query = ss_rt_incidents_query,
	.rt_incident_ack = ss_rt_incident_ack,
	.rt_profiles_replace = ss_rt_profiles_replace,
	.rt_profiles_query = ss_rt_profiles_query,
	.rt_profile_hosts = ss_rt_profile_hosts,
	.rt_status_put = ss_rt_status_put,
	.rt_status_all = ss_rt_status_all,
};

/* Fills the v2 columns of every stored document (run inside the migration's transaction). */
static int migrate_v2_backfill(struct store_sqlite *s)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	struct {
		sqlite3_int64 rowid;
		char *kind, *hostname, *id, *doc;
	} *v = NULL;
	size_t n = 0, cap = 0;
	int r = 0, rc;

	if (sqlite3_prepare_v2(s->db, "SELECT rowid, kind, hostname, id, doc FROM inventory", -1,
			       &sel, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, "UPDATE inventory SET name=?, image=?, image_id=?,"
				      " namespace=?, cluster=?, labels=?, image_canon=?, image_forms=?"
				      " WHERE rowid=?", -1, &upd, NULL) != SQLITE_OK) {
		r = db_err(s, "migrate v2");
		goto out;
	}
	/* Read first, then update: no update while the table is being scanned. */
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 256;
			void *nv = realloc(v, ncap * sizeof(*v));
			if (nv == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[n].rowid = sqlite3_column_int64(sel, 0);
		v[n].kind = col_str(sel, 1);
		v[n].hostname = col_str(sel, 2);
		v[n].id = col_str(sel, 3);
		v[n].doc = col_str(sel, 4);
		n++;
	}
	if (rc != SQLITE_DONE) {
		r = db_err(s, "migrate v2");
		goto out;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		json_t *doc;
		struct inv_cols c;
		if (!v[i].kind || !v[i].hostname || !v[i].id)
			continue;
		doc = v[i].doc ? json_loads(v[i].doc, 0, NULL) : NULL;
		if (doc == NULL)
			doc = json_object();
		if (inv_cols_of(v[i].kind, v[i].hostname, v[i].id, doc, &c) < 0) {
			json_decref(doc);
			r = -ENOMEM;
			break;
		}
		sqlite3_reset(upd);
		bind_cols(upd, 1, &c);
		sqlite3_bind_int64(upd, 9, v[i].rowid);
		if (sqlite3_step(upd) != SQLITE_DONE)
			r = db_err(s, "migrate v2 update");
		inv_cols_clear(&c);
		json_decref(doc);
	}
out:
	for (size_t i = 0; i < n; i++) {
		free(v[i].kind);
		free(v[i].hostname);
		free(v[i].id);
		free(v[i].doc);
	}
	free(v);
	sqlite3_finalize(sel);
	sqlite3_finalize(upd);
	return r;
}

/* Brings the schema from its user_version to SCHEMA_VERSION, one transaction per step. */
static int migrate(struct store_sqlite *s, const char *path)
{
	sqlite3_stmt *st = NULL;
	char *err = NULL;
	int ver = 0, was;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		log_error("store: cannot read the schema version of %s: %s", path,
			  sqlite3_errmsg(s->db));
		return -EIO;
	}
	ver = was = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (ver > SCHEMA_VERSION) {
		log_error("store: %s has schema version %d, newer than this Console's (%d): refusing"
			  " to open it", path, ver, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (ver < 1) {
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, schema_v1, NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, "PRAGMA user_version=1; COMMIT", NULL, NULL, &err) !=
			    SQLITE_OK)
			goto fail;
		ver = 1;
	}
	if (ver < 2) {
		int r;
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, schema_v2, NULL, NULL, &err) != SQLITE_OK)
			goto fail;
		if ((r = migrate_v2_backfill(s)) < 0) {
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			log_error("store: cannot migrate %s to schema version 2 (%s)", path,
				  strerror(-r));
			return r;
		}
		if (sqlite3_exec(s->db, "PRAGMA user_version=2; COMMIT", NULL, NULL, &err) !=
		    SQLITE_OK)
			goto fail;
		if (was > 0)
			log_info("store: %s migrated from schema version %d to 2", path, was);
		ver = 2;
	}
	if (ver < 3) {
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, schema_v3, NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, "PRAGMA user_version=3; COMMIT", NULL, NULL, &err) != SQLITE_OK)
			goto fail;
		ver = 3;
	}
	if (ver < 4) {
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, schema_v4, NULL, NULL, &err) != SQLITE_OK ||
		    sqlite3_exec(s->db, "PRAGMA user_version=4; COMMIT", NULL, NULL, &err) != SQLITE_OK)
			goto fail;
		if (was > 0 && was < 4)
			log_info("store: %s migrated from schema version %d to 4", path, was);
	}
	return 0;
fail:
	log_error("store: cannot initialise or migrate %s: %s", path, err ? err : "?");
	sqlite3_free(err);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return -EIO;
}

int store_sqlite_open(const char *path, struct store **out)
{
	struct store_sqlite *s = calloc(1, sizeof(*s));
	char *err = NULL;
	int r = -EIO;

	*out = NULL;
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->mu, NULL);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				  SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
		log_error("store: cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "no memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
				"PRAGMA foreign_keys=ON;", NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: cannot initialise %s: %s", path, err ? err : "?");
		sqlite3_free(err);
		goto fail;
	}
	if ((r = migrate(s, path)) < 0)
		goto fail;
	*out = &s->base;
	return 0;
fail:
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return r < 0 ? r : -EIO;
}
