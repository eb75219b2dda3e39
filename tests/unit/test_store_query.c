/*
 * test_store_query: inventory lists in the SQLite store (inv_query) against the C rules of
 * lib/collection.c. A fixed inventory (names, images and labels full of LIKE metacharacters
 * % _ \, case differences, non-ASCII, invalid image references, labels without ':' or with
 * newlines, containers with and without their own cluster, hosts with and without a Defender row)
 * is queried with a table of collections; for every case the rows returned with the SQL
 * pushdown, the rows returned with every row checked in C, and the rows an independent C
 * evaluation over the documents selects must be identical. Also: paging and sorting agree in
 * both modes, the other filters, the v1 -> v2 migration keeps and indexes old data, and
 * collection usages (the store's record of who uses a collection).
 */
#include "t.h"

#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>

#include <garrison/collection.h>

#include "../../console/store.h"

static char dbdir[] = "/tmp/garrison-test-store-query.XXXXXX";

static struct store *open_fresh(const char *name)
{
	char path[256];
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s.db", dbdir, name);
	unlink(path);
	T_CHECK_INT(store_sqlite_open(path, &s), 0);
	return s;
}

/* Defenders: h1 in cluster prod with account 111, h2 without a cluster, h3 has no Defender row. */
static void put_defender(struct store *s, const char *host, const char *cluster, const char *acct)
{
	struct store_defender d = { 0 };

	d.hostname = (char *)host;
	d.cluster = (char *)cluster;
	d.cloud_metadata = acct ? json_pack("{s:s}", "accountID", acct) : json_object();
	T_CHECK_INT(s->ops->defender_put(s, &d), 0);
	json_decref(d.cloud_metadata);
}

/* Containers: {name, image, namespace, cluster, labels} per host; NULL members are left out. */
struct cdef {
	const char *host, *id, *name, *image, *ns, *cluster;
	const char *labels[4]; /* array form; "obj:" as the first entry means object form k=v pairs */
};

