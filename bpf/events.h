/*
 * events.h: the records the eBPF sensors write into their ring buffer, shared by the BPF programs
 * (bpf/<family>.bpf.c, compiled with vmlinux.h) and by the user-space decoder (defender/sensor_bpf.c).
 *
 * Every record starts with struct gev_hdr; hdr.type says which struct follows. Records have a fixed
 * layout (no pointers, explicit padding) so that both compilers agree on it; strings are
 * NUL-terminated when they fit and may be cut at their buffer size. User space treats every byte as
 * untrusted: it checks the record length against the type and never trusts a string to be
 * terminated. Addresses are in network byte order, ports in host byte order. Times are
 * bpf_ktime_get_boot_ns() (CLOCK_BOOTTIME).
 *
 * Syscall numbers are those of x86-64 (the only architecture built and tested so far).
 */
#ifndef GARRISON_BPF_EVENTS_H
#define GARRISON_BPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define GEV_COMM_MAX 16
#define GEV_PATH_MAX 256   /* file names and paths as the syscall got them */
#define GEV_ARGS_MAX 512   /* argv bytes (NUL-separated) captured at exec */
#define GEV_DNS_MAX 256    /* bytes of a DNS query payload captured */

enum gev_type {
	GEV_EXEC = 1,
	GEV_EXIT = 2,
	GEV_CONNECT = 3,
	GEV_LISTEN = 4,
	GEV_BIND = 5, /* UDP bind only: TCP servers are reported by listen */
	GEV_DNS = 6,
	GEV_FILE = 7,
	GEV_TYPE_MAX = 8
};

/* Counters in the per-CPU array "counters": index GEV_CNT_SEEN(t) counts the records of type t the
 * programs tried to emit, GEV_CNT_LOST(t) those the ring buffer had no room for, GEV_CNT_FOLDED(t)
 * the occurrences folded into a record of the same key (see struct gev_fold_key); GEV_CNT_IA32 the
 * 32-bit (ia32) syscalls of watched numbers that were not decoded. */
#define GEV_CNT_SEEN(t) ((t) * 3)
#define GEV_CNT_LOST(t) ((t) * 3 + 1)
#define GEV_CNT_FOLDED(t) ((t) * 3 + 2)
#define GEV_CNT_IA32 (GEV_TYPE_MAX * 3)
#define GEV_CNT_MAX (GEV_TYPE_MAX * 3 + 1)

/* gev_exec.flags */
#define GEV_EXEC_ARGS_TRUNC 0x1 /* argv was longer than GEV_ARGS_MAX */
#define GEV_EXEC_NO_INODE 0x2   /* the executable's inode could not be read */

/* gev_file.op */
enum gev_file_op {
	GEV_FILE_OPEN = 1,   /* open/openat/openat2/creat for writing, creating or truncating */
	GEV_FILE_UNLINK = 2, /* unlink/unlinkat (rmdir included when AT_REMOVEDIR) */
	GEV_FILE_RENAME = 3, /* rename/renameat/renameat2: path -> path2 */
	GEV_FILE_CHMOD = 4,  /* chmod/fchmodat/fchmodat2 */
};

struct gev_hdr {
	__u32 type;      /* enum gev_type */
	__u32 pid;       /* thread id */
	__u32 tgid;      /* process id */
	__u32 uid;
	__u32 gid;
	__u32 repeats;   /* occurrences of the same key folded into this record (see gev_fold_key) */
	__u64 ts_ns;     /* CLOCK_BOOTTIME */
	__u64 cgroup_id; /* cgroup v2 id (inode of the cgroup directory) */
	char comm[GEV_COMM_MAX];
};

/* What one of the new process's descriptors 0, 1, 2 is. mode 0: closed (or unreadable). For a
 * socket (mode & S_IFMT == S_IFSOCK) family is the socket's; for AF_INET/AF_INET6 addr/port are the
 * peer (zero when not connected) and state its skc_state (TCP_ESTABLISHED 1, TCP_CLOSE 7, TCP_LISTEN
 * 10, ...; a connected UDP socket is TCP_ESTABLISHED too). */
struct gev_stdio {
	__u32 mode;    /* i_mode of the file's inode (S_IFMT bits and permissions) */
	__u16 family;  /* sockets only */
	__u16 port;    /* peer port, host order */
	__u8 state;    /* skc_state */
	__u8 pad[7];
	__u8 addr[16]; /* peer address; IPv4 in the first 4 */
};

