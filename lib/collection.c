/*
 * collection: parsing, validation and matching of collections (include/garrison/collection.h).
 *
 * Every pattern is parsed once into a term: its kind (anything, exact, prefix, suffix, contains),
 * whether it excludes, and its body lower-cased, so that matching is a byte loop with no
 * allocation and no locale. Image patterns without * are stored in canonical form; label
 * patterns hold a key part and a value part. A field is a list of terms plus two facts computed
 * at parse time: how many terms include, and whether it is "open" (no inclusion, or an inclusion
 * that matches anything), which is what decides an unknown (NULL) subject value.
 *
 * Guarantees: a collection that parsed has every list non-empty and every term valid; parsing
 * either returns a whole collection or nothing; matching reads only the subject's strings and
 * never fails. docs/collections.md states the rules this file implements.
 */
#include <garrison/collection.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/* Short strings the Console sets (owner, modified) are kept up to this many bytes. */
#define META_MAX 256
#define TAG_MAX 128

enum pat_kind { PK_ANY, PK_EXACT, PK_PREFIX, PK_SUFFIX, PK_CONTAINS };

struct term {
	char *raw;               /* the pattern as given, for collection_to_json() */
	char *a, *b;             /* lower-cased bodies, never NULL: a is the pattern (the label
				  * key; for an exact image pattern its canonical form), b the
				  * label value (for an exact image pattern: the reference as
				  * given, used when the subject's image does not canonicalise) */
	size_t an, bn;
	unsigned char ak, bk;    /* enum pat_kind of a and b */
	unsigned char exclude;   /* the pattern began with '-' */
	unsigned char any;       /* alone it matches everything, unknown values included: "*"
				  * (for labels "*" alone, not "*:*") */
};

struct field {
	struct term *t;
	size_t n;       /* >= 1 once parsed */
	size_t ninc;    /* terms that include */
	int open;       /* no inclusion, or an inclusion with any set */
};

struct collection {
	char *name, *description, *color, *owner, *modified;
	int system;
	struct field f[COLLECTION_F_COUNT];
};

static const char *const field_json[COLLECTION_F_COUNT] = {
	"containers", "images", "hosts", "labels", "namespaces", "clusters", "appIDs", "accountIDs",
};

/* Members accepted and ignored: read-only in Prisma, or about subjects Garrison does not have. */
static const char *const ignored_json[] = { "system", "prisma", "functions", "codeRepos" };

/* ---- small string helpers ------------------------------------------------------------------- */

static inline unsigned char lc(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + ('a' - 'A')) : ch;
}

/* v[0..n) equals the lower-case p[0..n) ignoring ASCII case. */
static int ci_eq(const char *v, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lc((unsigned char)v[i]) != (unsigned char)p[i])
			return 0;
	return 1;
}

/* The one pattern test: p (lower-case, pn bytes) of the given kind against v (vn bytes). */
static int hit(unsigned char kind, const char *p, size_t pn, const char *v, size_t vn)
{
	switch (kind) {
	case PK_ANY:
		return 1;
	case PK_EXACT:
		return vn == pn && ci_eq(v, p, pn);
	case PK_PREFIX:
		return vn >= pn && ci_eq(v, p, pn);
	case PK_SUFFIX:
		return vn >= pn && ci_eq(v + (vn - pn), p, pn);
	case PK_CONTAINS:
		if (pn > vn)
			return 0;
		for (size_t i = 0; i + pn <= vn; i++)
			if (ci_eq(v + i, p, pn))
				return 1;
		return 0;
	}
	return 0;
}

static char *lower_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)lc((unsigned char)s[i]);
	d[n] = '\0';
	return d;
}

static char *mem_dup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Length of the control character at s (C0 except those in allow, DEL, C1, the Unicode line and
 * paragraph separators and bidirectional overrides/isolates), or 0 when s[0] starts none. The
 * last ones are refused because names and patterns are shown to people, who must see what the
 * collection says. */
static size_t ctl_at(const unsigned char *s, size_t n, const char *allow)
{
	if (s[0] < 0x20 || s[0] == 0x7f)
		return (s[0] != '\0' && allow != NULL && strchr(allow, s[0]) != NULL) ? 0 : 1;
	if (s[0] == 0xc2 && n >= 2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	if (s[0] == 0xe2 && n >= 3 &&
	    ((s[1] == 0x80 && s[2] >= 0xa8 && s[2] <= 0xae) ||
	     (s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)))
		return 3;
	return 0;
}

static int has_ctl(const char *s, size_t n, const char *allow)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n; i++)
		if (ctl_at(u + i, n - i, allow))
			return 1;
	return 0;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* ---- image references ----------------------------------------------------------------------- */

