#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lens SEC(".maps");

SEC("tc")
int tc_len(struct __sk_buff *skb)
{
	__u64 *v = bpf_map_lookup_elem(&lens, (void *)(long)skb->len);

	return v ? 1 : 0;
}
char LICENSE[] SEC("license") = "GPL";
