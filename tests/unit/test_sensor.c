/*
 * test_sensor: the parts of the runtime sensors that need no root: the DNS query parser against
 * hostile input, the cgroup -> container resolver on a fake cgroup tree, event JSON round trips,
 * the replay back end (ordering, malformed lines, lossless waits, drops when the consumer is slow,
 * runc's setup exec) and the statistics object. tests/data/sensor/recording.jsonl is a real
 * capture (see tests/data/sensor/PROVENANCE.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <garrison/util.h>

#include "../../defender/sensor.h"
#include "t.h"

/* ---- DNS ---- */

static size_t build_query(uint8_t *buf, const char *const *labels, uint16_t qtype)
{
	size_t n = 0;
	static const uint8_t hdr[12] = { 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };

	memcpy(buf, hdr, 12);
	n = 12;
	for (; *labels != NULL; labels++) {
		size_t l = strlen(*labels);
		buf[n++] = (uint8_t)l;
		memcpy(buf + n, *labels, l);
		n += l;
	}
	buf[n++] = 0;
	buf[n++] = qtype >> 8;
	buf[n++] = qtype & 0xff;
	buf[n++] = 0;
	buf[n++] = 1;
	return n;
}

T_TEST(dns_valid)
{
	uint8_t q[512];
	char out[EVENT_QNAME_MAX];
	uint16_t qt = 0;
	const char *const l1[] = { "www", "Example", "com", NULL };
	const char *const l0[] = { NULL };
	const char *const lodd[] = { "a b", "x.y", "\x01\xff", NULL };
	size_t n = build_query(q, l1, 28);

	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), 0);
	T_CHECK_STR(out, "www.Example.com");
	T_CHECK_INT(qt, 28);
	n = build_query(q, l0, 2);
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), 0);
	T_CHECK_STR(out, ".");
	T_CHECK_INT(qt, 2);
	/* Bytes other than letters, digits, '-' and '_' are escaped, including '.' in a label. */
	n = build_query(q, lodd, 1);
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), 0);
	T_CHECK_STR(out, "a\\032b.x\\046y.\\001\\255");
	/* The real query glibc's getent sent (captured by the sensor). */
	static const uint8_t real[] = { 0xf0, 0x3e, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
					0x00, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', 0x00,
					0x00, 0x1c, 0x00, 0x01 };
	T_CHECK_INT(event_dns_parse_query(real, sizeof(real), out, sizeof(out), &qt), 0);
	T_CHECK_STR(out, "localhost");
	T_CHECK_INT(qt, 28);
}

T_TEST(dns_hostile)
{
	uint8_t q[600];
	char out[EVENT_QNAME_MAX], small[8];
	uint16_t qt = 7;
	const char *const l1[] = { "example", "com", NULL };
	size_t n = build_query(q, l1, 1);

	/* Truncated anywhere: header, inside a label, before QTYPE/QCLASS. */
	for (size_t cut = 0; cut < n; cut++) {
		snprintf(out, sizeof(out), "junk");
		T_CHECK_INT(event_dns_parse_query(q, cut, out, sizeof(out), &qt), -EBADMSG);
		T_CHECK_STR(out, "");
		T_CHECK_INT(qt, 0);
	}
	T_CHECK_INT(event_dns_parse_query(NULL, 0, out, sizeof(out), &qt), -EBADMSG);
	/* A response (QR set) and QDCOUNT 0 are not queries. */
	q[2] |= 0x80;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	q[2] &= 0x7f;
	q[5] = 0;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	q[5] = 1;
	/* A compression pointer (even to itself: a loop) and the reserved label types. */
	q[12] = 0xc0;
	q[13] = 12;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	q[12] = 0x40;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	q[12] = 64;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	/* A label claiming more bytes than the message has. */
	q[12] = 63;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	/* A name longer than 255 bytes on the wire: five labels of 63. */
	memcpy(q, "\x12\x34\x01\x00\x00\x01\0\0\0\0\0\0", 12);
	n = 12;
	for (int i = 0; i < 5; i++) {
		q[n++] = 63;
		memset(q + n, 'a', 63);
		n += 63;
	}
	q[n++] = 0;
	memcpy(q + n, "\0\1\0\1", 4);
	n += 4;
	T_CHECK_INT(event_dns_parse_query(q, n, out, sizeof(out), &qt), -EBADMSG);
	/* Four labels of 63: 257 bytes with the lengths and the root, too long. */
	memcpy(q + 12 + 4 * 64, "\0\0\1\0\1", 5);
	T_CHECK_INT(event_dns_parse_query(q, 12 + 4 * 64 + 5, out, sizeof(out), &qt), -EBADMSG);
	/* 63, 63, 63 and 61: exactly 255, the longest name. */
	q[12 + 3 * 64] = 61;
	memcpy(q + 12 + 3 * 64 + 62, "\0\0\1\0\1", 5);
	T_CHECK_INT(event_dns_parse_query(q, 12 + 255 + 4, out, sizeof(out), &qt), 0);
	T_CHECK_INT(strlen(out), 3 * 63 + 61 + 3);
	/* A buffer too small: -ENOSPC, still terminated. */
	T_CHECK_INT(event_dns_parse_query(q, 12 + 255 + 4, small, sizeof(small), &qt), -ENOSPC);
	T_CHECK_STR(small, "");
	T_CHECK_INT(event_dns_parse_query(q, n, small, 1, &qt), -ENOSPC);
	/* Worst case for escapes: every byte escaped still fits EVENT_QNAME_MAX. */
	memcpy(q, "\x12\x34\x01\x00\x00\x01\0\0\0\0\0\0", 12);
	for (int i = 0; i < 4; i++) {
		q[12 + i * 64] = i < 3 ? 63 : 61;
		memset(q + 12 + i * 64 + 1, 0xff, 63);
	}
	memcpy(q + 12 + 3 * 64 + 62, "\0\0\1\0\1", 5);
	T_CHECK_INT(event_dns_parse_query(q, 12 + 255 + 4, out, sizeof(out), &qt), 0);
	T_CHECK_INT(strlen(out), (3 * 63 + 61) * 4 + 3);
	/* Random bytes: never a crash, always a terminated answer within the buffer. */
	srand(42);
	for (int it = 0; it < 20000; it++) {
		size_t len = (size_t)(rand() % 80);
		for (size_t i = 0; i < len; i++)
			q[i] = (uint8_t)rand();
		if (len > 5 && it % 2) { /* make many of them plausible queries */
			q[2] = 1;
			q[4] = 0;
			q[5] = 1;
			if (len > 12)
				q[12] = (uint8_t)(rand() % 12);
		}
		int r = event_dns_parse_query(q, len, out, sizeof(out), &qt);
		T_CHECK(r == 0 || r == -EBADMSG);
		T_CHECK(strlen(out) < sizeof(out));
		if (r != 0)
			T_CHECK_STR(out, "");
	}
}

