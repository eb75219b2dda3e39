/*
 * syscall.bpf.c: the network and file families. Each syscall reported has a program on its own
 * tracepoint, syscalls:sys_exit_<name> (gev_net_*, gev_file_*: user space loads the wanted
 * families'), so the syscalls not reported run no BPF at all; where the kernel has no syscall
 * tracepoints, one program on tp_btf/sys_exit (every syscall's exit) switches on the number
 * instead. Both run on_sys_exit(). DNS queries are seen on tp_btf/sock_send_length where the
 * kernel has it (dns_at_send), so write(2) needs no hook. No kprobe, no trampoline (see
 * docs/sensors.md, "Hooks"). There is no sys_enter program and no per-thread state: at syscall
 * exit the saved user registers still hold the syscall's arguments (x86-64 keeps them in pt_regs;
 * only ax is replaced by the result), and the user memory they point to is still the caller's.
 *
 * Network (want_net):
 * - connect(2): reported with its result. When it succeeded (or is in progress) the destination is
 *   the socket's peer as the kernel set it, not the caller's buffer, which another thread may have
 *   rewritten since; a failed connect reports the address from the caller's buffer. A UDP connect
 *   that dissolves an association (AF_UNSPEC, peer port 0) is not reported.
 * - listen(2), and bind(2) of a UDP socket: reported on success with the local address of the
 *   socket.
 * - DNS: sendto/sendmsg/sendmmsg of a UDP socket to port 53 (given in the call or, for a connected
 *   socket, the socket's peer), and write/writev on a UDP socket this program saw connect to port
 *   53, with the first GEV_DNS_MAX bytes of the payload; user space parses the query.
 * File (want_file): opens that may write (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC), unlinks, renames and
 * chmods, reported on success only. Paths are as the program passed them: a relative path is
 * relative to the thread's cwd (dirfd AT_FDCWD) or to dirfd; nothing is resolved in the kernel
 * (bpf_d_path needs a trampoline, which this kernel refuses). Writes to /dev/null are not reported.
 * File and DNS records are as long as their path or payload (see struct scratch_rec).
 *
 * What user memory holds at exit is read after the call: a thread of the same process can change a
 * path or a DNS payload between the kernel's copy and this read (a race every syscall tracer has,
 * at entry too, where the window is shorter); destinations of successful connects are immune.
 * 32-bit (ia32) syscalls use other numbers and registers: they are not decoded; on sys_exit and
 * sock_send_length they are counted under GEV_CNT_IA32 (the per-syscall tracepoints never see them).
 */
#include "common.bpf.h"

/* Set by user space before load: the families wanted (the verifier drops the others' code). */
const volatile __u8 want_net = 1;
const volatile __u8 want_file = 1;
/* Set by user space before load when gev_sock_send (below) is loaded: DNS queries are seen at the
 * socket layer, and the syscall programs leave write, writev, sendto and sendmsg alone. */
const volatile __u8 dns_at_send = 0;

#define NR_write 1
#define NR_open 2
#define NR_writev 20
#define NR_connect 42
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_bind 49
#define NR_listen 50
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_chmod 90
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_fchmodat 268
#define NR_sendmmsg 307
#define NR_renameat2 316
#define NR_openat2 437
#define NR_fchmodat2 452

#define AF_UNSPEC_ 0
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_UDP_ 17
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000
#define EINPROGRESS_ 115
#define TS_COMPAT_ 0x0002
#define PF_KTHREAD_ 0x00200000

#define O_ACCMODE_ 3
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define AT_FDCWD_ -100

/* UDP sockets connected to port 53, key (tgid << 32 | fd): write(2)/writev(2) on them are DNS
 * queries (musl's and busybox's resolvers connect, then write). A stale entry (descriptor closed
 * and reused) costs one socket check: emit_dns() verifies the socket before it reports. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} dns_socks SEC(".maps");

/* Set by user space before load: the fold window (see struct gev_fold_key in events.h); 0: off. */
const volatile __u64 fold_ns = 0;