static int is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static int all_in(const char *s, size_t n, const char *extra)
{
	for (size_t i = 0; i < n; i++)
		if (!is_alnum((unsigned char)s[i]) && strchr(extra, s[i]) == NULL)
			return 0;
	return 1;
}

static int ci_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && ci_eq(s, word, n);
}

static int hub_alias(const char *s, size_t n)
{
	return ci_is(s, n, "docker.io") || ci_is(s, n, "index.docker.io") ||
	       ci_is(s, n, "registry-1.docker.io");
}

/* A registry host[:port] (host possibly a bracketed IPv6 address): the port, when there is one,
 * is 1 to 5 digits. */
static int port_ok(const char *reg, size_t n)
{
	size_t from = 0, i;
	const char *colon;

	for (i = n; i > 0; i--)
		if (reg[i - 1] == ']') {
			from = i;
			break;
		}
	colon = memchr(reg + from, ':', n - from);
	if (colon == NULL)
		return 1;
	i = (size_t)(colon - reg) + 1;
	if (i == n || n - i > 5)
		return 0;
	for (; i < n; i++)
		if (reg[i] < '0' || reg[i] > '9')
			return 0;
	return 1;
}

/* The canonical form of the reference in[0..n) into out; see collection_image_canonical(). */
static int image_canon(const char *in, size_t n, char *out, size_t outlen, size_t *outn,
		       const char **why)
{
	const char *at, *name = in, *digest = NULL, *tag = NULL, *reg = NULL, *path, *slash;
	size_t namen = n, dn = 0, tn = 0, regn = 0, pathn, total, k = 0;
	int hub, lib;

	if (outlen > 0)
		out[0] = '\0';
	if (n == 0)
		return *why = "not an image reference: empty", -EINVAL;
	if (n > COLLECTION_IMAGE_MAX)
		return *why = "not an image reference: longer than " STR(COLLECTION_IMAGE_MAX)
			      " bytes", -EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return *why = "not an image reference: spaces, control characters and "
				      "non-ASCII are not allowed", -EINVAL;
		if (ch == '*')
			return *why = "not an image reference: it contains *", -EINVAL;
	}
	at = memchr(in, '@', n);
	if (at != NULL) {
		const char *colon;
		namen = (size_t)(at - in);
		digest = at + 1;
		dn = n - namen - 1;
		colon = memchr(digest, ':', dn);
		if (colon == NULL || colon == digest || colon == digest + dn - 1 ||
		    !all_in(digest, (size_t)(colon - digest), "+._-") ||
		    !all_in(colon + 1, dn - (size_t)(colon + 1 - digest), "=_-"))
			return *why = "not an image reference: a digest is algorithm:hex "
				      "(sha256:...)", -EINVAL;
	}
	if (namen == 0)
		return *why = "not an image reference: the name is empty", -EINVAL;
	/* The tag is after a ':' in the last component; a ':' before the last '/' is a port. */
	slash = NULL;
	for (size_t i = namen; i > 0; i--)
		if (name[i - 1] == '/') {
			slash = name + i - 1;
			break;
		}
	{
		const char *last = slash ? slash + 1 : name;
		const char *colon = memchr(last, ':', namen - (size_t)(last - name));
		if (colon != NULL) {
			tag = colon + 1;
			tn = namen - (size_t)(tag - name);
			namen = (size_t)(colon - name);
			if (tn == 0 || tn > TAG_MAX || !all_in(tag, tn, "_.-") || tag[0] == '.' ||
			    tag[0] == '-')
				return *why = "not an image reference: a tag is 1 to " STR(TAG_MAX)
					      " letters, digits, _ . - (not first)", -EINVAL;
		}
	}
	if (namen == 0)
		return *why = "not an image reference: the name is empty", -EINVAL;
	/* The first component is a registry when it looks like a host name. */
	path = name;
	pathn = namen;
	slash = memchr(name, '/', namen);
	if (slash != NULL) {
		size_t fn = (size_t)(slash - name);
		if (memchr(name, '.', fn) || memchr(name, ':', fn) || ci_is(name, fn, "localhost")) {
			reg = name;
			regn = fn;
			path = slash + 1;
			pathn = namen - fn - 1;
			if (regn == 0 || !all_in(reg, regn, ".-:[]") || !port_ok(reg, regn))
				return *why = "not an image reference: bad registry host", -EINVAL;
		}
	}
	if (pathn == 0)
		return *why = "not an image reference: the repository is empty", -EINVAL;
	for (size_t i = 0, start = 0; i <= pathn; i++) {
		if (i < pathn && path[i] != '/')
			continue;
		if (i == start)
			return *why = "not an image reference: empty path component", -EINVAL;
		start = i + 1;
	}
	if (!all_in(path, pathn, "._-/"))
		return *why = "not an image reference: a repository is letters, digits, . _ - and /",
		       -EINVAL;
	hub = reg == NULL || hub_alias(reg, regn);
	if (hub) {
		reg = "docker.io";
		regn = 9;
	}
	lib = hub && memchr(path, '/', pathn) == NULL;
	total = regn + 1 + (lib ? 8 : 0) + pathn + (tag ? 1 + tn : (digest ? 0 : 7)) +
		(digest ? 1 + dn : 0);
	if (total > COLLECTION_IMAGE_MAX)
		return *why = "not an image reference: longer than " STR(COLLECTION_IMAGE_MAX)
			      " bytes", -EINVAL;
	if (total + 1 > outlen)
		return *why = "the output buffer is too small", -ENOSPC;
