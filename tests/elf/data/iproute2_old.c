// iproute2's struct bpf_elf_map before map-in-map (7 fields, 28 bytes: as in older
// cilium and tc objects), built without BTF: only the size tells the struct, and the
// prog_array's `id` still routes the tail-call section "1/0". The classifier's section
// name is iproute2's own, "classifier".
typedef unsigned int __u32;

struct bpf_elf_map {
	__u32 type;
	__u32 size_key;
	__u32 size_value;
	__u32 max_elem;
	__u32 flags;
	__u32 id;
	__u32 pinning;
};

struct __sk_buff;
static long (*bpf_tail_call)(void *ctx, void *map, __u32 index) = (void *)12;

struct bpf_elf_map __attribute__((section("maps"), used)) jmp = {
	.type = 3 /* BPF_MAP_TYPE_PROG_ARRAY */, .size_key = 4, .size_value = 4,
	.max_elem = 2, .id = 1,
};

__attribute__((section("classifier"), used)) int entry(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &jmp, 0);
	return 1;
}

__attribute__((section("1/0"), used)) int tail(struct __sk_buff *skb)
{
	return 2;
}

char _license[] __attribute__((section("license"), used)) = "GPL";
