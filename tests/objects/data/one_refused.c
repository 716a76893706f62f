// Two programs, one of which the kernel's verifier refuses (it reads past the packet
// without a bounds check): the other must still be loadable on its own.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int good_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bad_unchecked_read(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;
	return data[20] == 1 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