/* ---- cgroups ---- */

static char tmpl_root[64];

static void mkdirs(const char *rel)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", tmpl_root, rel);
	T_CHECK(util_mkdirs(p, 0755) == 0);
}

static uint64_t ino_of(const char *rel)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", tmpl_root, rel);
	if (stat(p, &st) != 0)
		return 0;
	return st.st_ino;
}

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
#define ID_C "ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc3"
#define ID_D "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd4"

static void rm_rf(const char *dir)
{
	char cmd[600];

	if (strncmp(dir, "/tmp/", 5) != 0)
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", dir);
}

T_TEST(cgroup_resolver)
{
	struct sensor_cgroups *c = NULL;
	char out[EVENT_CONTAINER_MAX];

	snprintf(tmpl_root, sizeof(tmpl_root), "/tmp/h6-cg.XXXXXX");
	T_CHECK(mkdtemp(tmpl_root) != NULL);
	mkdirs("unified/docker/" ID_A "/nested/deeper");
	mkdirs("unified/docker/notacontainer");
	mkdirs("unified/docker/" ID_A "X"); /* 65 characters: not an id */
	mkdirs("docker/" ID_B);
	mkdirs("system.slice/docker-" ID_C ".scope");
	mkdirs("system.slice/docker-" ID_C ".mount"); /* not a scope */
	mkdirs("unified/user.slice/session-1.scope");
	T_CHECK_INT(sensor_cgroups_new(tmpl_root, &c), 0);
	if (c == NULL)
		return;

	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/docker/" ID_A), out), 1);
	T_CHECK_STR(out, ID_A);
	T_CHECK_INT(sensor_cgroups_scans(c), 1);
	/* Cached: no second scan. A nested cgroup belongs to its container. */
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/docker/" ID_A "/nested/deeper"), out), 1);
	T_CHECK_STR(out, ID_A);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("docker/" ID_B), out), 1);
	T_CHECK_STR(out, ID_B);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("system.slice/docker-" ID_C ".scope"), out), 1);
	T_CHECK_STR(out, ID_C);
	T_CHECK_INT(sensor_cgroups_scans(c), 1);
	/* Not containers: the host. Within 50 ms of the last scan nothing is rescanned. */
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/docker/notacontainer"), out), 0);
	T_CHECK_STR(out, "");
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("system.slice/docker-" ID_C ".mount"), out), 0);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/docker/" ID_A "X"), out), 0);
	T_CHECK_INT(sensor_cgroups_resolve(c, 0, out), 0);
	T_CHECK_INT(sensor_cgroups_resolve(c, 1, out), 0); /* the root cgroup */
	/* A new container appears: its id is unknown, so the tree is scanned again (after 50 ms). */
	mkdirs("unified/docker/" ID_D);
	usleep(60 * 1000);
	uint64_t before = sensor_cgroups_scans(c);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/docker/" ID_D), out), 1);
	T_CHECK_STR(out, ID_D);
	T_CHECK_INT(sensor_cgroups_scans(c), before + 1);
	/* A negative answer is cached: asking again for the host's cgroup does not scan. */
	usleep(60 * 1000);
	before = sensor_cgroups_scans(c);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/user.slice/session-1.scope"), out), 0);
	T_CHECK_INT(sensor_cgroups_scans(c), before + 1);
	usleep(60 * 1000);
	T_CHECK_INT(sensor_cgroups_resolve(c, ino_of("unified/user.slice/session-1.scope"), out), 0);
	T_CHECK_INT(sensor_cgroups_scans(c), before + 1);
	/* Many unknown ids in a burst: at most one scan per 50 ms. */
	before = sensor_cgroups_scans(c);
	for (uint64_t id = 1000000; id < 1001000; id++)
		sensor_cgroups_resolve(c, id, out);
	T_CHECK(sensor_cgroups_scans(c) <= before + 1);
	/* A missing tree (a host without Docker) is not an error: everything is the host's. */
	sensor_cgroups_free(c);
	c = NULL;
	T_CHECK_INT(sensor_cgroups_new("/nonexistent/cgroup", &c), 0);
	T_CHECK_INT(sensor_cgroups_resolve(c, 12345, out), 0);
	sensor_cgroups_free(c);
	sensor_cgroups_free(NULL);
	rm_rf(tmpl_root);
}

