/*
 * audit: runtime audit records, throttling and the on-disk spool; see audit.h for the contract
 * and docs/runtime.md for the design.
 *
 * Spool layout: <dir>/seg-<first seq, 16 hex>.log holds frames
 *     magic "GAUD" | u32 len | u64 seq | u32 crc32(len, seq, payload) | payload     (little endian)
 * and <dir>/state holds "acked N\ndropped N\n", replaced atomically (write, fsync, rename, fsync
 * of the directory). Segment files are untrusted on open: sizes are bounded, every frame is
 * checked, a bad region is skipped by searching for the next frame whose CRC holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <garrison/log.h>
#include <garrison/util.h>

#include "audit.h"

/* ---- records ---- */

json_t *audit_record_to_json(const struct audit_record *r)
{
	char when[64], tbuf[32];
	time_t secs = (time_t)(r->time_ns / 1000000000u);
	struct tm tm;

	if (gmtime_r(&secs, &tm) == NULL || strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		snprintf(tbuf, sizeof(tbuf), "1970-01-01T00:00:00");
	snprintf(when, sizeof(when), "%s.%09" PRIu64 "Z", tbuf, r->time_ns % 1000000000u);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:I,s:b}",
			 "time", when, "type", r->type, "attackType", r->attack_type, "effect",
			 r->effect, "severity", r->severity, "msg", r->msg, "ruleName", r->rule_name,
			 "hostname", r->hostname, "cluster", r->cluster, "namespace", r->namespace_,
			 "containerId", r->container_id, "containerName", r->container_name,
			 "imageName", r->image_name, "pid", (json_int_t)r->pid, "processPath",
			 r->process_path, "user", r->user, "count", (json_int_t)r->count, "container",
			 r->container_id[0] != 0);
}

