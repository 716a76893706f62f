/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_fib_lookup from XDP and tc. Request after the Ethernet header: u32 flags,
 * u32 plen, then 80 bytes whose first 64 are struct bpf_fib_lookup; the helper's
 * buffer (80 bytes) is written back in place and the return value is the retval. */
#include "common_net.h"

struct req {
	__u8 eth[ETH_HLEN];
	__u32 flags;
	__u32 plen;
	__u8 params[80];
} __attribute__((packed));

#define FIB_BODY(ctx)							\
	struct req *r = PKT(ctx);					\
	__u8 buf[80];							\
	if ((void *)(r + 1) > PKT_END(ctx))				\
		return 1000;						\
	__builtin_memcpy(buf, r->params, sizeof(buf));			\
	__u32 plen = r->plen;						\
	if (plen == 0 || plen > sizeof(buf))				\
		plen = 64;						\
	long rc = bpf_fib_lookup(ctx, (void *)buf, plen, r->flags);	\
	__builtin_memcpy(r->params, buf, sizeof(buf));			\
	return rc;

SEC("xdp")
int xdp_fib(struct xdp_md *ctx)
{
	FIB_BODY(ctx)
}

SEC("tc")
int tc_fib(struct __sk_buff *ctx)
{
	FIB_BODY(ctx)
}

char _license[] SEC("license") = "GPL";
