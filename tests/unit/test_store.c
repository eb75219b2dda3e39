/*
 * test_store: the SQLite back end of the Console store, on a fresh database file per test:
 * Defender records and their filters, certificates and revocation, install bundles, sessions,
 * and that everything survives closing and reopening the database.
 */
#include "t.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../console/store.h"

static char dbdir[] = "/tmp/garrison-test-store.XXXXXX";

static struct store *open_fresh(const char *name)
{
	char path[256];
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", dbdir, name);
	unlink(path);
	T_CHECK_INT(store_sqlite_open(path, &s), 0);
	return s;
}

static struct store *reopen(const char *name)
{
	char path[256];
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", dbdir, name);
	T_CHECK_INT(store_sqlite_open(path, &s), 0);
	return s;
}

static void put_defender(struct store *s, const char *host, const char *cluster, int connected)
{
	struct store_defender d = { 0 };

	d.hostname = (char *)host;
	d.version = "0.1.0";
	d.type = "ecs";
	d.category = "container";
	d.cluster = (char *)cluster;
	d.cluster_source = "ecs-agent";
	d.cloud_metadata = json_pack("{s:s}", "provider", "aws");
	d.system_info = json_pack("{s:i}", "cpuCount", 2);
	d.connected = connected;
	d.last_modified = 1000;
	d.first_seen = 1000;
	T_CHECK_INT(s->ops->defender_put(s, &d), 0);
	json_decref(d.cloud_metadata);
	json_decref(d.system_info);
}

static long count(struct store *s, const struct store_defender_filter *f, size_t *n)
{
	struct store_defender *v = NULL;
	long total = -1;

	*n = 0;
	T_CHECK_INT(s->ops->defender_list(s, f, &v, n, &total), 0);
	store_defenders_free(v, *n);
	return total;
}

T_TEST(defenders_filters_and_paging)
{
	struct store *s = open_fresh("filters");
	struct store_defender_filter f = { .connected = -1 };
	const char *cl[] = { "b", "c" };
	size_t n;

	put_defender(s, "h1", "a", 1);
	put_defender(s, "h2", "b", 0);
	put_defender(s, "h3", "b", 1);
	put_defender(s, "h4", "c", 1);
	T_CHECK_INT(count(s, &f, &n), 4);
	T_CHECK_INT(n, 4);
	f.connected = 1;
	T_CHECK_INT(count(s, &f, &n), 3);
	f.connected = -1;
	f.clusters = cl;
	f.nclusters = 2;
	T_CHECK_INT(count(s, &f, &n), 3);
	f.connected = 0;
	T_CHECK_INT(count(s, &f, &n), 1);
	f = (struct store_defender_filter){ .connected = -1, .offset = 1, .limit = 2 };
	T_CHECK_INT(count(s, &f, &n), 4); /* the total ignores paging */
	T_CHECK_INT(n, 2);
	f = (struct store_defender_filter){ .connected = -1, .hostname = "h3" };
	T_CHECK_INT(count(s, &f, &n), 1);
	f.hostname = "h3' OR '1'='1";
	T_CHECK_INT(count(s, &f, &n), 0);
	store_close(s);
}

T_TEST(defender_update_keeps_one_row_and_fields)
{
	struct store *s = open_fresh("update");
	struct store_defender_filter f = { .connected = -1 };
	struct store_defender *v = NULL;
	size_t n = 0;
	long total = 0;

	put_defender(s, "h1", "old", 1);
	put_defender(s, "h1", "new", 1);
	T_CHECK_INT(s->ops->defender_set_connected(s, "h1", 0, 2000), 0);
	T_CHECK_INT(s->ops->defender_set_connected(s, "nobody", 0, 2000), -ENOENT);
	store_close(s);
	s = reopen("update");
	T_CHECK_INT(s->ops->defender_list(s, &f, &v, &n, &total), 0);
	T_CHECK_INT(n, 1);
	if (n == 1) {
		T_CHECK_STR(v[0].cluster, "new");
		T_CHECK_INT(v[0].connected, 0);
		T_CHECK_INT(v[0].last_modified, 2000);
		T_CHECK_STR(json_string_value(json_object_get(v[0].cloud_metadata, "provider")), "aws");
		T_CHECK_INT(json_integer_value(json_object_get(v[0].system_info, "cpuCount")), 2);
	}
	store_defenders_free(v, n);
	put_defender(s, "h2", "x", 1);
	T_CHECK_INT(s->ops->defender_disconnect_all(s, 3000), 0);
	f.connected = 1;
	T_CHECK_INT(count(s, &f, &n), 0);
	T_CHECK_INT(s->ops->defender_delete(s, "h2"), 0);
	T_CHECK_INT(s->ops->defender_delete(s, "h2"), -ENOENT);
	store_close(s);
}

