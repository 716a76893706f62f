// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_prog.c - an XDP program that parses every frame (clang_common.h), keeps
 * what it saw in maps (per-CPU class counters, a flow hash, an LRU hash by
 * source address, a ring buffer record per frame) and then applies the
 * operation the test put in `xdp_cfg`:
 *
 *   0 PARSE     verdict only: XDP_DROP for a bad IPv4 header or L4 checksum
 *   1 VLAN_POP  strip every VLAN tag (xdp_load_bytes, xdp_adjust_head,
 *               xdp_store_bytes)
 *   2 VLAN_PUSH add an 802.1Q tag with TCI arg (xdp_adjust_head(-4))
 *   3 TAIL      xdp_adjust_tail(arg)
 *   4 META      xdp_adjust_meta(-arg), write the parse flags as metadata and
 *               read them back by direct access
 *   5 TTL       decrement the IPv4 TTL (xdp_store_bytes, checksum fixed with
 *               bpf_csum_diff) or the IPv6 hop limit (direct write); XDP_TX
 *   6 ECHO      answer an ICMP echo request in place (swap MACs and
 *               addresses, type 0, checksum by csum_diff); XDP_TX
 *   7 REDIRECT  bpf_redirect(arg, arg2)
 *   8 TRIM      cut Ethernet padding after the IP packet (xdp_adjust_tail)
 *   9 ENCAP     IPv4-in-IPv4: a new outer header (xdp_adjust_head(-20),
 *               header checksum by csum_diff over the new header)
 *  10 STORE     xdp_store_bytes(arg, 4 bytes of arg2) and xdp_load_bytes back
 *  11 HEAD      xdp_adjust_head(arg), then xdp_adjust_meta(-arg2 & 0xff) and
 *               bytes 0 and 13 read by direct access
 */
#define PKT_LOAD_BYTES bpf_xdp_load_bytes
#define PKT_CTX struct xdp_md
#include "clang_common.h"

enum { OP_PARSE, OP_VLAN_POP, OP_VLAN_PUSH, OP_TAIL, OP_META, OP_TTL, OP_ECHO,
       OP_REDIRECT, OP_TRIM, OP_ENCAP, OP_STORE, OP_HEAD };

struct cfg {
	__u32 op;
	__s32 arg;
	__u32 arg2;
	__u32 seq;	/* frames seen (the program counts) */
};

struct flow_key {
	__u16 eth_proto;
	__u8 l4_proto;
	__u8 vlans;
	__u16 sport;
	__u16 dport;
};

struct flow_val {
	__u64 packets;
	__u64 bytes;
	__u32 flags_or;
	__u32 last_flags;
	__u32 last_l4_sum;
	__u32 last_len;
};

struct event {
	__u32 seq;
	__u32 flags;
	__u16 eth_proto;
	__u8 l4_proto;
	__u8 vlans;
	__u32 len;
	__u32 buff_len;
	__s32 op_ret;
	__u32 verdict;
	__u8 head[32];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct cfg);
	__uint(max_entries, 1);
} xdp_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} xdp_class SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
	__uint(max_entries, 65536);
} xdp_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} xdp_src SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} xdp_events SEC(".maps");

static __always_inline void count_class(__u32 flags)
{
	int i;

#pragma unroll
	for (i = 0; i < 13; i++) {
		if (flags & (1u << i)) {
			__u32 k = i;
			__u64 *c = bpf_map_lookup_elem(&xdp_class, &k);
			if (c)
				*c += 1;
		}
	}
}

static __always_inline void record(struct pkt_info *pi, __u32 len)
{
	struct flow_key k = {
		.eth_proto = pi->eth_proto, .l4_proto = pi->l4_proto, .vlans = pi->vlans,
		.sport = pi->sport, .dport = pi->dport,
	};
	struct flow_val *v = bpf_map_lookup_elem(&xdp_flows, &k);
	__u32 sk = pi->saddr & 0xff;
	__u64 one = 1, *s;

	if (v) {
		v->packets++;
		v->bytes += len;
		v->flags_or |= pi->flags;
		v->last_flags = pi->flags;
		v->last_l4_sum = pi->l4_sum;
		v->last_len = len;
	} else {
		struct flow_val nv = { 1, len, pi->flags, pi->flags, pi->l4_sum, len };
		bpf_map_update_elem(&xdp_flows, &k, &nv, BPF_NOEXIST);
	}
	s = bpf_map_lookup_elem(&xdp_src, &sk);
	if (s)
		__sync_fetch_and_add(s, 1);
	else
		bpf_map_update_elem(&xdp_src, &sk, &one, BPF_ANY);
	count_class(pi->flags);
}

