// SPDX-License-Identifier: GPL-2.0
/* Several programs of several types in one object, one of which the kernel's verifier
 * rejects (a packet read without a bounds check): `prog load` loads each program with
 * its SEC() type and reports each; `--program` picks one. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} runs SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&runs, &key);

	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	/* no check against data_end: the verifier refuses the read */
	return *(unsigned char *)(long)ctx->data == 0xff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