/* Folded occurrences per key (events.h). LRU: a key evicted with a count pending loses that count
 * (the kernel's folded counter still has it). Resized by user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct gev_fold_key);
	__type(value, struct gev_fold_val);
} folds SEC(".maps");

/* Per CPU, the hashes of the keys seen last, one per slot (hash % FOLD_SEEN): the map is used only
 * for a key this CPU saw before, so an operation that does not repeat (a build creating thousands
 * of files) costs a hash, not an LRU insertion and eviction (~0.65 us each, measured). */
#define FOLD_SEEN 64

struct fold_seen {
	__u64 h[FOLD_SEEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fold_seen);
} fold_seen SEC(".maps");

/* Records with a string or payload are built here, then copied into the ring buffer with their
 * used length only (bpf_ringbuf_output): a short path writes two cache lines of the ring, not six,
 * and the ring buffer is memory the reader's CPU owns, so each line written is a miss. */
union scratch_rec {
	struct gev_file file;
	struct gev_dns dns;
};

struct scratch {
	union scratch_rec rec;
	struct gev_fold_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

static __always_inline struct scratch *scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&scratch, &zero);
}

/* The content of each folded type (events.h): the record's fields after the header. */
struct fold_file {
	__u32 op;
	__s32 ret; /* 0: an open's descriptor varies */
	__u32 flags;
	__u32 mode;
	__s32 dirfd;
	__u32 pad;
	char path[GEV_FOLD_MAX - GEV_FOLD_FILE_FIXED];
};

struct fold_net {
	__s32 ret;
	__s32 fd; /* 0 */
	__u16 family;
	__u16 port;
	__u8 proto;
	__u8 pad[3];
	__u8 addr[16];
};

struct fold_dns {
	__u16 family;
	__u16 port;
	__u32 len;
	__u32 cap;
	__u32 pad;
	__u8 addr[16];
	__u8 data[GEV_FOLD_MAX - GEV_FOLD_DNS_FIXED]; /* from the payload's third byte (after the id) */
};

/* Zeroes k and sets who: the cgroup, the process image, the process and its user. */
static __always_inline void fold_key_init(struct gev_fold_key *k, __u32 type)
{
	struct task_struct *t = bpf_get_current_task_btf();

	__builtin_memset(k, 0, sizeof(*k));
	k->cgroup_id = bpf_get_current_cgroup_id();
	k->mm = (__u64)t->mm;
	k->tgid = bpf_get_current_pid_tgid() >> 32;
	k->uid = (__u32)bpf_get_current_uid_gid();
	k->type = type;
}

/* A 64-bit mix of the whole key (zeroed tail included). Only a filter: the map compares keys
 * whole, so a collision costs a map lookup, never a wrong fold. */