static const struct cdef conts[] = {
	{ "h1", "c01", "web_1", "nginx", "payments", NULL, { "env:prod", "team:dev" } },
	{ "h1", "c02", "web%1", "nginx:1.25", "payments-eu", NULL, { "env:production" } },
	{ "h1", "c03", "web\\1", "docker.io/library/nginx:latest", "kube-system", "ecs-a",
	  { "env:staging", "foo" } },
	{ "h1", "c04", "WEB-1", "registry.example.com/app:1", "a%b", "", { "k%:v_1" } },
	{ "h2", "c05", "a_b", "user/app", "axb", NULL, { "back\\slash:x\\y", "app:web" } },
	{ "h2", "c06", "x%y", "not an image!", NULL, NULL, { "myapp:web", "env:" } },
	{ "h2", "c07", "back\\slash", "localhost:5000/app", "payments", "ecs-b",
	  { "multi:line1\nline2" } },
	{ "h3", "c08", "café", "quay.io/org/app_x:v1", "ns_1", NULL, { "obj:", "env", "prod", NULL } },
	{ "h3", "c09", "CAFÉ", "nginxinc/nginx-unprivileged:1", NULL, "prod", { "team:team-3" } },
	{ "h3", "c10", NULL, NULL, NULL, NULL, { NULL } },
	{ "h1", "c11", "", "index.docker.io/library/redis:7-alpine", "", NULL, { "a:b:c" } },
	{ "h2", "c12", "web_10", "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	  "payments", NULL, { "ENV:PROD" } },
};
#define NCONTS (sizeof(conts) / sizeof(conts[0]))

static json_t *cont_doc(const struct cdef *c)
{
	json_t *d = json_pack("{s:s}", "id", c->id);

	if (c->name)
		json_object_set_new(d, "name", json_string(c->name));
	if (c->image)
		json_object_set_new(d, "image", json_string(c->image));
	if (c->ns)
		json_object_set_new(d, "namespace", json_string(c->ns));
	if (c->cluster)
		json_object_set_new(d, "cluster", json_string(c->cluster));
	if (c->labels[0] && strcmp(c->labels[0], "obj:") == 0) {
		json_t *o = json_object();
		for (int i = 1; i + 1 < 4 && c->labels[i]; i += 2)
			json_object_set_new(o, c->labels[i], json_string(c->labels[i + 1]));
		json_object_set_new(d, "labels", o);
	} else if (c->labels[0]) {
		json_t *a = json_array();
		for (int i = 0; i < 4 && c->labels[i]; i++)
			json_array_append_new(a, json_string(c->labels[i]));
		json_object_set_new(d, "labels", a);
	}
	return d;
}

static const char *const images_h[][3] = {
	{ "h1", "sha256:i1", "nginx:1.25" },
	{ "h1", "sha256:i2", "registry.example.com/app_1:1" },
	{ "h2", "sha256:i1", "nginx:1.25" },
	{ "h2", "sha256:i3", NULL }, /* dangling: named by its id */
	{ "h3", "sha256:i4", "Quay.io/Org/App%:v1" },
};
#define NIMAGES (sizeof(images_h) / sizeof(images_h[0]))

static void load(struct store *s)
{
	const char *hosts[] = { "h1", "h2", "h3" };

	put_defender(s, "h1", "prod", "111");
	put_defender(s, "h2", NULL, NULL);
	for (size_t h = 0; h < 3; h++) {
		json_t *cs = json_array(), *is = json_array();
		json_t *host = json_pack("{s:s}", "hostname", hosts[h]);
		for (size_t i = 0; i < NCONTS; i++)
			if (strcmp(conts[i].host, hosts[h]) == 0)
				json_array_append_new(cs, cont_doc(&conts[i]));
		for (size_t i = 0; i < NIMAGES; i++)
			if (strcmp(images_h[i][0], hosts[h]) == 0)
				json_array_append_new(is, images_h[i][2] ?
					json_pack("{s:s,s:[s]}", "id", images_h[i][1], "repoTags", images_h[i][2]) :
					json_pack("{s:s,s:[]}", "id", images_h[i][1], "repoTags"));
		T_CHECK_INT(s->ops->inv_replace_host(s, hosts[h], host, cs, is), 0);
		json_decref(cs);
		json_decref(is);
		json_decref(host);
	}
}

/* The subject of a stored document, computed the way api_inventory.c did before the store
 * had columns: from the document and the Defender row. */
static const char *def_cluster(const char *host)
{
	return strcmp(host, "h1") == 0 ? "prod" : strcmp(host, "h2") == 0 ? "" : NULL;
}

static const char *def_account(const char *host)
{
	return strcmp(host, "h1") == 0 ? "111" : NULL;
}

static int expect_cont(const struct cdef *c, struct collection *const *cs, size_t n)
{
	struct collection_subject s = { 0 };
	const char *labels[4];
	char lbuf[4][64];
	size_t nl = 0;

	s.container = c->name;
	s.image = c->image;
	s.host = c->host;
	s.namespace_ = c->ns;
	s.cluster = c->cluster && c->cluster[0] ? c->cluster : def_cluster(c->host);
	s.account_id = def_account(c->host);
	if (c->labels[0] && strcmp(c->labels[0], "obj:") == 0) {
		for (int i = 1; i + 1 < 4 && c->labels[i]; i += 2) {
			snprintf(lbuf[nl], sizeof(lbuf[nl]), "%s:%s", c->labels[i], c->labels[i + 1]);
			labels[nl] = lbuf[nl];
			nl++;
		}
	} else {
		for (int i = 0; i < 4 && c->labels[i]; i++)
			labels[nl++] = c->labels[i];
	}
	s.labels = labels;
	s.nlabels = nl;
	return collection_match_any(cs, n, &s);
}

static int expect_image(size_t i, struct collection *const *cs, size_t n)
{
	struct collection_subject s = { 0 };

	s.image = images_h[i][2] ? images_h[i][2] : images_h[i][1];
	s.host = images_h[i][0];
	s.cluster = def_cluster(s.host);
	s.account_id = def_account(s.host);
	return collection_match_any(cs, n, &s);
}

static int expect_host(const char *host, struct collection *const *cs, size_t n)
{
	struct collection_subject s = { 0 };

	s.host = host;
	s.cluster = def_cluster(host);
	s.account_id = def_account(host);
	return collection_match_any(cs, n, &s);
}

/* "host/id,host/id,..." of a result. */
static void keys(const struct store_inv_result *r, char *buf, size_t len)
{
	size_t w = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->n && w < len; i++)
		w += (size_t)snprintf(buf + w, len - w, "%s%s/%s", i ? "," : "", r->rows[i].hostname,
				      r->rows[i].id);
}

