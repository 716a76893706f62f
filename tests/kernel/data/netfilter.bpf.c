// A netfilter hook program: counts every packet it sees and drops those whose IP length
// (skb->len at the IP layer) is drop_len. The sk_buff is read through BTF (CO-RE).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct sk_buff {
	unsigned int len;
} __attribute__((preserve_access_index));

struct nf_hook_state {
	unsigned char hook;
	unsigned char pf;
} __attribute__((preserve_access_index));

struct bpf_nf_ctx {
	const struct nf_hook_state *state;
	struct sk_buff *skb;
} __attribute__((preserve_access_index));

#define NF_DROP 0
#define NF_ACCEPT 1

volatile const __u32 drop_len = 0;
__u64 seen, dropped, last_hook = 255;

SEC("netfilter")
int nf_count_drop(struct bpf_nf_ctx *ctx)
{
	const struct sk_buff *skb = ctx->skb;

	__sync_fetch_and_add(&seen, 1);
	last_hook = ctx->state->hook;
	if (drop_len && skb->len == drop_len) {
		__sync_fetch_and_add(&dropped, 1);
		return NF_DROP;
	}
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
