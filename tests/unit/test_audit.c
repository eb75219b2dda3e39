/*
 * test_audit: runtime audit records (defender/audit.c): JSON round trip, throttling windows, and
 * the on-disk spool (append, read, acknowledge, restart, size bound with drop counts, a torn last
 * record, garbage and random damage in segments).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../defender/audit.h"
#include "t.h"

#define SEC 1000000000ull

static void rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[600];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static char *tmpdir(char *buf, size_t size)
{
	snprintf(buf, size, "/tmp/h8-audit.XXXXXX");
	return mkdtemp(buf);
}

static struct audit_record rec(uint64_t t, const char *attack, const char *image)
{
	struct audit_record r = { 0 };

	r.time_ns = t;
	snprintf(r.type, sizeof(r.type), "processes");
	snprintf(r.attack_type, sizeof(r.attack_type), "%s", attack);
	snprintf(r.effect, sizeof(r.effect), "alert");
	snprintf(r.severity, sizeof(r.severity), "high");
	snprintf(r.msg, sizeof(r.msg), "/usr/bin/xmrig launched and is a crypto miner");
	snprintf(r.rule_name, sizeof(r.rule_name), "Default - alert on suspicious runtime behavior");
	snprintf(r.hostname, sizeof(r.hostname), "node1");
	snprintf(r.cluster, sizeof(r.cluster), "c1");
	snprintf(r.namespace_, sizeof(r.namespace_), "prod");
	snprintf(r.container_id, sizeof(r.container_id), "af4f842fa86bf94841d5ec91a2e8e814f5802ada7ccaae0ef996b8be45f85689");
	snprintf(r.container_name, sizeof(r.container_name), "web");
	snprintf(r.image_name, sizeof(r.image_name), "%s", image);
	r.pid = 4242;
	snprintf(r.process_path, sizeof(r.process_path), "/usr/bin/xmrig");
	snprintf(r.user, sizeof(r.user), "root");
	r.count = 1;
	return r;
}

T_TEST(record_json)
{
	struct audit_record r = rec(1795762641198758400ull, "cryptoMinerProcess", "nginx:1"), back;
	json_t *j = audit_record_to_json(&r);
	char err[200];

	T_CHECK(j != NULL);
	T_CHECK_STR(json_string_value(json_object_get(j, "time")), "2026-11-27T06:57:21.198758400Z");
	T_CHECK_STR(json_string_value(json_object_get(j, "attackType")), "cryptoMinerProcess");
	T_CHECK_STR(json_string_value(json_object_get(j, "containerId")), r.container_id);
	T_CHECK_INT(json_integer_value(json_object_get(j, "pid")), 4242);
	T_CHECK(json_is_true(json_object_get(j, "container")));
	T_CHECK_INT(audit_record_from_json(j, &back, err, sizeof(err)), 0);
	T_CHECK_STR(back.msg, r.msg);
	T_CHECK_STR(back.namespace_, "prod");
	T_CHECK_INT(back.count, 1);
	T_CHECK_INT(back.time_ns, 0); /* no timeNs member */
	json_object_set_new(j, "pid", json_integer(-1));
	T_CHECK_INT(audit_record_from_json(j, &back, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "pid") != NULL);
	json_object_set_new(j, "pid", json_integer(1));
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	json_object_set_new(j, "msg", json_string(big));
	T_CHECK_INT(audit_record_from_json(j, &back, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "msg") != NULL);
	json_decref(j);
}

struct sink {
	int n;
	struct audit_record got[32];
};

static void collect(const struct audit_record *r, void *arg)
{
	struct sink *s = arg;

	if (s->n < 32)
		s->got[s->n++] = *r;
}