#define PUT(s, len) do { memcpy(out + k, (s), (len)); k += (len); } while (0)
	PUT(reg, regn);
	PUT("/", 1);
	if (lib)
		PUT("library/", 8);
	PUT(path, pathn);
	if (tag) {
		PUT(":", 1);
		PUT(tag, tn);
	} else if (!digest) {
		PUT(":latest", 7);
	}
	if (digest) {
		PUT("@", 1);
		PUT(digest, dn);
	}
#undef PUT
	out[k] = '\0';
	*outn = k;
	return 0;
}

int collection_image_canonical(const char *in, char *out, size_t outlen)
{
	const char *why;
	size_t n;

	if (in == NULL || out == NULL) {
		if (out != NULL && outlen > 0)
			out[0] = '\0';
		return -EINVAL;
	}
	return image_canon(in, strnlen(in, COLLECTION_IMAGE_MAX + 1), out, outlen, &n, &why);
}

/* A subject's image, canonicalised once per match. Prefix patterns are tried against every
 * familiar spelling of the same reference; the others against the canonical form, of which the
 * spellings are suffixes (except alt, which only prefix patterns need). */
struct img {
	int known, ok;
	const char *raw;
	size_t rawn, cn;
	char c[COLLECTION_IMAGE_MAX + 1];
	char alt[COLLECTION_IMAGE_MAX + 1];
	const char *form[4];
	size_t formn[4];
	int nforms;
};

static void img_prepare(struct img *im, const char *image)
{
	const char *why;
	size_t cn = 0;

	im->known = image != NULL;
	im->ok = 0;
	im->nforms = 0;
	if (image == NULL)
		return;
	im->raw = image;
	im->rawn = strlen(image);
	if (image_canon(image, im->rawn, im->c, sizeof(im->c), &cn, &why) < 0)
		return;
	im->ok = 1;
	im->cn = cn;
	im->form[0] = im->c;
	im->formn[0] = cn;
	im->nforms = 1;
	if (strncmp(im->c, "docker.io/", 10) != 0)
		return;
	/* docker.io/user/app:1 is also user/app:1 */
	im->form[1] = im->c + 10;
	im->formn[1] = cn - 10;
	im->nforms = 2;
	if (strncmp(im->c + 10, "library/", 8) == 0) {
		const char *s = im->c + 18;
		size_t sn = cn - 18;
		size_t rest = strcspn(s, "/:@");
		if (s[rest] != '/') {
			/* docker.io/library/nginx:1 is also nginx:1 and docker.io/nginx:1 */
			im->form[2] = s;
			im->formn[2] = sn;
			memcpy(im->alt, "docker.io/", 10);
			memcpy(im->alt + 10, s, sn + 1);
			im->form[3] = im->alt;
			im->formn[3] = 10 + sn;
			im->nforms = 4;
		}
	}
}

