/*
 * test_collection: the collection module (lib/collection.c): every pattern kind on every field
 * kind, case, exclusions first, exclusion-only and unknown values; image canonicalisation and how
 * image patterns use it; labels; AND across fields and union across collections; every
 * validation error with its message; the JSON round trip; the built-in All.
 */
#include "t.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <garrison/collection.h>

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define H COLLECTION_F_HOSTS
#define I COLLECTION_F_IMAGES
#define L COLLECTION_F_LABELS

struct pm_case {
	int field;
	const char *pattern, *value; /* value NULL: unknown */
	int want;
};

static void run_pm(const struct pm_case *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int got = collection_pattern_match((enum collection_field)v[i].field, v[i].pattern,
						   v[i].value);
		if (got != v[i].want) {
			fprintf(stderr, "  case %zu: field %d pattern \"%s\" value \"%s\": got %d, want %d\n",
				i, v[i].field, v[i].pattern, v[i].value ? v[i].value : "(null)", got,
				v[i].want);
			t_failed_checks++;
		}
	}
}

T_TEST(patterns_plain)
{
	static const struct pm_case v[] = {
		/* exact */
		{ H, "web1", "web1", 1 }, { H, "web1", "web10", 0 }, { H, "web1", "xweb1", 0 },
		{ H, "web1", "web", 0 }, { H, "web1", "", 0 },
		/* starts with */
		{ H, "web*", "web1", 1 }, { H, "web*", "web", 1 }, { H, "web*", "aweb", 0 },
		{ H, "web*", "we", 0 }, { H, "web*", "", 0 },
		/* ends with */
		{ H, "*prod", "db-prod", 1 }, { H, "*prod", "prod", 1 }, { H, "*prod", "prod-db", 0 },
		{ H, "*prod", "rod", 0 },
		/* contains */
		{ H, "*prod*", "a-prod-b", 1 }, { H, "*prod*", "prod", 1 }, { H, "*prod*", "pro", 0 },
		{ H, "*prod*", "p-r-o-d", 0 }, { H, "*aab*", "aaab", 1 }, { H, "*x*", "", 0 },
		/* anything; runs of * at the ends are one * */
		{ H, "*", "anything", 1 }, { H, "*", "", 1 }, { H, "**", "x", 1 },
		{ H, "sock-shop**", "sock-shop-cart", 1 }, { H, "**shop", "sockshop", 1 },
		{ H, "**shop**", "a-shop-b", 1 }, { H, "sock-shop**", "shop", 0 },
		/* case: ASCII only */
		{ H, "WEB*", "web1", 1 }, { H, "web*", "WEB1", 1 }, { H, "*PROD*", "x-Prod-y", 1 },
		{ H, "Web1", "wEB1", 1 }, { H, "caf\xc3\xa9*", "Caf\xc3\xa9-1", 1 },
		{ H, "CAF\xc3\x89", "caf\xc3\xa9", 0 },
		/* exclusion: alone, it is "everything but" */
		{ H, "-web1", "web1", 0 }, { H, "-web1", "web2", 1 }, { H, "-web*", "web2", 0 },
		{ H, "-web*", "db", 1 }, { H, "-*test*", "a-TEST-b", 0 }, { H, "-*", "x", 0 },
		{ H, "-*", "", 0 }, { H, "--x", "-x", 0 }, { H, "--x", "x", 1 },
		{ H, "*-x", "a-x", 1 }, { H, "*-x", "ax", 0 },
		/* unknown values: only an open field takes them */
		{ H, "*", NULL, 1 }, { H, "web*", NULL, 0 }, { H, "web1", NULL, 0 },
		{ H, "*b*", NULL, 0 }, { H, "-web*", NULL, 1 }, { H, "-*", NULL, 1 },
		/* the other plain fields follow the same rules */
		{ COLLECTION_F_CONTAINERS, "k8s_*", "k8s_POD_web", 1 },
		{ COLLECTION_F_NAMESPACES, "kube-*", "kube-system", 1 },
		{ COLLECTION_F_NAMESPACES, "-kube-*", "kube-system", 0 },
		{ COLLECTION_F_CLUSTERS, "*-eu", "prod-EU", 1 },
		{ COLLECTION_F_APP_IDS, "app-1", "app-2", 0 },
		{ COLLECTION_F_ACCOUNT_IDS, "1234*", "123456789012", 1 },
	};
	run_pm(v, sizeof(v) / sizeof(v[0]));
}

T_TEST(patterns_labels)
{
	static const struct pm_case v[] = {
		{ L, "env:prod", "env:prod", 1 }, { L, "env:prod", "env:production", 0 },
		{ L, "env:prod*", "env:production", 1 }, { L, "env:prod*", "env:dev", 0 },
		{ L, "env:prod*", "environment:prod", 0 }, { L, "env*:prod", "environment:prod", 1 },
		{ L, "*app:web", "myapp:web", 1 }, { L, "*app:web", "app:web2", 0 },
		{ L, "ENV:Prod", "env:PROD", 1 },
		/* *:* needs a label, * alone does not */
		{ L, "*:*", "a:b", 1 }, { L, "*:*", NULL, 0 }, { L, "*", NULL, 1 }, { L, "*", "a:b", 1 },
		/* empty values; a label without ':' is a key with an empty value */
		{ L, "env:*", "env:", 1 }, { L, "env:", "env:", 1 }, { L, "env:", "env:x", 0 },
		{ L, "env:", "env", 1 }, { L, "env:*", "env", 1 }, { L, "env:x", "env", 0 },
		/* exclusions */
		{ L, "-team:dev", "team:dev", 0 }, { L, "-team:dev", "team:ops", 1 },
		{ L, "-team:dev", NULL, 1 }, { L, "-*", "a:b", 0 }, { L, "-*", NULL, 1 },
		{ L, "-*:*", "a:b", 0 }, { L, "-*:*", NULL, 1 },
		/* dotted and slashed keys; the value may hold ':' (split at the first ':') */
		{ L, "com.amazonaws.ecs.cluster:prod", "com.amazonaws.ecs.cluster:prod", 1 },
		{ L, "app.kubernetes.io/name:web*", "app.kubernetes.io/name:web-frontend", 1 },
		{ L, "image:docker.io/x:1", "image:docker.io/x:1", 1 },
		{ L, "image:*:1", "image:docker.io/x:1", 1 }, { L, "image:*:1", "image:x:2", 0 },
		{ L, "osDistro:ubuntu", "osDistro:Ubuntu", 1 },
	};
	run_pm(v, sizeof(v) / sizeof(v[0]));
}

