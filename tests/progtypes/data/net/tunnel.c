/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_skb_set_tunnel_key then bpf_skb_get_tunnel_key, from tc and lwt_xmit.
 * Request at offset BASE (after the Ethernet header for tc, at the packet's start for
 * lwt): u32 do_set, u32 set_size, u64 set_flags, 48 key bytes, u32 get_size,
 * u64 get_flags; answer: s32 set rc, s32 get rc, 48 bytes the get wrote into a
 * buffer first filled with 0x5a. retval 0. */
#include "common_net.h"

struct req {
	__u32 do_set;
	__u32 set_size;
	__u64 set_flags;
	__u8 key[48];
	__u32 get_size;
	__u64 get_flags;
	__s32 set_rc;
	__s32 get_rc;
	__u8 out[48];
} __attribute__((packed));

static __always_inline int tunnel(struct __sk_buff *skb, __u32 base)
{
	struct req r;
	__u8 key[48];
	__u8 out[48];

	if (bpf_skb_load_bytes(skb, base, &r, sizeof(r)))
		return 1000;
	__builtin_memcpy(key, r.key, sizeof(key));
	__u32 size = r.set_size;
	if (size == 0 || size > sizeof(key))
		size = 44;
	r.set_rc = 0;
	if (r.do_set)
		r.set_rc = bpf_skb_set_tunnel_key(skb, (void *)key, size, r.set_flags);
	__builtin_memset(out, 0x5a, sizeof(out));
	size = r.get_size;
	if (size == 0 || size > sizeof(out))
		size = 44;
	r.get_rc = bpf_skb_get_tunnel_key(skb, (void *)out, size, r.get_flags);
	__builtin_memcpy(r.out, out, sizeof(out));
	bpf_skb_store_bytes(skb, base, &r, sizeof(r), 0);
	return 0;
}

SEC("tc")
int tc_tunnel(struct __sk_buff *skb)
{
	return tunnel(skb, ETH_HLEN);
}

SEC("lwt_xmit")
int lwt_tunnel(struct __sk_buff *skb)
{
	return tunnel(skb, 0);
}

char _license[] SEC("license") = "GPL";
