/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * clang_common.h - shared parsing code of the clang-built differential test
 * programs (tests/progtypes/test_progtypes_clang.py).  The same object runs on
 * the pybpf VM and in the kernel; every value the programs compute goes to the
 * return value, the packet, the context or a map, where the test compares it.
 *
 * pkt_parse() walks a frame by direct packet access: Ethernet, up to two VLAN
 * tags (802.1Q / 802.1ad), IPv4 (IHL, options, total length, fragments, header
 * checksum) or IPv6 (hop-by-hop, routing, fragment and destination-options
 * extension headers), then TCP / UDP / ICMP / ICMPv6 with the L4 checksum
 * verified over the segment when the whole segment is in the frame.
 */
#ifndef PYBPF_CLANG_COMMON_H
#define PYBPF_CLANG_COMMON_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <stdbool.h>
#include <stddef.h>

/* <linux/icmp.h> pulls in libc headers, so the ICMP header is spelled here. */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest;
};
#define ICMP_ECHOREPLY	0
#define ICMP_ECHO	8

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* pkt_info.flags */
#define PF_TRUNC	(1u << 0)	/* a header is cut short by the frame's end */
#define PF_BAD_IPCSUM	(1u << 1)	/* IPv4 header checksum wrong */
#define PF_BAD_IHL	(1u << 2)	/* IHL < 5 or version wrong */
#define PF_BAD_TOTLEN	(1u << 3)	/* IP length beyond the frame or below the header */
#define PF_FRAG		(1u << 4)	/* a fragment (IPv4 MF/offset, IPv6 fragment header) */
#define PF_LATER_FRAG	(1u << 5)	/* not the first fragment: no L4 header */
#define PF_BAD_L4CSUM	(1u << 6)	/* L4 checksum wrong */
#define PF_L4CSUM_OK	(1u << 7)	/* L4 checksum verified */
#define PF_IPV6_EXT	(1u << 8)	/* IPv6 extension headers were walked */
#define PF_IP_OPTS	(1u << 9)	/* IPv4 options present */
#define PF_PADDED	(1u << 10)	/* bytes after the IP packet (Ethernet padding) */
#define PF_UDP_NOCSUM	(1u << 11)	/* UDP over IPv4 without a checksum */
#define PF_UNKNOWN_L3	(1u << 12)

struct pkt_info {
	__u16 eth_proto;	/* host order, after the VLAN tags */
	__u16 vlan_tci[2];
	__u8 vlans;
	__u8 l4_proto;
	__u16 l3_off;		/* from the start of the frame */
	__u16 l4_off;
	__u16 l4_len;		/* L4 bytes the IP header claims */
	__u16 ip_len;		/* IP packet length claimed (header included) */
	__u16 frag_off;		/* IPv4: host order field; IPv6: offset << 3 | M */
	__u16 sport;
	__u16 dport;
	__u8 ttl;
	__u8 icmp_type;
	__u8 ext_count;
	__u8 ihl;
	__u32 saddr;		/* IPv4 address or the last word of the IPv6 one */
	__u32 daddr;
	__u32 flags;
	__u32 l4_sum;		/* the folded L4 sum (0xffff when valid) */
};

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

#define L4_MAX_WORDS 32
#define L4_MAX_BYTES 512

/* A per-CPU scratch buffer for the L4 segment: the program copies it there with
 * its type's load helper (PKT_LOAD_BYTES) and sums it with bpf_csum_diff, which
 * keeps the verifier's work small whatever the segment's length. */
struct scratch {
	__u8 buf[1032];	/* what the masks below let the verifier assume */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct scratch);
	__uint(max_entries, 1);
} scratch_map SEC(".maps");

#ifndef PKT_NO_CSUM_DIFF
/* Sum `len` bytes at packet offset `off` into *out (csum_partial, unfolded).
 * PKT_LOAD_BYTES(ctx, off, to, len) is bpf_xdp_load_bytes or bpf_skb_load_bytes. */
