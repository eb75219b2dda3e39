/*
 * hostinfo: facts about the host's processes and sockets, read from a procfs, beyond what sysinfo
 * reports: which TCP ports a network namespace listens on (/proc/PID/net/tcp and tcp6, state 0A),
 * which UDP ports it has bound without connecting them (/proc/PID/net/udp and udp6: state 07,
 * remote address and port zero) and which sockets a process holds (/proc/PID/fd). The Defender's inventory uses them for the
 * listening ports of containers; Radar can use them for the host's own.
 *
 * Everything read here is treated as untrusted text: lines are bounded to HOSTINFO_LINE_MAX, a
 * table to HOSTINFO_LINES_MAX lines and a process to HOSTINFO_FDS_MAX descriptors; a malformed
 * line is an error (-EBADMSG), never a guess. All functions are thread-safe and allocate nothing
 * the caller must free unless they say so.
 */
#ifndef GARRISON_HOSTINFO_H
#define GARRISON_HOSTINFO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define HOSTINFO_LINE_MAX 512          /* a /proc/net/tcp6 line is about 150 bytes */
#define HOSTINFO_LINES_MAX 1000000     /* sockets read from one table */
#define HOSTINFO_FDS_MAX 65536         /* descriptors looked at per process */

/* One listening TCP socket, or one bound and unconnected UDP socket. */
struct hostinfo_listen {
	uint16_t port;
	uint8_t v6;          /* from tcp6 or udp6 */
	uint8_t udp;         /* from udp or udp6 (else TCP) */
	uint8_t loopback;    /* bound to 127.0.0.0/8 or ::1 only */
	uint64_t inode;      /* socket inode, to match against hostinfo_socket_inodes() */
};

/* Parses one line of /proc/PID/net/tcp (v6 == 0) or tcp6 (v6 == 1), without or with its newline.
 * Returns 1 and fills *out for a listening socket (state 0A), 0 for another socket or the header
 * line, -EBADMSG for a malformed line. */
int hostinfo_parse_tcp_line(const char *line, int v6, struct hostinfo_listen *out);

/* Parses a whole table (the text of one file, len bytes) and appends the listening sockets to
 * out[*n..max). Returns 0, -EBADMSG (a malformed or over-long line) or -E2BIG (more than max
 * listening sockets: out holds the first ones, *n == max). */
int hostinfo_parse_tcp(const char *text, size_t len, int v6, struct hostinfo_listen *out,
		       size_t max, size_t *n);

/* Parses one line of /proc/PID/net/udp (v6 == 0) or udp6 (v6 == 1). Returns 1 and fills *out
 * (udp = 1) for a bound, unconnected socket (state 07, remote address and port zero, local port
 * not zero): one that receives datagrams from anyone, the UDP form of listening. 0 for another
 * socket or the header line, -EBADMSG for a malformed line. */
int hostinfo_parse_udp_line(const char *line, int v6, struct hostinfo_listen *out);

/* hostinfo_parse_tcp() for a udp or udp6 table. */
int hostinfo_parse_udp(const char *text, size_t len, int v6, struct hostinfo_listen *out,
		       size_t max, size_t *n);

/* The listening sockets of the network namespace of process pid: proc_root/PID/net/tcp, tcp6, udp
 * then udp6 (a missing tcp6, udp or udp6 is skipped), appended to out[*n..max). Returns 0,
 * -ENOENT when the process is gone, -EBADMSG, -E2BIG, or another -errno. */
int hostinfo_listening(const char *proc_root, long pid, struct hostinfo_listen *out, size_t max,
		       size_t *n);

/* The inodes of the sockets process pid holds (proc_root/PID/fd/N -> "socket:[INODE]"), appended
 * to out[*n..max). Returns 0, -ENOENT when the process is gone, -EACCES, -E2BIG when it holds more
 * sockets than fit. */
int hostinfo_socket_inodes(const char *proc_root, long pid, uint64_t *out, size_t max, size_t *n);

/* Where the host's processes are: host_root/proc when host_root is not "/" and that directory is
 * a procfs with a process 1, else "/proc". Writes it into buf. */
void hostinfo_proc_root(const char *host_root, char *buf, size_t len);

/* The host record of the inventory: sysinfo_collect(host_root) plus "hostname" (this UTS
 * namespace's, as the Defender's hello reports it). A new reference, NULL only when out of
 * memory. */
json_t *hostinfo_collect(const char *host_root);

#endif
