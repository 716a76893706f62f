// SPDX-License-Identifier: GPL-2.0
/* An XDP program that never returns: the VM stops it at --budget instructions (the
 * kernel's verifier would refuse it). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int spin(struct xdp_md *ctx)
{
	volatile int n = 0;

	for (;;)
		n++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
