/*
 * scans: vulnerability data and scan results in the Console (docs/scanning.md).
 *
 * The vulnerability data is one database (lib/vulndb.h) built from the OSV records the operator
 * imported (PUT /api/v1/feeds/osv, `garrison feed import`); its canonical text is kept in
 * <data_dir>/feed/osv.json and its version, record count and import time in the store's meta
 * table, so a restarted Console has the same data. A new import is merged with what is held
 * (same id: the later `modified` wins), stored, swapped in atomically for readers, and then every
 * stored image and host result is re-evaluated against it on a worker thread: no rescan.
 *
 * Scan records come from Defenders (hub: "scan" / "scan-removed" messages) and from the CLI
 * (images/evaluate, scans). Records of images and hosts get their vulnerabilities here, from the
 * packages they carry, before they are stored; containers carry compliance only (their
 * vulnerabilities are their image's). Every write of a record goes through one lock, so a
 * re-evaluation never overwrites a newer record with an older one.
 *
 * Thread-safety: every function may be called from the API thread, the hub thread and the
 * worker at once.
 */
#ifndef GARRISON_CONSOLE_SCANS_H
#define GARRISON_CONSOLE_SCANS_H

#include <jansson.h>

#include "console.h"

#define SCANS_FEED_MAX (512u << 20)     /* largest stored feed text */
#define SCANS_RECORD_MAX (16u << 20)    /* largest record accepted */

/* Loads the stored feed (if any) and prepares the module. 0, or a negative errno (a stored feed
 * that no longer parses is logged and ignored: the Console then starts without data). */
int scans_init(struct console *c);
/* Waits for a re-evaluation under way and frees everything. */
void scans_shutdown(struct console *c);

/* A record from a Defender (hub thread): kind "image", "container" or "host"; id the image id,
 * container id or (for host) NULL = hostname. Validated, vulnerabilities applied (image, host),
 * stored. 0, -EINVAL (with a reason in err), -ENOMEM, store errors. */
int scans_defender_record(struct console *c, const char *hostname, const char *kind, const char *id,
			  json_t *record, char *err, size_t errlen);
/* A container or image a Defender no longer has: its container record is deleted (image
 * records stay: other nodes may hold the same image). */
int scans_defender_removed(struct console *c, const char *hostname, const char *kind, const char *id);

/* Applies the current vulnerability data to record in place (POST images/evaluate). 0, -EINVAL
 * (malformed packages: reason in err), -ENOMEM. */
int scans_evaluate(struct console *c, json_t *record, char *err, size_t errlen);

/* Merges the stored scan results into an API entry:
 *   kind "image": entry gets the image record's members (vulnerabilities, packages, OS, ...);
 *   kind "host": the host record's members;
 *   kind "container": entry->info gets the container's compliance members and, from its image
 *   (image_id), vulnerabilitiesCount and vulnerabilityDistribution.
 * Members the entry already has from the inventory (e.g. _id, hostname) are kept. Nothing is
 * merged when no record exists. */
void scans_merge(struct console *c, const char *kind, const char *id, const char *image_id,
		 json_t *entry);

/* Imports OSV records (a JSON array, borrowed): merged with the held data, stored, swapped in,
 * re-evaluation started. *answer: {"records", "dataVersion", "imported", "rejected",
 * "firstError", "importTime"} (new reference). 0, -EINVAL (reason in err), -EFBIG, -ENOMEM. */
int scans_feed_import(struct console *c, const json_t *records, json_t **answer, char *err,
		      size_t errlen);
/* {"records", "dataVersion", "importTime", "reevaluating"} of the held data (new reference). */
json_t *scans_feed_info(struct console *c);

#endif