T_TEST(throttling)
{
	struct audit_throttle *t = NULL;
	struct sink s = { 0 };
	struct audit_record r;

	T_CHECK_INT(audit_throttle_new(10 * SEC, 2, collect, &s, &t), 0);
	/* Five of a kind for one model in a window: the first goes out, four are counted. */
	for (int i = 0; i < 5; i++) {
		r = rec((uint64_t)(100 + i) * SEC, "cryptoMinerProcess", "nginx:1");
		T_CHECK_INT(audit_throttle_offer(t, &r), i == 0);
	}
	T_CHECK_INT(s.n, 1);
	T_CHECK_INT(s.got[0].count, 1);
	/* Another attack type, another model: their own windows. */
	r = rec(105 * SEC, "reverseShell", "nginx:1");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 2);
	/* The window ends: one update with the total. */
	T_CHECK_INT(audit_throttle_flush(t, 109 * SEC), 0);
	T_CHECK_INT(audit_throttle_flush(t, 110 * SEC), 1);
	T_CHECK_INT(s.n, 3);
	T_CHECK_STR(s.got[2].attack_type, "cryptoMinerProcess");
	T_CHECK_INT(s.got[2].count, 5);
	T_CHECK_INT(s.got[2].time_ns, 104 * SEC);
	T_CHECK_INT(s.got[2].first_ns, 100 * SEC); /* the audit it updates */
	T_CHECK_INT(s.got[0].first_ns, 0);
	/* A new window after it. */
	r = rec(111 * SEC, "cryptoMinerProcess", "nginx:1");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 4);
	/* reverseShell's window (one audit) closes without an update when offered past it. */
	r = rec(116 * SEC, "cryptoMinerProcess", "redis:7");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 5);
	/* Full (2 windows): the oldest is closed early, its repeats reported. */
	r = rec(112 * SEC, "cryptoMinerProcess", "nginx:1");
	T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	r = rec(117 * SEC, "tmpfsProcess", "nginx:1");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 7);
	T_CHECK_INT(s.got[5].count, 2);
	T_CHECK_STR(s.got[5].image_name, "nginx:1");
	T_CHECK_STR(s.got[6].attack_type, "tmpfsProcess");
	T_CHECK_INT(audit_throttle_flush(t, UINT64_MAX), 0);
	audit_throttle_free(t);
	audit_throttle_free(NULL);
}

/* ---- spool ---- */

struct got {
	int n;
	uint64_t seqs[4096];
	char first[128];
	int bad_payload;
};

static int gather(uint64_t seq, const void *data, size_t len, void *arg)
{
	struct got *g = arg;
	char want[64];

	if (g->n == 0)
		snprintf(g->first, sizeof(g->first), "%.*s", (int)len, (const char *)data);
	/* Every payload is "record <seq>" padded with '.': damage must never reach a reader. */
	int n = snprintf(want, sizeof(want), "record %llu", (unsigned long long)seq);
	if (len < (size_t)n || memcmp(data, want, (size_t)n) != 0)
		g->bad_payload++;
	for (size_t i = (size_t)n; i < len; i++)
		if (((const char *)data)[i] != '.')
			g->bad_payload++;
	if (g->n < 4096)
		g->seqs[g->n] = seq;
	g->n++;
	return 0;
}

static int append_n(struct audit_spool *sp, int n, size_t pad)
{
	char buf[2048];
	struct audit_spool_stats st;

	audit_spool_stats(sp, &st);
	for (int i = 0; i < n; i++) {
		uint64_t seq = 0;
		int l = snprintf(buf, sizeof(buf), "record %llu", (unsigned long long)(st.next_seq + (uint64_t)i));
		size_t len = (size_t)l + pad < sizeof(buf) ? (size_t)l + pad : sizeof(buf);
		memset(buf + l, '.', len - (size_t)l);
		if (audit_spool_append(sp, buf, len, &seq) != 0 || seq != st.next_seq + (uint64_t)i)
			return -1;
	}
	return 0;
}

static int increasing(const struct got *g)
{
	for (int i = 1; i < g->n && i < 4096; i++)
		if (g->seqs[i] <= g->seqs[i - 1])
			return 0;
	return 1;
}

/* Audits that differ in effect or container are never merged (a prevent in one container must
 * not hide a block in another of the same image). */
T_TEST(throttling_keys)
{
	struct audit_throttle *t = NULL;
	struct sink s = { 0 };
	struct audit_record r;

	T_CHECK_INT(audit_throttle_new(10 * SEC, 0, collect, &s, &t), 0);
	r = rec(100 * SEC, "explicitlyDeniedProcess", "busybox:1");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	snprintf(r.effect, sizeof(r.effect), "block");
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	snprintf(r.container_id, sizeof(r.container_id), "%064d", 7);
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 3);
	T_CHECK_INT(audit_throttle_flush(t, UINT64_MAX), 1);
	audit_throttle_free(t);
}

