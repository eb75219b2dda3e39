/*
 * enforce_path: lexical path normalisation and the path deny lists of the enforcement layer (see
 * enforce.h). Pure functions on strings: no file system access, no privileges, so that they can be
 * unit-tested and called on the fanotify worker threads without touching a marked file system.
 * A deny list is a plain array scanned in order; lists are short (tens of patterns) and a match
 * costs one strcmp, strncmp or fnmatch per pattern.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "enforce.h"

#define PATHSET_MAX 4096

enum pat_kind { PAT_EXACT, PAT_PREFIX, PAT_GLOB };

struct pattern {
	enum pat_kind kind;
	char *s;     /* normalised; for PAT_PREFIX it ends in '/' (or is "/") */
	size_t len;
};

struct enforce_pathset {
	struct pattern *p;
	size_t n, cap;
};

int enforce_path_normalize(const char *in, char *out, size_t len)
{
	size_t o = 0;
	const char *p = in;

	if (in == NULL || in[0] != '/' || len < 2)
		return in == NULL || in[0] != '/' ? -EINVAL : -ENAMETOOLONG;
	out[o++] = '/';
	while (*p) {
		const char *seg;
		size_t n;

		while (*p == '/')
			p++;
		seg = p;
		while (*p && *p != '/')
			p++;
		n = (size_t)(p - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			/* back to the previous '/', never above the root */
			if (o > 1) {
				o--; /* the '/' after the previous component */
				while (o > 1 && out[o - 1] != '/')
					o--;
			}
			continue;
		}
		if (o + n + 1 >= len)
			return -ENAMETOOLONG;
		memcpy(out + o, seg, n);
		o += n;
		out[o++] = '/';
	}
	if (o > 1)
		o--; /* the trailing '/' */
	out[o] = 0;
	return 0;
}

int enforce_pathset_new(struct enforce_pathset **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void enforce_pathset_free(struct enforce_pathset *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->p[i].s);
	free(s->p);
	free(s);
}

int enforce_pathset_add(struct enforce_pathset *s, const char *pattern)
{
	char norm[ENFORCE_PATH_MAX];
	struct pattern pt = { 0 };
	size_t plen;
	int rc;

	if (pattern == NULL || pattern[0] != '/')
		return -EINVAL;
	plen = strnlen(pattern, ENFORCE_PATH_MAX);
	if (plen >= ENFORCE_PATH_MAX)
		return -ENAMETOOLONG;
	rc = enforce_path_normalize(pattern, norm, sizeof(norm) - 1);
	if (rc < 0)
		return rc;
	if (strpbrk(norm, "*?[") != NULL) {
		pt.kind = PAT_GLOB;
	} else if (pattern[plen - 1] == '/') {
		size_t n = strlen(norm);
		pt.kind = PAT_PREFIX;
		if (n > 1) { /* room was kept by the len - 1 above */
			norm[n] = '/';
			norm[n + 1] = 0;
		}
	} else {
		pt.kind = PAT_EXACT;
	}
	if (s->n >= PATHSET_MAX)
		return -E2BIG;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		struct pattern *np = realloc(s->p, cap * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		s->p = np;
		s->cap = cap;
	}
	pt.s = strdup(norm);
	if (pt.s == NULL)
		return -ENOMEM;
	pt.len = strlen(pt.s);
	s->p[s->n++] = pt;
	return 0;
}

int enforce_pathset_add_list(struct enforce_pathset *s, const char *list)
{
	char item[ENFORCE_PATH_MAX];
	const char *p = list;

	if (list == NULL)
		return -EINVAL;
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		int rc;

		if (n >= sizeof(item))
			return -ENAMETOOLONG;
		if (n > 0) {
			memcpy(item, p, n);
			item[n] = 0;
			rc = enforce_pathset_add(s, item);
			if (rc < 0)
				return rc;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int enforce_pathset_match(const struct enforce_pathset *s, const char *path)
{
	if (s == NULL || path == NULL)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		const struct pattern *pt = &s->p[i];

		switch (pt->kind) {
		case PAT_EXACT:
			if (strcmp(pt->s, path) == 0)
				return 1;
			break;
		case PAT_PREFIX:
			if (strncmp(pt->s, path, pt->len) == 0)
				return 1;
			break;
		case PAT_GLOB:
			if (fnmatch(pt->s, path, FNM_PATHNAME) == 0)
				return 1;
			break;
		}
	}
	return 0;
}

size_t enforce_pathset_count(const struct enforce_pathset *s)
{
	return s ? s->n : 0;
}
