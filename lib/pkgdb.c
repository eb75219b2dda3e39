/*
 * pkgdb: parsers of the dpkg status and apk installed databases and of os-release, from text in
 * memory. Each parser walks the text line by line with a hard bound on the line length, refuses
 * binary bytes, keeps only a handful of fields (each validated against a small character set and
 * length bound), and on any error removes what it appended and names the origin and line in err.
 * The file and directory readers are in pkgdb_rootfs.c, the rpm reader in pkgdb_rpm.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "garrison/log.h"
#include "garrison/pkgdb.h"
#include "pkgdb_int.h"

void pkgdb_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void pkg_free(struct pkg *p)
{
	free(p->name);
	free(p->version);
	free(p->source);
	free(p->source_version);
	free(p->arch);
	memset(p, 0, sizeof(*p));
}

void pkgdb_truncate(struct pkglist *l, size_t n0)
{
	while (l->n > n0)
		pkg_free(&l->v[--l->n]);
}

void pkglist_clear(struct pkglist *l)
{
	if (!l)
		return;
	pkgdb_truncate(l, 0);
	free(l->v);
	free(l->os_id);
	free(l->os_version_id);
	free(l->os_pretty_name);
	free(l->os_codename);
	memset(l, 0, sizeof(*l));
}

static int is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int pkgdb_valid(const char *s, size_t n, size_t max, enum pkgdb_cls cls)
{
	static const char *const extra[] = {
		[PKGDB_CLS_NAME] = "+-._",
		[PKGDB_CLS_VERSION] = "+-._~:^",
		[PKGDB_CLS_ARCH] = "-_",
		[PKGDB_CLS_TEXT] = " +-._~:^/(),;!?&@#%=*'\"",
	};

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!is_alnum(c) && (c == 0 || !strchr(extra[cls], c)))
			return 0;
	}
	return 1;
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int pkgdb_append(struct pkglist *l, const char *name, size_t namelen, const char *ver,
		 size_t verlen, const char *src, size_t srclen, const char *srcver, size_t srcverlen,
		 const char *arch, size_t archlen)
{
	struct pkg p = { 0 };

	if (l->n >= PKGDB_PKGS_MAX)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		if (cap > PKGDB_PKGS_MAX)
			cap = PKGDB_PKGS_MAX;
		struct pkg *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	p.name = dupn(name, namelen);
	p.version = dupn(ver, verlen);
	p.source = dupn(src, srclen);
	p.source_version = dupn(srcver, srcverlen);
	p.arch = arch ? dupn(arch, archlen) : NULL;
	if (!p.name || !p.version || !p.source || !p.source_version || (arch && !p.arch)) {
		pkg_free(&p);
		return -ENOMEM;
	}
	l->v[l->n++] = p;
	return 0;
}

int pkgdb_add(struct pkglist *l, const char *name, const char *version, const char *source,
	      const char *source_version, const char *arch)
{
	if (!l || !name || !version)
		return -EINVAL;
	if (!source)
		source = name;
	if (!source_version)
		source_version = version;
	if (!pkgdb_valid(name, strlen(name), PKGDB_NAME_MAX, PKGDB_CLS_NAME) ||
	    !pkgdb_valid(source, strlen(source), PKGDB_NAME_MAX, PKGDB_CLS_NAME) ||
	    !pkgdb_valid(version, strlen(version), PKGDB_VERSION_MAX, PKGDB_CLS_VERSION) ||
	    !pkgdb_valid(source_version, strlen(source_version), PKGDB_VERSION_MAX,
			 PKGDB_CLS_VERSION) ||
	    (arch && !pkgdb_valid(arch, strlen(arch), PKGDB_ARCH_MAX, PKGDB_CLS_ARCH)))
		return -EINVAL;
	return pkgdb_append(l, name, strlen(name), version, strlen(version), source, strlen(source),
			    source_version, strlen(source_version), arch, arch ? strlen(arch) : 0);
}

/* ---- line reader -------------------------------------------------------------------------- */

struct lines {
	const char *p, *end;
	size_t lineno;
	const char *origin;
	char *err;
	size_t errlen;
};

#define ORIGIN(ls) ((ls)->origin ? (ls)->origin : "(input)")