/* Expected keys for a kind, in hostname, id order (the rows are stored so). */
static void expected(const char *kind, struct collection *const *cs, size_t n, char *buf, size_t len)
{
	const char *hosts[] = { "h1", "h2", "h3" };
	size_t w = 0;
	int first = 1;

	buf[0] = '\0';
	for (size_t h = 0; h < 3; h++) {
		if (strcmp(kind, "host") == 0) {
			if (expect_host(hosts[h], cs, n)) {
				w += (size_t)snprintf(buf + w, len - w, "%s%s/%s", first ? "" : ",",
						      hosts[h], hosts[h]);
				first = 0;
			}
			continue;
		}
		/* ids sort within a host: c01 < c02 ..., sha256:i1 < sha256:i2 ... */
		for (size_t i = 0; strcmp(kind, "container") == 0 && i < NCONTS; i++) {
			if (strcmp(conts[i].host, hosts[h]) != 0 || !expect_cont(&conts[i], cs, n))
				continue;
			w += (size_t)snprintf(buf + w, len - w, "%s%s/%s", first ? "" : ",", hosts[h],
					      conts[i].id);
			first = 0;
		}
		for (size_t i = 0; strcmp(kind, "image") == 0 && i < NIMAGES; i++) {
			if (strcmp(images_h[i][0], hosts[h]) != 0 || !expect_image(i, cs, n))
				continue;
			w += (size_t)snprintf(buf + w, len - w, "%s%s/%s", first ? "" : ",", hosts[h],
					      images_h[i][1]);
			first = 0;
		}
	}
}

/* One collection case: a field and its patterns (a JSON array), and whether the SQL is expected
 * to be exact for containers (1), or a superset checked in C (0). */
struct ccase {
	const char *field, *patterns;
	int exact;
};

static const struct ccase cases[] = {
	{ "containers", "[\"web_1\"]", 1 },
	{ "containers", "[\"web%1\"]", 1 },
	{ "containers", "[\"web\\\\1\"]", 1 },
	{ "containers", "[\"web_*\"]", 1 },
	{ "containers", "[\"*_1\"]", 1 },
	{ "containers", "[\"*%*\"]", 1 },
	{ "containers", "[\"*\\\\*\"]", 1 },
	{ "containers", "[\"*_*\"]", 1 },
	{ "containers", "[\"WEB*\"]", 1 },
	{ "containers", "[\"-web*\"]", 1 },
	{ "containers", "[\"*\", \"-*_*\"]", 1 },
	{ "containers", "[\"a_b\", \"x%y\"]", 1 },
	{ "containers", "[\"café\"]", 1 },
	{ "containers", "[\"CAFÉ\"]", 1 },
	{ "containers", "[\"caf*\"]", 1 },
	{ "containers", "[\"-*\"]", 1 },
	{ "containers", "[\"*\"]", 1 },
	{ "containers", "[]", 1 },
	{ "containers", "[\"**web**\"]", 1 },
	{ "containers", "[\"--x\"]", 1 },
	{ "images", "[\"nginx\"]", 1 },
	{ "images", "[\"nginx*\"]", 1 },
	{ "images", "[\"nginx:*\"]", 1 },
	{ "images", "[\"docker.io/nginx*\"]", 1 },
	{ "images", "[\"index.docker.io/library/nginx*\"]", 1 },
	{ "images", "[\"library/nginx*\"]", 1 },
	{ "images", "[\"*:latest\"]", 1 },
	{ "images", "[\"*nginx*\"]", 1 },
	{ "images", "[\"*nginx\"]", 1 },
	{ "images", "[\"registry.example.com/*\"]", 1 },
	{ "images", "[\"-nginx*\"]", 1 },
	{ "images", "[\"*_x*\"]", 1 },
	{ "images", "[\"*%*\"]", 1 },
	{ "images", "[\"localhost:5000/app\"]", 1 },
	{ "images", "[\"user/app\"]", 1 },
	{ "images", "[\"*/app:*\"]", 1 },
	{ "images", "[\"library/nginx:1.25\"]", 1 },
	{ "images", "[\"not*\"]", 1 },
	{ "images", "[\"*image!\"]", 1 },
	{ "images", "[\"*-alpine\"]", 1 },
	{ "images", "[\"redis*\"]", 1 },
	{ "images", "[\"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"]", 1 },
	{ "images", "[\"*app%:v1\"]", 1 },
	{ "images", "[\"*app_:v1\"]", 1 },
	{ "images", "[\"quay.io/org/app_x:v1\"]", 1 },
	{ "images", "[\"Quay.io/*\"]", 1 },
	{ "hosts", "[\"h1\"]", 1 },
	{ "hosts", "[\"H*\", \"-h2\"]", 1 },
	{ "hosts", "[\"*_*\"]", 1 },
	{ "namespaces", "[\"payments*\"]", 1 },
	{ "namespaces", "[\"-kube-system\"]", 1 },
	{ "namespaces", "[\"a%b\"]", 1 },
	{ "namespaces", "[\"a_b\"]", 1 },
	{ "namespaces", "[\"ns_*\"]", 1 },
	{ "namespaces", "[\"*\"]", 1 },
	{ "clusters", "[\"prod\"]", 1 },
	{ "clusters", "[\"-prod\"]", 1 },
	{ "clusters", "[\"ecs*\"]", 1 },
	{ "clusters", "[\"*\", \"-ecs-a\"]", 1 },
	{ "labels", "[\"env:prod\"]", 1 },
	{ "labels", "[\"env:prod*\"]", 1 },
	{ "labels", "[\"env:\"]", 1 },
	{ "labels", "[\"env:*\"]", 1 },
	{ "labels", "[\"foo:\"]", 1 },
	{ "labels", "[\"foo:*\"]", 1 },
	{ "labels", "[\"k%:v_1\"]", 1 },
	{ "labels", "[\"k_:v%1\"]", 1 },
	{ "labels", "[\"back\\\\slash:x\\\\y\"]", 1 },
	{ "labels", "[\"back\\\\slash:x*\"]", 1 },
	{ "labels", "[\"multi:line1\"]", 1 },
	{ "labels", "[\"multi:line1*\"]", 1 },
	{ "labels", "[\"a:b:c\"]", 1 },
	{ "labels", "[\"a:b*\"]", 1 },
	{ "labels", "[\"-team:dev\"]", 1 },
	{ "labels", "[\"env:prod\", \"-team:team-3\"]", 1 },
	{ "labels", "[\"*\"]", 1 },
	{ "labels", "[\"*:*\"]", 0 },
	{ "labels", "[\"*app:web\"]", 0 },
	{ "labels", "[\"env:*prod\"]", 0 },
	{ "labels", "[\"env:*od*\"]", 0 },
	{ "labels", "[\"-env:*ing\"]", 0 },
	{ "labels", "[\"*:web\", \"-team:*\"]", 0 },
	{ "labels", "[\"-*:*\"]", 0 },
	{ "accountIDs", "[\"111\"]", 1 },
	{ "accountIDs", "[\"-111\"]", 1 },
	{ "accountIDs", "[\"1*\"]", 1 },
	{ "appIDs", "[\"x\"]", 1 },
	{ "appIDs", "[\"-x\"]", 1 },
};