/* The cheap path: a repeat is counted without its record; the key is the record's (cut to its
 * field sizes); keys longer than the old fixed key buffer (1200 bytes) stay distinct. */
T_TEST(throttling_repeat)
{
	struct audit_throttle *t = NULL;
	struct sink s = { 0 };
	struct audit_record r;
	char longimg[600], longimg2[600];

	T_CHECK_INT(audit_throttle_new(10 * SEC, 0, collect, &s, &t), 0);
	r = rec(100 * SEC, "unexpectedProcess", "busybox:1");
	struct audit_key k = { .type = "processes", .attack_type = "unexpectedProcess", .effect = "alert",
			       .container_id = r.container_id, .image_name = "busybox:1",
			       .namespace_ = "prod", .cluster = "c1", .hostname = "node1" };
	T_CHECK_INT(audit_throttle_repeat(t, &k, 100 * SEC, 1), 0); /* no window yet */
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(audit_throttle_repeat(t, &k, 101 * SEC, 1), 1);
	T_CHECK_INT(audit_throttle_repeat(t, &k, 103 * SEC, 1), 1);
	k.effect = "prevent";
	T_CHECK_INT(audit_throttle_repeat(t, &k, 103 * SEC, 1), 0);
	k.effect = "alert";
	k.hostname = "node2"; /* the hostname counts only for host audits (no image) */
	T_CHECK_INT(audit_throttle_repeat(t, &k, 104 * SEC, 1), 1);
	/* Past the window: closed (update with the count), then no window. */
	T_CHECK_INT(audit_throttle_repeat(t, &k, 110 * SEC, 1), 0);
	T_CHECK_INT(s.n, 2);
	T_CHECK_INT(s.got[1].count, 4);
	T_CHECK_INT(s.got[1].time_ns, 104 * SEC);

	/* Image names of 511 bytes, differing only in their last byte: two windows. */
	memset(longimg, 'a', sizeof(longimg));
	longimg[sizeof(longimg) - 1] = 0;
	memcpy(longimg2, longimg, sizeof(longimg));
	longimg[510] = 'x';
	longimg2[510] = 'y';
	r = rec(200 * SEC, "unexpectedProcess", longimg);
	snprintf(r.cluster, sizeof(r.cluster), "%0255d", 1);
	snprintf(r.namespace_, sizeof(r.namespace_), "%0255d", 2);
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	snprintf(r.image_name, sizeof(r.image_name), "%s", longimg2);
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	/* A caller's string longer than the field matches its cut copy. */
	k.image_name = longimg2; /* 599 bytes: the record holds the first 511 */
	k.cluster = r.cluster;
	k.namespace_ = r.namespace_;
	T_CHECK_INT(audit_throttle_repeat(t, &k, 201 * SEC, 1), 1);
	T_CHECK_INT(s.n, 4);
	T_CHECK_INT(audit_throttle_flush(t, UINT64_MAX), 1);
	T_CHECK_INT(s.got[4].count, 3);

	/* Events the sensor folded stand for several occurrences: the first record says how many,
	 * repeats add theirs (0 counts as 1), the update comes only when more occurred. */
	r = rec(300 * SEC, "unexpectedProcess", "alpine:3");
	r.count = 5;
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 6);
	T_CHECK_INT(s.got[5].count, 5);
	k.image_name = "alpine:3";
	k.cluster = "c1";
	k.namespace_ = "prod";
	k.hostname = "node1";
	T_CHECK_INT(audit_throttle_repeat(t, &k, 301 * SEC, 3), 1);
	T_CHECK_INT(audit_throttle_repeat(t, &k, 302 * SEC, 0), 1);
	r.count = 2;
	r.time_ns = 303 * SEC;
	T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	r = rec(304 * SEC, "unexpectedProcess", "alpine:4");
	r.count = 7;
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	T_CHECK_INT(s.n, 7);
	T_CHECK_INT(audit_throttle_flush(t, UINT64_MAX), 1); /* alpine:4 saw nothing more */
	T_CHECK_INT(s.n, 8);
	T_CHECK_INT(s.got[7].count, 11);
	T_CHECK_INT(s.got[7].time_ns, 303 * SEC);
	audit_throttle_free(t);
}

/* Many windows: each offer finds its own among thousands; a full throttle closes the oldest;
 * flushes close exactly the windows that ended. */
