// iproute2's (and cilium's) conventions: `struct bpf_elf_map` in section "maps", a map
// of maps naming its inner map by `.inner_id` (the inner map's `.id`), the inner map
// stored in it at `.inner_idx`, and tail-call sections "<prog_array id>/<key>" beside an
// entry section named as cilium names it ("from-netdev"). Both programs are tc
// classifiers by how iproute2 loads them; their sections do not say so.
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

// iproute2's bpf_elf.h: a struct in BTF that types a map's key and value
#define BPF_ANNOTATE_KV_PAIR(name, type_key, type_val)		\
	struct ____btf_map_##name {				\
		type_key key;					\
		type_val value;					\
	};							\
	struct ____btf_map_##name				\
	__attribute__ ((section(".maps." #name), used))		\
		____btf_map_##name = { }

#define PIN_NONE 0
#define ID_INNER 1
#define ID_CALLS 2
#define CALL_ONE 1

struct bpf_elf_map SEC("maps") inner = {
	.type = BPF_MAP_TYPE_ARRAY, .size_key = 4, .size_value = 4, .max_elem = 1,
	.id = ID_INNER, .inner_idx = 1, .pinning = PIN_NONE,
};
BPF_ANNOTATE_KV_PAIR(inner, __u32, __u32);

struct bpf_elf_map SEC("maps") outer = {
	.type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .size_key = 4, .size_value = 4, .max_elem = 2,
	.inner_id = ID_INNER, .inner_idx = -1,
};
struct bpf_elf_map SEC("maps") outer_h = {
	.type = BPF_MAP_TYPE_HASH_OF_MAPS, .size_key = 4, .size_value = 4, .max_elem = 4,
	.inner_id = ID_INNER, .inner_idx = -1,
};
struct bpf_elf_map SEC("maps") calls = {
	.type = BPF_MAP_TYPE_PROG_ARRAY, .size_key = 4, .size_value = 4, .max_elem = 4,
	.id = ID_CALLS, .inner_idx = -1,
};

static __always_inline __u32 inner_value(void *outer_map)
{
	__u32 slot = 1, zero = 0;
	void *m = bpf_map_lookup_elem(outer_map, &slot);
	__u32 *v;

	if (!m)
		return 1000;
	v = bpf_map_lookup_elem(m, &zero);
	return v ? *v : 2000;
}

SEC("from-netdev") int from_netdev(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &calls, CALL_ONE);
	return inner_value(&outer);  // only when the slot is empty
}

SEC("2/1") int tail_one(struct __sk_buff *skb)
{
	return inner_value(&outer_h) + 100;
}

char _license[] SEC("license") = "GPL";
