// samples/bpf's bpf_load.c convention: `struct bpf_map_def` in section "maps" with
// `inner_map_idx`, the index (in offset order) of the map a map of maps takes as its
// inner map. The user fills the outer maps, as samples/bpf's programs do.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
	unsigned int inner_map_idx;
	unsigned int numa_node;
};

struct bpf_map_def SEC("maps") port_hash = {       // index 0
	.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 4, .max_entries = 8,
};
struct bpf_map_def SEC("maps") port_arr = {        // index 1
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2,
};
struct bpf_map_def SEC("maps") a_of_maps = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4,
	.max_entries = 1, .inner_map_idx = 1,
};
struct bpf_map_def SEC("maps") h_of_maps = {  // no value_size, as samples/bpf writes it
	.type = BPF_MAP_TYPE_HASH_OF_MAPS, .key_size = 4,
	.max_entries = 1, .inner_map_idx = 0,
};

SEC("xdp") int lookup(struct xdp_md *ctx)
{
	__u32 zero = 0, *v, *w;
	void *arr = bpf_map_lookup_elem(&a_of_maps, &zero);
	void *hash = bpf_map_lookup_elem(&h_of_maps, &zero);

	if (!arr || !hash)
		return XDP_ABORTED;
	v = bpf_map_lookup_elem(arr, &zero);
	w = bpf_map_lookup_elem(hash, &zero);
	return 10 * (v ? *v : 0) + (w ? *w : 0);
}

char _license[] SEC("license") = "GPL";