/* ---- JSON ---- */

static void sample_events(struct event ev[7])
{
	memset(ev, 0, 7 * sizeof(*ev));
	for (int i = 0; i < 7; i++) {
		ev[i].type = (enum event_type)(i + 1);
		ev[i].time_ns = 1795760910634532657ULL + (uint64_t)i;
		ev[i].cgroup_id = 0x8000000000001234ULL; /* above INT64_MAX: must survive */
		snprintf(ev[i].container, sizeof(ev[i].container), "%s", ID_A);
		ev[i].container_known = 1;
		ev[i].pid = 4000000000u;
		ev[i].tgid = 77;
		ev[i].uid = 65534;
		ev[i].gid = 0;
		snprintf(ev[i].comm, sizeof(ev[i].comm), "comm-%d-abcdefgh", i);
	}
	ev[0].exec.ppid = 1;
	ev[0].exec.start_ns = 1795760910634000000ULL;
	ev[0].exec.exe_ino = 247230;
	ev[0].exec.exe_dev = 266338304;
	ev[0].exec.exe_mtime = 1672924848;
	ev[0].exec.exe_ctime = -5;
	ev[0].exec.argv_truncated = 1;
	ev[0].exec.runtime_setup = 1;
	snprintf(ev[0].exec.filename, sizeof(ev[0].exec.filename), "/tmp/x y/\xc3\xa9t\xc3\xa9");
	memcpy(ev[0].exec.args, "sh\0-c\0\0echo \"hi\"\n", 18);
	ev[0].exec.args_len = 18;
	/* stdin a connected IPv4 TCP socket, stdout a unix socket, stderr a pipe. */
	ev[0].exec.stdio[0] = (struct event_stdio){ .mode = 0140000, .family = AF_INET, .state = 1,
						     .port = 28540 };
	inet_pton(AF_INET, "10.231.7.1", ev[0].exec.stdio[0].addr);
	ev[0].exec.stdio[1] = (struct event_stdio){ .mode = 0140000, .family = AF_UNIX };
	ev[0].exec.stdio[2] = (struct event_stdio){ .mode = 0010000 };
	ev[1].exit.code = 256 * 3;
	ev[2].net = (struct event_net){ .result = -115, .fd = 6, .family = AF_INET, .port = 28901,
					.proto = IPPROTO_TCP };
	inet_pton(AF_INET, "10.231.5.1", ev[2].net.addr);
	ev[3].net = (struct event_net){ .result = 0, .fd = 3, .family = AF_INET6, .port = 80,
					.proto = IPPROTO_TCP };
	inet_pton(AF_INET6, "fd00::1:2", ev[3].net.addr);
	ev[4].net = (struct event_net){ .family = AF_INET, .port = 5353, .proto = IPPROTO_UDP };
	ev[5].dns.family = AF_INET;
	ev[5].dns.port = 53;
	inet_pton(AF_INET, "10.231.5.1", ev[5].dns.addr);
	ev[5].dns.qlen = 29;
	ev[5].dns.qtype = 1;
	snprintf(ev[5].dns.qname, sizeof(ev[5].dns.qname), "evil.example");
	ev[5].repeats = 11; /* the sensor folded 11 more of this query into it */
	ev[6].file.op = EVENT_FILE_RENAME;
	ev[6].file.result = 0;
	ev[6].file.flags = 1;
	ev[6].file.mode = 0;
	ev[6].file.dirfd = -100;
	snprintf(ev[6].file.path, sizeof(ev[6].file.path), "a");
	snprintf(ev[6].file.path2, sizeof(ev[6].file.path2), "/etc/passwd");
}

