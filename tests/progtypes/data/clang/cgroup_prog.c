// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_prog.c - cgroup skb programs (ingress and egress).  The packet starts
 * at its network header: the parser reads it by direct packet access from
 * skb->protocol, checks the IPv4 header and L4 checksums (a bpf_loop over
 * bpf_skb_load_bytes: cgroup skb has no bpf_csum_diff), then the program reads
 * the __sk_buff fields and the socket (struct bpf_sock, sock_common part) the
 * test run attaches, uses bpf_skb_load_bytes_relative from both headers,
 * writes mark, priority, tstamp and cb[], and counts in a per-CPU hash.
 *
 * Verdict: ingress 1 (allow), 0 for a bad checksum; egress the same, with
 * cb[0] & 2 (congestion notification) added.
 */
#define PKT_LOAD_BYTES bpf_skb_load_bytes
#define PKT_NO_CSUM_DIFF 1
#define PKT_CTX struct __sk_buff
#include "clang_common.h"

struct cg_res {
	__u32 len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci;
	__u32 vlan_proto, priority, ingress_ifindex, ifindex, tc_index, hash, napi_id;
	__u32 family, remote_ip4, local_ip4, remote_ip6[4], local_ip6[4];
	__u32 remote_port, local_port, gso_segs, gso_size, data_len, cb[5];
	__u64 tstamp, hwtstamp;
	__u32 sk_family, sk_src_ip4, sk_src_port, sk_dst_port, sk_dst_ip4, sk_state;
	__u32 sk_src_ip6[4], sk_dst_ip6[4];
	__u32 has_sk, uid;
	__s64 rel_mac, rel_net;
	__u8 mac[16];
	__u8 net[16];
	__u32 flags, l4_sum, l4_proto, verdict;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct cg_res);
	__uint(max_entries, 2);
} cg_last SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1024);
} cg_counts SEC(".maps");

static __always_inline int handle(struct __sk_buff *skb, __u32 slot, bool egress)
{
	struct cg_res *r = bpf_map_lookup_elem(&cg_last, &slot);
	struct bpf_sock *sk;
	struct pkt_info pi;
	__u32 key, verdict;
	__u64 one = 1, *c;

	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	parse_packet_l3(skb, bpf_ntohs(skb->protocol), &pi);
	r->flags = pi.flags;
	r->l4_sum = pi.l4_sum;
	r->l4_proto = pi.l4_proto;
	key = pi.flags << 8 | pi.l4_proto;
	c = bpf_map_lookup_elem(&cg_counts, &key);
	if (c)
		*c += 1;
	else
		bpf_map_update_elem(&cg_counts, &key, &one, BPF_NOEXIST);

	r->len = skb->len;
	r->pkt_type = skb->pkt_type;
	r->mark = skb->mark;
	r->queue_mapping = skb->queue_mapping;
	r->protocol = skb->protocol;
	r->vlan_present = skb->vlan_present;
	r->vlan_tci = skb->vlan_tci;
	r->vlan_proto = skb->vlan_proto;
	r->priority = skb->priority;
	r->ingress_ifindex = skb->ingress_ifindex;
	r->ifindex = skb->ifindex;
	r->tc_index = skb->tc_index;
	r->hash = skb->hash;
	r->napi_id = skb->napi_id;
	r->family = skb->family;
	r->remote_ip4 = skb->remote_ip4;
	r->local_ip4 = skb->local_ip4;
	r->remote_ip6[0] = skb->remote_ip6[0];
	r->remote_ip6[3] = skb->remote_ip6[3];
	r->local_ip6[0] = skb->local_ip6[0];
	r->local_ip6[3] = skb->local_ip6[3];
	r->remote_port = skb->remote_port;
	r->local_port = skb->local_port;
	r->gso_segs = skb->gso_segs;
	r->gso_size = skb->gso_size;
	r->data_len = skb->data_end - skb->data;
	r->tstamp = skb->tstamp;
	r->hwtstamp = skb->hwtstamp;
	r->uid = bpf_get_socket_uid(skb);
	sk = skb->sk;
	if (sk) {
		r->has_sk = 1;
		r->sk_family = sk->family;
		r->sk_src_ip4 = sk->src_ip4;
		r->sk_src_port = sk->src_port;
		r->sk_dst_port = sk->dst_port;
		r->sk_dst_ip4 = sk->dst_ip4;
		r->sk_state = sk->state;
		r->sk_src_ip6[0] = sk->src_ip6[0];
		r->sk_src_ip6[3] = sk->src_ip6[3];
		r->sk_dst_ip6[1] = sk->dst_ip6[1];
		r->sk_dst_ip6[2] = sk->dst_ip6[2];
	}
	r->rel_mac = bpf_skb_load_bytes_relative(skb, skb->cb[1] & 0xff, r->mac, sizeof(r->mac),
						 BPF_HDR_START_MAC);
	r->rel_net = bpf_skb_load_bytes_relative(skb, skb->cb[1] & 0xff, r->net, sizeof(r->net),
						 BPF_HDR_START_NET);

	skb->mark = skb->mark + pi.flags;
	skb->priority = pi.l4_proto;
	skb->cb[4] = pi.l4_sum;
	if (skb->cb[0] & 4)
		skb->tstamp = skb->cb[2];
	r->cb[0] = skb->cb[0];
	r->cb[1] = skb->cb[1];
	r->cb[2] = skb->cb[2];
	r->cb[3] = skb->cb[3];
	r->cb[4] = skb->cb[4];

	verdict = pi.flags & (PF_BAD_IPCSUM | PF_BAD_L4CSUM) ? 0 : 1;
	if (egress)
		verdict |= skb->cb[0] & 2;
	r->verdict = verdict;
	return verdict;
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	return handle(skb, 0, false);
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	return handle(skb, 1, true);
}

char LICENSE[] SEC("license") = "GPL";
