/*
 * store_sqlite: the embedded SQLite back end of the Console store. One connection guarded by a
 * mutex (the Console's API thread and hub thread both call in); WAL journal so readers are cheap
 * and a crash never loses a committed row. The schema is created and migrated by user_version.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include <garrison/log.h>

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
		"connected,remote_addr) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(hostname) DO UPDATE SET "
		"version=excluded.version, type=excluded.type, category=excluded.category,"
		"cluster=excluded.cluster, cluster_source=excluded.cluster_source,"
		"cloud_metadata=excluded.cloud_metadata, system_info=excluded.system_info,"
		"cert_serial=excluded.cert_serial, cert_expiration=excluded.cert_expiration,"
		"last_modified=excluded.last_modified, connected=excluded.connected,"
		"remote_addr=excluded.remote_addr",
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

static int inv_insert(struct store_sqlite *s, sqlite3_stmt *st, const char *kind,
		      const char *hostname, const char *id, json_t *doc, time_t now)
{
	char *txt = json_dumps(doc, JSON_COMPACT);
	int rc;

	if (txt == NULL)
		return -ENOMEM;
	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, txt, -1, free);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? 0 : db_err(s, "inventory insert");
}

#define INV_UPSERT "INSERT INTO inventory(kind,hostname,id,doc,updated) VALUES(?,?,?,?,?)" \
	" ON CONFLICT(kind,hostname,id) DO UPDATE SET doc=excluded.doc, updated=excluded.updated"

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
	const char *v[] = { name };
	int r;

	pthread_mutex_lock(&s->mu);
	r = exec_text(s, "DELETE FROM collections WHERE name=?", 1, v);
	if (r == 0 && sqlite3_changes(s->db) == 0)
		r = -ENOENT;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static const struct store_ops sqlite_ops = {
	.close = ss_close,
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
	.coll_list = ss_coll_list,
	.coll_get = ss_coll_get,
	.coll_put = ss_coll_put,
	.coll_delete = ss_coll_delete,
};

int store_sqlite_open(const char *path, struct store **out)
{
	struct store_sqlite *s = calloc(1, sizeof(*s));
	char *err = NULL;

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
				"PRAGMA foreign_keys=ON;", NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema_v1, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(s->db, "PRAGMA user_version=1", NULL, NULL, &err) != SQLITE_OK) {
		log_error("store: cannot initialise %s: %s", path, err ? err : "?");
		sqlite3_free(err);
		goto fail;
	}
	*out = &s->base;
	return 0;
fail:
	sqlite3_close(s->db);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return -EIO;
}
