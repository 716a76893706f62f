// SPDX-License-Identifier: GPL-2.0
/*
 * sockfilter.c - a socket filter: no direct packet access, so the headers are
 * read with LD_ABS / LD_IND (the llvm.bpf.load.* builtins, also at SKF_LL_OFF
 * and SKF_NET_OFF), bpf_skb_load_bytes and bpf_skb_load_bytes_relative.  It
 * checks the IPv4 header checksum (a sum over the loaded header) and the L4
 * checksum (clang_common.h's segment_sum: a bpf_loop, as socket filters have no
 * bpf_csum_diff), walks IPv6 extension headers,
 * reads the __sk_buff fields a socket filter may read, writes cb[], counts in
 * an array map it then sums with bpf_for_each_map_elem, folds the first bytes
 * with bpf_loop, emits a ring-buffer record (bpf_ringbuf_output) and stores the
 * clocks, random numbers, CPU and NUMA node in `clocks` (checked by property).
 *
 * cb[0] (from ctx_in) picks what to keep: 0 the whole packet unless a checksum
 * is bad, 1 the headers only, 2 nothing, 3 exactly cb[1] bytes.
 */
#define PKT_LOAD_BYTES bpf_skb_load_bytes
#define PKT_NO_CSUM_DIFF 1
#include "clang_common.h"

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define SKF_NET_OFF	(-0x100000)
#define SKF_LL_OFF	(-0x200000)

struct sf_res {
	__u32 eth_proto_ll;	/* LD_ABS at SKF_LL_OFF + 12 */
	__u32 first_word_net;	/* LD_ABS at SKF_NET_OFF */
	__u32 ihl_byte;		/* LD_ABS at 0 */
	__u32 ports;		/* LD_IND at the L4 header */
	__u32 flags;
	__u32 l4_sum;
	__u32 ip_sum;
	__u32 l4_proto;
	__s64 rel_mac, rel_net, rel_bad, load_ret;
	__u8 mac[14];
	__u8 net[10];
	__u32 len, protocol, pkt_type, vlan_present, vlan_tci, vlan_proto, ifindex;
	__u32 ingress_ifindex, mark, priority, hash, queue_mapping, tc_index, napi_id;
	__u32 gso_segs, gso_size, uid, cb[5];
	__u32 loop_n, loop_fold, each_n;
	__u64 each_sum;
	__u32 keep;
	__u32 pad;
};

struct clocks {
	__u64 mono0, boot, coarse, tai, jiffies, mono1;
	__u32 rnd0, rnd1, cpu, numa;
	__u64 runs;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct sf_res);
	__uint(max_entries, 1);
} sf_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} sf_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct clocks);
	__uint(max_entries, 1);
} clocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} sf_events SEC(".maps");

struct loop_ctx {
	struct __sk_buff *skb;
	__u32 fold;
	__u32 n;
};

static long fold_byte(__u32 i, void *c)
{
	struct loop_ctx *lc = c;
	__u8 b;

	if (bpf_skb_load_bytes(lc->skb, i, &b, 1))
		return 1;
	lc->fold = (lc->fold << 5) ^ (lc->fold >> 27) ^ b;
	lc->n++;
	return 0;
}

struct each_ctx {
	__u64 sum;
	__u32 n;
};

static long add_count(void *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	c->sum += *val * (*key + 1);
	c->n++;
	return *key >= 12;	/* stop after key 12 */
}

static __always_inline void parse_ipv4_sf(struct __sk_buff *skb, struct pkt_info *pi,
					  struct sf_res *r)
{
	__u8 hdr[60];
	struct iphdr *ip = (void *)hdr;
	__u32 hlen, sum = 0, i;

