/*
 * compliance_int: what the compliance modules (lib/compliance*.c) share and the rest of Garrison
 * does not see: the check catalogue, appending a result, and quoting untrusted text into causes.
 */
#ifndef GARRISON_COMPLIANCE_INT_H
#define GARRISON_COMPLIANCE_INT_H

#include <stddef.h>

#include <garrison/compliance.h>

/* Longest untrusted string quoted into a cause (longer ones end in "..."). */
#define COMPLIANCE_QUOTE_MAX 100

struct compliance_check {
	const char *id;
	const char *title;
	enum compliance_severity severity;
	enum compliance_type type;
};

/* The catalogue entry of a CIS id, or NULL. */
const struct compliance_check *compliance_catalog_find(const char *id);
/* The whole catalogue (sections 1-5 and C.5.3.x), *n entries. */
const struct compliance_check *compliance_catalog(size_t *n);

/* Appends the result of check id (which must be in the catalogue) with a printf-formatted cause
 * (truncated to COMPLIANCE_CAUSE_MAX - 1 bytes). 0 or -ENOMEM. */
int compliance_add(struct compliance_list *l, const char *id, enum compliance_status st,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Drops the results from index n on (to undo a partial run). */
void compliance_list_truncate(struct compliance_list *l, size_t n);

/* Copies untrusted text s into buf (COMPLIANCE_QUOTE_MAX + 4 bytes at least) for a cause: control
 * characters, non-ASCII bytes and quotes become '?', and text longer than COMPLIANCE_QUOTE_MAX is cut with "...".
 * NULL becomes "". Returns buf. */
char *compliance_quote(const char *s, char *buf, size_t len);
#define COMPLIANCE_QBUF (COMPLIANCE_QUOTE_MAX + 4)

#endif