static struct collection *coll(const char *field, const char *patterns)
{
	json_t *j = json_pack("{s:s}", "name", "t");
	json_t *p = json_loads(patterns, 0, NULL);
	struct collection *c = NULL;
	char err[256] = "";

	T_CHECK(p != NULL);
	json_object_set_new(j, field, p);
	if (collection_from_json(j, &c, err, sizeof(err)) < 0)
		fprintf(stderr, "  %s %s: %s\n", field, patterns, err);
	T_CHECK(c != NULL);
	json_decref(j);
	return c;
}

static void compare(struct store *s, const char *kind, struct collection *const *cs, size_t n,
		    const char *what, int want_exact)
{
	struct store_inv_query q = { .kind = kind, .colls = cs, .ncolls = n };
	struct store_inv_result a = { 0 }, b = { 0 };
	char ka[4096], kb[4096], ke[4096];

	T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
	q.pushdown = STORE_PUSHDOWN_NONE;
	T_CHECK_INT(s->ops->inv_query(s, &q, &b), 0);
	keys(&a, ka, sizeof(ka));
	keys(&b, kb, sizeof(kb));
	expected(kind, cs, n, ke, sizeof(ke));
	if (strcmp(ka, ke) != 0 || strcmp(kb, ke) != 0 || a.total != (long)a.n ||
	    b.total != (long)b.n)
		fprintf(stderr, "  %s %s:\n    sql      %s\n    c        %s\n    expected %s\n",
			kind, what, ka, kb, ke);
	T_CHECK_STR(ka, ke);
	T_CHECK_STR(kb, ke);
	T_CHECK_INT(a.total, a.n);
	T_CHECK_INT(b.total, b.n);
	T_CHECK_INT(b.exact, 0);
	if (want_exact >= 0 && a.exact != want_exact)
		fprintf(stderr, "  %s %s: exact %d, expected %d\n", kind, what, a.exact, want_exact);
	if (want_exact >= 0)
		T_CHECK_INT(a.exact, want_exact);
	store_inv_result_clear(&a);
	store_inv_result_clear(&b);
}

T_TEST(pushdown_equals_c_rules)
{
	struct store *s = open_fresh("pushdown");
	static const char *const kinds[] = { "container", "image", "host" };
	int nonempty = 0;

	load(s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct collection *c = coll(cases[i].field, cases[i].patterns);
		char what[256];
		if (c == NULL)
			continue;
		snprintf(what, sizeof(what), "%s %s", cases[i].field, cases[i].patterns);
		for (size_t k = 0; k < 3; k++) {
			char ke[4096];
			/* Labels only exist on containers: elsewhere the SQL is a constant. */
			compare(s, kinds[k], &c, 1, what, k == 0 ? cases[i].exact : -1);
			expected(kinds[k], &c, 1, ke, sizeof(ke));
			nonempty += ke[0] != '\0';
		}
		collection_free(c);
	}
	/* The table must select something (a broken fixture would compare empty sets). */
	T_CHECK(nonempty > 100);
	store_close(s);
}

