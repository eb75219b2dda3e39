/*
 * pkgdb_int.h: helpers shared by the pkgdb readers (lib/pkgdb*.c); not a public interface.
 */
#ifndef GARRISON_PKGDB_INT_H
#define GARRISON_PKGDB_INT_H

#include <stddef.h>

#include "garrison/pkgdb.h"

/* Character classes of kept values. */
enum pkgdb_cls { PKGDB_CLS_NAME, PKGDB_CLS_VERSION, PKGDB_CLS_ARCH, PKGDB_CLS_TEXT };

/* 1 when s[0..n) is non-empty, at most max bytes, and every byte is in the class. */
int pkgdb_valid(const char *s, size_t n, size_t max, enum pkgdb_cls cls);

/* Appends one package made of copies of the given strings (arch may be NULL): 0, -E2BIG (the list
 * holds PKGDB_PKGS_MAX), -ENOMEM. The values must already be validated. */
int pkgdb_append(struct pkglist *l, const char *name, size_t namelen, const char *ver,
		 size_t verlen, const char *src, size_t srclen, const char *srcver, size_t srcverlen,
		 const char *arch, size_t archlen);

/* Removes and frees the entries from index n0 on. */
void pkgdb_truncate(struct pkglist *l, size_t n0);

/* snprintf into err when err and errlen are set. */
void pkgdb_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Parses dpkg text; status_optional allows stanzas without Status (status.d/ files). */
int pkgdb_dpkg_parse(const char *text, size_t len, const char *origin, int status_optional,
		     struct pkglist *out, char *err, size_t errlen);

/* pkgdb_read_rpm_sqlite() on the directory open at dirfd (not closed), with label naming the
 * database in messages. */
int pkgdb_rpm_read_at(int dirfd, const char *label, struct pkglist *out, char *err, size_t errlen);

#endif