static __always_inline long vlan_pop(struct xdp_md *ctx, struct pkt_info *pi)
{
	__u8 macs[12];
	__u16 proto = bpf_htons(pi->eth_proto);
	long r;

	if (!pi->vlans)
		return 1;
	r = bpf_xdp_load_bytes(ctx, 0, macs, sizeof(macs));
	if (r)
		return r;
	r = bpf_xdp_adjust_head(ctx, pi->vlans * 4);
	if (r)
		return r;
	r = bpf_xdp_store_bytes(ctx, 0, macs, sizeof(macs));
	if (r)
		return r;
	return bpf_xdp_store_bytes(ctx, 12, &proto, 2);
}

static __always_inline long vlan_push(struct xdp_md *ctx, __u16 tci)
{
	void *data, *end;
	struct ethhdr *eth;
	struct vlan_hdr *vh;
	long r = bpf_xdp_adjust_head(ctx, -4);

	if (r)
		return r;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	vh = data + sizeof(*eth);
	if ((void *)(vh + 1) > end)
		return -1;
	__builtin_memmove(data, data + 4, 12);
	eth->h_proto = bpf_htons(ETH_P_8021Q);
	vh->tci = bpf_htons(tci);
	return 0;
}

static __always_inline long meta(struct xdp_md *ctx, __u32 n, __u32 value)
{
	void *data, *m;
	long r = bpf_xdp_adjust_meta(ctx, -(int)n);

	if (r)
		return r;
	m = (void *)(long)ctx->data_meta;
	data = (void *)(long)ctx->data;
	if (m + 4 > data)
		return 0x100;
	*(__u32 *)m = value;
	return *(__u32 *)m == value ? 0 : 0x200;
}

/* csum_diff of a 4-byte word: the new checksum from the old after one word changed */
static __always_inline __u16 csum_word(__u16 check, __u32 old, __u32 new)
{
	__s64 d = bpf_csum_diff(&old, 4, &new, 4, ~check & 0xffff);
	return ~csum_fold32((__u32)d);
}

static __always_inline long ttl(struct xdp_md *ctx, struct pkt_info *pi)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	if (pi->eth_proto == ETH_P_IP && !(pi->flags & (PF_TRUNC | PF_BAD_IHL))) {
		__u32 off = pi->l3_off & 0x3f;
		struct iphdr *ip = data + off;
		__u32 old, new;
		__u16 check;
		if ((void *)(ip + 1) > end)
			return -1;
		old = *(__u32 *)((void *)ip + 8);	/* ttl, protocol, check */
		check = ip->check;
		new = old;
		((__u8 *)&new)[0] -= 1;
		((__u16 *)&new)[1] = 0;
		((__u16 *)&old)[1] = 0;
		check = csum_word(check, old, new);
		((__u16 *)&new)[1] = check;
		return bpf_xdp_store_bytes(ctx, off + 8, &new, 4);
	}
	if (pi->eth_proto == ETH_P_IPV6 && !(pi->flags & PF_TRUNC)) {
		__u32 off = pi->l3_off & 0x3f;
		struct ipv6hdr *ip6 = data + off;
		if ((void *)(ip6 + 1) > end)
			return -1;
		ip6->hop_limit--;
		return 0;
	}
	return 1;
}

static __always_inline long echo(struct xdp_md *ctx, struct pkt_info *pi)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct icmphdr *ic;
	__u8 tmp[6];
	__u32 a, old, new;

	if (pi->l4_proto != IPPROTO_ICMP || pi->icmp_type != ICMP_ECHO ||
	    pi->eth_proto != ETH_P_IP || (pi->flags & (PF_TRUNC | PF_LATER_FRAG)))
		return 1;
	ip = data + (pi->l3_off & 0x3f);
	ic = data + (pi->l4_off & 0xff);
	if ((void *)(eth + 1) > end || (void *)(ip + 1) > end || (void *)(ic + 1) > end)
		return -1;
	__builtin_memcpy(tmp, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, tmp, 6);
	a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
	old = *(__u32 *)ic & 0xffff;	/* type, code */
	new = old & 0xff00;		/* type 0 = echo reply */
	ic->type = 0;
	ic->checksum = csum_word(ic->checksum, old, new);
	return 0;
}

