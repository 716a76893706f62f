#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct flow { __u32 saddr; __u32 daddr; __u16 sport; __u16 dport; __u32 proto; };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, struct flow);
	__type(value, __u64);
} flows SEC(".maps");

SEC("xdp")
int xdp_flow(struct xdp_md *ctx)
{
	struct flow f;

	f.saddr = ctx->ingress_ifindex;
	if (bpf_map_lookup_elem(&flows, &f))
		return XDP_DROP;
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
