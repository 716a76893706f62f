/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_redirect_map from XDP over the four redirect map types, bpf_clone_redirect
 * from tc, bpf_get_socket_cookie from socket filters, tc and cgroup skb.
 * Requests after the Ethernet header: redirect_map: u32 map (0 devmap, 1 devmap_hash,
 * 2 cpumap, 3 xskmap), u32 key, u64 flags; clone_redirect: u32 ifindex, u64 flags. */
#include "common_net.h"

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} devmap_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} xskmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} cookies SEC(".maps");

struct redir_req {
	__u8 eth[ETH_HLEN];
	__u32 map;
	__u32 key;
	__u64 flags;
} __attribute__((packed));

SEC("xdp")
int xdp_redirect_map(struct xdp_md *ctx)
{
	struct redir_req *r = PKT(ctx);

	if ((void *)(r + 1) > PKT_END(ctx))
		return 1000;
	switch (r->map) {
	case 0:
		return bpf_redirect_map(&devmap, r->key, r->flags);
	case 1:
		return bpf_redirect_map(&devmap_hash, r->key, r->flags);
	case 2:
		return bpf_redirect_map(&cpumap, r->key, r->flags);
	default:
		return bpf_redirect_map(&xskmap, r->key, r->flags);
	}
}

struct clone_req {
	__u8 eth[ETH_HLEN];
	__u32 ifindex;
	__u64 flags;
} __attribute__((packed));

SEC("tc")
int tc_clone(struct __sk_buff *skb)
{
	struct clone_req *r = PKT(skb);

	if ((void *)(r + 1) > PKT_END(skb))
		return 1000;
	return bpf_clone_redirect(skb, r->ifindex, r->flags);
}

/* the same from lwt_xmit, the request at the network header */
SEC("lwt_xmit")
int lwt_clone(struct __sk_buff *skb)
{
	struct {
		__u32 ifindex;
		__u64 flags;
	} __attribute__((packed)) r;

	if (bpf_skb_load_bytes(skb, 0, &r, sizeof(r)))
		return 1000;
	return bpf_clone_redirect(skb, r.ifindex, r.flags);
}

/* cookie twice; retval 1 when both are equal and non-zero; the cookie to map slot 0 */
static __always_inline int cookie(struct __sk_buff *skb)
{
	__u64 a = bpf_get_socket_cookie(skb);
	__u64 b = bpf_get_socket_cookie(skb);
	__u32 k = 0;

	bpf_map_update_elem(&cookies, &k, &a, 0);
	return a && a == b;
}

SEC("socket")
int sf_cookie(struct __sk_buff *skb)
{
	return cookie(skb);
}

SEC("tc")
int tc_cookie(struct __sk_buff *skb)
{
	return cookie(skb);
}

SEC("cgroup_skb/ingress")
int cg_cookie(struct __sk_buff *skb)
{
	return cookie(skb);
}

char _license[] SEC("license") = "GPL";
