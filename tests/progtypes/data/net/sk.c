/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_sk_lookup_tcp / bpf_sk_lookup_udp / bpf_skc_lookup_tcp and bpf_sk_release
 * from XDP and tc. Request: u32 kind (0 tcp, 1 udp, 2 skc tcp), u32 size, u64 netns,
 * u64 flags, 40 tuple bytes; answer (in place of the next 80 bytes): the struct
 * bpf_sock fields the program may read. retval: 1 found, 0 not found. */
#include "common_net.h"

struct req {
	__u8 eth[ETH_HLEN];
	__u32 kind;
	__u32 size;
	__u64 netns;
	__u64 flags;
	__u8 tuple[40];
	__u32 out[20];
} __attribute__((packed));

#define COMMON_FIELDS(o, sk)						\
	o[0] = sk->bound_dev_if; o[1] = sk->family;			\
	o[6] = sk->src_ip4;						\
	o[7] = sk->src_ip6[0]; o[8] = sk->src_ip6[1];			\
	o[9] = sk->src_ip6[2]; o[10] = sk->src_ip6[3];			\
	o[11] = sk->src_port; o[12] = sk->dst_port;			\
	o[13] = sk->dst_ip4;						\
	o[14] = sk->dst_ip6[0]; o[15] = sk->dst_ip6[1];			\
	o[16] = sk->dst_ip6[2]; o[17] = sk->dst_ip6[3];			\
	o[18] = sk->state; o[19] = 0xabcd;

#define SK_BODY(ctx, LOOKUP_TCP, LOOKUP_UDP, LOOKUP_SKC)		\
	struct req *r = PKT(ctx);					\
	__u8 t[40];							\
	__u32 o[20] = {};						\
	struct bpf_sock *sk;						\
	int found = 0;							\
	if ((void *)(r + 1) > PKT_END(ctx))				\
		return 1000;						\
	__builtin_memcpy(t, r->tuple, sizeof(t));			\
	__u32 size = r->size;						\
	if (size == 0 || size > sizeof(t))				\
		size = 12;						\
	if (r->kind == 2) {						\
		sk = LOOKUP_SKC(ctx, (void *)t, size, r->netns, r->flags);	\
		if (sk) {						\
			COMMON_FIELDS(o, sk)				\
			bpf_sk_release(sk);				\
			found = 1;					\
		}							\
	} else {							\
		if (r->kind == 0)					\
			sk = LOOKUP_TCP(ctx, (void *)t, size, r->netns, r->flags); \
		else							\
			sk = LOOKUP_UDP(ctx, (void *)t, size, r->netns, r->flags); \
		if (sk) {						\
			COMMON_FIELDS(o, sk)				\
			o[2] = sk->type; o[3] = sk->protocol;		\
			o[4] = sk->mark; o[5] = sk->priority;		\
			bpf_sk_release(sk);				\
			found = 1;					\
		}							\
	}								\
	__builtin_memcpy(r->out, o, sizeof(o));				\
	return found;

SEC("xdp")
int xdp_sk(struct xdp_md *ctx)
{
	SK_BODY(ctx, bpf_sk_lookup_tcp, bpf_sk_lookup_udp, bpf_skc_lookup_tcp)
}

SEC("tc")
int tc_sk(struct __sk_buff *ctx)
{
	SK_BODY(ctx, bpf_sk_lookup_tcp, bpf_sk_lookup_udp, bpf_skc_lookup_tcp)
}

char _license[] SEC("license") = "GPL";