static __always_inline long segment_sum(void *ctx, __u32 off, __u32 len, __u32 *out)
{
	__u32 zero = 0, padded;
	struct scratch *sc = bpf_map_lookup_elem(&scratch_map, &zero);
	__s64 r;

	if (!sc || len == 0 || len > L4_MAX_BYTES)
		return -1;
	if (PKT_LOAD_BYTES(ctx, off, sc->buf, len & 0x3ff))
		return -1;
	padded = (len + 3) & ~3u;
	/* zero what rounding up to 4 bytes adds */
	*(__u32 *)(sc->buf + (len & 0x3fc)) &=
		(len & 3) == 0 ? 0xffffffff : (len & 3) == 1 ? 0xff : (len & 3) == 2 ? 0xffff : 0xffffff;
	r = bpf_csum_diff(0, 0, (void *)sc->buf, padded & 0x3fc, 0);
	if (r < 0)
		return -1;
	*out = (__u32)r;
	return 0;
}
#else
/* Types without bpf_csum_diff (socket filters): a bpf_loop over 16-bit words, each
 * read with PKT_LOAD_BYTES. */
struct sum_ctx {
	void *ctx;
	__u32 off;
	__u32 len;
	__u32 sum;
	__s32 err;
};

static long sum_step(__u32 i, void *c)
{
	struct sum_ctx *sc = c;
	__u16 w = 0;
	__u32 at = sc->off + 2 * i;

	if (2 * i >= sc->len)
		return 1;
	if (PKT_LOAD_BYTES(sc->ctx, at, &w, 2 * i + 1 == sc->len ? 1 : 2)) {
		sc->err = -1;
		return 1;
	}
	sc->sum += w;
	return 0;
}

static __always_inline long segment_sum(void *ctx, __u32 off, __u32 len, __u32 *out)
{
	struct sum_ctx sc = { .ctx = ctx, .off = off, .len = len };

	if (len == 0 || len > L4_MAX_BYTES)
		return -1;
	bpf_loop(L4_MAX_BYTES / 2, sum_step, &sc, 0);
	if (sc.err)
		return -1;
	*out = sc.sum;
	return 0;
}
#endif

/*
 * Sum `len` bytes starting at `p` (16-bit words, network order as stored),
 * checking every step against `end` (direct packet access).  Returns -1 when
 * the bytes run past the frame or past L4_MAX_WORDS words.
 */
static __always_inline long sum_words(void *p, void *end, __u32 len, __u32 *out)
{
	__u32 sum = 0;
	__u16 *w = p;
	__u32 i;

	if (len > 2 * L4_MAX_WORDS)
		return -1;
	for (i = 0; i < L4_MAX_WORDS; i++) {
		if (2 * i + 1 >= len)
			break;
		/* keep clang from turning the pointer check into a length check the
		 * verifier cannot follow */
		asm volatile("" : "+r"(w));
		if ((void *)(w + 1) > end)
			return -1;
		sum += *w;
		w++;
	}
	if (len & 1) {
		__u8 *b = (__u8 *)w;
		asm volatile("" : "+r"(b));
		if ((void *)(b + 1) > end)
			return -1;
		sum += *b;	/* little-endian host: the byte is the low half */
	}
	*out = sum;
	return 0;
}

static __always_inline int parse_l4(void *ctx, void *data, void *end, struct pkt_info *pi,
				    void *l4, __u32 pseudo)
{
	__u32 sum = 0;

	pi->l4_off = (__u16)(l4 - data);
	if (pi->flags & PF_LATER_FRAG)
		return 0;
	if (pi->l4_proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end) {
			pi->flags |= PF_TRUNC;
			return 0;
		}
		pi->sport = bpf_ntohs(th->source);
		pi->dport = bpf_ntohs(th->dest);
	} else if (pi->l4_proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end) {
			pi->flags |= PF_TRUNC;
			return 0;
		}
		pi->sport = bpf_ntohs(uh->source);
		pi->dport = bpf_ntohs(uh->dest);
		if (uh->check == 0 && pi->eth_proto == ETH_P_IP) {
			pi->flags |= PF_UDP_NOCSUM;
			return 0;
		}
	} else if (pi->l4_proto == IPPROTO_ICMP || pi->l4_proto == IPPROTO_ICMPV6) {
		struct icmphdr *ih = l4;
		if ((void *)(ih + 1) > end) {
			pi->flags |= PF_TRUNC;
			return 0;
		}
		pi->icmp_type = ih->type;
		if (pi->l4_proto == IPPROTO_ICMP)
			pseudo = 0;	/* ICMP (v4) has no pseudo-header */
	} else {
		return 0;
	}
	if (pi->flags & (PF_FRAG | PF_BAD_TOTLEN))
		return 0;
	if (segment_sum(ctx, pi->l4_off, pi->l4_len, &sum) < 0)
		return 0;
	pi->l4_sum = csum_fold32(csum_fold32(sum) + pseudo);
	pi->flags |= pi->l4_sum == 0xffff ? PF_L4CSUM_OK : PF_BAD_L4CSUM;
	return 0;
}