static int image_hit(const struct term *t, const struct img *im)
{
	if (t->ak == PK_ANY)
		return 1;
	if (!im->ok) /* not a reference: compare the string as given */
		return t->ak == PK_EXACT ? hit(PK_EXACT, t->b, t->bn, im->raw, im->rawn) :
					   hit(t->ak, t->a, t->an, im->raw, im->rawn);
	if (t->ak == PK_PREFIX) {
		for (int i = 0; i < im->nforms; i++)
			if (hit(PK_PREFIX, t->a, t->an, im->form[i], im->formn[i]))
				return 1;
		return 0;
	}
	return hit(t->ak, t->a, t->an, im->c, im->cn);
}

/* ---- patterns ------------------------------------------------------------------------------- */

/* Splits s[0..n) (n > 0) at its leading and trailing runs of '*'. */
static int split_stars(const char *s, size_t n, unsigned char *kind, const char **body, size_t *bn,
		       const char **why)
{
	size_t lead = 0, trail = 0;

	while (lead < n && s[lead] == '*')
		lead++;
	if (lead == n) {
		*kind = PK_ANY;
		*body = s + n;
		*bn = 0;
		return 0;
	}
	while (s[n - 1 - trail] == '*')
		trail++;
	*body = s + lead;
	*bn = n - lead - trail;
	if (memchr(*body, '*', *bn) != NULL)
		return *why = "a pattern cannot have * in the middle", -EINVAL;
	*kind = lead && trail ? PK_CONTAINS : lead ? PK_SUFFIX : trail ? PK_PREFIX : PK_EXACT;
	return 0;
}

