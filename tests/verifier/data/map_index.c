#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct slots { __u64 v[8]; };

/* which slot to count in: set from user space */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} table SEC(".maps");

SEC("xdp")
int xdp_slot_from_map(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u32 *slot;
	struct slots *s;

	slot = bpf_map_lookup_elem(&config, &key);
	if (!slot)
		return XDP_PASS;
	s = bpf_map_lookup_elem(&table, &key);
	if (!s)
		return XDP_PASS;
	s->v[*slot] += 1;
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