T_TEST(patterns_images)
{
	static const struct pm_case v[] = {
		/* exact patterns are canonicalised: nginx is docker.io/library/nginx:latest */
		{ I, "nginx", "nginx", 1 }, { I, "nginx", "nginx:latest", 1 },
		{ I, "nginx", "docker.io/library/nginx:latest", 1 },
		{ I, "nginx", "docker.io/library/nginx", 1 },
		{ I, "nginx", "index.docker.io/library/nginx:latest", 1 },
		{ I, "nginx", "nginx:1.25", 0 }, { I, "nginx", "user/nginx", 0 },
		{ I, "nginx", "quay.io/nginx", 0 }, { I, "NGINX", "nginx", 1 },
		{ I, "nginx:latest", "nginx", 1 }, { I, "docker.io/library/nginx:latest", "nginx", 1 },
		{ I, "library/nginx", "nginx:latest", 1 },
		{ I, "user/app:1", "docker.io/user/app:1", 1 }, { I, "user/app", "user/app:latest", 1 },
		{ I, "user/app", "user/app:2", 0 },
		{ I, "localhost:5000/app", "localhost:5000/app:latest", 1 },
		{ I, "localhost:5000/app", "app", 0 }, { I, "localhost/app", "LOCALHOST/app", 1 },
		/* digests are kept: a digest pattern matches that digest only */
		{ I, "myrepo/app@sha256:" HEX64, "docker.io/myrepo/app@sha256:" HEX64, 1 },
		{ I, "myrepo/app@sha256:" HEX64, "myrepo/app", 0 },
		{ I, "myrepo/app:1@sha256:" HEX64, "myrepo/app:1@sha256:" HEX64, 1 },
		{ I, "myrepo/app:1@sha256:" HEX64, "myrepo/app@sha256:" HEX64, 0 },
		{ I, "*@sha256:" HEX64, "quay.io/a/b@sha256:" HEX64, 1 },
		/* prefixes are tried against every spelling of the image */
		{ I, "nginx*", "docker.io/library/nginx:1.25", 1 }, { I, "nginx*", "nginx:1.25", 1 },
		{ I, "nginx*", "nginx-extras", 1 }, { I, "nginx*", "nginxinc/nginx-unprivileged:1", 1 },
		{ I, "nginx*", "redis", 0 }, { I, "nginx*", "quay.io/nginx:1", 0 },
		{ I, "nginx:*", "nginx:1.25", 1 }, { I, "nginx:*", "nginx", 1 },
		{ I, "nginx:*", "nginx-extras:1", 0 }, { I, "library/nginx*", "nginx", 1 },
		{ I, "docker.io/nginx*", "nginx:1.25", 1 },
		{ I, "docker.io/library/nginx*", "nginx:1.25", 1 },
		{ I, "index.docker.io/library/nginx*", "nginx", 1 },
		{ I, "user/*", "docker.io/user/app:1", 1 }, { I, "docker.io/user/*", "user/app", 1 },
		{ I, "library/*", "user/app", 0 },
		{ I, "localhost:5000/app*", "localhost:5000/app:2", 1 },
		{ I, "gcr.io/proj/*", "gcr.io/proj/img:1", 1 },
		{ I, "gcr.io/proj/*", "gcr.io/other/img:1", 0 },
		/* suffixes and contains see the canonical form, which always ends in a tag or digest */
		{ I, "*:1.25", "nginx:1.25", 1 }, { I, "*-alpine", "nginx:1.25-alpine", 1 },
		{ I, "*:latest", "nginx", 1 }, { I, "*nginx", "nginx", 0 },
		{ I, "*/nginx:*", "nginx:1.25", 1 }, { I, "*/nginx:*", "quay.io/x/nginx:2", 1 },
		{ I, "*/nginx:*", "nginx-x:1", 0 }, { I, "*library*", "nginx", 1 },
		{ I, "*DOCKER.IO*", "redis", 1 },
		/* a subject that is not a reference is compared as given */
		{ I, "*weird*", "a weird value", 1 }, { I, "nginx", "not an image!", 0 },
		{ I, "a weird*", "a weird value", 0 }, /* (the pattern is refused: it has a space) */
		/* unknown image, exclusions */
		{ I, "nginx*", NULL, 0 }, { I, "*", NULL, 1 }, { I, "-nginx*", NULL, 1 },
		{ I, "-nginx*", "redis", 1 }, { I, "-nginx*", "nginx:1", 0 },
		{ I, "-nginx", "nginx:latest", 0 }, { I, "-nginx", "nginx:2", 1 },
	};
	struct pm_case fixed[sizeof(v) / sizeof(v[0])];

	memcpy(fixed, v, sizeof(v));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(v[i].pattern, "a weird*") == 0)
			fixed[i].want = -EINVAL;
	run_pm(fixed, sizeof(v) / sizeof(v[0]));
}