static int get_str(const json_t *j, const char *key, char *out, size_t size, char *err, size_t errlen)
{
	json_t *v = json_object_get(j, key);
	const char *s;

	out[0] = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	s = json_string_value(v);
	if (s == NULL || strlen(s) >= size) {
		snprintf(err, errlen, "audit record: %s: not a string of at most %zu bytes", key, size - 1);
		return -EINVAL;
	}
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int get_uint(const json_t *j, const char *key, uint64_t max, uint64_t *out, char *err,
		    size_t errlen)
{
	json_t *v = json_object_get(j, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max) {
		snprintf(err, errlen, "audit record: %s: not an integer in 0..%" PRIu64, key, max);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int audit_record_from_json(const json_t *j, struct audit_record *r, char *err, size_t errlen)
{
	char dummy[8];
	uint64_t pid;
	int rc;

	if (err == NULL) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	memset(r, 0, sizeof(*r));
	if (!json_is_object(j)) {
		snprintf(err, errlen, "audit record: not an object");
		return -EINVAL;
	}
	if ((rc = get_str(j, "type", r->type, sizeof(r->type), err, errlen)) < 0 ||
	    (rc = get_str(j, "attackType", r->attack_type, sizeof(r->attack_type), err, errlen)) < 0 ||
	    (rc = get_str(j, "effect", r->effect, sizeof(r->effect), err, errlen)) < 0 ||
	    (rc = get_str(j, "severity", r->severity, sizeof(r->severity), err, errlen)) < 0 ||
	    (rc = get_str(j, "msg", r->msg, sizeof(r->msg), err, errlen)) < 0 ||
	    (rc = get_str(j, "ruleName", r->rule_name, sizeof(r->rule_name), err, errlen)) < 0 ||
	    (rc = get_str(j, "hostname", r->hostname, sizeof(r->hostname), err, errlen)) < 0 ||
	    (rc = get_str(j, "cluster", r->cluster, sizeof(r->cluster), err, errlen)) < 0 ||
	    (rc = get_str(j, "namespace", r->namespace_, sizeof(r->namespace_), err, errlen)) < 0 ||
	    (rc = get_str(j, "containerId", r->container_id, sizeof(r->container_id), err, errlen)) < 0 ||
	    (rc = get_str(j, "containerName", r->container_name, sizeof(r->container_name), err, errlen)) < 0 ||
	    (rc = get_str(j, "imageName", r->image_name, sizeof(r->image_name), err, errlen)) < 0 ||
	    (rc = get_str(j, "processPath", r->process_path, sizeof(r->process_path), err, errlen)) < 0 ||
	    (rc = get_str(j, "user", r->user, sizeof(r->user), err, errlen)) < 0 ||
	    (rc = get_uint(j, "pid", UINT32_MAX, &pid, err, errlen)) < 0 ||
	    (rc = get_uint(j, "count", UINT64_MAX >> 1, &r->count, err, errlen)) < 0 ||
	    (rc = get_uint(j, "timeNs", INT64_MAX, &r->time_ns, err, errlen)) < 0 ||
	    (rc = get_uint(j, "firstTimeNs", INT64_MAX, &r->first_ns, err, errlen)) < 0)
		return rc;
	r->pid = (uint32_t)pid;
	return 0;
}

/* ---- throttling ---- */

/* One open window. Windows are on a list in the order they opened (the oldest is closed first
 * when the throttle is full) and in a hash table on their key, chained. */
struct window {
	struct window *prev, *next; /* opening order */
	struct window *chain;       /* same bucket */
	uint64_t hash;
	uint64_t start, last;
	uint64_t count;   /* occurrences in the window */
	uint64_t emitted; /* the count the first record said */
	struct audit_record rec;
};

struct audit_throttle {
	uint64_t window_ns;
	size_t max, n;
	audit_emit_fn emit;
	void *arg;
	struct window *head, *tail;
	struct window **buckets;
	size_t nbuckets; /* a power of two */
	/* No window ends before this: a flush with an earlier time has nothing to close, so an
	 * offer costs one hash lookup, not a walk over every window. */
	uint64_t next_end;
};

/* The key's parts: one model (image, namespace, cluster; the host for host audits), one attack
 * type, one effect, one container. Audits that differ in what was done, or where, are never
 * merged (a prevent in one container must not hide a block in another). */
#define KEY_PARTS 8

static void key_parts(const struct audit_key *k, const char *p[KEY_PARTS])
{
	p[0] = k->type;
	p[1] = k->attack_type;
	p[2] = k->effect;
	p[3] = k->container_id;
	p[4] = k->image_name;
	p[5] = k->namespace_;
	p[6] = k->cluster;
	p[7] = k->image_name && k->image_name[0] ? "" : k->hostname;
	for (int i = 0; i < KEY_PARTS; i++)
		if (p[i] == NULL)
			p[i] = "";
}

static void record_key(const struct audit_record *r, struct audit_key *k)
{
	k->type = r->type;
	k->attack_type = r->attack_type;
	k->effect = r->effect;
	k->container_id = r->container_id;
	k->image_name = r->image_name;
	k->namespace_ = r->namespace_;
	k->cluster = r->cluster;
	k->hostname = r->hostname;
}

/* The record's field size of each part. */
static const size_t key_size[KEY_PARTS] = {
	sizeof(((struct audit_record *)0)->type), sizeof(((struct audit_record *)0)->attack_type),
	sizeof(((struct audit_record *)0)->effect), sizeof(((struct audit_record *)0)->container_id),
	sizeof(((struct audit_record *)0)->image_name), sizeof(((struct audit_record *)0)->namespace_),
	sizeof(((struct audit_record *)0)->cluster), sizeof(((struct audit_record *)0)->hostname),
};

/* FNV-1a over the parts as the record holds them (cut to its field sizes), each ended by 0x1f. */
static uint64_t key_hash(const char *const p[KEY_PARTS])
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < KEY_PARTS; i++) {
		const unsigned char *c = (const unsigned char *)p[i];
		for (size_t j = 0; j + 1 < key_size[i] && c[j]; j++)
			h = (h ^ c[j]) * 1099511628211ull;
		h = (h ^ 0x1f) * 1099511628211ull;
	}
	return h;
}

/* Whether window w has the key of parts p. Parts compare as the record holds them: cut to its
 * field sizes (a caller's longer string matches its cut copy). */
static int key_equal(const struct window *w, const char *const p[KEY_PARTS])
{
	struct audit_key k;
	const char *q[KEY_PARTS];

	record_key(&w->rec, &k);
	key_parts(&k, q);
	for (int i = 0; i < KEY_PARTS; i++)
		if (strncmp(p[i], q[i], key_size[i] - 1) != 0)
			return 0;
	return 1;
}

int audit_throttle_new(uint64_t window_ns, size_t max_keys, audit_emit_fn emit, void *arg,
		       struct audit_throttle **out)
{
	struct audit_throttle *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (t == NULL)
		return -ENOMEM;
	t->window_ns = window_ns;
	t->max = max_keys ? max_keys : 4096;
	t->emit = emit;
	t->arg = arg;
	t->nbuckets = 16;
	while (t->nbuckets < t->max * 2 && t->nbuckets < ((size_t)1 << 30))
		t->nbuckets <<= 1;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (t->buckets == NULL) {
		free(t);
		return -ENOMEM;
	}
	t->next_end = UINT64_MAX;
	*out = t;
	return 0;
}

void audit_throttle_free(struct audit_throttle *t)
{
	if (t == NULL)
		return;
	for (struct window *w = t->head, *n; w != NULL; w = n) {
		n = w->next;
		free(w);
	}
	free(t->buckets);
	free(t);
}

/* Closes w: emits its update when it saw repeats, unlinks and frees it. */
static int window_close(struct audit_throttle *t, struct window *w)
{
	struct window **pp = &t->buckets[w->hash & (t->nbuckets - 1)];
	int emitted = 0;

	if (w->count > w->emitted) {
		w->rec.count = w->count;
		w->rec.first_ns = w->start;
		w->rec.time_ns = w->last;
		t->emit(&w->rec, t->arg);
		emitted = 1;
	}
	while (*pp != w)
		pp = &(*pp)->chain;
	*pp = w->chain;
	if (w->prev)
		w->prev->next = w->next;
	else
		t->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		t->tail = w->prev;
	t->n--;
	free(w);
	return emitted;
}

size_t audit_throttle_flush(struct audit_throttle *t, uint64_t now_ns)
{
	size_t emitted = 0;
	uint64_t next = UINT64_MAX;

	if (now_ns != UINT64_MAX && now_ns < t->next_end)
		return 0;
	for (struct window *w = t->head, *n; w != NULL; w = n) {
		n = w->next;
		uint64_t end = w->start + t->window_ns < w->start ? UINT64_MAX : w->start + t->window_ns;
		if (now_ns == UINT64_MAX || end <= now_ns)
			emitted += (size_t)window_close(t, w);
		else if (end < next)
			next = end;
	}
	t->next_end = next;
	return emitted;
}

static struct window *window_find(struct audit_throttle *t, const char *const p[KEY_PARTS], uint64_t h)
{
	for (struct window *w = t->buckets[h & (t->nbuckets - 1)]; w != NULL; w = w->chain)
		if (w->hash == h && key_equal(w, p))
			return w;
	return NULL;
}

static void window_count(struct window *w, uint64_t time_ns, uint64_t n)
{
	w->count = w->count + n < w->count ? UINT64_MAX : w->count + n;
	if (time_ns > w->last)
		w->last = time_ns;
}

int audit_throttle_repeat(struct audit_throttle *t, const struct audit_key *k, uint64_t time_ns,
			 uint64_t n)
{
	const char *p[KEY_PARTS];
	struct window *w;

	audit_throttle_flush(t, time_ns);
	key_parts(k, p);
	w = window_find(t, p, key_hash(p));
	if (w == NULL)
		return 0;
	window_count(w, time_ns, n ? n : 1);
	return 1;
}

int audit_throttle_offer(struct audit_throttle *t, const struct audit_record *r)
{
	const char *p[KEY_PARTS];
	struct audit_key k;
	struct window *w;
	struct audit_record first;
	uint64_t h, end;

	audit_throttle_flush(t, r->time_ns);
	record_key(r, &k);
	key_parts(&k, p);
	h = key_hash(p);
	if ((w = window_find(t, p, h)) != NULL) {
		window_count(w, r->time_ns, r->count ? r->count : 1);
		return 0;
	}
	if (t->n == t->max)
		window_close(t, t->head);
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->hash = h;
	w->start = w->last = r->time_ns;
	w->count = w->emitted = r->count ? r->count : 1;
	w->rec = *r;
	w->chain = t->buckets[h & (t->nbuckets - 1)];
	t->buckets[h & (t->nbuckets - 1)] = w;
	w->prev = t->tail;
	if (t->tail)
		t->tail->next = w;
	else
		t->head = w;
	t->tail = w;
	t->n++;
	end = w->start + t->window_ns < w->start ? UINT64_MAX : w->start + t->window_ns;
	if (end < t->next_end)
		t->next_end = end;
	first = *r;
	first.count = w->count;
	t->emit(&first, t->arg);
	return 1;
}

/* ---- spool ---- */

#define FRAME_MAGIC "GAUD"
#define FRAME_HDR 20
#define SEG_MAX_CAP (4u << 20)

struct seg {
	uint64_t first, last, size, nrec;
};

struct audit_spool {
	char dir[400];
	uint64_t max_bytes, seg_max;
	struct seg *segs;
	size_t nsegs, cap;
	int fd; /* the last segment, open for appending, or -1 */
	uint64_t next_seq, acked, dropped, corrupt;
};

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t frame_crc(const uint8_t *hdr, const uint8_t *payload, uint32_t len)
{
	uint32_t c = crc32_update(0, hdr + 4, 12);

	return crc32_update(c, payload, len);
}

/* Calls fn for each good frame of buf with seq > min_seq (in order, increasing seqs only);
 * returns the end of the last good frame; *bad counts bad regions. fn returns nonzero to stop. */
static size_t scan_frames(const uint8_t *buf, size_t len, uint64_t min_seq, uint64_t *bad,
			  int (*fn)(uint64_t, const uint8_t *, uint32_t, void *), void *arg)
{
	size_t pos = 0, good_end = 0;
	uint64_t prev = min_seq;
	int in_bad = 0;

	while (pos < len) {
		const uint8_t *h = buf + pos;
		uint32_t plen;
		uint64_t seq;

		if (len - pos >= FRAME_HDR && memcmp(h, FRAME_MAGIC, 4) == 0) {
			plen = get32(h + 4);
			seq = get64(h + 8);
			if (plen > 0 && plen <= AUDIT_RECORD_MAX && len - pos - FRAME_HDR >= plen &&
			    frame_crc(h, h + FRAME_HDR, plen) == get32(h + 16) && seq > prev) {
				in_bad = 0;
				prev = seq;
				pos += FRAME_HDR + plen;
				good_end = pos;
				if (fn && fn(seq, h + FRAME_HDR, plen, arg))
					return good_end;
				continue;
			}
		}
		if (!in_bad && bad)
			(*bad)++;
		in_bad = 1;
		const uint8_t *next = memmem(buf + pos + 1, len - pos - 1, FRAME_MAGIC, 4);
		pos = next ? (size_t)(next - buf) : len;
	}
	return good_end;
}

static void seg_path(const struct audit_spool *sp, uint64_t first, char *out, size_t size)
{
	snprintf(out, size, "%s/seg-%016" PRIx64 ".log", sp->dir, first);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

static int state_write(struct audit_spool *sp)
{
	char path[512], tmp[512], text[96];
	int fd = -1, r;
	int n = snprintf(text, sizeof(text), "acked %" PRIu64 "\ndropped %" PRIu64 "\n", sp->acked,
			 sp->dropped);

	snprintf(path, sizeof(path), "%s/state", sp->dir);
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", sp->dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
		r = errno ? -errno : -EIO;
		goto fail;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_dir(sp->dir);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}

static void state_read(struct audit_spool *sp)
{
	char path[512], *text = NULL, *p, *end;
	size_t len;

	snprintf(path, sizeof(path), "%s/state", sp->dir);
	if (util_read_file(path, 256, &text, &len) != 0)
		return;
	/* A malformed state file is ignored: at worst unacknowledged records are sent again. */
	p = strstr(text, "acked ");
	if (p) {
		errno = 0;
		unsigned long long v = strtoull(p + 6, &end, 10);
		if (errno == 0 && end != p + 6)
			sp->acked = v;
	}
	p = strstr(text, "dropped ");
	if (p) {
		errno = 0;
		unsigned long long v = strtoull(p + 8, &end, 10);
		if (errno == 0 && end != p + 8)
			sp->dropped = v;
	}
	free(text);
}

static int seg_cmp(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

struct scan_acc {
	uint64_t first, last, n;
};

static int acc_frame(uint64_t seq, const uint8_t *p, uint32_t len, void *arg)
{
	struct scan_acc *a = arg;

	if (a->n == 0)
		a->first = seq;
	a->last = seq;
	a->n++;
	return 0;
}

static int read_seg(const struct audit_spool *sp, uint64_t first, uint8_t **buf, size_t *len)
{
	char path[512];

	seg_path(sp, first, path, sizeof(path));
	return util_read_file(path, SEG_MAX_CAP + AUDIT_RECORD_MAX + FRAME_HDR + 1, (char **)buf, len);
}

static void seg_remove(struct audit_spool *sp, size_t i)
{
	char path[512];

	seg_path(sp, sp->segs[i].first, path, sizeof(path));
	unlink(path);
	if (i == sp->nsegs - 1 && sp->fd >= 0) {
		close(sp->fd);
		sp->fd = -1;
	}
	memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
	sp->nsegs--;
}

static int seg_push(struct audit_spool *sp, struct seg s)
{
	if (sp->nsegs == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 16;
		struct seg *n = realloc(sp->segs, cap * sizeof(*n));
		if (n == NULL)
			return -ENOMEM;
		sp->segs = n;
		sp->cap = cap;
	}
	sp->segs[sp->nsegs++] = s;
	return 0;
}

int audit_spool_open(const char *dir, uint64_t max_bytes, struct audit_spool **out, char *err,
		     size_t errlen)
{
	struct audit_spool *sp = NULL;
	DIR *d = NULL;
	struct dirent *de;
	char dummy[8], path[512];
	int r;

	if (err == NULL) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	*out = NULL;
	if (dir == NULL || strlen(dir) >= 300 || max_bytes < 4096) {
		snprintf(err, errlen, "audit spool: bad directory or size bound");
		return -EINVAL;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	sp->fd = -1;
	snprintf(sp->dir, sizeof(sp->dir), "%s", dir);
	sp->max_bytes = max_bytes;
	sp->seg_max = max_bytes / 8 < 1024 ? 1024 : max_bytes / 8 > SEG_MAX_CAP ? SEG_MAX_CAP : max_bytes / 8;
	if ((r = util_mkdirs(dir, 0700)) < 0) {
		snprintf(err, errlen, "audit spool: %s: cannot create: %s", dir, strerror(-r));
		goto fail;
	}
	state_read(sp);
	d = opendir(dir);
	if (d == NULL) {
		r = -errno;
		snprintf(err, errlen, "audit spool: %s: %s", dir, strerror(errno));
		goto fail;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		char *end;
		if (strncmp(n, "seg-", 4) != 0 || strlen(n) != 4 + 16 + 4 || strcmp(n + 20, ".log") != 0)
			continue;
		errno = 0;
		unsigned long long first = strtoull(n + 4, &end, 16);
		if (errno != 0 || end != n + 20 || first == 0)
			continue;
		if ((r = seg_push(sp, (struct seg){ .first = first })) < 0)
			goto fail;
	}
	closedir(d);
	d = NULL;
	if (sp->nsegs > 1)
		qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), seg_cmp);
	uint64_t prev = 0;
	for (size_t i = 0; i < sp->nsegs;) {
		struct seg *s = &sp->segs[i];
		struct scan_acc acc = { 0 };
		uint8_t *buf = NULL;
		size_t len = 0, good;

		seg_path(sp, s->first, path, sizeof(path));
		r = read_seg(sp, s->first, &buf, &len);
		if (r < 0) {
			log_warn("audit spool: %s: unreadable (%s), removed", path, strerror(-r));
			seg_remove(sp, i);
			continue;
		}
		good = scan_frames(buf, len, prev, &sp->corrupt, acc_frame, &acc);
		free(buf);
		if (acc.n == 0 || acc.last <= sp->acked) {
			if (acc.n == 0 && len > 0)
				log_warn("audit spool: %s: no valid record, removed", path);
			seg_remove(sp, i);
			continue;
		}
		if (good < len && i == sp->nsegs - 1) {
			/* A torn tail (power loss): cut it so appends continue on a clean frame. */
			log_warn("audit spool: %s: %zu bytes of a torn record cut off", path, len - good);
			if (truncate(path, (off_t)good) < 0) {
				r = -errno;
				snprintf(err, errlen, "audit spool: %s: %s", path, strerror(errno));
				goto fail;
			}
			len = good;
		}
		s->last = acc.last;
		s->nrec = acc.n;
		s->size = len;
		prev = acc.last;
		i++;
	}
	sp->next_seq = (prev > sp->acked ? prev : sp->acked) + 1;
	*out = sp;
	return 0;
fail:
	if (d)
		closedir(d);
	audit_spool_close(sp);
	return r;
}

void audit_spool_close(struct audit_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);
	free(sp->segs);
	free(sp);
}

static uint64_t spool_bytes(const struct audit_spool *sp)
{
	uint64_t b = 0;

	for (size_t i = 0; i < sp->nsegs; i++)
		b += sp->segs[i].size;
	return b;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int audit_spool_append(struct audit_spool *sp, const void *data, size_t len, uint64_t *seq)
{
	uint8_t hdr[FRAME_HDR];
	char path[512];
	struct seg *cur;
	int r;

	if (len == 0 || len > AUDIT_RECORD_MAX)
		return -EINVAL;
	cur = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;
	if (cur == NULL || cur->size + FRAME_HDR + len > sp->seg_max) {
		if (sp->fd >= 0) {
			fdatasync(sp->fd);
			close(sp->fd);
			sp->fd = -1;
		}
		if ((r = seg_push(sp, (struct seg){ .first = sp->next_seq, .last = sp->next_seq - 1 })) < 0)
			return r;
		cur = &sp->segs[sp->nsegs - 1];
	}
	if (sp->fd < 0) {
		seg_path(sp, cur->first, path, sizeof(path));
		sp->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (sp->fd < 0) {
			r = -errno;
			if (cur->nrec == 0)
				sp->nsegs--;
			return r;
		}
	}
	memcpy(hdr, FRAME_MAGIC, 4);
	put32(hdr + 4, (uint32_t)len);
	put64(hdr + 8, sp->next_seq);
	put32(hdr + 16, frame_crc(hdr, data, (uint32_t)len));
	/* One buffer, one write: a crash leaves at most a torn tail, never an interleaving. */
	uint8_t *frame = malloc(FRAME_HDR + len);
	if (frame == NULL)
		return -ENOMEM;
	memcpy(frame, hdr, FRAME_HDR);
	memcpy(frame + FRAME_HDR, data, len);
	r = write_all(sp->fd, frame, FRAME_HDR + len);
	free(frame);
	if (r < 0) {
		/* Cut what may have been written so the segment stays clean. */
		seg_path(sp, cur->first, path, sizeof(path));
		if (truncate(path, (off_t)cur->size) < 0)
			log_warn("audit spool: %s: cannot cut a failed write", path);
		return r;
	}
	cur->size += FRAME_HDR + len;
	cur->last = sp->next_seq;
	cur->nrec++;
	if (seq)
		*seq = sp->next_seq;
	sp->next_seq++;
	/* The bound: delete the oldest segments, counting what was not acknowledged. */
	int dropped_any = 0;
	while (sp->nsegs > 1 && spool_bytes(sp) > sp->max_bytes) {
		struct seg *o = &sp->segs[0];
		if (o->last > sp->acked) {
			uint64_t from = o->first > sp->acked ? o->first : sp->acked + 1;
			uint64_t n = o->last - from + 1;
			sp->dropped += n < o->nrec ? n : o->nrec;
			dropped_any = 1;
		}
		seg_remove(sp, 0);
	}
	if (dropped_any && (r = state_write(sp)) < 0)
		log_warn("audit spool: %s: cannot write the state: %s", sp->dir, strerror(-r));
	return 0;
}

int audit_spool_append_record(struct audit_spool *sp, const struct audit_record *rec, uint64_t *seq)
{
	json_t *j = audit_record_to_json(rec);
	char *text = NULL;
	int r = -ENOMEM;

	if (j == NULL || json_object_set_new(j, "timeNs", json_integer((json_int_t)rec->time_ns)) != 0 ||
	    (rec->first_ns != 0 &&
	     json_object_set_new(j, "firstTimeNs", json_integer((json_int_t)rec->first_ns)) != 0))
		goto fail;
	text = json_dumps(j, JSON_COMPACT);
	if (text == NULL)
		goto fail;
	r = audit_spool_append(sp, text, strlen(text), seq);
fail:
	free(text);
	json_decref(j);
	return r;
}

struct read_ctx {
	uint64_t from;
	size_t max, n;
	audit_read_fn fn;
	void *arg;
	int stop;
};

static int read_frame(uint64_t seq, const uint8_t *p, uint32_t len, void *arg)
{
	struct read_ctx *c = arg;

	if (seq < c->from)
		return 0;
	c->n++;
	if (c->fn(seq, p, len, c->arg) || (c->max && c->n >= c->max)) {
		c->stop = 1;
		return 1;
	}
	return 0;
}

ssize_t audit_spool_read(struct audit_spool *sp, uint64_t from, size_t max, audit_read_fn fn, void *arg)
{
	struct read_ctx c = { .from = from ? from : sp->acked + 1, .max = max, .fn = fn, .arg = arg };
	uint64_t prev = 0;

	for (size_t i = 0; i < sp->nsegs && !c.stop; i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		int r;

		if (sp->segs[i].last < c.from || sp->segs[i].nrec == 0) {
			prev = sp->segs[i].last;
			continue;
		}
		r = read_seg(sp, sp->segs[i].first, &buf, &len);
		if (r < 0)
			return r;
		/* Only what was there at open or appended since: bytes beyond are not ours. */
		if (len > sp->segs[i].size)
			len = sp->segs[i].size;
		scan_frames(buf, len, prev, NULL, read_frame, &c);
		free(buf);
		prev = sp->segs[i].last;
	}
	return (ssize_t)c.n;
}

int audit_spool_ack(struct audit_spool *sp, uint64_t seq)
{
	uint64_t old = sp->acked;
	int r;

	if (seq >= sp->next_seq)
		seq = sp->next_seq - 1;
	if (seq <= sp->acked)
		return 0;
	sp->acked = seq;
	if ((r = state_write(sp)) < 0) {
		sp->acked = old;
		return r;
	}
	while (sp->nsegs > 0 && sp->segs[0].last <= sp->acked)
		seg_remove(sp, 0);
	return 0;
}

void audit_spool_stats(const struct audit_spool *sp, struct audit_spool_stats *st)
{
	st->next_seq = sp->next_seq;
	st->acked = sp->acked;
	st->dropped = sp->dropped;
	st->corrupt = sp->corrupt;
	st->bytes = spool_bytes(sp);
	st->segments = sp->nsegs;
}
