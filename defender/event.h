/*
 * event: the runtime events every sensor back end produces (eBPF, replay of a recording, later the
 * proc connector), in one user-space shape, and their JSON form (one object per event; a file of
 * such lines is what the replay back end reads and what tests/tools/sensor_dump prints).
 *
 * struct event is fixed-size (no pointers, about 1.1 KiB), so queues can hold them in preallocated
 * slots. Strings are always NUL-terminated; byte strings from the kernel are untrusted and may be
 * cut at their buffer size (the *_trunc flags say so). Only the fields of ev->type's member of the
 * union are meaningful.
 *
 * JSON shape (every event): {"type":"exec|exit|connect|listen|bind|dns|file", "time_ns":N (Unix
 * epoch), "cgroup_id":N, "container":"<64 hex>" or "" for the host, "pid","tgid","uid","gid":N,
 * "comm":S, "repeats":N (only when more than 0), then per type:
 *   exec:    "ppid","filename","argv":[S...],"argv_truncated","start_ns" (Unix epoch),"exe_ino",
 *            "exe_dev","exe_mtime","exe_ctime" (Unix seconds),"runtime_setup" (runc's own exec),
 *            "stdio": three objects, the new image's descriptors 0, 1, 2: {"type":T} with T one of
 *            "" (closed or unknown), "file", "dir", "chr", "blk", "fifo", "link", "sock"; a socket
 *            adds "family" ("ipv4", "ipv6", "unix", or the number as a string); an inet socket adds
 *            "connected" (bool), "state" (the kernel's TCP state number) and, when connected,
 *            "addr" and "port" of the peer. Recordings without "stdio" read as three unknowns.
 *   exit:    "exit_code"
 *   connect/listen/bind: "proto":"tcp|udp|<n>","family":"ipv4|ipv6","addr","port","result" (errno
 *            as a negative number; connect's -115 is EINPROGRESS),"fd"
 *   dns:     "server","port","qname","qtype" (0 when the query could not be parsed),"qlen"
 *   file:    "op":"open|unlink|rename|chmod","path","path2" (rename),"flags","mode","dirfd",
 *            "result"
 * Strings that are not valid UTF-8 are written with every byte >= 0x80 replaced by '?'.
 */
#ifndef GARRISON_EVENT_H
#define GARRISON_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EVENT_COMM_MAX 16
#define EVENT_PATH_MAX 256
#define EVENT_ARGS_MAX 512
#define EVENT_QNAME_MAX 1024 /* 255 wire bytes, each at most 4 characters (\DDD) */
#define EVENT_CONTAINER_MAX 65

enum event_type {
	EVENT_EXEC = 1,
	EVENT_EXIT = 2,
	EVENT_CONNECT = 3,
	EVENT_LISTEN = 4,
	EVENT_BIND = 5,
	EVENT_DNS = 6,
	EVENT_FILE = 7,
	EVENT_TYPE_MAX = 8
};

enum event_file_op { EVENT_FILE_OPEN = 1, EVENT_FILE_UNLINK, EVENT_FILE_RENAME, EVENT_FILE_CHMOD };

struct event_net {
	int32_t result;
	int32_t fd;
	uint16_t family; /* AF_INET or AF_INET6 */
	uint16_t port;
	uint8_t proto;   /* IPPROTO_* or 0 */
	uint8_t addr[16];
};

/* Descriptor 0, 1 or 2 of an exec'd process. */
struct event_stdio {
	uint32_t mode;   /* S_IFMT bits (S_IFSOCK, S_IFIFO, S_IFCHR, ...); 0 when closed or unknown */
	uint16_t family; /* sockets: AF_INET, AF_INET6, AF_UNIX, ...; 0 otherwise */
	uint16_t port;   /* inet sockets: peer port */
	uint8_t state;   /* inet sockets: the kernel's TCP state (1 ESTABLISHED, 8 CLOSE_WAIT, ...) */
	uint8_t addr[16]; /* inet sockets: peer address (IPv4 in the first 4 bytes) */
};