struct bad_case {
	int field;
	const char *pattern, *why;
};

T_TEST(patterns_invalid)
{
	static const struct bad_case v[] = {
		{ H, "", "a pattern cannot be empty" },
		{ H, "a*b", "a pattern cannot have * in the middle" },
		{ H, "*a*b*", "a pattern cannot have * in the middle" },
		{ H, "-a*b", "a pattern cannot have * in the middle" },
		{ H, "-", "an exclusion needs a pattern after -" },
		{ H, " web", "a pattern cannot begin or end with a space" },
		{ H, "web ", "a pattern cannot begin or end with a space" },
		{ H, "- web", "a pattern cannot begin or end with a space" },
		{ H, "web\x01", "a pattern cannot contain control characters" },
		{ H, "web\x7f", "a pattern cannot contain control characters" },
		{ H, "web\xc2\x85", "a pattern cannot contain control characters" },
		{ H, "a\xe2\x80\xae" "b", "a pattern cannot contain control characters" },
		{ L, "env", "a label pattern is key:value, or * alone" },
		{ L, "-env*", "a label pattern is key:value, or * alone" },
		{ L, ":prod", "a label pattern needs a key before ':'" },
		{ L, "e*v:prod", "a pattern cannot have * in the middle" },
		{ L, "env:p*d", "a pattern cannot have * in the middle" },
		{ I, "nginx:", "not an image reference: a tag is 1 to 128 letters, digits, _ . - (not first)" },
		{ I, "nginx:-x", "not an image reference: a tag is 1 to 128 letters, digits, _ . - (not first)" },
		{ I, "a//b", "not an image reference: empty path component" },
		{ I, "/app", "not an image reference: empty path component" },
		{ I, "user/", "not an image reference: empty path component" },
		{ I, "nginx@sha256", "not an image reference: a digest is algorithm:hex (sha256:...)" },
		{ I, "nginx@sha256:", "not an image reference: a digest is algorithm:hex (sha256:...)" },
		{ I, "nginx@", "not an image reference: a digest is algorithm:hex (sha256:...)" },
		{ I, "@sha256:abc", "not an image reference: the name is empty" },
		{ I, "ngi nx*", "an image pattern cannot contain spaces" },
		{ I, "*ngi nx*", "an image pattern cannot contain spaces" },
		{ I, "host:port/app", "not an image reference: bad registry host" },
		{ I, "a*b", "a pattern cannot have * in the middle" },
	};
	char long_pat[COLLECTION_PATTERN_MAX + 2];
	const char *why = "unset";

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		why = NULL;
		T_CHECK_INT(collection_pattern_valid((enum collection_field)v[i].field, v[i].pattern,
						     &why), -EINVAL);
		if (why == NULL || strcmp(why, v[i].why) != 0) {
			fprintf(stderr, "  case %zu \"%s\": why \"%s\", want \"%s\"\n", i, v[i].pattern,
				why ? why : "(null)", v[i].why);
			t_failed_checks++;
		}
		T_CHECK_INT(collection_pattern_match((enum collection_field)v[i].field,
						     v[i].pattern, "x"), -EINVAL);
	}
	memset(long_pat, 'a', sizeof(long_pat) - 1);
	long_pat[sizeof(long_pat) - 1] = '\0';
	T_CHECK_INT(collection_pattern_valid(H, long_pat, &why), -EINVAL);
	T_CHECK_STR(why, "a pattern cannot be longer than 512 bytes");
	long_pat[COLLECTION_PATTERN_MAX] = '\0'; /* exactly the limit */
	T_CHECK_INT(collection_pattern_valid(H, long_pat, &why), 0);
	T_CHECK(why == NULL);
	/* valid ones say nothing; the field must exist; why may be NULL */
	why = "unset";
	T_CHECK_INT(collection_pattern_valid(L, "*:*", &why), 0);
	T_CHECK(why == NULL);
	T_CHECK_INT(collection_pattern_valid(I, "*-alpine", NULL), 0);
	T_CHECK_INT(collection_pattern_valid(I, "nginx", NULL), 0);
	T_CHECK_INT(collection_pattern_valid(COLLECTION_F_COUNT, "x", &why), -EINVAL);
	T_CHECK_STR(why, "unknown field");
	T_CHECK_INT(collection_pattern_valid(H, NULL, NULL), -EINVAL);
	T_CHECK_INT(collection_pattern_match(COLLECTION_F_COUNT, "*", "x"), -EINVAL);
}

struct canon_case {
	const char *in, *out; /* out NULL: -EINVAL */
};