T_TEST(pushdown_unions_and_fields_anded)
{
	struct store *s = open_fresh("union");
	struct collection *cs[3];
	json_t *j;
	char err[256];

	load(s);
	j = json_pack("{s:s,s:[s],s:[s]}", "name", "a", "hosts", "h1", "images", "nginx*");
	T_CHECK_INT(collection_from_json(j, &cs[0], err, sizeof(err)), 0);
	json_decref(j);
	j = json_pack("{s:s,s:[s,s],s:[s]}", "name", "b", "labels", "env:prod*", "-team:dev",
		      "namespaces", "payments*");
	T_CHECK_INT(collection_from_json(j, &cs[1], err, sizeof(err)), 0);
	json_decref(j);
	j = json_pack("{s:s,s:[s]}", "name", "c", "labels", "*:web");
	T_CHECK_INT(collection_from_json(j, &cs[2], err, sizeof(err)), 0);
	json_decref(j);
	compare(s, "container", cs, 1, "a", 1);
	compare(s, "container", cs, 2, "a|b", 1);
	compare(s, "container", cs, 3, "a|b|c", 0);
	compare(s, "image", cs, 3, "a|b|c", -1);
	compare(s, "host", cs, 3, "a|b|c", -1);
	for (int i = 0; i < 3; i++)
		collection_free(cs[i]);
	store_close(s);
}

/* Paging and sorting give the same pages whether the database or C filters. */
T_TEST(paging_same_in_both_modes)
{
	struct store *s = open_fresh("paging");
	struct collection *c[2];
	static const enum store_inv_sort sorts[] = { STORE_INV_SORT_NAME, STORE_INV_SORT_NONE,
						     STORE_INV_SORT_IMAGE, STORE_INV_SORT_CLUSTER };

	load(s);
	c[0] = coll("images", "[\"*\", \"-redis*\"]");         /* exact */
	c[1] = coll("labels", "[\"*\", \"-env:*ion\"]");        /* checked in C */
	for (int k = 0; k < 2; k++)
		for (size_t so = 0; so < 4; so++)
			for (int rev = 0; rev < 2; rev++)
				for (long off = 0; off < 12; off += 5) {
					struct store_inv_query q = { .kind = "container", .colls = &c[k],
								     .ncolls = 1, .sort = sorts[so],
								     .reverse = rev, .offset = off,
								     .limit = 4, .with_doc = 1 };
					struct store_inv_result a = { 0 }, b = { 0 };
					char ka[1024], kb[1024];
					T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
					q.pushdown = STORE_PUSHDOWN_NONE;
					T_CHECK_INT(s->ops->inv_query(s, &q, &b), 0);
					keys(&a, ka, sizeof(ka));
					keys(&b, kb, sizeof(kb));
					T_CHECK_STR(ka, kb);
					T_CHECK_INT(a.total, b.total);
					T_CHECK_INT(a.exact, k == 0);
					T_CHECK(a.n <= 4);
					for (size_t i = 0; i < a.n; i++)
						T_CHECK_STR(json_string_value(json_object_get(a.rows[i].doc, "id")),
							    a.rows[i].id);
					for (size_t i = 0; i < b.n; i++)
						T_CHECK_STR(json_string_value(json_object_get(b.rows[i].doc, "id")),
							    b.rows[i].id);
					store_inv_result_clear(&a);
					store_inv_result_clear(&b);
				}
	/* Sorted by name, ASCII case ignored; a missing name first. */
	{
		struct store_inv_query q = { .kind = "container", .sort = STORE_INV_SORT_NAME, .limit = 3 };
		struct store_inv_result a = { 0 };
		char ka[1024];
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
		keys(&a, ka, sizeof(ka));
		T_CHECK_STR(ka, "h3/c10,h1/c11,h2/c05");
		T_CHECK_INT(a.total, NCONTS);
		store_inv_result_clear(&a);
	}
	collection_free(c[0]);
	collection_free(c[1]);
	store_close(s);
}

static void check_filter(struct store *s, struct store_inv_query *q, const char *want)
{
	struct store_inv_result a = { 0 };
	char ka[2048];

	T_CHECK_INT(s->ops->inv_query(s, q, &a), 0);
	keys(&a, ka, sizeof(ka));
	T_CHECK_STR(ka, want);
	T_CHECK_INT(a.total, a.n);
	store_inv_result_clear(&a);
}