struct event {
	enum event_type type;
	uint64_t time_ns;   /* Unix epoch, nanoseconds */
	uint64_t cgroup_id;
	/* "" for the host (or a cgroup that is not a container's), else the container's full id.
	 * container_known is 1 once it has been resolved (or came from a recording). */
	char container[EVENT_CONTAINER_MAX];
	int container_known;
	uint32_t pid, tgid, uid, gid;
	/* More occurrences of this very operation that the sensor folded into this event (eBPF: same
	 * process image, cgroup, user and content within the fold window): it stands for 1 + repeats. */
	uint32_t repeats;
	char comm[EVENT_COMM_MAX + 1];
	union {
		struct {
			uint32_t ppid;
			uint64_t start_ns; /* Unix epoch */
			uint64_t exe_ino;
			uint32_t exe_dev;
			int64_t exe_mtime, exe_ctime;
			int argv_truncated;
			int runtime_setup; /* the container runtime's own exec (runc's /dev/fd/N) */
			struct event_stdio stdio[3]; /* fds 0, 1, 2 of the new image */
			char filename[EVENT_PATH_MAX + 1];
			size_t args_len;  /* bytes in args: argv strings, each NUL-terminated */
			char args[EVENT_ARGS_MAX + 1];
		} exec;
		struct {
			int32_t code;
		} exit;
		struct event_net net; /* connect, listen, bind */
		struct {
			uint16_t family, port;
			uint8_t addr[16];
			uint32_t qlen;  /* payload length sent */
			uint16_t qtype; /* 0 when the query could not be parsed */
			char qname[EVENT_QNAME_MAX];
		} dns;
		struct {
			enum event_file_op op;
			int32_t result;
			uint32_t flags, mode;
			int32_t dirfd;
			char path[EVENT_PATH_MAX + 1];
			char path2[EVENT_PATH_MAX + 1];
		} file;
	};
};

/* "exec", "exit", ... for a type; NULL for an unknown one. */
const char *event_type_name(enum event_type t);
/* The type for a name, or 0. */
enum event_type event_type_from_name(const char *name);

/* The event as a new JSON object (the shape above); NULL only when out of memory. The caller
 * owns the reference. */
json_t *event_to_json(const struct event *ev);
/* Fills *ev from a JSON object of the shape above. Missing fields are zero; strings too long for
 * their buffer, numbers out of range and an unknown type are errors. 0 or -EINVAL (errmsg, when not
 * NULL, gets a sentence of at most errlen bytes). Sets ev->container_known when "container" is
 * present. */
int event_from_json(const json_t *obj, struct event *ev, char *errmsg, size_t errlen);

/* Parses the question of a DNS query (a UDP payload: 12-byte header, then QNAME, QTYPE, QCLASS)
 * into a dotted name ("example.com", "." for the root) and its type. Untrusted input: labels must
 * be 1..63 bytes, the name at most 255 bytes on the wire, no compression pointers; bytes other
 * than letters, digits, '-' and '_' are written as \DDD. 0, or -EBADMSG (truncated or malformed)
 * with out set to "". With outlen >= EVENT_QNAME_MAX every valid name fits; a shorter buffer
 * may give -ENOSPC. */
int event_dns_parse_query(const uint8_t *msg, size_t len, char *out, size_t outlen, uint16_t *qtype);

/* 1 when s is an IPv4/IPv6 socket connected to a peer (TCP ESTABLISHED or CLOSE_WAIT, or a
 * connected UDP socket), else 0. */
int event_stdio_connected(const struct event_stdio *s);
/* 1 when an exec's file name is a descriptor (/dev/fd/N, /proc/self/fd/N: fexecve, and runc
 * running itself from a memfd), which names no program. */
int event_exec_of_fd(const char *filename);

/* The argv of an exec event as a JSON array of strings (new reference, or NULL when out of
 * memory). */
json_t *event_argv_json(const struct event *ev);

#endif
