/*
 * network.bpf.c: outbound connections, listening sockets, UDP binds and DNS queries.
 *
 * tp_btf/sys_enter and tp_btf/sys_exit (the raw syscall tracepoints: no kprobe, no trampoline).
 * connect(2): the destination sockaddr is copied at entry (IPv4/IPv6 only) and reported at exit with
 * the result and the socket's protocol. listen(2) and bind(2) of a UDP socket: reported at exit on
 * success with the local address read from the socket. DNS: sendto/sendmsg/sendmmsg of a UDP socket
 * to port 53 (given in the call or, for a connected socket, the socket's peer) are reported at entry
 * with the first GEV_DNS_MAX bytes of the payload, and so are write/writev on a UDP socket this
 * program saw connect to port 53; user space parses the query. The per-thread state
 * between entry and exit lives in an LRU hash, so threads that die inside a syscall cannot fill it.
 * Every other syscall costs one switch on its number.
 */
#include "common.bpf.h"

#define NR_write 1
#define NR_writev 20
#define NR_sendto 44
#define NR_sendmsg 46
#define NR_connect 42
#define NR_bind 49
#define NR_listen 50
#define NR_sendmmsg 307

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_UDP_ 17
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000

struct net_pending {
	__u32 nr;
	__s32 fd;
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct net_pending);
} net_pending SEC(".maps");

/* UDP sockets connected to port 53, key (tgid << 32 | fd): write(2)/writev(2) on them are DNS
 * queries (musl's and busybox's resolvers connect, then write). A stale entry (descriptor closed
 * and reused) costs one socket check: emit_dns() verifies the socket before it reports. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u8);
} dns_socks SEC(".maps");

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

static __always_inline void emit_dns(int fd, const void *uaddr, __u64 alen, const void *buf, __u64 len)
{
	struct gev_dns *e;
	struct sock *sk;
	__u16 family = 0, port = 0;
	__u8 addr[16] = {};
	__u64 cap;

	if (uaddr) {
		if (read_sockaddr(uaddr, alen, &family, &port, addr) != 0 || port != 53)
			return;
		sk = sock_of_fd(fd);
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_)
			return;
	} else {
		sk = sock_of_fd(fd);
		if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_ ||
		    bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != 53)
			return;
		family = BPF_CORE_READ(sk, __sk_common.skc_family);
		port = 53;
		if (family == AF_INET6) {
			BPF_CORE_READ_INTO(&addr, sk, __sk_common.skc_v6_daddr);
		} else {
			__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
			__builtin_memcpy(addr, &a, 4);
		}
	}
	e = gev_reserve(GEV_DNS, sizeof(*e));
	if (!e)
		return;
	gev_fill_hdr(&e->h, GEV_DNS);
	e->family = family;
	e->port = port;
	e->len = len > 0xffffffffULL ? 0xffffffffU : (__u32)len;
	e->pad = 0;
	__builtin_memcpy(e->addr, addr, 16);
	cap = len > GEV_DNS_MAX ? GEV_DNS_MAX : len;
	e->cap = 0;
	if (cap > 0 && bpf_probe_read_user(e->data, cap, buf) == 0)
		e->cap = cap;
	gev_submit(e);
}

/* One message of sendmsg/sendmmsg: its name and its first iovec. */
static __always_inline void dns_msghdr(int fd, const struct user_msghdr *um)
{
	struct user_msghdr m;
	struct iovec iov;

	if (bpf_probe_read_user(&m, sizeof(m), um) != 0 || m.msg_iovlen < 1 || !m.msg_iov)
		return;
	if (bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov) != 0)
		return;
	emit_dns(fd, m.msg_name, m.msg_namelen, iov.iov_base, iov.iov_len);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(gev_net_enter, struct pt_regs *regs, long id)
{
	struct net_pending p = {};
	__u64 key;

	switch (id) {
	case NR_write:
	case NR_writev: {
		__u64 k = (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)regs->di;
		struct iovec iov;
		if (!bpf_map_lookup_elem(&dns_socks, &k))
			return 0;
		if (id == NR_write) {
			emit_dns((int)regs->di, NULL, 0, (void *)regs->si, regs->dx);
		} else if (regs->dx > 0 &&
			   bpf_probe_read_user(&iov, sizeof(iov), (void *)regs->si) == 0) {
			emit_dns((int)regs->di, NULL, 0, iov.iov_base, iov.iov_len);
		}
		return 0;
	}
	case NR_connect:
	case NR_bind:
	case NR_listen:
	case NR_sendto:
	case NR_sendmsg:
	case NR_sendmmsg:
		break;
	default:
		return 0;
	}
	if (gev_is_self())
		return 0;
	p.nr = id;
	p.fd = (int)regs->di;
	if (id == NR_connect) {
		if (read_sockaddr((void *)regs->si, regs->dx, &p.family, &p.port, p.addr) != 0)
			return 0;
	} else if (id == NR_sendto) {
		emit_dns(p.fd, (void *)regs->r8, regs->r9, (void *)regs->si, regs->dx);
		return 0;
	} else if (id == NR_sendmsg) {
		dns_msghdr(p.fd, (void *)regs->si);
		return 0;
	} else if (id == NR_sendmmsg) {
		/* glibc sends the A and AAAA queries in one sendmmsg: look at the first two. */
		struct mmsghdr *v = (void *)regs->si;
		__u64 n = (unsigned int)regs->dx;
		if (n > 0)
			dns_msghdr(p.fd, &v[0].msg_hdr);
		if (n > 1)
			dns_msghdr(p.fd, &v[1].msg_hdr);
		return 0;
	}
	key = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&net_pending, &key, &p, BPF_ANY);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(gev_net_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	struct net_pending *p;
	struct gev_net *e;
	struct sock *sk;
	__u64 key;
	__u32 type;

	if (id != NR_connect && id != NR_bind && id != NR_listen)
		return 0;
	key = bpf_get_current_pid_tgid();
	p = bpf_map_lookup_elem(&net_pending, &key);
	if (!p)
		return 0;
	if (p->nr != id)
		goto out;
	sk = sock_of_fd(p->fd);
	if (id == NR_connect) {
		type = GEV_CONNECT;
	} else if (id == NR_listen) {
		if (ret != 0 || !sk)
			goto out;
		type = GEV_LISTEN;
	} else {
		if (ret != 0 || !sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_UDP_)
			goto out;
		type = GEV_BIND;
	}
	e = gev_reserve(type, sizeof(*e));
	if (!e)
		goto out;
	gev_fill_hdr(&e->h, type);
	e->ret = ret;
	e->fd = p->fd;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	if (type == GEV_CONNECT) {
		e->family = p->family;
		e->port = p->port;
		__builtin_memcpy(e->addr, p->addr, 16);
		e->proto = sk ? BPF_CORE_READ(sk, sk_protocol) : 0;
		if (ret == 0 && e->proto == IPPROTO_UDP_ && e->port == 53) {
			__u64 k = (key & 0xffffffff00000000ULL) | (__u32)p->fd;
			__u8 one = 1;
			bpf_map_update_elem(&dns_socks, &k, &one, BPF_ANY);
		}
	} else {
		sock_local(sk, e);
	}
	gev_submit(e);
out:
	bpf_map_delete_elem(&net_pending, &key);
	return 0;
}