T_TEST(filters_search_clusters_namespaces)
{
	struct store *s = open_fresh("filters");
	const char *cl[] = { "prod", "" };
	const char *ns[] = { "payments", "a%b" };
	struct store_inv_query q;

	load(s);
	q = (struct store_inv_query){ .kind = "container", .search = "_" };
	check_filter(s, &q, "h1/c01,h2/c05,h2/c12,h3/c08");
	q = (struct store_inv_query){ .kind = "container", .search = "%" };
	check_filter(s, &q, "h1/c02,h2/c06");
	q = (struct store_inv_query){ .kind = "container", .search = "\\" };
	check_filter(s, &q, "h1/c03,h2/c07");
	q = (struct store_inv_query){ .kind = "container", .search = "WEB" };
	check_filter(s, &q, "h1/c01,h1/c02,h1/c03,h1/c04,h2/c12");
	q = (struct store_inv_query){ .kind = "container", .image = "NGINX" };
	check_filter(s, &q, "h1/c01,h1/c02,h1/c03,h2/c12,h3/c09");
	q = (struct store_inv_query){ .kind = "container", .clusters = cl, .nclusters = 2 };
	/* effective: own cluster, else the node's; h2's node has none (""); h3 has no Defender */
	check_filter(s, &q, "h1/c01,h1/c02,h1/c04,h1/c11,h2/c05,h2/c06,h2/c12,h3/c09");
	q = (struct store_inv_query){ .kind = "container", .namespaces = ns, .nnamespaces = 2 };
	check_filter(s, &q, "h1/c01,h1/c04,h2/c07,h2/c12");
	q = (struct store_inv_query){ .kind = "container", .hostname = "h2", .id = "c06" };
	check_filter(s, &q, "h2/c06");
	q = (struct store_inv_query){ .kind = "container", .hostname = "h2' OR '1'='1" };
	check_filter(s, &q, "");
	q = (struct store_inv_query){ .kind = "image", .search = "h1" }; /* not by host */
	check_filter(s, &q, "");
	q = (struct store_inv_query){ .kind = "image", .search = "%" };
	check_filter(s, &q, "h3/sha256:i4");
	q = (struct store_inv_query){ .kind = "host", .clusters = cl, .nclusters = 1 };
	check_filter(s, &q, "h1/h1");
	q = (struct store_inv_query){ .kind = "nothing" };
	{
		struct store_inv_result a = { 0 };
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), -EINVAL);
		q = (struct store_inv_query){ .kind = "host", .sort = STORE_INV_SORT_DOC,
					      .sort_path = "x') --" };
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), -EINVAL);
		q.sort_path = "a..b";
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), -EINVAL);
		/* A path into the document: sorted by json_extract(), ties by hostname and id. */
		q = (struct store_inv_query){ .kind = "container", .sort = STORE_INV_SORT_DOC,
					      .sort_path = "namespace", .reverse = 1, .limit = 2 };
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
		T_CHECK_INT(a.n, 2);
		if (a.n == 2) {
			T_CHECK_STR(a.rows[0].id, "c02"); /* payments-eu */
			T_CHECK_STR(a.rows[1].id, "c12"); /* payments, on h2 (ties reversed too) */
		}
		store_inv_result_clear(&a);
	}
	/* The row carries the subject: labels without ':' get one, newlines survive. */
	{
		struct store_inv_result a = { 0 };
		q = (struct store_inv_query){ .kind = "container", .hostname = "h1", .id = "c03" };
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
		T_CHECK_INT(a.n, 1);
		if (a.n == 1) {
			T_CHECK_INT(a.rows[0].nlabels, 2);
			if (a.rows[0].nlabels == 2)
				T_CHECK_STR(a.rows[0].labels[1], "foo:");
			T_CHECK_STR(a.rows[0].cluster, "ecs-a");
			T_CHECK_STR(a.rows[0].account_id, "111");
			T_CHECK(a.rows[0].doc == NULL);
		}
		store_inv_result_clear(&a);
		q = (struct store_inv_query){ .kind = "container", .id = "c07" };
		T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
		T_CHECK_INT(a.n, 1);
		if (a.n == 1 && a.rows[0].nlabels == 1)
			T_CHECK_STR(a.rows[0].labels[0], "multi:line1\nline2");
		store_inv_result_clear(&a);
	}
	store_close(s);
}

