/*
 * vulndb_int.h: the internal representation shared by the vulnerability database modules
 * (vulndb.c: storage, index, export; vulndb_osv.c: OSV validation and import; vulndb_secdb.c:
 * Alpine secdb conversion; vulndb_match.c: matching and findings). Not a public interface.
 *
 * A record (vrec) keeps its canonical JSON text for export and, extracted once at import, what
 * a finding needs; each usable affected[] entry becomes a vaff whose range events are validated
 * in the ecosystem's version order and sorted at import, so matching only walks them.
 */
#ifndef GARRISON_VULNDB_INT_H
#define GARRISON_VULNDB_INT_H

#include <stddef.h>
#include <stdint.h>

#include <garrison/version.h>
#include <garrison/vulndb.h>

/* Event kinds, in the order used to break ties between equal versions. */
enum vev_kind { VEV_INTRODUCED = 0, VEV_LAST_AFFECTED = 1, VEV_FIXED = 2, VEV_LIMIT = 3 };

struct vev {
	enum vev_kind kind;
	char *v; /* NULL: the version "0" of an introduced event (before every version) */
};

struct vrange {
	struct vev *ev; /* sorted by version (NULL first), then kind */
	size_t nev;
};

struct vrec;

struct vaff {
	struct vrec *rec;
	enum version_kind vk;
	char *key;              /* "<ecosystem>\n<package name>" */
	struct vrange *ranges;  /* ECOSYSTEM ranges only */
	size_t nranges;
	char **versions;        /* affected[].versions */
	size_t nversions;
	const char *severity;   /* static: critical high important medium moderate low */
	double cvss;            /* 0 when no CVSS v3 vector */
	char *vec;              /* the CVSS v3 vector, or NULL */
	char *link;
	/* the F of the most common shape, one range "introduced 0, fixed F" and no versions list;
	 * NULL otherwise. Buckets keep these entries sorted by F for a binary search. */
	const char *simple_fix;
};

struct vrec {
	char *id, *cve, *description;
	char *canon;            /* canonical JSON text (JSON_COMPACT | JSON_SORT_KEYS) */
	size_t canon_len;
	int64_t published, modified;
	struct vaff *aff;
	size_t naff;
	int dead;               /* replaced by a later record with the same id */
};

/* Open-addressing hash table from NUL-terminated keys (owned by the values) to pointers. */
struct vhtab {
	struct vhslot {
		const char *key;
		uint64_t hash;
		void *val;
	} *slot;
	size_t cap, n; /* cap is 0 or a power of two */
};

/* The records of one index key: v[0..nsimple) are the entries with a simple_fix, sorted by it
 * in the ecosystem's order (rebuilt after every import), then the others. */
struct vbucket {
	char *key;
	struct vaff **v;
	size_t n, cap, nsimple;
};

struct vulndb {
	struct vrec **recs;     /* every stored record, dead ones removed after each import */
	size_t nrecs, cap;
	struct vhtab ids;       /* id -> struct vrec * */
	struct vhtab index;     /* key -> struct vbucket * */
	size_t affected;        /* live indexed vaff entries */
	struct vrec **sorted;   /* live records in id order */
	size_t nsorted;
	char data_version[65];
};

/* Records parsed by an import and not yet stored. */
struct vstage {
	struct vrec **v;
	size_t n, cap;
	struct vulndb_import_stats *st;
	size_t warned;          /* rejection messages logged so far (capped) */
};

uint64_t vulndb_hash(const char *s);
void *vhtab_get(const struct vhtab *t, const char *key);
/* Inserts or replaces; key must live as long as the entry. 0 or -ENOMEM. */
int vhtab_put(struct vhtab *t, const char *key, void *val);
void vhtab_free(struct vhtab *t);

void vulndb_rec_free(struct vrec *r);
/* Stores the staged records (emptying the stage) and refreshes the sorted list and data version. */
int vulndb_commit(struct vulndb *db, struct vstage *sg);
void vulndb_stage_clear(struct vstage *sg);

/* Validates one OSV record and appends its internal form to sg; a malformed record is counted
 * and logged, not an error. ordinal numbers the record in messages. 0 or -ENOMEM / -E2BIG. */
int vulndb_stage_record(struct vstage *sg, json_t *rec, const char *origin, size_t ordinal);
/* A record or an array of records. 0, -EINVAL (neither), -ENOMEM, -E2BIG. */
int vulndb_stage_json(struct vstage *sg, json_t *root, const char *origin, char *err,
		      size_t errlen);

/* The version order of an ecosystem ("Debian:12" → dpkg); -1 when not an OS ecosystem we order. */
int vulndb_ecosystem_kind(const char *ecosystem);

/* Parses an OSV timestamp (YYYY-MM-DDTHH:MM:SS[.frac]Z) into Unix time. 0 or -EINVAL. */
int vulndb_parse_time(const char *s, int64_t *out);

/* snprintf into err when err is not NULL */
void vulndb_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
