// A __hidden global function (hidden visibility, as libbpf's headers such as usdt.bpf.h
// declare their helpers): loaders verify it as a static function, in its caller's
// context. As a global function the kernel refuses it: a `void *` argument has no
// size it can check on its own.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline, visibility("hidden")))
int first_byte(void *data, void *data_end)
{
	if (data + 1 > data_end)
		return -1;
	return *(unsigned char *)data;
}

SEC("xdp")
int hidden_caller(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	return first_byte(data, data_end) == 0x42 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
