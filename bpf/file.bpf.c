/*
 * file.bpf.c: file activity that matters: opens that may write (O_WRONLY, O_RDWR, O_CREAT,
 * O_TRUNC), unlinks, renames and chmods, reported on success only.
 *
 * tp_btf/sys_enter keeps the path pointers and flags of the interesting calls in a per-thread LRU
 * hash; read-only opens are dropped there, before any map access, so they cost one switch and one
 * test. tp_btf/sys_exit reads the path strings (still valid user memory) when the call succeeded
 * and writes one record. Paths are as the program passed them: a relative path is relative to the
 * thread's cwd (dirfd AT_FDCWD) or to dirfd; nothing is resolved in the kernel (bpf_d_path needs
 * a trampoline, which this kernel refuses). Writes to /dev/null are not reported.
 */
#include "common.bpf.h"

#define NR_open 2
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_chmod 90
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_fchmodat 268
#define NR_renameat2 316
#define NR_openat2 437
#define NR_fchmodat2 452

#define O_ACCMODE_ 3
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define AT_FDCWD_ -100

struct file_pending {
	__u32 nr;
	__u32 op;
	__u32 flags;
	__u32 mode;
	__s32 dirfd;
	__u32 pad;
	__u64 path;
	__u64 path2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct file_pending);
} file_pending SEC(".maps");

static __always_inline int writes(__u64 flags)
{
	return (flags & (O_ACCMODE_ | O_CREAT_ | O_TRUNC_)) != 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(gev_file_enter, struct pt_regs *regs, long id)
{
	struct file_pending p = {};
	__u64 key;

	p.dirfd = AT_FDCWD_;
	switch (id) {
	case NR_open:
		p.flags = regs->si;
		if (!writes(p.flags))
			return 0;
		p.op = GEV_FILE_OPEN;
		p.path = regs->di;
		p.mode = regs->dx;
		break;
	case NR_creat:
		p.op = GEV_FILE_OPEN;
		p.path = regs->di;
		p.flags = 01 | O_CREAT_ | O_TRUNC_;
		p.mode = regs->si;
		break;
	case NR_openat:
		p.flags = regs->dx;
		if (!writes(p.flags))
			return 0;
		p.op = GEV_FILE_OPEN;
		p.dirfd = regs->di;
		p.path = regs->si;
		p.mode = regs->r10;
		break;
	case NR_openat2: {
		struct open_how how = {};
		if (bpf_probe_read_user(&how, sizeof(how), (void *)regs->dx) != 0 || !writes(how.flags))
			return 0;
		p.op = GEV_FILE_OPEN;
		p.dirfd = regs->di;
		p.path = regs->si;
		p.flags = how.flags;
		p.mode = how.mode;
		break;
	}
	case NR_unlink:
		p.op = GEV_FILE_UNLINK;
		p.path = regs->di;
		break;
	case NR_unlinkat:
		p.op = GEV_FILE_UNLINK;
		p.dirfd = regs->di;
		p.path = regs->si;
		p.flags = regs->dx;
		break;
	case NR_rename:
		p.op = GEV_FILE_RENAME;
		p.path = regs->di;
		p.path2 = regs->si;
		break;
	case NR_renameat:
	case NR_renameat2:
		/* renameat2(olddirfd, old, newdirfd, new, flags): the second dirfd is not kept (both
		 * are almost always AT_FDCWD). */
		p.op = GEV_FILE_RENAME;
		p.dirfd = regs->di;
		p.path = regs->si;
		p.path2 = regs->r10;
		p.flags = id == NR_renameat2 ? regs->r8 : 0;
		break;
	case NR_chmod:
		p.op = GEV_FILE_CHMOD;
		p.path = regs->di;
		p.mode = regs->si;
		break;
	case NR_fchmodat:
	case NR_fchmodat2:
		p.op = GEV_FILE_CHMOD;
		p.dirfd = regs->di;
		p.path = regs->si;
		p.mode = regs->dx;
		break;
	default:
		return 0;
	}
	if (gev_is_self())
		return 0;
	p.nr = id;
	key = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&file_pending, &key, &p, BPF_ANY);
	return 0;
}

static __always_inline int is_dev_null(const char *p)
{
	return p[0] == '/' && p[1] == 'd' && p[2] == 'e' && p[3] == 'v' && p[4] == '/' && p[5] == 'n' &&
	       p[6] == 'u' && p[7] == 'l' && p[8] == 'l' && p[9] == 0;
}

/* One record; rename is a constant at each call site so that the verifier knows the record's size
 * on each path. */
static __always_inline void emit_file(const struct file_pending *p, long ret, const int rename)
{
	struct gev_file *e;

	e = gev_reserve(GEV_FILE, rename ? sizeof(*e) : sizeof(*e) - GEV_PATH_MAX);
	if (!e)
		return;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), (void *)p->path) < 0)
		e->path[0] = 0;
	if (!rename && p->op == GEV_FILE_OPEN && is_dev_null(e->path)) {
		/* The reader skips it; with the kernel's adaptive wake-up (wakeup_bytes 0) a
		 * BPF_RB_NO_WAKEUP here would leave it behind this record without a wake-up. */
		bpf_ringbuf_discard(e, gev_wake_flags());
		gev_unsee(GEV_FILE);
		return;
	}
	gev_fill_hdr(&e->h, GEV_FILE);
	e->op = p->op;
	e->ret = ret;
	e->flags = p->flags;
	e->mode = p->mode;
	e->dirfd = p->dirfd;
	e->pad = 0;
	if (rename && bpf_probe_read_user_str(e->path2, sizeof(e->path2), (void *)p->path2) < 0)
		e->path2[0] = 0;
	gev_submit(e);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(gev_file_exit, struct pt_regs *regs, long ret)
{
	long id = regs->orig_ax;
	struct file_pending *p;
	__u64 key;

	switch (id) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_unlink: case NR_unlinkat: case NR_rename: case NR_renameat: case NR_renameat2:
	case NR_chmod: case NR_fchmodat: case NR_fchmodat2:
		break;
	default:
		return 0;
	}
	key = bpf_get_current_pid_tgid();
	p = bpf_map_lookup_elem(&file_pending, &key);
	if (!p)
		return 0;
	if (p->nr == id && ret >= 0) {
		if (p->op == GEV_FILE_RENAME)
			emit_file(p, ret, 1);
		else
			emit_file(p, ret, 0);
	}
	bpf_map_delete_elem(&file_pending, &key);
	return 0;
}