static __always_inline __u64 fold_hash(const struct gev_fold_key *k)
{
	const __u64 *w = (const __u64 *)k;
	__u64 h = 0x9e3779b97f4a7c15ULL;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*k) / 8); i++) {
		h ^= w[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h;
}

/* The key's record is written now, by the current thread: what a collected count reports. */
static __always_inline void fold_reported(struct gev_fold_val *v, __u64 now)
{
	v->report_ns = now;
	v->last_ns = now;
	v->pid = (__u32)bpf_get_current_pid_tgid();
	v->gid = bpf_get_current_uid_gid() >> 32;
	bpf_get_current_comm(v->comm, sizeof(v->comm));
}

/* 1 when this occurrence of k was folded (nothing to write); 0 when it is to be reported, with
 * *repeats the occurrences folded since the key's last record. The first sight of a key on this
 * CPU is reported without touching the map (its count, if the map holds one from another CPU,
 * stays there for the next record or the sweep). Counts are taken with atomic adds: threads of
 * one process on two CPUs share a key. */
static __always_inline int fold(const struct gev_fold_key *k, __u32 *repeats)
{
	struct gev_fold_val *v, nv = {};
	struct fold_seen *seen;
	__u32 zero = 0;
	__u64 now, r, h;

	*repeats = 0;
	if (fold_ns == 0)
		return 0;
	seen = bpf_map_lookup_elem(&fold_seen, &zero);
	if (!seen)
		return 0;
	h = fold_hash(k);
	if (seen->h[h & (FOLD_SEEN - 1)] != h) {
		seen->h[h & (FOLD_SEEN - 1)] = h;
		return 0;
	}
	now = bpf_ktime_get_boot_ns();
	v = bpf_map_lookup_elem(&folds, k);
	if (v) {
		if (now - v->report_ns < fold_ns) {
			__sync_fetch_and_add(&v->repeats, 1);
			v->last_ns = now;
			gev_count(GEV_CNT_FOLDED(k->type));
			return 1;
		}
		/* Take what was counted; what another CPU adds meanwhile stays for the next time. */
		r = v->repeats;
		if (r)
			__sync_fetch_and_add(&v->repeats, -r);
		*repeats = r > 0xffffffffULL ? 0xffffffffU : (__u32)r;
		fold_reported(v, now);
		return 0;
	}
	fold_reported(&nv, now);
	bpf_map_update_elem(&folds, k, &nv, BPF_NOEXIST);
	return 0;
}

/* Whether the current syscall is a 32-bit one (int 0x80 / sysenter of an ia32 task): its number
 * and registers mean something else. Counted, not decoded. */
static __always_inline int is_ia32(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	if (bpf_core_field_exists(t->thread_info.status) && (t->thread_info.status & TS_COMPAT_)) {
		gev_count(GEV_CNT_IA32);
		return 1;
	}
	return 0;
}

/* ---- network ---- */

/* The sockaddr prefix both families share: family, port, then the address. */
struct sa_any {
	__u16 family;
	__u16 port;        /* network order */
	__u32 v4_or_flow;  /* sin_addr, or sin6_flowinfo */
	__u8 v6[16];       /* sin6_addr */
};

/* Reads a user sockaddr; 0 when it is IPv4 or IPv6 and was read. */
static __always_inline int read_sockaddr(const void *uaddr, __u64 alen, __u16 *family, __u16 *port,
					 __u8 addr[16])
{
	struct sa_any sa = {};

	if (!uaddr || alen < 8)
		return -1;
	if (bpf_probe_read_user(&sa, alen >= sizeof(sa) ? sizeof(sa) : 8, uaddr) != 0)
		return -1;
	if (sa.family == AF_INET) {
		__builtin_memset(addr, 0, 16);
		__builtin_memcpy(addr, &sa.v4_or_flow, 4);
	} else if (sa.family == AF_INET6 && alen >= 24) {
		__builtin_memcpy(addr, sa.v6, 16);
	} else {
		return -1;
	}
	*family = sa.family;
	*port = bpf_ntohs(sa.port);
	return 0;
}

/* The struct sock behind descriptor fd of the current task, or NULL. */
static __always_inline struct sock *sock_of_fd(int fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds, *f = NULL;
	struct socket *so;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
		return NULL;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFSOCK_)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	if (!so)
		return NULL;
	return BPF_CORE_READ(so, sk);
}

/* The peer of an inet socket (family, host-order port, address); 0 when it has one. */
static __always_inline int sock_peer(struct sock *sk, __u16 *family, __u16 *port, __u8 addr[16])
{
	*family = BPF_CORE_READ(sk, __sk_common.skc_family);
	*port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if ((*family != AF_INET && *family != AF_INET6) || *port == 0)
		return -1;
	__builtin_memset(addr, 0, 16);
	if (*family == AF_INET6) {
		BPF_CORE_READ_INTO((__u8(*)[16])addr, sk, __sk_common.skc_v6_daddr);
	} else {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(addr, &a, 4);
	}
	return 0;
}

/* The local address of sk into e. */
static __always_inline void sock_local(struct sock *sk, struct gev_net *e)
{
	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->proto = BPF_CORE_READ(sk, sk_protocol);
	__builtin_memset(e->addr, 0, sizeof(e->addr));
	if (e->family == AF_INET6) {
		BPF_CORE_READ_INTO(&e->addr, sk, __sk_common.skc_v6_rcv_saddr);
	} else {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__builtin_memcpy(e->addr, &a, 4);
	}
}

/* A DNS query sent on socket sk (NULL: the socket of descriptor fd) to uaddr (NULL: the socket's
 * peer), if that is UDP port 53. */
