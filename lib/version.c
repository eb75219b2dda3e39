/*
 * version.c: version ordering for dpkg, rpm and apk, written from the documented algorithms
 * (Debian Policy 5.6.12 and deb-version(7); rpm's "rpm version comparison" docs and EVR rules;
 * apk-tools' version grammar as apk-tools' test vectors exercise it). Every string is first
 * bounded (VERSION_MAX) and restricted to printable ASCII without spaces, then parsed by the
 * kind's grammar; comparison works on (pointer, length) spans and never reads past them, never
 * allocates and never converts digit runs to integers (runs of any length compare exactly).
 * docs/versions.md explains the rules and the deliberate differences.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include <garrison/version.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_lower(char c) { return c >= 'a' && c <= 'z'; }
static int is_alpha(char c) { return is_lower(c) || (c >= 'A' && c <= 'Z'); }
static int sign(int v) { return (v > 0) - (v < 0); }

/* Common rules: non-NULL, 1..VERSION_MAX bytes, printable ASCII other than space. */
static int common_check(const char *v, size_t *len, const char **why)
{
	if (v == NULL) {
		*why = "no version";
		return -EINVAL;
	}
	size_t n = strnlen(v, VERSION_MAX + 1);
	if (n == 0) {
		*why = "empty version";
		return -EINVAL;
	}
	if (n > VERSION_MAX) {
		*why = "version too long";
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 0x20 || c >= 0x7f) {
			*why = "space, control or non-ASCII character in version";
			return -EINVAL;
		}
	}
	*len = n;
	return 0;
}

/* Byte-wise order of two spans, a shorter prefix first (strcmp on the spans). */
static int span_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);
	if (r != 0)
		return sign(r);
	return (an > bn) - (an < bn);
}

/* Numeric order of two digit runs of any length: leading zeros dropped, longer run larger. */
static int digits_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	while (an > 0 && *a == '0') {
		a++;
		an--;
	}
	while (bn > 0 && *b == '0') {
		b++;
		bn--;
	}
	if (an != bn)
		return an > bn ? 1 : -1;
	return span_cmp(a, an, b, bn);
}

/* ---- dpkg ---- */

struct dpkg_ver {
	const char *epoch, *up, *rev;
	size_t epoch_len, up_len, rev_len;
};

/*
 * dpkg's parse: epoch before the first ':', revision after the last '-' of the rest. The errors
 * are dpkg's errors; its warnings (bad characters, upstream not starting with a digit) are not.
 */
static int dpkg_parse(const char *v, size_t n, struct dpkg_ver *out, const char **why)
{
	const char *colon = memchr(v, ':', n);
	const char *up = v, *end = v + n;

	out->epoch = "0";
	out->epoch_len = 1;
	if (colon != NULL) {
		size_t el = (size_t)(colon - v);
		unsigned long val = 0;
		if (el == 0) {
			*why = "dpkg: epoch is empty";
			return -EINVAL;
		}
		for (size_t i = 0; i < el; i++) {
			if (!is_digit(v[i])) {
				*why = "dpkg: epoch is not a number";
				return -EINVAL;
			}
			val = val * 10 + (unsigned long)(v[i] - '0');
			if (val > INT_MAX) {
				*why = "dpkg: epoch too big";
				return -EINVAL;
			}
		}
		out->epoch = v;
		out->epoch_len = el;
		up = colon + 1;
		if (up == end) {
			*why = "dpkg: nothing after colon";
			return -EINVAL;
		}
	}
	const char *hyphen = memrchr(up, '-', (size_t)(end - up));
	out->up = up;
	if (hyphen != NULL) {
		out->up_len = (size_t)(hyphen - up);
		out->rev = hyphen + 1;
		out->rev_len = (size_t)(end - hyphen - 1);
		if (out->rev_len == 0) {
			*why = "dpkg: revision is empty";
			return -EINVAL;
		}
	} else {
		out->up_len = (size_t)(end - up);
		out->rev = "";
		out->rev_len = 0;
	}
	if (out->up_len == 0) {
		*why = "dpkg: upstream version is empty";
		return -EINVAL;
	}
	return 0;
}

