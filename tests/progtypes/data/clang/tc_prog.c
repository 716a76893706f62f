// SPDX-License-Identifier: GPL-2.0
/*
 * tc_prog.c - a tc classifier (SEC("tc")) and a tc action (SEC("action"))
 * sharing one body: parse the frame (clang_common.h), record what was seen,
 * then apply the operation the test put in cb[0] with arguments cb[1..3]:
 *
 *   0 FIELDS    write mark, priority, tc_index, tc_classid, queue_mapping,
 *               tstamp and cb[] from the parse and the arguments
 *   1 NAT4      rewrite the IPv4 source address: l4_csum_replace with
 *               BPF_F_PSEUDO_HDR (| BPF_F_MARK_MANGLED_0 for UDP),
 *               l3_csum_replace, skb_store_bytes; for UDP a replacement that
 *               folds the checksum to 0 (CSUM_MANGLED_0)
 *   2 STORE     skb_store_bytes(cb1, &cb2, 4, BPF_F_RECOMPUTE_CSUM | cb3 bits)
 *   3 CSUM      store a word without recomputing, csum_diff old->new and
 *               csum_update with it
 *   4 LEVEL     a fixed sequence of csum_level query/inc/dec/reset/bad
 *   5 VLANPUSH  skb_vlan_push(cb1 proto, cb2 tci), twice when cb3 & 1
 *   6 VLANPOP   skb_vlan_pop
 *   7 PROTO     skb_change_proto to IPv6 (cb1 != 0) or IPv4, header written
 *   8 TYPE      skb_change_type(cb1)
 *   9 HEAD      skb_change_head(cb1, cb2), then an Ethernet header written
 *  10 TAIL      skb_change_tail(cb1, cb2)
 *  11 ROOM      skb_adjust_room(cb1, cb2, cb3 | cb4 << 32)
 *  12 PULL      skb_pull_data(cb1), then the byte before data + cb1 read
 *  13 HASH      set_hash(cb1), get_hash_recalc (must give cb1 back),
 *               set_hash_invalid, get_hash_recalc twice (kept by property)
 *  14 REDIRECT  return bpf_redirect(cb1, cb2)
 *  15 TAIL_CALL bpf_tail_call(tc_jmp, cb1) (classifier only)
 *  16 LOAD      skb_load_bytes and skb_load_bytes_relative (MAC, NET) at cb1
 *
 * After the operation every readable __sk_buff field goes to tc_last.
 */
#define PKT_LOAD_BYTES bpf_skb_load_bytes
#define PKT_CTX struct __sk_buff
#include "clang_common.h"

enum { OP_FIELDS, OP_NAT4, OP_STORE, OP_CSUM, OP_LEVEL, OP_VLANPUSH, OP_VLANPOP,
       OP_PROTO, OP_TYPE, OP_HEAD, OP_TAIL, OP_ROOM, OP_PULL, OP_HASH, OP_REDIRECT,
       OP_TAIL_CALL, OP_LOAD };

struct tc_res {
	__s64 ret[12];		/* helper results of the operation */
	__u8 bytes[24];		/* bytes the operation read */
	/* fields after the operation */
	__u32 len, pkt_type, protocol, vlan_present, vlan_tci, vlan_proto;
	__u32 mark, priority, tc_index, tc_classid, queue_mapping, ifindex;
	__u32 ingress_ifindex, wire_len, gso_segs, gso_size, napi_id, data_len;
	__u32 meta_len, tstamp_type, cb[5];
	__u64 tstamp;
	__u32 flags, l4_sum, verdict, op;
};

struct hash_res {
	__u64 h_after_invalid;
	__u64 h_again;
	__u64 field_hash;
	__u64 runs;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct tc_res);
	__uint(max_entries, 2);		/* [0] classifier, [1] action */
} tc_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct hash_res);
	__uint(max_entries, 2);
} tc_hash SEC(".maps");

