// iproute2's pinning of `struct bpf_elf_map`: PIN_GLOBAL_NS maps live at
// <bpffs>/tc/globals/<name> (shared by every object), PIN_OBJECT_NS maps at
// <bpffs>/tc/<sha1 of the object file>/<name>, PIN_NONE maps are the object's own. A
// second load reuses the pinned maps, contents and all, as `tc filter add ... bpf`
// does. The program counts each run in each map; its section is iproute2's
// "classifier".
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
	__u32 inner_id;
	__u32 inner_idx;
};

#define PIN_NONE 0
#define PIN_OBJECT_NS 1
#define PIN_GLOBAL_NS 2

struct bpf_elf_map SEC("maps") pybpf_ip_global = {
	.type = BPF_MAP_TYPE_ARRAY, .size_key = 4, .size_value = 8, .max_elem = 2,
	.pinning = PIN_GLOBAL_NS,
};
struct bpf_elf_map SEC("maps") pybpf_ip_object = {
	.type = BPF_MAP_TYPE_ARRAY, .size_key = 4, .size_value = 8, .max_elem = 2,
	.pinning = PIN_OBJECT_NS,
};
struct bpf_elf_map SEC("maps") pybpf_ip_private = {
	.type = BPF_MAP_TYPE_ARRAY, .size_key = 4, .size_value = 8, .max_elem = 2,
	.pinning = PIN_NONE,
};

static __always_inline void count(void *map)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("classifier") int count_pinned(struct __sk_buff *skb)
{
	count(&pybpf_ip_global);
	count(&pybpf_ip_object);
	count(&pybpf_ip_private);
	return 0;  // TC_ACT_OK
}

char _license[] SEC("license") = "GPL";
