/*
 * pkgdb: the OS package inventory of a container image or host root file system, read from the
 * package managers' own databases: dpkg (var/lib/dpkg/status, and the status.d/ directory of
 * distroless images), apk (lib/apk/db/installed) and rpm (var/lib/rpm/rpmdb.sqlite, through
 * librpm, only when built with GARRISON_HAVE_RPM). Each binary package carries its source package,
 * because vulnerability data is keyed by source package. The OS comes from etc/os-release.
 *
 * Every database is untrusted input. Each reader bounds the input size, the line length, the
 * length and character set of every kept value and the number of packages; a malformed database
 * gives -EINVAL (or -E2BIG / -EFBIG for a bound) and a message in err naming the origin (the file
 * name given by the caller) and the line, never a partial list. Readers append to a pkglist; on
 * error, what the failing call appended is removed again and the list is as before the call.
 * Functions are thread-safe except pkgdb_read_rpm_sqlite() (librpm keeps global state).
 * Full description: docs/pkgdb.md.
 */
#ifndef GARRISON_PKGDB_H
#define GARRISON_PKGDB_H

#include <stddef.h>

#define PKGDB_FILE_MAX   (64UL << 20) /* largest database file read */
#define PKGDB_LINE_MAX   (64U << 10)  /* longest line of a dpkg or apk database */
#define PKGDB_NAME_MAX   256          /* longest package name / source name */
#define PKGDB_VERSION_MAX 256         /* longest version */
#define PKGDB_ARCH_MAX   64           /* longest architecture */
#define PKGDB_PKGS_MAX   200000       /* most packages in one list */
#define PKGDB_DIR_MAX    100000       /* most files read from a status.d/ directory */
#define PKGDB_OS_MAX     128          /* longest os-release ID / VERSION_ID */
#define PKGDB_RPMDB_MAX  (1ULL << 30) /* largest rpmdb.sqlite (or -wal) copied for librpm */

/* One installed binary package. All strings are malloc()ed, NUL-terminated, non-empty and owned
 * by the list, except arch, which may be NULL when the database records none (apk may omit A:).
 * version: dpkg "[epoch:]upstream[-revision]"; apk "V:"; rpm "[epoch:]version-release".
 * source / source_version: dpkg "Source:" (which may carry "name (version)"), defaulting to the
 * package's own name and version; apk the origin ("o:", default the name) and the package version;
 * rpm SOURCERPM split into name and "version-release" (default the name and version-release). */
struct pkg {
	char *name, *version, *source, *source_version, *arch;
};

/* kind of database a list was read from (the last reader that appended to it) */
enum pkgdb_kind { PKGDB_NONE = 0, PKGDB_DPKG, PKGDB_APK, PKGDB_RPM };

/* A list of packages in database order. Zero-initialise it ({0}); free with pkglist_clear().
 * os_id / os_version_id / os_pretty_name / os_codename: ID, VERSION_ID, PRETTY_NAME and
 * VERSION_CODENAME of os-release, malloc()ed, NULL when unknown. */
struct pkglist {
	struct pkg *v;
	size_t n, cap;
	char *os_id, *os_version_id;
	enum pkgdb_kind kind;
	char *os_pretty_name, *os_codename;
};

/* Frees everything the list owns and zeroes it; l may be NULL. The list may be reused. */
void pkglist_clear(struct pkglist *l);

/* Appends one package given field by field (e.g. rebuilt from a stored scan record), after the
 * checks the readers apply to each value (length, character set). source / source_version NULL:
 * the package's own name / version; arch may be NULL. 0, -EINVAL (a value refused),
 * -E2BIG (PKGDB_PKGS_MAX), -ENOMEM. */
int pkgdb_add(struct pkglist *l, const char *name, const char *version, const char *source,
	      const char *source_version, const char *arch);

/* Parses the text of a dpkg status file (len bytes, need not be NUL-terminated) and appends the
 * packages whose Status is "install ok installed". origin names the file in messages (may be
 * NULL). err (errlen bytes, may be NULL/0) gets a one-line reason on failure.
 * 0, -EINVAL (malformed: binary bytes, over-long line, missing Package/Version/Architecture in
 * an installed stanza, a duplicated Package/Version/Architecture/Source/Status field, a field
 * line without ':', bad characters in a kept value), -E2BIG (too many packages), -ENOMEM.
 * Tolerated: CRLF line ends (the CR is dropped), a missing newline at the end of the text. */
int pkgdb_read_dpkg(const char *text, size_t len, const char *origin, struct pkglist *out,
		    char *err, size_t errlen);

/* Reads every regular file of a distroless status.d/ directory (names starting with '.' and
 * ending in ".md5sums" skipped; sorted by name) as dpkg status text. Unlike the main status file,
 * a stanza there may lack Status (those files are plain control files); when present it must
 * say "install ok installed". Symbolic links are not followed. 0 or as pkgdb_read_dpkg(), plus
 * -ENOENT/-ENOTDIR/-EACCES from opening, -EFBIG for a file over PKGDB_FILE_MAX. */
int pkgdb_read_dpkg_dir(const char *status_d, struct pkglist *out, char *err, size_t errlen);

/* Parses an apk installed database (lib/apk/db/installed) and appends its packages (P: name,
 * V: version, A: arch, o: origin). Errors as pkgdb_read_dpkg(), e.g. a package without P: or V:,
 * a repeated P/V/A/o line, a line that is not "X:value". */
int pkgdb_read_apk(const char *text, size_t len, const char *origin, struct pkglist *out,
		   char *err, size_t errlen);

/* Reads the rpm database in directory dbdir (holding rpmdb.sqlite, a regular file, not a link)
 * through librpm and appends every package except gpg-pubkey entries; version is
 * "[epoch:]version-release" (epoch only when set and not 0). The database is copied into a
 * private directory under $TMPDIR (else /tmp) first, so nothing is written beside it; that costs
 * its size in temporary space (at most PKGDB_RPMDB_MAX). Only with GARRISON_HAVE_RPM; otherwise
 * -ENOTSUP. Calls are serialised; do not use librpm elsewhere in the same process at the same
 * time (its configuration and macros are process-wide). 0, -ENOENT (no rpmdb.sqlite), -EINVAL
 * (librpm cannot open or read it, a malformed header), -EFBIG, -E2BIG, -ENOMEM, -errno. */
int pkgdb_read_rpm_sqlite(const char *dbdir, struct pkglist *out, char *err, size_t errlen);

/* Parses os-release text and sets out->os_id, os_version_id, os_pretty_name and os_codename
 * (replacing earlier values; each is NULL when absent; PRETTY_NAME may hold spaces and
 * punctuation, the others are identifiers). Values are unquoted ("..." with \ escapes, or '...'); a value with
 * control bytes or over PKGDB_OS_MAX bytes is ignored. 0, -EINVAL (NUL byte), -ENOMEM. */
int pkgdb_os_release(const char *text, size_t len, struct pkglist *out);

/* Finds the databases that exist under the directory root and appends their packages: dpkg
 * status and status.d/, apk installed, rpm rpmdb.sqlite (when built with rpm support), and
 * reads etc/os-release (else usr/lib/os-release). Paths are resolved inside root: symbolic
 * links may point anywhere within root (absolute ones are taken relative to root) but never
 * lead out of it. Finding no database is not an error (0, empty list). Errors as the readers;
 * on error out is as before the call except the os fields. */
int pkgdb_scan_rootfs(const char *root, struct pkglist *out, char *err, size_t errlen);

#endif
