/*
 * vulndb: the vulnerability database and the matcher of OS packages against it.
 *
 * The data is OSV (https://ossf.github.io/osv-schema/) records; the canonical serialised form of
 * a database is simply the array of its records. Sources: OSV JSON (one record, an array of
 * records, a directory of such files, or a zip of them) and Alpine secdb YAML, which is converted
 * into OSV records first. Records are checked against what the OSV schema requires (1.7.x:
 * id and modified present and well-formed, affected/ranges/events/severity/references shapes);
 * a record that breaks it is rejected with a message naming the origin and the record id, and the
 * import goes on with the others. A file that cannot be read or is not JSON (or YAML) fails the
 * whole import call, and the database is then exactly as before that call (imports are
 * all-or-nothing at file level, record-by-record at record level).
 *
 * Matching honours `affected[].ranges` of type ECOSYSTEM (events introduced, fixed, last_affected,
 * limit) and `affected[].versions`, in the ecosystem's own order (lib/version.c: dpkg, rpm, apk).
 * Packages are matched by SOURCE package: dpkg Source (and source version), apk origin (and the
 * package version), rpm SOURCERPM name (and the binary package's [epoch:]version-release, since
 * an SRPM file name carries no epoch). Findings have the shape of Prisma Cloud Compute's
 * vuln.Vulnerability, one per (CVE, source package, version), with binaryPkgs listing the
 * installed binaries built from it. docs/vulndb.md describes every choice.
 *
 * Threads: build a database with vulndb_new() and the vulndb_import_*() calls from one thread;
 * after that it is read-only and vulndb_match(), vulndb_info(), vulndb_foreach() and
 * vulndb_export_*() may run from any number of threads at once. An import while other threads
 * read is not allowed (build a new database and swap pointers instead).
 */
#ifndef GARRISON_VULNDB_H
#define GARRISON_VULNDB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <garrison/pkgdb.h>

#define VULNDB_FILE_MAX      (512UL << 20) /* largest OSV/secdb file or zip read */
#define VULNDB_ENTRY_MAX     (64UL << 20)  /* largest file inside a zip, uncompressed */
#define VULNDB_DIR_MAX       1000000       /* most files read from a directory or a zip */
#define VULNDB_RECORDS_MAX   4000000       /* most records in one database */
#define VULNDB_ID_MAX        256           /* longest record id / alias / package name / ecosystem */
#define VULNDB_AFFECTED_MAX  10000         /* most affected[] entries in one record */
#define VULNDB_EVENTS_MAX    10000         /* most events in one range, versions in one list */
#define VULNDB_TEXT_MAX      (64U << 10)   /* longest summary/details kept for a finding */
#define VULNDB_ECOSYSTEM_MAX 128           /* longest ecosystem string */

struct vulndb;

/* What one import call did. */
struct vulndb_import_stats {
	size_t files;            /* files read (1 for a single file or a memory buffer) */
	size_t records;          /* records accepted (new ids and replacements) */
	size_t replaced;         /* of those, how many replaced a record with the same id */
	size_t stale;            /* records ignored: same id already present with a newer `modified` */
	size_t rejected;         /* malformed records skipped (each logged once, as a warning) */
	size_t affected_indexed; /* affected[] entries usable for matching */
	size_t affected_ignored; /* affected[] entries of other ecosystems, without ECOSYSTEM range
				    or versions, or with a version the ecosystem's order refuses */
	char first_error[512];   /* message of the first rejected record, "" when none */
};

/* Returns an empty database, or NULL when out of memory. */
struct vulndb *vulndb_new(void);
/* Frees db and everything it owns; NULL is a no-op. No other thread may use db at that time. */
void vulndb_free(struct vulndb *db);