static __always_inline void emit_dns(struct sock *sk, int fd, const void *uaddr, __u64 alen, const void *buf,
				     __u64 len)
{
	struct scratch *sc;
	struct gev_dns *e;
	__u16 family = 0, port = 0;
	__u8 addr[16] = {};
	__u64 cap;
	__u32 rep = 0;

	if (uaddr) {
		if (read_sockaddr(uaddr, alen, &family, &port, addr) != 0 || port != 53)
			return;
		if (!sk)
			sk = sock_of_fd(fd);
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_)
			return;
	} else {
		if (!sk)
			sk = sock_of_fd(fd);
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_ ||
		    sock_peer(sk, &family, &port, addr) != 0 || port != 53)
			return;
	}
	sc = scratch_get();
	if (!sc)
		return;
	e = &sc->rec.dns;
	e->family = family;
	e->port = port;
	e->len = len > 0xffffffffULL ? 0xffffffffU : (__u32)len;
	e->pad = 0;
	__builtin_memcpy(e->addr, addr, 16);
	cap = len > GEV_DNS_MAX ? GEV_DNS_MAX : len;
	if (cap > 0 && bpf_probe_read_user(e->data, cap, buf) != 0)
		cap = 0;
	e->cap = cap;
	if (fold_ns && cap > 2 && cap - 2 <= sizeof(((struct fold_dns *)0)->data)) {
		struct fold_dns *f = (struct fold_dns *)sc->key.content;
		__u32 n = (cap - 2) & (GEV_FOLD_MAX - 1);

		fold_key_init(&sc->key, GEV_DNS);
		f->family = family;
		f->port = port;
		f->len = e->len;
		f->cap = cap;
		__builtin_memcpy(f->addr, addr, 16);
		sc->key.len = GEV_FOLD_DNS_FIXED + n;
		/* Unfoldable (cannot happen: the bytes are in the scratch): reported as it is. */
		if (n > 0 && n <= sizeof(f->data) && bpf_probe_read_kernel(f->data, n, e->data + 2) == 0 &&
		    fold(&sc->key, &rep))
			return;
	}
	gev_fill_hdr(&e->h, GEV_DNS);
	e->h.repeats = rep;
	gev_output(GEV_DNS, e, offsetof(struct gev_dns, data) + cap);
}

/* One message of sendmsg/sendmmsg: its name and its first iovec. */
static __always_inline void dns_msghdr(struct sock *sk, int fd, const struct user_msghdr *um)
{
	struct user_msghdr m;
	struct iovec iov;

	if (bpf_probe_read_user(&m, sizeof(m), um) != 0 || m.msg_iovlen < 1 || !m.msg_iov)
		return;
	if (bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov) != 0)
		return;
	emit_dns(sk, fd, m.msg_name, m.msg_namelen, iov.iov_base, iov.iov_len);
}

/* write/writev on socket sk (NULL: a socket seen connecting to port 53, one hash lookup). */
static __always_inline void dns_write(struct sock *sk, struct pt_regs *regs, long id)
{
	__u64 k = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)regs->di;
	struct iovec iov;

	if ((!sk && !bpf_map_lookup_elem(&dns_socks, &k)) || is_ia32())
		return;
	if (id == NR_write)
		emit_dns(sk, (int)regs->di, NULL, 0, (void *)regs->si, regs->dx);
	else if (regs->dx > 0 && bpf_probe_read_user(&iov, sizeof(iov), (void *)regs->si) == 0)
		emit_dns(sk, (int)regs->di, NULL, 0, iov.iov_base, iov.iov_len);
}

/* sendto/sendmsg/sendmmsg on socket sk (NULL: the socket of the descriptor). */
static __always_inline void dns_send(struct sock *sk, struct pt_regs *regs, long id)
{
	int fd = (int)regs->di;

	if (id == NR_sendto) {
		emit_dns(sk, fd, (void *)regs->r8, regs->r9, (void *)regs->si, regs->dx);
	} else if (id == NR_sendmsg) {
		dns_msghdr(sk, fd, (void *)regs->si);
	} else {
		/* glibc sends the A and AAAA queries in one sendmmsg: look at the first two. */
		struct mmsghdr *v = (void *)regs->si;
		__u64 n = (unsigned int)regs->dx;
		if (n > 0)
			dns_msghdr(sk, fd, &v[0].msg_hdr);
		if (n > 1)
			dns_msghdr(sk, fd, &v[1].msg_hdr);
	}
}

