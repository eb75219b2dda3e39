/*
 * fuzz_collection: the collection parser and matcher (lib/collection.c) on arbitrary bytes. Each
 * input is used twice:
 *
 *  1. as a collection document: json_loadb() (duplicate keys rejected, as the Console's API
 *     does; NUL allowed in strings, to reach the NUL checks), then collection_from_json(); when it
 *     parses, collection_match() against a fixed set of subjects;
 *  2. as a pattern and a value: the bytes before the first newline are the pattern, the rest the
 *     value (each ends at an embedded NUL, as C strings do); the pair goes through
 *     collection_pattern_valid() and collection_pattern_match() for every field, and the value
 *     through collection_image_canonical().
 *
 * Besides "no crash, no leak", it checks the documented contract and aborts when broken:
 *  - a refused document gives -EINVAL (or -ENOMEM), a message, and *out NULL; an accepted one
 *    survives collection_to_json() -> collection_from_json() with the same JSON and the same
 *    answer for every subject, and collection_match() agrees with collection_match_any();
 *  - collection_pattern_match() is -EINVAL exactly when collection_pattern_valid() refuses, and
 *    then there is a reason;
 *  - on the plain fields (hosts, containers, ...), the answer equals an independent reading of
 *    the rules (ref_plain() below); on every field, "-p" answers the opposite of "p" for a known
 *    value, and an unknown value matches "p" only when p is all stars, and always matches "-p";
 *  - a canonical image reference is a fixed point, fits COLLECTION_IMAGE_MAX, and as an exact,
 *    prefix ("C*") or suffix ("*C") image pattern matches the reference it came from.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <garrison/collection.h>

static const char *const labels_a[] = { "app:web", "env:Production", "team:dev",
					"com.amazonaws.ecs.cluster:prod", "novalue" };
static const char *const labels_b[] = { "", ":", "k8s.io/x:y:z" };

static const struct collection_subject subjects[] = {
	{ .container = "web-1", .image = "nginx:1.25", .host = "node-1", .namespace_ = "shop",
	  .cluster = "prod-eu", .app_id = "app-1", .account_id = "123456789012",
	  .labels = labels_a, .nlabels = 5 },
	{ .host = "node-2", .cluster = "prod-us", .account_id = "123" },
	{ .image = "quay.io/org/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" },
	{ .container = "", .image = "", .host = "", .namespace_ = "", .cluster = "", .app_id = "",
	  .account_id = "", .labels = labels_b, .nlabels = 3 },
	{ .container = "WEB-TEST", .image = "not an image!", .host = "Node-1.Example.COM",
	  .namespace_ = "kube-system", .labels = labels_a, .nlabels = 2 },
	{ .image = "localhost:5000/team/app:2", .host = "h" },
	{ 0 },
};
#define NSUBJECTS (sizeof(subjects) / sizeof(subjects[0]))

static void document(const uint8_t *data, size_t size)
{
	struct collection *c = (struct collection *)(uintptr_t)1, *c2 = NULL;
	json_t *j, *out, *out2;
	char err[256] = "unset";
	int r;

	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	if (j == NULL)
		return;
	r = collection_from_json(j, &c, err, sizeof(err));
	json_decref(j);
	if (r != 0) {
		if (c != NULL || (r != -EINVAL && r != -ENOMEM) || err[0] == '\0' ||
		    strcmp(err, "unset") == 0)
			abort(); /* a refusal clears *out and says why */
		return;
	}
	if (c == NULL || collection_name(c) == NULL || collection_name(c)[0] == '\0')
		abort();
	out = collection_to_json(c);
	if (out == NULL)
		abort();
	if (collection_from_json(out, &c2, err, sizeof(err)) != 0)
		abort(); /* what we write we must read back */
	out2 = collection_to_json(c2);
	if (out2 == NULL || !json_equal(out, out2))
		abort();
	if (collection_is_system(c) != collection_is_system(c2))
		abort();
	for (size_t i = 0; i < NSUBJECTS; i++) {
		int m = collection_match(c, &subjects[i]);
		if ((m != 0 && m != 1) || m != collection_match(c2, &subjects[i]) ||
		    m != collection_match_any(&c, 1, &subjects[i]))
			abort();
		if (collection_is_system(c) && m != 1)
			abort(); /* All takes everything */
	}
	json_decref(out);
	json_decref(out2);
	collection_free(c);
	collection_free(c2);
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* The documented rule for one valid pattern on a plain field, read independently. */
static int ref_plain(const char *pat, const char *value)
{
	int ex = pat[0] == '-', lead, trail, hit;
	char *p, *v, *body;
	size_t n, vn;

	p = strdup(pat + ex);
	if (p == NULL)
		abort();
	body = p;
	while (*body == '*')
		body++;
	lead = body != p;
	n = strlen(body);
	trail = 0;
	while (n > 0 && body[n - 1] == '*') {
		body[--n] = '\0';
		trail = 1;
	}
	if (value == NULL) {
		free(p);
		return ex || n == 0;
	}
	v = strdup(value);
	if (v == NULL)
		abort();
	lower(body);
	lower(v);
	vn = strlen(v);
	if (n == 0)
		hit = 1;
	else if (lead && trail)
		hit = strstr(v, body) != NULL;
	else if (lead)
		hit = vn >= n && strcmp(v + vn - n, body) == 0;
	else if (trail)
		hit = strncmp(v, body, n) == 0;
	else
		hit = strcmp(v, body) == 0;
	free(p);
	free(v);
	return ex ? !hit : hit;
}