/*
 * Imports OSV JSON from memory: one record (an object) or an array of records, or a zip archive
 * of such files (as vulndb_import_osv_path() reads it). origin names the
 * data in messages (may be NULL: "memory"). st (may be NULL) receives the counts; err (errlen
 * bytes, may be NULL/0) a one-line reason when the call fails.
 * A record whose id already exists replaces it when its `modified` is the same or later, else
 * it is ignored (counted in stale). Returns 0 (also when records were rejected: see st), or
 * -EINVAL (not JSON, top level neither object nor array), -E2BIG (VULNDB_RECORDS_MAX),
 * -EFBIG (len over VULNDB_FILE_MAX), -ENOMEM; on failure db is unchanged.
 */
int vulndb_import_osv_mem(struct vulndb *db, const char *data, size_t len, const char *origin,
			  struct vulndb_import_stats *st, char *err, size_t errlen);

/*
 * Imports OSV JSON from path: a regular file holding JSON as vulndb_import_osv_mem() takes, a zip
 * archive (recognised by its magic bytes, read with libarchive; every regular entry whose name
 * ends in ".json" is read, others skipped), or a directory (every regular file whose name ends in
 * ".json" or ".zip", sorted by name, not recursive, names starting with '.' skipped; symbolic
 * links not followed). Errors as vulndb_import_osv_mem() plus -ENOENT/-EACCES/-ENOTDIR/-errno
 * from the file system; a message names the file (and the zip entry).
 */
int vulndb_import_osv_path(struct vulndb *db, const char *path, struct vulndb_import_stats *st,
			   char *err, size_t errlen);

/*
 * Converts an Alpine secdb document (https://secdb.alpinelinux.org/, e.g. v3.14/main.yaml;
 * `distroversion`, `packages[].pkg.name`, `packages[].pkg.secfixes: {fixed version: [ids]}`)
 * into OSV records and stores a new JSON array of them in *records (caller json_decref()s).
 * One record per vulnerability id and document: aliases [<id>], modified
 * 1970-01-01T00:00:00Z (secdb has no dates; a fixed value keeps exports reproducible), one
 * affected entry per package, ecosystem "Alpine:<distroversion>", range introduced "0" → fixed
 * <version> (a vulnerability listed under two fixed versions of one package keeps the higher).
 * The record ids are "x_ALPINE-<distroversion>-<reponame>-<id>", unique per document, so that
 * main and community, or two branches, can be imported side by side. The ids are taken from each list item: its first word that is a CVE id
 * (CVE-YYYY-NNNN, trailing text such as "-1" or ".patch" dropped) or another ID-NNN word (XSA-207);
 * items without one are skipped. Fixed version "0" (Alpine's "never affected") and versions that
 * are not valid apk versions are skipped, each with a warning. Parsed with libyaml; aliases and
 * anchors are refused. Returns 0, -EINVAL (not YAML, not a secdb document), -EFBIG, -ENOMEM.
 */
int vulndb_secdb_to_osv(const char *yaml, size_t len, const char *origin, json_t **records,
			char *err, size_t errlen);

/* vulndb_secdb_to_osv() then the import of the records, as vulndb_import_osv_mem(). */
int vulndb_import_secdb_mem(struct vulndb *db, const char *yaml, size_t len, const char *origin,
			    struct vulndb_import_stats *st, char *err, size_t errlen);
/* The same from a file (at most VULNDB_FILE_MAX bytes). */
int vulndb_import_secdb_path(struct vulndb *db, const char *path, struct vulndb_import_stats *st,
			     char *err, size_t errlen);

/* Counts and the data version of a database. */
struct vulndb_info {
	size_t records;         /* records held (what an export writes) */
	size_t affected;        /* affected[] entries indexed for matching */
	size_t keys;            /* distinct (ecosystem, package) keys in the index */
	char data_version[65];  /* lowercase hex SHA-256 of the export (see vulndb_foreach) */
};
/* Fills *info. The data version of an empty database is the SHA-256 of "". */
void vulndb_info(const struct vulndb *db, struct vulndb_info *info);

/*
 * Calls fn for every record in id order (byte order) with its canonical JSON text: compact,
 * keys sorted, as jansson's JSON_COMPACT|JSON_SORT_KEYS writes it, NUL-terminated, owned by db.
 * The data version is the SHA-256 of these texts each followed by "\n". Stops at the first
 * non-zero return of fn and returns it; 0 when every record was visited.
 */