T_TEST(throttling_many)
{
	struct audit_throttle *t = NULL;
	struct sink s = { 0 };
	struct audit_record r;
	char img[32];

	T_CHECK_INT(audit_throttle_new(10 * SEC, 1000, collect, &s, &t), 0);
	for (int i = 0; i < 1500; i++) {
		snprintf(img, sizeof(img), "img:%d", i);
		r = rec(100 * SEC + (uint64_t)i * 1000, "unexpectedProcess", img);
		T_CHECK_INT(audit_throttle_offer(t, &r), 1);
		T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	}
	/* 500 oldest closed early with their repeat: 1500 firsts (32 kept) + 500 updates. */
	T_CHECK_INT(s.n, 32);
	s.n = 0;
	snprintf(img, sizeof(img), "img:%d", 0);
	r = rec(101 * SEC, "unexpectedProcess", img);
	/* img:0 was closed early: a new window, which closes img:500 (the oldest) early. */
	T_CHECK_INT(audit_throttle_offer(t, &r), 1);
	snprintf(img, sizeof(img), "img:%d", 1499);
	r = rec(101 * SEC, "unexpectedProcess", img);
	T_CHECK_INT(audit_throttle_offer(t, &r), 0);
	s.n = 0;
	/* Windows of img:501..1499 started at 100 s + 0.501..1.499 ms; the re-opened img:0 at 101 s. */
	T_CHECK_INT(audit_throttle_flush(t, 110 * SEC + 1000 * 1000), 500); /* img:501..1000 */
	T_CHECK_INT(audit_throttle_flush(t, 110 * SEC + 1000 * 1000), 0);
	T_CHECK_INT(audit_throttle_flush(t, 111 * SEC - 1), 499); /* img:1001..1499 */
	T_CHECK_INT(audit_throttle_flush(t, 111 * SEC), 0); /* img:0: one audit, no update */
	T_CHECK_INT(audit_throttle_flush(t, UINT64_MAX), 0);
	audit_throttle_free(t);
}

T_TEST(spool_append_read_ack_restart)
{
	char dir[64], err[300];
	struct audit_spool *sp = NULL;
	struct audit_spool_stats st;
	struct got *g = calloc(1, sizeof(*g));

	T_CHECK(tmpdir(dir, sizeof(dir)) != NULL);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	T_CHECK_INT(append_n(sp, 10, 20), 0);
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 10);
	T_CHECK_INT(g->seqs[0], 1);
	T_CHECK_INT(g->seqs[9], 10);
	T_CHECK_INT(g->bad_payload, 0);
	T_CHECK(increasing(g));
	memset(g, 0, sizeof(*g));
	T_CHECK_INT(audit_spool_read(sp, 0, 3, gather, g), 3);
	T_CHECK_INT(audit_spool_ack(sp, 4), 0);
	memset(g, 0, sizeof(*g));
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 6);
	T_CHECK_INT(g->seqs[0], 5);
	T_CHECK_STR(g->first, "record 5....................");
	/* Empty and oversized records are refused. */
	T_CHECK_INT(audit_spool_append(sp, "", 0, NULL), -EINVAL);
	audit_spool_close(sp);

	/* Restart: everything unacknowledged again, numbering goes on. */
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.acked, 4);
	T_CHECK_INT(st.next_seq, 11);
	T_CHECK_INT(st.corrupt, 0);
	memset(g, 0, sizeof(*g));
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 6);
	T_CHECK_INT(g->seqs[0], 5);
	T_CHECK_INT(append_n(sp, 1, 0), 0);
	/* Ack everything (beyond the last is clamped): segments go, the numbering survives. */
	T_CHECK_INT(audit_spool_ack(sp, 1000), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.acked, 11);
	T_CHECK_INT(st.segments, 0);
	T_CHECK_INT(audit_spool_ack(sp, 3), 0); /* lower: no-op */
	audit_spool_close(sp);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.next_seq, 12);
	memset(g, 0, sizeof(*g));
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 0);
	/* A structured record. */
	struct audit_record r = rec(5 * SEC, "reverseShell", "nginx:1");
	uint64_t seq = 0;
	T_CHECK_INT(audit_spool_append_record(sp, &r, &seq), 0);
	T_CHECK_INT(seq, 12);
	audit_spool_close(sp);
	audit_spool_close(NULL);
	T_CHECK_INT(audit_spool_open("/proc/nope/x", 1 << 20, &sp, err, sizeof(err)) < 0, 1);
	T_CHECK(strstr(err, "/proc/nope/x") != NULL);
	T_CHECK_INT(audit_spool_open(dir, 100, &sp, err, sizeof(err)), -EINVAL);
	rmtree(dir);
	free(g);
}

