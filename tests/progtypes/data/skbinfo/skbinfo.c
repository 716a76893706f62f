/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_get_cgroup_classid, bpf_get_route_realm and bpf_map_lookup_percpu_elem from
 * the packet program types. Each program writes what the helpers return into the
 * frame after the Ethernet header (XDP, tc, lwt_xmit) or into cb[] (the types that
 * cannot write the packet), so test runs on both backends compare through data_out
 * and ctx_out. percpu[0] holds one u64 per possible CPU, set by the test. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ETH_HLEN 14
#define NCPU 6

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} percpu SEC(".maps");

struct out {
	__u8 eth[ETH_HLEN];
	__u64 classid;
	__u64 realm;
	__u64 vals[NCPU];	/* percpu[0] of CPU i, or ~0 when the lookup gives NULL */
} __attribute__((packed));

static __always_inline void percpu_vals(__u64 *vals)
{
	__u32 key = 0;

	for (int cpu = 0; cpu < NCPU; cpu++) {
		__u64 *v = bpf_map_lookup_percpu_elem(&percpu, &key, cpu);
		vals[cpu] = v ? *v : ~0ULL;
	}
}

#define PKT_BODY(ctx, CLASSID, REALM)					\
	struct out *o = (void *)(long)ctx->data;			\
	__u64 vals[NCPU];						\
	if ((void *)(o + 1) > (void *)(long)ctx->data_end)		\
		return 1;						\
	percpu_vals(vals);						\
	o->classid = CLASSID;						\
	o->realm = REALM;						\
	__builtin_memcpy(o->vals, vals, sizeof(vals));			\
	return 0;

SEC("xdp")
int xdp_info(struct xdp_md *ctx)
{
	PKT_BODY(ctx, 0, 0)
}

SEC("tc")
int tc_info(struct __sk_buff *ctx)
{
	PKT_BODY(ctx, bpf_get_cgroup_classid(ctx), bpf_get_route_realm(ctx))
}

SEC("lwt_xmit")
int lwt_xmit_info(struct __sk_buff *ctx)
{
	PKT_BODY(ctx, bpf_get_cgroup_classid(ctx), bpf_get_route_realm(ctx))
}

/* the types that may not write the packet report through cb[0..4] */
#define CB_BODY(ctx, REALM)						\
	__u64 vals[NCPU];						\
	percpu_vals(vals);						\
	ctx->cb[0] = bpf_get_cgroup_classid(ctx);			\
	ctx->cb[1] = REALM;						\
	ctx->cb[2] = vals[0];						\
	ctx->cb[3] = vals[1];						\
	ctx->cb[4] = vals[NCPU - 1];					\
	return 1;

SEC("socket")
int sock_info(struct __sk_buff *ctx)
{
	CB_BODY(ctx, 0)
}

SEC("cgroup_skb/ingress")
int cg_info(struct __sk_buff *ctx)
{
	CB_BODY(ctx, 0)
}

SEC("lwt_in")
int lwt_in_info(struct __sk_buff *ctx)
{
	CB_BODY(ctx, bpf_get_route_realm(ctx))
}

char _license[] SEC("license") = "GPL";