/* Weight of a non-digit position: '~' lowest, then the end, letters, then everything else. */
static int dpkg_weight(const char *s, size_t n, size_t i)
{
	if (i >= n || is_digit(s[i]))
		return 0;
	if (s[i] == '~')
		return -1;
	if (is_alpha(s[i]))
		return (unsigned char)s[i];
	return (unsigned char)s[i] + 256;
}

/* Debian Policy's comparison of an upstream or revision part: alternate non-digit and digit runs. */
static int dpkg_part_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;

	while (i < an || j < bn) {
		while ((i < an && !is_digit(a[i])) || (j < bn && !is_digit(b[j]))) {
			int wa = dpkg_weight(a, an, i), wb = dpkg_weight(b, bn, j);
			if (wa != wb)
				return wa < wb ? -1 : 1;
			/* Equal weights here mean the same non-digit byte on both sides. */
			i++;
			j++;
		}
		size_t si = i, sj = j;
		while (i < an && is_digit(a[i]))
			i++;
		while (j < bn && is_digit(b[j]))
			j++;
		int r = digits_cmp(a + si, i - si, b + sj, j - sj);
		if (r != 0)
			return r;
	}
	return 0;
}

static int dpkg_cmp(const struct dpkg_ver *a, const struct dpkg_ver *b)
{
	int r = digits_cmp(a->epoch, a->epoch_len, b->epoch, b->epoch_len);
	if (r == 0)
		r = dpkg_part_cmp(a->up, a->up_len, b->up, b->up_len);
	if (r == 0)
		r = dpkg_part_cmp(a->rev, a->rev_len, b->rev, b->rev_len);
	return r;
}

/* ---- rpm ---- */

struct rpm_ver {
	const char *epoch, *ver, *rel; /* rel NULL: no release given */
	size_t epoch_len, ver_len, rel_len;
};

/* rpm's EVR split: leading digits then ':' make the epoch; the release follows the last '-'. */
static int rpm_parse(const char *v, size_t n, struct rpm_ver *out, const char **why)
{
	size_t s = 0;
	const char *end = v + n;

	while (s < n && is_digit(v[s]))
		s++;
	out->epoch = "0";
	out->epoch_len = 1;
	out->ver = v;
	if (s < n && v[s] == ':') {
		if (s == 0) {
			*why = "rpm: epoch is empty";
			return -EINVAL;
		}
		out->epoch = v;
		out->epoch_len = s;
		out->ver = v + s + 1;
	}
	const char *hyphen = memrchr(out->ver, '-', (size_t)(end - out->ver));
	out->rel = NULL;
	out->rel_len = 0;
	if (hyphen != NULL) {
		out->rel = hyphen + 1;
		out->rel_len = (size_t)(end - hyphen - 1);
		out->ver_len = (size_t)(hyphen - out->ver);
		if (out->rel_len == 0) {
			*why = "rpm: release is empty";
			return -EINVAL;
		}
	} else {
		out->ver_len = (size_t)(end - out->ver);
	}
	if (out->ver_len == 0) {
		*why = "rpm: version is empty";
		return -EINVAL;
	}
	return 0;
}

static int rpm_alnum(char c) { return is_digit(c) || is_alpha(c); }

/* rpmvercmp: separators skipped, '~' sorts before all (even the end), '^' after the end only. */
static int rpm_segcmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;

	if (an == bn && memcmp(a, b, an) == 0)
		return 0;
	while (i < an || j < bn) {
		while (i < an && !rpm_alnum(a[i]) && a[i] != '~' && a[i] != '^')
			i++;
		while (j < bn && !rpm_alnum(b[j]) && b[j] != '~' && b[j] != '^')
			j++;
		int ta = i < an && a[i] == '~', tb = j < bn && b[j] == '~';
		if (ta || tb) {
			if (!ta)
				return 1;
			if (!tb)
				return -1;
			i++;
			j++;
			continue;
		}
		int ca = i < an && a[i] == '^', cb = j < bn && b[j] == '^';
		if (ca || cb) {
			if (i >= an)
				return -1;
			if (j >= bn)
				return 1;
			if (!ca)
				return 1;
			if (!cb)
				return -1;
			i++;
			j++;
			continue;
		}
		if (i >= an || j >= bn)
			break;
		size_t si = i, sj = j;
		int isnum = is_digit(a[i]);
		if (isnum) {
			while (i < an && is_digit(a[i]))
				i++;
			while (j < bn && is_digit(b[j]))
				j++;
		} else {
			while (i < an && is_alpha(a[i]))
				i++;
			while (j < bn && is_alpha(b[j]))
				j++;
		}
		/* Segments of different types: the numeric one is newer. */
		if (j == sj)
			return isnum ? 1 : -1;
		int r = isnum ? digits_cmp(a + si, i - si, b + sj, j - sj)
			      : span_cmp(a + si, i - si, b + sj, j - sj);
		if (r != 0)
			return r;
	}
	if (i >= an && j >= bn)
		return 0;
	return i < an ? 1 : -1;
}

