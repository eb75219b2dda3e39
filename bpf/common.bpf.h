/*
 * common.bpf.h: what every sensor program shares: the ring buffer "events" and the per-CPU
 * counters (user space makes the sensor objects use one instance of each with bpf_map__reuse_fd),
 * the self filter and the record header. Included by the bpf/ programs only.
 */
#ifndef GARRISON_BPF_COMMON_H
#define GARRISON_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load: the sensor's own process, whose events are not reported. */
const volatile __u32 self_tgid = 0;
/* Set by user space before load: wake the reader only once this many bytes wait in the ring
 * buffer (the reader also polls on a short timer). 0: the kernel's default, a wake-up whenever
 * the reader has caught up, i.e. nearly one per record when the reader keeps up, which costs the
 * traced process an irq_work and a cross-CPU wake-up per event. */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GEV_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void gev_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU: no other writer */
}

/* Reserves a record of size bytes for type, counting it as seen, or as lost when the ring buffer is
 * full. */
static __always_inline void *gev_reserve(__u32 type, __u64 size)
{
	void *e;

	gev_count(GEV_CNT_SEEN(type));
	e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		gev_count(GEV_CNT_LOST(type));
	return e;
}

static __always_inline __u64 gev_wake_flags(void)
{
	if (wakeup_bytes == 0)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

/* Copies size bytes of a record built elsewhere (a per-CPU scratch) into the ring buffer, counting
 * it as seen, or as lost when the ring buffer is full: for records whose length is known only at
 * run time (bpf_ringbuf_reserve needs a constant). */
static __always_inline void gev_output(__u32 type, void *rec, __u64 size)
{
	gev_count(GEV_CNT_SEEN(type));
	if (bpf_ringbuf_output(&events, rec, size, gev_wake_flags()) != 0)
		gev_count(GEV_CNT_LOST(type));
}

static __always_inline void gev_submit(void *e)
{
	bpf_ringbuf_submit(e, gev_wake_flags());
}

static __always_inline int gev_is_self(void)
{
	return self_tgid != 0 && (bpf_get_current_pid_tgid() >> 32) == self_tgid;
}

static __always_inline void gev_fill_hdr(struct gev_hdr *h, __u32 type)
{
	__u64 pt = bpf_get_current_pid_tgid();
	__u64 ug = bpf_get_current_uid_gid();

	h->type = type;
	h->pid = (__u32)pt;
	h->tgid = pt >> 32;
	h->uid = (__u32)ug;
	h->gid = ug >> 32;
	h->repeats = 0;
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

#endif