struct flow_key {
	__u16 eth_proto;
	__u8 l4_proto;
	__u8 vlans;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, __u64);
	__uint(max_entries, 4096);
} tc_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} tc_jmp SEC(".maps");

static __always_inline void record_flow(struct pkt_info *pi)
{
	struct flow_key k = { pi->eth_proto, pi->l4_proto, pi->vlans, pi->flags };
	__u64 one = 1, *c = bpf_map_lookup_elem(&tc_flows, &k);

	if (c)
		__sync_fetch_and_add(c, 1);
	else
		bpf_map_update_elem(&tc_flows, &k, &one, BPF_NOEXIST);
}

__attribute__((noinline)) int op_nat4(struct __sk_buff *skb, struct pkt_info *pi,
				      struct tc_res *r)
{
	__u32 ip_off, new_addr, old_addr, l4_csum_off;
	__u64 l4_flags;

	if (!skb || !pi || !r)
		return 0;
	if (pi->eth_proto != ETH_P_IP || (pi->flags & (PF_TRUNC | PF_BAD_IHL | PF_LATER_FRAG)))
		return 1;
	ip_off = pi->l3_off;
	new_addr = r->cb[1];
	old_addr = pi->saddr;
	if (pi->l4_proto == IPPROTO_TCP) {
		l4_csum_off = pi->l4_off + 16;
		l4_flags = BPF_F_PSEUDO_HDR | 4;
	} else if (pi->l4_proto == IPPROTO_UDP) {
		l4_csum_off = pi->l4_off + 6;
		l4_flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4;
	} else {
		l4_csum_off = 0;
		l4_flags = 0;
	}
	if (l4_csum_off)
		r->ret[0] = bpf_l4_csum_replace(skb, l4_csum_off, old_addr, new_addr, l4_flags);
	r->ret[1] = bpf_l3_csum_replace(skb, ip_off + 10, old_addr, new_addr, 4);
	r->ret[2] = bpf_skb_store_bytes(skb, ip_off + 12, &new_addr, 4, r->cb[2] & 3);
	/* a 2-byte replacement of the TTL/protocol word and a diff-based one */
	r->ret[3] = bpf_l3_csum_replace(skb, ip_off + 10, 0, 0, 2);
	r->ret[4] = bpf_l4_csum_replace(skb, l4_csum_off ? l4_csum_off : ip_off + 10, 0,
					bpf_csum_diff(0, 0, &new_addr, 4, 0), 0);
	r->ret[5] = bpf_l4_csum_replace(skb, ip_off + 10, 0, 0, 1);	/* bad size: -EINVAL */
	if (pi->l4_proto == IPPROTO_UDP) {
		/* a diff equal to the stored checksum folds it to 0, which
		 * BPF_F_MARK_MANGLED_0 turns into 0xffff (CSUM_MANGLED_0) */
		__u16 cur = 0;
		r->ret[6] = bpf_skb_load_bytes(skb, l4_csum_off, &cur, 2);
		r->ret[7] = bpf_l4_csum_replace(skb, l4_csum_off, 0, cur,
						BPF_F_MARK_MANGLED_0 | (r->cb[2] & 4 ? BPF_F_MARK_ENFORCE : 0));
		r->ret[8] = bpf_skb_load_bytes(skb, l4_csum_off, &cur, 2);
		r->ret[9] = cur;
	}
	return 0;
}

__attribute__((noinline)) int op_csum(struct __sk_buff *skb, struct tc_res *r)
{
	__u32 old = 0, new;
	__s64 diff;

	if (!skb || !r)
		return 0;
	new = r->cb[2];
	r->ret[0] = bpf_skb_load_bytes(skb, r->cb[1], &old, 4);
	if (r->ret[0])
		return 0;
	r->ret[1] = bpf_skb_store_bytes(skb, r->cb[1], &new, 4, 0);
	diff = bpf_csum_diff(&old, 4, &new, 4, 0);
	r->ret[2] = diff;
	r->ret[3] = bpf_csum_update(skb, diff);
	r->ret[4] = bpf_csum_diff(0, 0, &new, 4, r->cb[3]);
	r->ret[5] = bpf_csum_diff(&old, 4, 0, 0, r->cb[3]);
	r->ret[6] = bpf_csum_diff(&old, 3, 0, 0, 0);	/* not a multiple of 4: -EINVAL */
	return 0;
}