static void term_clear(struct term *t)
{
	free(t->raw);
	free(t->a);
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* Parses the pattern raw[0..n) for field f into t. 0, -EINVAL (*why says why) or -ENOMEM; t is
 * cleared on failure. */
static int term_parse(enum collection_field f, const char *raw, size_t n, struct term *t,
		      const char **why)
{
	const char *body, *mid;
	size_t bn, mn;
	unsigned char kind;
	int r;

	memset(t, 0, sizeof(*t));
	if (n == 0)
		return *why = "a pattern cannot be empty", -EINVAL;
	if (n > COLLECTION_PATTERN_MAX)
		return *why = "a pattern cannot be longer than " STR(COLLECTION_PATTERN_MAX) " bytes",
		       -EINVAL;
	if (memchr(raw, '\0', n) != NULL || has_ctl(raw, n, NULL))
		return *why = "a pattern cannot contain control characters", -EINVAL;
	t->exclude = raw[0] == '-';
	body = raw + t->exclude;
	bn = n - t->exclude;
	if (bn == 0)
		return *why = "an exclusion needs a pattern after -", -EINVAL;
	if (body[0] == ' ' || body[bn - 1] == ' ')
		return *why = "a pattern cannot begin or end with a space", -EINVAL;

	if (f == COLLECTION_F_LABELS) {
		const char *colon, *val;
		size_t kn, vn;

		if (split_stars(body, bn, &kind, &mid, &mn, why) == 0 && kind == PK_ANY) {
			t->any = 1;
			t->ak = t->bk = PK_ANY;
			t->a = mem_dup("", 0);
			t->b = mem_dup("", 0);
			goto done;
		}
		colon = memchr(body, ':', bn);
		if (colon == NULL)
			return *why = "a label pattern is key:value, or * alone", -EINVAL;
		kn = (size_t)(colon - body);
		val = colon + 1;
		vn = bn - kn - 1;
		if (kn == 0)
			return *why = "a label pattern needs a key before ':'", -EINVAL;
		if ((r = split_stars(body, kn, &t->ak, &mid, &mn, why)) < 0)
			return r;
		t->a = lower_dup(mid, mn);
		t->an = mn;
		if (vn == 0) { /* "key:" is the key with an empty value */
			t->bk = PK_EXACT;
			mid = val;
			mn = 0;
		} else if ((r = split_stars(val, vn, &t->bk, &mid, &mn, why)) < 0) {
			term_clear(t);
			return r;
		}
		t->b = lower_dup(mid, mn);
		t->bn = mn;
		goto done;
	}

	if ((r = split_stars(body, bn, &kind, &mid, &mn, why)) < 0)
		return r;
	t->ak = kind;
	t->any = kind == PK_ANY;
	t->bk = PK_ANY;
	if (f == COLLECTION_F_IMAGES && kind != PK_ANY) {
		if (memchr(mid, ' ', mn) != NULL)
			return *why = "an image pattern cannot contain spaces", -EINVAL;
		if (kind == PK_EXACT) {
			char canon[COLLECTION_IMAGE_MAX + 1];
			size_t cn;
			if ((r = image_canon(mid, mn, canon, sizeof(canon), &cn, why)) < 0)
				return r;
			t->a = lower_dup(canon, cn);
			t->an = cn;
			t->b = lower_dup(mid, mn);
			t->bn = mn;
			goto done;
		}
		if (kind == PK_PREFIX) {
			/* A prefix that names a Docker Hub alias is written as docker.io. */
			const char *sl = memchr(mid, '/', mn);
			if (sl != NULL && hub_alias(mid, (size_t)(sl - mid))) {
				size_t rest = mn - (size_t)(sl - mid);
				t->a = malloc(9 + rest + 1);
				if (t->a != NULL) {
					memcpy(t->a, "docker.io", 9);
					for (size_t i = 0; i < rest; i++)
						t->a[9 + i] = (char)lc((unsigned char)sl[i]);
					t->a[9 + rest] = '\0';
				}
				t->an = 9 + rest;
				t->b = mem_dup("", 0);
				goto done;
			}
		}
	}
	t->a = lower_dup(mid, mn);
	t->an = mn;
	t->b = mem_dup("", 0);
done:
	t->raw = mem_dup(raw, n);
	if (t->raw == NULL || t->a == NULL || t->b == NULL) {
		term_clear(t);
		return *why = "out of memory", -ENOMEM;
	}
	return 0;
}

static void field_clear(struct field *fl)
{
	for (size_t i = 0; i < fl->n; i++)
		term_clear(&fl->t[i]);
	free(fl->t);
	memset(fl, 0, sizeof(*fl));
}

static void field_summarise(struct field *fl)
{
	fl->ninc = 0;
	fl->open = 0;
	for (size_t i = 0; i < fl->n; i++) {
		if (fl->t[i].exclude)
			continue;
		fl->ninc++;
		if (fl->t[i].any)
			fl->open = 1;
	}
	if (fl->ninc == 0)
		fl->open = 1;
}

/* ---- matching ------------------------------------------------------------------------------- */

static int value_hit(const struct term *t, enum collection_field f, const char *v, size_t vn,
		     const struct img *im)
{
	if (f == COLLECTION_F_IMAGES)
		return image_hit(t, im);
	return hit(t->ak, t->a, t->an, v, vn);
}

/* One single-valued field. Exclusions first; then an open field takes everything left. An
 * unknown value cannot be excluded, and only an open field takes it. */
static int field_match(const struct field *fl, enum collection_field f, const char *v,
		       const struct img *im)
{
	size_t vn;

	if (v == NULL)
		return fl->open;
	vn = strlen(v);
	for (size_t i = 0; i < fl->n; i++)
		if (fl->t[i].exclude && value_hit(&fl->t[i], f, v, vn, im))
			return 0;
	if (fl->open)
		return 1;
	for (size_t i = 0; i < fl->n; i++)
		if (!fl->t[i].exclude && value_hit(&fl->t[i], f, v, vn, im))
			return 1;
	return 0;
}

static int label_hit(const struct term *t, const char *l)
{
	const char *colon;
	size_t kn, ln;

	if (t->any)
		return 1;
	ln = strlen(l);
	colon = memchr(l, ':', ln);
	kn = colon ? (size_t)(colon - l) : ln;
	return hit(t->ak, t->a, t->an, l, kn) &&
	       (colon ? hit(t->bk, t->b, t->bn, colon + 1, ln - kn - 1) : hit(t->bk, t->b, t->bn, "", 0));
}

/* The labels field: a subject is excluded when any of its labels matches an exclusion, and
 * included when the field is open or any label matches an inclusion. */
static int labels_match(const struct field *fl, const char *const *labels, size_t n)
{
	if (labels == NULL)
		n = 0;
	for (size_t i = 0; i < fl->n; i++) {
		if (!fl->t[i].exclude)
			continue;
		for (size_t j = 0; j < n; j++)
			if (labels[j] != NULL && label_hit(&fl->t[i], labels[j]))
				return 0;
	}
	if (fl->open)
		return 1;
	for (size_t i = 0; i < fl->n; i++) {
		if (fl->t[i].exclude)
			continue;
		for (size_t j = 0; j < n; j++)
			if (labels[j] != NULL && label_hit(&fl->t[i], labels[j]))
				return 1;
	}
	return 0;
}

static int match_one(const struct collection *c, const struct collection_subject *s,
		     const struct img *im)
{
	const char *v[COLLECTION_F_COUNT] = {
		[COLLECTION_F_CONTAINERS] = s->container, [COLLECTION_F_IMAGES] = s->image,
		[COLLECTION_F_HOSTS] = s->host, [COLLECTION_F_NAMESPACES] = s->namespace_,
		[COLLECTION_F_CLUSTERS] = s->cluster, [COLLECTION_F_APP_IDS] = s->app_id,
		[COLLECTION_F_ACCOUNT_IDS] = s->account_id,
	};

	for (int f = 0; f < COLLECTION_F_COUNT; f++) {
		if (f == COLLECTION_F_LABELS) {
			if (!labels_match(&c->f[f], s->labels, s->nlabels))
				return 0;
		} else if (!field_match(&c->f[f], (enum collection_field)f, v[f], im)) {
			return 0;
		}
	}
	return 1;
}

static const struct collection_subject no_subject;

int collection_match(const struct collection *c, const struct collection_subject *s)
{
	struct img im;

	if (c == NULL)
		return 0;
	if (s == NULL)
		s = &no_subject;
	img_prepare(&im, s->image);
	return match_one(c, s, &im);
}

int collection_match_any(struct collection *const *cs, size_t n, const struct collection_subject *s)
{
	struct img im;

	if (n == 0)
		return 1;
	if (cs == NULL)
		return 0;
	if (s == NULL)
		s = &no_subject;
	img_prepare(&im, s->image);
	for (size_t i = 0; i < n; i++)
		if (cs[i] != NULL && match_one(cs[i], s, &im))
			return 1;
	return 0;
}

int collection_pattern_valid(enum collection_field f, const char *pattern, const char **why)
{
	const char *w = NULL;
	struct term t;
	int r;

	if ((unsigned)f >= COLLECTION_F_COUNT || pattern == NULL) {
		w = (unsigned)f >= COLLECTION_F_COUNT ? "unknown field" : "no pattern";
		r = -EINVAL;
	} else {
		r = term_parse(f, pattern, strnlen(pattern, COLLECTION_PATTERN_MAX + 1), &t, &w);
		if (r == 0)
			term_clear(&t);
	}
	if (why != NULL)
		*why = r < 0 ? w : NULL;
	return r;
}

int collection_pattern_match(enum collection_field f, const char *pattern, const char *value)
{
	struct field fl = { 0 };
	struct term t;
	const char *why;
	int r;

	if ((unsigned)f >= COLLECTION_F_COUNT || pattern == NULL)
		return -EINVAL;
	r = term_parse(f, pattern, strnlen(pattern, COLLECTION_PATTERN_MAX + 1), &t, &why);
	if (r < 0)
		return r;
	fl.t = &t;
	fl.n = 1;
	field_summarise(&fl);
	if (f == COLLECTION_F_LABELS) {
		const char *one[1] = { value };
		r = labels_match(&fl, one, value ? 1 : 0);
	} else {
		struct img im;
		if (f == COLLECTION_F_IMAGES)
			img_prepare(&im, value);
		r = field_match(&fl, f, value, &im);
	}
	term_clear(&t);
	return r;
}

/* ---- collections ---------------------------------------------------------------------------- */

void collection_free(struct collection *c)
{
	if (c == NULL)
		return;
	for (int f = 0; f < COLLECTION_F_COUNT; f++)
		field_clear(&c->f[f]);
	free(c->name);
	free(c->description);
	free(c->color);
	free(c->owner);
	free(c->modified);
	free(c);
}

const char *collection_name(const struct collection *c)
{
	return c ? c->name : NULL;
}

int collection_is_system(const struct collection *c)
{
	return c != NULL && c->system;
}

/* A field of one "*" term. */
static int field_star(struct field *fl)
{
	const char *why;

	fl->t = calloc(1, sizeof(*fl->t));
	if (fl->t == NULL)
		return -ENOMEM;
	if (term_parse(COLLECTION_F_HOSTS, "*", 1, &fl->t[0], &why) < 0) {
		free(fl->t);
		fl->t = NULL;
		return -ENOMEM;
	}
	fl->n = 1;
	field_summarise(fl);
	return 0;
}

struct collection *collection_all(void)
{
	struct collection *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->system = 1;
	c->name = mem_dup(COLLECTION_ALL_NAME, strlen(COLLECTION_ALL_NAME));
	c->description = mem_dup("Every resource (built in)", 25);
	c->color = mem_dup(COLLECTION_DEFAULT_COLOR, 7);
	c->owner = mem_dup("system", 6);
	c->modified = mem_dup("1970-01-01T00:00:00Z", 20);
	if (!c->name || !c->description || !c->color || !c->owner || !c->modified)
		goto fail;
	for (int f = 0; f < COLLECTION_F_COUNT; f++)
		if (field_star(&c->f[f]) < 0)
			goto fail;
	return c;
fail:
	collection_free(c);
	return NULL;
}

/* Copies a member name into buf for an error message, with anything unprintable as '?'. */
static const char *printable(const char *s, char *buf, size_t len)
{
	size_t i = 0;

	for (; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

static int field_from_json(enum collection_field f, const json_t *v, struct field *fl, char *err,
			   size_t errlen)
{
	const char *name = field_json[f], *why = NULL;
	size_t n;
	int r;

	if (v == NULL || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0))
		return field_star(fl);
	if (!json_is_array(v))
		return fail(err, errlen, "%s: must be a list of strings", name);
	n = json_array_size(v);
	if (n > COLLECTION_PATTERNS_MAX)
		return fail(err, errlen, "%s: too many patterns (at most %d)", name,
			    COLLECTION_PATTERNS_MAX);
	fl->t = calloc(n, sizeof(*fl->t));
	if (fl->t == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(v, i);
		if (!json_is_string(e)) {
			field_clear(fl);
			return fail(err, errlen, "%s[%zu]: must be a string", name, i);
		}
		r = term_parse(f, json_string_value(e), json_string_length(e), &fl->t[i], &why);
		if (r < 0) {
			field_clear(fl);
			if (r == -ENOMEM)
				return r;
			return fail(err, errlen, "%s[%zu]: %s", name, i, why);
		}
		fl->n = i + 1;
	}
	field_summarise(fl);
	return 0;
}

/* Copies an optional string member. 0 (absent or null: *out stays NULL), -EINVAL or -ENOMEM. */
static int text_member(const json_t *j, const char *key, size_t max, const char *allow,
		       char **out, char *err, size_t errlen)
{
	const json_t *v = json_object_get(j, key);
	const char *s;
	size_t n;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return fail(err, errlen, "%s: must be a string", key);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > max)
		return fail(err, errlen, "%s: longer than %zu bytes", key, max);
	if (memchr(s, '\0', n) != NULL || has_ctl(s, n, allow))
		return fail(err, errlen, "%s: cannot contain control characters", key);
	*out = mem_dup(s, n);
	return *out ? 0 : -ENOMEM;
}

static int name_check(const json_t *v, char *err, size_t errlen)
{
	const char *s;
	size_t n, chars = 0;

	if (v == NULL || json_is_null(v))
		return fail(err, errlen, "name: is required");
	if (!json_is_string(v))
		return fail(err, errlen, "name: must be a string");
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0)
		return fail(err, errlen, "name: cannot be empty");
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			chars++;
	if (chars > COLLECTION_NAME_MAX)
		return fail(err, errlen, "name: longer than %d characters", COLLECTION_NAME_MAX);
	if (memchr(s, '\0', n) != NULL || has_ctl(s, n, NULL))
		return fail(err, errlen, "name: cannot contain control characters");
	if (s[0] == ' ' || s[n - 1] == ' ')
		return fail(err, errlen, "name: cannot begin or end with a space");
	return 0;
}

