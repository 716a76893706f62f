// PREVAIL's (and gobpf's) layout: one `maps/<name>` section per legacy map, whose
// inner_map_idx counts the maps in section order, and code only in .text.
typedef unsigned int __u32;

struct bpf_map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
	__u32 inner_map_idx;
	__u32 numa_node;
};

#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_ARRAY_OF_MAPS 12

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;

__attribute__((section("maps/array_of_maps"), used))
struct bpf_map_def array_of_maps = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .key_size = 4, .value_size = 4,
	.max_entries = 1, .inner_map_idx = 1,  // inner_map: the second map
};

__attribute__((section("maps/inner_map"), used))
struct bpf_map_def inner_map = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2,
};

int func(void *ctx)
{
	__u32 zero = 0, one = 1, *v;
	void *inner = bpf_map_lookup_elem(&array_of_maps, &zero);

	if (!inner)
		return 1;
	v = bpf_map_lookup_elem(inner, &one);
	return v ? *v : 2;
}
