/*
 * audit: the Defender's runtime audit records (Prisma's shared.RuntimeAudit), their throttling,
 * and a bounded on-disk spool that keeps them until the Console has acknowledged them.
 *
 * Throttling (struct audit_throttle): repeated audits of one attack type and effect, for one container of one model (image,
 * namespace, cluster) within a window are counted, not repeated: the first is emitted at once,
 * later ones only bump a counter, and when the window ends an update with the total count is
 * emitted (only when there were repeats).
 *
 * Spool (struct audit_spool): a directory of segment files and one state file. Each appended
 * record gets the next sequence number (monotonic across restarts); readers get records from any
 * sequence number in order; acknowledging up to a sequence number is durable (the state file is
 * replaced atomically and synced), so after a restart everything unacknowledged is read again.
 * Beyond a size bound the oldest segment is deleted; unacknowledged records lost that way are
 * counted (persisted). Each record is framed with its length and a CRC: a torn or corrupted record
 * (power loss, garbage) is detected, counted and skipped; reading resynchronises on the next good
 * frame. Not thread-safe: one thread owns a spool.
 */
#ifndef GARRISON_AUDIT_H
#define GARRISON_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Largest payload of one spooled record. */
#define AUDIT_RECORD_MAX (64 * 1024)

struct audit_record {
	uint64_t time_ns;      /* Unix epoch */
	char type[16];         /* processes, network, filesystem, kubernetes */
	char attack_type[48];
	char effect[16];       /* alert, prevent, block */
	char severity[8];      /* low, medium, high */
	char msg[512];
	char rule_name[256];
	char hostname[256];
	char cluster[256];
	char namespace_[256];
	char container_id[65];
	char container_name[256];
	char image_name[512];
	uint32_t pid;
	char process_path[256];
	char user[64];
	uint64_t count;        /* occurrences: a first audit's own (1, or more for a folded event), the
				* window's total for a throttle update */
	uint64_t first_ns;     /* a throttle update: the time of its window's first audit; else 0 */
};

/* The record as a JSON object with Prisma's member names (time as RFC 3339 with nanoseconds,
 * type, attackType, effect, severity, msg, ruleName, hostname, cluster, namespace, containerId,
 * containerName, imageName, pid, processPath, user, count, container: true when containerId is
 * set). New reference or NULL (out of memory). */
json_t *audit_record_to_json(const struct audit_record *r);
/* Fills *r from such an object (strings too long are errors; missing members are empty / 0; time
 * is read from "timeNs" when present, the exact value, else 0). 0 or -EINVAL with a sentence. */
int audit_record_from_json(const json_t *j, struct audit_record *r, char *err, size_t errlen);

/* ---- throttling ---- */

struct audit_throttle;

/* Called for every record to emit (the first of a window, or an update with its count). The
 * record is valid during the call only. */
typedef void (*audit_emit_fn)(const struct audit_record *r, void *arg);

/* A throttle with a window of window_ns, holding at most max_keys windows at once (0: 4096);
 * when full, the oldest window is closed early (its update emitted). 0 or -ENOMEM. */
int audit_throttle_new(uint64_t window_ns, size_t max_keys, audit_emit_fn emit, void *arg,
		       struct audit_throttle **out);
/* Flushes nothing; frees t. NULL is a no-op. Call audit_throttle_flush(t, UINT64_MAX) first to
 * emit pending updates. */
void audit_throttle_free(struct audit_throttle *t);
/* What makes audits the same for the throttle (NULL members are empty strings); hostname counts
 * only when image_name is empty (host audits). */
struct audit_key {
	const char *type, *attack_type, *effect, *container_id, *image_name, *namespace_, *cluster,
		*hostname;
};

/* The cheap path for a caller that has not built its record yet: when an open window has key k
 * at time_ns (windows that ended by then are closed first), counts n occurrences (0 counts as 1)
 * into it and returns 1; else returns 0 and the caller builds the record and offers it. Strings
 * longer than the record's fields compare as the record would hold them (cut). */
int audit_throttle_repeat(struct audit_throttle *t, const struct audit_key *k, uint64_t time_ns,
			 uint64_t n);
/* Offers r at r->time_ns, standing for r->count occurrences (0 counts as 1: an event the sensor
 * folded stands for several). Windows that ended by then are closed first (their updates
 * emitted). The first of a window is emitted at once with its own count; the window's update, at
 * its end, only when more occurred. Returns 1 when r was emitted (first of its window), 0 when it
 * was counted into a window, or -ENOMEM. */
int audit_throttle_offer(struct audit_throttle *t, const struct audit_record *r);
/* Closes every window that ended by now_ns (UINT64_MAX: all), emitting updates for those with
 * repeats. Returns the number of updates emitted. */
size_t audit_throttle_flush(struct audit_throttle *t, uint64_t now_ns);

/* ---- spool ---- */

struct audit_spool;

struct audit_spool_stats {
	uint64_t next_seq;   /* the sequence number the next append gets */
	uint64_t acked;      /* everything <= acked is acknowledged */
	uint64_t dropped;    /* unacknowledged records deleted by the size bound (persisted) */
	uint64_t corrupt;    /* torn or corrupted frames skipped since open */
	uint64_t bytes;      /* bytes in segment files */
	size_t segments;
};

/* Opens (creating it, mode 0700) the spool in dir, bounded to max_bytes of segments (at least
 * 4096; a segment is max_bytes/8, at least 1024 bytes). Scans the segments: a torn last record is
 * cut off. 0 and *out, or a negative errno with a sentence in err naming the path. */
int audit_spool_open(const char *dir, uint64_t max_bytes, struct audit_spool **out, char *err,
		     size_t errlen);
/* Closes sp. NULL is a no-op. */
void audit_spool_close(struct audit_spool *sp);
/* Appends one record (len 1..AUDIT_RECORD_MAX bytes) and returns its sequence number in *seq
 * (may be NULL). May delete the oldest segment to stay in bound. 0, -EINVAL (size), or -errno of
 * a write. The data reaches the file system at once but is not synced: a power loss can tear the
 * last records, which the next open cuts off. */
int audit_spool_append(struct audit_spool *sp, const void *data, size_t len, uint64_t *seq);
/* The record as JSON (audit_record_to_json plus "timeNs"), appended. */
int audit_spool_append_record(struct audit_spool *sp, const struct audit_record *r, uint64_t *seq);

/* Called for each record read; return nonzero to stop. */
typedef int (*audit_read_fn)(uint64_t seq, const void *data, size_t len, void *arg);
/* Reads records with sequence number >= from (0: from the oldest unacknowledged), in order, at
 * most max of them (0: no limit), calling fn for each. Returns the number read or -errno. */
ssize_t audit_spool_read(struct audit_spool *sp, uint64_t from, size_t max, audit_read_fn fn, void *arg);
/* Acknowledges every record up to seq (clamped to the last appended; lower than the current ack
 * is a no-op), durably; deletes segments that hold only acknowledged records. 0 or -errno. */
int audit_spool_ack(struct audit_spool *sp, uint64_t seq);
/* Counters. */
void audit_spool_stats(const struct audit_spool *sp, struct audit_spool_stats *st);

#endif
