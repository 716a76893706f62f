// SPDX-License-Identifier: GPL-2.0
/* A program in a section of no known type (cilium names tail-call sections "2/1"):
 * the loader keeps it untyped and the user gives its type (`--type xdp`). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("2/1")
int tail_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