/* connect, listen, bind at exit. */
static __always_inline void net_exit(struct pt_regs *regs, long id, long ret)
{
	int fd = (int)regs->di;
	struct sock *sk;
	struct gev_net *e;
	__u16 family = 0, port = 0;
	__u8 addr[16] = {};
	__u32 type, rep = 0;
	__u8 proto = 0;
	struct scratch *sc;

	if (id != NR_connect && ret != 0)
		return;
	sk = sock_of_fd(fd);
	if (id == NR_connect) {
		if ((ret == 0 || ret == -EINPROGRESS_) && sk) {
			/* The kernel's peer; a dissolved association (AF_UNSPEC) has none. */
			if (sock_peer(sk, &family, &port, addr) != 0)
				return;
		} else if (read_sockaddr((void *)regs->si, regs->dx, &family, &port, addr) != 0) {
			return;
		}
		type = GEV_CONNECT;
		proto = sk ? BPF_CORE_READ(sk, sk_protocol) : 0;
		/* Before folding: a folded connect's socket may be new. */
		if (!dns_at_send && ret == 0 && proto == IPPROTO_UDP_ && port == 53) {
			__u64 k = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;
			__u8 one = 1;
			bpf_map_update_elem(&dns_socks, &k, &one, BPF_ANY);
		}
		sc = fold_ns ? scratch_get() : NULL;
		if (sc) {
			struct fold_net *f = (struct fold_net *)sc->key.content;

			fold_key_init(&sc->key, GEV_CONNECT);
			f->ret = ret;
			f->family = family;
			f->port = port;
			f->proto = proto;
			__builtin_memcpy(f->addr, addr, 16);
			sc->key.len = GEV_FOLD_NET_LEN;
			if (fold(&sc->key, &rep))
				return;
		}
	} else if (id == NR_listen) {
		if (!sk)
			return;
		type = GEV_LISTEN;
	} else {
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_)
			return;
		type = GEV_BIND;
	}
	e = gev_reserve(type, sizeof(*e));
	if (!e)
		return;
	gev_fill_hdr(&e->h, type);
	e->h.repeats = rep;
	e->ret = ret;
	e->fd = fd;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	if (type == GEV_CONNECT) {
		e->family = family;
		e->port = port;
		__builtin_memcpy(e->addr, addr, 16);
		e->proto = proto;
	} else {
		sock_local(sk, e);
	}
	gev_submit(e);
}

/* ---- file ---- */

/* One file syscall's arguments, decoded from the registers. */
struct file_call {
	__u32 op;
	__u32 flags;
	__u32 mode;
	__s32 dirfd;
	__u64 path;
	__u64 path2;
};

static __always_inline int writes(__u64 flags)
{
	return (flags & (O_ACCMODE_ | O_CREAT_ | O_TRUNC_)) != 0;
}

static __always_inline int is_dev_null(const char *p)
{
	return p[0] == '/' && p[1] == 'd' && p[2] == 'e' && p[3] == 'v' && p[4] == '/' && p[5] == 'n' &&
	       p[6] == 'u' && p[7] == 'l' && p[8] == 'l' && p[9] == 0;
}

/* One record: the fixed part and the bytes of path used (with its NUL); a rename's record is
 * whole, with path2 at its fixed offset. */