T_TEST(event_json_roundtrip)
{
	struct event ev[7], back;
	char err[200];

	sample_events(ev);
	for (int i = 0; i < 7; i++) {
		json_t *j = event_to_json(&ev[i]);
		char *s = json_dumps(j, JSON_COMPACT);
		json_t *k = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
		T_CHECK(k != NULL);
		T_CHECK_INT(event_from_json(k, &back, err, sizeof(err)), 0);
		/* Everything written is read back: rendering it again gives the same text. */
		json_t *j2 = event_to_json(&back);
		char *s2 = json_dumps(j2, JSON_COMPACT);
		T_CHECK_STR(s2, s);
		T_CHECK_INT(back.type, ev[i].type);
		T_CHECK(back.cgroup_id == ev[i].cgroup_id);
		T_CHECK(back.time_ns == ev[i].time_ns);
		T_CHECK_INT(back.container_known, 1);
		T_CHECK_STR(back.comm, ev[i].comm);
		T_CHECK_INT(back.repeats, ev[i].repeats);
		free(s);
		free(s2);
		json_decref(j);
		json_decref(j2);
		json_decref(k);
	}
	/* Fields that matter, spelled out. */
	json_t *j = event_to_json(&ev[0]);
	json_t *argv = json_object_get(j, "argv");
	T_CHECK_INT(json_array_size(argv), 4);
	T_CHECK_STR(json_string_value(json_array_get(argv, 2)), "");
	T_CHECK_STR(json_string_value(json_array_get(argv, 3)), "echo \"hi\"\n");
	T_CHECK_STR(json_string_value(json_object_get(j, "filename")), "/tmp/x y/\xc3\xa9t\xc3\xa9");
	T_CHECK(json_is_true(json_object_get(j, "runtime_setup")));
	json_t *io = json_object_get(j, "stdio");
	T_CHECK_INT(json_array_size(io), 3);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 0), "type")), "sock");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 0), "family")), "ipv4");
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 0), "addr")), "10.231.7.1");
	T_CHECK_INT(json_integer_value(json_object_get(json_array_get(io, 0), "port")), 28540);
	T_CHECK(json_is_true(json_object_get(json_array_get(io, 0), "connected")));
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 1), "family")), "unix");
	T_CHECK(json_object_get(json_array_get(io, 1), "connected") == NULL);
	T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 2), "type")), "fifo");
	json_decref(j);
	/* Read back: the same modes, peer, and the connected test. */
	{
		struct event b2;
		j = event_to_json(&ev[0]);
		T_CHECK_INT(event_from_json(j, &b2, err, sizeof(err)), 0);
		T_CHECK(memcmp(b2.exec.stdio, ev[0].exec.stdio, sizeof(b2.exec.stdio)) == 0);
		T_CHECK_INT(event_stdio_connected(&b2.exec.stdio[0]), 1);
		T_CHECK_INT(event_stdio_connected(&b2.exec.stdio[1]), 0);
		T_CHECK_INT(event_stdio_connected(&b2.exec.stdio[2]), 0);
		json_decref(j);
		/* An IPv6 peer in CLOSE_WAIT is still connected; a listening socket is not. */
		b2.exec.stdio[1] = (struct event_stdio){ .mode = 0140000, .family = AF_INET6, .state = 8,
							  .port = 443 };
		inet_pton(AF_INET6, "fd00::7", b2.exec.stdio[1].addr);
		b2.exec.stdio[2] = (struct event_stdio){ .mode = 0140000, .family = AF_INET, .state = 10 };
		j = event_to_json(&b2);
		io = json_object_get(j, "stdio");
		T_CHECK_STR(json_string_value(json_object_get(json_array_get(io, 1), "addr")), "fd00::7");
		T_CHECK(json_is_false(json_object_get(json_array_get(io, 2), "connected")));
		T_CHECK(json_object_get(json_array_get(io, 2), "addr") == NULL);
		struct event b3;
		T_CHECK_INT(event_from_json(j, &b3, err, sizeof(err)), 0);
		T_CHECK(memcmp(b3.exec.stdio, b2.exec.stdio, sizeof(b2.exec.stdio)) == 0);
		T_CHECK_INT(event_stdio_connected(&b3.exec.stdio[1]), 1);
		T_CHECK_INT(event_stdio_connected(&b3.exec.stdio[2]), 0);
		json_decref(j);
		/* No "stdio" (older recordings): three unknowns. */
		j = json_loads("{\"type\":\"exec\",\"filename\":\"/bin/sh\"}", 0, NULL);
		T_CHECK_INT(event_from_json(j, &b3, err, sizeof(err)), 0);
		T_CHECK_INT((int)b3.exec.stdio[0].mode, 0);
		T_CHECK_INT(event_stdio_connected(&b3.exec.stdio[0]), 0);
		json_decref(j);
	}
	j = event_to_json(&ev[2]);
	T_CHECK_STR(json_string_value(json_object_get(j, "addr")), "10.231.5.1");
	T_CHECK_STR(json_string_value(json_object_get(j, "proto")), "tcp");
	T_CHECK_INT(json_integer_value(json_object_get(j, "result")), -115);
	json_decref(j);
	j = event_to_json(&ev[3]);
	T_CHECK_STR(json_string_value(json_object_get(j, "addr")), "fd00::1:2");
	json_decref(j);
	/* Invalid UTF-8 from the kernel becomes '?' (valid JSON, never a NULL string). */
	snprintf(ev[6].file.path, sizeof(ev[6].file.path), "/tmp/\xff\xfe.sh");
	j = event_to_json(&ev[6]);
	T_CHECK_STR(json_string_value(json_object_get(j, "path")), "/tmp/??.sh");
	json_decref(j);
}

