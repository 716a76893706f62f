// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_lb.c - an XDP layer-4 load balancer (NAT to a backend, sent back out
 * of the same interface with XDP_TX).
 *
 * Shows: packet rewriting (MAC and IPv4 addresses), incremental one's
 * complement checksum updates (RFC 1624) of the IPv4 header and of the
 * TCP/UDP checksum (whose pseudo-header covers the destination address),
 * an array map of backends, `.rodata` configuration and a per-CPU array of
 * counters.
 *
 * For an untagged Ethernet frame carrying IPv4 TCP or UDP to vip_addr (and,
 * when vip_port is not 0, to that destination port), not a fragment (MF clear
 * and offset 0), with a complete header:
 *   h   = lowbias32 mix, all values in host byte order:
 *           h = mix(proto); h = mix(h ^ saddr); h = mix(h ^ daddr);
 *           h = mix(h ^ (sport << 16 | dport))
 *         where mix(x): x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15;
 *                       x *= 0x846ca68b; x ^= x >> 16   (32-bit arithmetic)
 *   idx = h % num_backends, b = backends[idx]
 *   if b.addr == 0 the packet passes (counted NO_BACKEND); otherwise the
 *   source MAC becomes the old destination MAC, the destination MAC becomes
 *   b.mac, the destination address becomes b.addr, the IPv4 and L4
 *   checksums are updated (a UDP checksum of 0, "none", stays 0) and the
 *   verdict is XDP_TX (counted TX).
 * Other packets to the VIP (ICMP, fragments, truncated L4 headers) pass,
 * counted VIP_OTHER; everything else passes, counted PASS.
 */
#include "common.h"

/* Configuration (host byte order). 10.0.0.100, any port, 3 backends. */
const volatile __u32 vip_addr = 0x0a000064;
const volatile __u16 vip_port = 0;
const volatile __u32 num_backends = 3;

#define MAX_BACKENDS 16

struct backend {
	__u32 addr;		/* IPv4 address, network byte order */
	__u8 mac[ETH_ALEN];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(max_entries, MAX_BACKENDS);
} backends SEC(".maps");

enum lb_stat {
	LB_TX = 0,
	LB_PASS = 1,
	LB_VIP_OTHER = 2,
	LB_NO_BACKEND = 3,
	LB_STAT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, LB_STAT_MAX);
} lb_stats SEC(".maps");

static __always_inline int count(enum lb_stat stat, int action)
{
	__u32 key = stat;
	__u64 *cnt = bpf_map_lookup_elem(&lb_stats, &key);

	if (cnt)
		*cnt += 1;
	return action;
}

static __always_inline __u32 mix32(__u32 x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	x *= 0x846ca68b;
	x ^= x >> 16;
	return x;
}

/*
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for a 32-bit field changing from
 * `from` to `to`.  Works on the raw memory words, so byte order cancels out.
 */
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph;
	struct backend *be;
	__u16 sport, dport;
	__u32 h, idx, old_daddr;
	__u16 *l4_check;	/* the TCP or UDP checksum field */
	void *l4;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return count(LB_PASS, XDP_PASS);
	iph = (void *)(eth + 1);
	if ((void *)(iph + 1) > data_end || iph->version != 4 || iph->ihl < 5)
		return count(LB_PASS, XDP_PASS);
	if (bpf_ntohl(iph->daddr) != vip_addr)
		return count(LB_PASS, XDP_PASS);

	if (iph->frag_off & bpf_htons(IP_MF_FLAG | IP_OFFSET_MASK))
		return count(LB_VIP_OTHER, XDP_PASS);
	l4 = (void *)iph + iph->ihl * 4;
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > data_end)
			return count(LB_VIP_OTHER, XDP_PASS);
		sport = th->source;
		dport = th->dest;
		l4_check = &th->check;
	} else if (iph->protocol == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end)
			return count(LB_VIP_OTHER, XDP_PASS);
		sport = uh->source;
		dport = uh->dest;
		l4_check = &uh->check;
	} else {
		return count(LB_VIP_OTHER, XDP_PASS);
	}
	if (vip_port && bpf_ntohs(dport) != vip_port)
		return count(LB_VIP_OTHER, XDP_PASS);

	if (num_backends == 0 || num_backends > MAX_BACKENDS)
		return count(LB_NO_BACKEND, XDP_PASS);
	h = mix32(iph->protocol);
	h = mix32(h ^ bpf_ntohl(iph->saddr));
	h = mix32(h ^ bpf_ntohl(iph->daddr));
	h = mix32(h ^ ((__u32)bpf_ntohs(sport) << 16 | bpf_ntohs(dport)));
	idx = h % num_backends;
	be = bpf_map_lookup_elem(&backends, &idx);
	if (!be || be->addr == 0)
		return count(LB_NO_BACKEND, XDP_PASS);

	/* L2: we become the sender, the backend the receiver. */
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, be->mac, ETH_ALEN);

	/* L3 and the L4 pseudo-header: the destination address changes. */
	old_daddr = iph->daddr;
	iph->daddr = be->addr;
	iph->check = csum_replace4(iph->check, old_daddr, be->addr);
	if (iph->protocol == IPPROTO_TCP) {
		*l4_check = csum_replace4(*l4_check, old_daddr, be->addr);
	} else if (*l4_check) {
		*l4_check = csum_replace4(*l4_check, old_daddr, be->addr);
		if (!*l4_check)
			*l4_check = 0xffff;
	}
	return count(LB_TX, XDP_TX);
}

char LICENSE[] SEC("license") = "GPL";
