/*
 * event: JSON rendering and parsing of runtime events, and the DNS query parser (see event.h).
 *
 * Rendering never fails except for memory; parsing checks every field's type and bound and names
 * the offending field in its message. The DNS parser reads only inside [msg, msg + len) and
 * writes only inside [out, out + outlen).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "event.h"

static const char *const type_names[EVENT_TYPE_MAX] = {
	[EVENT_EXEC] = "exec", [EVENT_EXIT] = "exit", [EVENT_CONNECT] = "connect",
	[EVENT_LISTEN] = "listen", [EVENT_BIND] = "bind", [EVENT_DNS] = "dns", [EVENT_FILE] = "file",
};

static const char *const file_ops[] = {
	[EVENT_FILE_OPEN] = "open", [EVENT_FILE_UNLINK] = "unlink",
	[EVENT_FILE_RENAME] = "rename", [EVENT_FILE_CHMOD] = "chmod",
};

const char *event_type_name(enum event_type t)
{
	return t > 0 && t < EVENT_TYPE_MAX ? type_names[t] : NULL;
}

enum event_type event_type_from_name(const char *name)
{
	for (int t = 1; t < EVENT_TYPE_MAX; t++)
		if (name != NULL && strcmp(name, type_names[t]) == 0)
			return (enum event_type)t;
	return 0;
}

/* A JSON string for untrusted bytes: as is when valid UTF-8, else with bytes >= 0x80 as '?'. */
static json_t *str_json(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	json_t *j = json_stringn(s, n);
	char buf[EVENT_QNAME_MAX + 1];

	if (j != NULL || n >= sizeof(buf))
		return j != NULL ? j : json_string("");
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] >= 0x80 ? '?' : s[i];
	return json_stringn(buf, n);
}

static int set(json_t *o, const char *k, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(o, k, v);
}

static json_t *addr_json(uint16_t family, const uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN];

	if ((family != AF_INET && family != AF_INET6) ||
	    inet_ntop(family, addr, buf, sizeof(buf)) == NULL)
		return json_string("");
	return json_string(buf);
}

static const char *family_name(uint16_t f)
{
	return f == AF_INET ? "ipv4" : f == AF_INET6 ? "ipv6" : "";
}

static json_t *proto_json(uint8_t p)
{
	if (p == IPPROTO_TCP)
		return json_string("tcp");
	if (p == IPPROTO_UDP)
		return json_string("udp");
	char buf[8];
	snprintf(buf, sizeof(buf), "%u", p);
	return json_string(buf);
}

static const struct {
	uint32_t ifmt;
	const char *name;
} stdio_types[] = {
	{ 0140000, "sock" }, { 0120000, "link" }, { 0100000, "file" }, { 0060000, "blk" },
	{ 0040000, "dir" },  { 0020000, "chr" },  { 0010000, "fifo" },
};

#define S_IFMT_BITS 0170000u
#define TCP_ESTABLISHED_ 1
#define TCP_CLOSE_WAIT_ 8

int event_exec_of_fd(const char *filename)
{
	return strncmp(filename, "/dev/fd/", 8) == 0 || strncmp(filename, "/proc/self/fd/", 14) == 0;
}

int event_stdio_connected(const struct event_stdio *s)
{
	return (s->mode & S_IFMT_BITS) == 0140000u && (s->family == AF_INET || s->family == AF_INET6) &&
	       (s->state == TCP_ESTABLISHED_ || s->state == TCP_CLOSE_WAIT_);
}

