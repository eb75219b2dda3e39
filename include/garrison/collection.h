/*
 * collection: stored filters over containers, images, hosts, labels, namespaces, clusters, app IDs
 * and account IDs, in the shape of Prisma Cloud's collection.Collection. They scope every policy
 * and every view; the Console and the Defender share this one module so that both sides agree on
 * what a pattern means.
 *
 * A collection is parsed once (collection_from_json(), strict: a document that does not validate
 * is refused whole with a message that says what is wrong) and matched many times
 * (collection_match(), no allocation). Pattern rules, in short (docs/collections.md has them all,
 * with examples):
 *   foo    exact            foo*   starts with      *foo   ends with      *foo*  contains
 *   *      anything         -pat   excludes what pat matches; exclusions are evaluated first
 * Matching ignores ASCII case. A * anywhere else is refused. A missing or empty list is ["*"].
 * Fields are ANDed; several collections in a filter are a union (collection_match_any()).
 * Images are compared in canonical form (docker.io/library/nginx:latest); labels are key:value
 * with a pattern on each side.
 *
 * A collection is immutable after parsing: any number of threads may match against it at once.
 */
#ifndef GARRISON_COLLECTION_H
#define GARRISON_COLLECTION_H

#include <stddef.h>

#include <jansson.h>

/* Longest name, in characters (UTF-8 code points). */
#define COLLECTION_NAME_MAX 100
/* Longest description, in bytes. */
#define COLLECTION_DESCRIPTION_MAX 1024
/* Most patterns in one field. */
#define COLLECTION_PATTERNS_MAX 256
/* Longest pattern, in bytes (the leading - and the * count). */
#define COLLECTION_PATTERN_MAX 512
/* Longest canonical image reference, in bytes without the NUL: a buffer of
 * COLLECTION_IMAGE_MAX + 1 bytes always holds collection_image_canonical()'s answer. */
#define COLLECTION_IMAGE_MAX 511
/* The built-in collection's name and color. */
#define COLLECTION_ALL_NAME "All"
#define COLLECTION_DEFAULT_COLOR "#3FA2F7"

/* The pattern lists of a collection, in the order of Prisma's JSON. */
enum collection_field {
	COLLECTION_F_CONTAINERS,  /* "containers" - subject.container */
	COLLECTION_F_IMAGES,      /* "images"     - subject.image (canonicalised) */
	COLLECTION_F_HOSTS,       /* "hosts"      - subject.host */
	COLLECTION_F_LABELS,      /* "labels"     - subject.labels ("key:value" each) */
	COLLECTION_F_NAMESPACES,  /* "namespaces" - subject.namespace_ */
	COLLECTION_F_CLUSTERS,    /* "clusters"   - subject.cluster */
	COLLECTION_F_APP_IDS,     /* "appIDs"     - subject.app_id */
	COLLECTION_F_ACCOUNT_IDS, /* "accountIDs" - subject.account_id */
	COLLECTION_F_COUNT
};

struct collection;

/* What a collection is matched against. A NULL field means "unknown / does not apply" (a host has
 * no container, image or namespace): it matches a field whose inclusions are only * (or that has
 * only exclusions, or is empty), and no field that names something. An empty string is a known,
 * empty value. labels may be NULL when nlabels is 0; NULL entries are skipped; a label without
 * ':' is a key with an empty value. Nothing is copied: the strings are read during the call. */
struct collection_subject {
	const char *container, *image, *host, *namespace_, *cluster, *app_id, *account_id;
	const char *const *labels;
	size_t nlabels;
};

/* Parses and validates one collection from the Console API or the store. Returns 0 and a new
 * collection in *out (free it with collection_free()), -EINVAL with a message in err (a
 * NUL-terminated sentence that names the member at fault, e.g. "images[2]: a pattern cannot have
 * * in the middle") and *out NULL, or -ENOMEM. Strict: every member must be known; the read-only
 * members system, prisma, functions and codeRepos are accepted and ignored, owner and modified are
 * kept as given when they are short strings (the Console sets them) and dropped otherwise. The
 * name "All" is reserved: a document named "All" whose lists are all ["*"] gives the built-in
 * collection (so that All survives a round trip, e.g. Console to Defender); any other document
 * named All, in any case, is refused. j is not modified and not kept. err may be NULL. */
int collection_from_json(const json_t *j, struct collection **out, char *err, size_t errlen);

/* The collection as a JSON object with Prisma's member names, every member present: name,
 * description, color, containers, images, hosts, labels, namespaces, clusters, appIDs,
 * accountIDs (the patterns as given, an empty list written as ["*"]), system, owner, modified.
 * Returns a new reference, or NULL when out of memory. */
json_t *collection_to_json(const struct collection *c);

/* A new copy of the built-in "All": every list ["*"], system true. NULL when out of memory. */
struct collection *collection_all(void);

/* The collection's name; valid while c lives. */
const char *collection_name(const struct collection *c);
/* 1 for the built-in All, else 0. */
int collection_is_system(const struct collection *c);

/* Frees c. NULL is a no-op. */
void collection_free(struct collection *c);

/* 1 when the subject is in the collection (every field matches), else 0. */
int collection_match(const struct collection *c, const struct collection_subject *s);

/* The union: 1 when the subject is in at least one of the n collections, else 0. n == 0 means no
 * filter and matches everything. The image is canonicalised once for all of them. */
int collection_match_any(struct collection *const *cs, size_t n, const struct collection_subject *s);

/* Checks one pattern for the given field. Returns 0, or -EINVAL and sets *why (when why is not
 * NULL) to a static sentence. Field rules beyond the common ones: an image pattern without * must
 * be an image reference; a label pattern is "*" or "key:value" with a non-empty key. */
int collection_pattern_valid(enum collection_field f, const char *pattern, const char **why);

/* Matches one value against a field holding the single pattern given, with every rule of
 * collection_match() (so "-x" matches every value but x, and value NULL means unknown). For
 * COLLECTION_F_LABELS the value is one "key:value" label, or NULL for none. Returns 1, 0, or
 * -EINVAL when the pattern is not valid. For tests, fuzzing and the UI's "try a pattern". */
int collection_pattern_match(enum collection_field f, const char *pattern, const char *value);

/* Canonical form of an image reference "[registry/]path[:tag][@digest]": registry docker.io when
 * none is given (the first component is a registry when it holds '.' or ':' or is "localhost"),
 * index.docker.io and registry-1.docker.io become docker.io, Docker Hub names of one component
 * get "library/", a reference without tag and digest gets ":latest"; a digest is kept (after the
 * tag when both are given). Case is kept. Writes the NUL-terminated result to out and returns 0,
 * -EINVAL when in is not an image reference (empty, spaces or control characters, *, empty
 * components, a bad tag or digest, longer than COLLECTION_IMAGE_MAX before or after
 * canonicalisation), or -ENOSPC when outlen is too small (COLLECTION_IMAGE_MAX + 1 always
 * suffices); out is then the empty string when outlen > 0. */
int collection_image_canonical(const char *in, char *out, size_t outlen);

#endif