__attribute__((noinline)) int op_level(struct __sk_buff *skb, struct tc_res *r)
{
	if (!skb || !r)
		return 0;
	r->ret[0] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	r->ret[1] = bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
	r->ret[2] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	r->ret[3] = bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
	r->ret[4] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	r->ret[5] = bpf_csum_level(skb, BPF_CSUM_LEVEL_DEC);
	r->ret[6] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	r->ret[7] = bpf_csum_level(skb, BPF_CSUM_LEVEL_RESET);
	r->ret[8] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	r->ret[9] = bpf_csum_level(skb, r->cb[1] & 7);
	r->ret[10] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	return 0;
}

__attribute__((noinline)) int op_proto(struct __sk_buff *skb, struct pkt_info *pi,
				       struct tc_res *r)
{
	void *data, *end;

	if (!skb || !pi || !r)
		return 0;
	r->ret[0] = bpf_skb_change_proto(skb, bpf_htons(r->cb[1] ? ETH_P_IPV6 : ETH_P_IP),
					 r->cb[2] & 1);
	if (r->ret[0])
		return 0;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (r->cb[1]) {
		struct ethhdr *eth = data;
		struct ipv6hdr *ip6 = data + sizeof(*eth);
		if ((void *)(ip6 + 1) > end)
			return 0;
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->priority = 0;
		ip6->payload_len = bpf_htons(pi->l4_len);
		ip6->nexthdr = pi->l4_proto;
		ip6->hop_limit = pi->ttl;
		__builtin_memset(&ip6->saddr, 0, 32);
		ip6->saddr.in6_u.u6_addr32[3] = pi->saddr;
		ip6->daddr.in6_u.u6_addr32[3] = pi->daddr;
	} else {
		struct ethhdr *eth = data;
		struct iphdr *ip = data + sizeof(*eth);
		if ((void *)(ip + 1) > end)
			return 0;
		eth->h_proto = bpf_htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = bpf_htons(pi->l4_len + 20);
		ip->protocol = pi->l4_proto;
		ip->ttl = pi->ttl;
		ip->saddr = pi->saddr;
		ip->daddr = pi->daddr;
		ip->check = 0;
		ip->check = ~csum_fold32((__u32)bpf_csum_diff(0, 0, (void *)ip, 20, 0));
	}
	return 0;
}

__attribute__((noinline)) int op_head(struct __sk_buff *skb, struct tc_res *r)
{
	void *data, *end;
	struct ethhdr *eth;

	if (!skb || !r)
		return 0;
	r->ret[0] = bpf_skb_change_head(skb, r->cb[1], r->cb[2]);
	if (r->ret[0])
		return 0;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return 0;
	__builtin_memset(eth->h_dest, 0xee, 6);
	__builtin_memset(eth->h_source, 0x02, 6);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return 0;
}

__attribute__((noinline)) int op_hash(struct __sk_buff *skb, struct tc_res *r, __u32 slot)
{
	__u32 k = slot;
	struct hash_res *h = bpf_map_lookup_elem(&tc_hash, &k);

	if (!skb || !r || !h)
		return 0;
	r->ret[0] = bpf_set_hash(skb, r->cb[1]);
	r->ret[1] = bpf_get_hash_recalc(skb);	/* the hash just set: exact */
	r->ret[2] = skb->hash;
	bpf_set_hash_invalid(skb);
	r->ret[3] = skb->hash;			/* 0 after invalidating */
	h->h_after_invalid = bpf_get_hash_recalc(skb);
	h->h_again = bpf_get_hash_recalc(skb);
	h->field_hash = skb->hash;
	h->runs++;
	return 0;
}

