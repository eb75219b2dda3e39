/*
 * process.bpf.c: process execution and exit.
 *
 * tp_btf/sched_process_exec fires after a successful execve once the new image is in place; the
 * record carries the file name as given to execve, the first GEV_ARGS_MAX bytes of argv (read from
 * the new process's stack), the parent's tgid, the task start time and the inode, device, mtime and
 * ctime of the executable that was mapped (for a script: its interpreter), so that user space can
 * tell a binary written after its container started. It also says what descriptors 0, 1 and 2 of
 * the new image are (the inode mode; for an IPv4/IPv6 socket its state and peer): a shell whose
 * stdin or stdout is a connected inet socket is a reverse shell. tp_btf/sched_process_exit reports the end of a
 * process (the thread-group leader only). Nothing here blocks or loops without a bound.
 */
#include "common.bpf.h"

/* Kernels before 6.6 keep inode times as struct timespec64. */
struct inode___old {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

static __always_inline void read_inode(struct gev_exec *e, struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);

	if (!ino) {
		e->flags |= GEV_EXEC_NO_INODE;
		return;
	}
	e->exe_ino = BPF_CORE_READ(ino, i_ino);
	e->exe_dev = BPF_CORE_READ(ino, i_sb, s_dev);
	if (bpf_core_field_exists(ino->i_mtime_sec)) {
		e->exe_mtime = BPF_CORE_READ(ino, i_mtime_sec);
		e->exe_ctime = BPF_CORE_READ(ino, i_ctime_sec);
	} else {
		struct inode___old *o = (void *)ino;
		e->exe_mtime = BPF_CORE_READ(o, i_mtime.tv_sec);
		e->exe_ctime = BPF_CORE_READ(o, __i_ctime.tv_sec);
	}
}

#define AF_INET_ 2
#define AF_INET6_ 10
#define S_IFMT_ 00170000
#define S_IFSOCK_ 0140000

/* Descriptor fd (0..2) of task p into *o; zeroes when closed. The fd table is read as it is at the
 * tracepoint: exec has already closed the O_CLOEXEC descriptors, so this is what the new image
 * starts with. */
static __always_inline void read_stdio(struct fdtable *fdt, struct file **fds, unsigned int max,
					int fd, struct gev_stdio *o)
{
	struct file *f = NULL;
	struct socket *so;
	struct sock *sk;

	__builtin_memset(o, 0, sizeof(*o));
	if (!fdt || !fds || (unsigned int)fd >= max)
		return;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) != 0 || !f)
		return;
	o->mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((o->mode & S_IFMT_) != S_IFSOCK_)
		return;
	so = BPF_CORE_READ(f, private_data);
	sk = so ? BPF_CORE_READ(so, sk) : NULL;
	if (!sk)
		return;
	o->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (o->family != AF_INET_ && o->family != AF_INET6_)
		return;
	o->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	o->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (o->family == AF_INET6_) {
		BPF_CORE_READ_INTO(&o->addr, sk, __sk_common.skc_v6_daddr);
	} else {
		__u32 a = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(o->addr, &a, 4);
	}
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(gev_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct gev_exec *e;
	unsigned long as, ae;
	__u64 len;

	if (gev_is_self())
		return 0;
	e = gev_reserve(GEV_EXEC, sizeof(*e));
	if (!e)
		return 0;
	gev_fill_hdr(&e->h, GEV_EXEC);
	e->ppid = BPF_CORE_READ(p, real_parent, tgid);
	e->flags = 0;
	e->exe_dev = 0;
	e->exe_ino = 0;
	e->exe_mtime = 0;
	e->exe_ctime = 0;
	e->start_ns = BPF_CORE_READ(p, start_boottime);
	if (bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename)) < 0)
		e->filename[0] = 0;
	read_inode(e, BPF_CORE_READ(bprm, file));
	{
		struct fdtable *fdt = BPF_CORE_READ(p, files, fdt);
		struct file **fds = fdt ? BPF_CORE_READ(fdt, fd) : NULL;
		unsigned int max = fdt ? BPF_CORE_READ(fdt, max_fds) : 0;

		read_stdio(fdt, fds, max, 0, &e->stdio[0]);
		read_stdio(fdt, fds, max, 1, &e->stdio[1]);
		read_stdio(fdt, fds, max, 2, &e->stdio[2]);
	}

	as = BPF_CORE_READ(p, mm, arg_start);
	ae = BPF_CORE_READ(p, mm, arg_end);
	len = ae > as ? ae - as : 0;
	if (len > GEV_ARGS_MAX) {
		len = GEV_ARGS_MAX;
		e->flags |= GEV_EXEC_ARGS_TRUNC;
	}
	e->args_len = 0;
	if (len > 0 && bpf_probe_read_user(e->args, len, (void *)as) == 0)
		e->args_len = len;
	gev_submit(e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(gev_exit, struct task_struct *p)
{
	struct gev_exit *e;

	if (BPF_CORE_READ(p, pid) != BPF_CORE_READ(p, tgid) || gev_is_self())
		return 0;
	e = gev_reserve(GEV_EXIT, sizeof(*e));
	if (!e)
		return 0;
	gev_fill_hdr(&e->h, GEV_EXIT);
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->pad = 0;
	gev_submit(e);
	return 0;
}