/* Next line without its LF or CR LF: 1 with *line and *len set, 0 at the end of the text,
 * -EINVAL for an over-long line or a binary byte (tab is the only control byte allowed). */
static int next_line(struct lines *ls, const char **line, size_t *len)
{
	const char *s = ls->p, *nl;
	size_t rest, lim, n;

	if (s >= ls->end)
		return 0;
	ls->lineno++;
	rest = (size_t)(ls->end - s);
	lim = rest < PKGDB_LINE_MAX + 2 ? rest : PKGDB_LINE_MAX + 2;
	nl = memchr(s, '\n', lim);
	if (nl) {
		n = (size_t)(nl - s);
		ls->p = nl + 1;
	} else if (rest <= PKGDB_LINE_MAX + 1) {
		n = rest; /* last line, no newline at the end: tolerated */
		ls->p = ls->end;
	} else {
		nl = memchr(s + lim, '\n', rest - lim); /* skip it, so a caller may go on */
		ls->p = nl ? nl + 1 : ls->end;
		pkgdb_err(ls->err, ls->errlen, "%s:%zu: line longer than %u bytes", ORIGIN(ls),
			  ls->lineno, PKGDB_LINE_MAX);
		return -EINVAL;
	}
	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n > PKGDB_LINE_MAX) {
		pkgdb_err(ls->err, ls->errlen, "%s:%zu: line longer than %u bytes", ORIGIN(ls),
			  ls->lineno, PKGDB_LINE_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			pkgdb_err(ls->err, ls->errlen, "%s:%zu: binary byte 0x%02x at column %zu",
				  ORIGIN(ls), ls->lineno, c, i + 1);
			return -EINVAL;
		}
	}
	*line = s;
	*len = n;
	return 1;
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static int blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/* ---- dpkg --------------------------------------------------------------------------------- */

enum { F_PACKAGE, F_VERSION, F_ARCH, F_SOURCE, F_STATUS, F_NKEPT };
static const char *const dpkg_fields[F_NKEPT] = { "Package", "Version", "Architecture", "Source",
						  "Status" };

struct field {
	const char *v;
	size_t n, line;
	int set;
};

struct stanza {
	struct field f[F_NKEPT];
	size_t first_line;
	int any;
};

/* 1 when the Status value means an installed package ("install|hold ok installed"). */
static int dpkg_installed(const char *s, size_t n)
{
	const char *w[3];
	size_t wl[3], k = 0, i = 0;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			break;
		if (k == 3)
			return 0;
		w[k] = s + i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		wl[k] = (size_t)(s + i - w[k]);
		k++;
	}
	if (k != 3)
		return 0;
	return ((wl[0] == 7 && !memcmp(w[0], "install", 7)) || (wl[0] == 4 && !memcmp(w[0], "hold", 4))) &&
	       wl[1] == 2 && !memcmp(w[1], "ok", 2) && wl[2] == 9 && !memcmp(w[2], "installed", 9);
}

static int dpkg_bad(struct lines *ls, size_t line, const char *what)
{
	pkgdb_err(ls->err, ls->errlen, "%s:%zu: %s", ORIGIN(ls), line, what);
	return -EINVAL;
}

static int dpkg_end_stanza(struct lines *ls, struct stanza *st, int status_optional,
			   struct pkglist *out)
{
	struct field *f = st->f;
	const char *src, *srcver;
	size_t srclen, srcverlen;