static __always_inline void emit_file(const struct file_call *c, long ret)
{
	struct scratch *sc = scratch_get();
	struct gev_file *e;
	__u32 rep = 0;
	long n;

	if (!sc)
		return;
	e = &sc->rec.file;
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)c->path);
	if (n <= 0) {
		e->path[0] = 0;
		n = 1;
	}
	if (c->op == GEV_FILE_OPEN && is_dev_null(e->path))
		return;
	/* Only opens of absolute paths fold: a relative one names another file after a chdir. */
	if (fold_ns && c->op == GEV_FILE_OPEN && e->path[0] == '/' &&
	    n <= (long)sizeof(((struct fold_file *)0)->path)) {
		struct fold_file *f = (struct fold_file *)sc->key.content;
		__u32 m = (__u32)n & (GEV_FOLD_MAX - 1);

		fold_key_init(&sc->key, GEV_FILE);
		f->op = c->op;
		f->flags = c->flags;
		f->mode = c->mode;
		f->dirfd = c->dirfd;
		sc->key.len = GEV_FOLD_FILE_FIXED + m;
		if (m > 0 && m <= sizeof(f->path) && bpf_probe_read_kernel(f->path, m, e->path) == 0 &&
		    fold(&sc->key, &rep))
			return;
	}
	gev_fill_hdr(&e->h, GEV_FILE);
	e->h.repeats = rep;
	e->op = c->op;
	e->ret = ret;
	e->flags = c->flags;
	e->mode = c->mode;
	e->dirfd = c->dirfd;
	e->pad = 0;
	if (c->op == GEV_FILE_RENAME) {
		if (bpf_probe_read_user_str(e->path2, sizeof(e->path2), (void *)c->path2) < 0)
			e->path2[0] = 0;
		gev_output(GEV_FILE, e, sizeof(*e));
	} else {
		if (n > GEV_PATH_MAX)
			n = GEV_PATH_MAX;
		gev_output(GEV_FILE, e, offsetof(struct gev_file, path) + (n & (GEV_PATH_MAX * 2 - 1)));
	}
}

/* A successful file syscall at exit; read-only opens return before any helper call. */
static __always_inline void file_exit(struct pt_regs *regs, long id, long ret)
{
	struct file_call c = {};

	c.dirfd = AT_FDCWD_;
	switch (id) {
	case NR_open:
		c.flags = regs->si;
		if (!writes(c.flags))
			return;
		c.op = GEV_FILE_OPEN;
		c.path = regs->di;
		c.mode = regs->dx;
		break;
	case NR_creat:
		c.op = GEV_FILE_OPEN;
		c.path = regs->di;
		c.flags = 01 | O_CREAT_ | O_TRUNC_;
		c.mode = regs->si;
		break;
	case NR_openat:
		c.flags = regs->dx;
		if (!writes(c.flags))
			return;
		c.op = GEV_FILE_OPEN;
		c.dirfd = regs->di;
		c.path = regs->si;
		c.mode = regs->r10;
		break;
	case NR_openat2: {
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx) != 0 || !writes(how.flags))
			return;
		c.op = GEV_FILE_OPEN;
		c.dirfd = regs->di;
		c.path = regs->si;
		c.flags = how.flags;
		c.mode = how.mode;
		break;
	}
	case NR_unlink:
		c.op = GEV_FILE_UNLINK;
		c.path = regs->di;
		break;
	case NR_unlinkat:
		c.op = GEV_FILE_UNLINK;
		c.dirfd = regs->di;
		c.path = regs->si;
		c.flags = regs->dx;
		break;
	case NR_rename:
		c.op = GEV_FILE_RENAME;
		c.path = regs->di;
		c.path2 = regs->si;
		break;
	case NR_renameat:
	case NR_renameat2:
		/* renameat2(olddirfd, old, newdirfd, new, flags): the second dirfd is not kept (both
		 * are almost always AT_FDCWD). */
		c.op = GEV_FILE_RENAME;
		c.dirfd = regs->di;
		c.path = regs->si;
		c.path2 = regs->r10;
		c.flags = id == NR_renameat2 ? regs->r8 : 0;
		break;
	case NR_chmod:
		c.op = GEV_FILE_CHMOD;
		c.path = regs->di;
		c.mode = regs->si;
		break;
	default: /* fchmodat, fchmodat2 */
		c.op = GEV_FILE_CHMOD;
		c.dirfd = regs->di;
		c.path = regs->si;
		c.mode = regs->dx;
		break;
	}
	if (gev_is_self() || is_ia32())
		return;
	emit_file(&c, ret);
}

/* What both hooks run at the exit of syscall id with result ret; regs: the caller's saved user
 * registers. id is a constant in the per-syscall programs, and the switch folds away. */