static json_t *stdio_one_json(const struct event_stdio *s)
{
	json_t *o = json_object();
	const char *type = "";
	char fam[8];
	int r = 0;

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(stdio_types) / sizeof(stdio_types[0]); i++)
		if ((s->mode & S_IFMT_BITS) == stdio_types[i].ifmt)
			type = stdio_types[i].name;
	r |= set(o, "type", json_string(type));
	if (strcmp(type, "sock") == 0 && s->family != 0) {
		if (s->family == AF_INET || s->family == AF_INET6) {
			r |= set(o, "family", json_string(family_name(s->family)));
			r |= set(o, "state", json_integer(s->state));
			r |= set(o, "connected", json_boolean(event_stdio_connected(s)));
			if (event_stdio_connected(s)) {
				r |= set(o, "addr", addr_json(s->family, s->addr));
				r |= set(o, "port", json_integer(s->port));
			}
		} else if (s->family == AF_UNIX) {
			r |= set(o, "family", json_string("unix"));
		} else {
			snprintf(fam, sizeof(fam), "%u", s->family);
			r |= set(o, "family", json_string(fam));
		}
	}
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *stdio_json(const struct event *ev)
{
	json_t *a = json_array();

	if (a == NULL)
		return NULL;
	for (int i = 0; i < 3; i++)
		if (json_array_append_new(a, stdio_one_json(&ev->exec.stdio[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

json_t *event_argv_json(const struct event *ev)
{
	json_t *a = json_array();
	size_t i = 0, n = ev->exec.args_len;

	if (a == NULL)
		return NULL;
	if (n > EVENT_ARGS_MAX)
		n = EVENT_ARGS_MAX;
	while (i < n) {
		size_t l = strnlen(ev->exec.args + i, n - i);
		if (json_array_append_new(a, str_json(ev->exec.args + i, l)) != 0) {
			json_decref(a);
			return NULL;
		}
		i += l + 1;
	}
	return a;
}

json_t *event_to_json(const struct event *ev)
{
	json_t *o = json_object();
	int r = 0;

	if (o == NULL)
		return NULL;
	r |= set(o, "type", json_string(event_type_name(ev->type) ? event_type_name(ev->type) : "?"));
	r |= set(o, "time_ns", json_integer((json_int_t)ev->time_ns));
	r |= set(o, "cgroup_id", json_integer((json_int_t)ev->cgroup_id));
	r |= set(o, "container", str_json(ev->container, sizeof(ev->container)));
	r |= set(o, "pid", json_integer(ev->pid));
	r |= set(o, "tgid", json_integer(ev->tgid));
	r |= set(o, "uid", json_integer(ev->uid));
	r |= set(o, "gid", json_integer(ev->gid));
	r |= set(o, "comm", str_json(ev->comm, sizeof(ev->comm)));
	if (ev->repeats)
		r |= set(o, "repeats", json_integer(ev->repeats));
	switch (ev->type) {
	case EVENT_EXEC:
		r |= set(o, "ppid", json_integer(ev->exec.ppid));
		r |= set(o, "filename", str_json(ev->exec.filename, sizeof(ev->exec.filename)));
		r |= set(o, "argv", event_argv_json(ev));
		r |= set(o, "argv_truncated", json_boolean(ev->exec.argv_truncated));
		r |= set(o, "start_ns", json_integer((json_int_t)ev->exec.start_ns));
		r |= set(o, "exe_ino", json_integer((json_int_t)ev->exec.exe_ino));
		r |= set(o, "exe_dev", json_integer(ev->exec.exe_dev));
		r |= set(o, "exe_mtime", json_integer(ev->exec.exe_mtime));
		r |= set(o, "exe_ctime", json_integer(ev->exec.exe_ctime));
		r |= set(o, "runtime_setup", json_boolean(ev->exec.runtime_setup));
		r |= set(o, "stdio", stdio_json(ev));
		break;
	case EVENT_EXIT:
		r |= set(o, "exit_code", json_integer(ev->exit.code));
		break;
	case EVENT_CONNECT:
	case EVENT_LISTEN:
	case EVENT_BIND:
		r |= set(o, "proto", proto_json(ev->net.proto));
		r |= set(o, "family", json_string(family_name(ev->net.family)));
		r |= set(o, "addr", addr_json(ev->net.family, ev->net.addr));
		r |= set(o, "port", json_integer(ev->net.port));
		r |= set(o, "result", json_integer(ev->net.result));
		r |= set(o, "fd", json_integer(ev->net.fd));
		break;
	case EVENT_DNS:
		r |= set(o, "family", json_string(family_name(ev->dns.family)));
		r |= set(o, "server", addr_json(ev->dns.family, ev->dns.addr));
		r |= set(o, "port", json_integer(ev->dns.port));
		r |= set(o, "qname", str_json(ev->dns.qname, sizeof(ev->dns.qname)));
		r |= set(o, "qtype", json_integer(ev->dns.qtype));
		r |= set(o, "qlen", json_integer(ev->dns.qlen));
		break;
	case EVENT_FILE:
		r |= set(o, "op", json_string(ev->file.op >= EVENT_FILE_OPEN && ev->file.op <= EVENT_FILE_CHMOD ?
						     file_ops[ev->file.op] : "?"));
		r |= set(o, "path", str_json(ev->file.path, sizeof(ev->file.path)));
		if (ev->file.op == EVENT_FILE_RENAME)
			r |= set(o, "path2", str_json(ev->file.path2, sizeof(ev->file.path2)));
		r |= set(o, "flags", json_integer(ev->file.flags));
		r |= set(o, "mode", json_integer(ev->file.mode));
		r |= set(o, "dirfd", json_integer(ev->file.dirfd));
		r |= set(o, "result", json_integer(ev->file.result));
		break;
	default:
		break;
	}
	if (r != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- parsing ---- */

struct pctx {
	const json_t *o;
	char *err;
	size_t errlen;
	int bad;
};

static void perr(struct pctx *c, const char *field, const char *why)
{
	if (c->bad++ == 0 && c->err != NULL && c->errlen > 0)
		snprintf(c->err, c->errlen, "event field \"%s\": %s", field, why);
}

/* An integer field within [lo, hi]; absent gives 0. */
static long long get_int(struct pctx *c, const char *k, long long lo, long long hi)
{
	const json_t *v = json_object_get(c->o, k);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v)) {
		perr(c, k, "not an integer");
		return 0;
	}
	long long x = json_integer_value(v);
	if (x < lo || x > hi) {
		perr(c, k, "out of range");
		return 0;
	}
	return x;
}

/* An unsigned 64-bit field: jansson's integers are signed, so values above INT64_MAX were written
 * as negative numbers by event_to_json; they come back bit for bit. */
static uint64_t get_u64(struct pctx *c, const char *k)
{
	const json_t *v = json_object_get(c->o, k);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v)) {
		perr(c, k, "not an integer");
		return 0;
	}
	return (uint64_t)json_integer_value(v);
}

static int get_bool(struct pctx *c, const char *k)
{
	const json_t *v = json_object_get(c->o, k);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v)) {
		perr(c, k, "not a boolean");
		return 0;
	}
	return json_is_true(v);
}

/* A string field copied into buf (NUL-terminated); absent gives "". */
static const char *get_str(struct pctx *c, const char *k, char *buf, size_t size)
{
	const json_t *v = json_object_get(c->o, k);

	buf[0] = 0;
	if (v == NULL)
		return NULL;
	if (!json_is_string(v)) {
		perr(c, k, "not a string");
		return NULL;
	}
	size_t n = json_string_length(v);
	if (n >= size || memchr(json_string_value(v), 0, n) != NULL) {
		perr(c, k, "too long or holds a NUL");
		return NULL;
	}
	memcpy(buf, json_string_value(v), n + 1);
	return buf;
}

static uint16_t get_family(struct pctx *c)
{
	char f[8];

	if (get_str(c, "family", f, sizeof(f)) == NULL || f[0] == 0)
		return 0;
	if (strcmp(f, "ipv4") == 0)
		return AF_INET;
	if (strcmp(f, "ipv6") == 0)
		return AF_INET6;
	perr(c, "family", "neither ipv4 nor ipv6");
	return 0;
}

static void get_addr(struct pctx *c, const char *k, uint16_t family, uint8_t addr[16])
{
	char a[INET6_ADDRSTRLEN + 1];

	memset(addr, 0, 16);
	if (get_str(c, k, a, sizeof(a)) == NULL || a[0] == 0)
		return;
	if (family == 0 || inet_pton(family, a, addr) != 1)
		perr(c, k, "not an address of the family");
}

static uint8_t get_proto(struct pctx *c)
{
	char p[8];

	if (get_str(c, "proto", p, sizeof(p)) == NULL)
		return 0;
	if (strcmp(p, "tcp") == 0)
		return IPPROTO_TCP;
	if (strcmp(p, "udp") == 0)
		return IPPROTO_UDP;
	char *end;
	unsigned long v = strtoul(p, &end, 10);
	if (p[0] < '0' || p[0] > '9' || *end != 0 || v > 255) {
		perr(c, "proto", "unknown protocol");
		return 0;
	}
	return (uint8_t)v;
}

static void get_argv(struct pctx *c, struct event *ev)
{
	const json_t *a = json_object_get(c->o, "argv"), *v;
	size_t i, off = 0;

	ev->exec.args_len = 0;
	if (a == NULL)
		return;
	if (!json_is_array(a)) {
		perr(c, "argv", "not an array");
		return;
	}
	json_array_foreach(a, i, v) {
		if (!json_is_string(v)) {
			perr(c, "argv", "holds a non-string");
			return;
		}
		size_t n = json_string_length(v);
		if (memchr(json_string_value(v), 0, n) != NULL || off + n + 1 > EVENT_ARGS_MAX) {
			perr(c, "argv", "too long or holds a NUL");
			return;
		}
		memcpy(ev->exec.args + off, json_string_value(v), n + 1);
		off += n + 1;
	}
	ev->exec.args_len = off;
}

/* One element of "stdio" into *s. */
static void get_stdio_one(struct pctx *c, struct event_stdio *s)
{
	char t[8], fam[8];

	memset(s, 0, sizeof(*s));
	if (!json_is_object(c->o)) {
		perr(c, "stdio", "holds a non-object");
		return;
	}
	if (get_str(c, "type", t, sizeof(t)) != NULL && t[0] != 0) {
		for (size_t i = 0; i < sizeof(stdio_types) / sizeof(stdio_types[0]); i++)
			if (strcmp(t, stdio_types[i].name) == 0)
				s->mode = stdio_types[i].ifmt;
		if (s->mode == 0)
			perr(c, "stdio.type", "unknown file type");
	}
	if (get_str(c, "family", fam, sizeof(fam)) != NULL && fam[0] != 0) {
		if (strcmp(fam, "ipv4") == 0) {
			s->family = AF_INET;
		} else if (strcmp(fam, "ipv6") == 0) {
			s->family = AF_INET6;
		} else if (strcmp(fam, "unix") == 0) {
			s->family = AF_UNIX;
		} else {
			char *end;
			unsigned long v = strtoul(fam, &end, 10);
			if (fam[0] < '0' || fam[0] > '9' || *end != 0 || v == 0 || v > 65535)
				perr(c, "stdio.family", "unknown family");
			else
				s->family = (uint16_t)v;
		}
		if (s->mode != 0140000u)
			perr(c, "stdio.family", "given for a descriptor that is not a socket");
	}
	if (s->family == AF_INET || s->family == AF_INET6) {
		s->state = (uint8_t)get_int(c, "state", 0, 255);
		if (json_object_get(c->o, "state") == NULL && get_bool(c, "connected"))
			s->state = TCP_ESTABLISHED_;
		get_addr(c, "addr", s->family, s->addr);
		s->port = (uint16_t)get_int(c, "port", 0, 65535);
	}
}

static void get_stdio(struct pctx *c, struct event *ev)
{
	const json_t *a = json_object_get(c->o, "stdio"), *v;
	size_t i;

	if (a == NULL)
		return;
	if (!json_is_array(a) || json_array_size(a) > 3) {
		perr(c, "stdio", "not an array of at most 3 descriptors");
		return;
	}
	json_array_foreach(a, i, v) {
		struct pctx sub = { v, c->err, c->errlen, c->bad };
		get_stdio_one(&sub, &ev->exec.stdio[i]);
		c->bad = sub.bad;
	}
}

int event_from_json(const json_t *obj, struct event *ev, char *errmsg, size_t errlen)
{
	struct pctx c = { obj, errmsg, errlen, 0 };
	char t[16], op[16];

	memset(ev, 0, sizeof(*ev));
	if (!json_is_object(obj)) {
		perr(&c, "(event)", "not an object");
		return -EINVAL;
	}
	if (get_str(&c, "type", t, sizeof(t)) == NULL || (ev->type = event_type_from_name(t)) == 0) {
		perr(&c, "type", "missing or unknown");
		return -EINVAL;
	}
	ev->time_ns = get_u64(&c, "time_ns");
	ev->cgroup_id = get_u64(&c, "cgroup_id");
	if (get_str(&c, "container", ev->container, sizeof(ev->container)) != NULL)
		ev->container_known = 1;
	ev->pid = (uint32_t)get_int(&c, "pid", 0, UINT32_MAX);
	ev->tgid = (uint32_t)get_int(&c, "tgid", 0, UINT32_MAX);
	ev->uid = (uint32_t)get_int(&c, "uid", 0, UINT32_MAX);
	ev->gid = (uint32_t)get_int(&c, "gid", 0, UINT32_MAX);
	get_str(&c, "comm", ev->comm, sizeof(ev->comm));
	ev->repeats = (uint32_t)get_int(&c, "repeats", 0, UINT32_MAX);
	switch (ev->type) {
	case EVENT_EXEC:
		ev->exec.ppid = (uint32_t)get_int(&c, "ppid", 0, UINT32_MAX);
		get_str(&c, "filename", ev->exec.filename, sizeof(ev->exec.filename));
		get_argv(&c, ev);
		ev->exec.argv_truncated = get_bool(&c, "argv_truncated");
		ev->exec.start_ns = get_u64(&c, "start_ns");
		ev->exec.exe_ino = get_u64(&c, "exe_ino");
		ev->exec.exe_dev = (uint32_t)get_int(&c, "exe_dev", 0, UINT32_MAX);
		ev->exec.exe_mtime = get_int(&c, "exe_mtime", INT64_MIN, INT64_MAX);
		ev->exec.exe_ctime = get_int(&c, "exe_ctime", INT64_MIN, INT64_MAX);
		ev->exec.runtime_setup = get_bool(&c, "runtime_setup");
		get_stdio(&c, ev);
		break;
	case EVENT_EXIT:
		ev->exit.code = (int32_t)get_int(&c, "exit_code", INT32_MIN, INT32_MAX);
		break;
	case EVENT_CONNECT:
	case EVENT_LISTEN:
	case EVENT_BIND:
		ev->net.proto = get_proto(&c);
		ev->net.family = get_family(&c);
		get_addr(&c, "addr", ev->net.family, ev->net.addr);
		ev->net.port = (uint16_t)get_int(&c, "port", 0, 65535);
		ev->net.result = (int32_t)get_int(&c, "result", INT32_MIN, INT32_MAX);
		ev->net.fd = (int32_t)get_int(&c, "fd", INT32_MIN, INT32_MAX);
		break;
	case EVENT_DNS:
		ev->dns.family = get_family(&c);
		get_addr(&c, "server", ev->dns.family, ev->dns.addr);
		ev->dns.port = (uint16_t)get_int(&c, "port", 0, 65535);
		get_str(&c, "qname", ev->dns.qname, sizeof(ev->dns.qname));
		ev->dns.qtype = (uint16_t)get_int(&c, "qtype", 0, 65535);
		ev->dns.qlen = (uint32_t)get_int(&c, "qlen", 0, UINT32_MAX);
		break;
	case EVENT_FILE:
		if (get_str(&c, "op", op, sizeof(op)) == NULL) {
			perr(&c, "op", "missing");
			break;
		}
		for (int i = EVENT_FILE_OPEN; i <= EVENT_FILE_CHMOD; i++)
			if (strcmp(op, file_ops[i]) == 0)
				ev->file.op = (enum event_file_op)i;
		if (ev->file.op == 0)
			perr(&c, "op", "unknown");
		get_str(&c, "path", ev->file.path, sizeof(ev->file.path));
		get_str(&c, "path2", ev->file.path2, sizeof(ev->file.path2));
		ev->file.flags = (uint32_t)get_int(&c, "flags", 0, UINT32_MAX);
		ev->file.mode = (uint32_t)get_int(&c, "mode", 0, UINT32_MAX);
		ev->file.dirfd = (int32_t)get_int(&c, "dirfd", INT32_MIN, INT32_MAX);
		ev->file.result = (int32_t)get_int(&c, "result", INT32_MIN, INT32_MAX);
		break;
	default:
		break;
	}
	return c.bad ? -EINVAL : 0;
}

/* ---- DNS ---- */

static int qname_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

int event_dns_parse_query(const uint8_t *msg, size_t len, char *out, size_t outlen, uint16_t *qtype)
{
	size_t p = 12, o = 0, wire = 0;
	int r = -EBADMSG;

	if (qtype != NULL)
		*qtype = 0;
	if (out == NULL || outlen < 2)
		return -ENOSPC;
	out[0] = 0;
	if (msg == NULL || len < 12 + 1 + 4)
		goto fail;
	/* QDCOUNT (bytes 4-5) must be at least 1; QR (bit 7 of byte 2) 0 for a query. */
	if (((msg[4] << 8) | msg[5]) == 0 || (msg[2] & 0x80) != 0)
		goto fail;
	for (;;) {
		if (p >= len)
			goto fail;
		size_t l = msg[p++];
		wire++;
		if (l == 0)
			break;
		if (l > 63) /* 0xc0: a compression pointer, 0x40/0x80: reserved label types */
			goto fail;
		if (p + l > len || wire + l + 1 > 255) /* + 1: the root label still to come */
			goto fail;
		wire += l;
		if (o > 0) {
			if (o + 1 >= outlen) {
				r = -ENOSPC;
				goto fail;
			}
			out[o++] = '.';
		}
		for (size_t i = 0; i < l; i++) {
			int ch = msg[p + i];
			if (qname_char(ch)) {
				if (o + 1 >= outlen) {
					r = -ENOSPC;
					goto fail;
				}
				out[o++] = (char)ch;
			} else {
				if (o + 4 >= outlen) {
					r = -ENOSPC;
					goto fail;
				}
				snprintf(out + o, 5, "\\%03d", ch);
				o += 4;
			}
		}
		p += l;
	}
	if (p + 4 > len)
		goto fail;
	if (o == 0)
		out[o++] = '.';
	out[o] = 0;
	if (qtype != NULL)
		*qtype = (uint16_t)((msg[p] << 8) | msg[p + 1]);
	return 0;
fail:
	out[0] = 0;
	return r;
}
