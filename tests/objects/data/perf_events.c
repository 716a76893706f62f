// A perf event array without max_entries (cilium, falco): one slot per possible CPU,
// as libbpf sizes it. The program writes its packet length to the current CPU's ring.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("xdp")
int report_len(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &len, sizeof(len));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