static __always_inline long encap(struct xdp_md *ctx, struct pkt_info *pi)
{
	void *data, *end;
	struct ethhdr *eth;
	struct iphdr *outer;
	struct iphdr h = {};
	__u8 macs[12];
	long r;

	if (pi->eth_proto != ETH_P_IP || pi->vlans || (pi->flags & (PF_TRUNC | PF_BAD_TOTLEN)))
		return 1;
	r = bpf_xdp_load_bytes(ctx, 0, macs, 12);
	if (r)
		return r;
	r = bpf_xdp_adjust_head(ctx, -(int)sizeof(struct iphdr));
	if (r)
		return r;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > end)
		return -1;
	h.version = 4;
	h.ihl = 5;
	h.ttl = 64;
	h.protocol = IPPROTO_IPIP;
	h.tot_len = bpf_htons(pi->ip_len + 20);
	h.saddr = bpf_htonl(0xc0000201);
	h.daddr = pi->daddr;
	h.check = ~csum_fold32((__u32)bpf_csum_diff(0, 0, (void *)&h, sizeof(h), 0));
	__builtin_memcpy(eth, macs, 12);
	eth->h_proto = bpf_htons(ETH_P_IP);
	__builtin_memcpy(outer, &h, sizeof(h));
	return 0;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pkt_info pi;
	struct event *ev;
	__u32 zero = 0, len = (__u32)(end - data), verdict = XDP_PASS;
	struct cfg *cfg = bpf_map_lookup_elem(&xdp_cfg, &zero);
	long ret = 0;
	__u32 n;

	if (!cfg)
		return XDP_ABORTED;
	cfg->seq++;
	parse_frame(ctx, &pi);
	record(&pi, len);
	if (pi.flags & (PF_BAD_IPCSUM | PF_BAD_L4CSUM))
		verdict = XDP_DROP;

	switch (cfg->op) {
	case OP_VLAN_POP:
		ret = vlan_pop(ctx, &pi);
		break;
	case OP_VLAN_PUSH:
		ret = vlan_push(ctx, cfg->arg);
		break;
	case OP_TAIL:
		ret = bpf_xdp_adjust_tail(ctx, cfg->arg);
		break;
	case OP_META:
		ret = meta(ctx, cfg->arg, pi.flags);
		break;
	case OP_TTL:
		ret = ttl(ctx, &pi);
		if (!ret)
			verdict = XDP_TX;
		break;
	case OP_ECHO:
		ret = echo(ctx, &pi);
		if (!ret)
			verdict = XDP_TX;
		break;
	case OP_REDIRECT:
		verdict = bpf_redirect(cfg->arg, cfg->arg2);
		break;
	case OP_TRIM:
		if ((pi.flags & PF_PADDED) && !(pi.flags & PF_BAD_TOTLEN))
			ret = bpf_xdp_adjust_tail(ctx, -(int)(len - pi.l3_off - pi.ip_len));
		else
			ret = 1;
		break;
	case OP_ENCAP:
		ret = encap(ctx, &pi);
		break;
	case OP_STORE: {
		__u32 v = cfg->arg2, back = 0;
		ret = bpf_xdp_store_bytes(ctx, cfg->arg, &v, 4);
		ret |= bpf_xdp_load_bytes(ctx, cfg->arg, &back, 4) << 8;
		if (!ret && back != v)
			ret = 0x7777;
		break;
	}
	case OP_HEAD: {
		__u8 *p, *e;
		ret = bpf_xdp_adjust_head(ctx, cfg->arg);
		ret |= bpf_xdp_adjust_meta(ctx, -(int)(cfg->arg2 & 0xff)) << 8;
		p = (__u8 *)(long)ctx->data;
		e = (__u8 *)(long)ctx->data_end;
		if (p + 1 <= e)
			ret |= (long)*p << 16;
		if (p + 14 <= e)
			ret ^= (long)p[13] << 24;
		break;
	}
	default:
		break;
	}

	ev = bpf_ringbuf_reserve(&xdp_events, sizeof(*ev), 0);
	if (!ev)
		return XDP_ABORTED;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->seq = cfg->seq;
	ev->flags = pi.flags;
	ev->eth_proto = pi.eth_proto;
	ev->l4_proto = pi.l4_proto;
	ev->vlans = pi.vlans;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ev->len = (__u32)(end - data);
	ev->buff_len = bpf_xdp_get_buff_len(ctx);
	ev->op_ret = ret;
	ev->verdict = verdict;
	n = ev->len < 32 ? ev->len : 32;
	if (n)
		bpf_xdp_load_bytes(ctx, 0, ev->head, n & 63);
	bpf_ringbuf_submit(ev, 0);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
