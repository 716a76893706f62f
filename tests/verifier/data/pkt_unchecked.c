#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;

	if (ctx->ingress_ifindex == 7)
		return XDP_PASS;
	if (data + 10 > data_end)
		return XDP_PASS;
	if (p[0] == 0x45)
		return p[12];
	return XDP_DROP;
}
char LICENSE[] SEC("license") = "GPL";