static __always_inline __u32 pseudo_v4(struct iphdr *ip, __u16 l4len)
{
	__u32 s = 0;
	s += ip->saddr & 0xffff;
	s += ip->saddr >> 16;
	s += ip->daddr & 0xffff;
	s += ip->daddr >> 16;
	s += bpf_htons((__u16)ip->protocol);
	s += bpf_htons(l4len);
	return csum_fold32(s);
}

static __always_inline int parse_ipv4(void *ctx, void *data, void *end, struct pkt_info *pi, void *l3)
{
	struct iphdr *ip = l3;
	__u32 hlen, sum = 0, frame_left;

	if ((void *)(ip + 1) > end) {
		pi->flags |= PF_TRUNC;
		return 0;
	}
	pi->ihl = ip->ihl;
	if (ip->version != 4 || ip->ihl < 5) {
		pi->flags |= PF_BAD_IHL;
		return 0;
	}
	hlen = ip->ihl * 4;
	if (hlen > 20)
		pi->flags |= PF_IP_OPTS;
	if (sum_words(ip, end, hlen, &sum) < 0) {
		pi->flags |= PF_TRUNC;
		return 0;
	}
	if (csum_fold32(sum) != 0xffff)
		pi->flags |= PF_BAD_IPCSUM;
	pi->ip_len = bpf_ntohs(ip->tot_len);
	pi->ttl = ip->ttl;
	pi->saddr = ip->saddr;
	pi->daddr = ip->daddr;
	pi->l4_proto = ip->protocol;
	pi->frag_off = bpf_ntohs(ip->frag_off);
	if (pi->frag_off & 0x3fff)
		pi->flags |= PF_FRAG;
	if (pi->frag_off & 0x1fff)
		pi->flags |= PF_LATER_FRAG;
	frame_left = (__u32)(end - l3);
	if (pi->ip_len < hlen || pi->ip_len > frame_left)
		pi->flags |= PF_BAD_TOTLEN;
	else if (pi->ip_len < frame_left)
		pi->flags |= PF_PADDED;
	pi->l4_len = pi->ip_len > hlen ? pi->ip_len - hlen : 0;
	return parse_l4(ctx, data, end, pi, l3 + hlen, pseudo_v4(ip, pi->l4_len));
}

static __always_inline __u32 pseudo_v6(struct ipv6hdr *ip6, __u8 nexthdr, __u16 l4len)
{
	__u32 s = 0;
	int i;
#pragma unroll
	for (i = 0; i < 8; i++) {
		s += ip6->saddr.in6_u.u6_addr16[i];
		s += ip6->daddr.in6_u.u6_addr16[i];
	}
	s += bpf_htons((__u16)nexthdr);
	s += bpf_htons(l4len);
	return csum_fold32(s);
}

struct ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
	__u16 rest;
};

struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

#define IPV6_MAX_EXT 4

