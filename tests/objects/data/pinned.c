// A map pinned by name (LIBBPF_PIN_BY_NAME): the kernel backend pins it under its pin
// root and a second load reuses it, contents and all.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pybpf_pin_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} private_counts SEC(".maps");

SEC("xdp")
int count_pinned(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&pybpf_pin_counts, &key);
	__u64 *w = bpf_map_lookup_elem(&private_counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	if (w)
		__sync_fetch_and_add(w, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
