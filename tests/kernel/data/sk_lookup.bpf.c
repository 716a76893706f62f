// sk_lookup: connections to steer_port go to the socket in `socks` slot 0.
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

volatile const __u32 steer_port = 0;
__u64 steered, looked_up;

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	struct bpf_sock *sk;
	__u32 key = 0;
	long err;

	__sync_fetch_and_add(&looked_up, 1);
	if (ctx->protocol != IPPROTO_TCP || ctx->local_port != steer_port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&socks, &key);
	if (!sk)
		return SK_DROP;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return SK_DROP;
	__sync_fetch_and_add(&steered, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