static __always_inline int parse_ipv6(void *ctx, void *data, void *end, struct pkt_info *pi, void *l3)
{
	struct ipv6hdr *ip6 = l3;
	void *p;
	__u8 nh;
	__u32 plen, frame_left;
	int i;

	if ((void *)(ip6 + 1) > end) {
		pi->flags |= PF_TRUNC;
		return 0;
	}
	if (ip6->version != 6) {
		pi->flags |= PF_BAD_IHL;
		return 0;
	}
	plen = bpf_ntohs(ip6->payload_len);
	pi->ip_len = plen + 40;
	pi->ttl = ip6->hop_limit;
	pi->saddr = ip6->saddr.in6_u.u6_addr32[3];
	pi->daddr = ip6->daddr.in6_u.u6_addr32[3];
	frame_left = (__u32)(end - l3);
	if (pi->ip_len > frame_left)
		pi->flags |= PF_BAD_TOTLEN;
	else if (pi->ip_len < frame_left)
		pi->flags |= PF_PADDED;
	nh = ip6->nexthdr;
	p = ip6 + 1;
	for (i = 0; i < IPV6_MAX_EXT; i++) {
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS) {
			struct ipv6_opt *o = p;
			if ((void *)(o + 1) > end) {
				pi->flags |= PF_TRUNC;
				return 0;
			}
			nh = o->nexthdr;
			p += (o->hdrlen + 1) * 8;
		} else if (nh == IPPROTO_FRAGMENT) {
			struct ipv6_frag *f = p;
			if ((void *)(f + 1) > end) {
				pi->flags |= PF_TRUNC;
				return 0;
			}
			nh = f->nexthdr;
			pi->frag_off = bpf_ntohs(f->frag_off);
			pi->flags |= PF_FRAG;
			if (pi->frag_off & 0xfff8)
				pi->flags |= PF_LATER_FRAG;
			p += 8;
		} else {
			break;
		}
		pi->ext_count++;
		pi->flags |= PF_IPV6_EXT;
	}
	pi->l4_proto = nh;
	if (p > end) {
		pi->flags |= PF_TRUNC;
		return 0;
	}
	if ((__u32)(p - l3) > pi->ip_len) {
		pi->flags |= PF_BAD_TOTLEN;
		return 0;
	}
	pi->l4_len = pi->ip_len - (__u16)(p - l3);
	return parse_l4(ctx, data, end, pi, p, pseudo_v6(ip6, nh, pi->l4_len));
}

/* Parse the frame at data..end; 0, or -1 when not even Ethernet fits. */
static __always_inline int pkt_parse(void *ctx, void *data, void *end, struct pkt_info *pi)
{
	struct ethhdr *eth = data;
	void *p;
	__u16 proto;
	int i;

	__builtin_memset(pi, 0, sizeof(*pi));
	if ((void *)(eth + 1) > end) {
		pi->flags |= PF_TRUNC;
		return -1;
	}
	proto = bpf_ntohs(eth->h_proto);
	p = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			struct vlan_hdr *vh = p;
			if ((void *)(vh + 1) > end) {
				pi->flags |= PF_TRUNC;
				pi->eth_proto = proto;
				return 0;
			}
			pi->vlan_tci[i] = bpf_ntohs(vh->tci);
			pi->vlans++;
			proto = bpf_ntohs(vh->proto);
			p = vh + 1;
		}
	}
	pi->eth_proto = proto;
	pi->l3_off = (__u16)(p - data);
	if (proto == ETH_P_IP)
		return parse_ipv4(ctx, data, end, pi, p);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(ctx, data, end, pi, p);
	pi->flags |= PF_UNKNOWN_L3;
	return 0;
}

/* Parse a packet that starts at its network header (cgroup skb, LWT), whose
 * EtherType (host order) is `proto`. */
static __always_inline int pkt_parse_l3(void *ctx, void *data, void *end, __u16 proto,
					struct pkt_info *pi)
{
	__builtin_memset(pi, 0, sizeof(*pi));
	pi->eth_proto = proto;
	if (proto == ETH_P_IP)
		return parse_ipv4(ctx, data, end, pi, data);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(ctx, data, end, pi, data);
	pi->flags |= PF_UNKNOWN_L3;
	return 0;
}

/*
 * The verifier checks a global (non-static, noinline) function once, on its
 * own, so parsing in one keeps the callers' state count small.  PKT_CTX is the
 * program type's context struct (xdp_md or __sk_buff: both have data and
 * data_end).
 */
#ifdef PKT_CTX
__attribute__((noinline)) int parse_frame(PKT_CTX *ctx, struct pkt_info *pi)
{
	if (!ctx || !pi)
		return -1;
	return pkt_parse(ctx, (void *)(long)ctx->data, (void *)(long)ctx->data_end, pi);
}

__attribute__((noinline)) int parse_packet_l3(PKT_CTX *ctx, __u32 proto, struct pkt_info *pi)
{
	if (!ctx || !pi)
		return -1;
	return pkt_parse_l3(ctx, (void *)(long)ctx->data, (void *)(long)ctx->data_end,
			    (__u16)proto, pi);
}
#endif

#endif
