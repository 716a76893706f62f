#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("cgroup_skb/ingress")
int allow_small(struct __sk_buff *skb)
{
	if (skb->len > 1500)
		return 0;
	return skb->len & 3;
}
char LICENSE[] SEC("license") = "GPL";