/* rpmverCmp: epoch (default 0), version, then release; a missing release sorts first. */
static int rpm_cmp(const struct rpm_ver *a, const struct rpm_ver *b)
{
	int r = rpm_segcmp(a->epoch, a->epoch_len, b->epoch, b->epoch_len);
	if (r == 0)
		r = rpm_segcmp(a->ver, a->ver_len, b->ver, b->ver_len);
	if (r == 0) {
		if (a->rel != NULL && b->rel != NULL)
			r = rpm_segcmp(a->rel, a->rel_len, b->rel, b->rel_len);
		else
			r = (a->rel != NULL) - (b->rel != NULL);
	}
	return r;
}

/* ---- apk ---- */

/* Token types, in apk's order: when two versions differ in type, the lower type is newer. */
enum apk_tok { T_DIGIT, T_LETTER, T_SUFFIX, T_SUFFIX_NO, T_HASH, T_REV, T_END, T_INVALID, T_START };

static const char *const apk_suffixes[] = {
	"alpha", "beta", "pre", "rc", /* before the release */
	"cvs", "svn", "git", "hg", "p", /* after it */
};
#define APK_FIRST_POST 4

struct apk_tokenizer {
	const char *s;
	size_t n, pos;
	enum apk_tok type;
	const char *val; /* the token's text (digits, letter, suffix name, hash) */
	size_t val_len;
	int suffix; /* index in apk_suffixes for T_SUFFIX */
	int initial; /* the first digit run */
};

static size_t span_while(const char *s, size_t n, size_t p, int (*pred)(char))
{
	while (p < n && pred(s[p]))
		p++;
	return p;
}

static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

/* Advances to the next token; what may follow depends on the previous one (the grammar). */
static void apk_next(struct apk_tokenizer *t)
{
	const char *s = t->s;
	size_t n = t->n, p = t->pos, q;
	enum apk_tok prev = t->type;

	t->initial = 0;
	if (prev == T_END || prev == T_INVALID)
		return;
	t->type = T_INVALID;
	if (prev == T_START) {
		q = span_while(s, n, p, is_digit);
		if (q == p)
			return;
		t->type = T_DIGIT;
		t->initial = 1;
		goto token;
	}
	if (p == n) {
		t->type = T_END;
		return;
	}
	char c = s[p];
	if (c == '.' && prev == T_DIGIT) {
		p++;
		q = span_while(s, n, p, is_digit);
		if (q == p)
			return;
		t->type = T_DIGIT;
		goto token;
	}
	if (is_lower(c) && prev == T_DIGIT) {
		q = p + 1;
		t->type = T_LETTER;
		goto token;
	}
	if (is_digit(c) && prev == T_SUFFIX) {
		q = span_while(s, n, p, is_digit);
		t->type = T_SUFFIX_NO;
		goto token;
	}
	if (c == '_' && prev <= T_SUFFIX_NO) {
		p++;
		q = span_while(s, n, p, is_lower);
		for (size_t k = 0; k < sizeof(apk_suffixes) / sizeof(apk_suffixes[0]); k++) {
			if (strlen(apk_suffixes[k]) == q - p && memcmp(apk_suffixes[k], s + p, q - p) == 0) {
				t->suffix = (int)k;
				t->type = T_SUFFIX;
				goto token;
			}
		}
		return;
	}
	if (c == '~' && prev <= T_SUFFIX_NO) {
		p++;
		q = span_while(s, n, p, is_hex);
		if (q == p)
			return;
		t->type = T_HASH;
		goto token;
	}
	if (c == '-' && prev <= T_HASH) {
		if (p + 1 >= n || s[p + 1] != 'r')
			return;
		p += 2;
		q = span_while(s, n, p, is_digit);
		if (q == p)
			return;
		t->type = T_REV;
		goto token;
	}
	return;
token:
	t->val = s + p;
	t->val_len = q - p;
	t->pos = q;
}