T_TEST(counts_and_get)
{
	struct store *s = open_fresh("counts");
	json_t *o = NULL, *doc = NULL;

	struct store_inv_query q = { .kind = "container" };
	struct collection *c[2];

	load(s);
	T_CHECK_INT(s->ops->inv_count_by_host(s, &q, &o), 0);
	T_CHECK_INT(json_integer_value(json_object_get(o, "h1")), 5);
	T_CHECK_INT(json_integer_value(json_object_get(o, "h2")), 4);
	T_CHECK_INT(json_integer_value(json_object_get(o, "h3")), 3);
	json_decref(o);
	/* With filters: in SQL, and with a collection checked in C. */
	c[0] = coll("images", "[\"nginx*\"]");
	c[1] = coll("labels", "[\"*:web\"]");
	for (int k = 0; k < 2; k++) {
		q.colls = &c[k];
		q.ncolls = 1;
		T_CHECK_INT(s->ops->inv_count_by_host(s, &q, &o), 0);
		T_CHECK_INT(json_integer_value(json_object_get(o, "h1")), k == 0 ? 3 : 0);
		T_CHECK_INT(json_integer_value(json_object_get(o, "h2")), k == 0 ? 1 : 2);
		T_CHECK_INT(json_integer_value(json_object_get(o, "h3")), k == 0 ? 1 : 0);
		T_CHECK_INT(json_object_size(o), k == 0 ? 3 : 1);
		json_decref(o);
		collection_free(c[k]);
	}
	T_CHECK_INT(s->ops->inv_get(s, "container", "h2", "c06", &doc), 0);
	T_CHECK_STR(json_string_value(json_object_get(doc, "name")), "x%y");
	json_decref(doc);
	T_CHECK_INT(s->ops->inv_get(s, "container", "h2", "c01", &doc), -ENOENT);
	T_CHECK(doc == NULL);
	store_close(s);
}

/* A database written by the previous schema (v1) is migrated on open, its data kept and given
 * the new columns. */