T_TEST(event_json_errors)
{
	struct event ev;
	char err[200];
	static const char *const bad[] = {
		"[]",
		"{}",
		"{\"type\":\"nope\"}",
		"{\"type\":7}",
		"{\"type\":\"exec\",\"pid\":-1}",
		"{\"type\":\"exec\",\"pid\":4294967296}",
		"{\"type\":\"dns\",\"repeats\":-1}",
		"{\"type\":\"dns\",\"repeats\":4294967296}",
		"{\"type\":\"exec\",\"comm\":\"01234567890123456\"}",
		"{\"type\":\"exec\",\"argv\":[\"a\",1]}",
		"{\"type\":\"exec\",\"argv\":\"a\"}",
		"{\"type\":\"exec\",\"runtime_setup\":1}",
		"{\"type\":\"exec\",\"filename\":\"a\\u0000b\"}",
		"{\"type\":\"connect\",\"family\":\"ipv4\",\"addr\":\"fd00::1\"}",
		"{\"type\":\"connect\",\"family\":\"ipx\"}",
		"{\"type\":\"connect\",\"port\":65536}",
		"{\"type\":\"connect\",\"proto\":\"sctp\"}",
		"{\"type\":\"file\",\"op\":\"delete\"}",
		"{\"type\":\"file\"}",
		"{\"type\":\"dns\",\"qtype\":\"A\"}",
		"{\"type\":\"exec\",\"stdio\":{}}",
		"{\"type\":\"exec\",\"stdio\":[{},{},{},{}]}",
		"{\"type\":\"exec\",\"stdio\":[1]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"door\"}]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"fifo\",\"family\":\"ipv4\"}]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"sock\",\"family\":\"ipx\"}]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"sock\",\"family\":\"ipv4\",\"addr\":\"fd00::1\"}]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"sock\",\"family\":\"ipv4\",\"port\":70000}]}",
		"{\"type\":\"exec\",\"stdio\":[{\"type\":\"sock\",\"family\":\"ipv4\",\"state\":256}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], JSON_ALLOW_NUL, NULL);
		err[0] = 0;
		T_CHECK(j != NULL);
		int r = event_from_json(j, &ev, err, sizeof(err));
		if (r != -EINVAL)
			fprintf(stderr, "  accepted: %s\n", bad[i]);
		T_CHECK_INT(r, -EINVAL);
		T_CHECK(strncmp(err, "event field \"", 13) == 0);
		json_decref(j);
	}
	/* argv longer than EVENT_ARGS_MAX in total. */
	json_t *j = json_pack("{s:s,s:[]}", "type", "exec", "argv");
	for (int i = 0; i < 60; i++)
		json_array_append_new(json_object_get(j, "argv"), json_string("0123456789"));
	T_CHECK_INT(event_from_json(j, &ev, err, sizeof(err)), -EINVAL);
	json_decref(j);
	/* Unknown fields are ignored (forward compatibility of recordings). */
	j = json_loads("{\"type\":\"exit\",\"exit_code\":9,\"future\":{}}", 0, NULL);
	T_CHECK_INT(event_from_json(j, &ev, err, sizeof(err)), 0);
	T_CHECK_INT(ev.exit.code, 9);
	T_CHECK_INT(ev.container_known, 0);
	json_decref(j);
	T_CHECK_INT(event_type_from_name("dns"), EVENT_DNS);
	T_CHECK(event_type_name(0) == NULL);
	T_CHECK(event_type_name(EVENT_TYPE_MAX) == NULL);
}

/* ---- replay ---- */

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/h6-replay.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

