// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_skb_count.c - count the IPv4/IPv6 traffic of the processes in a cgroup.
 *
 * Shows: BPF_PROG_TYPE_CGROUP_SKB in both directions (SEC("cgroup_skb/ingress")
 * and SEC("cgroup_skb/egress")), reading skb->len and skb->protocol, atomic
 * counters in an array map, and the cgroup_skb verdict (1 = allow).
 *
 * Attached to a cgroup (v2), each program runs for every packet a socket of a
 * process in that cgroup (or a descendant) sends (egress) or receives (ingress).
 * skb->len counts from the network header: an IPv4 UDP datagram of n payload
 * bytes is n + 28.  `cg_stats` slot 0 counts ingress, slot 1 egress; every
 * packet is allowed.
 */
#include "common.h"

enum { CG_INGRESS = 0, CG_EGRESS = 1, CG_SLOTS };

struct cg_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct cg_stats);
	__uint(max_entries, CG_SLOTS);
} cg_stats SEC(".maps");

static __always_inline int count(__u32 slot, struct __sk_buff *skb)
{
	struct cg_stats *st = bpf_map_lookup_elem(&cg_stats, &slot);

	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	}
	return 1;
}

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	return count(CG_INGRESS, skb);
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	return count(CG_EGRESS, skb);
}

char LICENSE[] SEC("license") = "GPL";
