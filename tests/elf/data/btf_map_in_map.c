// libbpf's BTF-defined map of maps: `__array(values, struct inner)` with `.values`
// initialisers, which the loader stores in the outer maps after creating them.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_h SEC(".maps") = {
	.values = { [1] = &inner_b },
};

static __always_inline __u32 value_at(void *outer_map, __u32 slot)
{
	__u32 zero = 0, *v;
	void *m = bpf_map_lookup_elem(outer_map, &slot);

	if (!m)
		return 9;
	v = bpf_map_lookup_elem(m, &zero);
	return v ? *v : 8;
}

SEC("xdp") int lookup(struct xdp_md *ctx)
{
	return 100 * value_at(&outer, 0) + 10 * value_at(&outer, 1) + value_at(&outer_h, 1);
}

char _license[] SEC("license") = "GPL";
