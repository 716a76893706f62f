// SPDX-License-Identifier: GPL-2.0
/*
 * lwt_prog.c - light-weight tunnel programs: lwt_in, lwt_out and lwt_xmit
 * sharing one body.  The packet starts at its network header; the parser reads
 * it by direct packet access from skb->protocol and checks the checksums
 * (bpf_skb_load_bytes + bpf_csum_diff).  cb[0] (from ctx_in) picks an
 * operation, cb[1..3] are its arguments:
 *
 *   0 FIELDS  write mark and priority from the parse
 *   1 HASH    get_hash_recalc twice (kept in lwt_hash, compared by property)
 *   2 PULL    skb_pull_data(cb1)
 *   3 LOAD    skb_load_bytes(cb1, 8 bytes)
 *   4 DIFF    csum_diff of the first 8 bytes against cb1 / cb2 with seed cb3
 *   xmit only:
 *   5 TTL     decrement the IPv4 TTL by direct write and fix the header with
 *             l3_csum_replace (2-byte form)
 *   6 NAT     rewrite the IPv4 destination: skb_store_bytes, l3_csum_replace
 *             and l4_csum_replace with BPF_F_PSEUDO_HDR (4-byte form)
 *   7 HEAD    skb_change_head(cb1, cb2) and an Ethernet header written there
 *   8 TAIL    skb_change_tail(cb1, cb2)
 *   9 STORE   skb_store_bytes(cb1, &cb2, 4, cb3)
 *  10 REDIR   return bpf_redirect(cb1, cb2)
 *  11 LEVEL   csum_level INC, QUERY, csum_update(cb1), set_hash_invalid,
 *             get_hash_recalc (by property)
 *
 * Verdict: BPF_OK (0), BPF_DROP (2) for a bad checksum.
 *
 * This file builds lwt_prog.o (lwt_in and lwt_out); lwt_xmit.c includes it with
 * LWT_XMIT defined for lwt_xmit.o, so that no object holds a function calling
 * helpers its other programs' types may not call.
 */
#define PKT_LOAD_BYTES bpf_skb_load_bytes
#define PKT_CTX struct __sk_buff
#include "clang_common.h"

enum { T_IN, T_OUT, T_XMIT };

struct lwt_res {
	__s64 ret[8];
	__u8 bytes[8];
	__u32 len, pkt_type, mark, priority, protocol, queue_mapping, ifindex;
	__u32 ingress_ifindex, vlan_present, tc_index, napi_id, data_len, cb[5];
	__u32 flags, l4_sum, verdict, op;
};

struct hash_res {
	__u64 h0, h1, runs, pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct lwt_res);
	__uint(max_entries, 3);
} lwt_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct hash_res);
	__uint(max_entries, 3);
} lwt_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 512);
} lwt_counts SEC(".maps");

static __always_inline void hash_twice(struct __sk_buff *skb, __u32 slot)
{
	struct hash_res *h = bpf_map_lookup_elem(&lwt_hash, &slot);

	if (!h)
		return;
	h->h0 = bpf_get_hash_recalc(skb);
	h->h1 = bpf_get_hash_recalc(skb);
	h->runs++;
}

#ifdef LWT_XMIT
__attribute__((noinline)) int xmit_ttl(struct __sk_buff *skb, struct lwt_res *r)
{
	void *data, *end;
	struct iphdr *ip;
	__u16 old, new;

	if (!skb || !r)
		return 0;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data;
	if ((void *)(ip + 1) > end || skb->protocol != bpf_htons(ETH_P_IP))
		return 1;
	old = *(__u16 *)((void *)ip + 8);
	ip->ttl--;
	new = *(__u16 *)((void *)ip + 8);
	r->ret[0] = bpf_l3_csum_replace(skb, 10, old, new, 2);
	return 0;
}

__attribute__((noinline)) int xmit_nat(struct __sk_buff *skb, struct pkt_info *pi,
				       struct lwt_res *r)
{
	__u32 new_addr, old_addr;

	if (!skb || !pi || !r)
		return 0;
	if (pi->eth_proto != ETH_P_IP || (pi->flags & (PF_TRUNC | PF_BAD_IHL)))
		return 1;
	new_addr = skb->cb[1];
	old_addr = pi->daddr;
	r->ret[0] = bpf_skb_store_bytes(skb, 16, &new_addr, 4, 0);
	r->ret[1] = bpf_l3_csum_replace(skb, 10, old_addr, new_addr, 4);
	if (pi->l4_proto == IPPROTO_TCP && !(pi->flags & PF_LATER_FRAG))
		r->ret[2] = bpf_l4_csum_replace(skb, pi->l4_off + 16, old_addr, new_addr,
						BPF_F_PSEUDO_HDR | 4);
	else if (pi->l4_proto == IPPROTO_UDP && !(pi->flags & PF_LATER_FRAG))
		r->ret[2] = bpf_l4_csum_replace(skb, pi->l4_off + 6, old_addr, new_addr,
						BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
	return 0;
}

__attribute__((noinline)) int xmit_head(struct __sk_buff *skb, struct lwt_res *r)
{
	void *data, *end;
	struct ethhdr *eth;

	if (!skb || !r)
		return 0;
	r->ret[0] = bpf_skb_change_head(skb, skb->cb[1], skb->cb[2]);
	if (r->ret[0])
		return 0;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > end)
		return 0;
	__builtin_memset(eth, 0x5a, 12);
	eth->h_proto = skb->protocol;
	return 0;
}

