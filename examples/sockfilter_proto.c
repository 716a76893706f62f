// SPDX-License-Identifier: GPL-2.0
/*
 * sockfilter_proto.c - a socket filter that counts packets and bytes per IP
 * protocol number, and keeps a log2 histogram of packet sizes.
 *
 * Shows: BPF_PROG_TYPE_SOCKET_FILTER (SEC("socket")), the legacy packet
 * loads LD_ABS (BPF_LD | BPF_ABS | BPF_B) through clang's llvm.bpf.load.*
 * intrinsics, with SKF_NET_OFF-relative offsets so the same program works
 * whether the skb data starts at the MAC header (AF_PACKET sockets) or at
 * the network header (BPF_PROG_TEST_RUN), reading __sk_buff fields
 * (protocol, len), atomic adds into shared array maps, and a loop-free log2
 * (log2_bucket() in hist.h) for histogram buckets.
 *
 * Every packet the filter sees first adds 1 to `size_hist[log2(skb->len)]` (an array
 * of 64 __u64 buckets: bucket k counts lengths 2^k .. 2^(k+1) - 1, bucket 0 also
 * lengths 0 and 1).  Then skb->protocol selects the header: ETH_P_IP -> the IPv4 protocol byte (network
 * offset 9), ETH_P_IPV6 -> the IPv6 next-header byte (network offset 6, no
 * extension-header walk).  The byte is the key into `proto_stats`, which
 * gets packets += 1 and bytes += skb->len.  Other EtherTypes are not
 * counted.  The program returns skb->len (keep the whole packet) in every
 * case; if the load is out of bounds, LD_ABS itself ends the program with
 * r0 = 0 (the packet is dropped from the socket) and nothing more is counted
 * (its size is already in the histogram).
 */
#include "common.h"
#include "hist.h"
#include <linux/filter.h>		/* SKF_NET_OFF */
#include <linux/if_packet.h>		/* PACKET_OUTGOING */

#define LOOPBACK_IFINDEX 1		/* lo is always the first device of a netns */

/* The classic-BPF style packet loads: LD_ABS/LD_IND with r6 = skb. */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");

struct proto_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);			/* floor(log2(skb->len)) */
	__type(value, __u64);			/* packets */
	__uint(max_entries, LOG2_BUCKETS);
} size_hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);			/* IP protocol number, 0..255 */
	__type(value, struct proto_stats);
	__uint(max_entries, 256);
} proto_stats SEC(".maps");

SEC("socket")
int count_by_proto(struct __sk_buff *skb)
{
	struct proto_stats *st;
	__u32 proto;

	/* a packet socket sees each loopback packet twice, leaving and arriving:
	 * count the arrival only (as libpcap does for lo) */
	if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == LOOPBACK_IFINDEX)
		return 0;
	COUNTER_ADD(size_hist, log2_bucket(skb->len), 1);
	if (skb->protocol == bpf_htons(ETH_P_IP))
		proto = load_byte(skb, SKF_NET_OFF + offsetof(struct iphdr, protocol));
	else if (skb->protocol == bpf_htons(ETH_P_IPV6))
		proto = load_byte(skb, SKF_NET_OFF + offsetof(struct ipv6hdr, nexthdr));
	else
		return skb->len;

	st = bpf_map_lookup_elem(&proto_stats, &proto);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, skb->len);
	}
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