T_TEST(migrates_v1)
{
	static const char *v1 =
		"CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
		"CREATE TABLE users(username TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL);"
		"CREATE TABLE sessions(token_hash TEXT PRIMARY KEY, username TEXT NOT NULL,"
		"  expires INTEGER NOT NULL);"
		"CREATE TABLE bundles(id TEXT PRIMARY KEY, bundle TEXT NOT NULL,"
		"  created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE certs(serial TEXT PRIMARY KEY, hostname TEXT NOT NULL,"
		"  not_after INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);"
		"CREATE TABLE defenders(hostname TEXT PRIMARY KEY, version TEXT, type TEXT,"
		"  category TEXT, cluster TEXT, cluster_source TEXT, cloud_metadata TEXT, system_info TEXT,"
		"  cert_serial TEXT, cert_expiration INTEGER, last_modified INTEGER, first_seen INTEGER,"
		"  connected INTEGER NOT NULL DEFAULT 0, remote_addr TEXT);"
		"CREATE TABLE inventory(kind TEXT NOT NULL, hostname TEXT NOT NULL,"
		"  id TEXT NOT NULL, doc TEXT NOT NULL, updated INTEGER NOT NULL,"
		"  PRIMARY KEY(kind, hostname, id));"
		"CREATE TABLE collections(name TEXT PRIMARY KEY, doc TEXT NOT NULL,"
		"  modified INTEGER NOT NULL);"
		"INSERT INTO defenders(hostname, cluster, cloud_metadata, connected) VALUES"
		"  ('n1', 'prod', '{\"accountID\":\"42\"}', 1), ('n2', NULL, 'not json', 0);"
		"INSERT INTO inventory VALUES('container', 'n1', 'a', '{\"id\":\"a\",\"name\":\"web_1\","
		"  \"image\":\"nginx\",\"namespace\":\"shop\",\"labels\":[\"env:prod\"]}', 5);"
		"INSERT INTO inventory VALUES('container', 'n2', 'b', '{\"id\":\"b\",\"name\":\"db\"}', 6);"
		"INSERT INTO inventory VALUES('image', 'n1', 'sha256:x', '{\"id\":\"sha256:x\","
		"  \"repoTags\":[\"nginx:latest\"]}', 5);"
		"INSERT INTO users VALUES('admin', 'h', 'admin');"
		"PRAGMA user_version=1;";
	char path[256], *hash = NULL, *role = NULL;
	sqlite3 *db = NULL;
	struct store *s = NULL;
	struct collection *c;
	struct store_inv_query q = { .kind = "container" };
	struct store_inv_result a = { 0 };
	char ka[256];

	snprintf(path, sizeof(path), "%s/v1.db", dbdir);
	unlink(path);
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_CHECK_INT(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	T_CHECK_INT(store_sqlite_open(path, &s), 0);
	if (s == NULL)
		return;
	T_CHECK_INT(s->ops->user_get(s, "admin", &hash, &role), 0);
	free(hash);
	free(role);
	c = coll("images", "[\"nginx*\"]");
	q.colls = &c;
	q.ncolls = 1;
	q.with_doc = 1;
	T_CHECK_INT(s->ops->inv_query(s, &q, &a), 0);
	keys(&a, ka, sizeof(ka));
	T_CHECK_STR(ka, "n1/a");
	T_CHECK_INT(a.exact, 1);
	if (a.n == 1) {
		T_CHECK_STR(a.rows[0].name, "web_1");
		T_CHECK_STR(a.rows[0].namespace_, "shop");
		T_CHECK_STR(a.rows[0].cluster, "prod");
		T_CHECK_STR(a.rows[0].account_id, "42");
		T_CHECK_INT(a.rows[0].nlabels, 1);
		T_CHECK_INT(a.rows[0].updated, 5);
		T_CHECK_STR(json_string_value(json_object_get(a.rows[0].doc, "image")), "nginx");
	}
	store_inv_result_clear(&a);
	collection_free(c);
	q = (struct store_inv_query){ .kind = "image", .search = "nginx:latest" };
	check_filter(s, &q, "n1/sha256:x");
	store_close(s);
	/* Version 2 now, with the indexes; opening again changes nothing. */
	T_CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	{
		sqlite3_stmt *st = NULL;
		T_CHECK_INT(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version),"
						   " (SELECT count(*) FROM sqlite_master WHERE type='index' AND"
						   " name IN ('inventory_list', 'inventory_namespace',"
						   " 'defenders_connected'))", -1, &st, NULL), SQLITE_OK);
		T_CHECK_INT(sqlite3_step(st), SQLITE_ROW);
		T_CHECK(sqlite3_column_int(st, 0) >= 2); /* later migrations follow v2 */
		T_CHECK_INT(sqlite3_column_int(st, 1), 3);
		sqlite3_finalize(st);
		T_CHECK_INT(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(db);
	/* A database from a newer Console is refused, not damaged. */
	T_CHECK(store_sqlite_open(path, &s) < 0);
}

T_TEST(collection_usages)
{
	struct store *s = open_fresh("usages");
	json_t *doc = json_pack("{s:s}", "name", "prod"), *u = NULL;
	const char *one[] = { "prod" }, *two[] = { "prod", "dev" }, *bad[] = { "" };

	T_CHECK_INT(s->ops->coll_put(s, "prod", doc, 1), 0);
	T_CHECK_INT(s->ops->coll_put(s, "dev", doc, 1), 0);
	T_CHECK_INT(s->ops->coll_usages(s, "prod", &u), 0);
	T_CHECK_INT(json_array_size(u), 0);
	json_decref(u);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "runtime-container/rule-b", one, 1), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "runtime-container/rule-a", two, 2), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "user", "alice", one, 1), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "runtime-container/rule-a", two, 2), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "nope", "x", one, 1), -EINVAL);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "", one, 1), -EINVAL);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "x", bad, 1), -EINVAL);
	T_CHECK_INT(s->ops->coll_usages(s, "prod", &u), 0);
	T_CHECK_INT(json_array_size(u), 3);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(u, 0), "type")), "policy");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(u, 0), "name")),
		    "runtime-container/rule-a");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(u, 2), "type")), "user");
	json_decref(u);
	/* In use: refused, and nothing deleted. */
	T_CHECK_INT(s->ops->coll_delete(s, "prod"), -EBUSY);
	T_CHECK_INT(s->ops->coll_delete(s, "dev"), -EBUSY);
	T_CHECK_INT(s->ops->coll_get(s, "prod", &u), 0);
	json_decref(u);
	/* rule-a now uses dev only; alice nothing; rule-b is deleted. */
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "runtime-container/rule-a", two + 1, 1), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "user", "alice", NULL, 0), 0);
	T_CHECK_INT(s->ops->coll_usage_set(s, "policy", "runtime-container/rule-b", NULL, 0), 0);
	T_CHECK_INT(s->ops->coll_delete(s, "prod"), 0);
	T_CHECK_INT(s->ops->coll_delete(s, "dev"), -EBUSY);
	T_CHECK_INT(s->ops->coll_usages(s, "dev", &u), 0);
	T_CHECK_INT(json_array_size(u), 1);
	json_decref(u);
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

static const struct t_case tcases[] = {
	T_CASE(pushdown_equals_c_rules),         T_CASE(pushdown_unions_and_fields_anded),
	T_CASE(paging_same_in_both_modes),       T_CASE(filters_search_clusters_namespaces),
	T_CASE(counts_and_get),                  T_CASE(migrates_v1),
	T_CASE(collection_usages),
};

int main(int argc, char **argv)
{
	char cmd[300];
	int rc;

	setup();
	rc = t_run(tcases, sizeof(tcases) / sizeof(tcases[0]), argc, argv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dbdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dbdir);
	return rc;
}
