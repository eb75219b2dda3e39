/*
 * version.h: package version ordering for the three ecosystems the scanner meets: dpkg (Debian,
 * Ubuntu), rpm (RHEL, Fedora, Mariner, SUSE) and apk (Alpine). Each comparison follows the
 * ecosystem's own tool: `dpkg --compare-versions`, rpm's rpm.vercmp (rpmverCmp) and apk-tools.
 * docs/versions.md states the rules and where we knowingly differ. Pure functions: no allocation,
 * no global state, safe from any thread.
 */
#ifndef GARRISON_VERSION_H
#define GARRISON_VERSION_H

/* Longest version string accepted, in bytes (without the NUL). Longer input is -EINVAL. */
#define VERSION_MAX 256

enum version_kind { VERSION_DPKG, VERSION_RPM, VERSION_APK };

/*
 * Compares a and b in the order of ecosystem k and stores <0, 0 or >0 in *result (always -1, 0
 * or 1). Returns 0, or -EINVAL when k is unknown, an argument is NULL, or a or b is not a valid
 * version of that kind (see version_valid); *result is then left untouched.
 */
int version_compare(enum version_kind k, const char *a, const char *b, int *result);

/*
 * Returns 0 when v is a valid version of kind k, else -EINVAL with, when why is not NULL, *why
 * set to a static English reason. Common to all kinds: 1..VERSION_MAX bytes, printable ASCII
 * without spaces.
 *   dpkg: [epoch:]upstream[-revision]; epoch digits <= INT_MAX; upstream and revision (when a
 *         '-' is present) non-empty. Like dpkg, other characters and an upstream that does not
 *         start with a digit are only warnings: they are accepted and compared.
 *   rpm:  [epoch:]version[-release]; epoch digits, version and release non-empty.
 *   apk:  the apk-tools grammar: digits{.digits}[letter]{_suffix[digits]}[~hexhash][-rdigits],
 *         suffix one of alpha beta pre rc cvs svn git hg p.
 */
int version_valid(enum version_kind k, const char *v, const char **why);

#endif