T_TEST(image_canonical)
{
	static const struct canon_case v[] = {
		{ "nginx", "docker.io/library/nginx:latest" },
		{ "nginx:1.25", "docker.io/library/nginx:1.25" },
		{ "nginx:1.25-alpine", "docker.io/library/nginx:1.25-alpine" },
		{ "user/app:1", "docker.io/user/app:1" },
		{ "user/app", "docker.io/user/app:latest" },
		{ "user/team/app", "docker.io/user/team/app:latest" },
		{ "library/nginx", "docker.io/library/nginx:latest" },
		{ "docker.io/nginx", "docker.io/library/nginx:latest" },
		{ "docker.io/library/nginx:latest", "docker.io/library/nginx:latest" },
		{ "index.docker.io/library/nginx:1", "docker.io/library/nginx:1" },
		{ "Index.Docker.IO/user/app", "docker.io/user/app:latest" },
		{ "registry-1.docker.io/user/app", "docker.io/user/app:latest" },
		{ "localhost/app", "localhost/app:latest" },
		{ "localhost:5000/app", "localhost:5000/app:latest" },
		{ "localhost:5000/team/app:2", "localhost:5000/team/app:2" },
		{ "LocalHost:5000/App", "LocalHost:5000/App:latest" },
		{ "myhost:443/app", "myhost:443/app:latest" },
		{ "[::1]:5000/app", "[::1]:5000/app:latest" },
		{ "quay.io/org/app:v1", "quay.io/org/app:v1" },
		{ "gcr.io/proj/sub/img:1", "gcr.io/proj/sub/img:1" },
		{ "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:prod",
		  "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:prod" },
		{ "repo@sha256:" HEX64, "docker.io/library/repo@sha256:" HEX64 },
		{ "user/app:1@sha256:" HEX64, "docker.io/user/app:1@sha256:" HEX64 },
		{ "quay.io/a/b@sha256:" HEX64, "quay.io/a/b@sha256:" HEX64 },
		/* one component: ":5000" is a tag (Docker reads it the same way) */
		{ "localhost:5000", "docker.io/library/localhost:5000" },
		{ "", NULL }, { "nginx:", NULL }, { "a//b", NULL }, { "/app", NULL }, { "app/", NULL },
		{ "ngi nx", NULL }, { "nginx\t", NULL }, { "nginx@", NULL }, { "nginx@sha256:", NULL },
		{ "nginx@:abc", NULL }, { "x*", NULL }, { "nginx:bad/tag", NULL },
		{ "host:99999999/app", NULL }, { "nginx:a@b@c:d", NULL }, { "user/app:.x", NULL },
		{ "caf\xc3\xa9", NULL }, { "UPPER$/x", NULL },
	};
	char out[COLLECTION_IMAGE_MAX + 1], again[COLLECTION_IMAGE_MAX + 1], small[8];
	char big[COLLECTION_IMAGE_MAX + 2], tag[140];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		int r = collection_image_canonical(v[i].in, out, sizeof(out));
		if (v[i].out == NULL) {
			if (r != -EINVAL || out[0] != '\0') {
				fprintf(stderr, "  \"%s\": got %d \"%s\", want -EINVAL\n", v[i].in, r, out);
				t_failed_checks++;
			}
			continue;
		}
		if (r != 0 || strcmp(out, v[i].out) != 0) {
			fprintf(stderr, "  \"%s\": got %d \"%s\", want \"%s\"\n", v[i].in, r, out,
				v[i].out);
			t_failed_checks++;
			continue;
		}
		/* canonical forms are fixed points */
		T_CHECK_INT(collection_image_canonical(out, again, sizeof(again)), 0);
		T_CHECK_STR(again, out);
	}
	/* a buffer too small: -ENOSPC and an empty string */
	T_CHECK_INT(collection_image_canonical("nginx", small, sizeof(small)), -ENOSPC);
	T_CHECK_STR(small, "");
	T_CHECK_INT(collection_image_canonical("nginx", out, 30), -ENOSPC);
	T_CHECK_INT(collection_image_canonical("nginx", out, 31), 0); /* 30 bytes + NUL */
	T_CHECK_INT(collection_image_canonical(NULL, out, sizeof(out)), -EINVAL);
	/* bounds: the whole reference, and a tag of at most 128 */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	T_CHECK_INT(collection_image_canonical(big, out, sizeof(out)), -EINVAL);
	big[COLLECTION_IMAGE_MAX - 25] = '\0'; /* + "docker.io/library/" + ":latest" = the limit */
	T_CHECK_INT(collection_image_canonical(big, out, sizeof(out)), 0);
	T_CHECK_INT(strlen(out), COLLECTION_IMAGE_MAX);
	big[COLLECTION_IMAGE_MAX - 25] = 'a';
	big[COLLECTION_IMAGE_MAX - 24] = '\0';
	T_CHECK_INT(collection_image_canonical(big, out, sizeof(out)), -EINVAL);
	memcpy(tag, "app:", 4);
	memset(tag + 4, 't', 128);
	tag[132] = '\0';
	T_CHECK_INT(collection_image_canonical(tag, out, sizeof(out)), 0);
	tag[132] = 't';
	tag[133] = '\0';
	T_CHECK_INT(collection_image_canonical(tag, out, sizeof(out)), -EINVAL);
}

static struct collection *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
	struct collection *c = NULL;
	char err[256];

	if (j == NULL) {
		fprintf(stderr, "  bad test JSON: %s\n", je.text);
		t_failed_checks++;
		return NULL;
	}
	if (collection_from_json(j, &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "  unexpected error: %s\n  for %s\n", err, text);
		t_failed_checks++;
	}
	json_decref(j);
	return c;
}