static int color_check(const char *s)
{
	if (strlen(s) != 7 || s[0] != '#')
		return -EINVAL;
	for (int i = 1; i < 7; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (lc((unsigned char)s[i]) >= 'a' &&
							lc((unsigned char)s[i]) <= 'f')))
			return -EINVAL;
	return 0;
}

/* Keeps a Console-set string (owner, modified) when it is a short printable string. */
static int meta_member(const json_t *j, const char *key, char **out)
{
	const json_t *v = json_object_get(j, key);
	size_t n;

	if (!json_is_string(v))
		return 0;
	n = json_string_length(v);
	if (n > META_MAX || memchr(json_string_value(v), '\0', n) != NULL ||
	    has_ctl(json_string_value(v), n, NULL))
		return 0;
	*out = mem_dup(json_string_value(v), n);
	return *out ? 0 : -ENOMEM;
}

static int is_all_star(const struct collection *c)
{
	for (int f = 0; f < COLLECTION_F_COUNT; f++)
		if (c->f[f].n != 1 || !c->f[f].t[0].any || c->f[f].t[0].exclude)
			return 0;
	return 1;
}

int collection_from_json(const json_t *j, struct collection **out, char *err, size_t errlen)
{
	struct collection *c = NULL;
	const char *key;
	json_t *v;
	int r;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return -EINVAL;
	if (!json_is_object(j))
		return fail(err, errlen, "a collection must be a JSON object");
	json_object_foreach((json_t *)j, key, v) {
		int known = !strcmp(key, "name") || !strcmp(key, "description") ||
			    !strcmp(key, "color") || !strcmp(key, "owner") || !strcmp(key, "modified");
		char buf[65];
		for (int f = 0; !known && f < COLLECTION_F_COUNT; f++)
			known = !strcmp(key, field_json[f]);
		for (size_t i = 0; !known && i < sizeof(ignored_json) / sizeof(ignored_json[0]); i++)
			known = !strcmp(key, ignored_json[i]);
		if (!known)
			return fail(err, errlen, "unknown member \"%s\"", printable(key, buf, sizeof(buf)));
	}
	if ((r = name_check(json_object_get(j, "name"), err, errlen)) < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	if ((r = text_member(j, "name", SIZE_MAX, NULL, &c->name, err, errlen)) < 0 ||
	    (r = text_member(j, "description", COLLECTION_DESCRIPTION_MAX, "\t\n\r", &c->description,
			     err, errlen)) < 0)
		goto bad;
	v = json_object_get(j, "color");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) != 7 ||
		    color_check(json_string_value(v)) < 0) {
			r = fail(err, errlen, "color: must be a string #RRGGBB (hexadecimal)");
			goto bad;
		}
		if ((c->color = mem_dup(json_string_value(v), 7)) == NULL)
			goto nomem;
	}
	if (c->description == NULL && (c->description = mem_dup("", 0)) == NULL)
		goto nomem;
	if (c->color == NULL && (c->color = mem_dup(COLLECTION_DEFAULT_COLOR, 7)) == NULL)
		goto nomem;
	for (int f = 0; f < COLLECTION_F_COUNT; f++)
		if ((r = field_from_json((enum collection_field)f, json_object_get(j, field_json[f]),
					 &c->f[f], err, errlen)) < 0)
			goto bad;
	if ((r = meta_member(j, "owner", &c->owner)) < 0 ||
	    (r = meta_member(j, "modified", &c->modified)) < 0)
		goto bad;
	if (strlen(c->name) == strlen(COLLECTION_ALL_NAME) && ci_eq(c->name, "all", 3)) {
		/* The built-in All: accepted only as itself, so that it round-trips. */
		if (strcmp(c->name, COLLECTION_ALL_NAME) != 0 || !is_all_star(c)) {
			r = fail(err, errlen, "name: All is the built-in collection; it cannot be "
				 "changed, and no other collection can be named so");
			goto bad;
		}
		collection_free(c);
		c = collection_all();
		if (c == NULL)
			goto nomem;
	}
	*out = c;
	return 0;
nomem:
	r = -ENOMEM;
bad:
	if (r == -ENOMEM)
		fail(err, errlen, "out of memory");
	collection_free(c);
	return r;
}

json_t *collection_to_json(const struct collection *c)
{
	json_t *o;
	int bad = 0;

	if (c == NULL)
		return NULL;
	o = json_object();
	if (o == NULL)
		return NULL;
	bad |= json_object_set_new(o, "name", json_string(c->name));
	bad |= json_object_set_new(o, "description", json_string(c->description));
	bad |= json_object_set_new(o, "color", json_string(c->color));
	for (int f = 0; f < COLLECTION_F_COUNT; f++) {
		json_t *a = json_array();
		for (size_t i = 0; a != NULL && i < c->f[f].n; i++)
			bad |= json_array_append_new(a, json_string(c->f[f].t[i].raw));
		bad |= json_object_set_new(o, field_json[f], a);
	}
	bad |= json_object_set_new(o, "system", json_boolean(c->system));
	bad |= json_object_set_new(o, "owner", json_string(c->owner ? c->owner : ""));
	bad |= json_object_set_new(o, "modified",
				   json_string(c->modified ? c->modified : "1970-01-01T00:00:00Z"));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}