static const char replay_text[] =
	"# a comment\n"
	"{\"type\":\"exec\",\"container\":\"" ID_A "\",\"pid\":10,\"tgid\":10,\"comm\":\"sh\","
	"\"filename\":\"/bin/sh\",\"argv\":[\"sh\",\"-c\",\"id\"]}\n"
	"\n"
	"not json at all\n"
	"{\"type\":\"exec\",\"container\":\"" ID_A "\",\"pid\":11,\"comm\":\"runc\",\"filename\":\"/dev/fd/5\"}\n"
	"{\"type\":\"dns\",\"container\":\"\",\"pid\":12,\"family\":\"ipv4\",\"server\":\"10.0.0.2\","
	"\"port\":53,\"qname\":\"example.com\",\"qtype\":1}\n"
	"{\"type\":\"dns\",\"type\":\"exec\"}\n"
	"{\"type\":\"file\",\"pid\":13,\"cgroup_id\":1,\"op\":\"open\",\"path\":\"/etc/shadow\"}\r\n"
	"{\"type\":\"exit\",\"pid\":10,\"exit_code\":0}";

T_TEST(replay_backend)
{
	struct sensor_config cfg = { .queue_len = 2, .lossless = 1, .cgroup_root = "/nonexistent" };
	struct sensor *s = NULL;
	struct sensor_stats st;
	struct event ev;
	char err[200];
	int pids[8], n = 0, r;

	cfg.replay_path = write_tmp(replay_text);
	T_CHECK(cfg.replay_path != NULL);
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL)
		return;
	T_CHECK_INT(sensor_start(s), 0);
	/* A queue of 2 and a lossless producer: every event arrives, in order. */
	while ((r = sensor_next(s, &ev, 2000)) == 1) {
		if (n < 8)
			pids[n] = (int)ev.pid;
		if (ev.pid == 11) {
			T_CHECK_INT(ev.exec.runtime_setup, 1);
			T_CHECK_STR(ev.container, ID_A);
		}
		if (ev.pid == 12) {
			T_CHECK_STR(ev.dns.qname, "example.com");
			T_CHECK_STR(ev.container, "");
		}
		if (ev.pid == 13) {
			/* no "container" in the recording: resolved from the cgroup id (the host here) */
			T_CHECK_INT(ev.container_known, 1);
			T_CHECK_STR(ev.container, "");
			T_CHECK_STR(ev.file.path, "/etc/shadow");
		}
		n++;
	}
	T_CHECK_INT(r, -EPIPE);
	T_CHECK_INT(n, 5);
	T_CHECK_INT(pids[0], 10);
	T_CHECK_INT(pids[1], 11);
	T_CHECK_INT(pids[2], 12);
	T_CHECK_INT(pids[3], 13);
	T_CHECK_INT(pids[4], 10);
	sensor_stats(s, &st);
	T_CHECK_INT(st.received, 7);
	T_CHECK_INT(st.malformed, 2);
	T_CHECK_INT(st.delivered, 5);
	T_CHECK_INT(st.dropped, 0);
	T_CHECK_INT(st.running, 0);
	T_CHECK_STR(st.backend, "replay");
	/* Still -EPIPE when asked again. */
	T_CHECK_INT(sensor_next(s, &ev, 10), -EPIPE);
	sensor_free(s);
	unlink(cfg.replay_path);
}

/* sensor_queue_full(): what the bpf back end's back-pressure looks at; it never counts a drop.
 * Driven from this thread as a back end would (the sensor is not started). */
T_TEST(queue_full_backpressure)
{
	struct sensor_config cfg = { .queue_len = 2, .cgroup_root = "/nonexistent",
				     .replay_path = "/dev/null" };
	struct sensor *s = NULL;
	struct sensor_stats st;
	struct event ev = { .type = EVENT_EXIT, .container_known = 1 }, out;
	char err[200];

	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL)
		return;
	T_CHECK_INT(sensor_queue_full(s), 0);
	ev.pid = 1;
	T_CHECK_INT(sensor_emit(s, &ev), 0);
	T_CHECK_INT(sensor_queue_full(s), 0);
	ev.pid = 2;
	T_CHECK_INT(sensor_emit(s, &ev), 0);
	T_CHECK_INT(sensor_queue_full(s), 1);
	T_CHECK_INT(sensor_queue_full(s), 1);
	sensor_stats(s, &st);
	T_CHECK_INT((int)st.dropped, 0);
	T_CHECK_INT(sensor_next(s, &out, 0), 1);
	T_CHECK_INT((int)out.pid, 1);
	T_CHECK_INT(sensor_queue_full(s), 0);
	ev.pid = 3;
	T_CHECK_INT(sensor_emit(s, &ev), 0);
	T_CHECK_INT(sensor_next(s, &out, 0), 1);
	T_CHECK_INT((int)out.pid, 2);
	T_CHECK_INT(sensor_next(s, &out, 0), 1);
	T_CHECK_INT((int)out.pid, 3);
	T_CHECK_INT(sensor_next(s, &out, 0), 0);
	/* A runc setup exec flagged by its back end (netlink: /memfd:...) is dropped when asked. */
	sensor_free(s);
	s = NULL;
	cfg.drop_runtime = 1;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = EVENT_EXEC;
	ev.container_known = 1;
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "/memfd:runc_cloned:/proc/self/exe (deleted)");
	ev.exec.runtime_setup = 1;
	T_CHECK_INT(sensor_emit(s, &ev), 0);
	T_CHECK_INT(sensor_next(s, &out, 0), 0);
	sensor_stats(s, &st);
	T_CHECK_INT((int)st.filtered, 1);
	sensor_free(s);
}

