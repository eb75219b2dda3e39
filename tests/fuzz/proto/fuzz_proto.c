/*
 * fuzz_proto: one Defender -> Console message, as the Console's hub reads it, minus the transport.
 * console/hub.c keeps its handlers static (they need a live lws connection and the store), so this
 * harness fuzzes the layer underneath them, which is where untrusted bytes are interpreted:
 *   1. json_loadb(data, len, JSON_REJECT_DUPLICATES) on the WebSocket text message, as on_message()
 *      does (PROTO_MAX_MSG bounds the message before that; the harness refuses larger inputs);
 *   2. the "type" member, then the field extraction rules of on_enroll() and on_hello():
 *      proto_msg_text() for hostname, csr, version, defenderType, cluster and clusterSource, the
 *      hostname rule of proto_valid_hostname(), proto_pick() for cloudMetadata and systemInfo, and
 *      the heartbeat "seq" (the real functions from lib/proto.c that hub.c calls);
 *   3. json_dumps() of the picked objects, as the store serializes them.
 * Not covered: libwebsockets framing, TLS, the certificate checks and the store.
 *
 * Checks besides "no crash, no leak": every extracted string obeys its rule (length, no control
 * characters, no embedded NUL), and pick() never copies a member of the wrong type or size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <garrison/proto.h>

#define msg_text proto_msg_text
#define valid_hostname proto_valid_hostname
#define pick proto_pick
#define nested_strs proto_nested_strs

/* A broken contract: say which check and where, then abort() so that libFuzzer keeps the input. */
#define BROKEN(why)                                                                      \
	do {                                                                             \
		fprintf(stderr, "%s:%d: contract broken: %s\n", __FILE__, __LINE__, why); \
		abort();                                                                 \
	} while (0)
#define BROKEN_IF(cond)             \
	do {                        \
		if (cond)           \
			BROKEN(#cond); \
	} while (0)

static void check_text(const char *v, size_t max, int multiline)
{
	size_t n;

	if (v == NULL)
		return;
	n = strlen(v);
	BROKEN_IF(n > max);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		BROKEN_IF((ch < 0x20 || ch == 0x7f) && !(multiline && (ch == '\n' || ch == '\r')));
	}
}

/* Every member of a picked object is a listed string of <= 1024 bytes, a listed number, or a
 * listed nested object of such strings. */
static void check_picked(json_t *o, const char *const *strs, const char *const *nums,
			 const char *const *objs, int depth)
{
	const char *key;
	json_t *v;

	BROKEN_IF(!json_is_object(o) || depth > 1);
	json_object_foreach(o, key, v) {
		int ok = 0;
		for (const char *const *s = strs; s && *s && !ok; s++)
			ok = strcmp(*s, key) == 0 && json_is_string(v) &&
			     json_string_length(v) <= 1024;
		for (const char *const *s = nums; s && *s && !ok; s++)
			ok = strcmp(*s, key) == 0 && json_is_number(v);
		for (const char *const *s = objs; s && *s && !ok; s++)
			if (strcmp(*s, key) == 0) {
				check_picked(v, nested_strs, NULL, NULL, depth + 1);
				ok = 1;
			}
		BROKEN_IF(!ok);
	}
}

static void serialize(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	BROKEN_IF(s == NULL); /* what pick() built must always serialize */
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cloud_strs[] = { "provider", "accountID", "region", "resourceID",
		"name", "type", "image", "vmID", "resourceURL", "awsExecutionEnv", NULL };
	static const char *const cloud_objs[] = { "gcp", "azure", NULL };
	static const char *const sys_strs[] = { "kernelVersion", "osDistro", "osVersion", NULL };
	static const char *const sys_nums[] = { "cpuCount", "memoryGB", "totalDiskSpaceGB",
		"freeDiskSpaceGB", NULL };
	json_error_t jerr;
	json_t *msg, *cloud, *sys, *seq, *ack;
	const char *type, *host;

	if (size > PROTO_MAX_MSG)
		return 0;
	msg = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	type = json_string_value(json_object_get(msg, "type"));
	if (!json_is_object(msg) || type == NULL) {
		BROKEN_IF(msg == NULL && jerr.text[0] == '\0'); /* a refusal always says why */
		json_decref(msg);
		return 0;
	}

	/* enroll */
	host = msg_text(msg, "hostname", PROTO_HOSTNAME_MAX, 0);
	check_text(host, PROTO_HOSTNAME_MAX, 0);
	(void)valid_hostname(host);
	check_text(msg_text(msg, "csr", 8192, 1), 8192, 1);

	/* hello */
	check_text(msg_text(msg, "defenderType", 32, 0), 32, 0);
	check_text(msg_text(msg, "version", 64, 0), 64, 0);
	check_text(msg_text(msg, "cluster", 253, 0), 253, 0);
	check_text(msg_text(msg, "clusterSource", 32, 0), 32, 0);
	cloud = pick(json_object_get(msg, "cloudMetadata"), cloud_strs, NULL, cloud_objs);
	sys = pick(json_object_get(msg, "systemInfo"), sys_strs, sys_nums, NULL);
	check_picked(cloud, cloud_strs, NULL, cloud_objs, 0);
	check_picked(sys, sys_strs, sys_nums, NULL, 0);
	serialize(cloud);
	serialize(sys);
	json_decref(cloud);
	json_decref(sys);

	/* heartbeat: the ack echoes an integer seq, 0 otherwise */
	seq = json_object_get(msg, "seq");
	ack = json_pack("{s:s,s:I}", "type", PROTO_HEARTBEAT_ACK, "seq",
			json_is_integer(seq) ? json_integer_value(seq) : 0);
	BROKEN_IF(ack == NULL);
	serialize(ack);
	json_decref(ack);

	json_decref(msg);
	return 0;
}