/* The error message collection_from_json() gives for text, or "" when it accepts it. */
static const char *error_of(const char *text)
{
	static char err[256];
	json_error_t je;
	json_t *j = json_loads(text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
	struct collection *c = (struct collection *)(uintptr_t)1; /* must be reset to NULL */
	int r;

	if (j == NULL) {
		fprintf(stderr, "  bad test JSON: %s\n", je.text);
		t_failed_checks++;
		return "(bad JSON)";
	}
	r = collection_from_json(j, &c, err, sizeof(err));
	json_decref(j);
	if (r == 0) {
		collection_free(c);
		return "";
	}
	T_CHECK_INT(r, -EINVAL);
	T_CHECK(c == NULL);
	return err;
}

static int m(const struct collection *c, const char *container, const char *image,
	     const char *host, const char *ns)
{
	struct collection_subject s = { .container = container, .image = image, .host = host,
					.namespace_ = ns };
	return collection_match(c, &s);
}

T_TEST(fields_and_exclusions)
{
	struct collection *c;

	/* fields are ANDed */
	c = parse("{\"name\":\"web\",\"hosts\":[\"web*\"],\"images\":[\"nginx*\"]}");
	T_CHECK_INT(m(c, "c", "nginx:1.25", "web1", "ns"), 1);
	T_CHECK_INT(m(c, "c", "nginx:1.25", "db1", "ns"), 0);
	T_CHECK_INT(m(c, "c", "redis", "web1", "ns"), 0);
	T_CHECK_INT(m(c, "c", NULL, "web1", "ns"), 0); /* the image is unknown, the field is not * */
	collection_free(c);

	/* exclusions first, even when an inclusion matches */
	c = parse("{\"name\":\"x\",\"hosts\":[\"web*\",\"-web-test*\"]}");
	T_CHECK_INT(m(c, NULL, NULL, "web-1", NULL), 1);
	T_CHECK_INT(m(c, NULL, NULL, "web-test-1", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, "WEB-TEST-2", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, "db", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, NULL, NULL), 0);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"hosts\":[\"-web-test*\",\"web*\"]}"); /* order does not matter */
	T_CHECK_INT(m(c, NULL, NULL, "web-test-1", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, "web-1", NULL), 1);
	collection_free(c);

	/* exclusion-only: everything not excluded, unknown included */
	c = parse("{\"name\":\"x\",\"hosts\":[\"-*test*\",\"-dev\"]}");
	T_CHECK_INT(m(c, NULL, NULL, "prod", NULL), 1);
	T_CHECK_INT(m(c, NULL, NULL, "test-1", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, "DEV", NULL), 0);
	T_CHECK_INT(m(c, NULL, NULL, "dev2", NULL), 1);
	T_CHECK_INT(m(c, NULL, NULL, NULL, NULL), 1);
	collection_free(c);

	/* several inclusions are ORed; * with exclusions is still open */
	c = parse("{\"name\":\"x\",\"hosts\":[\"a*\",\"b*\"],\"namespaces\":[\"*\",\"-kube-system\"]}");
	T_CHECK_INT(m(c, NULL, NULL, "a1", "default"), 1);
	T_CHECK_INT(m(c, NULL, NULL, "b1", "default"), 1);
	T_CHECK_INT(m(c, NULL, NULL, "c1", "default"), 0);
	T_CHECK_INT(m(c, NULL, NULL, "a1", "kube-system"), 0);
	T_CHECK_INT(m(c, NULL, NULL, "a1", NULL), 1);
	collection_free(c);

	/* empty and null lists are * */
	c = parse("{\"name\":\"x\",\"hosts\":[],\"images\":null,\"containers\":[\"-*\"]}");
	T_CHECK_INT(m(c, NULL, "anything", "any", "ns"), 1);
	/* containers ["-*"]: only subjects without a container (hosts, images) */
	T_CHECK_INT(m(c, "web", "anything", "any", "ns"), 0);
	collection_free(c);

	/* the remaining single-valued fields */
	c = parse("{\"name\":\"x\",\"clusters\":[\"prod-*\"],\"appIDs\":[\"app-1\"],"
		  "\"accountIDs\":[\"1234*\"],\"containers\":[\"*web*\"]}");
	{
		struct collection_subject s = { .container = "my-web-1", .cluster = "prod-eu",
						.app_id = "APP-1", .account_id = "123456789012" };
		T_CHECK_INT(collection_match(c, &s), 1);
		s.cluster = "dev-eu";
		T_CHECK_INT(collection_match(c, &s), 0);
		s.cluster = "prod-eu";
		s.app_id = "app-2";
		T_CHECK_INT(collection_match(c, &s), 0);
		s.app_id = "app-1";
		s.account_id = NULL;
		T_CHECK_INT(collection_match(c, &s), 0);
		s.account_id = "1234";
		s.container = "db";
		T_CHECK_INT(collection_match(c, &s), 0);
	}
	collection_free(c);
	T_CHECK_INT(collection_match(NULL, NULL), 0);
}

T_TEST(unknown_values_hosts)
{
	struct collection *all = collection_all(), *c;
	struct collection_subject host = { .host = "node-1", .cluster = "prod" };

	/* a host has no container, image or namespace */
	T_CHECK_INT(collection_match(all, &host), 1);
	T_CHECK_INT(collection_match(all, NULL), 1);
	c = parse("{\"name\":\"x\",\"hosts\":[\"node-*\"]}");
	T_CHECK_INT(collection_match(c, &host), 1);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"images\":[\"nginx*\"]}");
	T_CHECK_INT(collection_match(c, &host), 0);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"namespaces\":[\"*prod*\"]}");
	T_CHECK_INT(collection_match(c, &host), 0);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"images\":[\"-*test*\"],\"namespaces\":[\"*\",\"-dev\"]}");
	T_CHECK_INT(collection_match(c, &host), 1);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"labels\":[\"env:prod\"]}");
	T_CHECK_INT(collection_match(c, &host), 0); /* no labels */
	collection_free(c);
	collection_free(all);
}

