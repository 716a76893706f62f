// Programs in sections no SEC() convention knows, named as tc/iproute2 objects and
// PREVAIL's tests name them: each loads with an unknown type for the user to set.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

// a socket filter under iproute2's free-form name: keep short packets whole, cut
// long ones to 32 bytes
SEC("filter") int len_filter(struct __sk_buff *skb)
{
	return skb->len > 100 ? 32 : skb->len;
}

// PREVAIL's test objects name their section "test": a length histogram bucket
SEC("test") int len_bucket(struct __sk_buff *skb)
{
	return skb->len / 16;
}

char _license[] SEC("license") = "GPL";
