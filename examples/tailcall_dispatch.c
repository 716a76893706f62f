// SPDX-License-Identifier: GPL-2.0
/*
 * tailcall_dispatch.c - an XDP dispatcher that tail-calls a handler chosen by
 * EtherType.
 *
 * Shows: BPF_MAP_TYPE_PROG_ARRAY with BTF-declared initial values
 * (`.values = { [0] = &handle_ipv4, ... }`: the loader fills the slots with
 * the programs' fds after loading them, through relocations in `.maps`),
 * bpf_tail_call, and three programs in one section (SEC("xdp")).
 *
 * dispatcher: slot = 0 for IPv4 (0x0800), 1 for IPv6 (0x86DD), 2 for ARP
 * (0x0806), 3 for 802.1Q (0x8100), anything else 4.  Slots 2 and 3 are
 * declared but empty and slot 4 is past max_entries, so those tail calls
 * fail and the dispatcher falls through: counted FALLTHROUGH, XDP_PASS.
 * A frame shorter than an Ethernet header is counted RUNT and passes.
 * handle_ipv4: IPv4 header present with IHL >= 5 -> IPV4 (XDP_PASS),
 *   otherwise IPV4_BAD (XDP_DROP).
 * handle_ipv6: IPv6 header present -> IPV6 (XDP_PASS), otherwise IPV6_BAD
 *   (XDP_DROP).
 * Counters are in the per-CPU array `dispatch_stats`.
 */
#include "common.h"

enum {
	SLOT_IPV4 = 0,
	SLOT_IPV6 = 1,
	SLOT_ARP = 2,
	SLOT_VLAN = 3,
	SLOT_NONE = 4,
	NR_SLOTS = 4,
};

enum dispatch_stat {
	ST_IPV4 = 0,
	ST_IPV4_BAD = 1,
	ST_IPV6 = 2,
	ST_IPV6_BAD = 3,
	ST_FALLTHROUGH = 4,
	ST_RUNT = 5,
	ST_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, ST_MAX);
} dispatch_stats SEC(".maps");

static __always_inline int count(enum dispatch_stat stat, int action)
{
	__u32 key = stat;
	__u64 *cnt = bpf_map_lookup_elem(&dispatch_stats, &key);

	if (cnt)
		*cnt += 1;
	return action;
}

int handle_ipv4(struct xdp_md *ctx);
int handle_ipv6(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, NR_SLOTS);
	__uint(key_size, sizeof(__u32));	/* the kernel takes no BTF key */
	__array(values, int (struct xdp_md *));
} jump_table SEC(".maps") = {
	.values = {
		[SLOT_IPV4] = (void *)&handle_ipv4,
		[SLOT_IPV6] = (void *)&handle_ipv6,
	},
};

SEC("xdp")
int dispatcher(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 slot;

	if ((void *)(eth + 1) > data_end)
		return count(ST_RUNT, XDP_PASS);

	switch (bpf_ntohs(eth->h_proto)) {
	case ETH_P_IP:
		slot = SLOT_IPV4;
		break;
	case ETH_P_IPV6:
		slot = SLOT_IPV6;
		break;
	case ETH_P_ARP:
		slot = SLOT_ARP;
		break;
	case ETH_P_8021Q:
		slot = SLOT_VLAN;
		break;
	default:
		slot = SLOT_NONE;
		break;
	}
	bpf_tail_call(ctx, &jump_table, slot);
	/* Only reached when the slot is empty or out of range. */
	return count(ST_FALLTHROUGH, XDP_PASS);
}

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);

	if ((void *)(iph + 1) > data_end || iph->ihl < 5)
		return count(ST_IPV4_BAD, XDP_DROP);
	return count(ST_IPV4, XDP_PASS);
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

	if ((void *)(ip6 + 1) > data_end)
		return count(ST_IPV6_BAD, XDP_DROP);
	return count(ST_IPV6, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