static void apk_start(struct apk_tokenizer *t, const char *s, size_t n)
{
	memset(t, 0, sizeof(*t));
	t->s = s;
	t->n = n;
	t->type = T_START;
	apk_next(t);
}

static int apk_check(const char *v, size_t n, const char **why)
{
	struct apk_tokenizer t;

	apk_start(&t, v, n);
	while (t.type != T_END && t.type != T_INVALID)
		apk_next(&t);
	if (t.type == T_INVALID) {
		*why = "apk: not digits{.digits}[letter]{_suffix[N]}[~hash][-rN]";
		return -EINVAL;
	}
	return 0;
}

static int apk_token_cmp(const struct apk_tokenizer *a, const struct apk_tokenizer *b)
{
	switch (a->type) {
	case T_DIGIT:
		/* After the first run, a leading zero makes the runs compare as strings (1.02 < 1.1). */
		if (!a->initial && (a->val[0] == '0' || b->val[0] == '0'))
			return span_cmp(a->val, a->val_len, b->val, b->val_len);
		return digits_cmp(a->val, a->val_len, b->val, b->val_len);
	case T_SUFFIX_NO:
	case T_REV:
		return digits_cmp(a->val, a->val_len, b->val, b->val_len);
	case T_LETTER:
	case T_HASH:
		return span_cmp(a->val, a->val_len, b->val, b->val_len);
	case T_SUFFIX:
		return sign(a->suffix - b->suffix);
	default:
		return 0;
	}
}

/* Both versions must have passed apk_check. */
static int apk_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	struct apk_tokenizer ta, tb;

	apk_start(&ta, a, an);
	apk_start(&tb, b, bn);
	while (ta.type == tb.type && ta.type != T_END) {
		int r = apk_token_cmp(&ta, &tb);
		if (r != 0)
			return r;
		apk_next(&ta);
		apk_next(&tb);
	}
	if (ta.type == tb.type)
		return 0;
	/* Equal so far: the longer one is newer, unless what it adds is a pre-release suffix. */
	if (ta.type == T_SUFFIX && ta.suffix < APK_FIRST_POST)
		return -1;
	if (tb.type == T_SUFFIX && tb.suffix < APK_FIRST_POST)
		return 1;
	return ta.type < tb.type ? 1 : -1;
}

/* ---- public ---- */

int version_valid(enum version_kind k, const char *v, const char **why)
{
	const char *dummy;
	size_t n;
	int rc;

	if (why == NULL)
		why = &dummy;
	if ((rc = common_check(v, &n, why)) < 0)
		return rc;
	switch (k) {
	case VERSION_DPKG: {
		struct dpkg_ver d;
		return dpkg_parse(v, n, &d, why);
	}
	case VERSION_RPM: {
		struct rpm_ver r;
		return rpm_parse(v, n, &r, why);
	}
	case VERSION_APK:
		return apk_check(v, n, why);
	}
	*why = "unknown version kind";
	return -EINVAL;
}

int version_compare(enum version_kind k, const char *a, const char *b, int *result)
{
	const char *why;
	size_t an, bn;
	int r;

	if (result == NULL || common_check(a, &an, &why) < 0 || common_check(b, &bn, &why) < 0)
		return -EINVAL;
	switch (k) {
	case VERSION_DPKG: {
		struct dpkg_ver da, db;
		if (dpkg_parse(a, an, &da, &why) < 0 || dpkg_parse(b, bn, &db, &why) < 0)
			return -EINVAL;
		r = dpkg_cmp(&da, &db);
		break;
	}
	case VERSION_RPM: {
		struct rpm_ver ra, rb;
		if (rpm_parse(a, an, &ra, &why) < 0 || rpm_parse(b, bn, &rb, &why) < 0)
			return -EINVAL;
		r = rpm_cmp(&ra, &rb);
		break;
	}
	case VERSION_APK:
		if (apk_check(a, an, &why) < 0 || apk_check(b, bn, &why) < 0)
			return -EINVAL;
		r = apk_cmp(a, an, b, bn);
		break;
	default:
		return -EINVAL;
	}
	*result = sign(r);
	return 0;
}