T_TEST(replay_drops_and_filters)
{
	struct sensor_config cfg = { .queue_len = 3, .lossless = 0, .drop_runtime = 1,
				     .cgroup_root = "/nonexistent" };
	struct sensor *s = NULL;
	struct sensor_stats st;
	struct event ev;
	char err[200], *text = malloc(200 * 1024);
	int n = 0;

	/* 1000 events and a consumer that does not read until the producer is done: the producer
	 * never waits; all but the queue's 3 are dropped and counted. */
	size_t off = 0, cap = 200 * 1024;
	for (int i = 0; i < 1000 && text != NULL; i++)
		off += (size_t)snprintf(text + off, cap - off,
					i % 10 == 9 ? "{\"type\":\"exec\",\"pid\":%d,\"comm\":\"runc\","
						      "\"filename\":\"/dev/fd/3\"}\n"
						    : "{\"type\":\"exit\",\"pid\":%d}\n",
					i);
	if (text == NULL)
		return;
	cfg.replay_path = write_tmp(text);
	free(text);
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL)
		return;
	T_CHECK_INT(sensor_start(s), 0);
	for (int i = 0; i < 200; i++) {
		sensor_stats(s, &st);
		if (!st.running && st.received == 1000)
			break;
		usleep(10 * 1000);
	}
	while (sensor_next(s, &ev, 1000) == 1) {
		if (n == 0)
			T_CHECK_INT(ev.pid, 0); /* the first events are kept, the later dropped */
		n++;
	}
	sensor_stats(s, &st);
	T_CHECK_INT(n, 3);
	T_CHECK_INT(st.received, 1000);
	/* Every 10th line is runc's setup exec: filtered, not dropped. */
	T_CHECK_INT(st.filtered + st.dropped + st.delivered, 1000);
	T_CHECK(st.filtered > 0);
	T_CHECK_INT(st.delivered, 3);
	json_t *j = sensor_stats_json(&st);
	T_CHECK(j != NULL);
	T_CHECK_INT(json_integer_value(json_object_get(j, "dropped")), st.dropped);
	/* No kernel counters: the loss rate is dropped / received. */
	double rate = json_real_value(json_object_get(j, "lossRate"));
	T_CHECK(rate > (double)st.dropped / 1000 - 1e-9 && rate < (double)st.dropped / 1000 + 1e-9);
	T_CHECK(rate > 0.8);
	T_CHECK(json_object_get(json_object_get(j, "events"), "dns") != NULL);
	/* The replay back end folds nothing: its status says so. */
	T_CHECK_INT(json_integer_value(json_object_get(j, "foldMs")), 0);
	/* No syscall hook outside the bpf back end. */
	T_CHECK(strcmp(json_string_value(json_object_get(j, "syscallHook")), "") == 0);
	T_CHECK(strcmp(json_string_value(json_object_get(j, "dnsHook")), "") == 0);
	T_CHECK_INT(json_integer_value(json_object_get(j, "folded")), 0);
	T_CHECK_INT(json_integer_value(json_object_get(json_object_get(json_object_get(j, "events"), "dns"), "folded")), 0);
	json_decref(j);
	sensor_free(s);
	unlink(cfg.replay_path);
}

T_TEST(sensor_open_errors)
{
	struct sensor_config cfg = { 0 };
	struct sensor *s = (struct sensor *)1;
	char err[200];

	T_CHECK_INT(sensor_open("nope", &cfg, &s, err, sizeof(err)), -ENOENT);
	T_CHECK(s == NULL);
	T_CHECK(strstr(err, "nope") != NULL);
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), -EINVAL);
	cfg.replay_path = "/nonexistent/recording.jsonl";
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), -ENOENT);
	T_CHECK(strstr(err, "/nonexistent/recording.jsonl") != NULL);
	cfg.queue_len = 1;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), -EINVAL);
	cfg.queue_len = 0;
	cfg.ringbuf_bytes = 5000; /* not a power of two */
	T_CHECK_INT(sensor_open("bpf", &cfg, &s, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "power of two") != NULL);
	cfg.ringbuf_bytes = 0;
	cfg.fold_ms = SENSOR_FOLD_MAX_MS + 1;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "fold window") != NULL);
	cfg.fold_ms = 0;
	cfg.syscall_hook = SENSOR_HOOK_SYS_EXIT + 1;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), -EINVAL);
	T_CHECK(strstr(err, "syscall hook") != NULL);
	sensor_free(NULL);
}