	if (bpf_skb_load_bytes(skb, 0, hdr, 20)) {
		pi->flags |= PF_TRUNC;
		return;
	}
	if (ip->version != 4 || ip->ihl < 5) {
		pi->flags |= PF_BAD_IHL;
		return;
	}
	hlen = ip->ihl * 4;
	if (hlen > 20) {
		pi->flags |= PF_IP_OPTS;
		__u32 n = (hlen - 20) & 63;
		if (n < 4 || bpf_skb_load_bytes(skb, 20, hdr + 20, n)) {
			pi->flags |= PF_TRUNC;
			return;
		}
	}
	/* socket filters have no bpf_csum_diff: sum the header words */
	for (i = 0; i < 30; i++) {
		if (2 * i >= hlen)
			break;
		sum += ((__u16 *)hdr)[i];
	}
	r->ip_sum = csum_fold32(sum);
	if (r->ip_sum != 0xffff)
		pi->flags |= PF_BAD_IPCSUM;
	pi->ip_len = bpf_ntohs(ip->tot_len);
	pi->l4_proto = ip->protocol;
	pi->frag_off = bpf_ntohs(ip->frag_off);
	if (pi->frag_off & 0x3fff)
		pi->flags |= PF_FRAG;
	if (pi->frag_off & 0x1fff)
		pi->flags |= PF_LATER_FRAG;
	if (pi->ip_len < hlen || pi->ip_len > skb->len)
		pi->flags |= PF_BAD_TOTLEN;
	pi->l4_off = hlen;
	pi->l4_len = pi->ip_len > hlen ? pi->ip_len - hlen : 0;
	if (!(pi->flags & (PF_LATER_FRAG)) && skb->len >= hlen + 4)
		r->ports = load_word(skb, hlen);	/* LD_IND */
	if ((pi->l4_proto == IPPROTO_TCP || pi->l4_proto == IPPROTO_UDP ||
	     pi->l4_proto == IPPROTO_ICMP) && !(pi->flags & (PF_FRAG | PF_BAD_TOTLEN))) {
		__u32 s = 0;
		if (segment_sum(skb, hlen, pi->l4_len, &s) == 0) {
			if (pi->l4_proto != IPPROTO_ICMP)
				s = csum_fold32(s) + pseudo_v4(ip, pi->l4_len);
			pi->l4_sum = csum_fold32(s);
			pi->flags |= pi->l4_sum == 0xffff ? PF_L4CSUM_OK : PF_BAD_L4CSUM;
		}
	}
}

static __always_inline void parse_ipv6_sf(struct __sk_buff *skb, struct pkt_info *pi)
{
	struct ipv6hdr ip6;
	__u32 off = 40;
	__u8 nh;
	int i;

	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6))) {
		pi->flags |= PF_TRUNC;
		return;
	}
	pi->ip_len = bpf_ntohs(ip6.payload_len) + 40;
	nh = ip6.nexthdr;
	for (i = 0; i < IPV6_MAX_EXT; i++) {
		struct ipv6_opt o;
		if (nh != IPPROTO_HOPOPTS && nh != IPPROTO_ROUTING && nh != IPPROTO_DSTOPTS &&
		    nh != IPPROTO_FRAGMENT)
			break;
		if (bpf_skb_load_bytes(skb, off, &o, sizeof(o))) {
			pi->flags |= PF_TRUNC;
			return;
		}
		if (nh == IPPROTO_FRAGMENT) {
			pi->flags |= PF_FRAG;
			pi->frag_off = bpf_ntohs(o.rest);
			off += 8;
		} else {
			off += (o.hdrlen + 1) * 8;
		}
		nh = o.nexthdr;
		pi->ext_count++;
		pi->flags |= PF_IPV6_EXT;
	}
	pi->l4_proto = nh;
	pi->l4_off = off;
	if (skb->len >= off + 4)
		pi->sport = load_half(skb, off);	/* LD_IND */
}