	if (!st->any)
		return 0;
	if (!f[F_PACKAGE].set)
		return dpkg_bad(ls, st->first_line, "stanza without a Package field");
	if (!pkgdb_valid(f[F_PACKAGE].v, f[F_PACKAGE].n, PKGDB_NAME_MAX, PKGDB_CLS_NAME))
		return dpkg_bad(ls, f[F_PACKAGE].line, "invalid package name");
	if (!f[F_STATUS].set) {
		if (!status_optional)
			return dpkg_bad(ls, st->first_line, "stanza without a Status field");
	} else if (!dpkg_installed(f[F_STATUS].v, f[F_STATUS].n)) {
		return 0; /* not (fully) installed: not part of the inventory */
	}
	if (!f[F_VERSION].set)
		return dpkg_bad(ls, st->first_line, "installed package without a Version field");
	if (!pkgdb_valid(f[F_VERSION].v, f[F_VERSION].n, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION))
		return dpkg_bad(ls, f[F_VERSION].line, "invalid Version");
	if (!f[F_ARCH].set)
		return dpkg_bad(ls, st->first_line, "installed package without an Architecture field");
	if (!pkgdb_valid(f[F_ARCH].v, f[F_ARCH].n, PKGDB_ARCH_MAX, PKGDB_CLS_ARCH))
		return dpkg_bad(ls, f[F_ARCH].line, "invalid Architecture");
	src = f[F_PACKAGE].v;
	srclen = f[F_PACKAGE].n;
	srcver = f[F_VERSION].v;
	srcverlen = f[F_VERSION].n;
	if (f[F_SOURCE].set) {
		/* "name" or "name (version)" */
		const char *s = f[F_SOURCE].v, *e = s + f[F_SOURCE].n, *p = s;
		while (p < e && *p != ' ' && *p != '\t' && *p != '(')
			p++;
		src = s;
		srclen = (size_t)(p - s);
		if (!pkgdb_valid(src, srclen, PKGDB_NAME_MAX, PKGDB_CLS_NAME))
			return dpkg_bad(ls, f[F_SOURCE].line, "invalid Source name");
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if (p < e) {
			if (*p != '(' || e[-1] != ')' || e - p < 3)
				return dpkg_bad(ls, f[F_SOURCE].line, "Source is not \"name (version)\"");
			srcver = p + 1;
			srcverlen = (size_t)(e - 1 - srcver);
			trim(&srcver, &srcverlen);
			if (!pkgdb_valid(srcver, srcverlen, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION))
				return dpkg_bad(ls, f[F_SOURCE].line, "invalid Source version");
		}
	}
	int r = pkgdb_append(out, f[F_PACKAGE].v, f[F_PACKAGE].n, f[F_VERSION].v, f[F_VERSION].n,
			     src, srclen, srcver, srcverlen, f[F_ARCH].v, f[F_ARCH].n);
	if (r == -E2BIG)
		pkgdb_err(ls->err, ls->errlen, "%s:%zu: more than %d packages", ORIGIN(ls),
			  st->first_line, PKGDB_PKGS_MAX);
	else if (r)
		pkgdb_err(ls->err, ls->errlen, "%s: out of memory", ORIGIN(ls));
	return r;
}

int pkgdb_dpkg_parse(const char *text, size_t len, const char *origin, int status_optional,
		     struct pkglist *out, char *err, size_t errlen)
{
	struct lines ls = { text, text + len, 0, origin, err, errlen };
	struct stanza st = { 0 };
	size_t n0 = out->n;
	int cur = -1; /* the field the previous line belongs to: kept index, F_NKEPT other, -1 none */
	const char *line;
	size_t n;
	int r;

	if (!text && len)
		return -EINVAL;
	while ((r = next_line(&ls, &line, &n)) == 1) {
		if (blank(line, n)) {
			if ((r = dpkg_end_stanza(&ls, &st, status_optional, out)) < 0)
				goto fail;
			memset(&st, 0, sizeof(st));
			cur = -1;
			continue;
		}
		if (line[0] == ' ' || line[0] == '\t') {
			if (cur < 0) {
				r = dpkg_bad(&ls, ls.lineno, "continuation line outside a field");
				goto fail;
			}
			if (cur < F_NKEPT) {
				r = dpkg_bad(&ls, ls.lineno, "continuation of a one-line field");
				goto fail;
			}
			continue;
		}
		const char *colon = memchr(line, ':', n);
		if (!colon || colon == line) {
			r = dpkg_bad(&ls, ls.lineno, "line is not \"Field: value\"");
			goto fail;
		}
		size_t nl = (size_t)(colon - line);
		const char *v = colon + 1;
		size_t vn = n - nl - 1;
		trim(&v, &vn);
		if (!st.any)
			st.first_line = ls.lineno;
		st.any = 1;
		cur = F_NKEPT;
		for (int i = 0; i < F_NKEPT; i++) {
			if (strlen(dpkg_fields[i]) != nl || strncasecmp(line, dpkg_fields[i], nl) != 0)
				continue;
			if (st.f[i].set) {
				pkgdb_err(err, errlen, "%s:%zu: duplicate %s field (first at line %zu)",
					  ORIGIN(&ls), ls.lineno, dpkg_fields[i], st.f[i].line);
				r = -EINVAL;
				goto fail;
			}
			st.f[i] = (struct field){ v, vn, ls.lineno, 1 };
			cur = i;
			break;
		}
	}
	if (r < 0)
		goto fail;
	if ((r = dpkg_end_stanza(&ls, &st, status_optional, out)) < 0)
		goto fail;
	return 0;
fail:
	pkgdb_truncate(out, n0);
	log_debug("pkgdb: %s", err && errlen ? err : "dpkg database refused");
	return r;
}