T_TEST(spool_bound_and_drops)
{
	char dir[64], err[300];
	struct audit_spool *sp = NULL;
	struct audit_spool_stats st;
	struct got *g = calloc(1, sizeof(*g));

	T_CHECK(tmpdir(dir, sizeof(dir)) != NULL);
	/* 8 KiB bound, 1 KiB segments; 200 records of ~120 bytes = 24 KiB: the oldest go. */
	T_CHECK_INT(audit_spool_open(dir, 8192, &sp, err, sizeof(err)), 0);
	T_CHECK_INT(audit_spool_ack(sp, 0), 0);
	T_CHECK_INT(append_n(sp, 20, 100), 0);
	T_CHECK_INT(audit_spool_ack(sp, 10), 0);
	T_CHECK_INT(append_n(sp, 180, 100), 0);
	audit_spool_stats(sp, &st);
	T_CHECK(st.bytes <= 8192);
	T_CHECK(st.dropped > 0);
	T_CHECK(audit_spool_read(sp, 0, 0, gather, g) > 0);
	/* Every record is either readable or counted as dropped, except the 10 acknowledged. */
	T_CHECK_INT((uint64_t)g->n + st.dropped, 190);
	T_CHECK_INT(g->seqs[g->n - 1], 200);
	T_CHECK_INT(g->seqs[0], 200 - g->n + 1);
	T_CHECK(increasing(g));
	T_CHECK_INT(g->bad_payload, 0);
	uint64_t dropped = st.dropped;
	audit_spool_close(sp);
	/* The drop count survives a restart. */
	T_CHECK_INT(audit_spool_open(dir, 8192, &sp, err, sizeof(err)), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.dropped, dropped);
	T_CHECK_INT(st.next_seq, 201);
	audit_spool_close(sp);
	rmtree(dir);
	free(g);
}

static int newest_segment(const char *dir, char *out, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char best[300] = "";

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "seg-", 4) == 0 && strcmp(de->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	snprintf(out, size, "%s/%s", dir, best);
	return best[0] ? 0 : -1;
}

T_TEST(spool_torn_record)
{
	char dir[64], err[300], seg[400];
	struct audit_spool *sp = NULL;
	struct audit_spool_stats st;
	struct got *g = calloc(1, sizeof(*g));
	struct stat sb;

	T_CHECK(tmpdir(dir, sizeof(dir)) != NULL);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	T_CHECK_INT(append_n(sp, 5, 10), 0);
	audit_spool_close(sp);
	T_CHECK_INT(newest_segment(dir, seg, sizeof(seg)), 0);
	T_CHECK_INT(stat(seg, &sb), 0);
	off_t good = sb.st_size;
	/* Power loss in the middle of the sixth record: its header and half its payload. */
	int fd = open(seg, O_WRONLY | O_APPEND);
	T_CHECK(fd >= 0);
	static const unsigned char torn[] = { 'G', 'A', 'U', 'D', 40, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,
		1, 2, 3, 4, 'r', 'e', 'c' };
	T_CHECK_INT(write(fd, torn, sizeof(torn)), (long)sizeof(torn));
	close(fd);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.corrupt, 1);
	T_CHECK_INT(st.next_seq, 6);
	T_CHECK_INT(stat(seg, &sb), 0);
	T_CHECK_INT(sb.st_size, good); /* cut off */
	T_CHECK_INT(append_n(sp, 1, 10), 0);
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 6);
	T_CHECK_INT(g->seqs[5], 6);
	T_CHECK_INT(g->bad_payload, 0);
	audit_spool_close(sp);
	rmtree(dir);
	free(g);
}

static unsigned long long rng_state = 0x9e3779b97f4a7c15ull;

static unsigned rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state >> 11);
}

