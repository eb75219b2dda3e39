/*
 * scanreport: the parts of a scan result that every consumer shares, on the Prisma-shaped JSON
 * records (vuln.Vulnerability: cve/id, severity, cvss, packageName, packageVersion, status, ...):
 * severity ranks, the distributions ({critical, high, medium, low, total}), threshold checks,
 * and the twistcli output document (`garrison images scan --output-file`).
 *
 * Severities are Prisma's words: critical, high (also "important"), medium (also "moderate"),
 * low; anything else (unknown, negligible, empty) counts in total only and never exceeds a
 * threshold. All functions take borrowed references and never keep them.
 */
#ifndef GARRISON_SCANREPORT_H
#define GARRISON_SCANREPORT_H

#include <jansson.h>

enum scan_sev { SCAN_SEV_NONE = 0, SCAN_SEV_LOW, SCAN_SEV_MEDIUM, SCAN_SEV_HIGH, SCAN_SEV_CRITICAL };

/* The rank of a severity word (case-insensitive); SCAN_SEV_NONE for NULL or an unknown word. */
enum scan_sev scanreport_sev(const char *word);

/* The canonical word of a rank: "critical", "high", "medium", "low", or "unknown". */
const char *scanreport_sev_name(enum scan_sev s);

/* Parses a threshold option: a severity word, or "off"/"none" (never exceeded). 0 and *out set,
 * -EINVAL for anything else. SCAN_SEV_NONE in *out means off. */
int scanreport_parse_threshold(const char *word, enum scan_sev *out);

/* {critical, high, medium, low, total} of an array of records with a "severity" field (new
 * reference; NULL on ENOMEM). A NULL or non-array items gives all zeros. */
json_t *scanreport_distribution(const json_t *items);

/* 1 when an item of items has a severity at or above threshold (threshold SCAN_SEV_NONE: 0). */
int scanreport_exceeds(const json_t *items, enum scan_sev threshold);

/* The twistcli output document for one scanned image: {"results": [{id, name, distro,
 * distroRelease, digest, collections, packages, applications, compliances,
 * complianceDistribution, complianceScanPassed, vulnerabilities, vulnerabilityDistribution,
 * vulnerabilityScanPassed, history, scanTime, scanID}], "consoleURL": ...}. image is the
 * Prisma-shaped image record (shared.ImageInfo fields: _id/id, repoTag, osDistro,
 * osDistroRelease, distro, packages, vulnerabilities, complianceIssues, ...). vuln_pass and
 * comp_pass are the threshold results; console_url may be NULL. New reference, NULL on ENOMEM. */
json_t *scanreport_twistcli(const json_t *image, const char *name, int vuln_pass, int comp_pass,
			    const char *console_url);

#endif
