// SPDX-License-Identifier: GPL-2.0
/* Records what bpf_ktime_get_ns() read on the last run: the packet's capture time with
 * `--clock capture`, the host's monotonic clock with `--clock wall` and in the kernel. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} last_ns SEC(".maps");

SEC("xdp")
int stamp(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 now = bpf_ktime_get_ns();

	bpf_map_update_elem(&last_ns, &key, &now, BPF_ANY);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