int pkgdb_read_dpkg(const char *text, size_t len, const char *origin, struct pkglist *out,
		    char *err, size_t errlen)
{
	int r;

	if (!out)
		return -EINVAL;
	r = pkgdb_dpkg_parse(text, len, origin, 0, out, err, errlen);
	if (r == 0)
		out->kind = PKGDB_DPKG;
	return r;
}

/* ---- apk ---------------------------------------------------------------------------------- */

enum { A_P, A_V, A_A, A_O, A_NKEPT };
static const char apk_keys[A_NKEPT] = { 'P', 'V', 'A', 'o' };

static int apk_end(struct lines *ls, struct stanza *st, struct pkglist *out)
{
	struct field *f = st->f;
	int r;

	if (!st->any)
		return 0;
	if (!f[A_P].set)
		return dpkg_bad(ls, st->first_line, "package without a P: line");
	if (!pkgdb_valid(f[A_P].v, f[A_P].n, PKGDB_NAME_MAX, PKGDB_CLS_NAME))
		return dpkg_bad(ls, f[A_P].line, "invalid package name");
	if (!f[A_V].set)
		return dpkg_bad(ls, st->first_line, "package without a V: line");
	if (!pkgdb_valid(f[A_V].v, f[A_V].n, PKGDB_VERSION_MAX, PKGDB_CLS_VERSION))
		return dpkg_bad(ls, f[A_V].line, "invalid version");
	if (f[A_A].set && !pkgdb_valid(f[A_A].v, f[A_A].n, PKGDB_ARCH_MAX, PKGDB_CLS_ARCH))
		return dpkg_bad(ls, f[A_A].line, "invalid architecture");
	if (f[A_O].set && !pkgdb_valid(f[A_O].v, f[A_O].n, PKGDB_NAME_MAX, PKGDB_CLS_NAME))
		return dpkg_bad(ls, f[A_O].line, "invalid origin");
	const struct field *o = f[A_O].set ? &f[A_O] : &f[A_P];
	r = pkgdb_append(out, f[A_P].v, f[A_P].n, f[A_V].v, f[A_V].n, o->v, o->n, f[A_V].v, f[A_V].n,
			 f[A_A].set ? f[A_A].v : NULL, f[A_A].n);
	if (r == -E2BIG)
		pkgdb_err(ls->err, ls->errlen, "%s:%zu: more than %d packages", ORIGIN(ls),
			  st->first_line, PKGDB_PKGS_MAX);
	else if (r)
		pkgdb_err(ls->err, ls->errlen, "%s: out of memory", ORIGIN(ls));
	return r;
}