static int all_stars(const char *p)
{
	if (*p == '\0')
		return 0;
	for (; *p; p++)
		if (*p != '*')
			return 0;
	return 1;
}

static void image_ref(const char *value)
{
	char canon[COLLECTION_IMAGE_MAX + 1], again[COLLECTION_IMAGE_MAX + 1];
	char pat[COLLECTION_IMAGE_MAX + 3];
	size_t n;
	int r = collection_image_canonical(value, canon, sizeof(canon));

	if (r == -EINVAL) {
		if (canon[0] != '\0')
			abort();
		return;
	}
	if (r != 0)
		abort(); /* a full-size buffer never gets -ENOSPC */
	n = strlen(canon);
	if (n == 0 || n > COLLECTION_IMAGE_MAX)
		abort();
	if (collection_image_canonical(canon, again, sizeof(again)) != 0 || strcmp(canon, again) != 0)
		abort(); /* canonical forms are fixed points */
	if (canon[0] == '-')
		return; /* as a pattern it would be an exclusion */
	if (collection_pattern_match(COLLECTION_F_IMAGES, canon, value) != 1)
		abort();
	memcpy(pat, canon, n);
	memcpy(pat + n, "*", 2);
	if (collection_pattern_match(COLLECTION_F_IMAGES, pat, value) != 1)
		abort();
	pat[0] = '*';
	memcpy(pat + 1, canon, n + 1);
	if (collection_pattern_match(COLLECTION_F_IMAGES, pat, value) != 1)
		abort();
}

static void pattern(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *p, *v, *neg;
	size_t pn, vn;

	if (nl == NULL)
		return;
	pn = (size_t)(nl - data);
	vn = size - pn - 1;
	p = malloc(pn + 1);
	v = malloc(vn + 1);
	neg = malloc(pn + 2);
	if (p == NULL || v == NULL || neg == NULL)
		abort();
	memcpy(p, data, pn);
	p[pn] = '\0';
	memcpy(v, nl + 1, vn);
	v[vn] = '\0';
	neg[0] = '-';
	memcpy(neg + 1, p, pn + 1);

	for (int f = 0; f < COLLECTION_F_COUNT; f++) {
		const char *why = NULL;
		int valid = collection_pattern_valid((enum collection_field)f, p, &why);
		int m = collection_pattern_match((enum collection_field)f, p, v);
		int mu = collection_pattern_match((enum collection_field)f, p, NULL);

		if (valid < 0) {
			if (valid != -EINVAL || why == NULL || why[0] == '\0' || m != -EINVAL ||
			    mu != -EINVAL)
				abort();
			continue;
		}
		if (why != NULL || (m != 0 && m != 1))
			abort();
		if (f != COLLECTION_F_IMAGES && f != COLLECTION_F_LABELS && m != ref_plain(p, v))
			abort();
		if (f != COLLECTION_F_IMAGES && f != COLLECTION_F_LABELS && mu != ref_plain(p, NULL))
			abort();
		if (p[0] != '-') {
			int nm, nu;
			/* an unknown value: only all-star patterns take it */
			if (mu != all_stars(p))
				abort();
			if (collection_pattern_valid((enum collection_field)f, neg, NULL) != 0)
				continue; /* "-p" may be one byte too long */
			nm = collection_pattern_match((enum collection_field)f, neg, v);
			nu = collection_pattern_match((enum collection_field)f, neg, NULL);
			if (nm != !m || nu != 1)
				abort();
		}
	}
	image_ref(v);
	image_ref(p);
	free(p);
	free(v);
	free(neg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	document(data, size);
	pattern(data, size);
	return 0;
}