T_TEST(certs_and_revocation)
{
	struct store *s = open_fresh("certs");
	char *host = NULL;
	int revoked = -1;

	T_CHECK_INT(s->ops->cert_put(s, "aa01", "h1", 5000), 0);
	T_CHECK_INT(s->ops->cert_put(s, "aa02", "h1", 5000), 0);
	T_CHECK_INT(s->ops->cert_put(s, "bb01", "h2", 5000), 0);
	T_CHECK_INT(s->ops->cert_put(s, "aa01", "h9", 5000), -EEXIST);
	T_CHECK_INT(s->ops->cert_get(s, "aa01", &host, &revoked), 0);
	T_CHECK_STR(host, "h1");
	T_CHECK_INT(revoked, 0);
	free(host);
	T_CHECK_INT(s->ops->cert_revoke_host(s, "h1"), 0);
	store_close(s);
	s = reopen("certs");
	T_CHECK_INT(s->ops->cert_get(s, "aa02", &host, &revoked), 0);
	T_CHECK_INT(revoked, 1);
	free(host);
	T_CHECK_INT(s->ops->cert_get(s, "bb01", &host, &revoked), 0);
	T_CHECK_INT(revoked, 0);
	free(host);
	T_CHECK_INT(s->ops->cert_get(s, "ffff", &host, &revoked), -ENOENT);
	T_CHECK(host == NULL);
	store_close(s);
}

T_TEST(bundles_current_and_revoked)
{
	struct store *s = open_fresh("bundles");
	char *id = NULL, *b64 = NULL;
	int revoked = -1;

	T_CHECK_INT(s->ops->bundle_current(s, &id, &b64), -ENOENT);
	T_CHECK_INT(s->ops->bundle_put(s, "b1", "AAAA"), 0);
	T_CHECK_INT(s->ops->bundle_current(s, &id, &b64), 0);
	T_CHECK_STR(id, "b1");
	T_CHECK_STR(b64, "AAAA");
	free(id);
	free(b64);
	T_CHECK_INT(s->ops->bundle_revoke(s, "b1"), 0);
	T_CHECK_INT(s->ops->bundle_revoke(s, "nope"), -ENOENT);
	T_CHECK_INT(s->ops->bundle_current(s, &id, &b64), -ENOENT);
	T_CHECK_INT(s->ops->bundle_state(s, "b1", &revoked), 0);
	T_CHECK_INT(revoked, 1);
	T_CHECK_INT(s->ops->bundle_state(s, "nope", &revoked), -ENOENT);
	store_close(s);
}

T_TEST(sessions_expire)
{
	struct store *s = open_fresh("sessions");
	char *user = NULL;
	time_t exp = 0;

	T_CHECK_INT(s->ops->session_put(s, "t1", "admin", 100), 0);
	T_CHECK_INT(s->ops->session_put(s, "t2", "admin", 300), 0);
	T_CHECK_INT(s->ops->session_get(s, "t1", &user, &exp), 0);
	T_CHECK_STR(user, "admin");
	T_CHECK_INT(exp, 100);
	free(user);
	T_CHECK_INT(s->ops->session_purge(s, 200), 0);
	T_CHECK_INT(s->ops->session_get(s, "t1", &user, &exp), -ENOENT);
	T_CHECK_INT(s->ops->session_get(s, "t2", &user, &exp), 0);
	free(user);
	store_close(s);
}

T_TEST(users_and_meta)
{
	struct store *s = open_fresh("users");
	char *hash = NULL, *role = NULL, *v = NULL;

	T_CHECK_INT(s->ops->user_get(s, "admin", &hash, &role), -ENOENT);
	T_CHECK_INT(s->ops->user_put(s, "admin", "$scrypt$x", "admin"), 0);
	T_CHECK_INT(s->ops->user_put(s, "admin", "$scrypt$y", "admin"), 0);
	T_CHECK_INT(s->ops->user_get(s, "admin", &hash, &role), 0);
	T_CHECK_STR(hash, "$scrypt$y");
	T_CHECK_STR(role, "admin");
	free(hash);
	free(role);
	T_CHECK_INT(s->ops->meta_set(s, "k", "v1"), 0);
	T_CHECK_INT(s->ops->meta_set(s, "k", "v2"), 0);
	T_CHECK_INT(s->ops->meta_get(s, "k", &v), 0);
	T_CHECK_STR(v, "v2");
	free(v);
	store_close(s);
}