static __always_inline void on_sys_exit(struct pt_regs *regs, long id, long ret)
{
	switch (id) {
	case NR_write:
	case NR_writev:
		if (want_net && !dns_at_send)
			dns_write(NULL, regs, id);
		return;
	case NR_sendto:
	case NR_sendmsg:
		if (want_net && !dns_at_send && !gev_is_self() && !is_ia32())
			dns_send(NULL, regs, id);
		return;
	case NR_sendmmsg:
		if (want_net && !gev_is_self() && !is_ia32())
			dns_send(NULL, regs, id);
		return;
	case NR_connect:
	case NR_bind:
	case NR_listen:
		if (want_net && !gev_is_self() && !is_ia32())
			net_exit(regs, id, ret);
		return;
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_unlink: case NR_unlinkat: case NR_rename: case NR_renameat: case NR_renameat2:
	case NR_chmod: case NR_fchmodat: case NR_fchmodat2:
		if (want_file && ret >= 0)
			file_exit(regs, id, ret);
		return;
	}
}

/* The fallback hook: every syscall's exit (the raw tracepoint), where the per-syscall tracepoints
 * below are missing. Every syscall of every process pays its dispatch (docs/sensors.md). */
SEC("tp_btf/sys_exit")
int BPF_PROG(gev_sys_exit, struct pt_regs *regs, long ret)
{
	on_sys_exit(regs, regs->orig_ax, ret);
	return 0;
}

/* DNS queries at the socket layer (tracepoint sock_send_length, Linux 6.3): it fires in the
 * sending thread after each message a socket sends, so write(2), the commonest syscall, and the
 * other sends need no syscall hook at all; only UDP sockets go past the first test. The syscall
 * that sent (from the saved user registers) says where the payload and the destination are. A
 * sendmmsg fires it once per message, which cannot be told apart here: sendmmsg keeps its
 * syscall hook. Sends made by the kernel itself, or by io_uring, are not queries of a syscall. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(gev_sock_send, struct sock *sk, int ret, int flags)
{
	struct task_struct *t;
	struct pt_regs *regs;
	long id;

	/* A direct (BTF) read, no helper call: every send of every socket passes here. sk_protocol
	 * is a plain field on every kernel that has this tracepoint. */
	if (!want_net || !sk || sk->sk_protocol != IPPROTO_UDP_)
		return 0;
	t = bpf_get_current_task_btf();
	if (t->flags & PF_KTHREAD_)
		return 0;
	regs = (struct pt_regs *)bpf_task_pt_regs(t);
	id = regs->orig_ax;
	if (id != NR_write && id != NR_writev && id != NR_sendto && id != NR_sendmsg)
		return 0;
	if (gev_is_self() || is_ia32())
		return 0;
	if (id == NR_write || id == NR_writev)
		dns_write(sk, regs, id);
	else
		dns_send(sk, regs, id);
	return 0;
}

/* The preferred hook: one syscalls:sys_exit_<name> tracepoint per syscall of interest. The kernel
 * tests a bit per syscall number before it calls anything, so the syscalls not reported cost the
 * tracepoint slow path only; 32-bit syscalls do not reach these tracepoints. The context is the
 * event's record (its format file); the arguments are read from the saved user registers. The
 * program name says the family (gev_net_*, gev_file_*): user space loads those it wants. */
struct sys_exit_rec {
	__u64 common;
	__s32 nr;
	__s32 pad;
	__s64 ret;
};

#define SYS_EXIT_TP(family, name)                                                               \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                              \
	int gev_##family##_##name(struct sys_exit_rec *ctx)                                     \
	{                                                                                        \
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf()); \
		on_sys_exit(regs, NR_##name, ctx->ret);                                          \
		return 0;                                                                        \
	}

SYS_EXIT_TP(net, write)
SYS_EXIT_TP(net, writev)
SYS_EXIT_TP(net, sendto)
SYS_EXIT_TP(net, sendmsg)
SYS_EXIT_TP(net, sendmmsg)
SYS_EXIT_TP(net, connect)
SYS_EXIT_TP(net, bind)
SYS_EXIT_TP(net, listen)
SYS_EXIT_TP(file, open)
SYS_EXIT_TP(file, creat)
SYS_EXIT_TP(file, openat)
SYS_EXIT_TP(file, openat2)
SYS_EXIT_TP(file, unlink)
SYS_EXIT_TP(file, unlinkat)
SYS_EXIT_TP(file, rename)
SYS_EXIT_TP(file, renameat)
SYS_EXIT_TP(file, renameat2)
SYS_EXIT_TP(file, chmod)
SYS_EXIT_TP(file, fchmodat)
SYS_EXIT_TP(file, fchmodat2)
