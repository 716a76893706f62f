// SPDX-License-Identifier: GPL-2.0
/*
 * tc_classifier.c - a tc (cls_bpf, direct-action) classifier that picks a
 * traffic class by DSCP or port and drops telnet.
 *
 * Shows: BPF_PROG_TYPE_SCHED_CLS (SEC("tc")), reading struct __sk_buff fields
 * (len, protocol, data, data_end) with direct packet access, writing
 * skb->mark and skb->tc_classid, TC_ACT_OK / TC_ACT_SHOT, `.rodata` config.
 *
 * The L3 header is taken at offset 14 when skb->protocol is ETH_P_IP or
 * ETH_P_IPV6 (an untagged frame, or a tag already stripped by the NIC);
 * anything else, an IP header cut short or an IPv4 IHL < 5 is left alone
 * (TC_ACT_OK, no mark, counted in slot CLS_NOT_IP).  DSCP is tos >> 2 (IPv4) or the
 * traffic class >> 2 (IPv6); ports are read for TCP/UDP when the L4 header
 * is present (IPv4: not a non-first fragment; IPv6: next header directly
 * TCP/UDP).  First matching rule wins:
 *   TCP to port 23 (telnet)                        -> TC_ACT_SHOT, CLS_DROPPED
 *   DSCP 46 (EF)                                   -> minor 1 (realtime)
 *   DSCP 34/36/38 (AF41-43) or port 22 either way  -> minor 2 (interactive)
 *   DSCP 8 (CS1)                                   -> minor 4 (bulk)
 *   TCP to port 80 or 443                          -> minor 3 (web)
 *   any other IP packet                            -> minor 5 (best effort)
 * A classified packet gets skb->tc_classid = qdisc_major:minor and
 * skb->mark = mark_base + minor, and returns TC_ACT_OK.  `class_stats`
 * counts packets and bytes (skb->len) per slot: 0 = dropped, 1-5 = the
 * minors, 6 = not IP.
 */
#include "common.h"
#include <linux/pkt_cls.h>

const volatile __u32 qdisc_major = 1;
const volatile __u32 mark_base = 0x100;

enum {
	CLS_DROPPED = 0,
	CLS_REALTIME = 1,
	CLS_INTERACTIVE = 2,
	CLS_WEB = 3,
	CLS_BULK = 4,
	CLS_BEST_EFFORT = 5,
	CLS_NOT_IP = 6,
	CLS_SLOTS,
};

struct class_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct class_stats);
	__uint(max_entries, CLS_SLOTS);
} class_stats SEC(".maps");

static __always_inline void account(__u32 slot, __u32 len)
{
	struct class_stats *st = bpf_map_lookup_elem(&class_stats, &slot);

	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, len);
	}
}

SEC("tc")
int classify(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *l3 = data + sizeof(struct ethhdr);
	__u32 len = skb->len;
	__u16 sport = 0, dport = 0;
	__u8 dscp, l4proto;
	void *l4 = 0;
	__u32 minor;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > data_end || iph->ihl < 5)
			goto not_ip;
		dscp = iph->tos >> 2;
		l4proto = iph->protocol;
		if (!(iph->frag_off & bpf_htons(IP_OFFSET_MASK)))
			l4 = l3 + iph->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			goto not_ip;
		dscp = (ip6->priority << 2) | (ip6->flow_lbl[0] >> 6);
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		goto not_ip;
	}

	/* Source and destination ports sit at the same place in TCP and UDP. */
	if (l4 && (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP)) {
		struct udphdr *ports = l4;

		if ((void *)(ports + 1) <= data_end) {
			sport = bpf_ntohs(ports->source);
			dport = bpf_ntohs(ports->dest);
		}
	}

	if (l4proto == IPPROTO_TCP && dport == 23) {
		account(CLS_DROPPED, len);
		return TC_ACT_SHOT;
	}

	if (dscp == 46)
		minor = CLS_REALTIME;
	else if (dscp == 34 || dscp == 36 || dscp == 38 || sport == 22 || dport == 22)
		minor = CLS_INTERACTIVE;
	else if (dscp == 8)
		minor = CLS_BULK;
	else if (l4proto == IPPROTO_TCP && (dport == 80 || dport == 443))
		minor = CLS_WEB;
	else
		minor = CLS_BEST_EFFORT;

	skb->tc_classid = TC_H_MAKE(qdisc_major << 16, minor);
	skb->mark = mark_base + minor;
	account(minor, len);
	return TC_ACT_OK;

not_ip:
	account(CLS_NOT_IP, len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
