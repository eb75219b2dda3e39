/*
 * netdeny.h: what bpf/netdeny.bpf.c (the outbound-connection filter, a cgroup sock_addr program)
 * and its user space (defender/enforce_net.c) share: the rule key of the "nd_rules" hash, the
 * configuration slot "nd_cfg", the counters and the decision records written into the ring buffer
 * "decisions". Fixed layouts with explicit padding, so that clang -target bpf and the host compiler
 * agree. Addresses are in network byte order (IPv4 in the first 4 bytes of addr, the rest zero),
 * ports in host byte order; port 0 and proto 0 in a rule mean "any".
 */
#ifndef GARRISON_BPF_NETDENY_H
#define GARRISON_BPF_NETDENY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define ND_RULES_MAX 4096

#define ND_FAMILY_ANY 0 /* a rule for every destination address (addr all zero) */
#define ND_FAMILY_INET 2
#define ND_FAMILY_INET6 10
#define ND_PROTO_TCP 6
#define ND_PROTO_UDP 17

/* Key of the "nd_rules" hash (the value is a __u8, 1). */
struct nd_key {
	__u8 addr[16];
	__u16 port;   /* host order; 0: any port */
	__u8 proto;   /* ND_PROTO_TCP, ND_PROTO_UDP; 0: any */
	__u8 family;  /* ND_FAMILY_INET, ND_FAMILY_INET6, or ND_FAMILY_ANY (any address) */
};

/* The one slot of the "nd_cfg" array. */
struct nd_config {
	__u32 allow_mode; /* 0: deny what matches a rule; 1: deny what matches none */
	__u32 report_allowed; /* 1: also write a record for allowed connects (never for UDP sends) */
};

/* Indexes of the per-CPU "nd_counters" array. */
enum nd_counter {
	ND_CNT_ALLOWED = 0,
	ND_CNT_DENIED = 1,
	ND_CNT_LOST = 2, /* records the ring buffer had no room for */
	ND_CNT_MAX = 3
};

/* nd_decision.hook */
enum nd_hook { ND_HOOK_CONNECT4 = 1, ND_HOOK_CONNECT6 = 2, ND_HOOK_SENDMSG4 = 3, ND_HOOK_SENDMSG6 = 4 };

struct nd_decision {
	__u64 cgroup_id;
	__u32 tgid;
	__u32 hook;      /* enum nd_hook */
	__u8 addr[16];
	__u16 port;      /* host order */
	__u8 proto;
	__u8 denied;     /* 1: the call got EPERM */
	__u8 family;     /* ND_FAMILY_INET (IPv4-mapped IPv6 included) or ND_FAMILY_INET6 */
	__u8 pad[3];
	char comm[16];
};

#endif