__attribute__((noinline)) int op_load(struct __sk_buff *skb, struct tc_res *r)
{
	if (!skb || !r)
		return 0;
	r->ret[0] = bpf_skb_load_bytes(skb, r->cb[1], r->bytes, 8);
	r->ret[1] = bpf_skb_load_bytes_relative(skb, r->cb[1], r->bytes + 8, 8,
						BPF_HDR_START_MAC);
	r->ret[2] = bpf_skb_load_bytes_relative(skb, r->cb[1], r->bytes + 16, 8,
						BPF_HDR_START_NET);
	r->ret[3] = bpf_skb_load_bytes_relative(skb, 0, r->bytes + 16, 4, 2);	/* -EFAULT */
	return 0;
}

static __always_inline void read_fields(struct __sk_buff *skb, struct tc_res *r)
{
	r->len = skb->len;
	r->pkt_type = skb->pkt_type;
	r->protocol = skb->protocol;
	r->vlan_present = skb->vlan_present;
	r->vlan_tci = skb->vlan_tci;
	r->vlan_proto = skb->vlan_proto;
	r->mark = skb->mark;
	r->priority = skb->priority;
	r->tc_index = skb->tc_index;
	r->tc_classid = skb->tc_classid;
	r->queue_mapping = skb->queue_mapping;
	r->ifindex = skb->ifindex;
	r->ingress_ifindex = skb->ingress_ifindex;
	r->wire_len = skb->wire_len;
	r->gso_segs = skb->gso_segs;
	r->gso_size = skb->gso_size;
	r->napi_id = skb->napi_id;
	r->data_len = skb->data_end - skb->data;
	r->meta_len = skb->data - skb->data_meta;
	r->tstamp_type = skb->tstamp_type;
	r->tstamp = skb->tstamp;
	r->cb[0] = skb->cb[0];
	r->cb[1] = skb->cb[1];
	r->cb[2] = skb->cb[2];
	r->cb[3] = skb->cb[3];
	r->cb[4] = skb->cb[4];
}

