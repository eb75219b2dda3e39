/*
 * scan: the scan records of images and hosts, in the shape of Prisma Cloud Compute's
 * shared.ImageInfo (the fields we fill), built from the scanners: the image reader (image.h),
 * the package databases (pkgdb.h), the CIS compliance checks (compliance.h) and the
 * vulnerability matcher (vulndb.h).
 *
 * A record is complete without vulnerabilities: the Defender sends records with packages and
 * compliance only, and the Console (or the CLI with a local feed) adds the vulnerabilities with
 * scan_record_apply_vulndb(), from the packages stored in the record, so new vulnerability data
 * is applied without rescanning. The fields written:
 *   _id, id, osDistro (os-release ID), osDistroVersion (VERSION_ID), osDistroRelease
 *   (VERSION_CODENAME), distro (PRETTY_NAME), packageManager, packages ([{pkgsType "package",
 *   pkgs: [{name, version, originPackageName, osPackage, and Garrison's sourceVersion when the
 *   source package's version differs from the binary's}]}]), Secrets (paths),
 *   complianceIssues, complianceIssuesCount, complianceDistribution, scanTime (RFC 3339),
 *   layers (digests), and "garrison": {pkgKind "dpkg"|"apk"|"rpm"|"", pkgError, warnings,
 *   complianceResults (every check with its status), ...}: Garrison's own members, which
 *   Prisma's clients ignore.
 *   scan_record_apply_vulndb() adds vulnerabilities, vulnerabilitiesCount,
 *   vulnerabilityDistribution, and garrison.{ecosystem, vulnReason, feedVersion}.
 * Records received from a Defender are untrusted: scan_record_pkglist() checks every value.
 */
#ifndef GARRISON_SCAN_H
#define GARRISON_SCAN_H

#include <stddef.h>

#include <jansson.h>

#include <garrison/image.h>
#include <garrison/pkgdb.h>
#include <garrison/vulndb.h>

#define SCAN_RECORD_PKGS_MAX PKGDB_PKGS_MAX

/* The Prisma packages member of a package list (new reference, NULL on ENOMEM). */
json_t *scan_packages_json(const struct pkglist *l);

/* Sets the OS, package and scan-time members of record from l (replacing earlier ones).
 * 0 or -ENOMEM. */
int scan_record_set_packages(json_t *record, const struct pkglist *l);

/* Rebuilds the package list of a record (its packages, osDistro, osDistroVersion and
 * garrison.pkgKind) into out (zeroed or cleared by the caller; freed with pkglist_clear()).
 * Every name and version is checked as the package readers check them. 0, -EINVAL (a malformed
 * record; a reason in err), -E2BIG, -ENOMEM. */
int scan_record_pkglist(const json_t *record, struct pkglist *out, char *err, size_t errlen);

/* The record of an image read by the image reader: the members above, with the compliance
 * checks of section 4 run on its configuration and its secret files. New reference in *out.
 * 0, -ENOMEM. */
int scan_image_record(const struct image_scan_result *r, json_t **out);

/* The compliance record of a container from the engine's inspect answer (section 5): _id and id
 * (the container id), imageID, name, complianceIssues, complianceIssuesCount,
 * complianceDistribution, scanTime, garrison.complianceResults. 0, -EINVAL (not an inspect
 * answer), -ENOMEM. */
int scan_container_record(const json_t *inspect, json_t **out);

/* The record of a host whose root file system is at root ("/", "/proc/1/root"): packages from
 * pkgdb_scan_rootfs(), compliance sections 1-3 and 5.1 (docker_info, optional, is the engine's
 * GET /info). hostname becomes _id and hostname. 0, or a negative errno with a reason in err
 * (a malformed package database). */
int scan_host_record(const char *root, const char *hostname, const json_t *docker_info,
		     json_t **out, char *err, size_t errlen);

/* Adds the vulnerability members to record, matching its packages against db (NULL: an empty
 * result with garrison.vulnReason "no vulnerability data"). feed_version (may be NULL) is
 * recorded as garrison.feedVersion. 0, -EINVAL (malformed packages: reason in err, the record
 * gets vulnReason and no findings), -ENOMEM. */
int scan_record_apply_vulndb(json_t *record, const struct vulndb *db, const char *feed_version,
			     char *err, size_t errlen);

#endif