T_TEST(syscall_hook_names)
{
	int h = -1;

	T_CHECK_INT(sensor_syscall_hook_parse("auto", &h), 0);
	T_CHECK_INT(h, SENSOR_HOOK_AUTO);
	T_CHECK_INT(sensor_syscall_hook_parse("tracepoints", &h), 0);
	T_CHECK_INT(h, SENSOR_HOOK_TRACEPOINTS);
	T_CHECK_INT(sensor_syscall_hook_parse("sys_exit", &h), 0);
	T_CHECK_INT(h, SENSOR_HOOK_SYS_EXIT);
	h = 7;
	T_CHECK_INT(sensor_syscall_hook_parse("", &h), -EINVAL);
	T_CHECK_INT(sensor_syscall_hook_parse("sys_exit ", &h), -EINVAL);
	T_CHECK_INT(sensor_syscall_hook_parse("kprobe", &h), -EINVAL);
	T_CHECK_INT(h, 7); /* untouched on error */
}

T_TEST(runtime_setup_detection)
{
	struct event ev = { .type = EVENT_EXEC };

	snprintf(ev.comm, sizeof(ev.comm), "runc");
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "/dev/fd/5");
	T_CHECK_INT(sensor_is_runtime_setup(&ev), 1);
	snprintf(ev.comm, sizeof(ev.comm), "runc:[2:INIT]");
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "/proc/self/fd/7");
	T_CHECK_INT(sensor_is_runtime_setup(&ev), 1);
	/* A workload that executes from a descriptor is not the runtime. */
	snprintf(ev.comm, sizeof(ev.comm), "sh");
	T_CHECK_INT(sensor_is_runtime_setup(&ev), 0);
	snprintf(ev.comm, sizeof(ev.comm), "runc");
	snprintf(ev.exec.filename, sizeof(ev.exec.filename), "/bin/sh");
	T_CHECK_INT(sensor_is_runtime_setup(&ev), 0);
	ev.type = EVENT_EXIT;
	T_CHECK_INT(sensor_is_runtime_setup(&ev), 0);
}

/* The real recording in tests/data/sensor: every line is a valid event. */
T_TEST(recording_replays)
{
	char path[PATH_MAX], self[PATH_MAX];
	struct sensor_config cfg = { .lossless = 1, .cgroup_root = "/nonexistent" };
	struct sensor *s = NULL;
	struct sensor_stats st;
	struct event ev;
	char err[200];
	int types = 0, n = 0;

	if (access("tests/data/sensor/recording.jsonl", R_OK) == 0) {
		snprintf(path, sizeof(path), "tests/data/sensor/recording.jsonl");
	} else {
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[l > 0 ? l : 0] = 0;
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		snprintf(path, sizeof(path), "%.3000s/../../../tests/data/sensor/recording.jsonl", self);
	}
	cfg.replay_path = path;
	T_CHECK_INT(sensor_open("replay", &cfg, &s, err, sizeof(err)), 0);
	if (s == NULL) {
		fprintf(stderr, "  %s\n", err);
		return;
	}
	T_CHECK_INT(sensor_start(s), 0);
	int dns = 0, runtime = 0, dropped = 0;
	while (sensor_next(s, &ev, 2000) == 1) {
		types |= 1 << ev.type;
		n++;
		T_CHECK_INT(strlen(ev.container), 64); /* every event of the recording is the container's */
		if (ev.type == EVENT_DNS && strcmp(ev.dns.qname, "h6-probe.example.test") == 0 &&
		    ev.dns.port == 53)
			dns++;
		if (ev.type == EVENT_EXEC && ev.exec.runtime_setup)
			runtime++;
		if (ev.type == EVENT_EXEC && strcmp(ev.exec.filename, "/tmp/drop/echo") == 0 &&
		    ev.exec.exe_ctime > 0)
			dropped++;
	}
	T_CHECK(dns >= 1);
	T_CHECK(runtime >= 1);
	T_CHECK_INT(dropped, 1);
	sensor_stats(s, &st);
	T_CHECK_INT(st.malformed, 0);
	T_CHECK(n >= 7);
	/* exec, connect, listen, dns and file, at least */
	T_CHECK((types & (1 << EVENT_EXEC | 1 << EVENT_CONNECT | 1 << EVENT_LISTEN | 1 << EVENT_DNS |
			  1 << EVENT_FILE)) ==
		(1 << EVENT_EXEC | 1 << EVENT_CONNECT | 1 << EVENT_LISTEN | 1 << EVENT_DNS | 1 << EVENT_FILE));
	sensor_free(s);
}

T_MAIN(T_CASE(dns_valid), T_CASE(dns_hostile), T_CASE(cgroup_resolver), T_CASE(event_json_roundtrip),
       T_CASE(event_json_errors), T_CASE(replay_backend), T_CASE(queue_full_backpressure),
       T_CASE(replay_drops_and_filters),
       T_CASE(sensor_open_errors), T_CASE(syscall_hook_names), T_CASE(runtime_setup_detection), T_CASE(recording_replays))
