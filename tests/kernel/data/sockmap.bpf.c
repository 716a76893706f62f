// sk_skb stream parser + verdict on a sockmap, sk_msg on a sockhash: each counts the
// bytes it sees; the verdict passes, sk_msg passes (bpf_msg_apply_bytes not used).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} rx_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} tx_socks SEC(".maps");

__u64 parsed, verdict_bytes, msg_bytes, msgs;

SEC("sk_skb/stream_parser")
int parse(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&parsed, 1);
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int verdict(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&verdict_bytes, skb->len);
	return SK_PASS;
}

SEC("sk_msg")
int on_msg(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msgs, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
