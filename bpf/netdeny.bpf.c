/*
 * netdeny.bpf.c: the outbound-connection filter of the enforcement layer (docs/enforcement.md).
 *
 * cgroup sock_addr programs for connect(2) (TCP and connected UDP) and sendmsg(2) on unconnected
 * UDP sockets, IPv4 and IPv6, attached by user space with bpf_link to the cgroup v2 directory of
 * a container (BPF_F_ALLOW_MULTI semantics: other programs of the cgroup keep running). Each
 * destination is looked up in the "nd_rules" hash, most specific first: (addr, port, proto),
 * (addr, port, any), (addr, any, proto), (addr, any, any), then the rules for any address
 * (family ND_FAMILY_ANY, addr zero): (port, proto), (port, any). In deny mode a match returns 0 (the call
 * fails with EPERM); in allow mode a miss does. IPv4-mapped IPv6 destinations are looked up as
 * IPv4. Denials (and, when asked, allowed connects) are
 * written to the ring buffer "nd_events"; a full buffer only costs the record (counted as lost),
 * never the verdict. No loop, no helper beyond map access, pid/comm and the ring buffer.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "netdeny.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ND_RULES_MAX);
	__type(key, struct nd_key);
	__type(value, __u8);
} nd_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nd_config);
} nd_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ND_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} nd_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} nd_events SEC(".maps");

static __always_inline void nd_count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&nd_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline int nd_match(struct nd_key *k, __u16 port, __u8 proto)
{
	k->port = port;
	k->proto = proto;
	if (bpf_map_lookup_elem(&nd_rules, k))
		return 1;
	k->proto = 0;
	if (bpf_map_lookup_elem(&nd_rules, k))
		return 1;
	k->port = 0;
	k->proto = proto;
	if (bpf_map_lookup_elem(&nd_rules, k))
		return 1;
	k->proto = 0;
	if (bpf_map_lookup_elem(&nd_rules, k))
		return 1;
	{
		struct nd_key any = {};

		any.family = ND_FAMILY_ANY;
		any.port = port;
		any.proto = proto;
		if (bpf_map_lookup_elem(&nd_rules, &any))
			return 1;
		any.proto = 0;
		return bpf_map_lookup_elem(&nd_rules, &any) != 0;
	}
}

static __always_inline int nd_decide(struct nd_key *k, __u16 port, __u8 proto, __u32 hook)
{
	__u32 zero = 0;
	struct nd_config *cfg = bpf_map_lookup_elem(&nd_cfg, &zero);
	__u32 allow_mode = cfg ? cfg->allow_mode : 0;
	__u32 report_allowed = cfg ? cfg->report_allowed : 0;
	int hit = nd_match(k, port, proto);
	int deny = allow_mode ? !hit : hit;

	nd_count(deny ? ND_CNT_DENIED : ND_CNT_ALLOWED);
	if (deny || (report_allowed && (hook == ND_HOOK_CONNECT4 || hook == ND_HOOK_CONNECT6))) {
		struct nd_decision *d = bpf_ringbuf_reserve(&nd_events, sizeof(*d), 0);

		if (!d) {
			nd_count(ND_CNT_LOST);
		} else {
			d->cgroup_id = bpf_get_current_cgroup_id();
			d->tgid = bpf_get_current_pid_tgid() >> 32;
			d->hook = hook;
			__builtin_memcpy(d->addr, k->addr, 16);
			d->port = port;
			d->proto = proto;
			d->denied = deny ? 1 : 0;
			d->family = k->family;
			d->pad[0] = d->pad[1] = d->pad[2] = 0;
			bpf_get_current_comm(d->comm, sizeof(d->comm));
			bpf_ringbuf_submit(d, 0);
		}
	}
	return deny ? 0 : 1;
}

static __always_inline int nd_v4(struct bpf_sock_addr *ctx, __u32 hook)
{
	struct nd_key k = {};
	__u32 ip = ctx->user_ip4;

	__builtin_memcpy(k.addr, &ip, 4);
	k.family = ND_FAMILY_INET;
	return nd_decide(&k, bpf_ntohs((__u16)ctx->user_port), (__u8)ctx->protocol, hook);
}

static __always_inline int nd_v6(struct bpf_sock_addr *ctx, __u32 hook)
{
	struct nd_key k = {};
	__u32 w;

	/* user_ip6 is read one 32-bit word at a time (the verifier's rule for this context). */
	w = ctx->user_ip6[0];
	__builtin_memcpy(&k.addr[0], &w, 4);
	w = ctx->user_ip6[1];
	__builtin_memcpy(&k.addr[4], &w, 4);
	w = ctx->user_ip6[2];
	__builtin_memcpy(&k.addr[8], &w, 4);
	w = ctx->user_ip6[3];
	__builtin_memcpy(&k.addr[12], &w, 4);
	k.family = ND_FAMILY_INET6;
	/* ::ffff:a.b.c.d (an IPv4 destination through an IPv6 socket) is looked up as IPv4, so that
	 * a dual-stack socket cannot step around an IPv4 rule */
	if (ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == bpf_htonl(0xffff)) {
		__builtin_memcpy(&k.addr[0], &w, 4);
		__builtin_memset(&k.addr[4], 0, 12);
		k.family = ND_FAMILY_INET;
	}
	return nd_decide(&k, bpf_ntohs((__u16)ctx->user_port), (__u8)ctx->protocol, hook);
}

SEC("cgroup/connect4")
int nd_connect4(struct bpf_sock_addr *ctx)
{
	return nd_v4(ctx, ND_HOOK_CONNECT4);
}

SEC("cgroup/connect6")
int nd_connect6(struct bpf_sock_addr *ctx)
{
	return nd_v6(ctx, ND_HOOK_CONNECT6);
}

SEC("cgroup/sendmsg4")
int nd_sendmsg4(struct bpf_sock_addr *ctx)
{
	return nd_v4(ctx, ND_HOOK_SENDMSG4);
}

SEC("cgroup/sendmsg6")
int nd_sendmsg6(struct bpf_sock_addr *ctx)
{
	return nd_v6(ctx, ND_HOOK_SENDMSG6);
}