T_TEST(spool_garbage)
{
	char dir[64], err[300], seg[400], path[600];
	struct audit_spool *sp = NULL;
	struct audit_spool_stats st;
	struct got *g = calloc(1, sizeof(*g));
	char *orig = NULL;
	size_t olen = 0;

	T_CHECK(tmpdir(dir, sizeof(dir)) != NULL);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	T_CHECK_INT(append_n(sp, 10, 30), 0);
	audit_spool_close(sp);
	T_CHECK_INT(newest_segment(dir, seg, sizeof(seg)), 0);
	FILE *f = fopen(seg, "rb");
	T_CHECK(f != NULL);
	orig = malloc(1 << 16);
	olen = f ? fread(orig, 1, 1 << 16, f) : 0;
	if (f)
		fclose(f);
	size_t frame = olen / 10;
	T_CHECK_INT(olen, 9 * 58 + 59); /* 20-byte header + "record N" + 30 dots */

	/* One record's payload damaged in the middle: that one is skipped, the others read. */
	orig[3 * frame + 25] ^= 0x40;
	f = fopen(seg, "wb");
	fwrite(orig, 1, olen, f);
	fclose(f);
	orig[3 * frame + 25] ^= 0x40;
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	audit_spool_stats(sp, &st);
	T_CHECK_INT(st.corrupt, 1);
	T_CHECK_INT(st.next_seq, 11);
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 9);
	T_CHECK_INT(g->seqs[3], 5);
	T_CHECK_INT(g->bad_payload, 0);
	audit_spool_close(sp);

	/* A segment of pure garbage (and one with a hostile name) next to it: ignored, no crash. */
	snprintf(path, sizeof(path), "%s/seg-0000000000000100.log", dir);
	f = fopen(path, "wb");
	for (int i = 0; i < 5000; i++)
		fputc((int)(rnd() & 0xff), f);
	fputs("GAUD\xff\xff\xff\xff", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/seg-zz.log", dir);
	f = fopen(path, "wb");
	fclose(f);
	T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
	memset(g, 0, sizeof(*g));
	T_CHECK_INT(audit_spool_read(sp, 0, 0, gather, g), 9);
	audit_spool_close(sp);
	unlink(path);

	/* Random damage: flipped bytes, cut tails, spliced garbage, 300 times. Opening and reading
	 * never fail or crash; what is read is intact, in order. */
	for (int round = 0; round < 300; round++) {
		char *buf = malloc(olen + 64);
		size_t len = olen;
		memcpy(buf, orig, olen);
		int flips = (int)(rnd() % 4);
		for (int k = 0; k < flips; k++)
			buf[rnd() % len] = (char)rnd();
		if (rnd() % 3 == 0)
			len = rnd() % (len + 1);
		if (rnd() % 3 == 0 && len > 0) {
			size_t at = rnd() % len, n = rnd() % 64;
			memmove(buf + at + n, buf + at, len - at);
			for (size_t k = 0; k < n; k++)
				buf[at + k] = (char)rnd();
			len += n;
		}
		f = fopen(seg, "wb");
		fwrite(buf, 1, len, f);
		fclose(f);
		free(buf);
		sp = NULL;
		T_CHECK_INT(audit_spool_open(dir, 1 << 20, &sp, err, sizeof(err)), 0);
		if (sp == NULL)
			break;
		memset(g, 0, sizeof(*g));
		T_CHECK(audit_spool_read(sp, 0, 0, gather, g) >= 0);
		T_CHECK_INT(g->bad_payload, 0);
		T_CHECK(increasing(g));
		T_CHECK(g->n <= 10);
		/* Appending after damage works and reads back. */
		audit_spool_stats(sp, &st);
		T_CHECK_INT(append_n(sp, 1, 5), 0);
		memset(g, 0, sizeof(*g));
		T_CHECK(audit_spool_read(sp, st.next_seq, 0, gather, g) == 1);
		audit_spool_close(sp);
		/* Start the next round from the pristine segment only. */
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "seg-", 4) != 0 && strcmp(de->d_name, "state") != 0)
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (strcmp(path, seg) != 0)
				unlink(path);
		}
		if (d)
			closedir(d);
		if (t_failed_checks)
			break;
	}
	free(orig);
	rmtree(dir);
	free(g);
}

T_MAIN(T_CASE(record_json), T_CASE(throttling), T_CASE(throttling_keys), T_CASE(throttling_repeat), T_CASE(throttling_many), T_CASE(spool_append_read_ack_restart),
       T_CASE(spool_bound_and_drops), T_CASE(spool_torn_record), T_CASE(spool_garbage))
