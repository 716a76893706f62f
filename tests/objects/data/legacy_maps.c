// Maps in the legacy `maps` section, as falco's and older samples/bpf objects define
// them (struct bpf_map_def): a perf event array with max_entries 0 gets one slot per
// possible CPU; a hash map with max_entries 0 is a spec error named at instantiate.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") perf_map = {
	.type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u32),
	.max_entries = 0,
};

struct bpf_map_def SEC("maps") settings = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 0,
};

SEC("xdp")
int legacy_report(struct xdp_md *ctx)
{
	__u32 key = 0, len = ctx->data_end - ctx->data;
	__u64 *limit = bpf_map_lookup_elem(&settings, &key);
	if (limit && len > *limit)
		return XDP_DROP;
	bpf_perf_event_output(ctx, &perf_map, BPF_F_CURRENT_CPU, &len, sizeof(len));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