T_TEST(labels_any_of_subject)
{
	const char *labels[] = { "app:web", "env:production", NULL, "team:dev" };
	struct collection_subject s = { .labels = labels, .nlabels = 4 };
	struct collection *c;

	c = parse("{\"name\":\"x\",\"labels\":[\"env:prod*\"]}");
	T_CHECK_INT(collection_match(c, &s), 1); /* one of the labels matches */
	s.nlabels = 1;
	T_CHECK_INT(collection_match(c, &s), 0);
	s.nlabels = 4;
	collection_free(c);
	c = parse("{\"name\":\"x\",\"labels\":[\"env:prod*\",\"-team:dev\"]}");
	T_CHECK_INT(collection_match(c, &s), 0); /* another label is excluded */
	s.nlabels = 2;
	T_CHECK_INT(collection_match(c, &s), 1);
	s.nlabels = 4;
	collection_free(c);
	c = parse("{\"name\":\"x\",\"labels\":[\"-team:*\"]}");
	T_CHECK_INT(collection_match(c, &s), 0);
	s.nlabels = 2;
	T_CHECK_INT(collection_match(c, &s), 1);
	s.nlabels = 0;
	T_CHECK_INT(collection_match(c, &s), 1);
	collection_free(c);
	c = parse("{\"name\":\"x\",\"labels\":[\"*:*\"]}");
	T_CHECK_INT(collection_match(c, &s), 0); /* *:* needs at least one label */
	s.nlabels = 1;
	T_CHECK_INT(collection_match(c, &s), 1);
	s.labels = NULL; /* NULL with a count is no labels */
	T_CHECK_INT(collection_match(c, &s), 0);
	collection_free(c);
	s.labels = labels;
	s.nlabels = 4;
	c = parse("{\"name\":\"x\",\"labels\":[\"APP:WEB\",\"zone:*\"],\"hosts\":[\"h*\"]}");
	T_CHECK_INT(collection_match(c, &s), 0); /* host unknown */
	s.host = "h1";
	T_CHECK_INT(collection_match(c, &s), 1);
	collection_free(c);
}

T_TEST(union_of_collections)
{
	struct collection *cs[3];
	struct collection_subject web = { .host = "web1", .image = "httpd" };
	struct collection_subject cache = { .host = "db1", .image = "redis:7" };
	struct collection_subject other = { .host = "db1", .image = "postgres" };

	cs[0] = parse("{\"name\":\"a\",\"hosts\":[\"web*\"]}");
	cs[1] = parse("{\"name\":\"b\",\"images\":[\"redis*\"]}");
	cs[2] = NULL;
	T_CHECK_INT(collection_match_any(cs, 0, &other), 1); /* no filter */
	T_CHECK_INT(collection_match_any(NULL, 0, &other), 1);
	T_CHECK_INT(collection_match_any(cs, 2, &web), 1);
	T_CHECK_INT(collection_match_any(cs, 2, &cache), 1);
	T_CHECK_INT(collection_match_any(cs, 2, &other), 0);
	T_CHECK_INT(collection_match_any(cs, 1, &cache), 0);
	T_CHECK_INT(collection_match_any(cs + 1, 1, &web), 0);
	T_CHECK_INT(collection_match_any(cs, 3, &other), 0); /* a NULL entry matches nothing */
	T_CHECK_INT(collection_match_any(NULL, 2, &web), 0);
	cs[2] = collection_all();
	T_CHECK_INT(collection_match_any(cs, 3, &other), 1);
	for (int i = 0; i < 3; i++)
		collection_free(cs[i]);
}

struct err_case {
	const char *json, *err;
};