static __always_inline int handle(struct __sk_buff *skb, __u32 slot, bool can_tail_call)
{
	struct tc_res *r;
	struct pkt_info pi;
	__u32 op, verdict = TC_ACT_OK;

	r = bpf_map_lookup_elem(&tc_last, &slot);
	if (!r)
		return TC_ACT_SHOT;
	__builtin_memset(r, 0, sizeof(*r));
	op = skb->cb[0];
	r->op = op;
	r->cb[1] = skb->cb[1];
	r->cb[2] = skb->cb[2];
	r->cb[3] = skb->cb[3];
	parse_frame(skb, &pi);
	record_flow(&pi);
	r->flags = pi.flags;
	r->l4_sum = pi.l4_sum;
	if (pi.flags & (PF_BAD_IPCSUM | PF_BAD_L4CSUM))
		verdict = TC_ACT_SHOT;

	switch (op) {
	case OP_FIELDS:
		skb->mark = pi.flags ^ skb->cb[1];
		skb->priority = skb->cb[2];
		skb->tc_index = pi.l4_proto | (pi.vlans << 8);
		skb->tc_classid = pi.eth_proto;
		skb->queue_mapping = skb->cb[3];
		skb->tstamp = (__u64)skb->cb[1] << 8;
		skb->cb[4] = pi.l4_sum;
		skb->cb[3] = pi.sport | ((__u32)pi.dport << 16);
		break;
	case OP_NAT4:
		r->ret[11] = op_nat4(skb, &pi, r);
		break;
	case OP_STORE: {
		__u32 v = skb->cb[2];
		r->ret[0] = bpf_skb_store_bytes(skb, skb->cb[1], &v, 4,
						BPF_F_RECOMPUTE_CSUM | (skb->cb[3] & 0x7));
		break;
	}
	case OP_CSUM:
		op_csum(skb, r);
		break;
	case OP_LEVEL:
		op_level(skb, r);
		break;
	case OP_VLANPUSH:
		r->ret[0] = bpf_skb_vlan_push(skb, skb->cb[1], skb->cb[2]);
		if (skb->cb[3] & 1)
			r->ret[1] = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), skb->cb[2] + 1);
		break;
	case OP_VLANPOP:
		r->ret[0] = bpf_skb_vlan_pop(skb);
		r->ret[1] = skb->vlan_tci;
		r->ret[2] = bpf_skb_vlan_pop(skb);
		break;
	case OP_PROTO:
		op_proto(skb, &pi, r);
		break;
	case OP_TYPE:
		r->ret[0] = bpf_skb_change_type(skb, skb->cb[1]);
		break;
	case OP_HEAD:
		op_head(skb, r);
		break;
	case OP_TAIL:
		r->ret[0] = bpf_skb_change_tail(skb, skb->cb[1], skb->cb[2]);
		break;
	case OP_ROOM:
		r->ret[0] = bpf_skb_adjust_room(skb, (__s32)skb->cb[1], skb->cb[2],
						skb->cb[3] | ((__u64)skb->cb[4] << 32));
		break;
	case OP_PULL: {
		__u8 *p, *end;
		__u32 n = skb->cb[1];
		r->ret[0] = bpf_skb_pull_data(skb, n);
		p = (__u8 *)(long)skb->data + ((n - 1) & 0xfff);
		end = (__u8 *)(long)skb->data_end;
		if (n && n <= 0x1000 && p + 1 <= end)
			r->ret[1] = *p;
		else
			r->ret[1] = -1;
		break;
	}
	case OP_HASH:
		op_hash(skb, r, slot);
		break;
	case OP_REDIRECT:
		verdict = bpf_redirect(skb->cb[1], skb->cb[2]);
		break;
	case OP_TAIL_CALL:
		if (can_tail_call) {
			read_fields(skb, r);
			bpf_tail_call(skb, &tc_jmp, skb->cb[1]);
			r->ret[0] = 0x7a11;	/* the tail call failed */
		}
		break;
	case OP_LOAD:
		op_load(skb, r);
		break;
	default:
		break;
	}
	read_fields(skb, r);
	r->verdict = verdict;
	return verdict;
}

SEC("tc")
int tc_main(struct __sk_buff *skb)
{
	return handle(skb, 0, true);
}

SEC("action")
int act_main(struct __sk_buff *skb)
{
	return handle(skb, 1, false);
}

/* tail-call targets (slots 0 and 1 of tc_jmp, filled by the test) */
SEC("tc")
int tc_tail_mark(struct __sk_buff *skb)
{
	skb->mark = 0x7a110000 | (skb->len & 0xffff);
	return TC_ACT_PIPE;
}

struct loop_ctx {
	struct __sk_buff *skb;
	__u32 sum;
	__u32 n;
};

static long loop_step(__u32 i, void *c)
{
	struct loop_ctx *lc = c;
	__u8 b = 0;

	if (bpf_skb_load_bytes(lc->skb, i, &b, 1))
		return 1;	/* past the end: stop */
	lc->sum = lc->sum * 31 + b;
	lc->n++;
	return 0;
}

SEC("tc")
int tc_tail_loop(struct __sk_buff *skb)
{
	struct loop_ctx lc = { .skb = skb };
	long n = bpf_loop(64, loop_step, &lc, 0);

	skb->cb[0] = lc.sum;
	skb->cb[1] = lc.n;
	skb->cb[2] = n;
	skb->cb[3] = bpf_loop(1 << 24, loop_step, &lc, 0);	/* too many: -E2BIG */
	skb->cb[4] = bpf_loop(1, loop_step, &lc, 1);		/* flags: -EINVAL */
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