struct gev_exec {
	struct gev_hdr h;
	__u32 ppid;       /* tgid of the real parent */
	__u32 args_len;   /* bytes used in args */
	__u32 flags;      /* GEV_EXEC_* */
	__u32 exe_dev;    /* st_dev of the mapped executable (kernel encoding) */
	__u64 start_ns;   /* task start, CLOCK_BOOTTIME */
	__u64 exe_ino;
	__s64 exe_mtime;  /* seconds */
	__s64 exe_ctime;  /* seconds */
	struct gev_stdio stdio[3]; /* fds 0, 1, 2 */
	char filename[GEV_PATH_MAX]; /* as given to execve (relative paths stay relative) */
	char args[GEV_ARGS_MAX];     /* argv strings separated by NUL */
};

struct gev_exit {
	struct gev_hdr h;
	__s32 exit_code; /* wait(2) status encoding */
	__u32 pad;
};

/* connect, listen, UDP bind. */
struct gev_net {
	struct gev_hdr h;
	__s32 ret;     /* syscall result (0, -EINPROGRESS, -ECONNREFUSED, ...) */
	__s32 fd;
	__u16 family;  /* AF_INET or AF_INET6 */
	__u16 port;    /* remote port (connect) or local port (listen, bind) */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP, 0 when unknown */
	__u8 pad[3];
	__u8 addr[16]; /* remote (connect) or local (listen, bind) address; IPv4 in the first 4 */
};

/* A UDP datagram sent to port 53; data holds its first bytes (the query). */
struct gev_dns {
	struct gev_hdr h;
	__u16 family;
	__u16 port;
	__u32 len;     /* payload length the program sent */
	__u32 cap;     /* bytes captured in data (<= GEV_DNS_MAX) */
	__u32 pad;
	__u8 addr[16]; /* the server */
	__u8 data[GEV_DNS_MAX];
};

/* Records of op other than GEV_FILE_RENAME end before path2 (shorter by GEV_PATH_MAX). */
struct gev_file {
	struct gev_hdr h;
	__u32 op;      /* enum gev_file_op */
	__s32 ret;     /* syscall result (only successes are reported) */
	__u32 flags;   /* open flags, or unlinkat/renameat2 flags */
	__u32 mode;    /* creation mode or chmod mode */
	__s32 dirfd;   /* -100 (AT_FDCWD) when relative paths are relative to the cwd */
	__u32 pad;
	char path[GEV_PATH_MAX];
	char path2[GEV_PATH_MAX];
};

/*
 * Folding. A connect, a DNS query or an open for writing of an absolute path that repeats one
 * reported less than fold_ns ago (same process image, cgroup, user and content) is not written to
 * the ring buffer: the map "folds" counts it under that key, and the next record of the key
 * carries the count (gev_hdr.repeats). User space collects the counts of keys that went quiet
 * (lookup and delete) and delivers them as one more occurrence. Content is the record's fields
 * after the header, with the fields that vary between identical operations zeroed
 * (an open's result, a connect's descriptor, a DNS query's id), then the path or the query; a
 * record whose content does not fit GEV_FOLD_MAX bytes is never folded.
 */
#define GEV_FOLD_MAX 128

struct gev_fold_key {
	__u64 cgroup_id;
	__u64 mm;        /* address of the process's mm_struct: an exec makes a new one */
	__u32 tgid;
	__u32 uid;
	__u32 type;      /* GEV_CONNECT, GEV_DNS or GEV_FILE */
	__u32 len;       /* bytes of content used; the rest is zero */
	__u8 content[GEV_FOLD_MAX];
};

struct gev_fold_val {
	__u64 report_ns; /* the key's last record (CLOCK_BOOTTIME) */
	__u64 last_ns;   /* its last occurrence */
	__u64 repeats;   /* occurrences folded since that record */
	__u32 pid;       /* of the last record: what a collected count is reported with */
	__u32 gid;
	char comm[GEV_COMM_MAX];
};

/* Content layouts: struct gev_file from op to pad, then the path; struct gev_net from ret to addr;
 * struct gev_dns from family to addr, then data from its third byte. */
#define GEV_FOLD_FILE_FIXED 24
#define GEV_FOLD_NET_LEN 32
#define GEV_FOLD_DNS_FIXED 32

#endif