T_TEST(validation_errors)
{
	static const struct err_case v[] = {
		{ "[]", "a collection must be a JSON object" },
		{ "\"x\"", "a collection must be a JSON object" },
		{ "{}", "name: is required" },
		{ "{\"name\":null}", "name: is required" },
		{ "{\"name\":\"\"}", "name: cannot be empty" },
		{ "{\"name\":5}", "name: must be a string" },
		{ "{\"name\":\"a\\u0001\"}", "name: cannot contain control characters" },
		{ "{\"name\":\"a\\nb\"}", "name: cannot contain control characters" },
		{ "{\"name\":\"a\\u0000b\"}", "name: cannot contain control characters" },
		{ "{\"name\":\"a\\u0085\"}", "name: cannot contain control characters" },
		{ "{\"name\":\"a\\u202eb\"}", "name: cannot contain control characters" },
		{ "{\"name\":\" a\"}", "name: cannot begin or end with a space" },
		{ "{\"name\":\"a \"}", "name: cannot begin or end with a space" },
		{ "{\"name\":\"x\",\"foo\":1}", "unknown member \"foo\"" },
		{ "{\"name\":\"x\",\"Hosts\":[]}", "unknown member \"Hosts\"" },
		{ "{\"name\":\"x\",\"a\\u0007\":1}", "unknown member \"a?\"" },
		{ "{\"name\":\"x\",\"hosts\":\"web\"}", "hosts: must be a list of strings" },
		{ "{\"name\":\"x\",\"hosts\":{}}", "hosts: must be a list of strings" },
		{ "{\"name\":\"x\",\"hosts\":[\"a\",1]}", "hosts[1]: must be a string" },
		{ "{\"name\":\"x\",\"labels\":[null]}", "labels[0]: must be a string" },
		{ "{\"name\":\"x\",\"images\":[\"ok*\",\"a*b\"]}",
		  "images[1]: a pattern cannot have * in the middle" },
		{ "{\"name\":\"x\",\"hosts\":[\"\"]}", "hosts[0]: a pattern cannot be empty" },
		{ "{\"name\":\"x\",\"hosts\":[\"a\\u0000\"]}",
		  "hosts[0]: a pattern cannot contain control characters" },
		{ "{\"name\":\"x\",\"labels\":[\"env\"]}",
		  "labels[0]: a label pattern is key:value, or * alone" },
		{ "{\"name\":\"x\",\"images\":[\"nginx:\"]}",
		  "images[0]: not an image reference: a tag is 1 to 128 letters, digits, _ . - (not first)" },
		{ "{\"name\":\"x\",\"accountIDs\":[\"-\"]}",
		  "accountIDs[0]: an exclusion needs a pattern after -" },
		{ "{\"name\":\"x\",\"description\":5}", "description: must be a string" },
		{ "{\"name\":\"x\",\"description\":\"a\\u0007\"}",
		  "description: cannot contain control characters" },
		{ "{\"name\":\"x\",\"color\":\"blue\"}", "color: must be a string #RRGGBB (hexadecimal)" },
		{ "{\"name\":\"x\",\"color\":\"#12345G\"}",
		  "color: must be a string #RRGGBB (hexadecimal)" },
		{ "{\"name\":\"x\",\"color\":\"#1234567\"}",
		  "color: must be a string #RRGGBB (hexadecimal)" },
		{ "{\"name\":\"x\",\"color\":1}", "color: must be a string #RRGGBB (hexadecimal)" },
		{ "{\"name\":\"All\",\"hosts\":[\"web*\"]}",
		  "name: All is the built-in collection; it cannot be changed, and no other "
		  "collection can be named so" },
		{ "{\"name\":\"all\"}",
		  "name: All is the built-in collection; it cannot be changed, and no other "
		  "collection can be named so" },
		{ "{\"name\":\"ALL\",\"labels\":[\"*\"]}",
		  "name: All is the built-in collection; it cannot be changed, and no other "
		  "collection can be named so" },
		/* accepted */
		{ "{\"name\":\"x\"}", "" },
		{ "{\"name\":\"x y\",\"description\":\"line 1\\nline\\t2\",\"color\":\"#abcDEF\"}", "" },
		{ "{\"name\":\"x\",\"system\":true,\"prisma\":false,\"functions\":[\"f\"],"
		  "\"codeRepos\":[\"r\"],\"owner\":\"bob\",\"modified\":\"2024-01-01T00:00:00Z\"}", "" },
		{ "{\"name\":\"x\",\"owner\":5,\"modified\":{}}", "" },
		{ "{\"name\":\"All\"}", "" },
		{ "{\"name\":\"caf\\u00e9 \\u00e9t\\u00e9\"}", "" },
	};
	char buf[8192], *p;
	json_t *j;
	struct collection *c;
	char err[256];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		const char *got = error_of(v[i].json);
		if (strcmp(got, v[i].err) != 0) {
			fprintf(stderr, "  %s:\n    got  \"%s\"\n    want \"%s\"\n", v[i].json, got,
				v[i].err);
			t_failed_checks++;
		}
	}

	/* name: 100 characters (200 bytes of é) are fine, 101 are not */
	p = buf;
	p += snprintf(p, sizeof(buf), "{\"name\":\"");
	for (int i = 0; i < 100; i++)
		p += snprintf(p, sizeof(buf) - (size_t)(p - buf), "\xc3\xa9");
	snprintf(p, sizeof(buf) - (size_t)(p - buf), "\"}");
	T_CHECK_STR(error_of(buf), "");
	snprintf(p, sizeof(buf) - (size_t)(p - buf), "a\"}");
	T_CHECK_STR(error_of(buf), "name: longer than 100 characters");

	/* description: at most 1024 bytes */
	memset(buf, 'd', 1025);
	j = json_pack("{s:s,s:s%}", "name", "x", "description", buf, (size_t)1024);
	c = NULL;
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), 0);
	collection_free(c);
	json_decref(j);
	j = json_pack("{s:s,s:s%}", "name", "x", "description", buf, (size_t)1025);
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "description: longer than 1024 bytes");
	json_decref(j);

	/* patterns per field: at most 256; a pattern: at most 512 bytes */
	j = json_pack("{s:s,s:[]}", "name", "x", "hosts");
	for (int i = 0; i < COLLECTION_PATTERNS_MAX; i++)
		json_array_append_new(json_object_get(j, "hosts"), json_string("h*"));
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), 0);
	collection_free(c);
	json_array_append_new(json_object_get(j, "hosts"), json_string("h*"));
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "hosts: too many patterns (at most 256)");
	json_decref(j);
	memset(buf, 'p', COLLECTION_PATTERN_MAX + 1);
	j = json_pack("{s:s,s:[s%]}", "name", "x", "containers", buf, (size_t)COLLECTION_PATTERN_MAX);
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), 0);
	collection_free(c);
	json_decref(j);
	j = json_pack("{s:s,s:[s%]}", "name", "x", "containers", buf,
		      (size_t)COLLECTION_PATTERN_MAX + 1);
	T_CHECK_INT(collection_from_json(j, &c, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "containers[0]: a pattern cannot be longer than 512 bytes");

	/* a short buffer gets a truncated, terminated message; no buffer at all is fine */
	T_CHECK_INT(collection_from_json(j, &c, err, 11), -EINVAL);
	T_CHECK_STR(err, "containers");
	T_CHECK_INT(collection_from_json(j, &c, NULL, 0), -EINVAL);
	T_CHECK_INT(collection_from_json(j, NULL, err, sizeof(err)), -EINVAL);
	json_decref(j);
	T_CHECK_INT(collection_from_json(NULL, &c, err, sizeof(err)), -EINVAL);
	T_CHECK_STR(err, "a collection must be a JSON object");
}