#endif

static __always_inline int handle(struct __sk_buff *skb, __u32 type)
{
	struct lwt_res *r = bpf_map_lookup_elem(&lwt_last, &type);
	struct pkt_info pi;
	__u32 op, verdict, key;
	__u64 one = 1, *c;

	if (!r)
		return 2;
	__builtin_memset(r, 0, sizeof(*r));
	parse_packet_l3(skb, bpf_ntohs(skb->protocol), &pi);
	r->flags = pi.flags;
	r->l4_sum = pi.l4_sum;
	verdict = pi.flags & (PF_BAD_IPCSUM | PF_BAD_L4CSUM) ? BPF_DROP : BPF_OK;
	key = pi.flags ^ (pi.l4_proto << 16);
	c = bpf_map_lookup_elem(&lwt_counts, &key);
	if (c)
		*c += 1;
	else
		bpf_map_update_elem(&lwt_counts, &key, &one, BPF_ANY);
	op = skb->cb[0];
	r->op = op;
	switch (op) {
	case 0:
		skb->mark = pi.flags;
		skb->priority = pi.l4_sum;
		break;
	case 1:
		hash_twice(skb, type);
		break;
	case 2:
		r->ret[0] = bpf_skb_pull_data(skb, skb->cb[1]);
		break;
	case 3:
		r->ret[0] = bpf_skb_load_bytes(skb, skb->cb[1], r->bytes, 8);
		break;
	case 4: {
		__u32 a[2] = { skb->cb[1], skb->cb[2] };
		__u64 head = 0;
		r->ret[0] = bpf_skb_load_bytes(skb, 0, &head, 8);
		r->ret[1] = bpf_csum_diff((void *)&head, 8, a, 8, skb->cb[3]);
		r->ret[2] = bpf_csum_diff(0, 0, a, 8, skb->cb[3]);
		r->ret[3] = bpf_csum_diff((void *)&head, 8, 0, 0, skb->cb[3]);
		break;
	}
	default:
		break;
	}
#ifdef LWT_XMIT
	if (type == T_XMIT) {
		switch (op) {
		case 5:
			r->ret[7] = xmit_ttl(skb, r);
			break;
		case 6:
			r->ret[7] = xmit_nat(skb, &pi, r);
			break;
		case 7:
			xmit_head(skb, r);
			break;
		case 8:
			r->ret[0] = bpf_skb_change_tail(skb, skb->cb[1], skb->cb[2]);
			break;
		case 9: {
			__u32 v = skb->cb[2];
			r->ret[0] = bpf_skb_store_bytes(skb, skb->cb[1], &v, 4, skb->cb[3]);
			break;
		}
		case 10:
			verdict = bpf_redirect(skb->cb[1], skb->cb[2]);
			break;
		case 11:
			r->ret[0] = bpf_csum_level(skb, BPF_CSUM_LEVEL_INC);
			r->ret[1] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
			r->ret[2] = bpf_csum_update(skb, skb->cb[1]);
			bpf_set_hash_invalid(skb);
			hash_twice(skb, type);
			break;
		default:
			break;
		}
	}
#endif
	r->len = skb->len;
	r->pkt_type = skb->pkt_type;
	r->mark = skb->mark;
	r->priority = skb->priority;
	r->protocol = skb->protocol;
	r->queue_mapping = skb->queue_mapping;
	r->ifindex = skb->ifindex;
	r->ingress_ifindex = skb->ingress_ifindex;
	r->vlan_present = skb->vlan_present;
	r->tc_index = skb->tc_index;
	r->napi_id = skb->napi_id;
	r->data_len = skb->data_end - skb->data;
	r->cb[0] = skb->cb[0];
	r->cb[1] = skb->cb[1];
	r->cb[2] = skb->cb[2];
	r->cb[3] = skb->cb[3];
	r->cb[4] = skb->cb[4];
	r->verdict = verdict;
	return verdict;
}

#ifndef LWT_XMIT
SEC("lwt_in")
int lwt_in_main(struct __sk_buff *skb)
{
	return handle(skb, T_IN);
}

SEC("lwt_out")
int lwt_out_main(struct __sk_buff *skb)
{
	return handle(skb, T_OUT);
}

#else
SEC("lwt_xmit")
int lwt_xmit_main(struct __sk_buff *skb)
{
	return handle(skb, T_XMIT);
}
#endif

char LICENSE[] SEC("license") = "GPL";