int pkgdb_read_apk(const char *text, size_t len, const char *origin, struct pkglist *out,
		   char *err, size_t errlen)
{
	struct lines ls = { text, text + len, 0, origin, err, errlen };
	struct stanza st = { 0 };
	size_t n0;
	const char *line;
	size_t n;
	int r;

	if (!out || (!text && len))
		return -EINVAL;
	n0 = out->n;
	while ((r = next_line(&ls, &line, &n)) == 1) {
		if (n == 0) {
			if ((r = apk_end(&ls, &st, out)) < 0)
				goto fail;
			memset(&st, 0, sizeof(st));
			continue;
		}
		if (n < 2 || line[1] != ':' || line[0] == ' ' || line[0] == '\t') {
			r = dpkg_bad(&ls, ls.lineno, "line is not \"X:value\"");
			goto fail;
		}
		if (!st.any)
			st.first_line = ls.lineno;
		st.any = 1;
		for (int i = 0; i < A_NKEPT; i++) {
			if (line[0] != apk_keys[i])
				continue;
			if (st.f[i].set) {
				pkgdb_err(err, errlen, "%s:%zu: duplicate %c: line (first at line %zu)",
					  ORIGIN(&ls), ls.lineno, apk_keys[i], st.f[i].line);
				r = -EINVAL;
				goto fail;
			}
			st.f[i] = (struct field){ line + 2, n - 2, ls.lineno, 1 };
			break;
		}
	}
	if (r < 0)
		goto fail;
	if ((r = apk_end(&ls, &st, out)) < 0)
		goto fail;
	out->kind = PKGDB_APK;
	return 0;
fail:
	pkgdb_truncate(out, n0);
	log_debug("pkgdb: %s", err && errlen ? err : "apk database refused");
	return r;
}

/* ---- os-release --------------------------------------------------------------------------- */

/* Unquotes an os-release value into buf (at most PKGDB_OS_MAX bytes): its length, or -1 when the
 * value is malformed, too long or not a plain identifier/version. */
static int os_value(const char *s, size_t n, char *buf, enum pkgdb_cls cls)
{
	size_t k = 0;

	trim(&s, &n);
	if (n > 0 && (s[0] == '"' || s[0] == '\'')) {
		char q = s[0];
		size_t i = 1;
		for (; i < n && s[i] != q; i++) {
			char c = s[i];
			if (q == '"' && c == '\\' && i + 1 < n)
				c = s[++i];
			if (k >= PKGDB_OS_MAX)
				return -1;
			buf[k++] = c;
		}
		if (i != n - 1)
			return -1; /* no closing quote, or text after it */
	} else {
		if (n > PKGDB_OS_MAX)
			return -1;
		memcpy(buf, s, n);
		k = n;
	}
	if (!pkgdb_valid(buf, k, PKGDB_OS_MAX, cls))
		return -1;
	return (int)k;
}

int pkgdb_os_release(const char *text, size_t len, struct pkglist *out)
{
	static const struct {
		const char *key;
		enum pkgdb_cls cls;
	} keys[] = {
		{ "ID", PKGDB_CLS_NAME },
		{ "VERSION_ID", PKGDB_CLS_NAME },
		{ "PRETTY_NAME", PKGDB_CLS_TEXT },
		{ "VERSION_CODENAME", PKGDB_CLS_NAME },
	};
	enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };
	struct lines ls = { text, text + len, 0, "os-release", NULL, 0 };
	char buf[PKGDB_OS_MAX + 1];
	char *val[NKEYS] = { NULL };
	const char *line;
	size_t n;
	int r;

	if (!out || (!text && len))
		return -EINVAL;
	if (len && memchr(text, '\0', len))
		return -EINVAL;
	for (;;) {
		r = next_line(&ls, &line, &n);
		if (r == 0)
			break;
		if (r < 0)
			continue; /* an over-long or odd line: not ours, and next_line moved on */
		const char *eq = memchr(line, '=', n);
		if (!eq)
			continue;
		size_t kl = (size_t)(eq - line);
		int j;
		for (j = 0; j < NKEYS; j++)
			if (strlen(keys[j].key) == kl && !memcmp(line, keys[j].key, kl))
				break;
		if (j == NKEYS)
			continue;
		int k = os_value(eq + 1, n - kl - 1, buf, keys[j].cls);
		if (k <= 0)
			continue;
		free(val[j]);
		val[j] = dupn(buf, (size_t)k);
		if (!val[j]) {
			for (j = 0; j < NKEYS; j++)
				free(val[j]);
			return -ENOMEM;
		}
	}
	free(out->os_id);
	free(out->os_version_id);
	free(out->os_pretty_name);
	free(out->os_codename);
	out->os_id = val[0];
	out->os_version_id = val[1];
	out->os_pretty_name = val[2];
	out->os_codename = val[3];
	return 0;
}
