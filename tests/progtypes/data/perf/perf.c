/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpf_perf_event_output from XDP and tc. Request after the Ethernet header:
 * u32 index_flags (the low 32 bits of flags: an index or BPF_F_CURRENT_CPU, maybe
 * bad bits), u32 ctx_len (the packet bytes the kernel appends, flags' upper half),
 * u32 size (of the sample, 0..32); the sample is the 32 bytes after the request.
 * The return value of the helper is written back over index_flags and returned. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define ETH_HLEN 14

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 4);
} events SEC(".maps");

struct req {
	__u8 eth[ETH_HLEN];
	__u32 index_flags;
	__u32 ctx_len;
	__u32 size;
	__u8 sample[32];
} __attribute__((packed));

#define BODY(ctx)								\
	struct req *r = (void *)(long)ctx->data;				\
	__u8 sample[32];							\
	if ((void *)(r + 1) > (void *)(long)ctx->data_end)			\
		return 1000;							\
	__builtin_memcpy(sample, r->sample, sizeof(sample));			\
	__u64 flags = ((__u64)r->ctx_len << 32) | r->index_flags;		\
	__u32 size = r->size & 31;						\
	long rc = bpf_perf_event_output(ctx, &events, flags, sample, size + 1);	\
	r->index_flags = rc;							\
	return rc < 0 ? 2000 + (-rc) : rc;

SEC("xdp")
int xdp_perf(struct xdp_md *ctx)
{
	BODY(ctx)
}

SEC("tc")
int tc_perf(struct __sk_buff *ctx)
{
	BODY(ctx)
}

char _license[] SEC("license") = "GPL";
