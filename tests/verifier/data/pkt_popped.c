#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_popped(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;

	if (data + 14 <= data_end) {
		if (p[3] == 9)
			return XDP_TX;
		return XDP_PASS;
	}
	return p[1];
}
char LICENSE[] SEC("license") = "GPL";