T_TEST(json_round_trip)
{
	static const char *const fields[] = { "containers", "images", "hosts", "labels",
					       "namespaces", "clusters", "appIDs", "accountIDs" };
	struct collection *c, *c2;
	json_t *j, *j2, *v;
	const char *labels[] = { "Env:Prod-1" };
	struct collection_subject s = { .container = "web-1", .image = "Nginx:1.25",
					.host = "node-7", .namespace_ = "shop", .cluster = "eu",
					.app_id = "a1", .account_id = "42", .labels = labels,
					.nlabels = 1 };
	char err[256];

	c = parse("{\"name\":\"Shop\",\"description\":\"the shop\",\"color\":\"#aabbcc\","
		  "\"containers\":[\"web-*\",\"-*-debug\"],\"images\":[\"NGINX*\",\"-*:dev\"],"
		  "\"hosts\":[\"node-*\"],\"labels\":[\"env:prod*\"],\"namespaces\":[\"shop\"],"
		  "\"clusters\":[\"*\"],\"appIDs\":[],\"accountIDs\":[\"*2\"],"
		  "\"owner\":\"alice\",\"modified\":\"2024-05-01T10:00:00Z\",\"system\":true}");
	T_CHECK(c != NULL);
	if (c == NULL)
		return;
	T_CHECK_STR(collection_name(c), "Shop");
	T_CHECK_INT(collection_is_system(c), 0); /* system is read-only */
	T_CHECK_INT(collection_match(c, &s), 1);
	j = collection_to_json(c);
	T_CHECK(j != NULL);
	T_CHECK_INT(json_object_size(j), 14);
	T_CHECK_STR(json_string_value(json_object_get(j, "name")), "Shop");
	T_CHECK_STR(json_string_value(json_object_get(j, "description")), "the shop");
	T_CHECK_STR(json_string_value(json_object_get(j, "color")), "#aabbcc");
	T_CHECK_STR(json_string_value(json_object_get(j, "owner")), "alice");
	T_CHECK_STR(json_string_value(json_object_get(j, "modified")), "2024-05-01T10:00:00Z");
	T_CHECK(json_is_false(json_object_get(j, "system")));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		T_CHECK(json_is_array(json_object_get(j, fields[i])));
	/* patterns as given (case, exclusions); an empty list is written ["*"] */
	v = json_object_get(j, "images");
	T_CHECK_INT(json_array_size(v), 2);
	T_CHECK_STR(json_string_value(json_array_get(v, 0)), "NGINX*");
	T_CHECK_STR(json_string_value(json_array_get(v, 1)), "-*:dev");
	v = json_object_get(j, "appIDs");
	T_CHECK_INT(json_array_size(v), 1);
	T_CHECK_STR(json_string_value(json_array_get(v, 0)), "*");
	/* and back: the same document and the same answers */
	T_CHECK_INT(collection_from_json(j, &c2, err, sizeof(err)), 0);
	j2 = collection_to_json(c2);
	T_CHECK(json_equal(j, j2));
	T_CHECK_INT(collection_match(c2, &s), 1);
	s.image = "nginx:dev";
	T_CHECK_INT(collection_match(c, &s), 0);
	T_CHECK_INT(collection_match(c2, &s), 0);
	json_decref(j);
	json_decref(j2);
	collection_free(c2);
	collection_free(c);

	/* defaults: description "", the default color, owner "", modified the epoch */
	c = parse("{\"name\":\"bare\"}");
	j = collection_to_json(c);
	T_CHECK_STR(json_string_value(json_object_get(j, "description")), "");
	T_CHECK_STR(json_string_value(json_object_get(j, "color")), COLLECTION_DEFAULT_COLOR);
	T_CHECK_STR(json_string_value(json_object_get(j, "owner")), "");
	T_CHECK_STR(json_string_value(json_object_get(j, "modified")), "1970-01-01T00:00:00Z");
	T_CHECK_INT(json_array_size(json_object_get(j, "labels")), 1);
	json_decref(j);
	collection_free(c);
	T_CHECK(collection_to_json(NULL) == NULL);
}

T_TEST(builtin_all)
{
	static const char *const fields[] = { "containers", "images", "hosts", "labels",
					       "namespaces", "clusters", "appIDs", "accountIDs" };
	struct collection *all = collection_all(), *back = NULL;
	const char *labels[] = { "a:b" };
	struct collection_subject s = { .container = "c", .image = "i", .host = "h",
					.namespace_ = "n", .cluster = "k", .app_id = "p",
					.account_id = "q", .labels = labels, .nlabels = 1 };
	json_t *j;
	char err[256];

	T_CHECK(all != NULL);
	if (all == NULL)
		return;
	T_CHECK_STR(collection_name(all), "All");
	T_CHECK_INT(collection_is_system(all), 1);
	T_CHECK_INT(collection_match(all, &s), 1);
	T_CHECK_INT(collection_match(all, &(struct collection_subject){ 0 }), 1);
	j = collection_to_json(all);
	T_CHECK(json_is_true(json_object_get(j, "system")));
	T_CHECK_STR(json_string_value(json_object_get(j, "color")), "#3FA2F7");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		json_t *a = json_object_get(j, fields[i]);
		T_CHECK_INT(json_array_size(a), 1);
		T_CHECK_STR(json_string_value(json_array_get(a, 0)), "*");
	}
	/* All survives a round trip (the Defender gets it from the Console) */
	T_CHECK_INT(collection_from_json(j, &back, err, sizeof(err)), 0);
	T_CHECK_INT(collection_is_system(back), 1);
	T_CHECK_STR(collection_name(back), "All");
	collection_free(back);
	json_decref(j);
	collection_free(all);
	collection_free(NULL);
	T_CHECK(collection_name(NULL) == NULL);
	T_CHECK_INT(collection_is_system(NULL), 0);
}

T_MAIN(T_CASE(patterns_plain), T_CASE(patterns_labels), T_CASE(patterns_images),
       T_CASE(patterns_invalid), T_CASE(image_canonical), T_CASE(fields_and_exclusions),
       T_CASE(unknown_values_hosts), T_CASE(labels_any_of_subject), T_CASE(union_of_collections),
       T_CASE(validation_errors), T_CASE(json_round_trip), T_CASE(builtin_all))