int vulndb_foreach(const struct vulndb *db,
		   int (*fn)(void *arg, const char *id, const char *json, size_t len), void *arg);

/* A new JSON array of every record in id order (the canonical export); caller decrefs.
 * 0, -ENOMEM, -EINVAL (a stored text no longer parses: cannot happen). */
int vulndb_export_json(const struct vulndb *db, json_t **out);
/* Writes the export to path atomically (util_write_file, mode 0644): an array with one record
 * per line. 0 or -errno. */
int vulndb_export_path(const struct vulndb *db, const char *path);

/*
 * The OSV ecosystem of a package list, from its os_id, os_version_id and kind, written into
 * buf (at least VULNDB_ECOSYSTEM_MAX bytes):
 *   dpkg: debian N[.x] → "Debian:N"; ubuntu YY.MM → "Ubuntu:YY.MM" (":LTS" appended for even
 *         YY with MM 04).
 *   apk:  alpine X.Y[.Z…] → "Alpine:vX.Y"; wolfi → "Wolfi"; chainguard → "Chainguard".
 *   rpm:  almalinux N[.x] → "AlmaLinux:N"; rocky → "Rocky Linux:N"; mariner / azurelinux N.x →
 *         "Azure Linux:N"; photon N.x → "Photon OS:N.x"; mageia N → "Mageia:N".
 * Anything else (Red Hat, whose OSV data is keyed by CPE product streams; SUSE, keyed by the
 * product's marketing name; an OS/kind mismatch; a missing os-release) gives -ENOENT and *why
 * set to a static English reason. 0 on success.
 */
int vulndb_ecosystem(const struct pkglist *pkgs, char *buf, size_t len, const char **why);

/* Options of a match; zero-initialise. */
struct vulndb_match_opts {
	/* Use this ecosystem (e.g. "Alpine:v3.11") instead of the one derived from the list. Its
	 * version order still comes from its name (Debian/Ubuntu dpkg, Alpine/Wolfi/Chainguard apk,
	 * the rpm distributions rpm); the list's kind must agree. */
	const char *ecosystem;
};

/* Result of a match; free with vulndb_match_result_clear(). */
struct vulndb_match_result {
	/* JSON array of vuln.Vulnerability objects (Prisma shape): cve, packageName (source
	 * package), packageVersion, binaryPkgs, status ("fixed in V" or "open"), severity, cvss,
	 * vecStr, link, published, fixDate, description, packageType "os", plus "osvId" (the record
	 * id). Sorted by packageName, packageVersion, cve. Empty (never NULL) when nothing matched. */
	json_t *vulnerabilities;
	/* vuln.Distribution: {"critical","high","medium","low","total"} counts of the findings. */
	json_t *distribution;
	char ecosystem[VULNDB_ECOSYSTEM_MAX]; /* ecosystem used ("" when none) */
	const char *reason;      /* static: why nothing was matched (unknown OS...), else NULL */
	size_t packages;         /* source packages (groups) looked up */
	size_t bad_versions;     /* of which skipped: version invalid in the ecosystem's order, or
				    a name longer than VULNDB_ID_MAX */
};

/*
 * Matches the packages of pkgs against db. On success res holds the findings (possibly none).
 * An unknown OS is not an error: 0 with no findings and res->reason set. Read-only on db and
 * pkgs; any number of concurrent calls. Returns 0, -EINVAL (NULL argument, an override
 * ecosystem that is unknown or disagrees with the list's kind), -ENOMEM (res is then cleared).
 */
int vulndb_match(const struct vulndb *db, const struct pkglist *pkgs,
		 const struct vulndb_match_opts *opts, struct vulndb_match_result *res);

/* Releases what a result holds and zeroes it; res may be NULL or zeroed. */
void vulndb_match_result_clear(struct vulndb_match_result *res);

#endif