T_TEST(open_refuses_a_corrupt_file)
{
	char path[256];
	struct store *s = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/corrupt.db", dbdir);
	f = fopen(path, "w");
	T_CHECK(f != NULL);
	if (f) {
		for (int i = 0; i < 512; i++)
			fputs("this is not a database ", f);
		fclose(f);
	}
	T_CHECK(store_sqlite_open(path, &s) < 0);
	T_CHECK(s == NULL);
}


T_TEST(inventory_replace_put_delete)
{
	struct store *s = open_fresh("inventory");
	json_t *cs = json_pack("[{s:s,s:s},{s:s,s:s}]", "id", "c1", "name", "web", "id", "c2", "name", "db");
	json_t *is = json_pack("[{s:s}]", "id", "sha256:aa");
	json_t *host = json_pack("{s:s}", "hostname", "h1"), *rows = NULL, *c3;

	T_CHECK_INT(s->ops->inv_replace_host(s, "h1", host, cs, is), 0);
	T_CHECK_INT(s->ops->inv_replace_host(s, "h2", host, cs, is), 0);
	T_CHECK_INT(s->ops->inv_list(s, "container", NULL, &rows), 0);
	T_CHECK_INT(json_array_size(rows), 4);
	T_CHECK_STR(json_string_value(json_object_get(json_object_get(json_array_get(rows, 0), "doc"),
						      "name")), "web");
	json_decref(rows);
	/* a new snapshot replaces everything of that host only */
	json_array_remove(cs, 0);
	json_t *none = json_array();
	T_CHECK_INT(s->ops->inv_replace_host(s, "h1", host, cs, none), 0);
	json_decref(none);
	T_CHECK_INT(s->ops->inv_list(s, "container", "h1", &rows), 0);
	T_CHECK_INT(json_array_size(rows), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 0), "id")), "c2");
	json_decref(rows);
	T_CHECK_INT(s->ops->inv_list(s, "image", NULL, &rows), 0);
	T_CHECK_INT(json_array_size(rows), 1); /* only h2's image is left */
	json_decref(rows);
	c3 = json_pack("{s:s,s:s}", "id", "c3", "name", "late");
	T_CHECK_INT(s->ops->inv_put(s, "container", "h1", "c3", c3), 0);
	T_CHECK_INT(s->ops->inv_put(s, "container", "h1", "c3", c3), 0); /* an update, not a copy */
	T_CHECK_INT(s->ops->inv_delete(s, "container", "h1", "c2"), 0);
	store_close(s);
	s = reopen("inventory");
	T_CHECK_INT(s->ops->inv_list(s, "container", "h1", &rows), 0);
	T_CHECK_INT(json_array_size(rows), 1);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 0), "id")), "c3");
	json_decref(rows);
	T_CHECK_INT(s->ops->inv_delete_host(s, "h2"), 0);
	T_CHECK_INT(s->ops->inv_list(s, "container", "h2", &rows), 0);
	T_CHECK_INT(json_array_size(rows), 0);
	json_decref(rows);
	json_decref(c3);
	json_decref(cs);
	json_decref(is);
	json_decref(host);
	store_close(s);
}

T_TEST(collections_crud)
{
	struct store *s = open_fresh("collections");
	json_t *doc = json_pack("{s:s}", "name", "a"), *got = NULL, *all = NULL;

	T_CHECK_INT(s->ops->coll_put(s, "a", doc, 1), 0);
	T_CHECK_INT(s->ops->coll_put(s, "a", doc, 1), -EEXIST);
	T_CHECK_INT(s->ops->coll_put(s, "b", doc, 0), -ENOENT);
	T_CHECK_INT(s->ops->coll_get(s, "a", &got), 0);
	T_CHECK_STR(json_string_value(json_object_get(got, "name")), "a");
	json_decref(got);
	T_CHECK_INT(s->ops->coll_list(s, &all), 0);
	T_CHECK_INT(json_array_size(all), 1);
	json_decref(all);
	T_CHECK_INT(s->ops->coll_delete(s, "a"), 0);
	T_CHECK_INT(s->ops->coll_delete(s, "a"), -ENOENT);
	T_CHECK_INT(s->ops->coll_get(s, "a", &got), -ENOENT);
	json_decref(doc);
	store_close(s);
}

static void setup(void)
{
	if (mkdtemp(dbdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static const struct t_case cases[] = {
	T_CASE(defenders_filters_and_paging), T_CASE(defender_update_keeps_one_row_and_fields),
	T_CASE(certs_and_revocation),         T_CASE(bundles_current_and_revoked),
	T_CASE(sessions_expire),              T_CASE(users_and_meta),
	T_CASE(open_refuses_a_corrupt_file),  T_CASE(inventory_replace_put_delete),
	T_CASE(collections_crud),
};

int main(int argc, char **argv)
{
	char cmd[300];
	int rc;

	setup();
	rc = t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dbdir);
	return rc;
}