SEC("socket")
int sf_main(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct sf_res *r = bpf_map_lookup_elem(&sf_last, &zero);
	struct clocks *ck = bpf_map_lookup_elem(&clocks, &zero);
	struct pkt_info pi = {};
	struct loop_ctx lc = { .skb = skb };
	struct each_ctx ec = {};
	__u32 k, keep;
	__u64 *cnt;

	if (!r || !ck)
		return 0;
	ck->mono0 = bpf_ktime_get_ns();
	ck->rnd0 = bpf_get_prandom_u32();
	__builtin_memset(r, 0, sizeof(*r));
	r->eth_proto_ll = load_half(skb, SKF_LL_OFF + 12);
	if (skb->len >= 4)
		r->first_word_net = load_word(skb, SKF_NET_OFF);
	if (skb->len >= 1)
		r->ihl_byte = load_byte(skb, 0);
	r->rel_mac = bpf_skb_load_bytes_relative(skb, 0, r->mac, sizeof(r->mac), BPF_HDR_START_MAC);
	r->rel_net = bpf_skb_load_bytes_relative(skb, 4, r->net, sizeof(r->net), BPF_HDR_START_NET);
	r->rel_bad = bpf_skb_load_bytes_relative(skb, 0x10000, r->net, 2, BPF_HDR_START_NET);
	r->load_ret = bpf_skb_load_bytes(skb, skb->len, r->net, 1);	/* past the end */

	pi.eth_proto = bpf_ntohs(skb->protocol);
	if (pi.eth_proto == ETH_P_IP)
		parse_ipv4_sf(skb, &pi, r);
	else if (pi.eth_proto == ETH_P_IPV6)
		parse_ipv6_sf(skb, &pi);
	else
		pi.flags |= PF_UNKNOWN_L3;
	r->flags = pi.flags;
	r->l4_sum = pi.l4_sum;
	r->l4_proto = pi.l4_proto;

	k = pi.l4_proto & 15;
	cnt = bpf_map_lookup_elem(&sf_counts, &k);
	if (cnt)
		*cnt += 1;
	r->each_n = bpf_for_each_map_elem(&sf_counts, add_count, &ec, 0);
	r->each_sum = ec.sum;
	bpf_loop(48, fold_byte, &lc, 0);
	r->loop_n = lc.n;
	r->loop_fold = lc.fold;

	r->len = skb->len;
	r->protocol = skb->protocol;
	r->pkt_type = skb->pkt_type;
	r->vlan_present = skb->vlan_present;
	r->vlan_tci = skb->vlan_tci;
	r->vlan_proto = skb->vlan_proto;
	r->ifindex = skb->ifindex;
	r->ingress_ifindex = skb->ingress_ifindex;
	r->mark = skb->mark;
	r->priority = skb->priority;
	r->hash = skb->hash;
	r->queue_mapping = skb->queue_mapping;
	r->tc_index = skb->tc_index;
	r->napi_id = skb->napi_id;
	r->gso_segs = skb->gso_segs;
	r->gso_size = skb->gso_size;
	r->uid = bpf_get_socket_uid(skb);
	skb->cb[2] = pi.flags;
	skb->cb[3] = r->ports;
	skb->cb[4] = lc.fold;
	r->cb[0] = skb->cb[0];
	r->cb[1] = skb->cb[1];
	r->cb[2] = skb->cb[2];
	r->cb[3] = skb->cb[3];
	r->cb[4] = skb->cb[4];

	switch (skb->cb[0]) {
	case 0:
		keep = pi.flags & (PF_BAD_IPCSUM | PF_BAD_L4CSUM) ? 0 : 0xffffffff;
		break;
	case 1:
		keep = pi.l4_off + 8;
		break;
	case 2:
		keep = 0;
		break;
	default:
		keep = skb->cb[1];
		break;
	}
	r->keep = keep;
	bpf_ringbuf_output(&sf_events, r, sizeof(*r), 0);

	ck->boot = bpf_ktime_get_boot_ns();
	ck->coarse = bpf_ktime_get_coarse_ns();
	ck->tai = bpf_ktime_get_tai_ns();
	ck->jiffies = bpf_jiffies64();
	ck->rnd1 = bpf_get_prandom_u32();
	ck->cpu = bpf_get_smp_processor_id();
	ck->numa = bpf_get_numa_node_id();
	ck->runs++;
	ck->mono1 = bpf_ktime_get_ns();
	return keep;
}

char LICENSE[] SEC("license") = "GPL";
